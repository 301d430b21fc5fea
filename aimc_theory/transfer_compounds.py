"""P2's baselines and E-RIDER as the reference simulator runs them (aihwkit's transfer compounds).

P2 (arXiv 2602.21321, Tables 1-5) trained its networks with aihwkit: E-RIDER as a
``ChoppedTransferCompound``, AGAD as a ``DynamicTransferCompound`` and TT-v2 as a
``BufferedTransferCompound``. This module follows those compounds' C++ (``rpu_buffered_transfer_device``,
``rpu_chopped_transfer_device``, ``rpu_dynamic_transfer_device``, ``rpu_transfer_device`` of aihwkit 1.2)
step by step. It is the simulator side; the theory side of E-RIDER is :func:`aimc_theory.tracking.rider`
(P2 eqs. 11-18 as scalar equations: one chopper per tile, a dense transfer every step, a digital SP estimate
Q), which these functions leave unchanged.

Notation. The tile is an out x in matrix; A is the fast array (its :class:`~aimc_theory.device.Device`
``device_a``: the array whose SP is unknown, the one a reference offset moves), C the slow array that holds
the weights (``params``; ``device_c``), H a digital buffer of the tile's shape, c_j = +-1 the input chopper of
column j (c = 1 for TT-v2), dA and dC the arrays' weight granularities (their ``dw_min``; ``granularity``
for an array simulated without pulses). ``lr`` is the global (optimizer) learning rate, P2's "lr":

* the gradient is taken at the read-out W = C + gamma c (.) A (column j of A times c_j);
* A <- U_A(A, -fast_lr g (.) c): every sample's input x_b is multiplied by the choppers, so the chopped
  gradient goes through A's own pulse trains; ``fast_lr`` is absolute (aihwkit's ``fast_lr`` with
  ``scale_fast_lr=False``: the default of ChoppedTransfer and DynamicTransfer in aihwkit 1.2, and the only
  behaviour of every compound on the CPU up to aihwkit 1.1);
* lr_t = transfer_lr lr (gamma if gamma > 0 else 1): ``scale_transfer_lr`` (the default) scales the
  transfer by lr, and BufferedTransfer's ``getTransferLR`` multiplies it by gamma_A / gamma_C = gamma;
* then columns of A are read one at a time, round-robin (pointer j, then j + 1 mod in): v = A[:, j] + read
  noise. E-RIDER and AGAD read one column per sample of the mini-batch (aihwkit's ``transfer_every = 1``
  counted in mat-vecs, ``units_in_mbatch=False``), TT-v2 ``columns_per_transfer`` columns per mini-batch
  (``n_reads_per_transfer``, ``transfer_every = 1`` mini-batch). A dense gradient (the scalar simulations)
  is one sample of a 1 x D tile: every coordinate is a column.

TT-v2 (BufferedTransferCompound; H in weight units, threshold thres_scale dC)::

    H_j += lr_t v;  n = clip(trunc(H_j / (thres_scale dC)), -transfer_bl, transfer_bl)
    C[:, j] gets n pulses;  H_j <- momentum H_j where n != 0  (forget_buffer)
                            or H_j - (1 - momentum) n thres_scale dC  (forget_buffer = 0)

E-RIDER (ChoppedTransferCompound; H in pulses, threshold 1; b = dA auto_granularity / in if
auto_granularity > 0, else dA)::

    H_j += c_j v lr_t / b;  where |H_j| >= 1: n = clip(trunc(H_j), -transfer_bl, transfer_bl) pulses to C,
    H_j <- momentum H_j (forget_buffer) or H_j - (1 - momentum) n;
    then c_j flips with probability in_chop_prob (random chopping, aihwkit's default).

AGAD (DynamicTransferCompound; as E-RIDER with the read's reference): N = max(ceil(1/in_chop_prob), 2)
reads per chopper period, s = min(tail_weightening / N, 1), m the running mean of A's reads, p the reference::

    at the first read after c_j switched: p_j <- m_j
    H_j += c_j (v - p_j) lr_t / b;  threshold and pulses as E-RIDER (C written only after N full passes)
    m_j <- (1 - s) m_j + s v;  c_j flips at the last read of every N-th pass (regular chopping)

so A's own offset (its SP) cancels in v - p_j without a digital SP estimate.

Auto scale (``auto_scale``, aihwkit's ``ChoppedTransferCompound.auto_scale``, on in aihwkit's ``build_config`` for
"ttv3"/"agad" and in the authors' own c-TTv2/AGAD scripts): A's learning rate is not ``fast_lr`` but a pulse count
that ignores the gradient's magnitude. Per sample b (aihwkit ``initUpdateCycle`` then ``getPulseCountLearningRate``)
the running maxima m_x <- (1 - tau) m_x + tau max_j |x_bj| and m_d likewise (tau = (1 - auto_momentum) / B for a
mini-batch of B, the first sample sets them), and the sample is written with lr_b = fast_lr BL dA / (m_x m_d), BL
the update's ``desired_bl`` (the A device's pulse trains; 1 without them): a sample at the running maxima asks for
fast_lr BL pulses. aihwkit's transfer rate is unchanged by it (``correct_gradient_magnitudes`` off). A dense
gradient (a 1 x D tile) is x = g, d = 1.

A transfer's n pulses are applied exactly (aihwkit's transfer update with ``desired_bl = transfer_bl``: with
its default 1 the pulse is deterministic; with more, aihwkit draws stochastic trains with mean n). What the
toolkit does not model: the transfer read's ADC/DAC quantization and output noise (aihwkit's
``transfer_forward`` defaults to out_noise 0.06; give ``read_noise`` for a Gaussian read noise), and the order
inside a mini-batch (aihwkit interleaves one read after each sample's write; here the mini-batch's samples are
written first, then its reads follow, so a chopper flipped inside a mini-batch acts from the next one).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .algorithms import Algorithm
from .device import Device
from .errors import InputError, require_int, require_nonnegative, require_positive
from .pulse_trains import Rank1Batch


@dataclass
class TransferState:
    """A compound's state besides C (``params``)."""

    A: np.ndarray                       # fast array, stored chopped (E-RIDER, AGAD): A_ij = c_j x what it learnt
    H: np.ndarray                       # digital transfer buffer (TT-v2: weight units; E-RIDER, AGAD: pulses)
    shape: tuple | None = None          # the tile (out, in), known from the first gradient
    c: np.ndarray | None = None         # input choppers (chains, in) of +-1 (None: all +1 so far, or TT-v2)
    pointer: int = 0                    # next column to read
    passes: int = 0                     # full passes over the columns (aihwkit's transfer_counter)
    mean: np.ndarray | None = None      # AGAD: running mean m of A's reads
    ref: np.ndarray | None = None       # AGAD: reference p (m at the column's last chopper switch)
    switched: np.ndarray | None = None  # AGAD: column's chopper switched after its previous read (chains, in)
    pulses: np.ndarray | None = None    # pulses written to C so far, per element
    chopper: np.random.Generator | None = None
    scale: np.ndarray | None = None     # auto_scale: running maxima (m_x, m_d) per chain, shape (2, chains)


