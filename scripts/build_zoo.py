"""Train, validate and ship networks in one command: each style trained with an experiment, validated on the
photos the experiment holds back, put in the zoo, then the gallery rebuilt from the zoo.

    python scripts/build_zoo.py --experiment gpu_full                    # all five bundled styles
    python scripts/build_zoo.py --experiment zoo                         # the zoo as shipped: one recipe per style
    python scripts/build_zoo.py --experiment cpu_hour --styles candy     # one style, the CPU recipe
    python scripts/build_zoo.py --experiment gpu_full -- trainer.max_steps=4000   # train.py overrides after --

An experiment is one recipe for every style (``experiment=gpu_full style=<style>``) or a folder of recipes, one
per style (``configs/experiment/zoo/<style>.yaml``: ``experiment=zoo/<style>``). A style whose recipe starts from
another style's network (``init=candy``) is built after it, from the network just built: the steps see the zoo
being built as ``FAST_STYLE_ZOO``.

Every step is the command a user would type (train.py, validate.py, export.py format=zoo, gallery.py), so a
failed step names its command; a rerun continues each unfinished training run from its last checkpoint.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from fast_style.config import compose_config, group_options
from fast_style.zoo import zoo_dir

SCRIPTS = Path(__file__).resolve().parent
STYLES = ["starry_night", "candy", "mosaic", "rain_princess", "udnie"]


def step(script: str, *overrides: str) -> None:
    """Run ``scripts/<script>`` with ``overrides``; stop the whole build with its status if it fails."""
    command = [sys.executable, str(SCRIPTS / script), *overrides]
    print("+", " ".join(command[1:]), flush=True)
    if (status := subprocess.run(command).returncode) != 0:
        print(f"error: {script} failed (exit status {status}); fix it and rerun: finished runs are kept",
              file=sys.stderr)
        sys.exit(status)


def recipes(experiment: str, styles: list[str], overrides: list[str]) -> dict[str, list[str]]:
    """Each style's train.py overrides, in build order: a style after the style its recipe starts from."""
    per_style = set(group_options(f"experiment/{experiment}"))
    chosen = {style: [f"experiment={experiment}/{style}"] if style in per_style else
              [f"experiment={experiment}", f"style={style}"] for style in styles}
    start = {style: compose_config("train", [*chosen[style], *overrides]).init for style in styles}
    order: list[str] = []

    def visit(style: str, path: tuple[str, ...] = ()) -> None:
        if style in path:
            print(f"error: experiment={experiment}: the recipes of {' and '.join(path)} start from each other "
                  "(init=); break the cycle in configs/experiment", file=sys.stderr)
            sys.exit(2)
        if style not in order:
            if start[style] in styles and start[style] != style:   # init=<itself>: from the zoo's network as it is
                visit(start[style], (*path, style))
            order.append(style)

    for style in styles:
        visit(style)
    return {style: [*chosen[style], *overrides] for style in order}


def held_back_photos(cfg, folder: Path) -> Path:
    """A folder of links to the photos the experiment never trains on (``data.exclude``)."""
    found = {path.name: path for path in Path(cfg.data.root).rglob("*") if path.name in set(cfg.data.exclude)}
    missing = sorted(set(cfg.data.exclude) - set(found))
    if not found or missing:
        print(f"error: data.exclude: {', '.join(missing) or 'no photos'} not found under {cfg.data.root}; set "
              "FAST_STYLE_ASSETS to the asset folder", file=sys.stderr)
        sys.exit(2)
    for name, path in found.items():
        (folder / name).symlink_to(path.resolve())
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", required=True, help="a configs/experiment recipe, e.g. gpu_full")
    parser.add_argument("--styles", nargs="+", default=STYLES, choices=STYLES, metavar="STYLE")
    parser.add_argument("--runs", type=Path, default=Path("outputs/zoo"), help="where the training runs go")
    parser.add_argument("--zoo", type=Path, default=None, help="the zoo folder (default: the package's)")
    parser.add_argument("--gallery", type=Path, default=Path("docs/images/gallery.jpg"))
    parser.add_argument("--validate-size", type=int, default=256, help="validate.py's image_size")
    parser.add_argument("--validate-steps", type=int, default=200, help="validate.py's optim.steps")
    parser.add_argument("--gallery-size", type=int, default=512, help="gallery.py's max_size")
    parser.add_argument("overrides", nargs="*", help="train.py overrides (after --)")
    args = parser.parse_args()
    zoo = args.zoo or zoo_dir()
    os.environ["FAST_STYLE_ZOO"] = str(zoo)   # the steps resolve zoo names (init=candy) in the zoo being built
    builds = recipes(args.experiment, args.styles, args.overrides)
    cfg = compose_config("train", next(iter(builds.values())))
    with tempfile.TemporaryDirectory() as tmp:
        photos = held_back_photos(cfg, Path(tmp))
        for style, overrides in builds.items():
            run = args.runs / args.experiment / style
            resume = [f"resume={run / 'checkpoints' / 'last.ckpt'}"] if (run / "checkpoints" / "last.ckpt").is_file() \
                and not (run / "export" / f"{style}.pt").is_file() else []
            if not (run / "export" / f"{style}.pt").is_file():
                step("train.py", *overrides, f"hydra.run.dir={run}", *resume)
            step("validate.py", f"model={run / 'export' / f'{style}.pt'}", f"input={photos}",
                 f"output={run / 'validation'}", f"image_size={args.validate_size}",
                 f"optim.steps={args.validate_steps}")
            step("export.py", "format=zoo", f"model={run / 'export' / f'{style}.pt'}",
                 f"validation={run / 'validation' / 'report.json'}", f"output={zoo}", f"name={style}", "overwrite=true")
        models = ",".join(str(zoo / f"{style}.pt") for style in args.styles)
        step("gallery.py", f"models=[{models}]", f"input={photos}", f"output={args.gallery}",
             f"max_size={args.gallery_size}", "tile_height=256", "tile_width=384")


if __name__ == "__main__":
    main()
