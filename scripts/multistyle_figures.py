"""The size and speed figures of docs/multistyle.md: one multi-style network against single-style ones.

``python scripts/multistyle_figures.py MULTI.pt SINGLE.pt [SINGLE.pt ...] [--size 512] [--repeat 5]`` prints
the parameters and file size of the multi-style network and of the single-style ones together, then the
time of one forward pass of a photo (``--size`` px square, float32) through the first single-style network,
through the multi-style network folded to its first style (what ``infer.py style=NAME`` runs) and through the
multi-style network taking the style weights as an input (what a TorchScript/ONNX export runs). The three
are timed in turn, ``--repeat`` rounds after two warm-up rounds, so a change in the machine's load hits all
three alike; times are medians. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from fast_style.model_card import load_model



def interleaved_seconds(calls: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median wall time of each call, timed in turn over ``repeat`` rounds after two untimed rounds."""
    times: dict[str, list[float]] = {label: [] for label in calls}
    for round_ in range(repeat + 2):
        for label, call in calls.items():
            began = time.perf_counter()
            call()
            if round_ >= 2:
                times[label].append(time.perf_counter() - began)
    return {label: statistics.median(values) for label, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("multi", type=Path)
    parser.add_argument("singles", type=Path, nargs="+")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    multi, card = load_model(args.multi)
    singles = [load_model(path)[0] for path in args.singles]
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    names = card.names
    print(f"multi-style ({len(names)} styles): {count(multi):,} parameters, {args.multi.stat().st_size:,} bytes")
    print(f"{len(singles)} single-style: {sum(map(count, singles)):,} parameters, "
          f"{sum(p.stat().st_size for p in args.singles):,} bytes")
    per_style = sum(layer.weight[0].numel() + layer.bias[0].numel() for layer in multi.per_style())
    print(f"per style: {per_style:,} parameters ({per_style / count(singles[0]):.2%} of a single-style network)")
    photo = torch.rand(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
    folded = multi.fold(card.select(names[0], str(args.multi))[0])
    style = torch.eye(len(names))[0]
    calls = {"single-style network": lambda: singles[0](photo),
             "multi-style, folded to one style": lambda: folded(photo),
             "multi-style, style weights as input": lambda: multi(photo, style)}
    with torch.inference_mode():
        for label, seconds in interleaved_seconds(calls, args.repeat).items():
            print(f"{label}: {1000 * seconds:.1f} ms per {args.size} px photo")


if __name__ == "__main__":
    main()
