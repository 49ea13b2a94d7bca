"""Regions at speed: ``segment`` at 1, 3 and 12 MP, a re-color from cached regions, and hints of random colors.

    python benchmarks/bench_segment.py [--repeats 3] [--out benchmarks/results/segment.json]
    PYTHONPATH=/path/to/other/checkout/src python benchmarks/bench_segment.py   # the same figures for other code

The sketch is the character fixture (``tests/fixtures/character/sketch.png``, 512 px, sketchified line art)
scaled to each size (Lanczos), so every version of the code sees the same pixels. Figures, each the median of
``--repeats`` runs after one warm-up:

* ``segment`` at 1, 3 and 12 MP (``inference.regions.segment``, the automatic gap);
* at 3 MP with the bundled model and one hint stroke, on the face (a closed region) and on the open paper
  beside the neck (a hint there is split against the model's paper): ``finish`` (regions, flats, lines at full
  size) the first time (regions found) and with a new hint (regions from the cache where the code has one); and
  the whole ``colorize`` of a new hint;
* hints of random colors (a 5 % noise of colors painted over the 1 MP sketch): one ``colorize``, in a child
  process given ``--noise-timeout`` seconds (code whose cost grows with the colors may not finish);
* memory: in a child process, the peak resident memory a 4096x4096 ``colorize`` adds with 200 strokes of
  random colors painted over it, in bytes per pixel, given ``--memory-timeout`` seconds (``--no-memory`` leaves
  it out).

Prints one line per figure and writes them to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, median_seconds, write_json  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "character" / "sketch.png"
SIZES_MP = (1, 3, 12)
FACE, PAPER = 0.5, 0.8  # heights of the hint strokes: on the character's face (a closed region), on the open paper


def sketch_at(megapixels: float) -> np.ndarray:
    from PIL import Image

    sk = Image.open(FIXTURE).convert("L")
    side = int(round((megapixels * 1e6) ** 0.5))
    return np.asarray(sk.resize((side, side), Image.Resampling.LANCZOS))


def stroke(shape: tuple[int, int], color: tuple[int, int, int], at: float) -> np.ndarray:
    """An RGBA hint image: one short horizontal stroke of ``color`` at the fraction ``at`` of the height."""
    H, W = shape
    h = np.zeros((H, W, 4), np.uint8)
    y, t = int(H * at), max(2, H // 200)
    h[y - t : y + t, W // 2 - 6 * t : W // 2 + 6 * t] = (*color, 255)
    return h


def _in_child(fn, timeout: float, *args):
    """``fn(*args)`` run in a fresh (spawned) child process; its result, or None when it took longer than
    ``timeout`` s. Spawned, not forked: a fork of a process whose torch has started its threads can hang."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        job = pool.apply_async(fn, args)
        try:
            return job.get(timeout)
        except mp.TimeoutError:
            pool.terminate()
            return None


def _noise_seconds(model: str) -> float:
    from PIL import Image

    from autopainter.inference import Colorizer

    c = Colorizer.from_pretrained(model)
    sk1 = sketch_at(1)
    rng = np.random.default_rng(0)
    noise = np.zeros((*sk1.shape, 4), np.uint8)
    m = rng.random(sk1.shape) < 0.05
    noise[m, :3] = rng.integers(0, 256, (int(m.sum()), 3))
    noise[m, 3] = 255
    c.colorize(sk1)
    t0 = time.perf_counter()
    c.colorize(sk1, Image.fromarray(noise))
    return time.perf_counter() - t0


