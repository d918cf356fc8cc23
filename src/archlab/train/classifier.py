"""One supervised classification loop for every study that trains a classifier.

Per epoch it writes ``history.csv`` and a checkpoint (atomically), logs to dvclive, and on a rerun
of the *identical* run (:class:`~archlab.train.checkpoint.Checkpoint`) resumes from the last complete
epoch: the shuffle order depends only on (seed, epoch) and the RNG state is checkpointed, so an
interrupted run ends identical to an uninterrupted one.
Modules listed in ``frozen`` stay in eval mode while the rest trains (a frozen backbone's
BatchNorm statistics must not drift).

On a GPU the loop never waits for the device inside an epoch: the data sit on the device when they
fit (:func:`~archlab.data.loaders.to_device`), loss and accuracy are summed there and read once
per epoch, and evaluation runs under ``torch.inference_mode``. On the CPU the sums are the same
float64/int64 additions as before, in the same order, so results do not change. ``FitConfig.compile``
(``auto``: CUDA only) compiles the model in place (:mod:`archlab.train.compile`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Protocol

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from archlab.data.kinds import n_batches
from archlab.data.loaders import iterate_batches, to_device
from archlab.io import atomic_path
from archlab.runtime import autocast, to_channels_last
from archlab.train.checkpoint import Checkpoint, restore_rng, rng_state
from archlab.train.compile import CompileSetting, maybe_compile
from archlab.train.epoch_log import log_epoch

Arrays = tuple[np.ndarray, np.ndarray]


class Callback(Protocol):
    """Hook points for recorders (e.g. per-layer gradient norms); all methods optional.

    A callback with ``state_dict()``/``load_state_dict(state)`` has its state saved in each epoch's
    checkpoint and restored on resume, so what it recorded survives an interrupted run.
    """

    def after_backward(self, model: nn.Module) -> None: ...
    def epoch_end(self, epoch: int, model: nn.Module) -> None: ...


@dataclass
class FitConfig:
    epochs: int
    batch_size: int
    seed: int = 0
    train_transform: Callable[[torch.Tensor], torch.Tensor] | None = None
    eval_transform: Callable[[torch.Tensor], torch.Tensor] | None = None
    loss_fn: nn.Module = field(default_factory=nn.CrossEntropyLoss)
    frozen: tuple[nn.Module, ...] = ()
    callbacks: tuple = ()
    amp: bool = True
    live: bool = True
    desc: str = "train"
    compile: CompileSetting = False  # True / False / "auto" (CUDA only): see archlab.train.compile


def evaluate(model: nn.Module, data: Arrays, batch_size: int, device: torch.device,
             transform=None, loss_fn: nn.Module | None = None, amp: bool = True) -> dict:
    """Loss, accuracy, predictions and confidences over ``data`` in eval mode.

    Everything stays on the device until the end (one transfer, no per-batch sync).
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    was_training = model.training
    model.eval()
    total, preds, probs = 0, [], []
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    with torch.inference_mode(), autocast(device, amp):
        for xb, yb in iterate_batches(*data, batch_size, device, transform):
            logits = model(xb).float()
            loss_sum += loss_fn(logits, yb).double() * len(yb)
            p = logits.softmax(1)
            conf, pred = p.max(1)
            correct += (pred == yb).sum()
            total += len(yb)
            preds.append(pred)
            probs.append(conf)
    model.train(was_training)
    return {"loss": loss_sum.item() / max(total, 1), "acc": correct.item() / max(total, 1),
            "pred": torch.cat(preds).cpu().numpy() if preds else np.zeros(0, int),
            "confidence": torch.cat(probs).cpu().numpy() if probs else np.zeros(0)}


