"""Response functions: families, validation, safe parsing, symmetric points."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from aimc_theory import response
from aimc_theory.errors import InputError


@pytest.mark.parametrize("make, sp", [
    (lambda: response.softbounds(tau=2.0, sp=0.3), 0.3),
    (lambda: response.linear(tau=3.5, c=0.2), 0.7),          # SP = c tau (P1 section 4)
    (lambda: response.power(tau=0.6, gamma=0.5), 0.0),
    (lambda: response.exponential(tau=1.0, gamma=2.0), 0.0),
])
def test_family_symmetric_point(make, sp):
    r = make()
    assert r.symmetric_points == pytest.approx((sp,), abs=1e-12)
    assert r.G(np.array(sp)) == pytest.approx(0.0, abs=1e-12)


def test_exponential_F_G_closed_forms():
    # spec A.5: G = e^g sinh(g x)/(e^g - 1), F = (e^g cosh(g x) - 1)/(e^g - 1)
    g, tau = 1.7, 0.8
    r = response.exponential(tau=tau, gamma=g)
    w = np.linspace(-0.7, 0.7, 11)
    x = w / tau
    assert np.allclose(r.G(w), math.exp(g) * np.sinh(g * x) / math.expm1(g))
    assert np.allclose(r.F(w), (math.exp(g) * np.cosh(g * x) - 1) / math.expm1(g))


def test_ideal_is_symmetric_everywhere():
    r = response.ideal()
    assert r.every_point_symmetric and r.symmetric_point == 0.0
    assert np.all(r.G(np.linspace(-5, 5, 7)) == 0)


@pytest.mark.parametrize("call, param", [
    (lambda: response.softbounds(tau=0), "tau"),
    (lambda: response.softbounds(tau=-1), "tau"),
    (lambda: response.power(gamma=0), "gamma"),
    (lambda: response.linear(c=1.0), "c"),
    (lambda: response.get("power", foo=1), "-p foo"),
    (lambda: response.get("nope"), "--response"),
    (lambda: response.get("ideal", tau=1), "-p tau"),
    (lambda: response.softbounds(tau=float("nan")), "tau"),
])
def test_bad_parameters_name_the_parameter(call, param):
    with pytest.raises(InputError) as exc:
        call()
    assert exc.value.param == param


@pytest.mark.parametrize("expr", [
    "__import__('os').system('id')",
    "().__class__.__bases__[0]",
    "(lambda: 1)()",
    "w.real",
    "open('x')",
    "exp(w, 2)",
    "exp(x=w)",
    "[w]",
    "w if w else 1",
    "os",
])
def test_unsafe_expressions_are_rejected(expr):
    with pytest.raises(InputError):
        response.from_expressions(expr, "1 + w")




def test_user_expression_matches_family():
    r = response.from_expressions("(1 - w/t)^g", "(1 + w/t)^g", {"t": 0.6, "g": 0.5})
    p = response.power(tau=0.6, gamma=0.5)
    assert (r.lo, r.hi) == pytest.approx((-0.6, 0.6), abs=1e-9)
    w = np.linspace(-0.55, 0.55, 9)
    assert np.allclose(r.q_plus(w), p.q_plus(w)) and np.allclose(r.q_minus(w), p.q_minus(w))


def test_default_range_is_positive_interval_around_zero():
    r = response.from_expressions("1 - w", "1 + w + 0.5")
    assert r.lo == pytest.approx(-1.5, abs=1e-9) and r.hi == pytest.approx(1.0, abs=1e-9)
    assert r.symmetric_points == pytest.approx((-0.25,))


def test_range_required_when_not_positive_at_zero():
    with pytest.raises(InputError) as exc:
        response.from_expressions("w - 1", "w + 1")
    assert exc.value.param == "range"


def test_not_positive_inside_given_range():
    with pytest.raises(InputError) as exc:
        response.from_expressions("2 - w", "1 + w", range=(-3, 3))
    assert exc.value.param == "q_plus"


def test_no_symmetric_point_says_where_weights_drift():
    with pytest.raises(InputError) as exc:
        response.from_expressions("1 - w/4", "2 + w/4", range=(-1, 1))   # G > 0 everywhere
    assert "lower bound -1" in str(exc.value)
    with pytest.raises(InputError) as exc:
        response.from_expressions("2 - w/4", "1 + w/4", range=(-1, 1))
    assert "upper bound 1" in str(exc.value)


def test_several_symmetric_points_are_all_returned():
    # G = (q- - q+)/2 = 0.1 sin(3 w) has zeros at 0 and +-pi/3 inside (-1.2, 1.2)
    r = response.from_expressions("1 - 0.1*sin(3*w)", "1 + 0.1*sin(3*w)", range=(-1.2, 1.2))
    assert r.symmetric_points == pytest.approx((-math.pi / 3, 0.0, math.pi / 3), abs=1e-10)


def test_unknown_or_unused_parameter():
    with pytest.raises(InputError) as exc:
        response.from_expressions("1 - w/tau", "1 + w/tau", {"tau": 1, "zeta": 2})
    assert exc.value.param == "-p zeta"
    with pytest.raises(InputError):
        response.from_expressions("1 - w/tau", "1 + w/tau")   # tau not given: unknown name


def test_shift_moves_the_symmetric_point():
    r = response.linear(tau=1.0, c=0.2).shifted(0.1)
    assert r.symmetric_point == pytest.approx(0.3)
    assert (r.lo, r.hi) == pytest.approx((-0.9, 1.1))


@settings(max_examples=40, deadline=None)
@given(tau=st.floats(0.1, 5.0, allow_subnormal=False), c=st.floats(-0.9, 0.9, allow_subnormal=False))
def test_linear_sp_is_c_tau(tau, c):
    assert response.linear(tau=tau, c=c).symmetric_point == pytest.approx(c * tau, abs=1e-9 * tau)


def test_injected_code_never_runs(tmp_path):
    target = tmp_path / "pwned"
    with pytest.raises(InputError):
        response.from_expressions(f"__import__('os').system('touch {target}')", "1 + w")
    assert not target.exists()


@pytest.mark.parametrize("text, match", [
    ("1/0", "division by zero"), ("10**400", "exponent"), ("99999999999999999999999*w", "number"),
    ("sin(sin(sin(sin(sin(w)))))", "nested function"), ("2**2**2**2**w", "nested powers"),
    ("(1+w)**1000", "exponent"), ("w" + "+w" * 400, "parts|longer|nested"), ("1e400*w", "number"),
    ("(" * 40 + "w" + ")" * 40, "nested|parts|positive"),
])
def test_hostile_expressions_are_rejected_quickly(text, match):
    import time
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=match):
        response.from_expressions(text, "1 + w/2", range=(-0.5, 0.5))
    assert time.perf_counter() - t0 < 1.0


def test_erf_is_evaluated_on_arrays():
    r = response.from_expressions("erf(w) + 1", "1 + w/2", range=(-0.5, 0.5))
    assert r.q_plus(np.array([0.0, 0.2])).shape == (2,)
