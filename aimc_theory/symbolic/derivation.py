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

GAVE_UP = _GAVE_UP      # SymPy's own failures (engine.GAVE_UP), for callers of in_parameters


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
        """The SP closest to 0 (0 for the ideal device; NaN for a response without an SP in its range, whose
        ``notes`` say where its weights drift)."""
        if not self.symmetric_points:
            return 0.0 if self.every_point_symmetric else math.nan
        return float(min(self.symmetric_points, key=lambda v: abs(float(v))))

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

    def paper(self, digits: int = 6) -> dict:
        """The closed forms as a paper prints them (:func:`paper_forms`).

        Parameters
        ----------
        digits : int >= 1
            Significant digits of the decimals.

        Returns
        -------
        dict
            ``digits``; ``display`` (text of F, G, R, penalty, symmetric_points, penalty_curvature: decimals
            with ``digits`` significant digits, integers and simple fractions exact, |u| written u or -u
            where u has one sign on the range); ``latex`` (F, G, R, penalty, the same forms);
            ``latex_other`` (symmetric_points, penalty_curvature); ``display_notes`` (where rounding to
            ``digits`` loses more than the last digit).
        """
        return _paper_dict(paper_forms(self, digits), digits)

    def _repr_latex_(self) -> str:
        f = paper_forms(self)["forms"]
        return f"$F = {_latex(f['F'])},\\quad G = {_latex(f['G'])},\\quad R_c(w) = {_latex(f['penalty'])}$"



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


