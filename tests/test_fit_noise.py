"""aimc-theory fit on a measured device: the cycle-to-cycle noise and the SP with standard errors (recovered
from seeded synthetic sweeps within k = 4 SE, and a wrong value rejected), noise vs misfit (the right family
says noise, a wrong one misfit), additive vs multiplicative noise, the conductance-to-weight map (round trip),
explicit bounds, fitted vs fixed parameters, and bad options named by their Python names."""
import json
import math

import numpy as np
import pytest

from aimc_theory import commands, fit, presets
from aimc_theory.cli import main
from aimc_theory.errors import InputError

K = 4            # standard errors of the tolerance (no other allowance: the estimators are unbiased to O(1/N))
SIGMA_C = 0.3


@pytest.fixture(scope="module")
def ecram_csv(tmp_path_factory):
    """The ECRAM preset (linear step, SP 0, q(SP) = 1) with cycle noise 0.3 dw_min, seeded."""
    p = presets.get("ecram")
    path = tmp_path_factory.mktemp("fit") / "ecram.csv"
    path.write_text(fit.synthetic_sweeps(p.response(), p.dw_min, sigma_c=SIGMA_C, seed=11))
    return path


@pytest.fixture(scope="module")
def ecram_fits(ecram_csv):
    return {r.family: r for r in fit.fit(fit.read(ecram_csv))}


