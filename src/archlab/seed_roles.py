"""Tuning seeds and confirmation seeds: a verdict comes from replicates that did not choose the settings.

A profile declares under ``seeds:`` the seeds its settings were tuned on (``tuning``; the demo chose epochs,
learning rates and batch sizes by looking at seeds 0-2) and the seeds that judge its claims
(``confirmation``). :func:`check`, run with the params' validation before any job, refuses a profile where
the two overlap or where any study runs a seed that is not a confirmation seed: a claim judged on the seeds
that tuned it would confirm the tuning, not the claim. The report job receives the declaration (its
``params.json``), so the report can say which seeds judged and which tuned.
"""
from __future__ import annotations

from archlab.errors import ParamsError
from archlab.studies import STUDIES


def study_seed_lists(params: dict):
    """``(key path, seeds)`` for every ``seeds`` list in the study sections (``gan.seeds``,
    ``ood.ladder.0.seeds`` ...); a single ``seed`` (pre-training, one draw of a dataset) is not a replicate."""
    def walk(node, path: str):
        if isinstance(node, dict):
            for key, value in node.items():
                here = f"{path}.{key}"
                if key == "seeds" and isinstance(value, list):
                    yield here, value
                else:
                    yield from walk(value, here)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from walk(value, f"{path}.{i}")

    for section, value in params.items():
        if section in STUDIES:
            yield from walk(value, section)


def check(params: dict, source: str = "params") -> None:
    """Tuning and confirmation seeds disjoint, and every study seed a confirmation seed."""
    roles = params.get("seeds")
    if roles is None:
        return
    tuning, confirmation = set(roles["tuning"]), set(roles["confirmation"])
    both = sorted(tuning & confirmation)
    if both:
        raise ParamsError(f"{source}: seeds.tuning and seeds.confirmation share {both}: a claim judged on a seed that "
                          f"tuned its settings confirms the tuning; take new confirmation seeds")
    for key, seeds in study_seed_lists(params):
        tuned = sorted(set(seeds) & tuning)
        if tuned:
            raise ParamsError(f"{source}: {key} = {seeds} runs tuning seeds {tuned} (seeds.tuning); use confirmation "
                              f"seeds (seeds.confirmation: {sorted(confirmation)})")
        other = sorted(set(seeds) - confirmation)
        if other:
            raise ParamsError(f"{source}: {key} = {seeds} runs seeds {other} that seeds.confirmation does not list "
                              f"({sorted(confirmation)}); add them there, or use listed ones")
