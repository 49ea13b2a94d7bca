"""Training throughput and peak memory: our training step against a plain reference pix2pix step.

    python benchmarks/bench_train.py                      # the full set (several minutes on 2 cores)
    python benchmarks/bench_train.py --steps 6 --quick    # fewer variants

Every variant runs in its own subprocess, one after another, so each gets the machine to itself and its
peak resident memory (ru_maxrss) is its own. All run on the same generated 256x256 pairs, in this one
invocation, so the ratios compare like with like on a noisy machine.

- ``reference``: pix2pix's training step written out plainly below (unet_256 + 70x70 PatchGAN, batch
  norm, dropout, Adam, BCE + 100*L1), fp32, eager: what a straightforward implementation does.
- ``pix2pix``: the same architecture and batch size through ``autopainter.training.step.train_step`` with
  the preset's speed settings (bf16 autocast, channels_last, torch.compile).
- ``default``: the default preset.
- ``default-512``: the default preset at 512x512, batch 4 (peak memory goal: under 6 GB), with and
  without gradient checkpointing.

The figure printed last is the pix2pix-preset/reference images-per-second ratio.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, write_json  # noqa: E402


# ----------------------------------------------------------------------------- the plain reference
class RefUnetBlock(nn.Module):
    """pix2pix's UnetSkipConnectionBlock, written plainly: x -> [x, up(sub(down(x)))]."""

    def __init__(self, outer, inner, cin=None, sub=None, outermost=False, innermost=False, dropout=False):
        super().__init__()
        cin = cin or outer
        self.outermost = outermost
        down = [nn.LeakyReLU(0.2, True), nn.Conv2d(cin, inner, 4, 2, 1, bias=False)]
        if outermost:
            down = [nn.Conv2d(cin, inner, 4, 2, 1)]
            up = [nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1), nn.Tanh()]
            layers = down + [sub] + up
        elif innermost:
            up = [nn.ReLU(True), nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=False), nn.BatchNorm2d(outer)]
            layers = down + up
        else:
            down = down + [nn.BatchNorm2d(inner)]
            up = [nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=False), nn.BatchNorm2d(outer)]
            layers = down + [sub] + up + ([nn.Dropout(0.5)] if dropout else [])
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


def ref_unet256(cin: int, ngf: int = 64) -> nn.Module:
    b = RefUnetBlock(ngf * 8, ngf * 8, innermost=True)
    for _ in range(3):
        b = RefUnetBlock(ngf * 8, ngf * 8, sub=b, dropout=True)
    b = RefUnetBlock(ngf * 4, ngf * 8, sub=b)
    b = RefUnetBlock(ngf * 2, ngf * 4, sub=b)
    b = RefUnetBlock(ngf, ngf * 2, sub=b)
    return RefUnetBlock(3, ngf, cin=cin, sub=b, outermost=True)


def ref_patchgan(cin: int, ndf: int = 64) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(cin, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 1, 1), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 1),
    )


class Reference:
    """pix2pix's optimize_parameters: forward G; D step on (fake.detach(), real); G step on GAN + 100*L1."""

    def __init__(self, cin: int, batch: int):
        self.G, self.D = ref_unet256(cin), ref_patchgan(4)
        for m in list(self.G.modules()) + list(self.D.modules()):
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0, 0.02)
        self.oG = torch.optim.Adam(self.G.parameters(), 2e-4, betas=(0.5, 0.999))
        self.oD = torch.optim.Adam(self.D.parameters(), 2e-4, betas=(0.5, 0.999))

    def step(self, b):
        x = torch.cat([b["sketch"], b["hint"], b["mask"]], 1)
        real, cond = b["color"], b["sketch"]
        fake = self.G(x)
        for p in self.D.parameters():
            p.requires_grad_(True)
        self.oD.zero_grad()
        pf, pr = self.D(torch.cat([cond, fake.detach()], 1)), self.D(torch.cat([cond, real], 1))
        ld = 0.5 * (F.binary_cross_entropy_with_logits(pf, torch.zeros_like(pf))
                    + F.binary_cross_entropy_with_logits(pr, torch.ones_like(pr)))
        ld.backward()
        self.oD.step()
        for p in self.D.parameters():
            p.requires_grad_(False)
        self.oG.zero_grad()
        pf = self.D(torch.cat([cond, fake], 1))
        l1 = F.l1_loss(fake, real)
        lg = F.binary_cross_entropy_with_logits(pf, torch.ones_like(pf)) + 100 * l1
        lg.backward()
        self.oG.step()
        return float(l1)


