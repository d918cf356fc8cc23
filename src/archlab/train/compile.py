"""``torch.compile`` for the small models (S3 GAN, S4 VAE, S6 MLP/Mixer/ResNet), with an off switch.

Their training is bound by kernel launches, not FLOPs: compiling fuses the elementwise tails
(activations, dropout, losses) into fewer kernels. The top-level params key ``compile`` decides:

- ``auto`` (the default): on CUDA only, where a C compiler is present (Triton builds its launcher
  with one). On the CPU the compile time (tens of seconds per model) dwarfs the demo's tiny runs.
- ``true``: always (on the CPU it needs a C++ compiler, checked up front).
- ``false``: never; the model is the plain module, results as before.

Modules are compiled *in place* (``nn.Module.compile``), so ``state_dict`` keys, checkpoints and
``isinstance`` checks are unchanged. Compiled code may reorder floating-point reductions, so a
compiled run matches an uncompiled one to rounding, not bit for bit.
"""
from __future__ import annotations

import os
import shutil
from typing import Literal, Union

import torch
from torch import nn

CompileSetting = Union[bool, Literal["auto"]]
SETTINGS = ("auto", True, False)


def c_compiler() -> str | None:
    """The C/C++ compiler torch.compile would use (``$CXX``/``$CC`` or the usual names), or None."""
    for name in (os.environ.get("CXX"), os.environ.get("CC"), "g++", "c++", "clang++", "gcc", "cc"):
        if name and shutil.which(name):
            return name
    return None


def resolve(setting: CompileSetting, device: torch.device) -> bool:
    """Whether to compile for ``setting`` (params key ``compile``) on ``device``."""
    if isinstance(setting, str) and setting.lower() in ("true", "false"):
        setting = setting.lower() == "true"
    if setting == "auto":
        return torch.device(device).type == "cuda" and c_compiler() is not None
    if setting is True:
        if torch.device(device).type == "cpu" and c_compiler() is None:
            raise RuntimeError("compile: true on the CPU needs a C++ compiler (g++ or clang++, or $CXX), and none "
                               "was found; install one, or set the top-level params key `compile: auto` (CUDA only) "
                               "or `compile: false`")
        return True
    if setting is False:
        return False
    raise ValueError(f"compile must be one of auto, true, false (top-level params key `compile`), got {setting!r}")


def maybe_compile(module: nn.Module, setting: CompileSetting, device: torch.device) -> nn.Module:
    """Compile ``module``'s forward in place when :func:`resolve` says so; returns ``module`` either way."""
    if resolve(setting, device):
        module.compile()
    return module


def is_compiled(module: nn.Module) -> bool:
    """Whether ``module`` was compiled in place (``nn.Module.compile``)."""
    return getattr(module, "_compiled_call_impl", None) is not None
