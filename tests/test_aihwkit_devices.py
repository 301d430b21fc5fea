"""The reference simulator's (aihwkit's) devices as they are (P1 Table 8's configuration, arXiv 2502.06309):
multiplicative cycle-to-cycle noise wherever a pulse is applied, normal device-to-device step gains, the
PowStep and stock ExpStep responses (an SP outside the range is reported, not refused).

Statistical checks compare with the exact law of the simulated quantity and allow K standard errors (no other
allowance: the laws are exact); each also checks that the plausible wrong law (additive noise, a log-normal
gain, the step without the 2^-gamma factor) is many standard errors away, so the comparison can fail."""
import json
import math

import numpy as np
import pytest

from aimc_theory import calibration, device, response
from aimc_theory import pulse_trains as pt
from aimc_theory.cli import main
from aimc_theory.errors import InputError
from aimc_theory.pulse_trains import PulseTrains, Rank1Batch
from aimc_theory.variation import Variation

K = 4.0                 # standard errors allowed
DW, SIGMA, W0 = 1e-3, 0.3, 0.3
N = 200_000
SB = response.softbounds(tau=1.0)          # q+(W0) = 0.7, q-(W0) = 1.3


def _mean_var_ok(x, mean, var, wrong_var=None):
    """Sample mean and variance of ``x`` within K SEs of (mean, var); ``wrong_var`` (the other noise law's
    variance) more than 3 K SEs away."""
    n = x.size
    m, v = x.mean(), x.var(ddof=1)
    se_m = math.sqrt(v / n)
    se_v = math.sqrt(max(np.mean((x - m) ** 4) - v * v, 0.0) / n)
    assert abs(m - mean) <= K * se_m, (m, mean, se_m)
    assert abs(v - var) <= K * se_v, (v, var, se_v)
    if wrong_var is not None:
        assert abs(wrong_var - var) > 3 * K * se_v


def _one_pulse_law(q, model):
    """(mean, variance) of one pulse's step in units of dw_min, q the response factor at the start."""
    return q, (SIGMA * q) ** 2 if model == "multiplicative" else SIGMA ** 2


# -- multiplicative cycle-to-cycle noise, everywhere a pulse is applied --------------------------------------

@pytest.mark.parametrize("model", ["additive", "multiplicative"])
def test_single_pulse_noise_law_in_device_pulse_and_update(model):
    """Device.pulse (one sign for all, and per-element signs) and the pulse-level Device.update: the step is
    dw q (1 + sigma xi) (multiplicative: mean dw q, SD sigma q dw) or dw (q + sigma xi) (additive: SD sigma dw)."""
    dev = device.Device(SB, dw_min=DW, sigma_c=SIGMA, c2c_model=model)
    other = "additive" if model == "multiplicative" else "multiplicative"
    w0 = np.full(N, W0)
    for sign, q in ((1.0, 0.7), (-1.0, 1.3)):
        steps = [dev.pulse(w0, sign, np.random.default_rng(1)),
                 dev.pulse(w0, np.full(N, sign), np.random.default_rng(2)),
                 dev.update(w0, np.full(N, sign * DW), np.random.default_rng(3))]
        for w in steps:
            mean, var = _one_pulse_law(q, model)
            _mean_var_ok(sign * (w - w0) / DW, mean, var, _one_pulse_law(q, other)[1])


def _ones_batch(out, inp, chains=1):
    # x = 1, d = -1 and lr = the granularity: BL 1, A = B = 1, every element gets exactly one UP pulse
    return Rank1Batch(np.ones((1, 1, inp)), -np.ones((chains, 1, out)))


def _moments_after(resp, n, model, w0=W0):
    """Exact (E w, Var w) after n UP pulses of an affine response q+ = a + b w from w0 (no bound reached):
    w' = w + dw (a + b w) m with m = 1 + sigma xi (multiplicative) or w' = w + dw (a + b w) + dw sigma xi."""
    a, b = resp.affine[0], resp.affine[1]
    m1, m2 = w0, w0 * w0
    for _ in range(n):
        e_q, e_q2, e_wq = a + b * m1, a * a + 2 * a * b * m1 + b * b * m2, a * m1 + b * m2
        if model == "multiplicative":
            m1, m2 = m1 + DW * e_q, m2 + 2 * DW * e_wq + DW ** 2 * (1 + SIGMA ** 2) * e_q2
        else:
            m1, m2 = m1 + DW * e_q, m2 + 2 * DW * e_wq + DW ** 2 * (e_q2 + SIGMA ** 2)
    return m1, m2 - m1 * m1


