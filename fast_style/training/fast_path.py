"""The training fast path: precision, memory layout, compilation and backend switches, with defaults per
device, and :class:`FastPath`, the Lightning callback that applies them on every training process.

Every choice here is one that ``scripts/benchmark.py`` shows to pay (see docs/performance.md); each is
a config key (``configs/perf/default.yaml``) so a user can switch it off. Inference has its own fast path,
:func:`fast_style.inference.prepare.for_inference`.

Training in 16 bits is Lightning's own ``bf16-mixed`` / ``16-mixed`` (autocast, float32 master weights), chosen
by ``trainer.precision=auto`` on GPUs and on CPUs with native bfloat16 (AVX512-BF16/AMX), where oneDNN's
bfloat16 convolutions are 3-8x faster than float32 in forward, input and weight gradient alike. Gram matrices
and loss reductions stay float32 (:mod:`fast_style.losses.perceptual`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from fast_style.losses.perceptual import PerceptualLoss
from fast_style.runtime import loss_dtype, use_channels_last
from fast_style.settings import flag


def set_backends(cudnn_benchmark: bool) -> None:
    """Let cuDNN time its algorithms once per input shape (training crops are all one size)."""
    torch.backends.cudnn.benchmark = bool(cudnn_benchmark)
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True  # float32 Gram matrices on tensor cores
        torch.backends.cudnn.allow_tf32 = True


def check_perf(perf: Mapping[str, Any]) -> None:
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
        transformer.to(memory_format=torch.channels_last)  # in place, like Module.to
    if chosen["loss_channels_last"]:
        criterion.to(memory_format=torch.channels_last)
    if chosen["compile"]:
        transformer.compile()  # in place: parameter names, checkpoints and exports stay the same
    return chosen


class FastPath(pl.Callback):
    """Applies ``perf`` settings (configs/perf) once the trainer knows its device; each DDP rank does."""

    def __init__(self, perf: Mapping[str, Any]) -> None:
        check_perf(perf)
        self.perf = dict(perf)
        self.chosen: dict[str, Any] = {}

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.chosen = apply_to_training(pl_module.transformer, pl_module.criterion,
                                        trainer.strategy.root_device.type, str(trainer.precision), self.perf)
        if trainer.is_global_zero:
            print("fast path: " + ", ".join(f"{k}={v}" for k, v in self.chosen.items()))
