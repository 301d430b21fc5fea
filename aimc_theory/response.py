"""Response functions q+(w), q-(w) of a resistive element (P1 eq. 3-5, spec A.2-A.5).

A pulse moves the weight up by dw_min*q+(w) or down by dw_min*q-(w). Everything else in
the package starts from a :class:`Response`:

* the symbolic module reads the SymPy expressions ``q_plus_expr``/``q_minus_expr``;
* the numeric path calls the NumPy callables ``q_plus``/``q_minus`` (hand-written for the
  built-in families, so theory and simulation do not share code beyond the definition).

The numeric path does not import SymPy or ``scipy.optimize`` (about 0.3 s each at start-up): a built-in
family builds its SymPy expressions only when ``q_plus_expr``/``q_minus_expr`` are first asked for, declares
its affine coefficients (``affine``) as exact rationals, checks its SPs in float64, and the SPs are found by
:func:`brentq`, the Brent method of ``scipy.optimize.brentq`` in plain Python (same bits). User expressions
(:func:`from_expressions`) are parsed by SymPy and import it.

Symmetric/asymmetric split: F = (q- + q+)/2, G = (q- - q+)/2, R = G/F; the symmetric
point (SP) is where G = 0.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np

from .errors import InputError, require_finite, require_positive

if TYPE_CHECKING:                      # SymPy loads where expressions are needed, not on the numeric path
    import sympy as sp

Array = np.ndarray
_GRID = 4001
_FAR = 1e6  # stand-in for an infinite end of the range when scanning numerically
_DERIVE = "derive"  # Response._coeffs: affine coefficients not declared, derived from the expressions (SymPy)


@dataclass(frozen=True, eq=False)
class Response:
    """A pair of response functions on the open weight range (lo, hi)."""

    name: str
    params: Mapping[str, float]
    lo: float
    hi: float
    # () -> (q_plus_expr, q_minus_expr): the SymPy expressions, built on first use (q_plus_expr below)
    _exprs: Callable[[], tuple] = field(repr=False)
    _qp: Callable[[Array], Array] = field(repr=False)
    _qm: Callable[[Array], Array] = field(repr=False)
    every_point_symmetric: bool = False
    # optional hand-written (F, G) for speed; may return scalars that broadcast against w
    _fg: Callable[[Array], tuple] | None = field(default=None, repr=False)
    # optional q_directed(w, s): q+ where s > 0, q- where s < 0, any value where s = 0 (one evaluation
    # instead of two); only the sign of s is used
    _qd: Callable[[Array, Array], Array] | None = field(default=None, repr=False)
    # (a+, b+, a-, b-) as exact rationals (Fraction) when the family declares them, None when it declares
    # the response not affine, _DERIVE: read them off the expressions (SymPy)
    _coeffs: tuple | None | str = field(default=_DERIVE, repr=False)
    # verify numeric SPs with 30-digit SymPy evaluations of the expressions (user expressions) instead of
    # float64 (built-in families and presets)
    _exact_roots: bool = field(default=False, repr=False)

    @cached_property
    def _sym(self) -> tuple:
        return self._exprs()

    @property
    def q_plus_expr(self) -> "sp.Expr":
        """q+(w) as a SymPy expression in :data:`aimc_theory.expressions.W` (imports SymPy)."""
        return self._sym[0]

    @property
    def q_minus_expr(self) -> "sp.Expr":
        """q-(w) as a SymPy expression (imports SymPy)."""
        return self._sym[1]

    @cached_property
    def affine(self) -> tuple[float, float, float, float] | None:
        """(a+, b+, a-, b-) when q+ = a+ + b+ w and q- = a- + b- w (soft bounds, linear steps): n pulses
        of one sign then compose in closed form. None for any other response."""
        if self._coeffs is None:
            return None
        if self._coeffs != _DERIVE:
            return tuple(float(c) for c in self._coeffs)
        return _affine_from_exprs(self.q_plus_expr, self.q_minus_expr)

    # -- numeric evaluation (NumPy, vectorized) ---------------------------------------
    def q_plus(self, w):
        return self._qp(np.asarray(w, dtype=float))

    def q_minus(self, w):
        return self._qm(np.asarray(w, dtype=float))

    def fg(self, w):
        """(F, G) at w; either may be a scalar that broadcasts against w (hot path)."""
        if self._fg is not None:
            return self._fg(w)
        qp, qm = self._qp(w), self._qm(w)
        return 0.5 * (qm + qp), 0.5 * (qm - qp)

    def q_directed(self, w, sgn):
        """q+(w) where sgn > 0, q-(w) where sgn < 0 (the factor of a step of that sign)."""
        w = np.asarray(w, dtype=float)
        if self._qd is not None:
            return self._qd(w, sgn)
        return np.where(sgn > 0, self._qp(w), self._qm(w))

    def F(self, w):
        """Symmetric part (q- + q+)/2."""
        w = np.asarray(w, dtype=float)
        return np.broadcast_to(self.fg(w)[0], w.shape).astype(float)

    def G(self, w):
        """Asymmetric part (q- - q+)/2; its zeros are the symmetric points."""
        w = np.asarray(w, dtype=float)
        return np.broadcast_to(self.fg(w)[1], w.shape).astype(float)

    def R(self, w):
        return self.G(w) / self.F(w)

    @property
    def w(self) -> "sp.Symbol":
        from .expressions import W
        return W

    @property
    def bounded(self) -> bool:
        return math.isfinite(self.lo) and math.isfinite(self.hi)

    def clip(self, w, out=None):
        """Keep weights inside the range (the device saturates at its bounds)."""
        if math.isfinite(self.lo) or math.isfinite(self.hi):
            if out is not None:
                return _clip_ufunc(w, self.lo, self.hi, out=out)      # the ufunc np.clip calls, minus its wrapper
            return np.clip(w, self.lo, self.hi)
        return w

    @cached_property
    def symmetric_points(self) -> tuple[float, ...]:
        """All SPs inside (lo, hi), found numerically (sign changes of G + Brent)."""
        if self.every_point_symmetric:
            return ()
        roots = _numeric_roots(self.G, self.lo, self.hi)
        if not self._exact_roots:
            return tuple(r for r in roots if _is_root_float(self, r))
        g_expr = (self.q_minus_expr - self.q_plus_expr) / 2
        f_expr = (self.q_minus_expr + self.q_plus_expr) / 2
        return tuple(r for r in roots if _is_root(g_expr, f_expr, r))

    @property
    def symmetric_point(self) -> float:
        """The SP (the one closest to 0 when there are several; 0 for the ideal device)."""
        if self.every_point_symmetric:
            return 0.0
        return min(self.symmetric_points, key=abs)

    def shifted(self, delta: float) -> "Response":
        """The same device with its response moved by ``delta``: q_s(w) = q(w - delta)."""
        delta = require_finite("sp_shift", delta)
        if delta == 0:
            return self
        qp, qm, fg, qd = self._qp, self._qm, self._fg, self._qd
        params = dict(self.params)
        params["shift"] = params.get("shift", 0.0) + delta

        def exprs():
            from .expressions import W, to_number
            d = to_number(delta)
            return self.q_plus_expr.subs(W, W - d), self.q_minus_expr.subs(W, W - d)

        coeffs, d = self._coeffs, _exact(delta)
        if isinstance(coeffs, tuple):       # q(w - d) = (a - b d) + b w
            coeffs = _DERIVE if d is None else (coeffs[0] - coeffs[1] * d[0], coeffs[1],
                                                coeffs[2] - coeffs[3] * d[0], coeffs[3])
        return _build(f"{self.name}", params, self.lo + delta, self.hi + delta, exprs,
                      lambda w: qp(w - delta), lambda w: qm(w - delta), self.every_point_symmetric,
                      None if fg is None else (lambda w: fg(w - delta)),
                      None if qd is None else (lambda w, s: qd(w - delta, s)), coeffs, self._exact_roots)

    def swapped(self) -> "Response":
        """q+ and q- exchanged (G -> -G): the asymmetric drift with the wrong sign."""
        fg, qd, c = self._fg, self._qd, self._coeffs
        return _build(f"{self.name}(swapped)", dict(self.params), self.lo, self.hi,
                      lambda: (self.q_minus_expr, self.q_plus_expr), self._qm, self._qp,
                      self.every_point_symmetric, None if fg is None else (lambda w: _neg_g(fg(w))),
                      None if qd is None else (lambda w, s: qd(w, -s)),
                      (c[2], c[3], c[0], c[1]) if isinstance(c, tuple) else c, self._exact_roots)

    def scaled_up(self, factor: float) -> "Response":
        """The up steps scaled: q+ -> factor q+ (an up/down imbalance; the SP moves or disappears)."""
        factor = require_positive("factor", factor)
        if factor == 1.0:
            return self
        qp = self._qp

        def exprs():
            from .expressions import to_number
            return to_number(factor) * self.q_plus_expr, self.q_minus_expr

        coeffs, f = self._coeffs, _exact(factor)
        if isinstance(coeffs, tuple):
            coeffs = _DERIVE if f is None else (f[0] * coeffs[0], f[0] * coeffs[1], coeffs[2], coeffs[3])
        return _build(f"{self.name}(up x {factor:g})", dict(self.params), self.lo, self.hi,
                      exprs, lambda w: factor * qp(w), self._qm, False, coeffs=coeffs, exact_roots=self._exact_roots)

    def describe(self) -> str:
        ps = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"{self.name}({ps})" if ps else self.name


# -- construction ---------------------------------------------------------------------

def _neg_g(fg):
    return fg[0], -fg[1]


def _build(name, params, lo, hi, exprs, qp, qm, every=False, fg=None, qd=None, coeffs=_DERIVE,
           exact_roots=False) -> Response:
    """``exprs``: () -> (q_plus_expr, q_minus_expr), called when the expressions are first needed."""
    return Response(name=name, params=params, lo=float(lo), hi=float(hi), _exprs=exprs, _qp=qp, _qm=qm,
                    every_point_symmetric=every, _fg=fg, _qd=qd, _coeffs=coeffs, _exact_roots=exact_roots)


def _affine_from_exprs(qp_expr, qm_expr) -> tuple[float, float, float, float] | None:
    """(a+, b+, a-, b-) read off the expressions (SymPy Poly), None unless both are of degree <= 1 in w."""
    import sympy as sp
    from .expressions import W
    out = []
    for e in (qp_expr, qm_expr):
        if not e.is_polynomial(W):
            return None
        poly = sp.Poly(e, W)
        if poly.degree() > 1:
            return None
        out += [float(poly.coeff_monomial(1)), float(poly.coeff_monomial(W))]
    return tuple(out)


def _exact(*values: float) -> tuple[Fraction, ...] | None:
    """The exact rationals :func:`aimc_theory.expressions.to_number` makes of these floats in the expressions
    (the shortest round-tripping decimal: 0.6 -> 3/5), or None when one of them becomes a SymPy Float there
    (more than 24 characters as a fraction): then coefficients are read off the expressions instead, so that
    ``affine`` is the same number either way."""
    out = []
    for v in values:
        r = Fraction(repr(float(v)))
        if len(str(r)) > 24:
            return None
        out.append(r)
    return tuple(out)


def _declared(coeffs: Callable[..., tuple], *values: float):
    """Affine coefficients ``coeffs(*exact values)`` of a family, or _DERIVE (see :func:`_exact`)."""
    exact = _exact(*values)
    return _DERIVE if exact is None else tuple(coeffs(*exact))


_clip_ufunc = getattr(getattr(np, "_core", None), "umath", None)
_clip_ufunc = getattr(_clip_ufunc, "clip", None) or (lambda w, lo, hi, out=None: np.clip(w, lo, hi, out=out))


def scan_grid(lo: float, hi: float, n: int = _GRID) -> Array:
    """Points strictly inside (lo, hi); log-spread towards an infinite end."""
    if math.isfinite(lo) and math.isfinite(hi):
        return lo + (hi - lo) * np.linspace(0.0, 1.0, n)[1:-1]
    if math.isfinite(lo):
        return lo + np.geomspace(1e-9, _FAR, n)
    if math.isfinite(hi):
        return hi - np.geomspace(1e-9, _FAR, n)[::-1]
    return np.sinh(np.linspace(-math.asinh(_FAR), math.asinh(_FAR), n))


def _is_root(g_expr, f_expr, r: float) -> bool:
    """G(r) = 0 up to float64 precision, evaluated with 30 digits: rejects 'roots' where G merely
    underflows (e.g. G = exp(w)/2 for w < -745)."""
    import sympy as sp
    from .expressions import W
    try:
        g = abs(complex(sp.N(g_expr.subs(W, r), 30)))
        f = abs(complex(sp.N(f_expr.subs(W, r), 30)))
    except (TypeError, ValueError, OverflowError):
        return True
    return g <= 1e-9 * max(f, 1e-300)


def _is_root_float(resp: Response, r: float) -> bool:
    """The test of :func:`_is_root` in float64, for the built-in families and presets (no underflowing G
    on their ranges, and no SymPy on the numeric path)."""
    with np.errstate(all="ignore"):
        f, g = (abs(float(v)) for v in resp.fg(np.array(r)))
    return g <= 1e-9 * max(f, 1e-300)


def _isolated_zeros(y: np.ndarray) -> np.ndarray:
    """Exact zeros of y whose neighbours are not zero (a run of zeros is underflow or a flat stretch)."""
    z = y == 0.0
    left = np.r_[False, z[:-1]]
    right = np.r_[z[1:], False]
    return z & ~left & ~right


def _numeric_roots(fun, lo, hi) -> tuple[float, ...]:
    x = scan_grid(lo, hi)
    with np.errstate(all="ignore"):
        y = np.asarray(fun(x), dtype=float)
    roots = list(x[_isolated_zeros(y)])
    s = np.sign(y)
    idx = np.nonzero((s[:-1] * s[1:]) < 0)[0]
    for i in idx:
        roots.append(brentq(lambda t: float(fun(np.array(t))), float(x[i]), float(x[i + 1]), xtol=1e-15,
                            rtol=1e-15))
    roots = sorted(roots)
    out: list[float] = []
    for r in roots:
        if not out or abs(r - out[-1]) > 1e-10 * max(1.0, abs(r)):
            out.append(float(r))
    return tuple(out)


def brentq(f: Callable[[float], float], a: float, b: float, xtol: float = 2e-12, rtol: float = 8.881784197001252e-16,
           maxiter: int = 100) -> float:
    """A root of ``f`` in [a, b] by Brent's method: ``scipy.optimize.brentq`` (its C code,
    scipy/optimize/Zeros/brentq.c of scipy 1.11-1.17) line by line in Python floats, so the same operations
    on IEEE doubles give the same root to the bit (tests/test_response.py compares), without importing
    scipy.optimize (0.3 s) on the numeric path.

    Parameters
    ----------
    f : callable float -> float
        The function; f(a) and f(b) must have opposite signs (or one of them be 0).
    a, b : float
        The bracket.
    xtol, rtol : float
        The root is returned when the bracket is shorter than xtol + rtol |x| (scipy's defaults; rtol at
        least 4 machine epsilons).
    maxiter : int
        Iterations before giving up.

    Returns
    -------
    float
        The root. Errors as scipy's: ValueError for a NaN value of ``f`` or no sign change, RuntimeError
        when ``maxiter`` iterations do not converge.
    """
    if xtol <= 0:
        raise ValueError(f"xtol too small ({xtol:g} <= 0)")
    if rtol < 8.881784197001252e-16:
        raise ValueError(f"rtol too small ({rtol:g} < {8.881784197001252e-16:g})")

    def call(x: float) -> float:
        fx = f(x)
        if math.isnan(fx):
            raise ValueError(f"The function value at x={x} is NaN; solver cannot continue.")
        return float(fx)

    xpre, xcur = float(a), float(b)
    xblk = fblk = spre = scur = 0.0
    fpre, fcur = call(xpre), call(xcur)
    if fpre == 0:
        return xpre
    if fcur == 0:
        return xcur
    if math.copysign(1.0, fpre) == math.copysign(1.0, fcur):
        raise ValueError("f(a) and f(b) must have different signs")
    for _ in range(maxiter):
        if fpre != 0 and fcur != 0 and math.copysign(1.0, fpre) != math.copysign(1.0, fcur):
            xblk, fblk = xpre, fpre
            spre = scur = xcur - xpre
        if abs(fblk) < abs(fcur):
            xpre, xcur, xblk = xcur, xblk, xcur
            fpre, fcur, fblk = fcur, fblk, fcur
        delta = (xtol + rtol * abs(xcur)) / 2
        sbis = (xblk - xcur) / 2
        if fcur == 0 or abs(sbis) < delta:
            return xcur
        if abs(spre) > delta and abs(fcur) < abs(fpre):
            if xpre == xblk:                               # interpolate
                stry = -fcur * (xcur - xpre) / (fcur - fpre)
            else:                                          # extrapolate
                dpre = (fpre - fcur) / (xpre - xcur)
                dblk = (fblk - fcur) / (xblk - xcur)
                stry = -fcur * (fblk * dblk - fpre * dpre) / (dblk * dpre * (fblk - fpre))
            lim = abs(spre) if abs(spre) < 3 * abs(sbis) - delta else 3 * abs(sbis) - delta   # C's MIN(a, b)
            if 2 * abs(stry) < lim:                        # good short step
                spre, scur = scur, stry
            else:                                          # bisect
                spre = scur = sbis
        else:                                              # bisect
            spre = scur = sbis
        xpre, fpre = xcur, fcur
        if abs(scur) > delta:
            xcur += scur
        else:
            xcur += delta if sbis > 0 else -delta
        fcur = call(xcur)
    raise RuntimeError(f"Failed to converge after {maxiter} iterations, value is {xcur}.")


MAX_UNBOUNDED_SPS = 8


def _validate(resp: Response, require_sp: bool = True) -> Response:
    """Both responses positive and finite inside the range; an SP inside the range."""
    x = scan_grid(resp.lo, resp.hi)
    for label, fun in (("q_plus", resp.q_plus), ("q_minus", resp.q_minus)):
        with np.errstate(all="ignore"):
            y = np.asarray(fun(x), dtype=float) * np.ones_like(x)
        bad = ~(np.isfinite(y) & (y > 0))
        if bad.any():
            w_bad = float(x[np.argmax(bad)])
            raise InputError(label, f"must be positive inside the range ({resp.lo:g}, {resp.hi:g}) "
                                    f"but q({w_bad:.6g}) = {float(y[np.argmax(bad)]):.6g}")
    if not resp.bounded and len(resp.symmetric_points) > MAX_UNBOUNDED_SPS:
        raise InputError("--range", f"G = 0 at {len(resp.symmetric_points)} points on the unbounded range "
                                    f"({resp.lo:g}, {resp.hi:g}) (a periodic response?); give --range LO,HI")
    if require_sp and not resp.every_point_symmetric and not resp.symmetric_points:
        with np.errstate(all="ignore"):
            g_mid = float(np.median(resp.G(x)))
        side, end = ("lower", resp.lo) if g_mid > 0 else ("upper", resp.hi)
        raise InputError("response", f"no symmetric point (G = 0) inside the range ({resp.lo:g}, "
                                     f"{resp.hi:g}): G is {'positive' if g_mid > 0 else 'negative'} "
                                     f"there, so pulses drift the weight toward the {side} bound {end:g}")
    return resp


def _param(params: dict, defaults: dict, family: str) -> dict:
    unknown = set(params) - set(defaults)
    if unknown:
        raise InputError(f"-p {sorted(unknown)[0]}", f"unknown parameter for '{family}'; "
                         f"valid parameters: {', '.join(defaults) or 'none'}")
    out = dict(defaults)
    out.update({k: require_finite(k, v) for k, v in params.items()})
    return out


def _family_exprs(qp_text: str, qm_text: str, p: dict):
    import sympy as sp
    from . import expressions
    subs = {sp.Symbol(k, real=True): expressions.to_number(v) for k, v in p.items()}
    qp = expressions.parse(qp_text, p.keys(), what="q_plus").subs(subs)
    qm = expressions.parse(qm_text, p.keys(), what="q_minus").subs(subs)
    return qp, qm


def _family(qp_text: str, qm_text: str, p: dict) -> Callable[[], tuple]:
    """A family's expressions, parsed from its definition when first needed (Response._exprs)."""
    p = dict(p)
    return lambda: _family_exprs(qp_text, qm_text, p)


