"""Update rules as small pure pairs (optax style): ``init(params) -> state`` and
``update(grads, state, params, rng) -> (params, state)``; ``readout(params, state)`` is the
weight at which the gradient is evaluated (the mixed weight for two-array algorithms).

* Digital SGD:  W <- W - lr g
* Analog SGD (P1 eq. 2): W <- U_q(W, -lr g) = W - lr g F(W) - lr |g| G(W), applied by the device
  (expected-update or pulse-level model).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .device import Device
from .pulse_trains import Rank1Batch
from .errors import require_positive


def _identity_readout(params, state):
    return params


@dataclass(frozen=True)
class Algorithm:
    name: str
    init: Callable[[np.ndarray], Any]
    update: Callable[[np.ndarray, Any, np.ndarray, np.random.Generator], tuple[np.ndarray, Any]]
    readout: Callable[[np.ndarray, Any], np.ndarray] = _identity_readout
    config: tuple = ()          # (name, lr, device...) for compiled kernels (aimc_theory.kernels)


def digital_sgd(lr: float) -> Algorithm:
    """W_{k+1} = W_k - lr g_k (floating-point weights, no device).

    Parameters
    ----------
    lr : float > 0
        Learning rate.

    Returns
    -------
    Algorithm
        ``init``/``update``/``readout`` triple; per-sample gradients (Rank1Batch) are summed first.
    """
    lr = require_positive("lr", lr)

    def update(grads, state, params, rng):
        g = grads.dense() if isinstance(grads, Rank1Batch) else grads
        return params - lr * g, state

    return Algorithm("digital-sgd", lambda params: None, update, config=("digital-sgd", lr))


def analog_sgd(lr: float, device: Device) -> Algorithm:
    """W_{k+1} = W_k - lr g F(W_k) - lr |g| G(W_k) (P1 eq. 2): the device applies dW = -lr g.

    Parameters
    ----------
    lr : float > 0
        Learning rate.
    device : Device
        The analog array holding W (its model: expected update, pulses or pulse trains).

    Returns
    -------
    Algorithm
        Stationary in expectation where f'(w) + Sigma R_c'(w) = 0 (P1 Theorem 2's implicit penalty).
    """
    lr = require_positive("lr", lr)

    def update(grads, state, params, rng):
        return device.write_gradient(params, grads, lr, rng), state

    return Algorithm("analog-sgd", lambda params: None, update, config=("analog-sgd", lr, device))
