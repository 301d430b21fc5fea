"""Run an algorithm on an objective for many independent chains at once.

W has shape (chains, D); the only Python loop is over time steps. Statistics are
accumulated on the fly: time averages over the second half of the run per chain, the
chain-mean trajectory, and optional per-chain observables averaged over all steps.
"""
from __future__ import annotations

import _thread
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .algorithms import Algorithm
from . import costs
from .errors import InputError, require_finite, require_int
from .runtime import check_memory, check_time

# peak resident bytes per chain and coordinate of the costliest update model (measured by
# benchmarks/bench_memory.py, table in aimc_theory/costs.py); the checks use the model's own entry
BYTES_PER_CHAIN_COORDINATE = max(costs.BYTES_PER_CHAIN.values())
MAX_PULSES_PER_WRITE = 10 ** 6     # pulse-level writes needing more pulses than this are refused (see check_pulses)
SEED_LIMIT = 2 ** 63
REPORT_EVERY = 0.5     # seconds between progress calls (the first at the first step boundary after it)
GRACE = 0.5            # seconds a Ctrl-C waits for the step in progress before it is abandoned


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) during a long run, raised after the run kept what finished: ``partial`` is the typed
    result of the finished work (a shorter run; None when nothing finished), ``str()`` says what was kept.
    A :class:`KeyboardInterrupt`, so callers that stop on Ctrl-C keep doing so."""

    def __init__(self, partial, what: str):
        super().__init__(what)
        self.partial = partial


class SimulationInterrupted(Interrupted):
    """Ctrl-C during :func:`simulate`: ``partial`` is the :class:`SimulationResult` of the ``steps_done`` steps
    that ran, a valid shorter run: the time averages over the steps after the burn-in step ``steps x
    burn_in`` reached so far (NaN before it), ``final`` the iterate after the last finished step (NaN when the
    step in progress wrote the weights in place and was abandoned); None with the compiled kernel."""

    def __init__(self, partial, steps_done: int, steps: int, what: str):
        super().__init__(partial, what)
        self.steps_done, self.steps = steps_done, steps


class StepBoundary:
    """Ctrl-C held until a loop's next step boundary, where its state is a valid shorter run.

    Installed (``with``) only in the main thread over Python's default SIGINT handler or an enclosing loop's
    (workers that ignore SIGINT, other handlers and threads are left alone). The first SIGINT sets
    ``pending``; the loop calls :meth:`check` at each step boundary, which raises KeyboardInterrupt there
    (through an enclosing loop too). A step still running :data:`GRACE` s after the signal is abandoned
    (KeyboardInterrupt where it is, ``abandoned`` True) unless the loop sets ``hold`` (it is writing its
    accumulators: it stops at the boundary right after), so a run stops within about GRACE s of Ctrl-C however
    long its steps are. A signal after the last boundary raises KeyboardInterrupt when the block ends."""

    def __init__(self, grace: float = GRACE):
        self.grace, self.pending, self.hold, self.abandoned = grace, False, True, False
        self._closed, self._old, self._timer, self._lock = False, None, None, threading.Lock()

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            current = signal.getsignal(signal.SIGINT)
            # over the default handler, or over an enclosing loop's (its loop stops when this one raises)
            if current is signal.default_int_handler or isinstance(getattr(current, "__self__", None), StepBoundary):
                self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def _handler(self, signum, frame):
        if not self.pending:                 # the first Ctrl-C: stop at the next boundary, at most GRACE s away
            self.pending = True
            self._timer = threading.Timer(self.grace, self._expire)
            self._timer.daemon = True
            self._timer.start()
            return
        if self.hold or self._closed:        # at (or past) the boundary: it raises there
            return
        self.abandoned = True
        raise KeyboardInterrupt

    def _expire(self):
        with self._lock:
            if not self._closed:
                _thread.interrupt_main()     # runs _handler again in the main thread

    def check(self) -> None:
        """At a step boundary: raise KeyboardInterrupt if Ctrl-C was pressed."""
        if self.pending:
            self._close()
            raise KeyboardInterrupt

    def _close(self):
        with self._lock:
            self._closed = True
        if self._timer is not None:
            self._timer.cancel()

    def __exit__(self, kind, value, tb):
        try:
            self._close()
        finally:
            if self._old is not None:
                signal.signal(signal.SIGINT, self._old)
        if kind is None and self.pending:
            raise KeyboardInterrupt
        return False


@contextmanager
def keeping(partial: Callable[[], tuple]):
    """Turn a Ctrl-C inside the block into :class:`Interrupted` carrying what finished: ``partial()`` returns
    (typed result or None, what was kept)."""
    try:
        yield
    except Interrupted:
        raise
    except KeyboardInterrupt:
        result, what = partial()
        raise Interrupted(result, what) from None


def next_check(k: int, seconds: float) -> int:
    """The step at which a loop next reads the clock for progress, ``k`` steps done in ``seconds``: every
    step until a step's duration is known, then about every 20 ms of steps (a clock read per step would cost
    ~1% of a fast step; a fixed count made the first report of a slow run wait minutes)."""
    return k + 1 if seconds <= 0 or k == 0 else k + max(1, int(0.02 * k / seconds))


class ProgressClock:
    """Calls ``progress(k, total, seconds)`` about every :data:`REPORT_EVERY` seconds from a loop of ``total``
    iterations, reading the clock only at the iterations :func:`next_check` picks. In the loop:
    ``if progress is not None and k >= clock.check: clock.tick(k)``."""

    def __init__(self, progress, total: int):
        self.progress, self.total, self.check = progress, total, 0
        self.t0 = self.last = time.perf_counter()

    def tick(self, k: int) -> None:
        now = time.perf_counter()
        if k and now - self.last > REPORT_EVERY:
            self.last = now
            self.progress(k, self.total, now - self.t0)
        self.check = next_check(k, now - self.t0)


@dataclass
class SimulationResult:
    """``mean``/``se``: time average over the second half, averaged over chains, and its
    standard error across chains; ``variance``/``variance_se``: the stationary variance over
    the same window; ``final``: mean over chains of the last iterate; ``trajectory``: mean over
    chains at each recorded step (steps/record_every + 1, D)."""

    mean: np.ndarray
    se: np.ndarray
    variance: np.ndarray
    variance_se: np.ndarray
    final: np.ndarray
    final_weights: np.ndarray = field(repr=False)
    chain_means: np.ndarray = field(repr=False)
    chain_second_moments: np.ndarray = field(repr=False)
    trajectory: np.ndarray = field(repr=False)
    observables: dict = field(default_factory=dict, repr=False)
    seconds: float = 0.0
    final_params: np.ndarray | None = field(default=None, repr=False)
    final_state: object = field(default=None, repr=False)

    def mse(self, target) -> tuple[np.ndarray, np.ndarray]:
        """Time-averaged E|W - target|^2 per coordinate over the averaging window, and its SE."""
        per_chain = self.chain_second_moments - 2 * target * self.chain_means + np.square(target)
        n = per_chain.shape[0]
        return per_chain.mean(axis=0), per_chain.std(axis=0, ddof=1) / np.sqrt(n)

    def as_dict(self) -> dict:
        scalar = self.mean.size == 1

        def out(x):
            return float(x[0]) if scalar else [float(v) for v in x]

        return {"mean": out(self.mean), "se": out(self.se), "final": out(self.final),
                "variance": out(self.variance), "seconds": self.seconds}


def initial_weights(w0, chains: int, dim: int) -> np.ndarray:
    try:
        arr = np.asarray(w0, float)
    except (TypeError, ValueError):
        raise InputError("w0", f"must be a real number or an array of them (got {w0!r})") from None
    W = np.broadcast_to(arr, (chains, dim)).copy() if arr.ndim < 2 else arr.copy()
    if W.shape != (chains, dim):
        raise InputError("w0", f"must be a scalar, a length-{dim} vector or a ({chains}, {dim}) array")
    if not np.all(np.isfinite(W)):
        raise InputError("w0", "must be finite (NaN or inf found)")
    return W


def simulate(objective, algorithm: Algorithm, steps: int, chains: int, seed: int, w0=0.0,
        record_every: int = 1, burn_in: float = 0.5,
        observables: dict[str, Callable[[np.ndarray, object], np.ndarray]] | None = None,
        progress: Callable[[int, int, float], None] | None = None, backend: str = "numpy",
        dtype=np.float64) -> SimulationResult:
    """Simulate ``chains`` independent runs of ``steps`` steps from ``w0`` (seeded, reproducible).

    Parameters
    ----------
    objective : ScalarQuadratic, LeastSquares or TiltedDoubleWell
        Supplies stochastic gradients ``grad(W, rng)`` (from :mod:`aimc_theory.objectives`).
    algorithm : Algorithm
        The update rule (:mod:`aimc_theory.algorithms`, :func:`aimc_theory.registry.build`).
    steps, chains : int
        Iterations per chain and number of independent chains (>= 1).
    seed : int
        Seed of the NumPy generator; the same seed gives the same bits.
    w0 : float or array
        Initial weights (broadcast to (chains, dim)).
    record_every : int
        Steps between the recorded means of ``trajectory``.
    burn_in : float in [0, 1)
        Fraction of the steps left out of the time averages.
    observables : dict of name -> fn(W_read, state) -> (chains,), optional
        Evaluated before every step on the read-out weight and the algorithm's state, averaged over steps.
    progress : callable(step, steps, seconds), optional
        Called at the first step boundary 0.5 s after the start (so the first ETA comes within 2 s unless one
        step takes longer), then about twice a second.
    backend : {"numpy", "numba", "auto", "exact"}
        "numba": the compiled kernel of :mod:`aimc_theory.kernels` (optional extra ``fast``; analog/digital
        SGD on the scalar quadratic, expected update), several times faster, the same bits as "numpy" but for
        the exponential family and the power family at gamma not in {1/2, 1} (libm's expm1/pow, not NumPy's:
        the last bit may differ);
        "auto": "numba" where it is installed, covers the run and gives the NumPy path's bits, else "exact";
        "exact": the compiled kernels of
        :mod:`aimc_theory.kernels_chains` where numba is installed and they repeat the NumPy path's bits for
        this run (analog/digital SGD, Residual Learning v1/v2, RIDER and E-RIDER on the scalar quadratic with
        expected-update devices whose compiled response is checked bit for bit; RIDER's
        :class:`aimc_theory.tracking.QWindow` observable), else "numpy": the same numbers, several times faster.
    dtype : numpy.float64 or numpy.float32
        Precision of the weights and of the per-step arithmetic (the time averages accumulate in float64).
        float32 draws float32 normals (another random stream) and runs ~1.2-1.3x faster; its rounding
        (6e-8 relative per operation) is far below the SE of any stationary mean measured here.

    Returns
    -------
    SimulationResult
        ``mean`` and ``se`` (time average over the steps after burn-in, mean over chains, and its standard
        error across chains), ``variance``, ``final``, ``trajectory``, ``observables``, ``seconds``.

    Raises
    ------
    InputError
        Bad sizes, sizes that do not fit in the available memory (before anything is allocated), or
        iterates that diverge (naming the step).
    SimulationInterrupted
        On Ctrl-C (SIGINT), within about 0.5 s: ``partial`` is the result of the steps that ran (a
        KeyboardInterrupt; :class:`StepBoundary`).
    """
    steps = require_int("steps", steps)
    chains = require_int("chains", chains)
    record_every = require_int("record_every", record_every)
    seed = check_seed(seed)
    if isinstance(burn_in, bool) or not 0 <= require_finite("burn_in", burn_in) < 1:
        raise InputError("burn_in", f"must be a real number in [0, 1) (got {burn_in!r})")
    if not isinstance(backend, str) or backend not in ("numpy", "numba", "auto", "exact"):
        raise InputError("backend", f"must be numpy, numba, auto or exact (got {backend!r})")
    given_dtype = dtype
    try:
        dtype = None if dtype is None else np.dtype(dtype)
    except (TypeError, ValueError):
        dtype = None
    if dtype is None or dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise InputError("dtype", f"must be numpy.float64 or numpy.float32 (got {given_dtype!r})")
    if np.ndim(w0) < 2:
        initial_weights(w0, 1, objective.dim)       # a bad w0 fails before the sizes are checked
    if backend == "auto":           # a compiled kernel where installed and covering this run (the same bits)
        backend = "numpy"
        if dtype == np.float64 and not observables:
            from . import kernels
            if kernels.available():
                try:
                    # the exponential family and the power family at gamma not in {1/2, 1} run in the chains loop
                    # ("exact"), which calls NumPy's own SIMD expm1/pow and so keeps the NumPy path's bits (the
                    # numba kernel's libm calls differ in the last digit of some steps; for the exponential also
                    # 8-9 vs 23-24 ns per chain-step); the other families: within 20% of each other
                    _, _, kind, coef, _ = kernels.plan(objective, algorithm, observables)
                    if not kernels.libm_math(kind, coef):
                        backend = "numba"
                except InputError:
                    pass
        if backend == "numpy":
            backend = "exact"
    chain_plan = None
    if backend == "exact":          # a compiled kernel only where it gives the NumPy path's bits
        backend = "numpy"
        if dtype == np.float64:
            from . import kernels
            if kernels.available():
                from . import kernels_chains
                try:
                    chain_plan = kernels_chains.plan(objective, algorithm, observables, chains)
                except InputError:
                    pass
    if backend == "numba":
        from . import kernels
        kernels.plan(objective, algorithm, observables)      # not covered: an error before any work
        if dtype != np.float64:
            raise InputError("dtype", "the numba kernel runs in float64")
    check_work(objective, algorithm, steps, chains, w0)
    _check_trajectory_memory(steps, record_every, objective.dim)
    rng = np.random.default_rng(seed)
    params = initial_weights(w0, chains, objective.dim).astype(dtype, copy=False)
    state = algorithm.init(params)
    start = min(int(steps * burn_in), steps - 1)
    s1 = np.zeros(params.shape)               # float64 accumulators whatever the weights' precision
    s2 = np.zeros(params.shape)
    traj = [algorithm.readout(params, state).mean(axis=0)]
    obs = {k: np.zeros(chains) for k in (observables or {})}
    t0 = time.perf_counter()
    if chain_plan is not None:
        traj_arr = np.empty((steps // record_every + 1, objective.dim))
        traj_arr[0] = traj[0]
        try:
            params, state, sums = kernels_chains.run(objective, chain_plan, params, state, rng, steps, start,
                                                     record_every, s1, s2, traj_arr, observables, progress,
                                                     StepBoundary)
        except kernels_chains.Stopped as stop:      # Ctrl-C at a chunk boundary: the steps that ran, a shorter run
            obs.update(stop.observables)
            res = _result(algorithm, stop.params, stop.state, s1, s2, stop.done, start,
                          list(traj_arr[:stop.done // record_every + 1]), obs, time.perf_counter() - t0)
            window = (f"time averages over steps {start + 1:,}..{stop.done:,}" if stop.done > start else
                      f"no time averages (they start after the burn-in, step {start:,})")
            raise SimulationInterrupted(res, stop.done, steps,
                                        f"{stop.done:,} of {steps:,} steps ran; {window}") from None
        obs.update(sums)
        traj = list(traj_arr)
    elif backend == "numba":
        traj_arr = np.empty(steps // record_every + 1)
        traj_arr[0] = traj[0][0]
        try:
            params = kernels.run_loop(objective, algorithm, params, rng, steps, start, record_every, s1, s2,
                                      traj_arr, progress)
        except KeyboardInterrupt:           # the kernel's sums live inside it: nothing to keep
            raise SimulationInterrupted(None, 0, steps, f"the compiled kernel keeps no steps of an interrupted run "
                                                        f"(of {steps:,} steps)") from None
        traj = [np.array([v]) for v in traj_arr]
    else:
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                params, state = _loop(objective, algorithm, params, state, rng, steps, start, record_every,
                                      observables or {}, obs, s1, s2, traj, progress)
        except _Stopped as stop:            # Ctrl-C: the steps that ran are a shorter run
            res = _result(algorithm, stop.params, stop.state, s1, s2, stop.done, start, traj, obs,
                          time.perf_counter() - t0, stop.final_lost)
            window = (f"time averages over steps {start + 1:,}..{stop.done:,}" if stop.done > start else
                      f"no time averages (they start after the burn-in, step {start:,})")
            raise SimulationInterrupted(res, stop.done, steps, f"{stop.done:,} of {steps:,} steps ran; {window}"
                                        + ("; the step in progress was abandoned, its final iterate not kept"
                                           if stop.final_lost else "")) from None
    return _result(algorithm, params, state, s1, s2, steps, start, traj, obs, time.perf_counter() - t0)


class _Stopped(KeyboardInterrupt):
    """Ctrl-C inside :func:`_loop`: ``done`` finished steps, their params and state (``final_lost``: the step
    in progress wrote the weights in place and was abandoned)."""

    def __init__(self, done, params, state, final_lost):
        super().__init__()
        self.done, self.params, self.state, self.final_lost = done, params, state, final_lost


def _result(algorithm, params, state, s1, s2, done, start, traj, obs, seconds, final_lost=False) -> SimulationResult:
    """The statistics of ``done`` steps: time averages over the steps after ``start`` (NaN if none ran)."""
    n = done - start
    chains = s1.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        chain_mean = s1 / n if n > 0 else np.full_like(s1, np.nan)
        chain_m2 = s2 / n if n > 0 else np.full_like(s2, np.nan)
        mean = chain_mean.mean(axis=0)
        se = chain_mean.std(axis=0, ddof=1) / np.sqrt(chains) if chains > 1 else np.full_like(mean, np.nan)
        variance = chain_m2.mean(axis=0) - mean ** 2
        infl = chain_m2 - 2 * mean * chain_mean   # influence of each chain on the variance estimate
        variance_se = infl.std(axis=0, ddof=1) / np.sqrt(chains) if chains > 1 else np.full_like(mean, np.nan)
    final_w = np.full(s1.shape, np.nan) if final_lost else algorithm.readout(params, state)
    return SimulationResult(mean, se, variance, variance_se, final_w.mean(axis=0), final_w, chain_mean,
                            chain_m2, np.array(traj), {k: v / done if done else v * np.nan for k, v in obs.items()},
                            seconds, params, state)


def check_seed(seed, name: str = "seed") -> int:
    """A seed is an integer in [0, 2^63) (NumPy's generators take any non-negative integer; the bound keeps it
    an int64 in every file and table)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise InputError(name, f"must be an integer in [0, 2^63) (got {seed!r})")
    if not 0 <= int(seed) < SEED_LIMIT:
        raise InputError(name, f"must be an integer in [0, 2^63) (got {seed!r})")
    return int(seed)


