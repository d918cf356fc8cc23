"""CLIP models through open_clip: the real ViT-B-32 (with QuickGELU, as OpenAI trained it), or a tiny one
built from a config for the demo.

Both go through open_clip's own factory, so each comes with its own preprocessing and tokenizer.
Images are preprocessed in batches on the model's device (:func:`tensor_preprocess`): the uint8 array
batch is resized, centre-cropped and normalised with torch ops using that transform's own parameters,
instead of one PIL image at a time on the CPU (about 5 ms per image).
The demo model is saved in open_clip's ``local-dir`` layout (``open_clip_config.json`` + weights),
which open_clip loads offline exactly like a published model.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from open_clip.transform import MaybeConvertMode, MaybeToTensor
from PIL import Image
from torchvision import transforms as TV
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from archlab import io
from archlab.data.loaders import Preprocess, iterate_batches
from archlab.errors import ParamsError
from archlab.models import weights
from archlab.runtime import autocast

log = logging.getLogger(__name__)
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


@dataclass(frozen=True)
class TensorPreprocess:
    """open_clip's eval transform on a whole batch, on any device: uint8 N×H×W×3, N×H×W×1 or N×H×W
    (grey, replicated to RGB as PIL's ``convert("RGB")`` does) → float N×3×S×S.

    The same steps as the PIL transform it was read from (:func:`tensor_preprocess`): resize the shorter
    side to ``size``, centre crop to ``crop``, scale to [0, 1], normalise with the model's mean and std.
    The resize copies PIL's: antialiased (PIL always is), width first then height, each pass rounded and
    clipped to 8 bits (a single float pass differs from PIL by up to 20 levels where bicubic overshoots at
    high upscaling). What is left is PIL's fixed-point rounding: at most 2 of 255 levels per pixel, and
    over 99 % of the pixels equal (measured in tests/test_clip_preprocess.py).
    """

    size: int | tuple[int, int]
    mode: str  # F.interpolate's name for PIL's filter: bicubic or bilinear
    max_size: int | None
    crop: tuple[int, int] | None
    normalise: Preprocess

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch[:, None] if batch.dim() == 3 else batch.permute(0, 3, 1, 2)  # N×C×H×W views, still uint8
        if x.shape[1] not in (1, 3):  # PIL resizes RGBA premultiplied before dropping alpha: not copied here
            raise ValueError(f"batched CLIP preprocessing takes RGB or grey images, got {x.shape[1]} channels")
        height, width = resized_size(x.shape[-2], x.shape[-1], self.size, self.max_size)
        x = x.float()
        if width != x.shape[-1]:
            x = self._pass(x, (x.shape[-2], width))
        if height != x.shape[-2]:
            x = self._pass(x, (height, width))
        if self.crop is not None:
            x = TF.center_crop(x, list(self.crop))
        return self.normalise(x.permute(0, 2, 3, 1))  # grey → 3 channels, /255, (x - mean) / std

    def _pass(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """One of PIL's two resampling passes, its result kept in 8 bits as PIL keeps it."""
        return F.interpolate(x, size=size, mode=self.mode, antialias=True, align_corners=False).round_().clamp_(0, 255)


def resized_size(height: int, width: int, size: int | tuple[int, int], max_size: int | None) -> tuple[int, int]:
    """torchvision's ``Resize`` output size: an int resizes the shorter side to it, keeping the aspect ratio."""
    if not isinstance(size, int):
        return int(size[0]), int(size[1])
    short, long = sorted((height, width))
    new_short, new_long = size, int(size * long / short)
    if max_size is not None and new_long > max_size:
        new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_short, new_long) if height <= width else (new_long, new_short)


def tensor_preprocess(preprocess: Callable) -> TensorPreprocess | None:
    """The batched equivalent of an open_clip eval transform (``Resize → CenterCrop → RGB → ToTensor →
    Normalize``), or None when it has any other step (then each image goes through the PIL transform)."""
    steps = list(getattr(preprocess, "transforms", [preprocess]))
    kinds = [_step_kind(t) for t in steps]
    if None in kinds or [k for k in kinds if k != "rgb"] not in (["resize", "crop", "tensor", "normalize"],
                                                                 ["resize", "tensor", "normalize"]):
        return None
    by_kind = dict(zip(kinds, steps))
    resize, crop, norm = by_kind["resize"], by_kind.get("crop"), by_kind["normalize"]
    mode = {InterpolationMode.BICUBIC: "bicubic", InterpolationMode.BILINEAR: "bilinear"}.get(resize.interpolation)
    if mode is None:
        return None  # nearest & co. differ between PIL and tensors by more than rounding
    size = resize.size if isinstance(resize.size, int) else tuple(resize.size)
    if isinstance(size, tuple) and len(size) == 1:
        size = size[0]
    return TensorPreprocess(size, mode, resize.max_size,
                            tuple(crop.size) if crop is not None else None,
                            Preprocess(size=None, mean=tuple(map(float, norm.mean)), std=tuple(map(float, norm.std))))


def _step_kind(step) -> str | None:
    if isinstance(step, TV.Resize):
        return "resize"
    if isinstance(step, TV.CenterCrop):
        return "crop"
    if isinstance(step, MaybeConvertMode) and step.mode == "RGB" or getattr(step, "__name__", "") == "_convert_to_rgb":
        return "rgb"
    if isinstance(step, (MaybeToTensor, TV.ToTensor)):
        return "tensor"
    if isinstance(step, TV.Normalize):
        return "normalize"
    return None


def pil_preprocess(bundle: ClipBundle, images: np.ndarray) -> torch.Tensor:
    """The model's own PIL transform, image by image on the CPU (the reference the batched path matches)."""
    return torch.stack([bundle.preprocess(Image.fromarray(np.asarray(im))) for im in images])


@torch.no_grad()
def encode_images(bundle: ClipBundle, images: np.ndarray, batch_size: int,
                  device: torch.device) -> np.ndarray:
    """Image embeddings (unnormalised, float32) of uint8 N×H×W×C images via the model's own transform,
    preprocessed in batches on ``device`` (:func:`tensor_preprocess`); the embeddings stay on the device
    until the end (one transfer)."""
    bundle.model.eval()
    transform = tensor_preprocess(bundle.preprocess)
    if transform is None or (images.ndim == 4 and images.shape[-1] not in (1, 3)):
        log.warning("CLIP preprocess %s of images %s: not batched on the device (unknown steps or not RGB/grey), "
                    "using PIL image by image", bundle.preprocess, images.shape)
        transform = _PilBatch(bundle)
    out = []
    for batch, _ in iterate_batches(images, np.zeros(len(images), np.int64), batch_size, device, transform):
        with autocast(device):
            out.append(bundle.model.encode_image(batch).float())
    return torch.cat(out).cpu().numpy()


@dataclass(frozen=True)
class _PilBatch:
    """The PIL fallback as a batch transform (uint8 batch, any device → preprocessed batch on it)."""
    bundle: ClipBundle

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        return pil_preprocess(self.bundle, batch.cpu().numpy()).to(batch.device)


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
