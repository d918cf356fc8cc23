"""GAN training with the measurements that expose its three classic pathologies.

One function trains one scenario and records, per epoch, what each pathology shows up in:
losses and mean D(x) / D(G(z)) (read from the very discriminator being stepped), the gradient norm
reaching G's first layer (vanishing gradients), D's accuracy on held-out real *and* fresh fake
images plus its train/held-out gap (overfitting), and the diversity of fresh samples (collapse).

Training stays in fp32 on every device: the vanishing-gradient signal is a gradient of order
D(G(z)) ≈ 1e-6, which reduced precision would blur.

On a GPU a step never waits for the host: the noise is drawn on the device from a device generator
seeded from the run seed (:func:`noise_generator`), the per-step losses, D outputs and gradient norms
stay on the device and are read once per epoch, the optimisers are fused, and ``compile`` (see
:mod:`archlab.train.compile`) compiles G and D. On the CPU the noise comes from the run's own CPU
generator exactly as before, so CPU runs are unchanged.
"""
from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from archlab.models.gan import Discriminator, Generator, init_normal_
from archlab.train.checkpoint import Checkpoint
from archlab.train.compile import CompileSetting, maybe_compile
from archlab.train.epoch_log import log_epoch
from archlab.train.optim import make_optimizer
from archlab.train.stacked import StackedLinear, StackedMLP

G_LOSSES = ("non_saturating", "saturating")


@dataclass(frozen=True)
class GanConfig:
    """Everything one GAN run depends on; scenarios are overrides of these fields."""

    latent_dim: int = 100
    g_hidden: tuple[int, ...] = (256, 512)
    d_hidden: tuple[int, ...] = (256, 256)
    init_std: float = 0.02
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int = 64
    epochs: int = 20
    d_steps: int = 1            # discriminator updates per generator update
    g_loss: str = "non_saturating"
    real_label: float = 1.0     # 0.9 = one-sided label smoothing
    d_dropout: float = 0.0
    train_size: int | None = None  # None: every training image
    steps_per_epoch: int | None = None  # G steps per epoch; None: one pass (images // batch). Set: passes over the
    #                                      (few) images repeat, reshuffled, until the epoch has that many G steps

    def __post_init__(self):
        if self.g_loss not in G_LOSSES:
            raise ValueError(f"g_loss must be one of {G_LOSSES}, got {self.g_loss!r}")

    @classmethod
    def from_dict(cls, values: dict) -> "GanConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown GAN settings {sorted(unknown)}; allowed: {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                       real_label: float = 1.0) -> torch.Tensor:
    """BCE on reals (target ``real_label``; 0.9 smooths them) plus BCE on fakes (target always 0), each the
    mean over the last (batch) dimension: a scalar for one network's (N,) logits, one per seed for a
    stacked network's (S, N) logits."""
    return (_bce(real_logits, torch.full_like(real_logits, real_label))
            + _bce(fake_logits, torch.zeros_like(fake_logits)))


