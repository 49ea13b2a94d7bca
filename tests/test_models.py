import pytest

from conftest import REPO
import torch

from autopainter.config import Config, ModelConfig
from autopainter.models.io import ModelFileError, load_generator, save_pretrained
from autopainter.models.patchgan import build_discriminator
from autopainter.models.unet import build_generator, count_parameters

TINY = dict(ngf=8, depth=4, ndf=8, d_layers=2)


def test_pix2pix_parameter_counts_match_pix2pix():
    cfg = Config.load(REPO / "configs" / "pix2pix.yaml", ["model.in_channels=3", "model.d_in_channels=6"]).model
    assert count_parameters(build_generator(cfg)) == 54_414_019
    assert count_parameters(build_discriminator(cfg)) == 2_769_601


@pytest.mark.parametrize("kernel_size", [3, 4])
@pytest.mark.parametrize("norm", ["batch", "instance", "group", "none"])
@pytest.mark.parametrize("hw", [(33, 51), (32, 32), (5, 7), (70, 17)])
def test_generator_any_size(kernel_size, norm, hw):
    g = build_generator(ModelConfig(kernel_size=kernel_size, norm=norm, **TINY)).eval()
    x = torch.rand(2, 5, *hw) * 2 - 1
    with torch.no_grad():
        y = g(x)
    assert y.shape == (2, 3, *hw)
    assert y.abs().max() <= 1.0


def test_discriminator_patch_output():
    d = build_discriminator(ModelConfig(ndf=8, d_layers=3))
    out = d(torch.zeros(2, 1, 256, 256), torch.zeros(2, 3, 256, 256))
    assert out.shape == (2, 1, 30, 30)  # pix2pix's 70x70 PatchGAN on 256x256


def test_gradient_checkpointing_same_gradients():
    torch.manual_seed(0)
    g1 = build_generator(ModelConfig(norm="group", dropout=0.0, **TINY))
    g2 = build_generator(ModelConfig(norm="group", dropout=0.0, gradient_checkpointing=True, **TINY))
    g2.load_state_dict(g1.state_dict())
    x = torch.randn(2, 5, 32, 32)
    for g in (g1, g2):
        g.train()
        g(x).square().mean().backward()
    for (n, p1), p2 in zip(g1.named_parameters(), g2.parameters()):
        assert torch.allclose(p1.grad, p2.grad, atol=1e-6), n


def test_save_load_round_trip_identical_outputs(tmp_path):
    torch.manual_seed(0)
    g = build_generator(ModelConfig(norm="batch", **TINY)).eval()
    save_pretrained(g, tmp_path / "m", dtype=torch.float32, extra={"image_size": 32})
    g2, meta = load_generator(tmp_path / "m")
    assert meta["image_size"] == 32
    x = torch.randn(1, 5, 40, 24)
    with torch.no_grad():
        assert torch.equal(g(x), g2(x))


def test_fp16_export_close(tmp_path):
    g = build_generator(ModelConfig(**TINY)).eval()
    save_pretrained(g, tmp_path / "m")  # fp16 by default
    g2, _ = load_generator(tmp_path / "m")
    x = torch.randn(1, 5, 32, 32)
    with torch.no_grad():
        assert (g(x) - g2(x)).abs().max() < 2e-2


def test_load_other_architecture_is_a_clear_error(tmp_path):
    import json

    g = build_generator(ModelConfig(**TINY))
    save_pretrained(g, tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    meta["model"]["ngf"] = 16  # config now disagrees with the weights
    (tmp_path / "m" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="another architecture"):
        load_generator(tmp_path / "m")


def test_missing_or_bad_model_folder(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        load_generator(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match="config.json"):
        load_generator(tmp_path / "empty")
    g = build_generator(ModelConfig(**TINY))
    save_pretrained(g, tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="safetensors"):
        load_generator(tmp_path / "m")
