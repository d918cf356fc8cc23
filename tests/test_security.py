"""Nothing from config is executed and nothing from a results folder is unpickled; non-finite numbers are
refused before any job (issue 23)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import yaml

from archlab.config import load_params
from archlab.errors import ParamsError
from conftest import ROOT, copy_params

INJECTION = "hf:x' || touch PWNED || echo '"
CODE = [ROOT / "Snakefile", *(ROOT / "workflow").rglob("*.smk"), *(ROOT / "workflow").rglob("*.py"),
        *(ROOT / "src").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]


def _hits(pattern: str) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{n}: {line.strip()}" for path in CODE
            for n, line in enumerate(path.read_text().splitlines(), 1) if re.search(pattern, line)]


def test_no_shell_strings_and_no_unsafe_unpickling_in_the_tree():
    assert not _hits(r"shell\s*=\s*True"), "run commands as argument lists"
    assert not _hits(r"weights_only\s*=\s*False"), "load with weights_only=True: results folders travel"


def test_every_value_in_a_shell_rule_is_quoted():
    """Snakemake's `:q` shell-quotes a value; an unquoted {params.x}/{input}/{output}/{log} could be a path
    with a space or a config value with shell metacharacters."""
    unquoted = []
    for path in [ROOT / "Snakefile", *(ROOT / "workflow").rglob("*.smk")]:
        for block in re.findall(r"shell:\s*\n((?:\s+(?:#.*|\".*\")\n?)+)", path.read_text()):
            unquoted += [f"{path.name}: {field}" for field in re.findall(r"\{([^{}:]+)\}", block)]
    assert not unquoted, f"quote with `:q`: {unquoted}"


def _params_with(tmp_path: Path, section: dict):
    root = copy_params(tmp_path / "p")
    cfg = yaml.safe_load((root / "config" / "demo.yaml").read_text())
    for dotted, value in section.items():
        *parents, leaf = dotted.split(".")
        node = cfg
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    (root / "config" / "demo.yaml").write_text(yaml.safe_dump(cfg))
    return root


def test_the_injection_spec_is_refused_at_validate_time(tmp_path):
    root = _params_with(tmp_path, {"vit.weights": INJECTION})
    with pytest.raises(ParamsError, match=r"vit\.weights: .* is not of the form"):
        load_params("demo", root)
    assert not (root / "PWNED").exists() and not Path("PWNED").exists()


@pytest.mark.parametrize("text, key", [(".nan", "gan.baseline.optimizer.lr"), (".inf", "vae.optimizer.lr"),
                                       ("-.inf", "vae.optimizer.lr")])
def test_non_finite_numbers_are_refused(tmp_path, text, key):
    root = _params_with(tmp_path, {key: "PLACEHOLDER"})
    demo = root / "config" / "demo.yaml"
    demo.write_text(demo.read_text().replace("PLACEHOLDER", text))  # the YAML literal, as a person writes it
    with pytest.raises(ParamsError, match=rf"{re.escape(key)}: .* is not a finite number"):
        load_params("demo", root)


def test_a_seed_numpy_refuses_is_refused_at_validate_time(tmp_path):
    root = _params_with(tmp_path, {"pretrain.seed": 2 ** 64})
    with pytest.raises(ParamsError, match=r"pretrain\.seed: .* is greater than the maximum"):
        load_params("demo", root)


class _Planted:
    """What an attacker would put in a results folder: unpickling it creates a file."""

    marker: Path

    def __reduce__(self):
        return Path.touch, (self.marker,)


@pytest.mark.parametrize("with_identity_header", [False, True])
def test_a_planted_malicious_checkpoint_never_executes(tmp_path, with_identity_header):
    import zipfile

    from archlab.train.checkpoint import Checkpoint

    identity = "0123456789abcdef01234567"  # params.json beside it tells anyone the run's identity
    planted = _Planted()
    planted.marker = tmp_path / "PWNED"
    path = tmp_path / "checkpoint.pt"
    torch.save({"identity": identity, "epoch": 0, "model": planted}, path)
    if with_identity_header:
        with zipfile.ZipFile(path, "a") as archive:
            archive.comment = identity.encode()
    assert Checkpoint(path, identity).load() is None
    assert not planted.marker.exists()


def test_a_checkpoint_round_trips_with_its_arrays_and_package_versions(tmp_path):
    import numpy as np

    from archlab.train.checkpoint import Checkpoint

    Checkpoint(tmp_path / "c.pt", "abc").save(2, grids={1: np.zeros((2, 3), np.uint8)}, rng=torch.get_rng_state(),
                                               history=[{"loss": np.float64(0.5)}])
    state = Checkpoint(tmp_path / "c.pt", "abc").load()
    assert state["epoch"] == 2 and state["grids"][1].dtype == np.uint8 and state["packages"]["torch"]
    assert Checkpoint(tmp_path / "c.pt", "other").load() is None


def test_a_nan_loss_stops_the_job_naming_the_run_and_the_likely_key(tmp_path):
    """`lr` far too high for this net: the weights overflow, the loss is NaN; before, fit returned a history
    of NaNs and the job exited 0."""
    import numpy as np

    from archlab.errors import NonFiniteLossError
    from archlab.workflow.runner import run_job

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 8)).astype(np.float32), rng.integers(0, 3, 64)
    np.savez(tmp_path / "data.npz", x=x, y=y)
    out = {"params": str(tmp_path / "run" / "params.json")}
    with pytest.raises(NonFiniteLossError) as err:
        run_job("toy_train", "security_targets:train_diverging", {"seed": "0"}, {"data": str(tmp_path / "data.npz")},
                out, {"lr": 1e30})
    message = str(err.value)
    assert "toy_train seed=0" in message and "epoch 1/3" in message and "`optimizer.lr`/`lr`" in message
    assert not Path(out["params"]).exists()  # never marked finished


def test_a_class_map_must_be_a_name_not_a_path(tmp_path):
    root = _params_with(tmp_path, {"vit.masking.class_map": "../../x"})
    with pytest.raises(ParamsError, match=r"vit\.masking\.class_map: '\.\./\.\./x' is not of the form"):
        load_params("demo", root)


@pytest.mark.parametrize("text, says", [
    ("resnet:\n\tseeds: [0]\n", "line 2 has a tab character; YAML indents with spaces only"),
    ("base: &b {epochs: 1}\nresnet:\n  <<: *b\n", "line 3: a YAML merge key (`<<: *anchor`) is not supported"),
])
def test_yaml_tabs_and_merge_keys_are_named(tmp_path, text, says):
    from archlab.config import read_yaml

    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError) as err:
        read_yaml(path)
    assert says in str(err.value)


def test_a_truncated_run_record_is_named_and_judged_out_of_date(tmp_path):
    from archlab.errors import CorruptResourceError
    from archlab.workflow.freshness import Checksums, why_out_of_date
    from archlab.workflow.plan import Rule
    from archlab.workflow.provenance import read_run_params

    record = tmp_path / "run" / "params.json"
    record.parent.mkdir()
    record.write_text('{"params": {"lr": 0.0')
    with pytest.raises(CorruptResourceError, match=rf"{re.escape(str(record))} is not a run record.*rerun the job"):
        read_run_params(record)
    job = Rule("toy", "toy", "archlab.commands.data_prepare:prepare", str(tmp_path / "run"), {}).job()
    assert "params.json cannot be read" in why_out_of_date(job, "x", Checksums(tmp_path / "sums.json"))


def test_an_output_left_empty_is_not_marked_finished(tmp_path):
    """A file still open when the process ends with os._exit would stay 0 bytes."""
    from archlab.errors import ArchlabError
    from archlab.workflow.runner import run_job

    out = {"params": str(tmp_path / "run" / "params.json"), "table": str(tmp_path / "run" / "table.csv")}
    with pytest.raises(ArchlabError, match=r"left \[.*table.csv'\] empty \(0 bytes\)"):
        run_job("toy", "security_targets:leave_empty", {}, {}, out, {})
    assert not Path(out["params"]).exists()


def test_a_file_size_limit_is_named_with_its_fix(tmp_path):
    import errno

    from archlab.io import OutputWriteError, atomic_path

    with pytest.raises(OutputWriteError, match=r"file size limit \(`ulimit -f` is .*\); raise it"):
        with atomic_path(tmp_path / "big.npy"):
            raise OSError(errno.EFBIG, "File too large", str(tmp_path / "big.npy"))


def test_a_read_only_resources_folder_is_named_with_its_fix(tmp_path):
    import errno

    from archlab.io import OutputWriteError
    from archlab.workflow.runner import _write_errors_named

    resources = tmp_path / "resources"
    with pytest.raises(OutputWriteError, match=rf"cannot write into {re.escape(str(resources / 'data'))} .*make it writable"):
        with _write_errors_named({"params": str(tmp_path / "run" / "params.json")}, [str(resources)]):
            raise PermissionError(errno.EACCES, "Permission denied", str(resources / "data" / "cifar.tar.gz"))
