"""The loss core against hand-computed values, and on the shared VGG16 trunk."""

from __future__ import annotations

import pytest
import torch

from fast_style.errors import FastStyleError
from fast_style.losses.perceptual import (PerceptualLoss, TermWeights, build_loss, coarse_laplacian, content_loss,
                                          gram_matrix, sliced_wasserstein, sorted_projections, style_loss,
                                          total_variation)
from fast_style.losses.vgg import VGGFeatures, load_vgg

from conftest import VGG_WEIGHTS


def test_gram_matrix_by_hand() -> None:
    # One sample, C=2 channels, H=1, W=2: F = [[1, 2], [3, 4]] -> F Fᵀ = [[5, 11], [11, 25]], / (C·H·W = 4)
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4
    assert torch.allclose(gram_matrix(features), expected)


def test_gram_matrix_is_float32_under_autocast() -> None:
    features = torch.randn(2, 4, 3, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        gram = gram_matrix(features.bfloat16())
    assert gram.dtype == torch.float32


def test_content_style_tv_by_hand() -> None:
    a, b = torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([1.0, 0.0, 3.0, 0.0])
    assert content_loss(a, b).item() == pytest.approx((0 + 4 + 0 + 16) / 4)
    assert style_loss(a.view(1, 2, 2), b.view(1, 2, 2)).item() == pytest.approx(5.0)
    # 2x2 image [[0, 1], [3, 5]]: vertical diffs 3, 4 -> mean 12.5; horizontal diffs 1, 2 -> mean 2.5
    image = torch.tensor([[[[0.0, 1.0], [3.0, 5.0]]]])
    assert total_variation(image).item() == pytest.approx(12.5 + 2.5)


class Identity(torch.nn.Module):
    """A 'VGG' whose only tap is the image itself, so the perceptual loss can be computed by hand."""

    min_side = 1  # no pooling: any image size works

    def forward(self, x: torch.Tensor, taps: tuple[str, ...]) -> dict[str, torch.Tensor]:
        return {t: x for t in taps}


def test_perceptual_loss_normalises_by_target_magnitude() -> None:
    loss = PerceptualLoss(Identity(), {"x": 1.0}, {"x": 1.0}, [TermWeights(content=2.0, style=3.0, tv=0.5, range=4.0)])
    style = torch.full((1, 1, 2, 2), 2.0)  # Gram = 16 / 4 = 4, magnitude mean(G²) = 16
    loss.set_styles([style])
    content = torch.ones(1, 1, 2, 2)       # content magnitude mean(F²) = 1
    output = torch.zeros(1, 1, 2, 2)
    output[..., 0, 0] = 2.0                 # Gram = 4 / 4 = 1; content MSE = (1 + 1 + 1 + 1) / 4 = 1
    terms = loss(output, content)
    assert terms["content"].item() == pytest.approx(2.0 * 1.0 / 1.0, rel=1e-5)
    assert terms["style"].item() == pytest.approx(3.0 * (4 - 1) ** 2 / 16, rel=1e-5)
    assert terms["tv"].item() == pytest.approx(0.5 * (4 / 2 + 4 / 2))
    assert terms["range"].item() == pytest.approx(4.0 * (2 - 1) ** 2 / 4)   # one pixel of four 1 above white
    assert terms["total"].item() == pytest.approx(sum(terms[k].item() for k in ("content", "style", "tv", "range")))
    # Scaling the features (another backbone's magnitudes) leaves the normalised loss unchanged.
    scaled = PerceptualLoss(Identity(), {"x": 1.0}, {"x": 1.0}, [TermWeights(2.0, 3.0, 0.0)])
    scaled.set_styles([style * 10])
    ten = scaled(output * 10, content * 10)
    assert ten["content"].item() == pytest.approx(terms["content"].item(), rel=1e-5)
    assert ten["style"].item() == pytest.approx(terms["style"].item(), rel=1e-5)


def test_coarse_laplacian_by_hand() -> None:
    # 6x6 pooled by 2 is 3x3 with a centre of 1 and zeros around it: one valid Laplacian value, 4·0 - 4·1.
    image = torch.zeros(1, 1, 6, 6)
    image[..., 2:4, 2:4] = 1.0                  # the pooled centre is 1, its four neighbours 0
    assert coarse_laplacian(image, 2).flatten().tolist() == [-4.0]
    assert coarse_laplacian(image, 1).shape[-2:] == (4, 4)


def test_the_laplacian_term_sees_bands_along_edges_not_colours_or_fine_strokes() -> None:
    """A halo (a bright band beside an edge) costs; a new colour over the whole image and a pixel-scale texture
    (which 4-fold pooling averages away) cost nothing."""
    loss = PerceptualLoss(Identity(), {"x": 1.0}, {"x": 1.0}, [TermWeights(0.0, 0.0, laplacian=2.0)],
                          laplacian_pool=4)
    loss.set_styles([torch.rand(1, 3, 8, 8)])
    photo = torch.full((1, 3, 64, 64), 0.8)
    photo[..., 16:, 24:40] = 0.1                # a dark tower against bright sky
    assert loss(photo, photo)["laplacian"].item() == 0
    recoloured = photo * torch.tensor([0.5, 0.7, 1.2]).view(1, 3, 1, 1) + 0.1
    shifted = photo + torch.tensor([0.1, -0.3, 0.05]).view(1, 3, 1, 1)
    assert loss(shifted, photo)["laplacian"].item() == pytest.approx(0.0, abs=1e-6)
    strokes = photo.clone()
    strokes[..., ::2, ::2] += 0.1
    strokes[..., 1::2, 1::2] -= 0.1
    assert loss(strokes, photo)["laplacian"].item() == pytest.approx(0.0, abs=1e-6)
    halo = photo.clone()
    halo[..., 8:, 16:24] += 0.15                # a bright band along the tower's left side
    halo[..., 8:, 40:48] += 0.15
    terms = loss(halo, photo)
    assert terms["laplacian"].item() > 0.1
    assert terms["total"].item() == pytest.approx(terms["laplacian"].item())
    assert loss(recoloured, photo)["laplacian"].item() > 0   # a change of contrast moves the edges: it costs
    # Divided by its target's magnitude like the other terms: the same halo costs the same at any scale.
    assert loss(halo * 10, photo * 10)["laplacian"].item() == pytest.approx(terms["laplacian"].item(), rel=1e-5)


def test_the_laplacian_term_is_off_unless_weighted() -> None:
    loss = PerceptualLoss(Identity(), {"x": 1.0}, {"x": 1.0}, [TermWeights(1.0, 1.0)])
    loss.set_styles([torch.rand(1, 3, 8, 8)])
    assert "laplacian" not in loss(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16))


