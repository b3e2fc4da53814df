"""Train a fast style network: ``python scripts/train.py style=starry_night``, or one network for several
styles: ``styles='[starry_night,candy]'`` (``add_styles_to=multi.pt`` adds styles to a trained one).

Composes configs/train.yaml (style, model, loss, data, optim, trainer, logger, perf, module, callbacks),
trains with Lightning (:mod:`fast_style.training.recipe`), keeps checkpoints for resuming, and exports
``<run>/export/<style>.pt`` for single-pass inference.
"""

from __future__ import annotations

from omegaconf import DictConfig

from fast_style.config import CONFIG_DIR, command, run_or_exit
from fast_style.training.recipe import train


@command(CONFIG_DIR, "train")
def main(cfg: DictConfig) -> None:
    path = run_or_exit(train, cfg)
    if path is not None:
        print(f"exported: {path}")


if __name__ == "__main__":
    main()
