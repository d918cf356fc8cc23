"""ViT classifiers for S2: the HuggingFace checkpoint or a small demo ViT.

Two attention implementations, chosen per run: SDPA (``torch.nn.functional.scaled_dot_product_attention``,
fused kernels on a GPU) returns no attention weights, so it serves every run that does not read the
maps (training, prediction, probe features, patch masking); ``attentions=True`` builds or loads the
model with ``attn_implementation="eager"``, the only one that returns the probabilities the attention
experiments read. Both compute the same logits (to float rounding; tested).
Input normalisation always comes from the checkpoint's own image processor (for
google/vit-base-patch16-224 that is mean = std = 0.5, not the ImageNet statistics).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from typing import TYPE_CHECKING

import torch
from torch import nn

from archlab.data.loaders import Preprocess
from archlab.models import weights as W

if TYPE_CHECKING:  # transformers is imported where a model is built: the CLI imports every stage
    from transformers import ViTForImageClassification, ViTImageProcessor

EAGER = "eager"
SDPA = "sdpa"


def attn_implementation(attentions: bool) -> str:
    """``eager`` where the attention probabilities are read (:func:`attentions`), SDPA everywhere else."""
    return EAGER if attentions else SDPA


def preprocess_of(processor: ViTImageProcessor) -> Preprocess:
    """The processor's resize + rescale + normalise as a device-side batch transform."""
    height, width = int(processor.size["height"]), int(processor.size["width"])
    if height != width:
        raise ValueError(f"only square ViT inputs are supported, got {height}x{width}")
    return Preprocess(size=height, mean=tuple(processor.image_mean), std=tuple(processor.image_std))


def build_demo_vit(
    class_names: list[str],
    image_size: int = 32,
    patch_size: int = 4,
    hidden_size: int = 64,
    num_layers: int = 4,
    num_heads: int = 4,
    mlp_ratio: int = 2,
    attentions: bool = False,
) -> tuple[ViTForImageClassification, ViTImageProcessor]:
    """A small randomly initialised ViT and a processor with the checkpoint's normalisation;
    ``attentions=True`` for a model whose attention maps are read (eager attention)."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(
        image_size=image_size,
        patch_size=patch_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=hidden_size * mlp_ratio,
        num_labels=len(class_names),
        id2label=dict(enumerate(class_names)),
        label2id={name: i for i, name in enumerate(class_names)},
        attn_implementation=attn_implementation(attentions),
    )
    processor = ViTImageProcessor(
        size={"height": image_size, "width": image_size}, image_mean=[0.5] * 3, image_std=[0.5] * 3
    )
    return ViTForImageClassification(config), processor


class Logits(nn.Module):
    """A HF classifier as a plain ``pixels → logits`` module, for the shared training loop."""

    def __init__(self, model: ViTForImageClassification):
        super().__init__()
        self.model = model

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixels).logits


def save_vit(model: ViTForImageClassification, processor: ViTImageProcessor, directory: str | Path) -> None:
    """``save_pretrained`` layout (so a ``file:`` spec loads like an ``hf:`` one), written to a
    temporary sibling and renamed into place so an interrupted save leaves no half model."""
    directory = Path(directory)
    tmp = directory.with_name(f".{directory.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    shutil.rmtree(directory, ignore_errors=True)
    os.replace(tmp, directory)


def load_vit(spec: str, resources: str | Path = "resources",
             attentions: bool = False) -> tuple[ViTForImageClassification, Preprocess]:
    """A ViT classifier and its input transform from an ``hf:`` or ``file:<dir>`` spec, offline,
    in eval mode; with eager attention where ``attentions`` (the maps are read), SDPA otherwise."""
    from transformers import ViTForImageClassification, ViTImageProcessor

    ws = W.parse(spec)
    if ws.kind == "hf":
        source = W.hf_local_kwargs(spec, resources)
    elif ws.kind == "file":
        W.ensure_available(spec, resources)
        directory = Path(ws.parts[0])
        directory = directory if directory.is_dir() else directory.parent  # a file inside the save dir
        source = {"pretrained_model_name_or_path": str(directory), "local_files_only": True}
    else:
        raise ValueError(f"a ViT loads from hf:<repo id> or file:<save_pretrained dir>, not {spec!r}")
    model = ViTForImageClassification.from_pretrained(**source, attn_implementation=attn_implementation(attentions))
    return model.eval(), preprocess_of(ViTImageProcessor.from_pretrained(**source))


def patch_grid(model: ViTForImageClassification) -> tuple[int, int]:
    """Patches per side (rows, cols) of the model's input."""
    cfg = model.config
    size = cfg.image_size if isinstance(cfg.image_size, (tuple, list)) else (cfg.image_size,) * 2
    return size[0] // cfg.patch_size, size[1] // cfg.patch_size


def label_names(model: ViTForImageClassification) -> list[str]:
    return [model.config.id2label[i] for i in range(model.config.num_labels)]


@torch.no_grad()
def attentions(model: ViTForImageClassification, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and all layers' attention, stacked as (layers, batch, heads, tokens, tokens)."""
    out = model(pixel_values=pixels, output_attentions=True)
    if not out.attentions:
        raise RuntimeError(f"the ViT ({model.config._attn_implementation} attention) returned no attention maps: "
                           "load it with load_vit(..., attentions=True) or build_demo_vit(..., attentions=True), "
                           "which use eager attention")
    return out.logits.float(), torch.stack([a.float() for a in out.attentions])


@torch.no_grad()
def token_features(model: ViTForImageClassification, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Frozen features after the final LayerNorm: the CLS token and the mean of the patch tokens."""
    hidden = model.vit(pixel_values=pixels).last_hidden_state.float()
    return {"cls": hidden[:, 0], "mean": hidden[:, 1:].mean(dim=1)}


def top_k(logits: torch.Tensor, names: list[str], k: int = 5) -> list[list[tuple[str, float]]]:
    """Per image, the k most probable (label, probability) pairs, best first."""
    probs = logits.float().softmax(dim=-1)
    values, indices = probs.topk(min(k, probs.shape[-1]), dim=-1)
    return [
        [(names[int(i)], float(v)) for v, i in zip(vals, idx)]
        for vals, idx in zip(values.cpu().numpy(), indices.cpu().numpy())
    ]

