import pytest

from conftest import REPO
import torch

from autopainter.config import Config, DiscriminatorConfig, GeneratorConfig
from autopainter.models.io import ModelFileError, load_generator, save_pretrained
from autopainter.models.patchgan import build_discriminator
from autopainter.models.unet import build_generator, count_parameters

TINY = dict(ngf=8, depth=4)


def test_pix2pix_parameter_counts_match_pix2pix():
    cfg = Config.load(REPO / "configs" / "pix2pix.yaml", ["model.in_channels=3", "discriminator.in_channels=6"])
    assert count_parameters(build_generator(cfg.model)) == 54_414_019
    assert count_parameters(build_discriminator(cfg.discriminator)) == 2_769_601


@pytest.mark.parametrize("kernel_size", [3, 4])
@pytest.mark.parametrize("norm", ["batch", "instance", "group", "none"])
@pytest.mark.parametrize("hw", [(33, 51), (32, 32), (5, 7), (70, 17)])
def test_generator_any_size(kernel_size, norm, hw):
    g = build_generator(GeneratorConfig(kernel_size=kernel_size, norm=norm, **TINY)).eval()
    x = torch.rand(2, 5, *hw) * 2 - 1
    with torch.no_grad():
        y = g(x)
    assert y.shape == (2, 3, *hw)
    assert y.abs().max() <= 1.0


def test_discriminator_patch_output():
    d = build_discriminator(DiscriminatorConfig(ndf=8, layers=3))
    out = d(torch.zeros(2, 1, 256, 256), torch.zeros(2, 3, 256, 256))
    assert out.shape == (2, 1, 30, 30)  # pix2pix's 70x70 PatchGAN on 256x256


def test_gradient_checkpointing_same_gradients():
    torch.manual_seed(0)
    g1 = build_generator(GeneratorConfig(norm="group", dropout=0.0, **TINY))
    g2 = build_generator(GeneratorConfig(norm="group", dropout=0.0, **TINY), gradient_checkpointing=True)
    g2.load_state_dict(g1.state_dict())
    x = torch.randn(2, 5, 32, 32)
    for g in (g1, g2):
        g.train()
        g(x).square().mean().backward()
    for (n, p1), p2 in zip(g1.named_parameters(), g2.parameters()):
        assert torch.allclose(p1.grad, p2.grad, atol=1e-6), n


def test_save_load_round_trip_identical_outputs(tmp_path):
    torch.manual_seed(0)
    g = build_generator(GeneratorConfig(norm="batch", **TINY)).eval()
    save_pretrained(g, tmp_path / "m", image_size=32, dtype=torch.float32)
    g2, info = load_generator(tmp_path / "m")
    assert info.image_size == 32
    x = torch.randn(1, 5, 40, 24)
    with torch.no_grad():
        assert torch.equal(g(x), g2(x))


def test_fp16_export_close(tmp_path):
    g = build_generator(GeneratorConfig(**TINY)).eval()
    save_pretrained(g, tmp_path / "m", image_size=32)  # fp16 by default
    g2, _ = load_generator(tmp_path / "m")
    x = torch.randn(1, 5, 32, 32)
    with torch.no_grad():
        assert (g(x) - g2(x)).abs().max() < 2e-2


def test_load_other_architecture_is_a_clear_error(tmp_path):
    import json

    g = build_generator(GeneratorConfig(**TINY))
    save_pretrained(g, tmp_path / "m", image_size=32)
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
    g = build_generator(GeneratorConfig(**TINY))
    save_pretrained(g, tmp_path / "m", image_size=32)
    (tmp_path / "m" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="safetensors"):
        load_generator(tmp_path / "m")


def test_release_config_holds_the_generator_and_a_typed_image_size(tmp_path):
    import json

    g = build_generator(GeneratorConfig(**TINY), gradient_checkpointing=True)
    save_pretrained(g, tmp_path / "m", image_size=48, extra={"trained": {"step": 3}})
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    assert set(meta["model"]) == set(GeneratorConfig.__dataclass_fields__)  # no discriminator, no training switch
    assert meta["image_size"] == 48
    _, info = load_generator(tmp_path / "m")
    assert (info.image_size, info.trained, info.model) == (48, {"step": 3}, g.cfg)
    with pytest.raises(ValueError, match="image_size"):
        save_pretrained(g, tmp_path / "n", image_size=0)


def test_first_release_config_still_loads(tmp_path):
    """The bundled model's first config.json (discriminator keys under model) is a fixture that must keep loading."""
    import json
    import shutil

    from autopainter.models.io import LEGACY_MODEL_KEYS

    legacy = json.loads((REPO / "tests" / "fixtures" / "legacy_model_config.json").read_text())
    arch = GeneratorConfig(**{k: v for k, v in legacy["model"].items() if k not in LEGACY_MODEL_KEYS})
    save_pretrained(build_generator(arch), tmp_path / "m", image_size=256)
    shutil.copy(REPO / "tests" / "fixtures" / "legacy_model_config.json", tmp_path / "m" / "config.json")
    g, info = load_generator(tmp_path / "m")
    assert g.cfg == arch and info.image_size == 256 and info.trained["step"] == 3767


def test_folder_without_image_size_warns_and_uses_256(tmp_path):
    import json

    save_pretrained(build_generator(GeneratorConfig(**TINY)), tmp_path / "m", image_size=32)
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    del meta["image_size"]
    (tmp_path / "m" / "config.json").write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="no image_size; assuming 256"):
        _, info = load_generator(tmp_path / "m")
    assert info.image_size == 256
    meta["image_size"] = "big"
    (tmp_path / "m" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="image_size"):
        load_generator(tmp_path / "m")
    meta["model"]["bogus"] = 1
    (tmp_path / "m" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="unknown config key model.bogus"):
        load_generator(tmp_path / "m")
