"""Residual Learning (Tiki-Taka v1, RL v2): fixed point with a shifted residual SP (spec F.4),
the linearized transfer loop, the read-noise fixed point and the EMA variance ratio."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
import sympy as sp
from scipy import optimize

from ..errors import InputError, require_finite
from ..expressions import W
from .analog_sgd import check_problem
from .derivation import Derivation
from .engine import MU, lambdify_mu, lambdify_w
from .moments import folded_normal_mean


@dataclass(frozen=True)
class RLFixedPoint:
    """Limit of the mixed weight W + gamma P of RL v1 with an ideal main array (spec F.4).

    P at rest at p = 0 requires mu F_P(0) + m(mu) G_P(0) = 0, i.e. mu + m(mu) R_P(0) = 0 with
    mu = f'(W_bar): the bias depends on the residual array's R_P(0) only, not on lr, beta, gamma.
    """

    exact: float | np.ndarray
    bias: float | np.ndarray
    small_bias: float | np.ndarray      # -Sigma R_P(0)/L (m ~ Sigma); H^-1 (-Sigma R_P(0)) 1 for least squares
    mu: float

    def as_dict(self) -> dict:
        return {"exact": self.exact, "bias": self.bias, "small_bias": self.small_bias}


@dataclass(frozen=True)
class LinearizedLoop:
    """RL v1's mean dynamics linearized at the fixed point: lambda^2 - b1 lambda + a = 0."""

    a: float
    coupling: float
    char_poly: str
    roots: tuple
    spectral_radius: float
    decay_rate: float        # -log |lambda|_max per step
    complex: bool


@dataclass(frozen=True)
class ReadNoiseFixedPoint:
    """RL v1 with a noisy read onto a non-ideal main array: rest point (w, p) and the mixed weight."""

    w: float
    p: float
    exact: float
    bias: float


def _mu_root(R0: float, noise: float, moment) -> float:
    """Root of mu + m(mu) R0 = 0 (unique for |R0| < 1 because m' = erf(.) has |m'| < 1)."""
    if R0 == 0.0 or noise == 0.0:
        return 0.0
    if not abs(R0) < 1:
        raise InputError("response", f"|R_P(0)| = |G/F| = {abs(R0):.3g} must be < 1 for a fixed point")
    m = lambdify_mu(moment(MU, sp.Float(noise)))
    h = lambda mu: mu + float(m(mu)) * R0
    span = 10.0 * noise * (1 + abs(R0)) / (1 - abs(R0))
    return float(optimize.brentq(h, -span, span, xtol=1e-15, rtol=1e-15))


def _r_at(derivation: Derivation, w: float) -> float:
    resp = derivation.response
    if not resp.lo < w < resp.hi:
        raise InputError("sp_shift", f"0 must lie inside the residual array's range ({resp.lo:g}, {resp.hi:g})")
    return float(derivation.R_fn(np.array(w)))


def residual_learning_fixed_point(derivation_p: Derivation, L: float, w_star: float, noise: float,
                                  moment: Callable = folded_normal_mean) -> RLFixedPoint:
    """Where Residual Learning's mixed weight converges when the residual array's SP is not at 0 (spec F.4).

    Parameters
    ----------
    derivation_p : Derivation
        Of the residual array's response (moved by the reference error delta; its R_P(0) != 0).
    L, w_star, noise : float
        The scalar quadratic f = L/2 (w - w*)^2 with gradient noise of std ``noise``.
    moment : callable(mu, s)
        First absolute moment of N(mu, s^2) (default the folded-normal mean).

    Returns
    -------
    RLFixedPoint
        ``exact`` = w* + mu/L where mu + m(mu) R_P(0) = 0, the bias, its small-delta approximation
        -E|g| R_P(0)/L, and mu.
    """
    L, w_star, noise, _ = check_problem(L, w_star, noise, 1.0)
    R0 = _r_at(derivation_p, 0.0)
    mu = _mu_root(R0, noise, moment)
    sigma = float(moment(sp.Integer(0), sp.Float(noise))) if noise else 0.0
    return RLFixedPoint(w_star + mu / L, mu / L, -sigma * R0 / L, mu)


