"""Continuing a run on another machine from one model folder, and training on several datasets at once.

``autopainter export`` writes the discriminator beside the generator; ``train.init_from`` starts G, its
EMA and D from the folder, and the exported ``trained`` record totals the steps of every stage.
"""

from pathlib import Path

import pytest
import torch

from conftest import REPO, tiny_config


def _train(cfg):
    from autopainter.training.loop import train

    return train(cfg, progress=False)


def test_export_writes_the_discriminator_and_init_from_loads_it(pairs_dir, tiny_overrides, tmp_path):
    from autopainter.models.io import DISCRIMINATOR_NAME, load_discriminator, read_model_config
    from autopainter.training.checkpoint import load_state
    from autopainter.training.export import export
    from autopainter.training.loop import build_models

    run = _train(tiny_config(pairs_dir, *tiny_overrides, "train.max_steps=3"))
    out = export(run, tmp_path / "stage1")
    meta = read_model_config(out)
    assert meta["training_files"] == {DISCRIMINATOR_NAME: "not needed for inference"}
    assert meta["trained"]["step"] == 3 and meta["trained"]["total_steps"] == 3 and meta["trained"]["images"] == 12
    d_cfg, d_state = load_discriminator(out)
    state = load_state(run)
    assert d_cfg.ndf == 8 and d_cfg.layers == 2
    for k, v in state["D"].items():
        if v.is_floating_point():
            torch.testing.assert_close(d_state[k], v.half().float())  # stored as fp16

    # a second stage on "another machine": only the folder travels
    cfg2 = tiny_config(pairs_dir, *tiny_overrides, f"train.init_from={out}", "train.max_steps=2", "train.name=stage2")
    models = build_models(cfg2, torch.device("cpu"))
    for k, v in d_state.items():
        torch.testing.assert_close(models.D.state_dict()[k], v)
    assert models.init_trained["step"] == 3
    run2 = _train(cfg2)
    meta2 = read_model_config(export(run2, tmp_path / "stage2"))
    t = meta2["trained"]
    assert t["step"] == 2 and t["total_steps"] == 5 and t["total_images"] == 20 and t["before"]["step"] == 3


def test_init_from_resumed_run_keeps_the_earlier_stages(pairs_dir, tiny_overrides, tmp_path):
    """The record of where a run started survives --resume (it is in the checkpoint)."""
    from autopainter.models.io import read_model_config
    from autopainter.training.export import export
    from autopainter.training.loop import resume_config, train

    first = export(_train(tiny_config(pairs_dir, *tiny_overrides, "train.max_steps=2")), tmp_path / "a")
    run = _train(tiny_config(pairs_dir, *tiny_overrides, f"train.init_from={first}", "train.max_steps=2",
                             "train.name=b"))
    run = train(resume_config(run, ["train.max_steps=4"]), resume=run, progress=False)
    t = read_model_config(export(run, tmp_path / "b"))["trained"]
    assert t["step"] == 4 and t["total_steps"] == 6


