"""S3 figures: the mosaic puts samples where expected and every figure renders to a PNG."""
import archlab  # noqa: F401  (before torchvision, see archlab._torchvision_compat)

import numpy as np
import pandas as pd

from archlab.plots.gan import class_histograms, pair_curves, sample_grids, tile


def test_tile_lays_samples_out_row_by_row():
    images = np.stack([np.full((2, 3), i, dtype=np.uint8) for i in range(4)])
    mosaic = tile(images, per_side=2)
    assert mosaic.shape == (4, 6)
    assert mosaic[0, 0] == 0 and mosaic[0, 3] == 1 and mosaic[2, 0] == 2 and mosaic[3, 5] == 3
    assert tile(images[:3], per_side=2)[3, 5] == 0  # missing samples stay blank


def test_figures_render(tmp_path):
    history = pd.DataFrame({"epoch": [1, 2, 3], "d_loss": [1.3, 1.0, 0.8], "g_loss": [0.7, 0.9, 1.2],
                            "g_grad_norm": [0.1, 1e-5, 0.0]})
    histories = {"baseline": history, "vanishing": history, "vanishing_mitigated": history * 1.1}
    pair_curves(histories, ["baseline", "vanishing"], ["d_loss", "g_loss"], tmp_path / "loss.png", "loss")
    pair_curves(histories, ["baseline", "vanishing"], ["g_grad_norm"], tmp_path / "grad.png", "norm", log=True)
    grids = {run: {0: np.zeros((16, 28, 28), np.uint8), 5: np.full((16, 28, 28), 255, np.uint8)}
             for run in histories}
    sample_grids(grids, tmp_path / "grids.png")
    class_histograms({run: list(range(10)) for run in histories}, [str(c) for c in range(10)],
                     tmp_path / "hist.png")
    for name in ("loss", "grad", "grids", "hist"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
