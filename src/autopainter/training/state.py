"""The run state: everything a run trains with, built from the config in one place: ``build_models(cfg, device)``
gives a ``RunState``.

G (the U-Net, ``train.gradient_checkpointing`` applied), D (the PatchGAN of ``cfg.discriminator``,
absent when ``loss.gan`` is 0), the EMA generator, fused Adam optimizers, the frozen feature network
of the feature loss, the fp16 grad scaler and the run's autocast context.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..config import Config
from ..models.io import DISCRIMINATOR_NAME, load_discriminator, load_generator, load_state_checked, resolve_model_dir
from ..models.patchgan import build_discriminator
from ..models.unet import UNetGenerator, build_generator
from .runtime import autocast_context, resolve_precision

__all__ = ["RunState", "build_models", "set_learning_rates"]


@dataclass
class RunState:
    """The networks, optimizers and helpers of one run (``checkpoint.models_state`` saves it, ``load_models_state``
    fills it on resume)."""

    G: nn.Module  # as trained: possibly DDP-wrapped and compiled (runtime.unwrap gives the plain one)
    D: nn.Module | None  # likewise; None when loss.gan == 0
    G_ema: UNetGenerator  # plain, eval mode, no gradients: samples, evaluation, export
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer | None
    scaler: Any  # torch.amp.GradScaler, enabled for fp16 on CUDA only
    extractor: nn.Module | None = None  # frozen feature network (loss.feature > 0)
    D_frozen: nn.Module | None = None  # D without the DDP wrapper, for G's step (no gradient sync needed)
    amp: Any = contextlib.nullcontext()  # autocast context of the run
    init_trained: dict[str, Any] = field(default_factory=dict)  # train.init_from's "trained" record (export totals it)


def build_models(cfg: Config, device: torch.device, init: bool = True) -> RunState:
    """G, D, the EMA generator, optimizers and the feature network, on the CPU and unwrapped
    (``runtime.prepare_models`` moves and wraps them). ``init=False`` (resuming: the weights come from
    the checkpoint) skips ``train.init_from``.

    ``train.init_from``: G and its EMA start from the folder's generator, and D from its
    ``discriminator.safetensors`` when it has one (``autopainter export`` writes it) and the run has a D;
    the architectures must match the config, except that a generator without a material head or a part head may
    gain one (``model.material_dim``, ``model.parts``; the head starts fresh). ``train.heads_only`` freezes the rest
    of G."""
    t = cfg.train
    G = build_generator(cfg.model, gradient_checkpointing=t.gradient_checkpointing)
    D = build_discriminator(cfg.discriminator) if cfg.loss.gan > 0 else None
    init_trained: dict[str, Any] = {}
    if init and t.init_from:
        # fine-tuning or continuing elsewhere: the model folder's weights; the architectures must match
        folder = resolve_model_dir(t.init_from)  # a path, or 'bundled': the packaged default model
        src, info = load_generator(folder)
        # a model without a material head (model.material_dim) or a part head (model.parts) continues with a new
        # one, which starts fresh: the rest must match
        new_heads, wanted = [], cfg.model
        if cfg.model.material_dim and not src.cfg.material_dim:
            new_heads.append("material_head.")
            wanted = dataclasses.replace(wanted, material_dim=0)
        if cfg.model.parts and not src.cfg.parts:
            new_heads.append("part_head.")
            wanted = dataclasses.replace(wanted, parts=[])
        _check_same_network(wanted, src.cfg, str(folder))
        state = src.state_dict()
        if new_heads:
            state = {**{k: v for k, v in G.state_dict().items() if k.startswith(tuple(new_heads))}, **state}
        load_state_checked(G, state, str(folder))
        init_trained = dict(info.trained)
        found = load_discriminator(folder) if D is not None else None
        if found is not None:
            _check_same_network(cfg.discriminator, found[0], str(folder), "discriminator")
            load_state_checked(D, found[1], f"{folder}/{DISCRIMINATOR_NAME}")
    if t.heads_only:  # the U-Net stays as it is: only the heads learn
        G.requires_grad_(False)
        for head in (G.material_head, G.part_head):
            if head is not None:
                head.requires_grad_(True)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    # fused: one kernel for the whole update (4x faster than the per-tensor loop on CPU), same algorithm
    opt_G = torch.optim.Adam(G.parameters(), lr=t.lr_g, betas=(t.beta1, t.beta2), fused=True)
    opt_D = torch.optim.Adam(D.parameters(), lr=t.lr_d, betas=(t.beta1, t.beta2), fused=True) if D is not None else None
    extractor = None
    if cfg.loss.feature > 0:
        from ..models.features import build_feature_extractor

        extractor = build_feature_extractor(
            cfg.loss.feature_backbone, cfg.loss.feature_weights, cfg.loss.feature_layers or None
        )
    precision = resolve_precision(device, t.mixed_precision)
    scaler = torch.amp.GradScaler("cuda", enabled=(precision == "fp16" and device.type == "cuda"))
    return RunState(G, D, G_ema, opt_G, opt_D, scaler, extractor, D_frozen=D, amp=autocast_context(device, precision),
                  init_trained=init_trained)


def set_learning_rates(models: RunState, cfg: Config, scale: float = 1.0) -> None:
    """Both optimizers' rates from the config, times ``scale`` (``Schedule.lr_scale``). Set before every
    step, so a resumed run takes ``--set train.lr_g=...`` too (a checkpoint's optimizer state carries the
    rate it was saved with)."""
    for opt, base in ((models.opt_G, cfg.train.lr_g), (models.opt_D, cfg.train.lr_d)):
        if opt is not None:
            for group in opt.param_groups:
                group["lr"] = base * scale


def _check_same_network(wanted, found, source: str, section: str = "model") -> None:
    """A one-line ConfigError naming the --set lines that make ``wanted`` the network ``source`` holds
    (its generator, or with ``section="discriminator"`` its discriminator)."""
    from dataclasses import asdict

    from ..config import ConfigError

    diff = {k: v for k, v in asdict(found).items() if asdict(wanted).get(k) != v}
    if diff:
        fix = " ".join(f"--set {section}.{k}={v}" for k, v in diff.items())
        what = "generator" if section == "model" else "discriminator"
        raise ConfigError(f"train.init_from={source} holds another {what} than the config describes; add: {fix}")