@dataclass(frozen=True)
class TransferInfo:
    """One step's reads (``Algorithm.step``): the columns read in order, the buffer after each read's
    accumulation and before the threshold rule, and the signed pulses sent to C (both (chains, out, reads))."""

    columns: np.ndarray
    buffer: np.ndarray
    pulses: np.ndarray


def _tile(grads, params) -> tuple[tuple[int, int], int]:
    """((out, in), samples): a Rank1Batch's tile and mini-batch size; a dense gradient is one sample of 1 x D."""
    if isinstance(grads, Rank1Batch):
        return grads.shape, grads.D.shape[1]
    return (1, params.shape[-1]), 1


def _chop(grads, c, shape):
    """The gradient with column j multiplied by c_j (per sample: x_b (.) c)."""
    if isinstance(grads, Rank1Batch):
        return Rank1Batch(grads.X * c[:, None, :], grads.D, grads.inplace)
    return grads * _full(c, shape)


def _full(c, shape):
    """Choppers (chains, in) broadcast over the rows, flattened like the weights (chains, out * in)."""
    out, inp = shape
    if out == 1:
        return c
    return np.broadcast_to(c[:, None, :], (c.shape[0], out, inp)).reshape(c.shape[0], out * inp)


def _runs(pointer: int, reads: int, inp: int):
    """The reads from ``pointer`` as runs of consecutive columns within one pass: (first, last + 1, wraps)."""
    j = pointer
    while reads > 0:
        k = min(reads, inp - j)
        yield j, j + k, j + k == inp
        reads -= k
        j = (j + k) % inp


