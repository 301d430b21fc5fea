"""calibrate, presets and fit: one device at a time (zero-shifting SP calibration, the reference
simulator's presets, response functions fitted to measured pulse sweeps)."""
from __future__ import annotations

import numpy as np

from .. import presets as preset_table
from ..errors import InputError
from . import inputs
from .inputs import Inputs
from .experiments import interrupted
from .results import CommandResult


def calibrate(a: Inputs, progress=None) -> CommandResult:
    """Zero-shifting SP calibration (arXiv 2602.21321 Alg. 1): the pulses simulated, the theory next to them
    (every drawn device's own theory under device-to-device variation).

    Raises :class:`~aimc_theory.commands.experiments.CommandInterrupted` on Ctrl-C: the simulated statistics
    over the pulses that ran (``pulses``; ``pulses_requested`` as asked), the SP the numeric one of the devices,
    no theory."""
    from .. import calibration
    resp = inputs.build_response(a)
    inputs.preset_pulse_size(a, True)
    if (a.response or "").startswith("preset:") and resp.every_point_symmetric \
            and not (a.gain_dtod or a.imbalance_dtod):
        raise InputError("response", f"{a.response} has constant steps (q+ = q-): every point is symmetric, "
                                     f"there is no SP to calibrate to; {preset_table.get(a.response).note}")
    if a.dw_min is None:
        raise InputError("dw_min", "calibration needs the pulse size --dw-min X (> 0)")
    dev, _ = inputs.build_devices(a, False, True)
    spacing = 4 * np.finfo(float).eps * max([1.0] + [abs(x) for x in (resp.lo, resp.hi) if np.isfinite(x)])
    if a.tolerance < spacing:
        raise InputError("tolerance", f"must be >= {spacing:.3g}, 4 float64 spacings of the weights on the range: "
                                      f"no device can be resolved closer to its SP (got {a.tolerance:g})")
    if a.w0 is None:         # 0, or the middle of the range where 0 is not inside (PCM's [0, 2])
        a.w0 = 0.0 if resp.lo < 0.0 < resp.hi else 0.5 * (resp.lo + resp.hi)
    variation = inputs.variation(a)
    try:
        res = calibration.zero_shift(dev, a.w0, a.pulses, a.scheme, devices=a.chains, seed=a.seed,
                                     variation=variation, tolerance=a.tolerance, progress=progress, without_sp="skip",
                                     c2c_model=a.c2c_model)
    except calibration.CalibrationInterrupted as exc:     # Ctrl-C: the statistics of the pulses that ran
        part = exc.partial
        if part is None:
            raise interrupted(None, str(exc)) from None
        sim = _simulated(part, variation.varies)
        out = {"symmetric_point": float(np.mean(part.target[part.has_sp])), "scheme": a.scheme, "dw_min": a.dw_min,
               "pulses": part.pulses, "pulses_requested": a.pulses, "devices": a.chains, "tolerance": a.tolerance,
               "c2c_noise": {"sigma_c": a.sigma_c, "model": a.c2c_model}, "theory": None, "simulated": sim,
               "seconds": part.seconds}
        raise interrupted(CommandResult("calibrate", out, a.arguments(), "pulse level", part),
                          f"{exc}; simulated statistics over them, no theory (not computed)") from None
    simulated = _simulated(res, variation.varies)
    if variation.varies:
        theory, spread, sp_value = _population_theory(a, resp, variation)
    else:
        theory, sp_value = _theory(a, resp)
        spread = {}
    out = {"symmetric_point": sp_value, "scheme": a.scheme, "dw_min": a.dw_min, "pulses": a.pulses,
           "devices": a.chains, "tolerance": a.tolerance,
           "c2c_noise": {"sigma_c": a.sigma_c, "model": a.c2c_model}, "theory": theory, "simulated": simulated,
           "settling": _settling(a, theory, variation.varies), **spread, "seconds": res.seconds}
    return CommandResult("calibrate", out, a.arguments(), "pulse level", res)


def _simulated(res, varies: bool) -> dict:
    """The errors of the devices with an SP after ``res.pulses`` pulses (devices without one drift to a bound:
    counted, not calibrated)."""
    ok = res.has_sp
    err = res.error[ok]
    out = {"final_error": float(err.mean()),
           "final_error_se": float(err.std(ddof=1) / np.sqrt(err.size)) if err.size > 1 else None,
           "rms_error": float(np.sqrt(np.mean(err ** 2))),
           "mean_abs_error": float(np.mean(np.abs(err))),
           "pulses_to_tolerance": _settled(res.settled[ok], res.pulses),
           "fraction_settled": float(np.mean(res.settled[ok] <= res.pulses))}
    if varies:
        out["abs_error_distribution"] = inputs.summary(np.abs(err))
        out["fraction_without_sp"] = float(np.mean(~ok))
        out["symmetric_point_distribution"] = inputs.summary(res.target[ok])
    return out