def test_loss_requires_a_style() -> None:
    with pytest.raises(RuntimeError, match="set_style"):
        PerceptualLoss(Identity(), {"x": 1.0}, {"x": 1.0})(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2))


@pytest.fixture(scope="module")
def vgg_loss(assets) -> PerceptualLoss:
    cfg = {"arch": "vgg16", "weights": str(VGG_WEIGHTS), "content_layers": {"relu2_2": 1.0},
           "style_layers": {"relu1_2": 1.0, "relu2_2": 1.0, "relu3_3": 1.0, "relu4_3": 1.0},
           "content_weight": 1.0, "style_weight": 10.0, "tv_weight": 1.0, "range_weight": 1000.0}
    torch.manual_seed(0)
    loss, info = build_loss([cfg], [torch.rand(3, 64, 64)], None, assets)
    assert info["arch"] == "vgg16" and len(info["sha256"]) == 64
    return loss


def test_loss_core_on_shared_vgg16(vgg_loss: PerceptualLoss) -> None:
    torch.manual_seed(1)
    photo = torch.rand(2, 3, 48, 48)
    same = vgg_loss(photo, photo)
    assert same["content"].item() == pytest.approx(0.0, abs=1e-6)
    assert same["style"].item() > 0
    # Gradients reach the output image but never the frozen trunk.
    output = photo.clone().requires_grad_(True)
    vgg_loss(output, photo.flip(-1))["total"].backward()
    assert output.grad is not None and output.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in vgg_loss.vgg.parameters())


