"""autopainter evaluate: metrics, determinism, Fréchet distance, CLI; and the training options it measured.

One test (``test_evaluate_reports_metrics_and_writes_files``) runs FD-Lite0 on the real EfficientNet-Lite0; the
others use ``conftest.TinyFeatures`` (the ``tiny_features`` fixture, also in place of the default network), so
that FD's ``sqrtm`` works on an 8 x 8 covariance instead of 1280 x 1280.
"""

import json
import shutil

import numpy as np
import pytest
import torch

import autopainter.evaluate as ev
from autopainter.cli import main
from autopainter.evaluate import EvalError, evaluate, format_table, frechet_distance

from conftest import TinyFeatures, tiny_config


@pytest.fixture(scope="module")
def split_dir(pairs_dir, tmp_path_factory):
    """A dataset folder with a test/ split of 6 pairs."""
    root = tmp_path_factory.mktemp("evalset")
    (root / "test").mkdir()
    for p in sorted(pairs_dir.glob("*.png"))[:6]:
        shutil.copy(p, root / "test" / p.name)
    return root


def test_frechet_distance_is_zero_for_equal_sets_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 8))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # same covariance, means 2 apart in every one of 8 dims: distance = |mu1 - mu2|^2 = 32
    assert frechet_distance(a, a + 2.0) == pytest.approx(32.0, rel=1e-6)
    with pytest.raises(EvalError):
        frechet_distance(a[:1], a)


def test_evaluate_reports_metrics_and_writes_files(tiny_model_dir, split_dir, tmp_path):
    """The one test on the real EfficientNet-Lite0 (FD-Lite0 as reported)."""
    report = evaluate(tiny_model_dir, split_dir, hints=[5, 0], out_dir=tmp_path / "ev", examples=3)
    assert report["images"] == 6 and report["fd"]["n"] == 6 and report["fd"]["name"] == "FD-Lite0"
    assert list(report["results"]) == ["0", "5"]
    for r in report["results"].values():
        assert 0.0 < r["l1"] < 1.0
        assert 0.0 < r["psnr"] < 60.0
        assert -1.0 <= r["ssim"] <= 1.0
        assert r["fd_lite0"] > 0.0
    # a random model's outputs do not depend on which pair... but hints change its input, so results differ
    assert report["results"]["0"]["l1"] != report["results"]["5"]["l1"]
    stored = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert stored["results"] == report["results"]
    from PIL import Image

    grid = Image.open(tmp_path / "ev" / "examples.png")
    assert grid.height == 3 * 192 and grid.width == 5 * 192  # sketch, out0, hints5, out5, target
    assert "| 5 |" in format_table(report)


def test_evaluate_detects_two_folders_and_reports_the_layout(tiny_model_dir, split_dir, tmp_path, tiny_features):
    """--layout defaults to auto: DATA/test/sketch + DATA/test/color is read without being told."""
    from autopainter.data.layouts import make_layout

    src, dst = make_layout("side_by_side"), make_layout("two_folders")
    root = tmp_path / "two"
    for (path,) in src.find(split_dir / "test"):
        sketch, color = src.read((path,))
        dst.write(dst.paths(root / "test", path.stem), np.asarray(color), np.asarray(sketch))
    a = evaluate(tiny_model_dir, split_dir, hints=[2], limit=3, out_dir=tmp_path / "a", feature_net=tiny_features)
    b = evaluate(tiny_model_dir, root, hints=[2], limit=3, feature_net=tiny_features)
    assert (a["layout"], b["layout"]) == ("side_by_side", "two_folders")
    assert a["fallback"] is False and "note" not in a  # a real held-out split: nothing to warn about
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["fallback"] is False
    assert a["results"] == b["results"]  # the same pairs, stored the other way


def test_evaluate_is_deterministic(tiny_model_dir, split_dir, tiny_features):
    a = evaluate(tiny_model_dir, split_dir, hints=[3], limit=3, feature_net=tiny_features)
    b = evaluate(tiny_model_dir, split_dir, hints=[3], limit=3, feature_net=TinyFeatures())
    assert a["results"] == b["results"]
    c = evaluate(tiny_model_dir, split_dir, hints=[3], limit=3, seed=1, feature_net=tiny_features)  # other hints
    assert c["results"]["3"]["l1"] != a["results"]["3"]["l1"]


def test_evaluate_cli(tiny_model_dir, split_dir, tmp_path, capsys, tiny_features):
    rc = main(["evaluate", "--model", str(tiny_model_dir), "--data", str(split_dir), "--hints", "0", "1", "-o", str(tmp_path / "o"), "-q"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "FD-Lite0" in out and "| 1 |" in out
    assert (tmp_path / "o" / "metrics.json").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--split", "val"], "no val/ split"),
        (["--limit", "-1"], "--limit"),
        (["--hints", "-2"], "hint counts"),
    ],
)
def test_evaluate_cli_errors(tiny_model_dir, split_dir, capsys, args, message):
    rc = main(["evaluate", "--model", str(tiny_model_dir), "--data", str(split_dir), "-q", *args])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("autopainter: error:") and message in err and "Traceback" not in err


