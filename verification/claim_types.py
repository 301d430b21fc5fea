"""Shared claim types: verdicts, :class:`Outcome` (= :class:`aimc_theory.comparison.Comparison`),
:class:`Claim`, the budget and the test devices.

Every claim is run as ``claim.run(theory, fast)``: ``theory`` (a :class:`Theory`) supplies the
prediction from the symbolic module; the measurement comes from the numeric simulation
(devices, algorithms, simulation), which never sees the theory. A claim names its own controls:
wrong theories (mutants, :mod:`.mutants`) that it must reject *by comparison*; a wrong theory that
raises gives no prediction and is never counted as rejected.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
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
    run: Callable[[Theory, bool], Outcome] = field(repr=False)
    expected_verdict: str = AGREE
    family: str | None = None
    group: str | None = None     # claims that share cached simulations run in one process
    # wrong theories (mutant specs, see .mutants) this claim must reject by comparison
    controls: tuple[str, ...] = ()
    # "claim": theory vs simulation; "implementation": the theory side re-runs the simulation's own
    # arithmetic (an implementation check, reported apart and not counted as a claim)
    kind: str = CLAIM

    @property
    def task(self) -> str:
        return self.group or self.id

    def evaluate(self, theory: Theory, fast: bool) -> Outcome:
        """Run the check. A wrong theory that cannot produce a prediction here (it raises) gives the
        verdict ``no prediction``: that is not a rejection by comparison."""
        try:
            return self.run(theory, fast)
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


@dataclass(frozen=True)
class Budget:
    chains: int
    steps: int
    mc_samples: int

    @staticmethod
    def of(fast: bool) -> "Budget":
        return Budget(2000, 6000, 400_000) if fast else Budget(8000, 20000, 2_000_000)


