"""Build a gallery: ``python scripts/gallery.py 'models=[a.pt,b.pt]' input=DIR output=gallery.jpg``.

One image: each network's painting on top (a column per style of a multi-style network, per painting of
``paintings=DIR`` for an arbitrary-style one), then each photo
beside its stylised versions, and with ``blend=[a,b]`` a last row blending a multi-style network's styles a
to b. Unreadable photos are skipped and named; the output is written whole or not at all.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import torch
from omegaconf import DictConfig, ListConfig

from fast_style.config import MODEL_SCRIPTS_DIR, command, run_or_exit
from fast_style.errors import FastStyleError
from fast_style.evaluate.gallery import gallery
from fast_style.evaluate.style_distance import judge_for
from fast_style.inference.paintings import painting_files
from fast_style.inference.stylizer import Stylizer
from fast_style.io.images import require_images, save_image
from fast_style.io.outputs import check_output
from fast_style.model_card import load_model
from fast_style.runtime import choose_device, choose_precision
from fast_style.settings import whole

SUFFIXES = (".jpg", ".jpeg", ".png")


def blend_pair(value: object, names: list[str]) -> list[str]:
    """``blend=[a, b]``: the two styles of a multi-style model that the blend row goes between."""
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
        raise FastStyleError(f"blend={value}: give two style names, e.g. 'blend=[{names[0]},{names[-1]}]'")
    if str(value[0]) == str(value[1]):
        raise FastStyleError(f"blend={value}: give two different styles to blend between")
    return [str(name) for name in value]


def run(cfg: DictConfig) -> int:
    models = list(cfg.models) if isinstance(cfg.models, ListConfig) else [cfg.models]
    if not models:
        raise FastStyleError("models=[]: give at least one model file, e.g. 'models=[starry_night.pt]'")
    output = check_output("output", cfg.output, folder=False, inputs=[cfg.input, *models])
    if output.suffix.lower() not in SUFFIXES:
        raise FastStyleError(f"output={output}: name a .jpg or .png file")
    tile = (whole("tile_height", cfg.tile_height, 16, 2048), whole("tile_width", cfg.tile_width, 16, 2048))
    max_size = whole("max_size", cfg.max_size, 16, optional=True)
    quality = whole("quality", cfg.quality, 1, 100)
    max_pixels = whole("max_pixels", cfg.max_pixels, 1, optional=True, hint="null turns the decompression-bomb check off")
    judge, _ = judge_for(cfg.style_distance)
    photos = require_images("input", cfg.input)
    device = choose_device(str(cfg.device))
    precision = choose_precision(str(cfg.precision), device)
    steps = whole("blend_steps", cfg.blend_steps, 2, 32)
    networks, blend, paintings = [], [], []
    painting = {"style_size": cfg.get("style_size"), "max_pixels": max_pixels, "assets_dir": cfg.assets_dir}
    for model in models:
        card = load_model(model)[1]
        names = card.names
        # A multi-style network: a column per style; the blend row from the first one holding both styles. An
        # arbitrary-style network: a column per painting of paintings=.
        columns = painting_files("paintings", cfg.get("paintings")) if card.arbitrary else names if len(names) > 1 else [None]
        for name in columns:
            stylizer = Stylizer.from_file(model, None if name is None else str(name), device, precision,
                                          setting="paintings" if card.arbitrary else "style", painting=painting)
            networks.append((stylizer.card.style, stylizer))
            paintings.append(name if card.arbitrary else None)
        if cfg.blend is not None and not blend and len(names) > 1:
            first, second = blend_pair(cfg.blend, names)
            blend = [Stylizer.from_file(model, {first: 1 - t, second: t}, device, precision, setting="blend")
                     for t in torch.linspace(0, 1, steps).tolist()]
    if cfg.blend is not None and not blend:
        raise FastStyleError(f"blend={cfg.blend}: blends need a multi-style model among models")
    sheet, skipped = gallery(networks, photos, tile, max_size, cfg.assets_dir, blend, max_pixels, judge, paintings)
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    save_image(sheet, output, quality)
    print(f"gallery: {output} ({len(photos) - len(skipped)} photos x {len(networks)} styles"
          f"{f', a blend row of {len(blend)}' if blend else ''}, {sheet.width}x{sheet.height})")
    return 0 if not skipped else 1


@command(MODEL_SCRIPTS_DIR, "gallery")
def main(cfg: DictConfig) -> None:
    sys.exit(run_or_exit(run, cfg))


if __name__ == "__main__":
    main()
