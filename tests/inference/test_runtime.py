"""Freed activation buffers stay in the process: the next forward pass does not fault its memory in again."""

from __future__ import annotations

import subprocess
import sys

import pytest

# In a fresh process (no freed memory left by earlier tests): fill and free 64 MB, then count the minor page faults
# of filling 48 MB, which fits where the first buffer was. Both are over glibc's default 32 MB mmap ceiling.
REFILL = """
import resource, sys, torch
from fast_style.runtime import reuse_freed_memory
if sys.argv[1] == "reuse":
    assert reuse_freed_memory()
torch.ones(64 * 2**18)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
torch.ones(48 * 2**18)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def refill_faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", REFILL, mode], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_freed_buffer_is_reused_without_page_faults() -> None:
    default, reused = refill_faults("default"), refill_faults("reuse")
    # glibc's default maps the 48 MB anew: thousands of faults (how many depends on the kernel's page
    # sizes); kept in the process, the second buffer faults almost nothing in.
    assert default > 500
    assert reused * 10 < default
