"""The transformer network: any size in, same size out; the photo itself before training; a colour cast it
can undo."""

from __future__ import annotations

import pytest
import torch

from fast_style.losses.perceptual import out_of_range
from fast_style.errors import FastStyleError
from fast_style.nn.layers import NoiseField, StyleNorm
from fast_style.nn.transformer import TransformerNet


def residual_layers(net: TransformerNet) -> list[torch.nn.Parameter]:
    """Every parameter but the colour map's."""
    return [p for name, p in net.named_parameters() if not name.startswith("colour.")]


@pytest.mark.parametrize("size", [(37, 53), (64, 64), (5, 3), (1, 1), (66, 98)])
def test_output_shape_matches_odd_input_sizes(size: tuple[int, int]) -> None:
    net = TransformerNet((8, 16, 32), num_res_blocks=1)
    torch.nn.init.normal_(net.out[1].weight, std=0.1)  # make it a non-identity network
    x = torch.rand(2, 3, *size)
    y = net.eval()(x)
    assert y.shape == x.shape
    assert 0 <= y.min() and y.max() <= 1
    if min(size) > 1:  # a 1x1 image is constant, which instance normalisation maps to zero
        assert not torch.allclose(x, y, atol=1e-2)


def test_untrained_network_returns_its_input() -> None:
    x = torch.rand(1, 3, 40, 44)
    assert torch.equal(TransformerNet((8, 16, 32), 2)(x), x)


def test_first_adam_step_moves_the_output_by_a_small_fraction_of_the_pixel_range() -> None:
    """Adam moves every weight by about lr at once; the output gain keeps that from throwing the photo
    beyond white or black (the first steps of the glowing networks moved it by several pixel ranges)."""
    torch.manual_seed(0)
    net = TransformerNet((16, 32, 64), 3)
    x = torch.rand(2, 3, 64, 64)
    optimizer = torch.optim.Adam(residual_layers(net), lr=1e-3)  # (the colour map: below)
    net(x).mean().backward()                        # every output pixel pulled the same way: the worst case
    optimizer.step()
    with torch.no_grad():
        moved = (net(x) - x).abs().max().item()
        gainless = moved / net.output_gain
    assert 0 < moved < 0.05
    assert gainless > 0.5                           # without the gain the same step moves it by half the range


def test_an_overshoot_past_white_still_gets_a_gradient_back() -> None:
    """A region pushed past white must feel the loss pull it back: in training the output is not clamped or
    squashed (a sigmoid output's gradient there is ~1e-6 and glows stay), and the loss's range term sees it."""
    net = TransformerNet((8, 16, 32), 1)
    with torch.no_grad():
        net.out[1].bias.fill_(2 / net.output_gain)  # every pixel 2 above the photo
    x = torch.rand(1, 3, 32, 32)
    out = net(x)
    assert out.min() > 1                              # training: raw
    out_of_range(out).backward()
    bias_grad = net.out[1].bias.grad
    assert (bias_grad > 0.5 * net.output_gain).all()  # descent lowers the bias, at a useful rate
    assert net.eval()(x).max() == 1.0                 # inference: a valid image


def test_default_is_johnsons_architecture() -> None:
    net = TransformerNet()
    residual_blocks = [m for m in net.modules() if m.__class__.__name__ == "ResidualBlock"]
    assert len(residual_blocks) == 5
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].kernel_size == (9, 9) and convs[-1].kernel_size == (9, 9)
    assert [c.stride for c in convs[1:3]] == [(2, 2), (2, 2)]
    assert sum(isinstance(m, StyleNorm) for m in net.modules()) == 2 * 5 + 5


def test_the_residual_layers_cannot_see_a_colour_cast() -> None:
    """The failure the colour map fixes: instance norm removes a constant added to the photo, so without the
    map whatever the layers learn, a cast added to the photo comes out unchanged."""
    torch.manual_seed(0)
    net = TransformerNet((8, 16, 32), 1)
    for param in residual_layers(net):
        torch.nn.init.normal_(param, std=0.3)
    x, cast = torch.rand(1, 3, 32, 32) * 0.5, torch.tensor([0.2, -0.1, 0.3]).view(1, 3, 1, 1)
    with torch.no_grad():
        assert (net(x + cast) - net(x) - cast).abs().max() < 1e-3
        net.colour.weight.copy_(-torch.eye(3)[None] / (2 * net.colour.gain))  # halves every colour's distance from 0
        assert (net(x + cast) - net(x) - cast / 2).abs().max() < 1e-3


