"""U-Net generator of Auto-Painter (Liu et al. 2017, arXiv:1705.01908), after pix2pix (Isola et al. 2017).

The encoder halves the resolution ``depth`` times with strided convolutions; the decoder doubles it back
with transposed convolutions (``model.upsample=transposed``, pix2pix) or nearest-neighbour resizing and a
3x3 convolution (``resize``: no checkerboard), each level concatenated with the encoder feature map of the same size
(skip connections keep the sketch's lines in place). With ``in_channels=3, ngf=64, depth=8,
kernel_size=4, norm=batch`` this is pix2pix's ``unet_256`` layer for layer (54,414,019 parameters).

Auto-Painter's input is 5 channels: the sketch (1), the hint colors (3) and the hint mask (1). Inputs of
any H x W are reflect-padded to a multiple of ``2**depth`` and the output is cropped back.

``model.sketch_features=efficientnet-lite0`` adds a frozen ImageNet EfficientNet-Lite0 that reads the sketch
(as gray RGB) and hands its stage outputs at strides 2, 4, 8, 16 and 32 to the decoder: each goes through a
learned 1x1 convolution and joins the skip concat of the same size (as AlacGAN, Ci et al. 2018, feeds a
pretrained network's features of the line art to its decoder). What a face or hair looks like to an
ImageNet network is then there from the first step, not learned from a few thousand drawings. Its weights
are part of the generator's state (a model folder rebuilds itself without the weights package).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..config import PART_HIDDEN, PART_LEVELS, GeneratorConfig
from .inputs import crop, pad_to_multiple


# model.sketch_features=efficientnet-lite0: the Lite0 stages read (features.py numbering) and their strides
SKETCH_LAYERS = [1, 2, 3, 5, 7]
SKETCH_STRIDES = [2, 4, 8, 16, 32]


class _EvenSameConv2d(nn.Conv2d):
    """TensorFlow "SAME" padding fixed for inputs of even size (stride 2) or any size (stride 1).

    EfficientNet-Lite0's convolutions work out their padding from each input's size; inside the generator
    every input the sketch network sees is a multiple of 2 at every strided convolution (the sketch is padded
    to a multiple of ``2**depth`` and only stages up to stride ``2**(depth-1)`` are read), so the padding
    is a constant: the same numbers, and a graph the ONNX exporter can trace with dynamic sizes.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for k, st, d in zip(reversed(self.kernel_size), reversed(self.stride), reversed(self.dilation)):
            total = max((k - 1) * d + 1 - st, 0)  # SAME padding when the size is a multiple of the stride
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _fix_same_padding(module: nn.Module) -> None:
    """Swap the package's size-dependent SAME convolutions for ``_EvenSameConv2d`` (same parameters, same keys)."""
    for name, child in module.named_children():
        if type(child).__name__ == "Conv2dDynamicSamePadding":
            new = _EvenSameConv2d(child.in_channels, child.out_channels, child.kernel_size, tuple(child.stride), 0,
                                  child.dilation, child.groups, child.bias is not None, device="meta")
            new.weight = child.weight
            new.bias = child.bias
            setattr(module, name, new)
        else:
            _fix_same_padding(child)


