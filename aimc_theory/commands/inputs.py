"""From a command's validated parameters to the objects the physics takes: the response, the devices
(one builder for every command), the algorithm's options, the device-to-device population.

Errors name parameters by their Python names (``dw_min``); the command line renames them to its
flags (``--dw-min``) in one place (:func:`aimc_theory.run.flag_named`).
"""
from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .. import device, presets, registry, response
from ..errors import InputError, require_finite
from ..parameters import parameters, validate


class Inputs(SimpleNamespace):
    """A command's parameters by name (every one present, defaults filled), plus ``command``. The
    builders below may fill in what a parameter's default leaves open (a preset's pulse size, the
    drawn variation), so that the provenance records the values that ran."""

    @classmethod
    def of(cls, command: str, params: dict) -> "Inputs":
        return cls(command=command, **validate(command, params))   # names, types, choices and ranges

    def arguments(self) -> dict:
        """The values that ran, by name (JSON-able: what provenance records)."""
        return {k: v for k, v in vars(self).items() if k != "command" and not callable(v)}


def family_params(items, name: str = "param") -> dict:
    """``["tau=0.6", ...]`` -> ``{"tau": 0.6}``."""
    out = {}
    for item in items:
        if "=" not in item:
            raise InputError(name, f"expected KEY=VALUE (got {item!r})")
        k, v = item.split("=", 1)
        if k.strip() in out:        # which value was meant? (the last one won silently)
            raise InputError(f"{name} {k.strip()}", f"given twice ({out[k.strip()]:g} and {v.strip()}); give it once")
        out[k.strip()] = require_finite(f"{name} {k.strip()}", v)
    return out


def build_response(a: Inputs) -> response.Response:
    """The response of ``response``/``param``, ``q_plus``/``q_minus``/``range`` or a preset, moved by ``sp_shift``."""
    params = family_params(a.param)
    if a.q_plus is not None or a.q_minus is not None:
        if a.response:
            raise InputError("response", "give either --response or --q-plus/--q-minus, not both")
        if a.q_plus is None or a.q_minus is None:
            raise InputError("q_plus" if a.q_plus is None else "q_minus",
                             "both --q-plus and --q-minus are required")
        rng = None
        if a.range:
            parts = a.range.split(",")
            if len(parts) != 2:
                raise InputError("range", f"expected LO,HI (got {a.range!r})")
            rng = (require_finite("range", parts[0]), require_finite("range", parts[1]))
        resp = response.from_expressions(a.q_plus, a.q_minus, params, rng)
    elif a.response and a.response.startswith("preset:"):
        preset = presets.get(a.response)
        for name, given in (("param", params), ("range", a.range)):
            if given:
                raise InputError(name, f"a preset's response is fixed ({preset.name}); move it with --sp-shift or "
                                       "write it as --q-plus/--q-minus to change it")
        resp = preset.response()
    else:
        if a.range:
            raise InputError("range", "only applies to --q-plus/--q-minus expressions")
        try:
            resp = response.get(a.response or "softbounds", **params)
        except InputError as exc:
            if exc.param in ("q_plus", "q_minus") and params:   # a family built from expressions: its -p values
                raise InputError("param", f"{a.response} with {', '.join(f'{k}={v:g}' for k, v in params.items())}: "
                                          f"{'q+' if exc.param == 'q_plus' else 'q-'} "
                                          + str(exc).split(": ", 1)[1]) from None
            raise _as_param(exc, params, "param") from None
    return resp.shifted(a.sp_shift) if a.sp_shift else resp


def _as_param(exc: InputError, params: dict, option: str) -> InputError:
    """An error about a value given with ``-p NAME=VALUE`` names it as ``param NAME`` (the CLI: ``-p NAME``)."""
    if exc.param in params:
        return InputError(f"{option} {exc.param}", str(exc).split(": ", 1)[1])
    return exc


