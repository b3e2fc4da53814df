"""The device a run uses and what it can do fast: choice, synchronisation, free memory, native bfloat16, the
precision to compute in (inference and training), the memory layout its convolution libraries prefer, and the
process's allocator. Shared by training, inference, optimisation, validation and the benchmark."""

from __future__ import annotations

import ctypes
import os

import torch

from fast_style.errors import FastStyleError


def choose_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; an explicit GPU that is absent is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise FastStyleError(f"device={name}: not a device; use auto, cpu, cuda, cuda:N or mps") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise FastStyleError(f"device={name}: PyTorch sees no CUDA GPU here; use device=auto or device=cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise FastStyleError(f"device={name}: MPS is not available here; use device=auto or device=cpu")
    return device


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so wall times measure the computation, not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def free_memory(device: torch.device) -> int:
    """Bytes that can be allocated on ``device`` right now (GPU: free memory; CPU: MemAvailable)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2


def native_bf16(device_type: str) -> bool:
    """Whether ``device_type`` computes bfloat16 in hardware (CUDA: Ampere or newer; CPU: AVX512-BF16 or AMX),
    the condition under which bfloat16 autocast is faster rather than slower than float32."""
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device_type == "cpu":
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    return False


def use_channels_last(setting: bool | str, device_type: str, low_precision: bool) -> bool:
    """``auto``: channels-last (NHWC) where the convolution libraries have fast NHWC kernels: CUDA, and
    16-bit on the CPU (oneDNN's bfloat16 kernels are NHWC; its float32 ones gain nothing)."""
    if setting == "auto":
        return device_type == "cuda" or (device_type == "cpu" and low_precision)
    if not isinstance(setting, bool):
        raise FastStyleError(f"perf.channels_last={setting!r}: use auto, true or false")
    return setting


INFER_PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
TRAIN_PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true")


def choose_precision(name: str, device: torch.device) -> torch.dtype:
    """Inference's ``precision``. ``auto``: bfloat16 on GPUs that support it, else float16 on GPUs; on the CPU
    bfloat16 where it is native (AVX512-BF16/AMX: about 2x faster, see docs/performance.md), else float32."""
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.type == "cpu":
            return torch.bfloat16 if native_bf16("cpu") else torch.float32
        return torch.float16 if device.type == "mps" else torch.float32
    if name not in INFER_PRECISIONS:
        raise FastStyleError(f"precision={name}: use auto, {', '.join(INFER_PRECISIONS)}")
    if device.type == "cpu" and INFER_PRECISIONS[name] is torch.float16:
        raise FastStyleError(f"precision={name}: float16 inference is for GPUs; use float32 or bfloat16 on the CPU")
    return INFER_PRECISIONS[name]


def train_device_type(accelerator: str) -> str:
    """The device type Lightning will train on for ``trainer.accelerator`` (``auto``: CUDA when present)."""
    if accelerator in ("auto", "gpu"):
        return "cuda" if torch.cuda.is_available() else ("mps" if accelerator == "gpu" else "cpu")
    return str(accelerator)


def train_precision(precision: str, accelerator: str) -> str:
    """Lightning's ``precision`` for ``trainer.precision=auto``: ``bf16-mixed`` on GPUs with bfloat16 and on
    CPUs with native bfloat16, ``16-mixed`` on older CUDA GPUs (Lightning scales the loss), else ``32-true``.
    Other values pass through."""
    if str(precision) not in TRAIN_PRECISIONS:
        raise FastStyleError(f"trainer.precision={precision}: use one of {', '.join(TRAIN_PRECISIONS)}")
    if precision != "auto":
        return str(precision)
    device_type = train_device_type(accelerator)
    if device_type == "cuda":
        return "bf16-mixed" if native_bf16("cuda") else "16-mixed"
    return "bf16-mixed" if device_type == "cpu" and native_bf16("cpu") else "32-true"


def loss_dtype(setting: str, device_type: str) -> torch.dtype | None:
    """The dtype the loss's VGG trunk runs in while training; None follows the trainer's precision.
    ``auto``: bfloat16 on CPUs with native bfloat16, else the trainer's precision."""
    if setting == "auto":
        return torch.bfloat16 if device_type == "cpu" and native_bf16("cpu") else None
    choices = {"trainer": None, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if setting not in choices:
        raise FastStyleError(f"perf.loss_precision={setting!r}: use auto, trainer, bfloat16 or float16")
    return choices[setting]


# mallopt() parameters, <malloc.h>
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 1 << 30  # blocks under 1 GB come from the heap (larger ones, tiles of huge photos, still map)
TRIM_THRESHOLD = 2**31 - 1  # the largest an int allows


def reuse_freed_memory() -> bool:
    """Keep freed memory in the process for the next forward pass (glibc only); False elsewhere.

    glibc hands blocks over 32 MB back to the system when they are freed and trims the heap behind them, so
    every forward pass at photo size faults its activations in again, page by page: about 16,000 page faults
    per 640x480 photo with the Johnson network. Raising both thresholds keeps the freed buffers for the next
    photo (under 2,000 faults) and makes the forward pass faster (docs/performance.md). The process's memory
    then stays near its peak until it exits, which is what a folder run needs anyway."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
