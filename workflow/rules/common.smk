# Everything is checked here, once, before any job: the params files (strictly: duplicate keys,
# YAML 1.2 numbers, schema, profile name, device), then every step's and study's cross-key checks
# while their plans build the job list (src/archlab/workflow/pipeline.py). The rules (steps.smk and one file per
# study, generated from the plans by `python -m archlab rules --write`) read it through the functions below.
import sys
from pathlib import Path

from snakemake.settings.types import DeploymentMethod, RerunTrigger

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from archlab.commands.data import used_datasets  # noqa: E402
from archlab.config import load_files  # noqa: E402
from archlab.cost import CostModel  # noqa: E402
from archlab.errors import ArchlabError  # noqa: E402
from archlab.workflow.execution import gpu_bound, job_server, local_scheduling  # noqa: E402
from archlab.models import weights as archlab_weights  # noqa: E402
from archlab.workflow.pipeline import Paths, Pipeline  # noqa: E402


def _load_pipeline():
    # Snakemake read the files with YAML 1.1 and lets duplicate keys pass: read them again strictly.
    # `configfile: params.yaml` first, then each --configfile (they override it), as Snakemake merges them
    files = sorted((Path(f) for f in dict.fromkeys(workflow.configfiles)), key=lambda f: f.name != "params.yaml")
    params = load_files(files)
    if _normalised(params) != _normalised(config):
        raise ArchlabError(f"the Snakemake config differs from {' + '.join(map(str, files))}: pass overrides "
                           "through a config/<profile>.yaml file (--configfile), not --config")
    config.clear()
    config.update(params)
    return Pipeline(params, Paths(params["profile"], resources_dir=params["resources"]))


