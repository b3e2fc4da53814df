"""Films through the photo network: every frame of a video stylised by the same :class:`~fast_style.io.folders.Stylise` as photos.

Decoding runs on one thread and encoding on another while the network works on the batch between them; the
queues between the three hold a few batches, so memory stays flat whatever the film's length. The result is
written under a temporary name beside the output and renamed only when the whole film went through: a
video that turns out truncated or corrupt halfway is reported as skipped and leaves nothing behind.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import av
import numpy as np
import torch
from tqdm import tqdm

from fast_style.io.atomic import atomic_write
from fast_style.errors import FastStyleError
from fast_style.io.folders import Job, Stylise, pair_jobs
from fast_style.io.images import find_images, resize
from fast_style.settings import flag, whole
from fast_style.io.video_files import (VIDEO_EXTENSIONS, UnreadableVideo, VideoInfo, VideoSettings, VideoWriter, is_video,
                                 probe, read_frames)

T = TypeVar("T")


@dataclass
class VideoSummary:
    videos: int = 0
    frames: int = 0
    skipped: int = 0
    seconds: float = 0.0


def plan_videos(input: str | Path, output: str | Path, overwrite: bool = False) -> tuple[list[Job], int]:
    """Pair every video under ``input`` (or ``input`` itself) with its output, as photos are paired
    (:func:`~fast_style.io.folders.pair_jobs`); returns (jobs to run, outputs already there). One video goes to
    ``output`` if that names a video file, else into the folder ``output`` under its own name."""
    overwrite = flag("overwrite", overwrite)
    root = Path(str(input)).expanduser()
    if root.is_file():
        sources = [root] if is_video(root) else []
    else:
        sources = find_images(root, VIDEO_EXTENSIONS) if root.is_dir() else []
    if not sources:
        return [], 0
    return pair_jobs(root, output, sources, VIDEO_EXTENSIONS, overwrite)


def output_size(info: VideoInfo, max_size: int | None) -> tuple[int, int]:
    """(height, width) of the stylised film: long side capped at ``max_size``, both sides even (4:2:0
    chroma subsampling needs them even; an odd side loses one row or column of pixels)."""
    height, width = info.height, info.width
    if max_size is not None and max(height, width) > max_size:
        scale = max_size / max(height, width)
        height, width = max(2, round(height * scale)), max(2, round(width * scale))
    return height - height % 2, width - width % 2


def prefetch(items: Iterator[T], depth: int) -> Iterator[T]:
    """Iterate ``items`` on a background thread, at most ``depth`` items ahead; its errors are raised here.
    Closing this iterator early stops the thread."""
    buffer: queue.Queue = queue.Queue(depth)
    stop, done = threading.Event(), object()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, which raises it
            put(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        while (item := buffer.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def batches(frames: Iterable[tuple[float, torch.Tensor]], size: int) -> Iterator[tuple[list[float], torch.Tensor]]:
    """Consecutive frames in groups of ``size``: (their times, ``uint8 [B, 3, H, W]``)."""
    times, images = [], []
    for seconds, image in frames:
        times.append(seconds)
        images.append(image)
        if len(times) == size:
            yield times, torch.stack(images)
            times, images = [], []
    if times:
        yield times, torch.stack(images)


def as_rgb24(stylized: torch.Tensor) -> np.ndarray:
    """Stylised frames (float ``[B, 3, H, W]`` in [0, 1]) as the ``uint8 [B, H, W, 3]`` that is encoded."""
    return stylized.mul(255).round_().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _write(writer: VideoWriter, times: list[float], stylized: torch.Tensor, target: Path) -> None:
    try:
        for seconds, image in zip(times, as_rgb24(stylized)):
            writer.write(seconds, np.ascontiguousarray(image))
    except av.error.FFmpegError as err:  # the encoder opens at the first frame: refused options show here
        raise FastStyleError(f"cannot encode {target}: {err}; check the video.* settings") from err


def stylized_batches(stylizer: Stylise, source: Path, info: VideoInfo, size: tuple[int, int], batch_size: int
                     ) -> Iterator[tuple[list[float], torch.Tensor, torch.Tensor]]:
    """The film decoded on a background thread and stylised batch by batch: (frame times, frames as
    ``uint8 [B, 3, H, W]`` at ``size``, stylised frames as float in [0, 1])."""
    def sized(frames: Iterator[tuple[float, torch.Tensor]]) -> Iterator[tuple[float, torch.Tensor]]:
        for seconds, image in frames:  # frame by frame: a film may change size midway
            if image.shape[-2:] != size:
                image = resize(image, size)
            yield seconds, image

    for times, images in batches(prefetch(sized(read_frames(source, info)), 2 * batch_size), batch_size):
        yield times, images, stylizer(images.float().div_(255))


def stylize_video(stylizer: Stylise, job: Job, settings: VideoSettings, batch_size: int = 8,
                  max_size: int | None = None, bar: tqdm | None = None, info: VideoInfo | None = None) -> int:
    """Stylise ``job.source`` (whose header is ``info``, read here if not given) into ``job.target``
    (atomically); returns the frame count. Raises :class:`UnreadableVideo` (nothing written) when the source
    cannot be decoded to its end."""
    info = info or probe(job.source)
    height, width = output_size(info, max_size)
    frames = 0
    with atomic_write(job.target) as tmp:
        try:
            writer = VideoWriter(tmp, job.target.suffix, info, width, height, settings, audio_from=job.source)
        except (OSError, ValueError) as err:
            raise FastStyleError(f"cannot encode {job.target}: {err}; check the video.* settings") from err
        try:
            with ThreadPoolExecutor(max_workers=1) as encoder:
                pending: deque[Future[None]] = deque()
                for times, _, stylized in stylized_batches(stylizer, job.source, info, (height, width), batch_size):
                    pending.append(encoder.submit(_write, writer, times, stylized, job.target))
                    while len(pending) > 2:
                        pending.popleft().result()
                    frames += len(times)
                    if bar is not None:
                        bar.update(len(times))
                while pending:
                    pending.popleft().result()
            try:
                writer.close()
            except (av.error.FFmpegError, OSError) as err:  # e.g. the disk filled up while the file was finished
                raise FastStyleError(f"cannot finish {job.target}: {err}; check the space left and the video.* "
                                     "settings") from err
        except BaseException:
            writer.abort()
            raise
    return frames


def stylize_videos(stylizer: Stylise, jobs: list[Job], settings: VideoSettings, batch_size: int = 8,
                   max_size: int | None = None, progress: bool = True) -> VideoSummary:
    """Stylise every video job; an unreadable one gets a line on stderr, is counted and the run goes on."""
    whole("batch_size", batch_size, 1)
    whole("max_size", max_size, 8, optional=True, hint="null keeps sizes, else the long side in px")
    summary, start = VideoSummary(), time.perf_counter()
    infos: list[VideoInfo | None] = []
    for job in jobs:
        try:
            infos.append(probe(job.source))
        except UnreadableVideo:
            infos.append(None)  # reported below, where stylize_video probes it again
    with tqdm(total=sum(info.frames for info in infos if info) or None, unit="frame",
              disable=not flag("progress", progress), dynamic_ncols=True) as bar:
        for job, info in zip(jobs, infos):
            try:
                summary.frames += stylize_video(stylizer, job, settings, batch_size, max_size, bar, info)
                summary.videos += 1
            except (UnreadableVideo, FastStyleError) as err:  # this film only: the folder's others go on
                bar.write(f"skipped {job.source}: {err}", file=sys.stderr)
                summary.skipped += 1
    summary.seconds = time.perf_counter() - start
    return summary
