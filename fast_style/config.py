"""Hydra/OmegaConf helpers shared by the scripts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

OmegaConf.register_new_resolver("stem", lambda path: Path(str(path)).stem, replace=True)
# Log every 10 steps, or more often in runs shorter than that, so even a 4-step run has loss curves.
OmegaConf.register_new_resolver("log_every", lambda max_steps: max(1, min(10, int(max_steps))) if int(max_steps) > 0 else 10,
                                replace=True)
# DataLoader workers: up to 4, but never more than the machine has cores.
OmegaConf.register_new_resolver("workers", lambda: min(4, os.cpu_count() or 1), replace=True)

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")


def to_dict(cfg: DictConfig) -> dict[str, Any]:
    """A resolved plain-Python copy of a config node (what goes into model files and reports)."""
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