def softbounds(tau: float = 1.0, sp: float = 0.0) -> Response:
    """Symmetric soft bounds around ``sp``: q+- = 1 -+ (w - sp)/tau, F = 1, G = (w - sp)/tau.

    Parameters
    ----------
    tau : float, > 0
        Half-width of the weight range [sp - tau, sp + tau].
    sp : float
        The symmetric point (any finite value).

    Returns
    -------
    Response
        Bounded on [sp - tau, sp + tau]; R_c(w) = (w - sp)^2/(2 tau) (P1 eq. 148 with gamma = 1).
    """
    p = _param({"tau": tau, "sp": sp}, {"tau": 1.0, "sp": 0.0}, "softbounds")
    t, c = require_positive("tau", p["tau"]), p["sp"]
    return _validate(_build("softbounds", p, c - t, c + t, _family("1 - (w - sp)/tau", "1 + (w - sp)/tau", p),
                            lambda w: 1.0 - (w - c) / t, lambda w: 1.0 + (w - c) / t,
                            fg=lambda w: (1.0, (w - c) * (1.0 / t)),
                            coeffs=_declared(lambda t, c: (1 + c / t, -1 / t, 1 - c / t, 1 / t), t, c)))


def linear(tau: float = 1.0, c: float = 0.0) -> Response:
    """Generic linear response: q+ = (1+c)(1-w/tau), q- = (1-c)(1+w/tau); SP = c*tau.

    Parameters
    ----------
    tau : float, > 0
        The range is [-tau, tau].
    c : float in (-1, 1)
        Up/down asymmetry; moves the SP to c*tau.

    Returns
    -------
    Response
    """
    p = _param({"tau": tau, "c": c}, {"tau": 1.0, "c": 0.0}, "linear")
    t, cc = require_positive("tau", p["tau"]), p["c"]
    if not -1.0 < cc < 1.0:
        raise InputError("c", f"must lie in (-1, 1) so that both responses are positive (got {cc!r})")
    return _validate(_build("linear", p, -t, t, _family("(1 + c)*(1 - w/tau)", "(1 - c)*(1 + w/tau)", p),
                            lambda w: (1.0 + cc) * (1.0 - w / t), lambda w: (1.0 - cc) * (1.0 + w / t),
                            fg=lambda w: (1.0 - (cc / t) * w, w * (1.0 / t) - cc),
                            coeffs=_declared(lambda t, c: (1 + c, -(1 + c) / t, 1 - c, (1 - c) / t), t, cc)))


