"""Residual Learning (Tiki-Taka family) on two analog arrays (P1 section 4-5, spec C).

* RL v1 / Tiki-Taka (P1 eq. 10-11): mixed weight W_bar = W + gamma P;
    P <- U_qP(P, -lr g(W_bar))                      (residual array, eq. 10)
    W <- U_qW(W, beta (P + eps))  every ``transfer_every`` steps   (transfer, eq. 11)
  with eps ~ N(0, read_noise^2) the noise of reading P. gamma = 0 is the Tiki-Taka of P3.
* RL v2 (P1 eq. 14-15 with the threshold rule): a digital EMA buffer
    H_half = (1 - beta) H + beta (P + eps)
  and, per coordinate, one pulse of sign(H_half) to W when |H_half| >= dw_min, after which
  H = H_half - sign * dw_min (else H = H_half).

Both arrays have their own :class:`~aimc_theory.device.Device` (expected-update or pulse level);
a residual array whose reference is off by delta is simply ``Device(resp.shifted(delta))``.
The update rules follow the ``init``/``update``/``readout`` convention of :mod:`algorithms`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .algorithms import Algorithm
from .device import Device
from .pulse_trains import Rank1Batch
from .update_models import mix, remix
from .errors import InputError, require_int, require_nonnegative, require_positive


@dataclass
class RLState:
    P: np.ndarray
    step: int = 0
    pointer: int = 0        # next column to transfer (Tiki-Taka's cyclic column pointer)
    # the read-out W + gamma P of the weights ``mixed_of``, made by the update (its fused transfer, or on the in-place
    # path mix into the last read-out's array); readout returns it. In place (Rank1Batch.inplace) W keeps its array
    # from step to step, so a read-out stays valid only until the next update and W must not change in between
    mixed: np.ndarray | None = field(default=None, repr=False, compare=False)
    mixed_of: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass
class RLv2State:
    P: np.ndarray
    H: np.ndarray
    total_pulses: np.ndarray     # pulses fired to W so far, per coordinate


@dataclass(frozen=True)
class RLv2Info:
    """RL v2's per-step diagnostics (``Algorithm.step``)."""

    H_half: np.ndarray      # the buffer before the threshold rule
    pulses: np.ndarray      # pulses fired to W at this step, in {-1, 0, +1}


def _check_common(lr, beta, gamma, read_noise):
    lr = require_positive("lr", lr)
    beta = require_positive("beta", beta)
    gamma = require_nonnegative("gamma", gamma)
    read_noise = require_nonnegative("read_noise", read_noise)
    return lr, beta, gamma, read_noise


# the read-out is redone only at the weights a step wrote where they are at most this fraction (1/n) of the tile:
# scattered writes cost ~3x a whole pass's per weight (the network's first layer: ~13k of 200k, redone in a quarter
# of a pass's time; its second: ~18k of 33k, a whole pass is faster)
REMIX_FRACTION = 4


