"""The compiled chain kernels (aimc_theory.kernels_chains) repeat the NumPy path bit for bit: every covered rule,
family and option, every field of the result (time averages, SEs, variances, final weights and states, the
trajectory, RIDER's QWindow); and what they do not cover runs NumPy under backend="exact"."""
from __future__ import annotations

import numpy as np
import pytest

from aimc_theory import algorithms, device, objectives, residual_learning as rl, response, simulation, tracking
from aimc_theory.errors import InputError

numba = pytest.importorskip("numba")
from aimc_theory import kernels_chains  # noqa: E402  (after the importorskip)

OBJ = objectives.ScalarQuadratic(1.0, 0.5, 0.3)

FAMILIES = {
    "softbounds": lambda: response.softbounds(tau=1.0, sp=-0.2),
    "linear": lambda: response.linear(tau=1.0, c=0.3),
    "power": lambda: response.power(tau=1.0, gamma=0.5),
    "power1": lambda: response.power(tau=0.8, gamma=1.0),
    "power07": lambda: response.power(tau=1.0, gamma=0.7),
    "exponential": lambda: response.exponential(tau=1.0, gamma=1.0),
    "ideal": lambda: response.ideal(),
}


def _residual(name, at=0.1):
    r = FAMILIES[name]()
    return r if name == "ideal" else r.shifted(at - r.symmetric_point)


def _same(a, b):
    """Every array of two results, bit for bit (NaN where NaN)."""
    for k in ("mean", "se", "variance", "variance_se", "final", "final_weights", "chain_means",
              "chain_second_moments", "trajectory", "final_params"):
        x, y = getattr(a, k), getattr(b, k)
        assert np.array_equal(x, y, equal_nan=True), k
    assert a.observables.keys() == b.observables.keys()
    for k in a.observables:
        assert np.array_equal(a.observables[k], b.observables[k], equal_nan=True), k
    sa, sb = a.final_state, b.final_state
    if sa is None:
        assert sb is None
        return
    for k, v in vars(sa).items():
        if isinstance(v, np.ndarray):
            assert np.array_equal(v, getattr(sb, k), equal_nan=True), k
        elif isinstance(v, np.random.Generator):     # E-RIDER's chopper: left where NumPy's run leaves it
            assert v.bit_generator.state == getattr(sb, k).bit_generator.state, k
        else:
            assert v == getattr(sb, k), k


def _both(alg_fn, steps=300, chains=37, seed=5, w0=0.5, record_every=7, burn_in=0.5, window=None, obj=OBJ):
    """The NumPy run and the compiled one (a fresh algorithm each: E-RIDER's chopper generator is in its state)."""
    out = []
    for backend in ("numpy", "exact"):
        obs = None if window is None else {"q": tracking.QWindow(steps, min(int(steps * burn_in), steps - 1),
                                                                  window[0], window[1])}
        res = simulation.simulate(obj, alg_fn(), steps, chains, seed, w0=w0, record_every=record_every,
                                  burn_in=burn_in, observables=obs, backend=backend)
        out.append((res, obs))
    return out


def test_numpy_math_is_found():
    """On this machine class (AVX-512) the compiled expm1/exp/pow/log1p are NumPy's own SVML routines; elsewhere
    the C library's where they give NumPy's bits (mode 0)."""
    mode = kernels_chains.numpy_math()
    assert mode in (0, 1)
    fns = kernels_chains._compile()
    x = np.random.default_rng(7).uniform(-3, 3, 1000)
    assert np.array_equal(fns.math_vec(x, 0.0, 0, mode), np.expm1(x))
    assert np.array_equal(fns.math_vec(np.abs(x), 0.7, 2, mode), np.power(np.abs(x), 0.7))


def test_pairwise_sum_is_numpys():
    fns = kernels_chains._compile()
    rng = np.random.default_rng(0)
    for n in list(range(1, 140)) + [255, 256, 257, 1000, 4001]:
        x = rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 3, n)
        assert fns.pairwise(x, 0, n) == np.add.reduce(x[:, None], axis=0)[0]


@pytest.mark.parametrize("fam", list(FAMILIES))
def test_analog_and_digital_sgd(fam):
    dev = device.Device(FAMILIES[fam]())
    (a, _), (b, _) = _both(lambda: algorithms.analog_sgd(0.05, dev))
    _same(a, b)
    (a, _), (b, _) = _both(lambda: algorithms.digital_sgd(0.05), steps=100)
    _same(a, b)


@pytest.mark.parametrize("fam_p, fam_w", [("softbounds", "ideal"), ("linear", "linear"), ("power", "power"),
                                          ("power1", "softbounds"), ("softbounds", "power1"),
                                          ("exponential", "exponential"), ("power07", "power07"), ("ideal", "linear")])
@pytest.mark.parametrize("read_noise, every, gamma", [(0.0, 1, 0.4), (0.1, 3, 0.0), (0.05, 1, 0.4), (0.0, 3, 0.4)])
def test_residual_learning_v1(fam_p, fam_w, read_noise, every, gamma):
    dev_p, dev_w = device.Device(_residual(fam_p, 0.05)), device.Device(FAMILIES[fam_w]())
    (a, _), (b, _) = _both(lambda: rl.residual_learning(0.05, 0.05, gamma, dev_p, dev_w, transfer_every=every,
                                                        read_noise=read_noise, p0=0.01))
    _same(a, b)


@pytest.mark.parametrize("fam", ["softbounds", "linear", "power", "ideal", "exponential", "power07", "power1",
                                 "shifted"])
@pytest.mark.parametrize("read_noise", [0.0, 0.1])
def test_residual_learning_v2(fam, read_noise):
    main = (lambda: response.softbounds(tau=1.0, sp=-0.2).shifted(0.1)) if fam == "shifted" else FAMILIES[fam]
    dev_p = device.Device(_residual(fam if fam not in ("ideal", "shifted") else "softbounds", 0.0))
    dev_w = device.Device(main())
    (a, _), (b, _) = _both(lambda: rl.residual_learning_v2(0.05, 0.05, 0.4, dev_p, dev_w, read_noise=read_noise,
                                                           dw_min=1e-3), steps=500)
    _same(a, b)
    assert np.any(a.final_state.total_pulses > 0)


@pytest.mark.parametrize("fam_p, main", [("softbounds", None), ("power", None), ("softbounds", 0.3),
                                         ("linear", -0.2), ("exponential", None), ("softbounds", "linear"),
                                         ("linear", "power")])
