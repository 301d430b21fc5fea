"""Property-based fuzzing of the public Python API with random and hostile arguments: every call either
returns or raises InputError (naming a parameter); never another exception from deep inside NumPy or
SymPy. The CLI has its own fuzzing (tests/test_fuzz.py)."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from aimc_theory import algorithms, calibration, device, objectives, residual_learning, response, run, simulation, \
    tracking
from aimc_theory.errors import InputError

HOSTILE = st.one_of(st.floats(-2, 2, allow_subnormal=False), st.floats(0.001, 1.0), st.floats(0.001, 1.0),
                    st.sampled_from([0.0, -0.0, -1.0, 1e300, -1e300, 5e-324, math.nan, math.inf, -math.inf, 1e6,
                                     10**13, 3, 0, -5, True, "0.5", "x", None, [1.0], np.float32(0.5)]))
SIZES = st.one_of(st.integers(1, 40), st.sampled_from([0, -1, 10**13, 2.5, "3", None, math.nan]))
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))


def survives(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except InputError as exc:
        assert exc.param and str(exc).startswith(f"{exc.param}: ")
        return None


# every parameter name of the registry's families, and values inside and at the ends of every declared range
PARAM_NAMES = sorted({p.name for fam in response.FAMILY.values() for p in fam.params})
IN_RANGE = sorted({v for fam in response.FAMILY.values() for p in fam.params
                   for v in (p.default, *p.valid.inside(3), p.valid.lo, p.valid.hi) if math.isfinite(v)})


@SETTINGS
@given(name=st.sampled_from(list(response.FAMILY) + ["bogus"]),
       params=st.dictionaries(st.sampled_from(PARAM_NAMES + ["bogus"]),
                              st.one_of(HOSTILE, st.sampled_from(IN_RANGE)), max_size=3))
def test_response_families(name, params):
    r = survives(response.get, name, **params)
    if r is not None:
        w = np.linspace(max(r.lo, -5), min(r.hi, 5), 7)[1:-1]
        assert np.all(np.isfinite(r.q_plus(w))) and np.all(r.q_plus(w) >= 0)


@SETTINGS
@given(qp=st.sampled_from(["1 - w", "1 + w", "exp(-w)", "1/w", "w", "sqrt(1 - w)", "1 - w/tau", "2"]),
       qm=st.sampled_from(["1 + w", "exp(w)", "1 - w", "log(w)", "1 + w/tau", "2"]),
       params=st.dictionaries(st.sampled_from(["tau", "w"]), HOSTILE, max_size=1),
       rng=st.one_of(st.none(), st.tuples(HOSTILE, HOSTILE)))
def test_user_expressions(qp, qm, params, rng):
    survives(response.from_expressions, qp, qm, params, rng)


@SETTINGS
@given(dw_min=HOSTILE, sigma_c=HOSTILE, max_bl=SIZES, rounding=st.sampled_from(["ceil", "stochastic", "x"]),
       up=HOSTILE, lr=HOSTILE, steps=SIZES, chains=SIZES, w0=HOSTILE, noise=HOSTILE, L=HOSTILE,
       pulsed=st.booleans())
def test_device_algorithm_simulation(dw_min, sigma_c, max_bl, rounding, up, lr, steps, chains, w0, noise, L, pulsed):
    dev = survives(device.Device, response.softbounds(), dw_min=dw_min if pulsed else None,
                   sigma_c=sigma_c if pulsed else 0.0, max_bl=max_bl, rounding=rounding, up_scale=up)
    obj = survives(objectives.ScalarQuadratic, L, 0.3, noise)
    alg = survives(algorithms.analog_sgd, lr, dev) if dev is not None else None
    if obj is not None and alg is not None:
        survives(simulation.simulate, obj, alg, steps, chains, 0, w0=w0)


@SETTINGS
@given(lr=HOSTILE, beta=HOSTILE, gamma=HOSTILE, eta=HOSTILE, chop=HOSTILE, read_noise=HOSTILE, every=SIZES)
def test_two_array_algorithms(lr, beta, gamma, eta, chop, read_noise, every):
    p, w = device.Device(response.softbounds()), device.Device(response.ideal())
    obj = objectives.ScalarQuadratic(1.0, 0.3, 0.2)
    for build in (lambda: residual_learning.residual_learning(lr, beta, gamma, p, w, transfer_every=every,
                                                              read_noise=read_noise),
                  lambda: residual_learning.residual_learning_v2(lr, beta, gamma, p, w, read_noise=read_noise,
                                                                 dw_min=1e-3),
                  lambda: tracking.rider(lr, beta, gamma, eta, p, w, chop_prob=chop)):
        alg = survives(build)
        if alg is not None:
            survives(simulation.simulate, obj, alg, 20, 5, 0)


@SETTINGS
@given(w0=HOSTILE, pulses=SIZES, scheme=st.sampled_from(["cyclic", "stochastic", "x"]), devices=SIZES,
       dw_min=HOSTILE, gain=HOSTILE, imbalance=HOSTILE, tol=HOSTILE)
def test_calibration(w0, pulses, scheme, devices, dw_min, gain, imbalance, tol):
    dev = survives(device.Device, response.softbounds(sp=0.1), dw_min=dw_min)
    var = survives(calibration.Variation, gain, imbalance)
    if dev is not None and var is not None:
        survives(calibration.zero_shift, dev, w0, pulses, scheme, devices=devices, variation=var, tolerance=tol)


@SETTINGS
@given(command=st.sampled_from(list(run.COMMANDS) + ["sweep", "bogus"]),
       params=st.dictionaries(st.sampled_from(["lr", "noise", "steps", "--w-star", "p.tau", "pulses", "model",
                                               "bogus", "param", "seed", "chains"]), HOSTILE, max_size=3))
def test_run_descriptions(command, params):
    survives(run.describe, command, params)


def test_device_keeps_validated_numbers():
    """A dw_min given as text passed validation but stayed text and broke the calibration later (fuzzing)."""
    dev = device.Device(response.softbounds(sp=0.1), dw_min="0.01", sigma_c="0.5")
    assert dev.dw_min == 0.01 and dev.sigma_c == 0.5 and isinstance(dev.dw_min, float)
    with pytest.raises(InputError, match="tolerance"):
        calibration.zero_shift(dev, 0.0, 1, "cyclic", variation=calibration.Variation(0, 0), tolerance=0.0)
