"""Cartoon characters with exact line art: ``autopainter prepare characters``.

Registry packages that draw characters procedurally, each rendered twice from the same seed: once in
color and once with every fill white (its ink black), so sketch and color line up exactly.

| source | npm packages (pinned) | license | what |
|---|---|---|---|
| ``dicebear`` | ``@dicebear/core`` and ``@dicebear/collection`` 9.4.3 | code MIT; art CC BY 4.0: *Adventurer* by Lisa Wischofsky, *Micah* by Micah Lanier | inked heads: hair, eyes, mouths, glasses, clothes (half of the count each style) |
| ``bigheads`` | ``@bigheads/core`` 0.3.3 with ``react``/``react-dom`` 18.3.1 | MIT (Rob Mulford) | heads and bodies, hair, clothes, hats |
| ``comicgen`` | ``comicgen`` 1.9.9 | code MIT; the characters used are CC0 (Gramener: Ramya Mylavarapu, Swetha Mylavarapu, Renel McCullum, Shawf Designs) | full-body characters, one emotion layer over one pose layer |

Comicgen's characters are files rather than code: ``comicgen_items`` composes an emotion and a pose of one
character (and angle) into one SVG, and its line art is the same SVG with every color that is not ink
(dark) turned white. Only its CC0 characters are used (not the emoji sets, the Humaaans under CC BY, or
the caricatures of politicians).

The packages are installed once with ``npm install`` into the cache (``npm.default_cache_dir()``, as
``prepare openmoji``); the shipped ``characters.mjs`` draws the SVGs with ``node`` and resvg (PyPI
``resvg-py``; cairosvg mishandles DiceBear's masks) renders them. Each character comes from its own
seed, so a build is the same every time; pairs whose color render hides the line art, or with almost no
line art, are dropped as in ``prepare openmoji``, and an SVG that fails to draw or render is skipped and
counted, never the end of the build. Every character is its own split group.
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
from typing import Callable, Sequence

import numpy as np

from ...imageio import atomic_write_bytes, flatten_on_white
from ...ink import COMICGEN_INK_LUMA, luma
from . import (
    BuildReport,
    DatasetBuildError,
    assign_splits,
    check_fractions,
    check_layout,
    check_size,
    existing_digest,
    finish_build,
    has_materials,
    open_output,
    pair_digest,
    pair_paths,
    parallel_map,
    write_pair,
)
from ..materials import materials_from_parts, parts_from_key_render
from .npm import default_cache_dir, run_tool
from .openmoji import MIN_LINE_PIXELS, MIN_LINE_VISIBLE, line_visibility

__all__ = ["SOURCES", "PACKAGES", "build_characters", "install_packages", "draw_svgs", "render_svg"]

PACKAGES = {"@dicebear/core": "9.4.3", "@dicebear/collection": "9.4.3", "@bigheads/core": "0.3.3",
            "react": "18.3.1", "react-dom": "18.3.1", "comicgen": "1.9.9"}
SOURCES = {"dicebear": ("dicebear-adventurer", "dicebear-micah"), "bigheads": ("bigheads",), "comicgen": ("comicgen",)}
# Comicgen characters under CC0 (its README's character credits)
COMICGEN_CHARACTERS = ("aryan", "ava", "bean", "bill", "dee", "deenuova", "dey", "deynuovo", "ethan", "evan", "priya",
                       "priyanuova", "ringo", "ringonuovo", "sophie")
INK_LUMA = COMICGEN_INK_LUMA  # Comicgen colors darker than this (70) are ink
SCRIPT = Path(__file__).with_name("characters.mjs")
NPM_TIMEOUT_S = 600

ATTRIBUTION = """\
# Attribution

The images in this folder were drawn with these npm packages and rendered to sketch/color pairs
({size} px, {layout} layout) by `autopainter prepare characters`:
{lines}
Changes: each character was rendered in color and again with every fill white, on a white background;
pairs whose color version hides its line art were left out.

