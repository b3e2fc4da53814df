"""Check a trained network against classic optimisation of the same loss:
``python scripts/validate.py model=<run>/export/starry_night.pt input=DIR output=DIR``.

Writes ``report.json`` (per photo and medians), ``report.md`` and ``side_by_side/*.png`` to ``output``; for a
multi-style model, that for each style in ``output/<style>/`` and a table of the styles in ``output/report.md``; for
an arbitrary-style model, the same for each painting of ``paintings=DIR`` (or ``'paintings=[a.jpg,b.jpg]'``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig

from fast_style.config import MODEL_SCRIPTS_DIR, command, run_or_exit
from fast_style.errors import FastStyleError
from fast_style.evaluate.validate import report_markdown, styles_markdown, validate
from fast_style.runtime import choose_device


def run(cfg: DictConfig) -> dict:
    for key, what in (("model", "an exported .pt or a training .ckpt"), ("input", "a folder of photos")):
        if not cfg[key]:
            raise FastStyleError(f"{key}=PATH is required: {what}")
    return validate(cfg.model, cfg.input, cfg.output, cfg.image_size, cfg.optim.steps, cfg.optim.lr,
                    choose_device(cfg.device), cfg.assets_dir, cfg.style_image, cfg.style, cfg.max_pixels,
                    cfg.style_distance, cfg.paintings, cfg.style_size)


@command(MODEL_SCRIPTS_DIR, "validate")
def main(cfg: DictConfig) -> None:
    report = run_or_exit(run, cfg)
    if "styles" in report:  # a multi-style model: one table row per style
        summary = [line for line in styles_markdown(report).splitlines() if line.startswith("|")]
    else:
        summary = [line for line in report_markdown(report).splitlines() if line.startswith("- ")]
    print("\n".join(summary))
    print(f"report: {Path(cfg.output) / 'report.json'}")
    sys.exit(1 if report["skipped"] else 0)  # as infer.py: 1 when a photo was skipped


if __name__ == "__main__":
    main()
