"""Every form of every response family of the registry against its definition: the SymPy expressions of the
record's q+/q- text, lambdified, on a grid inside the range, at the defaults and at the record's examples
(relative 1e-12): the NumPy forms q_plus/q_minus, the fast paths fg and q_directed (qd), the declared affine
coefficients, and the numba kernel forms when numba is installed. Also: the records are the single source of
the parameters (signatures, ranges, get), and their kernel and fit ids exist.

SymPy is imported here only (the numeric path never imports it)."""
import inspect
import math

import numpy as np
import pytest

from aimc_theory import fit, kernels, response
from aimc_theory.errors import InputError

RTOL = 1e-12
CASES = [(name, dict(p)) for name, fam in response.FAMILY.items() for p in ({}, *fam.examples)]
IDS = [f"{name}-{'-'.join(f'{k}={v:g}' for k, v in p.items()) or 'defaults'}" for name, p in CASES]


def _grid(r, n=801):
    lo, hi = (r.lo, r.hi) if r.bounded else (-3.0, 3.0)
    return np.linspace(lo, hi, n)[1:-1]


def _reference(r, w):
    """q+ and q- at w from the SymPy expressions (lambdified)."""
    import sympy as sp
    from aimc_theory.expressions import W
    out = []
    for expr in (r.q_plus_expr, r.q_minus_expr):
        out.append(np.asarray(sp.lambdify(W, expr, "numpy")(w), dtype=float) * np.ones_like(w))
    return out


def _close(got, ref, what, scale=None):
    """|got - ref| <= 1e-12 max(|ref|, scale): relative to the value, or to ``scale`` where the value is a
    difference that cancels (G = (q- - q+)/2 near an SP: scale |q+| + |q-|); by default scale is 1e-2 of the
    largest |ref| (a q that falls to 0 at a bound, where 1 - w/tau is exact only to a few ulps of 1)."""
    ref = np.asarray(ref, dtype=float)
    got = np.broadcast_to(np.asarray(got, dtype=float), ref.shape)
    scale = 1e-2 * np.max(np.abs(ref)) if scale is None else scale
    tol = RTOL * np.maximum(np.abs(ref), scale)
    bad = ~(np.abs(got - ref) <= tol)
    assert not bad.any(), f"{what}: max error {np.max(np.abs(got - ref) / tol) * RTOL:.3g} (relative to the tolerance)"


def test_every_family_has_defaults_and_examples():
    """Two or more examples besides the defaults, each inside the declared ranges and accepted."""
    for name, fam in response.FAMILY.items():
        assert len(fam.examples) >= 2 or not fam.params, name
        for p in fam.examples:
            assert set(p) <= {q.name for q in fam.params}, (name, p)
            assert all(p[q.name] in q.valid for q in fam.params if q.name in p), (name, p)


