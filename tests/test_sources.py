"""Dataset builders (prepare openmoji / folder) and the checker (prepare check), offline on tiny fixtures."""

import io
import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autopainter.cli import main
from autopainter.data.sources import DatasetBuildError, assign_splits
from autopainter.data.materials import MATERIALS_DIR, material_path, read_material_map
from autopainter.data.sources.check import check_dataset
from autopainter.data.sources.openmoji import base_key, fetch_openmoji, line_visibility, safe_extract
from autopainter.data.synthetic import draw_synthetic_pair, make_synthetic_pairs


def _pair_pngs(out):
    """The pair files of a built dataset (not its material maps)."""
    return [p for p in out.rglob("*.png") if MATERIALS_DIR not in p.relative_to(out).parts]


def _err_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("autopainter: error:")
    assert "Traceback" not in "\n".join(err)
    return err[-1]


# ------------------------------------------------------------------------------ OpenMoji fixture
_LINE = 'fill="none" stroke="#000000" stroke-width="5"'


def _svg(*body):
    return '<svg id="emoji" viewBox="0 0 72 72" xmlns="http://www.w3.org/2000/svg">' + "".join(body) + "</svg>"


def _face(fill):
    color = _svg(f'<g id="color"><circle cx="36" cy="36" r="24" fill="{fill}"/></g>',
                 f'<g id="line"><circle cx="36" cy="36" r="24" {_LINE}/><path d="M26 46 H46" {_LINE}/></g>')
    black = _svg(f'<g id="line"><circle cx="36" cy="36" r="24" {_LINE}/><path d="M26 46 H46" {_LINE}/></g>')
    return color, black


def _thumb(skin):
    color = _svg(f'<rect x="20" y="14" width="32" height="44" fill="{skin}"/>',
                 f'<rect x="20" y="14" width="32" height="44" {_LINE}/>')
    black = _svg(f'<rect x="20" y="14" width="32" height="44" {_LINE}/>')
    return color, black


def _white_on_color():  # a letter drawn white on a dark square: the line art is hidden
    letter = 'M24 56 L36 16 L48 56 M28 42 H44'
    color = _svg('<rect x="8" y="8" width="56" height="56" fill="#1E50A0"/>',
                 f'<path d="{letter}" fill="none" stroke="#FFFFFF" stroke-width="6"/>')
    black = _svg(f'<path d="{letter}" fill="none" stroke="#000000" stroke-width="6"/>')
    return color, black


@pytest.fixture
def openmoji_pkg(tmp_path):
    """A tiny OpenMoji package folder: 3 good emoji (one a skin-tone variant), one byte-identical
    duplicate, one white-on-color symbol and one with empty line art."""
    pkg = tmp_path / "pkg" / "package"
    emoji = {
        "1F600": _face("#FCEA2B"),
        "1F44D": _thumb("#FCEA2B"),
        "1F44D-1F3FB": _thumb("#FADCBC"),
        "1F9D1": _face("#FCEA2B"),  # the same files as 1F600
        "1F170": _white_on_color(),
        "1F195": (_svg('<rect x="8" y="8" width="56" height="56" fill="#1E50A0"/>'), _svg('<g id="line"/>')),
    }
    for kind in ("color", "black"):
        (pkg / kind / "svg").mkdir(parents=True)
    for name, (color, black) in emoji.items():
        (pkg / "color" / "svg" / f"{name}.svg").write_text(color)
        (pkg / "black" / "svg" / f"{name}.svg").write_text(black)
    (pkg / "package.json").write_text('{"name": "openmoji", "version": "17.0.0"}')
    (pkg / "LICENSE.txt").write_text("Attribution-ShareAlike 4.0 International\n")
    return pkg


def _openmoji(pkg, out, *extra):
    return main(["prepare", "openmoji", "--package-dir", str(pkg), "--size", "32", "-o", str(out), "-q",
                 "--workers", "1", *extra])