def devices_of(algorithm: Algorithm) -> list:
    """The analog devices an algorithm writes (:attr:`Algorithm.devices`, as the rule declares them)."""
    return list(algorithm.devices)


def update_model(objective, algorithm: Algorithm, devices=None) -> str:
    """The update model the run's costs are those of: "trains" (per-sample pulse trains), "pulse" (pulse level)
    or "expected" (expected update); the costliest when the devices cannot be seen."""
    devs = devices_of(algorithm) if devices is None else list(devices)
    if getattr(objective, "per_sample", False) or any(getattr(d, "trains", None) is not None for d in devs):
        return "trains"
    if any(getattr(d, "dw_min", None) is not None for d in devs):
        return "pulse"
    if devs or algorithm.name == "digital-sgd":
        return "expected"
    return max(costs.BYTES_PER_CHAIN, key=costs.BYTES_PER_CHAIN.get)


def step_costs(model: str, algorithm: str) -> tuple[float, float]:
    """(seconds per step, seconds per chain-step) measured for ``model`` and ``algorithm``
    (:mod:`aimc_theory.costs`); an algorithm not in the table (digital SGD, user-registered ones) takes the
    costliest measured one of the model."""
    per_step, per_chain = costs.SECONDS_PER_STEP[model], costs.SECONDS_PER_CHAIN_STEP[model]
    if algorithm in per_step and algorithm in per_chain:
        return per_step[algorithm], per_chain[algorithm]
    return max(per_step.values()), max(per_chain.values())


