"""The foreign set: Battle for Wesnoth's painted portraits as XDoG pairs, split by artist into val and test.

``autopainter prepare wesnoth -o DIR`` reads the portraits of the Debian package ``wesnoth-1.16-data``
(``apt-get install wesnoth-1.16-data``; GPL-2+, artists credited in ``portraits/ARTISTS``), makes sketches
with ``extract_sketch`` (XDoG, as ``prepare folder``), and splits them **by artist** into ``val`` and
``test`` (no ``train``): painted, inked fantasy characters that no model here is trained on, a stand-in
for users' own art. Decide on val, report test.

Artists: ``parse_artists`` reads ``ARTISTS`` (the current section: an artist, then a race heading, then
one unit per line) and ``artist_of`` matches each file (``elves/archer+female.png``) to a unit name
(``Archer male and female`` under ``Elves:``). A portrait that no line names takes the artist who drew
most of its folder (race): in this set artists painted whole races, so that is nearly always right, and
the manifest counts how many were matched by name.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from . import BuildReport, DatasetBuildError, _rank
from .folder import build_from_folder, find_images, output_names

__all__ = ["DEFAULT_PORTRAITS", "parse_artists", "artist_of", "artist_splits", "build_wesnoth", "find_portraits"]

DEFAULT_PORTRAITS = ("/usr/share/games/wesnoth/1.16/data/core/images/portraits",)
# race headings and unit-name prefixes of ARTISTS -> portrait folders
_FOLDERS = {"elves": "elves", "elf": "elves", "human": "humans", "humans": "humans", "goblins": "goblins",
            "goblin": "goblins", "merfolk": "merfolk", "mermaid": "merfolk", "merman": "merfolk", "undead": "undead",
            "orcs": "orcs", "orcish": "orcs", "orc": "orcs", "drakes": "drakes", "drake": "drakes",
            "saurians": "saurians", "saurian": "saurians", "dwarves": "dwarves", "dwarf": "dwarves",
            "naga": "nagas", "troll": "trolls", "wose": "woses", "ancient": "woses"}
_NOISE = {"male", "female", "and", "alternate", "alternates", "alt", "line", "update", "by", "tet", "eyerouge", "1", "2",
          "3", "#2", "loyalists", "mages", "outlaws", "lich"}


def find_portraits(path: str | Path | None = None) -> Path:
    """The portraits folder: ``path``, or the Debian package's; a one-line error says how to get it."""
    for cand in ([Path(path)] if path else [Path(p) for p in DEFAULT_PORTRAITS]):
        if cand.is_dir():
            return cand
    raise DatasetBuildError("no Wesnoth portraits found: apt-get install wesnoth-1.16-data, or pass --portraits DIR "
                            "(the data/core/images/portraits folder)")


def _words(text: str) -> list[str]:
    text = re.sub(r"\(.*?\)", " ", text.lower())
    return [w for w in re.split(r"[^a-z0-9#]+", text) if w and w not in _NOISE]


def parse_artists(text: str) -> list[tuple[str, str | None, str]]:
    """(artist, folder or None, unit key) for every unit line of the current section of ARTISTS."""
    out: list[tuple[str, str | None, str]] = []
    artist: str | None = None
    folder: str | None = None
    for raw in text.splitlines():
        if raw.strip().lower().startswith("outdated versions"):
            break
        if not raw.strip() or raw.strip().lower() in ("portrait credits:", "current:"):
            continue
        line = raw.strip().rstrip(":")
        if not raw[0].isspace():
            words = line.lower().split()
            heading = words[0] if words else ""
            if heading in _FOLDERS or heading in ("others", "other"):
                folder = _FOLDERS.get(heading)
                rest = " ".join(_words(" ".join(words[1:])))
                if heading not in ("human", "humans") and rest:  # "Undead Lich": a unit on the heading line
                    out.append((artist or "unknown", folder, rest.replace(" ", "-")))
            else:
                artist, folder = line, None
            continue
        for name in re.split(r"[/,]", line):
            words = _words(name)
            unit_folder = folder
            if words and words[0] in _FOLDERS and len(words) > 1:  # "Goblin Impaler", "Drake Clasher"
                unit_folder, words = _FOLDERS[words[0]], words[1:]
            if words and artist:
                out.append((artist, unit_folder, "-".join(words)))
    return out


