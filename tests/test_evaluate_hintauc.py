"""autopainter evaluate --protocol hintauc: hint conversion, the protocol's loop and integral, the CLI.

The package ``hintauc`` is an optional install (not in ``dev``): everything but the last two tests runs
without it; those two check our loop against ``hintauc.evaluate_colorizer`` and run the command end to end.
"""

import json
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

from autopainter.cli import main
from autopainter.evaluate import EvalError
from autopainter.evaluate_hintauc import (
    INSTALL,
    format_hintauc,
    hint_auc_curve,
    hints_from_hintauc,
    require_hintauc,
    trapezoid_auc,
)
from autopainter.imageio import ImageError

GRID = (0.0, 0.01, 0.03, 0.05, 0.10, 0.25, 0.50, 1.0)  # the paper's grid, as hintauc.DEFAULT_ALPHAS


@pytest.fixture(scope="module")
def split_dir(pairs_dir, tmp_path_factory):
    """A dataset folder with a test/ split of 4 pairs."""
    root = tmp_path_factory.mktemp("hintauc-set")
    (root / "test").mkdir()
    for p in sorted(pairs_dir.glob("*.png"))[:4]:
        shutil.copy(p, root / "test" / p.name)
    return root


def test_hints_from_hintauc_turns_bgr_and_the_255_mask_into_ours():
    color = np.zeros((4, 5, 3), np.uint8)
    mask = np.zeros((4, 5), np.uint8)
    color[1, 2] = (10, 20, 30)  # BGR
    mask[1, 2] = 255
    mask[3, 4] = 255  # a black hint: still a hint
    color[0, 0] = (7, 7, 7)  # color without a mask: not a hint
    rgb, m = hints_from_hintauc(color, mask)
    assert rgb.dtype == np.uint8 and rgb.shape == (4, 5, 3) and m.dtype == bool and m.shape == (4, 5)
    assert m.sum() == 2 and m[1, 2] and m[3, 4]
    assert tuple(rgb[1, 2]) == (30, 20, 10)  # RGB
    assert tuple(rgb[3, 4]) == (0, 0, 0) and not rgb[~m].any()  # 0 wherever there is no hint
    from autopainter.data.hints import hints_to_rgba

    rgba = hints_to_rgba(rgb, m)  # ours all the way to the Colorizer's RGBA input
    assert tuple(rgba[1, 2]) == (30, 20, 10, 255) and rgba[..., 3].sum() == 2 * 255
    rgb2, m2 = hints_from_hintauc(color, mask > 0)  # a bool mask reads the same
    assert np.array_equal(rgb, rgb2) and np.array_equal(m, m2)
    with pytest.raises(ValueError, match="uint8"):
        hints_from_hintauc(color.astype(np.float32), mask)
    with pytest.raises(ValueError, match="hint_mask"):
        hints_from_hintauc(color, mask[:3])


def test_trapezoid_auc():
    assert trapezoid_auc({0.0: 2.0, 1.0: 2.0}) == pytest.approx(2.0)  # a flat curve: its value
    assert trapezoid_auc({1.0: 1.0, 0.0: 0.0, 0.5: 0.5}) == pytest.approx(0.5)  # order of the keys does not matter
    # the paper grid is front-loaded: a step at 0.05 weighs 95 %
    assert trapezoid_auc({a: float(a >= 0.05) for a in GRID}) == pytest.approx(1 - 0.05 + 0.02 / 2)
    for bad in ({0.0: 1.0}, {0.1: 1.0, 1.0: 1.0}, {0.0: 1.0, 0.9: 1.0}):
        with pytest.raises(ValueError, match="from 0 to 1"):
            trapezoid_auc(bad)


def _fake_pairs(n=3, h=10, w=8):
    """(name, sketch, target) with targets of no black pixel, and a fake hint source: at ratio a the top
    int(a * h) rows are hinted with the target's colors."""
    rng = np.random.default_rng(0)
    pairs = [(f"p{i}.png", Image.new("L", (w, h), 255), rng.integers(1, 256, (h, w, 3), dtype=np.uint8))
             for i in range(n)]

    def make_hints(target):
        def at(a):
            m = np.zeros(target.shape[:2], bool)
            m[: int(a * target.shape[0])] = True
            return np.where(m[..., None], target, 0).astype(np.uint8), m

        return at, 7

    return pairs, make_hints