def make_norm(kind: str, channels: int) -> nn.Module:
    """A norm layer by name: batch | instance | group | none."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels)  # pix2pix's: no affine, no running stats
    if kind == "group":
        import math

        return nn.GroupNorm(math.gcd(32, channels), channels)  # up to 32 groups that divide the channels
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; valid: batch, instance, group, none")


def _conv_bias(norm: str) -> bool:
    # A conv followed by batch norm needs no bias (the norm's shift replaces it); instance norm without
    # affine parameters and no norm keep it. The first encoder conv, with no norm after it, always has
    # one: that gives the exact parameter count pix2pix logs for unet_256 (54,414,019).
    return norm != "batch"


class _Down(nn.Module):
    """LeakyReLU -> strided conv -> norm (pre-activation, as pix2pix)."""

    def __init__(self, cin: int, cout: int, k: int, norm: str, act: bool, use_norm: bool, bias: bool):
        super().__init__()
        # Not in place: the input is also the skip connection. pix2pix activates it in place, so its skips
        # carry LeakyReLU(x); the decoder's ReLU makes that identical to ReLU(x), so results are the same.
        self.act = nn.LeakyReLU(0.2) if act else nn.Identity()
        self.conv = nn.Conv2d(cin, cout, k, stride=2, padding=1, bias=bias)
        self.norm = make_norm(norm, cout) if use_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(self.act(x)))


class _Up(nn.Module):
    """ReLU -> up-sampling x2 -> norm -> dropout.

    ``transposed``: one strided transposed convolution (pix2pix). Its kernel overlaps unevenly, which
    leaves a 2-px checkerboard in flat areas (Odena et al. 2016, "Deconvolution and Checkerboard
    Artifacts"). ``resize``: nearest-neighbour up-sampling, then a 3x3 convolution, which has none.
    """

    def __init__(self, cin: int, cout: int, k: int, norm: str, use_norm: bool, dropout: float, bias: bool,
                 inplace: bool, upsample: str = "transposed"):
        super().__init__()
        # In place is safe on the fresh concat it receives, but not under activation checkpointing,
        # which must see its input unchanged when it recomputes the block.
        self.act = nn.ReLU(inplace=inplace)
        if upsample == "resize":
            self.resize = nn.Upsample(scale_factor=2, mode="nearest")
            self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=bias)
        else:
            self.resize = nn.Identity()
            # k=4 (pix2pix): padding 1 doubles exactly; k=3 (paper): padding 1 + output_padding 1 does.
            self.conv = nn.ConvTranspose2d(
                cin, cout, k, stride=2, padding=1, output_padding=1 if k == 3 else 0, bias=bias
            )
        self.norm = make_norm(norm, cout) if use_norm else nn.Identity()
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.norm(self.conv(self.resize(self.act(x)))))


class PartHead(nn.Module):
    """The part head: each decoder input it reads (deepest first, the last one at half the image's resolution)
    through a 1x1 conv to ``PART_HIDDEN`` channels, brought to that resolution (bilinear) and summed, then a 3x3
    and a 1x1 conv to one logit per part."""

    def __init__(self, ins: list[int], parts: int):
        super().__init__()
        self.reads = nn.ModuleList(nn.Conv2d(c, PART_HIDDEN, 1) for c in ins)
        self.out = nn.Sequential(nn.ReLU(), nn.Conv2d(PART_HIDDEN, PART_HIDDEN, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(PART_HIDDEN, parts, 1))

    def forward(self, reads: list[torch.Tensor]) -> torch.Tensor:
        size = reads[-1].shape[-2:]
        h = None
        for conv, r in zip(self.reads, reads):
            y = conv(F.relu(r))
            if y.shape[-2:] != size:
                y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
            h = y if h is None else h + y
        return self.out(h)  # (B, P, h, w)


class UNetGenerator(nn.Module):
    """sketch + hints -> RGB.

    forward(x): x (B, in_channels, H, W) in [-1, 1] (channels: sketch, hint RGB, hint mask in {0, 1}),
    any H, W; returns (B, out_channels, H, W) in [-1, 1].
    """

    def __init__(self, cfg: GeneratorConfig, gradient_checkpointing: bool = False):
        super().__init__()
        self.cfg = cfg
        # a training switch, not part of the architecture: it never reaches a release config.json
        self.gradient_checkpointing = bool(gradient_checkpointing)
        k, norm, depth = cfg.kernel_size, cfg.norm, cfg.depth
        chans = [min(cfg.ngf * 2**i, cfg.ngf * cfg.max_mult) for i in range(depth)]  # encoder outputs
        self.downs = nn.ModuleList()
        cin = cfg.in_channels
        for i, cout in enumerate(chans):
            outermost, innermost = i == 0, i == depth - 1
            self.downs.append(
                _Down(cin, cout, k, norm, act=not outermost, use_norm=not (outermost or innermost),
                      bias=True if outermost else _conv_bias(norm))
            )
            cin = cout
        # Frozen sketch features per decoder level i (input at stride 2**(i+1)): Lite0 stage -> 1x1 adapter.
        self.sketch_net: nn.Module | None = None
        self.sketch_levels: dict[int, int] = {}  # decoder level -> index into the sketch net's outputs
        self.adapters = nn.ModuleDict()
        extra = [0] * depth
        if cfg.sketch_features == "efficientnet-lite0":
            from .features import EfficientNetLiteFeatures

            layers = [i for i, st in zip(SKETCH_LAYERS, SKETCH_STRIDES) if st <= 2 ** (depth - 1)]
            self.sketch_net = EfficientNetLiteFeatures(layers, None)  # weights: build_generator or the model file
            _fix_same_padding(self.sketch_net)
            for j, (layer, c) in enumerate(zip(layers, self.sketch_net.out_channels)):
                level = SKETCH_STRIDES[SKETCH_LAYERS.index(layer)].bit_length() - 2  # stride 2**(level+1)
                self.sketch_levels[level] = j
                self.adapters[str(level)] = nn.Conv2d(c, c, 1)
                extra[level] = c
        self.ups = nn.ModuleList()
        # Decoder from the bottleneck up; level i maps to chans[i-1] (or out_channels at the top).
        for i in reversed(range(depth)):
            innermost, outermost = i == depth - 1, i == 0
            up_in = chans[i] if innermost else chans[i] * 2 + extra[i]  # skip concat doubles channels
            up_out = cfg.out_channels if outermost else chans[i - 1]
            # pix2pix: dropout in the 3 decoder blocks right below the innermost one
            blocks_below_bottleneck = depth - 2 - i
            drop = cfg.dropout if (0 <= blocks_below_bottleneck < cfg.dropout_blocks and not outermost) else 0.0
            self.ups.append(
                _Up(up_in, up_out, k, norm, use_norm=not outermost, dropout=drop,
                    bias=True if outermost else _conv_bias(norm), inplace=not self.gradient_checkpointing,
                    upsample=cfg.upsample)
            )
        self.multiple = 2**depth
        # model.material_dim: a 1x1 conv on what the last decoder block reads (half resolution), one embedding
        # per pixel that the maps' materials teach to be alike within a material (losses.material_contrast)
        self.material_head: nn.Module | None = None
        if cfg.material_dim:
            head_in = chans[0] if depth == 1 else 2 * chans[0] + extra[0]
            self.material_head = nn.Sequential(nn.ReLU(), nn.Conv2d(head_in, cfg.material_dim, 1))
        # model.parts: what each pixel is (skin, hair, ...), one logit per name (losses.part_loss), from what the
        # last PART_LEVELS decoder blocks read: the deeper ones see the whole figure, the last one the lines
        self.part_head: PartHead | None = None
        if cfg.parts:
            levels = reversed(range(min(PART_LEVELS, depth)))  # deepest first, as _run collects them
            ins = [chans[i] if i == depth - 1 else 2 * chans[i] + extra[i] for i in levels]
            self.part_head = PartHead(ins, len(cfg.parts))

    def _run(self, x: torch.Tensor, materials: bool = False, parts: bool = False):
        feats: list[torch.Tensor] = []
        if self.sketch_net is not None:
            with torch.no_grad():  # frozen, and its input is data: nothing to differentiate
                feats = self.sketch_net(x[:, :1].expand(-1, 3, -1, -1))  # (B, C_k, H/s_k, W/s_k)
        skips = []
        for down in self.downs:
            x = self._maybe_ckpt(down, x)
            skips.append(x)
        x = skips.pop()  # bottleneck: (B, chans[-1], H/2^depth, W/2^depth)
        depth = len(self.downs)
        reads = []  # what the last PART_LEVELS decoder blocks read, deepest first (the part head's input)
        for j, up in enumerate(self.ups):
            if j > 0:
                level = depth - 1 - j
                joined = [skips.pop(), x]
                if level in self.sketch_levels:
                    joined.append(self.adapters[str(level)](feats[self.sketch_levels[level]].to(x.dtype)))
                x = torch.cat(joined, dim=1)  # (B, 2C (+ C_sketch), h, w)
            if parts and j >= len(self.ups) - PART_LEVELS:
                reads.append(x)
            if j == len(self.ups) - 1:
                if materials:
                    emb = F.interpolate(self.material_head(x), scale_factor=2, mode="nearest")  # (B, D, H, W)
                if parts:
                    logits = F.interpolate(self.part_head(reads), scale_factor=2, mode="nearest")  # (B, P, H, W)
            x = self._maybe_ckpt(up, x)
        out = [torch.tanh(x)]
        if materials:
            out.append(F.normalize(emb.float(), dim=1))
        if parts:
            out.append(logits.float())
        return out[0] if len(out) == 1 else tuple(out)

    def _maybe_ckpt(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(block, x, use_reentrant=False)
        return block(x)

    def forward(self, x: torch.Tensor, materials: bool = False, parts: bool = False):
        """x (B, C, H, W) -> (B, 3, H, W); with ``materials`` (a model with ``model.material_dim``) also the
        material head's embedding (B, D, H, W), unit length per pixel; with ``parts`` (a model with
        ``model.parts``) also the part head's logits (B, P, H, W), after the embedding when both are asked."""
        if materials and self.material_head is None:
            raise ValueError("this generator has no material head (model.material_dim is 0)")
        if parts and self.part_head is None:
            raise ValueError("this generator has no part head (model.parts is empty)")
        h, w = x.shape[-2:]
        y = self._run(pad_to_multiple(x, self.multiple), materials, parts)  # (B, 3, H', W'), multiples of 2**depth
        if isinstance(y, tuple):
            return tuple(crop(t, h, w) for t in y)
        return crop(y, h, w)


def build_generator(cfg: GeneratorConfig, gradient_checkpointing: bool = False) -> UNetGenerator:
    """A freshly initialized generator; its sketch network (model.sketch_features) gets the ImageNet weights."""
    gen = UNetGenerator(cfg, gradient_checkpointing)
    init_weights(gen)
    if gen.sketch_net is not None:
        from .features import build_feature_extractor

        gen.sketch_net = build_feature_extractor("efficientnet-lite0", layers=gen.sketch_net.layers)
        _fix_same_padding(gen.sketch_net)
    return gen


def init_weights(net: nn.Module, gain: float = 0.02) -> None:
    """pix2pix's init: conv weights ~ N(0, 0.02), norm scales ~ N(1, 0.02), biases 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
