"""Optimizer and scheduler factories from params blocks (``optimizer:``/``scheduler:``)."""
from __future__ import annotations

import torch


def make_optimizer(params, spec: dict) -> torch.optim.Optimizer:
    """An optimizer from ``{name, lr, weight_decay?, momentum?, betas?}``; foreach kernels where available."""
    wd = spec.get("weight_decay", 0.0)
    if spec["name"] == "sgd":
        return torch.optim.SGD(params, lr=spec["lr"], momentum=spec.get("momentum", 0.0), weight_decay=wd)
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[spec["name"]]
    kwargs = {"betas": tuple(spec["betas"])} if "betas" in spec else {}
    return cls(params, lr=spec["lr"], weight_decay=wd, **kwargs)


def make_scheduler(optimizer: torch.optim.Optimizer, spec: dict | None, epochs: int, steps_per_epoch: int):
    """A per-batch scheduler from ``{name: none|step|onecycle|cosine, …}`` (the loop steps it every batch)."""
    name = (spec or {}).get("name", "none")
    if name == "none":
        return None
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=spec["step_epochs"] * steps_per_epoch,
                                               gamma=spec["gamma"])
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs * steps_per_epoch, 1))
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=optimizer.param_groups[0]["lr"], epochs=epochs,
                                                   steps_per_epoch=steps_per_epoch, pct_start=spec.get("pct_start", 0.3))
    raise ValueError(f"unknown scheduler {name!r} (known: none, step, cosine, onecycle)")
