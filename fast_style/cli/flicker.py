"""How much a network makes a film flicker: ``python scripts/flicker.py model=PATH input=clip.mp4``.

Stylises the film frame by frame and prints the warping error (Lai et al. 2018) of the stylised frames, of
the input frames (the floor: flow errors and lighting changes) and their ratio; writes them as JSON to
``output`` (with ``style_loss=true`` also the network's training loss on the frames). See fast_style/evaluate/flicker.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from omegaconf import DictConfig

from fast_style.config import MODEL_SCRIPTS_DIR, command, run_or_exit
from fast_style.errors import FastStyleError
from fast_style.evaluate.flicker import film_flicker
from fast_style.inference.stylizer import Stylizer
from fast_style.io.atomic import atomic_write
from fast_style.io.outputs import check_output
from fast_style.settings import flag


def flicker(cfg: DictConfig) -> int:
    output = check_output("output", cfg.output, folder=False, inputs=[cfg.input, cfg.model])
    if not Path(str(cfg.input)).is_file():
        raise FastStyleError(f"input={cfg.input}: not a file; give one video")
    stylizer = Stylizer.from_file(cfg.model, cfg.style, str(cfg.device), str(cfg.precision), strength=cfg.strength,
                                  preserve_color=cfg.preserve_color)
    criterion = None
    if flag("style_loss", cfg.style_loss):
        from fast_style.losses.rebuild import loss_for_model  # the VGG, only when asked for

        criterion = loss_for_model(stylizer.card, cfg.assets_dir).to(stylizer.device)
    report = film_flicker(stylizer, cfg.input, batch_size=cfg.batch_size, max_size=cfg.max_size,
                          max_frames=cfg.max_frames, criterion=criterion)
    report["model"] = str(cfg.model)
    error = report["warping_error"]
    print(f"{cfg.input}: {report['frames']} frames at {report['size'][0]}x{report['size'][1]}, "
          f"{error['valid_share']:.0%} of pixels tracked")
    print(f"warping error: stylized {error['stylized']:.4f}, input {error['input']:.4f}, "
          f"ratio {error['ratio']:.2f}")
    if "loss" in report:
        print(f"loss on the stylised frames: style {report['loss']['style']:.4g}, "
              f"content {report['loss']['content']:.4g}")
    with atomic_write(output) as tmp:
        Path(tmp).write_text(json.dumps(report, indent=2))
    print(f"wrote: {output}")
    return 0


@command(MODEL_SCRIPTS_DIR, "flicker")
def main(cfg: DictConfig) -> None:
    sys.exit(run_or_exit(flicker, cfg))


if __name__ == "__main__":
    main()
