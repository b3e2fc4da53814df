"""What only matters when several processes train together (Lightning DDP, one process per device)."""

from __future__ import annotations

import hashlib

import pytorch_lightning as pl
import torch.distributed as dist

from fast_style.errors import FastStyleError
from fast_style.losses.perceptual import PerceptualLoss


def style_digest(criterion: PerceptualLoss) -> str:
    """sha256 of the style targets (Gram matrices, in layer order) the loss compares against."""
    digest = hashlib.sha256()
    for name, gram in criterion.style_targets().items():
        digest.update(name.encode())
        digest.update(gram.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def check_same_style_targets(criterion: PerceptualLoss) -> str:
    """Compare this process's style targets with every other process's (a collective: all must call it);
    return their common sha256, or raise the same error on every process if any differ."""
    digests: list[str | None] = [None] * dist.get_world_size()
    dist.all_gather_object(digests, style_digest(criterion))
    if len(set(digests)) > 1:
        raise FastStyleError(f"style targets differ between the {len(digests)} training processes "
                             f"(sha256 {sorted(set(d[:12] for d in digests if d))}); give every node the same "
                             "style image and loss.weights files")
    return str(digests[0])


class SameStyleTargets(pl.Callback):
    """Every process computes the style targets from the painting itself; DDP averages their gradients,
    so targets that differ between processes (another file, another VGG) would silently train towards a
    blend. Compared once at start; every process stops with the same error if they differ."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if trainer.world_size < 2 or not dist.is_available() or not dist.is_initialized():
            return
        digest = check_same_style_targets(pl_module.criterion)
        if trainer.is_global_zero:
            print(f"style targets identical on {trainer.world_size} processes (sha256 {digest[:12]})")
