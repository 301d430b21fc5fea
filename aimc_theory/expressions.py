"""Safe parsing of user expressions for q+(w) and q-(w) into SymPy.

The text is parsed with :mod:`ast` and the tree is translated node by node into SymPy
objects; nothing is ever passed to ``eval``/``exec``/``sympify``. Only numbers, the
weight ``w``, named parameters, ``pi``/``E``, arithmetic (+ - * / ** and ``^`` as power)
and a fixed list of elementary functions are accepted; anything else (attributes,
subscripts, lambdas, keyword arguments, unknown names such as ``__import__``) is an
:class:`~aimc_theory.errors.InputError`.

Before SymPy sees anything, :func:`_check_size` and :func:`_check_magnitudes` bound the work it may be asked
for: the size and nesting of the tree, every number literal, the value of every constant subexpression
(``9**9**9**9``, ``2**(64*250)``), every numeric exponent (also computed ones and parameter values) and the
polynomial degree in ``w`` (``((1+w)**64)**64``); each refusal names its limit and takes milliseconds. Any
exception SymPy raises while the tree is translated becomes one InputError line.

:func:`prove_positive` proves q > 0 on a range by interval arithmetic over a subdivision (with the mean
value form and the sign of q' near the ends), not by sampling.
"""
from __future__ import annotations

import ast
import math

import sympy as sp

from .errors import InputError

W = sp.Symbol("w", real=True)

FUNCTIONS = {
    "exp": sp.exp, "log": sp.log, "ln": sp.log, "sqrt": sp.sqrt, "abs": sp.Abs,
    "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "sinh": sp.sinh, "cosh": sp.cosh,
    "tanh": sp.tanh, "atan": sp.atan, "asinh": sp.asinh, "erf": sp.erf,
}
CONSTANTS = {"pi": sp.pi, "E": sp.E, "e": sp.E}
_BINOPS = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a ** b, ast.BitXor: lambda a, b: a ** b,
}
# bounds on what a user expression may ask of SymPy (checked before SymPy sees it): each one alone kept
# `derive` busy for minutes or overflowed when unbounded
MAX_LENGTH = 1000          # characters
MAX_NODES = 300            # AST nodes
MAX_DEPTH = 100            # AST nesting (a sum of n terms nests n deep)
MAX_CALL_DEPTH = 4         # nested function calls, e.g. sin(sin(sin(sin(w))))
MAX_POWER_DEPTH = 3        # towers such as 2**2**2**w
MAX_CONSTANT = 1e6         # |number literal|
MAX_EXPONENT = 64          # |numeric exponent| of a power (a literal, a computed constant or a parameter value)
MAX_DEGREE = 64            # polynomial degree in w (a product's degrees add, a power's multiply)
MAX_MAGNITUDE_LOG10 = 300  # |log10| of a nonzero constant subexpression (float64 holds 1e-308 .. 1e308)


def to_number(value: float) -> sp.Expr:
    """A float as an exact SymPy number when it is a short decimal (0.6 -> 3/5)."""
    r = sp.Rational(repr(float(value)))  # shortest decimal that round-trips: 0.6 -> 3/5
    return r if len(str(r)) <= 24 else sp.Float(value)


