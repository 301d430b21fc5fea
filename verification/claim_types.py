"""Shared claim types: verdicts, :class:`Outcome`, :class:`Claim`, the budget and the test devices.

Every claim is run as ``claim.run(theory, fast)``: ``theory`` (a :class:`Theory`) supplies the
prediction from the symbolic module; the measurement comes from the numeric simulation
(devices, algorithms, simulation), which never sees the theory. Negative controls pass a
deliberately wrong ``Theory`` and must get ``disagree``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from aimc_theory import response
from aimc_theory.errors import InputError

from .theory import Theory

AGREE, DISAGREE, INCONCLUSIVE = "agree", "disagree", "inconclusive"


@dataclass(frozen=True)
class Outcome:
    theory: float
    measured: float
    se: float
    tolerance: float
    verdict: str
    explanation: str
    data: dict = field(default_factory=dict, repr=False)


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

    @property
    def task(self) -> str:
        return self.group or self.id

    def evaluate(self, theory: Theory, fast: bool) -> Outcome:
        """Run the check; a theory that cannot produce a prediction here disagrees."""
        try:
            return self.run(theory, fast)
        except InputError as exc:
            if theory == Theory():
                raise
            return Outcome(math.nan, math.nan, math.nan, math.nan, DISAGREE,
                           f"the theory gives no prediction here: {exc}")


def judge(theory: float, measured: float, tolerance: float) -> str:
    ok = np.all(np.abs(np.asarray(measured) - np.asarray(theory)) <= tolerance)
    return AGREE if ok else DISAGREE


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


