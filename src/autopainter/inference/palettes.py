"""Materials and palettes: with no hints, one color per material, the way such materials look in the training data.

A model with a part head (``model.parts``) and a material head (``model.material_dim``) says, for every pixel,
what it is (skin, hair, eyes, clothing, accessory, background, paper, other) and which pixels are one material.
``find_materials`` turns that into the materials of one sketch: each region of the sketch (``regions.segment``)
is named by the part its pixels vote for, and the regions of one name whose embeddings point alike (cosine
distance under ``CLUSTER_DISTANCE``, average linkage) are one material: one hair color for every strand, both
sleeves alike. The open paper, and regions named paper or background, are no material: they keep the model's
colors (paper stays paper).

``paint_materials`` gives each material a color from a **palette**: the colors of one training picture per part
name (``PaletteLibrary``, ``palettes.json`` beside the model; ``build_library`` makes it from a dataset's material
maps). A palette is coherent because one artist chose it: skin tones for skin, hair colors for hair, clothes that
differ from each other and from the skin. Palettes are ranked by how close their colors are to the model's own
for this sketch (lightness counts fully, hue half: the model's lightness is what it knows best), and
``variant`` picks one deterministically: 0 is the closest, 1, 2, ... the next palettes of the closest
``VARIANT_POOL`` that color this sketch differently (palettes that differ only in parts it lacks count once),
each as unlike the ones before as the pool allows (farthest-point order). Within a palette the materials of
one name take its colors of that name, the largest material first, each the nearest color not yet taken (the
ranking is kept per sketch, so another variant or a re-color with hints does not redo it); a material the palette has no
color for takes a color of its name from the next palettes that is at least ``DISTINCT_DE`` from every color
already used, so materials stay apart. A user palette (``--palette FILE``: a hex color per material name, as
``ColorizeResult.palette`` reports them) wins over the variant for the materials it names.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..colorspace import lab
from .regions import Regions

__all__ = ["Materials", "find_materials", "PaletteLibrary", "paint_materials", "parse_palette", "build_library",
           "LIBRARY_NAME", "COLORED_PARTS", "CLUSTER_DISTANCE", "VARIANT_POOL", "DISTINCT_DE", "MAX_VARIANT"]

LIBRARY_NAME = "palettes.json"  # the palette library beside config.json in a model folder
COLORED_PARTS = ("skin", "hair", "eyes", "clothing", "accessory", "other")  # the names a palette colors
CLUSTER_DISTANCE = 0.1  # regions of one name whose mean embeddings are closer (cosine distance) are one material
MAX_CLUSTERED = 400  # the largest regions are clustered; each smaller one joins its most alike material
VARIANT_POOL = 64  # the variants come from this many palettes closest to the model's colors
DISTINCT_DE = 20.0  # a color borrowed for a material is at least this far (ΔE) from every color already used
HUE_WEIGHT = 0.5  # weight of a* and b* against L* when palettes are ranked by the model's colors
MAX_VARIANT = 1_000_000  # variants wrap around the pool; this bounds the number a caller may give
MAX_SCORED = 24  # the largest materials decide the ranking (a noise scan's thousand specks do not)
RANK_CACHE = 32  # sketches whose palette rankings a library keeps
SAME_DE = 3.0  # two palettes coloring a sketch within this (area-weighted mean ΔE) are one variant


@dataclass
class Materials:
    """The materials of one sketch. ``region`` (count + 1,) int: each region's material id (0: none: the paper,
    ink and the regions that keep the model's colors); ``names``: material id - 1 -> its name ("skin",
    "clothing 2"); ``parts``: its part name; ``area``: its pixels; ``model_lab``: (M, 3) the model's own
    color for it (CIELAB, the area-weighted mean of its regions' flat colors)."""

    region: np.ndarray
    names: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    area: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    model_lab: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.float32))

    @property
    def count(self) -> int:
        return len(self.names)