@pytest.mark.parametrize("name, params", CASES, ids=IDS)
def test_numpy_forms_are_the_expressions(name, params):
    r = response.get(name, **params)
    w = _grid(r)
    qp, qm = _reference(r, w)
    _close(r.q_plus(w), qp, "q_plus")
    _close(r.q_minus(w), qm, "q_minus")
    F, G = r.fg(w)                                      # the record's fg, or the fallback from q_plus/q_minus
    _close(F, 0.5 * (qm + qp), "fg F")
    _close(G, 0.5 * (qm - qp), "fg G", np.abs(qp) + np.abs(qm))
    _close(r.F(w), 0.5 * (qm + qp), "F")
    _close(r.G(w), 0.5 * (qm - qp), "G", np.abs(qp) + np.abs(qm))
    for i in (0, w.size // 3, w.size - 1):             # scalar evaluation (the hot path's 0-d branches)
        Fs, Gs = r.fg(np.float64(w[i]))
        _close(Fs, 0.5 * (qm[i] + qp[i]), "fg F (scalar)", abs(qp[i]) + abs(qm[i]))
        _close(Gs, 0.5 * (qm[i] - qp[i]), "fg G (scalar)", abs(qp[i]) + abs(qm[i]))


@pytest.mark.parametrize("name, params", CASES, ids=IDS)
def test_directed_forms_are_the_expressions(name, params):
    r = response.get(name, **params)
    w = _grid(r)
    qp, qm = _reference(r, w)
    sgn = np.where(np.arange(w.size) % 3 == 0, 1.0, -0.25)
    want = np.where(sgn > 0, qp, qm)
    _close(r.q_directed(w, sgn), want, "q_directed")
    _close(r.q_directed(w, 1.0), qp, "q_directed(+)")
    _close(r.q_directed(w, -1.0), qm, "q_directed(-)")
    if r.qd_form is not None:                          # the record's qd, as expected_update_fg calls it
        _close(r.qd_form(w.copy(), sgn), want, "qd")
        _close(r.qd_form(np.float64(w[5]), -1.0), qm[5], "qd (scalar)")
        _close(r.qd_form(np.float64(w[5]), 1.0), qp[5], "qd (scalar)")
    assert (r.qd_form is not None) == (response.FAMILY[name].qd is not None)


@pytest.mark.parametrize("name, params", CASES, ids=IDS)
def test_declared_affine_coefficients_are_the_expressions(name, params):
    fam, r = response.FAMILY[name], response.get(name, **params)
    declared = fam.affine is not None and (fam.affine_if is None or fam.affine_if(**fam.symbol_values(r.params)))
    assert (r.affine is not None) == declared
    if declared:
        w = _grid(r)
        qp, qm = _reference(r, w)
        a_p, b_p, a_m, b_m = r.affine
        _close(a_p + b_p * w, qp, "a+ + b+ w")
        _close(a_m + b_m * w, qm, "a- + b- w")
        assert r.affine == response.affine_from_exprs(r.q_plus_expr, r.q_minus_expr)


@pytest.mark.parametrize("name, params", CASES, ids=IDS)
def test_numba_kernel_forms_are_the_expressions(name, params):
    """The per-element forms of the compiled kernels: the expected-update kernel's factors (families with a
    kernel form, also moved by an SP shift) and the pulse kernels' q+/q- (affine responses and the power and
    exponential forms)."""
    pytest.importorskip("numba")
    from aimc_theory import device
    factors, step = kernels.compiled_forms()
    base = response.get(name, **params)
    for r in (base, base.shifted(0.0625)):
        w = _grid(r, 201)
        qp, qm = _reference(r, w)
        if response.FAMILY[name].kernel is not None:
            kind, (a, b, c, shift, lo, hi) = kernels.response_code(r)
            assert (lo, hi) == (r.lo, r.hi)
            up = np.array([factors(x - shift, 1e-3, kind, a, b, c) for x in w])
            down = np.array([factors(x - shift, -1e-3, kind, a, b, c) for x in w])
            if kind <= 2:                                # (F, G): the step is dw F - |dw| G
                _close(up[:, 0] - up[:, 1], qp, "kernel q+ = F - G", np.abs(up[:, 0]) + np.abs(up[:, 1]))
                _close(down[:, 0] + down[:, 1], qm, "kernel q- = F + G", np.abs(down[:, 0]) + np.abs(down[:, 1]))
            else:                                        # (q, 0): the step is q dw
                _close(up[:, 0], qp, "kernel q+")
                _close(down[:, 0], qm, "kernel q-")
        try:
            plan = kernels.pulse_plan(device.Device(r, dw_min=1e-3))
        except InputError:
            assert r.affine is None and response.FAMILY[name].kernel not in ("power", "exponential")
            continue
        _close([step(x, True, *plan) for x in w], qp, "pulse kernel q+")
        _close([step(x, False, *plan) for x in w], qm, "pulse kernel q-")


def test_kernel_and_fit_ids_exist():
    for name, fam in response.FAMILY.items():
        assert fam.kernel is None or fam.kernel in kernels.FORMS, name
        assert fam.fit is None or fam.fit in fit.FAMILIES, name
    assert kernels.covered() == [n for n, f in response.FAMILY.items() if f.kernel is not None]
    assert fit.FAMILIES == ("softbounds", "linear", "power", "exponential", "piecewise")


@pytest.mark.parametrize("name", list(response.FAMILY))
def test_python_function_is_the_record(name):
    """The function's signature is the record's parameters with their defaults; calling it, get() and the
    record build the same response."""
    fam, fn = response.FAMILY[name], response.FAMILIES[name]
    assert fn is getattr(response, name.replace("-", "_")) and fn.__name__ == name.replace("-", "_")
    sig = inspect.signature(fn)
    assert [(p.name, p.default) for p in sig.parameters.values()] == [(p.name, p.default) for p in fam.params]
    assert fn.__doc__ == fam.doc and "Returns" in fam.doc
    for params in ({}, *fam.examples):
        a, b = fn(**params), response.get(name, **params)
        assert (a.name, dict(a.params), a.lo, a.hi) == (b.name, dict(b.params), b.lo, b.hi)
        assert dict(a.params) == fam.defaults | {k: float(v) for k, v in params.items()}
    if fam.params:
        assert fn(*[p.default for p in fam.params]).params == fn().params      # positional arguments
    with pytest.raises(TypeError):
        fn(bogus=1.0)
    with pytest.raises(InputError) as exc:
        response.get(name, bogus=1.0)
    assert exc.value.param == "param bogus"   # the command line says -p bogus


@pytest.mark.parametrize("name", list(response.FAMILY))
def test_declared_ranges_are_enforced(name):
    """A value outside a parameter's range (or at an open end) is an InputError naming that parameter;
    values inside are accepted by the range (the family may still reject a combination)."""
    fam = response.FAMILY[name]
    for p in fam.params:
        outside = []
        if math.isfinite(p.valid.lo):
            outside += [p.valid.lo - 1.0] + ([p.valid.lo] if p.valid.closed[0] == "(" else [])
        if math.isfinite(p.valid.hi):
            outside += [p.valid.hi + 1.0] + ([p.valid.hi] if p.valid.closed[1] == ")" else [])
        for v in outside + [math.nan, math.inf]:
            with pytest.raises(InputError) as exc:
                response.get(name, **{p.name: v})
            assert exc.value.param == p.name, (p.name, v)
        for v in p.valid.inside(3):
            assert p.valid.check(p.name, v) == v


def test_numba_kernel_clips_a_shifted_response_at_its_range():
    """The expected-update kernel clips at the moved range, as the NumPy path (it clipped at lo + 2 shift)."""
    pytest.importorskip("numba")
    from aimc_theory import algorithms, device, objectives, simulation
    obj = objectives.ScalarQuadratic(1.0, 10.0, 0.0)                 # one long step up, past the bound
    for r in (response.softbounds(tau=0.3).shifted(0.1), response.power(tau=0.5, gamma=0.5).shifted(-0.2)):
        out = {be: simulation.simulate(obj, algorithms.analog_sgd(1.0, device.Device(r)), steps=1, chains=2, seed=1,
                                  backend=be, w0=r.hi - 0.05).final_weights for be in ("numpy", "numba")}
        assert np.array_equal(out["numpy"], out["numba"]) and np.all(out["numpy"] == r.hi)
