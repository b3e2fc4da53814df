"""Write a standalone model: ``python scripts/export.py model=PATH format=torchscript|onnx [output=FILE]``.

The result runs without this package (``torch.jit.load`` or onnxruntime). Before reporting success the
file is loaded back and its output compared with the PyTorch model's on a random image (a multi-style model's
on a random blend of its styles); the maximum absolute difference is printed, and an export that disagrees
by more than ``TOLERANCE`` is deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from omegaconf import DictConfig

from fast_style.config import MODEL_SCRIPTS_DIR, command, run_or_exit
from fast_style.errors import FastStyleError
from fast_style.inference.standalone import (MIN_SIDE, STANDALONE_FORMATS, OnnxModel, export_onnx, export_torchscript,
                                             load_torchscript)
from fast_style.io.atomic import atomic_write
from fast_style.io.outputs import check_output
from fast_style.model_card import load_model
from fast_style.settings import flag, one_of, whole

SUFFIXES = {"torchscript": ".torchscript.pt", "onnx": ".onnx"}
TOLERANCE = 1e-3  # outputs are in [0, 1]; float32 round-off is ~1e-6


def export(cfg: DictConfig) -> tuple[Path, float]:
    """Export, reload and compare; returns (file, max abs difference)."""
    fmt = one_of("format", str(cfg.format).lower(), (*STANDALONE_FORMATS, "web"))
    if not cfg.model:
        raise FastStyleError("model=PATH is required: an exported .pt or a training .ckpt")
    check_size = cfg.check_size
    if not isinstance(check_size, Sequence) or len(check_size) != 2:
        raise FastStyleError(f"check_size={check_size}: give [height, width], e.g. [96, 128]")
    check_size = [whole(f"check_size[{i}]", side, MIN_SIDE, 4096) for i, side in enumerate(check_size)]
    model_path = Path(cfg.model).expanduser()
    net, card = load_model(model_path)
    output = check_output("output", cfg.output or model_path.with_name(model_path.stem + SUFFIXES[fmt]), folder=False,
                          inputs=[model_path])
    generator = torch.Generator().manual_seed(0)
    inputs = [torch.rand(1, 3, *check_size, generator=generator)]
    if net.num_styles > 1:  # checked on a random blend of its styles
        inputs.append(torch.rand(net.num_styles, generator=generator))
    # Written and checked under a temporary name: only a file that passed the check takes the output's name.
    with atomic_write(output) as tmp:
        (export_onnx if fmt == "onnx" else export_torchscript)(net, card, tmp)
        cpu = torch.device("cpu")
        standalone = OnnxModel(tmp, cpu) if fmt == "onnx" else load_torchscript(tmp, cpu)[0]
        with torch.inference_mode():
            difference = (standalone(*inputs) - net(*inputs)).abs().max().item()
        if not difference <= TOLERANCE:
            raise FastStyleError(f"{output}: the {fmt} export differs from PyTorch by {difference:.2e} "
                                 f"(> {TOLERANCE}); nothing written, please report this")
    return output, difference


def web(cfg: DictConfig) -> Path:
    """``format=web``: the static site of ``models`` (or ``model``) in the folder ``output``."""
    from fast_style.web.site import export_site

    models = list(cfg.models) if cfg.models is not None else [cfg.model] if cfg.model else []
    if not cfg.output:
        raise FastStyleError("output=DIR is required with format=web: the folder the site is written to")
    return export_site(models, cfg.output, cfg.web.runtime, flag("overwrite", cfg.overwrite), cfg.assets_dir,
                       whole("web.max_side", cfg.web.max_side, 8, 8192))


@command(MODEL_SCRIPTS_DIR, "export")
def main(cfg: DictConfig) -> None:
    if str(cfg.format).lower() == "web":
        site = run_or_exit(web, cfg)
        print(f"site: {site} (open it with python scripts/serve.py site={site})")
        return
    path, difference = run_or_exit(export, cfg)
    height, width = cfg.check_size
    print(f"exported: {path}")
    print(f"max abs difference vs PyTorch on a random {height}x{width} image: {difference:.2e}")


if __name__ == "__main__":
    main()
