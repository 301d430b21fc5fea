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
    "fig2": 7.6, "rider": 5.8, "asgd.softbounds": 4.1, "rl.linear": 3.4, "13.long": 3.2, "rl.power": 2.9,
    "17.f3": 2.9, "rl.softbounds": 2.7, "asgd.exponential": 2.5, "rl.exponential": 2.5, "9.laplace": 2.4,
    "12.ls": 2.2, "9.power": 2.0, "9.exponential": 1.9, "9.linear": 1.8, "9.softbounds": 1.7, "9.softbounds-c0": 1.7,
    "fig2-batch-mean": 1.5, "22.ls": 1.4, "16.stress": 1.1, "asgd.power": 1.1, "27.fit": 1.1,
    "27.reram-es.rl-d2d": 1.0,
}
DEFAULT_TASK_SECONDS = 0.4


def task_seconds(task: str, claims: int = 1) -> float:
    """The expected seconds of a task of ``claims`` claims, for the scheduling order."""
    return TASK_SECONDS.get(task, DEFAULT_TASK_SECONDS * claims)
