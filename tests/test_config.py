import pytest

from conftest import REPO

from autopainter.config import Config, ConfigError


@pytest.mark.parametrize("preset", ["tiny", "default", "pix2pix", "paper"])
def test_presets_load(preset):
    cfg = Config.load(REPO / "configs" / f"{preset}.yaml")
    assert cfg.name == preset
    # the resolved tree round-trips through a dict (what runs and checkpoints store)
    assert Config.from_dict(cfg.to_dict()) == cfg


def test_paper_preset_is_the_released_code():
    cfg = Config.load(REPO / "configs" / "paper.yaml")
    assert (cfg.model.ngf, cfg.model.kernel_size) == (48, 3)
    assert (cfg.loss.l1, cfg.loss.tv, cfg.loss.feature, cfg.data.image_size) == (50.0, 1e-3, 1e-4, 512)


def test_overrides_and_types():
    cfg = Config.load(REPO / "configs" / "tiny.yaml", ["train.epochs=7", "loss.l1=3", "data.flip=false", "model.norm=group"])
    assert cfg.train.epochs == 7 and cfg.loss.l1 == 3.0 and cfg.data.flip is False and cfg.model.norm == "group"


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.epoch=3", "unknown config key train.epoch"),
        ("train.epochs=three", "train.epochs must be an integer"),
        ("model.norm=layer", "model.norm='layer' is not one of"),
        ("nosection", "expected section.key=value"),
        ("data.image_size=100", "multiple of 2\\*\\*model.depth"),
        ("loss.gan_mode=wgan", "vanilla, lsgan, hinge"),
        ("train.batch_size=0", "train.batch_size must be > 0"),
        ("bogus.key=1", "unknown config key bogus"),
    ],
)
def test_bad_config_is_a_clear_error(override, message):
    with pytest.raises(ConfigError, match=message):
        Config.load(REPO / "configs" / "tiny.yaml", [override])


def test_bad_yaml_file(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        Config.load(p)
    with pytest.raises(ConfigError, match="not found"):
        Config.load(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["loss.l1=0", "loss.gan=0"], "every loss weight is 0"),
        (["data.num_val_samples=0"], "data.num_val_samples must be > 0"),
        (["model.out_channels=1"], "model.out_channels must be 3"),
        (["data.sketch_method=pencil"], "data.sketch_method='pencil' is not one of"),
    ],
)
def test_more_invalid_configs(overrides, message):
    with pytest.raises(ConfigError, match=message):
        Config.load(REPO / "configs" / "tiny.yaml", overrides)


def test_numeric_text_for_string_fields():
    assert Config.load(REPO / "configs" / "tiny.yaml", ["train.name=2024"]).train.name == "2024"
