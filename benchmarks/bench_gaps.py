"""Issue 30's gap set: do the trapped-ball regions (``inference.regions.segment``) hold shapes whose outline is open?

    python benchmarks/bench_gaps.py [--quick] [--gap N] [--seed 0] [--out JSON] [--figure PNG]

THE SET (fixed with issue 30; do not tune it): made here, deterministic from ``--seed`` (default 0). One item
per (gap bin, line width, kind, repeat): gap bins 1-4, 5-8, 9-16, 17-24, 25-40 px (the gap an integer drawn
uniformly in its bin), line widths w = 1..8 px, four kinds, 10 repeats (``--quick``: 1), so 1600 items (160)
holding 2000 scored shapes (200). Each item is drawn from ``numpy.random.default_rng([seed, index])``, the index
fixed by (repeat, bin, width, kind); with g = max(gap, w, 4):
* ``ellipse``: major axis U(max(48, 4g), 400) px, minor = major * U(0.5, 1) but at least min(major, 3g + 2w);
  any angle;
* ``polygon``: 3-7 vertices at sorted random angles (at least pi / n apart), at radius R * U(0.75, 1) where
  2R = U(max(60, 5g), 400) px;
* ``strand`` (hair): a band U(2, 4) * g px wide between its lines (+ w centre to centre) around a centre line of
  length U(min(400, max(120, 3 * band)), 400) px whose direction swings by a * sin(pi m s / L + phase), m in {1, 2},
  a <= 0.9 rad and its bend radius >= 1.2 bands; round ends;
* ``nested`` (an eye in a face): a face ellipse U(max(140, 8g), 400) px (aspect U(0.85, 1)) holding an eye
  ellipse U(max(24, 3g + 2w), max(that, min(face / 2.5, face minor - 3g - 2w))) px (its minor axis as an
  ellipse's, aspect U(0.6, 1)), kept about 1.5g + w px from the face's outline; both are scored shapes.
Every outline gets one or two gaps (each 50 %), at random places along it, at least 3g + 4w apart (on polygons away
from the corners): the line is painted white over a strip across it that is ``gap`` px long along the outline's
centre line and w + 6 px wide. The canvas is the shapes' box plus 24 + 2g px of paper on each side. Two renders:
* ``clean``: the outlines drawn in black with ``cv2.polylines(..., LINE_AA)`` at width w on white, then cut;
* ``xdog``: a colored picture (a random light paper color outside, another fill color inside, the eye a third
  one, outlines in a near-black color (channels <= 12, so XDoG keeps them solid) at width w, all anti-aliased)
  turned into line art by the project's ``extract_sketch(rgb, "xdog")``, then cut the same way.

THE METRICS. Scored are only "core" pixels: farther than w / 2 + 3 px from every (uncut) outline's centre line.
A shape's inside I is its core pixels (the face's without the eye); everything else in the core is its outside.
``segment(sketch, gap=None)`` (the automatic gap; ``--gap N``: N px) labels the image; the shape's *main region*
is the region holding most of I. A shape LEAKS when its main region also holds more than 5 % of |I| in pixels of
its outside; it is CLOSED when it does not leak. It is CUT when two or more regions each hold more than 5 % of I.
Figures are shares of shapes per (gap bin, line width, render). The issue's goal, per render: of the shapes whose
gap is at most min(40, max(24, 6 w)) px, >= 95 % closed and <= 5 % cut. Printed as PASS/FAIL; the last line is the
overall verdict. Writes JSON (default benchmarks/results/gaps.json); ``--figure`` a montage of a few items.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, write_json  # noqa: E402

BINS = ((1, 4), (5, 8), (9, 16), (17, 24), (25, 40))
WIDTHS = tuple(range(1, 9))
KINDS = ("ellipse", "polygon", "strand", "nested")
RENDERS = ("clean", "xdog")
REPEATS, QUICK_REPEATS = 10, 1
SHARE = 0.05  # leak: outside pixels in the main region > SHARE |I|; cut: regions holding > SHARE |I|
CORE = 3  # px beyond half the line width that are not scored (the line's anti-aliased or XDoG fringe)
GOAL_CLOSED, GOAL_CUT = 0.95, 0.05
FIGURE = [("ellipse", 1, 2), ("polygon", 2, 4), ("strand", 3, 3), ("nested", 2, 2), ("strand", 0, 1), ("polygon", 4, 8)]


def code_source(module_file: str) -> dict:
    """Where the measured ``segment`` came from: its file and the commit of the checkout holding it (plus
    "+changes" when that file differs from the commit), since it may not be this checkout's HEAD."""
    import subprocess

    where = Path(module_file).parent
    git = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True, cwd=where, timeout=5)  # noqa: E731
    try:
        commit = git("rev-parse", "--short", "HEAD").stdout.strip()
        if commit and git("diff", "--quiet", "HEAD", "--", Path(module_file).name).returncode:
            commit += "+changes"
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {"segment_from": module_file, "segment_commit": commit}


