"""Contrastive (CLIP) pre-training of a small open_clip model on image–caption pairs.

The demo has no web-scale captions, so each image gets a caption made from its class name under
a randomly drawn template ("a photo of a disc."). That is enough for the text tower to learn
the class words, so zero-shot classification later works offline. The loss is open_clip's own
symmetric InfoNCE with a learned temperature, as in CLIP.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from open_clip.loss import ClipLoss
from PIL import Image
from tqdm import tqdm

from archlab.io import write_text
from archlab.metrics.alignment import ensemble_embedding, zero_shot_accuracy
from archlab.models.clip import ClipBundle, encode_images, template_embeddings
from archlab.runtime import autocast
from archlab.train.epoch_log import log_epoch
from archlab.train.checkpoint import Checkpoint

MAX_LOGIT_SCALE = float(np.log(100))  # CLIP clips the learned temperature at 100


def caption_tokens(bundle: ClipBundle, classnames: list[str], templates: list[str]) -> torch.Tensor:
    """Token ids of every template × class caption, shape (T, C, context_length)."""
    texts = [t.format(c=c) for t in templates for c in classnames]
    return bundle.tokenizer(texts).reshape(len(templates), len(classnames), -1)


def preprocess_all(bundle: ClipBundle, images: np.ndarray) -> torch.Tensor:
    """The model's own eval transform applied once to every image (no per-epoch PIL work)."""
    return torch.stack([bundle.preprocess(Image.fromarray(np.asarray(im))) for im in images])


def train_clip(bundle: ClipBundle, images: np.ndarray, labels: np.ndarray, classnames: list[str],
               templates: list[str], optimizer: torch.optim.Optimizer, *, epochs: int, batch_size: int, seed: int,
               device: torch.device, history_path: str | Path, checkpoint: Checkpoint | None = None,
               val: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:
    """Train ``bundle.model`` (already on ``device``, optimised by ``optimizer``) in place and return its history.

    ``history.csv`` (loss, temperature and, given ``val``, zero-shot accuracy with the training
    templates' ensemble) is written to ``history_path`` after every epoch and once more at the end,
    so a run resumed after its last epoch writes it too. ``checkpoint`` (see
    :class:`~archlab.train.checkpoint.Checkpoint`) is saved every epoch and resumed only when it is
    this exact run's; the batch order and caption draws depend only on (seed, epoch).
    """
    model = bundle.model
    tokens = caption_tokens(bundle, classnames, templates)
    loss_fn = ClipLoss()
    history, start = [], 0
    state = checkpoint.load() if checkpoint is not None else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history, start = state["history"], state["epoch"] + 1

    labels = np.asarray(labels)
    pixels = preprocess_all(bundle, images) if start < epochs else None
    for epoch in range(start, epochs):
        rng = np.random.default_rng([seed, epoch])
        torch.manual_seed(seed * 1000 + epoch)
        model.train()
        order = rng.permutation(len(images))
        losses = []
        for start_row in tqdm(range(0, len(order) - batch_size + 1, batch_size),
                              desc=f"clip epoch {epoch + 1}/{epochs}", leave=False):
            rows = order[start_row:start_row + batch_size]
            batch = pixels[rows].to(device)
            drawn = rng.integers(0, len(templates), size=len(rows))
            text = tokens[drawn, labels[rows]].to(device)
            with autocast(device):
                img_f, txt_f, scale = model(batch, text)
                loss = loss_fn(img_f, txt_f, scale)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
            losses.append(loss.item())
        row = {"epoch": epoch + 1, "loss": float(np.mean(losses)),
               "logit_scale": float(model.logit_scale.exp().item())}
        if val is not None:
            class_emb = ensemble_embedding(template_embeddings(bundle, classnames, templates, device))
            row["val_zero_shot_acc"] = zero_shot_accuracy(
                encode_images(bundle, val[0], 256, device), class_emb, val[1])
        history.append(row)
        log_epoch("clip", epoch + 1, epochs, row)
        _write_history(history_path, history)
        if checkpoint is not None:
            checkpoint.save(epoch, model=model.state_dict(), optimizer=optimizer.state_dict(), history=history)
    _write_history(history_path, history)
    return pd.DataFrame(history)


def _write_history(path: str | Path, history: list[dict]) -> None:
    write_text(path, pd.DataFrame(history).to_csv(index=False))
