"""S6 models and gradient flow: logits, closed-form parameter counts, the recorder, vanishing gradients."""
import archlab  # noqa: F401  (CPU torchvision fix before anything imports torchvision)
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from archlab.models.cifar_nets import build_model, count_parameters, first_conv_weight, token_mixing_weight
from archlab.train.gradflow import GradientRecorder, gradient_norms_on_batch, pooled_over_training, weight_parameters

torch.set_num_threads(1)


def linear(n_in, n_out):
    return n_in * n_out + n_out


def mlp_count(hidden, n_in=3072, n_cls=10):
    widths = [n_in, *hidden, n_cls]
    return sum(linear(a, b) for a, b in zip(widths[:-1], widths[1:]))


def resnet18_count(w, n_cls=10):
    conv3 = lambda a, b: 9 * a * b  # noqa: E731  (bias-free 3x3 conv)
    bn = lambda c: 2 * c  # noqa: E731
    total = conv3(3, w) + bn(w)
    c_in = w
    for c in (w, 2 * w, 4 * w, 8 * w):
        total += conv3(c_in, c) + bn(c) + conv3(c, c) + bn(c)  # first block
        if c != c_in:
            total += c_in * c + bn(c)  # 1x1 projection shortcut
        total += 2 * (conv3(c, c) + bn(c))  # second block
        c_in = c
    return total + linear(8 * w, n_cls)


def mixer_count(patch, dim, blocks, ratio, n_cls=10, img=32):
    tokens = (img // patch) ** 2
    t_hidden, c_hidden = int(ratio[0] * dim), int(ratio[1] * dim)
    block = 2 * dim + linear(tokens, t_hidden) + linear(t_hidden, tokens) + 2 * dim \
        + linear(dim, c_hidden) + linear(c_hidden, dim)
    return 3 * patch * patch * dim + dim + blocks * block + 2 * dim + linear(dim, n_cls)


CASES = [
    ("mlp", {}, mlp_count([1024, 512, 64, 64])),
    ("mlp", {"hidden": [32, 16], "activation": "tanh"}, mlp_count([32, 16])),
    ("resnet18", {}, resnet18_count(64)),
    ("resnet18", {"width": 8}, resnet18_count(8)),
    ("mixer", {}, mixer_count(4, 256, 4, (0.5, 4.0))),
    ("mixer", {"patch_size": 2, "embed_dim": 32, "num_blocks": 2, "mlp_ratio": [1.0, 1.0]}, mixer_count(2, 32, 2, (1, 1))),
    ("mixer", {"patch_size": 8, "embed_dim": 48, "num_blocks": 8, "mlp_ratio": [0.5, 8.0], "dropout": 0.1},
     mixer_count(8, 48, 8, (0.5, 8))),
]


@pytest.mark.parametrize("name,kwargs,expected", CASES)
def test_models_give_logits_and_closed_form_parameter_counts(name, kwargs, expected):
    torch.manual_seed(0)
    model = build_model(name, **kwargs).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 10)
    assert torch.isfinite(logits).all()
    assert count_parameters(model) == expected


def test_faithful_sizes_match_what_M_reports():
    """M's rounded counts: MLP 3.71M, Mixer baseline 2.19M, ratio (1,4) 2.25M, (0.5,8) 4.29M, (1,1) 678K."""
    assert round(count_parameters(build_model("mlp")) / 1e6, 2) == 3.71
    for ratio, published in [((0.5, 4.0), 2.19e6), ((1.0, 4.0), 2.25e6), ((0.5, 8.0), 4.29e6), ((1.0, 1.0), 678e3)]:
        n = count_parameters(build_model("mixer", mlp_ratio=ratio))
        assert abs(n - published) / published < 0.005, (ratio, n)
    assert count_parameters(build_model("resnet18")) == 11_173_962  # the usual CIFAR ResNet-18 count


def test_visualised_weights_have_the_drawn_shapes():
    assert first_conv_weight(build_model("resnet18", width=64)).shape == (64, 3, 3, 3)  # -> 8x8 grid
    assert token_mixing_weight(build_model("mixer", embed_dim=32)).shape == (16, 64)  # units x 8*8 patches


def recorded_names(model):
    return GradientRecorder(model).names


def test_recorder_tracks_layer_weights_only():
    resnet = recorded_names(build_model("resnet18", width=4))
    assert len(resnet) == 1 + 16 + 3 + 1  # stem, 16 block convs, 3 projection shortcuts, fc
    assert all(n.endswith(".weight") for n in resnet)
    assert not any(".bn" in n or n.startswith("bn") for n in resnet)
    assert "layer2.0.shortcut.0.weight" in resnet and "layer2.0.shortcut.1.weight" not in resnet  # BN of shortcut
    mixer = recorded_names(build_model("mixer", embed_dim=16, num_blocks=2))
    assert len(mixer) == 1 + 2 * 4 + 1 and not any("norm" in n for n in mixer)
    assert recorded_names(build_model("mlp", hidden=[8, 8])) == ["fc1.weight", "fc2.weight", "fc3.weight"]  # no ReLU/Flatten


def train_steps(model, recorder, batches, epochs):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    seen = []
    for _ in range(epochs):
        per_epoch = []
        for x, y in batches:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            recorder.after_backward()
            per_epoch.append([p.grad.norm().item() for _, p in weight_parameters(model)])
            opt.step()
        recorder.epoch_end()
        seen.append(np.array(per_epoch))
    return seen


def test_recorder_reports_one_norm_per_weight_per_epoch():
    torch.manual_seed(0)
    model = build_model("mlp", hidden=[16, 8])
    batches = [(torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))) for _ in range(3)]
    recorder = GradientRecorder(model)
    seen = train_steps(model, recorder, batches, epochs=2)
    out = recorder.arrays()
    assert out["mean"].shape == out["std"].shape == (3, 2)
    assert out["steps"].tolist() == [3, 3]
    for e, step_norms in enumerate(seen):
        np.testing.assert_allclose(out["mean"][:, e], step_norms.mean(axis=0), rtol=1e-5)
        np.testing.assert_allclose(out["std"][:, e], step_norms.std(axis=0), rtol=1e-4, atol=1e-7)
    all_steps = np.concatenate(seen)
    mean, std = pooled_over_training(out["mean"], out["std"], out["steps"])
    np.testing.assert_allclose(mean, all_steps.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(std, all_steps.std(axis=0), rtol=1e-4)


def test_recorder_state_resumes_finished_epochs():
    model = build_model("mlp", hidden=[8])
    recorder = GradientRecorder(model)
    train_steps(model, recorder, [(torch.randn(2, 3, 32, 32), torch.tensor([0, 1]))], epochs=2)
    resumed = GradientRecorder(model)
    resumed.load_state_dict(recorder.state_dict())
    np.testing.assert_array_equal(resumed.arrays()["mean"], recorder.arrays()["mean"])
    with pytest.raises(ValueError, match="different model"):
        GradientRecorder(build_model("mlp", hidden=[4, 4])).load_state_dict(recorder.state_dict())


def first_over_last(model):
    torch.manual_seed(1)
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    norms = list(gradient_norms_on_batch(model, x, y).values())
    return norms[0] / norms[-1]


def test_plain_deep_mlp_gradients_vanish_but_resnet_gradients_do_not():
    torch.manual_seed(0)
    deep_mlp = build_model("mlp", hidden=[64] * 10, activation="sigmoid")
    torch.manual_seed(0)
    resnet = build_model("resnet18", width=8)
    assert first_over_last(deep_mlp) < 1e-4
    assert first_over_last(resnet) > 0.1
