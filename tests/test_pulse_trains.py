"""Rank-1 pulse trains as the reference simulator applies them, the aihwkit step parameterization,
the Tiki-Taka column transfer and the p1-fig2 reproduction."""
import json
import math

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

from aimc_theory import algorithms, device, objectives, residual_learning as rl, response, simulation
from aimc_theory.cli import main
from aimc_theory.errors import InputError
from aimc_theory.pulse_trains import (PulseTrains, Rank1Batch, apply_counts, batch_update, column_transfer,
                                      sample_update)

DW = 1e-3


def ideal_trains(bl=31, um=True, ubl=True):
    # an ideal device (q = 1) turns every pulse into exactly +-dw_min: counts are read off the weights
    return device.Device(response.from_expressions("1 + 0*w", "1 + 0*w", range=(-1e3, 1e3)), dw_min=DW,
                         trains=PulseTrains(desired_bl=bl, update_management=um, bl_management=ubl))


@settings(max_examples=20, deadline=None)
@given(x=st.lists(st.floats(-1, 1, allow_subnormal=False).filter(lambda v: abs(v) > 0.05), min_size=3, max_size=3),
       d=st.lists(st.floats(-1, 1, allow_subnormal=False).filter(lambda v: abs(v) > 0.05), min_size=2, max_size=2),
       lr=st.floats(1e-3, 0.02, allow_subnormal=False))
@example(x=[1.0, 1.0, 1.0], d=[1.0, 0.99999], lr=0.001)     # every chain counts the same: empirical SE 0
def test_expected_coincidences_equal_the_sgd_step(x, d, lr):
    """E[#pulses at (i, j)] = lr |x_j d_i|/dw_min and the sign is that of -d_i x_j (nothing capped)."""
    x, d = np.array(x), np.array(d)
    k = lr * np.max(np.abs(x)) * np.max(np.abs(d)) / DW
    chains = 20000
    W0 = np.zeros((chains, 2, 3))
    W1 = sample_update(ideal_trains(bl=max(31, math.ceil(k))), W0, np.tile(x, (chains, 1)), np.tile(d, (chains, 1)),
                       lr, np.random.default_rng(0))
    counts = (W1 - W0) / DW
    want = -lr * np.outer(d, x) / DW
    # SE: the empirical one, but not below the binomial model's (BL = ceil(k) slots, each a coincidence with
    # probability |want|/BL): with a coincidence probability of 0.99999 all 20000 chains may count the same
    # and the empirical SE is 0
    bl_used = math.ceil(k * (1 - 1e-12))
    se_model = np.sqrt(np.abs(want) * np.clip(1 - np.abs(want) / bl_used, 0, None) / chains)
    mean, se = counts.mean(axis=0), np.maximum(counts.std(axis=0) / math.sqrt(chains), se_model)
    assert np.all(np.abs(mean - want) <= 5 * se + 1e-12)
    assert np.all(np.sign(counts[np.abs(counts) > 0]) == np.broadcast_to(np.sign(want), counts.shape)[np.abs(counts) > 0])


@settings(max_examples=20, deadline=None)
@given(scale=st.floats(1.0, 100.0, allow_subnormal=False), bl=st.integers(1, 12))
def test_at_most_bl_pulses_per_element_and_sample(scale, bl):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (500, 4))
    d = rng.uniform(-1, 1, (500, 3)) * scale
    W1 = sample_update(ideal_trains(bl=bl), np.zeros((500, 3, 4)), x, d, 0.01, rng)
    counts = np.abs(W1) / DW
    assert np.allclose(counts, np.rint(counts)) and counts.max() <= bl
    # update management when capped: the largest |x| column fires in every slot
    k = 0.01 * np.abs(x).max(axis=1) * np.abs(d).max(axis=1) / DW
    capped = k > bl
    jmax, imax = np.argmax(np.abs(x), axis=1), np.argmax(np.abs(d), axis=1)
    top = counts[np.arange(500), imax, jmax]
    assert np.all(top[capped] == bl)


def test_fixed_bl_without_management():
    """UM and UBLM off: BL = desired_bl and A = B = sqrt(lr/(dw BL)), still unbiased."""
    chains = 40000
    x, d = np.full((chains, 1), 0.5), np.full((chains, 1), -0.4)
    W1 = sample_update(ideal_trains(bl=10, um=False, ubl=False), np.zeros((chains, 1, 1)), x, d, 0.01,
                       np.random.default_rng(2))
    counts = W1[:, 0, 0] / DW
    assert counts.mean() == pytest.approx(0.01 * 0.2 / DW, abs=5 * counts.std() / math.sqrt(chains))
    assert counts.max() <= 10


def test_affine_closed_form_equals_pulse_by_pulse():
    rng = np.random.default_rng(3)
    resp = response.aihwkit_softbounds(w_max=1.5, w_min=-1.0, up_down=0.3)
    dev = device.Device(resp, dw_min=1e-2, trains=PulseTrains())
    W = rng.uniform(-0.9, 1.4, (200, 5))
    n = rng.integers(0, 40, W.shape)
    down = rng.random(W.shape) < 0.5
    fast = apply_counts(dev, W.copy(), n, down, rng)
    slow = device.pulse_update(device.Device(resp, dw_min=1e-2), W.copy(), np.where(down, -1.0, 1.0), None, bl=n)
    assert np.allclose(fast, slow, atol=1e-12)


