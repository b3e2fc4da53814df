"""The model zoo: trained networks shipped inside the package, so ``infer.py model=starry_night`` stylises with no
training and no download.

Each network is a normal model file, ``<name>.pt`` (16-bit weights; its card carries the style, the VGG, the
command that trained it and its validation summary), beside its validation report ``<name>.md``. Replacing a
network with a better one (say from a GPU) is a file change: ``export.py format=zoo model=... validation=...``.
``FAST_STYLE_ZOO=<folder>`` points at another zoo (a team's own, or a test's).
"""

from __future__ import annotations

import os
from pathlib import Path

from fast_style.errors import FastStyleError

PACKAGE_ZOO = Path(__file__).resolve().parent


# The validation medians ``model=list`` shows, each with its format (the model file's card holds them all).
SHOWN = {"lbfgs_iterations_to_match": ("L-BFGS iterations to match", "{:.3g}"),
         "style_distance_network": ("style distance", "{:.2f}"), "blown_out": ("blown out", "{:.2%}"),
         "images": ("photos", "{:.0f}")}


def zoo_dir() -> Path:
    """The zoo's folder: ``$FAST_STYLE_ZOO``, else the package's own."""
    return Path(os.environ.get("FAST_STYLE_ZOO") or PACKAGE_ZOO).expanduser()


def names() -> list[str]:
    """The zoo's networks, by name."""
    return sorted(path.stem for path in zoo_dir().glob("*.pt"))


def is_name(value: object) -> bool:
    """Whether ``value`` reads as a zoo name rather than a path (no folder, no suffix)."""
    text = str(value)
    return bool(text) and "/" not in text and "\\" not in text and not Path(text).suffix


def resolve(value: str | Path, setting: str = "model") -> Path:
    """``setting=value`` as a file: an existing path as it is, else the zoo's network of that name; a name the
    zoo does not hold is one error listing what it holds."""
    path = Path(str(value)).expanduser()
    if path.exists() or not is_name(value):
        return path
    if (zoo_dir() / f"{value}.pt").is_file():
        return zoo_dir() / f"{value}.pt"
    held = ", ".join(names()) or "none yet"
    raise FastStyleError(f"{setting}={value}: no such file, and the zoo holds no network of that name (it holds: "
                         f"{held}); give a model file or a zoo name (infer.py model=list lists them)")


def listing() -> str:
    """One line per network: name, style, size, training and validation figures."""
    from fast_style.model_card import read_model_file

    lines = []
    for name in names():
        card, _ = read_model_file(zoo_dir() / f"{name}.pt")
        network = card.network
        validation = card.validation or {}
        figures = ", ".join(f"{label} {form.format(validation[key])}" for key, (label, form) in SHOWN.items()
                            if isinstance(validation.get(key), (int, float)))
        lines.append(f"{name}: {', '.join(card.names)}; channels {network.get('channels')}, "
                     f"{network.get('num_res_blocks')} residual blocks; {card.train.get('steps', '?')} steps at "
                     f"{card.data.get('image_size', '?')} px" + (f"; validation: {figures}" if figures else ""))
    return "\n".join(lines) if lines else f"the zoo ({zoo_dir()}) holds no networks yet"
