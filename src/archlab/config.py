"""Parameters: ``params.yaml`` (the full profile) deep-merged with ``config/<profile>.yaml``.

The schema is composed from ``schemas/<section>.yaml`` (file name = top-level key), so each study
owns its own schema file. Validation happens before any work, with messages that name the key
path and the allowed values.
"""
from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from archlab.errors import ParamsError

SCHEMA_DIR = Path(__file__).parent / "schemas"


def deep_merge(base: dict, override: dict) -> dict:
    """Recursively merge ``override`` into a copy of ``base`` (override wins; lists are replaced)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@lru_cache(maxsize=1)
def params_schema() -> dict:
    """The full JSON schema: one property per ``schemas/*.yaml`` file, nothing else allowed."""
    properties = {p.stem: yaml.safe_load(p.read_text()) for p in sorted(SCHEMA_DIR.glob("*.yaml"))}
    top = properties.pop("top")
    top["properties"].update(properties)
    return top


def profile_files(profile: str, root: str | Path = ".") -> list[Path]:
    root = Path(root)
    files = [root / "params.yaml"]
    override = root / "config" / f"{profile}.yaml"
    if profile != "full" or override.exists():
        if not override.exists():
            known = sorted(p.stem for p in (root / "config").glob("*.yaml"))
            raise ParamsError(f"unknown profile '{profile}': no {override}. Known profiles: {['full', *known]}")
        files.append(override)
    return files


def load_params(profile: str = "full", root: str | Path = ".") -> dict:
    """Load, merge and validate the parameters of ``profile``."""
    merged: dict[str, Any] = {}
    for path in profile_files(profile, root):
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ParamsError(f"{path} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ParamsError(f"{path} must hold a mapping of sections, got {type(loaded).__name__}")
        merged = deep_merge(merged, loaded)
    validate_params(merged, source=" + ".join(str(p) for p in profile_files(profile, root)))
    return merged


def validate_params(params: dict, source: str = "params") -> None:
    """Raise :class:`ParamsError` listing every violation as ``key.path: problem (allowed: …)``."""
    validator = jsonschema.Draft202012Validator(params_schema())
    errors = sorted(validator.iter_errors(params), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = [f"  - {_describe(e)}" for e in errors]
        raise ParamsError(f"invalid parameters in {source}:\n" + "\n".join(lines))
    bad_refs = list(_dangling_dataset_refs(params, set(params.get("data", {}))))
    if bad_refs:
        lines = [f"  - {path}: dataset {name!r} is not defined (defined: {sorted(params['data'])})" for path, name in bad_refs]
        raise ParamsError(f"invalid parameters in {source}:\n" + "\n".join(lines))


def _dangling_dataset_refs(params: dict, datasets: set[str], path: str = ""):
    """Yield (key path, name) for every study field named ``data``/``dataset`` naming no dataset."""
    for key, value in params.items():
        here = f"{path}.{key}" if path else str(key)
        if here == "data":
            continue
        if isinstance(value, dict):
            yield from _dangling_dataset_refs(value, datasets, here)
        elif key in ("data", "dataset") and isinstance(value, str) and value not in datasets:
            yield here, value


def _describe(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path) or "<top level>"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return f"{path}: unknown key(s) {extra} (allowed: {allowed})"
    if error.validator == "enum":
        return f"{path}: {error.instance!r} is not one of the allowed values {error.validator_value}"
    if error.validator == "pattern" and error.schema.get("description"):
        return f"{path}: {error.instance!r} is not of the form {error.schema['description']}"
    if error.validator == "type":
        return f"{path}: {error.instance!r} has the wrong type (expected {error.validator_value})"
    return f"{path}: {error.message}"
