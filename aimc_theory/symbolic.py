"""Symbolic derivations (SymPy) from the response functions: P1 eq. 3-7, 42-45, spec F.1-F.2, F.6.

Everything here starts from ``Response.q_plus_expr`` / ``q_minus_expr`` and never runs a
simulation. Numbers are obtained by lambdifying the SymPy expressions and using
quadrature or root finding on them (not the numeric path's hand-written responses).

Main entry points
-----------------
``derive(response)``
    F, G, R = G/F, the SPs, the accumulated penalty R_c(w) = int_{SP}^{w} R, R'(SP).
``analog_sgd_fixed_point(...)``
    For f(w) = L/2 (w - w*)^2 with g = f'(w) + s*xi (xi ~ N(0,1)): the exact root of the mean
    drift f'F + m(f')G (m = folded-normal first moment), the small-bias approximation
    (P1 eq. 43), the local contraction factor and the stationary variance (spec F.2).
``analog_sgd_fixed_point_ls(...)``
    The multi-dimensional least-squares versions (spec F.1 / F.2 multi-D).
"""
from __future__ import annotations

import math
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import sympy as sp
from scipy import integrate, optimize

from .errors import InputError, require_finite, require_nonnegative, require_positive
from .expressions import W
from .response import Response, scan_grid

MU = sp.Symbol("mu", real=True)
S = sp.Symbol("s", positive=True)
_T = sp.Symbol("t", real=True)
SQRT2 = sp.sqrt(2)


# -- noise moments ----------------------------------------------------------------------

def folded_normal_mean(mu, s):
    """m(mu) = E|g| for g ~ N(mu, s^2): s*sqrt(2/pi)*exp(-mu^2/(2 s^2)) + mu*erf(mu/(s sqrt 2))."""
    if sp.sympify(s).is_zero:   # note: Float(0.0) == 0 is False in SymPy >= 1.13
        return sp.Abs(mu)
    return s * sp.sqrt(2 / sp.pi) * sp.exp(-mu ** 2 / (2 * s ** 2)) + mu * sp.erf(mu / (s * SQRT2))


def constant_moment(mu, s):
    """A wrong theory used by negative controls: E|g| replaced by the standard deviation s."""
    return s + 0 * mu


# -- time budget for SymPy ---------------------------------------------------------------

class _Timeout(Exception):
    pass


@contextmanager
def _budget(seconds: float):
    """Interrupt a SymPy call after ``seconds`` (only possible in the main thread)."""
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _try(fn, seconds):
    try:
        with _budget(seconds):
            return fn()
    except _Timeout:
        return None
    except (NotImplementedError, TypeError, ValueError, ZeroDivisionError, AttributeError,
            RecursionError):
        return None  # SymPy gave up or produced something it cannot handle


# -- derivation --------------------------------------------------------------------------

@dataclass
class Derivation:
    """F, G, R, the SPs and the accumulated penalty of one response, with numeric callables."""

    response: Response
    F: sp.Expr
    G: sp.Expr
    R: sp.Expr
    symmetric_points: list
    penalty: sp.Expr
    penalty_closed_form: bool
    penalty_curvature: float
    every_point_symmetric: bool = False
    _R_fn: Callable = field(default=None, repr=False)
    _pen_fn: Callable = field(default=None, repr=False)

    @property
    def symmetric_point(self) -> float:
        """The SP closest to 0 (0 for the ideal device)."""
        return 0.0 if not self.symmetric_points else float(min(self.symmetric_points,
                                                                key=lambda v: abs(float(v))))

    def __post_init__(self):
        self._F_fn = _lambdify_w(self.F)
        self._G_fn = _lambdify_w(self.G)

    def F_fn(self, w):
        return self._F_fn(np.asarray(w, float))

    def G_fn(self, w):
        return self._G_fn(np.asarray(w, float))

    def R_fn(self, w):
        return self._R_fn(np.asarray(w, float))

    def penalty_fn(self, w):
        """R_c(w) = int_{SP}^{w} G/F, evaluated numerically (closed form or quadrature)."""
        return self._pen_fn(np.asarray(w, float))

    def as_dict(self) -> dict:
        keys = {"F": self.F, "G": self.G, "R": self.R, "penalty": self.penalty}
        return {
            **{k: str(v) for k, v in keys.items()},
            "penalty_closed_form": self.penalty_closed_form,
            "symmetric_points": [float(x) for x in self.symmetric_points],
            "every_point_symmetric": self.every_point_symmetric,
            "penalty_curvature": self.penalty_curvature,
            "penalty_anchor": self.symmetric_point,   # the SP (closest to 0) where R_c = 0
            "range": [self.response.lo, self.response.hi],
            "latex": {k: sp.latex(v) for k, v in keys.items()},
        }

    def _repr_latex_(self) -> str:
        return (f"$F = {sp.latex(self.F)},\\quad G = {sp.latex(self.G)},\\quad "
                f"R_c(w) = {sp.latex(self.penalty)}$")


