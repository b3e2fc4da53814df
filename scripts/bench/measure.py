"""Measuring code for ``scripts/benchmark.py``: our fast paths against the textbook implementation. It is not
part of the installed package: the product neither imports nor ships it.

Each measurement runs in a fresh Python process, so its peak memory is its own: the peak while the
timed steps run (CPU: resident set ``VmHWM``; CUDA: ``max_memory_allocated``) minus what the process held
before building the case (the libraries), i.e. models, optimizer state and activations. The *textbook baseline* is the same
network and the same loss definitions run the way pytorch/examples' fast_neural_style does: eager, float32,
NCHW, VGG run separately over the output and over the input, each to the deepest style layer
(:class:`TextbookLoss`); for data loading, Pillow decoding and resizing as its ``ImageFolder`` does; for a
folder of photos, its per-image ``stylize`` code in a loop (:func:`classic_stylize`) against the whole
``scripts/infer.py`` command (:func:`measure_folder`). Nothing here asserts a time; the figures are printed
and written as JSON.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from PIL import Image
from torch import nn
from torchvision.transforms import ToTensor, v2

from bench.still_film import write_still_film
from fast_style.config import group_config, group_options, to_dict
from fast_style.errors import FastStyleError
from fast_style.inference.prepare import for_inference
from fast_style.inference.stylizer import Stylizer
from fast_style.io.films import stylize_video
from fast_style.io.folders import Job
from fast_style.io.images import find_images, fit_long_side, read_photo, save_image
from fast_style.io.video_files import VideoSettings
from fast_style.losses.perceptual import PerceptualLoss, build_loss
from fast_style.model_card import ModelCard, build_network, load_model, save_model
from fast_style.nn.arbitrary import ArbitraryStyleNet
from fast_style.optimization import optimize
from fast_style.runtime import (choose_device, choose_precision, reuse_freed_memory, synchronize, train_precision,
                                use_channels_last)
from fast_style.styles import StyleInfo, load_style
from fast_style.training.data import photo_transform
from fast_style.training.fast_path import apply_to_training, set_backends

# The benchmark's own configs (they compose the package's style, loss and perf groups).
CONFIGS = str(Path(__file__).resolve().parent / "configs")
# The bench package and fast_style, for the fresh processes each case runs in.
SCRIPTS = Path(__file__).resolve().parent.parent
CHILD_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SCRIPTS), os.environ.get("PYTHONPATH")]))}
AUTOCAST = {"bf16": torch.bfloat16, "16": torch.float16}


class TextbookLoss(nn.Module):
    """``criterion``'s loss terms, computed with the textbook's VGG schedule: one full-depth pass over
    the output and another over the input (no early stop at the content layer)."""

    def __init__(self, criterion: PerceptualLoss) -> None:
        super().__init__()
        self.criterion = criterion

    def forward(self, output: torch.Tensor, content: torch.Tensor) -> dict[str, torch.Tensor]:
        vgg, taps = self.criterion.vgg, self.criterion.taps
        return self.criterion.terms(output, vgg(output, taps), vgg(content, taps))


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a Lightning ``*-mixed`` precision string (None for full precision)."""
    head, _, tail = precision.partition("-")
    return AUTOCAST.get(head) if tail == "mixed" else None


def styled_transformer(model_cfg: Mapping[str, Any], seed: int = 0) -> nn.Module:
    """The configured network with its (zero-initialised) last conv set to fixed random weights, so that
    its output differs from its input as a trained model's does and precision errors are visible. An arbitrary-style
    network is folded for a random painting's statistics first: what inference runs."""
    net = build_network(dict(model_cfg))
    if isinstance(net, ArbitraryStyleNet):
        net = net.fold(torch.randn(1, net.predictor.mean.numel(), generator=torch.Generator().manual_seed(seed)))
    last = net.out[1]
    with torch.no_grad():
        last.weight.copy_(torch.randn(last.weight.shape, generator=torch.Generator().manual_seed(seed)) * 0.02)
    return net


def random_model_file(path: Path, model_cfg: Mapping[str, Any], style: StyleInfo = StyleInfo(name="random")) -> Path:
    """A model file of :func:`styled_transformer` (a network of fixed random weights; no loss to rebuild), named
    after ``style``."""
    network = {k: v for k, v in model_cfg.items() if not k.startswith("_")}
    card = ModelCard(network={**network, "num_styles": 1}, styles=(style,))
    return save_model(path, styled_transformer(model_cfg), card)


