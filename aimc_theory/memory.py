"""Keep freed array memory in the process instead of returning it to the kernel after every operation.

glibc gives large freed blocks back to the kernel (``munmap``, or trimming the heap top); the next
temporary of the same size then touches fresh pages, one page fault per 4 KiB. On the 2-core virtual
machines this toolkit runs on a page fault costs a few microseconds, so an elementwise operation on
200k float64 (1.6 MB) took ~1.1 ms instead of ~0.07 ms: the simulations and the network spent most of
their time in page faults. :func:`retain_freed_memory` raises glibc's mmap and trim thresholds
(``mallopt``) so that such blocks are reused. It changes only how freed memory is kept (the peak
resident size may stay at its high-water mark); it is a no-op where glibc is not the allocator.
The command line calls it at start; Python users may call it once.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_MAX = 32 << 20        # glibc's largest allowed mmap threshold on 64-bit (HEAP_MAX_SIZE / 2)
_done = False


def retain_freed_memory() -> bool:
    """Raise glibc's thresholds once per process; True when they were set."""
    global _done
    if _done or not sys.platform.startswith("linux"):
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_MAX)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30))
    except (OSError, AttributeError):      # not glibc (musl, macOS): nothing to tune
        return False
    _done = ok
    return ok
