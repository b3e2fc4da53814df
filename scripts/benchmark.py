"""Measure training, inference, L-BFGS and data-loading speed and memory against the textbook implementation.

``python scripts/benchmark.py [bench=quick] [device=cpu] [bench.models=[small]]`` prints a table and writes
``<run>/benchmark.json`` (every measurement, ours/baseline ratios, fast-path fidelity, the machine).
Each case runs in a fresh process, one at a time; no figure is asserted anywhere.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig

from fast_style.atomic import atomic_write
from fast_style.benchmark import (format_table, inference_fidelity, measure, ratios,
                                  training_fidelity)
from fast_style.config import group_config, group_options, run_or_exit, to_dict
from fast_style.devices import choose_device
from fast_style.errors import FastStyleError
from fast_style.image_io import find_images
from fast_style.inference import choose_precision


def machine(device: torch.device) -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {"cpu": cpu, "threads": torch.get_num_threads(), "torch": torch.__version__, "device": str(device),
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"), "load_avg": os.getloadavg()[0]}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def model_config(name: str) -> dict[str, Any]:
    model = group_config("model", name)
    if model is None:
        raise FastStyleError(f"bench.models: unknown model {name!r}; use names from configs/model/: "
                             f"{group_options('model')}")
    return to_dict(model)


def cases(cfg: DictConfig) -> list[dict[str, Any]]:
    """Every (kind, model, size, batch) case, the baseline right before ours so both see the same load."""
    common = {"device": cfg.device, "perf": to_dict(cfg.perf), "style": to_dict(cfg.style), "loss": to_dict(cfg.loss),
              "assets_dir": cfg.assets_dir, "train_precision": cfg.train_precision,
              "infer_precision": cfg.infer_precision}
    variants = ["baseline", "ours"] if cfg.baseline else ["ours"]
    bench = cfg.bench
    shapes = []
    for name in bench.models:
        shapes.append(("train", name, bench.train.size, bench.train.batch_size, bench.train))
        for size in bench.infer.sizes:
            for batch in dict.fromkeys([1, bench.infer.batch_size]):
                shapes.append(("infer", name, size, batch, bench.infer))
    shapes.append(("optimize", bench.models[0], bench.optimize.size, 1, bench.optimize))
    if cfg.data_root is not None:
        if not Path(cfg.data_root).is_dir() or not find_images(cfg.data_root):
            raise FastStyleError(f"data_root={cfg.data_root}: no images there; point it at a folder of photos")
        shapes.append(("data", "-", bench.data.size, bench.data.batch_size, bench.data))
    return [{**common, "kind": kind, "variant": variant, "model_name": name,
             "model": model_config(name) if name != "-" else None, "data_root": cfg.data_root,
             "size": size, "batch_size": batch, "warmup": spec.warmup, "steps": spec.steps}
            for kind, name, size, batch, spec in shapes for variant in variants]


def fidelity(cfg: DictConfig, device: torch.device) -> dict[str, Any]:
    """How far the fast paths are from float32: inference output, and a short training run's loss."""
    name = cfg.bench.models[0]
    model = model_config(name)
    precision = choose_precision(cfg.infer_precision, device)
    out: dict[str, Any] = {"model_name": name, "inference_precision": str(precision).removeprefix("torch."),
                           "inference": inference_fidelity(model, device, precision, cfg.perf.channels_last,
                                                           cfg.bench.fidelity.size)}
    case = {"style": to_dict(cfg.style), "loss": to_dict(cfg.loss), "assets_dir": cfg.assets_dir, "model": model,
            "perf": to_dict(cfg.perf), "train_precision": cfg.train_precision}
    out["training"] = training_fidelity(case, device, cfg.bench.fidelity.train_steps, cfg.bench.fidelity.train_size)
    return out


def run(cfg: DictConfig) -> Path:
    device = choose_device(str(cfg.device))
    todo = cases(cfg)
    print(f"machine: {machine(device)}; {len(todo)} measurements, each in a fresh process", flush=True)
    if cfg.data_root is None:
        print("data loading: not measured; give data_root=<photo folder> (or set FAST_STYLE_DATA)", flush=True)
    results = measure(todo, on_result=lambda r: print(
        f"  {r['kind']} {r['model_name']} {r['size']}px x{r['batch_size']} {r['variant']}: "
        f"{r['items_per_s']:.3f}/s, peak {r['peak_memory_mb']:.0f} MB", flush=True))
    checks = fidelity(cfg, device)
    report = {"machine": machine(device), "config": to_dict(cfg), "results": results, "ratios": ratios(results),
              "fidelity": checks}
    print(format_table(results))
    inference = checks["inference"]
    print(f"fidelity: inference {checks['inference_precision']} vs float32: max abs diff "
          f"{inference['max_abs_diff']:.4f}, PSNR {inference['psnr_db']:.1f} dB")
    t = checks["training"]
    fast = ", ".join(f"{k}={v}" for k, v in t["settings"].items() if k in ("precision", "loss_precision"))
    print(f"fidelity: {t['steps']}-step training on the fast path ({fast}): loss {t['loss_fast']:.4g} vs "
          f"{t['loss_float32']:.4g} in float32 ({100 * t['relative_difference']:.2f}% apart)")
    output = Path(cfg.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(output) as tmp:
        Path(tmp).write_text(json.dumps(report, indent=2))
    return output


@hydra.main(version_base="1.3", config_path="../configs", config_name="benchmark")
def main(cfg: DictConfig) -> None:
    print(f"wrote: {run_or_exit(run, cfg)}")


if __name__ == "__main__":
    main()
