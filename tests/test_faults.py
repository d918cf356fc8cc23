"""Faults and bad input: every bad parameter, dataset or weight fails early and clearly, and
training killed mid-way resumes to the same result as an uninterrupted run.

Each bad-input case runs the stage command a user or Snakemake would run (`archlab.cli.main`) in a
scratch project holding earlier results, and requires: exit code ≠ 0, exactly one error message
that names the problem and the fix, no traceback, and every file of the project unchanged
(nothing computed earlier deleted, nothing half-written left behind).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest
import torch

from archlab.cli import main
from archlab.io import atomic_path, read_json, save_torch, write_json
from archlab.models.resnet import build_resnet
from slurm.project import ENV, copy_project, edit_yaml

PROFILE = ["--profile", "test"]
EARLIER_RESULT = "results/test/resnet/head/resnet10/seed0/metrics.json"
WEIGHTS = "results/test/pretrain/resnet10/weights.pt"
CIFAR = "results/test/data/cifar10"


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A project with both test datasets prepared, demo weights and an earlier study result."""
    root = copy_project(tmp_path_factory.mktemp("faults") / "base", studies=["resnet"])
    with contextlib.chdir(root):
        for name in ("cifar10", "pretrain_shapes"):
            assert main(["run", "data_prepare", f"name={name}", *PROFILE]) == 0
    save_torch(root / WEIGHTS, build_resnet("resnet10", 10).state_dict())
    write_json(root / EARLIER_RESULT, {"test_acc": 0.5})
    return root


# ---------------------------------------------------------------- the bad-input matrix
@dataclass
class Case:
    id: str
    argv: list[str]
    setup: Callable[[Path], None]
    says: tuple[str, ...]  # parts of the one message: what is wrong, and what to do


def param(*keys, value) -> Callable[[Path], None]:
    """Set config/test.yaml's ``keys`` path to ``value``."""
    def setup(root: Path) -> None:
        def change(cfg):
            node = cfg
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            node[keys[-1]] = value
        edit_yaml(root / "config" / "test.yaml", change)
    return setup


def folder(files: dict[str, bytes] | None) -> Callable[[Path], None]:
    """An image folder for the `photos` dataset holding ``files`` (None: the folder does not exist)."""
    def setup(root: Path) -> None:
        path = root / "my_photos"
        if files is not None:
            path.mkdir()
            for name, content in files.items():
                (path / name).write_bytes(content)
        param("data", "photos", value={"kind": "imagefolder", "source": "local", "path": str(path)})(root)
    return setup


def damage(relpath: str, how: str) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        path = root / relpath
        if how == "delete":
            shutil.rmtree(path)
        elif how == "truncate":
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        elif how == "flip":
            data = bytearray(path.read_bytes())
            data[-1] ^= 0xFF
            path.write_bytes(bytes(data))
        elif how == "garbage":
            path.write_bytes(b"this is not a checkpoint")
    return setup


def s1_weights(spec: str) -> Callable[[Path], None]:
    """S1's baseline weights, stated alike in resnet.weights and its resnet.depth entry (the plan requires both to agree)."""
    def setup(root: Path) -> None:
        def change(cfg):
            cfg["resnet"]["weights"] = spec
            for model in cfg["resnet"]["depth"]["models"]:
                if model["arch"] == cfg["resnet"]["arch"]:
                    model["weights"] = spec
        edit_yaml(root / "config" / "test.yaml", change)
    return setup


def other_arch_weights(root: Path) -> None:
    save_torch(root / WEIGHTS, build_resnet("resnet18", 10).state_dict())


def invalid_yaml(root: Path) -> None:
    (root / "config" / "test.yaml").write_text("profile: test\nresnet: [unclosed\n")


