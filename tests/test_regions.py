"""Line-art regions (inference.regions) and flats (inference.flats): leak-proof fills and hint colors."""

import io
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw

from autopainter.inference.flats import flat_layer
from autopainter.inference.regions import MAX_GAP, default_gap, encode_png, encode_runs, line_width, segment

W, H, LINE = 400, 300, 3
OUTLINE = (50, 50, 350, 250)
GAPS = (1, 2, 3, 4, 5, 6)


def outline_sketch(gaps=GAPS, width=LINE) -> tuple[np.ndarray, dict]:
    """A closed oval with gaps of 1..6 px cut into its top edge, and a small closed eye inside whose
    interior is 3x the line width across; returns the sketch and probe points (y, x)."""
    im = Image.new("L", (W, H), 255)
    d = ImageDraw.Draw(im)
    d.ellipse(OUTLINE, outline=0, width=width)
    x = 120
    for g in gaps:
        d.rectangle((x, 40, x + g - 1, 62), fill=255)  # cuts the top of the oval
        x += 30
    eye = 3 * width
    ex, ey = 150, 130
    d.ellipse((ex, ey, ex + eye + 2 * width, ey + eye + 2 * width), outline=0, width=width)
    c = width + eye // 2
    return np.asarray(im), {"inside": (200, 250), "outside": (10, 10), "eye": (ey + c, ex + c), "below_gap": (70, 125)}


def test_line_width_and_default_gap():
    sk, _ = outline_sketch()
    assert abs(line_width(sk < 128) - LINE) < 0.6
    assert line_width(np.zeros((5, 5), bool)) == 0.0
    assert default_gap(3.0) == 6 and default_gap(0.2) == 2 and default_gap(500.0) == MAX_GAP


def test_gaps_do_not_leak_and_the_eye_keeps_its_own_region():
    sk, p = outline_sketch()
    r = segment(sk)  # the default gap comes from the measured line width
    assert r.gap >= max(GAPS)
    lab = {k: int(r.labels[v]) for k, v in p.items()}
    assert lab["inside"] != lab["outside"], "a 1-6 px gap joined the inside and the outside"
    assert lab["eye"] not in (lab["inside"], lab["outside"])
    assert lab["below_gap"] == lab["inside"]
    assert r.labels.min() >= 1 and r.labels.max() == r.count  # every pixel, lines included, has a region
    # without balls (a plain flood fill) the gaps leak: the test above can fail
    plain = segment(sk, gap=0)
    assert plain.labels[p["inside"]] == plain.labels[p["outside"]]


def test_a_hint_fills_its_region_only_and_exactly():
    sk, p = outline_sketch()
    r = segment(sk)
    rgb = np.zeros((H, W, 3), np.uint8)
    mask = np.zeros((H, W), bool)
    y, x = p["inside"]
    rgb[y - 2 : y + 3, x - 20 : x + 20] = (200, 30, 40)  # one short stroke inside
    mask[y - 2 : y + 3, x - 20 : x + 20] = True
    out = flat_layer(r, None, (rgb, mask))
    inside = r.labels == r.labels[p["inside"]]
    assert (out[inside] == (200, 30, 40)).all()  # the whole shape, exactly the hint color
    assert (out[p["outside"]] == 255).all() and (out[p["eye"]] == 255).all()  # no model: the rest is paper
    # two colors in one region: split between them, each side the nearer hint's
    rgb[y - 2 : y + 3, 60:70] = (20, 40, 220)
    mask[y - 2 : y + 3, 60:70] = True
    out = flat_layer(r, None, (rgb, mask))
    assert (out[y, 65] == (20, 40, 220)).all() and (out[y, 300] == (200, 30, 40)).all()


