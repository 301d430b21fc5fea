"""Reruns of published experiments, as their authors ran them first, then simplified (and labelled).

``p1-fig2`` — P1 (arXiv 2502.06309) Fig. 2 / App. K.2: least squares f(W) = 1/(2N) ||A W - b||^2 with
A in R^{100 x 50}, A_ij ~ N(0, 1), W* ~ N(0, 0.5^2), b = A W* (noiseless), full batch, W0 = 1 (all ones),
1000 iterations; Analog SGD with lr 0.8, and Tiki-Taka (W = gamma A + C, gamma 0.4, fast lr 0.8, every
iteration all 50 columns of A transferred to C with transfer lr 0.8); both arrays are the reference
simulator's SoftBounds device with bounds +-3.5, dw_min 1e-4 and ``up_down`` in {0, 0.1, 0.2, 0.3},
applied one-sidedly (SP = 3.5 u/(2 - u)).

Models (``model``):

* ``aihwkit`` (default, the authors' semantics): every iteration writes the 100 samples one by one as
  stochastic coincidence pulse trains (update and BL management, desired_bl 8 for A and for Analog SGD),
  and the transfer writes each column of A into C by its own pulse trains (desired_bl 31);
* ``batch-mean`` (the earlier simplification): one pulse train per iteration with the batch-mean
  gradient, BL = round(|dw|/dw_min) with stochastic rounding, capped at 8 (31 for the transfer).

Seeds are independent chains of one problem (the pulse randomness differs, the problem does not).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import algorithms, device, objectives, residual_learning, response, simulation
from .files import save_figure
from .errors import InputError, require_int
from .pulse_trains import PulseTrains

MODELS = ("aihwkit", "batch-mean")
UP_DOWN = (0.0, 0.1, 0.2, 0.3)
TAU, DW_MIN, LR, GAMMA, TRANSFER_LR, BL, BL_TRANSFER = 3.5, 1e-4, 0.8, 0.4, 0.8, 8, 31


@dataclass(frozen=True)
class Fig2Result:
    """Final f(W) (mean and std over seeds) per up_down value and the mean loss curves."""

    up_down: tuple
    symmetric_point: tuple
    analog_sgd: tuple
    tiki_taka: tuple
    analog_sgd_std: tuple
    tiki_taka_std: tuple
    steps: int
    seeds: int
    model: str
    seconds: float
    curves: dict = field(repr=False, default_factory=dict)       # (algorithm, up_down) -> mean f per step
    final_C: dict = field(repr=False, default_factory=dict)      # up_down -> per seed, mean over elements of C - W*
    problem_seed: int = 13

    def as_dict(self) -> dict:
        return {"up_down": list(self.up_down), "symmetric_point": list(self.symmetric_point),
                "analog_sgd": list(self.analog_sgd), "tiki_taka": list(self.tiki_taka),
                "analog_sgd_std": list(self.analog_sgd_std), "tiki_taka_std": list(self.tiki_taka_std),
                "steps": self.steps, "seeds": self.seeds, "model": self.model, "seconds": self.seconds}


def fig2_problem(seed: int = 13, per_sample: bool = False) -> objectives.LeastSquares:
    """A in R^{100x50} ~ N(0,1), W* ~ N(0, 0.5^2), b = A W* (noiseless)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((100, 50))
    return objectives.LeastSquares(A, A @ (0.5 * rng.standard_normal(50)), per_sample=per_sample)


def fig2_devices(up_down: float, model: str) -> tuple[device.Device, device.Device]:
    """(gradient array, transfer target) for one up_down value and model."""
    resp = response.aihwkit_softbounds(w_max=TAU, w_min=-TAU, up_down=up_down)
    if model == "aihwkit":
        return (device.Device(resp, dw_min=DW_MIN, trains=PulseTrains(desired_bl=BL)),
                device.Device(resp, dw_min=DW_MIN, trains=PulseTrains(desired_bl=BL_TRANSFER)))
    return (device.Device(resp, dw_min=DW_MIN, max_bl=BL, rounding="stochastic"),
            device.Device(resp, dw_min=DW_MIN, max_bl=BL_TRANSFER, rounding="stochastic"))


def p1_fig2(steps: int = 1000, seeds: int = 5, model: str = "aihwkit", up_down=UP_DOWN, seed: int = 0,
            problem_seed: int = 13, progress=None) -> Fig2Result:
    """Run P1 Fig. 2 for every up_down value and both algorithms (see the module docstring).
    ``progress(done, total, seconds)`` is called as the runs (up_down values x algorithms) advance."""
    steps = require_int("steps", steps)
    seeds = require_int("seeds", seeds)
    if model not in MODELS:
        raise InputError("model", f"must be one of {', '.join(MODELS)} (got {model!r})")
    obj = fig2_problem(problem_seed, per_sample=model == "aihwkit")
    t0 = time.perf_counter()
    finals = {"analog-sgd": [], "tiki-taka": []}
    curves, final_C, sps = {}, {}, []
    for k, u in enumerate(up_down):
        dev_a, dev_c = fig2_devices(u, model)
        sps.append(dev_a.response.symmetric_point)
        algs = {"analog-sgd": algorithms.analog_sgd(LR, dev_a),
                "tiki-taka": residual_learning.residual_learning(LR, TRANSFER_LR, GAMMA, dev_a, dev_c)}
        for name, alg in algs.items():
            curve = []

            def loss(W, state=None, acc=curve):
                acc.append(float(np.mean(obj.loss(W))))
                return np.zeros(W.shape[0])

            done = 2 * k + (name == "tiki-taka")
            res = simulation.simulate(obj, alg, steps, seeds, seed + 101 * k + (7 if name == "tiki-taka" else 0),
                                 w0=1.0, observables={"loss": loss},
                                 progress=None if progress is None else
                                 (lambda i, n, s, d=done: progress(d * n + i, 2 * len(up_down) * n,
                                                                   time.perf_counter() - t0)))
            final = obj.loss(res.final_weights)
            finals[name].append((float(final.mean()), float(final.std(ddof=1)) if seeds > 1 else 0.0))
            curves[(name, u)] = np.array(curve + [float(final.mean())])
            if name == "tiki-taka":
                final_C[u] = (res.final_params - obj.minimizer).mean(axis=1)
    a, t = finals["analog-sgd"], finals["tiki-taka"]
    return Fig2Result(tuple(float(u) for u in up_down), tuple(sps), tuple(m for m, _ in a), tuple(m for m, _ in t),
                      tuple(s for _, s in a), tuple(s for _, s in t), steps, seeds, model,
                      time.perf_counter() - t0, curves, final_C, problem_seed)


def draw_fig2(results: list[Fig2Result], path) -> str:
    """One panel per model: f(W) per iteration, Analog SGD solid, Tiki-Taka dashed, one color per up_down."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6 * len(results), 4.5))
    axes = np.atleast_1d(fig.subplots(1, len(results)))
    for ax, res in zip(axes, results):
        for i, u in enumerate(res.up_down):
            for name, ls in (("analog-sgd", "-"), ("tiki-taka", "--")):
                c = res.curves[(name, u)]
                ax.semilogy(np.arange(c.size), c, ls=ls, color=f"C{i}",
                            label=f"{'ASGD' if name == 'analog-sgd' else 'TT'} up_down={u:g}")
        ax.set_xlabel("iteration")
        ax.set_ylabel("f(W) = ||AW - b||^2/(2N)")
        ax.set_title(f"P1 Fig. 2, model '{res.model}' ({res.seeds} seeds)")
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    save_figure(fig, path)
    return str(path)


EXPERIMENTS = {"p1-fig2": p1_fig2}
