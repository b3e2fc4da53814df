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
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fast_style.io.atomic import atomic_write
from fast_style.runtime import synchronize
from fast_style.errors import FastStyleError
from fast_style.io.images import DEFAULT_MAX_PIXELS, UnreadablePhoto, read_checked, require_images, save_image
from fast_style.losses.perceptual import PerceptualLoss
from fast_style.losses.rebuild import loss_for_model
from fast_style.inference.paintings import PaintingEncoder, fold_paintings, painting_files
from fast_style.model_card import ModelCard, load_model
from fast_style.nn.arbitrary import ArbitraryStyleNet
from fast_style.optimization import Iterate, check_settings, optimize
from fast_style.io.outputs import check_output, inside, safe_name
from fast_style.evaluate.quality import blown_out_share, contact_sheet, crushed_share, fit_height, halo_levels
from fast_style.evaluate.style_distance import StyleJudge, judge_for
from fast_style.io.images import load_image
from fast_style.styles import find_style_image
from fast_style.settings import whole

log = logging.getLogger(__name__)

SHEET_HEIGHT = 160   # rows of the contact sheet, in pixels
DISTANCES = ("photo", "network", "optimisation")   # the images whose style distance to the painting is reported


def iterations_to_match(curve: Sequence[float], target: float) -> int | None:
    """First ``i`` with ``curve[i] <= target`` (``curve[i]``: loss after ``i`` iterations), else None."""
    return next((i for i, loss in enumerate(curve) if loss <= target), None)


def _median(values: Sequence[float | None]) -> float | None:
    """Median with None read as "more than the budget": None if at least half never got there."""
    if not values:
        return None
    middle = statistics.median(math.inf if v is None else v for v in values)
    return None if math.isinf(middle) else middle


# Measuring ------------------------------------------------------------------------------------------

def _warm_up(transformer: nn.Module, criterion: PerceptualLoss, photo: torch.Tensor) -> None:
    """First calls pay one-off kernel and allocator set-up costs; keep them out of both timings."""
    network_loss(transformer, criterion, photo)
    image = photo.clone().requires_grad_(True)
    criterion(image, photo)["total"].backward()


@torch.no_grad()
def network_loss(transformer: nn.Module, criterion: PerceptualLoss, photo: torch.Tensor
                 ) -> tuple[dict[str, float], float, torch.Tensor]:
    """The training objective's terms for the network's output on ``photo`` [1, 3, H, W]
    (``criterion(transformer(x), x)``: content, style, tv, total), with the forward pass's wall time."""
    synchronize(photo.device)
    began = time.perf_counter()
    output = transformer(photo)
    synchronize(photo.device)
    seconds = time.perf_counter() - began
    return {k: float(v) for k, v in criterion(output, photo).items()}, seconds, output