def test_unhinted_regions_take_the_median_of_the_generated_colors():
    sk, p = outline_sketch()
    r = segment(sk)
    colors = np.full((H, W, 3), 250, np.uint8)  # near-white paper: becomes exactly white
    inside = r.labels == r.labels[p["inside"]]
    colors[inside] = (40, 160, 60)
    rng = np.random.default_rng(0)
    ys, xs = np.nonzero(inside)
    k = rng.choice(ys.size, ys.size // 10, replace=False)  # 10 % stray pixels must not tint it
    colors[ys[k], xs[k]] = (255, 0, 255)
    out = flat_layer(r, colors)
    got = out[inside]
    assert (got == got[0]).all() and np.abs(got[0].astype(int) - (40, 160, 60)).max() <= 3
    assert (out[p["outside"]] == 255).all()


@pytest.mark.parametrize("make", [
    lambda: np.zeros((40, 50), np.uint8),  # all ink
    lambda: np.full((40, 50), 255, np.uint8),  # blank paper
    lambda: np.zeros((1, 300), np.uint8),
    lambda: np.full((300, 1), 255, np.uint8),
    lambda: np.full((1, 1), 128, np.uint8),
])
def test_degenerate_sketches_give_one_region(make):
    r = segment(make())
    assert r.count == 1 and (r.labels == 1).all()


def test_noise_with_many_specks_is_bounded():
    rng = np.random.default_rng(0)
    noise = np.where(rng.random((1000, 1000)) < 0.35, 0, 255).astype(np.uint8)  # ~10^5 paper specks
    t = time.perf_counter()
    r = segment(noise)
    took = time.perf_counter() - t
    assert r.labels.min() >= 1 and r.labels.max() == r.count
    assert took < 10.0  # linear work: about 0.1 s here; a quadratic merge would take minutes


def test_bad_arguments():
    with pytest.raises(ValueError, match="uint8"):
        segment(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="gap"):
        segment(np.zeros((4, 4), np.uint8), gap=MAX_GAP + 1)


def test_label_png_and_runs_round_trip():
    sk, _ = outline_sketch()
    r = segment(sk)
    rgb = np.asarray(Image.open(io.BytesIO(encode_png(r))).convert("RGB")).astype(np.int64)
    assert (rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2] == r.labels).all()
    runs = encode_runs(r)
    assert (runs["width"], runs["height"], runs["count"]) == (W, H, r.count)
    pairs = np.asarray(runs["runs"]).reshape(-1, 2)
    assert (np.repeat(pairs[:, 0], pairs[:, 1]).reshape(H, W) == r.labels).all()


def test_a_split_follows_the_generated_border_and_marks_on_lines_do_not_fill():
    """Two hint colors in one region without an inner line: the border between them is where the model's
    colors change, not halfway between the hints. A mark lying mostly on a line fills nothing but stays
    visible where it was painted."""
    sk = np.full((100, 200), 255, np.uint8)
    sk[:3], sk[-3:], sk[:, :3], sk[:, -3:] = 0, 0, 0, 0  # a frame: one region inside
    sk[60:63, 100:200], sk[60:, 100:103] = 0, 0  # lines closing off the lower right part
    r = segment(sk)
    top = r.labels[30, 100]
    gen = np.zeros((100, 200, 3), np.uint8)
    gen[:, :150] = (210, 40, 40)  # the model's border at x = 150
    gen[:, 150:] = (40, 60, 210)
    rgb = np.zeros((100, 200, 3), np.uint8)
    mask = np.zeros((100, 200), bool)
    rgb[20:25, 10:15], mask[20:25, 10:15] = (220, 30, 30), True  # red hint far left
    rgb[20:25, 170:175], mask[20:25, 170:175] = (30, 50, 220), True  # blue hint at x = 172
    rgb[58:65, 120:123], mask[58:65, 120:123] = (0, 200, 0), True  # green mark on the cutting line
    out = flat_layer(r, gen, (rgb, mask))
    assert (out[40, 120] == (220, 30, 30)).all()  # nearer the blue hint, but the model says red here
    assert (out[40, 160] == (30, 50, 220)).all()
    assert r.labels[80, 150] != top
    assert not (out[80, 150] == (0, 200, 0)).all()  # the green mark did not flood the lower region
    assert (out[58, 121] == (0, 200, 0)).all()  # but shows where it was painted off the line
    nearest = flat_layer(r, None, (rgb, mask))  # no model: the nearest hint
    assert (nearest[40, 120] == (30, 50, 220)).all()


