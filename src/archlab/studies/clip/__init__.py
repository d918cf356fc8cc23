"""S5: CLIP zero-shot prompting, the modality gap and held-out Procrustes alignment (see plan.py)."""
