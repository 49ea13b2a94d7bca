"""One training step: a discriminator update, then a generator update, on the same generated batch.

The update is pix2pix's (Isola et al. 2017) with Auto-Painter's generator objective (Liu et al. 2017):
D learns to tell (sketch, target) from (sketch, G(input)); G minimizes
w_p*L1 + w_f*L_feature + w_G*L_GAN + w_tv*L_TV (+ w_h*L_hint), the terms of ``losses.generator_objective``.
"""

from __future__ import annotations

import torch

from ..config import Config
from ..losses import adversarial_d, generator_objective, material_contrast, part_loss
from ..models.patchgan import discriminator_condition
from .state import RunState

__all__ = ["d_step", "g_step", "heads_step", "train_step"]


def d_step(models: RunState, cfg: Config, cond: torch.Tensor, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """One discriminator update on (cond, real) vs (cond, fake.detach()). Returns the loss (detached).

    cond: (B, 1 or 3, H, W), real and fake: (B, 3, H, W), all in [-1, 1]."""
    D, opt = models.D, models.opt_D
    D.requires_grad_(True)
    opt.zero_grad(set_to_none=True)
    with models.amp:
        loss = adversarial_d(D(cond, real), D(cond, fake.detach()), cfg.loss.gan_mode)
    models.scaler.scale(loss).backward()
    models.scaler.step(opt)
    return loss.detach()


def g_step(models: RunState, cfg: Config, cond: torch.Tensor, real: torch.Tensor, fake: torch.Tensor,
           hint_mask: torch.Tensor | None = None, step: int | None = None,
           emb: torch.Tensor | None = None, materials: torch.Tensor | None = None,
           anchor: torch.Tensor | None = None, unhinted: torch.Tensor | None = None,
           part_logits: torch.Tensor | None = None, parts: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """One generator update on the objective's total. Returns the named terms (detached).

    Shapes as in ``d_step``; hint_mask: (B, 1, H, W) in {0, 1}, for the hint terms; step: the training
    step (the feature weight's warm-up); emb (B, D, H, W), materials (B, H, W): the material head's
    embedding and the batch's material maps (``loss.material``); anchor (B, 3, H, W), unhinted (B, 1, H, W):
    the no-hint output and the unhinted materials (``loss.locality``); part_logits (B, P, H, W), parts (B, H, W):
    the part head's logits and the batch's part targets (``loss.parts``)."""
    models.opt_G.zero_grad(set_to_none=True)
    with models.amp:
        logits = None
        if models.D is not None:
            models.D.requires_grad_(False)  # G's step must not leave gradients in D
            logits = models.D_frozen(cond, fake)
        terms = generator_objective(cfg.loss, fake, real, logits, models.extractor, hint_mask, step, emb, materials,
                                    anchor, unhinted, part_logits, parts)
    models.scaler.scale(terms["total"]).backward()
    models.scaler.step(models.opt_G)
    return {k: v.detach() for k, v in terms.items()}


def heads_step(models: RunState, cfg: Config, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``train.heads_only``: one update of the heads alone (the U-Net's weights take no gradient, ``runtime``
    freezes them), on their terms (``loss.material``, ``loss.parts``); no discriminator step."""
    x = batch["input"]
    if cfg.train.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    models.opt_G.zero_grad(set_to_none=True)
    training = models.G.training
    models.G.eval()  # the U-Net as at inference: batch norm's statistics stay, dropout is off (heads have neither)
    try:
        with models.amp:
            out = models.G(x, materials=cfg.loss.material > 0, parts=cfg.loss.parts > 0)
    finally:
        models.G.train(training)
    terms: dict[str, torch.Tensor] = {}
    total = out[0].new_zeros((), dtype=torch.float32)
    heads = list(out[1:])
    if cfg.loss.material > 0:
        terms["material"] = material_contrast(heads.pop(0), batch["materials"])
        total = total + cfg.loss.material * terms["material"]
    if cfg.loss.parts > 0:
        terms["parts"] = part_loss(heads.pop(0), batch["parts"])
        total = total + cfg.loss.parts * terms["parts"]
    terms["total"] = total
    models.scaler.scale(total).backward()
    models.scaler.step(models.opt_G)
    models.scaler.update()
    return {k: v.detach() for k, v in terms.items()}


def train_step(models: RunState, cfg: Config, batch: dict[str, torch.Tensor], step: int | None = None) -> dict[str, torch.Tensor]:
    """D step (when there is a D), then G step, on one batch of ``data.pairs.PairDataset`` items.

    batch: input (B, C, H, W) the generator's input, sketch (B, 1, H, W), color (B, 3, H, W),
    mask (B, 1, H, W); all in [-1, 1] (mask in {0, 1}); step: the training step. Returns the named loss terms (detached, on the
    device: ``float()`` them only when they are shown, it waits for the device)."""
    if cfg.train.heads_only:
        return heads_step(models, cfg, batch)
    x, real = batch["input"], batch["color"]
    cond = discriminator_condition(batch["sketch"], cfg.discriminator.in_channels)  # (B, 1 or 3, H, W)
    if cfg.train.channels_last:
        x, cond, real = (t.contiguous(memory_format=torch.channels_last) for t in (x, cond, real))
    emb = materials = part_logits = parts = None
    with models.amp:
        want_emb, want_parts = cfg.loss.material > 0, cfg.loss.parts > 0
        out = models.G(x, materials=want_emb, parts=want_parts)
        fake = out[0] if isinstance(out, tuple) else out  # (B, 3, H, W)
        if want_emb:
            emb, materials = out[1], batch["materials"]  # (B, D, H, W), (B, H, W)
        if want_parts:
            part_logits, parts = out[-1], batch["parts"]  # (B, P, H, W), (B, H, W)
        anchor = unhinted = None
        if cfg.loss.locality > 0:  # the same sketches without their hints: what the hints must leave alone
            with torch.no_grad():
                bare = x.clone()
                bare[:, 1:] = 0  # hint RGB and mask (models.inputs: channels 1-3 and 4)
                anchor = models.G(bare)  # (B, 3, H, W)
            unhinted = batch["unhinted"]  # (B, 1, H, W)
    logs = {}
    if models.D is not None:
        logs["d"] = d_step(models, cfg, cond, real, fake)
    logs.update(g_step(models, cfg, cond, real, fake, batch["mask"], step, emb, materials, anchor, unhinted,
                       part_logits, parts))
    models.scaler.update()
    return logs
