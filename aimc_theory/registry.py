"""One registry of algorithms: name -> factory, the options it takes, and its theory.

Adding an algorithm means one :class:`AlgorithmSpec` here (plus, if it has a fixed-point theory,
one adapter in :mod:`aimc_theory.symbolic.fixed_points`, named by string so that the numeric path
never imports the symbolic module). The command line builds its flags, its ``--algorithm``
choices, its dispatch and its "option does not apply" errors from this table; the claims and the
network path build algorithms through :func:`build` as well.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Protocol

import numpy as np

from . import algorithms, residual_learning as rl, tracking, transfer_compounds as tc
from .device import Device
from .errors import InputError


@dataclass(frozen=True)
class Option:
    """An algorithm option: its keyword, default, help text, type and valid range (the CLI flag is --NAME;
    ``valid`` as in :class:`aimc_theory.parameters.Parameter`: "> 0", ">= 0", "(0, 1]", ... or None for any
    finite value)."""

    name: str
    default: float | int
    help: str
    kind: type = float
    valid: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


OPTIONS: dict[str, Option] = {o.name: o for o in (
    Option("gamma", 0.4, "mixing weight: W_bar = W + gamma P (RL), W + gamma c (P - Q) (RIDER), C + gamma c A "
           "(transfer compounds)", valid=">= 0"),
    Option("beta", 0.005, "transfer rate (RL v1, RIDER) / EMA weight of the buffer (RL v2)", valid="> 0"),
    Option("eta", 0.01, "EMA weight of the SP estimate, Q <- (1 - eta) Q + eta P (RIDER, E-RIDER)",
           valid="(0, 1]"),
    Option("chop_prob", 0.05, "chopper flip probability per step (E-RIDER; P2 uses 0.05)", valid="[0, 1]"),
    Option("transfer_every", 1, "steps between two transfers (RL v1)", int, valid=">= 1"),
    Option("columns_per_transfer", 0, "columns of P read per transfer, cyclic pointer; 0 = all (RL v1; TT-v2's "
           "n_reads_per_transfer per step)", int,
           valid=">= 0"),
    Option("read_noise", 0.0, "std of the noise when reading P (A) for the transfer (RL v1, v2, transfer "
           "compounds)", valid=">= 0"),
    Option("q0", 0.0, "initial SP estimate Q_0; P starts there too (RIDER, E-RIDER)"),
    Option("threshold", 1e-3, "transfer threshold = main-array pulse size dw_min (RL v2)", valid="> 0"),
    # aihwkit's transfer compounds (tt-v2, agad, e-rider-chopped); defaults per algorithm: P2's FCN column
    Option("fast_lr", 0.5, "learning rate of the fast array A, absolute (aihwkit fast_lr, scale_fast_lr=False); "
           "--lr is the global lr that scales the transfer", valid="> 0"),
    Option("transfer_lr", 0.05, "transfer rate relative to --lr (aihwkit transfer_lr, scale_transfer_lr=True; "
           "times gamma when gamma > 0)", valid="> 0"),
    Option("in_chop_prob", 0.05, "input chopper flip probability per column read (e-rider-chopped: random "
           "flips; agad: a flip every max(ceil(1/p), 2) passes)", valid="[0, 1]"),
    Option("auto_granularity", 1000.0, "buffer granularity = dw_min(A) x this / columns; 0: dw_min(A)",
           valid=">= 0"),
    Option("tail_weightening", 5.0, "AGAD: running-mean weight of A's reads, min(this / period, 1)", valid="> 0"),
    Option("thres_scale", 0.8, "TT-v2: buffer threshold in units of dw_min(C)", valid="> 0"),
    Option("momentum", 0.1, "buffer fraction kept after a transfer write", valid="[0, 1]"),
    Option("forget_buffer", 1, "1: buffer <- momentum x buffer after a write; 0: minus (1 - momentum) x the "
           "write", int, valid="[0, 1]"),
    Option("transfer_bl", 1, "most pulses per element and column read (aihwkit transfer_update.desired_bl)", int,
           valid=">= 1"),
    Option("auto_scale", 0, "1: A's rate is fast_lr x desired_bl x dw_min(A) / (running max|x| x running max|d|) per "
           "sample, a pulse count that ignores the gradient's size (aihwkit auto_scale, on in its build_config for "
           "c-TTv2 and AGAD); 0: fast_lr absolute", int, valid="[0, 1]"),
    Option("granularity", 1e-3, "weight granularity (pulse size) of an array simulated without pulses (the "
           "transfer compounds' buffer unit and write pulse; --dw-min sets it)", valid="> 0"),
)}


class FixedPointResult(Protocol):
    """What a fixed-point theory returns (:mod:`aimc_theory.symbolic.fixed_points`): ``exact`` the weight
    the algorithm's mean dynamics settle at, ``notes`` what the derivation did not finish, ``as_dict()``
    its JSON keys."""

    exact: float
    notes: list

    def as_dict(self) -> dict: ...


@dataclass(frozen=True)
class AlgorithmSpec:
    """The whole description of an algorithm.

    ``build(lr, array, main, seed, *, option...)`` makes it: ``array`` is the device of ``response`` (the residual
    array P of a two-array algorithm), ``main`` the main array W's (two-array algorithms only); its keyword-only
    parameters ARE the algorithm's options (:attr:`options`; their defaults and help in :data:`OPTIONS`,
    ``defaults`` the (option, value) pairs where this algorithm has its own default). Device roles: ``analog`` is
    False for an algorithm without an analog array (response options do not apply), ``two_arrays`` for a main
    array beside the gradient array, ``main_pulse_threshold`` names the option that is the main array's pulse size
    (``dw_min`` fills it without ``pulses``). Theory: ``fixed_point`` is its fixed-point theory, ``fn(resp, main,
    L, w_star, noise, lr, w0, **options)`` returning a :class:`FixedPointResult`, and ``population_theory`` the
    one giving each drawn device's fixed point under device-to-device variation (see
    :mod:`aimc_theory.symbolic.fixed_points` for both signatures); the built-ins name their adapter in that module
    by string, so that the numeric path never imports the symbolic module. ``final_keys(params, state)`` adds JSON
    keys about the final state. The step-size bound follows from the roles: the largest pulse response near where
    the array that takes the gradient lives (the residual array near its start, one array near w*),
    see :func:`aimc_theory.objectives.ScalarQuadratic.check_step`."""

    name: str
    summary: str
    build: Callable[..., algorithms.Algorithm]
    two_arrays: bool = False
    fixed_point: str | Callable | None = None
    final_keys: Callable[[np.ndarray, object], dict] | None = None
    analog: bool = True
    main_pulse_threshold: str | None = None
    population_theory: str | Callable | None = None
    theory_uses_w0: bool = False      # the fixed point depends on the initial (main) weight
    defaults: tuple = ()              # (option, value) pairs: this algorithm's own defaults (else OPTIONS')
    # (option, value) pairs ``train`` uses instead of the defaults above on networks, and where they come from
    # (train prints it); the scalar commands (simulate, fixed-point, cost, sweep's points) never use them
    network_defaults: tuple = ()
    network_source: str = ""

    @property
    def options(self) -> tuple[str, ...]:
        """The algorithm's options: the keyword-only parameters of :attr:`build`."""
        return _keyword_only(self.build)