def _same_array(a, b) -> bool:
    """Whether ``a`` is ``b`` or a view of the same memory in the same layout (an in-place write returns a
    reshaped view of the array it wrote; numba's arrays do not share NumPy's base, so the start address decides)."""
    return a is b or (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                      and a.strides == b.strides and a.dtype == b.dtype
                      and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


def residual_learning(lr: float, beta: float, gamma: float, device_p: Device, device_w: Device,
                      transfer_every: int = 1, read_noise: float = 0.0, p0: float = 0.0,
                      columns_per_transfer: int | None = None) -> Algorithm:
    """RL v1 / Tiki-Taka (P1 eq. 10-11). ``params`` is the main array W; the state holds P.

    With pulse-train devices (``Device.trains``) and per-sample gradients this is aihwkit's
    ``TransferCompound``: P is written sample by sample, and every ``transfer_every`` steps
    ``columns_per_transfer`` columns of P (default all, cyclic pointer) are read and written to W
    column by column with transfer rate ``beta`` and W's own pulse trains; W + gamma P is aihwkit's
    W = gamma A + C.

    Parameters
    ----------
    lr : float > 0
        Learning rate of the residual array P.
    beta : float > 0
        Transfer rate (W += beta P in expectation).
    gamma : float >= 0
        Mixing weight of the read-out W_bar = W + gamma P (0 is P3's Tiki-Taka).
    device_p, device_w : Device
        The residual and the main array; P's SP must sit at 0 for an unbiased limit (P1 Theorem 4).
    transfer_every : int >= 1
        Steps between transfers.
    read_noise : float >= 0
        Standard deviation of reading P.
    p0 : float
        Initial value of P.
    columns_per_transfer : int >= 1 or None
        With pulse-train devices, columns of P transferred per transfer (``None``: all).

    Returns
    -------
    Algorithm
    """
    lr, beta, gamma, read_noise = _check_common(lr, beta, gamma, read_noise)
    transfer_every = require_int("transfer_every", transfer_every)
    if columns_per_transfer is not None:
        columns_per_transfer = require_int("columns_per_transfer", columns_per_transfer)

    def init(params):
        return RLState(np.full_like(params, p0, dtype=float))

    def update(grads, state, params, rng):
        step, pointer = state.step + 1, state.pointer
        # the network path gives up W and the state (Rank1Batch.inplace): W written in place, the read-out made
        # here into the last read-out's array (fewer fresh arrays per step: a smaller working set; the same bits)
        in_place = isinstance(grads, Rank1Batch) and grads.inplace
        shape = grads.shape if isinstance(grads, Rank1Batch) else (1, state.P.shape[-1])
        every = columns_per_transfer is None or columns_per_transfer >= shape[1]      # a transfer moves every column
        if in_place and gamma and not read_noise and step % transfer_every == 0 and every:
            # eq. 10 and 11 in one pass where both arrays take it (the same bits as the calls below)
            mixed = device_p.write_and_transfer(state.P, grads, lr, device_w, params, beta, gamma, state.mixed)
            if mixed is not None:
                return params, RLState(state.P, step, pointer, mixed, params)
        # the last read-out, still that of (params, state.P): the write of P reports the weights it changed
        # (Rank1Batch.touched), and where it and the transfer wrote P and W in place only there, only there is the
        # read-out redone (below)
        W0, P0 = params, state.P
        sink = [] if in_place and gamma and state.mixed is not None and state.mixed_of is params else None
        P = device_p.write_gradient(state.P, grads if sink is None else replace(grads, touched=sink), lr, rng)  # eq. 10
        mixed = None
        moved = np.zeros(0, np.int64)          # the columns of W the transfer wrote (None: maybe all)
        if step % transfer_every == 0:                                  # eq. 11
            read = P if not read_noise else P + read_noise * rng.standard_normal(P.shape)
            cols = None
            if not every:
                cols = (pointer + np.arange(columns_per_transfer)) % shape[1]
                pointer = int((pointer + columns_per_transfer) % shape[1])
            both = device_w.transfer_and_mix(params, read, P, beta, gamma, in_place,
                                             state.mixed if in_place else None) if gamma and cols is None else None
            if both is None:
                params = device_w.write_matrix(params, read, shape, beta, rng, cols, in_place)
            else:           # the read-out of the next step made in the same pass (W and P read once)
                params, mixed = both
            moved = cols
        if mixed is None and in_place and gamma:
            if sink is not None and len(sink) == 1 and sink[0] is not None and moved is not None \
                    and sink[0].size <= P.size // REMIX_FRACTION and _same_array(P, P0) and _same_array(params, W0) \
                    and remix(params, P, gamma, state.mixed, sink[0], moved, shape[1]):
                mixed = state.mixed
            else:
                mixed = mix(params, P, gamma, state.mixed)
        return params, RLState(P, step, pointer, mixed, params if mixed is not None else None)

    def readout(params, state):
        # the update's read-out of these very weights (on the in-place path: overwritten by the next update)
        if state.mixed is not None and state.mixed_of is params:
            return state.mixed
        return mix(params, state.P, gamma) if gamma else params

    return Algorithm("residual-learning", init, update, readout,
                     config=("residual-learning", lr, beta, gamma, device_p, device_w, transfer_every, read_noise, p0,
                             columns_per_transfer), devices=(device_p, device_w), lr=lr)


def threshold_transfer(H_half: np.ndarray, dw_min: float) -> tuple[np.ndarray, np.ndarray]:
    """One pulse per coordinate where |H_half| >= dw_min; returns (H, pulses in {-1, 0, 1})."""
    pulses = np.sign(H_half)
    pulses *= np.abs(H_half) >= dw_min
    return H_half - pulses * dw_min, pulses


def residual_learning_v2(lr: float, beta: float, gamma: float, device_p: Device, device_w: Device,
                         read_noise: float = 0.0, dw_min: float | None = None, p0: float = 0.0) -> Algorithm:
    """RL v2 (P1 eq. 14 and the threshold transfer): EMA buffer H, single pulses of size dw_min.

    ``dw_min`` is the main array's pulse granularity (default: ``device_w.dw_min``); a pulse of
    sign s moves W by s dw_min q_s(W).

    Parameters
    ----------
    lr, gamma, device_p, device_w, read_noise, p0
        As in :func:`residual_learning`.
    beta : float in (0, 1]
        The EMA weight of the digital buffer H.
    dw_min : float > 0 or None
        Main array pulse size and transfer threshold (default ``device_w.dw_min``; one is required).

    Returns
    -------
    Algorithm
    """
    lr, beta, gamma, read_noise = _check_common(lr, beta, gamma, read_noise)
    if beta > 1:
        raise InputError("beta", f"the EMA weight must lie in (0, 1] (got {beta})")
    dw = dw_min if dw_min is not None else device_w.dw_min
    if dw is None:
        raise InputError("dw_min", "RL v2 needs the main array's pulse size dw_min (> 0)")
    dw = require_positive("dw_min", dw)

    def init(params):
        z = np.zeros_like(params, dtype=float)
        return RLv2State(np.full_like(params, p0, dtype=float), z, z.copy())

    def step(grads, state, params, rng):
        P = device_p.write_gradient(state.P, grads, lr, rng)
        read = P if not read_noise else P + read_noise * rng.standard_normal(P.shape)
        H_half = (1.0 - beta) * state.H + beta * read                  # eq. 14
        H, pulses = threshold_transfer(H_half, dw)
        # one pulse of sign s through the main array's own device (its pulse size, cycle noise);
        # for an expected-update device it is U_q(W, s dw_min) = W + s dw_min q_s(W)
        params = device_w.pulse(params, pulses, rng, dw_min=dw)
        return params, RLv2State(P, H, state.total_pulses + np.abs(pulses)), RLv2Info(H_half, pulses)

    def readout(params, state):
        return mix(params, state.P, gamma) if gamma else params

    return Algorithm.with_info("residual-learning-v2", init, step, readout,
                               config=("residual-learning-v2", lr, beta, gamma, device_p, device_w, read_noise, dw, p0),
                               devices=(device_p, device_w), lr=lr)