def test_column_transfer_moves_only_the_chosen_columns_by_lr_v():
    chains = 20000
    rng = np.random.default_rng(4)
    V = np.broadcast_to(np.array([[0.0213, -0.0547, 0.03, 0.0]]), (chains, 1, 4)).copy()   # k not integer
    W1 = column_transfer(ideal_trains(), np.zeros((chains, 1, 4)), V, 0.5, np.array([0, 1, 3]), rng)
    mean = W1.mean(axis=0)[0]
    se = W1.std(axis=0)[0] / math.sqrt(chains)
    assert np.all(np.abs(mean[[0, 1, 3]] - 0.5 * V[0, 0, [0, 1, 3]]) <= 5 * se[[0, 1, 3]] + 1e-12)
    assert np.all(W1[:, 0, 2] == 0.0)             # column 2 is not transferred


def test_rank1_batch_dense_is_the_gradient():
    rng = np.random.default_rng(5)
    A = rng.standard_normal((30, 4))
    obj = objectives.LeastSquares(A, A @ rng.standard_normal(4), per_sample=True)
    W = rng.standard_normal((3, 4))
    g = obj.grad(W, rng)
    assert isinstance(g, Rank1Batch) and np.allclose(g.dense(), obj.mean_grad(W))
    assert np.allclose((g * np.array([[2.0], [1.0], [-1.0]])).dense(), obj.mean_grad(W) * np.array([[2.0], [1.0], [-1.0]]))
    with pytest.raises(InputError):
        objectives.LeastSquares(A, A[:, 0], noise=0.1, per_sample=True)


def test_rank1_batch_dense_into_a_buffer_gives_the_same_bits():
    """Rank1Batch.dense(scale, out) writes the product into a caller's array (the network path's last read-out) with
    the bits of a fresh product, shared and per-chain inputs, the network's shapes; a wrong buffer is refused."""
    rng = np.random.default_rng(8)
    for chains, inp, out, shared in ((1, 784, 256, False), (1, 256, 128, False), (1, 128, 10, False), (3, 7, 5, True)):
        X = rng.random((1 if shared else chains, 10, inp))
        batch = Rank1Batch(X, rng.standard_normal((chains, 10, out)))
        buf = np.full((chains, out * inp), np.nan)
        assert batch.dense(-0.05, buf) is buf and np.array_equal(buf, batch.dense(-0.05))
        assert np.array_equal(batch.dense(1.0, buf), batch.dense())
    for bad in (np.empty((1, 34)), np.empty((3, 35), dtype=np.float32), np.empty((35, 3)).T, [0.0] * 35):
        with pytest.raises(ValueError, match="out must be"):
            batch.dense(1.0, bad)


def test_per_sample_analog_sgd_converges_without_asymmetry():
    rng = np.random.default_rng(6)
    A = rng.standard_normal((40, 5))
    w_star = 0.3 * rng.standard_normal(5)
    obj = objectives.LeastSquares(A, A @ w_star, per_sample=True)
    dev = device.Device(response.aihwkit_softbounds(w_max=2, w_min=-2), dw_min=1e-4, trains=PulseTrains(desired_bl=8))
    res = simulation.simulate(obj, algorithms.analog_sgd(0.5, dev), 600, 4, 0, w0=0.0)
    assert np.max(np.abs(res.final - w_star)) < 0.02


def test_aihwkit_step_parameterization():
    r = response.aihwkit_softbounds(w_max=3.5, w_min=-3.5, up_down=0.2)
    assert r.symmetric_point == pytest.approx(3.5 * 0.2 / 1.8)
    assert r.q_plus(0.0) == 1.0 and r.q_minus(0.0) == pytest.approx(0.8)      # one-sided: the down step shrinks
    r = response.aihwkit_softbounds(up_down=-0.2)
    assert r.q_plus(0.0) == pytest.approx(0.8) and r.q_minus(0.0) == 1.0
    r = response.aihwkit_linearstep(gamma_up=0.5, gamma_down=0.5, up_down=0.1)
    assert r.symmetric_point == pytest.approx(0.1053, abs=1e-4)                # devices.md's verified value
    with pytest.raises(InputError, match="up_down"):
        response.aihwkit_softbounds(up_down=1.0)
    with pytest.raises(InputError, match="w_min"):
        response.aihwkit_softbounds(w_min=0.5)


def test_rl_v2_writes_through_the_main_device():
    """Cycle-to-cycle noise of the main array now reaches RL v2's threshold pulses."""
    resp = response.softbounds()
    dev_w = device.Device(resp, dw_min=1e-3, sigma_c=0.5)
    alg = rl.residual_learning_v2(0.01, 0.5, 0.0, device.Device(resp), dev_w, dw_min=1e-3, p0=0.2)
    obj = objectives.ScalarQuadratic(1.0, 0.5, 0.0)
    rng = np.random.default_rng(7)
    W = np.zeros((1000, 1))
    state = alg.init(W)
    W1, state, info = alg.step(obj.grad(W, rng), state, W, rng)
    moved = W1[info.pulses != 0]
    assert moved.size > 0 and moved.std() > 1e-5          # noisy pulse sizes


def test_device_with_trains_needs_dw_min():
    with pytest.raises(InputError, match="dw_min"):
        device.Device(response.softbounds(), trains=PulseTrains())


