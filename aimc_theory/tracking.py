"""Residual learning with dynamic symmetric-point tracking: RIDER and E-RIDER (P2 section 3).

Arrays: the residual array P and the main array W are analog (each with its own
:class:`~aimc_theory.device.Device`), the reference estimate Q is digital. With the chopper
c_k in {-1, +1} (E-RIDER; RIDER is c_k = 1):

    W_bar = W + gamma c_k (P - Q)                                         (mixed weight)
    P <- U_qP(P, -lr c_k g(W_bar))                                        (P2 eq. 11a / 18a)
    W <- U_qW(W, beta c_k (P - Q_ref))                                    (eq. 11b / 18b)
    Q <- (1 - eta) Q + eta P                                              (eq. 12, EMA low-pass)
    c_{k+1} = -c_k with probability chop_prob                             (eq. 17)

U_q(w, dw) = w + dw F(w) - |dw| G(w) is the device's update (expected or pulse level), so the
|.| G drift terms of eq. 11a/11b come from the devices. RIDER (chop_prob = 0) transfers against
the current estimate, Q_ref = Q_k. E-RIDER transfers against Q_tilde, an analog copy of Q that is
reprogrammed to Q only when the chopper flips (P2 section 3.2); the copy is exact here (no
programming error). Each chain has its own chopper, drawn from a generator of its own
(``chopper_seed``) so that RIDER and E-RIDER runs with the same simulation seed see the same
gradient noise (paired comparisons).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .algorithms import Algorithm
from .device import Device
from .errors import InputError, require_nonnegative, require_positive


@dataclass
class TrackingState:
    P: np.ndarray
    Q: np.ndarray            # digital SP estimate
    Q_ref: np.ndarray        # the reference W's transfer uses (Q for RIDER, the analog copy for E-RIDER)
    c: np.ndarray            # chopper sign per chain, shape (chains, 1)
    flips: np.ndarray        # number of chopper flips per chain (reprogrammings of the copy)
    chopper: np.random.Generator | None


def ema(Q: np.ndarray, P: np.ndarray, eta: float) -> np.ndarray:
    """Q <- (1 - eta) Q + eta P (P2 eq. 12): a first-order IIR low-pass filter of P."""
    return Q + eta * (P - Q)


def rider(lr: float, beta: float, gamma: float, eta: float, device_p: Device, device_w: Device,
          chop_prob: float = 0.0, q0: float = 0.0, p0: float | None = None,
          chopper_seed: int = 0) -> Algorithm:
    """RIDER (chop_prob = 0, P2 Algorithm 2) and E-RIDER (chop_prob > 0, Algorithm 3).

    ``params`` is the main array W; the state holds P, Q, the reference copy and the chopper.
    P starts at ``p0`` (default ``q0``), Q at ``q0``.

    Parameters
    ----------
    lr : float > 0
        Learning rate of P.
    beta : float > 0
        Transfer rate of (P - Q) (or c (P - Q_ref) with chopping) into W.
    gamma : float >= 0
        Read-out mixing W + gamma (P - Q).
    eta : float in (0, 1]
        EMA weight of the SP estimate Q (P2 eq. 12).
    device_p, device_w : Device
        Residual and main array; P's SP is unknown to the algorithm (that is the point).
    chop_prob : float in [0, 1]
        Probability per step and tile that the chopper c flips (P2 eq. 17); 0 is RIDER.
    q0, p0 : float
        Initial Q and P (``p0`` defaults to ``q0``).
    chopper_seed : int
        Seed of the chopper's own generator (independent of the simulation's noise).

    Returns
    -------
    Algorithm
    """
    lr = require_positive("lr", lr)
    beta = require_positive("beta", beta)
    gamma = require_nonnegative("gamma", gamma)
    eta = require_positive("eta", eta)
    if eta > 1:
        raise InputError("eta", f"the EMA weight must lie in (0, 1] (got {eta})")
    chop_prob = require_nonnegative("chop_prob", chop_prob)
    if chop_prob > 1:
        raise InputError("chop_prob", f"must lie in [0, 1] (got {chop_prob})")
    p_start = q0 if p0 is None else p0

    def init(params):
        P = np.full_like(params, p_start, dtype=float)
        Q = np.full_like(params, q0, dtype=float)
        ones = np.ones(params.shape[:-1] + (1,))
        gen = np.random.default_rng(chopper_seed) if chop_prob else None
        return TrackingState(P, Q, Q.copy(), ones, np.zeros(params.shape[:-1]), gen)

    def update(grads, state, params, rng):
        c = state.c
        P = device_p.write_gradient(state.P, grads * c if chop_prob else grads, lr, rng)   # eq. 11a / 18a
        ref = state.Q if not chop_prob else state.Q_ref
        diff = P - ref
        params = device_w.update(params, beta * (diff * c if chop_prob else diff), rng)   # eq. 11b / 18b
        Q = ema(state.Q, P, eta)                                                          # eq. 12
        if not chop_prob:
            return params, TrackingState(P, Q, Q, c, state.flips, None)
        flip = state.chopper.random(c.shape) < chop_prob                                  # eq. 17
        c = np.where(flip, -c, c)
        Q_ref = np.where(flip, Q, state.Q_ref)          # reprogram the analog copy at a flip
        return params, TrackingState(P, Q, Q_ref, c, state.flips + flip[..., 0], state.chopper)

    def readout(params, state):
        if not gamma:
            return params
        return params + gamma * (state.c * (state.P - state.Q) if chop_prob else state.P - state.Q)

    return Algorithm("e-rider" if chop_prob else "rider", init, update, readout,
                     config=("rider", lr, beta, gamma, eta, device_p, device_w, chop_prob, q0, p_start, chopper_seed),
                     devices=(device_p, device_w), lr=lr)


class QWindow:
    """Observable of :func:`aimc_theory.simulation.simulate` for RIDER / E-RIDER runs: each chain's time average of
    the digital reference Q over the simulation's averaging window (the states after steps start+1 .. steps-1,
    ``scale`` = steps / (steps - start - 1) turns the simulation's average over all steps into it) and, every
    ``every`` steps, the mean Q (``traj``) and the mean read-out W_bar (``wtraj``) of each of ``groups`` equal
    blocks of chains (e.g. the initializations of a batched run). The compiled chain kernel
    (:mod:`aimc_theory.kernels_chains`) fills the same numbers."""

    def __init__(self, steps: int, start: int, every: int, groups: int = 1):
        self.k, self.start, self.every, self.groups = 0, start, every, groups
        self.traj, self.wtraj = [], []
        self.scale = steps / (steps - start - 1)

    def __call__(self, w, state):
        k, self.k = self.k, self.k + 1
        q = state.Q[:, 0]
        if k % self.every == 0:
            self.traj.append(q.reshape(self.groups, -1).mean(axis=1))
            self.wtraj.append(w[:, 0].reshape(self.groups, -1).mean(axis=1))
        return q * self.scale if k > self.start else 0.0 * q