def derive(response: Response, time_budget: float | None = 4.0, penalty: bool = True,
           without_sp: str | None = None) -> Derivation:
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
    without_sp : {"report", "error"}, optional
        A response without an SP in its range (the reference simulator's stock ExpStep device): "report" gives a
        Derivation with no SPs, NaN ``penalty_curvature``/``symmetric_point``/penalty and the drift in ``notes``
        (:attr:`Response.no_sp_note`); "error" raises an InputError that says so. Default: "report" for the full
        derivation (``penalty=True``, the derive command), "error" with ``penalty=False`` (the fixed-point and
        calibration theories, which are anchored at the SP).

    Returns
    -------
    Derivation
        SymPy expressions ``F``, ``G``, ``R``, ``penalty``; ``symmetric_points`` with ``sp_stability``;
        ``penalty_curvature`` = R'(SP); numeric callables ``F_fn``, ``G_fn``, ``R_fn``, ``penalty_fn``;
        ``notes`` (what SymPy did not finish); ``as_dict()`` for JSON; ``paper(digits)`` for the forms
        as a paper prints them (decimals, no spurious |u|, LaTeX). :func:`in_parameters` gives them with
        named parameters kept as symbols.

    ``time_budget`` (seconds) bounds each SymPy call; when the integral is not
    found in time (or when ``penalty=False`` skips the search), ``penalty`` is an unevaluated
    ``Integral``, ``penalty_closed_form`` is False and ``penalty_fn`` uses adaptive quadrature.
    Whatever was cut short is listed in ``notes``. A closed form is accepted when, evaluated with 30
    digits, it matches quadrature of R at interior points; where its float64 evaluation loses digits to
    cancelling terms (fitted decimals), ``penalty_fn`` uses quadrature and ``notes`` says so.
    """
    if time_budget is not None:
        time_budget = require_positive("time_budget", time_budget)
    without_sp = ("report" if penalty else "error") if without_sp is None else without_sp
    if without_sp not in ("report", "error"):
        raise InputError("without_sp", f"must be 'report' or 'error' (got {without_sp!r})")
    # a sweep derives the same response at every point: derivations are immutable, keep the last few
    key = (response.name, tuple(sorted(response.params.items())), sp.srepr(response.q_plus_expr),
           sp.srepr(response.q_minus_expr), response.lo, response.hi, time_budget, penalty)
    if key in _CACHE:
        return _without_sp(_CACHE[key], without_sp)
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
    return _without_sp(d, without_sp)


def _without_sp(d: Derivation, without_sp: str) -> Derivation:
    """``d``, or (``without_sp="error"``) an InputError when it has no SP in the range."""
    if without_sp == "error" and not d.symmetric_points and not d.every_point_symmetric:
        raise InputError("response", f"{d.response.describe()}: {d.response.no_sp_note}; this theory is anchored "
                                     "at the symmetric point (R'(SP)), so it does not apply (derive reports the "
                                     "forms, simulate runs the device)")
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
    if not sps and not response.symmetric_points:
        # no SP in the range (the reference simulator's stock ExpStep): reported, not refused; nothing is
        # anchored at an SP (penalty and R'(SP) are NaN), and the note says where the weights drift
        notes.append(response.no_sp_note)
        return Derivation(response, F, G, R, [], sp.nan, False, math.nan, False, tuple(notes), R_fn,
                          lambda w: np.full(np.shape(w), math.nan))
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
        test = _test_points(response, w0)
        with np.errstate(all="ignore"):
            float64_ok = np.allclose(closed_fn(test), _values30(pen, test), rtol=1e-8, atol=1e-10)
        if not float64_ok:
            notes.append("penalty: the closed form cancels digits in float64 arithmetic; R_c is evaluated by "
                         "quadrature (the closed form is exact and printed)")

        def pen_fn(w):
            w = np.asarray(w, float)
            with np.errstate(all="ignore"):
                v = closed_fn(w)
            bad = ~np.isfinite(v)   # removable singularities (e.g. log 0 - log 0 at the SP)
            if bad.any():
                v = np.where(bad, quad_penalty(np.where(bad, w, w0f)), v)
            return v
        if not float64_ok:
            pen_fn = quad_penalty
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


def _test_points(response, w0) -> np.ndarray:
    """Three interior points where a closed form is compared with quadrature (not a proof: a check that a
    wrong antiderivative fails)."""
    lo = response.lo if math.isfinite(response.lo) else float(w0) - 1.0
    hi = response.hi if math.isfinite(response.hi) else float(w0) + 1.0
    return np.array([lo + 0.13 * (hi - lo), lo + 0.41 * (hi - lo), lo + 0.77 * (hi - lo)])


def _values30(expr, points, values=None) -> np.ndarray:
    """``expr`` at each point, evaluated by SymPy with 30 digits (NaN where it is not a finite real)."""
    out = []
    for x in np.ravel(points):
        try:
            v = complex(sp.N(expr.xreplace({**(values or {}), W: sp.Float(float(x), 30)}), 30))
        except (TypeError, ValueError, ArithmeticError):
            v = complex(math.nan)
        out.append(v.real if abs(v.imag) <= 1e-25 * max(1.0, abs(v.real)) else math.nan)
    return np.array(out, float).reshape(np.shape(points))


def _difference(A, w0):
    """A(w) - A(w0) term by term, each c log u as c log(u/u(w0)): the same number, but float64 keeps its
    digits (c log u - c log u0 cancels large terms when c is large, as for fitted decimals)."""
    out = []
    for t in sp.Add.make_args(A):
        c, rest = t.as_independent(W, as_Add=False)
        if isinstance(rest, sp.log):
            u0 = rest.args[0].subs(W, w0)
            if u0.is_finite and u0 != 0:
                out.append(c * sp.log(rest.args[0] / u0))
                continue
        out.append(t - t.subs(W, w0))
    return sp.Add(*out)


def _closed_penalty(R, w0, R_fn, response, budget, notes=None):
    """int_{w0}^{w} R in closed form, accepted only if it matches quadrature at test points."""
    test = _test_points(response, w0)
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
        if A0.is_finite:
            pen = _difference(A, w0)
        else:
            A0 = sp.limit(A, W, w0)   # removable singularity at the SP
            if not A0.is_finite:
                return None
            pen = A - A0
        if pen.has(sp.I, sp.zoo, sp.oo, sp.nan):
            return None
        # the closed form at 30 digits: this checks its mathematics, not float64's rounding (fitted decimals
        # give terms like 385277 log|1 - 0.0008 w| that cancel to ~0.1); penalty_fn checks float64 separately
        val = _values30(pen, test)
        if np.all(np.isfinite(val)) and np.allclose(val, ref, rtol=1e-8, atol=1e-10):
            return pen
        return None

    def seconds():
        return budget() if callable(budget) else budget

    tried = []                              # reported only when no form succeeds
    # with radicals the rewrites go first: SymPy's integrate of the raw ratio of square roots (the power family at
    # gamma 1/2) spent ~14 s before giving up, the rewritten forms take ~1 s each
    radicals = any(p.exp.is_number and not p.exp.is_integer for p in R.atoms(sp.Pow))
    if not radicals:
        pen = _try(lambda: attempt(R, None), seconds(), tried, "penalty integral")
        if pen is not None:
            return pen
    # the rewrites are SymPy calls on the user's expression too (seconds for nested radicals): budgeted,
    # and a rewrite SymPy gives up on only ends the search
    for form, back in _try(lambda: list(_integrand_forms(R)), seconds(), tried, "rewriting the integrand") or []:
        pen = _try(lambda: attempt(form, back), seconds(), tried, "penalty integral")
        if pen is not None:
            return pen
    if radicals:
        pen = _try(lambda: attempt(R, None), seconds(), tried, "penalty integral")
        if pen is not None:
            return pen
    if notes is not None:
        notes.extend(tried)
    return None



# -- closed forms as a paper prints them: decimals, no spurious |.|, LaTeX, named parameters ----------------

SIMPLE_DENOMINATOR = 12     # p/q stays a fraction when q <= 12 and |p| < 100 (1/2, 2/3, 5/12): exact and short
SIMPLE_NUMERATOR = 100


def readable(expr, digits: int = 6) -> sp.Expr:
    """``expr`` with its numbers as a reader wants them: integers and simple fractions p/q (q <= 12,
    |p| < 100) stay exact, every other rational and float becomes a decimal with ``digits`` significant
    digits (a fitted 0.2514 is printed 0.2514, not 99957361/397588560); pi, E and symbols stay.

    Parameters
    ----------
    expr : sympy.Expr
    digits : int >= 1
        Significant digits of the decimals.

    Returns
    -------
    sympy.Expr
        For display only: its decimals are rounded (print it with ``sympy.sstr(e, full_prec=False)`` or
        ``sympy.latex``).
    """
    digits = _digits(digits)
    expr = sp.sympify(expr)
    # a constant like 385281 log(1002413201380/1002405080567) is evaluated whole (30 digits) before rounding:
    # rounded inside first, the logarithm's argument would be 1.00000 and the term 0
    expr = expr.replace(lambda e: e.is_number and not e.is_Atom and not all(_simple(r) for r in e.atoms(sp.Rational)),
                        lambda e: sp.N(e, 30))
    # the constant of a sum as one number: - log(8) - log(4) + 3 log(2) + 2 is 2 - log(4)
    expr = expr.replace(lambda e: e.is_Add and sum(t.is_number for t in e.args) > 1
                        and not all(t.is_Rational for t in e.args if t.is_number),
                        lambda e: sp.Add(*[t for t in e.args if not t.is_number],
                                         sp.N(sp.Add(*[t for t in e.args if t.is_number]), 30)))
    rep = {}
    for x in expr.atoms(sp.Number):
        if x.is_Integer or not x.is_finite or _simple(x):
            continue
        f = float(x)
        if x.is_Float and f == int(f) and abs(f) < 1e15:
            rep[x] = sp.Integer(int(f))           # 2.0 -> 2
        else:
            rep[x] = sp.Float(x, digits)
    return expr.xreplace(rep) if rep else expr


def monic_powers(expr) -> sp.Expr:
    """Each integer power of a polynomial in w with a numeric leading coefficient c written with the
    polynomial monic: (20 w - 20 s - 1)**2/800 -> (w - s - 1/20)**2/2 (SymPy's factor pulls out integers)."""
    def monic(e):
        lc = sp.Poly(e.base, W).LC()
        if not lc.is_number or lc == 1 or lc == 0:
            return e
        return lc ** e.exp * sp.expand(e.base / lc) ** e.exp
    return sp.sympify(expr).replace(
        lambda e: e.is_Pow and e.exp.is_Integer and e.base.has(W) and e.base.is_polynomial(W)
        and sp.degree(e.base, W) >= 1, monic)


def _digits(digits) -> int:
    if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)) or digits < 1:
        raise InputError("digits", f"must be an integer >= 1 (got {digits!r})")
    return int(digits)