@pytest.mark.parametrize("model", ["additive", "multiplicative"])
def test_pulse_trains_noise_law(model):
    """The NumPy pulse trains: single-pulse events of an affine response (closed-form maps), a non-affine
    response (pulse by pulse), events of three pulses (BL 3: the exact moment recursion), and Tiki-Taka's column
    transfer (apply_counts)."""
    other = "additive" if model == "multiplicative" else "multiplicative"
    out, inp = 300, 300
    W = np.full((1, out * inp), W0)
    for resp, q in ((SB, 0.7), (response.power(tau=1.0, gamma=0.5), math.sqrt(0.7))):
        dev = device.Device(resp, dw_min=DW, sigma_c=SIGMA, c2c_model=model, trains=PulseTrains(desired_bl=1))
        W1 = dev.write_gradient(W, _ones_batch(out, inp), DW, np.random.default_rng(4))
        _mean_var_ok((W1 - W).ravel() / DW, *_one_pulse_law(q, model), _one_pulse_law(q, other)[1])
    dev3 = device.Device(SB, dw_min=DW, sigma_c=SIGMA, c2c_model=model, trains=PulseTrains(desired_bl=3))
    W3 = dev3.write_gradient(W, _ones_batch(out, inp), 3 * DW, np.random.default_rng(5))
    m, v = _moments_after(SB, 3, model)
    _mean_var_ok(W3.ravel(), m, v, _moments_after(SB, 3, other)[1])
    # column transfer: V = 1 at lr = dw_min fires every column and row once: one UP pulse per element
    V = np.ones((1, out * inp))
    dev1 = device.Device(SB, dw_min=DW, sigma_c=SIGMA, c2c_model=model, trains=PulseTrains(desired_bl=1))
    Wt = dev1.write_matrix(W, V, (out, inp), DW, np.random.default_rng(6))
    _mean_var_ok((Wt - W).ravel() / DW, *_one_pulse_law(0.7, model), _one_pulse_law(0.7, other)[1])


@pytest.mark.parametrize("model", ["additive", "multiplicative"])
def test_numba_pulse_kernels_noise_law(model):
    pytest.importorskip("numba")
    other = "additive" if model == "multiplicative" else "multiplicative"
    out, inp = 300, 300
    W = np.full((1, out * inp), W0)
    dev = device.Device(SB, dw_min=DW, sigma_c=SIGMA, c2c_model=model, trains=PulseTrains(desired_bl=1))
    with pt.backend("numba"):
        W1 = dev.write_gradient(W, _ones_batch(out, inp), DW, np.random.default_rng(7))
        Wt = dev.write_matrix(W, np.ones((1, out * inp)), (out, inp), DW, np.random.default_rng(8))
    for Wn in (W1, Wt):
        _mean_var_ok((Wn - W).ravel() / DW, *_one_pulse_law(0.7, model), _one_pulse_law(0.7, other)[1])


def test_additive_is_the_default_and_the_model_needs_noise():
    """Off means unchanged: the default is additive (the same bits as the formula w + dw (q + sign sigma xi)
    drawn from the same generator), and without noise the multiplicative model gives the additive bits."""
    w0 = np.linspace(-0.5, 0.5, 1001)
    dev = device.Device(SB, dw_min=DW, sigma_c=SIGMA)
    assert dev.c2c_model == "additive" and not dev.multiplicative
    xi = np.random.default_rng(9).standard_normal(w0.shape)
    want = SB.clip(w0 + DW * (-SB.q_minus(w0) - SIGMA * xi))
    assert np.array_equal(dev.pulse(w0, -1.0, np.random.default_rng(9)), want)
    quiet = [device.Device(SB, dw_min=DW, c2c_model=m, trains=PulseTrains(desired_bl=5)) for m in device.C2C_MODELS]
    g = np.random.default_rng(10)
    batch = Rank1Batch(g.standard_normal((1, 6, 40)), 0.1 * g.standard_normal((1, 6, 30)))
    W = 0.1 * g.standard_normal((1, 1200))
    a, b = (d.write_gradient(W, batch, 0.05, np.random.default_rng(11)) for d in quiet)
    assert np.array_equal(a, b)
    a, b = (d.pulse(w0, 1.0, np.random.default_rng(12)) for d in quiet)
    assert np.array_equal(a, b)
    with pytest.raises(InputError) as exc:
        device.Device(SB, dw_min=DW, sigma_c=SIGMA, c2c_model="lognormal")
    assert exc.value.param == "c2c_model"


