"""The pulse-by-pulse kernels of :mod:`aimc_theory.kernels` (``pulse_batch``, ``pulse_transfer``, ``column_absmax``;
imports numba: imported only where it is installed): a mini-batch's coincidence trains and Tiki-Taka's column
transfer applied one pulse at a time, the cycle noise drawn per pulse, for the responses and noise models the exact
kernels of :mod:`aimc_theory.kernels_pulses_jit` do not cover. Module-level functions, so that numba's on-disk cache
finds them again in the next process (compiled in a closure, as they were, they were compiled anew in every process
that wrote pulses: ~2.5 s of CPU each, since numba keys a closure's cache entry by its cell contents).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .kernels_random_jit import generator_at


@njit(cache=True, nogil=True)
def step(w, up, kind, c0, c1, c2, c3, shift):
    # q+(w) for an up pulse, q-(w) for a down pulse (pulse_trains.apply_counts' and response.py's formulas)
    if kind == 0:
        return c0 + c1 * w if up else c2 + c3 * w
    u = w - shift
    if kind == 1:
        q = 1.0 - c0 * u if up else 1.0 + c0 * u
        if q < 0.0:
            q = 0.0
        if c1 == 1.0:
            return q
        if c1 == 0.5:
            return math.sqrt(q)
        return q ** c1
    return math.expm1(c1 - c0 * u if up else c1 + c0 * u) * c2


@njit(cache=True, nogil=True)
def fire(w, up, dw, sigma, mult, lo, hi, kind, c0, c1, c2, c3, shift, rng):
    # one pulse at weight w (UP or down): the response's step, its cycle-to-cycle noise (additive, or
    # multiplicative with ``mult``), the bounds
    q = step(w, up, kind, c0, c1, c2, c3, shift)
    if sigma != 0.0:
        if mult:
            q *= 1.0 + sigma * rng.standard_normal()
        else:
            q += sigma * rng.standard_normal()
    w = w + dw * q if up else w - dw * q
    if w < lo:
        w = lo
    elif w > hi:
        w = hi
    return w


@njit(cache=True, nogil=True)
def batch(W, X, D, A, B, bl, u, dw, sigma, mult, lo, hi, kind, c0, c1, c2, c3, shift, words, rowsel, colsel):
    # W (chains * out * in) flat; X (chains or 1, B, in), D (chains, B, out); A, B, bl (chains, B) of
    # pulse_trains._scales; u (G, slots, out + in) the uniforms pulse_trains.batch_update draws, groups
    # g = sample * chains + chain (sample-major: samples in order). In slot s row i fires where
    # u < min(A |d_i|, 1), column j where u < min(B |x_j|, 1) (the NumPy path's firings, bit for bit);
    # every coincidence is one pulse, DOWN where d_i x_j > 0. The pulses of one sample on one element all
    # have one sign, so applying them slot by slot is the sequential semantics. words: the Generator of the cycle
    # noise (kernel_cache.generator_words).
    rng = generator_at(words)
    C, nb, out = D.shape
    inp = X.shape[2]
    for g in range(u.shape[0]):
        b = g // C
        c = g - b * C
        xc = c if X.shape[0] > 1 else 0
        a_ = A[c, b]
        b_ = B[c, b]
        base = c * out * inp
        for s in range(bl[c, b]):
            nr = 0
            for i in range(out):
                q = a_ * abs(D[c, b, i])
                if u[g, s, i] < (q if q < 1.0 else 1.0):
                    rowsel[nr] = i
                    nr += 1
            if nr == 0:
                continue
            nc = 0
            for j in range(inp):
                p = b_ * abs(X[xc, b, j])
                if u[g, s, out + j] < (p if p < 1.0 else 1.0):
                    colsel[nc] = j
                    nc += 1
            for ii in range(nr):
                i = rowsel[ii]
                di = D[c, b, i]
                row = base + i * inp
                for jj in range(nc):
                    j = colsel[jj]
                    up = di * X[xc, b, j] < 0.0
                    k = row + j
                    W[k] = fire(W[k], up, dw, sigma, mult, lo, hi, kind, c0, c1, c2, c3, shift, rng)


@njit(cache=True, nogil=True)
def transfer(W, V, cf, kf, jf, fired, A, u32, dw, sigma, mult, lo, hi, kind, c0, c1, c2, c3, shift, words):
    # Tiki-Taka's column transfer (pulse_trains.column_transfer) after its column firings: fired column
    # f is (chain cf, column jf, scale index kf; sorted by chain, then column) with its slots ``fired``
    # (F, slots); in every fired slot row i fires with A |V_ij| (32-bit uniforms u32, one per (row, fired
    # column, fired slot): P = ceil(p 2^32)/2^32, within 2^-32 of p); a coincidence is one pulse, UP where
    # V_ij > 0. The columns touch disjoint elements, so the loop runs row by row (V and W read along their
    # rows). W flat, V (chains, out, in); words: as in batch.
    rng = generator_at(words)
    C, out, inp = V.shape
    F, S = fired.shape
    a32 = np.empty(F)
    for f in range(F):
        a32[f] = A[cf[f], kf[f]] * 4294967296.0
    pos = 0
    for i in range(out):
        for f in range(F):
            c, j = cf[f], jf[f]
            v = V[c, i, j]
            p = a32[f] * abs(v)
            for s in range(S):
                if not fired[f, s]:
                    continue
                uu = u32[pos]
                pos += 1
                if uu < p:
                    k = (c * out + i) * inp + j
                    up = v > 0.0
                    W[k] = fire(W[k], up, dw, sigma, mult, lo, hi, kind, c0, c1, c2, c3, shift, rng)


@njit(cache=True, nogil=True)
def column_absmax(V, cols):
    # max_i |V[c, i, cols[k]]| for every chain and listed column, reading V along its rows
    C, out, inp = V.shape
    m = np.zeros((C, cols.size))
    for c in range(C):
        for i in range(out):
            for k in range(cols.size):
                a = abs(V[c, i, cols[k]])
                if a > m[c, k]:
                    m[c, k] = a
    return m


from .kernel_cache import lock_compiles  # noqa: E402  (after every kernel is defined)

lock_compiles(globals())
