"""Where the time goes: a per-op profile of one ``default`` training step and of one flat colorize.

    python benchmarks/bench_profile.py                 # both
    python benchmarks/bench_profile.py --what train    # the training step only
    python benchmarks/bench_profile.py --what colorize # the colorize only (512x512 and 2048x1536)

* **train**: the ``default`` preset at 256 px, batch 4, bf16 autocast, channels_last, as ``autopainter train``
  runs it (``training.step.train_step``: the D step, then the G step), after ``--warmup`` steps; torch.profiler
  (CPU) over ``--steps`` steps, ops by self CPU time.
* **colorize**: ``Colorizer.colorize`` of a generated line-art sketch (``bench_inference.line_art``) in the flat
  style with the bundled model, every cache empty (regions, the model's no-hint colors); cProfile over the whole
  call, functions by own time (``tottime``) and by time including callees (``cumtime``), so the numpy/OpenCV
  stages (regions, region colors, composition) are named, not only the generator's ops.

* **medians**: ``flats.region_colors`` by per-region histograms against the sort it used before (the same medians).

Prints the tables and writes JSON (--out, benchmarks/results/profile.json).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, write_json  # noqa: E402

TOP = 20


def profile_train(steps: int, warmup: int) -> dict:
    from torch.profiler import ProfilerActivity, profile

    from autopainter.config import Config
    from autopainter.training.runtime import prepare_models
    from autopainter.training.state import build_models
    from autopainter.training.step import train_step
    from bench_train import make_batches

    torch.manual_seed(0)
    cfg = Config.load("default")
    device = torch.device("cpu")
    models = prepare_models(build_models(cfg, device), cfg, device)
    batches = make_batches(cfg.data.image_size, cfg.train.batch_size, warmup + steps, in_channels=cfg.model.in_channels)
    for b in batches[:warmup]:
        train_step(models, cfg, b)
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for b in batches[warmup:]:
            train_step(models, cfg, b)
    wall = (time.perf_counter() - t0) / steps
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) / steps
    rows = sorted(events, key=lambda e: -e.self_cpu_time_total)[:TOP]
    table = [{"op": e.key, "self_ms": e.self_cpu_time_total / 1e3 / steps, "share": e.self_cpu_time_total / steps / total,
              "calls": e.count // steps} for e in rows]
    print(f"\n== one default training step (256 px, batch {cfg.train.batch_size}, {cfg.train.mixed_precision}): "
          f"{wall:.3f} s wall (profiled), {cfg.train.batch_size / wall:.2f} img/s")
    print(f"{'op':48s} {'self ms':>9s} {'share':>7s} {'calls':>6s}")
    for r in table:
        print(f"{r['op'][:48]:48s} {r['self_ms']:9.1f} {r['share']:7.1%} {r['calls']:6d}")
    return {"seconds_per_step": wall, "img_per_s": cfg.train.batch_size / wall, "ops": table,
            "settings": {"batch_size": cfg.train.batch_size, "mixed_precision": cfg.train.mixed_precision,
                         "channels_last": cfg.train.channels_last, "compile": cfg.train.compile}}


def profile_colorize(size: tuple[int, int]) -> dict:
    from autopainter.inference import Colorizer
    from bench_inference import line_art

    sketch = np.asarray(line_art(*size))
    colorizer = Colorizer.from_pretrained(region_cache_bytes=0)
    colorizer.colorize(line_art(256, 256, seed=1))  # warm: the runner's first call
    colorizer._plain.clear()
    colorizer._heads.clear()
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    colorizer.colorize(sketch)
    prof.disable()
    wall = time.perf_counter() - t0
    stats = pstats.Stats(prof)
    entries = []
    for (file, line, func), (cc, nc, tt, ct, _) in stats.stats.items():
        where = f"{Path(file).name}:{func}" if file != "~" else func
        entries.append({"function": where, "tottime_ms": tt * 1e3, "cumtime_ms": ct * 1e3, "calls": nc})
    own = sorted(entries, key=lambda e: -e["tottime_ms"])[:TOP]
    ours = sorted([e for e in entries if "autopainter" in e["function"] or e["function"].split(":")[0].endswith(".py")
                   and any(k in e["function"] for k in ("regions.py", "flats.py", "compose.py", "colorizer.py",
                                                        "palettes.py", "runners.py"))],
                  key=lambda e: -e["cumtime_ms"])[:TOP]
    w, h = size
    print(f"\n== one flat colorize, {w}x{h} (bundled model, no caches): {wall * 1e3:.0f} ms wall (profiled)")
    print(f"{'function (own time)':56s} {'own ms':>8s} {'calls':>7s}")
    for e in own:
        print(f"{e['function'][:56]:56s} {e['tottime_ms']:8.1f} {e['calls']:7d}")
    print(f"{'our stages (time with callees)':56s} {'cum ms':>8s} {'calls':>7s}")
    for e in ours:
        print(f"{e['function'][:56]:56s} {e['cumtime_ms']:8.1f} {e['calls']:7d}")
    return {"size": [w, h], "seconds": wall, "own": own, "stages": ours}


def time_medians(repeats: int = 7) -> dict:
    """``flats.region_colors`` (per-region CIELAB medians) by its per-region histograms and by the sort it used
    before (``HISTOGRAM_BINS = 0``), on the regions of a generated sketch and random colors: the same medians."""
    import autopainter.inference.flats as flats
    from autopainter.inference.regions import segment
    from bench_inference import line_art

    out = {}
    rng = np.random.default_rng(0)
    for w, h in ((512, 512), (2048, 1536)):
        regions = segment(np.asarray(line_art(w, h)))
        colors = (rng.random((h, w, 3)) * 255).astype(np.uint8)
        row, results = {}, []
        for name, bins in (("histogram", flats.HISTOGRAM_BINS), ("sort", 0)):
            old, flats.HISTOGRAM_BINS = flats.HISTOGRAM_BINS, bins
            try:
                times = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    results.append(flats.region_colors(regions, colors))
                    times.append(time.perf_counter() - t0)
            finally:
                flats.HISTOGRAM_BINS = old
            row[name] = sorted(times)[repeats // 2]
        assert np.array_equal(results[0], results[-1]), "histogram and sort medians differ"
        out[f"{w}x{h}"] = row
        print(f"region medians {w}x{h} ({regions.count} regions): histogram {row['histogram'] * 1e3:.1f} ms, "
              f"sort {row['sort'] * 1e3:.1f} ms (the same medians)")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--what", choices=("train", "colorize", "medians", "both"), default="both")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--out", default=str(RESULTS / "profile.json"))
    args = ap.parse_args(argv)
    out: dict = {}
    if args.what in ("train", "both"):
        out["train"] = profile_train(args.steps, args.warmup)
    if args.what in ("colorize", "both"):
        out["colorize"] = [profile_colorize(s) for s in ((512, 512), (2048, 1536))]
    if args.what in ("medians", "both"):
        out["medians"] = time_medians()
    print(f"wrote {write_json(args.out, {'benchmark': 'profile', **out})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