def test_reproduce_command(capsys):
    code = main(["reproduce", "p1-fig2", "--steps", "15", "--seeds", "2", "--json", "--out", "/tmp/aimc_rep"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["model"] == "aihwkit" and data["steps"] == 15 and data["seeds"] == 2
    assert data["up_down"] == [0.0, 0.1, 0.2, 0.3] and len(data["analog_sgd"]) == len(data["tiki_taka"]) == 4
    assert data["symmetric_point"][3] == pytest.approx(3.5 * 0.3 / 1.7)
    code = main(["reproduce", "p9-fig1"])
    assert code == 2


def test_simulate_with_pulse_trains(capsys):
    args = ["simulate", "--algorithm", "analog-sgd", "--response", "aihwkit-softbounds", "-p", "up_down=0.3",
            "--pulses", "--dw-min", "1e-3", "--desired-bl", "31", "--steps", "300", "--chains", "50", "--json"]
    code = main(args)
    first = json.loads(capsys.readouterr().out)
    assert code == 0 and main(args) == 0
    assert json.loads(capsys.readouterr().out)["mean"] == first["mean"]          # seeded, reproducible
    assert main(["simulate", "--desired-bl", "8"]) == 2


def test_transfer_reads_k_columns_with_a_cyclic_pointer():
    rng = np.random.default_rng(8)
    A = rng.standard_normal((20, 4))
    obj = objectives.LeastSquares(A, A @ np.array([0.3, -0.2, 0.1, 0.4]), per_sample=True)
    dev = device.Device(response.aihwkit_softbounds(w_max=2, w_min=-2), dw_min=1e-4, trains=PulseTrains(desired_bl=8))
    alg = rl.residual_learning(0.5, 0.5, 0.4, dev, dev, columns_per_transfer=1)
    W = np.zeros((2, 4))
    state = alg.init(W)
    W1, state = alg.update(obj.grad(alg.readout(W, state), rng), state, W, rng)
    assert state.pointer == 1 and np.all(W1[:, 1:] == 0.0)           # only column 0 was written
    W2, state = alg.update(obj.grad(alg.readout(W1, state), rng), state, W1, rng)
    assert state.pointer == 2 and np.all(W2[:, 2:] == 0.0) and np.array_equal(W2[:, 0], W1[:, 0])


@pytest.mark.parametrize("dev_kw", [dict(), dict(dw_min=1e-3, rounding="stochastic"),
                                    dict(dw_min=1e-3, trains=PulseTrains(desired_bl=31))])
def test_device_offset_equals_a_shifted_response(dev_kw):
    """offset d on a device == the same device with its response moved by d (same random draws)."""
    resp = response.aihwkit_softbounds(w_max=1.0, w_min=-1.0, up_down=0.2)
    d = np.array([[0.1, -0.2, 0.3]])
    rng_a = np.random.default_rng(9)
    w = np.array([[0.05, 0.1, 0.2]] * 4)
    g = Rank1Batch(np.ones((1, 1, 1)), np.full((4, 1, 1), 0.01)) if "trains" in dev_kw else np.full((4, 3), 0.5)
    if "trains" in dev_kw:
        w, d = w[:, :1], d[:, :1]
    a = device.Device(resp, offset=d, **dev_kw).write_gradient(w, g, 0.1, rng_a)
    for k in range(d.shape[1]):     # element k of the shifted response
        b = device.Device(resp.shifted(float(d[0, k])), **dev_kw).write_gradient(w[:, k:k + 1], g if "trains" in dev_kw else g[:, k:k + 1], 0.1, np.random.default_rng(9))
        if d.shape[1] == 1 or "dw_min" not in dev_kw:
            assert np.allclose(a[:, k:k + 1], b, atol=1e-12)


def test_batch_is_applied_sample_by_sample():
    """A mini-batch of 3 samples on a nonlinear device has the distribution of three single-sample
    writes in a row (the batch draws all firings at once and applies them per element in sample order)."""
    chains = 20000
    rng = np.random.default_rng(7)
    resp = response.power(tau=0.5, gamma=0.5)
    dev = device.Device(resp, dw_min=2e-3, trains=PulseTrains(desired_bl=5))
    x = np.array([[0.9, -0.4, 0.2], [-0.7, 0.8, 0.1], [0.3, 0.3, -0.9]])
    d = np.array([[0.5, -0.2], [0.4, 0.6], [-0.8, 0.1]])
    W0 = np.full((chains, 2 * 3), 0.3)
    batch = Rank1Batch(np.broadcast_to(x, (chains, 3, 3)), np.broadcast_to(d, (chains, 3, 2)))
    W_batch = batch_update(dev, W0, batch, 0.05, rng)
    W_seq = W0.reshape(chains, 2, 3)
    for b in range(3):
        W_seq = sample_update(dev, W_seq, np.tile(x[b], (chains, 1)), np.tile(d[b], (chains, 1)), 0.05, rng)
    W_seq = W_seq.reshape(chains, -1)
    se = np.hypot(W_batch.std(axis=0), W_seq.std(axis=0)) / math.sqrt(chains)
    assert np.all(np.abs(W_batch.mean(axis=0) - W_seq.mean(axis=0)) <= 5 * se)
    assert np.allclose(W_batch.std(axis=0), W_seq.std(axis=0), rtol=0.05)
    assert np.abs(W_batch.mean(axis=0) - 0.3).max() > 10 * se.max()      # the writes did move the weights


@pytest.mark.parametrize("scaled", [False, True])
def test_composed_samples_equal_the_event_loop(monkeypatch, scaled):
    """Small tiles compose the samples' clipped affine maps (a tree over B); the same draws applied by the
    per-element event loop give the same weights to rounding, bounds hit included."""
    import aimc_theory.pulse_trains as pt
    rng = np.random.default_rng(3)
    C, B, out, inp = 4, 37, 3, 5
    resp = response.aihwkit_linearstep(w_max=0.2, w_min=-0.2, up_down=0.3, gamma_up=0.5, gamma_down=0.5)
    kw = dict(up_scale=rng.uniform(0.5, 1.5, (C, out * inp)), down_scale=rng.uniform(0.5, 1.5, (C, out * inp))) \
        if scaled else {}
    dev = device.Device(resp, dw_min=0.01, trains=PulseTrains(desired_bl=7), **kw)
    batch = Rank1Batch(rng.standard_normal((C, B, inp)), rng.standard_normal((C, B, out)))
    W0 = rng.uniform(-0.2, 0.2, (C, out * inp))
    W_dense = batch_update(dev, W0, batch, 0.5, np.random.default_rng(11))
    monkeypatch.setattr(pt, "_DENSE_LIMIT", 0)
    W_events = batch_update(dev, W0, batch, 0.5, np.random.default_rng(11))
    assert np.allclose(W_dense, W_events, rtol=0, atol=1e-12)
    assert np.isclose(W_events, 0.2).any() or np.isclose(W_events, -0.2).any()    # some element saturated
    assert np.abs(W_events - W0).max() > 0.05


# -- the vectorized paths against the simple ones (issue 19) ---------------------------------------------------

def _reference_batch(dev, W, X, D, lr, rng):
    """The simple semantics: sample by sample, slot by slot, Bernoulli firings of every row and column, every
    coincidence one pulse through device.pulse_update (pulse by pulse, cycle noise per pulse)."""
    import aimc_theory.pulse_trains as pt
    W = W.copy()
    C, nb, out = D.shape
    inp = X.shape[-1]
    x_m, d_m = np.abs(X).max(axis=-1), np.abs(D).max(axis=-1)
    A, B, bl = pt._scales(lr, x_m, d_m, dev.dw_min, dev.trains)
    for b in range(nb):
        n = np.zeros((C, out, inp), dtype=np.int64)
        for s in range(int(bl[:, b].max())):
            live = (bl[:, b] > s)[:, None]
            rows = (rng.random((C, out)) < np.clip(A[:, b, None] * np.abs(D[:, b]), 0, 1)) & live
            cols = (rng.random((C, inp)) < np.clip(B[:, b, None] * np.abs(X[:, b]), 0, 1)) & live
            n += rows[:, :, None] & cols[:, None, :]
        sign = np.where(D[:, b, :, None] * X[:, b, None, :] > 0, -1.0, 1.0).reshape(C, -1)
        W = device.pulse_update(device.Device(dev.response, dw_min=dev.dw_min, sigma_c=dev.sigma_c), W, sign, rng,
                                bl=n.reshape(C, -1))
    return W


def _same_law(a, b, k=5.0):
    """Per-element means within k SE and standard deviations within 6% (or both tiny)."""
    n = a.shape[0]
    se = np.hypot(a.std(axis=0), b.std(axis=0)) / math.sqrt(n)
    assert np.all(np.abs(a.mean(axis=0) - b.mean(axis=0)) <= k * se + 1e-12)
    sa, sb = a.std(axis=0), b.std(axis=0)
    assert np.all((np.abs(sa - sb) <= 0.06 * np.maximum(sa, sb)) | (np.maximum(sa, sb) < 1e-9))


@pytest.mark.parametrize("path", ["pairs", "padded", "dense", "nonaffine"])
def test_vectorized_batch_has_the_law_of_the_simple_loop(monkeypatch, path):
    """Every path of batch_update (one slot: fired rows x fired columns; several slots: counts over the
    firing rows and columns; small tiles: the whole tile sample by sample; a non-affine response: pulse by
    pulse) gives the distribution of the simple loop, cycle noise and a saturating bound included."""
    import aimc_theory.pulse_trains as pt
    chains = 6000
    rng = np.random.default_rng(12)
    resp = response.power(tau=0.3, gamma=0.5 if path == "nonaffine" else 1.0)
    bl = 1 if path == "pairs" else 6
    dev = device.Device(resp, dw_min=0.01, sigma_c=0.4, trains=PulseTrains(desired_bl=bl))
    x = np.array([[0.9, -0.4, 0.2, 0.7], [-0.7, 0.8, 0.1, 0.0], [0.3, 0.3, -0.9, 0.5]])
    d = np.array([[0.5, -0.2, 0.3], [0.4, 0.6, -0.1], [-0.8, 0.1, 0.2]])
    X = np.broadcast_to(x, (chains, 3, 4)).copy()
    D = np.broadcast_to(d, (chains, 3, 3)).copy()
    W0 = np.tile(np.array([0.1, -0.2, 0.0, 0.05, 0.29, -0.1, 0.2, 0.0, -0.05, 0.1, -0.29, 0.15]), (chains, 1))
    monkeypatch.setattr(pt, "_DENSE_EVENTS", 1 << 30 if path == "dense" else 0)
    seen = []
    def spy(f, name):
        return lambda *a, **k: seen.append(name) or f(*a, **k)
    for name in ("_pairs", "_coincidences", "_apply_dense"):
        monkeypatch.setattr(pt, name, spy(getattr(pt, name), name))
    lr = 0.02
    fast = batch_update(dev, W0, Rank1Batch(X, D), lr, np.random.default_rng(1))
    slow = _reference_batch(dev, W0, X, D, lr, np.random.default_rng(2))
    _same_law(fast, slow)
    assert np.abs(fast.mean(axis=0) - W0[0]).max() > 0.01                  # the writes moved the weights
    assert np.all((fast >= resp.lo) & (fast <= resp.hi))
    assert np.isclose(fast, resp.hi).any() or np.isclose(fast, resp.lo).any()   # some path hit a bound
    assert seen[0] == {"pairs": "_pairs", "padded": "_coincidences", "dense": "_apply_dense",
                       "nonaffine": "_coincidences"}[path]


def test_closed_form_noise_has_the_law_of_pulse_by_pulse():
    """n noisy pulses of one sign on an affine response as one map with one normal draw (apply_counts):
    the law of n pulses with n normal draws; elements a bound is within reach of go pulse by pulse."""
    chains = 20000
    resp = response.aihwkit_softbounds(w_max=0.6, w_min=-0.4, up_down=0.2)
    dev = device.Device(resp, dw_min=0.01, sigma_c=0.5, trains=PulseTrains())
    w0 = np.array([0.0, 0.3, -0.35, 0.58, 0.1, -0.39])
    n = np.array([1, 7, 20, 12, 3, 9])
    down = np.array([False, True, True, False, True, True])
    W = np.tile(w0, (chains, 1))
    fast = apply_counts(dev, W, np.tile(n, (chains, 1)), np.tile(down, (chains, 1)), np.random.default_rng(3))
    slow = device.pulse_update(device.Device(resp, dw_min=0.01, sigma_c=0.5), W, np.where(down, -1.0, 1.0),
                               np.random.default_rng(4), bl=np.tile(n, (chains, 1)))
    _same_law(fast, slow)
    assert np.all((fast >= resp.lo) & (fast <= resp.hi)) and (fast == resp.hi).any()


def test_inplace_batch_writes_into_the_given_weights():
    dev = device.Device(response.softbounds(), dw_min=1e-3, sigma_c=0.2, trains=PulseTrains())
    rng = np.random.default_rng(5)
    X, D = rng.standard_normal((1, 10, 50)), rng.standard_normal((1, 10, 40)) * 0.3
    W = rng.uniform(-0.5, 0.5, (1, 2000))
    W0 = W.copy()
    out = batch_update(dev, W, Rank1Batch(X, D), 0.1, np.random.default_rng(6))
    assert np.array_equal(W, W0) and not np.array_equal(out, W0)          # a new array by default
    out2 = batch_update(dev, W, Rank1Batch(X, D, inplace=True), 0.1, np.random.default_rng(6))
    assert np.shares_memory(out2, W) and np.array_equal(out2, out)          # same draws, written into W


def test_affine_expected_update_is_the_expected_update():
    rng = np.random.default_rng(7)
    for resp in (response.power(tau=0.6, gamma=1.0), response.softbounds(sp=-0.2), response.linear(tau=1.0, c=0.3),
                 response.aihwkit_softbounds(w_max=1.5, w_min=-1.0, up_down=0.3), response.softbounds().shifted(0.1)):
        w = rng.uniform(resp.lo, resp.hi, (3, 500))
        dw = rng.standard_normal((3, 500)) * 0.5             # large steps: the clip matters
        assert np.allclose(device.affine_expected_update(resp, w, dw.copy()), device.expected_update(resp, w, dw),
                           rtol=0, atol=1e-14)
    dev = device.Device(response.softbounds(sp=-0.2))
    X, D = rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 3))
    W = rng.uniform(-0.5, 0.5, (2, 12))
    g = Rank1Batch(X, D)
    assert np.allclose(dev.write_gradient(W, g, 0.1, None), device.expected_update(dev.response, W, g.dense(-0.1)),
                       atol=1e-14)


