"""The transformer's building blocks: reflection-padded convolutions, and the two layers that hold one row of
parameters per style (the instance norms' scale and shift, the colour map), mixed by style weights.

A network of one style is the case of one row: with ``style=None`` these layers use that row directly, with the
same ``instance_norm`` call (and cost) as ``nn.InstanceNorm2d``. With style weights ``[B, num_styles]`` every
image gets its own mix of the rows (Dumoulin et al. 2017: one-hot picks a style, a convex combination blends).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn


class ConvLayer(nn.Sequential):
    """Reflection padding + convolution (no zero borders that show up as dark frames)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> None:
        super().__init__(nn.ReflectionPad2d(kernel // 2), nn.Conv2d(in_ch, out_ch, kernel, stride))


def mix_rows(style: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Per-style parameters ``rows`` ``[num_styles, ...]`` mixed by style weights ``[B, num_styles]`` into
    ``[B, ...]``: an elementwise product and sum, not a matmul, so autocast keeps it in float32 and a one-hot
    row gives that style's parameters bit for bit."""
    weights = style.to(rows.dtype)
    for _ in range(rows.dim() - 1):
        weights = weights.unsqueeze(-1)
    return (weights * rows[None]).sum(1)


class StyleNorm(nn.Module):
    """Instance norm whose scale and shift depend on the style: one row of ``weight`` and ``bias`` per style.

    ``forward(x)`` (one style) normalises with row 0: ``instance_norm`` while training, and the same function as
    ``group_norm`` with one group per channel at inference, which has channels-last bfloat16 CPU kernels where
    instance norm copies to NCHW and back (its backward is slower, so training keeps instance norm).
    ``forward(x, style)`` takes ``style`` ``[B, num_styles]``: each image its own mix of the rows, normalised
    with the batch folded into the channels."""

    def __init__(self, num_features: int, num_styles: int = 1, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features, self.num_styles, self.eps = num_features, num_styles, eps
        self.weight = nn.Parameter(torch.ones(num_styles, num_features))
        self.bias = nn.Parameter(torch.zeros(num_styles, num_features))

    def rows(self) -> list[str]:
        """The names of the parameters with one row per style."""
        return ["weight", "bias"]

    def affine(self, style: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Scale and shift: ``[C]`` of the one style (``style=None``), else ``[B, C]`` mixed by ``style``."""
        if style is None:
            return self.weight[0], self.bias[0]
        return mix_rows(style, self.weight), mix_rows(style, self.bias)

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        scale, shift = self.affine(style)
        if style is None:
            scale, shift = scale.to(x.dtype), shift.to(x.dtype)
            if self.training:
                return F.instance_norm(x, weight=scale, bias=shift, eps=self.eps)
            return F.group_norm(x, self.num_features, scale, shift, self.eps)
        b, c, h, w = x.shape
        out = F.instance_norm(x.reshape(1, b * c, h, w), weight=scale.reshape(b * c).to(x.dtype),
                              bias=shift.reshape(b * c).to(x.dtype), eps=self.eps)
        return out.reshape(b, c, h, w)


class ColourMap(nn.Module):
    """The photo recoloured by a learned map of its own colours, ``x + gain * (A x + b + B relu(W x + c))``,
    computed in float32 so outputs keep all 256 levels. ``A`` (3x3), ``b`` and ``B`` (3 x ``hidden``) have one
    row per style (``weight``, ``bias``, ``hidden_weight``), mixed like :class:`StyleNorm`'s; the ``hidden`` units
    ``relu(W x + c)`` are shared by every style, so a blend of styles blends their recoloured photos exactly.

    Instance norm removes each image's channel means and contrasts after the first conv, so the layers behind
    it cannot see a photo's overall colour cast, and a residual they compute cannot undo it: turning a photo's
    palette into the painting's took the network thousands of steps, while this map, which sees the colours
    directly, learns it in a hundred (docs/validation.md). An affine map (``hidden=0``) can only move the
    palette's mean and spread; the sliced colour term asks for the painting's whole colour distribution, and what
    the map cannot give, the residual painted, in bands along every edge (docs/recipes.md). The hidden units are
    hinges through random colours of the cube: a piecewise-linear map per pixel, which cannot draw halos.
    ``A = b = B = 0`` at the start (the photo unchanged). ``gain`` scales Adam's steps on these numbers against the
    network's learning rate (divided by ``sqrt(hidden)`` for ``B``): at 30 the map learns the palette in a hundred
    steps (10 and 100 learned it less well in the demo), and by then it has also flattened the photo's contrast,
    which the residual must paint back; at 3 the residual and the map learn together (docs/recipes.md)."""

    def __init__(self, num_styles: int = 1, hidden: int = 0, gain: float = 30.0) -> None:
        super().__init__()
        self.gain = gain
        self.hidden = hidden
        self.weight = nn.Parameter(torch.zeros(num_styles, 3, 3))
        self.bias = nn.Parameter(torch.zeros(num_styles, 3))
        self.hinge_weight: nn.Parameter | None = None
        self.hinge_bias: nn.Parameter | None = None
        self.hidden_weight: nn.Parameter | None = None
        if hidden:
            generator = torch.Generator().manual_seed(0)
            directions = torch.randn(hidden, 3, generator=generator)
            through = torch.rand(hidden, 3, generator=generator)
            self.hinge_weight = nn.Parameter(directions)
            self.hinge_bias = nn.Parameter(-(directions * through).sum(1))
            self.hidden_weight = nn.Parameter(torch.zeros(num_styles, 3, hidden))
        self.register_load_state_dict_pre_hook(start_unchanged)

    def rows(self) -> list[str]:
        """The names of the parameters with one row per style."""
        return ["weight", "bias", *(["hidden_weight"] if self.hidden else [])]

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        """``style``: the style weights ``[B, num_styles]``; ``None`` for the one style of a single-style network."""
        if style is None:
            matrix, bias = self.weight[:1], self.bias[:1]
        else:
            matrix, bias = mix_rows(style, self.weight), mix_rows(style, self.bias)
        matrix, bias, photo = self.gain * matrix.float(), self.gain * bias.float(), x.float()
        shift = (bias[:, :, None, None] + matrix[:, :, 0, None, None] * photo[:, 0:1]
                 + matrix[:, :, 1, None, None] * photo[:, 1:2] + matrix[:, :, 2, None, None] * photo[:, 2:3])
        hidden_weight, hinge_weight, hinge_bias = self.hidden_weight, self.hinge_weight, self.hinge_bias
        if hidden_weight is not None and hinge_weight is not None and hinge_bias is not None:
            rows = hidden_weight[:1] if style is None else mix_rows(style, hidden_weight)
            hinges = F.relu(F.conv2d(photo, hinge_weight.float()[:, :, None, None], hinge_bias.float()))
            out = (self.gain / self.hidden ** 0.5) * rows.float()
            shift = shift + torch.matmul(out, hinges.flatten(2)).view_as(shift)
        return x + shift.to(x.dtype)


def start_unchanged(module: ColourMap, state_dict: dict[str, torch.Tensor], prefix: str, *args: object) -> None:
    """Model files written before the colour map load with it at zero, which is the network they held."""
    for name in ("weight", "bias"):
        state_dict.setdefault(prefix + name, torch.zeros_like(getattr(module, name)))


class ContrastGate(nn.Module):
    """At inference, the share of the residual a photo gets: ``min(1, std(x) / floor)`` per image, its pixels'
    standard deviation over channels and space (1 while training, and for ``floor=0``).

    The first instance norm stretches every photo to the same contrast, so the network paints strokes of the same
    strength on a dark, flat film frame as on a bright photo, and noise and grain become hatching over a frame
    whose own shapes are faint (docs/recipes.md). With the residual scaled by the frame's contrast below
    ``floor``, a frame darkened or flattened by ``c`` is stylised like the frame itself, times ``c``: its strokes
    keep their strength against its shapes. Photos at or above ``floor`` are untouched; the default, 0.1, is below
    99.4% of the 1128 asset photos at 256 px, because a photo that is flat by nature loses strokes the loss wants.
    Training leaves it out: a crop of flat sky would teach the network to paint harder wherever a crop looks flat."""

    def __init__(self, floor: float = 0.0) -> None:
        super().__init__()
        self.floor = floor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or not self.floor:
            return torch.ones((), dtype=x.dtype, device=x.device)
        var = torch.var_mean(x.float(), dim=(1, 2, 3), keepdim=True, correction=0)[0]
        return (var.sqrt() / self.floor).clamp(max=1.0).to(x.dtype)


class NoiseField(nn.Module):
    """``channels`` of uniform noise with standard deviation ``std``, for the network to paint flat regions with.

    A network sees only the photo, and instance norm and convolutions can only paint what varies, so on a flat
    sky it paints nothing but a band along the sky's edges (a halo) and amplifies the sky's grain into waves
    (docs/recipes.md); noise channels beside the photo give it a texture source (as Ulyanov et al. 2016's texture
    networks take noise). Training draws fresh noise every step, so the network cannot learn one pattern. At
    inference the noise is a hash of each pixel's place in the whole image (``origin`` is the top-left corner of
    the part being run, set by tiling), in integer arithmetic: the same at every pixel in PyTorch, TorchScript,
    ONNX and the browser, tiles meet exactly, a film's texture stays still, and it never repeats (a stored
    pattern tiled across a large photo would show as wallpaper)."""

    def __init__(self, channels: int, std: float) -> None:
        super().__init__()
        self.channels, self.std = channels, std
        self.origin: tuple[int, int] = (0, 0)
        self.repeat = False  # in training, reuse the last call's noise (held_noise)
        self.last = torch.empty(0)

    def train(self, mode: bool = True) -> NoiseField:
        self.last = torch.empty(0)  # no training noise outlives training (or is scripted into a file)
        return super().train(mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, C, H, W]`` with the noise channels appended (``x`` itself without any)."""
        if not self.channels:
            return x
        b, _, h, w = x.shape
        if self.training:
            if not (self.repeat and list(self.last.shape) == [b, self.channels, h, w]):
                self.last = torch.rand(b, self.channels, h, w, device=x.device)
            uniform = self.last
        else:
            uniform = self.hashed(h, w, x.device).expand(b, -1, -1, -1)
        return torch.cat([x, ((uniform - 0.5) * (self.std * 12 ** 0.5)).to(x.dtype)], 1)

    def hashed(self, height: int, width: int, device: torch.device) -> torch.Tensor:
        """``[1, channels, height, width]`` uniform in [0, 1): the inference noise of these pixels."""
        rows = torch.arange(height, device=device, dtype=torch.int64) + self.origin[0]
        columns = torch.arange(width, device=device, dtype=torch.int64) + self.origin[1]
        channels = torch.arange(1, self.channels + 1, device=device, dtype=torch.int64)
        # Modulo the prime 2**31 - 1, so a value squared stays inside 64-bit integers (in every runtime); odd
        # multipliers spread channels, rows and columns over it, and three rounds of squaring mix them. Literals,
        # as TorchScript reads no module-level constants.
        modulus = 2_147_483_647
        key = channels[:, None, None] * 1_274_126_177 + rows[None, :, None] * 374_761_393
        key = (key + columns[None, None, :] * 668_265_263) % modulus
        for constant in (1_013_904_223, 1_664_525, 22_695_477):
            key = (key * key + constant) % modulus
        return (key.float() / modulus)[None]


@contextmanager
def held_noise(net: nn.Module) -> Iterator[None]:
    """Within it, ``net``'s noise fields repeat in training the noise they drew last, for images of its shape.

    At inference the noise is tied to the pixel, not to the scene: when a film's camera moves, the scene moves
    under the same noise. The stability term (fast_style/losses/stability.py) moves a photo and runs the network
    again; with the same noise that second pass is what a film's next frame is."""
    fields = [m for m in net.modules() if isinstance(m, NoiseField)]
    for field in fields:
        field.repeat = True
    try:
        yield
    finally:
        for field in fields:
            field.repeat = False
