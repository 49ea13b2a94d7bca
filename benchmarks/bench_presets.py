"""Parameter counts and seconds per training step of each preset at 256x256 on this machine.

    python benchmarks/bench_presets.py [--presets tiny,default,pix2pix,paper] [--repeats 3]

Each step is a full D step + G step (the training's own ``train_step``) on random tensors, fp32 eager, at the
preset's batch size. The paper preset's VGG16 feature loss runs with random weights saved in torchvision's
format (the real file is not obtainable offline; the cost is the same).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, median_seconds, write_json  # noqa: E402

from autopainter.config import Config, preset_names  # noqa: E402
from autopainter.models.unet import count_parameters  # noqa: E402
from autopainter.training.loop import build_models  # noqa: E402


def step_fn(models, cfg, batch):
    """One D + G step."""
    from autopainter.training.loop import train_step

    return lambda: train_step(models, cfg, batch)


def random_vgg16(path: Path) -> Path:
    from autopainter.models.features import build_feature_extractor

    # a torchvision-format state dict with random values, from the module's own layer shapes
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    state, cin, i = {}, 3, 0
    for v in cfg:
        if v == "M":
            i += 1
            continue
        state[f"features.{i}.weight"] = torch.randn(v, cin, 3, 3) * 0.05
        state[f"features.{i}.bias"] = torch.zeros(v)
        cin, i = v, i + 2
    torch.save(state, path)
    build_feature_extractor("vgg16", str(path))  # fails loudly if the format is wrong
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="tiny,default,pix2pix,paper", help=f"comma-separated, of: {', '.join(preset_names())}")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(RESULTS / "presets.json"))
    args = ap.parse_args()
    torch.manual_seed(0)
    tmp = Path(tempfile.mkdtemp())
    rows = []
    for name in args.presets.split(","):
        overrides = [f"data.image_size={args.size}", f"data.load_size={args.size}"]
        cfg0 = Config.load(name)
        if cfg0.loss.feature > 0 and cfg0.loss.feature_backbone.startswith("vgg"):
            overrides.append(f"loss.feature_weights={random_vgg16(tmp / 'vgg16-random.pth')}")
        if name == "tiny":
            overrides += ["model.depth=4"]
        cfg = Config.load(name, overrides)
        models = build_models(cfg, torch.device("cpu"))
        b, s = cfg.train.batch_size, args.size
        batch = {
            "sketch": torch.rand(b, 1, s, s) * 2 - 1,
            "color": torch.rand(b, 3, s, s) * 2 - 1,
            "hint": torch.zeros(b, 3, s, s),
            "mask": torch.zeros(b, 1, s, s),
        }
        # what the generator gets, laid out as models.inputs.encode_inputs does: sketch | hint RGB | mask (5),
        # or the sketch as gray RGB (3)
        batch["input"] = (batch["sketch"].expand(-1, 3, -1, -1) if cfg.model.in_channels == 3
                          else torch.cat([batch["sketch"], batch["hint"], batch["mask"]], 1))
        sec, times = median_seconds(step_fn(models, cfg, batch), args.repeats)
        row = {
            "preset": name,
            "batch_size": b,
            "size": s,
            "params_G": count_parameters(models.G),
            "params_D": count_parameters(models.D) if models.D is not None else 0,
            "sec_per_step": round(sec, 4),
            "sec_per_image": round(sec / b, 4),
            "times": [round(t, 4) for t in times],
        }
        rows.append(row)
        print(f"{name:8s} G {row['params_G']:>11,}  D {row['params_D']:>10,}  batch {b}  "
              f"{sec:7.3f} s/step  {sec / b:7.3f} s/image", flush=True)
    path = write_json(args.out, {"benchmark": "presets", "rows": rows})
    print(f"wrote {path}")
    print("seconds per step at %dx%d: " % (args.size, args.size)
          + ", ".join(f"{r['preset']} {r['sec_per_step']:.3f}" for r in rows))


if __name__ == "__main__":
    main()
