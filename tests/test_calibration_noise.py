"""Zero-shifting calibration with cycle-to-cycle noise (issue 22, item 2): the theory's moment recursions with the
noise term (aimc_theory.symbolic.calibration) against seeded simulations (aimc_theory.calibration), the noise-free
limit, the command's output and the input errors."""
import json
import math

import numpy as np
import pytest

from aimc_theory import calibration, device, response, testing
from aimc_theory.cli import main
from aimc_theory.errors import InputError
from aimc_theory.symbolic import derive
from aimc_theory.symbolic.calibration import calibration_next_order, calibration_theory, with_noise

DW = 1e-3


@pytest.fixture(scope="module")
def f3():
    """Spec F.3's asymmetric soft-bounds device (affine: the recursions are exact), SP 0.12."""
    resp = response.from_expressions("1 - w", "0.8*(1 + w/1.2)")
    return resp, derive(resp, penalty=False)


def _brute_force(th, scheme: str, x0: float, n: int):
    """(E x_k, E x_k^2) for k = 0..n by iterating each pulse's affine map x' = alpha x + beta + xi (gamma x + delta)
    (the stochastic scheme: the average of the up and the down pulse)."""
    up, down = th._pulse_coefficients()
    m1, m2, out = x0, x0 ** 2, []
    for k in range(n + 1):
        out.append((m1, m2))
        pulses = [up if k % 2 == 0 else down] if scheme == "cyclic" else [up, down]
        nxt = [(a * m1 + b, (a * a + g * g) * m2 + 2 * (a * b + g * d) * m1 + b * b + d * d) for a, b, g, d in pulses]
        m1, m2 = np.mean([p[0] for p in nxt]), np.mean([p[1] for p in nxt])
    return np.array(out)


@pytest.mark.parametrize("model", ["additive", "multiplicative"])
def test_closed_forms_equal_the_pulse_by_pulse_recursion(f3, model):
    th = calibration_theory(f3[1], DW, sigma_c=0.7, c2c_model=model)
    n = np.arange(3001)
    ref = _brute_force(th, "cyclic", 0.05, 3000)
    var = th.cyclic_variance(0.05, n)
    assert np.allclose(th.cyclic_errors(0.05, n), ref[:, 0], rtol=1e-12, atol=1e-18)
    assert np.allclose(var, ref[:, 1] - ref[:, 0] ** 2, rtol=1e-9, atol=1e-15)
    ref = _brute_force(th, "stochastic", 0.05, 3000)
    m1, m2 = th.stochastic_moments(0.05, n)
    assert np.allclose(m2, ref[:, 1], rtol=1e-12) and np.allclose(m1, ref[:, 0], rtol=1e-12, atol=1e-18)
    # the stationary values are the limits of the recursions
    far = np.array([400_000, 400_001])
    assert th.stochastic_second_moment == pytest.approx(float(th.stochastic_moments(0.05, far[0])[1]), rel=1e-12)
    vu, vd = th.cycle_variance
    assert th.cyclic_variance(0.05, far) == pytest.approx([vd, vu], rel=1e-12)


def test_stationary_closed_forms(f3):
    th0 = calibration_theory(f3[1], DW)
    c, kp, km = th0.step, th0.kappa_up, th0.kappa_down
    a = ((1 - kp) ** 2 + (1 - km) ** 2) / 2
    s = 0.4
    add = calibration_theory(f3[1], DW, sigma_c=s)
    assert add.stochastic_second_moment == pytest.approx((c ** 2 + (DW * s) ** 2) / (1 - a), rel=1e-12)
    rho2 = (1 - kp) * (1 - km)
    vu, vd = add.cycle_variance
    assert vd == pytest.approx((DW * s) ** 2 * (1 + (1 - km) ** 2) / (1 - rho2 ** 2), rel=1e-12)
    assert vu == pytest.approx((DW * s) ** 2 * (1 + (1 - kp) ** 2) / (1 - rho2 ** 2), rel=1e-12)
    mult = calibration_theory(f3[1], DW, sigma_c=s, c2c_model="multiplicative")
    assert mult.stochastic_second_moment == pytest.approx(
        c ** 2 * (1 + s ** 2) / (1 - a - s ** 2 * (kp ** 2 + km ** 2) / 2), rel=1e-12)
    xu, xd = th0.cycle
    ap, am = (1 - kp) ** 2 + (s * kp) ** 2, (1 - km) ** 2 + (s * km) ** 2
    assert mult.cycle_variance[1] == pytest.approx((s * (xu - xd)) ** 2 * (1 + am) / (1 - ap * am), rel=1e-12)
    # the noise leaves the means alone
    assert mult.cycle == th0.cycle and mult.mean_contraction == th0.mean_contraction


