"""Same-character pairs for benchmarking reference coloring: a colored drawing of a character and a NEW
drawing of it, both with their exact line art.

    python benchmarks/reference_pairs.py --out DIR --count N --seed S --size 512

writes ``DIR/<kind>/<name>/{ref.png, ref_lines.png, new.png, new_lines.png, meta.json}`` (colors RGB, line art
L), ``DIR/ATTRIBUTION.md`` and ``DIR/build.json`` (settings, counts, dropped pairs and why). N pairs of each kind,
spread evenly over the styles it applies to. The new drawing is

- ``expression`` (DiceBear adventurer and micah, BigHeads): the same character (same seed, every color and part
  pinned) with other eyes and mouth, sometimes other eyebrows, glasses or earrings toggled now and then;
- ``pose`` (Comicgen): the same character and angle in another pose (and another emotion where there is one);
- ``next-frame`` (all four): as ``expression`` (Comicgen: another emotion, same pose), then moved, scaled
  (0.8-1.2) and rotated (-20..20 degrees) about its centre by one SVG transform of its color and line drawing
  (meta.json: the parameters, the SVG transform and ``matrix_px``, the 2x3 map of pixels before -> after);
- ``different`` (all four): another character of the same style (a wrong reference).

The characters come from the packages of ``autopainter prepare characters`` (``characters.install_packages``,
drawn by ``reference_pairs.mjs`` with node, rendered by ``characters.render_svg``). Character i of a style is
seeded by its name ``STYLE-sSEED-i``; the training set used seed 0 with other names, so any --seed here gives
characters it never saw, and --seed 1 and --seed 2 give disjoint ones. Comicgen has only 15 characters: its pairs
vary the (character, emotion, pose) combination by seed. The DiceBear/BigHeads pairs of ``expression``,
``next-frame`` and ``different`` share characters on purpose: next-frame pair ``x`` is expression pair ``x`` plus
the transform, and different pair i has the new drawing of expression pair i+1, so a benchmark can compare the
kinds pair by pair.

Pairs are dropped (and listed in build.json) when a line art is nearly empty or hidden by its color render (as
``prepare characters``), when an expression-like pair's two drawings do not share their palette, or when the
new line art is the same as the reference's. ``load_pairs`` reads a built set without node.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import zlib
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Sequence

import numpy as np

from autopainter.data.sources import DatasetBuildError, parallel_map
from autopainter.data.sources.characters import (
    COMICGEN_CHARACTERS,
    CREDITS,
    PACKAGES,
    _SVG_OPEN,
    _VIEWBOX,
    _inner,
    _whiten,
    install_packages,
    render_svg,
)
from autopainter.data.sources.npm import run_tool
from autopainter.data.sources.openmoji import MIN_LINE_PIXELS, MIN_LINE_VISIBLE, line_visibility
from autopainter.imageio import atomic_write_bytes, save_image
from autopainter.ink import luma

__all__ = ["KINDS", "STYLES", "build_pairs", "load_pairs", "palette_overlap", "transform_svg"]

SCRIPT = Path(__file__).with_name("reference_pairs.mjs")
KINDS = ("expression", "pose", "next-frame", "different")
SOURCE_OF = {"adventurer": "dicebear-adventurer", "micah": "dicebear-micah", "bigheads": "bigheads",
             "comicgen": "comicgen"}  # style -> its source (the keys of characters.CREDITS)
STYLES = {"expression": ("adventurer", "micah", "bigheads"), "pose": ("comicgen",),
          "next-frame": ("adventurer", "micah", "bigheads", "comicgen"),
          "different": ("adventurer", "micah", "bigheads", "comicgen")}
GROUPS = {"dicebear": ("adventurer", "micah"), "bigheads": ("bigheads",), "comicgen": ("comicgen",)}  # --sources
SCALE, ROTATE, SHIFT = (0.8, 1.2), (-20.0, 20.0), 0.1  # next-frame transform ranges (shift: share of the canvas)
MIN_INSIDE = 0.9  # share of the drawing that must stay on the canvas after the transform
# expression-like pairs: share of the main colors both drawings must share (a changed mouth or glasses brings a
# few colors of its own, ~10 % at most; another skin or hair color would take 20-50 %)
MIN_PALETTE_OVERLAP = 0.8
MIN_LINE_CHANGE = 0.001  # share of pixels whose line art must differ between an expression pair's drawings
NODE_TIMEOUT_S = 600
FILES = ("ref.png", "ref_lines.png", "new.png", "new_lines.png", "meta.json")

ATTRIBUTION = """\
# Attribution

