"""A job function for tests/test_security.py: a classifier whose learning rate makes its loss diverge."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from archlab.train.classifier import FitConfig, fit


def train_diverging(job) -> None:
    with np.load(job.input["data"]) as data:
        arrays = data["x"], data["y"]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    cfg = FitConfig(epochs=3, batch_size=16, amp=False, live=False, desc="toy")
    fit(model, arrays, arrays, torch.optim.SGD(model.parameters(), lr=job.params["lr"]), cfg, torch.device("cpu"),
        job.run_dir)


def leave_empty(job) -> None:
    """A job that creates its output and never writes into it (as an unclosed buffered file would look)."""
    job.run_dir.mkdir(parents=True, exist_ok=True)
    open(job.output["table"], "w").close()
