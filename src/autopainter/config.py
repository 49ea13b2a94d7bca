"""One config tree for Auto-Painter: model, loss, data and training settings.

Every field carries a comment. Configs load from YAML, take ``section.key=value`` overrides, and are
validated when built, so a typo or a wrong type is an error that names the fix, never a silent default.
The resolved tree is written into every run folder and checkpoint: a checkpoint never needs flags retyped.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A config that cannot be used; the message says what to change."""


NORMS = ("batch", "instance", "group", "none")
GAN_MODES = ("vanilla", "lsgan", "hinge")
FEATURE_BACKBONES = ("efficientnet-lite0", "vgg16", "vgg19", "none")
LAYOUTS = ("side_by_side", "two_folders", "color_only")


@dataclass
class ModelConfig:
    """Generator and discriminator architecture."""

    in_channels: int = 5  # sketch 1 + hint RGB 3 + hint mask 1 (pix2pix itself: 3)
    out_channels: int = 3  # RGB in [-1, 1]
    ngf: int = 32  # generator base channels (pix2pix 64, paper 48)
    depth: int = 7  # U-Net down-samplings; inputs are padded to a multiple of 2**depth
    max_mult: int = 8  # channel cap as a multiple of ngf (ngf * max_mult at the bottleneck)
    kernel_size: int = 4  # conv kernel of the generator: 4 (pix2pix) or 3 (paper)
    norm: str = "batch"  # generator norm: batch | instance | group | none
    dropout: float = 0.5  # dropout in the innermost decoder blocks (pix2pix: 0.5)
    dropout_blocks: int = 3  # how many innermost decoder blocks (below the bottleneck) get dropout
    ndf: int = 64  # discriminator base channels
    d_layers: int = 3  # PatchGAN strided layers: 3 gives the 70x70 receptive field
    d_norm: str = "batch"  # discriminator norm: batch | instance | group | none
    d_in_channels: int = 4  # discriminator input: sketch 1 + image 3 (pix2pix: 6)
    gradient_checkpointing: bool = False  # recompute generator activations in backward to save memory


@dataclass
class LossConfig:
    """Generator objective L = w_p*L1 + w_f*L_feature + w_G*L_GAN + w_tv*L_TV."""

    l1: float = 100.0  # w_p, pixel L1 weight
    feature: float = 0.0  # w_f, feature (perceptual) loss weight; 0 disables it
    gan: float = 1.0  # w_G, adversarial weight
    tv: float = 0.0  # w_tv, total-variation weight
    hint: float = 0.0  # L1 weight on the hinted areas alone (each hint grown by a few pixels); rewards following hints
    gan_mode: str = "vanilla"  # vanilla | lsgan | hinge
    feature_backbone: str = "efficientnet-lite0"  # efficientnet-lite0 | vgg16 | vgg19 | none
    feature_weights: str = ""  # path to a torchvision-format .pth (required for vgg16 / vgg19)
    feature_layers: list[int] = field(default_factory=list)  # backbone stages to compare; [] = backbone default


@dataclass
class DataConfig:
    """Where pairs come from and how they are augmented."""

    path: str = ""  # dataset root (uses ROOT/train and ROOT/val when they exist)
    layout: str = "side_by_side"  # side_by_side | two_folders | color_only
    sketch_side: str = "right"  # side_by_side: which half holds the sketch (Kaggle set: right)
    sketch_dir: str = "sketch"  # two_folders: subfolder of sketches
    color_dir: str = "color"  # two_folders: subfolder of colored images, matched by file stem
    sketch_method: str = "xdog"  # color_only: how sketches are extracted on the fly
    image_size: int = 256  # training crop size (square)
    load_size: int = 286  # images are resized to this before the random crop (pix2pix: 286 for 256)
    flip: bool = True  # random horizontal flip (the same for sketch and color)
    num_workers: int = 2  # DataLoader worker processes
    hint_none_prob: float = 0.3  # share of samples given no hints (one model serves both uses)
    hint_max_strokes: int = 20  # upper bound of simulated hint strokes or points per sample
    hint_hue_jitter: float = 0.0  # chance that a hinted sample's target and hints get one random hue rotation:
    # the hue must then come from the hints, not from what such drawings usually look like
    num_val_samples: int = 8  # fixed sketches in the per-epoch sample grid


