"""The one image I/O module: reading user images safely, tensor <-> image conversion, atomic writes,
and OpenRaster (``.ora``) files of layers.

Every image that enters Auto-Painter (training pairs, sketches to color, hint files) is read here, so
the rules are the same everywhere: EXIF orientation applied, transparency composited on white for
art, a pixel cap against decompression bombs, and a short ``ImageError`` naming the file on failure.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
DEFAULT_MAX_PIXELS = 4096 * 4096 * 4  # 64 MP: far above any sketch, far below a decompression bomb


UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")  # what decode_image accepts by default


class ImageError(ValueError):
    """An image that cannot be used; the message names the file and the problem."""


class NotAnImageError(ImageError):
    """Data that is not an image of a supported format."""


class ImageTooLargeError(ImageError):
    """An image over the pixel limit (a decompression bomb, or just too big)."""


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name. Raises ImageError when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"not a folder: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ImageError(f"no images in {folder} (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return files


def open_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open and fully decode an image file, with EXIF orientation applied.

    Raises ImageError for a missing, unreadable, corrupt or oversized file.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"no such image file: {path}")
    return _decode(path, str(path), max_pixels, None)


def decode_image(data: bytes | BinaryIO, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS,
                 formats: tuple[str, ...] | None = UPLOAD_FORMATS) -> Image.Image:
    """``open_image`` for bytes or a binary file object (uploads, downloads): the same rules, and only the
    common ``formats``. A file is read as the decoder goes, never copied into memory whole.

    ``name`` stands for the source in error messages. Raises NotAnImageError for bytes that are no image
    of ``formats``, ImageTooLargeError over ``max_pixels``, ImageError for a corrupt image.
    """
    return _decode(data if hasattr(data, "read") else io.BytesIO(data), name, max_pixels, formats)


def image_pixels(fp: BinaryIO) -> int | None:
    """Width x height of the image in a binary file, from its header alone (nothing is decoded), or None
    when it is no image Pillow can open; the file position is kept."""
    pos = fp.tell()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # decompression bomb warnings: decode_image judges the size
            with Image.open(fp) as img:
                return img.width * img.height
    except Exception:
        return None
    finally:
        fp.seek(pos)


_PILLOW_LIMIT_LOCK = threading.Lock()


def _allow_pixels(max_pixels: int) -> None:
    """Raise Pillow's own decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``, ~89 MP, an error at twice
    that) to ``max_pixels`` when that is higher, so that a caller's larger limit really holds. The limit
    is process-wide and only ever raised: each call still enforces its own ``max_pixels`` on the header."""
    with _PILLOW_LIMIT_LOCK:
        if Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS:
            Image.MAX_IMAGE_PIXELS = int(max_pixels)


def _decode(fp, name: str, max_pixels: int, formats: tuple[str, ...] | None) -> Image.Image:
    _allow_pixels(max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(fp, formats=formats)
            w, h = img.size
            if w * h > max_pixels:  # checked on the header, before any pixel is decoded
                raise ImageTooLargeError(f"{name}: {w}x{h} is over the {max_pixels:,}-pixel limit")
            img.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # Pillow's guard, which _allow_pixels keeps at or above max_pixels: the image is over both
        m = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(m.group(1)):,} pixels" if m else "too many pixels"
        raise ImageTooLargeError(f"{name}: {size} is over the {max_pixels:,}-pixel limit") from None
    except UnidentifiedImageError as e:
        if formats:
            raise NotAnImageError(f"{name}: not an image, or not one of {', '.join(formats)}") from None
        raise NotAnImageError(f"{name}: not a readable image (an unknown format, or a damaged file)") from None
    except (OSError, SyntaxError, ValueError) as e:
        why = str(e).splitlines()[0] if str(e) else ""
        raise ImageError(f"{name}: corrupt or truncated image" + (f" ({why})" if why else "")) from None
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block must not make a good image unusable
        pass
    return img


def flatten_on_white(img: Image.Image) -> Image.Image:
    """RGB image with any transparency composited on white (how line art is meant to be seen).

    16- and 32-bit grayscale (scans) are scaled down to 8 bits; Pillow's own conversion would clip them.
    """
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        a = np.asarray(img).astype(np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
        if img.mode == "F" and a.max(initial=0) <= 1.0:
            top = 1.0
        return Image.fromarray(np.clip(np.rint(a * (255.0 / top)), 0, 255).astype(np.uint8), "L").convert("RGB")
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    return img.convert("RGB")


def read_rgb(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """(H, W, 3) uint8, transparency on white."""
    return np.asarray(flatten_on_white(open_image(path, max_pixels)))


def read_gray(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """(H, W) uint8 luminance, transparency on white: how sketches are read."""
    return np.asarray(flatten_on_white(open_image(path, max_pixels)).convert("L"))


# ------------------------------------------------------------------------------ conversions
def to_unit(a: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return a.astype(np.float32) / 127.5 - 1.0


def from_unit(a: np.ndarray) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255], rounded and clipped."""
    return np.clip(np.rint((a + 1.0) * 127.5), 0, 255).astype(np.uint8)


def tensor_to_uint8(t) -> np.ndarray:
    """(C, H, W) torch tensor in [-1, 1] -> (H, W, C) uint8 (C=1 gives (H, W, 3) gray)."""
    a = t.detach().float().cpu().numpy()
    if a.shape[0] == 1:
        a = np.repeat(a, 3, axis=0)
    return from_unit(a.transpose(1, 2, 0))