def test_noise_free_limit_reproduces_the_old_numbers_exactly(f3):
    th0 = calibration_theory(f3[1], DW)
    assert with_noise(th0, 0.0) is th0 and with_noise(th0, 0.0, "multiplicative") is th0
    sb = calibration_theory(derive(response.softbounds(tau=1.0, sp=0.12), penalty=False), DW, sigma_c=0.0)
    c, kp, km = sb.step, sb.kappa_up, sb.kappa_down
    # the closed forms as they were (spec F.3), bit for bit
    assert sb.stochastic_second_moment == c ** 2 / (1 - 0.5 * ((1 - kp) ** 2 + (1 - km) ** 2))
    assert float(sb.floor("cyclic")) == abs(-c * km / (kp + km - kp * km))
    x = sb.cyclic_errors(0.3, np.array(777))
    assert sb.errors_after("cyclic", 0.3, 777) == (x, np.abs(x))
    assert np.all(sb.cyclic_variance(0.3, np.arange(10)) == 0) and sb.cycle_variance == (0.0, 0.0)
    # numbers of the noise-free theory before the noise was added (same device, dw, start)
    assert sb.stochastic_second_moment == 0.000500250125062538
    assert float(sb.floor("cyclic")) == 0.0005002501250625312
    assert sb.pulses_to_tolerance("cyclic", 0.3, 0.01) == 3452.0
    assert sb.pulses_to_tolerance("stochastic", 0.3, 0.05) == 1900.0
    assert float(sb.errors_after("stochastic", 0.3, 777)[1]) == pytest.approx(0.13930489125920661, rel=1e-14)
    nxt = calibration_next_order(f3[1], DW, sigma_c=0.0)
    assert nxt.floor_linear == pytest.approx(float(th0.stochastic_second_moment), rel=1e-14)


def _last_moment(res) -> tuple[float, float]:
    """E(w_N - SP)^2 over the devices and its SE."""
    sq = res.error ** 2
    return float(sq.mean()), float(sq.std(ddof=1) / math.sqrt(sq.size))


@pytest.mark.parametrize("scheme", ["stochastic", "cyclic"])
@pytest.mark.parametrize("model", ["additive", "multiplicative"])
def test_theory_matches_a_seeded_simulation_and_the_noise_free_theory_does_not(f3, scheme, model):
    """E(w_N - SP)^2 after N pulses from SP + 0.02: within 3 SE of the exact recursion (an affine device: no
    model allowance); the noise-free theory misses it."""
    resp, der = f3
    th = calibration_theory(der, DW, sigma_c=1.0, c2c_model=model)
    x0, pulses = 0.02, 2000
    res = calibration.zero_shift(device.Device(resp, dw_min=DW, sigma_c=1.0), float(th.symmetric_point) + x0,
                                 pulses, scheme, devices=3000, seed=5, c2c_model=model)
    measured, se = _last_moment(res)
    pred = float(th.errors_after(scheme, x0, pulses)[1]) ** 2
    assert abs(measured - pred) <= 3 * se, (measured, pred, se)
    quiet = float(calibration_theory(der, DW).errors_after(scheme, x0, pulses)[1]) ** 2
    assert abs(measured - quiet) > 3 * se
    # where the devices are: the mean of the noise-free maps
    mean, rms = th.errors_after(scheme, x0, pulses)
    assert abs(float(res.error.mean()) - float(mean)) <= 3 * float(res.error.std(ddof=1)) / math.sqrt(res.w.size)


def test_zero_shift_noise_models():
    resp = response.softbounds(tau=1.0, sp=0.1)
    base = calibration.zero_shift(device.Device(resp, dw_min=DW, sigma_c=0.5), 0.3, 300, "stochastic", devices=20,
                                  seed=1)
    same = calibration.zero_shift(device.Device(resp, dw_min=DW, sigma_c=0.5), 0.3, 300, "stochastic", devices=20,
                                  seed=1, c2c_model="additive")
    assert np.array_equal(base.w, same.w)          # the default is the additive model, unchanged
    mult = calibration.zero_shift(device.Device(resp, dw_min=DW, sigma_c=0.5), 0.3, 300, "stochastic", devices=20,
                                  seed=1, c2c_model="multiplicative")
    assert not np.array_equal(base.w, mult.w)
    quiet = [calibration.zero_shift(device.Device(resp, dw_min=DW), 0.3, 300, "cyclic", c2c_model=m).w
             for m in ("additive", "multiplicative")]
    assert np.array_equal(*quiet)                  # no noise: the model does not matter


