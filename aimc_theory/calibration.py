"""Symmetric-point calibration by zero-shifting pulses (P2 Algorithm 1, eq. 7; cyclic: eq. 31).

A device is driven toward its symmetric point (SP, where q+ = q-) by pulses alone:

* ``stochastic``: each pulse is up or down with probability 1/2 (P2 Algorithm 1),
  ``w <- w + eps F(w) - |eps| G(w)`` with eps uniform on {-dw_min, +dw_min};
* ``cyclic``: alternating up and down pulses (up first), the original scheme of Kim et al.

One pulse moves ``w <- w + dw_min (s_+ q+(w) + sigma_c xi)`` up or ``w <- w - dw_min (s_- q-(w)
+ sigma_c xi)`` down (P1 App. C; ``c2c_model="additive"``, the toolkit's pulse model), or, with
``c2c_model="multiplicative"`` (the reference simulator's default noise), ``w <- w +- dw_min s q(w) (1 + sigma_c
xi)``, clipped to the device range. ``s_+ = g + r`` and ``s_- = g - r``
carry the device-to-device variation of P2 eq. 103-104 (see :class:`Variation`); without variation
s_+ = s_- = 1. Everything is vectorized over devices; the only loop is over pulses.

This module is on the numeric path: the SP of each device is found here by bisection on its own
q+/q- (the measurement's ground truth), never from the symbolic module.
"""
from __future__ import annotations

import math

import time
from dataclasses import dataclass, field

import numpy as np

from .device import Device, Elements
from . import costs
from .runtime import check_memory, check_time
from .errors import InputError, require_int, require_positive
from .simulation import Interrupted, ProgressClock, StepBoundary
from .variation import Variation  # noqa: F401  (its home before; kept importable here)

SCHEMES = ("stochastic", "cyclic")
C2C_MODELS = ("additive", "multiplicative")     # cycle-to-cycle noise: dw sigma_c xi, or the step x sigma_c xi


@dataclass(frozen=True)
class CalibrationResult:
    """Outcome of :func:`zero_shift` for ``devices`` devices after ``pulses`` pulses.

    ``w``: final weights; ``target``: the SP of each device (numeric, from its own q+/q-);
    ``window_sq``: per-device time average of (w - target)^2 over the pulses after
    ``average_from``; ``mean_g_sq``: per-device average of G_i(w)^2 over all pulses (P2 Thm 2.2's
    metric, G_i = (q-_i - q+_i)/2); ``settled``: per-device number of pulses after which
    |w - target| stayed <= ``tolerance`` (pulses + 1 if it never settled); ``trajectory``:
    (records, devices_recorded) weights every ``record_every`` pulses.
    """

    w: np.ndarray
    target: np.ndarray
    window_sq: np.ndarray
    mean_g_sq: np.ndarray
    settled: np.ndarray | None
    trajectory: np.ndarray = field(repr=False)
    pulses: int = 0
    seconds: float = 0.0

    @property
    def error(self) -> np.ndarray:
        return self.w - self.target

    @property
    def has_sp(self) -> np.ndarray:
        """Devices with an SP in their range (the others, kept with ``without_sp="skip"``, have NaN targets)."""
        return ~np.isnan(self.target)


def device_symmetric_points(device: Device, n: int | None = None, iters: int = 80) -> np.ndarray:
    """The SP of every element of ``device`` (s_+ q+(k_+ w) = s_- q-(k_- w) inside its own range, by
    vectorized bisection; shape of its per-element arrays, or (n,) for identical elements). The offsets are
    not added (the response's own coordinates). Raises InputError if an element has no SP."""
    sps, has_sp = _element_sps(device, n, iters)
    if not np.all(has_sp):
        raise InputError("imbalance_dtod", f"{int(np.size(has_sp) - np.count_nonzero(has_sp))} device(s) have no "
                                           "symmetric point inside their range (s_- q- - s_+ q+ does not change sign "
                                           "from - to +: it drifts to a bound, there is nothing to calibrate to); "
                                           "lower the variation, or see `aimc-theory presets NAME --devices N` for "
                                           "the SP distribution with such devices counted")
    return sps


