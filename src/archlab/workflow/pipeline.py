"""Every job of a profile, from the plans of the steps and studies, checked before any job runs.

Each unit (a non-study step in :mod:`archlab.commands`, or a study's ``plan`` module in
:mod:`archlab.studies`) exposes ``check(cfg)`` (cross-key checks that the schema cannot express)
and ``jobs(cfg, paths)`` (its :class:`~archlab.workflow.plan.Job` list). Snakemake builds its rules from
:class:`Pipeline`, and ``archlab run`` looks a job up in it, so both run the same job with the same
params. Imports no torch.
"""
from __future__ import annotations

import importlib
import json
import os
import re
import time
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from archlab.errors import ParamsError
from archlab.workflow.freshness import IDENTITY_INPUT, identity_path, refresh
from archlab.workflow.plan import Job, Rule
from archlab.studies import STUDIES

STEPS = ("data", "pretrain")
FINAL = ("claims", "report")
METRICS_DIR = "metrics"  # headline metrics, metrics/<profile>/<unit>.json: dvc.yaml's top-level `metrics`
PLOTS_DIR = "plots"  # curves, plots/<profile>/<study>/<curve>.csv: dvc.yaml's top-level `plots`


def unit_module(name: str):
    """The plan module of a step or study."""
    if name in STUDIES:
        return importlib.import_module(f"archlab.studies.{name}.plan")
    return importlib.import_module(f"archlab.commands.{name}")


@dataclass(frozen=True)
class Paths:
    """Where a profile's files go, relative to the project root (Snakemake's working directory)."""

    profile: str
    root: str = "."
    resources_dir: str = "resources"

    def _at(self, *parts: str) -> str:
        return str(Path(self.root, *parts)) if self.root != "." else "/".join(parts)

    @property
    def results(self) -> str:
        return self._at("results", self.profile)

    @property
    def logs(self) -> str:
        return self._at("logs", self.profile)

    @property
    def report(self) -> str:
        return self._at("report", self.profile)

    @property
    def resources(self) -> str:
        return self._at(self.resources_dir)

    def dataset(self, name: str) -> str:
        """The file standing for a prepared dataset (its ``meta.json``; the arrays lie beside it)."""
        return f"{self.results}/data/{name}/meta.json"

    def study(self, name: str) -> str:
        return f"{self.results}/{name}"

    def section(self, study: str) -> str:
        """A study's report section (written by its ``<study>_section`` job)."""
        return f"{self.results}/{study}/section/section.json"

    def weights(self, spec: str) -> dict[str, str]:
        """A weights spec as a job input: the file, the fetch marker, or nothing for ``none``."""
        from archlab.models.weights import marker_path

        path = marker_path(spec, self.resources)
        return {} if path is None else {"weights": str(path)}

    @property
    def metrics_root(self) -> str:
        """The profile's folder of headline metrics, ``metrics/<profile>``: git-tracked, outside ``results/``."""
        return self._at(METRICS_DIR, self.profile)

    def metrics(self, name: str) -> str:
        """A unit's headline numbers for DVC (``dvc metrics show`` / ``diff``), ``metrics/<profile>/<name>.json``.

        Every file in :data:`METRICS_DIR` is a metrics file: dvc.yaml names the folder (top-level ``metrics``),
        so a plain ``dvc metrics show`` lists the profiles that were run, nothing for the others."""
        return f"{self.metrics_root}/{name}.json"

    @property
    def plots_root(self) -> str:
        """The profile's folder of curves, ``plots/<profile>``: git-tracked, outside ``results/``."""
        return self._at(PLOTS_DIR, self.profile)

    def curve(self, study: str, name: str) -> str:
        """A study's per-epoch curve for DVC (``dvc plots show`` / ``diff``), ``plots/<profile>/<study>/<name>.csv``.

        Every file in :data:`PLOTS_DIR` is a plot: dvc.yaml names the folder (top-level ``plots``: x ``epoch``,
        y the CSV's last column, which :meth:`archlab.report.section.Section.curves` names ``<name>``), so a
        plain ``dvc plots show`` draws the profiles that were run, nothing for the others."""
        return f"{self.plots_root}/{study}/{name}.csv"


