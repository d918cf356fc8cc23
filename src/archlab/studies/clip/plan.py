"""S5 ``clip``: CLIP zero-shot prompting, the modality gap, and held-out Procrustes alignment.

Image embeddings are computed once per split (``clip_images``) and text embeddings once per prompt
set (``clip_texts``); every experiment after that (``clip_zeroshot``, ``clip_gap``,
``clip_procrustes``, ``clip_projections``) is numpy over the two caches, so changing a prompt never
re-encodes an image. The demo trains its own tiny CLIP first (``clip_pretrain``, only when
``clip.pretrain`` is set); ``clip_section`` builds the report section.
"""
from __future__ import annotations

from pathlib import PurePosixPath

from archlab.data.kinds import check_subset, split_sizes
from archlab.errors import ParamsError
from archlab.models.weights import check_open_clip  # torch-free: reads open_clip's registries only
from archlab.workflow.plan import Rule, run_files

JOBS = "archlab.studies.clip.jobs"
# open_clip's local-dir layout (archlab.models.clip writes it; this module imports no torch)
WEIGHTS_FILE = "open_clip_pytorch_model.bin"
CONFIG_FILE = "open_clip_config.json"


def check(cfg: dict) -> None:
    s5 = cfg["clip"]
    sets = sorted(s5["prompts"])
    for key, name in (("gap.caption_set", s5["gap"]["caption_set"]), ("procrustes.prompt_set", s5["procrustes"]["prompt_set"])):
        if name not in s5["prompts"]:
            raise ParamsError(f"clip.{key} = {name!r} names no prompt set; clip.prompts has {sets}: use one of them, "
                              f"or add `{name}: [\"... {{c}} ...\"]` under clip.prompts")
    kind, _, rest = s5["weights"].partition(":")
    if not (kind == "open_clip" or (kind == "file" and PurePosixPath(rest).name == WEIGHTS_FILE)):
        raise ParamsError(f"clip.weights = {s5['weights']!r}: CLIP weights must be open_clip:<model>:<pretrained> "
                          f"(e.g. open_clip:ViT-B-32-quickgelu:openai) or file:<dir>/{WEIGHTS_FILE} (written by clip_pretrain)")
    check_open_clip(s5["weights"], "clip.weights")  # pretrained tag and architecture share one activation
    data = cfg["data"][s5["data"]]
    check_subset("clip.gap.n_samples", s5["gap"]["n_samples"], s5["data"], data, "test")
    split = s5["procrustes"]["fit_split"]
    pool = split_sizes(s5["data"], data).get(split)
    too_big = [n for n in s5["procrustes"]["n_fit"] if pool is not None and n > pool]
    if too_big:
        raise ParamsError(f"clip.procrustes.n_fit {too_big} exceed the {pool} {split} images of data.{s5['data']}; "
                          f"lower them (or fit on a larger split with clip.procrustes.fit_split)")