# the fraction of devices within the tolerance after N pulses: how the theory gets it
_WITHIN_EXACT = "exact (deterministic: no noise)"
_WITHIN_GAUSS = "exact (x_N is Gaussian: linear maps of additive Gaussian noise)"
_WITHIN_APPROX = "approximate: a Gaussian with the theory's exact mean and variance of x_N"


def _within_basis(a: Inputs, linear: bool) -> str:
    if a.scheme == "cyclic" and not a.sigma_c:
        return _WITHIN_EXACT
    if a.scheme == "cyclic" and a.c2c_model == "additive" and linear:
        return _WITHIN_GAUSS
    return _WITHIN_APPROX


def _settling(a: Inputs, theory: dict, varies: bool) -> dict:
    """What "pulses to tolerance" means here, for the theory's count and the simulated one (they are the same
    quantity only for the noise-free cyclic scheme: a deterministic sequence that enters the band and stays)."""
    same = a.scheme == "cyclic" and not a.sigma_c and not varies
    out = {"comparable": same,
           "theory": ("the first pulse after which |w - SP| stays <= tolerance (deterministic)"
                      if a.scheme == "cyclic" and not a.sigma_c else
                      "the first pulse after which the RMS error sqrt(E(w - SP)^2) stays <= tolerance"),
           "simulated": "median over devices of the last pulse after which |w - SP| was > tolerance (None if "
                        "most devices are outside at the end)"}
    if varies:
        out["theory"] = "none under device-to-device variation (per-device counts not computed)"
    if a.sigma_c or a.scheme == "stochastic":
        floor = theory["floor"]["mean"] if isinstance(theory["floor"], dict) else theory["floor"]
        why = "with cycle-to-cycle noise" if a.sigma_c else "under random pulses"
        out["note"] = (f"no theory for the simulated count: {why} a device keeps moving around its floor (theory RMS {floor:.3g} = {floor / a.tolerance:.2g} x "
                       "the tolerance) and leaves a band narrower than a few floors again and again, so its last exit "
                       "grows with the run length; compare the fraction within the tolerance at N instead")
    return out


def _theory(a: Inputs, resp):
    """One device: the contraction, floor and 2-cycle of arXiv 2602.21321 Thm 2.2 / eq. 9-10, with the
    cycle-to-cycle noise (the moment recursions of :mod:`aimc_theory.symbolic.calibration`)."""
    from dataclasses import replace
    from ..symbolic import derive
    from ..symbolic.calibration import calibration_theory
    th = calibration_theory(derive(resp, penalty=False), a.dw_min, sigma_c=a.sigma_c, c2c_model=a.c2c_model)
    x0 = a.w0 - th.symmetric_point
    mean_e, rms_e = th.errors_after(a.scheme, x0, a.pulses)
    quiet = replace(th, sigma_c=0.0)            # the noise-free theory, for the noise's share
    theory = {"contraction_per_pulse": float(th.contraction_per_pulse(a.scheme)),
              "floor": float(th.floor(a.scheme, a.pulses)),
              "floor_without_noise": float(quiet.floor(a.scheme, a.pulses)),
              "final_error": float(mean_e), "rms_error": float(rms_e),
              "rms_error_without_noise": float(quiet.errors_after(a.scheme, x0, a.pulses)[1]),
              "pulses_to_tolerance": inputs.finite(th.pulses_to_tolerance(a.scheme, x0, a.tolerance)),
              "fraction_within_tolerance": float(th.fraction_within(a.scheme, x0, a.pulses, a.tolerance)),
              "fraction_within_tolerance_basis": _within_basis(a, resp.affine is not None),
              "pair_contraction": float(th.pair_contraction),
              "cycle": [float(v) for v in th.cycle],
              "cycle_spread": [float(np.sqrt(v)) for v in th.cycle_variance],
              "stationary_second_moment": float(th.stochastic_second_moment),
              "paper_bounds": th.paper_bounds(a.w0, a.pulses, a.tolerance)}
    return theory, float(th.symmetric_point)


