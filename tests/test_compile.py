"""torch.compile switch (archlab.train.compile): the params key reaches the small-model jobs, `false`
leaves the plain module, `true` compiles in place on the CPU (where a C compiler exists) to the same output."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from archlab.config import load_params, validate_params
from archlab.errors import ParamsError
from archlab.workflow.pipeline import Paths, Pipeline
from archlab.train import compile as C
from conftest import ROOT

CPU = torch.device("cpu")
SMALL_MODEL_RULES = ("gan_train", "vae_train", "cifar_arch_run")
needs_compiler = pytest.mark.skipif(C.c_compiler() is None, reason="torch.compile on the CPU needs a C++ compiler")


def tiny_mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.GELU(), nn.Dropout(0.1), nn.Linear(16, 3))


@pytest.mark.parametrize("setting, device, expected", [
    (False, "cpu", False), (False, "cuda", False), ("false", "cuda", False),
    ("auto", "cpu", False), (True, "cpu", True), ("true", "cpu", True), (True, "cuda", True),
])
def test_resolve_auto_is_off_on_the_cpu(setting, device, expected, monkeypatch):
    monkeypatch.setattr(C, "c_compiler", lambda: "g++")
    assert C.resolve(setting, torch.device(device)) is expected


def test_auto_is_on_with_cuda_only_where_a_compiler_exists(monkeypatch):
    monkeypatch.setattr(C, "c_compiler", lambda: "g++")
    assert C.resolve("auto", torch.device("cuda")) is True
    monkeypatch.setattr(C, "c_compiler", lambda: None)
    assert C.resolve("auto", torch.device("cuda")) is False
    with pytest.raises(RuntimeError, match="compile: false"):
        C.resolve(True, CPU)  # asked for explicitly: an error up front, not a failure mid-run


def test_an_unknown_setting_names_the_params_key():
    with pytest.raises(ValueError, match="`compile`"):
        C.resolve("yes", CPU)


def test_compile_false_leaves_the_plain_module():
    model = tiny_mlp()
    assert C.maybe_compile(model, False, CPU) is model
    assert C.maybe_compile(model, "auto", CPU) is model  # auto: off on the CPU
    assert not C.is_compiled(model)
    assert type(model).__call__ is nn.Module.__call__ and model._compiled_call_impl is None


@needs_compiler
def test_compile_true_on_cpu_compiles_in_place_and_gives_the_same_output():
    model = tiny_mlp().eval()
    plain = copy.deepcopy(model)
    x = torch.randn(5, 3, 4, generator=torch.Generator().manual_seed(1))
    assert C.maybe_compile(model, True, CPU) is model
    assert C.is_compiled(model)
    assert list(model.state_dict()) == list(plain.state_dict())  # in place: checkpoints keep their keys
    with torch.no_grad():
        torch.testing.assert_close(model(x), plain(x), atol=1e-6, rtol=1e-5)


@needs_compiler
def test_a_compiled_classifier_trains_like_the_plain_one(tmp_path):
    from archlab.train.classifier import FitConfig, fit

    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 3, 4)).astype(np.float32)
    y = (x[:, 0, 0] > 0).astype(np.int64)
    histories = {}
    for setting in (False, True):
        model = tiny_mlp()
        cfg = FitConfig(epochs=2, batch_size=16, seed=0, live=False, compile=setting)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        histories[setting] = fit(model, (x, y), (x, y), opt, cfg, CPU, tmp_path / str(setting))
        assert C.is_compiled(model) is setting
    for column in ("train_loss", "val_loss", "val_acc"):
        np.testing.assert_allclose(histories[True][column], histories[False][column], rtol=1e-4, atol=1e-5)


def test_the_params_key_reaches_every_small_model_job():
    cfg = {k: v for k, v in load_params("test", ROOT).items() if k != "compile"}  # absent: the default, auto
    for setting in ("auto", False, True):
        pipe = Pipeline(cfg if setting == "auto" else {**cfg, "compile": setting}, Paths("test"))
        for rule in SMALL_MODEL_RULES:
            jobs = pipe.jobs_of(rule)
            assert jobs, rule
            assert {job.params["compile"] for job in jobs} == {setting}, rule


def test_the_schema_takes_auto_true_false_only():
    cfg = load_params("test", ROOT)
    for ok in ("auto", True, False):
        validate_params({**cfg, "compile": ok})
    with pytest.raises(ParamsError, match="compile"):
        validate_params({**cfg, "compile": "yes"})


@pytest.mark.slow  # about 2 minutes of compiling on 2 shared cores (G and D, three variants each)
@needs_compiler
def test_a_compiled_gan_trains_like_the_plain_one(tmp_path, monkeypatch):
    """G and D (the stacked networks the seeds train as) compiled in place; the noise stays outside the
    compiled code, so the streams match."""
    from test_gan import PixelClassifier, toy_images

    import archlab.train.gan as T
    from archlab.metrics.diversity import DiversityProbe
    from archlab.train.gan import GanConfig, train_gan

    trained = []
    monkeypatch.setattr(T, "maybe_compile", lambda net, *a: trained.append(net) or C.maybe_compile(net, *a))
    runs = {}
    for setting in (False, True):
        torch.manual_seed(0)
        probe = DiversityProbe(PixelClassifier(), toy_images(32, 9), n_classes=4, min_share=0.05)
        cfg = GanConfig(latent_dim=8, g_hidden=(16, 32), d_hidden=(32, 16), batch_size=16, epochs=2, init_std=0.1)
        runs[setting] = train_gan(cfg, toy_images(64, 1), toy_images(32, 2), probe, seed=3, device=CPU, n_eval=32,
                                  sample_every=2, n_grid=4, progress=False, compile=setting)
    assert len(trained) == 4 and not any(map(C.is_compiled, trained[:2])) and all(map(C.is_compiled, trained[2:]))
    for plain, compiled in zip(runs[False].history, runs[True].history):
        for key in ("d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm", "d_acc_heldout"):
            assert compiled[key] == pytest.approx(plain[key], rel=1e-4, abs=1e-6), key


@needs_compiler
def test_a_compiled_vae_trains_like_the_plain_one():
    """Encoder and decoder compiled; the reparameterisation noise is drawn eagerly from the same stream."""
    from archlab.models.vae import ConvVAE
    from archlab.train.kl_schedules import make_schedule
    from archlab.train.vae import fit

    x = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    histories = {}
    for setting in (False, True):
        torch.manual_seed(0)
        model = ConvVAE(latent_dim=2, channels=(2, 4), hidden=8, image_size=8)
        histories[setting] = fit(model, lambda epoch: x.split(8), lambda: x.split(16), epochs=2, steps_per_epoch=4,
                                 optimizer=torch.optim.Adam(model.parameters(), 1e-2),
                                 schedule=make_schedule("constant", beta=1.0), compile=setting)
        assert C.is_compiled(model.encoder) is setting and C.is_compiled(model.decoder) is setting
    for plain, compiled in zip(histories[False], histories[True]):
        for key in ("train_recon", "train_kl", "val_loss"):
            assert compiled[key] == pytest.approx(plain[key], rel=1e-4), key
