"""Generators in equal short runs: which changes to the `default` preset color characters best?

Each arm trains the `default` preset from scratch with the same seed, data, image size and number of
steps (the same images, crops, hints and augmentation, in the same order), one thread each, `--parallel`
arms at a time; then it is exported and measured with `autopainter evaluate` (soft style) on the
splits given, and with the hue wheel (benchmarks/bench_hue_wheel.py). Arms, each a set of `--set` lines on
top of the common ones:

    a   today's default before issue 14: transposed up-sampling, no hint loss, no hue jitter
    b   (a) with resize up-sampling (nearest x2 + 3x3 conv)
    c   (b) with hints from step 0: hue jitter 0.5 and loss.hint 10 (the `default` preset as it is)
    d   (c) with the paper's objective (feature + TV) and its fix: feature warm-up, feature loss off the hints
    e   (c) with frozen EfficientNet-Lite0 sketch features in the decoder
    f   (d) and (e) together

    python benchmarks/bench_generators.py --data data/characters256 --steps 3000 \
        --eval wesnoth:data/wesnoth:val openmoji:data/openmoji256:val
    python benchmarks/bench_generators.py ... --eval wesnoth:data/wesnoth:test   # reporting only, after choosing

Runs go to --work (default ~/.cache/autopainter/bench-generators); an arm whose model is there already is
not trained again, and an evaluation already there is not run again. Prints one Markdown table (PSNR,
SSIM, hint ΔE, hint-region ΔE per set and hint count) and writes it as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, cached_evaluate, write_json  # noqa: E402

BEFORE = ["model.upsample=transposed", "loss.hint=0", "data.hint_hue_jitter=0"]
PAPER = ["loss.feature=1", "loss.tv=0.0001", "loss.feature_warmup=1000", "loss.feature_off_hints=true"]
LITE0 = ["model.sketch_features=efficientnet-lite0"]
ARMS: dict[str, tuple[str, list[str]]] = {
    "a": ("today's default (transposed, hints learned late)", BEFORE),
    "b": ("(a) + resize up-sampling", ["loss.hint=0", "data.hint_hue_jitter=0"]),
    "c": ("(b) + hints from step 0 (the default preset)", []),
    "d": ("(c) + paper objective, warm-up, feature off hints", PAPER),
    "e": ("(c) + Lite0 sketch features", LITE0),
    "f": ("(c) + paper objective fix + Lite0 sketch features", PAPER + LITE0),
}


def common_sets(args) -> list[str]:
    return [
        f"data.image_size={args.size}", f"data.load_size={round(args.size * 286 / 256)}", "data.augment=true",
        "data.num_workers=0", "train.compile=false", f"train.max_steps={args.steps}", "train.epochs=100000",
        f"train.seed={args.seed}", "train.checkpoint_every=100000", "train.sample_every=100000", "train.log_every=50",
    ]


def train_arm(arm: str, args, work: Path) -> subprocess.Popen | None:
    model = work / arm / "model"
    if (model / "config.json").is_file():
        return None
    runs = work / arm / "runs"
    sets = common_sets(args) + ARMS[arm][1] + [f"train.runs_dir={runs}", f"train.name=arm-{arm}"]
    cmd = [sys.executable, "-m", "autopainter", "train", "--config", "default", "--data", args.data, "-q"]
    for s in sets:
        cmd += ["--set", s]
    (work / arm).mkdir(parents=True, exist_ok=True)
    (work / arm / "command.txt").write_text(" ".join(cmd) + "\n")
    env = os.environ | {"OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    log = open(work / arm / "train.log", "w")
    print(f"[{time.strftime('%H:%M:%S')}] training arm {arm}: {ARMS[arm][0]}", flush=True)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    proc.arm, proc.t0 = arm, time.time()  # type: ignore[attr-defined]
    return proc


def finish_arm(proc: subprocess.Popen, work: Path) -> None:
    arm = proc.arm  # type: ignore[attr-defined]
    seconds = time.time() - proc.t0  # type: ignore[attr-defined]
    if proc.returncode != 0:
        raise SystemExit(f"arm {arm} failed (exit {proc.returncode}): see {work / arm / 'train.log'}")
    run = sorted((work / arm / "runs").iterdir())[-1]
    subprocess.run([sys.executable, "-m", "autopainter", "export", str(run), "-o", str(work / arm / "model")], check=True)
    (work / arm / "train_seconds.txt").write_text(f"{seconds:.0f}\n")
    print(f"[{time.strftime('%H:%M:%S')}] arm {arm} trained in {seconds / 60:.1f} min", flush=True)


def evaluate_arm(arm: str, name: str, data: str, split: str, hints: list[int], work: Path) -> dict:
    return cached_evaluate(str(work / arm / "model"), data, split, "soft", hints, work / arm / f"eval-{name}-{split}")


def hue_wheel(arm: str, work: Path) -> dict:
    out = work / arm / "hue_wheel.json"
    if not out.is_file():
        subprocess.run([sys.executable, str(Path(__file__).parent / "bench_hue_wheel.py"), "--model",
                        str(work / arm / "model"), "--out", str(out), "--image", str(work / arm / "hue_wheel.png")],
                       check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data/characters256", help="training dataset (default: data/characters256)")
    ap.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, of {','.join(ARMS)} (default: all)")
    ap.add_argument("--steps", type=int, default=3000, help="training steps of every arm (default: 3000)")
    ap.add_argument("--size", type=int, default=128, help="training image size (default: 128)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--parallel", type=int, default=2, help="arms trained at a time (default: 2)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per arm (default: 1)")
    ap.add_argument("--eval", nargs="*", default=[], metavar="NAME:DATA:SPLIT",
                    help="evaluation sets, e.g. wesnoth:data/wesnoth:val openmoji:data/openmoji256:val")
    ap.add_argument("--hints", type=int, nargs="+", default=[0, 5, 20])
    ap.add_argument("--work", default=str(Path.home() / ".cache/autopainter/bench-generators"))
    ap.add_argument("--out", default=str(RESULTS / "generators.json"))
    args = ap.parse_args(argv)
    arms = args.arms.split(",")
    if unknown := [a for a in arms if a not in ARMS]:
        ap.error(f"unknown arms {unknown}; choose from {','.join(ARMS)}")
    work = Path(args.work)

    pending, running = list(arms), []
    while pending or running:
        while pending and len(running) < args.parallel:
            proc = train_arm(pending.pop(0), args, work)
            if proc is not None:
                running.append(proc)
        for proc in list(running):
            if proc.poll() is not None:
                running.remove(proc)
                finish_arm(proc, work)
        if running:
            time.sleep(5)

    rows = []
    for arm in sorted(arms):
        secs = (work / arm / "train_seconds.txt")
        row = {"arm": arm, "what": ARMS[arm][0], "sets": ARMS[arm][1],
               "train_minutes": round(float(secs.read_text()) / 60, 1) if secs.is_file() else None}
        for spec in args.eval:
            name, data, split = spec.split(":")
            rep = evaluate_arm(arm, name, data, split, args.hints, work)
            row[f"{name}-{split}"] = {str(r["hints"]): {k: r.get(k) for k in ("psnr", "ssim", "l1", "hint_de", "hint_region_de", "fd_lite0")}
                                      for r in rep["results"].values()}
        wheel = hue_wheel(arm, work)
        row["hue_wheel"] = {"steer": wheel["steer"], "mean_de": round(sum(h["delta_e"] for h in wheel["hues"]) / 12, 2)}
        rows.append(row)

    def f(v, spec):
        return "–" if v is None else format(v, spec)

    print(f"\n{args.steps} steps of batch 4 at {args.size} px per arm, seed {args.seed}, soft style")
    print("| arm | set | hints | PSNR ↑ | SSIM ↑ | hint ΔE ↓ | hint-region ΔE ↓ |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for row in rows:
        for spec in args.eval:
            key = "-".join(spec.split(":")[::2])
            for n, r in row[key].items():
                print(f"| {row['arm']} | {key} | {n} | {f(r['psnr'], '.2f')} | {f(r['ssim'], '.4f')} "
                      f"| {f(r['hint_de'], '.2f')} | {f(r['hint_region_de'], '.2f')} |")
    print("| arm | minutes | hue wheel steers | hue wheel mean ΔE |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['arm']} | {row['train_minutes']} | {row['hue_wheel']['steer']}/12 | {row['hue_wheel']['mean_de']} |")
    write_json(args.out, {"steps": args.steps, "size": args.size, "seed": args.seed, "data": args.data, "arms": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
