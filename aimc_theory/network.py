"""The torch-free network path: NumPy networks whose weight matrices are analog tiles.

Networks (:mod:`aimc_theory.architectures`, arXiv 2502.06309 App. K.3): the FCN 784-256-128-10 (sigmoid)
and the CNN (two 5x5 convolutions through im2col, max-pooling, tanh). Each tile's gradient is handed to
the update rule as its rank-1 factors (:class:`~aimc_theory.pulse_trains.Rank1Batch`, one row per
sample, or per sample and position for a convolution): a pulse-train device writes it row by row as the
hardware does, an expected-update device writes the summed gradient. Every weight matrix is one
tile with its own device(s) and its own state of the *same* update rule the scalar simulations use (built
by :func:`aimc_theory.registry.build`; the weights are the algorithm's params with one chain). Biases are
digital. Two shortcuts keep the same updates (tested): digital SGD writes W - lr sum delta a^T with one BLAS
call into W, and the update rule may write its weights and its state in place (``Rank1Batch.inplace``: the
update replaces them; a pulse-train device, an expected-update device with an affine response, Residual Learning's
read-out array). Training runs with one BLAS thread by default (``blas_threads``).

Optionally (``periphery``, :mod:`aimc_theory.periphery`, off by default) the reference simulator's tile periphery:
a layer split into several tiles (each its own devices, state and learned output scale), the IO of every read and
the mapping of the weights onto the conductance range; and (``lr_schedule``, off by default) the step schedule of
the learning rate the authors' scripts use (torch's ``StepLR``).

Learning rates that follow the optimizer's lr (:data:`FOLLOWS_LR`). In the reference simulator the optimizer
(``AnalogSGD``) sets every tile's learning rate to its lr before each update (times the tile's
``mapping_lr_scale``), so a schedule (torch ``StepLR``) and the mapping's lr compensation scale that rate; what it
means depends on the update rule: Analog SGD's step (and digital SGD's); a ``TransferCompound``'s transfer rate
``transfer_lr`` x lr (``scale_transfer_lr``, the default) while an absolute ``fast_lr`` (``scale_fast_lr`` off;
aihwkit 0.9 has only that) stays; the authors' RL-v2 the other way round (``scale_fast_lr`` on,
``scale_transfer_lr`` off). The digital parameters (biases, learned output scales) follow the schedule (torch's
SGD on the same lr) but not the compensation.
"""
from __future__ import annotations

import dataclasses
import sys
import re
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import architectures, costs, registry
from .data import Dataset
from .device import Device
from .errors import InputError, require_int, require_positive
from .periphery import OFF, Periphery, Tiles
from .pulse_trains import Rank1Batch, backend as pulse_backend
from .runtime import blas_threads as _blas_threads, check_bytes, check_memory

DIVERGED = 4.0        # a mean training loss above DIVERGED x log(classes) (the loss of a uniform guess) diverged
LOSS_WINDOW = 50      # batches per divergence check

# the toolkit rates that stand for a tile's learning rate in the reference simulator (module docstring), per
# algorithm: "lr" is train's lr (the rate registry.build takes), other names are the algorithm's options. An
# algorithm not listed: "lr".
FOLLOWS_LR = {
    "digital-sgd": ("lr",), "analog-sgd": ("lr",),
    # TransferCompound with an absolute fast_lr (the toolkit's lr = A's rate) and transfer_lr x lr (beta)
    "residual-learning": ("beta",), "rider": ("beta",), "e-rider": ("beta",),
    # the authors' RL-v2: fast_lr x lr (scale_fast_lr), an absolute transfer rate
    "residual-learning-v2": ("lr",),
    # aihwkit's compounds: train's lr is the global lr, which scales only their transfer (fast_lr is absolute)
    "tt-v2": ("lr",), "agad": ("lr",), "e-rider-chopped": ("lr",),
}


