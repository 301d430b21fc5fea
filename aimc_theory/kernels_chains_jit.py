"""The compiled code of :mod:`aimc_theory.kernels_chains` (imports numba: imported only where it is installed).

Module-level functions, so that numba's on-disk cache (``cache=True``) finds them again in the next process (a
function compiled inside a closure gets a new cache key every time and is compiled anew, ~10 s). Every function
repeats the NumPy path's floating-point operations one by one; see :mod:`aimc_theory.kernels_chains`.

A compiled function that calls another with a constant argument (``f(a, 0)``, ``g(w, True)``) makes numba compile
the callee once more for that constant's literal type (a first run compiles ~0.3-1 s per such copy); constants
passed between kernels are therefore typed, ``np.int64(0)``, ``np.bool_(True)`` (one compiled callee per argument
type; ``test_no_kernel_is_compiled_for_a_literal_argument`` keeps it so).
"""
from __future__ import annotations

import math

import ctypes

import numpy as np
from llvmlite import binding as _llvm, ir
from numba import carray, njit, types
from numba.extending import intrinsic

# NumPy's PCG64 stepped inline (pulse_affine, zs_loop); that algorithm is fixed, so numba's cache of this module,
# which would not notice an edit there, stays right
from .kernels_compose_jit import pcg_c4, pcg_double, pcg_draw, pcg_step

# NumPy's own vectorized transcendental functions (the SVML routines its AVX-512 loops call for float64 expm1,
# exp, pow and log1p, exported by its ufunc module): called one lane at a time they give NumPy's bits, which the C
# library's expm1/exp/pow/log1p do not (they differ in the last bit for ~5-10% of arguments). Where NumPy has no
# such routine the name is bound to the C library's function as a placeholder that is never called:
# :func:`aimc_theory.kernels_chains.numpy_math` then picks the C library's functions (mode 0) if they give NumPy's
# bits, or covers no response that needs them.
SVML = ("__svml_expm18_ha", "__svml_exp8_ha", "__svml_pow8_ha", "__svml_log1p8_ha")


def _bind_svml() -> bool:
    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:                     # NumPy 1.x
        from numpy.core import _multiarray_umath as umath
    lib = ctypes.CDLL(umath.__file__)
    found = True
    for name in SVML:
        try:
            addr = ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
        except AttributeError:
            found = False
            addr = ctypes.cast(ctypes.CDLL(None).expm1, ctypes.c_void_p).value     # a placeholder, never called
        _llvm.add_symbol(name, addr)
    return found


HAVE_SVML = _bind_svml()


def _lane0(builder, name, args):
    # name(<8 x double> ...) on vectors holding the arguments in lane 0 (1.0 elsewhere), lane 0 of the result
    d = ir.DoubleType()
    v = ir.VectorType(d, 8)
    fn = builder.module.globals.get(name) or ir.Function(builder.module, ir.FunctionType(v, [v] * len(args)), name)
    zero = ir.Constant(ir.IntType(32), 0)
    vecs = [builder.insert_element(ir.Constant(v, [1.0] * 8), a, zero) for a in args]
    return builder.extract_element(builder.call(fn, vecs), zero)


@intrinsic
def _svml_expm1(typingctx, x):
    return types.float64(types.float64), lambda context, builder, sig, args: _lane0(builder, SVML[0], args)


@intrinsic
def _svml_exp(typingctx, x):
    return types.float64(types.float64), lambda context, builder, sig, args: _lane0(builder, SVML[1], args)


@intrinsic
def _svml_pow(typingctx, x, y):
    return (types.float64(types.float64, types.float64),
            lambda context, builder, sig, args: _lane0(builder, SVML[2], args))


@intrinsic
def _svml_log1p(typingctx, x):
    return types.float64(types.float64), lambda context, builder, sig, args: _lane0(builder, SVML[3], args)


def _lanes8(builder, name, args):
    # name(<8 x double>) on the eight arguments, the eight results as a tuple
    d = ir.DoubleType()
    v = ir.VectorType(d, 8)
    fn = builder.module.globals.get(name) or ir.Function(builder.module, ir.FunctionType(v, [v]), name)
    vec = ir.Constant(v, [1.0] * 8)
    for k, a in enumerate(args):
        vec = builder.insert_element(vec, a, ir.Constant(ir.IntType(32), k))
    out = builder.call(fn, [vec])
    return [builder.extract_element(out, ir.Constant(ir.IntType(32), k)) for k in range(8)]


@intrinsic
def _svml_exp_x8(typingctx, a0, a1, a2, a3, a4, a5, a6, a7):
    f = types.float64
    sig = types.UniTuple(f, 8)(f, f, f, f, f, f, f, f)

    def codegen(context, builder, signature, args):
        return context.make_tuple(builder, signature.return_type, _lanes8(builder, SVML[1], args))

    return sig, codegen


@intrinsic
def _svml_expm1_x8(typingctx, a0, a1, a2, a3, a4, a5, a6, a7):
    f = types.float64
    sig = types.UniTuple(f, 8)(f, f, f, f, f, f, f, f)

    def codegen(context, builder, signature, args):
        return context.make_tuple(builder, signature.return_type, _lanes8(builder, SVML[0], args))

    return sig, codegen


@njit(cache=True, nogil=True)
def np_expm1_array(x, out, mode):
    # out = NumPy's expm1(x), eight lanes per call of its SVML routine (mode 1), else the C library's
    n = x.shape[0]
    if mode != 1:
        for i in range(n):
            out[i] = math.expm1(x[i])
        return
    m = n - n % 8
    for i in range(0, m, 8):
        out[i], out[i + 1], out[i + 2], out[i + 3], out[i + 4], out[i + 5], out[i + 6], out[i + 7] = \
            _svml_expm1_x8(x[i], x[i + 1], x[i + 2], x[i + 3], x[i + 4], x[i + 5], x[i + 6], x[i + 7])
    for i in range(m, n):
        out[i] = _svml_expm1(x[i])


@njit(cache=True, nogil=True)
def exp_arg(w, dw, d):
    # the expm1 argument of the exponential family's expected update (kind 4): b - copysign(a, dw) (w - shift)
    return d[2] - math.copysign(d[1], dw) * (w - d[4])


@njit(cache=True, nogil=True)
def exp_finish(w, dw, e, d):
    # the update from e = expm1(exp_arg): q = e c, w + q dw, clipped (eu's kind 4, operation by operation)
    out = (e * d[3]) * dw + w
    return clip(out, d[5], d[6])


@njit(cache=True, nogil=True)
def np_exp_array(x, out, mode):
    # out = NumPy's exp(x), eight lanes per call of its SVML routine (mode 1), else the C library's
    n = x.shape[0]
    if mode != 1:
        for i in range(n):
            out[i] = math.exp(x[i])
        return
    m = n - n % 8
    for i in range(0, m, 8):
        out[i], out[i + 1], out[i + 2], out[i + 3], out[i + 4], out[i + 5], out[i + 6], out[i + 7] = \
            _svml_exp_x8(x[i], x[i + 1], x[i + 2], x[i + 3], x[i + 4], x[i + 5], x[i + 6], x[i + 7])
    for i in range(m, n):
        out[i] = _svml_exp(x[i])


@njit(cache=True, nogil=True)
def np_expm1(x, mode):
    # NumPy's float64 expm1: its SVML routine (mode 1) or the C library's (mode 0)
    return _svml_expm1(x) if mode == 1 else math.expm1(x)


@njit(cache=True, nogil=True)
def np_exp(x, mode):
    return _svml_exp(x) if mode == 1 else math.exp(x)


@njit(cache=True, nogil=True)
def np_pow(x, y, mode):
    return _svml_pow(x, y) if mode == 1 else x ** y


@njit(cache=True, nogil=True)
def np_log1p(x, mode):
    return _svml_log1p(x) if mode == 1 else math.log1p(x)


@njit(cache=True, nogil=True)
def math_vec(x, y, which, mode):
    # the four functions on an array (y: pow's exponent), for the check that they give NumPy's bits
    out = np.empty_like(x)
    for i in range(x.size):
        if which == 0:
            out[i] = np_expm1(x[i], mode)
        elif which == 1:
            out[i] = np_exp(x[i], mode)
        elif which == 2:
            out[i] = np_pow(x[i], y, mode)
        else:
            out[i] = np_log1p(x[i], mode)
    return out


_MODE: list = []