def test_numba_pulse_kernels_same_firings_same_law():
    """The compiled kernels draw the same firings as the NumPy path (an ideal response counts the pulses:
    the same weights) and, with cycle noise, give the same law; the transfer too."""
    pytest.importorskip("numba")
    import aimc_theory.pulse_trains as pt
    chains = 3000
    rng = np.random.default_rng(8)
    X, D = rng.standard_normal((chains, 4, 5)), rng.standard_normal((chains, 4, 3)) * 0.5
    W0 = np.zeros((chains, 15))
    a = batch_update(ideal_trains(bl=5), W0, Rank1Batch(X, D), 0.02, np.random.default_rng(9))
    with pt.backend("numba"):
        b = batch_update(ideal_trains(bl=5), W0, Rank1Batch(X, D), 0.02, np.random.default_rng(9))
    assert np.allclose(a, b, rtol=0, atol=1e-12) and np.abs(a).max() > 0
    noisy = device.Device(response.power(tau=0.3, gamma=1.0), dw_min=0.01, sigma_c=0.4,
                          trains=PulseTrains(desired_bl=4))
    W1 = np.tile(rng.uniform(-0.25, 0.25, 15), (chains, 1))
    a = batch_update(noisy, W1, Rank1Batch(X, D), 0.05, np.random.default_rng(10))
    with pt.backend("numba"):
        b = batch_update(noisy, W1, Rank1Batch(X, D), 0.05, np.random.default_rng(11))
    _same_law(a, b)
    sqrt_dev = device.Device(response.power(tau=0.3, gamma=0.5), dw_min=0.01, sigma_c=0.4,
                             trains=PulseTrains(desired_bl=4))     # not affine: the kernel's power family
    a = batch_update(sqrt_dev, W1, Rank1Batch(X, D), 0.05, np.random.default_rng(14))
    with pt.backend("numba"):
        b = batch_update(sqrt_dev, W1, Rank1Batch(X, D), 0.05, np.random.default_rng(15))
    _same_law(a, b)
    V = np.broadcast_to(rng.standard_normal((1, 3, 5)) * 0.05, (chains, 3, 5)).copy()
    Wt = W1.reshape(chains, 3, 5)
    a = column_transfer(noisy, Wt, V, 0.5, np.array([0, 2, 4]), np.random.default_rng(12))
    with pt.backend("numba"):
        b = column_transfer(noisy, Wt, V, 0.5, np.array([0, 2, 4]), np.random.default_rng(13))
    _same_law(a.reshape(chains, -1), b.reshape(chains, -1))
    assert np.array_equal(a[:, :, 1], Wt[:, :, 1]) and np.array_equal(b[:, :, 3], Wt[:, :, 3])
    with pytest.raises(InputError, match="backend"):
        with pt.backend("cuda"):
            pass
    with pytest.raises(InputError, match="variation"):
        with pt.backend("numba"):
            batch_update(device.Device(response.softbounds(), dw_min=1e-3, trains=PulseTrains(), up_scale=2.0), W0,
                         Rank1Batch(X, D), 0.02, rng)


