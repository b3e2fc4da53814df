"""Measure training, inference, L-BFGS and data-loading speed and memory against the textbook implementation,
the whole ``infer.py`` command on a folder of mixed-size photos against the classic per-image loop, its start-up
on one photo, and the web page in headless Chromium (``bench=web``).

``python scripts/benchmark.py [bench=quick] [device=cpu] [bench.models=[small]]`` prints a table and writes
``<run>/benchmark.json`` (every measurement, ours/baseline ratios, the machine). Each case runs in a fresh
process, one at a time; no figure is asserted anywhere. The fast paths' accuracy is checked by the tests
(tests/test_fast_path.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig

from bench.measure import (CONFIGS, cases, format_folder, format_startup, format_table, machine, measure, measure_folder,
                           measure_startup, ratios)
from bench.web import format_web, measure_web
from fast_style.config import command, run_or_exit, to_dict
from fast_style.io.atomic import atomic_write
from fast_style.io.outputs import check_output
from fast_style.runtime import choose_device


def run(cfg: DictConfig) -> Path:
    output = check_output("output", cfg.output, folder=False)
    device = choose_device(str(cfg.device))
    todo = cases(cfg)
    print(f"machine: {machine(device)}; {len(todo)} measurements, each in a fresh process", flush=True)
    if cfg.data_root is None:
        print("data loading and the photo folder: not measured; give data_root=<photo folder> (or set FAST_STYLE_DATA)",
              flush=True)
    results = measure(todo, on_result=lambda r: print(
        f"  {r['kind']} {r['model_name']} {r['size']}px x{r['batch_size']} {r['variant']}: "
        f"{r['items_per_s']:.3f}/s, peak {r['peak_memory_mb']:.0f} MB", flush=True))
    if results:
        print(format_table(results))
    folder = measure_folder(cfg) if cfg.data_root is not None and cfg.bench.get("folder") else None
    if folder is not None:
        print(format_folder(folder))
    startup = measure_startup(cfg) if cfg.bench.get("startup") else None
    if startup is not None:
        print(format_startup(startup))
    web = measure_web(cfg) if cfg.bench.get("web") else None
    if web is not None:
        print(format_web(web))
    report = {"machine": machine(device), "config": to_dict(cfg), "results": results, "ratios": ratios(results),
              "folder": folder, "startup": startup, "web": web}
    with atomic_write(output) as tmp:
        Path(tmp).write_text(json.dumps(report, indent=2))
    return output


@command(CONFIGS, "benchmark")
def main(cfg: DictConfig) -> None:
    print(f"wrote: {run_or_exit(run, cfg)}")


if __name__ == "__main__":
    main()