@lru_cache(maxsize=None)
def _keyword_only(build: Callable) -> tuple[str, ...]:
    # inspect.signature per call cost ~0.5 s of every command's start (the parser's help texts ask ~6500 times)
    return tuple(n for n, p in inspect.signature(build).parameters.items() if p.kind is p.KEYWORD_ONLY)


def default(name: str, option: str, network: bool = False):
    """The default of ``option`` for algorithm ``name``: with ``network`` its network default
    (:attr:`AlgorithmSpec.network_defaults`, what ``train`` uses), else its own (:attr:`AlgorithmSpec.defaults`),
    else the option's."""
    s = spec(name)
    own = dict(s.defaults) | (dict(s.network_defaults) if network else {})
    return own.get(option, OPTIONS[option].default)


def network_defaults(name: str) -> dict:
    """The options ``train`` sets for algorithm ``name`` on networks instead of its scalar defaults (empty for
    most algorithms; :attr:`AlgorithmSpec.network_source` says where they come from)."""
    return dict(spec(name).network_defaults)


def defaults_text(option: str, network: bool = False) -> str:
    """"default X; the algorithms that take it", or with defaults of their own "default X: a, b; Y: c" (with
    ``network``: the defaults ``train`` uses)."""
    users = [n for n, s in ALGORITHMS.items() if option in s.options]
    values: dict = {}
    for n in users:
        values.setdefault(default(n, option, network), []).append(n)
    if len(values) <= 1:
        return f"default {OPTIONS[option].default if not values else next(iter(values)):g}; {', '.join(users)}"
    return "default " + "; ".join(f"{v:g}: {', '.join(ns)}" for v, ns in values.items())


