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
    """An update rule (optax shape).

    Attributes
    ----------
    name : str
        The registry name.
    init : callable
        ``init(params) -> state``.
    update : callable
        ``update(grads, state, params, rng) -> (params, state)``: one step; every write to an analog
        array goes through its ``Device``.
    readout : callable
        ``readout(params, state)``: the weight the gradient is evaluated at (W + gamma P for residual
        learning; W otherwise).
    config : tuple
        What a compiled kernel (:mod:`aimc_theory.kernels`) needs to run the same rule: ``(name, lr,
        device...)``; ``()`` when there is no kernel for it (the NumPy ``update`` always works).
    step : callable or None
        ``step(grads, state, params, rng) -> (params, state, info)``: the same step with its per-step
        diagnostics (e.g. RL v2's buffer before the threshold rule); ``update`` is ``step`` without ``info``.
        None for rules without diagnostics.
    devices : tuple of Device
        The analog arrays the rule writes, the one written with ``lr`` g first (Analog SGD's array, the
        residual array P of the two-array rules): what sizes a run (memory, time, pulses per write) before it
        starts. ``()`` for a digital rule, or a user's rule that does not say (sized as the costliest model).
    lr : float or None
        The learning rate of the gradient write to ``devices[0]``.
    """

    name: str
    init: Callable[[np.ndarray], Any]
    update: Callable[[np.ndarray, Any, np.ndarray, np.random.Generator], tuple[np.ndarray, Any]]
    readout: Callable[[np.ndarray, Any], np.ndarray] = _identity_readout
    config: tuple = ()
    step: Callable | None = None
    devices: tuple = ()
    lr: float | None = None

    @classmethod
    def with_info(cls, name: str, init, step, readout=_identity_readout, config: tuple = (), devices: tuple = (),
                  lr: float | None = None) -> "Algorithm":
        """An algorithm from ``step`` (returning ``(params, state, info)``); ``update`` drops the info."""
        def update(grads, state, params, rng):
            params, state, _ = step(grads, state, params, rng)
            return params, state
        return cls(name, init, update, readout, config, step, devices, lr)


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

    return Algorithm("analog-sgd", lambda params: None, update, config=("analog-sgd", lr, device), devices=(device,),
                     lr=lr)
