"""numba's on-disk cache shared by several processes (one compiles, the others wait and load it), and what the
compiled paths work out once per object (:class:`PerResponse`, :func:`generator_words`).

The compiled modules (:mod:`aimc_theory.kernels_chains_jit`, :mod:`aimc_theory.kernels_compose_jit`,
:mod:`aimc_theory.kernels_pulses_jit`, :mod:`aimc_theory.kernels_fire_jit`, :mod:`aimc_theory.kernels_random_jit`)
call :func:`lock_compiles` once their kernels are defined. This module imports nothing of the package (the compiled
modules import it).
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


# the lock files this process holds (read and written under numba's compiler lock): flock is not re-entrant (a second
# open() of the file waits for the first), and numba can compile a kernel again from inside its own compile (typing a
# call to it)
_HELD: set = set()


def _lock_compile(dispatcher) -> None:
    import contextlib
    import os
    try:
        import fcntl
    except ImportError:          # no flock (Windows): each process compiles for itself, as numba does
        return
    from numba.core.compiler_lock import global_compiler_lock
    compile_ = dispatcher.compile
    func = dispatcher.py_func
    path = os.path.join(dispatcher._cache._cache_path, f"{func.__module__}.{func.__qualname__}.compile-lock")

    def compile(sig):
        # numba's compiler lock first, then the file: a compile nested in another (a helper typed from its caller)
        # already holds numba's lock, so every thread takes the two in the same order (taken the other way round,
        # two threads could each hold one and wait for the other), and one thread of the process is in here at a time
        with global_compiler_lock:
            if path in _HELD:    # numba re-entered this kernel's compile (typing a call to it): the lock is ours
                return compile_(sig)
            try:
                handle = open(path, "a")
            except OSError:      # a read-only cache directory: no lock
                return compile_(sig)
            with contextlib.closing(handle):
                fcntl.flock(handle, fcntl.LOCK_EX)      # released when the handle closes
                _HELD.add(path)
                try:
                    return compile_(sig)
                finally:
                    _HELD.discard(path)

    dispatcher.compile = compile


class PerResponse:
    """What a compiled path found out about a response object (its kernel code, whether the kernel repeats the
    response's NumPy bits), worked out once per object: keyed by identity and holding the object, so that an id
    freed and reused by another response never hits; forgotten after ``limit`` objects. A computation that raises
    (a response the kernel does not cover) is not kept."""

    def __init__(self, limit: int = 64):
        self.limit = limit
        self._hits: dict = {}

    def get(self, obj, compute):
        """``compute()``'s value for ``obj``, computed on the first call for this object."""
        hit = self._hits.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        value = compute()
        if len(self._hits) >= self.limit:
            self._hits.clear()
        self._hits[id(obj)] = (obj, value)
        return value


_GENERATOR_WORDS = PerResponse(limit=16)


def generator_words(rng) -> tuple:
    """What compiled code needs to draw from a NumPy Generator as numba's Generator does: (the bit generator's state
    pointer, the addresses of its next_uint64, next_uint32 and next_double), for
    ``kernels_random_jit.generator_at``. numba works these out on every call that takes a Generator (~7-12 us);
    here once per bit generator (~2.5 us), then ~0.1 us. The Generator must stay alive while they are used."""
    bits = rng.bit_generator
    return _GENERATOR_WORDS.get(bits, lambda: _words(bits))


def _words(bits) -> tuple:
    import ctypes
    c = bits.ctypes
    address = lambda f: ctypes.cast(f, ctypes.c_void_p).value      # noqa: E731  (numba's unboxing does the same)
    return (c.state.value, address(c.next_uint64), address(c.next_uint32), address(c.next_double))
