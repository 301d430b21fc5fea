"""The order in which :func:`verification.checker.check` hands out its tasks (groups of claims that share cached
simulations, ``Claim.task``): the longest first (LPT), so that two workers finish together instead of one waiting
for a long task started last. Only the order depends on these numbers, never a result.

``TASK_SECONDS``: measured CPU seconds of the longest ``check --fast`` tasks (one process, the 2-core machine class
of the README, with the compiled kernels of :mod:`aimc_theory.kernels_chains`); a task not listed counts
``DEFAULT_TASK_SECONDS`` per claim. ``tests/test_kernels_chains.py`` checks that every name is a task of the
catalogue.
"""
from __future__ import annotations

TASK_SECONDS = {
    "fig2": 25.0, "rider": 7.5, "asgd.softbounds": 4.5, "rl.linear": 4.3, "13.long": 4.2, "rl.power": 4.1,
    "rl.exponential": 3.8, "rl.softbounds": 3.6, "9.laplace": 3.0, "12.ls": 2.9, "9.linear": 2.5, "9.power": 2.5,
    "9.softbounds-c0": 2.4, "asgd.exponential": 2.4, "9.exponential": 2.2, "9.softbounds": 2.2, "16.stress": 1.9,
    "22.ls": 1.8, "27.fit": 1.6, "17.f3": 1.5, "27.reram-es.rl-d2d": 1.5, "asgd.power": 1.3, "asgd.linear": 1.3,
}
DEFAULT_TASK_SECONDS = 0.4


def task_seconds(task: str, claims: int = 1) -> float:
    """The expected seconds of a task of ``claims`` claims, for the scheduling order."""
    return TASK_SECONDS.get(task, DEFAULT_TASK_SECONDS * claims)
