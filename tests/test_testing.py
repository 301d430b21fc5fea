"""aimc_theory.testing: the assertions pass for devices where theory and simulation agree, fail (with
both numbers) for a wrong theory, and the example test file runs."""
import runpy
from pathlib import Path

import pytest

from aimc_theory import testing


def test_assertions_pass_and_return_numbers():
    out = testing.assert_analog_sgd_fixed_point(response="preset:capacitor", w_star=0.4, chains=500, steps=2000)
    assert out["bias"] < 0 and abs(out["simulated"] - out["theory"]) <= out["tolerance"]
    out = testing.assert_calibration_floor(response="preset:ecram", w0=0.2, pulses=3000, chains=500)
    assert out["symmetric_point"] == pytest.approx(0.0, abs=1e-9)


def test_a_wrong_expectation_fails_with_both_numbers(monkeypatch):
    """Negative control: shift the theory's SP (the simulation keeps the device) and the assertion fails."""
    real = testing._fp_params
    monkeypatch.setattr(testing, "_fp_params", lambda p: real(p) | {"sp_shift": 0.2})
    with pytest.raises(AssertionError, match="theory .* simulated"):
        testing.assert_analog_sgd_fixed_point(response="preset:ecram", w_star=0.4, chains=500, steps=2000)


def test_the_example_test_file_passes():
    ns = runpy.run_path(str(Path(__file__).resolve().parents[1] / "examples" / "test_my_device.py"))
    for name, fn in ns.items():
        if name.startswith("test_"):
            fn()
