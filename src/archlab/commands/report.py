"""The report: every enabled study's section (plus the timing appendix) → report/<profile>/report.{md,tex,pdf}."""
from __future__ import annotations

import logging
from pathlib import Path

from archlab.plan import Rule

log = logging.getLogger(__name__)
TEMPLATES = "report/templates"


def check(cfg: dict) -> None:
    """Nothing beyond the schema."""


def jobs(cfg: dict, paths) -> list:
    out = paths.report
    rule = Rule("report", "report", f"{__name__}:report", out, {"md": f"{out}/report.md", "tex": f"{out}/report.tex"},
                description="render every section into the report")
    templates = sorted(str(p) for p in Path(paths.root, TEMPLATES).glob("*.j2"))
    return [rule.job(input={"sections": [paths.section(s) for s in cfg["studies"]],
                            "appendix": f"{paths.results}/bench/section.json", "templates": templates},
                     params={"report": cfg["report"], "profile": cfg["profile"]})]


def report(job) -> None:
    from archlab.io import read_json
    from archlab.report.render import PDF_HINT, compile_pdf, render

    sections = [read_json(p) for p in [*job.input["sections"], job.input["appendix"]]]
    templates = Path(job.input["templates"][0]).parent
    written = render(sections, job.params["report"]["title"], job.params["profile"], job.run_dir, templates)
    log.info("wrote %s", ", ".join(map(str, written.values())))
    if job.params["report"]["pdf"]:
        pdf = compile_pdf(written["tex"])
        log.info("wrote %s", pdf) if pdf else log.warning(PDF_HINT)
