"""Checks for the settings a user types, applied where each setting is read.

Hydra hands over whatever was typed (``data.batch_size=abc`` is the string ``"abc"``, ``overwrite=maybe``
a string, not a bool). Each check returns the value as the type the code needs, or raises one
:class:`FastStyleError` naming the setting, the value and what to use, before any work starts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from fast_style.errors import FastStyleError


def _refuse(name: str, value: Any, need: str, hint: str = "") -> FastStyleError:
    return FastStyleError(f"{name}={value}: {need}" + (f"; {hint}" if hint else ""))


def whole(name: str, value: Any, low: int | None = None, high: int | None = None, *, optional: bool = False,
          hint: str = "") -> Any:
    """An integer in ``[low, high]`` (``None`` too if ``optional``)."""
    if value is None and optional:
        return None
    bounds = " ".join(filter(None, [f"from {low}" if low is not None else "", f"to {high}" if high is not None else ""]))
    need = f"use a whole number {bounds}".rstrip() + (" (or null)" if optional else "")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refuse(name, value, need, hint)
    if (low is not None and value < low) or (high is not None and value > high):
        raise _refuse(name, value, need, hint)
    return value


def real(name: str, value: Any, low: float | None = None, high: float | None = None, *, above: float | None = None,
         optional: bool = False, hint: str = "") -> Any:
    """A finite number, at least ``low`` / more than ``above`` / at most ``high`` (``None`` too if ``optional``)."""
    if value is None and optional:
        return None
    bounds = [f"at least {low}" if low is not None else "", f"above {above}" if above is not None else "",
              f"at most {high}" if high is not None else ""]
    need = " and ".join(filter(None, bounds))
    need = f"use a number {need}".rstrip() + (" (or null)" if optional else "")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _refuse(name, value, need, hint)
    if (low is not None and value < low) or (above is not None and value <= above) or (high is not None and value > high):
        raise _refuse(name, value, need, hint)
    return float(value)


def flag(name: str, value: Any) -> bool:
    """``true`` or ``false``; anything else (``maybe``, ``1``, ``yes``) is refused rather than guessed."""
    if not isinstance(value, bool):
        raise _refuse(name, value, "use true or false")
    return value


def one_of(name: str, value: Any, options: Sequence[str]) -> str:
    """One of ``options`` (compared as text)."""
    if str(value) not in options:
        raise _refuse(name, value, f"use one of {', '.join(options)}")
    return str(value)


def weights(name: str, value: Any) -> dict[str, float]:
    """A non-empty ``{name: weight}`` mapping with non-negative weights (loss layers)."""
    if not isinstance(value, Mapping) or not value:
        raise _refuse(name, value, "give a mapping of layer names to weights, e.g. '{relu2_2: 1.0}'")
    return {str(key): real(f"{name}.{key}", weight, low=0) for key, weight in value.items()}
