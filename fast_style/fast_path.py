"""The Lightning side of :mod:`fast_style.perf`: applies the ``perf`` config on every training process."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

from fast_style.perf import apply_to_training, check_perf


class FastPath(pl.Callback):
    """Applies ``perf`` settings (configs/perf) once the trainer knows its device; each DDP rank does."""

    def __init__(self, **perf: Any) -> None:
        check_perf(perf)
        self.perf = perf
        self.chosen: dict[str, Any] = {}

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.chosen = apply_to_training(pl_module.transformer, pl_module.criterion,
                                        trainer.strategy.root_device.type, str(trainer.precision), self.perf)
        if trainer.is_global_zero:
            print("fast path: " + ", ".join(f"{k}={v}" for k, v in self.chosen.items()))
