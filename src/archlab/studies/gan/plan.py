"""S3 ``gan``: MLP GAN training dynamics on MNIST — three pathologies induced, measured, mitigated.

A digit classifier is trained once (``gan_classifier``) and judges the samples of every run. Runs
(``gan_train``, one job per run training all its seeds at once as one stacked network, see
:func:`archlab.train.gan.train_gan_seeds`; each seed's files in its own ``seed<k>/`` folder, as one job
per seed would write them) are the baseline plus, per scenario in ``gan.scenarios``, a
pathology run (baseline + ``pathology`` overrides) and its mitigation (the pathology run +
``mitigation`` overrides); each run receives its resolved settings only, so a scenario change reruns
that scenario's runs. ``gan_section`` builds the report section.
"""
from __future__ import annotations

from archlab.data.kinds import check_subset, split_sizes
from archlab.errors import ParamsError
from archlab.workflow.plan import Rule, require_unique, run_files, seed_outputs

JOBS = "archlab.studies.gan.jobs"
FIGURES = ("losses", "d_outputs", "g_grad_norm", "diversity", "heldout", "samples", "class_histograms")


def scenario_runs(baseline: dict, scenarios: dict) -> dict[str, dict]:
    """Expand declared scenarios into runs: ``baseline``, ``<name>`` and ``<name>_mitigated``.

    A pathology run is the baseline plus the scenario's ``pathology`` overrides; its mitigation
    keeps the cause and adds the ``mitigation`` overrides, so the pair differs only by the fix.
    """
    runs = {"baseline": dict(baseline)}
    for name, scenario in scenarios.items():
        pathology = {**baseline, **scenario["pathology"]}
        runs[name] = pathology
        runs[f"{name}_mitigated"] = {**pathology, **scenario["mitigation"]}
    return runs


def train_images(spec: dict, kind: str) -> int | None:
    """The training images a dataset spec yields once validation is carved (:func:`split_sizes`); None where
    the plan cannot know (a local source)."""
    return split_sizes(kind, {**spec, "kind": kind}).get("train")


def keep_generator_steps(runs: dict[str, dict], n_train: int | None) -> dict[str, dict]:
    """Runs on fewer images than the baseline (the overfit pair) keep the baseline's generator steps: each epoch
    has the baseline's ``n_train // batch_size`` G steps, i.e. several passes over the few images, so a pair
    differs from the baseline by its data, not by training ``n_train / train_size`` times shorter."""
    base = runs["baseline"]
    if n_train is None:
        return runs
    steps = n_train // base["batch_size"]
    return {name: ({**r, "steps_per_epoch": steps} if r.get("train_size") and r["train_size"] < n_train
                   and r["batch_size"] == base["batch_size"] and r["epochs"] == base["epochs"] else r)
            for name, r in runs.items()}


def planned_runs(cfg: dict) -> dict[str, dict]:
    """Every run's resolved settings, as its job receives them."""
    s3 = cfg["gan"]
    runs = scenario_runs(s3["baseline"], s3["scenarios"])
    if not s3.get("keep_generator_steps", True):
        return runs
    spec = cfg["data"][s3["data"]]
    return keep_generator_steps(runs, train_images(spec, spec.get("kind", s3["data"])))


def _key(run: str, field: str, scenarios: dict) -> str:
    """The params key a run's setting comes from (for messages)."""
    if run == "baseline":
        return f"gan.baseline.{field}"
    name = run.removesuffix("_mitigated")
    if run != name and field in scenarios[name]["mitigation"]:
        return f"gan.scenarios.{name}.mitigation.{field}"
    if field in scenarios[name]["pathology"]:
        return f"gan.scenarios.{name}.pathology.{field}"
    return f"gan.baseline.{field}"