_EXACT_DEVICES = {
    "power": lambda sigma, **kw: device.Device(response.power(tau=0.6, gamma=1.0), dw_min=1e-3, sigma_c=sigma,
                                               trains=PulseTrains(desired_bl=31, **kw)),
    "softbounds-sp": lambda sigma, **kw: device.Device(response.softbounds(sp=-0.2), dw_min=2e-3, sigma_c=sigma,
                                                       trains=PulseTrains(desired_bl=7, **kw)),
    "aihwkit-up-down": lambda sigma, **kw: device.Device(
        response.aihwkit_softbounds(w_max=1.5, w_min=-1.0, up_down=0.3), dw_min=1e-3, sigma_c=sigma,
        trains=PulseTrains(**kw)),
    # q- falls with w: zero pulses map w to w 1 + (+0.0), so -0.0 weights become +0.0 on the dense path
    "falling-down-step": lambda sigma, **kw: device.Device(
        response.from_expressions("1 + 0*w", "1 - 0.5*w", range=(-1, 1)), dw_min=1e-3, sigma_c=sigma,
        trains=PulseTrains(**kw)),
}


@pytest.mark.parametrize("name", list(_EXACT_DEVICES))
@pytest.mark.parametrize("sigma", [0.0, 0.3])
@pytest.mark.parametrize("kw", [{}, {"update_management": False}, {"bl_management": False}])
def test_numba_exact_batches_give_the_numpy_bits(name, sigma, kw):
    """For an affine response with additive or no cycle noise the numba backend repeats the NumPy path bit for bit:
    one slot (fired rows x fired columns), several slots (counted coincidences), small tiles (dense counts), chains
    with a shared or an own input, weights near a bound (the NumPy path's pulse by pulse from the kernel's events),
    and the same random numbers afterwards."""
    pytest.importorskip("numba")
    import aimc_theory.pulse_trains as pt
    dev = _EXACT_DEVICES[name](sigma, **kw)
    rng = np.random.default_rng(21)
    cases = []
    for C, B, out, inp, lr, shared in ((1, 10, 40, 90, 0.002, True), (1, 10, 40, 90, 0.3, True),   # 1 / several slots
                                       (1, 10, 6, 20, 0.05, True), (1, 10, 6, 20, 0.005, True),     # dense
                                       (3, 4, 5, 7, 0.2, False), (2, 6, 30, 70, 0.02, True)):       # chains
        X = rng.uniform(0, 1, (1 if shared else C, B, inp)) * (rng.random((1 if shared else C, B, inp)) < 0.6)
        D = rng.standard_normal((C, B, out)) * 0.05
        W = rng.uniform(-0.3, 0.3, (C, out * inp))
        near = np.where(rng.random(W.shape) < 0.1, dev.response.hi - 1e-4, W)     # within reach of the upper bound
        W[:, ::7] = -0.0                                      # signed zeros: the dense path's identity maps
        cases += [(W, X, D, lr), (near, X, D, lr)]
    for k, (W, X, D, lr) in enumerate(cases):
        r1, r2 = np.random.default_rng(k), np.random.default_rng(k)
        a = batch_update(dev, W, Rank1Batch(X, D), lr, r1)
        with pt.backend("numba"):
            b = batch_update(dev, W, Rank1Batch(X, D), lr, r2)
            Wi = W.copy()
            c = batch_update(dev, Wi, Rank1Batch(X, D, inplace=True), lr, np.random.default_rng(k))
        assert np.array_equal(a, b) and np.array_equal(a, c) and np.shares_memory(c, Wi), (name, k)
        assert np.array_equal(np.signbit(a), np.signbit(b)), (name, k)
        assert not np.array_equal(a, W), (name, k)
        assert r1.random() == r2.random()                     # the same numbers drawn
    W = np.zeros((1, 6))
    for X in (np.full((1, 2, 3), np.inf), np.zeros((1, 2, 3))):  # non-finite inputs (the NumPy path); nothing to write
        D = np.ones((1, 2, 2))
        with pt.backend("numba"), np.errstate(invalid="ignore"):
            a = batch_update(dev, W, Rank1Batch(X, D), 0.1, np.random.default_rng(3))
        with np.errstate(invalid="ignore"):
            assert np.array_equal(a, batch_update(dev, W, Rank1Batch(X, D), 0.1, np.random.default_rng(3)))