def _simple(x) -> bool:
    return x.is_Rational and x.q <= SIMPLE_DENOMINATOR and abs(x.p) < SIMPLE_NUMERATOR


def unit_logs(expr) -> sp.Expr:
    """Each log(c0 + c1 w + ...) with a polynomial argument and a constant term c0 > 0 written
    log(c0) + log(1 + (c1/c0) w + ...): the same function, with the w-dependence in a form whose
    printed decimals keep their digits (log(1.0000029 - 0.00080651 w) would print as log(1.0 - ...))."""
    def split(e):
        u = sp.expand(e.args[0])
        if not u.is_polynomial(W):
            return e
        c0 = u.subs(W, 0)
        if c0 == 1 or c0 == u or not (c0.is_number and c0.is_positive):
            return e
        return sp.log(c0) + sp.log(sp.expand(u / c0))
    return sp.sympify(expr).replace(lambda e: isinstance(e, sp.log) and e.has(W), split)


def on_range(expr, lo: float, hi: float, values: dict | None = None, breaks=()) -> sp.Expr:
    """``expr`` with every |u| written u or -u where u has one sign at every w in (lo, hi): exact there
    (SymPy keeps log|1 - w| because it does not know that w < 1 on the range).

    The sign is proven by interval arithmetic over a subdivision of the range
    (:func:`aimc_theory.expressions.prove_positive`), never by sampling; where it cannot be proven, |u|
    stays. With ``breaks`` (points inside the range, e.g. the SPs, where a term of R_c may vanish: u <= 0
    with u(SP) = 0) the sign is proven on each open piece between them and checked exactly at them.

    Parameters
    ----------
    expr : sympy.Expr
    lo, hi : float
        The open range (an infinite end is allowed).
    values : dict, optional
        Symbol -> number for the free parameters of ``expr`` (substituted for the proof only).
    breaks : sequence of numbers, optional
        Points inside (lo, hi) at which u may be 0.

    Returns
    -------
    sympy.Expr
    """
    from ..expressions import prove_positive
    expr = sp.sympify(expr)
    cuts = sorted({float(b) for b in breaks if lo < float(b) < hi})
    pieces = list(zip([lo] + cuts, cuts + [hi]))

    def has_sign(u, sign) -> bool:
        for b in breaks:
            if lo < float(b) < hi:
                v = sp.N(u.xreplace({W: sp.sympify(b)}), 30)
                if not (v.is_real and (v == 0 or (v > 0) == (sign > 0))):
                    return False
        try:
            for a, b in pieces:
                prove_positive(sign * u, a, b, "abs", str(u))
        except InputError:
            return False
        return True

    for _ in range(4):                                  # |.| nested in |.|: one level per pass
        rep = {}
        for a in expr.atoms(sp.Abs):
            u = a.args[0]
            uv = u.xreplace(values) if values else u
            if uv.free_symbols - {W}:
                continue
            try:
                sign = next((s for s in (1, -1) if has_sign(uv, s)), None)
            except _GAVE_UP:
                sign = None
            if sign is not None:
                rep[a] = sign * u
        if not rep:
            break
        expr = expr.xreplace(rep)
    return expr


