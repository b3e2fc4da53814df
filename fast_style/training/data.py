"""Training photos: a recursive image folder (COCO-like), robust decoding, and the LightningDataModule."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_info
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from fast_style.errors import FastStyleError
from fast_style.io.images import find_images, read_photo
from fast_style.settings import flag, real, whole

log = logging.getLogger(__name__)

# Training crops larger than this are a typo (data.image_size=25600): the resize alone would need gigabytes.
MAX_IMAGE_SIZE = 4096


class ImageFolderDataset(Dataset):
    """Images from a list of files. An unreadable or truncated file is skipped with a warning that names
    it and counts the skips so far (in this worker), and the next good file is returned instead, so one
    bad photo among 83k never stops a training run."""

    def __init__(self, files: Sequence[Path], transform: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.files = list(files)
        self.transform = transform
        self.skipped: set[Path] = set()

    def __len__(self) -> int:
        return len(self.files)

    def read(self, path: Path) -> torch.Tensor | None:
        """``path`` transformed, or None (with the warning) if it cannot be decoded."""
        if path in self.skipped:
            return None
        try:
            return self.transform(read_photo(path))
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            self.skipped.add(path)
            log.warning("skipping unreadable image %s (%s); %d skipped so far", path, err, len(self.skipped))
            return None

    def __getitem__(self, index: int) -> torch.Tensor:
        for offset in range(len(self.files)):
            if (image := self.read(self.files[(index + offset) % len(self.files)])) is not None:
                return image
        raise FastStyleError(f"none of the {len(self.files)} images could be read (e.g. {self.files[0]})")

    def readable(self, count: int) -> list[Path]:
        """The first ``count`` files that decode (fewer if there are not that many), in order."""
        found: list[Path] = []
        for path in self.files:
            if len(found) == count:
                break
            if self.read(path) is not None:
                found.append(path)
        return found


def photo_transform(image_size: int, train: bool = True, min_crop_area: float | None = None,
                    flip: bool = False) -> v2.Compose:
    """A square ``image_size`` crop of a ``uint8`` photo, float in [0, 1] last (so resizing moves bytes, not floats).

    Without ``min_crop_area``: the short side resized to ``image_size`` and a square cropped (random for training,
    centred otherwise). With it (training only): a random region covering ``min_crop_area`` to all of the photo's
    area (aspect 3:4 to 4:3) resized to the square, which shows a small folder's photos at many scales and
    framings. ``flip``: random horizontal flips (training only)."""
    if not train or min_crop_area is None:
        crop = v2.RandomCrop(image_size) if train else v2.CenterCrop(image_size)
        steps = [v2.Resize(image_size, antialias=True), crop]
    else:
        steps = [v2.RandomResizedCrop(image_size, scale=(min_crop_area, 1.0), antialias=True)]
    if train and flip:
        steps.append(v2.RandomHorizontalFlip())
    return v2.Compose([*steps, v2.ToDtype(torch.float32, scale=True)])


class PhotoDataModule(pl.LightningDataModule):
    """A folder of photos searched recursively; the first ``num_previews`` (sorted) are held back as
    fixed preview images and never trained on, and so are the photos named in ``exclude`` (file names), which
    validation can then use as photos the network never saw."""

    def __init__(self, root: str, image_size: int = 256, batch_size: int = 4, num_workers: int = 4,
                 num_previews: int = 4, min_crop_area: float | None = None, flip: bool = False,
                 pin_memory: bool | None = None, exclude: Sequence[str] = ()) -> None:
        super().__init__()
        self.root = Path(str(root)).expanduser()
        if isinstance(exclude, str) or not all(isinstance(name, str) for name in exclude):
            raise FastStyleError(f"data.exclude={exclude}: give a list of file names, e.g. '[photo1.jpg,photo2.jpg]'")
        self.exclude = set(exclude)
        self.image_size = whole("data.image_size", image_size, 1, MAX_IMAGE_SIZE,
                                hint="the side of the square training crops, e.g. 256")
        self.batch_size = whole("data.batch_size", batch_size, 1)
        self.num_workers = whole("data.num_workers", num_workers, 0, hint="0 decodes in the training process")
        self.num_previews = whole("data.num_previews", num_previews, 0, hint="0 turns previews off")
        self.min_crop_area = real("data.min_crop_area", min_crop_area, above=0, high=1, optional=True,
                                  hint="the smallest share of a photo's area a training crop covers, e.g. 0.25")
        self.flip = flag("data.flip", flip)
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.train_set: ImageFolderDataset | None = None
        self.preview_files: list[Path] = []

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        if not self.root.is_dir():
            raise FastStyleError(f"data.root={self.root} is not a folder; point it at a folder of photos "
                                 "(COCO 2014: bash scripts/download_coco.sh)")
        files = [path for path in find_images(self.root) if path.name not in self.exclude]
        if len(files) <= self.num_previews:
            raise FastStyleError(f"data.root={self.root} holds {len(files)} image(s); need more than "
                                 f"data.num_previews={self.num_previews} (jpg, png, webp, bmp, tif, searched recursively)")
        # Previews are the first readable photos: a broken one among them is skipped like any other.
        self.preview_files = ImageFolderDataset(files, photo_transform(self.image_size, False)).readable(self.num_previews)
        held_back = set(self.preview_files)
        train_files = [path for path in files if path not in held_back]
        if len(train_files) < self.batch_size:
            raise FastStyleError(f"data.root={self.root}: {len(train_files)} training images is fewer than "
                                 f"data.batch_size={self.batch_size}; lower the batch size or add photos")
        self.train_set = ImageFolderDataset(train_files, photo_transform(self.image_size, True, self.min_crop_area,
                                                                         self.flip))
        # Checked here, in this process: found by a DataLoader worker, the error would carry its traceback.
        if not self.train_set.readable(1):
            raise FastStyleError(f"data.root={self.root}: none of the {len(train_files)} training images can be "
                                 "decoded; point data.root at a folder of photos")
        excluded = f" ({len(self.exclude)} held back by data.exclude)" if self.exclude else ""
        rank_zero_info(f"training on {len(train_files)} photos from {self.root}{excluded}")

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None, "call setup() first"
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True, drop_last=True,
                          num_workers=self.num_workers, pin_memory=self.pin_memory,
                          persistent_workers=self.num_workers > 0)

    def preview_batch(self) -> torch.Tensor:
        """The held-back preview photos, centre-cropped to ``image_size``, as one batch."""
        dataset = ImageFolderDataset(self.preview_files, photo_transform(self.image_size, train=False))
        return torch.stack([dataset[i] for i in range(len(dataset))])
