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

    def dense(self) -> np.ndarray:
        """The summed gradient, flattened to (chains, out * in) like the weights."""
        X = np.broadcast_to(self.X, self.D.shape[:2] + self.X.shape[-1:])
        g = np.einsum("cbo,cbi->coi", self.D, X)
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
                 rng: np.random.Generator | None) -> np.ndarray:
    """``n`` pulses per element, all DOWN where ``down`` (else UP), through the device's response.

    Pulses of one sign on one element compose: for an affine response (q = a + b w) in closed form,
    w <- r^n w + t (1 - r^n)/(1 - r) with r = 1 +- dw b, t = +-dw a, clipped once (repeated pulses of
    one sign never come back from a bound); otherwise (or with cycle-to-cycle noise) pulse by pulse.
    """
    resp, dw = device.response, device.dw_min
    if not n.any():
        return W
    aff = resp.affine
    if aff is None or device.sigma_c:
        from .device import pulse_update
        return pulse_update(device, W, np.where(down, -1.0, 1.0), rng, bl=n.astype(np.int64))
    ap, bp, am, bm = aff
    r = np.where(down, 1.0 - dw * bm, 1.0 + dw * bp)
    t = np.where(down, -dw * am, dw * ap)
    rn = r ** n
    one = r == 1.0
    geo = np.where(one, n, (1.0 - rn) / np.where(one, 1.0, 1.0 - r))
    return resp.clip(np.where(n > 0, rn * W + t * geo, W))


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
    pass), so all coincidence counts are drawn at once; only their application runs sample by sample."""
    out, inp = batch.shape
    Wm = W.reshape(W.shape[0], out, inp)
    X = np.broadcast_to(batch.X, batch.D.shape[:2] + (inp,))
    D = batch.D
    x_m = np.max(np.abs(X), axis=-1)                       # (chains, B)
    d_m = np.max(np.abs(D), axis=-1)
    A, B, bl = _scales(lr, x_m, d_m, device.dw_min, device.trains)
    p = (B[..., None] * np.abs(X))[:, :, None, :]          # (chains, B, 1, in)
    q = (A[..., None] * np.abs(D))[:, :, :, None]          # (chains, B, out, 1)
    n = _counts(p, q, bl[:, :, None, None], int(bl.max(initial=0)), rng)
    down = (D[:, :, :, None] * X[:, :, None, :]) > 0
    for b in range(D.shape[1]):
        Wm = apply_counts(device, Wm, n[:, b], down[:, b], rng)
    return Wm.reshape(W.shape)


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
    return apply_counts(device, W, n, v < 0, rng)         # d = -v: d x > 0 <=> v < 0 -> DOWN