def test_hint_auc_curve_integrates_fake_outputs():
    """A fake model that paints exactly its hints (black elsewhere), scored by the share of right pixels: the
    curve is the hinted share, int(a * 10) / 10, and its Hint-AUC the trapezoid over the paper grid."""
    pairs, make_hints = _fake_pairs()
    seen = []

    def colorize(sketch, hint_rgb, hint_mask):
        seen.append(int(hint_mask.sum()))
        return hint_rgb

    def score(out, target):
        right = float((out == target).all(axis=2).mean())
        return {"psnr": 10 * right, "ssim": right}

    r = hint_auc_curve(colorize, pairs, make_hints, score, GRID, examples=2)
    want = {a: int(a * 10) / 10 for a in GRID}  # 0 up to 0.10, then 0.1, 0.2, 0.5, 1
    assert r["images"] == 3 and r["skipped"] == 0 and r["names"] == ["p0.png", "p1.png", "p2.png"]
    assert r["alphas"] == list(GRID) and len(seen) == 3 * len(GRID)
    assert r["per_alpha"] == {a: pytest.approx({"psnr": 10 * v, "ssim": v}) for a, v in want.items()}
    auc = trapezoid_auc(want)
    assert auc == pytest.approx(0.05 * 0.05 + 0.15 * 0.15 + 0.25 * 0.35 + 0.5 * 0.75)
    assert r["hint_auc"] == pytest.approx({"psnr": 10 * auc, "ssim": auc})
    assert [p["regions"] for p in r["per_image"]] == [7, 7, 7]
    # the integral is linear: the mean of the images' own Hint-AUCs is the Hint-AUC of the mean curve
    assert np.mean([p["hint_auc"]["ssim"] for p in r["per_image"]]) == pytest.approx(r["hint_auc"]["ssim"])
    rows = r["example_rows"]  # sketch, ratio-1 hints over it, one output per ratio, target
    assert len(rows) == 2 and all(len(row) == 2 + len(GRID) + 1 for row in rows)


def test_hint_auc_curve_skips_a_bad_pair_at_every_ratio():
    pairs, make_hints = _fake_pairs()

    class Pairs(list):
        def __getitem__(self, i):
            if i == 1 or len(self) == 1:
                raise ImageError("broken file")
            return list.__getitem__(self, i)

    calls = []

    def colorize(sketch, hint_rgb, hint_mask):
        calls.append(1)
        if len(calls) == 2 * len(GRID) + 3:  # the third readable pair fails at its third ratio: dropped entirely
            raise ValueError("too large")
        return hint_rgb

    score = lambda out, target: {"psnr": float((out == target).mean()), "ssim": 0.5}  # noqa: E731
    r = hint_auc_curve(colorize, Pairs(pairs + [pairs[0]]), make_hints, score, GRID)
    assert r["images"] == 2 and r["skipped"] == 2 and r["names"] == ["p0.png", "p2.png"]
    assert r["hint_auc"]["ssim"] == pytest.approx(0.5)
    with pytest.raises(EvalError, match="no readable pair"):
        hint_auc_curve(colorize, Pairs(pairs[:1]), make_hints, score, GRID)
    with pytest.raises(ValueError, match="from 0 to 1"):
        hint_auc_curve(colorize, pairs, make_hints, score, (0.0, 0.5))


def test_format_hintauc_prints_the_curve_the_figure_and_the_backend():
    report = {"images": 3, "hint_auc": {"psnr": 21.5, "ssim": 0.875},
              "curve": [{"ratio": a, "psnr": 20 + a, "ssim": 0.8} for a in GRID],
              "hintauc": {"protocol": "hint-auc/v1", "hint_type": "scribble", "path_method": "geodesic",
                          "hint_map_size": 64, "tie_break": "stable", "metric_resize": 256,
                          "backend": {"resize": "pillow", "ssim": "torchmetrics", "pillow": "13.0.0",
                                      "torchmetrics": "1.4.0", "torchvision": None, "scikit-image": "0.26.0"},
                          "versions": {"hintauc": "0.3.3", "opencv": "5.1.0"}}}
    text = format_hintauc(report)
    assert "| 0.03 | 20.03 | 0.8000 |" in text and "| **Hint-AUC** | **21.50** | **0.8750** |" in text
    last = text.splitlines()[-1]
    assert last.startswith("Hint-AUC PSNR 21.50 dB, SSIM 0.8750 (N=3; hint-auc/v1")
    assert "resize pillow 13.0.0, SSIM torchmetrics 1.4.0" in last and "hintauc 0.3.3" in last