@pytest.mark.parametrize("sigma", [0.0, 0.3])
def test_numba_exact_transfers_give_the_numpy_bits(sigma):
    """Tiki-Taka's column transfer on the numba backend: the NumPy path's bits for one and several slots, some or
    all columns, one or several chains, and weights near a bound (apply_counts from the kernel's events); written
    in place (``inplace``), the same bits in W itself on both backends."""
    pytest.importorskip("numba")
    import aimc_theory.pulse_trains as pt
    rng = np.random.default_rng(22)
    for dev in (_EXACT_DEVICES["power"](sigma), _EXACT_DEVICES["softbounds-sp"](sigma)):
        for k, (C, out, inp, lr, cols) in enumerate(((1, 30, 50, 0.01, None), (1, 30, 50, 0.5, None),
                                                     (2, 12, 9, 0.05, np.array([7, 8, 0])), (1, 8, 5, 1.0, [3]),
                                                     (2, 10, 6, 0.3, np.arange(6)))):   # every column, as a list
            V = rng.standard_normal((C, out, inp)) * 0.05
            W = rng.uniform(-0.2, 0.2, (C, out, inp))
            for Wk in (W, np.where(rng.random(W.shape) < 0.2, dev.response.hi - 1e-4, W)):
                r1, r2 = np.random.default_rng(k), np.random.default_rng(k)
                a = column_transfer(dev, Wk, V, lr, cols, r1)
                with pt.backend("numba"):
                    b = column_transfer(dev, Wk, V, lr, cols, r2)
                assert np.array_equal(a, b) and not np.array_equal(a, Wk), k
                assert r1.random() == r2.random()
                for name in ("numpy", "numba"):      # written into W itself where the caller gives it up
                    Wi = Wk.copy()
                    with pt.backend(name):
                        c = column_transfer(dev, Wi, V, lr, cols, np.random.default_rng(k), inplace=True)
                    assert np.shares_memory(c, Wi) and np.array_equal(c, a) and np.array_equal(Wi, a), (k, name)
                    # again on the array the first transfer returned (numba gives back its own array objects)
                    with pt.backend(name):
                        ref = column_transfer(dev, c.copy(), V, lr, cols, np.random.default_rng(k + 9))
                        d = column_transfer(dev, c, V, lr, cols, np.random.default_rng(k + 9), inplace=True)
                    assert np.shares_memory(d, Wi) and np.array_equal(d, ref), (k, name)
    with pt.backend("numba"):                                  # nothing to transfer: the same array back
        W = np.ones((1, 3, 4))
        assert column_transfer(dev, W, np.zeros((1, 3, 4)), 0.1, None, np.random.default_rng(0)) is W
    # other bit generators: the same bits too (the kernel draws through the Generator)
    for bits in (np.random.Philox, np.random.PCG64DXSM, np.random.MT19937):
        for lr in (0.01, 0.5):
            V, W = rng.standard_normal((1, 30, 50)) * 0.05, rng.uniform(-0.2, 0.2, (1, 30, 50))
            r1, r2 = np.random.Generator(bits(5)), np.random.Generator(bits(5))
            a = column_transfer(dev, W, V, lr, None, r1)
            with pt.backend("numba"):
                b = column_transfer(dev, W, V, lr, None, r2)
            assert np.array_equal(a, b) and r1.random() == r2.random(), bits.__name__


