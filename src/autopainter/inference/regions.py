"""Line-art regions: the closed areas of paper between the lines, found so that small gaps do not leak.

A colorist's *flats* give every closed region under the ink one color. Hand-drawn lines are rarely
closed: a stroke that stops two pixels short of the next one would let a flood fill pour the hair color
into the background. ``segment`` finds the regions with **trapped-ball filling** (Zhang et al. 2009, "An
effective approach to trapped-ball filling"; the method of LineFiller and style2paints):

1. *Ink* is every pixel at least ``threshold`` covered (anti-aliased edges count, which closes gaps).
2. *Balls*: a pixel whose distance to the nearest ink is above the ball radius ``r = ceil(gap / 2)`` can
   hold a ball that touches no line; the connected sets of such centres are the seeds of the regions, and
   each region is what its balls cover (every pixel within ``r`` of a seed, given to the nearest seed). A
   ball cannot pass through an opening narrower than ``gap`` pixels, so a gap that small never joins two
   regions. Then *small balls* (``fine_gap_of``: one line width) fill what the big ones could not reach, so
   a closed area narrower than the gap (an eye) gets its own region too.
3. *The rest* (corners and strips too narrow for either ball) is labelled by plain connected components.
   Such a piece, or a small-ball region, joins the ball region it opens into when the opening is wider than
   the small gap and (for a small-ball region) half its own width, or the piece is tiny (a corner); else it
   stays a region of its own.
4. Regions smaller than ``min_area`` (specks in hatching or noise) are dissolved, and they and the line
   pixels take the label of the nearest region, so every pixel has one (the color layer under the lines).
5. *Passages*: two regions whose shared border runs over paper at least ``PASSAGE`` times as long as it runs
   along lines are one (the balls could not pass between an eye drawn as a dot and the outline, but there is
   no line with a gap between them); two regions divided by a line with a gap share a border that runs
   mostly along the line, and stay apart.

``gap`` defaults to ``auto_gap`` of the typical line width (``line_width``): six widths, at least 24 px, at
most ``MAX_GAP``; the constants were chosen on the val splits and a synthetic gap set
(``benchmarks/bench_gaps.py``; docs/RESULTS.md).
The distance transforms and component labelling are OpenCV's (``opencv-python-headless``: exact enough
and about 30x faster than scipy's exact transform at 2048x1536); every step is linear in the pixel count
and there is a fixed number of them, so noise with 10^5 specks costs the same as clean art.

``Regions.labels`` is public: ``Colorizer.regions(sketch)`` returns it, ``POST /api/v1/regions`` sends it as
a PNG (``encode_png``: label = R + 256 G + 65536 B) or as run lengths (``encode_runs``).
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..ink import REGION_INK, ink_mask

__all__ = ["Regions", "RegionCache", "segment", "check_gap", "line_width", "default_gap", "auto_gap", "encode_png", "encode_runs",
           "MAX_GAP", "REGION_INK", "REGION_CACHE_BYTES"]

# REGION_INK (``ink.REGION_INK``, 0.3): ink coverage (1 - gray/255) from which a pixel is a wall for the regions
MAX_GAP = 40  # the largest gap (px) closed; larger ones cost more and merge real regions
REGION_CACHE_BYTES = 256 << 20  # what a colorizer's region cache holds at most (labels and ink: 5 bytes a pixel)
FINE_GAP_WIDTHS = 1.0  # the small balls' gap in line widths (fine_gap_of)
AUTO_GAP_MIN, AUTO_GAP_WIDTHS = 24, 6.0  # the automatic gap: 6 line widths, at least 24 px (auto_gap)
PASSAGE = 1.0  # two regions whose border over paper is this many times their border along lines are one
JOIN_SHARE = 0.5  # a small-ball region joins its neighbour through an opening at least this share of its width
WIDTH_REACH, WIDTH_CAP = 8, 32  # line_width counts ink this close (px) to the paper, and tops out here
MAX_LABEL = 2**24 - 1  # what a 24-bit label PNG can hold


@dataclass
class Regions:
    """A sketch's regions.

    labels: (H, W) int32, 1..count; every pixel has one (line pixels the nearest region's).
    count: how many regions. ink: (H, W) bool, the pixels that were walls.
    gap: the gap (px) that was closed. line_width: the estimated line width (px).
    """

    labels: np.ndarray
    count: int
    ink: np.ndarray
    gap: int
    line_width: float


def _cv2():
    try:
        import cv2
    except ImportError:  # pragma: no cover - a base dependency; the message is for broken installs
        raise ImportError("region fills need OpenCV: pip install opencv-python-headless") from None
    cv2.setNumThreads(1)  # these run beside the generator and other requests; one thread each
    return cv2


def line_width(ink: np.ndarray) -> float:
    """The typical width (px) of the lines in an (H, W) bool ink mask: ink area over half the count of its
    rim pixels (a stroke of width w and length L has area w L and a rim of 2 L), counting only ink within
    ``WIDTH_REACH`` px of the paper, so that a few filled black areas do not inflate it. 0 without ink."""
    if not ink.any():
        return 0.0
    if ink.all():
        return float(WIDTH_CAP)
    cv2 = _cv2()
    d = cv2.distanceTransform(np.ascontiguousarray(ink, np.uint8), cv2.DIST_L2, 3)  # 1 on the rim
    area = int(np.count_nonzero(d <= WIDTH_REACH) - np.count_nonzero(~ink))
    rim = int(np.count_nonzero((d > 0) & (d < 1.2)))  # 4-neighbours of the paper
    return float(min(WIDTH_CAP, max(1.0, 2.0 * area / max(rim, 1))))


def default_gap(width: float) -> int:
    """Twice the line width, in [2, MAX_GAP]: the automatic gap before ``auto_gap`` (kept for callers of earlier
    versions; ``segment`` no longer uses it)."""
    return int(min(MAX_GAP, max(2, round(2.0 * width))))


def fine_gap_of(width: float) -> int:
    """The small balls' gap for lines ``width`` px wide: ``FINE_GAP_WIDTHS`` times the width, at least 2 px."""
    return int(min(MAX_GAP, max(2, round(FINE_GAP_WIDTHS * width))))


def auto_gap(width: float) -> int:
    """The gap closed by default for lines ``width`` px wide: ``AUTO_GAP_WIDTHS`` times the width, at least
    ``AUTO_GAP_MIN``, at most ``MAX_GAP``. Areas too narrow for its balls get the small balls of
    ``fine_gap_of`` (``segment``), so small closed parts (an eye) keep their regions."""
    return int(min(MAX_GAP, max(AUTO_GAP_MIN, math.ceil(AUTO_GAP_WIDTHS * width))))


def check_gap(gap: int | None) -> int | None:
    """``gap`` if it is None or a whole number in [0, MAX_GAP]; else ValueError with the one-line reason."""
    if gap is not None and (isinstance(gap, bool) or not isinstance(gap, (int, np.integer)) or not 0 <= gap <= MAX_GAP):
        raise ValueError(f"gap must be a whole number in [0, {MAX_GAP}] px, got {gap!r}")
    return gap


def segment(sketch: np.ndarray, gap: int | None = None, threshold: float = REGION_INK,
            min_area: int | None = None, closing: np.ndarray | None = None) -> Regions:
    """Closed regions of a gray sketch, leak-proof up to ``gap`` pixels (see the module doc).

    Args:
        sketch: (H, W) uint8 gray, 255 = paper.
        gap: the widest opening in a line (px) that still closes a region; None: ``default_gap`` of the
            measured line width. 0 turns the balls off (a plain flood fill of the paper).
        threshold: ink coverage from which a pixel is a line.
        min_area: regions with fewer pixels are dissolved into their neighbours; None: the line width
            squared (at least 4).
        closing: (H, W) bool, *closing lines*: pixels that are walls for the regions as if they were ink
            (a user's stroke where an outline is missing) but are no part of the drawing: they never show
            in a result, and the line width is measured without them. They are in ``Regions.ink``.

    Returns:
        ``Regions``; an all-ink or empty sketch gives one region covering everything.
    """
    sketch = np.asarray(sketch)
    if sketch.dtype != np.uint8 or sketch.ndim != 2:
        raise ValueError(f"sketch must be an (H, W) uint8 gray image, got {sketch.dtype} {sketch.shape}")
    check_gap(gap)
    cv2 = _cv2()
    ink = ink_mask(sketch, threshold)  # sketch < round(255 * (1 - threshold))
    width = line_width(ink)
    if closing is not None:
        closing = np.asarray(closing, bool)
        if closing.shape != ink.shape:
            raise ValueError(f"closing lines must have the sketch's shape {ink.shape}, got {closing.shape}")
        ink = ink | closing
    gap = auto_gap(width) if gap is None else int(gap)
    fine_gap = min(gap, fine_gap_of(width))  # the small balls' gap: areas too narrow for the big balls
    min_area = max(4, round(width * width)) if min_area is None else int(min_area)
    free = ~ink
    labels = np.zeros(sketch.shape, np.int32)
    if not free.any():
        labels[:] = 1
        return Regions(labels, 1, ink, gap, width)

    # 2. balls of radius r (pixel centres: an opening of g pixels leaves (g + 1) / 2 to its middle), big then small
    n_balls = n_fine = 0
    depth = None  # (n_fine + 1,) how deep (px from the ink) each small-ball region's deepest seed lies
    if gap > 0:
        d = cv2.distanceTransform(free.view(np.uint8), cv2.DIST_L2, 5)
        n_balls = _balls(labels, free, d, math.ceil(gap / 2), 0, cv2)
        r_fine = math.ceil(fine_gap / 2)
        if 0 < r_fine < math.ceil(gap / 2):
            rest = free & (labels == 0)
            n_fine = _balls(labels, rest, d, r_fine, n_balls, cv2)
            if n_fine:
                from scipy.ndimage import maximum

                fine = labels > n_balls
                depth = np.zeros(n_fine + 1, np.float32)
                depth[1:] = maximum(d[fine], labels[fine] - n_balls, np.arange(1, n_fine + 1))
        del d
    # 3. the rest of the paper: connected components, numbered after the ball regions
    rest = free & (labels == 0)
    count = n_balls + n_fine
    if rest.any():
        n_rest, rest_labels = cv2.connectedComponents(rest.view(np.uint8), connectivity=4, ltype=cv2.CV_32S)
        labels[rest] = rest_labels[rest] + count
        count += n_rest - 1
    if n_balls > 0 and count > n_balls:
        need = np.full(count + 1, float(fine_gap))  # the border a piece needs to join the region it opens into
        if depth is not None:  # a small-ball region joins only through an opening as wide as its own width
            need[n_balls + 1 : n_balls + n_fine + 1] = np.maximum(fine_gap, JOIN_SHARE * 2 * depth[1:])
        labels, count = _join_pieces(labels, count, n_balls, need, fine_gap, min_area)
    # 4. specks dissolved; they and the lines take the nearest region
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    small = areas < min_area
    small[0] = False
    if small.any() and not small[1:].all():
        labels[small[labels]] = 0
    labels, count = _renumber(labels)
    if count == 0:  # nothing but specks and ink
        labels[:] = 1
        return Regions(labels, 1, ink, gap, width)
    unlabelled = labels == 0
    if unlabelled.any():
        labels = _nearest(~unlabelled, labels, cv2)[1]
    if n_balls > 0 and count > 1 and np.isfinite(PASSAGE):
        labels, count = _join_passages(labels, ink, count)
    return Regions(labels, count, ink, gap, width)


class RegionCache:
    """The regions of the last sketches segmented, by content (the sketch's pixels, the gap asked for, the
    closing lines), bounded in bytes (``max_bytes``; each entry costs its labels and ink, 5 bytes a pixel): a
    new hint re-runs the generator and the coloring, never the segmentation. Thread-safe; the cached
    ``Regions`` are read-only (shared by every later request for that sketch). ``max_bytes=0`` keeps nothing."""

    def __init__(self, max_bytes: int = REGION_CACHE_BYTES):
        if int(max_bytes) < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self.bytes = 0
        self.hits = self.misses = 0
        self._entries: OrderedDict[bytes, Regions] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(sketch: np.ndarray, gap: int | None, closing: np.ndarray | None) -> bytes:
        h = hashlib.blake2b(digest_size=20)
        h.update(repr((sketch.shape, gap, None if closing is None else closing.shape)).encode())
        h.update(np.ascontiguousarray(sketch).data)
        if closing is not None:
            h.update(np.packbits(closing).data)
        return h.digest()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
            self.bytes = 0

    def segment(self, sketch: np.ndarray, gap: int | None = None, closing: np.ndarray | None = None) -> Regions:
        """``segment(sketch, gap, closing=closing)``, from the cache when this content was segmented before."""
        if closing is not None and not closing.any():
            closing = None
        key = self.key(sketch, gap, closing)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return hit
            self.misses += 1
        found = segment(sketch, gap=gap, closing=closing)
        found.labels.flags.writeable = False
        found.ink.flags.writeable = False
        size = found.labels.nbytes + found.ink.nbytes
        if size <= self.max_bytes:
            with self._lock:
                if key not in self._entries:
                    self._entries[key] = found
                    self.bytes += size
                while self.bytes > self.max_bytes:
                    _, old = self._entries.popitem(last=False)
                    self.bytes -= old.labels.nbytes + old.ink.nbytes
        return found


def _nearest(known: np.ndarray, labels: np.ndarray, cv2) -> tuple[np.ndarray, np.ndarray]:
    """(distance to the nearest ``known`` pixel, that pixel's label) for every pixel (Euclidean, 5x5 mask)."""
    dist, idx = cv2.distanceTransformWithLabels((~known).view(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    lut = np.zeros(int(idx.max()) + 1, np.int32)
    lut[idx[known]] = labels[known]
    return dist, lut[idx]


def _balls(labels: np.ndarray, free: np.ndarray, d: np.ndarray, r: int, first: int, cv2) -> int:
    """Label (in place, ``first + 1``...) the areas of ``free`` that balls of radius ``r`` reach: each 8-connected
    set of ball centres (``free`` pixels over ``r`` from the ink, ``d``) is one region, covering what its balls
    cover. Returns how many regions."""
    seeds = free & (d > r + 0.5)
    if not seeds.any():
        return 0
    dist_seed, near = cv2.distanceTransformWithLabels((~seeds).view(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_CCOMP)
    covered = free & (dist_seed <= r + 0.5)
    del dist_seed
    labels[covered] = near[covered] + first
    return int(near.max())


def _join_passages(labels: np.ndarray, ink: np.ndarray, count: int) -> tuple[np.ndarray, int]:
    """Join the regions that meet through a *passage* rather than a gap (``labels``: every pixel labelled, lines
    included, 1..count). Between two regions divided by a line with a gap in it, most of their border runs along
    the line; between two parts of one area that the balls could not cross (around an eye drawn as a dot, through
    a neck narrower than the gap), most of it runs over paper. Two regions whose border over paper is at least
    ``PASSAGE`` times their border along lines are one. Returns the labels and how many."""
    free_border = np.zeros(0, np.int64)
    keys_all = []
    for a, b, ia, ib in ((labels[:, :-1], labels[:, 1:], ink[:, :-1], ink[:, 1:]),
                         (labels[:-1, :], labels[1:, :], ink[:-1, :], ink[1:, :])):
        m = a != b
        lo, hi = np.minimum(a[m], b[m]).astype(np.int64), np.maximum(a[m], b[m]).astype(np.int64)
        keys_all.append((lo * (count + 1) + hi, ~(ia[m] | ib[m])))  # (pair, over paper)
    key = np.concatenate([k for k, _ in keys_all])
    paper = np.concatenate([f for _, f in keys_all])
    if key.size == 0:
        return labels, count
    keys, inv = np.unique(key, return_inverse=True)
    inv = inv.ravel()
    total = np.bincount(inv, minlength=keys.size)
    free_border = np.bincount(inv, weights=paper, minlength=keys.size)
    join = free_border >= PASSAGE * (total - free_border)
    join &= free_border > 0
    if not join.any():
        return labels, count
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    a, b = (keys[join] // (count + 1)).astype(np.int32), (keys[join] % (count + 1)).astype(np.int32)
    n, comp = connected_components(coo_matrix((np.ones(a.size, np.int8), (a, b)), shape=(count + 1, count + 1)),
                                   directed=False)
    lut = np.zeros(count + 1, np.int32)  # groups numbered 1.. in order of their lowest label
    order = np.unique(comp[1:], return_index=True)[1]
    rank = np.zeros(n, np.int32)
    rank[comp[1:][np.sort(order)]] = np.arange(1, order.size + 1, dtype=np.int32)
    lut[1:] = rank[comp[1:]]
    return lut[labels], int(order.size)


def _join_pieces(labels: np.ndarray, count: int, n_balls: int, need: np.ndarray, gap: int,
                 min_area: int) -> tuple[np.ndarray, int]:
    """Join each leftover piece (label > n_balls) to the region it opens into: the neighbour across
    the longest shared border, when that border is wider than the piece's ``need`` (px) or the piece is
    tiny (a corner: under ``max(min_area, 2 gap²)`` pixels)."""
    # shared borders between 4-neighbouring paper pixels of different labels
    pairs = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        m = (a != b) & (a > 0) & (b > 0)
        lo, hi = np.minimum(a[m], b[m]), np.maximum(a[m], b[m])
        pairs.append(lo.astype(np.int64) * (count + 1) + hi)
    keys, border = np.unique(np.concatenate(pairs), return_counts=True)
    if keys.size == 0:
        return labels, count
    lo, hi = keys // (count + 1), keys % (count + 1)
    piece = hi > n_balls  # the higher label of a pair is a leftover piece; join it to the lower one
    lo, hi, border = lo[piece], hi[piece], border[piece]
    if hi.size == 0:
        return labels, count
    order = np.lexsort((-border, hi))  # per piece, its longest border first
    hi, lo, border = hi[order], lo[order], border[order]
    first = np.ones(hi.size, bool)
    first[1:] = hi[1:] != hi[:-1]
    hi, lo, border = hi[first], lo[first], border[first]
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    join = (border > need[hi]) | (areas[hi] < max(min_area, 2 * gap * gap))
    parent = np.arange(count + 1, dtype=np.int64)
    parent[hi[join]] = lo[join]  # always to a lower label: no cycles
    for _ in range(64):  # pointer jumping: each round halves the chains
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            break
        parent = nxt
    return parent[labels].astype(np.int32), count


def _renumber(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels made consecutive (1..count, 0 kept), in order of first appearance by label value."""
    used = np.bincount(labels.ravel()) > 0
    used[0] = False
    lut = np.zeros(used.size, np.int32)
    lut[used] = np.arange(1, int(used.sum()) + 1, dtype=np.int32)
    return lut[labels], int(used.sum())


def encode_png(regions: Regions) -> bytes:
    """The label map as an RGB PNG: label = R + 256 G + 65536 B (what a browser canvas reads back exactly)."""
    from PIL import Image

    if regions.count > MAX_LABEL:
        raise ValueError(f"{regions.count} regions do not fit in a 24-bit PNG")
    lab = regions.labels.astype(np.uint32)
    rgb = np.stack([lab & 255, (lab >> 8) & 255, (lab >> 16) & 255], axis=-1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


MAX_RUNS = 500_000  # encode_runs' default limit: about 8 MB of JSON; the PNG holds any label map


def encode_runs(regions: Regions, max_runs: int | None = MAX_RUNS) -> dict:
    """The label map as row-major run lengths: ``{"width", "height", "count", "runs": [label, length, ...]}``.
    ValueError when it takes more than ``max_runs`` runs (a noise scan): the PNG (``encode_png``) is the form
    for such maps."""
    flat = regions.labels.ravel()
    starts = np.flatnonzero(np.concatenate(([True], flat[1:] != flat[:-1])))
    if max_runs is not None and starts.size > max_runs:
        raise ValueError(f"this label map takes {starts.size:,} runs, over the {max_runs:,} that JSON is sent for; "
                         "ask for the PNG (format=png)")
    lengths = np.diff(np.append(starts, flat.size))
    runs = np.stack([flat[starts], lengths], axis=1).ravel()
    h, w = regions.labels.shape
    return {"width": int(w), "height": int(h), "count": int(regions.count), "runs": runs.tolist()}
