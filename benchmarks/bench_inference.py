"""Coloring speed end to end (decode, model, encode) against a reference pix2pix generator, in one run.

    python benchmarks/bench_inference.py            # the full set (several minutes on 2 cores)
    python benchmarks/bench_inference.py --quick    # fewer repeats
    python benchmarks/bench_inference.py --compile  # also torch.compile of the default model (slow to build)

Every figure is the median of repeats that take turns (variant A, B, C, A, B, C ...), so a noisy machine
slows all variants alike; the ratios compare like with like. Inputs are generated line-art PNG files
(seeded strokes with anti-aliased edges) at 512x512 and 2048x1536; each run reads the file, colors it
and writes a PNG (zlib level 1, the CLI's setting) to disk.

- ``default``: ``Colorizer`` as ``autopainter colorize`` runs it (backend auto, precision auto): the
  default model (the bundled one when the package has it, else the ``default`` preset with random
  weights: the same cost) at its working resolution (256 long side), brought back to the input's size
  with the sketch's own lines, the generator on ``default_threads()`` threads (1 on 2 cores).
  ``default-2threads``, ``default-fp32``, ``default-onnx`` and ``default-onnx-2threads`` are the
  other thread counts, precision and backend. ``default-resize`` (model-only times) is the same generator
  with the ``default`` preset's resize up-sampling, random weights; ``default-lite0`` adds
  ``model.sketch_features=efficientnet-lite0``. The default style is ``flat`` (one color per region, see
  ``inference.regions``); ``default-soft`` is the ``soft`` style, the composition before flats;
  ``default-hints`` the default with a hints file (5 strokes). Before every timed colorize the colorizer's
  caches are emptied (``Colorizer.forget``, untimed): each run costs what a new sketch costs (no region cache, no
  kept no-hint colors), as a folder of different files does.
- ``pix2pix-torch`` / ``pix2pix-onnx``: pix2pix's unet_256 generator (``pix2pix`` preset with
  ``in_channels=3``, 54,414,019 parameters, random weights, eval mode), run at the input's full
  resolution as pix2pix does, in eager fp32 PyTorch and in ONNX Runtime (every core; idle threads
  sleep between runs, as in our backend, so that no variant's spinning threads slow the next one);
  the same decode and encode.

Also: model-only times at the working resolution, ONNX-vs-PyTorch parity, peak memory of one
2048x1536 ``colorize`` (a fresh subprocess; VmHWM), and folder throughput (images/s) with 1 and 2
worker threads. The figure printed last is pix2pix-onnx / default at 512x512.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, write_json  # noqa: E402

SIZES = [(512, 512), (2048, 1536)]  # (W, H)
PAUSE_S = 0.05  # untimed pause before each run: the previous run's idle threads stop spinning first


# ----------------------------------------------------------------------------- inputs and models
def hint_strokes(w: int, h: int, seed: int = 1) -> Image.Image:
    """An RGBA hints file: 5 seeded short strokes of 5 colors, transparent elsewhere."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    for _ in range(5):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        color = tuple(int(v) for v in rng.integers(0, 256, 3)) + (255,)
        d.line([(x, y), (x + w // 20, y + h // 30)], fill=color, width=max(3, w // 100))
    return img


def line_art(w: int, h: int, seed: int = 0) -> Image.Image:
    """A sketch-like gray image: ~40 seeded ellipses, boxes and curves, anti-aliased (drawn at 2x)."""
    rng = np.random.default_rng(seed)
    img = Image.new("L", (2 * w, 2 * h), 255)
    d = ImageDraw.Draw(img)
    lw = 2 * max(2, w // 300)
    for _ in range(40):
        x0, y0 = int(rng.integers(0, 2 * w)), int(rng.integers(0, 2 * h))
        bw, bh = (int(v) for v in rng.integers(2 * w // 20, 2 * w // 4, 2))
        kind = rng.integers(3)
        if kind == 0:
            d.ellipse((x0, y0, x0 + bw, y0 + bh), outline=0, width=lw)
        elif kind == 1:
            d.rectangle((x0, y0, x0 + bw, y0 + bh), outline=0, width=lw)
        else:
            pts = [(int(a), int(b)) for a, b in rng.integers(0, [2 * w, 2 * h], (4, 2))]
            d.line(pts, fill=0, width=lw, joint="curve")
    return img.resize((w, h), Image.Resampling.LANCZOS)


def default_model():
    """(generator, ModelInfo or config dict, where from): the bundled model, else the default preset, random weights."""
    from autopainter.config import Config
    from autopainter.inference import bundled_model_dir
    from autopainter.models.io import load_generator
    from autopainter.models.unet import build_generator

    d = bundled_model_dir()
    if (d / "config.json").is_file():
        gen, meta = load_generator(d)
        return gen, meta, "bundled model", d
    torch.manual_seed(0)
    cfg = Config.load("default")
    return build_generator(cfg.model).eval(), {"image_size": cfg.data.image_size}, "default preset, random weights", None


def pix2pix_model():
    from autopainter.config import Config
    from autopainter.models.unet import build_generator, count_parameters

    torch.manual_seed(0)
    cfg = Config.load("pix2pix", ["model.in_channels=3"])
    gen = build_generator(cfg.model).eval()
    assert count_parameters(gen) == 54_414_019, count_parameters(gen)
    return gen


# ----------------------------------------------------------------------------- end-to-end runs
def colorizer_run(colorizer, src: Path, dest: Path, hints: Path | None = None):
    """A colorize as the CLI runs it, of a sketch the colorizer has never seen: its caches (regions, the no-hint
    colors) are emptied first, untimed, so repeats of one file cost what a new file costs."""
    from autopainter.inference import FileJob, colorize_files

    def run():
        failed = colorize_files(colorizer, [FileJob(src, dest, hints)], workers=1)
        assert not failed, failed

    return run


def pix2pix_run(model, src: Path, dest: Path):
    """pix2pix end to end: read, gray sketch as RGB at full resolution, generator, write."""
    from autopainter.imageio import flatten_on_white, from_unit, open_image, to_unit
    from autopainter.inference import save_output

    def run():
        sk = np.asarray(flatten_on_white(open_image(src)).convert("L"))  # (H, W)
        x = np.ascontiguousarray(np.broadcast_to(to_unit(sk)[None, None], (1, 3) + sk.shape))  # (1, 3, H, W)
        y = model(x)[0]  # (3, H, W) in [-1, 1]
        save_output(Image.fromarray(from_unit(y.transpose(1, 2, 0))), dest)

    return run


def torch_callable(gen):
    @torch.no_grad()
    def f(x: np.ndarray) -> np.ndarray:
        return gen(torch.from_numpy(x)).numpy()

    return f


def forget_caches(colorizer) -> None:
    """``Colorizer.forget``, or its equivalent for a colorizer of an older commit (a before/after worktree)."""
    if hasattr(colorizer, "forget"):
        colorizer.forget()
        return
    colorizer.region_cache = type(colorizer.region_cache)(colorizer.region_cache.max_bytes)
    for name in ("_plain", "_heads"):
        if hasattr(colorizer, name):
            getattr(colorizer, name).clear()


def interleaved_medians(runs: dict, repeats: dict, warmup: int = 1, before: dict | None = None) -> dict:
    """Median seconds per variant; repeats take turns across variants. ``before``: an untimed call per variant
    before each timed run (emptying caches)."""
    times = {k: [] for k in runs}
    before = before or {}
    for k, fn in runs.items():
        for _ in range(warmup):
            fn()
    for r in range(max(repeats.values())):
        for k, fn in runs.items():
            if r < repeats[k]:
                if k in before:
                    before[k]()
                time.sleep(PAUSE_S)
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
    return {k: {"median_s": statistics.median(v), "times_s": v} for k, v in times.items()}


# ----------------------------------------------------------------------------- peak memory (subprocess)
def memory_gb(field: str = "VmHWM") -> float:
    """This process's peak (VmHWM) or current (VmRSS) resident memory. ru_maxrss is no use in a child:
    Linux carries it over from the parent through fork and exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 2**20  # kB -> GB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def peak_child(src: str, dest: str, backend: str, layers: bool) -> None:
    from autopainter.inference import Colorizer, FileJob, colorize_files, layer_paths

    gen, meta, _, model_dir = default_model()
    c = Colorizer.from_pretrained(model_dir, backend=backend) if model_dir is not None else Colorizer(gen, meta)
    layer_dests = layer_paths(Path(dest)) if layers else {}
    before = memory_gb("VmRSS")
    t0 = time.perf_counter()
    failed = colorize_files(c, [FileJob(Path(src), Path(dest), None, layer_dests)], workers=1)
    dt = time.perf_counter() - t0
    assert not failed
    with Image.open(dest) as im:
        size = im.size
    print(json.dumps({"peak_rss_gb": memory_gb("VmHWM"), "rss_before_colorize_gb": before, "seconds": dt, "size": size}))


def measure_peak(src: Path, dest: Path, backend: str, layers: bool) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--peak-child", str(src), str(dest), backend, str(int(layers))],
                          capture_output=True, text=True, env=os.environ.copy())
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile of the default model")
    ap.add_argument("--peak-child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peak_child:
        src, dest, backend, layers = args.peak_child
        peak_child(src, dest, backend, layers == "1")
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-inference-"))
    try:
        run_all(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_all(args: argparse.Namespace, tmp: Path) -> None:
    from autopainter.inference import Colorizer
    from autopainter.inference.onnx import OnnxRunner, export_onnx

    os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")  # the default model's ONNX export goes here, not ~/.cache
    load_before = os.getloadavg()  # other processes on the machine: the noise these figures carry
    gen, meta, source, model_dir = default_model()
    lib = {}  # the bundled model's palettes, as Colorizer.from_pretrained (and so the CLI and the server) load them
    if model_dir is not None and (Path(model_dir) / "palettes.json").is_file():
        from autopainter.inference.palettes import PaletteLibrary

        lib["palettes"] = PaletteLibrary.load(Path(model_dir) / "palettes.json")
    cols = {
        "default": Colorizer(gen, meta, model_dir=model_dir, **lib),
        "default-soft": Colorizer(gen, meta, model_dir=model_dir, style="soft", **lib),
        "default-2threads": Colorizer(gen, meta, threads=2, **lib),
        "default-fp32": Colorizer(gen, meta, precision="fp32", **lib),
        "default-onnx": Colorizer(gen, meta, backend="onnx", model_dir=model_dir, **lib),
        "default-onnx-2threads": Colorizer(gen, meta, backend="onnx", model_dir=model_dir, threads=2, **lib),
    }
    from autopainter.models.unet import build_generator

    # the same generator with the default preset's resize up-sampling instead of transposed convolutions
    resize_col = Colorizer(build_generator(dataclasses.replace(gen.cfg, upsample="resize")), meta)
    # ... and with the frozen EfficientNet-Lite0 sketch features in the decoder (model.sketch_features)
    lite0_col = Colorizer(build_generator(dataclasses.replace(gen.cfg, upsample="resize", sketch_features="efficientnet-lite0")), meta)
    p2p = pix2pix_model()
    p2p_onnx = OnnxRunner(export_onnx(p2p, tmp / "pix2pix.onnx"), p2p.multiple)
    print(f"default model: {source}; default path: backend {cols['default'].backend}, precision {cols['default'].precision}, "
          f"{cols['default'].threads} thread(s) per run; cores (torch threads) {torch.get_num_threads()}", flush=True)

    # ---- parity (ONNX Runtime vs PyTorch fp32, on the generator's [-1, 1] output)
    parity = {}
    for name, g, runner, shape in [("default", gen, cols["default-onnx"].runner, (1, 5, 192, 256)),
                                   ("default-256", gen, cols["default-onnx"].runner, (1, 5, 256, 256)),
                                   ("pix2pix-512", p2p, p2p_onnx, (1, 3, 512, 512)),
                                   ("pix2pix-2048x1536", p2p, p2p_onnx, (1, 3, 1536, 2048))]:
        x = (torch.rand(*shape, generator=torch.Generator().manual_seed(0)) * 2 - 1).numpy()
        parity[name] = float(np.abs(runner(x) - torch_callable(g)(x)).max())
    print("parity max|onnx - torch|:", {k: f"{v:.2e}" for k, v in parity.items()}, flush=True)

    # ---- model only, at the working resolution of a 2048x1536 sketch (256x192) and of 512x512 (256x256)
    model_only = {}
    for hw in [(256, 256), (192, 256)]:
        x = (torch.rand(1, 5, *hw) * 2 - 1).numpy()
        runs = {k: (lambda c=c: c.generate(x)) for k, c in cols.items()}
        runs["default-resize"] = lambda: resize_col.generate(x)  # the default preset's decoder (random weights)
        runs["default-lite0"] = lambda: lite0_col.generate(x)  # + Lite0 sketch features (ImageNet weights)
        if args.compile:
            import copy

            fast = copy.deepcopy(gen).to(torch.bfloat16, memory_format=torch.channels_last)
            comp = torch.compile(fast)
            xb = torch.from_numpy(x).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
            t0 = time.perf_counter()
            with torch.no_grad():
                comp(xb)
            model_only[f"compile-time-{hw[0]}x{hw[1]}_s"] = time.perf_counter() - t0

            def run_compiled(xb=xb, comp=comp):
                with torch.no_grad():
                    return comp(xb)

            runs["default-bf16-compiled"] = run_compiled
        res = interleaved_medians(runs, {k: 8 if args.quick else 20 for k in runs}, warmup=2)
        model_only[f"{hw[0]}x{hw[1]}"] = {k: v["median_s"] for k, v in res.items()}
        print(f"model only {hw[0]}x{hw[1]}: " + ", ".join(f"{k} {v['median_s'] * 1000:.1f} ms" for k, v in res.items()), flush=True)

    # ---- end to end
    e2e = {}
    for w, h in SIZES:
        src = tmp / f"sketch-{w}x{h}.png"
        line_art(w, h).save(src)
        hints = tmp / f"hints-{w}x{h}.png"
        hint_strokes(w, h).save(hints)
        runs = {k: colorizer_run(c, src, tmp / f"out-{k}.png") for k, c in cols.items()}
        runs["default-hints"] = colorizer_run(cols["default"], src, tmp / "out-default-hints.png", hints)
        runs["pix2pix-torch"] = pix2pix_run(torch_callable(p2p), src, tmp / "out-p2p-torch.png")
        runs["pix2pix-onnx"] = pix2pix_run(p2p_onnx, src, tmp / "out-p2p-onnx.png")
        big = w * h > 1_000_000
        reps = {k: (3 if big else 5) if k.startswith("pix2pix") else (5 if args.quick else 15) for k in runs}
        if args.quick:
            reps = {k: min(v, 3) for k, v in reps.items()}
        forget = {k: (lambda c=c: forget_caches(c)) for k, c in cols.items()}  # every timed run: a new sketch
        forget["default-hints"] = lambda: forget_caches(cols["default"])
        res = interleaved_medians(runs, reps, before=forget)
        with Image.open(tmp / "out-default.png") as im:
            assert im.size == (w, h)
        key = f"{w}x{h}"
        base = res["default"]["median_s"]
        e2e[key] = {k: {**v, "vs_default": v["median_s"] / base} for k, v in res.items()}
        print(f"end to end {key}: " + ", ".join(f"{k} {v['median_s'] * 1000:.0f} ms" for k, v in res.items()), flush=True)

    # ---- peak memory of one 2048x1536 colorize, each in a fresh process
    src = tmp / "sketch-2048x1536.png"
    peak = {
        "default": measure_peak(src, tmp / "peak.png", "auto", False),
        "default-layers": measure_peak(src, tmp / "peak-l.png", "auto", True),
        "default-onnx": measure_peak(src, tmp / "peak-o.png", "onnx", False),
    }
    print("peak RSS 2048x1536: " + ", ".join(f"{k} {v['peak_rss_gb']:.2f} GB" for k, v in peak.items()), flush=True)

    # ---- folder throughput
    from autopainter.inference import FileJob, colorize_files

    batch = {}
    for (w, h), n in [((2048, 1536), 8), ((512, 512), 24)]:
        folder = tmp / f"folder-{w}x{h}"
        folder.mkdir()
        for i in range(n):
            line_art(w, h, seed=i + 1).save(folder / f"{i:03d}.png")
        jobs = [FileJob(p, tmp / f"folder-out-{w}" / p.name) for p in sorted(folder.iterdir())]
        res = {}
        for workers in (1, 2, 1, 2):  # twice each, alternating
            t0 = time.perf_counter()
            assert not colorize_files(cols["default"], jobs, workers=workers)
            res.setdefault(workers, []).append(n / (time.perf_counter() - t0))
        batch[f"{w}x{h}"] = {f"workers={k}": {"img_per_s": statistics.median(v), "runs": v} for k, v in res.items()}
        print(f"folder of {n} {w}x{h}: " + ", ".join(f"{k} {v['img_per_s']:.2f} img/s" for k, v in batch[f'{w}x{h}'].items()), flush=True)

    # ---- table
    print()
    print(f"{'end to end (median)':24s}" + "".join(f"{k:>22s}" for k in e2e))
    for k in e2e[next(iter(e2e))]:
        print(f"{k:24s}" + "".join(f"{e2e[s][k]['median_s'] * 1000:12.0f} ms {e2e[s][k]['vs_default']:6.1f}x" for s in e2e))
    ratios = {s: {"pix2pix-onnx/default": e2e[s]["pix2pix-onnx"]["median_s"] / e2e[s]["default"]["median_s"],
                  "pix2pix-torch/default": e2e[s]["pix2pix-torch"]["median_s"] / e2e[s]["default"]["median_s"]}
              for s in e2e}
    path = write_json(RESULTS / "inference.json", {
        "benchmark": "inference",
        "default_model": source,
        "default_path": {"backend": cols["default"].backend, "precision": cols["default"].precision,
                         "working_size": cols["default"].size},
        "parity_max_abs": parity,
        "model_only_s": model_only,
        "end_to_end": e2e,
        "ratios": ratios,
        "peak_memory": peak,
        "folder_throughput": batch,
        "load_average_1_5_15min": {"before": load_before, "after": os.getloadavg()},
    })
    print(f"wrote {path}")
    print(f"peak RSS, one 2048x1536 colorize: {peak['default']['peak_rss_gb']:.2f} GB; folder 2048x1536 with 2 workers: "
          f"{batch['2048x1536']['workers=2']['img_per_s']:.2f} img/s")
    print(f"2048x1536: pix2pix-onnx / default = {ratios['2048x1536']['pix2pix-onnx/default']:.1f}x")
    print(f"512x512: pix2pix-onnx / default = {ratios['512x512']['pix2pix-onnx/default']:.1f}x")


if __name__ == "__main__":
    main()
