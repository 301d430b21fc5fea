"""The order in which :func:`verification.checker.check` hands out its tasks (groups of claims that share cached
simulations, ``Claim.task``): the longest first (LPT), so that two workers finish together instead of one waiting
for a long task started last. Only the order depends on these numbers, never a result.

Measured CPU seconds (2 workers on the 2-core machine class of the README, with the compiled kernels of
:mod:`aimc_theory.kernels_chains`): ``TASK_SECONDS`` of the longest ``check --fast`` tasks, ``FULL_TASK_SECONDS`` of
the longest tasks with the default budgets, ``NETWORK_TASK_SECONDS`` of the network claims' tasks (``check
--network``, groups ``network.*``, matched by prefix: the first match counts). A task not listed counts
``DEFAULT_TASK_SECONDS`` (fast) or ``DEFAULT_FULL_TASK_SECONDS`` per claim. Scored by that default the network tasks
were handed out last, where a task of a minute ended the run alone on one worker. ``tests/test_kernels_chains.py``
checks that every name is a task of the catalogue.
"""
from __future__ import annotations

TASK_SECONDS = {
    "fig2": 5.5, "asgd": 3.1, "rl.exponential": 1.8, "rider": 1.7, "13.long": 1.4, "rl.power": 1.3, "rl.linear": 1.2,
    "rl.softbounds": 1.1, "9.laplace": 1.1, "16.stress": 0.9, "27.fit": 0.8, "fig2-batch-mean": 0.8, "12.ls": 0.8,
    "22.ls": 0.5, "9.exponential": 0.5,
}
DEFAULT_TASK_SECONDS = 0.3
FULL_TASK_SECONDS = {
    "rider": 53, "fig2": 39, "rl.power": 27, "9.exponential": 17, "9.power": 15, "9.softbounds-c0": 16, "rl.linear": 16,
    "asgd": 30, "rl.softbounds": 14, "rl.exponential": 14, "12.ls": 10, "9.laplace": 10,
    "23.nonideal-main": 9, "12.laplace": 8, "5.laplace": 8, "9.linear": 7, "9.softbounds": 7,
    "22.power": 7, "17.softbounds": 6, "zs-noise": 6, "5.nonconvex": 6, "17.f3": 6, "27.reram-es.rl-d2d": 6,
}
DEFAULT_FULL_TASK_SECONDS = 0.75


NETWORK_TASK_SECONDS = {       # (check --network, 2 workers, numba; the first matching prefix counts)
    "network.exponential": 60.0, "network.power": 30.0, "network.e": 30.0, "network.f": 23.0, "network.d": 12.0,
    "network.a": 4.5,
}
DEFAULT_NETWORK_TASK_SECONDS = 30.0


def task_seconds(task: str, claims: int = 1, fast: bool = True) -> float:
    """The expected seconds of a task of ``claims`` claims (``fast``: with check --fast's budgets), for the
    scheduling order."""
    if task.startswith("network."):
        return next((v for k, v in NETWORK_TASK_SECONDS.items() if task == k or task.startswith(k + ".")),
                    DEFAULT_NETWORK_TASK_SECONDS)
    if fast:
        return TASK_SECONDS.get(task, DEFAULT_TASK_SECONDS * claims)
    return FULL_TASK_SECONDS.get(task, DEFAULT_FULL_TASK_SECONDS * claims)


# -- compiling the kernels in parallel, once -----------------------------------------------------------------------
# On a fresh install numba compiles its kernels on first use and caches them on disk (~20 s of CPU in one process,
# half of it the chains loop). Both workers of `check` then compiled the same kernels at the same time (a cold
# `check --fast`: +45 s of CPU, +24 s wall). With a cold cache the whole catalogue starts with two warm-up tasks,
# one per worker, that compile disjoint halves (the chains loop | the rest) by running tiny problems through them;
# every later task loads them from the cache.

