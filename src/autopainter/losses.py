"""Auto-Painter's objective as plain functions of tensors (Liu et al. 2017, arXiv:1705.01908, eq. 1-5).

Generator:     L = w_p * L1 + w_f * L_feature + w_G * L_GAN + w_tv * L_TV
Discriminator: the adversarial loss of the chosen GAN mode on real and generated pairs.

Adversarial modes: ``vanilla`` (the paper's and pix2pix's cross-entropy, on logits), ``lsgan``
(least squares, Mao et al. 2017) and ``hinge`` (Lim & Ye 2017). Every function returns a scalar tensor;
``generator_objective`` returns a dict of named terms plus ``total`` that the training loop logs as is.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .config import GAN_MODES, LossConfig


def l1(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean absolute error. fake, real: (B, C, H, W) in [-1, 1]."""
    return F.l1_loss(fake, real)


def tv(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation: mean absolute difference of neighbouring pixels. x: (B, C, H, W).

    Zero exactly for a constant image; penalizes speckle noise in flat color regions (the paper's L_TV).
    """
    dh = (x[..., 1:, :] - x[..., :-1, :]).abs().mean() if x.shape[-2] > 1 else x.new_zeros(())
    dw = (x[..., :, 1:] - x[..., :, :-1]).abs().mean() if x.shape[-1] > 1 else x.new_zeros(())
    return dh + dw


def feature(
    extractor: Callable[[torch.Tensor], Sequence[torch.Tensor]], fake: torch.Tensor, real: torch.Tensor
) -> torch.Tensor:
    """Feature (perceptual) loss: mean squared distance of the backbone's features, averaged over stages.

    fake, real: (B, 3, H, W) in [-1, 1]; the extractor normalizes them the way its backbone expects.
    The target's features carry no gradient.
    """
    with torch.no_grad():
        real_feats = [f.detach() for f in extractor(real)]
    fake_feats = extractor(fake)
    terms = [F.mse_loss(a.float(), b.float()) for a, b in zip(fake_feats, real_feats)]
    return torch.stack(terms).mean()


def hint_l1(fake: torch.Tensor, real: torch.Tensor, mask: torch.Tensor, grow: int = 4) -> torch.Tensor:
    """Mean absolute error over the hinted areas alone: each hint grown by ``grow`` pixels (at 256 px).

    fake, real: (B, 3, H, W); mask: (B, 1, H, W) in {0, 1}. Zero when no sample has hints. A hint covers
    a few percent of the image at most, so in the plain L1 it weighs almost nothing; this term makes
    following the user's colors worth learning.
    """
    area = hint_area(mask, grow)
    err = (fake.float() - real.float()).abs() * area
    return err.sum() / (area.sum() * fake.shape[1]).clamp_min(1.0)


def hint_area(mask: torch.Tensor, grow: int = 4) -> torch.Tensor:
    """The hinted areas: mask (B, 1, H, W) in {0, 1}, each hint grown by ``grow`` pixels (at 256 px)."""
    k = 2 * max(1, round(grow * min(mask.shape[-2:]) / 256)) + 1
    return F.max_pool2d(mask.float(), k, stride=1, padding=k // 2)


def feature_weight(cfg: LossConfig, step: int | None) -> float:
    """w_f at a training step: ramped linearly from 0 over ``loss.feature_warmup`` steps (None: full)."""
    if step is None or cfg.feature_warmup <= 0:
        return cfg.feature
    return cfg.feature * min(1.0, (step + 1) / cfg.feature_warmup)


def _check_mode(mode: str) -> None:
    if mode not in GAN_MODES:
        raise ValueError(f"unknown GAN mode {mode!r}; valid: {', '.join(GAN_MODES)}")


def adversarial_g(fake_logits: torch.Tensor, mode: str) -> torch.Tensor:
    """Generator side: push D's logits on generated pairs toward 'real'. fake_logits: (B, 1, h, w)."""
    _check_mode(mode)
    x = fake_logits.float()
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(x, torch.ones_like(x))
    if mode == "lsgan":
        return F.mse_loss(x, torch.ones_like(x))
    return -x.mean()  # hinge: the generator maximizes D's score


def adversarial_d(real_logits: torch.Tensor, fake_logits: torch.Tensor, mode: str) -> torch.Tensor:
    """Discriminator side: real pairs toward 'real', generated toward 'fake'. Halved, as in pix2pix,
    so D learns slower than G."""
    _check_mode(mode)
    r, f = real_logits.float(), fake_logits.float()
    if mode == "vanilla":
        loss = F.binary_cross_entropy_with_logits(r, torch.ones_like(r)) + F.binary_cross_entropy_with_logits(
            f, torch.zeros_like(f)
        )
    elif mode == "lsgan":
        loss = F.mse_loss(r, torch.ones_like(r)) + F.mse_loss(f, torch.zeros_like(f))
    else:
        loss = F.relu(1.0 - r).mean() + F.relu(1.0 + f).mean()
    return 0.5 * loss


def material_contrast(emb: torch.Tensor, labels: torch.Tensor, samples: int = 256, margin: float = 0.2) -> torch.Tensor:
    """The material head's term: pixels of one material alike, of two materials apart.

    emb: (B, D, H, W), unit length per pixel; labels: (B, H, W) int, the material maps (0: ink, left out).
    Per image, ``samples`` labelled pixels are drawn, each material equally likely (torch's generator, so a
    resumed run repeats them);
    over their pairs, same material: 1 - cos; other materials: max(0, cos - margin); the two means added,
    so rare pairs weigh as much as common ones. Zero when no image has two labelled pixels.
    """
    terms = []
    flat_e = emb.float().flatten(2)  # (B, D, HW)
    flat_l = labels.flatten(1)  # (B, HW)
    for b in range(emb.shape[0]):
        idx = torch.nonzero(flat_l[b] > 0).squeeze(1)
        if idx.numel() < 2:
            continue
        # every material equally likely, whatever its area: paper and skin would otherwise fill the sample
        counts = torch.bincount(flat_l[b][idx])
        pick = idx[torch.multinomial(1.0 / counts[flat_l[b][idx]].float(), samples, replacement=True)]
        e = flat_e[b][:, pick].T  # (N, D)
        lab = flat_l[b][pick]
        sim = e @ e.T  # (N, N) cosines
        same = lab[:, None] == lab[None, :]
        off_diag = ~torch.eye(samples, dtype=torch.bool, device=sim.device)
        pos, neg = same & off_diag, ~same
        term = sim.new_zeros(())
        if pos.any():
            term = term + (1 - sim[pos]).mean()
        if neg.any():
            term = term + F.relu(sim[neg] - margin).mean()
        terms.append(term)
    # no labelled pixels: a zero that keeps the head in the graph (DDP expects every parameter to get a gradient)
    return torch.stack(terms).mean() if terms else emb.float().sum() * 0.0


def part_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The part head's term: cross-entropy of logits (B, P, H, W) against targets (B, H, W) int, each pixel's
    part index (-1: unknown, left out). Each part's pixels weigh 1 / sqrt(its share of the batch's known pixels)
    (then the weighted mean): paper, most of every picture, would otherwise teach the head that a shirt is skin.
    Zero, in the graph, when no pixel is known."""
    known = targets >= 0
    if not bool(known.any()):
        return logits.float().sum() * 0.0
    counts = torch.bincount(targets[known].long(), minlength=logits.shape[1]).float()
    weight = torch.where(counts > 0, (counts.sum() / counts.clamp_min(1.0)).sqrt(), torch.zeros_like(counts))
    return F.cross_entropy(logits.float(), targets.long(), weight=weight, ignore_index=-1)


def locality(fake: torch.Tensor, anchor: torch.Tensor, unhinted: torch.Tensor) -> torch.Tensor:
    """Mean absolute change of the output against ``anchor`` (the same sketch's output without hints, no
    gradient) over the pixels of materials no hint touched: what the locality protocol counts as
    off-material change, made a term. fake, anchor: (B, 3, H, W); unhinted: (B, 1, H, W) in {0, 1}."""
    err = (fake.float() - anchor.detach().float()).abs() * unhinted
    return err.sum() / (unhinted.sum() * fake.shape[1]).clamp_min(1.0)


def generator_objective(
    cfg: LossConfig,
    fake: torch.Tensor,
    real: torch.Tensor,
    fake_logits: torch.Tensor | None,
    extractor: Callable[[torch.Tensor], Sequence[torch.Tensor]] | None = None,
    hint_mask: torch.Tensor | None = None,
    step: int | None = None,
    material_emb: torch.Tensor | None = None,
    material_labels: torch.Tensor | None = None,
    anchor: torch.Tensor | None = None,
    unhinted: torch.Tensor | None = None,
    part_logits: torch.Tensor | None = None,
    part_labels: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Named, unweighted terms plus their weighted ``total``. Terms with weight 0 are not computed.

    fake, real: (B, 3, H, W) in [-1, 1]; fake_logits: D's output on (sketch, fake), needed when cfg.gan > 0.
    hint_mask: (B, 1, H, W) in {0, 1}, for ``loss.hint`` and ``loss.feature_off_hints``; step: the
    training step, for ``loss.feature_warmup`` (None: the full weight); material_emb (B, D, H, W) and
    material_labels (B, H, W), for ``loss.material`` (``material_contrast``); anchor (B, 3, H, W), the no-hint
    output, and unhinted (B, 1, H, W), for ``loss.locality``; part_logits (B, P, H, W) and part_labels (B, H, W),
    for ``loss.parts`` (``part_loss``).
    """
    terms: dict[str, torch.Tensor] = {}
    total = fake.new_zeros((), dtype=torch.float32)
    if cfg.l1 > 0:
        terms["l1"] = l1(fake.float(), real.float())
        total = total + cfg.l1 * terms["l1"]
    if cfg.hint > 0:
        if hint_mask is None:
            raise ValueError("loss.hint > 0 needs the hint mask")
        terms["hint"] = hint_l1(fake, real, hint_mask)
        total = total + cfg.hint * terms["hint"]
    if cfg.feature > 0:
        if extractor is None:
            raise ValueError("loss.feature > 0 needs a feature extractor")
        seen = fake
        if cfg.feature_off_hints and hint_mask is not None:
            # Inside the hinted areas the feature network sees the target: there the hint (and L1) alone
            # decide, and the feature term cannot pull a hinted region toward its usual colors.
            area = hint_area(hint_mask).to(fake.dtype)
            seen = fake * (1 - area) + real.to(fake.dtype) * area
        terms["feature"] = feature(extractor, seen, real)
        total = total + feature_weight(cfg, step) * terms["feature"]
    if cfg.gan > 0:
        if fake_logits is None:
            raise ValueError("loss.gan > 0 needs the discriminator's logits on the generated pair")
        terms["gan"] = adversarial_g(fake_logits, cfg.gan_mode)
        total = total + cfg.gan * terms["gan"]
    if cfg.tv > 0:
        terms["tv"] = tv(fake.float())
        total = total + cfg.tv * terms["tv"]
    if cfg.material > 0:
        if material_emb is None or material_labels is None:
            raise ValueError("loss.material > 0 needs the material head's embedding and the material maps")
        terms["material"] = material_contrast(material_emb, material_labels)
        total = total + cfg.material * terms["material"]
    if cfg.locality > 0:
        if anchor is None or unhinted is None:
            raise ValueError("loss.locality > 0 needs the no-hint output and the unhinted materials' mask")
        terms["locality"] = locality(fake, anchor, unhinted)
        total = total + cfg.locality * terms["locality"]
    if cfg.parts > 0:
        if part_logits is None or part_labels is None:
            raise ValueError("loss.parts > 0 needs the part head's logits and the part targets")
        terms["parts"] = part_loss(part_logits, part_labels)
        total = total + cfg.parts * terms["parts"]
    terms["total"] = total
    return terms