def sweeps_csv(path, qp, qm, lo, hi, dw, sigma, multiplicative=False, cycles=2, pulses=400, w0=0.0, seed=0):
    """Up/down sweeps of w <- clip(w +- dw (q(w) + sigma xi)) (additive, as Device) or
    w <- clip(w +- dw q(w) (1 + sigma xi)) (multiplicative): responses Device cannot build (no SP inside)
    and the multiplicative reading."""
    rng = np.random.default_rng(seed)
    w, lines = float(w0), ["cycle,direction,pulse,w"]
    for c in range(cycles):
        for name, sign, q in (("up", 1.0, qp), ("down", -1.0, qm)):
            lines.append(f"{c},{name},0,{w!r}")
            for k in range(1, pulses + 1):
                xi = rng.standard_normal()
                step = q(w) * (1 + sigma * xi) if multiplicative else q(w) + sigma * xi
                w = min(max(w + sign * dw * step, lo), hi)
                lines.append(f"{c},{name},{k},{w!r}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cycle_noise_recovered_within_its_standard_error(ecram_fits):
    r = ecram_fits["linear"]
    n = r.noise
    assert abs(n["sigma_c"] - SIGMA_C) < K * n["sigma_c_se"], n
    assert abs(n["model_free_sigma_c"] - SIGMA_C) < K * n["model_free_sigma_c_se"], n
    assert 0.002 < n["sigma_c_se"] < 0.01                      # 1/sqrt(2N) of 0.3 and dw_min's share
    # negative controls: the noise of successive-step differences read without the 1/2 (sqrt(2) sigma_c), and
    # the residual rms taken in weight units for dw_min units when dw_min = 0.002 (a factor 500) are rejected
    assert abs(n["sigma_c"] - math.sqrt(2) * SIGMA_C) > K * n["sigma_c_se"]
    assert abs(n["model_free_sigma_c"] - math.sqrt(2) * SIGMA_C) > K * n["model_free_sigma_c_se"]
    assert n["favoured"] in ("additive", "undetermined")


def test_noise_of_sampled_sweeps_counts_the_pulses_between_rows(tmp_path, ecram_csv):
    """Rows 2 pulses apart: each step is the mean of 2 pulses (noise variance sigma^2/2), weighted back."""
    lines = ecram_csv.read_text().splitlines()
    kept = [lines[0]] + [x for x in lines[1:] if int(x.split(",")[2]) % 2 == 0]
    path = tmp_path / "every-second.csv"
    path.write_text("\n".join(kept) + "\n")
    r = fit.fit(fit.read(path), ["linear"])[0]
    assert set(fit.read(path).n_up) == {2.0}
    for k in ("sigma_c", "model_free_sigma_c"):
        assert abs(r.noise[k] - SIGMA_C) < K * r.noise[k + "_se"], (k, r.noise)
        assert abs(r.noise[k] - SIGMA_C / math.sqrt(2)) > K * r.noise[k + "_se"]      # unweighted: sigma/sqrt(2)


def test_symmetric_point_recovered_within_its_standard_error(ecram_fits):
    r = ecram_fits["linear"]
    (sp,) = r.symmetric_points
    true_sp = 0.0                                   # the ECRAM preset's SP
    assert abs(sp["w"] - true_sp) < K * sp["se"] and 0.005 < sp["se"] < 0.05
    # the delta method agrees with the closed form SP = (a+ - a-)/(b+ + b-) (first order, independent directions)
    p, se = r.params, r.se
    b = p["b_plus"] + p["b_minus"]
    closed = math.sqrt((se["a_plus"] ** 2 + se["a_minus"] ** 2) / b ** 2
                       + (p["a_plus"] - p["a_minus"]) ** 2 / b ** 4 * (se["b_plus"] ** 2 + se["b_minus"] ** 2))
    assert sp["se"] == pytest.approx(closed, rel=0.05)
    assert abs(sp["w"] - (true_sp + 0.1)) > K * sp["se"]             # negative control: an SP moved by 0.1
    # dw_min: the mean step at the SP, 0.002 for the preset
    assert abs(r.dw_min - 0.002) < K * r.dw_min_se
    assert abs(r.dw_min - 0.002 * 1.05) > K * r.dw_min_se


def test_no_symmetric_point_in_the_range(tmp_path, capsys):
    path = sweeps_csv(tmp_path / "nosp.csv", lambda w: 1 - 0.1 * w, lambda w: 1.5 + 0.1 * w, -1, 1, 0.004, 0.3,
                      pulses=150, w0=0.2)
    r = fit.fit(fit.read(path), ["linear"])[0]
    assert r.symmetric_points == []                 # G = 0 at w = -2.5, outside the data
    assert main(["fit", "--data", str(path), "--families", "linear"]) == 0
    assert "SP none in the range" in capsys.readouterr().out


def test_right_family_says_noise_wrong_family_says_misfit(ecram_fits):
    right = ecram_fits["linear"].goodness
    assert right["verdict"] == "noise" and right["p_value"] >= fit.ALPHA
    assert right["statement"].startswith("R^2 is low because the per-step data are noise-dominated: residuals are "
                                         "consistent with noise (")
    assert ecram_fits["linear"].r2_up < right["best_r2_up"] + 0.05       # the R^2 the noise allows
    for wrong in ("softbounds", "power"):                                # ECRAM is a linear step
        g = ecram_fits[wrong].goodness
        assert g["verdict"] == "misfit" and g["p_value"] < fit.ALPHA and g["statement"].startswith("misfit:"), wrong


def test_observed_range_as_bounds_is_a_misfit_the_true_bounds_fit(tmp_path):
    """Soft bounds on [-1, 1] swept to +-0.5 only: the softbounds family with the observed extremes as its
    bounds misfits; given the device's bounds it fits (noise)."""
    path = sweeps_csv(tmp_path / "sb.csv", lambda w: 1 - w, lambda w: 1 + w, -1, 1, 0.004, 0.3, pulses=120,
                      w0=-0.25)
    s = fit.read(path)
    assert s.hi < 0.7 and not s.bounds_given
    observed = fit.fit(s, ["softbounds"])[0]
    assert observed.goodness["verdict"] == "misfit"
    assert observed.fixed == {"w_min": s.lo, "w_max": s.hi} and "observed extremes" in observed.fixed_note
    given = fit.fit(fit.read(path, bounds="-1,1"), ["softbounds"])[0]
    assert given.goodness["verdict"] == "noise" and given.fixed == {"w_min": -1.0, "w_max": 1.0}
    assert abs(given.params["a_plus"] - 2 * 0.004) < K * given.se["a_plus"]       # q+ = (1 - w) = 2 (1 - w)/R


@pytest.mark.parametrize("multiplicative, favoured", [(False, "additive"), (True, "multiplicative")])
def test_additive_or_multiplicative_noise_is_told_apart(tmp_path, multiplicative, favoured):
    """Soft bounds swept across most of [-1, 1]: q from about 0.1 to 1.9 separates sigma_c^2 from sigma_m^2 q^2."""
    path = sweeps_csv(tmp_path / "m.csv", lambda w: 1 - w, lambda w: 1 + w, -1, 1, 0.01, SIGMA_C, multiplicative,
                      cycles=3, pulses=300, seed=3)
    r = fit.fit(fit.read(path), ["linear"])[0]
    n = r.noise
    assert n["favoured"] == favoured, n["evidence"]
    key = "sigma_multiplicative" if multiplicative else "sigma_c"
    assert abs(n[key] - SIGMA_C) < K * n[key + "_se"], n


def test_n_params_counts_the_fitted_parameters_only(ecram_fits, ecram_csv, capsys):
    for r in ecram_fits.values():
        assert r.n_params == len(r.params) == len(r.se) == r.cov.shape[0], r.family
        assert not set(r.fixed) & set(r.params)
    assert set(ecram_fits["exponential"].fixed) == {"w_mid"} and set(ecram_fits["power"].fixed) == {"w_min", "w_max"}
    assert main(["fit", "--data", str(ecram_csv), "--families", "power"]) == 0
    out = capsys.readouterr().out
    assert "best: power (lowest BIC), 3 fitted: a_plus" in out and "fixed (not fitted): w_min" in out
    assert "the observed extremes, taken as the device's bounds" in out


def test_conductance_map_round_trips(tmp_path, ecram_csv, capsys):
    g_min, g_max, units = 73.0, 143.0, "uS"
    m = fit.conductance_map(g_min, g_max, None, units)
    w = np.linspace(-1, 1, 7)
    assert np.allclose(fit.to_weight(fit.to_data_units(w, m), m), w, rtol=0, atol=1e-14)
    assert fit.to_weight(np.array([g_min, g_max]), m).tolist() == [-1.0, 1.0]
    lines = ecram_csv.read_text().splitlines()
    rows = [lines[0].replace(",w", ",g")]
    for x in lines[1:]:
        c, d, k, v = x.split(",")
        rows.append(f"{c},{d},{k},{float(fit.to_data_units(float(v), m))!r}")
    gpath = tmp_path / "g.csv"
    gpath.write_text("\n".join(rows) + "\n")
    sw, sg = fit.read(ecram_csv), fit.read(gpath, g_min=g_min, g_max=g_max, units=units)
    assert np.allclose(sg.w_up, sw.w_up, rtol=0, atol=1e-12) and np.allclose(sg.dw_down, sw.dw_down, rtol=0,
                                                                               atol=1e-12)
    rw, rg = fit.fit(sw, ["linear"])[0], fit.fit(sg, ["linear"])[0]
    for k, v in rw.params.items():
        assert rg.params[k] == pytest.approx(v, rel=1e-6), k
    assert rg.symmetric_points[0]["w"] == pytest.approx(rw.symmetric_points[0]["w"], abs=1e-8)
    assert rg.noise["sigma_c"] == pytest.approx(rw.noise["sigma_c"], rel=1e-6)
    # the device's bounds in the data's units: [g_min, g_max] is the weight range [-1, 1]
    sb = fit.read(gpath, bounds=f"{g_min},{g_max}", g_min=g_min, g_max=g_max, range="-1,1")
    assert (sb.lo, sb.hi) == (-1.0, 1.0) and sb.bounds_given
    assert main(["fit", "--data", str(gpath), "--g-min", "73", "--g-max", "143", "--units", "uS", "--range=-1,1",
                 "--bounds", "73,143", "--families", "linear", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mapping"]["range"] == [-1.0, 1.0] and out["range"] == [-1.0, 1.0] and out["bounds_source"] == "given"
    assert out["best"]["args"][-1] == "--range=-1,1"
    assert main(["fit", "--data", str(gpath), "--g-min", "73", "--g-max", "143", "--units", "uS",
                 "--families", "linear"]) == 0
    text = capsys.readouterr().out
    assert "mapping: w = -1 + (g - 73) * 0.0285714, i.e. g in [73, 143] uS -> w in [-1, 1]" in text


@pytest.mark.parametrize("options, name", [
    ({"g_min": 73.0}, "g_max"),
    ({"g_max": 143.0}, "g_min"),
    ({"g_min": 143.0, "g_max": 73.0}, "g_max"),
    ({"g_min": 1.0, "g_max": 2.0}, "g_min"),              # the ECRAM weights (-0.53 ... 0.86) lie below g_min
    ({"g_min": -5.0, "g_max": 0.5}, "g_max"),
    ({"range": "-1,1"}, "range"),
    ({"g_min": -1.0, "g_max": 1.0, "range": "1,-1"}, "range"),
    ({"g_min": -1.0, "g_max": 1.0, "range": "x"}, "range"),
    ({"bounds": "-0.2,0.2"}, "bounds"),
    ({"bounds": "1"}, "bounds"),
    ({"bounds": "-2,2", "g_min": -1.0, "g_max": 1.0}, "bounds"),
])
def test_bad_options_name_the_parameter(ecram_csv, options, name):
    with pytest.raises(InputError) as exc:
        commands.fit(data=str(ecram_csv), **options)
    assert exc.value.param == name, str(exc.value)


def test_bad_option_on_the_command_line_names_the_flag(ecram_csv, capsys):
    assert main(["fit", "--data", str(ecram_csv), "--g-min", "2", "--g-max", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aimc-theory: error: --g-max: must be > g_min") and len(err.strip().splitlines()) == 1


def test_json_and_python_carry_the_new_quantities(ecram_csv, capsys):
    assert main(["fit", "--data", str(ecram_csv), "--families", "linear,softbounds", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bounds_source"] == "observed extremes" and out["mapping"] is None
    assert out["noise"]["sigma_c"] > 0 and out["goodness_of_fit"]["verdict"] == "noise"
    assert out["symmetric_points"][0]["se"] > 0 and out["dw_min_se"] > 0
    rows = {r["family"]: r for r in out["families"]}
    assert rows["softbounds"]["goodness_of_fit"]["verdict"] == "misfit"
    assert rows["softbounds"]["n_params"] == len(rows["softbounds"]["parameters"]) == 2
    assert set(rows["softbounds"]["fixed"]) == {"w_min", "w_max"}
