"""One declarative description of a run, shared by the command line, Python and sweeps.

A :class:`Run` is a command and its parameters by name, e.g.
``Run("simulate", {"noise": 0.3, "lr": 0.01, ...})``. The names, types, defaults and valid choices
are those of the command line (one table: the CLI's parser), so a parameter is named once and an
error names it the same way everywhere (``--w-star``), whether it came from ``argv``, from Python or
from a study file. The command line parses into a :class:`Run`; :func:`describe` builds one from
keywords (validating every name and value); :func:`execute` runs it and returns the JSON result the
command prints with ``--json``.

    >>> from aimc_theory import run
    >>> r = run.describe("fixed-point", response="power", p={"tau": 0.6, "gamma": 0.5}, noise=0.3)
    >>> run.execute(r)["exact"]                                     # doctest: +SKIP
    >>> r.argv()     # the same run from a shell: ['fixed-point', '--response', 'power', '-p', 'tau=0.6', ...]
"""
from __future__ import annotations

import argparse
import math
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping

from .errors import InputError

COMMANDS = ("derive", "fixed-point", "simulate", "calibrate", "reproduce", "train", "check", "presets", "fit")
_FAMILY_KEYS = {"p": "param", "param": "param", "main_p": "main_param", "main_param": "main_param"}


@dataclass(frozen=True)
class Parameter:
    """One parameter of a command, as the command line defines it."""

    name: str                      # the Python name (argparse dest), e.g. "w_star"
    flag: str                      # how errors name it, e.g. "--w-star" (a positional: its metavar)
    kind: str                      # "float", "int", "str", "flag" (on/off) or "pairs" (repeatable KEY=VALUE)
    default: Any
    choices: tuple | None
    help: str


@dataclass(frozen=True)
class Run:
    """A command and all its parameters (defaults filled in), validated by :func:`describe`.

    Parameters
    ----------
    command : str
        One of :data:`COMMANDS`.
    params : mapping
        Parameter name -> value, every parameter of the command present.
    """

    command: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> "Run":
        """The run an ``argparse`` result describes (what the command line does)."""
        table = parameters(ns.command)
        return cls(ns.command, {name: getattr(ns, name) for name in table})

    def namespace(self, as_json: bool = True) -> argparse.Namespace:
        from . import cli
        return argparse.Namespace(command=self.command, json=as_json, fn=cli.COMMAND_FUNCTIONS[self.command],
                                  **dict(self.params))

    def changed(self) -> dict:
        """The parameters that differ from their defaults."""
        table = parameters(self.command)
        return {k: v for k, v in self.params.items() if v != table[k].default}

    def argv(self) -> list[str]:
        """The command line that makes this run (parameters at their defaults left out)."""
        table = parameters(self.command)
        out = [self.command]
        for name, value in self.changed().items():
            p = table[name]
            if not p.flag.startswith("-"):
                out.insert(1, str(value))
            elif p.kind == "flag":
                out.append(p.flag) if value else None
            elif p.kind == "pairs":
                for item in value:
                    out += [p.flag, item]
            else:
                out += [p.flag, _text(value)]
        return out


def _text(v) -> str:
    return repr(v) if isinstance(v, float) else str(v)


@lru_cache(maxsize=None)
def _table(command: str) -> dict[str, Parameter]:
    from . import cli
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    out = {}
    for a in sub._actions:
        if isinstance(a, (argparse._HelpAction, argparse._VersionAction)) or a.dest in ("json", "fn"):
            continue
        if isinstance(a, argparse._StoreTrueAction):
            kind = "flag"
        elif isinstance(a, argparse._AppendAction):
            kind = "pairs"
        else:
            kind = {float: "float", int: "int"}.get(a.type, "str")
        flag = next((o for o in a.option_strings if o.startswith("--")), None) or \
            (a.option_strings[0] if a.option_strings else (a.metavar or a.dest.upper()))
        out[a.dest] = Parameter(a.dest, flag, kind, a.default, tuple(a.choices) if a.choices else None, a.help or "")
    return out


def parameters(command: str) -> dict[str, Parameter]:
    """Every parameter of ``command`` (name -> :class:`Parameter`)."""
    if command not in COMMANDS:
        raise InputError("command", f"must be one of {', '.join(COMMANDS)} (got {command!r})")
    return _table(command)


