"""What each dataset kind looks like: image shape, class count and the real class names."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    size: int
    channels: int
    n_classes: int
    torchvision_class: str | None


KINDS = {
    "cifar10": Kind(32, 3, 10, "CIFAR10"),
    "cifar100": Kind(32, 3, 100, "CIFAR100"),
    "mnist": Kind(28, 1, 10, "MNIST"),
    "fashionmnist": Kind(28, 1, 10, "FashionMNIST"),
    "stl10": Kind(96, 3, 10, "STL10"),
    "imagefolder": Kind(224, 3, 0, None),
}