def goal_scope(gap: int, w: int) -> bool:
    """Whether the issue's goal covers a gap of ``gap`` px in lines ``w`` px wide."""
    return gap <= min(40, max(24, 6 * w))


def _ellipse(c, a, b, rot):  # a closed outline as (N, 2) float points about 1 px apart
    t = np.linspace(0, 2 * np.pi, max(64, int(2 * np.pi * max(a, b))), endpoint=False)
    x, y = a * np.cos(t), b * np.sin(t)
    return np.stack([c[0] + x * np.cos(rot) - y * np.sin(rot), c[1] + x * np.sin(rot) + y * np.cos(rot)], 1)


def _densify(pts):  # polygon vertices -> points about 1 px apart along its edges
    out = []
    for p, q in zip(pts, np.roll(pts, -1, 0)):
        n = max(1, int(np.ceil(np.hypot(*(q - p)))))
        out.append(p + (q - p) * (np.arange(n)[:, None] / n))
    return np.concatenate(out)


def _strand(rng, band):
    L = rng.uniform(min(400, max(120, 3 * band)), 400)
    m = int(rng.integers(1, 3))
    a = min(rng.uniform(0.3, 0.9), L / (np.pi * m * 1.2 * band))
    s = np.arange(0, L, 1.0)
    theta = rng.uniform(0, 2 * np.pi) + a * np.sin(np.pi * m * s / L + rng.uniform(0, 2 * np.pi))
    centre = np.cumsum(np.stack([np.cos(theta), np.sin(theta)], 1), 0)
    normal = np.stack([-np.sin(theta), np.cos(theta)], 1) * band / 2
    def cap(p, th):  # the half circle around an end, from the left side (th + pi/2) to the right side
        u = th + np.pi / 2 - np.linspace(0, np.pi, max(8, int(band)))
        return p + band / 2 * np.stack([np.cos(u), np.sin(u)], 1)

    return np.concatenate([centre + normal, cap(centre[-1], theta[-1])[1:-1], (centre - normal)[::-1],
                           cap(centre[0], theta[0] + np.pi)[1:-1]])