def build_main_response(a: Inputs) -> response.Response:
    """The main array W's response (two-array algorithms): a built-in family with ``main_param``, a device
    preset (``preset:NAME``), or expressions ``main_q_plus``/``main_q_minus`` in ``w`` and the ``main_param``
    names on ``main_range`` (parsed as :func:`build_response` parses ``q_plus``/``q_minus``:
    :func:`aimc_theory.response.from_expressions`). Errors name the main array's options."""
    main_params = family_params(a.main_param, "main_param")
    q_plus, q_minus, rng_text = (getattr(a, k, None) for k in ("main_q_plus", "main_q_minus", "main_range"))
    if q_plus is not None or q_minus is not None:
        if a.main_response != parameters(a.command)["main_response"].default:
            raise InputError("main_response", "give either --main-response or --main-q-plus/--main-q-minus, "
                                              "not both")
        if q_plus is None or q_minus is None:
            raise InputError("main_q_plus" if q_plus is None else "main_q_minus",
                             "both --main-q-plus and --main-q-minus are required")
        rng = None
        if rng_text:
            parts = rng_text.split(",")
            if len(parts) != 2:
                raise InputError("main_range", f"expected LO,HI (got {rng_text!r})")
            rng = (require_finite("main_range", parts[0]), require_finite("main_range", parts[1]))
        try:
            return response.from_expressions(q_plus, q_minus, main_params, rng, name="main")
        except InputError as exc:       # the expression parser names q_plus, range, param K: the main flags here
            head, _, rest = exc.param.partition(" ")
            param = {"q_plus": "main_q_plus", "q_minus": "main_q_minus", "range": "main_range"}.get(head) or \
                (f"main_param {rest}" if head in ("-p", "param") else exc.param)
            raise InputError(param, str(exc).split(": ", 1)[1]) from None
    if rng_text:
        raise InputError("main_range", "only applies to --main-q-plus/--main-q-minus expressions")
    if a.main_response.startswith("preset:"):
        if a.main_param:
            raise InputError("main_param", "a preset's response is fixed; give --main-param with a built-in family")
        try:
            return presets.get(a.main_response).response()
        except InputError as exc:
            raise InputError("main_response", str(exc).split(": ", 1)[1]) from None
    try:
        return response.get(a.main_response, **main_params)
    except InputError as exc:   # name the option the user typed for the main array
        exc = _as_param(exc, main_params, "main_param")
        head, _, rest = exc.param.partition(" ")
        param = "main_response" if head.lstrip("-") == "response" else \
            f"main_param {rest}" if head in ("-p", "param") else exc.param
        raise InputError(param, str(exc).split(": ", 1)[1]) from None


def preset_pulse_size(a: Inputs, needed: bool) -> None:
    """A preset brings its pulse size: ``dw_min`` defaults to it where pulses are simulated."""
    if needed and getattr(a, "dw_min", None) is None and (a.response or "").startswith("preset:"):
        a.dw_min = presets.get(a.response).dw_min


def build_devices(a: Inputs, two_arrays: bool, pulses: bool, trains=None):
    """(the gradient / residual array's Device, the main array's Device or None): one builder for every
    command, so a device option means the same in simulate, calibrate and train."""
    dw = a.dw_min if pulses else None
    max_bl = getattr(a, "max_bl", None)
    c2c = getattr(a, "c2c_model", None) or "additive"       # how sigma_c enters a pulse (Device.c2c_model)
    resp = build_response(a)
    if dw is not None:
        check_pulse_size(dw, resp)
    array = device.Device(resp, dw_min=dw, sigma_c=a.sigma_c, max_bl=max_bl, trains=trains, c2c_model=c2c)
    main = None
    if two_arrays:
        main = device.Device(build_main_response(a), dw_min=dw, sigma_c=a.sigma_c, max_bl=max_bl, trains=trains,
                             c2c_model=c2c)
    return array, main


# a pulse must move a float64 weight by many ulps: |w| / dw_min <= 2^40 keeps the rounding of one pulse below
# 2^-12 = 2.4e-4 of its size (float64 spacing is 2^-52 |w|)
PULSE_RESOLUTION = 2.0 ** -40


def check_pulse_size(dw_min: float, resp) -> None:
    """Refuse a pulse size that float64 weights on the response's range cannot resolve."""
    scale = max([1.0] + [abs(x) for x in (resp.lo, resp.hi) if np.isfinite(x)])   # an unbounded range: 1
    if dw_min < PULSE_RESOLUTION * scale:
        raise InputError("dw_min", f"must be >= {PULSE_RESOLUTION * scale:.3g} (2^-40 of the largest |w| on the range "
                                   f"{resp.lo:g}..{resp.hi:g}): smaller pulses are lost to float64 rounding of the "
                                   f"weights (got {dw_min:g})")