def power(tau: float = 1.0, gamma: float = 1.0) -> Response:
    """Power response (P1 eq. 148): q+- = (1 -+ w/tau)^gamma; SP = 0, R'(0) = gamma/tau.

    Parameters
    ----------
    tau : float, > 0
        The range is [-tau, tau].
    gamma : float, > 0
        The exponent (gamma = 1 is soft bounds, gamma = 1/2 P1's Table 8 setting).

    Returns
    -------
    Response
    """
    p = _param({"tau": tau, "gamma": gamma}, {"tau": 1.0, "gamma": 1.0}, "power")
    t, g = require_positive("tau", p["tau"]), require_positive("gamma", p["gamma"])
    # affine (soft bounds) for gamma = 1 only; any other exponent is not a polynomial of degree <= 1
    coeffs = _declared(lambda t: (1, -1 / t, 1, 1 / t), t) if g == 1.0 else None
    return _validate(_build("power", p, -t, t, _family("(1 - w/tau)**gamma", "(1 + w/tau)**gamma", p),
                            lambda w: np.maximum(1.0 - w / t, 0.0) ** g,
                            lambda w: np.maximum(1.0 + w / t, 0.0) ** g, fg=lambda w: _power_fg(w, g, t),
                            qd=lambda w, sgn: _power_qd(w, sgn, g, t), coeffs=coeffs))


