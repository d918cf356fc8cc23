"""archlab: a reproducible, cached pipeline for empirical studies of deep-learning architectures.

Importing the package first makes ``import torchvision`` work on CPU-only torch builds
(see :mod:`archlab._torchvision_compat`), so every module may import torchvision freely. The fix
runs lazily, on the first import of torchvision, so light commands never pay for importing torch.
"""
from archlab._torchvision_compat import install_import_hook

install_import_hook()

__version__ = "0.1.0"
