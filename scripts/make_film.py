"""A stand-in film from a real photo, for measuring flicker and video speed where no film is at hand:
``python scripts/make_film.py photo=<photo.jpg> output=film.mp4 [width=640 height=360 frames=72]``.

A slow pan and zoom across the photo with sensor noise, H.264 at x264's default quality (see
scripts/bench/still_film.py for what it lacks compared with real footage).
"""

from __future__ import annotations

from omegaconf import DictConfig

from bench.measure import CONFIGS
from bench.still_film import write_still_film
from fast_style.config import command, run_or_exit
from fast_style.errors import FastStyleError
from fast_style.io.outputs import check_output
from fast_style.io.video_files import is_video
from fast_style.settings import real, whole


def make(cfg: DictConfig) -> None:
    check_output("output", cfg.output, folder=False, inputs=[cfg.photo])
    if not is_video(cfg.output):
        raise FastStyleError(f"output={cfg.output}: give a video file name (.mp4, .mov, .mkv)")
    path = write_still_film(cfg.photo, cfg.output, width=whole("width", cfg.width, 16), height=whole("height", cfg.height, 16),
                            frames=whole("frames", cfg.frames, 2), rate=whole("rate", cfg.rate, 1),
                            noise=real("noise", cfg.noise, low=0), crf=whole("crf", cfg.crf, 0, 51))
    print(f"wrote: {path}")


@command(CONFIGS, "make_film")
def main(cfg: DictConfig) -> None:
    run_or_exit(make, cfg)


if __name__ == "__main__":
    main()
