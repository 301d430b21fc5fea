"""Numeric path: devices, objectives, algorithms, simulation (no symbolic module here)."""
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from aimc_theory import algorithms, device, objectives, response, simulation
from aimc_theory import residual_learning as rl
from aimc_theory.errors import InputError


def test_numeric_path_never_imports_symbolic():
    code = ("import sys, aimc_theory.simulation, aimc_theory.device, aimc_theory.algorithms, "
            "aimc_theory.objectives; print('aimc_theory.symbolic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_expected_update_branches():
    r = response.linear(tau=1.0, c=0.2)
    w = np.array([0.1, 0.1, -0.4])
    dw = np.array([0.01, -0.01, 0.0])
    out = device.expected_update(r, w, dw)
    assert out[0] == pytest.approx(0.1 + 0.01 * r.q_plus(0.1))
    assert out[1] == pytest.approx(0.1 - 0.01 * r.q_minus(0.1))
    assert out[2] == -0.4


def test_pulse_count_and_cap():
    dev = device.Device(response.softbounds(), dw_min=1e-3, max_bl=8)
    bl = device.pulse_count(dev, np.array([0.0, 1e-3, 1.5e-3, 1.0]), None)
    assert bl.tolist() == [0, 1, 2, 8]


def test_pulse_update_single_pulse_and_noise_free_composition():
    r = response.softbounds(tau=1.0)
    dev = device.Device(r, dw_min=0.01)
    w = np.array([0.2, 0.2])
    out = device.pulse_update(dev, w, np.array([0.02, -0.01]), None)
    w_up = 0.2 + 0.01 * (1 - 0.2)
    w_up = w_up + 0.01 * (1 - w_up)
    assert out == pytest.approx([w_up, 0.2 - 0.01 * 1.2])


def test_stochastic_rounding_is_unbiased():
    dev = device.Device(response.ideal(), dw_min=1e-3, rounding="stochastic")
    rng = np.random.default_rng(0)
    out = device.pulse_update(dev, np.zeros(200_000), np.full(200_000, 2.3e-3), rng)
    assert out.mean() == pytest.approx(2.3e-3, rel=3e-3)


def test_compiled_affine_pulse_writes_are_numpys(monkeypatch):
    """pulse_update of an affine response without cycle noise or per-element parameters runs in one compiled call
    where numba is installed (PCG64 stepped inline on the Generator's own state words): the NumPy code's weights and
    the Generator's state after, for both roundings, with and without a cap, up to the bounds, with dw = 0 and several
    shapes; other bit generators, float32, a non-finite dw and u <= -1 run the NumPy code."""
    pytest.importorskip("numba")
    from aimc_theory import update_models as um
    g = np.random.default_rng(42)

    def both(dev, w, dw, make=np.random.default_rng):
        r1, r2 = make(5), make(5)
        a = um.pulse_update(dev, w, dw, r1)
        monkeypatch.setattr(um, "PULSE_KERNEL", False)
        b = um.pulse_update(dev, w, dw, r2)
        monkeypatch.setattr(um, "PULSE_KERNEL", True)
        assert a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
        assert r1.random() == r2.random()
        return a

    for resp in (response.softbounds(tau=1.0, sp=-0.2), response.linear(tau=1.0, c=0.3), response.ideal(),
                 response.aihwkit_softbounds(w_max=3.5, w_min=-3.5, up_down=0.2)):
        for rounding in ("stochastic", "ceil"):
            for max_bl in (None, 8, 1):
                for dw_min in (1e-3, 0.05, 1e-7):
                    dev = device.Device(resp, dw_min=dw_min, max_bl=max_bl, rounding=rounding)
                    for shape in ((8, 50), (800, 1), (3,)):
                        hi = min(resp.hi, 1.0)
                        w = g.uniform(-0.99 * hi, 0.99 * hi, shape)
                        dw = g.standard_normal(shape) * dw_min * g.choice([0.3, 3.0, 30.0])
                        dw[g.random(shape) < 0.1] = 0.0
                        both(dev, w, dw)
    dev = device.Device(response.softbounds(tau=1.0), dw_min=1e-3, max_bl=8, rounding="stochastic")
    w, dw = g.uniform(-0.5, 0.5, (4, 50)), g.standard_normal((4, 50)) * 3e-3
    assert um._pulse_affine(dev, w, dw, np.random.default_rng(0)) is not None         # the compiled call is taken
    for rng, ww, d, d_ in ((np.random.Generator(np.random.Philox(1)), w, dw, dev),
                           (np.random.default_rng(1), w, dw.astype(np.float32), dev),
                           (np.random.default_rng(1), w, np.where(dw > 0.004, np.nan, dw), dev),
                           (np.random.default_rng(1), w, dw, device.Device(response.softbounds(tau=1.0), dw_min=1.5,
                                                                           rounding="stochastic"))):
        assert um._pulse_affine(d_, ww, np.asarray(d), rng) is None
    both(dev, w, dw, lambda s: np.random.Generator(np.random.Philox(s)))
    both(device.Device(response.softbounds(tau=1.0), dw_min=1.5, rounding="stochastic"), w, dw)
    # a simulation of the batch-mean pulse model (P1 Fig. 2's): the same bits with the compiled writes off
    obj = objectives.LeastSquares(g.standard_normal((20, 10)), g.standard_normal(20), noise=0.0)
    run = lambda: simulation.simulate(obj, algorithms.analog_sgd(0.1, dev), 50, 6, 3).final_params  # noqa: E731
    fast = run()
    monkeypatch.setattr(um, "PULSE_KERNEL", False)
    assert np.array_equal(fast, run())


def test_cycle_noise_needs_generator_and_pulses():
    with pytest.raises(InputError):
        device.Device(response.softbounds(), sigma_c=0.1)
    dev = device.Device(response.softbounds(), dw_min=1e-3, sigma_c=0.1)
    with pytest.raises(InputError):
        device.pulse_update(dev, np.zeros(3), np.full(3, 1e-2), None)


@pytest.mark.parametrize("kwargs, param", [
    (dict(dw_min=0.0), "dw_min"), (dict(dw_min=-1.0), "dw_min"), (dict(max_bl=0, dw_min=1e-3), "max_bl"),
    (dict(rounding="up", dw_min=1e-3), "rounding"), (dict(sigma_c=-1.0, dw_min=1e-3), "sigma_c"),
])
def test_device_validation(kwargs, param):
    with pytest.raises(InputError) as exc:
        device.Device(response.softbounds(), **kwargs)
    assert exc.value.param == param


def test_same_seed_same_numbers_and_different_seed_differs():
    obj = objectives.ScalarQuadratic(1.0, 0.5, 0.3)
    dev = device.Device(response.power(gamma=0.5), dw_min=1e-3, sigma_c=0.2, rounding="stochastic")
    alg = algorithms.analog_sgd(0.01, dev)
    a = simulation.simulate(obj, alg, 300, 50, seed=7)
    b = simulation.simulate(obj, alg, 300, 50, seed=7)
    c = simulation.simulate(obj, alg, 300, 50, seed=8)
    assert np.array_equal(a.final_weights, b.final_weights)
    assert not np.array_equal(a.final_weights, c.final_weights)


def test_digital_sgd_is_unbiased_and_variance():
    obj = objectives.ScalarQuadratic(1.0, 0.5, 0.3)
    res = simulation.simulate(obj, algorithms.digital_sgd(0.01), 6000, 2000, seed=1, w0=0.5)
    assert abs(res.mean[0] - 0.5) < 4 * res.se[0]
    var = 0.01 ** 2 * 0.09 / (1 - 0.99 ** 2)
    assert res.variance[0] == pytest.approx(var, rel=0.05)


def test_least_squares_minibatch_gradient_is_unbiased():
    rng = np.random.default_rng(0)
    obj = objectives.LeastSquares.random(50, 4, rng, label_noise=0.1, batch_size=5)
    W = np.tile(rng.standard_normal(4), (20000, 1))
    g = obj.grad(W, np.random.default_rng(1))
    se = g.std(axis=0) / np.sqrt(len(g))
    assert np.all(np.abs(g.mean(axis=0) - obj.mean_grad(W[:1])[0]) < 5 * se)
    assert np.allclose(obj.mean_grad(obj.minimizer[None, :]), 0.0, atol=1e-10)


def test_least_squares_validation():
    with pytest.raises(InputError):
        objectives.LeastSquares(np.ones((3, 2)), np.array([1.0, np.nan, 0.0]))
    with pytest.raises(InputError):
        objectives.LeastSquares(np.ones((3, 2)), np.ones(3), batch_size=5)


def test_double_well_minima():
    obj = objectives.DoubleWell(k=4.0, a=0.5, t=0.05)
    mins = obj.local_minima()
    assert len(mins) == 2
    assert np.allclose(obj.mean_grad(mins), 0.0, atol=1e-12)


def test_vectorized_over_chains_and_coordinates():
    rng = np.random.default_rng(3)
    obj = objectives.LeastSquares.random(30, 6, rng, noise=0.1)
    res = simulation.simulate(obj, algorithms.analog_sgd(0.05, device.Device(response.softbounds(tau=2.0))),
                         200, 17, seed=0)
    assert res.final_weights.shape == (17, 6) and res.trajectory.shape == (201, 6)


def test_divergence_is_reported_not_silent():
    obj = objectives.ScalarQuadratic(1.0, 0.5, 0.1)
    with pytest.raises(InputError) as exc:
        simulation.simulate(obj, algorithms.digital_sgd(3.0), 2000, 4, seed=0)
    assert exc.value.param == "lr"
    with pytest.raises(InputError):
        obj.check_step(2.5)


@pytest.mark.parametrize("kw, param", [
    (dict(steps=0), "steps"), (dict(chains=0), "chains"), (dict(w0=np.nan), "w0"), (dict(burn_in=1.0), "burn_in"),
])
def test_simulation_validation(kw, param):
    args = dict(steps=10, chains=2, seed=0)
    args.update(kw)
    with pytest.raises(InputError) as exc:
        simulation.simulate(objectives.ScalarQuadratic(), algorithms.digital_sgd(0.1), **args)
    assert exc.value.param == param


def test_objective_validation():
    with pytest.raises(InputError):
        objectives.ScalarQuadratic(L=0.0)
    with pytest.raises(InputError):
        objectives.ScalarQuadratic(noise=-1.0)
    with pytest.raises(InputError):
        algorithms.analog_sgd(0.0, device.Device(response.softbounds()))


@pytest.mark.parametrize("resp", [
    response.softbounds(tau=0.7, sp=0.1), response.linear(tau=2.0, c=-0.3), response.power(tau=0.6, gamma=0.5),
    response.exponential(tau=1.2, gamma=3.0), response.linear(c=0.2).shifted(0.1).swapped(),
    response.from_expressions("1 - w/2 + 0.1*w^2", "1 + w/3", range=(-1, 1)),
], ids=["softbounds", "linear", "power", "exponential", "shifted-swapped", "custom"])
def test_hot_path_update_equals_branch_form(resp):
    rng = np.random.default_rng(5)
    w = rng.uniform(0.9 * resp.lo, 0.9 * resp.hi, 1000)
    dw = rng.uniform(-0.05, 0.05, 1000)
    assert np.allclose(device.Device(resp).update(w, dw), device.expected_update(resp, w, dw),
                       rtol=0, atol=1e-14)


@settings(max_examples=30, deadline=None)
@given(family=st.sampled_from(["power", "exponential"]), tau=st.floats(0.2, 3.0, allow_subnormal=False), gamma=st.floats(0.1, 3.0, allow_subnormal=False),
       shift=st.floats(-0.5, 0.5, allow_subnormal=False), swap=st.booleans(), seed=st.integers(0, 2**16))
def test_directed_evaluation_is_the_branch_the_step_takes(family, tau, gamma, shift, swap, seed):
    """The one-branch hot path (q+ for up steps, q- for down steps) equals evaluating both branches."""
    r = getattr(response, family)(tau=tau, gamma=gamma).shifted(shift)
    r = r.swapped() if swap else r
    rng = np.random.default_rng(seed)
    w = rng.uniform(r.lo, r.hi, 200)
    dw = rng.normal(0.0, 0.01, 200)
    dw[:3] = 0.0
    want = np.where(dw > 0, r.q_plus(w), r.q_minus(w))
    # the two evaluate 1 -+ w/tau in different orders: near a bound the difference of a few ulps of that
    # argument is amplified by its condition number gamma/(relative distance to the bound) (hypothesis found
    # w 2e-5 of the range below the bound, gamma 1/2: 5e-12 relative)
    dist = np.minimum(w - r.lo, r.hi - w) / (r.hi - r.lo)
    rel = 1e-12 + gamma * 1e-15 / np.maximum(dist, 1e-300)
    assert np.all(np.abs(r.q_directed(w, dw) - want)[3:] <= (rel * np.abs(want) + 1e-14)[3:])
    assert np.allclose(device.expected_update_fg(r, w, dw), device.expected_update(r, w, dw), rtol=1e-12, atol=1e-14)


def test_device_to_device_variation_scales_each_elements_steps():
    """q+_i = s+_i q+, q-_i = s-_i q-: in the expected update, pulse by pulse, and through pulse trains."""
    from aimc_theory.pulse_trains import PulseTrains, Rank1Batch, batch_update
    resp = response.softbounds(tau=1.0)
    up, down = np.array([[1.0, 2.0, 0.5]]), np.array([[1.0, 0.5, 1.5]])
    w = np.zeros((1, 3))
    dev = device.Device(resp, up_scale=up, down_scale=down)
    assert np.allclose(dev.update(w, np.full((1, 3), 0.01)), 0.01 * up * resp.q_plus(0.0))
    assert np.allclose(dev.update(w, np.full((1, 3), -0.01)), -0.01 * down * resp.q_minus(0.0))
    pulsed = device.Device(resp, dw_min=1e-3, up_scale=up, down_scale=down)
    want = w.copy()
    for _ in range(3):                                 # BL = 3 pulses, each dw_min s+_i q+(w)
        want = want + 1e-3 * up * resp.q_plus(want)
    assert np.allclose(pulsed.update(w, np.full((1, 3), 3e-3), None), want, rtol=1e-12)
    one = pulsed.pulse(w, np.ones((1, 3)), None)
    assert np.allclose(one, 1e-3 * up * resp.q_plus(0.0))
    # pulse trains: an ideal response counts the pulses; the mean step is lr |x d| times the element's scale
    ideal = response.from_expressions("1 + 0*w", "1 + 0*w", range=(-1e3, 1e3))
    chains = 4000
    tr = device.Device(ideal, dw_min=1e-3, trains=PulseTrains(desired_bl=31), up_scale=np.array([[2.0, 1.0]]),
                       down_scale=np.array([[1.0, 3.0]]))
    X = np.full((chains, 1, 2), 0.5)
    D = np.full((chains, 1, 1), -0.4)        # d x < 0: UP pulses on both elements
    W1 = batch_update(tr, np.zeros((chains, 2)), Rank1Batch(X, D), 0.05, np.random.default_rng(0))
    mean, se = W1.mean(axis=0), W1.std(axis=0) / np.sqrt(chains)
    assert np.all(np.abs(mean - 0.05 * 0.2 * np.array([2.0, 1.0])) <= 5 * se + 1e-12)
    with pytest.raises(InputError, match="up_scale"):
        device.Device(resp, up_scale=np.array([1.0, 0.0]))


# -- the optional compiled kernel ---------------------------------------------------------------

@pytest.mark.parametrize("resp, exact", [
    (response.softbounds(sp=-0.2), True), (response.linear(tau=1.0, c=0.3), True),
    (response.power(tau=0.8, gamma=0.5), True), (response.ideal(), True), (response.softbounds().shifted(0.1), True),
    (response.power(gamma=0.7), False), (response.exponential(gamma=2.0), False),
    (response.power(tau=0.8, gamma=1.0), True)])
@pytest.mark.parametrize("L", [1.0, 2.0])
def test_numba_kernel_equals_the_numpy_path(resp, exact, L):
    """Same generator, same order, same operations: the same bits (power with gamma not in {1/2, 1} and
    the exponential: NumPy's vectorized pow/expm1 may differ from libm in the last bit)."""
    pytest.importorskip("numba")
    obj = objectives.ScalarQuadratic(L, 0.5, 0.3)
    for dev in (device.Device(resp), device.Device(resp, offset=0.05)):
        alg = algorithms.analog_sgd(0.05, dev)
        a = simulation.simulate(obj, alg, 300, 200, 3, w0=0.5)
        b = simulation.simulate(obj, alg, 300, 200, 3, w0=0.5, backend="numba")
        if exact:
            assert np.array_equal(a.final_weights, b.final_weights) and a.mean == b.mean and a.se == b.se
        else:
            assert np.allclose(a.final_weights, b.final_weights, rtol=0, atol=1e-12)
        assert np.allclose(a.trajectory, b.trajectory, rtol=0, atol=1e-14)
    a = simulation.simulate(obj, algorithms.digital_sgd(0.05), 100, 50, 1, w0=0.5)
    b = simulation.simulate(obj, algorithms.digital_sgd(0.05), 100, 50, 1, w0=0.5, backend="numba")
    assert np.array_equal(a.final_weights, b.final_weights)


def test_numba_kernel_refuses_what_it_does_not_cover():
    obj = objectives.ScalarQuadratic(1.0, 0.5, 0.3)
    resp = response.softbounds()
    for alg, why in ((algorithms.analog_sgd(0.05, device.Device(resp, dw_min=1e-3)), "expected-update"),
                     (algorithms.analog_sgd(0.05, device.Device(response.from_expressions("1 - w", "1 + w"))), "families"),
                     (rl.residual_learning(0.05, 0.01, 0.1, device.Device(resp), device.Device(response.ideal())),
                      "analog-sgd and digital-sgd")):
        with pytest.raises(InputError, match=why):
            simulation.simulate(obj, alg, 10, 5, 0, backend="numba")
    with pytest.raises(InputError, match="backend"):
        simulation.simulate(obj, algorithms.digital_sgd(0.05), 10, 5, 0, backend="fortran")


def test_float32_option():
    """float32 weights and arithmetic (float64 averages): seeded bits, and the stationary mean agrees with
    float64's within 4 combined SE (another random stream)."""
    obj = objectives.ScalarQuadratic(1.0, 0.5, 0.3)
    alg = algorithms.analog_sgd(0.01, device.Device(response.softbounds(sp=-0.2)))
    a = simulation.simulate(obj, alg, 3000, 4000, 1, w0=0.5, dtype=np.float32)
    b = simulation.simulate(obj, alg, 3000, 4000, 1, w0=0.5, dtype=np.float32)
    c = simulation.simulate(obj, alg, 3000, 4000, 1, w0=0.5)
    assert a.final_weights.dtype == np.float32 and np.array_equal(a.final_weights, b.final_weights)
    assert abs(a.mean[0] - c.mean[0]) < 4 * np.hypot(a.se[0], c.se[0])
    with pytest.raises(InputError, match="dtype"):
        simulation.simulate(obj, alg, 10, 5, 0, dtype=np.int32)


def test_compiled_kernels_draw_from_the_generator_whose_words_they_get():
    """kernel_cache.generator_words: worked out once per bit generator (the same tuple again), its own for each
    Generator, so a kernel given them draws from that Generator (the one left where NumPy's draws leave it) and no
    other."""
    pytest.importorskip("numba")
    from aimc_theory.kernel_cache import generator_words
    from aimc_theory.kernels_random_jit import normal_fill
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    other = np.random.default_rng(5)
    assert generator_words(a) is generator_words(a) and generator_words(a) != generator_words(b)
    out = np.empty(300)
    normal_fill(generator_words(a), out)
    assert np.array_equal(out, b.standard_normal(300)) and a.random() == b.random()
    assert other.random() == np.random.default_rng(5).random()           # untouched


@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.Philox, np.random.MT19937, np.random.SFC64])
def test_compiled_normal_draws_are_numpys(bit_generator, monkeypatch):
    """objectives.standard_normal: the numbers of rng.standard_normal and the Generator's state after, on either side
    of the size from which it draws through numba (the gradient noise); NumPy's own draws without numba."""
    pytest.importorskip("numba")
    n = objectives.NORMAL_MIN_SIZE
    for shape in ((n - 1,), (n,), (4000, 10), (3, 5 * n)):
        a, b = np.random.Generator(bit_generator(11)), np.random.Generator(bit_generator(11))
        x, y = a.standard_normal(shape), objectives.standard_normal(b, shape)
        assert y.shape == x.shape and y.dtype == np.float64 and np.array_equal(x, y)
        assert a.random() == b.random()
    # the least-squares noise of a simulation: the same bits with the compiled draws off
    obj = objectives.LeastSquares(*[np.random.default_rng(3).standard_normal(s) for s in ((20, 10), (20,))], noise=0.3)
    run = lambda: simulation.simulate(obj, algorithms.analog_sgd(0.01, device.Device(response.softbounds())), 30, 1000,  # noqa: E731
                                      5, backend="numpy").final_params
    fast = run()
    monkeypatch.setattr(objectives, "NORMAL_MIN_SIZE", 10 ** 12)
    assert np.array_equal(fast, run())
