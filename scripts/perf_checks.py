"""The one-off measurements behind the "What makes it fast" table of docs/performance.md, as one command.

``python scripts/perf_checks.py [--assets DIR] [--weights FILE]`` prints one line per check. Unlike
``scripts/benchmark.py`` (whole training steps and inference passes, ours against the textbook baseline) these
time single pieces in one process, to show *why* a setting was chosen: bfloat16 convolutions, the loss's VGG
in bfloat16, the inference path's layout and autocast, and ``torch.compile``. Times are means of a few
calls after warm-up calls (``torch.utils.benchmark.Timer``); nothing here is asserted.
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.utils import benchmark

from bench.measure import styled_transformer
from fast_style.config import compose_config, group_config, to_dict
from fast_style.inference.prepare import for_inference
from fast_style.inference.stylizer import Stylizer
from fast_style.losses.perceptual import PerceptualLoss, build_loss
from fast_style.model_card import build_network
from fast_style.styles import load_style

CPU = torch.device("cpu")


def config(group: str, name: str) -> dict:
    """``configs/<group>/<name>.yaml`` as Hydra composes it: the same settings training uses."""
    return to_dict(group_config(group, name))


def seconds(call: Callable[[], object], repeat: int = 3) -> float:
    """Mean wall time of ``repeat`` calls after ``torch.utils.benchmark``'s own warm-up calls."""
    return benchmark.Timer(stmt="call()", globals={"call": call}).timeit(repeat).median


def conv_gradients() -> None:
    """forward, input gradient and weight gradient of single convolutions, float32 vs bfloat16 (NHWC)."""
    for c_in, c_out, kernel, side in ((3, 32, 9, 256), (128, 128, 3, 64), (32, 3, 9, 256)):
        x, w = torch.randn(4, c_in, side, side), torch.randn(c_out, c_in, kernel, kernel)
        conv = (None, [1, 1], [kernel // 2] * 2, [1, 1], False, [0, 0], 1)
        for dtype in (torch.float32, torch.bfloat16):
            xx = x.to(dtype).contiguous(memory_format=torch.channels_last)
            ww = w.to(dtype).contiguous(memory_format=torch.channels_last)
            grad = F.conv2d(xx, ww, padding=kernel // 2)
            forward = seconds(lambda: F.conv2d(xx, ww, padding=kernel // 2))
            grad_x = seconds(lambda: torch.ops.aten.convolution_backward(grad, xx, ww, *conv, [True, False, False]))
            grad_w = seconds(lambda: torch.ops.aten.convolution_backward(grad, xx, ww, *conv, [False, True, False]))
            print(f"conv {c_in}->{c_out} {kernel}x{kernel} at {side} px, batch 4, {str(dtype)[6:]}: forward "
                  f"{forward * 1e3:.1f} ms, input gradient {grad_x * 1e3:.1f} ms, weight gradient {grad_w * 1e3:.1f} ms")


def loss_trunk(criterion: PerceptualLoss) -> None:
    """The loss's VGG forward + backward (to the deepest style layer) at 256 px batch 4."""
    vgg, taps = copy.deepcopy(criterion.vgg), criterion.taps
    x = torch.rand(4, 3, 256, 256, requires_grad=True)

    def step() -> None:
        sum(f.float().pow(2).mean() for f in vgg(x, taps).values()).backward()

    float32 = seconds(step)
    vgg.compute_dtype = torch.bfloat16
    vgg.to(memory_format=torch.channels_last)
    print(f"VGG forward+backward at 256 px, batch 4: float32 NCHW {float32:.2f} s, bfloat16 channels-last "
          f"{seconds(step):.2f} s")


@torch.inference_mode()
def inference_layouts() -> None:
    """The Johnson network at 512 px: float32 eager, bfloat16 weights as they are, and for_inference."""
    net = styled_transformer(config("model", "johnson")).eval()
    x = torch.rand(1, 3, 512, 512)
    half = copy.deepcopy(net).to(torch.bfloat16)
    fast = for_inference(copy.deepcopy(net), CPU, torch.bfloat16, True)
    print(f"johnson at 512 px: float32 eager {seconds(lambda: net(x)):.2f} s, bfloat16 NCHW InstanceNorm2d "
          f"{seconds(lambda: half(x)):.2f} s, for_inference (bfloat16, channels-last, sub-pixel) "
          f"{seconds(lambda: fast(x)):.2f} s")
    x = torch.rand(1, 3, 1024, 1024)

    def under_autocast() -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return fast(x)

    stylizer = Stylizer(fast, CPU, torch.bfloat16, tile=None)
    print(f"johnson at 1024 px: float32 eager {seconds(lambda: net(x)):.2f} s, for_inference under autocast "
          f"{seconds(under_autocast):.2f} s, Stylizer (no autocast for bf16 weights) {seconds(lambda: stylizer(x)):.2f} s")


def compiled_transformer() -> None:
    """torch.compile of the Johnson network, float32 forward + backward at 256 px batch 4."""
    net, x = build_network(config("model", "johnson")), torch.rand(4, 3, 256, 256)
    eager = seconds(lambda: net(x).mean().backward())
    compiled = torch.compile(copy.deepcopy(net))
    began = time.perf_counter()
    compiled(x).mean().backward()
    first = time.perf_counter() - began
    print(f"johnson forward+backward at 256 px, batch 4, float32: eager {eager:.2f} s, compiled "
          f"{seconds(lambda: compiled(x).mean().backward()):.2f} s (first call, compiling: {first:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", default=os.environ.get("FAST_STYLE_ASSETS"), help="asset folder")
    parser.add_argument("--weights", default="vgg16_hed_features.pth", help="loss.weights (name or path)")
    args = parser.parse_args()
    # The training defaults: configs/style/starry_night.yaml and configs/loss/vgg16.yaml.
    cfg = compose_config("train", [f"loss.weights={args.weights}"])
    style, _ = load_style(to_dict(cfg.style), args.assets)
    criterion, _ = build_loss([to_dict(cfg.loss)], [style], None, args.assets)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    conv_gradients()
    loss_trunk(criterion)
    inference_layouts()
    compiled_transformer()


if __name__ == "__main__":
    main()