def _normalised(node):
    """Numbers that YAML 1.1 left as strings (`1e-5`) compare equal to the floats they are."""
    if isinstance(node, dict):
        return {k: _normalised(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_normalised(v) for v in node]
    if isinstance(node, str):
        try:
            return float(node)
        except ValueError:
            return node
    return float(node) if isinstance(node, (int, float)) and not isinstance(node, bool) else node


try:
    PIPELINE = _load_pipeline()
except ArchlabError as exc:
    raise WorkflowError(str(exc))

# The run's own record decides what is up to date (src/archlab/workflow/freshness.py): before Snakemake builds its
# DAG, each job's identity file is written and timed against the run's params.json, so file times are all
# Snakemake needs (`rerun-triggers: mtime`, set in every profile of workflow/profiles/ and in dvc.yaml): no
# params/code triggers from its private .snakemake/ metadata, which a clone, another machine or copied
# results lack, and whose code trigger reran every job when run_job.py was merely touched.
# In the jobs Snakemake itself spawns (a cluster job re-reads this file) the main process has done it.
if workflow.is_main_process:
    # a second Snakemake (e.g. `dvc repro` during a run) would otherwise first meet the running jobs' unfinished
    # outputs and advise --rerun-incomplete, which would delete them
    if any(Path(".snakemake", "locks").glob("*.lock")):
        print("archlab: another Snakemake is running in this project (.snakemake/locks holds its locks): wait for it "
              "to finish, do not pass --rerun-incomplete; if none runs (it was killed), `snakemake --unlock` first",
              file=sys.stderr)
    for _job, _reason in PIPELINE.refresh():
        print(f"archlab: {_job.describe()} is out of date: {_reason}", file=sys.stderr)

PROFILE = config["profile"]
RESULTS = PIPELINE.paths.results
LOGS = PIPELINE.paths.logs
REPORT = PIPELINE.paths.report
RESOURCES = PIPELINE.paths.resources
METRICS = PIPELINE.paths.metrics_root  # headline metrics, git-tracked (dvc.yaml's top-level `metrics`)
PLOTS = PIPELINE.paths.plots_root  # curves, git-tracked (dvc.yaml's top-level `plots`)
GPUS = config.get("gpus_per_job", 0)
COST = CostModel(PIPELINE.cfg)  # per-job time limits and GPU groups (src/archlab/cost.py)
ENV = "../envs/archlab.yaml"  # conda environment of every rule (relative to workflow/rules)


def _interpreter() -> str:
    """The interpreter of the shell rules: this venv's (the one running Snakemake), not whatever `python` PATH
    finds first; under --use-conda the rule's environment's own. Named by the venv's resolved folder, so the
    rules' params do not change with the way the venv was called (`.venv/bin/python`, the `snakemake`
    script's `python3`, a symlinked `.venv`)."""
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
        return "python"
    folder = Path(sys.prefix).resolve() / "bin"
    return next((str(folder / name) for name in ("python3", "python") if (folder / name).exists()), sys.executable)


PYTHON = _interpreter()
_JOB_SERVERS = []


onstart:
    # GPU jobs on one machine only under a gpu_slots limit (src/archlab/workflow/execution/gpu_bound.py): a --resources
    # list that drops the workflow profile's gpu_slots=100 stops the run here, before any job.
    gpu_bound.check(workflow, gpu_jobs=bool(GPUS) and any(rule.gpu for rule in PIPELINE.rules.values()))
    if set(workflow.rerun_triggers) != {RerunTrigger.MTIME}:
        print("archlab: Snakemake runs with --rerun-triggers "
              f"{' '.join(sorted(str(t.name).lower() for t in workflow.rerun_triggers))}: merely touching "
              "workflow/scripts/run_job.py reruns every job; the profiles (workflow/profiles/) set "
              "`rerun-triggers: mtime`, as the run's own record decides (src/archlab/workflow/freshness.py)", file=sys.stderr)
    # One machine: no scheduling rounds from Snakemake's default job-rate limit (src/archlab/workflow/execution/local_scheduling.py).
    if workflow.local_exec:
        local_scheduling.drop_default_rate_limit(workflow.scheduler)
    # Jobs fork from a server that has torch & co. imported (src/archlab/workflow/execution/job_server.py): local CPU runs
    # of a few jobs or more (it costs about one job's imports to start).
    if job_server.wanted(config["device"], workflow.local_exec, len(workflow.dag)):
        _JOB_SERVERS.append(job_server.Server.start(Path(workflow.basedir) / "src", Path(LOGS) / "job_server.log"))


def _stop_job_servers():
    while _JOB_SERVERS:
        _JOB_SERVERS.pop().stop()


onsuccess:
    _stop_job_servers()


onerror:
    _stop_job_servers()


def job_input(rule):
    """The inputs the plan gives the rule's job with these wildcards (an input function)."""
    return lambda wildcards: PIPELINE.job(rule, wildcards).input


def job_params(rule):
    """The exact params the job receives, as JSON: a change in them reruns the job."""
    return lambda wildcards: PIPELINE.job(rule, wildcards).params_json


# A rule with no job in this profile (`pretrain` in the full profile, which uses ImageNet weights) stays
# defined, with no wildcard constraint: nothing in the profile asks for its files, and asked by hand,
# PIPELINE.job says which jobs the profile has.


def seed_outputs(rule):
    """A multi-seed rule's per-seed outputs in this profile (one job trains all its seeds; Rule.seeds in the
    plan), at the paths one job per seed would write; none where the profile has no such rule."""
    spec = PIPELINE.rules.get(rule)
    return {k: v for k, v in spec.outputs.items() if spec.is_seed_output(k)} if spec else {}


def job_runtime(rule):
    """The minutes the job books: the FLOP/step cost model's estimate x its safety factor (src/archlab/cost.py,
    docs/cost.md); a rule the model does not cover keeps its plan's runtime."""
    return lambda wildcards: COST.minutes(PIPELINE.job(rule, wildcards))


def job_group(rule):
    """`small_gpu_<rule>` for a GPU rule whose jobs need part of a GPU, so a cluster can pack several into one
    allocation (--group-components); None otherwise and without GPUs (CostModel.group says why)."""
    return COST.group(PIPELINE.rules[rule]) if rule in PIPELINE.rules else None


def code_version(rule):
    """The digest of the archlab source files the rule's job module imports: an edit reruns its jobs."""
    return PIPELINE.rules[rule].code if rule in PIPELINE.rules else ""


def wildcard_values(rule):
    """The rule's wildcard constraints: exactly the values this profile's plan has."""
    return PIPELINE.constraints(rule) if rule in PIPELINE.rules else {}


def job_priority(rule):
    """Local (downloading) rules first, then the heads of the longest chains (Pipeline.priority says why)."""
    return PIPELINE.priority(rule) if rule in PIPELINE.rules else 0


def gpu_slots(rule):
    """A GPU job's part of one GPU's 100 `gpu_slots` (its plan Rule's gpu_share x 100), which the workflow
    profile profiles/default caps at 100 on one machine, so a GPU never holds more than it fits: four 0.25 jobs
    or one whole-GPU job. 0 where GPU rules ask no GPU (gpus_per_job: 0, the demo and test profiles) and on a
    cluster (there SLURM gives each job its own `gpu`, and a one-machine cap must not hold the cluster back)."""
    return lambda wildcards: PIPELINE.rules[rule].gpu_slots(dict(wildcards.items())) if GPUS and workflow.local_exec else 0


def _remote_weight_specs(node):
    """Every remote weights spec named anywhere in the config (what `fetch_weights` may download)."""
    if isinstance(node, dict):
        for value in node.values():
            yield from _remote_weight_specs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _remote_weight_specs(value)
    elif isinstance(node, str) and ":" in node and node.split(":", 1)[0] in ("torchvision", "hf", "open_clip"):
        spec = archlab_weights.parse(node)
        yield spec.slug, spec.text
