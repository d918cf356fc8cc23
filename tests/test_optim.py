"""The optimizer factory: fused steps where torch has them (CPU and CUDA), the same update as the loop."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from archlab.train.optim import make_optimizer

SPECS = [{"name": "adam", "lr": 1e-3}, {"name": "adamw", "lr": 1e-3, "weight_decay": 0.05},
         {"name": "sgd", "lr": 0.1, "momentum": 0.9}]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s["name"])
def test_cpu_parameters_get_the_fused_step(spec):
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    assert make_optimizer(model.parameters(), spec).defaults["fused"] is True
    groups = [{"params": model[0].parameters(), "lr": 1e-4}, {"params": model[2].parameters()}]
    assert make_optimizer(groups, spec).defaults["fused"] is True


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s["name"])
def test_the_fused_step_is_the_loop_step_up_to_rounding(spec):
    torch.manual_seed(0)
    x, y = torch.randn(16, 4), torch.randn(16, 2)
    models = [nn.Linear(4, 2) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[spec["name"]]
    kwargs = {k: v for k, v in spec.items() if k != "name"}
    optimizers = [cls(models[0].parameters(), foreach=False, **kwargs), make_optimizer(models[1].parameters(), spec)]
    for _ in range(3):
        for model, opt in zip(models, optimizers):
            opt.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            opt.step()
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.equal(models[0].weight, nn.Linear(4, 2).weight)  # it did step


def test_non_float_or_mixed_parameters_keep_the_default_step():
    ints = torch.zeros(3, dtype=torch.int64)
    assert make_optimizer([torch.zeros(2, requires_grad=True), ints], {"name": "sgd", "lr": 0.1}).defaults.get(
        "fused") in (None, False)
