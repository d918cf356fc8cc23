"""A job run by hand is the same job: `archlab run` and Snakemake write byte-identical files, so a hand
run neither reruns anything downstream nor is rerun itself."""
import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT / "src")}
DATA = "results/test/data/mnist"
TARGET = "results/test/gan/classifier/metrics.json"  # gan_classifier: reads the prepared mnist's meta.json


def _run(*args, cwd):
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, env=ENV, timeout=600)


def test_a_hand_run_job_leaves_nothing_for_snakemake_to_do(project):
    built = _run("snakemake", "--cores", "1", TARGET, "--configfile", "config/test.yaml", cwd=project)
    assert built.returncode == 0, built.stderr[-3000:]
    meta = (project / DATA / "meta.json").read_bytes()
    by_snakemake = json.loads((project / DATA / "params.json").read_text())
    hand = _run("archlab", "run", "data_prepare", "name=mnist", "--profile", "test", cwd=project)
    assert hand.returncode == 0, hand.stderr[-3000:]
    assert (project / DATA / "meta.json").read_bytes() == meta  # the file the classifier reads, byte for byte
    by_hand = json.loads((project / DATA / "params.json").read_text())
    assert json.dumps(by_hand["params"]) == json.dumps(by_snakemake["params"])  # same keys in the same order
    assert by_hand["identity"] == by_snakemake["identity"]
    plan = _run("snakemake", "-n", TARGET, "--configfile", "config/test.yaml", cwd=project)
    assert plan.returncode == 0 and "Nothing to be done" in plan.stdout + plan.stderr, plan.stdout[-3000:]
