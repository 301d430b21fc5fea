"""aimc-theory fit: recovery of known responses from noisy pulse sweeps (within the fit's own standard
errors), family selection, bad files, and the chain data -> fit -> derive -> simulate -> check."""
import json
import math

import numpy as np
import pytest

from aimc_theory import fit, presets, run
from aimc_theory.cli import main


def sweep_csv(path, resp, dw_min, sigma_c=0.3, cycles=3, pulses=600, w0=-0.3, seed=0):
    path.write_text(fit.synthetic_sweeps(resp, dw_min, sigma_c, cycles, pulses, w0, seed))
    return path


def test_linear_step_recovered_within_its_standard_errors(tmp_path):
    p = presets.get("ecram")
    s = fit.read(sweep_csv(tmp_path / "a.csv", p.response(), p.dw_min))
    results = fit.fit(s)
    best = results[0]
    assert best.family == "linear"
    true = {"a_plus": 2e-3, "b_plus": 2e-3 * 0.1153 / 1.1724, "a_minus": 2e-3, "b_minus": 2e-3 * 0.5085 / 0.8276}
    for k, v in true.items():
        assert abs(best.params[k] - v) < 4 * best.se[k], (k, best.params[k], v, best.se[k])
    # negative control: the same check against a device with the up slope doubled fails
    assert abs(best.params["b_plus"] - 2 * true["b_plus"]) > 4 * best.se["b_plus"]


def test_exponential_step_recovered(tmp_path):
    p = presets.get("reram-es")
    s = fit.read(sweep_csv(tmp_path / "e.csv", p.response(), p.dw_min, pulses=1300, w0=-0.5))
    ranked = fit.fit(s)                        # best (lowest BIC) first
    results, best = {r.family: r for r in ranked}, ranked[0]
    assert best.family in ("exponential", "piecewise") and results["exponential"].bic < results["linear"].bic
    k = results["exponential"]
    assert abs(k.params["k"] - 2.5) < 4 * k.se["k"] and k.se["k"] < 0.5


@pytest.mark.parametrize("text, what", [
    ("direction,pulse\nup,1\n", "missing column"),
    ("direction,pulse,w\nup,1,0.1\nup,0,0.2\n", "line 3"),
    ("direction,pulse,w\n" + "".join(f"up,{i},{0.01 * i}\n" for i in range(4)), "at least 5"),
    ("direction,pulse,w\nup,1,nan\n", "line 2"),
    ("direction,pulse,w\nsideways,1,0.1\n", "line 2"),
    ("direction,pulse,w\n" + "".join(f"up,{i},0.5\n" for i in range(9)) + "".join(f"down,{i},{0.5 - 0.01 * i}\n"
                                                                                   for i in range(9)), "never moves"),
    ("direction,pulse,w\n" + "".join(f"up,{i},{-0.01 * i}\n" for i in range(9)) + "".join(f"down,{i},{0.01 * i}\n"
                                                                                   for i in range(9)), "direction"),
    ("", "empty"),
])
def test_bad_files_name_the_problem_and_the_line(tmp_path, capsys, text, what):
    f = tmp_path / "bad.csv"
    f.write_text(text)
    assert main(["fit", "--data", str(f)]) == 2
    err = capsys.readouterr().err
    assert what in err and len(err.strip().splitlines()) == 1


def test_data_fit_derive_simulate_check(tmp_path, capsys):
    """The whole chain on the ECRAM preset: the fitted response's SP agrees with the preset's within the
    fit's standard error, and Analog SGD simulated on the fitted response stops where the theory of the
    fitted response says (3 SE + the O(lr) model allowance of the catalogue); moving the SP by 0.2 in the
    theory makes the comparison fail (negative control)."""
    p = presets.get("ecram")
    path = sweep_csv(tmp_path / "d.csv", p.response(), p.dw_min)
    assert main(["fit", "--data", str(path), "--json"]) == 0
    best = json.loads(capsys.readouterr().out)["best"]
    lin = fit.fit(fit.read(path), ["linear"])[0]
    b = lin.params["b_plus"] + lin.params["b_minus"]
    sp_se = math.hypot(lin.se["a_plus"], lin.se["a_minus"]) / b          # SP = (a+ - a-)/(b+ + b-)
    assert abs(best["symmetric_points"][0] - 0.0) < 4 * sp_se
    args = {"q_plus": best["q_plus"], "q_minus": best["q_minus"], "range": f"{best['range'][0]!r},{best['range'][1]!r}"}
    common = dict(args, w_star=0.4, noise=0.3, lr=0.05)
    theory = run.execute(run.describe("fixed-point", common))["exact"]
    sim = run.execute(run.describe("simulate", common, steps=4000, chains=400, seed=1))
    tol = 3 * sim["se"] + 5 * 0.05 * abs(theory - 0.4)
    assert abs(sim["mean"] - theory) <= tol
    moved = run.execute(run.describe("fixed-point", common, sp_shift=0.2))["exact"]
    assert abs(sim["mean"] - moved) > tol


def test_example_file_fits(capsys):
    from pathlib import Path
    example = Path(__file__).resolve().parents[1] / "examples" / "sweep.csv"
    assert main(["fit", "--data", str(example)]) == 0
    out = capsys.readouterr().out
    assert "best: linear" in out and "aimc-theory derive --q-plus" in out


def test_to_response_gives_a_response_object(tmp_path):
    from aimc_theory import device, presets
    p = presets.get("ecram")
    s = fit.read(sweep_csv(tmp_path / "e.csv", p.response(), p.dw_min, pulses=600, w0=-0.5))
    best = fit.fit(s, ["linear"])[0]
    resp, dw_min = fit.to_response(best, s)
    assert resp.lo == s.lo and resp.hi == s.hi and dw_min > 0
    device.Device(resp, dw_min=dw_min)             # usable as a device at once
    assert resp.symmetric_points == pytest.approx(fit.as_response(best, s)["symmetric_points"])


def test_tails_are_scipy_stats_own():
    """fit reads the normal and F tails from scipy.special (scipy.stats costs ~0.5 s to import): the same numbers
    as scipy.stats.norm.sf and scipy.stats.f.sf where fit evaluates them (F >= 0, df >= 1)."""
    from scipy import special, stats
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.standard_normal(2000) * 6, [0.0, -0.0, np.inf, -np.inf, np.nan, 40.0, -40.0]])
    assert np.array_equal(stats.norm.sf(x), special.ndtr(-x), equal_nan=True)
    F = np.concatenate([np.abs(rng.standard_normal(500)) * 4, [0.0, np.inf, np.nan, 1e300]])
    d1, d2 = rng.integers(1, 60, F.size), rng.integers(1, 6000, F.size)
    assert np.array_equal(stats.f.sf(F, d1, d2), special.fdtrc(d1, d2, F), equal_nan=True)