The images in this folder were drawn with these npm packages and rendered to same-character pairs ({size} px)
by `benchmarks/reference_pairs.py` of Auto-Painter:
{lines}
Changes: each character was drawn in color and again with every fill white, on a white background, and a
second time with another expression, pose or accessories; some second drawings were moved, scaled and rotated.

If you publish this data or images made from it, credit the artists and licenses above.
"""


# ------------------------------------------------------------------------------ checks and transforms
def palette_overlap(a: np.ndarray, b: np.ndarray, main: float = 0.01, present: float = 0.001) -> float:
    """How much two color renders (H, W, 3 uint8) share their palette: of each image's main colors (exact
    RGB values covering >= ``main`` of its non-white pixels), the pixel share whose color also occurs in the
    other (>= ``present``); the smaller of the two directions. Anti-aliased edges are never main colors."""
    def shares(img: np.ndarray) -> dict[int, float]:
        px = img.reshape(-1, 3).astype(np.int64)
        px = px[px.min(axis=1) < 250]  # paper (and white parts: they say nothing about the palette)
        if len(px) == 0:
            return {}
        codes, counts = np.unique(px[:, 0] << 16 | px[:, 1] << 8 | px[:, 2], return_counts=True)
        return dict(zip(codes.tolist(), (counts / len(px)).tolist()))

    sa, sb = shares(a), shares(b)

    def one_way(x: dict[int, float], y: dict[int, float]) -> float:
        mains = {c: s for c, s in x.items() if s >= main}
        total = sum(mains.values())
        return sum(s for c, s in mains.items() if y.get(c, 0.0) >= present) / total if total else 1.0

    return min(one_way(sa, sb), one_way(sb, sa))


def transform_svg(svg: str, matrix: str | None = None) -> str:
    """``svg`` with a square viewBox about its old one's centre and, with ``matrix``, its drawing wrapped in
    ``<g transform=matrix>``. A square viewBox renders the same (``render_svg`` centres the long side on a
    square) up to the rounding of that padding: every drawing of a pair is rendered through it, so that
    they share one pixel grid exactly, and a moved drawing may use the margins instead of being cut."""
    m = _SVG_OPEN.search(svg)
    if m is None:
        raise ValueError("not an SVG")
    vb, inner = _inner(svg)
    x, y, w, h = (float(v) for v in vb.replace(",", " ").split())
    side = max(w, h)
    box = f'viewBox="{x + (w - side) / 2:g} {y + (h - side) / 2:g} {side:g} {side:g}"'
    head = _VIEWBOX.sub(box, m.group(0)) if _VIEWBOX.search(m.group(0)) else m.group(0)[:-1] + f" {box}>"
    return f'{head}<g transform="{matrix}">{inner}</g></svg>' if matrix else f"{head}{inner}</svg>"


def _viewbox(svg: str) -> tuple[float, float, float]:
    """(x, y, side) of the square viewBox that ``transform_svg`` gives ``svg``."""
    x, y, w, h = (float(v) for v in _inner(svg)[0].replace(",", " ").split())
    side = max(w, h)
    return x + (w - side) / 2, y + (h - side) / 2, side


def _pick_transform(rng: np.random.Generator, drawing: np.ndarray, svg: str, size: int) -> dict:
    """A random move/scale/rotation of a drawing whose pixels are ``drawing`` (H, W bool, its render before
    the move) about its centre that keeps >= MIN_INSIDE of it on the canvas (the best of 50 draws otherwise)."""
    ys, xs = np.nonzero(drawing)
    pts = np.stack([xs, ys], 1)[:: max(1, len(xs) // 4000)].astype(np.float64) + 0.5
    centre = (pts.min(0) + pts.max(0)) / 2
    vx, vy, side = _viewbox(svg)
    k = size / side  # viewBox units -> pixels
    best = None
    for _ in range(50):
        s, deg = rng.uniform(*SCALE), rng.uniform(*ROTATE)
        shift = rng.uniform(-SHIFT, SHIFT, 2) * size
        a = np.deg2rad(deg)
        rot = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        moved = (pts - centre) @ rot.T + centre + shift
        inside = float(((moved >= 0) & (moved < size)).all(1).mean())
        if best is None or inside > best[0]:
            best = (inside, s, deg, shift, rot)
        if inside >= MIN_INSIDE:
            break
    inside, s, deg, shift, rot = best
    cx, cy = centre / k + (vx, vy)  # the centre in viewBox units
    tx, ty = cx + shift[0] / k, cy + shift[1] / k
    matrix_px = np.concatenate([rot, (centre + shift - rot @ centre)[:, None]], 1)  # pixel (x, y, 1) -> moved pixel
    return {"scale": round(s, 4), "rotate_deg": round(deg, 3), "shift": [round(v / size, 4) for v in shift],
            "centre": [round(v / size, 4) for v in centre], "inside": round(inside, 4),
            "svg_transform": f"translate({tx:.3f} {ty:.3f}) rotate({deg:.3f}) scale({s:.4f}) "
                             f"translate({-cx:.3f} {-cy:.3f})",
            "matrix_px": np.round(matrix_px, 5).tolist()}


# ------------------------------------------------------------------------------ drawing
def _draw(packages: Path, style: str, count: int, seed: int) -> dict[int, dict]:
    """Characters 0..count-1 of a node-drawn style -> {index: item of reference_pairs.mjs}."""
    proc = run_tool(["node", str(SCRIPT), style, str(count), str(seed)], packages, NODE_TIMEOUT_S,
                    f"drawing {style} characters")
    items = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return {int(d["name"].rsplit("-", 1)[1]): d for d in items}


def _comicgen_groups(packages: Path) -> dict[Path, tuple[list[str], list[str]]]:
    """Every (character, angle) folder, as ``characters.comicgen_items`` finds them -> (emotions, poses)."""
    root = Path(packages) / "node_modules" / "comicgen" / "svg"
    groups = [g for name in COMICGEN_CHARACTERS for g in sorted({p.parent for p in (root / name).rglob("emotion")})]
    if not groups:
        raise DatasetBuildError(f"no Comicgen characters under {root}: is comicgen@{PACKAGES['comicgen']} installed?")
    return {g: tuple([p.stem for p in sorted((g / layer).glob("*.svg"))] for layer in ("emotion", "pose"))
            for g in groups}


def _comicgen(group: Path, emotion: str, pose: str) -> dict:
    """One emotion over one pose of a Comicgen group, composed as ``characters.comicgen_items`` does."""
    vb, face = _inner((group / "emotion" / f"{emotion}.svg").read_text(errors="replace"))
    _, body = _inner((group / "pose" / f"{pose}.svg").read_text(errors="replace"))
    color = f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{vb}">{face}{body}</svg>'
    return {"color": color, "line": _whiten(color), "emotion": emotion, "pose": pose}


def _gid(group: Path) -> str:
    parts = group.parts
    return "-".join(parts[parts.index("svg") + 1:])


def _base(gid: str) -> str:
    """The character of a group id: 'deynuovo-side' -> 'dey' (the nuovo/nuova sets redraw the same people)."""
    return re.sub(r"nuov[ao]$", "", gid.split("-")[0])


def _comicgen_pair(layers: dict, kind: str, i: int, seed: int) -> tuple[dict, dict]:
    """(ref, new) Comicgen drawings of pair i of ``kind``, chosen by a generator seeded with (seed, kind, i)."""
    groups = list(layers)
    ok = [g for g in groups if len(layers[g][1 if kind == "pose" else 0]) >= 2]  # something to change
    order = np.random.default_rng([seed, zlib.crc32(kind.encode())]).permutation(len(ok))
    rng = np.random.default_rng([seed, zlib.crc32(kind.encode()), i])
    g = ok[int(order[i % len(ok)])]
    emotions, poses = layers[g]
    e1, p1 = rng.choice(emotions), rng.choice(poses)
    others = lambda xs, x: [v for v in xs if v != x] or xs  # noqa: E731
    if kind == "pose":
        g2, e2, p2 = g, rng.choice(others(emotions, e1)), rng.choice(others(poses, p1))
    elif kind == "next-frame":
        g2, e2, p2 = g, rng.choice(others(emotions, e1)), p1
    else:  # different: another character altogether
        strangers = [h for h in groups if _base(_gid(h)) != _base(_gid(g))]
        g2 = strangers[int(rng.integers(len(strangers)))]
        e2, p2 = rng.choice(layers[g2][0]), rng.choice(layers[g2][1])
    ref, new = _comicgen(g, str(e1), str(p1)), _comicgen(g2, str(e2), str(p2))
    ref["character"], new["character"] = _gid(g), _gid(g2)
    return ref, new


# ------------------------------------------------------------------------------ one pair
@dataclass
class _Job:
    kind: str
    style: str
    name: str
    seed: int
    ref: dict  # {"color", "line"} SVGs and what they show
    new: dict
    info: dict = field(default_factory=dict)  # meta: what changed, colors chosen


def _make(job: _Job, out: Path, size: int) -> tuple[str, str]:
    """Render, check and write one pair -> ("existing" | "made" | "dropped", why when dropped)."""
    folder = out / job.kind / job.name
    if (folder / "meta.json").is_file():  # written last: the pair is complete
        return "existing", ""
    try:
        ref, ref_lines = (render_svg(transform_svg(job.ref[k]), size) for k in ("color", "line"))
        ref_lines, transform = luma(ref_lines), None
        if job.kind == "next-frame":
            drawing = (ref.min(axis=2) < 250) | (ref_lines < 250)  # the new drawing has the reference's extent
            rng = np.random.default_rng([job.seed, zlib.crc32(f"{job.kind}/{job.name}".encode())])
            transform = _pick_transform(rng, drawing, job.new["color"], size)
        matrix = transform and transform["svg_transform"]
        new, new_lines = (render_svg(transform_svg(job.new[k], matrix), size) for k in ("color", "line"))
        new_lines = luma(new_lines)
    except DatasetBuildError:
        raise
    except Exception as e:  # one bad drawing must not stop the set
        return "dropped", f"render error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    checks = {}
    for which, color, line in (("ref", ref, ref_lines), ("new", new, new_lines)):
        share, visible = line_visibility(color, line)
        checks[f"{which}_line_share"], checks[f"{which}_line_visible"] = round(share, 4), round(visible, 4)
        if share < MIN_LINE_PIXELS:
            return "dropped", f"empty {which} line art: {share:.2%} of the image is line"
        if visible < MIN_LINE_VISIBLE:
            return "dropped", (f"{which} lines hidden in color: {visible:.0%} of line pixels dark "
                               f"(< {MIN_LINE_VISIBLE:.0%})")
    checks["palette_overlap"] = round(palette_overlap(ref, new), 4)
    checks["line_change"] = round(float((np.abs(ref_lines.astype(int) - new_lines) > 64).mean()), 4)
    if job.kind in ("expression", "next-frame"):
        colors = job.info.get("colors")
        if colors and colors["ref"] != colors["new"]:
            bad = sorted(k for k in colors["ref"] if colors["ref"][k] != colors["new"].get(k))
            return "dropped", f"palettes differ: color options {', '.join(bad)}"
        if checks["palette_overlap"] < MIN_PALETTE_OVERLAP:
            return "dropped", f"palettes differ: {checks['palette_overlap']:.0%} of the main colors shared"
        if checks["line_change"] < MIN_LINE_CHANGE:
            return "dropped", f"the new line art is the reference's: {checks['line_change']:.2%} of pixels differ"
    if transform is not None and transform["inside"] < MIN_INSIDE:
        return "dropped", f"the moved drawing leaves the canvas: {transform['inside']:.0%} inside"
    meta = {"name": job.name, "kind": job.kind, "source": SOURCE_OF[job.style], "size": size, "seed": job.seed,
            "ref": {k: v for k, v in job.ref.items() if k not in ("color", "line")},
            "new": {k: v for k, v in job.new.items() if k not in ("color", "line")},
            **job.info, "transform": transform, "checks": checks}
    for fname, img in zip(FILES, (ref, ref_lines, new, new_lines)):
        save_image(img, folder / fname, compress_level=1)
    atomic_write_bytes(folder / "meta.json", (json.dumps(meta, indent=1) + "\n").encode())
    return "made", ""


def _plan(count: int, kinds: Sequence[str], styles: Sequence[str]) -> dict[tuple[str, str], int]:
    """(kind, style) -> pairs wanted: ``count`` per kind, spread evenly over its styles."""
    plan = {}
    for kind in kinds:
        ss = [s for s in STYLES[kind] if s in styles]
        for j, s in enumerate(ss):
            plan[kind, s] = count // len(ss) + (j < count % len(ss))
    return plan


class _Candidates:
    """Pair i of a (kind, style) as a _Job, or (kind/name, why it could not be drawn); None past the drawn ones.
    Node draws each style once, with room for stand-ins of dropped pairs."""

    def __init__(self, packages: Path, plan: dict, seed: int):
        self.seed, self.drawn = seed, {}
        for s in {s for (_, s) in plan} - {"comicgen"}:
            need = max(n + (k == "different") for (k, t), n in plan.items() if t == s)  # different i uses i+1
            self.drawn[s] = _draw(packages, s, need + need // 2 + 2, seed)
        self.layers = _comicgen_groups(packages) if any(s == "comicgen" for (_, s) in plan) else {}

    def __call__(self, kind: str, style: str, i: int) -> _Job | tuple[str, str] | None:
        name, seed = f"{style}-s{self.seed}-{i}", self.seed
        if style == "comicgen":
            try:
                ref, new = _comicgen_pair(self.layers, kind, i, seed)
            except (OSError, ValueError) as e:
                return f"{kind}/{name}", f"draw error: {type(e).__name__}: {e}"
            changed = {k: [ref[k], new[k]] for k in ("character", "emotion", "pose") if ref[k] != new[k]}
            return _Job(kind, style, name, seed, ref, new, {"changed": changed})
        drawn = self.drawn[style]
        j = i + 1 if kind == "different" else i
        if j not in drawn:
            return None
        a, b = drawn.get(i, {"error": "not drawn"}), drawn[j]
        if "error" in a or "error" in b:
            return f"{kind}/{name}", f"draw error: {a.get('error') or b.get('error')}"
        if kind == "different":
            return _Job(kind, style, name, seed, {**a["ref"], "character": a["name"]},
                        {**b["new"], "character": b["name"], "changed": b["changed"]},
                        {"changed": {"character": [a["name"], b["name"]]}})
        return _Job(kind, style, name, seed, {**a["ref"], "character": a["name"]}, {**a["new"], "character": a["name"]},
                    {"changed": a["changed"], "colors": a["colors"]})


# ------------------------------------------------------------------------------ the build
def build_pairs(out: str | Path, count: int, seed: int, size: int = 512, kinds: Sequence[str] = KINDS,
                sources: Sequence[str] = tuple(GROUPS), packages_dir: str | Path | None = None,
                workers: int | None = None, progress: bool = False) -> dict:
    """Write ``count`` pairs of each of ``kinds`` into ``out`` (see the module doc); pairs already there are
    kept. ``sources``: of dicebear, bigheads, comicgen. ``packages_dir``: a folder whose node_modules hold the
    character packages (default: ``characters.install_packages()``, installed on first use). Returns what
    build.json holds."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise DatasetBuildError(f"--count must be a whole number >= 1, got {count!r}")
    if seed == 0:
        raise DatasetBuildError("--seed 0 is the training set's seed: use another (e.g. 1 for val, 2 for test)")
    bad = [k for k in kinds if k not in KINDS] + [s for s in sources if s not in GROUPS]
    if bad or not kinds or not sources:
        raise DatasetBuildError(f"unknown kind or source {bad[0] if bad else '(none)'!r}: "
                                f"kinds {KINDS}, sources {tuple(GROUPS)}")
    t0 = time.perf_counter()
    out = Path(out)
    packages = Path(packages_dir) if packages_dir else install_packages()
    plan = _plan(count, kinds, [s for g in sources for s in GROUPS[g]])
    candidates = _Candidates(packages, plan, seed)
    made = existing = 0
    dropped: list[tuple[str, str]] = []
    got = {key: 0 for key in plan}
    tried = {key: 0 for key in plan}
    work = partial(_make, out=out, size=size)
    while True:  # rounds: each dropped pair is replaced by the style's next character (or combination)
        jobs = []
        for key, n in plan.items():
            need = n - got[key]
            while need > 0 and tried[key] < 3 * n + 10 and (c := candidates(*key, tried[key])) is not None:
                tried[key] += 1
                if isinstance(c, _Job):
                    jobs.append(c)
                    need -= 1
                else:
                    dropped.append(c)
        if not jobs:
            break
        for job, (status, why) in zip(jobs, parallel_map(work, jobs, workers, progress, "pairs", "pair"), strict=True):
            if status == "dropped":
                dropped.append((f"{job.kind}/{job.name}", why))
                continue
            made, existing = made + (status == "made"), existing + (status == "existing")
            got[job.kind, job.style] += 1
    counts = {kind: {SOURCE_OF[s]: got[k, s] for (k, s) in plan if k == kind} for kind in kinds}
    short = {f"{k}/{s}": n - got[k, s] for (k, s), n in plan.items() if got[k, s] < n}
    used = sorted({SOURCE_OF[s] for (_, s) in plan}, key=list(CREDITS).index)
    atomic_write_bytes(out / "ATTRIBUTION.md",
                       ATTRIBUTION.format(size=size, lines="\n".join(CREDITS[s] for s in used) + "\n").encode())
    report = {"settings": {"count": count, "seed": seed, "size": size, "kinds": list(kinds), "sources": list(sources),
                           "packages": PACKAGES, "scale": SCALE, "rotate_deg": ROTATE, "shift": SHIFT,
                           "min_inside": MIN_INSIDE, "min_palette_overlap": MIN_PALETTE_OVERLAP,
                           "min_line_change": MIN_LINE_CHANGE, "min_line_pixels": MIN_LINE_PIXELS,
                           "min_line_visible": MIN_LINE_VISIBLE},
              "counts": counts, "short": short, "pairs": made + existing, "made": made, "existing": existing,
              "dropped": sorted(dropped), "seconds": round(time.perf_counter() - t0, 1)}
    atomic_write_bytes(out / "build.json", (json.dumps(report, indent=1) + "\n").encode())
    return report


