import pytest
import torch

from autopainter import losses
from autopainter.config import LossConfig


def test_tv_zero_for_constant_and_positive_otherwise():
    assert losses.tv(torch.full((2, 3, 8, 8), 0.3)) == 0
    x = torch.zeros(1, 1, 4, 4)
    x[..., ::2, :] = 1.0  # stripes
    assert losses.tv(x) > 0.5


def test_l1_properties():
    a = torch.rand(2, 3, 8, 8)
    assert losses.l1(a, a) == 0
    assert torch.isclose(losses.l1(a, a + 0.5), torch.tensor(0.5))


@pytest.mark.parametrize("mode", ["vanilla", "lsgan", "hinge"])
def test_adversarial_orders_good_and_bad_discriminators(mode):
    confident_real = torch.full((2, 1, 4, 4), 5.0)
    confident_fake = torch.full((2, 1, 4, 4), -5.0)
    good_d = losses.adversarial_d(confident_real, confident_fake, mode)
    bad_d = losses.adversarial_d(confident_fake, confident_real, mode)
    assert good_d < bad_d
    # the generator loss is lower when D believes its output is real
    assert losses.adversarial_g(confident_real, mode) < losses.adversarial_g(confident_fake, mode)


def test_unknown_gan_mode():
    with pytest.raises(ValueError, match="vanilla, lsgan, hinge"):
        losses.adversarial_g(torch.zeros(1), "wgan")


def test_feature_loss_zero_for_identical_and_grad_only_through_fake():
    conv = torch.nn.Conv2d(3, 4, 3)
    extractor = lambda x: [conv(x), conv(x).relu()]  # noqa: E731
    real = torch.rand(1, 3, 8, 8)
    assert losses.feature(extractor, real, real) == 0
    fake = torch.rand(1, 3, 8, 8, requires_grad=True)
    losses.feature(extractor, fake, real).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def test_objective_weights_and_named_terms():
    fake, real = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    logits = torch.zeros(2, 1, 2, 2)
    cfg = LossConfig(l1=10.0, gan=2.0, tv=0.5, feature=0.0)
    t = losses.generator_objective(cfg, fake, real, logits)
    assert set(t) == {"l1", "gan", "tv", "total"}
    expect = 10 * t["l1"] + 2 * t["gan"] + 0.5 * t["tv"]
    assert torch.isclose(t["total"], expect)
    cfg = LossConfig(l1=1.0, gan=0.0, tv=0.0)
    t = losses.generator_objective(cfg, fake, real, None)
    assert set(t) == {"l1", "total"}


def test_feature_warmup_ramps_the_weight_linearly():
    cfg = LossConfig(feature=2.0, feature_warmup=100)
    assert losses.feature_weight(cfg, 0) == pytest.approx(0.02)
    assert losses.feature_weight(cfg, 49) == pytest.approx(1.0)
    assert losses.feature_weight(cfg, 99) == losses.feature_weight(cfg, 5000) == 2.0
    assert losses.feature_weight(cfg, None) == 2.0  # outside training: the full weight
    assert losses.feature_weight(LossConfig(feature=2.0), 0) == 2.0  # no warm-up
    fake, real = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    extractor = lambda x: [x]  # noqa: E731
    early = losses.generator_objective(cfg, fake, real, torch.zeros(1, 1, 2, 2), extractor, step=0)
    late = losses.generator_objective(cfg, fake, real, torch.zeros(1, 1, 2, 2), extractor, step=100)
    assert torch.isclose(early["feature"], late["feature"])  # the term itself is logged unweighted
    assert late["total"] - early["total"] == pytest.approx(float(1.98 * late["feature"]), rel=1e-4)
    with pytest.raises(ValueError, match="feature_warmup"):
        LossConfig(feature_warmup=-1)


def test_feature_off_hints_leaves_the_hinted_area_to_the_hints():
    conv = torch.nn.Conv2d(3, 4, 3, padding=1)
    extractor = lambda x: [conv(x)]  # noqa: E731
    real = torch.rand(1, 3, 64, 64) * 2 - 1
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 20:30, 20:30] = 1
    grads = {}
    for off in (False, True):
        fake = (torch.rand(1, 3, 64, 64) * 2 - 1).requires_grad_(True)
        cfg = LossConfig(l1=0.0, gan=0.0, feature=1.0, feature_off_hints=off)
        losses.generator_objective(cfg, fake, real, None, extractor, hint_mask=mask)["total"].backward()
        grads[off] = fake.grad.abs().sum(1)[0]
    assert grads[False][25, 25] > 0  # plain: the feature loss pulls the hinted pixels too
    assert grads[True][25, 25] == 0  # masked: it does not touch them
    assert grads[True][5, 5] > 0  # and still works elsewhere
