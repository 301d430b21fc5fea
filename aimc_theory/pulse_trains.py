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

Everything is vectorized over chains and matrix elements; the only loops are over samples and slots.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import require_int


@dataclass(frozen=True)
class PulseTrains:
    """Update semantics of the reference simulator (aihwkit ``UpdateParameters``)."""

    desired_bl: int = 31
    update_management: bool = True
    bl_management: bool = True

    def __post_init__(self):
        require_int("desired_bl", self.desired_bl)


@dataclass(frozen=True)
class Rank1Batch:
    """A mini-batch gradient as the per-sample factors a crossbar sees: the gradient of the loss is
    sum_b d_b x_b^T. ``X``: (chains or 1, B, in), ``D``: (chains, B, out); D carries the loss's 1/B."""

    X: np.ndarray
    D: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.D.shape[-1], self.X.shape[-1]

    def dense(self, scale: float = 1.0) -> np.ndarray:
        """The summed gradient times ``scale``, flattened to (chains, out * in) like the weights (the scale
        is applied to the small per-sample errors, not to the full matrix)."""
        X = np.broadcast_to(self.X, self.D.shape[:2] + self.X.shape[-1:])
        D = self.D if scale == 1.0 else self.D * scale
        g = np.matmul(np.swapaxes(D, 1, 2), X)        # BLAS, not einsum's loops
        return g.reshape(g.shape[0], -1)

    def __mul__(self, c):
        """Scale every sample's error by a per-chain factor (e.g. a chopper sign of shape (chains, 1))."""
        return Rank1Batch(self.X, self.D * np.asarray(c)[..., None])

    __rmul__ = __mul__


def _scales(lr: float, x_m, d_m, dw_min: float, trains: PulseTrains):
    """(A, B, BL) of UM/UBLM (aihwkit ``calculateBlAB``) for arrays of per-update maxima."""
    k = lr * x_m * d_m / dw_min
    live = k > 0                           # nothing to write for a zero input or error
    if trains.bl_management:
        bl = np.clip(np.ceil(k * (1 - 1e-12)), 1, trains.desired_bl)
    else:
        bl = np.full(np.shape(k), float(trains.desired_bl))
    A = B = np.sqrt(lr / (dw_min * bl))
    if trains.update_management:
        with np.errstate(divide="ignore", invalid="ignore"):
            d_eff = np.where(k > trains.desired_bl, d_m * trains.desired_bl / k, d_m)
            A = np.where(live, A * np.sqrt(x_m / d_eff), 0.0)
            B = np.where(live, B * np.sqrt(d_eff / x_m), 0.0)
    return A, B, np.where(live, bl, 0).astype(np.int64)


def apply_counts(device, W: np.ndarray, n: np.ndarray, down: np.ndarray,
                 rng: np.random.Generator | None, elements=None) -> np.ndarray:
    """``n`` pulses per element, all DOWN where ``down`` (else UP), through the device's response
    (``elements``: the elements' parameters in W's shape, :class:`~aimc_theory.device.Elements`; default
    the device's own).

    Pulses of one sign on one element compose: for an affine response (q = a + b w) in closed form,
    w <- r^n w + t (1 - r^n)/(1 - r) with r = 1 +- dw b, t = +-dw a, clipped once (repeated pulses of
    one sign never come back from a bound); otherwise (or with cycle-to-cycle noise) pulse by pulse.
    """
    resp, dw = device.response, device.dw_min
    if not n.any():
        return W
    el = device.elements(np.shape(W)) if elements is None else elements
    aff = resp.affine
    if aff is None or device.sigma_c:
        from .device import pulse_update
        return pulse_update(device, W, np.where(down, -1.0, 1.0), rng, bl=n.astype(np.int64), elements=el)
    r, t = _affine_steps(aff, el, dw, down)
    rn = r ** n
    one = r == 1.0
    geo = np.where(one, n, (1.0 - rn) / np.where(one, 1.0, 1.0 - r))
    new = np.where(n > 0, rn * W + t * geo, W)
    return resp.clip(new) if el is None else el.clip(resp, new)


