"""Conditional PatchGAN discriminator (Isola et al. 2017), as used by Auto-Painter.

It sees the sketch and an image (real or generated) stacked on channels and scores overlapping patches;
with ``layers=3`` each output logit has a 70x70 receptive field.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import DiscriminatorConfig
from .unet import init_weights, make_norm


class PatchDiscriminator(nn.Module):
    """forward(sketch, image): sketch (B, 1, H, W), image (B, 3, H, W), both in [-1, 1]
    -> logits (B, 1, H', W'), one per patch (H' ~ H/8 - 2 for 3 layers)."""

    def __init__(self, cfg: DiscriminatorConfig):
        super().__init__()
        self.cfg = cfg
        ndf, norm, n = cfg.ndf, cfg.norm, cfg.layers
        layers: list[nn.Module] = [nn.Conv2d(cfg.in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for i in range(1, n + 1):
            prev, mult = mult, min(2**i, 8)
            stride = 2 if i < n else 1  # the last one keeps the resolution (70x70 for n=3)
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=True),
                make_norm(norm, ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, sketch: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([sketch, image], dim=1))  # (B, 4, H, W) -> (B, 1, H', W')


def discriminator_condition(sketch: torch.Tensor, in_channels: int) -> torch.Tensor:
    """The sketch as D's condition: (B,1,H,W), or (B,3,H,W) gray RGB when D takes 6 channels as in pix2pix."""
    return sketch if in_channels == 4 else sketch.expand(-1, 3, -1, -1)


def build_discriminator(cfg: DiscriminatorConfig) -> PatchDiscriminator:
    d = PatchDiscriminator(cfg)
    init_weights(d)
    return d