def _times(c, w):
    # c * w, in place in c when c already has the broadcast shape
    if np.shape(c) == np.broadcast_shapes(np.shape(c), np.shape(w)):
        c *= w
        return c
    return c * w


def _power_qd(w, sgn, g, t):
    # q = (1 - sign(s) w/tau)^gamma: q+ for s > 0, q- for s < 0
    if np.ndim(w) == 0 and np.ndim(sgn) == 0:
        return np.maximum(1.0 - np.copysign(1.0 / t, sgn) * w, 0.0) ** g
    q = _times(np.copysign(1.0 / t, sgn), w)          # sign(s) w/tau
    np.subtract(1.0, q, out=q)
    np.maximum(q, 0.0, out=q)
    if g == 0.5:
        return np.sqrt(q, out=q)
    return q if g == 1.0 else np.power(q, g, out=q)


def _power_fg(w, g, t):
    # q+ = (1 - w/tau)^gamma, q- = (1 + w/tau)^gamma; few array passes, sqrt for the common gamma = 1/2
    if np.ndim(w) == 0:
        qp, qm = max(1.0 - w / t, 0.0) ** g, max(1.0 + w / t, 0.0) ** g
        return 0.5 * (qm + qp), 0.5 * (qm - qp)
    u = np.multiply(w, 1.0 / t)
    qm = np.add(u, 1.0)
    qp = np.subtract(1.0, u, out=u)
    for q in (qp, qm):
        np.maximum(q, 0.0, out=q)
        if g == 0.5:
            np.sqrt(q, out=q)
        elif g != 1.0:
            np.power(q, g, out=q)
    F = np.add(qm, qp)
    F *= 0.5
    qm -= qp
    qm *= 0.5
    return F, qm