def test_evaluate_missing_model_folder(split_dir, tmp_path, capsys):
    assert main(["evaluate", "--model", str(tmp_path / "nope"), "--data", str(split_dir), "-q"]) == 2
    assert "autopainter: error:" in capsys.readouterr().err


# ---------------------------------------------------------------- training options behind the results
def test_hint_l1_counts_hinted_areas_only():
    from autopainter.losses import hint_l1

    real = torch.zeros(1, 3, 32, 32)
    fake = torch.zeros(1, 3, 32, 32)
    mask = torch.zeros(1, 1, 32, 32)
    fake[..., 20:, 20:] = 1.0  # wrong far from any hint
    assert float(hint_l1(fake, real, mask)) == 0.0  # no hints: nothing to follow
    mask[..., 2:4, 2:4] = 1.0
    assert float(hint_l1(fake, real, mask)) == 0.0
    fake[..., 3, 3] = 1.0  # wrong under the hint
    assert float(hint_l1(fake, real, mask)) > 0.0


def test_init_from_starts_the_generator_from_a_model_folder(pairs_dir, tiny_overrides, tmp_path):
    from autopainter.models.io import save_pretrained
    from autopainter.models.unet import build_generator
    from autopainter.training.loop import build_models

    cfg = tiny_config(pairs_dir, *tiny_overrides)
    torch.manual_seed(123)
    src = build_generator(cfg.model)
    folder = save_pretrained(src, tmp_path / "start", image_size=cfg.data.image_size)
    cfg2 = tiny_config(pairs_dir, *tiny_overrides, f"train.init_from={folder}")
    models = build_models(cfg2, torch.device("cpu"))
    for k, v in src.state_dict().items():
        if not v.is_floating_point():
            continue
        torch.testing.assert_close(models.G.state_dict()[k], v.half().float())  # stored as fp16
        torch.testing.assert_close(models.G_ema.state_dict()[k], models.G.state_dict()[k])


def test_init_from_missing_folder_is_a_clear_error_but_not_on_resume(pairs_dir, tiny_overrides, tmp_path):
    from autopainter.models.io import ModelFileError
    from autopainter.training.loop import build_models

    cfg = tiny_config(pairs_dir, *tiny_overrides, f"train.init_from={tmp_path / 'missing'}")
    with pytest.raises(ModelFileError, match="missing"):
        build_models(cfg, torch.device("cpu"))
    build_models(cfg, torch.device("cpu"), init=False)  # resuming: the checkpoint holds the weights


def test_hint_hue_jitter_turns_target_and_hints_together(pairs_dir):
    from autopainter.data.pairs import PairDataset

    import dataclasses

    base = tiny_config(pairs_dir, "data.hint_none_prob=0").data
    plain = PairDataset(base, train=True)
    turned = PairDataset(dataclasses.replace(base, hint_hue_jitter=1.0), train=True)
    changed = 0
    for key in range(6):
        a, b = plain[key], turned[key]
        torch.testing.assert_close(a["sketch"], b["sketch"])  # lines untouched
        torch.testing.assert_close(a["mask"], b["mask"])  # same hint places
        if not torch.equal(a["color"], b["color"]):
            changed += 1
            m = b["mask"].bool().expand(3, -1, -1)
            # the hints still tell the (turned) target's colors: same gap as before the turn, roughly
            assert (b["hint"][m] - b["color"][m]).abs().mean() < (a["hint"][m] - a["color"][m]).abs().mean() + 0.1
    assert changed >= 4


def test_evaluate_styles_baseline_and_color_metrics(tiny_model_dir, split_dir, tiny_features):
    """The hints-only baseline obeys its hints exactly (hint ΔE ~ 0) and is flat; the metrics that need
    hints are None without them; soft and flat are scored apart."""
    base = evaluate("none", split_dir, hints=[0, 5], limit=4, feature_net=tiny_features)
    flat = evaluate(tiny_model_dir, split_dir, hints=[0, 5], limit=4, style="flat", feature_net=tiny_features)
    soft = evaluate(tiny_model_dir, split_dir, hints=[0, 5], limit=4, style="soft", feature_net=tiny_features)
    assert (base["style"], flat["style"], soft["style"]) == ("flat", "flat", "soft")
    assert base["target_spread"] is not None and base["target_spread"] < 1.0  # the synthetic targets are flat colors
    for rep in (base, flat, soft):
        assert rep["results"]["0"]["hint_de"] is None and rep["results"]["0"]["hint_region_de"] is None
        assert rep["results"]["5"]["hint_region_de"] is not None
    # a hint fills its (flat-colored) target region: the region's other pixels match the target
    assert base["results"]["5"]["hint_region_de"] < soft["results"]["5"]["hint_region_de"]
    assert base["results"]["5"]["hint_de"] < 3.0  # a hinted region takes the hint color (the goal: <= 3)
    assert flat["results"]["5"]["hint_de"] < 3.0
    assert soft["results"]["5"]["hint_de"] > flat["results"]["5"]["hint_de"]  # a random model ignores hints
    assert flat["results"]["0"]["spread"] < soft["results"]["0"]["spread"]  # one color per region is flatter
    assert base["results"]["0"]["l1"] != flat["results"]["0"]["l1"]


