"""Benchmarks that print speed ratios measured side by side in one run (``python -m bench``).

The machine this runs on is usually shared and noisy, so each benchmark times both sides of its
comparison in the same process, back to back, and prints the ratio on its last line.
"""