def parse(text: str, param_names, *, what: str = "expression", values=None) -> sp.Expr:
    """Parse ``text`` into a SymPy expression in ``w`` and symbols named ``param_names``.

    ``values`` (name -> float, optional): the values the parameters will take, so that a parameter used as
    an exponent or in a constant is bounded like a number (:func:`_check_magnitudes`)."""
    if not isinstance(text, str) or not text.strip():
        raise InputError(what, "must be a non-empty expression in w")
    if len(text) > MAX_LENGTH:
        raise InputError(what, f"expression longer than {MAX_LENGTH} characters")
    try:
        # '^' is power with power's precedence: as Python's XOR it binds looser than '-', and '1 - w^2' read as
        # (1 - w)**2 gave wrong physics without a sign; written as '**' before parsing it is 1 - w**2
        tree = ast.parse(text.strip().replace("^", "**"), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise InputError(what, f"cannot parse {text!r}: {getattr(exc, 'msg', None) or exc}") from None
    _check_size(tree, what)
    _check_magnitudes(tree, what, text, dict(values or {}))
    symbols = {name: sp.Symbol(name, real=True) for name in param_names}
    allowed = ", ".join(sorted(["w", *symbols, *CONSTANTS]))

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return to_number(node.value)
        if isinstance(node, ast.Name):
            if node.id == "w":
                return W
            if node.id in symbols:
                return symbols[node.id]
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            raise InputError(what, f"unknown name {node.id!r}; allowed names: {allowed}")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
            operand = walk(node.operand)
            return operand if isinstance(node.op, ast.UAdd) else -operand
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                name = getattr(node.func, "id", type(node.func).__name__)
                raise InputError(what, f"function {name!r} is not allowed; allowed: "
                                       + ", ".join(sorted(FUNCTIONS)))
            if node.keywords or len(node.args) != 1:
                raise InputError(what, f"{node.func.id}() takes exactly one positional argument")
            arg = walk(node.args[0])
            if not arg.free_symbols:
                # a constant argument is evaluated to 30 digits first: SymPy's exact evaluation of e.g.
                # sin(sinh(10**6)) looks for multiples of pi with ~10^5 digits and never returns
                try:
                    value = arg.evalf(30)
                    big = not value.is_finite or abs(complex(value)) > MAX_CONSTANT
                except (TypeError, ValueError, OverflowError):
                    raise InputError(what, f"cannot evaluate the argument of {node.func.id}() in {text!r}") from None
                if big:
                    raise InputError(what, f"the argument of {node.func.id}() in {text!r} is not a number within "
                                           f"[-{MAX_CONSTANT:g}, {MAX_CONSTANT:g}]")
                if arg.atoms(sp.Function):      # nested functions of constants: the 30-digit value
                    arg = value
            return FUNCTIONS[node.func.id](arg)
        raise InputError(what, f"{type(node).__name__} is not allowed in {text!r}: only numbers, "
                               "w, parameters, + - * / ** ^ and elementary functions")

    try:
        expr = walk(tree)
    except InputError:
        raise
    except Exception as exc:        # noqa: BLE001 -- whatever SymPy raises on a user's expression: one line
        raise InputError(what, f"SymPy cannot build {text!r}: {type(exc).__name__}"
                               + (f": {str(exc).splitlines()[0][:200]}" if str(exc).strip() else "")) from None
    return check_finite_real(expr, what, text)


def check_finite_real(expr: sp.Expr, what: str, text: str) -> sp.Expr:
    """No division by zero, infinity or complex value in ``expr`` (also after parameters are substituted:
    ``1 - w/tau`` with tau = 0)."""
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise InputError(what, f"{text!r} contains a division by zero or an infinite value")
    if expr.has(sp.I):
        raise InputError(what, f"{text!r} is complex-valued (e.g. the log or an even root of a negative number)")
    return expr


def _check_size(tree, what: str) -> None:
    """Reject expressions too large or too deep for SymPy to handle in about a second."""
    nodes = 0
    stack = [(tree, 0, 0, 0)]
    while stack:
        node, depth, calls, powers = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise InputError(what, f"expression has more than {MAX_NODES} parts; simplify it")
        if depth > MAX_DEPTH:
            raise InputError(what, f"expression is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, ast.Call):
            calls += 1
            if calls > MAX_CALL_DEPTH:
                raise InputError(what, f"more than {MAX_CALL_DEPTH} nested function calls")
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Pow, ast.BitXor)):
            powers += 1
            if powers > MAX_POWER_DEPTH:
                raise InputError(what, f"more than {MAX_POWER_DEPTH} nested powers")
            e = _literal(node.right)
            if e is not None and abs(e) > MAX_EXPONENT:
                raise InputError(what, f"exponent {e:g} is outside [-{MAX_EXPONENT}, {MAX_EXPONENT}]")
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            v = node.value
            if not (abs(v) <= MAX_CONSTANT):          # also NaN and inf
                raise InputError(what, f"number {v!r} is outside [-{MAX_CONSTANT:g}, {MAX_CONSTANT:g}]")
        for child in ast.iter_child_nodes(node):
            stack.append((child, depth + 1, calls, powers))