def test_openmoji_side_by_side(openmoji_pkg, tmp_path, capsys):
    pytest.importorskip("cairosvg")
    out = tmp_path / "om"
    assert _openmoji(openmoji_pkg, out) == 0
    printed = capsys.readouterr().out
    assert "3 pairs" in printed and "dropped 3" in printed
    files = sorted(p.relative_to(out).as_posix() for p in _pair_pngs(out))
    assert [f.split("/")[1] for f in files] == ["1F44D-1F3FB.png", "1F44D.png", "1F600.png"]
    for f in files:  # each pair has its material map, at the pair's size
        split, name = f.split("/")
        mm = read_material_map(material_path(out / split, Path(name).stem))
        assert mm.labels.shape == (32, 32) and mm.count >= 2 and mm.source == "parts"
    manifest = json.loads((out / "prepare.json").read_text())
    reasons = {d["name"]: d["reason"] for d in manifest["dropped"]}
    assert reasons["1F9D1"].startswith("duplicate") and reasons["1F170"].startswith("lines hidden")
    assert reasons["1F195"].startswith("empty line art")
    for f in files:
        a = np.asarray(Image.open(out / f).convert("RGB"))
        assert a.shape == (32, 64, 3)  # color LEFT | sketch RIGHT
        color, sketch = a[:, :32].astype(int), a[:, 32:].astype(int)
        assert (sketch[..., 0] == sketch[..., 1]).all() and (sketch[..., 1] == sketch[..., 2]).all()  # gray
        assert (np.abs(color[..., 0] - color[..., 2]) > 60).any()  # colored
        assert sketch.min() < 64 and np.median(sketch) == 255  # dark lines on white paper
    attribution = (out / "ATTRIBUTION.md").read_text()
    assert "OpenMoji" in attribution and "CC BY-SA 4.0" in attribution and "https://openmoji.org" in attribution
    assert (out / "LICENSE-OpenMoji.txt").is_file()
    assert main(["prepare", "check", str(out), "-q", "--workers", "1"]) == 0
    report = check_dataset(out, workers=1, progress=False)
    assert report.materials["maps"] == 3 and report.materials["sources"] == {"parts": 3}
    assert "material maps: 3 of 3" in report.format()


def test_check_reports_missing_and_broken_material_maps(tmp_path):
    from autopainter.data.materials import MaterialMap, write_material_map
    from autopainter.data.synthetic import make_synthetic_pairs

    root = make_synthetic_pairs(tmp_path / "d", n=3, size=32, split="train").parent
    report = check_dataset(root, workers=1, progress=False)
    assert report.ok and any("no material maps" in n for n in report.notes)
    write_material_map(material_path(root / "train", "0000"), MaterialMap(np.ones((32, 32), np.int32)))
    write_material_map(material_path(root / "train", "0001"), MaterialMap(np.ones((16, 32), np.int32)))
    report = check_dataset(root, workers=1, progress=False)
    assert not report.ok and any("0001.png is 32x16, its pair 32x32" in p for p in report.problems)
    assert any("1 pair(s) without a material map" in n for n in report.notes)


def test_openmoji_rerun_skips_and_refuses_other_settings(openmoji_pkg, tmp_path, capsys):
    pytest.importorskip("cairosvg")
    out = tmp_path / "om"
    assert _openmoji(openmoji_pkg, out) == 0
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    capsys.readouterr()
    assert _openmoji(openmoji_pkg, out) == 0
    assert "3 already there" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == stamps  # nothing rewritten
    # a pair deleted by hand is made again, the others are kept
    victim = next(iter(stamps))
    victim.unlink()
    assert _openmoji(openmoji_pkg, out) == 0
    assert victim.is_file() and "2 already there" in capsys.readouterr().out
    # other settings in the same folder: a clear error, not a mixed dataset
    assert main(["prepare", "openmoji", "--package-dir", str(openmoji_pkg), "--size", "40", "-o", str(out), "-q"]) == 2
    assert "other settings" in _err_line(capsys)


def test_openmoji_two_folders_and_variants_share_a_split(openmoji_pkg, tmp_path):
    pytest.importorskip("cairosvg")
    for seed in range(4):
        out = tmp_path / f"om{seed}"
        assert _openmoji(openmoji_pkg, out, "--layout", "two_folders", "--seed", str(seed), "--workers", "2",
                         "--val-fraction", "0.4", "--test-fraction", "0.3") == 0
        where = {}
        for p in _pair_pngs(out):
            split, role = p.relative_to(out).parts[:2]
            where.setdefault(p.stem, set()).add((split, role))
        assert set(where) == {"1F600", "1F44D", "1F44D-1F3FB"}
        for places in where.values():
            assert {r for _, r in places} == {"sketch", "color"} and len({s for s, _ in places}) == 1
        assert {s for s, _ in where["1F44D"]} == {s for s, _ in where["1F44D-1F3FB"]}
    sketch = Image.open(next(out.rglob("sketch/1F600.png")))
    assert sketch.mode == "L" and sketch.size == (32, 32)
    out = tmp_path / "default-split"
    assert _openmoji(openmoji_pkg, out, "--layout", "two_folders") == 0
    assert len(list(out.glob("train/sketch/*.png"))) == 3
    assert main(["prepare", "check", str(out), "-q", "--workers", "1"]) == 0