def estimated_seconds(model: str, steps: int, chains: int, dim: int = 1, algorithm: str = "") -> float:
    """steps x (per-step overhead + chains x dim x per-chain-step cost), from the measured table."""
    a, b = step_costs(model, algorithm)
    return steps * (a + chains * dim * b)


def gradient_bound(objective, devices, w0=None) -> float | None:
    """A bound of |g| over a run on the scalar quadratic: L |w - w*| + 3 noise, |w - w*| over the weight
    range of the devices (where it is finite; else over w0), 3 noise the draw exceeded with probability
    0.27% per step (the bound sizes the typical write, not the rarest one). None for other objectives."""
    L, w_star, noise = (getattr(objective, k, None) for k in ("L", "w_star", "noise"))
    if L is None or w_star is None or noise is None:
        return None
    spans = []
    for d in devices:
        lo, hi = float(d.response.lo), float(d.response.hi)
        if np.isfinite(lo) and np.isfinite(hi):
            spans.append(max(abs(lo - w_star), abs(hi - w_star)))
    if not spans:
        try:
            spans = [float(np.max(np.abs(np.asarray(w0, float) - w_star)))] if w0 is not None else [0.0]
        except (TypeError, ValueError):
            spans = [0.0]
    return L * max(spans) + 3.0 * noise


