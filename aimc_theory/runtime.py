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
import time
from contextlib import contextmanager

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_MAX = 32 << 20        # glibc's largest allowed mmap threshold on 64-bit (HEAP_MAX_SIZE / 2)
_done = False
_IMPORTED = time.perf_counter()          # the fallback start of the process: when this module was first imported
_command_started = _IMPORTED


def process_seconds() -> float:
    """Wall seconds since this process started (Linux: its start time in ``/proc``, so the interpreter's start and
    every import count; elsewhere since this module was imported)."""
    try:
        with open("/proc/self/stat") as f:
            started = int(f.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
        with open("/proc/uptime") as f:
            up = float(f.read().split()[0])
        if 0.0 <= up - started < 1e7:
            return max(up - started, time.perf_counter() - _IMPORTED)
    except (OSError, ValueError, IndexError):
        pass
    return time.perf_counter() - _IMPORTED


def command_started(from_process_start: bool) -> None:
    """Mark the start of a command-line command: the process's own start where the command is the process (the
    ``aimc-theory`` executable, so its imports count), else now (``cli.main(argv)`` called from Python)."""
    global _command_started
    _command_started = time.perf_counter() - (process_seconds() if from_process_start else 0.0)


def command_seconds() -> float:
    """Wall seconds since :func:`command_started`: what the command's user waited."""
    return time.perf_counter() - _command_started


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


_CGROUP_ROOT = "/sys/fs/cgroup"          # where the cgroup file systems are mounted (tests point it elsewhere)
_PROC_CGROUP = "/proc/self/cgroup"       # the process's groups, one "id:controllers:path" line per hierarchy
_UNLIMITED = 1 << 60                      # cgroup v1 writes "no limit" as ~2^63 rounded to a page


def _read_int(path) -> int | None:
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        value = int(text.split()[0])
    except (ValueError, IndexError):
        return None
    return None if value >= _UNLIMITED else value


def _cgroup_dirs(controller_root: str, rel: str) -> list[str]:
    """The cgroup's directory and its ancestors (a parent's limit binds too), deepest first; inside a
    container the cgroup namespace mounts the process's own group at the root, so the root is always tried."""
    rel = rel.strip("/")
    parts = rel.split("/") if rel else []
    dirs = [os.path.join(controller_root, *parts[:k]) for k in range(len(parts), 0, -1)]
    return [d for d in dirs if os.path.isdir(d)] + [controller_root]


def cgroup_memory() -> int | None:
    """Bytes the process's cgroup may still charge (limit minus usage, the smallest over the group and its
    ancestors), for cgroup v2 (``memory.max``/``memory.current``) and v1 (``memory.limit_in_bytes``/
    ``memory.usage_in_bytes``); None when no limit is set or none is visible."""
    try:
        with open(_PROC_CGROUP) as fh:
            lines = fh.read().splitlines()
    except OSError:
        lines = []
    best = None
    for line in lines:
        try:
            _, controllers, rel = line.split(":", 2)
        except ValueError:
            continue
        if controllers == "":                       # v2 unified hierarchy: "0::/path"
            root, files = _CGROUP_ROOT, ("memory.max", "memory.current")
            if not os.path.exists(os.path.join(root, "cgroup.controllers")):
                root = os.path.join(_CGROUP_ROOT, "unified")
        elif "memory" in controllers.split(","):    # v1: "4:memory:/path"
            root, files = os.path.join(_CGROUP_ROOT, "memory"), ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        for d in _cgroup_dirs(root, rel):
            limit = _read_int(os.path.join(d, files[0]))
            if limit is None:
                continue
            used = _read_int(os.path.join(d, files[1])) or 0
            free = max(limit - used, 0)
            best = free if best is None else min(best, free)
    return best


def address_space_left() -> int | None:
    """Bytes left under RLIMIT_AS (``ulimit -v``): the soft limit minus the address space in use; None
    when unlimited."""
    try:
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError, AttributeError):
        return None
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    try:
        with open("/proc/self/statm") as fh:
            used = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        used = 0
    return max(soft - used, 0)


def memory_limits() -> dict:
    """Every limit on the memory this process can still take, in bytes, by source: ``MemAvailable`` (the
    kernel's estimate), ``RLIMIT_AS`` (``ulimit -v``, minus the address space in use) and ``cgroup``
    (memory.max or memory.limit_in_bytes minus usage); sources without a limit are left out."""
    out = {}
    for name, fn in (("MemAvailable", _mem_available), ("RLIMIT_AS", address_space_left),
                     ("cgroup memory limit", cgroup_memory)):
        value = fn()
        if value is not None:
            out[name] = value
    return out