def compare(transformer: nn.Module, criterion: PerceptualLoss, photo: torch.Tensor, steps: int,
            lr: float | None = None) -> tuple[dict[str, Any], list[torch.Tensor], list[str]]:
    """The network against ``steps`` L-BFGS iterations from ``photo`` on ``criterion``: the figures of
    one report entry, and the panels of its side-by-side picture (photo, network, L-BFGS at the match,
    L-BFGS at the end; grey where L-BFGS never matched) with their captions."""
    net_terms, net_seconds, stylised = network_loss(transformer, criterion, photo)
    net_loss = net_terms["total"]
    matched: dict[str, Any] = {}

    def keep_first_match(it: Iterate) -> None:
        if not matched and it.terms["total"] <= net_loss:
            matched.update(seconds=it.seconds, image=it.image.clone())

    result = optimize(criterion, photo, steps, method="lbfgs", lr=lr, init="content", callback=keep_first_match)
    match = iterations_to_match(result.losses, net_loss)
    record = {
        "height": photo.shape[-2], "width": photo.shape[-1],
        "network_loss": net_loss, "network_content": net_terms["content"], "network_style": net_terms["style"],
        "network_tv": net_terms["tv"], "network_sliced": net_terms.get("sliced", 0.0),
        "network_laplacian": net_terms.get("laplacian", 0.0), "network_seconds": net_seconds,
        "blown_out": blown_out_share(stylised, photo), "crushed": crushed_share(stylised, photo),
        "optimisation_blown_out": blown_out_share(result.image, photo),
        "optimisation_crushed": crushed_share(result.image, photo),
        "optimisation_losses": result.losses, "optimisation_elapsed": result.seconds,
        "optimisation_seconds": result.total_seconds,
        "lbfgs_iterations_to_match": match, "optimisation_seconds_to_match": matched.get("seconds"),
    }
    labels = ["content", f"network\nloss {net_loss:.4g}",
              "L-BFGS\nno match" if match is None else f"L-BFGS it {match}\nloss {result.losses[match]:.4g}",
              f"L-BFGS it {steps}\nloss {result.losses[-1]:.4g}"]
    panels = [photo, stylised, matched.get("image", torch.full_like(photo, 0.5)), result.image]
    return record, panels, labels


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
        "network_content": _median([r["network_content"] for r in images]),
        "network_style": _median([r["network_style"] for r in images]),
        "blown_out": _median([r["blown_out"] for r in images]),
        "crushed": _median([r["crushed"] for r in images]),
        "optimisation_blown_out": _median([r["optimisation_blown_out"] for r in images]),
        "final_optimisation_loss": _median([r["optimisation_losses"][-1] for r in images]),
        "lbfgs_iterations_to_match": _median([r["lbfgs_iterations_to_match"] for r in images]),
        "network_seconds": _median([r["network_seconds"] for r in images]),
        "optimisation_seconds": _median([r["optimisation_seconds"] for r in images]),
        "optimisation_seconds_to_match": _median([r["optimisation_seconds_to_match"] for r in images]),
        "speedup_at_match": _median(speedups),
        **{f"style_distance_{what}": _median([r["style_distance"][what] for r in images])
           for what in DISTANCES if all("style_distance" in r for r in images)},
    }


def _fmt(value: float | None, spec: str = ".4g") -> str:
    return "not reached" if value is None else format(value, spec)


def distance_line(summary: Mapping[str, Any], judge: str | None) -> str:
    """The report's line on the independent style distance (or why it was not measured)."""
    if "style_distance_network" not in summary:
        return f"- style distance not measured: {judge or 'style_distance=false'}"
    return ("- median style distance to the painting (Magenta's style embedding, an independent judge; lower is "
            f"closer): photo {summary['style_distance_photo']:.2f}, network {summary['style_distance_network']:.2f}, "
            f"L-BFGS at the end {summary['style_distance_optimisation']:.2f}")