def _proc_status(field: str) -> int:
    """A ``kB`` field of /proc/self/status in bytes (0 where there is no /proc)."""
    try:
        with open("/proc/self/status") as f:
            return next((int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":")), 0)
    except OSError:
        return 0


def memory_in_use(device: torch.device) -> int:
    return torch.cuda.memory_allocated(device) if device.type == "cuda" else _proc_status("VmRSS")


def reset_peak_memory(device: torch.device) -> None:
    """Forget earlier peaks (e.g. computing the style targets from a full-size painting)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
    except OSError:
        pass


def peak_memory(device: torch.device) -> int:
    """Peak bytes since :func:`reset_peak_memory`: allocated on CUDA, resident (VmHWM) on the CPU."""
    return torch.cuda.max_memory_allocated(device) if device.type == "cuda" else _proc_status("VmHWM")


def time_steps(step: Callable[[], object], device: torch.device, warmup: int, steps: int) -> dict[str, float]:
    """Run ``warmup`` untimed steps (oneDNN/cuDNN plans, compilation), then ``steps`` timed ones."""
    began = time.perf_counter()
    for _ in range(warmup):
        step()
    synchronize(device)
    warmup_s = time.perf_counter() - began
    times = []
    for _ in range(steps):
        began = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - began)
    return {"step_s": statistics.median(times), "min_step_s": min(times), "warmup_s": warmup_s}


def _criterion(case: Mapping[str, Any], device: torch.device) -> PerceptualLoss:
    style, _ = load_style(case["style"], case["assets_dir"])
    criterion, _ = build_loss([case["loss"]], [style], None, case["assets_dir"])
    return criterion.to(device)


def _train_step(case: Mapping[str, Any], device: torch.device) -> tuple[Callable[[], object], dict[str, Any]]:
    torch.manual_seed(0)
    net = build_network(dict(case["model"])).to(device)
    criterion = _criterion(case, device)
    photos = torch.rand(case["batch_size"], 3, case["size"], case["size"], device=device)
    # an arbitrary-style network trains on each photo's painting statistics (random here)
    paintings = (torch.randn(len(photos), net.predictor.mean.numel(), device=device),) \
        if isinstance(net, ArbitraryStyleNet) else ()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    settings: dict[str, Any] = {"precision": "32-true"}
    loss: nn.Module = TextbookLoss(criterion)
    if case["variant"] == "ours":
        settings = apply_to_training(net, criterion, device.type, train_precision(case["train_precision"], device.type),
                                     case["perf"])
        loss = criterion
    dtype = autocast_dtype(settings["precision"])
    scaler = torch.amp.GradScaler(device.type, enabled=dtype is torch.float16)

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            total = loss(net(photos, *paintings), photos)["total"]
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(total).backward()
        scaler.step(optimizer)
        scaler.update()

    return step, settings


def _our_stylizer(net: nn.Module, case: Mapping[str, Any], device: torch.device) -> tuple[Stylizer, dict[str, Any]]:
    """``net`` prepared as ``infer.py`` prepares it, and the settings chosen."""
    perf = case["perf"]
    set_backends(perf["cudnn_benchmark"])
    reuse_freed_memory()  # as infer.py does
    precision = choose_precision(case["infer_precision"], device)
    channels_last = use_channels_last(perf["channels_last"], device.type, precision != torch.float32)
    stylizer = Stylizer(for_inference(net, device, precision, channels_last), device, precision)
    return stylizer, {"precision": str(precision).removeprefix("torch."), "channels_last": channels_last}


def _infer_step(case: Mapping[str, Any], device: torch.device) -> tuple[Callable[[], object], dict[str, Any]]:
    net = styled_transformer(case["model"]).eval()
    photos = torch.rand(case["batch_size"], 3, case["size"], case["size"])
    if case["variant"] == "ours":
        stylizer, settings = _our_stylizer(net, case, device)
        return lambda: stylizer(photos), settings
    net = net.to(device)

    @torch.no_grad()
    def step() -> torch.Tensor:
        return net(photos.to(device)).clamp(0, 1).cpu()

    return step, {"precision": "float32", "channels_last": False}


def _optimize_step(case: Mapping[str, Any], device: torch.device) -> tuple[Callable[[], object], dict[str, Any]]:
    criterion = _criterion(case, device)
    loss = criterion if case["variant"] == "ours" else TextbookLoss(criterion)
    photo = torch.rand(1, 3, case["size"], case["size"], device=device)
    # One L-BFGS iteration per call; optimize() evaluates the final image once more, as the script does.
    return lambda: optimize(loss, photo, steps=1, method="lbfgs"), {"precision": "float32"}


def _data_step(case: Mapping[str, Any], device: torch.device) -> tuple[Callable[[], object], dict[str, Any]]:
    """A batch of training photos decoded, resized and cropped as one DataLoader worker does it (one
    thread): ours through :func:`read_photo` (torchvision.io for JPEGs) and :func:`photo_transform`, the
    baseline as the classic example's ``ImageFolder``: Pillow decoding, resizing and cropping."""
    torch.set_num_threads(1)
    files = find_images(case["data_root"])
    if case["variant"] == "ours":
        transform = photo_transform(case["size"])
        load: Callable[[Path], torch.Tensor] = lambda path: transform(read_photo(path))  # noqa: E731
    else:
        size = case["size"]
        textbook = v2.Compose([v2.Resize(size), v2.RandomCrop(size), v2.PILToTensor(),
                               v2.ToDtype(torch.float32, scale=True)])
        load = lambda path: textbook(Image.open(path).convert("RGB"))  # noqa: E731
    photos = itertools.cycle(files)
    return lambda: [load(next(photos)) for _ in range(case["batch_size"])], {"precision": "uint8"}


