"""The aimc-theory command line: derive, fixed-point, simulate, calibrate, cost, reproduce, train, presets, fit, sweep, check.

Every command takes ``--json`` and then prints exactly one JSON object on stdout. Exit status:
0 success, 2 bad input (one line on stderr naming the parameter), 1 when ``check`` finds a
verdict that is not the expected one or when points of a ``sweep`` failed (their rows say why), 130
when interrupted.

This module only parses, prints and chooses the exit status: each command is a function of
:mod:`aimc_theory.commands`, its parameters come from the one table of :mod:`aimc_theory.parameters`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

from . import __version__
from .errors import InputError
from .parameters import COMMANDS, parameters
from .runtime import command_started, retain_freed_memory

HELP = {
    "derive": "F, G, R, SPs and the implicit penalty of a response",
    "fixed-point": "where Analog/Digital SGD converges on the scalar quadratic",
    "simulate": "simulate many chains on the scalar quadratic",
    "calibrate": "zero-shifting SP calibration: theory and pulse simulation",
    "reproduce": "rerun a published experiment (p1-fig2, p1-table8, p2-table2) as its authors configured it",
    "train": "train a NumPy network with analog tiles (FCN 784-256-128-10 or P1's CNN)",
    "presets": "the reference simulator's preset devices as response functions, with their SP and pulses per "
               "e-fold derived by the toolkit",
    "fit": "fit q+/q- to measured up/down pulse sweeps (CSV) and print the best response as arguments every "
           "command accepts",
    "sweep": "a parameter study from a TOML file (grid or random design) on a process pool or a Dask cluster: "
             "tidy table, heat maps, resumable",
    "check": "run the claims catalogue, write paper_checks.md and figures/",
    "cost": "pulses and steps calibrate-then-RL, RIDER and E-RIDER need to reach an accuracy on your device "
            "(P2 Cor. 3.9)",
}
ORDER = ("derive", "fixed-point", "simulate", "calibrate", "cost", "reproduce", "train", "presets", "fit", "sweep",
         "check")
_CHECK_RESPONSE = "check your own device: the single-response claims (1, 2, 4-12, 14-18) on it"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse would print the usage too)
        import re
        m = re.match(r"argument (?:\S+/)?(--\S+): expected one argument$", message)
        if m:       # argparse takes "-1,1" for an option, not a value: say how to write it
            message += f" (a value that starts with '-' is written {m.group(1)}=VALUE, as in --range=-1,1)"
        raise InputError("usage", message)


def _add(parser, p, groups: dict) -> None:
    """One parameter of the table as an argparse argument (every option states its default)."""
    title = _CHECK_RESPONSE if parser.prog.endswith(" check") and p.group else p.group
    target = groups.setdefault(title, parser.add_argument_group(title)) if title else parser
    help_ = p.help
    if not (p.default is None or p.default is False or p.default == []) and "default" not in help_:
        help_ += f" (default {p.default})"
    if p.valid and p.kind in ("int", "float"):
        help_ += f"; valid {p.valid}"
    if p.positional:
        target.add_argument(p.name, metavar=p.metavar, help=help_,
                            **({} if p.required else {"nargs": "?", "default": p.default}))
        return
    names = [p.short, p.flag] if p.short else [p.flag]
    kw = {"dest": p.name, "help": help_}
    if p.kind == "flag":
        kw["action"] = "store_true"
    elif p.kind == "pairs":
        kw.update(action="append", default=[], metavar=p.metavar)
    else:
        kw.update(type={"float": float, "int": int}.get(p.kind, str), default=p.default)
        if p.choices:
            kw["choices"] = p.choices
        if p.metavar:
            kw["metavar"] = p.metavar
        if p.required:
            kw["required"] = True
    target.add_argument(*names, **kw)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command, built from :mod:`aimc_theory.parameters`."""
    parser = _Parser(prog="aimc-theory", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"aimc-theory {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for command in ORDER:
        p = sub.add_parser(command, help=HELP[command])
        groups: dict = {}
        for param in parameters(command).values():
            _add(p, param, groups)
        p.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _all_actions(parser):
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_actions(sub)


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


def _progress(command: str, params: dict):
    if command == "train":
        from .network import stderr_progress
        return None if params["json"] or params["quiet"] else stderr_progress
    if command == "check":
        return True
    return _eta(command, unit={"sweep": "point", "calibrate": "pulse"}.get(command, "step"))


def main(argv=None) -> int:
    # results are checked for finiteness where they are made (errors name the parameter); NumPy's
    # floating-point warnings would only add lines to the one-line error contract
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="numpy")
    warnings.filterwarnings("ignore", message=".*encountered in.*", category=RuntimeWarning)
    command_started(argv is None)   # the printed times count from here (from the process's start for the executable)
    retain_freed_memory()          # large temporaries reused, not page-faulted afresh (runtime.py)
    parser = build_parser()
    command, as_json = "", False
    try:
        args = vars(parser.parse_args(argv))
        command = args.pop("command", None) or ""
        if command not in COMMANDS:
            parser.print_help()
            return 2
        from .parameters import validate
        as_json = args.pop("json")
        params = validate(command, args)
        progress = _progress(command, params | {"json": as_json})
        if command == "sweep":                   # a study runs the other commands: it lives above them
            from .sweep import sweep
            result = sweep(progress, **params)
        else:
            from .commands import call
            result = call(command, params, progress)
        if as_json:
            print(json.dumps(result.to_json(), allow_nan=False))
        else:
            from .printing import PRINTERS
            PRINTERS.get(command, _print_flat)(result)
        return 0 if result.ok else 1
    except InputError as exc:
        from .parameters import flag_named
        print(f"aimc-theory: error: {flag_named(exc, command)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        _interrupted(exc, command, as_json)
        return 130
    except BrokenPipeError:          # output piped into `head`: stop quietly, as Unix tools do
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 0


def _interrupted(exc: KeyboardInterrupt, command: str, as_json: bool) -> None:
    """Ctrl-C: one message on stderr saying what was kept, then the partial result (``--json``: one JSON object
    with ``"interrupted": true``, also when nothing was kept)."""
    points = getattr(exc, "points_dir", None)
    result = getattr(exc, "result", None)           # commands.experiments.CommandInterrupted
    kept = {}
    if points is not None:
        sys.stderr.write(f"\nsweep interrupted; finished points are kept in {points}: run the same command "
                         "again to resume\n")
        kept = {"points_dir": str(points)}
    elif getattr(exc, "report", None) is not None:
        sys.stderr.write(f"\ncheck interrupted: {exc}; partial report {exc.report}\n")
        kept = {"report": str(exc.report)}
    elif result is not None:
        sys.stderr.write(f"\n{command} interrupted: {exc}; the partial result follows (exit 130)\n")
    else:
        sys.stderr.write(f"\n{command or 'aimc-theory'} interrupted" + (f"; {exc}" if str(exc) else "")
                         + ("; nothing kept" if command in _KEEPS else "") + "\n")
    sys.stderr.flush()
    if result is not None:
        if as_json:
            print(json.dumps(result.to_json(), allow_nan=False))
        else:
            from .printing import PRINTERS
            PRINTERS.get(command, _print_flat)(result)
    elif as_json:
        print(json.dumps({"command": command, "interrupted": True, "partial": str(exc) or None, **kept}))


_KEEPS = ("train", "reproduce", "calibrate", "simulate", "cost")     # commands that keep what finished on Ctrl-C


def _print_flat(result) -> None:
    for k, v in result.data.items():
        if not isinstance(v, dict):
            print(f"{k:24s} {v}")


if __name__ == "__main__":
    sys.exit(main())