def _samples(regions: Regions, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Each working-resolution pixel's region and whether it lies off the ink: (h, w) int64, (h, w) bool."""
    h, w = shape
    H, W = regions.labels.shape
    ys = np.minimum(((np.arange(h) + 0.5) * H / h).astype(np.int64), H - 1)
    xs = np.minimum(((np.arange(w) + 0.5) * W / w).astype(np.int64), W - 1)
    return regions.labels[ys][:, xs].astype(np.int64), ~regions.ink[ys][:, xs]


def find_materials(regions: Regions, probs: np.ndarray, emb: np.ndarray, part_names: Sequence[str],
                   base: np.ndarray, paper: np.ndarray) -> Materials:
    """The sketch's materials (see the module doc).

    Args:
        regions: the sketch's regions at full size.
        probs: (h, w, P) float32 part probabilities at the working resolution (softmax of the part head).
        emb: (h, w, D) float32 unit embeddings of the material head at the same resolution.
        part_names: the P part names (``model.parts``).
        base: (count + 1, 3) uint8 the regions' no-hint flat colors (``flats.region_colors``).
        paper: ids of the open paper's regions (``flats.open_paper``).
    """
    n = regions.count + 1
    lab_s, off = _samples(regions, probs.shape[:2])
    keys = lab_s[off]
    area = np.bincount(regions.labels.ravel(), minlength=n)
    seen = np.bincount(keys, minlength=n).astype(np.float64)
    p = np.stack([np.bincount(keys, weights=probs[..., k][off], minlength=n) for k in range(probs.shape[2])], 1)
    e = np.stack([np.bincount(keys, weights=emb[..., k][off], minlength=n) for k in range(emb.shape[2])], 1)
    unseen = seen == 0
    unseen[0] = False
    if unseen.any():  # regions too small for a working-resolution sample: every sample under them, ink too
        keys_all = lab_s.ravel()
        p[unseen] = np.stack([np.bincount(keys_all, weights=probs[..., k].ravel(), minlength=n)
                              for k in range(probs.shape[2])], 1)[unseen]
        e[unseen] = np.stack([np.bincount(keys_all, weights=emb[..., k].ravel(), minlength=n)
                              for k in range(emb.shape[2])], 1)[unseen]
    e /= np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-6)
    name_of = np.asarray(part_names)[p.argmax(1)]
    has = p.sum(1) > 0
    colored = has & np.isin(name_of, COLORED_PARTS)
    colored[0] = False
    colored[np.asarray(paper, np.int64)] = False
    region = np.zeros(n, np.int64)
    base_lab = lab(base[:, None, :])[:, 0, :].astype(np.float64)
    groups: list[tuple[str, np.ndarray]] = []  # (part, region ids)
    for part in COLORED_PARTS:
        ids = np.flatnonzero(colored & (name_of == part))
        if ids.size == 0:
            continue
        ids = ids[np.argsort(-area[ids], kind="stable")]
        big, small = ids[:MAX_CLUSTERED], ids[MAX_CLUSTERED:]
        cluster = _cluster(e[big], area[big])
        centres = np.stack([_unit((e[big][cluster == c] * area[big][cluster == c, None]).sum(0))
                            for c in range(cluster.max() + 1)])
        if small.size:  # the specks join the material their embedding is most alike
            cluster = np.concatenate([cluster, (e[small] @ centres.T).argmax(1)])
        for c in range(cluster.max() + 1):
            groups.append((part, np.concatenate([big, small])[cluster == c]))
    # names: the largest material of a part is the part's name, the next ones "clothing 2", "clothing 3", ...
    groups.sort(key=lambda g: (COLORED_PARTS.index(g[0]), -int(area[g[1]].sum())))
    names, parts, areas, model_lab, count = [], [], [], [], {}
    for i, (part, ids) in enumerate(groups, start=1):
        region[ids] = i
        count[part] = count.get(part, 0) + 1
        names.append(part if count[part] == 1 else f"{part} {count[part]}")
        parts.append(part)
        a = area[ids].astype(np.float64)
        areas.append(int(a.sum()))
        model_lab.append((base_lab[ids] * a[:, None]).sum(0) / max(a.sum(), 1.0))
    return Materials(region, names, parts, np.asarray(areas, np.int64),
                     np.asarray(model_lab, np.float32).reshape(-1, 3))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-6)


def _cluster(e: np.ndarray, area: np.ndarray) -> np.ndarray:
    """(N,) cluster ids 0..K-1 of N unit embeddings: average-linkage clusters cut at ``CLUSTER_DISTANCE``."""
    if len(e) == 1:
        return np.zeros(1, np.int64)
    from scipy.cluster.hierarchy import fcluster, linkage

    d = np.clip(1.0 - e @ e.T, 0.0, 2.0)
    iu = np.triu_indices(len(e), 1)
    z = linkage(d[iu], method="average")
    ids = fcluster(z, t=CLUSTER_DISTANCE, criterion="distance") - 1
    # number the clusters by their largest region (the regions come largest first)
    order = {c: k for k, c in enumerate(dict.fromkeys(ids.tolist()))}
    return np.asarray([order[c] for c in ids.tolist()], np.int64)


