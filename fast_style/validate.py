"""Validate a trained network against classic optimisation of its own loss (Johnson et al. 2016, Fig. 5).

For each photo: the loss of the network's output, then L-BFGS from the photo on the *same* loss, and the
number of L-BFGS iterations needed to reach the network's loss. The loss is rebuilt from the model file's
metadata (loss config, style image, VGG weights, each verified by checksum) through ``build_loss``, the
function training uses, so the network is judged by exactly the objective it was trained on.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from PIL import Image, ImageDraw
from torch import nn
from torchvision.utils import make_grid

from fast_style.assets import Asset, cache_dir, file_sha256, resolve
from fast_style.atomic import atomic_write
from fast_style.config import CONFIG_DIR
from fast_style.errors import FastStyleError
from fast_style.image_io import find_images, read_tensor, save_image, tensor_to_pil
from fast_style.inference import synchronize
from fast_style.losses import PerceptualLoss, build_loss
from fast_style.model_io import load_model
from fast_style.optimize import Iterate, check_settings, optimize
from fast_style.settings import whole
from fast_style.style import load_style

log = logging.getLogger(__name__)


def iterations_to_match(curve: Sequence[float], target: float) -> int | None:
    """First ``i`` with ``curve[i] <= target`` (``curve[i]``: loss after ``i`` iterations), else None."""
    return next((i for i, loss in enumerate(curve) if loss <= target), None)


def _median(values: Sequence[float | None]) -> float | None:
    """Median with None read as "more than the budget": None if at least half never got there."""
    if not values:
        return None
    middle = statistics.median(math.inf if v is None else v for v in values)
    return None if math.isinf(middle) else middle


# Rebuilding the loss from a model file ----------------------------------------------------------------

def _style_url(name: str, file: str) -> str | None:
    """The download URL of a bundled style (configs/style/<name>.yaml) if it names the same file."""
    path = Path(CONFIG_DIR) / "style" / f"{name}.yaml"
    if not path.is_file():
        return None
    style = OmegaConf.load(path)
    return style.get("url") if style.get("file") == file else None


def find_style_image(style: Mapping[str, Any], assets_dir: str | Path | None, style_image: str | None) -> Path:
    """The painting the model was trained on: ``style_image`` if given, else ``<assets>/styles/<file>``,
    the cache or its download URL; its checksum must equal the one stored in the model file."""
    if style_image:
        path = Path(style_image).expanduser()
        if not path.is_file():
            raise FastStyleError(f"style_image={path}: file not found; give the painting the model was trained on")
    else:
        try:
            path = resolve(Asset(f"styles/{style['file']}", _style_url(style["name"], style["file"])), assets_dir)
        except FastStyleError as err:
            raise FastStyleError(
                f"the model's style image {style['file']} was not found ({err}); put it in <assets>/styles/ "
                "with FAST_STYLE_ASSETS=<assets>, or give style_image=PATH") from err
    if (actual := file_sha256(path)) != style["sha256"]:
        raise FastStyleError(
            f"style image {path} has sha256 {actual[:12]}... but the model was trained on {style['file']} with "
            f"sha256 {style['sha256'][:12]}...; give the original painting with style_image=PATH")
    return path


def find_vgg_weights(meta: Mapping[str, Any], assets_dir: str | Path | None) -> str:
    """The VGG weights the model was trained with, by checksum: the stored path, else
    ``<assets>/weights/<file>``, else the cache. ``imagenet`` is left to torchvision's own lookup."""
    vgg = meta["vgg"]
    if meta["loss"]["weights"] == "imagenet":
        return "imagenet"
    candidates = [Path(vgg["source"]), Path(str(meta["loss"]["weights"])).expanduser()]
    if assets_dir:
        candidates.append(Path(assets_dir) / "weights" / vgg["file"])
    candidates.append(cache_dir() / "weights" / vgg["file"])
    mismatched = []
    for path in dict.fromkeys(candidates):
        if path.is_file():
            if file_sha256(path) == vgg["sha256"]:
                return str(path)
            mismatched.append(str(path))
    found = f"; {', '.join(mismatched)} has another checksum" if mismatched else ""
    raise FastStyleError(
        f"VGG weights {vgg['file']} (sha256 {vgg['sha256'][:12]}...) used to train this model not found at "
        f"{vgg['source']}{found}; put the file in <assets>/weights/ and set FAST_STYLE_ASSETS=<assets>")


def loss_for_model(meta: Mapping[str, Any], assets_dir: str | Path | None = None,
                   style_image: str | None = None) -> PerceptualLoss:
    """The training loss of a model file, rebuilt by ``build_loss`` from its stored configuration."""
    missing = [key for key in ("loss", "style", "vgg") if not isinstance(meta.get(key), Mapping)]
    if missing:
        raise FastStyleError(f"the model file carries no {'/'.join(missing)} metadata, so its training loss "
                             "cannot be rebuilt; export it with scripts/train.py")
    path = find_style_image(meta["style"], assets_dir, style_image)
    image, _ = load_style({"name": meta["style"]["name"], "image": str(path), "size": meta["style"]["size"]})
    criterion, vgg_info = build_loss({**meta["loss"], "weights": find_vgg_weights(meta, assets_dir)}, image,
                                     assets_dir)
    if vgg_info["sha256"] != meta["vgg"]["sha256"]:
        raise FastStyleError(f"VGG weights {vgg_info['source']} differ from those the model was trained with "
                             f"(sha256 {meta['vgg']['sha256'][:12]}...)")
    return criterion


