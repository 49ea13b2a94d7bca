"""Reference coloring on same-character pairs: segment accuracy and PSNR against the new drawing's true colors.

    python benchmarks/bench_reference.py [--pairs DIR] [--model DIR] [--limit N] [--lines exact,sketchify]

The pairs come from ``benchmarks/reference_pairs.py`` (default ``~/.cache/autopainter/reference-pairs/test``,
built with ``--seed 2``; the method's constants were chosen on the ``--seed 1`` pairs, never on these):

* ``expression``: DiceBear and Big Heads characters drawn again with another expression or accessories;
* ``pose``: Comicgen characters in another pose and emotion;
* ``next-frame``: the character drawn again with another expression, then moved, scaled and rotated;
* ``different``: a reference of another character (the check that a wrong reference does no harm).

Each pair is colored three ways, all in the flat style at 0 hints: ``reference`` (``colorize(sketch,
reference=...)``), ``model`` (the model alone, no reference) and ``oracle`` (each of the sketch's regions in its
true median color: what a perfect match of our regions would give). Line art: ``exact`` (the drawing's own line
art, for the sketch and the reference) and ``sketchify`` (both extracted with XDoG from the colored pictures,
and no --reference-lines: what a user with only colored art has).

**Segment accuracy** (``color_metrics.segment_accuracy``, as BasicPBC reports it): the share of the new
drawing's segments (4-connected paper between its exact lines) whose median color in the result (with its
lines, as the user sees it) is within ΔE 5 of the truth, over all segments and over those larger than 10 px.
PSNR is of the result against the true picture. Timing: one 1 MP sketch (1024 x 1024, a next-frame pair scaled up) with its reference (also 1024 px)
colored end to end, with every cache cleared (the reference read, the sketch segmented and run through the model
every time).

Prints a table (kind x line art: each method's accuracy, accuracy over 10 px, PSNR), writes JSON to --out
(benchmarks/results/reference.json), a figure (--figure, docs/img/reference-pairs.png): the first pair of each
kind, in columns reference | new sketch | result | truth, and the README's strip (--strip,
docs/img/reference-strip.png): the first next-frame pair.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, write_json  # noqa: E402
from reference_pairs import load_pairs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
KINDS = ("expression", "pose", "next-frame", "different")
GOALS = {"next-frame": 0.90, "pose": 0.75}  # segment accuracy goals (issue 33)
CELL = 192
HEADER = 22


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def color_pair(colorizer, pair: dict, lines: str) -> dict[str, dict]:
    """Each method's color layer and image for one pair -> {method: {"acc", "acc10", "psnr"}} and the images."""
    from autopainter.color_metrics import segment_accuracy
    from autopainter.data.sketch import extract_sketch
    from autopainter.inference.compose import multiply_lines
    from autopainter.inference.reference import paper_colors

    truth, exact = pair["new"], pair["new_lines"]
    sketch = exact if lines == "exact" else extract_sketch(truth)
    ref_lines = pair["ref_lines"] if lines == "exact" else None
    out: dict[str, dict] = {}
    res = colorizer.colorize(sketch, reference=pair["ref"], reference_lines=ref_lines)
    plain = colorizer.colorize(sketch)
    regions = colorizer.regions(sketch)
    oracle = paper_colors(regions, truth)[regions.labels]
    layers = {"reference": (np.asarray(res.color), np.asarray(res.image)),
              "model": (np.asarray(plain.color), np.asarray(plain.image)),
              "oracle": (oracle, multiply_lines(oracle, sketch))}
    for name, (color, image) in layers.items():  # judged on what the user sees: the result with its lines
        out[name] = {"acc": segment_accuracy(image, truth, exact), "acc10": segment_accuracy(image, truth, exact, 10),
                     "psnr": psnr(image, truth)}
    out["_images"] = {"sketch": sketch, "result": np.asarray(res.image)}
    out["_fit"] = res.reference.alignment.fit
    return out