@dataclass(frozen=True)
class TrainResult:
    algorithm: str
    test_accuracy: float
    train_loss: list            # mean training loss per epoch
    test_curve: list            # test accuracy after each epoch
    seconds_per_epoch: list
    seed: int
    final_weights: list = field(repr=False, default_factory=list)
    periphery: dict = field(default_factory=lambda: OFF.as_dict())   # the tile periphery's settings
    init: str = "glorot"
    out_scale: list = field(default_factory=list)   # per epoch: the mean learned output scale of every layer
    mapping_scale: list = field(default_factory=list)   # per layer: the mean mapping scale m (weight mapping only)
    transfer_pulses: list = field(default_factory=list)  # per epoch: pulses written to C per weight, every layer
    lr_schedule: tuple | None = None                # (step_size, gamma) of the step schedule, None: constant

    def as_dict(self) -> dict:
        out = {"algorithm": self.algorithm, "test_accuracy": self.test_accuracy, "train_loss": self.train_loss,
               "test_accuracy_per_epoch": self.test_curve, "seconds_per_epoch": self.seconds_per_epoch,
               "seed": self.seed, "periphery": self.periphery, "init": self.init,
               "out_scale_per_epoch": self.out_scale}
        if self.mapping_scale:
            out["mapping_scale_per_layer"] = self.mapping_scale
        if self.transfer_pulses:
            out["transfer_pulses_per_epoch"] = self.transfer_pulses
        if self.lr_schedule is not None:
            out["lr_schedule"] = {"step_size": self.lr_schedule[0], "gamma": self.lr_schedule[1]}
        return out