@pytest.mark.parametrize("chop", [0.0, 0.05])
def test_rider_and_erider_with_the_window(fam_p, main, chop):
    dev_p = device.Device(_residual(fam_p))
    dev_w = device.Device(response.ideal() if main is None else FAMILIES[main]() if isinstance(main, str)
                          else response.softbounds(sp=main))
    groups, chains = 2, 40
    q0 = np.repeat([0.0, 0.3], chains // groups)[:, None]
    w0 = np.repeat([0.5, -0.3], chains // groups)[:, None]
    (a, qa), (b, qb) = _both(lambda: tracking.rider(0.04, 0.02, 0.4, 0.04, dev_p, dev_w, chop_prob=chop, q0=q0,
                                                    chopper_seed=[22, 1]),
                             steps=400, chains=chains, w0=w0, burn_in=0.75, window=(9, groups))
    _same(a, b)
    assert np.array_equal(np.array(qa["q"].traj), np.array(qb["q"].traj))
    assert np.array_equal(np.array(qa["q"].wtraj), np.array(qb["q"].wtraj))
    assert qa["q"].k == qb["q"].k
    if chop:
        assert np.any(a.final_state.flips > 0)


def test_the_kernel_runs_where_it_covers():
    """backend="exact" runs the compiled loop for a covered run (not a silent NumPy fall-back)."""
    dev = device.Device(_residual("softbounds"))
    alg = rl.residual_learning(0.05, 0.05, 0.4, dev, device.Device(response.ideal()))
    plan = kernels_chains.plan(OBJ, alg)
    assert plan["rule"] == kernels_chains.RL1
    calls = []
    orig = kernels_chains.run
    try:
        kernels_chains.run = lambda *a, **k: calls.append(1) or orig(*a, **k)
        simulation.simulate(OBJ, alg, 50, 10, 1, backend="exact")
    finally:
        kernels_chains.run = orig
    assert calls == [1]


@pytest.mark.parametrize("make, why", [
    (lambda: algorithms.analog_sgd(0.05, device.Device(response.softbounds(), dw_min=1e-3)), "expected-update"),
    (lambda: algorithms.analog_sgd(0.05, device.Device(response.softbounds(), offset=0.1)), "offsets"),
    (lambda: algorithms.analog_sgd(0.05, device.Device(response.softbounds(), up_scale=1.2)),
     "variation"),
    (lambda: algorithms.analog_sgd(0.05, device.Device(response.from_expressions("1 - w", "1 + w"))), "families"),
])
def test_what_it_does_not_cover_runs_numpy(make, why):
    with pytest.raises(InputError, match=why):
        kernels_chains.plan(OBJ, make())
    (a, _), (b, _) = _both(make, steps=60)          # "exact" falls back to NumPy: the same numbers
    _same(a, b)


def test_laplace_noise():
    obj = objectives.ScalarQuadratic(1.0, 0.5, 0.3, law="laplace")
    dev_p = device.Device(_residual("softbounds", 0.05))
    (a, _), (b, _) = _both(lambda: rl.residual_learning(0.05, 0.005, 0.4, dev_p, device.Device(response.ideal())),
                           obj=obj)
    _same(a, b)
    (a, _), (b, _) = _both(lambda: algorithms.analog_sgd(0.05, device.Device(FAMILIES["softbounds"]())), obj=obj)
    _same(a, b)


def test_not_covered_objectives_and_observables():
    alg = algorithms.analog_sgd(0.05, device.Device(response.softbounds()))
    with pytest.raises(InputError, match="scalar quadratic"):
        kernels_chains.plan(objectives.ScalarQuadratic(1.0, 0.5, 0.3, per_sample=True), alg)
    with pytest.raises(InputError, match="observables"):
        kernels_chains.plan(OBJ, alg, {"x": lambda w, s: w[:, 0]})
    with pytest.raises(InputError, match="backend"):
        simulation.simulate(OBJ, alg, 10, 5, 0, backend="fastest")


def test_divergence_is_the_same_error():
    alg = lambda: algorithms.digital_sgd(2.5)      # noqa: E731 -- lr L > 2 diverges
    msgs = []
    for backend in ("numpy", "exact"):
        with pytest.raises(InputError, match="diverged") as e:
            simulation.simulate(OBJ, alg(), 2000, 4, 0, backend=backend)
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1]


# -- zero-shifting ---------------------------------------------------------------------------------------------

from aimc_theory import calibration  # noqa: E402

ZS = {**{k: FAMILIES[k] for k in ("softbounds", "linear", "power", "power1", "power07", "exponential")},
      "f3": lambda: response.from_expressions("1 - w", "0.8*(1 + w/1.2)", name="f3-softbounds"),
      "shifted": lambda: response.softbounds(tau=1.0, sp=-0.2).shifted(0.3),
      "linear-shifted": lambda: response.linear(tau=1.0, c=0.3).shifted(0.2)}


def _zs_same(a, b):
    for k in ("w", "target", "window_sq", "mean_g_sq", "settled", "trajectory"):
        x, y = getattr(a, k), getattr(b, k)
        assert (x is None and y is None) or np.array_equal(x, y, equal_nan=True), k
    assert a.pulses == b.pulses


@pytest.mark.parametrize("fam", list(ZS))
@pytest.mark.parametrize("scheme, sigma, model", [("stochastic", 0.0, "additive"), ("cyclic", 0.0, "additive"),
                                                  ("stochastic", 0.3, "additive"), ("cyclic", 0.2, "multiplicative")])
def test_zero_shift_is_the_numpy_loop(fam, scheme, sigma, model):
    resp = ZS[fam]()
    dev = device.Device(resp, dw_min=1e-2, sigma_c=sigma)
    kw = dict(devices=23, seed=4, average_from=150, tolerance=0.02, record_every=7, record_devices=5,
              c2c_model=model)
    w0 = resp.symmetric_point + 0.1
    a = calibration.zero_shift(dev, w0, 400, scheme, **kw)
    b = calibration.zero_shift(dev, w0, 400, scheme, backend="exact", **kw)
    _zs_same(a, b)
    kernels_chains.zs_plan(dev, False)          # covered: the compiled loop ran


def test_zero_shift_draws_numpys_pcg64_numbers_in_the_kernel_across_chunks(monkeypatch):
    """The stochastic scheme without cycle noise steps NumPy's PCG64 inside the compiled loop (no array of uniforms
    drawn first): the same numbers, and the generator's state carried from one chunk to the next."""
    from aimc_theory import kernels_chains_jit
    seen = []
    loop = kernels_chains_jit.zs_loop
    monkeypatch.setattr(kernels_chains_jit, "zs_loop", lambda *a: seen.append(a[-1]) or loop(*a))
    monkeypatch.setattr(kernels_chains, "CHUNK", 23 * 37)          # 37 pulses a call: 11 calls
    dev = device.Device(response.power(tau=1.0, gamma=0.5), dw_min=1e-2)
    for devices in (23, 3):                                          # four lanes and a tail; fewer than four
        kw = dict(devices=devices, seed=5, average_from=100, tolerance=0.02, record_every=9)
        a = calibration.zero_shift(dev, 0.3, 400, "stochastic", **kw)
        b = calibration.zero_shift(dev, 0.3, 400, "stochastic", backend="exact", **kw)
        _zs_same(a, b)
    assert seen and all(seen)


def test_zero_shift_with_variation_and_one_device():
    resp = response.softbounds(tau=1.0, sp=0.12)
    var = calibration.Variation(gain=0.3, imbalance=0.1)
    for kw in (dict(devices=50, variation=var, seed=18), dict(devices=1, record_every=1, record_devices=1)):
        a = calibration.zero_shift(device.Device(resp, dw_min=1e-3), 0.5, 3001, "cyclic", **kw)
        b = calibration.zero_shift(device.Device(resp, dw_min=1e-3), 0.5, 3001, "cyclic", backend="exact", **kw)
        _zs_same(a, b)


def test_zero_shift_not_covered_runs_numpy():
    for resp in (response.from_expressions("1 - w**2/2", "1 + w"),
                 response.softbounds(tau=1.0, sp=0.1).scaled_up(1.1)):
        dev = device.Device(resp, dw_min=1e-2)
        with pytest.raises(InputError):
            kernels_chains.zs_plan(dev, False)
        a = calibration.zero_shift(dev, 0.1, 200, "stochastic", devices=5)
        b = calibration.zero_shift(dev, 0.1, 200, "stochastic", devices=5, backend="exact")
        _zs_same(a, b)
    with pytest.raises(InputError, match="backend"):
        calibration.zero_shift(device.Device(response.softbounds(), dw_min=1e-2), 0.1, 10, backend="fortran")


# -- alternating pulses (presets) -------------------------------------------------------------------------------

from aimc_theory import presets  # noqa: E402
from aimc_theory.variation import Population  # noqa: E402


@pytest.mark.parametrize("name", ["capacitor", "ecram", "ecram-mo", "reram-sb", "idealized", "reram-es", "pcm"])
def test_alternating_pulses_are_the_numpy_loop(name):
    """presets.pulse_devices on a drawn population (own step scales, shapes, bounds and offsets): the compiled
    loop gives the NumPy loop's bits (reram-es and pcm: exponential steps, with NumPy's exp)."""
    p = presets.get(name)
    pop = presets.variation(p).population(40, np.random.default_rng([27, 0xD2D]))
    for pulses in (1001, 0, 1, 2):      # the compiled loop pulses all devices at once: the last states kept right
        a = presets.pulse_devices(p, pop, pulses)
        b = presets.pulse_devices(p, pop, pulses, backend="exact")
        assert all(np.array_equal(x, y) for x, y in zip(a, b)), pulses
    dev = pop.device(device.Device(p.response(), dw_min=p.dw_min))
    q = kernels_chains.alternate_setup(dev, 40)[1]       # covered: the compiled loop ran
    assert q.size == (4 if p.response().affine is not None else 8)
    one = device.Device(p.response(), dw_min=p.dw_min)
    w, out = np.array([0.3]), []
    for _ in range(50):
        w = one.pulse(one.pulse(w, np.array([1.0]), None), np.array([-1.0]), None)
        out.append(w[0])
    assert np.array_equal(kernels_chains.alternate_pairs(one, 0.3, 50), np.array(out))


def test_alternating_pulses_refuse_an_exponential_form_that_is_not_numpys():
    """Response.exp_form is used only after its compiled form gave q+ and q-'s bits on a grid: a wrong form (one
    coefficient a float64 step off) is refused (the NumPy loop runs), a user's expression has none."""
    import dataclasses
    p = presets.get("pcm")
    resp = p.response()
    form = list(resp.exp_form)
    form[0] = np.nextafter(form[0], 0.0)
    bad = dataclasses.replace(resp, exp_form=tuple(form))
    with pytest.raises(InputError, match="bits"):
        kernels_chains.alternate_setup(device.Device(bad, dw_min=p.dw_min), 4)
    user = response.from_expressions(p.q_plus, p.q_minus, range=(p.w_min, p.w_max))
    assert user.exp_form is None
    with pytest.raises(InputError, match="exponential-step"):
        kernels_chains.alternate_setup(device.Device(user, dw_min=p.dw_min), 4)
    short = dataclasses.replace(resp, exp_form=tuple(resp.exp_form[:4]))          # a form of the wrong length
    with pytest.raises(InputError, match="eight finite numbers"):
        kernels_chains.alternate_setup(device.Device(short, dw_min=p.dw_min), 4)
    w = np.linspace(p.w_min, p.w_max, 5)
    a = presets.pulse_devices(p, Population(np.ones(5), np.ones(5)), 301, w0=w)
    b = presets.pulse_devices(p, Population(np.ones(5), np.ones(5)), 301, w0=w, backend="exact")
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


# -- full-batch least squares --------------------------------------------------------------------------------

def _ls(law="gaussian", d=10, noise=0.3):
    rng = np.random.default_rng(9)
    A = rng.standard_normal((100, d))
    return objectives.LeastSquares(A, A @ np.clip(0.25 * rng.standard_normal(d), -0.5, 0.5), noise=noise, law=law)


@pytest.mark.parametrize("law", ["gaussian", "laplace"])
@pytest.mark.parametrize("rule", ["asgd", "rl", "rider", "e-rider"])
def test_least_squares(law, rule):
    obj = _ls(law)
    dev = device.Device(_residual("softbounds"))
    make = {"asgd": lambda: algorithms.analog_sgd(0.05, device.Device(FAMILIES["power"]())),
            "rl": lambda: rl.residual_learning(0.05, 0.025, 0.4, dev, device.Device(response.ideal())),
            "rider": lambda: tracking.rider(0.04, 0.005, 0.4, 0.01, dev, device.Device(response.ideal()), q0=0.3),
            "e-rider": lambda: tracking.rider(0.04, 0.005, 0.4, 0.01, dev, device.Device(response.softbounds(sp=0.3)),
                                              chop_prob=0.05, chopper_seed=[3, 1])}[rule]
    kernels_chains.plan(obj, make(), None, 50)            # covered: the compiled loop runs
    (a, _), (b, _) = _both(make, steps=200, chains=50, w0=obj.minimizer, obj=obj)
    _same(a, b)


def test_least_squares_products_are_checked():
    """Where the compiled products would not give BLAS's bits (here D = 50: OpenBLAS splits the sum), the plan is
    refused and backend="exact" runs NumPy."""
    obj = _ls(d=50)
    make = lambda: algorithms.analog_sgd(0.02, device.Device(FAMILIES["softbounds"]()))     # noqa: E731
    try:
        kernels_chains.plan(obj, make(), None, 8)
    except InputError as e:
        assert "bits" in str(e)
    (a, _), (b, _) = _both(make, steps=50, chains=8, w0=obj.minimizer, obj=obj)
    _same(a, b)
    with pytest.raises(InputError, match="chains"):
        kernels_chains.plan(_ls(), make())
    with pytest.raises(InputError, match="as fast"):              # large runs: NumPy's BLAS path
        kernels_chains.plan(_ls(), make(), None, kernels_chains.LS_MAX_ELEMENTS)


def test_trace_observable():
    """The Trace observable (every step's read-out per chain): the compiled run keeps the NumPy run's bits."""
    out = []
    for backend in ("numpy", "exact"):
        tr = kernels_chains.Trace()
        res = simulation.simulate(OBJ, algorithms.analog_sgd(0.05, device.Device(FAMILIES["exponential"]())), 300, 9,
                                  10, w0=0.4, observables={"rec": tr}, backend=backend)
        out.append((res, np.array(tr.seen)))
    _same(out[0][0], out[1][0])
    assert out[0][1].shape == (300, 9) and np.array_equal(out[0][1], out[1][1])


def test_the_schedule_names_tasks_of_the_catalogue():
    """verification.schedule's measured task seconds name tasks that exist (a renamed group would silently fall
    back to the default); the longest task is handed out first."""
    from verification import schedule
    from verification.catalogue import select
    tasks = {c.task for c in select(None, False, None)}
    assert set(schedule.TASK_SECONDS) <= tasks and set(schedule.FULL_TASK_SECONDS) <= tasks
    assert max(tasks, key=schedule.task_seconds) == max(schedule.TASK_SECONDS, key=schedule.TASK_SECONDS.get)
    # with --network (default budgets) the exponential response's network comparisons go first, then RIDER's runs
    network = {c.task for c in select(None, True, None)} - tasks
    assert all(any(t == k or t.startswith(k + ".") for t in network) for k in schedule.NETWORK_TASK_SECONDS)
    order = sorted(network | tasks, key=lambda t: -schedule.task_seconds(t, 1, fast=False))
    assert all(t.startswith("network.exponential.") for t in order[:3]) and order[3] == "rider"
    assert order.index("rider") < order.index("network.a")


def test_the_warm_up_reaches_each_half_and_is_skipped_without_numba(monkeypatch):
    """check's warm-up tasks (a cold numba cache): each half's tiny problems run and reach the kernels they are
    meant to compile (warm_up swallows errors, so a renamed API would silently stop warming), the halves are
    disjoint, and nothing is warmed where numba is missing."""
    from aimc_theory import kernels
    from verification import schedule
    first, second = schedule.warm_up_calls(0), schedule.warm_up_calls(1)
    assert all(fn.overloads for fn in first + second)       # compiled or loaded in this process
    assert not set(first) & set(second)
    assert schedule.warm_up(0) == [] and schedule.warm_up(1) == []
    monkeypatch.setattr(kernels, "available", lambda: False)
    assert schedule.warm_up_parts() == []


def test_every_cached_kernel_compiles_under_the_cross_process_lock():
    """aimc_theory.kernel_cache.lock_compiles wraps the compile of every cached kernel of the compiled modules
    (one process compiles, the others wait and load numba's cache)."""
    from numba.core.registry import CPUDispatcher
    from aimc_theory import (kernels_chains_jit, kernels_compose_jit, kernels_fire_jit, kernels_pulses_jit,
                             kernels_random_jit)
    for module in (kernels_chains_jit, kernels_compose_jit, kernels_pulses_jit, kernels_fire_jit, kernels_random_jit):
        cached = [f for f in vars(module).values() if isinstance(f, CPUDispatcher) and f._cache._cache_path]
        assert cached and all("_lock_compile" in f.compile.__qualname__ for f in cached), module.__name__


def test_a_kernel_compiled_again_while_it_compiles_does_not_wait_for_itself(tmp_path):
    """numba can compile a kernel again from inside that kernel's own compile (seen with pcg_c4 once it was a plain
    call: typing a call to it). flock is not re-entrant, so the second lock of the same file waited for the first
    forever; the process now knows the lock is its own."""
    import threading
    from types import SimpleNamespace
    from aimc_theory import kernel_cache
    calls = []

    def compile_(sig):
        calls.append(sig)
        if len(calls) == 1:
            fake.compile(("again",))         # re-entered, as numba does
        return sig

    fake = SimpleNamespace(compile=compile_, py_func=test_a_kernel_compiled_again_while_it_compiles_does_not_wait_for_itself,
                           _cache=SimpleNamespace(_cache_path=str(tmp_path)))
    kernel_cache._lock_compile(fake)
    done = []
    worker = threading.Thread(target=lambda: done.append(fake.compile(("first",))), daemon=True)
    worker.start()
    worker.join(20)
    assert done == [("first",)] and calls == [("first",), ("again",)]
    assert not kernel_cache._HELD                # released


def test_the_compile_lock_comes_after_numbas_own(tmp_path, monkeypatch):
    """The file lock of a kernel's compile is taken while this thread holds numba's compiler lock. Taken before it,
    two threads could deadlock: A holding a helper's file and waiting for numba's lock, B holding numba's lock (typing
    a caller) and waiting for the helper's file (another process had held it while both queued)."""
    import fcntl
    from types import SimpleNamespace
    from numba.core.compiler_lock import global_compiler_lock
    from aimc_theory import kernel_cache
    held = []
    flock = fcntl.flock
    monkeypatch.setattr(fcntl, "flock", lambda f, op: held.append(global_compiler_lock.is_locked()) or flock(f, op))
    fake = SimpleNamespace(compile=lambda sig: sig, py_func=test_the_compile_lock_comes_after_numbas_own,
                           _cache=SimpleNamespace(_cache_path=str(tmp_path)))
    kernel_cache._lock_compile(fake)
    assert not global_compiler_lock.is_locked()
    assert fake.compile(("x",)) == ("x",) and held == [True]


def test_no_kernel_is_inlined_by_numba():
    """The compiled modules call their helpers as plain numba functions (LLVM inlines them): numba's own
    inline="always" copied and re-typed a helper at every call site, 24 -> 17.5 s of CPU for a cold compile."""
    import ast
    from pathlib import Path
    import aimc_theory
    for path in Path(aimc_theory.__file__).parent.glob("kernels_*_jit.py"):
        inlined = [f.name for f in ast.walk(ast.parse(path.read_text())) if isinstance(f, ast.FunctionDef)
                   for d in f.decorator_list if isinstance(d, ast.Call) and any(k.arg == "inline" for k in d.keywords)]
        assert not inlined, (path.name, inlined)


def _int_or_bool(a) -> bool:
    """An integer or bool written out (numba types it as a literal; a float constant is a plain float64)."""
    import ast
    if isinstance(a, ast.UnaryOp):
        a = a.operand
    return isinstance(a, ast.Constant) and isinstance(a.value, (bool, int))


def _literal_arguments(sources: dict) -> tuple[set, list]:
    """The compiled functions of the modules ``sources`` (name -> source), and (module, caller, callee, argument) of
    every call from one to another with an argument numba types as a literal: an integer or bool written out, or a
    name bound once to one (in the caller, or at module level and not rebound in the caller), positional or keyword."""
    import ast
    from collections import Counter
    trees = {name: ast.parse(src) for name, src in sources.items()}
    jitted = {f.name for t in trees.values() for f in ast.walk(t) if isinstance(f, ast.FunctionDef)
              and any("njit" in ast.unparse(d) for d in f.decorator_list)}

    def bound_once(statements, stored):
        return {s.targets[0].id for s in statements if isinstance(s, ast.Assign) and len(s.targets) == 1
                and isinstance(s.targets[0], ast.Name) and _int_or_bool(s.value) and stored[s.targets[0].id] == 1}

    found = []
    for name, tree in trees.items():
        top = Counter(t.id for s in tree.body if isinstance(s, (ast.Assign, ast.AugAssign, ast.AnnAssign))
                      for t in ast.walk(s) if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store))
        module_consts = bound_once(tree.body, top)
        for f in ast.walk(tree):
            if not (isinstance(f, ast.FunctionDef) and f.name in jitted):
                continue
            stored = Counter(n.id for n in ast.walk(f) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
            stored.update(a.arg for a in f.args.args + f.args.kwonlyargs)
            consts = bound_once(list(ast.walk(f)), stored) | {c for c in module_consts if c not in stored}
            for c in ast.walk(f):
                if isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id in jitted:
                    found += [(name, f.name, c.func.id, ast.unparse(a)) for a in c.args + [k.value for k in c.keywords]
                              if _int_or_bool(a) or (isinstance(a, ast.Name) and a.id in consts)]
    return jitted, found


def test_no_kernel_is_compiled_for_a_literal_argument():
    """A compiled function that passes a constant to another (pairwise(R, 0, n), qpm(w, True, d)) made numba
    compile the callee again for the constant's literal type: pairwise, _block, qpm (three times), alt_pulse and
    np_expm1_array twice in a cold check --fast. The kernels pass typed constants (np.int64(0), np.bool_(True)).
    The scan itself is checked on a module with every form it must find (written out, keyword, a local or a global
    bound once) and the forms numba types as int64 (np.int64(0), a rebound local, a parameter)."""
    from pathlib import Path
    import aimc_theory
    sources = {p.name: p.read_text() for p in sorted(Path(aimc_theory.__file__).parent.glob("kernels_*_jit.py"))}
    jitted, found = _literal_arguments(sources)
    assert {"pairwise", "qpm", "alt_pulse", "np_expm1_array"} <= jitted
    assert not found, found
    probe = """
K = 2
M = 1
M += 1

@njit(cache=True)
def callee(a, lo, n=1):
    return a[lo]

@njit
def caller(a, n, K2=3):
    z = 0
    i = 0
    i += 1
    return (callee(a, 0, n) + callee(a, -1) + callee(a, lo=True) + callee(a, z, n) + callee(a, K, n)
            + callee(a, np.int64(0), n) + callee(a, i, n) + callee(a, n) + callee(a, M) + callee(a, K2) + other(a, 0))
"""
    _, hits = _literal_arguments({"probe": probe})
    assert sorted(h[3] for h in hits) == sorted(["0", "-1", "True", "z", "K"]), hits


def test_a_new_process_loads_the_pulse_by_pulse_kernels_from_the_cache():
    """The pulse-by-pulse kernels (kernels.pulse_batch, pulse_transfer) are module-level: a second process loads
    what the first compiled. Compiled in a closure, they were compiled anew in every process (numba keys a
    closure's cache entry by its cells), ~2.5 s of CPU in each worker that wrote pulses."""
    import subprocess
    import sys
    code = """
import numpy as np
from aimc_theory import device, kernels, response
from aimc_theory.pulse_trains import PulseTrains
from aimc_theory.kernels_fire_jit import batch, transfer
dev = device.Device(response.power(tau=0.6, gamma=0.5), dw_min=1e-3, sigma_c=0.3, trains=PulseTrains(desired_bl=31))
rng = np.random.default_rng(1)
V = rng.standard_normal((1, 4, 5))
kernels.pulse_transfer(dev, np.zeros((1, 4, 5)), V, np.array([0]), np.array([0]), np.array([0]),
                       np.ones((1, 1), bool), np.ones((1, 5)), rng)
kernels.pulse_batch(dev, np.zeros((1, 4, 5)), np.ones((1, 2, 5)), np.ones((1, 2, 4)), np.ones((1, 2)),
                    np.ones((1, 2)), np.ones((1, 2), np.int64), rng.random((2, 1, 9)), rng)
print(len(batch.stats.cache_hits) + len(transfer.stats.cache_hits), len(batch.stats.cache_misses)
      + len(transfer.stats.cache_misses))
"""
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
            for _ in range(2)]
    assert runs[1] == ["2", "0"], runs          # the second process: two cache hits, nothing compiled


