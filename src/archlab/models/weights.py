"""Weights named by one spec string, fetched once where there is internet, then loaded offline.

Specs: ``torchvision:<arch>:<WEIGHTS>``, ``hf:<repo id>``, ``open_clip:<model>:<pretrained>``,
``pip:<package>:<file in the package>:<sha256>``, ``file:<path>``, ``none``. ``fetch`` downloads into
``resources/weights/`` and drops a marker file (the Snakemake target of the local ``fetch_weights`` rule);
loading never touches the network. A ``pip:`` weight is a file an installed Python package ships (pinned in
requirements.lock, so it arrives with the venv); its sha256 is part of the spec, hence of every run's params.
"""
from __future__ import annotations

import contextlib
import difflib
import functools
import importlib
import importlib.util
import json
import os
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path

from archlab.errors import ArchlabError, CorruptResourceError, MissingResourceError, ParamsError, first_line
from archlab.io import atomic_path, write_error

KINDS = ("torchvision", "hf", "open_clip", "pip", "file", "none")


@dataclass(frozen=True)
class WeightSpec:
    kind: str
    parts: tuple[str, ...]
    text: str

    @property
    def remote(self) -> bool:
        return self.kind in ("torchvision", "hf", "open_clip")

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.text)


def parse(spec: str) -> WeightSpec:
    kind, _, rest = spec.partition(":")
    expected = {"torchvision": 2, "hf": 1, "open_clip": 2, "pip": 3, "file": 1, "none": 0}
    if kind not in expected:
        raise ParamsError(f"unknown weights spec {spec!r}: the kind must be one of {list(KINDS)} "
                          f"(e.g. torchvision:resnet152:IMAGENET1K_V1, hf:google/vit-base-patch16-224, "
                          f"open_clip:ViT-B-32:openai, pip:<package>:<file in it>:<sha256>, file:path/to/weights.pt, none)")
    parts = tuple(rest.split(":", expected[kind] - 1)) if expected[kind] else ()
    if len(parts) != expected[kind] or not all(parts):
        raise ParamsError(f"malformed weights spec {spec!r}: {kind} needs {expected[kind]} ':'-separated field(s)")
    return WeightSpec(kind, parts, spec)


def marker_path(spec: str, resources: str | Path) -> Path | None:
    """What proves a spec is available locally: the file itself, a fetch marker, or nothing."""
    ws = parse(spec)
    if ws.kind == "file":
        return Path(ws.parts[0])
    if ws.kind in ("none", "pip"):  # pip: installed with the venv; the spec pins its content (sha256)
        return None
    return Path(resources) / "weights" / f"{ws.slug}.ok"


def cache_dir(resources: str | Path, kind: str) -> Path:
    return Path(resources) / "weights" / kind


# what from_pretrained reads for a ViT classifier and its processor: the config, the processor config,
# and one weights format (safetensors first; the PyTorch pickle only where a repository has no safetensors)
HF_CONFIG_FILES = ["config.json", "preprocessor_config.json"]
HF_WEIGHT_FORMATS = (["model.safetensors", "model.safetensors.index.json", "model-*.safetensors"],
                     ["pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model-*.bin"])


def fetch(spec: str, resources: str | Path) -> Path | None:
    """Download a remote spec into the cache (needs internet) and write its marker.

    Any failure of the download (no network, a refused or unknown repository, a bad checksum) is one
    :class:`MissingResourceError` saying what is missing, where it belongs and how to fetch it elsewhere."""
    ws = parse(spec)
    marker = marker_path(spec, resources)
    if not ws.remote:
        ensure_available(spec, resources)
        return marker
    target = cache_dir(resources, ws.kind)
    check_open_clip(spec)  # never fetch weights for an architecture they were not trained with
    if not missing_from_cache(ws, resources):  # already there (copied from elsewhere): no network needed
        return _write_marker(spec, marker)
    if ws.kind == "torchvision":
        weights = _torchvision_weights(ws)  # an unknown tag is a ParamsError, before any download
        download = lambda: weights.get_state_dict(progress=True, model_dir=str(target), check_hash=True)  # noqa: E731
    elif ws.kind == "hf":
        download = lambda: _hf_download(ws.parts[0], target)  # noqa: E731
    else:
        download = lambda: _open_clip_download(ws, target)  # noqa: E731
    try:
        download()
    except (ArchlabError, KeyboardInterrupt):
        raise
    except Exception as exc:  # urllib, requests and huggingface_hub each raise their own kinds
        # a read-only or full resources/ is not a missing network: name the folder and the fix
        unwritable = isinstance(exc, OSError) and write_error(Path(exc.filename or target / "_"), exc)
        if unwritable:
            raise unwritable from exc
        reason = first_line(exc)
        raise MissingResourceError(
            f"weights {spec} could not be downloaded into {target} ({type(exc).__name__}: {reason}). This machine "
            f"seems to have no internet (or the source refused): on a machine with internet run "
            f"`python -m archlab fetch-weights '{spec}' --resources resources` and copy its resources/weights/ "
            f"folder (with {marker.name}) to {Path(resources) / 'weights'} here") from exc
    return _write_marker(spec, marker)