def _text(expr) -> str:
    return sp.sstr(expr, full_prec=False)


def _latex(expr) -> str:
    return sp.latex(expr, full_prec=False)


LARGE_INTEGER = 1000        # an integer of 4+ digits in simplified R comes from clearing decimal denominators


def _ratio(R, G, F):
    """R as SymPy simplified it, or as G/F where that put large integers into it ((1720 - 501213 w)/(1613 w -
    1999980) for fitted decimals); of two equally clean forms the shorter."""
    GF = G if F == 1 else sp.Mul(G, sp.Pow(F, -1))

    def large(e):
        return any(abs(int(n)) >= LARGE_INTEGER for n in e.atoms(sp.Integer))
    if large(R) != large(GF):
        return GF if large(R) else R
    return min((R, GF), key=lambda e: len(_text(e)))


def _rounding_note(name: str, exact, shown, lo, hi, digits: int, values=None) -> str | None:
    """A note when the printed form, with its numbers rounded to ``digits``, is off by more than a unit of
    the digits' last place (relative to its largest value on the range): terms that cancel."""
    if exact.has(sp.Integral) or not exact.has(W):
        return None
    a = lo if math.isfinite(lo) else -1.0 + (hi if math.isfinite(hi) else 0.0)
    b = hi if math.isfinite(hi) else 1.0 + a
    pts = a + (b - a) * np.linspace(0.05, 0.95, 7)
    e, s = _values30(exact, pts, values), _values30(shown, pts, values)
    scale = np.nanmax(np.abs(e)) if np.any(np.isfinite(e)) else math.nan
    if not (np.all(np.isfinite(e)) and np.all(np.isfinite(s)) and scale > 0):
        return None
    err = float(np.max(np.abs(s - e)) / scale)
    if err <= 10.0 ** (1 - digits):
        return None
    kept = max(0, int(math.floor(-math.log10(err))))
    return (f"{name} printed with {digits} digits per number keeps about {kept} digits of its value on the range "
            f"(its terms cancel): --digits {2 * digits - kept} for {digits}")