def make_item(seed: int, index: int, kind: str, lo: int, hi: int, w: int) -> dict:
    """One item of the set: outlines (float points), their gap strips, and (for scoring) the inside of each."""
    rng = np.random.default_rng([seed, index])
    gap = int(rng.integers(lo, hi + 1))
    g = max(gap, w, 4)
    corners = []
    if kind == "ellipse":
        a = rng.uniform(max(48, 4 * g), 400) / 2
        b = max(a * rng.uniform(0.5, 1.0), min(a, 1.5 * g + w))
        shapes = [_ellipse((0, 0), a, b, rng.uniform(0, np.pi))]
    elif kind == "polygon":
        n = int(rng.integers(3, 8))
        R = rng.uniform(max(60, 5 * g), 400) / 2
        ang = np.sort(rng.uniform(0, np.pi, n)) + np.arange(n) * np.pi / n  # 2 pi - n (pi / n) left to draw in
        corners = np.stack([np.cos(ang), np.sin(ang)], 1) * (R * rng.uniform(0.75, 1.0, n))[:, None]
        shapes = [_densify(corners)]
    elif kind == "strand":
        shapes = [_strand(rng, rng.uniform(2, 4) * g + w)]  # centre line to centre line
    else:  # nested: the face first, then the eye inside it
        A = rng.uniform(max(140, 8 * g), 400) / 2
        B = A * rng.uniform(0.85, 1.0)
        c = 1.5 * g + w
        d_lo = max(24, 3 * g + 2 * w)
        d = rng.uniform(d_lo, max(d_lo, min(2 * A / 2.5, 2 * B - 2 * c)))
        r = rng.uniform(0, 1, 2) * np.maximum(0, np.array([A, B]) - d / 2 - c)
        phi = rng.uniform(0, 2 * np.pi)
        b = max(d / 2 * rng.uniform(0.6, 1.0), min(d / 2, 1.5 * g + w))
        shapes = [_ellipse((0, 0), A, B, 0.0),
                  _ellipse((r[0] * np.cos(phi), r[1] * np.sin(phi)), d / 2, b, rng.uniform(0, np.pi))]
    lo_xy = np.min([s.min(0) for s in shapes], 0)
    hi_xy = np.max([s.max(0) for s in shapes], 0)
    margin = 24 + 2 * g
    shift = margin - lo_xy
    shapes = [s + shift for s in shapes]
    size = tuple(int(v) for v in np.ceil(hi_xy - lo_xy + 2 * margin))  # (W, H)
    cuts = []
    for k, pts in enumerate(shapes):
        seg = np.hypot(*(np.roll(pts, -1, 0) - pts).T)
        arc = np.concatenate([[0], np.cumsum(seg)])[:-1]
        total = arc[-1] + seg[-1]
        ok = np.ones(len(pts), bool)
        if kind == "polygon":  # keep the strips off the corners, where they would cut two sides
            for v in corners + shift:
                at = arc[np.argmin(np.hypot(*(pts - v).T))]
                dist = np.abs(arc - at)
                ok &= np.minimum(dist, total - dist) > gap / 2 + w + CORE + 2
        if not ok.any():
            ok[:] = True
        centres = [float(rng.choice(arc[ok]))]
        if rng.uniform() < 0.5:  # a second gap, far enough from the first
            dist = np.abs(arc - centres[0])
            far = ok & (np.minimum(dist, total - dist) > 3 * g + 4 * w)
            if far.any():
                centres.append(float(rng.choice(arc[far])))
        for t in centres:
            dist = (arc - t + total / 2) % total - total / 2  # signed arc distance
            idx = np.flatnonzero(np.abs(dist) <= gap / 2)
            idx = idx[np.argsort(dist[idx])]
            tang = np.roll(pts, -1, 0)[idx] - np.roll(pts, 1, 0)[idx]
            nrm = np.stack([-tang[:, 1], tang[:, 0]], 1) / np.maximum(np.hypot(*tang.T), 1e-9)[:, None]
            h = w / 2 + CORE
            cuts.append(np.concatenate([pts[idx] + h * nrm, (pts[idx] - h * nrm)[::-1]]))
    return {"index": index, "kind": kind, "gap": gap, "width": w, "bin": f"{lo}-{hi}",
            "shapes": shapes, "cuts": cuts, "size": size, "colors": rng.integers(0, 256, (4, 3))}


def _fix(pts):  # float points -> int32 points with 4 fractional bits (cv2's shift=4)
    return np.round(pts * 16).astype(np.int32)


