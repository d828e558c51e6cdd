"""Handing freed memory back to the system (glibc): the engine's tensors change size from
request to request, and without this a long-running server's heap only grows."""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache
from typing import Any

M_MMAP_THRESHOLD = -3


@cache
def _libc() -> Any:
    """glibc, or None where the C library is another (then these calls do nothing)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def pin_mmap_threshold(threshold: int = 1 << 17) -> None:
    """Allocations from `threshold` bytes up come from mmap and go back to the system when
    freed (glibc otherwise raises its threshold after the first large free, and tensors of
    ever-changing sizes, like key/value caches, then fragment the heap for good)."""
    if (libc := _libc()) is not None:
        libc.mallopt(M_MMAP_THRESHOLD, threshold)


def release_freed_memory() -> None:
    """Give the free memory at the heap's top back to the system."""
    if (libc := _libc()) is not None:
        libc.malloc_trim(0)