@pytest.mark.parametrize("call, name", [
    (lambda d: calibration_theory(d, DW, sigma_c=-0.1), "sigma_c"),
    (lambda d: calibration_theory(d, DW, sigma_c=float("nan")), "sigma_c"),
    (lambda d: calibration_theory(d, DW, sigma_c=0.3, c2c_model="gaussian"), "c2c_model"),
    (lambda d: calibration_theory(d, DW, sigma_c=1e3, c2c_model="multiplicative"), "sigma_c"),
    (lambda d: calibration_next_order(d, DW, sigma_c=-1.0), "sigma_c"),
])
def test_bad_noise_is_an_input_error(f3, call, name):
    with pytest.raises(InputError) as e:
        call(f3[1])
    assert e.value.args[0] == name or name in str(e.value)


def test_zero_shift_rejects_an_unknown_noise_model():
    with pytest.raises(InputError, match="c2c_model"):
        calibration.zero_shift(device.Device(response.softbounds(sp=0.1), dw_min=DW, sigma_c=0.3), 0.0, 10,
                               c2c_model="mult")
    with pytest.raises(InputError, match="sigma_c"):
        device.Device(response.softbounds(sp=0.1), dw_min=DW, sigma_c=-0.3)


def test_calibrate_reports_the_noisy_theory_and_what_settling_means(capsys):
    args = ["calibrate", "--response", "softbounds", "--dw-min", "1e-3", "--scheme", "cyclic", "--sigma-c", "0.3",
            "--pulses", "6000", "--chains", "400"]
    assert main(args + ["--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    th, sim = d["theory"], d["simulated"]
    assert d["c2c_noise"] == {"sigma_c": 0.3, "model": "additive"} and not d["settling"]["comparable"]
    assert th["floor"] > 10 * th["floor_without_noise"] and min(th["cycle_spread"]) > 0
    assert abs(sim["rms_error"] - th["rms_error"]) <= 3 * sim["rms_error"] / math.sqrt(2 * 400)
    assert abs(sim["fraction_settled"] - th["fraction_within_tolerance"]) <= 3 * math.sqrt(0.25 / 400)
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "cycle-to-cycle noise sigma_c 0.3 (additive)" in out and "No theory for the simulated count" in out
    assert "spread sd" in out and "within tolerance at N" in out
    assert main(args[:-4] + ["--c2c-model", "bogus"]) == 2
    assert "--c2c-model" in capsys.readouterr().err
    assert main(args[:-4] + ["--sigma-c", "-1"]) == 2
    assert "--sigma-c" in capsys.readouterr().err


def test_calibrate_population_with_noise(capsys):
    assert main(["calibrate", "--response", "softbounds", "-p", "sp=0.1", "--dw-min", "1e-3", "--scheme", "stochastic",
                 "--sigma-c", "1", "--gain-dtod", "0.1", "--pulses", "3000", "--chains", "400", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    th, sim = d["theory"], d["simulated"]
    assert th["rms_error"] > 1.2 * th["rms_error_without_noise"]
    assert abs(sim["rms_error"] - th["rms_error"]) <= 3 * sim["rms_error"] / math.sqrt(2 * 400)


@pytest.mark.parametrize("scheme, sigma", [("stochastic", 1.0), ("cyclic", 0.3)])
def test_assert_calibration_floor_with_noise_on_a_preset(scheme, sigma):
    out = testing.assert_calibration_floor(response="preset:ecram", w0=0.1, pulses=4000, chains=1000, sigma_c=sigma,
                                           scheme=scheme)
    # the noise-free theory (the old one) would have failed the same comparison (stochastic: at sigma_c 0.3 the
    # noise adds ~4% to the floor, below what 1000 devices resolve)
    assert abs(out["simulated"] - out["theory_without_noise"]) > out["tolerance"]


def test_next_order_with_noise():
    der = derive(response.exponential(tau=1.0, gamma=1.0), penalty=False)
    for model in ("additive", "multiplicative"):
        th = calibration_theory(der, DW, sigma_c=0.5, c2c_model=model)
        nxt = calibration_next_order(der, DW, sigma_c=0.5, c2c_model=model)
        assert nxt.floor_linear == pytest.approx(float(th.stochastic_second_moment), rel=1e-9)
        assert 0 < abs(nxt.floor_correction) < 5 * DW * nxt.floor_linear       # a relative O(dw) term
    affine = derive(response.softbounds(tau=1.0, sp=0.1), penalty=False)
    assert calibration_next_order(affine, DW, sigma_c=0.5, c2c_model="multiplicative").floor_correction == 0


# -- pulses_to_tolerance: the bisection shortcut against the full scan ---------------------------------------

def test_pulses_to_tolerance_bisection_equals_the_full_scan(monkeypatch):
    """Random scalar devices (soft bounds with a random SP, linear with a random asymmetry, random step scales),
    dw_min in [1e-5, 1e-2], with and without cycle-to-cycle noise (additive, multiplicative), x0 of both signs
    and tolerances between the floor and |x0| (some just above the floor): wherever the O(log n) bisection
    answers, it must give exactly the full scan's pulse count (the same closed forms at the same counts)."""
    from aimc_theory.symbolic.calibration import CalibrationTheory
    rng = np.random.default_rng(20261203)
    derivations = [derive(response.softbounds(tau=1.0, sp=float(s)), penalty=False) for s in rng.uniform(-0.3, 0.3, 2)]
    derivations += [derive(response.linear(tau=1.0, c=float(c)), penalty=False) for c in rng.uniform(-0.4, 0.4, 2)]
    original = CalibrationTheory._pulses_by_bisection
    seen = []

    def recording(self, *args):
        seen.append(original(self, *args))
        return seen[-1]

    compared = 0
    for i in range(60):     # the scan costs ~1/dw_min: 12 devices over [1e-5, 1e-2] (2 cases each), 48 over [1e-3, 1e-2]
        d = derivations[rng.integers(len(derivations))]
        dw = float(10 ** rng.uniform(-5 if i < 12 else -3, -2))
        sigma = float(rng.choice([0.0, rng.uniform(0.05, 1.0)]))
        model = str(rng.choice(["additive", "multiplicative"]))
        th = calibration_theory(d, dw, float(rng.uniform(0.6, 1.4)), float(rng.uniform(0.6, 1.4)),
                                sigma_c=sigma, c2c_model=model)
        for scheme in ("stochastic", "cyclic"):
            floor = max(float(th.floor(scheme, 0)), float(th.floor(scheme, 1)))
            x0 = float(rng.choice([-1, 1]) * rng.uniform(1.05 * floor, 0.6))
            tols = [floor + rng.uniform() * (abs(x0) - floor), floor * (1 + 10 ** rng.uniform(-8, -2))]
            if i < 12:
                tols = tols[:1] if scheme == "cyclic" or not th.noisy else tols[1:]
            for tol in tols:
                with monkeypatch.context() as m:
                    m.setattr(CalibrationTheory, "_pulses_by_bisection", recording)
                    fast = th.pulses_to_tolerance(scheme, x0, tol)
                assert (seen[-1] is None) == (scheme == "cyclic" and th.noisy)    # else the shortcut applies
                if seen[-1] is None:
                    continue        # scanned anyway
                with monkeypatch.context() as m:
                    m.setattr(CalibrationTheory, "_pulses_by_bisection", lambda *a: None)
                    slow = th.pulses_to_tolerance(scheme, x0, tol)
                assert fast == slow, (scheme, dw, sigma, model, x0, tol)
                compared += 1
    assert compared >= 150


def test_pulses_to_tolerance_bisection_on_the_geometric_grid(monkeypatch):
    """Beyond the exactly counted range the scan uses a geometric grid of counts; the bisection walks the same
    grid (the range shrunk here so the scan stays quick). A population (arrays) is always scanned."""
    from aimc_theory.symbolic.calibration import CalibrationTheory
    monkeypatch.setattr(CalibrationTheory, "_EXACT_COUNTS", 3000)
    d = derive(response.softbounds(tau=1.0, sp=0.12), penalty=False)
    answers = []
    for dw, sigma, model, x0, tol, n_max in ((1e-4, 0.0, "additive", 0.38, 0.04, 400_000),
                                             (3e-4, 0.5, "additive", -0.5, 0.03, 400_000),
                                             (2e-4, 0.8, "multiplicative", 0.38, 0.04, 3500)):
        th = calibration_theory(d, dw, 1.1, 0.9, sigma_c=sigma, c2c_model=model)
        fast = th._pulses_by_bisection("stochastic", x0, tol, n_max)
        assert fast is not None and fast == th._pulses_by_scan("stochastic", x0, tol, n_max)
        answers.append(fast)
    assert min(answers) == 3501 and max(answers) > 10_000       # the grid's last count, and an answer on the grid
    pop = calibration_theory(d, 1e-3, np.array([0.9, 1.1]), np.array([1.0, 1.0]))
    assert pop._pulses_by_bisection("stochastic", 0.38, 0.04, 10_000) is None
