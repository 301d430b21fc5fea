"""numba's on-disk cache shared by several processes: one compiles, the others wait and load it.

The compiled modules (:mod:`aimc_theory.kernels_chains_jit`, :mod:`aimc_theory.kernels_compose_jit`,
:mod:`aimc_theory.kernels_pulses_jit`) call :func:`lock_compiles` once their kernels are defined. This module imports
nothing of the package (the compiled modules import it).
"""
from __future__ import annotations


def lock_compiles(namespace: dict) -> None:
    """Make every cached numba kernel of a module (its ``globals()``) compile, or load from numba's on-disk cache,
    in one process at a time: a process that finds another compiling the same kernel waits for it (a file lock next
    to numba's cache) and then loads the result instead of compiling it again. On a fresh install the test
    command's processes (two pytest workers, the catalogue's two workers) each compiled the same kernels at the
    same time (~20 s of CPU per process for all of them)."""
    from numba.core.registry import CPUDispatcher
    for obj in list(namespace.values()):
        if isinstance(obj, CPUDispatcher) and getattr(obj._cache, "_cache_path", None):
            _lock_compile(obj)


def _lock_compile(dispatcher) -> None:
    import contextlib
    import os
    try:
        import fcntl
    except ImportError:          # no flock (Windows): each process compiles for itself, as numba does
        return
    compile_ = dispatcher.compile
    func = dispatcher.py_func
    path = os.path.join(dispatcher._cache._cache_path, f"{func.__module__}.{func.__qualname__}.compile-lock")

    def compile(sig):
        try:
            handle = open(path, "a")
        except OSError:          # a read-only cache directory: no lock
            return compile_(sig)
        with contextlib.closing(handle):
            fcntl.flock(handle, fcntl.LOCK_EX)      # released when the handle closes
            return compile_(sig)

    dispatcher.compile = compile
