"""``workflow/rules/<unit>.smk``, generated from the plans so a Snakemake user reads every rule as a rule.

One file per study (``resnet.smk`` …) and one for the steps every profile runs (``steps.smk``: data,
pretrain, claims, report). Each rule names its outputs, log, benchmark, threads, resources and script
literally, as the plan's :class:`~archlab.plan.Rule` declares them; what differs between profiles or
between jobs of a rule comes from the pipeline through small functions of ``common.smk``: the job's
inputs (``job_input``, so whatever a plan adds to a job's inputs reaches Snakemake), its exact params
(``job_params``: the rule decides, the job receives), its code version, its priority, the wildcard
values the profile has, and the GPU resources. A comment above each rule's ``input:`` names the rules
that produce its inputs (in the demo and full profiles), so the file shows the DAG.

``python -m archlab rules --write`` rewrites the files; a test fails when they differ from what this
module generates. Imports no torch.
"""
from __future__ import annotations

from pathlib import Path

from archlab.config import load_params
from archlab.pipeline import FINAL, STEPS, STUDIES, Paths, Pipeline
from archlab.plan import Rule

RULES_DIR = Path("workflow/rules")
STEPS_FILE = "steps"  # workflow/rules/steps.smk: the units that are not studies
PROFILES = ("demo", "full")  # whose producers the comments name (the rules are the same in every profile)
INDENT = " " * 4


def file_units() -> dict[str, list[str]]:
    """Rule file stem -> the plan units whose rules it holds."""
    return {STEPS_FILE: [*STEPS, *FINAL], **{s: [s] for s in STUDIES}}


def _pipelines(root: Path) -> list[Pipeline]:
    return [Pipeline({**load_params(p, root), "studies": list(STUDIES)}, Paths(p)) for p in PROFILES]


def _template(path: str, pipeline: Pipeline) -> str:
    """A plan path as an f-string over common.smk's RESULTS/LOGS/REPORT/RESOURCES, wildcards kept as ``{{w}}``."""
    path = path.replace("{", "{{").replace("}", "}}")
    paths = pipeline.paths
    for prefix, name in ((paths.results, "RESULTS"), (paths.logs, "LOGS"), (paths.report, "REPORT"),
                         (paths.resources, "RESOURCES")):
        if path == prefix or path.startswith(prefix + "/"):
            return f'f"{{{name}}}{path[len(prefix):]}"'
    raise ValueError(f"{path}: not under {paths.results}, {paths.logs}, {paths.report} or {paths.resources}")


def _producers(pipelines: list[Pipeline], rule: str) -> dict[str, list[str]]:
    """Per input name of ``rule``'s jobs: the rules whose outputs it reads (``resources`` for fetched files)."""
    out: dict[str, set[str]] = {}
    for pipeline in pipelines:
        producer = {path: job.rule.name for job in pipeline.jobs for path in job.output.values()}
        for job in pipeline.jobs_of(rule):
            for key, value in job.input.items():
                for path in [value] if isinstance(value, str) else value:
                    name = producer.get(path)
                    if name is None and "/weights/" in path:
                        name = "fetch_weights"
                    out.setdefault(key, set()).add(name or "a file in resources/")
    return {k: sorted(v) for k, v in sorted(out.items())}


def _report_flag(key: str, value: str, spec: Rule) -> str:
    if key not in spec.report_outputs:
        return value
    return f'report({value}, category="{spec.study}")'


