"""What only matters when several processes train together (Lightning DDP, one process per device)."""

from __future__ import annotations

import hashlib

import pytorch_lightning as pl
import torch.distributed as dist

from fast_style.errors import FastStyleError
from fast_style.losses import PerceptualLoss


def style_digest(criterion: PerceptualLoss) -> str:
    """sha256 of the style targets (Gram matrices, in layer order) the loss compares against."""
    digest = hashlib.sha256()
    for name, gram in criterion.style_targets().items():
        digest.update(name.encode())
        digest.update(gram.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class SameStyleTargets(pl.Callback):
    """Every process computes the style targets from the painting itself; DDP averages their gradients,
    so targets that differ between processes (another file, another VGG) would silently train towards a
    blend. Compared once at start; every process stops with the same error if they differ."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if trainer.world_size < 2 or not dist.is_available() or not dist.is_initialized():
            return
        digests: list[str | None] = [None] * trainer.world_size
        dist.all_gather_object(digests, style_digest(pl_module.criterion))
        if len(set(digests)) > 1:
            raise FastStyleError(f"style targets differ between the {trainer.world_size} training processes "
                                 f"(sha256 {sorted(set(d[:12] for d in digests if d))}); give every node the same "
                                 "style image and loss.weights files")
        if trainer.is_global_zero:
            print(f"style targets identical on {trainer.world_size} processes (sha256 {digests[0][:12]})")
