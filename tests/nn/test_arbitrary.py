"""The arbitrary-style network: the folded network computes what the network computes for that painting, paintings
differ, blends are mixes of predicted weights, and a few steps on two paintings lower the loss."""

from __future__ import annotations

import pytest
import torch

from conftest import ASSETS, VGG_WEIGHTS
from fast_style.inference.paintings import PaintingEncoder
from fast_style.losses.perceptual import build_loss
from fast_style.nn.arbitrary import ArbitraryStyleNet, painting_statistics, vgg_width
from fast_style.training.paintings import views_of

LAYERS = ("relu1_2", "relu2_2")


def varied_network() -> ArbitraryStyleNet:
    """A small network whose style rows differ (an untrained one is the photo for every painting)."""
    torch.manual_seed(0)
    net = ArbitraryStyleNet((8, 8, 8), 1, style_dim=4, hidden=16, style_layers=LAYERS)
    with torch.no_grad():
        for rows in net.transformer._rows():
            rows.add_(0.3 * torch.randn_like(rows))
        net.transformer.out[1].weight.normal_(0, 0.5)
    return net.eval()


def test_statistics_are_channel_means_and_spreads() -> None:
    features = {"relu1_2": torch.tensor([[[[1.0, 3.0]], [[2.0, 2.0]]]])}
    assert painting_statistics(features, ["relu1_2"]).tolist() == [[2.0, 2.0, 1.0, 0.0]]
    assert [vgg_width(name) for name in ("relu1_2", "relu3_3", "relu5_1")] == [64, 256, 512]


def test_folded_network_equals_the_network_for_that_painting() -> None:
    net = varied_network()
    stats = torch.randn(2, 2 * (64 + 128))
    photo = torch.rand(1, 3, 20, 28)
    with torch.no_grad():
        first, second = net(photo, stats[:1]), net(photo, stats[1:])
        assert torch.allclose(net.fold(stats[:1])(photo), first, atol=1e-5)
        assert (first - second).abs().mean() > 1e-3  # two paintings, two pictures
        assert torch.allclose(net.fold(stats, torch.tensor([1.0, 0.0]))(photo), first, atol=1e-5)
        half = net.fold(stats, torch.tensor([0.5, 0.5]))
        mixed = net.transformer.fold(0.5 * net.predictor(stats).sum(0))
        assert torch.allclose(half(photo), mixed(photo), atol=1e-5)


def test_untrained_network_returns_the_photo() -> None:
    net = ArbitraryStyleNet((8, 8, 8), 1, style_dim=3, hidden=8, style_layers=LAYERS).eval()
    photo = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(net(photo, torch.randn(1, 2 * (64 + 128))), photo)


def test_views_are_whole_flipped_and_cropped_at_the_long_side() -> None:
    painting = torch.rand(1, 3, 40, 60)
    views = views_of(painting, 30, 4, torch.Generator().manual_seed(0))
    assert [max(v.shape[-2:]) for v in views] == [30] * 4
    assert torch.allclose(views[1], views[0].flip(-1))
    assert all(v.shape == views[0].shape for v in views)  # crops keep the painting's shape
    assert (views[2] - views[0]).abs().mean() > 0.01 and (views[3] - views[2]).abs().mean() > 0.01


@pytest.mark.skipif(not VGG_WEIGHTS.is_file(), reason="offline VGG weights not found")
def test_a_few_steps_on_two_paintings_lower_the_loss() -> None:
    torch.manual_seed(0)
    paintings = [torch.rand(1, 3, 48, 48) * torch.tensor([1.0, 0.2, 0.2])[:, None, None],
                 torch.rand(1, 3, 48, 48) * torch.tensor([0.2, 0.2, 1.0])[:, None, None]]
    settings = {"arch": "vgg16", "weights": str(VGG_WEIGHTS), "content_layers": {"relu2_2": 1.0},
                "style_layers": {name: 1.0 for name in LAYERS}, "content_weight": 1.0, "style_weight": 3.0,
                "tv_weight": 1.0, "range_weight": 1000}
    criterion, _ = build_loss([settings] * 2, paintings, ["red", "blue"], ASSETS)
    net = ArbitraryStyleNet((8, 16, 16), 1, style_dim=4, hidden=16, style_layers=LAYERS)
    stats = torch.cat([PaintingEncoder(criterion.vgg, list(LAYERS))(p) for p in paintings])
    net.predictor.standardise(stats)
    photos, styles = torch.rand(2, 3, 48, 48), torch.tensor([0, 1])
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(15):
        total = criterion(net(photos, stats[styles]), photos, styles)["total"]
        losses.append(total.item())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    assert losses[-1] < 0.5 * losses[0]
