"""The expression parser's bounds (issue 21 item 2): sizes of numbers, exponents and degrees refused before
SymPy sees them, SymPy's exceptions as one InputError line, positivity of q+/q- proven on the range by
interval arithmetic (not sampled), and a range too narrow for float64 refused."""
import math

import numpy as np
import pytest
import sympy as sp

from aimc_theory import expressions, response
from aimc_theory.cli import main
from aimc_theory.errors import InputError
from aimc_theory.expressions import W

# the reproducers: each ran for minutes, filled memory or printed a traceback
HUGE = [("9**(9**9)", "exponent .* limit"), ("9**9**9**9", "exponent .* limit"),
        ("((1+w)**64)**64", "degree 4096 .* limit 64"), ("2**(1000000*1000000)", "exponent 1e\\+12 .* limit"),
        ("2**(64*250)", "exponent 16000 .* limit")]
DIP = "1 - w - 2*exp(-20*1000000*(w-0.12325)**2)"       # q+(0.12325) = -1.12, between any grid's points


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("text, match", HUGE)
def test_huge_numbers_exponents_and_degrees_are_refused_before_sympy(text, match, monkeypatch):
    # SymPy is never asked to build anything: its Pow would raise if called
    monkeypatch.setitem(expressions._BINOPS, expressions.ast.Pow, lambda a, b: pytest.fail("SymPy was called"))
    with pytest.raises(InputError, match=match) as exc:
        expressions.parse(text, [], what="q_plus")
    assert exc.value.param == "q_plus" and "\n" not in str(exc.value)


@pytest.mark.parametrize("text, match", [
    ("1e-200*1e-200*w", "constant .* limit 1e-300"), ("exp(1000) + w", "constant 'exp\\(1000\\)'"),
    ("(1+w)**40*(1-w)**40", "degree 80"), ("w**g", "exponent 100 of 'w \\*\\* g'"),
    ("2**(g*2) + w", "exponent 200"),
])
def test_constants_and_parameter_values_are_bounded(text, match):
    with pytest.raises(InputError, match=match):
        expressions.parse(text, ["g"], what="q_plus", values={"g": 100.0})


def test_bounds_leave_ordinary_expressions_alone():
    for text in ["(1 - w/t)^g", "2**w", "(1+w)**64", "exp(-w/0.3)*(1 + w**2)", "9**9*w + 1", "w**(1/3)",
                 "1/(1 + exp(-w))", "sqrt(1 - w**2)"]:
        expressions.parse(text, ["t", "g"], values={"t": 0.6, "g": 0.5})
    assert expressions.parse("w**g", ["g"]) == W ** sp.Symbol("g", real=True)    # value unknown: symbolic


@pytest.mark.parametrize("command", [["derive"], ["simulate", "--steps", "10", "--chains", "2"], ["fixed-point"],
                                     ["calibrate", "--dw-min", "0.01"]])
@pytest.mark.parametrize("text", ["9**9**9**9", "((1+w)**64)**64", "2**(64*250)"])
def test_cli_refuses_huge_expressions_in_one_line(capsys, command, text):
    code, out, err = run(capsys, *command, "--q-plus", text, "--q-minus", "1 + w")
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "--q-plus" in err and "limit" in err


def test_sympy_exceptions_while_parsing_are_one_input_error(monkeypatch):
    def boom(x):
        raise RuntimeError("internal SymPy failure\nwith a second line")
    monkeypatch.setitem(expressions.FUNCTIONS, "exp", boom)
    with pytest.raises(InputError) as exc:
        response.from_expressions("1 - exp(w)/10", "1 + w", range=(-1, 1))
    assert exc.value.param == "q_plus" and "RuntimeError" in str(exc.value) and "\n" not in str(exc.value)


def test_sympy_exceptions_in_derive_are_one_input_error(monkeypatch):
    from sympy.polys.polyerrors import PolynomialError

    from aimc_theory.symbolic import derivation

    def boom(*args, **kwargs):
        raise PolynomialError("no")
    monkeypatch.setattr(derivation, "_symmetric_points", boom)
    r = response.from_expressions("1 - w/3", "1 + w/3", range=(-1, 1))
    with pytest.raises(InputError) as exc:
        derivation.derive(r, time_budget=2.0)
    assert exc.value.param == "response" and "PolynomialError" in str(exc.value)


# -- a range too narrow for float64 -------------------------------------------------------------------------

def test_range_too_narrow_for_float64_is_refused(capsys):
    with pytest.raises(InputError, match="too narrow for float64") as exc:
        response.from_expressions("1-w", "1+w", range=(-1e-20, 1e-20))
    assert exc.value.param == "range"
    with pytest.raises(InputError, match="too narrow") as exc:
        response.from_expressions("1-w", "1+w", range=(0.5, 0.5 + 1e-12))
    assert exc.value.param == "range"
    code, out, err = run(capsys, "derive", "--q-plus", "1-w", "--q-minus", "1+w", "--range=-1e-20,1e-20")
    assert code == 2 and err.startswith("aimc-theory: error: --range:") and err.count("\n") == 1, err


def test_identical_expressions_written_differently_are_still_every_point_symmetric():
    r = response.from_expressions("sin(w)**2 + cos(w)**2", "1", range=(-1, 1))
    assert r.every_point_symmetric
    r = response.from_expressions("1 - w/2", "1 + w/2", range=(-1e-3, 1e-3))    # small but resolvable
    assert r.symmetric_points == pytest.approx((0.0,), abs=1e-12)


# -- positivity proven on the range -------------------------------------------------------------------------

