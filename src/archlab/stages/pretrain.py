"""``archlab pretrain <arch>``: the demo's stand-in for ImageNet weights.

Trains a small ResNet on a synthetic *source* task whose classes (shapes) are disjoint from every
target task, and saves its state dict, which studies then load with the spec ``file:<path>``.
"""
from __future__ import annotations

import logging


from archlab.data.loaders import Preprocess
from archlab.data.prepared import PreparedDataset
from archlab.io import save_torch, write_json
from archlab.models.resnet import build_resnet
from archlab.runtime import seed_everything
from archlab.stages import common
from archlab.train.classifier import FitConfig, evaluate, fit

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("pretrain", help="demo: pretrain a small ResNet on the synthetic source task")
    p.add_argument("arch")
    common.add_profile_args(p)
    p.set_defaults(func=run)


def run(args) -> None:
    ctx = common.context(args)
    cfg = ctx.params["pretrain"]
    if args.arch not in cfg["archs"]:
        raise common.ParamsError(f"pretrain.archs of profile {ctx.profile!r} is {cfg['archs']}; {args.arch!r} is not in it")
    data = PreparedDataset(ctx.dataset_dir(cfg["data"]))
    seed_everything(cfg["seed"])
    device = ctx.device
    model = build_resnet(args.arch, len(data.classes)).to(device)
    prep = Preprocess(size=cfg["image_size"])
    out = ctx.results / "pretrain" / args.arch
    fit_cfg = FitConfig(epochs=cfg["epochs"], batch_size=cfg["batch_size"], seed=cfg["seed"],
                        train_transform=prep, eval_transform=prep, desc=f"pretrain {args.arch}")
    opt = common.make_optimizer(model.parameters(), cfg["optimizer"])
    history = fit(model, data.split("train"), data.split("val"), opt, fit_cfg, device, out)
    test = evaluate(model, data.split("test"), cfg["batch_size"], device, prep)
    save_torch(out / "weights.pt", model.state_dict())
    write_json(out / "metrics.json", {"arch": args.arch, "source_task": cfg["data"], "classes": data.classes,
                                      "val_acc": float(history["val_acc"].iloc[-1]), "test_acc": test["acc"]})
    log.info("pretrained %s: source-task test accuracy %.3f", args.arch, test["acc"])
