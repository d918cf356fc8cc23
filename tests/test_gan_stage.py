"""S3 stages on the tiny test profile: classifier → every run → section, and early params errors."""
import shutil

import pytest
import yaml

from archlab.cli import main
from archlab.config import load_params
from archlab.errors import ParamsError
from archlab.io import read_json
from archlab.stages.gan import gan_runs
from conftest import ROOT, copy_params


@pytest.fixture(scope="module")
def test_root(tmp_path_factory):
    return copy_params(tmp_path_factory.mktemp("gan_test"))


def gan(root, *args) -> int:
    return main(["gan", *args, "--profile", "test", "--root", str(root), "--threads", "1"])


def test_stages_build_the_section_from_every_run(test_root):
    cfg = load_params("test", test_root)["gan"]
    runs = list(gan_runs(cfg))
    assert runs == ["baseline", "vanishing", "vanishing_mitigated", "collapse", "collapse_mitigated",
                    "overfit", "overfit_mitigated"]
    assert main(["data", cfg["data"], "--profile", "test", "--root", str(test_root)]) == 0
    assert gan(test_root, "classifier") == 0
    for run in runs:
        assert gan(test_root, "train", run) == 0
    out = test_root / "results/test/gan"
    summary = read_json(out / "runs/overfit/seed0/summary.json")
    assert summary["config"]["train_size"] == cfg["scenarios"]["overfit"]["pathology"]["train_size"]
    assert len((out / "runs/overfit/seed0/history.csv").read_text().splitlines()) == cfg["baseline"]["epochs"] + 1
    assert gan(test_root, "section") == 0
    section = read_json(out / "section.json")
    captions = [b.get("caption", "") for b in section["blocks"]]
    assert any(c.startswith("The number that shows each pathology") for c in captions)
    assert any("published by the source reports" in c for c in captions)
    assert sum(b["kind"] == "figure" for b in section["blocks"]) == 7
    metrics = read_json(test_root / "results/test/dvc/gan/metrics.json")
    assert {"vanishing_g_grad_norm", "collapse_class_coverage", "classifier_test_acc"} <= set(metrics)


def test_unknown_run_is_rejected_before_any_work(test_root):
    assert gan(test_root, "train", "collapse_fixed") == 2


def test_a_misspelt_override_is_a_params_error(tmp_path):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["gan"]["scenarios"]["collapse"]["mitigation"] = {"d_step": 2}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ParamsError, match="d_step"):
        load_params("test", tmp_path)