def test_vgg_taps_are_relu_outputs(vgg_loss: PerceptualLoss) -> None:
    feats = vgg_loss.vgg(torch.rand(1, 3, 32, 32), ("relu1_2", "relu4_3"))
    assert feats["relu1_2"].shape == (1, 64, 32, 32) and feats["relu4_3"].shape == (1, 512, 4, 4)
    assert min(f.min().item() for f in feats.values()) >= 0


def test_vgg19_layers_exist() -> None:
    vgg = VGGFeatures("vgg19", ("relu5_1",))
    assert vgg.names[-1] == "relu5_1"


@pytest.mark.parametrize(("arch", "weights", "message"), [
    ("vgg16", "/nonexistent/vgg.pth", "file not found"),
    ("vgg11", "imagenet", "not supported"),
    ("vgg19", str(VGG_WEIGHTS), "does not fit vgg19"),
])
def test_bad_vgg_weights_give_one_line_errors(arch: str, weights: str, message: str) -> None:
    with pytest.raises(FastStyleError, match=message) as info:
        load_vgg(arch, weights, ["relu5_1" if arch == "vgg19" else "relu2_2"])
    assert "\n" not in str(info.value)


def test_state_dict_with_wrong_keys_is_refused(tmp_path) -> None:
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, path)
    with pytest.raises(FastStyleError, match="no 'features"):
        load_vgg("vgg16", str(path), ["relu2_2"])
    path.write_text("not a checkpoint")
    with pytest.raises(FastStyleError, match="cannot read"):
        load_vgg("vgg16", str(path), ["relu2_2"])


def test_imagenet_weights_offline_is_a_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # empty cache
    def offline(*args, **kwargs):
        raise OSError("no network")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(FastStyleError, match="cannot download the ImageNet vgg16 weights.*FAST_STYLE_ASSETS"):
        load_vgg("vgg16", "imagenet", ["relu2_2"], assets_dir=tmp_path)


def test_sliced_wasserstein_by_hand() -> None:
    # Sorted values 0..3 against a target of the same values: no gap; against 1..4: one per quantile.
    output = torch.tensor([[[3.0, 0.0, 2.0, 1.0]]])
    directions = torch.ones(1, 1)
    got = sorted_projections(output.view(1, 1, 2, 2), directions)
    assert got.tolist() == [[[0.0, 1.0, 2.0, 3.0]]]
    assert sliced_wasserstein(got, torch.tensor([[0.0, 1.0, 2.0, 3.0]])).item() == 0
    assert sliced_wasserstein(got, torch.tensor([[1.0, 4.0]])).item() == pytest.approx(1.0)  # 1, 2, 3, 4 resampled


def test_the_sliced_term_matches_the_paintings_colours_not_its_layout(assets) -> None:
    cfg = {"arch": "vgg16", "weights": str(VGG_WEIGHTS), "content_layers": {"relu2_2": 1.0},
           "style_layers": {"relu1_2": 1.0}, "sliced_layers": {"pixels": 1.0, "relu1_2": 1.0},
           "content_weight": 0.0, "style_weight": 0.0, "tv_weight": 0.0, "range_weight": 0.0, "sliced_weight": 1.0}
    torch.manual_seed(0)
    painting = torch.rand(1, 3, 64, 64) * torch.tensor([1.0, 0.5, 0.2]).view(1, 3, 1, 1)
    loss, _ = build_loss([cfg], [painting], None, assets)
    shuffled = painting.flatten(2)[..., torch.randperm(64 * 64)].view_as(painting)  # same colours, no layout
    grey = torch.full_like(painting, 0.5)
    pixels_only = PerceptualLoss(loss.vgg, {"relu2_2": 1.0}, {"relu1_2": 1.0}, [TermWeights(0, 0, sliced=1.0)],
                                 sliced_layers={"pixels": 1.0})
    pixels_only.set_styles([painting])
    assert pixels_only(shuffled, grey)["sliced"].item() == pytest.approx(0.0, abs=1e-6)
    assert pixels_only(grey, grey)["sliced"].item() > 0.1
    assert loss(painting, grey)["sliced"].item() < 1e-3 < loss(grey, grey)["sliced"].item()
    output = grey.clone().requires_grad_(True)
    loss(output, grey)["total"].backward()
    assert output.grad.abs().sum() > 0