def _threshold(h: np.ndarray, unit: float, cap: int, momentum: float, forget: bool):
    """n = clip(trunc(h / unit), -cap, cap) (zero where |h| < unit) and the buffer after the write:
    momentum h where n != 0 (forget_buffer), else h - (1 - momentum) n unit."""
    n = np.clip(np.trunc(h / unit), -cap, cap)
    fired = n != 0
    if forget:
        h = np.where(fired, momentum * h, h)
    else:
        h = h - (1.0 - momentum) * n * unit
    return n, h


class _Compound:
    """The shared step of the three compounds; ``kind`` is "tt-v2", "agad" or "e-rider-chopped"."""

    def __init__(self, kind, lr, device_a, device_c, *, fast_lr, transfer_lr, gamma, momentum, forget_buffer,
                 transfer_bl, read_noise, granularity, in_chop_prob=0.0, auto_granularity=0.0,
                 tail_weightening=5.0, thres_scale=1.0, columns_per_transfer=1, chopper_seed=0, auto_scale=0,
                 auto_momentum=0.99):
        self.kind = kind
        lr = require_positive("lr", lr)
        self.fast_lr = require_positive("fast_lr", fast_lr)
        transfer_lr = require_positive("transfer_lr", transfer_lr)
        self.gamma = require_nonnegative("gamma", gamma)
        self.momentum = require_nonnegative("momentum", momentum)
        if self.momentum > 1:
            raise InputError("momentum", f"must lie in [0, 1] (got {momentum})")
        if forget_buffer not in (0, 1, True, False):
            raise InputError("forget_buffer", f"must be 0 or 1 (got {forget_buffer!r})")
        self.forget = bool(forget_buffer)
        self.cap = require_int("transfer_bl", transfer_bl)
        self.read_noise = require_nonnegative("read_noise", read_noise)
        granularity = require_positive("granularity", granularity)
        self.p = require_nonnegative("in_chop_prob", in_chop_prob)
        if self.p > 1:
            raise InputError("in_chop_prob", f"must lie in [0, 1] (got {in_chop_prob})")
        if kind == "agad" and self.p == 0:
            raise InputError("in_chop_prob", "AGAD needs its choppers: must lie in (0, 1] (got 0)")
        self.auto = require_nonnegative("auto_granularity", auto_granularity)
        self.tail = require_positive("tail_weightening", tail_weightening)
        self.thres_scale = require_positive("thres_scale", thres_scale)
        self.columns = require_int("columns_per_transfer", columns_per_transfer, 0)
        if auto_scale not in (0, 1, True, False):
            raise InputError("auto_scale", f"must be 0 or 1 (got {auto_scale!r})")
        self.auto_scale = bool(auto_scale)
        self.auto_momentum = require_nonnegative("auto_momentum", auto_momentum)
        if self.auto_momentum >= 1:
            raise InputError("auto_momentum", f"must lie in [0, 1) (got {auto_momentum})")
        if not isinstance(device_a, Device) or not isinstance(device_c, Device):
            raise InputError("main_response" if isinstance(device_a, Device) else "response",
                             f"{kind} needs two Devices: the fast array A and the slow array C")
        self.device_a, self.device_c = device_a, device_c
        # the weight granularity of each array: its pulse size, or ``granularity`` without pulses; C's
        # transfer pulses go through a pulse-level twin of its device
        self.dA = device_a.dw_min if device_a.pulsed else granularity
        self.dC = device_c.dw_min if device_c.pulsed else granularity
        self.pulse_c = device_c if device_c.pulsed and device_c.trains is None else \
            dataclasses.replace(device_c, dw_min=self.dC, trains=None)
        self.lr_t = transfer_lr * lr * (self.gamma if self.gamma > 0 else 1.0)
        self.chopped = kind != "tt-v2"
        self.n_period = max(math.ceil(1.0 / self.p), 2) if self.p else 0     # AGAD: reads per chopper period
        self.seed = chopper_seed
        trains = getattr(device_a, "trains", None)
        self.bl = trains.desired_bl if trains is not None else 1          # auto_scale's pulses per sample

    def init(self, params):
        z = np.zeros(params.shape, dtype=float)
        st = TransferState(z.copy(), z.copy(), pulses=z.copy())
        if self.kind == "agad":
            st.mean, st.ref = z.copy(), z.copy()
        if self.chopped:
            st.chopper = np.random.default_rng(self.seed)
        return st

    def readout(self, params, state):
        if not self.gamma:
            return params
        if state.c is None:
            return params + self.gamma * state.A
        return params + self.gamma * _full(state.c, state.shape) * state.A

    def step(self, grads, state, params, rng):
        shape, samples = _tile(grads, params)
        chains = params.shape[0]
        if shape[0] * shape[1] != params.shape[-1]:
            raise InputError("params", f"the gradient's tile {shape[0]} x {shape[1]} does not match the "
                                       f"{params.shape[-1]} weights")
        c = state.c
        if self.chopped and c is None:
            c = np.ones((chains, shape[1]))
        g = _chop(grads, c, shape) if self.chopped else grads
        scale = state.scale
        if self.auto_scale:
            g, scale = self._auto_scaled(g, scale)
            A = self.device_a.write_gradient(state.A, g, 1.0, rng)
        else:
            A = self.device_a.write_gradient(state.A, g, self.fast_lr, rng)
        st = dataclasses.replace(state, A=A, H=state.H.copy(), shape=shape, pulses=state.pulses.copy(),
                                 c=None if c is None else c.copy(), scale=scale)
        if self.kind == "agad":
            st.mean, st.ref = state.mean.copy(), state.ref.copy()
            st.switched = np.zeros((chains, shape[1]), bool) if state.switched is None else state.switched.copy()
        reads = samples if self.chopped else (self.columns or shape[1])
        C = params
        cols, bufs, pulses = [], [], []
        for j0, j1, wraps in _runs(st.pointer, reads, shape[1]):
            C, h, n = self._read(st, C, j0, j1, rng)
            cols.append(np.arange(j0, j1))
            bufs.append(h)
            pulses.append(n)
            if wraps:
                st.passes += 1
        st.pointer = (st.pointer + reads) % shape[1]
        info = TransferInfo(np.concatenate(cols), np.concatenate(bufs, axis=-1), np.concatenate(pulses, axis=-1))
        return C, st, info

    def _auto_scaled(self, g, scale):
        """(the gradient with each sample's error times its lr_b, the running maxima after the batch): aihwkit's
        auto_scale, sample by sample (see the module docstring)."""
        if isinstance(g, Rank1Batch):
            xm = np.abs(g.X).max(axis=-1)                     # (chains or 1, B)
            dm = np.abs(g.D).max(axis=-1)                     # (chains, B)
            xm = np.broadcast_to(xm, dm.shape)
        else:
            xm, dm = np.abs(g).max(axis=-1)[:, None], np.ones((g.shape[0], 1))
        chains, samples = dm.shape
        m = np.zeros((2, chains)) if scale is None else scale.copy()
        tau = (1.0 - self.auto_momentum) / samples
        if chains == 1 and xm.dtype == dm.dtype == m.dtype == np.float64:
            return self._auto_scaled_one(g, xm[0].tolist(), dm[0].tolist(), m, tau)
        lrs = np.empty((chains, samples))
        for b in range(samples):
            for k, new in enumerate((xm[:, b], dm[:, b])):
                m[k] = np.where(m[k] <= 0, new, np.where(new > 0, (1.0 - tau) * m[k] + tau * new, m[k]))
            with np.errstate(divide="ignore", invalid="ignore"):
                base = self.fast_lr * self.bl * self.dA
                prod = m[0] * m[1]
                lrs[:, b] = np.where(prod > 0, base / prod, base)
        if isinstance(g, Rank1Batch):
            return Rank1Batch(g.X, g.D * lrs[:, :, None], g.inplace), m
        return g * lrs, m

    def _auto_scaled_one(self, g, xs: list, ds: list, m: np.ndarray, tau: float):
        """:meth:`_auto_scaled` of one chain: the same operations on Python floats (float64: the same bits), without
        the array calls per sample (the network path's hot loop)."""
        m0, m1 = float(m[0, 0]), float(m[1, 0])
        base = self.fast_lr * self.bl * self.dA
        lrs = []
        for x, d in zip(xs, ds):
            m0 = x if m0 <= 0 else ((1.0 - tau) * m0 + tau * x if x > 0 else m0)
            m1 = d if m1 <= 0 else ((1.0 - tau) * m1 + tau * d if d > 0 else m1)
            prod = m0 * m1
            lrs.append(base / prod if prod > 0 else base)
        m[0, 0], m[1, 0] = m0, m1
        lrs = np.array([lrs])
        if isinstance(g, Rank1Batch):
            return Rank1Batch(g.X, g.D * lrs[:, :, None], g.inplace), m
        return g * lrs, m

    def _read(self, st, C, j0, j1, rng):
        """Columns j0..j1-1 of A read, buffered and thresholded into C (one pass: the same pass counter)."""
        chains = C.shape[0]
        out, inp = st.shape
        A3 = st.A.reshape(chains, out, inp)
        H3 = st.H.reshape(chains, out, inp)
        v = A3[:, :, j0:j1]
        if self.read_noise:
            v = v + self.read_noise * rng.standard_normal(v.shape)
        if self.kind == "tt-v2":
            h = H3[:, :, j0:j1] + self.lr_t * v
            unit = self.thres_scale * self.dC
        else:
            b = self.dA * (self.auto / inp if self.auto > 0 else 1.0)       # the buffer granularity
            sign = st.c[:, None, j0:j1]
            if self.kind == "agad":
                M3 = st.mean.reshape(chains, out, inp)
                R3 = st.ref.reshape(chains, out, inp)
                sw = st.switched[:, None, j0:j1]
                ref = np.where(sw, M3[:, :, j0:j1], R3[:, :, j0:j1])        # a new chopper phase: p <- m
                R3[:, :, j0:j1] = ref
                h = H3[:, :, j0:j1] + sign * (v - ref) * (self.lr_t / b)
                s = min(self.tail / self.n_period, 1.0)
                M3[:, :, j0:j1] = (1.0 - s) * M3[:, :, j0:j1] + s * v
            else:
                h = H3[:, :, j0:j1] + sign * v * (self.lr_t / b)
            unit = 1.0
        n, H3[:, :, j0:j1] = _threshold(h, unit, self.cap, self.momentum, self.forget)
        write = n
        if self.kind == "agad" and st.passes <= self.n_period:       # aihwkit writes after N full passes
            write = np.zeros_like(n)
        # C's column gets n pulses of its own size (n > 0: up, toward what A learnt)
        C = self._pulses(C, write, j0, st, rng)
        if self.chopped and self.p:
            if self.kind == "agad":      # regular: every column flips at the last pass of each period
                flip = np.full((chains, j1 - j0), st.passes % self.n_period + 1 == self.n_period)
                st.switched[:, j0:j1] = flip
            else:                        # random: each read flips its column with probability in_chop_prob
                flip = st.chopper.random((chains, j1 - j0)) < self.p
            st.c[:, j0:j1] = np.where(flip, -st.c[:, j0:j1], st.c[:, j0:j1])
        return C, h, write

    def _pulses(self, C, n, j0, st, rng):
        ch, i, k = np.nonzero(n)
        if ch.size == 0:
            return C
        out, inp = st.shape
        P3 = st.pulses.reshape(C.shape[0], out, inp)
        P3[ch, i, j0 + k] += np.abs(n[ch, i, k])
        return self.pulse_c.pulse_counts(C, (ch, i * inp + j0 + k), n[ch, i, k], rng)