@dataclass
class TrainConfig:
    """Optimisation, logging and checkpointing."""

    epochs: int = 20  # passes over the training set
    max_steps: int = 0  # stop after this many steps in total (0: no limit)
    batch_size: int = 4  # images per step (per process under DDP)
    lr_g: float = 2e-4  # generator Adam learning rate
    lr_d: float = 2e-4  # discriminator Adam learning rate
    beta1: float = 0.5  # Adam beta1
    beta2: float = 0.999  # Adam beta2
    ema_decay: float = 0.999  # EMA of generator weights, used for samples and export (warmed up over the first steps)
    init_from: str = ""  # start the generator (and its EMA) from this model folder (config.json + model.safetensors)
    seed: int = 0  # seeds data order, augmentation, hints and initialisation
    device: str = "auto"  # auto (CUDA when present, else CPU) | cpu | cuda | cuda:N
    mixed_precision: str = "none"  # none | auto | bf16 | fp16 (auto: bf16 where native, fp16 on older GPUs)
    checkpoint_every: int = 1  # epochs between checkpoints (the last epoch and an interrupt always save)
    sample_every: int = 1  # epochs between sample grids (samples/epoch-NNNN.png and progress.gif)
    channels_last: bool = False  # channels_last memory format (often faster with bf16 on CPU and on CUDA)
    compile: bool = False  # torch.compile the generator and discriminator
    log_every: int = 10  # steps between stats.jsonl lines
    runs_dir: str = "runs"  # where numbered run folders are made
    name: str = ""  # run name suffix; default: the config's name


