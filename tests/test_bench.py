"""Smoke tests of the benchmarks (bench/) at tiny sizes, plus the parts with a known answer.

The benchmarks themselves are not part of `make test` (`make bench` runs them at full size).
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ROOT

sys.path.insert(0, str(ROOT))  # bench/ is a folder of the checkout, not part of the installed package
from bench import (appendix, data_path, gpu_suite, gpu_throughput, head_cache, job_server,  # noqa: E402
                   mutual_info, noop_rerun, optimizer_step, scheduler_rounds)
from bench.__main__ import main as bench_main  # noqa: E402


def _last_line(capsys) -> str:
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_head_cache_reaches_the_same_accuracy_and_is_faster(capsys):
    threads = torch.get_num_threads()
    r = head_cache.main(["--threads", "1", "2", "--train", "64", "--val", "32", "--epochs", "2", "--arch", "resnet10",
                         "--size", "16", "--batch-size", "32"])
    assert torch.get_num_threads() == threads  # pinned for the runs only
    assert set(r["by_threads"]) == {1, 2} and set(r["headline"]) == {1, 2}
    for run in r["by_threads"].values():
        # Same backbone, head init, shuffle order and optimizer: at most one image of 32 may flip by rounding.
        assert run["max_val_acc_gap"] <= 1 / 32 + 1e-9
        assert len(run["cached_val_acc"]) == len(run["naive_val_acc"]) == 2
        assert run["speedup"] > 1  # the naive loop runs the backbone every epoch
        # end to end counts the one-off extraction: below the head-only ratio
        assert run["speedup_with_extraction"] < run["speedup"]
        assert run["extract_cpu_s"] > 0 and run["naive_train_s"] > 0
    assert r["headline_spread"] == pytest.approx(max(r["headline"].values()) / min(r["headline"].values()) - 1)
    last = _last_line(capsys)
    assert last.startswith("==> S1 head-only transfer end to end") and "with 1 thread" in last and "with 2 threads" in last


def _write_tsv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["s", "h:m:s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in", "io_out",
                                "mean_load", "cpu_time"]).to_csv(path, sep="\t", index=False)


def test_appendix_sums_benchmark_files_per_study(tmp_path, capsys):
    bench = tmp_path / "logs" / "p" / "bench"
    _write_tsv(bench / "data" / "a.tsv", [[10.0, "0:00:10", 100, 0, 0, 0, 0, 0, 50, 4.0]])
    _write_tsv(bench / "resnet" / "head_x.tsv", [[30.0, "0:00:30", 300, 0, 0, 0, 0, 0, 50, 20.0]])
    _write_tsv(bench / "resnet" / "features_x.tsv", [[50.0, "0:00:50", 200, 0, 0, 0, 0, 0, 50, 40.0],
                                                     [70.0, "0:01:10", 250, 0, 0, 0, 0, 0, 50, 60.0]])  # repeat: 2 runs
    _write_tsv(bench / "report.tsv", [[999.0, "0:16:39", 1, 0, 0, 0, 0, 0, 50, 1.0]])  # runs after the table: left out
    table = appendix.main(["--root", str(tmp_path), "--profile", "p", "--write"])
    rows = table.set_index("study")
    assert list(table["study"]) == ["resnet", "data", "total"]  # slowest study first, total last
    assert rows.loc["resnet", "wall (s)"] == pytest.approx(30 + 60) and rows.loc["resnet", "CPU (s)"] == pytest.approx(70)
    assert rows.loc["resnet", "slowest job"] == "features_x" and rows.loc["resnet", "peak RSS (MB)"] == 300
    assert rows.loc["total", "jobs"] == 3 and rows.loc["total", "wall (s)"] == pytest.approx(100)
    section = json.loads((tmp_path / "results/p/bench/section.json").read_text())
    assert section["study"] == "bench" and section["title"] == appendix.TITLE
    assert [b["kind"] for b in section["blocks"]] == ["text", "table", "table"]
    metrics = json.loads((tmp_path / "results/p/dvc/bench/metrics.json").read_text())
    assert metrics["wall_s_total"] == pytest.approx(100) and metrics["wall_s_data"] == pytest.approx(10)
    assert "3 jobs, 100 s" in _last_line(capsys)


def _write_record(path, rule, wildcards, seconds, **usage):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"rule": rule, "wildcards": wildcards, "params": {}, "seconds": seconds, **usage}))


def test_appendix_takes_cpu_time_from_each_jobs_own_record(tmp_path, capsys):
    results, bench = tmp_path / "results" / "p", tmp_path / "logs" / "p" / "bench"
    # a short job: the sampled benchmark saw 3.85 s of CPU, its own getrusage 9.6 s
    _write_record(results / "resnet/head/r18/seed0/params.json", "resnet_head", {"variant": "r18", "seed": "0"},
                  2.0, cpu_seconds=9.6, max_rss_mb=512.0)
    _write_tsv(bench / "resnet" / "resnet_head_r18_0.tsv", [[8.0, "0:00:08", 300, 0, 0, 0, 0, 0, 50, 3.85]])
    # a record from before the fields existed: its benchmark file's CPU time counts
    _write_record(results / "resnet/features/r18/params.json", "resnet_features", {"variant": "r18"}, 30.0)
    _write_tsv(bench / "resnet" / "resnet_features_r18.tsv", [[40.0, "0:00:40", 900, 0, 0, 0, 0, 0, 50, 35.0]])
    # a rule that writes no params.json: only its benchmark file
    _write_tsv(bench / "pretrain" / "pretrain_index.tsv", [[1.0, "0:00:01", 50, 0, 0, 0, 0, 0, 50, 0.5]])
    # a job run by hand (`archlab run`): no benchmark file, its own seconds as wall time
    _write_record(results / "data/cifar10/params.json", "data_prepare", {"name": "cifar10"}, 4.0,
                  cpu_seconds=6.5, max_rss_mb=700.0)
    (results / "data/cifar10/other/params.json").parent.mkdir(parents=True)
    (results / "data/cifar10/other/params.json").write_text('{"not": "a run record"}')  # left out

    jobs = appendix.read_jobs(results, bench).set_index("job")
    assert set(jobs.index) == {"resnet/resnet_head_r18_0", "resnet/resnet_features_r18", "pretrain/pretrain_index",
                               "data/data_prepare_cifar10"}
    head = jobs.loc["resnet/resnet_head_r18_0"]
    assert (head["s"], head["cpu_time"], head["max_rss"], head["cpu_from"]) == (8.0, 9.6, 512.0, appendix.OWN)
    feats = jobs.loc["resnet/resnet_features_r18"]
    assert (feats["s"], feats["cpu_time"], feats["max_rss"], feats["cpu_from"]) == (40.0, 35.0, 900, appendix.SAMPLED)
    assert jobs.loc["pretrain/pretrain_index", "cpu_time"] == 0.5
    data = jobs.loc["data/data_prepare_cifar10"]
    assert (data["study"], data["s"], data["cpu_time"], data["cpu_from"]) == ("data", 4.0, 6.5, appendix.OWN)

    table = appendix.main(["--root", str(tmp_path), "--profile", "p", "--write"]).set_index("study")
    assert table.loc["resnet", "CPU (s)"] == pytest.approx(9.6 + 35.0) and table.loc["resnet", "peak RSS (MB)"] == 900
    assert table.loc["total", "CPU (s)"] == pytest.approx(9.6 + 35.0 + 0.5 + 6.5) and table.loc["total", "jobs"] == 4
    out = capsys.readouterr().out
    assert "2 of 4 jobs' CPU time from their own getrusage record, 2 from Snakemake's sampled benchmark file" in out
    section = json.loads((results / "bench/section.json").read_text())
    assert "getrusage" in section["setting"]
    assert json.loads((results / "dvc/bench/metrics.json").read_text())["cpu_s_total"] == pytest.approx(51.6)


def test_appendix_reports_the_start_up_share_of_the_cpu(tmp_path, capsys):
    results, bench = tmp_path / "results" / "p", tmp_path / "logs" / "p" / "bench"
    _write_record(results / "vae/a/params.json", "vae_train", {"run": "a"}, 5.0, cpu_seconds=10.0,
                  startup_cpu_seconds=6.0, max_rss_mb=1.0)  # more than half its CPU starting
    _write_record(results / "vae/b/params.json", "vae_train", {"run": "b"}, 30.0, cpu_seconds=40.0,
                  startup_cpu_seconds=4.0, max_rss_mb=1.0)
    _write_record(results / "data/x/params.json", "data_prepare", {"name": "x"}, 1.0, cpu_seconds=2.0,
                  startup_cpu_seconds=1.5, max_rss_mb=1.0)  # more than half
    # a record from before the field: its CPU is in the table but not in the share
    _write_record(results / "data/y/params.json", "data_prepare", {"name": "y"}, 9.0, cpu_seconds=20.0)
    _write_tsv(bench / "pretrain" / "pretrain_index.tsv", [[1.0, "0:00:01", 50, 0, 0, 0, 0, 0, 50, 0.5]])

    jobs = appendix.read_jobs(results, bench)
    tax = appendix.startup_share(jobs)
    assert tax["n"] == 3 and tax["heavy"] == 2
    assert tax["share"] == pytest.approx((6 + 4 + 1.5) / (10 + 40 + 2)) and tax["median_s"] == pytest.approx(4.0)
    assert jobs.set_index("job")["startup"].isna().sum() == 2  # the old record and the sampled-only job

    table = appendix.main(["--root", str(tmp_path), "--profile", "p", "--write"]).set_index("study")
    assert table.loc["total", "CPU (s)"] == pytest.approx(72.5)
    out = capsys.readouterr().out
    assert "start-up (interpreter, imports, input checksums before the job function runs) is 22% of the CPU of the 3 " \
           "jobs that record it; median 4.0 s per job; 2 of 3 jobs spend more than half their CPU starting" in out
    assert "start-up 22% of the CPU" in out.strip().splitlines()[-1]
    metrics = json.loads((results / "dvc/bench/metrics.json").read_text())
    assert metrics["startup_cpu_share"] == pytest.approx(11.5 / 52) and metrics["startup_heavy_jobs"] == 2
    assert "22% of the CPU" in json.loads((results / "bench/section.json").read_text())["blocks"][0]["text"]


def test_appendix_without_start_up_records_says_so(tmp_path, capsys):
    results = tmp_path / "results" / "p"
    _write_record(results / "data/y/params.json", "data_prepare", {"name": "y"}, 9.0, cpu_seconds=20.0)
    appendix.main(["--root", str(tmp_path), "--profile", "p"])
    assert appendix.startup_share(appendix.read_jobs(results, tmp_path / "none"))["n"] == 0
    out = capsys.readouterr().out
    assert "no job records its start-up CPU" in out and "start-up" not in out.strip().splitlines()[-1]


def _burn(job) -> None:
    """A job that spends 0.3 s of CPU time and writes its output."""
    t0 = time.process_time()
    while time.process_time() - t0 < 0.3:
        sum(range(10_000))
    Path(job.output["done"]).write_text("done")


def test_the_runner_records_each_jobs_cpu_time_and_peak_memory(tmp_path):
    import resource

    from archlab.workflow.runner import run_job

    out = {"done": str(tmp_path / "done.txt"), "params": str(tmp_path / "params.json")}
    records, threads = [], torch.get_num_threads()
    try:
        for _ in range(2):
            run_job("burn", f"{__name__}:_burn", {}, {}, out, {})
            records.append(json.loads(Path(out["params"]).read_text()))
    finally:
        torch.set_num_threads(threads)  # run_job pins the threads to the job's own
    usage = resource.getrusage(resource.RUSAGE_SELF)
    process_cpu = usage.ru_utime + usage.ru_stime  # this test process so far: torch's import alone takes seconds
    assert all(r["cpu_seconds"] >= 0.3 and r["max_rss_mb"] > 50 for r in records)
    # the second job in one process counts from the end of the first, not from the process's start
    assert records[1]["cpu_seconds"] < 0.5 * process_cpu
    # the peak of the process or of a child it waited for (earlier tests in this session may have run big ones)
    peak = max(usage.ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    assert records[0]["max_rss_mb"] <= records[1]["max_rss_mb"] <= peak / 1024 + 1
    # start-up: what ran before the job function (the 0.3 s it burns is the job's, not start-up)
    assert all(0 <= r["startup_cpu_seconds"] <= r["cpu_seconds"] - 0.3 for r in records)
    assert records[1]["startup_cpu_seconds"] < 0.3  # the job module was imported by the first job already


_SLOW_IMPORT = """
import time
t0 = time.process_time()
while time.process_time() - t0 < 0.4:  # a heavy import: 0.4 s of CPU
    sum(range(10_000))


