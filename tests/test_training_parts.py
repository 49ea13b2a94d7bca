"""The pieces beside the loop: the tick gate, unwrapping, old run folders, the run-start messages."""

import json

import pytest
import torch

from autopainter.training.checkpoint import Position, load_state, save_state
from autopainter.training.export import export
from autopainter.training.loop import resume_config, train
from autopainter.training.runtime import unwrap
from autopainter.training.schedule import Schedule

from conftest import REPO, tiny_config, train_until_signal


def test_tick_gate_cadences(pairs_dir):
    cfg = tiny_config(pairs_dir, "train.epochs=4", "train.log_every=2", "train.sample_every=2",
                      "train.checkpoint_every=3")
    s = Schedule.from_config(cfg, steps_per_epoch=3)
    assert s.total_steps == 12
    ticks = {}
    pos = Position()
    while not s.finished(pos):
        pos.advance(4)
        ticks[pos.step] = t = s.tick(pos)
        if t.epoch_end:
            pos.next_epoch()
    assert [k for k, t in ticks.items() if t.log] == [2, 4, 6, 8, 10, 12]
    assert [k for k, t in ticks.items() if t.epoch_end] == [3, 6, 9, 12]
    assert [k for k, t in ticks.items() if t.sample] == [6, 12]  # every 2nd epoch, and the last
    assert [k for k, t in ticks.items() if t.checkpoint] == [9, 12]  # every 3rd epoch, and the last
    assert [k for k, t in ticks.items() if t.done] == [12]
    assert all(t.check_stop for t in ticks.values())  # one process: every step
    assert [k for k, t in ticks.items() if t.read] == [2, 4, 6, 8, 10, 12]


def test_tick_gate_max_steps_and_ddp(pairs_dir):
    cfg = tiny_config(pairs_dir, "train.epochs=4", "train.log_every=2", "train.max_steps=5")
    s = Schedule.from_config(cfg, steps_per_epoch=3, world=2)
    t = s.tick(Position(epoch=1, batch=2, step=5))
    assert t.done and t.checkpoint and t.read and not t.epoch_end and not t.sample  # mid-epoch stop saves
    assert not s.tick(Position(epoch=1, batch=2, step=5)).check_stop  # DDP: only on logged steps
    assert s.tick(Position(epoch=1, batch=1, step=4)).check_stop
    # resuming from a checkpoint written at an epoch's end: the epoch-end part only, nothing logged
    t = s.tick(Position(epoch=0, batch=3, step=3), stepped=False)
    assert t.epoch_end and not t.log and not t.read and not t.check_stop


def test_lr_decay_scale(pairs_dir):
    cfg = tiny_config(pairs_dir, "train.epochs=4", "train.lr_decay_steps=4")
    s = Schedule.from_config(cfg, steps_per_epoch=3)  # 12 steps: the last 4 decay
    assert [s.lr_scale(done) for done in range(12)] == [1.0] * 8 + [1.0, 0.75, 0.5, 0.25]
    assert Schedule.from_config(tiny_config(pairs_dir), steps_per_epoch=3).lr_scale(5) == 1.0  # off by default
    with pytest.raises(Exception, match="lr_decay_steps must be >= 0"):
        tiny_config(pairs_dir, "train.lr_decay_steps=-1")


def test_lr_decay_trains_resumes_exactly_and_resume_takes_a_new_rate(pairs_dir, tmp_path, monkeypatch):
    """The decay reaches the optimizers and is logged; a run stopped by a signal and resumed repeats it
    exactly; a resumed run takes --set train.lr_g (the checkpoint's optimizer state carries the old rate)."""
    common = ["train.log_every=1", "train.epochs=2", "train.lr_decay_steps=6"]  # 10 steps: 5..10 decay
    full = train(tiny_config(pairs_dir, f"train.runs_dir={tmp_path / 'a'}", *common), progress=False)
    stats = [json.loads(line) for line in (full / "stats.jsonl").read_text().splitlines()]
    scales = {r["step"]: r["lr_scale"] for r in stats if "lr_scale" in r and "epoch_end" not in r}
    assert [scales[k] for k in range(1, 11)] == pytest.approx([1, 1, 1, 1, 1, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6],
                                                              abs=1e-5)
    assert load_state(full)["opt_G"]["param_groups"][0]["lr"] == pytest.approx(2e-4 / 6)

    # SIGTERM in step 7, mid-decay
    part = train_until_signal(monkeypatch, tiny_config(pairs_dir, f"train.runs_dir={tmp_path / 'b'}", *common), 7)
    assert load_state(part)["step"] == 7
    train(resume_config(part), resume=part, progress=False)
    a, b = load_state(full), load_state(part)
    for k in a["G_ema"]:
        assert torch.allclose(a["G_ema"][k].float(), b["G_ema"][k].float(), atol=1e-5), k
    with pytest.warns(UserWarning, match="raises the generator's learning rate"):  # 2e-4/6 back up to 2e-4
        train(resume_config(full, ["train.epochs=3"]), resume=full, progress=False)
    train(resume_config(part, ["train.epochs=3", "train.lr_decay_steps=0", "train.lr_g=1e-5"]), resume=part,
          progress=False)
    assert load_state(part)["opt_G"]["param_groups"][0]["lr"] == pytest.approx(1e-5)