def _normalize(key: str) -> str:
    return key.lstrip("-").replace("-", "_")


def describe(command: str, params: Mapping[str, Any] | None = None, **kwargs) -> Run:
    """Validate a command's parameters by name and fill the defaults.

    Parameters
    ----------
    command : str
        One of :data:`COMMANDS`.
    params, **kwargs
        Parameter values by name: the Python name (``w_star``) or the flag (``--w-star``/``w-star``).
        Family parameters: ``p={"tau": 0.6}`` or ``"p.tau": 0.6`` (``main_p`` for the main array);
        a list of ``"KEY=VALUE"`` strings also works. Integers are accepted for floats, integral floats
        for integers, "true"/"false" for on/off flags.

    Returns
    -------
    Run

    Raises
    ------
    InputError
        Naming the parameter by its flag: an unknown name (with the valid ones), a value of the wrong
        type, or one outside its choices. Ranges are checked when the run executes, by the same code
        as on the command line.
    """
    table = parameters(command)
    given = dict(params or {}) | kwargs
    values = {name: p.default for name, p in table.items()}
    for key, value in given.items():
        k = _normalize(str(key))
        head, _, sub = k.partition(".")
        if sub and head in _FAMILY_KEYS and _FAMILY_KEYS[head] in table:
            values[_FAMILY_KEYS[head]] = [i for i in values[_FAMILY_KEYS[head]] if not i.startswith(f"{sub}=")] \
                + [f"{sub}={_text(_number(f'-p {sub}', value))}"]
            continue
        name = _FAMILY_KEYS.get(k, k) if _FAMILY_KEYS.get(k, k) in table else k
        if name not in table:
            valid = ", ".join(p.flag for p in table.values())
            raise InputError(str(key), f"unknown parameter of '{command}'; valid: {valid}")
        values[name] = _coerce(table[name], value)
    return Run(command, values)


def _number(flag: str, value) -> float:
    if isinstance(value, bool):
        raise InputError(flag, f"expected a number (got {value!r})")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(flag, f"expected a number (got {value!r})") from None


def _coerce(p: Parameter, value):
    if p.kind == "flag":
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if not isinstance(value, bool):
            raise InputError(p.flag, f"is an on/off flag: true or false (got {value!r})")
        return value
    if p.kind == "pairs":
        if isinstance(value, Mapping):
            return [f"{k}={_text(_number(f'-p {k}', v))}" for k, v in value.items()]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(i, str) for i in value):
            raise InputError(p.flag, f"expected KEY=VALUE strings or a table of numbers (got {value!r})")
        return list(value)
    if value is None:
        return None
    if p.kind == "float":
        v = _number(p.flag, value)
    elif p.kind == "int":
        v = _number(p.flag, value)
        if not (math.isfinite(v) and v == int(v)):
            raise InputError(p.flag, f"expected an integer (got {value!r})")
        v = int(v)
    else:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise InputError(p.flag, f"expected text (got {value!r})")
        v = str(value)
    if p.choices is not None and v not in p.choices:
        raise InputError(p.flag, f"must be one of {', '.join(map(str, p.choices))} (got {v!r})")
    return v


def flag_named(exc: InputError, command: str) -> InputError:
    """The same error with the parameter named by its flag (``lr`` -> ``--lr``), as everywhere else."""
    table = _table(command) if command in COMMANDS else {}
    name = _normalize(exc.param)
    if name in table and exc.param != table[name].flag:
        return InputError(table[name].flag, str(exc).split(": ", 1)[1])
    return exc


def execute(run: Run) -> dict:
    """Run ``run`` in this process and return its JSON result (strict JSON: no NaN, with provenance).

    Raises
    ------
    InputError
        Bad input, with the same message the command line prints.
    """
    from . import cli
    ns = run.namespace(as_json=True)
    sink: list = []
    tokens = (cli._SINK.set(sink), cli._ARGS.set(ns))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            ns.fn(ns)
    except InputError as exc:
        raise flag_named(exc, run.command) from None
    finally:
        cli._SINK.reset(tokens[0])
        cli._ARGS.reset(tokens[1])
    if not sink:
        raise RuntimeError(f"{run.command} produced no result")
    return sink[-1]
