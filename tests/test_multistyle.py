"""One network, many styles: conditional instance norm, blends, style weights as a setting."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fast_style.errors import FastStyleError
from fast_style.multistyle import check_style_list, choose_style, style_weights
from fast_style.transformer import ConditionalInstanceNorm2d, MultiStyleTransformerNet, TransformerNet

NAMES = ["starry_night", "candy", "mosaic"]


def random_multistyle(num_styles: int = 3) -> MultiStyleTransformerNet:
    """A small multi-style network with random weights everywhere (a fresh one is nearly the identity)."""
    torch.manual_seed(0)
    net = MultiStyleTransformerNet((8, 16, 32), 2, num_styles)
    for param in net.parameters():
        nn.init.normal_(param, std=0.3)
    for param in (net.colour.weight, net.colour.bias):  # a colour shift of about 0.3, not 9
        nn.init.normal_(param, std=0.3 / net.colour.gain)
    return net.eval()


def test_conditional_norm_with_one_style_equals_instance_norm_with_the_same_parameters() -> None:
    torch.manual_seed(0)
    plain = nn.InstanceNorm2d(4, affine=True)
    nn.init.normal_(plain.weight)
    nn.init.normal_(plain.bias)
    conditional = ConditionalInstanceNorm2d(4, 1)
    with torch.no_grad():
        conditional.weight.copy_(plain.weight[None])
        conditional.bias.copy_(plain.bias[None])
    x = torch.rand(3, 4, 9, 11)
    assert torch.equal(conditional(x, torch.ones(3, 1)), plain(x))


def test_each_image_of_a_batch_gets_its_own_style() -> None:
    norm = ConditionalInstanceNorm2d(2, 2)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([[1.0, 1.0], [3.0, 3.0]]))
        norm.bias.copy_(torch.tensor([[0.0, 0.0], [5.0, 5.0]]))
    x = torch.rand(2, 2, 6, 6)
    y = norm(x, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert y[0].mean().abs() < 1e-5 and (y[1].mean() - 5).abs() < 1e-4
    assert (y[1].std() / y[0].std() - 3).abs() < 1e-3


def test_blend_one_zero_is_the_first_style_exactly_and_folds_into_a_plain_network() -> None:
    net = random_multistyle()
    x = torch.rand(2, 3, 37, 53)
    first = net(x, torch.tensor([1.0, 0.0, 0.0]))
    assert torch.equal(net(x, torch.tensor([[1.0, 0.0, 0.0]] * 2)), first)
    folded = net.single_style(torch.tensor([1.0, 0.0, 0.0]))
    assert isinstance(folded, TransformerNet) and torch.equal(folded(x), first)
    assert not torch.allclose(net(x, torch.tensor([0.0, 1.0, 0.0])), first, atol=1e-2)  # styles differ
    # A blend is the convex combination of the norm parameters; weights are shares of their sum.
    blend = net(x, torch.tensor([0.7, 0.3, 0.0]))
    assert torch.equal(net(x, torch.tensor([7.0, 3.0, 0.0])), blend)
    assert torch.equal(net.single_style(torch.tensor([0.7, 0.3, 0.0]))(x), blend)


def test_shared_layers_are_all_but_the_per_style_rows() -> None:
    one, five = MultiStyleTransformerNet((32, 64, 128), 5, 1), MultiStyleTransformerNet((32, 64, 128), 5, 5)
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


def test_multi_style_file_needs_a_style_and_single_style_file_takes_none() -> None:
    net = random_multistyle()
    meta = {"model": {"channels": [8, 16, 32], "num_res_blocks": 2, "num_styles": 3},
            "styles": [{"style": {"name": name}, "loss": {}} for name in NAMES]}
    with pytest.raises(FastStyleError, match=r"^m\.pt is a multi-style network holding starry_night, candy, "
                                             r"mosaic; pick one with style=NAME"):
        choose_style(net, meta, None, "m.pt")
    single, chosen = choose_style(net, meta, {"candy": 1, "mosaic": 1}, "m.pt")
    assert isinstance(single, TransformerNet) and chosen["style"]["name"] == "candy 0.5 + mosaic 0.5"
    chosen = choose_style(net, meta, "mosaic", "m.pt")[1]
    assert chosen["style"]["name"] == "mosaic" and "styles" not in chosen
    assert chosen["model"] == {"channels": [8, 16, 32], "num_res_blocks": 2,
                               "_target_": "fast_style.transformer.TransformerNet"}  # the folded network's
    plain = TransformerNet((8, 16, 32), 1)
    with pytest.raises(FastStyleError, match=r"^style=candy: s\.pt is a single-style network \(starry_night\); "
                                             r"leave style out$"):
        choose_style(plain, {"style": {"name": "starry_night"}}, "candy", "s.pt")
    assert choose_style(plain, {"style": {"name": "starry_night"}}, None, "s.pt")[0] is plain
