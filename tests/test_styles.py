"""One network, many styles: the style norm, blends folded into a network of one style, style weights and lists as
settings, and a model card's choice of style."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from fast_style.errors import FastStyleError
from fast_style.inference.paintings import painting_shares
from fast_style.model_card import ModelCard
from fast_style.nn.layers import StyleNorm
from fast_style.nn.transformer import TransformerNet
from fast_style.styles import StyleInfo, check_style_list, style_weights

NAMES = ["starry_night", "candy", "mosaic"]


def random_multistyle(num_styles: int = 3, colour_hidden: int = 0) -> TransformerNet:
    """A small multi-style network with random weights everywhere (a fresh one is nearly the identity)."""
    torch.manual_seed(0)
    net = TransformerNet((8, 16, 32), 2, num_styles, colour_hidden)
    for param in net.parameters():
        nn.init.normal_(param, std=0.3)
    for param in (getattr(net.colour, name) for name in net.colour.rows()):  # a colour shift of about 0.3, not 9
        nn.init.normal_(param, std=0.3 / net.colour.gain)
    return net.eval()


@pytest.mark.parametrize("training", [True, False])
def test_style_norm_of_one_style_is_instance_norm_with_its_parameters(training: bool) -> None:
    """Training computes it as instance norm, inference as the same function in group norm's kernel; and a
    one-hot style weight gives the same as no style."""
    torch.manual_seed(0)
    plain = nn.InstanceNorm2d(4, affine=True)
    nn.init.normal_(plain.weight)
    nn.init.normal_(plain.bias)
    norm = StyleNorm(4, 1).train(training)
    with torch.no_grad():
        norm.weight.copy_(plain.weight[None])
        norm.bias.copy_(plain.bias[None])
    x = torch.rand(3, 4, 9, 11)
    if training:
        assert torch.equal(norm(x), plain(x))
    torch.testing.assert_close(norm(x), plain(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(norm(x, torch.ones(3, 1)), plain(x), atol=1e-5, rtol=1e-5)


def test_each_image_of_a_batch_gets_its_own_style() -> None:
    norm = StyleNorm(2, 2)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([[1.0, 1.0], [3.0, 3.0]]))
        norm.bias.copy_(torch.tensor([[0.0, 0.0], [5.0, 5.0]]))
    x = torch.rand(2, 2, 6, 6)
    y = norm(x, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert y[0].mean().abs() < 1e-5 and (y[1].mean() - 5).abs() < 1e-4
    assert (y[1].std() / y[0].std() - 3).abs() < 1e-3


@pytest.mark.parametrize("colour_hidden", [0, 8])
def test_blend_one_zero_is_the_first_style_exactly_and_folds_into_a_plain_network(colour_hidden: int) -> None:
    net = random_multistyle(colour_hidden=colour_hidden)
    x = torch.rand(2, 3, 37, 53)
    first = net(x, torch.tensor([1.0, 0.0, 0.0]))
    assert torch.equal(net(x, torch.tensor([[1.0, 0.0, 0.0]] * 2)), first)
    folded = net.fold(torch.tensor([1.0, 0.0, 0.0]))
    assert folded.num_styles == 1  # the same function, with group norm's kernel at inference
    torch.testing.assert_close(folded(x), first, atol=1e-5, rtol=0)
    assert not torch.allclose(net(x, torch.tensor([0.0, 1.0, 0.0])), first, atol=1e-2)  # styles differ
    # A blend is the convex combination of the norm parameters; weights are shares of their sum.
    blend = net(x, torch.tensor([0.7, 0.3, 0.0]))
    assert torch.equal(net(x, torch.tensor([7.0, 3.0, 0.0])), blend)
    torch.testing.assert_close(net.fold(torch.tensor([0.7, 0.3, 0.0]))(x), blend, atol=1e-5, rtol=0)


def test_shared_layers_are_all_but_the_per_style_rows() -> None:
    one, five = TransformerNet((32, 64, 128), 5, 1), TransformerNet((32, 64, 128), 5, 5)
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    per_style = count(five) - count(one)
    assert per_style % 4 == 0 and 0 < per_style / 4 / count(TransformerNet()) < 0.005  # ~0.2% per style


def test_style_weights_name_or_blend() -> None:
    assert torch.equal(style_weights("style", "candy", NAMES), torch.tensor([0.0, 1.0, 0.0]))
    assert torch.allclose(style_weights("style", {"candy": 0.7, "mosaic": 0.3}, NAMES), torch.tensor([0, 0.7, 0.3]))
    assert torch.allclose(style_weights("style", {"candy": 3, "mosaic": 1}, NAMES), torch.tensor([0, 0.75, 0.25]))


@pytest.mark.parametrize(("value", "message"), [
    ("monet", r"^style: unknown style 'monet'; the model holds starry_night, candy, mosaic$"),
    ({"candy": 0.5, "monet": 0.5}, r"^style: unknown style 'monet'; the model holds"),
    ({}, r"^style=\{\}: give one style's name or a blend"),
    ({"candy": -0.5, "mosaic": 1.5}, r"^style\.candy=-0\.5: use a number at least 0"),
    ({"candy": 0, "mosaic": 0}, r"^style=\{'candy': 0, 'mosaic': 0\}: the weights sum to 0"),
    ({"candy": "lots"}, r"^style\.candy=lots: use a number"),
])
def test_bad_style_weights_are_named(value, message: str) -> None:
    with pytest.raises(FastStyleError, match=message):
        style_weights("style", value, NAMES)


@pytest.mark.parametrize(("value", "message"), [
    ([], r"^styles=\[\]: give a list of style names"),
    ("candy", r"^styles=candy: give a list of style names"),
    (["candy", "monet"], r"^styles: unknown style 'monet'; use names among starry_night, candy, mosaic$"),
    (["candy", "mosaic", "candy"], r"candy given more than once; list each style once$"),
])
def test_bad_style_lists_are_named(value, message: str) -> None:
    with pytest.raises(FastStyleError, match=message):
        check_style_list("styles", value, NAMES)


def test_a_network_of_several_styles_needs_their_weights() -> None:
    with pytest.raises(ValueError, match="holds 3 styles: give their weights"):
        random_multistyle()(torch.rand(1, 3, 16, 16))


def test_added_styles_start_from_the_mean_of_the_held_ones_and_leave_them_as_they_were() -> None:
    net = random_multistyle(2)
    grown = net.add_styles(1)
    x = torch.rand(1, 3, 24, 24)
    assert grown.num_styles == 3
    assert torch.equal(grown(x, torch.tensor([1.0, 0.0, 0.0])), net(x, torch.tensor([1.0, 0.0])))
    torch.testing.assert_close(grown(x, torch.tensor([0.0, 0.0, 1.0])), net(x, torch.tensor([0.5, 0.5])),
                               atol=1e-5, rtol=0)


def test_multi_style_card_needs_a_style_and_single_style_card_takes_none() -> None:
    network = {"channels": [8, 16, 32], "num_res_blocks": 2}
    card = ModelCard({**network, "num_styles": 3}, tuple(StyleInfo(name, f"{name}.jpg", "0" * 64, 64, loss={})
                                                       for name in NAMES))
    with pytest.raises(FastStyleError, match=r"^m\.pt is a multi-style network holding starry_night, candy, "
                                             r"mosaic; pick one with style=NAME"):
        card.select(None, "m.pt")
    weights, chosen = card.select({"candy": 1, "mosaic": 1}, "m.pt")
    assert torch.equal(weights, torch.tensor([0.0, 0.5, 0.5]))
    assert chosen.style.name == "candy 0.5 + mosaic 0.5" and chosen.style.loss is None and chosen.style.file is None
    assert chosen.network == {**network, "num_styles": 1}  # the folded network's
    chosen = card.select("mosaic", "m.pt")[1]
    assert chosen.names == ["mosaic"] and chosen.style.file == "mosaic.jpg" and chosen.style.loss == {}
    single = ModelCard({**network, "num_styles": 1}, (StyleInfo("starry_night"),))
    with pytest.raises(FastStyleError, match=r"^style=candy: s\.pt is a single-style network \(starry_night\); "
                                             r"leave style out$"):
        single.select("candy", "s.pt")
    assert single.select(None, "s.pt") == (None, single)


@pytest.fixture
def two_paintings(tmp_path: Path) -> tuple[Path, Path]:
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    for path, colour in ((first, "red"), (second, "blue")):
        Image.new("RGB", (16, 16), colour).save(path)
    return first, second


def test_a_painting_blend_is_divided_by_its_sum(two_paintings: tuple[Path, Path]) -> None:
    first, second = two_paintings
    assert painting_shares("style", str(first)) == {first: 1.0}
    assert painting_shares("style", {str(first): 3, str(second): 1}) == {first: 0.75, second: 0.25}


@pytest.mark.parametrize(("blend", "message"), [
    ({"a": 0, "b": 0}, r"the weights sum to 0"),
    ({"a": 1e308, "b": 1e308}, r"the weights overflow when summed"),
    ({"a": -1, "b": 2}, r"use a number at least 0"),
    ({"a": 1, "a_again": 1}, r"named twice in the blend"),
])
def test_a_bad_painting_blend_is_named(two_paintings: tuple[Path, Path], blend: dict[str, float],
                                       message: str) -> None:
    first, second = two_paintings
    files = {"a": str(first), "b": str(second), "a_again": f"{first.parent}/./{first.name}"}
    with pytest.raises(FastStyleError, match=message):
        painting_shares("style", {files[key]: weight for key, weight in blend.items()})
