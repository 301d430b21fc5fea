"""Expected (mean-field) dynamics of crossbar updates: the per-sample asymmetric drift (issue: P1 Fig. 2).

A tile written sample by sample with stochastic pulse trains (update and BL management, desired_bl BL)
receives, per sample b and element (i, j), on average

    c_bij = min(k_b, BL) (|x_bj|/x_m) min(1, (k_b/min(k_b, BL)) |d_bi|/d_m),   k_b = lr x_m d_m/dw_min

pulses (= lr |x_bj d_bi|/dw_min when nothing is capped), all of sign -sign(d_bi x_bj). With
U_q(w, n pulses) = w - dw n (s F + G) in expectation (s = sign(d x)), one iteration moves W by

    dW = -dw sum_b c_b (s_b F(W) + G(W)),

so the asymmetric drift is dw sum_b c_b G(W): a sum over samples of |lr x_b d_b| G, not |lr sum_b x_b d_b| G
as for one pulse train with the batch-mean gradient (``per_sample=False``: dW = -dw n (s F + G) with
n = min(lr |g|/dw, BL), g the batch gradient). Tiki-Taka's transfer writes C_j with
min(beta |A_j|/dw, BL_t) pulses of sign(A_j).

Fixed points (noiseless labels, b = A W*): every d_b vanishes at W_bar = W*, so (A = 0, C = W*) is a fixed
point for any response. Away from it:

* C at rest needs A_j F_C(C_j) = |A_j| G_C(C_j): A_j = 0 in the interior (|R_C| < 1), or C_j at the bound
  where R_C = sign(A_j) (soft bounds: the step toward the bound vanishes there).
* A at rest needs sum_b c_bj s_bj F_A(A_j) = -sum_b c_bj G_A(A_j): the count-weighted sign balance of the
  per-sample products must equal -R_A(A_j). While update management caps the trains (large residuals,
  k_b > BL), c_bj = BL |x_bj|/x_m does not depend on the residual's size, so the condition is a sign balance
  that large residuals can satisfy: a second, spurious stationary state far from W* in which some C_j sit
  at the bound on the side of the residual array's SP. With a batch-mean train the drift is
  |sum_b x_b d_b| G, which vanishes with the gradient, and no such state exists.

Whether the iterates reach W* or the spurious state depends on R_A(0) = G_A(0)/F_A(0) (for aihwkit soft bounds
with up_down u, -u/(2 - u)). This module iterates the expected map (deterministic, no pulses) to say which
devices run away and where C goes; the pulse simulations are compared with it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError, require_int, require_positive
from .derivation import Derivation
from ..response.core import _clip_ufunc as _clip   # np.clip's ufunc without its wrapper
from .engine import lambdify_w_raw


@dataclass(frozen=True)
class MeanFieldRun:
    """Expected trajectory of Analog SGD (``C`` is W, ``A`` None) or Tiki-Taka on least squares."""

    loss: np.ndarray          # f(W_bar) per iteration (steps + 1 values)
    C: np.ndarray             # final main weights
    A: np.ndarray | None      # final residual weights (Tiki-Taka)
    per_sample: bool

    @property
    def final_loss(self) -> float:
        return float(self.loss[-1])


def _fg(derivation: Derivation):
    # the lambdified F and G without lambdify_w's broadcast (a product with ones: the same values): they enter
    # the iteration only in products with arrays shaped like W, so a scalar (a constant F) broadcasts there
    return lambdify_w_raw(derivation.F), lambdify_w_raw(derivation.G)


def mean_field(derivation_a: Derivation, A_data, b, lr: float, steps: int, w0, dw_min: float, desired_bl: int,
               derivation_c: Derivation | None = None, gamma: float = 0.0, beta: float = 0.0,
               desired_bl_transfer: int = 31, per_sample: bool = True) -> MeanFieldRun:
    """Iterate the expected per-sample (or batch-mean) update on f = 1/(2N)||A W - b||^2, W a row vector.

    Analog SGD when ``derivation_c`` is None; otherwise Tiki-Taka with W_bar = C + gamma A, A written by
    the gradient (``derivation_a``'s device), C by the column transfer with rate ``beta``."""
    A_data = np.asarray(A_data, float)
    b = np.asarray(b, float)
    N, D = A_data.shape
    steps = require_int("steps", steps)
    lr, dw_min = require_positive("lr", lr), require_positive("dw_min", dw_min)
    Fa, Ga = _fg(derivation_a)
    lo, hi = derivation_a.response.lo, derivation_a.response.hi

    # the per-sample sums as products with the data: with c_bj = m_b |a_bj| (m_b = min(k_b, BL)/x_m,b, 0 for a
    # sample of zeros), sum_b c_bj = m |A| and sum_b c_bj sign(d_b a_bj) = (m sign(d)) A. The loop is call-bound
    # (N = 100, D = 50: a NumPy call costs more than its arithmetic): one residual r = A W_bar - b per step gives
    # both the gradient r/N and the loss of the step before (the same operations on the same W_bar)
    abs_a = np.abs(A_data)
    x_m = abs_a.max(axis=1)
    lr_x = lr * x_m
    with np.errstate(divide="ignore"):
        inv_x = np.where(x_m > 0, 1.0 / x_m, 0.0)

    def write(W, d):
        """One iteration's expected write of the gradient sum_b d_b a_b onto a device (F, G) = (Fa, Ga)."""
        if per_sample:
            m = lr_x * np.abs(d)
            m /= dw_min
            np.minimum(m, desired_bl, out=m)
            m *= inv_x
            if not np.isfinite(np.add.reduce(m)):   # m >= 0: NaN (a non-finite d) or inf (1/x_m overflows)
                m = np.nan_to_num(m)
            return _clip(W - dw_min * (((m * np.sign(d)) @ A_data) * Fa(W) + (m @ abs_a) * Ga(W)), lo, hi)
        g = A_data.T @ d
        n = np.minimum(lr * np.abs(g) / dw_min, desired_bl)
        return _clip(W - dw_min * n * (np.sign(g) * Fa(W) + Ga(W)), lo, hi)

    def loss(r):                # np.mean's operations (its pairwise sum, then the division) without its wrapper
        return 0.5 * float(np.add.reduce(r ** 2) / N)

    if derivation_c is None:
        W = np.broadcast_to(np.asarray(w0, float), (D,)).copy()
        r = A_data @ W - b
        curve = [loss(r)]
        for _ in range(steps):
            W = write(W, r / N)
            r = A_data @ W - b
            curve.append(loss(r))
        return MeanFieldRun(np.array(curve), W, None, per_sample)
    if not gamma >= 0 or not beta > 0:
        raise InputError("beta", f"Tiki-Taka needs beta > 0 and gamma >= 0 (got beta={beta}, gamma={gamma})")
    Fc, Gc = _fg(derivation_c)
    lo_c, hi_c = derivation_c.response.lo, derivation_c.response.hi
    C = np.broadcast_to(np.asarray(w0, float), (D,)).copy()
    Ares = np.zeros(D)
    curve = [loss(A_data @ C - b)]
    r = A_data @ (C + gamma * Ares) - b
    for _ in range(steps):
        Ares = write(Ares, r / N)
        n = np.minimum(beta * np.abs(Ares) / dw_min, desired_bl_transfer)
        C = _clip(C + dw_min * n * (np.sign(Ares) * Fc(C) - Gc(C)), lo_c, hi_c)
        r = A_data @ (C + gamma * Ares) - b
        curve.append(loss(r))
    return MeanFieldRun(np.array(curve), C, Ares, per_sample)
