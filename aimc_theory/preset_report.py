"""What the toolkit says about a preset device: its derived SP and pulses per e-fold
(:func:`preset_summary`), and the distribution of its devices' SPs under its device-to-device
variation, computed by theory and measured by pulsing every device (:func:`sp_spread`,
``aimc-theory presets NAME --devices N``).

Both sides start from the same drawn devices (:meth:`aimc_theory.presets.PresetVariation.population`):
the theory solves each device's expressions (``Preset.device_forms`` with its drawn bounds or slopes) by
bisection in the symbolic module; the measurement pulses :class:`~aimc_theory.device.Device` arrays that
stretch the mean response (the numeric path), so a wrong stretch rule or a wrong expression shows up as
a disagreement.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import InputError
from .presets import Preset, pulse_devices, pulses_per_efold_mean, unmodelled_dtod, variation
from .runtime import check_memory
from .symbolic import derive
from .symbolic.calibration import calibration_theory, population_symmetric_points


def preset_summary(p) -> dict:
    """One preset with the toolkit's derivations (the symbolic module: SP, R'(SP), the pair map)."""
    d = derive(p.response(), penalty=False)
    out = p.as_dict()
    if d.every_point_symmetric:
        return out | {"symmetric_point": None, "pulses_per_efold_mean": None, "pulses_per_efold_alternating": None,
                      "penalty_curvature": None, "explanation": "q+ = q-: every point is symmetric, no SP; " + p.note}
    sp_ = float(d.symmetric_point)
    g_prime = float(d.penalty_curvature) * float(d.F_fn(np.array([sp_]))[0])      # R'(SP) F(SP) = G'(SP)
    alt = None
    try:
        th = calibration_theory(d, p.dw_min)
        m = th.pair_contraction_exact if th.pair_contraction_exact is not None else th.pair_contraction
        alt = -2.0 / float(np.log(abs(float(m)))) if 0 < abs(float(m)) < 1 else None
    except InputError as exc:
        out["explanation"] = f"alternating pulses: {exc}"
    return out | {"symmetric_point": sp_, "pulses_per_efold_mean": pulses_per_efold_mean(g_prime, p.dw_min),
                  "pulses_per_efold_alternating": alt, "penalty_curvature": float(d.penalty_curvature),
                  "sp_stability": d.sp_stability[0] if getattr(d, "sp_stability", None) else None}


def population_forms(pop, preset: Preset | None = None, resp=None):
    """What the theory solves for each drawn device of ``pop``: (q+ and q- expressions, their per-device
    parameters or None, each device's range (lo, hi) before its offset, its offset). A preset's own
    per-device expressions with the drawn bounds or slopes (``preset.device_forms``), or its mean
    expressions; without a preset the response's expressions (only the step scales vary)."""
    if preset is not None and preset.device_forms:
        forms, params = preset.device_forms, pop.params
    elif preset is not None:
        forms, params = (preset.q_plus, preset.q_minus), None
    else:
        forms, params = (resp.q_plus_expr, resp.q_minus_expr), None
    if pop.b_min is not None:
        lo, hi = pop.b_min, pop.b_max
    else:
        lo, hi = (resp.lo, resp.hi) if resp is not None else (preset.w_min, preset.w_max)
    return forms, params, lo, hi, (0.0 if pop.offsets is None else pop.offsets)


def population_sps(p: Preset, pop) -> tuple[np.ndarray, np.ndarray]:
    """The theory's SP and status of every device of ``pop`` (a preset's population): its per-device
    expressions (``p.device_forms`` with the drawn parameters) on its own range, moved by its offset."""
    forms, params, lo, hi, offsets = population_forms(pop, p)
    sps, status = population_symmetric_points(*forms, pop.s_plus, pop.s_minus, lo, hi, params,
                                              every_point_symmetric=p.constant_step)
    return sps + offsets, status


def _pulse_exact(p: Preset, population, pulses: int, w0=None) -> tuple:
    """:func:`aimc_theory.presets.pulse_devices` on the compiled loop where numba covers the devices (the NumPy loop's
    bits, so the report does not depend on whether numba is installed), else NumPy."""
    return pulse_devices(p, population, pulses, w0=w0, backend="exact")


def sp_spread(p: Preset, n: int, seed: int, summary: dict | None = None, theory=population_sps,
              pulse=_pulse_exact) -> dict:
    """Per-device SPs of ``n`` devices of preset ``p`` under its d2d variation (seeded), theory and measured.

    Parameters
    ----------
    p : Preset
    n : int >= 1
        Devices.
    seed : int
        Seeds the draw of the devices.
    summary : dict, optional
        :func:`preset_summary` of ``p`` (its pulses per e-fold set the number of pulses).
    theory : callable(preset, population) -> (sp, status), optional
        The theory's per-device SPs (default :func:`population_sps`; a check passes a deliberately wrong one
        as a negative control).
    pulse : callable, optional
        :func:`aimc_theory.presets.pulse_devices` (a caller may pass a memoized one: the checker evaluates the
        same devices under several theories).

    Returns
    -------
    dict
        ``theory`` and ``measured``: mean, std, percentiles of the interior SPs and the fractions of devices
        at the upper/lower bound, without an SP and neutral (q+ = q- everywhere); ``same_status`` (devices
        classified alike), ``max_abs_sp_difference`` and the same in units of the device's own step.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError("devices", f"must be an integer >= 1 (got {n})")
    check_memory("devices", n, 400)
    summary = preset_summary(p) if summary is None else summary
    var = variation(p)
    pop = var.population(n, np.random.default_rng(seed))
    s_plus, s_minus = pop.s_plus, pop.s_minus
    offsets = np.zeros(n) if pop.offsets is None else pop.offsets
    # theory: each device's expressions on its own range (an SP beyond its own bound: it saturates there)
    sp_t, status_t = theory(p, pop)
    lo, hi = pop.b_min + offsets, pop.b_max + offsets
    efold = summary.get("pulses_per_efold_alternating") or summary.get("pulses_per_efold_mean") or 1000.0
    pulses = int(min(max(30 * efold / max(float(np.min(np.minimum(s_plus, s_minus))), 1e-3), 200), 300_000))
    pulses += pulses % 2                       # end after a down pulse: the pair's middle

    sp_m, drift = pulse(p, pop, pulses)
    edge = np.minimum(5.0 * p.dw_min * np.maximum(s_plus, s_minus), 0.1 * (p.w_max - p.w_min))   # a few own steps
    # measured: at a bound, or still drifting toward one (a converged device's pair change is ~e^-30 of its
    # start distance, a drifting one moves by dw_min |s+ q+ - s- q-| per pair)
    moving = np.abs(drift) > 1e-6 * p.dw_min
    status_m = np.where((sp_m >= hi - edge) | (moving & (drift > 0)), "upper",
                        np.where((sp_m <= lo + edge) | (moving & (drift < 0)), "lower", "interior"))
    # measured "neutral" (every point symmetric): a device that ends where it started is pulsed again from
    # another start; a converging device returns to its SP, a neutral one stays at the new start
    start = 0.5 * (p.w_min + p.w_max) + offsets
    cand = np.flatnonzero(~moving & (np.abs(sp_m - start) < edge) & (status_m == "interior"))
    second_all = start + 3 * edge                   # the second start: well outside the first's tolerance
    cand = cand[second_all[cand] < hi[cand] - edge[cand]]  # (a device too narrow for it is not tested)
    if cand.size:
        second = second_all[cand]
        again, _ = pulse(p, pop.take(cand), pulses, w0=second)
        stayed = np.abs(again - second) < edge[cand]
        status_m[cand[stayed]] = "neutral"
    # "at a bound" means the same for both: an SP within the pulse cycle's reach (edge) of a bound counts too
    status_t = np.where(status_t != "interior", status_t,
                        np.where(sp_t >= hi - edge, "upper", np.where(sp_t <= lo + edge, "lower", "interior")))
    both = (status_t == "interior") & (status_m == "interior")
    return {"devices": n, "seed": seed, "pulses": pulses, "clipped_imbalance": pop.clipped,
            "variation": {"gain": var.gain, "imbalance": var.imbalance, "log_normal": var.log_normal,
                          "reference_std": float(p.dtod.get("reference_std", 0.0)),
                          "bounds": [float(p.dtod.get("w_min_dtod", 0.0)), float(p.dtod.get("w_max_dtod", 0.0))],
                          "slopes": float(p.dtod.get("gamma_dtod", 0.0))},
            "not_modelled": unmodelled_dtod(p), "theory": _distribution(sp_t, status_t),
            "measured": _distribution(sp_m, status_m), "same_status": float(np.mean(status_t == status_m)),
            "still_drifting": float(np.mean(moving & (sp_m < hi - edge) & (sp_m > lo + edge))),
            "max_abs_sp_difference": float(np.max(np.abs(sp_t[both] - sp_m[both]))) if both.any() else None,
            # in units of each device's own largest step: the 2-cycle's middle is within about one step of the SP
            "max_sp_difference_in_steps": float(np.max(np.abs(sp_t[both] - sp_m[both])
                                                       / (p.dw_min * np.maximum(s_plus, s_minus)[both])))
            if both.any() else None}


def _distribution(sps: np.ndarray, status: np.ndarray) -> dict:
    inner = sps[status == "interior"]
    q = np.percentile(inner, [5, 50, 95]) if inner.size else [math.nan] * 3
    return {"mean": float(np.mean(inner)) if inner.size else None, "std": float(np.std(inner)) if inner.size else None,
            "p5": float(q[0]), "median": float(q[1]), "p95": float(q[2]),
            "fraction_upper": float(np.mean(status == "upper")), "fraction_lower": float(np.mean(status == "lower")),
            "fraction_without_sp": float(np.mean(status != "interior")),
            "fraction_neutral": float(np.mean(status == "neutral"))}
