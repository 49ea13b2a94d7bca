"""Materials the model names and palettes per material (issue 32): the part head and its term, heads-only training,
``inference.palettes`` (materials from the heads, palettes, variants, a user palette), flats whose hints follow
the materials, the Colorizer, the CLI flags and the library builder."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from autopainter.config import Config, ConfigError, GeneratorConfig
from autopainter.data.materials import OTHER, PART_CLASSES, MaterialMap, part_targets
from autopainter.inference.palettes import (Materials, PaletteLibrary, find_materials, paint_materials,
                                            parse_palette)
from autopainter.inference.regions import Regions
from autopainter.losses import part_loss
from autopainter.models.unet import build_generator, count_parameters

from conftest import tiny_config

PARTS = list(PART_CLASSES)


def _gen(parts=PARTS, dim=4):
    return build_generator(GeneratorConfig(ngf=4, depth=3, norm="group", dropout=0.0, material_dim=dim,
                                           parts=list(parts))).eval()


# ------------------------------------------------------------------------------ the part head
def test_part_targets_name_known_parts_and_other_only_where_the_map_names_parts():
    labels = np.array([[0, 1, 2, 3]])
    named = MaterialMap(labels, {1: "skin", 2: "", 3: "paper"})
    t = part_targets(named, PARTS)
    assert t.tolist() == [[-1, PARTS.index("skin"), PARTS.index(OTHER), PARTS.index("paper")]]
    unnamed = MaterialMap(labels, {1: "", 2: "", 3: "paper"})  # a source without parts: "" may be skin
    assert part_targets(unnamed, PARTS).tolist() == [[-1, -1, -1, PARTS.index("paper")]]


def test_part_head_shapes_parameters_and_colors_unchanged():
    g = _gen()
    x = torch.randn(2, 5, 40, 24)
    with torch.no_grad():
        rgb, emb, logits = g(x, materials=True, parts=True)
        assert torch.equal(rgb, g(x))  # the heads do not touch the colors
        only_parts = g(x, parts=True)
    assert logits.shape == (2, len(PARTS), 40, 24) and emb.shape == (2, 4, 40, 24)
    assert torch.allclose(only_parts[1], logits)
    assert count_parameters(g) == g.cfg.parameter_count()
    with pytest.raises(ValueError, match="no part head"):
        _gen(parts=[])(x, parts=True)


def test_part_loss_weighs_parts_alike_and_is_zero_without_known_pixels():
    targets = torch.zeros(1, 10, 10, dtype=torch.long)  # paper everywhere...
    targets[0, :2, :2] = 1  # ...and a little skin
    logits = torch.zeros(1, 3, 10, 10)
    logits[0, 0] = 5.0  # says paper everywhere: right on 96 % of the pixels
    balanced = part_loss(logits, targets)
    plain = torch.nn.functional.cross_entropy(logits, targets)
    assert balanced > 2 * plain  # the missed skin counts as much as the paper it got right
    assert part_loss(logits, torch.full_like(targets, -1)) == 0


def test_config_rules_for_the_part_head():
    with pytest.raises(ConfigError, match="model.parts"):
        Config.load("tiny", ["loss.parts=1"])
    with pytest.raises(ConfigError, match="loss.parts"):
        Config.load("tiny", ["model.parts=[paper,skin]"])
    with pytest.raises(ConfigError, match="different names"):
        Config.load("tiny", ["model.parts=[skin,skin]", "loss.parts=1"])
    with pytest.raises(ConfigError, match="heads_only"):
        Config.load("tiny", ["train.heads_only=true"])


@pytest.mark.slow
def test_heads_only_training_leaves_the_unet_and_trains_a_new_part_head(pairs_dir, tmp_path):
    from autopainter.models.io import load_generator
    from autopainter.training.export import export
    from autopainter.training.loop import train

    base = train(tiny_config(pairs_dir, f"train.runs_dir={tmp_path / 'a'}", "train.max_steps=2",
                             "model.material_dim=4", "loss.material=1"), progress=False)
    export(base, tmp_path / "base")
    run = train(tiny_config(pairs_dir, f"train.runs_dir={tmp_path / 'b'}", "train.max_steps=3", "train.log_every=1",
                            f"train.init_from={tmp_path / 'base'}", "model.material_dim=4", "loss.material=1",
                            f"model.parts=[{','.join(PARTS)}]", "loss.parts=1", "train.heads_only=true",
                            "train.ema_decay=0"), progress=False)
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert any("parts" in r for r in stats) and not any("d" in r or "l1" in r for r in stats)
    model = export(run, tmp_path / "parts")
    g, _ = load_generator(model)
    src, _ = load_generator(tmp_path / "base")
    assert g.cfg.parts == PARTS and g.part_head is not None
    for k, v in src.state_dict().items():
        same = torch.equal(g.state_dict()[k], v)
        assert same != k.startswith("material_head."), k  # the U-Net as it was; the material head trained on
    assert g.part_head.out[-1].weight.abs().sum() > 0


# ------------------------------------------------------------------------------ materials and palettes
def _scene():
    """Six regions side by side in a 20 x 60 image, 10 px each: 1 paper, 2 and 3 skin alike, 4 hair,
    5 and 6 clothing of two kinds (embeddings apart)."""
    labels = np.repeat(np.arange(1, 7), 10)[None].repeat(20, 0).astype(np.int32)
    regions = Regions(labels, 6, np.zeros(labels.shape, bool), 0, 1.0)
    part_of = {1: "paper", 2: "skin", 3: "skin", 4: "hair", 5: "clothing", 6: "clothing"}
    emb_of = {1: [1, 0, 0, 0], 2: [0, 1, 0, 0], 3: [0, 1, 0, 0], 4: [0, 0, 1, 0], 5: [0, 0, 0, 1], 6: [0, 0, 1, 0]}
    probs = np.zeros((20, 60, len(PARTS)), np.float32)
    emb = np.zeros((20, 60, 4), np.float32)
    for r in range(1, 7):
        probs[labels == r, PARTS.index(part_of[r])] = 1
        emb[labels == r] = emb_of[r]
    base = np.full((7, 3), 128, np.uint8)
    base[1] = 255
    return regions, probs, emb, base


def test_materials_group_alike_regions_of_one_part_and_keep_the_paper_out():
    regions, probs, emb, base = _scene()
    m = find_materials(regions, probs, emb, PARTS, base, paper=np.array([1]))
    assert m.region[1] == 0  # the open paper is no material
    assert m.region[2] == m.region[3] != 0  # both skin regions: one material
    assert len({m.region[4], m.region[5], m.region[6]}) == 3
    names = {int(r): m.names[m.region[r] - 1] for r in range(2, 7)}
    assert names[2] == "skin" and names[4] == "hair"
    assert sorted([names[5], names[6]]) == ["clothing", "clothing 2"]
    assert m.parts == ["skin", "hair", "clothing", "clothing"]


def _library():
    return PaletteLibrary([
        {"skin": ["#808080"], "hair": ["#7f7f7f"], "clothing": ["#818181", "#7e7e7e"]},  # grays: the model's own
        {"skin": ["#f1c27d"], "hair": ["#2c1b18"], "clothing": ["#3355aa", "#aa3333"]},
        {"skin": ["#8d5524"], "hair": ["#e6cea8"], "clothing": ["#22aa44"]},  # one clothing color only
    ])


def _materials():
    regions, probs, emb, base = _scene()
    return find_materials(regions, probs, emb, PARTS, base, paper=np.array([1]))


def test_variant_zero_is_the_palette_nearest_the_model_and_variants_are_deterministic():
    m, lib = _materials(), _library()
    v0 = paint_materials(m, lib, 0)
    assert np.abs(v0.astype(int) - 128).max() <= 3  # the gray palette: closest to the model's gray
    v1, v1_again = paint_materials(m, lib, 1), paint_materials(m, lib, 1)
    assert np.array_equal(v1, v1_again) and not np.array_equal(v0, v1)
    assert np.array_equal(paint_materials(m, lib, 3), v0)  # three palettes: variants wrap around
    # the palette with one clothing color: the second clothing borrows one, far from every color used
    v = next(paint_materials(m, lib, k) for k in range(3) if tuple(paint_materials(m, lib, k)[1]) != (128, 128, 128)
             and abs(int(paint_materials(m, lib, k)[0][0]) - 0x8d) < 4)
    from autopainter.colorspace import lab

    labs = lab(v[:, None, :])[:, 0, :]
    d = np.linalg.norm(labs[:, None] - labs[None], axis=2)
    assert d[np.triu_indices(len(v), 1)].min() > 10


def test_a_user_palette_wins_for_the_materials_it_names():
    m = _materials()
    out = paint_materials(m, _library(), 2, user=parse_palette({"hair": "#00ff00"}))
    assert tuple(out[m.names.index("hair")]) == (0, 255, 0)
    assert tuple(out[m.names.index("skin")]) == tuple(paint_materials(m, _library(), 2)[m.names.index("skin")])
    for bad in ({"hair": "green"}, {}, "[1, 2]", "not json", {"": "#000000"}):
        with pytest.raises(ValueError):
            parse_palette(bad)


def test_without_a_library_materials_keep_the_model_colors():
    m = _materials()
    out = paint_materials(m, None, 5)
    assert np.abs(out.astype(int) - 128).max() <= 2


def test_a_hint_reaches_its_material_and_nothing_else():
    from autopainter.inference.flats import flat_layer

    regions, probs, emb, base = _scene()
    m = find_materials(regions, probs, emb, PARTS, base, paper=np.array([1]))
    lut = base.copy()
    lut[2:] = [[200, 150, 120], [200, 150, 120], [40, 30, 20], [50, 60, 150], [150, 50, 50]]
    soft = np.full((20, 60, 3), 128, np.uint8)
    rgb = np.zeros((20, 60, 3), np.uint8)
    mask = np.zeros((20, 60), bool)
    mask[8:12, 12:18] = True  # inside region 2 (skin)
    rgb[mask] = (0, 200, 0)
    out = flat_layer(regions, soft, (rgb, mask), plain=soft, base=lut, materials=m.region)
    assert tuple(out[2, 25]) == (0, 200, 0)  # region 3: the same skin material
    for x, want in ((35, lut[4]), (45, lut[5]), (55, lut[6]), (5, (255, 255, 255))):
        assert tuple(out[2, x]) == tuple(want)  # hair, both clothes and the paper keep their colors
    still = flat_layer(regions, soft, None, base=lut, materials=m.region)
    assert tuple(still[2, 35]) == tuple(lut[4]) and tuple(still[2, 25]) == tuple(lut[3])


# ------------------------------------------------------------------------------ the Colorizer and the CLI
@pytest.fixture
def materials_model(tmp_path):
    """A tiny model with both heads whose part head says "skin" left of the middle and "clothing" right of it,
    and a palette library of three palettes."""
    from autopainter.models.io import save_pretrained

    g = _gen()
    with torch.no_grad():
        for p in g.part_head.parameters():
            p.zero_()
        g.part_head.out[-1].bias[PARTS.index("clothing")] = 1.0
    save_pretrained(g, tmp_path / "m", image_size=32)
    _library().save(tmp_path / "m" / "palettes.json")
    return tmp_path / "m"


def _sketch():
    sk = np.full((48, 64), 255, np.uint8)
    sk[4:44, 4:6] = sk[4:44, 58:60] = sk[4:6, 4:60] = sk[42:44, 4:60] = 0  # a box
    sk[4:44, 31:33] = 0  # split in two
    return Image.fromarray(sk)


def test_colorizer_paints_materials_by_variant_and_keeps_them_under_hints(materials_model, tmp_path):
    from autopainter.inference import Colorizer

    c = Colorizer.from_pretrained(materials_model, size=32)
    assert c.names_materials and len(c.palettes) == 3
    r0, r1 = c.colorize(_sketch()), c.colorize(_sketch(), variant=1)
    assert r0.palette and set(r0.palette) == set(r1.palette) and r0.palette != r1.palette
    labels = r0.material_labels()
    assert labels.shape == (48, 64) and labels[20, 15] > 0 and labels[20, 45] > 0
    assert np.array_equal(np.asarray(c.colorize(_sketch(), variant=1).image), np.asarray(r1.image))
    # a hint in the left box: the right box keeps variant 1's color
    hints = np.zeros((48, 64, 4), np.uint8)
    hints[20:24, 14:18] = (0, 255, 0, 255)
    hinted = c.colorize(_sketch(), Image.fromarray(hints), variant=1)
    assert tuple(np.asarray(hinted.image)[30, 15]) == (0, 255, 0)
    if labels[20, 15] != labels[20, 45]:
        assert tuple(np.asarray(hinted.image)[30, 45]) == tuple(np.asarray(r1.image)[30, 45])
    ora = r1.to_ora()
    import zipfile, io

    stack = zipfile.ZipFile(io.BytesIO(ora)).read("stack.xml").decode()
    assert 'autopainter-variant="1"' in stack and "autopainter-palette" in stack
    with pytest.raises(ValueError, match="variant"):
        c.colorize(_sketch(), variant=-1)
    # the soft style keeps the generated colors; its flats layer has the palette
    soft = c.colorize(_sketch(), style="soft", variant=1)
    assert soft.palette == r1.palette


def test_cli_variant_palette_and_save_palette(materials_model, tmp_path, capsys):
    from types import SimpleNamespace

    from autopainter.cli import main

    sk = tmp_path / "sk.png"
    _sketch().save(sk)

    def run(*args):
        code = main(["colorize", str(sk), "--model", str(materials_model), "--size", "32", *args])
        out = capsys.readouterr()
        return SimpleNamespace(returncode=code, stderr=out.err)

    r = run("-o", str(tmp_path / "a.png"), "--variant", "1", "--save-palette", str(tmp_path / "pal.json"))
    assert r.returncode == 0, r.stderr
    pal = json.loads((tmp_path / "pal.json").read_text())
    assert pal and all(v.startswith("#") for v in pal.values())
    name = next(iter(pal))
    (tmp_path / "mine.json").write_text(json.dumps({name: "#00ff00"}))
    r = run("-o", str(tmp_path / "b.png"), "--palette", str(tmp_path / "mine.json"), "--save-palette",
            str(tmp_path / "pal2.json"))
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "pal2.json").read_text())[name] == "#00ff00"
    (tmp_path / "bad.json").write_text('{"hair": "green"}')
    for args, msg in ((["--variant", "-1"], "--variant"), (["--palette", str(tmp_path / "bad.json")], "green"),
                      (["--palette", str(tmp_path / "none.json")], "no such file"),
                      (["--save-palette", str(tmp_path / "pal.json")], "exists"),
                      (["--save-palette", str(tmp_path / "p.txt")], "JSON")):
        r = run("-o", str(tmp_path / "c.png"), *args)
        assert r.returncode == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)


def test_prepare_palettes_builds_a_library_from_named_maps(tmp_path, capsys):
    from autopainter.data.materials import material_path, write_material_map
    from autopainter.models.io import save_pretrained

    split = tmp_path / "data" / "train"
    split.mkdir(parents=True)
    for i, (skin, hair) in enumerate((((230, 190, 160), (40, 30, 20)), ((120, 80, 50), (200, 170, 90)))):
        color = np.full((32, 32, 3), 255, np.uint8)
        color[:, :16], color[:, 16:] = skin, hair
        pair = np.concatenate([color, np.full((32, 32, 3), 255, np.uint8)], 1)
        Image.fromarray(pair).save(split / f"p{i}.png")
        labels = np.ones((32, 32), np.int32)
        labels[:, 16:] = 2
        write_material_map(material_path(split, f"p{i}"), MaterialMap(labels, {1: "skin", 2: "hair"}))
    save_pretrained(_gen(), tmp_path / "m", image_size=32)
    cmd = ["prepare", "palettes", str(tmp_path / "data"), "--model", str(tmp_path / "m")]
    from autopainter.cli import main

    assert main(cmd) == 0
    lib = PaletteLibrary.load(tmp_path / "m" / "palettes.json")
    assert len(lib) == 2 and lib.hex[0] == {"skin": ["#e6bea0"], "hair": ["#281e14"]}
    capsys.readouterr()
    assert main(cmd) == 2 and "exists" in capsys.readouterr().err
    (tmp_path / "m" / "palettes.json").write_text("{}")
    with pytest.raises(ValueError, match="not a palette library"):
        PaletteLibrary.load(tmp_path / "m" / "palettes.json")
