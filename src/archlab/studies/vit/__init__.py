"""S2: ViT attention, masking and linear probes (see plan.py)."""
