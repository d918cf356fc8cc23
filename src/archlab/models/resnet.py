"""torchvision ResNets for transfer learning: build with a weights spec, remove skips, tap blocks.

``resnet10`` (one BasicBlock per stage) is the demo's small backbone; it is a torchvision
``ResNet`` like the others, so hooks, skip removal and fine-tuning treat every depth the same.
"""
from __future__ import annotations

import types
from typing import Iterable

import torch
from torch import nn

import archlab  # noqa: F401  (torchvision import fix)
import torchvision.models as tvm
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from archlab.errors import ParamsError
from archlab.models import weights as W

ARCHS = ("resnet10", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
STAGES = ("layer1", "layer2", "layer3", "layer4")


def build_resnet(arch: str, num_classes: int, weights: str = "none", resources: str = "resources") -> ResNet:
    """A ResNet with ``weights`` loaded into its backbone and a fresh ``num_classes`` head."""
    if arch not in ARCHS:
        raise ValueError(f"unknown ResNet {arch!r}; choose from {ARCHS}")
    model = ResNet(BasicBlock, [1, 1, 1, 1]) if arch == "resnet10" else getattr(tvm, arch)()
    spec = W.parse(weights)
    if spec.kind == "torchvision":
        model.load_state_dict(W.torchvision_state_dict(weights, resources))
    elif spec.kind == "file":
        state = W.load_file(weights, resources)
        backbone = {k: v for k, v in state.items() if not k.startswith("fc.")}
        try:
            missing, unexpected = model.load_state_dict(backbone, strict=False)
            fits = not unexpected and not set(missing) - {"fc.weight", "fc.bias"}
        except RuntimeError:  # the same names with other shapes
            fits = False
        if not fits:
            raise ParamsError(f"{spec.parts[0]} is not a {arch} state dict; point the weights spec at one or change the arch")
    elif spec.kind != "none":
        raise ValueError(f"a ResNet cannot load {weights!r}; use torchvision:, file: or none")
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def blocks(model: ResNet, targets: Iterable[str]) -> list[tuple[str, nn.Module]]:
    """Resolve ``layer2`` (every block of a stage) or ``layer2.1`` (one block) to named blocks."""
    out = []
    for t in targets:
        stage, _, idx = t.partition(".")
        if stage not in STAGES:
            raise ValueError(f"unknown block {t!r}; use layer1..layer4 or layerN.i")
        layer = getattr(model, stage)
        if idx:
            if not idx.isdigit() or int(idx) >= len(layer):
                raise ValueError(f"{t!r}: {stage} has blocks 0..{len(layer) - 1}")
            out.append((t, layer[int(idx)]))
        else:
            out.extend((f"{stage}.{i}", b) for i, b in enumerate(layer))
    return out


def _residual_only(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A block's forward without the shortcut: the identity AND the downsample projection are gone."""
    out = self.relu(self.bn1(self.conv1(x)))
    if isinstance(self, Bottleneck):
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)))
    return self.relu(self.bn2(self.conv2(out)))


def remove_skips(model: ResNet, targets: Iterable[str]) -> list[str]:
    """Disable the residual addition in the chosen blocks, in place; return the blocks changed.

    The downsample branch belongs to the shortcut, so it is removed with it (its weights stay in
    the state dict but no longer take part in the forward pass).
    """
    changed = []
    for name, block in blocks(model, targets):
        block.forward = types.MethodType(_residual_only, block)
        block.skip_removed = True
        changed.append(name)
    return changed


def backbone_modules(model: ResNet) -> list[nn.Module]:
    return [m for n, m in model.named_children() if n != "fc"]
