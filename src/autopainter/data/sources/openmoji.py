"""OpenMoji as sketch/color pairs: each emoji's color SVG and its black line-art SVG, rendered with cairosvg.

OpenMoji (https://openmoji.org) is an open-source emoji set designed by the OpenMoji project, licensed
CC BY-SA 4.0. Its npm package ``openmoji`` ships ``color/svg/HEX.svg`` and ``black/svg/HEX.svg`` for
every emoji; the black file is the "line" layer of the color file, so the pair lines up exactly:
sketch = black render, color = color render, both composited on white.

Filter (``line_visibility``): a pair is kept when the color render shows its own line art. The line
pixels are those with luminance < 128 in the black render; the pair is dropped when fewer than
``MIN_LINE_VISIBLE`` = 85 % of them are also dark (luminance < 128) in the color render. That drops the
white-on-color symbols (letters and kanji on colored squares, zodiac signs on purple) and emoji whose
lines are drawn in color (a yellow tennis ball seam, a blue halo), where the sketch shows lines the
target does not. On the 4495 emoji of version 17.0.0 at 256 px the visible fraction is >= 0.85 for
~4395; the next lowest ones (0.6-0.85) are exactly those cases, while the 0.85-0.95 band is fine art
whose black version has a few extra strokes. Pairs whose black render has almost no line pixels
(< 0.2 % of the image: a blank sketch) are dropped too, as are SVGs that fail to render.

Splits: emoji are grouped by base sequence (``base_key``: the hexcode without skin-tone modifiers
1F3FB-1F3FF, zero-width joiners 200D and variation selector FE0F), so the skin-tone variants of an
emoji never straddle train/val/test. Emoji whose color and black SVG files are byte-identical to an
earlier one (``dedupe``: 195 of 4495, e.g. "man/person in manual wheelchair", flags shared by two
regions) are left out, so one picture is never in two splits.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from ...imageio import atomic_write_bytes, flatten_on_white
from ...ink import RENDER_DARK_BELOW, luma
from ..materials import materials_from_parts, parts_from_key_render
from .npm import check_integrity, default_cache_dir, run_tool, safe_extract
from . import (
    BuildReport,
    DatasetBuildError,
    assign_splits,
    check_fractions,
    check_layout,
    check_size,
    existing_digest,
    finish_build,
    open_output,
    pair_digest,
    has_materials,
    pair_paths,
    parallel_map,
    write_pair,
)

__all__ = [
    "OPENMOJI_VERSION",
    "MIN_LINE_VISIBLE",
    "build_openmoji",
    "fetch_openmoji",
    "find_package_dir",
    "base_key",
    "line_visibility",
    "render_svg",
    "dedupe",
    "default_cache_dir",
    "safe_extract",
]

OPENMOJI_VERSION = "17.0.0"
# npm's integrity string of each known tarball, checked after download (npm checks it too, against the
# registry's own record; this pins the content we tested against).
_INTEGRITY = {
    "17.0.0": "sha512-EBnYrNGdcdw+OSXmENeNE1yBNRu6tOraTmoOyUbJkTmvT/+XETp8RZLSJFzD3lrPc5N9CzsyPnRTk0Vp4UaI9w==",
}
MIN_LINE_VISIBLE = 0.85  # share of the line pixels that must stay dark in the color render
MIN_LINE_PIXELS = 0.002  # share of the image that must be line in the black render (else: blank sketch)
_DARK = RENDER_DARK_BELOW  # luminance below which (128) a pixel counts as line / as dark
_SKIN_TONES = {"1F3FB", "1F3FC", "1F3FD", "1F3FE", "1F3FF"}
_JOINERS = {"200D", "FE0F"}  # zero-width joiner, emoji variation selector
NPM_TIMEOUT_S = 300

ATTRIBUTION = """\
# Attribution

The images in this folder were rendered from **OpenMoji {version}** (the npm package `openmoji@{version}`),
the open-source emoji and icon project: https://openmoji.org

All emoji designed by the OpenMoji project, licensed under the Creative Commons Attribution-ShareAlike
4.0 International License (CC BY-SA 4.0): https://creativecommons.org/licenses/by-sa/4.0/
{license_note}
Changes: each emoji's color SVG and black line-art SVG were rendered at {size}x{size} px on a white
background and stored as sketch/color pairs ({layout} layout); emoji whose color version hides its line
art, and repeated pictures, were left out. This derived dataset is shared under the same license, CC BY-SA 4.0.