def test_init_from_another_discriminator_names_the_fix(pairs_dir, tiny_overrides, tmp_path, capsys):
    from autopainter.cli import main
    from autopainter.training.export import export

    folder = export(_train(tiny_config(pairs_dir, *tiny_overrides, "train.max_steps=1")), tmp_path / "m")
    code = main(["train", "--config", str(REPO / "configs" / "tiny.yaml"), "--data", str(pairs_dir), "-q",
                 "--set", f"train.runs_dir={tmp_path / 'r2'}", "--set", f"train.init_from={folder}",
                 "--set", "discriminator.ndf=16"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "discriminator" in err[0] and "--set discriminator.ndf=8" in err[0]


def test_init_from_a_folder_without_discriminator_trains_d_from_scratch(pairs_dir, tiny_overrides, tiny_model_dir):
    from autopainter.training.loop import build_models

    cfg = tiny_config(pairs_dir, *tiny_overrides, f"train.init_from={tiny_model_dir}", "model.norm=group")
    models = build_models(cfg, torch.device("cpu"))
    assert models.D is not None  # built fresh: the folder has no discriminator


def test_export_without_discriminator_removes_a_stale_one(pairs_dir, tiny_overrides, tmp_path):
    from autopainter.models.io import DISCRIMINATOR_NAME, read_model_config
    from autopainter.training.export import export

    out = tmp_path / "m"
    export(_train(tiny_config(pairs_dir, *tiny_overrides, "train.max_steps=1")), out)
    assert (out / DISCRIMINATOR_NAME).is_file()
    export(_train(tiny_config(pairs_dir, *tiny_overrides, "train.max_steps=1", "loss.gan=0", "train.name=nod")), out)
    assert not (out / DISCRIMINATOR_NAME).exists() and "training_files" not in read_model_config(out)


def test_export_copy_carries_the_discriminator_and_drops_a_stale_one(pairs_dir, tiny_overrides, tiny_model_dir, tmp_path):
    """``autopainter export MODEL_DIR -o OUT --onnx`` copies a folder: its discriminator travels with it, and
    one OUT held before (another model's) never stays beside the new generator."""
    from autopainter.cli.train import _copy_model_folder
    from autopainter.models.io import DISCRIMINATOR_NAME
    from autopainter.training.export import export

    with_d = export(_train(tiny_config(pairs_dir, *tiny_overrides, "train.max_steps=1")), tmp_path / "with-d")
    out = _copy_model_folder(with_d, tmp_path / "copy")
    assert (out / DISCRIMINATOR_NAME).read_bytes() == (with_d / DISCRIMINATOR_NAME).read_bytes()
    _copy_model_folder(tiny_model_dir, out)  # a model without a discriminator, into the same folder
    assert not (out / DISCRIMINATOR_NAME).exists()


def test_a_broken_discriminator_file_is_a_clear_error(pairs_dir, tiny_overrides, tmp_path):
    from autopainter.models.io import DISCRIMINATOR_NAME, ModelFileError
    from autopainter.training.export import export
    from autopainter.training.loop import build_models

    out = export(_train(tiny_config(pairs_dir, *tiny_overrides, "train.max_steps=1")), tmp_path / "m")
    (out / DISCRIMINATOR_NAME).write_bytes(b"not safetensors")
    with pytest.raises(ModelFileError, match="discriminator"):
        build_models(tiny_config(pairs_dir, *tiny_overrides, f"train.init_from={out}"), torch.device("cpu"))


# ------------------------------------------------------------------ several datasets as one

@pytest.fixture(scope="module")
def second_pairs(tmp_path_factory) -> Path:
    """Another small side-by-side set, with a train split only."""
    from autopainter.data.synthetic import make_synthetic_pairs

    root = tmp_path_factory.mktemp("second")
    make_synthetic_pairs(root / "train", n=6, size=64, seed=5)
    return root


def test_extra_paths_join_the_training_set(pairs_dir, second_pairs):
    from autopainter.data.pairs import PairDataset

    one = PairDataset(tiny_config(pairs_dir).data, split="train")
    both = PairDataset(tiny_config(pairs_dir, f"data.extra_paths=[{second_pairs}]").data, split="train")
    assert len(both) == len(one) + 6
    assert set(both.paths[len(one):]) == set(sorted((second_pairs / "train").glob("*.png")))
    assert both[len(one) + 2]["color"].shape == (3, 32, 32)
    assert str(second_pairs) in both.describe()
    # a root without a val split adds nothing to val, rather than its training images
    val_one = PairDataset(tiny_config(pairs_dir).data, split="val", train=False)
    val_both = PairDataset(tiny_config(pairs_dir, f"data.extra_paths=[{second_pairs}]").data, split="val", train=False)
    assert val_both.paths == val_one.paths


def test_repeats_weight_the_training_roots_but_not_val(pairs_dir, second_pairs):
    """data.repeats [1, 3]: the second root's training pairs listed three times, each copy its own crop."""
    from autopainter.data.pairs import PairDataset

    one = PairDataset(tiny_config(pairs_dir).data, split="train")
    cfg = tiny_config(pairs_dir, f"data.extra_paths=[{second_pairs}]", "data.repeats=[1,3]").data
    mixed = PairDataset(cfg, split="train")
    assert len(mixed) == len(one) + 3 * 6
    assert mixed.paths[len(one):] == mixed.paths[len(one):len(one) + 6] * 3
    assert "x3" in mixed.describe()
    n = len(one)
    a, b = mixed[n], mixed[n + 6]  # the same pair, two keys: different random crops/hints
    assert not torch.equal(torch.cat([a["color"], a["input"]]), torch.cat([b["color"], b["input"]]))
    val = PairDataset(tiny_config(pairs_dir, "data.repeats=[4]").data, split="val", train=False)
    assert val.paths == PairDataset(tiny_config(pairs_dir).data, split="val", train=False).paths


@pytest.mark.parametrize("value, words", [("[1,2]", "2 entries but there are 1 datasets"), ("[0]", "whole numbers"),
                                          ("[1.5]", "integer")])
def test_bad_repeats_are_a_config_error(pairs_dir, value, words):
    from autopainter.config import ConfigError

    with pytest.raises(ConfigError, match=words):
        tiny_config(pairs_dir, f"data.repeats={value}")


def test_a_val_split_never_mixes_in_training_images(pairs_dir, tmp_path):
    """data.path has no val/ but an extra root has: val is that root's val alone."""
    from autopainter.data.pairs import PairDataset
    from autopainter.data.synthetic import make_synthetic_pairs

    other = tmp_path / "other"
    make_synthetic_pairs(other / "train", n=4, size=64, seed=7)
    make_synthetic_pairs(other / "val", n=3, size=64, seed=8)
    val = PairDataset(tiny_config(pairs_dir, f"data.extra_paths=[{other}]").data, split="val", train=False)
    assert len(val) == 3 and not val.fallback
    assert all(p.parent == other / "val" for p in val.paths)
    train = PairDataset(tiny_config(pairs_dir, f"data.extra_paths=[{other}]").data, split="train")
    assert len(train) == 20 + 4


def test_cli_data_twice_trains_on_both(pairs_dir, second_pairs, tmp_path, capsys):
    from autopainter.cli import main

    code = main(["train", "--config", "tiny", "--data", str(pairs_dir), "--data", str(second_pairs), "--dry-run"])
    assert code == 0
    out = capsys.readouterr().out
    assert f"path: {pairs_dir}" in out and f"- {second_pairs}" in out
    code = main(["train", "--config", "tiny", "--data", str(pairs_dir), "--data", str(tmp_path / "nope"), "-q"])
    assert code == 2 and "data folder not found" in capsys.readouterr().err
