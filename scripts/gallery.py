"""Build a gallery: ``python scripts/gallery.py 'models=[a.pt,b.pt]' input=DIR output=gallery.jpg``.

One image: each network's painting on top, then each photo beside its stylised versions. Unreadable
photos are skipped and named; the output is written whole or not at all.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig, ListConfig

from fast_style.config import run_or_exit
from fast_style.devices import choose_device
from fast_style.errors import FastStyleError
from fast_style.gallery import gallery
from fast_style.image_io import require_images, save_image
from fast_style.inference import Stylizer, choose_precision, for_inference
from fast_style.model_io import load_model
from fast_style.outputs import check_output
from fast_style.settings import whole

SUFFIXES = (".jpg", ".jpeg", ".png")


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
    networks = []
    for model in models:
        net, meta = load_model(model)
        networks.append((meta, Stylizer(for_inference(net, device, precision), device, precision)))
    sheet, skipped = gallery(networks, photos, tile, max_size, cfg.assets_dir)
    for path in skipped:
        print(f"skipped {path}: not a readable image", file=sys.stderr)
    save_image(sheet, output, quality)
    print(f"gallery: {output} ({len(photos) - len(skipped)} photos x {len(models)} models, {sheet.width}x{sheet.height})")
    return 0 if not skipped else 1


@hydra.main(version_base="1.3", config_path="../configs/model_scripts", config_name="gallery")
def main(cfg: DictConfig) -> None:
    sys.exit(run_or_exit(run, cfg))


if __name__ == "__main__":
    main()
