"""S6: MLP, ResNet-18 and MLP-Mixer sweeps on CIFAR-10 (see plan.py)."""