def paper_forms(d: "Derivation", digits: int = 6) -> dict:
    """The closed forms of ``d`` as a paper prints them (see :meth:`Derivation.paper`); a form whose
    rewriting SymPy fails on is printed as derived, and a note says so."""
    digits = _digits(digits)
    lo, hi = d.response.lo, d.response.hi
    sps = d.symmetric_points
    notes: list = []

    def safe(what, fn, fallback):
        try:
            return fn()
        except _GAVE_UP as exc:         # SymPy on a user's expression: the exact form, never a traceback
            notes.append(f"{what} printed as derived (rewriting it failed: {type(exc).__name__})")
            return fallback

    exact = {k: safe(f"{k}(w)", lambda: on_range(e, lo, hi), e) for k, e in (("F", d.F), ("G", d.G), ("R", d.R))}
    F = safe("F(w)", lambda: readable(exact["F"], digits), exact["F"])
    G = safe("G(w)", lambda: readable(exact["G"], digits), exact["G"])
    R = safe("R(w)", lambda: _ratio(readable(exact["R"], digits), G, F), exact["R"])
    exact["penalty"] = d.penalty
    if d.penalty_closed_form:
        exact["penalty"] = safe("R_c(w)", lambda: unit_logs(on_range(d.penalty, lo, hi, breaks=sps)), d.penalty)
    pen = safe("R_c(w)", lambda: readable(exact["penalty"], digits), exact["penalty"])

    def square():                       # 5 (w - 1/10)^2/8, not its expansion
        sq = monic_powers(sp.factor(d.penalty))
        return (sq, readable(sq, digits)) if len(_text(readable(sq, digits))) < len(_text(pen)) else None
    if d.penalty_closed_form and safe("R_c(w)", lambda: d.penalty.is_rational_function(W), False):
        found = safe("R_c(w)", square, None)
        if found is not None:
            exact["penalty"], pen = found
    shown = {"F": F, "G": G, "R": R, "penalty": pen}
    label = {"F": "F(w)", "G": "G(w)", "R": "R(w)", "penalty": "R_c(w)"}
    for k in shown:
        n = safe(label[k], lambda: _rounding_note(label[k], exact[k], shown[k], lo, hi, digits), None)
        if n:
            notes.append(n)
    curv = readable(sp.Float(d.penalty_curvature), digits)
    return {"forms": shown, "symmetric_points": [readable(sp.sympify(x), digits) for x in sps],
            "penalty_curvature": curv, "notes": notes}


def _paper_dict(forms: dict, digits: int) -> dict:
    f = forms["forms"]
    return {"digits": digits,
            "display": {**{k: _text(v) for k, v in f.items()},
                        "symmetric_points": [_text(x) for x in forms["symmetric_points"]],
                        "penalty_curvature": _text(forms["penalty_curvature"])},
            "latex": {k: _latex(v) for k, v in f.items()},
            "latex_other": {"symmetric_points": [_latex(x) for x in forms["symmetric_points"]],
                            "penalty_curvature": _latex(forms["penalty_curvature"])},
            "display_notes": forms["notes"]}


