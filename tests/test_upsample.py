"""model.upsample: resize up-sampling leaves no 2-px checkerboard where transposed convolutions do, and a
fine-tuning start from a model of the other kind names the fix."""

import pytest
import torch

from autopainter.config import Config, ConfigError, GeneratorConfig
from autopainter.models.unet import build_generator, count_parameters

from conftest import REPO


def checker_share(y: torch.Tensor) -> float:
    """Share of an image's AC power at the 2-px period (the Nyquist row and column of its spectrum)."""
    f = torch.fft.fft2(y - y.mean(dim=(-2, -1), keepdim=True)).abs() ** 2
    h, w = y.shape[-2:]
    nyquist = f[..., h // 2, :].sum(-1) + f[..., :, w // 2].sum(-1)
    return float((nyquist / f.sum(dim=(-2, -1)).clamp_min(1e-12)).mean())


def _trained_flat_region(upsample: str) -> torch.Tensor:
    """A tiny generator trained 150 steps to paint one flat color around a line; its output's flat part."""
    torch.manual_seed(0)
    g = build_generator(GeneratorConfig(ngf=8, depth=4, norm="group", dropout=0.0, upsample=upsample))
    opt = torch.optim.Adam(g.parameters(), 2e-3)
    x = torch.zeros(4, 5, 64, 64)
    x[:, 0] = 1.0  # paper, no hints
    x[:, 0, 20:44, 20:23] = -1.0  # one line
    target = torch.tensor([0.6, -0.2, 0.1]).view(1, 3, 1, 1).expand(4, 3, 64, 64)
    for _ in range(150):
        loss = (g(x) - target).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return g.eval()(x)[..., 40:64, 30:64]  # (4, 3, 24, 34), away from the line


@pytest.mark.slow
def test_resize_upsampling_has_no_checkerboard():
    chance = (24 + 34 - 1) / (24 * 34)  # the Nyquist share of residual power without a 2-px preference
    transposed, resize = checker_share(_trained_flat_region("transposed")), checker_share(_trained_flat_region("resize"))
    assert transposed > 2.5 * chance  # the fault this option removes: 0.32 here
    assert resize < 1.5 * chance  # 0.08 here


def test_presets_and_parameter_counts():
    assert Config.load(REPO / "configs" / "default.yaml").model.upsample == "resize"
    assert Config.load(REPO / "configs" / "pix2pix.yaml").model.upsample == "transposed"
    assert Config.load(REPO / "configs" / "paper.yaml").model.upsample == "transposed"
    with pytest.raises(ConfigError, match="model.upsample"):
        GeneratorConfig(upsample="bicubic")
    a = count_parameters(build_generator(GeneratorConfig(ngf=8, depth=4)))
    b = count_parameters(build_generator(GeneratorConfig(ngf=8, depth=4, upsample="resize")))
    assert b < a  # 3x3 instead of 4x4 kernels
    for up in ("transposed", "resize"):
        g = build_generator(GeneratorConfig(ngf=8, depth=4, upsample=up)).eval()
        assert g(torch.zeros(1, 5, 37, 50)).shape == (1, 3, 37, 50)  # any size, as before


def test_init_from_another_generator_names_the_fix(tiny_model_dir, pairs_dir, tmp_path, capsys):
    from autopainter.cli import main

    code = main(["train", "--config", str(REPO / "configs" / "tiny.yaml"), "--data", str(pairs_dir), "-q",
                 "--set", f"train.runs_dir={tmp_path}", "--set", f"train.init_from={tiny_model_dir}",
                 "--set", "model.upsample=resize"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--set model.upsample=transposed" in err[0] and "--set model.norm=group" in err[0]
    assert not any(tmp_path.iterdir())  # nothing started
