"""Gradient flow: per-layer weight-gradient norms, recorded every step and aggregated per epoch.

Only layer *weights* are tracked: biases are left out, parameter-free layers have nothing to
track, and normalisation layers (BatchNorm, LayerNorm, GroupNorm, ...) are excluded by type, so
e.g. the BatchNorm inside a ResNet shortcut cannot slip through as it did with M's name filter.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

NORM_LAYERS: tuple[type, ...] = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm,
                                 nn.LocalResponseNorm)


def weight_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """``(name, weight)`` of every trainable non-normalisation layer, in module definition order."""
    found = []
    for module_name, module in model.named_modules():
        weight = module._parameters.get("weight")
        if isinstance(module, NORM_LAYERS) or weight is None or not weight.requires_grad:
            continue
        found.append((f"{module_name}.weight" if module_name else "weight", weight))
    return found


class GradientRecorder:
    """Callback that accumulates each weight tensor's gradient L2 norm over the steps of an epoch.

    It follows :class:`archlab.train.classifier.Callback`, so it hooks into ``fit`` or any loop:
    :meth:`after_backward` once per optimisation step (after ``loss.backward()``, before the
    gradients are zeroed), :meth:`epoch_end` once per epoch. Norms, their sums and sums of squares
    stay on the model's device until the epoch ends (one read per epoch), so recording adds no host
    synchronisation per step.
    """

    def __init__(self, model: nn.Module):
        named = weight_parameters(model)
        if not named:
            raise ValueError("model has no layer weights to record")
        self.names = [name for name, _ in named]
        self._params = [p for _, p in named]
        self._reset()
        self.mean: list[np.ndarray] = []  # one (layers,) array per finished epoch
        self.std: list[np.ndarray] = []
        self.steps: list[int] = []

    def _reset(self) -> None:
        self._sum = self._sumsq = None
        self._n = 0

    def after_backward(self, *_args, **_kwargs) -> None:
        grads = [p.grad.detach().float() if p.grad is not None else p.new_zeros((), dtype=torch.float32)
                 for p in self._params]
        norms = torch.stack(torch._foreach_norm(grads)).double()  # one multi-tensor kernel on CUDA, not one per layer
        self._sum = norms if self._sum is None else self._sum + norms
        self._sumsq = norms**2 if self._sumsq is None else self._sumsq + norms**2
        self._n += 1

    def epoch_end(self, *_args, **_kwargs) -> None:
        if self._n == 0:
            raise RuntimeError("epoch_end called before any after_backward in this epoch")
        mean = (self._sum / self._n).cpu().numpy()
        var = (self._sumsq / self._n).cpu().numpy() - mean**2
        self.mean.append(mean)
        self.std.append(np.sqrt(np.clip(var, 0.0, None)))
        self.steps.append(self._n)
        self._reset()

    def arrays(self) -> dict[str, np.ndarray]:
        """``names`` (layers,), ``mean``/``std`` (layers, epochs) of per-step norms, ``steps`` (epochs,)."""
        return {"names": np.array(self.names), "mean": np.stack(self.mean, axis=1),
                "std": np.stack(self.std, axis=1), "steps": np.array(self.steps)}

    def state_dict(self) -> dict:
        """Finished epochs only: a run resumed from an epoch checkpoint continues from there."""
        return {"names": list(self.names), "mean": list(self.mean), "std": list(self.std), "steps": list(self.steps)}

    def load_state_dict(self, state: dict) -> None:
        if list(state["names"]) != self.names:
            raise ValueError("gradient-recorder state was saved for a different model")
        self.mean, self.std, self.steps = list(state["mean"]), list(state["std"]), list(state["steps"])
        self._reset()


def pooled_over_training(mean: np.ndarray, std: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of each layer's per-step norm over all of training, from per-epoch moments."""
    w = steps / steps.sum()
    pooled_mean = (mean * w).sum(axis=1)
    pooled_var = ((std**2 + mean**2) * w).sum(axis=1) - pooled_mean**2
    return pooled_mean, np.sqrt(np.clip(pooled_var, 0.0, None))


def gradient_norms_on_batch(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Weight-gradient norm per layer for one cross-entropy backward pass on a fixed batch."""
    recorder = GradientRecorder(model)
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    recorder.after_backward()
    recorder.epoch_end()
    norms = recorder.arrays()["mean"][:, 0]
    model.zero_grad(set_to_none=True)
    return dict(zip(recorder.names, norms.tolist()))