def test_color_metrics_on_known_images():
    from autopainter import color_metrics as cm

    tgt = np.full((40, 40, 3), 255, np.uint8)
    tgt[:, 20:] = (200, 30, 40)
    ink = np.zeros((40, 40), bool)
    ink[:, 19:21] = True
    regions = cm.target_regions(tgt, ink)
    assert len(np.unique(regions[regions > 0])) == 2 and (regions[ink] == 0).all()
    t_lab = cm.lab(tgt)
    mask = np.zeros((40, 40), bool)
    mask[5:8, 30:33] = True
    hint_rgb = np.zeros_like(tgt)
    hint_rgb[mask] = (200, 30, 40)
    assert cm.hint_de(t_lab, hint_rgb, mask, ink) < 1e-3  # the target itself obeys a hint taken from it
    assert cm.hint_region_de(t_lab, t_lab, mask, regions) < 1e-3 and cm.spread(t_lab, regions) < 1e-3
    gray = cm.lab(np.full((40, 40, 3), 128, np.uint8))
    assert cm.hint_de(gray, hint_rgb, mask, ink) > 30 and cm.hint_region_de(gray, t_lab, mask, regions) > 30
    noisy = tgt.copy()
    noisy[::2, ::2] = 0
    assert cm.spread(cm.lab(noisy), regions) > 10


def test_hue_wheel_counts_the_hues_that_steer():
    """The measure itself: a fake model that fills the ring with the hint's color steers every hue, one that
    leaves it white steers none, and one that always paints red steers only red."""
    import numpy as np
    from PIL import Image

    from autopainter.evaluate import hue_wheel

    def fill_with(color_of):
        def colorize(sketch, hints):
            rgba = np.asarray(hints)
            color = color_of(rgba[rgba[..., 3] > 0][0, :3])
            out = np.where(np.asarray(sketch)[..., None] < 128, 0, np.array(color, np.uint8))
            return Image.fromarray(out.astype(np.uint8), "RGB")
        return colorize

    follows, _ = hue_wheel(fill_with(lambda hint: hint))
    assert len(follows) == 12 and all(r["steers"] for r in follows) and max(r["delta_e"] for r in follows) < 1
    white, _ = hue_wheel(fill_with(lambda hint: (255, 255, 255)))
    assert not any(r["steers"] for r in white)
    red, images = hue_wheel(fill_with(lambda hint: (220, 40, 40)))
    assert [r["hue"] for r in red if r["steers"]] == [0] and images[0].shape == (256, 256, 3)


def test_benchmark_cache_follows_the_weights_not_the_path(tiny_model_dir, split_dir, tmp_path, monkeypatch,
                                                        tiny_features):
    """benchmarks' cached_evaluate reuses an evaluation for the same weights only, wherever they are: new
    weights written to the same folder (as when a model replaces the bundled one) are evaluated afresh.
    Its ``python -m autopainter evaluate`` command runs in this process (``main``), with the tiny FD network."""
    import subprocess
    import sys

    from conftest import REPO

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import _common

    runs = []

    def run_here(cmd, check=False, **kw):
        assert cmd[1:4] == ["-m", "autopainter", "evaluate"]
        rc = main(cmd[3:])
        if check and rc:
            raise subprocess.CalledProcessError(rc, cmd)
        return subprocess.CompletedProcess(cmd, rc)

    monkeypatch.setattr(_common.subprocess, "run", lambda cmd, **kw: runs.append(cmd) or run_here(cmd, **kw))
    model, out = tmp_path / "model", tmp_path / "eval"
    shutil.copytree(tiny_model_dir, model)
    first = _common.cached_evaluate(str(model), str(split_dir), "test", "soft", [0], out)
    assert _common.cached_evaluate(str(model), str(split_dir), "test", "soft", [0], out) == first
    assert len(runs) == 1 and runs[0][0] == sys.executable
    copy = tmp_path / "copy"  # the same weights in another folder: still the same evaluation
    shutil.copytree(model, copy)
    assert _common.cached_evaluate(str(copy), str(split_dir), "test", "soft", [0], out) == first
    assert len(runs) == 1
    from safetensors.torch import load_file, save_file

    weights = load_file(model / "model.safetensors")
    save_file({k: v * 0.5 for k, v in weights.items()}, model / "model.safetensors")
    second = _common.cached_evaluate(str(model), str(split_dir), "test", "soft", [0], out)
    assert len(runs) == 2 and second["results"] != first["results"]


