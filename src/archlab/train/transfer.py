"""Transfer-learning strategies: which parts of a pretrained ResNet train, and which stay frozen.

Frozen parts have ``requires_grad=False`` (so they are not in the optimizer) and are kept in eval
mode by the training loop (so their BatchNorm statistics do not drift) — the two mistakes the
source reports made.
"""
from __future__ import annotations

from torch import nn
from torchvision.models.resnet import ResNet

from archlab.train.classifier import freeze

STRATEGIES = ("head", "last_block", "full", "random_init")
_TRAINABLE = {"head": ("fc",), "last_block": ("layer4", "fc")}


def apply_strategy(model: ResNet, strategy: str) -> tuple[nn.Module, ...]:
    """Freeze what ``strategy`` keeps fixed; return the frozen modules (to hold in eval mode).

    ``full`` and ``random_init`` train everything (they differ in the weights the model was built with).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {STRATEGIES}")
    trainable = _TRAINABLE.get(strategy)
    if trainable is None:
        return ()
    frozen = tuple(m for name, m in model.named_children() if name not in trainable)
    freeze(frozen)
    return frozen
