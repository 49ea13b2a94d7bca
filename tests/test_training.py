import json

import pytest
import torch

from autopainter.training.checkpoint import CheckpointError, load_state
from autopainter.training.export import export
from autopainter.training.loop import train
from autopainter.training.state import build_models
from autopainter.training.sampler import EpochBatchSampler
from autopainter.training.step import train_step

from conftest import tiny_config, train_until_signal


def _stats(run_dir):
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]


def _step_losses(run_dir):
    return {r["step"]: (r["total"], r.get("d")) for r in _stats(run_dir) if "total" in r and "epoch_end" not in r}


def test_run_folder_contents(pairs_dir, tmp_path):
    cfg = tiny_config(pairs_dir, f"train.runs_dir={tmp_path / 'runs'}", "train.log_every=1")
    run = train(cfg, progress=False)
    assert run.name == "00000-tiny"
    for f in ("config.yaml", "stats.jsonl", "progress.gif", "checkpoints/latest.pt",
              "samples/epoch-0000.png", "samples/epoch-0001.png"):
        assert (run / f).is_file(), f
    assert any((run / "tensorboard").iterdir())
    stats = _stats(run)
    assert {"l1", "gan", "d", "total", "img_per_s"} <= set(stats[0])
    # a second run never reuses the folder
    assert train(cfg, progress=False).name == "00001-tiny"
    from PIL import Image

    with Image.open(run / "progress.gif") as gif:
        assert gif.n_frames == 2


def test_exact_resume_mid_epoch(pairs_dir, tmp_path):
    """Interrupted (mid-epoch) + resumed gives the same losses and weights as one uninterrupted run."""
    common = ["train.log_every=1", "train.epochs=2", "model.dropout=0.5"]  # dropout: the RNG must be restored too
    full = train(tiny_config(pairs_dir, f"train.runs_dir={tmp_path / 'a'}", *common), progress=False)
    part = train(tiny_config(pairs_dir, f"train.runs_dir={tmp_path / 'b'}", "train.max_steps=3", *common), progress=False)
    assert load_state(part)["step"] == 3
    from autopainter.training.loop import resume_config

    resumed = train(resume_config(part, ["train.max_steps=0"]), resume=part, progress=False)
    assert resumed == part
    a, b = _step_losses(full), _step_losses(part)
    assert sorted(a) == sorted(b) == list(range(1, 11))
    for step in a:
        assert a[step] == pytest.approx(b[step], rel=1e-5, abs=1e-6), step
    sa, sb = load_state(full), load_state(part)
    for k in sa["G_ema"]:
        assert torch.allclose(sa["G_ema"][k].float(), sb["G_ema"][k].float(), atol=1e-5), k


def test_resume_mid_epoch_with_other_data_warns(pairs_dir, tmp_path):
    """--resume with --set data.repeats (or other data roots) mid-epoch: the batches change, and it says so."""
    from autopainter.training.loop import resume_config

    part = train(tiny_config(pairs_dir, f"train.runs_dir={tmp_path}", "train.max_steps=2"), progress=False)
    with pytest.warns(UserWarning, match="another data.repeats"):
        train(resume_config(part, ["train.max_steps=3", "data.repeats=[2]"]), resume=part, progress=False)
    assert load_state(part)["step"] == 3


def test_overfit_one_batch_loss_falls(pairs_dir):
    cfg = tiny_config(pairs_dir, "loss.gan=0", "train.lr_g=0.002")
    torch.manual_seed(0)
    models = build_models(cfg, torch.device("cpu"))
    from autopainter.data.pairs import PairDataset

    ds = PairDataset(cfg.data, train=False)
    batch = {k: torch.stack([ds[i][k] for i in range(4)]) for k in ds[0]}
    losses = [float(train_step(models, cfg, batch)["l1"]) for _ in range(60)]
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("extra", [["train.mixed_precision=bf16"], ["train.channels_last=true"],
                                   ["train.gradient_checkpointing=true", "model.norm=group"],
                                   ["loss.gan_mode=hinge", "loss.tv=0.01"], ["loss.gan_mode=vanilla"]])
