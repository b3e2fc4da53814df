"""Classic style transfer by pixel optimisation: ``python scripts/optimize.py content=photo.jpg style=starry_night``.

Uses the loss core of training (configs/loss, configs/style), L-BFGS or Adam, optionally coarse to fine.
The loss curve goes to TensorBoard in the run directory (``tensorboard --logdir outputs/optimize``).
"""

from __future__ import annotations

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from PIL import Image
from torch.utils.tensorboard import SummaryWriter

from fast_style.config import CONFIG_DIR, command, run_or_exit  # also registers the ${stem:} resolver
from fast_style.errors import FastStyleError
from fast_style.evaluate.style_distance import judge_for
from fast_style.io.images import load_image, read_tensor, save_image
from fast_style.io.outputs import check_output
from fast_style.losses.perceptual import build_loss
from fast_style.optimization import Iterate, check_settings, optimize
from fast_style.runtime import choose_device
from fast_style.settings import whole
from fast_style.styles import load_style, style_path


def run(cfg: DictConfig) -> Path:
    """Check the settings, optimise, write the image; return its path."""
    if not cfg.content:
        raise FastStyleError("content=PATH is required: the photo to stylise")
    output = check_output("output", cfg.output, folder=False, inputs=[cfg.content, style_path(cfg.style, cfg.assets_dir)])
    if output.suffix.lower() not in Image.registered_extensions():
        raise FastStyleError(f"output={output}: unknown image extension {output.suffix!r}; use .png, .jpg or .webp")
    scales = list(cfg.scales)
    check_settings(cfg.optim.method, cfg.optim.init, cfg.optim.steps, scales, cfg.optim.lr)
    judge, _ = judge_for(cfg.style_distance)
    image_size = whole("image_size", cfg.image_size, 1, hint="the long side in px, e.g. 512")
    log_every = whole("log_every", cfg.log_every, 1)
    seed = whole("seed", cfg.seed)
    device = choose_device(str(cfg.device))
    try:
        content = read_tensor(cfg.content, max_size=image_size).unsqueeze(0).to(device)
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise FastStyleError(f"content={cfg.content}: cannot read the image ({err})") from err

    style_image, style_info = load_style(cfg.style, cfg.assets_dir)
    criterion, vgg_info = build_loss([cfg.loss], [style_image], [style_info["name"]], cfg.assets_dir)
    height, width = content.shape[-2:]
    coarsest = [max(1, round(side * scales[0])) for side in (height, width)]
    criterion.check_side(f"content={cfg.content} at image_size={image_size}, scale {scales[0]:g}", *coarsest,
                         hint="give a larger photo, a larger image_size or a larger first scale")
    criterion.to(device)
    print(f"style: {style_info['name']} ({style_info['file']}, sha256 {style_info['sha256'][:12]})")
    print(f"VGG weights: {vgg_info['arch']} from {vgg_info['source']} (sha256 {vgg_info['sha256'][:12]})")
    total = cfg.optim.steps * len(scales)
    print(f"{cfg.optim.method}: {total} iterations on {tuple(content.shape[-2:])} px "
          f"({cfg.optim.init} init, scales {scales}) on {device}")

    writer = SummaryWriter(str(Path(HydraConfig.get().runtime.output_dir) / "tensorboard"))

    def progress(it: Iterate) -> None:
        for name, value in it.terms.items():
            writer.add_scalar(f"loss/{name}", value, it.index)
        if it.index % log_every == 0 or it.index == total:
            terms = ", ".join(f"{k} {v:.4g}" for k, v in it.terms.items() if k != "total")
            print(f"[{it.index:>{len(str(total))}}/{total}] loss {it.terms['total']:.4g} ({terms}) "
                  f"scale {it.scale:g}, {it.seconds:.1f} s", flush=True)

    try:
        result = optimize(criterion, content, cfg.optim.steps, cfg.optim.method, cfg.optim.lr, cfg.optim.init,
                          scales, seed, callback=progress)
        writer.add_image("result", result.image[0].cpu(), total)
    finally:
        writer.close()
    save_image(result.image[0], output)
    if judge is not None:
        painting = judge.embed(load_image(style_path(cfg.style, cfg.assets_dir)))
        print(f"style distance to the painting (independent judge, lower is closer): photo "
              f"{judge.distance(content[0], painting):.2f}, result {judge.distance(result.image[0], painting):.2f}")
    at_scale = f" at scale {scales[0]:g}" if len(scales) > 1 else ""
    print(f"loss: start {result.losses[0]:.4g}{at_scale}, end {result.losses[-1]:.4g} "
          f"({total} iterations, {result.total_seconds:.1f} s)")
    return output


@command(CONFIG_DIR, "optimize")
def main(cfg: DictConfig) -> None:
    path = run_or_exit(run, cfg)
    print(f"wrote: {path}")


if __name__ == "__main__":
    main()
