"""derive, fixed-point and simulate: one response, the scalar quadratic of arXiv 2502.06309 section 3."""
from __future__ import annotations

import importlib

import numpy as np

from .. import objectives, registry, simulation
from ..errors import InputError, require_finite
from ..parameters import parameters
from . import inputs
from .inputs import Inputs
from .experiments import interrupted
from .results import CommandResult


def derive(a: Inputs, progress=None) -> CommandResult:
    """F, G, R, the SPs, R'(SP) and R_c of the response (arXiv 2502.06309 eq. 4-7, Thm 1) as a paper prints
    them: decimals to ``digits``, |u| written u or -u where u has one sign on the range, LaTeX; with named
    parameters (``-p``) also in the parameters, next to the forms at their values."""
    from ..symbolic import derivation
    d = derivation.derive(inputs.build_response(a), time_budget=a.time_budget)
    data = d.as_dict()
    paper = d.paper(a.digits)
    data["latex"] = paper["latex"]                  # the same keys, the forms as printed
    data.update(digits=a.digits, display=paper["display"], latex_other=paper["latex_other"],
                display_notes=paper["display_notes"])
    named = inputs.family_params(a.param)
    if named:
        source = _named_source(a, named)
        if isinstance(source, str):
            data["in_parameters"] = {"parameters": named, "unavailable": source}
        else:
            q_plus, q_minus, fixed = source
            try:
                # the forms in the parameters are an extra next to the derivation at the values: their search
                # gets at most the default budget per call, whatever --time-budget gives the derivation itself
                budget = min(a.time_budget, parameters("derive")["time_budget"].default)
                p = derivation.in_parameters(q_plus, q_minus, named, d, budget, a.sp_shift, fixed)
                data["in_parameters"] = p.paper(a.digits)
            except InputError:
                raise
            except derivation.GAVE_UP as exc:     # SymPy outside a budgeted call: said, never a traceback
                data["in_parameters"] = {"parameters": named, "unavailable": f"SymPy failed ({type(exc).__name__}); "
                                         "the forms are given with the values only"}
    return CommandResult("derive", data, a.arguments(), None, d)


def _named_source(a: Inputs, named: dict):
    """(q+ text, q- text, the other names' values) of the response in the named parameters, or why not."""
    if a.q_plus is not None:
        return a.q_plus, a.q_minus, {}
    from ..response import FAMILY
    family = FAMILY[a.response or "softbounds"]
    if family.symbols is not None:
        return (f"{family.name} is written in quantities derived from its parameters "
                f"({family.q_plus}, {family.q_minus}), not in them")
    values = family.values(named)
    return family.q_plus, family.q_minus, {k: v for k, v in values.items() if k not in named}


def fixed_point(a: Inputs, progress=None) -> CommandResult:
    spec = registry.spec(a.algorithm)
    if spec.fixed_point is None:
        with_theory = [n for n, s in registry.ALGORITHMS.items() if s.fixed_point]
        raise InputError("algorithm", f"no fixed-point theory for {spec.name}; available for "
                                      + ", ".join(with_theory))
    inputs.check_arrays(a, spec)
    opts = inputs.algorithm_options(a, spec)
    resp = inputs.build_response(a) if spec.analog else None
    inputs.check_step(objectives.ScalarQuadratic(a.L, a.w_star, a.noise), spec, resp, a.lr, opts)
    theories = importlib.import_module("aimc_theory.symbolic.fixed_points")
    main = inputs.build_main_response(a) if spec.two_arrays else None
    if a.w0 is not None and not spec.theory_uses_w0:
        raise InputError("w0", f"the fixed point of {spec.name} does not depend on the initial weight; --w0 applies "
                               "to " + (", ".join(n for n, s in registry.ALGORITHMS.items() if s.theory_uses_w0)
                                        or "no algorithm"))
    w0 = a.w_star if a.w0 is None else require_finite("w0", a.w0)
    variation, pop = inputs.population(a, 1000 if a.devices is None else a.devices)
    if variation is None and a.devices is not None:
        raise InputError("devices", "applies with device-to-device variation: add --preset-dtod (with --response "
                                    "preset:NAME) or --gain-dtod/--imbalance-dtod")
    if variation is not None and spec.population_theory is None:
        raise InputError("preset_dtod" if a.preset_dtod else "gain_dtod",
                         "per-device fixed points are derived for " + " and ".join(
                             n for n, s in registry.ALGORITHMS.items() if s.population_theory))
    try:
        fp = _theory(theories, spec.fixed_point)(inputs.build_response(a), main, a.L, a.w_star, a.noise, a.lr, w0,
                                                 **opts)
    except InputError as exc:       # the theory names the main array by --main-response; it came as expressions
        if exc.param != "main_response" or getattr(a, "main_q_plus", None) is None:
            raise
        raise InputError("main_q_plus", str(exc).split(": ", 1)[1]) from None
    out = fp.as_dict()
    if variation is not None:
        forms, params, lo, hi, offsets = inputs.population_forms(resp, variation, pop)
        fps, status = _theory(theories, spec.population_theory)(forms, pop.s_plus, pop.s_minus, lo, hi, a.L,
                                                                a.w_star, a.noise, params, offsets)
        inner = status == "interior"
        out["d2d"] = {"devices": pop.size, "seed": a.seed, "clipped_devices": pop.clipped, "mean": float(np.mean(fps)),
                      "fraction_saturated": float(np.mean(~inner)),
                      "fixed_point_distribution": inputs.summary(fps[inner]) if inner.any() else None}
    return CommandResult("fixed-point", out, a.arguments(), None, fp)


