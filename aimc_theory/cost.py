"""What handling the symmetric point (SP) costs on a given device, in pulses (arXiv 2602.21321 Cor. 3.9).

Three ways to train with a residual array P whose SP is unknown, on the scalar quadratic
f = L/2 (w - w*)^2 with gradient noise (arXiv 2502.06309 section 3):

* ``calibrate-then-rl``, the two-stage method (arXiv 2602.21321 Alg. 4): cyclic zero-shifting pulses
  (up, down, up, ...; P2 Alg. 1 and eq. 31) drive P from its start ``q0`` until |w - SP| stays within
  ``ref_tolerance``; the weight reached is the reference; then Residual Learning v1 (P1 eq. 10-11)
  with P read against it (:func:`aimc_theory.calibration.referenced_residual`: its SP sits at
  SP - reference, the calibration error);
* ``rider`` (P2 Alg. 2) and ``e-rider`` (P2 Alg. 3): no calibration stage, the SP estimate Q starts at
  ``q0`` and is tracked while training.

The cost is P2 Fig. 4's accounting: total pulses = calibration pulses + training steps x 2 arrays x BL
(every step writes P and the main array W, each write at most BL pulse slots). Cor. 3.9 states the orders:
for a target accuracy delta >= Theta(dw_min) RIDER needs O(delta^-2) pulses and the two-stage method
O(delta^-2 + delta^-1 dw_min^-1), the second term the calibration's. The calibration stage runs at pulse
level (its count grows as 1/dw_min: about ln(|x0|/tol) / (dw_min G'(SP)) pulses for x0 = q0 - SP); the
training stages run in the expected-update model (P1 eq. 2), whose step count in this accounting does
not depend on dw_min. A training stage has reached the target at the first recorded step after which the
chain mean of the read-out weight W_bar stays within ``target`` of w*.

This module is on the numeric path: the SP is found by bisection on the device's own q+/q-, never from
the symbolic module (``aimc-theory cost`` puts the symbolic calibration theory's count next to it).
"""
from __future__ import annotations

import dataclasses
import math
import time
from statistics import NormalDist
from dataclasses import dataclass, field, fields

import numpy as np

from . import algorithms, calibration, costs, objectives, registry, response as responses, simulation
from .device import Device, pulse_count, pulse_update
from .update_models import Rank1Batch
from .errors import InputError, require_finite, require_int, require_positive
from .runtime import check_memory, check_time

METHODS = ("calibrate-then-rl", "rider", "e-rider")
ALGORITHM = {"calibrate-then-rl": "residual-learning", "rider": "rider", "e-rider": "e-rider"}
BL = 5                      # pulse slots per array write (P2 Fig. 4's accounting)
RECORDS = 1000              # trajectory points per training run: steps-to-target is resolved to steps/1000
MAX_CALIBRATION_PULSES = 10 ** 9
NO_THEORY = "simulated; no theory (P2 Cor. 3.9 gives orders only)"
ACCOUNTING = ("total pulses = calibration pulses + training steps x 2 arrays x BL (P2 Fig. 4): every step writes "
              "the residual array P and the main array W, each write at most BL pulse slots; the calibration stage "
              "is pulse-level cyclic zero-shifting (P2 Alg. 1, eq. 31) from q0 until |w - SP| stays <= "
              "ref_tolerance, the training stages run in the expected-update model (their steps do not depend on "
              "dw_min); a stage has reached the target at the first recorded step after which |mean W_bar - w*| "
              "stays <= target")


@dataclass(frozen=True)
class MethodCost:
    """The cost of one method to |mean W_bar - w*| <= target.

    Attributes
    ----------
    method : str
        ``calibrate-then-rl``, ``rider`` or ``e-rider``.
    stage_pulses : int or None
        Calibration pulses before training (0 for RIDER and E-RIDER; None when the calibration did not
        settle within its budget).
    steps : float or None
        Training steps to the target (resolution: steps/1000 of the budget); None when not reached.
    steps_band : (float or None, float or None)
        The same count for the target widened and narrowed by k standard errors of the chain mean,
        target +- k SE (k: the two-sided 95% band over all records, Bonferroni; SE = the stationary spread of
        W_bar across chains / sqrt(chains)): how far the noise of the chain mean can move ``steps``. None
        where that target is not reached (or not positive). More chains narrow it.
    total_pulses : float or None
        stage_pulses + steps x 2 x bl; None when not reached.
    reached : bool
        Whether the target was reached within the step budget (and the calibration settled).
    final_error : float or None
        |mean W_bar - w*| at the end of the training run (None if it did not run).
    seconds : float
        Wall time of the method's simulations (calibration included).
    """

    method: str
    stage_pulses: int | None
    steps: float | None
    total_pulses: float | None
    reached: bool
    final_error: float | None
    seconds: float
    steps_band: tuple = (None, None)

    def as_dict(self) -> dict:
        return {"stage_pulses": self.stage_pulses, "steps": self.steps, "steps_band": list(self.steps_band),
                "total_pulses": self.total_pulses, "reached": self.reached, "final_error": self.final_error,
                "seconds": self.seconds}


