"""Command line: ``aimc-theory derive | fixed-point | simulate | check`` (see interface.md).

Every command takes ``--json`` and then prints exactly one JSON object on stdout. Exit status:
0 success, 2 bad input (one line on stderr naming the parameter), 1 when ``check`` finds a
verdict that is not the expected one.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from . import algorithms, device, objectives, response, simulation
from .errors import InputError, require_finite

ALGORITHMS = ("analog-sgd", "digital-sgd", "residual-learning", "residual-learning-v2")
FIXED_POINT_ALGORITHMS = ("analog-sgd", "digital-sgd", "residual-learning")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse would print the usage too)
        raise InputError("usage", message)


def _add_response(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("response functions")
    g.add_argument("--response", help="built-in family: " + ", ".join(response.FAMILIES))
    g.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="family or expression parameter (repeatable)")
    g.add_argument("--q-plus", help="expression for q+(w) (with --q-minus)")
    g.add_argument("--q-minus", help="expression for q-(w) (with --q-plus)")
    g.add_argument("--range", help="weight range LO,HI for expressions")
    g.add_argument("--sp-shift", type=float, default=0.0, help="move the response by D: q(w - D)")
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
    else:
        if args.range:
            raise InputError("--range", "only applies to --q-plus/--q-minus expressions")
        resp = response.get(args.response or "softbounds", **params)
    return resp.shifted(args.sp_shift) if args.sp_shift else resp


def _add_problem(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scalar quadratic f = L/2 (w - w*)^2, g = f' + noise*xi")
    g.add_argument("--algorithm", default="analog-sgd")
    g.add_argument("--L", type=float, default=1.0)
    g.add_argument("--w-star", type=float, default=0.5)
    g.add_argument("--noise", type=float, default=0.3)
    g.add_argument("--lr", type=float, default=0.01)


def _algorithm(name: str, valid=ALGORITHMS) -> str:
    if name not in valid:
        raise InputError("--algorithm", f"must be one of {', '.join(valid)} (got {name!r})")
    return name


def _main_response(args) -> response.Response:
    try:
        return response.get(args.main_response, **_params(args.main_param))
    except InputError as exc:   # name the option the user typed for the main array
        param = "--main-response" if exc.param == "--response" else exc.param.replace("-p", "--main-param")
        raise InputError(param, str(exc).split(": ", 1)[1]) from None


def _print(obj: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, default=_jsonable))
        return
    for k, v in obj.items():
        if isinstance(v, dict):
            continue
        print(f"{k:24s} {v}")


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


# -- commands ----------------------------------------------------------------------------

def cmd_derive(args) -> int:
    from . import symbolic
    d = symbolic.derive(_response(args), time_budget=args.time_budget)
    _print(d.as_dict(), args.json)
    return 0


def cmd_fixed_point(args) -> int:
    from . import symbolic
    alg = _algorithm(args.algorithm, FIXED_POINT_ALGORITHMS)
    if alg == "digital-sgd":
        out = symbolic.digital_sgd_fixed_point(args.L, args.w_star, args.noise, args.lr)
    elif alg == "residual-learning":
        # the residual array's response (shifted by --sp-shift); ideal main array (spec F.4)
        fp = symbolic.residual_learning_fixed_point(symbolic.derive(_response(args), penalty=False),
                                                    args.L, args.w_star, args.noise)
        out = {"exact": fp.exact, "bias": fp.bias, "small_bias": fp.small_bias}
    else:
        fp = symbolic.analog_sgd_fixed_point(symbolic.derive(_response(args)), args.L, args.w_star,
                                             args.noise, args.lr)
        out = fp.as_dict()
    _print(out, args.json)
    return 0


def cmd_simulate(args) -> int:
    alg = _algorithm(args.algorithm)
    obj = objectives.ScalarQuadratic(args.L, args.w_star, args.noise)
    if args.pulses and args.dw_min is None:
        raise InputError("--dw-min", "--pulses needs the pulse granularity --dw-min X (> 0)")
    if args.dw_min is not None and not args.pulses and alg != "residual-learning-v2":
        raise InputError("--pulses", "--dw-min only applies with --pulses (or as RL v2's threshold)")
    if alg.startswith("residual-learning"):
        opt = _residual_learning(args, alg, obj)
    elif alg == "digital-sgd":
        obj.check_step(args.lr)
        opt = algorithms.digital_sgd(args.lr)
    else:
        resp = _response(args)
        obj.check_step(args.lr, _q_max(resp, args.w_star))
        dev = device.Device(resp, dw_min=args.dw_min if args.pulses else None,
                            sigma_c=args.sigma_c, max_bl=args.max_bl)
        opt = algorithms.analog_sgd(args.lr, dev)
    res = simulation.run(obj, opt, args.steps, args.chains, args.seed,
                         w0=args.w_star if args.w0 is None else args.w0)
    _print(res.as_dict(), args.json)
    return 0


def _q_max(resp: response.Response, centre: float) -> float:
    """Largest pulse response within 10 of where the weight lives (for the divergence check)."""
    grid = np.linspace(max(resp.lo, centre - 10), min(resp.hi, centre + 10), 1001)[1:-1]
    return float(np.max(np.maximum(resp.q_plus(grid), resp.q_minus(grid))))


def _residual_learning(args, alg, obj):
    from . import residual_learning as rl
    resp_p, resp_w = _response(args), _main_response(args)
    dw = args.dw_min if args.pulses else None
    dev_p = device.Device(resp_p, dw_min=dw, sigma_c=args.sigma_c, max_bl=args.max_bl)
    dev_w = device.Device(resp_w, dw_min=dw, sigma_c=args.sigma_c, max_bl=args.max_bl)
    obj.check_step(args.lr, _q_max(resp_p, 0.0))     # P lives near its reference, 0
    if alg == "residual-learning":
        return rl.residual_learning(args.lr, args.beta, args.gamma, dev_p, dev_w,
                                    transfer_every=args.transfer_every, read_noise=args.read_noise)
    return rl.residual_learning_v2(args.lr, args.beta, args.gamma, dev_p, dev_w, read_noise=args.read_noise,
                                   dw_min=args.dw_min if args.dw_min is not None else 1e-3)


def cmd_check(args) -> int:
    from verification import checker
    out = Path(args.out)
    ids = [s.strip() for s in args.claims.split(",")] if args.claims else None
    if ids:
        from verification.claims import select
        if not select(ids):
            raise InputError("--claims", f"no claim matches {args.claims!r}; ids look like 5 or 5.softbounds")
    t0 = time.perf_counter()
    rows = checker.run(ids, fast=args.fast, progress=True, workers=args.workers)
    seconds = time.perf_counter() - t0
    figs = [] if args.no_figures else checker.make_figures(rows, out / "figures")
    checker.write_report(rows, out / "paper_checks.md", args.fast, seconds, figs)
    ok = checker.all_as_expected(rows)
    if args.json:
        print(json.dumps({"claims": checker.public(rows), "all_as_expected": ok, "seconds": seconds}))
    else:
        print(f"{'id':20s} {'theory':>12s} {'measured':>12s} {'se':>9s} {'tol':>9s}  verdict (expected)")
        for r in rows:
            f = checker.fmt
            print(f"{r['id']:20s} {f(r['theory']):>12s} {f(r['measured']):>12s} {f(r['se']):>9s} "
                  f"{f(r['tolerance']):>9s}  {r['verdict']} ({r['expected_verdict']})")
        print(f"{len(rows)} claims in {seconds:.1f} s; report: {out / 'paper_checks.md'}; "
              f"{'all verdicts as expected' if ok else 'SOME VERDICTS UNEXPECTED'}")
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aimc-theory", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    p = sub.add_parser("derive", help="F, G, R, SPs and the implicit penalty of a response")
    _add_response(p)
    p.add_argument("--time-budget", type=float, default=4.0, help="seconds per SymPy call")
    p.set_defaults(fn=cmd_derive)
    p = sub.add_parser("fixed-point", help="where Analog/Digital SGD converges on the scalar quadratic")
    _add_response(p)
    _add_problem(p)
    p.set_defaults(fn=cmd_fixed_point)
    p = sub.add_parser("simulate", help="simulate many chains on the scalar quadratic")
    _add_response(p)
    _add_problem(p)
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--chains", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--w0", type=float, default=None, help="initial weight (default w*)")
    p.add_argument("--pulses", action="store_true", help="pulse-level device model")
    p.add_argument("--dw-min", type=float, default=None)
    p.add_argument("--max-bl", type=int, default=None)
    p.add_argument("--sigma-c", type=float, default=0.0)
    g = p.add_argument_group("two-array algorithms (residual-learning, residual-learning-v2)")
    g.add_argument("--gamma", type=float, default=0.4, help="mixing W_bar = W + gamma P")
    g.add_argument("--beta", type=float, default=0.005, help="transfer rate (v1) / EMA weight (v2)")
    g.add_argument("--transfer-every", type=int, default=1)
    g.add_argument("--read-noise", type=float, default=0.0, help="std of the noise reading P")
    p.set_defaults(fn=cmd_simulate)
    p = sub.add_parser("check", help="run the claims catalogue, write paper_checks.md and figures/")
    p.add_argument("--claims", default=None, help="comma-separated ids or prefixes, e.g. 5,7.power")
    p.add_argument("--fast", action="store_true", help="smaller budgets (under a minute)")
    p.add_argument("--out", default=".", help="directory for paper_checks.md and figures/")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--workers", type=int, default=None, help="processes (default: up to 2)")
    p.set_defaults(fn=cmd_check)
    for sp_ in sub.choices.values():
        sp_.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "fn", None):
            parser.print_help()
            return 2
        return args.fn(args)
    except InputError as exc:
        print(f"aimc-theory: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
