"""The compiled code of the exact pulse kernels of :mod:`aimc_theory.kernels` (imports numba: imported only where it
is installed and a compiled path of :mod:`aimc_theory.pulse_trains` runs).

Module-level functions, so that numba's on-disk cache (``cache=True``) finds them again in the next process (a
function compiled inside a closure was compiled anew in every process, ~10 s). They repeat the NumPy path of
:func:`aimc_theory.pulse_trains.batch_update` and :func:`aimc_theory.pulse_trains.column_transfer` for an affine
response with additive or no cycle noise and no per-element parameters (``batch``, ``transfer``), and with
per-element parameters and cycle noise (``varied``): the same random numbers from the same
Generator in the same order (numba's Generator methods are NumPy's samplers on the same bit generator: k scalar
draws here are the values of NumPy's ``rng.random(k)`` / ``rng.standard_normal(k)``, the normals at about a third
of the cost), the same events and the same floating-point operations, so the same bits (tested).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .kernels_random_jit import generator_at

# status of the kernels: the write is done / nothing to write (W unchanged) / an element is within reach of a bound,
# go on in NumPy from these events (pulse by pulse there) / the same from the dense counts / non-finite inputs, run
# the NumPy path from the start (nothing drawn)
DONE, NOTHING, EVENTS, DENSE, NUMPY = 0, 1, 2, 3, 4

_OPTS = {"cache": True, "nogil": True, "error_model": "numpy"}     # IEEE division (x/0 = inf), as NumPy


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


@njit(**_OPTS)
def far_scalar(wmin, wmax, reach, lo, hi, qmax, dw, sig10):
    # pulse_trains._far for a scalar reach
    R = dw * (reach * qmax + sig10 * math.sqrt(reach))
    return (lo == -np.inf or wmin - lo > R) and (hi == np.inf or hi - wmax > R)


@njit(**_OPTS)
def firings(X, D, lr, granule, desired, um, blm, rng):
    # pulse_trains.batch_update up to its events: the scales of every group g = sample * chains + chain
    # (pulse_trains._scales), _fire's uniforms (G, slots, out + in) in C order, row i firing in slot s < bl[g] where
    # u < min(|d_i| A, 1), column j where u < min(|x_j| B, 1) (branch-free: the outcomes are random), and the fired
    # rows and columns of every group. Returns (status NUMPY / NOTHING / DONE (= firings drawn), slots, rmask, cmask
    # (the slots' bits of every row / column), rsel, csel (the fired ones, in order), nr, nc, sum of nr * nc).
    factor = lr / granule
    C, nb, out = D.shape
    inp = X.shape[2]
    G = nb * C
    none2 = np.zeros((0, 0), np.int64)
    none1 = np.zeros(0, np.int64)
    A = np.empty(G)
    B = np.empty(G)
    bl = np.empty(G, np.int64)
    slots = 0
    for c in range(C):
        xc = c if X.shape[0] > 1 else 0
        for b in range(nb):
            x_m = 0.0
            for j in range(inp):
                a = abs(X[xc, b, j])
                if not math.isfinite(a):
                    return NUMPY, 0, none2, none2, none2, none2, none1, none1, 0
                x_m = a if a > x_m else x_m
            d_m = 0.0
            for i in range(out):
                a = abs(D[c, b, i])
                if not math.isfinite(a):
                    return NUMPY, 0, none2, none2, none2, none2, none1, none1, 0
                d_m = a if a > d_m else d_m
            g = b * C + c
            A[g], B[g], bl[g] = scales(x_m, d_m, factor, desired, um, blm)
            slots = max(slots, bl[g])
    if slots == 0:
        return NOTHING, 0, none2, none2, none2, none2, none1, none1, 0
    rmask = np.zeros((G, out), np.int64)
    cmask = np.zeros((G, inp), np.int64)
    q = np.empty(out)
    p = np.empty(inp)
    for g in range(G):
        b, c = g // C, g % C
        xc = c if X.shape[0] > 1 else 0
        for i in range(out):
            t = abs(D[c, b, i]) * A[g]
            q[i] = min(t, 1.0)
        for j in range(inp):
            t = abs(X[xc, b, j]) * B[g]
            p[j] = min(t, 1.0)
        for s in range(slots):
            bit = (1 << s) if s < bl[g] else 0
            for i in range(out):
                rmask[g, i] |= bit * (rng.random() < q[i])
            for j in range(inp):
                cmask[g, j] |= bit * (rng.random() < p[j])
    rsel = np.empty((G, out), np.int64)
    csel = np.empty((G, inp), np.int64)
    nr = np.zeros(G, np.int64)
    nc = np.zeros(G, np.int64)
    cap = 0
    for g in range(G):
        for i in range(out):
            if rmask[g, i]:
                rsel[g, nr[g]] = i
                nr[g] += 1
        for j in range(inp):
            if cmask[g, j]:
                csel[g, nc[g]] = j
                nc[g] += 1
        cap += nr[g] * nc[g]
    return DONE, slots, rmask, cmask, rsel, csel, nr, nc, cap


@njit(**_OPTS)
def events(X, D, slots, rmask, cmask, rsel, csel, nr, nc, cap):
    # _pairs (one slot) / _coincidences (several): the events in group order, then row, then column, an element
    # with n > 0 coincident pulses listed with v = n sign(d_i x_j) (> 0: DOWN); with one slot every listed pair
    # fires once (n = 1). Returns (elem, v, events per group, their number k; elem and v are filled to k).
    C, nb, out = D.shape
    inp = X.shape[2]
    G = nb * C
    elem = np.empty(cap, np.int64)
    v = np.empty(cap, np.float64)
    per = np.zeros(G, np.int64)
    k = 0
    for g in range(G):
        b, c = g // C, g % C
        xc = c if X.shape[0] > 1 else 0
        k0 = k
        for a in range(nr[g]):
            i = rsel[g, a]
            base = (c * out + i) * inp
            si = np.sign(D[c, b, i])
            ri = rmask[g, i]
            if slots == 1:
                for kk in range(nc[g]):
                    j = csel[g, kk]
                    elem[k] = base + j
                    v[k] = si * np.sign(X[xc, b, j])
                    k += 1
            else:                                  # branch-free: write, keep where n > 0
                for kk in range(nc[g]):
                    j = csel[g, kk]
                    n = popcount(ri & cmask[g, j])
                    elem[k] = base + j
                    v[k] = si * np.sign(X[xc, b, j]) * n
                    k += n > 0
        per[g] = k - k0
    return elem, v, per, k


@njit(**_OPTS)
def batch(Wf, X, D, lr, prm, flags, tables, words):
    # pulse_trains.batch_update of an exact device (see _numba_batch there): scales, the firings' uniforms,
    # the events (or the dense counts), the test for a bound within reach, and the write with its normals.
    # prm, flags, tables: see exact_batch; words: the Generator (kernel_cache.generator_words). Returns (status,
    # slots, elem, v, events per group, M); DONE from the events: elem lists the weights written (with repeats).
    rng = generator_at(words)
    desired, a_up, a_down, al, be, s_up, s_down = prm[1], prm[2], prm[3], prm[4], prm[5], prm[6], prm[7]
    lo, hi, qmax, dw, sig10 = prm[8], prm[9], prm[10], prm[11], prm[12]
    um, blm, noise, identity, dense = flags[0], flags[1], flags[2], flags[3], flags[4]
    ta, tb, ts = tables[0], tables[1], tables[2]
    tmax = int(desired)
    C, nb, out = D.shape
    inp = X.shape[2]
    G = nb * C
    none_i = np.zeros(0, np.int64)
    none_v = np.zeros(0, np.float64)
    none_m = np.zeros((0, 0, 0), np.float32)
    status, slots, rmask, cmask, rsel, csel, nr, nc, cap = firings(X, D, lr, prm[0], desired, um, blm, rng)
    if status != DONE:
        return status, 0, none_i, none_v, none_i, none_m
    reach = slots * nb
    if dense and not identity:
        # _apply_dense: the signed counts of every element and sample, every sample applied to the whole tile
        M = np.zeros((G, out, inp), np.float32)
        for g in range(G):
            b, c = g // C, g % C
            for a in range(nr[g]):
                i = rsel[g, a]
                si = np.sign(D[c, b, i])
                for kk in range(nc[g]):
                    j = csel[g, kk]
                    n = popcount(rmask[g, i] & cmask[g, j])
                    if n:
                        M[g, i, j] = si * np.sign(X[c if X.shape[0] > 1 else 0, b, j]) * n
        wmin, wmax = np.inf, -np.inf
        for e in range(Wf.size):
            wmin = min(wmin, Wf[e])
            wmax = max(wmax, Wf[e])
        if Wf.size and not far_scalar(wmin, wmax, reach, lo, hi, qmax, dw, sig10):
            return DENSE, slots, none_i, none_v, none_i, M
        E = C * out * inp
        Mf = M.reshape(nb, E)
        for b in range(nb):
            for e in range(E):
                m = Mf[b, e]
                t = int(m) + tmax                  # m = 0: index tmax, the identity's (a, b) = (1, +-0)
                cc = tb[t]
                if noise and m != 0:
                    cc = cc + rng.standard_normal() * ts[t]
                Wf[e] = Wf[e] * ta[t] + cc
        return DONE, slots, none_i, none_v, none_i, none_m
    # the events: _pairs (one slot) / _coincidences (several), in group order, then row, then column. A small
    # tile (``dense``) whose untouched elements the dense path leaves as they are (w 1 + (-0.0): ``identity``)
    # gets the same bits from its events written with the tables (as _apply_events(ones=False))
    elem, v, per, k = events(X, D, slots, rmask, cmask, rsel, csel, nr, nc, cap)
    wmin, wmax = np.inf, -np.inf
    for kk in range(k):                            # the touched weights' range, in the events' order
        w = Wf[elem[kk]]
        wmin = min(wmin, w)
        wmax = max(wmax, w)
    if k == 0:
        return NOTHING, slots, none_i, none_v, none_i, none_m
    elem, v = elem[:k], v[:k]
    if not far_scalar(wmin, wmax, reach, lo, hi, qmax, dw, sig10):
        return EVENTS, slots, elem, v, per, none_m
    if slots == 1 and not dense:                   # _affine_maps(ones=True)
        for k in range(elem.size):
            e = elem[k]
            down = v[k] > 0
            cc = v[k] * al
            if be != 0.0:
                cc = cc + be
            if noise:
                cc = cc + rng.standard_normal() * (s_down if down else s_up)
            Wf[e] = Wf[e] * (a_down if down else a_up) + cc
    else:                                          # _affine_maps with the tables
        for k in range(elem.size):
            e = elem[k]
            t = int(v[k]) + tmax
            cc = tb[t]
            if noise:
                cc = cc + rng.standard_normal() * ts[t]
            Wf[e] = Wf[e] * ta[t] + cc
    return DONE, slots, elem, none_v, none_i, none_m       # elem: the weights written (Rank1Batch.touched)


@njit(**_OPTS)
def transfer(W, V, cols, every, lr, prm, flags, tables, words, inplace):
    # pulse_trains.column_transfer of an exact device (see _numba_transfer there; words: the Generator, see batch).
    # Returns (status, the new weights (flat; W itself when nothing is written, or ``inplace``: written into W),
    # elem, n, down): status DONE, NOTHING, or EVENTS (apply these events with pulse_trains.apply_counts: no normal
    # drawn yet).
    rng = generator_at(words)
    factor = lr / prm[0]
    desired, lo, hi, qmax, dw, sig10 = prm[1], prm[8], prm[9], prm[10], prm[11], prm[12]
    um, blm, noise = flags[0], flags[1], flags[2]
    ta, tb, ts = tables[0], tables[1], tables[2]
    tmax = int(desired)
    C, out, inp = V.shape
    K = cols.size
    none_i = np.zeros(0, np.int64)
    none_b = np.zeros(0, np.bool_)
    d_m = np.zeros((C, K))
    for c in range(C):                             # max_i |V_ij|, along V's rows
        m = d_m[c]
        if every:
            for i in range(out):
                vrow = V[c, i]
                for kk in range(K):
                    a = abs(vrow[kk])
                    m[kk] = a if a > m[kk] else m[kk]
        else:
            for i in range(out):
                vrow = V[c, i]
                for kk in range(K):
                    a = abs(vrow[cols[kk]])
                    m[kk] = a if a > m[kk] else m[kk]
    A = np.empty((C, K))
    B = np.empty((C, K))
    bl = np.empty((C, K), np.int64)
    slots = 0
    for c in range(C):
        for kk in range(K):
            A[c, kk], B[c, kk], bl[c, kk] = scales(1.0, d_m[c, kk], factor, desired, um, blm)
            slots = max(slots, bl[c, kk])
    Wf = W.reshape(-1)
    if slots == 0:
        return NOTHING, Wf, none_i, none_i, none_b
    # column firings: uniforms (C, slots, K); fired columns in (chain, column) order
    fired = np.zeros((C, slots, K), np.bool_)
    anyf = np.zeros((C, K), np.bool_)
    for c in range(C):
        for s in range(slots):
            for kk in range(K):
                hit = (rng.random() < B[c, kk]) & (slots == 1 or s < bl[c, kk])
                fired[c, s, kk] = hit
                anyf[c, kk] |= hit
    F = 0
    for c in range(C):
        for kk in range(K):
            if anyf[c, kk]:
                F += 1
    if F == 0:
        return NOTHING, Wf, none_i, none_i, none_b
    cf = np.empty(F, np.int64)
    kf = np.empty(F, np.int64)
    f = 0
    for c in range(C):
        for kk in range(K):
            if anyf[c, kk]:
                cf[f] = c
                kf[f] = kk
                f += 1
    # the fired columns' row probabilities q = min(|V_ij| A, 1), signed as V_ij (DOWN where negative; a row with
    # probability 0 never fires); row i of fired column f fires where its uniform (F, out) or (F, slots, out) < |q|
    jf = np.empty(F, np.int64)
    af = np.empty(F)
    for f in range(F):
        jf[f] = cols[kf[f]]
        af[f] = A[cf[f], kf[f]]
    elem = np.empty(F * out, np.int64)
    cnt = np.empty(F * out, np.int64)
    down = np.empty(F * out, np.bool_)
    n_ev = 0
    if slots == 1:
        # one slot, in which every listed column fired: q read down V's column as it is drawn (the columns come in
        # order, so the lines of one column serve the next ones from L1), a fired row's event written as it fires (a
        # few rows fire: a branch writes less than every row of every fired column did)
        for f in range(F):
            c = cf[f]
            j = jf[f]
            a = af[f]
            base = c * out * inp + j
            for i in range(out):
                v = V[c, i, j]
                t = abs(v) * a
                q = math.copysign(min(t, 1.0), v)
                if rng.random() < abs(q):
                    elem[n_ev] = base + i * inp
                    cnt[n_ev] = 1
                    down[n_ev] = q < 0.0
                    n_ev += 1
    # several slots: Q read along V's rows first (each row's draws are needed once per slot); Q's rows padded off a
    # power-of-two stride, which would put every row's line in the same cache sets
    Q = np.empty((F if slots > 1 else 0, out + 8))
    for c in range(C if slots > 1 else 0):
        f0 = np.searchsorted(cf, c)
        f1 = np.searchsorted(cf, c + 1)
        for i in range(out):
            vrow = V[c, i]
            for f in range(f0, f1):
                v = vrow[jf[f]]
                t = abs(v) * af[f]
                Q[f, i] = math.copysign(min(t, 1.0), v)
    row = np.zeros(out, np.int64)
    for f in range(F if slots > 1 else 0):
        c, kk = cf[f], kf[f]
        qf = Q[f]
        row[:] = 0
        for s in range(slots):
            live = fired[c, s, kk]
            for i in range(out):
                row[i] += (rng.random() < abs(qf[i])) & live
        base = c * out * inp + cols[kk]
        for i in range(out):                       # branch-free: write, keep where the row fired
            elem[n_ev] = base + i * inp
            cnt[n_ev] = row[i]
            down[n_ev] = qf[i] < 0.0
            n_ev += row[i] > 0
    if n_ev == 0:
        return NOTHING, Wf, none_i, none_i, none_b
    elem, cnt, down = elem[:n_ev], cnt[:n_ev], down[:n_ev]
    Wn = Wf if inplace else Wf.copy()
    if not noise:
        return EVENTS, Wn, elem, cnt, down
    # apply_counts: the closed form of n pulses (tables, one normal per event), unless a bound is within reach
    # (pulse_trains._far with the reach n of each event: R(n) for n = 0..slots, the same expression)
    R = np.empty(slots + 1)
    for n in range(slots + 1):
        R[n] = dw * (n * qmax + sig10 * math.sqrt(n))
    for k in range(n_ev):
        w = Wn[elem[k]]
        r = R[cnt[k]]
        if not ((lo == -np.inf or w - lo > r) and (hi == np.inf or hi - w > r)):
            return EVENTS, Wn, elem, cnt, down
    for k in range(n_ev):
        e = elem[k]
        t = (cnt[k] if down[k] else -cnt[k]) + tmax
        cc = tb[t]
        cc = cc + rng.standard_normal() * ts[t]
        Wn[e] = ta[t] * Wn[e] + cc
    return DONE, Wn, none_i, none_i, none_b


@njit(**_OPTS)
def q_of(kind, qc, x, up):
    # q+(x) (``up``) or q-(x) of a response as its own NumPy code computes it (pulse_trains._q_form names the kind;
    # q_eval lets pulse_trains compare it with the response's NumPy functions): kind 0, c0 + c1 x / c2 + c3 x (the
    # presets' code, e.g. "1 - w", "w + 1"); kind 1, aihwkit's PowStep with exponents 1,
    # a max((hi - x)/r, 0) / b max((x - lo)/r, 0) (qc = a, b, hi, lo, r = hi - lo; NaN kept as np.maximum does)
    if kind == 0:
        return qc[0] + qc[1] * x if up else qc[2] + qc[3] * x
    y = (qc[2] - x) / qc[4] if up else (x - qc[3]) / qc[4]
    if not (y > 0.0 or y != y):
        y = 0.0
    return (qc[0] if up else qc[1]) * y


@njit(**_OPTS)
def q_eval(kind, qc, x, up):
    out = np.empty(x.size)
    for k in range(x.size):
        out[k] = q_of(kind, qc, x[k], up)
    return out


@njit(**_OPTS)
def varied(Wf, X, D, lr, prm, flags, qk, qc, P, words):
    # pulse_trains.batch_update of a device with per-element parameters (device-to-device variation), an affine
    # response and cycle noise (see _varied_batch there): the firings and events as ``batch``, then
    # pulse_trains._apply_events: the test for a bound within reach (_far, from the weights before the batch), the
    # closed-form maps' normals for every event (_affine_maps), the samples in order, far events as one map each,
    # the others pulse by pulse (update_models.pulse_update: the element's q from the response's own code ``q_of``,
    # its cycle noise, its bounds). prm = (dw_min granularity, desired_bl, dw_min, sigma_c, 10 sigma_c,
    # dw_min sigma_c); flags = (update management, BL management, multiplicative noise, r^1 == r in NumPy for every
    # element); P (11, elements): u+, t+, u-, t- of one pulse (w -> (1 + u) w + t), the largest |q| of _far, lo, hi,
    # s+, s-, k+, k- (bounds, step scales, stretches). Returns (status, slots, elem, v, events per group): EVENTS
    # (nothing written, no normal drawn) where the NumPy path needs the power r^n of an event of several pulses.
    # words: the Generator (see batch).
    rng = generator_at(words)
    granule, desired, dw, sigma, sig10, dsig = prm[0], prm[1], prm[2], prm[3], prm[4], prm[5]
    um, blm, mult, r1 = flags[0], flags[1], flags[2], flags[3]
    C, nb = D.shape[0], D.shape[1]
    none_i = np.zeros(0, np.int64)
    none_v = np.zeros(0, np.float64)
    status, slots, rmask, cmask, rsel, csel, nr, nc, cap = firings(X, D, lr, granule, desired, um, blm, rng)
    if status != DONE:
        return status, slots, none_i, none_v, none_i
    elem, v, per, k = events(X, D, slots, rmask, cmask, rsel, csel, nr, nc, cap)
    E = k
    if E == 0:
        return NOTHING, slots, none_i, none_v, none_i
    elem, v = elem[:E], v[:E]
    reach = slots * nb
    sq = math.sqrt(reach)
    closed = slots == 1 or not mult               # _apply_events: closed-form maps (else every event pulse by pulse)
    far = np.zeros(E, np.bool_)
    if closed:
        for k in range(E):                        # _far, per element: R = dw (reach qmax + 10 sigma (qmax) sqrt(reach))
            e = elem[k]
            qm = P[4, e]
            R = dw * (reach * qm + sig10 * (qm if mult else 1.0) * sq)
            w0 = Wf[e]
            lo, hi = P[5, e], P[6, e]
            f = (lo == -np.inf or w0 - lo > R) and (hi == np.inf or hi - w0 > R)
            far[k] = f
            if f and not mult and (abs(v[k]) != 1.0 or not r1):
                return EVENTS, slots, elem, v, per
    xi = np.empty(E)
    if closed:                                    # _affine_maps: one normal per event, drawn before any write
        for k in range(E):
            xi[k] = rng.standard_normal()
    s1 = 0
    for b in range(nb):                           # the samples in order
        s0 = s1
        for c in range(C):
            s1 += per[b * C + c]
        nmax = 0
        for k in range(s0, s1):
            e = elem[k]
            down = v[k] > 0
            if far[k]:                            # one map: w a + c
                u = P[2, e] if down else P[0, e]
                t = P[3, e] if down else P[1, e]
                if mult:                          # a = 1 + u m, c = t m, m = 1 + sigma xi
                    m = xi[k] * sigma
                    m += 1.0
                    a_ = 1.0 + u * m
                    c_ = t * m
                else:                             # one pulse: a = r^1 = r (checked), the closed form's c with noise
                    r = 1.0 + u
                    a_ = r
                    one = r == 1.0
                    c_ = t * (1.0 if one else (1.0 - a_) / (1.0 - r))
                    var = 1.0 if one else (1.0 - a_ * a_) / (1.0 - r * r)
                    if not (var > 0.0 or var != var):
                        var = 0.0
                    c_ += dsig * math.sqrt(var) * xi[k]
                Wf[e] = Wf[e] * a_ + c_
            else:
                n = int(abs(v[k]))
                nmax = n if n > nmax else nmax
        for p in range(nmax):                     # pulse_update: pulse p of every event that has one, in order
            for k in range(s0, s1):
                if far[k] or abs(v[k]) <= p:
                    continue
                e = elem[k]
                w = Wf[e]
                if v[k] < 0:                      # UP
                    q = P[7, e] * q_of(qk, qc, P[9, e] * w, np.bool_(True))
                    sg = 1.0
                else:
                    q = -(P[8, e] * q_of(qk, qc, P[10, e] * w, np.bool_(False)))
                    sg = -1.0
                z = rng.standard_normal()
                if mult:
                    q = q * (1.0 + sigma * z)
                else:
                    q = q + sg * sigma * z
                w = w + dw * q
                lo, hi = P[5, e], P[6, e]
                if w < lo:
                    w = lo
                if w > hi:
                    w = hi
                Wf[e] = w
    return DONE, slots, none_i, none_v, none_i


from .kernel_cache import lock_compiles  # noqa: E402  (after every kernel is defined)

lock_compiles(globals())
