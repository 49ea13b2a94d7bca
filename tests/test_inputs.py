"""The generator-input contract: training and serving feed the generator identical tensors.

The dataset (``data.pairs``), the ``Colorizer`` and the ONNX runner all go through ``models.inputs``;
these tests hold them to it with the same uint8 arrays, non-square and odd-sized.
"""

import numpy as np
import pytest
import torch

from autopainter.config import DataConfig, GeneratorConfig
from autopainter.data.pairs import PairDataset, sample_tensors
from autopainter.imageio import from_unit
from autopainter.inference import Colorizer
from autopainter.models.inputs import crop, encode_inputs, pad_array, pad_to_multiple, padding
from autopainter.models.unet import build_generator


def _arrays(h, w, seed=0):
    rng = np.random.default_rng(seed)
    sketch = rng.integers(0, 256, (h, w), dtype=np.uint8)
    color = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = rng.random((h, w)) < 0.1
    hint_rgb = np.where(mask[..., None], rng.integers(0, 256, (h, w, 3), dtype=np.uint8), 0).astype(np.uint8)
    return sketch, color, hint_rgb, mask


def _rgba(hint_rgb, mask):
    return np.dstack([hint_rgb, np.where(mask, 255, 0).astype(np.uint8)])


@pytest.mark.parametrize("hw", [(37, 53), (53, 37), (1, 9), (64, 64)])
@pytest.mark.parametrize("in_channels", [5, 3])
def test_dataset_and_colorizer_give_the_generator_identical_tensors(hw, in_channels):
    sketch, color, hint_rgb, mask = _arrays(*hw)
    from_dataset = sample_tensors(sketch, color, hint_rgb, mask, in_channels)["input"]  # (C, H, W)
    gen = build_generator(GeneratorConfig(in_channels=in_channels, ngf=8, depth=3, norm="group", dropout=0.0))
    colorizer = Colorizer(gen, {"image_size": max(hw)}, precision="fp32")  # working size = the arrays' size
    from_colorizer = colorizer.prepare(sketch, _rgba(hint_rgb, mask)).x  # (1, C, H, W)
    assert from_colorizer.shape == (1, in_channels, *hw)
    assert torch.equal(from_dataset, torch.from_numpy(from_colorizer[0]))
    if in_channels == 5:  # and the channels are what the docs say
        assert torch.equal(from_dataset[4].bool(), torch.from_numpy(mask))
        assert (from_dataset[1:4][:, ~torch.from_numpy(mask)] == 0).all()


def test_a_real_dataset_item_matches_the_colorizer(pairs_dir):
    """The whole dataset path (file -> item) against the Colorizer reading the same sketch and hints."""
    cfg = DataConfig(path=str(pairs_dir), image_size=64, load_size=64, hint_none_prob=0.0)
    item = PairDataset(cfg, split="train", train=False, seed=3)[5]
    sketch_img, _ = PairDataset(cfg, split="train", train=False).pair(5)  # 64x64 as stored: no resize
    hint_rgb = from_unit(item["hint"].numpy().transpose(1, 2, 0))
    mask = item["mask"][0].numpy() > 0.5
    assert mask.any()
    gen = build_generator(GeneratorConfig(ngf=8, depth=3, norm="group", dropout=0.0))
    x = Colorizer(gen, {"image_size": 64}, precision="fp32").prepare(sketch_img, _rgba(hint_rgb, mask)).x
    assert torch.equal(item["input"], torch.from_numpy(x[0]))


@pytest.mark.parametrize("hw", [(37, 53), (5, 7), (1, 1), (16, 16), (17, 3)])
def test_padding_is_the_same_for_torch_and_the_onnx_runner(hw):
    x = np.random.default_rng(0).standard_normal((1, 5, *hw)).astype(np.float32)
    padded_np = pad_array(x, 16)
    padded_t = pad_to_multiple(torch.from_numpy(x), 16)
    assert padded_np.shape[-2] % 16 == 0 and padded_np.shape[-1] % 16 == 0
    assert torch.equal(padded_t, torch.from_numpy(padded_np))
    assert np.array_equal(crop(padded_np, *hw), x)
    ph, pw, mode = padding(*hw, 16)
    assert mode == ("reflect" if ph < hw[0] and pw < hw[1] else "replicate")
    # the generator's own forward pads by the same rule
    gen = build_generator(GeneratorConfig(ngf=8, depth=4, norm="group", dropout=0.0)).eval()
    with torch.no_grad():
        assert torch.equal(gen(torch.from_numpy(x)), crop(gen._run(torch.from_numpy(padded_np)), *hw))


def test_encode_inputs_rejects_mismatched_arrays():
    sketch, _, hint_rgb, mask = _arrays(8, 9)
    with pytest.raises(ValueError, match="hints must be"):
        encode_inputs(sketch, hint_rgb[:, :5], mask[:, :5], 5)
    with pytest.raises(ValueError, match="in_channels"):
        encode_inputs(sketch, None, None, 4)
    with pytest.raises(ValueError, match="uint8"):
        encode_inputs(sketch.astype(np.float32), None, None, 5)
    no_hints = encode_inputs(sketch, None, None, 5)
    assert (no_hints[1:] == 0).all() and no_hints.dtype == np.float32
