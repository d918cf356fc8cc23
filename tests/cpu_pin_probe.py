"""Run by tests/test_cpu_pin.py in a fresh process (``python tests/cpu_pin_probe.py``): trains a tiny GAN,
VAE and convolutional classifier and prints, as JSON, this process's torch CPU capability and a digest of
each model's final parameters. ``import archlab`` comes first, as in every archlab entry point; the calling
environment decides whether (``ARCHLAB_CPU_PIN``) and from what starting variables it pins."""
import archlab  # noqa: F401, I001  (pins the CPU code paths before torch computes)

import hashlib
import json

import torch
from torch import nn

from archlab.models.vae import ConvVAE
from archlab.train.gan import GanConfig, train_gan
from archlab.train.kl_schedules import make_schedule
from archlab.train.vae import fit


def digest(module: nn.Module) -> str:
    h = hashlib.sha256()
    for value in module.state_dict().values():
        h.update(value.detach().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def main() -> dict:
    torch.set_num_threads(1)
    images = torch.rand(256, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    cfg = GanConfig(g_hidden=(64, 128), d_hidden=(64, 64), epochs=2, batch_size=32, lr_d=2e-3, g_loss="saturating")
    gan = train_gan(cfg, images, images[:64], lambda fake: {"class_histogram": []}, seed=0,
                    device=torch.device("cpu"), n_eval=64, n_grid=4, progress=False)
    torch.manual_seed(0)
    vae = ConvVAE(latent_dim=4, channels=(8, 16), hidden=32)
    unit = (images[:128] + 1) / 2
    fit(vae, lambda epoch: unit.split(32), lambda: unit[:64].split(32), epochs=2, steps_per_epoch=4,
        optimizer=torch.optim.Adam(vae.parameters(), 1e-3), schedule=make_schedule(kind="constant", beta=1.0))
    torch.manual_seed(0)
    clf = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 26 * 26, 10))
    opt = torch.optim.SGD(clf.parameters(), 0.1)
    labels = torch.arange(256) % 10
    for x, y in zip(images.split(32), labels.split(32)):
        opt.zero_grad()
        nn.functional.cross_entropy(clf(x), y).backward()
        opt.step()
    return {"capability": torch.backends.cpu.get_cpu_capability(), "gan": digest(gan.G) + digest(gan.D),
            "gan_grad_norm": gan.history[-1]["g_grad_norm"], "vae": digest(vae), "classifier": digest(clf)}


if __name__ == "__main__":
    print(json.dumps(main()))