@dataclass(frozen=True, eq=False)
class InParameters:
    """F, G, R, the SP, R'(SP) and R_c(w) of a response in its named parameters (SymPy symbols), checked
    against the derivation at the parameters' values (see :func:`in_parameters`)."""

    values: dict                    # Symbol -> the exact value the numeric derivation used
    F: sp.Expr
    G: sp.Expr
    R: sp.Expr
    symmetric_point: sp.Expr | None     # None: not found (or no SP: every point symmetric)
    penalty_curvature: sp.Expr | None
    penalty: sp.Expr | None             # None: no closed form in the parameters (R_c only with the values)
    lo: float
    hi: float
    notes: tuple = ()

    @property
    def assumptions(self) -> str:
        """The signs assumed for the parameters (those of their values)."""
        return ", ".join(f"{s} > 0" if s.is_positive else f"{s} < 0" if s.is_negative else f"{s} real"
                         for s in self.values)

    def paper(self, digits: int = 6) -> dict:
        """The forms for a paper, as :meth:`Derivation.paper` (|u| proven one-signed at the values).

        Parameters
        ----------
        digits : int >= 1

        Returns
        -------
        dict
            ``parameters`` (name -> value), ``latex_parameters``, ``assumptions``, ``display`` and
            ``latex`` (F, G, R, symmetric_point, penalty_curvature, penalty; None where not found),
            ``notes``.
        """
        digits = _digits(digits)
        breaks = [] if self.symmetric_point is None else [self.symmetric_point.xreplace(self.values)]
        exact = {"F": self.F, "G": self.G, "R": self.R, "symmetric_point": self.symmetric_point,
                 "penalty_curvature": self.penalty_curvature, "penalty": self.penalty}
        shown = {}
        for k, e in exact.items():
            if e is None:
                shown[k] = None
                continue
            e = on_range(e, self.lo, self.hi, self.values, breaks if k == "penalty" else ())
            shown[k] = readable(unit_logs(e) if k == "penalty" else e, digits)
        if shown["R"] is not None:
            shown["R"] = _ratio(shown["R"], shown["G"], shown["F"])
        return {"parameters": {str(s): float(v) for s, v in self.values.items()},
                "latex_parameters": [_latex(s) for s in self.values], "assumptions": self.assumptions,
                "display": {k: None if v is None else _text(v) for k, v in shown.items()},
                "latex": {k: None if v is None else _latex(v) for k, v in shown.items()},
                "notes": list(self.notes)}


class _Undecided(Exception):
    pass


def _branch(expr, values):
    """Each Piecewise of ``expr`` replaced by its branch that holds at the parameters' values (SymPy's
    integrals with parameters split on e.g. b = 0); None when a condition depends on w."""
    def pick(pw):
        for e, c in pw.args:
            cv = c if c in (sp.true, sp.false) else c.xreplace(values)
            if cv == sp.true:
                return e
            if cv != sp.false:
                raise _Undecided()
        raise _Undecided()
    try:
        return expr.replace(lambda e: isinstance(e, sp.Piecewise), pick)
    except _Undecided:
        return None