def _write_marker(spec: str, marker: Path) -> Path:
    with atomic_path(marker) as tmp:  # a read-only or full resources/ is one error naming the folder
        tmp.write_text(spec + "\n")
    return marker


@contextlib.contextmanager
def hub_offline():
    """Hugging Face Hub in offline mode for the block: a load from the cache (open_clip's
    ``hf_hub_download`` calls) makes no request, instead of retrying for a minute on a node without
    internet before it falls back to the cached file."""
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


def _hf_download(repo_id: str, target: Path) -> None:
    """Only what is loaded: the configs and one weights format, not the repository's every file."""
    from huggingface_hub import snapshot_download

    for formats in HF_WEIGHT_FORMATS:
        folder = Path(snapshot_download(repo_id, cache_dir=str(target), allow_patterns=HF_CONFIG_FILES + formats))
        if any(folder.glob(formats[0].replace("model.", "model*."))):
            return
    raise MissingResourceError(f"the Hugging Face repository {repo_id} has no model.safetensors or pytorch_model.bin; "
                               f"name a transformers model repository in the hf: spec")


def _open_clip_download(ws: WeightSpec, target: Path) -> None:
    """The weights file alone (what open_clip.create_model reads from ``cache_dir``), without building a model."""
    import archlab  # noqa: F401  (torchvision import fix)
    from open_clip.pretrained import download_pretrained, get_pretrained_cfg

    cfg = get_pretrained_cfg(*ws.parts)
    if cfg.get("hf_hub"):  # one quick request first: offline, the file downloads retry for a minute
        from huggingface_hub import HfApi

        HfApi().model_info(os.path.split(cfg["hf_hub"])[0])
    if not download_pretrained(cfg, cache_dir=str(target)):
        raise FileNotFoundError("open_clip returned no weights file")


def ensure_available(spec: str, resources: str | Path) -> None:
    """Raise one clear error if a spec cannot be loaded offline (or not into its architecture)."""
    ws = parse(spec)
    check_open_clip(spec)
    if ws.kind == "pip":
        pip_file(spec)
        return
    marker = marker_path(spec, resources)
    if marker is not None and not marker.exists():
        if ws.kind == "file":
            raise MissingResourceError(f"weights file {marker} does not exist; train or copy it there, or change the spec")
        raise MissingResourceError(
            f"weights {spec} are not in {cache_dir(resources, ws.kind)}; fetch them where there is internet with "
            f"`python -m archlab fetch-weights '{spec}'` (or `snakemake {marker}`) and copy resources/weights here")
    missing = missing_from_cache(ws, resources) if ws.remote else []
    if missing:  # a marker copied without its cache: the loaders would fail with their own tracebacks
        raise MissingResourceError(
            f"weights {spec}: the marker {marker} exists but the cache lacks {missing[0]}; copy the whole "
            f"resources/weights/ folder (the {ws.kind}/ cache, not only the .ok markers) from the machine that "
            f"fetched them, or fetch them again with `python -m archlab fetch-weights '{spec}'` (offline it "
            f"succeeds once the cache is complete)")