def exponential(tau: float = 1.0, gamma: float = 1.0) -> Response:
    """Exponential response (P1 eq. 149): q+- = (e^{gamma(1 -+ w/tau)} - 1)/(e^gamma - 1).

    Parameters
    ----------
    tau : float, > 0
        The range is [-tau, tau].
    gamma : float in (0, 300]
        Steepness (e^(2 gamma) must stay finite).

    Returns
    -------
    Response
        SP = 0; F = (e^g cosh(g w/tau) - 1)/(e^g - 1), G = e^g sinh(g w/tau)/(e^g - 1).
    """
    p = _param({"tau": tau, "gamma": gamma}, {"tau": 1.0, "gamma": 1.0}, "exponential")
    t, g = require_positive("tau", p["tau"]), require_positive("gamma", p["gamma"])
    if g > 300:
        raise InputError("gamma", f"must be <= 300 for the exponential response (got {g:g}): e^(2 gamma) overflows")
    den = math.expm1(g)
    exprs = _family("(exp(gamma*(1 - w/tau)) - 1)/(exp(gamma) - 1)", "(exp(gamma*(1 + w/tau)) - 1)/(exp(gamma) - 1)", p)
    return _validate(_build("exponential", p, -t, t, exprs,
                            lambda w: np.expm1(g * (1.0 - w / t)) / den,
                            lambda w: np.expm1(g * (1.0 + w / t)) / den, fg=lambda w: _exp_fg(w, g, t),
                            qd=lambda w, sgn: _exp_qd(w, sgn, g, t, den), coeffs=None))