_LAMBDA_CACHE: dict = {}


def _lambdify_w(expr):
    key = sp.srepr(expr)
    if key not in _LAMBDA_CACHE:
        f = sp.lambdify(W, expr, modules=["numpy", {"erf": _erf}])
        _LAMBDA_CACHE[key] = lambda w, f=f: np.asarray(f(w), dtype=float) * np.ones_like(w, dtype=float)
    return _LAMBDA_CACHE[key]


def _erf(x):
    from scipy.special import erf
    return erf(x)


def _symmetric_points(G: sp.Expr, resp: Response, budget: float) -> list:
    """Exact SPs from solveset when SymPy finds them; else Brent on the lambdified G."""
    interval = sp.Interval.open(resp.lo, resp.hi)
    sol = _try(lambda: sp.solveset(sp.simplify(G), W, interval), budget)
    if isinstance(sol, sp.FiniteSet) and all(x.is_real for x in sol):
        return sorted(sol, key=float)
    g = _lambdify_w(G)
    x = scan_grid(resp.lo, resp.hi, 20001)
    with np.errstate(all="ignore"):
        y = g(x)
    roots = [float(v) for v in x[y == 0]]
    for i in np.nonzero(np.sign(y[:-1]) * np.sign(y[1:]) < 0)[0]:
        roots.append(optimize.brentq(lambda t: float(g(np.array(t))), x[i], x[i + 1], xtol=1e-15))
    return [sp.Float(r) for r in sorted(set(roots))]


def derive(response: Response, time_budget: float = 4.0, penalty: bool = True) -> Derivation:
    """F = (q- + q+)/2, G = (q- - q+)/2, R = G/F, SPs, R_c(w) = int_{SP}^w R, R'(SP).

    ``time_budget`` (seconds) bounds each SymPy call; when the integral is not found in
    time (or when ``penalty=False`` skips the search), ``penalty`` is an unevaluated
    ``Integral``, ``penalty_closed_form`` is False and ``penalty_fn`` uses adaptive quadrature.
    """
    qp, qm = response.q_plus_expr, response.q_minus_expr
    F = sp.simplify((qm + qp) / 2)
    G = sp.simplify((qm - qp) / 2)
    R = _try(lambda: sp.simplify(G / F), time_budget) or G / F
    R_fn = _lambdify_w(R)
    every = bool(response.every_point_symmetric or G == 0)
    if every:
        return Derivation(response, F, G, R, [], sp.Integer(0), True, 0.0, True,
                          R_fn, lambda w: np.zeros_like(w, dtype=float))
    sps = _symmetric_points(G, response, time_budget)
    if not sps:
        raise InputError("response", f"no symmetric point (G = 0) inside ({response.lo:g}, {response.hi:g})")
    w0 = min(sps, key=lambda v: abs(float(v)))
    curvature = float(sp.diff(R, W).subs(W, w0).evalf())

    pen = _closed_penalty(R, w0, R_fn, response, time_budget) if penalty else None
    closed_form = pen is not None
    w0f = float(w0)

    def quad_penalty(w):
        w = np.asarray(w, float)
        flat = [integrate.quad(lambda t: float(R_fn(np.array(t))), w0f, float(x), limit=200)[0]
                for x in w.ravel()]
        return np.array(flat).reshape(w.shape)

    if closed_form:
        closed_fn = _lambdify_w(pen)

        def pen_fn(w):
            w = np.asarray(w, float)
            with np.errstate(all="ignore"):
                v = closed_fn(w)
            bad = ~np.isfinite(v)   # removable singularities (e.g. log 0 - log 0 at the SP)
            if bad.any():
                v = np.where(bad, quad_penalty(np.where(bad, w, w0f)), v)
            return v
    else:
        pen = sp.Integral(R.subs(W, _T), (_T, w0, W))
        pen_fn = quad_penalty

    return Derivation(response, F, G, R, list(sps), pen, closed_form, curvature, False, R_fn, pen_fn)


