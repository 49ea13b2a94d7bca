"""Color metrics of ``evaluate`` that look at regions and hints (ΔE is CIE76: Euclidean distance in CIELAB,
``colorspace.lab``, the conversion the product's flats use too).

* ``hint_de``: output vs the painted hint color on the hinted pixels (lines excluded): are hints obeyed?
* ``hint_region_de``: output vs the target over the target's own region holding each hint, the hint pixels
  excluded: does a hint reach its whole shape, and stop at its lines?
* ``segment_accuracy``: the share of the sketch's closed regions (connected paper between its lines) whose
  median output color lies within ΔE 5 of the target's median there, as the reference-coloring papers report it
  (BasicPBC); also over the regions larger than 10 px. It judges flats region by region, so a small eye
  counts as much as the background.
* ``spread``: the mean color spread (RMS ΔE to the region mean) inside the target's own flat regions; the
  output's against the target's own says how flat the output is where the artist painted flat.

The target's regions (``target_regions``) come from the target alone: its colors reduced to 32 by median
cut, then 4-connected areas of one color off the sketch's lines, so no metric depends on the segmentation
the flat style uses. A constant output is flat but far from the target and the hints: the three are read
together with PSNR. ``evaluate`` registers each as a metric by name (``evaluate.METRICS``).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .colorspace import lab

__all__ = ["lab", "target_regions", "hint_de", "hint_region_de", "spread", "segment_accuracy", "sketch_segments",
           "MIN_REGION", "SEGMENT_DE"]

MIN_REGION = 16  # target regions smaller than this (px) are not scored
SEGMENT_DE = 5.0  # a segment is right when its median color is within this ΔE of the truth's


def target_regions(target: np.ndarray, ink: np.ndarray, colors: int = 32) -> np.ndarray:
    """(H, W) int32 labels of the target's flat areas (0: lines and areas under ``MIN_REGION`` px)."""
    import cv2

    q = np.asarray(Image.fromarray(target).quantize(colors=colors, method=Image.Quantize.MEDIANCUT))
    labels = np.zeros(q.shape, np.int32)
    nxt = 0
    for c in np.unique(q):
        m = ((q == c) & ~ink).astype(np.uint8)
        n, lab_c, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=4, ltype=cv2.CV_32S)
        keep = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] >= MIN_REGION)
        keep = keep[keep > 0]
        if keep.size:
            lut = np.zeros(n, np.int32)
            lut[keep] = np.arange(nxt + 1, nxt + 1 + keep.size)
            sel = m.astype(bool)
            labels[sel] = lut[lab_c[sel]]
            nxt += keep.size
    return labels


def hint_de(out_lab: np.ndarray, hint_rgb: np.ndarray, hint_mask: np.ndarray, ink: np.ndarray) -> float | None:
    """Mean ΔE between the output and the hint colors on the hinted paper pixels (None: no such pixel)."""
    m = hint_mask & ~ink
    if not m.any():
        return None
    return float(np.linalg.norm(out_lab[m] - lab(hint_rgb[m]), axis=-1).mean())


def hint_region_de(out_lab: np.ndarray, tgt_lab: np.ndarray, hint_mask: np.ndarray, regions: np.ndarray) -> float | None:
    """Mean over the target regions that hold hint pixels of the mean ΔE between output and target on the
    region's other pixels (None: no hint lies in a scored region)."""
    held = np.unique(regions[hint_mask])
    held = held[held > 0]
    if held.size == 0:
        return None
    m = np.isin(regions, held) & ~hint_mask
    if not m.any():
        return None
    de = np.linalg.norm(out_lab[m] - tgt_lab[m], axis=-1)
    lab_m = regions[m]
    n = int(regions.max()) + 1
    sums, counts = np.bincount(lab_m, weights=de, minlength=n), np.bincount(lab_m, minlength=n)
    ok = counts > 0
    return float((sums[ok] / counts[ok]).mean())


def spread(img_lab: np.ndarray, regions: np.ndarray) -> float | None:
    """Pixel-weighted RMS ΔE to each region's mean color, over the scored regions (None: none)."""
    m = regions > 0
    if not m.any():
        return None
    lab_m, px = regions[m], img_lab[m].astype(np.float64)
    n = int(regions.max()) + 1
    counts = np.bincount(lab_m, minlength=n)
    sq = np.zeros(lab_m.shape, np.float64)
    for ch in range(3):
        mean = np.bincount(lab_m, weights=px[:, ch], minlength=n) / np.maximum(counts, 1)
        sq += (px[:, ch] - mean[lab_m]) ** 2
    return float(np.sqrt(sq.mean()))


def sketch_segments(sketch: np.ndarray, threshold: int = 128) -> np.ndarray:
    """(H, W) int32 labels of a sketch's closed regions: 4-connected paper (gray >= ``threshold``) between its
    lines, 1..N (0: lines). The truth's own segments, independent of the flat style's gap closing."""
    import cv2

    paper = (np.asarray(sketch) >= threshold).astype(np.uint8)
    _, labels = cv2.connectedComponents(paper, connectivity=4, ltype=cv2.CV_32S)
    return labels


def _medians(img_lab: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """(n, 3) per-label median of each CIELAB channel (sorted by label, then value)."""
    m = labels > 0
    lab_m = labels[m].astype(np.int64)
    out = np.zeros((n, 3))
    order = np.argsort(lab_m, kind="stable")
    lab_sorted = lab_m[order]
    starts = np.searchsorted(lab_sorted, np.arange(n))
    ends = np.searchsorted(lab_sorted, np.arange(n), side="right")
    for ch in range(3):
        v = img_lab[..., ch][m][order]
        # sort within each label: by (label, value) through one lexsort
        v = v[np.lexsort((v, lab_sorted))]
        mid = np.clip((starts + ends - 1) // 2, 0, max(v.size - 1, 0))
        out[:, ch] = np.where(ends > starts, v[mid] if v.size else 0.0, 0.0)
    return out


def segment_accuracy(output: np.ndarray, target: np.ndarray, sketch: np.ndarray, min_area: int = 0,
                     de: float = SEGMENT_DE) -> float | None:
    """Share of the sketch's segments (``sketch_segments``) larger than ``min_area`` px whose median output
    color is within ``de`` (ΔE, CIELAB) of the target's median. ``output``, ``target``: (H, W, 3) uint8 at the
    sketch's (H, W) size. None when no segment is large enough."""
    labels = sketch_segments(sketch)
    n = int(labels.max()) + 1
    area = np.bincount(labels.ravel(), minlength=n)
    keep = area > min_area
    keep[0] = False
    if not keep.any():
        return None
    d = np.linalg.norm(_medians(lab(output), labels, n) - _medians(lab(target), labels, n), axis=1)
    return float((d[keep] <= de).mean())