def _exp_qd(w, sgn, g, t, den):
    if np.ndim(w) == 0 and np.ndim(sgn) == 0:
        return math.expm1(g - np.copysign(g / t, sgn) * w) / den
    q = _times(np.copysign(g / t, sgn), w)
    np.subtract(g, q, out=q)
    np.expm1(q, out=q)
    q *= 1.0 / den
    return q


def _exp_fg(w, g, t):
    # F = (e^g cosh(g x) - 1)/(e^g - 1), G = e^g sinh(g x)/(e^g - 1)   (spec A.5)
    a = np.exp(g + g * w / t)
    b = np.exp(g - g * w / t)
    den = 2.0 * math.expm1(g)
    return (a + b - 2.0) / den, (a - b) / den


def ideal() -> Response:
    """Ideal device: q+ = q- = 1, G = 0, every point is symmetric.

    Returns
    -------
    Response
        Unbounded; Analog SGD on it is digital SGD, and there is no unique SP to calibrate to.
    """
    def exprs():
        import sympy as sp
        return sp.Integer(1), sp.Integer(1)

    return _build("ideal", {}, -math.inf, math.inf, exprs,
                  lambda w: np.ones_like(w, dtype=float), lambda w: np.ones_like(w, dtype=float), True,
                  fg=lambda w: (1.0, 0.0), coeffs=(Fraction(1), Fraction(0), Fraction(1), Fraction(0)))


def from_expressions(q_plus: str, q_minus: str, params: Mapping[str, float] | None = None,
                     range: tuple[float, float] | None = None, name: str = "custom") -> Response:
    """A user response from expressions in ``w`` and named parameters (parsed safely, never evaluated).

    Parameters
    ----------
    q_plus, q_minus : str
        Expressions in ``w``, the names in ``params``, ``pi``, ``E``, numbers, + - * / ** ^ and exp, log,
        sqrt, abs, sin, cos, tan, sinh, cosh, tanh, atan, asinh, erf (bounded in size, nesting and
        constants; see :mod:`aimc_theory.expressions`).
    params : mapping of name -> float, optional
        Values of the named parameters.
    range : (lo, hi), optional
        The weight range; by default the largest interval around 0 on which both are positive.
    name : str
        A label for reports.

    Returns
    -------
    Response
        With ``q_plus``, ``q_minus``, ``F``, ``G``, ``symmetric_points`` and the SymPy expressions.

    Raises
    ------
    InputError
        Unparsable or oversized expressions, a response that is not positive on its range, no SP inside
        the range, or SPs without end on an unbounded range.

    The range defaults to the largest interval around 0 on which both q+ and q- are
    positive; it must be given when they are not both positive at 0.
    """
    import sympy as sp
    from . import expressions
    p = {str(k): require_finite(f"-p {k}", v) for k, v in (params or {}).items()}
    for k in p:
        if not k.isidentifier() or k == "w" or k in expressions.CONSTANTS or k in expressions.FUNCTIONS:
            raise InputError(f"-p {k}", "parameter names must be identifiers other than w, "
                                        "pi, E and function names")
    qp_expr, qm_expr = _user_exprs(q_plus, q_minus, p)
    from scipy.special import erf      # SymPy's numpy printer maps erf to math.erf (scalars only)
    qp_f = sp.lambdify(expressions.W, qp_expr, modules=["numpy", {"erf": erf}])
    qm_f = sp.lambdify(expressions.W, qm_expr, modules=["numpy", {"erf": erf}])
    qp_n, qm_n = _broadcast(qp_f), _broadcast(qm_f)
    lo, hi = _positive_interval(qp_n, qm_n) if range is None else _range(range)
    every = _identical(qp_expr == qm_expr, qp_n, qm_n, lo, hi, lambda: (qp_expr, qm_expr))
    return _validate(_build(name, p, lo, hi, lambda: (qp_expr, qm_expr), qp_n, qm_n, every, exact_roots=True))