FEATURES = ["run", "resnet_features", "variant=resnet10", *PROFILE]
HEAD = ["run", "resnet_head", "variant=resnet10", "seed=0", *PROFILE]
VALIDATE = ["validate", *PROFILE]
CASES = [
    # params: types, names, sizes, sweeps
    Case("wrong_type", HEAD, param("resnet", "head", "epochs", value="five"),
         ("resnet.head.epochs", "wrong type", "integer")),
    Case("unknown_key", HEAD, param("resnet", "learning_rate", value=0.1), ("unknown key(s) ['learning_rate']", "allowed:")),
    Case("unknown_model", HEAD, param("resnet", "arch", value="resnet999"),
         ("resnet.arch", "'resnet999' is not one of the allowed values", "resnet18")),
    Case("unknown_study", VALIDATE, param("studies", value=["resnet", "transformerz"]), ("studies.1", "'transformerz'", "allowed values")),
    Case("unknown_dataset", HEAD, param("resnet", "data", value="imagenet"), ("resnet.data", "'imagenet' is not defined", "cifar10")),
    Case("negative_size", ["run", "data_prepare", "name=cifar10", *PROFILE], param("data", "cifar10", "train_size", value=-5),
         ("data.cifar10.train_size", "minimum of 1")),
    Case("zero_batch", HEAD, param("resnet", "batch_size", value=0), ("resnet.batch_size", "minimum of 1")),
    Case("empty_seed_sweep", HEAD, param("resnet", "seeds", value=[]), ("resnet.seeds", "should be non-empty")),
    Case("empty_method_sweep", HEAD, param("resnet", "hierarchy", "methods", value=[]), ("resnet.hierarchy.methods", "non-empty")),
    Case("impossible_patch_size", VALIDATE, param("cifar_arch", "models", "mixer", "patch_size", value=5),
         ("cifar_arch.models.mixer.patch_size", "allowed values [1, 2, 4, 8, 16, 32]")),
    Case("subset_larger_than_dataset", ["run", "resnet_strategy", "strategy=last_block", "seed=0", *PROFILE],
         param("resnet", "strategies", "train_size", value=100000), ("100000 train images", "lower the study's subset size")),
    Case("projection_larger_than_test_set", ["run", "resnet_hierarchy", *PROFILE], param("resnet", "hierarchy", "n_images", value=100000),
         ("resnet.hierarchy.n_images=100000", "larger than the")),
    Case("validation_larger_than_train", ["run", "data_prepare", "name=cifar10", *PROFILE], param("data", "cifar10", "val_size", value=100000),
         ("validation takes 100000", "lower data.cifar10.val_size")),
    Case("invalid_yaml", VALIDATE, invalid_yaml, ("config/test.yaml is not valid YAML",)),
    Case("unknown_profile", ["validate", "--profile", "nope"], lambda root: None, ("unknown profile 'nope'", "'test'")),
    Case("variant_not_in_profile", ["run", "resnet_head", "variant=resnet50", "seed=0", *PROFILE], lambda root: None,
         ("no resnet_head job with", "variant=resnet10")),
    Case("weights_spec_of_unknown_form", HEAD, param("resnet", "weights", value="timm:resnet50"),
         ("resnet.weights", "is not of the form", "torchvision:<arch>:<WEIGHTS>")),
    # data: missing, truncated, wrong checksum, empty folder, non-image files
    Case("dataset_not_prepared", FEATURES, damage(CIFAR, "delete"),
         ("cifar10/meta.json is missing", "input `data` of resnet_features",
          "`snakemake results/test/data/cifar10/meta.json --configfile config/test.yaml`")),
    Case("truncated_array", FEATURES, damage(f"{CIFAR}/train_x.npy", "truncate"), ("does not match its checksum", "rerun the data_prepare job")),
    Case("wrong_checksum", FEATURES, damage(f"{CIFAR}/test_y.npy", "flip"), ("test_y.npy", "does not match its checksum")),
    Case("truncated_meta", FEATURES, damage(f"{CIFAR}/meta.json", "truncate"), ("meta.json is not valid JSON", "rerun the data_prepare job")),
    Case("empty_image_folder", ["run", "data_prepare", "name=photos", *PROFILE], folder({}), ("holds no images (0 other files)", "add .png/.jpg")),
    Case("non_image_files", ["run", "data_prepare", "name=photos", *PROFILE], folder({"notes.txt": b"hi", "table.csv": b"a,b"}),
         ("holds no images (2 other files)", "add .png/.jpg")),
    Case("image_that_is_not_an_image", ["run", "data_prepare", "name=photos", *PROFILE], folder({"cat.png": b"not a png"}),
         ("cat.png is not a readable image", "remove or replace it")),
    Case("image_folder_missing", ["run", "data_prepare", "name=photos", *PROFILE], folder(None), ("my_photos does not exist", "create it")),
    Case("local_dataset_missing", ["run", "data_prepare", "name=cifar10", *PROFILE], param("data", "cifar10", value={"source": "local", "path": "nowhere"}),
         ("cifar10 is missing or corrupt under nowhere", "source: local")),
    # weights: unknown spec, missing file, not fetched, damaged
    Case("unknown_weights_kind", ["fetch-weights", "timm:resnet50"], lambda root: None,
         ("unknown weights spec 'timm:resnet50'", "torchvision:resnet152:IMAGENET1K_V1")),
    Case("malformed_weights_spec", ["fetch-weights", "torchvision:resnet18"], lambda root: None,
         ("malformed weights spec", "needs 2")),
    Case("unknown_torchvision_weights", ["fetch-weights", "torchvision:resnet18:IMAGENET9K"], lambda root: None,
         ("no weights 'IMAGENET9K' for 'resnet18'",)),
    Case("weights_file_missing", FEATURES, s1_weights("file:results/test/pretrain/resnet10/nope.pt"),
         ("weights file results/test/pretrain/resnet10/nope.pt does not exist", "train or copy it")),
    Case("weights_not_fetched", ["run", "resnet_features", "variant=resnet18", *PROFILE],
         lambda root: (param("resnet", "arch", value="resnet18")(root),
                       s1_weights("torchvision:resnet18:IMAGENET1K_V1")(root)),
         ("torchvision:resnet18:IMAGENET1K_V1 are not in", "fetch-weights")),
    Case("weights_file_damaged", FEATURES, damage(WEIGHTS, "garbage"), ("cannot be read", "retrain it or copy it again")),
    Case("weights_of_another_arch", FEATURES, other_arch_weights, ("is not a resnet10 state dict",)),
]


