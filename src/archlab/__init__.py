"""archlab: a reproducible, cached pipeline for empirical studies of deep-learning architectures.

Importing the package first makes ``import torchvision`` work on CPU-only torch builds
(see :mod:`archlab._torchvision_compat`), so every module may import torchvision freely.
"""
from archlab._torchvision_compat import ensure_torchvision_importable

ensure_torchvision_importable()

__version__ = "0.1.0"
