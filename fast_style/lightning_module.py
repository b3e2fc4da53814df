"""The LightningModule: trains the transformer against the loss core and shows what it learns."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torchvision.utils import make_grid

from fast_style.image_io import save_image
from fast_style.losses import PerceptualLoss
from fast_style.settings import whole
from fast_style.temporal import StabilityLoss


class StyleTransferModule(pl.LightningModule):
    """Transformer + frozen perceptual loss. Only the transformer is trained or checkpointed; the VGG
    trunk is rebuilt from config, which keeps checkpoints small (a few MB instead of 60+)."""

    def __init__(self, transformer: nn.Module, criterion: PerceptualLoss,
                 optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer],
                 warmup_steps: int = 100, preview_every: int = 200, meta: dict[str, Any] | None = None,
                 preview_dir: str | Path | None = None, stability: StabilityLoss | None = None) -> None:
        super().__init__()
        self.transformer = transformer
        self.criterion = criterion
        self.optimizer_factory = optimizer
        self.warmup_steps = whole("module.warmup_steps", warmup_steps, 0)
        self.preview_every = whole("module.preview_every", preview_every, 0, hint="0: first and last step only")
        self.meta = meta or {}
        self.preview_dir = Path(preview_dir) if preview_dir else None
        self.stability = stability  # optional temporal-stability term (fast_style/temporal.py)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.transformer(x)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        output = self.transformer(batch)
        terms = self.criterion(output, batch)
        if self.stability is not None:
            terms["stability"] = self.stability(self.transformer, batch, output)
            terms["total"] = terms["total"] + terms["stability"]
        self.log_dict({f"train/{k}": v.detach() for k, v in terms.items() if k != "total"}, on_step=True)
        self.log("train/total", terms["total"].detach(), on_step=True, prog_bar=True)
        return terms["total"]

    def configure_optimizers(self) -> dict[str, Any]:
        """The configured optimiser with a linear learning-rate warm-up: Adam's first steps move every
        weight of the zero-initialised output conv by about ``lr`` at once, which without warm-up throws
        the output far from the photo and training spends hundreds of steps recovering."""
        optimizer = self.optimizer_factory(self.transformer.parameters())
        warmup = max(1, self.warmup_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # Previews -------------------------------------------------------------------------------------
    def on_train_start(self) -> None:
        self.log_previews()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.preview_every > 0 and self.global_step % self.preview_every == 0:
            self.log_previews()

    def on_train_end(self) -> None:
        self.log_previews()

    @torch.no_grad()
    def log_previews(self) -> None:
        """Photos (top row) and their stylised versions (bottom row) to TensorBoard and a PNG file."""
        datamodule = getattr(self.trainer, "datamodule", None)
        if not self.trainer.is_global_zero or datamodule is None or not datamodule.preview_files:
            return
        photos = datamodule.preview_batch().to(self.device)
        was_training = self.transformer.training
        self.transformer.eval()
        stylised = self.transformer(photos).float()
        self.transformer.train(was_training)
        grid = make_grid(torch.cat([photos, stylised]), nrow=len(photos), padding=2)
        for logger in self.loggers:
            if hasattr(logger.experiment, "add_image"):
                logger.experiment.add_image("previews", grid, self.global_step)
        if self.preview_dir is not None:
            save_image(grid, self.preview_dir / f"step_{self.global_step:06d}.png")

    # Checkpoints ----------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Drop the frozen VGG (rebuilt from config) and store the export metadata for inference."""
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("criterion.")}
        checkpoint["fast_style"] = self.meta

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Put the current VGG weights back so strict loading still checks every transformer key."""
        checkpoint["state_dict"].update({f"criterion.{k}": v for k, v in self.criterion.state_dict().items()})