def _algorithm(name, comp: _Compound) -> Algorithm:
    return Algorithm.with_info(name, comp.init, comp.step, comp.readout, devices=(comp.device_a, comp.device_c),
                               lr=comp.fast_lr)


def tt_v2(lr: float, device_a: Device, device_c: Device, *, fast_lr: float, transfer_lr: float,
          gamma: float = 0.0, thres_scale: float = 1.0, momentum: float = 0.1, forget_buffer: int = 1,
          transfer_bl: int = 1, columns_per_transfer: int = 1, read_noise: float = 0.0,
          granularity: float = 1e-3) -> Algorithm:
    """TT-v2 as aihwkit's ``BufferedTransferCompound``: a digital buffer between A's column reads and C.

    Per step: A <- U_A(A, -fast_lr g); ``columns_per_transfer`` columns j of A (round-robin) are read,
    H_j += lr_t A[:, j] (lr_t = transfer_lr lr, times gamma if gamma > 0), n = clip(trunc(H_j /
    (thres_scale dC)), -transfer_bl, transfer_bl) pulses go to C[:, j], and H_j <- momentum H_j where n != 0
    (forget_buffer; else H_j - (1 - momentum) n thres_scale dC). Read-out W = C + gamma A. A's offset from its
    SP passes into C (the bias P2 Tables 1-2 show for TT-v2).

    Parameters
    ----------
    lr : float > 0
        The global learning rate (scales the transfer; ``fast_lr`` is absolute).
    device_a, device_c : Device
        The fast array A (gradient; its SP is unknown) and the slow array C (the weights, ``params``).
    fast_lr : float > 0
        A's learning rate.
    transfer_lr : float > 0
        Transfer rate relative to ``lr``.
    gamma : float >= 0
        Read-out weight of A (aihwkit's gamma; P2's TT-v2 runs 0).
    thres_scale : float > 0
        Threshold in units of C's granularity dC.
    momentum : float in [0, 1]
        What stays on the buffer after a write.
    forget_buffer : {0, 1}
        1: H <- momentum H after a write (aihwkit's default); 0: H loses (1 - momentum) of what was written.
    transfer_bl : int >= 1
        Most pulses one read writes per element (aihwkit ``transfer_update.desired_bl``, default 1).
    columns_per_transfer : int >= 0
        Columns read per step (aihwkit ``n_reads_per_transfer``); 0 reads all.
    read_noise : float >= 0
        Standard deviation of a column read.
    granularity : float > 0
        Weight granularity of an array simulated without pulses (a pulsed array uses its dw_min).

    Returns
    -------
    Algorithm
        ``step`` also returns a :class:`TransferInfo`.
    """
    return _algorithm("tt-v2", _Compound("tt-v2", lr, device_a, device_c, fast_lr=fast_lr, transfer_lr=transfer_lr,
                                         gamma=gamma, momentum=momentum, forget_buffer=forget_buffer,
                                         transfer_bl=transfer_bl, read_noise=read_noise, granularity=granularity,
                                         thres_scale=thres_scale, columns_per_transfer=columns_per_transfer))