def _affine_steps(aff, el, dw: float, down):
    """One pulse of an affine response as w <- r w + t: r = 1 + dw s+ b+ k+, t = dw s+ a+ up, and
    r = 1 - dw s- b- k-, t = -dw s- a- down (s: the element's step scale, k its stretch)."""
    ap, bp, am, bm = aff
    if el is None:
        s = dw
    else:
        s = np.where(down, el.down, el.up) * dw
        if el.up_stretch is not None:          # q(k w) = a + (b k) w
            bp, bm = bp * el.up_stretch, bm * el.down_stretch
    r = np.where(down, 1.0 - s * bm, 1.0 + s * bp)
    t = np.where(down, -s * am, s * ap)
    return r, t


def _counts(p: np.ndarray, q: np.ndarray, bl: np.ndarray, slots: int, rng: np.random.Generator) -> np.ndarray:
    """Coincidences over ``slots`` slots (only the first ``bl`` count): columns fire with probability p
    (shape (..., 1 or out, in)), rows with q (shape (..., out, 1 or in)), independently per slot."""
    p = np.clip(np.nan_to_num(p), 0.0, 1.0)
    q = np.clip(np.nan_to_num(q), 0.0, 1.0)
    n = np.zeros(np.broadcast_shapes(p.shape, q.shape), dtype=np.int64)
    for s in range(slots):
        n += (rng.random(p.shape) < p) & (rng.random(q.shape) < q) & (bl > s)
    return n


def sample_update(device, W: np.ndarray, x: np.ndarray, d: np.ndarray, lr: float,
                  rng: np.random.Generator) -> np.ndarray:
    """One sample's rank-1 update W <- W - lr d x^T by pulse trains. W (chains, out, in), x (chains, in),
    d (chains, out). Returns the new W (a batch of one for :func:`batch_update`)."""
    flat = batch_update(device, W.reshape(W.shape[0], -1), Rank1Batch(x[:, None, :], d[:, None, :]), lr, rng)
    return flat.reshape(W.shape)


def batch_update(device, W: np.ndarray, batch: Rank1Batch, lr: float, rng: np.random.Generator) -> np.ndarray:
    """Apply a mini-batch sample by sample. W flattened (chains, out * in); returns the same layout.

    The samples' pulse trains do not depend on the weights (x and d come from one forward/backward
    pass), so every slot's row and column firings are drawn at once, (B, slots, in + out) draws, not one
    per matrix element. The coincidences are sparse (lr |x d|/dw_min pulses per element and sample), so
    they are listed as events (sample, row, column) and applied per element in sample order: round r
    applies the r-th pulsed sample of every element that has one. Exactly the sequential semantics; the
    work scales with the number of pulses, not with B x out x in."""
    out, inp = batch.shape
    C, nb = batch.D.shape[:2]
    X = np.broadcast_to(batch.X, (C, nb, inp))
    D = batch.D
    x_m = np.max(np.abs(X), axis=-1)                       # (chains, B)
    d_m = np.max(np.abs(D), axis=-1)
    A, B, bl = _scales(lr, x_m, d_m, device.dw_min, device.trains)
    slots = int(bl.max(initial=0))
    if slots == 0:
        return W
    live = (np.arange(slots) < bl[..., None])[..., None]   # (chains, B, slots, 1)
    p = np.clip(np.nan_to_num(B[..., None] * np.abs(X)), 0.0, 1.0)[:, :, None, :]
    q = np.clip(np.nan_to_num(A[..., None] * np.abs(D)), 0.0, 1.0)[:, :, None, :]
    cols = (rng.random((C, nb, slots, inp)) < p) & live
    rows = (rng.random((C, nb, slots, out)) < q) & live
    if C * nb * out * inp <= _DENSE_LIMIT and _composable(device, W.shape):
        # small tiles, many samples per element (P1 Fig. 2: 1 x 50, B = 100): compose the samples' maps
        n = np.matmul(np.swapaxes(rows, 2, 3).astype(np.float32), cols.astype(np.float32))   # (C, B, out, in)
        down = D[..., :, None] * X[..., None, :] > 0
        return _compose_samples(device, W, n.reshape(C, nb, -1).astype(np.int64), down.reshape(C, nb, -1))
    # every (row, column) pair that fires in the same (chain, sample, slot) group is one pulse
    groups = C * nb * slots
    rg, ri = np.divmod(np.flatnonzero(rows), out)          # group index, row
    cg, cj = np.divmod(np.flatnonzero(cols), inp)
    n_cols = np.bincount(cg, minlength=groups)
    col_start = np.concatenate(([0], np.cumsum(n_cols)[:-1]))
    reps = n_cols[rg]
    total = int(reps.sum())
    if total == 0:
        return W
    g = np.repeat(rg, reps)
    i = np.repeat(ri, reps)
    first = np.repeat(np.cumsum(reps) - reps, reps)
    j = cj[col_start[g] + np.arange(total) - first]
    cb = g // slots                                        # chain * B + sample
    c, b = np.divmod(cb, nb)
    # pulses of one (element, sample) have one sign: count them; key orders by element, then sample
    elem = (c * out + i) * inp + j
    keys, n = np.unique(elem * nb + b, return_counts=True)
    elem, b = np.divmod(keys, nb)
    c, rest = np.divmod(elem, out * inp)
    down = D[c, b, rest // inp] * X[c, b, rest % inp] > 0
    starts = np.flatnonzero(np.r_[True, elem[1:] != elem[:-1]])
    run = np.zeros(elem.size, dtype=np.int64)
    run[starts] = starts
    rank = np.arange(elem.size) - np.maximum.accumulate(run)
    Wf = W.reshape(-1).copy()
    el = device.elements(W.shape)
    el = None if el is None else el.reshape(-1)
    order = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[order], np.arange(int(rank.max()) + 2))
    for r in range(bounds.size - 1):
        sel = order[bounds[r]:bounds[r + 1]]
        e = elem[sel]
        Wf[e] = apply_counts(device, Wf[e], n[sel], down[sel], rng, None if el is None else el.take(e))
    return Wf.reshape(W.shape)


