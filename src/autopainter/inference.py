"""Coloring sketches with a trained model: ``Colorizer.from_pretrained(dir)(sketch, hints=None) -> image``.

The generator runs at a working resolution (the long side, by default the size the model was trained
at, keeping the aspect ratio); the result comes back at the input's exact size with the sketch's own
lines: the generated colors become a flat color layer, scaled smoothly to full size, under the
full-resolution sketch as a multiply layer (``compose``; docs/resolution.md shows why this beats
scaling the output). ``Colorizer.colorize`` also returns the two layers.

Backends (``backend=``): ``torch`` (on CPUs with native bf16, AVX-512 BF16 or AMX, the generator runs
in bf16 with channels_last: the fastest path measured, ``benchmarks/bench_inference.py``) and ``onnx``
(ONNX Runtime; the ``onnx`` extra). ``auto`` is ``torch``.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable, Optional, Union

import numpy as np
import torch
from PIL import Image

from . import compose
from .data.hints import hints_from_rgba
from .imageio import DEFAULT_MAX_PIXELS, ImageError, flatten_on_white, from_unit, open_image, save_image, to_unit
from .models.io import ModelFileError, load_generator
from .models.unet import UNetGenerator

ImageLike = Union[str, Path, Image.Image, np.ndarray]
BACKENDS = ("auto", "torch", "onnx")
PRECISIONS = ("auto", "fp32", "bf16")
PNG_COMPRESS_LEVEL = 1  # zlib level of written PNGs: Pillow's default 6 encodes 2.4x slower for files ~20 % smaller


def bundled_model_dir() -> Path:
    """The default model shipped inside the package."""
    return Path(str(resources.files("autopainter") / "weights"))


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
        raise ImageError(f"{what}: {w}x{h} is over the {max_pixels:,}-pixel limit")
    return pil


def working_size(h: int, w: int, long_side: int) -> tuple[int, int]:
    """(h, w) scaled so the long side is ``long_side`` (never up-scaled past the input), aspect kept."""
    scale = min(1.0, long_side / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


_CORES = torch.get_num_threads()  # PyTorch's own choice at start (one per core, or OMP_NUM_THREADS)


def default_threads() -> int:
    """Threads for one generator run on the CPU: half the cores, at most 4.

    The generator runs at a small working resolution, where more threads gain little; and multi-
    threaded PyTorch kernels wait for every thread at each layer, so a run that uses every core
    stalls whenever another process takes one (on 2 cores, measured: 8 ms idle, ~0.5 s beside one busy
    core, against ~15-20 ms either way with one thread; ``benchmarks/bench_inference.py``).
    """
    return max(1, min(4, _CORES // 2))


def bf16_native(device: torch.device) -> bool:
    """Whether bf16 math is native here: CPUs with AVX-512 BF16 or AMX, CUDA GPUs from Ampere on."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    cpu = getattr(torch, "cpu", None)
    checks = [getattr(cpu, n, None) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(c()) for c in checks if c is not None)


@dataclass
class ColorizeResult:
    """A colored sketch and its two layers, all at the sketch's exact size.

    ``image``: RGB, the result. ``color``: RGB, the flat color layer (no lines). ``lines``: RGBA, the
    sketch's ink (black, alpha ``255 - gray``); ``lines`` composited over ``color`` gives ``image``.
    """

    image: Image.Image
    color: Optional[Image.Image]  # None only inside ``Colorizer.__call__``, which does not keep it
    sketch: np.ndarray = field(repr=False)  # (H, W) uint8 gray sketch the lines come from

    @cached_property
    def lines(self) -> Image.Image:
        return Image.fromarray(compose.line_layer(self.sketch), "RGBA")


@dataclass
class _Prepared:
    """A sketch read and brought to the working resolution, ready for the generator."""

    sketch: np.ndarray  # (H, W) uint8 gray, full resolution
    small: np.ndarray  # (h, w) uint8 gray, the sketch as the generator sees it
    x: np.ndarray  # (1, C, h, w) float32 in [-1, 1], the generator's input


