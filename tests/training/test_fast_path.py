"""The fast paths (fast_style/training/fast_path.py, fast_style/inference/prepare.py) give the float32 results within
tolerance, and bad settings are named. The fidelity tests print their figures (``pytest -s``)."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from fast_style.config import compose_config, group_config, to_dict
from fast_style.errors import FastStyleError
from fast_style.inference.prepare import for_inference, stored_in
from fast_style.inference.stylizer import Stylizer
from fast_style.losses.perceptual import PerceptualLoss, TermWeights, build_loss
from fast_style.losses.vgg import VGGFeatures
from fast_style.model_card import build_network
from fast_style.nn.transformer import TransformerNet
from fast_style.runtime import loss_dtype, native_bf16, train_precision, use_channels_last
from fast_style.styles import load_style
from fast_style.training.fast_path import apply_to_training

from conftest import VGG_WEIGHTS

CPU = torch.device("cpu")
SMALL = to_dict(group_config("model", "small"))
PERF = to_dict(group_config("perf", "default"))


def styled_transformer(model_cfg: dict) -> TransformerNet:
    """The configured network with fixed random weights in its (zero-initialised) last conv, so that its
    output differs from its input as a trained model's does and precision errors are visible."""
    net = build_network(model_cfg)
    with torch.no_grad():
        net.out[1].weight.copy_(torch.randn(net.out[1].weight.shape, generator=torch.Generator().manual_seed(0)) * 0.02)
    return net


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a Lightning ``*-mixed`` precision string (None for full precision)."""
    return {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)


def criterion() -> PerceptualLoss:
    torch.manual_seed(0)
    content, style = {"relu2_2": 1.0}, {"relu1_2": 1.0, "relu2_2": 1.0, "relu3_3": 1.0}
    loss = PerceptualLoss(VGGFeatures("vgg16", [*content, *style]), content, style, [TermWeights(1.0, 5.0, 1e-3)])
    loss.set_styles([torch.rand(1, 3, 48, 48)])
    return loss


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of two images in [0, 1]."""
    mse = (a.float() - b.float()).pow(2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def train_losses(net: nn.Module, loss: nn.Module, photos: torch.Tensor, steps: int, dtype: torch.dtype | None) -> None:
    """``steps`` Adam steps over one fixed batch, under autocast to ``dtype`` if given."""
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(steps):
        with torch.autocast(photos.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            total = loss(net(photos), photos)["total"]
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()


def test_bfloat16_inference_fidelity() -> None:
    """``Stylizer`` on the fast path (bf16 weights, channels-last, group-norm instance norm) against the
    float32 eager network with the same weights (a non-trivial last layer, so errors are visible)."""
    net = styled_transformer(SMALL).eval()
    photos = torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = net(photos).clamp(0, 1)
    output = Stylizer(for_inference(copy.deepcopy(net), CPU, torch.bfloat16, True), CPU, torch.bfloat16)(photos)
    worst, db = (output - reference).abs().max().item(), psnr(output, reference)
    print(f"fidelity: inference bfloat16 vs float32: max abs diff {worst:.4f}, PSNR {db:.1f} dB")
    assert 0 < worst < 0.05  # < 13 of 255 levels at worst
    assert db > 40


def test_channels_last_float32_is_exact_and_keeps_weights_float32() -> None:
    net = styled_transformer(SMALL).eval()
    x = torch.rand(1, 3, 37, 45)
    fast = for_inference(copy.deepcopy(net), CPU, torch.float32, channels_last=True)
    assert fast.blocks[0].conv[1].weight.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), net(x), atol=1e-5, rtol=1e-4)
    half = for_inference(copy.deepcopy(net), CPU, torch.bfloat16)
    assert half.blocks[0].conv[1].weight.dtype == torch.bfloat16 and half(x).dtype == torch.float32


def test_bfloat16_loss_trunk_matches_float32_loss_and_gradient() -> None:
    loss = criterion()
    output, photo = torch.rand(2, 3, 48, 48, requires_grad=True), torch.rand(2, 3, 48, 48)
    exact = loss(output, photo)
    (grad_exact,) = torch.autograd.grad(exact["total"], output)
    loss.vgg.compute_dtype = torch.bfloat16
    fast = loss(output, photo)
    (grad_fast,) = torch.autograd.grad(fast["total"], output)
    assert fast["total"].dtype == torch.float32  # Gram matrices and reductions stay float32
    assert abs(fast["total"].item() - exact["total"].item()) < 0.02 * exact["total"].item()
    cosine = torch.nn.functional.cosine_similarity(grad_fast.flatten(), grad_exact.flatten(), dim=0)
    assert cosine > 0.98


