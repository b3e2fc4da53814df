"""A folder of photos in, the same folder layout stylised out.

Decoding happens on DataLoader workers so the network never waits on the disk; images of equal size
travel in one batch; encoding and writing run on background threads while the next batch is stylised.
A file that cannot be decoded is reported and skipped, and the run goes on.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Protocol

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from fast_style.io.atomic import remove_leftovers
from fast_style.errors import FastStyleError
from fast_style.io.images import (DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, UnreadablePhoto, find_images, pixel_limit,
                                  read_checked, save_image, tensor_to_pil)
from fast_style.io.outputs import check_output
from fast_style.settings import flag, whole

FORMATS = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "webp": ".webp"}


class Stylise(Protocol):
    """What turns batches of photos (``[B, 3, H, W]`` in [0, 1], on the CPU) into stylised ones:
    :class:`fast_style.inference.stylizer.Stylizer`, or anything that runs on ``device`` the same way."""

    device: torch.device

    def __call__(self, batch: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class Job:
    """One photo to stylise and the file its result goes to."""

    source: Path
    target: Path


@dataclass
class Summary:
    stylized: int = 0
    skipped: int = 0
    seconds: float = 0.0


def plan_jobs(input: str | Path, output: str | Path, format: str | None = None, overwrite: bool = False,
              required: bool = True) -> tuple[list[Job], int]:
    """Pair every image under ``input`` with its output path; returns (jobs to run, outputs already there).

    The output mirrors the input's relative paths and names (suffix from ``format`` if given); see
    :func:`pair_jobs` for what is refused before anything is written. ``required``: an input without
    images is an error (else nothing to do, as for a folder of films)."""
    overwrite = flag("overwrite", overwrite)
    root = Path(str(input)).expanduser()
    suffix = None
    if format is not None:
        if str(format).lower() not in FORMATS:
            raise FastStyleError(f"format={format}: use png, jpg or webp, or leave it unset to keep each input's format")
        suffix = FORMATS[str(format).lower()]
    if not root.exists():
        raise FastStyleError(f"input={root}: not found; give a folder of images or one image file")
    todo, existing = pair_jobs(root, output, find_images(root), IMAGE_EXTENSIONS, overwrite, suffix)
    if required and not todo and not existing:
        raise FastStyleError(f"input={root} holds no images ({', '.join(IMAGE_EXTENSIONS)}, searched recursively)")
    return todo, existing


def pair_jobs(root: Path, output: str | Path, sources: Sequence[Path], extensions: tuple[str, ...],
              overwrite: bool, suffix: str | None = None) -> tuple[list[Job], int]:
    """Pair ``sources`` (found under the folder ``root``, or ``[root]`` for one file) with their outputs;
    returns (jobs to run, outputs already there). A folder ``output`` mirrors relative paths and names
    (``suffix`` replacing theirs) and is not read as input where it lies inside ``root``; one file goes to
    ``output`` if that names a file with one of ``extensions``, else into the folder ``output``. Refused
    before anything is written: an output that would replace an input, two inputs that would write the same
    output, and an output that is a file where a folder is needed (or lies where nothing can be written)."""
    out_root = Path(str(output)).expanduser()
    one_named_file = not root.is_dir() and out_root.suffix.lower() in extensions and not out_root.is_dir()
    check_output("output", output, folder=not one_named_file)
    if root.is_dir():
        out_resolved = out_root.resolve()
        if out_resolved != root.resolve():  # the same folder is refused below, file by file
            sources = [s for s in sources if not s.resolve().is_relative_to(out_resolved)]
        targets = [out_root / s.relative_to(root) for s in sources]
    elif one_named_file:  # one file in, one named file out (an existing folder gets it under its own name)
        targets = [out_root]
    else:
        targets = [out_root / root.name]
    jobs = [Job(s, t.with_suffix(suffix) if suffix and t != out_root else t) for s, t in zip(sources, targets)]
    inputs = {s.resolve() for s in sources}
    seen: dict[Path, Path] = {}
    for job in jobs:
        target = job.target.resolve()
        if target in inputs:
            raise FastStyleError(f"output={out_root} would overwrite the input {job.source}; choose another output folder")
        if target in seen:
            raise FastStyleError(f"{seen[target]} and {job.source} would both be written to {job.target}; "
                                 "set format= to keep formats apart or rename one of them")
        seen[target] = job.source
    remove_leftovers(job.target for job in jobs)  # hidden half-written files of a killed run
    todo = [job for job in jobs if overwrite or not job.target.exists()]
    return todo, len(jobs) - len(todo)


Item = tuple[int, torch.Tensor | None, str | None]


class PhotoFiles(Dataset):
    """Decodes ``files[i]`` to uint8 ``[3, H, W]`` (long side capped at ``max_size``) on a worker and
    returns ``(i, tensor, None)``, or ``(i, None, reason)`` when the file cannot be decoded. Bytes, not
    floats, wait in the loader's queue: a 24-megapixel photo takes 72 MB there instead of 288 MB.
    ``fast_jpeg``: see :func:`read_photo`."""

    def __init__(self, files: Sequence[Path], max_size: int | None = None,
                 max_pixels: int | None = DEFAULT_MAX_PIXELS, fast_jpeg: bool = True) -> None:
        self.files, self.max_size, self.max_pixels, self.fast_jpeg = list(files), max_size, max_pixels, fast_jpeg

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> Item:
        try:
            return index, read_checked(self.files[index], self.max_size, self.max_pixels, self.fast_jpeg), None
        except UnreadablePhoto as err:
            return index, None, str(err)

    def header_size(self, index: int) -> tuple[int, int]:
        """(height, width) from the file header, without decoding; (0, 0) if even that fails."""
        try:
            with pixel_limit(self.max_pixels), Image.open(self.files[index]) as image:
                return image.height, image.width
        except Exception:  # noqa: BLE001 - reported properly when the worker decodes it
            return 0, 0


def size_batches(dataset: PhotoFiles, batch_size: int) -> list[list[int]]:
    """Indices grouped by header size and cut into batches, so that most batches hold equal sizes."""
    sizes = {i: dataset.header_size(i) for i in range(len(dataset))}
    order = sorted(sizes, key=lambda i: (sizes[i], i))
    batches = []
    for _, group in groupby(order, key=sizes.__getitem__):
        group = list(group)
        batches += [group[k:k + batch_size] for k in range(0, len(group), batch_size)]
    return batches


def _as_list(items: list[Item]) -> list[Item]:
    return items


def decode_workers(setting: int | str, device: torch.device) -> int:
    """``auto``: no worker processes on the CPU, where the network's threads already use every core and
    decoding takes about 1% of a photo's time, so workers only take cores from it (docs/performance.md);
    up to 4 on a GPU, which a single decoding process would leave waiting."""
    if setting == "auto":
        return 0 if device.type == "cpu" else min(4, os.cpu_count() or 1)
    return whole("num_workers", setting, 0, hint="auto, or 0 to decode in this process")


def stylize_folder(stylizer: Stylise, jobs: Sequence[Job], batch_size: int = 8, num_workers: int | str = "auto",
                   max_size: int | None = None, max_pixels: int | None = DEFAULT_MAX_PIXELS, quality: int = 95,
                   progress: bool = True) -> Summary:
    """Stylise every job's source into its target; undecodable files get one line on stderr and are counted."""
    whole("batch_size", batch_size, 1)
    whole("quality", quality, 1, 100, hint="JPEG/WebP quality; 95 is visually lossless")
    whole("max_size", max_size, 8, optional=True, hint="null keeps sizes, else the long side in px")
    whole("max_pixels", max_pixels, 1, optional=True, hint="null turns the decompression-bomb check off")
    num_workers = decode_workers(num_workers, stylizer.device)
    progress = flag("progress", progress)
    dataset = PhotoFiles([job.source for job in jobs], max_size, max_pixels, fast_jpeg=stylizer.device.type != "cpu")
    loader = DataLoader(dataset, batch_sampler=size_batches(dataset, batch_size), num_workers=num_workers,
                        collate_fn=_as_list, pin_memory=stylizer.device.type == "cuda")
    summary, start = Summary(), time.perf_counter()
    pending: deque[Future[Path]] = deque()
    with ThreadPoolExecutor(max_workers=2) as writer, \
            tqdm(total=len(jobs), unit="img", disable=not progress, dynamic_ncols=True) as bar:
        for items in loader:
            good = []
            for index, tensor, reason in items:
                if tensor is None:
                    bar.write(f"skipped {jobs[index].source}: {reason}", file=sys.stderr)
                    summary.skipped += 1
                    bar.update(1)
                else:
                    good.append((index, tensor))
            # Header sizes can mislead (EXIF rotation, max_size rounding): batch by the decoded shape.
            for _, same in groupby(sorted(good, key=lambda it: tuple(it[1].shape)), key=lambda it: tuple(it[1].shape)):
                same = list(same)
                stylized = stylizer(torch.stack([tensor for _, tensor in same]).float().div_(255))
                for (index, _), image in zip(same, stylized):
                    pending.append(writer.submit(save_image, tensor_to_pil(image), jobs[index].target, quality))
                summary.stylized += len(same)
                bar.update(len(same))
            while len(pending) > 2 * batch_size:
                _finish_write(pending.popleft())
        while pending:
            _finish_write(pending.popleft())
    summary.seconds = time.perf_counter() - start
    return summary


def _finish_write(future: Future[Path]) -> None:
    """Wait for one output; a failed write (disk full, no permission) stops the run with a clear error."""
    try:
        future.result()
    except OSError as err:
        raise FastStyleError(f"cannot write {err.filename or 'an output'}: {err.strerror or err}; "
                             "check the output folder (space, permissions)") from err
