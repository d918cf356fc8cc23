"""Training and evaluation of a VAE with a scheduled KL weight and optional free bits.

Losses are *per-image sums*: reconstruction = Σ_pixels (x − x̂)², KL = Σ_dims KL_d. Epoch numbers are
the total over images divided by the number of images, exactly once (never a mean of batch means
divided again by the number of batches), so they read in the same units as the published reports.
``fit(compile=…)`` (``auto``: CUDA only) compiles the encoder and decoder (:mod:`archlab.train.compile`).
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import torch
from tqdm import tqdm

from archlab.metrics.latent import gaussian_kl_per_dim
from archlab.runtime import autocast
from archlab.train.epoch_log import log_epoch
from archlab.train.checkpoint import Checkpoint
from archlab.train.compile import CompileSetting, resolve
from archlab.train.kl_schedules import Schedule, progress

Batches = Iterable[torch.Tensor]


def elbo_terms(model, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image reconstruction sums (N,) and per-image-and-dim KL (N × D), in float32."""
    with autocast(x.device):
        x_hat, mu, logvar = model(x, generator=generator)
    recon = (x_hat.float() - x.float()).pow(2).flatten(1).sum(dim=1)
    return recon, gaussian_kl_per_dim(mu.float(), logvar.float())


def objective(recon: torch.Tensor, kl: torch.Tensor, beta: float, free_bits: float = 0.0) -> torch.Tensor:
    """Mean over the batch of recon + β·KL, where each dim's batch-mean KL counts at least
    ``free_bits`` nats (Kingma et al., 2016): below that floor a dim gets no push towards the prior."""
    return recon.mean() + beta * kl.mean(dim=0).clamp(min=free_bits).sum()


@torch.no_grad()
def evaluate(model, batches: Batches, seed: int = 0) -> dict:
    """Per-image reconstruction, KL and their sum (the β = 1 loss, −ELBO up to a constant)."""
    model.eval()
    totals, n, generator = 0.0, 0, None
    for x in batches:
        if generator is None:
            generator = torch.Generator(device=x.device).manual_seed(seed)
        recon, kl = elbo_terms(model, x, generator)
        totals = totals + torch.stack([recon.sum(), kl.sum()])  # summed on the device: no sync per batch
        n += len(x)
    recon, kl = (t / n for t in totals.tolist())
    return {"recon": recon, "kl": kl, "loss": recon + kl}


@torch.no_grad()
def posterior_params(model, batches: Batches) -> tuple[np.ndarray, np.ndarray]:
    """(μ, log σ²) of q(z|x) for every input, as N × D float arrays."""
    model.eval()
    mus, logvars = [], []
    for x in batches:
        with autocast(x.device):
            mu, logvar = model.encode(x)
        mus.append(mu.float().cpu().numpy())
        logvars.append(logvar.float().cpu().numpy())
    return np.concatenate(mus), np.concatenate(logvars)


def fit(model, train_batches: Callable[[int], Batches], val_batches: Callable[[], Batches], *,
        epochs: int, steps_per_epoch: int, optimizer: torch.optim.Optimizer, schedule: Schedule,
        free_bits: float = 0.0, checkpoint: Checkpoint | None = None, desc: str = "vae",
        compile: CompileSetting = False) -> list[dict]:
    """Train; β follows ``schedule`` over optimisation steps. Returns one row per epoch.

    ``train_batches(epoch)`` yields the epoch's (shuffled) image batches on the model's device; its
    order must depend only on the epoch. With ``checkpoint`` (:class:`~archlab.train.checkpoint.Checkpoint`,
    valid only for this exact run), model, optimizer, RNG state and history are saved after every epoch,
    and a rerun of the same run resumes from it and ends identical to an uninterrupted run. The full
    history is returned even when the checkpoint was saved after the last epoch (nothing left to train).
    ``compile`` compiles ``model.encoder`` and ``model.decoder`` in place; the reparameterisation noise
    stays outside the compiled code, so it is drawn from the same stream as without compiling.
    """
    if resolve(compile, next(model.parameters()).device):
        for part in (model.encoder, model.decoder):
            part.compile()
    history: list[dict] = []
    state = checkpoint.load() if checkpoint is not None else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        _set_rng_state(state["rng"])
        history = state["history"]
    total_steps = epochs * steps_per_epoch
    for epoch in range(len(history), epochs):
        model.train()
        totals, n, step = 0.0, 0, epoch * steps_per_epoch
        for x in tqdm(train_batches(epoch), total=steps_per_epoch, desc=f"{desc} {epoch + 1}/{epochs}",
                      leave=False, mininterval=5):
            beta = schedule(progress(min(step, total_steps - 1), total_steps))
            recon, kl = elbo_terms(model, x)
            loss = objective(recon, kl, beta, free_bits)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            totals = totals + torch.stack([recon.sum(), kl.sum(), loss * len(x)]).detach()
            n += len(x)
            step += 1
        sums = totals.tolist()
        val = evaluate(model, val_batches())
        history.append({
            "epoch": epoch + 1, "beta": beta,
            **dict(zip(("train_recon", "train_kl", "train_objective"), (t / n for t in sums))),
            "val_recon": val["recon"], "val_kl": val["kl"], "val_loss": val["loss"],
        })
        log_epoch(desc, epoch + 1, epochs, history[-1])
        if checkpoint is not None:
            checkpoint.save(epoch, model=model.state_dict(), optimizer=optimizer.state_dict(), rng=_rng_state(),
                            history=history)
    return history


def _rng_state() -> dict:
    """The global torch RNG streams the reparameterisation noise comes from (CPU and, unlike
    :func:`archlab.train.checkpoint.rng_state`, CUDA: the noise is drawn on the model's device)."""
    return {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