def check(cfg: dict) -> None:
    s3 = cfg["gan"]
    require_unique(s3["seeds"], "gan.seeds")
    if s3["data"] not in cfg["data"]:
        raise ParamsError(f"gan.data: {s3['data']!r} is not a dataset under data: (known: {sorted(cfg['data'])})")
    for name, scenario in s3["scenarios"].items():
        pathology = {**s3["baseline"], **scenario["pathology"]}
        for part, base in (("pathology", s3["baseline"]), ("mitigation", pathology)):
            if all(base.get(k) == v for k, v in scenario[part].items()):
                what = "the baseline" if part == "pathology" else "the pathology run"
                raise ParamsError(f"gan.scenarios.{name}.{part} changes nothing relative to {what}: the two runs "
                                  f"would be identical; override at least one setting with a different value")
    last = s3["eval"]["summary_epochs"]
    for run, settings in scenario_runs(s3["baseline"], s3["scenarios"]).items():
        if last > settings["epochs"]:
            raise ParamsError(f"gan.eval.summary_epochs={last} is more than the {settings['epochs']} epochs of run "
                              f"{run} ({_key(run, 'epochs', s3['scenarios'])}); lower it")
        size, key = settings.get("train_size"), _key(run, "train_size", s3["scenarios"])
        if size is not None and size < settings["batch_size"]:
            raise ParamsError(f"{key}={size} is smaller than one batch of {settings['batch_size']} (run {run}); "
                              f"raise it or lower the batch size")
        check_subset(key, size, s3["data"], cfg["data"][s3["data"]], "train")


def jobs(cfg: dict, paths) -> list:
    s3, out, device = cfg["gan"], paths.study("gan"), cfg["device"]
    data = {"data": paths.dataset(s3["data"])}
    runs = planned_runs(cfg)
    seeds = s3["seeds"]

    clf_dir = f"{out}/classifier"
    classifier = Rule("gan_classifier", "gan", f"{JOBS}:classifier", clf_dir,
                      run_files(clf_dir, model="model.pt", metrics="metrics.json", history="history.csv"),
                      mem_mb=2000, runtime=30, gpu=True, gpu_share=0.25,
                      description="train the digit classifier that judges samples")
    run_dir = f"{out}/runs/{{run}}"
    train = Rule("gan_train", "gan", f"{JOBS}:train", run_dir,
                 seed_outputs(run_dir, seeds, history="history.csv", grids="grids.npz", summary="summary.json"),
                 mem_mb=4000, runtime=120 * len(seeds), gpu=True, gpu_share=0.25, seeds=tuple(seeds),
                 description="one GAN run, every seed at once")
    sec_dir = f"{out}/section"
    section = Rule("gan_section", "gan", "archlab.studies.gan.section:build", sec_dir,
                   {**run_files(sec_dir, section="section.json", **{f: f"{f}.png" for f in FIGURES}),
                    "metrics": paths.metrics("gan"),
                    "grad_curves": paths.curve("gan", "g_grad_norm"),
                    "coverage_curves": paths.curve("gan", "class_coverage")},
                   mem_mb=2000, runtime=10)

    out_jobs = [classifier.job(data, {**s3["classifier"], "device": device})]
    for name, settings in runs.items():
        out_jobs.append(train.job({**data, "classifier": f"{clf_dir}/model.pt"},
                                  {"run": name, "seeds": seeds, "config": settings, "eval": s3["eval"],
                                   "device": device, "compile": cfg.get("compile", "auto")}, run=name))
    dirs = [f"{out}/runs/{name}/seed{seed}" for name in runs for seed in seeds]
    out_jobs.append(section.job(
        {**data, "summaries": [f"{d}/summary.json" for d in dirs], "histories": [f"{d}/history.csv" for d in dirs],
         "grids": [f"{d}/grids.npz" for d in dirs], "run_params": [f"{out}/runs/{name}/params.json" for name in runs],
         "classifier": f"{clf_dir}/metrics.json", "classifier_params": f"{clf_dir}/params.json"},
        {"profile": cfg["profile"], "runs": list(runs), "seeds": seeds}))
    return out_jobs