def compiled(q_plus: str, q_minus: str, qp_code: Callable, qm_code: Callable, range: tuple[float, float],
             coeffs: tuple | None | str = _DERIVE, name: str = "custom") -> Response:
    """``from_expressions(q_plus, q_minus, range=range, name=name)`` without SymPy, for expressions of the
    package itself (the presets), whose code a test compares with SymPy's.

    Parameters
    ----------
    q_plus, q_minus : str
        The expressions in ``w`` (no parameters); parsed by SymPy only when ``q_plus_expr``/``q_minus_expr``
        are first asked for.
    qp_code, qm_code : callable
        NumPy code of the two: what SymPy's ``lambdify`` prints for them, so the numbers are those of
        :func:`from_expressions`.
    range : (lo, hi)
        The weight range.
    coeffs : tuple of 4 Fractions, None or "derive"
        The exact affine coefficients (a+, b+, a-, b-); None: not affine; "derive": read off the
        expressions (SymPy).
    name : str
        A label for reports.

    Returns
    -------
    Response
        As :func:`from_expressions` builds it, except that the SPs are checked in float64.
    """
    qp_n, qm_n = _broadcast(qp_code), _broadcast(qm_code)
    lo, hi = _range(range)
    exprs = lambda: _user_exprs(q_plus, q_minus, {})        # noqa: E731
    every = _identical(q_plus == q_minus, qp_n, qm_n, lo, hi, exprs)
    return _validate(_build(name, {}, lo, hi, exprs, qp_n, qm_n, every, coeffs=coeffs))


def _user_exprs(q_plus: str, q_minus: str, p: dict) -> tuple:
    """The SymPy expressions of a user response with its parameters substituted (parsed safely)."""
    import sympy as sp
    from . import expressions
    raw_p = expressions.parse(q_plus, p.keys(), what="q_plus")
    raw_m = expressions.parse(q_minus, p.keys(), what="q_minus")
    used = {s.name for s in (raw_p.free_symbols | raw_m.free_symbols)} - {"w"}
    unused = set(p) - used
    if unused:
        raise InputError(f"-p {sorted(unused)[0]}", "parameter does not appear in q_plus or q_minus; "
                                                    f"names used: {', '.join(sorted(used)) or 'none'}")
    subs = {sp.Symbol(k, real=True): expressions.to_number(v) for k, v in p.items()}
    qp_expr = expressions.check_finite_real(raw_p.subs(subs), "q_plus", f"{q_plus} with {p}")
    qm_expr = expressions.check_finite_real(raw_m.subs(subs), "q_minus", f"{q_minus} with {p}")
    return qp_expr, qm_expr


def _broadcast(f):
    return lambda w: np.asarray(f(w), dtype=float) * np.ones_like(w, dtype=float)


def _range(range) -> tuple[float, float]:
    try:
        lo, hi = (float(range[0]), float(range[1]))
    except (TypeError, ValueError, IndexError):
        raise InputError("range", f"must be two numbers LO,HI with LO < HI (got {range!r})") from None
    if not lo < hi or math.isnan(lo) or math.isnan(hi):
        raise InputError("range", f"must satisfy LO < HI (got {lo}, {hi})")
    return lo, hi


def _identical(same: bool, qp_n, qm_n, lo, hi, exprs: Callable[[], tuple]) -> bool:
    """q+ == q- on the whole range (every point symmetric); ``same``: the expressions are equal. Decided
    numerically on the scan grid first (an unbounded sp.simplify of a user expression can run for minutes);
    only when the two agree there to 1e-12 is the symbolic difference (of ``exprs()``) expanded."""
    if same:
        return True
    x = scan_grid(lo, hi, 2001)
    with np.errstate(all="ignore"):
        a, b = qp_n(x), qm_n(x)
    if np.any(np.abs(a - b) > 1e-12 * (np.abs(a) + np.abs(b))) or not np.all(np.isfinite(a - b)):
        return False
    import sympy as sp
    qp_expr, qm_expr = exprs()
    return sp.expand(qp_expr - qm_expr) == 0 or bool(np.all(a == b))


def _positive_interval(qp, qm) -> tuple[float, float]:
    def ok(w: float) -> bool:
        with np.errstate(all="ignore"):
            a, b = float(qp(np.array(w))), float(qm(np.array(w)))
        return math.isfinite(a) and math.isfinite(b) and a > 0 and b > 0

    if not ok(0.0):
        raise InputError("range", "q_plus and q_minus are not both positive at w = 0; give --range LO,HI")
    ends = []
    for sign in (-1.0, 1.0):
        pts = sign * np.logspace(-6, math.log10(_FAR), 600)
        prev, end = 0.0, sign * math.inf
        for x in pts:
            if not ok(float(x)):
                a, b = prev, float(x)  # ok(a), not ok(b): bisect to the boundary
                for _ in range(200):
                    mid = 0.5 * (a + b)
                    if ok(mid):
                        a = mid
                    else:
                        b = mid
                end = b
                break
            prev = float(x)
        ends.append(end)
    return ends[0], ends[1]


def step_scales(up_down: float) -> tuple[float, float]:
    """(up, down) step sizes in units of dw_min for the reference simulator's ``up_down``, which it
    applies one-sidedly: u > 0 keeps the up step and shrinks the down step to (1 - u) dw_min,
    u < 0 shrinks the up step to (1 + u) dw_min (aihwkit ``PulsedDevice``; its docstring's symmetric
    1 +- u split is not what the code does)."""
    u = require_finite("up_down", up_down)
    if not -1.0 < u < 1.0:
        raise InputError("up_down", f"must lie in (-1, 1) so that both steps are positive (got {u!r})")
    return (1.0, 1.0 - u) if u >= 0 else (1.0 + u, 1.0)


def _check_bounds(w_min: float, w_max: float) -> tuple[float, float]:
    if not (w_min < 0 < w_max):
        raise InputError("w_min", f"the bounds must satisfy w_min < 0 < w_max (got w_min={w_min!r}, "
                                  f"w_max={w_max!r})")
    return w_min, w_max