# ------------------------------------------------------------------------------ palettes
class PaletteLibrary:
    """Palettes of training pictures: per palette, per part name, its colors (CIELAB), the largest first."""

    def __init__(self, palettes: list[dict[str, list[str]]], source: str = ""):
        self.source = source
        self.hex = palettes
        self.lab: list[dict[str, np.ndarray]] = []
        for pal in palettes:
            self.lab.append({part: lab(np.asarray([_rgb(c) for c in cols], np.uint8)[:, None, :])[:, 0, :]
                             for part, cols in pal.items() if part in COLORED_PARTS and cols})

        self._padded: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._ranks: OrderedDict[bytes, tuple] = OrderedDict()  # the rankings of the last sketches' materials
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.hex)

    def padded(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        """Every palette's colors of ``part`` as one array: (N, K, 3) CIELAB, K the most any palette has, and
        (N, K) bool, which are colors."""
        with self._lock:
            if part not in self._padded:
                k = max((len(p.get(part, ())) for p in self.lab), default=0)
                cols = np.zeros((len(self.lab), k, 3))
                valid = np.zeros((len(self.lab), k), bool)
                for j, p in enumerate(self.lab):
                    c = p.get(part)
                    if c is not None:
                        cols[j, : len(c)] = c
                        valid[j, : len(c)] = True
                self._padded[part] = (cols, valid)
            return self._padded[part]

    def ranking(self, mats: Materials) -> tuple[np.ndarray, np.ndarray, list[int], np.ndarray]:
        """(colors, given, the variant order, the full ranking) for these materials (``_rank``), kept for the
        last ``RANK_CACHE`` sketches: a re-color with other hints or another variant does not rank again."""
        key = hashlib.blake2b(repr((mats.parts, mats.area.tolist(), mats.model_lab.round(3).tolist())).encode(),
                              digest_size=16).digest()
        with self._lock:
            hit = self._ranks.get(key)
            if hit is not None:
                self._ranks.move_to_end(key)
                return hit
        colors, given, ranked = _rank(mats, self)
        out = (colors, given, _variant_order(_distinct_pool(ranked, colors, mats), colors, mats), ranked)
        with self._lock:
            self._ranks[key] = out
            while len(self._ranks) > RANK_CACHE:
                self._ranks.popitem(last=False)
        return out

    @classmethod
    def load(cls, path: str | Path) -> "PaletteLibrary":
        """Read a ``palettes.json``. Raises ValueError naming the file for one that is not a palette library."""
        try:
            d = json.loads(Path(path).read_text())
            pals = d["palettes"]
            if not isinstance(pals, list) or not all(
                    isinstance(p, dict) and all(isinstance(v, list) for v in p.values()) for p in pals):
                raise ValueError("'palettes' must be a list of {part: [hex colors]}")
            lib = cls(pals, str(d.get("source", "")))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: not a palette library ({e})") from None
        if not len(lib):
            raise ValueError(f"{path}: the palette library is empty")
        return lib

    def save(self, path: str | Path) -> None:
        from ..imageio import atomic_write_bytes

        atomic_write_bytes(path, json.dumps({"format": "autopainter-palettes", "version": 1, "source": self.source,
                                             "palettes": self.hex}, separators=(",", ":")).encode())


def _rgb(hex_color: str) -> tuple[int, int, int]:
    s = str(hex_color).strip().lstrip("#")
    if len(s) != 6 or any(ch not in "0123456789abcdefABCDEF" for ch in s):
        raise ValueError(f"{hex_color!r} is not a color like #a1b2c3")
    return int(s[0:2], 16), int(s[2:4], 16), int(s[4:6], 16)


def _hex(rgb: np.ndarray) -> str:
    return "#%02x%02x%02x" % tuple(int(v) for v in rgb)


def _lab_to_rgb(lab_color: np.ndarray) -> np.ndarray:
    from ..colorspace import from_lab8

    l8 = np.clip(np.rint([lab_color[0] * 255 / 100, lab_color[1] + 128, lab_color[2] + 128]), 0, 255).astype(np.uint8)
    return from_lab8(l8[None, None, :])[0, 0]


def parse_palette(data: Mapping[str, object] | str) -> dict[str, tuple[int, int, int]]:
    """A user palette: {material name: "#rrggbb"} (a JSON object, or its text) -> {name: (r, g, b)}. Raises
    ValueError with a one-line reason for anything else."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError as e:
            raise ValueError(f"a palette is a JSON object of material names and hex colors ({e})") from None
    if not isinstance(data, Mapping) or not data:
        raise ValueError('a palette is a JSON object of material names and hex colors, e.g. {"hair": "#3b2a20"}')
    if len(data) > 256:
        raise ValueError("a palette names at most 256 materials")
    out = {}
    for k, v in data.items():
        if not isinstance(k, str) or not k or len(k) > 64:
            raise ValueError(f"palette: {k!r} is not a material name")
        out[k] = _rgb(str(v))
    return out


def _weighted_de(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ΔE with a* and b* weighted ``HUE_WEIGHT``: (..., 3) x (..., 3) -> (...)."""
    d = a - b
    return np.sqrt(d[..., 0] ** 2 + HUE_WEIGHT * (d[..., 1] ** 2 + d[..., 2] ** 2))


def _rank(mats: Materials, library: PaletteLibrary) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every palette's colors for this sketch's materials and the palettes' ranking: (colors (N, M, 3) CIELAB,
    the model's own where a palette gives none; given (N, M) bool; palette ids, the closest first).

    Within a part, the materials take the palette's colors of that part greedily, the largest material first,
    each the nearest color (``_weighted_de``) not taken yet. A palette's cost is the area-weighted distance of
    the ``MAX_SCORED`` largest materials to the colors they took, and 40 per pixel of a material it has no
    color for."""
    n, m = len(library), mats.count
    colors = np.repeat(mats.model_lab.astype(np.float64)[None], n, 0)  # (N, M, 3)
    given = np.zeros((n, m), bool)
    cost = np.zeros(n)
    scored = np.argsort(-mats.area, kind="stable")[:MAX_SCORED]
    rows = np.arange(n)
    for part in dict.fromkeys(mats.parts[i] for i in scored):
        cols, valid = library.padded(part)  # (N, K, 3), (N, K)
        if cols.shape[1] == 0:
            continue
        free = valid.copy()
        for i in (int(i) for i in scored if mats.parts[i] == part):
            d = np.where(free, _weighted_de(mats.model_lab[i].astype(np.float64), cols), np.inf)  # (N, K)
            k = d.argmin(1)
            best = d[rows, k]
            ok = np.isfinite(best)
            colors[ok, i] = cols[ok, k[ok]]
            given[ok, i] = True
            free[rows[ok], k[ok]] = False
            cost[ok] += best[ok] * float(mats.area[i])
    missing = (~given[:, scored] * mats.area[scored].astype(np.float64)).sum(1)
    total = float(mats.area[scored].sum()) or 1.0
    return colors, given, np.argsort((cost + 40.0 * missing) / total, kind="stable")


def paint_materials(mats: Materials, library: PaletteLibrary | None, variant: int = 0,
                    user: Mapping[str, tuple[int, int, int]] | None = None) -> np.ndarray:
    """(M, 3) uint8: each material's color (see the module doc). Without a library the model's own colors."""
    m = mats.count
    out_lab = mats.model_lab.astype(np.float64).copy()
    if m == 0:
        return np.zeros((0, 3), np.uint8)
    if library is not None and len(library):
        colors, given, order, ranked = library.ranking(mats)
        first = order[int(variant) % len(order)]
        done = given[first].copy()
        out_lab[done] = colors[first][done]
        used = [out_lab[i] for i in np.flatnonzero(done)]
        # materials the chosen palette has no color for: a color of their name from the next palettes (the variant
        # order, then the ranking), the first at least DISTINCT_DE from every color used so far
        priority = np.full(len(library), len(library) + len(order), np.int64)  # (N,) each palette's turn
        priority[ranked] = len(order) + np.arange(len(ranked))
        priority[order] = np.arange(len(order))
        turn = np.argsort(priority, kind="stable")  # palettes in their turn (ties: in library order, as argmin)
        nearest: dict[str, np.ndarray] = {}  # part -> (N, K) ΔE from each of its colors to the nearest color used

        def distances(part: str, cols: np.ndarray) -> np.ndarray:
            if part not in nearest:  # once per part; then each color used updates it (not M x U x N x K)
                d = np.full(cols.shape[:2], np.inf)
                for u in used:
                    np.minimum(d, np.linalg.norm(cols - u, axis=2), out=d)
                nearest[part] = d
            return nearest[part]

        for i in np.argsort(-mats.area, kind="stable"):
            if done[i]:
                continue
            cols, valid = library.padded(mats.parts[i])  # (N, K, 3), (N, K)
            if cols.shape[1] == 0:
                continue
            far = valid & (distances(mats.parts[i], cols) >= DISTINCT_DE)
            has = turn[far.any(1)[turn]]  # the palettes with a distinct color, in their turn
            if has.size == 0:
                continue
            j = int(has[0])
            out_lab[i] = cols[j, int(np.argmax(far[j]))]
            done[i] = True
            used.append(out_lab[i].copy())
            for part, d in nearest.items():
                np.minimum(d, np.linalg.norm(library.padded(part)[0] - used[-1], axis=2), out=d)
    rgb = np.stack([_lab_to_rgb(c) for c in out_lab]).astype(np.uint8)
    for i, name in enumerate(mats.names):
        if user and name in user:
            rgb[i] = user[name]
    return rgb


def _distinct_pool(ranked: np.ndarray, colors: np.ndarray, mats: Materials) -> list[int]:
    """The first ``VARIANT_POOL`` palettes in ``ranked`` order that color this sketch differently from every one
    before them (area-weighted mean ΔE over the materials at least ``SAME_DE``): palettes that differ only in
    parts the sketch does not have are one variant, not two."""
    w = mats.area.astype(np.float64) / max(float(mats.area.sum()), 1.0)
    pool: list[int] = []
    for j in ranked:
        sig = colors[int(j)]
        if not pool or float((np.linalg.norm(colors[pool] - sig, axis=2) @ w).min()) >= SAME_DE:
            pool.append(int(j))
            if len(pool) == VARIANT_POOL:
                break
    return pool


def _variant_order(pool: list[int], colors: np.ndarray, mats: Materials) -> list[int]:
    """The pool's palettes in variant order: the closest first, then each one the farthest (area-weighted mean
    ΔE over the materials) from those before it."""
    if len(pool) <= 1:
        return pool
    w = mats.area.astype(np.float64)
    sig = colors[pool]  # (P, M, 3)
    order = [0]
    best = np.linalg.norm(sig - sig[0], axis=2) @ w
    best[0] = -1
    while len(order) < len(pool):
        k = int(np.argmax(best))
        order.append(k)
        best = np.minimum(best, np.linalg.norm(sig - sig[k], axis=2) @ w)
        best[order] = -1
    return [pool[k] for k in order]


# ------------------------------------------------------------------------------ building a library
def build_library(roots: Sequence[str | Path], split: str = "train", limit: int = 0) -> PaletteLibrary:
    """The palettes of a dataset's pairs whose material maps name parts (``prepare characters`` and ``prepare
    openmoji`` store them): per pair, per part name, the median colors of its materials, the largest first;
    identical palettes once. ``limit`` > 0 keeps that many, evenly spread."""
    from ..data.layouts import detect_layout, make_layout
    from ..data.materials import OTHER, PAPER, material_path, read_material_map

    palettes: list[dict[str, list[str]]] = []
    seen: set[str] = set()
    sources = []
    for root in roots:
        split_dir = Path(root) / split
        layout = make_layout(detect_layout(split_dir))
        sources.append(f"{Path(root).name}/{split}")
        for paths in layout.find(split_dir):
            mpath = material_path(split_dir, paths[-1].stem)
            if not mpath.is_file():
                continue
            mm = read_material_map(mpath)
            if not any(v and v != PAPER for v in mm.names.values()):
                continue  # a map that names no part says nothing about what parts look like
            _, color = layout.read(paths)
            color = np.asarray(color.convert("RGB"))
            if color.shape[:2] != mm.labels.shape:
                continue
            pal: dict[str, list[tuple[int, str]]] = {}
            counts = np.bincount(mm.labels.ravel(), minlength=mm.count + 1)
            for label in range(1, mm.count + 1):
                name = mm.names.get(label, "") or OTHER
                if name not in COLORED_PARTS or counts[label] < 16:
                    continue
                px = color[mm.labels == label]
                pal.setdefault(name, []).append((int(counts[label]), _hex(np.median(px, axis=0).round())))
            entry = {k: [c for _, c in sorted(v, key=lambda t: -t[0])] for k, v in pal.items()}
            key = json.dumps(entry, sort_keys=True)
            if entry and key not in seen:
                seen.add(key)
                palettes.append(entry)
    if limit and len(palettes) > limit:
        keep = np.linspace(0, len(palettes) - 1, limit).round().astype(int)
        palettes = [palettes[i] for i in keep]
    return PaletteLibrary(palettes, ", ".join(sources))
