"""S3 GAN on a device: noise drawn where the model runs (no host copy per step), its stream checkpointed,
and the CPU stream unchanged; the gradient recorder accumulates on the device."""
import archlab  # noqa: F401  (before torchvision, see archlab._torchvision_compat)

import numpy as np
import pytest
import torch
from torch import nn

import archlab.train.gan as T
from archlab.train.checkpoint import Checkpoint
from archlab.train.gradflow import GradientRecorder
from test_gan import run_tiny

torch.set_num_threads(1)
CPU = torch.device("cpu")
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def history(run) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in run.history]


def test_on_the_cpu_the_noise_is_the_runs_own_generator():
    gen = torch.Generator().manual_seed(3)
    assert T.noise_generator(gen, 3, CPU) is gen  # the stream CPU runs always drew from: results unchanged


def test_training_draws_every_noise_batch_on_the_device_from_the_noise_generator(tmp_path, monkeypatch):
    """Each step's z is drawn with device= (on the device, no host copy) from noise_generator's generator."""
    real_noise_generator, real_randn = T.noise_generator, torch.randn
    made, draws = [], []

    def spy_generator(gen, seed, device):
        made.append(real_noise_generator(gen, seed, device))
        return made[-1]

    def spy_randn(*size, **kw):
        if "device" in kw:
            draws.append((kw.get("generator"), kw["device"]))
        return real_randn(*size, **kw)

    monkeypatch.setattr(T, "noise_generator", spy_generator)
    monkeypatch.setattr(torch, "randn", spy_randn)
    run_tiny(tmp_path, epochs=1)
    assert len(made) == 1
    # 64 images / batch 16 = 4 batches x (1 D + 1 G step), then the evaluation's fresh samples
    assert len(draws) == 4 * 2 + 1
    assert all(g is made[0] and device == CPU for g, device in draws)


def test_a_separate_noise_stream_is_checkpointed_and_resumes_exactly(tmp_path, monkeypatch):
    """What a GPU run does (noise from its own device generator), simulated on the CPU with a second
    CPU generator: an interrupted run resumes to the same history as an uninterrupted one, because the
    noise stream's state is saved and restored with the rest."""
    monkeypatch.setattr(T, "noise_generator", lambda gen, seed, device: torch.Generator().manual_seed(seed + 1))
    straight = run_tiny(tmp_path, epochs=3)
    ckpt = Checkpoint(tmp_path / "ckpt.pt", "run-a")
    run_tiny(tmp_path, epochs=2, checkpoint=ckpt)
    assert ckpt.load()["noise_rng"] is not None
    resumed = run_tiny(tmp_path, epochs=3, checkpoint=ckpt)
    assert history(resumed) == history(straight)
    monkeypatch.undo()
    cpu_stream = run_tiny(tmp_path, epochs=3)
    assert history(cpu_stream) != history(straight)  # the separate stream was really used


@cuda
def test_on_cuda_the_noise_generator_lives_on_the_device(tmp_path):
    gen = torch.Generator().manual_seed(3)
    noise_gen = T.noise_generator(gen, 3, torch.device("cuda"))
    assert noise_gen.device.type == "cuda"
    a = torch.randn(4, 8, generator=noise_gen, device="cuda")
    b = torch.randn(4, 8, generator=torch.Generator(device="cuda").manual_seed(3), device="cuda")
    assert torch.equal(a, b)  # seeded from the run seed: reproducible


def test_the_gradient_recorder_keeps_its_sums_on_the_models_device():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    recorder = GradientRecorder(model)
    norms = []
    for step in range(3):
        model.zero_grad()
        model(torch.randn(5, 4)).pow(2).sum().backward()
        recorder.after_backward()
        norms.append([p.grad.norm().item() for p in (model[0].weight, model[2].weight)])
        assert isinstance(recorder._sum, torch.Tensor) and recorder._sum.device == CPU  # a tensor, not a float
    recorder.epoch_end()
    norms = np.array(norms)
    np.testing.assert_allclose(recorder.arrays()["mean"][:, 0], norms.mean(0), rtol=1e-6)
    np.testing.assert_allclose(recorder.arrays()["std"][:, 0], norms.std(0), rtol=1e-5, atol=1e-7)