def check_pulses(objective, algorithm: Algorithm, devices=None, w0=None, lr=None,
                 cap: int = MAX_PULSES_PER_WRITE) -> None:
    """Refuse a pulse-level run whose gradient writes need more than ``cap`` pulses each: a write of
    |dw| = lr |g| is ceil(|dw| / dw_min) pulses (P1 eq. 29); with |g| bounded by :func:`gradient_bound`,
    lr |g| / dw_min > cap means a loop of millions of pulses per element per step (or, past 2^63, an integer
    overflow that makes the write a silent no-op). ``devices``: the arrays written with lr g (default: the
    algorithm's gradient or residual array); devices with ``max_bl`` (a cap of their own) or pulse trains (at
    most desired_bl slots) are not concerned."""
    found_lr, written = _gradient_write(algorithm)
    lr = found_lr if lr is None else lr
    devs = written if devices is None else list(devices)
    pulsed = [d for d in devs if getattr(d, "dw_min", None) is not None and getattr(d, "trains", None) is None
              and getattr(d, "max_bl", None) is None]
    if not pulsed or lr is None:
        return
    g = gradient_bound(objective, pulsed, w0)
    if g is None:
        return
    dw_min = min(float(d.dw_min) for d in pulsed)
    pulses = float(lr) * g / dw_min
    if pulses > cap:
        raise InputError("dw_min", f"a write of lr |g| = {lr:g} x {g:.3g} needs about {pulses:.3g} pulses of "
                                   f"dw_min = {dw_min:g} (|g| <= L max|w - w*| + 3 noise over the weight range); "
                                   f"the limit is {cap:.0e} pulses per write: use dw_min >= {lr * g / cap:.3g}, a "
                                   "smaller lr, or cap the pulses with max_bl")


