"""CLIP models through open_clip: the real ViT-B-32 (with QuickGELU, as OpenAI trained it), or a tiny one
built from a config for the demo.

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
from archlab.errors import ParamsError
from archlab.models import weights
from archlab.runtime import autocast

CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_pytorch_model.bin"


@dataclass
class ClipBundle:
    """A CLIP model with the image transform and tokenizer that belong to it."""
    model: open_clip.CLIP
    preprocess: Callable[[Image.Image], torch.Tensor]
    tokenizer: Callable[[list[str]], torch.Tensor]


def build_clip(model_cfg: dict, device: torch.device | str = "cpu") -> ClipBundle:
    """A randomly initialised CLIP from an open_clip ``model_cfg``, with open_clip's default
    (OpenAI-normalised) transform and the stock BPE tokenizer."""
    return ClipBundle(open_clip.CLIP(**model_cfg).to(device),
                      open_clip.image_transform(model_cfg["vision_cfg"]["image_size"], is_train=False),
                      open_clip.tokenizer.SimpleTokenizer(context_length=model_cfg["text_cfg"]["context_length"]))


def load_clip(model_name: str, pretrained: str | None = None, cache_dir: str | None = None,
              device: torch.device | str = "cpu") -> ClipBundle:
    """Load through open_clip: ``("ViT-B-32-quickgelu", "openai")`` or ``("local-dir:<dir>", None)``.

    Pretrained weights whose activation differs from the architecture's are refused (ParamsError),
    where open_clip would only warn and load them anyway."""
    if pretrained is not None:
        weights.check_open_clip(f"open_clip:{model_name}:{pretrained}")
    model, _, preprocess = open_clip.create_model_and_transforms(
        model_name, pretrained=pretrained, cache_dir=cache_dir, device=device)
    model.eval()
    return ClipBundle(model, preprocess, open_clip.get_tokenizer(model_name, cache_dir=cache_dir))


def load_from_spec(spec: str, resources: str | Path, device: torch.device | str = "cpu") -> ClipBundle:
    """``open_clip:<model>:<pretrained>`` from the fetched cache, or ``file:<dir>/open_clip_pytorch_model.bin``
    written by :func:`save_local_dir` (the demo's pre-trained tiny CLIP); never the network."""
    ws = weights.parse(spec)
    weights.ensure_available(spec, resources)
    if ws.kind == "open_clip":
        with weights.hub_offline():  # loading never touches the network (no retries, no waiting)
            return load_clip(*ws.parts, cache_dir=str(weights.cache_dir(resources, "open_clip")), device=device)
    if ws.kind == "file" and Path(ws.parts[0]).name == WEIGHTS_FILE:
        return load_clip(f"local-dir:{Path(ws.parts[0]).parent}", device=device)
    raise ParamsError(f"CLIP weights must be open_clip:<model>:<pretrained> or file:<dir>/{WEIGHTS_FILE}, got {spec!r}")


def save_local_dir(model: open_clip.CLIP, model_cfg: dict, out_dir: str | Path) -> Path:
    """Write ``model`` in open_clip's local-dir layout; returns the weights file (``file:`` spec)."""
    out_dir = Path(out_dir)
    io.write_text(out_dir / CONFIG_FILE, json.dumps({"model_cfg": model_cfg}, indent=2) + "\n")
    io.save_torch(out_dir / WEIGHTS_FILE, {k: v.detach().cpu() for k, v in model.state_dict().items()})
    return out_dir / WEIGHTS_FILE


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
    return np.concatenate(out)


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
