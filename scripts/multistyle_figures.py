"""The size and speed figures of docs/multistyle.md: one multi-style network against single-style ones.

``python scripts/multistyle_figures.py MULTI.pt SINGLE.pt [SINGLE.pt ...] [--size 512] [--repeat 5]`` prints
the parameters and file size of the multi-style network and of the single-style ones together, then the
inference time of one photo (``--size`` px square, float32, as ``infer.py`` runs it) through a single-style
network, through the multi-style network folded to one style (what ``infer.py style=NAME`` runs) and through
the multi-style network taking the style weights as an input (what a TorchScript/ONNX export runs). Times are
medians of ``--repeat`` calls after two warm-up calls; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from fast_style.inference import Stylizer, for_inference
from fast_style.model_io import load_model
from fast_style.multistyle import choose_style, style_names

CPU = torch.device("cpu")


def seconds(call: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``call`` after two untimed calls."""
    call()
    call()
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("multi", type=Path)
    parser.add_argument("singles", type=Path, nargs="+")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    multi, meta = load_model(args.multi)
    singles = [load_model(path)[0] for path in args.singles]
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    names = style_names(meta)
    print(f"multi-style ({len(names)} styles): {count(multi):,} parameters, {args.multi.stat().st_size:,} bytes")
    print(f"{len(singles)} single-style: {sum(map(count, singles)):,} parameters, "
          f"{sum(p.stat().st_size for p in args.singles):,} bytes")
    per_style = sum(norm.weight[0].numel() + norm.bias[0].numel() for norm in multi.norms())
    print(f"per style: {per_style:,} parameters ({per_style / count(singles[0]):.2%} of a single-style network)")
    photo = torch.rand(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
    folded = choose_style(multi, meta, names[0], str(args.multi))[0]
    style = torch.eye(len(names))[0]
    with torch.inference_mode():
        runs = {"single-style network": Stylizer(for_inference(singles[0], CPU, torch.float32), CPU, tile=None),
                "multi-style, folded to one style": Stylizer(for_inference(folded, CPU, torch.float32), CPU, tile=None),
                "multi-style, style weights as input": lambda x: multi(x, style)}
        for label, run in runs.items():
            print(f"{label}: {1000 * seconds(lambda: run(photo), args.repeat):.1f} ms per {args.size} px photo")


if __name__ == "__main__":
    main()