def _literal(node):
    """The value of a numeric literal (with unary signs), else None."""
    sign = 1.0
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return sign * float(node.value) if abs(node.value) < 1e308 else sign * float("inf")
    return None


# -- bounds on constants, exponents and degrees (before SymPy sees the tree) -----------------------------

_UNKNOWN = object()     # a constant whose value the bound pass does not compute (complex, 1/0, ...)
_MATH = {"exp": math.exp, "log": math.log, "ln": math.log, "sqrt": math.sqrt, "abs": abs, "sin": math.sin,
         "cos": math.cos, "tan": math.tan, "sinh": math.sinh, "cosh": math.cosh, "tanh": math.tanh,
         "atan": math.atan, "asinh": math.asinh, "erf": math.erf}
_CONST_VALUES = {"pi": math.pi, "E": math.e, "e": math.e}


def _check_magnitudes(tree, what: str, text: str, values: dict) -> None:
    """Refuse, in milliseconds and before SymPy computes anything, what would make SymPy compute huge exact
    numbers or polynomials: every constant subexpression (numbers, ``pi``, parameters with known ``values``)
    is evaluated in float64 bottom-up and must stay within 10^+-MAX_MAGNITUDE_LOG10 (``9**9**9**9``); every
    constant exponent must lie in [-MAX_EXPONENT, MAX_EXPONENT] (``2**(64*250)``, ``2**(1000000*1000000)``);
    the polynomial degree in w (w: 1, a product: the sum, a power: times the exponent, a function: its
    argument's) must stay <= MAX_DEGREE (``((1+w)**64)**64``)."""

    def magnitude(v, how):
        if v is _UNKNOWN or v == 0:
            return v
        if not math.isfinite(v) or abs(math.log10(abs(v))) > MAX_MAGNITUDE_LOG10:
            raise InputError(what, f"the constant {how} in {text!r} is beyond the limit 1e-{MAX_MAGNITUDE_LOG10} "
                                   f"<= |value| <= 1e{MAX_MAGNITUDE_LOG10}")
        return v

    def src(node):
        try:
            return ast.unparse(node)
        except Exception:       # noqa: BLE001 -- only for the message
            return "a subexpression"

    def degree(d, node):
        if d > MAX_DEGREE:
            raise InputError(what, f"{src(node)!r} has degree {d:g} in w, beyond the limit {MAX_DEGREE}")
        return d

    def visit(node):
        """(value, degree): value a float for a constant (or _UNKNOWN), None when it depends on w."""
        if isinstance(node, ast.Expression):
            return visit(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return float(node.value), 0.0
        if isinstance(node, ast.Name):
            if node.id == "w":
                return None, 1.0
            if node.id in values:
                try:
                    return magnitude(float(values[node.id]), f"parameter {node.id}"), 0.0
                except (TypeError, ValueError):
                    return _UNKNOWN, 0.0
            if node.id in _CONST_VALUES:
                return _CONST_VALUES[node.id], 0.0
            return _UNKNOWN, 0.0            # a parameter of unknown value (or an unknown name: parse refuses it)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
            v, d = visit(node.operand)
            return (v if v is None or v is _UNKNOWN or isinstance(node.op, ast.UAdd) else -v), d
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            (a, da), (b, db) = visit(node.left), visit(node.right)
            known = a is not None and b is not None and a is not _UNKNOWN and b is not _UNKNOWN
            op = type(node.op)
            if op in (ast.Pow, ast.BitXor):
                if b is not None and b is not _UNKNOWN:
                    if not abs(b) <= MAX_EXPONENT:
                        raise InputError(what, f"exponent {b:.6g} of {src(node)!r} is beyond the limit "
                                               f"|exponent| <= {MAX_EXPONENT}")
                    d = degree(da * abs(b), node)
                    if not known:
                        return (None if a is None else _UNKNOWN), d
                    if a == 0:
                        return (_UNKNOWN if b < 0 else (1.0 if b == 0 else 0.0)), d
                    if a < 0 and b != int(b):
                        return _UNKNOWN, d          # complex: check_finite_real refuses it
                    if abs(b * math.log10(abs(a))) > MAX_MAGNITUDE_LOG10:
                        magnitude(math.inf, f"{src(node)!r}")
                    return magnitude(math.copysign(abs(a) ** b, a if b == int(b) and int(b) % 2 else 1.0),
                                     f"{src(node)!r}"), d
                # an exponent that depends on w (or on a parameter of unknown value) stays symbolic in SymPy
                return (None if a is None or b is None else _UNKNOWN), degree(da + db, node)
            d = degree(max(da, db) if op in (ast.Add, ast.Sub) else da + db, node)
            if not known:
                return (None if a is None or b is None else _UNKNOWN), d
            if op in (ast.Mult, ast.Div) and a != 0 and b != 0:
                la = math.log10(abs(a)) + (1 if op is ast.Mult else -1) * math.log10(abs(b))
                if abs(la) > MAX_MAGNITUDE_LOG10:
                    magnitude(math.inf, f"{src(node)!r}")
            if op is ast.Div and b == 0:
                return _UNKNOWN, d                  # division by zero: check_finite_real names it
            v = {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}.get(op, None) if op is not ast.Div else a / b
            return magnitude(v, f"{src(node)!r}"), d
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 1:
            v, d = visit(node.args[0])
            if v is None or v is _UNKNOWN or node.func.id not in _MATH:
                return v, d
            try:
                out = float(_MATH[node.func.id](v))
            except (ValueError, ZeroDivisionError):
                return _UNKNOWN, d                  # log(-1), ...: parse's own checks name it
            except OverflowError:
                out = math.inf
            return magnitude(out, f"{src(node)!r}"), d
        return _UNKNOWN, 0.0                        # anything else: parse refuses it with its own message

    visit(tree)


# -- interval arithmetic: a proof that q > 0 on a range ------------------------------------------------------

_NAN = (math.nan, math.nan)     # an enclosure that is unknown (possibly undefined somewhere on the piece)


class _Undefined(Exception):
    """The expression is undefined (complex, division by zero) everywhere on the piece."""


def _down(x: float, n: int = 1) -> float:
    for _ in range(n):
        x = math.nextafter(x, -math.inf)
    return x


def _up(x: float, n: int = 1) -> float:
    for _ in range(n):
        x = math.nextafter(x, math.inf)
    return x


def _out(lo: float, hi: float, n: int = 1):
    """[lo, hi] rounded outward by n ulps (float rounding of the operation that produced it)."""
    if lo != lo or hi != hi:
        return _NAN
    return _down(lo, n), _up(hi, n)


def _nan(x) -> bool:
    return x[0] != x[0] or x[1] != x[1]


def _add(x, y):
    if _nan(x) or _nan(y):
        return _NAN
    lo, hi = x[0] + y[0], x[1] + y[1]
    return _out(-math.inf if lo != lo else lo, math.inf if hi != hi else hi)


def _mul(x, y):
    if _nan(x) or _nan(y):
        return _NAN
    ps = []
    for a in x:
        for b in y:
            p = a * b
            ps.append(0.0 if p != p else p)         # 0 * inf: the limit of products of reals is 0
    return _out(min(ps), max(ps))


def _recip(x):
    if _nan(x):
        return _NAN
    lo, hi = x
    if lo > 0 or hi < 0:
        return _out(1.0 / hi if hi != 0 else math.inf, 1.0 / lo if lo != 0 else -math.inf)
    if lo == 0 == hi:
        raise _Undefined()
    return _NAN                                     # contains 0: a pole or a zero denominator somewhere


def _monotone(fun, x, n=4):
    """An increasing libm function on an interval (libm is within 1 ulp; n ulps of margin)."""
    if _nan(x):
        return _NAN
    def f(v):
        try:
            return fun(v)
        except OverflowError:
            return math.copysign(math.inf, v)
    return _out(f(x[0]), f(x[1]), n)


def _ipow_int(x, n: int):
    if _nan(x):
        return _NAN
    if n == 0:
        return (1.0, 1.0)
    if n < 0:
        return _recip(_ipow_int(x, -n))
    lo, hi = x

    def p(v):
        try:
            return math.pow(v, n)
        except OverflowError:
            return math.copysign(math.inf, v) if n % 2 else math.inf
    if n % 2:
        return _out(p(lo), p(hi), 4)
    if lo >= 0:
        return _at_least(_out(p(lo), p(hi), 4), 0.0)
    if hi <= 0:
        return _at_least(_out(p(hi), p(lo), 4), 0.0)
    return _at_least(_out(0.0, max(p(lo), p(hi)), 4), 0.0)


def _ipow_real(x, e: float):
    """x**e for a non-integer constant e: real for x >= 0 only (as NumPy: NaN for a negative base)."""
    if _nan(x):
        return _NAN
    lo, hi = x
    if hi < 0 or (hi == 0 and e < 0):
        raise _Undefined()
    if lo < 0 or (lo == 0 and e < 0):
        return _NAN
    a, b = math.pow(lo, e) if lo != math.inf else math.inf, math.pow(hi, e) if hi != math.inf else math.inf
    if e < 0:
        a = 0.0 if lo == math.inf else a
        b = 0.0 if hi == math.inf else b
        a, b = b, a
    return _at_least(_out(a, b, 4), 0.0)


def _log(x):
    if _nan(x):
        return _NAN
    if x[1] <= 0:
        raise _Undefined()
    if x[0] <= 0:
        return _NAN
    return _monotone(math.log, x)


def _abs(x):
    if _nan(x):
        return _NAN
    lo, hi = x
    if lo >= 0:
        return x
    if hi <= 0:
        return (-hi, -lo)
    return (0.0, max(-lo, hi))


def _cosh(x):
    return _at_least(_monotone(math.cosh, _abs(x)), 1.0)


def _at_least(x, floor: float):
    """An enclosure of a function known to be >= floor (exp >= 0, cosh >= 1): outward rounding never
    takes it below."""
    return x if _nan(x) else (max(x[0], floor), max(x[1], floor))


def _exp(x):
    return _at_least(_monotone(math.exp, x), 0.0)


def _periodic(fun, peak: float):
    """sin (peak pi/2) or cos (peak 0): extrema at peak + k pi, values at the ends otherwise."""
    def f(x):
        if _nan(x):
            return _NAN
        lo, hi = x
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi - lo >= 2 * math.pi or max(abs(lo), abs(hi)) > 1e12:
            return (-1.0, 1.0)
        a, b = fun(lo), fun(hi)
        out_lo, out_hi = min(a, b), max(a, b)
        k = math.floor((lo - peak) / math.pi) - 1      # conservative: every extremum near [lo, hi]
        while peak + k * math.pi <= hi + 1e-9 * (1 + abs(hi)):
            c = peak + k * math.pi
            if c >= lo - 1e-9 * (1 + abs(lo)):
                if k % 2 == 0:
                    out_hi = 1.0
                else:
                    out_lo = -1.0
            k += 1
        lo2, hi2 = _out(out_lo, out_hi, 4)
        return max(lo2, -1.0), min(hi2, 1.0)
    return f


def _tan(x):
    if _nan(x):
        return _NAN
    lo, hi = x
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi - lo >= math.pi:
        return _NAN
    k = math.floor((lo - math.pi / 2) / math.pi) - 1
    while math.pi / 2 + k * math.pi <= hi + 1e-9 * (1 + abs(hi)):
        if math.pi / 2 + k * math.pi >= lo - 1e-9 * (1 + abs(lo)):
            return _NAN                             # a pole inside
        k += 1
    return _monotone(math.tan, x)


def _sign(x):
    if _nan(x):
        return _NAN
    return (-1.0 if x[0] < 0 else 0.0 if x[0] == 0 else 1.0, 1.0 if x[1] > 0 else 0.0 if x[1] == 0 else -1.0)


_IFUNCS = {sp.exp: _exp, sp.log: _log, sp.Abs: _abs, sp.sin: _periodic(math.sin, math.pi / 2),
           sp.cos: _periodic(math.cos, 0.0), sp.tan: _tan, sp.sinh: lambda x: _monotone(math.sinh, x),
           sp.cosh: _cosh, sp.tanh: lambda x: _monotone(math.tanh, x), sp.atan: lambda x: _monotone(math.atan, x),
           sp.asinh: lambda x: _monotone(math.asinh, x), sp.erf: lambda x: _monotone(math.erf, x),
           sp.sign: _sign}


def _const(value) -> tuple:
    """An enclosure of a SymPy number (exact rationals rounded outward)."""
    try:
        if value.is_Rational:
            from fractions import Fraction
            f = float(Fraction(int(value.p), int(value.q)))
            return _out(f, f)
        f = float(value.evalf(20))
    except (TypeError, ValueError, OverflowError, AttributeError):
        return _NAN
    return _out(f, f, 2)


def interval_function(expr, var=W):
    """A function [lo, hi] -> an enclosure (lo, hi) of ``expr`` over it (NaNs: unknown, possibly undefined
    somewhere; raises _Undefined when undefined everywhere on the interval)."""
    if not expr.has(var):
        c = _const(expr)
        return lambda x: c
    if expr == var:
        return lambda x: x
    if expr.is_Add or expr.is_Mul:
        parts = [interval_function(a, var) for a in expr.args]
        op = _add if expr.is_Add else _mul

        def f(x):
            acc = parts[0](x)
            for g in parts[1:]:
                acc = op(acc, g(x))
            return acc
        return f
    if expr.is_Pow:
        base, e = expr.args
        fb = interval_function(base, var)
        if not e.has(var):
            if e.is_Integer:
                n = int(e)
                return lambda x: _ipow_int(fb(x), n)
            try:
                ef = float(e)
            except (TypeError, ValueError):
                return lambda x: _NAN
            return lambda x: _ipow_real(fb(x), ef)
        fe = interval_function(e, var)          # b**e = exp(e log b), real for b > 0 only
        return lambda x: _exp(_mul(fe(x), _log(fb(x))))
    for fun, ifun in _IFUNCS.items():
        if isinstance(expr, fun) and len(expr.args) == 1:
            g = interval_function(expr.args[0], var)
            return lambda x: ifun(g(x))
    return lambda x: _NAN                       # a form this evaluator does not know: never proves anything


def _monotone_to_end(df, piece, increasing: bool) -> bool:
    try:
        d = df(piece)
    except _Undefined:
        return False
    return not _nan(d) and (d[0] >= 0 if increasing else d[1] <= 0)


MAX_PIECES = 4000     # subintervals examined by prove_positive before it gives up
END_STRIP = 1e-12     # relative width of the strips at the ends of a range checked to float64 precision only


def prove_positive(expr, lo: float, hi: float, what: str, text: str, max_pieces: int = MAX_PIECES) -> None:
    """Prove ``expr`` > 0 at every real w with lo < w < hi (float64 weights: on [next float above lo,
    next float below hi]; an infinite end stays infinite), or raise an InputError naming ``what`` with a
    point where it is not positive (or where positivity cannot be proven).

    Interval arithmetic (outward rounded by some ulps; libm functions are within 1 ulp) over a subdivision:
    a piece is done when the enclosure of q over it is > 0, or the mean value form q(m) + q'(piece)(piece - m)
    is, or q' has one sign on it and q is > 0 at the end where q is smallest. A point where the enclosure is
    <= 0 refutes. At the ends of the range, where q may tend to 0 (soft bounds, (1 - w/tau)**gamma), the
    last END_STRIP of the range's width is checked to float64 precision only: a piece there is accepted when
    q is not provably <= 0 at its points (q at the last float inside the range is 0 to rounding)."""
    def fail(w, message):
        raise InputError(what, f"must be positive inside the range ({lo:g}, {hi:g}) but {message} "
                               f"(checked by interval arithmetic on {text!r})")

    a0 = math.nextafter(lo, math.inf) if math.isfinite(lo) else lo
    b0 = math.nextafter(hi, -math.inf) if math.isfinite(hi) else hi
    if not a0 <= b0:
        return
    f = interval_function(expr)
    try:
        df = interval_function(sp.diff(expr, W))
    except Exception:                           # noqa: BLE001 -- no derivative: plain subdivision
        df = lambda x: _NAN                     # noqa: E731

    def at(w):
        try:
            return f((w, w))
        except _Undefined:
            fail(w, f"q({w:.6g}) is undefined (complex or a division by zero)")

    def refute(w, v):
        if v[1] <= 0:
            fail(w, f"q({w:.6g}) = {0.5 * (v[0] + v[1]):.6g}" if math.isfinite(v[0] + v[1])
                 else f"q <= 0 at w = {w:.6g}")

    def ends_ok(end, v):
        """At the minimizing end of a monotone piece: > 0, or (at an end of the range) not provably <= 0."""
        if v[0] > 0:
            return True
        refute(end, v)
        return (end == a0 or end == b0) and not _nan(v)

    scale = b0 - a0 if math.isfinite(b0 - a0) else 1.0
    strip_a = END_STRIP * max(scale, abs(a0) if math.isfinite(a0) else 0.0)
    strip_b = END_STRIP * max(scale, abs(b0) if math.isfinite(b0) else 0.0)
    def end_value_ok(end):
        v = f((end, end)) if not math.isfinite(end) else at(end)
        if _nan(v):
            return False
        return v[1] >= 0 if not math.isfinite(end) else v[1] > 0

    stack = [(a0, b0)]
    pieces = 0
    while stack:
        a, b = stack.pop()
        pieces += 1
        if pieces > max_pieces:
            fail(0.5 * (a + b) if math.isfinite(a + b) else (a if math.isfinite(a) else b),
                 f"positivity could not be proven within {max_pieces} subintervals (near w = "
                 f"{a:.6g} .. {b:.6g}); simplify the expression or narrow --range")
        try:
            y = f((a, b))
        except _Undefined:
            fail(a, f"q is undefined (complex or a division by zero) on [{a:.6g}, {b:.6g}]")
        if y[0] > 0:
            continue
        fa = at(a) if math.isfinite(a) else f((a, a))
        fb = at(b) if math.isfinite(b) else f((b, b))
        if math.isfinite(a):
            refute(a, fa)
        if math.isfinite(b):
            refute(b, fb)
        if math.isfinite(a) and math.isfinite(b):
            m = 0.5 * (a + b)
            fm = at(m)
            refute(m, fm)
        else:
            m = (0.0 if not (math.isfinite(a) or math.isfinite(b)) else
                 a + max(1.0, abs(a)) if math.isfinite(a) else b - max(1.0, abs(b)))
            fm = at(m)
            refute(m, fm)
        if (a == a0 and b - a <= strip_a) or (b == b0 and b - a <= strip_b):
            continue                              # an end strip, not refuted at its points
        try:
            d = df((a, b))
        except _Undefined:
            d = _NAN
        if not _nan(d):
            if d[0] >= 0 and ends_ok(a, fa):      # nondecreasing: smallest at a
                continue
            if d[1] <= 0 and ends_ok(b, fb):      # nonincreasing: smallest at b
                continue
            if math.isfinite(a) and math.isfinite(b) and not _nan(fm):
                mv = _add(fm, _mul(d, (_down(a - m), _up(b - m))))
                if mv[0] > 0:
                    continue
            # monotone all the way from an end of the range (exp(w) where it underflows, (1 - w)**2 near 1):
            # q is at least its value (or limit) at that end, which is not provably <= 0
            if d[0] >= 0 and a != a0 and _monotone_to_end(df, (a0, b), True) and end_value_ok(a0):
                continue
            if d[1] <= 0 and b != b0 and _monotone_to_end(df, (a, b0), False) and end_value_ok(b0):
                continue
        if not (a < m < b):
            if not math.isfinite(m):
                fail(m, f"positivity could not be proven as w -> {m:g} (interval arithmetic cannot bound q "
                        "there); give a finite --range LO,HI")
            fail(m, f"q({m:.6g}) is not provably positive (it is 0 to float64 precision there)")
        stack += [(m, b), (a, m)]