def test_zero_shift_follows_the_devices_noise_model():
    """calibration.zero_shift defaults to the device's c2c_model; the argument still overrides it."""
    run = lambda dev, **kw: calibration.zero_shift(dev, 0.2, 2000, "stochastic", devices=64, seed=3, **kw).w  # noqa
    mult = device.Device(SB, dw_min=1e-2, sigma_c=SIGMA, c2c_model="multiplicative")
    add = device.Device(SB, dw_min=1e-2, sigma_c=SIGMA)
    assert np.array_equal(run(mult), run(add, c2c_model="multiplicative"))
    assert np.array_equal(run(mult, c2c_model="additive"), run(add))
    assert not np.array_equal(run(mult), run(add))


# -- normal device-to-device step gains ------------------------------------------------------------------------

def test_reference_step_variation_is_normal():
    """Variation.reference(): gain 1 + 0.3 xi (mean 1, SD 0.3; a log-normal gain would have mean e^0.045),
    imbalance 0.01 xi, negative steps made positive; the same bits as the toolkit's normal law where no draw
    is clipped."""
    var = Variation.reference()
    assert (var.gain, var.imbalance, var.log_normal, var.reference_steps) == (0.3, 0.01, False, True)
    s_plus, s_minus, reflected = var.draw(N, np.random.default_rng(13))
    g, r = 0.5 * (s_plus + s_minus), 0.5 * (s_plus - s_minus)
    ok = (s_plus > 0) & (s_minus > 0) & (g - np.abs(r) > 0)
    _mean_var_ok(g, 1.0, 0.09, None)
    assert abs(math.exp(0.045) - 1.0) > 3 * K * g.std() / math.sqrt(N)          # the log-normal mean fails
    _mean_var_ok(r[ok], 0.0, 1e-4, None)
    rng = np.random.default_rng(13)
    xi, xr = rng.standard_normal(N), 0.01 * rng.standard_normal(N)
    assert reflected == np.count_nonzero((1 + 0.3 * xi - np.abs(xr)) < 0) and 0 < reflected < 1e-3 * N
    t_plus, t_minus, _ = Variation(0.3, 0.01, log_normal=False).draw(N, np.random.default_rng(13))
    same = ((1 + 0.3 * xi) >= 1e-6) & (np.abs(xr) <= 0.95 * (1 + 0.3 * xi))      # nothing clipped there
    assert np.count_nonzero(~same) < 1e-3 * N
    assert np.array_equal(s_plus[same], t_plus[same]) and np.array_equal(s_minus[same], t_minus[same])


# -- PowStep and the stock ExpStep -------------------------------------------------------------------------------

def test_powstep_steps_by_hand():
    r = response.aihwkit_powstep(gamma=2.0, up_down=0.1)           # bounds -1, 1; up_down one-sided: s- = 0.9
    assert r.q_plus(0.3) == pytest.approx(((1 - 0.3) / 2) ** 2, rel=1e-14)
    assert r.q_minus(0.3) == pytest.approx(0.9 * ((0.3 + 1) / 2) ** 2, rel=1e-14)
    assert r.symmetric_point == pytest.approx(0.0263, abs=1e-4)     # devices.md's verified value
    assert r.granularity == 0.25
    w = np.linspace(-0.59, 0.59, 9)
    for gamma in (0.5, 1.0, 2.0):                                    # P1 eq. 148 with a 2^-gamma pulse
        p, ref = response.aihwkit_powstep(gamma=gamma, tau=0.6), response.power(tau=0.6, gamma=gamma)
        assert np.allclose(p.q_plus(w), 2 ** -gamma * ref.q_plus(w), rtol=1e-13)
        assert np.allclose(p.q_minus(w), 2 ** -gamma * ref.q_minus(w), rtol=1e-13)
        assert p.granularity == 0.5 ** gamma and p.symmetric_point == pytest.approx(0.0, abs=1e-12)
    assert response.aihwkit_powstep(gamma=1.0, tau=0.6).affine == pytest.approx((0.5, -0.5 / 0.6, 0.5, 0.5 / 0.6))
    with pytest.raises(InputError) as exc:
        response.aihwkit_powstep(tau=0.6, w_max=2.0)
    assert exc.value.param == "tau"