def render(item: dict, style: str) -> np.ndarray:
    """(H, W) uint8 line art of an item: 'clean' drawn lines or 'xdog' lines of a colored picture, gaps cut."""
    W, H = item["size"]
    w = item["width"]
    if style == "clean":
        gray = np.full((H, W), 255, np.uint8)
        cv2.polylines(gray, [_fix(s) for s in item["shapes"]], True, 0, w, cv2.LINE_AA, 4)
    else:
        from autopainter.data.sketch import extract_sketch

        paper, fill, eye, ink = item["colors"]
        rgb = np.empty((H, W, 3), np.uint8)
        rgb[:] = 160 + paper * 95 // 255  # light paper
        for s, col in zip(item["shapes"], (fill, eye)):
            cv2.fillPoly(rgb, [_fix(s)], [int(v) for v in 40 + col * 215 // 255], cv2.LINE_AA, 4)
        cv2.polylines(rgb, [_fix(s) for s in item["shapes"]], True, [int(v) for v in ink * 12 // 255], w,
                      cv2.LINE_AA, 4)
        gray = extract_sketch(rgb, "xdog")
    cv2.fillPoly(gray, [_fix(c) for c in item["cuts"]], 255, cv2.LINE_8, 4)
    return gray


def truth(item: dict) -> tuple[np.ndarray, np.ndarray]:
    """(zones, core): zones (H, W) int 0 paper outside, k the inside of shape k (1-based, the eye cut out of the
    face); core (H, W) bool, the pixels scored."""
    W, H = item["size"]
    zones = np.zeros((H, W), np.uint8)
    band = np.zeros((H, W), np.uint8)
    for k, s in enumerate(item["shapes"], 1):
        cv2.fillPoly(zones, [_fix(s)], k, cv2.LINE_8, 4)
        cv2.polylines(band, [_fix(s)], True, 1, item["width"] + 2 * CORE, cv2.LINE_8, 4)
    return zones, band == 0


def score(labels: np.ndarray, zones: np.ndarray, core: np.ndarray, k: int) -> tuple[bool, bool]:
    """(leaks, cut) for shape ``k`` under a label map (see the module doc)."""
    inside = core & (zones == k)
    per = np.bincount(labels[inside])
    main = int(per.argmax())
    outside = int(np.count_nonzero(labels[core & (zones != k)] == main))
    return bool(outside > SHARE * inside.sum()), bool((per > SHARE * inside.sum()).sum() >= 2)


def the_set(seed: int, repeats: int) -> list[tuple[int, str, int, int, int]]:
    """(index, kind, bin low, bin high, width) of every item; an item's index does not depend on ``repeats``."""
    out = []
    for rep in range(repeats):
        for b, (lo, hi) in enumerate(BINS):
            for w in WIDTHS:
                for kind in KINDS:
                    out.append((((rep * len(BINS) + b) * len(WIDTHS) + w - 1) * len(KINDS) + KINDS.index(kind),
                                kind, lo, hi, w))
    return out


def _rate(rows: list[dict]) -> dict:
    n = len(rows)
    return {"n": n, "leak": sum(r["leak"] for r in rows) / n if n else None,
            "cut": sum(r["cut"] for r in rows) / n if n else None}


def _compact(rows: list[dict]) -> dict:
    """Rows of like dicts as one line each in the JSON: {"columns": "a b ...", "rows": ["1 2 ...", ...]}."""
    cols = list(rows[0]) if rows else []
    val = lambda v: str(int(v)) if isinstance(v, bool) else str(v)  # noqa: E731
    return {"columns": " ".join(cols), "rows": [" ".join(val(r[c]) for c in cols) for r in rows]}


def figure(path: str, seed: int, gap: int | None, segment) -> None:
    """A montage: per item of FIGURE, its clean and xdog line art over their regions in random colors."""
    from PIL import Image, ImageDraw

    tiles = []
    for kind, b, w in FIGURE:
        lo, hi = BINS[b]
        index = ((b * len(WIDTHS) + w - 1) * len(KINDS)) + KINDS.index(kind)
        item = make_item(seed, index, kind, lo, hi, w)
        col = []
        for style in RENDERS:
            gray = render(item, style)
            reg = segment(gray, gap=gap)
            lut = np.random.default_rng(1).integers(90, 256, (reg.count + 1, 3)).astype(np.uint16)
            pic = (lut[reg.labels] * gray[..., None] // 255).astype(np.uint8)
            im = Image.fromarray(pic)
            im.thumbnail((240, 240))  # shrinks only; shown at its own scale when smaller
            canvas = Image.new("RGB", (240, 260), "white")
            canvas.paste(im, ((240 - im.width) // 2, 20 + (240 - im.height) // 2))
            label = f"{style} {kind} gap {item['gap']} w {w} (used {reg.gap})"
            ImageDraw.Draw(canvas).text((4, 4), label, fill="black")
            col.append(canvas)
        tiles.append(col)
    out = Image.new("RGB", (240 * len(tiles) + 4 * (len(tiles) - 1), 260 * 2 + 4), "gray")
    for i, col in enumerate(tiles):
        for j, t in enumerate(col):
            out.paste(t, (i * 244, j * 264))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    out.save(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_REPEATS} repeat, not {REPEATS}")
    ap.add_argument("--gap", type=int, default=None, help="a fixed gap (px) for segment; default: the automatic one")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "gaps.json"))
    ap.add_argument("--figure", default=None, metavar="PNG", help="also save a montage of a few items")
    args = ap.parse_args(argv)
    from autopainter.inference import regions as R

    if args.gap is not None:
        try:
            R.check_gap(args.gap)
        except ValueError as e:
            ap.error(f"--gap: {e}")
    rows, seconds = [], []
    t_all = time.perf_counter()
    for index, kind, lo, hi, w in the_set(args.seed, QUICK_REPEATS if args.quick else REPEATS):
        item = make_item(args.seed, index, kind, lo, hi, w)
        zones, core = truth(item)
        for style in RENDERS:
            gray = render(item, style)
            t0 = time.perf_counter()
            reg = R.segment(gray, gap=args.gap)
            seconds.append(time.perf_counter() - t0)
            for k in range(1, len(item["shapes"]) + 1):
                leak, cut = score(reg.labels, zones, core, k)
                rows.append({"index": index, "shape": k, "kind": kind, "bin": item["bin"], "gap": item["gap"],
                             "width": w, "render": style, "leak": leak, "cut": cut, "used_gap": reg.gap,
                             "measured_width": round(reg.line_width, 2), "regions": reg.count})
    bins = [f"{lo}-{hi}" for lo, hi in BINS]
    table = {s: {b: _rate([r for r in rows if r["render"] == s and r["bin"] == b]) for b in bins} for s in RENDERS}
    by_width = {s: {w: {b: _rate([r for r in rows if r["render"] == s and r["bin"] == b and r["width"] == w])
                        for b in bins} for w in WIDTHS} for s in RENDERS}
    by_kind = {s: {k: _rate([r for r in rows if r["render"] == s and r["kind"] == k]) for k in KINDS} for s in RENDERS}
    used_gap = {s: {w: float(np.mean([r["used_gap"] for r in rows if r["render"] == s and r["width"] == w]))
                    for w in WIDTHS} for s in RENDERS}
    goal = {}
    for s in RENDERS:
        g = _rate([r for r in rows if r["render"] == s and goal_scope(r["gap"], r["width"])])
        goal[s] = {**g, "closed": 1 - g["leak"],
                   "pass": bool(1 - g["leak"] >= GOAL_CLOSED and g["cut"] <= GOAL_CUT)}

    pct = lambda v: f"{100 * v:5.1f}"  # noqa: E731
    print(f"gap set: {len(rows) // 2} shapes x {len(RENDERS)} renders, seed {args.seed}, "
          f"gap {'auto' if args.gap is None else args.gap}, mean segment {1000 * np.mean(seconds):.1f} ms, "
          f"{time.perf_counter() - t_all:.0f} s in all")
    print(f"{'gap px':>7} {'n':>4} | {'clean leak%':>11} {'cut%':>6} | {'xdog leak%':>10} {'cut%':>6}")
    for b in bins:
        c, x = table["clean"][b], table["xdog"][b]
        print(f"{b:>7} {c['n']:>4} | {pct(c['leak']):>11} {pct(c['cut']):>6} | {pct(x['leak']):>10} {pct(x['cut']):>6}")
    for s in RENDERS:
        print(f"{s} leak% by line width (rows w, columns gap bins {' '.join(bins)}):")
        for w in WIDTHS:
            leaks = " ".join(pct(by_width[s][w][b]["leak"]) for b in bins)
            print(f"  w {w} (gap used {used_gap[s][w]:4.1f}): {leaks}")
    for s in RENDERS:
        print(f"goal {s}: {goal[s]['n']} shapes with gap <= min(40, max(24, 6 w)): closed {pct(goal[s]['closed'])} % "
              f"(>= {100 * GOAL_CLOSED:.0f}), cut {pct(goal[s]['cut'])} % (<= {100 * GOAL_CUT:.0f}): "
              f"{'PASS' if goal[s]['pass'] else 'FAIL'}")
    write_json(args.out, {"seed": args.seed, "quick": args.quick, "gap": args.gap, "max_gap": R.MAX_GAP,
                          **code_source(R.__file__), "segment_ms": 1000 * float(np.mean(seconds)), "table": table,
                          "by_width": by_width, "by_kind": by_kind, "used_gap": used_gap, "goal": goal,
                          "shapes": _compact(rows)})
    if args.figure:
        figure(args.figure, args.seed, args.gap, R.segment)
        print(f"figure: {args.figure}")
    ok = all(goal[s]["pass"] for s in RENDERS)
    print(f"goal (gaps up to 24 px or 6 w, >= 95 % closed, <= 5 % cut): {'PASS' if ok else 'FAIL'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
