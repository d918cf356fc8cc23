"""Datasets in the canonical format: one ``data_prepare`` job per dataset defined under ``data:``.

Snakemake builds only those an enabled study reads (:func:`used_datasets`); any can be prepared by
hand with ``archlab run data_prepare name=<dataset>``.

A local rule: on a cluster it runs on the login node, which has internet (``source: torchvision``).
"""
from __future__ import annotations

from archlab.data.kinds import check_source_keys
from archlab.workflow.plan import Rule, run_files

ARRAYS = {f"{split}_{xy}": f"{split}_{xy}.npy" for split in ("train", "val", "test") for xy in ("x", "y")}


def check(cfg: dict) -> None:
    """Dataset references and sizes are checked with the schema (archlab.config); here, the keys a
    dataset's source would silently ignore."""
    for name, spec in cfg["data"].items():
        check_source_keys(name, spec)


def used_datasets(cfg: dict) -> list[str]:
    """Datasets named by a ``data:``/``dataset:`` field of an enabled study (or of the demo pretraining).

    A profile inherits every dataset of params.yaml; preparing only the used ones keeps a small
    profile from downloading the full profile's datasets.
    """
    sections = [cfg[s] for s in cfg["studies"] if s in cfg]
    if cfg.get("pretrain", {}).get("archs"):
        sections.append(cfg["pretrain"])
    return datasets_named(cfg, sections)


def datasets_named(cfg: dict, node) -> list[str]:
    """The datasets (``data:`` entries) a params subtree names in its ``data:``/``dataset:`` fields."""
    def refs(node):
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            if key in ("data", "dataset") and isinstance(value, str):
                yield value
            else:
                yield from refs(value)

    return sorted({name for name in refs(node) if name in cfg["data"]})


def jobs(cfg: dict, paths) -> list:
    run_dir = f"{paths.results}/data/{{name}}"
    # the job function lives apart (commands/data_prepare.py): the report imports this module for
    # used_datasets, and the downloaders must be in no code version but data_prepare's
    rule = Rule("data_prepare", "data", "archlab.commands.data_prepare:prepare", run_dir,
                run_files(run_dir, meta="meta.json", **ARRAYS), mem_mb=8000, runtime=60, local=True,
                description="download/convert/generate a dataset, split it, checksum it")
    return [rule.job(params={"name": name, "spec": spec, "raw": f"{paths.resources}/data"},
                     reads=(spec["path"],) if spec["source"] == "local" else (), name=name)
            for name, spec in cfg["data"].items()]
