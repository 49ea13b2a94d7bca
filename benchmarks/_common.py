"""Shared by the benchmark scripts: environment facts for the JSON results and timing helpers."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, Callable

RESULTS = Path(__file__).parent / "results"


def environment() -> dict[str, Any]:
    import numpy
    import torch

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "git_commit": commit,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def median_seconds(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> tuple[float, list[float]]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"environment": environment(), **payload}, indent=2) + "\n")
    return path


def start_server(args: list[str], log: IO | None = None) -> tuple[subprocess.Popen, str]:
    """``autopainter serve --port 0 -q ARGS`` in a subprocess, once it answers /api/v1/health: (process, base URL).

    The server's log goes to ``log`` (a file; default: discarded), never to a pipe nobody reads: a full
    pipe would block the server on its next log line.
    """
    import httpx

    cmd = [sys.executable, "-m", "autopainter", "serve", "--port", "0", "-q", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log or subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()  # "Auto-Painter is running at http://127.0.0.1:PORT/ ..."
    if "http://" not in line:
        proc.kill()
        raise SystemExit(f"the server did not start: {line}")
    base = "http://" + line.split("http://", 1)[1].split("/", 1)[0]
    for _ in range(100):
        try:
            if httpx.get(base + "/api/v1/health", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not answer /api/v1/health")


def model_digest(model: str) -> str | None:
    """SHA-256 of a model folder's ``config.json`` and ``model.safetensors`` ('bundled': the packaged
    model's), so a cached result follows the weights, not the path; None for 'none' (the hints-only fill)
    or a folder without those files (then the path alone keys the cache)."""
    import hashlib

    from autopainter.models.io import resolve_model_dir

    if model == "none":
        return None
    folder = resolve_model_dir(model)
    h = hashlib.sha256()
    for name in ("config.json", "model.safetensors"):
        f = folder / name
        if not f.is_file():
            return None
        data = f.read_bytes()
        h.update(f"{name}:{len(data)}:".encode() + data)
    return h.hexdigest()


INFERENCE = 4  # bumped when the product's inference changes what a model's figures are (2: local hints; 4: issue 30 regions and splits)


def cached_evaluate(model: str, data: str, split: str, style: str, hints: list[int], out: Path,
                    protocol: str = "strokes", limit: int = 0, hint_scope: str = "local") -> dict:
    """``autopainter evaluate`` into ``out`` (its metrics.json as a dict), unless ``out`` holds the results of
    the same request already (the model's weights by digest, whichever folder holds them; data, split, style,
    hint counts, protocol, limit: kept in ``out/request.json``). ``model`` 'bundled' is the packaged model.
    ``protocol`` 'hintauc' takes no hint counts (pass []). ``hint_scope`` 'global': ``--hint-scope global``."""
    request = {"model": str(Path(model).resolve()) if model not in ("bundled", "none") else model,
               "weights": model_digest(model),
               "data": str(Path(data).resolve()), "split": split, "style": style, "hints": list(hints)}
    if protocol != "strokes":  # only when asked, so that the requests cached before --protocol still match
        request["protocol"] = protocol
    if limit:
        request["limit"] = limit
    if hint_scope != "local":
        request["hint_scope"] = hint_scope
    request["inference"] = INFERENCE  # results from before locality at inference are not reused
    done = out / "request.json"
    def key(r: dict) -> dict:  # the weights decide, not the folder they were read from
        return {k: v for k, v in r.items() if not (k == "model" and r.get("weights"))}

    if not ((out / "metrics.json").is_file() and done.is_file() and key(json.loads(done.read_text())) == key(request)):
        done.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "autopainter", "evaluate", "--data", data, "--split", split,
               "--style", style, "-o", str(out), "-q"]
        cmd += ["--protocol", protocol] if protocol != "strokes" else ["--hints", *map(str, hints)]
        if limit:
            cmd += ["--limit", str(limit)]
        if hint_scope != "local":
            cmd += ["--hint-scope", hint_scope]
        if model != "bundled":
            cmd += ["--model", model]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        if model_digest(model) != request["weights"]:  # the folder changed while it was evaluated
            raise RuntimeError(f"{model}: the weights changed during the evaluation; run it again")
        done.write_text(json.dumps(request))
    return json.loads((out / "metrics.json").read_text())


def parse_models(ap, specs: list[str], allow: tuple[str, ...] = ("bundled",)) -> list[tuple[str, str]]:
    """``--model NAME=DIR`` arguments -> [(name, dir)]; DIR a model folder or one of ``allow`` ('bundled': the
    packaged model, 'none': the hints-only fill); ``DIR@global`` (kept in the dir; ``split_scope``) colors with
    ``--hint-scope global``. A bad one is ``ap.error``."""
    models: list[tuple[str, str]] = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        path, _ = split_scope(path)
        if not sep or not name or not path:
            ap.error(f"--model wants NAME=DIR, got {spec!r}")
        if name in dict(models):
            ap.error(f"--model {name} is given twice")
        if path not in allow and not (Path(path) / "config.json").is_file():
            ap.error(f"--model {name}: {path} is not a model folder (no config.json)")
        models.append((name, spec.partition("=")[2]))
    return models


def split_scope(model: str) -> tuple[str, str]:
    """'DIR@global' -> ('DIR', 'global'); 'DIR' -> ('DIR', 'local')."""
    if model.endswith("@global"):
        return model[: -len("@global")], "global"
    return model, "local"


def parse_sets(ap, specs: list[str]) -> list[tuple[str, str, str]]:
    """``--eval NAME:DATA:SPLIT`` arguments -> [(name, data, split)]; DATA/SPLIT must be a folder."""
    sets = []
    for spec in specs:
        name, _, rest = spec.partition(":")
        data, _, split = rest.rpartition(":")  # DATA may hold a ':' itself
        if not (name and data and split) or not Path(data, split).is_dir():
            ap.error(f"--eval wants NAME:DATA:SPLIT with DATA/SPLIT a folder, got {spec!r}")
        sets.append((name, data, split))
    return sets
