"""``python -m archlab <command>``: run any single job of the pipeline by hand, list them, check params.

    archlab list --profile demo                                  every job of a profile: rule and wildcards
    archlab run resnet_head variant=resnet18 seed=0 --profile demo   one job, exactly as Snakemake runs it
    archlab validate --profile demo                              check params and every study's plan, then exit
    archlab dvc-yaml --write                                     regenerate dvc.yaml from the plans
    archlab fetch-weights torchvision:resnet152:IMAGENET1K_V2    download weights (where there is internet)

``run`` looks the job up in the same plan Snakemake's rules come from (src/archlab/studies/<study>/plan.py),
so it gets the same inputs, outputs and params; its outputs, log lines and params.json are the same.
Light commands (list, validate) import no torch.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from archlab.errors import ArchlabError


def _pipeline(args):
    from archlab.config import load_params
    from archlab.pipeline import Paths, Pipeline

    params = load_params(args.profile, args.root)
    return Pipeline(params, Paths(params["profile"], resources_dir=params["resources"]))


def _list(args) -> None:
    pipeline = _pipeline(args)
    for job in pipeline.jobs:
        print(job.describe())


def _validate(args) -> None:
    pipeline = _pipeline(args)
    print(f"params of profile {args.profile!r} are valid: {len(pipeline.jobs)} jobs in {len(pipeline.rules)} rules")


def _run(args) -> None:
    from archlab.runner import run_job

    wildcards = {}
    for item in args.wildcards:
        key, sep, value = item.partition("=")
        if not sep:
            raise ArchlabError(f"wildcard {item!r} is not of the form key=value (see `archlab list --profile {args.profile}`)")
        wildcards[key] = value
    with contextlib.chdir(args.root):
        args.root = "."
        job = _pipeline(args).job(args.rule, wildcards)
        for path in job.output.values():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        run_job(job.rule.name, job.rule.func, job.wildcards, job.input, job.output, job.params, args.threads)


def _dvc_yaml(args) -> None:
    from archlab.dvc_stages import render

    text = render(args.root)
    if args.write:
        Path(args.root, "dvc.yaml").write_text(text)
    else:
        print(text, end="")


def _fetch(args) -> None:
    from archlab.models import weights

    print(weights.fetch(args.spec, Path(args.resources)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="archlab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="<command>")

    def profile_args(p):
        p.add_argument("--profile", default="full", help="params.yaml + config/<profile>.yaml (default: full)")
        p.add_argument("--root", default=".", help="project root holding params.yaml (default: .)")
        return p

    profile_args(sub.add_parser("list", help="list every job of a profile")).set_defaults(func=_list)
    profile_args(sub.add_parser("validate", help="check params and every plan, then exit")).set_defaults(func=_validate)
    run = profile_args(sub.add_parser("run", help="run one job by hand (as Snakemake would)"))
    run.add_argument("rule", help="the rule name, e.g. resnet_head (see `archlab list`)")
    run.add_argument("wildcards", nargs="*", help="key=value for each of the rule's wildcards, e.g. seed=0")
    run.add_argument("--threads", type=int, default=int(os.environ.get("ARCHLAB_THREADS", 1)),
                     help="torch CPU threads (default: $ARCHLAB_THREADS or 1)")
    run.set_defaults(func=_run)
    dvc = sub.add_parser("dvc-yaml", help="print (or --write) dvc.yaml, generated from the plans")
    dvc.add_argument("--root", default=".", help="project root (default: .)")
    dvc.add_argument("--write", action="store_true", help="overwrite <root>/dvc.yaml")
    dvc.set_defaults(func=_dvc_yaml)
    fetch = sub.add_parser("fetch-weights", help="download a weights spec into resources/weights (needs internet)")
    fetch.add_argument("spec", help="e.g. torchvision:resnet152:IMAGENET1K_V2, hf:google/vit-base-patch16-224")
    fetch.add_argument("--resources", default="resources", help="where downloads go (default: resources)")
    fetch.set_defaults(func=_fetch)
    return parser


def main(argv: list[str] | None = None) -> int:
    from archlab.runner import setup_logging

    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging()
    try:
        args.func(args)
    except ArchlabError as exc:
        print(f"archlab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0