def _element_sps(device: Device, n: int | None, iters: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """(SP, has_sp) of every element: NaN and False where s_- q- - s_+ q+ does not change sign from - to +
    inside the element's range (it drifts to a bound under balanced pulses)."""
    resp = device.response
    shape = np.broadcast_shapes(*(np.shape(a) for a in (device.up_scale, device.down_scale, device.up_stretch,
                                                       device.down_stretch, *(device.bounds or ()))), (n or 1,))
    el = device.elements(shape)
    if resp.every_point_symmetric and (el is None or not device.reshaped and np.all(el.up == el.down)):
        raise InputError("response", "an ideal device has no unique symmetric point to calibrate to")
    lo_w = np.full(shape, resp.lo if np.isfinite(resp.lo) else -1e6) if el is None or el.lo is None else el.lo
    hi_w = np.full(shape, resp.hi if np.isfinite(resp.hi) else 1e6) if el is None or el.lo is None else el.hi
    span = hi_w - lo_w
    lo, hi = lo_w + 1e-12 * span, hi_w - 1e-12 * span

    def h(w):   # s_- q- - s_+ q+: negative below the SP, positive above (G increasing)
        if el is None:
            return resp.q_minus(w) - resp.q_plus(w)
        return el.q(resp, w, False) - el.q(resp, w, True)

    has_sp = (h(lo) < 0) & (h(hi) > 0)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        up = h(mid) > 0
        hi = np.where(up, mid, hi)
        lo = np.where(up, lo, mid)
    return np.where(has_sp, 0.5 * (lo + hi), np.nan), has_sp


def zero_shift(device: Device, w0, pulses: int, scheme: str = "stochastic", *, devices: int = 1,
               seed: int | None = 0, variation: Variation | None = None, tolerance: float | None = None,
               average_from: int | None = None, record_every: int | None = None,
               record_devices: int = 8, progress=None, without_sp: str = "error",
               c2c_model: str | None = None, backend: str = "numpy") -> CalibrationResult:
    """Apply ``pulses`` zero-shifting pulses to ``devices`` devices starting at ``w0`` (arXiv 2602.21321
    Algorithm 1; ``cyclic``: up, down, up, ...).

    Parameters
    ----------
    device : Device
        Pulse level: ``dw_min`` is the pulse size, ``sigma_c`` the cycle-to-cycle noise.
    w0 : float or array
        Starting weights.
    pulses : int
        Pulses per device (<= 1e9).
    scheme : {"stochastic", "cyclic"}
    devices : int
        Independent devices (chains).
    seed : int
    variation : Variation or PresetVariation, optional
        Device-to-device variation (each device its own SP): its ``population(devices, rng)`` is drawn first
        from the seeded generator, so the same seed gives the same devices.
    tolerance : float, optional
        For ``settled``: pulses after which |w - SP| stays within it.
    average_from : int, optional
        First pulse of the window over which the error floor is averaged (default: the second half).
    record_every, record_devices : int, optional
        Trajectory sampling: every ``record_every`` pulses, the first ``record_devices`` devices.
    progress : callable(pulse, pulses, seconds), optional
        Called at the first pulse boundary 0.5 s after the start, then about twice a second.
    without_sp : {"error", "skip"}
        Devices of a population that have no SP in their range: an InputError, or pulsed like the others
        with their target (and error) NaN and ``has_sp`` False.
    c2c_model : {"additive", "multiplicative"}, optional
        How ``device.sigma_c`` enters a pulse: ``dw_min sigma_c xi`` added to the step (the toolkit's pulse
        model) or the step times ``(1 + sigma_c xi)`` (the reference simulator's ``mult_noise``); default: the
        device's own ``c2c_model`` (additive unless set). The same normal draws either way.
    backend : {"numpy", "exact"}
        "exact": the compiled loop of :mod:`aimc_theory.kernels_chains` where numba is installed and it repeats
        the NumPy loop's bits for this device (the soft-bounds, linear and power families, affine expressions;
        identical devices or step-scale variation, no per-element shapes, bounds or offsets), else the NumPy
        loop: the same numbers, tens of times faster for a few devices and many pulses.

    Returns
    -------
    CalibrationResult
        Final weights, each device's SP, windowed mean squared error, mean G^2, settling pulses and a
        trajectory.

    Raises
    ------
    CalibrationInterrupted
        On Ctrl-C (SIGINT), at the end of the pulse in progress: ``partial`` is the result of the pulses that
        ran (a KeyboardInterrupt).
    """
    if device.dw_min is None:
        raise InputError("dw_min", "calibration is pulse level: give the pulse size dw_min (> 0)")
    if scheme not in SCHEMES:
        raise InputError("scheme", f"must be one of {', '.join(SCHEMES)} (got {scheme!r})")
    if backend not in ("numpy", "exact"):
        raise InputError("backend", f"must be numpy or exact (got {backend!r})")
    pulses = require_int("pulses", pulses)
    devices = require_int("chains", devices)
    cal = costs.CALIBRATION                        # measured by benchmarks/bench_memory.py
    check_memory("chains", devices, cal["bytes_per_device"], what="devices")
    check_time("pulses", pulses * (cal["seconds_per_pulse"] + devices * cal["seconds_per_device_pulse"]),
               f"{pulses:,} pulses on {devices:,} devices ({cal['seconds_per_device_pulse'] * 1e9:.3g} ns per "
               "device-pulse)")
    if pulses > 10**9:
        raise InputError("pulses", f"must be <= 1e9 (got {pulses:,}); pulses run one after another")
    width = device.response.hi - device.response.lo
    if math.isfinite(width) and device.dw_min >= 0.1 * width:
        raise InputError("dw_min", f"must be < 0.1 x the weight range {width:g} (got {device.dw_min:g}): one pulse "
                                   "would cross a large part of the range")
    if tolerance is not None:
        require_positive("tolerance", tolerance)
    average_from = pulses // 2 if average_from is None else require_int("average_from", average_from, 0)
    if average_from >= pulses:
        raise InputError("average_from", f"must be < pulses = {pulses} (got {average_from})")
    record_every = record_every or max(1, pulses // 2000)
    rng = np.random.default_rng(seed)
    resp, dw = device.response, float(device.dw_min)

    if without_sp not in ("error", "skip"):
        raise InputError("without_sp", f"must be 'error' or 'skip' (got {without_sp!r})")
    c2c_model = device.c2c_model if c2c_model is None else c2c_model
    if c2c_model not in C2C_MODELS:
        raise InputError("c2c_model", f"must be one of {', '.join(C2C_MODELS)} (got {c2c_model!r})")
    multiplicative = c2c_model == "multiplicative"
    if variation is not None and variation.varies:
        device = variation.population(devices, rng).device(device)
        target = (device_symmetric_points(device, devices) if without_sp == "error"
                  else _element_sps(device, devices)[0])
        if np.all(np.isnan(target)):
            device_symmetric_points(device, devices)          # raises: not one device to calibrate
    else:   # identical devices: one SP for all
        target = np.full(devices, float(device_symmetric_points(device, 1)[0]))
    el = device.elements((devices,))
    if el is None:
        el = Elements(np.ones(devices), np.ones(devices))
    offset = np.broadcast_to(np.asarray(device.offset, float), (devices,))
    target = target + offset                # device i responds as q(w - o_i)
    lo, hi = (resp.lo + offset, resp.hi + offset) if el.lo is None else (el.lo + offset, el.hi + offset)
    w = np.broadcast_to(np.asarray(w0, float), (devices,)).astype(float)
    if not np.all((w > lo) & (w < hi)):
        raise InputError("w0", f"must lie inside every device's range ({np.min(lo):g} .. {np.max(hi):g})")
    up_step, down_step = dw * el.up, dw * el.down
    own = device.reshaped or bool(np.any(offset != 0))      # own shapes, bounds or offsets
    sq = np.zeros(devices)
    gsq = np.zeros(devices)
    settled = np.zeros(devices, dtype=np.int64) if tolerance is not None else None
    traj = [w[:record_devices].copy()]
    code = _kernel_code(device, own) if backend == "exact" else None
    if code is not None:
        return _zero_shift_compiled(code, w, target, up_step, down_step, el, sq, gsq, settled, pulses, scheme,
                                    rng, float(device.sigma_c), multiplicative, dw, average_from, tolerance,
                                    record_every, record_devices, progress)
    clock = ProgressClock(progress, pulses)
    t0 = clock.t0
    done = 0
    try:
        with StepBoundary() as guard:       # Ctrl-C stops at the end of the pulse in progress
            for k in range(pulses):
                if guard.pending:
                    guard.check()
                if progress is not None and k >= clock.check:
                    clock.tick(k)
                if own:                             # q+(k+ u), q-(k- u) in the device's coordinates u = w - o
                    u = w - offset
                    qp = resp.q_plus(u if el.up_stretch is None else el.up_stretch * u)
                    qm = resp.q_minus(u if el.down_stretch is None else el.down_stretch * u)
                else:
                    F, G = resp.fg(w)
                    qp, qm = F - G, F + G
                gsq += np.square(0.5 * (el.down * qm - el.up * qp))
                if scheme == "cyclic":
                    step = up_step * qp if k % 2 == 0 else -down_step * qm
                else:
                    step = np.where(rng.random(devices) < 0.5, up_step * qp, -down_step * qm)
                if device.sigma_c:
                    if multiplicative:
                        step = step * (1.0 + device.sigma_c * rng.standard_normal(devices))
                    else:
                        step = step + dw * device.sigma_c * rng.standard_normal(devices)
                w = np.clip(w + step, lo, hi) if own else resp.clip(w + step)
                x = w - target
                if k + 1 > average_from:
                    sq += x * x
                if settled is not None:     # the last pulse after which the error was too large (or no SP)
                    settled[~(np.abs(x) <= tolerance)] = k + 1
                if (k + 1) % record_every == 0:
                    traj.append(w[:record_devices].copy())
                done = k + 1
    except KeyboardInterrupt:       # the pulses that ran are a shorter calibration
        seconds = time.perf_counter() - t0
        if not done:
            raise CalibrationInterrupted(None, 0, pulses, f"none of {pulses:,} pulses finished") from None
        window = (f"the error floor averaged over pulses {average_from + 1:,}..{done:,}" if done > average_from
                  else f"no error floor (averaged after pulse {average_from:,})")
        raise CalibrationInterrupted(_result(w, target, sq, gsq, settled, traj, done, average_from, tolerance, seconds),
                                     done, pulses, f"{done:,} of {pulses:,} pulses ran; {window}") from None
    seconds = time.perf_counter() - t0
    if progress is not None:
        progress(pulses, pulses, seconds)
    return _result(w, target, sq, gsq, settled, traj, pulses, average_from, tolerance, seconds)


def _kernel_code(device: Device, own: bool):
    """The compiled loop's response code for this device, or None (numba absent, or not covered: NumPy)."""
    try:
        import numba  # noqa: F401 -- only whether it imports
    except ImportError:
        return None
    from . import kernels_chains
    try:
        return kernels_chains.zs_plan(device, own)
    except InputError:
        return None


def _zero_shift_compiled(code, w, target, up_step, down_step, el, sq, gsq, settled, pulses, scheme, rng, sigma,
                         multiplicative, dw, average_from, tolerance, record_every, record_devices, progress):
    """The pulse loop of :func:`zero_shift` in the compiled kernel (the same draws and operations: the same bits),
    in chunks of about 0.1 s: progress, and Ctrl-C at a chunk boundary (the pulses that ran are kept)."""
    from . import kernels_chains
    n = w.shape[0]
    rd = min(record_devices, n)
    traj = np.empty((pulses // record_every + 1, rd))
    traj[0] = w[:rd]
    up_step, down_step, el_up, el_down = (np.array(np.broadcast_to(a, (n,)), dtype=float)
                                          for a in (up_step, down_step, el.up, el.down))
    chunk = max(1, int(kernels_chains.CHUNK // max(n, 1)))
    t0 = time.perf_counter()
    done = 0
    try:
        with StepBoundary() as guard:       # Ctrl-C stops at the end of the chunk in progress
            for k0 in range(0, pulses, chunk):
                if guard.pending:
                    guard.check()
                k1 = min(pulses, k0 + chunk)
                kernels_chains.zs_run(code, w, target, up_step, down_step, el_up, el_down, sq, gsq, settled, traj,
                                      rng, k0, k1, scheme == "cyclic", sigma, multiplicative, dw, average_from,
                                      tolerance, record_every, rd)
                done = k1
                if progress is not None:
                    progress(k1, pulses, time.perf_counter() - t0)
    except KeyboardInterrupt:
        seconds = time.perf_counter() - t0
        if not done:
            raise CalibrationInterrupted(None, 0, pulses, f"none of {pulses:,} pulses finished") from None
        window = (f"the error floor averaged over pulses {average_from + 1:,}..{done:,}" if done > average_from
                  else f"no error floor (averaged after pulse {average_from:,})")
        raise CalibrationInterrupted(_result(w, target, sq, gsq, settled, traj[:done // record_every + 1], done,
                                             average_from, tolerance, seconds),
                                     done, pulses, f"{done:,} of {pulses:,} pulses ran; {window}") from None
    return _result(w, target, sq, gsq, settled, traj, pulses, average_from, tolerance, time.perf_counter() - t0)


class CalibrationInterrupted(Interrupted):
    """Ctrl-C during :func:`zero_shift`: ``partial`` is the :class:`CalibrationResult` of the ``pulses_done``
    pulses that ran (None if none did), a valid shorter calibration: its ``pulses`` is ``pulses_done``, the
    error floor ``window_sq`` averaged over the pulses after ``average_from`` reached so far (NaN before)."""

    def __init__(self, partial, pulses_done: int, pulses: int, what: str):
        super().__init__(partial, what)
        self.pulses_done, self.pulses = pulses_done, pulses


def _result(w, target, sq, gsq, settled, traj, pulses, average_from, tolerance, seconds) -> CalibrationResult:
    """The :class:`CalibrationResult` after ``pulses`` pulses."""
    if settled is not None:
        settled = np.where(~(np.abs(w - target) <= tolerance), pulses + 1, settled)
    window = sq / (pulses - average_from) if pulses > average_from else np.full_like(sq, np.nan)
    return CalibrationResult(w, target, window, gsq / pulses, settled, np.array(traj), pulses, seconds)


def referenced_residual(device: Device, reference: float) -> Device:
    """The residual array of Residual Learning read against a reference ``reference`` (the calibrated SP
    estimate of the two-stage method, P2 Algorithm 4): P = w - reference, so the device seen by the
    algorithm has q_P(p) = q(p + reference) and its SP sits at SP - reference (the calibration error with
    the opposite sign). A perfect calibration puts it at 0, as P1 Assumption 4 requires."""
    return Device(device.response.shifted(-float(reference)), dw_min=device.dw_min, sigma_c=device.sigma_c,
                  max_bl=device.max_bl, rounding=device.rounding, c2c_model=device.c2c_model)
