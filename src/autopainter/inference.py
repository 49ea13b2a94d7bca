"""Coloring sketches with a trained model: ``Colorizer.from_pretrained(dir)(sketch, hints=None) -> image``.

The generator runs at a working resolution (the long side, by default the size the model was trained
at, keeping the aspect ratio) and the result is brought back to the input's exact size: never squashed
to a square.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image

from .data.hints import hints_from_rgba
from .imageio import ImageError, flatten_on_white, from_unit, open_image, to_unit
from .models.io import ModelFileError, load_generator
from .models.unet import UNetGenerator, generator_input

ImageLike = Union[str, Path, Image.Image, np.ndarray]


def bundled_model_dir() -> Path:
    """The default model shipped inside the package."""
    return Path(str(resources.files("autopainter") / "weights"))


def _as_pil(img: ImageLike, what: str) -> Image.Image:
    if isinstance(img, (str, Path)):
        return open_image(img)
    if isinstance(img, Image.Image):
        return img
    if isinstance(img, np.ndarray):
        if img.dtype != np.uint8 or img.ndim not in (2, 3):
            raise ImageError(f"{what}: expected a uint8 array of shape (H, W), (H, W, 3) or (H, W, 4)")
        return Image.fromarray(img)
    raise ImageError(f"{what}: expected a path, a PIL image or a numpy array, got {type(img).__name__}")


def working_size(h: int, w: int, long_side: int) -> tuple[int, int]:
    """(h, w) scaled so the long side is ``long_side`` (never up-scaled past the input), aspect kept."""
    scale = min(1.0, long_side / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


class Colorizer:
    """A loaded generator and how to run it.

    >>> colorizer = Colorizer.from_pretrained("my-model")
    >>> image = colorizer("sketch.png", hints="hints.png")  # PIL.Image, the sketch's size
    """

    def __init__(self, generator: UNetGenerator, config: dict, device: str | torch.device = "cpu", size: int | None = None):
        self.generator = generator.to(device).eval()
        self.config = config
        self.device = torch.device(device)
        self.size = int(size if size is not None else config.get("image_size", 256))
        if self.size <= 0:
            raise ValueError(f"size must be > 0, got {self.size}")

    @classmethod
    def from_pretrained(cls, model_dir: str | Path | None = None, device: str = "cpu", size: int | None = None) -> "Colorizer":
        """Load a model folder (config.json + model.safetensors); None loads the bundled default model."""
        if not (device == "cpu" or (device.startswith("cuda") and torch.cuda.is_available())):
            raise ValueError(f"device {device!r} is not available here; use cpu" + (" or cuda" if torch.cuda.is_available() else ""))
        if model_dir is None:
            model_dir = bundled_model_dir()
            if not (model_dir / "config.json").is_file():
                raise ModelFileError("this install has no bundled model; pass a model folder (--model DIR)")
        gen, meta = load_generator(model_dir, device)
        return cls(gen, meta, device, size)

    @torch.no_grad()
    def __call__(self, sketch: ImageLike, hints: ImageLike | None = None) -> Image.Image:
        """Color ``sketch`` (any size; transparency is composited on white). ``hints``: an RGBA image,
        transparent except where a color is given, at any size (it is stretched over the sketch).
        Returns an RGB PIL image of the sketch's exact size."""
        sk = flatten_on_white(_as_pil(sketch, "sketch")).convert("L")
        W, H = sk.size
        h, w = working_size(H, W, self.size)
        x_sk = to_unit(np.asarray(sk.resize((w, h), Image.Resampling.LANCZOS) if (h, w) != (H, W) else sk))
        hint = np.zeros((h, w, 3), np.float32)
        mask = np.zeros((h, w), np.float32)
        if hints is not None:
            hint_img = _as_pil(hints, "hints")
            if hint_img.mode not in ("RGBA", "LA", "PA") and "transparency" not in hint_img.info:
                raise ImageError("hints: expected an RGBA image, transparent except where colors are painted "
                                 "(this one has no transparency, so every pixel would be a hint)")
            rgba = hint_img.convert("RGBA")
            # Nearest keeps the painted colors exact; hints are sparse marks, not photos.
            rgb, m = hints_from_rgba(np.asarray(rgba.resize((w, h), Image.Resampling.NEAREST)))
            hint = np.where(m[..., None], to_unit(rgb), 0.0).astype(np.float32)
            mask = m.astype(np.float32)
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(self.device)  # noqa: E731
        x = generator_input(
            t(x_sk)[None, None],  # (1, 1, h, w)
            t(hint.transpose(2, 0, 1))[None],  # (1, 3, h, w)
            t(mask)[None, None],  # (1, 1, h, w)
            self.generator.cfg.in_channels,
        )
        y = self.generator(x)[0].float().cpu().numpy().transpose(1, 2, 0)  # (h, w, 3) in [-1, 1]
        out = Image.fromarray(from_unit(y))
        if out.size != (W, H):
            out = out.resize((W, H), Image.Resampling.BICUBIC)
        return out
