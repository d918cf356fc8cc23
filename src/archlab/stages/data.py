"""``archlab data <name>``: prepare one dataset in the canonical format; ``archlab validate``."""
from __future__ import annotations

import logging

from archlab.data.prepared import prepare_dataset
from archlab.errors import ParamsError
from archlab.stages import common

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("data", help="prepare a dataset (download/convert/generate, split, checksum)")
    p.add_argument("name", help="dataset name under data: in params")
    common.add_profile_args(p)
    p.set_defaults(func=run)
    v = sub.add_parser("validate", help="validate params of a profile against the schema and exit")
    common.add_profile_args(v)
    v.set_defaults(func=lambda args: print(f"params of profile {common.context(args).profile!r} are valid"))


def run(args) -> None:
    ctx = common.context(args)
    datasets = ctx.params["data"]
    if args.name not in datasets:
        raise ParamsError(f"unknown dataset {args.name!r}; defined under data: {sorted(datasets)}")
    meta = prepare_dataset(args.name, datasets[args.name], ctx.dataset_dir(args.name), ctx.resources / "data")
    log.info("prepared %s (%s, %s): %s, %d classes", args.name, meta["kind"], meta["source"], meta["sizes"], len(meta["classes"]))