def in_parameters(q_plus: str, q_minus: str, values: dict, numeric: Derivation,
                  time_budget: float | None = 4.0, shift: float = 0.0, fixed: dict | None = None) -> InParameters:
    """F, G, R, SP, R'(SP) and R_c(w) of q+ and q- with the parameters ``values`` kept as symbols
    (arXiv 2502.06309 eq. 4-7, Thm 1), each checked against ``numeric`` (the derivation with the values
    substituted): F, G, R and the SP must equal it at the values (30-digit evaluation at interior points),
    R_c must match quadrature of R there as in :func:`derive`.

    Parameters
    ----------
    q_plus, q_minus : str
        The expressions in ``w`` and the parameters (parsed safely, :func:`aimc_theory.expressions.parse`).
    values : dict
        Parameter name -> value (the symbols get the sign of their value as an assumption: tau > 0).
    numeric : Derivation
        The derivation at these values (its SP anchors R_c; the checks compare with it).
    time_budget : float > 0 or None
        Seconds per SymPy call; at most 4x that in all (None: unbounded).
    shift : float
        The response moved by ``shift``: q(w - shift).
    fixed : dict, optional
        Other names of the expressions -> values substituted as numbers (a family's parameters the user did
        not name).

    Returns
    -------
    InParameters
        A form SymPy did not find in time is None and ``notes`` says so; the values' forms are in
        ``numeric``.
    """
    from ..expressions import parse, to_number
    if time_budget is not None:
        time_budget = require_positive("time_budget", time_budget)
    values = {str(k): float(v) for k, v in values.items()}
    real = {n: sp.Symbol(n, real=True) for n in values}
    sym = {real[n]: sp.Symbol(n, **({"positive": True} if v > 0 else {"negative": True} if v < 0 else
                                   {"real": True})) for n, v in values.items()}
    vals = {sym[real[n]]: to_number(v) for n, v in values.items()}
    fixed = {str(k): float(v) for k, v in (fixed or {}).items()}
    sym.update({sp.Symbol(n, real=True): to_number(v) for n, v in fixed.items()})
    qp = parse(q_plus, [*values, *fixed], what="q_plus", values={**values, **fixed}).xreplace(sym)
    qm = parse(q_minus, [*values, *fixed], what="q_minus", values={**values, **fixed}).xreplace(sym)
    if shift:
        qp, qm = qp.subs(W, W - to_number(shift)), qm.subs(W, W - to_number(shift))
    budget = Deadline(time_budget, None if time_budget is None else 4.0 * time_budget)
    parts = _parts(qp, qm, time_budget, budget)
    notes = list(parts.notes)
    F, G, R = parts.F, parts.G, parts.R
    resp = numeric.response
    test = _test_points(resp, numeric.symmetric_point)

    def same(expr, ref) -> bool:            # equal at the values to 20 of the 30 digits compared
        a, b = _values30(expr, test, vals), _values30(ref, test)
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            return False
        return bool(np.allclose(a, b, rtol=1e-20, atol=1e-20 * max(np.max(np.abs(a)), np.max(np.abs(b)))))
    for name, e, ref in (("F", F, numeric.F), ("G", G, numeric.G), ("R", R, numeric.R)):
        if not same(e, ref):            # the parse or the shift differs from the response's: a bug, never silent
            raise InputError("param", f"{name}(w; {', '.join(values)}) does not reproduce {name}(w) at the values")
    out = dict(values=vals, F=F, G=G, R=R, symmetric_point=None, penalty_curvature=None, penalty=None,
               lo=resp.lo, hi=resp.hi)
    if numeric.every_point_symmetric:
        return InParameters(**{**out, "penalty": sp.Integer(0)}, notes=tuple(notes))
    w0 = numeric.symmetric_point
    sp_p = _parametric_sp(parts.sols, vals, numeric)
    if sp_p is None:
        notes.append("the SP in the parameters: not found; the SP and R_c are given with the values only")
        return InParameters(**out, notes=tuple(notes))
    out["symmetric_point"] = sp_p
    curv = _try(lambda: sp.simplify(sp.diff(R, W).subs(W, sp_p)), budget(), notes, "R'(SP) in the parameters")
    if curv is not None and np.isclose(_values30(curv, [0.0], vals)[0], numeric.penalty_curvature,
                                       rtol=1e-8, atol=1e-12):
        out["penalty_curvature"] = curv
    with np.errstate(all="ignore"):
        ref = np.array([integrate.quad(lambda t: float(numeric.R_fn(np.array(t))), w0, x, limit=200)[0]
                        for x in test])

    def anchored(A, back):
        """A(w) - A(SP) on this branch of the values, accepted when it matches quadrature at the values."""
        A = _branch(A, vals)
        if A is None:
            return None
        if back:
            A = A.subs(back[0], back[1])
        A = A.replace(sp.log, lambda u: sp.log(sp.Abs(u)))
        A0 = A.subs(W, sp_p)
        if not sp.N(A0.xreplace(vals), 30).is_finite:
            pen = A - sp.limit(A, W, sp_p)           # removable singularity at the SP
        else:
            pen = _difference(A, sp_p)
        if pen.has(sp.I, sp.zoo, sp.oo, sp.nan):
            return None
        v = _values30(pen, test, vals)
        return pen if np.all(np.isfinite(v)) and np.allclose(v, ref, rtol=1e-8, atol=1e-10) else None

    pen = None
    for A, back in parts.antiderivatives(budget):
        pen = _try(lambda: anchored(A, back), budget(), None)
        if pen is not None:
            break
    if pen is None:
        why = parts.integral_notes[0] if parts.integral_notes else \
            "R_c(w) in the parameters: SymPy found no closed form that matches quadrature"
        notes.append(f"{why}; R_c is given with the values only")
    else:                               # (w - sp)**2/(2*tau) reads better than its expansion
        short = _try(lambda: monic_powers(sp.factor(pen)), budget(), None)
        if short is not None and len(_text(short)) < len(_text(pen)):
            pen = short
    out["penalty"] = pen
    return InParameters(**out, notes=tuple(notes))


