"""model.sketch_features=efficientnet-lite0: frozen ImageNet features of the sketch in the decoder."""

import pytest
import torch

pytest.importorskip("efficientnet_lite_pytorch")

from autopainter.config import Config, ConfigError, GeneratorConfig  # noqa: E402
from autopainter.models import features  # noqa: E402
from autopainter.models.io import load_generator, save_pretrained  # noqa: E402
from autopainter.models.unet import UNetGenerator, build_generator  # noqa: E402

SMALL = dict(ngf=8, depth=5, norm="group", dropout=0.0, upsample="resize")


@pytest.fixture(scope="module")
def gen():
    torch.manual_seed(0)
    return build_generator(GeneratorConfig(**SMALL, sketch_features="efficientnet-lite0"))


def test_lite0_stages_feed_the_decoder_and_stay_frozen(gen):
    net = gen.sketch_net
    # depth 5: decoder concats at strides 2..16, so the stride-32 stage is not read
    assert net.layers == [1, 2, 3, 5] and net.out_channels == [16, 24, 40, 112]
    assert not any(p.requires_grad for p in net.parameters())
    gen.train()
    assert not net.training  # batch-norm statistics never move, drop-connect stays off
    # the ImageNet weights, not the generator's N(0, 0.02) init
    ref = features.build_feature_extractor("efficientnet-lite0", layers=[1, 2, 3, 5]).state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in net.state_dict().items())
    plain = build_generator(GeneratorConfig(**SMALL))
    assert sum(p.numel() for p in gen.parameters() if p.requires_grad) > sum(p.numel() for p in plain.parameters())


def test_gradients_reach_the_adapters_not_the_sketch_network(gen):
    gen.train()
    x = torch.rand(2, 5, 40, 56) * 2 - 1  # not a multiple of 2**depth: padded and cropped back
    y = gen(x)
    assert y.shape == (2, 3, 40, 56)
    y.square().mean().backward()
    assert all(p.grad is None for p in gen.sketch_net.parameters())
    assert all(a.weight.grad is not None and a.weight.grad.abs().sum() > 0 for a in gen.adapters.values())
    gen.zero_grad(set_to_none=True)


def test_the_sketch_features_change_the_output(gen):
    gen.eval()
    x = torch.rand(1, 5, 64, 64) * 2 - 1
    with torch.no_grad():
        before = gen(x)
        for a in gen.adapters.values():
            a.weight.mul_(0)
            a.bias.mul_(0)
        after = gen(x)  # the decoder now sees zeros where the sketch features were
    assert (before - after).abs().max() > 1e-4


def test_model_folder_rebuilds_without_the_weights_package(tmp_path, monkeypatch):
    torch.manual_seed(1)
    g = build_generator(GeneratorConfig(**SMALL, sketch_features="efficientnet-lite0")).eval()
    out = save_pretrained(g, tmp_path / "m", image_size=64, dtype=torch.float32)

    def no_weights(*a, **k):
        raise AssertionError("a model folder must not need the ImageNet weights package")

    monkeypatch.setattr(features, "lite0_weights_path", no_weights)
    loaded, info = load_generator(out)
    assert info.model.sketch_features == "efficientnet-lite0"
    x = torch.rand(1, 5, 64, 64) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(loaded(x), g(x), atol=1e-6)


def test_config_choices():
    with pytest.raises(ConfigError, match="model.sketch_features"):
        GeneratorConfig(sketch_features="vgg16")
    cfg = Config.from_dict({"model": {"sketch_features": "efficientnet-lite0"}})
    assert isinstance(UNetGenerator(cfg.model).sketch_net, features.EfficientNetLiteFeatures)


@pytest.mark.slow
def test_onnx_export_matches_pytorch(gen, tmp_path):
    """The sketch network's SAME padding is fixed for the generator's padded sizes: ONNX traces it with dynamic
    H and W, and the numbers equal the package's size-dependent padding (checked against a plain extractor)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from autopainter.inference.onnx import OnnxRunner, export_onnx

    gen.eval()
    ref = features.build_feature_extractor("efficientnet-lite0", layers=gen.sketch_net.layers)
    s = torch.rand(1, 3, 64, 96) * 2 - 1
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(gen.sketch_net(s), ref(s)))
    runner = OnnxRunner(export_onnx(gen, tmp_path / "m.onnx"), gen.multiple)
    for hw in [(40, 72), (97, 61)]:  # not multiples of 2**depth: the export pads and crops too
        x = torch.rand(1, 5, *hw) * 2 - 1
        x[:, 4] = (x[:, 4] > 0).float()
        with torch.no_grad():
            want = gen(x).numpy()
        assert abs(runner(x.numpy()) - want).max() <= 1e-4
