"""What each dataset kind looks like (image shape, class count, class names), and the split and batch
arithmetic plans and sections need without numpy or torch."""
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


def validation_size(spec: dict, n_train: int) -> int:
    """Images carved from a dataset's train split for validation: ``val_size``, else ``val_fraction`` (10 %).
    Here (no numpy) so plans can predict split sizes before any data exists."""
    return spec.get("val_size") or int(round(n_train * spec.get("val_fraction", 0.1)))


def n_batches(n: int, batch_size: int) -> int:
    """Batches in an epoch of ``n`` images, the last one partial."""
    return (n + batch_size - 1) // batch_size