If you publish this data or images made from it, credit the artists and licenses above.
"""
CREDITS = {
    "dicebear-adventurer": "- **Adventurer** by Lisa Wischofsky, through DiceBear (`@dicebear/collection@9.4.3`, code MIT): "
                           "art licensed CC BY 4.0, https://creativecommons.org/licenses/by/4.0/",
    "dicebear-micah": "- **Micah** by Micah Lanier, through DiceBear (`@dicebear/collection@9.4.3`, code MIT): "
                      "art licensed CC BY 4.0, https://creativecommons.org/licenses/by/4.0/",
    "bigheads": "- **Big Heads** by Rob Mulford (`@bigheads/core@0.3.3`): MIT license, https://bigheads.io",
    "comicgen": "- **Comicgen** characters by Ramya Mylavarapu, Swetha Mylavarapu, Renel McCullum and Shawf Designs "
                "(Gramener, `comicgen@1.9.9`, code MIT): CC0, https://creativecommons.org/publicdomain/zero/1.0/",
}


# ------------------------------------------------------------------------------ packages and drawing
def install_packages(cache_dir: str | Path | None = None, timeout: float = NPM_TIMEOUT_S) -> Path:
    """A folder whose ``node_modules`` holds ``PACKAGES`` (exact versions), installed on first use."""
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    tag = hashlib.sha256(json.dumps(PACKAGES, sort_keys=True).encode()).hexdigest()[:12]
    target = cache / f"characters-{tag}"
    if (target / ".complete").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=cache, prefix=f".characters-{tag}."))
    try:
        manifest = {"name": "autopainter-characters", "private": True, "dependencies": PACKAGES}
        (tmp / "package.json").write_text(json.dumps(manifest, indent=2))
        specs = [f"{k}@{v}" for k, v in PACKAGES.items()]
        run_tool(["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error", *specs], tmp,
                 timeout, "'npm install' of the character packages")
        (tmp / ".complete").write_text("")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def draw_svgs(packages: Path, source: str, count: int, seed: int, timeout: float = NPM_TIMEOUT_S) -> list[dict]:
    """``count`` characters of ``source`` (one of the names in ``SOURCES`` values) as dicts
    ``{"name", "color", "line"}`` (SVG text) or ``{"name", "error"}``, drawn by ``characters.mjs``."""
    if count <= 0:
        return []
    proc = run_tool(["node", str(SCRIPT), source, str(count), str(seed)], packages, timeout, f"drawing {source} characters")
    items = []
    for line in proc.stdout.splitlines():
        try:
            items.append(json.loads(line))
        except ValueError:
            continue
    return items


_SVG_OPEN = re.compile(r"<svg\b[^>]*>", re.S)
_VIEWBOX = re.compile(r'viewBox="([^"]+)"')
_HEX = re.compile(r"#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b")


def _inner(svg: str) -> tuple[str, str]:
    """(viewBox, the markup inside the outer <svg>)."""
    m = _SVG_OPEN.search(svg)
    if m is None:
        raise ValueError("not an SVG")
    vb = _VIEWBOX.search(m.group(0))
    body = svg[m.end():]
    end = body.rfind("</svg>")
    return (vb.group(1) if vb else "0 0 500 600"), (body[:end] if end >= 0 else body)


def _whiten(svg: str) -> str:
    """Every color lighter than ink (``INK_LUMA``) turned white: the line art of a Comicgen drawing."""
    def swap(m: re.Match) -> str:
        h = m.group(1)
        h = "".join(c * 2 for c in h) if len(h) == 3 else h
        r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
        return m.group(0) if int(luma(np.array([r, g, b]))) < INK_LUMA else "#ffffff"
    return _HEX.sub(swap, svg)


def comicgen_items(packages: Path, count: int, seed: int) -> list[dict]:
    """``count`` Comicgen characters (emotion x pose of one character and angle, in a seeded order) as
    dicts like ``draw_svgs``'s, read from the installed package."""
    root = Path(packages) / "node_modules" / "comicgen" / "svg"
    combos = []
    for name in COMICGEN_CHARACTERS:
        for group in sorted({p.parent for p in (root / name).rglob("emotion")}):
            emotions = sorted((group / "emotion").glob("*.svg"))
            poses = sorted((group / "pose").glob("*.svg"))
            combos += [(group, e, p) for e in emotions for p in poses]
    if not combos:
        raise DatasetBuildError(f"no Comicgen characters under {root}: is comicgen@{PACKAGES['comicgen']} installed?")
    order = np.random.default_rng([seed, 20]).permutation(len(combos))[:count]
    items = []
    for k in order:
        group, emotion, pose = combos[int(k)]
        rel = group.relative_to(root).as_posix().replace("/", "-")
        item = {"name": f"comicgen-{rel}-{emotion.stem}-{pose.stem}"}
        try:
            vb, face = _inner(emotion.read_text(errors="replace"))
            _, body = _inner(pose.read_text(errors="replace"))
            color = f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{vb}">{face}{body}</svg>'
            item.update(color=color, line=_whiten(color))
        except (OSError, ValueError) as e:
            item["error"] = f"{type(e).__name__}: {e}"
        items.append(item)
    return items


