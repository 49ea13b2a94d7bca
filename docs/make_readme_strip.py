"""Make the README's first picture, docs/img/readme-strip.png: sketch -> hints -> result, by the bundled model.

    python docs/make_readme_strip.py [--foreign data/wesnoth]

Two drawings the model never trained on, in rows: the character fixture (``tests/fixtures/character``: a Big Heads
character of the characters *test* split, line art by ``autopainter sketchify``) and one Battle for Wesnoth
portrait of the foreign test split (``autopainter prepare wesnoth``; the middle one by name, fixed by the split
alone, not chosen by looking at results). Columns: the sketch; three hint strokes on it (one on each of the
three largest true materials, in its true median color, placed as the locality protocol places strokes); the
result; the result with no hints.

The PNG carries the bundled model's digest (``MODEL_KEY``); ``tests/test_readme_strip.py`` fails when the
bundled model changes and the picture was not made again.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, PngImagePlugin

from autopainter.data.hints import hints_to_rgba
from autopainter.data.materials import PAPER, material_path, read_material_map
from autopainter.evaluate_locality import STROKE_LENGTH, STROKE_WIDTH, deepest_point, hint_stroke, material_ink, scaled
from autopainter.inference import Colorizer
from autopainter.inference.colorizer import bundled_model_dir

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "img" / "readme-strip.png"
MODEL_KEY = "autopainter-model"  # the PNG text chunk holding the bundled model's digest
CELL, HEADER = 200, 20
STROKES = 3


def model_digest() -> str:
    """The bundled model's digest: its weights, config and palettes."""
    h = hashlib.sha256()
    for name in ("config.json", "model.safetensors", "palettes.json"):
        p = bundled_model_dir() / name
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def strokes(sketch: np.ndarray, color: np.ndarray, mmap) -> np.ndarray:
    """(H, W, 4) RGBA hints: one stroke on each of the ``STROKES`` largest materials (not the open paper), in its
    median color."""
    labels = mmap.labels
    ink = material_ink(sketch, labels)
    ids, counts = np.unique(labels[~ink], return_counts=True)
    keep = (ids > 0) & np.array([mmap.names.get(int(i), "") != PAPER for i in ids], bool)
    ids, counts = ids[keep], counts[keep]
    rgb = np.zeros((*sketch.shape, 3), np.uint8)
    mask = np.zeros(sketch.shape, bool)
    for m in ids[np.argsort(-counts)][:STROKES]:
        inside = (labels == m) & ~ink
        s = hint_stroke(inside, deepest_point(inside), scaled(STROKE_LENGTH * 256 * 2, sketch.shape),
                        scaled(STROKE_WIDTH * 2, sketch.shape))
        rgb[s] = np.median(color[inside], axis=0).astype(np.uint8)
        mask |= s
    return hints_to_rgba(rgb, mask)


def row(colorizer: Colorizer, sketch: np.ndarray, color: np.ndarray, mmap) -> list[np.ndarray]:
    hints = strokes(sketch, color, mmap)
    shown = np.stack([sketch] * 3, 2).copy()
    painted = hints[..., 3] > 0
    shown[painted] = hints[..., :3][painted]
    result = colorizer.colorize(sketch, Image.fromarray(hints, "RGBA")).image
    plain = colorizer.colorize(sketch).image
    return [np.stack([sketch] * 3, 2), shown, np.asarray(result), np.asarray(plain)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--foreign", default=str(REPO / "data" / "wesnoth"), help="a prepared Wesnoth folder")
    ap.add_argument("-o", "--out", default=str(OUT))
    args = ap.parse_args(argv)
    colorizer = Colorizer.from_pretrained()
    rows = []
    fix = REPO / "tests" / "fixtures" / "character"
    sketch = np.asarray(Image.open(fix / "sketch.png").convert("L"))
    color = np.asarray(Image.open(fix / "color.png").convert("RGB"))
    rows.append(("a Big Heads character (test split)", row(colorizer, sketch, color,
                                                           read_material_map(fix / "materials.png"))))
    test = Path(args.foreign) / "test"
    names = sorted(p for p in test.glob("*.png"))
    pick = names[len(names) // 2]
    pair = np.asarray(Image.open(pick).convert("RGB"))
    w = pair.shape[1] // 2
    color, sketch = pair[:, :w], np.asarray(Image.fromarray(pair[:, w:]).convert("L"))
    rows.append((f"a Battle for Wesnoth portrait ({pick.stem}, never trained on)",
                 row(colorizer, sketch, color, read_material_map(material_path(test, pick.stem)))))
    cols = ("sketch", "three hint strokes", "result", "no hints")
    img = Image.new("RGB", (CELL * len(cols), len(rows) * (CELL + 2 * HEADER)), "white")
    d = ImageDraw.Draw(img)
    for i, (title, cells) in enumerate(rows):
        y = i * (CELL + 2 * HEADER)
        d.text((4, y + 4), title, fill="black")
        for j, (name, a) in enumerate(zip(cols, cells)):
            im = Image.fromarray(a)
            im.thumbnail((CELL - 8, CELL - 8), Image.Resampling.LANCZOS)
            img.paste(im, (j * CELL + (CELL - im.width) // 2, y + 2 * HEADER + (CELL - im.height) // 2))
            d.text((j * CELL + 4, y + HEADER + 2), name, fill="#555555")
    info = PngImagePlugin.PngInfo()
    info.add_text(MODEL_KEY, model_digest())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    img.save(args.out, pnginfo=info, optimize=True)
    print(f"wrote {args.out} (model {model_digest()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