@dataclass
class Config:
    """The whole tree: ``Config.load("configs/tiny.yaml", overrides=["train.epochs=2"])``."""

    name: str = "default"  # preset name, used in run folder names
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "Config":
        cfg = _build(cls, d or {}, "")
        cfg.validate()
        return cfg

    @classmethod
    def load(cls, path: str | Path | None = None, overrides: list[str] | None = None) -> "Config":
        d: dict[str, Any] = {}
        if path is not None:
            p = Path(path)
            if not p.is_file():
                raise ConfigError(f"config file not found: {p} (presets live in configs/, e.g. configs/tiny.yaml)")
            try:
                d = yaml.safe_load(p.read_text()) or {}
            except yaml.YAMLError as e:
                raise ConfigError(f"{p} is not valid YAML: {str(e).splitlines()[0]}") from None
            if not isinstance(d, dict):
                raise ConfigError(f"{p} must hold a mapping of sections (model, loss, data, train)")
            d.setdefault("name", p.stem)
        for ov in overrides or []:
            apply_override(d, ov)
        return cls.from_dict(d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    # ---------------------------------------------------------------- validation
    def validate(self) -> None:
        m, lo, da, t = self.model, self.loss, self.data, self.train
        _choice("model.norm", m.norm, NORMS)
        _choice("model.d_norm", m.d_norm, NORMS)
        _choice("loss.gan_mode", lo.gan_mode, GAN_MODES)
        _choice("loss.feature_backbone", lo.feature_backbone, FEATURE_BACKBONES)
        _choice("data.layout", da.layout, LAYOUTS)
        _choice("data.sketch_side", da.sketch_side, ("left", "right"))
        _choice("train.mixed_precision", t.mixed_precision, ("none", "auto", "bf16", "fp16"))
        _positive("model.ngf", m.ngf)
        _positive("model.ndf", m.ndf)
        _positive("model.depth", m.depth)
        _positive("model.max_mult", m.max_mult)
        _positive("data.image_size", da.image_size)
        _positive("train.batch_size", t.batch_size)
        _positive("train.epochs", t.epochs)
        _positive("train.checkpoint_every", t.checkpoint_every)
        _positive("train.sample_every", t.sample_every)
        _positive("train.log_every", t.log_every)
        if t.max_steps < 0:
            raise ConfigError("train.max_steps must be >= 0 (0: no limit)")
        if da.num_workers < 0:
            raise ConfigError("data.num_workers must be >= 0")
        if not (t.device in ("auto", "cpu", "cuda") or t.device.startswith("cuda:")):
            raise ConfigError(f"train.device={t.device!r} is not one of: auto, cpu, cuda, cuda:N")
        if m.out_channels != 3:
            raise ConfigError(f"model.out_channels must be 3 (RGB), got {m.out_channels}")
        for name, v in (("model.d_layers", m.d_layers), ("data.num_val_samples", da.num_val_samples)):
            _positive(name, v)
        for name, v in (("model.dropout_blocks", m.dropout_blocks), ("data.hint_max_strokes", da.hint_max_strokes)):
            if v < 0:
                raise ConfigError(f"{name} must be >= 0, got {v}")
        from .data.sketch import SKETCH_METHODS

        _choice("data.sketch_method", da.sketch_method, SKETCH_METHODS)
        if m.kernel_size not in (3, 4):
            raise ConfigError(f"model.kernel_size must be 3 or 4, got {m.kernel_size}")
        if not 0.0 <= m.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {m.dropout}")
        if m.in_channels not in (3, 5):
            raise ConfigError("model.in_channels must be 5 (sketch + hint RGB + mask) or 3 (pix2pix RGB input)")
        if m.d_in_channels not in (4, 6):
            raise ConfigError("model.d_in_channels must be 4 (sketch + image) or 6 (pix2pix: gray RGB sketch + image)")
        if da.image_size % (2 ** m.depth):
            raise ConfigError(
                f"data.image_size={da.image_size} must be a multiple of 2**model.depth={2 ** m.depth}; "
                f"lower model.depth or pick another size"
            )
        if da.load_size < da.image_size:
            raise ConfigError(f"data.load_size ({da.load_size}) must be >= data.image_size ({da.image_size})")
        if not 0.0 <= da.hint_hue_jitter <= 1.0:
            raise ConfigError(f"data.hint_hue_jitter must be in [0, 1], got {da.hint_hue_jitter}")
        if not 0.0 <= da.hint_none_prob <= 1.0:
            raise ConfigError(f"data.hint_none_prob must be in [0, 1], got {da.hint_none_prob}")
        if not 0.0 <= t.ema_decay < 1.0:
            raise ConfigError(f"train.ema_decay must be in [0, 1), got {t.ema_decay}")
        for k in ("l1", "feature", "gan", "tv", "hint"):
            if getattr(lo, k) < 0:
                raise ConfigError(f"loss.{k} must be >= 0")
        if lo.l1 == lo.feature == lo.gan == lo.tv == lo.hint == 0:
            raise ConfigError("every loss weight is 0: set at least one of loss.l1, loss.feature, loss.gan, loss.tv, loss.hint > 0")
        if lo.feature > 0 and lo.feature_backbone == "none":
            raise ConfigError("loss.feature > 0 needs a loss.feature_backbone (efficientnet-lite0, vgg16 or vgg19)")


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not one of: {', '.join(choices)}")


def _positive(name: str, value: int) -> None:
    if value <= 0:
        raise ConfigError(f"{name} must be > 0, got {value}")


# ---------------------------------------------------------------------- dict -> dataclass
def _build(cls: type, d: dict[str, Any], prefix: str) -> Any:
    if not isinstance(d, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {type(d).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]!s}; valid keys{' in ' + prefix.rstrip('.') if prefix else ''}: "
            f"{', '.join(sorted(known))}"
        )
    kwargs = {}
    for f in fields(cls):
        if f.name not in d:
            continue
        kwargs[f.name] = _coerce(hints[f.name], d[f.name], prefix + f.name)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, name: str) -> Any:
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, name + ".")
    origin = typing.get_origin(tp)
    if origin in (list,):
        if not isinstance(value, list):
            raise ConfigError(f"{name} must be a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_coerce(item, v, name) for v in value]
    if origin in (typing.Union, types.UnionType):
        raise ConfigError(f"unsupported type for {name}")  # not used by the tree
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if value is None:
            return ""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # --set train.name=2024 is a name, not a number
        raise ConfigError(f"{name} must be a string, got {value!r}")
    return value


def apply_override(d: dict[str, Any], override: str) -> None:
    """Apply ``section.key=value`` (value parsed as YAML) to a plain config dict, in place."""
    if "=" not in override:
        raise ConfigError(f"bad --set {override!r}: expected section.key=value, e.g. train.epochs=5")
    key, raw = override.split("=", 1)
    key = key.strip()
    parts = key.split(".")
    if not key or any(not p for p in parts):
        raise ConfigError(f"bad --set {override!r}: expected section.key=value, e.g. train.epochs=5")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    node = d
    for p in parts[:-1]:
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"bad --set {override!r}: {p} is not a section")
        node = nxt
    node[parts[-1]] = value