def numpy_math() -> int:
    """Which of these compiled expm1/exp/pow/log1p give NumPy's float64 bits on this machine (checked once per
    process on 10^5 arguments each): 1 NumPy's own SVML routines (its AVX-512 loops), 0 the C library's (NumPy's
    scalar loops), -1 neither. (Plain Python, here beside the routines it checks: callers below the chain kernels,
    ``update_models``, ask without importing ``kernels_chains``.)"""
    if not _MODE:
        rng = np.random.default_rng(2)
        x = np.concatenate([rng.uniform(-4.0, 4.0, 60000), rng.standard_normal(20000) * 1e-3,
                            rng.uniform(-30.0, 30.0, 20000)])
        q = np.abs(x[:40000])
        found = -1
        for mode in ((1, 0) if HAVE_SVML else (0,)):
            with np.errstate(all="ignore"):
                ok = (np.array_equal(math_vec(x, 0.0, 0, mode), np.expm1(x), equal_nan=True)
                      and np.array_equal(math_vec(x, 0.0, 1, mode), np.exp(x), equal_nan=True)
                      and all(np.array_equal(math_vec(q, g, 2, mode), np.power(q, g), equal_nan=True)
                              for g in (0.3, 0.7, 1.5, 3.2))
                      and np.array_equal(math_vec(q, 0.0, 3, mode), np.log1p(q), equal_nan=True))
            if ok:
                found = mode
                break
        _MODE.append(found)
    return _MODE[0]


@njit(cache=True, nogil=True)
def factors_np(u, dw, kind, a, b, c, mode):
    # factors() with NumPy's pow/expm1 (np_pow, np_expm1 of ``mode``): the bits of its vectorized evaluation
    if kind == 3:
        q = 1.0 - math.copysign(a, dw) * u
        if q < 0.0:
            q = 0.0
        if b == 0.5:
            q = math.sqrt(q)
        elif b != 1.0:
            q = np_pow(q, b, mode)
        return q, 0.0
    if kind == 4:
        return np_expm1(b - math.copysign(a, dw) * u, mode) * c, 0.0
    return factors(u, dw, kind, a, b, c)


@njit(cache=True, nogil=True)
def factors(u, dw, kind, a, b, c):
    # the per-element (F, G) of the expected update at u = w - shift (aimc_theory.kernels._factors): the step is
    # dw F - |dw| G for kinds 0-2 (ideal, soft bounds, linear), q dw for kinds 3-4 (power, exponential; q of the
    # step's sign)
    if kind == 0:
        return 1.0, 0.0
    if kind == 1:
        return 1.0, (u - b) * a
    if kind == 2:
        return 1.0 - (b / a) * u, u * (1.0 / a) - b
    if kind == 3:
        q = 1.0 - math.copysign(a, dw) * u
        if q < 0.0:
            q = 0.0
        if b == 0.5:
            q = math.sqrt(q)
        elif b != 1.0:
            q = q ** b
        return q, 0.0
    return math.expm1(b - math.copysign(a, dw) * u) * c, 0.0