def time_1mp(colorizer, pair: dict, repeats: int = 3) -> float:
    """Median seconds to color a 1024 x 1024 sketch with a 1024 px reference, the reference read every time."""
    sketch = np.asarray(Image.fromarray(pair["new_lines"]).resize((1024, 1024), Image.Resampling.LANCZOS))
    ref = np.asarray(Image.fromarray(pair["ref"]).resize((1024, 1024), Image.Resampling.LANCZOS))
    times = []
    for i in range(repeats + 1):
        colorizer.forget()  # a new sketch and a new reference every time: nothing known before
        t0 = time.perf_counter()
        colorizer.colorize(sketch, reference=ref)
        if i:  # the first run warms up
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def figure(rows: list[tuple[str, dict, dict]], path: Path) -> None:
    cols = ("reference", "new sketch", "result", "truth")
    img = Image.new("RGB", (CELL * len(cols), (CELL + HEADER) * len(rows)), "white")
    d = ImageDraw.Draw(img)
    for i, (kind, pair, out) in enumerate(rows):
        y = i * (CELL + HEADER)
        cells = (pair["ref"], out["_images"]["sketch"], out["_images"]["result"], pair["new"])
        for j, (name, a) in enumerate(zip(cols, cells)):
            im = Image.fromarray(a).convert("RGB")
            im.thumbnail((CELL, CELL), Image.Resampling.LANCZOS)
            img.paste(im, (j * CELL + (CELL - im.width) // 2, y + HEADER + (CELL - im.height) // 2))
            label = f"{kind}: {name}" if j == 0 else name
            if j == 2:
                label += f" ({out['reference']['acc']:.0%} of segments)"
            d.text((j * CELL + 4, y + 4), label, fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, optimize=True)


def strip(pair: dict, out: dict, path: Path) -> None:
    """The README's picture: reference | new sketch | result, one pair (the first next-frame pair: fixed by the
    set's order, not chosen by looking at results)."""
    cells = [(pair["ref"], "reference (colored)"), (out["_images"]["sketch"], "new sketch (moved, turned)"),
             (out["_images"]["result"], "result")]
    img = Image.new("RGB", (CELL * 3, CELL + HEADER), "white")
    d = ImageDraw.Draw(img)
    for j, (a, label) in enumerate(cells):
        im = Image.fromarray(a).convert("RGB")
        im.thumbnail((CELL, CELL), Image.Resampling.LANCZOS)
        img.paste(im, (j * CELL + (CELL - im.width) // 2, HEADER + (CELL - im.height) // 2))
        d.text((j * CELL + 4, 4), label, fill="black")
    img.save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", default=str(Path.home() / ".cache/autopainter/reference-pairs/test"))
    ap.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    ap.add_argument("--limit", type=int, default=0, help="pairs per kind (0: all)")
    ap.add_argument("--lines", default="exact,sketchify")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--out", default=str(RESULTS / "reference.json"))
    ap.add_argument("--figure", default=str(REPO / "docs/img/reference-pairs.png"))
    ap.add_argument("--strip", default=str(REPO / "docs/img/reference-strip.png"))
    ap.add_argument("--no-timing", action="store_true")
    args = ap.parse_args(argv)
    from autopainter.inference import Colorizer

    colorizer = Colorizer.from_pretrained(args.model)
    kinds = [k for k in args.kinds.split(",") if k]
    modes = [m for m in args.lines.split(",") if m]
    table: dict[str, dict] = {}
    fig_rows = []
    for kind in kinds:
        pairs = load_pairs(args.pairs, kinds=[kind], limit=args.limit or None)
        for mode in modes:
            scores: dict[str, dict[str, list]] = {}
            fits = []
            t0 = time.perf_counter()
            for i, pair in enumerate(pairs):
                out = color_pair(colorizer, pair, mode)
                fits.append(out["_fit"])
                for method in ("reference", "model", "oracle"):
                    for k, v in out[method].items():
                        if v is not None:
                            scores.setdefault(method, {}).setdefault(k, []).append(v)
                if mode == modes[0] and i == 0:
                    fig_rows.append((kind, pair, out))
            row = {m: {k: float(np.mean(v)) for k, v in s.items()} for m, s in scores.items()}
            row["pairs"] = len(pairs)
            row["fit"] = float(np.mean(fits)) if fits else None
            row["seconds"] = time.perf_counter() - t0
            table[f"{kind}/{mode}"] = row
            print(f"{kind:11s} {mode:9s} n={len(pairs):3d}  " + "  ".join(
                f"{m}: acc {row[m]['acc']:.3f} acc>10px {row[m]['acc10']:.3f} PSNR {row[m]['psnr']:.2f}"
                for m in ("reference", "model", "oracle") if m in row), flush=True)
    if fig_rows:
        figure(fig_rows, Path(args.figure))
        frames = [r for r in fig_rows if r[0] == "next-frame"]
        if frames:
            strip(frames[0][1], frames[0][2], Path(args.strip))
    payload = {"pairs": args.pairs, "model": args.model or "bundled", "table": table}
    if not args.no_timing:
        frames = load_pairs(args.pairs, kinds=["next-frame"], limit=1)
        if frames:
            payload["seconds_1mp"] = time_1mp(colorizer, frames[0])
            print(f"1 MP sketch with a 1 MP reference, end to end: {payload['seconds_1mp']:.2f} s (goal <= 2 s)")
    print(f"wrote {write_json(args.out, payload)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
