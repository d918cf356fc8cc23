"""Weights named by one spec string, fetched once where there is internet, then loaded offline.

Specs: ``torchvision:<arch>:<WEIGHTS>``, ``hf:<repo id>``, ``open_clip:<model>:<pretrained>``,
``file:<path>``, ``none``. ``fetch`` downloads into ``resources/weights/`` and drops a marker file
(the Snakemake target of the local ``fetch_weights`` rule); loading never touches the network.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from archlab.errors import CorruptResourceError, MissingResourceError, ParamsError

KINDS = ("torchvision", "hf", "open_clip", "file", "none")


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
    expected = {"torchvision": 2, "hf": 1, "open_clip": 2, "file": 1, "none": 0}
    if kind not in expected:
        raise ParamsError(f"unknown weights spec {spec!r}: the kind must be one of {list(KINDS)} "
                          f"(e.g. torchvision:resnet152:IMAGENET1K_V2, hf:google/vit-base-patch16-224, "
                          f"open_clip:ViT-B-32:openai, file:path/to/weights.pt, none)")
    parts = tuple(rest.split(":", expected[kind] - 1)) if expected[kind] else ()
    if len(parts) != expected[kind] or not all(parts):
        raise ParamsError(f"malformed weights spec {spec!r}: {kind} needs {expected[kind]} ':'-separated field(s)")
    return WeightSpec(kind, parts, spec)


def marker_path(spec: str, resources: str | Path) -> Path | None:
    """What proves a spec is available locally: the file itself, a fetch marker, or nothing."""
    ws = parse(spec)
    if ws.kind == "file":
        return Path(ws.parts[0])
    if ws.kind == "none":
        return None
    return Path(resources) / "weights" / f"{ws.slug}.ok"


def cache_dir(resources: str | Path, kind: str) -> Path:
    return Path(resources) / "weights" / kind


def fetch(spec: str, resources: str | Path) -> Path | None:
    """Download a remote spec into the cache (needs internet) and write its marker."""
    ws = parse(spec)
    marker = marker_path(spec, resources)
    if not ws.remote:
        ensure_available(spec, resources)
        return marker
    if ws.kind == "torchvision":
        _torchvision_weights(ws).get_state_dict(progress=True, model_dir=str(cache_dir(resources, "torchvision")), check_hash=True)
    elif ws.kind == "hf":
        from huggingface_hub import snapshot_download

        snapshot_download(ws.parts[0], cache_dir=str(cache_dir(resources, "hf")))
    else:
        import open_clip

        open_clip.create_model(ws.parts[0], pretrained=ws.parts[1], cache_dir=str(cache_dir(resources, "open_clip")))
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(spec + "\n")
    return marker


def ensure_available(spec: str, resources: str | Path) -> None:
    """Raise one clear error if a spec cannot be loaded offline."""
    ws = parse(spec)
    marker = marker_path(spec, resources)
    if marker is not None and not marker.exists():
        if ws.kind == "file":
            raise MissingResourceError(f"weights file {marker} does not exist; train or copy it there, or change the spec")
        raise MissingResourceError(
            f"weights {spec} are not in {cache_dir(resources, ws.kind)}; fetch them where there is internet with "
            f"`python -m archlab fetch-weights '{spec}'` (or `snakemake {marker}`) and copy resources/weights here")


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