def _tracking_keys(params, state) -> dict:
    return {"final_main": float(params.mean()), "final_reference": float(state.Q.mean()),
            "final_residual": float(state.P.mean())}


def _compound_keys(params, state) -> dict:
    return {"final_main": float(params.mean()), "final_fast": float(state.A.mean()),
            "transfer_pulses": float(state.pulses.sum(axis=-1).mean())}


def _digital_sgd(lr, array, main, seed):
    return algorithms.digital_sgd(lr)


def _analog_sgd(lr, array, main, seed):
    return algorithms.analog_sgd(lr, array)


def _residual_learning(lr, array, main, seed, *, gamma, beta, transfer_every, read_noise, columns_per_transfer):
    return rl.residual_learning(lr, beta, gamma, array, main, transfer_every=transfer_every, read_noise=read_noise,
                                columns_per_transfer=columns_per_transfer or None)


def _residual_learning_v2(lr, array, main, seed, *, gamma, beta, read_noise, threshold):
    return rl.residual_learning_v2(lr, beta, gamma, array, main, read_noise=read_noise, dw_min=threshold)


def _rider(lr, array, main, seed, *, gamma, beta, eta, q0):
    return tracking.rider(lr, beta, gamma, eta, array, main, chop_prob=0.0, q0=q0)


def _e_rider(lr, array, main, seed, *, gamma, beta, eta, chop_prob, q0):
    return tracking.rider(lr, beta, gamma, eta, array, main, chop_prob=chop_prob, q0=q0,
                          chopper_seed=[int(seed), 0xC40])


def _tt_v2(lr, array, main, seed, *, fast_lr, transfer_lr, gamma, thres_scale, momentum, forget_buffer, transfer_bl,
           columns_per_transfer, read_noise, granularity):
    return tc.tt_v2(lr, array, main, fast_lr=fast_lr, transfer_lr=transfer_lr, gamma=gamma, thres_scale=thres_scale,
                    momentum=momentum, forget_buffer=forget_buffer, transfer_bl=transfer_bl,
                    columns_per_transfer=columns_per_transfer, read_noise=read_noise, granularity=granularity)


def _agad(lr, array, main, seed, *, fast_lr, transfer_lr, in_chop_prob, gamma, tail_weightening, auto_granularity,
          momentum, forget_buffer, transfer_bl, read_noise, granularity, auto_scale):
    return tc.agad(lr, array, main, fast_lr=fast_lr, transfer_lr=transfer_lr, in_chop_prob=in_chop_prob, gamma=gamma,
                   tail_weightening=tail_weightening, auto_granularity=auto_granularity, momentum=momentum,
                   forget_buffer=forget_buffer, transfer_bl=transfer_bl, read_noise=read_noise,
                   granularity=granularity, auto_scale=auto_scale)


