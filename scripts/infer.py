"""Stylise a folder of photos in one pass: ``python scripts/infer.py model=PATH input=DIR output=OUT``.

Writes one stylised file per decodable image (same relative path and name), prints one line per file
it had to skip and finally ``stylized N, skipped M``; exits 0 only when nothing was skipped (1 otherwise,
2 on a bad setting or model file).
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from fast_style.config import run_or_exit  # also registers ${workers:}
from fast_style.devices import choose_device
from fast_style.export import load_any_model
from fast_style.folder_io import plan_jobs, stylize_folder
from fast_style.inference import Stylizer, choose_precision, for_inference
from fast_style.multistyle import choose_style


def infer(cfg: DictConfig) -> int:
    """Run the whole folder; return the exit status."""
    jobs, existing = plan_jobs(cfg.input, cfg.output, cfg.format, cfg.overwrite)
    device = choose_device(str(cfg.device))
    precision = choose_precision(str(cfg.precision), device)
    model, meta = choose_style(*load_any_model(cfg.model, device), cfg.style, f"model={cfg.model}")
    model = for_inference(model, device, precision)  # 16-bit weights, channels-last where it pays
    stylizer = Stylizer(model, device, precision, tile=cfg.tile, overlap=cfg.tile_overlap, strength=cfg.strength,
                        preserve_color=cfg.preserve_color)
    style = meta.get("style", {}).get("name", "unknown style")
    print(f"model: {cfg.model} ({meta['kind']}, {style}); device: {device}, {str(precision).removeprefix('torch.')}")
    if existing:
        print(f"{existing} output(s) already exist and are kept (overwrite=true redoes them)")
    summary = stylize_folder(stylizer, jobs, batch_size=cfg.batch_size, num_workers=cfg.num_workers,
                             max_size=cfg.max_size, max_pixels=cfg.max_pixels, quality=cfg.quality,
                             progress=cfg.progress)
    if summary.stylized:
        print(f"throughput: {summary.stylized / summary.seconds:.3g} images/s "
              f"({summary.stylized} images in {summary.seconds:.1f} s, decoding and writing included)")
    print(f"stylized {summary.stylized}, skipped {summary.skipped}")
    return 0 if summary.skipped == 0 else 1


@hydra.main(version_base="1.3", config_path="../configs/model_scripts", config_name="infer")
def main(cfg: DictConfig) -> None:
    sys.exit(run_or_exit(infer, cfg))


if __name__ == "__main__":
    main()
