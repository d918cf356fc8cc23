"""The seam between rules and jobs: a study's plan says, once, what each job reads, writes and receives.

A :class:`Rule` is a kind of job (one Snakemake rule): the function that runs it, its run directory
and output files as templates over its wildcards, and its resources. A :class:`Job` is one instance:
wildcard values, named inputs, and the exact params the function receives. Snakemake's rules
(``workflow/rules/<study>.smk``, generated from them) and the command line (``archlab run``) are both built from these
objects, so a path or a params subset is written in one place only. Imports no torch.
"""
from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Mapping

from archlab.errors import ParamsError
from archlab.workflow.provenance import code_digest

PARAMS_FILE = "params.json"
GPU_SLOTS = 100  # a whole GPU in `gpu_slots`, Snakemake's integer resource for sharing one (workflow/rules/common.smk)
REPORT_SUFFIXES = (".png", ".html")  # outputs tagged with Snakemake's report() flag


@dataclass(frozen=True)
class Rule:
    """One kind of job. ``run_dir`` and ``output`` are templates over the wildcards (``{seed}``)."""

    name: str
    study: str
    func: str  # "archlab.studies.resnet.jobs:head"
    run_dir: str
    output: dict[str, str]
    threads: int = 1
    mem_mb: int = 2000
    runtime: int = 10  # minutes
    gpu: bool = False
    # the part of one GPU a job needs (memory and compute), so small jobs can share a GPU: 0.25 lets four
    # run on it at once; a function of the job's wildcards where jobs of one rule differ (see gpu_slots)
    gpu_share: float | Callable[[Mapping[str, str]], float] = 1.0
    local: bool = False
    description: str = ""
    # a job trains every one of these seeds at once (e.g. stacked, archlab.train.stacked); its per-seed outputs
    # are declared by seed_outputs() as ``<name>_seed<k>``, and Job.files_by_seed finds them by seed
    seeds: tuple[int, ...] = ()

    def __post_init__(self):
        if not callable(self.gpu_share):
            self.gpu_slots({})

    def gpu_slots(self, wildcards: Mapping[str, str]) -> int:
        """The job's ``gpu_slots`` request: its ``gpu_share`` of the :data:`GPU_SLOTS` one GPU has (0 without GPU)."""
        if not self.gpu:
            return 0
        share = self.gpu_share(wildcards) if callable(self.gpu_share) else self.gpu_share
        if not 0 < share <= 1:
            raise ValueError(f"{self.name}: gpu_share={share} must lie in (0, 1]: the part of one GPU a job needs")
        return max(1, int(round(share * GPU_SLOTS)))

    @cached_property
    def wildcards(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for _, f, _, _ in string.Formatter().parse(self.run_dir) if f))

    @cached_property
    def outputs(self) -> dict[str, str]:
        """Every declared output, the run's ``params.json`` included."""
        return {**self.output, "params": f"{self.run_dir}/{PARAMS_FILE}"}

    def is_seed_output(self, key: str) -> bool:
        """Whether output ``key`` is one seed's file of a multi-seed rule (``<name>_seed<k>``, :func:`seed_outputs`)."""
        return any(key.endswith(f"_seed{seed}") for seed in self.seeds)

    def declares(self, name: str) -> bool:
        """Whether ``name`` is an output of this rule's jobs (one per seed, for a multi-seed rule)."""
        if self.seeds:
            return all(f"{name}_seed{seed}" in self.outputs for seed in self.seeds)
        return name in self.outputs

    @cached_property
    def report_outputs(self) -> tuple[str, ...]:
        """The outputs ``snakemake --report`` shows: figures, the self-contained HTML report and section.json."""
        return tuple(k for k, v in self.output.items() if v.endswith(REPORT_SUFFIXES) or v.endswith("/section.json"))

    @property
    def module(self) -> str:
        return self.func.split(":")[0]

    @property
    def code(self) -> str:
        """The code version of this rule's jobs (see :func:`archlab.workflow.provenance.code_digest`)."""
        return code_digest(self.module)

    def job(self, input: dict | None = None, params: dict | None = None, reads: tuple[str, ...] = (),
            **wildcards) -> "Job":
        missing = set(self.wildcards) - set(wildcards)
        if missing:
            raise ValueError(f"{self.name}: missing wildcards {sorted(missing)}")
        return Job(self, {k: str(v) for k, v in wildcards.items()}, dict(input or {}), dict(params or {}), tuple(reads))


@dataclass(frozen=True)
class Job:
    rule: Rule
    wildcards: dict[str, str]
    input: dict[str, str | list[str]]
    params: dict = field(default_factory=dict)
    # files or folders the job reads that no job writes and that are too many to list as inputs (a
    # `source: local` image folder): their content digests are part of the run's identity (archlab.workflow.freshness)
    reads: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(self.wildcards[w] for w in self.rule.wildcards)

    @property
    def output(self) -> dict[str, str]:
        return {k: v.format(**self.wildcards) for k, v in self.rule.outputs.items()}

    @property
    def run_dir(self) -> str:
        return self.rule.run_dir.format(**self.wildcards)

    @property
    def params_json(self) -> str:
        """The params as Snakemake sees them: a change in this string reruns the job."""
        return json.dumps(self.params, sort_keys=True)

    def describe(self) -> str:
        return " ".join([self.rule.name, *(f"{k}={v}" for k, v in self.wildcards.items())])

    def files_by_seed(self, name: str, no_seed: str = "-") -> dict[str, str]:
        """Output ``name`` of this job by seed: one per seed of a multi-seed rule (:func:`seed_outputs`), else
        the one file, under the job's ``seed`` wildcard (``no_seed`` for a job without one)."""
        if self.rule.seeds:
            return {str(seed): self.output[f"{name}_seed{seed}"] for seed in self.rule.seeds}
        return {self.wildcards.get("seed", no_seed): self.output[name]}


def seed_outputs(run_dir: str, seeds, **names: str) -> dict[str, str]:
    """``{<name>_seed<k>: run_dir/seed<k>/file}``: the per-seed outputs of a job that trains several seeds,
    at the paths one job per seed would write (so readers of those files see no difference)."""
    return {f"{k}_seed{seed}": f"{run_dir}/seed{seed}/{v}" for seed in seeds for k, v in names.items()}


def run_files(run_dir: str, **names: str) -> dict[str, str]:
    """``{name: run_dir/file}`` for outputs that live in the run directory."""
    return {k: f"{run_dir}/{v}" for k, v in names.items()}


def pick(section: dict, *keys: str) -> dict:
    """The params subset ``keys`` of a section (a job receives only what it reads)."""
    return {k: section[k] for k in keys}


def require_unique(values, key: str) -> None:
    """Duplicate list entries would publish a std of 0 or overwrite a run: refuse them."""
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    if seen:
        raise ParamsError(f"{key}: {seen} listed more than once; each entry must be unique")
