"""The LightningModule: trains the transformer (one style, or many at once) against the loss core and shows
what it learns."""

from __future__ import annotations

import math

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.utils import make_grid

from fast_style.io.images import save_image
from fast_style.losses.perceptual import PerceptualLoss
from fast_style.losses.stability import StabilityLoss
from fast_style.model_card import ModelCard
from fast_style.nn.arbitrary import ArbitraryStyleNet
from fast_style.nn.transformer import TransformerNet
from fast_style.settings import real, whole


# The paintings an arbitrary-style network's previews show, one row each.
PREVIEW_PAINTINGS = 4


class StyleTransferModule(pl.LightningModule):
    """Transformer + frozen perceptual loss. Only the transformer is trained or checkpointed; the VGG
    trunk is rebuilt from config, which keeps checkpoints small (a few MB instead of 60+).

    A network of several styles trains them at once: the images of a batch take the trained styles round robin
    (counted over steps and DDP processes, so every style gets the same number of images and a resumed run
    carries on the same sequence), each with its own style's loss. ``trained`` are the network's style
    indices of the loss's styles, in order: all of them, or only those added to a trained network.

    An arbitrary-style network (:class:`ArbitraryStyleNet`) trains the same way on the loss's styles, which are
    views of many paintings: ``paintings`` holds each one's statistics, from which the network predicts its
    parameters."""

    def __init__(self, transformer: TransformerNet | ArbitraryStyleNet, criterion: PerceptualLoss,
                 optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer],
                 warmup_steps: int = 100, preview_every: int = 200, card: ModelCard | None = None,
                 preview_dir: str | Path | None = None, stability: StabilityLoss | None = None,
                 trained: Sequence[int] | None = None, lr_decay_to: float | None = None,
                 paintings: torch.Tensor | None = None) -> None:
        super().__init__()
        self.transformer = transformer
        self.criterion = criterion
        self.optimizer_factory = optimizer
        self.warmup_steps = whole("module.warmup_steps", warmup_steps, 0)
        self.lr_decay_to = real("module.lr_decay_to", lr_decay_to, low=0, high=1, optional=True,
                                hint="the last step's learning rate as a share of optim.lr, e.g. 0.1; null: constant")
        self.preview_every = whole("module.preview_every", preview_every, 0, hint="0: first and last step only")
        self.card = card
        self.preview_dir = Path(preview_dir) if preview_dir else None
        self.stability = stability  # optional temporal-stability term (fast_style/losses/stability.py)
        self.arbitrary = isinstance(transformer, ArbitraryStyleNet)
        if self.arbitrary:
            self.register_buffer("paintings", paintings, persistent=False)
        self.trained = list(range(criterion.num_styles if self.arbitrary else transformer.num_styles)
                            if trained is None else trained)


    def sample_styles(self, batch_size: int) -> torch.Tensor:
        """Each image's index into the loss's styles: round robin from this step's first image."""
        first = (self.global_step * self.trainer.world_size + self.global_rank) * batch_size
        return (first + torch.arange(batch_size, device=self.device)) % len(self.trained)

    def loss_terms(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """The loss's terms for a batch of photos (``total`` is what is minimised; with several styles also
        each style's, ``<style>/<term>``), with the optional temporal-stability term (single-style networks)."""
        if self.arbitrary:
            styles = self.sample_styles(len(batch))
            output = self.transformer(batch, self.paintings[styles])
            terms = self.criterion(output, batch, styles)
        elif self.transformer.num_styles == 1:
            output = self.transformer(batch)
            terms = self.criterion(output, batch)
        else:
            styles = self.sample_styles(len(batch))
            network_styles = torch.tensor(self.trained, device=self.device)[styles]
            one_hot = F.one_hot(network_styles, self.transformer.num_styles).float()
            output = self.transformer(batch, one_hot)
            terms = self.criterion(output, batch, styles)
        if self.stability is not None:
            terms["stability"] = self.stability(self.transformer, batch, output)
            terms["total"] = terms["total"] + terms["stability"]
        return terms

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        terms = self.loss_terms(batch)
        # an arbitrary-style network's hundreds of painting views are logged together, not one by one
        self.log_dict({f"train/{k}": v.detach() for k, v in terms.items()
                       if k != "total" and not (self.arbitrary and "/" in k)}, on_step=True)
        self.log("train/total", terms["total"].detach(), on_step=True, prog_bar=True)
        return self.objective(terms)

    def objective(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """What the optimiser minimises: the loss's total for one style. For several, the mean of the batch's
        style losses each divided by its own (constant) value: the gradient of the mean of their logarithms, so
        every style pulls on the shared weights in proportion to its loss, whatever its size. Style losses
        differ by orders of magnitude (mosaic's is ~30x starry_night's at their recommended weights), and
        unscaled the largest trains the shared convolutions alone (docs/multistyle.md)."""
        if not self.arbitrary and self.transformer.num_styles == 1:
            return terms["total"]
        totals = torch.stack([terms[f"{name}/total"] for name in self.criterion.names if f"{name}/total" in terms])
        return (totals / totals.detach().clamp_min(torch.finfo(totals.dtype).tiny)).mean()

    def configure_optimizers(self) -> dict[str, Any]:
        """The configured optimiser with a linear learning-rate warm-up: Adam's first steps move every
        weight of the zero-initialised output conv by about ``lr`` at once, which without warm-up throws
        the output far from the photo and training spends hundreds of steps recovering. With ``lr_decay_to``, a
        cosine decay after the warm-up to that share of the rate at ``trainer.max_steps``: a long run settles
        instead of hopping around its optimum at the full rate."""
        optimizer = self.optimizer_factory([p for p in self.transformer.parameters() if p.requires_grad])
        warmup, floor = max(1, self.warmup_steps), self.lr_decay_to
        total = max(warmup + 1, self.trainer.max_steps if self._trainer is not None else 0)

        def rate(step: int) -> float:
            if step < warmup or floor is None:
                return min(1.0, (step + 1) / warmup)
            progress = min(1.0, (step - warmup) / (total - warmup))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # Previews -------------------------------------------------------------------------------------
    def on_train_start(self) -> None:
        self.log_previews()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.preview_every > 0 and self.global_step % self.preview_every == 0:
            self.log_previews()

    def on_train_end(self) -> None:
        self.log_previews()

    def stylise_previews(self, photos: torch.Tensor) -> list[torch.Tensor]:
        """The rows of the preview grid below the photos: one per style the network holds (an arbitrary-style
        network: one per painting of the first ``PREVIEW_PAINTINGS``, whole)."""
        if self.arbitrary:
            count = min(PREVIEW_PAINTINGS, len(self.paintings))
            return [self.transformer(photos, stats[None]).float() for stats in self.paintings[:count]]
        if self.transformer.num_styles == 1:
            return [self.transformer(photos).float()]
        eye = torch.eye(self.transformer.num_styles, device=photos.device)
        return [self.transformer(photos, style).float() for style in eye]

    @torch.no_grad()
    def log_previews(self) -> None:
        """Photos (top row) and their stylised versions (a row below) to TensorBoard and a PNG file."""
        datamodule = getattr(self.trainer, "datamodule", None)
        if not self.trainer.is_global_zero or datamodule is None or not datamodule.preview_files:
            return
        photos = datamodule.preview_batch().to(self.device)
        was_training = self.transformer.training
        self.transformer.eval()
        rows = self.stylise_previews(photos)
        self.transformer.train(was_training)
        grid = make_grid(torch.cat([photos, *rows]), nrow=len(photos), padding=2)
        for logger in self.loggers:
            if hasattr(logger.experiment, "add_image"):
                logger.experiment.add_image("previews", grid, self.global_step)
        if self.preview_dir is not None:
            save_image(grid, self.preview_dir / f"step_{self.global_step:06d}.png")

    # Checkpoints ----------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Drop the frozen VGG (rebuilt from config) and store the model card for inference."""
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("criterion.")}
        checkpoint["fast_style"] = self.card.to_dict() if self.card is not None else {}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Put the current VGG weights back so strict loading still checks every transformer key."""
        checkpoint["state_dict"].update({f"criterion.{k}": v for k, v in self.criterion.state_dict().items()})