# Measuring ------------------------------------------------------------------------------------------

def _warm_up(transformer: nn.Module, criterion: PerceptualLoss, photo: torch.Tensor) -> None:
    """First calls pay one-off kernel and allocator set-up costs; keep them out of both timings."""
    network_loss(transformer, criterion, photo)
    image = photo.clone().requires_grad_(True)
    criterion(image, photo)["total"].backward()


@torch.no_grad()
def network_loss(transformer: nn.Module, criterion: PerceptualLoss, photo: torch.Tensor
                 ) -> tuple[float, float, torch.Tensor]:
    """The training objective of the network's output for ``photo`` [1, 3, H, W]:
    ``criterion(transformer(x), x)["total"]``, with the forward pass's wall time."""
    synchronize(photo.device)
    began = time.perf_counter()
    output = transformer(photo)
    synchronize(photo.device)
    seconds = time.perf_counter() - began
    return float(criterion(output, photo)["total"]), seconds, output


def side_by_side(panels: Sequence[torch.Tensor | None], labels: Sequence[str]) -> Image.Image:
    """Panels [1, 3, H, W] in a row under two-line captions; None is a grey "no match" panel."""
    reference = next(p for p in panels if p is not None)
    tiles = [(p if p is not None else torch.full_like(reference, 0.5))[0].cpu() for p in panels]
    pad, caption = 4, 26
    grid = tensor_to_pil(make_grid(tiles, nrow=len(tiles), padding=pad, pad_value=1.0))
    canvas = Image.new("RGB", (grid.width, grid.height + caption), "white")
    canvas.paste(grid, (0, caption))
    draw = ImageDraw.Draw(canvas)
    width = reference.shape[-1] + pad
    for i, label in enumerate(labels):
        draw.text((pad + i * width, 2), label, fill="black")
    return canvas


def compare(transformer: nn.Module, criterion: PerceptualLoss, photo: torch.Tensor, steps: int,
            lr: float | None = None) -> tuple[dict[str, Any], Image.Image]:
    """The network against ``steps`` L-BFGS iterations from ``photo`` on ``criterion``: the figures of
    one report entry, and the side-by-side picture."""
    net_loss, net_seconds, stylised = network_loss(transformer, criterion, photo)
    matched: dict[str, Any] = {}

    def keep_first_match(it: Iterate) -> None:
        if not matched and it.terms["total"] <= net_loss:
            matched.update(seconds=it.seconds, image=it.image.clone())

    result = optimize(criterion, photo, steps, method="lbfgs", lr=lr, init="content", callback=keep_first_match)
    match = iterations_to_match(result.losses, net_loss)
    record = {
        "height": photo.shape[-2], "width": photo.shape[-1],
        "network_loss": net_loss, "network_seconds": net_seconds,
        "optimisation_losses": result.losses, "optimisation_elapsed": result.seconds,
        "optimisation_seconds": result.total_seconds,
        "lbfgs_iterations_to_match": match, "optimisation_seconds_to_match": matched.get("seconds"),
    }
    labels = ["content", f"network\nloss {net_loss:.4g}",
              "L-BFGS\nno match" if match is None else f"L-BFGS it {match}\nloss {result.losses[match]:.4g}",
              f"L-BFGS it {steps}\nloss {result.losses[-1]:.4g}"]
    return record, side_by_side([photo, stylised, matched.get("image"), result.image], labels)


