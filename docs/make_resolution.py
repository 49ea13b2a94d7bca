"""Make the pictures and figures of docs/resolution.md: the sketch's own lines over a flat color layer,
against plain resizing of the generator's output.

    python docs/make_resolution.py [--model DIR] [--render 2048] [--package-dir DIR]

Inputs: OpenMoji line art (black SVG = sketch, color SVG = the artist's colors; CC BY-SA 4.0) rendered at
--render px, from the cache `autopainter prepare openmoji` fills (or --package-dir). The emoji are from
the test split of the OpenMoji build, so no model trained on its train split has seen them. The model:
--model, else the bundled one. Both results come from one ``Colorizer`` (fp32): plain resizing is its
generator's output scaled to the sketch's size, bicubic (``scaled_output``, here: the product never does
it), ours is the default method.

Printed figures, over the emoji in ``EMOJI``:
- ``black kept``: of the sketch's pure black pixels, the share that is exactly black in the result;
- ``line MAE``: mean |result - color render| over the sketch's line pixels (gray < 128), 0-255;
- ``PSNR``: of the result against the color render, whole image. With a model, colors it got wrong
  count too; so also the **perfect-generator** case, where the generator's output is replaced by the
  color render shrunk to the working resolution: what each method makes of a flawless 256 px result.
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from autopainter import compose
from autopainter.inference import Colorizer, bundled_model_dir, working_size

IMG = Path(__file__).parent / "img"
EMOJI = ["1F31B", "1F348", "1F35E", "1F375", "1F37C", "1F37F", "1F397", "1F39A", "1F3A3", "1F3A9", "1F3F7",
         "1F442", "1F463", "1F465", "1F467", "1F3C3"]  # test split of the OpenMoji 17.0.0 build
FIGURE = "1F467"  # girl: hair, face, eyes and thin inner strokes
TILE = 256



def scaled_output(colorizer: Colorizer, sketch: Image.Image) -> Image.Image:
    """The old way, for comparison only: the generator's output at the working resolution, scaled (bicubic)
    to the sketch's size, its lines and all."""
    prep = colorizer.prepare(sketch)
    img = Image.fromarray(colorizer.generate(prep.x))
    H, W = prep.sketch.shape
    return img if img.size == (W, H) else img.resize((W, H), Image.Resampling.BICUBIC)