def generator_loss(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """The loss G *minimises* (per seed for stacked (S, N) logits, as :func:`discriminator_loss`).

    ``non_saturating``: -log D(G(z)); its gradient w.r.t. the logit is -(1 - D), strong when D wins.
    ``saturating``: log(1 - D(G(z))), the original minimax term; gradient -D, which vanishes as D → 0.
    Both push D(G(z)) up; a sign error here turns G into a second discriminator.
    """
    if kind == "non_saturating":
        return _bce(fake_logits, torch.ones_like(fake_logits))
    if kind == "saturating":
        return -_bce(fake_logits, torch.zeros_like(fake_logits))
    raise ValueError(f"g_loss must be one of {G_LOSSES}, got {kind!r}")


def _bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(-1)


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Keep ``module``'s parameters out of autograd (D is fixed while G steps)."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


def discriminator_step(G: Generator, D: Discriminator, opt_d: torch.optim.Optimizer,
                       real: torch.Tensor, z: torch.Tensor, real_label: float) -> dict:
    """One D update; the reported D(x), D(G(z)) come from the same forward pass that is stepped."""
    with torch.no_grad():
        fake = G(z)
    real_logits, fake_logits = D(real), D(fake)
    loss = discriminator_loss(real_logits, fake_logits, real_label)
    opt_d.zero_grad(set_to_none=True)
    loss.sum().backward()  # stacked seeds: each seed's gradient is its own loss's
    opt_d.step()
    return {"d_loss": loss.detach(), "d_real": torch.sigmoid(real_logits.detach()).mean(-1),
            "d_fake": torch.sigmoid(fake_logits.detach()).mean(-1)}


def generator_step(G: Generator, D: Discriminator, opt_g: torch.optim.Optimizer,
                   z: torch.Tensor, kind: str) -> dict:
    """One G update against a fixed D; also returns the gradient norm at G's first layer."""
    with frozen(D):
        loss = generator_loss(D(G(z)), kind)
        opt_g.zero_grad(set_to_none=True)
        loss.sum().backward()
    first = G.first_layer
    if first.weight.dim() == 2:
        grad_norm = torch.linalg.vector_norm(torch.cat([first.weight.grad.flatten(), first.bias.grad]))
    else:  # stacked seeds: one norm per seed, each over that seed's own layer
        grad_norm = torch.stack([torch.linalg.vector_norm(torch.cat([w.flatten(), b]))
                                 for w, b in zip(first.weight.grad, first.bias.grad)])
    opt_g.step()
    return {"g_loss": loss.detach(), "g_grad_norm": grad_norm}


@torch.no_grad()
def discriminator_accuracy(D: Discriminator, real: torch.Tensor, fake: torch.Tensor) -> dict:
    """D's accuracy over real (should say ≥ 0.5) AND fake (should say < 0.5) images together.

    Scoring reals alone rewards a D that calls everything real; pooling both sides does not.
    """
    p_real, p_fake = torch.sigmoid(D(real)), torch.sigmoid(D(fake))
    correct_real, correct_fake = (p_real >= 0.5).float(), (p_fake < 0.5).float()
    return {
        "accuracy": float(torch.cat([correct_real, correct_fake]).mean()),
        "accuracy_real": float(correct_real.mean()),
        "accuracy_fake": float(correct_fake.mean()),
        "mean_d_real": float(p_real.mean()),
        "mean_d_fake": float(p_fake.mean()),
    }


@dataclass
class GanRun:
    """What a training run leaves behind: per-epoch history, sample grids and the two networks."""

    G: Generator
    D: Discriminator
    history: list[dict] = field(default_factory=list)
    grids: dict[int, np.ndarray] = field(default_factory=dict)  # epoch → (n, side, side) uint8


def build_models(cfg: GanConfig, image_side: int, device: torch.device) -> tuple[Generator, Discriminator]:
    G = init_normal_(Generator(cfg.latent_dim, cfg.g_hidden, image_side), cfg.init_std)
    D = init_normal_(Discriminator(image_side * image_side, cfg.d_hidden, cfg.d_dropout), cfg.init_std)
    return G.to(device), D.to(device)


def noise_generator(seed_generator: torch.Generator, seed: int, device: torch.device) -> torch.Generator:
    """Where G's input noise is drawn from: on the CPU the run's own generator (the stream CPU runs
    always used), elsewhere a generator on ``device`` seeded from the run seed, so no step copies
    noise from the host (a blocking copy per step, a million in the full profile)."""
    if device.type == "cpu":
        return seed_generator
    return torch.Generator(device=device).manual_seed(seed)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] images (N, 1, H, W) → uint8 (N, H, W) for grids on disk."""
    return ((images.squeeze(1).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


class StackedGenerator(nn.Module):
    """S generators (one per seed) as one network (:mod:`archlab.train.stacked`): z (S, N, latent) →
    images (S, N, 1, side, side)."""

    def __init__(self, nets: list[Generator]):
        super().__init__()
        self.mlp, self.image_side = StackedMLP([g.net for g in nets]), nets[0].image_side

    @property
    def first_layer(self) -> StackedLinear:
        return self.mlp.layers[0]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.mlp(z).view(z.shape[0], -1, 1, self.image_side, self.image_side)


class StackedDiscriminator(nn.Module):
    """S discriminators as one network: images (S, N, 1, side, side) → logits (S, N); dropout masks from each
    seed's own generator."""

    def __init__(self, nets: list[Discriminator], dropout_generators: list[torch.Generator]):
        super().__init__()
        self.mlp = StackedMLP([d.net for d in nets], dropout_generators)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x).squeeze(-1)


