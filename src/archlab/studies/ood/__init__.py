"""S7: CIFAR-100 model ladder and robustness to corruptions (see plan.py)."""