def render_rule(spec: Rule, pipeline: Pipeline, pipelines: list[Pipeline]) -> str:
    """One rule, as a person would write it (its paths relative to ``pipeline``'s profile)."""
    name = spec.name
    lines = [f"rule {name}:"]
    if spec.description:
        lines.append(f'{INDENT}"""{spec.description[0].upper()}{spec.description[1:]}."""')
    producers = _producers(pipelines, name)
    lines.append(f"{INDENT}input:")
    lines += [f"{INDENT * 2}# {key} <- {', '.join(rules)}" for key, rules in producers.items()]
    lines.append(f'{INDENT * 2}unpack(job_input("{name}")),')
    lines.append(f"{INDENT}output:")
    lines += [f"{INDENT * 2}{key}={_report_flag(key, _template(path, pipeline), spec)},"
              for key, path in spec.outputs.items()]
    if spec.wildcards:
        lines += [f"{INDENT}wildcard_constraints:", f'{INDENT * 2}**wildcard_values("{name}"),']
    lines += [
        f"{INDENT}params:",
        f'{INDENT * 2}job=job_params("{name}"),',
        f'{INDENT * 2}func="{spec.func}",',
        f'{INDENT * 2}code=code_version("{name}"),',
        f"{INDENT}log:",
        f"{INDENT * 2}{_template(pipeline.log(name), pipeline)},",
        f"{INDENT}benchmark:",
        f"{INDENT * 2}{_template(pipeline.log(name, 'bench'), pipeline)}",
        f"{INDENT}threads: {spec.threads}",
        f'{INDENT}priority: job_priority("{name}")',
        f"{INDENT}resources:",
        f"{INDENT * 2}mem_mb={spec.mem_mb},",
        f"{INDENT * 2}runtime={spec.runtime},",
    ]
    if spec.gpu:
        share = "a function of the wildcards" if callable(spec.gpu_share) else spec.gpu_share
        lines += [f"{INDENT * 2}gpu=GPUS,",
                  f'{INDENT * 2}gpu_slots=gpu_slots("{name}"),  # gpu_share {share} in the plan']
    if spec.local:
        lines.append(f"{INDENT}localrule: True")
    lines += [f"{INDENT}conda:", f"{INDENT * 2}ENV", f"{INDENT}script:", f'{INDENT * 2}"../scripts/run_job.py"']
    return "\n".join(lines) + "\n"


def _header(stem: str, units: list[str]) -> str:
    plans = ", ".join(f"src/archlab/studies/{u}/plan.py" if u in STUDIES else f"src/archlab/commands/{u}.py"
                      for u in units)
    return (f"# GENERATED by `python -m archlab rules --write` from {plans}\n"
            "# (src/archlab/rule_files.py): edit the plan, then regenerate; a test fails on a stale file.\n"
            "# Every rule runs workflow/scripts/run_job.py, which hands the job its inputs, outputs and exact params\n"
            "# (`job`) through archlab.runner. The functions (job_input, job_params, code_version, wildcard_values,\n"
            "# job_priority, gpu_slots) are in common.smk and read the profile's pipeline.\n")


def _rules(pipelines: list[Pipeline]) -> dict[str, str]:
    """Every rule any profile has -> its text, which must be the same in every profile that has it (a rule
    file serves them all: only paths' profile prefixes, job inputs and params may differ)."""
    texts: dict[str, str] = {}
    for pipeline in pipelines:
        for name, spec in pipeline.rules.items():
            text = render_rule(spec, pipeline, pipelines)
            if texts.setdefault(name, text) != text:
                raise ValueError(f"{name}: the plan declares it differently in the {pipeline.paths.profile} profile; "
                                 "a rule's outputs and resources must not depend on the profile")
    return texts


def render_file(stem: str, pipelines: list[Pipeline], texts: dict[str, str]) -> str:
    units = file_units()[stem]
    studies = {name: spec.study for pipeline in pipelines for name, spec in pipeline.rules.items()}
    return _header(stem, units) + "".join(f"\n\n{text}" for name, text in texts.items() if studies[name] in units)


def render(root: str | Path = ".") -> dict[str, str]:
    """Every generated rule file: path relative to ``root`` -> text."""
    pipelines = _pipelines(Path(root))
    texts = _rules(pipelines)
    return {str(RULES_DIR / f"{stem}.smk"): render_file(stem, pipelines, texts) for stem in file_units()}


def stale(root: str | Path = ".") -> list[str]:
    """The generated rule files that differ from what the plans give (empty when all are current)."""
    return [path for path, text in render(root).items()
            if not (Path(root) / path).exists() or (Path(root) / path).read_text() != text]


def write(root: str | Path = ".") -> list[str]:
    """Rewrite the stale rule files; returns their paths."""
    written = stale(root)
    texts = render(root)
    for path in written:
        (Path(root) / path).write_text(texts[path])
    return written