@pytest.mark.parametrize("name", ["capacitor", "reram-sb", "ecram", "reram-es", "pcm", "reram-array-om"])
@pytest.mark.parametrize("rule", ["sgd", "rl", "rl2"])
def test_device_to_device_variation(name, rule):
    """Chain i on device i of a preset's population (own step scales, shapes, bounds and offsets; reram-es and
    pcm: exponential steps, code 10; reram-array-om: offsets): the bits."""
    p = presets.get(name)
    chains = 30
    pop = presets.variation(p).population(chains, np.random.default_rng([27, 0xD2D]))
    dev = pop.device(device.Device(p.response()), (chains, 1))
    assert dev.reshaped
    make = {"sgd": lambda: algorithms.analog_sgd(0.05, dev),
            "rl": lambda: rl.residual_learning(0.05, 0.01, 0.4, dev, device.Device(response.ideal())),
            "rl2": lambda: rl.residual_learning_v2(0.05, 0.05, 0.4, dev, device.Device(response.softbounds()),
                                                   dw_min=1e-3)}[rule]
    code = 9 if p.response().affine is not None else 10
    assert kernels_chains.plan(OBJ, make(), None, chains)["p"][0] == code    # covered: the compiled loop runs
    (a, _), (b, _) = _both(make, steps=300, chains=chains)
    _same(a, b)