def test_openmoji_bad_package_dir(tmp_path, capsys):
    pytest.importorskip("cairosvg")
    assert main(["prepare", "openmoji", "--package-dir", str(tmp_path), "-o", "out", "-q"]) == 2
    assert "not an OpenMoji package folder" in _err_line(capsys)


def test_base_key_and_group_splits():
    assert base_key("1F44D-1F3FB") == base_key("1F44D") == "1F44D"
    assert base_key("1F468-1F3FD-200D-1F9B0") == base_key("1F468-200D-1F9B0") == "1F468-1F9B0"
    assert base_key("2764-FE0F") == "2764"
    assert base_key("1F9D1-1F3FB-200D-1F91D-200D-1F9D1-1F3FF") == "1F9D1-1F91D-1F9D1"
    names = [f"{b:05X}" for b in range(0x1F400, 0x1F500)]
    names += [f"{n}-{tone}" for n in names[::3] for tone in ("1F3FB", "1F3FC", "1F3FD", "1F3FE", "1F3FF")]
    groups = {n: base_key(n) for n in names}
    for seed in range(3):
        splits = assign_splits(groups, seed, 0.05, 0.05)
        by_group = {}
        for n, s in splits.items():
            by_group.setdefault(groups[n], set()).add(s)
        assert all(len(s) == 1 for s in by_group.values())
        counts = {s: list(splits.values()).count(s) for s in ("train", "val", "test")}
        assert abs(counts["val"] - 0.05 * len(names)) <= 6 and abs(counts["test"] - 0.05 * len(names)) <= 6
    assert assign_splits(groups, 0) == assign_splits(dict(reversed(groups.items())), 0)  # order-free
    assert assign_splits(groups, 0) != assign_splits(groups, 1)


def test_line_visibility():
    black = np.full((10, 10), 255, np.uint8)
    black[4:6] = 0  # 20 line pixels
    color = np.full((10, 10, 3), 200, np.uint8)
    color[4] = 0  # half of them dark in color
    share, visible = line_visibility(color, black)
    assert share == pytest.approx(0.2) and visible == pytest.approx(0.5)
    assert line_visibility(color, np.full((10, 10), 255, np.uint8)) == (0.0, 0.0)


# ------------------------------------------------------------------------------ getting the package
def test_npm_missing_is_one_line(tmp_path, capsys, monkeypatch):
    pytest.importorskip("cairosvg")
    import autopainter.data.sources.openmoji as om

    monkeypatch.setattr(om.shutil, "which", lambda name: None)
    assert main(["prepare", "openmoji", "-o", str(tmp_path / "o"), "--cache", str(tmp_path / "c"), "-q"]) == 2
    assert "npm not found" in _err_line(capsys)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("failure", ["offline", "timeout"])
def test_npm_failure_is_one_line(tmp_path, capsys, monkeypatch, failure):
    pytest.importorskip("cairosvg")
    import subprocess

    import autopainter.data.sources.openmoji as om

    def fake_run(cmd, **kw):
        if failure == "timeout":
            raise subprocess.TimeoutExpired(cmd, kw.get("timeout"))
        raise subprocess.CalledProcessError(1, cmd, stderr="npm error code ECONNREFUSED\nnpm error syscall connect\n"
                                            "npm error FetchError: request to https://registry.npmjs.org/openmoji failed\n")

    import autopainter.data.sources.npm as npm_tools  # where npm is run (for openmoji and characters)

    monkeypatch.setattr(om.shutil, "which", lambda name: "/usr/bin/npm")
    monkeypatch.setattr(npm_tools.subprocess, "run", fake_run)
    assert main(["prepare", "openmoji", "-o", str(tmp_path / "o"), "--cache", str(tmp_path / "c"), "-q"]) == 2
    line = _err_line(capsys)
    assert ("ECONNREFUSED" in line) if failure == "offline" else ("timed out" in line)


