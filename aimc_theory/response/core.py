"""Response functions q+(w), q-(w) of a resistive element (P1 eq. 3-5, spec A.2-A.5): the generic machinery.

A pulse moves the weight up by dw_min*q+(w) or down by dw_min*q-(w). Everything else in
the package starts from a :class:`Response`:

* the symbolic module reads the SymPy expressions ``q_plus_expr``/``q_minus_expr``;
* the numeric path calls the NumPy callables ``q_plus``/``q_minus`` (hand-written for the
  built-in families, so theory and simulation do not share code beyond the definition).

This module holds :class:`Response` (evaluation, SPs, shifted/scaled/swapped responses), the declarative
:class:`Family` record a built-in family is written as (:mod:`.families`, :mod:`.reference`), and the user
responses :func:`from_expressions` and :func:`compiled`.

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
from functools import cached_property
from typing import TYPE_CHECKING, Callable, Mapping, NamedTuple

import numpy as np

from ..errors import InputError, require_finite, require_positive

if TYPE_CHECKING:                      # SymPy loads where expressions are needed, not on the numeric path
    from fractions import Fraction

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
    # the reference simulator's weight granularity (what its update management divides by), in units of
    # dw_min: 1 except for its PowStep (0.5^gamma) and ExpStep (q-(0)) devices (see .reference)
    granularity: float = 1.0
    # (c+, k+, m+, d+, c-, k-, m-, d-) when q+ = c+ exp(k+ w + m+) + d+ and q- likewise, computed in that order
    # (the presets' exponential steps): compiled alternating pulses repeat it (aimc_theory.kernels_chains, checked
    # bit for bit against q_plus/q_minus before use); None otherwise
    exp_form: tuple | None = field(default=None, repr=False)

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

    @property
    def qd_form(self) -> Callable[[Array, Array], Array] | None:
        """The family's hand-written :meth:`q_directed` (power, exponential), None when it has none: one
        evaluation instead of two, into a fresh array the caller may overwrite (the hot path of
        ``expected_update_fg``)."""
        return self._qd

    @cached_property
    def affine(self) -> tuple[float, float, float, float] | None:
        """(a+, b+, a-, b-) when q+ = a+ + b+ w and q- = a- + b- w (soft bounds, linear steps): n pulses
        of one sign then compose in closed form. None for any other response."""
        if self._coeffs is None:
            return None
        if self._coeffs != _DERIVE:
            return tuple(float(c) for c in self._coeffs)
        return affine_from_exprs(self.q_plus_expr, self.q_minus_expr)

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
        from ..expressions import W
        return W

    @property
    def bounded(self) -> bool:
        return math.isfinite(self.lo) and math.isfinite(self.hi)

    def clip(self, w, out=None):
        """Keep weights inside the range (the device saturates at its bounds)."""
        if math.isfinite(self.lo) or math.isfinite(self.hi):
            if out is not None or (type(w) is np.ndarray and w.dtype.kind == "f"):
                # the ufunc np.clip calls for a float array, minus its wrapper (~2 us a call, on every write)
                return _clip_ufunc(w, self.lo, self.hi, out=out)
            return np.clip(w, self.lo, self.hi)
        return w

    @cached_property
    def symmetric_points(self) -> tuple[float, ...]:
        """All SPs inside (lo, hi), found numerically (sign changes of G + Brent)."""
        if self.every_point_symmetric:
            return ()
        roots = numeric_roots(self.G, self.lo, self.hi)
        if not self._exact_roots:
            return tuple(r for r in roots if _is_root_float(self, r))
        g_expr = (self.q_minus_expr - self.q_plus_expr) / 2
        f_expr = (self.q_minus_expr + self.q_plus_expr) / 2
        return tuple(r for r in roots if is_root(g_expr, f_expr, r))

    @property
    def symmetric_point(self) -> float:
        """The SP (the one closest to 0 when there are several; 0 for the ideal device; NaN when there is
        none inside the range, see :attr:`no_sp_note`)."""
        if self.every_point_symmetric:
            return 0.0
        if not self.symmetric_points:
            return math.nan
        return min(self.symmetric_points, key=abs)

    @cached_property
    def no_sp_note(self) -> str | None:
        """None when the response has an SP inside its range (or every point is symmetric); otherwise what
        pulses do without one, e.g. "no symmetric point in [-0.6, 0.6]: every weight drifts to +0.6 (G < 0
        everywhere)": G = (q- - q+)/2 has one sign on the range, so zero-mean pulses push every weight to
        the bound that sign points at (the reference simulator's stock ExpStep device, whose SP lies far
        outside its range). Where G's zero on the continuation of q+/q- beyond the range is found (within
        100 range widths), it is named."""
        if self.every_point_symmetric or self.symmetric_points:
            return None
        x = scan_grid(self.lo, self.hi)
        with np.errstate(all="ignore"):
            g_mid = float(np.median(self.G(x)))
        up = g_mid < 0
        end = self.hi if up else self.lo
        note = (f"no symmetric point in [{self.lo:g}, {self.hi:g}]: every weight drifts to {end:+g} "
                f"(G {'<' if up else '>'} 0 everywhere)")
        out = self.outside_symmetric_point
        return note if out is None else note + f"; G's zero lies outside the range, at w = {out:.6g}"

    @cached_property
    def outside_symmetric_point(self) -> float | None:
        """For a response without an SP in its range: the zero of G = (q- - q+)/2 nearest the range on the
        continuation of the NumPy forms beyond it (up to 100 range widths away, where both q's stay positive
        and finite), else None (also for a response with an SP inside)."""
        if self.every_point_symmetric or self.symmetric_points or not self.bounded:
            return None
        width = self.hi - self.lo
        found = []
        for a, b in ((self.hi, self.hi + 100 * width), (self.lo - 100 * width, self.lo)):
            def g(w):
                with np.errstate(all="ignore"):
                    w = np.asarray(w, dtype=float)
                    qp, qm = self._qp(w), self._qm(w)
                    ok = np.isfinite(qp) & np.isfinite(qm) & (qp > 0) & (qm > 0)
                    return np.where(ok, 0.5 * (qm - qp), np.nan)
            found += [r for r in numeric_roots(g, a, b) if np.isfinite(r)]
        return min(found, key=lambda r: min(abs(r - self.lo), abs(r - self.hi))) if found else None

    def shifted(self, delta: float) -> "Response":
        """The same device with its response moved by ``delta``: q_s(w) = q(w - delta)."""
        delta = require_finite("sp_shift", delta)
        if delta == 0:
            return self
        qp, qm, fg, qd = self._qp, self._qm, self._fg, self._qd
        params = dict(self.params)
        params["shift"] = params.get("shift", 0.0) + delta

        def exprs():
            from ..expressions import W, to_number
            d = to_number(delta)
            return self.q_plus_expr.subs(W, W - d), self.q_minus_expr.subs(W, W - d)

        coeffs, d = self._coeffs, _exact(delta)
        if isinstance(coeffs, tuple):       # q(w - d) = (a - b d) + b w
            coeffs = _DERIVE if d is None else (coeffs[0] - coeffs[1] * d[0], coeffs[1],
                                                coeffs[2] - coeffs[3] * d[0], coeffs[3])
        return _build(f"{self.name}", params, self.lo + delta, self.hi + delta, exprs,
                      lambda w: qp(w - delta), lambda w: qm(w - delta), self.every_point_symmetric,
                      None if fg is None else (lambda w: fg(w - delta)),
                      None if qd is None else (lambda w, s: qd(w - delta, s)), coeffs, self._exact_roots,
                      self.granularity)

    def swapped(self) -> "Response":
        """q+ and q- exchanged (G -> -G): the asymmetric drift with the wrong sign."""
        fg, qd, c = self._fg, self._qd, self._coeffs
        return _build(f"{self.name}(swapped)", dict(self.params), self.lo, self.hi,
                      lambda: (self.q_minus_expr, self.q_plus_expr), self._qm, self._qp,
                      self.every_point_symmetric, None if fg is None else (lambda w: _neg_g(fg(w))),
                      None if qd is None else (lambda w, s: qd(w, -s)),
                      (c[2], c[3], c[0], c[1]) if isinstance(c, tuple) else c, self._exact_roots,
                      self.granularity)

    def scaled_up(self, factor: float) -> "Response":
        """The up steps scaled: q+ -> factor q+ (an up/down imbalance; the SP moves or disappears)."""
        factor = require_positive("factor", factor)
        if factor == 1.0:
            return self
        qp = self._qp

        def exprs():
            from ..expressions import to_number
            return to_number(factor) * self.q_plus_expr, self.q_minus_expr

        coeffs, f = self._coeffs, _exact(factor)
        if isinstance(coeffs, tuple):
            coeffs = _DERIVE if f is None else (f[0] * coeffs[0], f[0] * coeffs[1], coeffs[2], coeffs[3])
        return _build(f"{self.name}(up x {factor:g})", dict(self.params), self.lo, self.hi,
                      exprs, lambda w: factor * qp(w), self._qm, False, coeffs=coeffs, exact_roots=self._exact_roots,
                      granularity=self.granularity)

    def describe(self) -> str:
        ps = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"{self.name}({ps})" if ps else self.name


# -- construction ---------------------------------------------------------------------

def _neg_g(fg):
    return fg[0], -fg[1]


def _build(name, params, lo, hi, exprs, qp, qm, every=False, fg=None, qd=None, coeffs=_DERIVE,
           exact_roots=False, granularity=1.0, exp_form=None) -> Response:
    """``exprs``: () -> (q_plus_expr, q_minus_expr), called when the expressions are first needed."""
    return Response(name=name, params=params, lo=float(lo), hi=float(hi), _exprs=exprs, _qp=qp, _qm=qm,
                    every_point_symmetric=every, _fg=fg, _qd=qd, _coeffs=coeffs, _exact_roots=exact_roots,
                    granularity=granularity, exp_form=exp_form)


def affine_from_exprs(qp_expr, qm_expr) -> tuple[float, float, float, float] | None:
    """(a+, b+, a-, b-) read off the expressions (SymPy Poly), None unless both are of degree <= 1 in w."""
    import sympy as sp
    from ..expressions import W
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
    from fractions import Fraction         # (imports decimal: 1-2 ms of start-up, only when a family is built)
    out = []
    for v in values:
        r = Fraction(repr(float(v)))
        if len(str(r)) > 24:
            return None
        out.append(r)
    return tuple(out)


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


def is_root(g_expr, f_expr, r: float) -> bool:
    """G(r) = 0 up to float64 precision, evaluated with 30 digits: rejects 'roots' where G merely
    underflows (e.g. G = exp(w)/2 for w < -745)."""
    import sympy as sp
    from ..expressions import W
    try:
        g = abs(complex(sp.N(g_expr.subs(W, r), 30)))
        f = abs(complex(sp.N(f_expr.subs(W, r), 30)))
    except (TypeError, ValueError, OverflowError):
        return True
    return g <= 1e-9 * max(f, 1e-300)


def _is_root_float(resp: Response, r: float) -> bool:
    """The test of :func:`is_root` in float64, for the built-in families and presets (no underflowing G
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


def numeric_roots(fun, lo, hi) -> tuple[float, ...]:
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


def _validate(resp: Response, require_sp: bool = True, prove: Callable[[Response], None] | None = None) -> Response:
    """Both responses positive and finite inside the range (on the scan grid, then ``prove(resp)`` for the
    whole range when given: user expressions); an SP inside the range."""
    x = scan_grid(resp.lo, resp.hi)
    for label, fun in (("q_plus", resp.q_plus), ("q_minus", resp.q_minus)):
        with np.errstate(all="ignore"):
            y = np.asarray(fun(x), dtype=float) * np.ones_like(x)
        bad = ~(np.isfinite(y) & (y > 0))
        if bad.any():
            w_bad = float(x[np.argmax(bad)])
            raise InputError(label, f"must be positive inside the range ({resp.lo:g}, {resp.hi:g}) "
                                    f"but q({w_bad:.6g}) = {float(y[np.argmax(bad)]):.6g}")
    if prove is not None:
        prove(resp)
    if not resp.bounded and len(resp.symmetric_points) > MAX_UNBOUNDED_SPS:
        raise InputError("range", f"G = 0 at {len(resp.symmetric_points)} points on the unbounded range "
                                    f"({resp.lo:g}, {resp.hi:g}) (a periodic response?); give --range LO,HI")
    if require_sp and not resp.every_point_symmetric and not resp.symmetric_points:
        with np.errstate(all="ignore"):
            g_mid = float(np.median(resp.G(x)))
        side, end = ("lower", resp.lo) if g_mid > 0 else ("upper", resp.hi)
        raise InputError("response", f"no symmetric point (G = 0) inside the range ({resp.lo:g}, "
                                     f"{resp.hi:g}): G is {'positive' if g_mid > 0 else 'negative'} "
                                     f"there, so pulses drift the weight toward the {side} bound {end:g}")
    return resp


def _family_exprs(qp_text: str, qm_text: str, p: dict):
    import sympy as sp
    from .. import expressions
    subs = {sp.Symbol(k, real=True): expressions.to_number(v) for k, v in p.items()}
    qp = expressions.parse(qp_text, p.keys(), what="q_plus").subs(subs)
    qm = expressions.parse(qm_text, p.keys(), what="q_minus").subs(subs)
    return qp, qm


def _family(qp_text: str, qm_text: str, p: dict) -> Callable[[], tuple]:
    """A family's expressions, parsed from its definition when first needed (Response._exprs)."""
    p = dict(p)
    return lambda: _family_exprs(qp_text, qm_text, p)


# -- built-in families: one declarative record each --------------------------------------


class Range(NamedTuple):
    """The valid values of a parameter: an interval, open or closed at each end (an infinite end is open).

    ``closed`` is ``"()"``, ``"[)"``, ``"(]"`` or ``"[]"``; ``why`` is added to the error message."""

    lo: float = -math.inf
    hi: float = math.inf
    closed: str = "()"
    why: str = ""

    def __contains__(self, value: float) -> bool:
        above = value >= self.lo if self.closed[0] == "[" else value > self.lo
        below = value <= self.hi if self.closed[1] == "]" else value < self.hi
        return above and below

    def __str__(self) -> str:
        """``> 0``, ``<= 1``, ``in (-1, 1)``, ``in [0, 1]`` or ``finite``."""
        if math.isinf(self.lo) and math.isinf(self.hi):
            return "finite"
        if math.isinf(self.hi):
            return f"{'>=' if self.closed[0] == '[' else '>'} {self.lo:g}"
        if math.isinf(self.lo):
            return f"{'<=' if self.closed[1] == ']' else '<'} {self.hi:g}"
        return f"in {self.closed[0]}{self.lo:g}, {self.hi:g}{self.closed[1]}"

    def check(self, name: str, value: float) -> float:
        """``value``, or an InputError naming ``name`` and this range."""
        if value not in self:
            verb = "lie" if str(self).startswith("in ") else "be"
            why = f" {self.why}" if self.why else ""
            raise InputError(name, f"must {verb} {self}{why} (got {value!r})")
        return value

    def inside(self, n: int) -> tuple[float, ...]:
        """``n`` points strictly inside the range (a finite stretch of an infinite end), for tests."""
        lo = self.lo if math.isfinite(self.lo) else (min(self.hi, 0.0) - 3.0 if math.isfinite(self.hi) else -3.0)
        hi = self.hi if math.isfinite(self.hi) else max(lo, 0.0) + 3.0
        return tuple(float(v) for v in lo + (hi - lo) * np.linspace(0.0, 1.0, n + 2)[1:-1])


FINITE = Range()
POSITIVE = Range(0.0, math.inf)


class Param(NamedTuple):
    """A family's parameter: its name, default and valid values (any finite value unless ``valid`` says)."""

    name: str
    default: float
    valid: Range = FINITE


class Family:
    """A built-in response family, written once (see :mod:`.families`; docs/extending.md).

    Every callable below takes the values of the expressions' names as keywords: ``symbols(**params)``, or
    the parameters themselves when ``symbols`` is None.

    Parameters
    ----------
    name : str
        ``--response NAME`` and :func:`aimc_theory.response.get`'s name; the Python function is the name
        with ``-`` as ``_``.
    params : tuple of Param
        The parameters in signature order, each with its default and valid range.
    q_plus, q_minus : str
        The definition: expressions in ``w`` and the names of ``symbols`` (parsed by SymPy only when
        ``q_plus_expr``/``q_minus_expr`` are first asked for).
    range : callable -> (lo, hi)
        The weight range.
    numpy : callable -> (q_plus(w), q_minus(w))
        The NumPy forms (hand-written; a test compares them with the expressions).
    symbols : callable -> dict, optional
        The values of the expressions' names from the checked parameters (default: the parameters).
    fg : callable -> fg(w), optional
        Fast path: (F, G) at w in few array passes (either may be a scalar that broadcasts).
    qd : callable -> qd(w, s), optional
        Fast path: q+ where s > 0, q- where s < 0, as a fresh array (one evaluation instead of two).
    affine : callable -> (a+, b+, a-, b-), optional
        q+ = a+ + b+ w, q- = a- + b- w, called with exact rationals (fractions.Fraction); None: not affine.
    affine_if : callable -> bool, optional
        For which values ``affine`` applies (called with floats; default: always).
    every_point_symmetric : bool or callable -> bool
        q+ = q- everywhere (no unique SP), e.g. the ideal device.
    kernel : str, optional
        The form of the compiled numba kernels (:mod:`aimc_theory.kernels`) that evaluates the family.
    fit : str, optional
        The model of :mod:`aimc_theory.fit` for measured sweeps of this shape.
    granularity : callable -> float, optional
        The reference simulator's weight granularity in units of dw_min (``Response.granularity``; default 1).
    without_sp : bool
        Values without an SP inside the range are accepted (``Response.no_sp_note`` says where the weights
        drift) instead of refused: the reference simulator's devices as they are.
    examples : tuple of dict
        Parameter values besides the defaults that exercise the family's branches (the tests iterate them).
    doc : str
        The docstring of the Python function.
    """

    # a plain class, not a dataclass: the records are built at import (start-up time)
    def __init__(self, name: str, params: tuple[Param, ...], q_plus: str, q_minus: str,
                 range: Callable[..., tuple[float, float]], numpy: Callable[..., tuple[Callable, Callable]], *,
                 symbols: Callable[..., dict] | None = None, fg: Callable[..., Callable] | None = None,
                 qd: Callable[..., Callable] | None = None, affine: Callable[..., tuple] | None = None,
                 affine_if: Callable[..., bool] | None = None,
                 every_point_symmetric: bool | Callable[..., bool] = False, kernel: str | None = None,
                 fit: str | None = None, examples: tuple[dict, ...] = (), doc: str = "",
                 granularity: Callable[..., float] | None = None, without_sp: bool = False):
        self.name, self.params, self.q_plus, self.q_minus, self.range, self.numpy = \
            name, tuple(params), q_plus, q_minus, range, numpy
        self.symbols, self.fg, self.qd, self.affine, self.affine_if = symbols, fg, qd, affine, affine_if
        self.every_point_symmetric, self.kernel, self.fit, self.examples, self.doc = \
            every_point_symmetric, kernel, fit, tuple(examples), doc
        self.granularity, self.without_sp = granularity, without_sp

    def __repr__(self) -> str:
        return f"Family({self.name!r}, params={self.params!r})"

    @property
    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}

    def values(self, params: Mapping[str, float]) -> dict[str, float]:
        """The parameters (defaults filled in, in signature order) as checked floats; an InputError names
        an unknown parameter or one outside its range."""
        names = [p.name for p in self.params]
        unknown = set(params) - set(names)
        if unknown:
            raise InputError(f"param {sorted(unknown)[0]}", f"unknown parameter for '{self.name}'; "
                                                         f"valid parameters: {', '.join(names) or 'none'}")
        out = {p.name: require_finite(p.name, params.get(p.name, p.default)) for p in self.params}
        for p in self.params:
            p.valid.check(p.name, out[p.name])
        return out

    def symbol_values(self, params: Mapping[str, float]) -> dict[str, float]:
        """The values of the expressions' names for checked parameters."""
        return dict(params) if self.symbols is None else self.symbols(**params)

    def build(self, **params: float) -> Response:
        """The response at these parameters (the others at their defaults)."""
        p = self.values(params)
        s = self.symbol_values(p)
        lo, hi = self.range(**s)
        qp, qm = self.numpy(**s)
        every = self.every_point_symmetric(**s) if callable(self.every_point_symmetric) else self.every_point_symmetric
        if self.affine is None or (self.affine_if is not None and not self.affine_if(**s)):
            coeffs = None
        else:
            from fractions import Fraction
            ex = _exact(*s.values())
            coeffs = _DERIVE if ex is None else tuple(Fraction(c) for c in self.affine(**dict(zip(s, ex))))
        return _validate(_build(self.name, p, lo, hi, _family(self.q_plus, self.q_minus, s), qp, qm, bool(every),
                                None if self.fg is None else self.fg(**s), None if self.qd is None else self.qd(**s),
                                coeffs, granularity=1.0 if self.granularity is None else float(self.granularity(**s))),
                         require_sp=not self.without_sp)

    @cached_property
    def function(self) -> Callable[..., Response]:
        """The public Python function of the family (``aimc_theory.response.NAME``, ``-`` as ``_``): the
        parameters as its signature (defaults from the record), ``doc`` as its docstring, :meth:`build` as
        its body."""
        sig = inspect.Signature([inspect.Parameter(p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=p.default,
                                                   annotation="float") for p in self.params],
                                return_annotation="Response")
        build = self.build

        def family(*args, **kwargs) -> Response:
            return build(**sig.bind(*args, **kwargs).arguments)

        family.__name__ = family.__qualname__ = self.name.replace("-", "_")
        family.__module__, family.__doc__, family.__signature__ = "aimc_theory.response", self.doc, sig
        family.family = self
        return family


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
    from .. import expressions
    p = {str(k): require_finite(f"-p {k}", v) for k, v in (params or {}).items()}
    for k in p:
        if not k.isidentifier() or k == "w" or k in expressions.CONSTANTS or k in expressions.FUNCTIONS:
            raise InputError(f"param {k}", "parameter names must be identifiers other than w, "
                                        "pi, E and function names")
    qp_expr, qm_expr = _user_exprs(q_plus, q_minus, p)
    from scipy.special import erf      # SymPy's numpy printer maps erf to math.erf (scalars only)
    try:
        qp_f = sp.lambdify(expressions.W, qp_expr, modules=["numpy", {"erf": erf}])
        qm_f = sp.lambdify(expressions.W, qm_expr, modules=["numpy", {"erf": erf}])
    except Exception as exc:            # noqa: BLE001 -- SymPy's printer on a user's expression: one line
        raise InputError("q_plus", f"SymPy cannot compile {q_plus!r} / {q_minus!r}: {type(exc).__name__}") from None
    qp_n, qm_n = _broadcast(qp_f), _broadcast(qm_f)
    lo, hi = _positive_interval(qp_n, qm_n) if range is None else _range(range)
    every = _identical(qp_expr == qm_expr, qp_n, qm_n, lo, hi, lambda: (qp_expr, qm_expr))

    def prove(resp):                    # q+ > 0 and q- > 0 on the whole range, not only on the grid
        for label, expr, text in (("q_plus", qp_expr, q_plus), ("q_minus", qm_expr, q_minus)):
            try:
                expressions.prove_positive(expr, lo, hi, label, text)
            except InputError as exc:
                if range is not None:
                    raise
                # the default range comes from a scan grid, which steps over a zero without a sign change
                # ((1 - w)^2 at w = 1): say so, and ask for the range instead of blaming a range not given
                raise InputError("range", f"the default range ({lo:g}, {hi:g}), where a scan found q_plus and "
                                          f"q_minus positive, is not: {exc}; give --range LO,HI") from None

    return _validate(_build(name, p, lo, hi, lambda: (qp_expr, qm_expr), qp_n, qm_n, every, exact_roots=True),
                     prove=prove)