def _mem_available() -> int | None:
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


def available_memory() -> int | None:
    """Bytes this process can still allocate: the smallest of MemAvailable, what RLIMIT_AS leaves and what
    the cgroup's memory limit leaves (:func:`memory_limits`), or None where none is known."""
    limits = memory_limits()
    return min(limits.values()) if limits else None


def binding_limit() -> tuple[str, int] | None:
    """(name, bytes) of the smallest memory limit, or None."""
    limits = memory_limits()
    if not limits:
        return None
    name = min(limits, key=limits.get)
    return name, limits[name]


def check_memory(param: str, count: int, bytes_each: int, fraction: float = 0.7, what: str | None = None) -> None:
    """Raise an InputError naming ``param`` when ``count`` x ``bytes_each`` exceeds ``fraction`` of the
    memory this process may still take (:func:`available_memory`: MemAvailable, RLIMIT_AS and the cgroup
    limit, whichever is smallest), with the estimate, the binding limit and the largest count that fits."""
    from .errors import InputError
    bound = binding_limit()
    need = int(count) * int(bytes_each)
    if bound is None or need <= fraction * bound[1]:
        return
    source, avail = bound
    fits = max(int(fraction * avail // max(int(bytes_each), 1)), 0)
    label = what or param
    raise InputError(param, f"{count:,} {label} need about {_size(need)} ({_size(bytes_each)} each) but "
                            f"{_size(avail)} are available ({source}); at most {fits:,} fit")


def check_bytes(param: str, need: int, description: str, fraction: float = 0.7) -> None:
    """Raise an InputError naming ``param`` when an estimate of ``need`` bytes exceeds ``fraction`` of the
    available memory; ``description`` says what needs it."""
    from .errors import InputError
    bound = binding_limit()
    if bound is None or need <= fraction * bound[1]:
        return
    source, avail = bound
    raise InputError(param, f"{description} needs about {_size(need)} but {_size(avail)} are available "
                            f"({source}); make it smaller")


def _size(n: float) -> str:
    n = float(n)
    for unit, scale in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def usable_cores() -> int:
    """CPUs this process may run on (``os.sched_getaffinity``, which honours taskset and cpusets;
    ``os.cpu_count`` where affinity is not available)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return max(os.cpu_count() or 1, 1)


def check_workers(param: str, workers) -> int | None:
    """``workers`` validated against the CPUs this process may use: None stays None (the caller's default),
    more workers than usable CPUs is an InputError naming ``param`` and the limit (processes beyond the
    cores only compete for them, and each holds its own copy of the imports and arrays)."""
    from .errors import InputError, require_int
    if workers is None:
        return None
    workers = require_int(param, workers)
    cores = usable_cores()
    if workers > cores:
        raise InputError(param, f"must be an integer in [1, {cores}]: this process may run on {cores} CPU"
                                f"{'s' if cores > 1 else ''} (os.sched_getaffinity); got {workers:,}")
    return workers


MAX_SECONDS = 24 * 3600          # estimated work above this is refused up front


def check_time(param: str, seconds: float, description: str, limit: float = MAX_SECONDS) -> None:
    """Raise an InputError naming ``param`` when the estimated run time exceeds ``limit`` (24 h)."""
    from .errors import InputError
    if seconds <= limit:
        return
    raise InputError(param, f"{description} would take about {_duration(seconds)} on this machine (estimated from "
                            f"the costs measured by benchmarks/bench_memory.py); the limit is "
                            f"{_duration(limit)}: make it smaller")


def _duration(s: float) -> str:
    if s >= 365.25 * 86400:
        return f"{s / (365.25 * 86400):.3g} years"
    if s > 86400:
        return f"{s / 86400:.3g} days"
    if s >= 3600:
        return f"{s / 3600:.3g} h"
    return f"{s:.3g} s"


def end_with_parent(parent: int) -> None:
    """End this worker when the process that started it ends, even by ``kill -9`` (which runs no clean-up
    in the parent): on Linux the kernel sends SIGKILL (``prctl(PR_SET_PDEATHSIG)``); everywhere a daemon
    thread checks twice a second whether the parent changed (the worker was re-parented) and exits."""
    import threading
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)   # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:                      # the parent died before the line above
        os._exit(1)

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="aimc-parent-watch", daemon=True).start()
