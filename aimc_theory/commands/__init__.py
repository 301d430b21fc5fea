"""Every command of the toolkit as a Python function: keywords in, a :class:`CommandResult` out.

The command line (:mod:`aimc_theory.cli`) only parses arguments into these functions and prints what they
return; a sweep point and ``aimc_theory.run.execute`` call them the same way. Parameters are named as in
:mod:`aimc_theory.parameters` (the Python form of the flags: ``w_star`` for ``--w-star``, ``param`` for
``-p`` as ``{"tau": 0.6}`` or ``["tau=0.6"]``); unknown names, wrong types and values outside a
parameter's valid range raise :class:`aimc_theory.errors.InputError` naming the parameter.

    >>> from aimc_theory import commands
    >>> r = commands.fixed_point(response="power", param={"tau": 0.6, "gamma": 0.5}, noise=0.3)
    >>> r.data["exact"]                                                   # doctest: +SKIP
    >>> commands.simulate(response="softbounds", steps=2000, chains=200).detail.mean   # doctest: +SKIP
"""
from __future__ import annotations

from .results import CommandResult, jsonable
from .inputs import Inputs
# imported now, before the function cost below: importing the submodule later would rebind commands.cost to it
from . import cost as _cost_command

__all__ = ["CommandResult", "jsonable", "derive", "fixed_point", "simulate", "calibrate", "reproduce", "train",
           "check", "presets", "fit", "cost", "call", "IMPLEMENTATIONS"]


def _implementations() -> dict:
    from . import devices, experiments, scalar
    return {"derive": scalar.derive, "fixed-point": scalar.fixed_point, "simulate": scalar.simulate,
            "calibrate": devices.calibrate, "reproduce": experiments.reproduce, "train": experiments.train,
            "check": experiments.check, "presets": devices.presets, "fit": devices.fit, "cost": _cost_command.cost}


IMPLEMENTATIONS = ("derive", "fixed-point", "simulate", "calibrate", "reproduce", "train", "check", "presets",
                   "fit", "cost")          # sweep runs these commands: it lives above them, in aimc_theory.sweep


def call(command: str, params: dict | None = None, progress=None) -> CommandResult:
    """Run ``command`` with ``params`` (validated against its parameter table) in this process.

    Parameters
    ----------
    command : str
        One of :data:`IMPLEMENTATIONS`.
    params : dict, optional
        Parameter values by name; the rest take their defaults.
    progress : callable, optional
        Called with progress (a step count, or a line of text for ``train``) on long runs.

    Returns
    -------
    CommandResult
    """
    a = Inputs.of(command, dict(params or {}))
    return _implementations()[command](a, progress=progress)


def derive(progress=None, **params) -> CommandResult:
    """F, G, R = G/F, the symmetric points and the implicit penalty R_c of a response (arXiv 2502.06309
    eq. 4-7, Thm 1). Parameters: ``aimc-theory derive --help``; ``detail`` is the ``Derivation``."""
    return call("derive", params, progress)


def fixed_point(progress=None, **params) -> CommandResult:
    """Where the algorithm converges on the scalar quadratic, by theory (arXiv 2502.06309 Thm 2, eq. 60;
    2602.21321 for RIDER); with device-to-device variation each drawn device's own fixed point."""
    return call("fixed-point", params, progress)


def simulate(progress=None, **params) -> CommandResult:
    """Many chains of the algorithm on the scalar quadratic (expected update, pulse level or per-sample
    pulse trains); ``detail`` is the ``SimulationResult``."""
    return call("simulate", params, progress)


def calibrate(progress=None, **params) -> CommandResult:
    """Zero-shifting SP calibration (arXiv 2602.21321 Alg. 1): simulated pulses and the theory next to them."""
    return call("calibrate", params, progress)


def reproduce(progress=None, **params) -> CommandResult:
    """Rerun a published experiment (``experiment="p1-fig2"``) as its authors ran it."""
    return call("reproduce", params, progress)


def train(progress=None, **params) -> CommandResult:
    """Train a NumPy network with analog tiles; ``detail`` is the list of ``TrainResult``."""
    return call("train", params, progress)


def check(progress=None, **params) -> CommandResult:
    """Run the claims catalogue and write ``paper_checks.md`` and ``figures/`` into ``out``; ``ok`` is False
    when a verdict is not the expected one."""
    return call("check", params, progress)


def presets(progress=None, **params) -> CommandResult:
    """The reference simulator's device presets with what the toolkit derives from them."""
    return call("presets", params, progress)


def fit(progress=None, **params) -> CommandResult:
    """Fit the response families to measured up/down pulse sweeps (``data``: a CSV path)."""
    return call("fit", params, progress)


def cost(progress=None, **params) -> CommandResult:
    """Pulses and training steps calibrate-then-RL, RIDER and E-RIDER need to reach ``target`` on a device
    (arXiv 2602.21321 Cor. 3.9, P2 Fig. 4's accounting); ``detail`` is the ``CostResult``."""
    return call("cost", params, progress)