def classic_stylize(net: nn.Module, files: Sequence[Path], output: Path) -> None:
    """pytorch/examples' fast_neural_style ``stylize`` for each photo in turn, in one process: Pillow
    decoding, ``ToTensor``, the float32 NCHW network, clamp, 8 bits, Pillow encoding under the photo's name.
    The example scales photos to 0..255 for its network; ours takes [0, 1], so ``mul(255)`` moves to the output."""
    to_tensor = ToTensor()
    output.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        for path in files:
            photo = to_tensor(Image.open(path).convert("RGB")).unsqueeze(0)
            stylized = net(photo).clamp(0, 1).mul(255)[0]
            Image.fromarray(stylized.permute(1, 2, 0).byte().numpy()).save(output / path.name)


def forward_seconds(model_file: Path, files: Sequence[Path], device: torch.device, precision: str) -> float:
    """What the forward pass alone predicts for ``files``: the sum of one warm ``Stylizer`` call per photo
    at its own size (each size run once before, so set-up per shape is not counted), with the network and
    the process's memory prepared as ``infer.py`` prepares them."""
    reuse_freed_memory()
    stylizer = Stylizer.from_file(model_file, device=device, precision=precision)
    photos = [read_photo(path)[None].float().div_(255) for path in files]
    for photo in {tuple(photo.shape): photo for photo in photos}.values():
        stylizer(photo)
    total = 0.0
    for photo in photos:
        began = time.perf_counter()
        stylizer(photo)
        synchronize(device)
        total += time.perf_counter() - began
    return total


def folder_part(part: str, model_file: str, photos: str, output: str, device: str, precision: str
                ) -> dict[str, float]:
    """One part of the folder case, in a fresh process: ``classic`` (seconds of its loop) or ``forward``."""
    files = find_images(photos)
    if part == "classic":
        net, _ = load_model(model_file)
        began = time.perf_counter()
        classic_stylize(net, files, Path(output))
        return {"loop_s": time.perf_counter() - began}
    return {"forward_s": forward_seconds(Path(model_file), files, choose_device(device), precision)}


# The classic example imports torch, torchvision and Pillow; what this module imports beyond them is
# timed and taken off the classic process's wall time.
FOLDER_CHILD = ("import json, sys, time; import torch, PIL.Image, torchvision.transforms; began = time.perf_counter(); "
                "from bench.measure import folder_part; extra = time.perf_counter() - began; "
                "print(json.dumps({**folder_part(*sys.argv[1:]), 'extra_import_s': extra}))")
