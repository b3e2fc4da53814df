"""Image files in and out: robust decoding to RGB, tensors in [0, 1], atomic writes.

Every entry point (training data, inference, optimisation, validation) reads photos through
``read_photo`` so that odd files (CMYK, 16-bit, palette, alpha, rotated by EXIF) behave the same way.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from fast_style.io.atomic import atomic_write
from fast_style.errors import FastStyleError

# Pillow's own default (Image.MAX_IMAGE_PIXELS): a quarter gigabyte of 24-bit pixels.
DEFAULT_MAX_PIXELS = 89_478_485
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".ppm", ".pgm")


def find_images(root: str | Path, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> list[Path]:
    """All image files (or files with other ``extensions``) under ``root`` (recursive, sorted) or ``[root]``
    for a single file. Linked folders are followed; a link back to a folder already searched (a loop) is
    skipped with a warning."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FastStyleError(f"{root} does not exist; give a folder of images or an image file")
    found, searched = [], set()
    for folder, subfolders, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in searched:
            warnings.warn(f"not searching {folder} again: it links to {real}, already searched", stacklevel=2)
            subfolders.clear()
            continue
        searched.add(real)
        found += [Path(folder, name) for name in names if Path(name).suffix.lower() in extensions]
    return sorted(p for p in found if p.is_file())


def warn_if_animated(image: Image.Image, path: str | Path) -> None:
    """Only the first frame of an animated GIF/WebP/PNG is used; say so, naming the file."""
    if getattr(image, "n_frames", 1) > 1:
        warnings.warn(f"{path} is animated ({image.n_frames} frames); only its first frame is used", stacklevel=3)


def require_images(setting: str, root: str | Path) -> list[Path]:
    """:func:`find_images` for a script's input setting, where finding none is a mistake to name."""
    files = find_images(root)
    if not files:
        raise FastStyleError(f"{setting}={root}: no images found ({', '.join(IMAGE_EXTENSIONS)}, searched recursively)")
    return files


def to_rgb(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB; transparency is composited onto ``background``."""
    if image.mode.startswith("I"):
        # 16/32-bit greyscale (16-bit PNG, TIFF): map 0..65535 onto 0..255 instead of clipping at 255.
        array = np.asarray(image, dtype=np.float64) / 257.0
        image = Image.fromarray(np.clip(array + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, background)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB") if image.mode != "RGB" else image


def load_image(path: str | Path) -> Image.Image:
    """Decode ``path`` fully to RGB, honouring EXIF orientation. Raises ``OSError`` for unreadable files
    and ``PIL.Image.DecompressionBombError`` for images larger than ``Image.MAX_IMAGE_PIXELS`` allows."""
    with Image.open(path) as image:
        warn_if_animated(image, path)
        image.load()
        image = ImageOps.exif_transpose(image)
        return to_rgb(image)


def tensor_to_pil(tensor: torch.Tensor) -> Image.Image:
    """Float tensor ``[3, H, W]`` (values clamped to [0, 1]) -> RGB PIL image."""
    array = tensor.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array, "RGB")


def pil_to_uint8(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> ``uint8 [3, H, W]``, as torchvision's ``pil_to_tensor`` (see :func:`read_photo`)."""
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)


def read_photo(path: str | Path, fast_jpeg: bool = True) -> torch.Tensor:
    """Decode ``path`` to RGB ``uint8 [3, H, W]``, honouring EXIF orientation; errors as :func:`load_image`.

    With ``fast_jpeg``, JPEGs (nearly every photo) are decoded by torchvision.io's libjpeg-turbo decoder
    straight into a tensor: the same pixels as Pillow's, 1.4-1.7x its speed per core (``data`` in
    scripts/benchmark.py), which is what feeds a fast GPU; Pillow reads the header first, so its
    decompression-bomb limit still applies. Without it everything is decoded by Pillow, and torchvision
    (over a second of start-up, see docs/performance.md) is never imported: what ``infer.py`` does on the
    CPU, where the network takes a hundred times longer than decoding."""
    if fast_jpeg:
        with Image.open(path) as image:
            is_jpeg = image.format == "JPEG"
        if is_jpeg:
            from torchvision.io import ImageReadMode, decode_jpeg, read_file

            try:
                return decode_jpeg(read_file(str(path)), mode=ImageReadMode.RGB, apply_exif_orientation=True)
            except RuntimeError as err:  # "decode_jpeg, <source file:line>, Image is incomplete or truncated"
                raise OSError(f"{path}: {str(err).split(', ')[-1]}") from err
    return pil_to_uint8(load_image(path))


