"""Crossbar updates as the reference simulator applies them: stochastic coincidence pulse trains
for rank-1 updates, one sample at a time (aihwkit ``UpdateParameters``, STOCHASTIC_COMPRESSED).

For one sample with input x (length ``in``) and error d (length ``out``) the SGD update
W <- W - lr d x^T of a tile is written as BL slots; in each slot column j fires with probability
p_j = B |x_j| and row i with q_i = A |d_i| (independent Bernoulli draws, clipped to 1), and every
coincidence is one pulse through the element's response: a DOWN pulse when d_i x_j > 0 (the weight
decreases), an UP pulse otherwise. Expected coincidences BL p_j q_i = lr |x_j d_i|/dw_min when
nothing is clipped, at most BL pulses per element and sample.

BL and the probability scales follow update management (UM) and BL management (UBLM), both on by
default: with k = lr max|x| max|d|/dw_min (the pulses the largest product wants),
BL = min(ceil(k), desired_bl), A = B = sqrt(lr/(dw_min BL)); UM shrinks max|d| by desired_bl/k when
k > desired_bl and rescales A <- A sqrt(x_m/d_m), B <- B sqrt(d_m/x_m). With both off, BL = desired_bl
and A = B = sqrt(lr/(dw_min BL)). A mini-batch is applied sample by sample (each sample its own trains).

A Tiki-Taka transfer reads columns of the residual array and writes each column j to the main array
as a rank-1 update with x = e_j and d = -v (v = the column read), its own learning rate and desired_bl;
the columns touch disjoint elements, so they are written simultaneously.

How it runs (the NumPy reference path): every sample's and slot's row and column firings are drawn in one
call; the coincidences are listed as events (sample, element, signed count) over the rows and columns that
fire (one slot: fired rows x fired columns; several: row bits @ column bits), never over the whole tile;
the events are applied in sample order (the only loop is over samples), for an affine response each as one
closed-form map of its n pulses, cycle noise included (one normal draw per event; elements a bound is
within reach of go pulse by pulse). Small tiles apply every sample to the whole tile. Multiplicative cycle noise
(``Device(c2c_model="multiplicative")``: each pulse's step times 1 + sigma_c xi) has no closed form for n pulses:
single-pulse events are still one exact map each (w -> w + dw q(w)(1 + sigma_c xi), q affine), events of several
pulses go pulse by pulse.

The probability scales divide by the reference simulator's weight granularity dw_min x ``response.granularity``
(1 except for its PowStep, 0.5^gamma, and ExpStep devices, see :mod:`aimc_theory.response.reference`). :func:`backend`
("numba") runs a write in one call of the compiled kernels of :mod:`aimc_theory.kernels`: for an affine response
with additive or no cycle noise and no per-element parameters the same bits as the NumPy path (the same random
numbers from the same Generator, the same events, the same floating-point operations); otherwise the same firings
pulse by pulse (other bits, the same law). Devices with device-to-device variation (per-element parameters), cycle
noise (additive or multiplicative) and an affine response whose NumPy code the kernel repeats (the presets' affine
responses, aihwkit's PowStep with gamma 1: P1 Table 8's and P2 Table 2's configurations) are written by one compiled
call on every backend where numba is installed (:func:`_varied_batch`), with the NumPy path's bits;
``_VARIED_KERNEL = False`` forces the NumPy path.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .errors import InputError, require_int
from .kernel_cache import PerResponse
from .update_models import Rank1Batch, affine_increments, flat_target, pulse_update

_BACKEND = "numpy"       # or "numba": the compiled pulse kernels of aimc_theory.kernels (see backend())


@contextmanager
def backend(name: str):
    """Within the block, pulse trains (:func:`batch_update`, :func:`column_transfer`) run on ``name``:
    "numpy" (the reference path) or "numba" (:mod:`aimc_theory.kernels`, one compiled call per write): the
    NumPy path's bits for an affine response with additive or no cycle noise and no device-to-device variation
    (:func:`_exact`; epochs of the FCN about 1.5-1.8x faster); otherwise (multiplicative noise, the power and
    exponential families) pulse by pulse with other random bits and the same law. Device-to-device variation is
    covered where the compiled path of varied devices applies (:func:`_varied_batch`: cycle noise and a response
    whose code it repeats, the NumPy path's bits, on either backend), otherwise not (an error on "numba")."""
    global _BACKEND
    if name not in ("numpy", "numba"):
        raise InputError("backend", f"must be numpy or numba (got {name!r})")
    if name == "numba":
        from . import kernels
        if not kernels.available():
            raise InputError("backend", "numba is not installed: pip install -e \".[fast]\" (or use numpy)")
    old, _BACKEND = _BACKEND, name
    try:
        yield
    finally:
        _BACKEND = old


@dataclass(frozen=True)
class PulseTrains:
    """Update semantics of the reference simulator (aihwkit ``UpdateParameters``)."""

    desired_bl: int = 31
    update_management: bool = True
    bl_management: bool = True

    def __post_init__(self):
        require_int("desired_bl", self.desired_bl)


def _scales(lr: float, x_m, d_m, dw_min: float, trains: PulseTrains):
    """(A, B, BL) of UM/UBLM (aihwkit ``calculateBlAB``) for arrays of per-update maxima (on the hot path:
    a few passes over the small arrays, no wrappers)."""
    x_m = np.asarray(x_m, dtype=float)
    d_m = np.asarray(d_m, dtype=float)
    k = x_m * d_m
    k *= lr / dw_min
    live = k > 0                           # nothing to write for a zero input or error
    if trains.bl_management:
        bl = k * (1 - 1e-12)
        np.ceil(bl, out=bl)
        np.minimum(bl, trains.desired_bl, out=bl)
        np.maximum(bl, 1.0, out=bl)
    else:
        bl = np.full(np.shape(k), float(trains.desired_bl))
    base = (lr / dw_min) / bl
    if trains.update_management:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.divide(trains.desired_bl, k)         # UM shrinks d_m by desired_bl/k when k > desired_bl
            np.minimum(ratio, 1.0, out=ratio)
            ratio *= d_m                                    # d_eff
            np.divide(x_m, ratio, out=ratio)                # x_m / d_eff
            A = np.sqrt(base * ratio)
            B = np.sqrt(np.divide(base, ratio, out=ratio), out=ratio)
    else:
        A = np.sqrt(base)
        B = A.copy()
    if not live.all():
        A = np.where(live, A, 0.0)
        B = np.where(live, B, 0.0)
        bl = np.where(live, bl, 0.0)
    return A, B, bl.astype(np.int64)


def apply_counts(device, W: np.ndarray, n: np.ndarray, down: np.ndarray,
                 rng: np.random.Generator | None, elements=None) -> np.ndarray:
    """``n`` pulses per element, all DOWN where ``down`` (else UP), through the device's response
    (``elements``: the elements' parameters in W's shape, :class:`~aimc_theory.update_models.Elements`; default
    the device's own).

    Pulses of one sign on one element compose: for an affine response (q = a + b w) in closed form,
    w <- r^n w + t (1 - r^n)/(1 - r) with r = 1 +- dw b, t = +-dw a, clipped once (repeated pulses of
    one sign never come back from a bound), and with cycle-to-cycle noise (dw sigma_c xi per pulse) plus
    one normal draw of the summed noise, dw sigma_c sqrt((1 - r^2n)/(1 - r^2)) xi (:func:`_affine_maps`;
    elements a bound could be within reach of go pulse by pulse); any other response, and multiplicative cycle
    noise (no closed form for n pulses), pulse by pulse.
    """
    if not n.any():
        return W
    el = device.elements(np.shape(W)) if elements is None else elements
    if device.response.affine is None or device.multiplicative:
        return pulse_update(device, W, np.where(down, -1.0, 1.0), rng, bl=n.astype(np.int64), elements=el)
    W = np.asarray(W, dtype=float)
    if not device.sigma_c:                     # noise free: exact for any weight, clipped once
        r, t = _affine_steps(device.response.affine, el, device.dw_min, down)
        rn = r ** n
        one = r == 1.0
        geo = np.where(one, n, (1.0 - rn) / np.where(one, 1.0, 1.0 - r))
        new = np.where(n > 0, rn * W + t * geo, W)
        return device.response.clip(new) if el is None else el.clip(device.response, new)
    a, c = _affine_maps(device, n, np.where(down, n, -n), el, rng)
    new = a * W + c
    far = _far(device, W, n, el)
    if far is not True and not np.all(far):     # a bound within reach: those elements pulse by pulse
        near = ~far
        new[near] = pulse_update(device, W[near], np.where(down[near], -1.0, 1.0), rng,
                                 bl=n[near].astype(np.int64), elements=None if el is None else el.take(near))
    return new


def _affine_steps(aff, el, dw: float, down):
    """The same pulse as w <- r w + t with r = 1 + u (1 + (-x) is 1 - x exactly: the same bits as before)."""
    u, t = affine_increments(aff, el, dw, down)
    return 1.0 + u, t


_REACH_SIGMAS = 10.0    # a bound farther than this many noise SDs (plus the drift) is out of a batch's reach


@lru_cache(maxsize=256)
def _affine_tables(aff, dw: float, sigma: float, nmax: int):
    """(a, b, s) of n = 0..nmax pulses of one sign, for a device without per-element parameters, indexed
    by the signed count v + nmax (v = -n: UP, v = n: DOWN): n pulses map w to a w + b + s xi, xi ~ N(0, 1)
    (read-only arrays, cached)."""
    ap, bp, am, bm = aff
    k = np.arange(nmax + 1, dtype=float)
    parts = []
    for r, t in ((1.0 + dw * bp, dw * ap), (1.0 - dw * bm, -dw * am)):
        rk = r ** k
        if r == 1.0:
            geo, var = k, k
        else:
            geo = (1.0 - rk) / (1.0 - r)
            var = (1.0 - rk * rk) / (1.0 - r * r)
        parts.append((rk, t * geo, dw * sigma * np.sqrt(np.maximum(var, 0.0))))
    (ua, ub, us), (da, db, ds) = parts
    out = tuple(np.concatenate((u[:0:-1], d)) for u, d in ((ua, da), (ub, db), (us, ds)))
    for a in out:
        a.flags.writeable = False
    return out


@lru_cache(maxsize=256)
def _affine_qmax(aff, lo: float, hi: float) -> float:
    """The largest |q+-(w)| of an affine response over [lo, hi] (inf when unbounded and not constant)."""
    ap, bp, am, bm = aff
    if math.isfinite(lo) and math.isfinite(hi):        # |a + b w| peaks at an end of the range
        return max(abs(ap + bp * lo), abs(ap + bp * hi), abs(am + bm * lo), abs(am + bm * hi))
    return max(abs(ap), abs(am)) if bp == 0 and bm == 0 else math.inf


def _affine_maps(device, n: np.ndarray, v: np.ndarray, el, rng, ones: bool = False):
    """n pulses of one sign per event as one affine map with Gaussian noise: w -> a w + c, where
    c = t (1 - r^n)/(1 - r) + dw sigma_c sqrt((1 - r^2n)/(1 - r^2)) xi is the exact law of n noisy pulses
    (each w <- r w + t + dw sigma_c xi_k, xi ~ N(0, 1)) as long as no bound is touched on the way (see
    :func:`_far`). ``v``: the signed counts, -n UP / +n DOWN; ``el``: the events' element parameters or None.
    ``ones``: every event is one pulse (then, for a device without per-element parameters, ``a`` comes back
    as a scalar when r is the same up and down). Multiplicative cycle noise (``ones`` only): one pulse is
    w -> w + (u w + t)(1 + sigma_c xi), i.e. a = 1 + u m, c = t m with m = 1 + sigma_c xi (exact)."""
    aff, dw, sigma = device.response.affine, device.dw_min, device.sigma_c
    if device.multiplicative:
        if not ones:
            raise ValueError("multiplicative cycle noise composes in closed form for single pulses only")
        u, t = affine_increments(aff, el, dw, v > 0)
        m = rng.standard_normal(np.shape(v))
        m *= sigma
        m += 1.0
        return 1.0 + u * m, t * m
    if el is None:
        nmax = 1 if ones else int(n.max(initial=0))
        ta, tb, ts = _affine_tables(aff, dw, sigma, nmax)
        if ones:
            # one pulse per event (BL 1, v = +-1): w -> r w + t + s xi with r, t, s of the sign; t = al v + be
            down = None if ta[0] == ta[2] and ts[0] == ts[2] else v > 0
            a = ta[2] if ta[0] == ta[2] else np.where(down, ta[2], ta[0])
            al, be = 0.5 * (tb[2] - tb[0]), 0.5 * (tb[2] + tb[0])
            c = v * al
            if be:
                c += be
            if sigma:
                xi = rng.standard_normal(c.shape)
                xi *= ts[2] if down is None else np.where(down, ts[2], ts[0])
                c += xi
            return a, c
        tix = (v + nmax).astype(np.intp)
        a, c = ta.take(tix), tb.take(tix)
        if sigma:
            xi = rng.standard_normal(c.shape)
            xi *= ts.take(tix)
            c += xi
        return a, c
    down = v > 0
    r, t = _affine_steps(aff, el, dw, down)
    a = r ** n
    one = r == 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        c = t * np.where(one, n, (1.0 - a) / np.where(one, 1.0, 1.0 - r))
        if sigma:
            var = np.where(one, n, (1.0 - a * a) / np.where(one, 1.0, 1.0 - r * r))
            c += dw * sigma * np.sqrt(np.maximum(var, 0.0)) * rng.standard_normal(np.shape(a))
    return a, c


def _far(device, w0: np.ndarray, reach, el):
    """True where an element that starts at ``w0`` and gets at most ``reach`` pulses cannot come near a
    bound: farther than the drift of ``reach`` pulses at the largest |q| plus _REACH_SIGMAS noise SDs of
    their summed cycle noise (the chance that a pulse-by-pulse path would touch it is about 1e-23; a
    multiplicative noise's SD per pulse is at most dw sigma_c |q|max). A scalar True when every element is far
    (the common case, checked with two reductions)."""
    resp, dw, sigma = device.response, device.dw_min, device.sigma_c
    aff = resp.affine
    mult = device.multiplicative
    if el is None:
        lo, hi = resp.lo, resp.hi
        qmax = _affine_qmax(aff, lo, hi)
        if np.ndim(reach) == 0:
            R = dw * (reach * qmax + _REACH_SIGMAS * sigma * (qmax if mult else 1.0) * math.sqrt(reach))
            if w0.size == 0 or ((lo == -math.inf or w0.min() - lo > R) and (hi == math.inf or hi - w0.max() > R)):
                return True
    else:
        lo, hi, qmax = _el_reach(resp, el)
    with np.errstate(invalid="ignore"):
        R = dw * (reach * qmax + _REACH_SIGMAS * sigma * (qmax if mult else 1.0) * np.sqrt(reach))
        return (np.isneginf(lo) | (w0 - lo > R)) & (np.isposinf(hi) | (hi - w0 > R))


def _el_reach(resp, el):
    """(lo, hi, the largest |q+-| over [lo, hi]) of elements with their own parameters (:func:`_far`; inf where
    unbounded and not constant)."""
    ap, bp, am, bm = resp.affine
    lo = resp.lo if el.lo is None else el.lo
    hi = resp.hi if el.hi is None else el.hi
    kp = 1.0 if el.up_stretch is None else el.up_stretch
    km = 1.0 if el.down_stretch is None else el.down_stretch
    with np.errstate(invalid="ignore"):
        qmax = np.maximum(el.up * np.maximum(np.abs(ap + bp * kp * lo), np.abs(ap + bp * kp * hi)),
                          el.down * np.maximum(np.abs(am + bm * km * lo), np.abs(am + bm * km * hi)))
    return lo, hi, np.where(np.isnan(qmax), np.inf, qmax)


def _fire(rng: np.random.Generator, p_rows: np.ndarray, p_cols: np.ndarray, bl: np.ndarray, slots: int):
    """Row and column firings of every group's ``slots`` slots in one draw: p_rows (G, out), p_cols (G, in)
    firing probabilities, bl (G,) the group's BL (slots beyond it stay silent). Returns bool (G, slots, out)
    and (G, slots, in)."""
    G, out = p_rows.shape
    u = rng.random((G, slots, out + p_cols.shape[1]))
    rows = u[:, :, :out] < p_rows[:, None, :]
    cols = u[:, :, out:] < p_cols[:, None, :]
    if slots > 1 and (bl < slots).any():
        live = (np.arange(slots) < bl[:, None])[:, :, None]
        rows &= live
        cols &= live
    return rows, cols


def _pairs(rows: np.ndarray, cols: np.ndarray, sd: np.ndarray, sx: np.ndarray, C: int):
    """One slot (BL 1): every fired row with every fired column of its group (g = sample * C + chain).
    rows (G, out), cols (G, in) bool, sd/sx the signs of d and x. Returns the events' element indices
    (chain, row, column flattened), their signed counts (+-1: +1 DOWN, d_i x_j > 0) and the number of
    events per group, all in group order."""
    G, out = rows.shape
    inp = cols.shape[1]
    fr = np.flatnonzero(rows)                              # 2-D nonzero is several times slower
    fc = np.flatnonzero(cols)
    gr, gc = fr // out, fc // inp
    nr = np.bincount(gr, minlength=G)
    nc = np.bincount(gc, minlength=G)
    reps = nc[gr]                                          # each fired row meets its group's fired columns
    total = int(reps.sum())
    if total == 0:
        e = np.zeros(0, dtype=np.intp)
        return e, np.zeros(0), nr * nc
    ends = np.cumsum(reps)
    cstart = np.cumsum(nc) - nc
    k = np.arange(total)
    k -= np.repeat(ends - reps - cstart[gr], reps)         # index into the fired columns
    base = ((gr % C) * out + (fr - gr * out)) * inp if C > 1 else (fr - gr * out) * inp
    elem = np.repeat(base, reps)
    elem += (fc - gc * inp).take(k)
    v = np.repeat(sd.take(fr), reps)
    v *= sx.take(fc).take(k)
    return elem, v, nr * nc


def _compact(bits: np.ndarray, sign: np.ndarray):
    """The entries of ``bits`` (G, S, n) that fire in some slot, per group, left-aligned: index (G, K) and
    signed bits (G, S, K) float32 (``sign`` (G, n) of the entry; padding is 0)."""
    G, S, n = bits.shape
    act = bits.any(axis=1)
    f = np.flatnonzero(act)
    g, k = f // n, f % n
    cnt = np.bincount(g, minlength=G)
    K = int(cnt.max(initial=0))
    pos = np.arange(g.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    idx = np.zeros((G, K), dtype=np.intp)
    idx[g, pos] = k
    sub = np.zeros((G, S, K), dtype=np.float32)
    sub[g, :, pos] = bits[g, :, k] * sign.reshape(-1).take(f)[:, None]
    return idx, sub


def _coincidences(rows: np.ndarray, cols: np.ndarray, sd: np.ndarray, sx: np.ndarray, dense: bool):
    """Every (group, row, column) with coincidences, in group order: g, i, j and the signed count
    v = n sign(d_i x_j) (> 0: DOWN pulses). Counts are row bits @ column bits over the slots (float32
    matrix products, exact for counts below 2^24); ``dense``: over the whole tile, else over the rows and
    columns that fire (left-aligned per group)."""
    G = rows.shape[0]
    if dense:
        rs = rows * sd[:, None, :].astype(np.float32)
        cs = cols * sx[:, None, :].astype(np.float32)
        M = np.matmul(np.swapaxes(rs, 1, 2), cs)
        f = np.flatnonzero(M != 0)                         # nonzero on floats is several times slower
        gi, j = np.divmod(f, M.shape[2])
        g, i = np.divmod(gi, M.shape[1])
        return g, i, j, M.reshape(-1).take(f)
    ridx, rs = _compact(rows, sd)
    cidx, cs = _compact(cols, sx)
    if ridx.shape[1] == 0 or cidx.shape[1] == 0:
        e = np.zeros(0, dtype=np.intp)
        return e, e, e, np.zeros(0, dtype=np.float32)
    M = np.matmul(np.swapaxes(rs, 1, 2), cs)
    f = np.flatnonzero(M != 0)
    R, K = M.shape[1:]
    ga, b = np.divmod(f, K)
    g = ga // R
    return g, ridx.reshape(-1).take(ga), cidx.reshape(-1).take(g * K + b), M.reshape(-1).take(f)


def sample_update(device, W: np.ndarray, x: np.ndarray, d: np.ndarray, lr: float,
                  rng: np.random.Generator) -> np.ndarray:
    """One sample's rank-1 update W <- W - lr d x^T by pulse trains. W (chains, out, in), x (chains, in),
    d (chains, out). Returns the new W (a batch of one for :func:`batch_update`)."""
    flat = batch_update(device, W.reshape(W.shape[0], -1), Rank1Batch(x[:, None, :], d[:, None, :]), lr, rng)
    return flat.reshape(W.shape)


def batch_update(device, W: np.ndarray, batch: Rank1Batch, lr: float, rng: np.random.Generator) -> np.ndarray:
    """Apply a mini-batch sample by sample. W flattened (chains, out * in); returns the same layout (the
    same array, written in place, when ``batch.inplace``).

    The samples' pulse trains do not depend on the weights (x and d come from one forward/backward
    pass), so every slot's row and column firings of every sample are drawn at once ((B, slots, out + in)
    uniforms in one call), not one per matrix element. The coincidences are sparse (lr |x d|/dw_min pulses
    per element and sample) and are listed as events (sample, element, signed count): with one slot (BL 1,
    the common case) every fired row meets every fired column of its sample; otherwise the counts are row
    bits @ column bits over the slots, for the rows and columns that fire. The events are applied in sample
    order, all elements of a sample at once; for an affine response the n pulses of an event are one
    closed-form map (with cycle noise: one normal draw, see :func:`_affine_maps`). Exactly the sequential
    semantics; the work scales with the number of pulsed elements, not with B x out x in."""
    out, inp = batch.shape
    C, nb = batch.D.shape[:2]
    if _COMPOSE_KERNEL and nb >= _COMPOSE_SAMPLES and nb * C * out * inp <= _DENSE_LIMIT \
            and (_BACKEND == "numpy" or _exact(device)) and _compose_ok(device, W.shape):
        new = _compose_compiled(device, W, batch, lr, rng)      # the compose branch below, compiled (same bits)
        if new is not None:
            return new
    if _BACKEND == "numba" and _exact(device) and batch.X.shape[0] in (1, C) and np.size(W) == C * out * inp \
            and not (nb >= _COMPOSE_SAMPLES and nb * C * out * inp <= _DENSE_LIMIT and _composable(device, W.shape)):
        new = _numba_batch(device, W, batch, lr, rng)
        if new is not None:
            return new
    if _VARIED_KERNEL and device.varies and device.sigma_c:
        new = _varied_batch(device, W, batch, lr, rng)          # the path below, compiled (the same bits)
        if new is not None:
            return new
    X = batch.X if batch.X.shape[0] == C else np.broadcast_to(batch.X, (C, nb, inp))
    D = batch.D
    x_m = np.abs(X).max(axis=-1)                           # (chains, B)
    d_m = np.abs(D).max(axis=-1)
    A, B, bl = _scales(lr, x_m, d_m, device.dw_min * device.response.granularity, device.trains)
    slots = int(bl.max(initial=0))
    if slots == 0:
        return W
    # groups g = sample * chains + chain: sample-major, so that the events come in sample order
    G = nb * C
    if _BACKEND == "numba" and not _exact(device):       # the same uniforms as _fire draws, pulse by pulse
        from . import kernels
        return kernels.pulse_batch(device, W, X, D, A, B, bl, rng.random((G, slots, out + inp)), rng, batch.inplace)
    Xg = X.reshape(G, inp) if C == 1 else np.swapaxes(X, 0, 1).reshape(G, inp)
    Dg = D.reshape(G, out) if C == 1 else np.swapaxes(D, 0, 1).reshape(G, out)
    p = np.abs(Xg)
    p *= B.T.reshape(G, 1)
    q = np.abs(Dg)
    q *= A.T.reshape(G, 1)
    finite = np.isfinite(x_m).all() and np.isfinite(d_m).all()
    for a_ in (p, q):                                      # above 1 (clipped management); nan only from inf
        np.minimum(a_, 1.0, out=a_)
        if not finite:
            np.nan_to_num(a_, copy=False)
    rows, cols = _fire(rng, q, p, bl.T.reshape(G), slots)
    if nb >= _COMPOSE_SAMPLES and G * out * inp <= _DENSE_LIMIT and _composable(device, W.shape):
        # small tiles, many samples per element (P1 Fig. 2: 1 x 50, B = 100): compose the samples' maps
        n = np.matmul(np.swapaxes(rows, 1, 2).astype(np.float32), cols.astype(np.float32))   # (G, out, in)
        n = np.swapaxes(n.reshape(nb, C, out * inp), 0, 1)
        down = D[..., :, None] * X[..., None, :] > 0
        return _compose_samples(device, W, n.astype(np.int64), down.reshape(C, nb, -1))
    sd, sx = np.sign(Dg), np.sign(Xg)
    if G * out * inp <= _DENSE_EVENTS and device.response.affine is not None and not device.varies \
            and not device.multiplicative:
        # small tiles: signed counts of every element and sample, the samples applied to the whole tile
        M = np.matmul(np.swapaxes(rows * sd[:, None, :].astype(np.float32), 1, 2),
                      cols * sx[:, None, :].astype(np.float32))          # (G, out, in), sample-major
        new = _apply_dense(device, W, M.reshape(nb, C * out * inp), rng, slots * nb, batch.inplace)
        if new is not None:
            return new.reshape(W.shape)
        f = np.flatnonzero(M != 0)
        g, ij = np.divmod(f, out * inp)
        i, j = np.divmod(ij, inp)
        v = M.reshape(-1).take(f)
        elem = ((g % C) * out + i) * inp + j
        bounds = np.searchsorted(g, np.arange(0, G + 1, C))
        return _apply_events(device, W, elem, v, bounds, rng, slots * nb, batch.inplace, False).reshape(W.shape)
    if slots == 1:
        elem, v, per_group = _pairs(rows[:, 0], cols[:, 0], sd, sx, C)
        bounds = np.concatenate(([0], np.cumsum(per_group.reshape(nb, C).sum(axis=1))))
    else:
        g, i, j, v = _coincidences(rows, cols, sd, sx, G * out * inp <= _DENSE_EVENTS)
        elem = ((g % C) * out + i) * inp + j
        bounds = np.searchsorted(g, np.arange(0, G + 1, C))    # events of sample b: bounds[b]:bounds[b + 1]
    if elem.size == 0:
        return W
    return _apply_events(device, W, elem, v, bounds, rng, slots * nb, batch.inplace, slots == 1).reshape(W.shape)


def _exact(device) -> bool:
    """The numba backend repeats the NumPy path bit for bit (:func:`_numba_batch`, the exact kernels of
    :mod:`aimc_theory.kernels`): an affine response, additive or no cycle noise, no per-element parameters."""
    return device.response.affine is not None and not device.varies and not device.multiplicative


def _numba_batch(device, W: np.ndarray, batch: Rank1Batch, lr: float, rng) -> np.ndarray | None:
    """:func:`batch_update` of an :func:`_exact` device in one compiled call (``kernels.exact_batch``): the same
    scales, the same uniforms and normals from the same Generator in the same order, the same events and the same
    floating-point operations as the NumPy path below, so the same bits (tested). Where the NumPy path would go
    pulse by pulse (an element within reach of a bound) it goes on from the kernel's events; None: non-finite
    inputs, run the NumPy path (nothing drawn yet)."""
    from . import kernels
    out, inp = batch.shape
    C, nb = batch.D.shape[:2]
    if batch.X.dtype != np.float64 or batch.D.dtype != np.float64:
        return None             # float32 inputs: the NumPy path's firing probabilities are float32 (see _varied_batch)
    Wf = flat_target(W, batch.inplace)
    dense = nb * C * out * inp <= _DENSE_EVENTS
    status, slots, elem, v, per, M = kernels.exact_batch(Wf, _f64(batch.X), _f64(batch.D), lr, _exact_setup(device),
                                                         dense, rng)
    if status == kernels.DONE:
        if batch.touched is not None:       # the events' weights; the dense path may write every weight
            batch.touched.append(None if dense else elem)
        return Wf.reshape(W.shape)
    if status == kernels.NOTHING:
        if batch.touched is not None:
            batch.touched.append(elem[:0])
        return W
    if status == kernels.NUMPY:
        return None
    reach, G = slots * nb, nb * C
    if status == kernels.DENSE:                             # as batch_update after _apply_dense gave None
        f = np.flatnonzero(M != 0)
        g, ij = np.divmod(f, out * inp)
        i, j = np.divmod(ij, inp)
        elem = ((g % C) * out + i) * inp + j
        bounds = np.searchsorted(g, np.arange(0, G + 1, C))
        return _apply_events(device, W, elem, M.reshape(-1).take(f), bounds, rng, reach, batch.inplace,
                             False).reshape(W.shape)
    bounds = np.concatenate(([0], np.cumsum(per.reshape(nb, C).sum(axis=1))))
    return _apply_events(device, W, elem, v if slots == 1 and not dense else v.astype(np.float32), bounds, rng, reach,
                         batch.inplace, slots == 1 and not dense).reshape(W.shape)


# Devices with per-element parameters (device-to-device variation), an affine response and cycle noise: batch_update
# in one compiled call (kernels.varied_batch, the code in aimc_theory.kernels_pulses_jit.varied) on every backend where
# numba is installed, the same bits as the NumPy path (tests/test_pulse_trains.py); False: always the NumPy path.
_VARIED_KERNEL = True
_VARIED_MAX_BL = 62             # the kernel's firings are bit masks of the slots (an int64 each)


def _varied_batch(device, W: np.ndarray, batch: Rank1Batch, lr: float, rng) -> np.ndarray | None:
    """:func:`batch_update` of a device with device-to-device variation, an affine response whose NumPy code the
    kernel repeats (:func:`_q_form`) and cycle noise (additive or multiplicative) in one compiled call: the same
    scales, uniforms, events, normals (from the same Generator, in the same order) and floating-point operations as
    the NumPy path (:func:`_apply_events`, :func:`_far`, :func:`_affine_maps`, ``update_models.pulse_update``), so the
    same bits. Where the NumPy path would compose several pulses of additive noise in closed form (an element far
    from its bounds getting n > 1 pulses: NumPy's power r^n) the NumPy path applies the kernel's events (nothing
    drawn or written yet). None: run the NumPy path (numba not installed, another response, a layout or dtype the
    kernel does not take, non-finite inputs; nothing drawn then)."""
    out, inp = batch.shape
    C, nb = batch.D.shape[:2]
    if type(rng) is not np.random.Generator or batch.X.shape[0] not in (1, C) or np.size(W) != C * out * inp \
            or device.response.affine is None or device.trains.desired_bl > _VARIED_MAX_BL \
            or batch.X.dtype != np.float64 or batch.D.dtype != np.float64:
        # float32 inputs: the NumPy path rounds the firing probabilities to float32 (in-place products), the kernel
        # would compare the uniforms with float64 ones
        return None
    setup = _varied_setup(device, (C, out * inp))
    if setup is None:
        return None
    from . import kernels
    Wf = flat_target(W, batch.inplace)
    status, slots, elem, v, per = kernels.varied_batch(Wf, _f64(batch.X), _f64(batch.D), lr, setup, rng)
    if status == kernels.DONE:
        return Wf.reshape(W.shape)
    if status == kernels.NOTHING:
        return W
    if status == kernels.NUMPY:
        return None
    bounds = np.concatenate(([0], np.cumsum(per.reshape(nb, C).sum(axis=1))))
    return _apply_events(device, W, elem, v, bounds, rng, slots * nb, batch.inplace, slots == 1).reshape(W.shape)


def _varied_setup(device, shape):
    """The constants of :func:`_varied_batch` for weights of ``shape`` (chains, elements), kept with the device's
    elements (built once per device and shape), or None where the kernel does not apply (numba not installed, a
    response whose NumPy code it does not repeat)."""
    memo = device._elements_memo
    key = ("varied kernel", shape)
    if key in memo:
        return memo[key]
    setup = None
    resp = device.response
    form = _q_form(resp)
    if form is not None:
        from . import kernels
        el = device.elements(shape).reshape(-1)
        size = int(np.prod(shape))
        full = lambda a, default: np.broadcast_to(default if a is None else a, (size,))    # noqa: E731
        u_up, t_up = affine_increments(resp.affine, el, device.dw_min, False)
        u_dn, t_dn = affine_increments(resp.affine, el, device.dw_min, True)
        lo, hi, qmax = _el_reach(resp, el)
        P = np.ascontiguousarray(np.stack([full(a, d) for a, d in (
            (u_up, None), (t_up, None), (u_dn, None), (t_dn, None), (qmax, None), (lo, None), (hi, None),
            (el.up, None), (el.down, None), (el.up_stretch, 1.0), (el.down_stretch, 1.0))]), dtype=np.float64)
        # NumPy's r ** n for one pulse (_affine_maps: n an int64 array, broadcast or not) is r itself on this
        # installation for every element: else an event of additive noise far from its bounds goes to NumPy
        r1 = all(np.array_equal(r ** n, r) for r in (1.0 + P[0], 1.0 + P[2])
                 for n in (np.broadcast_to(np.int64(1), (size,)), np.ones(size, dtype=np.int64)))
        sigma, dw = float(device.sigma_c), float(device.dw_min)
        prm = np.array((dw * resp.granularity, float(device.trains.desired_bl), dw, sigma, _REACH_SIGMAS * sigma,
                        dw * sigma))
        flags = np.array((device.trains.update_management, device.trains.bl_management, device.multiplicative, r1),
                         dtype=np.bool_)
        setup = (prm, flags, form[0], np.array(form[1], dtype=np.float64), P)
        for a in (prm, flags, setup[3], P):          # read-only, as the other cached constants
            a.flags.writeable = False
    memo[key] = setup
    return setup


_Q_FORMS = PerResponse()   # response -> its kernel form or None


def _q_form(resp):
    """(kind, coefficients) of ``kernels_pulses_jit.q_of`` that repeat the response's own NumPy q+ and q- (the
    presets' affine code; aihwkit's PowStep with exponents 1), checked bit for bit against the response on a grid
    of weights inside and around its range (also stretched); None: another response, or numba not installed."""
    return _Q_FORMS.get(resp, lambda: _q_form_checked(resp))


def _q_form_checked(resp):
    form = _q_form_of(resp)
    if form is not None:
        from . import kernels
        if not kernels.available() or not kernels.q_form_matches(resp, *form):
            form = None
    return form


def _q_form_of(resp):
    """The kernel form the response's name and parameters promise (:func:`_q_form` checks it)."""
    name = resp.name
    if name.startswith("preset:"):
        # the presets' affine code computes a + b w (or a - |b| w: the same bits) with the response's own
        # coefficients; read here from the response (importing the presets module would close an import cycle)
        if resp.affine is None:
            return None
        return 0, tuple(float(c) for c in resp.affine)
    if name == "aihwkit-powstep":
        from .response import FAMILY
        fam = FAMILY[name]
        try:
            s = fam.symbol_values(fam.values(resp.params))
        except InputError:
            return None
        if s["gu"] != 1.0 or s["gd"] != 1.0:
            return None
        return 1, (float(s["a"]), float(s["b"]), float(s["hi"]), float(s["lo"]), float(s["hi"] - s["lo"]))
    return None


def _f64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def _exact_setup(device):
    """The constants of an :func:`_exact` device's kernels (``kernels.exact_setup``), cached by their values."""
    resp, trains = device.response, device.trains
    return _exact_setup_of(resp.affine, float(device.dw_min), float(device.sigma_c), float(resp.granularity),
                           float(resp.lo), float(resp.hi), trains.desired_bl, trains.update_management,
                           trains.bl_management)


@lru_cache(maxsize=64)
def _exact_setup_of(aff, dw, sigma, granularity, lo, hi, desired_bl, um, blm):
    from . import kernels
    ta, tb, ts = _affine_tables(aff, dw, sigma, 1)
    ones = (ta[0], ta[2], 0.5 * (tb[2] - tb[0]), 0.5 * (tb[2] + tb[0]), ts[0], ts[2])
    far = (lo, hi, _affine_qmax(aff, lo, hi), dw, _REACH_SIGMAS * sigma * 1.0)
    tables = _affine_tables(aff, dw, sigma, desired_bl)
    return kernels.exact_setup(dw * granularity, desired_bl, um, blm, bool(sigma), tables, ones, far)


def _apply_dense(device, W: np.ndarray, M: np.ndarray, rng: np.random.Generator, reach: int, inplace: bool):
    """A small tile's signed counts M (samples, chains x elements; -n UP, +n DOWN) applied sample by sample
    to the whole tile, each sample one closed-form affine map per element (identity where M is 0; a device
    without per-element parameters). None when some element is within reach of a bound (then the caller
    goes event by event, pulse by pulse there)."""
    Wf = W.reshape(-1) if inplace and W.flags.c_contiguous and W.flags.writeable and W.dtype == np.float64 \
        else np.array(W, dtype=float).reshape(-1)
    if _far(device, Wf, reach, None) is not True:
        return None
    nmax = int(np.abs(M).max(initial=0))
    ta, tb, ts = _affine_tables(device.response.affine, device.dw_min, device.sigma_c, nmax)
    tix = (M + nmax).astype(np.intp)
    a, c = ta.take(tix), tb.take(tix)
    if device.sigma_c:
        nz = np.flatnonzero(M != 0)
        xi = rng.standard_normal(nz.size)
        xi *= ts.take(tix.reshape(-1).take(nz))
        c.reshape(-1)[nz] += xi
    for b in range(M.shape[0]):
        Wf *= a[b]
        Wf += c[b]
    return Wf


def _apply_events(device, W: np.ndarray, elem: np.ndarray, v: np.ndarray, bounds: np.ndarray,
                  rng: np.random.Generator, reach: int, inplace: bool = False, ones: bool = False) -> np.ndarray:
    """Events (element index into W flattened, signed count v: -n UP / +n DOWN) applied in the order of
    ``bounds``' segments (one segment per sample; an element at most once per segment). ``reach``: the
    most pulses an element can get from all segments. ``inplace``: write into W (when it is a writable
    contiguous float array). ``ones``: every event is a single pulse."""
    if inplace and W.flags.c_contiguous and W.flags.writeable and W.dtype == np.float64:
        Wf = W.reshape(-1)
    else:
        Wf = np.array(W, dtype=float).reshape(-1)
    el = device.elements(W.shape)
    el = None if el is None else el.reshape(-1).take(elem)
    n = np.broadcast_to(np.int64(1), v.shape) if ones else np.abs(v).astype(np.int64)
    segs = [(s0, s1) for s0, s1 in zip(bounds[:-1].tolist(), bounds[1:].tolist()) if s1 > s0]
    far = False
    if device.response.affine is not None and (ones or not device.multiplicative):
        far = _far(device, Wf.take(elem), reach, el)
        a, c = _affine_maps(device, n, v, el, rng, ones=ones)
        if far is True or np.all(far):        # (an elementwise test, per-element parameters: the same maps)
            scalar = np.ndim(a) == 0
            for s0, s1 in segs:
                e = elem[s0:s1]
                w = Wf.take(e)
                w *= a if scalar else a[s0:s1]
                w += c[s0:s1]
                Wf[e] = w
            return Wf
    # pulse by pulse (a response without closed form, or elements within reach of a bound)
    sign = np.where(v > 0, -1.0, 1.0)
    far = np.broadcast_to(far, elem.shape)
    for s0, s1 in segs:
        e, f = elem[s0:s1], far[s0:s1]
        if f.any():
            sl = np.flatnonzero(f) + s0
            w = Wf.take(elem[sl])
            Wf[elem[sl]] = (a if np.ndim(a) == 0 else a[sl]) * w + c[sl]
            sl = np.flatnonzero(~f) + s0
            e = elem[sl]
        else:
            sl = slice(s0, s1)
        if e.size:
            Wf[e] = pulse_update(device, Wf.take(e), sign[sl], rng, bl=n[sl],
                                 elements=None if el is None else el.take(sl))
    return Wf


_DENSE_LIMIT = 1 << 20        # chains x samples x elements up to which the per-sample maps are composed densely
_COMPOSE_SAMPLES = 16         # ... when a batch has at least this many samples (fewer: sample by sample is faster)
_DENSE_EVENTS = 1 << 15       # ... up to which the coincidences are counted over the whole tile


def _composable(device, shape) -> bool:
    """Affine response, no cycle noise, and every single pulse an increasing map (1 +- dw_min b > 0)."""
    aff = device.response.affine
    if aff is None or device.sigma_c:
        return False
    el = device.elements(shape)
    r, _ = _affine_steps(aff, el, device.dw_min, np.array([False, True]).reshape((2,) + (1,) * len(shape)))
    return bool(np.all(r > 0))


def _compose_samples(device, W: np.ndarray, n: np.ndarray, down: np.ndarray) -> np.ndarray:
    """Apply the samples in order, all elements at once: sample b maps an element with n_b > 0 pulses to
    clip(r^n w + t (1 - r^n)/(1 - r), lo, hi) (:func:`apply_counts`), an increasing clipped affine map;
    such maps compose in closed form, g(f(w)) = clip(c a w + c b + d, clip(c l + d, m, h'), clip(c h + d, m, h'))
    for f = clip(a w + b, l, h), g = clip(c w + d, m, h'), so a pairwise tree over the B samples gives the
    same weights as the sample-by-sample loop (to rounding) in log2(B) array passes. W (C, E), n/down
    (C, B, E)."""
    resp, dw = device.response, device.dw_min
    el = device.elements(W.shape)
    el = None if el is None else el.reshape((W.shape[0], 1, W.shape[1]))
    r, t = _affine_steps(resp.affine, el, dw, down)
    rn = r ** n
    one = r == 1.0
    geo = np.where(one, n, (1.0 - rn) / np.where(one, 1.0, 1.0 - r))
    hit = n > 0
    a = np.where(hit, rn, 1.0)
    b = np.where(hit, t * geo, 0.0)
    own = el is not None and el.lo is not None
    lo = np.where(hit, el.lo if own else resp.lo, -np.inf)
    hi = np.where(hit, el.hi if own else resp.hi, np.inf)
    ident = None
    while a.shape[1] > 1:
        if a.shape[1] % 2:          # append the identity map (np.concatenate: np.pad costs ~40 us a call)
            if ident is None:
                shape = (a.shape[0], 1, a.shape[2])
                ident = (np.ones(shape), np.zeros(shape), np.full(shape, -np.inf), np.full(shape, np.inf))
            a, b, lo, hi = (np.concatenate([x, i], axis=1) for x, i in zip((a, b, lo, hi), ident))
        fa, fb, fl, fh = a[:, 0::2], b[:, 0::2], lo[:, 0::2], hi[:, 0::2]     # earlier sample
        ga, gb, gl, gh = a[:, 1::2], b[:, 1::2], lo[:, 1::2], hi[:, 1::2]     # later sample
        with np.errstate(invalid="ignore"):               # a * inf is inf for a > 0
            lo = np.clip(ga * fl + gb, gl, gh)
            hi = np.clip(ga * fh + gb, gl, gh)
        a, b = ga * fa, ga * fb + gb
    return np.clip(a[:, 0] * W + b[:, 0], lo[:, 0], hi[:, 0])


# The compose branch compiled (kernels.compose_batch, the code in aimc_theory.kernels_compose_jit): used where numba is
# installed, the same bits as the NumPy branch above (tests/test_kernels_compose.py); False: always the NumPy branch.
_COMPOSE_KERNEL = True
_COMPOSE_STATE: list = []         # [whether the compiled module imports (numba installed)], looked up once


def _compose_compiled(device, W: np.ndarray, batch: Rank1Batch, lr: float, rng) -> np.ndarray | None:
    """The compose branch of :func:`batch_update` (the scales, :func:`_fire`'s uniforms from the same Generator in the
    same order, the counts, the signs and :func:`_compose_samples`' tree with the same operations) in one compiled
    call; the powers r^n and the maps' offsets looked up in a table NumPy computed (:func:`_compose_tables`). None:
    run the NumPy path (numba not installed, not a numpy Generator, a layout or dtype the kernel does not take,
    non-finite inputs, more than ``kernels.COMPOSE_MAX_SLOTS`` slots; nothing drawn then)."""
    if not _COMPOSE_STATE:
        try:
            from . import kernels_compose_jit  # noqa: F401 -- only whether it imports (numba is an optional extra)
        except ImportError:
            _COMPOSE_STATE.append(False)
        else:
            _COMPOSE_STATE.append(True)
    if not _COMPOSE_STATE[0]:
        return None
    from . import kernels
    X, D = batch.X, batch.D
    if type(rng) is not np.random.Generator or X.ndim != 3 or D.ndim != 3 or X.dtype != np.float64 \
            or D.dtype != np.float64:
        return None
    C, nb, out = D.shape
    inp = X.shape[-1]
    if X.shape[:2] not in ((1, nb), (C, nb)) or np.shape(W) != (C, out * inp) or out == 0 or inp == 0:
        return None
    trains, resp = device.trains, device.response
    el = device.elements(W.shape)
    Wf = np.ascontiguousarray(W, dtype=np.float64)
    X, D = np.ascontiguousarray(X), np.ascontiguousarray(D)
    setup = _compose_setup(float(device.dw_min * resp.granularity), trains.desired_bl, trains.update_management,
                           trains.bl_management)
    if el is None:
        lo, hi = float(resp.lo), float(resp.hi)
        tables = _compose_tables_of(resp.affine, float(device.dw_min), lo, hi,
                                    min(trains.desired_bl, kernels.COMPOSE_MAX_SLOTS) + 1,
                                    tuple(math.copysign(1.0, v) for v in (*resp.affine, lo, hi)))
    else:
        tables = _compose_tables(device, el, W.shape, 0)        # empty: the kernel says how many slots it needs
    status, slots, new = kernels.compose_batch(Wf, X, D, lr, setup, tables, rng)
    if status == kernels.COMPOSE_TABLE:
        status, slots, new = kernels.compose_batch(Wf, X, D, lr, setup, _compose_tables(device, el, W.shape, slots + 1),
                                                   rng)
    if status == kernels.COMPOSE_NOTHING:
        return W
    return new if status == kernels.COMPOSE_DONE else None


def _compose_ok(device, shape) -> bool:
    """:func:`_composable`, cached by the values that decide it for a device without per-element parameters."""
    if device.varies:
        return _composable(device, shape)
    return _composable_of(device.response.affine, device.dw_min, device.sigma_c)


@lru_cache(maxsize=64)
def _composable_of(aff, dw: float, sigma: float) -> bool:
    if aff is None or sigma:
        return False
    r, _ = _affine_steps(aff, None, dw, np.array([False, True]))
    return bool(np.all(r > 0))


@lru_cache(maxsize=64)
def _compose_setup(granule: float, desired_bl: int, um: bool, blm: bool):
    return np.array((granule, float(desired_bl))), np.array((um, blm), dtype=np.bool_)


def _compose_maps(r: np.ndarray, t: np.ndarray, K: int):
    """(r^k, t (1 - r^k)/(1 - r)) for k = 0..K-1 along a new last axis: :func:`_compose_samples`' a and b of k
    pulses, with the same NumPy operations and dtypes (float64 r ** int64 k; k itself where r == 1)."""
    k = np.arange(K, dtype=np.int64)
    rn = r[..., None] ** k
    one = (r == 1.0)[..., None]
    geo = np.where(one, k, (1.0 - rn) / np.where(one, 1.0, 1.0 - r[..., None]))
    return np.ascontiguousarray(rn), np.ascontiguousarray(t[..., None] * geo)


@lru_cache(maxsize=64)
def _compose_tables_of(aff, dw: float, lo: float, hi: float, K: int, signs: tuple):
    """The compose kernel's table of a device without per-element parameters: (ta, tb) (1, 2, K), UP then DOWN,
    and the bounds (1,) (read-only, cached; ``signs``: the signs of aff, lo and hi, so that a -0.0 is not served
    the table of a +0.0, which compares equal)."""
    r, t = _affine_steps(aff, None, dw, np.array([False, True]))
    ta, tb = _compose_maps(r.reshape(1, 2), t.reshape(1, 2), K)
    out = (ta, tb, np.array([lo]), np.array([hi]))
    for a in out:
        a.flags.writeable = False
    return out


def _compose_tables(device, el, shape, K: int):
    """The compose kernel's table of a device with per-element parameters (``el`` in the weights' ``shape``): (ta, tb)
    (elements, 2, K), UP then DOWN, and the bounds (elements,) or (1,) (the response's)."""
    resp = device.response
    size = int(np.prod(shape))
    flat = el.reshape((size, 1))
    r, t = _affine_steps(resp.affine, flat, device.dw_min, np.array([False, True]))
    ta, tb = _compose_maps(np.broadcast_to(r, (size, 2)), np.broadcast_to(t, (size, 2)), K)
    if el.lo is not None:
        lo = np.ascontiguousarray(el.lo, dtype=np.float64).reshape(-1)
        hi = np.ascontiguousarray(el.hi, dtype=np.float64).reshape(-1)
    else:
        lo, hi = np.array([float(resp.lo)]), np.array([float(resp.hi)])
    out = (ta, tb, lo, hi)
    for a in out:                     # read-only as the cached tables (one compiled signature)
        a.flags.writeable = False
    return out


def column_transfer(device, W: np.ndarray, V: np.ndarray, lr: float, columns: np.ndarray | None,
                    rng: np.random.Generator, inplace: bool = False) -> np.ndarray:
    """Tiki-Taka transfer: for every column j in ``columns`` (None: every column, in order) a rank-1 update with
    x = e_j, d = -V[:, :, j] (so W[:, :, j] += lr V[:, :, j] in expectation), all columns at once. W, V (chains,
    out, in). A new array (W itself when nothing fires); ``inplace`` (the caller gives W up): written into W where
    it is a writable C-contiguous float64 array (the same bits, without a copy of W per transfer).

    Column j fires in a slot with probability B_j, row i of it with A_j |V_ij| (independently per column:
    each column is its own update). The columns' firings are drawn first (chains x slots x columns); rows
    are drawn only for the columns that fire in some slot, and every element's coincidences are applied at
    once (each element belongs to one column: one event per element)."""
    C, out, inp = W.shape
    every = columns is None             # every column, in order (RL v1's default: no checks of the list per call)
    cols = np.arange(inp) if every else np.asarray(columns, dtype=np.int64).reshape(-1)
    if _BACKEND == "numba" and _exact(device) and np.shape(V) == W.shape and (every or _distinct_columns(cols, inp)):
        return _numba_transfer(device, W, V, lr, cols, rng, inplace, every or None)
    Vs = V if every or (cols.size == inp and np.array_equal(cols, np.arange(inp))) else V[:, :, cols]
    if _BACKEND == "numba":
        from . import kernels
        d_m = kernels.column_absmax(V, cols)
    else:
        d_m = np.maximum(Vs.max(axis=1), -Vs.min(axis=1))  # (chains, k): per column transfer
    A, B, bl = _scales(lr, np.ones_like(d_m), d_m, device.dw_min * device.response.granularity, device.trains)
    slots = int(bl.max(initial=0))
    if slots == 0:
        return W
    fire = rng.random((C, slots, cols.size)) < B[:, None, :]        # column j fires with B * 1
    if slots > 1:
        fire &= np.arange(slots)[None, :, None] < bl[:, None, :]
    c_f, k_f = np.nonzero(fire[:, 0] if slots == 1 else fire.any(axis=1))
    if c_f.size == 0:
        return W
    if _BACKEND == "numba":
        from . import kernels
        return kernels.pulse_transfer(device, W, V, c_f, k_f, cols[k_f],
                                      fire[c_f, 0, k_f][:, None] if slots == 1 else fire[c_f, :, k_f], A, rng)
    vcol = Vs[c_f, :, k_f]                                 # (fired, out): the fired columns
    q = np.abs(vcol)
    q *= A[c_f, k_f][:, None]
    np.minimum(q, 1.0, out=q)
    if slots == 1:
        hit = rng.random(q.shape) < q
        f, i = np.nonzero(hit)
        n = np.ones(f.size, dtype=np.int64)
    else:
        cnt = ((rng.random((q.shape[0], slots, out)) < q[:, None, :]) & fire[c_f, :, k_f][:, :, None]).sum(axis=1)
        f, i = np.nonzero(cnt)
        n = cnt[f, i].astype(np.int64)
    if f.size == 0:
        return W
    elem = (c_f[f] * out + i) * inp + cols[k_f[f]]
    Wf = flat_target(W, inplace)
    el = device.elements((C, out * inp))                   # the device's layout is flat
    el = None if el is None else el.reshape(-1).take(elem)
    Wf[elem] = apply_counts(device, Wf[elem], n, vcol[f, i] < 0, rng, el)   # d = -v: DOWN where v < 0
    return Wf.reshape(W.shape)


def _distinct_columns(cols: np.ndarray, inp: int) -> bool:
    """Every column in range and at most once (the compiled transfer's events then touch distinct elements)."""
    if cols.size <= 1:
        return cols.size == 0 or 0 <= cols[0] < inp
    if cols.min() < 0 or cols.max() >= inp:
        return False
    d = np.diff(cols)
    return bool(np.all(d == 1)) or np.unique(cols).size == cols.size


def _numba_transfer(device, W, V, lr: float, cols, rng, inplace: bool = False, every: bool | None = None) -> np.ndarray:
    """:func:`column_transfer` of an :func:`_exact` device in one compiled call (``kernels.exact_transfer``): the
    NumPy path's scales, uniforms, normals, events and operations, so the same bits (tested); where an element is
    within reach of a bound (or without cycle noise) :func:`apply_counts` writes the kernel's events."""
    from . import kernels
    status, Wf, elem, n, down = kernels.exact_transfer(W, V, cols, lr, _exact_setup(device), rng, inplace, every)
    if status == kernels.NOTHING:
        return W
    if status == kernels.EVENTS:
        Wf[elem] = apply_counts(device, Wf[elem], n, down, rng, None)
    return Wf.reshape(W.shape)