def _theory(module, ref):
    """A registry theory: a callable, or the name of an adapter in :mod:`aimc_theory.symbolic.fixed_points`."""
    return ref if callable(ref) else getattr(module, ref)


def simulate(a: Inputs, progress=None) -> CommandResult:
    """Many chains of the algorithm on the scalar quadratic, with the steps to ``tolerance`` and the pulses fired per
    device (:func:`_steps_and_pulses`). Raises
    :class:`~aimc_theory.commands.experiments.CommandInterrupted` on Ctrl-C: the statistics of the steps that ran
    (``steps_done``; time averages over those after the burn-in, null before it)."""
    spec = registry.spec(a.algorithm)
    trains = inputs.pulse_trains(a)
    obj = objectives.ScalarQuadratic(a.L, a.w_star, a.noise, per_sample=trains is not None)
    inputs.preset_pulse_size(a, a.pulses)
    if a.pulses and a.dw_min is None:
        raise InputError("dw_min", "--pulses needs the pulse granularity --dw-min X (> 0)")
    if a.dw_min is not None and not a.pulses and not spec.main_pulse_threshold:
        raise InputError("pulses", "--dw-min only applies with --pulses (or as the threshold of "
                                   + ", ".join(n for n, s in registry.ALGORITHMS.items() if s.main_pulse_threshold)
                                   + ")")
    for name, value, unset in (("max_bl", a.max_bl, None), ("sigma_c", a.sigma_c, 0.0)):
        if value != unset and not a.pulses:
            raise InputError(name, "applies only to the pulse-level model: add --pulses --dw-min X")
    if a.dtype != "float64" and a.pulses:
        raise InputError("dtype", "float32 applies to the expected-update model only (the pulse-level model "
                                  "counts pulses in float64); leave --dtype out with --pulses")
    inputs.check_arrays(a, spec)
    opts = inputs.algorithm_options(a, spec)
    array, main = inputs.build_devices(a, spec.two_arrays, a.pulses, trains)
    resp = array.response
    inputs.check_step(obj, spec, resp, a.lr, opts)
    if a.w0 is not None:
        host = main.response if main is not None else resp
        if spec.analog and not host.lo < require_finite("w0", a.w0) < host.hi:
            raise InputError("w0", f"must lie inside the weight range ({host.lo:g}, {host.hi:g}) of the array "
                                   f"that holds the weights (got {a.w0:g}); at or beyond a bound the device "
                                   "saturates")
    variation, pop = inputs.population(a, a.chains, "chains")
    if variation is not None:           # each chain its own device (the gradient / residual array)
        try:
            array = pop.device(array, (a.chains, 1))
        except InputError as exc:               # a drawn step scale the device cannot take: the user's sigma
            raise InputError("preset_dtod" if a.preset_dtod else "gain_dtod", str(exc).split(": ", 1)[1]) from None
    from .. import cost as costing
    if a.backend != "numba":            # count the pulses each array fires (the compiled kernel: expected update)
        array, main = costing.counting(array), costing.counting(main)
    opt = registry.build(spec.name, a.lr, array, main, seed=a.seed, **opts)
    if a.backend != "numba":
        opt = costing.committing(opt, (array, main))
    model = ("per-sample pulse trains" if a.desired_bl else "pulse level") if a.pulses else "expected update"
    every = max(1, a.steps // 10_000)   # no trajectory in the JSON
    try:
        res = simulation.simulate(obj, opt, a.steps, a.chains, a.seed, w0=a.w_star if a.w0 is None else a.w0,
                                  progress=progress, backend=a.backend, record_every=every,
                                  dtype=np.float32 if a.dtype == "float32" else np.float64)
    except simulation.SimulationInterrupted as exc:     # Ctrl-C: the statistics of the steps that ran
        part = exc.partial
        if part is None:
            raise interrupted(None, str(exc)) from None
        out = {"steps_done": exc.steps_done} | part.as_dict()
        if spec.final_keys and np.all(np.isfinite(part.final)):
            out.update(spec.final_keys(part.final_params, part.final_state))
        if variation is not None:
            out["d2d"] = {"devices": a.chains, "seed": a.seed, "clipped_devices": pop.clipped,
                          "chain_mean_distribution": inputs.summary(part.chain_means[:, 0])
                          if np.all(np.isfinite(part.chain_means)) else None}
        out.update(_steps_and_pulses(a, spec, part, every, array, main))
        raise interrupted(CommandResult("simulate", out, a.arguments(), model, part), str(exc)) from None
    out = res.as_dict()
    if spec.final_keys:
        out.update(spec.final_keys(res.final_params, res.final_state))
    if variation is not None:           # the chains' own stationary means (time averages), one per device
        out["d2d"] = {"devices": a.chains, "seed": a.seed, "clipped_devices": pop.clipped,
                      "chain_mean_distribution": inputs.summary(res.chain_means[:, 0])}
    notes = [f"{name}: {r.no_sp_note}" for name, r in (("array", resp), ("main array", main and main.response))
             if r is not None and r.no_sp_note]
    if notes:                   # a valid run, but no SP to converge around: say where the weights drift
        out["notes"] = notes
    out.update(_steps_and_pulses(a, spec, res, every, array, main))
    return CommandResult("simulate", out, a.arguments(), model, res)


def _steps_and_pulses(a: Inputs, spec, res, every: int, array, main) -> dict:
    """simulate's steps to the tolerance and pulses per device (flat keys: a table row of their own).

    ``steps_to_tolerance``: the first recorded step from which |chain mean of the read-out weight - w*| <=
    ``tolerance`` at every later record (:func:`aimc_theory.cost.steps_to_target`, as ``cost`` counts its training
    steps), records every ``record_every`` steps (steps // 10,000, at least 1); None when the last record is
    outside. ``pulses_per_device`` (the gradient / residual array) and ``main_pulses_per_device`` (two-array
    algorithms): pulses fired per device, mean over the chains' devices, counted as they are fired
    (:class:`aimc_theory.cost.CountingDevice`); None where the array fires none (expected-update model) or they are
    not counted (per-sample pulse trains), which ``pulses`` says."""
    from .. import cost as costing
    n = costing.steps_to_target(res.trajectory[:, 0], a.w_star, a.tolerance, every)
    out = {"tolerance": a.tolerance, "steps_to_tolerance": None if n is None else int(n), "record_every": every}
    devices = a.chains
    if not spec.analog:
        return out | {"pulses_per_device": None, "pulses": "no analog array (floating-point weights): no pulses"}
    n, how = costing.pulses_per_device(array, devices) if a.backend != "numba" else \
        (None, costing.NO_PULSES_EXPECTED)
    out["pulses_per_device"] = n
    words = [f"array: {how}"]
    if spec.two_arrays:
        n, how = costing.pulses_per_device(main, devices)
        out["main_pulses_per_device"] = n
        words.append(f"main array: {how}")
    out["pulses"] = "; ".join(words) + f"; per device = per chain ({devices} devices per array)"
    return out
