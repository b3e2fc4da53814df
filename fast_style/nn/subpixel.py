"""Exact sub-pixel forms of the transformer's two full-resolution convolutions, for inference.

Both compute the same sums as the layers they replace, at low resolution, and interleave the four output
phases with ``pixel_shuffle`` (Shi et al. 2016; Aitken et al. 2017 show the equivalence for resize-conv):

- nearest 2x upsampling + reflection pad 1 + 3x3 conv is a 3x3 conv on the map before upsampling (padded by
  replication, which is what reflecting the upsampled border amounts to) with four phase kernels: the
  four-times larger upsampled and padded maps are never built;
- the 9x9 output conv to RGB is a stride-2 10x10 conv producing the 4x3 phase channels: the CPU's conv
  kernels pad three output channels to sixteen, so the phase form does a quarter of the work.

Training and exported files keep the plain layers: these forms replace them only in
:func:`fast_style.inference.prepare.for_inference`, on the CPU, where docs/performance.md measured the gain.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fast_style.nn.transformer import ConvNormReLU, TransformerNet


def _phase_conv(conv: nn.Conv2d, weight: torch.Tensor) -> nn.Conv2d:
    """A conv holding ``weight`` (``[4 * out, in, k, k]``, phase-major within each output channel, the
    order ``pixel_shuffle`` expects) and ``conv``'s bias repeated per phase, in ``conv``'s dtype and device."""
    out = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[-1], bias=conv.bias is not None)
    out.weight = nn.Parameter(weight.to(conv.weight.dtype), requires_grad=False)
    if conv.bias is not None:
        out.bias = nn.Parameter(conv.bias.detach().repeat_interleave(4), requires_grad=False)
    return out.to(conv.weight.device)


class UpsampleConv(nn.Module):
    """``Upsample(2, nearest)`` then ``ReflectionPad2d(1)`` and a 3x3 ``conv``, computed at low resolution.

    Output pixel ``(2i + dy, 2j + dx)`` sees rows ``i + (dy + ky + 1) // 2`` of the low-resolution map padded
    by one replicated row, for kernel rows ``ky = 0, 1, 2``; the kernel taps that land on the same row add."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if conv.kernel_size != (3, 3) or conv.stride != (1, 1):
            raise ValueError("UpsampleConv replaces a 3x3 stride-1 convolution")
        w = conv.weight.detach().float()
        phases = w.new_zeros(w.shape[0], 2, 2, w.shape[1], 3, 3)
        for dy in range(2):
            for dx in range(2):
                for ky in range(3):
                    for kx in range(3):
                        phases[:, dy, dx, :, (dy + ky + 1) // 2, (dx + kx + 1) // 2] += w[:, :, ky, kx]
        self.conv = _phase_conv(conv, phases.flatten(0, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(F.pad(x, (1, 1, 1, 1), mode="replicate")), 2)


class PhaseConv(nn.Module):
    """``ReflectionPad2d(k // 2)`` and a stride-1 ``k``x``k`` ``conv`` (odd ``k``) on maps of even height and
    width, as a stride-2 ``(k + 1)``x``(k + 1)`` conv whose four phase kernels are ``conv``'s kernel shifted by
    ``(dy, dx)``. :class:`~fast_style.nn.transformer.TransformerNet` pads its input to a multiple of 4, so its
    full-resolution maps are always even."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        k = conv.kernel_size[0]
        if conv.kernel_size != (k, k) or k % 2 == 0 or conv.stride != (1, 1):
            raise ValueError("PhaseConv replaces an odd square stride-1 convolution")
        self.pad = k // 2
        w = conv.weight.detach().float()
        phases = w.new_zeros(w.shape[0], 2, 2, w.shape[1], k + 1, k + 1)
        for dy in range(2):
            for dx in range(2):
                phases[:, dy, dx, :, dy:dy + k, dx:dx + k] = w
        self.conv = _phase_conv(conv, phases.flatten(0, 2))
        self.conv.stride = (2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % 2 or x.shape[-1] % 2:
            raise ValueError(f"PhaseConv needs an even height and width, got {tuple(x.shape[-2:])}")
        return F.pixel_shuffle(self.conv(F.pad(x, (self.pad,) * 4, mode="reflect")), 2)


def to_subpixel(net: TransformerNet) -> None:
    """Replace, in ``net``, every upsampling stage's upsample + padded conv by :class:`UpsampleConv` and the
    output conv by :class:`PhaseConv`; a network already replaced is left as it is."""
    for stage in net.blocks:
        if isinstance(stage, ConvNormReLU) and stage.upsample:
            stage.conv = UpsampleConv(stage.conv[1])
            stage.upsample = False
    if not isinstance(net.out, PhaseConv):
        net.out = PhaseConv(net.out[1])
