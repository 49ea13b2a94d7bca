"""benchmarks/reference_pairs.py: same-character pairs for reference coloring, built with the real npm packages
(skipped without node or the cached packages of `prepare characters`; nothing is installed here)."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("resvg_py")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import reference_pairs as rp  # noqa: E402


def _packages() -> Path:
    """The cached character packages, or a skip: never an npm install from a test."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    import autopainter.data.sources.characters as ch
    from autopainter.data.sources import DatasetBuildError

    def offline(*args, **kwargs):
        raise DatasetBuildError("offline")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ch, "run_tool", offline)
        try:
            return ch.install_packages()
        except DatasetBuildError:
            pytest.skip("the character npm packages are not cached (run `autopainter prepare characters` once)")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    packages = _packages()
    out = tmp_path_factory.mktemp("pairs")
    report = rp.build_pairs(out, count=1, seed=1, size=128, packages_dir=packages, workers=1)
    return out, report, packages


def _top_colors(img: np.ndarray, n: int = 4) -> set:
    px = img.reshape(-1, 3)
    px = px[px.min(axis=1) < 250]
    colors, counts = np.unique(px, axis=0, return_counts=True)
    return {tuple(c) for c in colors[np.argsort(-counts)[:n]].tolist()}


def test_files_shapes_and_build_report(built):
    out, report, _ = built
    assert report["pairs"] == 4 and report["made"] == 4 and not report["short"]
    assert sorted(report["counts"]) == sorted(rp.KINDS)
    for kind in rp.KINDS:
        (folder,) = [p for p in (out / kind).iterdir() if p.is_dir()]
        assert "-s1-" in folder.name  # a seed of its own, never the training set's
        for name, mode in (("ref", "RGB"), ("ref_lines", "L"), ("new", "RGB"), ("new_lines", "L")):
            with Image.open(folder / f"{name}.png") as im:
                assert (im.mode, im.size) == (mode, (128, 128))
        meta = json.loads((folder / "meta.json").read_text())
        assert meta["kind"] == kind and meta["source"] in rp.SOURCE_OF.values() and meta["changed"]
    assert json.loads((out / "build.json").read_text())["settings"]["seed"] == 1
    text = (out / "ATTRIBUTION.md").read_text()
    assert "Lisa Wischofsky" in text and "CC BY 4.0" in text and "Comicgen" in text


def test_pairs_show_what_their_kind_says(built):
    out, _, _ = built
    pairs = {p["kind"]: p for p in rp.load_pairs(out)}
    expr = pairs["expression"]
    assert _top_colors(expr["ref"]) & _top_colors(expr["new"])  # the main colors are the same character's
    assert rp.palette_overlap(expr["ref"], expr["new"]) >= rp.MIN_PALETTE_OVERLAP
    assert expr["meta"]["colors"]["ref"] == expr["meta"]["colors"]["new"]
    changed = np.abs(expr["ref_lines"].astype(int) - expr["new_lines"]) > 64
    assert changed.mean() > rp.MIN_LINE_CHANGE  # another expression: other line art
    t = pairs["next-frame"]["meta"]["transform"]
    assert t["scale"] != 1 or t["rotate_deg"] != 0
    assert not np.allclose(t["matrix_px"], [[1, 0, 0], [0, 1, 0]]) and t["inside"] >= rp.MIN_INSIDE
    assert 0.8 <= t["scale"] <= 1.2 and -20 <= t["rotate_deg"] <= 20
    pose = pairs["pose"]["meta"]
    assert pose["source"] == "comicgen" and pose["ref"]["pose"] != pose["new"]["pose"]
    diff = pairs["different"]["meta"]
    assert diff["ref"]["character"] != diff["new"]["character"]
    for p in pairs.values():  # the line art shows in its own color drawing: they line up
        dark = p["new_lines"] < 100
        assert dark.mean() > 0.002 and (p["new"][dark].max(axis=1) < 128).mean() > 0.8


def test_load_pairs_round_trips_and_rerun_keeps_pairs(built):
    out, _, packages = built
    pairs = rp.load_pairs(out)
    assert [p["kind"] for p in pairs] == list(rp.KINDS)
    for p in pairs:
        folder = out / p["kind"] / p["name"]
        assert np.array_equal(p["ref"], np.asarray(Image.open(folder / "ref.png")))
        assert np.array_equal(p["new_lines"], np.asarray(Image.open(folder / "new_lines.png")))
        assert p["ref"].dtype == np.uint8 and p["ref"].shape == (128, 128, 3) and p["ref_lines"].shape == (128, 128)
    assert [p["name"] for p in rp.load_pairs(out, kinds=["pose"], limit=5)] == [pairs[1]["name"]]
    before = {f: f.stat().st_mtime_ns for f in out.rglob("*.png")}
    again = rp.build_pairs(out, count=1, seed=1, size=128, packages_dir=packages, workers=1)
    assert again["made"] == 0 and again["existing"] == 4
    assert before == {f: f.stat().st_mtime_ns for f in out.rglob("*.png")}


def test_bad_arguments(tmp_path):
    from autopainter.data.sources import DatasetBuildError

    for kwargs in ({"count": 0, "seed": 1}, {"count": 1, "seed": 0}, {"count": 1, "seed": 1, "kinds": ["pose", "x"]}):
        with pytest.raises(DatasetBuildError):
            rp.build_pairs(tmp_path, size=64, packages_dir=tmp_path, **kwargs)