# -- Ctrl-C: the compiled loops keep the steps that ran -------------------------------------------------------------

import os  # noqa: E402
import signal  # noqa: E402


def _sigint_after(k):
    sent = []

    def progress(step, total, seconds):
        if step >= k and not sent and step < total:
            sent.append(step)
            os.kill(os.getpid(), signal.SIGINT)
    return progress, sent


@pytest.mark.parametrize("rule", ["asgd", "rider"])
def test_ctrl_c_keeps_the_finished_chunks(monkeypatch, rule):
    """SIGINT during a compiled run stops at the next chunk boundary: SimulationInterrupted whose partial is
    simulate(steps=done) bit for bit (NumPy's and the kernel's), the handler restored afterwards."""
    monkeypatch.setattr(kernels_chains, "CHUNK", 50 * 100)            # 100 steps per compiled call
    dev = device.Device(_residual("softbounds"))

    def run(steps, backend, progress=None):
        alg = algorithms.analog_sgd(0.05, dev) if rule == "asgd" else \
            tracking.rider(0.04, 0.005, 0.4, 0.01, dev, device.Device(response.ideal()), chop_prob=0.05)
        return simulation.simulate(OBJ, alg, steps, 50, 7, burn_in=0.0, record_every=10, progress=progress,
                                   backend=backend)

    progress, sent = _sigint_after(300)
    with pytest.raises(simulation.SimulationInterrupted) as exc:
        run(10_000, "exact", progress)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert exc.value.steps_done == sent[0] == 300
    part = exc.value.partial
    for short in (run(300, "exact"), run(300, "numpy")):
        for name in ("mean", "se", "variance", "variance_se", "final", "trajectory", "chain_means"):
            assert np.array_equal(getattr(part, name), getattr(short, name)), name


