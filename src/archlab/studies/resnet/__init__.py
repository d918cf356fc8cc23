"""S1: ResNet transfer learning (see plan.py)."""