def test_a_hint_on_the_open_paper_claims_only_what_the_model_colors_like_it():
    """An ear drawn as an open "C" shares its region with the page: a skin hint inside it must not paint
    the page, where the model says paper; without a model, the hint fills the whole region."""
    from PIL import ImageDraw

    im = Image.new("L", (160, 120), 255)
    ImageDraw.Draw(im).arc((40, 20, 120, 100), 60, 300, fill=0, width=3)  # open to the right
    sk = np.asarray(im)
    r = segment(sk)
    gen = np.full((120, 160, 3), 255, np.uint8)
    yy, xx = np.mgrid[:120, :160]
    inside = np.hypot(yy - 60, xx - 80) < 36
    gen[inside] = (230, 180, 150)
    rgb = np.zeros((120, 160, 3), np.uint8)
    mask = np.zeros((120, 160), bool)
    rgb[55:62, 70:80], mask[55:62, 70:80] = (225, 175, 145), True
    assert r.labels[58, 75] == r.labels[5, 5]  # one region: the outline is open
    out = flat_layer(r, gen, (rgb, mask))
    assert (out[60, 60] == (225, 175, 145)).all()  # inside the ear: the hint
    assert (out[5, 5] == 255).all() and (out[110, 150] == 255).all()  # the page stays paper
    alone = flat_layer(r, None, (rgb, mask))
    assert (alone[5, 5] == (225, 175, 145)).all()


# ------------------------------------------------------------------------------ local hints (a model's no-hint colors)
BROWN, SKIN, CLOTH = (120, 70, 40), (230, 180, 150), (90, 110, 200)