def compiled(q_plus: str, q_minus: str, qp_code: Callable, qm_code: Callable, range: tuple[float, float],
             coeffs: tuple | None | str = _DERIVE, name: str = "custom", exp_form: tuple | None = None) -> Response:
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
    exp_form : tuple of 8 floats, optional
        (c+, k+, m+, d+, c-, k-, m-, d-) when the code computes q+ as c+ * exp(k+ * w + m+) + d+ (and q- likewise),
        operation for operation: :attr:`Response.exp_form`.

    Returns
    -------
    Response
        As :func:`from_expressions` builds it, except that the SPs are checked in float64.
    """
    qp_n, qm_n = _broadcast(qp_code), _broadcast(qm_code)
    lo, hi = _range(range)
    exprs = lambda: _user_exprs(q_plus, q_minus, {})        # noqa: E731
    every = _identical(q_plus == q_minus, qp_n, qm_n, lo, hi, exprs)
    return _validate(_build(name, {}, lo, hi, exprs, qp_n, qm_n, every, coeffs=coeffs, exp_form=exp_form))


def _user_exprs(q_plus: str, q_minus: str, p: dict) -> tuple:
    """The SymPy expressions of a user response with its parameters substituted (parsed safely)."""
    import sympy as sp
    from .. import expressions
    raw_p = expressions.parse(q_plus, p.keys(), what="q_plus", values=p)
    raw_m = expressions.parse(q_minus, p.keys(), what="q_minus", values=p)
    used = {s.name for s in (raw_p.free_symbols | raw_m.free_symbols)} - {"w"}
    unused = set(p) - used
    if unused:
        raise InputError(f"param {sorted(unused)[0]}", "parameter does not appear in q_plus or q_minus; "
                                                    f"names used: {', '.join(sorted(used)) or 'none'}")
    subs = {sp.Symbol(k, real=True): expressions.to_number(v) for k, v in p.items()}
    out = []
    for label, raw, text in (("q_plus", raw_p, q_plus), ("q_minus", raw_m, q_minus)):
        try:
            expr = raw.subs(subs)
        except Exception as exc:        # noqa: BLE001 -- SymPy on a user's expression: one line
            raise InputError(label, f"SymPy cannot substitute the parameters {p} into {text!r}: "
                                    f"{type(exc).__name__}") from None
        out.append(expressions.check_finite_real(expr, label, f"{text} with {p}"))
    return tuple(out)


def _broadcast(f):
    """q(w) shaped like w, float64. A float64 array of w's shape that is not w itself is returned as it is: the
    product with ones it would get is the same numbers (x 1.0 is exact), and it cost ~4 us of the ~50 of a
    per-element device's step."""
    def q(w):
        v = f(w)
        if type(v) is np.ndarray and type(w) is np.ndarray and v.dtype == np.float64 and v.shape == w.shape \
                and not np.may_share_memory(v, w):
            return v
        return np.asarray(v, dtype=float) * np.ones_like(w, dtype=float)
    return q


