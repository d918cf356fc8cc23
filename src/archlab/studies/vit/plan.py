"""S2 ``vit``: Vision Transformer attention, masking robustness and linear probes.

``vit_pretrain`` (demo only) trains the small ViT that ``vit.weights`` then names; ``vit_predict``
(top-k of the photos), ``vit_attention`` (CLS maps, rollout, head statistics), ``vit_masking``
(accuracy / agreement / confidence vs patches masked) and ``vit_probe_features`` (frozen CLS and
mean-patch features, extracted once) read that model; ``vit_probe`` (one job per ``vit.probe.seeds``
entry) fits linear probes on a random ``subsample`` of the cached train features; ``vit_cnn`` puts
Grad-CAM of the S1 baseline head (``resnet_head``) beside the ViT maps;
``vit_section`` builds the report section.
"""
from __future__ import annotations

from os.path import normpath
from pathlib import PurePath

from archlab.data.kinds import check_subset
from archlab.errors import ParamsError
from archlab.features import CLASS_MAPS
from archlab.workflow.plan import Rule, pick, require_unique, run_files
from archlab.studies.resnet.plan import baseline_head_dir

JOBS = "archlab.studies.vit.jobs"
# published confidence of each masking strategy (report/published.yaml), read by the jobs and the section
MASKING_KEYS = {"unmasked": "vit.masking_unmasked_conf", "random": "vit.masking_random_conf",
                "centre": "vit.masking_centre_conf"}
MODEL_FILES = {"model": "config.json", "model_weights": "model.safetensors", "processor": "preprocessor_config.json"}


def trained_here(spec: str, out: str) -> bool:
    """Whether ``spec`` names the demo ViT that ``vit_pretrain`` writes under ``out`` (the study folder)."""
    kind, _, path = spec.partition(":")
    return kind == "file" and PurePath(normpath(out), "pretrain", "model") in PurePath(normpath(path)).parents


def probe_train_size(train_size: int, subsample: float) -> int:
    """How many of the ``train_size`` cached train features each seed's probe is fitted on."""
    return int(round(subsample * train_size))


def check(cfg: dict) -> None:
    s2 = cfg["vit"]
    if "resnet" not in cfg["studies"]:
        raise ParamsError("studies: vit needs resnet too (vit_cnn compares the ViT's attention with Grad-CAM of the "
                          "S1 resnet head); add resnet to studies or remove vit")
    pre = s2.get("pretrain")
    if pre is None and trained_here(s2["weights"], f"results/{cfg['profile']}/vit"):
        raise ParamsError(f"vit.weights={s2['weights']!r} names the output of vit_pretrain, but this profile has no "
                          "vit.pretrain section; add one or use hf:<repo> weights")
    if pre is not None:
        if pre["hidden_size"] % pre["heads"]:
            raise ParamsError(f"vit.pretrain.hidden_size={pre['hidden_size']} must be a multiple of "
                              f"vit.pretrain.heads={pre['heads']} (each head gets hidden_size / heads dimensions)")
        if pre["image_size"] % pre["patch_size"]:
            raise ParamsError(f"vit.pretrain.image_size={pre['image_size']} must be a multiple of "
                              f"vit.pretrain.patch_size={pre['patch_size']} (the image is cut into whole patches)")
    ac, mc, pc = s2["attention"], s2["masking"], s2["probe"]
    check_subset("vit.attention.stats_images", ac["stats_images"], ac["data"], cfg["data"][ac["data"]], "test")
    check_subset("vit.masking.n_images", mc["n_images"], mc["data"], cfg["data"][mc["data"]], "test")
    if mc.get("class_map") and not (CLASS_MAPS / f"{mc['class_map']}.yaml").exists():
        raise ParamsError(f"vit.masking.class_map={mc['class_map']!r}: no file {CLASS_MAPS}/{mc['class_map']}.yaml; "
                          f"known: {sorted(p.stem for p in CLASS_MAPS.glob('*.yaml'))}")
    for split in ("train", "val", "test"):
        check_subset(f"vit.probe.{split}_size", pc[f"{split}_size"], pc["data"], cfg["data"][pc["data"]], split)
    require_unique(pc["seeds"], "vit.probe.seeds")
    if (fitted := probe_train_size(pc["train_size"], pc["subsample"])) < 2:
        raise ParamsError(f"vit.probe.subsample={pc['subsample']} of vit.probe.train_size={pc['train_size']} leaves "
                          f"{fitted} train images per probe; raise either")


