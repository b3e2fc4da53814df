"""Quality measures of stylised photos, checked against hand-made images with known answers."""

from __future__ import annotations

import pytest
import torch

from torchvision.transforms.v2 import functional as TF

from fast_style.evaluate.quality import blown_out_share, contact_sheet, crushed_share, fit_height, halo_levels, tower


def _grey(value: float, h: int = 40, w: int = 50) -> torch.Tensor:
    return torch.full((1, 3, h, w), value)


def test_a_known_share_pushed_to_white_reads_back_as_that_share() -> None:
    photo = _grey(0.5)
    output = photo.clone()
    output[..., :10, :] = 1.0                       # 10 of 40 rows: 25 %
    assert blown_out_share(output, photo) == pytest.approx(0.25)
    assert crushed_share(output, photo) == 0.0


def test_a_known_share_pushed_to_black_reads_back_as_that_share() -> None:
    photo = _grey(0.5)
    output = photo.clone()
    output[..., :, :5] = 0.0                        # 5 of 50 columns: 10 %
    assert crushed_share(output, photo) == pytest.approx(0.10)
    assert blown_out_share(output, photo) == 0.0


def test_regions_already_white_or_black_in_the_photo_do_not_count() -> None:
    photo = _grey(0.5)
    photo[..., :20, :] = 1.0                        # a white sky
    photo[..., 20:30, :] = 0.0                      # a black band
    assert blown_out_share(photo.clone(), photo) == 0.0
    assert crushed_share(photo.clone(), photo) == 0.0
    output = torch.ones_like(photo)                 # everything white: only the 50 % that was not counts
    assert blown_out_share(output, photo) == pytest.approx(0.5)


def test_luminance_not_a_single_channel_decides() -> None:
    photo = _grey(0.5)
    yellow = torch.zeros_like(photo)
    yellow[:, 0] = yellow[:, 1] = 1.0                # luma 0.886: bright, not blown out
    assert blown_out_share(yellow, photo) == 0.0
    assert blown_out_share(torch.ones_like(photo), photo) == 1.0


def test_contact_sheet_has_a_tile_per_image_at_the_row_height() -> None:
    wide, tall = torch.rand(1, 3, 30, 60), torch.rand(1, 3, 60, 30)
    sheet = contact_sheet([[wide, wide.flip(-1)], [tall, tall.flip(-1)]], height=20, labels=["photo", "output"],
                          pad=2)
    # widest row: two 40-px tiles and three pads; two 20-px rows, three pads and a caption line
    assert sheet.width == 2 * 40 + 3 * 2
    assert sheet.height == 2 * 20 + 3 * 2 + 15
    assert fit_height(tall, 20).shape[-2:] == (20, 10)


def test_the_halo_probe_sees_an_unsharp_mask_not_texture_or_the_photo_itself() -> None:
    """An unsharp mask (the photo editor's sharpening) brightens the sky beside a dark object: a halo. Texture
    painted as strongly all over the sky is not one, and neither is the picture left as it is."""
    def unsharp(x: torch.Tensor) -> torch.Tensor:
        return (x + 1.5 * (x - TF.gaussian_blur(x, [25, 25], [4.0, 4.0]))).clamp(0, 1)

    generator = torch.Generator().manual_seed(0)

    def texture(x: torch.Tensor) -> torch.Tensor:
        return (x + 0.1 * torch.randn(x.shape, generator=generator)).clamp(0, 1)

    assert halo_levels(lambda x: x) == pytest.approx(0.0, abs=1e-6)
    assert halo_levels(texture) < 1.0
    assert halo_levels(unsharp) > 10.0
    assert halo_levels(lambda x: unsharp(unsharp(x))) > halo_levels(unsharp)


def test_the_probe_tower_is_dark_on_a_flat_sky() -> None:
    image = tower((0.5, 0.6, 0.8))
    assert image.shape == (1, 3, 256, 384)
    assert torch.equal(image[0, :, 0, 0], torch.tensor([0.5, 0.6, 0.8]))
    assert (image[0, :, -1, 192] == 0.08).all() and (image[0, :, 50, 192] != 0.08).all()
