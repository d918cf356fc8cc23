"""What every stage shares: the profile arguments and the paths derived from them."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch

from archlab.config import load_params
from archlab.errors import ParamsError  # noqa: F401  (re-exported for stages)
from archlab.runtime import pick_device, set_threads


def add_study_parser(sub, name: str, help: str, doc: str, experiments, func, target: tuple[str, str] | None = None,
                     seed: bool = False) -> argparse.ArgumentParser:
    """``archlab <study> <experiment> [<target>] [--seed S] --profile P``: the shape of every study stage."""
    p = sub.add_parser(name, help=help, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("experiment", choices=experiments)
    if target is not None:
        p.add_argument(target[0], nargs="?", help=target[1])
    if seed:
        p.add_argument("--seed", type=int, default=None)
    add_profile_args(p)
    p.set_defaults(func=func)
    return p


def add_profile_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="full", help="params.yaml + config/<profile>.yaml (default: full)")
    parser.add_argument("--root", default=".", help="project root holding params.yaml (default: .)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (Snakemake passes {threads})")


@dataclass
class Context:
    """Params and paths of one stage invocation."""

    params: dict
    root: Path

    @property
    def profile(self) -> str:
        return self.params["profile"]

    @property
    def results(self) -> Path:
        return self.root / "results" / self.profile

    @property
    def resources(self) -> Path:
        return self.root / self.params["resources"]

    @property
    def device(self) -> torch.device:
        return pick_device(self.params["device"])

    def dataset_dir(self, name: str) -> Path:
        return self.results / "data" / name


def context(args: argparse.Namespace) -> Context:
    """Validate params (before any work) and set the thread budget."""
    set_threads(args.threads)
    return Context(params=load_params(args.profile, args.root), root=Path(args.root))


def make_optimizer(params, spec: dict) -> torch.optim.Optimizer:
    """An optimizer from a params ``optimizer:`` block (name, lr, weight_decay, momentum)."""
    wd = spec.get("weight_decay", 0.0)
    if spec["name"] == "sgd":
        return torch.optim.SGD(params, lr=spec["lr"], momentum=spec.get("momentum", 0.0), weight_decay=wd)
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[spec["name"]]
    return cls(params, lr=spec["lr"], weight_decay=wd)
