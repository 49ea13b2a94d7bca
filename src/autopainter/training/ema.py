"""Exponential moving average of the generator's weights (Karras et al. 2018, as in NVlabs edm): the
EMA copy makes the sample grids, the evaluation and the exported release model."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ema_update", "ema_decay_at"]


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema = decay * ema + (1 - decay) * model for parameters; buffers (norm statistics) are copied.

    ``model`` is the plain module (``runtime.unwrap`` it first): its parameter names are the EMA's."""
    ema_p = dict(ema.named_parameters())
    names = [n for n, _ in model.named_parameters()]
    # one multi-tensor kernel instead of a Python loop over ~100 tensors
    torch._foreach_lerp_([ema_p[n] for n in names], [p.detach() for _, p in model.named_parameters()], 1.0 - decay)
    ema_b = dict(ema.named_buffers())
    for name, b in model.named_buffers():
        ema_b[name].copy_(b)


def ema_decay_at(step: int, decay: float) -> float:
    """The decay for optimizer step ``step`` (0-based), warmed up so that short runs still get a
    meaningful average: 0.1, 0.18, 0.25, ... -> ``decay``."""
    return min(decay, (1 + step) / (10 + step))