def report_markdown(report: Mapping[str, Any]) -> str:
    s, steps = report["summary"], report["steps"]
    sizes = "at their own size" if report["image_size"] is None else f"at most {report['image_size']} px"
    lines = [
        f"# Validation of `{report['model']}`", "",
        f"Style `{report['style']['name']}` ({report['style']['file']}), photos "
        f"{sizes}, "
        f"L-BFGS from the photo for {steps} iterations on {report['device']}, on the loss the network was trained on.",
        "",
        f"- images: {s['images']} ({s['matched']} matched within {steps} iterations)",
        f"- median L-BFGS iterations to reach the network's loss: {_fmt(s['lbfgs_iterations_to_match'], 'g')}",
        f"- median network loss {_fmt(s['network_loss'])} (content {_fmt(s['network_content'])}, style "
        f"{_fmt(s['network_style'])}), median loss after {steps} iterations {_fmt(s['final_optimisation_loss'])}",
        f"- median blown-out share {s['blown_out']:.2%} (L-BFGS at the end: {s['optimisation_blown_out']:.2%}), "
        f"crushed share {s['crushed']:.2%}",
        f"- median time: network {_fmt(s['network_seconds'], '.4f')} s, L-BFGS to match "
        f"{_fmt(s['optimisation_seconds_to_match'], '.3f')} s, L-BFGS all {steps} iterations "
        f"{_fmt(s['optimisation_seconds'], '.3f')} s",
        f"- median speed-up of the network over L-BFGS to match (images matched after 1+ iterations): "
        f"{'n/a' if s['speedup_at_match'] is None else format(s['speedup_at_match'], '.0f') + 'x'}",
        distance_line(s, report.get("style_distance")),
        f"- halo probe: {s['halo']:.1f} levels (a dark tower on flat skies: how much more the sky beside it changes "
        "than the sky far from it; 0: no halo)",
        "",
        "| image | size | network loss | content | style | blown out | crushed | iterations to match | network s "
        "| L-BFGS s to match | final L-BFGS loss | style distance: photo, network, L-BFGS |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report["images"]:
        distances = " / ".join(f"{r['style_distance'][w]:.2f}" for w in DISTANCES) if "style_distance" in r else "-"
        lines.append(f"| {r['image']} | {r['width']}x{r['height']} | {r['network_loss']:.4g} | "
                     f"{r['network_content']:.4g} | {r['network_style']:.4g} | {r['blown_out']:.2%} | "
                     f"{r['crushed']:.2%} | {_fmt(r['lbfgs_iterations_to_match'], 'g')} | "
                     f"{r['network_seconds']:.4f} | {_fmt(r['optimisation_seconds_to_match'], '.3f')} | "
                     f"{r['optimisation_losses'][-1]:.4g} | {distances} |")
    if report["skipped"]:
        lines += ["", "Skipped (unreadable or too small): " + ", ".join(report["skipped"])]
    lines += ["", "Blown out: luminance >= 0.95 in the output but not in the photo; crushed: <= 0.05 in the output "
              "but not in the photo.", "",
              "`contact_sheet.png`: every photo (left) beside the network's output and L-BFGS's at the end. "
              "Side-by-side images (content | network | L-BFGS at the matching iteration | L-BFGS at the end) "
              "are in `side_by_side/`."]
    return "\n".join(lines) + "\n"


def validate(model: str | Path, inputs: str | Path, output: str | Path, image_size: int | None = 256,
             steps: int = 200,
             lr: float | None = None, device: torch.device | str = "cpu", assets_dir: str | Path | None = None,
             style_image: str | None = None, style: str | None = None,
             max_pixels: int | None = DEFAULT_MAX_PIXELS, style_distance: object = "auto",
             paintings: Any = None, style_size: int | None = None) -> dict[str, Any]:
    """Compare the network in ``model`` with L-BFGS on every photo in ``inputs``; write the report to
    ``output`` (report.json and report.md, rewritten after each photo, side_by_side/*.png and
    contact_sheet.png). ``image_size``: the long side photos are shrunk to; None keeps their own size.

    A multi-style model is validated style by style (or only ``style``), each on its own loss, into
    ``output/<style>/``, with ``report.json`` and ``report.md`` in ``output`` comparing the styles' medians.

    An arbitrary-style model is validated painting by painting (``paintings``: a folder or a list of files, or
    the one painting ``style``), each folded in at long side ``style_size`` (default: as trained), the same way.

    ``style_distance``: auto, true or false: measure each image's distance to the painting with the independent
    judge (:mod:`fast_style.evaluate.style_distance`); auto does where it is installed."""
    whole("image_size", image_size, 16, optional=True,
          hint="VGG pools the image 3 times or more; null evaluates each photo at its own size")
    check_settings("lbfgs", "content", steps, (1.0,), lr)
    output = check_output("output", output, folder=True, inputs=[inputs, model, style_image])
    device = torch.device(device)
    transformer, card = load_model(model)
    if not Path(inputs).exists():
        raise FastStyleError(f"input={inputs}: not found; give a folder of photos or one photo")
    files = require_images("input", inputs)
    root = Path(inputs) if Path(inputs).is_dir() else Path(inputs).parent
    whole("max_pixels", max_pixels, 1, optional=True, hint="null turns the decompression-bomb check off")
    judge, no_judge = judge_for(style_distance)
    settings = {"image_size": image_size, "steps": steps, "lr": lr, "device": device, "assets_dir": assets_dir,
                "style_image": style_image, "max_pixels": max_pixels, "judge": judge, "no_judge": no_judge}
    names = card.names
    if card.arbitrary:
        return validate_paintings(transformer, card, str(model), painting_files("paintings", paintings or (
            [style] if isinstance(style, str) else None)), style_size, files, root, output, settings)
    if paintings is not None:
        raise FastStyleError(f"paintings={paintings}: {model} is {card.kind()} network, which holds its styles; "
                             "leave paintings out (it is for arbitrary-style networks)")
    if len(names) == 1:
        card.select(style, str(model))  # refuses style= for a single-style model
        return validate_network(transformer, card, str(model), files, root, output, **settings)
    if style is not None and (not isinstance(style, str) or style not in names):
        raise FastStyleError(f"style={style}: give the name of one style to validate (a blend has no loss of its "
                             f"own); {model} holds {', '.join(names)}")
    if style_image:
        raise FastStyleError(f"style_image={style_image}: {model} holds several styles ({', '.join(names)}); "
                             "put their paintings in <assets>/styles/ instead")
    report: dict[str, Any] = {"model": str(model), "image_size": image_size, "steps": steps, "device": str(device),
                              "styles": {}}
    for name in names if style is None else [style]:
        weights, chosen = card.select(name, str(model))
        single = validate_network(transformer.fold(weights), chosen, str(model), files, root,
                                  inside(output, safe_name(name)), **settings)
        report["styles"][name] = single["summary"]
        report["skipped"] = single["skipped"]  # the same photos for every style
        _write_reports(output, report, styles_markdown(report))
    return report


def validate_paintings(net: ArbitraryStyleNet, card: ModelCard, model: str, paintings: Sequence[Path],
                       style_size: int | None, files: Sequence[Path], root: Path, output: Path,
                       settings: dict[str, Any]) -> dict[str, Any]:
    """An arbitrary-style network painting by painting: each folded in (zero-shot) and validated on the
    network's loss against that painting, into ``output/<painting>/``, with the table of paintings in ``output``."""
    report: dict[str, Any] = {"model": model, "image_size": settings["image_size"], "steps": settings["steps"],
                              "device": str(settings["device"]), "styles": {}}
    encoder = PaintingEncoder.of(net, card, settings["assets_dir"], torch.device("cpu"))
    for path in paintings:
        folded, chosen, milliseconds = fold_paintings(net, card, str(path), "paintings", style_size,
                                                      settings["max_pixels"], settings["assets_dir"], encoder)
        single = validate_network(folded, chosen, model, files, root, inside(output, safe_name(path.stem)),
                                  **{**settings, "style_image": str(path)})
        report["styles"][path.stem] = {**single["summary"], "prediction_ms": milliseconds}
        report["skipped"] = single["skipped"]
        _write_reports(output, report, styles_markdown(report))
    return report


def styles_markdown(report: Mapping[str, Any]) -> str:
    """The medians of every style of a multi-style model, one row each."""
    lines = [f"# Validation of `{report['model']}`, style by style", "",
             f"Each style on its own loss, L-BFGS for {report['steps']} iterations on {report['device']}; "
             "details in `<style>/report.md`.", "",
             "| style | images | network loss | content | style | L-BFGS iterations to match | blown out | halo "
             "| style distance: photo, network, L-BFGS |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, s in report["styles"].items():
        distances = " / ".join(f"{s[f'style_distance_{w}']:.2f}" for w in DISTANCES) \
            if "style_distance_network" in s else "-"
        lines.append(f"| {name} | {s['images']} | {_fmt(s['network_loss'])} | {_fmt(s['network_content'])} | "
                     f"{_fmt(s['network_style'])} | {_fmt(s['lbfgs_iterations_to_match'], 'g')} | "
                     f"{s['blown_out']:.2%} | {s['halo']:.1f} | {distances} |")
    return "\n".join(lines) + "\n"


def _write_reports(output: Path, report: Mapping[str, Any], markdown: str) -> None:
    """report.json and report.md, each rewritten atomically: the old one or the new one, never half of one."""
    for report_file, text in (("report.json", json.dumps(report, indent=2)), ("report.md", markdown)):
        with atomic_write(output / report_file) as tmp:
            tmp.write_text(text)


def validate_network(transformer: nn.Module, card: ModelCard, model: str, files: Sequence[Path], root: Path,
                     output: Path, image_size: int | None, steps: int, lr: float | None, device: torch.device,
                     assets_dir: str | Path | None, style_image: str | None, max_pixels: int | None,
                     judge: StyleJudge | None = None, no_judge: str = "style_distance=false") -> dict[str, Any]:
    """:func:`validate` for one single-style network with its card; photos that cannot be read (as ``infer.py``
    reads them) are named on stderr and listed as skipped. With a ``judge``, each photo, the network's output
    and L-BFGS's result get their style distance to the painting."""
    criterion = loss_for_model(card, assets_dir, style_image).to(device)
    painting = judge.embed(load_image(find_style_image(card.style, assets_dir, style_image))) if judge else None
    transformer.to(device)
    output.mkdir(parents=True, exist_ok=True)
    style = {k: v for k, v in asdict(card.style).items() if k not in ("loss", "weights")}
    report: dict[str, Any] = {"model": model, "style": style, "loss": card.style.loss,
                              "image_size": image_size, "steps": steps, "device": str(device),
                              "style_distance": no_judge if judge is None else "",
                              "halo": halo_levels(transformer, device), "summary": {}, "images": [], "skipped": []}
    sheet_rows: list[list[torch.Tensor]] = []
    for path in files:
        name = path.relative_to(root).as_posix()
        try:
            photo = read_checked(path, image_size, max_pixels)[None].float().div(255).to(device)
            criterion.check_side(str(path), *photo.shape[-2:])
        except (UnreadablePhoto, FastStyleError) as err:
            print(f"skipped {path}: {err}", file=sys.stderr)
            report["skipped"].append(name)
            continue
        if not report["images"]:
            _warm_up(transformer, criterion, photo)
        record, panels, labels = compare(transformer, criterion, photo, steps, lr)
        record = {"image": name, **record,
                  "side_by_side": f"side_by_side/{Path(name).with_suffix('.png').as_posix()}"}
        if judge is not None:
            record["style_distance"] = {what: judge.distance(panels[i], painting)
                                        for what, i in zip(DISTANCES, (0, 1, 3))}
        save_image(contact_sheet([panels], height=photo.shape[-2], labels=labels), output / record["side_by_side"])
        sheet_rows.append([fit_height(panels[i], SHEET_HEIGHT).cpu() for i in (0, 1, 3)])
        save_image(contact_sheet(sheet_rows, SHEET_HEIGHT, ["photo", "network", f"L-BFGS it {steps}"]),
                   output / "contact_sheet.png")
        report["images"].append(record)
        report["summary"] = {**summarize(report["images"]), "halo": report["halo"]}
        _write_reports(output, report, report_markdown(report))
        log.info("%s: network loss %.4g in %.4f s; L-BFGS matched at iteration %s; loss after %d: %.4g (%.2f s)",
                 name, record["network_loss"], record["network_seconds"], record["lbfgs_iterations_to_match"], steps,
                 record["optimisation_losses"][-1], record["optimisation_seconds"])
    if not report["images"]:
        raise FastStyleError(f"input: none of the {len(files)} images could be read")
    _write_reports(output, report, report_markdown(report))  # with the photos skipped after the last one read
    return report