def _integrand_forms(R):
    """R itself, then rewrites SymPy integrates more often: radicals combined
    (sqrt(a) sqrt(b) -> sqrt(ab), valid where both are positive, i.e. inside the range) and a
    trigonometric substitution w = k sin(theta) for sqrt(a - b w^2)."""
    yield R, None
    c = sp.expand(sp.powsimp(sp.expand(sp.radsimp(R)), force=True))
    c = c.replace(lambda e: e.is_Pow and e.exp == sp.Rational(1, 2), lambda e: sp.sqrt(sp.expand(e.base)))
    if c != R:
        yield c, None
    for root in c.atoms(sp.Pow):
        if root.exp != sp.Rational(1, 2):
            continue
        poly = sp.Poly(root.base, W) if root.base.is_polynomial(W) else None
        if poly is None or poly.degree() != 2:
            continue
        b2, b1, b0 = (poly.coeff_monomial(W ** 2), poly.coeff_monomial(W), poly.coeff_monomial(1))
        if b1 != 0 or not (b0 > 0 and b2 < 0):
            continue
        k = sp.sqrt(b0 / -b2)
        th = sp.Symbol("theta", real=True)
        e = c.subs(W, k * sp.sin(th)) * k * sp.cos(th)
        e = e.replace(lambda x: x.is_Pow and x.exp == sp.Rational(1, 2),
                      lambda x: sp.sqrt(sp.factor(sp.trigsimp(x.base))))
        e = sp.simplify(e.subs(sp.sqrt(sp.cos(th) ** 2), sp.cos(th)))  # cos > 0 for |w| < k
        yield e, (th, sp.asin(W / k))
        break


def _closed_penalty(R, w0, R_fn, response, budget):
    """int_{w0}^{w} R in closed form, accepted only if it matches quadrature at test points."""
    lo = response.lo if math.isfinite(response.lo) else float(w0) - 1.0
    hi = response.hi if math.isfinite(response.hi) else float(w0) + 1.0
    test = np.array([lo + 0.13 * (hi - lo), lo + 0.41 * (hi - lo), lo + 0.77 * (hi - lo)])
    with np.errstate(all="ignore"):
        ref = np.array([integrate.quad(lambda t: float(R_fn(np.array(t))), float(w0), x, limit=200)[0]
                        for x in test])

    def attempt(form, back):
        A = sp.integrate(form, back[0] if back else W)
        if A.has(sp.Integral):
            return None
        if back:
            A = A.subs(back[0], back[1])
        # log|u| is as good an antiderivative as log(u) and stays real on the whole range
        A = A.replace(sp.log, lambda u: sp.log(sp.Abs(u)))
        A0 = A.subs(W, w0)
        if not A0.is_finite:
            A0 = sp.limit(A, W, w0)   # removable singularity at the SP
            if not A0.is_finite:
                return None
        pen = A - A0
        if pen.has(sp.I, sp.zoo, sp.oo, sp.nan):
            return None
        with np.errstate(all="ignore"):
            val = _lambdify_w(pen)(test)
        if np.all(np.isfinite(val)) and np.allclose(val, ref, rtol=1e-8, atol=1e-10):
            return pen
        return None

    for form, back in _integrand_forms(R):
        pen = _try(lambda: attempt(form, back), budget)
        if pen is not None:
            return pen
    return None


# -- scalar quadratic: Analog SGD mean-drift fixed point, rate, variance -----------------

@dataclass
class FixedPoint:
    """Analog SGD on f = L/2 (w - w*)^2 with g ~ N(f'(w), s^2) (spec F.1, F.2)."""

    exact: float          # root of the mean drift f'F + m(f')G
    small_bias: float     # P1 eq. 43: (f'' w* + Sigma R'(SP) SP)/(f'' + Sigma R'(SP))
    contraction: float    # 1 - lr * d/dw[drift] at the root
    variance: float       # lr^2 v / (1 - rho^2)
    sigma: float          # Sigma = E|g| at w*
    drift: sp.Expr = field(repr=False)

    def as_dict(self) -> dict:
        return {"exact": self.exact, "small_bias": self.small_bias, "contraction": self.contraction,
                "variance": self.variance, "sigma": self.sigma}


def _check_problem(L, w_star, noise, lr):
    L = require_positive("L", L)
    w_star = require_finite("w_star", w_star)
    noise = require_nonnegative("noise", noise)
    lr = require_positive("lr", lr)
    return L, w_star, noise, lr


