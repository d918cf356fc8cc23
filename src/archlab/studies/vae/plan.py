"""S4 ``vae``: VAE posterior collapse on FashionMNIST — diagnosed, induced and mitigated.

One ``vae_train`` job per (run, seed) trains one configured run (its β schedule / free bits) and
diagnoses collapse on the test set; ``vae_samples`` draws reconstructions, generations per prior and
interpolations of every run; ``vae_section`` builds the report section from those artifacts.
"""
from __future__ import annotations

import math

from archlab.errors import ParamsError
from archlab.workflow.plan import Rule, pick, require_unique, run_files
from archlab.train.kl_schedules import final_beta  # stdlib only (no torch)

JOBS = "archlab.studies.vae.jobs"
TARGET_BETA = 1.0  # where every schedule but the collapse run's must end: the baseline's objective


def run_dir(out: str, run: str, seed) -> str:
    return f"{out}/runs/{run}/seed{seed}"


def check(cfg: dict) -> None:
    """Run names unique, every role naming a run, and every schedule but the collapse run's ending at
    β = 1. A schedule *ends* where its last optimisation step puts it (p = 1, see
    :func:`archlab.train.kl_schedules.final_beta`); a run ending elsewhere optimises another objective
    than the baseline, so its reconstruction and KL are not comparable."""
    s4 = cfg["vae"]
    names = [r["name"] for r in s4["runs"]]
    require_unique(names, "vae.runs[].name")
    for role, name in s4["roles"].items():
        if name not in names:
            raise ParamsError(f"vae.roles.{role}: {name!r} is not a run of vae.runs (runs: {names}); set "
                              f"vae.roles.{role} to one of them (after renaming a run, rename it here too)")
    collapse = s4["roles"]["collapse"]
    for i, run in enumerate(s4["runs"]):
        end = final_beta(**run["schedule"])
        if run["name"] != collapse and not math.isclose(end, TARGET_BETA, rel_tol=1e-9):
            raise ParamsError(
                f"vae.runs[{i}].schedule (run {run['name']}): the schedule ends at β = {end:g} at the last "
                f"optimisation step, not at the target β = {TARGET_BETA:g}, so it optimises another objective than "
                f"the baseline; use a schedule that ends at β = 1 (linear, cosine, cyclical, or constant beta: 1.0), "
                f"or, if this run is meant to collapse, name it in vae.roles.collapse (currently {collapse!r})")


def jobs(cfg: dict, paths) -> list:
    s4, out, device = cfg["vae"], paths.study("vae"), cfg["device"]
    data = {"data": paths.dataset(s4["data"])}
    seeds, names = s4["seeds"], [r["name"] for r in s4["runs"]]

    train_dir = run_dir(out, "{run}", "{seed}")
    train = Rule("vae_train", "vae", f"{JOBS}:train", train_dir,
                 run_files(train_dir, model="model.pt", history="history.csv", metrics="metrics.json"),
                 mem_mb=8000, runtime=60, gpu=True, gpu_share=0.25)  # its mutual-information diagnostic peaked at 3.7 GB
    samples_dir = f"{out}/samples"
    samples = Rule("vae_samples", "vae", f"{JOBS}:samples", samples_dir,
                   run_files(samples_dir, reconstructions="reconstructions.png", interpolations="interpolations.png",
                             summary="samples.json",
                             **{f"generated_{p}": f"generated_{p}.png" for p in s4["samples"]["priors"]}))
    sec_dir = f"{out}/section"
    section = Rule("vae_section", "vae", "archlab.studies.vae.section:build", sec_dir,
                   {**run_files(sec_dir, section="section.json", elbo_fig="elbo_terms.png", kl_fig="kl_per_dim.png"),
                    "metrics": paths.metrics("vae"), "curves": paths.curve("vae", "val_loss")})

    out_jobs = []
    for run in s4["runs"]:
        model = {**s4["model"], "latent_dim": run.get("latent_dim", s4["model"]["latent_dim"])}
        for seed in seeds:
            out_jobs.append(train.job(
                data, {**pick(s4, "epochs", "batch_size", "optimizer", "active_threshold"), "device": device,
                       "compile": cfg.get("compile", "auto"),
                       "run": run["name"], "seed": seed, "schedule": run["schedule"],
                       "free_bits": run.get("free_bits", 0.0), "model": model},
                run=run["name"], seed=seed))
    first = [run_dir(out, n, seeds[0]) for n in names]
    draw = samples.job({**data, "models": [f"{d}/model.pt" for d in first]},
                       {"samples": s4["samples"], "runs": names, "seed": seeds[0], "device": device})
    out_jobs.append(draw)
    runs = [run_dir(out, n, s) for n in names for s in seeds]
    out_jobs.append(section.job(
        {**data, "metrics": [f"{d}/metrics.json" for d in runs], "run_params": [f"{d}/params.json" for d in runs],
         "histories": [f"{d}/history.csv" for d in runs],
         **{k: v for k, v in draw.output.items() if k != "params"}, "samples_params": draw.output["params"]},
        {"profile": cfg["profile"], "seeds": seeds, "runs": names, "roles": s4["roles"]}))
    return out_jobs