@njit(cache=True, nogil=True)
def clip(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


@njit(cache=True, nogil=True)
def eu(w, dw, d):
    # expected_update_fg (response.py's fg / q_directed), operation by operation; d: the device's code
    kind = int(d[0])
    F, G = factors_np(w - d[4], dw, kind, d[1], d[2], d[3], int(d[16]))
    if kind <= 1:
        out = (dw - abs(dw) * G) + w
    elif kind == 2:
        out = (dw * F - abs(dw) * G) + w
    else:
        out = F * dw + w
    return clip(out, d[5], d[6])


@njit(cache=True, nogil=True)
def eu_p(w, dw, d, pe, i):
    # the write of the array P (or Analog SGD's W): eu(), or for a device with its own per-element shapes, bounds
    # and offsets (code 9, Device.update's reshaped path): u = w - offset, u + dw s q(k u) of the step's sign
    # (s, k: the element's scale and stretch; q = a + b x, the affine response), clipped to the element's range
    # (code 10: the exponential step of alt_last_exp, q = c exp(k x + m) + d with NumPy's exp of mode d[16])
    if d[0] != 9.0 and d[0] != 10.0:
        return eu(w, dw, d)
    u = w - pe[6, i] if d[18] != 0.0 else w
    if d[0] == 10.0:
        if dw > 0.0:
            q = pe[0, i] * (d[1] * np_exp(d[2] * (pe[2, i] * u) + d[3], int(d[16])) + d[4])
        else:
            q = pe[1, i] * (d[5] * np_exp(d[6] * (pe[3, i] * u) + d[7], int(d[16])) + d[8])
    elif dw > 0.0:
        q = pe[0, i] * (d[1] + d[2] * (pe[2, i] * u))
    else:
        q = pe[1, i] * (d[3] + d[4] * (pe[3, i] * u))
    x = u + dw * q
    if x < pe[4, i]:
        x = pe[4, i]
    elif x > pe[5, i]:
        x = pe[5, i]
    return x + pe[6, i] if d[18] != 0.0 else x


@intrinsic
def wide_vectors(typingctx):
    """Called first in a kernel: LLVM may vectorize that kernel's loops with 512-bit registers where the CPU has
    them (the function attribute "prefer-vector-width"="512"; LLVM's default on Intel's AVX-512 CPUs is 256 bits, on
    AMD's Zen 4 and 5 already 512, where this changes nothing). For the elementwise passes only: each lane does the
    same IEEE operations at either width (no reduction is reordered, nothing is contracted into a fused
    multiply-add), so the bits do not change (which of two NaNs an operation returns is LLVM's choice at any width);
    the BLAS kernels of the same step use 512-bit registers already, so it should cost no further down-clocking.
    Measured on the network's RL v1 step (Intel Xeon, AVX-512, 200k weights): 1.23 -> 0.95 ns per weight. Where
    llvmlite refuses the attribute, nothing is added (256 bits, the same bits)."""
    def codegen(context, builder, signature, args):
        try:        # llvmlite's attribute set checks names against LLVM's enumerated attributes; this is a string one
            set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        except Exception:  # noqa: BLE001 - only a speed hint
            pass
        return context.get_dummy_value()

    return types.none(), codegen


@njit(cache=True, nogil=True)
def _affine_el(x, wi, f0, f1, g0, g1, lo, hi):
    # affine_expected_update of one element (x = scale * dw): its operations in its order (so its bits: x * 1.0 is x);
    # the branches on the coefficients are loop-invariant in the callers' loops (hoisted: the loops vectorize)
    t = 0.0
    if g1 != 0.0:
        G = wi * g1
        if g0 != 0.0:
            G = G + g0
        t = abs(x) * G
    elif g0 != 0.0:
        t = abs(x)
        if g0 != 1.0:
            t = t * g0
    if f1 != 0.0:
        F = wi * f1
        F = F + f0
        x = x * F
    elif f0 != 1.0:
        x = x * f0
    if g1 != 0.0 or g0 != 0.0:
        x = x - t
    x = x + wi
    x = lo if x < lo else x
    return hi if x > hi else x


@njit(cache=True, nogil=True)
def affine(w, dw, d):
    # affine_expected_update with the device's code: f0, f1, g0, g1 = d[12:16], the bounds d[5], d[6]
    return _affine_el(dw, w, d[12], d[13], d[14], d[15], d[5], d[6])


@njit(cache=True, nogil=True)
def qpm(w, up, d):
    # q+(w) (up) or q-(w) as the family's NumPy forms compute them (the lambdas of response/families.py)
    kind = int(d[7])
    u = w - d[10] if d[10] != 0.0 else w
    if kind == 0:
        return 1.0
    if kind == 1:            # softbounds: 1 -+ (w - sp)/tau
        x = (u - d[9]) / d[8]
        return 1.0 - x if up else 1.0 + x
    if kind == 2:            # linear: (1 + c)(1 - w/tau), (1 - c)(1 + w/tau)
        x = u / d[8]
        return (1.0 + d[9]) * (1.0 - x) if up else (1.0 - d[9]) * (1.0 + x)
    x = u / d[8]
    if kind == 4:            # exponential: expm1(gamma (1 -+ w/tau)) / expm1(gamma)
        return np_expm1(d[9] * (1.0 - x if up else 1.0 + x), int(d[16])) / d[17]
    q = 1.0 - x if up else 1.0 + x      # power: max(1 -+ w/tau, 0)^gamma (NumPy: sqrt for 1/2, q for 1)
    if q < 0.0:
        q = 0.0
    if d[9] == 0.5:
        return math.sqrt(q)
    return q if d[9] == 1.0 else np_pow(q, d[9], int(d[16]))


@njit(cache=True, nogil=True)
def eu_vec(w, dw, d):
    out = np.empty_like(w)
    for i in range(w.size):
        out[i] = eu(w[i], dw[i], d)
    return out


@njit(cache=True, nogil=True)
def power_half_into(w, dw, out, inv_tau, lo, hi):
    # expected_update_fg of the power family at gamma = 1/2 (P1 Table 8's setting) on whole arrays: q = sqrt(max(1 -
    # sign(dw) w/tau, 0)) (families._power_qd), w + q dw, clipped; its operations element by element (its bits)
    for i in range(dw.size):
        d = dw[i]
        wi = w[i]
        q = math.copysign(inv_tau, d) * wi
        q = 1.0 - q
        if not (q >= 0.0 or q != q):      # np.maximum(q, 0.0): NaN stays NaN
            q = 0.0
        x = math.sqrt(q) * d
        x = x + wi
        x = lo if x < lo else x
        x = hi if x > hi else x
        out[i] = x


@njit(cache=True, nogil=True)
def exp_arg_into(w, dw, g, g_tau, out):
    # the exponential family's directed q (families._exp_qd) up to its expm1: gamma - sign(dw) (gamma/tau) w, its
    # operations element by element (NumPy's copysign, product, difference: the same bits)
    for i in range(dw.size):
        out[i] = g - math.copysign(g_tau, dw[i]) * w[i]


@njit(cache=True, nogil=True)
def exp_finish_into(w, dw, q, inv_den, lo, hi):
    # expected_update_fg after np.expm1 wrote q in place: q / (e^gamma - 1) as q * (1 / den), then w + q dw clipped
    # (families._exp_qd and expected_update_fg's in-place passes, element by element: the same bits), into q
    for i in range(dw.size):
        x = q[i] * inv_den
        x = x * dw[i]
        x = x + w[i]
        x = lo if x < lo else x
        q[i] = hi if x > hi else x


@njit(cache=True, nogil=True)
def affine_vec(w, dw, d):
    out = np.empty_like(w)
    for i in range(w.size):
        out[i] = affine(w[i], dw[i], d)
    return out


@njit(cache=True, nogil=True)
def affine_inplace(w, dw, out, scale, f0, f1, g0, g1, lo, hi):
    # affine_expected_update(w, scale * dw) on whole arrays into out (a third array: see affine_into_dw for out = dw),
    # one pass instead of ten (~3x faster than calling affine() per element)
    wide_vectors()
    for i in range(dw.size):
        out[i] = _affine_el(dw[i] * scale, w[i], f0, f1, g0, g1, lo, hi)


@njit(cache=True, nogil=True)
def affine_into_dw(w, dw, scale, f0, f1, g0, g1, lo, hi):
    # affine_inplace with out = dw. Its own loop because LLVM vectorizes a loop only after a run-time check that the
    # arrays written do not overlap those read: passing dw as out fails the check and runs the scalar loop (4x slower,
    # measured on the network's 784 x 256 writes)
    wide_vectors()
    for i in range(dw.size):
        dw[i] = _affine_el(dw[i] * scale, w[i], f0, f1, g0, g1, lo, hi)


@njit(cache=True, nogil=True)
def affine_into_w(w, dw, scale, f0, f1, g0, g1, lo, hi):
    # affine_inplace with out = w (the network's in-place writes, Rank1Batch.inplace: the array written is the one
    # read, so the loop runs over three arrays fewer in the cache per step); its own loop, as affine_into_dw's
    wide_vectors()
    for i in range(w.size):
        w[i] = _affine_el(dw[i] * scale, w[i], f0, f1, g0, g1, lo, hi)


@njit(cache=True, nogil=True)
def mix_into(w, p, gamma, out):
    # Residual Learning's read-out w + gamma p in one pass (NumPy: gamma * p, then w + that; the same two roundings)
    wide_vectors()
    for i in range(w.size):
        out[i] = w[i] + gamma * p[i]


@njit(cache=True, nogil=True)
def remix_at(w, p, gamma, out, elem, cols, inp):
    # mix_into for the weights elem (flat indices, repeats allowed) and every row of the columns cols of a tile of inp
    # columns: the rest of out already holds w + gamma p (the read-out of a step whose write changed only these)
    for k in range(elem.size):
        e = elem[k]
        out[e] = w[e] + gamma * p[e]
    for c in cols:
        for e in range(c, w.size, inp):
            out[e] = w[e] + gamma * p[e]


@njit(cache=True, nogil=True)
def transfer_mix(w, r, p, beta, gamma, f0, f1, g0, g1, lo, hi, out, mixed):
    # Residual Learning's transfer and read-out in one pass: out = affine_inplace's U_q(w, beta r), mixed = out +
    # gamma p (mix_into's two roundings): the same bits as the two passes, W and P read once (measured 0.13 -> 0.09
    # ms per step on the network's 235k weights)
    wide_vectors()
    for i in range(w.size):
        x = _affine_el(r[i] * beta, w[i], f0, f1, g0, g1, lo, hi)
        out[i] = x
        mixed[i] = x + gamma * p[i]


@njit(cache=True, nogil=True)
def transfer_mix_into(w, r, p, beta, gamma, f0, f1, g0, g1, lo, hi, mixed):
    # transfer_mix with out = w (written in place) and mixed a buffer of the caller's: the network's in-place
    # updates, where the fresh arrays of every step (two of 1.6 MB on the first layer) made the step's working set
    # outgrow the cache a shared host leaves it (every pass of the step got slower, the GEMMs too; measured)
    wide_vectors()
    for i in range(w.size):
        x = _affine_el(r[i] * beta, w[i], f0, f1, g0, g1, lo, hi)
        w[i] = x
        mixed[i] = x + gamma * p[i]


@njit(cache=True, nogil=True)
def rl_step_inout(p, dwm, w, beta, gamma, pf0, pf1, pg0, pg1, plo, phi, f0, f1, g0, g1, lo, hi):
    # Residual Learning's step on the network's in-place path in one pass: affine_into_w's write of P by the change
    # dwm, then transfer_mix_into's transfer of that P into W and its read-out, element by element (the same
    # operations in the same order: the same bits as the two passes) with P read once (0.30 -> 0.25 ms per step on
    # the first layer's 200k weights). The read-out goes into dwm itself, read just before in the same iteration:
    # no array of its own (whose first write would fetch its lines: one stream of the seven fewer)
    wide_vectors()
    for i in range(w.size):
        pn = _affine_el(dwm[i], p[i], pf0, pf1, pg0, pg1, plo, phi)
        p[i] = pn
        x = _affine_el(pn * beta, w[i], f0, f1, g0, g1, lo, hi)
        w[i] = x
        dwm[i] = x + gamma * pn


@njit(cache=True, nogil=True)
def q_vec(w, d, up):
    out = np.empty_like(w)
    for i in range(w.size):
        out[i] = qpm(w[i], up, d)
    return out


@njit(cache=True, nogil=True)
def _block(a, lo, n):
    # NumPy's pairwise_sum for n <= 128: eight running sums, combined as a tree, then the tail
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    m = n - (n % 8)
    while i < m:
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True, nogil=True)
def pairwise(a, lo, n):
    # NumPy's pairwise summation (add.reduce of a contiguous run), for the bits of its chain means: blocks of <= 128
    # summed by _block, larger runs split at n2 = n/2 rounded down to a multiple of 8, left + right. Evaluated with
    # an explicit stack (post-order): numba's cache cannot reload a recursive function (it crashes)
    if n <= 128:
        return _block(a, lo, n)
    st_lo = np.empty(64, dtype=np.int64)
    st_n = np.empty(64, dtype=np.int64)
    st_s = np.zeros(64, dtype=np.int64)
    vals = np.empty(64)
    top, nv = 0, 0
    st_lo[0], st_n[0], st_s[0] = lo, n, 0
    while top >= 0:
        l, m = st_lo[top], st_n[top]
        if m <= 128:
            vals[nv] = _block(a, l, m)
            nv += 1
            top -= 1
            continue
        n2 = m // 2
        n2 -= n2 % 8
        if st_s[top] == 0:
            st_s[top] = 1
            top += 1
            st_lo[top], st_n[top], st_s[top] = l, n2, 0
        elif st_s[top] == 1:
            st_s[top] = 2
            top += 1
            st_lo[top], st_n[top], st_s[top] = l + n2, m - n2, 0
        else:
            right = vals[nv - 1]
            vals[nv - 2] = vals[nv - 2] + right
            nv -= 1
            top -= 1
    return vals[0]