def analog_sgd_fixed_point(derivation: Derivation, L: float, w_star: float, noise: float, lr: float,
                           moment: Callable = folded_normal_mean, grad: sp.Expr | None = None,
                           w_guess: float | None = None) -> FixedPoint:
    """Fixed point, contraction and stationary variance of Analog SGD (spec F.1, F.2).

    ``grad`` is f'(w) as a SymPy expression in ``w`` (default L (w - w*)); the curvature used by
    the small-bias approximation is f''(w*). ``moment(mu, s)`` is the first absolute moment of
    g ~ N(mu, s^2) (the folded-normal mean; a negative control may pass a wrong one).
    """
    L, w_star, noise, lr = _check_problem(1.0 if grad is not None else L, w_star, noise, lr)
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
    exact = _root_near(D, lo, hi, w_guess if w_guess is not None else w_star)

    dD = float(sp.diff(drift, W).subs(W, exact).evalf())
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
    f2 = float(sp.diff(fprime, W).subs(W, w_star))
    if derivation.every_point_symmetric:
        small = w_star
    else:
        sp0 = float(min(derivation.symmetric_points, key=lambda v: abs(float(v) - w_star)))
        rp = float(sp.diff(derivation.R, W).subs(W, sp0).evalf())
        small = (f2 * w_star + sigma * rp * sp0) / (f2 + sigma * rp)
    return FixedPoint(exact, small, rho, variance, sigma, drift)


def _root_near(D, lo, hi, guess) -> float:
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


def digital_sgd_fixed_point(L: float, w_star: float, noise: float, lr: float) -> dict:
    """Digital SGD on the same problem: exact = w*, rho = 1 - lr L, Var = lr^2 s^2/(1 - rho^2)."""
    L, w_star, noise, lr = _check_problem(L, w_star, noise, lr)
    rho = 1 - lr * L
    var = lr ** 2 * noise ** 2 / (1 - rho ** 2) if abs(rho) < 1 else math.inf
    return {"exact": w_star, "contraction": rho, "variance": var}


# -- multi-dimensional least squares -------------------------------------------------------

@dataclass
class FixedPointLS:
    """Analog SGD on f = 1/(2N)||AW - b||^2 with additive gradient noise N(0, s^2 I)."""

    exact: np.ndarray
    small_bias: np.ndarray
    contraction: float        # spectral radius of the Jacobian of the mean map at the root
    sigma: float


def analog_sgd_fixed_point_ls(derivation: Derivation, H, W_star, noise: float, lr: float,
                              moment: Callable = folded_normal_mean) -> FixedPointLS:
    """Root of H(W - W*) F(W) + m(H(W - W*)) G(W) = 0 (elementwise products), and
    W_small = (H + Sigma R'(SP) I)^{-1} (H W* + Sigma R'(SP) SP) (P1 eq. 43, spec F.1 multi-D)."""
    H = np.asarray(H, float)
    W_star = np.asarray(W_star, float)
    D = W_star.size
    if H.shape != (D, D):
        raise InputError("H", f"must be a {D}x{D} matrix (got shape {H.shape})")
    noise = require_finite("noise", noise)
    lr = require_positive("lr", lr)
    Fn, Gn = _lambdify_w(derivation.F), _lambdify_w(derivation.G)
    s = sp.Float(noise)
    m_expr = moment(MU, s)
    m_fn = sp.lambdify(MU, m_expr, modules=["numpy", {"erf": _erf}])
    dm_fn = sp.lambdify(MU, sp.diff(m_expr, MU), modules=["numpy", {"erf": _erf}])
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
        rp = float(sp.diff(derivation.R, W).subs(W, sp0).evalf())
        small = np.linalg.solve(H + sigma * rp * np.eye(D), H @ W_star + sigma * rp * sp0)
    sol = optimize.root(drift, small, jac=jac, method="hybr", tol=1e-13)
    if not (sol.success or np.max(np.abs(sol.fun)) < 1e-12):
        raise InputError("W_star", f"the multi-D mean drift has no root near the small-bias point "
                                   f"({sol.message}); is W* inside the weight range?")
    J = np.eye(D) - lr * jac(sol.x)
    return FixedPointLS(sol.x, small, float(np.max(np.abs(np.linalg.eigvals(J)))), sigma)


# -- Residual Learning (spec C, F.4) ---------------------------------------------------------

@dataclass
class RLFixedPoint:
    """Limit of the mixed weight W + gamma P of RL v1 with an ideal main array (spec F.4).

    P at rest at p = 0 requires mu F_P(0) + m(mu) G_P(0) = 0, i.e. mu + m(mu) R_P(0) = 0 with
    mu = f'(W_bar): the bias depends on the residual array's R_P(0) only, not on lr, beta, gamma.
    """

    exact: float
    bias: float
    small_bias: float      # -Sigma R_P(0)/L (m ~ Sigma)
    mu: float


