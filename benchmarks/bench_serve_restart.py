"""How long ``make serve`` takes to answer on an installed checkout (the README's first command, run again).

    python benchmarks/bench_serve_restart.py [--repo DIR] [--repeats 3]

Runs ``make serve PORT=<free>`` in ``--repo`` (default: this checkout, whose ``.venv`` must exist: run ``make
serve`` once first), times it until ``GET /api/v1/health`` answers, stops it (SIGTERM to its process group), and
counts the lines it printed and those that mention a deprecation. The first run may install (a changed
pyproject.toml); the figure is the median of the runs after it. Prints the figure last.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, write_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one(repo: Path, timeout: float = 300.0) -> dict:
    port = free_port()
    with tempfile.TemporaryFile("w+") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(["make", "serve", f"PORT={port}"], cwd=repo, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        seconds = None
        try:
            while time.perf_counter() - t0 < timeout and proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1) as r:
                        if r.status == 200:
                            seconds = time.perf_counter() - t0
                            break
                except OSError:
                    time.sleep(0.1)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        log.seek(0)
        lines = log.read().splitlines()
    return {"seconds": seconds, "lines": len(lines), "deprecation_lines": sum("deprecat" in x.lower() for x in lines)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repo", default=str(REPO))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(RESULTS / "serve_restart.json"))
    args = ap.parse_args(argv)
    runs = [one(Path(args.repo)) for _ in range(args.repeats + 1)]
    for i, r in enumerate(runs):
        print(f"run {i}: {r['seconds']:.1f} s to health, {r['lines']} lines printed, {r['deprecation_lines']} about deprecation")
    later = [r["seconds"] for r in runs[1:] if r["seconds"] is not None]
    write_json(args.out, {"repo": args.repo, "runs": runs})
    print(f"make serve restart to /api/v1/health: {statistics.median(later):.1f} s (median of {len(later)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
