"""Write a standalone model: ``python scripts/export.py model=PATH format=torchscript|onnx [output=FILE]``.

The result runs without this package (``torch.jit.load`` or onnxruntime). Before reporting success the
file is loaded back and its output compared with the PyTorch model's on a random image; the maximum
absolute difference is printed, and an export that disagrees by more than ``TOLERANCE`` is deleted.
"""

from __future__ import annotations

from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig

from fast_style.config import run_or_exit, store_config
from fast_style.errors import FastStyleError
from fast_style.export import STANDALONE_FORMATS, export_onnx, export_torchscript, load_any_model
from fast_style.model_io import load_model

SUFFIXES = {"torchscript": ".torchscript.pt", "onnx": ".onnx"}
TOLERANCE = 1e-3  # outputs are in [0, 1]; float32 round-off is ~1e-6


def export(cfg: DictConfig) -> tuple[Path, float]:
    """Export, reload and compare; returns (file, max abs difference)."""
    fmt = str(cfg.format).lower()
    if fmt not in STANDALONE_FORMATS:
        raise FastStyleError(f"format={cfg.format}: use {' or '.join(STANDALONE_FORMATS)}")
    model_path = Path(cfg.model).expanduser()
    net, meta = load_model(model_path)
    output = Path(cfg.output).expanduser() if cfg.output else model_path.with_name(model_path.stem + SUFFIXES[fmt])
    if output.resolve() == model_path.resolve():
        raise FastStyleError(f"output={output} is the model file itself; choose another name")
    (export_onnx if fmt == "onnx" else export_torchscript)(net, meta, output)
    image = torch.rand(1, 3, *cfg.check_size, generator=torch.Generator().manual_seed(0))
    standalone, _ = load_any_model(output, torch.device("cpu"))
    with torch.inference_mode():
        difference = (standalone(image) - net(image)).abs().max().item()
    if not difference <= TOLERANCE:
        output.unlink()
        raise FastStyleError(f"{output}: the {fmt} export differs from PyTorch by {difference:.2e} "
                             f"(> {TOLERANCE}); file removed, please report this")
    return output, difference


store_config("export")


@hydra.main(version_base="1.3", config_path=None, config_name="export")
def main(cfg: DictConfig) -> None:
    path, difference = run_or_exit(export, cfg)
    height, width = cfg.check_size
    print(f"exported: {path}")
    print(f"max abs difference vs PyTorch on a random {height}x{width} image: {difference:.2e}")


if __name__ == "__main__":
    main()