class Colorizer:
    """A loaded generator and how to run it.

    >>> colorizer = Colorizer.from_pretrained("my-model")
    >>> image = colorizer("sketch.png", hints="hints.png")  # PIL.Image, the sketch's size
    >>> result = colorizer.colorize("sketch.png")           # .image, .color, .lines

    Args:
        generator, config: the model and its config dict (``image_size``: its training size).
        device: ``cpu`` or ``cuda``.
        size: working resolution, long side in pixels (default: the training size).
        backend: ``auto`` | ``torch`` | ``onnx`` (ONNX Runtime on the CPU; needs the ``onnx`` extra).
        precision: ``auto`` | ``fp32`` | ``bf16`` for the torch backend (auto: bf16 where it is native).
        max_pixels: the largest sketch accepted (width x height); larger ones raise ImageError.
        sketch_lines: True (default) keeps the sketch's own full-resolution lines over a flat color
            layer; False scales the generated image to the sketch's size (for comparison).
        model_dir: where the model came from (``backend="onnx"`` looks there for ``model.onnx``).
        threads: CPU threads per generator run (default ``default_threads()``: half the cores, at most 4).
    """

    def __init__(self, generator: UNetGenerator, config: dict, device: str | torch.device = "cpu",
                 size: int | None = None, backend: str = "auto", precision: str = "auto",
                 max_pixels: int = DEFAULT_MAX_PIXELS, sketch_lines: bool = True,
                 model_dir: str | Path | None = None, threads: int | None = None):
        self.generator = generator.to(device).eval()
        self.config = config
        self.device = torch.device(device)
        self.size = int(size if size is not None else config.get("image_size", 256))
        if self.size <= 0:
            raise ValueError(f"size must be > 0, got {self.size}")
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
        if int(max_pixels) <= 0:
            raise ValueError(f"max_pixels must be > 0, got {max_pixels}")
        self.max_pixels = int(max_pixels)
        self.sketch_lines = bool(sketch_lines)
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
        self._onnx = None
        if self.backend == "onnx":
            from .onnx_backend import load_runner

            self._onnx = load_runner(self.generator, model_dir=model_dir, threads=self.threads)
        self._fast = None
        if self.backend == "torch" and self.precision == "bf16":
            # a copy: self.generator stays the float32 module others may call directly
            self._fast = copy.deepcopy(self.generator).to(torch.bfloat16, memory_format=torch.channels_last)
        self._lock = threading.Lock()  # multi-threaded generator runs go one at a time (see _generate)

    @classmethod
    def from_pretrained(cls, model_dir: str | Path | None = None, device: str = "cpu", size: int | None = None,
                        **kwargs) -> "Colorizer":
        """Load a model folder (config.json + model.safetensors); None loads the bundled default model.
        Keyword arguments go to ``Colorizer`` (backend, precision, max_pixels, ...)."""
        if not (device == "cpu" or (device.startswith("cuda") and torch.cuda.is_available())):
            raise ValueError(f"device {device!r} is not available here; use cpu" + (" or cuda" if torch.cuda.is_available() else ""))
        if model_dir is None:
            model_dir = bundled_model_dir()
            if not (model_dir / "config.json").is_file():
                raise ModelFileError("this install has no bundled model; pass a model folder (--model DIR)")
        gen, meta = load_generator(model_dir, device)
        return cls(gen, meta, device, size, model_dir=model_dir, **kwargs)

    # ------------------------------------------------------------------------------ public calls
    def __call__(self, sketch: ImageLike, hints: ImageLike | None = None) -> Image.Image:
        """Color ``sketch`` (any size up to ``max_pixels``; transparency is composited on white).
        ``hints``: an RGBA image, transparent except where a color is given, at any size (it is
        stretched over the sketch). Returns an RGB PIL image of the sketch's exact size."""
        return self._finish(self._prepare(sketch, hints), self._generate, layers=False).image

    def colorize(self, sketch: ImageLike, hints: ImageLike | None = None) -> ColorizeResult:
        """Like calling the colorizer, and also the flat color layer and the transparent line layer."""
        return self._finish(self._prepare(sketch, hints), self._generate, layers=True)

    # ------------------------------------------------------------------------------ the three steps
    def _prepare(self, sketch: ImageLike, hints: ImageLike | None) -> _Prepared:
        """Read the sketch (and hints) and bring them to the working resolution."""
        sk = flatten_on_white(_as_pil(sketch, "sketch", self.max_pixels)).convert("L")
        W, H = sk.size
        h, w = working_size(H, W, self.size)
        small = sk.resize((w, h), Image.Resampling.LANCZOS) if (h, w) != (H, W) else sk
        small_a = np.asarray(small)
        hint = np.zeros((h, w, 3), np.float32)
        mask = np.zeros((h, w), np.float32)
        if hints is not None:
            hint_img = _as_pil(hints, "hints", self.max_pixels)
            if hint_img.mode not in ("RGBA", "LA", "PA") and "transparency" not in hint_img.info:
                raise ImageError("hints: expected an RGBA image, transparent except where colors are painted "
                                 "(this one has no transparency, so every pixel would be a hint)")
            rgba = hint_img.convert("RGBA")
            # Nearest keeps the painted colors exact; hints are sparse marks, not photos.
            rgb, m = hints_from_rgba(np.asarray(rgba.resize((w, h), Image.Resampling.NEAREST)))
            hint = np.where(m[..., None], to_unit(rgb), 0.0).astype(np.float32)
            mask = m.astype(np.float32)
        # numpy, not torch: this runs beside other work, where small multi-threaded torch ops stall
        if self.generator.cfg.in_channels == 5:  # sketch | hint RGB | hint mask, as models.unet.generator_input
            x = np.concatenate([to_unit(small_a)[None], hint.transpose(2, 0, 1), mask[None]])[None]  # (1, 5, h, w)
        else:  # pix2pix's RGB input: the sketch as gray RGB
            x = np.repeat(to_unit(small_a)[None, None], 3, axis=1)  # (1, 3, h, w)
        return _Prepared(sketch=np.asarray(sk), small=small_a, x=np.ascontiguousarray(x, dtype=np.float32))

    @torch.no_grad()
    def _generate(self, x: np.ndarray, threads: int | None = None) -> np.ndarray:
        """(1, C, h, w) float32 in [-1, 1] -> (h, w, 3) uint8: one generator run, on the chosen backend.

        On the CPU it uses ``threads`` (default ``self.threads``) threads; the torch backend sets
        PyTorch's (process-wide) thread count for the run and puts it back after. Runs with several
        threads go one at a time (a lock: they would fight over the cores); single-threaded runs from
        several threads (``colorize_files``) go side by side.
        """
        n = int(threads or self.threads)
        with self._lock if n > 1 else contextlib.nullcontext():
            if self._onnx is not None:
                y = self._onnx(x, threads=n)[0]  # (3, h, w)
            else:
                before = torch.get_num_threads()
                if self.device.type == "cpu" and before != n:
                    torch.set_num_threads(n)
                try:
                    xt = torch.from_numpy(x).to(self.device)
                    if self._fast is not None:
                        y = self._fast(xt.to(torch.bfloat16).contiguous(memory_format=torch.channels_last))[0]
                    else:
                        y = self.generator(xt)[0]
                    y = y.float().cpu().numpy()
                finally:
                    if torch.get_num_threads() != before:
                        torch.set_num_threads(before)
        return from_unit(y.transpose(1, 2, 0))  # (h, w, 3)

    def _finish(self, prep: _Prepared, generate: Callable[[np.ndarray], np.ndarray], layers: bool) -> ColorizeResult:
        """Run the generator and bring its colors to the sketch's full resolution."""
        out = generate(prep.x)  # (h, w, 3) uint8
        H, W = prep.sketch.shape
        if not self.sketch_lines:
            img = Image.fromarray(out)
            if img.size != (W, H):
                img = img.resize((W, H), Image.Resampling.BICUBIC)
            return ColorizeResult(image=img, color=img, sketch=prep.sketch)
        color = compose.color_layer(out, prep.small, (W, H))  # (H, W, 3): flat colors, full size
        if layers:
            image = compose.multiply_lines(color, prep.sketch)
            return ColorizeResult(image=Image.fromarray(image), color=Image.fromarray(color), sketch=prep.sketch)
        color = np.array(color, copy=True) if not color.flags.writeable else color
        image = compose.multiply_lines(color, prep.sketch, out=color)  # in place: the layer is not kept
        return ColorizeResult(image=Image.fromarray(image), color=None, sketch=prep.sketch)


