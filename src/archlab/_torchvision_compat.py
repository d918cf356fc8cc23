"""Make torchvision importable when its compiled extension cannot load.

The torchvision 0.28.0 wheel on the registry is built against CUDA torch; on the CPU torch its
``_C.so`` fails to load and the import dies with ``operator torchvision::nms does not exist``.
Declaring the two operator schemas that torchvision's Python code registers fake kernels for
is enough for models, transforms and datasets (not ``torchvision.io``; we use PIL).
The shim is applied only when the native library really is missing, so a normal GPU install is
left untouched.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_library = None  # keeps the torch.library.Library alive for the process


def _native_extension_loads() -> bool:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return True  # torchvision absent: nothing to fix
    import glob
    import os

    import torch

    for path in spec.submodule_search_locations:
        for so in glob.glob(os.path.join(path, "_C*.so")):
            try:
                torch.ops.load_library(so)
                return True
            except OSError:
                return False
    return False


def ensure_torchvision_importable() -> None:
    """Define torchvision's operator schemas if (and only if) its native library cannot load."""
    global _library
    if _library is not None or _native_extension_loads():
        return
    import torch

    if hasattr(torch.ops, "torchvision") and hasattr(torch.ops.torchvision, "nms"):
        return
    _library = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS.values():
        _library.define(schema)


class _FixBeforeTorchvision(importlib.abc.MetaPathFinder):
    """Runs :func:`ensure_torchvision_importable` when torchvision is first imported, then steps aside."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "torchvision":
            sys.meta_path.remove(self)
            ensure_torchvision_importable()
        return None  # let the normal finders import it


def install_import_hook() -> None:
    if "torchvision" in sys.modules:
        ensure_torchvision_importable()
    elif not any(isinstance(f, _FixBeforeTorchvision) for f in sys.meta_path):
        sys.meta_path.insert(0, _FixBeforeTorchvision())
