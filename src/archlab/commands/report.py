"""The report: every enabled study's section (plus the timing appendix) → report/<profile>/report.{md,tex,html,pdf}.

``report.md``, ``report.tex`` and the self-contained ``report.html`` (figures embedded) are always
built. ``report.pdf`` is a declared output only when ``report.pdf`` is on and ``pdflatex`` is
installed when the plan is made, so installing LaTeX makes the next run build it. Every format opens
with a provenance block read from the runs' ``params.json`` files and ends with an appendix naming
each figure's producing rule and each dataset's checksum (:mod:`archlab.report.origin`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

from archlab.commands.data import used_datasets
from archlab.commands.reference import reference_path
from archlab.workflow.plan import PARAMS_FILE, Rule

log = logging.getLogger(__name__)
TEMPLATES = "report/templates"


def check(cfg: dict) -> None:
    """Nothing beyond the schema."""


def params_hash(cfg: dict) -> str:
    """A short hash of the profile's resolved params (``archlab validate`` prints it too)."""
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:16]


def pdf_enabled(cfg: dict) -> bool:
    """The PDF is built (and declared) when the profile asks for it and pdflatex is installed."""
    return bool(cfg["report"].get("pdf")) and shutil.which("pdflatex") is not None


def _beside(path: str, name: str = PARAMS_FILE) -> str:
    return str(Path(path).with_name(name))


def jobs(cfg: dict, paths) -> list:
    out = paths.report
    output = {fmt: f"{out}/report.{fmt}" for fmt in ("md", "tex", "html")}
    if pdf_enabled(cfg):
        output["pdf"] = f"{out}/report.pdf"
    rule = Rule("report", "report", f"{__name__}:report", out, output,
                description="render every section into the report (md, tex, self-contained html; pdf with LaTeX)")
    templates = sorted(str(p) for p in Path(paths.root, TEMPLATES).glob("*.j2"))
    sections = [paths.section("claims"), *(paths.section(s) for s in cfg["studies"])]  # the claims open the report
    datasets = [paths.dataset(name) for name in used_datasets(cfg)]
    # the profile's committed reference run, when there is one: the report says whether this run matches it
    reference = reference_path(cfg["profile"], Path(paths.root))
    compared = {"reference": str(reference), "claims_csv": f"{paths.results}/claims/claims.csv"} \
        if reference.exists() else {}
    return [rule.job(input={"sections": sections, "section_params": [_beside(p) for p in sections],
                            "appendix": f"{paths.results}/bench/section.json", "templates": templates,
                            "data": datasets, "data_params": [_beside(p) for p in datasets], **compared},
                     params={"report": cfg["report"], "profile": cfg["profile"], "params_hash": params_hash(cfg),
                             "seeds": cfg.get("seeds")})]  # tuning vs confirmation seeds, for the report to state


def data_in_words(metas: dict[str, dict]) -> str:
    """The profile's real data for the report's banner, from the prepared datasets' meta.json (by dataset
    name): each dataset's source and split sizes (a smoke run on real CIFAR-10 is not "synthetic")."""
    words = {"train": "train", "val": "validation", "test": "test"}
    return "; ".join(f"{name} ({meta['source']}: " + ", ".join(f"{meta['sizes'][s]} {w}" for s, w in words.items()
                                                            if s in meta["sizes"]) + " images)"
                     for name, meta in metas.items())


def seeds_in_words(seeds: dict | None) -> str:
    """The profile's seed roles for the provenance block: which seeds tuned it, which judge its claims."""
    if not seeds:
        return "–"
    tuned = ", ".join(map(str, seeds["tuning"])) or "none (settings taken from the source reports)"
    words = (f"claims judged on confirmation seeds {', '.join(map(str, seeds['confirmation']))}; "
             f"settings tuned on seeds {tuned} (disjoint, checked before any job)")
    return words + (f"; {seeds['note']}" if seeds.get("note") else "")


def _reference_line(job) -> str:
    """Whether this run's per-claim per-seed values match the profile's committed reference run."""
    from archlab.commands import reference

    if "reference" not in job.input:
        return (f"none committed for this profile (`python -m archlab reference --profile {job.params['profile']} "
                "--write` after a reviewed run)")
    current = reference.from_files(job.input["section_params"][0], job.input["claims_csv"])
    recorded = json.loads(Path(job.input["reference"]).read_text())["claims"]
    result = reference.compare(current, recorded)
    differing = result["differing"]
    return reference.line(result, Path(job.input["reference"])) + (
        f" ({'; '.join(differing[:10])}{' …' if len(differing) > 10 else ''})" if differing else "")


def report(job) -> None:
    from archlab.errors import ArchlabError
    from archlab.io import read_json
    from archlab.report import origin
    from archlab.report.render import PDF_HINT, compile_pdf, ordered, render

    sections = ordered([read_json(p) for p in [*job.input["sections"], job.input["appendix"]]])
    runs = origin.collect_runs(job.input["section_params"], sections)
    fields = origin.provenance(runs, job.params["profile"], job.params["params_hash"])
    fields["seeds"] = seeds_in_words(job.params["seeds"])
    fields["reference run"] = _reference_line(job)
    appendix = origin.appendix_section(sections, runs, job.input["data"], job.input["data_params"])
    templates = Path(job.input["templates"][0]).parent
    written = render(sections, job.params["report"]["title"], job.params["profile"], job.run_dir, templates,
                     provenance=origin.provenance_block(fields), appendix=appendix,
                     data=data_in_words({Path(p).parent.name: read_json(p) for p in job.input["data"]}))
    log.info("wrote %s", ", ".join(map(str, written.values())))
    if "pdf" in job.output:
        try:
            pdf = compile_pdf(written["tex"])
        except RuntimeError as exc:
            raise ArchlabError(str(exc)) from exc
        if pdf is None:  # LaTeX was uninstalled between planning and running
            raise ArchlabError(PDF_HINT)
        log.info("wrote %s", pdf)
        return
    stale = job.run_dir / "report.pdf"
    if stale.exists():  # an earlier run's PDF would no longer match the report
        stale.unlink()
        log.info("removed the stale %s (the PDF is not built in this run)", stale)
    if job.params["report"].get("pdf"):
        log.warning(PDF_HINT)