INFER = SCRIPTS / "infer.py"


def _timed(command: Sequence[str]) -> tuple[float, str]:
    """Wall seconds of ``command`` (a fresh process) and its stdout; a failure is raised with its stderr."""
    began = time.perf_counter()
    child = subprocess.run(command, capture_output=True, text=True, env=CHILD_ENV)
    seconds = time.perf_counter() - began
    if child.returncode != 0:
        raise RuntimeError(f"benchmark folder case: {' '.join(command[:3])} failed:\n{child.stderr[-3000:]}")
    return seconds, child.stdout


def measure_folder(cfg: DictConfig) -> dict[str, Any]:
    """The whole ``infer.py`` command on the first ``bench.folder.photos`` photos of ``data_root`` (their
    own mixed sizes, default settings) against the classic per-image loop in one process and against what
    the forward pass predicts; each in a fresh process, one after the other."""
    spec = cfg.bench.folder
    files = find_images(cfg.data_root)[:spec.photos]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        photos = root / "photos"
        photos.mkdir()
        for path in files:
            shutil.copy(path, photos / path.name)
        model_cfg = model_config(spec.model)
        model_file = random_model_file(root / "model.pt", model_cfg)
        args = [str(model_file), str(photos)]
        settings = [str(cfg.device), str(cfg.infer_precision)]
        classic_wall, out = _timed([sys.executable, "-c", FOLDER_CHILD, "classic", *args, str(root / "classic"), *settings])
        classic = json.loads(out.strip().splitlines()[-1])
        _, out = _timed([sys.executable, "-c", FOLDER_CHILD, "forward", *args, "-", *settings])
        forward = json.loads(out.strip().splitlines()[-1])
        wall, out = _timed([sys.executable, str(INFER), f"model={model_file}", f"input={photos}",
                            f"output={root / 'ours'}", f"device={cfg.device}", f"precision={cfg.infer_precision}",
                            "progress=false"])
    found = re.search(r"throughput: ([\d.e+]+) images/s", out)
    if found is None:
        raise RuntimeError(f"benchmark folder case: infer.py printed no throughput line:\n{out[-2000:]}")
    sizes = {read_photo(path).shape for path in files}
    n = len(files)
    result = {"model_name": spec.model, "photos": n, "sizes": len(sizes), "classic_loop_s": classic["loop_s"],
              "classic_process_s": classic_wall - classic["extra_import_s"], "forward_s": forward["forward_s"],
              "infer_wall_s": wall, "infer_loop_images_per_s": float(found.group(1))}
    result["forward_images_per_s"] = n / result["forward_s"]
    result["whole_vs_classic_process"] = result["classic_process_s"] / wall
    result["whole_vs_classic_loop"] = result["classic_loop_s"] / wall
    result["forward_vs_infer_loop"] = result["forward_images_per_s"] / result["infer_loop_images_per_s"]
    return result


def format_folder(r: Mapping[str, Any]) -> str:
    """The folder case's figures and ratios, with the targets of docs/performance.md."""
    return "\n".join([
        f"folder   {r['model_name']}: {r['photos']} photos in {r['sizes']} sizes",
        f"  classic per-image loop (float32, one process): loop {r['classic_loop_s']:.1f} s "
        f"({r['photos'] / r['classic_loop_s']:.2f} images/s), whole process {r['classic_process_s']:.1f} s",
        f"  forward pass alone (warm, each photo at its size): {r['forward_s']:.1f} s "
        f"({r['forward_images_per_s']:.2f} images/s)",
        f"  infer.py whole command: {r['infer_wall_s']:.1f} s; in its loop {r['infer_loop_images_per_s']:.2f} images/s",
        f"  whole command vs classic process: {r['whole_vs_classic_process']:.2f}x faster "
        f"(vs the classic loop alone: {r['whole_vs_classic_loop']:.2f}x); target >= 3x",
        f"  forward-pass images/s / infer.py in-loop images/s: {r['forward_vs_infer_loop']:.2f}; target <= 1.3",
    ])