_DENSE_LIMIT = 1 << 20        # chains x samples x elements up to which the per-sample maps are composed densely


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
    while a.shape[1] > 1:
        if a.shape[1] % 2:                                 # pad with the identity map
            pad = [(0, 0), (0, 1), (0, 0)]
            a, b = np.pad(a, pad, constant_values=1.0), np.pad(b, pad)
            lo, hi = np.pad(lo, pad, constant_values=-np.inf), np.pad(hi, pad, constant_values=np.inf)
        fa, fb, fl, fh = a[:, 0::2], b[:, 0::2], lo[:, 0::2], hi[:, 0::2]     # earlier sample
        ga, gb, gl, gh = a[:, 1::2], b[:, 1::2], lo[:, 1::2], hi[:, 1::2]     # later sample
        with np.errstate(invalid="ignore"):               # a * inf is inf for a > 0
            lo = np.clip(ga * fl + gb, gl, gh)
            hi = np.clip(ga * fh + gb, gl, gh)
        a, b = ga * fa, ga * fb + gb
    return np.clip(a[:, 0] * W + b[:, 0], lo[:, 0], hi[:, 0])


def column_transfer(device, W: np.ndarray, V: np.ndarray, lr: float, columns: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
    """Tiki-Taka transfer: for every column j in ``columns`` a rank-1 update with x = e_j, d = -V[:, :, j]
    (so W[:, :, j] += lr V[:, :, j] in expectation), all columns at once. W, V (chains, out, in)."""
    trains = device.trains
    cols = np.zeros(W.shape[-1], dtype=bool)
    cols[np.asarray(columns, dtype=np.int64)] = True
    v = np.where(cols[None, None, :], V, 0.0)
    d_m = np.max(np.abs(v), axis=1)                       # (chains, in): per column transfer
    A, B, bl = _scales(lr, np.ones_like(d_m), d_m, device.dw_min, trains)
    p = B[:, None, :]                                     # column j fires with B * 1
    q = A[:, None, :] * np.abs(v)                         # rows, independent per column
    n = _counts(p, q, bl[:, None, :], int(bl.max(initial=0)), rng)
    el = device.elements((W.shape[0], W.shape[1] * W.shape[2]))     # the device's layout is flat
    return apply_counts(device, W, n, v < 0, rng, None if el is None else el.reshape(W.shape))   # d = -v: DOWN