def boxes_sketch():
    """Four closed boxes on paper (A, C and D the model colors alike, "hair"; B "skin") and a garment E that runs
    off the bottom edge: (sketch, probe points, the no-hint colors a model gives)."""
    im = Image.new("L", (200, 160), 255)
    d = ImageDraw.Draw(im)
    boxes = {"A": (10, 10, 50, 50), "B": (60, 10, 100, 50), "C": (110, 10, 150, 50), "D": (160, 10, 195, 50)}
    for b in boxes.values():
        d.rectangle(b, outline=0, width=2)
    d.rectangle((40, 100, 160, 170), outline=0, width=2)  # E: its bottom edge is below the image
    sk = np.asarray(im)
    probe = {k: ((b[1] + b[3]) // 2, (b[0] + b[2]) // 2) for k, b in boxes.items()}
    probe.update(E=(140, 100), paper=(80, 5))
    plain = np.full((160, 200, 3), 252, np.uint8)
    r = segment(sk)
    for k, c in (("A", BROWN), ("B", SKIN), ("C", BROWN), ("D", (124, 72, 44)), ("E", CLOTH)):
        plain[r.labels == r.labels[probe[k]]] = c
    return sk, probe, plain


def _near(got, want, tol=2):
    """A region's flat color is the median of the model's colors through 8-bit CIELAB: within a level or two."""
    return np.abs(np.asarray(got, int) - np.asarray(want, int)).max() <= tol


def _stroke(shape, y, x0, x1, color, rgb=None, mask=None):
    rgb = np.zeros((*shape, 3), np.uint8) if rgb is None else rgb
    mask = np.zeros(shape, bool) if mask is None else mask
    rgb[y - 2 : y + 3, x0:x1], mask[y - 2 : y + 3, x0:x1] = color, True
    return rgb, mask


def test_a_local_hint_reaches_its_material_and_nothing_else(monkeypatch):
    from autopainter.inference import flats

    monkeypatch.setattr(flats, "GROUP_NEAR", 0.0)  # color alone here (hair and skin 60 apart); nearness below
    monkeypatch.setattr(flats, "GROUP_DE", 20.0)
    sk, p, plain = boxes_sketch()
    r = segment(sk)
    hinted = plain.copy()
    hinted[r.labels == r.labels[p["B"]]] = (60, 200, 60)  # the hinted run tints other regions: not shown
    hints = _stroke(sk.shape, p["A"][0], p["A"][1] - 8, p["A"][1] + 8, (30, 160, 60))
    out = flat_layer(r, hinted, hints, plain=plain)
    for k in "ACD":  # the model's one material, across its lines
        assert (out[p[k]] == (30, 160, 60)).all(), k
    assert _near(out[p["B"]], SKIN) and _near(out[p["E"]], CLOTH)  # other materials keep their no-hint colors
    assert (out[p["paper"]] == 255).all()
    # two colors on one material split it: each region follows the nearer hint
    rgb, mask = _stroke(sk.shape, p["D"][0], p["D"][1] - 8, p["D"][1] + 8, (200, 40, 40), hints[0].copy(), hints[1].copy())
    out = flat_layer(r, hinted, (rgb, mask), plain=plain)
    assert (out[p["A"]] == (30, 160, 60)).all() and (out[p["D"]] == (200, 40, 40)).all()
    assert (out[p["C"]] == (200, 40, 40)).all()  # C is nearer D's hint than A's
    # without the no-hint colors: the hinted run's colors, as before
    old = flat_layer(r, hinted, hints)
    assert not _near(old[p["B"]], SKIN)
    # nearness counts: far from the hint, a region the model colors a little differently stays as it is
    # (C: ΔE 0, 39 % of the diagonal away, cost 15.6; D: ΔE 2.7, 59 % away, cost 26.3; the bar 20)
    monkeypatch.setattr(flats, "GROUP_NEAR", 0.4)
    only_a = _stroke(sk.shape, p["A"][0], p["A"][1] - 8, p["A"][1] + 8, (30, 160, 60))
    out = flat_layer(r, hinted, only_a, plain=plain)
    assert (out[p["C"]] == (30, 160, 60)).all() and _near(out[p["D"]], (124, 72, 44))


def test_a_garment_off_the_edge_fills_and_the_open_paper_stays_paper():
    sk, p, plain = boxes_sketch()
    r = segment(sk)
    hints = _stroke(sk.shape, p["E"][0], p["E"][1] - 10, p["E"][1] + 10, (200, 40, 40))
    out = flat_layer(r, plain, hints, plain=plain)
    garment = r.labels == r.labels[p["E"]]
    assert (out[garment] == (200, 40, 40)).all()  # all of it, though it touches the border
    assert (out[p["paper"]] == 255).all()
    from autopainter.inference.flats import open_paper, region_colors

    paper = open_paper(r, region_colors(r, plain))
    assert r.labels[p["paper"]] in paper and r.labels[p["E"]] not in paper
    # a picture painted to its edges has no open paper: its border regions are regions like any other
    full = plain.copy()
    full[r.labels == r.labels[p["paper"]]] = (200, 220, 240)
    assert open_paper(r, region_colors(r, full)).size == 0


def test_the_part_of_a_sloppy_stroke_outside_its_region_is_not_painted():
    sk, p, plain = boxes_sketch()
    r = segment(sk)
    y, x = p["B"]
    hints = _stroke(sk.shape, y, x - 12, x + 28, (30, 160, 60))  # most of it in B, its end over B's right wall into the paper
    out = flat_layer(r, plain, hints, plain=plain)
    assert (out[p["B"]] == (30, 160, 60)).all()
    stray = hints[1] & (r.labels == r.labels[p["paper"]]) & ~r.ink
    assert stray.any() and (out[stray] == 255).all()  # no stripe on the paper
    assert _near(out[p["C"]], BROWN)


def test_a_hint_on_the_open_paper_stays_on_the_paper_in_both_styles():
    """A stroke on the open paper is no material: no white region joins it (the eyes' whites, a white shirt), and
    the paper takes it only where the hinted run paints it, in the flat style as in the soft one."""
    from autopainter.inference.flats import local_soft

    sk, p, plain = boxes_sketch()
    r = segment(sk)
    plain[r.labels == r.labels[p["B"]]] = 255  # B is white without hints, as the paper is
    y, x = p["paper"]
    hints = _stroke(sk.shape, y, 60, 140, (40, 90, 220))  # across the top margin
    hinted = plain.copy()
    paper = r.labels == r.labels[p["paper"]]
    hinted[paper & (np.arange(200)[None, :] < 100)] = (40, 90, 220)  # the hinted run paints the left half of the page
    flat = flat_layer(r, hinted, hints, plain=plain)
    soft = local_soft(r, hinted, plain, hints)
    for out in (flat, soft):
        assert (out[p["B"]] == 255).all()  # the untouched white box stays white
        assert (out[150, 10] == (40, 90, 220)).all() and (out[150, 190] >= 250).all()  # where the model painted it
    assert _near(flat[p["C"]], BROWN) and _near(soft[p["C"]], BROWN)


def test_local_soft_takes_the_hinted_run_on_the_material_only(monkeypatch):
    from autopainter.inference import flats
    from autopainter.inference.flats import local_soft

    monkeypatch.setattr(flats, "GROUP_NEAR", 0.0)
    monkeypatch.setattr(flats, "GROUP_DE", 20.0)
    sk, p, plain = boxes_sketch()
    r = segment(sk)
    hinted = np.roll(plain, 1, axis=2)  # the hinted run changes every color
    hints = _stroke(sk.shape, p["A"][0], p["A"][1] - 8, p["A"][1] + 8, (30, 160, 60))
    out = local_soft(r, hinted, plain, hints)
    for k in "ACD":
        inside = r.labels == r.labels[p[k]]
        assert np.array_equal(out[inside], hinted[inside]), k
    for k in ("B", "E", "paper"):
        inside = r.labels == r.labels[p[k]]
        assert np.array_equal(out[inside], plain[inside]), k


# ---------------------------------------------------------------- closing lines, leave-empty marks, the region cache
def open_box_sketch() -> np.ndarray:
    """A box with one side missing entirely (no gap closing can find it): left half of the picture."""
    im = Image.new("L", (W, H), 255)
    d = ImageDraw.Draw(im)
    d.line((50, 50, 200, 50), fill=0, width=LINE)
    d.line((50, 250, 200, 250), fill=0, width=LINE)
    d.line((50, 50, 50, 250), fill=0, width=LINE)  # the right side (x = 200) is missing
    return np.asarray(im)


def test_a_closing_line_closes_a_region_and_never_shows():
    from autopainter.inference import Colorizer

    sk = open_box_sketch()
    inside, outside = (150, 120), (150, 330)
    r = segment(sk)
    assert r.labels[inside] == r.labels[outside]  # the missing side: one region
    closing = np.zeros((H, W), bool)
    closing[50:251, 199:202] = True
    r = segment(sk, closing=closing)
    assert r.labels[inside] != r.labels[outside]
    assert r.ink[150, 200] and r.labels[150, 200] >= 1  # a wall, labelled like the lines
    with pytest.raises(ValueError, match="shape"):
        segment(sk, closing=closing[:10])
    # through the colorizer: a hint inside fills the box only, and the closing line is nowhere in the image
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[closing] = (0, 170, 255, 255)
    hints = np.zeros((H, W, 4), np.uint8)
    hints[140:150, 100:110] = (200, 30, 30, 255)
    res = Colorizer.hints_only().colorize(sk, Image.fromarray(hints), closing=Image.fromarray(rgba))
    img = np.asarray(res.image)
    assert (img[inside] == (200, 30, 30)).all() and (img[outside] == 255).all()
    under = img[100:200, 199:202].reshape(-1, 3)  # under the closing line: the colors either side of it, no line
    assert ((under == (200, 30, 30)).all(1) | (under == 255).all(1)).all() and (under == (200, 30, 30)).all(1).any()
    assert "Closing lines" in [x.name for x in res.ora_layers()] and res.gap_used == r.gap
    unclosed = np.asarray(Colorizer.hints_only().colorize(sk, Image.fromarray(hints)).image)
    assert (unclosed[outside] == (200, 30, 30)).all()  # the test above can fail: without it the fill leaks


def test_leave_empty_marks_keep_their_regions_paper(tiny_model_dir):
    from autopainter.inference import Colorizer

    sk, p = outline_sketch()
    hints = np.zeros((H, W, 4), np.uint8)
    hints[195:205, 245:255] = (20, 160, 40, 255)  # inside the oval
    hints[5:15, 5:15] = (20, 40, 160, 255)  # outside
    empty = np.zeros((H, W, 4), np.uint8)
    empty[p["inside"][0], p["inside"][1] + 30] = (255, 0, 170, 255)  # one pixel in the oval: the region stays paper
    c = Colorizer.hints_only()
    res = c.colorize(sk, Image.fromarray(hints), empty=Image.fromarray(empty))
    img = np.asarray(res.image)
    assert (img[p["inside"]] == 255).all() and (img[200, 250] == 255).all()  # the hint there is overruled
    assert (img[p["outside"]] == (20, 40, 160)).all()
    assert (np.asarray(c.colorize(sk, Image.fromarray(hints)).image)[p["inside"]] == (20, 160, 40)).all()
    model = Colorizer.from_pretrained(tiny_model_dir)
    for style in ("flat", "soft"):
        got = np.asarray(model.colorize(sk, empty=Image.fromarray(empty), style=style).color)
        assert (got[p["inside"]] == 255).all(), style
    with pytest.raises(Exception, match="transparen"):
        c.colorize(sk, empty=Image.fromarray(sk))  # no alpha: every pixel would be a mark


def test_regions_are_cached_by_content_and_bounded_in_bytes():
    from autopainter.inference.regions import RegionCache

    sk, _ = outline_sketch()
    cache = RegionCache(max_bytes=2 * sk.size * 5)  # room for two entries
    a = cache.segment(sk)
    assert cache.segment(sk.copy()) is a and (cache.hits, cache.misses) == (1, 1)  # same pixels: no new segmentation
    assert not a.labels.flags.writeable
    closing = np.zeros(sk.shape, bool)
    closing[100, :] = True
    b = cache.segment(sk, closing=closing)
    assert b is not a and cache.segment(sk, gap=4) is not a  # closing lines and the gap are part of the key
    assert len(cache) == 2 and cache.bytes <= cache.max_bytes
    assert cache.segment(sk, closing=np.zeros(sk.shape, bool)) is not None  # no marks: the plain entry's key
    assert RegionCache(0).segment(sk).count == a.count  # a cache of 0 bytes keeps nothing and still answers


@pytest.mark.parametrize("with_model", [True, False])
def test_a_split_costs_the_same_for_three_hint_colors_or_three_thousand(monkeypatch, with_model):
    """Hints of random colors (a painting program's anti-aliasing, or noise) in one region: the number of distance
    transforms does not grow with the number of colors (before: one per color)."""
    from autopainter.inference import flats

    calls = []
    real = flats._cv2()

    class Counting:
        def __getattr__(self, name):
            fn = getattr(real, name)
            if name.startswith("distanceTransform"):
                def counted(*a, **k):
                    calls.append(name)
                    return fn(*a, **k)
                return counted
            return fn

    monkeypatch.setattr(flats, "_cv2", lambda: Counting())
    sk, _ = outline_sketch()
    r = segment(sk)
    rng = np.random.default_rng(0)
    gen = np.full((H, W, 3), 200, np.uint8) if with_model else None
    counts = {}
    for n_colors in (3, 3000):
        rgb = np.zeros((H, W, 3), np.uint8)
        mask = np.zeros((H, W), bool)
        ys, xs = rng.integers(160, 220, n_colors), rng.integers(150, 250, n_colors)  # inside the oval, off the eye
        mask[ys, xs] = True
        rgb[ys, xs] = rng.integers(0, 256, (n_colors, 3))
        calls.clear()
        out = flat_layer(r, gen, (rgb, mask))
        counts[n_colors] = len(calls)
        inside = r.labels == r.labels[200, 250]
        assert len(np.unique(out[inside].reshape(-1, 3), axis=0)) > min(n_colors, 3) - 1
    assert counts[3000] == counts[3] <= 3, counts


def test_dots_inside_a_shape_do_not_cut_it_and_its_gap_still_holds():
    """Eyes, a nose and freckles drawn as dots across a face, closer to each other than the automatic gap: the big
    balls cannot pass between them, but the openings are paper between dots, not a gap in a line, so the face
    stays one region; the 20 px gap in its outline still closes."""
    from autopainter.inference import regions as R

    im = Image.new("L", (400, 400), 255)
    d = ImageDraw.Draw(im)
    d.ellipse((60, 60, 340, 340), outline=0, width=4)
    d.rectangle((195, 56, 214, 70), fill=255)  # a 20 px gap in the top of the outline
    for cx in range(82, 330, 32):  # dots 12 px across, 20 px apart (under the gap), from outline to outline
        d.ellipse((cx - 6, 194, cx + 6, 206), fill=0)
    sk = np.asarray(im)
    points = [(150, 200), (250, 200), (100, 130), (300, 290), (90, 202)]
    r = segment(sk)
    assert r.gap >= 24
    inside = {int(r.labels[p]) for p in points}
    assert len(inside) == 1, inside
    assert r.labels[10, 10] not in inside
    # without joining passages the row of dots cuts the face in two (the test above can fail)
    old, R.PASSAGE = R.PASSAGE, float("inf")
    try:
        assert len({int(segment(sk).labels[p]) for p in points}) > 1
    finally:
        R.PASSAGE = old