@dataclass(frozen=True)
class CalibrationStage:
    """The two-stage method's calibration: cyclic zero-shifting of P from ``start`` (= q0).

    Attributes
    ----------
    start : float
        Where P starts.
    symmetric_point : float
        P's SP (numeric: bisection on q+ = q-).
    pulses : int or None
        Fewest pulses after which |w - SP| stays <= tolerance (simulated; None if not within the budget).
    budget : int
        Pulses simulated to find it.
    reference : float or None
        The weight after ``pulses`` pulses: the reference RL reads P against.
    reference_error : float or None
        reference - SP.
    estimate : float
        The budget's estimate ln(max(|x0|, tol)/tol) / (dw_min G'(SP)) (the linearized count).
    seconds : float
    """

    start: float
    symmetric_point: float
    tolerance: float
    pulses: int | None
    budget: int
    reference: float | None
    reference_error: float | None
    estimate: float
    seconds: float

    def as_dict(self) -> dict:
        return {"start": self.start, "symmetric_point": self.symmetric_point, "tolerance": self.tolerance,
                "pulses": self.pulses, "budget": self.budget, "reference": self.reference,
                "reference_error": self.reference_error, "estimate": self.estimate, "seconds": self.seconds}


@dataclass(frozen=True)
class CostResult:
    """Pulses and steps each method needs on one device (:func:`pulse_cost`).

    Attributes
    ----------
    methods : dict
        Method name -> :class:`MethodCost`, in the order run (only the finished ones if interrupted).
    calibration : CalibrationStage or None
        The two-stage method's calibration (None when that method was not run).
    symmetric_point : float
        P's SP (numeric).
    dw_min, target, bl, steps, chains : the run's settings (``steps``: the training step budget).
    accounting : str
        How the totals are counted.
    seconds : float
    settings : dict
        The problem and the algorithms' options as they ran.
    """

    methods: dict
    calibration: CalibrationStage | None
    symmetric_point: float
    dw_min: float
    target: float
    bl: int
    steps: int
    chains: int
    accounting: str = ACCOUNTING
    seconds: float = 0.0
    settings: dict = field(default_factory=dict)

    def cheapest(self) -> str | None:
        """The method with the fewest total pulses among those that reached the target (None if none did)."""
        done = {k: m.total_pulses for k, m in self.methods.items() if m.reached}
        return min(done, key=done.get) if done else None

    def crossover_dw_min(self) -> float | None:
        """Estimated dw_min below which E-RIDER costs fewer pulses than the two-stage method, taking the
        calibration count as proportional to 1/dw_min (P2 Cor. 3.9's delta^-1 dw_min^-1 term) and the
        training steps as independent of it: dw_min N_cal / (E-RIDER total - RL training pulses). None when
        either did not reach the target; inf when E-RIDER's total is not above RL's training part (E-RIDER is then
        cheaper at every dw_min)."""
        two, e = self.methods.get("calibrate-then-rl"), self.methods.get("e-rider")
        if two is None or e is None or not (two.reached and e.reached):
            return None
        rl_part = two.total_pulses - two.stage_pulses
        if e.total_pulses <= rl_part:
            return math.inf
        return self.dw_min * two.stage_pulses / (e.total_pulses - rl_part)


class CostInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`pulse_cost`: ``partial`` is the :class:`CostResult` of the methods that finished."""

    def __init__(self, partial: CostResult):
        done = ", ".join(f"{k}: {_total(m)}" for k, m in partial.methods.items()) or "none"
        super().__init__(f"finished methods (total pulses): {done}")
        self.partial = partial


def _total(m: MethodCost) -> str:
    return f"{m.total_pulses:.4g}" if m.reached else "not reached"


def pulse_cost(resp: responses.Response, dw_min: float, target: float = 0.01, *, L: float = 1.0,
               w_star: float = 0.5, noise: float = 0.3, lr: float = 0.01, beta: float | None = None,
               gamma: float | None = None, eta: float | None = None, chop_prob: float | None = None,
               q0: float | None = None, w0: float = 0.0, main: responses.Response | None = None,
               ref_tolerance: float | None = None, chains: int = 1000, steps: int = 30000, seed: int = 0,
               bl: int = BL, methods=METHODS, progress=None) -> CostResult:
    """Pulses and training steps calibrate-then-RL, RIDER and E-RIDER need to reach |mean W_bar - w*| <= target
    on a device (arXiv 2602.21321 Cor. 3.9; P2 Fig. 4's accounting).

    The device is the residual array P. The two-stage method first drives P by cyclic zero-shifting from
    ``q0`` until |w - SP| stays <= ``ref_tolerance`` (pulse level, pulses of ``dw_min``), then runs RL v1
    with P read against the weight reached (its SP error kept: :func:`calibration.referenced_residual`).
    RIDER and E-RIDER start with the SP estimate Q = q0. Training runs ``chains`` chains for ``steps``
    steps in the expected-update model from the main weight ``w0``; total pulses = calibration pulses +
    steps x 2 x ``bl``.

    Parameters
    ----------
    resp : Response
        P's response (it needs one SP inside its range).
    dw_min : float > 0
        Pulse size of the calibration stage.
    target : float > 0
        The accuracy delta: |mean W_bar - w*| that counts as reached.
    L, w_star, noise : float
        The scalar quadratic f = L/2 (w - w*)^2 with gradient noise of std ``noise``.
    lr : float > 0
        Learning rate of P.
    beta, gamma, eta, chop_prob, q0 : float, optional
        The algorithms' options (None: the registry's defaults, ``aimc-theory simulate --help``); ``q0`` is
        also where P starts before calibration.
    w0 : float
        Initial main weight W_0.
    main : Response, optional
        The main array W's response (default ideal).
    ref_tolerance : float > 0, optional
        |w - SP| the calibration aims for (default 2 x target, as the catalogue's claim 24).
    chains, steps : int >= 1
        Chains per training run and the step budget.
    seed : int
        Seeds the gradient noise (the same for every method: paired runs) and E-RIDER's chopper.
    bl : int >= 1
        Pulse slots per array write (default 5, P2 Fig. 4).
    methods : sequence of str
        Which of ``calibrate-then-rl``, ``rider``, ``e-rider`` to run (default all).
    progress : callable(step, steps, seconds), optional
        Training steps done over all methods.

    Returns
    -------
    CostResult

    Raises
    ------
    InputError
        Naming the parameter; also for work estimated above the time limit (before anything runs).
    CostInterrupted
        On Ctrl-C, with the finished methods in ``partial``.
    """
    dw_min = require_positive("dw_min", dw_min)
    target = require_positive("target", target)
    for name, value in (("L", L), ("lr", lr)):
        require_positive(name, value)
    w_star, w0 = require_finite("w_star", w_star), require_finite("w0", w0)
    if require_finite("noise", noise) < 0:
        raise InputError("noise", f"must be >= 0 (got {noise!r})")
    chains, steps, bl = require_int("chains", chains), require_int("steps", steps), require_int("bl", bl)
    seed = simulation.check_seed(seed)
    methods = tuple(methods)
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise InputError("methods", f"must be a non-empty subset of {', '.join(METHODS)} (got {methods!r})")
    opts = {"beta": beta, "gamma": gamma, "eta": eta, "chop_prob": chop_prob, "q0": q0}
    opts = {k: registry.OPTIONS[k].default if v is None else v for k, v in opts.items()}
    q0 = require_finite("q0", opts["q0"])
    given_tol = ref_tolerance is not None
    ref_tolerance = require_positive("ref_tolerance", ref_tolerance) if given_tol else 2 * target
    main = responses.ideal() if main is None else main
    sp, slope, step_at_sp = _sp(resp)
    if not resp.lo < q0 < resp.hi:
        raise InputError("q0", f"must lie inside the device's range ({resp.lo:g}, {resp.hi:g}): P starts there "
                               f"(got {q0:g})")
    x0 = q0 - sp
    calibrating = "calibrate-then-rl" in methods
    budget, estimate = 0, 0.0
    if calibrating:
        if ref_tolerance <= dw_min * step_at_sp:
            got = f"{ref_tolerance:g}" + ("" if given_tol else " = 2 x target")
            raise InputError("ref_tolerance", f"must be > one pulse at the SP, dw_min q(SP) = "
                                              f"{dw_min * step_at_sp:.3g}: cyclic zero-shifting ends in a 2-cycle one "
                                              "pulse wide around the SP (P2 eq. 31) and a narrower band may never "
                                              f"hold it; P2 Cor. 3.9 assumes delta >= Theta(dw_min) (got {got})")
        estimate = math.log(max(abs(x0), ref_tolerance) / ref_tolerance) / (dw_min * slope)
        budget = int(min(2 * estimate + 100, MAX_CALIBRATION_PULSES))   # grown 4-fold if it falls short
        width = resp.hi - resp.lo
        if math.isfinite(width) and dw_min >= 0.1 * width:
            raise InputError("dw_min", f"must be < 0.1 x the weight range {width:g} (got {dw_min:g}): one pulse "
                                       "would cross a large part of the range")
    _check_work(methods, budget, chains, steps)

    obj = objectives.ScalarQuadratic(L, w_star, noise)
    t0 = time.perf_counter()
    done: dict = {}
    cal = None
    settings = {"L": L, "w_star": w_star, "noise": noise, "lr": lr, "w0": w0, **opts,
                "ref_tolerance": ref_tolerance, "seed": seed}

    def result():
        return CostResult(dict(done), cal, sp, dw_min, target, bl, steps, chains, seconds=time.perf_counter() - t0,
                          settings=settings)

    try:
        for i, method in enumerate(methods):
            tm = time.perf_counter()
            stage, p_dev = 0, Device(resp)
            if method == "calibrate-then-rl":
                cal = _calibrate(resp, dw_min, q0, sp, ref_tolerance, budget, estimate)
                if cal.pulses is None:
                    done[method] = MethodCost(method, None, None, None, False, None, time.perf_counter() - tm)
                    continue
                stage, p_dev = cal.pulses, calibration.referenced_residual(Device(resp), cal.reference)
            spec = registry.spec(ALGORITHM[method])
            alg = registry.build(spec.name, lr, p_dev, Device(main), seed=seed,
                                 **{k: v for k, v in opts.items() if k in spec.options})
            tick = None if progress is None else (      # one count over all methods, seconds since the start
                lambda k, n, s, i=i: progress(i * steps + k, len(methods) * steps, time.perf_counter() - t0))
            every = max(1, steps // RECORDS)
            res = simulation.simulate(obj, alg, steps, chains, seed, w0=w0, record_every=every, progress=tick)
            traj = res.trajectory[:, 0]
            n = steps_to_target(traj, w_star, target, every)
            se = math.sqrt(max(float(res.variance[0]), 0.0) / chains)
            k = NormalDist().inv_cdf(1 - 0.025 / traj.size)
            band = tuple(steps_to_target(traj, w_star, t, every) if t > 0 else None
                         for t in (target + k * se, target - k * se))
            reached = n is not None
            done[method] = MethodCost(method, stage, n, stage + 2 * bl * n if reached else None, reached,
                                      float(abs(res.final[0] - w_star)), time.perf_counter() - tm, band)
    except KeyboardInterrupt:
        raise CostInterrupted(result()) from None
    return result()


def steps_to_target(trajectory, w_star: float, target: float, every: int) -> float | None:
    """The first recorded step after which |trajectory - w*| stays <= target (None if the last record is
    outside).

    Parameters
    ----------
    trajectory : array
        Recorded chain means at steps 0, every, 2 every, ...
    w_star, target : float
    every : int
        Steps between two records.

    Returns
    -------
    float or None
    """
    err = np.abs(np.asarray(trajectory, float) - w_star)
    bad = np.nonzero(~(err <= target))[0]
    if bad.size and bad[-1] == err.size - 1:
        return None
    return float((bad[-1] + 1) * every) if bad.size else 0.0


def _sp(resp: responses.Response) -> tuple[float, float, float]:
    """(SP, G'(SP), q(SP)) of P's response: the SP by bisection on q- - q+ (as :func:`calibration.zero_shift`
    finds it), G' by a central difference (the cyclic map contracts by about 1 - dw_min G'(SP) per pulse)."""
    if resp.every_point_symmetric:
        raise InputError("response", f"{resp.describe()} has q+ = q- everywhere: every point is symmetric, there is "
                                     "no SP to handle")
    sps, has = calibration._element_sps(Device(resp), 1)
    if not bool(has[0]):
        raise InputError("response", f"{resp.describe()} has no symmetric point inside its range ({resp.lo:g}, "
                                     f"{resp.hi:g}) with q- - q+ changing sign from - to +: balanced pulses drift it "
                                     "to a bound, there is nothing to calibrate to or track")
    sp = float(sps[0])
    span = (resp.hi - resp.lo) if resp.bounded else 1.0
    h = 1e-6 * span
    slope = float((resp.G(sp + h) - resp.G(sp - h)) / (2 * h))
    if not slope > 0:
        raise InputError("response", f"G'(SP) of {resp.describe()} is not positive at the SP {sp:g}: the SP does not "
                                     "attract, zero-shifting does not converge to it")
    return sp, slope, float(resp.F(sp))


def _calibrate(resp, dw_min, start, sp, tol, budget, estimate) -> CalibrationStage:
    """Cyclic zero-shifting from ``start``: the fewest pulses N after which |w - SP| stays <= tol (the budget
    grows 4-fold while the last pulse is still outside, up to MAX_CALIBRATION_PULSES), then the weight after
    exactly N pulses (the deterministic map run again)."""
    dev = Device(resp, dw_min=dw_min)
    t0 = time.perf_counter()
    while True:
        res = calibration.zero_shift(dev, start, budget, "cyclic", tolerance=tol)
        last = int(res.settled[0])            # the last pulse after which |x| > tol; budget + 1 if still outside
        if last <= budget:
            break
        if budget >= MAX_CALIBRATION_PULSES:
            return CalibrationStage(start, sp, tol, None, budget, None, None, estimate, time.perf_counter() - t0)
        budget = min(4 * budget, MAX_CALIBRATION_PULSES)
        check_time("ref_tolerance", budget * (costs.CALIBRATION["seconds_per_pulse"]
                                              + costs.CALIBRATION["seconds_per_device_pulse"]),
                   f"cyclic zero-shifting to {tol:g} took more than {budget // 4:,} pulses; {budget:,} pulses")
    # x_0 itself is not checked by zero_shift: N = 0 only when the start is within tol and stays there
    n = last + 1 if (last > 0 or abs(start - sp) > tol) else 0
    ref = start if n == 0 else float(calibration.zero_shift(dev, start, n, "cyclic").w[0])
    return CalibrationStage(start, sp, tol, n, budget, ref, ref - sp, estimate, time.perf_counter() - t0)


def estimated_seconds(methods, calibration_pulses: int, chains: int, steps: int) -> float:
    """The run's time from the measured costs (:mod:`aimc_theory.costs`): the calibration budget twice (found,
    then rerun to the count) on one device, and each training run in the expected-update model.

    Parameters
    ----------
    methods : sequence of str
    calibration_pulses : int
    chains, steps : int

    Returns
    -------
    float
    """
    cal = costs.CALIBRATION
    t = 2 * calibration_pulses * (cal["seconds_per_pulse"] + cal["seconds_per_device_pulse"])
    return t + sum(simulation.estimated_seconds("expected", steps, chains, 1, ALGORITHM[m]) for m in methods)


def _check_work(methods, calibration_pulses: int, chains: int, steps: int) -> None:
    """Refuse oversized work before anything runs (memory of the chains; the estimated time)."""
    check_memory("chains", chains, costs.BYTES_PER_CHAIN["expected"])
    seconds = estimated_seconds(methods, calibration_pulses, chains, steps)
    check_time("steps", seconds, f"{len(methods)} training run(s) of {steps:,} steps x {chains:,} chains"
               + (f" and about {calibration_pulses:,} calibration pulses" if calibration_pulses else ""))


# -- counting the pulses a run fires ------------------------------------------------------------------------------

class PulseTally:
    """What one array's writes were during a run: ``pulses`` fired (counted as they are fired), writes in the
    expected-update model (``expected_writes``: no pulses) and per-sample pulse-train writes (``train_writes``:
    their coincidences are drawn inside the train writer, not counted here)."""

    __slots__ = ("pulses", "expected_writes", "train_writes")

    def __init__(self):
        self.pulses, self.expected_writes, self.train_writes = 0, 0, 0


@dataclass(frozen=True)
class CountingDevice(Device):
    """A :class:`~aimc_theory.device.Device` that counts the pulses it fires into ``tally``, with the same updates
    and the same random draws as the device it copies: a pulse-level write of dw fires BL = ceil(|dw|/dw_min)
    pulses per element (P1 eq. 29; capped at ``max_bl``; stochastic rounding draws first, as the update itself
    does), and that BL is handed to the update instead of being computed again. Single pulses (:meth:`pulse`,
    RL v2's threshold pulses) and integer pulses (:meth:`pulse_counts`, the transfer compounds') count one each.
    Expected-update writes and per-sample pulse trains are tallied as such, without pulses."""

    tally: PulseTally = field(default_factory=PulseTally, compare=False, repr=False)

    def update(self, w, dw, rng=None):
        if self.dw_min is None:
            self.tally.expected_writes += 1
            return super().update(w, dw, rng)
        shape = np.shape(w) if self._no_offset else np.broadcast_shapes(np.shape(w), np.shape(self.offset))
        if np.shape(dw) != shape:                   # as the update broadcasts it (pulse counts per element)
            dw = np.broadcast_to(dw, shape)
        bl = pulse_count(self, dw, rng)             # the update's own first step (and its only draw before pulsing)
        self.tally.pulses += int(bl.sum())
        return self._shifted(lambda u: pulse_update(self, u, dw, rng, bl), w)

    def write_gradient(self, w, grads, lr, rng):
        if isinstance(grads, Rank1Batch) and self.trains is not None:
            self.tally.train_writes += 1
        return super().write_gradient(w, grads, lr, rng)

    def write_matrix(self, w, dw, shape, lr, rng, columns=None, in_place=False):
        if self.trains is not None:
            self.tally.train_writes += 1
        return super().write_matrix(w, dw, shape, lr, rng, columns, in_place)

    def pulse(self, w, signs, rng, dw_min=None):
        self.tally.pulses += int(np.count_nonzero(np.broadcast_to(signs, np.shape(w))))
        return super().pulse(w, signs, rng, dw_min)

    def pulse_counts(self, w, index, counts, rng):
        self.tally.pulses += int(np.abs(np.asarray(counts)).sum())
        return super().pulse_counts(w, index, counts, rng)


def counting(device: Device | None) -> CountingDevice | None:
    """``device`` as a :class:`CountingDevice` with a fresh tally (None stays None).

    Parameters
    ----------
    device : Device or None

    Returns
    -------
    CountingDevice or None
    """
    if device is None:
        return None
    return CountingDevice(**{f.name: getattr(device, f.name) for f in fields(Device)})


def committing(algorithm, devices) -> algorithms.Algorithm:
    """``algorithm`` whose update takes back the pulses ``devices`` (:class:`CountingDevice`; others and None are
    skipped) counted during it when it does not return: an update Ctrl-C abandons
    (:class:`aimc_theory.simulation.StepBoundary`) is not counted, so the tally is that of the steps the run kept
    (with chains in blocks, the blocks of the abandoned step that finished are counted: their weights were written).

    Parameters
    ----------
    algorithm : Algorithm
    devices : sequence of Device or None

    Returns
    -------
    Algorithm
    """
    tallies = [d.tally for d in devices if isinstance(d, CountingDevice)]
    update = algorithm.update

    def counted(grads, state, params, rng):
        marks = [t.pulses for t in tallies]
        try:
            return update(grads, state, params, rng)
        except BaseException:           # Ctrl-C inside the step, or an error: its writes are not kept
            for t, m in zip(tallies, marks):
                t.pulses = m
            raise

    return dataclasses.replace(algorithm, update=counted)


NO_PULSES_EXPECTED = "expected-update model (P1 eq. 2): no pulses"
NOT_COUNTED_TRAINS = "per-sample pulse trains: their coincidences are not counted"


def pulses_per_device(device: Device | None, devices: int) -> tuple[float | None, str]:
    """(pulses fired per device, how that number came about) of one array after a run with a
    :class:`CountingDevice`: the tally's pulses over ``devices`` (the array's elements: chains x coordinates), or
    None with the reason (an expected-update array fires none; per-sample pulse trains are not counted).

    Parameters
    ----------
    device : CountingDevice or None
    devices : int

    Returns
    -------
    (float or None, str)
    """
    tally = getattr(device, "tally", None)
    if tally is None:
        return None, "not counted"
    if tally.train_writes:
        return None, NOT_COUNTED_TRAINS
    if device.pulsed or tally.pulses:
        return tally.pulses / devices, "counted" + (" (and expected-update writes, which fire none)"
                                                    if tally.expected_writes else "")
    return None, NO_PULSES_EXPECTED


__all__ = ["METHODS", "BL", "NO_THEORY", "ACCOUNTING", "MethodCost", "CalibrationStage", "CostResult",
           "CostInterrupted", "pulse_cost", "steps_to_target", "estimated_seconds", "PulseTally", "CountingDevice",
           "counting", "committing", "pulses_per_device"]
