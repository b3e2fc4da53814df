"""The model file and its card: what a trained network is (its size, its styles with the loss each was trained
on, the VGG that measured it, how it was trained), written and read here and nowhere else.

A model file holds only tensors and plain Python values, so it loads with ``torch.load(weights_only=True)`` and
never runs code. Training checkpoints carry the same card under ``"fast_style"``, and standalone exports
(TorchScript, ONNX) carry it as JSON, so every kind of file says what it holds. Files of earlier formats are
read through :func:`upgrade`, which turns them into today's card and weights.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch

from fast_style import zoo
from fast_style.errors import FastStyleError, load_failure
from fast_style.io.atomic import atomic_write
from fast_style.nn.arbitrary import ArbitraryStyleNet
from fast_style.nn.transformer import TransformerNet
from fast_style.styles import StyleInfo, describe, style_weights

FORMAT = "fast_style/3"
# fast_style/2: a single-style network (``net.*`` weights, ``style`` and ``loss``) or a multi-style one
# (``styles``); both are upgraded on reading. fast_style/1 held networks that predicted in logit space: their
# weights mean something else to today's network, so they are refused rather than silently misread.
UPGRADABLE = ("fast_style/2",)
REFUSED = ("fast_style/1",)


@dataclass(frozen=True)
class ModelCard:
    """What a model file holds besides the weights: ``network`` (channels, num_res_blocks, num_styles,
    colour_hidden, colour_gain), the ``styles`` in the order of the network's style rows, the ``vgg`` (arch,
    source, file, sha256) the losses were measured with, ``data`` (training crop size), ``train`` (steps, the
    command, init, stability) and ``validation`` (the medians of validate.py's report, for a network of the zoo)."""

    network: dict[str, Any]
    styles: tuple[StyleInfo, ...]
    vgg: dict[str, str] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT
    validation: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [style.name for style in self.styles]

    @property
    def style(self) -> StyleInfo:
        """The one style of a single-style card."""
        if len(self.styles) != 1:
            raise FastStyleError(f"a network of {len(self.styles)} styles ({', '.join(self.names)}); pick one with style=NAME")
        return self.styles[0]

    @property
    def arbitrary(self) -> bool:
        """Whether the network takes the painting as an input (:mod:`fast_style.nn.arbitrary`)."""
        return "style_dim" in self.network

    def kind(self) -> str:
        if self.arbitrary:
            return "an arbitrary-style"
        return "a multi-style" if len(self.styles) > 1 else "a single-style"

    def to_dict(self) -> dict[str, Any]:
        """Plain values only (JSON-safe): what model files, checkpoints and standalone exports store."""
        card = asdict(self)
        card["styles"] = [{k: v for k, v in style.items() if v is not None} for style in card["styles"]]
        return json.loads(json.dumps(card, default=str))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ModelCard:
        """A card from :meth:`to_dict`, or the metadata of an earlier format (upgraded)."""
        if raw.get("format") in UPGRADABLE:
            raw = upgrade_metadata(raw)
        known = {f.name for f in fields(StyleInfo)}
        styles = tuple(StyleInfo(**{k: v for k, v in style.items() if k in known}) for style in raw["styles"])
        # Cards written before model.colour_hidden and colour_gain were settings hold an affine map of gain 30.
        network = {"colour_hidden": 0, "colour_gain": 30.0, **raw["network"]}
        return cls(network=network, styles=styles, vgg=raw.get("vgg"), data=dict(raw.get("data") or {}),
                   train=dict(raw.get("train") or {}), format=raw.get("format", FORMAT),
                   validation=dict(raw.get("validation") or {}))

    def select(self, value: Any, source: str, setting: str = "style") -> tuple[torch.Tensor | None, ModelCard]:
        """``setting=value`` for this card's network: (style weights to fold in, or None for a single-style
        network, and the card of the chosen style or blend). A multi-style network needs a style, a
        single-style one takes none; either mistake is one error saying which the file is."""
        names = self.names
        if self.arbitrary:
            raise FastStyleError(f"{source} is an arbitrary-style network: it takes a painting, "
                                 f"{setting}=path/to/painting.jpg")
        if len(names) == 1:
            if value is not None:
                raise FastStyleError(f"{setting}={value}: {source} is a single-style network ({names[0]}); "
                                     f"leave {setting} out")
            return None, self
        if value is None:
            raise FastStyleError(f"{source} is a multi-style network holding {', '.join(names)}; pick one with "
                                 f"{setting}=NAME or blend them, e.g. '{setting}={{{names[0]}: 0.5, {names[-1]}: 0.5}}'")
        weights = style_weights(setting, value, names)
        picked = [i for i, w in enumerate(weights) if w > 0]
        mix = dict(zip(names, weights.tolist()))
        chosen = (replace(self.styles[picked[0]], weights=mix) if len(picked) == 1
                  else StyleInfo(name=describe(weights, names), weights=mix))
        return weights, replace(self, styles=(chosen,), network={**self.network, "num_styles": 1})


def build_network(network: Mapping[str, Any]) -> TransformerNet | ArbitraryStyleNet:
    """The (untrained) network a card's ``network`` describes: an arbitrary-style one has ``style_dim``."""
    settings = {k: v for k, v in network.items() if not k.startswith("_")}
    return ArbitraryStyleNet(**settings) if "style_dim" in settings else TransformerNet(**settings)


def save_model(path: str | Path, net: torch.nn.Module, card: ModelCard, dtype: torch.dtype | None = None) -> Path:
    """Write the card and the network's weights atomically to ``path``; ``dtype`` (e.g. float16, half the size)
    stores the floating-point weights in it (loading casts them back to the network's float32)."""
    path = Path(path)
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    payload = {**card.to_dict(), "state_dict": state}
    try:
        with atomic_write(path) as tmp:
            torch.save(payload, tmp)
    except RuntimeError as err:  # a full disk surfaces from torch.save as a RuntimeError
        raise FastStyleError(f"cannot write {path} ({str(err).splitlines()[0]}); free some space, then export "
                             "again (the run's checkpoints are kept)") from err
    return path


def is_torchscript(path: Path) -> bool:
    """TorchScript archives hold ``code/``; ``torch.save`` files (our .pt, .ckpt) do not."""
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def read_model_file(path: str | Path, setting: str = "model") -> tuple[ModelCard, dict[str, torch.Tensor]]:
    """The card and weights of an exported ``.pt`` or a training ``.ckpt``, loaded safely; anything else is one
    error naming ``setting``. A name (no folder, no suffix) that is no file is looked up in the zoo."""
    path = zoo.resolve(path, setting)
    if not path.is_file():
        raise FastStyleError(f"{setting}={path}: file not found; give an exported .pt or a training .ckpt")
    if path.suffix.lower() == ".onnx" or is_torchscript(path):
        kind = "an ONNX" if path.suffix.lower() == ".onnx" else "a TorchScript"
        raise FastStyleError(f"{setting}={path}: {kind} export (scripts/export.py), which only infer.py runs; give "
                             "the exported .pt or the training .ckpt it was made from")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - unpickling refused or not a torch file at all
        raise FastStyleError(f"{setting}={path}: refused, not a fast_style model file that loads safely "
                             f"({load_failure(err)})") from err
    if isinstance(raw, dict) and isinstance(raw.get("fast_style"), dict) and "state_dict" in raw:  # a checkpoint
        prefix = "transformer."
        state = {k[len(prefix):]: v for k, v in raw["state_dict"].items() if k.startswith(prefix)}
        meta = dict(raw["fast_style"])
        if isinstance(raw.get("global_step"), int):  # the step it was saved at, as an export records it
            meta["train"] = {**(meta.get("train") or {}), "steps": raw["global_step"]}
        raw = {"format": REFUSED[-1], **meta, "state_dict": state}  # the first ones recorded none
    version = raw.get("format") if isinstance(raw, dict) else None
    if version in REFUSED:
        raise FastStyleError(f"{setting}={path}: made by an earlier fast_style ({version}) whose network output "
                             f"worked differently; retrain it with scripts/train.py")
    if version not in (FORMAT, *UPGRADABLE) or not isinstance(raw.get("state_dict"), dict):
        raise FastStyleError(f"{setting}={path}: not a fast_style model (no '{FORMAT}' export or training checkpoint)")
    state = upgrade_weights(raw) if version in UPGRADABLE else raw["state_dict"]
    try:
        return ModelCard.from_dict(raw), state
    except (KeyError, TypeError) as err:
        raise FastStyleError(f"{setting}={path}: its card is incomplete ({err}); export it again with scripts/train.py") from err


def load_model(path: str | Path, setting: str = "model") -> tuple[TransformerNet | ArbitraryStyleNet, ModelCard]:
    """The network of an exported ``.pt`` or training ``.ckpt`` (eval mode, weights loaded) and its card."""
    card, state = read_model_file(path, setting)
    if "prototypes" in card.network:
        raise FastStyleError(f"{setting}={path}: an arbitrary-style network of an earlier version (a blend of "
                             "prototypes), which this version cannot run; retrain it with model=arbitrary")
    net = build_network(card.network)
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise FastStyleError(f"{setting}={path}: weights do not fit its model config ({str(err).splitlines()[0]})") from err
    return net.eval(), card


# Earlier formats ---------------------------------------------------------------------------------------------

def upgrade_metadata(meta: Mapping[str, Any]) -> dict[str, Any]:
    """fast_style/2 metadata in today's layout: ``model`` becomes ``network`` (with ``num_styles``), a
    single-style file's ``style`` and ``loss`` become its one entry of ``styles``, ``init`` and ``stability``
    move into ``train``."""
    model = {k: v for k, v in meta["model"].items() if not k.startswith("_")}
    entries = meta.get("styles") or [{"style": meta.get("style") or {}, "loss": meta.get("loss")}]
    train = {**(meta.get("train") or {}), **{k: meta[k] for k in ("init", "stability") if k in meta}}
    return {"format": FORMAT, "network": {"num_styles": len(entries), **model},
            "styles": [{**entry["style"], "loss": entry.get("loss")} for entry in entries],
            "vgg": meta.get("vgg"), "data": meta.get("data") or {}, "train": train}


def upgrade_weights(raw: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """fast_style/2 weights in today's layout. Multi-style files already have it; a single-style network's
    ``net.*`` Sequential holds the same layers in the same order (convolutions, then each norm's scale and
    shift as a row of one style), so its tensors pair up with today's parameters one by one."""
    state = dict(raw["state_dict"])
    if "net.0.0.1.weight" not in state:
        return state
    target = build_network(upgrade_metadata(raw)["network"]).state_dict()
    old = [(k, v) for k, v in state.items() if k.startswith("net.")]
    new = [k for k in target if not k.startswith("colour.")]
    if len(old) != len(new):
        raise FastStyleError(f"a fast_style/2 network with {len(old)} tensors where its model config needs "
                             f"{len(new)}; export it again with fast_style 0.2")
    upgraded = {name: value.reshape(target[name].shape) for name, (_, value) in zip(new, old)}
    return {**upgraded, **{k: v for k, v in state.items() if k.startswith("colour.")}}