def _resvg():
    try:
        import resvg_py
    except ImportError:
        raise DatasetBuildError("resvg-py is not installed: pip install 'autopainter[data]'") from None
    return resvg_py


def render_svg(svg: str, size: int) -> np.ndarray:
    """(size, size, 3) uint8 RGB render of an SVG: its long side ``size``, centred on white paper."""
    from PIL import Image, ImageOps

    png = bytes(_resvg().svg_to_bytes(svg_string=svg, width=size))
    with Image.open(io.BytesIO(png)) as im:
        im.load()
        if max(im.size) != size:  # a tall drawing: fit its height instead
            png = bytes(_resvg().svg_to_bytes(svg_string=svg, height=size))
            im = Image.open(io.BytesIO(png))
            im.load()
        rgb = flatten_on_white(im)
        if rgb.size != (size, size):  # square pairs: training resizes to squares, which would squash it
            rgb = ImageOps.pad(rgb, (size, size), color=(255, 255, 255))
        return np.asarray(rgb)


# ------------------------------------------------------------------------------ the build
@dataclass(frozen=True)
class _Job:
    name: str
    split: str
    color: str
    line: str
    parts: str = ""  # the drawing with each color option in its key color ("": none, e.g. Comicgen)
    part_colors: tuple[tuple[str, str], ...] = ()  # (key color hex, part name)


def _make_pair(job: _Job, out_dir: Path, size: int, layout: str) -> tuple[str, str]:
    """Render, filter and write one character and its material map -> (existing | made | dropped, digest
    or why). A pair made before material maps existed gets its map (and is written again)."""
    paths = pair_paths(out_dir, job.split, job.name, layout)
    digest = existing_digest(paths)
    if digest is not None and has_materials(out_dir, job.split, job.name):
        return "existing", digest
    try:
        color = render_svg(job.color, size)
        line = render_svg(job.line, size)
        try:
            parts_rgb = render_svg(job.parts, size) if job.parts else None
        except DatasetBuildError:
            raise
        except Exception:  # the keyed drawing alone failed: materials from fill colors, as for Comicgen
            parts_rgb = None
    except DatasetBuildError:
        raise
    except Exception as e:  # one bad drawing must not stop the set
        return "dropped", f"render error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    if color.shape != line.shape:
        return "dropped", f"render error: color {color.shape[:2]} and line art {line.shape[:2]} differ in size"
    share, visible = line_visibility(color, line)
    if share < MIN_LINE_PIXELS:
        return "dropped", f"empty line art: {share:.2%} of the image is line"
    if visible < MIN_LINE_VISIBLE:
        return "dropped", f"lines hidden in color: {visible:.0%} of line pixels dark (< {MIN_LINE_VISIBLE:.0%})"
    sketch = luma(line)
    if parts_rgb is not None and parts_rgb.shape == color.shape:
        parts, names = parts_from_key_render(parts_rgb, dict(job.part_colors))
    else:  # Comicgen names no parts: one material per fill color
        parts, names = np.zeros(sketch.shape, np.int32), {}
    materials = materials_from_parts(color, sketch, parts, names)
    write_pair(color, sketch, out_dir, job.split, job.name, layout, materials=materials)
    return "made", pair_digest(paths)