def train(dataset: Dataset, algorithm: str, device: Device, main: Device | None = None, *, epochs: int = 1,
          batch_size: int = 10, lr: float = 0.05, seed: int = 0, hidden=(256, 128), architecture: str = "fcn",
          options: dict | None = None,
          digital_lr: float | None = None, reference_offset: tuple[float, float] | None = None,
          variation=None, progress: Callable[[str], None] | None = None, backend: str = "numpy",
          blas_threads: int | None = 1, periphery: Periphery | None = None, init: str = "glorot",
          lr_schedule: tuple[int, float] | None = None) -> TrainResult:
    """Train ``architecture`` ("fcn" with ``hidden`` sizes, or "cnn") with ``algorithm`` on every weight
    matrix (each layer its own tile and state).

    Parameters
    ----------
    dataset : Dataset
        From :mod:`aimc_theory.data` (``fashion_mnist()``, ``digits()``, ``load(path)``).
    algorithm : str
        A name of :data:`aimc_theory.registry.ALGORITHMS`.
    device, main : Device
        The gradient (residual) array's device and, for two-array algorithms, the main array's
        (default ideal). A ``trains`` device writes per-sample pulse trains.
    epochs, batch_size : int
    lr, digital_lr : float
        Learning rate of the gradient array, and of the digital biases (default ``lr``).
    seed : int
        Seeds weights, data order, devices' draws and the algorithms; same seed, same bits.
    hidden : tuple of int
        Hidden widths of the FCN (P1: 256, 128).
    architecture : {"fcn", "cnn"}
        See :func:`aimc_theory.architectures.build`.
    options : dict, optional
        Algorithm options (gamma, beta, ...).
    reference_offset : (mean, std), optional
        Per-entry reference offset of the gradient array, drawn N(mean, std^2) (see below).
    variation : Variation or PresetVariation, optional
        Device-to-device variation, drawn per element of every analog array (a preset's: of the arrays made
        of that preset's devices).
    progress : callable(str), optional
        Receives a progress line (samples/s, loss) about twice a second.
    backend : {"numpy", "numba"}
        Where pulse-train writes run (:func:`aimc_theory.pulse_trains.backend`): NumPy (the reference) or the
        optional compiled kernels (extra ``fast``): the same bits for an affine response with additive or no cycle
        noise, otherwise the same pulse model with other random bits. Needs a pulse-train device.
    blas_threads : int or None
        BLAS threads during training (default 1, restored afterwards; None leaves them alone). The matrices
        of a mini-batch of 10 are too small for threads to pay off, and on a machine shared with other jobs
        a second BLAS thread waits for a busy core: measured 10-30x slower epochs (:mod:`aimc_theory.runtime`).
    periphery : Periphery, optional
        The reference simulator's tile periphery (:mod:`aimc_theory.periphery`): a learned output scale per
        tile, IO (DAC, ADC, output noise, noise and bound management) on the forward and backward reads, and
        the split of a layer into tiles of at most ``max_input_size`` columns (each tile its own devices,
        update-rule state and output scale), and the mapping of every tile's weights to +-``weight_scaling_omega``
        of the range (a fixed digital scale per tile or row; the update's error divided by it). Default (None or
        :data:`aimc_theory.periphery.OFF`): none, the same bits as without it. Its IO noise draws from a stream of
        its own, seeded by ``seed``.
    init : {"glorot", "torch"}
        Initial weights: Glorot-uniform with zero biases, or torch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        for weights and biases (:meth:`aimc_theory.architectures.Architecture.init`).
    lr_schedule : (step_size, gamma), optional
        torch's ``StepLR(step_size, gamma)`` as the authors' scripts step it (once per epoch): epoch e (from 0)
        trains with every rate that follows the optimizer's lr (:data:`FOLLOWS_LR`) and the digital lr times
        gamma^(e // step_size). Default None: constant rates (the same bits as before the option existed).

    Returns
    -------
    TrainResult
        ``test_accuracy``, ``train_loss`` and ``test_curve`` per epoch, ``seconds_per_epoch``,
        ``final_weights`` (the logical weights: each tile's weights times its mapping and output scales), the
        periphery's settings, ``init`` and ``out_scale`` (per epoch, the mean learned output scale of every layer;
        empty without ``out_scaling``), ``mapping_scale`` (the mean mapping scale m of every layer; empty without
        mapping), ``transfer_pulses`` (per epoch and layer, the pulses written to C per weight so far, for the
        compounds tt-v2, agad, e-rider-chopped; else empty) and ``lr_schedule``.

    ``reference_offset`` = (mean, std): the gradient array (the residual array of two-array algorithms)
    of every layer gets a per-element reference error drawn N(mean, std^2) (P2 Tables 1-2), seeded.
    ``variation``: a :class:`~aimc_theory.variation.Variation`: every element of every analog array
    (both arrays of a two-array algorithm) gets its own step scales (P2 eq. 103-104), seeded; a
    :class:`~aimc_theory.presets.PresetVariation`: every element of the arrays whose response is that preset
    gets its own step scales, bounds, slopes and reference error as the reference simulator draws them."""
    epochs = require_int("epochs", epochs)
    batch_size = require_int("batch_size", batch_size)
    lr = require_positive("lr", lr)
    from .simulation import check_seed
    seed = check_seed(seed)
    lr_schedule = check_lr_schedule(lr_schedule)
    net = check_training_size(dataset, architecture, hidden, device, main, batch_size)
    check_network_pulses(device, lr)
    spec = registry.spec(algorithm)
    host = visible_array(algorithm, device, main)           # the array that holds the visible weights
    if spec.two_arrays:
        main = host                                         # an ideal main array where none is given
    periphery = OFF if periphery is None else periphery
    if not isinstance(periphery, Periphery):
        raise InputError("periphery", f"must be an aimc_theory.periphery.Periphery (got {periphery!r:.60})")
    rng = np.random.default_rng(seed)
    layers = net.init(rng, method=init)
    if periphery.mapping:
        check_mapping(host, periphery)
    elif not all(np.all((W > host.response.lo) & (W < host.response.hi)) for W, _ in layers):
        raise InputError("response", f"the initial weights (|w| up to {max(np.abs(W).max() for W, _ in layers):.3g}) "
                                       f"do not fit the weight range ({host.response.lo:g}, {host.response.hi:g})")
    shapes = [W.shape for W, _ in layers]
    # the units written: one tile per layer, or the periphery's tiles (each its own devices, state and scale)
    tiles = Tiles(periphery, shapes, np.random.default_rng([seed, 0x10])) if periphery.active else None
    layout = tiles.layout if tiles is not None else [[(slice(None), slice(None))] for _ in layers]
    units = [(k, rs, cs) for k, lay in enumerate(layout) for rs, cs in lay]
    by_layer = [[u for u, unit in enumerate(units) if unit[0] == k] for k in range(len(layers))]
    if periphery.mapping:       # each tile stores W0 / m_t (aihwkit apply_weight_scaling)
        blocks = [tiles.map_weights(k, t, layers[k][0][rs, cs])
                  for k, lay in enumerate(layout) for t, (rs, cs) in enumerate(lay)]
        lr_scales = [tiles.lr_scale(k, t) for k, lay in enumerate(layout) for t in range(len(lay))]
    else:
        blocks = [layers[k][0][rs, cs] for k, rs, cs in units]
        lr_scales = [1.0] * len(units)
    devices = [device] * len(units)
    if reference_offset is not None:
        mean, std = float(reference_offset[0]), float(reference_offset[1])
        if not (np.isfinite(mean) and np.isfinite(std) and std >= 0):
            raise InputError("ref_std", f"the reference offset needs a finite mean and std >= 0 (got {mean}, {std})")
        off_rng = np.random.default_rng([seed, 0x0FF5E7])
        devices = [dataclasses.replace(device, offset=mean + std * off_rng.standard_normal((1, B.size)))
                   for B in blocks]
    mains = [main] * len(units)
    if variation is not None:
        var_rng = np.random.default_rng([seed, 0xD2D])
        devices = [_varied(d, variation, B.size, var_rng) for d, B in zip(devices, blocks)]
        if spec.two_arrays:
            mains = [_varied(main, variation, B.size, var_rng) for B in blocks]

    def build(u: int, factor: float):
        """Unit u's update rule with the rates that follow the optimizer's lr times ``factor`` (the schedule's
        and the mapping's lr scale; 1: the rule as given)."""
        if factor == 1.0:
            return registry.build(algorithm, lr, devices[u], mains[u], seed=seed + u, **(options or {}))
        rate, opts = scaled_rates(algorithm, lr, options, factor)
        return registry.build(algorithm, rate, devices[u], mains[u], seed=seed + u, **opts)

    algs = [build(u, lr_scales[u]) for u in range(len(units))]
    unit_lr = [lr * s for s in lr_scales]          # the tiles' rates of digital SGD's in-place update
    params = [B.reshape(1, -1).copy() for B in blocks]
    biases = [b.copy() for _, b in layers]
    states = [alg.init(p) for alg, p in zip(algs, params)]
    tile_shapes = [B.shape for B in blocks]
    b_lr = digital_lr if digital_lr is not None else lr

    def current():
        if tiles is None:
            return [(alg.readout(p, s).reshape(shape), b) for alg, p, s, shape, b in
                    zip(algs, params, states, tile_shapes, biases)]
        out = []
        for k, shape in enumerate(shapes):
            W = np.empty(shape)
            for u in by_layer[k]:
                W[units[u][1:]] = algs[u].readout(params[u], states[u]).reshape(tile_shapes[u])
            out.append((W, biases[k]))
        return out

    def logical():
        """The layers' weights as the network uses them: each tile's times its mapping and output scales."""
        out = current()
        if tiles is not None and (periphery.out_scaling or periphery.mapping):
            for k, (W, _) in enumerate(out):
                tiles.logical(k, W)
        return out

    def pulses_to_c() -> list:
        """Per layer, the pulses the compounds' transfers wrote to C so far per weight ([] for other rules)."""
        if not all(getattr(st, "pulses", None) is not None for st in states):
            return []
        return [float(sum(states[u].pulses.sum() for u in by_layer[k]) / (shapes[k][0] * shapes[k][1]))
                for k in range(len(shapes))]

    n = dataset.x_train.shape[0]
    losses, tests, secs = [], [], []
    scales = []                 # per epoch, the mean learned output scale of every layer
    pulses = []                 # per epoch, the pulses written to C per weight of every layer (compounds)
    factor = 1.0                # the schedule's factor on the rates that follow the optimizer's lr
    mapped = tiles.mean_mapping() if tiles is not None else []
    if tiles is not None:
        tiles.record = periphery.out_scaling        # the reads feed the output scales' gradient
    if backend != "numpy" and not any(d is not None and d.trains is not None for d in devices + mains):
        raise InputError("backend", "the numba backend runs pulse-train writes; this run has no pulse-train device "
                                    "(Device(..., trains=PulseTrains()))")
    # digital SGD: W <- W - lr sum_r delta_r a_r^T as one BLAS call into W (algorithms.digital_sgd's update,
    # to rounding; the dense epoch is then the BLAS bound). SciPy's BLAS loads before its threads are set.
    dgemm = _dgemm() if algorithm == "digital-sgd" else None

    def finished():     # Ctrl-C: the finished epochs, a shorter run (no final weights: they are mid-epoch)
        d = min(len(tests), len(scales)) if periphery.out_scaling else len(tests)
        return (TrainResult(algorithm, tests[d - 1], losses[:d], tests[:d], secs[:d], seed, [], periphery.as_dict(),
                            init, scales[:d], mapped, pulses[:d], lr_schedule) if d else None), \
            f"{d} of {epochs} epochs of {algorithm} (seed {seed})"
    from .simulation import keeping     # raises simulation.Interrupted with .partial (the TrainResult or None)
    with pulse_backend(backend), _blas_threads(blas_threads), keeping(finished):
        for epoch in range(epochs):
            if lr_schedule is not None and lr_schedule[1] ** (epoch // lr_schedule[0]) != factor:
                factor = lr_schedule[1] ** (epoch // lr_schedule[0])     # StepLR: the rates of this epoch
                algs = [build(u, factor * lr_scales[u]) for u in range(len(units))]
            e_lr = [x * factor for x in unit_lr] if factor != 1.0 else unit_lr
            e_blr = b_lr * factor if factor != 1.0 else b_lr
            order = rng.permutation(n)
            t0 = time.perf_counter()
            total, count, last = 0.0, 0, t0
            window, window_n = 0.0, 0
            for i in range(0, n - batch_size + 1, batch_size):
                idx = order[i:i + batch_size]
                loss, grads = net.loss_and_grads(current(), dataset.x_train[idx], dataset.y_train[idx], tiles)
                if not np.isfinite(loss):
                    raise InputError("lr", f"training diverged (loss {loss}) in epoch {epoch + 1}; use a smaller lr")
                total += loss * idx.size
                count += idx.size
                window += loss
                window_n += 1
                if window_n == LOSS_WINDOW or i + 2 * batch_size > n:
                    _check_diverged(window / window_n, dataset.n_classes, epoch, count, lr)
                    window, window_n = 0.0, 0
                for k, (a, delta) in enumerate(grads):
                    # every tile of layer k with its factors (a[:, C_t], alpha_t delta[:, R_t])
                    for u, (a_u, d_u) in zip(by_layer[k], tiles.factors(k, a, delta) if tiles else ((a, delta),)):
                        if not (dgemm and _sgd_in_place(dgemm, params[u].reshape(tile_shapes[u]), a_u, d_u,
                                                        e_lr[u])):
                            # params[u] and states[u] are replaced by the update: it may write them in place
                            g = Rank1Batch(a_u[None], d_u[None], inplace=True)
                            params[u], states[u] = algs[u].update(g, states[u], params[u], rng)
                    if tiles is not None:
                        tiles.step_scales(k, delta, e_blr)         # after the tiles used the old scales
                    biases[k] -= e_blr * delta.sum(axis=0)
                now = time.perf_counter()
                if progress and now - last > 0.5:
                    last = now
                    progress(_bar(epoch, epochs, count, n, count / (now - t0), total / count))
            secs.append(time.perf_counter() - t0)
            losses.append(total / max(count, 1))
            tests.append(net.accuracy(current(), dataset.x_test, dataset.y_test, mvm=tiles))
            if periphery.out_scaling:
                scales.append(tiles.mean_scales())
            written = pulses_to_c()
            if written:
                pulses.append(written)
            if progress:
                progress(_bar(epoch, epochs, n, n, n / secs[-1], losses[-1]) + f" test acc {tests[-1]:.4f}\n")
    return TrainResult(algorithm, tests[-1], losses, tests, secs, seed, logical(), periphery.as_dict(), init, scales,
                       mapped, pulses, lr_schedule)


def check_lr_schedule(schedule) -> tuple[int, float] | None:
    """``(step_size, gamma)`` checked: step_size an integer >= 1 (epochs), gamma a number in (0, 1] (torch's StepLR;
    the authors': 15, 0.5); None passes."""
    if schedule is None:
        return None
    try:
        step, gamma = schedule
    except (TypeError, ValueError):
        raise InputError("lr_schedule", f"must be (step_size, gamma), e.g. (15, 0.5) (got {schedule!r})") from None
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise InputError("lr_schedule", f"step_size must be an integer >= 1 (epochs between two decays) "
                                        f"(got {step!r})")
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.number)) or not np.isfinite(gamma) \
            or not 0 < gamma <= 1:
        raise InputError("lr_schedule", f"gamma must be a number in (0, 1], the factor per step (got {gamma!r})")
    return int(step), float(gamma)


