"""S3 jobs on the tiny test profile: classifier → every run → section, resume and rerun, and early params errors."""
import copy
import re
import shutil

import pytest
import yaml

from archlab.cli import main
from archlab.config import load_params
from archlab.errors import ParamsError
from archlab.io import read_json
from archlab.workflow.pipeline import Paths, Pipeline
from archlab.workflow.provenance import read_run_params
from conftest import ROOT, copy_params

RUNS = ["baseline", "vanishing", "vanishing_mitigated", "collapse", "collapse_mitigated", "overfit", "overfit_mitigated"]


def gan_only(root):
    """A scratch root whose test profile runs S3 alone."""
    copy_params(root)
    path = root / "config/test.yaml"
    path.write_text(re.sub(r"(?m)^studies:.*$", "studies: [gan]", path.read_text()))
    return root


@pytest.fixture(scope="module")
def test_root(tmp_path_factory):
    root = gan_only(tmp_path_factory.mktemp("gan_test"))
    cfg = load_params("test", root)["gan"]
    assert run(root, "data_prepare", f"name={cfg['data']}") == 0
    return root


def run(root, rule, *wildcards) -> int:
    return main(["run", rule, *wildcards, "--profile", "test", "--root", str(root), "--threads", "1"])


def test_jobs_build_the_section_from_every_run(test_root):
    cfg = load_params("test", test_root)
    pipeline = Pipeline(cfg, Paths("test"))
    assert [j.wildcards["run"] for j in pipeline.jobs_of("gan_train")] == RUNS
    assert run(test_root, "gan_classifier") == 0
    for name in RUNS:
        assert run(test_root, "gan_train", f"run={name}") == 0
    out = test_root / "results/test/gan"
    ran = read_run_params(out / "runs/overfit/params.json")  # one job per run, all its seeds
    assert ran["config"]["train_size"] == cfg["gan"]["scenarios"]["overfit"]["pathology"]["train_size"]
    assert len((out / "runs/overfit/seed0/history.csv").read_text().splitlines()) == cfg["gan"]["baseline"]["epochs"] + 1
    assert ran["seeds"] == cfg["gan"]["seeds"] and (out / "runs/overfit/seed0/summary.json").exists()
    assert not list(out.glob("runs/**/checkpoint*.pt"))  # the runner removes finished runs' checkpoints
    assert run(test_root, "gan_section") == 0
    section = read_json(out / "section/section.json")
    captions = [b.get("caption", "") for b in section["blocks"]]
    assert any(c.startswith("The number that shows each pathology") for c in captions)
    assert any("published by the source reports" in c for c in captions)
    assert sum(b["kind"] == "figure" for b in section["blocks"]) == 7
    assert all(b["path"].startswith("results/test/gan/section/") for b in section["blocks"] if b["kind"] == "figure")
    # the setting line describes what ran (the baseline run's params.json), not params.yaml
    assert f"{cfg['gan']['baseline']['epochs']} epochs" in section["setting"]
    metrics = read_json(test_root / "metrics/test/gan.json")
    assert {"vanishing_g_grad_norm", "collapse_class_coverage", "classifier_test_acc"} <= set(metrics)


def test_a_run_resumed_after_its_last_epoch_writes_every_output(tmp_path, monkeypatch, capsys):
    """A job that dies after training (checkpoint of the last epoch left behind) must still finish on rerun."""
    import archlab.studies.gan.jobs as jobs

    root = gan_only(tmp_path)
    assert run(root, "data_prepare", "name=mnist") == 0
    assert run(root, "gan_classifier") == 0
    real_write_npz = jobs.write_npz

    def crash(*args, **kwargs):
        raise RuntimeError("killed after the last epoch")

    monkeypatch.setattr(jobs, "write_npz", crash)
    with pytest.raises(RuntimeError):
        run(root, "gan_train", "run=baseline")
    out = root / "results/test/gan/runs/baseline/seed0"
    assert (out.parent / "checkpoint.pt").exists()  # the job's, for all its seeds
    (out / "history.csv").unlink()  # what Snakemake does with a failed job's outputs
    monkeypatch.setattr(jobs, "write_npz", real_write_npz)
    capsys.readouterr()
    assert run(root, "gan_train", "run=baseline") == 0
    assert "resuming" in capsys.readouterr().err
    epochs = load_params("test", root)["gan"]["baseline"]["epochs"]
    assert len((out / "history.csv").read_text().splitlines()) == epochs + 1
    assert (out / "grids.npz").exists() and (out / "summary.json").exists() and (out.parent / "params.json").exists()
    assert not (out.parent / "checkpoint.pt").exists()

    # a probe-classifier change makes it another run: an interrupted run's checkpoint is not resumed
    monkeypatch.setattr(jobs, "write_npz", crash)
    with pytest.raises(RuntimeError):
        run(root, "gan_train", "run=baseline")
    monkeypatch.setattr(jobs, "write_npz", real_write_npz)
    config = root / "config/test.yaml"
    config.write_text(config.read_text().replace("classifier: {epochs: 1,", "classifier: {epochs: 2,"))
    assert run(root, "gan_classifier") == 0
    capsys.readouterr()
    assert run(root, "gan_train", "run=baseline") == 0
    err = capsys.readouterr().err
    assert "resuming" not in err and "different run" in err
    assert len((out / "history.csv").read_text().splitlines()) == epochs + 1

    # a forced rerun of a finished run trains for real (nothing is left to "resume")
    assert run(root, "gan_train", "run=baseline") == 0
    err = capsys.readouterr().err
    assert "resuming" not in err
    assert len((out / "history.csv").read_text().splitlines()) == epochs + 1


def test_unknown_run_is_rejected_before_any_work(test_root):
    assert run(test_root, "gan_train", "run=collapse_fixed") == 2


def test_a_misspelt_override_is_a_params_error(tmp_path):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["gan"]["scenarios"]["collapse"]["mitigation"] = {"d_step": 2}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ParamsError, match="d_step"):
        load_params("test", tmp_path)


@pytest.fixture(scope="module")
def base_cfg(tmp_path_factory):
    return load_params("test", gan_only(tmp_path_factory.mktemp("gan_cfg")))


def _edit(cfg, change):
    cfg = copy.deepcopy(cfg)
    change(cfg["gan"], cfg)
    return cfg


@pytest.mark.parametrize("change, key", [
    (lambda g, c: g.update(seeds=[0, 0]), "gan.seeds"),
    (lambda g, c: g.update(data="mnist2"), "gan.data"),
    (lambda g, c: g["scenarios"]["collapse"].update(mitigation={"lr_g": 2.0e-3}), "gan.scenarios.collapse.mitigation"),
    (lambda g, c: g["scenarios"]["overfit"].update(pathology={"epochs": g["baseline"]["epochs"]}),
     "gan.scenarios.overfit.pathology"),
    (lambda g, c: g["eval"].update(summary_epochs=g["baseline"]["epochs"] + 1), "gan.eval.summary_epochs"),
    (lambda g, c: g["scenarios"]["overfit"]["pathology"].update(train_size=g["baseline"]["batch_size"] - 1),
     "gan.scenarios.overfit.pathology.train_size"),
], ids=["seeds", "data", "mitigation", "pathology", "summary_epochs", "train_size"])
def test_plan_checks_name_the_key(base_cfg, change, key):
    Pipeline(base_cfg, Paths("test"))  # the unchanged params pass
    with pytest.raises(ParamsError, match=re.escape(key)):
        Pipeline(_edit(base_cfg, change), Paths("test"))
