"""An example test file for your own device: copy it into your project's tests and run `pytest`.

It asserts, for the ECRAM preset and for a response fitted from measured sweeps, that the toolkit's
theory and its simulation agree (within 3 standard errors), and puts a number on what you care about.
Replace the response arguments with yours (`aimc-theory fit --data your_sweeps.csv` prints them).
"""
from aimc_theory import testing

ECRAM = {"response": "preset:ecram"}
FITTED = {"q_plus": "(0.0019871617 - 0.00022852829*w)/0.0019879428",   # from `aimc-theory fit --data
          "q_minus": "(0.0019921407 + 0.0012281019*w)/0.0019879428",   # examples/sweep.csv`
          "range": "-0.53163187,0.85750525"}


def test_analog_sgd_bias_of_ecram():
    out = testing.assert_analog_sgd_fixed_point(**ECRAM, w_star=0.4, noise=0.3, lr=0.01, chains=1000, steps=3000)
    assert abs(out["bias"]) < 0.1        # the implicit penalty pulls 0.4 toward the SP at 0 by this much


def test_residual_learning_needs_a_calibrated_reference():
    out = testing.assert_rl_shift_bias(0.05, **ECRAM, w_star=0.4, noise=0.3, lr=0.01, chains=1000, steps=4000)
    assert out["bias"] != 0              # a 0.05 reference error leaves a bias RL cannot remove


def test_calibration_floor_of_the_fitted_device():
    out = testing.assert_calibration_floor(**FITTED, dw_min=2e-3, w0=0.3, pulses=5000, chains=1000)
    assert out["theory"] < 0.1           # stochastic zero-shifting gets within this RMS of the SP (0.053 here)