@pytest.mark.slow
def test_short_training_fidelity(assets: Path) -> None:
    """The same 100-step training run in float32 and on the fast path (on this kind of CPU ``auto`` means
    Lightning's bf16-mixed autocast and a bfloat16 VGG), from the same weights; both networks are then scored
    by the float32 loss, so the comparison measures the training, not the fast path's own loss rounding."""
    cfg = compose_config("train", ["model=small", f"loss.weights={VGG_WEIGHTS}"])
    style, _ = load_style(to_dict(cfg.style), assets)
    exact_loss, _ = build_loss([to_dict(cfg.loss)], [style], None, assets)
    torch.manual_seed(0)
    exact_net = build_network(SMALL)
    photos = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(2))
    fast_net, fast_loss = copy.deepcopy(exact_net), copy.deepcopy(exact_loss)
    settings = apply_to_training(fast_net, fast_loss, "cpu", train_precision("auto", "cpu"), PERF)
    steps = 100  # long enough for the loss to flatten
    train_losses(exact_net, exact_loss, photos, steps, None)
    train_losses(fast_net, fast_loss, photos, steps, autocast_dtype(settings["precision"]))
    with torch.no_grad():
        exact = exact_loss(exact_net(photos), photos)["total"].item()
        fast = exact_loss(fast_net(photos).float(), photos)["total"].item()
    apart = abs(fast - exact) / exact
    chosen = ", ".join(f"{k}={settings[k]}" for k in ("precision", "loss_precision"))
    print(f"fidelity: {steps}-step training on the fast path ({chosen}): loss {fast:.4g} vs {exact:.4g} "
          f"in float32 ({100 * apart:.2f}% apart)")
    assert apart < 0.05


def test_lightning_bf16_mixed_autocast_gives_the_float32_loss() -> None:
    """``trainer.precision=bf16-mixed`` autocasts the whole step; Gram matrices and reductions stay float32."""
    loss, net = criterion(), styled_transformer(SMALL)
    photos = torch.rand(2, 3, 32, 32)
    exact = loss(net(photos), photos)["total"]
    apply_to_training(net, loss, "cpu", "bf16-mixed", PERF)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast = loss(net(photos), photos)["total"]
    fast.backward()
    assert fast.dtype == torch.float32 and abs(fast.item() - exact.item()) < 0.02 * exact.item()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in net.parameters())


def test_training_settings_per_device() -> None:
    assert train_precision("bf16-mixed", "cpu") == "bf16-mixed"
    assert train_precision("auto", "cpu") == ("bf16-mixed" if native_bf16("cpu") else "32-true")
    assert train_precision("32-true", "cpu") == "32-true"
    assert use_channels_last("auto", "cuda", False) and not use_channels_last("auto", "cpu", False)
    assert use_channels_last("auto", "cpu", True) and not use_channels_last(False, "cuda", True)
    assert loss_dtype("trainer", "cpu") is None and loss_dtype("bfloat16", "cuda") is torch.bfloat16
    loss, net = criterion(), styled_transformer(SMALL)
    chosen = apply_to_training(net, loss, "cpu", "32-true", {**PERF, "loss_precision": "bfloat16"})
    assert chosen["loss_precision"] == "bfloat16" and loss.vgg.compute_dtype is torch.bfloat16
    assert chosen["loss_channels_last"] and not chosen["channels_last"]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: train_precision("bf17-mixed", "cpu"), "trainer.precision=bf17-mixed"),
    (lambda: loss_dtype("half", "cpu"), "perf.loss_precision='half'"),
    (lambda: use_channels_last("yes", "cpu", True), "perf.channels_last='yes'"),
])
def test_bad_settings_are_named(call, message: str) -> None:
    with pytest.raises(FastStyleError, match=message):
        call()


def test_a_model_stored_in_bfloat16_runs_without_autocast() -> None:
    """Autocast would run reflection padding in float32 and cast every activation there and back."""
    net = for_inference(styled_transformer(SMALL).eval(), CPU, torch.bfloat16)
    assert stored_in(net, torch.bfloat16) and not stored_in(styled_transformer(SMALL), torch.bfloat16)
    padded = []
    for pad in net.modules():
        if isinstance(pad, torch.nn.ReflectionPad2d):
            pad.register_forward_hook(lambda module, args, out: padded.append(out.dtype))
    x = torch.rand(2, 3, 40, 40)
    with torch.inference_mode():
        direct = net(x).clamp(0, 1)
    padded.clear()
    torch.testing.assert_close(Stylizer(net, CPU, torch.bfloat16, tile=None)(x), direct, atol=0, rtol=0)
    assert padded and set(padded) == {torch.bfloat16}
