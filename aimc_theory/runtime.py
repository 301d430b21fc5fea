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
one thread per worker is as fast as two in a single process there. :func:`blas_threads` sets them for a
block and restores them (the network path trains with one).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from contextlib import contextmanager

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
_BLAS_GETTERS = tuple(name.replace("_set_", "_get_") for name in _BLAS_SETTERS)


def _openblas_libraries() -> list:
    """(library, setter, getter) of every OpenBLAS loaded in this process (NumPy's and SciPy's own copies).

    Why not threadpoolctl: it is not a dependency, and for OpenBLAS it does what this does: find the loaded
    libraries in /proc/self/maps and call their exported ``*_set_num_threads`` (ctypes). The environment
    variables (OPENBLAS_NUM_THREADS, ...) only act when a library is loaded, too late for NumPy's."""
    paths = set()
    try:
        with open("/proc/self/maps") as fh:
            paths = {line.split()[-1] for line in fh if "openblas" in line.lower() and "/" in line}
    except OSError:
        return []
    out = []
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in zip(_BLAS_SETTERS, _BLAS_GETTERS):
            setter = getattr(lib, set_name, None)
            if setter is not None:
                out.append((lib, setter, getattr(lib, get_name, None)))
                break
    return out


def limit_blas_threads(n: int = 1) -> int:
    """Set the thread count of every OpenBLAS loaded in this process (NumPy's and SciPy's own copies);
    returns how many libraries were set. Child processes inherit the environment variables set here."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    libs = _openblas_libraries()
    for _, setter, _ in libs:
        setter(ctypes.c_int(n))
    return len(libs)


def blas_threads_now() -> list[int]:
    """The thread count of every loaded OpenBLAS (that exports its getter)."""
    return [int(getter()) for _, _, getter in _openblas_libraries() if getter is not None]


@contextmanager
def blas_threads(n: int | None):
    """Within the block every loaded OpenBLAS runs ``n`` threads (None: unchanged); restored afterwards.

    The network path sets 1 (:func:`aimc_theory.network.train`): its matrices at batch 10 (10 x 784 x 256)
    are too small for threads to pay off, and on a 2-core machine shared with another job a second BLAS
    thread spins waiting for the busy core: a bare NumPy MLP epoch took 0.97 s with one thread and 9-27 s
    with two (measured under load; benchmarks/bench_epochs.py prints both)."""
    if n is None:
        yield
        return
    libs = _openblas_libraries()
    old = [int(getter()) if getter is not None else None for _, _, getter in libs]
    for _, setter, _ in libs:
        setter(ctypes.c_int(int(n)))
    try:
        yield
    finally:
        for (_, setter, _), k in zip(libs, old):
            if k is not None:
                setter(ctypes.c_int(k))


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