def test_update_management_divides_by_the_granularity():
    """lr = dw_min 0.5^gamma with |x| = |d| = 1 is one coincidence per element (the simulator's granularity);
    dividing by dw_min instead would pulse only a fraction 0.5^gamma of them."""
    out, inp = 100, 100
    for gamma in (1.0, 2.0):
        dev = device.Device(response.aihwkit_powstep(gamma=gamma, tau=0.6), dw_min=DW, trains=PulseTrains())
        W = np.zeros((1, out * inp))
        W1 = dev.write_gradient(W, _ones_batch(out, inp), DW * 0.5 ** gamma, np.random.default_rng(14))
        assert np.allclose(W1, DW * 0.5 ** gamma)                     # every element: one UP pulse at w = 0


@pytest.mark.parametrize("gamma, tau, sp_rounded", [(0.5, 0.6, 14.4), (1.0, 0.6, 6.9), (2.0, 0.6, 3.2)])
def test_stock_expstep_has_its_sp_outside_the_range(gamma, tau, sp_rounded):
    """Stock A_up, A_down, a, b with gamma_up = gamma_down = gamma and bounds -tau, tau: up = down where
    z* = ln(A_down/A_up)/(2 gamma), w* = (z* - b) tau/a, outside [-tau, tau]: no SP, every weight drifts to +tau."""
    r = response.aihwkit_expstep(gamma=gamma, tau=tau)
    z = math.log(0.36833 / 0.00081) / (2 * gamma)
    want = (z - 0.2425) * tau / 0.244
    assert abs(want - sp_rounded) < 0.06                            # the published 14.4 / 6.9 / 3.2
    assert r.symmetric_points == () and math.isnan(r.symmetric_point)
    assert r.outside_symmetric_point == pytest.approx(want, rel=1e-9)
    assert r.no_sp_note.startswith(f"no symmetric point in [-{tau:g}, {tau:g}]: every weight drifts to +{tau:g} "
                                   "(G < 0 everywhere)")
    assert np.all(r.G(np.linspace(-tau, tau, 101)) < 0)
    zb = -gamma * 0.2425                                             # the granularity: the DOWN step at w = 0
    assert r.granularity == pytest.approx(1 - 0.36833 * math.exp(zb), rel=1e-14) == pytest.approx(float(r.q_minus(0.0)))
    # the weights do drift to +tau: noise-free alternating pulses from 0 end near the upper bound
    dev = device.Device(r, dw_min=1e-2)
    w = np.zeros(1)
    for k in range(4000):
        w = dev.pulse(w, 1.0 if k % 2 == 0 else -1.0, None)
    assert w[0] > 0.9 * tau


def test_stock_expstep_defaults():
    """The stock exponents 12.44625 / 12.78785 and bounds -1, 1: SP about 7e-5 (devices.md)."""
    r = response.aihwkit_expstep()
    assert r.symmetric_point == pytest.approx(7e-5, abs=5e-6) and r.no_sp_note is None


def _cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_commands_report_no_sp(capsys):
    note = "no symmetric point in [-0.6, 0.6]: every weight drifts to +0.6 (G < 0 everywhere)"
    code, out, err = _cli(capsys, "derive", "--response", "aihwkit-expstep", "-p", "gamma=0.5", "-p", "tau=0.6",
                          "--json")
    data = json.loads(out)
    assert code == 0 and data["symmetric_points"] == [] and any(n.startswith(note) for n in data["notes"])
    code, out, err = _cli(capsys, "derive", "--response", "aihwkit-expstep", "-p", "gamma=1", "-p", "tau=0.6")
    assert code == 0 and f"note: {note}" in out
    code, out, err = _cli(capsys, "fixed-point", "--response", "aihwkit-expstep", "-p", "gamma=0.5", "-p", "tau=0.6",
                          "--w-star", "0.3", "--json")
    data = json.loads(out)      # the exact drift root needs no SP; P1 eq. 43's small-bias form has no anchor
    assert code == 0
    assert data["small_bias"] is None and -0.6 < data["exact"] < 0.6 and any(note in n for n in data["notes"])
    code, out, err = _cli(capsys, "simulate", "--response", "aihwkit-expstep", "-p", "gamma=0.5", "-p", "tau=0.6",
                          "--w-star", "0.3", "--pulses", "--dw-min", "1e-3", "--sigma-c", "0.3", "--c2c-model",
                          "multiplicative", "--steps", "200", "--chains", "16", "--json")
    data = json.loads(out)
    assert code == 0 and data["provenance"]["arguments"]["c2c_model"] == "multiplicative"
