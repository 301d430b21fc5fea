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
    "fig2": 7.0, "rider": 6.4, "13.long": 3.9, "rl.linear": 3.5, "12.ls": 3.1, "rl.power": 3.0, "asgd.softbounds": 2.8,
    "rl.exponential": 2.7, "rl.softbounds": 2.6, "fig2-batch-mean": 2.6, "22.ls": 2.0, "asgd.exponential": 2.0,
    "27.fit": 1.8, "16.stress": 1.7, "asgd.linear": 1.7, "9.laplace": 1.5, "asgd.power": 1.4, "9.linear": 1.4,
    "27.reram-es.rl-d2d": 1.4, "17.f3": 1.3, "9.exponential": 1.3, "9.power": 1.2, "9.softbounds-c0": 1.1,
    "9.softbounds": 1.1, "13.fig2": 1.0, "fig2-reference": 0.9,
}
DEFAULT_TASK_SECONDS = 0.4


def task_seconds(task: str, claims: int = 1) -> float:
    """The expected seconds of a task of ``claims`` claims, for the scheduling order."""
    return TASK_SECONDS.get(task, DEFAULT_TASK_SECONDS * claims)