def jobs(cfg: dict, paths) -> list:
    s5, out, device = cfg["clip"], paths.study("clip"), cfg["device"]
    data = {"data": paths.dataset(s5["data"])}
    splits = ["test", s5["procrustes"]["fit_split"]]
    weights = paths.weights(s5["weights"])
    if s5["weights"].startswith("file:"):  # the local-dir model is its config + its weights
        weights["model_config"] = str(PurePosixPath(weights["weights"]).with_name(CONFIG_FILE))
    model = {"weights": s5["weights"], "resources": paths.resources, "device": device}

    pre_dir = f"{out}/pretrain"
    pretrain = Rule("clip_pretrain", "clip", f"{JOBS}:pretrain", pre_dir,
                    run_files(pre_dir, weights=f"model/{WEIGHTS_FILE}", config=f"model/{CONFIG_FILE}",
                              history="history.csv", metrics="metrics.json"),
                    mem_mb=4000, runtime=60, gpu=True,
                    description="demo only: a tiny open_clip CLIP trained contrastively on synthetic captioned images")
    img_dir = f"{out}/images"
    images = Rule("clip_images", "clip", f"{JOBS}:images", img_dir, run_files(img_dir, **{s: f"{s}.npz" for s in splits}),
                  mem_mb=8000, runtime=60, gpu=True, description="image embeddings of the test and fitting splits")
    txt_dir = f"{out}/texts"
    texts = Rule("clip_texts", "clip", f"{JOBS}:texts", txt_dir, run_files(txt_dir, texts="text.npz"),
                 mem_mb=4000, runtime=20, gpu=True, description="text embeddings of every prompt template x class")
    zs_dir = f"{out}/zeroshot"
    zeroshot = Rule("clip_zeroshot", "clip", f"{JOBS}:zeroshot", zs_dir, run_files(zs_dir, metrics="metrics.json", per_image="per_image.csv"),
                    description="zero-shot accuracy per prompt set, and per image (the claims resample images)")
    gap_dir = f"{out}/gap"
    gap = Rule("clip_gap", "clip", f"{JOBS}:gap", gap_dir, run_files(gap_dir, metrics="metrics.csv", sample="sample.npz"),
               description="matched/unmatched cosine and centroid distance, raw and L2-normalised")
    pro_dir = f"{out}/procrustes"
    procrustes = Rule("clip_procrustes", "clip", f"{JOBS}:procrustes", pro_dir,
                      run_files(pro_dir, metrics="metrics.csv", aligners="aligners.npz"), mem_mb=4000, runtime=20,
                      description="centroid shift and orthogonal Procrustes: held-out vs in-sample")
    proj_dir = f"{out}/projections"
    projections = Rule("clip_projections", "clip", f"{JOBS}:projections", proj_dir,
                       run_files(proj_dir, before="before.png", after="after.png"), mem_mb=4000, runtime=20,
                       description="joint t-SNE / UMAP maps before and after alignment")
    sec_dir = f"{out}/section"
    section = Rule("clip_section", "clip", "archlab.studies.clip.section:build", sec_dir,
                   {"section": paths.section("clip"), "metrics": paths.metrics("clip")},
                   description="the S5 report section")

    out_jobs = []
    pre = s5.get("pretrain")
    if pre:
        out_jobs.append(pretrain.job({"data": paths.dataset(pre["data"])}, {**pre, "device": device}))
    texts_in = {"texts": f"{txt_dir}/text.npz"}
    test_in = {"images": f"{img_dir}/test.npz", **texts_in}
    out_jobs += [
        images.job({**data, **weights}, {**model, "batch_size": s5["batch_size"], "splits": splits}),
        texts.job({**data, **weights}, {**model, "prompts": s5["prompts"]}),
        zeroshot.job(test_in),
        gap.job(test_in, {"gap": s5["gap"], "seeds": s5["seeds"]}),
        procrustes.job({**test_in, "fit_images": f"{img_dir}/{splits[1]}.npz"},
                       {"procrustes": s5["procrustes"], "caption_set": s5["gap"]["caption_set"], "seeds": s5["seeds"]}),
        projections.job({"sample": f"{gap_dir}/sample.npz", "aligners": f"{pro_dir}/aligners.npz",
                         "gap_params": f"{gap_dir}/params.json", "procrustes_params": f"{pro_dir}/params.json"},
                        {"methods": s5["projections"]["methods"]}),
    ]
    # the section describes the demo model only when the weights are that model
    uses_pretrain = bool(pre) and weights.get("weights") == f"{pre_dir}/model/{WEIGHTS_FILE}"
    out_jobs.append(section.job(
        {**data, "zeroshot": f"{zs_dir}/metrics.json", "gap": f"{gap_dir}/metrics.csv",
         "procrustes": f"{pro_dir}/metrics.csv", "aligners": f"{pro_dir}/aligners.npz",
         "before": f"{proj_dir}/before.png", "after": f"{proj_dir}/after.png",
         "texts_params": f"{txt_dir}/params.json", "gap_params": f"{gap_dir}/params.json",
         "procrustes_params": f"{pro_dir}/params.json",
         **({"pretrain": f"{pre_dir}/metrics.json", "pretrain_params": f"{pre_dir}/params.json"} if uses_pretrain else {})},
        {"profile": cfg["profile"]}))
    return out_jobs