def test_a_colour_cast_is_learned_in_a_few_steps() -> None:
    """Turning photos of every cast into one palette: with the colour map the network gets there within 50
    Adam steps at the demo's learning rate; with the map held at zero the best it can do is one shift for all
    photos (they share one texture, so the layers see four identical images), which leaves each channel about
    0.17 off on average (three casts of 0 and one of 0.45)."""
    texture = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)).expand(4, -1, -1, -1) * 0.4
    casts = torch.tensor([[0.0, 0.0, 0.0], [0.45, 0.0, 0.0], [0.0, 0.45, 0.0], [0.0, 0.0, 0.45]])
    photos = texture + casts[:, :, None, None]                                  # a different cast on each photo
    target = texture + torch.tensor([0.1, 0.3, 0.5]).view(1, 3, 1, 1)           # the painting's palette
    errors = {}
    for learns_colour in (True, False):
        torch.manual_seed(0)
        net = TransformerNet((8, 16, 32), 1)
        net.colour.requires_grad_(learns_colour)
        optimizer = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=2e-3)
        for _ in range(50):
            optimizer.zero_grad()
            (net(photos) - target).pow(2).mean().backward()
            optimizer.step()
        with torch.no_grad():
            errors[learns_colour] = (net(photos) - target).mean((2, 3)).abs().mean().item()
    assert errors[True] < 0.05 < 0.15 < errors[False]


def test_hidden_units_learn_a_tone_curve_that_an_affine_map_cannot() -> None:
    """A painting's palette is rarely an affine function of the photo's colours: here dark and light colours both
    become light (``1 - |2x - 1|`` per channel). Trained alone for 300 Adam steps, the colour map with 16 hidden
    units gets within a third of the affine map's error; at the start both return the photo unchanged."""
    photos = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    target = 1 - (2 * photos - 1).abs()
    errors = {}
    for hidden in (0, 16):
        net = TransformerNet((4, 4, 4), 0, colour_hidden=hidden)
        assert torch.equal(net.colour(photos), photos)
        optimizer = torch.optim.Adam(net.colour.parameters(), lr=2e-3)
        for _ in range(300):
            optimizer.zero_grad()
            (net.colour(photos) - target).pow(2).mean().backward()
            optimizer.step()
        with torch.no_grad():
            errors[hidden] = (net.colour(photos) - target).pow(2).mean().item()
    assert errors[16] < errors[0] / 3


def test_the_colour_gain_sets_how_far_one_adam_step_moves_the_recoloured_photo() -> None:
    """``model.colour_gain``: one Adam step on the colour map moves its output in proportion to the gain."""
    photos = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    moved = {}
    for gain in (3.0, 30.0):
        net = TransformerNet((4, 4, 4), 0, colour_gain=gain)
        optimizer = torch.optim.Adam(net.colour.parameters(), lr=1e-3)
        (net.colour(photos) - 0.5).pow(2).mean().backward()
        optimizer.step()
        with torch.no_grad():
            moved[gain] = (net.colour(photos) - photos).abs().mean().item()
    assert moved[30.0] / moved[3.0] == pytest.approx(10, rel=1e-3)


def test_model_files_from_before_the_colour_map_load_as_the_network_they_held() -> None:
    torch.manual_seed(0)
    old = TransformerNet((8, 16, 32), 1)
    torch.nn.init.normal_(old.out[1].weight, std=0.1)
    state = {k: v for k, v in old.state_dict().items() if not k.startswith("colour.")}
    new = TransformerNet((8, 16, 32), 1)
    new.load_state_dict(state)  # strict: every other key still checked
    x = torch.rand(1, 3, 24, 24)
    assert torch.equal(new.colour.weight, torch.zeros(1, 3, 3)) and torch.equal(new.eval()(x), old.eval()(x))
    with pytest.raises(RuntimeError, match="Missing key"):
        new.load_state_dict({k: v for k, v in state.items() if not k.startswith("blocks.0.")})