def measure_startup(cfg: DictConfig) -> dict[str, Any]:
    """``infer.py`` on one photo (the first of ``data_root`` or a synthetic picture, long side
    ``bench.startup.size``) as a user runs it: the whole process, start-up and exit included, ``runs`` times after
    one untimed run; the median wall time and the largest peak resident memory."""
    spec = cfg.bench.startup
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        photos = find_images(cfg.data_root) if cfg.data_root else []
        picture = read_photo(photos[0]) if photos else (torch.rand(3, spec.size, spec.size) * 255).to(torch.uint8)
        save_image(fit_long_side(picture, spec.size).float().div(255), root / "photo.jpg")
        model_file = random_model_file(root / "model.pt", model_config(spec.model))
        command = [sys.executable, str(INFER), f"model={model_file}", f"input={root / 'photo.jpg'}",
                   f"output={root / 'out'}", f"device={cfg.device}", f"precision={cfg.infer_precision}",
                   "progress=false", "overwrite=true"]
        walls, peaks = [], []
        for run in range(spec.runs + 1):
            began = time.perf_counter()
            child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=CHILD_ENV)
            _, status, usage = os.wait4(child.pid, 0)
            wall = time.perf_counter() - began
            if os.waitstatus_to_exitcode(status) != 0:
                raise RuntimeError(f"benchmark start-up case: infer.py failed:\n{child.stderr.read().decode()[-3000:]}")
            child.stderr.close()
            if run:  # the first run warms the file cache
                walls.append(wall)
                peaks.append(usage.ru_maxrss / 1024)
    shape = tuple(fit_long_side(picture, spec.size).shape[-2:])
    return {"model_name": spec.model, "photo": f"{shape[1]}x{shape[0]}", "runs": spec.runs,
            "wall_s": statistics.median(walls), "min_wall_s": min(walls), "max_wall_s": max(walls),
            "peak_memory_mb": max(peaks)}


def format_startup(r: Mapping[str, Any]) -> str:
    """The start-up case's figures, with the target of docs/performance.md."""
    return (f"startup  {r['model_name']}: infer.py on one {r['photo']} photo, whole process: median "
            f"{r['wall_s']:.2f} s (min {r['min_wall_s']:.2f}, max {r['max_wall_s']:.2f}, {r['runs']} runs), peak "
            f"{r['peak_memory_mb']:.0f} MB; target <= 2.0 s on a 2-core CPU")


def _video_step(case: Mapping[str, Any], device: torch.device) -> tuple[Callable[[], object], dict[str, Any]]:
    """A stand-in film (a camera move over the first photo of ``data_root``, else over a synthetic picture;
    see scripts/bench/still_film.py) decoded, stylised and encoded as ``infer.py`` does it: one step is the
    whole film, ``batch_size`` its frame count, so items/s are frames/s. ``size`` is ``WIDTHxHEIGHT``."""
    width, height = map(int, str(case["size"]).split("x"))
    scratch = tempfile.TemporaryDirectory(prefix="fast_style_video_")  # deleted when the process ends
    folder = Path(scratch.name)
    photos = find_images(case["data_root"]) if case["data_root"] else []
    y, x = torch.meshgrid(torch.linspace(0, 1, 2 * height), torch.linspace(0, 1, 2 * width), indexing="ij")
    picture = read_photo(photos[0]) if photos else (torch.stack([x, y, (x * 7).sin().abs()]) * 255).to(torch.uint8)
    film = write_still_film(picture, folder / "film.mp4", width, height, frames=case["batch_size"])
    stylizer, settings = _our_stylizer(styled_transformer(case["model"]).eval(), case, device)
    job = Job(film, folder / "styled.mp4")

    def step(scratch: tempfile.TemporaryDirectory = scratch) -> int:  # the folder lives while steps run
        return stylize_video(stylizer, job, VideoSettings(), batch_size=case["video_batch"])

    return step, settings


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
    """The ``model`` config group's option ``name`` (configs/model/<name>.yaml) as plain values."""
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
    if bench.models:
        shapes.append(("optimize", bench.models[0], bench.optimize.size, 1, bench.optimize))
    if cfg.data_root is not None:
        if not Path(cfg.data_root).is_dir() or not find_images(cfg.data_root):
            raise FastStyleError(f"data_root={cfg.data_root}: no images there; point it at a folder of photos")
        if bench.get("data"):
            shapes.append(("data", "-", bench.data.size, bench.data.batch_size, bench.data))
    todo = [{**common, "kind": kind, "variant": variant, "model_name": name,
             "model": model_config(name) if name != "-" else None, "data_root": cfg.data_root,
             "size": size, "batch_size": batch, "warmup": spec.warmup, "steps": spec.steps}
            for kind, name, size, batch, spec in shapes for variant in variants]
    video = bench.get("video")  # films: ours only (decode + stylise + encode; no textbook counterpart)
    if video is not None:
        todo += [{**common, "kind": "video", "variant": "ours", "model_name": name, "model": model_config(name),
                  "data_root": cfg.data_root, "size": size, "batch_size": video.frames, "video_batch": video.batch_size,
                  "warmup": video.warmup, "steps": video.steps} for name in bench.models for size in video.sizes]
    return todo


