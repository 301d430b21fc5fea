"""cost: what handling the symmetric point costs on the user's device, in pulses (arXiv 2602.21321 Cor. 3.9).

The numbers are simulated by :func:`aimc_theory.cost.pulse_cost`; the calibration stage's count has a theory
(the symbolic zero-shifting theory's cyclic map, :mod:`aimc_theory.symbolic.calibration`), printed next to
it. The training stages have none: Cor. 3.9 states orders only.
"""
from __future__ import annotations

from .. import objectives, registry
from ..errors import InputError
from . import inputs
from .experiments import interrupted
from .inputs import Inputs
from .results import CommandResult

THEORY_EXACT = "the cyclic linear map (P2 eq. 31): exact for this affine response"
THEORY_LINEARIZED = ("the cyclic map linearized at the SP (P2 eq. 31): approximate for this non-affine response, "
                     "whose contraction changes away from the SP")


def cost(a: Inputs, progress=None) -> CommandResult:
    """Pulses and steps calibrate-then-RL (P2 Alg. 4), RIDER (Alg. 2) and E-RIDER (Alg. 3) need to reach
    |mean W_bar - w*| <= target on the device, in P2 Fig. 4's accounting (calibration pulses + steps x 2
    arrays x BL), with the calibration stage's theory count next to the simulated one.

    Raises :class:`~aimc_theory.commands.experiments.CommandInterrupted` on Ctrl-C: its result has the finished
    methods' rows, the others with ``"status": "not finished (interrupted)"`` and no numbers (the finished ones
    ``"finished"``), the calibration stage if it ran (its theory not computed), no ``cheapest`` or crossover."""
    from .. import cost as costing          # the simulations: loaded when the command runs
    resp = inputs.build_response(a)
    inputs.preset_pulse_size(a, True)
    if a.dw_min is None:
        raise InputError("dw_min", "the calibration stage is pulse level: give the pulse size --dw-min X (> 0), "
                                   "or a preset (--response preset:NAME) that brings its own")
    if resp.every_point_symmetric:
        raise InputError("response", f"{resp.describe()} has q+ = q- everywhere: every point is symmetric, there is "
                                     "no SP to calibrate to or track")
    inputs.check_pulse_size(a.dw_min, resp)
    methods = costing.METHODS if a.methods is None else tuple(m.strip() for m in a.methods.split(","))
    unknown = [m for m in methods if m not in costing.METHODS]
    if unknown or not methods or len(set(methods)) != len(methods):
        raise InputError("methods", f"must be a comma-separated subset of {', '.join(costing.METHODS)}, each once "
                                    f"(got {a.methods!r})")
    main = inputs.build_main_response(a)
    opts = {k: getattr(a, k) for k in ("gamma", "beta", "eta", "chop_prob", "q0")}
    opts = {k: registry.OPTIONS[k].default if v is None else v for k, v in opts.items()}
    obj = objectives.ScalarQuadratic(a.L, a.w_star, a.noise)
    inputs.check_step(obj, registry.spec("rider"), resp, a.lr, opts)     # P's range holds q0; lr vs q near it
    if not main.lo < a.w0 < main.hi:
        raise InputError("w0", f"must lie inside the main array's range ({main.lo:g}, {main.hi:g}) (got {a.w0:g})")
    if not main.lo < a.w_star < main.hi:
        raise InputError("w_star", f"must lie inside the main array's range ({main.lo:g}, {main.hi:g}) (got "
                                   f"{a.w_star:g}): the main array cannot hold the optimum")
    try:
        res = costing.pulse_cost(resp, a.dw_min, a.target, L=a.L, w_star=a.w_star, noise=a.noise, lr=a.lr, w0=a.w0,
                                 main=main, ref_tolerance=a.ref_tolerance, chains=a.chains, steps=a.steps,
                                 seed=a.seed, bl=a.bl, methods=methods, progress=progress, **opts)
    except costing.CostInterrupted as exc:      # Ctrl-C: the finished methods' rows, the others marked unfinished
        part = exc.partial
        data = _data(a, resp, part)
        unfinished = [m for m in methods if m not in part.methods]
        for name in methods:
            row = data["methods"].setdefault(name, {**UNFINISHED_ROW, "theory": costing.NO_THEORY})
            row["status"] = "finished" if name in part.methods else UNFINISHED
        cal = part.calibration
        if "calibrate-then-rl" in unfinished and cal is not None:     # its calibration stage finished
            data["methods"]["calibrate-then-rl"]["stage_pulses"] = cal.pulses
        data["methods"] = {name: data["methods"][name] for name in methods}        # in the order requested
        data["cheapest"] = data["crossover_dw_min"] = None     # no comparison with methods that did not finish
        if data["calibration"] is not None:                  # the SymPy theory is not started after Ctrl-C
            data["calibration"].update(theory_pulses=None, theory_symmetric_point=None, difference=None,
                                       theory_basis="not computed (interrupted)")
        what = (f"{len(part.methods)} of {len(methods)} methods finished"
                + (f" ({', '.join(part.methods)})" if part.methods else "")
                + f"; not finished: {', '.join(unfinished)}")
        raise interrupted(CommandResult("cost", data, a.arguments(), MODEL, part), what) from None
    data = _data(a, resp, res)
    if res.calibration is not None:
        data["calibration"].update(_theory(resp, a.dw_min, res.calibration))
    return CommandResult("cost", data, a.arguments(), MODEL, res)


MODEL = "pulse level (calibration), expected update (training)"
UNFINISHED = "not finished (interrupted)"
# a method Ctrl-C stopped before it finished: the keys of a finished one's row, without numbers
UNFINISHED_ROW = {"stage_pulses": None, "steps": None, "steps_band": [None, None], "total_pulses": None,
                  "reached": None, "final_error": None, "seconds": None}


def _data(a: Inputs, resp, res) -> dict:
    """The result's keys (``--json``) of a :class:`~aimc_theory.cost.CostResult`, the calibration stage without
    its theory."""
    a.ref_tolerance = res.settings["ref_tolerance"]          # the value that ran, for the provenance
    from .. import cost as costing
    data = {"device": resp.describe(), "symmetric_point": res.symmetric_point, "dw_min": a.dw_min,
            "target": a.target, "ref_tolerance": a.ref_tolerance, "bl": a.bl, "steps": a.steps, "chains": a.chains,
            "methods": {k: {**m.as_dict(), "theory": costing.NO_THEORY} for k, m in res.methods.items()},
            "calibration": None, "cheapest": res.cheapest(), "crossover_dw_min": res.crossover_dw_min(),
            "accounting": res.accounting, "seconds": res.seconds}
    if res.calibration is not None:
        data["calibration"] = res.calibration.as_dict()
    return data


def _theory(resp, dw_min: float, stage) -> dict:
    """The symbolic zero-shifting theory's count: the fewest cyclic pulses after which |x| stays <= the
    tolerance, from x0 = start - SP (:meth:`CalibrationTheory.pulses_to_tolerance`)."""
    from ..symbolic import derive
    from ..symbolic.calibration import calibration_theory
    th = calibration_theory(derive(resp, penalty=False), dw_min)
    n = th.pulses_to_tolerance("cyclic", stage.start - float(th.symmetric_point), stage.tolerance)
    n = inputs.finite(n)
    return {"theory_pulses": n, "theory_symmetric_point": float(th.symmetric_point),
            "theory_basis": THEORY_EXACT if resp.affine is not None else THEORY_LINEARIZED,
            "difference": None if n is None or stage.pulses is None else stage.pulses - n}