def test_numba_backend_trains_the_numpy_bits():
    """A network trained on the numba backend (affine response, additive cycle noise) ends with the NumPy path's
    weights, for Analog SGD and RL v1 (every column, or one per step)."""
    pytest.importorskip("numba")
    from aimc_theory import data, network
    ds = data.digits(120, 30)
    pulsed = device.Device(response.power(tau=0.6, gamma=1.0), dw_min=1e-3, sigma_c=0.3,
                           trains=PulseTrains(desired_bl=31))
    for alg, main, opts in (("analog-sgd", None, {}), ("residual-learning", pulsed, {"beta": 0.05, "gamma": 0.4}),
                            ("residual-learning", pulsed, {"beta": 0.05, "columns_per_transfer": 1})):
        runs = [network.train(ds, alg, pulsed, main, epochs=1, lr=0.1, hidden=(24,), seed=4, options=opts,
                              backend=b) for b in ("numpy", "numba")]
        assert runs[0].train_loss == runs[1].train_loss, alg
        assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(runs[0].final_weights, runs[1].final_weights)), alg


def _varied_device(kind: str, mult: bool, C: int, E: int, rng):
    """A device with device-to-device variation (step gains and imbalance as aihwkit draws them; for the HfO2 preset
    also each element's own bounds as stretches) and cycle noise, additive or multiplicative."""
    from aimc_theory import presets
    if kind == "powstep":                                      # P1 Table 8's authors' device (PowStep gamma 1)
        resp, dw, bl = response.aihwkit_powstep(1.0, tau=0.6), 1e-3, 31
    else:                                                      # P2's RRAM-HfO2 preset: steps of a quarter range
        resp, dw, bl = presets.get("preset:reram-array-hfo2").response(), 0.4622 if kind == "hfo2" else 0.02, 5
    g, r = 1 + 0.3 * rng.standard_normal((1, E)), 0.01 * rng.standard_normal((1, E))
    kw = dict(up_scale=np.abs(g + r), down_scale=np.abs(g - r))
    if kind != "powstep":
        bmax, bmin = np.abs(1 + 0.43 * rng.standard_normal((C, E))), -np.abs(1 + 0.6 * rng.standard_normal((C, E)))
        kw |= dict(up_stretch=1 / bmax, down_stretch=-1 / bmin, bounds=(bmin, bmax))
    return device.Device(resp, dw_min=dw, sigma_c=0.3 if mult else 0.2174,
                         c2c_model="multiplicative" if mult else "additive", trains=PulseTrains(desired_bl=bl), **kw)