def missing_from_cache(ws: WeightSpec, resources: str | Path) -> list[str]:
    """The files the loader of a remote spec reads from the cache that are not there (empty: loadable
    offline). Each kind looks where its library's own offline loader looks: torch.hub's file name for
    torchvision, the Hugging Face cache (``refs/main`` → snapshot) for ``hf`` and for open_clip's hub
    weights, open_clip's download name for its URL weights. Torch is imported for torchvision only
    (its weights' file names live in torchvision's enums)."""
    target = cache_dir(resources, ws.kind)
    if ws.kind == "torchvision":
        path = target / _torchvision_weights(ws).url.rsplit("/", 1)[-1]
        return [] if path.is_file() else [str(path)]
    if ws.kind == "hf":
        repo = ws.parts[0]
        missing = [f"{repo}/{name}" for name in HF_CONFIG_FILES if not _hub_cached(repo, name, target)]
        if not any(_hub_cached(repo, formats[0], target) or _hub_cached(repo, formats[1], target)
                   for formats in HF_WEIGHT_FORMATS):
            missing.append(f"{repo}/{HF_WEIGHT_FORMATS[0][0]} (or {HF_WEIGHT_FORMATS[1][0]})")
        return missing
    if ws.kind != "open_clip":  # a new remote kind must say where its loader reads, or loading fails late
        raise ValueError(f"no cache check for weights kind {ws.kind!r}: add it to missing_from_cache")
    registry, _ = _open_clip_registry()
    cfg = registry.get_pretrained_cfg(*ws.parts)
    if cfg.get("hf_hub"):  # open_clip's download_pretrained_from_hf: a safetensors twin first, then the file
        repo, name = os.path.split(cfg["hf_hub"])
        name = name or registry.HF_WEIGHTS_NAME
        names = [*registry._get_safe_alternatives(name), name]
        return [] if any(_hub_cached(repo, n, target) for n in names) else [f"{repo}/{name}"]
    path = target / os.path.basename(cfg["url"])
    return [] if path.is_file() else [str(path)]


def _hub_cached(repo_id: str, filename: str, cache: Path) -> bool:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, cache_dir=str(cache))
    return isinstance(found, str) and Path(found).is_file()


def load_file(spec: str, resources: str | Path) -> dict:
    """The state dict of a ``file:`` spec; a damaged file is one clear error, not a traceback."""
    import torch

    ensure_available(spec, resources)
    path = parse(spec).parts[0]
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load fails on damaged files with many exception types
        raise CorruptResourceError(f"weights file {path} cannot be read ({str(exc).splitlines()[0]}); "
                                   f"retrain it or copy it again") from exc


def pip_file(spec: str) -> Path:
    """The file a ``pip:<package>:<file>:<sha256>`` spec names, inside the installed package (found without
    importing it); a missing package or file is a :class:`MissingResourceError` with the pip command."""
    package, name, _ = parse(spec).parts
    found = importlib.util.find_spec(package)
    path = Path(next(iter(found.submodule_search_locations))) / name if found and found.submodule_search_locations else None
    if path is None or not path.is_file():
        where = "is not installed" if found is None else f"has no {name}"
        raise MissingResourceError(f"weights {spec}: the Python package {package} {where}; install it with "
                                   f"`pip install {package}` (pinned in requirements.lock) or change the spec")
    return path


def load_pip(spec: str) -> dict:
    """The state dict a ``pip:`` spec names, after its sha256 is checked against the spec's."""
    import hashlib

    import torch

    path, expected = pip_file(spec), parse(spec).parts[2]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise CorruptResourceError(f"weights file {path} has sha256 {digest}, but the spec {spec} pins {expected}: "
                                   f"another version or a damaged install; reinstall the package "
                                   f"(`pip install --force-reinstall {parse(spec).parts[0]}`) or fix the spec")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load fails on damaged files with many exception types
        raise CorruptResourceError(f"weights file {path} cannot be read ({str(exc).splitlines()[0]}); "
                                   f"reinstall the package") from exc


def torchvision_state_dict(spec: str, resources: str | Path) -> dict:
    """The state dict of a fetched torchvision spec, loaded from the local cache only."""
    ensure_available(spec, resources)
    ws = parse(spec)
    os.environ.setdefault("TORCH_HOME", str(Path(resources) / "weights"))
    return _torchvision_weights(ws).get_state_dict(progress=False, model_dir=str(cache_dir(resources, "torchvision")))


def hf_local_kwargs(spec: str, resources: str | Path) -> dict:
    """Keyword arguments for ``from_pretrained`` that load a fetched hf spec without the network."""
    ensure_available(spec, resources)
    return {"pretrained_model_name_or_path": parse(spec).parts[0],
            "cache_dir": str(cache_dir(resources, "hf")), "local_files_only": True}