def aihwkit_softbounds(w_max: float = 1.0, w_min: float = -1.0, up_down: float = 0.0) -> Response:
    """The reference simulator's SoftBounds device in units of dw_min (aihwkit ``SoftBoundsDevice``):
    q+ = s_+ (1 - w/w_max), q- = s_- (1 - w/w_min) with (s_+, s_-) from :func:`step_scales`;
    SP = (s_+ - s_-)/(s_+/w_max - s_-/w_min), e.g. tau u/(2 - u) for bounds +-tau and u > 0.

    Parameters
    ----------
    w_max, w_min : float
        The bounds, w_min < 0 < w_max.
    up_down : float in (-1, 1)
        aihwkit's up/down step-size bias (applied one-sidedly, see :func:`step_scales`).

    Returns
    -------
    Response
    """
    p = _param({"w_max": w_max, "w_min": w_min, "up_down": up_down},
               {"w_max": 1.0, "w_min": -1.0, "up_down": 0.0}, "aihwkit-softbounds")
    lo, hi = _check_bounds(p["w_min"], p["w_max"])
    a, b = step_scales(p["up_down"])
    p_ex = {"a": a, "b": b, "hi": hi, "lo": lo}
    return _validate(_build("aihwkit-softbounds", p, lo, hi, _family("a*(1 - w/hi)", "b*(1 - w/lo)", p_ex),
                            lambda w: a * (1.0 - w / hi), lambda w: b * (1.0 - w / lo),
                            fg=lambda w: (0.5 * (a + b) - w * (0.5 * (a / hi + b / lo)),
                                          0.5 * (b - a) + w * (0.5 * (a / hi - b / lo))),
                            coeffs=_declared(lambda a, b, hi, lo: (a, -a / hi, b, -b / lo), a, b, hi, lo)))


def aihwkit_linearstep(w_max: float = 1.0, w_min: float = -1.0, up_down: float = 0.0, gamma_up: float = 0.0,
                       gamma_down: float = 0.0) -> Response:
    """aihwkit ``LinearStepDevice`` (mean bounds as reference): q+ = s_+ (1 - gamma_up w/w_max),
    q- = s_- (1 + gamma_down w/|w_min|); gamma = 1 is soft bounds, gamma = 0 a constant step.

    Parameters
    ----------
    w_max, w_min : float
        The bounds, w_min < 0 < w_max.
    up_down : float in (-1, 1)
        aihwkit's up/down step-size bias (see :func:`step_scales`).
    gamma_up, gamma_down : float in [0, 1]
        Step-size slopes towards the bounds.

    Returns
    -------
    Response
        With gamma_up = gamma_down = 0 and up_down != 0 there is no interior SP (an InputError says so).
    """
    p = _param({"w_max": w_max, "w_min": w_min, "up_down": up_down, "gamma_up": gamma_up, "gamma_down": gamma_down},
               {"w_max": 1.0, "w_min": -1.0, "up_down": 0.0, "gamma_up": 0.0, "gamma_down": 0.0},
               "aihwkit-linearstep")
    lo, hi = _check_bounds(p["w_min"], p["w_max"])
    gu, gd = require_nonnegative_le1("gamma_up", p["gamma_up"]), require_nonnegative_le1("gamma_down", p["gamma_down"])
    a, b = step_scales(p["up_down"])
    exprs = _family("a*(1 - gu*w/hi)", "b*(1 - gd*w/lo)", {"a": a, "b": b, "gu": gu, "gd": gd, "hi": hi, "lo": lo})
    return _validate(_build("aihwkit-linearstep", p, lo, hi, exprs,
                            lambda w: a * (1.0 - gu * w / hi), lambda w: b * (1.0 - gd * w / lo),
                            coeffs=_declared(lambda a, b, gu, gd, hi, lo: (a, -a * gu / hi, b, -b * gd / lo),
                                             a, b, gu, gd, hi, lo)))


def require_nonnegative_le1(name: str, value: float) -> float:
    value = require_finite(name, value)
    if not 0.0 <= value <= 1.0:
        raise InputError(name, f"must lie in [0, 1] (got {value!r})")
    return value


FAMILIES: dict[str, Callable[..., Response]] = {
    "softbounds": softbounds, "linear": linear, "power": power,
    "exponential": exponential, "ideal": ideal,
    "aihwkit-softbounds": aihwkit_softbounds, "aihwkit-linearstep": aihwkit_linearstep,
}


def get(name: str, **params) -> Response:
    """A built-in family by name, e.g. ``get('power', tau=0.6, gamma=0.5)``.

    Parameters
    ----------
    name : str
        One of :data:`FAMILIES` (softbounds, linear, power, exponential, ideal, aihwkit-softbounds,
        aihwkit-linearstep).
    **params : float
        The family's parameters (see its function); unknown names raise :class:`InputError`.

    Returns
    -------
    Response
    """
    if name not in FAMILIES:
        raise InputError("--response", f"unknown family {name!r}; valid: {', '.join(FAMILIES)}")
    valid = list(inspect.signature(FAMILIES[name]).parameters)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise InputError(f"-p {unknown[0]}", f"unknown parameter for '{name}'; valid parameters: "
                                             f"{', '.join(valid) or 'none'}")
    return FAMILIES[name](**params)
