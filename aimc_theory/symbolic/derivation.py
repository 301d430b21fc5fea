"""F, G, R = G/F, the symmetric points, the accumulated penalty R_c(w) = int_SP^w G/F and
R'(SP) of one response (P1 eq. 3-7, Thm 1)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import sympy as sp
from scipy import integrate, optimize

from ..errors import InputError, require_positive
from ..expressions import W
from ..response import Response, scan_grid
from .engine import GAVE_UP as _GAVE_UP, Deadline, T as _T, attempt as _try, lambdify_w as _lambdify_w


@dataclass(frozen=True, eq=False)
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
    notes: tuple = ()               # what SymPy gave up on or did not finish in time (never silent)
    _R_fn: Callable = field(default=None, repr=False)
    _pen_fn: Callable = field(default=None, repr=False)
    sp_stability: tuple = ()        # per SP: attracting (G' > 0), repelling (G' < 0), degenerate or unknown

    @property
    def symmetric_point(self) -> float:
        """The SP closest to 0 (0 for the ideal device)."""
        return 0.0 if not self.symmetric_points else float(min(self.symmetric_points,
                                                                key=lambda v: abs(float(v))))

    def F_fn(self, w):
        return _lambdify_w(self.F)(np.asarray(w, float))

    def G_fn(self, w):
        return _lambdify_w(self.G)(np.asarray(w, float))

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
            "sp_stability": list(self.sp_stability),
            "notes": list(self.notes),
            "range": [self.response.lo, self.response.hi],
            "latex": {k: sp.latex(v) for k, v in keys.items()},
        }

    def _repr_latex_(self) -> str:
        return (f"$F = {sp.latex(self.F)},\\quad G = {sp.latex(self.G)},\\quad "
                f"R_c(w) = {sp.latex(self.penalty)}$")



def _symmetric_points(G: sp.Expr, resp: Response, budget, notes: list | None = None) -> list:
    """Exact SPs from solveset when SymPy finds them; else Brent on the lambdified G."""
    interval = sp.Interval.open(resp.lo, resp.hi)
    sol = _try(lambda: sp.solveset(sp.simplify(G), W, interval), budget, notes,
               "exact symmetric points (found numerically instead)")
    if isinstance(sol, sp.FiniteSet) and all(x.is_real for x in sol):
        return sorted(sol, key=float)
    g = _lambdify_w(G)
    x = scan_grid(resp.lo, resp.hi, 20001)
    with np.errstate(all="ignore"):
        y = g(x)
    z = y == 0
    isolated = z & ~np.r_[False, z[:-1]] & ~np.r_[z[1:], False]    # a run of zeros is underflow, not a root
    roots = [float(v) for v in x[isolated]]
    for i in np.nonzero(np.sign(y[:-1]) * np.sign(y[1:]) < 0)[0]:
        roots.append(optimize.brentq(lambda t: float(g(np.array(t))), x[i], x[i + 1], xtol=1e-15))
    F = None
    out = []
    for r in sorted(set(roots)):        # keep a root only if G vanishes there at 30 digits
        gv = abs(complex(sp.N(G.subs(W, r), 30)))
        if F is None:
            F = (resp.q_minus_expr + resp.q_plus_expr) / 2
        if gv <= 1e-9 * max(abs(complex(sp.N(F.subs(W, r), 30))), 1e-300):
            out.append(sp.Float(r))
    return out


def derive(response: Response, time_budget: float | None = 4.0, penalty: bool = True) -> Derivation:
    """F = (q- + q+)/2, G = (q- - q+)/2, R = G/F, SPs, R_c(w) = int_{SP}^w R, R'(SP) (arXiv 2502.06309
    eq. 4-7, Thm 1).

    Parameters
    ----------
    response : Response
        From :mod:`aimc_theory.response` (a family or :func:`~aimc_theory.response.from_expressions`).
    time_budget : float > 0
        Seconds per SymPy call (SIGALRM in the main thread, a forked child elsewhere).
    penalty : bool
        Search a closed form of R_c (False: leave it as an integral, evaluated by quadrature).

    Returns
    -------
    Derivation
        SymPy expressions ``F``, ``G``, ``R``, ``penalty``; ``symmetric_points`` with ``sp_stability``;
        ``penalty_curvature`` = R'(SP); numeric callables ``F_fn``, ``G_fn``, ``R_fn``, ``penalty_fn``;
        ``notes`` (what SymPy did not finish); ``as_dict()`` for JSON.

    ``time_budget`` (seconds) bounds each SymPy call; when the integral is not
    found in time (or when ``penalty=False`` skips the search), ``penalty`` is an unevaluated
    ``Integral``, ``penalty_closed_form`` is False and ``penalty_fn`` uses adaptive quadrature.
    Whatever was cut short is listed in ``notes``.
    """
    if time_budget is not None:
        time_budget = require_positive("time_budget", time_budget)
    # a sweep derives the same response at every point: derivations are immutable, keep the last few
    key = (response.name, tuple(sorted(response.params.items())), sp.srepr(response.q_plus_expr),
           sp.srepr(response.q_minus_expr), response.lo, response.hi, time_budget, penalty)
    if key in _CACHE:
        return _CACHE[key]
    try:
        d = _derive(response, time_budget, penalty)
    except InputError:
        raise
    except _GAVE_UP as exc:
        # a SymPy (or quadrature) failure outside the budgeted calls: one line naming the response, no traceback
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise InputError("response", f"the derivation of {response.describe()} failed: {type(exc).__name__}"
                                     + (f": {text}" if text else "")) from None
    if len(_CACHE) >= 64:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = d
    return d


_CACHE: dict = {}


def _derive(response: Response, time_budget, penalty: bool) -> Derivation:
    qp, qm = response.q_plus_expr, response.q_minus_expr
    notes = []
    # each SymPy call gets time_budget, the whole derivation at most 4 x time_budget
    budget = Deadline(time_budget, None if time_budget is None else 4.0 * time_budget)
    F = _or(_try(lambda: sp.simplify((qm + qp) / 2), budget(), notes, "simplifying F"), (qm + qp) / 2)
    G = _or(_try(lambda: sp.simplify((qm - qp) / 2), budget(), notes, "simplifying G"), (qm - qp) / 2)
    R = _or(_try(lambda: sp.simplify(G / F), budget(), notes, "simplifying R = G/F"), G / F)
    R_fn = _lambdify_w(R)
    every = bool(response.every_point_symmetric or G == 0)
    if every:
        return Derivation(response, F, G, R, [], sp.Integer(0), True, 0.0, True, tuple(notes),
                          R_fn, lambda w: np.zeros_like(w, dtype=float))
    sps = _symmetric_points(G, response, budget(), notes)
    if not sps:
        raise InputError("response", f"no symmetric point (G = 0) inside ({response.lo:g}, {response.hi:g})")
    w0 = min(sps, key=lambda v: abs(float(v)))
    stability = []
    for r in sps:
        slope = _try(lambda: float(sp.diff(G, W).subs(W, r).evalf()), budget(), notes, "G'(SP)")
        stability.append("unknown" if slope is None else "attracting" if slope > 0 else
                         "repelling" if slope < 0 else "degenerate")
        if slope is not None and slope < 0:
            notes.append(f"the SP at {float(r):.6g} repels (G' = {slope:.3g} < 0): pulses push weights away from it "
                         "toward the neighbouring SPs or the bounds, and the implicit penalty is concave there")
    if response.bounded and any(min(abs(float(r) - response.lo), abs(float(r) - response.hi))
                                <= 1e-9 * max(1.0, response.hi - response.lo) for r in sps):
        notes.append("an SP sits at a bound of the range: the device saturates there")
    curvature = _try(lambda: float(sp.diff(R, W).subs(W, w0).evalf()), budget(), notes,
                     "R'(SP) symbolically (central difference instead)")
    if curvature is None:
        h = 1e-5 * max(1.0, abs(float(w0)))
        curvature = float((R_fn(np.array(float(w0) + h)) - R_fn(np.array(float(w0) - h))) / (2 * h))

    pen = _closed_penalty(R, w0, R_fn, response, budget, notes) if penalty else None
    if penalty and pen is None:
        notes.append("penalty: no closed form found in time; R_c is the unevaluated integral (quadrature)")
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

    return Derivation(response, F, G, R, list(sps), pen, closed_form, curvature, False, tuple(notes), R_fn, pen_fn,
                      tuple(stability))



def _or(value, fallback):
    # not `value or fallback`: a simplified expression may be SymPy's zero, which is falsy
    return fallback if value is None else value


def _integrand_forms(R):
    """Rewrites of R that SymPy integrates more often: radicals combined
    (sqrt(a) sqrt(b) -> sqrt(ab), valid where both are positive, i.e. inside the range) and a
    trigonometric substitution w = k sin(theta) for sqrt(a - b w^2)."""
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


def _closed_penalty(R, w0, R_fn, response, budget, notes=None):
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

    def seconds():
        return budget() if callable(budget) else budget

    tried = []                              # reported only when no form succeeds
    pen = _try(lambda: attempt(R, None), seconds(), tried, "penalty integral")
    if pen is not None:
        return pen
    # the rewrites are SymPy calls on the user's expression too (seconds for nested radicals): budgeted,
    # and a rewrite SymPy gives up on only ends the search
    for form, back in _try(lambda: list(_integrand_forms(R)), seconds(), tried, "rewriting the integrand") or []:
        pen = _try(lambda: attempt(form, back), seconds(), tried, "penalty integral")
        if pen is not None:
            return pen
    if notes is not None:
        notes.extend(tried)
    return None

