"""Symmetric-point calibration by zero-shifting pulses (P2 Algorithm 1, eq. 7; cyclic: eq. 31).

A device is driven toward its symmetric point (SP, where q+ = q-) by pulses alone:

* ``stochastic``: each pulse is up or down with probability 1/2 (P2 Algorithm 1),
  ``w <- w + eps F(w) - |eps| G(w)`` with eps uniform on {-dw_min, +dw_min};
* ``cyclic``: alternating up and down pulses (up first), the original scheme of Kim et al.

One pulse moves ``w <- w + dw_min (s_+ q+(w) + sigma_c xi)`` up or ``w <- w - dw_min (s_- q-(w)
+ sigma_c xi)`` down (P1 App. C), clipped to the device range. ``s_+ = g + r`` and ``s_- = g - r``
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

from .device import Device
from .runtime import check_memory
from .errors import InputError, require_int, require_nonnegative, require_positive

SCHEMES = ("stochastic", "cyclic")


@dataclass(frozen=True)
class Variation:
    """Device-to-device variation of the up/down step sizes (P2 eq. 103-104).

    Device i has q+_i(w) = (g_i + r_i) q+(w) and q-_i(w) = (g_i - r_i) q-(w) with
    g_i = exp(gain * xi1) (log-normal step-size gain, P2's sigma_d2d) and r_i = imbalance * xi2
    (up/down imbalance, P2's sigma_pm), xi1, xi2 ~ N(0, 1) independent. Its SP solves
    G/F = r_i/g_i, so the gain scales the pulse size and the imbalance moves the SP.
    Draws with |r_i| >= 0.95 g_i (a device that cannot step one way) are clipped to
    r_i = +-0.95 g_i; :meth:`draw` reports how many. ``log_normal = False`` draws the gain as the
    reference simulator does by default, g_i = |1 + gain xi1| (floored at 1e-6).
    """

    gain: float = 0.0
    imbalance: float = 0.0
    log_normal: bool = True

    def __post_init__(self):
        require_nonnegative("gain_dtod", self.gain)
        require_nonnegative("imbalance_dtod", self.imbalance)

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
        """(s_plus, s_minus, n_clipped) for ``n`` devices."""
        xi = rng.standard_normal(n)
        g = np.exp(self.gain * xi) if self.log_normal else np.maximum(np.abs(1.0 + self.gain * xi), 1e-6)
        r = self.imbalance * rng.standard_normal(n)
        lim = 0.95 * g
        clipped = int(np.count_nonzero(np.abs(r) > lim))
        r = np.clip(r, -lim, lim)
        return g + r, g - r, clipped


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


def device_symmetric_points(device: Device, s_plus=1.0, s_minus=1.0, iters: int = 80) -> np.ndarray:
    """SP of every device, s_+ q+(w) = s_- q-(w), by vectorized bisection inside the range."""
    resp = device.response
    if resp.every_point_symmetric and np.all(np.asarray(s_plus) == np.asarray(s_minus)):
        raise InputError("response", "an ideal device has no unique symmetric point to calibrate to")
    s_plus, s_minus = np.broadcast_arrays(np.asarray(s_plus, float), np.asarray(s_minus, float))
    lo_w = resp.lo if np.isfinite(resp.lo) else -1e6
    hi_w = resp.hi if np.isfinite(resp.hi) else 1e6
    span = hi_w - lo_w
    lo = np.full(s_plus.shape, lo_w + 1e-12 * span)
    hi = np.full(s_plus.shape, hi_w - 1e-12 * span)

    def h(w):   # s_- q- - s_+ q+: negative below the SP, positive above (G increasing)
        return s_minus * resp.q_minus(w) - s_plus * resp.q_plus(w)

    h_lo, h_hi = h(lo), h(hi)
    bad = ~((h_lo < 0) & (h_hi > 0))
    if np.any(bad):
        raise InputError("imbalance_dtod", f"{int(bad.sum())} device(s) have no symmetric point inside "
                                           f"({resp.lo:g}, {resp.hi:g}) (s_- q- - s_+ q+ does not change "
                                           "sign from - to +: it drifts to a bound, there is nothing to calibrate to); lower the "
                                           "variation, or see `aimc-theory presets NAME --devices N` for the SP "
                                           "distribution with such devices counted")
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        up = h(mid) > 0
        hi = np.where(up, mid, hi)
        lo = np.where(up, lo, mid)
    return 0.5 * (lo + hi)


def zero_shift(device: Device, w0, pulses: int, scheme: str = "stochastic", *, devices: int = 1,
               seed: int | None = 0, variation: Variation | None = None, tolerance: float | None = None,
               average_from: int | None = None, record_every: int | None = None,
               record_devices: int = 8, progress=None) -> CalibrationResult:
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
    variation : Variation, optional
        Device-to-device variation of the step sizes (each device its own SP).
    tolerance : float, optional
        For ``settled``: pulses after which |w - SP| stays within it.
    average_from : int, optional
        First pulse of the window over which the error floor is averaged (default: the second half).
    record_every, record_devices : int, optional
        Trajectory sampling: every ``record_every`` pulses, the first ``record_devices`` devices.
    progress : callable(pulse, pulses, seconds), optional
        Called about twice a second.

    Returns
    -------
    CalibrationResult
        Final weights, each device's SP, windowed mean squared error, mean G^2, settling pulses and a
        trajectory.
    """
    if device.dw_min is None:
        raise InputError("dw_min", "calibration is pulse level: give the pulse size dw_min (> 0)")
    if scheme not in SCHEMES:
        raise InputError("scheme", f"must be one of {', '.join(SCHEMES)} (got {scheme!r})")
    pulses = require_int("pulses", pulses)
    devices = require_int("chains", devices)
    check_memory("chains", devices, 96)           # a handful of per-device float64 arrays
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

    if variation is not None and (variation.gain or variation.imbalance):
        s_plus, s_minus, _ = variation.draw(devices, rng)
        target = device_symmetric_points(device, s_plus, s_minus)
    else:   # identical devices: one SP for all
        s_plus = s_minus = np.ones(devices)
        target = np.full(devices, float(device_symmetric_points(device, np.ones(1), np.ones(1))[0]))
    w = np.broadcast_to(np.asarray(w0, float), (devices,)).astype(float)
    if not np.all((w > resp.lo) & (w < resp.hi)):
        raise InputError("w0", f"must lie inside the device range ({resp.lo:g}, {resp.hi:g})")
    up_step, down_step = dw * s_plus, dw * s_minus
    sq = np.zeros(devices)
    gsq = np.zeros(devices)
    settled = np.zeros(devices, dtype=np.int64) if tolerance is not None else None
    traj = [w[:record_devices].copy()]
    t0 = last = time.perf_counter()
    for k in range(pulses):
        if progress is not None and k % 256 == 0 and time.perf_counter() - last > 0.5:
            last = time.perf_counter()
            progress(k, pulses, last - t0)
        F, G = resp.fg(w)
        qp, qm = F - G, F + G
        gsq += np.square(0.5 * (s_minus * qm - s_plus * qp))
        if scheme == "cyclic":
            step = up_step * qp if k % 2 == 0 else -down_step * qm
        else:
            step = np.where(rng.random(devices) < 0.5, up_step * qp, -down_step * qm)
        if device.sigma_c:
            step = step + dw * device.sigma_c * rng.standard_normal(devices)
        w = resp.clip(w + step)
        x = w - target
        if k + 1 > average_from:
            sq += x * x
        if settled is not None:
            settled[np.abs(x) > tolerance] = k + 1    # last pulse after which the error was too large
        if (k + 1) % record_every == 0:
            traj.append(w[:record_devices].copy())
    seconds = time.perf_counter() - t0
    if progress is not None:
        progress(pulses, pulses, seconds)
    if settled is not None:
        settled = np.where(np.abs(w - target) > tolerance, pulses + 1, settled)
    return CalibrationResult(w, target, sq / (pulses - average_from), gsq / pulses, settled,
                             np.array(traj), pulses, seconds)


def referenced_residual(device: Device, reference: float) -> Device:
    """The residual array of Residual Learning read against a reference ``reference`` (the calibrated SP
    estimate of the two-stage method, P2 Algorithm 4): P = w - reference, so the device seen by the
    algorithm has q_P(p) = q(p + reference) and its SP sits at SP - reference (the calibration error with
    the opposite sign). A perfect calibration puts it at 0, as P1 Assumption 4 requires."""
    return Device(device.response.shifted(-float(reference)), dw_min=device.dw_min, sigma_c=device.sigma_c,
                  max_bl=device.max_bl, rounding=device.rounding)