def _tgz(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_fetch_uses_cached_tarball_and_extracts_safely(tmp_path, openmoji_pkg):
    cache = tmp_path / "cache"
    cache.mkdir()
    svg = (openmoji_pkg / "color" / "svg" / "1F600.svg").read_bytes()
    _tgz(cache / "openmoji-0.0.1.tgz", {"package/color/svg/1F600.svg": svg, "package/black/svg/1F600.svg": svg})
    pkg = fetch_openmoji("0.0.1", cache)  # no npm call: the tarball is cached
    assert (pkg / "color" / "svg" / "1F600.svg").read_bytes() == svg
    assert fetch_openmoji("0.0.1", cache) == pkg  # extracted once
    _tgz(tmp_path / "evil.tgz", {"package/../../evil.txt": b"x"})
    with pytest.raises(DatasetBuildError, match="unsafe path"):
        safe_extract(tmp_path / "evil.tgz", tmp_path / "dest")
    assert not (tmp_path / "evil.txt").exists()


# ------------------------------------------------------------------------------ prepare folder
@pytest.fixture
def art_dir(tmp_path):
    """6 colored images in nested folders (one RGBA, one a JPEG), a byte copy, and one corrupt file."""
    art = tmp_path / "art"
    (art / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(6):
        color, _ = draw_synthetic_pair(rng, 48)
        if i == 0:
            color = color.convert("RGBA")
        color.save(art / ("sub" if i % 2 else ".") / f"img{i}.{'jpg' if i == 5 else 'png'}")
    (art / "sub" / "copy.png").write_bytes((art / "img0.png").read_bytes())
    (art / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (art / ".hidden.png").write_bytes(b"ignored")
    return art


def test_prepare_folder(art_dir, tmp_path, capsys):
    out = tmp_path / "pairs"
    assert main(["prepare", "folder", str(art_dir), "-o", str(out), "--val-fraction", "0.2", "--test-fraction", "0.2",
                 "-q", "--workers", "2"]) == 0
    cap = capsys.readouterr()
    skipped = [ln for ln in cap.err.splitlines() if "skipped" in ln]
    assert len(skipped) == 1 and "broken.png" in skipped[0]
    assert "6 pairs" in cap.out and "skipped 1 unreadable" in cap.out and "duplicate: 1" in cap.out
    files = sorted(p.relative_to(out).as_posix().split("/", 1)[1] for p in _pair_pngs(out))
    assert files == ["img0.png", "img2.png", "img4.png", "sub__img1.png", "sub__img3.png", "sub__img5.png"]
    maps = sorted(p.stem for p in out.rglob("materials/*.png"))  # derived from colors: no parts in a folder
    assert maps == [Path(f).stem for f in files]
    assert read_material_map(next(out.rglob("materials/img2.png"))).source == "colors"
    pair = np.asarray(Image.open(next(out.rglob("img2.png"))))
    assert pair.shape == (48, 96, 3)
    original = np.asarray(Image.open(art_dir / "img2.png").convert("RGB"))
    assert (pair[:, :48] == original).all()  # color LEFT, untouched without --size
    from autopainter.data.sketch import extract_sketch

    assert (pair[:, 48:, 0] == extract_sketch(original)).all()  # sketch RIGHT, the training function
    assert main(["prepare", "check", str(out), "-q", "--workers", "1"]) == 0


def test_prepare_folder_resize_two_folders_rerun(art_dir, tmp_path, capsys):
    out = tmp_path / "pairs"
    args = ["prepare", "folder", str(art_dir), "-o", str(out), "--size", "32", "--layout", "two_folders",
            "--method", "thin", "-q", "--workers", "1"]
    assert main(args) == 0
    sketches = sorted(out.rglob("sketch/*.png"))
    assert len(sketches) == 6 and len(list(out.rglob("color/*.png"))) == 6
    assert all(Image.open(p).size == (32, 32) for p in sketches)
    assert set(np.unique(np.asarray(Image.open(sketches[0])))) <= {0, 255}  # thin: binary lines
    capsys.readouterr()
    assert main(args) == 0
    assert "6 already there" in capsys.readouterr().out
    # what the builder wrote, training reads without being told the layout, and check agrees
    from autopainter.config import DataConfig
    from autopainter.data.pairs import PairDataset

    assert check_dataset(out, progress=False, workers=1).layout == "two_folders"
    ds = PairDataset(DataConfig(path=str(out), image_size=32, load_size=32), train=False)
    assert ds.layout.name == "two_folders" and len(ds) == json.loads((out / "prepare.json").read_text())["counts"]["train"]


def test_prepare_folder_nothing_readable(tmp_path, capsys):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.png").write_bytes(b"junk")
    assert main(["prepare", "folder", str(tmp_path / "bad"), "-o", str(tmp_path / "o"), "-q"]) == 2
    assert "no pairs could be made" in _err_line(capsys)
    assert main(["prepare", "folder", str(tmp_path / "missing"), "-o", str(tmp_path / "o2"), "-q"]) == 2
    assert "input folder not found" in _err_line(capsys)
    assert main(["prepare", "folder", str(tmp_path / "bad"), "-o", str(tmp_path / "o3"), "--set-param", "bogus=1", "-q"]) == 2
    assert "bogus" in _err_line(capsys)


def test_prepare_folder_refuses_foreign_output(art_dir, tmp_path, capsys):
    out = tmp_path / "notmine"
    out.mkdir()
    (out / "precious.txt").write_text("x")
    assert main(["prepare", "folder", str(art_dir), "-o", str(out), "-q"]) == 2
    assert "not made by" in _err_line(capsys)


# ------------------------------------------------------------------------------ prepare check
def test_check_good_and_layouts(tmp_path, capsys):
    make_synthetic_pairs(tmp_path / "d", n=4, size=16, split="train", seed=0)
    make_synthetic_pairs(tmp_path / "d", n=2, size=16, split="val", seed=1)
    assert main(["prepare", "check", str(tmp_path / "d"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "train: 4 pairs" in out and "val: 2 pairs" in out and "32x16 (6)" in out and "OK" in out
    flat = make_synthetic_pairs(tmp_path / "flat", n=3, size=16, layout="two_folders")
    report = check_dataset(flat, progress=False, workers=1)
    assert report.ok and report.layout == "two_folders" and report.splits == {"train": 3}


def test_check_broken(tmp_path, capsys):
    root = tmp_path / "d"
    make_synthetic_pairs(root, n=3, size=16, layout="two_folders", split="train", seed=0)
    make_synthetic_pairs(root, n=2, size=16, layout="two_folders", split="val", seed=1)
    os.remove(root / "train" / "color" / "0002.png")  # unpaired sketch
    # the same color image in train and val, re-encoded (same pixels, other bytes)
    Image.open(root / "train" / "color" / "0000.png").save(root / "val" / "color" / "0001.png", compress_level=9)
    (root / "val" / "sketch" / "0005.png").write_bytes(b"broken")
    (root / "val" / "color" / "0005.png").write_bytes(b"broken")
    assert main(["prepare", "check", str(root), "-q", "--workers", "2"]) == 2
    out = capsys.readouterr().out
    assert "BROKEN" in out
    assert "unpaired" in out and "train/sketch/0002.png" in out
    assert "more than one split" in out and "train/color/0000.png" in out
    assert "unreadable" in out


def test_check_odd_side_by_side_and_empty(tmp_path, capsys):
    root = make_synthetic_pairs(tmp_path / "d", n=2, size=16, split="train")
    Image.new("RGB", (33, 16), "white").save(root / "odd.png")
    assert main(["prepare", "check", str(tmp_path / "d"), "-q"]) == 2
    assert "odd width" in capsys.readouterr().out
    (tmp_path / "empty").mkdir()
    assert main(["prepare", "check", str(tmp_path / "empty"), "-q"]) == 2
    assert main(["prepare", "check", str(tmp_path / "nowhere"), "-q"]) == 2
    assert "dataset folder not found" in _err_line(capsys)


def test_builders_share_one_tail():
    """The end of a build (duplicates, counts, stale files, manifest) is written once, in sources/__init__."""
    import inspect

    from autopainter.data.sources import folder, openmoji

    for module in (folder, openmoji):
        src = inspect.getsource(module)
        assert "finish_build(" in src
        assert "drop_duplicates(" not in src and "prune_outputs(" not in src and "write_manifest(" not in src


def test_layout_names_are_declared_once():
    from autopainter.config import LAYOUTS
    from autopainter.data.layouts import LAYOUT_CLASSES
    from autopainter.data.sources import OUTPUT_LAYOUTS
    from autopainter.data.sources.check import CHECK_LAYOUTS

    assert set(LAYOUTS) == {"auto", *LAYOUT_CLASSES}
    assert CHECK_LAYOUTS == tuple(LAYOUT_CLASSES) and OUTPUT_LAYOUTS == ("side_by_side", "two_folders")