def _gradient_write(algorithm: Algorithm):
    """(lr, [device]) of the array an algorithm writes with lr g (:attr:`Algorithm.lr` and the first of
    :attr:`Algorithm.devices`: Analog SGD's array, the residual array P of the two-array rules); (None, [])
    when the rule does not declare them."""
    if algorithm.lr is None or not algorithm.devices:
        return None, []
    return float(algorithm.lr), [algorithm.devices[0]]


def check_work(objective, algorithm: Algorithm, steps: int, chains: int, w0=None, devices=None) -> str:
    """Size a run before it starts: memory (chains x the measured bytes per chain of its update model against
    the process's real limits), time (steps x chains against the measured per-step costs, refused above
    :data:`aimc_theory.runtime.MAX_SECONDS`) and the pulses per write. Returns the update model."""
    model = update_model(objective, algorithm, devices)
    dim = getattr(objective, "dim", 1)
    check_memory("chains", chains, dim * costs.BYTES_PER_CHAIN[model])
    seconds = estimated_seconds(model, steps, chains, dim, algorithm.name)
    label = {"expected": "expected update", "pulse": "pulse level", "trains": "per-sample pulse trains"}[model]
    check_time("steps", seconds, f"{steps:,} steps of {chains:,} chains ({algorithm.name}, {label}: "
                                 f"{step_costs(model, algorithm.name)[1] * 1e9:.3g} ns per chain-step)")
    check_pulses(objective, algorithm, devices, w0)
    return model