def test_a_photo_below_the_contrast_floor_gets_the_strokes_of_the_photo_scaled_with_it() -> None:
    """``model.contrast_floor``: instance norm makes a frame darkened to a third of its contrast look the same to
    every layer after the first; at inference its residual is then the frame's, times its contrast over the floor,
    so it is stylised like the frame itself, darkened. At or above the floor, and while training, nothing changes."""
    torch.manual_seed(0)
    gated, plain = TransformerNet((8, 16, 32), 1, contrast_floor=0.15), TransformerNet((8, 16, 32), 1)
    torch.nn.init.normal_(gated.out[1].weight, std=0.03)
    plain.load_state_dict(gated.state_dict())
    photo = 0.2 + 0.6 * torch.rand(1, 3, 32, 32)       # contrast (pixel std) about 0.17, away from 0 and 1
    dark = 0.3 * photo + 0.05                          # about 0.052: below the floor

    def residual(net: TransformerNet, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return net(x) - net.colour(x)

    gated.eval(), plain.eval()
    assert 0.01 < residual(plain, photo).abs().mean() and residual(plain, photo).abs().max() < 0.2  # unclamped
    assert torch.equal(gated(photo), plain(photo))
    share = dark.std(unbiased=False) / 0.15
    assert 0.3 < share < 0.4
    torch.testing.assert_close(residual(gated, dark), share * residual(plain, photo), atol=2e-3, rtol=0)
    torch.testing.assert_close(residual(plain, dark), residual(plain, photo), atol=2e-3, rtol=0)
    gated.train(), plain.train()
    assert torch.equal(residual(gated, dark), residual(plain, dark))


def noisy(noise_channels: int = 2, noise_std: float = 0.1) -> TransformerNet:
    """A small network with noise channels whose residual is not zero."""
    torch.manual_seed(0)
    net = TransformerNet((8, 16, 32), 1, noise_channels=noise_channels, noise_std=noise_std)
    torch.nn.init.normal_(net.out[1].weight, std=0.05)
    return net


def test_noise_channels_give_a_flat_sky_texture_that_stays_put_at_inference() -> None:
    """A network sees a flat image as nothing to paint (instance norm of a constant is zero); with noise channels it
    paints texture on it. At inference the noise is the same every time and in every copy of the network (a film's
    texture stays still); in training it is fresh every step."""
    flat = torch.full((1, 3, 48, 64), 0.5)
    plain = TransformerNet((8, 16, 32), 1)
    torch.nn.init.normal_(plain.out[1].weight, std=0.05)
    with torch.no_grad():
        assert plain.eval()(flat).std() < 1e-4
        net = noisy().eval()
        out = net(flat)
        assert out.std() > 1e-3
        twin = TransformerNet(**net.config())
        twin.load_state_dict(net.state_dict())
        assert torch.equal(twin.eval()(flat), out)
        torch.testing.assert_close(net(flat.expand(2, -1, -1, -1)), out.expand(2, -1, -1, -1), atol=1e-6, rtol=0)
        net.train()
        assert not torch.equal(net(flat), net(flat))


def test_the_inference_noise_is_white_uncorrelated_and_a_function_of_the_place_in_the_whole_image() -> None:
    """The hashed noise has the training noise's distribution (uniform, mean 0, the given std), no correlation
    between neighbours or channels, and a part of the image starting at ``origin`` gets exactly that window of the
    whole image's noise (which tiling relies on)."""
    field = NoiseField(2, 0.25).eval()
    whole = field(torch.zeros(1, 0, 512, 512))[0]
    assert abs(float(whole.mean())) < 2e-3 and abs(float(whole.std()) - 0.25) < 2e-3
    assert float(whole.abs().max()) <= 0.25 * 3 ** 0.5 + 1e-6      # uniform: nothing beyond sqrt(3) std
    trained = field.train()(torch.zeros(1, 0, 512, 512))[0]
    assert abs(float(trained.std()) - 0.25) < 2e-3 and float(trained.abs().max()) <= 0.25 * 3 ** 0.5 + 1e-6
    field.eval()

    def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a * b).mean() / (a.std() * b.std()))

    for dy, dx in ((0, 1), (1, 0), (1, 1), (2, 3)):
        assert abs(correlation(whole[0, dy:, dx:], whole[0, : 512 - dy, : 512 - dx])) < 0.01
    assert abs(correlation(whole[0], whole[1])) < 0.01
    field.origin = (100, 37)
    assert torch.equal(field(torch.zeros(1, 0, 50, 60))[0], whole[:, 100:150, 37:97])


@pytest.mark.parametrize(("settings", "message"), [
    ({"noise_channels": -1}, "model.noise_channels=-1"), ({"noise_channels": 1.5}, "model.noise_channels=1.5"),
    ({"noise_channels": 2, "noise_std": 0}, "model.noise_std=0"),
])
def test_bad_noise_settings_are_refused_by_name(settings: dict[str, float], message: str) -> None:
    with pytest.raises(FastStyleError, match=message.replace(".", r"\.")):
        TransformerNet((8, 16, 32), 1, **settings)
