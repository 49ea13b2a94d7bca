"""The material head (model.material_dim): shapes, the contrastive term, training with it, gaining a head
through train.init_from, export and the Colorizer's embedding, and the locality protocol's material_head cue."""

import numpy as np
import pytest
import torch

from autopainter.config import Config, ConfigError, GeneratorConfig
from autopainter.losses import material_contrast
from autopainter.models.unet import UNetGenerator, build_generator, count_parameters

from conftest import tiny_config


def _gen(dim=4):
    return build_generator(GeneratorConfig(ngf=4, depth=3, norm="group", dropout=0.0, material_dim=dim)).eval()


def test_head_shapes_parameters_and_plain_forward_unchanged():
    g = _gen(6)
    x = torch.randn(2, 5, 40, 24)
    with torch.no_grad():
        rgb, emb = g(x, materials=True)
        assert torch.equal(rgb, g(x))  # the head does not touch the colors
    assert rgb.shape == (2, 3, 40, 24) and emb.shape == (2, 6, 40, 24)
    n = emb.norm(dim=1)
    assert n.max() <= 1.0001 and ((n - 1).abs() < 1e-4).float().mean() > 0.9  # unit length (0 where all is 0)
    assert count_parameters(g) == g.cfg.parameter_count()
    with pytest.raises(ValueError, match="no material head"):
        _gen(0)(x, materials=True)


def test_contrast_is_low_for_grouped_embeddings_and_high_for_mixed():
    labels = torch.zeros(1, 8, 8, dtype=torch.long)
    labels[0, :, :4], labels[0, :, 4:] = 1, 2
    labels[0, 0, 0] = 0  # ink: left out
    good = torch.zeros(1, 2, 8, 8)
    good[0, 0, :, :4], good[0, 1, :, 4:] = 1, 1  # one direction per material
    bad = torch.ones(1, 2, 8, 8) / 2**0.5  # every pixel alike
    torch.manual_seed(0)
    low, high = material_contrast(good, labels), material_contrast(bad, labels)
    assert low < 0.01 and high > 0.5
    assert material_contrast(good, torch.zeros_like(labels)) == 0  # nothing labelled


def test_config_rules():
    with pytest.raises(ConfigError, match="model.material_dim"):
        Config.load("tiny", ["loss.material=1"])
    with pytest.raises(ConfigError, match="hint_materials"):
        Config.load("tiny", ["loss.material=1", "model.material_dim=4", "data.hint_materials=false"])


def test_training_with_the_head_and_gaining_one_through_init_from(pairs_dir, tmp_path):
    from autopainter.models.io import load_generator
    from autopainter.training.export import export
    from autopainter.training.loop import train

    plain = train(tiny_config(pairs_dir, f"train.runs_dir={tmp_path / 'a'}", "train.max_steps=2"), progress=False)
    export(plain, tmp_path / "plain")
    run = train(tiny_config(pairs_dir, f"train.runs_dir={tmp_path / 'b'}", "train.max_steps=3",
                            f"train.init_from={tmp_path / 'plain'}", "model.material_dim=4", "loss.material=1",
                            "train.log_every=1"), progress=False)
    import json

    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert any("material" in r for r in stats)
    model = export(run, tmp_path / "headed")
    g, _ = load_generator(model)
    assert g.cfg.material_dim == 4 and g.material_head is not None
    src, _ = load_generator(tmp_path / "plain")
    for k, v in src.state_dict().items():  # everything but the new head came from the folder... then trained
        assert g.state_dict()[k].shape == v.shape


def test_colorizer_embedding_and_the_cue(tmp_path):
    from PIL import Image

    from autopainter.evaluate_locality import PairContext, material_head_cue
    from autopainter.inference import Colorizer
    from autopainter.models.io import save_pretrained

    save_pretrained(_gen(4), tmp_path / "m", image_size=32)
    c = Colorizer.from_pretrained(tmp_path / "m", size=32)
    sketch = np.full((48, 64), 255, np.uint8)
    sketch[:, 31:33] = 0
    prep = c.prepare(Image.fromarray(sketch))
    emb = c.material_embedding(prep)
    assert emb.shape == (48, 64, 4) and np.linalg.norm(emb, axis=2).max() <= 1.001
    regions = np.ones((48, 64), int)
    regions[:, 32:] = 2
    ctx = PairContext(np.array([1]), np.array([2]), sketch, regions, np.zeros((48, 64, 3), np.uint8),
                      np.zeros((3, 3)), np.zeros((3, 2)), 80.0, emb)
    score = material_head_cue(ctx)
    assert score.shape == (1,) and -1.0001 <= score[0] <= 1.0001
    same = PairContext(np.array([1]), np.array([1]), sketch, regions, ctx.output, ctx.output_lab, ctx.centroids, 80.0, emb)
    assert material_head_cue(same)[0] == pytest.approx(1.0, abs=1e-5)
    save_pretrained(_gen(0), tmp_path / "plain", image_size=32)  # a model without a head (the bundled one has one now)
    assert Colorizer.from_pretrained(tmp_path / "plain", size=32).material_embedding(prep) is None


