"""The aimc-theory command line: derive, fixed-point, simulate, calibrate, reproduce, train, presets, fit, sweep, check.

Every command takes ``--json`` and then prints exactly one JSON object on stdout. Exit status:
0 success, 2 bad input (one line on stderr naming the parameter), 1 when ``check`` finds a
verdict that is not the expected one.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from contextvars import ContextVar
from pathlib import Path

import numpy as np

from . import device, objectives, presets, registry, response, simulation
from .files import save_figure
from .errors import InputError, require_finite
from .runtime import retain_freed_memory
from . import __version__
from .pulse_trains import PulseTrains



class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse would print the usage too)
        raise InputError("usage", message)


def _add_response(p: argparse.ArgumentParser, main: bool = True, title: str = "response functions") -> None:
    g = p.add_argument_group(title)
    g.add_argument("--response", help="built-in family: " + ", ".join(response.FAMILIES) + "; or preset:NAME, a "
                                      "device preset of the reference simulator (aimc-theory presets)")
    g.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="family or expression parameter (repeatable)")
    g.add_argument("--q-plus", help="expression for q+(w) (with --q-minus), e.g. as printed by aimc-theory fit")
    g.add_argument("--q-minus", help="expression for q-(w) (with --q-plus)")
    g.add_argument("--range", help="weight range LO,HI for expressions")
    g.add_argument("--sp-shift", type=float, default=0.0, help="move the response by D: q(w - D)")
    if not main:
        return
    g.add_argument("--main-response", default="ideal",
                   help="two-array algorithms: the main array W's family (default ideal)")
    g.add_argument("--main-param", action="append", default=[], metavar="KEY=VALUE",
                   help="parameter of --main-response (repeatable)")


def _params(items) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise InputError("-p", f"expected KEY=VALUE (got {item!r})")
        k, v = item.split("=", 1)
        out[k.strip()] = require_finite(f"-p {k.strip()}", v)
    return out


def _response(args) -> response.Response:
    params = _params(args.param)
    if args.q_plus is not None or args.q_minus is not None:
        if args.response:
            raise InputError("--response", "give either --response or --q-plus/--q-minus, not both")
        if args.q_plus is None or args.q_minus is None:
            raise InputError("--q-plus" if args.q_plus is None else "--q-minus",
                             "both --q-plus and --q-minus are required")
        rng = None
        if args.range:
            parts = args.range.split(",")
            if len(parts) != 2:
                raise InputError("--range", f"expected LO,HI (got {args.range!r})")
            rng = (require_finite("--range", parts[0]), require_finite("--range", parts[1]))
        resp = response.from_expressions(args.q_plus, args.q_minus, params, rng)
    elif args.response and args.response.startswith("preset:"):
        preset = presets.get(args.response)
        for flag, given in (("-p", params), ("--range", args.range)):
            if given:
                raise InputError(flag, f"a preset's response is fixed ({preset.name}); move it with --sp-shift or "
                                       "write it as --q-plus/--q-minus to change it")
        resp = preset.response()
    else:
        if args.range:
            raise InputError("--range", "only applies to --q-plus/--q-minus expressions")
        resp = response.get(args.response or "softbounds", **params)
    return resp.shifted(args.sp_shift) if args.sp_shift else resp


def _preset_pulse_size(args, needed: bool) -> None:
    """A preset brings its pulse size: --dw-min defaults to it where pulses are simulated."""
    if needed and getattr(args, "dw_min", None) is None and (args.response or "").startswith("preset:"):
        args.dw_min = presets.get(args.response).dw_min


def _add_problem(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scalar quadratic f = L/2 (w - w*)^2, g = f'(w) + noise * xi, xi ~ N(0, 1)")
    g.add_argument("--algorithm", default="analog-sgd", help="one of: " + ", ".join(registry.ALGORITHMS))
    g.add_argument("--L", type=float, default=1.0, help="curvature L (default 1)")
    g.add_argument("--w-star", type=float, default=0.5, help="optimum w* (default 0.5)")
    g.add_argument("--noise", type=float, default=0.3, help="std of the gradient noise (default 0.3)")
    g.add_argument("--lr", type=float, default=0.01, help="learning rate (default 0.01)")
    g.add_argument("--w0", type=float, default=None, help="initial (main) weight (default w*)")
    g = p.add_argument_group("algorithm options (each applies only to the algorithms named in its help)")
    for opt in registry.OPTIONS.values():
        users = [n for n, s in registry.ALGORITHMS.items() if opt.name in s.options]
        g.add_argument(opt.flag, dest=opt.name, type=opt.kind, default=None,
                       help=f"{opt.help} (default {opt.default:g}; {', '.join(users)})")


def _options(args, spec: registry.AlgorithmSpec) -> dict:
    """All options of the algorithm: the ones the user gave (an inapplicable one is an error), defaults
    for the rest."""
    given = {name: getattr(args, name) for name in registry.OPTIONS if getattr(args, name, None) is not None}
    if spec.name == "residual-learning-v2" and getattr(args, "dw_min", None) is not None and not args.pulses:
        given.setdefault("threshold", args.dw_min)       # RL v2's threshold is the main array's dw_min
    return registry.with_defaults(spec.name, given)


def _main_response(args) -> response.Response:
    try:
        return response.get(args.main_response, **_params(args.main_param))
    except InputError as exc:   # name the option the user typed for the main array
        param = "--main-response" if exc.param == "--response" else exc.param.replace("-p", "--main-param")
        raise InputError(param, str(exc).split(": ", 1)[1]) from None


def jsonable(obj, args=None) -> dict:
    """Strict-JSON form of a result: NaN and infinities become null, and ``null_reasons`` (at the top
    level) says which key was not finite, e.g. {"se": "not a finite number (nan)"} for the SE of a single
    chain; ``provenance`` (version, command, every argument, update model) is added from ``args``."""
    reasons = {}

    def clean(x, path):
        if isinstance(x, (np.generic, np.ndarray)):
            x = x.tolist()
        if isinstance(x, float) and not np.isfinite(x):
            reasons[path or "value"] = f"not a finite number ({x})"
            return None
        if isinstance(x, dict):
            return {k: clean(v, f"{path}.{k}" if path else str(k)) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v, f"{path}[{i}]") for i, v in enumerate(x)]
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        return str(x)

    out = clean(obj, "")
    if reasons and isinstance(out, dict):
        out["null_reasons"] = reasons
    args = _ARGS.get() if args is None else args
    if isinstance(out, dict) and args is not None:
        out["provenance"] = clean(_provenance(args), "provenance")
    return out


def _dumps(obj) -> str:
    return json.dumps(jsonable(obj), allow_nan=False)


def _emit(obj) -> None:
    """The command's JSON result: printed, or handed to :func:`aimc_theory.run.execute` when it runs
    the command from Python (a sweep point)."""
    sink = _SINK.get()
    if sink is not None:
        sink.append(jsonable(obj))
    else:
        print(_dumps(obj))


def _as_json(args) -> bool:
    return bool(args.json) or _SINK.get() is not None


_ARGS: ContextVar = ContextVar("aimc_args", default=None)     # the running command's arguments (provenance)
_SINK: ContextVar = ContextVar("aimc_sink", default=None)     # set by run.execute: results are collected


def _provenance(args) -> dict:
    """What made a result: package version, command, every argument (seed included) and the update model."""
    given = {k: v for k, v in vars(args).items() if k != "fn" and not callable(v)}
    if getattr(args, "pulses", False):
        model = "per-sample pulse trains" if getattr(args, "desired_bl", None) else "pulse level"
    elif args.command in ("simulate", "train"):
        model = "expected update"
    elif args.command == "reproduce":
        model = args.model
    else:
        model = None
    return {"package": "aimc-theory", "version": __version__, "command": args.command, "seed": given.get("seed"),
            "update_model": model, "arguments": given}


def _print(obj: dict, as_json: bool) -> None:
    if as_json or _SINK.get() is not None:
        _emit(obj)
        return
    for k, v in obj.items():
        if isinstance(v, dict):
            continue
        print(f"{k:24s} {v}")


# -- commands ----------------------------------------------------------------------------

def cmd_derive(args) -> int:
    from . import symbolic
    d = symbolic.derive(_response(args), time_budget=args.time_budget)
    _print(d.as_dict(), args.json)
    return 0


def cmd_fixed_point(args) -> int:
    import importlib
    spec = registry.spec(args.algorithm)
    if spec.fixed_point is None:
        with_theory = [n for n, s in registry.ALGORITHMS.items() if s.fixed_point]
        raise InputError("--algorithm", f"no fixed-point theory for {spec.name}; available for "
                                        + ", ".join(with_theory))
    _check_arrays(args, spec)
    opts = _options(args, spec)
    resp = _response(args) if spec.name != "digital-sgd" else None
    _check_step(objectives.ScalarQuadratic(args.L, args.w_star, args.noise), spec, resp, args.lr, opts)
    fn = getattr(importlib.import_module("aimc_theory.symbolic.fixed_points"), spec.fixed_point)
    main = _main_response(args) if spec.two_arrays else None
    w0 = args.w_star if args.w0 is None else require_finite("--w0", args.w0)
    variation, pop = _population(args, 1000 if args.devices is None else args.devices)
    if variation is None and args.devices is not None:
        raise InputError("--devices", "applies with device-to-device variation: add --preset-dtod (with --response "
                                      "preset:NAME) or --gain-dtod/--imbalance-dtod")
    if variation is not None and spec.name not in ("analog-sgd", "residual-learning"):
        raise InputError("--preset-dtod" if args.preset_dtod else "--gain-dtod",
                         "per-device fixed points are derived for analog-sgd and residual-learning")
    out = fn(_response(args), main, args.L, args.w_star, args.noise, args.lr, w0, **opts).as_dict()
    if variation is not None:
        from .symbolic import population_fixed_points, population_rl_fixed_points
        forms, params, lo, hi, offsets = _population_forms(resp, variation, pop)
        if spec.name == "residual-learning":        # the residual array is made of the drawn devices
            fps, _ = population_rl_fixed_points(*forms, pop.s_plus, pop.s_minus, args.L, args.w_star, args.noise,
                                                params, offsets)
            status = np.full(fps.shape, "interior")
        else:
            fps, status = population_fixed_points(*forms, pop.s_plus, pop.s_minus, lo, hi, args.L, args.w_star,
                                                  args.noise, params, offsets=offsets)
        inner = status == "interior"
        out["d2d"] = {"devices": pop.size, "seed": args.seed, "mean": float(np.mean(fps)),
                      "fraction_saturated": float(np.mean(~inner)),
                      "fixed_point_distribution": _summary(fps[inner]) if inner.any() else None}
    _print(out, args.json)
    return 0


def _check_arrays(args, spec) -> None:
    """Response options that the chosen algorithm has no array for are errors, not ignored."""
    if spec.name == "digital-sgd":
        for flag, given in (("--response", args.response), ("-p", args.param), ("--q-plus", args.q_plus),
                            ("--q-minus", args.q_minus), ("--range", args.range), ("--sp-shift", args.sp_shift)):
            if given:
                raise InputError(flag, "digital-sgd has no analog array: response options do not apply")
    if not spec.two_arrays and (args.main_response != "ideal" or args.main_param):
        raise InputError("--main-response", f"{spec.name} has one array: --main-response/--main-param apply only "
                                            "to two-array algorithms (" + ", ".join(
                                                n for n, s in registry.ALGORITHMS.items() if s.two_arrays) + ")")


def cmd_simulate(args) -> int:
    spec = registry.spec(args.algorithm)
    trains = None
    if args.desired_bl is not None:
        if not args.pulses:
            raise InputError("--desired-bl", "pulse trains are a pulse-level model: add --pulses --dw-min X")
        trains = PulseTrains(desired_bl=args.desired_bl)
    obj = objectives.ScalarQuadratic(args.L, args.w_star, args.noise, per_sample=trains is not None)
    _preset_pulse_size(args, args.pulses)
    if args.pulses and args.dw_min is None:
        raise InputError("--dw-min", "--pulses needs the pulse granularity --dw-min X (> 0)")
    if args.dw_min is not None and not args.pulses and spec.name != "residual-learning-v2":
        raise InputError("--pulses", "--dw-min only applies with --pulses (or as RL v2's threshold)")
    for flag, value, unset in (("--max-bl", args.max_bl, None), ("--sigma-c", args.sigma_c, 0.0)):
        if value != unset and not args.pulses:
            raise InputError(flag, "applies only to the pulse-level model: add --pulses --dw-min X")
    _check_arrays(args, spec)
    opts = _options(args, spec)
    dw = args.dw_min if args.pulses else None
    resp = _response(args)
    array = device.Device(resp, dw_min=dw, sigma_c=args.sigma_c, max_bl=args.max_bl, trains=trains)
    main = None
    if spec.two_arrays:
        main = device.Device(_main_response(args), dw_min=dw, sigma_c=args.sigma_c, max_bl=args.max_bl,
                             trains=trains)
    _check_step(obj, spec, resp, args.lr, opts)
    if args.w0 is not None:
        host = main.response if main is not None else resp
        if spec.name != "digital-sgd" and not host.lo < require_finite("--w0", args.w0) < host.hi:
            raise InputError("--w0", f"must lie inside the weight range ({host.lo:g}, {host.hi:g}) of the array "
                                     f"that holds the weights (got {args.w0:g}); at or beyond a bound the device "
                                     "saturates")
    variation, pop = _population(args, args.chains, "--chains")
    if variation is not None:           # each chain its own device (the gradient / residual array)
        if spec.name == "digital-sgd":
            raise InputError("--preset-dtod" if args.preset_dtod else "--gain-dtod", "digital-sgd has no analog array")
        array = pop.device(array, (args.chains, 1))
    opt = registry.build(spec.name, args.lr, array, main, seed=args.seed, **opts)
    res = simulation.run(obj, opt, args.steps, args.chains, args.seed,
                         w0=args.w_star if args.w0 is None else args.w0, progress=_eta("simulate"),
                         backend=args.backend, record_every=max(1, args.steps // 10_000),   # no trajectory in the JSON
                         dtype=np.float32 if args.dtype == "float32" else np.float64)
    out = res.as_dict()
    if spec.final_keys:
        out.update(spec.final_keys(res.final_params, res.final_state))
    if variation is not None:           # the chains' own stationary means (time averages), one per device
        out["d2d"] = {"devices": args.chains, "seed": args.seed, "chain_mean_distribution": _summary(res.chain_means[:, 0])}
    _print(out, args.json)
    return 0


def _eta(label: str, unit: str = "step"):
    """A progress line with the ETA on stderr for runs that take longer than a few seconds (stdout, and
    so --json, stays clean)."""
    state = {"shown": False, "first": None}

    def show(step, steps, seconds):
        if state["first"] is None:                         # a call at 0 s gives the work done before (a
            state["first"] = step if seconds == 0 else 0   # resumed sweep): the ETA counts only new steps
        new = step - state["first"]
        if (not new or seconds * (steps - state["first"]) / new < 3.0) and not state["shown"]:
            return                                         # a short run: no progress line
        eta = seconds * (steps - step) / max(new, 1)
        end = "\n" if step >= steps else ""
        sys.stderr.write(f"\r{label}: {unit} {step:,}/{steps:,} ({100 * step / max(steps, 1):.0f}%), {seconds:.1f} s, "
                         f"ETA {eta:.0f} s " + end)
        sys.stderr.flush()
        state["shown"] = True
    return show


def _check_step(obj, spec, resp, lr, opts) -> None:
    """The same step-size rule for simulate and fixed-point: a step that makes the mean dynamics
    diverge is an error in both."""
    if spec.two_arrays:
        p0 = float(opts.get("q0", 0.0))
        if not resp.lo < p0 < resp.hi:
            raise InputError("--q0" if "q0" in opts else "--sp-shift",
                             f"the residual array P starts at {p0:g}, outside its weight range ({resp.lo:g}, "
                             f"{resp.hi:g}); move the range (--sp-shift, -p) or the start")
        obj.check_step(lr, _q_max(resp, p0))   # P lives near its reference
    elif spec.name == "analog-sgd":
        if not resp.lo < obj.w_star < resp.hi:
            raise InputError("w_star", f"must lie inside the weight range ({resp.lo:g}, {resp.hi:g})")
        obj.check_step(lr, _q_max(resp, obj.w_star))
    else:
        obj.check_step(lr)


def _q_max(resp: response.Response, centre: float) -> float:
    """Largest pulse response within 10 of where the weight lives (for the divergence check)."""
    c = float(np.clip(centre, resp.lo, resp.hi))          # a centre outside the range: its nearest end
    grid = np.linspace(max(resp.lo, c - 10), min(resp.hi, c + 10), 1001)[1:-1]
    with np.errstate(all="ignore"):
        q = np.maximum(resp.q_plus(grid), resp.q_minus(grid))
    return float(np.max(q[np.isfinite(q)], initial=1.0))


def cmd_calibrate(args) -> int:
    """Zero-shifting SP calibration: simulate the pulses and print the theory next to them."""
    from . import calibration
    from .symbolic import derive
    from .symbolic.calibration import calibration_theory
    resp = _response(args)
    _preset_pulse_size(args, True)
    if (args.response or "").startswith("preset:") and resp.every_point_symmetric \
            and not (args.gain_dtod or args.imbalance_dtod):
        raise InputError("--response", f"{args.response} has constant steps (q+ = q-): every point is symmetric, "
                                       f"there is no SP to calibrate to; {presets.get(args.response).note}")
    if args.dw_min is None:
        raise InputError("--dw-min", "calibration needs the pulse size --dw-min X (> 0)")
    dev = device.Device(resp, dw_min=args.dw_min, sigma_c=args.sigma_c)
    if args.w0 is None:         # 0, or the middle of the range where 0 is not inside (PCM's [0, 2])
        args.w0 = 0.0 if resp.lo < 0.0 < resp.hi else 0.5 * (resp.lo + resp.hi)
    variation = _variation(args)
    res = calibration.zero_shift(dev, args.w0, args.pulses, args.scheme, devices=args.chains, seed=args.seed,
                                 variation=variation, tolerance=args.tolerance, progress=_eta("calibrate"),
                                 without_sp="skip")
    ok = res.has_sp                 # devices without an SP (they drift to a bound) are counted, not calibrated
    err = res.error[ok]
    simulated = {"final_error": float(err.mean()),
                 "final_error_se": float(err.std(ddof=1) / np.sqrt(err.size)) if err.size > 1 else None,
                 "rms_error": float(np.sqrt(np.mean(err ** 2))),
                 "mean_abs_error": float(np.mean(np.abs(err))),
                 "pulses_to_tolerance": _settled(res.settled[ok], args.pulses),
                 "fraction_settled": float(np.mean(res.settled[ok] <= args.pulses))}
    if variation.varies:
        # the theory of every device: the same draws (same seed), each device's SP and contraction from its
        # expressions (a preset's per-device forms with its drawn bounds/slopes), not from the simulation
        from .symbolic.calibration import population_calibration_theory, population_symmetric_points
        pop = variation.population(args.chains, np.random.default_rng(args.seed))
        forms, params, lo, hi, offsets = _population_forms(resp, variation, pop)
        wsp, status = population_symmetric_points(*forms, pop.s_plus, pop.s_minus, lo, hi, params)
        inner = status == "interior"
        sel = lambda a: np.broadcast_to(a, inner.shape)[inner]          # noqa: E731
        th = population_calibration_theory(*forms, args.dw_min, sel(pop.s_plus), sel(pop.s_minus), sel(wsp),
                                           None if params is None else {k: sel(v) for k, v in params.items()})
        sps = sel(wsp) + sel(offsets)
        mean_e, rms_e = th.errors_after(args.scheme, args.w0 - sps, args.pulses)
        theory = {"contraction_per_pulse": _summary(th.contraction_per_pulse(args.scheme)),
                  "floor": _summary(th.floor(args.scheme, args.pulses)),
                  "final_error": float(np.mean(mean_e)), "rms_error": float(np.sqrt(np.mean(rms_e ** 2))),
                  "pulses_to_tolerance": None, "abs_error_distribution": _summary(rms_e),
                  "fraction_without_sp": float(np.mean(~inner))}
        simulated["abs_error_distribution"] = _summary(np.abs(err))
        simulated["fraction_without_sp"] = float(np.mean(~ok))
        spread = {"symmetric_point_distribution": _summary(sps), "clipped_devices": pop.clipped}
        simulated["symmetric_point_distribution"] = _summary(res.target[ok])
        sp_value = float(np.mean(sps))
    else:
        th = calibration_theory(derive(resp, penalty=False), args.dw_min)
        x0 = args.w0 - th.symmetric_point
        mean_e, rms_e = th.errors_after(args.scheme, x0, args.pulses)
        theory = {"contraction_per_pulse": float(th.contraction_per_pulse(args.scheme)),
                  "floor": float(th.floor(args.scheme, args.pulses)),
                  "final_error": float(mean_e), "rms_error": float(rms_e),
                  "pulses_to_tolerance": _finite(th.pulses_to_tolerance(args.scheme, x0, args.tolerance)),
                  "pair_contraction": float(th.pair_contraction),
                  "cycle": [float(v) for v in th.cycle],
                  "stationary_second_moment": float(th.stochastic_second_moment),
                  "paper_bounds": th.paper_bounds(args.w0, args.pulses, args.tolerance)}
        spread = {}
        sp_value = float(th.symmetric_point)
    out = {"symmetric_point": sp_value, "scheme": args.scheme, "dw_min": args.dw_min, "pulses": args.pulses,
           "devices": args.chains, "tolerance": args.tolerance, "theory": theory, "simulated": simulated,
           **spread, "seconds": res.seconds}
    if _as_json(args):
        _emit(out)
    else:
        print(f"symmetric point {sp_value:.6g}; {args.scheme} zero-shifting, {args.pulses} pulses of "
              f"{args.dw_min:g} on {args.chains} device(s)")
        print(f"{'':24s} {'theory':>14s} {'simulated':>14s}")
        for k in ("final_error", "rms_error", "pulses_to_tolerance"):
            print(f"{k:24s} {_fmt(theory.get(k)):>14s} {_fmt(simulated.get(k)):>14s}")
        print(f"{'floor (rms, N -> inf)':24s} {_fmt(theory['floor']):>14s}")
        print(f"{'contraction per pulse':24s} {_fmt(theory['contraction_per_pulse']):>14s}")
        if "fraction_without_sp" in simulated:
            print(f"{'devices without an SP':24s} {theory['fraction_without_sp']:14.4f} "
                  f"{simulated['fraction_without_sp']:14.4f}  (they drift to a bound; not in the errors above)")
    return 0


def _settled(settled, pulses):
    """Median over devices of the pulses after which |w - SP| stayed within the tolerance (None if
    most devices never settled)."""
    med = float(np.median(settled))
    return med if med <= pulses else None


def cmd_reproduce(args) -> int:
    """Rerun a published experiment as its authors ran it (or a named simplification)."""
    from . import reproduce
    if args.experiment not in reproduce.EXPERIMENTS:
        raise InputError("EXPERIMENT", f"must be one of {', '.join(reproduce.EXPERIMENTS)} (got {args.experiment!r})")
    out_dir = _out_dir(args.out, "figures")
    res = reproduce.EXPERIMENTS[args.experiment](steps=args.steps, seeds=args.seeds, model=args.model,
                                                seed=args.seed, progress=_eta("reproduce"))
    out_dir.mkdir(parents=True, exist_ok=True)
    fig = reproduce.draw_fig2([res], out_dir / f"p1_fig2_{res.model}.png")
    data = res.as_dict() | {"figure": fig}
    if _as_json(args):
        _emit(data)
    else:
        print(f"P1 Fig. 2, model {res.model}: f(W) after {res.steps} steps, mean ± std over {res.seeds} seeds")
        print(f"{'up_down':>8s} {'SP':>8s} {'analog-sgd':>22s} {'tiki-taka':>22s}")
        for i, u in enumerate(res.up_down):
            print(f"{u:8.2f} {res.symmetric_point[i]:8.3f} {res.analog_sgd[i]:11.3e} ± {res.analog_sgd_std[i]:8.1e} "
                  f"{res.tiki_taka[i]:11.3e} ± {res.tiki_taka_std[i]:8.1e}")
        print(f"figure: {fig}; {res.seconds:.1f} s")
    return 0


def cmd_train(args) -> int:
    """Train the NumPy MLP on real or built-in data with analog tiles (the network path)."""
    from . import data, network
    out_dir = _out_dir(args.out, "figures")
    ds = data.load(args.dataset)
    try:
        hidden = tuple(int(h) for h in args.hidden.split(",")) if args.hidden else ()
    except ValueError:
        raise InputError("--hidden", f"must be comma-separated integers >= 1, e.g. 256,128 (got {args.hidden!r})") from None
    algs = [a.strip() for a in args.compare.split(",")] if args.compare else [args.algorithm]
    for a in algs:
        registry.spec(a)
    repeats = args.repeats
    if repeats < 1:
        raise InputError("--repeats", f"must be an integer >= 1 (got {repeats})")
    trains = None
    if args.desired_bl is not None:
        if not args.pulses:
            raise InputError("--desired-bl", "pulse trains are a pulse-level model: add --pulses --dw-min X")
        trains = PulseTrains(desired_bl=args.desired_bl)
    _preset_pulse_size(args, args.pulses)
    if args.pulses and args.dw_min is None:
        raise InputError("--dw-min", "--pulses needs the pulse granularity --dw-min X (> 0)")
    dw = args.dw_min if args.pulses else None
    resp = _response(args)
    dev = device.Device(resp, dw_min=dw, sigma_c=args.sigma_c, trains=trains)
    main_dev = device.Device(_main_response(args), dw_min=dw, sigma_c=args.sigma_c, trains=trains)
    variation = _variation(args)
    variation = variation if variation.varies else None
    progress = None if args.json or args.quiet else network.stderr_progress
    runs = []
    for a in algs:
        spec = registry.spec(a)
        given = {name: getattr(args, name) for name in registry.OPTIONS if getattr(args, name, None) is not None}
        opts = registry.with_defaults(a, {k: v for k, v in given.items() if k in spec.options}) if args.compare \
            else _options(args, spec)
        for r in range(repeats):
            if progress:
                progress(f"{a} (seed {args.seed + r})\n")
            runs.append(network.train(ds, a, dev, main_dev if spec.two_arrays else None, epochs=args.epochs,
                                      batch_size=args.batch_size, lr=args.lr, seed=args.seed + r, hidden=hidden,
                                      architecture=args.architecture, variation=variation,
                                      options=opts, progress=progress,
                                      reference_offset=(args.ref_mean, args.ref_std)
                                      if args.ref_mean or args.ref_std else None))
    fig = _draw_training(runs, ds.name, out_dir / f"train_{ds.name}.png")
    table = []
    for a in algs:
        acc = np.array([r.test_accuracy for r in runs if r.algorithm == a])
        table.append({"algorithm": a, "test_accuracy_mean": float(acc.mean()),
                      "test_accuracy_std": float(acc.std(ddof=1)) if acc.size > 1 else 0.0, "repeats": int(acc.size)})
    if _as_json(args):
        first = runs[0].as_dict()
        _emit(first | {"dataset": ds.name, "response": resp.describe(), "figure": fig,
                       "runs": [r.as_dict() for r in runs], "table": table})
    else:
        print(f"{'algorithm':22s} {'test accuracy':>22s} {'s/epoch':>8s}   ({ds.name}, {resp.describe()}, "
              f"{args.epochs} epochs, batch {args.batch_size})")
        for row in table:
            sec = np.mean([np.mean(r.seconds_per_epoch) for r in runs if r.algorithm == row["algorithm"]])
            print(f"{row['algorithm']:22s} {row['test_accuracy_mean']:11.4f} ± {row['test_accuracy_std']:.4f} "
                  f"(n={row['repeats']}) {sec:8.2f}")
        print(f"learning curves: {fig}")
    return 0


def _draw_training(runs, name, path) -> str:
    from matplotlib.figure import Figure
    fig = Figure(figsize=(11, 4))
    ax1, ax2 = fig.subplots(1, 2)
    colors = {}
    for r in runs:
        c = colors.setdefault(r.algorithm, f"C{len(colors)}")
        ep = np.arange(1, len(r.train_loss) + 1)
        ax1.plot(ep, r.train_loss, "o-", color=c, label=r.algorithm if r.seed == runs[0].seed else None)
        ax2.plot(ep, r.test_curve, "o-", color=c, label=r.algorithm if r.seed == runs[0].seed else None)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("test accuracy")
    ax1.set_title(f"MLP on {name}")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
    return str(path)


def _summary(x) -> dict:
    x = np.asarray(x, float)
    p = np.percentile(x, [5, 50, 95])
    return {"mean": float(x.mean()), "std": float(x.std()), "p5": float(p[0]), "median": float(p[1]),
            "p95": float(p[2])}


def _finite(x):
    return None if x is None or not np.isfinite(x) else float(x)


def _fmt(x) -> str:
    if isinstance(x, dict):
        return f"{x['mean']:.6g}±{x['std']:.2g}"
    return "—" if x is None else f"{x:.6g}"


def _out_dir(path: str, sub: str | None = None) -> Path:
    """Create (and check) the output directory before any work starts: a bad --out is exit 2 at once."""
    out = Path(path) if sub is None else Path(path) / sub
    for p in (Path(path), out):
        if p.exists() and not p.is_dir():
            raise InputError("--out", f"{p} is a file; give a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError("--out", f"cannot create the directory {out}: {exc.strerror}") from None
    if not os.access(out, os.W_OK):
        raise InputError("--out", f"the directory {out} is not writable")
    return out


def _device_claims(args):
    """check --response ...: the catalogue's single-response claims on the user's device (family 'device')."""
    if not (args.response or args.q_plus or args.q_minus or args.param or args.range):
        return None
    if args.network:
        raise InputError("--network", "the network claims compare fixed responses; with --response only the "
                                      "single-response claims run")
    resp = _response(args)
    if resp.every_point_symmetric:
        raise InputError("--response", f"{resp.describe()} has q+ = q- (every point symmetric): there is no SP, no "
                                       "Analog SGD bias and no residual SP for the claims to compare")
    from verification.claim_types import W_STAR
    if not resp.lo < W_STAR < resp.hi:
        raise InputError("--response", f"the claims' problem has its optimum at w* = {W_STAR}, outside the range "
                                       f"({resp.lo:g}, {resp.hi:g}) of {resp.describe()}; move it with --sp-shift")
    return resp


def cmd_check(args) -> int:
    out = _out_dir(args.out)
    return _check(args, out, _device_claims(args))


def _check(args, out, device_resp) -> int:
    from verification import checker
    ids = None
    if args.claims is not None:
        ids = [s.strip() for s in args.claims.split(",")]
        if not all(ids):
            raise InputError("--claims", f"empty claim id in {args.claims!r}; ids look like 5 or 5.softbounds "
                                         "(leave --claims out to run every claim)")
    if device_resp is not None:
        from verification.catalogue import select
        ids = [c.id for c in select(ids, False, device=device_resp)]     # the claims built for the user's device
        if not ids:
            raise InputError("--claims", f"no single-response claim matches {args.claims!r}; with --response the "
                                         "claims are 1, 2, 4-12 and 14-18 (ids like 5.device)")
    elif ids:
        from verification.catalogue import select
        if not select(ids, args.network):
            raise InputError("--claims", f"no claim matches {args.claims!r}; ids look like 5 or 5.softbounds")
    from verification import mutants as mutant_ops
    mutants = list(mutant_ops.BATTERY) if args.mutants else []
    if args.mutate:
        mutant_ops.parse(args.mutate)
        if args.mutate not in mutants:
            mutants.append(args.mutate)
    t0 = time.perf_counter()
    rows = checker.run(ids, fast=args.fast, progress=True, workers=args.workers, network=args.network,
                       mutants=mutants, device=device_resp)
    figs = [] if args.no_figures else checker.make_figures(rows, out / "figures", device=device_resp)
    seconds = time.perf_counter() - t0          # the whole job: claims, figures and report
    checker.write_report(rows, out / "paper_checks.md", args.fast, seconds, figs, device=device_resp)
    ok = checker.all_as_expected(rows)
    score = mutant_ops.score(rows) if mutants else None
    if _as_json(args):
        obj = {"claims": checker.public(rows), "all_as_expected": ok, "seconds": seconds}
        if score is not None:
            obj.update(mutation_score=score["score"], mutation_counts=score["counts"],
                       survivors=[{"claim": cid, "mutant": m, "why": why} for cid, m, why in checker.survivors(rows)])
        _emit(obj)
    else:
        print(f"{'id':24s} {'theory':>12s} {'measured':>12s} {'se':>9s} {'tol':>9s} {'mde':>9s}  verdict (expected)"
              + ("  wrong theories" if mutants else ""))
        for r in rows:
            f = checker.fmt
            extra = ""
            if r.get("mutants"):
                judged = {k: v for k, v in r["mutants"].items() if v != mutant_ops.NOT_APPLICABLE}
                extra = "  " + (", ".join(f"{k}: {v}" for k, v in judged.items()) or "none applicable")
            kind = "" if r.get("kind", "claim") == "claim" else " [impl.]"
            print(f"{r['id'] + kind:24s} {f(r['theory']):>12s} {f(r['measured']):>12s} {f(r['se']):>9s} "
                  f"{f(r['tolerance']):>9s} {f(r.get('mde')):>9s}  {r['verdict']} ({r['expected_verdict']}){extra}")
        n_claims = sum(r.get("kind", "claim") == "claim" for r in rows)
        print(f"{n_claims} claims and {len(rows) - n_claims} implementation checks in {seconds:.1f} s (with the figures); report: "
              f"{out / 'paper_checks.md'}; {'all verdicts as expected' if ok else 'SOME VERDICTS UNEXPECTED'}")
        if score is not None and score["score"] is not None:
            c = score["counts"]
            print(f"mutation score {score['score']:.3f} (killed {c['killed']}, survived {c['survived']}, "
                  f"no prediction {c['no prediction']}, not applicable {c['not applicable']})"
                  + ("; survivors:" if score["survivors"] else "; no survivors"))
            for cid, m, why in checker.survivors(rows):
                print(f"  {cid} x {m}: {why}")
    return 0 if ok else 1


def cmd_sweep(args) -> int:
    """A parameter study from a TOML file: points on an executor, a tidy table, figures; resumable."""
    from . import sweep
    study = sweep.load(args.study)
    out = _out_dir(args.out)
    if args.workers is not None and args.workers < 1:
        raise InputError("--workers", f"must be an integer >= 1 (got {args.workers})")
    ex = sweep.executor(args.executor, args.scheduler)
    n = len(sweep.points(study))
    bar = _eta("sweep", unit="point")
    try:
        res = sweep.run_study(study, out, execute=ex, workers=args.workers, progress=bar,
                              figures=not args.no_figures)
    except KeyboardInterrupt:
        sys.stderr.write(f"\nsweep interrupted; finished points are kept in {out / (study.name + '_points')}: "
                         "run the same command again to resume\n")
        return 130
    errors = sum(r["status"] != "ok" for r in res.rows)
    summary = {"study": study.name, "command": study.command, "points": n, "done_before": res.done_before,
               "errors": errors, "table": str(res.table), "parquet": str(res.parquet) if res.parquet else None,
               "figures": res.figures, "seconds": res.seconds}
    if _as_json(args):
        _emit(summary)
    else:
        print(f"{study.name}: {n} points of '{study.command}' ({res.done_before} done before, {errors} with "
              f"errors) in {res.seconds:.1f} s")
        print(f"table: {res.table}" + (f" and {res.parquet}" if res.parquet else ""))
        for f in res.figures:
            print(f"figure: {f}")
    return 0


def cmd_presets(args) -> int:
    """The reference simulator's preset devices: parameters, reference, and what the toolkit derives from
    their responses (SP, pulses per e-fold, penalty curvature)."""
    from .preset_report import preset_summary, sp_spread
    rows = [preset_summary(p) for p in (presets.PRESETS.values() if not args.name else [presets.get(args.name)])]
    if args.devices is not None:
        if not args.name:
            raise InputError("--devices", "the device-to-device spread is per preset: give its NAME")
        rows[0]["d2d"] = sp_spread(presets.get(args.name), args.devices, args.seed, rows[0])
    if _as_json(args):
        _emit({"presets": rows})
        return 0
    if args.devices is not None:
        d = rows[0]["d2d"]
        print(f"{args.name}: {d['devices']} devices with d2d {d['variation']} (not modelled: "
              f"{', '.join(d['not_modelled']) or 'none'}); {d['pulses']} alternating pulses each")
        print(f"{'':10s} {'SP mean':>9s} {'std':>9s} {'p5':>9s} {'median':>9s} {'p95':>9s} {'at upper':>9s} {'at lower':>9s}"
              f" {'neutral':>8s}")
        for k in ("theory", "measured"):
            t = d[k]
            print(f"{k:10s} {_fmt(t['mean'])[:9]:>9s} {_fmt(t['std'])[:9]:>9s} {_fmt(t['p5'])[:9]:>9s} "
                  f"{_fmt(t['median'])[:9]:>9s} {_fmt(t['p95'])[:9]:>9s} {t['fraction_upper']:9.3f} {t['fraction_lower']:9.3f}"
                  f" {t['fraction_neutral']:8.3f}")
        print(f"devices classified alike: {d['same_status']:.3f}; largest |SP theory - measured| over interior "
              f"devices {_fmt(d['max_abs_sp_difference'])}, {_fmt(d['max_sp_difference_in_steps'])} of the device's own "
              "step (the 2-cycle's middle is within about a step of the SP)")
        return 0
    print(f"{'preset':18s} {'dw_min':>9s} {'range':>17s} {'SP':>9s} {'e-fold (mean)':>14s} {'e-fold (alt.)':>14s}  class")
    for r in rows:
        sp_ = "none" if r["symmetric_point"] is None else f"{r['symmetric_point']:.4g}"
        f = lambda x: "—" if x is None else f"{x:.4g}"   # noqa: E731
        print(f"{r['name']:18s} {r['dw_min']:9.3g} {str(r['range']):>17s} {sp_:>9s} {f(r['pulses_per_efold_mean']):>14s} "
              f"{f(r['pulses_per_efold_alternating']):>14s}  {r['device_class']}")
    print("pulses per e-fold: random-sign pulses (mean dynamics, 1/(dw_min G'(SP))) and alternating up/down "
          "pulses (the pair map, -2/ln|M'|); --json for q+/q-, d2d, c2c and references")
    return 0


def cmd_fit(args) -> int:
    """Fit the response families to measured up/down pulse sweeps; print the best as arguments."""
    from . import fit
    sweeps = fit.read(args.data)
    families = [f.strip() for f in args.families.split(",")] if args.families else list(fit.FAMILIES)
    results = fit.fit(sweeps, families)
    best = fit.as_response(results[0], sweeps)
    rows = [{"family": r.family, "parameters": r.params, "standard_errors": r.se, "rms": r.rms, "r2_up": r.r2_up, "r2_down": r.r2_down,
             "bic": r.bic, "n_params": r.n_params} for r in results]
    out = {"data": sweeps.source, "steps_up": int(sweeps.w_up.size), "steps_down": int(sweeps.w_down.size),
           "range": [sweeps.lo, sweeps.hi], "families": rows, "best": best}
    if _as_json(args):
        _emit(out)
        return 0
    print(f"{sweeps.source}: {sweeps.w_up.size} up and {sweeps.w_down.size} down steps, w in "
          f"[{sweeps.lo:.4g}, {sweeps.hi:.4g}]")
    print(f"{'family':12s} {'params':>6s} {'rms step':>10s} {'R2 up':>7s} {'R2 down':>8s} {'BIC':>12s}")
    for r in rows:
        print(f"{r['family']:12s} {r['n_params']:6d} {r['rms']:10.3g} {r['r2_up']:7.3f} {r['r2_down']:8.3f} {r['bic']:12.1f}")
    sps = ", ".join(f"{v:.4g}" for v in best["symmetric_points"]) or "none"
    print(f"best: {best['family']} (lowest BIC); dw_min {best['dw_min']:.4g}; SP {sps}{'; ' + best['note'] if best['note'] else ''}")
    quoted = " ".join(_shell(a) for a in best["args"])
    print(f"use it:  aimc-theory derive {quoted}")
    print(f"         aimc-theory calibrate {quoted} --dw-min {best['dw_min']:.6g}")
    return 0


def _shell(a: str) -> str:
    return a if all(c.isalnum() or c in "-_.,=/:" for c in a) else "'" + a.replace("'", "'\\''") + "'"


COMMAND_FUNCTIONS = {"derive": cmd_derive, "fixed-point": cmd_fixed_point, "simulate": cmd_simulate,
                     "calibrate": cmd_calibrate, "reproduce": cmd_reproduce, "train": cmd_train, "check": cmd_check,
                     "presets": cmd_presets, "fit": cmd_fit}


def _variation(args):
    """--gain-dtod/--imbalance-dtod, or with --preset-dtod the preset's own (its gain law included)."""
    from .calibration import Variation
    if not getattr(args, "preset_dtod", False):
        return Variation(args.gain_dtod, args.imbalance_dtod)
    if not (args.response or "").startswith("preset:"):
        raise InputError("--preset-dtod", "needs --response preset:NAME")
    if args.gain_dtod or args.imbalance_dtod:
        raise InputError("--preset-dtod", "give either --preset-dtod or --gain-dtod/--imbalance-dtod, not both")
    var = presets.variation(presets.get(args.response))
    args.gain_dtod, args.imbalance_dtod = var.gain, var.imbalance      # recorded in the provenance
    return var



