"""S3: MLP GAN training dynamics on MNIST (see plan.py)."""