def test_hintauc_protocol_without_the_package_is_one_line_naming_the_install(split_dir, tmp_path, monkeypatch,
                                                                              capsys):
    monkeypatch.setitem(sys.modules, "hintauc", None)  # as if not installed (the dev install has no hintauc)
    with pytest.raises(EvalError, match="hintauc"):
        require_hintauc()
    rc = main(["evaluate", "--protocol", "hintauc", "--data", str(split_dir), "-o", str(tmp_path / "o"), "-q"])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("autopainter: error: --protocol hintauc needs the hintauc package")
    assert INSTALL in err and "pip install --no-deps hintauc==" in err and "make install-hintauc" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_hintauc_protocol_refuses_the_strokes_options(split_dir, capsys):
    for extra in (["--hints", "5"], ["--seed", "1"]):
        assert main(["evaluate", "--protocol", "hintauc", "--data", str(split_dir), "-q", *extra]) == 2
        assert "belong to --protocol strokes" in capsys.readouterr().err


def test_the_strokes_protocol_stays_the_default(tiny_model_dir, split_dir, tmp_path, capsys, tiny_features):
    assert main(["evaluate", "--model", str(tiny_model_dir), "--data", str(split_dir), "--limit", "2",
                 "-o", str(tmp_path / "o"), "-q"]) == 0
    stored = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert stored["protocol"] == "strokes" and list(stored["results"]) == ["0"] and stored["seed"] == 0


# ------------------------------------------------------------------ with the hintauc package installed
def test_our_loop_matches_hintauc_evaluate_colorizer(split_dir):
    """Our loop with the protocol's hints and scores gives hintauc.evaluate_colorizer's curve and Hint-AUC to
    the last digit, for a fake model that paints its hints over a gray page (so the hints must reach it the
    same way: same regions, ratios, order, size and colors)."""
    hintauc = pytest.importorskip("hintauc")
    from autopainter.config import DataConfig
    from autopainter.data.pairs import PairDataset
    from autopainter.evaluate_hintauc import protocol_hints, protocol_scores

    ds = PairDataset(DataConfig(path=str(split_dir)), split="test", train=False)
    pairs = [(f"{i}.png", *ds.pair(i)) for i in range(2)]

    def paint(hint_rgb, hint_mask):
        return np.where(hint_mask[..., None], hint_rgb, 128).astype(np.uint8)

    theirs = hintauc.evaluate_colorizer(
        lambda s: np.ascontiguousarray(paint(*hints_from_hintauc(s["hint_color"], s["hint_mask"]))[:, :, ::-1]),
        [(np.asarray(sk), np.ascontiguousarray(np.asarray(tg)[:, :, ::-1])) for _, sk, tg in pairs],
        metrics=("psnr", "ssim"), path_method="geodesic", tie_break="stable")
    ev = hintauc.Evaluator(metrics=("psnr", "ssim"))
    ours = hint_auc_curve(lambda sk, rgb, m: paint(rgb, m), [(n, sk, np.asarray(tg)) for n, sk, tg in pairs],
                          lambda t: protocol_hints(hintauc, t), lambda o, t: protocol_scores(ev, o, t),
                          hintauc.DEFAULT_ALPHAS)
    assert ours["per_alpha"] == theirs["per_alpha"]
    assert ours["hint_auc"] == pytest.approx(theirs["hint_auc"], abs=1e-12)
    assert ours["per_alpha"][1.0]["psnr"] > ours["per_alpha"][0.0]["psnr"]  # hints help a model that paints them


@pytest.mark.parametrize("style", ["flat", "soft"])
def test_evaluate_protocol_hintauc_cli(tiny_model_dir, split_dir, tmp_path, capsys, style):
    pytest.importorskip("hintauc")
    out = tmp_path / "o"
    rc = main(["evaluate", "--protocol", "hintauc", "--model", str(tiny_model_dir), "--data", str(split_dir),
               "--style", style, "--limit", "2", "-o", str(out), "-q"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "| **Hint-AUC** |" in text and "Hint-AUC PSNR" in text and "geodesic" in text and "SSIM" in text
    stored = json.loads((out / "metrics.json").read_text())
    assert stored["protocol"] == "hintauc" and stored["style"] == style and stored["images"] == 2
    assert [r["ratio"] for r in stored["curve"]] == list(GRID)
    assert set(stored["hint_auc"]) == {"psnr", "ssim"} and stored["hintauc"]["protocol"] == "hint-auc/v1"
    assert stored["hintauc"]["path_method"] == "geodesic" and stored["hintauc"]["backend"]["ssim"]
    assert Image.open(out / "examples.png").width == (2 + len(GRID) + 1) * 192
