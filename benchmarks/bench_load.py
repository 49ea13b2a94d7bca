"""The server under load: a flood of clients, idle and slow sockets, big uploads; statuses, resets and memory.

    python benchmarks/bench_load.py [--model DIR] [--max-in-flight 4] [--bursts 3] [--burst-size 100]
                                    [--sockets 300] [--hold-s 20] [--uploads 40] [--upload-mb 19.5]
                                    [--out benchmarks/results/load.json]

A real server: ``autopainter serve`` on loopback in a subprocess (the bundled model unless ``--model``),
driven by asyncio clients (httpx, and raw sockets for the attack). Three phases, bounded in count and time:

(a) **flood**: ``--bursts`` bursts of ``--burst-size`` concurrent ``POST /api/v1/colorize`` of a 512x512
    sketch PNG, each on its own connection;
(b) **idle and slow sockets**: ``--sockets`` connections (more than the server's connection cap) that
    connect and send nothing, send part of a request head, or send one byte of it every 5 s, held for
    ``--hold-s`` seconds while a client probes ``/api/v1/health`` every second and colorizes every two;
    reported: what the probes got, and the seconds until the server closed each attacking socket;
(c) **big uploads**: ``--uploads`` concurrent colorize requests, each a valid PNG of ``--upload-mb`` MiB
    (line art under heavy paper noise, about 7 Mpx: within the default pixel cap).

A client sees either an HTTP status or a transport error; transport errors (the connection reset or
closed before a response: ``ReadError``, ``WriteError``, ``RemoteProtocolError``, ``ConnectError``) are
counted apart as *resets*, timeouts apart again. The server's resident memory (VmRSS in
``/proc/PID/status``) is sampled every 50 ms: idle, peak during a phase, and 5 s after it.

The goals (issue 17): (a) only 200 and 503, no resets, server alive; (b) health 200 and a colorize that
succeeds during the attack, idle sockets closed within 10 s; (c) peak RSS <= 1.0 GB and, after the
burst, within 100 MB of idle.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, start_server, write_json  # noqa: E402

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

MiB = 1 << 20
CONNECTION_CAP_BEFORE = 64  # uvicorn's limit_concurrency as `autopainter serve` set it before issue 17


# ------------------------------------------------------------------------------ inputs
def sketch_png(size: int, seed: int = 0) -> bytes:
    from autopainter.data.synthetic import draw_synthetic_pair

    _, sketch = draw_synthetic_pair(np.random.default_rng(seed), size)  # (size, size) L line art
    buf = io.BytesIO()
    sketch.save(buf, format="PNG")
    return buf.getvalue()


def big_png(target_bytes: int, seed: int = 0) -> bytes:
    """A valid RGB PNG of about ``target_bytes``: line art under uniform noise (a very noisy scan).
    Noise does not compress, so the side follows from the size; two rounds get within a few KB."""
    from autopainter.data.synthetic import draw_synthetic_pair

    rng = np.random.default_rng(seed)
    side = int((target_bytes / 3) ** 0.5)
    for _ in range(3):
        _, sketch = draw_synthetic_pair(np.random.default_rng(seed), side)
        lines = np.asarray(sketch) < 128  # (side, side) ink
        rgb = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        rgb[lines] = 0
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
        data = buf.getvalue()
        if abs(len(data) - target_bytes) < 64 * 1024:
            break
        side = int(side * (target_bytes / len(data)) ** 0.5)
    return data


# ------------------------------------------------------------------------------ the server's memory
class RSS:
    """Samples VmRSS of a process (and its children, if any) every ``every`` seconds in a thread."""

    def __init__(self, pid: int, every: float = 0.05):
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, int]] = []  # (monotonic time, bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _pids(self) -> list[int]:
        pids = [self.pid]
        try:
            for tid in Path(f"/proc/{self.pid}/task").iterdir():
                kids = Path(f"/proc/{self.pid}/task/{tid.name}/children").read_text().split()
                pids += [int(k) for k in kids]
        except OSError:
            pass
        return pids

    @staticmethod
    def field(pid: int, name: str) -> int:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(name + ":"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def now(self) -> int:
        return sum(self.field(p, "VmRSS") for p in self._pids())

    def hwm(self) -> int:
        return sum(self.field(p, "VmHWM") for p in self._pids())

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append((time.monotonic(), self.now()))

    def peak(self, since: float) -> int:
        return max((b for t, b in self.samples if t >= since), default=self.now())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


def mb(n: int | None) -> float | None:
    return None if n is None else round(n / 1e6, 1)


# ------------------------------------------------------------------------------ clients
async def request(client: httpx.AsyncClient, method: str, path: str, **kw) -> dict:
    """One request: {"status": int} or {"error": exception class name}, with its latency."""
    t0 = time.perf_counter()
    try:
        r = await client.request(method, path, **kw)
        out = {"status": r.status_code, "retry_after": r.headers.get("retry-after")}
    except httpx.TimeoutException as e:
        out = {"error": type(e).__name__, "timeout": True}
    except httpx.TransportError as e:  # reset, closed without a response, refused
        out = {"error": type(e).__name__}
    out["s"] = time.perf_counter() - t0
    return out


def summarize(results: list[dict]) -> dict:
    statuses = Counter(str(r["status"]) for r in results if "status" in r)
    resets = Counter(r["error"] for r in results if "error" in r and not r.get("timeout"))
    timeouts = sum(1 for r in results if r.get("timeout"))
    ok = sorted(r["s"] for r in results if r.get("status") == 200)
    busy = [r for r in results if r.get("status") == 503]
    return {
        "requests": len(results), "statuses": dict(statuses), "resets": sum(resets.values()),
        "reset_kinds": dict(resets), "timeouts": timeouts,
        "busy_without_retry_after": sum(1 for r in busy if not r["retry_after"]),
        "latency_200_p50_s": statistics.median(ok) if ok else None,
        "latency_200_p95_s": ok[min(len(ok) - 1, int(0.95 * len(ok)))] if ok else None,
        "latency_all_p50_s": statistics.median(sorted(r["s"] for r in results)) if results else None,
        "latency_all_p95_s": sorted(r["s"] for r in results)[int(0.95 * (len(results) - 1))] if results else None,
    }


def fresh_client(base: str, n: int, timeout: float) -> httpx.AsyncClient:
    """A client that opens a new connection per request (no keep-alive), up to ``n`` at once."""
    return httpx.AsyncClient(base_url=base, timeout=timeout,
                             limits=httpx.Limits(max_connections=n, max_keepalive_connections=0))


async def flood(base: str, sketch: bytes, bursts: int, size: int) -> list[dict]:
    out = []
    for i in range(bursts):
        async with fresh_client(base, size, 120) as c:
            results = await asyncio.gather(*[
                request(c, "POST", "/api/v1/colorize", files={"sketch": ("s.png", sketch, "image/png")})
                for _ in range(size)])
        out.append(summarize(results))
        await asyncio.sleep(2)  # let the last connections close before the next burst
    return out


async def attack(base: str, sketch: bytes, sockets: int, hold_s: float) -> dict:
    """``sockets`` idle / partial-head / trickling connections, held ``hold_s`` s while a client probes."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    kinds = ("idle", "partial", "trickle")
    closed_after: dict[str, list[float | None]] = {k: [] for k in kinds}
    t_start = time.monotonic()

    async def hold(kind: str) -> None:
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
        except OSError:
            closed_after[kind].append(0.0)  # refused at connect
            return
        t0 = time.monotonic()
        head = f"POST /api/v1/colorize HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: multipart/form-data\r\n".encode()

        async def trickle():
            for i in range(len(head)):
                writer.write(head[i:i + 1])
                await asyncio.sleep(5)

        sender = None
        if kind == "partial":
            writer.write(head)
        elif kind == "trickle":
            sender = asyncio.ensure_future(trickle())
        when = None
        try:
            remaining = hold_s - (time.monotonic() - t_start)
            while remaining > 0:
                data = await asyncio.wait_for(reader.read(65536), remaining)
                if not data:  # the server closed the connection
                    when = time.monotonic() - t0
                    break
                remaining = hold_s - (time.monotonic() - t_start)
        except asyncio.TimeoutError:
            pass
        except OSError:  # reset by the server: closed too
            when = time.monotonic() - t0
        finally:
            if sender:
                sender.cancel()
            writer.close()
        closed_after[kind].append(when)

    async def probe() -> tuple[list[dict], list[dict]]:
        health, colorize = [], []
        await asyncio.sleep(1.0)  # once the sockets are open
        async with fresh_client(base, 4, 10) as c:
            i = 0
            while time.monotonic() - t_start < hold_s - 1:
                r = await request(c, "GET", "/api/v1/health")
                r["t"] = time.monotonic() - t_start
                health.append(r)
                if i % 2 == 0:
                    r = await request(c, "POST", "/api/v1/colorize", files={"sketch": ("s.png", sketch, "image/png")})
                    r["t"] = time.monotonic() - t_start
                    colorize.append(r)
                i += 1
                await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - t_start) % 1.0))
        return health, colorize

    holders = [asyncio.ensure_future(hold(kinds[i % 3])) for i in range(sockets)]
    health, colorize = await probe()
    await asyncio.gather(*holders)
    per_kind = {}
    for kind, times in closed_after.items():
        closed = sorted(t for t in times if t is not None)
        per_kind[kind] = {"sockets": len(times), "closed": len(closed),
                          "closed_p50_s": statistics.median(closed) if closed else None,
                          "closed_max_s": closed[-1] if closed else None}
    first_health = next((r["t"] for r in health if r.get("status") == 200), None)
    first_colorize = next((r["t"] for r in colorize if r.get("status") == 200), None)
    return {"sockets": sockets, "hold_s": hold_s, "closed_by_server": per_kind,
            "health": summarize(health), "colorize": summarize(colorize),
            "first_health_200_s": first_health, "first_colorize_200_s": first_colorize}


