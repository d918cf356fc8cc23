"""S4: VAE posterior collapse and KL annealing (see plan.py)."""
