"""Metrics computed from model outputs and features."""
