"""NumPy's draws in compiled code: numba's Generator, handed over cheaply (imports numba: imported only where it is
installed).

numba repeats NumPy's samplers on the same bit generator, so a compiled loop draws the same numbers as
``rng.standard_normal(n)`` or ``rng.random(n)`` and leaves the Generator in the same state (tested); the normals at
about 3.5 instead of 9.4 ns per number on the 2-core machine class of the README.

A Generator passed to a numba function as such is unboxed on every call: three ``ctypes.cast`` and an NRT
allocation, 7-12 us measured on a trivial function (against 0.4 us for an int). The kernels called once per layer
and step (the network's pulse writes) and :func:`normal_fill` take instead the four addresses of
:func:`aimc_theory.kernel_cache.generator_words` (worked out once per bit generator) and rebuild numba's Generator
from them with :func:`generator_at`: the same struct numba's unboxing builds, the same function pointers, so the
same draws.
"""
from __future__ import annotations

from numba import njit, types
from numba.core import cgutils
from numba.core.extending import intrinsic
from numba.np.random.generator_core import _bit_gen_type

_GENERATOR = types.NumPyRandomGeneratorType("generator")


@intrinsic
def generator_at(typingctx, words):
    # numba's Generator from (state pointer, next_uint64, next_uint32, next_double addresses) (kernel_cache's
    # generator_words): the fields numba's unboxing fills, without the Python object (the proxy is zero-filled: no
    # parent, no meminfo, and NRT's incref and decref skip a null meminfo), so only the draws are available, as in
    # the kernels. numba's on-disk cache keys a kernel on its own file: a change here reaches the cached kernels of
    # kernels_pulses_jit and kernels_fire_jit only once those files change too
    if not (isinstance(words, types.UniTuple) and words.count == 4 and isinstance(words.dtype, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        state, next_uint64, next_uint32, next_double = cgutils.unpack_tuple(builder, args[0])
        bits = cgutils.create_struct_proxy(_bit_gen_type)(context, builder)
        bits.state_address = state
        bits.state = state
        bits.fnptr_next_uint64 = next_uint64
        bits.fnptr_next_uint32 = next_uint32
        bits.fnptr_next_double = next_double
        gen = cgutils.create_struct_proxy(_GENERATOR)(context, builder)
        gen.bit_generator = bits._getvalue()
        return gen._getvalue()
    return _GENERATOR(words), codegen


@njit(cache=True, nogil=True)
def normal_fill(words, out):
    # out (1-D, float64) <- rng.standard_normal(out.size), the draws in NumPy's order (words: generator_words(rng))
    rng = generator_at(words)
    for i in range(out.size):
        out[i] = rng.standard_normal()


from .kernel_cache import lock_compiles  # noqa: E402  (after every kernel is defined)

lock_compiles(globals())
