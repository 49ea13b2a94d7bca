"""prepare wesnoth: artists read from ARTISTS, portraits matched to them, val/test split by whole artists."""

from pathlib import Path

import numpy as np
from PIL import Image

from autopainter.cli import main
from autopainter.data.sources.wesnoth import artist_of, artist_splits, parse_artists

ARTISTS = """Portrait Credits:

Current:

Ann/Ann Artist:
Elves:
    Archer male and female
    Red Mage
Goblins
    Spearman

Bob/Bob Painter:
Drakes:
    Burner
    Fighter

Cy/Cy Inker
    Goblin Impaler

Outdated versions:

Old Hand:
Elves:
    Fighter
"""


def _portraits(root: Path) -> Path:
    files = ["elves/archer.png", "elves/archer+female.png", "elves/mage-red.png", "elves/lord.png",
             "goblins/spearman.png", "goblins/impaler.png", "drakes/burner.png", "drakes/fighter.png"]
    rng = np.random.default_rng(0)
    for i, rel in enumerate(files):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        img = np.full((48, 40, 4), 0, np.uint8)
        img[8:40, 6:34] = [*rng.integers(40, 220, 3), 255]  # a painted shape on transparency
        img[20 + i % 5 : 24 + i % 5, 10:30, :3] = 20
        Image.fromarray(img, "RGBA").save(p)
    (root / "ARTISTS").write_text(ARTISTS)
    return root


def test_parse_and_match_artists(tmp_path):
    entries = parse_artists(ARTISTS)
    assert ("Ann/Ann Artist", "elves", "archer") in entries and ("Cy/Cy Inker", "goblins", "impaler") in entries
    assert not any(a == "Old Hand" for a, _, _ in entries)  # the outdated section is not read
    root = _portraits(tmp_path / "p")
    files = sorted(root.rglob("*.png"))
    found, matched = artist_of(files, root, entries)
    by = {f.relative_to(root).as_posix(): a for f, a in found.items()}
    assert by["elves/archer+female.png"] == by["elves/mage-red.png"] == "Ann/Ann Artist"  # "Red Mage" ~ mage-red
    assert by["goblins/impaler.png"] == "Cy/Cy Inker" and by["drakes/fighter.png"] == "Bob/Bob Painter"
    assert matched == 7 and by["elves/lord.png"] == "Ann/Ann Artist"  # unnamed: its folder's artist


def test_splits_keep_each_artist_whole():
    artists = {f"a{i}": "A" for i in range(5)} | {f"b{i}": "B" for i in range(3)} | {"c": "C", "d": "D"}
    for seed in range(5):
        splits = artist_splits(artists, seed)
        assert set(splits.values()) <= {"val", "test"} and "val" in splits.values() and "test" in splits.values()
        for artist in "ABCD":
            assert len({s for n, s in splits.items() if artists[n] == artist}) == 1


def test_prepare_wesnoth_builds_val_and_test_only(tmp_path, capsys):
    root = _portraits(tmp_path / "p")
    out = tmp_path / "w"
    assert main(["prepare", "wesnoth", "--portraits", str(root), "-o", str(out), "--workers", "1", "-q"]) == 0
    assert not (out / "train").exists()
    val, test = sorted((out / "val").glob("*.png")), sorted((out / "test").glob("*.png"))
    assert len(val) + len(test) == 8 and val and test
    text = (out / "ATTRIBUTION.md").read_text()
    assert "GPL-2.0-or-later" in text and "Ann/Ann Artist" in text and "never train" in text.lower()
    assert main(["prepare", "wesnoth", "--portraits", str(tmp_path / "nothing"), "-o", str(tmp_path / "x"), "-q"]) == 2
    assert "no Wesnoth portraits" in capsys.readouterr().err