def test_the_matrix_covers_params_data_and_weights():
    assert len(CASES) >= 20 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_fails_early_with_one_clear_message(case, base, tmp_path, monkeypatch, capsys):
    root = tmp_path / "project"
    shutil.copytree(base, root, symlinks=True)
    monkeypatch.chdir(root)
    case.setup(root)
    before = _snapshot(root)
    code = main(case.argv)
    err = capsys.readouterr().err
    assert code != 0
    assert err.count(": error: ") == 1 and "Traceback" not in err, err
    message = err.split(": error: ", 1)[1]
    for part in case.says:
        assert part in message, f"{part!r} not in: {message}"
    assert _snapshot(root) == before, "the failed command changed, created or deleted files"


def test_snakemake_refuses_bad_params_before_any_job(base, tmp_path):
    root = tmp_path / "project"
    shutil.copytree(base, root, symlinks=True)
    param("resnet", "head", "epochs", value="five")(root)
    before = _snapshot(root)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", "config/test.yaml"],
                          cwd=root, capture_output=True, text=True, env=ENV, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "resnet.head.epochs: 'five' has the wrong type (expected integer)" in out
    assert "rule " not in out  # no job was scheduled
    assert {k: v for k, v in _snapshot(root).items() if not k.startswith(".snakemake")} == before


def _snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (not following the src symlink), but the identity files the plan
    keeps for itself (results/<profile>/.identity, archlab.workflow.freshness: what each job would receive now)."""
    out = {}
    for dirpath, _, files in os.walk(root):
        if "/.identity" in dirpath:
            continue
        for name in files:
            path = Path(dirpath) / name
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


# ---------------------------------------------------------------- interruption
def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"acc": 1})
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text('{"acc": ')  # half-written when the run is interrupted
            raise KeyboardInterrupt
    assert read_json(target) == {"acc": 1} and list(tmp_path.iterdir()) == [target]


EPOCHS, KILL_AFTER = 5, 2


def _pretrain(root: Path) -> subprocess.Popen:
    """The demo pretraining stage as Snakemake runs it; its output goes to <root>/pretrain.log."""
    cmd = [sys.executable, "-m", "archlab", "run", "pretrain", "arch=resnet10", *PROFILE, "--threads", "1"]
    with open(root / "pretrain.log", "a") as log:
        return subprocess.Popen(cmd, cwd=root, env=ENV, stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.timeout(600)
def test_killed_training_resumes_to_the_uninterrupted_result(base, tmp_path):
    runs = {}
    for name in ("killed", "straight"):
        runs[name] = tmp_path / name
        shutil.copytree(base, runs[name], symlinks=True)
        param("pretrain", "epochs", value=EPOCHS)(runs[name])
    out = runs["killed"] / "results/test/pretrain/resnet10"
    (out / "weights.pt").unlink()  # the base's stand-in weights are what this run produces
    proc = _pretrain(runs["killed"])
    deadline = time.monotonic() + 300
    while not _epochs_done(out / "history.csv") >= KILL_AFTER:
        assert proc.poll() is None, "the run ended before it could be killed: " + (runs["killed"] / "pretrain.log").read_text()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "weights.pt").exists() and _epochs_done(out / "history.csv") < EPOCHS

    assert _pretrain(runs["killed"]).wait(timeout=300) == 0, (runs["killed"] / "pretrain.log").read_text()
    assert f"resuming {out.relative_to(runs['killed'])} after epoch" in (runs["killed"] / "pretrain.log").read_text()
    assert _pretrain(runs["straight"]).wait(timeout=300) == 0, (runs["straight"] / "pretrain.log").read_text()

    ref = runs["straight"] / "results/test/pretrain/resnet10"
    history = pd.read_csv(out / "history.csv")
    assert history["epoch"].tolist() == list(range(1, EPOCHS + 1))
    timing = ["epoch_seconds"]
    pd.testing.assert_frame_equal(history.drop(columns=timing), pd.read_csv(ref / "history.csv").drop(columns=timing))
    ours, theirs = (torch.load(d / "weights.pt", weights_only=True) for d in (out, ref))
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    assert read_json(out / "metrics.json") == read_json(ref / "metrics.json")


def _epochs_done(history: Path) -> int:
    try:
        return len(pd.read_csv(history))
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return 0
