"""CLIP models through open_clip: the real ViT-B-32, or a tiny one built from a config for the demo.

Both go through open_clip's own factory, so each comes with its own preprocessing and tokenizer.
The demo model is saved in open_clip's ``local-dir`` layout (``open_clip_config.json`` + weights),
which open_clip loads offline exactly like a published model.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import open_clip
import torch
from PIL import Image

from archlab import io
from archlab.runtime import autocast

CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_pytorch_model.bin"


@dataclass
class ClipBundle:
    """A CLIP model with the image transform and tokenizer that belong to it."""
    model: open_clip.CLIP
    preprocess: Callable[[Image.Image], torch.Tensor]
    tokenizer: Callable[[list[str]], torch.Tensor]


def tiny_clip_config(embed_dim: int = 64, image_size: int = 32, patch_size: int = 8, width: int = 64,
                     layers: int = 2, text_width: int = 64, text_layers: int = 2, text_heads: int = 2,
                     context_length: int = 16) -> dict:
    """open_clip ``model_cfg`` of a small ViT CLIP; the vocabulary stays CLIP's BPE so the
    stock tokenizer (bundled with open_clip, offline) works unchanged."""
    return {
        "embed_dim": embed_dim,
        "vision_cfg": {"image_size": image_size, "patch_size": patch_size, "width": width,
                       "layers": layers, "head_width": max(width // 2, 1)},
        "text_cfg": {"context_length": context_length, "vocab_size": 49408, "width": text_width,
                     "heads": text_heads, "layers": text_layers},
    }


def build_clip(model_cfg: dict, device: torch.device | str = "cpu",
               ) -> tuple[ClipBundle, Callable[[Image.Image], torch.Tensor]]:
    """A randomly initialised CLIP from ``model_cfg``; returns the bundle and the train transform."""
    model = open_clip.CLIP(**model_cfg).to(device)
    size = model_cfg["vision_cfg"]["image_size"]
    train_tf = open_clip.image_transform(size, is_train=True)
    bundle = ClipBundle(model, open_clip.image_transform(size, is_train=False),
                        open_clip.tokenizer.SimpleTokenizer(context_length=model_cfg["text_cfg"]["context_length"]))
    return bundle, train_tf


def load_clip(model_name: str, pretrained: str | None = None, cache_dir: str | None = None,
              device: torch.device | str = "cpu") -> ClipBundle:
    """Load through open_clip: ``("ViT-B-32", "openai")`` or ``("local-dir:<dir>", None)``."""
    model, _, preprocess = open_clip.create_model_and_transforms(
        model_name, pretrained=pretrained, cache_dir=cache_dir, device=device)
    model.eval()
    return ClipBundle(model, preprocess, open_clip.get_tokenizer(model_name, cache_dir=cache_dir))


def save_local_dir(model: open_clip.CLIP, model_cfg: dict, out_dir: str | Path) -> Path:
    """Write ``model`` in open_clip's local-dir layout, loadable with ``load_clip('local-dir:…')``."""
    out_dir = Path(out_dir)
    io.save_torch(out_dir / WEIGHTS_FILE, {k: v.detach().cpu() for k, v in model.state_dict().items()})
    io.write_text(out_dir / CONFIG_FILE, json.dumps({"model_cfg": model_cfg}, indent=2) + "\n")
    return out_dir


@torch.no_grad()
def encode_images(bundle: ClipBundle, images: np.ndarray, batch_size: int,
                  device: torch.device) -> np.ndarray:
    """Image embeddings (unnormalised, float32) of uint8 N×H×W×C images via the model's own transform."""
    bundle.model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        batch = torch.stack([bundle.preprocess(Image.fromarray(np.asarray(im)))
                             for im in images[start:start + batch_size]]).to(device)
        with autocast(device):
            out.append(bundle.model.encode_image(batch).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, bundle.model.text_projection.shape[1]), np.float32)


@torch.no_grad()
def encode_texts(bundle: ClipBundle, texts: list[str], device: torch.device,
                 batch_size: int = 256) -> np.ndarray:
    """Text embeddings (unnormalised, float32)."""
    bundle.model.eval()
    out = []
    for start in range(0, len(texts), batch_size):
        tokens = bundle.tokenizer(texts[start:start + batch_size]).to(device)
        with autocast(device):
            out.append(bundle.model.encode_text(tokens).float().cpu().numpy())
    return np.concatenate(out)


def template_embeddings(bundle: ClipBundle, classnames: list[str], templates: list[str],
                        device: torch.device) -> np.ndarray:
    """Embeddings of every template filled with every class name, shape (T, C, D)."""
    texts = [t.format(c=c) for t in templates for c in classnames]
    return encode_texts(bundle, texts, device).reshape(len(templates), len(classnames), -1)


def cached_image_embeddings(path: str | Path, bundle_factory: Callable[[], ClipBundle],
                            images: np.ndarray, labels: np.ndarray, batch_size: int,
                            device: torch.device) -> dict[str, np.ndarray]:
    """Image embeddings of a split, computed once into ``path`` (npz) and read back afterwards.

    The model is only built when the cache is missing, so a warm cache costs no model load.
    """
    path = Path(path)
    if not path.exists():
        emb = encode_images(bundle_factory(), images, batch_size, device)
        io.write_npz(path, embeddings=emb.astype(np.float32), labels=np.asarray(labels, np.int64))
    with np.load(path) as cached:
        return {key: cached[key] for key in cached.files}