def build_characters(
    out_dir: str | Path,
    count: int = 500,
    sources: Sequence[str] = tuple(SOURCES),
    size: int = 256,
    layout: str = "side_by_side",
    seed: int = 0,
    val_fraction: float = 0.05,
    test_fraction: float = 0.05,
    cache_dir: str | Path | None = None,
    packages_dir: str | Path | None = None,
    workers: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> BuildReport:
    """Draw ``count`` characters per source into sketch/color pairs (see the module doc).

    ``packages_dir``: a folder whose node_modules already holds ``PACKAGES`` (no npm install).
    Other arguments as ``build_openmoji``.
    """
    check_layout(layout)
    check_size(size)
    check_fractions(val_fraction, test_fraction)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise DatasetBuildError(f"--count must be a whole number >= 1, got {count!r}")
    unknown = [s for s in sources if s not in SOURCES]
    if unknown or not sources:
        raise DatasetBuildError(f"unknown source {unknown[0] if unknown else '(none)'!r}; choose from: {', '.join(SOURCES)}")
    _resvg()  # fail before installing anything
    log = log or (lambda msg: None)
    if packages_dir is None:
        log(f"installing the character packages with npm (cached in {Path(cache_dir) if cache_dir else default_cache_dir()})")
        pkgs = install_packages(cache_dir)
    else:
        pkgs = Path(packages_dir)
    styles = [(style, count // len(SOURCES[s]) + (i < count % len(SOURCES[s])))
              for s in sources for i, style in enumerate(SOURCES[s])]
    out = Path(out_dir)
    settings = {"source": "characters", "sources": list(sources), "count": count, "packages": PACKAGES, "size": size,
                "layout": layout, "seed": seed, "val_fraction": val_fraction, "test_fraction": test_fraction,
                "min_line_visible": MIN_LINE_VISIBLE}
    open_output(out, settings)
    t0 = time.perf_counter()
    drawn: list[dict] = []
    for style, n in styles:
        log(f"drawing {n} {style} characters")
        drawn += comicgen_items(pkgs, n, seed) if style == "comicgen" else draw_svgs(pkgs, style, n, seed)
    report = BuildReport(out_dir=out, layout=layout, total=len(drawn))
    good = [d for d in drawn if "error" not in d]
    report.dropped += [(d.get("name", "?"), f"draw error: {d['error']}") for d in drawn if "error" in d]
    splits = assign_splits({d["name"]: d["name"] for d in good}, seed, val_fraction, test_fraction)
    jobs = [_Job(d["name"], splits[d["name"]], d["color"], d["line"], d.get("parts", ""),
                 tuple(sorted(d.get("partColors", {}).items()))) for d in good]
    work = partial(_make_pair, out_dir=out, size=size, layout=layout)
    written: list[tuple[str, str, str]] = []
    existing: set[str] = set()
    for job, (status, detail) in zip(jobs, parallel_map(work, jobs, workers, progress, "characters", "img"), strict=True):
        if status == "dropped":
            report.dropped.append((job.name, detail))
            continue
        written.append((job.name, job.split, detail))
        if status == "existing":
            existing.add(job.name)
    used = [style for style, n in styles if n > 0]
    text = ATTRIBUTION.format(size=size, layout=layout, lines="\n".join(CREDITS[s] for s in used) + "\n")
    finish_build(report, settings, written, existing,
                 before_manifest=lambda: atomic_write_bytes(out / "ATTRIBUTION.md", text.encode()))
    log(f"done in {time.perf_counter() - t0:.0f} s")
    return report