def test_grid_missed_dip_is_refused(capsys):
    with pytest.raises(InputError, match="interval arithmetic") as exc:
        response.from_expressions(DIP, "1 + w", range=(-1, 1))
    assert exc.value.param == "q_plus"
    value = float(str(exc.value).split(" = ")[1].split()[0])
    assert value < 0
    for command in (["derive"], ["simulate", "--steps", "10", "--chains", "2"]):
        code, out, err = run(capsys, *command, "--q-plus", DIP, "--q-minus", "1 + w", "--range=-1,1")
        assert code == 2 and err.startswith("aimc-theory: error: --q-plus: must be positive"), err


@pytest.mark.parametrize("text, rng", [
    ("1 - w - 1e-14", (-1, 1)),                      # negative on the last 1e-14 of the range
    ("1 - w - 2*exp(-1000000*1000000*(w - 0.3)**2)", (-1, 1)),   # a dip 1e-6 wide
    ("(w - 0.123456789)**2", (-1, 1)),               # touches 0
    ("log(0.5 + w) + 1", (-0.9, 0.9)),               # undefined below -0.5
    ("1 + 1/(w - 0.5)**2 - 1/(w - 0.5)**2 - 1/(w - 0.5)", (-0.9, 0.9)),   # a pole inside
])
def test_not_positive_somewhere_is_refused(text, rng):
    with pytest.raises(InputError) as exc:
        expressions.prove_positive(expressions.parse(text, []), *rng, "q_plus", text)
    assert exc.value.param == "q_plus"


@pytest.mark.parametrize("q_plus, q_minus, kw", [
    ("1 - w", "1 + w", {}),                                           # q+ -> 0 at the end of the range
    ("(1 - w/t)^g", "(1 + w/t)^g", {"params": {"t": 0.6, "g": 0.5}}),  # infinite slope at the ends
    ("exp(-w)", "exp(w)", {}),                                        # underflows at the ends of the range
    ("1 - w + 2*exp(-1000000*1000000*(w - 0.3)**2)", "1 + w", {"range": (-1, 1)}),  # a spike, positive
    ("(w - 0.123456)**2 + 1e-30", "1 + w", {"range": (-0.9, 0.9)}),   # 1e-30 above 0
    ("1 + w**2", "2 + w**2 - w", {}),                                 # unbounded range
    ("2 + sin(w)", "2 - sin(w)", {"range": (-50, 50)}),
    ("cosh(w) - 0.99", "1 + tanh(w)", {"range": (-3, 3)}),
    ("erf(w) + 1", "1 + w/2", {"range": (-0.5, 0.5)}),
    ("abs(w) + 0.1", "atan(w) + 2", {"range": (-2, 2)}),
])
def test_positive_responses_are_proven(q_plus, q_minus, kw):
    r = response.from_expressions(q_plus, q_minus, **kw)
    assert r.lo < r.hi


def _random_expr(rng, depth=0):
    """A random expression of the parser's vocabulary (SymPy), for the soundness test below."""
    choice = rng.integers(0, 9 if depth < 3 else 2)
    if choice == 0:
        return W
    if choice == 1:
        return sp.Rational(int(rng.integers(-9, 10)), int(rng.integers(1, 5)))
    if choice in (2, 3):
        return _random_expr(rng, depth + 1) + _random_expr(rng, depth + 1)
    if choice == 4:
        return _random_expr(rng, depth + 1) * _random_expr(rng, depth + 1)
    if choice == 5:
        return _random_expr(rng, depth + 1) ** int(rng.integers(-3, 5))
    if choice == 6:
        return sp.sqrt(_random_expr(rng, depth + 1) ** 2 + sp.Rational(1, 3))
    fun = [sp.exp, sp.sin, sp.cos, sp.atan, sp.tanh, sp.erf, sp.Abs, sp.asinh, sp.sinh, sp.cosh][rng.integers(0, 10)]
    return fun(_random_expr(rng, depth + 1))


def test_enclosures_contain_every_value():
    """Soundness: the interval enclosure over a piece contains q at points of the piece (q from 50-digit
    SymPy evaluation, so float rounding of the check itself cannot hide an error)."""
    rng = np.random.default_rng(21)
    checked = 0
    for _ in range(150):
        e = _random_expr(rng)
        f = expressions.interval_function(e)
        a = float(rng.uniform(-3, 3))
        b = a + float(rng.choice([1e-9, 1e-3, 0.3, 2.0]))
        try:
            lo, hi = f((a, b))
        except expressions._Undefined:
            continue
        if lo != lo or hi != hi:
            continue
        for t in np.linspace(a, b, 5):
            v = complex(sp.N(e.subs(W, sp.Float(float(t), 50)), 50))
            if abs(v.imag) > 0 or not math.isfinite(v.real):
                continue
            assert lo <= v.real <= hi, (e, a, b, t, v, lo, hi)
            checked += 1
    assert checked > 300


def test_caret_is_power_with_power_precedence():
    """'1 - w^2' is 1 - w**2 (as a paper writes it), never (1 - w)**2 (Python's XOR precedence)."""
    from aimc_theory import response
    r = response.from_expressions("1 - w^2", "1 + w^2", range=(-0.5, 0.5))
    s = response.from_expressions("1 - w**2", "1 + w**2", range=(-0.5, 0.5))
    w = np.linspace(-0.4, 0.4, 9)
    assert np.array_equal(r.q_plus(w), s.q_plus(w)) and np.array_equal(r.q_minus(w), s.q_minus(w))
    t = response.from_expressions("2^-w^2", "2^w^2", range=(-0.5, 0.5))     # right-associative, like **
    assert t.q_plus(0.3) == pytest.approx(2 ** -(0.3 ** 2))
