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
    # YAML 1.1 reads 1e-5 (no dot) as text; a float field takes it as the number it means
    cfg = Config.load("tiny", ["train.lr_g=1e-5", "train.lr_d=2E+1", "loss.l1=.5e1"])
    assert (cfg.train.lr_g, cfg.train.lr_d, cfg.loss.l1) == (1e-5, 20.0, 5.0)
    with pytest.raises(ConfigError, match="train.lr_g must be a number"):
        Config.load("tiny", ["train.lr_g=1e-5x"])


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.epoch=3", "unknown config key train.epoch"),
        ("train.epochs=three", "train.epochs must be an integer"),
        ("train.epochs=1e3", "train.epochs must be an integer"),
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


def test_presets_by_name():
    from autopainter.config import preset_names, resolve_config_path

    assert set(preset_names()) >= {"tiny", "default", "pix2pix", "paper"}
    assert Config.load("tiny") == Config.load(REPO / "configs" / "tiny.yaml")
    assert resolve_config_path("paper").name == "paper.yaml"
    with pytest.raises(ConfigError, match="no config file or preset named 'nosuch'; presets: default, paper"):
        Config.load("nosuch")


def test_each_section_validates_itself():
    from autopainter.config import DataConfig, DiscriminatorConfig, GeneratorConfig, LossConfig, TrainConfig

    with pytest.raises(ConfigError, match="data.layout='bogus' is not one of: auto"):
        DataConfig(path="x", layout="bogus")
    with pytest.raises(ConfigError, match="data.load_size"):
        DataConfig(image_size=64, load_size=32)
    with pytest.raises(ConfigError, match="model.kernel_size"):
        GeneratorConfig(kernel_size=5)
    with pytest.raises(ConfigError, match="discriminator.in_channels"):
        DiscriminatorConfig(in_channels=5)
    with pytest.raises(ConfigError, match="loss.gan_mode"):
        LossConfig(gan_mode="wgan")
    with pytest.raises(ConfigError, match="train.device"):
        TrainConfig(device="tpu")


def test_old_keys_move_to_their_sections():
    """Run folders written before the discriminator had its own section keep loading."""
    old = {"name": "old", "model": {"ngf": 8, "depth": 4, "ndf": 16, "d_layers": 2, "d_norm": "group",
                                    "d_in_channels": 6, "gradient_checkpointing": True}}
    cfg = Config.from_dict(old)
    assert (cfg.discriminator.ndf, cfg.discriminator.layers, cfg.discriminator.norm, cfg.discriminator.in_channels) == (16, 2, "group", 6)
    assert cfg.train.gradient_checkpointing is True and cfg.model.ngf == 8
    assert "ndf" not in cfg.to_dict()["model"]
    assert old["model"]["ndf"] == 16  # the caller's dict is left alone
    # the old --set spelling still works, and a contradiction is an error, not a silent choice
    assert Config.load("tiny", ["model.ndf=4"]).discriminator.ndf == 4
    assert Config.load("tiny", ["model.ndf=4", "discriminator.ndf=2"]).discriminator.ndf == 2  # the last one wins
    with pytest.raises(ConfigError, match="model.ndf .* and discriminator.ndf disagree"):
        Config.from_dict({"model": {"ndf": 4}, "discriminator": {"ndf": 8}})


def test_sketch_methods_agree_with_the_implementation():
    from autopainter.config import SKETCH_METHODS
    from autopainter.data import sketch

    assert tuple(SKETCH_METHODS) == tuple(sketch.SKETCH_METHODS)