@dataclass
class _Streams:
    """One seed's own random streams and images, exactly those it uses when trained alone."""

    seed: int
    gen: torch.Generator        # data order (and, on the CPU, G's input noise)
    noise_gen: torch.Generator
    dropout_gen: torch.Generator
    images: torch.Tensor        # indices of the seed's training images (its train_size subset, or all)
    fixed_noise: torch.Tensor


def train_gan(cfg: GanConfig, train_images: torch.Tensor, heldout_images: torch.Tensor,
              probe: Callable[[torch.Tensor], dict], *, seed: int, device: torch.device,
              on_epoch: Callable[[GanRun], None] | None = None, **options) -> GanRun:
    """Train one scenario for one seed: :func:`train_gan_seeds` with that seed alone (``on_epoch(run)``)."""
    each = None if on_epoch is None else (lambda runs: on_epoch(runs[0]))
    return train_gan_seeds(cfg, train_images, heldout_images, probe, seeds=[seed], device=device, on_epoch=each,
                           **options)[0]


def train_gan_seeds(cfg: GanConfig, train_images: torch.Tensor, heldout_images: torch.Tensor,
                    probe: Callable[[torch.Tensor], dict], *, seeds: list[int], device: torch.device,
                    n_eval: int = 1000, sample_every: int = 5, n_grid: int = 64,
                    checkpoint: Checkpoint | None = None,
                    on_epoch: Callable[[list[GanRun]], None] | None = None, progress: bool = True,
                    compile: CompileSetting = False) -> list[GanRun]:
    """Train one scenario for every seed of ``seeds`` at once; images are float tensors (N, 1, H, W) scaled
    to [-1, 1]. Returns one run per seed, each what that seed trained alone gives (its own init, data order,
    noise, dropout masks and optimiser state; the seeds' G and D are stacked into one network, see
    :mod:`archlab.train.stacked`, so a step costs little more than one seed's).

    ``probe`` scores ``n_eval`` fresh samples of each seed every epoch (see ``metrics.diversity.DiversityProbe``).
    With ``checkpoint`` (:class:`~archlab.train.checkpoint.Checkpoint`, valid for this exact run only) the
    state is saved every epoch and a rerun resumes from it. The returned runs always hold the whole history
    and every grid, also when resumed after the last epoch, so the caller writes every output from them.
    ``on_epoch(runs)`` is called after every epoch trained here. ``compile`` (``auto``: on CUDA only)
    compiles the stacked G and D in place (:func:`~archlab.train.compile.maybe_compile`).
    """
    side = train_images.shape[-1]
    streams, Gs, Ds = [], [], []
    for seed in seeds:  # each seed's models and streams drawn in the order a lone run draws them
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        images = torch.arange(len(train_images))
        if cfg.train_size is not None:
            images = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(seed))[:cfg.train_size]
        G, D = build_models(cfg, side, device)
        dropout_gen = _dropout_generator(seed, device)
        fixed_noise = torch.randn(n_grid, cfg.latent_dim, generator=gen).to(device)  # the grids' shared noise
        streams.append(_Streams(seed, gen, noise_generator(gen, seed, device), dropout_gen, images.to(device),
                                fixed_noise))
        Gs.append(G)
        Ds.append(D)
    train_images, heldout_images = train_images.to(device), heldout_images[:n_eval].to(device)
    G = StackedGenerator(Gs).to(device)
    D = StackedDiscriminator(Ds, [st.dropout_gen for st in streams]).to(device)
    for net in (G, D):
        maybe_compile(net, compile, device)
    opt_g = make_optimizer(G.parameters(), {"name": "adam", "lr": cfg.lr_g, "betas": cfg.betas})  # fused (CPU and CUDA)
    opt_d = make_optimizer(D.parameters(), {"name": "adam", "lr": cfg.lr_d, "betas": cfg.betas})
    runs = [GanRun(g, d) for g, d in zip(Gs, Ds)]  # each seed's own networks: its weights are loaded into them
    start = 0
    state = checkpoint.load() if checkpoint is not None else None
    if state is not None:
        start = _restore(state, G, D, runs, opt_g, opt_d, streams, device)
    if start == 0:
        for s, (run, st) in enumerate(zip(runs, streams)):
            run.grids[0] = _samples(_unstacked(G, D, s, run)[0], st.fixed_noise)

    def noise(n: int) -> torch.Tensor:
        return torch.stack([torch.randn(n, cfg.latent_dim, generator=st.noise_gen, device=device) for st in streams])

    n_images = len(streams[0].images)
    per_pass = n_images // cfg.batch_size
    if per_pass == 0:
        raise ValueError(f"{n_images} training images cannot fill one batch of {cfg.batch_size}")
    n_batches = cfg.steps_per_epoch or per_pass
    passes = -(-n_batches // per_pass)
    for epoch in tqdm(range(start + 1, cfg.epochs + 1), initial=start, total=cfg.epochs,
                      desc="gan", disable=not progress):
        tic = time.perf_counter()
        G.train(), D.train()
        steps: list[dict] = []
        # per seed: one reshuffled pass after another; each pass's last incomplete batch is dropped
        order = torch.stack([st.images[torch.cat([torch.randperm(n_images, generator=st.gen)[:per_pass * cfg.batch_size]
                                                  for _ in range(passes)]).to(device)] for st in streams])
        for b in range(n_batches):
            real = train_images[order[:, b * cfg.batch_size:(b + 1) * cfg.batch_size]]
            for _ in range(cfg.d_steps):
                steps.append(discriminator_step(G, D, opt_d, real, noise(real.shape[1]), cfg.real_label))
            steps.append(generator_step(G, D, opt_g, noise(real.shape[1]), cfg.g_loss))
        means = _mean_over_steps(steps)
        z_eval = noise(n_eval)
        seconds = time.perf_counter() - tic
        for s, (run, st) in enumerate(zip(runs, streams)):
            lone = _unstacked(G, D, s, run)
            row = {"epoch": epoch, **means[s]}
            row.update(_evaluate(*lone, train_images[st.images[:n_eval]], heldout_images, probe, z_eval[s], n_eval))
            row["seconds"] = seconds  # the epoch of all seeds together
            run.history.append(row)
            log_epoch(f"gan seed {st.seed}" if len(seeds) > 1 else "gan", epoch, cfg.epochs, row)
            if epoch % sample_every == 0 or epoch == cfg.epochs:
                run.grids[epoch] = _samples(lone[0], st.fixed_noise)
        if checkpoint is not None:
            _save(checkpoint, G, D, runs, opt_g, opt_d, streams, epoch, device)
        if on_epoch is not None:
            on_epoch(runs)
    for s, run in enumerate(runs):
        _unstacked(G, D, s, run)
    return runs


def _dropout_generator(seed: int, device: torch.device) -> torch.Generator:
    """Where a seed's dropout masks come from: on the CPU a generator continuing torch's global stream after
    the seed's models were initialised, i.e. the masks ``nn.Dropout`` draws when the seed trains alone; on
    another device a generator there, seeded from the run seed."""
    if device.type == "cpu":
        gen = torch.Generator()
        gen.set_state(torch.get_rng_state())
        return gen
    return torch.Generator(device=device).manual_seed(seed)


def _unstacked(G: StackedGenerator, D: StackedDiscriminator, s: int, run: GanRun) -> tuple[Generator, Discriminator]:
    """Seed ``s``'s G and D as plain networks: its run's own, loaded with its current weights."""
    run.G.net.load_state_dict(G.mlp.state_dict_of(s))
    run.D.net.load_state_dict(D.mlp.state_dict_of(s))
    return run.G, run.D


def _save(checkpoint: Checkpoint, G, D, runs: list[GanRun], opt_g, opt_d, streams: list[_Streams], epoch: int,
          device: torch.device) -> None:
    """Everything needed to continue bit-for-bit: weights, optimisers, every seed's RNG streams, histories, grids."""
    checkpoint.save(
        epoch - 1,  # Checkpoint counts epochs from 0, the GAN history from 1
        G=G.state_dict(), D=D.state_dict(), opt_g=opt_g.state_dict(), opt_d=opt_d.state_dict(),
        rng=[st.gen.get_state() for st in streams], dropout_rng=[st.dropout_gen.get_state() for st in streams],
        noise_rng=[st.noise_gen.get_state() if st.noise_gen is not st.gen else None for st in streams],
        histories=[run.history for run in runs], grids=[run.grids for run in runs])


def _restore(state: dict, G, D, runs: list[GanRun], opt_g, opt_d, streams: list[_Streams],
             device: torch.device) -> int:
    """Load a state saved by :func:`_save`; returns the last completed epoch (1-based)."""
    for obj, key in ((G, "G"), (D, "D"), (opt_g, "opt_g"), (opt_d, "opt_d")):
        obj.load_state_dict(state[key])  # tensors follow the parameters' device
    for st, run, rng, dropout_rng, noise_rng, history, grids in zip(
            streams, runs, state["rng"], state["dropout_rng"], state["noise_rng"], state["histories"], state["grids"]):
        st.gen.set_state(rng)
        st.dropout_gen.set_state(dropout_rng)
        if noise_rng is not None:
            st.noise_gen.set_state(noise_rng)
        run.history, run.grids = history, grids
    return state["epoch"] + 1


def _mean_over_steps(steps: list[dict]) -> list[dict]:
    """Each seed's average of each per-step quantity over the epoch, with a single device sync. A seed's
    steps are averaged as one contiguous row, the same reduction as for that seed alone."""
    keys = sorted({k for s in steps for k in s})
    rows = [torch.stack([s[k] for s in steps if k in s]).float().t().contiguous() for k in keys]  # (seeds, steps)
    means = torch.stack([torch.stack([row[s].mean() for s in range(len(row))]) for row in rows]).tolist()
    return [dict(zip(keys, (m[s] for m in means))) for s in range(len(means[0]))]


@torch.no_grad()
def _samples(G: Generator, z: torch.Tensor) -> np.ndarray:
    G.eval()
    return to_uint8(G(z))


@torch.no_grad()
def _evaluate(G: Generator, D: Discriminator, train_images: torch.Tensor, heldout_images: torch.Tensor,
              probe: Callable[[torch.Tensor], dict], z: torch.Tensor, n_eval: int) -> dict:
    """Held-out D accuracy (real + fresh fake), the train/held-out gap, and sample diversity."""
    G.eval(), D.eval()
    fake = G(z)
    heldout = discriminator_accuracy(D, heldout_images, fake)
    train_real = torch.sigmoid(D(train_images[:n_eval])).mean().item()
    diversity = probe(fake)
    histogram = diversity.pop("class_histogram")
    return {
        "d_acc_heldout": heldout["accuracy"],
        "d_acc_heldout_real": heldout["accuracy_real"],
        "d_acc_fake": heldout["accuracy_fake"],
        "d_heldout_real": heldout["mean_d_real"],
        "d_train_real": train_real,
        "d_overfit_gap": train_real - heldout["mean_d_real"],
        **diversity,
        **{f"class_{c}": int(n) for c, n in enumerate(histogram)},
    }


def summarise(history: list[dict], last: int) -> dict:
    """Median of every scalar metric over the last ``last`` epochs.

    GAN curves are spiky (a collapsed G briefly escapes, a saturated D briefly lets one batch
    through); the median of the final stretch reports the regime a run settled in.
    """
    tail = history[-last:]
    keys = [k for k, v in tail[0].items() if isinstance(v, (int, float)) and k != "epoch"]
    return {k: float(np.median([row[k] for row in tail])) for k in keys}