def _file_key(rel: Path) -> tuple[str, str]:
    stem = rel.stem.lower().split("+")[0]
    stem = re.sub(r"(-alt\d*|-\d+|-alternate)$", "", stem)
    return rel.parts[0].lower() if len(rel.parts) > 1 else "", stem


def _unit(name: str) -> str:
    """A unit name in a comparable form: its words sorted ("red-mage" and "mage-red" match), "of" dropped."""
    return "-".join(sorted(w for w in name.split("-") if w and w != "of"))


def artist_of(files: list[Path], root: Path, entries: list[tuple[str, str | None, str]]) -> tuple[dict[Path, str], int]:
    """({file: artist}, how many were matched by name); the rest take their folder's most common artist."""
    by_name: dict[tuple[str | None, str], str] = {}
    for artist, folder, unit in entries:
        by_name.setdefault((folder, _unit(unit)), artist)
        by_name.setdefault((None, _unit(unit)), artist)
    found: dict[Path, str] = {}
    for f in files:
        folder, stem = _file_key(f.relative_to(root))
        artist = (by_name.get((folder, _unit(stem))) or by_name.get((None, _unit(f"{folder.rstrip('s')}-{stem}")))
                  or (by_name.get((None, _unit(stem))) if folder in ("", "monsters") else None))
        if artist is not None:
            found[f] = artist
    matched = len(found)
    per_folder: dict[str, Counter] = {}
    for f, a in found.items():
        per_folder.setdefault(_file_key(f.relative_to(root))[0], Counter())[a] += 1
    everyone = Counter(found.values())
    for f in files:
        if f not in found:
            folder = _file_key(f.relative_to(root))[0]
            counts = per_folder.get(folder) or everyone or Counter({"unknown": 1})
            found[f] = counts.most_common(1)[0][0]
    return found, matched


def artist_splits(artists: dict[str, str], seed: int) -> dict[str, str]:
    """{name: "val" | "test"}: whole artists, in a seeded order, to val until it holds half the images."""
    members: dict[str, list[str]] = {}
    for name, artist in artists.items():
        members.setdefault(artist, []).append(name)
    half, filled, out = len(artists) / 2, 0, {}
    for artist in sorted(members, key=lambda a: (_rank(seed, a), a)):
        split = "val" if filled < half and filled + len(members[artist]) <= max(half, len(members[artist])) else "test"
        if split == "val":
            filled += len(members[artist])
        out.update({n: split for n in members[artist]})
    return out


def build_wesnoth(out_dir: str | Path, portraits: str | Path | None = None, size: int | None = None, seed: int = 0,
                  layout: str = "side_by_side", workers: int | None = None, progress: bool = True) -> BuildReport:
    """XDoG pairs of the portraits, split by artist into val and test (see the module doc)."""
    root = find_portraits(portraits)
    credits = root / "ARTISTS"
    entries = parse_artists(credits.read_text(errors="replace")) if credits.is_file() else []
    files = find_images(root, exclude=out_dir)
    if not files:
        raise DatasetBuildError(f"no images under {root}")
    by_file, matched = artist_of(files, root, entries)
    names = output_names(files, root)
    artists = {names[f]: a for f, a in by_file.items()}
    splits = artist_splits(artists, seed)
    extra = {"source": "wesnoth", "artists": dict(sorted(Counter(artists.values()).items())),
             "matched_by_name": matched, "license": "GPL-2+ (Battle for Wesnoth; portraits/ARTISTS)"}
    return build_from_folder(root, out_dir, size=size, layout=layout, seed=seed, workers=workers, progress=progress,
                             split_of=splits, extra_settings=extra, attribution=_attribution(credits, splits, artists))


def _attribution(credits: Path, splits: dict[str, str], artists: dict[str, str]) -> str:
    lines = ["# Attribution", "",
             "The color images in this folder are portraits from **Battle for Wesnoth** (https://www.wesnoth.org),",
             "Debian package `wesnoth-1.16-data`, licensed GPL-2.0-or-later; the sketches were made from them with",
             "XDoG (`autopainter prepare wesnoth`). For evaluation only: never train on this set.", "",
             "Artists (from the package's portraits/ARTISTS), and the split each one's portraits are in:", ""]
    per = Counter((a, splits[n]) for n, a in artists.items())
    for (artist, split), n in sorted(per.items()):
        lines.append(f"- {artist}: {n} portrait(s), {split}")
    if credits.is_file():
        lines += ["", "The ARTISTS file as shipped:", "", "```", credits.read_text(errors="replace").strip(), "```"]
    return "\n".join(lines) + "\n"