def _range(range) -> tuple[float, float]:
    try:
        lo, hi = (float(range[0]), float(range[1]))
    except (TypeError, ValueError, IndexError):
        raise InputError("range", f"must be two numbers LO,HI with LO < HI (got {range!r})") from None
    if not lo < hi or math.isnan(lo) or math.isnan(hi):
        raise InputError("range", f"must satisfy LO < HI (got {lo}, {hi})")
    if math.isfinite(lo) and math.isfinite(hi) and hi - lo < MIN_RELATIVE_WIDTH * max(abs(lo), abs(hi)):
        raise InputError("range", f"({lo:g}, {hi:g}) is too narrow for float64: HI - LO must be at least "
                                  f"{MIN_RELATIVE_WIDTH:g} x max(|LO|, |HI|) (the scan grid would repeat points)")
    return lo, hi


MIN_RELATIVE_WIDTH = 1e-9     # of a range: (hi - lo) / max(|lo|, |hi|)
RESOLUTION = 1e-13            # relative difference of q+ and q- below which float64 cannot resolve G (450 ulps)


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

    from ..symbolic.engine import attempt
    qp_expr, qm_expr = exprs()
    notes: list = []
    if attempt(lambda: sp.expand(qp_expr - qm_expr) == 0, 4.0, notes, "expanding q+ - q-"):
        return True
    with np.errstate(all="ignore"):
        rel = float(np.max(np.abs(a - b) / (np.abs(a) + np.abs(b))))
    if rel > RESOLUTION:
        return False
    # equal to float64 precision on the whole range: identical (sin(w)**2 + cos(w)**2 and 1), or different
    # below float64's resolution (1 - w and 1 + w on a range of width 1e-20): 50-digit values at 9 points decide

    def differ():
        d = qp_expr - qm_expr
        for t in x[:: max(1, len(x) // 8)]:
            at = sp.Float(float(t), 50)
            v, s_ = sp.N(d.subs(W, at), 50), sp.N((abs(qp_expr) + abs(qm_expr)).subs(W, at), 50)
            if abs(complex(v)) > 1e-40 * max(abs(complex(s_)), 1e-300):
                return True
        return False
    from ..expressions import W
    differs = attempt(differ, 4.0, notes, "comparing q+ and q- to 50 digits")
    if differs is None:
        raise InputError("range", f"q_plus and q_minus are equal to float64 precision on the range ({lo:g}, {hi:g}) "
                                  f"but SymPy could not decide whether they are identical ({notes[-1]}); write "
                                  "them identically, or widen the range")
    if differs:
        # G = (q- - q+)/2 is rounding noise in float64 there, its zeros (the SPs) meaningless
        raise InputError("range", f"q_plus and q_minus are not identical but equal to float64 precision on "
                                  f"the range ({lo:g}, {hi:g}) (largest relative difference {rel:.3g} <= "
                                  f"{RESOLUTION:g}), so G = (q- - q+)/2 is rounding noise there: the range is too "
                                  "narrow for float64; widen it (or rescale w)")
    return True


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
                if a == 0.0:    # not positive (or undefined) right next to 0, e.g. sqrt(w) or w^0.5 for w < 0
                    raise InputError("range", f"q_plus and q_minus are positive at w = 0 but not on any interval "
                                              f"{'below' if sign < 0 else 'above'} 0 (undefined or <= 0 there, as "
                                              "sqrt(w) for w < 0); give --range LO,HI with 0 as an end")
                end = b
                break
            prev = float(x)
        ends.append(end)
    return ends[0], ends[1]