# ---------------------------------------------------------------------------------- many files
@dataclass
class FileJob:
    """One sketch file to color into ``dest`` (and, with layers, ``color_dest`` and ``lines_dest``)."""

    sketch: Path
    dest: Path
    hints: Optional[Path] = None
    color_dest: Optional[Path] = None
    lines_dest: Optional[Path] = None


def layer_paths(dest: Path) -> tuple[Path, Path]:
    """Where the layers of ``dest`` go: NAME_color.png and NAME_lines.png next to it (always PNG)."""
    return dest.with_name(f"{dest.stem}_color.png"), dest.with_name(f"{dest.stem}_lines.png")


def save_output(img: Image.Image, path: str | Path) -> None:
    """Write an output image atomically; PNGs with zlib level ``PNG_COMPRESS_LEVEL``."""
    path = Path(path)
    kwargs = {"compress_level": PNG_COMPRESS_LEVEL} if path.suffix.lower() not in (".jpg", ".jpeg", ".webp", ".gif") else {}
    save_image(img, path, **kwargs)


def colorize_files(colorizer: Colorizer, jobs: Iterable[FileJob], workers: int | None = None,
                   on_done: Callable[[FileJob, Optional[ImageError]], None] | None = None) -> list[tuple[FileJob, ImageError]]:
    """Color many files, each written atomically; returns the (job, error) of files that could not be read.

    ``workers`` threads (default: one per core, at most 4) each read, color and write one file at a
    time, each generator run with ``cores // (2 * workers)`` threads (at least 1): several pipelines
    side by side keep every core busy, since decoding, composing and encoding an image use one core
    each, and most of the time goes there. ``on_done`` is called in the calling thread as each file
    finishes. Errors other than ImageError stop the run.
    """
    jobs = list(jobs)
    workers = max(1, min(int(workers if workers else min(4, _CORES)), len(jobs)))
    per_run = colorizer.threads if workers == 1 else max(1, _CORES // (2 * workers))

    def one(job: FileJob) -> Optional[ImageError]:
        layers = job.color_dest is not None or job.lines_dest is not None
        try:
            prep = colorizer._prepare(job.sketch, job.hints)
            res = colorizer._finish(prep, lambda x: colorizer._generate(x, per_run), layers=layers)
        except ImageError as e:
            return e
        save_output(res.image, job.dest)
        if job.color_dest is not None:
            save_output(res.color, job.color_dest)
        if job.lines_dest is not None:
            save_output(res.lines, job.lines_dest)
        return None

    failed: list[tuple[FileJob, ImageError]] = []
    if workers == 1:
        for job in jobs:
            err = one(job)
            if err is not None:
                failed.append((job, err))
            if on_done:
                on_done(job, err)
        return failed
    before = torch.get_num_threads()
    torch.set_num_threads(per_run)  # for the whole run: the workers' runs then leave it alone
    try:
        return _run_pool(one, jobs, workers, on_done)
    finally:
        torch.set_num_threads(before)


def _run_pool(one: Callable[[FileJob], Optional[ImageError]], jobs: list[FileJob], workers: int,
              on_done: Callable[[FileJob, Optional[ImageError]], None] | None) -> list[tuple[FileJob, ImageError]]:
    failed: list[tuple[FileJob, ImageError]] = []
    with ThreadPoolExecutor(workers, thread_name_prefix="colorize") as pool:
        pending: dict = {}
        it = iter(jobs)
        try:
            for job in it:  # at most 2 x workers files in flight: memory stays bounded for any folder
                pending[pool.submit(one, job)] = job
                if len(pending) >= 2 * workers:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    job = pending.pop(fut)
                    err = fut.result()
                    if err is not None:
                        failed.append((job, err))
                    if on_done:
                        on_done(job, err)
                    nxt = next(it, None)
                    if nxt is not None:
                        pending[pool.submit(one, nxt)] = nxt
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
    return failed