def jobs(cfg: dict, paths) -> list:
    s2, s1, out, device = cfg["vit"], cfg["resnet"], paths.study("vit"), cfg["device"]
    vit_in = dict(paths.weights(s2["weights"]))
    if trained_here(s2["weights"], out):  # the weights themselves, not only config.json
        vit_in["model_weights"] = f"{out}/pretrain/model/{MODEL_FILES['model_weights']}"
    model = {"weights": s2["weights"], "batch_size": s2["batch_size"], "device": device, "resources": paths.resources}
    photos = {"photos": paths.dataset(s2["predict"]["dataset"])}
    ac, mc, pc = s2["attention"], s2["masking"], s2["probe"]

    def rule(step: str, files: dict[str, str], func: str | None = None, run_dir: str | None = None, **kw) -> Rule:
        run_dir = run_dir or f"{out}/{step}"
        return Rule(f"vit_{step}", "vit", func or f"{JOBS}:{step}", run_dir, run_files(run_dir, **files), **kw)

    out_jobs = []
    if "pretrain" in s2:
        pre = rule("pretrain", {**{k: f"model/{v}" for k, v in MODEL_FILES.items()}, "metrics": "metrics.json",
                                "history": "history.csv"}, mem_mb=4000, runtime=60, gpu=True)
        out_jobs.append(pre.job({"data": paths.dataset(s2["pretrain"]["data"])}, {**{k: v for k, v in s2["pretrain"].items() if k != "data"}, "device": device}))
    predict = rule("predict", {"predictions": "predictions.csv"}, mem_mb=4000, runtime=20, gpu=True)
    out_jobs.append(predict.job({**photos, **vit_in}, {**model, "top_k": s2["predict"]["top_k"]}))
    attention = rule("attention", {"maps": "maps.npz", "stats": "head_stats.csv", "overlays": "overlays.png",
                                   "heads": "heads.png", "stats_png": "head_stats.png"}, mem_mb=8000, runtime=30, gpu=True)
    out_jobs.append(attention.job({**photos, "stats_data": paths.dataset(ac["data"]), **vit_in},
                                  {**model, **pick(ac, "stats_images", "rollout_residual", "head_images")}))
    masking = rule("masking", {"curves": "curves.csv", "summary": "summary.csv", "meta": "meta.json", "png": "curves.png"},
                   mem_mb=8000, runtime=120, gpu=True)
    out_jobs.append(masking.job({"data": paths.dataset(mc["data"]), **vit_in},
                                {**model, **pick(mc, "n_images", "fractions", "strategies", "methods", "fill"),
                                 "label_map": mc.get("label_map") or {}, "class_map": mc.get("class_map"),
                                 "seeds": s2["seeds"]},
                                reads=(str(CLASS_MAPS / f"{mc['class_map']}.yaml"),) if mc.get("class_map") else ()))
    feats = rule("probe_features", {"features": "features.npz"}, mem_mb=8000, runtime=60, gpu=True)
    out_jobs.append(feats.job({"data": paths.dataset(pc["data"]), **vit_in},
                              {**model, **pick(pc, "train_size", "val_size", "test_size")}))
    probe = rule("probe", {"results": "results.json"}, run_dir=f"{out}/probe/seed{{seed}}", mem_mb=4000, runtime=30)
    for seed in pc["seeds"]:
        out_jobs.append(probe.job({"features": f"{out}/probe_features/features.npz"},
                                  {**pick(pc, "cs", "max_iter", "subsample"), "seed": seed}, seed=seed))

    head_dir = baseline_head_dir(cfg, paths)  # S1's baseline head (resnet_head)
    head = {"resnet_head": f"{head_dir}/head.pt", "resnet_head_params": f"{head_dir}/params.json"}
    cnn = rule("cnn", {"png": "gradcam_vs_attention.png", "csv": "comparison.csv"}, mem_mb=4000, runtime=20, gpu=True)
    out_jobs.append(cnn.job(
        {"maps": f"{out}/attention/maps.npz", **photos, **head, "resnet_data": paths.dataset(s1["data"]),
         **{f"resnet_{k}": v for k, v in paths.weights(s1["weights"]).items()}},
        {"batch_size": s2["batch_size"], "device": device, "resources": paths.resources,
         "target_layer": s2["cnn"]["target_layer"], "resnet": pick(s1, "arch", "weights", "image_size")}))

    section = Rule("vit_section", "vit", "archlab.studies.vit.section:build", f"{out}/section",
                   {"section": paths.section("vit"), "metrics": paths.metrics("vit")})
    runs = {"predict": predict, "attention": attention, "masking": masking, "probe_features": feats, "cnn": cnn}
    unread = {"attention_maps", "probe_features_features"}  # large arrays the section does not open
    inputs = {key: path for step, r in runs.items() for name, path in r.outputs.items()
              if (key := f"{step}_{name}") not in unread}
    inputs |= {f"probe_{name}": [path.format(seed=seed) for seed in pc["seeds"]] for name, path in probe.outputs.items()}
    if "pretrain" in s2 and trained_here(s2["weights"], out):
        inputs |= {"pretrain_metrics": f"{out}/pretrain/metrics.json", "pretrain_params": f"{out}/pretrain/params.json",
                   "pretrain_data": paths.dataset(s2["pretrain"]["data"])}
    out_jobs.append(section.job(
        {**inputs, **photos, "attention_data": paths.dataset(ac["data"]), "masking_data": paths.dataset(mc["data"]),
         "probe_data": paths.dataset(pc["data"]), "resnet_data": paths.dataset(s1["data"]),
         "resnet_head_params": head["resnet_head_params"]},
        {"profile": cfg["profile"]}))
    return out_jobs
