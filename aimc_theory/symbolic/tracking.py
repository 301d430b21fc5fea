"""Theory of dynamic SP tracking: RIDER's stationary points, the EMA filter, Lemma 3.5 (P2 section 3).

RIDER stationary points (derived here; the question of spec F.5)
------------------------------------------------------------------
Scalar quadratic f = L/2 (w - w*)^2, g = f'(W_bar) + s xi, residual array P with response
(F_P, G_P), main array W with (F_W, G_W), digital Q, expected-update devices, mixed weight
W_bar = W + gamma (P - Q). In stationarity:

1. Q is an EMA of P, so E Q = E P and E(P_{k+1} - Q_k) = 0: the mixed weight's mean is W's.
2. P at rest: mu F_P(P) + m(mu) G_P(P) = 0 with mu = L(W - w*) and m(mu) = E|g| (folded normal).
3. W at rest: E[(P - Q)] F_W(W) = E|P - Q| G_W(W).

*Ideal main array* (G_W = 0, F_W = 1): condition 3 is condition 1, and one condition is missing.
It is supplied by an exact invariant: W_{k+1} - W_k = beta (P_{k+1} - Q_k) and
Q_{k+1} - Q_k = eta (P_{k+1} - Q_k), so

    I = W_k - (beta/eta) Q_k = W_0 - (beta/eta) Q_0     for every k and every noise path.

The limit is the intersection of the line W = I + (beta/eta) Q with condition 2 (unique, since
mu + m(mu) R_P(Q) is monotone along it): it depends on the initialization (W_0, Q_0). W -> w*
and Q -> the SP of P (P2 Thm 3.7's claim) only when I = w* - (beta/eta) w_sp; without gradient
noise (m = |mu|) W -> w* but Q stops wherever the line puts it.

*Non-ideal main array* with gradient noise: P - Q fluctuates, E|P - Q| > 0 and E(P - Q) = 0, so
condition 3 forces G_W(W) = 0: W is pulled to the main array's own SP w_W, whatever the
initialization, and P = Q settle where condition 2 holds with mu = L(w_W - w*) (at a bound of
P's range if R_P never reaches -mu/m(mu) there).

*E-RIDER* (chopper c_k, P2 eq. 17-18): averaged over the chopper, the c_k-modulated gradient in P
no longer has a constant component, W integrates the demodulated signal and the invariant is
broken; the averaging argument (heuristic, not a proof) gives W_bar -> w* and Q -> the SP of P for
an ideal main array, independent of the initialization.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
import sympy as sp
from scipy import optimize

from ..errors import InputError, require_nonnegative, require_positive
from .analog_sgd import check_least_squares, check_problem, root_near
from .derivation import Derivation
from .engine import MU, lambdify_mu, lambdify_w
from .moments import folded_normal_mean

OMEGA = sp.Symbol("omega", real=True)
ETA = sp.Symbol("eta", positive=True)


# -- EMA filter (P2 Lemma 3.10) ------------------------------------------------------------

def ema_filter_gain(eta=None) -> sp.Expr:
    """|H(e^{j omega})|^2 of Q <- (1 - eta) Q + eta P, derived from H(z) = eta/(1 - (1 - eta) z^-1)."""
    gain = _ema_filter_gain()
    return gain if eta is None else gain.subs(ETA, eta)


@lru_cache(maxsize=1)
def _ema_filter_gain() -> sp.Expr:
    # derived once per process (~0.1-0.3 s of simplify), then only substituted
    z = sp.exp(sp.I * OMEGA)
    H = ETA / (1 - (1 - ETA) / z)
    return sp.simplify(sp.expand_complex(H * sp.conjugate(H)).rewrite(sp.cos))


def ema_filter_gain_printed(eta, omega):
    """P2 eq. 16/50 as printed: eta^2/(1 + (1 - eta)^2 - 2 (1 - eta) cos omega)."""
    return eta ** 2 / (1 + (1 - eta) ** 2 - 2 * (1 - eta) * np.cos(omega))


# -- Lemma 3.5 ----------------------------------------------------------------------------------

def lemma35_threshold(P, Q, w_sp, factor: float = 2.0):
    """eta above which one EMA step brings Q closer to the SP than P is (P2 Lemma 3.5):
    eta > 1 - 2 |P - w_sp| cos(theta)/|P - Q|, theta the angle between P - w_sp and P - Q.

    Derivation: Q' - w_sp = (P - w_sp) - (1 - eta)(P - Q), so |Q' - w_sp|^2 < |P - w_sp|^2 iff
    (1 - eta)|P - Q|^2 < 2 <P - w_sp, P - Q> (for eta < 1). ``factor`` exists for negative controls.
    """
    P, Q, w_sp = (np.asarray(a, float) for a in (P, Q, w_sp))
    a, b = P - w_sp, P - Q
    inner = np.sum(a * b, axis=-1)
    return 1.0 - factor * inner / np.sum(b * b, axis=-1)


# -- RIDER stationary points ------------------------------------------------------------------

@dataclass(frozen=True)
class RiderFixedPoint:
    """Where RIDER's means settle (see the module docstring); NaN where the theory gives a set."""

    exact: float             # mixed weight W_bar
    main: float              # W
    reference: float         # Q (= mean of P)
    residual: float          # P
    kind: str                # "invariant line" | "main-array SP" | "noiseless set"
    invariant: float | None  # W - (beta/eta) Q (ideal main array)
    residual_sp: float       # the SP of P that Thm 3.7 says Q tracks
    saturated: bool = False  # P pinned at a bound of its range

    def as_dict(self) -> dict:
        return {"exact": self.exact, "main": self.main, "reference": self.reference, "residual": self.residual,
                "kind": self.kind, "invariant": self.invariant, "residual_sp": self.residual_sp,
                "saturated": self.saturated}