def pulse_trains(a: Inputs):
    """``desired_bl`` as per-sample pulse trains (a pulse-level model: needs ``pulses``)."""
    if a.desired_bl is None:
        return None
    if not a.pulses:
        raise InputError("desired_bl", "pulse trains are a pulse-level model: add --pulses --dw-min X")
    from ..pulse_trains import PulseTrains
    return PulseTrains(desired_bl=a.desired_bl)


def algorithm_options(a: Inputs, spec: registry.AlgorithmSpec) -> dict:
    """All options of the algorithm: the ones the user gave (an inapplicable one is an error), defaults
    for the rest."""
    given = {name: getattr(a, name) for name in registry.OPTIONS if getattr(a, name, None) is not None}
    if spec.main_pulse_threshold and getattr(a, "dw_min", None) is not None and not a.pulses:
        given.setdefault(spec.main_pulse_threshold, a.dw_min)   # e.g. RL v2's threshold is the main array's dw_min
    return registry.with_defaults(spec.name, given)


# what describes an analog array: meaningless for an algorithm without one
ARRAY_OPTIONS = ("response", "param", "q_plus", "q_minus", "range", "sp_shift", "pulses", "dw_min", "desired_bl",
                 "max_bl", "sigma_c", "gain_dtod", "imbalance_dtod", "preset_dtod", "ref_mean", "ref_std")
# what describes the main array W: meaningless for an algorithm with one array
MAIN_OPTIONS = ("main_response", "main_param", "main_q_plus", "main_q_minus", "main_range")


def check_arrays(a: Inputs, spec: registry.AlgorithmSpec, name: str | None = None) -> None:
    """Options for an array the chosen algorithm (``name``: the algorithms, for a comparison) does not have
    are errors, not ignored: the response and device options without an analog array, the main array's
    without a second one."""
    if not spec.analog:
        table = parameters(a.command)
        for option in ARRAY_OPTIONS:
            if option in table and getattr(a, option) != table[option].default:
                raise InputError(option, f"{name or spec.name} has no analog array: response and device options "
                                         "do not apply")
    if not spec.two_arrays:
        table = parameters(a.command)
        given = [k for k in MAIN_OPTIONS if k in table and getattr(a, k) != table[k].default]
        if given:
            raise InputError(given[0], f"{spec.name} has one array: --main-response/--main-param/--main-q-plus/"
                                       "--main-q-minus/--main-range apply only to two-array algorithms (" + ", ".join(
                                           n for n, s in registry.ALGORITHMS.items() if s.two_arrays) + ")")


def check_step(obj, spec: registry.AlgorithmSpec, resp, lr: float, opts: dict) -> None:
    """The same step-size rule for simulate and fixed-point: a step that makes the mean dynamics
    diverge is an error in both. Where the weight lives (and so the largest pulse response that
    matters) comes from the registry: the residual array near its start, one array near w*."""
    if spec.two_arrays:
        p0 = float(opts.get("q0", 0.0))
        if not resp.lo < p0 < resp.hi:
            raise InputError("q0" if "q0" in opts else "sp_shift",
                             f"the residual array P starts at {p0:g}, outside its weight range ({resp.lo:g}, "
                             f"{resp.hi:g}); move the range (--sp-shift, -p) or the start")
        obj.check_step(lr, q_max(resp, p0))   # P lives near its reference
        noise = float(opts.get("read_noise", 0.0) or 0.0)
        width = min(resp.hi - resp.lo, 2 * Q_MAX_WINDOW)      # P's range (or the window where it lives)
        if noise > READ_NOISE_RANGES * width:
            raise InputError("read_noise", f"must be <= {READ_NOISE_RANGES:g} x the residual array's weight range "
                                           f"({READ_NOISE_RANGES * width:.4g}; got {noise:g}): a read whose noise "
                                           f"exceeds P's whole range {READ_NOISE_RANGES:g}-fold carries no "
                                           "information about P, and the mean it gives is noise")
    elif spec.analog:
        if not resp.lo < obj.w_star < resp.hi:
            raise InputError("w_star", f"must lie inside the weight range ({resp.lo:g}, {resp.hi:g})")
        obj.check_step(lr, q_max(resp, obj.w_star))
    else:
        obj.check_step(lr)