def test_zero_shift_ctrl_c_keeps_the_finished_chunks(monkeypatch):
    monkeypatch.setattr(kernels_chains, "CHUNK", 64 * 100)

    def run(pulses, backend, progress=None):
        return calibration.zero_shift(device.Device(response.softbounds(), dw_min=1e-3, sigma_c=0.3), 0.0, pulses,
                                      "stochastic", devices=64, seed=5, tolerance=0.01, average_from=0,
                                      record_every=10, progress=progress, backend=backend)

    progress, sent = _sigint_after(300)
    with pytest.raises(calibration.CalibrationInterrupted) as exc:
        run(1_000_000, "exact", progress)
    part = exc.value.partial
    assert exc.value.pulses_done == part.pulses == 300
    for short in (run(300, "exact"), run(300, "numpy")):
        _zs_same(part, short)


@pytest.mark.parametrize("read_noise", [0.0, 0.02])
def test_rl_v1_transfer_and_read_out_in_one_pass_same_bits(monkeypatch, read_noise):
    """Residual Learning's whole-matrix transfer and its read-out W + gamma P in one compiled pass (the expected-update
    network path) give the bits of write_matrix followed by mix, with and without read noise, over several steps;
    the read-out made by the update is what readout returns; a main array with an offset and gamma = 0 take the
    two calls. A caller that gives up W and the state (Rank1Batch.inplace, the network path) gets the same bits with
    W, P and the read-out's array written in place (gamma = 0 too; the offset device's W into a new array)."""
    from aimc_theory import update_models as um
    from aimc_theory.pulse_trains import Rank1Batch
    # looked up before the monkeypatch, so that its undo restores them whatever this worker ran before (with read
    # noise the update never looks up rl_step_inout; an absent key would be deleted again by the undo)
    assert all(um._kernel(k) is not None for k in ("transfer_mix", "transfer_mix_into", "rl_step_inout"))
    out, inp = 40, um.FUSED_MIN_SIZE // 40 + 1
    resp = response.power(tau=0.6, gamma=1.0)
    g = np.random.default_rng(5)
    factors = [(g.random((1, 10, inp)), 0.05 * g.standard_normal((1, 10, out))) for _ in range(4)]

    def run(main, gamma, in_place):
        alg = rl.residual_learning(0.05, 0.3, gamma, device.Device(resp), main, read_noise=read_noise)
        W = np.random.default_rng(1).uniform(-0.3, 0.3, (1, out * inp))
        state, rng, reads, same = alg.init(W), np.random.default_rng(2), [], []
        for X, D in factors:
            before = (W, state.P, state.mixed)
            W, state = alg.update(Rank1Batch(X, D, inplace=in_place), state, W, rng)
            same.append((W is before[0], state.P is before[1], state.mixed is before[2] and state.mixed is not None))
            reads.append(alg.readout(W, state).copy())
        return W, state, reads, same

    for main, gamma in ((device.Device(resp), 0.4), (device.Device(resp, offset=0.05), 0.4), (device.Device(resp), 0.0)):
        W, state, reads, same = run(main, gamma, False)
        assert (state.mixed is not None) == (main.offset == 0.0 and gamma != 0.0)
        assert not any(any(s) for s in same)
        Wi, state_i, reads_i, same_i = run(main, gamma, True)           # rl_step_inout, but with read noise
        fused = main.offset == 0.0
        assert all(s == (fused, True, gamma != 0.0 and k > 0) for k, s in enumerate(same_i))
        monkeypatch.setitem(um._FUSED, "rl_step_inout", None)            # the write of P, then transfer_mix_into
        Wj, state_j, reads_j, same_j = run(main, gamma, True)
        assert same_j == same_i
        monkeypatch.setitem(um._FUSED, "transfer_mix", None)             # the two calls
        W2, state2, reads2, _ = run(main, gamma, False)
        monkeypatch.undo()
        assert state2.mixed is None
        for w_, st_, rd_ in ((W2, state2, reads2), (Wi, state_i, reads_i), (Wj, state_j, reads_j)):
            assert np.array_equal(W, w_) and np.array_equal(state.P, st_.P)
            assert all(np.array_equal(a, b) for a, b in zip(reads, rd_))
        assert np.array_equal(reads[-1], um.mix(W, state.P, gamma) if gamma else W)
    assert all(um._FUSED.get(k) is not None for k in ("transfer_mix", "transfer_mix_into", "rl_step_inout"))