def render(pkg: Path, name: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(sketch (H, W) uint8, color (H, W, 3) uint8) of one emoji."""
    from autopainter.data.sources.openmoji import render_svg

    color = render_svg((pkg / "color" / "svg" / f"{name}.svg").read_bytes(), size)
    black = render_svg((pkg / "black" / "svg" / f"{name}.svg").read_bytes(), size)
    return np.asarray(Image.fromarray(black).convert("L")), color


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((a.astype(np.float64) - b) ** 2)))


def scores(result: np.ndarray, sketch: np.ndarray, color: np.ndarray) -> dict[str, float]:
    black, line = sketch == 0, sketch < 128
    return {
        "black kept": float((result[black] == 0).all(axis=-1).mean()),
        "line MAE": float(np.abs(result[line].astype(np.float64) - color[line]).mean()),
        "PSNR": psnr(result, color),
    }


def perfect_generator(sketch: np.ndarray, color: np.ndarray, long_side: int) -> tuple[np.ndarray, np.ndarray]:
    """(plain resize, ours) when the generator's output is the color render at the working resolution."""
    H, W = sketch.shape
    h, w = working_size(H, W, long_side)
    small = np.asarray(Image.fromarray(color).resize((w, h), Image.Resampling.LANCZOS))
    plain = np.asarray(Image.fromarray(small).resize((W, H), Image.Resampling.BICUBIC))
    small_sk = np.asarray(Image.fromarray(sketch).resize((w, h), Image.Resampling.LANCZOS))  # as Colorizer does
    ours = compose.multiply_lines(compose.color_layer(small, small_sk, (W, H)), sketch)
    return plain, ours


def labelled(tiles: list[np.ndarray], labels: list[str], gap: int = 4) -> Image.Image:
    """Rows of equal tiles side by side with a label above each column."""
    th, tw = tiles[0].shape[:2]
    cols = len(labels)
    rows = len(tiles) // cols
    head = 18
    out = Image.new("RGB", (cols * tw + (cols - 1) * gap, head + rows * th + (rows - 1) * gap), (255, 255, 255))
    d = ImageDraw.Draw(out)
    for c, text in enumerate(labels):
        d.text((c * (tw + gap) + 4, 3), text, fill=(0, 0, 0))
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        out.paste(Image.fromarray(t if t.ndim == 3 else np.repeat(t[..., None], 3, 2)), (c * (tw + gap), head + r * (th + gap)))
    return out


def checker(h: int, w: int, cell: int = 8) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    v = np.where(((y // cell) + (x // cell)) % 2 == 0, 255, 220).astype(np.uint8)
    return np.repeat(v[..., None], 3, 2)


def save_small(img: Image.Image, path: Path, limit_kb: int = 300) -> None:
    img.save(path, optimize=True)
    if path.stat().st_size > limit_kb * 1024:  # keep the repository light: 256 colors are plenty here
        img.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
    print(f"{path} ({path.stat().st_size / 1024:.0f} KB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model folder (default: the bundled model)")
    ap.add_argument("--render", type=int, default=2048, help="sketch size in pixels (default 2048)")
    ap.add_argument("--size", type=int, help="working resolution (default: the model's training size)")
    ap.add_argument("--package-dir", help="an extracted openmoji npm package (default: the prepare cache)")
    args = ap.parse_args()
    from autopainter.data.sources.openmoji import OPENMOJI_VERSION, default_cache_dir, find_package_dir

    pkg = find_package_dir(args.package_dir or default_cache_dir() / f"openmoji-{OPENMOJI_VERSION}")
    model = args.model or bundled_model_dir()
    ours = Colorizer.from_pretrained(model, size=args.size, precision="fp32")
    plain = partial(scaled_output, ours)
    print(f"model {model} (trained at {ours.info.image_size} px), working size {ours.size}, "
          f"sketches {args.render} px")

    # ---- figures
    rows = {k: [] for k in ("model: plain resize", "model: ours", "perfect: plain resize", "perfect: ours")}
    for name in EMOJI:
        sketch, color = render(pkg, name, args.render)
        rows["model: plain resize"].append(scores(np.asarray(plain(sketch)), sketch, color))
        rows["model: ours"].append(scores(np.asarray(ours(sketch)), sketch, color))
        p, o = perfect_generator(sketch, color, ours.size)
        rows["perfect: plain resize"].append(scores(p, sketch, color))
        rows["perfect: ours"].append(scores(o, sketch, color))
    print(f"\n{len(EMOJI)} OpenMoji test emoji at {args.render} px, working size {ours.size}:")
    print(f"| {'':24s} | black kept | line MAE | PSNR (dB) |")
    print(f"|{'-' * 26}|-----------:|---------:|----------:|")
    for k, v in rows.items():
        m = {s: np.mean([r[s] for r in v]) for s in v[0]}
        print(f"| {k:24s} | {m['black kept'] * 100:9.1f}% | {m['line MAE']:8.1f} | {m['PSNR']:9.2f} |")

    # ---- pictures
    IMG.mkdir(exist_ok=True)
    sketch, color = render(pkg, FIGURE, args.render)
    res = ours.colorize(sketch)
    flat_plain = np.asarray(plain(sketch))
    prep = ours.prepare(sketch)
    generated = ours.generate(prep.x)  # what the generator made, at the working resolution
    gen_up = np.asarray(Image.fromarray(generated).resize(sketch.shape[::-1], Image.Resampling.NEAREST))
    full = [sketch, gen_up, flat_plain, np.asarray(res.image)]
    s = args.render
    y0 = x0 = int(s * 0.41) - TILE // 2  # a 1:1 crop around the left eye
    p_plain, p_ours = perfect_generator(sketch, color, ours.size)
    H, W = sketch.shape
    h, w = working_size(H, W, ours.size)
    p_small = Image.fromarray(color).resize((w, h), Image.Resampling.LANCZOS).resize((W, H), Image.Resampling.NEAREST)
    perfect = [color, np.asarray(p_small), p_plain, p_ours]
    crops = [a[y0 : y0 + TILE, x0 : x0 + TILE] for a in full + perfect]
    small = [np.asarray(Image.fromarray(a).resize((TILE, TILE), Image.Resampling.LANCZOS)) for a in full]
    labels = [f"sketch ({s} px)", f"generator output ({ours.size} px)", "plain resize", "ours"]
    save_small(labelled(small + crops, labels), IMG / "resolution-compare.png")

    lines = np.asarray(res.lines).astype(np.float32)
    a = lines[..., 3:] / 255.0
    on_checker = (checker(s, s) * (1 - a)).astype(np.uint8)  # black ink over a checkerboard
    layer_tiles = [np.asarray(res.color), on_checker, np.asarray(res.image)]
    layer_tiles = [np.asarray(Image.fromarray(t).resize((TILE, TILE), Image.Resampling.LANCZOS)) for t in layer_tiles]
    save_small(labelled(layer_tiles, ["NAME_color.png", "NAME_lines.png", "NAME.png"]), IMG / "resolution-layers.png")


if __name__ == "__main__":
    main()