def _order(name: str) -> tuple:
    """Pairs sort by index first, so the first few of a kind mix the styles: 'micah-s1-10' -> (10, 'micah-s1-10')."""
    m = re.search(r"-(\d+)$", name)
    return (int(m.group(1)) if m else -1, name)


def load_pairs(root: str | Path, kinds: Sequence[str] | None = None, limit: int | None = None) -> list[dict]:
    """The pairs under ``root`` as dicts {name, kind, source, ref (H, W, 3 uint8), ref_lines (H, W uint8), new,
    new_lines, meta}, by kind (in KINDS order) then pair index then name; ``limit``: at most that many per kind.
    Needs no node: only the written files."""
    from PIL import Image

    root = Path(root)
    pairs = []
    for kind in kinds or KINDS:
        folders = sorted((p.parent for p in (root / kind).glob("*/meta.json")), key=lambda p: _order(p.name))
        for folder in folders[:limit]:
            meta = json.loads((folder / "meta.json").read_text())
            pair = {"name": folder.name, "kind": kind, "source": meta["source"], "meta": meta}
            for key, mode in (("ref", "RGB"), ("ref_lines", "L"), ("new", "RGB"), ("new_lines", "L")):
                with Image.open(folder / f"{key}.png") as im:
                    pair[key] = np.asarray(im.convert(mode))
            pairs.append(pair)
    return pairs


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path, help="output folder")
    ap.add_argument("--count", type=int, default=40, help="pairs of each kind (default 40)")
    ap.add_argument("--seed", type=int, default=1, help="characters' seed, not 0 (the training set's); default 1")
    ap.add_argument("--size", type=int, default=512, help="image side in px (default 512)")
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    ap.add_argument("--sources", nargs="+", default=list(GROUPS), choices=list(GROUPS))
    ap.add_argument("--packages-dir", type=Path, help="folder whose node_modules hold the character packages")
    ap.add_argument("--workers", type=int, help="processes (default: every core)")
    args = ap.parse_args(argv)
    try:
        report = build_pairs(args.out, args.count, args.seed, args.size, args.kinds, args.sources, args.packages_dir,
                             args.workers, progress=sys.stderr.isatty())
    except DatasetBuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for kind, per in report["counts"].items():
        print(f"{kind}: " + ", ".join(f"{n} {s}" for s, n in per.items()))
    print(f"{report['pairs']} pairs ({report['made']} made, {report['existing']} kept) in {args.out}, "
          f"dropped {len(report['dropped'])}, {report['seconds']:.0f} s")
    for name, why in report["dropped"]:
        print(f"  dropped {name}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
