"""Process settings for speed: freed array memory kept, BLAS threads per worker process.

Keep freed array memory in the process instead of returning it to the kernel after every operation:

glibc gives large freed blocks back to the kernel (``munmap``, or trimming the heap top); the next
temporary of the same size then touches fresh pages, one page fault per 4 KiB. On the 2-core virtual
machines this toolkit runs on a page fault costs a few microseconds, so an elementwise operation on
200k float64 (1.6 MB) took ~1.1 ms instead of ~0.07 ms: the simulations and the network spent most of
their time in page faults. :func:`retain_freed_memory` raises glibc's mmap and trim thresholds
(``mallopt``) so that such blocks are reused. It changes only how freed memory is kept (the peak
resident size may stay at its high-water mark); it is a no-op where glibc is not the allocator.
The command line calls it at start; Python users may call it once.

:func:`limit_blas_threads` caps OpenBLAS's threads in a worker process: two forked workers on two cores
each running a 2-thread BLAS on the network's small matrices (batch 10) oversubscribe the cores and spin;
one thread per worker is as fast as two in a single process there.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
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


_BLAS_SETTERS = ("openblas_set_num_threads", "scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                 "openblas_set_num_threads64_")


def limit_blas_threads(n: int = 1) -> int:
    """Set the thread count of every OpenBLAS loaded in this process (NumPy's and SciPy's own copies);
    returns how many libraries were set. Child processes inherit the environment variables set here."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    paths = set()
    try:
        with open("/proc/self/maps") as fh:
            paths = {line.split()[-1] for line in fh if "openblas" in line.lower() and "/" in line}
    except OSError:
        return 0
    done = 0
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _BLAS_SETTERS:
            fn = getattr(lib, name, None)
            if fn is not None:
                fn(ctypes.c_int(n))
                done += 1
                break
    return done


def available_memory() -> int | None:
    """Bytes the kernel reports as available (MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(param: str, count: int, bytes_each: int, fraction: float = 0.7) -> None:
    """Raise an InputError naming ``param`` when ``count`` x ``bytes_each`` exceeds ``fraction`` of the
    available memory, with the largest count that fits."""
    from .errors import InputError
    avail = available_memory()
    need = int(count) * int(bytes_each)
    if avail is None or need <= fraction * avail:
        return
    fits = max(int(fraction * avail // max(bytes_each, 1)), 0)
    raise InputError(param, f"{count:,} {param} need about {need / 2**30:.1f} GiB but {avail / 2**30:.1f} GiB are available; "
                            f"at most {fits:,} fit")
