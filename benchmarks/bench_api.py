"""Requests per second of ``POST /api/v1/colorize`` at 512x512 with 4 concurrent clients, on this machine.

    python benchmarks/bench_api.py [--clients 4] [--seconds 30] [--max-in-flight 4] [--model DIR]
                                   [--out benchmarks/results/api.json]

A real server: ``autopainter serve`` in a subprocess (uvicorn, the app as users run it), with the
bundled model when the install has one, else the ``default`` preset's architecture with random weights
(the cost of a request does not depend on the weights). Each client is a thread with its own HTTP
connection posting the same generated 512x512 sketch (PNG, no hints) back to back for ``--seconds``
after a warm-up; the figure is completed requests / wall time. ``--max-in-flight`` is the server's
bound; set it to at least ``--clients`` so no request is turned away (503s are counted apart).

Same-run references (these machines are noisy): the library call ``Colorizer(sketch)`` in this process,
one at a time in a worker thread (as the server calls it), and the API with a single client; the ratios
are what to compare across machines.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, median_seconds, start_server, write_json  # noqa: E402

import httpx  # noqa: E402
import numpy as np  # noqa: E402

from autopainter.inference import Colorizer, bundled_model_dir  # noqa: E402

SIZE = 512


def make_sketch() -> bytes:
    from autopainter.data.synthetic import draw_synthetic_pair

    _, sketch = draw_synthetic_pair(np.random.default_rng(0), SIZE)  # (512, 512) L line art
    buf = io.BytesIO()
    sketch.save(buf, format="PNG")
    return buf.getvalue()


def model_dir(arg: str | None, tmp: Path) -> tuple[Path, str]:
    if arg:
        return Path(arg), arg
    if (bundled_model_dir() / "config.json").is_file():
        return bundled_model_dir(), "bundled"
    import torch

    from autopainter.config import Config
    from autopainter.models.io import save_pretrained
    from autopainter.models.unet import build_generator

    cfg = Config.load("default")
    torch.manual_seed(0)
    out = save_pretrained(build_generator(cfg.model), tmp / "model", image_size=cfg.data.image_size)
    return out, "default preset, random weights"


def load(base: str, sketch: bytes, clients: int, seconds: float, warmup: int = 2) -> dict:
    """``clients`` threads posting back to back for ``seconds``: counts, requests/s and latencies."""
    lat: list[float] = []
    counts = {"ok": 0, "busy": 0, "other": 0}
    lock = threading.Lock()
    ready, go = threading.Barrier(clients + 1), threading.Event()
    stop_at = [0.0]

    def client():
        with httpx.Client(base_url=base, timeout=120) as c:
            for _ in range(warmup):
                c.post("/api/v1/colorize", files={"sketch": ("s.png", sketch, "image/png")})
            ready.wait()
            go.wait()
            while time.perf_counter() < stop_at[0]:
                t0 = time.perf_counter()
                r = c.post("/api/v1/colorize", files={"sketch": ("s.png", sketch, "image/png")})
                dt = time.perf_counter() - t0
                with lock:
                    if r.status_code == 200:
                        counts["ok"] += 1
                        lat.append(dt)
                    elif r.status_code == 503:
                        counts["busy"] += 1
                    else:
                        counts["other"] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    ready.wait()  # everyone warmed up
    t0 = time.perf_counter()
    stop_at[0] = t0 + seconds
    go.set()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0  # includes the requests in flight at the deadline
    lat.sort()
    return {
        "clients": clients, "seconds": wall, **counts,
        "requests_per_s": counts["ok"] / wall,
        "latency_p50_s": statistics.median(lat) if lat else None,
        "latency_p95_s": lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--max-in-flight", type=int, default=4)
    ap.add_argument("--model", help="model folder (default: bundled, else the default preset with random weights)")
    ap.add_argument("--out", default=str(RESULTS / "api.json"))
    args = ap.parse_args()

    sketch = make_sketch()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model, model_note = model_dir(args.model, tmp)
        colorizer = Colorizer.from_pretrained(model)
        from PIL import Image

        img = Image.open(io.BytesIO(sketch))
        img.load()
        # In a worker thread, as the server runs it: glibc gives other threads their own malloc arenas,
        # which keep the large activation buffers mapped, while the main thread's arena maps and unmaps
        # them on every call; where page faults are dear (some VMs) that alone makes a call several times slower.
        with ThreadPoolExecutor(1) as pool:
            ref, ref_times = median_seconds(lambda: pool.submit(colorizer, img).result(), repeats=7)

        proc, base = start_server(["--model", str(model), "--max-in-flight", str(args.max_in_flight),
                                   "--data-dir", str(tmp / "data")])
        try:
            health = httpx.get(base + "/api/v1/health").json()
            single = load(base, sketch, 1, args.seconds / 2)
            multi = load(base, sketch, args.clients, args.seconds)
        finally:
            proc.terminate()
            proc.wait(10)

    path = write_json(args.out, {
        "benchmark": "POST /api/v1/colorize",
        "image": f"{SIZE}x{SIZE} gray PNG sketch ({len(sketch):,} bytes), no hints, PNG result",
        "model": model_note,
        "working_size": health["model"]["working_size"],
        "server": {"max_in_flight": args.max_in_flight, "torch_threads_env": os.environ.get("OMP_NUM_THREADS")},
        "reference": {"what": "Colorizer(sketch) in-process, one at a time, in a worker thread", "median_s": ref, "times_s": ref_times,
                      "calls_per_s": 1 / ref},
        "single_client": single,
        "concurrent": multi,
        "ratio_concurrent_to_reference": multi["requests_per_s"] * ref,
        "ratio_concurrent_to_single_client": multi["requests_per_s"] / single["requests_per_s"] if single["requests_per_s"] else None,
    })
    print(f"results: {path}")
    print(f"reference: Colorizer call {ref * 1000:.0f} ms ({1 / ref:.2f}/s); 1 client: {single['requests_per_s']:.2f} requests/s")
    print(f"POST /api/v1/colorize {SIZE}x{SIZE}, {args.clients} concurrent clients: {multi['requests_per_s']:.2f} requests/s "
          f"(p50 {multi['latency_p50_s'] * 1000:.0f} ms, p95 {multi['latency_p95_s'] * 1000:.0f} ms, {multi['busy']} busy)")


if __name__ == "__main__":
    main()