def scaled_rates(algorithm: str, lr: float, options: dict | None, factor: float) -> tuple[float, dict]:
    """(lr, options) of ``algorithm`` with the rates that follow the optimizer's lr (:data:`FOLLOWS_LR`) times
    ``factor``; the options complete (the algorithm's defaults filled in)."""
    opts = registry.with_defaults(algorithm, dict(options or {}))
    follows = FOLLOWS_LR.get(algorithm, ("lr",))
    for name in follows:
        if name != "lr":
            opts[name] = opts[name] * factor
    return (lr * factor if "lr" in follows else lr), opts


def check_training_size(dataset, architecture: str, hidden, device: Device, main: Device | None, batch_size: int):
    """The network ``train`` would build, after refusing what cannot train or fit: a batch larger than the
    training set, non-finite images, weights and activations beyond the memory available
    (:func:`check_network_memory`). Returns the built network."""
    n_train = dataset.x_train.shape[0]
    if batch_size > n_train:
        raise InputError("batch_size", f"must be an integer in [1, {n_train}]: the training set of {dataset.name} has "
                                       f"{n_train:,} samples (got {batch_size:,}); a larger batch trains nothing")
    if not np.all(np.isfinite(dataset.x_train)):
        raise InputError("dataset", "the training images contain NaN or inf")
    net = architectures.build(architecture, dataset.n_inputs, dataset.n_classes,
                              tuple(require_int("hidden", h) for h in hidden))
    check_network_memory(net, device, main, batch_size, "hidden" if architecture == "fcn" else "architecture")
    return net


