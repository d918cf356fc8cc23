"""Smoke tests of the benchmarks (bench/) at tiny sizes, plus the parts with a known answer.

The benchmarks themselves are not part of `make test` (`make bench` runs them at full size).
"""
from __future__ import annotations

import json
import math
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ROOT

sys.path.insert(0, str(ROOT))  # bench/ is a folder of the checkout, not part of the installed package
from bench import appendix, data_path, gpu_throughput, head_cache, mutual_info, noop_rerun  # noqa: E402
from bench.__main__ import main as bench_main  # noqa: E402


def _last_line(capsys) -> str:
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_head_cache_reaches_the_same_accuracy_and_is_faster(capsys):
    r = head_cache.main(["--train", "64", "--val", "32", "--epochs", "2", "--arch", "resnet10", "--size", "16",
                         "--batch-size", "32"])
    # Same backbone, head init, shuffle order and optimizer: at most one image of 32 may flip by rounding.
    assert r["max_val_acc_gap"] <= 1 / 32 + 1e-9
    assert len(r["cached_val_acc"]) == len(r["naive_val_acc"]) == 2
    assert r["speedup"] > 1  # the naive loop runs the backbone every epoch
    assert _last_line(capsys).startswith("==> head training")


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
                                        "mutual_info"))
    assert bench_main(["nonsense"]) == 2