def test_rl_v1_whole_step_in_one_pass_same_bits(monkeypatch):
    """The network path's Residual Learning step in one pass (Device.write_and_transfer, rl_step_inout) gives the
    bits of the write of P followed by the transfer and read-out: P and W of different responses (each pass takes its
    own coefficients and bounds; with lr 3 and beta 2 both arrays reach their bounds), transfers every step and every
    other step, all columns or fewer (the pass runs only for a whole transfer), with read noise (never), gamma 0
    (never)."""
    from aimc_theory import update_models as um
    from aimc_theory.pulse_trains import Rank1Batch
    out, inp = 24, um.FUSED_MIN_SIZE // 24 + 3
    g = np.random.default_rng(17)
    factors = [(g.random((1, 10, inp)), g.standard_normal((1, 10, out))) for _ in range(5)]
    dev_p = device.Device(response.softbounds(tau=0.8, sp=-0.1))
    dev_w = device.Device(response.power(tau=0.6, gamma=1.0))
    calls = []
    kernel = um._kernel("rl_step_inout")
    assert kernel is not None
    monkeypatch.setitem(um._FUSED, "rl_step_inout", lambda *a: calls.append(1) or kernel(*a))

    def run(in_place, **kw):
        alg = rl.residual_learning(kw.pop("lr", 0.05), kw.pop("beta", 0.3), kw.pop("gamma", 0.4), dev_p, dev_w, **kw)
        W = np.random.default_rng(1).uniform(-0.59, 0.59, (1, out * inp))     # W's bounds: +-0.6
        state, rng, reads = alg.init(W), np.random.default_rng(2), []
        for X, D in factors:
            W, state = alg.update(Rank1Batch(X, D, inplace=in_place), state, W, rng)
            reads.append(alg.readout(W, state).copy())
        return W, state.P, reads

    for kw, fused_steps in (({}, 5), ({"lr": 3.0, "beta": 2.0}, 5), ({"transfer_every": 2}, 2), ({"columns_per_transfer": inp}, 5),
                            ({"columns_per_transfer": 3}, 0), ({"read_noise": 0.01}, 0), ({"gamma": 0.0}, 0)):
        calls.clear()
        W, P, reads = run(False, **dict(kw))
        assert not calls
        Wi, Pi, reads_i = run(True, **dict(kw))
        assert len(calls) == fused_steps, kw
        assert np.array_equal(W, Wi) and np.array_equal(P, Pi), kw
        assert all(np.array_equal(a, b) for a, b in zip(reads, reads_i)), kw
        if kw.get("lr") == 3.0:              # both arrays clip: each pass takes its own bounds
            assert np.isin(P, (dev_p.response.lo, dev_p.response.hi)).any()
            assert np.isin(W, (dev_w.response.lo, dev_w.response.hi)).any()


def test_a_device_subclass_gets_the_two_calls_not_the_one_pass_step(monkeypatch):
    """Device.write_and_transfer leaves a subclass that overrides the write or the transfer (cost.CountingDevice)
    to its own methods: the one-pass step would bypass them. The bits are the same either way."""
    from aimc_theory import cost, update_models as um
    from aimc_theory.pulse_trains import Rank1Batch
    out, inp = 24, um.FUSED_MIN_SIZE // 24 + 3
    g = np.random.default_rng(19)
    X, D = g.random((1, 10, inp)), g.standard_normal((1, 10, out))
    plain = device.Device(response.power(tau=0.6, gamma=1.0))
    calls = []
    step = um.rl_step_in_place
    monkeypatch.setattr(device, "rl_step_in_place", lambda *a: calls.append(1) or step(*a))
    results = []
    for dev in (plain, cost.counting(plain)):
        alg = rl.residual_learning(0.05, 0.3, 0.4, dev, dev)
        W = np.random.default_rng(1).uniform(-0.5, 0.5, (1, out * inp))
        state = alg.init(W)
        for _ in range(3):
            W, state = alg.update(Rank1Batch(X, D, inplace=True), state, W, None)
        results.append((W, state.P, alg.readout(W, state)))
        assert len(calls) == 3, len(calls)           # three steps of the plain device; none of the counting one
    assert all(np.array_equal(a, b) for a, b in zip(*results))


def test_remix_redoes_the_read_out_where_the_step_wrote():
    """update_models.remix redoes w + gamma p at the listed weights (repeats allowed) and in every row of the listed
    columns only: after a step that changed w and p only there, the buffer holds mix's bits everywhere; indices
    out of range, or a buffer that is w, are refused (False, nothing written)."""
    from aimc_theory import update_models as um
    g = np.random.default_rng(21)
    out, inp = 30, 70
    w, p = g.uniform(-0.5, 0.5, (1, out * inp)), g.uniform(-0.5, 0.5, (1, out * inp))
    buf = um.mix(w, p, 0.4, np.empty_like(w))
    elem, cols = g.integers(0, out * inp, 300), np.array([3, 69])
    elem = np.concatenate([elem, elem[:20]])                         # repeats
    p[0, elem] += g.standard_normal(elem.size) * 1e-3
    w.reshape(out, inp)[:, cols] += 1e-3
    assert um.remix(w, p, 0.4, buf, elem, cols, inp)
    assert np.array_equal(buf, w + 0.4 * p)
    keep = buf.copy()
    for e, c in ((np.array([out * inp]), cols), (elem, np.array([inp])), (np.array([-1]), cols)):
        assert not um.remix(w, p, 0.4, buf, e, c, inp)
    assert not um.remix(w, p, 0.4, w, elem, cols, inp)
    assert np.array_equal(buf, keep)


def test_pulse_trains_report_the_weights_they_wrote(monkeypatch):
    """A Rank1Batch with a ``touched`` list gets, from the compiled pulse-train write (numba backend), the flat
    indices of every weight the write changed (one entry per write; an empty one when nothing fired), or None
    where it may have written any (a small tile, counted densely); the written weights are those of a write without
    the list. One slot (BL 1) and several (BL 31)."""
    from aimc_theory import pulse_trains as pt
    from aimc_theory.pulse_trains import PulseTrains, Rank1Batch, batch_update
    monkeypatch.setattr(pt, "_BACKEND", "numba")
    g = np.random.default_rng(3)
    for bl, out, inp in ((31, 40, 300), (1, 40, 300), (31, 8, 30)):
        dev = device.Device(response.power(tau=0.6, gamma=1.0), dw_min=1e-3, sigma_c=0.3,
                            trains=PulseTrains(desired_bl=bl))
        dense = 10 * out * inp <= pt._DENSE_EVENTS
        reports = []
        for k in range(6):
            X = g.random((1, 10, inp)) * (g.random((1, 10, inp)) < 0.3)
            D = g.standard_normal((1, 10, out)) * (0.02 if k else 0.0)      # k = 0: nothing fires
            W = g.uniform(-0.3, 0.3, (1, out * inp))
            sink = []
            got = batch_update(dev, W.copy(), Rank1Batch(X, D, inplace=True, touched=sink), 0.1,
                               np.random.default_rng(k))
            plain = batch_update(dev, W.copy(), Rank1Batch(X, D, inplace=True), 0.1, np.random.default_rng(k))
            assert np.array_equal(got, plain) and len(sink) == 1
            reports.append(sink[0])
            changed = np.flatnonzero(got.reshape(-1) != W.reshape(-1))
            if sink[0] is not None:
                assert np.isin(changed, sink[0]).all() and (not dense or sink[0].size == 0), (bl, k)
            assert k or changed.size == 0 and sink[0] is not None and sink[0].size == 0
        if dense:
            assert any(r is None for r in reports)
        else:
            assert all(r is not None for r in reports) and any(r.size for r in reports)


