"""A frozen VGG trunk that returns named activations (``relu1_2``, ``relu2_2``, ...).

Input is RGB in [0, 1]; the ImageNet normalisation happens inside, so callers never think about it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
from torch import nn
from torchvision import models

from fast_style.assets import Asset, file_sha256, resolve
from fast_style.errors import FastStyleError, load_failure

ARCHS = {"vgg16": models.vgg16, "vgg19": models.vgg19}
IMAGENET_WEIGHTS = {"vgg16": models.VGG16_Weights.IMAGENET1K_V1, "vgg19": models.VGG19_Weights.IMAGENET1K_V1}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def layer_names(features: nn.Sequential) -> list[str]:
    """Caffe-style names for torchvision's ``features`` indices: conv1_1, relu1_1, ..., pool1, conv2_1, ..."""
    names, block, index = [], 1, 1
    for layer in features:
        if isinstance(layer, nn.MaxPool2d):
            names.append(f"pool{block}")
            block, index = block + 1, 1
        elif isinstance(layer, nn.ReLU):
            names.append(f"relu{block}_{index}")
            index += 1
        else:
            names.append(f"conv{block}_{index}")
    return names


class VGGFeatures(nn.Module):
    """Frozen VGG ``features`` truncated after the deepest requested tap."""

    def __init__(self, arch: str = "vgg16", taps: list[str] | tuple[str, ...] = ("relu4_3",),
                 state_dict: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        if arch not in ARCHS:
            raise FastStyleError(f"loss.arch={arch!r} is not supported; use one of {sorted(ARCHS)}")
        features = ARCHS[arch](weights=None).features
        names = layer_names(features)
        unknown = [t for t in taps if t not in names]
        if unknown:
            raise FastStyleError(f"unknown VGG layer(s) {unknown} for {arch}; choose from {names}")
        depth = max(names.index(t) for t in taps) + 1
        self.names = names[:depth]
        self.layers = nn.Sequential(*[nn.ReLU(inplace=False) if isinstance(m, nn.ReLU) else m for m in features[:depth]])
        if state_dict is not None:
            self.layers.load_state_dict({k: v for k, v in state_dict.items() if int(k.split(".")[0]) < depth})
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()
        # None: follow the caller's autocast. A 16-bit dtype runs the trunk under autocast in it whatever
        # the caller does (the fast path on CPUs whose bfloat16 is faster here but not in the transformer).
        self.compute_dtype: torch.dtype | None = None
        # Each 2x2 pooling halves the image; one that meets a 1-px side fails. The smallest side that
        # still gives the deepest tap at least 1 px is 2 ** (poolings before it).
        self.min_side = 2 ** sum(isinstance(m, nn.MaxPool2d) for m in self.layers)

    def channels(self, tap: str) -> int:
        """The number of channels at layer ``tap``: those of the last convolution up to it."""
        upto = self.layers[:self.names.index(tap) + 1]
        return [m for m in upto if isinstance(m, nn.Conv2d)][-1].out_channels

    def train(self, mode: bool = True) -> "VGGFeatures":
        """Stay in eval mode whatever the parent does: the trunk is a fixed measuring instrument."""
        return super().train(False)

    def forward(self, x: torch.Tensor, taps: list[str] | tuple[str, ...]) -> dict[str, torch.Tensor]:
        """Activations at ``taps`` for ``x`` in [0, 1]; stops at the deepest tap requested."""
        wanted = set(taps)
        out: dict[str, torch.Tensor] = {}
        dtype = self.compute_dtype
        with torch.autocast(x.device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext():
            h = (x - self.mean) / self.std
            for name, layer in zip(self.names, self.layers):
                h = layer(h)
                if name in wanted:
                    out[name] = h
                    if len(out) == len(wanted):
                        break
        return out


def _trunk_state_dict(raw: object, source: str) -> dict[str, torch.Tensor]:
    """Accept a full torchvision VGG state dict or its ``features.*`` part; return ``features`` keys."""
    if not isinstance(raw, dict) or not raw:
        raise FastStyleError(f"{source} is not a state dict; expected a torchvision VGG checkpoint (features.* keys)")
    trunk = {k.removeprefix("features."): v for k, v in raw.items() if k.startswith("features.")}
    if not trunk:
        sample = ", ".join(list(raw)[:3])
        raise FastStyleError(
            f"{source} has no 'features.*' keys (found {sample}, ...); expected a torchvision VGG state dict "
            "such as torchvision.models.vgg16(weights=...).state_dict()"
        )
    return trunk


def load_vgg(arch: str, weights: str, taps: list[str] | tuple[str, ...], assets_dir: str | Path | None = None
             ) -> tuple[VGGFeatures, dict[str, str]]:
    """Build the frozen trunk from ``weights`` (``imagenet`` or a state-dict path) and describe the source.

    A relative path that does not exist is also looked up in ``<assets_dir>/weights/``. The returned
    description (arch, source, sha256) is printed by training and stored in exported models.
    """
    if weights == "imagenet":
        enum = IMAGENET_WEIGHTS.get(arch)
        if enum is None:
            raise FastStyleError(f"loss.arch={arch!r} is not supported; use one of {sorted(ARCHS)}")
        file_name = enum.url.rsplit("/", 1)[-1]
        local = Path(assets_dir) / "weights" / file_name if assets_dir else None
        if local is not None and local.is_file():
            path = local
        else:
            path = Path(torch.hub.get_dir()) / "checkpoints" / file_name
            if not path.is_file():
                try:  # torchvision's own cached download, checked against the hash in its file name
                    torch.hub.load_state_dict_from_url(enum.url, progress=True, check_hash=True)
                except OSError as err:
                    raise FastStyleError(
                        f"cannot download the ImageNet {arch} weights ({err}); offline, put {file_name} in "
                        f"<assets>/weights/ with FAST_STYLE_ASSETS=<assets>, or set loss.weights=/path/to/vgg.pth"
                    ) from err
    else:
        path = Path(weights).expanduser()
        if not path.is_file() and assets_dir and not path.is_absolute():
            path = resolve(Asset(f"weights/{weights}"), assets_dir)
        if not path.is_file():
            raise FastStyleError(f"loss.weights={weights}: file not found; give a VGG state-dict path or 'imagenet'")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means "not a state dict"
        raise FastStyleError(f"loss.weights: cannot read {path} as a state dict ({load_failure(err)})") from err
    trunk = _trunk_state_dict(raw, str(path))
    try:
        vgg = VGGFeatures(arch, taps, trunk)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise FastStyleError(
            f"loss.weights={path} does not fit {arch} ({first[0] if first else err}); "
            "check loss.arch=vgg16|vgg19 matches the file"
        ) from err
    source = "imagenet" if weights == "imagenet" else str(path.resolve())
    return vgg, {"arch": arch, "source": source, "file": path.name, "sha256": file_sha256(path)}
