"""Datasets: sources (download, local copy, synthetic, bundled digits) → one canonical format."""
