"""Training the digit classifier that judges GAN samples (see :mod:`archlab.models.digit_classifier`)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from archlab.models.digit_classifier import SIGNED_RANGE, DigitClassifier
from archlab.runtime import seed_everything
from archlab.train.checkpoint import Checkpoint
from archlab.train.classifier import Arrays, FitConfig, fit
from archlab.train.optim import make_optimizer


def train_digit_classifier(train: Arrays, val: Arrays, n_classes: int, *, epochs: int, batch_size: int,
                           optimizer: dict, seed: int, device: torch.device, out_dir: str | Path,
                           checkpoint: Checkpoint | None = None) -> tuple[DigitClassifier, pd.DataFrame]:
    """Train (or resume) the judge with the shared classifier loop; returns it in eval mode.

    ``optimizer`` is a params block (``{name, lr, …}``, see :func:`archlab.train.optim.make_optimizer`).
    """
    seed_everything(seed)
    model = DigitClassifier(n_classes).to(device)
    cfg = FitConfig(epochs=epochs, batch_size=batch_size, seed=seed, train_transform=SIGNED_RANGE,
                    eval_transform=SIGNED_RANGE, desc="digit classifier")
    history = fit(model, train, val, make_optimizer(model.parameters(), optimizer), cfg, device, out_dir,
                  checkpoint=checkpoint)
    return model.eval(), history
