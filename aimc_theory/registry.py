"""One registry of algorithms: name -> factory, the options it takes, and its theory.

Adding an algorithm means one :class:`AlgorithmSpec` here (plus, if it has a fixed-point theory,
one adapter in :mod:`aimc_theory.symbolic.fixed_points`, named by string so that the numeric path
never imports the symbolic module). The command line builds its flags, its ``--algorithm``
choices, its dispatch and its "option does not apply" errors from this table; the claims and the
network path build algorithms through :func:`build` as well.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import algorithms, residual_learning as rl, tracking
from .device import Device
from .errors import InputError


@dataclass(frozen=True)
class Option:
    """An algorithm option: its keyword, default, help text and type (the CLI flag is --NAME)."""

    name: str
    default: float | int
    help: str
    kind: type = float

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


OPTIONS: dict[str, Option] = {o.name: o for o in (
    Option("gamma", 0.4, "mixing weight: W_bar = W + gamma P (RL), W + gamma c (P - Q) (RIDER)"),
    Option("beta", 0.005, "transfer rate (RL v1, RIDER) / EMA weight of the buffer (RL v2)"),
    Option("eta", 0.01, "EMA weight of the SP estimate, Q <- (1 - eta) Q + eta P (RIDER, E-RIDER)"),
    Option("chop_prob", 0.05, "chopper flip probability per step (E-RIDER; P2 uses 0.05)"),
    Option("transfer_every", 1, "steps between two transfers (RL v1)", int),
    Option("columns_per_transfer", 0, "columns of P read per transfer, cyclic pointer; 0 = all (RL v1)", int),
    Option("read_noise", 0.0, "std of the noise when reading P for the transfer (RL v1, v2)"),
    Option("q0", 0.0, "initial SP estimate Q_0; P starts there too (RIDER, E-RIDER)"),
    Option("threshold", 1e-3, "transfer threshold = main-array pulse size dw_min (RL v2)"),
)}


@dataclass(frozen=True)
class AlgorithmSpec:
    """``build(lr, array, main, seed, **options)``: ``array`` is the device of --response (the residual
    array P of a two-array algorithm), ``main`` the main array W's (two-array algorithms only).
    ``fixed_point`` names the adapter in :mod:`aimc_theory.symbolic.fixed_points`;
    ``final_keys(params, state)`` adds JSON keys about the final state."""

    name: str
    summary: str
    build: Callable[..., algorithms.Algorithm]
    options: tuple[str, ...] = ()
    two_arrays: bool = False
    fixed_point: str | None = None
    final_keys: Callable[[np.ndarray, object], dict] | None = None


def _tracking_keys(params, state) -> dict:
    return {"final_main": float(params.mean()), "final_reference": float(state.Q.mean()),
            "final_residual": float(state.P.mean())}


ALGORITHMS: dict[str, AlgorithmSpec] = {s.name: s for s in (
    AlgorithmSpec("digital-sgd", "W <- W - lr g (floating-point weights)",
                  lambda lr, array, main, seed: algorithms.digital_sgd(lr), fixed_point="digital_sgd"),
    AlgorithmSpec("analog-sgd", "W <- U_q(W, -lr g) = W - lr g F - lr |g| G (P1 eq. 2)",
                  lambda lr, array, main, seed: algorithms.analog_sgd(lr, array), fixed_point="analog_sgd"),
    AlgorithmSpec("residual-learning", "RL v1 / Tiki-Taka: P <- U(P, -lr g(W + gamma P)), W <- U(W, beta P) "
                  "(P1 eq. 10-11)",
                  lambda lr, array, main, seed, gamma, beta, transfer_every, read_noise, columns_per_transfer:
                  rl.residual_learning(lr, beta, gamma, array, main, transfer_every=transfer_every,
                                       read_noise=read_noise, columns_per_transfer=columns_per_transfer or None),
                  ("gamma", "beta", "transfer_every", "read_noise", "columns_per_transfer"), True,
                  "residual_learning"),
    AlgorithmSpec("residual-learning-v2", "RL v2: digital EMA buffer H of P, one threshold pulse to W "
                  "(P1 section 5)",
                  lambda lr, array, main, seed, gamma, beta, read_noise, threshold: rl.residual_learning_v2(
                      lr, beta, gamma, array, main, read_noise=read_noise, dw_min=threshold),
                  ("gamma", "beta", "read_noise", "threshold"), True),
    AlgorithmSpec("rider", "RIDER: RL with a digital SP estimate Q <- EMA(P) (P2 Algorithm 2, eq. 11-12)",
                  lambda lr, array, main, seed, gamma, beta, eta, q0: tracking.rider(
                      lr, beta, gamma, eta, array, main, chop_prob=0.0, q0=q0),
                  ("gamma", "beta", "eta", "q0"), True, "rider", _tracking_keys),
    AlgorithmSpec("e-rider", "E-RIDER: RIDER with a chopper and a filtered reference (P2 Algorithm 3, "
                  "eq. 17-18)",
                  lambda lr, array, main, seed, gamma, beta, eta, chop_prob, q0: tracking.rider(
                      lr, beta, gamma, eta, array, main, chop_prob=chop_prob, q0=q0,
                      chopper_seed=[int(seed), 0xC40]),
                  ("gamma", "beta", "eta", "chop_prob", "q0"), True, None, _tracking_keys),
)}


def spec(name: str) -> AlgorithmSpec:
    if name not in ALGORITHMS:
        raise InputError("--algorithm", f"must be one of {', '.join(ALGORITHMS)} (got {name!r})")
    return ALGORITHMS[name]


def with_defaults(name: str, options: dict) -> dict:
    """All options of ``name``: the given ones, defaults from :data:`OPTIONS` for the rest. An option
    the algorithm does not take is an error naming its flag (never silently ignored)."""
    s = spec(name)
    unknown = sorted(set(options) - set(s.options))
    if unknown:
        raise InputError(OPTIONS[unknown[0]].flag if unknown[0] in OPTIONS else unknown[0],
                         f"does not apply to {name}; its options: "
                         + (", ".join(OPTIONS[o].flag for o in s.options) or "none"))
    return {o: OPTIONS[o].kind(options[o]) if o in options else OPTIONS[o].default for o in s.options}


def build(name: str, lr: float, array: Device, main: Device | None = None, seed: int = 0,
          **options) -> algorithms.Algorithm:
    """The algorithm ``name`` with ``options`` (defaults from :data:`OPTIONS` for the rest).

    Parameters
    ----------
    name : str
        A key of :data:`ALGORITHMS` (digital-sgd, analog-sgd, residual-learning, residual-learning-v2,
        rider, e-rider).
    lr : float
        Learning rate of the gradient array.
    array, main : Device
        The gradient (residual) array's device and, for two-array algorithms, the main array's.
    seed : int
        Seeds the algorithm's own randomness (E-RIDER's chopper).
    **options
        The algorithm's options (see ``aimc-theory simulate --help``); an option it does not take is an
        InputError.

    Returns
    -------
    Algorithm
        ``init(params) -> state``, ``update(grads, state, params, rng) -> (params, state)``,
        ``readout(params, state)``.
    """
    s = spec(name)
    kwargs = with_defaults(name, options)
    if s.two_arrays and main is None:
        raise InputError("--main-response", f"{name} needs the main array's device")
    return s.build(lr, array, main, seed, **kwargs)