class Pipeline:
    """The jobs of one profile: validated params in, rules and jobs out."""

    # above any chain: the rules that may download (local rules, and fetch_weights in weights.smk) run first
    FETCH_PRIORITY = 100

    def __init__(self, cfg: dict, paths: Paths):
        self.cfg, self.paths = cfg, paths
        units = [*STEPS, *(s for s in STUDIES if s in cfg["studies"]), *FINAL]
        for name in units:
            unit_module(name).check(cfg)
        # every job also reads its identity file (what it would receive now; see archlab.workflow.freshness)
        self.jobs: list[Job] = [
            replace(job, input={**job.input, IDENTITY_INPUT: identity_path(paths.results, job.rule.name, job.wildcards)})
            for name in units for job in unit_module(name).jobs(cfg, paths)]
        self._index: dict[str, dict[tuple, Job]] = {}
        for job in self.jobs:
            slot = self._index.setdefault(job.rule.name, {})
            if job.key in slot:
                raise ParamsError(f"two {job.rule.name} jobs with the same wildcards {job.wildcards}")
            slot[job.key] = job

    def refresh(self) -> list[tuple[Job, str]]:
        """Before any job: identity files written, finished runs judged by their own record (see
        :func:`archlab.workflow.freshness.refresh`); returns the out-of-date ones with the reason."""
        return refresh(self.jobs, self.paths.results)

    def code_identity(self, rule: str, files: list[str], modules: list[str], record: str) -> str:
        """The identity file of a rule that is no plan job (the bench appendix): the meaning of the ``files``
        it runs and the code version of the archlab ``modules`` it imports. The rule copies it to ``record``,
        its first output, which stands in for a params.json: the identity file is timed just before the
        record where the content is the recorded one, after it where not (see :mod:`archlab.workflow.freshness`)."""
        from archlab.workflow.provenance import code_digest, file_digest

        content = json.dumps({"files": {f: file_digest(Path(f)) if Path(f).exists() else "missing" for f in files},
                              "code": {m: code_digest(m) for m in modules}}, sort_keys=True, indent=1).encode()
        path = Path(identity_path(self.paths.results, rule, {}))
        if not path.exists() or path.read_bytes() != content:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        if Path(record).exists():
            recorded = Path(record).read_bytes() == content
            stamp = Path(record).stat().st_mtime - 1 if recorded else max(time.time(), Path(record).stat().st_mtime + 1)
            os.utime(path, (stamp, stamp))
        return str(path)

    @cached_property
    def rules(self) -> dict[str, Rule]:
        return {job.rule.name: job.rule for job in self.jobs}

    def job(self, rule: str, wildcards: dict) -> Job:
        if rule not in self._index:
            raise ParamsError(f"unknown rule {rule!r}; this profile has {sorted(self._index)}")
        spec = self.rules[rule]
        key = tuple(str(wildcards.get(w)) for w in spec.wildcards)
        if key not in self._index[rule]:
            known = [" ".join(f"{w}={v}" for w, v in zip(spec.wildcards, k)) for k in self._index[rule]]
            raise ParamsError(f"no {rule} job with {dict(zip(spec.wildcards, key))}; this profile has: {known}")
        return self._index[rule][key]

    @cached_property
    def _chains(self) -> dict[str, int]:
        """Per rule: the most jobs on a path from one of its jobs to the end of the DAG, itself included."""
        producer = {path: job for job in self.jobs for path in job.output.values()}
        consumers: dict[int, list[Job]] = {}
        for job in self.jobs:
            for value in job.input.values():
                for path in [value] if isinstance(value, str) else value:
                    if path in producer:
                        consumers.setdefault(id(producer[path]), []).append(job)
        memo: dict[int, int] = {}

        def chain(job: Job) -> int:
            if id(job) not in memo:
                memo[id(job)] = 1 + max((chain(c) for c in consumers.get(id(job), [])), default=0)
            return memo[id(job)]

        chains: dict[str, int] = {}
        for job in self.jobs:
            chains[job.rule.name] = max(chains.get(job.rule.name, 0), chain(job))
        return chains

    def priority(self, rule: str) -> int:
        """Snakemake's ``priority``: local rules (on the submit node because they may download: data_prepare,
        ood_fetch) first, at :attr:`FETCH_PRIORITY` like ``fetch_weights``, so a missing network fails a run
        before hours of unrelated jobs, not after; then jobs heading the longest chains (the pretraining before
        the S1 features, heads and sections that wait for it), so the many short independent runs fill the
        cores at the end instead of one long chain running alone."""
        return self.FETCH_PRIORITY if self.rules[rule].local else self._chains[rule]

    def jobs_of(self, rule: str) -> list[Job]:
        return list(self._index.get(rule, {}).values())

    def constraints(self, rule: str) -> dict[str, str]:
        """Snakemake wildcard constraints: exactly the values the plan has."""
        spec = self.rules[rule]
        return {w: "|".join(sorted({re.escape(j.wildcards[w]) for j in self.jobs_of(rule)}))
                for w in spec.wildcards}

    def log(self, rule: str, kind: str = "log") -> str:
        spec = self.rules[rule]
        stem = spec.name + "".join(f"_{{{w}}}" for w in spec.wildcards)
        if kind == "log":
            return f"{self.paths.logs}/{spec.study}/{stem}.log"
        return f"{self.paths.logs}/bench/{spec.study}/{stem}.tsv"

    def targets(self) -> list[str]:
        """What ``snakemake`` builds by default: the report."""
        return [path for job in self.jobs if job.rule.study == "report" for path in job.output.values()]
