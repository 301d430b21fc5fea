"""The compiled code of the composed-samples kernel of :mod:`aimc_theory.kernels` (imports numba: imported only where it
is installed).

It repeats the "composed samples" branch of :func:`aimc_theory.pulse_trains.batch_update` (small tiles, many samples
per element; an affine response without cycle noise): the scales of ``pulse_trains._scales``, the firings of
``pulse_trains._fire`` from the same uniforms of the same Generator in the same order (numba's ``rng.random()`` is
NumPy's sampler on the same bit generator: k scalar draws are the values of ``rng.random(k)``; NumPy's default bit
generator PCG64 is stepped inline, :func:`pcg_draw`, the same numbers faster), the coincidence counts, the signs,
and ``pulse_trains._compose_samples``: each sample's clipped affine map of its n pulses, composed by the same pairwise
tree with the same floating-point operations in the same order (an identity map appended at the end of
an odd level, NumPy's clip, elements without pulses as identity maps), then clip(a W + b, lo, hi). The powers r^n and
the maps' offsets are not computed here: they come from a table NumPy computed (``pulse_trains._compose_tables``), so
the kernel's bits are the NumPy path's (tested with ``array_equal``). Module-level functions, so that numba's on-disk
cache finds them again in the next process.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic


# status: the write is done / nothing to write (W unchanged, nothing drawn) / run the NumPy path (non-finite inputs, or
# more slots than the counts' bit masks hold; nothing drawn) / the table is too short for this batch's slots (nothing
# drawn: build it for ``slots`` pulses and call again)
DONE, NOTHING, NUMPY, TABLE = 0, 1, 2, 3
MAX_SLOTS = 62

_OPTS = {"cache": True, "nogil": True, "error_model": "numpy"}     # IEEE division (x/0 = inf), as NumPy


# popcount and scales as in aimc_theory.kernels_pulses_jit, repeated here: numba's on-disk cache of this module would
# not notice a change of a function it calls from another file (the callee's code is cached with the caller's).
# Helpers are plain calls, not numba's inline="always": LLVM inlines them all the same (the same code, the same
# bits), and numba's own inlining copied and re-typed each helper at every call site (a cold compile of these
# modules took 24 s of CPU with it, 17.5 s without)


@njit(**_OPTS)
def max_abs(v):
    """max |v_j|, or -1 if an entry is not finite."""
    m = 0.0
    for j in range(v.shape[0]):
        a = abs(v[j])
        if not math.isfinite(a):
            return -1.0
        m = a if a > m else m
    return m


@njit(**_OPTS)
def popcount(x):
    n = 0
    while x:
        x &= x - 1
        n += 1
    return n


@njit(**_OPTS)
def scales(x_m, d_m, factor, desired, um, blm):
    # pulse_trains._scales for one update, operation by operation: (A, B, BL)
    k = x_m * d_m
    k *= factor                                   # lr / (dw_min granularity)
    if blm:
        bl = k * (1 - 1e-12)
        bl = np.ceil(bl)
        bl = min(bl, desired)
        bl = max(bl, 1.0)
    else:
        bl = desired
    base = factor / bl
    if um:
        ratio = desired / k
        ratio = min(ratio, 1.0)
        ratio *= d_m
        ratio = x_m / ratio
        A = math.sqrt(base * ratio)
        B = math.sqrt(base / ratio)
    else:
        A = math.sqrt(base)
        B = A
    if not k > 0:
        return 0.0, 0.0, 0
    return A, B, int(bl)


# NumPy's PCG64 (the default bit generator), inline: the state s (128 bits, as (high, low) 64-bit words) steps to
# s M + inc (mod 2^128), the output is XSL RR of the new state, a double (out >> 11) 2^-53 (numpy/random/src/pcg64:
# pcg_setseq_128_xsl_rr_64_random_r, pcg64 next_double). The same numbers as rng.random() about twice as fast (no
# call through the bit generator per number; pcg_draw: four lanes); kernels.pcg_state checks it against NumPy
# once per process.
PCG_MULTIPLIER = 0x2360ED051FC65DA44385DF649FCCF645
PCG_MULTIPLIER_4 = pow(PCG_MULTIPLIER, 4, 1 << 128)      # four steps at once: s -> s M^4 + c4


def _step_codegen(multiplier):
    # s multiplier + c (mod 2^128) of the state words (hi, lo) and the addend's words (c hi, c lo)
    def codegen(context, builder, signature, args):
        i128, i64 = ir.IntType(128), ir.IntType(64)

        def join(h, l):
            return builder.or_(builder.shl(builder.zext(h, i128), ir.Constant(i128, 64)), builder.zext(l, i128))

        state = builder.add(builder.mul(join(args[0], args[1]), ir.Constant(i128, multiplier)),
                            join(args[2], args[3]))
        return context.make_tuple(builder, signature.return_type,
                                  (builder.trunc(builder.lshr(state, ir.Constant(i128, 64)), i64),
                                   builder.trunc(state, i64)))
    return codegen


@intrinsic
def pcg_step(typingctx, hi, lo, inc_hi, inc_lo):
    sig = types.UniTuple(types.uint64, 2)(types.uint64, types.uint64, types.uint64, types.uint64)
    return sig, _step_codegen(PCG_MULTIPLIER)


@intrinsic
def pcg_step4(typingctx, hi, lo, c4_hi, c4_lo):
    # four steps of pcg_step: c4 is the state four steps from 0 (inc (M^3 + M^2 + M + 1))
    sig = types.UniTuple(types.uint64, 2)(types.uint64, types.uint64, types.uint64, types.uint64)
    return sig, _step_codegen(PCG_MULTIPLIER_4)


@njit(**_OPTS)
def pcg_double(hi, lo):
    x = hi ^ lo
    rot = hi >> np.uint64(58)
    out = (x >> rot) | (x << ((np.uint64(64) - rot) & np.uint64(63)))
    return np.float64(out >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(**_OPTS)
def pcg_c4(ihi, ilo):
    # the addend of pcg_step4 for the increment (ihi, ilo): the state four steps from 0
    c4h, c4l = pcg_step(np.uint64(0), np.uint64(0), ihi, ilo)
    for _ in range(3):
        c4h, c4l = pcg_step(c4h, c4l, ihi, ilo)
    return c4h, c4l


@njit(**_OPTS)
def pcg_draw(hi, lo, ihi, ilo, c4h, c4l, out, n):
    # out[:n] = the next n doubles of the PCG64 state (hi, lo) with increment (ihi, ilo) (c4: pcg_c4 of it); returns
    # the new state. Four lanes (the next four states, each then stepped four at a time): the same numbers in the
    # same order, without waiting on every step's 128-bit multiply (1.77 -> 1.33 ns a number)
    k = 0
    if n >= 4:
        h1, l1 = pcg_step(hi, lo, ihi, ilo)
        h2, l2 = pcg_step(h1, l1, ihi, ilo)
        h3, l3 = pcg_step(h2, l2, ihi, ilo)
        h4, l4 = pcg_step(h3, l3, ihi, ilo)
        while True:
            out[k] = pcg_double(h1, l1)
            out[k + 1] = pcg_double(h2, l2)
            out[k + 2] = pcg_double(h3, l3)
            out[k + 3] = pcg_double(h4, l4)
            k += 4
            if k + 4 > n:
                break
            h1, l1 = pcg_step4(h1, l1, c4h, c4l)
            h2, l2 = pcg_step4(h2, l2, c4h, c4l)
            h3, l3 = pcg_step4(h3, l3, c4h, c4l)
            h4, l4 = pcg_step4(h4, l4, c4h, c4l)
        hi, lo = h4, l4
    while k < n:
        hi, lo = pcg_step(hi, lo, ihi, ilo)
        out[k] = pcg_double(hi, lo)
        k += 1
    return hi, lo


@njit(**_OPTS)
def pcg_fill(st, out):
    # out[:] = rng.random(out.size) of the PCG64 state st (high, low, inc high, inc low), advanced in place; the
    # compose and zero-shifting kernels' draws (kernels.pcg_state checks them against NumPy once per process)
    c4h, c4l = pcg_c4(st[2], st[3])
    hi, lo = pcg_draw(st[0], st[1], st[2], st[3], c4h, c4l, out, out.size)
    st[0] = hi
    st[1] = lo


@njit(**_OPTS)
def clip(x, lo, hi):
    # np.clip of one float64 (NumPy's _NPY_CLIP: min(max(x, lo), hi), a NaN x propagates, ties keep the bound)
    if not np.isnan(x):
        x = x if x > lo else lo
    if not np.isnan(x):
        x = x if x < hi else hi
    return x


@njit(**_OPTS)
def compose(W, X, D, lr, prm, flags, ta, tb, lo, hi, rng, st):
    """The composed-samples branch of batch_update. W (C, E) float64 (E = out * in, not written), X (C or 1, B, in),
    D (C, B, out) float64; prm (granule = dw_min x granularity, desired_bl); flags (update management, BL
    management); ta, tb (P, 2, K): the map w -> ta w + tb of k = 1..K-1 pulses UP (index 0) or DOWN (1), P = 1 (no
    per-element parameters) or C * E (element c * E + e); lo, hi (1 or C * E) the bounds of a pulsed element.
    ``rng`` None: draw from the PCG64 state ``st`` (advanced in place; the caller writes it back into the generator's
    bit generator), else from ``rng`` (a numpy Generator). Returns (status, slots, the new weights (C, E); W itself
    unless DONE)."""
    factor = lr / prm[0]
    desired = prm[1]
    um, blm = flags[0], flags[1]
    C, nb, out = D.shape
    inp = X.shape[2]
    E = out * inp
    G = nb * C
    K = ta.shape[2]
    A = np.empty(G)
    B = np.empty(G)
    bl = np.empty(G, np.int64)
    slots = 0
    for c in range(C):
        xc = c if X.shape[0] > 1 else 0
        for b in range(nb):
            x_m, d_m = max_abs(X[xc, b]), max_abs(D[c, b])
            if x_m < 0.0 or d_m < 0.0:
                return NUMPY, 0, W
            g = b * C + c
            A[g], B[g], bl[g] = scales(x_m, d_m, factor, desired, um, blm)
            slots = max(slots, bl[g])
    if slots == 0:
        return NOTHING, 0, W
    if slots > MAX_SLOTS:
        return NUMPY, slots, W
    if slots >= K:
        return TABLE, slots, W
    # _fire: uniforms (G, slots, out + in) in C order; row i fires in slot s < bl[g] where u < min(|d_i| A, 1) (a
    # NaN probability never fires, as np.minimum keeps it); the slots as bits
    rmask = np.zeros((G, out), np.int64)
    cmask = np.zeros((G, inp), np.int64)
    q = np.empty(out)
    p = np.empty(inp)
    hi_, lo_, ihi, ilo = st[0], st[1], st[2], st[3]
    c4h, c4l = pcg_c4(ihi, ilo)
    ubuf = np.empty(slots * (out + inp))
    for g in range(G):
        b, c = g // C, g % C
        xc = c if X.shape[0] > 1 else 0
        for i in range(out):
            t = abs(D[c, b, i]) * A[g]
            q[i] = 1.0 if t > 1.0 else t
        for j in range(inp):
            t = abs(X[xc, b, j]) * B[g]
            p[j] = 1.0 if t > 1.0 else t
        if rng is None:                              # (numba prunes the other branch)
            hi_, lo_ = pcg_draw(hi_, lo_, ihi, ilo, c4h, c4l, ubuf, ubuf.size)
        else:
            for k in range(ubuf.size):
                ubuf[k] = rng.random()
        rm, cm = rmask[g], cmask[g]
        for s in range(min(slots, bl[g])):           # the slots beyond the group's BL stay silent
            bit = 1 << s
            k = s * (out + inp)
            for i in range(out):
                rm[i] |= bit * (ubuf[k + i] < q[i])
            k += out
            for j in range(inp):
                cm[j] |= bit * (ubuf[k + j] < p[j])
    st[0] = hi_
    st[1] = lo_
    # _compose_samples, a chain at a time over all its elements (the inner loops run along the elements): sample b's
    # map (a, b, lo, hi) (the identity (1, 0, -inf, inf) where it has no pulse), then the pairwise tree over the
    # samples (earlier f, later g: g(f(w)) = clip(ga fa w + ga fb + gb, clip(ga fl + gb, gl, gh), clip(ga fh + gb, gl,
    # gh)); an odd level gets the identity appended at its end)
    new = np.empty((C, E))
    ma = np.empty((nb + 1, E))
    mb = np.empty((nb + 1, E))
    ml = np.empty((nb + 1, E))
    mh = np.empty((nb + 1, E))
    half = (nb + 1) // 2 + 1                       # the second level's maps and its padding
    na = np.empty((half, E))
    nb_ = np.empty((half, E))
    nl = np.empty((half, E))
    nh = np.empty((half, E))
    per = ta.shape[0] > 1
    own = lo.size > 1
    for c in range(C):
        xc = c if X.shape[0] > 1 else 0
        for b in range(nb):
            g = b * C + c
            for i in range(out):
                ri = rmask[g, i]
                di = D[c, b, i]
                for j in range(inp):
                    e = i * inp + j
                    n = popcount(ri & cmask[g, j])
                    if n > 0:
                        sd = 1 if di * X[xc, b, j] > 0 else 0
                        pe = c * E + e if per else 0
                        be = c * E + e if own else 0
                        ma[b, e] = ta[pe, sd, n]
                        mb[b, e] = tb[pe, sd, n]
                        ml[b, e] = lo[be]
                        mh[b, e] = hi[be]
                    else:
                        ma[b, e] = 1.0
                        mb[b, e] = 0.0
                        ml[b, e] = -np.inf
                        mh[b, e] = np.inf
        # the tree: level by level from one set of buffers into the other (a level never overwrites its own inputs)
        L = nb
        src_a, src_b, src_l, src_h = ma, mb, ml, mh
        dst_a, dst_b, dst_l, dst_h = na, nb_, nl, nh
        while L > 1:
            if L % 2:
                for e in range(E):
                    src_a[L, e] = 1.0
                    src_b[L, e] = 0.0
                    src_l[L, e] = -np.inf
                    src_h[L, e] = np.inf
                L += 1
            for k in range(L // 2):
                fa, fb, fl, fh = src_a[2 * k], src_b[2 * k], src_l[2 * k], src_h[2 * k]
                ga, gb, gl, gh = src_a[2 * k + 1], src_b[2 * k + 1], src_l[2 * k + 1], src_h[2 * k + 1]
                oa, ob, ol, oh = dst_a[k], dst_b[k], dst_l[k], dst_h[k]
                for e in range(E):
                    y_a, y_b, y_l, y_h = ga[e], gb[e], gl[e], gh[e]
                    ol[e] = clip(y_a * fl[e] + y_b, y_l, y_h)
                    oh[e] = clip(y_a * fh[e] + y_b, y_l, y_h)
                    oa[e] = y_a * fa[e]
                    ob[e] = y_a * fb[e] + y_b
            L //= 2
            src_a, dst_a = dst_a, src_a
            src_b, dst_b = dst_b, src_b
            src_l, dst_l = dst_l, src_l
            src_h, dst_h = dst_h, src_h
        for e in range(E):
            new[c, e] = clip(src_a[0, e] * W[c, e] + src_b[0, e], src_l[0, e], src_h[0, e])
    return DONE, slots, new


from .kernel_cache import lock_compiles  # noqa: E402  (after every kernel is defined)

lock_compiles(globals())
