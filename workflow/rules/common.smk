# Shared helpers for all the rules: params validation (before any job), paths, input helpers.
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from archlab.config import deep_merge, load_params, validate_params  # noqa: E402
from archlab.errors import ArchlabError  # noqa: E402
from archlab.models import weights as archlab_weights  # noqa: E402

# Snakemake has merged params.yaml with any --configfile; validate the exact dict the jobs use.
try:
    validate_params(config, source="the Snakemake config (params.yaml + --configfile overrides)")
    # Stages read params.yaml + config/<profile>.yaml themselves; both views must agree.
    if load_params(config["profile"], workflow.basedir) != config:
        raise ArchlabError(
            f"the merged Snakemake config differs from params.yaml + config/{config['profile']}.yaml; "
            "pass overrides through config/<profile>.yaml, not --config"
        )
except ArchlabError as exc:
    raise WorkflowError(str(exc))

PROFILE = config["profile"]
RESULTS = f"results/{PROFILE}"
LOGS = f"logs/{PROFILE}"
# Shell commands spell out `python -m archlab <stage> … --profile {params.profile}` with
# `params: profile=PROFILE` (snakemake --lint: no globals inside shell commands).
GPUS = config.get("gpus_per_job", 0)
ENV = "../envs/archlab.yaml"  # conda environment of every rule (relative to workflow/rules)


def params_of(*keys):
    """The params sub-tree a rule's command reads; changing it (only) reruns the rule."""

    def get(wildcards=None):
        node = config
        for key in keys:
            node = node[key]
        return json.dumps(node, sort_keys=True)

    return get


def data_files(name):
    """The Snakemake input standing for a prepared dataset."""
    return f"{RESULTS}/data/{name}/meta.json"


def used_datasets():
    """Datasets named by a `data:`/`dataset:` field of an enabled study (or of the demo pretraining).

    A profile inherits every dataset of params.yaml; preparing only the used ones keeps a
    small profile from downloading the full profile's datasets.
    """
    sections = [config[s] for s in config["studies"] if s in config]
    if config.get("pretrain", {}).get("archs"):
        sections.append(config["pretrain"])

    def refs(node):
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            if key in ("data", "dataset") and isinstance(value, str):
                yield value
            else:
                yield from refs(value)

    return sorted({name for name in refs(sections) if name in config["data"]})


def weights_input(spec):
    """A weights spec as Snakemake input: the file, the fetch marker, or nothing for `none`."""
    path = archlab_weights.marker_path(spec, config["resources"])
    return [] if path is None else [str(path)]


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


REMOTE_WEIGHTS = dict(_remote_weight_specs(config))


def study_targets():
    return [f"{RESULTS}/{study}/section.json" for study in config["studies"]]


def s1_feature_params(wc):
    """S1: the params a feature cache depends on (the no-skip blocks only for the no-skip variant)."""
    s1 = config["resnet"]
    noskip = wc.variant.endswith("-noskip")
    return json.dumps({"weights": S1_VARIANTS[wc.variant], "data": s1["data"], "image_size": s1["image_size"],
                       "batch_size": s1["batch_size"], "no_skip": s1["no_skip"] if noskip else None})


REPORT_TARGETS = [f"report/{PROFILE}/report.md", f"report/{PROFILE}/report.tex"]