def test_training_variants_run(pairs_dir, tmp_path, extra):
    cfg = tiny_config(pairs_dir, f"train.runs_dir={tmp_path}", "train.max_steps=2", *extra)
    run = train(cfg, progress=False)
    assert all(torch.isfinite(torch.tensor(v["total"])) for v in _stats(run) if "total" in v)


def test_feature_loss_training_runs(pairs_dir, tmp_path):
    cfg = tiny_config(pairs_dir, f"train.runs_dir={tmp_path}", "train.max_steps=2", "loss.feature=1.0",
                      "loss.feature_backbone=efficientnet-lite0")
    run = train(cfg, progress=False)
    assert "feature" in _stats(run)[0]


def test_export_and_bad_checkpoint(pairs_dir, tmp_path):
    run = train(tiny_config(pairs_dir, f"train.runs_dir={tmp_path}", "train.max_steps=2"), progress=False)
    out = export(run, tmp_path / "model")
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    with pytest.raises(CheckpointError, match="no checkpoint"):
        export(tmp_path, tmp_path / "m2")
    (run / "checkpoints" / "latest.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        export(run, tmp_path / "m3")


def test_sampler_order_depends_only_on_seed_and_epoch():
    s = EpochBatchSampler(10, 3, seed=1)
    s.set_epoch(2)
    full = list(s)
    s.set_epoch(2, start=1)
    assert list(s) == full[1:]
    assert all(20 <= k < 30 for b in full for k in b)  # keys carry the epoch
    # two ranks see disjoint halves
    r0, r1 = EpochBatchSampler(10, 2, 1, 0, 2), EpochBatchSampler(10, 2, 1, 1, 2)
    k0 = {k for b in r0 for k in b}
    k1 = {k for b in r1 for k in b}
    assert not (k0 & k1)


def test_interrupt_saves_between_steps_and_resumes_exactly(pairs_dir, tmp_path, monkeypatch):
    """SIGTERM (or Ctrl-C) mid-run: the step in progress finishes, a checkpoint is written, and
    --resume then gives the same losses as an uninterrupted run."""
    from autopainter.training.loop import resume_config

    common = ["train.log_every=1", "train.epochs=2", "model.dropout=0.5"]
    full = train(tiny_config(pairs_dir, f"train.runs_dir={tmp_path / 'a'}", *common), progress=False)

    part = train_until_signal(monkeypatch, tiny_config(pairs_dir, f"train.runs_dir={tmp_path / 'b'}", *common), 4)
    assert load_state(part)["step"] == 4  # step 4 completed before stopping
    train(resume_config(part), resume=part, progress=False)
    a, b = _step_losses(full), _step_losses(part)
    assert sorted(a) == sorted(b)
    for step in a:
        assert a[step] == pytest.approx(b[step], rel=1e-5, abs=1e-6), step


def test_export_every_keeps_a_release_model_beside_the_state(pairs_dir, tmp_path):
    from autopainter.models.io import load_generator
    from autopainter.training.loop import EXPORT_DIR

    cfg = tiny_config(pairs_dir, f"train.runs_dir={tmp_path / 'runs'}", "train.max_steps=5", "train.export_every=2")
    run = train(cfg, progress=False)
    config = json.loads((run / EXPORT_DIR / "config.json").read_text())
    assert config["trained"]["step"] == 5  # exported at 2, 4 and when done
    assert load_state(run)["step"] == 5
    load_generator(run / EXPORT_DIR)
    with pytest.raises(ValueError, match="export_every"):
        tiny_config(pairs_dir, "train.export_every=-1")


def test_runs_dir_with_a_tilde_is_the_home_folder(tmp_path, monkeypatch):
    from autopainter.training.runs import make_run_dir

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    run = make_run_dir("~/runs", "x")
    assert run == tmp_path / "runs" / "00000-x" and not (tmp_path / "~").exists()
