"""The device a run uses and what it can do fast: choice, synchronisation, free memory, native bfloat16
and the memory layout its convolution libraries prefer. Shared by training, inference, optimisation,
validation and the benchmark."""

from __future__ import annotations

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