def fit(model: nn.Module, train: Arrays, val: Arrays, optimizer: torch.optim.Optimizer,
        cfg: FitConfig, device: torch.device, out_dir: str | Path,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        checkpoint: Checkpoint | None = None) -> pd.DataFrame:
    """Train for ``cfg.epochs`` epochs (resuming from ``checkpoint`` when it is this run's); return the history."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    history: list[dict] = []
    start = 0
    ckpt = checkpoint.load() if checkpoint is not None else None
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler is not None and ckpt.get("scheduler"):
            scheduler.load_state_dict(ckpt["scheduler"])
        restore_rng(ckpt["rng"])
        history, start = ckpt["history"], ckpt["epoch"] + 1
        for cb, state in zip(cfg.callbacks, ckpt.get("callbacks", ())):
            if state is not None:
                cb.load_state_dict(state)
    live = _live(out_dir, resume=start > 0) if cfg.live else None
    steps = n_batches(len(train[1]), cfg.batch_size)
    model = maybe_compile(to_channels_last(model, device), cfg.compile, device)  # in place: state_dict keys unchanged
    train, val = to_device(*train, device), to_device(*val, device)  # uploaded once where they fit (CUDA only)
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        _set_train_mode(model, cfg.frozen)
        # summed on the device and read once per epoch: a .item() per step would wait for the GPU every step
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        seen = 0
        batches = iterate_batches(*train, cfg.batch_size, device, cfg.train_transform, shuffle=True, seed=cfg.seed, epoch=epoch)
        for xb, yb in tqdm(batches, total=steps, desc=f"{cfg.desc} {epoch + 1}/{cfg.epochs}", mininterval=2, leave=False):
            optimizer.zero_grad(set_to_none=True)
            if xb.dim() == 4:
                xb = to_channels_last(xb, device)
            with autocast(device, cfg.amp):
                logits = model(xb)
                loss = cfg.loss_fn(logits.float(), yb)
            loss.backward()
            for cb in cfg.callbacks:
                cb.after_backward(model)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            loss_sum += loss.detach().double() * len(yb)
            correct += (logits.detach().argmax(1) == yb).sum()
            seen += len(yb)
        train_loss, train_acc = loss_sum.item() / seen, correct.item() / seen  # the epoch's one sync
        train_time = time.perf_counter() - t0
        ev = evaluate(model, val, cfg.batch_size, device, cfg.eval_transform, cfg.loss_fn, cfg.amp)
        row = {"epoch": epoch + 1, "train_loss": train_loss, "train_acc": train_acc,
               "val_loss": ev["loss"], "val_acc": ev["acc"], "epoch_seconds": train_time}
        history.append(row)
        for cb in cfg.callbacks:
            cb.epoch_end(epoch + 1, model)
        log_epoch(cfg.desc, epoch + 1, cfg.epochs, row)
        _write_history(out_dir / "history.csv", history)
        if checkpoint is not None:
            checkpoint.save(epoch, model=model.state_dict(), optimizer=optimizer.state_dict(),
                            scheduler=scheduler.state_dict() if scheduler is not None else None, rng=rng_state(),
                            history=history,
                            callbacks=[cb.state_dict() if hasattr(cb, "state_dict") else None for cb in cfg.callbacks])
        if live is not None:
            for k, v in row.items():
                if k != "epoch":
                    live.log_metric(k, v)
            live.next_step()
    if live is not None:
        _end(live)
    _write_history(out_dir / "history.csv", history)
    return pd.DataFrame(history)


def trainable_parameters(model: nn.Module) -> Iterable[nn.Parameter]:
    """Exactly the parameters that will be updated — pass these to the optimizer."""
    return [p for p in model.parameters() if p.requires_grad]


def freeze(modules: Iterable[nn.Module]) -> None:
    for m in modules:
        for p in m.parameters():
            p.requires_grad_(False)


def _set_train_mode(model: nn.Module, frozen: tuple[nn.Module, ...]) -> None:
    model.train()
    for m in frozen:
        m.eval()


def _write_history(path: Path, history: list[dict]) -> None:
    with atomic_path(path) as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False)


def _end(live) -> None:
    """``live.end()``. Its last act removes the step signal DVC's VS Code extension reads, one file per
    DVC repository that every job shares; dvclive checks that it exists, then removes it, so of two jobs
    ending together one gets FileNotFoundError: that race, and only that, is no failure."""
    try:
        live.end()
    except FileNotFoundError as exc:
        if Path(exc.filename or "").name != "DVCLIVE_STEP_COMPLETED":
            raise


def _live(out_dir: Path, resume: bool):
    try:
        from dvclive import Live
    except ImportError:  # dvclive is optional for library use
        return None
    return Live(dir=str(out_dir / "dvclive"), resume=resume, save_dvc_exp=False, dvcyaml=None, report=None)