def population_rl_fixed_points(q_plus, q_minus, s_plus, s_minus, L: float, w_star: float, noise: float,
                               params=None, offsets=0.0, moment: Callable = folded_normal_mean,
                               iters: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """:func:`residual_learning_fixed_point` for every device of a population making the residual array:
    device i responds as s_+,i q+(p - o_i; p_i) up and s_-,i q-(p - o_i; p_i) down, so its R_P,i(0) is
    (s_- q- - s_+ q+)/(s_- q- + s_+ q+) at p = 0 and its mixed weight converges to w* + mu_i/L with
    mu_i + m(mu_i) R_P,i(0) = 0 (vectorized bisection; h(mu) = mu + m(mu) R is increasing as |m'| < 1 and
    |R| < 1 for positive responses).

    Parameters
    ----------
    q_plus, q_minus : str or sympy.Expr
        Per-device expressions in ``w`` and the names of ``params``.
    s_plus, s_minus : ndarray
        Per-device step scales.
    L, w_star, noise : float
        The scalar quadratic and its gradient noise.
    params : dict of name -> ndarray, optional
        Per-device parameter values.
    offsets : float or ndarray
        Per-device reference offsets o_i.
    moment : callable(mu, s)
        E|g| for g ~ N(mu, s^2).
    iters : int
        Bisection steps.

    Returns
    -------
    (exact, R0)
        Each device's limit of the mixed weight, and its R_P,i(0).
    """
    from .engine import bisect_increasing, lambdify_forms
    L, w_star, noise, _ = check_problem(L, w_star, noise, 1.0)
    params = dict(params or {})
    qp, _, qm, _ = lambdify_forms(q_plus, q_minus, list(params))
    s_plus, s_minus, off, *vals = np.broadcast_arrays(*(np.asarray(a, float) for a in
                                                        (s_plus, s_minus, offsets, *params.values())))
    up, down = s_plus * qp(-off, *vals), s_minus * qm(-off, *vals)
    if not (np.all(up > 0) and np.all(down > 0)):
        raise InputError("response", "a device's residual array does not step both ways at p = 0 (outside its "
                                     "range?): no fixed point")
    R0 = (down - up) / (down + up)
    if noise == 0.0:
        return np.full(R0.shape, w_star), R0
    m = lambdify_mu(moment(MU, sp.Float(noise)))
    span = 10.0 * noise * (1 + np.abs(R0)) / (1 - np.abs(R0))
    mu = bisect_increasing(lambda x: x + np.asarray(m(x), float) * R0, -span, span, iters)
    return w_star + mu / L, R0


def residual_learning_fixed_point_ls(derivation_p: Derivation, H, W_star, noise: float,
                                     moment: Callable = folded_normal_mean) -> RLFixedPoint:
    """Least squares: W_bar_inf = W* + H^{-1} mu 1, mu + m(mu) R_P(0) = 0 per coordinate."""
    H = np.asarray(H, float)
    W_star = np.asarray(W_star, float)
    noise = require_finite("noise", noise)
    R0 = _r_at(derivation_p, 0.0)
    mu = _mu_root(R0, noise, moment)
    sigma = float(moment(sp.Integer(0), sp.Float(noise))) if noise else 0.0
    bias = np.linalg.solve(H, np.full(W_star.size, mu))
    return RLFixedPoint(W_star + bias, bias, np.linalg.solve(H, np.full(W_star.size, -sigma * R0)), mu)


def residual_learning_linearized(derivation_p: Derivation, L: float, noise: float, lr: float,
                                 beta: float, gamma: float, F_w: float = 1.0,
                                 moment: Callable = folded_normal_mean) -> LinearizedLoop:
    """Mean dynamics of RL v1 linearized at its fixed point (P updated first, transfer every step).

    (p, e) -> p' = a p - lr L F_P(0) e,  e' = e + beta F_w p'  with
    a = 1 - lr d/dp[mu F_P(p) + m(mu) G_P(p)] (mu = L(e + gamma p)); characteristic polynomial
    lambda^2 - (1 + a - lr beta L F_P F_w) lambda + a = 0 (spec F.4 for F_P = F_w = 1).
    """
    fp = residual_learning_fixed_point(derivation_p, L, 0.0, noise, moment)
    mu = fp.mu
    p = sp.Symbol("p", real=True)
    Fp = derivation_p.F.subs(W, p)
    Gp = derivation_p.G.subs(W, p)
    m_expr = moment(MU, sp.Float(noise)) if noise else sp.Abs(MU)
    dm = float(sp.diff(m_expr, MU).subs(MU, mu)) if noise else 0.0
    m0 = float(m_expr.subs(MU, mu)) if noise else 0.0
    F0, G0 = float(Fp.subs(p, 0)), float(Gp.subs(p, 0))
    dF0, dG0 = float(sp.diff(Fp, p).subs(p, 0)), float(sp.diff(Gp, p).subs(p, 0))
    a = 1 - lr * (gamma * L * F0 + mu * dF0 + dm * gamma * L * G0 + m0 * dG0)
    c = lr * L * (F0 + dm * G0)             # coupling of the mean error e into p
    b1 = 1 + a - beta * F_w * c
    roots = np.roots([1.0, -b1, a])
    rho = float(np.max(np.abs(roots)))
    lam = sp.Symbol("lambda")
    return LinearizedLoop(a, c, str(sp.expand(lam ** 2 - sp.Float(b1) * lam + sp.Float(a))),
                          tuple(complex(r) for r in roots), rho, -math.log(rho) if rho > 0 else math.inf,
                          bool(np.iscomplexobj(roots) and np.any(np.abs(np.imag(roots)) > 0)))


def residual_learning_read_noise_fixed_point(derivation_p: Derivation, derivation_w: Derivation, L: float,
                                             w_star: float, noise: float, read_noise: float, gamma: float,
                                             moment: Callable = folded_normal_mean) -> ReadNoiseFixedPoint:
    """RL v1 whose transfer reads P + eps (eps ~ N(0, s_r^2)) onto a non-ideal main array.

    Rest of W: p F_W(w) - m_r(p) G_W(w) = 0 (m_r = E|p + eps|); rest of P:
    mu F_P(p) + m(mu) G_P(p) = 0 with mu = L(w + gamma p - w*). The read noise acts as an
    implicit penalty on W (P1 section 5): the mixed weight is biased unless G_W = 0.
    """
    pf = lambdify_w(derivation_p.F), lambdify_w(derivation_p.G)
    wf = lambdify_w(derivation_w.F), lambdify_w(derivation_w.G)
    m_g = lambdify_mu(moment(MU, sp.Float(noise)))
    m_r = lambdify_mu(moment(MU, sp.Float(read_noise)))

    def eqs(x):
        w, p = x
        mu = L * (w + gamma * p - w_star)
        return [mu * pf[0](p) + float(m_g(mu)) * pf[1](p), p * wf[0](w) - float(m_r(p)) * wf[1](w)]

    sol = optimize.root(eqs, [w_star, 0.0], method="hybr", tol=1e-14)
    if not (sol.success or np.max(np.abs(sol.fun)) < 1e-12):
        raise InputError("read_noise", f"no fixed point found ({sol.message})")
    w, p = (float(v) for v in sol.x)
    return ReadNoiseFixedPoint(w, p, w + gamma * p, w + gamma * p - w_star)


def ema_noise_variance_ratio(beta) -> sp.Expr:
    """Var(H)/Var(eps) for H <- (1 - beta) H + beta eps: beta^2 sum_k (1 - beta)^{2k} = beta/(2 - beta)."""
    b, expr = _ema_noise_variance_ratio()
    return expr if beta is None else expr.subs(b, beta)


@lru_cache(maxsize=1)
def _ema_noise_variance_ratio() -> tuple[sp.Symbol, sp.Expr]:
    # summed and simplified once per process (~0.15 s), then only substituted
    b = sp.Symbol("beta", positive=True)
    k = sp.Symbol("k", integer=True, nonnegative=True)
    total = sp.piecewise_fold(sp.summation(b ** 2 * (1 - b) ** (2 * k), (k, 0, sp.oo)))
    if isinstance(total, sp.Piecewise):   # geometric series: the branch for |1 - beta| < 1
        total = total.args[0][0]
    return b, sp.simplify(total)


@dataclass(frozen=True)
class LoopVariance:
    """Stationary fluctuations of RL v1's mixed weight W_bar = W + gamma P about its fixed point.

    ``per_lr`` is the lr -> 0 limit of Var(W_bar)/lr with beta/lr held fixed (the leading order, closed
    form); ``variance`` the stationary variance of the linearized loop at the given lr and beta (discrete
    Lyapunov equation; it keeps the linear map's own O(lr) terms but not those of the neglected
    nonlinearities, so only ``per_lr`` is a clean statement).
    """

    variance: float
    per_lr: float
    noise_variance: float       # v: the per-step noise of P is lr^2 v
    damping: float              # A1 = (1 - a)/lr: P's own relaxation rate per unit lr
    coupling: float             # c' = c/lr: coupling of the mean error into P per unit lr


def _loop_coefficients(derivation_p: Derivation, L: float, noise: float, moment: Callable):
    """F_P, G_P and their slopes at p = 0, the rest value mu of the gradient, m(mu) and m'(mu)."""
    fp = residual_learning_fixed_point(derivation_p, L, 0.0, noise, moment)
    mu = fp.mu
    p = sp.Symbol("p", real=True)
    Fp, Gp = derivation_p.F.subs(W, p), derivation_p.G.subs(W, p)
    m_expr = moment(MU, sp.Float(noise)) if noise else sp.Abs(MU)
    m0 = float(m_expr.subs(MU, mu)) if noise else 0.0
    dm = float(sp.diff(m_expr, MU).subs(MU, mu)) if noise else 0.0
    vals = [float(e.subs(p, 0)) for e in (Fp, Gp, sp.diff(Fp, p), sp.diff(Gp, p))]
    return (*vals, mu, m0, dm)


def residual_learning_variance(derivation_p: Derivation, L: float, noise: float, lr: float, beta: float,
                               gamma: float, F_w: float = 1.0,
                               moment: Callable = folded_normal_mean) -> LoopVariance:
    """Stationary variance of RL v1's mixed weight on the scalar quadratic (ideal main array, transfer every step).

    Linearized at the fixed point (as :func:`residual_learning_linearized`), the residual p and the main
    array's error e follow

        p' = a p - c e + eta,   e' = e + beta F_w p',
        a = 1 - lr A1,  A1 = gamma L F_P + mu F_P' + m'(mu) gamma L G_P + m(mu) G_P',  c = lr L (F_P + m'(mu) G_P),

    with the gradient noise written onto P, eta = -lr[(g - mu) F_P + (|g| - m(mu)) G_P], of variance lr^2 v,
    v = F_P^2 s^2 + G_P^2 Var|g| + 2 F_P G_P Cov(g, |g|) (Var|g| = mu^2 + s^2 - m^2, Cov(g, |g|) = s^2 m'(mu)).
    With beta = kappa lr and time measured in lr steps this is an Ornstein-Uhlenbeck process whose
    stationary covariance (M S + S M^T + v e_p e_p^T = 0, M = [[-A1, -c'], [kappa F_w, 0]]) has Cov(p, e) = 0,
    Var p = lr v/(2 A1) and Var e = kappa F_w Var p / c', so

        Var(W_bar)/lr -> v (kappa F_w/c' + gamma^2) / (2 A1)     (lr -> 0, kappa = beta/lr fixed).

    Parameters
    ----------
    derivation_p : Derivation
        Of the residual array's response (its SP at 0 for an unbiased loop; any R_P(0) with |R_P(0)| < 1).
    L, noise : float
        Curvature of f = L/2 (w - w*)^2 and the std of the gradient noise.
    lr, beta, gamma : float
        The residual learning rate, the transfer rate and the mixing weight.
    F_w : float
        The main array's F at its rest point (1 for an ideal main array).
    moment : callable(mu, s)
        E|g| for g ~ N(mu, s^2).

    Returns
    -------
    LoopVariance

    Raises
    ------
    InputError
        The linearized loop is not stable (A1 <= 0 or c' beta F_w <= 0): no stationary variance.
    """
    from scipy.linalg import solve_discrete_lyapunov
    L, lr, beta = (require_finite(n, v) for n, v in (("L", L), ("lr", lr), ("beta", beta)))
    F0, G0, dF0, dG0, mu, m0, dm = _loop_coefficients(derivation_p, L, noise, moment)
    A1 = gamma * L * F0 + mu * dF0 + dm * gamma * L * G0 + m0 * dG0
    c1 = L * (F0 + dm * G0)
    if not (A1 > 0 and c1 * beta * F_w > 0):
        raise InputError("response", f"the linearized transfer loop is not stable (A1 = {A1:.3g}, c' = {c1:.3g}): "
                                     "no stationary variance")
    var_abs = mu ** 2 + noise ** 2 - m0 ** 2
    v = F0 ** 2 * noise ** 2 + G0 ** 2 * var_abs + 2 * F0 * G0 * noise ** 2 * dm
    kappa = beta / lr
    per_lr = v * (kappa * F_w / c1 + gamma ** 2) / (2 * A1)
    a, c = 1 - lr * A1, lr * c1
    M = np.array([[a, -c], [beta * F_w * a, 1 - beta * F_w * c]])
    b = np.array([1.0, beta * F_w])
    try:
        S = solve_discrete_lyapunov(M, lr ** 2 * v * np.outer(b, b))
        u = np.array([gamma, 1.0])
        variance = float(u @ S @ u)
    except (np.linalg.LinAlgError, ValueError):
        variance = math.nan
    return LoopVariance(variance, float(per_lr), float(v), float(A1), float(c1))


def residual_learning_marginal_damping(derivation_p: Derivation, L: float) -> float:
    """gamma = 0 and no gradient noise: how fast the marginal transfer loop still decays (spec F.4).

    Without noise and with gamma = 0 the linearized loop has |lambda| = 1 (a = 1); in lr-time
    (tau = lr k, beta = kappa lr) the error e = W - w* and the residual p obey

        dp/dtau = -L e F_P(p) - L |e| G_P(p),   de/dtau = kappa p,

    an oscillator e'' + kappa L F_P(0) e = -L (F_P'(0) e + G_P'(0) |e|) e' + O(e^3) (G_P(0) = 0 for a residual
    array with its SP at 0). First-order averaging over one cycle (e = A cos theta, e' = -A omega sin theta,
    <cos theta sin^2 theta> = 0, <|cos theta| sin^2 theta> = 2/(3 pi)) gives dA/dtau = -(2/(3 pi)) L G_P'(0) A^2:
    the amplitude decays algebraically, 1/A growing linearly at

        d(1/A)/dk = (2/(3 pi)) lr L G_P'(0)   per step,

    whatever kappa and F_P(0) (they set the frequency only). A constant G_P(0) only moves the centre of the
    oscillation at this order (<|cos theta| sin theta> = 0).

    Returns
    -------
    float
        (2/(3 pi)) L G_P'(0): the growth of 1/A per unit lr and step.
    """
    p = sp.Symbol("p", real=True)
    dG0 = float(sp.diff(derivation_p.G.subs(W, p), p).subs(p, 0))
    return float(2 / (3 * math.pi) * L * dG0)


def residual_learning_read_noise_small_bias(derivation_p: Derivation, derivation_w: Derivation, L: float,
                                            w_star: float, noise: float, read_noise: float, gamma: float,
                                            moment: Callable = folded_normal_mean) -> ReadNoiseFixedPoint:
    """First-order version of :func:`residual_learning_read_noise_fixed_point` (P1 eq. 43's treatment):
    every moment at its value at 0 (m ~ Sigma = m(0; s), m_r ~ Sigma_r = m(0; s_r)) and each array's
    R = G/F linear at its own SP (R(x) ~ R'(SP) (x - SP)). The two rest conditions

        p = Sigma_r R_W'(SP_W) (w - SP_W),     L (w + gamma p - w*) = -Sigma R_P'(SP_P) (p - SP_P)

    are then linear in (w, p)."""
    sig = float(moment(sp.Integer(0), sp.Float(noise))) if noise else 0.0
    sig_r = float(moment(sp.Integer(0), sp.Float(read_noise))) if read_noise else 0.0
    rw, sw = derivation_w.penalty_curvature, derivation_w.symmetric_point
    rp, spp = derivation_p.penalty_curvature, derivation_p.symmetric_point
    k = sig_r * rw                          # p = k (w - SP_W)
    w = (L * w_star + sig * rp * spp + (L * gamma + sig * rp) * k * sw) / (L + (L * gamma + sig * rp) * k)
    p = k * (w - sw)
    return ReadNoiseFixedPoint(float(w), float(p), float(w + gamma * p), float(w + gamma * p - w_star))
