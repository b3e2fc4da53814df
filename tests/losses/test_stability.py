"""Training for temporal stability: the compound regularisation term and fine-tuning a model file with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from conftest import COCO, run_script, tiny_train_overrides
from fast_style.training.recipe import start_from
from fast_style.training.data import photo_transform
from fast_style.errors import FastStyleError
from fast_style.evaluate.flicker import warping_error
from fast_style.io.images import find_images, read_photo
from fast_style.model_card import load_model, read_model_file
from fast_style.losses.stability import StabilityLoss, stability_term
from fast_style.nn.transformer import TransformerNet


def photos(count: int = 4, size: int = 64) -> torch.Tensor:
    crop = photo_transform(size, train=False)
    return torch.stack([crop(read_photo(path)) for path in find_images(COCO)[10:10 + count]])


class AddPattern(nn.Module):
    """Adds a fixed pattern tied to pixel positions: moving the photo does not move the pattern."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, z = torch.meshgrid(torch.arange(x.shape[-2]), torch.arange(x.shape[-1]), indexing="ij")
        return x + 0.2 * torch.sin(y / 2.0 + z / 3.0)


def test_zero_for_a_network_that_commutes_with_the_motion_and_positive_otherwise() -> None:
    x = photos()
    without_noise = StabilityLoss(weight=1, shift=0.05, rotation=3, zoom=0.05, noise=0)
    generator = torch.Generator().manual_seed(0)
    assert without_noise(nn.Identity(), x, x, generator) == 0
    pattern = AddPattern()
    assert without_noise(pattern, x, pattern(x), torch.Generator().manual_seed(0)) > 1e-3
    # With noise the identity passes the noise through: its variance, nothing more.
    noisy = StabilityLoss(weight=1, noise=0.05)(nn.Identity(), x, x, torch.Generator().manual_seed(1))
    assert float(noisy) == pytest.approx(0.05 ** 2, rel=0.1)
    tripled = StabilityLoss(weight=3, shift=0.05, rotation=3, zoom=0.05, noise=0)
    assert float(tripled(pattern, x, pattern(x), torch.Generator().manual_seed(0))) == \
        pytest.approx(3 * float(without_noise(pattern, x, pattern(x), torch.Generator().manual_seed(0))))


def test_the_moved_photo_gets_the_same_noise_as_a_films_next_frame_does() -> None:
    """A network with noise channels draws fresh noise on every training call, but the stability term's second
    pass repeats the first pass's noise (at inference a film's frames share it, fixed to the pixel): with no
    motion and no added noise the term is zero, as for a network without noise, and the calls after it draw
    fresh noise again."""
    torch.manual_seed(0)
    net = TransformerNet((8, 16, 32), 1, noise_channels=2)
    nn.init.normal_(net.out[1].weight, std=0.05)
    net.train()
    x = photos(2)
    still = StabilityLoss(weight=1, shift=0, rotation=0, zoom=0, noise=0)
    with torch.no_grad():
        first = net(x)
        assert float(still(net, x, first)) < 1e-10
        again, other = net(x), net(x)
    assert (again - other).abs().mean() > 1e-3


def pan_clip(frames: int = 10, size: int = 64) -> list[np.ndarray]:
    """A slow pan across a real photo, with a little sensor noise on every frame."""
    image = read_photo(find_images(COCO)[3]).permute(1, 2, 0).numpy().astype(np.float64)
    rng = np.random.default_rng(0)
    return [np.clip(image[60:60 + size, 60 + i:60 + i + size] + rng.normal(0, 2, (size, size, 3)), 0, 255)
            .astype(np.uint8) for i in range(frames)]


def film_error(net: nn.Module, clip: list[np.ndarray]) -> float:
    with torch.no_grad():
        frames = torch.stack([torch.from_numpy(f).permute(2, 0, 1) for f in clip]).float() / 255
        out = net.eval()(frames).clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).numpy()
    return warping_error(zip(clip, out)).stylized


def test_a_few_steps_of_stability_training_lower_the_warping_error(styled_model: Path) -> None:
    torch.manual_seed(0)
    net = load_model(styled_model)[0]
    clip = pan_clip()
    before = film_error(net, clip)
    term = StabilityLoss(weight=1.0)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = photos(8)
    for _ in range(15):
        net.train()
        loss = term(net, x, net(x))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert film_error(net, clip) < 0.8 * before


@pytest.mark.slow
def test_fine_tuning_a_model_file_for_stability(tmp_path: Path, exported_model: Path) -> None:
    result = run_script("train.py", *tiny_train_overrides(tmp_path / "run", steps=2), "stability=compound",
                        f"init={exported_model}", "optim.lr=1e-12")
    assert result.returncode == 0, result.stderr[-3000:]
    card, tuned = read_model_file(tmp_path / "run" / "export" / "starry_night.pt")
    assert card.train["stability"]["weight"] > 0 and card.train["init"] == str(exported_model)
    start = read_model_file(exported_model)[1]
    # Started from the file's weights (a learning rate of 1e-12 leaves them as they were).
    assert all(torch.allclose(tuned[k].float(), v.float(), atol=1e-6) for k, v in start.items())
    with pytest.raises(FastStyleError, match=r"^init=.*is not this run's model; set the model config"):
        start_from(TransformerNet(), str(exported_model))
    with pytest.raises(FastStyleError, match=r"^stability\.shift=2: use a number at least 0 and at most 0\.5"):
        stability_term({"weight": 1, "shift": 2})
    with pytest.raises(FastStyleError, match=r"^stability: .*unexpected keyword argument 'wieght'"):
        stability_term({"wieght": 1})
    assert stability_term({"weight": 0}) is None
