"""Write a standalone model: ``python scripts/export.py model=PATH format=torchscript|onnx [output=FILE]``; a
static web page (``format=web``); a network of the zoo (``format=zoo validation=<report.json>``); or one style of
a model as a single-style model file: ``export.py model=arbitrary.pt style=painting.jpg`` (or a multi-style
model's ``style=candy``) writes ``painting.pt``, which works wherever a per-style model does.

The result runs without this package (``torch.jit.load`` or onnxruntime). Before reporting success the
file is loaded back and its output compared with the PyTorch model's on a random image (a multi-style model's
on a random blend of its styles); the maximum absolute difference is printed, and an export that disagrees
by more than ``TOLERANCE`` is deleted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch
from omegaconf import DictConfig

from fast_style.config import MODEL_SCRIPTS_DIR, command, run_or_exit
from fast_style.errors import FastStyleError
from fast_style.inference.standalone import (MIN_SIDE, STANDALONE_FORMATS, OnnxModel, export_onnx, export_torchscript,
                                             load_torchscript)
from fast_style.io.atomic import atomic_write
from fast_style.io.outputs import check_output, safe_name
from fast_style.io.images import DEFAULT_MAX_PIXELS
from fast_style.model_card import ModelCard, load_model, save_model
from fast_style.nn.arbitrary import ArbitraryStyleNet
from fast_style.nn.transformer import TransformerNet
from fast_style.zoo import zoo_dir
from fast_style.settings import flag, one_of, whole

SUFFIXES = {"torchscript": ".torchscript.pt", "onnx": ".onnx", "pt": ".pt"}
TOLERANCE = 1e-3  # outputs are in [0, 1]; float32 round-off is ~1e-6


def export(cfg: DictConfig) -> tuple[Path, float]:
    """Export, reload and compare; returns (file, max abs difference)."""
    formats = (*STANDALONE_FORMATS, "pt", "web", "zoo")
    if cfg.format is not None:
        one_of("format", str(cfg.format).lower(), formats)
    if not cfg.model:
        raise FastStyleError("model=PATH is required: an exported .pt or a training .ckpt")
    check_size = cfg.check_size
    if not isinstance(check_size, Sequence) or len(check_size) != 2:
        raise FastStyleError(f"check_size={check_size}: give [height, width], e.g. [96, 128]")
    check_size = [whole(f"check_size[{i}]", side, MIN_SIDE, 4096) for i, side in enumerate(check_size)]
    model_path = Path(cfg.model).expanduser()
    net, card = load_model(model_path)
    style = cfg.get("style")
    if style is not None or card.arbitrary:
        net, card = one_style(net, card, cfg)
    default = "pt" if style is not None else "torchscript"
    fmt = str(cfg.format or default).lower()
    stem = safe_name(card.style.name) if style is not None else model_path.stem
    output = check_output("output", cfg.output or model_path.with_name(stem + SUFFIXES[fmt]), folder=False,
                          inputs=[model_path])
    generator = torch.Generator().manual_seed(0)
    inputs = [torch.rand(1, 3, *check_size, generator=generator)]
    if net.num_styles > 1:  # checked on a random blend of its styles
        inputs.append(torch.rand(net.num_styles, generator=generator))
    # Written and checked under a temporary name: only a file that passed the check takes the output's name.
    with atomic_write(output) as tmp:
        cpu = torch.device("cpu")
        if fmt == "pt":
            save_model(tmp, net, card)
            standalone = load_model(tmp)[0]
        elif fmt == "onnx":
            export_onnx(net, card, tmp)
            standalone = OnnxModel(tmp, cpu)
        else:
            export_torchscript(net, card, tmp)
            standalone = load_torchscript(tmp, cpu)[0]
        with torch.inference_mode():
            difference = (standalone(*inputs) - net(*inputs)).abs().max().item()
        if not difference <= TOLERANCE:
            raise FastStyleError(f"{output}: the {fmt} export differs from PyTorch by {difference:.2e} "
                                 f"(> {TOLERANCE}); nothing written, please report this")
    return output, difference


def one_style(net: TransformerNet | ArbitraryStyleNet, card: ModelCard, cfg: DictConfig
              ) -> tuple[TransformerNet, ModelCard]:
    """``style=``: an arbitrary-style network's painting (or blend) or a multi-style network's style (or blend),
    folded into a single-style network and its card."""
    if isinstance(net, ArbitraryStyleNet):
        from fast_style.inference.paintings import fold_paintings  # the VGG (torchvision) only for a painting

        folded, chosen, _ = fold_paintings(net, card, cfg.get("style"), "style", cfg.get("style_size"),
                                          cfg.get("max_pixels", DEFAULT_MAX_PIXELS), cfg.get("assets_dir"))
        return folded, chosen
    weights, chosen = card.select(cfg.style, f"model={cfg.model}")
    return (net.fold(weights) if weights is not None else net).eval(), chosen


def to_zoo(cfg: DictConfig) -> tuple[Path, float]:
    """``format=zoo``: the model with 16-bit weights and its validation summary in its card, and validate.py's
    report beside it, as ``<zoo>/<name>.pt`` and ``<name>.md``; returns the file and the largest output change."""
    if not cfg.model:
        raise FastStyleError("model=PATH is required: the exported .pt or training .ckpt to put in the zoo")
    if not cfg.validation:
        raise FastStyleError("validation=PATH is required with format=zoo: the report.json of validate.py on the "
                             "model, so the zoo says how good each network is")
    net, card = load_model(Path(cfg.model).expanduser())
    report_path = Path(cfg.validation).expanduser()
    try:
        report = json.loads(report_path.read_text())
        summary, markdown = report["summary"], report_path.with_name("report.md").read_text()
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise FastStyleError(f"validation={report_path}: not a report.json of validate.py with its report.md "
                             f"beside it ({err}); validate the model first") from err
    if report.get("style", {}).get("sha256") != card.style.sha256:
        raise FastStyleError(f"validation={report_path}: that report is of another style; validate {cfg.model}")
    name = safe_name(cfg.name or Path(cfg.model).stem)
    folder = Path(cfg.output).expanduser() if cfg.output else zoo_dir()
    target = check_output("output", folder / f"{name}.pt", folder=False, inputs=[cfg.model])
    if target.exists() and not flag("overwrite", cfg.overwrite):
        raise FastStyleError(f"output={target}: the zoo holds {name} already; give overwrite=true to replace it")
    body = markdown.partition("\n")[2]   # under the zoo's name, not the path the run was validated at
    entry = replace(card, validation={k: v for k, v in summary.items() if isinstance(v, (int, float))})
    with atomic_write(target) as tmp:
        save_model(tmp, net, entry, dtype=torch.float16)
        photo = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            difference = (load_model(tmp)[0](photo) - net(photo)).abs().max().item()
        with atomic_write(target.with_suffix(".md")) as md:
            md.write_text(f"# Validation of the zoo's `{name}`\n{body}")
    return target, difference


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
    if str(cfg.format).lower() == "zoo":
        path, difference = run_or_exit(to_zoo, cfg)
        print(f"zoo: {path} (16-bit weights; max abs output change {difference:.2e}); infer.py model={path.stem}")
        return
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
