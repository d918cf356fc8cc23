"""Figures. Every function writes one PNG and returns its path; no function shows a window."""
import matplotlib

matplotlib.use("Agg")