# ----------------------------------------------------------------------------- one variant (subprocess)
def make_batches(size: int, batch: int, n: int, seed: int = 0, in_channels: int = 5) -> list[dict[str, torch.Tensor]]:
    """n batches of real-looking generated pairs with simulated hints (the dataset's own transforms)."""
    import tempfile

    from autopainter.config import DataConfig
    from autopainter.data.pairs import PairDataset
    from autopainter.data.synthetic import make_synthetic_pairs

    root = make_synthetic_pairs(Path(tempfile.mkdtemp()), n=max(8, batch * 2), size=size, seed=seed)
    ds = PairDataset(DataConfig(path=str(root), image_size=size, load_size=size), train=True, seed=seed,
                     in_channels=in_channels)
    out = []
    for i in range(n):
        items = [ds[i * batch + j] for j in range(batch)]
        out.append({k: torch.stack([it[k] for it in items]) for k in items[0]})
    return out


def run_variant(name: str, steps: int, warmup: int) -> dict:
    from autopainter.config import Config
    from autopainter.training.state import build_models
    from autopainter.training.runtime import prepare_models
    from autopainter.training.step import train_step

    torch.manual_seed(0)
    size, preset, overrides = {
        "reference": (256, "pix2pix", []),
        "pix2pix": (256, "pix2pix", []),
        "pix2pix-eager-fp32": (256, "pix2pix", ["train.mixed_precision=none", "train.channels_last=false", "train.compile=false"]),
        "default": (256, "default", []),
        "default-512": (512, "default", ["data.image_size=512", "data.load_size=512", "train.batch_size=4"]),
        "default-512-ckpt": (512, "default", ["data.image_size=512", "data.load_size=512", "train.batch_size=4",
                                              "train.gradient_checkpointing=true"]),
    }[name]
    cfg = Config.load(preset, overrides)
    batches = make_batches(size, cfg.train.batch_size, warmup + steps, in_channels=cfg.model.in_channels)
    if name == "reference":
        ref = Reference(cfg.model.in_channels, cfg.train.batch_size)
        step = ref.step
        settings = "fp32 eager"
    else:
        device = torch.device("cpu")
        models = prepare_models(build_models(cfg, device), cfg, device)

        def step(b):
            return float(train_step(models, cfg, b)["l1"])

        settings = f"{cfg.train.mixed_precision}, channels_last={cfg.train.channels_last}, compile={cfg.train.compile}"
    t0 = time.perf_counter()
    losses = [step(b) for b in batches[:warmup]]
    warm_s = time.perf_counter() - t0
    times = []
    for b in batches[warmup:]:
        t = time.perf_counter()
        losses.append(step(b))
        times.append(time.perf_counter() - t)
    sec = statistics.median(times)
    return {
        "variant": name,
        "preset": preset,
        "settings": settings,
        "size": size,
        "batch_size": cfg.train.batch_size,
        "sec_per_step": sec,
        "img_per_s": cfg.train.batch_size / sec,
        "warmup_s": warm_s,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "l1": losses,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10, help="timed steps per variant")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (torch.compile compiles here)")
    ap.add_argument("--variants", default="reference,pix2pix,pix2pix-eager-fp32,default,default-512,default-512-ckpt")
    ap.add_argument("--out", default=str(RESULTS / "train.json"))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(run_variant(args.worker, args.steps, args.warmup)))
        return
    rows = {}
    for v in args.variants.split(","):
        proc = subprocess.run([sys.executable, __file__, "--worker", v, "--steps", str(args.steps),
                               "--warmup", str(args.warmup)], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{v}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows[v] = r
        print(f"{v:20s} {r['size']}px b{r['batch_size']}  {r['img_per_s']:6.2f} img/s  "
              f"{r['sec_per_step']:.3f} s/step  peak {r['peak_rss_gb']:.2f} GB  (warm-up {r['warmup_s']:.0f} s; "
              f"{r['settings']})", flush=True)
    summary = {}
    if "reference" in rows and "pix2pix" in rows:
        ref, ours = rows["reference"], rows["pix2pix"]
        summary["pix2pix_over_reference"] = ours["img_per_s"] / ref["img_per_s"]
        n = min(len(ref["l1"]), len(ours["l1"]))
        summary["l1_reference_first_last"] = [ref["l1"][0], ref["l1"][n - 1]]
        summary["l1_pix2pix_first_last"] = [ours["l1"][0], ours["l1"][n - 1]]
        print(f"L1 over {n} steps: reference {ref['l1'][0]:.3f} -> {ref['l1'][n - 1]:.3f}, "
              f"pix2pix preset {ours['l1'][0]:.3f} -> {ours['l1'][n - 1]:.3f}")
    if "reference" in rows and "default" in rows:
        summary["default_over_reference"] = rows["default"]["img_per_s"] / rows["reference"]["img_per_s"]
    for v in ("default-512", "default-512-ckpt"):
        if v in rows:
            summary[f"{v}_peak_gb"] = rows[v]["peak_rss_gb"]
    path = write_json(args.out, {"benchmark": "train", "variants": rows, "summary": summary})
    print(f"wrote {path}")
    for k, v in summary.items():
        if not k.startswith("l1_"):
            print(f"{k}: {v:.2f}")


if __name__ == "__main__":
    main()
