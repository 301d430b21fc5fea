"""Pytest-friendly assertions that theory and simulation agree for *your* device.

Each function takes the response the way every command does (``response="preset:ecram"``, or
``response="power", p={"gamma": 0.5}``, or ``q_plus=..., q_minus=..., range="LO,HI"`` as printed by
``aimc-theory fit``), computes the theory (the symbolic module, as ``fixed-point``/``calibrate`` do) and
simulates (as ``simulate``/``calibrate`` do), and raises ``AssertionError`` with both numbers when they
differ by more than ``k`` standard errors (plus the stated model allowance). On success it returns the
numbers, so a test can also look at them::

    from aimc_theory import testing

    def test_my_device_bias():
        out = testing.assert_analog_sgd_fixed_point(response="preset:ecram", noise=0.3, lr=0.01)
        assert abs(out["bias"]) < 0.05          # and the bias is small enough for my application

See ``examples/test_my_device.py``. Every call is seeded: the same call gives the same numbers.
"""
from __future__ import annotations

import math

from . import run
from .comparison import compare, extrapolate_lr
from .errors import InputError

_SIM_ONLY = ("steps", "chains", "seed", "pulses", "dw_min", "max_bl", "sigma_c", "c2c_model", "desired_bl", "backend")


def _fp_params(params: dict) -> dict:
    table = run.parameters("fixed-point")
    return {k: v for k, v in params.items() if run.normalize(k) in table or k.startswith("p.")}


def _fail(what: str, theory: float, measured: float, se: float, tol: float, k: float, params: dict) -> None:
    raise AssertionError(f"{what}: theory {theory:.6g}, simulated {measured:.6g} +- {se:.2g} (SE); |difference| "
                         f"{abs(measured - theory):.3g} > tolerance {tol:.3g} ({k:g} SE + model allowance); "
                         f"parameters {params}")


def assert_analog_sgd_fixed_point(k: float = 3.0, *, chains: int = 2000, steps: int = 4000, seed: int = 0,
                                  **params) -> dict:
    """Analog SGD on f = L/2 (w - w*)^2 stops where the implicit-penalty theory says (arXiv 2502.06309
    Thm 1/5: the root of f'(w) F(w) + E|g| G(w) = 0).

    Parameters
    ----------
    k : float
        Standard errors allowed (the simulated stationary mean's SE across chains).
    chains, steps, seed : int
        The simulation's size and seed.
    **params
        The response and the problem as for ``fixed-point``/``simulate`` (``response``, ``p``,
        ``q_plus``, ``q_minus``, ``range``, ``sp_shift``, ``L``, ``w_star``, ``noise``, ``lr``).

    Returns
    -------
    dict
        ``theory``, ``simulated`` (the stationary mean extrapolated to lr -> 0), ``se``, ``tolerance``,
        ``allowance``, ``mde``, ``bias`` (theory - w*), ``simulated_at`` (lr -> stationary mean).

    The fixed point is the lr -> 0 limit of the stationary mean, so the simulation runs at lr, 2 lr and
    4 lr (or lr/4, lr/2, lr where 4 lr would not be stable), extrapolates to lr -> 0 and the tolerance is
    k SE of that extrapolation plus its O(lr^2) remainder, measured from the third run (the catalogue's
    claim 5 does the same). ``mde`` is the smallest theory error this tolerance rejects.
    """
    params = {"algorithm": "analog-sgd"} | params
    th = run.execute(run.describe("fixed-point", _fp_params(params)))
    return _judge_limit("Analog SGD stationary point", th["exact"], params, k, chains, steps, seed)


def _judge_limit(what: str, theory: float, params: dict, k: float, chains: int, steps: int, seed: int) -> dict:
    """Simulate at three learning rates, extrapolate the stationary mean to lr -> 0, compare with the theory."""
    r = run.describe("simulate", params, chains=chains, steps=steps, seed=seed)
    lr, w_star = r.params["lr"], r.params["w_star"]

    def measure(x):
        sim = run.execute(run.describe("simulate", params | {"lr": x}, chains=chains,
                                       steps=max(steps, int(steps * lr / x)), seed=seed))
        return sim["mean"], sim["se"]

    try:
        ex = extrapolate_lr(measure, lr)
    except InputError:                   # 4 lr is beyond the step-size bound: the ladder below lr instead
        ex = extrapolate_lr(measure, lr / 4)
    c = compare(theory, ex.value, ex.se, what, k=k, allowance=ex.allowance, basis=ex.basis)
    if c.verdict != "agree":
        _fail(what, theory, ex.value, ex.se, c.tolerance, k, params)
    return {"theory": theory, "simulated": ex.value, "se": ex.se, "tolerance": c.tolerance,
            "allowance": c.allowance, "mde": c.mde, "bias": theory - w_star,
            "simulated_at": dict(zip(ex.lrs, (float(v) for v in ex.values)))}


