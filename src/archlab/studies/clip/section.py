"""The S5 report section, from the S5 runs' artifacts and the params each run recorded (params.json)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from archlab.data.prepared import PreparedDataset
from archlab.io import read_json
from archlab.workflow.provenance import read_run_params
from archlab.report.labels import dataset_label, model_label
from archlab.report.section import Section, mean_std

GAP_COLUMNS = {"matched_cosine": "matched cos", "unmatched_cosine": "unmatched cos",
               "centroid_distance": "centroid dist", "image_norm": "image norm", "text_norm": "text norm"}
ALIGN_COLUMNS = {"matched_cosine": "matched cos", "unmatched_cosine": "unmatched cos",
                 "centroid_distance": "centroid dist", "zero_shot_accuracy": "class-prompt acc (%)"}
# the maps are fitted on images paired with class-template captions, i.e. with their labels: a supervised alignment
SUPERVISED = "supervised alignment (fitted with class-template captions)"
METHOD_NAMES = {"none": "none (CLIP as is: zero-shot)", "centroid_shift": f"centroid shift, {SUPERVISED}",
                "procrustes": f"orthogonal Procrustes, {SUPERVISED}"}
PROTOCOL_NAMES = {"held_out": "held-out (test split)", "in_sample": "in-sample (fit = eval)"}


def _summary(df: pd.DataFrame, keys: list[str], columns: dict[str, str], scale: dict[str, float]) -> pd.DataFrame:
    """mean ± std over seeds of every metric column, one row per ``keys`` group (order kept)."""
    rows = []
    for group, sub in df.groupby(keys, sort=False):
        group = group if isinstance(group, tuple) else (group,)
        rows.append({**dict(zip(keys, group)),
                     **{label: mean_std(sub[col] * scale.get(col, 1.0), 3 if col not in scale else 2)
                        for col, label in columns.items()}})
    return pd.DataFrame(rows)


def build(job) -> None:
    p, inp = job.params, job.input
    profile = p["profile"]
    data = PreparedDataset(inp["data"], verify=False)
    tp = read_run_params(inp["texts_params"])  # weights and prompt sets the text embeddings were made with
    gp = read_run_params(inp["gap_params"])
    pp = read_run_params(inp["procrustes_params"])["procrustes"]
    weights, prompts, gap_cfg, seeds = tp["weights"], tp["prompts"], gp["gap"], gp["seeds"]
    n = len(seeds)
    zs = read_json(inp["zeroshot"])
    setting = (f"profile {profile}; {dataset_label(data.meta)}: {data.describe(str(data.meta['image_shape'][0]) + ' px')}; "
               f"CLIP weights `{weights}` with the model's own preprocessing; gap sample {gap_cfg['n_samples']} "
               f"test images; alignment fitted on {pp['n_fit']} {pp['fit_split']} pairs; seeds {seeds} (n = {n})")
    short = f"{profile}, {dataset_label(data.meta)}, {zs['n_images']} test imgs, {model_label('clip', weights)}"
    sec = Section("clip", f"S5 — CLIP zero-shot prompting and the modality gap on {dataset_label(data.meta)}", profile, setting,
                  data=data.meta)
    sec.text("Image embeddings of each split are computed once into a cache and text embeddings once per prompt "
             "template; every experiment below reads those caches. Cosines are taken on L2-normalised embeddings, "
             "as CLIP's zero-shot rule does.")

    if "pretrain" in inp:
        pm, pre = read_json(inp["pretrain"]), read_run_params(inp["pretrain_params"])
        sec.text(f"Demo model: a small open_clip CLIP (config in `clip.pretrain.model_cfg`) trained contrastively for "
                 f"{pm['epochs']} epochs on {pm['train_images']} synthetic images of dataset `{pm['data']}` captioned "
                 f"with their class name under {len(pre['captions'])} templates; its validation zero-shot "
                 f"accuracy after pre-training was {pm['val_zero_shot_acc'] * 100:.1f}% (chance "
                 f"{100 / len(pm['classes']):.0f}%). Its image encoder never saw the `{data.meta['name']}` images.")

    # zero-shot
    sec.heading("Zero-shot classification per prompt strategy")
    acc = zs["accuracy"]
    sec.table(pd.DataFrame([{"prompt set": name, "templates": len(prompts[name]),
                             "example": f"`{prompts[name][0]}`", "test acc (%)": acc[name] * 100}
                            for name in prompts]),
              caption=f"Zero-shot accuracy on all {zs['n_images']} test images. Several templates = ensemble: the "
                      "normalised mean of the normalised text embeddings.")
    rows = [(f"clip.zero_shot_{name}", acc[name] * 100, short) for name in ("plain", "photo", "descriptive") if name in acc]
    if "ensemble" in acc:  # open_clip's published number uses a prompt ensemble
        rows.append(("clip.literature_zero_shot_stl10", acc["ensemble"] * 100, f"`ensemble` prompt set; {short}"))
    sec.compare(rows, caption="Zero-shot accuracy: published (and literature) vs. archlab.")
    for name, value in acc.items():
        sec.metric(f"zero_shot_{name}_acc", value)

    # modality gap
    gap = pd.read_csv(inp["gap"])
    gap["embeddings"] = gap["normalised"].map({False: "raw", True: "L2-normalised"})
    sec.heading("The modality gap")
    sec.text(f"{gap_cfg['n_samples']} test images, each paired with a caption of its class under a template drawn "
             f"from the `{gap_cfg['caption_set']}` set. Matched = image with its own caption; unmatched = image "
             "with captions of other classes (same-class pairs are excluded, they are not negatives). Centroid "
             "distance = length of the gap vector between the two modality means.")
    sec.table(_summary(gap, ["embeddings"], GAP_COLUMNS, {}),
              caption=f"Gap metrics, mean ± std over n = {n} sample draw(s). Cosines do not depend on "
                      "normalisation; distances and norms do.")
    unit = gap[gap["normalised"]]
    sec.compare([("clip.gap_matched_cosine", mean_std(unit["matched_cosine"], 3), f"{short}; n = {n}"),
                 ("clip.gap_unmatched_cosine", mean_std(unit["unmatched_cosine"], 3), f"{short}; n = {n}")],
                caption=f"Matched and unmatched cosine: published vs. archlab (mean ± std over n = {n} draw(s)).")
    sec.metric("gap_matched_cosine", unit["matched_cosine"].mean())
    sec.metric("gap_centroid_distance", unit["centroid_distance"].mean())
    sec.figure(inp["before"], "Joint 2-D projections of the gap sample: images (blue) and captions (red) embedded "
                              "together, raw and L2-normalised.")

    # alignment
    al = pd.read_csv(inp["procrustes"])
    al["protocol"] = al["protocol"].map(PROTOCOL_NAMES)
    al["method"] = al["method"].map(METHOD_NAMES)
    sec.heading("Closing the gap: orthogonal Procrustes (a supervised alignment), held-out vs. in-sample")
    sec.text(f"Image→text maps fitted (scipy `orthogonal_procrustes`; the centroid shift as a baseline) on n "
             f"{pp['fit_split']} images and their captions, then scored **held-out** on every test image, and "
             f"**in-sample** on the very pairs they were fitted to — the protocol behind the source reports' "
             f"numbers. The captions name each fitting image's class under a template, so the maps are fitted with "
             f"labels: accuracy after an alignment is that of a **supervised alignment**, not zero-shot (only the "
             f"`none` rows are zero-shot). Class prompts use the `{pp['prompt_set']}` prompt set.")
    dim = _embed_dim(inp["aligners"])
    table = _summary(al, ["n_fit", "protocol", "method"], ALIGN_COLUMNS, {"zero_shot_accuracy": 100.0})
    sec.table(table.rename(columns={"n_fit": "n fit"}),
              caption=f"Alignment, mean ± std over n = {n} draw(s) of the fitting rows. An orthogonal map of "
                      f"{dim}-d embeddings has {dim * (dim - 1) // 2} free "
                      "parameters: fitted to a few hundred pairs it partly memorises them, which the in-sample rows "
                      "reward and the held-out rows expose.")
    n_ref = min(pp["n_fit"])  # closest to the reports' 100 samples
    ref = al[al["n_fit"] == n_ref]

    def pick(protocol: str, method: str, col: str) -> np.ndarray:
        rows = ref[(ref["protocol"] == PROTOCOL_NAMES[protocol]) & (ref["method"] == METHOD_NAMES[method])]
        return rows.sort_values("seed")[col].to_numpy()

    def gain(protocol: str) -> str:
        return mean_std((pick(protocol, "procrustes", "zero_shot_accuracy") - pick(protocol, "none", "zero_shot_accuracy")) * 100)

    sec.compare([
        *[("clip.procrustes_matched_cosine_after", mean_std(pick(q, "procrustes", "matched_cosine"), 3),
           f"{q.replace('_', '-')}, n fit {n_ref}; {short}; n = {n}") for q in ("held_out", "in_sample")],
        *[("clip.procrustes_zero_shot_gain", gain(q),
           f"{q.replace('_', '-')}, {SUPERVISED}, n fit {n_ref}; {short}; n = {n}")
          for q in ("held_out", "in_sample")],
    ], caption=f"Procrustes: published vs. archlab, held-out and in-sample (mean ± std over n = {n} draw(s)).")
    sec.metric("procrustes_heldout_matched_cosine", pick("held_out", "procrustes", "matched_cosine").mean())
    sec.metric("procrustes_heldout_zero_shot_acc", pick("held_out", "procrustes", "zero_shot_accuracy").mean())
    sec.figure(inp["after"],
               f"The same gap sample after the centroid shift and after Procrustes, both fitted on {max(pp['n_fit'])} "
               f"{pp['fit_split']} pairs (so the plotted test images are held out).")
    sec.write(job.output["section"], job.output["metrics"])


def _embed_dim(path: str) -> int:
    with np.load(path) as f:
        return int(f["procrustes_rotation"].shape[0])
