"""What made a result: params, input checksums, code version, package versions.

A job's *identity* is the hash of everything that determines its outputs (rule, wildcards, params,
the content of every input, the code it runs). ``params.json`` records it beside the outputs, and a
checkpoint is resumed only into a run with the same identity. The code version of a job is the
digest of the archlab source files its module can import (a static import closure), each by its
meaning (syntax tree without docstrings: a comment or reformatting changes nothing), so editing
``train/gan.py`` changes the GAN jobs' code version and no other's. Imports no torch.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import platform
import re
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Iterable

from archlab.io import file_sha256

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # src/archlab
SRC = PACKAGE_ROOT.parent
PACKAGES = ("archlab", "torch", "torchvision", "numpy", "scikit-learn", "transformers", "open_clip_torch",
            "timm", "umap-learn", "pandas", "matplotlib", "snakemake", "dvc")


@lru_cache(maxsize=None)
def _module_file(name: str) -> Path | None:
    """``archlab.x.y`` → its source file (module or package ``__init__``), or None if not archlab's."""
    if name != "archlab" and not name.startswith("archlab."):
        return None
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


_IMPORT = re.compile(r"^[ \t]*import[ \t]+(archlab[\w.]*)", re.M)
_FROM = re.compile(r"^[ \t]*from[ \t]+(archlab[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)", re.M)


@lru_cache(maxsize=None)
def _direct_imports(path: Path) -> frozenset[str]:
    """archlab modules ``path`` imports anywhere (module level or inside functions).

    A line scan, not ``ast.parse``: the DAG is built on every run and parsing every source file was a
    third of a no-op rerun. An import-looking line inside a docstring can only add a file (never drop one).
    """
    text = path.read_text()
    names = set(_IMPORT.findall(text))
    for module, imported in _FROM.findall(text):
        names.add(module)
        for item in re.sub(r"#[^\n]*", "", imported).strip("()").replace("\\", " ").split(","):
            if item.split():
                names.add(f"{module}.{item.split()[0]}")
    return frozenset(n for n in names if _module_file(n) is not None)


def _with_parents(name: str) -> Iterable[str]:
    """Importing ``a.b.c`` runs ``a/__init__``, ``a/b/__init__`` and ``a/b/c``."""
    parts = name.split(".")
    return (".".join(parts[:i]) for i in range(1, len(parts) + 1))


DATA_SUFFIXES = (".yaml", ".yml", ".json", ".csv", ".txt")


@lru_cache(maxsize=None)
def _data_files(path: Path) -> frozenset[Path]:
    """Data files beside a module that it names literally (``"published.yaml"`` in ``published.py``). A file a
    job picks by a param (a class map) is one of the job's ``reads`` instead (:attr:`archlab.workflow.plan.Job.reads`)."""
    text = path.read_text()
    return frozenset(p for p in path.parent.glob("*") if p.suffix in DATA_SUFFIXES and f'"{p.name}"' in text)


# Downloaders: what they fetch is pinned by published checksums that the reading code checks before it reads,
# so a job's result depends on the files' content, not on how they were fetched (archlab.data.download).
NOT_IN_ANY_IDENTITY = frozenset({"archlab.data.download"})


@lru_cache(maxsize=None)
def code_files(module: str) -> tuple[Path, ...]:
    """Every archlab source file ``module`` can import, itself included, and the data files those
    modules read from beside themselves (e.g. the published values), sorted; the downloaders
    (:data:`NOT_IN_ANY_IDENTITY`) are left out."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        for mod in _with_parents(name):
            if mod in seen or mod in NOT_IN_ANY_IDENTITY or _module_file(mod) is None:
                continue
            seen.add(mod)
            todo.extend(_direct_imports(_module_file(mod)))
    files = {_module_file(m) for m in seen}
    return tuple(sorted(files | {d for f in files for d in _data_files(f)}))


@lru_cache(maxsize=None)
def code_digest(module: str) -> str:
    """sha256 over the relative path and meaning (:func:`file_digest`) of every file in ``module``'s closure."""
    h = hashlib.sha256()
    for path in code_files(module):
        h.update(str(path.relative_to(SRC)).encode() + b"\0" + file_digest(path).encode() + b"\0")
    return h.hexdigest()[:16]


@lru_cache(maxsize=None)
def file_digest(path: Path) -> str:
    """What a source file means, not how it is written: for Python, the sha256 of its syntax tree without
    docstrings, unparsed (comments, blank lines, formatting and docstrings change nothing); for a data file,
    of its parsed content where it is YAML/JSON, else of its bytes. Parsing costs about 10 ms a file, so
    each result is cached by the sha256 of the file's bytes (:func:`_digest_cache`): a no-op run parses none."""
    raw = path.read_bytes()
    key = hashlib.sha256(raw).hexdigest()
    cache = _digest_cache()
    if key not in cache:
        cache[key] = hashlib.sha256(_meaning(path, raw).encode()).hexdigest()
        _save_digest_cache(cache)
    return cache[key]


def _meaning(path: Path, raw: bytes) -> str:
    if path.suffix == ".py":
        tree = ast.parse(raw, filename=str(path))
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                    and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
        return ast.unparse(tree)
    if path.suffix in (".yaml", ".yml", ".json"):
        import yaml

        return json.dumps(yaml.safe_load(raw), sort_keys=True, default=str)
    return raw.decode("utf-8", "replace")


def _cache_file() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "archlab" / "code-digests.json"


@lru_cache(maxsize=1)
def _digest_cache() -> dict[str, str]:
    """sha256 of a file's bytes → its :func:`file_digest` (content-addressed: an entry is never wrong)."""
    try:
        cache = json.loads(_cache_file().read_text())
        return cache if isinstance(cache, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_digest_cache(cache: dict[str, str]) -> None:
    """Best effort (atomic replace; a read-only home only costs the parse again)."""
    path = _cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(cache))
        os.replace(tmp, path)
    except OSError:
        pass


def input_checksums(inputs: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
    """Input name → sha256 of its file (a list for list-valued inputs)."""
    return {name: [file_sha256(p) for p in value] if isinstance(value, list) else file_sha256(value)
            for name, value in inputs.items()}


def identity(rule: str, wildcards: dict, params: dict, checksums: dict, code: str) -> str:
    """The run's identity: equal exactly when everything that determines its outputs is equal."""
    blob = json.dumps({"rule": rule, "wildcards": wildcards, "params": params, "inputs": checksums, "code": code},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


@lru_cache(maxsize=1)
def git_state(cwd: str = ".") -> dict:
    """The project's commit and whether the work tree differs from it (None outside a git checkout)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10)
        return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def read_run_params(path: str | Path) -> dict:
    """The params a run received, from its ``params.json``; a truncated or foreign one is one error naming it
    (the plan reruns its job on the next run: archlab.workflow.freshness judges a garbled record out of date)."""
    from archlab.errors import CorruptResourceError

    try:
        return json.loads(Path(path).read_text())["params"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptResourceError(
            f"{path} is not a run record ({type(exc).__name__}: {exc}): it was cut short or replaced; rerun the "
            f"job that writes it (a `snakemake` run does, as the record no longer matches)") from exc