async def uploads(base: str, data: bytes, n: int) -> dict:
    async with fresh_client(base, n, 300) as c:
        results = await asyncio.gather(*[
            request(c, "POST", "/api/v1/colorize", files={"sketch": ("big.png", data, "image/png")}) for _ in range(n)])
    return summarize(results)


# ------------------------------------------------------------------------------ main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model folder (default: the bundled model)")
    ap.add_argument("--max-in-flight", type=int, default=4)
    ap.add_argument("--bursts", type=int, default=3)
    ap.add_argument("--burst-size", type=int, default=100)
    ap.add_argument("--sockets", type=int, default=300, help="attacking sockets in (b); more than the connection cap")
    ap.add_argument("--hold-s", type=float, default=20.0)
    ap.add_argument("--uploads", type=int, default=40)
    ap.add_argument("--upload-mb", type=float, default=19.5, help="size of each upload in (c), MiB")
    ap.add_argument("--out", default=str(RESULTS / "load.json"))
    args = ap.parse_args()

    sketch = sketch_png(512)
    big = big_png(int(args.upload_mb * MiB))
    with Image.open(io.BytesIO(big)) as im:
        big_size = im.size

    with tempfile.TemporaryDirectory() as tmp:
        serve_args = ["--max-in-flight", str(args.max_in_flight), "--data-dir", str(Path(tmp) / "data")]
        if args.model:
            serve_args += ["--model", args.model]
        with open(Path(tmp) / "server.log", "w") as log:
            proc, base = start_server(serve_args, log)
        rss = RSS(proc.pid)
        try:
            health = httpx.get(base + "/api/v1/health").json()
            cap = health["limits"].get("max_connections", CONNECTION_CAP_BEFORE)
            httpx.post(base + "/api/v1/colorize", files={"sketch": ("s.png", sketch, "image/png")}, timeout=120)
            time.sleep(1)
            idle = rss.now()
            t0 = time.monotonic()
            flood_res = asyncio.run(flood(base, sketch, args.bursts, args.burst_size))
            flood_peak = rss.peak(t0)
            alive_a = proc.poll() is None and httpx.get(base + "/api/v1/health", timeout=10).status_code == 200

            time.sleep(3)
            attack_res = asyncio.run(attack(base, sketch, args.sockets, args.hold_s))
            alive_b = proc.poll() is None and httpx.get(base + "/api/v1/health", timeout=10).status_code == 200

            time.sleep(6)  # whatever the attack left open is closed by now, or never
            idle_c = rss.now()
            t0 = time.monotonic()
            upload_res = asyncio.run(uploads(base, big, args.uploads))
            upload_peak = rss.peak(t0)
            time.sleep(5)
            after_c = rss.now()
            alive_c = proc.poll() is None and httpx.get(base + "/api/v1/health", timeout=10).status_code == 200
            hwm = rss.hwm()
        finally:
            rss.stop()
            proc.terminate()
            try:
                proc.wait(15)
            except Exception:
                proc.kill()

    statuses_a = Counter()
    for b in flood_res:
        statuses_a.update(b["statuses"])
    resets_a = sum(b["resets"] for b in flood_res)
    closed = attack_res["closed_by_server"]
    closed_max = max((k["closed_max_s"] or 0.0) for k in closed.values())
    all_closed = all(k["closed"] == k["sockets"] for k in closed.values())
    goals = {
        "a_only_200_503_no_resets_alive": set(statuses_a) <= {"200", "503"} and resets_a == 0 and alive_a,
        "b_health_and_colorize_during_attack": attack_res["health"]["statuses"].get("200", 0) > 0
                                               and attack_res["colorize"]["statuses"].get("200", 0) > 0,
        "b_sockets_closed_within_10s": all_closed and closed_max <= 10.0,
        "c_peak_rss_le_1GB": upload_peak <= 1.0e9,
        "c_rss_back_within_100MB": after_c - idle_c <= 100e6,
    }
    path = write_json(args.out, {
        "benchmark": "autopainter serve under load (issue 17)",
        "model": args.model or "bundled",
        "server": {"max_in_flight": args.max_in_flight, "connection_cap": cap, "limits": health["limits"]},
        "flood": {"bursts": flood_res, "statuses": dict(statuses_a), "resets": resets_a, "alive": alive_a,
                  "idle_rss_mb": mb(idle), "peak_rss_mb": mb(flood_peak)},
        "attack": {**attack_res, "alive": alive_b},
        "uploads": {**upload_res, "upload_bytes": len(big), "upload_pixels": list(big_size), "alive": alive_c,
                    "idle_rss_mb": mb(idle_c), "peak_rss_mb": mb(upload_peak), "after_rss_mb": mb(after_c)},
        "server_peak_rss_mb": mb(hwm),
        "goals": goals,
    })

    def lat(s):
        p50, p95 = s["latency_200_p50_s"], s["latency_200_p95_s"]
        return f"200 p50 {p50:.2f} s, p95 {p95:.2f} s" if p50 is not None else "no 200"

    print(f"results: {path}")
    print(f"server: {args.model or 'bundled model'}, max-in-flight {args.max_in_flight}, connection cap {cap}, "
          f"idle RSS {mb(idle)} MB, peak RSS over the run {mb(hwm)} MB")
    for i, b in enumerate(flood_res):
        print(f"(a) burst {i + 1}: {args.burst_size} x colorize 512x512: statuses {b['statuses']}, resets {b['resets']} "
              f"{b['reset_kinds'] or ''}, timeouts {b['timeouts']}, 503 without Retry-After {b['busy_without_retry_after']}, "
              f"{lat(b)}, all p50 {b['latency_all_p50_s']:.2f} s, p95 {b['latency_all_p95_s']:.2f} s")
    print(f"(a) total: statuses {dict(statuses_a)}, resets {resets_a}, server alive: {alive_a}, peak RSS {mb(flood_peak)} MB")
    h, c = attack_res["health"], attack_res["colorize"]
    print(f"(b) {args.sockets} idle/partial/trickling sockets (cap {cap}) held {args.hold_s:g} s: "
          f"health {h['statuses']} resets {h['resets']} timeouts {h['timeouts']} (first 200 at {attack_res['first_health_200_s']} s); "
          f"colorize {c['statuses']} resets {c['resets']} timeouts {c['timeouts']} (first 200 at {attack_res['first_colorize_200_s']} s)")
    for kind, k in closed.items():
        when = f"p50 {k['closed_p50_s']:.1f} s, max {k['closed_max_s']:.1f} s" if k["closed"] else "-"
        print(f"(b)   {kind}: {k['closed']}/{k['sockets']} closed by the server within {args.hold_s:g} s ({when})")
    u = upload_res
    print(f"(c) {args.uploads} x {len(big) / MiB:.1f} MiB PNG ({big_size[0]}x{big_size[1]}): statuses {u['statuses']}, "
          f"resets {u['resets']} {u['reset_kinds'] or ''}, timeouts {u['timeouts']}, {lat(u)}; "
          f"RSS idle {mb(idle_c)} MB, peak {mb(upload_peak)} MB, 5 s after {mb(after_c)} MB; alive: {alive_c}")
    print("goals: " + ", ".join(f"{k} {'MET' if v else 'NOT MET'}" for k, v in goals.items()))


if __name__ == "__main__":
    main()
