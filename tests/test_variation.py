"""Device populations: the numeric devices (stretches of the mean response, own bounds, offsets) against the
symbolic per-device expressions, the per-device Analog SGD fixed points, and the CLI's --preset-dtod."""
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from aimc_theory import calibration, device, presets, response, symbolic
from aimc_theory.cli import main
from aimc_theory.errors import InputError
from aimc_theory.symbolic.calibration import population_symmetric_points
from aimc_theory.variation import Population, Variation


@settings(max_examples=40, deadline=None)
@given(tau=st.floats(0.5, 3.0), k_up=st.floats(0.5, 2.0), k_down=st.floats(0.5, 2.0),
       s_up=st.floats(0.5, 1.5), s_down=st.floats(0.5, 1.5), lo=st.floats(0.6, 0.99), hi=st.floats(0.6, 0.99))
def test_stretched_device_sp_is_the_sp_of_its_own_expressions(tau, k_up, k_down, s_up, s_down, lo, hi):
    """Soft bounds with own bounds b+ = tau/k_up, b- = -tau/k_down: the numeric route (bisection on the
    stretched mean response) and the symbolic one (the device's own expressions) give the same SP, and it
    is the closed form (s+ - s-)/(s+/b+ + s-/|b-|) where it lies inside the device's range."""
    resp = response.softbounds(tau=tau)
    b_max, b_min = tau / k_up, -tau / k_down
    dev = device.Device(resp, dw_min=1e-3, up_scale=np.array([s_up]), down_scale=np.array([s_down]),
                        up_stretch=np.array([k_up]), down_stretch=np.array([k_down]),
                        bounds=(np.array([lo * b_min]), np.array([hi * b_max])))
    closed = (s_up - s_down) / (s_up / b_max + s_down / -b_min)
    sps, status = population_symmetric_points("1 - w/bmax", "1 - w/bmin", [s_up], [s_down], [lo * b_min], [hi * b_max],
                                              {"bmax": [b_max], "bmin": [b_min]})
    if lo * b_min < closed < hi * b_max:
        numeric = calibration.device_symmetric_points(dev)
        assert numeric[0] == pytest.approx(closed, abs=1e-9) and sps[0] == pytest.approx(closed, abs=1e-9)
        assert status[0] == "interior"
    else:
        assert status[0] == ("upper" if closed >= hi * b_max else "lower")
        with pytest.raises(InputError, match="no symmetric point"):
            calibration.device_symmetric_points(dev)


def test_population_device_pulses_and_expected_update_agree_with_own_expressions():
    """Element i of a varied array steps by s+ q+(k+ w) up, s- q-(k- w) down, clipped to its own bounds, in
    the expected-update model and at pulse level (one pulse = the expected update of one dw_min)."""
    resp = response.softbounds(tau=1.0)
    pop = Population(np.array([1.2, 0.8]), np.array([0.9, 1.1]), 0, np.array([1.5, 0.8]), np.array([0.7, 1.25]),
                     np.array([-0.9, -1.1]), np.array([0.6, 1.2]), np.array([0.05, -0.02]))
    dev = pop.device(device.Device(resp))
    w = np.array([0.1, -0.3])
    u = w - pop.offsets
    up = dev.update(w, np.array([0.01, 0.01]))
    np.testing.assert_allclose(up, w + 0.01 * pop.s_plus * (1 - pop.up_stretch * u))
    down = dev.update(w, np.array([-0.01, -0.01]))
    np.testing.assert_allclose(down, w - 0.01 * pop.s_minus * (1 + pop.down_stretch * u))
    pulsed = pop.device(device.Device(resp, dw_min=0.01)).pulse(w, np.array([1.0, -1.0]), None)
    np.testing.assert_allclose(pulsed, [up[0], down[1]])
    # saturation at the element's own (offset) bound, not the response's
    far = dev.update(np.array([0.5, 0.5]), np.array([5.0, 5.0]))
    np.testing.assert_allclose(far, pop.b_max + pop.offsets)


def test_population_fixed_points_reduce_to_the_scalar_theory():
    """Identical devices: every device's fixed point is analog_sgd_fixed_point's exact root."""
    resp = response.softbounds(tau=1.0, sp=-0.2)
    d = symbolic.derive(resp, penalty=False)
    exact = symbolic.analog_sgd_fixed_point(d, 1.0, 0.5, 0.3, 0.01).exact
    fps, status = symbolic.population_fixed_points(resp.q_plus_expr, resp.q_minus_expr, np.ones(3), np.ones(3),
                                                   resp.lo, resp.hi, 1.0, 0.5, 0.3)
    np.testing.assert_allclose(fps, exact, atol=1e-12)
    assert list(status) == ["interior"] * 3


