"""The S1 report section, from the S1 runs' artifacts and the params each run recorded (params.json)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from archlab.data.prepared import PreparedDataset
from archlab.io import read_json
from archlab.plots.curves import plot_histories
from archlab.workflow.provenance import read_run_params
from archlab.report.labels import dataset_label, model_label
from archlab.report.section import Section, mean_std

TRAINED = {"last_block": "layer4 + fc", "full": "all", "random_init": "all (random init)"}


def _acc(runs: list[dict], key: str = "test_acc") -> str:
    return mean_std([r[key] * 100 for r in runs])


def _recipe(arch: str, weights: str) -> str:
    """A weights spec's recipe, the arch left out: ``torchvision:resnet18:IMAGENET1K_V1`` → ``IMAGENET1K_V1``,
    ``file:results/demo/pretrain/resnet18/weights.pt`` → ``file:results/demo/pretrain/<arch>/weights.pt``."""
    kind, _, rest = weights.partition(":")
    return rest.rpartition(":")[2] if kind == "torchvision" else weights.replace(arch, "<arch>")


def _recipe_note(models: dict[str, str]) -> str:
    """Whether the depth backbones (arch → weights) share one weight recipe; where they do not, the table says so."""
    recipes = sorted({_recipe(a, w) for a, w in models.items()})
    if len(recipes) == 1:
        return f"Every backbone uses the same weight recipe ({recipes[0]})."
    return (f"The backbones' weight recipes differ ({', '.join(recipes)}): part of the gap may be the recipe, "
            "not the depth.")


def build(job) -> None:
    p, inp = job.params, job.input
    arch, seeds, head_seeds = p["arch"], p["seeds"], p["head_seeds"]
    # every run, by its directory: metrics, the params it received, its history
    runs = {str(Path(m).parent): {"metrics": read_json(m), "params": read_run_params(q), "history": h}
            for m, q, h in zip(inp["metrics"], inp["run_params"], inp["histories"])}
    feats = {Path(m).parent.name: {**read_json(m), "params": read_run_params(q)}
             for m, q in zip(inp["features"], inp["feature_params"])}

    def group(kind: str, name: str) -> list[dict]:
        return [r for d, r in runs.items() if Path(d).parent.name == name and Path(d).parents[1].name == kind]

    base, noskip = group("head", arch), group("head", f"{arch}-noskip")
    hp, fp = base[0]["params"], feats[arch]["params"]
    data = PreparedDataset(inp["data"], verify=False)
    sizes = data.meta["sizes"]
    resized = f"{data.meta['image_shape'][0]} px resized to {fp['image_size']} px"
    setting = (f"profile {p['profile']}; {dataset_label(data.meta)}: {data.describe(resized)}; "
               f"{model_label(arch, fp['weights'])} (weights `{fp['weights']}`); head {hp['head']['epochs']} epochs, {hp['head']['optimizer']['name']} "
               f"lr {hp['head']['optimizer']['lr']}, batch {hp['batch_size']}; heads on cached features: seeds {head_seeds} "
               f"(n = {len(head_seeds)}); fine-tuning strategies: seeds {seeds} (n = {len(seeds)})")
    short = f"{p['profile']}, {model_label(arch, fp['weights'])}, {dataset_label(data.meta)} {sizes['train']} train imgs, {fp['image_size']} px, {hp['head']['epochs']} ep"
    sec = Section("resnet", f"S1 — ResNet transfer learning: {model_label(arch, fp['weights'])} on {dataset_label(data.meta)}",
                  p["profile"], setting, data=data.meta)
    sec.text("Frozen-backbone features (in eval mode, so BatchNorm statistics cannot drift) are extracted once per "
             "model variant into a cache; every head-only experiment and the hierarchy projections read that cache. "
             "Validation is carved from the training set; the test set is used only for the final numbers below.")

    sec.heading("Baseline head vs. skip connections removed")
    sec.text(f"No-skip variant: the residual addition is removed in blocks {', '.join(feats[f'{arch}-noskip']['skips_removed'])} "
             "of the pretrained, frozen backbone, and a new head is trained on its features. The shortcut is removed whole: "
             "where a block had a downsample (1×1 projection) shortcut, that branch is dropped too, so the block outputs only "
             "its residual branch, relu(bn2(conv2(relu(bn1(conv1(x))))))  (bn3/conv3 for bottleneck blocks).")
    sec.table(pd.DataFrame([
        {"variant": f"{arch} (baseline)", "val acc (%)": _acc([r["metrics"] for r in base], "val_acc"),
         "test acc (%)": _acc([r["metrics"] for r in base]), "n (seeds)": len(base)},
        {"variant": f"{arch}, skips removed", "val acc (%)": _acc([r["metrics"] for r in noskip], "val_acc"),
         "test acc (%)": _acc([r["metrics"] for r in noskip]), "n (seeds)": len(noskip)},
    ]), caption="Head-only accuracy after the last epoch (mean ± std over the n seeds of each row).")
    head_hist = {"baseline": pd.read_csv(base[0]["history"]), "skips removed": pd.read_csv(noskip[0]["history"])}
    sec.figure(plot_histories(head_hist, job.output["curves_fig"], f"{arch}: head training, seed {head_seeds[0]}"),
               "Head training curves: baseline vs. skip connections removed.")
    sec.curves("head_val_acc", {f"{label} seed {r['params']['seed']}": pd.read_csv(r["history"])
                                for label, group in (("baseline", base), ("skips removed", noskip)) for r in group})

    sep = pd.read_csv(inp["separability"])
    hier = read_run_params(inp["hierarchy_params"])
    sec.heading("Feature hierarchy")
    sec.text(f"Block outputs of layer1–layer4 and the pooled feature, globally average-pooled, for the first "
             f"{hier['n_images']} test images. Separability is measured in the full feature space: cross-validated "
             f"{hier['knn_k']}-NN accuracy and the silhouette score of the class partition.")
    sec.table(sep.assign(knn_acc=sep["knn_acc"] * 100).rename(columns={"knn_acc": f"{hier['knn_k']}-NN acc (%)", "channels": "dims"}),
              caption="Class separability per block (higher = more separable).", digits=3)
    sec.figure(inp["projections"], "2-D projections of each block's features, coloured by class.")

    sec.heading("Transfer strategies: compute vs. accuracy")
    rows, hist = [], {}
    for name in p["strategies"]:
        if name == "head":
            secs = [feats[arch]["seconds"] + r["metrics"]["train_seconds"] for r in base]
            rows.append({"strategy": "head only (cached features)", "trained": "fc", "train images": sizes["train"],
                         "epochs": hp["head"]["epochs"], "wall time (s)": mean_std(secs, 1),
                         "test acc (%)": _acc([r["metrics"] for r in base]), "n (seeds)": len(base)})
            continue
        group_runs = group("strategies", name)
        sp = group_runs[0]["params"]
        rows.append({"strategy": name.replace("_", " "), "trained": TRAINED[name],
                     "train images": group_runs[0]["metrics"]["train_images"], "epochs": sp["epochs"],
                     "wall time (s)": mean_std([r["metrics"]["train_seconds"] for r in group_runs], 1),
                     "test acc (%)": _acc([r["metrics"] for r in group_runs]), "n (seeds)": len(group_runs)})
        hist[name] = pd.read_csv(group_runs[0]["history"])
    opt = group("strategies", p["strategies"][-1])[0]["params"]["optimizer"] if hist else hp["head"]["optimizer"]
    sec.table(pd.DataFrame(rows), caption=f"Strategies on {p['device']}: wall time is training time (plus the one-off "
              f"feature extraction for head only); optimizer {opt['name']} lr {opt['lr']}; mean ± std over the n seeds of each row.")
    plot_histories(hist or head_hist, job.output["strategies_fig"], "fine-tuning strategies")
    if hist:
        sec.figure(job.output["strategies_fig"], "Training curves per strategy.")

    sec.heading("Depth")
    depth_rows = [{"model": m, "weights": feats[m]["weights"], "test acc (%)": _acc([r["metrics"] for r in group("head", m)]),
                   "n (seeds)": len(group("head", m))} for m in p["depth"]]
    sec.table(pd.DataFrame(depth_rows), caption="Head only, same protocol, per backbone depth (mean ± std over n seeds). "
              + _recipe_note({m: feats[m]["weights"] for m in p["depth"]}))

    sec.heading("Confusion")
    sec.figure(inp["confusion"], f"Confusion matrix of the trained {arch} head on the test set (row-normalised, %).", 0.7)
    sec.table(pd.read_csv(inp["pairs"]), caption="Most confused class pairs (test set).", digits=1)

    strat = {name: _acc([r["metrics"] for r in group("strategies", name)]) for name in hist}
    cmp = [("resnet.head_only_acc", _acc([r["metrics"] for r in base]), f"{short}; n = {len(base)}"),
           ("resnet.no_skip_acc", _acc([r["metrics"] for r in noskip]), f"{short}; n = {len(noskip)}"),
           ("resnet.strategy_head_acc", _acc([r["metrics"] for r in base]), f"{short}; n = {len(base)}")]
    if hist:
        sp = group("strategies", next(iter(hist)))[0]
        strat_setting = (f"{p['profile']}, {model_label(arch, fp['weights'])}, {dataset_label(data.meta)} {sp['metrics']['train_images']} train imgs, "
                         f"{fp['image_size']} px, {sp['params']['epochs']} ep")
        cmp += [(f"resnet.strategy_{k}_acc", v, f"{strat_setting}; n = {len(group('strategies', k))}")
                for k, v in strat.items() if k in ("last_block", "random_init")]
    cmp += [(f"resnet.depth_{size}_acc", row["test acc (%)"], f"{row['model']} ({row['weights']}); {short}; n = {row['n (seeds)']}")
            for size, row in (("small", depth_rows[0]), ("large", depth_rows[-1]))]
    sec.compare(cmp, "S1 numbers published by the source reports beside archlab's (test accuracy).")
    for name, group_runs in (("head_only_test_acc", base), ("no_skip_test_acc", noskip)):
        sec.metric(name, sum(r["metrics"]["test_acc"] for r in group_runs) / len(group_runs))
    sec.write(job.output["section"], job.output["metrics"], {"head_val_acc": job.output["curves"]})
