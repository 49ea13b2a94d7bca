"""A normal request's latency while hints of random colors keep the server busy.

    python benchmarks/bench_noise_hints.py [--model bundled] [--busy 4] [--probes 10] [--out benchmarks/results/noise_hints.json]

A real server (``autopainter serve`` on loopback, default settings: 4 requests at once). In each of ``--probes``
rounds, ``--busy`` clients send at once ``POST /api/v1/colorize`` of the 512x512 character fixture with a hints
PNG of random colors over 5 % of its pixels (about 70 KB: every hinted pixel a color of its own, the worst case
for per-color work), and 0.2 s later a probe sends a normal request (the same sketch, one short hint stroke),
timed until its answer; a 503 (every slot taken) is retried after its Retry-After, and the wait counts.
``--flood`` instead keeps the busy clients sending again and again for the whole run (harsher than the issue's
case: a probe retrying after Retry-After can find every slot taken again). Prints each phase's figures; last
line the slowest probe in seconds. The goal (issue 30): under 2 s.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, start_server, write_json  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "character" / "sketch.png"


def _png(a: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--busy", type=int, default=4)
    ap.add_argument("--probes", type=int, default=10)
    ap.add_argument("--flood", action="store_true")
    ap.add_argument("--out", default=str(RESULTS / "noise_hints.json"))
    args = ap.parse_args(argv)
    import httpx

    sketch = FIXTURE.read_bytes()
    H = W = 512
    rng = np.random.default_rng(0)
    noise = np.zeros((H, W, 4), np.uint8)
    m = rng.random((H, W)) < 0.05
    noise[m, :3] = rng.integers(0, 256, (int(m.sum()), 3))
    noise[m, 3] = 255
    noise_png = _png(noise)
    hint = np.zeros((H, W, 4), np.uint8)
    hint[300:306, 240:280] = (40, 160, 60, 255)
    hint_png = _png(hint)

    def post(client: httpx.Client, hints: bytes) -> tuple[int, float]:
        t0 = time.perf_counter()
        while True:
            r = client.post("/api/v1/colorize", files={"sketch": ("s.png", sketch, "image/png"),
                                                        "hints": ("h.png", hints, "image/png")})
            if r.status_code != 503:
                return r.status_code, time.perf_counter() - t0
            time.sleep(float(r.headers.get("Retry-After", "1")))

    proc, base = start_server(["--model", args.model])
    busy_times: list[float] = []
    stop = threading.Event()
    try:
        with httpx.Client(base_url=base, timeout=600) as c:
            status, alone = post(c, hint_png)
            _, noise_alone = post(c, noise_png)

            def busy() -> None:
                with httpx.Client(base_url=base, timeout=600) as bc:
                    while True:
                        busy_times.append(post(bc, noise_png)[1])
                        if stop.is_set() or not args.flood:
                            return

            probes = []
            threads: list[threading.Thread] = []
            for _ in range(args.probes):
                if args.flood and threads:
                    time.sleep(0.2)
                else:
                    threads = [threading.Thread(target=busy, daemon=True) for _ in range(args.busy)]
                    for t in threads:
                        t.start()
                    time.sleep(0.2)
                probes.append(post(c, hint_png))
                if not args.flood:
                    for t in threads:
                        t.join(600)
            stop.set()
            for t in threads:
                t.join(600)
    finally:
        proc.terminate()
        proc.wait(10)
    times = [t for _, t in probes]
    print(f"alone: a normal request {alone:.2f} s (status {status}); one with {int(m.sum())} hint pixels of random colors "
          f"({len(noise_png) / 1000:.0f} KB PNG) {noise_alone:.2f} s")
    print(f"with {args.busy} clients sending the random-color hints {'again and again' if args.flood else 'at once, per probe'} ({len(busy_times)} requests, median "
          f"{statistics.median(busy_times) if busy_times else float('nan'):.2f} s): normal requests median "
          f"{statistics.median(times):.2f} s, slowest {max(times):.2f} s, statuses {sorted({s for s, _ in probes})}")
    write_json(args.out, {"busy": args.busy, "flood": args.flood, "alone_s": alone, "noise_alone_s": noise_alone, "noise_png_bytes": len(noise_png),
                          "busy_s": busy_times, "probe_s": times, "probe_status": [s for s, _ in probes]})
    print(f"{max(times):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