def test_unwrap_sees_through_compile():
    m = torch.nn.Linear(2, 2)
    assert unwrap(torch.compile(m)) is m  # compiling is lazy: nothing is built here
    assert unwrap(m) is m


def _to_old_layout(d: dict) -> dict:
    """A config dict as written before the discriminator had its own section."""
    d = json.loads(json.dumps(d))
    disc = d.pop("discriminator")
    d["model"].update(ndf=disc["ndf"], d_layers=disc["layers"], d_norm=disc["norm"],
                      d_in_channels=disc["in_channels"],
                      gradient_checkpointing=d["train"].pop("gradient_checkpointing"))
    return d


def test_old_run_folder_resumes_and_exports(pairs_dir, tmp_path):
    run = train(tiny_config(pairs_dir, f"train.runs_dir={tmp_path}", "train.max_steps=2"), progress=False)
    state = load_state(run)
    state["config"] = _to_old_layout(state["config"])
    assert "discriminator" not in state["config"] and "ndf" in state["config"]["model"]
    state["G"] = {f"module.{k}": v for k, v in state["G"].items()}  # old DDP checkpoints: still tolerated
    save_state(run, {k: v for k, v in state.items() if k != "version"})

    cfg = resume_config(run, ["train.max_steps=4"])
    assert cfg.discriminator.ndf == 8 and cfg.discriminator.layers == 2  # tiny's, migrated
    assert train(cfg, resume=run, progress=False) == run
    new = load_state(run)
    assert new["step"] == 4 and "discriminator" in new["config"]
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in new["G"])

    save_state(run, {**{k: v for k, v in new.items() if k != "version"}, "config": _to_old_layout(new["config"])})
    out = export(run, tmp_path / "model")
    meta = json.loads((out / "config.json").read_text())
    assert meta["image_size"] == 32 and meta["trained"]["step"] == 4
    assert not {"ndf", "d_layers", "d_norm", "d_in_channels", "gradient_checkpointing"} & set(meta["model"])


def test_run_start_prints_dataset_lines(pairs_dir, tmp_path, capsys):
    train(tiny_config(pairs_dir, f"train.runs_dir={tmp_path}", "train.max_steps=1"), progress=True)
    out = capsys.readouterr().out
    assert "train: 20 pairs" in out
    assert "using the training images" in out  # pairs_dir has no val split: the note reaches the user


def test_resume_with_a_bad_override_is_a_config_error(pairs_dir, tmp_path):
    from autopainter.config import ConfigError

    run = train(tiny_config(pairs_dir, f"train.runs_dir={tmp_path}", "train.max_steps=1"), progress=False)
    with pytest.raises(ConfigError, match="train.epochs"):
        resume_config(run, ["train.epochs=0"])


def test_resume_reads_the_checkpoint_once(pairs_dir, tmp_path, monkeypatch):
    """resume_config's read is the one train(resume=...) uses: torch.load runs once per resumed run."""
    from autopainter.config import Config
    from autopainter.training import checkpoint, loop

    cfg = Config.load(str(REPO / "configs" / "tiny.yaml"), [f"data.path={pairs_dir}", f"train.runs_dir={tmp_path}",
                                                            "train.epochs=1"])
    run = loop.train(cfg, progress=False)
    reads = []
    real = checkpoint.torch.load
    monkeypatch.setattr(checkpoint.torch, "load", lambda *a, **k: reads.append(a[0]) or real(*a, **k))
    loop.train(loop.resume_config(run, ["train.epochs=2"]), resume=run, progress=False)
    assert len(reads) == 1 and not loop._read_for_resume
    loop.train(loop.resume_config(run, ["train.epochs=3"]), resume=run, progress=False)
    assert len(reads) == 2
