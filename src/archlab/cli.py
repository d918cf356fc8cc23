"""python -m archlab <command>: run any single job of the pipeline by hand, list them, check params.

  archlab list --profile demo                                     every job of a profile: rule and wildcards
  archlab run resnet_head variant=resnet18 seed=0 --profile demo  one job, exactly as Snakemake runs it
  archlab validate --profile demo                                 check params and every study's plan, then exit
  archlab dvc-yaml --write                                        regenerate dvc.yaml from the plans
  archlab rules --write                                           regenerate workflow/rules/<study>.smk from the plans
  archlab claims --plan --profile full                            each claim's planned replicates, judged or why not
  archlab reference --profile demo [--write]                      does this run match the reference run?
  archlab fetch-weights torchvision:resnet152:IMAGENET1K_V1       download weights (where there is internet)
  archlab cost --profile full --write                             the GPU-hour table (docs/cost.md) from the FLOP model

"run" looks the job up in the same plan Snakemake's rules come from (src/archlab/studies/<study>/plan.py),
so it gets the same inputs, outputs and params; its outputs, log lines and params.json are the same.
Light commands (list, validate) import no torch. "archlab <command> -h" describes each command.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import textwrap
from pathlib import Path

from archlab.errors import EXIT_CODES, ArchlabError, ParamsError, exit_code


def _pipeline(args):
    from archlab.config import load_params
    from archlab.workflow.pipeline import Paths, Pipeline

    params = load_params(args.profile, args.root)
    return Pipeline(params, Paths(params["profile"], resources_dir=params["resources"]))


def _list(args) -> None:
    pipeline = _pipeline(args)
    for job in pipeline.jobs:
        print(job.describe())


def _validate(args) -> None:
    from archlab.commands.report import params_hash

    pipeline = _pipeline(args)
    print(f"params of profile {args.profile!r} are valid: {len(pipeline.jobs)} jobs in {len(pipeline.rules)} rules; "
          f"params hash {params_hash(pipeline.cfg)} (printed in the report's provenance block)")


def _run(args) -> None:
    from archlab.workflow.freshness import refresh
    from archlab.workflow.runner import run_job

    wildcards = {}
    for item in args.wildcards:
        key, sep, value = item.partition("=")
        if not sep:
            raise ParamsError(f"wildcard {item!r} is not of the form key=value (see `archlab list --profile {args.profile}`)")
        wildcards[key] = value
    with contextlib.chdir(args.root):
        args.root = "."
        pipeline = _pipeline(args)
        job = pipeline.job(args.rule, wildcards)
        refresh([job], pipeline.paths.results)  # its identity file: one of its inputs (archlab.workflow.freshness)
        for path in job.output.values():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # the params exactly as Snakemake hands them over (Job.params_json, parsed by run_from_snakemake): keys
        # sorted and values JSON-normalised, so params.json and every file derived from the params (a prepared
        # dataset's meta.json) come out byte-identical whichever route ran the job, and nothing downstream reruns
        params = json.loads(job.params_json)
        run_job(job.rule.name, job.rule.func, job.wildcards, job.input, job.output, params, args.threads)


def _claims(args) -> None:
    from archlab.commands.claims import plan_claims, plan_table

    pipeline = _pipeline(args)
    print(plan_table(plan_claims(pipeline.cfg, pipeline.paths)))


def _dvc_yaml(args) -> None:
    from archlab.workflow.dvc_stages import render

    text = render(args.root)
    if args.write:
        Path(args.root, "dvc.yaml").write_text(text)
    else:
        print(text, end="")


def _rules(args) -> None:
    from archlab.workflow import rule_files

    if args.write:
        for path in rule_files.write(args.root):
            print(f"wrote {path}")
    else:
        print("".join(f"# {path}\n{text}\n" for path, text in rule_files.render(args.root).items()), end="")
def _reference(args) -> None:
    from archlab.commands.reference import main as reference

    reference(args.profile, Path(args.root), args.write)


def _fetch(args) -> None:
    from archlab.models import weights

    print(weights.fetch(args.spec, Path(args.resources)))


def _cost(args) -> None:
    from archlab import cost

    pipeline = _pipeline(args)
    if args.count:  # imports torch: builds each model once; other profiles' rows are kept
        table = json.loads(cost.FLOPS_FILE.read_text()) | {key: cost.count_flops(key) for key in cost.needed_models(pipeline)}
        cost.FLOPS_FILE.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
        print(f"wrote {cost.FLOPS_FILE} ({len(table)} models)")
    text = cost.markdown(pipeline)
    if args.write:
        Path(args.root, cost.DOC).write_text(text)
        print(f"wrote {Path(args.root, cost.DOC)}")
    else:
        print(text, end="")


def _epilog() -> str:
    return "exit codes:\n" + "\n".join(f"  {code}  {what}" for code, what in EXIT_CODES.items())


def build_parser() -> argparse.ArgumentParser:
    from archlab import __version__

    parser = argparse.ArgumentParser(prog="archlab", description=__doc__, epilog=_epilog(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"archlab {__version__}",
                        help="print the archlab version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="<command>", title="commands")

    def command(name, help, description=None):
        description = textwrap.fill(description or help[0].upper() + help[1:] + ".", 100)
        return sub.add_parser(name, help=help, description=description,
                              epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)

    def profile_args(p):
        p.add_argument("--profile", default="full",
                       help="which params: params.yaml plus config/<profile>.yaml overrides (default: full)")
        p.add_argument("--root", default=".", help="project root holding params.yaml and config/ (default: .)")
        return p

    profile_args(command("list", "list every job of a profile: its rule and wildcard values")).set_defaults(func=_list)
    profile_args(command("validate", "check params and every plan, print the params hash, then exit")).set_defaults(
        func=_validate)
    run = profile_args(command("run", "run one job by hand, exactly as Snakemake would",
                               "Run one job of a profile's plan by hand: the same inputs, outputs, params and "
                               "params.json as under Snakemake. Its inputs must exist (build them first)."))
    run.add_argument("rule", help="the rule name, e.g. resnet_head (see: archlab list)")
    run.add_argument("wildcards", nargs="*", metavar="key=value",
                     help="one per wildcard of the rule, e.g. variant=resnet18 seed=0 (see: archlab list)")
    run.add_argument("--threads", type=int, default=int(os.environ.get("ARCHLAB_THREADS", 1)),
                     help="torch CPU threads (default: $ARCHLAB_THREADS or 1)")
    run.set_defaults(func=_run)
    claims = profile_args(command("claims", "print each claim's planned replicates and whether (or why not) it is judged",
                                  "Print, for each claim of src/archlab/report/claims.yaml, the replicates the profile "
                                  "plans and whether it is judged there or why not; runs nothing."))
    claims.add_argument("--plan", action="store_true", required=True,
                        help="from the plan alone (the only mode: verdicts come from the claims rule)")
    claims.set_defaults(func=_claims)
    dvc = command("dvc-yaml", "print (or --write) dvc.yaml, generated from the plans")
    dvc.add_argument("--root", default=".", help="project root (default: .)")
    dvc.add_argument("--write", action="store_true", help="overwrite <root>/dvc.yaml instead of printing it")
    dvc.set_defaults(func=_dvc_yaml)
    cost_ = profile_args(command("cost", "print (or --write) the GPU cost of a profile's jobs from the FLOP/step model",
                                 "Print the GPU-hour table of a profile (estimated and booked per study) from the FLOP/step "
                                 "model in src/archlab/cost.py; --write puts it in docs/cost.md, --count first recounts "
                                 "the models' FLOPs (imports torch) into src/archlab/cost_flops.json."))
    cost_.add_argument("--write", action="store_true", help="write docs/cost.md under --root instead of printing")
    cost_.add_argument("--count", action="store_true", help="recount every model's FLOPs first (torch; a minute)")
    cost_.set_defaults(func=_cost)
    rules = command("rules", "print (or --write) workflow/rules/<study>.smk, generated from the plans")
    rules.add_argument("--root", default=".", help="project root (default: .)")
    rules.add_argument("--write", action="store_true", help="overwrite the stale rule files instead of printing them")
    rules.set_defaults(func=_rules)
    ref = profile_args(command("reference", "compare a finished run's per-claim per-seed values with "
                                            "tests/reference/<profile>.json (or --write it)"))
    ref.add_argument("--write", action="store_true", help="record this run as the profile's reference run")
    ref.set_defaults(func=_reference)
    fetch = command("fetch-weights", "download a weights spec into resources/weights (needs internet)")
    fetch.add_argument("spec", help="a weights spec, e.g. torchvision:resnet152:IMAGENET1K_V1 or "
                                    "hf:google/vit-base-patch16-224")
    fetch.add_argument("--resources", default="resources", help="where downloads go (default: resources)")
    fetch.set_defaults(func=_fetch)
    return parser


def main(argv: list[str] | None = None) -> int:
    from archlab.workflow.runner import setup_logging

    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging()
    try:
        args.func(args)
    except ArchlabError as exc:  # one line naming the problem and the fix; the code says which kind
        print(f"archlab {args.command}: error: {exc}", file=sys.stderr)
        return exit_code(exc)
    return 0