class _Parts:
    """The SymPy work on q+ and q- in parameters that does not depend on the values: F, G, R, the roots of
    G and the antiderivatives of R (R itself, then derive's rewrites, each computed once when first needed).
    Cached like derive's results: a sweep over a parameter's values repeats none of it."""

    def __init__(self, qp, qm, budget):
        self.notes: list = []
        self.F = _or(_try(lambda: sp.simplify((qm + qp) / 2), budget(), self.notes, "simplifying F(w; parameters)"),
                     (qm + qp) / 2)
        self.G = _or(_try(lambda: sp.simplify((qm - qp) / 2), budget(), self.notes, "simplifying G(w; parameters)"),
                     (qm - qp) / 2)
        self.R = _or(_try(lambda: sp.simplify(self.G / self.F), budget(), self.notes, "simplifying R(w; parameters)"),
                     self.G / self.F)
        self.sols = _try(lambda: sp.solve(self.G, W), budget(), self.notes, "the SP in the parameters") or []
        self.forms = [(self.R, None)]           # integrands: R, then derive's rewrites (added when needed)
        self.rewritten = False
        self.results: list = []                 # per form: (antiderivative, back-substitution) or None
        self.integral_notes: list = []

    def antiderivatives(self, budget):
        """Each antiderivative found, in the order of the integrands (computed on first request)."""
        i = 0
        while True:
            if i == len(self.forms):
                if self.rewritten:
                    return
                self.rewritten = True
                self.forms += _try(lambda: list(_integrand_forms(self.R)), budget(), self.integral_notes,
                                   "rewriting R(w; parameters)") or []
                continue
            if i == len(self.results):
                form, back = self.forms[i]
                A = _try(lambda: sp.integrate(form, back[0] if back else W), budget(), self.integral_notes,
                         "R_c(w) in the parameters")
                self.results.append(None if A is None or A.has(sp.Integral) else (A, back))
            if self.results[i] is not None:
                yield self.results[i]
            i += 1


_PARTS: dict = {}


def _parts(qp, qm, time_budget, budget) -> _Parts:
    key = (sp.srepr(qp), sp.srepr(qm), time_budget)
    if key not in _PARTS:
        if len(_PARTS) >= 64:
            _PARTS.pop(next(iter(_PARTS)))
        _PARTS[key] = _Parts(qp, qm, budget)
    return _PARTS[key]


def _parametric_sp(sols, vals, numeric: Derivation):
    """The root of G(w; parameters) (among ``sols``) that is the numeric anchor SP at the values: the
    candidate nearest to it, accepted when it is nearer to it than half the spacing of the numeric SPs (the
    range's half-width for one SP): one root per SP, no tolerance is chosen."""
    if not sols:
        return None
    w0 = numeric.symmetric_point
    spn = sorted(float(x) for x in numeric.symmetric_points)
    gaps = np.diff(spn)
    half = 0.5 * (float(np.min(gaps)) if gaps.size else (numeric.response.hi - numeric.response.lo))
    best, dist = None, math.inf
    for s in sols:
        if not isinstance(s, sp.Expr):
            continue
        try:
            v = complex(sp.N(s.xreplace(vals), 30))
        except (TypeError, ValueError, ArithmeticError):
            continue
        if abs(v.imag) > 1e-20 * max(1.0, abs(v.real)):
            continue
        if abs(v.real - w0) < dist:
            best, dist = s, abs(v.real - w0)
    if best is None or not dist < half:
        return None
    return best
