"""Build a gallery: ``python scripts/gallery.py 'models=[a.pt,b.pt]' input=DIR output=gallery.jpg``.

One image: each network's painting on top (a column per style of a multi-style network), then each photo
beside its stylised versions, and with ``blend=[a,b]`` a last row blending a multi-style network's styles a
to b. Unreadable photos are skipped and named; the output is written whole or not at all.
"""

from __future__ import annotations

import sys

from collections.abc import Sequence

import hydra
import torch
from omegaconf import DictConfig, ListConfig

from fast_style.config import run_or_exit
from fast_style.devices import choose_device
from fast_style.errors import FastStyleError
from fast_style.gallery import gallery
from fast_style.image_io import require_images, save_image
from fast_style.inference import Stylizer, choose_precision, for_inference
from fast_style.model_io import load_model
from fast_style.multistyle import choose_style, style_names, style_weights
from fast_style.outputs import check_output
from fast_style.settings import whole

SUFFIXES = (".jpg", ".jpeg", ".png")


def blend_pair(value: object, names: list[str]) -> list[str]:
    """``blend=[a, b]``: the two styles of a multi-style model that the blend row goes between."""
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
        raise FastStyleError(f"blend={value}: give two style names, e.g. 'blend=[{names[0]},{names[-1]}]'")
    return [str(name) for name in value]


def run(cfg: DictConfig) -> int:
    models = list(cfg.models) if isinstance(cfg.models, ListConfig) else [cfg.models]
    if not models:
        raise FastStyleError("models=[]: give at least one model file, e.g. 'models=[starry_night.pt]'")
    output = check_output("output", cfg.output, folder=False)
    if output.suffix.lower() not in SUFFIXES:
        raise FastStyleError(f"output={output}: name a .jpg or .png file")
    tile = (whole("tile_height", cfg.tile_height, 16, 2048), whole("tile_width", cfg.tile_width, 16, 2048))
    max_size = whole("max_size", cfg.max_size, 16, optional=True)
    quality = whole("quality", cfg.quality, 1, 100)
    photos = require_images("input", cfg.input)
    device = choose_device(str(cfg.device))
    precision = choose_precision(str(cfg.precision), device)
    steps = whole("blend_steps", cfg.blend_steps, 2, 32)
    networks, blend = [], []
    stylizer = lambda net: Stylizer(for_inference(net, device, precision), device, precision)  # noqa: E731
    for model in models:
        net, meta = load_model(model)
        names = style_names(meta)
        if names is None:
            networks.append((meta, stylizer(net)))
            continue
        # A multi-style network: a column per style; the blend row from the first one holding both styles.
        for name in names:
            single, single_meta = choose_style(net, meta, name, model)
            networks.append((single_meta, stylizer(single)))
        if cfg.blend is not None and not blend:
            pair = [style_weights("blend", name, names) for name in blend_pair(cfg.blend, names)]
            blend = [stylizer(net.single_style(torch.lerp(pair[0], pair[1], t)))
                     for t in torch.linspace(0, 1, steps).tolist()]
    if cfg.blend is not None and not blend:
        raise FastStyleError(f"blend={cfg.blend}: blends need a multi-style model among models")
    sheet, skipped = gallery(networks, photos, tile, max_size, cfg.assets_dir, blend)
    for path in skipped:
        print(f"skipped {path}: not a readable image", file=sys.stderr)
    save_image(sheet, output, quality)
    print(f"gallery: {output} ({len(photos) - len(skipped)} photos x {len(networks)} styles"
          f"{f', a blend row of {len(blend)}' if blend else ''}, {sheet.width}x{sheet.height})")
    return 0 if not skipped else 1


@hydra.main(version_base="1.3", config_path="../configs/model_scripts", config_name="gallery")
def main(cfg: DictConfig) -> None:
    sys.exit(run_or_exit(run, cfg))


if __name__ == "__main__":
    main()
