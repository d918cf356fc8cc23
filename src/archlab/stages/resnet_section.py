"""The S1 report section, assembled from the artifacts of the S1 rules only."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from archlab.data.prepared import PreparedDataset
from archlab.io import read_json
from archlab.plots.curves import plot_histories
from archlab.report.section import Section, mean_std


def _runs(base: Path, seeds: list[int]) -> list[dict]:
    return [read_json(base / f"seed{s}" / "metrics.json") for s in seeds]


def _acc(runs: list[dict], key: str = "test_acc") -> str:
    return mean_std([r[key] * 100 for r in runs])


def build_section(ctx, cfg: dict, out: Path) -> Section:
    seeds, arch = cfg["seeds"], cfg["arch"]
    data = PreparedDataset(ctx.dataset_dir(cfg["data"]), verify=False)
    sizes = data.meta["sizes"]
    setting = (f"profile {ctx.profile}; {data.describe(str(data.meta['image_shape'][0]) + ' px resized to ' + str(cfg['image_size']) + ' px')}; "
               f"{arch} with weights "
               f"`{cfg['weights']}`; head {cfg['head']['epochs']} epochs, {cfg['head']['optimizer']['name']} "
               f"lr {cfg['head']['optimizer']['lr']}, batch {cfg['batch_size']}; seeds {seeds}")
    short = f"{ctx.profile}, {cfg['data']} {sizes['train']} train imgs, {cfg['image_size']} px, {cfg['head']['epochs']} ep"
    sec = Section("resnet", "S1 — ResNet transfer learning on CIFAR-10", ctx.profile, setting)
    sec.text("Frozen-backbone features (in eval mode, so BatchNorm statistics cannot drift) are extracted once per "
             "model variant into a cache; every head-only experiment and the hierarchy projections read that cache. "
             "Validation is carved from the training set; the test set is used only for the final numbers below.")

    # baseline and no-skip
    base, noskip = _runs(out / "head" / arch, seeds), _runs(out / "head" / f"{arch}-noskip", seeds)
    removed = read_json(out / "features" / f"{arch}-noskip.json")["skips_removed"]
    sec.heading("Baseline head vs. skip connections removed")
    sec.text(f"No-skip variant: the residual addition is removed in blocks {', '.join(removed)} of the pretrained, frozen "
             "backbone, and a new head is trained on its features. The shortcut is removed whole: where a block had a "
             "downsample (1×1 projection) shortcut, that branch is dropped too, so the block outputs only its residual "
             "branch, relu(bn2(conv2(relu(bn1(conv1(x))))))  (bn3/conv3 for bottleneck blocks).")
    sec.table(pd.DataFrame([
        {"variant": f"{arch} (baseline)", "val acc (%)": _acc(base, "val_acc"), "test acc (%)": _acc(base), "seeds": len(seeds)},
        {"variant": f"{arch}, skips removed", "val acc (%)": _acc(noskip, "val_acc"), "test acc (%)": _acc(noskip), "seeds": len(seeds)},
    ]), caption="Head-only accuracy after the last epoch (mean ± std over seeds).")
    head_hist = {"baseline": pd.read_csv(out / "head" / arch / f"seed{seeds[0]}" / "history.csv"),
                 "skips removed": pd.read_csv(out / "head" / f"{arch}-noskip" / f"seed{seeds[0]}" / "history.csv")}
    curves = plot_histories(head_hist, out / "figures" / "baseline_vs_noskip.png", f"{arch}: head training, seed {seeds[0]}")
    sec.figure(curves, "Head training curves: baseline vs. skip connections removed.")
    sec.curves("head_val_acc", head_hist)

    # hierarchy
    sep = pd.read_csv(out / "hierarchy" / "separability.csv")
    sec.heading("Feature hierarchy")
    sec.text(f"Block outputs of layer1–layer4 and the pooled feature, globally average-pooled, for the first "
             f"{cfg['hierarchy']['n_images']} test images. Separability is measured in the full feature space: "
             f"cross-validated {cfg['hierarchy']['knn_k']}-NN accuracy and the silhouette score of the class partition.")
    sec.table(sep.assign(knn_acc=sep["knn_acc"] * 100).rename(columns={"knn_acc": f"{cfg['hierarchy']['knn_k']}-NN acc (%)", "channels": "dims"}),
              caption="Class separability per block (higher = more separable).", digits=3)
    sec.figure(out / "hierarchy" / "projections.png", "2-D projections of each block's features, coloured by class.")

    # strategies
    sec.heading("Transfer strategies: compute vs. accuracy")
    feat_meta = read_json(out / "features" / f"{arch}.json")
    rows = []
    for name in cfg["strategies"]["names"]:
        if name == "head":
            runs = base
            secs = [feat_meta["seconds"] + r["train_seconds"] for r in runs]
            rows.append({"strategy": "head only (cached features)", "trained": "fc", "train images": sizes["train"],
                         "epochs": cfg["head"]["epochs"], "wall time (s)": mean_std(secs, 1), "test acc (%)": _acc(runs)})
        else:
            runs = _runs(out / "strategies" / name, seeds)
            rows.append({"strategy": name.replace("_", " "), "trained": {"last_block": "layer4 + fc", "full": "all", "random_init": "all (random init)"}[name],
                         "train images": runs[0]["train_images"], "epochs": cfg["strategies"]["epochs"],
                         "wall time (s)": mean_std([r["train_seconds"] for r in runs], 1), "test acc (%)": _acc(runs)})
    sec.table(pd.DataFrame(rows), caption=f"Strategies on {ctx.device}: wall time is training time (plus the one-off feature "
              f"extraction for head only); optimizer {cfg['strategies']['optimizer']['name']} lr {cfg['strategies']['optimizer']['lr']}.")
    hist = {r: pd.read_csv(out / "strategies" / r / f"seed{seeds[0]}" / "history.csv") for r in cfg["strategies"]["names"] if r != "head"}
    if hist:
        sec.figure(plot_histories(hist, out / "figures" / "strategies.png", "fine-tuning strategies"), "Training curves per strategy.")

    # depth
    sec.heading("Depth")
    depth_rows = [{"model": m["arch"], "weights": m["weights"], "test acc (%)": _acc(_runs(out / "head" / m["arch"], seeds))}
                  for m in cfg["depth"]["models"]]
    sec.table(pd.DataFrame(depth_rows), caption="Head only, same protocol, per backbone depth.")

    # confusion
    sec.heading("Confusion")
    sec.figure(out / "confusion" / "confusion.png", f"Confusion matrix of the trained {arch} head on the test set (row-normalised, %).", 0.7)
    sec.table(pd.read_csv(out / "confusion" / "pairs.csv"), caption="Most confused class pairs (test set).", digits=1)

    # published vs ours
    strat = {r: _acc(_runs(out / "strategies" / r, seeds)) for r in cfg["strategies"]["names"] if r != "head"}
    depth_models = [m["arch"] for m in cfg["depth"]["models"]]
    cmp = [("resnet.head_only_acc", _acc(base), short), ("resnet.no_skip_acc", _acc(noskip), short),
           ("resnet.strategy_head_acc", _acc(base), short)]
    strat_setting = (f"{ctx.profile}, {cfg['data']} {cfg['strategies'].get('train_size') or sizes['train']} train imgs, "
                     f"{cfg['image_size']} px, {cfg['strategies']['epochs']} ep")
    cmp += [(f"resnet.strategy_{k}_acc", v, strat_setting) for k, v in strat.items() if k in ("last_block", "random_init")]
    cmp += [("resnet.depth_small_acc", depth_rows[0]["test acc (%)"], f"{depth_models[0]}; {short}"),
            ("resnet.depth_large_acc", depth_rows[-1]["test acc (%)"], f"{depth_models[-1]}; {short}")]
    sec.compare(cmp, "S1 numbers published by the source reports beside archlab's (test accuracy).")
    for name, runs in (("head_only_test_acc", base), ("no_skip_test_acc", noskip)):
        sec.metric(name, sum(r["test_acc"] for r in runs) / len(runs))
    return sec
