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

Instances (``instance``): the final losses depend strongly on the drawn (A, W*) (Analog SGD at up_down 0
ends anywhere from ~1e-4 to ~0.3 over random instances), so numbers compare only on the same instance.

* ``numpy`` (default): A and W* drawn by NumPy, ``default_rng(problem_seed)`` (default seed 13);
* ``authors``: the instance of the authors' script (``torch.manual_seed(42); w_star = 0.5 * torch.randn(50);
  A = torch.randn(100, 50); b = A @ w_star``), shipped as ``aimc_theory/instances/p1_fig2_torch42.npz``: the
  float32 arrays exactly as torch 2.13 (CPU) made them (NumPy cannot regenerate torch's random stream).
  The values are kept and the runs compute in float64; b is the torch product, so b = A W* holds to float32
  rounding (|A W* - b| < 2e-6). On this instance the reference simulator's published numbers
  (:data:`REFERENCE`) are printed next to ours with a verdict per cell (:func:`reference_table`).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

from . import algorithms, device, objectives, residual_learning, response, simulation
from .files import save_figure
from .errors import InputError, require_int
from .pulse_trains import PulseTrains

MODELS = ("aihwkit", "batch-mean")
UP_DOWN = (0.0, 0.1, 0.2, 0.3)
TAU, DW_MIN, LR, GAMMA, TRANSFER_LR, BL, BL_TRANSFER = 3.5, 1e-4, 0.8, 0.4, 0.8, 8, 31
INSTANCES = ("numpy", "authors")
PROBLEM_SEED = 13                        # the numpy instance's default seed
AUTHORS_FILE = "p1_fig2_torch42.npz"     # in aimc_theory/instances/ (package data)

# The reference simulator's final f(W) on the authors' instance: IBM aihwkit 1.2.0 on CPU, the authors' settings
# (per-sample pulse trains, desired_bl 8, W0 = 1, lr 0.8, SoftBoundsReference tau 3.5, dw_min 1e-4, one-sided
# up_down; Tiki-Taka gamma 0.4, transfer every step of all columns with desired_bl 31), f after 1000 iterations,
# mean of 5 runs. Kept as printed: the last printed digit gives the rounding allowance (half a unit of it).
REFERENCE_SOURCE = "IBM aihwkit 1.2.0 (CPU), mean of 5 runs, 1000 iterations"
REFERENCE_RUNS = 5
REFERENCE_STEPS = 1000                   # the reference's numbers are f(W) after this many iterations
REFERENCE = {"analog-sgd": ("0.0562", "0.0852", "0.430", "1.781"),
             "tiki-taka": ("2.5e-5", "3.2e-5", "11.1", "66.2")}      # at up_down = UP_DOWN
REFERENCE_K = 3.0                        # standard errors of the difference in the per-cell tolerance


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
    problem_seed: int | None = PROBLEM_SEED       # the numpy instance's seed (None for the authors' instance)
    instance: str = "numpy"
    partial: str | None = None      # Ctrl-C: which runs finished (the others' numbers NaN, their curves absent)

    @property
    def instance_name(self) -> str:
        """``authors (torch seed 42)`` or ``numpy seed N``."""
        return instance_name(self.instance, self.problem_seed)

    def as_dict(self) -> dict:
        out = {"up_down": list(self.up_down), "symmetric_point": list(self.symmetric_point),
               "analog_sgd": list(self.analog_sgd), "tiki_taka": list(self.tiki_taka),
               "analog_sgd_std": list(self.analog_sgd_std), "tiki_taka_std": list(self.tiki_taka_std),
               "steps": self.steps, "seeds": self.seeds, "model": self.model, "seconds": self.seconds,
               "instance": self.instance, "problem_seed": self.problem_seed}
        if self.partial:
            out["partial"] = self.partial
        table = reference_table(self)
        if table is not None:
            out["reference"] = {"source": REFERENCE_SOURCE, "runs": REFERENCE_RUNS, "k": REFERENCE_K,
                                "tolerance": TOLERANCE_TEXT, "rows": table}
        return out


def instance_name(instance: str, problem_seed: int | None) -> str:
    return "authors (torch seed 42)" if instance == "authors" else f"numpy seed {problem_seed}"


@lru_cache(maxsize=1)
def authors_instance() -> dict[str, np.ndarray]:
    """The authors' instance as shipped: ``A`` (100, 50), ``w_star`` (50,), ``b`` (100,), float32 exactly as
    torch drew them (``torch.manual_seed(42)``, see the module docstring); read-only arrays."""
    with resources.as_file(resources.files(__package__) / "instances" / AUTHORS_FILE) as path, np.load(path) as f:
        arrays = {k: np.array(f[k]) for k in ("A", "w_star", "b")}
    for a in arrays.values():
        a.flags.writeable = False
    return arrays


def check_instance(instance: str, problem_seed: int | None) -> None:
    """``instance`` is one of :data:`INSTANCES`; ``problem_seed`` (a numpy instance's seed) only with numpy."""
    if instance not in INSTANCES:
        raise InputError("instance", f"must be one of {', '.join(INSTANCES)} (got {instance!r})")
    if instance == "authors" and problem_seed is not None:
        raise InputError("problem_seed", "draws a numpy instance, and --instance authors is the authors' fixed "
                                         "instance: give either --instance authors or --problem-seed N, not both")


def fig2_problem(seed: int | None = None, per_sample: bool = False,
                 instance: str = "numpy") -> objectives.LeastSquares:
    """f(W) = 1/(2N) ||A W - b||^2 with A in R^{100x50}, A_ij ~ N(0,1), W* ~ N(0, 0.5^2), b = A W* (noiseless).

    ``instance`` "numpy": drawn by ``numpy.random.default_rng(seed)`` (A first, then W*; seed None:
    :data:`PROBLEM_SEED`); "authors": the authors' torch instance (:func:`authors_instance`; ``seed`` must be
    None), its float32 A and b as float64."""
    check_instance(instance, None if instance == "numpy" else seed)
    if instance == "authors":
        inst = authors_instance()
        return objectives.LeastSquares(inst["A"].astype(np.float64), inst["b"].astype(np.float64),
                                       per_sample=per_sample)
    seed = require_int("problem_seed", PROBLEM_SEED if seed is None else seed, minimum=0)
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((100, 50))
    return objectives.LeastSquares(A, A @ (0.5 * rng.standard_normal(50)), per_sample=per_sample)


TOLERANCE_TEXT = (f"|ours - reference| <= {REFERENCE_K:g} s sqrt(1/n + 1/{REFERENCE_RUNS}) + r: s our std over our n "
                  f"seeds (standing in for the reference's unpublished spread), {REFERENCE_RUNS} the reference's runs, "
                  "r half a unit of the reference's last printed digit")


def _half_unit(text: str) -> float:
    """Half a unit in the last printed digit of a decimal ("0.0562" -> 5e-5, "2.5e-5" -> 5e-7)."""
    mantissa, _, exp = text.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (-decimals + (int(exp) if exp else 0))


def reference_cell(algorithm: str, up_down: float, mean: float, std: float, n: int,
                   k: float = REFERENCE_K) -> dict:
    """One cell of :func:`reference_table`: our mean and std over ``n`` seeds against the reference's number
    for ``algorithm`` ("analog-sgd" or "tiki-taka") at ``up_down`` (one of :data:`UP_DOWN`)."""
    i_ref = min(range(len(UP_DOWN)), key=lambda j: abs(UP_DOWN[j] - up_down))
    if abs(UP_DOWN[i_ref] - up_down) > 1e-12:
        raise InputError("up_down", f"the reference ran {', '.join(map(str, UP_DOWN))} only (got {up_down!r})")
    ref_text = REFERENCE[algorithm][i_ref]
    ref = float(ref_text)
    se = std * math.sqrt(1.0 / n + 1.0 / REFERENCE_RUNS) if n > 1 else math.nan
    rounding = _half_unit(ref_text)
    tol = k * se + rounding
    verdict = ("not run (interrupted)" if math.isnan(mean) else "no spread (1 seed)" if n < 2 else
               "within spread" if abs(mean - ref) <= tol else "outside spread")
    return {"ours": mean, "std": std, "n": n, "reference": ref, "reference_text": ref_text, "se": se,
            "rounding": rounding, "tolerance": tol,
            "z": abs(mean - ref) / se if se > 0 else math.nan, "verdict": verdict}


def reference_table(res: "Fig2Result", k: float = REFERENCE_K) -> list[dict] | None:
    """Our final f(W) next to the reference simulator's (:data:`REFERENCE`) per up_down and algorithm, on the
    authors' instance at the published 1000 iterations only (None otherwise; up_down values the reference did
    not run are left out).

    Per cell the difference of two means: ours over n seeds with std s, the reference's over 5 runs whose std
    is not published, taken as ours (the same model and instance): SE = s sqrt(1/n + 1/5); the cell is
    "within spread" when |ours - reference| <= k SE + r (r: the reference's rounding, half a unit of its last
    printed digit), else "outside spread"; with one seed (no s) "no spread (1 seed)"."""
    if res.instance != "authors" or res.steps != REFERENCE_STEPS:
        return None
    rows = []
    for i, (u, sp_) in enumerate(zip(res.up_down, res.symmetric_point)):
        if not any(abs(u - v) <= 1e-12 for v in UP_DOWN):
            continue
        rows.append({"up_down": u, "symmetric_point": sp_,
                     "analog-sgd": reference_cell("analog-sgd", u, res.analog_sgd[i], res.analog_sgd_std[i],
                                                  res.seeds, k),
                     "tiki-taka": reference_cell("tiki-taka", u, res.tiki_taka[i], res.tiki_taka_std[i],
                                                 res.seeds, k)})
    return rows


def fig2_devices(up_down: float, model: str) -> tuple[device.Device, device.Device]:
    """(gradient array, transfer target) for one up_down value and model."""
    resp = response.aihwkit_softbounds(w_max=TAU, w_min=-TAU, up_down=up_down)
    if model == "aihwkit":
        return (device.Device(resp, dw_min=DW_MIN, trains=PulseTrains(desired_bl=BL)),
                device.Device(resp, dw_min=DW_MIN, trains=PulseTrains(desired_bl=BL_TRANSFER)))
    return (device.Device(resp, dw_min=DW_MIN, max_bl=BL, rounding="stochastic"),
            device.Device(resp, dw_min=DW_MIN, max_bl=BL_TRANSFER, rounding="stochastic"))


def p1_fig2(steps: int = 1000, seeds: int = 5, model: str = "aihwkit", up_down=UP_DOWN, seed: int = 0,
            problem_seed: int | None = None, progress=None, instance: str = "numpy") -> Fig2Result:
    """Run P1 Fig. 2 for every up_down value and both algorithms (see the module docstring).

    ``instance`` "numpy" draws the problem from ``problem_seed`` (None: :data:`PROBLEM_SEED`); "authors" runs
    the authors' instance (then ``problem_seed`` must be None). ``progress(done, total, seconds)`` is called as
    the runs (up_down values x algorithms) advance.

    On Ctrl-C (SIGINT) raises :class:`aimc_theory.simulation.Interrupted` (a KeyboardInterrupt) whose
    ``partial`` is the :class:`Fig2Result` of the finished (algorithm, up_down) runs, marked ``partial``: the
    up_down values with a finished run, NaN for a run that did not finish (None if none finished)."""
    steps = require_int("steps", steps)
    seeds = require_int("seeds", seeds)
    if model not in MODELS:
        raise InputError("model", f"must be one of {', '.join(MODELS)} (got {model!r})")
    check_instance(instance, problem_seed)
    if instance == "numpy":
        problem_seed = PROBLEM_SEED if problem_seed is None else require_int("problem_seed", problem_seed,
                                                                                     minimum=0)
    obj = fig2_problem(problem_seed, per_sample=model == "aihwkit", instance=instance)
    t0 = time.perf_counter()
    finals = {"analog-sgd": [], "tiki-taka": []}
    curves, final_C, sps = {}, {}, []
    finished = []

    def result(partial=None):
        rows = [i for i, u in enumerate(up_down) if any((name, u) in finished for name in finals)]
        cols = {name: [finals[name][i] if (name, up_down[i]) in finished else (math.nan, math.nan) for i in rows]
                for name in finals}
        a, t = cols["analog-sgd"], cols["tiki-taka"]
        return Fig2Result(tuple(float(up_down[i]) for i in rows), tuple(sps[i] for i in rows), tuple(m for m, _ in a),
                          tuple(m for m, _ in t), tuple(s for _, s in a), tuple(s for _, s in t), steps, seeds, model,
                          time.perf_counter() - t0, {key: curves[key] for key in finished},
                          {u: c for u, c in final_C.items() if ("tiki-taka", u) in finished}, problem_seed, instance,
                          partial)

    try:
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
                finished.append((name, u))          # all its numbers stored
    except KeyboardInterrupt:      # Ctrl-C: the finished runs (each a whole run of every seed) are kept
        what = f"{len(finished)} of {2 * len(up_down)} runs (algorithm x up_down) finished"
        raise simulation.Interrupted(result(what) if finished else None, what) from None
    return result()


def draw_fig2(results: list[Fig2Result], path) -> str:
    """One panel per model: f(W) per iteration, Analog SGD solid, Tiki-Taka dashed, one color per up_down."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6 * len(results), 4.5))
    axes = np.atleast_1d(fig.subplots(1, len(results)))
    for ax, res in zip(axes, results):
        for i, u in enumerate(res.up_down):
            for name, ls in (("analog-sgd", "-"), ("tiki-taka", "--")):
                c = res.curves.get((name, u))
                if c is None:               # a run an interrupt left unfinished
                    continue
                ax.semilogy(np.arange(c.size), c, ls=ls, color=f"C{i}",
                            label=f"{'ASGD' if name == 'analog-sgd' else 'TT'} up_down={u:g}")
                if res.instance == "authors" and res.steps == 1000 and u in UP_DOWN:    # the reference's endpoint
                    ax.plot([res.steps], [float(REFERENCE[name][UP_DOWN.index(u)])], "o" if ls == "-" else "s",
                            color=f"C{i}", mfc="none", ms=7)
        ax.set_xlabel("iteration")
        ax.set_ylabel("f(W) = ||AW - b||^2/(2N)")
        ax.set_title(f"P1 Fig. 2, model '{res.model}', instance {res.instance_name} ({res.seeds} seeds)"
                     + ("\nopen markers: aihwkit 1.2.0 at 1000 iterations (mean of 5 runs)"
                        if res.instance == "authors" and res.steps == 1000 else "")
                     + (f"\nPARTIAL (interrupted): {res.partial}" if res.partial else ""), fontsize=10)
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return str(save_figure(fig, path))


def p1_table8(**kwargs):
    """P1 Table 8 (the FCN with Pow/Exp responses): :func:`aimc_theory.table8.p1_table8` (imported on use)."""
    from .table8 import p1_table8 as run
    return run(**kwargs)


def p2_table2(**kwargs):
    """P2 Table 2's FCN rows (TT-v2, AGAD, E-RIDER under reference offsets): :func:`aimc_theory.table_p2.p2_table2`
    (imported on use)."""
    from .table_p2 import p2_table2 as run
    return run(**kwargs)


EXPERIMENTS = {"p1-fig2": p1_fig2, "p1-table8": p1_table8, "p2-table2": p2_table2}