def assert_rl_shift_bias(delta: float, k: float = 3.0, *, chains: int = 2000, steps: int = 6000, seed: int = 0,
                         **params) -> dict:
    """Residual Learning v1 with the residual array's SP off by ``delta`` keeps the bias the theory
    predicts (arXiv 2502.06309 section 4: P's SP must sit at 0; spec F.4's shifted fixed point).

    Parameters
    ----------
    delta : float
        The residual array's SP offset (``--sp-shift``).
    k, chains, steps, seed, **params
        As in :func:`assert_analog_sgd_fixed_point` (plus ``gamma``, ``beta``, ``main_response``).

    Returns
    -------
    dict
        As :func:`assert_analog_sgd_fixed_point` (the lr -> 0 extrapolation likewise).
    """
    params = {"algorithm": "residual-learning", "sp_shift": delta} | params
    th = run.execute(run.describe("fixed-point", _fp_params(params)))
    return _judge_limit("Residual Learning stationary point", th["exact"], params, k, chains, steps, seed)


def assert_calibration_floor(k: float = 3.0, *, scheme: str = "stochastic", pulses: int = 20000,
                             chains: int = 2000, seed: int = 0, **params) -> dict:
    """Zero-shifting calibration ends at the RMS error the theory predicts after ``pulses`` pulses
    (arXiv 2602.21321 Thm 2.2 / spec F.3: the stochastic floor, or the cyclic 2-cycle), with the
    device's cycle-to-cycle noise.

    The theory is sqrt(E(w_N - SP)^2) from the exact moment recursions of the pulse maps linearized at the SP
    (exact for affine responses, the start's transient included). With ``sigma_c`` > 0 the noise is a
    zero-mean term of every pulse: the stochastic floor grows to (c^2 + dw^2 sigma_c^2)/(1 - a) (additive),
    and the cyclic scheme spreads around its noise-free 2-cycle by the stationary variance of a period-2
    AR process, O(sqrt(dw_min)) instead of O(dw_min) (see :mod:`aimc_theory.symbolic.calibration`).

    Parameters
    ----------
    k : float
        Standard errors allowed; the SE of an RMS over N devices is taken as RMS/sqrt(2N) (Gaussian errors:
        the stochastic scheme's and the noisy cyclic scheme's are close to Gaussian; for the deterministic
        noise-free cyclic scheme it is a generous bound).
    scheme, pulses, chains, seed
        As for ``calibrate``.
    **params
        The response and ``dw_min`` (a preset brings its own), ``w0``, ``sigma_c`` and ``c2c_model``
        ("additive": dw_min (q(w) + sigma_c xi) per pulse, the default; "multiplicative": dw_min q(w)
        (1 + sigma_c xi), the reference simulator's ``mult_noise``), simulated and in the theory alike.

    Returns
    -------
    dict
        ``theory``, ``simulated``, ``se``, ``tolerance``, ``symmetric_point`` and ``theory_without_noise`` (the
        noise-free theory's RMS error after the same pulses: the gap to it is the noise's share).

    The allowance is 1e-9 relative (rounding): the curvature terms of a non-affine response (its second and
    third derivatives at the SP) change the floor by O(dw_min) relative and are left out.
    """
    out = run.execute(run.describe("calibrate", params, scheme=scheme, pulses=pulses, chains=chains, seed=seed))
    th, sim = out["theory"]["rms_error"], out["simulated"]["rms_error"]
    se = sim / math.sqrt(2 * chains) if chains > 1 else 0.0
    tol = k * se + 1e-9 * abs(th)
    if not abs(sim - th) <= tol:
        _fail("calibration RMS error", th, sim, se, tol, k, params)
    return {"theory": th, "simulated": sim, "se": se, "tolerance": tol, "symmetric_point": out["symmetric_point"],
            "theory_without_noise": out["theory"]["rms_error_without_noise"]}
