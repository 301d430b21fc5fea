"""Shared claim types: verdicts, :class:`Outcome` (= :class:`aimc_theory.comparison.Comparison`),
:class:`Claim`, the budget and the test devices.

Every claim is run as ``claim.compare(theory, fast)``: ``theory`` (a :class:`Theory`) supplies the
prediction from the symbolic module; the measurement comes from the numeric simulation
(devices, algorithms, simulation), which never sees the theory. A claim names its own controls:
wrong theories (mutants, :mod:`.mutants`) that it must reject *by comparison*; a wrong theory that
raises gives no prediction and is never counted as rejected.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from aimc_theory import response
from aimc_theory.comparison import AGREE, DISAGREE, INCONCLUSIVE, NO_PREDICTION, Comparison, judge

from .theory import Theory

Outcome = Comparison

CLAIM, IMPLEMENTATION = "claim", "implementation"


@dataclass(frozen=True)
class Claim:
    id: str
    source: str
    statement: str
    method: str
    compare: Callable[[Theory, bool], Outcome] = field(repr=False)
    expected_verdict: str = AGREE
    family: str | None = None
    group: str | None = None     # claims that share cached simulations run in one process
    # wrong theories (mutant specs, see .mutants) this claim must reject by comparison
    controls: tuple[str, ...] = ()
    # "claim": theory vs simulation; "implementation": the theory side re-runs the simulation's own
    # arithmetic (an implementation check, reported apart and not counted as a claim)
    kind: str = CLAIM
    # the report's text about this claim: for a claim expected to disagree, its finding (default: the
    # explanation); otherwise a note on its claim number ("Claim K:" in the findings, once per note, however
    # many claims share it). A str, or note(rows_by_id) -> str formatted from the rows' numbers (their
    # "_data", never re-parsed from an explanation); "" writes nothing
    note: str | Callable[[dict], str] | None = field(default=None, repr=False, compare=False)
    # figure(rows_by_id, outdir, theory) -> the files written (as "figures/NAME.png"); drawn once however
    # many claims share it, whenever one of them ran, as soon as those that ran have finished: it reads only
    # their rows (checker.ShownRows; a claim whose row a figure reads lists that figure too)
    figure: Callable[[dict, Path, Theory], list[str]] | None = field(default=None, repr=False, compare=False)

    @property
    def task(self) -> str:
        return self.group or self.id

    def evaluate(self, theory: Theory, fast: bool) -> Outcome:
        """Run the check. A wrong theory that cannot produce a prediction here (it raises) gives the
        verdict ``no prediction``: that is not a rejection by comparison."""
        try:
            return self.compare(theory, fast)
        except Exception as exc:       # noqa: BLE001 -- any failure of a wrong theory is "no prediction"
            if theory == Theory():
                raise
            return Outcome(math.nan, math.nan, math.nan, math.nan, NO_PREDICTION,
                           f"the theory gives no prediction here: {type(exc).__name__}: {exc}")


# -- the test devices and problems (fixed a priori, spec F.1 setup) --------------------------

FAMILIES: dict[str, Callable[[], response.Response]] = {
    "softbounds": lambda: response.softbounds(tau=1.0, sp=-0.2),
    "linear": lambda: response.linear(tau=1.0, c=0.3),
    "power": lambda: response.power(tau=1.0, gamma=0.5),
    "exponential": lambda: response.exponential(tau=1.0, gamma=1.0),
}
L, W_STAR, NOISE, LR = 1.0, 0.5, 0.3, 0.01

# A family, as the single-response claims take it: the name of a built-in test device (a key of FAMILIES), or
# a user's response itself (``aimc-theory check --response ...``), which the claims call family "device".
# Simulations are cached on it: a user's response by identity, so two devices never share a cached run.
DEVICE = "device"
Family = "str | response.Response"


def families(device: response.Response | None = None) -> list:
    """The families the single-response claims run on: the built-in names, or only the user's device."""
    return list(FAMILIES) if device is None else [device]


def family_response(family) -> response.Response:
    """The response of a family: a built-in's (a fresh object), or the user's response itself."""
    return family if isinstance(family, response.Response) else FAMILIES[family]()


def family_name(family) -> str:
    """The family's name in claim ids and the report: a built-in's name, or "device"."""
    return DEVICE if isinstance(family, response.Response) else family


def named_families(device: response.Response | None = None) -> dict:
    """Name -> family of the built-ins, and the user's device after them (for figures and the report)."""
    return {**{f: f for f in FAMILIES}, **({} if device is None else {DEVICE: device})}


@dataclass(frozen=True)
class Budget:
    chains: int
    steps: int
    mc_samples: int

    @staticmethod
    def of(fast: bool) -> "Budget":
        return Budget(2000, 6000, 400_000) if fast else Budget(8000, 20000, 2_000_000)


