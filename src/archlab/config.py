"""Parameters: ``params.yaml`` (the full profile) deep-merged with ``config/<profile>.yaml``.

The schema is composed from ``schemas/<section>.yaml`` (file name = top-level key), so each study
owns its own schema file. Validation happens before any work, with messages that name the key
path and the allowed values. Files are read strictly: a key given twice is an error naming the file,
key and line, and numbers are read as YAML 1.2 does (``1e-5`` is a float, not a string).
"""
from __future__ import annotations

import copy
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from archlab import seed_roles
from archlab.data.kinds import split_sizes
from archlab.errors import ParamsError
from archlab.studies import STUDIES

SCHEMA_DIR = Path(__file__).parent / "schemas"
# YAML 1.2 floats: PyYAML's YAML 1.1 resolver reads `1e-5` (no dot) as a string.
_FLOAT = re.compile(r"^[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$|^[-+]?[0-9]+[eE][-+]?[0-9]+$"
                    r"|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$")


_FAST_SAFE = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader


class StrictLoader(_FAST_SAFE):
    """SafeLoader (libyaml's parser where installed: the DAG is built on every run) that rejects
    duplicate keys and reads YAML 1.2 floats."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ParamsError(
                    f"{key_node.start_mark.name}: line {key_node.start_mark.line + 1}: a YAML merge key (`<<: *anchor`) "
                    "is not supported in params files; write the keys out (each key is read once, so a merged key "
                    "could not be told from one given twice)")
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ParamsError(
                    f"{key_node.start_mark.name}: key {key!r} is given twice (lines {seen[key] + 1} and "
                    f"{key_node.start_mark.line + 1}); keep one (a later block would silently replace the first)")
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


StrictLoader.yaml_implicit_resolvers = {k: [r for r in v if r[0] != "tag:yaml.org,2002:float"]
                                        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
for _first in "-+0123456789.":
    StrictLoader.yaml_implicit_resolvers.setdefault(_first, []).insert(0, ("tag:yaml.org,2002:float", _FLOAT))


def read_yaml(path: str | Path):
    """One params file, strictly (duplicate keys rejected, YAML 1.2 numbers)."""
    path = Path(path)
    try:
        with open(path) as fh:  # a file object: marks (and so messages) carry the file name
            return yaml.load(fh, Loader=StrictLoader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path} is not valid YAML: {exc}{_tab_hint(path, exc)}") from exc


def _tab_hint(path: Path, exc: yaml.YAMLError) -> str:
    """libyaml's scanner does not say the character it stopped at is a tab: name it."""
    mark = getattr(exc, "problem_mark", None)
    try:
        line = path.read_text().splitlines()[mark.line] if mark is not None else ""
    except (OSError, IndexError, UnicodeDecodeError):
        return ""
    if "\t" not in line[: mark.column + 1]:
        return ""
    return (f"\n(line {mark.line + 1} has a tab character; YAML indents with spaces only: replace the tab "
            "with spaces)")


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
    properties = {p.stem: yaml.load(p.read_text(), Loader=_FAST_SAFE) for p in sorted(SCHEMA_DIR.glob("*.yaml"))}
    top = properties.pop("top")
    top["properties"].update(properties)
    top["properties"]["studies"]["items"] = {"enum": list(STUDIES)}
    return top


def profile_files(profile: str, root: str | Path = ".") -> list[Path]:
    root = Path(root)
    files = [root / "params.yaml"]
    override = root / "config" / f"{profile}.yaml"
    if profile != "full" or override.exists():
        if not override.exists():
            known = sorted(p.stem for p in (root / "config").glob("*.yaml"))
            raise ParamsError(f"unknown profile '{profile}': no {override}. Known profiles: {sorted({'full', *known})}")
        files.append(override)
    return files


def load_params(profile: str = "full", root: str | Path = ".") -> dict:
    """Load, merge and validate the parameters of ``profile``."""
    return load_files(profile_files(profile, root))


def load_files(paths: list[Path]) -> dict:
    """Deep-merge params files in order and validate the result (the last file names the profile)."""
    merged: dict[str, Any] = {}
    for path in map(Path, paths):
        loaded = read_yaml(path) or {}
        if not isinstance(loaded, dict):
            raise ParamsError(f"{path} must hold a mapping of sections, got {type(loaded).__name__}")
        merged = deep_merge(merged, loaded)
    source = " + ".join(map(str, paths))
    validate_params(merged, source=source)
    last = Path(paths[-1])
    expected = "full" if last.name == "params.yaml" else last.stem
    if merged["profile"] != expected:
        raise ParamsError(f"{last}: profile: {merged['profile']!r} does not match the file name; set "
                          f"`profile: {expected}` (results of profile {merged['profile']!r} would be overwritten)")
    return merged


def validate_params(params: dict, source: str = "params") -> None:
    """Raise :class:`ParamsError` listing every violation as ``key.path: problem (allowed: …)``."""
    non_finite = list(_non_finite(params))
    if non_finite:  # NaN passes every comparison of the schema (`exclusiveMinimum: 0`) and inf most
        lines = [f"  - {path}: {value!r} is not a finite number; give a real value (e.g. lr: 0.001)"
                 for path, value in non_finite]
        raise ParamsError(f"invalid parameters in {source}:\n" + "\n".join(lines))
    validator = jsonschema.Draft202012Validator(params_schema())
    errors = sorted(validator.iter_errors(params), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = [f"  - {_describe(e)}" for e in errors]
        raise ParamsError(f"invalid parameters in {source}:\n" + "\n".join(lines))
    check_device(params, source)
    seed_roles.check(params, source)
    for name, spec in params.get("data", {}).items():
        try:  # size keys against the sources known before any download
            split_sizes(name, spec)
        except ParamsError as exc:
            raise ParamsError(f"invalid parameters in {source}: {exc}") from None
    bad_refs = list(_dangling_dataset_refs(params, set(params.get("data", {}))))
    if bad_refs:
        lines = [f"  - {path}: dataset {name!r} is not defined (defined: {sorted(params['data'])})" for path, name in bad_refs]
        raise ParamsError(f"invalid parameters in {source}:\n" + "\n".join(lines))


def _non_finite(node, path: str = ""):
    """Yield (key path, value) for every NaN or ±inf anywhere in the params (YAML's `.nan`, `.inf`)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        here = f"{path}.{key}" if path else str(key)
        if isinstance(value, float) and not math.isfinite(value):
            yield here, value
        else:
            yield from _non_finite(value, here)


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
    if error.validator == "uniqueItems":
        return f"{path}: {error.instance!r} lists an entry twice; each must be unique (e.g. seeds: [0, 1, 2])"
    if error.validator == "type":
        return f"{path}: {error.instance!r} has the wrong type (expected {error.validator_value})"
    return f"{path}: {error.message}"


def check_device(params: dict, source: str) -> None:
    """``device: cuda``/``mps`` must exist here; ``auto`` falls back to the CPU."""
    device = params.get("device", "auto")
    if device not in ("cuda", "mps"):
        return
    import torch  # only when a device is demanded: light commands stay torch-free

    available = torch.cuda.is_available() if device == "cuda" else torch.backends.mps.is_available()
    if not available:
        raise ParamsError(f"{source}: device: {device} but this machine has no {device.upper()} device; "
                          "set `device: auto` (uses it where present) or `device: cpu`")