def check_network_memory(net, device: Device, main: Device | None, batch_size: int, param: str = "hidden") -> None:
    """Refuse a network whose training would not fit in memory, before any weight is drawn: the weights times
    the peak bytes per weight measured for the update model (:mod:`aimc_theory.costs`, tiles, states, gradients
    and devices' parameters), and the activations of one mini-batch (inputs, pre-activations, activations
    and their gradients of every layer, 8 bytes each)."""
    weights = sum(int(o) * int(i) for o, i in net.shapes)
    model = "trains" if (device.trains is not None or (main is not None and main.trains is not None)) else \
        "pulse" if (device.dw_min is not None or (main is not None and main.dw_min is not None)) else "expected"
    tiles = ", ".join(f"{o}x{i}" for o, i in net.shapes)
    check_memory(param, weights, costs.NETWORK_BYTES_PER_WEIGHT[model], what=f"weights (tiles {tiles})")
    rows = sum(int(o) for o, _ in net.shapes) + int(np.prod(net.input_shape))
    if any(isinstance(layer, architectures.Conv) for layer in net.layers):      # im2col rows per position
        rows += sum(int(o) * int(i) for o, i in net.shapes)
    check_bytes("batch_size", 4 * 8 * batch_size * rows, f"a mini-batch of {batch_size:,} samples")


