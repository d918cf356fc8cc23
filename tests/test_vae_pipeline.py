"""S4 stages on the demo profile's own settings: the collapse-configured run really collapses more
than the annealed one, and the params checks the schema cannot express stop bad runs early."""

import pytest
import yaml

from archlab.cli import main
from archlab.config import load_params
from archlab.errors import ParamsError
from archlab.io import read_json
from archlab.stages.vae import check_runs
from conftest import ROOT, copy_params


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    return copy_params(tmp_path_factory.mktemp("vae_demo"))


@pytest.mark.slow
def test_demo_collapse_run_has_fewer_active_units_than_the_annealed_run(demo_root):
    cfg = load_params("demo", demo_root)["vae"]
    collapse, annealed = cfg["roles"]["collapse"], cfg["roles"]["annealed"]
    assert main(["data", cfg["data"], "--profile", "demo", "--root", str(demo_root)]) == 0
    au = {}
    for run in (collapse, annealed):
        assert main(["vae", "train", run, "--profile", "demo", "--root", str(demo_root), "--threads", "1"]) == 0
        run_dir = demo_root / "results/demo/vae/runs" / run / f"seed{cfg['seeds'][0]}"
        metrics = read_json(run_dir / "metrics.json")
        au[run] = metrics["diagnostics"]["active_units"]
        assert (run_dir / "model.pt").exists() and not (run_dir / "checkpoint.pt").exists()
        assert len((run_dir / "history.csv").read_text().splitlines()) == cfg["epochs"] + 1
    assert au[collapse] < au[annealed], au
    assert metrics["final_beta"] == pytest.approx(1.0)


def _full_vae(**changes) -> dict:
    cfg = yaml.safe_load((ROOT / "params.yaml").read_text())["vae"]
    return {**cfg, **changes}


def test_only_the_collapse_run_may_end_below_beta_one():
    cfg = _full_vae()
    assert set(check_runs(cfg)) == {r["name"] for r in cfg["runs"]}
    early_stop = {"name": "short_warmup", "schedule": {"kind": "constant", "beta": 0.5}}
    with pytest.raises(ParamsError, match="short_warmup.*ends at β = 0.5"):
        check_runs(_full_vae(runs=[*cfg["runs"], early_stop]))
    with pytest.raises(ParamsError, match="roles.annealed"):
        check_runs(_full_vae(roles={**cfg["roles"], "annealed": "sigmoid"}))
    with pytest.raises(ParamsError, match="unique"):
        check_runs(_full_vae(runs=[*cfg["runs"], cfg["runs"][0]]))