def test_mix_into_a_buffer_same_bits():
    """Residual Learning's read-out into a reused buffer (mix(..., out)): the bits of w + gamma p for small arrays
    (NumPy) and large ones (the compiled pass); a buffer that overlaps w or p, or of another shape, is not used."""
    from aimc_theory import update_models as um
    g = np.random.default_rng(13)
    for n in (100, um.FUSED_MIN_SIZE + 1):
        w, p = g.standard_normal((1, n)), g.standard_normal((1, n)) * 1e-3
        buf = np.empty((1, n))
        got = um.mix(w, p, 0.4, buf)
        assert got is buf and np.array_equal(got, w + 0.4 * p)
        for bad in (w, p, np.zeros((1, n + 1)), np.zeros((1, n), np.float32)):
            keep = bad.copy()
            got = um.mix(w, p, 0.4, bad)
            assert got is not bad and np.array_equal(got, w + 0.4 * p) and np.array_equal(bad, keep)


def test_in_place_gradient_writes_same_bits():
    """An expected-update write of a rank-1 gradient that the caller gives up (Rank1Batch.inplace, the network path)
    writes W itself, with the bits of the write into a new array, for every coefficient pattern and bounds that
    clip; an offset device, an ideal response and a read-only W write a new array (the same bits)."""
    from aimc_theory import update_models as um
    from aimc_theory.pulse_trains import Rank1Batch
    g = np.random.default_rng(12)
    out, inp = 16, um.FUSED_MIN_SIZE // 16 + 5
    X, D = g.random((1, 10, inp)), g.standard_normal((1, 10, out))
    for dev in (device.Device(response.power(tau=0.6, gamma=1.0)), device.Device(response.softbounds(sp=-0.2)),
                device.Device(response.linear(tau=1.0, c=0.3)), device.Device(response.softbounds(), offset=0.05),
                device.Device(response.ideal())):
        for lr in (1e-3, 3.0):                           # 3.0: most elements hit the bounds
            W = g.uniform(-0.5, 0.5, (1, out * inp))
            fresh = dev.write_gradient(W.copy(), Rank1Batch(X, D), lr, None)
            for writable in (True, False):
                Wi = W.copy()
                Wi.flags.writeable = writable
                got = dev.write_gradient(Wi, Rank1Batch(X, D, inplace=True), lr, None)
                in_place = writable and dev.offset == 0.0 and dev.response.affine != (1.0, 0.0, 1.0, 0.0)
                assert (got is Wi) == in_place and np.array_equal(got, fresh)
                assert in_place or np.array_equal(Wi, W)