def _population(args, n: int, flag: str = "--devices"):
    """(variation, the n drawn devices) for --gain-dtod/--imbalance-dtod/--preset-dtod, or (None, None);
    simulate and fixed-point draw with the same generator, so the same --seed gives the same devices."""
    variation = _variation(args)
    if not variation.varies:
        return None, None
    if isinstance(n, bool) or n < 1:
        raise InputError(flag, f"must be an integer >= 1 (got {n})")
    from .runtime import check_memory
    check_memory(flag.lstrip("-"), n, 400)          # a dozen per-device arrays while drawing and solving
    return variation, variation.population(n, np.random.default_rng([args.seed, 0xD2D]))


def _population_forms(resp, variation, pop):
    """The theory's expressions, parameters, ranges and offsets of the drawn devices (see
    :func:`aimc_theory.preset_report.population_forms`)."""
    from .preset_report import population_forms
    return population_forms(pop, variation.preset if isinstance(variation, presets.PresetVariation) else None, resp)


def _add_variation(p, where: str) -> None:
    """--gain-dtod/--imbalance-dtod (calibrate: per device; train: per element of every array)."""
    p.add_argument("--gain-dtod", type=float, default=0.0,
                   help=f"device-to-device log-normal step gain sigma{where} (P2 eq. 103; default 0)")
    p.add_argument("--imbalance-dtod", type=float, default=0.0,
                   help=f"device-to-device up/down imbalance sigma{where}, moves the SP (P2 eq. 103; default 0)")
    p.add_argument("--preset-dtod", action="store_true",
                   help="with --response preset:NAME: the preset's own device-to-device variation, as the reference "
                        "simulator draws it: step gain (dw_min_dtod, normal or log-normal as the preset says), "
                        "up/down imbalance (up_down_dtod), each device's own bounds (w_max_dtod, w_min_dtod) and "
                        "slopes (gamma_dtod), and the zero-shifted arrays' reference error (reference_std)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aimc-theory", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"aimc-theory {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    p = sub.add_parser("derive", help="F, G, R, SPs and the implicit penalty of a response")
    _add_response(p)
    p.add_argument("--time-budget", type=float, default=4.0, help="seconds per SymPy call; the whole derivation at most 4x this")
    p.set_defaults(fn=cmd_derive)
    p = sub.add_parser("fixed-point", help="where Analog/Digital SGD converges on the scalar quadratic")
    _add_response(p)
    _add_problem(p)
    _add_variation(p, " (with --devices: each device's own fixed point)")
    p.add_argument("--devices", type=int, default=None,
                   help="devices drawn under the variation (default 1000; simulate --chains N --seed S draws the same "
                        "N devices)")
    p.add_argument("--seed", type=int, default=0, help="seed of the device draws (default 0)")
    p.set_defaults(fn=cmd_fixed_point)
    p = sub.add_parser("simulate", help="simulate many chains on the scalar quadratic")
    _add_response(p)
    _add_problem(p)
    p.add_argument("--steps", type=int, default=5000, help="steps per chain (default 5000)")
    p.add_argument("--chains", type=int, default=1000, help="independent chains (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--pulses", action="store_true", help="pulse-level device model (needs --dw-min)")
    p.add_argument("--dw-min", type=float, default=None, help="pulse size (with --pulses; RL v2: threshold)")
    p.add_argument("--max-bl", type=int, default=None, help="cap on pulses per update (default none)")
    p.add_argument("--sigma-c", type=float, default=0.0, help="cycle-to-cycle noise per pulse, in dw_min")
    p.add_argument("--desired-bl", type=int, default=None,
                   help="write each gradient as stochastic coincidence pulse trains of at most this length, with "
                        "update and BL management, as the reference simulator does (needs --pulses)")
    p.add_argument("--dtype", default="float64", choices=("float64", "float32"),
                   help="precision of the weights and the per-step arithmetic; float32 draws another random stream, "
                        "runs ~1.2-1.3x faster, time averages stay float64 (default float64)")
    p.add_argument("--backend", default="numpy", choices=("numpy", "numba"),
                   help="numba: the compiled kernel (pip install -e \".[fast]\"; analog-sgd and digital-sgd, expected "
                        "update, built-in families), the same numbers several times faster (default numpy)")
    _add_variation(p, " (each chain its own device)")
    p.set_defaults(fn=cmd_simulate)
    p = sub.add_parser("calibrate", help="zero-shifting SP calibration: theory and pulse simulation")
    _add_response(p)
    p.add_argument("--dw-min", type=float, default=None, help="pulse size (required)")
    p.add_argument("--scheme", choices=("cyclic", "stochastic"), default="cyclic",
                   help="alternating up/down pulses (cyclic) or random ones (stochastic, P2 Alg. 1)")
    p.add_argument("--w0", type=float, default=None,
                   help="initial weight (default 0, or the middle of the range where 0 is not inside it)")
    p.add_argument("--pulses", type=int, default=10000, help="number of pulses N (default 10000)")
    p.add_argument("--chains", type=int, default=1000, help="number of devices (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--tolerance", type=float, default=0.01,
                   help="absolute error |w - SP| for pulses_to_tolerance (default 0.01)")
    p.add_argument("--sigma-c", type=float, default=0.0, help="cycle-to-cycle noise per pulse, in dw_min")
    _add_variation(p, "")
    p.set_defaults(fn=cmd_calibrate)
    p = sub.add_parser("reproduce", help="rerun a published experiment (p1-fig2) as its authors ran it")
    p.add_argument("experiment", metavar="EXPERIMENT", help="p1-fig2")
    p.add_argument("--steps", type=int, default=1000, help="iterations (default 1000, as published)")
    p.add_argument("--seeds", type=int, default=5, help="independent runs per setting (default 5)")
    p.add_argument("--model", default="aihwkit", choices=("aihwkit", "batch-mean"),
                   help="aihwkit: per-sample pulse trains as the reference simulator (default); batch-mean: one "
                        "pulse train per iteration with the mean gradient")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", default=".", help="directory for figures/ (default .)")
    p.set_defaults(fn=cmd_reproduce)
    p = sub.add_parser("train", help="train a NumPy network with analog tiles (FCN 784-256-128-10 or P1's CNN)")
    _add_response(p)
    p.add_argument("--dataset", default="digits",
                   help="digits (built in), fashion-mnist (Debian package dataset-fashion-mnist) or a directory "
                        "of IDX files (default digits)")
    p.add_argument("--algorithm", default="analog-sgd", help="one of: " + ", ".join(registry.ALGORITHMS))
    p.add_argument("--compare", default=None, help="comma-separated algorithms trained with the same seeds and data order")
    p.add_argument("--repeats", type=int, default=1, help="seeds per algorithm (default 1)")
    p.add_argument("--epochs", type=int, default=1, help="epochs (default 1)")
    p.add_argument("--batch-size", type=int, default=10, help="mini-batch size (default 10, as P1)")
    p.add_argument("--lr", type=float, default=0.1, help="learning rate of the gradient array (default 0.1)")
    p.add_argument("--architecture", default="fcn", choices=["fcn", "cnn"],
                   help="fcn: dense sigmoid layers (--hidden); cnn: conv 5x5 (16) -> pool -> conv 5x5 (32) -> pool -> "
                        "dense 128 -> classes, convolutions through im2col (default fcn)")
    p.add_argument("--hidden", default="256,128", help="hidden layer sizes of the fcn (default 256,128)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--pulses", action="store_true", help="pulse-level devices (needs --dw-min)")
    p.add_argument("--dw-min", type=float, default=None, help="pulse size (with --pulses)")
    p.add_argument("--desired-bl", type=int, default=None,
                   help="per-sample coincidence pulse trains of at most this length (needs --pulses)")
    p.add_argument("--sigma-c", type=float, default=0.0, help="cycle-to-cycle noise per pulse, in dw_min")
    p.add_argument("--ref-mean", type=float, default=0.0,
                   help="mean of a per-element reference offset of the gradient (residual) array (P2 Tables 1-2)")
    p.add_argument("--ref-std", type=float, default=0.0, help="std of that per-element reference offset")
    _add_variation(p, " of every element")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", default=".", help="directory for figures/ (default .)")
    g = p.add_argument_group("algorithm options (each applies only to the algorithms named in its help)")
    for opt in registry.OPTIONS.values():
        g.add_argument(opt.flag, dest=opt.name, type=opt.kind, default=None, help=f"{opt.help} (default {opt.default:g})")
    p.set_defaults(fn=cmd_train)
    p = sub.add_parser("presets", help="the reference simulator's preset devices as response functions, with their "
                                       "SP and pulses per e-fold derived by the toolkit")
    p.add_argument("name", nargs="?", default=None, metavar="NAME", help="one preset (default: all)")
    p.add_argument("--devices", type=int, default=None,
                   help="with NAME: the SP distribution over this many devices drawn with the preset's d2d step "
                        "variation, by theory and by pulsing (default: none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the device draws (default 0)")
    p.set_defaults(fn=cmd_presets)
    p = sub.add_parser("fit", help="fit q+/q- to measured up/down pulse sweeps (CSV) and print the best response "
                                   "as arguments every command accepts")
    p.add_argument("--data", required=True, help="CSV with columns direction (up/down), pulse, w (or g, conductance) "
                                                 "and optionally cycle")
    p.add_argument("--families", default=None, help="comma-separated subset of softbounds, linear, power, exponential, "
                                                    "piecewise (default all)")
    p.set_defaults(fn=cmd_fit)
    p = sub.add_parser("sweep", help="a parameter study from a TOML file (grid or random design) on a process pool "
                                     "or a Dask cluster: tidy table, heat maps, resumable")
    p.add_argument("study", metavar="STUDY", help="the study file (TOML: [study], [fixed], [vary])")
    p.add_argument("--out", default=".", help="directory for the table, the points and figures/ (default .)")
    p.add_argument("--executor", default="processes", choices=("processes", "inline"),
                   help="processes: a local process pool over all cores; inline: this process (default processes)")
    p.add_argument("--scheduler", default=None,
                   help="run on Dask: 'local' starts a LocalCluster with --workers workers, tcp://HOST:PORT uses a "
                        "running scheduler (needs pip install -e \".[dask]\")")
    p.add_argument("--workers", type=int, default=None, help="processes or local Dask workers (default: all cores)")
    p.add_argument("--no-figures", action="store_true", help="the table only")
    p.set_defaults(fn=cmd_sweep)
    p = sub.add_parser("check", help="run the claims catalogue, write paper_checks.md and figures/")
    p.add_argument("--claims", default=None, help="comma-separated ids or prefixes, e.g. 5,7.power")
    p.add_argument("--fast", action="store_true", help="smaller budgets (about 2 minutes on 2 cores)")
    p.add_argument("--network", action="store_true",
                   help="also the network claims 26.* (Fashion-MNIST; minutes; needs dataset-fashion-mnist)")
    p.add_argument("--out", default=".", help="directory for paper_checks.md and figures/")
    p.add_argument("--no-figures", action="store_true", help="write paper_checks.md only, no figures")
    p.add_argument("--workers", type=int, default=None, help="processes (default: up to 2)")
    p.add_argument("--mutants", action="store_true",
                   help="also run every claim against the battery of wrong theories and report which each claim "
                        "kills by comparison (mutation matrix and score in the report; takes several times longer)")
    p.add_argument("--mutate", default=None, metavar="NAME[=VALUE]",
                   help="also run the claims under this one wrong theory (a Theory knob, e.g. moment=std, "
                        "sp_shift=0.04, small_bias) and report per claim: killed / survived / no prediction")
    _add_response(p, main=False, title="check your own device: the single-response claims (1, 2, 4-12, 14-18) on it")
    p.set_defaults(fn=cmd_check)
    for sp_ in sub.choices.values():
        sp_.add_argument("--json", action="store_true", help="print one JSON object")
    for action in _all_actions(parser):         # every option states its default in --help
        if action.help in (None, argparse.SUPPRESS) or "default" in action.help:
            continue
        d = action.default
        if not (d is None or d is False or d is argparse.SUPPRESS or d == []) and \
                not isinstance(action, argparse._HelpAction):
            action.help += f" (default {d})"
    return parser


def _all_actions(parser):
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_actions(sub)


def main(argv=None) -> int:
    # results are checked for finiteness where they are made (errors name the parameter); NumPy's
    # floating-point warnings would only add lines to the one-line error contract
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="numpy")
    warnings.filterwarnings("ignore", message=".*encountered in.*", category=RuntimeWarning)
    retain_freed_memory()          # large temporaries reused, not page-faulted afresh (runtime.py)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "fn", None):
            parser.print_help()
            return 2
        from .run import COMMANDS, Run
        if args.command in COMMANDS:      # the one description of a run (a sweep's point, a Python call)
            args = Run.from_namespace(args).namespace(as_json=args.json)
        _ARGS.set(args)
        return args.fn(args)
    except InputError as exc:
        from .run import flag_named
        exc = flag_named(exc, getattr(_ARGS.get(), "command", ""))
        print(f"aimc-theory: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:          # output piped into `head`: stop quietly, as Unix tools do
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 0


if __name__ == "__main__":
    sys.exit(main())
