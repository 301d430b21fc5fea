"""calibrate, presets and fit: one device at a time (zero-shifting SP calibration, the reference
simulator's presets, response functions fitted to measured pulse sweeps)."""
from __future__ import annotations

import numpy as np

from .. import presets as preset_table
from ..errors import InputError
from . import inputs
from .inputs import Inputs
from .results import CommandResult


def calibrate(a: Inputs, progress=None) -> CommandResult:
    """Zero-shifting SP calibration (arXiv 2602.21321 Alg. 1): the pulses simulated, the theory next to them
    (every drawn device's own theory under device-to-device variation)."""
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
    spacing = 4 * np.finfo(float).eps * max(1.0, *(abs(x) for x in (resp.lo, resp.hi) if np.isfinite(x)))
    if a.tolerance < spacing:
        raise InputError("tolerance", f"must be >= {spacing:.3g}, 4 float64 spacings of the weights on the range: "
                                      f"no device can be resolved closer to its SP (got {a.tolerance:g})")
    if a.w0 is None:         # 0, or the middle of the range where 0 is not inside (PCM's [0, 2])
        a.w0 = 0.0 if resp.lo < 0.0 < resp.hi else 0.5 * (resp.lo + resp.hi)
    variation = inputs.variation(a)
    res = calibration.zero_shift(dev, a.w0, a.pulses, a.scheme, devices=a.chains, seed=a.seed,
                                 variation=variation, tolerance=a.tolerance, progress=progress, without_sp="skip")
    ok = res.has_sp                 # devices without an SP (they drift to a bound) are counted, not calibrated
    err = res.error[ok]
    simulated = {"final_error": float(err.mean()),
                 "final_error_se": float(err.std(ddof=1) / np.sqrt(err.size)) if err.size > 1 else None,
                 "rms_error": float(np.sqrt(np.mean(err ** 2))),
                 "mean_abs_error": float(np.mean(np.abs(err))),
                 "pulses_to_tolerance": _settled(res.settled[ok], a.pulses),
                 "fraction_settled": float(np.mean(res.settled[ok] <= a.pulses))}
    if variation.varies:
        theory, spread, sp_value = _population_theory(a, resp, variation)
        simulated["abs_error_distribution"] = inputs.summary(np.abs(err))
        simulated["fraction_without_sp"] = float(np.mean(~ok))
        simulated["symmetric_point_distribution"] = inputs.summary(res.target[ok])
    else:
        theory, sp_value = _theory(a, resp)
        spread = {}
    out = {"symmetric_point": sp_value, "scheme": a.scheme, "dw_min": a.dw_min, "pulses": a.pulses,
           "devices": a.chains, "tolerance": a.tolerance, "theory": theory, "simulated": simulated,
           **spread, "seconds": res.seconds}
    return CommandResult("calibrate", out, a.arguments(), "pulse level", res)


def _theory(a: Inputs, resp):
    """One device: the contraction, floor and 2-cycle of arXiv 2602.21321 Thm 2.2 / eq. 9-10."""
    from ..symbolic import derive
    from ..symbolic.calibration import calibration_theory
    th = calibration_theory(derive(resp, penalty=False), a.dw_min)
    x0 = a.w0 - th.symmetric_point
    mean_e, rms_e = th.errors_after(a.scheme, x0, a.pulses)
    theory = {"contraction_per_pulse": float(th.contraction_per_pulse(a.scheme)),
              "floor": float(th.floor(a.scheme, a.pulses)),
              "final_error": float(mean_e), "rms_error": float(rms_e),
              "pulses_to_tolerance": inputs.finite(th.pulses_to_tolerance(a.scheme, x0, a.tolerance)),
              "pair_contraction": float(th.pair_contraction),
              "cycle": [float(v) for v in th.cycle],
              "stationary_second_moment": float(th.stochastic_second_moment),
              "paper_bounds": th.paper_bounds(a.w0, a.pulses, a.tolerance)}
    return theory, float(th.symmetric_point)


def _population_theory(a: Inputs, resp, variation):
    """Every drawn device's theory: the same draws (same seed), each device's SP and contraction from its
    expressions (a preset's per-device forms with its drawn bounds/slopes), not from the simulation."""
    from ..symbolic.calibration import population_calibration_theory, population_symmetric_points
    pop = variation.population(a.chains, np.random.default_rng(a.seed))
    forms, params, lo, hi, offsets = inputs.population_forms(resp, variation, pop)
    wsp, status = population_symmetric_points(*forms, pop.s_plus, pop.s_minus, lo, hi, params)
    inner = status == "interior"
    sel = lambda x: np.broadcast_to(x, inner.shape)[inner]          # noqa: E731
    th = population_calibration_theory(*forms, a.dw_min, sel(pop.s_plus), sel(pop.s_minus), sel(wsp),
                                       None if params is None else {k: sel(v) for k, v in params.items()})
    sps = sel(wsp) + sel(offsets)
    mean_e, rms_e = th.errors_after(a.scheme, a.w0 - sps, a.pulses)
    theory = {"contraction_per_pulse": inputs.summary(th.contraction_per_pulse(a.scheme)),
              "floor": inputs.summary(th.floor(a.scheme, a.pulses)),
              "final_error": float(np.mean(mean_e)), "rms_error": float(np.sqrt(np.mean(rms_e ** 2))),
              "pulses_to_tolerance": None, "abs_error_distribution": inputs.summary(rms_e),
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
    """Fit the response families to measured up/down pulse sweeps; the best (lowest BIC) as arguments."""
    from .. import fit as fitting
    sweeps = fitting.read(a.data)
    families = [f.strip() for f in a.families.split(",")] if a.families else list(fitting.FAMILIES)
    results = fitting.fit(sweeps, families)
    best = fitting.as_response(results[0], sweeps)
    rows = [{"family": r.family, "parameters": r.params, "standard_errors": r.se, "rms": r.rms, "r2_up": r.r2_up,
             "r2_down": r.r2_down, "bic": r.bic, "n_params": r.n_params} for r in results]
    out = {"data": sweeps.source, "steps_up": int(sweeps.w_up.size), "steps_down": int(sweeps.w_down.size),
           "range": [sweeps.lo, sweeps.hi], "families": rows, "best": best}
    return CommandResult("fit", out, a.arguments(), None, results)