If you publish this data or images made from it, credit "OpenMoji (https://openmoji.org), CC BY-SA 4.0".
"""


# ------------------------------------------------------------------------------ getting the package
def fetch_openmoji(version: str = OPENMOJI_VERSION, cache_dir: str | Path | None = None,
                   timeout: float = NPM_TIMEOUT_S) -> Path:
    """The extracted ``openmoji@version`` npm package folder, downloaded with ``npm pack`` on first use.

    The tarball and the extracted folder are kept in ``cache_dir`` (default ``default_cache_dir()``).

    Raises:
        DatasetBuildError: npm missing, registry unreachable, timeout, or a tarball that does not match.
    """
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    target = cache / f"openmoji-{version}"
    if (target / ".complete").is_file():
        return target / "package"
    tgz = cache / f"openmoji-{version}.tgz"
    if not tgz.is_file():
        _npm_pack(f"openmoji@{version}", tgz, timeout)
    check_integrity(tgz, _INTEGRITY.get(version))
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=cache, prefix=f".openmoji-{version}."))
    try:
        safe_extract(tgz, tmp)
        (tmp / ".complete").write_text("")
        if target.exists():  # a half-extracted folder from an interrupted run
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target / "package"


def _npm_pack(spec: str, dest: Path, timeout: float) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".npm-pack.") as tmp:
        run_tool(["npm", "pack", spec, "--loglevel=error"], Path(tmp), timeout, f"'npm pack {spec}'",
                 "or extract the package yourself and pass --package-dir")
        tarballs = list(Path(tmp).glob("*.tgz"))
        if len(tarballs) != 1:
            raise DatasetBuildError(f"'npm pack {spec}' did not produce one .tgz file (got {len(tarballs)})")
        os.replace(tarballs[0], dest)


def find_package_dir(path: str | Path) -> Path:
    """The OpenMoji package folder at ``path`` (or at ``path/package``): it holds color/svg and black/svg."""
    path = Path(path)
    for cand in (path, path / "package"):
        if (cand / "color" / "svg").is_dir() and (cand / "black" / "svg").is_dir():
            return cand
    raise DatasetBuildError(f"not an OpenMoji package folder: {path} (expected color/svg/ and black/svg/ in it)")


def package_version(package_dir: Path) -> str:
    try:
        return str(json.loads((package_dir / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown"


# ------------------------------------------------------------------------------ rendering and filtering
def _cairosvg():
    try:
        import cairosvg
    except ImportError:
        raise DatasetBuildError("cairosvg is not installed: pip install 'autopainter[data]'") from None
    except OSError as e:  # cairocffi finds no libcairo
        raise DatasetBuildError(f"the cairo library is missing (apt-get install libcairo2): {str(e).splitlines()[0]}") from None
    return cairosvg


def render_svg(svg: bytes, size: int) -> np.ndarray:
    """(size, size, 3) uint8 RGB render of an SVG, transparency composited on white."""
    from PIL import Image

    png = _cairosvg().svg2png(bytestring=svg, output_width=size, output_height=size)
    with Image.open(io.BytesIO(png)) as im:
        im.load()
        return np.asarray(flatten_on_white(im))


def line_visibility(color: np.ndarray, black: np.ndarray) -> tuple[float, float]:
    """How much of the line art shows in the color render.

    Args:
        color: (H, W, 3) uint8 color render; black: (H, W) or (H, W, 3) uint8 line-art render.

    Returns:
        (line share: fraction of the image that is line in ``black``,
         visible: fraction of those line pixels that are dark in ``color``; 0 when there are none).
    """
    bl = black if black.ndim == 2 else luma(black)
    line = bl < _DARK  # (H, W) bool
    n = int(line.sum())
    if n == 0:
        return 0.0, 0.0
    visible = float((luma(color)[line] < _DARK).mean())
    return n / line.size, visible


def base_key(hexcode: str) -> str:
    """The emoji a hexcode sequence is a variant of: without skin tones, ZWJ and FE0F.

    >>> base_key("1F44D-1F3FB"), base_key("1F468-1F3FD-200D-1F9B0"), base_key("2764-FE0F")
    ('1F44D', '1F468-1F9B0', '2764')
    """
    parts = [p for p in hexcode.upper().split("-") if p not in _SKIN_TONES and p not in _JOINERS]
    return "-".join(parts) or hexcode.upper()


def dedupe(package_dir: Path, names: list[str]) -> tuple[list[str], dict[str, str]]:
    """(names whose color + black SVGs are unique, {duplicate: the first name with the same files}).

    OpenMoji draws some emoji identically (e.g. "man/person in manual wheelchair" in each skin tone,
    flags of places that share one flag): 195 of 4495 in version 17.0.0. Keeping one of each stops the
    same picture from being in two splits (and from counting twice).
    """
    first: dict[bytes, str] = {}
    unique, duplicates = [], {}
    for n in names:  # sorted: the lowest hexcode is kept
        h = hashlib.sha256((package_dir / "color" / "svg" / f"{n}.svg").read_bytes())
        black = package_dir / "black" / "svg" / f"{n}.svg"
        h.update(b"\0" + (black.read_bytes() if black.is_file() else b""))
        key = h.digest()
        if key in first:
            duplicates[n] = first[key]
        else:
            first[key] = n
            unique.append(n)
    return unique, duplicates


@dataclass(frozen=True)
class _Job:
    name: str  # hexcode, e.g. 1F600
    split: str


def _make_pair(job: _Job, package_dir: Path, out_dir: Path, size: int, layout: str) -> tuple[str, str]:
    """Render, filter and write one emoji -> (status, detail); status: existing | made | dropped;
    detail: the pair's pixel digest (existing, made) or why it was dropped.

    Runs in a worker process: everything it needs comes in its (picklable) arguments.
    """
    paths = pair_paths(out_dir, job.split, job.name, layout)
    digest = existing_digest(paths)
    if digest is not None and has_materials(out_dir, job.split, job.name):
        return "existing", digest
    black_svg = package_dir / "black" / "svg" / f"{job.name}.svg"
    if not black_svg.is_file():
        return "dropped", "no line art: black/svg file missing"
    try:
        color_svg = (package_dir / "color" / "svg" / f"{job.name}.svg").read_bytes()
        color = render_svg(color_svg, size)
        black = render_svg(black_svg.read_bytes(), size)
    except DatasetBuildError:
        raise
    except Exception as e:  # cairosvg raises many kinds on odd SVGs: one bad emoji must not stop the set
        return "dropped", f"render error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    share, visible = line_visibility(color, black)
    if share < MIN_LINE_PIXELS:
        return "dropped", f"empty line art: {share:.2%} of the image is line"
    if visible < MIN_LINE_VISIBLE:
        return "dropped", f"lines hidden in color: {visible:.0%} of line pixels dark (< {MIN_LINE_VISIBLE:.0%})"
    sketch = luma(black)
    try:
        keyed, key_colors = keyed_parts_svg(color_svg)
        parts, names = parts_from_key_render(render_svg(keyed, size), key_colors)
    except DatasetBuildError:
        raise
    except Exception:  # an SVG whose groups cannot be keyed: its materials are its fill colors alone
        parts, names = np.zeros(sketch.shape, np.int32), {}
    write_pair(color, sketch, out_dir, job.split, job.name, layout,
               materials=materials_from_parts(color, sketch, parts, names))
    return "made", pair_digest(paths)


# OpenMoji's SVGs group their shapes: <g id="color">, "hair", "skin", "skin-shadow", "line", ...
_KEY_COLORS = ("ff00ff", "00ffff", "00ff00")  # skin, hair, other fills: saturated colors far apart
_SVG_NS = "http://www.w3.org/2000/svg"
_PAINT = re.compile(r"((?:fill|stroke|stop-color)\s*:\s*)([^;]+)")


def _part_of_group(group_id: str) -> str | None:
    """An OpenMoji group id -> part name; None for the line art (kept as drawn)."""
    g = group_id.lower()
    if g.startswith("line"):
        return None
    if g.startswith("skin"):
        return "skin"
    if g.startswith("hair"):
        return "hair"
    return ""


def keyed_parts_svg(svg: bytes) -> tuple[bytes, dict[str, str]]:
    """The emoji with every fill and stroke of each top-level group in its part's key color (lines
    kept), and {key color hex: part name}, for ``materials.parts_from_key_render``."""
    from xml.etree import ElementTree as ET

    ET.register_namespace("", _SVG_NS)
    root = ET.fromstring(svg)
    keys = {"skin": _KEY_COLORS[0], "hair": _KEY_COLORS[1], "": _KEY_COLORS[2]}
    used: dict[str, str] = {}
    for group in list(root):
        part = _part_of_group(group.get("id", ""))
        if part is None:
            continue
        key = "#" + keys[part]
        used[keys[part]] = part
        for el in group.iter():
            for attr in ("fill", "stroke", "stop-color"):
                value = el.get(attr)
                if value is not None and value.strip().lower() not in ("none", "transparent"):
                    el.set(attr, key)
            style = el.get("style")
            if style:
                el.set("style", _PAINT.sub(lambda m: m.group(1) + (m.group(2) if m.group(2).strip() == "none" else key),
                                           style))
    return ET.tostring(root), used


def build_openmoji(
    out_dir: str | Path,
    size: int = 256,
    layout: str = "side_by_side",
    seed: int = 0,
    val_fraction: float = 0.05,
    test_fraction: float = 0.05,
    package_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    progress: bool = True,
    log=None,
) -> BuildReport:
    """Render OpenMoji into sketch/color pairs in a dataset layout.

    Args:
        out_dir: dataset folder to write (new, empty, or an earlier build with the same settings).
        size: square render size in pixels.
        layout: "side_by_side" (OUT/<split>/HEX.png, color LEFT | sketch RIGHT, 2*size x size) or
            "two_folders" (OUT/<split>/sketch/HEX.png and OUT/<split>/color/HEX.png).
        seed, val_fraction, test_fraction: the split (by base emoji, see ``base_key``).
        package_dir: an extracted ``openmoji`` npm package (no download); default: ``fetch_openmoji``.
        cache_dir: where ``fetch_openmoji`` keeps the package.
        workers: render processes (default: all cores).
        progress: show a tqdm bar.
        log: called with one-line messages (e.g. print); None for silence.

    Returns:
        A BuildReport: pairs per split, pairs already there, dropped emoji with reasons.
    """
    check_layout(layout)
    check_size(size)
    check_fractions(val_fraction, test_fraction)
    _cairosvg()  # fail before downloading anything
    log = log or (lambda msg: None)
    if package_dir is None:
        log(f"getting openmoji@{OPENMOJI_VERSION} with npm (cached in {Path(cache_dir) if cache_dir else default_cache_dir()})")
        pkg = fetch_openmoji(OPENMOJI_VERSION, cache_dir)
    else:
        pkg = find_package_dir(package_dir)
    pkg = pkg.resolve()
    version = package_version(pkg)
    names = sorted(p.stem for p in (pkg / "color" / "svg").glob("*.svg"))
    if not names:
        raise DatasetBuildError(f"no SVG files in {pkg / 'color' / 'svg'}")

    out = Path(out_dir)
    settings = {"source": "openmoji", "version": version, "size": size, "layout": layout, "seed": seed,
                "val_fraction": val_fraction, "test_fraction": test_fraction, "min_line_visible": MIN_LINE_VISIBLE}
    open_output(out, settings)
    report = BuildReport(out_dir=out, layout=layout, total=len(names))
    unique, duplicates = dedupe(pkg, names)
    report.dropped += [(n, f"duplicate: same SVGs as {first}") for n, first in duplicates.items()]
    splits = assign_splits({n: base_key(n) for n in unique}, seed, val_fraction, test_fraction)
    log(f"rendering {len(unique)} emoji from {pkg} at {size} px ({len(duplicates)} exact duplicates left out)")
    work = partial(_make_pair, package_dir=pkg, out_dir=out, size=size, layout=layout)
    jobs = [_Job(n, splits[n]) for n in unique]
    t0 = time.perf_counter()
    written: list[tuple[str, str, str]] = []  # (name, split, digest)
    existing: set[str] = set()
    for job, (status, detail) in zip(jobs, parallel_map(work, jobs, workers, progress, "openmoji", "emoji"), strict=True):
        if status == "dropped":
            report.dropped.append((job.name, detail))
            continue
        written.append((job.name, job.split, detail))
        if status == "existing":
            existing.add(job.name)
    # Different SVG files can still draw the same picture (e.g. "men wrestling" and "people wrestling")
    finish_build(report, settings, written, existing,
                 before_manifest=lambda: _write_attribution(out, pkg, version, size, layout))
    log(f"done in {time.perf_counter() - t0:.0f} s")
    return report


def _write_attribution(out: Path, pkg: Path, version: str, size: int, layout: str) -> None:
    license_file = pkg / "LICENSE.txt"
    note = ""
    if license_file.is_file():
        atomic_write_bytes(out / "LICENSE-OpenMoji.txt", license_file.read_bytes())
        note = "\nThe license text shipped with the package is in LICENSE-OpenMoji.txt next to this file.\n"
    text = ATTRIBUTION.format(version=version, size=size, layout=layout, license_note=note)
    atomic_write_bytes(out / "ATTRIBUTION.md", text.encode())