def _memory_per_pixel(model: str, side: int = 4096) -> float:
    import resource

    from PIL import Image, ImageDraw

    from autopainter.inference import Colorizer

    sk = Image.open(FIXTURE).convert("L").resize((side, side), Image.Resampling.LANCZOS)
    hints = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw, rng = ImageDraw.Draw(hints), np.random.default_rng(0)
    for _ in range(200):
        x, y = (int(v) for v in rng.integers(0, side, 2))
        dx, dy = (int(v) for v in rng.integers(-side // 4, side // 4, 2))
        draw.line((x, y, x + dx, y + dy), fill=(*(int(v) for v in rng.integers(0, 256, 3)), 255), width=side // 40)
    c = Colorizer.from_pretrained(model)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    c.colorize(sk, hints)
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024 / (side * side)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--out", default=str(RESULTS / "segment.json"))
    ap.add_argument("--noise-timeout", type=float, default=120.0, metavar="S")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--memory-timeout", type=float, default=600.0, metavar="S")
    args = ap.parse_args(argv)
    import autopainter
    from PIL import Image

    from autopainter.inference import Colorizer
    from autopainter.inference.regions import segment

    figures: dict[str, float] = {}
    for mp in SIZES_MP:
        sk = sketch_at(mp)
        sec, _ = median_seconds(lambda: segment(sk), args.repeats)
        figures[f"segment_{mp}mp_ms"] = 1000 * sec
        print(f"segment {mp:>2} MP ({sk.shape[1]}x{sk.shape[0]}): {1000 * sec:7.1f} ms", flush=True)

    c = Colorizer.from_pretrained(args.model)
    sk = sketch_at(3)
    colors = [(40, 160, 60), (40, 60, 200), (220, 180, 40), (140, 40, 160), (30, 30, 30)]
    for where, at in (("face", FACE), ("paper", PAPER)):
        first = Image.fromarray(stroke(sk.shape, (200, 40, 40), at))
        prep = c.prepare(sk, first)
        gen = c.generate(prep.x)
        c.finish(prep, gen)  # warms the no-hint cache (local hints), and the region cache where there is one
        if where == "face":
            fresh = Colorizer.from_pretrained(args.model)
            fresh.plain_colors(prep)
            t0 = time.perf_counter()
            fresh.finish(prep, gen)
            figures["finish_3mp_first_ms"] = 1000 * (time.perf_counter() - t0)
        preps = [c.prepare(sk, Image.fromarray(stroke(sk.shape, col, at))) for col in colors]
        gens = [c.generate(p.x) for p in preps]
        times = []
        for p, g in zip(preps, gens):
            t0 = time.perf_counter()
            c.finish(p, g)
            times.append(time.perf_counter() - t0)
        figures[f"finish_3mp_{where}_hint_ms"] = 1000 * float(np.median(times))
        times = []
        for col in colors:
            hint = Image.fromarray(stroke(sk.shape, col, at))
            t0 = time.perf_counter()
            c.colorize(sk, hint)
            times.append(time.perf_counter() - t0)
        figures[f"colorize_3mp_{where}_hint_ms"] = 1000 * float(np.median(times))
        print(f"3 MP, a new hint on the {where}: finish {figures[f'finish_3mp_{where}_hint_ms']:7.1f} ms, whole colorize "
              f"{figures[f'colorize_3mp_{where}_hint_ms']:7.1f} ms", flush=True)
    print(f"3 MP finish with the regions found (no cache): {figures['finish_3mp_first_ms']:7.1f} ms", flush=True)

    noise = _in_child(_noise_seconds, args.noise_timeout, args.model)
    figures["noise_hints_1mp_s"] = float("nan") if noise is None else noise
    print("1 MP with 5 % of its pixels hinted in random colors: "
          + (f"over {args.noise_timeout:.0f} s (stopped)" if noise is None else f"{noise:.2f} s"), flush=True)
    if not args.no_memory:
        mem = _in_child(_memory_per_pixel, args.memory_timeout, args.model)
        figures["memory_4096_hinted_bytes_per_px"] = float("nan") if mem is None else mem
        print("4096x4096 with 200 hint strokes: " + (f"over {args.memory_timeout:.0f} s (stopped)" if mem is None
                                                       else f"{mem:.0f} bytes a pixel at the peak"), flush=True)
    write_json(args.out, {"benchmark": "segment", "code": str(Path(autopainter.__file__).parent), "repeats": args.repeats,
                          "figures": {k: (round(v, 3) if v == v else None) for k, v in figures.items()}})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