def job(job):
    open(job.output["done"], "w").write("done")
"""


def test_the_runner_counts_the_job_modules_import_as_start_up(tmp_path, monkeypatch):
    from archlab.workflow import runner

    (tmp_path / "slow_import_job.py").write_text(_SLOW_IMPORT)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(runner, "_cpu_counted", runner._process_cpu())  # as if a job had just ended here
    out = {"done": str(tmp_path / "done.txt"), "params": str(tmp_path / "params.json")}
    threads = torch.get_num_threads()
    try:
        runner.run_job("slow", "slow_import_job:job", {}, {}, out, {})
    finally:
        torch.set_num_threads(threads)
        sys.modules.pop("slow_import_job", None)
    record = json.loads(Path(out["params"]).read_text())
    assert record["startup_cpu_seconds"] >= 0.4  # the import ran before the job function
    assert record["cpu_seconds"] >= record["startup_cpu_seconds"]


def _imported_after(code: str, modules: list[str]) -> set[str]:
    """Which of the heavy modules a fresh interpreter holds after importing ``modules`` and running ``code``."""
    heavy = ("torch", "torchvision", "torch._dynamo", "sklearn", "umap", "numba", "snakemake")
    script = ("import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n" + code +
              f"\nprint(' '.join(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", script, *modules], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return set(out.stdout.split())


def test_no_job_starts_by_importing_torchvision_sklearn_or_umap():
    """Start-up tax: a job module imports at its top only what all its jobs use; torchvision (it pulls in
    torch._dynamo: seconds of CPU), scikit-learn and UMAP are imported by the functions that use them."""
    from archlab.config import load_params
    from archlab.workflow.pipeline import Paths, Pipeline

    rules = Pipeline(load_params("test", ROOT), Paths("test")).rules.values()
    modules = sorted({"archlab.workflow.runner", *(rule.func.split(":")[0] for rule in rules)})
    heavy = _imported_after("", modules) - {"torch"}
    assert not heavy, (f"importing the job modules {modules} imports {sorted(heavy)}; find which with "
                       "`python -X importtime -c 'import <module>'` and import it inside the function that uses it")


def test_runner_and_numpy_only_jobs_start_without_torch():
    from archlab.commands import __path__ as commands

    light = ["archlab.workflow.runner", "archlab.studies.resnet.jobs",  # resnet's hierarchy and confusion read numpy arrays
             *(f"archlab.commands.{p.stem}" for p in Path(commands[0]).glob("[a-z]*.py"))]
    pinned = "import os\nfrom archlab.workflow.runner import pin_threads\npin_threads(3)\nassert os.environ['OMP_NUM_THREADS'] == '3'"
    assert _imported_after(pinned, light) == set(), f"{light}: one of them imports torch at its top"


def test_appendix_without_benchmark_files_says_what_to_run(tmp_path):
    with pytest.raises(SystemExit, match="run the demo DAG first"):
        appendix.main(["--root", str(tmp_path)])


def test_synthetic_cifar10_files_read_back_through_torchvision(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    y = np.arange(12) % 10
    cls = data_path.write_cifar10(tmp_path, x, y, [f"c{i}" for i in range(10)], n_files=5)
    ds = cls(str(tmp_path), train=True)  # torchvision's own md5 check, unpickling and reshaping
    np.testing.assert_array_equal(ds.data, x)
    assert ds.targets == y.tolist() and ds.classes == [f"c{i}" for i in range(10)]
    assert np.asarray(ds[3][0]).tolist() == x[3].tolist()  # the PIL image torchvision hands to transforms


def test_data_path_compares_the_same_transforms(capsys):
    r = data_path.main(["--images", "32", "--size", "48", "--batch-size", "16"])
    assert r["max_abs_diff"] < 0.05  # both resize bilinearly and normalise alike (PIL rounds to uint8)
    assert r["canonical_ips"] > 0 and r["torchvision_ips"] > 0
    assert _last_line(capsys).startswith("==> canonical loader")


def test_flops_per_image_is_twice_torchvisions_multiply_adds():
    import torchvision.models as tvm

    counted = gpu_throughput.flops_per_image(tvm.resnet18().eval(), 224, torch.device("cpu"))
    assert counted == pytest.approx(2e9 * tvm.ResNet18_Weights.IMAGENET1K_V1.meta["_ops"], rel=0.01)


def test_gpu_throughput_runs_every_variant_on_cpu(capsys):
    r = gpu_throughput.main(["--device", "cpu", "--arch", "resnet18", "--images", "8",
                             "--batch-size", "4", "--size", "32", "--repeats", "1", "--peak-size", "64"])
    assert set(r["images_per_s"]) == {v[0] for v in gpu_throughput.VARIANTS} | {gpu_throughput.LIBRARY}
    assert all(v > 0 for v in r["images_per_s"].values())
    assert _last_line(capsys).startswith("==> bf16 + channels_last")


def test_gpu_suite_runs_every_study_at_tiny_sizes_on_cpu(capsys):
    threads = torch.get_num_threads()
    r = gpu_suite.main(["--device", "cpu", "--peak-size", "64"])
    assert r["tiny"] and r["peak_flops"] > 0 and not r["skipped_over_budget"]
    rows = r["rows"]
    assert [row["study"].split()[0] for row in rows] == ["S1", "S1", "S2", "S3", "S4", "S5", "S6", "S6", "S6", "S7"]
    for row in rows:
        assert row["units_per_s"] > 0 and row["gflop_per_unit"] > 0, row
        assert 0 < row["fraction_of_peak"] and 0 < row["full_profile_s"] < math.inf, row
        assert row["full_profile_s"] == pytest.approx(row["full_profile_units"] / row["units_per_s"])
    assert set(gpu_suite.per_study(rows)) == {row["study"] for row in rows}
    assert torch.get_num_threads() == threads
    assert _last_line(capsys).startswith("==> 10 steps on CPU")


def test_gpu_suite_extrapolates_from_the_full_profiles_jobs():
    from archlab.config import load_params
    from archlab.workflow.pipeline import Paths, Pipeline

    cfg = load_params("full", ROOT)
    pipe = Pipeline(cfg, Paths("full"))
    dev = torch.device("cpu")
    vae, = gpu_suite.s4_steps(cfg, pipe, dev, True, ROOT)
    train = 60000 - cfg["data"][cfg["vae"]["data"]]["val_size"]  # FashionMNIST's 60 000 minus validation
    assert vae.work == len(cfg["vae"]["runs"]) * len(cfg["vae"]["seeds"]) * cfg["vae"]["epochs"] * train
    masking, = gpu_suite.s2_steps(cfg, pipe, dev, True, ROOT)
    m = cfg["vit"]["masking"]
    conditions = len(m["methods"]) * len(m["fractions"]) * (len(cfg["vit"]["seeds"]) + 1)  # random x seeds, centre once
    assert masking.work == m["n_images"] * (1 + conditions) and masking.unit == "forwards"
    ood, = gpu_suite.s7_steps(cfg, pipe, dev, True, ROOT)
    rung = next(r for r in cfg["ood"]["ladder"] if r["arch"] == "resnet50")
    seeds = len(rung.get("seeds", cfg["ood"]["seeds"]))  # one ood_train job per seed
    assert ood.work == seeds * rung["epochs"] * 40000  # CIFAR-100: 50 000 minus the 20 % validation
    assert gpu_suite.split_sizes({"val_fraction": 0.2}, "cifar100") == {"train": 40000, "val": 10000, "test": 10000}
    assert gpu_suite.split_sizes({"val_size": 500}, "stl10") == {"train": 4500, "val": 500, "test": 8000}


def test_gpu_suite_counts_flops_per_image_apart_from_a_fixed_part():
    a = torch.ones(8, 8)

    def prepare(n_max):
        def run(n):
            a @ a  # a fixed part per run: 2 * 8**3 FLOP
            for _ in range(n):
                a[:, :4] @ a[:4, :]  # 2 * 8 * 4 * 8 FLOP per image
            return n
        return run

    step = gpu_suite.Step("S0 toy", "toy", prepare, n=8, n_warm=4, work=1000, covers="toy")
    row = gpu_suite.time_step(step, torch.device("cpu"), peak=1e12, scale=1.0, tiny=True)
    assert row["gflop_per_unit"] * 1e9 == pytest.approx(2 * 8 * 4 * 8)
    assert row["timed_units"] == gpu_suite.TINY_N
    expected = (2 * 8**3 + row["timed_units"] * 2 * 8 * 4 * 8) / row["timed_s"] / 1e12
    assert row["tflop_per_s"] == pytest.approx(expected) and row["fraction_of_peak"] == pytest.approx(expected)


@pytest.mark.parametrize("n, d, active, block_entries", [
    (300, 16, 4, None),     # overlapping posteriors: many mixture terms count in each log q(z_i)
    (257, 8, 8, 257 * 7),   # row blocks of 7 with a ragged last one
    (120, 5, 5, None),      # nearly disjoint posteriors: I(x; z) close to log N
])
def test_mutual_information_matrix_form_equals_the_old_broadcast(monkeypatch, n, d, active, block_entries):
    from archlab.metrics import latent

    if block_entries is not None:
        monkeypatch.setattr(latent, "BLOCK_ENTRIES", block_entries)
    mu, logvar = mutual_info.synthetic_posteriors(n, d, seed=n, active=active)
    if active == d:
        logvar = logvar - 3.0  # sharp posteriors
    for seed in (0, 3):
        old = mutual_info.reference_mutual_information(mu, logvar, seed=seed)
        assert 0.1 < old <= math.log(n) + 1e-9
        assert latent.mutual_information(mu, logvar, seed=seed, device="cpu") == pytest.approx(old, rel=1e-6)


def test_mutual_information_of_an_input_independent_posterior_matches_the_old_one_near_zero():
    mu, logvar = np.zeros((64, 6), np.float32), np.zeros((64, 6), np.float32)
    from archlab.metrics.latent import mutual_information

    old = mutual_info.reference_mutual_information(mu, logvar)
    assert abs(old) < 1e-12 and mutual_information(mu, logvar) == pytest.approx(old, abs=1e-12)


def test_mutual_info_benchmark_at_a_tiny_size(capsys):
    r = mutual_info.main(["--n", "200", "--d", "8"])
    assert r["relative_difference"] < 1e-6 and r["old_s"] > 0 and r["new_s"] > 0
    assert _last_line(capsys).startswith("==> mutual information at N = 200, d = 8")


def test_optimizer_step_benchmark_compares_the_same_update(capsys):
    r = optimizer_step.main(["--steps", "2", "--repeats", "1"])
    assert set(r["models"]) == {"S3 GAN (3 D-steps + 1 G-step)", "S4 VAE"}
    for m in r["models"].values():
        assert m["loop_s"] > 0 and m["fused_s"] > 0
        assert m["one_step_difference"] < 1e-4  # one step from the same weights: rounding only (lr is 1e-3-2e-3)
    assert _last_line(capsys).startswith("==> fused optimizer step on the CPU: S3 GAN")


def test_cpu_pin_benchmark_runs_each_side_on_its_own_kernels(capsys):
    from bench import cpu_pin as cpu_pin_bench

    r = cpu_pin_bench.main(["--steps", "2", "--repeats", "1"])
    assert all(t > 0 for side in r["medians"].values() for t in side.values())
    assert set(r["cost"]) == {"gan", "vae"}
    assert _last_line(capsys).startswith("==> pinning to AVX2 costs GAN")
    if " avx512f" in Path("/proc/cpuinfo").read_text():  # the native side really ran other kernels
        assert r["native_capability"] == "AVX512"


def test_batched_seeds_benchmark_checks_the_seeds_end_identical(capsys):
    from bench import batched_seeds

    r = batched_seeds.main(["--seeds", "2", "--images", "64", "--epochs", "1", "--repeats", "1"])
    assert r["seeds"] == 2 and all(t > 0 for t in r["medians"].values())
    assert _last_line(capsys).startswith("==> 2 GAN seeds trained at once")


def test_dropping_snakemakes_default_rate_limit_leaves_one_round_per_job_end(capsys):
    r = scheduler_rounds.main(["--jobs", "8", "--seconds", "1", "--inputs", "3"])
    # Without the limiter Snakemake only reschedules when a job ends; with it, every round that leaves
    # jobs waiting sets off another chain of one-second rounds (8 jobs, 2 cores: 4 s of waiting jobs).
    assert r["limit_dropped"]["rounds"] <= 8 + 1
    assert r["default_limit"]["rounds"] > r["limit_dropped"]["rounds"]
    assert _last_line(capsys).startswith("==> scheduling rounds")


def test_job_server_bench_times_both_ways_of_starting_a_job(capsys):
    """One job each way: a new process imports torch & co.; a fork of the server has them (no ratio asserted:
    timings on a shared machine are the benchmark's output, not a test's)."""
    r = job_server.main(["--jobs", "1"])
    assert r["fresh_s"] > 0 and r["forked_s"] > 0 and r["demo_jobs"] > 0
    assert r["demo_saving_s"] == pytest.approx(r["saving_per_job_s"] * r["demo_jobs"])
    assert _last_line(capsys).startswith("==> per job: new process")


def test_a_rate_limit_the_user_chose_is_kept():
    from types import SimpleNamespace

    from archlab.workflow.execution.local_scheduling import applies, drop_default_rate_limit

    assert applies("9.27.1") and not applies("10.0.0")  # a private attribute: only on the versions checked

    chosen = SimpleNamespace(job_rate_limiter=SimpleNamespace(max_jobs=10, timespan=60))
    assert not drop_default_rate_limit(chosen) and chosen.job_rate_limiter is not None
    default = SimpleNamespace(job_rate_limiter=SimpleNamespace(max_jobs=100, timespan=1))
    assert drop_default_rate_limit(default) and default.job_rate_limiter is None
    assert not drop_default_rate_limit(SimpleNamespace(job_rate_limiter=None))  # dry runs have none


@pytest.mark.slow
def test_noop_rerun_on_one_dataset(tmp_path, capsys):
    r = noop_rerun.main(["--profile", "test", "--scope", "data", "--workdir", str(tmp_path)])
    assert r["snakemake_jobs"] == 1 and r["dvc_stages"] == 1 and r["dvc_targets"] == ["data@test"]
    assert r["snakemake_cpu"] > 0 and r["dvc_cpu"] > 0
    assert (tmp_path / "dvc.lock").exists()  # written in the scratch copy, never in the checkout
    assert _last_line(capsys).startswith("==> no-op rerun (test profile)")


def test_bench_cli_lists_the_benchmarks(capsys):
    assert bench_main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("head_cache", "noop_rerun", "appendix", "data_path", "gpu_throughput",
                                        "mutual_info", "gpu_suite", "optimizer_step", "scheduler_rounds",
                                        "cpu_pin", "batched_seeds"))
    assert bench_main(["nonsense"]) == 2