def warm_up_parts() -> list[int]:
    """The warm-up tasks to hand out first: the halves of the compiled kernels whose on-disk cache is missing or
    stale (none without numba)."""
    from aimc_theory import kernels
    if not kernels.available():
        return []
    try:
        return [i for i, fns in enumerate(_halves()) if any(not fn._cache._cache_file._load_index() for fn in fns)]
    except Exception:         # noqa: BLE001 -- numba's cache internals moved: no warm-up (only speed depends on it)
        return []


def _halves() -> tuple:
    """The kernels each warm-up task compiles (those :func:`warm_up_calls` reaches)."""
    from aimc_theory import kernels_chains_jit as kj, kernels_compose_jit as kc
    return (kj.loop,), (kj.asgd_loop, kc.compose, kj.zs_loop, kj.alt_pairs, kj.alt_last, kj.alt_q_exp_vec,
                        kj.alt_last_exp, kj.alt_pairs_exp)


def warm_up(part: int) -> list:
    """Compile (or load) one half of the kernels by running tiny problems through them; no rows. A failure here
    only means the claims compile what they need themselves."""
    try:
        warm_up_calls(part)
    except Exception:         # noqa: BLE001 -- see the docstring
        pass
    return []


def warm_up_calls(part: int) -> tuple:
    """The tiny problems of one half (0: the chains loop; 1: the Analog SGD loop, the per-sample compose kernel,
    zero-shifting, alternating pulses); returns the dispatchers they reach (tests/test_kernels_chains.py)."""
    import numpy as np
    from aimc_theory import algorithms, calibration, device, kernels_chains, objectives, reproduce, residual_learning
    from aimc_theory import response, simulation
    from aimc_theory.pulse_trains import PulseTrains
    sq = objectives.ScalarQuadratic(1.0, 0.5, 0.3)
    sb = response.softbounds(tau=1.0)
    if part == 0:
        simulation.simulate(sq, residual_learning.residual_learning(0.01, 0.005, 0.4, device.Device(sb),
                                                                    device.Device(sb)), 2, 2, 0, backend="exact")
        return _halves()[0]
    simulation.simulate(sq, algorithms.analog_sgd(0.01, device.Device(sb)), 2, 2, 0, backend="auto")
    resp = response.aihwkit_softbounds(w_max=reproduce.TAU, w_min=-reproduce.TAU, up_down=0.1)
    pulsed = device.Device(resp, dw_min=reproduce.DW_MIN, trains=PulseTrains(desired_bl=reproduce.BL))
    simulation.simulate(reproduce.fig2_problem(13, per_sample=True), algorithms.analog_sgd(reproduce.LR, pulsed),
                        1, 1, 0, w0=1.0)
    calibration.zero_shift(device.Device(response.softbounds(tau=1.0, sp=0.1), dw_min=1e-3), 0.3, 10, backend="exact")
    kernels_chains.alternate_pairs(device.Device(sb, dw_min=1e-3), 0.2, 3)
    kernels_chains.alternate(device.Device(sb, dw_min=1e-3), np.array([0.2]), 4)
    # the exponential step's kernels (the presets reram-es and pcm), called directly: they compile whatever mode of
    # NumPy's exp this machine has (alternate_exp_code refuses them where none gives NumPy's bits)
    from aimc_theory import kernels_chains_jit as kj
    q, one = np.array([1.0, -2.5, 0.0, 1.0, 1.0, 2.5, 0.0, 1.0]), np.ones(1)
    kj.alt_q_exp_vec(np.zeros(2), q, True, 0)
    kj.alt_pairs_exp(0.2, 3, 1e-3, q, one, one, one, one, -one, one, 0 * one, False, 0)
    kj.alt_last_exp(np.array([0.2]), 4, 1e-3, q, one, one, one, one, -one, one, 0 * one, False, np.empty(1),
                    np.empty(1), 0)
    return _halves()[1]
