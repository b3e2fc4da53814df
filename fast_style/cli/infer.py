"""Stylise a folder of photos and videos in one pass: ``python scripts/infer.py model=PATH input=DIR output=OUT``
(or one video: ``input=film.mp4 output=film_starry.mp4``).

Writes one stylised file per decodable image or video (same relative path and name), prints one line per
file it had to skip and finally ``stylized N, skipped M`` (photos) and ``stylized N videos (F frames, X
frames/s)``; exits 0 only when nothing was skipped (1 otherwise, 2 on a bad setting or model file).
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from fast_style.config import MODEL_SCRIPTS_DIR, command, exit_now, run_or_exit
from fast_style.inference.stylizer import Stylizer
from fast_style.io.films import plan_videos, stylize_videos
from fast_style.io.folders import plan_jobs, stylize_folder
from fast_style.io.video_files import VideoSettings, is_video
from fast_style.runtime import reuse_freed_memory


def infer(cfg: DictConfig) -> int:
    """Run the whole folder; return the exit status."""
    videos, videos_kept = plan_videos(cfg.input, cfg.output, cfg.overwrite)
    video_settings = VideoSettings(**cfg.video)
    for suffix in {job.target.suffix.lower() for job in videos}:
        video_settings.check(suffix)
    source, jobs, existing = Path(str(cfg.input)).expanduser(), [], 0
    if not (source.is_file() and is_video(source)):  # a folder may hold photos beside its films
        jobs, existing = plan_jobs(cfg.input, cfg.output, cfg.format, cfg.overwrite, required=not (videos or videos_kept))
    reuse_freed_memory()  # before the first forward pass: activations reuse freed buffers instead of faulting in
    stylizer = Stylizer.from_file(cfg.model, cfg.style, str(cfg.device), str(cfg.precision), tile=cfg.tile,
                                  overlap=cfg.tile_overlap, strength=cfg.strength, preserve_color=cfg.preserve_color,
                                  painting={"style_size": cfg.style_size, "max_pixels": cfg.max_pixels,
                                            "assets_dir": cfg.assets_dir}, contrast_floor=cfg.contrast_floor)
    print(f"model: {cfg.model} ({stylizer.kind}, {stylizer.card.style.name}); device: {stylizer.device}, "
          f"{str(stylizer.precision).removeprefix('torch.')}")
    if existing + videos_kept:
        print(f"{existing + videos_kept} output(s) already exist and are kept (overwrite=true redoes them)")
    skipped = 0
    if videos:
        films = stylize_videos(stylizer, videos, video_settings, batch_size=cfg.batch_size, max_size=cfg.max_size,
                               progress=cfg.progress)
        print(f"stylized {films.videos} videos ({films.frames} frames, {films.frames / films.seconds:.3g} frames/s"
              f"{f'; skipped {films.skipped}' if films.skipped else ''})")
        skipped += films.skipped
    if not jobs and not existing:
        return 0 if skipped == 0 else 1
    summary = stylize_folder(stylizer, jobs, batch_size=cfg.batch_size, num_workers=cfg.num_workers,
                             max_size=cfg.max_size, max_pixels=cfg.max_pixels, quality=cfg.quality,
                             progress=cfg.progress)
    if summary.stylized:
        print(f"throughput: {summary.stylized / summary.seconds:.3g} images/s "
              f"({summary.stylized} images in {summary.seconds:.1f} s, decoding and writing included)")
    print(f"stylized {summary.stylized}, skipped {summary.skipped}")
    return 0 if summary.skipped + skipped == 0 else 1


@command(MODEL_SCRIPTS_DIR, "infer")
def main(cfg: DictConfig) -> None:
    if cfg.model == "list":  # infer.py model=list: the zoo's networks
        from fast_style.zoo import listing

        print(listing())
        exit_now(0)
    exit_now(run_or_exit(infer, cfg))


if __name__ == "__main__":
    main()