STEPS = {"train": _train_step, "infer": _infer_step, "optimize": _optimize_step, "data": _data_step,
         "video": _video_step}


def run_case(case: Mapping[str, Any]) -> dict[str, Any]:
    """Measure one case (in the calling process; :func:`measure` gives each a fresh process)."""
    device = choose_device(case["device"])
    start = memory_in_use(device)
    step, settings = STEPS[case["kind"]](case, device)
    reset_peak_memory(device)
    timing = time_steps(step, device, case["warmup"], case["steps"])
    peak = peak_memory(device)
    per_step = case["batch_size"] if case["kind"] != "optimize" else 1
    return {**{k: case[k] for k in ("kind", "variant", "model_name", "size", "batch_size", "steps")},
            **settings, **timing, "device": str(device),
            "items_per_s": per_step / timing["step_s"], "ms_per_item": 1000 * timing["step_s"] / per_step,
            "peak_memory_mb": (peak - start) / 2**20, "process_peak_mb": peak / 2**20,
            "load_avg": os.getloadavg()[0]}


CHILD = "import json, sys; from bench.measure import run_case; print(json.dumps(run_case(json.load(sys.stdin))))"


def measure(cases: Sequence[Mapping[str, Any]], on_result: Callable[[dict[str, Any]], None] | None = None
            ) -> list[dict[str, Any]]:
    """Run every case in its own fresh interpreter, one after the other (never two at once)."""
    results = []
    for case in cases:
        child = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(case), capture_output=True,
                               text=True, env=CHILD_ENV)
        if child.returncode != 0:
            raise RuntimeError(f"benchmark case {case['kind']} {case['variant']} failed:\n{child.stderr[-3000:]}")
        result = json.loads(child.stdout.strip().splitlines()[-1])
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def ratios(results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """ours / baseline throughput for every case measured both ways."""
    key = ("kind", "model_name", "size", "batch_size")
    base = {tuple(r[k] for k in key): r for r in results if r["variant"] == "baseline"}
    out = []
    for r in results:
        b = base.get(tuple(r[k] for k in key))
        if r["variant"] == "ours" and b is not None:
            out.append({**{k: r[k] for k in key}, "speedup": r["items_per_s"] / b["items_per_s"],
                        "memory_ratio": r["peak_memory_mb"] / b["peak_memory_mb"]})
    return out


def format_table(results: Sequence[Mapping[str, Any]]) -> str:
    """One line per measurement, with the ours/baseline ratio next to ours."""
    speedups = {(r["kind"], r["model_name"], r["size"], r["batch_size"]): r["speedup"] for r in ratios(results)}
    header = f"{'kind':<9}{'model':<9}{'size':>5}{'batch':>6}  {'variant':<9}{'precision':<11}" \
             f"{'items/s':>9}{'ms/item':>10}{'peak MB':>9}{'x base':>8}"
    lines = [header, "-" * len(header)]
    for r in results:
        ratio = speedups.get((r["kind"], r["model_name"], r["size"], r["batch_size"])) if r["variant"] == "ours" else None
        lines.append(f"{r['kind']:<9}{r['model_name']:<9}{r['size']:>5}{r['batch_size']:>6}  {r['variant']:<9}"
                     f"{r['precision']:<11}{r['items_per_s']:>9.3f}{r['ms_per_item']:>10.1f}"
                     f"{r['peak_memory_mb']:>9.0f}{'' if ratio is None else f'{ratio:.2f}x':>8}")
    return "\n".join(lines)
