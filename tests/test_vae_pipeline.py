"""S4 jobs on real profiles: the collapse-configured run really collapses more than the annealed one,
a run resumed after its last epoch still writes every output, and the params checks the schema cannot
express stop bad runs before any job (in the plan, which ``snakemake -n`` builds)."""

import copy
import re

import pytest
import yaml

from archlab.cli import main
from archlab.config import load_params
from archlab.errors import ParamsError
from archlab.io import read_json
from archlab.workflow.pipeline import Paths, Pipeline
from conftest import ROOT, copy_params


def _vae_root(root, profile: str):
    """A scratch params root whose profile runs S4 only (other studies' plans are not needed)."""
    copy_params(root)
    config = root / "config" / f"{profile}.yaml"
    config.write_text(re.sub(r"(?m)^studies: .*$", "studies: [vae]", config.read_text()))
    return root


def _run(root, profile: str, rule: str, *wildcards: str) -> None:
    assert main(["run", rule, *wildcards, "--profile", profile, "--root", str(root), "--threads", "1"]) == 0


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    return _vae_root(tmp_path_factory.mktemp("vae_demo"), "demo")


@pytest.mark.slow
def test_demo_collapse_run_has_fewer_active_units_than_the_annealed_run(demo_root):
    cfg = load_params("demo", demo_root)["vae"]
    collapse, annealed = cfg["roles"]["collapse"], cfg["roles"]["annealed"]
    _run(demo_root, "demo", "data_prepare", f"name={cfg['data']}")
    au = {}
    for run in (collapse, annealed):
        _run(demo_root, "demo", "vae_train", f"run={run}", f"seed={cfg['seeds'][0]}")
        run_dir = demo_root / "results/demo/vae/runs" / run / f"seed{cfg['seeds'][0]}"
        metrics = read_json(run_dir / "metrics.json")
        au[run] = metrics["diagnostics"]["active_units"]
        assert (run_dir / "model.pt").exists() and not (run_dir / "checkpoint.pt").exists()
        assert read_json(run_dir / "params.json")["params"]["run"] == run
        assert len((run_dir / "history.csv").read_text().splitlines()) == cfg["epochs"] + 1
    assert au[collapse] < au[annealed], au
    assert metrics["final_beta"] == pytest.approx(1.0)


def test_a_run_resumed_after_its_last_epoch_writes_every_output(tmp_path, monkeypatch):
    """Killed after the last epoch's checkpoint but before its outputs: the rerun trains nothing and
    still writes history.csv, model.pt and metrics.json, the same as the uninterrupted run's."""
    import archlab.workflow.runner

    root = _vae_root(tmp_path, "test")
    cfg = load_params("test", root)["vae"]
    _run(root, "test", "data_prepare", f"name={cfg['data']}")
    run_dir = root / "results/test/vae/runs/baseline/seed0"
    monkeypatch.setattr(archlab.workflow.runner, "CHECKPOINT_GLOB", "no-such-file")  # keep the last checkpoint, as a kill would
    _run(root, "test", "vae_train", "run=baseline", "seed=0")
    assert (run_dir / "checkpoint.pt").exists()
    fresh = {name: (run_dir / name).read_bytes() for name in ("history.csv", "metrics.json")}
    for name in ("history.csv", "metrics.json", "model.pt", "params.json"):
        (run_dir / name).unlink()
    monkeypatch.undo()
    _run(root, "test", "vae_train", "run=baseline", "seed=0")
    assert {name: (run_dir / name).read_bytes() for name in fresh} == fresh
    assert (run_dir / "model.pt").exists() and (run_dir / "params.json").exists()
    assert not (run_dir / "checkpoint.pt").exists()


def _test_cfg() -> dict:
    cfg = copy.deepcopy(load_params("test", ROOT))
    cfg["studies"] = ["vae"]
    return cfg


def test_the_test_profile_plan_is_accepted():
    jobs = Pipeline(_test_cfg(), Paths("test")).jobs_of("vae_train")
    assert {j.wildcards["run"] for j in jobs} == {r["name"] for r in _test_cfg()["vae"]["runs"]}


def test_a_schedule_not_ending_at_beta_one_is_rejected_before_any_job():
    cfg = _test_cfg()
    cfg["vae"]["runs"].append({"name": "short_warmup", "schedule": {"kind": "constant", "beta": 0.5}})
    with pytest.raises(ParamsError, match=r"vae\.runs\[3\]\.schedule \(run short_warmup\).*ends at β = 0.5.*vae\.roles\.collapse"):
        Pipeline(cfg, Paths("test"))
    cfg["vae"]["roles"]["collapse"] = "short_warmup"  # the fix the message names: it is the run meant to collapse …
    cfg["vae"]["runs"][1]["schedule"] = {"kind": "constant", "beta": 1.0}  # … and the old collapse run ends at 1
    Pipeline(cfg, Paths("test"))


def test_annealing_schedules_end_at_beta_one_and_only_the_collapse_run_may_not():
    cfg = _test_cfg()
    cfg["vae"]["runs"] += [{"name": "lin", "schedule": {"kind": "linear", "ramp": 0.3, "start": 0.3}},
                           {"name": "cyc", "schedule": {"kind": "cyclical", "cycles": 3, "ratio": 0.7}}]
    Pipeline(cfg, Paths("test"))  # the collapse run keeps β = 10; the others ramp to exactly 1


def test_a_role_naming_a_renamed_run_is_rejected_before_any_job():
    cfg = _test_cfg()
    cfg["vae"]["runs"][2]["name"] = "cosine_anneal"  # renamed, but roles.annealed still says cosine
    with pytest.raises(ParamsError, match=r"vae\.roles\.annealed: 'cosine' is not a run.*set vae\.roles\.annealed"):
        Pipeline(cfg, Paths("test"))


def test_duplicate_run_names_are_rejected():
    cfg = _test_cfg()
    cfg["vae"]["runs"].append(dict(cfg["vae"]["runs"][0]))
    with pytest.raises(ParamsError, match=r"vae\.runs\[\]\.name.*more than once"):
        Pipeline(cfg, Paths("test"))


def test_full_profile_runs_pass_the_checks():
    cfg = {**_test_cfg(), "vae": yaml.safe_load((ROOT / "params.yaml").read_text())["vae"]}
    from archlab.studies.vae.plan import check

    check(cfg)