def agad(lr: float, device_a: Device, device_c: Device, *, fast_lr: float, transfer_lr: float,
         in_chop_prob: float = 0.1, gamma: float = 0.0, tail_weightening: float = 5.0,
         auto_granularity: float = 0.0, momentum: float = 0.0, forget_buffer: int = 1, transfer_bl: int = 1,
         read_noise: float = 0.0, granularity: float = 1e-3, chopper_seed=0, auto_scale: int = 0) -> Algorithm:
    """AGAD as aihwkit's ``DynamicTransferCompound``: chopped A, each read compared with A's mean over the
    previous chopper period.

    Per step: A <- U_A(A, -fast_lr c (.) g); one column j per sample is read (v = A[:, j]); at the first read
    after c_j switched the reference p_j takes the running mean m_j; H_j += c_j (v - p_j) lr_t / b (b = dA,
    times auto_granularity / in if that is > 0); where |H_j| >= 1, n = clip(trunc(H_j), +-transfer_bl) pulses
    go to C[:, j] (only after N = max(ceil(1/in_chop_prob), 2) full passes) and H_j <- momentum H_j
    (forget_buffer); m_j <- (1 - s) m_j + s v with s = min(tail_weightening / N, 1); every column's chopper
    flips at the last pass of each period of N passes. A's constant offset cancels in v - p_j. Read-out
    W = C + gamma c (.) A (gamma = 0: the gradient is taken at C, P2 App. B.2).

    Parameters
    ----------
    lr, device_a, device_c, fast_lr, transfer_lr, gamma, momentum, forget_buffer, transfer_bl, read_noise, granularity
        As in :func:`tt_v2` (the buffer counts pulses here: threshold 1).
    in_chop_prob : float in (0, 1]
        Chopper frequency: a period is N = max(ceil(1/in_chop_prob), 2) passes.
    tail_weightening : float > 0
        Weight of the period's tail in the running mean (s = min(tail_weightening / N, 1)).
    auto_granularity : float >= 0
        If > 0, the buffer granularity is dA auto_granularity / in.
    chopper_seed : int or sequence of int
        Unused by AGAD's regular chopping (kept for the common signature).
    auto_scale : {0, 1}
        1: A's rate is fast_lr BL dA / (m_x m_d) per sample, aihwkit's ``auto_scale`` (module docstring; on in
        aihwkit's ``build_config("agad")``); 0: ``fast_lr`` as an absolute rate.

    Returns
    -------
    Algorithm
    """
    return _algorithm("agad", _Compound("agad", lr, device_a, device_c, fast_lr=fast_lr, transfer_lr=transfer_lr,
                                        gamma=gamma, momentum=momentum, forget_buffer=forget_buffer,
                                        transfer_bl=transfer_bl, read_noise=read_noise, granularity=granularity,
                                        in_chop_prob=in_chop_prob, tail_weightening=tail_weightening,
                                        auto_granularity=auto_granularity, chopper_seed=chopper_seed,
                                        auto_scale=auto_scale))