@intrinsic
def fma(typingctx, a, b, c):
    """a b + c with one rounding (LLVM's llvm.fma): the operation of the BLAS kernels' inner products."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        d = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [d], ir.FunctionType(d, [d, d, d]))
        return builder.call(fn, args)

    return sig, codegen


@njit(cache=True, nogil=True)
def vec_kind(d):
    # whether eu_into covers the code d: the kinds whose arithmetic vectorizes (ideal, soft bounds, linear, power at
    # gamma 1/2 or 1; not the calls of expm1/pow, not the per-element codes 9, 10)
    kind = d[0]
    return kind == 0.0 or kind == 1.0 or kind == 2.0 or (kind == 3.0 and (d[2] == 0.5 or d[2] == 1.0))


@njit(cache=True, nogil=True)
def eu_into(w, g, scale, d):
    # w[i] = eu(w[i], scale * g[i], d) for every i, for a code vec_kind covers: eu's operations, element by element,
    # with the kind's branch taken once outside the loop. LLVM neither hoists eu's branches out of the loop of the
    # chains loop nor vectorizes it there (a loop that writes several arrays under branches); these loops over two
    # arrays vectorize (RL v1 on 2000 scalar chains: 12.2 -> 5.5 ns per chain-step, measured)
    kind = int(d[0])
    a, b, sh, lo, hi = d[1], d[2], d[4], d[5], d[6]
    n = w.size
    if kind == 0:
        for i in range(n):
            x = w[i]
            dw = scale * g[i]
            out = (dw - abs(dw) * 0.0) + x
            w[i] = lo if out < lo else (hi if out > hi else out)
    elif kind == 1:
        for i in range(n):
            x = w[i]
            dw = scale * g[i]
            G = ((x - sh) - b) * a
            out = (dw - abs(dw) * G) + x
            w[i] = lo if out < lo else (hi if out > hi else out)
    elif kind == 2:
        ba = b / a
        ia = 1.0 / a
        for i in range(n):
            x = w[i]
            dw = scale * g[i]
            u = x - sh
            F = 1.0 - ba * u
            G = u * ia - b
            out = (dw * F - abs(dw) * G) + x
            w[i] = lo if out < lo else (hi if out > hi else out)
    elif b == 0.5:
        for i in range(n):
            x = w[i]
            dw = scale * g[i]
            q = 1.0 - math.copysign(a, dw) * (x - sh)
            q = math.sqrt(0.0 if q < 0.0 else q)
            out = q * dw + x
            w[i] = lo if out < lo else (hi if out > hi else out)
    else:
        for i in range(n):
            x = w[i]
            dw = scale * g[i]
            q = 1.0 - math.copysign(a, dw) * (x - sh)
            out = (0.0 if q < 0.0 else q) * dw + x
            w[i] = lo if out < lo else (hi if out > hi else out)


@njit(cache=True, nogil=True)
def pe_into(w, g, scale, d, pe, arg, e):
    # w[i] = eu_p(w[i], scale * g[i], d, pe, i) for every i, for the per-element codes 9 (affine) and 10 (exponential
    # step): eu_p's operations with the step's direction selected, not branched to; code 10's exponentials of every
    # element first (into e, their arguments in arg), NumPy's exp eight at a time (np_exp_array: np_exp's numbers)
    n = w.size
    off = d[18] != 0.0
    if d[0] == 10.0:
        for i in range(n):
            u = w[i] - pe[6, i] if off else w[i]
            dw = scale * g[i]
            arg[i] = d[2] * (pe[2, i] * u) + d[3] if dw > 0.0 else d[6] * (pe[3, i] * u) + d[7]
        np_exp_array(arg, e, int(d[16]))
        for i in range(n):
            u = w[i] - pe[6, i] if off else w[i]
            dw = scale * g[i]
            q = pe[0, i] * (d[1] * e[i] + d[4]) if dw > 0.0 else pe[1, i] * (d[5] * e[i] + d[8])
            x = u + dw * q
            lo, hi = pe[4, i], pe[5, i]
            x = lo if x < lo else (hi if x > hi else x)
            w[i] = x + pe[6, i] if off else x
    else:
        a_p, b_p, a_m, b_m = d[1], d[2], d[3], d[4]
        for i in range(n):
            u = w[i] - pe[6, i] if off else w[i]
            dw = scale * g[i]
            q = pe[0, i] * (a_p + b_p * (pe[2, i] * u)) if dw > 0.0 else pe[1, i] * (a_m + b_m * (pe[3, i] * u))
            x = u + dw * q
            lo, hi = pe[4, i], pe[5, i]
            x = lo if x < lo else (hi if x > hi else x)
            w[i] = x + pe[6, i] if off else x


@njit(cache=True, nogil=True)
def affine_loop(w, r, scale, d):
    # w[i] = affine(w[i], scale * r[i], d) for every i, the coefficients read once (so the loop vectorizes, as
    # affine_into_w's)
    f0, f1, g0, g1, lo, hi = d[12], d[13], d[14], d[15], d[5], d[6]
    for i in range(w.size):
        w[i] = _affine_el(r[i] * scale, w[i], f0, f1, g0, g1, lo, hi)


@njit(cache=True, nogil=True)
def v2_el(W, S, H, flips, i, keep, beta, dwmin, qp, qm, lo, hi):
    # one element of RL v2's EMA buffer and threshold pulse (the loop's rule 1; S the read P, with its read noise if
    # any), given q+ and q- at W[i]: the pulse's step selected, not branched to (the same bits: the step not taken is
    # not used)
    hh = keep * H[i] + beta * S[i]
    s = 0.0
    if abs(hh) >= dwmin:
        s = 1.0 if hh > 0.0 else (-1.0 if hh < 0.0 else 0.0)
    H[i] = hh - s * dwmin
    w = W[i]
    moved = w + dwmin * (qp if s > 0.0 else -qm)
    w = moved if s != 0.0 else w
    W[i] = lo if w < lo else (hi if w > hi else w)
    flips[i] += abs(s)


@njit(cache=True, nogil=True)
def read_p(P, buf, rn, rng):
    # RL's read of P for its transfer: P itself without read noise, else P + rn xi in buf, every element's xi drawn
    # first, in order (the draws of the element-by-element loop)
    if rn == 0.0:
        return P
    for i in range(P.shape[0]):
        buf[i] = P[i] + rn * rng.standard_normal()
    return buf


@njit(cache=True, nogil=True)
def power_base(w, sh, t):
    # qpm's power family before its exponent: max(1 - x, 0), max(1 + x, 0) with x = (w - shift)/tau
    u = w - sh if sh != 0.0 else w
    x = u / t
    qp = 1.0 - x
    qm = 1.0 + x
    return (0.0 if qp < 0.0 else qp), (0.0 if qm < 0.0 else qm)


@njit(cache=True, nogil=True)
def v2_kind(d):
    # whether v2_into covers the q code of d: qpm's kinds whose arithmetic vectorizes (0-2, power at gamma 1/2 or 1)
    kind = d[7]
    return kind == 0.0 or kind == 1.0 or kind == 2.0 or (kind == 3.0 and (d[9] == 0.5 or d[9] == 1.0))


@njit(cache=True, nogil=True)
def v2_into(W, P, H, flips, keep, beta, dwmin, d):
    # RL v2's buffer and pulse for every element (P: the read residual array), for the q codes v2_kind covers: qpm's
    # operations with the kind's branch outside the loop; False (nothing written) for the others
    kind = int(d[7])
    sh, t, c, lo, hi = d[10], d[8], d[9], d[5], d[6]
    n = W.shape[0]
    if kind == 0:
        for i in range(n):
            v2_el(W, P, H, flips, i, keep, beta, dwmin, 1.0, 1.0, lo, hi)
    elif kind == 1:
        for i in range(n):
            u = W[i] - sh if sh != 0.0 else W[i]
            x = (u - c) / t
            v2_el(W, P, H, flips, i, keep, beta, dwmin, 1.0 - x, 1.0 + x, lo, hi)
    elif kind == 2:
        for i in range(n):
            u = W[i] - sh if sh != 0.0 else W[i]
            x = u / t
            v2_el(W, P, H, flips, i, keep, beta, dwmin, (1.0 + c) * (1.0 - x), (1.0 - c) * (1.0 + x), lo, hi)
    elif kind == 3 and c == 0.5:
        for i in range(n):
            qp, qm = power_base(W[i], sh, t)
            v2_el(W, P, H, flips, i, keep, beta, dwmin, math.sqrt(qp), math.sqrt(qm), lo, hi)
    elif kind == 3 and c == 1.0:
        for i in range(n):
            qp, qm = power_base(W[i], sh, t)
            v2_el(W, P, H, flips, i, keep, beta, dwmin, qp, qm, lo, hi)
    else:
        return False
    return True


@njit(cache=True, nogil=True)
def matmul_fma_t(X, HT, XT, OT):
    # X (n, D) @ H (D, E), H given transposed (HT (E, D) contiguous), written transposed: OT (E, n). Each element
    # is a sequential fused multiply-add over k, OpenBLAS's dgemm order for these shapes (the caller checks the bits
    # against NumPy's product before relying on it). The chains run in the inner loop (X copied transposed into XT
    # (D, n) first), so it vectorizes across chains: 500 chains x D = 10, 2.9 -> 1.5 ns per element of the product
    # (the loop over k innermost, per element, does not vectorize)
    n, D = X.shape
    E = HT.shape[0]
    for i in range(n):
        for k in range(D):
            XT[k, i] = X[i, k]
    for j in range(E):
        o = OT[j]
        for i in range(n):
            o[i] = 0.0
        for k in range(D):
            h = HT[j, k]
            x = XT[k]
            for i in range(n):
                o[i] = fma(x[i], h, o[i])


@njit(cache=True, nogil=True)
def readout(rule, W, P, Q, C, gamma, chop, R, D):
    n = W.shape[0]
    if gamma == 0.0:
        for i in range(n):
            R[i] = W[i]
    elif rule == 2:
        if chop != 0.0 and D == 1:
            for i in range(n):
                R[i] = W[i] + gamma * (C[i] * (P[i] - Q[i]))
        elif chop != 0.0:
            for c_ in range(n // D):
                for i in range(c_ * D, c_ * D + D):
                    R[i] = W[i] + gamma * (C[c_] * (P[i] - Q[i]))
        else:
            for i in range(n):
                R[i] = W[i] + gamma * (P[i] - Q[i])
    else:
        for i in range(n):
            R[i] = W[i] + gamma * P[i]


@njit(cache=True, nogil=True)
def loop(ints, f, dp, pe, dw_, W, P, Q, Qr, C, H, flips, R, G, Hm, Atb, s1, s2, traj, rng, chopper, k0, k1, steps,
         start, record_every, wpar, wscale, qacc, qtraj, wtraj, tracing, seen, B1, B2, cst, cinline):
    # W, P, Q, Qr, H, R, G, s1, s2: (chains x D) flat, chain-major; C, flips: per chain; traj (records, D).
    # objective 0: the scalar quadratic (D = 1); 1: least squares with the full-batch gradient R Hm - Atb.
    # E-RIDER's chopper: ``cinline``, its PCG64 stepped here from the words cst (high, low, inc high, inc low; advanced
    # in place: the numbers of chopper.random()), else chopper.random()
    rule, every, step0, laplace, objective, D = ints[0], ints[1], ints[2], ints[3], ints[4], ints[5]
    lr, beta, gamma, eta, rn, dwmin, chop = f[0], f[1], f[2], f[3], f[4], f[5], f[6]
    L, ws, noise, scale = f[7], f[8], f[9], f[10]
    neg_lr = -lr
    keep = 1.0 - beta
    n = W.shape[0]
    chains = n // D
    wstart, wevery, groups = wpar[0], wpar[1], wpar[2]
    m = n // groups
    affine_w = dw_[11] != 0.0
    # exponential writes with NumPy's SVML expm1: the arguments of every element first, expm1 eight at a time
    batch_p = dp[0] == 4.0 and dp[16] == 1.0 and rule != 4
    batch_w = dw_[0] == 4.0 and dw_[16] == 1.0 and rule == 0
    R2 = R.reshape((chains, D))
    XT = np.empty((D, chains) if objective == 1 else (1, 1))    # least squares: the product's buffers
    OT = np.empty((D, chains) if objective == 1 else (1, 1))
    CU = np.empty(chains if cinline else 1)                      # E-RIDER: a step's uniforms of the chopper
    c_hi, c_lo = cst[0], cst[1]
    c4h, c4l = pcg_c4(cst[2], cst[3])
    readout(rule, W, P, Q, C, gamma, chop, R, D)
    for k in range(k0, k1):
        if wstart >= 0:                          # QWindow: before the step, on its read-out and state
            if k % wevery == 0:
                r = k // wevery
                for g in range(groups):
                    qtraj[r, g] = pairwise(Q, g * m, m) / m
                    wtraj[r, g] = pairwise(R, g * m, m) / m
            if k > wstart:
                for i in range(n):
                    qacc[i] += Q[i] * wscale
        if tracing:                              # Trace: every step's read-out (first coordinate), before the step
            for c_ in range(chains):
                seen[k, c_] = R[c_ * D]
        # the gradient at the read-out, every element's noise drawn in order (objectives' grad, op by op)
        if objective == 0:
            for i in range(n):
                if noise != 0.0:
                    g = rng.laplace(0.0, scale) if laplace else rng.standard_normal() * noise
                    G[i] = g + ((R[i] - ws) if L == 1.0 else L * (R[i] - ws))
                else:
                    G[i] = L * (R[i] - ws)
        else:
            matmul_fma_t(R2, Hm, XT, OT)
            for c_ in range(chains):
                for j in range(D):
                    i = c_ * D + j
                    g = OT[j, c_] - Atb[j]
                    if noise != 0.0:
                        g = g + (rng.laplace(0.0, scale) if laplace else noise * rng.standard_normal())
                    G[i] = g
        if batch_p:                              # the array written with lr g: new values into B2
            X = W if rule == 3 else P
            for i in range(n):
                g = G[i]
                if rule == 2 and chop != 0.0:
                    g = g * C[i // D if D > 1 else i]
                B1[i] = neg_lr * g
                B2[i] = exp_arg(X[i], B1[i], dp)
            np_expm1_array(B2, B2, np.int64(1))
            for i in range(n):
                B2[i] = exp_finish(X[i], B1[i], B2[i], dp)
        # P's write (and RIDER's transfer and EMA): whole-array loops where eu_into covers the codes (they vectorize),
        # else element by element; the same operations per element either way
        if rule == 4:                            # digital SGD: W <- W - lr g
            for i in range(n):
                W[i] = W[i] - lr * G[i]
        elif rule == 3 and not batch_p and vec_kind(dp):
            eu_into(W, G, neg_lr, dp)
        elif (rule == 0 or rule == 1) and not batch_p and vec_kind(dp):
            eu_into(P, G, neg_lr, dp)
        elif (rule == 0 or rule == 1 or rule == 3) and (dp[0] == 9.0 or dp[0] == 10.0):
            pe_into(W if rule == 3 else P, G, neg_lr, dp, pe, B1, B2)
        elif rule == 2 and not batch_p and vec_kind(dp) and vec_kind(dw_):
            if chop != 0.0:                      # (the chain's sign: C[i] for D = 1, no division per element)
                if D == 1:
                    for i in range(n):
                        B1[i] = G[i] * C[i]
                else:
                    for i in range(n):
                        B1[i] = G[i] * C[i // D]
                eu_into(P, B1, neg_lr, dp)
                if D == 1:
                    for i in range(n):
                        B1[i] = (P[i] - Qr[i]) * C[i]
                else:
                    for i in range(n):
                        B1[i] = (P[i] - Qr[i]) * C[i // D]
            else:
                eu_into(P, G, neg_lr, dp)
                for i in range(n):
                    B1[i] = P[i] - Q[i]
            eu_into(W, B1, beta, dw_)
            for i in range(n):
                Q[i] = Q[i] + eta * (P[i] - Q[i])
        else:
            for i in range(n):
                g = G[i]
                if rule == 3:                        # Analog SGD: W <- U_q(W, -lr g)
                    W[i] = B2[i] if batch_p else eu_p(W[i], neg_lr * g, dp, pe, i)
                    continue
                c = C[i // D if D > 1 else i] if rule == 2 and chop != 0.0 else 1.0
                if rule == 2 and chop != 0.0:
                    g = g * c
                p = B2[i] if batch_p else eu_p(P[i], neg_lr * g, dp, pe, i)
                if rule == 2:
                    ref = Qr[i] if chop != 0.0 else Q[i]
                    diff = p - ref
                    W[i] = eu(W[i], beta * (diff * c if chop != 0.0 else diff), dw_)
                    Q[i] = Q[i] + eta * (p - Q[i])
                P[i] = p
        if rule == 0:                            # RL v1: the transfer (eq. 11) every ``every`` steps
            if (step0 + k + 1) % every == 0 and batch_w:
                for i in range(n):
                    read = P[i] + rn * rng.standard_normal() if rn != 0.0 else P[i]
                    B1[i] = beta * read
                    B2[i] = exp_arg(W[i], B1[i], dw_)
                np_expm1_array(B2, B2, np.int64(1))
                for i in range(n):
                    W[i] = exp_finish(W[i], B1[i], B2[i], dw_)
            elif (step0 + k + 1) % every == 0 and (affine_w or vec_kind(dw_)):
                src = read_p(P, B1, rn, rng)
                if affine_w:
                    affine_loop(W, src, beta, dw_)
                else:
                    eu_into(W, src, beta, dw_)
            elif (step0 + k + 1) % every == 0:
                for i in range(n):
                    read = P[i] + rn * rng.standard_normal() if rn != 0.0 else P[i]
                    W[i] = affine(W[i], beta * read, dw_) if affine_w else eu(W[i], beta * read, dw_)
        elif rule == 1 and v2_kind(dw_):         # RL v2 in whole-array loops
            v2_into(W, read_p(P, B1, rn, rng), H, flips, keep, beta, dwmin, dw_)
        elif rule == 1:                          # RL v2: EMA buffer and the threshold pulse
            for i in range(n):
                read = P[i] + rn * rng.standard_normal() if rn != 0.0 else P[i]
                hh = keep * H[i] + beta * read
                s = 0.0
                if abs(hh) >= dwmin:
                    s = 1.0 if hh > 0.0 else (-1.0 if hh < 0.0 else 0.0)
                H[i] = hh - s * dwmin
                w = W[i]
                if s != 0.0:
                    step = qpm(w, np.bool_(True), dw_) if s > 0.0 else -qpm(w, np.bool_(False), dw_)
                    w = w + dwmin * step
                W[i] = clip(w, dw_[5], dw_[6])           # Device.pulse clips every element
                flips[i] += abs(s)
        elif chop != 0.0:                        # E-RIDER: the chopper flips (its own generator), per chain
            if cinline:
                c_hi, c_lo = pcg_draw(c_hi, c_lo, cst[2], cst[3], c4h, c4l, CU, chains)
                cst[0] = c_hi
                cst[1] = c_lo
            for c_ in range(chains):
                if (CU[c_] if cinline else chopper.random()) < chop:
                    C[c_] = -C[c_]
                    for i in range(c_ * D, c_ * D + D):
                        Qr[i] = Q[i]
                    flips[c_] += 1.0
        if (k + 1) % 64 == 0 or k + 1 == steps:
            for i in range(n):
                if not math.isfinite(W[i]):
                    return k + 1
        readout(rule, W, P, Q, C, gamma, chop, R, D)
        if k + 1 > start:
            for i in range(n):
                s1[i] += R[i]
                s2[i] += R[i] * R[i]
        if (k + 1) % record_every == 0:
            r = (k + 1) // record_every
            if D == 1:                           # NumPy's add.reduce over the chains: pairwise for one column,
                traj[r, 0] = pairwise(R, np.int64(0), n) / chains
            else:                                # row after row for several
                for j in range(D):
                    traj[r, j] = 0.0
                for c_ in range(chains):
                    for j in range(D):
                        traj[r, j] += R2[c_, j]
                for j in range(D):
                    traj[r, j] = traj[r, j] / chains
    return -1


# -- zero-shifting --------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def zs_qpm(w, d):
    # (q+, q-) = (F - G, F + G) from resp.fg(w), operation by operation (response/families.py)
    kind = int(d[0])
    u = w - d[5] if d[5] != 0.0 else w
    if kind == 1:                           # soft bounds: F = 1, G = (w - sp) (1/tau)
        G = (u - d[2]) * d[1]
        return 1.0 - G, 1.0 + G
    if kind == 2:                           # linear: F = 1 - (c/tau) w, G = w (1/tau) - c
        F = 1.0 - d[1] * u
        G = u * d[2] - d[3]
        return F - G, F + G
    if kind == 3:                           # power: _power_fg's array path
        x = u * d[1]
        qm = x + 1.0
        qp = 1.0 - x
        if qp < 0.0:
            qp = 0.0
        if qm < 0.0:
            qm = 0.0
        if d[2] == 0.5:
            qp = math.sqrt(qp)
            qm = math.sqrt(qm)
        elif d[2] != 1.0:
            qp = np_pow(qp, d[2], int(d[8]))
            qm = np_pow(qm, d[2], int(d[8]))
        F = (qm + qp) * 0.5
        G = (qm - qp) * 0.5
        return F - G, F + G
    if kind == 4:                           # exponential: _exp_fg, a = e^(g + g w/t), b = e^(g - g w/t)
        x = d[1] * u / d[2]
        a = np_exp(d[1] + x, int(d[8]))
        b = np_exp(d[1] - x, int(d[8]))
        F = (a + b - 2.0) / d[3]
        G = (a - b) / d[3]
        return F - G, F + G
    qp = d[1] + d[2] * u                    # an affine expression: Response.fg's generic form
    qm = d[3] + d[4] * u
    F = 0.5 * (qm + qp)
    G = 0.5 * (qm - qp)
    return F - G, F + G


@njit(cache=True, nogil=True)
def qpm_vec(w, d):
    out = np.empty(2 * w.size)
    for i in range(w.size):
        out[i], out[w.size + i] = zs_qpm(w[i], d)
    return out


@njit(cache=True, nogil=True)
def zs_q(d, w, QP, QM):
    # q+ = F - G and q- = F + G of every device (zs_qpm), one tight loop per kind (the vectorizable ones unrolled)
    kind = int(d[0])
    n = w.shape[0]
    shift = d[5]
    if kind == 1:
        a, sp = d[1], d[2]
        for i in range(n):
            u = w[i] - shift if shift != 0.0 else w[i]
            G = (u - sp) * a
            QP[i] = 1.0 - G
            QM[i] = 1.0 + G
    elif kind == 2:
        a, b, c = d[1], d[2], d[3]
        for i in range(n):
            u = w[i] - shift if shift != 0.0 else w[i]
            F = 1.0 - a * u
            G = u * b - c
            QP[i] = F - G
            QM[i] = F + G
    elif kind == 3 and d[2] == 0.5:
        a = d[1]
        for i in range(n):
            u = w[i] - shift if shift != 0.0 else w[i]
            x = u * a
            qm = x + 1.0
            qp = 1.0 - x
            qp = math.sqrt(qp if qp > 0.0 else 0.0)
            qm = math.sqrt(qm if qm > 0.0 else 0.0)
            F = (qm + qp) * 0.5
            G = (qm - qp) * 0.5
            QP[i] = F - G
            QM[i] = F + G
    elif kind == 4:                             # exponential: _exp_fg, NumPy's exp eight devices at a time
        g, t, den = d[1], d[2], d[3]
        for i in range(n):
            u = w[i] - shift if shift != 0.0 else w[i]
            x = g * u / t
            QP[i] = g + x                           # the arguments of a (into QP) and b (into QM)
            QM[i] = g - x
        np_exp_array(QP, QP, int(d[8]))
        np_exp_array(QM, QM, int(d[8]))
        for i in range(n):
            a, b = QP[i], QM[i]
            F = (a + b - 2.0) / den
            G = (a - b) / den
            QP[i] = F - G
            QM[i] = F + G
    elif kind == 5:                             # an affine expression: Response.fg's generic form
        a_p, b_p, a_m, b_m = d[1], d[2], d[3], d[4]
        for i in range(n):
            u = w[i] - shift if shift != 0.0 else w[i]
            qp = a_p + b_p * u
            qm = a_m + b_m * u
            F = 0.5 * (qm + qp)
            G = 0.5 * (qm - qp)
            QP[i] = F - G
            QM[i] = F + G
    else:
        for i in range(n):
            QP[i], QM[i] = zs_qpm(w[i], d)


@njit(cache=True, nogil=True)
def zs_loop(d, w, target, up_step, down_step, el_up, el_down, sq, gsq, settled, traj, rng, k0, k1, cyclic,
            sigma, mult, dw, average_from, tol, has_tol, record_every, rd, U, pre, xi, QP, QM, st, inline):
    # pulses k0..k1-1 of zero_shift: the stochastic scheme's uniforms drawn here (rng.random per device, in order;
    # ``inline``: from the PCG64 state words st (high, low, inc high, inc low), advanced in place, the same numbers)
    # or, ``pre``, given in U (k1 - k0, n) (NumPy drew them in one call: the same stream), then the cycle noise
    n = w.shape[0]
    lo, hi = d[6], d[7]
    dws = dw * sigma
    s_hi, s_lo, i_hi, i_lo = st[0], st[1], st[2], st[3]
    c4h, c4l = pcg_c4(i_hi, i_lo)
    for k in range(k0, k1):
        r = k - k0 if pre else 0
        if not cyclic and inline:
            s_hi, s_lo = pcg_draw(s_hi, s_lo, i_hi, i_lo, c4h, c4l, U[0], n)
        elif not cyclic and not pre:
            for i in range(n):
                U[0, i] = rng.random()
        if sigma != 0.0:
            for i in range(n):
                xi[i] = rng.standard_normal()
        up = k % 2 == 0
        zs_q(d, w, QP, QM)
        window = k + 1 > average_from
        for i in range(n):
            qp, qm = QP[i], QM[i]
            h = 0.5 * (el_down[i] * qm - el_up[i] * qp)
            gsq[i] += h * h
            if cyclic:
                step = up_step[i] * qp if up else -down_step[i] * qm
            else:
                step = up_step[i] * qp if U[r, i] < 0.5 else -down_step[i] * qm
            if sigma != 0.0:
                if mult:
                    step = step * (1.0 + sigma * xi[i])
                else:
                    step = step + dws * xi[i]
            x = w[i] + step
            if x < lo:
                x = lo
            elif x > hi:
                x = hi
            w[i] = x
            e = x - target[i]
            if window:
                sq[i] += e * e
            if has_tol and not (abs(e) <= tol):
                settled[i] = k + 1
        if (k + 1) % record_every == 0:
            rr = (k + 1) // record_every
            for i in range(rd):
                traj[rr, i] = w[i]
    st[0] = s_hi
    st[1] = s_lo


# -- the scalar Analog SGD / digital SGD kernel of aimc_theory.kernels (simulate(backend="numba")) ---------------

@njit(cache=True, nogil=True)
def asgd_update(w, dw, kind, a, b, c, shift, lo, hi):
    # one element of expected_update_fg (response.py's fg / q_directed, operation by operation)
    F, G = factors(w - shift, dw, kind, a, b, c)
    if kind <= 1:
        out = (dw - abs(dw) * G) + w              # F = 1
    elif kind == 2:
        out = (dw * F - abs(dw) * G) + w
    else:
        out = F * dw + w                          # F = q of the step's sign
    if out < lo:                                  # the response's range (already moved by the shift)
        out = lo
    elif out > hi:
        out = hi
    return out


@njit(cache=True, nogil=True)
def asgd_loop(W, s1, s2, traj, rng, k0, k1, steps, start, record_every, L, ws, noise, analog, lr, kind, a, b, c,
              shift, lo, hi, offset):
    n = W.shape[0]
    neg_lr = -lr
    # digital SGD and the codes eu_into covers (no offset): the draws of a step first, then whole-array loops that
    # vectorize (the same operations per element as the loop below; 2000 chains: 7.4 -> 5.2 ns per chain-step)
    # padded to the chains loop's 19 entries (eu_into and vec_kind read the first seven): one compiled eu_into and
    # vec_kind for both loops, not one per tuple length (the second copy compiled in 0.3 s of CPU)
    code = (float(kind), a, b, c, shift, lo, hi) + (0.0,) * 12
    whole = not analog or (offset == 0.0 and vec_kind(code))
    Z = np.empty(n if whole else 0)
    G = np.empty(n if whole else 0)
    for k in range(k0, k1):
        if whole:
            if noise != 0.0:
                for i in range(n):
                    Z[i] = rng.standard_normal()
                if L == 1.0:
                    for i in range(n):
                        G[i] = Z[i] * noise + (W[i] - ws)
                else:
                    for i in range(n):
                        G[i] = Z[i] * noise + L * (W[i] - ws)
            else:
                for i in range(n):
                    G[i] = L * (W[i] - ws)
            if analog:
                eu_into(W, G, neg_lr, code)
            else:
                for i in range(n):
                    W[i] = W[i] - lr * G[i]
        else:
            for i in range(n):
                w = W[i]
                if noise != 0.0:
                    xi = rng.standard_normal()
                    g = xi * noise + ((w - ws) if L == 1.0 else L * (w - ws))
                else:
                    g = L * (w - ws)
                W[i] = asgd_update(w - offset, neg_lr * g, kind, a, b, c, shift, lo, hi) + offset \
                    if offset != 0.0 else asgd_update(w, neg_lr * g, kind, a, b, c, shift, lo, hi)
        if (k + 1) % 64 == 0 or k + 1 == steps:
            for i in range(n):
                if not math.isfinite(W[i]):
                    return k + 1
        if k + 1 > start:
            for i in range(n):
                s1[i] += W[i]
                s2[i] += W[i] * W[i]
        if (k + 1) % record_every == 0:
            acc = 0.0
            for i in range(n):
                acc += W[i]
            traj[(k + 1) // record_every] = acc / n
    return -1


# -- alternating pulses without cycle noise (aimc_theory.presets.pulse_devices; Device.pulse's arithmetic) ------

@njit(cache=True, nogil=True)
def alt_pulse(w, k, i, size, q, up, down, ks_up, ks_down, lo, hi, off, has_off):
    # pulse k (up when k is even) on device i: u = w - offset, s+ q+(k+ u) up, -(s- q-(k- u)) down, clip, + offset
    u = w - off[i] if has_off else w
    if k % 2 == 0:
        step = up[i] * (q[0] + q[1] * (ks_up[i] * u))
    else:
        step = -(down[i] * (q[2] + q[3] * (ks_down[i] * u)))
    x = u + size * step
    if x < lo[i]:
        x = lo[i]
    elif x > hi[i]:
        x = hi[i]
    return x + off[i] if has_off else x


@njit(cache=True, nogil=True)
def alt_pack(W, up, down, ks_up, ks_down, lo, hi, off, prev, prev2):
    # the per-device numbers of alt_last(_exp) packed into one array (8, n): up, down, stretches, bounds, offset, W;
    # prev and prev2 start at W
    n = W.shape[0]
    pk = np.empty((8, n))
    for i in range(n):
        pk[0, i], pk[1, i], pk[2, i], pk[3, i] = up[i], down[i], ks_up[i], ks_down[i]
        pk[4, i], pk[5, i], pk[6, i], pk[7, i] = lo[i], hi[i], off[i], W[i]
        prev[i] = W[i]
        prev2[i] = W[i]
    return pk


@njit(cache=True, nogil=True)
def alt_last(W, pulses, size, q, up, down, ks_up, ks_down, lo, hi, off, has_off, prev, prev2):
    # every device on its own (no random draws): W after ``pulses`` pulses, prev (one before), prev2 (two before).
    # Pulse after pulse over all devices (the devices are independent, so each sees alt_pulse's operations in its
    # order): the inner loops run across devices and vectorize (a device's own pulses are a chain of dependent
    # operations, ~30 ns per pulse run device after device). The per-device numbers are packed into one array so
    # that LLVM's run-time overlap checks stay few enough to vectorize.
    n = W.shape[0]
    pk = alt_pack(W, up, down, ks_up, ks_down, lo, hi, off, prev, prev2)
    a_up, b_up, a_dn, b_dn = q[0], q[1], q[2], q[3]
    for k in range(pulses):
        if k >= pulses - 2:                     # the last two pulses: keep the states before them
            for i in range(n):
                prev2[i] = prev[i]
                prev[i] = pk[7, i]
        wk = pk[7]
        if k % 2 == 0:
            for i in range(n):
                u = wk[i] - pk[6, i] if has_off else wk[i]
                x = u + size * (pk[0, i] * (a_up + b_up * (pk[2, i] * u)))
                x = pk[4, i] if x < pk[4, i] else (pk[5, i] if x > pk[5, i] else x)
                wk[i] = x + pk[6, i] if has_off else x
        else:
            for i in range(n):
                u = wk[i] - pk[6, i] if has_off else wk[i]
                x = u + size * -(pk[1, i] * (a_dn + b_dn * (pk[3, i] * u)))
                x = pk[4, i] if x < pk[4, i] else (pk[5, i] if x > pk[5, i] else x)
                wk[i] = x + pk[6, i] if has_off else x
    for i in range(n):
        W[i] = pk[7, i]


@njit(cache=True, nogil=True)
def alt_pairs(w0, pairs, size, q, up, down, ks_up, ks_down, lo, hi, off, has_off):
    # one device: its weight after every up/down pair
    out = np.empty(pairs)
    w = w0
    for j in range(pairs):
        w = alt_pulse(w, np.int64(0), np.int64(0), size, q, up, down, ks_up, ks_down, lo, hi, off, has_off)
        w = alt_pulse(w, np.int64(1), np.int64(0), size, q, up, down, ks_up, ks_down, lo, hi, off, has_off)
        out[j] = w
    return out


@njit(cache=True, nogil=True)
def alt_last_exp(W, pulses, size, q, up, down, ks_up, ks_down, lo, hi, off, has_off, prev, prev2, mode):
    # alt_last for an exponential step, q+(x) = q[0] exp(q[1] x + q[2]) + q[3], q-(x) = q[4] exp(q[5] x + q[6]) +
    # q[7] (x = k u), with NumPy's exp (``mode`` of numpy_math): the exponent of every device, exp eight at a time
    # (NumPy's own SVML loop), then the step; each device sees _alternate's operations in its order
    n = W.shape[0]
    pk = alt_pack(W, up, down, ks_up, ks_down, lo, hi, off, prev, prev2)
    arg = np.empty(n)
    e = np.empty(n)
    for k in range(pulses):
        if k >= pulses - 2:
            for i in range(n):
                prev2[i] = prev[i]
                prev[i] = pk[7, i]
        wk = pk[7]
        j = 0 if k % 2 == 0 else 4
        c, kk, m, d = q[j], q[j + 1], q[j + 2], q[j + 3]
        ks = pk[2] if k % 2 == 0 else pk[3]
        for i in range(n):
            u = wk[i] - pk[6, i] if has_off else wk[i]
            arg[i] = kk * (ks[i] * u) + m
        np_exp_array(arg, e, mode)
        if k % 2 == 0:
            for i in range(n):
                u = wk[i] - pk[6, i] if has_off else wk[i]
                x = u + size * (pk[0, i] * (c * e[i] + d))
                x = pk[4, i] if x < pk[4, i] else (pk[5, i] if x > pk[5, i] else x)
                wk[i] = x + pk[6, i] if has_off else x
        else:
            for i in range(n):
                u = wk[i] - pk[6, i] if has_off else wk[i]
                x = u + size * -(pk[1, i] * (c * e[i] + d))
                x = pk[4, i] if x < pk[4, i] else (pk[5, i] if x > pk[5, i] else x)
                wk[i] = x + pk[6, i] if has_off else x
    for i in range(n):
        W[i] = pk[7, i]


@njit(cache=True, nogil=True)
def alt_pairs_exp(w0, pairs, size, q, up, down, ks_up, ks_down, lo, hi, off, has_off, mode):
    # alt_pairs for alt_last_exp's exponential step (one device, NumPy's exp one number at a time)
    out = np.empty(pairs)
    w = w0
    for j in range(pairs):
        for k in range(2):
            u = w - off[0] if has_off else w
            b = 4 * k
            e = np_exp(q[b + 1] * ((ks_up[0] if k == 0 else ks_down[0]) * u) + q[b + 2], mode)
            step = up[0] * (q[b] * e + q[b + 3]) if k == 0 else -(down[0] * (q[b] * e + q[b + 3]))
            x = u + size * step
            x = lo[0] if x < lo[0] else (hi[0] if x > hi[0] else x)
            w = x + off[0] if has_off else x
        out[j] = w
    return out


@njit(cache=True, nogil=True)
def alt_q_exp_vec(w, q, up, mode):
    out = np.empty_like(w)
    j = 0 if up else 4
    for i in range(w.size):
        out[i] = q[j] * np_exp(q[j + 1] * w[i] + q[j + 2], mode) + q[j + 3]
    return out


@njit(cache=True, nogil=True)
def alt_q_vec(w, q, up):
    out = np.empty_like(w)
    for i in range(w.size):
        out[i] = q[0] + q[1] * w[i] if up else q[2] + q[3] * w[i]
    return out


@intrinsic
def _u64_at(typingctx, addr):
    # the address (an integer) as a pointer to 64-bit words
    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], ir.IntType(64).as_pointer())
    return types.CPointer(types.uint64)(addr), codegen


@njit(cache=True, nogil=True)
def pulse_affine(w, dw, dw_min, stochastic, max_bl, ap, bp, am, bm, lo, hi, mode, state):
    # update_models.pulse_update of an affine response without cycle noise or per-element parameters, operation by
    # operation: BL (pulse_count: ceil, or stochastic rounding with one uniform per element in order, capped at max_bl
    # when >= 0), then BL pulses of one sign in closed form (r = 1 + u: w + (r^n - 1) w + t (r^n - 1)/u through
    # expm1(n log1p(u))), clipped once. w, dw flat float64. The uniforms are NumPy's PCG64 stepped inline on the
    # Generator's own state words (``state``: the address of its pcg64_state, whose first word points at the 128-bit
    # state and increment, low words first; a Generator passed to numba costs ~12 us a call to unbox): the numbers of
    # rng.random(n), the Generator left where rng.random(n) leaves it. Returns (0, new weights), or (1, w) with nothing
    # drawn: run the NumPy path (a non-finite dw, u <= -1 for a sign that occurs, or no compiled expm1/log1p with
    # NumPy's bits)
    n = w.size
    u_up, u_down = dw_min * bp, -dw_min * bm            # affine_increments: s = dw_min, (-s) b- DOWN, s b+ UP
    t_up, t_down = dw_min * ap, -dw_min * am
    any_up, any_down = False, False
    for i in range(n):
        if not math.isfinite(dw[i]):
            return 1, w
        if dw[i] > 0:
            any_up = True
        else:
            any_down = True
    if mode < 0 or (any_up and not u_up > -1.0) or (any_down and not u_down > -1.0):
        return 1, w
    bl = np.empty(n)
    n_max = 0.0
    if stochastic:
        S = carray(_u64_at(carray(_u64_at(state), (1,))[0]), (4,))
        s_lo, s_hi, i_lo, i_hi = S[0], S[1], S[2], S[3]
    for i in range(n):
        x = abs(dw[i]) / dw_min
        if stochastic:
            base = np.floor(x)
            s_hi, s_lo = pcg_step(s_hi, s_lo, i_hi, i_lo)
            b = base + (1.0 if pcg_double(s_hi, s_lo) < x - base else 0.0)
        else:
            b = np.ceil(x * (1 - 1e-12))
        if max_bl >= 0 and b > max_bl:
            b = float(max_bl)
        bl[i] = float(np.int64(b))                        # bl.astype(np.int64), used as float64 below
        n_max = max(n_max, bl[i])
    if stochastic:
        S[0] = s_lo
        S[1] = s_hi
    out = w.copy()
    if n_max == 0.0:
        return 0, out
    l_up, l_down = np_log1p(u_up, mode), np_log1p(u_down, mode)
    arg = np.empty(n)
    for i in range(n):
        arg[i] = bl[i] * (l_up if dw[i] > 0 else l_down)
    rn1 = np.empty(n)
    np_expm1_array(arg, rn1, mode)
    for i in range(n):
        if bl[i] > 0:
            up = dw[i] > 0
            u = u_up if up else u_down
            geo = rn1[i] / u if u != 0 else bl[i]
            x = w[i]
            out[i] = clip(x + rn1[i] * x + (t_up if up else t_down) * geo, lo, hi)
    return 0, out


from .kernel_cache import lock_compiles  # noqa: E402  (after every kernel is defined)

lock_compiles(globals())