def test_resume_with_the_head_is_exact(pairs_dir, tmp_path):
    import json

    from autopainter.training.checkpoint import load_state
    from autopainter.training.loop import resume_config, train

    common = ["train.log_every=1", "train.epochs=2", "model.material_dim=4", "loss.material=1"]
    full = train(tiny_config(pairs_dir, f"train.runs_dir={tmp_path / 'a'}", *common), progress=False)
    part = train(tiny_config(pairs_dir, f"train.runs_dir={tmp_path / 'b'}", "train.max_steps=3", *common), progress=False)
    train(resume_config(part, ["train.max_steps=0"]), resume=part, progress=False)

    def losses(run):
        rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
        return {r["step"]: (r["total"], r["material"]) for r in rows if "material" in r and "epoch_end" not in r}

    a, b = losses(full), losses(part)
    assert sorted(a) == sorted(b) and len(a) == 10
    for step in a:
        assert a[step] == pytest.approx(b[step], rel=1e-5, abs=1e-6), step
    sa, sb = load_state(full), load_state(part)
    for k in sa["G_ema"]:
        assert torch.allclose(sa["G_ema"][k].float(), sb["G_ema"][k].float(), atol=1e-5), k


def test_locality_term_counts_change_on_unhinted_materials_only():
    from autopainter.losses import locality

    anchor = torch.zeros(1, 3, 4, 4)
    fake = anchor.clone()
    fake[..., :2] = 1.0  # the left half changed
    unhinted = torch.zeros(1, 1, 4, 4)
    unhinted[..., 2:] = 1  # only the right half is unhinted
    assert locality(fake, anchor, unhinted) == 0
    unhinted[..., 1] = 1
    assert locality(fake, anchor, unhinted) == pytest.approx(4 / 12)
    assert locality(fake, anchor, torch.zeros_like(unhinted)) == 0


def test_training_with_the_locality_term(pairs_dir, tmp_path):
    import json

    from autopainter.data.pairs import PairDataset
    from autopainter.training.loop import train

    cfg = tiny_config(pairs_dir, f"train.runs_dir={tmp_path / 'r'}", "train.max_steps=3", "loss.locality=10", "model.norm=group",
                      "train.log_every=1", "data.hint_none_prob=0")
    assert set(PairDataset(cfg.data, train=True)[0]) == {"sketch", "color", "hint", "mask", "input"}
    item = PairDataset(cfg.data, train=True, material_targets=True)[0]
    assert item["unhinted"].shape == (1, 32, 32) and set(item["unhinted"].unique().tolist()) <= {0.0, 1.0}
    hinted = item["materials"][item["mask"][0] > 0].unique()
    assert not item["unhinted"][0][torch.isin(item["materials"], hinted)].any()  # hinted materials are not
    run = train(cfg, progress=False)
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert any(r.get("locality", 0) > 0 for r in rows)
    with pytest.raises(ConfigError, match="loss.locality"):
        Config.load("tiny", ["loss.locality=1", "data.hint_materials=false"])


def test_more_config_rules():
    with pytest.raises(ConfigError, match="only loss.material trains"):
        Config.load("tiny", ["model.material_dim=4"])
    with pytest.raises(ConfigError, match="dropout=0"):
        Config.load("tiny", ["loss.locality=1"])  # tiny: batch norm
    with pytest.raises(ConfigError, match="hint_hue_jitter"):
        Config.load("tiny", ["loss.locality=1", "model.norm=group", "data.hint_hue_jitter=0.5"])


def test_a_checkpoint_from_before_material_hints_keeps_its_recipe(tmp_path):
    from autopainter.training.checkpoint import stored_config

    d = Config.load("tiny").to_dict()
    del d["data"]["hint_materials"]
    assert stored_config({"config": d}, tmp_path).data.hint_materials is False
    assert Config.load("tiny").data.hint_materials is True  # new configs: on
