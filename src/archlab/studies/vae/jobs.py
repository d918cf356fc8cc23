"""S4 jobs: each receives its inputs, outputs and params from the plan (see plan.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from archlab.data.kinds import n_batches
from archlab.data.loaders import Preprocess, iterate_batches
from archlab.data.prepared import PreparedDataset
from archlab.errors import ParamsError
from archlab.io import atomic_path, save_torch, write_json
from archlab.runtime import seed_everything, to_channels_last

UNIT_RANGE = Preprocess(size=None, mean=(0.0,), std=(1.0,), channels=1)  # pixels in [0, 1], like the sigmoid


def _images(split: tuple[np.ndarray, np.ndarray], batch_size: int, device, shuffle=False, seed=0, epoch=0):
    """Image batches in [0, 1] on the device (labels dropped: the VAE is unsupervised)."""
    return (x for x, _ in iterate_batches(*split, batch_size, device, UNIT_RANGE, shuffle=shuffle, seed=seed, epoch=epoch))


def _model_kwargs(model: dict, data: PreparedDataset) -> dict:
    height, width, channels = data.meta["image_shape"]
    if height != width:
        raise ParamsError(f"vae.data: {data.meta['name']} has {height}×{width} images; the VAE needs square ones")
    return {"latent_dim": model["latent_dim"], "channels": list(model["channels"]), "hidden": model["hidden"],
            "image_size": height, "in_channels": channels}


def _build(kwargs: dict):
    from archlab.models.vae import ConvVAE

    return ConvVAE(**{**kwargs, "channels": tuple(kwargs["channels"])})


def _load_model(path: str, device):
    state = torch.load(path, map_location=device)
    model = _build(state["kwargs"]).to(device)
    model.load_state_dict(state["model"])
    return model.eval()


def train(job) -> None:
    """Train one run (its β schedule / free bits), then evaluate both ELBO terms and diagnose collapse."""
    from archlab.metrics.latent import diagnose
    from archlab.train.kl_schedules import make_schedule
    from archlab.train.optim import make_optimizer
    from archlab.train.vae import evaluate, fit, posterior_params

    p, device = job.params, job.device
    seed, bs = p["seed"], p["batch_size"]
    data = PreparedDataset(job.input["data"])
    train_split, val, test = (data.split(s) for s in ("train", "val", "test"))
    kwargs = _model_kwargs(p["model"], data)
    seed_everything(seed)
    model = to_channels_last(_build(kwargs).to(device), device)
    history = fit(model, lambda epoch: _images(train_split, bs, device, shuffle=True, seed=seed, epoch=epoch),
                  lambda: _images(val, bs, device), epochs=p["epochs"], steps_per_epoch=n_batches(len(train_split[1]), bs),
                  optimizer=make_optimizer(model.parameters(), p["optimizer"]), schedule=make_schedule(**p["schedule"]),
                  free_bits=p["free_bits"], checkpoint=job.checkpoint(), desc=f"vae {p['run']}", compile=p["compile"])
    # written after the loop, so a run resumed after its last epoch writes it too
    with atomic_path(job.output["history"]) as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False)
    save_torch(job.output["model"], {"model": model.state_dict(), "kwargs": kwargs})
    mu, logvar = posterior_params(model, _images(test, bs, device))
    write_json(job.output["metrics"], {
        "run": p["run"], "seed": seed, "schedule": p["schedule"], "free_bits": p["free_bits"],
        "final_beta": history[-1]["beta"], "test": evaluate(model, _images(test, bs, device), seed=seed),
        "diagnostics": diagnose(mu, logvar, p["active_threshold"], seed=seed, device=device)})


def samples(job) -> None:
    """Reconstructions, generations per prior and interpolations of every run (the first seed's models)."""
    from archlab.models.vae import interpolate, make_prior, sample_prior
    from archlab.plots.vae import image_grid

    p, device = job.params, job.device
    scfg, seed = p["samples"], p["seed"]
    data = PreparedDataset(job.input["data"])
    x_test, y_test = data.split("test")

    def to_unit(idx: np.ndarray) -> torch.Tensor:
        return UNIT_RANGE(torch.from_numpy(np.ascontiguousarray(x_test[idx])).to(device))

    originals = to_unit(np.arange(scfg["n_reconstructions"]))
    classes = np.unique(y_test)
    first_of = {c: int(np.flatnonzero(y_test == c)[0]) for c in classes}
    pairs = [(first_of[classes[(2 * k) % len(classes)]], first_of[classes[(2 * k + 1) % len(classes)]])
             for k in range(scfg["interpolation_pairs"])]
    ends = to_unit(np.array([a for a, _ in pairs])), to_unit(np.array([b for _, b in pairs]))
    recon_rows, gen_rows, interp_rows = {"test image": originals.cpu().numpy()}, {q: {} for q in scfg["priors"]}, {}
    diversity = {}
    with torch.no_grad():
        for name, path in zip(p["runs"], job.input["models"]):
            model = _load_model(path, device)
            recon_rows[name] = model(originals, generator=torch.Generator(device).manual_seed(seed))[0].cpu().numpy()
            diversity[name] = {}
            for prior in scfg["priors"]:  # the same uniforms for every run: rows differ only by the model
                z = sample_prior(make_prior(prior), scfg["n_generated"], model.latent_dim, torch.Generator().manual_seed(seed))
                images = model.decode(z.to(device)).cpu().numpy()
                gen_rows[prior][name] = images
                diversity[name][prior] = float(images.std(axis=0).mean())
            for k, path_k in enumerate(interpolate(model, *ends, scfg["interpolation_steps"]).cpu().numpy()):
                interp_rows[f"{name} · pair {k + 1}"] = path_k
    image_grid(recon_rows, job.output["reconstructions"], f"fixed test images and their reconstructions (seed {seed})")
    for prior, rows in gen_rows.items():
        image_grid(rows, job.output[f"generated_{prior}"], f"decoded draws z ~ {prior} prior, unit variance (seed {seed})")
    image_grid(interp_rows, job.output["interpolations"], "decodings along the line between two posterior means")
    write_json(job.output["summary"], {"seed": seed, "pixel_std_of_generations": diversity,
                                       "interpolation_pairs": [[data.classes[int(y_test[a])], data.classes[int(y_test[b])]]
                                                               for a, b in pairs]})
