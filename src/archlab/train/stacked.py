"""Several seeds of a small MLP trained as one model: every weight gets a leading seed dimension.

Why: a demo- or full-profile GAN step is a dozen small matrix products whose cost is mostly the call,
not the arithmetic (on a GPU: one launch-bound kernel each, 1.7 M steps in the full profile). Stacking
S seeds turns each product into one batched product (``torch.baddbmm``) of S slices, at little more
than the cost of one.

Each seed stays exactly what it would be trained alone: its weights are the ones its own module was
initialised with (stacked, not re-drawn), slice ``s`` of a batched product is computed by the same
kernel on the same shapes whatever the number of seeds (bit-identical on the CPU to the seed stacked
alone, which is how one seed trains: tests/test_gan_seeds.py, bench/batched_seeds.py; equal to a plain
``nn.Linear`` to rounding only), activations are elementwise, losses are summed over seeds (so each seed's
gradient is its own), Adam is elementwise, and dropout draws each seed's mask from that seed's own
generator, as ``nn.Dropout`` draws it from the global one when the seed trains alone.
"""
from __future__ import annotations

import torch
from torch import nn


class StackedLinear(nn.Module):
    """S ``nn.Linear`` layers of one shape: weight (S, out, in), bias (S, out); input (S, N, in)."""

    def __init__(self, layers: list[nn.Linear]):
        super().__init__()
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]))
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight.shape[1] == 1:  # one output (D's logit): MKL's batched product of S > 1 rounds it otherwise
            return (x * self.weight).sum(-1, keepdim=True) + self.bias.unsqueeze(1)  # than of S = 1; this does not
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))

    def unstacked(self, s: int) -> dict[str, torch.Tensor]:
        """Seed ``s``'s ``nn.Linear`` state."""
        return {"weight": self.weight[s].detach().clone(), "bias": self.bias[s].detach().clone()}


class StackedDropout(nn.Module):
    """Dropout with each seed's mask from its own generator, drawn exactly as torch's CPU dropout draws it
    (``bernoulli_(1 - p)`` on a tensor of the seed's shape, divided by ``1 - p``)."""

    def __init__(self, p: float, generators: list[torch.Generator]):
        super().__init__()
        self.p, self.generators = p, generators

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = 1 - self.p
        masks = [torch.empty_like(x[s]).bernoulli_(keep, generator=g).div_(keep) for s, g in enumerate(self.generators)]
        return x * torch.stack(masks)


class StackedMLP(nn.Module):
    """S copies of one ``nn.Sequential`` of Linear / elementwise activation / Dropout / Flatten layers, one
    per seed, run as one: input (S, N, ...) → output (S, N, ...). ``dropout_generators`` (one per seed)
    serve the Dropout layers."""

    ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.Identity)

    def __init__(self, nets: list[nn.Sequential], dropout_generators: list[torch.Generator] | None = None):
        super().__init__()
        layers: list[nn.Module] = []
        for position, layer in enumerate(nets[0]):
            kinds = {type(net[position]) for net in nets}
            if len(kinds) != 1:
                raise ValueError(f"layer {position} differs between the stacked networks: {kinds}")
            if isinstance(layer, nn.Linear):
                layers.append(StackedLinear([net[position] for net in nets]))
            elif isinstance(layer, nn.Dropout):
                if dropout_generators is None or len(dropout_generators) != len(nets):
                    raise ValueError("a Dropout layer needs one generator per stacked network")
                layers.append(StackedDropout(layer.p, dropout_generators))
            elif isinstance(layer, nn.Flatten):
                layers.append(nn.Flatten(start_dim=layer.start_dim + 1, end_dim=layer.end_dim))
            elif isinstance(layer, self.ELEMENTWISE):
                layers.append(layer)
            else:
                raise ValueError(f"layer {position} ({type(layer).__name__}) cannot be stacked")
        self.layers = nn.Sequential(*layers)
        self.size = len(nets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    def state_dict_of(self, s: int) -> dict[str, torch.Tensor]:
        """Seed ``s``'s weights under the names its own ``nn.Sequential`` gives them (``<i>.weight``)."""
        return {f"{i}.{name}": value for i, layer in enumerate(self.layers) if isinstance(layer, StackedLinear)
                for name, value in layer.unstacked(s).items()}
