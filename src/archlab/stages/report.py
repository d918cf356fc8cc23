"""``archlab report``: render every enabled study's section into report/<profile>/report.{md,tex,pdf}."""
from __future__ import annotations

import logging
from pathlib import Path

from archlab.errors import MissingResourceError
from archlab.io import read_json
from archlab.report.render import PDF_HINT, compile_pdf, render
from archlab.stages import common

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("report", help="assemble the report from the studies' section.json files")
    common.add_profile_args(p)
    p.add_argument("--extra", nargs="*", default=[], help="more section.json files (e.g. the benchmark appendix)")
    p.set_defaults(func=run)


def run(args) -> None:
    ctx = common.context(args)
    paths = [ctx.results / study / "section.json" for study in ctx.params["studies"]] + [Path(p) for p in args.extra]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise MissingResourceError(f"sections not built yet: {missing}; run `snakemake --configfile config/{ctx.profile}.yaml`")
    out_dir = ctx.root / "report" / ctx.profile
    written = render([read_json(p) for p in paths], ctx.params["report"]["title"], ctx.profile, out_dir,
                     ctx.root / "report" / "templates")
    log.info("wrote %s", ", ".join(map(str, written.values())))
    if ctx.params["report"]["pdf"]:
        pdf = compile_pdf(written["tex"])
        log.info("wrote %s", pdf) if pdf else log.warning(PDF_HINT)