def _torchvision_weights(ws: WeightSpec):
    import archlab  # noqa: F401  (torchvision import fix)
    import torchvision.models as tvm

    arch, tag = ws.parts
    try:
        return tvm.get_model_weights(arch)[tag]
    except (ValueError, KeyError) as exc:
        raise ParamsError(f"torchvision has no weights {tag!r} for {arch!r} ({exc})") from exc


def check_open_clip(spec: str, key: str = "clip.weights") -> None:
    """Refuse an ``open_clip:<model>:<tag>`` spec whose pretrained weights were trained with another
    activation than the architecture uses (QuickGELU vs GELU), an unknown model or an unknown tag.

    open_clip itself only warns ("QuickGELU mismatch") and then computes wrong embeddings. Offline and
    without torch: reads open_clip's own registries (its ``model_configs/*.json`` and ``pretrained.py``).
    """
    ws = parse(spec)
    if ws.kind != "open_clip":
        return
    model, tag = ws.parts
    registry, configs = _open_clip_registry()
    config_file = configs / f"{model}.json"
    if not config_file.is_file():
        close = difflib.get_close_matches(model, sorted(f.stem for f in configs.glob("*.json")), n=3)
        raise ParamsError(f"{key} = {spec!r}: open_clip has no model {model!r} (no {config_file}); "
                          f"use one of open_clip.list_models(){f', e.g. {close}' if close else ''}")
    pretrained = registry.get_pretrained_cfg(model, tag)
    if not pretrained:
        raise ParamsError(f"{key} = {spec!r}: open_clip has no pretrained weights {tag!r} for {model!r} (its tags: "
                          f"{registry.list_pretrained_tags_by_model(model)}); fix the spec")
    arch_quick = bool(json.loads(config_file.read_text()).get("quick_gelu", False))
    tag_quick = bool(pretrained.get("quick_gelu", False))
    if arch_quick == tag_quick:
        return
    act = {True: "QuickGELU", False: "GELU"}
    base = model.removesuffix("-quickgelu")
    fix = f"{base}-quickgelu" if tag_quick else base
    hint = (f"use `{key}: open_clip:{fix}:{tag}` (the same weights file, built with {act[tag_quick]})"
            if registry.get_pretrained_cfg(fix, tag) else f"pick a tag of {model!r} trained with {act[arch_quick]}")
    raise ParamsError(f"{key} = {spec!r}: the {tag!r} weights were trained with {act[tag_quick]} but open_clip's "
                      f"{model!r} architecture uses {act[arch_quick]}, so every embedding would be wrong; {hint} "
                      f"in params.yaml (or config/<profile>.yaml)")


@functools.lru_cache(maxsize=1)
def _open_clip_registry():
    """open_clip's ``pretrained`` module (the registry of pretrained tags) and its model-config folder.

    Importing the ``open_clip`` package imports torch (seconds); the registry itself needs none, so
    unless open_clip is already imported its ``pretrained.py`` is loaded alone, with the one optional
    import that would pull torch in (``safetensors.torch``, used only for downloads) turned off.
    """
    if "open_clip" not in sys.modules:
        try:
            return _open_clip_registry_alone()
        except Exception:  # noqa: BLE001 - another open_clip layout: import it the ordinary way
            pass
    import archlab  # noqa: F401  (torchvision import fix)
    import open_clip.pretrained as registry

    return registry, Path(registry.__file__).parent / "model_configs"


def _open_clip_registry_alone():
    found = importlib.util.find_spec("open_clip")
    if found is None or not found.submodule_search_locations:
        raise ParamsError("open_clip is not installed; install the project's requirements.lock")
    folder = Path(next(iter(found.submodule_search_locations)))
    name = "_archlab_open_clip_registry"
    package = types.ModuleType(name)
    package.__path__ = [str(folder)]
    blocked = [] if "safetensors.torch" in sys.modules else ["safetensors.torch"]
    sys.modules[name] = package
    sys.modules.update(dict.fromkeys(blocked))  # None: its `try: import` fails fast, without torch
    try:
        registry = importlib.import_module(f"{name}.pretrained")
    finally:
        for module in [*blocked, *(m for m in list(sys.modules) if m == name or m.startswith(name + "."))]:
            sys.modules.pop(module, None)
    return registry, folder / "model_configs"