def test_simulate_and_fixed_point_with_preset_dtod_draw_the_same_devices(capsys):
    args = ["--response", "preset:reram-sb", "--preset-dtod", "--seed", "3", "--json"]
    assert main(["fixed-point", *args, "--devices", "400"]) == 0
    theory = json.loads(capsys.readouterr().out)["d2d"]
    assert main(["simulate", *args, "--chains", "400", "--steps", "4000"]) == 0
    sim = json.loads(capsys.readouterr().out)
    se = sim["se"]
    # the population mean of the fixed points vs the mean over chains (O(lr) allowance as claim 5)
    assert abs(sim["mean"] - theory["mean"]) < 3 * se + 5 * 0.01 * abs(theory["mean"] - 0.5)
    assert sim["d2d"]["chain_mean_distribution"]["std"] == pytest.approx(
        theory["fixed_point_distribution"]["std"], rel=0.2)
    assert main(["fixed-point", "--response", "preset:reram-sb", "--preset-dtod", "--algorithm", "rider"]) == 2
    assert "analog-sgd and residual-learning" in capsys.readouterr().err
    assert main(["simulate", "--algorithm", "digital-sgd", "--gain-dtod", "0.1"]) == 2
    assert "digital-sgd has no analog array" in capsys.readouterr().err


def test_variation_draws_are_seeded_and_generic_variation_scales_only():
    a = Variation(0.2, 0.1).population(5, np.random.default_rng(1))
    b = Variation(0.2, 0.1).population(5, np.random.default_rng(1))
    np.testing.assert_array_equal(a.s_plus, b.s_plus)
    assert a.up_stretch is None and a.b_min is None and a.offsets is None
    p = presets.variation(presets.get("ecram")).population(5, np.random.default_rng(1))
    assert set(p.params) == {"gamma_up", "gamma_down"} and p.b_min.shape == (5,) and np.all(p.b_min < 0) and np.all(p.b_max > 0)


def test_network_preset_variation_varies_only_the_preset_arrays():
    """train --preset-dtod: the arrays made of the preset's devices get its population (element-wise step
    scales, stretches, own bounds); an ideal main array is not a preset device and stays as it is."""
    from aimc_theory import network
    var = presets.variation(presets.get("reram-sb"))
    ideal = device.Device(response.ideal())
    assert network._varied(ideal, var, 6, np.random.default_rng(0)) is ideal
    dev = network._varied(device.Device(presets.get("reram-sb").response()), var, 6, np.random.default_rng(0))
    assert dev.up_scale.shape == dev.up_stretch.shape == dev.bounds[0].shape == (1, 6)
    # the generic variation (--gain-dtod/--imbalance-dtod) scales every array, the main one included
    assert network._varied(ideal, Variation(0.1, 0.1), 6, np.random.default_rng(0)).up_scale.shape == (1, 6)


def test_population_rl_fixed_points_reduce_to_the_scalar_theory_and_follow_each_residual_sp():
    """Identical devices: residual_learning_fixed_point's limit; a device whose residual SP sits at 0 has no
    bias, whatever the others do."""
    resp = response.softbounds(tau=1.0, sp=0.1)
    d = symbolic.derive(resp, penalty=False)
    exact = symbolic.residual_learning_fixed_point(d, 1.0, 0.5, 0.3).exact
    lim, R0 = symbolic.population_rl_fixed_points(resp.q_plus_expr, resp.q_minus_expr, np.ones(2), np.ones(2),
                                                  1.0, 0.5, 0.3)
    np.testing.assert_allclose(lim, exact, atol=1e-12)
    # offsets: device 1 responds as q(p - o) with o = -0.1, so its SP sits at p = 0 and R_P(0) = 0
    lim, R0 = symbolic.population_rl_fixed_points(resp.q_plus_expr, resp.q_minus_expr, np.ones(2), np.ones(2),
                                                  1.0, 0.5, 0.3, offsets=np.array([0.0, -0.1]))
    assert abs(R0[1]) < 1e-12 and lim[1] == pytest.approx(0.5, abs=1e-12) and lim[0] == pytest.approx(exact)


def test_fixed_point_rl_with_preset_dtod(capsys):
    args = ["--response", "preset:reram-es", "--preset-dtod", "--algorithm", "residual-learning", "--json"]
    assert main(["fixed-point", *args, "--devices", "300"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["d2d"]["fraction_saturated"] == 0.0 and 0.005 < d["d2d"]["fixed_point_distribution"]["std"] < 0.03
    assert abs(d["d2d"]["mean"] - d["exact"]) < 0.005       # the population mean near the mean device's limit
