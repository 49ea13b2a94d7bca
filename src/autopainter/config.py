"""One config tree for Auto-Painter: model, loss, data and training settings.

Every field carries a comment. Configs load from YAML, take ``section.key=value`` overrides, and are
validated when built, so a typo or a wrong type is an error that names the fix, never a silent default.
The resolved tree is written into every run folder and checkpoint: a checkpoint never needs flags retyped.
"""

from __future__ import annotations

import contextvars
import dataclasses
import math
import re
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A config that cannot be used; the message says what to change."""


# Set while Config.from_dict builds a tree: sections then skip their own check in __post_init__, and
# Config.validate checks everything once the whole tree exists. Built alone, a section checks itself.
_DEFERRED: contextvars.ContextVar[bool] = contextvars.ContextVar("autopainter_config_deferred", default=False)


class _Section:
    """A config dataclass that checks itself when built (unless a whole tree is being built)."""

    def __post_init__(self) -> None:
        if not _DEFERRED.get():
            self.validate()

    def validate(self) -> None:
        raise NotImplementedError


NORMS = ("batch", "instance", "group", "none")
GAN_MODES = ("vanilla", "lsgan", "hinge")
FEATURE_BACKBONES = ("efficientnet-lite0", "vgg16", "vgg19", "none")
SKETCH_FEATURES = ("none", "efficientnet-lite0")  # model.sketch_features (models.unet)
LAYOUTS = ("auto", "side_by_side", "two_folders", "color_only")  # auto: detected as `prepare check` does
SKETCH_METHODS = ("xdog", "thin")  # data.sketch implements them (a test checks the two agree)
PRESETS_DIR = Path(__file__).parent / "configs"

# Bounds that every config passes before anything is built from it (YAML, --set, a model folder's
# config.json, a checkpoint), so a typo or a hostile file is a one-line error, never terabytes asked of
# the allocator. Each is far beyond any useful setting:
MAX_PARAMETERS = 200_000_000  # per network (generator or discriminator); pix2pix's unet_256 has 54M
MAX_IMAGE_SIDE = 8192  # data.image_size, data.load_size and a model's image_size, in pixels (an 8192 px
# RGB image is 200 MB as uint8; training crops are 256-512 px)
MAX_CHANNELS = 4096  # model.ngf, discriminator.ndf
MAX_DEPTH = 10  # model.depth: inputs are padded to a multiple of 2**depth (1024 px at 10)
MAX_BATCH = 4096  # train.batch_size
MAX_PARTS = 32  # model.parts: names the part head tells apart
PART_HIDDEN = 32  # the part head's hidden channels (models.unet)
PART_LEVELS = 3  # decoder levels the part head reads (the last three: at 1/2, 1/4 and 1/8 of the image's size)
# model.sketch_features=efficientnet-lite0: the frozen network's output channels at strides 2..32 (stride
# 2**(level+1) joins decoder level ``level``) and its weight count for all five stages (models.unet;
# a test checks both against the built network)
SKETCH_FEATURE_CHANNELS = (16, 24, 40, 112, 320)
SKETCH_FEATURE_PARAMETERS = 2_958_848

# Keys of the config tree before the generator and discriminator had sections of their own. Old run
# folders and old --set lines still load: from_dict moves them to where they live now.
LEGACY_KEYS = {
    ("model", "ndf"): ("discriminator", "ndf"),
    ("model", "d_layers"): ("discriminator", "layers"),
    ("model", "d_norm"): ("discriminator", "norm"),
    ("model", "d_in_channels"): ("discriminator", "in_channels"),
    ("model", "gradient_checkpointing"): ("train", "gradient_checkpointing"),
}


@dataclass
class GeneratorConfig(_Section):
    """The U-Net generator: all a release model folder needs to rebuild itself (YAML section ``model``)."""

    in_channels: int = 5  # sketch 1 + hint RGB 3 + hint mask 1 (pix2pix itself: 3)
    out_channels: int = 3  # RGB in [-1, 1]
    ngf: int = 32  # generator base channels (pix2pix 64, paper 48)
    depth: int = 7  # U-Net down-samplings; inputs are padded to a multiple of 2**depth
    max_mult: int = 8  # channel cap as a multiple of ngf (ngf * max_mult at the bottleneck)
    kernel_size: int = 4  # conv kernel of the generator: 4 (pix2pix) or 3 (paper)
    norm: str = "batch"  # generator norm: batch | instance | group | none
    dropout: float = 0.5  # dropout in the innermost decoder blocks (pix2pix: 0.5)
    dropout_blocks: int = 3  # how many innermost decoder blocks (below the bottleneck) get dropout
    upsample: str = "transposed"  # decoder: transposed (pix2pix; 2-px checkerboard) | resize (nearest x2 + 3x3 conv)
    sketch_features: str = "none"  # none | efficientnet-lite0: frozen ImageNet features of the sketch fed to the decoder
    material_dim: int = 0  # material head: a D-dim embedding per pixel, alike within one material (0: none; loss.material)
    parts: list[str] = field(default_factory=list)  # part head: the part names it tells apart per pixel, e.g. [paper,
    # skin, hair, eyes, clothing, accessory, other] (data.materials.PART_CLASSES; []: none; loss.parts)

    def validate(self) -> None:
        _finite(self, "model")
        _in_range("model.material_dim", self.material_dim, 0, 256)
        if not isinstance(self.parts, list) or not all(isinstance(p, str) and p for p in self.parts):
            raise ConfigError(f"model.parts must be a list of part names, got {self.parts!r}")
        if len(set(self.parts)) != len(self.parts) or len(self.parts) > MAX_PARTS:
            raise ConfigError(f"model.parts must be at most {MAX_PARTS} different names, got {self.parts!r}")
        _choice("model.norm", self.norm, NORMS)
        _choice("model.upsample", self.upsample, ("transposed", "resize"))
        _choice("model.sketch_features", self.sketch_features, SKETCH_FEATURES)
        _in_range("model.ngf", self.ngf, 1, MAX_CHANNELS)
        _in_range("model.depth", self.depth, 1, MAX_DEPTH)
        _in_range("model.max_mult", self.max_mult, 1, 64)
        if self.out_channels != 3:
            raise ConfigError(f"model.out_channels must be 3 (RGB), got {self.out_channels}")
        if self.dropout_blocks < 0:
            raise ConfigError(f"model.dropout_blocks must be >= 0, got {self.dropout_blocks}")
        if self.kernel_size not in (3, 4):
            raise ConfigError(f"model.kernel_size must be 3 or 4, got {self.kernel_size}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if self.in_channels not in (3, 5):
            raise ConfigError("model.in_channels must be 5 (sketch + hint RGB + mask) or 3 (pix2pix RGB input)")
        if self.sketch_features != "none" and self.depth < 2:
            raise ConfigError("model.sketch_features needs model.depth >= 2 (the features join the decoder from stride 2)")
        _parameter_bound("model", self.parameter_count(), f"ngf={self.ngf}, depth={self.depth}, max_mult={self.max_mult}",
                         "lower model.ngf or model.max_mult")

    def parameter_count(self) -> int:
        """The parameters of the generator this config describes, worked out without building it (models.unet
        is the network; a test checks the two agree). With sketch features the frozen network counts whole
        (all five stages), an upper bound by at most its 3M weights."""
        k, depth = self.kernel_size, self.depth
        chans = [min(self.ngf * 2**i, self.ngf * self.max_mult) for i in range(depth)]  # encoder outputs
        extra = [0] * depth  # sketch-feature channels joining each decoder level
        n = 0
        if self.sketch_features != "none":
            n += SKETCH_FEATURE_PARAMETERS
            for level, c in enumerate(SKETCH_FEATURE_CHANNELS[: max(0, depth - 1)]):
                extra[level] = c
                n += c * c + c  # the 1x1 adapter
        bias = self.norm != "batch"  # batch norm's shift replaces the conv bias
        norm = 2 if self.norm in ("batch", "group") else 0  # affine scale and shift per channel
        cin = self.in_channels
        for i, cout in enumerate(chans):  # encoder: strided k x k convs
            edge = i in (0, depth - 1)
            n += cin * cout * k * k + (cout if i == 0 or bias else 0) + (0 if edge else norm * cout)
            cin = cout
        up_k = 3 if self.upsample == "resize" else k
        for i in reversed(range(depth)):  # decoder: skip concat in, up-sampling conv
            up_in = chans[i] if i == depth - 1 else 2 * chans[i] + extra[i]
            up_out = self.out_channels if i == 0 else chans[i - 1]
            n += up_in * up_out * up_k * up_k + (up_out if i == 0 or bias else 0) + (0 if i == 0 else norm * up_out)
        if self.material_dim:  # a 1x1 conv on what the last decoder block reads
            head_in = chans[0] if depth == 1 else 2 * chans[0] + extra[0]
            n += head_in * self.material_dim + self.material_dim
        if self.parts:  # 1x1 convs on what the last PART_LEVELS decoder blocks read, then a 3x3 and a 1x1 conv
            for i in range(min(PART_LEVELS, depth)):
                c = chans[i] if i == depth - 1 else 2 * chans[i] + extra[i]
                n += c * PART_HIDDEN + PART_HIDDEN
            n += PART_HIDDEN * PART_HIDDEN * 9 + PART_HIDDEN + PART_HIDDEN * len(self.parts) + len(self.parts)
        return n


@dataclass
class DiscriminatorConfig(_Section):
    """The conditional PatchGAN (YAML section ``discriminator``); training only, never in a release model."""

    ndf: int = 64  # base channels
    layers: int = 3  # strided layers: 3 gives the 70x70 receptive field
    norm: str = "batch"  # batch | instance | group | none
    in_channels: int = 4  # sketch 1 + image 3 (pix2pix: 6, the sketch as gray RGB)

    def validate(self) -> None:
        _choice("discriminator.norm", self.norm, NORMS)
        _in_range("discriminator.ndf", self.ndf, 1, MAX_CHANNELS)
        _in_range("discriminator.layers", self.layers, 1, 8)
        if self.in_channels not in (4, 6):
            raise ConfigError("discriminator.in_channels must be 4 (sketch + image) or 6 (pix2pix: gray RGB sketch + image)")
        _parameter_bound("discriminator", self.parameter_count(), f"ndf={self.ndf}, layers={self.layers}",
                         "lower discriminator.ndf")

    def parameter_count(self) -> int:
        """The parameters of the PatchGAN this config describes, without building it (models.patchgan)."""
        norm = 2 if self.norm in ("batch", "group") else 0
        n = self.in_channels * self.ndf * 16 + self.ndf  # 4x4 convs with bias
        mult = 1
        for i in range(1, self.layers + 1):
            prev, mult = mult, min(2**i, 8)
            c = self.ndf * mult
            n += self.ndf * prev * c * 16 + c + norm * c
        return n + self.ndf * mult * 16 + 1


@dataclass
class LossConfig(_Section):
    """Generator objective L = w_p*L1 + w_f*L_feature + w_G*L_GAN + w_tv*L_TV."""

    l1: float = 100.0  # w_p, pixel L1 weight
    feature: float = 0.0  # w_f, feature (perceptual) loss weight; 0 disables it
    gan: float = 1.0  # w_G, adversarial weight
    tv: float = 0.0  # w_tv, total-variation weight
    hint: float = 0.0  # L1 weight on the hinted areas alone (each hint grown by a few pixels); rewards following hints
    material: float = 0.0  # weight of the material head's contrastive term (needs model.material_dim and material maps)
    locality: float = 0.0  # L1 of the output against its own no-hint output over the unhinted materials (a hint changes its own)
    parts: float = 0.0  # cross-entropy of the part head (model.parts) against the part names of the material maps
    gan_mode: str = "vanilla"  # vanilla | lsgan | hinge
    feature_backbone: str = "efficientnet-lite0"  # efficientnet-lite0 | vgg16 | vgg19 | none
    feature_weights: str = ""  # path to a torchvision-format .pth (required for vgg16 / vgg19)
    feature_layers: list[int] = field(default_factory=list)  # backbone stages to compare; [] = backbone default
    feature_warmup: int = 0  # steps over which the feature weight ramps linearly from 0 to loss.feature (0: none)
    feature_off_hints: bool = False  # the feature loss sees the target inside the hinted areas: hints alone rule there

    def validate(self) -> None:
        _finite(self, "loss")
        _choice("loss.gan_mode", self.gan_mode, GAN_MODES)
        _choice("loss.feature_backbone", self.feature_backbone, FEATURE_BACKBONES)
        for k in ("l1", "feature", "gan", "tv", "hint", "material", "locality", "parts"):
            if getattr(self, k) < 0:
                raise ConfigError(f"loss.{k} must be >= 0")
        if self.l1 == self.feature == self.gan == self.tv == self.hint == 0:
            raise ConfigError("every loss weight is 0: set at least one of loss.l1, loss.feature, loss.gan, loss.tv, loss.hint > 0")
        if self.feature_warmup < 0:
            raise ConfigError(f"loss.feature_warmup must be >= 0 steps, got {self.feature_warmup}")
        if self.feature > 0 and self.feature_backbone == "none":
            raise ConfigError("loss.feature > 0 needs a loss.feature_backbone (efficientnet-lite0, vgg16 or vgg19)")


@dataclass
class DataConfig(_Section):
    """Where pairs come from and how they are augmented."""

    path: str = ""  # dataset root (uses ROOT/train and ROOT/val when they exist)
    extra_paths: list[str] = field(default_factory=list)  # more dataset roots, read with data.path as one set (--data A --data B)
    repeats: list[int] = field(default_factory=list)  # training pairs of each root (data.path, then extra_paths) listed this many
    # times per epoch, e.g. [1, 3]: the second set sampled 3x as often; empty: every root once. Val and test splits are never repeated
    layout: str = "auto"  # auto (detected: sketch/ + color/ folders -> two_folders, else side_by_side) | side_by_side | two_folders | color_only
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
    hint_materials: bool = True  # training hints per material (data/materials.py maps): each hinted material hinted
    # inside itself only, the unhinted ones keep their colors (see data.hints.simulate_material_hints)
    material_recolor: float = 0.5  # chance that a hinted material gets its own new color in target and hints
    hint_hue_jitter: float = 0.0  # chance that a hinted sample's target and hints get one random hue rotation:
    # the hue must then come from the hints, not from what such drawings usually look like
    num_val_samples: int = 8  # fixed sketches in the per-epoch sample grid
    augment: bool = False  # training pairs augmented (data.augment: several characters, sketch kinds, geometry, lines, backgrounds)

    def validate(self) -> None:
        _choice("data.layout", self.layout, LAYOUTS)
        if any(not p for p in self.extra_paths):
            raise ConfigError("data.extra_paths holds an empty path")
        if self.repeats:
            roots = 1 + len(self.extra_paths)
            if len(self.repeats) != roots:
                raise ConfigError(f"data.repeats has {len(self.repeats)} entries but there are {roots} datasets "
                                  "(data.path, then each of data.extra_paths: the --data folders in order)")
            if any(not isinstance(r, int) or isinstance(r, bool) or not 1 <= r <= 1000 for r in self.repeats):
                raise ConfigError(f"data.repeats must be whole numbers from 1 to 1000, got {self.repeats}")
        _choice("data.sketch_side", self.sketch_side, ("left", "right"))
        _choice("data.sketch_method", self.sketch_method, SKETCH_METHODS)
        _finite(self, "data")
        _in_range("data.image_size", self.image_size, 1, MAX_IMAGE_SIDE)
        _in_range("data.load_size", self.load_size, 1, MAX_IMAGE_SIDE)
        _in_range("data.num_val_samples", self.num_val_samples, 1, 1024)
        _in_range("data.num_workers", self.num_workers, 0, 1024)
        _in_range("data.hint_max_strokes", self.hint_max_strokes, 0, 10_000)
        if self.load_size < self.image_size:
            raise ConfigError(f"data.load_size ({self.load_size}) must be >= data.image_size ({self.image_size})")
        if not 0.0 <= self.material_recolor <= 1.0:
            raise ConfigError(f"data.material_recolor must be in [0, 1], got {self.material_recolor}")
        if not 0.0 <= self.hint_hue_jitter <= 1.0:
            raise ConfigError(f"data.hint_hue_jitter must be in [0, 1], got {self.hint_hue_jitter}")
        if not 0.0 <= self.hint_none_prob <= 1.0:
            raise ConfigError(f"data.hint_none_prob must be in [0, 1], got {self.hint_none_prob}")


@dataclass
class TrainConfig(_Section):
    """Optimisation, logging and checkpointing."""

    epochs: int = 20  # passes over the training set
    max_steps: int = 0  # stop after this many steps in total (0: no limit)
    batch_size: int = 4  # images per step (per process under DDP)
    lr_g: float = 2e-4  # generator Adam learning rate
    lr_d: float = 2e-4  # discriminator Adam learning rate
    lr_decay_steps: int = 0  # the run's last N steps decay both learning rates linearly (0: constant rates)
    beta1: float = 0.5  # Adam beta1
    beta2: float = 0.999  # Adam beta2
    ema_decay: float = 0.999  # EMA of generator weights, used for samples and export (warmed up over the first steps)
    init_from: str = ""  # start G, its EMA (and D) from this model folder (config.json + model.safetensors); 'bundled': the packaged model
    seed: int = 0  # seeds data order, augmentation, hints and initialisation
    device: str = "auto"  # auto (CUDA when present, else CPU) | cpu | cuda | cuda:N
    mixed_precision: str = "none"  # none | auto | bf16 | fp16 (auto: bf16 where native, fp16 on older GPUs)
    gradient_checkpointing: bool = False  # recompute generator activations in backward to save memory
    checkpoint_every: int = 1  # epochs between checkpoints (the last epoch and an interrupt always save)
    export_every: int = 0  # steps between a checkpoint plus an export of the EMA generator to RUN/export (0: never)
    sample_every: int = 1  # epochs between sample grids (samples/epoch-NNNN.png and progress.gif)
    channels_last: bool = False  # channels_last memory format (often faster with bf16 on CPU and on CUDA)
    compile: bool = False  # torch.compile the generator and discriminator
    log_every: int = 10  # steps between stats.jsonl lines
    runs_dir: str = "runs"  # where numbered run folders are made
    name: str = ""  # run name suffix; default: the config's name
    heads_only: bool = False  # train the heads alone (model.material_dim's, model.parts'): the U-Net stays as it is,
    # no discriminator step, the objective is the heads' terms (loss.material, loss.parts)

    def validate(self) -> None:
        _finite(self, "train")
        _choice("train.mixed_precision", self.mixed_precision, ("none", "auto", "bf16", "fp16"))
        _in_range("train.batch_size", self.batch_size, 1, MAX_BATCH)
        for name in ("epochs", "checkpoint_every", "sample_every", "log_every"):
            _positive(f"train.{name}", getattr(self, name))
        for name in ("lr_g", "lr_d"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"train.{name} must be in [0, 1), got {getattr(self, name)}")
        if self.max_steps < 0:
            raise ConfigError("train.max_steps must be >= 0 (0: no limit)")
        if self.lr_decay_steps < 0:
            raise ConfigError("train.lr_decay_steps must be >= 0 (0: constant learning rates)")
        if self.export_every < 0:
            raise ConfigError("train.export_every must be >= 0 (0: no exports during the run)")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ConfigError(f"train.device={self.device!r} is not one of: auto, cpu, cuda, cuda:N")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"train.ema_decay must be in [0, 1), got {self.ema_decay}")


@dataclass
class Config(_Section):
    """The whole tree: ``Config.load("tiny", overrides=["train.epochs=2"])`` (a preset name or a YAML path)."""

    name: str = "default"  # preset name, used in run folder names
    model: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "Config":
        token = _DEFERRED.set(True)  # built whole first, so the rules that span sections are checked first
        try:
            cfg = build_section(cls, migrate(d or {}), "")
        finally:
            _DEFERRED.reset(token)
        cfg.validate()
        return cfg

    @classmethod
    def load(cls, path: str | Path | None = None, overrides: list[str] | None = None) -> "Config":
        """A preset name (``tiny``, ``default``, ``pix2pix``, ``paper``) or a YAML path, then ``--set`` overrides."""
        d: dict[str, Any] = {}
        if path is not None:
            p = resolve_config_path(path)
            if not p.is_file():
                raise ConfigError(f"config file not found: {p} (or name a preset: {', '.join(preset_names())})")
            try:
                d = yaml.safe_load(p.read_text()) or {}
            except yaml.YAMLError as e:
                raise ConfigError(f"{p} is not valid YAML: {str(e).splitlines()[0]}") from None
            if not isinstance(d, dict):
                raise ConfigError(f"{p} must hold a mapping of sections (model, discriminator, loss, data, train)")
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
        """The rules that span sections, then each section's own."""
        _in_range("model.depth", self.model.depth, 1, MAX_DEPTH)  # before 2**depth is worked out
        if self.data.image_size % (2 ** self.model.depth):
            raise ConfigError(
                f"data.image_size={self.data.image_size} must be a multiple of 2**model.depth={2 ** self.model.depth}; "
                f"lower model.depth or pick another size"
            )
        if self.loss.material > 0 and not self.model.material_dim:
            raise ConfigError("loss.material > 0 trains the material head: set model.material_dim (e.g. 16) too")
        if self.model.material_dim and self.loss.material == 0:
            raise ConfigError("model.material_dim adds a material head that only loss.material trains: set loss.material "
                              "(e.g. 2), or model.material_dim=0")
        if self.loss.locality > 0 and (self.model.dropout > 0 or self.model.norm == "batch"):
            raise ConfigError("loss.locality compares the output with a second, hint-less pass of the same network: "
                              "it needs model.dropout=0 and a norm other than batch")
        if self.loss.locality > 0 and self.data.hint_hue_jitter > 0:
            raise ConfigError("loss.locality holds unhinted materials to their no-hint colors, which "
                              "data.hint_hue_jitter turns: set one of them to 0")
        if self.loss.locality > 0 and (not self.data.hint_materials or self.model.in_channels != 5):
            raise ConfigError("loss.locality > 0 needs hints per material (data.hint_materials=true) and a generator "
                              "that reads hints (model.in_channels=5)")
        if bool(self.loss.parts > 0) != bool(self.model.parts):
            raise ConfigError("the part head (model.parts) and its term (loss.parts) go together: set both "
                              "(e.g. loss.parts=1) or neither")
        if self.loss.parts > 0 and not self.data.hint_materials:
            raise ConfigError("loss.parts > 0 needs the material maps in the batch: set data.hint_materials=true")
        if self.train.heads_only and not (self.loss.parts > 0 or self.loss.material > 0):
            raise ConfigError("train.heads_only trains the heads alone: it needs loss.parts or loss.material > 0")
        if self.loss.material > 0 and not self.data.hint_materials:
            raise ConfigError("loss.material > 0 needs the material maps in the batch: set data.hint_materials=true")
        for section in (self.model, self.discriminator, self.loss, self.data, self.train):
            section.validate()


