"""Freed activation buffers stay in the process: the next forward pass does not fault its memory in again."""

from __future__ import annotations

import resource
import sys

import pytest
import torch

from fast_style.runtime import reuse_freed_memory


def faults_to_fill(megabytes: int) -> int:
    """Minor page faults taken to allocate, write and free a buffer of this size."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(megabytes * 2**18)  # float32: 4 bytes each
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_freed_buffer_is_reused_without_page_faults() -> None:
    assert reuse_freed_memory()
    first = faults_to_fill(64)  # 64 MB and 48 MB: over glibc's default 32 MB mmap ceiling
    again = faults_to_fill(48)  # fits where the first was: no new pages (by default 12,000 faults)
    assert first > 10_000 and again < 1_000