def e_rider_chopped(lr: float, device_a: Device, device_c: Device, *, fast_lr: float, transfer_lr: float,
                    in_chop_prob: float = 0.05, gamma: float = 0.1, auto_granularity: float = 1000.0,
                    momentum: float = 0.0, forget_buffer: int = 1, transfer_bl: int = 1, read_noise: float = 0.0,
                    granularity: float = 1e-3, chopper_seed=0, auto_scale: int = 0) -> Algorithm:
    """E-RIDER as P2 ran it: aihwkit's ``ChoppedTransferCompound`` with gamma > 0 (not P2 eqs. 11-18, which
    are :func:`aimc_theory.tracking.rider`).

    Per step: A <- U_A(A, -fast_lr c (.) g) with one chopper c_j per input column; one column j per sample is
    read, H_j += c_j A[:, j] lr_t / b (b = dA auto_granularity / in, or dA without auto_granularity); where
    |H_j| >= 1, n = clip(trunc(H_j), +-transfer_bl) pulses go to C[:, j] and H_j <- momentum H_j
    (forget_buffer); then c_j flips with probability ``in_chop_prob``. Read-out W = C + gamma c (.) A. A's
    offset enters H as c_j x offset, whose sign the chopper keeps flipping: it averages out.

    Parameters
    ----------
    lr, device_a, device_c, fast_lr, transfer_lr, gamma, momentum, forget_buffer, transfer_bl, read_noise, granularity
        As in :func:`tt_v2` (the buffer counts pulses here: threshold 1).
    in_chop_prob : float in [0, 1]
        Probability that a column's chopper flips after its read (0: no chopping).
    auto_granularity : float >= 0
        If > 0, the buffer granularity is dA auto_granularity / in (P2: 1000).
    chopper_seed : int or sequence of int
        Seed of the choppers' own generator.
    auto_scale : {0, 1}
        1: A's rate is fast_lr BL dA / (m_x m_d) per sample, aihwkit's ``auto_scale`` (module docstring; on in
        aihwkit's ``build_config("ttv3")``); 0: ``fast_lr`` as an absolute rate.

    Returns
    -------
    Algorithm
    """
    return _algorithm("e-rider-chopped", _Compound(
        "e-rider-chopped", lr, device_a, device_c, fast_lr=fast_lr, transfer_lr=transfer_lr, gamma=gamma,
        momentum=momentum, forget_buffer=forget_buffer, transfer_bl=transfer_bl, read_noise=read_noise,
        granularity=granularity, in_chop_prob=in_chop_prob, auto_granularity=auto_granularity,
        chopper_seed=chopper_seed, auto_scale=auto_scale))