# ------------------------------------------------------------------------------ atomic writes
# atomic_write_bytes writes NAME through ".NAME.XXXXXXXX.tmp" beside it (mkstemp: 8 characters of
# [a-z0-9_]); a process killed mid-write leaves that file behind, and remove_stale_temps finds it.
_TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}" + re.escape(_TEMP_SUFFIX) + "$")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TEMP_SUFFIX)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is that of a temporary file ``atomic_write_bytes`` makes (left behind if killed)."""
    return bool(_TEMP_NAME.match(name))


def remove_stale_temps(folder: str | Path, names: tuple[str, ...] | None = None) -> list[Path]:
    """Delete the temporary files that ``atomic_write_bytes`` left in ``folder`` when its process was killed
    mid-write (for the target file names ``names``; None: any). Returns what was removed.

    Call it only where no other process is writing those files (a run folder being resumed, a model
    folder being written): an unfinished write of another process looks the same."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for p in sorted(folder.iterdir()):
        m = _TEMP_NAME.match(p.name)
        if m and (names is None or m.group("name") in names) and p.is_file() and not p.is_symlink():
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask is process-wide and not thread-safe


def save_image(img: Image.Image | np.ndarray, path: str | Path, **save_kwargs) -> None:
    """Save atomically; the format comes from the suffix (PNG when there is none)."""
    import io

    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    path = Path(path)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".gif": "GIF"}.get(path.suffix.lower(), "PNG")
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save_kwargs)
    atomic_write_bytes(path, buf.getvalue())


PNG_COMPRESS_LEVEL = 1  # zlib level of written PNGs: Pillow's default 6 encodes 2.4x slower for files ~20 % smaller


def png_bytes(img: Image.Image, compress_level: int = PNG_COMPRESS_LEVEL) -> bytes:
    """``img`` encoded as PNG (made once, then sent or saved: fast zlib by default)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


# ------------------------------------------------------------------------------ OpenRaster
# OpenRaster (https://www.openraster.org/, layer stack draft 0.0.5): the open layered format Krita, GIMP and
# MyPaint read. A zip whose first entry is "mimetype" (stored, not deflated, so that the type sits at a
# fixed offset), then stack.xml (the layers, the first one on top), one PNG per layer, mergedimage.png
# (the whole picture, for viewers that do not composite) and Thumbnails/thumbnail.png (at most 256 px).
ORA_MIMETYPE = "image/openraster"
ORA_VERSION = "0.0.5"
ORA_THUMBNAIL = 256  # the long side of Thumbnails/thumbnail.png at most
ORA_COMPOSITE_OPS = ("svg:src-over", "svg:multiply")  # the blend modes Auto-Painter writes


@dataclass(frozen=True)
class OraLayer:
    """One layer of an OpenRaster file: a full-size image (written as an RGBA PNG) and how it blends."""

    name: str
    image: Image.Image
    visible: bool = True
    composite_op: str = "svg:src-over"
    opacity: float = 1.0


def ora_bytes(layers: list[OraLayer], merged: Image.Image, attrs: dict[str, str] | None = None) -> bytes:
    """An OpenRaster file holding ``layers`` (top first) over a ``merged`` image of the same size; ``attrs``:
    extra attributes of its ``<image>`` element (names other programs ignore).

    ``merged`` is stored as it is (``mergedimage.png``), so it should be what the visible layers give
    when blended by the spec; every layer must have its size. Raises ValueError otherwise."""
    import zipfile
    from xml.etree import ElementTree as ET

    if not layers:
        raise ValueError("an OpenRaster file needs at least one layer")
    w, h = merged.size
    image = ET.Element("image", {**(attrs or {}), "version": ORA_VERSION, "w": str(w), "h": str(h)})
    stack = ET.SubElement(image, "stack")
    files = []
    for i, layer in enumerate(layers):
        if layer.image.size != (w, h):
            raise ValueError(f"layer {layer.name!r} is {layer.image.size[0]}x{layer.image.size[1]}, the image {w}x{h}")
        if layer.composite_op not in ORA_COMPOSITE_OPS:
            raise ValueError(f"unknown composite-op {layer.composite_op!r}; valid: {', '.join(ORA_COMPOSITE_OPS)}")
        if not 0.0 <= layer.opacity <= 1.0:
            raise ValueError(f"layer {layer.name!r}: opacity must be in [0, 1], got {layer.opacity}")
        src = f"data/layer{i}.png"
        ET.SubElement(stack, "layer", {
            "name": layer.name, "src": src, "x": "0", "y": "0", "opacity": repr(float(layer.opacity)),
            "visibility": "visible" if layer.visible else "hidden", "composite-op": layer.composite_op})
        files.append((src, png_bytes(layer.image.convert("RGBA"))))
    thumb = merged.copy()
    thumb.thumbnail((ORA_THUMBNAIL, ORA_THUMBNAIL), Image.Resampling.LANCZOS)
    files += [("mergedimage.png", png_bytes(merged)), ("Thumbnails/thumbnail.png", png_bytes(thumb))]
    ET.indent(image)
    files.insert(0, ("stack.xml", ET.tostring(image, encoding="UTF-8", xml_declaration=True)))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in [("mimetype", ORA_MIMETYPE.encode("ascii")), *files]:  # mimetype first
            info = zipfile.ZipInfo(name)  # a fixed date: the same layers always give the same bytes
            info.external_attr = 0o644 << 16
            # stored, not deflated: the mimetype must be readable at a fixed offset, and PNGs are compressed already
            z.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED if name == "stack.xml" else zipfile.ZIP_STORED)
    return buf.getvalue()


def write_ora(path: str | Path, layers: list[OraLayer], merged: Image.Image) -> None:
    """Write ``ora_bytes(layers, merged)`` to ``path`` atomically."""
    atomic_write_bytes(path, ora_bytes(layers, merged))
