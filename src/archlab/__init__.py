"""archlab: a reproducible, cached pipeline for empirical studies of deep-learning architectures.

Importing the package first makes ``import torchvision`` work on CPU-only torch builds
(see :mod:`archlab._torchvision_compat`), so every module may import torchvision freely. The fix
runs lazily, on the first import of torchvision, so light commands never pay for importing torch.
It also pins the CPU code paths that change floating-point rounding (:mod:`archlab.cpu_pin`) before
torch computes anything, so every entry point computes the same bits on every x86-64 machine.
"""
from archlab import cpu_pin
from archlab._torchvision_compat import install_import_hook

cpu_pin.pin()
install_import_hook()

__version__ = "0.1.0"
