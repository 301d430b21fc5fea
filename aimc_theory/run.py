"""One declarative description of a run, shared by the command line, Python and sweeps.

A :class:`Run` is a command and its parameters by name, e.g.
``Run("simulate", {"noise": 0.3, "lr": 0.01, ...})``. The names, types, defaults and valid choices
come from one table (:mod:`aimc_theory.parameters`, which the command line's parser reads too), so a
parameter is named once and an error names it the same way everywhere (``--w-star``), whether it came
from ``argv``, from Python or from a study file. :func:`describe` builds a :class:`Run` from keywords
(validating every name, type and range); :func:`execute` runs it through :mod:`aimc_theory.commands` and
returns the JSON result the command prints with ``--json``.

    >>> from aimc_theory import run
    >>> r = run.describe("fixed-point", response="power", p={"tau": 0.6, "gamma": 0.5}, noise=0.3)
    >>> run.execute(r)["exact"]                                     # doctest: +SKIP
    >>> r.argv()     # the same run from a shell: ['fixed-point', '--response', 'power', '-p', 'tau=0.6', ...]
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import InputError
from .parameters import COMMANDS, as_text, flag_named, normalize, parameters, validate  # noqa: F401 (re-exported)
from . import commands



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
    def from_namespace(cls, ns) -> "Run":
        """The run an ``argparse`` result describes (what the command line does), validated."""
        return describe(ns.command, {name: getattr(ns, name) for name in parameters(ns.command)})

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
                text = as_text(value)
                # a value starting with '-' would read as an option: --range=-0.53,0.85
                out += [f"{p.flag}={text}"] if text.startswith("-") else [p.flag, text]
        return out


def describe(command: str, params: Mapping[str, Any] | None = None, **kwargs) -> Run:
    """Validate a command's parameters by name and fill the defaults (:func:`aimc_theory.parameters.validate`).

    Parameters
    ----------
    command : str
        One of :data:`COMMANDS`.
    params, **kwargs
        Parameter values by name: the Python name (``w_star``) or the flag (``--w-star``/``w-star``).
        Family parameters: ``p={"tau": 0.6}`` or ``"p.tau": 0.6`` (``main_p`` for the main array);
        a list of ``"KEY=VALUE"`` strings also works.

    Returns
    -------
    Run

    Raises
    ------
    InputError
        Naming the parameter by its Python name (:func:`flag_named` gives the command line's flag).
    """
    return Run(command, validate(command, params, **kwargs))


def execute(run: Run) -> dict:
    """Run ``run`` in this process and return its JSON result (strict JSON: no NaN, with provenance).

    Parameters
    ----------
    run : Run
        From :func:`describe`.

    Returns
    -------
    dict
        What ``aimc-theory COMMAND --json`` prints.

    Raises
    ------
    InputError
        Bad input, with the same message the command line prints.
    """
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            result = commands.call(run.command, dict(run.params))
    except InputError as exc:
        raise flag_named(exc, run.command) from None
    return result.to_json()