@pytest.mark.parametrize("kind", ["powstep", "hfo2", "hfo2-small-steps"])
@pytest.mark.parametrize("mult", [True, False])
def test_varied_kernel_gives_the_numpy_bits(monkeypatch, kind, mult):
    """Devices with device-to-device variation and cycle noise (P1 Table 8's and P2 Table 2's configurations): the
    compiled batch (pulse_trains._varied_batch) repeats the NumPy path bit for bit, for one slot and several,
    chains with a shared or an own input, weights near the bounds (pulse by pulse), far from them (closed forms),
    written in place or not, and draws the same random numbers; on the numba backend too."""
    pytest.importorskip("numba")
    import aimc_theory.kernels as kernels
    import aimc_theory.pulse_trains as pt
    statuses = []
    run = kernels.varied_batch

    def spy(*a):
        res = run(*a)
        statuses.append(res[0])
        return res
    monkeypatch.setattr(kernels, "varied_batch", spy)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        for C, B, out, inp, lr, shared in ((1, 10, 40, 90, 0.002, True), (1, 10, 40, 90, 0.3, True),
                                           (1, 10, 6, 20, 0.05, True), (3, 4, 5, 7, 0.2, False),
                                           (2, 6, 30, 70, 0.02, True)):
            dev = _varied_device(kind, mult, C, out * inp, rng)
            X = rng.uniform(0, 1, (1 if shared else C, B, inp)) * (rng.random((1 if shared else C, B, inp)) < 0.6)
            D = rng.standard_normal((C, B, out)) * 0.05
            lo, hi = (dev.response.lo, dev.response.hi) if dev.bounds is None else dev.bounds
            W = np.clip(rng.uniform(-0.3, 0.3, (C, out * inp)), lo, hi)
            near = np.where(rng.random(W.shape) < 0.1, np.broadcast_to(hi, W.shape) - 1e-4, W)
            near = np.where(rng.random(W.shape) < 0.1, np.broadcast_to(lo, W.shape) + 1e-4, near)
            for Wk in (W, near):
                monkeypatch.setattr(pt, "_VARIED_KERNEL", False)
                r0 = np.random.default_rng(seed + 10)
                a = batch_update(dev, Wk, Rank1Batch(X, D), lr, r0)
                monkeypatch.setattr(pt, "_VARIED_KERNEL", True)
                r1, r2, r3 = (np.random.default_rng(seed + 10) for _ in range(3))
                b = batch_update(dev, Wk, Rank1Batch(X, D), lr, r1)
                Wi = Wk.copy()
                c = batch_update(dev, Wi, Rank1Batch(X, D, inplace=True), lr, r2)
                with pt.backend("numba"):
                    d = batch_update(dev, Wk, Rank1Batch(X, D), lr, r3)
                assert np.array_equal(a, b) and np.array_equal(a, c) and np.array_equal(a, d), (kind, seed, C, lr)
                assert np.shares_memory(c, Wi) or np.array_equal(c, Wk)
                assert r0.random() == r1.random() == r2.random() == r3.random()
                assert np.all(a >= lo) and np.all(a <= hi)
    assert statuses.count(kernels.DONE) > 10 and kernels.NUMPY not in statuses
    if mult:            # additive noise: an event of n > 1 pulses far from the bounds goes to NumPy (its r^n)
        assert kernels.EVENTS not in statuses


def test_varied_kernel_covers_only_the_code_it_repeats(monkeypatch):
    """The compiled batch of varied devices repeats the responses whose NumPy code it knows (checked bit for bit on
    a grid); any other response, a noise-free device and non-finite inputs run the NumPy path."""
    pytest.importorskip("numba")
    import aimc_theory.pulse_trains as pt
    from aimc_theory import presets
    assert pt._q_form(response.aihwkit_powstep(1.0, tau=0.7)) == (1, (1.0, 1.0, 0.7, -0.7, 1.4))
    assert pt._q_form(presets.get("preset:reram-array-hfo2").response())[0] == 0
    for resp in (response.aihwkit_powstep(0.5, tau=0.6), response.softbounds(), response.power(tau=0.6, gamma=1.0)):
        assert pt._q_form(resp) is None, resp.name
    rng = np.random.default_rng(5)
    dev = _varied_device("powstep", True, 1, 12, rng)
    calls = []
    monkeypatch.setattr(pt, "_varied_setup", lambda *a: calls.append(a) or None)
    W = rng.uniform(-0.3, 0.3, (1, 12))
    X, D = rng.uniform(0, 1, (1, 3, 4)), rng.standard_normal((1, 3, 3))
    for d in (dev, device.Device(response.softbounds(), dw_min=1e-3, sigma_c=0.3, up_scale=np.full((1, 12), 1.1),
                                 trains=PulseTrains()),
              device.Device(dev.response, dw_min=1e-3, up_scale=np.full((1, 12), 1.1), trains=PulseTrains())):
        batch_update(d, W, Rank1Batch(X, D), 0.1, np.random.default_rng(0))
    assert len(calls) == 2                                     # the noise-free device never asks
    assert pt._q_form(calls[1][0].response) is None
    monkeypatch.undo()
    # float32 inputs: the NumPy path's firing probabilities are float32, so the NumPy path writes (a case found in
    # review where the kernel's float64 comparison fired differently)
    pw = device.Device(response.aihwkit_powstep(1.0, tau=0.6), dw_min=1e-3, sigma_c=0.3, c2c_model="multiplicative",
                       up_scale=[[1.1]], down_scale=[[0.9]], trains=PulseTrains(31))
    b32 = Rank1Batch(np.ones((1, 1, 1)), np.array([[[0.020286009]]], dtype=np.float32))
    r1, r2 = np.random.default_rng(0), np.random.default_rng(0)
    got = batch_update(pw, np.zeros((1, 1)), b32, 0.01, r1)
    monkeypatch.setattr(pt, "_VARIED_KERNEL", False)
    assert np.array_equal(got, batch_update(pw, np.zeros((1, 1)), b32, 0.01, r2)) and r1.random() == r2.random()
    monkeypatch.undo()
    with np.errstate(invalid="ignore"):                          # non-finite inputs: the NumPy path's answer
        bad = Rank1Batch(np.full((1, 3, 4), np.inf), D)
        a = batch_update(dev, W, bad, 0.1, np.random.default_rng(1))
        monkeypatch.setattr(pt, "_VARIED_KERNEL", False)
        assert np.array_equal(a, batch_update(dev, W, bad, 0.1, np.random.default_rng(1)), equal_nan=True)
