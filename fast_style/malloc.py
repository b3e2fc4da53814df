"""Keep freed memory in the process for the next forward pass (glibc only).

glibc hands blocks over 32 MB back to the system when they are freed (``mmap``/``munmap``) and trims the
heap behind them, so every forward pass at photo size faults its activations in again, page by page: about
16,000 page faults per 640x480 photo with the Johnson network. Raising both thresholds keeps the freed
buffers for the next photo (under 2,000 faults) and makes the forward pass faster (docs/performance.md).
The process's memory then stays near its peak until it exits, which is what a folder run needs anyway.
"""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt() parameters, <malloc.h>
MMAP_THRESHOLD = 1 << 30  # blocks under 1 GB come from the heap (larger ones, tiles of huge photos, still map)
TRIM_THRESHOLD = 2**31 - 1  # the largest an int allows


def reuse_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; False where the C library is not glibc."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
