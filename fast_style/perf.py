"""The fast path: precision, memory layout, compilation and backend switches, with defaults per device.

Every choice here was kept because ``scripts/benchmark.py`` shows it pays (see the README's performance
table); each is a config key (``configs/perf/default.yaml``) so a user can switch it off. Training gets them
through :class:`fast_style.fast_path.FastPath`, a Lightning callback; inference through :func:`for_inference`.

Training in 16 bits is Lightning's own ``bf16-mixed`` / ``16-mixed`` (autocast, float32 master weights), chosen
by ``trainer.precision=auto`` on GPUs and on CPUs with native bfloat16 (AVX512-BF16/AMX), where oneDNN's
bfloat16 convolutions are 3-8x faster than float32 in forward, input and weight gradient alike. Gram matrices
and loss reductions stay float32 (:mod:`fast_style.losses`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fast_style.errors import FastStyleError
from fast_style.losses import PerceptualLoss
from fast_style.settings import flag
from fast_style.transformer import TransformerNet

TRAIN_PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true")


def native_bf16(device_type: str) -> bool:
    """Whether ``device_type`` computes bfloat16 in hardware (CUDA: Ampere or newer; CPU: AVX512-BF16 or AMX),
    the condition under which bfloat16 autocast is faster rather than slower than float32."""
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device_type == "cpu":
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    return False


def train_device_type(accelerator: str) -> str:
    """The device type Lightning will train on for ``trainer.accelerator`` (``auto``: CUDA when present)."""
    if accelerator in ("auto", "gpu"):
        return "cuda" if torch.cuda.is_available() else ("mps" if accelerator == "gpu" else "cpu")
    return str(accelerator)


def train_precision(precision: str, accelerator: str) -> str:
    """Lightning's ``precision`` for ``trainer.precision=auto``: ``bf16-mixed`` on GPUs with bfloat16 and on
    CPUs with native bfloat16, ``16-mixed`` on older CUDA GPUs (Lightning scales the loss), else ``32-true``.
    Other values pass through."""
    if str(precision) not in TRAIN_PRECISIONS:
        raise FastStyleError(f"trainer.precision={precision}: use one of {', '.join(TRAIN_PRECISIONS)}")
    if precision != "auto":
        return str(precision)
    device_type = train_device_type(accelerator)
    if device_type == "cuda":
        return "bf16-mixed" if native_bf16("cuda") else "16-mixed"
    return "bf16-mixed" if device_type == "cpu" and native_bf16("cpu") else "32-true"


def loss_dtype(setting: str, device_type: str) -> torch.dtype | None:
    """The dtype the loss's VGG trunk runs in; None follows the trainer's precision.
    ``auto``: bfloat16 on CPUs with native bfloat16, else the trainer's precision."""
    if setting == "auto":
        return torch.bfloat16 if device_type == "cpu" and native_bf16("cpu") else None
    choices = {"trainer": None, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if setting not in choices:
        raise FastStyleError(f"perf.loss_precision={setting!r}: use auto, trainer, bfloat16 or float16")
    return choices[setting]


def use_channels_last(setting: bool | str, device_type: str, low_precision: bool) -> bool:
    """``auto``: channels-last (NHWC) where the convolution libraries have fast NHWC kernels: CUDA, and
    16-bit on the CPU (oneDNN's bfloat16 kernels are NHWC; its float32 ones gain nothing)."""
    if setting == "auto":
        return device_type == "cuda" or (device_type == "cpu" and low_precision)
    if not isinstance(setting, bool):
        raise FastStyleError(f"perf.channels_last={setting!r}: use auto, true or false")
    return setting


def set_backends(cudnn_benchmark: bool) -> None:
    """Let cuDNN time its algorithms once per input shape (training crops are all one size)."""
    torch.backends.cudnn.benchmark = bool(cudnn_benchmark)
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True  # float32 Gram matrices on tensor cores
        torch.backends.cudnn.allow_tf32 = True


def to_channels_last(module: nn.Module) -> nn.Module:
    """Convert 4-D parameters and buffers in place; convolutions then also return NHWC activations."""
    return module.to(memory_format=torch.channels_last)


def check_perf(perf: dict[str, Any]) -> None:
    """The ``perf`` settings as typed, refused before any work if one is not a choice it offers."""
    loss_dtype(perf["loss_precision"], "cpu")
    use_channels_last(perf["channels_last"], "cpu", False)
    flag("perf.compile", perf["compile"])
    flag("perf.cudnn_benchmark", perf["cudnn_benchmark"])


def apply_to_training(transformer: nn.Module, criterion: PerceptualLoss, device_type: str, precision: str,
                      perf: dict[str, Any]) -> dict[str, Any]:
    """Apply ``perf`` settings (configs/perf) to the training pair in place; return what was chosen.
    Shared by the training callback and the benchmark, so the benchmark measures what training runs."""
    set_backends(perf["cudnn_benchmark"])
    low_precision = precision.split("-")[0] in ("bf16", "16")
    vgg_dtype = loss_dtype(perf["loss_precision"], device_type)
    criterion.vgg.compute_dtype = vgg_dtype
    chosen = {"precision": precision, "loss_precision": str(vgg_dtype or precision).removeprefix("torch."),
              "channels_last": use_channels_last(perf["channels_last"], device_type, low_precision),
              "loss_channels_last": use_channels_last(perf["channels_last"], device_type,
                                                      low_precision or vgg_dtype is not None),
              "compile": bool(perf["compile"])}
    if chosen["channels_last"]:
        to_channels_last(transformer)
    if chosen["loss_channels_last"]:
        to_channels_last(criterion)
    if chosen["compile"]:
        transformer.compile()  # in place: parameter names, checkpoints and exports stay the same
    return chosen


class GroupInstanceNorm2d(nn.InstanceNorm2d):
    """``InstanceNorm2d`` computed as ``group_norm`` with one group per channel: the same function (per
    image, per channel statistics; same parameters), but PyTorch's group norm has channels-last bfloat16
    CPU kernels, where instance norm copies to NCHW and back. Inference only: its backward is slower."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or self.track_running_stats or not self.affine:
            return super().forward(x)
        return F.group_norm(x, self.num_features, self.weight, self.bias, self.eps)


def for_inference(model: Callable[[torch.Tensor], torch.Tensor], device: torch.device, precision: torch.dtype,
                  channels_last: bool | str = "auto") -> Callable[[torch.Tensor], torch.Tensor]:
    """Our network on ``device`` with its weights stored in ``precision`` (16-bit weights skip autocast's
    per-layer casts, which on the CPU cost as much as the convolutions) and in the fastest layout.
    Photos stay float32: the network casts them after its logit, see ``TransformerNet.forward``.
    Standalone models (TorchScript, ONNX) are returned as they are: their graph is fixed."""
    if not isinstance(model, TransformerNet):
        return model
    low_precision = precision != torch.float32
    model = model.to(device=device, dtype=precision)
    for norm in model.modules():
        if type(norm) is nn.InstanceNorm2d:
            norm.__class__ = GroupInstanceNorm2d  # still an InstanceNorm2d: tiling shares its statistics
    if use_channels_last(channels_last, device.type, low_precision):
        to_channels_last(model)
    return model