def _e_rider_chopped(lr, array, main, seed, *, fast_lr, transfer_lr, in_chop_prob, gamma, auto_granularity, momentum,
                     forget_buffer, transfer_bl, read_noise, granularity, auto_scale):
    return tc.e_rider_chopped(lr, array, main, fast_lr=fast_lr, transfer_lr=transfer_lr, in_chop_prob=in_chop_prob,
                              gamma=gamma, auto_granularity=auto_granularity, momentum=momentum,
                              forget_buffer=forget_buffer, transfer_bl=transfer_bl, read_noise=read_noise,
                              granularity=granularity, chopper_seed=[int(seed), 0xC40], auto_scale=auto_scale)


ALGORITHMS: dict[str, AlgorithmSpec] = {s.name: s for s in (
    AlgorithmSpec("digital-sgd", "W <- W - lr g (floating-point weights)", _digital_sgd, fixed_point="digital_sgd",
                  analog=False),
    AlgorithmSpec("analog-sgd", "W <- U_q(W, -lr g) = W - lr g F - lr |g| G (P1 eq. 2)", _analog_sgd,
                  fixed_point="analog_sgd", population_theory="population_analog_sgd"),
    AlgorithmSpec("residual-learning", "RL v1 / Tiki-Taka: P <- U(P, -lr g(W + gamma P)), W <- U(W, beta P) "
                  "(P1 eq. 10-11)", _residual_learning, two_arrays=True, fixed_point="residual_learning",
                  population_theory="population_residual_learning"),
    AlgorithmSpec("residual-learning-v2", "RL v2: digital EMA buffer H of P, one threshold pulse to W "
                  "(P1 section 5)", _residual_learning_v2, two_arrays=True, main_pulse_threshold="threshold"),
    AlgorithmSpec("rider", "RIDER: RL with a digital SP estimate Q <- EMA(P) (P2 Algorithm 2, eq. 11-12)", _rider,
                  two_arrays=True, fixed_point="rider", final_keys=_tracking_keys, theory_uses_w0=True,
                  network_defaults=(("gamma", 0.1), ("beta", 0.1), ("eta", 0.03)),
                  network_source="gamma: P2's FCN mixing weight (arXiv 2602.21321 Table 5, E-RIDER's gamma; P2 ran "
                                 "no RIDER network); beta, eta: measured on digits (docs/cli.md, train), P2's rates "
                                 "do not map"),
    AlgorithmSpec("e-rider", "E-RIDER: RIDER with a chopper and a filtered reference (P2 Algorithm 3, "
                  "eq. 17-18)", _e_rider, two_arrays=True, final_keys=_tracking_keys,
                  network_defaults=(("gamma", 0.1), ("beta", 0.1), ("eta", 0.3), ("chop_prob", 0.05)),
                  network_source="gamma, chop-prob: P2's FCN values (arXiv 2602.21321 Table 5: gamma, in_chop_prob "
                                 "per read); beta, eta: measured on digits (docs/cli.md, train), P2's rates do not "
                                 "map"),
    # the reference simulator's compounds as P2 ran them (defaults: P2's FCN hyperparameters, Table 5)
    AlgorithmSpec("tt-v2", "TT-v2 as aihwkit's BufferedTransferCompound: one column of A per step into a digital "
                  "buffer, thresholded pulses to C (P2's baseline)", _tt_v2, two_arrays=True,
                  final_keys=_compound_keys, main_pulse_threshold="granularity",
                  defaults=(("fast_lr", 0.03), ("transfer_lr", 0.01), ("gamma", 0.0), ("thres_scale", 0.8),
                            ("momentum", 0.1), ("columns_per_transfer", 1))),
    AlgorithmSpec("agad", "AGAD as aihwkit's DynamicTransferCompound: per-column choppers, reads against A's mean "
                  "over the previous chopper period (P2's baseline)", _agad, two_arrays=True,
                  final_keys=_compound_keys, main_pulse_threshold="granularity",
                  defaults=(("fast_lr", 0.05), ("transfer_lr", 0.3), ("in_chop_prob", 0.1), ("gamma", 0.0),
                            ("auto_granularity", 0.0), ("momentum", 0.0))),
    AlgorithmSpec("e-rider-chopped", "E-RIDER as aihwkit's ChoppedTransferCompound, as P2's experiments ran it "
                  "(per-column choppers, buffered thresholded transfer; the equations are e-rider)", _e_rider_chopped,
                  two_arrays=True, final_keys=_compound_keys, main_pulse_threshold="granularity",
                  defaults=(("fast_lr", 0.5), ("transfer_lr", 0.05), ("in_chop_prob", 0.05), ("gamma", 0.1),
                            ("auto_granularity", 1000.0), ("momentum", 0.0))),
)}


