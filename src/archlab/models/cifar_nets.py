"""The three CIFAR-10 classifiers of study S6: a plain MLP, a CIFAR ResNet-18 and an MLP-Mixer.

All take (N, 3, 32, 32) float images and return (N, num_classes) logits. Widths are arguments so
the demo profile can shrink them while keeping the architectures (depth, block structure) intact.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU}
MODEL_NAMES = ("mlp", "resnet18", "mixer")


class MLP(nn.Sequential):
    """Plain fully-connected net on flattened pixels: no skips, no normalisation (the S6 baseline).

    Layers are named ``fc1 … fcN`` (``act1 …`` between them) so gradient-flow plots read by depth.
    """

    def __init__(self, in_features: int = 3072, hidden: Sequence[int] = (1024, 512, 64, 64),
                 num_classes: int = 10, activation: str = "relu"):
        widths = [in_features, *hidden, num_classes]
        layers: dict[str, nn.Module] = {"flatten": nn.Flatten()}
        for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
            layers[f"fc{i}"] = nn.Linear(n_in, n_out)
            if i < len(widths) - 1:
                layers[f"act{i}"] = ACTIVATIONS[activation]()
        super().__init__(OrderedDict(layers))


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection; a 1x1 conv shortcut when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class CifarResNet18(nn.Module):
    """ResNet-18 for 32x32 inputs: 3x3 stride-1 stem, no max-pool, 4 stages of 2 basic blocks.

    ``width`` is the first stage's channel count (64 in the paper); stages double it.
    """

    def __init__(self, num_classes: int = 10, width: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        stages, c_in = [], width
        for i, c_out in enumerate(width * 2**k for k in range(4)):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)))
            c_in = c_out
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def mlp_mixer(num_classes: int = 10, patch_size: int = 4, embed_dim: int = 256, num_blocks: int = 4,
              mlp_ratio: Sequence[float] = (0.5, 4.0), dropout: float = 0.0, img_size: int = 32) -> nn.Module:
    """timm's MlpMixer at CIFAR size; ``dropout`` acts inside the token/channel MLPs, as in M's code.

    Hidden widths are ``int(ratio * embed_dim)`` for both MLPs (timm's convention).
    """
    from timm.models.mlp_mixer import MlpMixer

    return MlpMixer(num_classes=num_classes, img_size=img_size, in_chans=3, patch_size=patch_size,
                    num_blocks=num_blocks, embed_dim=embed_dim, mlp_ratio=tuple(mlp_ratio),
                    act_layer=nn.GELU, proj_drop_rate=dropout)


def build_model(name: str, num_classes: int = 10, **kwargs) -> nn.Module:
    """Build one of ``MODEL_NAMES`` from its keyword arguments (the params' ``model_args``)."""
    if name == "mlp":
        return MLP(num_classes=num_classes, **kwargs)
    if name == "resnet18":
        return CifarResNet18(num_classes=num_classes, **kwargs)
    if name == "mixer":
        return mlp_mixer(num_classes=num_classes, **kwargs)
    raise ValueError(f"unknown model {name!r}; expected one of {MODEL_NAMES}")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def first_conv_weight(model: nn.Module) -> torch.Tensor:
    """The input layer's kernels, (out, 3, kh, kw): what the optim sweep draws for ResNet-18."""
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d)).weight.detach().cpu()


def token_mixing_weight(model: nn.Module, block: int = 0) -> torch.Tensor:
    """First token-mixing layer of a Mixer block, (hidden units, tokens) (MLP-Mixer paper, Fig. 5)."""
    return model.blocks[block].mlp_tokens.fc1.weight.detach().cpu()
