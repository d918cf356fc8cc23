"""The demo's stand-in for ImageNet weights: ``pretrain`` trains a small ResNet on a synthetic
*source* task whose classes (shapes) are disjoint from every target task and saves its state dict,
which studies then load with the spec ``file:<path>``. The full profile pretrains nothing."""
from __future__ import annotations

import logging

from archlab.workflow.plan import Rule, run_files

log = logging.getLogger(__name__)


def check(cfg: dict) -> None:
    from archlab.workflow.plan import require_unique

    require_unique(cfg["pretrain"].get("archs", []), "pretrain.archs")


def jobs(cfg: dict, paths) -> list:
    p = cfg["pretrain"]
    run_dir = f"{paths.results}/pretrain/{{arch}}"
    rule = Rule("pretrain", "pretrain", f"{__name__}:pretrain", run_dir,
                run_files(run_dir, weights="weights.pt", metrics="metrics.json", history="history.csv"),
                mem_mb=4000, runtime=120, gpu=True, description="pretrain a small ResNet on the synthetic source task")
    params = {k: v for k, v in p.items() if k != "archs"} | {"device": cfg["device"]}
    return [rule.job(input={"data": paths.dataset(p["data"])}, params=params | {"arch": arch}, arch=arch)
            for arch in p.get("archs", [])]


def pretrain(job) -> None:
    from archlab.data.loaders import Preprocess
    from archlab.data.prepared import PreparedDataset
    from archlab.io import save_torch, write_json
    from archlab.models.resnet import build_resnet
    from archlab.runtime import seed_everything
    from archlab.train.classifier import FitConfig, evaluate, fit
    from archlab.train.optim import make_optimizer

    p, device = job.params, job.device
    data = PreparedDataset(job.input["data"])
    seed_everything(p["seed"])
    model = build_resnet(p["arch"], len(data.classes)).to(device)
    prep = Preprocess(size=p["image_size"])
    fit_cfg = FitConfig(epochs=p["epochs"], batch_size=p["batch_size"], seed=p["seed"],
                        train_transform=prep, eval_transform=prep, desc=f"pretrain {p['arch']}")
    history = fit(model, data.split("train"), data.split("val"), make_optimizer(model.parameters(), p["optimizer"]),
                  fit_cfg, device, job.run_dir, checkpoint=job.checkpoint())
    test = evaluate(model, data.split("test"), p["batch_size"], device, prep)
    save_torch(job.output["weights"], model.state_dict())
    write_json(job.output["metrics"], {"arch": p["arch"], "source_task": p["data"], "classes": data.classes,
                                       "val_acc": float(history["val_acc"].iloc[-1]), "test_acc": test["acc"]})
    log.info("pretrained %s: source-task test accuracy %.3f", p["arch"], test["acc"])
