"""Analog SGD on the scalar quadratic and on least squares: exact root of the mean drift
with the folded-normal E|g|, the small-bias approximation (P1 eq. 43), local contraction and
stationary variance (spec F.1, F.2)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np
import sympy as sp
from scipy import optimize

from ..errors import InputError, require_finite, require_nonnegative, require_positive
from ..expressions import W
from .derivation import Derivation
from .engine import MU, lambdify_mu, lambdify_w as _lambdify_w
from .moments import folded_normal_mean


@dataclass(frozen=True)
class FixedPoint:
    """Analog SGD on f = L/2 (w - w*)^2 with g ~ N(f'(w), s^2) (spec F.1, F.2)."""

    exact: float          # root of the mean drift f'F + m(f')G
    small_bias: float     # P1 eq. 43: (f'' w* + Sigma R'(SP) SP)/(f'' + Sigma R'(SP)); NaN without an SP
    contraction: float    # 1 - lr * d/dw[drift] at the root
    variance: float       # lr^2 v / (1 - rho^2)
    sigma: float          # Sigma = E|g| at w*
    drift: sp.Expr | None = field(default=None, repr=False)

    def as_dict(self) -> dict:
        return {"exact": self.exact, "small_bias": None if math.isnan(self.small_bias) else self.small_bias,
                "contraction": self.contraction,
                "variance": self.variance, "sigma": self.sigma}


def check_problem(L, w_star, noise, lr):
    """The scalar quadratic's L, w_star, noise and the learning rate, validated (an InputError names the
    one out of range); shared by the fixed points of :mod:`.residual_learning` and :mod:`.tracking`."""
    L = require_positive("L", L)
    w_star = require_finite("w_star", w_star)
    noise = require_nonnegative("noise", noise)
    lr = require_positive("lr", lr)
    return L, w_star, noise, lr


def analog_sgd_fixed_point(derivation: Derivation, L: float, w_star: float, noise: float, lr: float,
                           moment: Callable = folded_normal_mean, grad: sp.Expr | None = None,
                           w_guess: float | None = None) -> FixedPoint:
    """Fixed point, contraction and stationary variance of Analog SGD (spec F.1, F.2).

    Parameters
    ----------
    derivation : Derivation
        From :func:`derive` (the response's F, G, R and SP).
    L, w_star, noise, lr : float
        The scalar problem f(w) = L/2 (w - w*)^2 with gradient g = f'(w) + noise xi, and the step size.
    moment : callable(mu, s)
        First absolute moment of g ~ N(mu, s^2) (default: the folded-normal mean; a negative control may
        pass a wrong one).
    grad : SymPy expression in ``w``, optional
        f'(w) for another objective (default L (w - w*)); the small-bias approximation then uses f''(w*).
    w_guess : float, optional
        Start of the root search.

    Returns
    -------
    FixedPoint
        ``exact`` (root of the mean drift E g F + E|g| G = 0, arXiv 2502.06309 eq. 42), ``small_bias``
        (eq. 43 with eq. 60's sign corrected), ``contraction`` per step, stationary ``variance``, ``sigma``
        (E|g| at the optimum).
    """
    L, w_star, noise, lr = check_problem(1.0 if grad is not None else L, w_star, noise, lr)
    resp = derivation.response
    if not (resp.lo < w_star < resp.hi):
        raise InputError("w_star", f"must lie inside the weight range ({resp.lo:g}, {resp.hi:g})")
    fprime = grad if grad is not None else L * (W - sp.Float(w_star))
    s = sp.Float(noise)
    m = moment(fprime, s)
    drift = fprime * derivation.F + m * derivation.G      # E[g F + |g| G] at w
    D = _lambdify_w(drift)
    lo = resp.lo if math.isfinite(resp.lo) else w_star - 1e3
    hi = resp.hi if math.isfinite(resp.hi) else w_star + 1e3
    exact = root_near(D, lo, hi, w_guess if w_guess is not None else w_star)

    dD = float(_d_dw(drift).subs(W, exact).evalf())
    rho = 1.0 - lr * dD
    # one-step noise variance of g F + |g| G at the root (spec F.2): g ~ N(mu, s^2)
    mu = float(fprime.subs(W, exact))
    Fv, Gv = float(derivation.F.subs(W, exact)), float(derivation.G.subs(W, exact))
    if noise > 0:
        m_abs = float(folded_normal_mean(sp.Float(mu), s))
        var_abs = mu ** 2 + noise ** 2 - m_abs ** 2
        cov = noise ** 2 * math.erf(mu / (noise * math.sqrt(2)))
        v = Fv ** 2 * noise ** 2 + Gv ** 2 * var_abs + 2 * Fv * Gv * cov
    else:
        v = 0.0
    variance = lr ** 2 * v / (1 - rho ** 2) if abs(rho) < 1 else math.inf

    sigma = float(moment(sp.Integer(0), s))
    f2 = float(_d_dw(fprime).subs(W, w_star))
    if derivation.every_point_symmetric:
        small = w_star
    elif not derivation.symmetric_points:   # no SP in the range: eq. 43 has no anchor (the exact root needs none)
        small = math.nan
    else:
        sp0 = float(min(derivation.symmetric_points, key=lambda v: abs(float(v) - w_star)))
        rp = float(_d_dw(derivation.R).subs(W, sp0).evalf())
        small = (f2 * w_star + sigma * rp * sp0) / (f2 + sigma * rp)
    return FixedPoint(exact, small, rho, variance, sigma, drift)


@lru_cache(maxsize=256)
def _d_dw(expr: sp.Expr) -> sp.Expr:
    # d/dw kept per expression: the fixed points of one problem at several step sizes (and the wrong theories that
    # keep its drift) differentiate the same drift
    return sp.diff(expr, W)


def root_near(D, lo, hi, guess) -> float:
    """Root of the scalar drift D in (lo, hi) closest to ``guess`` (Brent on a sign change)."""
    x = np.linspace(lo, hi, 40001)[1:-1]
    with np.errstate(all="ignore"):
        y = D(x)
    ok = np.isfinite(y)
    x, y = x[ok], y[ok]
    idx = np.nonzero(np.sign(y[:-1]) * np.sign(y[1:]) <= 0)[0]
    if len(idx) == 0:
        raise InputError("w_star", "the mean drift has no root inside the weight range; the weight "
                                   "saturates at a bound")
    roots = [optimize.brentq(lambda t: float(D(np.array(t))), x[i], x[i + 1], xtol=1e-15, rtol=1e-15)
             if y[i] != 0 else float(x[i]) for i in idx]
    return float(min(roots, key=lambda r: abs(r - guess)))


def population_fixed_points(q_plus, q_minus, s_plus, s_minus, lo, hi, L: float, w_star: float, noise: float,
                            params=None, moment: Callable = folded_normal_mean, iters: int = 80, offsets=0.0):
    """Analog SGD's fixed point on f = L/2 (w - w*)^2 for every device of a population: device i has
    q+_i = s_+,i q+(w; p_i), q-_i = s_-,i q-(w; p_i) on its own range (lo_i, hi_i), and its fixed point is the
    root of its mean drift f'(w) F_i(w) + m(f'(w)) G_i(w) (as :func:`analog_sgd_fixed_point`), found by
    vectorized bisection.

    Parameters
    ----------
    q_plus, q_minus : str or sympy.Expr
        Per-device expressions in ``w`` and the names of ``params``.
    s_plus, s_minus : ndarray
        Per-device step scales.
    lo, hi : float or ndarray
        Each device's range (before its offset).
    L, w_star, noise : float
        The problem: f'(w) = L (w - w*), g = f'(w) + noise xi.
    params : dict of name -> ndarray, optional
        Per-device parameter values.
    moment : callable(mu, s)
        E|g| for g ~ N(mu, s^2) (default the folded-normal mean).
    iters : int
        Bisection steps (80: to the float resolution of the range).
    offsets : float or ndarray
        Per-device reference offsets: device i responds as q(w - o_i) and lives on (lo_i, hi_i) + o_i (the
        range is given before the offset, as :func:`~aimc_theory.symbolic.calibration.population_symmetric_points`
        takes it).

    Returns
    -------
    (fixed_points, status)
        ``status`` "interior", or "upper"/"lower" where the drift does not change sign inside the device's
        range (the weight saturates there; the fixed point is reported as that bound).
    """
    from .engine import bisect_increasing, lambdify_forms
    L = require_positive("L", L)
    w_star = require_finite("w_star", w_star)
    noise = require_nonnegative("noise", noise)
    params = dict(params or {})
    qp, _, qm, _ = lambdify_forms(q_plus, q_minus, list(params))
    m_fn = lambdify_mu(moment(MU, sp.Float(noise)))
    s_plus, s_minus, lo, hi, off, *vals = np.broadcast_arrays(*(np.asarray(a, float) for a in
                                                               (s_plus, s_minus, lo, hi, offsets, *params.values())))
    lo, hi = lo + off, hi + off                       # the device's range in w

    def drift(w):
        up, down = s_plus * qp(w - off, *vals), s_minus * qm(w - off, *vals)
        mu = L * (w - w_star)
        return mu * 0.5 * (down + up) + np.asarray(m_fn(mu), float) * 0.5 * (down - up)

    span = hi - lo
    a, b = lo + 1e-12 * span, hi - 1e-12 * span
    status = np.where(drift(b) <= 0, "upper", np.where(drift(a) >= 0, "lower", "interior"))
    roots = bisect_increasing(drift, a, b, iters)
    return np.where(status == "upper", hi, np.where(status == "lower", lo, roots)), status


def digital_sgd_fixed_point(L: float, w_star: float, noise: float, lr: float) -> FixedPoint:
    """Digital SGD on the same problem: exact = w*, rho = 1 - lr L, Var = lr^2 s^2/(1 - rho^2)."""
    L, w_star, noise, lr = check_problem(L, w_star, noise, lr)
    rho = 1 - lr * L
    var = lr ** 2 * noise ** 2 / (1 - rho ** 2) if abs(rho) < 1 else math.inf
    return FixedPoint(w_star, w_star, rho, var, noise * math.sqrt(2 / math.pi))


# -- multi-dimensional least squares -------------------------------------------------------

@dataclass(frozen=True)
class FixedPointLS:
    """Analog SGD on f = 1/(2N)||AW - b||^2 with additive gradient noise N(0, s^2 I)."""

    exact: np.ndarray
    small_bias: np.ndarray
    contraction: float        # spectral radius of the Jacobian of the mean map at the root
    sigma: float


def check_least_squares(H, W_star) -> tuple[np.ndarray, np.ndarray]:
    """H (D x D, finite) and W* (length D) as float arrays, or an InputError naming the bad one."""
    H = np.asarray(H, float)
    W_star = np.asarray(W_star, float).ravel()
    D = W_star.size
    if H.shape != (D, D):
        raise InputError("H", f"must be a {D}x{D} matrix (got shape {H.shape})")
    if not (np.all(np.isfinite(H)) and np.all(np.isfinite(W_star))):
        raise InputError("H", "H and W* must be finite (NaN or inf found)")
    return H, W_star


def analog_sgd_fixed_point_ls(derivation: Derivation, H, W_star, noise: float, lr: float,
                              moment: Callable = folded_normal_mean) -> FixedPointLS:
    """Root of H(W - W*) F(W) + m(H(W - W*)) G(W) = 0 (elementwise products), and
    W_small = (H + Sigma R'(SP) I)^{-1} (H W* + Sigma R'(SP) SP) (P1 eq. 43, spec F.1 multi-D)."""
    H, W_star = check_least_squares(H, W_star)
    D = W_star.size
    noise = require_finite("noise", noise)
    lr = require_positive("lr", lr)
    Fn, Gn = _lambdify_w(derivation.F), _lambdify_w(derivation.G)
    s = sp.Float(noise)
    m_expr = moment(MU, s)
    m_fn = lambdify_mu(m_expr)
    dm_fn = lambdify_mu(sp.diff(m_expr, MU))
    dF = _lambdify_w(sp.diff(derivation.F, W))
    dG = _lambdify_w(sp.diff(derivation.G, W))

    def m_of(mu):
        return np.asarray(m_fn(mu), float) * np.ones_like(mu)

    def drift(Wv):
        mu = H @ (Wv - W_star)
        return mu * Fn(Wv) + m_of(mu) * Gn(Wv)

    def jac(Wv):
        mu = H @ (Wv - W_star)
        dm = np.asarray(dm_fn(mu), float) * np.ones_like(mu)
        return (Fn(Wv)[:, None] * H + np.diag(mu * dF(Wv))
                + (dm * Gn(Wv))[:, None] * H + np.diag(m_of(mu) * dG(Wv)))

    sigma = float(moment(sp.Integer(0), s))
    if derivation.every_point_symmetric:
        small = W_star.copy()
    else:
        sp0 = float(derivation.symmetric_point)
        rp = float(_d_dw(derivation.R).subs(W, sp0).evalf())
        small = np.linalg.solve(H + sigma * rp * np.eye(D), H @ W_star + sigma * rp * sp0)
    sol = optimize.root(drift, small, jac=jac, method="hybr", tol=1e-13)
    if not (sol.success or np.max(np.abs(sol.fun)) < 1e-12):
        raise InputError("W_star", f"the multi-D mean drift has no root near the small-bias point "
                                   f"({sol.message}); is W* inside the weight range?")
    J = np.eye(D) - lr * jac(sol.x)
    return FixedPointLS(sol.x, small, float(np.max(np.abs(np.linalg.eigvals(J)))), sigma)