def _check_trajectory_memory(steps: int, record_every: int, dim: int) -> None:
    """The trajectory keeps one mean per ``record_every`` steps: refuse a run whose records alone would not
    fit in memory (``steps`` = 1e13 would otherwise grow a list until the machine runs out)."""
    from .runtime import available_memory
    each = dim * 8 + 112                      # the mean's data and its array object
    records = steps // record_every + 1
    avail = available_memory()
    if avail is not None and records * each > 0.5 * avail:
        fits = int(0.5 * avail // each) * record_every
        raise InputError("steps", f"{steps:,} steps record {records:,} trajectory means (about "
                                  f"{records * each / 2**30:.1f} GiB; {avail / 2**30:.1f} GiB available): at most "
                                  f"{fits:,} steps with record_every = {record_every}, or record less often")


BLOCK = 1 << 14     # chains per block (128 KiB per float64 array): a step's temporaries stay in the L2 cache


def _loop(objective, algorithm, params, state, rng, steps, start, record_every, observables, obs,
          s1, s2, traj, progress=None):
    """The steps; on Ctrl-C :class:`_Stopped` with the finished ones (the accumulators s1, s2, traj and obs
    are written only between step boundaries, under ``guard.hold``: at any stop they hold whole steps)."""
    tmp = np.empty_like(s2)
    n = params.shape[0]
    # Stateless updates of an elementwise objective run block by block over the chains within each step:
    # the same draws in the same order (the generator fills consecutive blocks as it would fill the whole
    # array) and the same elementwise operations, so the same bits, with memory traffic cut at 1e6 chains.
    # (not with per-element devices: their parameter arrays are laid out over all chains)
    per_element = any(getattr(c, "varies", False) or np.ndim(getattr(c, "offset", 0.0)) for c in
                      algorithm.config)
    blocks = [slice(i, min(i + BLOCK, n)) for i in range(0, n, BLOCK)] \
        if n > 2 * BLOCK and state is None and not observables and getattr(objective, "elementwise", False) \
        and not per_element else None
    clock = ProgressClock(progress, steps)
    t0 = clock.t0
    Wr = None
    done = 0
    guard = StepBoundary()
    try:
        with guard:
            for k in range(steps):
                if guard.pending:
                    guard.check()
                if progress is not None and k >= clock.check:
                    clock.tick(k)
                if blocks is not None:
                    guard.hold = False              # may be abandoned: the blocks write params in place
                    for b in blocks:
                        Wb = params[b]
                        params[b] = algorithm.update(objective.grad(Wb, rng), None, Wb, rng)[0]
                    guard.hold = True
                    if k + 1 > start:
                        s1 += params
                        s2 += np.square(params, out=tmp)
                    if (k + 1) % 64 == 0 or k + 1 == steps:
                        if not np.all(np.isfinite(params)):
                            raise InputError("lr", f"the iterates diverged (non-finite weights by step {k + 1}); "
                                                   "use a smaller step size")
                    if (k + 1) % record_every == 0:
                        traj.append(np.add.reduce(params, axis=0) / n)
                    done = k + 1
                    continue
                if Wr is None:
                    Wr = algorithm.readout(params, state)
                values = [(obs[name], fn(Wr, state)) for name, fn in observables.items()]
                guard.hold = False                  # may be abandoned: the update is pure (new params, state)
                grads = objective.grad(Wr, rng)
                new = algorithm.update(grads, state, params, rng)
                guard.hold = True
                params, state = new
                if (k + 1) % 64 == 0 or k + 1 == steps:   # inf/nan persist, so checking now and then suffices
                    if not np.all(np.isfinite(params)):
                        raise InputError("lr", f"the iterates diverged (non-finite weights by step {k + 1}); "
                                               "use a smaller step size")
                # the read-out after this step is the one the next step starts from: computed once
                Wr = algorithm.readout(params, state)
                for acc, v in values:
                    acc += v
                if k + 1 > start:
                    s1 += Wr
                    s2 += np.square(Wr, out=tmp)
                if (k + 1) % record_every == 0:
                    traj.append(np.add.reduce(Wr, axis=0) / n)     # .mean(), less overhead
                done = k + 1
            if progress is not None:
                progress(steps, steps, time.perf_counter() - t0)
    except KeyboardInterrupt:
        raise _Stopped(done, params, state, guard.abandoned and blocks is not None) from None
    return params, state