def rider_fixed_point(derivation_p: Derivation, derivation_w: Derivation, L: float, w_star: float,
                      noise: float, beta: float, eta: float, w0: float, q0: float,
                      moment: Callable = folded_normal_mean) -> RiderFixedPoint:
    """RIDER's stationary point on the scalar quadratic from (W_0, Q_0) (derivation above)."""
    L, w_star, noise, _ = check_problem(L, w_star, noise, 1.0)
    beta = require_positive("beta", beta)
    eta = require_positive("eta", eta)
    resp_p = derivation_p.response
    if derivation_p.every_point_symmetric:
        raise InputError("response", "RIDER tracks the residual array's SP: an ideal residual array has none")
    w_sp = float(derivation_p.symmetric_point)
    Fp, Gp = lambdify_w(derivation_p.F), lambdify_w(derivation_p.G)
    m = lambdify_mu(moment(MU, sp.Float(noise))) if noise else np.abs

    def m_of(mu):
        return np.asarray(m(mu), float) * np.ones_like(mu)

    lo, hi = resp_p.lo, resp_p.hi
    if derivation_w.every_point_symmetric:
        inv = w0 - beta / eta * q0

        def h(q):   # condition 2 along the invariant line W = I + (beta/eta) Q
            mu = L * (inv + beta / eta * q - w_star)
            return mu * Fp(q) + m_of(mu) * Gp(q)

        q = root_near(h, lo if math.isfinite(lo) else w_sp - 1e3, hi if math.isfinite(hi) else w_sp + 1e3, w_sp)
        w = inv + beta / eta * q
        return RiderFixedPoint(w, w, q, q, "invariant line", inv, w_sp)
    if noise == 0:
        nan = math.nan
        return RiderFixedPoint(w_star, nan, nan, nan, "noiseless set", None, w_sp)
    sps = derivation_w.symmetric_points
    w = float(min(sps, key=lambda v: abs(float(v) - w0)))
    mu = L * (w - w_star)

    def hp(q):
        return mu * Fp(q) + m_of(np.full_like(q, mu)) * Gp(q)

    try:
        q = root_near(hp, lo, hi, w_sp)
        saturated = False
    except InputError:   # R_P never reaches -mu/m(mu): P drifts to a bound
        q = hi if mu < 0 else lo
        saturated = True
    return RiderFixedPoint(w, w, q, q, "main-array SP", None, w_sp, saturated)


def rider_fixed_point_ls(derivation_p: Derivation, H, W_star, noise: float, beta: float, eta: float, W0, Q0,
                         moment: Callable = folded_normal_mean) -> RiderFixedPoint:
    """RIDER with an ideal main array on least squares (gradient H(W_bar - W*) + N(0, s^2 I)): per
    coordinate the invariant W_d - (beta/eta) Q_d = I_d holds, and Q solves the D equations
    mu_d F_P(Q_d) + m(mu_d) G_P(Q_d) = 0 with mu = H(I + (beta/eta) Q - W*)."""
    H, W_star = check_least_squares(H, W_star)
    D = W_star.size
    beta = require_positive("beta", beta)
    eta = require_positive("eta", eta)
    noise = require_nonnegative("noise", noise)
    inv = np.broadcast_to(np.asarray(W0, float), (D,)) - beta / eta * np.broadcast_to(np.asarray(Q0, float), (D,))
    Fp, Gp = lambdify_w(derivation_p.F), lambdify_w(derivation_p.G)
    m = lambdify_mu(moment(MU, sp.Float(noise))) if noise else np.abs
    w_sp = float(derivation_p.symmetric_point)

    def eqs(q):
        mu = H @ (inv + beta / eta * q - W_star)
        return mu * Fp(q) + np.asarray(m(mu), float) * np.ones(D) * Gp(q)

    sol = optimize.root(eqs, np.full(D, w_sp), method="hybr", tol=1e-13)
    if not (sol.success or np.max(np.abs(sol.fun)) < 1e-11):
        raise InputError("W0", f"no stationary point found on the invariant line ({sol.message})")
    q = sol.x
    w = inv + beta / eta * q
    return RiderFixedPoint(w, w, q, q, "invariant line", inv, w_sp)
