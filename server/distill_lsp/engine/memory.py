"""Handing freed memory back to the system (glibc): the engine's tensors change size from
request to request, and without this a long-running server's heap only grows."""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache
from typing import Any

M_MMAP_THRESHOLD = -3


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


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


def heap_figures() -> dict[str, float]:
    """The C heap as glibc sees it, in MiB: `heapMiB` from the main and thread arenas,
    `heapInUseMiB` of it in live allocations, `heapFreeMiB` free but not yet returned,
    `mmapMiB` in separate mmap chunks. Empty where the C library is not glibc >= 2.33.
    Telling these apart says whether a growing RSS is live data or fragmentation."""
    libc = _libc()
    mallinfo2 = getattr(libc, "mallinfo2", None) if libc is not None else None
    if mallinfo2 is None:
        return {}
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    mib = 2**20
    return {"heapMiB": round(info.arena / mib, 1), "heapInUseMiB": round(info.uordblks / mib, 1),
            "heapFreeMiB": round(info.fordblks / mib, 1), "mmapMiB": round(info.hblkhd / mib, 1),
            "mmapChunks": info.hblks}
