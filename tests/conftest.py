"""Shared fixtures. Tests run on small data where the right answer is known."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import archlab  # noqa: F401, I001  (first: CPU pinning and the torchvision import fix, see archlab/__init__.py)
import torch

ROOT = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)
os.environ.setdefault("ARCHLAB_THREADS", "1")


def copy_params(root: Path) -> Path:
    """A scratch project root holding only the params (params.yaml + config/), for stage calls."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "params.yaml", root / "params.yaml")
    shutil.copytree(ROOT / "config", root / "config")
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A scratch copy of the pipeline's definition (no results), to run Snakemake/DVC in."""
    # tests/reference: the report states whether a run matches its profile's committed reference run
    for item in ("Snakefile", "params.yaml", "config", "workflow", "report/templates", "dvc.yaml", "tests/reference"):
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, tmp_path / item)
        elif src.exists():
            (tmp_path / item).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, tmp_path / item)
    # the rules import archlab from <project>/src: point it at the real package
    (tmp_path / "src").symlink_to(ROOT / "src")
    return tmp_path