def summarize(images: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Medians over images (Johnson's figure is the median L-BFGS iterations to match). The speed-up
    counts images matched after at least one iteration: at iteration 0 the photo itself already scores
    as well as the network, and there is no optimisation time to compare with."""
    speedups = [r["optimisation_seconds_to_match"] / r["network_seconds"] for r in images
                if r["lbfgs_iterations_to_match"] and r["network_seconds"] > 0]
    return {
        "images": len(images),
        "matched": sum(r["lbfgs_iterations_to_match"] is not None for r in images),
        "network_loss": _median([r["network_loss"] for r in images]),
        "final_optimisation_loss": _median([r["optimisation_losses"][-1] for r in images]),
        "lbfgs_iterations_to_match": _median([r["lbfgs_iterations_to_match"] for r in images]),
        "network_seconds": _median([r["network_seconds"] for r in images]),
        "optimisation_seconds": _median([r["optimisation_seconds"] for r in images]),
        "optimisation_seconds_to_match": _median([r["optimisation_seconds_to_match"] for r in images]),
        "speedup_at_match": _median(speedups),
    }


def _fmt(value: float | None, spec: str = ".4g") -> str:
    return "not reached" if value is None else format(value, spec)


def report_markdown(report: Mapping[str, Any]) -> str:
    s, steps = report["summary"], report["steps"]
    lines = [
        f"# Validation of `{report['model']}`", "",
        f"Style `{report['style']['name']}` ({report['style']['file']}), photos at most {report['image_size']} px, "
        f"L-BFGS from the photo for {steps} iterations on {report['device']}, on the loss the network was trained on.",
        "",
        f"- images: {s['images']} ({s['matched']} matched within {steps} iterations)",
        f"- median L-BFGS iterations to reach the network's loss: {_fmt(s['lbfgs_iterations_to_match'], 'g')}",
        f"- median network loss {_fmt(s['network_loss'])}, median loss after {steps} iterations "
        f"{_fmt(s['final_optimisation_loss'])}",
        f"- median time: network {_fmt(s['network_seconds'], '.4f')} s, L-BFGS to match "
        f"{_fmt(s['optimisation_seconds_to_match'], '.3f')} s, L-BFGS all {steps} iterations "
        f"{_fmt(s['optimisation_seconds'], '.3f')} s",
        f"- median speed-up of the network over L-BFGS to match (images matched after 1+ iterations): "
        f"{'n/a' if s['speedup_at_match'] is None else format(s['speedup_at_match'], '.0f') + 'x'}",
        "",
        "| image | network loss | iterations to match | network s | L-BFGS s to match | final L-BFGS loss |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in report["images"]:
        lines.append(f"| {r['image']} | {r['network_loss']:.4g} | {_fmt(r['lbfgs_iterations_to_match'], 'g')} | "
                     f"{r['network_seconds']:.4f} | {_fmt(r['optimisation_seconds_to_match'], '.3f')} | "
                     f"{r['optimisation_losses'][-1]:.4g} |")
    if report["skipped"]:
        lines += ["", "Skipped (unreadable or too small): " + ", ".join(report["skipped"])]
    lines += ["", "Side-by-side images (content | network | L-BFGS at the matching iteration | L-BFGS at the end) "
              "are in `side_by_side/`."]
    return "\n".join(lines) + "\n"


def validate(model: str | Path, inputs: str | Path, output: str | Path, image_size: int = 256, steps: int = 200,
             lr: float | None = None, device: torch.device | str = "cpu", assets_dir: str | Path | None = None,
             style_image: str | None = None) -> dict[str, Any]:
    """Compare the network in ``model`` with L-BFGS on every photo in ``inputs``; write the report to
    ``output`` (report.json and report.md, rewritten after each photo, and side_by_side/*.png)."""
    whole("image_size", image_size, 16, hint="VGG pools the image 3 times or more")
    check_settings("lbfgs", "content", steps, (1.0,), lr)
    device = torch.device(device)
    transformer, meta = load_model(model)
    if not Path(inputs).exists():
        raise FastStyleError(f"input={inputs}: not found; give a folder of photos or one photo")
    files = find_images(inputs)
    if not files:
        raise FastStyleError(f"input={inputs}: no images found (jpg, png, webp, bmp, tif, searched recursively)")
    criterion = loss_for_model(meta, assets_dir, style_image).to(device)
    transformer.to(device)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    root = Path(inputs) if Path(inputs).is_dir() else Path(inputs).parent
    report: dict[str, Any] = {"model": str(model), "style": meta["style"], "loss": meta["loss"],
                              "image_size": image_size, "steps": steps, "device": str(device),
                              "summary": {}, "images": [], "skipped": []}
    for path in files:
        name = path.relative_to(root).as_posix()
        try:
            photo = read_tensor(path, max_size=image_size).unsqueeze(0).to(device)
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            log.warning("skipping unreadable image %s (%s)", path, err)
            report["skipped"].append(name)
            continue
        try:
            criterion.check_side(str(path), *photo.shape[-2:])
        except FastStyleError as err:
            log.warning("skipping %s", err)
            report["skipped"].append(name)
            continue
        if not report["images"]:
            _warm_up(transformer, criterion, photo)
        record, panels = compare(transformer, criterion, photo, steps, lr)
        record = {"image": name, **record,
                  "side_by_side": f"side_by_side/{Path(name).with_suffix('.png').as_posix()}"}
        save_image(panels, output / record["side_by_side"])
        report["images"].append(record)
        report["summary"] = summarize(report["images"])
        # Atomic rewrites: a report is the old one or the new one, never half of one.
        for report_file, text in (("report.json", json.dumps(report, indent=2)),
                                  ("report.md", report_markdown(report))):
            with atomic_write(output / report_file) as tmp:
                tmp.write_text(text)
        log.info("%s: network loss %.4g in %.4f s; L-BFGS matched at iteration %s; loss after %d: %.4g (%.2f s)",
                 name, record["network_loss"], record["network_seconds"], record["lbfgs_iterations_to_match"], steps,
                 record["optimisation_losses"][-1], record["optimisation_seconds"])
    if not report["images"]:
        raise FastStyleError(f"input={inputs}: none of the {len(files)} images could be read")
    return report