# ---------------------------------------------------------------- metrics by name
def test_a_registered_metric_shows_up_in_the_report(tiny_model_dir, split_dir, tiny_features, monkeypatch):
    """One decorated function is a new metric: in every report's results (and the table), per hint count; a
    split metric collects every sample and reduces per hint count."""
    monkeypatch.setattr(ev, "METRICS", dict(ev.METRICS))  # registered for this test only
    seen = []

    @ev.register_metric("hinted_share")
    def hinted_share(s: ev.Sample) -> float | None:
        seen.append((s.index, s.hints, s.output.shape == s.target.shape, s.regions.shape == s.ink.shape))
        return float(s.hint_mask.mean()) if s.hints else None  # None: left out of the mean

    @ev.register_metric("pairs_seen", over="split")
    class PairsSeen:
        def __init__(self, ctx):
            self.count: dict[int, int] = {}

        def add(self, s):
            self.count[s.hints] = self.count.get(s.hints, 0) + 1

        def result(self, hints):
            return float(self.count[hints])

        def report(self):
            return {}

    report = evaluate(tiny_model_dir, split_dir, hints=[0, 4], limit=3, feature_net=tiny_features)
    r0, r4 = report["results"]["0"], report["results"]["4"]
    assert list(r0)[-2:] == ["hinted_share", "pairs_seen"] and r0["l1"] > 0  # after the built-in ones
    assert r0["hinted_share"] is None and 0.0 < r4["hinted_share"] < 1.0
    assert r0["pairs_seen"] == r4["pairs_seen"] == 3.0
    assert sorted(seen) == [(i, n, True, True) for i in range(3) for n in (0, 4)]
    table = format_table(report)
    assert "hinted_share" in table.splitlines()[0] and "FD-Lite0" in table


def test_metrics_are_chosen_by_name_and_an_unknown_name_lists_the_valid_ones(tiny_model_dir, split_dir):
    report = evaluate(tiny_model_dir, split_dir, hints=[0, 2], limit=2, metrics=["l1", "spread"])
    assert list(report["results"]["2"]) == ["hints", "l1", "spread"]
    assert "fd" not in report and report["target_spread"] is not None  # no FD: no network was loaded
    assert format_table(report).splitlines()[0].startswith("| hints | L1 ↓ | spread ↓ (target")
    with pytest.raises(EvalError, match=r"unknown metric 'fid'; the metrics are: l1, psnr, ssim, fd_lite0, "
                                        r"hint_de, hint_region_de, spread"):
        evaluate(tiny_model_dir, split_dir, metrics=["l1", "fid"])
    assert [m.name for m in ev.resolve_metrics(None)] == list(ev.METRICS)


def test_the_default_table_is_unchanged():
    """format_table of a full report: the columns and formats the docs and benchmarks show."""
    r = {"hints": 5, "l1": 0.06408, "psnr": 17.3594, "ssim": 0.87955, "fd_lite0": 65.8938, "hint_de": 0.7471,
         "hint_region_de": 13.5067, "spread": 3.8815}
    report = {"fd": {"name": "FD-Lite0", "n": 40, "resolution": 256}, "target_spread": 0.3512,
              "results": {"0": {**r, "hints": 0, "hint_de": None, "hint_region_de": None}, "5": r}}
    assert format_table(report) == (
        "| hints | L1 ↓ | PSNR (dB) ↑ | SSIM ↑ | FD-Lite0 ↓ (N=40, 256 px) | hint ΔE ↓ | hint-region ΔE ↓ "
        "| spread ↓ (target 0.35) |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        "| 0 | 0.0641 | 17.36 | 0.8796 | 65.89 | – | – | 3.88 |\n"
        "| 5 | 0.0641 | 17.36 | 0.8796 | 65.89 | 0.75 | 13.51 | 3.88 |")


def test_frechet_distance_matches_the_matrix_square_root():
    """The small-matrix trace (fewer images than dimensions) is FID's sqrtm formula, to rounding."""
    import warnings

    from scipy import linalg

    from autopainter.evaluate import frechet_distance

    rng = np.random.default_rng(0)
    for n, m, d in [(30, 25, 64), (200, 150, 16)]:  # fewer images than dimensions, then more
        a = rng.normal(size=(n, d)) * rng.random(d)
        b = rng.normal(size=(m, d)) * rng.random(d) + 0.2
        s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            covmean = np.real(linalg.sqrtm(s1 @ s2))
        want = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
        assert frechet_distance(a, b) == pytest.approx(want, rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