Q_MAX_WINDOW = 10.0         # how far from where the weight lives the divergence check looks
READ_NOISE_RANGES = 10.0    # the largest read noise, in multiples of P's weight range


def q_max(resp: response.Response, centre: float) -> float:
    """Largest pulse response within 10 of where the weight lives (for the divergence check)."""
    c = float(np.clip(centre, resp.lo, resp.hi))          # a centre outside the range: its nearest end
    grid = np.linspace(max(resp.lo, c - Q_MAX_WINDOW), min(resp.hi, c + Q_MAX_WINDOW), 1001)[1:-1]
    with np.errstate(all="ignore"):
        q = np.maximum(resp.q_plus(grid), resp.q_minus(grid))
    return float(np.max(q[np.isfinite(q)], initial=1.0))


def variation(a: Inputs):
    """``gain_dtod``/``imbalance_dtod``, or with ``preset_dtod`` the preset's own (its gain law included)."""
    from ..calibration import Variation
    if not getattr(a, "preset_dtod", False):
        return Variation(a.gain_dtod, a.imbalance_dtod)
    if not (a.response or "").startswith("preset:"):
        raise InputError("preset_dtod", "needs --response preset:NAME")
    if a.gain_dtod or a.imbalance_dtod:
        raise InputError("preset_dtod", "give either --preset-dtod or --gain-dtod/--imbalance-dtod, not both")
    var = presets.variation(presets.get(a.response))
    a.gain_dtod, a.imbalance_dtod = var.gain, var.imbalance      # recorded in the provenance
    return var


def population(a: Inputs, n: int, name: str = "devices"):
    """(variation, the n drawn devices) for gain_dtod/imbalance_dtod/preset_dtod, or (None, None);
    simulate and fixed-point draw with the same generator, so the same seed gives the same devices."""
    var = variation(a)
    if not var.varies:
        return None, None
    if isinstance(n, bool) or n < 1:
        raise InputError(name, f"must be an integer >= 1 (got {n})")
    from ..runtime import check_memory
    check_memory(name, n, 400)          # a dozen per-device arrays while drawing and solving
    return var, var.population(n, np.random.default_rng([a.seed, 0xD2D]))


def population_forms(resp, var, pop):
    """The theory's expressions, parameters, ranges and offsets of the drawn devices (see
    :func:`aimc_theory.preset_report.population_forms`)."""
    from ..preset_report import population_forms as forms
    return forms(pop, var.preset if isinstance(var, presets.PresetVariation) else None, resp)


def summary(x) -> dict:
    """mean, std, p5, median, p95 of ``x``."""
    x = np.asarray(x, float)
    p = np.percentile(x, [5, 50, 95])
    return {"mean": float(x.mean()), "std": float(x.std()), "p5": float(p[0]), "median": float(p[1]),
            "p95": float(p[2])}


def finite(x):
    """``x`` as a float, or None when it is None or not finite."""
    return None if x is None or not np.isfinite(x) else float(x)


def out_dir(path: str, sub: str | None = None, create: bool = True) -> Path:
    """Create (and check) the output directory before any work starts: a bad ``out`` fails at once. Called once
    the command's other inputs are checked, so that a bad one leaves no empty directory behind. ``create`` False:
    only check that it can be made (it is made and removed again: permissions alone do not tell, e.g. for root or
    under /sys), for a command whose inputs are checked as its work goes (it calls again with ``create`` before it
    writes)."""
    out = Path(path) if sub is None else Path(path) / sub
    for p in (Path(path), out):
        if p.exists() and not p.is_dir():
            raise InputError("out", f"{p} is a file; give a directory")
    missing = []                # the folders this call makes (create False: removed again before it returns)
    there = out
    while not there.exists() and there != there.parent:
        missing.append(there)
        there = there.parent
    try:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError("out", f"cannot create the directory {out}: {exc.strerror}") from None
        if not os.access(out, os.W_OK):
            raise InputError("out", f"the directory {out} is not writable")
    finally:
        if not create:
            for d in missing:   # the deepest first
                try:
                    d.rmdir()
                except OSError:
                    break
    return out
