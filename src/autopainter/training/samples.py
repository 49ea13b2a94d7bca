"""Per-epoch sample grids of fixed validation sketches and the animated ``progress.gif`` across epochs
(the paper's training visualization): one row per sketch, columns sketch | hints | output | target.

The generator is fed the dataset's ``input`` (``models.inputs.encode_inputs``), as in training."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..config import Config
from ..imageio import atomic_write_bytes, save_image, tensor_to_uint8


def hint_overlay(sketch: torch.Tensor, hint: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The sketch with the hint colors painted where mask is 1. sketch (1,H,W), hint (3,H,W), mask (1,H,W)
    -> (3,H,W), all in [-1, 1]."""
    return torch.where(mask > 0.5, hint, sketch.expand(3, -1, -1))


MAX_GIF_FRAMES = 60


class SampleWriter:
    """The first ``data.num_val_samples`` validation items, fixed for the whole run; ``write`` renders
    them with a generator into ``samples/epoch-NNNN.png`` and refreshes ``progress.gif``."""

    def __init__(self, run_dir: Path, val_set, cfg: Config):
        self.dir = Path(run_dir) / "samples"
        self.cfg = cfg
        n = min(cfg.data.num_val_samples, len(val_set))
        items = [val_set[i] for i in range(n)]
        self.batch = {k: torch.stack([it[k] for it in items]) for k in items[0]}

    @torch.no_grad()
    def write(self, G: torch.nn.Module, epoch: int, device: torch.device) -> Path:
        b = {k: v.to(device) for k, v in self.batch.items()}
        was_training = G.training
        G.eval()
        fake = G(b["input"]).float().cpu()
        G.train(was_training)
        rows = []
        for i in range(fake.shape[0]):
            s, h, m, t = (self.batch[k][i] for k in ("sketch", "hint", "mask", "color"))
            cols = [s.expand(3, -1, -1), hint_overlay(s, h, m), fake[i], t]
            rows.append(np.concatenate([tensor_to_uint8(c) for c in cols], axis=1))
        grid = np.concatenate(rows, axis=0)  # (n*H, 4*W, 3)
        path = self.dir / f"epoch-{epoch:04d}.png"
        save_image(grid, path)
        self._write_gif()
        return path

    def _write_gif(self) -> None:
        frames = []
        paths = sorted(self.dir.glob("epoch-*.png"))
        if len(paths) > MAX_GIF_FRAMES:  # long runs: evenly spaced epochs, always the latest
            keep = {round(i * (len(paths) - 1) / (MAX_GIF_FRAMES - 1)) for i in range(MAX_GIF_FRAMES)}
            paths = [p for i, p in enumerate(paths) if i in keep]
        for p in paths:
            with Image.open(p) as im:
                im = im.convert("RGB")
                if max(im.size) > 1024:  # keep the animation light
                    im.thumbnail((1024, 1024))
                frames.append(im.convert("P", palette=Image.Palette.ADAPTIVE))
        buf = io.BytesIO()
        frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=500, loop=0)
        atomic_write_bytes(self.dir.parent / "progress.gif", buf.getvalue())