def visible_array(algorithm: str, device: Device, main: Device | None) -> Device:
    """The array that holds an algorithm's visible weights: the main array of a two-array algorithm (ideal where
    none is given, as :func:`train` builds it), else ``device``."""
    if not registry.spec(algorithm).two_arrays:
        return device
    return main if main is not None else Device(_ideal())


def check_mapping(host: Device, periphery: Periphery) -> None:
    """The periphery's weight mapping fits ``host``, the array that holds the visible weights: the stored weights
    reach +-omega (the reference simulator clips what does not fit; refused here, before any weight is drawn)."""
    if not periphery.mapping:
        return
    omega, bound = periphery.weight_scaling_omega, min(host.response.hi, -host.response.lo)
    if not omega < bound:
        raise InputError("weight_scaling_omega", f"must lie in (0, {bound:g}): the mapped weights reach +-omega "
                                                 f"and must fit in the weight range ({host.response.lo:g}, "
                                                 f"{host.response.hi:g}) of {host.response.describe()} "
                                                 f"(got {omega:g})")


def check_network_pulses(device: Device, lr: float, cap: int | None = None) -> None:
    """Refuse pulse-level training whose writes need more than ``cap`` (10^6) pulses each: an entry of a
    tile's batch-mean gradient is at most about 1 (softmax errors and sigmoid/tanh activations lie in [-1, 1],
    inputs in [0, 1]), so a write lr |g| takes up to lr / dw_min pulses. Pulse trains (at most desired_bl slots)
    and devices with max_bl are not concerned."""
    from .simulation import MAX_PULSES_PER_WRITE
    cap = MAX_PULSES_PER_WRITE if cap is None else cap
    if device.dw_min is None or device.trains is not None or device.max_bl is not None:
        return
    pulses = lr / float(device.dw_min)
    if pulses > cap:
        raise InputError("dw_min", f"a write of lr |g| (lr = {lr:g}, |g| up to ~1) needs up to {pulses:.3g} pulses "
                                   f"of dw_min = {device.dw_min:g}; the limit is {cap:.0e} pulses per write: use "
                                   f"dw_min >= {lr / cap:.3g}, a smaller lr, or cap the pulses with max_bl")


