"""Residual Learning: theory cross-checks, RL-v2 invariants (hypothesis), validation."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import integrate, optimize, stats

from aimc_theory import device, objectives, residual_learning as rl, response, simulation, symbolic
from aimc_theory.errors import InputError


def abs_moment(mu, s):
    pdf = stats.norm(mu, s).pdf
    return (integrate.quad(lambda x: -x * pdf(x), -np.inf, 0, epsabs=1e-13)[0]
            + integrate.quad(lambda x: x * pdf(x), 0, np.inf, epsabs=1e-13)[0])


@pytest.mark.parametrize("resp", [
    response.softbounds(tau=1.0).shifted(0.1), response.linear(tau=1.0, c=0.3).shifted(-0.2),
    response.power(tau=1.0, gamma=0.5).shifted(-0.1), response.exponential(tau=1.0, gamma=1.0).shifted(0.15),
], ids=["softbounds", "linear", "power", "exponential"])
def test_rl_fixed_point_matches_independent_root(resp):
    fp = symbolic.residual_learning_fixed_point(symbolic.derive(resp, penalty=False), 1.0, 0.5, 0.3)
    R0 = float(resp.G(0.0) / resp.F(0.0))
    mu = optimize.brentq(lambda m: m + abs_moment(m, 0.3) * R0, -2, 2, xtol=1e-14)
    assert fp.bias == pytest.approx(mu, abs=1e-9)


def test_spec_F4_reference():
    # L = 1, w* = .5, s = .3, tau = 1, delta = .1: prediction 0.02394 (m ~ Sigma), MC 0.02403
    fp = symbolic.residual_learning_fixed_point(symbolic.derive(response.softbounds().shifted(0.1)), 1.0, 0.5, 0.3)
    assert fp.small_bias == pytest.approx(0.3 * math.sqrt(2 / math.pi) * 0.1, rel=1e-12)
    assert fp.bias == pytest.approx(0.02403, abs=1e-4)


def test_rl_zero_shift_is_exact_and_noiseless_is_exact():
    d0 = symbolic.derive(response.power(gamma=0.5), penalty=False)
    assert symbolic.residual_learning_fixed_point(d0, 1.0, 0.5, 0.3).bias == 0.0
    d1 = symbolic.derive(response.softbounds().shifted(0.2), penalty=False)
    assert symbolic.residual_learning_fixed_point(d1, 1.0, 0.5, 0.0).bias == 0.0


def test_linearized_matches_spec_formula():
    # spec F.4: lambda^2 - (1 + a - lr beta L) lambda + a, a = 1 - lr(gamma L + m/tau)
    lr, beta, gamma, s, tau = 0.01, 0.005, 0.4, 0.3, 1.0
    lin = symbolic.residual_learning_linearized(symbolic.derive(response.softbounds(tau=tau), penalty=False),
                                                1.0, s, lr, beta, gamma)
    a = 1 - lr * (gamma + s * math.sqrt(2 / math.pi) / tau)
    assert lin.a == pytest.approx(a, rel=1e-12)
    roots = np.roots([1, -(1 + a - lr * beta), a])
    assert lin.spectral_radius == pytest.approx(max(abs(roots)), rel=1e-12)
    assert lin.spectral_radius == pytest.approx(math.sqrt(a), rel=1e-12)     # complex pair
    lin0 = symbolic.residual_learning_linearized(symbolic.derive(response.softbounds(), penalty=False),
                                                 1.0, 0.0, lr, beta, 0.0)
    assert lin0.spectral_radius == pytest.approx(1.0, abs=1e-12)             # marginal


def test_ls_fixed_point():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((30, 4))
    H = A.T @ A / 30
    W_star = 0.2 * rng.standard_normal(4)
    d = symbolic.derive(response.softbounds().shifted(0.1), penalty=False)
    W = symbolic.residual_learning_fixed_point_ls(d, H, W_star, 0.3).exact
    mu = H @ (W - W_star)
    assert np.allclose(mu, symbolic.residual_learning_fixed_point(d, 1.0, 0.0, 0.3).mu)


def test_read_noise_fixed_point_solves_both_rest_conditions():
    dp = symbolic.derive(response.softbounds(), penalty=False)
    dw = symbolic.derive(response.softbounds(sp=-0.2), penalty=False)
    out = symbolic.residual_learning_read_noise_fixed_point(dp, dw, 1.0, 0.5, 0.3, 0.05, 0.4)
    w, p = out.w, out.p
    mu = w + 0.4 * p - 0.5
    rp, rw = response.softbounds(), response.softbounds(sp=-0.2)
    assert mu * rp.F(p) + abs_moment(mu, 0.3) * rp.G(p) == pytest.approx(0.0, abs=1e-9)
    assert p * rw.F(w) - abs_moment(p, 0.05) * rw.G(w) == pytest.approx(0.0, abs=1e-9)
    assert out.bias < 0     # pulled toward the main array's SP (-0.2)


@settings(max_examples=30, deadline=None)
@given(beta=st.floats(0.001, 0.999, allow_subnormal=False))
def test_ema_ratio(beta):
    assert float(symbolic.ema_noise_variance_ratio(beta)) == pytest.approx(beta / (2 - beta), rel=1e-12)


# -- RL v2 threshold transfer: invariants (claim 16) -----------------------------------------------

@settings(max_examples=200, deadline=None)
@given(h=st.lists(st.floats(-1.999e-3, 1.999e-3, allow_subnormal=False), min_size=1, max_size=20))
def test_threshold_transfer_single_step(h):
    dw = 1e-3
    H_half = np.array(h)
    H, pulses = rl.threshold_transfer(H_half, dw)
    assert np.all(np.abs(H) < dw)
    assert set(np.unique(pulses)) <= {-1.0, 0.0, 1.0}
    assert np.array_equal(pulses != 0, np.abs(H_half) >= dw)
    assert np.allclose(H_half - H, pulses * dw, atol=0)


@settings(max_examples=50, deadline=None)
@given(beta=st.floats(0.01, 1.0, allow_subnormal=False), seed=st.integers(0, 10 ** 6), frac=st.floats(0.0, 1.0, allow_subnormal=False))
def test_rlv2_invariants_hold_while_reads_are_bounded(beta, seed, frac):
    """|H| < dw_min after every step whenever beta |P + eps| <= (1 + beta) dw_min."""
    dw = 1e-3
    bound = frac * (1 + beta) * dw / beta
    rng = np.random.default_rng(seed)
    H = np.zeros(16)
    for _ in range(50):
        read = rng.uniform(-bound, bound, 16)
        H, pulses = rl.threshold_transfer((1 - beta) * H + beta * read, dw)
        assert np.all(np.abs(H) < dw) and np.all(np.abs(pulses) <= 1)


def test_rlv2_update_moves_w_by_single_pulses():
    resp_w = response.softbounds(sp=-0.2)
    alg = rl.residual_learning_v2(0.01, 0.3, 0.4, device.Device(response.softbounds()), device.Device(resp_w),
                                  read_noise=1e-3, dw_min=1e-3)
    rng = np.random.default_rng(0)
    obj = objectives.ScalarQuadratic(1.0, 0.5, 0.3)
    W = np.full((500, 1), 0.5)
    state = alg.init(W)
    for _ in range(100):
        W_prev = W
        W, state, info = alg.step(obj.grad(alg.readout(W, state), rng), state, W, rng)   # with its diagnostics
        q = np.where(info.pulses > 0, resp_w.q_plus(W_prev), resp_w.q_minus(W_prev))
        assert np.allclose(W - W_prev, info.pulses * 1e-3 * q, rtol=0, atol=1e-15)
    assert state.total_pulses.sum() > 0


def test_rl_reproducible_and_gamma_zero_readout():
    obj = objectives.ScalarQuadratic(1.0, 0.5, 0.3)
    dev = device.Device(response.linear(c=0.2), dw_min=1e-3, rounding="stochastic")
    for alg in (rl.residual_learning(0.01, 0.01, 0.0, dev, dev, transfer_every=3, read_noise=0.01),
                rl.residual_learning_v2(0.01, 0.1, 0.4, dev, dev, read_noise=0.01)):
        a = simulation.simulate(obj, alg, 200, 20, seed=4)
        b = simulation.simulate(obj, alg, 200, 20, seed=4)
        assert np.array_equal(a.final_weights, b.final_weights)
    alg = rl.residual_learning(0.01, 0.01, 0.0, dev, dev)
    st_ = alg.init(np.zeros((2, 1)))
    assert np.array_equal(alg.readout(np.ones((2, 1)), st_), np.ones((2, 1)))


@pytest.mark.parametrize("call, param", [
    (lambda d: rl.residual_learning(0.01, 0.0, 0.4, d, d), "beta"),
    (lambda d: rl.residual_learning(0.01, 0.1, -0.1, d, d), "gamma"),
    (lambda d: rl.residual_learning(-0.01, 0.1, 0.1, d, d), "lr"),
    (lambda d: rl.residual_learning(0.01, 0.1, 0.1, d, d, transfer_every=0), "transfer_every"),
    (lambda d: rl.residual_learning(0.01, 0.1, 0.1, d, d, read_noise=-1), "read_noise"),
    (lambda d: rl.residual_learning_v2(0.01, 0.1, 0.1, d, d), "dw_min"),
    (lambda d: rl.residual_learning_v2(0.01, 1.5, 0.1, d, d, dw_min=1e-3), "beta"),
])
def test_validation(call, param):
    with pytest.raises(InputError) as exc:
        call(device.Device(response.softbounds()))
    assert exc.value.param == param


def test_residual_sp_outside_range_is_an_error():
    d = symbolic.derive(response.softbounds(tau=0.5).shifted(0.7), penalty=False)   # range (0.2, 1.2)
    with pytest.raises(InputError):
        symbolic.residual_learning_fixed_point(d, 1.0, 0.5, 0.3)
