"""Coloring sketches with a trained model: ``Colorizer.from_pretrained(dir)(sketch, hints=None) -> image``.

The generator runs at a working resolution (the long side, by default the size the model was trained
at, keeping the aspect ratio); the result comes back at the input's exact size with the sketch's own
lines: the generated colors become a flat color layer, scaled smoothly to full size, under the
full-resolution sketch as a multiply layer (``compose``; docs/resolution.md shows why this beats
scaling the output). ``Colorizer.colorize`` returns the result with its layers by name (``layers``).

Two styles (``style=``): ``flat`` (default) gives every closed region of the sketch one color
(``regions``, ``flats``): the hint color where the region holds a hint, else the median of the generated
colors over it; ``soft`` keeps the generated colors as they vary. ``Colorizer.hints_only()`` has no
generator at all: its runner (``runners.HintsOnlyRunner``) generates nothing, and the flats come from the
hints alone, the classical baseline (``--model none``).

One pipeline of three public stages, which the CLI (``colorize_files``), the web app, ``evaluate`` and the
benchmarks all call: ``prepare`` (read, bring to the working resolution, encode with
``models.inputs.encode_inputs``), ``generate`` (one run on the chosen runner) and ``finish`` (regions, flats
and composition at full resolution: a ``ColorizeResult`` holding its layers by name).

Backends (``backend=``, see ``runners``): ``torch`` (on CPUs with native bf16, AVX-512 BF16 or AMX, the
generator runs in bf16 with channels_last: the fastest path measured, ``benchmarks/bench_inference.py``)
and ``onnx`` (ONNX Runtime; the ``onnx`` extra). ``auto`` is ``torch``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Union

import numpy as np
import torch
from PIL import Image

from ..data.hints import hints_from_rgba
from ..data.sketch import looks_colored
from ..devices import bf16_native
from ..imageio import (DEFAULT_MAX_PIXELS, ImageError, ImageTooLargeError, OraLayer, atomic_write_bytes, flatten_on_white,
                       from_unit, open_image, ora_bytes)
from ..models.inputs import encode_inputs
from ..models.io import ModelFileError, ModelInfo, bundled_model_dir, load_generator
from ..models.unet import UNetGenerator
from . import compose
from .flats import flat_layer, hints_at, leave_empty, local_soft, open_paper, region_colors
from .palettes import LIBRARY_NAME, MAX_VARIANT, Materials, PaletteLibrary, find_materials, paint_materials, parse_palette
from .reference import Alignment, Match, ReferenceDrawing, align, match, paper_colors, region_means
from .regions import REGION_CACHE_BYTES, RegionCache, Regions, check_gap
from .layers import exported_layers, ora_stack
from .runners import BACKENDS, PRECISIONS, HintsOnlyRunner, Runner, TorchRunner, default_threads, make_runner

ImageLike = Union[str, Path, Image.Image, np.ndarray]
STYLES = ("flat", "soft")  # flat: one color per region of the sketch; soft: the generated colors as they are
DEFAULT_STYLE = "flat"
ORA_GAP, ORA_GAP_USED = "autopainter-gap", "autopainter-gap-used"  # the .ora's <image> attributes for the gap
ORA_VARIANT, ORA_PALETTE = "autopainter-variant", "autopainter-palette"  # ... for the palette variant and colors
PLAIN_CACHE = 64  # sketches whose no-hint generator colors a colorizer keeps (about 200 KB each at 256 px)
REFERENCE_CACHE = 8  # references a colorizer keeps read and segmented (about 2 MB each)
COLORED_SKETCH = ("the sketch looks like a colored picture, not line art: coloring it gives muddy colors; "
                  "color its extracted sketch instead")  # ``looks_colored``: a warning, the sketch is still colored
KEYFRAMES = 4  # corrected frames of a sequence that later frames match before the reference


def _as_pil(img: ImageLike, what: str, max_pixels: int) -> Image.Image:
    if isinstance(img, (str, Path)):
        return open_image(img, max_pixels=max_pixels)
    if isinstance(img, Image.Image):
        pil = img
    elif isinstance(img, np.ndarray):
        if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
            raise ImageError(f"{what}: expected a uint8 array of shape (H, W), (H, W, 3) or (H, W, 4)")
        pil = Image.fromarray(img)
    else:
        raise ImageError(f"{what}: expected a path, a PIL image or a numpy array, got {type(img).__name__}")
    w, h = pil.size
    if w * h > max_pixels:
        raise ImageTooLargeError(f"{what}: {w}x{h} is over the {max_pixels:,}-pixel limit")
    return pil


def _thumb(img: Image.Image, long_side: int = 512) -> Image.Image:
    """``img`` as RGB at most ``long_side`` px on its long side (a cheap look at a picture's colors)."""
    img = img.convert("RGB")
    if max(img.size) > long_side:
        img = img.copy()
        img.thumbnail((long_side, long_side), Image.Resampling.NEAREST)
    return img


def working_size(h: int, w: int, long_side: int) -> tuple[int, int]:
    """(h, w) scaled so the long side is ``long_side`` (never up-scaled past the input), aspect kept."""
    scale = min(1.0, long_side / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


@dataclass
class ColorizeResult:
    """A colored sketch and its layers, all at the sketch's exact size: what every caller gets.

    ``image``: RGB, the result. ``color``: RGB, the color layer under the lines (no lines). ``lines``:
    RGBA, the sketch's ink (black, alpha ``255 - gray``); ``lines`` composited over ``color`` gives
    ``image``. ``flats``: RGB, one color per region in either style (the ``color`` layer itself in the
    flat style; hint marks that fill no region, those lying on a line, show where they were painted),
    what a colorist hands on for shading; made when first asked for in the soft style.
    ``layers``: every exported layer by name (``layers.LAYERS``: color, lines, flats).
    ``to_ora()`` / ``save_ora(path)``: all of them as one OpenRaster file.
    """

    image: Image.Image
    color: Image.Image
    sketch: np.ndarray = field(repr=False)  # (H, W) uint8 gray sketch the lines come from
    style: str = DEFAULT_STYLE  # the style ``color`` was made in
    hints: Optional[Image.Image] = field(default=None, repr=False)  # the RGBA hints as given, at their own size
    make_flats: Optional[Callable[[], np.ndarray]] = field(default=None, repr=False)  # the soft style's flats, on demand
    closing: Optional[np.ndarray] = field(default=None, repr=False)  # (H, W) bool closing lines given, or None
    empty: Optional[np.ndarray] = field(default=None, repr=False)  # (H, W) bool leave-empty marks given, or None
    gap: Optional[int] = None  # the gap asked for (None: automatic)
    make_regions: Optional[Callable[[], Regions]] = field(default=None, repr=False)  # the sketch's regions, on demand
    found: list = field(default_factory=list, repr=False)  # the regions, once made (``make_regions`` fills it)
    variant: int = 0  # the palette variant asked for (``palettes``)
    named: dict = field(default_factory=dict, repr=False)  # "palette", "materials": filled when the flats are made
    warnings: list = field(default_factory=list)  # what the user should know (``COLORED_SKETCH``: a colored picture)

    @property
    def palette(self) -> Optional[dict]:
        """{material name: "#rrggbb"}: the no-hint colors of the named materials, as ``--palette`` takes them
        back (made with the flats); None for a model that names no materials."""
        self.flats  # noqa: B018 - the flats make it
        return self.named.get("palette")

    @property
    def reference(self) -> Optional[Match]:
        """How the regions matched the reference (``reference.Match``: colors, confidences, the report); None
        without a reference."""
        self.flats  # noqa: B018 - the flats make it
        return self.named.get("reference")

    def reference_report(self, min_area: int = 0) -> Optional[dict]:
        """The reference match as a JSON-ready dict: the alignment (scale, angle, fit), the reference's palette,
        and one entry per region of at least ``min_area`` px (``reference.Match.report``); None without a
        reference."""
        m = self.reference
        if m is None or self.make_regions is None:
            return None
        regions = self.make_regions()
        area = np.bincount(regions.labels.ravel(), minlength=regions.count + 1)
        final = paper_colors(regions, np.asarray(self.flats)) if self.hints is not None else None
        a = m.alignment
        # scale: px of the new sketch per px of the reference as given
        return {"alignment": {"scale": round(a.scale * m.reference.zoom, 4), "angle": round(a.angle, 2),
                              "fit": round(a.fit, 3)},
                "palette": ["#%02x%02x%02x" % tuple(int(v) for v in c) for c in m.reference.palette],
                "regions": m.report(min_area, area, final)}

    @property
    def materials(self) -> Optional[Materials]:
        """The sketch's materials (``palettes.Materials``: each region's material, names, parts), made with the
        flats; None for a model that names none."""
        self.flats  # noqa: B018 - the flats make them
        return self.named.get("materials")

    def material_labels(self) -> Optional[np.ndarray]:
        """(H, W) int32: each pixel's material (1..M, ``materials.names[id - 1]``; 0: none: paper, ink and the
        regions that keep the model's colors); None for a model that names none."""
        mats = self.materials
        if mats is None or self.make_regions is None:
            return None
        return mats.region[self.make_regions().labels].astype(np.int32)

    @property
    def gap_used(self) -> Optional[int]:
        """The gap the regions were made with (the automatic one when ``gap`` is None); None without regions."""
        return None if self.make_regions is None else int(self.make_regions().gap)

    @cached_property
    def lines(self) -> Image.Image:
        return Image.fromarray(compose.line_layer(self.sketch), "RGBA")

    @cached_property
    def flats(self) -> Image.Image:
        if self.style == "flat" or self.make_flats is None:
            return self.color
        return Image.fromarray(self.make_flats())

    @property
    def layers(self) -> dict[str, Image.Image]:
        """The exported layers by name, in ``layers.LAYERS``' order (a layer a result lacks is left out)."""
        out = {}
        for layer in exported_layers():
            img = layer.image(self)
            if img is not None:
                out[layer.name] = img
        return out

    def ora_layers(self) -> list[OraLayer]:
        """The layers of an OpenRaster file, top first, as a colorist stacks them (docs/resolution.md):

        * ``Lines``: the sketch's ink (black, alpha ``255 - gray``), normal blending (``svg:src-over``);
        * ``Flats`` in the flat style, or ``Color`` in the soft style: the visible base under the lines;
          in the soft style ``Flats`` comes first, hidden;
        * ``Hints`` (hidden, when hints were given): the RGBA hints stretched over the sketch (nearest),
          a file ``--hints`` takes back.

        The visible layers blended by the spec give ``image``. The stack is ``layers.ora_stack``."""
        out = []
        for layer, visible in ora_stack(self):
            img = layer.image(self)
            if img is not None:
                out.append(OraLayer(layer.ora_name, img, visible=visible))
        return out

    def to_ora(self) -> bytes:
        """The result as an OpenRaster file (``.ora``: Krita, GIMP, MyPaint): ``ora_layers()`` over ``image``. The
        gap asked for (``auto`` or px) and the one used are attributes of its ``<image>`` (``ORA_GAP``), so a
        page or ``--gap`` can take them back; other programs ignore them."""
        attrs = {ORA_GAP: "auto" if self.gap is None else str(int(self.gap))}
        if self.gap_used is not None:
            attrs[ORA_GAP_USED] = str(int(self.gap_used))
        attrs[ORA_VARIANT] = str(int(self.variant))
        if self.palette:
            import json

            attrs[ORA_PALETTE] = json.dumps(self.palette, separators=(",", ":"))
        return ora_bytes(self.ora_layers(), self.image, attrs=attrs)

    def save_ora(self, path: str | Path) -> None:
        """Write ``to_ora()`` to ``path`` atomically."""
        atomic_write_bytes(path, self.to_ora())


@dataclass
class Prepared:
    """A sketch read and brought to the working resolution, ready for the generator (``Colorizer.prepare``)."""

    sketch: np.ndarray  # (H, W) uint8 gray, full resolution
    small: np.ndarray  # (h, w) uint8 gray, the sketch as the generator sees it
    x: np.ndarray  # (1, C, h, w) float32 in [-1, 1], the generator's input
    hints: Optional[Image.Image] = field(default=None, repr=False)  # the RGBA hint image at its own size (flats)
    closing: Optional[np.ndarray] = field(default=None, repr=False)  # (H, W) bool closing lines (walls for the regions)
    empty: Optional[np.ndarray] = field(default=None, repr=False)  # (H, W) bool leave-empty marks
    gap: Optional[int] = None  # the gap for this sketch's regions (None: the colorizer's)
    variant: int = 0  # the palette variant (0: the palette closest to the model's own colors)
    palette: Optional[dict] = field(default=None, repr=False)  # {material name: (r, g, b)} the user's palette
    references: tuple = field(default=(), repr=False)  # ReferenceDrawings, the first confident one wins per region
    warnings: list = field(default_factory=list)  # what the user should know about this sketch (``COLORED_SKETCH``)


class Colorizer:
    """A loaded generator and how to run it: the one coloring pipeline every caller uses.

    >>> colorizer = Colorizer.from_pretrained("my-model")
    >>> image = colorizer("sketch.png", hints="hints.png")  # PIL.Image, the sketch's size
    >>> result = colorizer.colorize("sketch.png")           # .image, .color, .lines, .flats, .layers

    The pipeline, in the order it runs (the CLI, the server, ``evaluate`` and the benchmarks call these):
    ``prepare`` (read, working resolution, encode) -> ``generate`` (the runner: torch, ONNX, or the hints-only
    baseline's, which generates nothing) -> ``finish`` (regions, flats, composition at full size: the result
    with its layers by name). ``colorize`` is the three in a row; ``regions`` the sketch's closed regions.

    Args:
        generator: the model; None: the hints-only baseline (``hints_only``).
        info: its ``ModelInfo`` (``models.io``), or a mapping such as ``{"image_size": 256}``; its
            ``image_size`` (the training size) is the default working size.
        device: ``cpu`` or ``cuda``.
        size: working resolution, long side in pixels (default: the training size).
        backend: ``auto`` | ``torch`` | ``onnx`` (ONNX Runtime on the CPU; needs the ``onnx`` extra).
        precision: ``auto`` | ``fp32`` | ``bf16`` for the torch backend (auto: bf16 where it is native).
        max_pixels: the largest sketch accepted (width x height); larger ones raise ImageError.
        model_dir: where the model came from (``backend="onnx"`` looks there for ``model.onnx``).
        threads: CPU threads per generator run (default ``default_threads()``: half the cores, at most 4).
        style: ``flat`` (one color per region) or ``soft`` (the generated colors); each call may override it.
        gap: the widest gap in a line (px, full resolution) that still closes a region (``regions.segment``);
            None: twice the measured line width.
        local: hints stay local (default): a hint changes the regions the model groups with the hinted one
            (its material), every other region keeps its no-hint color (``flats.flat_layer``'s ``plain``);
            False: the hinted run's colors everywhere, as before.
        region_cache_bytes: how much the cache of regions (by sketch content, gap and closing lines) may hold:
            a re-color of the same sketch with other hints does not segment it again.
        palettes: the palette library (``palettes.PaletteLibrary``; ``from_pretrained`` reads the model folder's
            ``palettes.json``). With a model that names materials (a part head and a material head), the flat
            style colors each material with one palette color (``palettes``), and a hint reaches its material.

    Besides hints, ``colorize`` takes ``closing`` lines (walls for the regions that never show) and ``empty``
    marks (the regions holding one stay paper white), both RGBA images whose non-transparent pixels count,
    and ``gap`` for this call.
    """

    def __init__(self, generator: UNetGenerator | None, info: ModelInfo | Mapping[str, Any] | None = None,
                 device: str | torch.device = "cpu", size: int | None = None, backend: str = "auto",
                 precision: str = "auto", max_pixels: int = DEFAULT_MAX_PIXELS, model_dir: str | Path | None = None,
                 threads: int | None = None, style: str = DEFAULT_STYLE, gap: int | None = None, local: bool = True,
                 region_cache_bytes: int = REGION_CACHE_BYTES, palettes: PaletteLibrary | None = None):
        self.style = _check_style(style)
        self.gap = check_gap(gap)
        self.generator = generator.to(device).eval() if generator is not None else None
        self.info = ModelInfo.coerce(info, generator.cfg if generator is not None else None)
        self.device = torch.device(device)
        self.size = int(size if size is not None else self.info.image_size)
        if self.size <= 0:
            raise ValueError(f"size must be > 0, got {self.size}")
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
        if int(max_pixels) <= 0:
            raise ValueError(f"max_pixels must be > 0, got {max_pixels}")
        self.max_pixels = int(max_pixels)
        self.backend = "torch" if backend == "auto" else backend
        if self.backend == "onnx":
            if self.device.type != "cpu":
                raise ValueError("the onnx backend runs on the CPU; use --backend torch for cuda")
            if precision == "bf16":
                raise ValueError("bf16 is a torch-backend precision; the onnx backend runs in fp32")
            self.precision = "fp32"
        else:
            self.precision = ("bf16" if bf16_native(self.device) else "fp32") if precision == "auto" else precision
        if threads is not None and int(threads) <= 0:
            raise ValueError(f"threads must be > 0, got {threads}")
        self.threads = int(threads) if threads else default_threads()
        if self.generator is None:
            self.runner: Runner = HintsOnlyRunner()
        else:
            self.runner = make_runner(self.generator, self.backend, self.precision, self.device, self.threads, model_dir)
        self.in_channels = self.generator.cfg.in_channels if self.generator is not None else 0  # 0: no generator input
        self.local = bool(local)
        self.region_cache = RegionCache(region_cache_bytes)  # regions by sketch, gap and closing lines
        self._plain: OrderedDict[bytes, np.ndarray] = OrderedDict()  # no-hint generator colors by sketch
        self._plain_lock = threading.Lock()
        self.palettes = palettes
        self._heads: OrderedDict[bytes, tuple] = OrderedDict()  # the heads' no-hint outputs by sketch
        self._head_runner: TorchRunner | None = None
        self._references: OrderedDict[bytes, ReferenceDrawing] = OrderedDict()  # read references by content
        self._alignments: OrderedDict[bytes, Alignment] = OrderedDict()  # by sketch and reference
        if not self.runner.generates:
            self._check_without_model(self.style)

    @classmethod
    def hints_only(cls, max_pixels: int = DEFAULT_MAX_PIXELS, gap: int | None = None, style: str = "flat") -> "Colorizer":
        """No generator: each region holding a hint takes the hint's color, the rest stays paper white
        (the classical baseline; ``autopainter colorize --model none``). Only the flat style exists."""
        return cls(None, {"image_size": 256}, max_pixels=max_pixels, gap=gap, style=style)

    @classmethod
    def from_pretrained(cls, model_dir: str | Path | None = None, device: str = "cpu", size: int | None = None,
                        **kwargs) -> "Colorizer":
        """Load a model folder (config.json + model.safetensors); None or 'bundled' loads the bundled default
        model; 'none' the hints-only baseline. Keyword arguments go to ``Colorizer`` (backend, precision, ...)."""
        if not (device == "cpu" or (device.startswith("cuda") and torch.cuda.is_available())):
            raise ValueError(f"device {device!r} is not available here; use cpu" + (" or cuda" if torch.cuda.is_available() else ""))
        if model_dir is not None and str(model_dir) == "none":
            return cls.hints_only(**{k: v for k, v in kwargs.items() if k in ("max_pixels", "gap", "style")})
        if model_dir is None or str(model_dir) == "bundled":
            model_dir = bundled_model_dir()
            if not (model_dir / "config.json").is_file():
                raise ModelFileError("this install has no bundled model; pass a model folder (--model DIR)")
        gen, info = load_generator(model_dir, device)
        if "palettes" not in kwargs and (Path(model_dir) / LIBRARY_NAME).is_file():
            try:
                kwargs["palettes"] = PaletteLibrary.load(Path(model_dir) / LIBRARY_NAME)
            except ValueError as e:
                raise ModelFileError(str(e)) from None
        return cls(gen, info, device, size, model_dir=model_dir, **kwargs)

    # ------------------------------------------------------------------------------ public calls
    def __call__(self, sketch: ImageLike, hints: ImageLike | None = None, style: str | None = None, **kwargs) -> Image.Image:
        """Color ``sketch`` (any size up to ``max_pixels``; transparency is composited on white).
        ``hints``: an RGBA image, transparent except where a color is given, at any size (it is
        stretched over the sketch). ``style``: ``flat`` or ``soft`` (default: the colorizer's); ``kwargs``:
        ``colorize``'s (gap, closing, empty). Returns an RGB PIL image of the sketch's exact size:
        ``colorize(...).image``."""
        return self.colorize(sketch, hints, style, **kwargs).image

    def colorize(self, sketch: ImageLike, hints: ImageLike | None = None, style: str | None = None,
                 threads: int | None = None, gap: int | None = None, closing: ImageLike | None = None,
                 empty: ImageLike | None = None, variant: int = 0,
                 palette: Mapping[str, Any] | None = None, reference: Any = None,
                 reference_lines: ImageLike | None = None) -> ColorizeResult:
        """The whole pipeline: ``finish(prepare(sketch, hints, ...), generate(...))``: the image and its layers.
        ``gap``: this call's gap (default the colorizer's); ``closing``, ``empty``, ``variant``, ``palette``,
        ``reference``, ``reference_lines``: see ``prepare``."""
        prep = self.prepare(sketch, hints, gap=gap, closing=closing, empty=empty, variant=variant, palette=palette,
                            reference=reference, reference_lines=reference_lines)
        if prep.hints is None and self.names_materials and self._head_runner_is_main():
            self.heads(prep, threads)  # one run gives the heads and the no-hint colors (kept with the plain colors)
            return self.finish(prep, self.plain_colors(prep, threads), style=style, threads=threads)
        return self.finish(prep, self.generate(prep.x, threads), style=style, threads=threads)

    def forget(self) -> None:
        """Empty every cache (regions, the no-hint colors and heads, references, alignments): the next call costs what
        a first call on a new sketch does (benchmarks)."""
        self.region_cache.clear()
        with self._plain_lock:
            for cache in (self._plain, self._heads, self._references, self._alignments):
                cache.clear()

    def sequence(self, reference: Any, reference_lines: ImageLike | None = None) -> "Sequence":
        """A sequence of frames colored from one ``reference`` (the character's colored drawing), one ``colorize``
        call per frame in order: ``Sequence``."""
        ref = reference if isinstance(reference, ReferenceDrawing) else self.reference(reference, reference_lines)
        return Sequence(self, ref)

    def colorize_sequence(self, frames: Iterable[ImageLike], reference: Any, reference_lines: ImageLike | None = None,
                          hints: Iterable[ImageLike | None] | None = None, **kwargs) -> Iterator[ColorizeResult]:
        """Color ``frames`` in order from one ``reference``, yielding each result (``Sequence``). ``hints``: one hint
        image (or None) per frame; ``kwargs``: ``colorize``'s."""
        seq = self.sequence(reference, reference_lines)
        hint_list = iter(hints) if hints is not None else None
        for frame in frames:
            yield seq.colorize(frame, next(hint_list, None) if hint_list is not None else None, **kwargs)

    def regions(self, sketch: ImageLike, gap: int | None = None, closing: ImageLike | None = None) -> Regions:
        """The sketch's closed regions at its full size (``regions.segment`` with ``gap``, default this
        colorizer's, and the ``closing`` lines, an RGBA image like ``prepare``'s), from the region cache when
        this sketch was segmented before: ``.labels`` (H, W) int32 in 1..``.count`` (read-only)."""
        sk = np.asarray(flatten_on_white(_as_pil(sketch, "sketch", self.max_pixels)).convert("L"))
        walls = self._marks(closing, "closing", sk.shape)
        return self.region_cache.segment(sk, self.gap if gap is None else check_gap(gap), walls)

    def _marks(self, img: ImageLike | None, what: str, shape: tuple[int, int]) -> np.ndarray | None:
        """An RGBA image of marks (closing lines, leave-empty marks) stretched over a sketch of ``shape``
        (nearest): (H, W) bool, True where it is not transparent; None for None or no marks."""
        if img is None:
            return None
        pil = _as_pil(img, what, self.max_pixels)
        if pil.mode not in ("RGBA", "LA", "PA") and "transparency" not in pil.info:
            raise ImageError(f"{what}: expected an RGBA image, transparent except where marks are drawn "
                             "(this one has no transparency, so every pixel would be a mark)")
        alpha = pil.convert("RGBA").getchannel("A")
        H, W = shape
        if alpha.size != (W, H):
            alpha = alpha.resize((W, H), Image.Resampling.NEAREST)
        marks = np.asarray(alpha) > 0
        return marks if marks.any() else None

    # ------------------------------------------------------------------------------ the three stages
    def prepare(self, sketch: ImageLike, hints: ImageLike | None = None, gap: int | None = None,
                closing: ImageLike | None = None, empty: ImageLike | None = None, variant: int = 0,
                palette: Mapping[str, Any] | None = None, reference: Any = None,
                reference_lines: ImageLike | None = None) -> Prepared:
        """Read the sketch (and hints), bring them to the working resolution and encode them.

        ``gap``: the gap for this sketch's regions (default the colorizer's). ``closing``: an RGBA image
        (any size, stretched over the sketch) whose non-transparent pixels are *closing lines*: walls for the
        regions, never shown (``regions.segment``'s ``closing``). ``empty``: an RGBA image whose
        non-transparent pixels mark regions that stay paper white (the leave-empty key). ``variant``: which
        palette colors the materials (0: the one closest to the model's own colors; ``palettes``); ``palette``:
        {material name: "#rrggbb"}, colors that win over the variant's for the materials they name.
        ``reference``: a colored drawing of the same character (a path, image or array; or a ``ReferenceDrawing``
        from ``reference()``, or a sequence of them, the first confident one winning per region): the sketch's
        regions take the colors of the matching parts (``reference``), in the flat style; ``reference_lines``:
        its line art when the user has it (else it is extracted).

        Returns a ``Prepared`` whose ``x`` is the generator's input (1, C, h, w) float32 in [-1, 1]
        (C = 0 for the hints-only baseline)."""
        check_gap(gap)
        if isinstance(variant, bool) or not isinstance(variant, (int, np.integer)) or not 0 <= variant <= MAX_VARIANT:
            raise ValueError(f"variant must be a whole number from 0 to {MAX_VARIANT}, got {variant!r}")
        user = parse_palette(palette) if palette is not None else None
        flat = flatten_on_white(_as_pil(sketch, "sketch", self.max_pixels))
        warnings = [COLORED_SKETCH] if flat.mode != "L" and looks_colored(np.asarray(_thumb(flat))) else []
        sk = flat.convert("L")
        W, H = sk.size
        h, w = working_size(H, W, self.size)
        small = sk.resize((w, h), Image.Resampling.LANCZOS) if (h, w) != (H, W) else sk
        small_a = np.asarray(small)
        rgb = m = rgba = None
        if hints is not None:
            hint_img = _as_pil(hints, "hints", self.max_pixels)
            if hint_img.mode not in ("RGBA", "LA", "PA") and "transparency" not in hint_img.info:
                raise ImageError("hints: expected an RGBA image, transparent except where colors are painted "
                                 "(this one has no transparency, so every pixel would be a hint)")
            rgba = hint_img.convert("RGBA")
            if self.in_channels:  # Nearest keeps the painted colors exact; hints are sparse marks
                rgb, m = hints_from_rgba(np.asarray(rgba.resize((w, h), Image.Resampling.NEAREST)))
        # numpy, not torch: this runs beside other work, where small multi-threaded torch ops stall
        x = encode_inputs(small_a, rgb, m, self.in_channels)[None] if self.in_channels else np.zeros((1, 0, h, w), np.float32)
        full = np.asarray(sk)
        refs: tuple = ()
        if reference is not None:
            many = isinstance(reference, (list, tuple))
            if many and reference_lines is not None:
                raise ValueError("reference_lines goes with one reference; give ReferenceDrawings for several")
            refs = tuple(r if isinstance(r, ReferenceDrawing) else self.reference(r, reference_lines)
                         for r in (reference if many else [reference]))
        elif reference_lines is not None:
            raise ValueError("reference_lines needs a reference (the colored drawing)")
        return Prepared(sketch=full, small=small_a, x=x, hints=rgba, gap=gap,  # x: (1, C, h, w)
                        closing=self._marks(closing, "closing", full.shape), empty=self._marks(empty, "empty", full.shape),
                        variant=int(variant), palette=user, references=refs, warnings=warnings)

    def reference(self, image: ImageLike, lines: ImageLike | None = None) -> ReferenceDrawing:
        """A colored reference read, segmented and (with a model that names parts) named by the part head:
        ``reference.ReferenceDrawing``, kept for the last ``REFERENCE_CACHE`` references. ``lines``: its line art
        (any size; default: extracted with XDoG). Raises ImageError for an unreadable or too large picture and
        ValueError for one that holds no colors (line art given as the reference)."""
        rgb = np.asarray(flatten_on_white(_as_pil(image, "reference", self.max_pixels)).convert("RGB"))
        gray = None
        if lines is not None:
            gray = np.asarray(flatten_on_white(_as_pil(lines, "reference lines", self.max_pixels)).convert("L"))
        key = hashlib.blake2b(rgb.tobytes(), digest_size=16, key=str(rgb.shape).encode()).digest()
        if gray is not None:
            key += hashlib.blake2b(gray.tobytes(), digest_size=16, key=str(gray.shape).encode()).digest()
        with self._plain_lock:
            hit = self._references.get(key)
            if hit is not None:
                self._references.move_to_end(key)
                return hit
        ref = ReferenceDrawing.build(rgb, gray)
        self._name_parts(ref, ref.lines)
        with self._plain_lock:
            self._references[key] = ref
            while len(self._references) > REFERENCE_CACHE:
                self._references.popitem(last=False)
        return ref

    def _name_parts(self, ref: ReferenceDrawing, lines: np.ndarray) -> None:
        """With a model that names parts: the part head's names for ``ref``'s regions, from ``lines`` (its line art,
        any size: a colored frame's own sketch, whose heads were kept when it was colored)."""
        if self.names_materials:
            _, probs = self.heads(self.prepare(lines))
            ref.with_parts(probs, self.generator.cfg.parts)

    def generate(self, x: np.ndarray, threads: int | None = None) -> np.ndarray | None:
        """(1, C, h, w) float32 in [-1, 1] -> (h, w, 3) uint8: one generator run on this colorizer's runner
        (None from the hints-only runner, which generates nothing).

        On the CPU it uses ``threads`` (default ``self.threads``) threads (see ``runners``)."""
        y = self.runner(x, threads=int(threads or self.threads))
        return None if y is None else from_unit(y[0].transpose(1, 2, 0))  # (h, w, 3)

    def finish(self, prep: Prepared, generated: np.ndarray | None, layers: bool = True,
               style: str | None = None, threads: int | None = None) -> ColorizeResult:
        """Bring the generator's colors (``generate``'s (h, w, 3) uint8; None from the hints-only runner) to the
        sketch's full resolution in ``style`` (default: the colorizer's): the result with its layers. With hints
        and ``local``, it also needs the sketch's no-hint colors (``plain_colors``: kept per sketch, else one more
        generator run).
        (``layers`` is kept for callers of earlier versions: every result now has its layers, made on demand.)"""
        style = self.style if style is None else _check_style(style)
        if generated is None:
            self._check_without_model(style)
        H, W = prep.sketch.shape
        # (H, W, 3): the generated colors without their lines, full size (None: hints only)
        soft = compose.color_layer(generated, prep.small, (W, H)) if generated is not None else None
        hints = hints_at(prep.hints, (W, H))
        if prep.hints is None and generated is not None and self.local:
            self._keep_plain(prep, generated)  # this run is the no-hint run a later hinted one needs
        # hints stay local: the same sketch without hints, the colors every unhinted material keeps
        plain = None
        if self.local and hints is not None and soft is not None:
            if self.names_materials and self._head_runner_is_main():
                self.heads(prep, threads)  # one run gives the heads (the materials) and the no-hint colors
            plain = compose.color_layer(self.plain_colors(prep, threads), prep.small, (W, H))
        found: list[Regions] = []
        gap = self.gap if prep.gap is None else prep.gap

        def regions() -> Regions:
            if not found:
                found.append(self.region_cache.segment(prep.sketch, gap, prep.closing))
            return found[0]

        named: dict = {}  # the materials' palette, once made

        def make_flats() -> np.ndarray:
            base = mats = None
            if self.names_materials and self.local and soft is not None:
                base, named["materials"], named["palette"] = self._material_colors(
                    prep, regions(), soft if hints is None else plain, threads)
                mats = named["materials"].region
            if prep.references:
                if base is None:
                    base = region_colors(regions(), soft if plain is None else plain)
                named["reference"] = m = self._match(prep, regions(), base, threads)
                base, mats = m.lut, m.materials()
            return leave_empty(regions(), flat_layer(regions(), soft, hints, plain=plain, base=base, materials=mats),
                               prep.empty)

        if prep.references and style != "flat":
            raise ValueError("a reference gives flat colors: use the flat style with a reference")
        if style == "flat":
            color = make_flats()
        else:
            if plain is not None:  # soft: the hinted run's colors on the hinted materials, the no-hint run's elsewhere
                color = local_soft(regions(), soft, plain, hints)
            else:
                color = soft
            if prep.empty is not None:
                color = leave_empty(regions(), color.copy() if color is soft else color, prep.empty)
        image = compose.multiply_lines(color, prep.sketch)
        return ColorizeResult(image=Image.fromarray(image), color=Image.fromarray(color), sketch=prep.sketch,
                              style=style, hints=prep.hints, make_flats=make_flats, closing=prep.closing,
                              empty=prep.empty, gap=gap, make_regions=regions, found=found, variant=prep.variant,
                              named=named, warnings=list(prep.warnings))

    def _match(self, prep: Prepared, regions: Regions, base: np.ndarray, threads: int | None) -> Match:
        """The sketch's regions matched to each of ``prep.references`` (``reference.match``), combined: the first
        reference that matches a region confidently gives its color."""
        parts = None
        if self.names_materials:
            _, probs = self.heads(prep, threads)
            parts = region_means(regions, probs)
        sketch_key = hashlib.blake2b(prep.sketch.data, digest_size=16, key=str(prep.sketch.shape).encode()).digest()
        found = []
        for ref in prep.references:
            key = sketch_key + ref.key
            with self._plain_lock:
                known = self._alignments.get(key)
            if known is None:  # a re-color of the same sketch (new hints) does not align it again
                known = align(ref.lines, prep.sketch, ref.shape)
                with self._plain_lock:
                    self._alignments[key] = known
                    while len(self._alignments) > PLAIN_CACHE:
                        self._alignments.popitem(last=False)
            found.append(match(regions, ref, base, parts, alignment=known))
        return found[0] if len(found) == 1 else Match.first_confident(found)

    @property
    def names_materials(self) -> bool:
        """Whether the model names materials: a part head and a material head (``palettes``)."""
        g = self.generator
        return g is not None and g.part_head is not None and g.material_head is not None

    def heads(self, prep: Prepared, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The material head's embedding (h, w, D) and the part head's probabilities (h, w, P), float32 at the
        working resolution, for ``prep``'s sketch without hints (kept for the last ``PLAIN_CACHE`` sketches).
        Needs a model that ``names_materials``; the torch backend runs the heads whatever ``backend`` is."""
        key = self._plain_key(prep)
        with self._plain_lock:
            hit = self._heads.get(key)
            if hit is not None:
                self._heads.move_to_end(key)
                return hit
        if self._head_runner is None:
            self._head_runner = (self.runner if isinstance(self.runner, TorchRunner)
                                 else TorchRunner(self.generator, self.device, "fp32", self.threads))
        y, emb, probs = self._head_runner.heads(encode_inputs(prep.small, None, None, self.in_channels)[None],
                                                int(threads or self.threads))
        if self._head_runner_is_main():  # the same run the runner makes: its colors are the no-hint colors
            self._keep_plain(prep, from_unit(y[0].transpose(1, 2, 0)))
        out = (np.ascontiguousarray(emb[0].transpose(1, 2, 0)), np.ascontiguousarray(probs[0].transpose(1, 2, 0)))
        for a in out:
            a.flags.writeable = False
        with self._plain_lock:
            self._heads[key] = out
            while len(self._heads) > PLAIN_CACHE:
                self._heads.popitem(last=False)
        return out

    def _head_runner_is_main(self) -> bool:
        """Whether the heads run on the colorizer's own runner (the torch backend), so one run gives both."""
        return isinstance(self.runner, TorchRunner)

    def _material_colors(self, prep: Prepared, regions: Regions, plain: np.ndarray, threads: int | None):
        """The no-hint flat colors with one palette color per material: ((count + 1, 3) uint8, (count + 1,)
        material ids, {material name: "#rrggbb"})."""
        emb, probs = self.heads(prep, threads)
        base = region_colors(regions, plain)
        mats = find_materials(regions, probs, emb, self.generator.cfg.parts, base, open_paper(regions, base))
        rgb = paint_materials(mats, self.palettes, prep.variant, prep.palette)
        lut = base.copy()
        has = mats.region > 0
        lut[has] = rgb[mats.region[has] - 1]
        palette = {name: "#%02x%02x%02x" % tuple(int(v) for v in c) for name, c in zip(mats.names, rgb)}
        return lut, mats, palette

    def plain_colors(self, prep: Prepared, threads: int | None = None) -> np.ndarray | None:
        """The generator's colors (h, w, 3) uint8 (read-only) for ``prep``'s sketch without hints (None without a
        model): what every material a hint does not reach keeps. Kept for the last ``PLAIN_CACHE`` sketches (a
        no-hint ``colorize`` keeps its own run too), so a page painting stroke after stroke runs the generator
        once per stroke."""
        if not self.runner.generates:
            return None
        with self._plain_lock:
            hit = self._plain.get(self._plain_key(prep))
            if hit is not None:
                self._plain.move_to_end(self._plain_key(prep))
                return hit
        out = self.generate(encode_inputs(prep.small, None, None, self.in_channels)[None], threads)
        return self._keep_plain(prep, out)

    @staticmethod
    def _plain_key(prep: Prepared) -> bytes:
        return hashlib.blake2b(prep.small.tobytes(), digest_size=16, key=str(prep.small.shape).encode()).digest()

    def _keep_plain(self, prep: Prepared, generated: np.ndarray) -> np.ndarray:
        kept = generated.copy()
        kept.flags.writeable = False  # shared by every later request for this sketch
        with self._plain_lock:
            self._plain[self._plain_key(prep)] = kept
            self._plain.move_to_end(self._plain_key(prep))
            while len(self._plain) > PLAIN_CACHE:
                self._plain.popitem(last=False)
        return kept

    def material_embedding(self, prep: Prepared) -> np.ndarray | None:
        """The material head's embedding of ``prep`` (a model with ``model.material_dim``), at the sketch's
        full size: (H, W, D) float32, unit length per pixel (nearest-resized); None for a model without a
        head. Pixels whose embeddings point alike are, to the model, one material."""
        if self.generator is None or self.generator.material_head is None:
            return None
        device = next(self.generator.parameters()).device
        with torch.no_grad():
            _, emb = self.generator(torch.from_numpy(prep.x).to(device), materials=True)  # (1, D, h, w)
        emb = emb[0].permute(1, 2, 0).float().cpu().numpy()  # (h, w, D)
        H, W = prep.sketch.shape
        if emb.shape[:2] != (H, W):
            ys = (np.arange(H) * emb.shape[0] // H).clip(0, emb.shape[0] - 1)
            xs = (np.arange(W) * emb.shape[1] // W).clip(0, emb.shape[1] - 1)
            emb = emb[ys][:, xs]
        return np.ascontiguousarray(emb, np.float32)

    @staticmethod
    def _check_without_model(style: str) -> None:
        if style != "flat":
            raise ValueError("without a model only the flat style exists (flats from the hints alone)")


class Sequence:
    """Frames of one character colored in order from its reference (``Colorizer.sequence``).

    Each frame is matched to the reference and to the previous colored frame; the reference wins where it
    matches confidently, so an error in one frame does not drift into the next. A frame colored with hints is a
    correction: later frames match it before the reference (the last ``KEYFRAMES`` corrections, latest first).
    A frame that fails (an unreadable file) changes nothing for the next.
    """

    def __init__(self, colorizer: Colorizer, reference: ReferenceDrawing):
        self.colorizer = colorizer
        self.reference = reference
        self.corrected: list[ReferenceDrawing] = []
        self.previous: ReferenceDrawing | None = None

    def colorize(self, frame: ImageLike, hints: ImageLike | None = None, **kwargs) -> ColorizeResult:
        """The next frame (``Colorizer.colorize``'s arguments but the reference)."""
        refs = [*self.corrected, self.reference] + ([self.previous] if self.previous is not None else [])
        res = self.colorizer.colorize(frame, hints, reference=refs, **kwargs)
        try:  # the colored frame as a reference for the next ones (not kept in the colorizer's reference cache)
            drawing = ReferenceDrawing.build(np.asarray(res.color), res.sketch)
        except ValueError:  # no colors to take (all paper)
            return res
        self.colorizer._name_parts(drawing, res.sketch)  # the frame's own heads: kept, no second run
        if hints is not None:
            self.corrected = [drawing, *self.corrected][:KEYFRAMES]
        self.previous = drawing
        return res


def _check_style(style: str) -> str:
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; valid: {', '.join(STYLES)}")
    return style