def fit_long_side(image: torch.Tensor, max_size: int | None) -> torch.Tensor:
    """``image [..., 3, H, W]`` shrunk (antialiased bicubic, as torchvision's ``resize``: uint8 stays uint8)
    so its long side is at most ``max_size``; never enlarged."""
    height, width = image.shape[-2:]
    if max_size is None or max(height, width) <= max_size:
        return image
    scale = max_size / max(height, width)
    return resize(image, (max(1, round(height * scale)), max(1, round(width * scale))))


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``image [..., 3, H, W]`` at ``size`` (H, W) by antialiased bicubic, as torchvision's ``resize`` (uint8
    stays uint8) without importing torchvision on the inference start-up path."""
    flat = image.reshape(-1, *image.shape[-3:])
    resized = F.interpolate(flat, size=list(size), mode="bicubic", antialias=True, align_corners=False)
    return resized.reshape(*image.shape[:-2], *size)


@contextmanager
def pixel_limit(max_pixels: int | None) -> Iterator[None]:
    """Refuse images over ``max_pixels`` (Pillow's decompression-bomb guard, which otherwise only warns
    between 1x and 2x its limit)."""
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


class UnreadablePhoto(Exception):
    """A photo that cannot be read; the message says why, for the ``skipped <path>: ...`` line."""


def read_checked(path: str | Path, max_size: int | None = None, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                 fast_jpeg: bool = True) -> torch.Tensor:
    """A photo as every command that reads photos reads it (the same limits, the same reasons to skip it):
    ``uint8 [3, H, W]``, long side capped at ``max_size``; a file over ``max_pixels`` (a possible decompression
    bomb) or one that does not decode raises :class:`UnreadablePhoto`."""
    try:
        with pixel_limit(max_pixels):
            return fit_long_side(read_photo(path, fast_jpeg), max_size)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise UnreadablePhoto(f"refused as a possible decompression bomb ({err}); raise max_pixels "
                              f"(now {max_pixels}) if you trust this file") from err
    except Exception as err:  # noqa: BLE001 - decoders raise many types; any of them means "unreadable"
        raise UnreadablePhoto(f"cannot be decoded ({type(err).__name__}: {' '.join(str(err).split())})") from err


def read_tensor(path: str | Path, max_size: int | None = None) -> torch.Tensor:
    """Load ``path`` as ``[3, H, W]`` in [0, 1], optionally shrunk so the long side is at most ``max_size``."""
    return fit_long_side(read_photo(path), max_size).float().div_(255.0)


def save_image(image: torch.Tensor | Image.Image, path: str | Path, quality: int = 95) -> Path:
    """Write an image atomically (temporary file + rename), so a killed run never leaves half a file.

    The format follows the file extension; ``quality`` applies to JPEG and WebP."""
    path = Path(path)
    if isinstance(image, torch.Tensor):
        image = tensor_to_pil(image)
    image_format = Image.registered_extensions().get(path.suffix.lower())
    if image_format is None:
        raise FastStyleError(f"{path}: unknown image extension {path.suffix!r}; use .png, .jpg or .webp")
    options = {"quality": quality} if image_format in ("JPEG", "WEBP") else {}
    with atomic_write(path) as tmp:
        image.save(tmp, format=image_format, **options)
    return path