def register(spec: AlgorithmSpec, options: tuple = ()) -> AlgorithmSpec:
    """Add an algorithm (and any new :class:`Option` it takes) to the registry: it then appears in
    simulate, fixed-point (with a ``fixed_point`` theory), sweep and train, and in their parameter tables.

    Parameters
    ----------
    spec : AlgorithmSpec
        Its name must be new; every keyword-only parameter of ``spec.build`` must be in :data:`OPTIONS`
        or in ``options``.
    options : tuple of Option
        New options the algorithm takes.

    Returns
    -------
    AlgorithmSpec
    """
    if spec.name in ALGORITHMS:
        raise InputError("algorithm", f"{spec.name!r} is already registered")
    for o in options:
        if o.name in OPTIONS and OPTIONS[o.name] != o:
            raise InputError(o.name, "an option of that name exists with another default or help")
        OPTIONS[o.name] = o
    missing = [o for o in spec.options if o not in OPTIONS]
    if missing:
        raise InputError(missing[0], f"option of {spec.name} without an Option entry (default, help)")
    foreign = [o for o, _ in spec.network_defaults if o not in spec.options]
    if foreign:
        raise InputError(foreign[0], f"a network default of {spec.name} that it does not take")
    ALGORITHMS[spec.name] = spec
    return spec


def spec(name: str) -> AlgorithmSpec:
    if name not in ALGORITHMS:
        raise InputError("algorithm", f"must be one of {', '.join(ALGORITHMS)} (got {name!r})")
    return ALGORITHMS[name]


def with_defaults(name: str, options: dict, network: bool = False) -> dict:
    """All options of ``name``: the given ones, the algorithm's own defaults (:attr:`AlgorithmSpec.defaults`;
    with ``network`` its :attr:`AlgorithmSpec.network_defaults` first, as ``train`` runs it) or those of
    :data:`OPTIONS` for the rest. An option the algorithm does not take is an error naming its flag (never
    silently ignored)."""
    s = spec(name)
    unknown = sorted(set(options) - set(s.options))
    if unknown:
        raise InputError(unknown[0],
                         f"does not apply to {name}; its options: "
                         + (", ".join(OPTIONS[o].flag for o in s.options) or "none"))
    own = dict(s.defaults) | (dict(s.network_defaults) if network else {})
    return {o: OPTIONS[o].kind(options[o]) if o in options else own.get(o, OPTIONS[o].default) for o in s.options}


def build(name: str, lr: float, array: Device, main: Device | None = None, seed: int = 0,
          **options) -> algorithms.Algorithm:
    """The algorithm ``name`` with ``options`` (defaults from :data:`OPTIONS` for the rest).

    Parameters
    ----------
    name : str
        A key of :data:`ALGORITHMS` (digital-sgd, analog-sgd, residual-learning, residual-learning-v2,
        rider, e-rider, and aihwkit's compounds tt-v2, agad, e-rider-chopped).
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
        raise InputError("main_response", f"{name} needs the main array's device")
    return s.build(lr, array, main, seed, **kwargs)
