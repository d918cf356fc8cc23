"""The S4 report section, from the S4 runs' artifacts and the params each run recorded (params.json)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from archlab.data.kinds import n_batches
from archlab.data.prepared import PreparedDataset
from archlab.io import read_json
from archlab.plots.vae import elbo_curves, kl_per_dim
from archlab.workflow.provenance import read_run_params
from archlab.report.labels import dataset_label
from archlab.report.section import Section, mean_std
from archlab.train.kl_schedules import describe, make_schedule, progress


def describe_run(rp: dict, latent_dim: int) -> str:
    """The run's training, from the params it received (latent size only where it differs)."""
    text = describe(**rp["schedule"])
    if rp["free_bits"]:
        text += f", free bits {rp['free_bits']:g} nats/dim"
    if rp["model"]["latent_dim"] != latent_dim:
        text += f", latent {rp['model']['latent_dim']}"
    return text


def build(job) -> None:
    p, inp = job.params, job.input
    seeds, roles, names = p["seeds"], p["roles"], p["runs"]
    n = len(seeds)
    over_n = f"over n = {n} seed{'s' * (n != 1)}"
    loaded = [(read_json(m), read_run_params(q)) for m, q in zip(inp["metrics"], inp["run_params"])]
    metrics = {name: [m for m, q in loaded if q["run"] == name] for name in names}
    params = {name: next(q for _, q in loaded if q["run"] == name) for name in names}
    bp = params[roles["baseline"]]
    mdl, latent = bp["model"], bp["model"]["latent_dim"]
    unit_digits = 1 if n > 1 else 0  # active units are whole numbers; their mean over seeds is not
    data = PreparedDataset(inp["data"], verify=False)
    sizes = data.meta["sizes"]
    setting = (f"profile {p['profile']}; {dataset_label(data.meta)}: {data.describe('×'.join(map(str, data.meta['image_shape'])))}; "
               f"conv VAE {mdl['channels'][0]}→{mdl['channels'][1]}→fc {mdl['hidden']}, latent {latent}, sigmoid decoder; "
               f"loss = squared error summed over pixels + β·KL, per image; {bp['optimizer']['name']} lr "
               f"{bp['optimizer']['lr']}, batch {bp['batch_size']}, {bp['epochs']} epochs; seeds {seeds} (n = {n})")
    short = (f"{p['profile']}, {dataset_label(data.meta)}, {sizes['train']} train imgs, latent {latent}, "
             f"{bp['epochs']} ep")
    sec = Section("vae", f"S4 — VAE posterior collapse on {dataset_label(data.meta)}", p["profile"], setting, data=data.meta)
    sec.text("Both ELBO terms are reported separately and as **per-image sums** (squared error summed over pixels, KL "
             "summed over latent dimensions), averaged over images once. Collapse is diagnosed from the posterior "
             f"**mean**: a latent dimension is active when Var_x(E[z|x]) > {bp['active_threshold']} (Burda et al.); "
             "the collapsed fraction is 1 − active/latent. A ratio built from σ alone, as in one source report, "
             "cannot tell a sharp but input-independent posterior from an informative one. I(x; z) is estimated with "
             "the aggregate posterior as a mixture over the test set (at most log N nats). Every annealing schedule "
             f"ends at β = 1, so its final model optimises the baseline's objective; only `{roles['collapse']}`, the run "
             "configured to collapse, keeps its heavy constant β. Diagnostics are on the test set, which is used for "
             "nothing else.")

    rows = []
    for name in names:
        ms = metrics[name]
        rows.append({
            "run": name, "training": describe_run(params[name], latent),
            "active units": f"{mean_std([r['diagnostics']['active_units'] for r in ms], unit_digits)} / {ms[0]['diagnostics']['latent_dim']}",
            "KL": mean_std([r["test"]["kl"] for r in ms]),
            "I(x; z)": mean_std([r["diagnostics"]["mutual_information"] for r in ms]),
            "recon": mean_std([r["test"]["recon"] for r in ms]),
            "recon + KL": mean_std([r["test"]["loss"] for r in ms]),
        })
    sec.heading("Schedules, collapse diagnostics and ELBO terms")
    sec.table(pd.DataFrame(rows), caption=f"Per run, on the test set (mean ± std {over_n}): active units, KL "
              "and I(x; z) in nats per image, reconstruction as squared error summed over pixels per image, and their "
              "sum (the β = 1 loss, −ELBO up to a constant).", digits=2)
    base, annealed, collapsed = (metrics[roles[r]] for r in ("baseline", "annealed", "collapse"))
    active = {r: mean_std([m["diagnostics"]["active_units"] for m in metrics[roles[r]]], unit_digits) for r in roles}
    sec.text(f"Diagnosis check (mean {over_n}): the run configured to collapse (`{roles['collapse']}`, "
             f"{describe_run(params[roles['collapse']], latent)}) keeps {active['collapse']} active units, the "
             f"baseline `{roles['baseline']}` {active['baseline']}, the annealed `{roles['annealed']}` {active['annealed']} "
             f"(of {base[0]['diagnostics']['latent_dim']}).")

    every_run = {(q["run"], q["seed"]): pd.read_csv(h) for (_, q), h in zip(loaded, inp["histories"])}
    histories = {name: every_run[(name, seeds[0])] for name in names}
    betas = {}
    for name in names:
        rp = params[name]
        steps = n_batches(sizes["train"], rp["batch_size"])
        total = steps * rp["epochs"]
        schedule = make_schedule(**rp["schedule"])
        betas[name] = (np.arange(total) / steps, np.array([schedule(progress(step, total)) for step in range(total)]))
    sec.figure(elbo_curves({k: h.to_dict("records") for k, h in histories.items()}, betas, job.output["elbo_fig"]),
               f"Both ELBO terms per epoch, train (solid, running average over the epoch) and validation (dashed), and β "
               f"per step, seed {seeds[0]}.")
    sec.curves("val_loss", {f"{r} seed {s}": h for (r, s), h in every_run.items()}, column="val_loss")
    first = {name: next(m for m in metrics[name] if m["seed"] == seeds[0]) for name in names}
    sec.figure(kl_per_dim({name: first[name]["diagnostics"] for name in names}, job.output["kl_fig"]),
               f"KL per latent dimension on the test set; dark bars are active units (seed {seeds[0]}).")

    summary, sp = read_json(inp["summary"]), read_run_params(inp["samples_params"])
    priors = sp["samples"]["priors"]
    sec.heading("Samples, reconstructions and interpolations")
    sec.figure(inp["reconstructions"], f"Fixed test images (top) and their reconstructions, one row per run (seed {sp['seed']}).")
    for prior in priors:
        sec.figure(inp[f"generated_{prior}"],
                   f"Generations from z ~ {prior} prior (unit variance per dim), one row per run; the same draws for every run.")
    pairs = "; ".join(" → ".join(q) for q in summary["interpolation_pairs"])
    sec.figure(inp["interpolations"], f"Latent interpolations between posterior means ({pairs}).")
    sec.table(pd.DataFrame([{"run": name, **{f"pixel std, {q} prior": summary["pixel_std_of_generations"][name][q]
                                             for q in priors}} for name in sp["runs"]]),
              caption=f"Diversity of generations: per-pixel standard deviation across the {sp['samples']['n_generated']} "
                      f"decoded draws, averaged over pixels (0 = the decoder ignores z); seed {sp['seed']}.", digits=3)

    def frac(ms: list[dict]) -> str:
        return mean_std([r["diagnostics"]["collapsed_fraction"] for r in ms], 3)

    sec.compare([
        ("vae.baseline_recon", mean_std([r["test"]["recon"] for r in base]), short),
        ("vae.baseline_kl", mean_std([r["test"]["kl"] for r in base]), short),
        ("vae.collapse_ratio_baseline", frac(base), f"1 − active/latent (mean-based); {short}"),
        ("vae.collapse_ratio_annealed", frac(annealed), f"{roles['annealed']} annealing, 1 − active/latent; {short}"),
    ], f"S4 numbers published by the source reports beside archlab's (test set, per image; mean ± std {over_n}).")
    for role, ms in (("baseline", base), ("annealed", annealed), ("collapse", collapsed)):
        sec.metric(f"{role}_active_units", np.mean([r["diagnostics"]["active_units"] for r in ms]))
    sec.metric("baseline_recon", np.mean([r["test"]["recon"] for r in base]))
    sec.metric("baseline_kl", np.mean([r["test"]["kl"] for r in base]))
    sec.write(job.output["section"], job.output["metrics"], {"val_loss": job.output["curves"]})
