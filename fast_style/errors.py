"""The one exception type that scripts turn into a one-line message instead of a traceback, and the
description of a torch file that would not load, for such messages."""

from __future__ import annotations

import pickle


class FastStyleError(Exception):
    """A user-fixable problem (missing file, bad setting); the message says which and what to do."""


def load_failure(err: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, without torch's advice to retry with
    ``weights_only=False`` (which would run whatever code the file carries)."""
    text = " ".join(str(err).split())
    if isinstance(err, pickle.UnpicklingError) and "WeightsUnpickler error:" in text:
        detail = text.split("WeightsUnpickler error:", 1)[1].split(" Check the documentation", 1)[0].strip()
        return f"not a plain tensor file: {detail}"
    if "TorchScript" in text:
        return "a TorchScript archive"
    if isinstance(err, EOFError) or not text:
        return "empty or cut short"
    return text.split(". ")[0]
