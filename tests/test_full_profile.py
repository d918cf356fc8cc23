"""The full profile on a real cluster: no key accepted and ignored, weights checked in their cache, offline
fetch from a present cache, a report banner that names the profile's data."""
import pytest

from archlab.cli import main

from conftest import copy_params


@pytest.mark.parametrize("entry, key", [
    ("cifar10: {source: torchvision, download: true, val_size: 5000, seed: 0, classes: 5}", "classes"),
    ("cifar10: {source: torchvision, download: true, val_size: 5000, seed: 0, image_size: 64}", "image_size"),
    ("mnist: {source: digits, val_size: 100, shape_offset: 3}", "shape_offset"),
    ("spare: {kind: cifar10, source: synthetic, train_size: 100, test_size: 50, val_size: 20, path: /data/x}", "path"),
])
def test_a_key_the_source_ignores_is_refused_at_validate(tmp_path, capsys, entry, key):
    root = copy_params(tmp_path / "p")
    (root / "config" / "x.yaml").write_text(f"profile: x\ndata:\n  {entry}\n")
    assert main(["validate", "--profile", "x", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    name = entry.split(":")[0]
    assert len(err.strip().splitlines()) == 1
    assert f"data.{name}.{key}=" in err and "has no effect on source" in err and f"remove data.{name}.{key}" in err


def test_the_keys_a_source_reads_still_validate(tmp_path, capsys):
    root = copy_params(tmp_path / "p")
    (root / "config" / "x.yaml").write_text(
        "profile: x\ndata:\n  spare: {kind: cifar10, source: synthetic, train_size: 100, test_size: 50, val_size: 20, classes: 5, image_size: 16, "
        "shape_offset: 2}\n")
    assert main(["validate", "--profile", "x", "--root", str(root)]) == 0, capsys.readouterr().err