# ---------------------------------------------------------------------- presets
def preset_names() -> list[str]:
    """The bundled presets: tiny, default, pix2pix, paper."""
    return sorted(q.stem for q in PRESETS_DIR.glob("*.yaml"))


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A YAML path as given, or the file of a bundled preset named ``name_or_path``."""
    p = Path(name_or_path)
    if isinstance(name_or_path, Path) or p.suffix in (".yaml", ".yml") or p.exists() or "/" in str(name_or_path):
        return p
    preset = PRESETS_DIR / f"{name_or_path}.yaml"
    if preset.is_file():
        return preset
    raise ConfigError(f"no config file or preset named {str(name_or_path)!r}; presets: {', '.join(preset_names())}")


def migrate(d: dict[str, Any]) -> dict[str, Any]:
    """A copy of a config dict with LEGACY_KEYS moved to their sections (old run folders, old --set lines).

    A key given both ways with different values is an error rather than a silent choice.
    """
    if not isinstance(d, dict):
        return d
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in d.items()}
    for (old_sec, old_key), (new_sec, new_key) in LEGACY_KEYS.items():
        sec = out.get(old_sec)
        if not isinstance(sec, dict) or old_key not in sec:
            continue
        value = sec.pop(old_key)
        target = out.setdefault(new_sec, {})
        if not isinstance(target, dict):
            continue  # build_section reports the bad section
        if new_key in target and target[new_key] != value:
            raise ConfigError(f"{old_sec}.{old_key} (the old name of {new_sec}.{new_key}) and {new_sec}.{new_key} disagree; keep one")
        target[new_key] = value
    return out


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not one of: {', '.join(choices)}")


def _positive(name: str, value: int) -> None:
    if value <= 0:
        raise ConfigError(f"{name} must be > 0, got {value}")


def _in_range(name: str, value: int, low: int, high: int) -> None:
    if value < low:
        raise ConfigError(f"{name} must be {'> 0' if low == 1 else f'>= {low}'}, got {value}")
    if value > high:
        raise ConfigError(f"{name} must be at most {high:,}, got {value:,}")


def _parameter_bound(section: str, n: int, settings: str, fix: str) -> None:
    """ConfigError for a network of ``n`` parameters over MAX_PARAMETERS, before anything allocates it."""
    if n > MAX_PARAMETERS:
        raise ConfigError(f"{section}: {settings} make {n / 1e6:,.0f}M parameters, over the "
                          f"{MAX_PARAMETERS / 1e6:.0f}M limit; {fix}")


def _finite(section: Any, prefix: str) -> None:
    """ConfigError for a float field holding NaN or an infinity (YAML .nan / .inf, JSON NaN)."""
    for f in fields(section):
        value = getattr(section, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{prefix}.{f.name} must be a finite number, got {value}")


# ---------------------------------------------------------------------- dict -> dataclass
def build_section(cls: type, d: dict[str, Any], prefix: str = "") -> Any:
    """A config dataclass from a plain dict, each value type-checked, unknown keys refused."""
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
        return build_section(tp, value, name + ".")
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
        if isinstance(value, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+", value.strip()):
            return float(value)  # 1e-5: YAML 1.1 reads exponents without a dot as text
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
    if tuple(parts) in LEGACY_KEYS:  # an old spelling: set what it is called now, so later --set lines win as usual
        parts = list(LEGACY_KEYS[tuple(parts)])
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