def _mu_root(R0: float, noise: float, moment) -> float:
    """Root of mu + m(mu) R0 = 0 (unique for |R0| < 1 because m' = erf(.) has |m'| < 1)."""
    if R0 == 0.0 or noise == 0.0:
        return 0.0
    if not abs(R0) < 1:
        raise InputError("response", f"|R_P(0)| = |G/F| = {abs(R0):.3g} must be < 1 for a fixed point")
    m = sp.lambdify(MU, moment(MU, sp.Float(noise)), modules=["numpy", {"erf": _erf}])
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
    """Scalar quadratic: W_bar_inf = w* + mu/L with mu + m(mu) R_P(0) = 0 (spec F.4)."""
    L, w_star, noise, _ = _check_problem(L, w_star, noise, 1.0)
    R0 = _r_at(derivation_p, 0.0)
    mu = _mu_root(R0, noise, moment)
    sigma = float(moment(sp.Integer(0), sp.Float(noise))) if noise else 0.0
    return RLFixedPoint(w_star + mu / L, mu / L, -sigma * R0 / L, mu)


def residual_learning_fixed_point_ls(derivation_p: Derivation, H, W_star, noise: float,
                                     moment: Callable = folded_normal_mean) -> np.ndarray:
    """Least squares: W_bar_inf = W* + H^{-1} mu 1, mu + m(mu) R_P(0) = 0 per coordinate."""
    H = np.asarray(H, float)
    W_star = np.asarray(W_star, float)
    mu = _mu_root(_r_at(derivation_p, 0.0), require_finite("noise", noise), moment)
    return W_star + np.linalg.solve(H, np.full(W_star.size, mu))


def residual_learning_linearized(derivation_p: Derivation, L: float, noise: float, lr: float,
                                 beta: float, gamma: float, F_w: float = 1.0,
                                 moment: Callable = folded_normal_mean) -> dict:
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
    return {"a": a, "coupling": c, "char_poly": str(sp.expand(lam ** 2 - sp.Float(b1) * lam + sp.Float(a))),
            "roots": [complex(r) for r in roots], "spectral_radius": rho,
            "decay_rate": -math.log(rho) if rho > 0 else math.inf,
            "complex": bool(np.iscomplexobj(roots) and np.any(np.abs(np.imag(roots)) > 0))}


def residual_learning_read_noise_fixed_point(derivation_p: Derivation, derivation_w: Derivation, L: float,
                                             w_star: float, noise: float, read_noise: float, gamma: float,
                                             moment: Callable = folded_normal_mean) -> dict:
    """RL v1 whose transfer reads P + eps (eps ~ N(0, s_r^2)) onto a non-ideal main array.

    Rest of W: p F_W(w) - m_r(p) G_W(w) = 0 (m_r = E|p + eps|); rest of P:
    mu F_P(p) + m(mu) G_P(p) = 0 with mu = L(w + gamma p - w*). The read noise acts as an
    implicit penalty on W (P1 section 5): the mixed weight is biased unless G_W = 0.
    """
    pf = sp.lambdify(W, derivation_p.F, "numpy"), sp.lambdify(W, derivation_p.G, "numpy")
    wf = sp.lambdify(W, derivation_w.F, "numpy"), sp.lambdify(W, derivation_w.G, "numpy")
    m_g = sp.lambdify(MU, moment(MU, sp.Float(noise)), modules=["numpy", {"erf": _erf}])
    m_r = sp.lambdify(MU, moment(MU, sp.Float(read_noise)), modules=["numpy", {"erf": _erf}])

    def eqs(x):
        w, p = x
        mu = L * (w + gamma * p - w_star)
        return [mu * pf[0](p) + float(m_g(mu)) * pf[1](p), p * wf[0](w) - float(m_r(p)) * wf[1](w)]

    sol = optimize.root(eqs, [w_star, 0.0], method="hybr", tol=1e-14)
    if not (sol.success or np.max(np.abs(sol.fun)) < 1e-12):
        raise InputError("read_noise", f"no fixed point found ({sol.message})")
    w, p = (float(v) for v in sol.x)
    return {"w": w, "p": p, "exact": w + gamma * p, "bias": w + gamma * p - w_star}


def ema_noise_variance_ratio(beta) -> sp.Expr:
    """Var(H)/Var(eps) for H <- (1 - beta) H + beta eps: beta^2 sum_k (1 - beta)^{2k} = beta/(2 - beta)."""
    b = sp.Symbol("beta", positive=True)
    k = sp.Symbol("k", integer=True, nonnegative=True)
    total = sp.piecewise_fold(sp.summation(b ** 2 * (1 - b) ** (2 * k), (k, 0, sp.oo)))
    if isinstance(total, sp.Piecewise):   # geometric series: the branch for |1 - beta| < 1
        total = total.args[0][0]
    expr = sp.simplify(total)
    return expr if beta is None else expr.subs(b, beta)