def test_fused_affine_expected_update_same_bits(monkeypatch):
    """The compiled one-pass affine expected update (large arrays: the network's rank-1 writes and transfers) gives
    the NumPy passes' bits, for every coefficient pattern (F and G constant or affine, g0 = 0, f1 = 0), steps that
    hit the bounds, zeros of both signs and non-finite steps; the scaled form (a transfer, lr * dw) too."""
    from aimc_theory import update_models as um
    rng = np.random.default_rng(11)
    n = um.FUSED_MIN_SIZE + 3
    for resp in (response.power(tau=0.6, gamma=1.0), response.softbounds(sp=-0.2), response.linear(tau=1.0, c=0.3),
                 response.aihwkit_softbounds(w_max=1.5, w_min=-1.0, up_down=0.3), response.softbounds().shifted(0.1)):
        w = rng.uniform(resp.lo, resp.hi, (2, n // 2 + 1))
        dw = rng.standard_normal(w.shape) * 10.0 ** rng.uniform(-6, 0, w.shape)     # large steps: the clip matters
        dw[0, :5] = (0.0, -0.0, np.inf, -np.inf, np.nan)
        with np.errstate(invalid="ignore"):
            fused = um.affine_expected_update(resp, w, dw.copy()), um.affine_expected_scaled(resp, w, dw, 0.37)
            monkeypatch.setattr(um, "FUSED_MIN_SIZE", 1 << 62)
            plain = um.affine_expected_update(resp, w, dw.copy()), um.affine_expected_scaled(resp, w, dw, 0.37)
        monkeypatch.setattr(um, "FUSED_MIN_SIZE", n)
        for a, b in zip(fused, plain):
            assert np.array_equal(a, b, equal_nan=True), resp.describe()
    # the in-out pass (out = dw: its own loop, which LLVM vectorizes) and the read-out w + gamma p ran compiled
    assert um._FUSED.get("affine_into_dw") is not None and um._FUSED.get("affine_inplace") is not None
    w, p = rng.standard_normal((1, n)), rng.standard_normal((1, n))
    p[0, :4] = (np.inf, -np.inf, np.nan, -0.0)
    with np.errstate(invalid="ignore"):
        mixed = um.mix(w, p, 0.4)
        monkeypatch.setattr(um, "FUSED_MIN_SIZE", 1 << 62)
        assert np.array_equal(mixed, um.mix(w, p, 0.4), equal_nan=True)
        assert np.array_equal(mixed, w + 0.4 * p, equal_nan=True)
    assert um._FUSED.get("mix_into") is not None
    monkeypatch.setattr(um, "FUSED_MIN_SIZE", n)
    # the power family at gamma 1/2 (P1 Table 8's devices) through expected_update_fg
    resp = response.power(tau=0.6, gamma=0.5)
    w = rng.uniform(resp.lo, resp.hi, (1, n))
    w[0, :3] = (resp.lo, resp.hi, -0.0)
    dw = rng.standard_normal(w.shape) * 10.0 ** rng.uniform(-6, 0, w.shape)
    dw[0, 3:8] = (0.0, -0.0, np.inf, -np.inf, np.nan)
    with np.errstate(invalid="ignore"):
        fused = um.expected_update_fg(resp, w, dw)
        monkeypatch.setattr(um, "FUSED_MIN_SIZE", 1 << 62)
        plain = um.expected_update_fg(resp, w, dw)
    assert np.array_equal(fused, plain, equal_nan=True)
    # the exponential family (P1 eq. 149, Table 8's other device): two compiled passes around NumPy's expm1
    for tau, gamma in ((0.6, 0.5), (0.8, 1.7), (2.5, 0.3)):
        resp = response.exponential(tau=tau, gamma=gamma)
        w = rng.uniform(resp.lo, resp.hi, (2, n // 2 + 1))
        w[0, :3] = (resp.lo, resp.hi, -0.0)
        dw = rng.standard_normal(w.shape) * 10.0 ** rng.uniform(-6, 0, w.shape)
        dw[0, 3:8] = (0.0, -0.0, np.inf, -np.inf, np.nan)
        monkeypatch.setattr(um, "FUSED_MIN_SIZE", n // 2)
        with np.errstate(invalid="ignore", over="ignore"):
            fused = um.expected_update_fg(resp, w, dw)
            monkeypatch.setattr(um, "FUSED_MIN_SIZE", 1 << 62)
            plain = um.expected_update_fg(resp, w, dw)
        assert np.array_equal(fused, plain, equal_nan=True), (tau, gamma)
    assert um._FUSED.get("exp_arg_into") is not None and um._exp_matches(resp)
    # a user's response merely named "exponential" (other expressions, the same parameter names) keeps its own bits
    impostor = response.from_expressions("exp(gamma*(1 - w/tau))", "exp(gamma*(1 + w/tau))",
                                         {"tau": 0.6, "gamma": 0.5}, range=(-0.6, 0.6), name="exponential")
    w = rng.uniform(-0.6, 0.6, (1, n))
    dw = rng.standard_normal(w.shape) * 1e-3
    monkeypatch.setattr(um, "FUSED_MIN_SIZE", n // 2)
    fused = um.expected_update_fg(impostor, w, dw)
    assert not um._exp_matches(impostor)
    monkeypatch.setattr(um, "FUSED_MIN_SIZE", 1 << 62)
    assert np.array_equal(fused, um.expected_update_fg(impostor, w, dw))


@pytest.mark.parametrize("resp", [response.exponential(tau=1.0, gamma=1.0), response.power(tau=1.0, gamma=0.7)])
def test_auto_runs_libm_families_with_the_numpy_paths_bits(resp):
    """backend="auto" sends Analog SGD on the exponential family and the power family at gamma not in {1/2, 1} to the
    chains loop (NumPy's own expm1/pow): the NumPy run's bits, every array (the numba kernel's libm calls differ from
    NumPy's in the last digit of some steps)."""
    make = lambda: algorithms.analog_sgd(0.05, device.Device(resp))  # noqa: E731
    a, b = (simulation.simulate(OBJ, make(), 300, 37, 5, w0=0.5, record_every=7, backend=be) for be in ("numpy", "auto"))
    _same(a, b)


def test_least_squares_of_the_fast_budget_run_compiled():
    """The fast budget's least-squares runs (500 chains x D = 10) are within the compiled loop's bound."""
    alg = algorithms.analog_sgd(0.02, device.Device(FAMILIES["softbounds"]()))
    kernels_chains.plan(_ls(), alg, None, 500)          # covered (an InputError otherwise)


@pytest.mark.parametrize("fam", ["softbounds", "linear", "power", "power1", "ideal", "shifted"])
def test_whole_array_writes_are_the_element_writes(fam):
    """eu_into (the loop's whole-array write, whose branches sit outside its loops so that it vectorizes) gives eu()'s
    bits element by element, also at the edges: steps of 0, -0, +-inf and NaN, weights at, beyond and NaN at the
    bounds; affine_loop gives affine()'s."""
    resp = (response.softbounds(tau=1.0, sp=-0.2).shifted(0.1) if fam == "shifted" else FAMILIES[fam]())
    code = kernels_chains.device_code(device.Device(resp), "test")
    fns = kernels_chains._compile()
    d = tuple(code)
    assert fns.vec_kind(d)
    w, dw = kernels_chains._grid(resp)
    lo, hi = (resp.lo, resp.hi) if np.isfinite(resp.lo) else (-2.0, 2.0)
    edge_w = np.array([lo, hi, lo - 0.5, hi + 0.5, 0.0, -0.0, np.nan, 0.3, 0.3, 0.3, 0.3, np.inf, -np.inf])
    edge_dw = np.array([-1e-3, 1e-3, 1e-3, -1e-3, 0.0, -0.0, 1e-3, np.inf, -np.inf, np.nan, 5.0, 1e-3, -1e-3])
    w, dw = np.concatenate([w, edge_w]), np.concatenate([dw, edge_dw])
    with np.errstate(all="ignore"):
        want = fns.eu_vec(w, dw, d)
        mine = w.copy()
        fns.eu_into(mine, dw, 1.0, d)
        assert np.array_equal(mine, want, equal_nan=True)
        mine = w.copy()
        fns.eu_into(mine, dw / 4.0, 4.0, d)                  # the step is formed inside: scale * g
        assert np.array_equal(mine, fns.eu_vec(w, 4.0 * (dw / 4.0), d), equal_nan=True)
        if code[11]:
            mine = w.copy()
            fns.affine_loop(mine, dw, 1.0, d)
            assert np.array_equal(mine, fns.affine_vec(w, dw, d), equal_nan=True)


def test_the_wide_vector_passes_give_each_elements_bits():
    """The elementwise passes that prefer 512-bit vectors (kernels_chains_jit.wide_vectors) give, element by element,
    the bits of the scalar operations (_affine_el, w + gamma p), also at the edges: steps of +-0, +-inf, NaN, weights
    at, beyond and NaN at the bounds, at every position of a 16-lane block and in the loop's remainder (one NaN per
    operation: which of two NaNs an operation returns is LLVM's choice at any vector width)."""
    from aimc_theory import kernels_chains_jit as kj
    rng = np.random.default_rng(3)
    edge_w = np.array([-0.6, 0.6, -1.1, 1.1, 0.0, -0.0, np.nan, 0.3, 0.3, 0.3, 0.3, np.inf, -np.inf])
    edge_dw = np.array([-1e-3, 1e-3, 1e-3, -1e-3, 0.0, -0.0, 1e-3, np.inf, -np.inf, np.nan, 5.0, 1e-3, -1e-3])
    n = 301                                      # not a multiple of any vector width: a remainder loop too
    w, p, dw = rng.uniform(-0.7, 0.7, n), rng.uniform(-0.7, 0.7, n), rng.normal(0, 0.05, n)
    idx = np.flatnonzero(rng.random(n) < 0.5)    # edges at about half the positions, random values between
    w[idx], dw[idx] = np.resize(edge_w, idx.size), np.resize(edge_dw, idx.size)
    p[idx] = np.resize(edge_w[::-1], idx.size)
    assert set(idx % 16) == set(range(16))
    cp, cw = (1.0, 0.3, -0.2, -1.5, -0.6, 0.6), (0.9, -0.1, 0.05, -1.2, -0.5, 0.55)
    beta, gamma, scale = 0.1, 0.4, -0.05

    def el(x, wi, c):
        return kj._affine_el(x, wi, *c)

    with np.errstate(all="ignore"):
        want_p = np.array([el(dw[i] * scale, p[i], cp) for i in range(n)])
        want_w = np.array([el(want_p[i] * beta, w[i], cw) for i in range(n)])
        want_m = want_w + gamma * want_p
        got = {}
        out = np.empty(n)
        kj.affine_inplace(p, dw, out, scale, *cp)
        got["affine_inplace"] = (out, want_p)
        a = dw.copy()
        kj.affine_into_dw(p, a, scale, *cp)
        got["affine_into_dw"] = (a, want_p)
        a = p.copy()
        kj.affine_into_w(a, dw, scale, *cp)
        got["affine_into_w"] = (a, want_p)
        out = np.empty(n)
        kj.mix_into(w, p, gamma, out)
        got["mix_into"] = (out, w + gamma * p)
        out, mixed = np.empty(n), np.empty(n)
        kj.transfer_mix(w, want_p, want_p, beta, gamma, *cw, out, mixed)
        got["transfer_mix"] = (np.concatenate([out, mixed]), np.concatenate([want_w, want_m]))
        a, mixed = w.copy(), np.empty(n)
        kj.transfer_mix_into(a, want_p, want_p, beta, gamma, *cw, mixed)
        got["transfer_mix_into"] = (np.concatenate([a, mixed]), np.concatenate([want_w, want_m]))
        a, b, d = p.copy(), w.copy(), dw * scale
        kj.rl_step_inout(a, d, b, beta, gamma, *cp, *cw)
        got["rl_step_inout"] = (np.concatenate([a, b, d]), np.concatenate([want_p, want_w, want_m]))
    for name, (mine, want) in got.items():
        assert np.array_equal(mine.view(np.int64), want.view(np.int64)), name


WIDE_PASSES = ("affine_inplace", "affine_into_dw", "affine_into_w", "mix_into", "transfer_mix", "transfer_mix_into",
               "rl_step_inout")


def test_wide_vectors_reaches_llvm():
    """wide_vectors puts its function attribute on the kernel that calls it (a probe compiled here; the network's
    elementwise passes call it first); where numba compiles for this host and the host has AVX-512, LLVM then
    vectorizes with 512-bit registers."""
    import inspect
    import re
    from numba import njit
    from numba.core import config
    from aimc_theory import kernels_chains_jit as kj
    for name in WIDE_PASSES:
        body = inspect.getsource(getattr(kj, name).py_func).split(":\n", 1)[1]
        assert [ln.strip() for ln in body.splitlines() if not ln.strip().startswith("#")][0] == "wide_vectors()", name

    @njit(cache=False)
    def probe(w, p, gamma, out):
        kj.wide_vectors()
        for i in range(w.size):
            out[i] = w[i] + gamma * p[i]

    x = np.arange(64.0)
    out = np.empty(64)
    probe(x, x, 0.5, out)
    assert np.array_equal(out, x + 0.5 * x)
    assert '"prefer-vector-width"="512"' in next(iter(probe.inspect_llvm().values()))
    import llvmlite.binding as llvm
    host_build = config.CPU_NAME is None and config.CPU_FEATURES is None        # else numba compiles for another CPU
    if host_build and "+avx512f" in llvm.get_host_cpu_features().flatten().split(","):
        assert re.search(r"%zmm", next(iter(probe.inspect_asm().values())))