def _check_diverged(mean_loss: float, classes: int, epoch: int, count: int, lr: float) -> None:
    """Stop when the mean loss of the last batches exceeds DIVERGED x log(classes): the network is far worse
    than a uniform guess, the steps overshoot (analog weights stay finite, clipped at their bounds, so the
    loss does not become NaN; it stays large at chance accuracy)."""
    chance = float(np.log(max(classes, 2)))
    if mean_loss > DIVERGED * chance:
        raise InputError("lr", f"training diverged: mean loss {mean_loss:.4g} over the last batches (epoch "
                               f"{epoch + 1}, {count:,} samples), above {DIVERGED:g} x log({classes}) = "
                               f"{DIVERGED * chance:.3g}, worse than a uniform guess; use a smaller lr (got {lr:g})")


def _dgemm():
    """SciPy's dgemm (imported on first use: the numeric commands start without SciPy), or None."""
    try:
        from scipy.linalg import blas
    except ImportError:            # scipy is a dependency; without it the algorithm's own update runs
        return None
    return blas.dgemm


def _sgd_in_place(dgemm, W: np.ndarray, a: np.ndarray, delta: np.ndarray, lr: float) -> bool:
    """W -= lr delta^T a with one BLAS call that accumulates into W (beta = 1; W (out, in) C-contiguous is
    W^T in Fortran order). False when W cannot be written in place (then the algorithm's update runs)."""
    if not (W.flags.c_contiguous and W.flags.writeable and W.dtype == np.float64):
        return False
    out = dgemm(-lr, np.ascontiguousarray(a, dtype=np.float64).T, np.ascontiguousarray(delta, dtype=np.float64).T,
                beta=1.0, c=W.T, trans_b=1, overwrite_c=1)
    if not np.shares_memory(out, W):
        W[...] = out.T
    return True


def _varied(dev: Device, variation, size: int, rng: np.random.Generator) -> Device:
    preset = getattr(variation, "preset", None)
    if preset is not None and dev.response.name != f"preset:{preset.name}":
        return dev          # a preset's variation belongs to the arrays made of its devices
    return variation.population(size, rng).device(dev, (1, size))


class RunsProgress:
    """``progress(done, total, seconds)`` in samples over a sequence of :func:`train` runs, from the runs' own
    progress lines (:func:`_bar`): ``line`` is the ``progress`` argument of each run, :meth:`next_run` is called
    after each run. ``n`` samples per epoch, ``total`` samples over all runs."""

    _BAR = re.compile(r"epoch (\d+)/(\d+) \[[#.]*\] (\d+)/(\d+)")

    def __init__(self, progress, total: int, n: int):
        self.progress, self.total, self.n, self.base, self.t0 = progress, total, n, 0, time.perf_counter()

    def line(self, text: str) -> None:
        m = self._BAR.search(text)
        if self.progress is not None and m is not None:
            e, _, d, _ = (int(g) for g in m.groups())
            self.progress(self.base + (e - 1) * self.n + min(d, self.n), self.total, time.perf_counter() - self.t0)

    def next_run(self, epochs: int) -> None:
        self.base += epochs * self.n


def _bar(epoch, epochs, done, n, rate, loss) -> str:
    width = 24
    fill = int(width * done / n)
    return (f"\repoch {epoch + 1}/{epochs} [{'#' * fill}{'.' * (width - fill)}] {done}/{n} "
            f"{rate:,.0f} samples/s loss {loss:.4f}")


def _ideal():
    from .response import ideal
    return ideal()


def stderr_progress(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()