def _population_theory(a: Inputs, resp, variation):
    """Every drawn device's theory: the same draws (same seed), each device's SP and contraction from its
    expressions (a preset's per-device forms with its drawn bounds/slopes), not from the simulation."""
    from dataclasses import replace
    from ..symbolic.calibration import population_calibration_theory, population_symmetric_points
    pop = variation.population(a.chains, np.random.default_rng(a.seed))
    forms, params, lo, hi, offsets = inputs.population_forms(resp, variation, pop)
    wsp, status = population_symmetric_points(*forms, pop.s_plus, pop.s_minus, lo, hi, params)
    inner = status == "interior"
    sel = lambda x: np.broadcast_to(x, inner.shape)[inner]          # noqa: E731
    th = population_calibration_theory(*forms, a.dw_min, sel(pop.s_plus), sel(pop.s_minus), sel(wsp),
                                       None if params is None else {k: sel(v) for k, v in params.items()},
                                       sigma_c=a.sigma_c, c2c_model=a.c2c_model)
    sps = sel(wsp) + sel(offsets)
    mean_e, rms_e = th.errors_after(a.scheme, a.w0 - sps, a.pulses)
    quiet = replace(th, sigma_c=0.0).errors_after(a.scheme, a.w0 - sps, a.pulses)[1]
    theory = {"contraction_per_pulse": inputs.summary(th.contraction_per_pulse(a.scheme)),
              "floor": inputs.summary(th.floor(a.scheme, a.pulses)),
              "final_error": float(np.mean(mean_e)), "rms_error": float(np.sqrt(np.mean(rms_e ** 2))),
              "rms_error_without_noise": float(np.sqrt(np.mean(quiet ** 2))),
              "pulses_to_tolerance": None, "abs_error_distribution": inputs.summary(rms_e),
              "fraction_within_tolerance": float(np.mean(th.fraction_within(a.scheme, a.w0 - sps, a.pulses,
                                                                            a.tolerance))),
              "fraction_within_tolerance_basis": _within_basis(a, False) + ", averaged over the devices",
              "fraction_without_sp": float(np.mean(~inner))}
    spread = {"symmetric_point_distribution": inputs.summary(sps), "clipped_devices": pop.clipped}
    return theory, spread, float(np.mean(sps))


def _settled(settled, pulses):
    """Median over devices of the pulses after which |w - SP| stayed within the tolerance (None if
    most devices never settled)."""
    med = float(np.median(settled))
    return med if med <= pulses else None


def presets(a: Inputs, progress=None) -> CommandResult:
    """The reference simulator's preset devices: parameters, reference, and what the toolkit derives from
    their responses (SP, pulses per e-fold, penalty curvature); with ``devices`` the SP spread."""
    from ..preset_report import preset_summary, sp_spread
    rows = [preset_summary(p) for p in (preset_table.PRESETS.values() if not a.name else [preset_table.get(a.name)])]
    if a.devices is not None:
        if not a.name:
            raise InputError("devices", "the device-to-device spread is per preset: give its NAME")
        rows[0]["d2d"] = sp_spread(preset_table.get(a.name), a.devices, a.seed, rows[0])
    return CommandResult("presets", {"presets": rows}, a.arguments(), None, rows)


def fit(a: Inputs, progress=None) -> CommandResult:
    """Fit the response families to measured up/down pulse sweeps; the best (lowest BIC) as arguments, with
    its SPs and dw_min +- SE, the cycle-to-cycle noise and whether the residuals are noise or misfit."""
    from .. import fit as fitting
    sweeps = fitting.read(a.data, bounds=a.bounds, g_min=a.g_min, g_max=a.g_max, range=a.range, units=a.units)
    families = [f.strip() for f in a.families.split(",")] if a.families else list(fitting.FAMILIES)
    results = fitting.fit(sweeps, families)
    best = fitting.as_response(results[0], sweeps)
    rows = [{"family": r.family, "parameters": r.params, "standard_errors": r.se, "fixed": r.fixed,
             "fixed_note": r.fixed_note, "n_params": r.n_params, "rms": r.rms, "r2_up": r.r2_up,
             "r2_down": r.r2_down, "bic": r.bic, "dw_min": r.dw_min, "dw_min_se": r.dw_min_se,
             "symmetric_points": r.symmetric_points, "noise": r.noise, "goodness_of_fit": r.goodness}
            for r in results]
    top = results[0]
    out = {"data": sweeps.source, "steps_up": int(sweeps.w_up.size), "steps_down": int(sweeps.w_down.size),
           "range": [sweeps.lo, sweeps.hi], "observed": list(sweeps.observed),
           "bounds_source": "given" if sweeps.bounds_given else "observed extremes", "mapping": sweeps.mapping,
           "units": sweeps.units, "families": rows, "best": best, "dw_min_se": top.dw_min_se,
           "symmetric_points": top.symmetric_points, "noise": top.noise, "goodness_of_fit": top.goodness}
    return CommandResult("fit", out, a.arguments(), None, results)
