"""S1 ``resnet``: ResNet transfer learning on CIFAR-10.

Frozen-backbone features are extracted once per variant (``resnet_features``); linear heads
(``resnet_head``), the feature hierarchy and the confusion matrix read that cache; fine-tuning
strategies (``resnet_strategy``) train on images; ``resnet_section`` builds the report section.
"""
from __future__ import annotations

from archlab.data.kinds import check_subset
from archlab.errors import ParamsError
from archlab.workflow.plan import Rule, pick, require_unique, run_files

JOBS = "archlab.studies.resnet.jobs"


def variants(s1: dict) -> dict[str, str]:
    """Every feature variant S1 needs → its weights spec (the baseline arch is shared with depth)."""
    out = {m["arch"]: m["weights"] for m in s1["depth"]["models"]}
    out[s1["arch"]] = s1["weights"]
    out[f"{s1['arch']}-noskip"] = s1["weights"]
    return out


def baseline_head_dir(cfg: dict, paths) -> str:
    """The baseline head of the first head seed (the confusion matrix and S2's Grad-CAM read it)."""
    s1 = cfg["resnet"]
    return f"{paths.study('resnet')}/head/{s1['arch']}/seed{s1['head']['seeds'][0]}"


def image_strategies(s1: dict) -> list[str]:
    """Strategies trained on images (``head`` reuses the cached features)."""
    return [s for s in s1["strategies"]["names"] if s != "head"]


def check(cfg: dict) -> None:
    s1 = cfg["resnet"]
    require_unique([m["arch"] for m in s1["depth"]["models"]], "resnet.depth.models[].arch")
    for m in s1["depth"]["models"]:
        if m["arch"] == s1["arch"] and m["weights"] != s1["weights"]:
            raise ParamsError(f"resnet.depth.models: {m['arch']} has weights {m['weights']!r} but resnet.weights is "
                              f"{s1['weights']!r}; the baseline's features are shared, so use the same weights")
    if "head" not in s1["strategies"]["names"]:
        raise ParamsError("resnet.strategies.names must include `head` (the baseline every strategy is compared with)")
    data = cfg["data"][s1["data"]]
    check_subset("resnet.hierarchy.n_images", s1["hierarchy"]["n_images"], s1["data"], data, "test")
    check_subset("resnet.strategies.train_size", s1["strategies"].get("train_size"), s1["data"], data, "train")


def jobs(cfg: dict, paths) -> list:
    s1, out, device = cfg["resnet"], paths.study("resnet"), cfg["device"]
    data = {"data": paths.dataset(s1["data"])}
    seeds, head_seeds, arch = s1["seeds"], s1["head"]["seeds"], s1["arch"]  # costly strategies / heads (seconds)
    common = {"device": device, "batch_size": s1["batch_size"]}

    feat_dir = f"{out}/features/{{variant}}"
    features = Rule("resnet_features", "resnet", f"{JOBS}:features", feat_dir,
                    run_files(feat_dir, cache="features.npz", meta="features.json"), mem_mb=16000, runtime=120, gpu=True)
    head_dir = f"{out}/head/{{variant}}/seed{{seed}}"
    head = Rule("resnet_head", "resnet", f"{JOBS}:head", head_dir,
                run_files(head_dir, metrics="metrics.json", history="history.csv", pred="test_pred.npy", head="head.pt"),
                mem_mb=4000, runtime=30)
    strat_dir = f"{out}/strategies/{{strategy}}/seed{{seed}}"
    strategy = Rule("resnet_strategy", "resnet", f"{JOBS}:strategy", strat_dir,
                    run_files(strat_dir, metrics="metrics.json", history="history.csv"), mem_mb=16000, runtime=360, gpu=True)
    hier_dir = f"{out}/hierarchy"
    hierarchy = Rule("resnet_hierarchy", "resnet", f"{JOBS}:hierarchy", hier_dir,
                     run_files(hier_dir, csv="separability.csv", png="projections.png",
                                               per_image="per_image.csv"), mem_mb=8000, runtime=60)
    conf_dir = f"{out}/confusion"
    confusion = Rule("resnet_confusion", "resnet", f"{JOBS}:confusion", conf_dir,
                     run_files(conf_dir, png="confusion.png", pairs="pairs.csv", matrix="confusion.csv"))
    sec_dir = f"{out}/section"
    section = Rule("resnet_section", "resnet", "archlab.studies.resnet.section:build", sec_dir,
                   {**run_files(sec_dir, section="section.json", curves_fig="baseline_vs_noskip.png",
                                strategies_fig="strategies.png"),
                    "metrics": paths.metrics("resnet"), "curves": paths.curve("resnet", "head_val_acc")})

    out_jobs = []
    for variant, spec in variants(s1).items():
        noskip = variant.endswith("-noskip")
        out_jobs.append(features.job(
            {**data, **paths.weights(spec)},
            {**common, "arch": variant.removesuffix("-noskip"), "weights": spec, "image_size": s1["image_size"],
             "skips_removed_blocks": s1["no_skip"]["blocks"] if noskip else [], "resources": paths.resources},
            variant=variant))
        for seed in head_seeds:
            out_jobs.append(head.job({"features": f"{out}/features/{variant}/features.npz", **data},
                                     {**common, "head": pick(s1["head"], "optimizer", "epochs"), "seed": seed,
                                      "variant": variant},
                                     variant=variant, seed=seed))
    for name in image_strategies(s1):
        for seed in seeds:
            weights = "none" if name == "random_init" else s1["weights"]
            out_jobs.append(strategy.job(
                {**data, **paths.weights(weights)},
                {**common, **pick(s1["strategies"], "epochs", "optimizer"), "train_size": s1["strategies"].get("train_size"),
                 "strategy": name, "arch": arch, "weights": weights, "image_size": s1["image_size"], "seed": seed,
                 "resources": paths.resources}, strategy=name, seed=seed))
    out_jobs.append(hierarchy.job({"features": f"{out}/features/{arch}/features.npz", **data},
                                  {**s1["hierarchy"], "seed": head_seeds[0]}))
    out_jobs.append(confusion.job({"pred": f"{baseline_head_dir(cfg, paths)}/test_pred.npy", **data},
                                  {**s1["confusion"], "title": f"{arch} head only, seed {head_seeds[0]}, test set"}))
    heads = {v: [f"{out}/head/{v}/seed{s}" for s in head_seeds] for v in variants(s1)}
    strategies = {n: [f"{out}/strategies/{n}/seed{s}" for s in seeds] for n in image_strategies(s1)}
    runs = [d for dirs in [*heads.values(), *strategies.values()] for d in dirs]
    out_jobs.append(section.job(
        {"metrics": [f"{d}/metrics.json" for d in runs], "run_params": [f"{d}/params.json" for d in runs],
         "histories": [f"{d}/history.csv" for d in runs], "features": [f"{out}/features/{v}/features.json" for v in variants(s1)],
         "feature_params": [f"{out}/features/{v}/params.json" for v in variants(s1)],
         "separability": f"{hier_dir}/separability.csv", "hierarchy_params": f"{hier_dir}/params.json", "projections": f"{hier_dir}/projections.png",
         "confusion": f"{conf_dir}/confusion.png", "pairs": f"{conf_dir}/pairs.csv", **data},
        {"profile": cfg["profile"], "arch": arch, "seeds": seeds, "head_seeds": head_seeds, "strategies": s1["strategies"]["names"],
         "depth": [m["arch"] for m in s1["depth"]["models"]], "device": device}))
    return out_jobs
