"""The update models below the devices and the pulse trains (spec A.1, A.2, A.7): how one requested
update moves an analog weight, the arithmetic that :mod:`aimc_theory.device` and
:mod:`aimc_theory.pulse_trains` both apply.

* :func:`expected_update` (P1 eq. 3), its split form :func:`expected_update_fg` (eq. 5) and the affine
  fast path :func:`affine_expected_update`: ``U_q(w, dw) = w + dw q+(w)`` for dw >= 0, ``w + dw q-(w)``
  otherwise;
* :func:`pulse_count` and :func:`pulse_update` (P1 App. C, eq. 26-31): ``BL = ceil(|dw|/dw_min)`` pulses of
  polarity sign(dw), each ``w <- w +- dw_min (q+-(w) + sigma_c xi)`` (or, with the device's
  ``c2c_model="multiplicative"``, ``w <- w +- dw_min q+-(w) (1 + sigma_c xi)``: :func:`noisy_step`),
  optionally capped at ``max_bl``;
* :func:`affine_increments`: one pulse of an affine response as the map w <- (1 + u) w + t;
* :class:`Elements` (a varied array's per-element parameters) and :class:`Rank1Batch` (a gradient as the
  per-sample rank-1 factors a crossbar sees).

``device`` arguments are :class:`aimc_theory.device.Device` configurations (this module reads their
``response``, ``dw_min``, ``sigma_c``, ``c2c_model``, ``max_bl``, ``rounding`` and ``elements(shape)``; it does
not import the device module, which sits above it). Everything is vectorized over any array shape (chains x
coordinates). Import these names from :mod:`aimc_theory.device` (and ``Rank1Batch`` from
:mod:`aimc_theory.pulse_trains`) as before; they live here so that those two modules import in one direction.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError
from .kernel_cache import PerResponse
from .response import Response

C2C_MODELS = ("additive", "multiplicative")     # cycle-to-cycle noise: dw sigma_c xi, or the step x sigma_c xi


def noisy_step(device, step, signs, xi):
    """A pulse's signed step factor ``step`` (q+ up, -q- down, in units of dw_min) with the device's
    cycle-to-cycle noise from the normal draws ``xi``: ``step + sign sigma_c xi`` (additive) or
    ``step (1 + sigma_c xi)`` (multiplicative: the reference simulator's ``dw_min_std``); ``signs`` +-1."""
    if device.c2c_model == "multiplicative":
        return step * (1.0 + device.sigma_c * xi)
    return step + signs * device.sigma_c * xi


@dataclass(frozen=True)
class Rank1Batch:
    """A mini-batch gradient as the per-sample factors a crossbar sees: the gradient of the loss is
    sum_b d_b x_b^T. ``X``: (chains or 1, B, in), ``D``: (chains, B, out); D carries the loss's 1/B."""

    X: np.ndarray
    D: np.ndarray
    # the weights written with this gradient (and the update rule's state) belong to this update alone (nothing
    # else holds them, the caller keeps only what the update returns): a device may write them in place instead
    # of into new arrays (the same bits; fewer arrays in the cache per step), Residual Learning reuses its last
    # read-out's array (a read-out is then valid until the next update). The network path sets it
    inplace: bool = field(default=False, compare=False)
    # a list the write appends what it wrote to: the flat indices of the weights it changed (repeats allowed), or
    # None for "maybe all". Residual Learning's read-out then redoes only those (a pulse-train step of the network's
    # first layer changes ~6% of P). A write that appends nothing may have changed anything
    touched: list | None = field(default=None, compare=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.D.shape[-1], self.X.shape[-1]

    def dense(self, scale: float = 1.0, out: np.ndarray | None = None) -> np.ndarray:
        """The summed gradient times ``scale``, flattened to (chains, out * in) like the weights (the scale
        is applied to the small per-sample errors, not to the full matrix); into ``out`` where given (a
        C-contiguous float64 array of that shape; the same bits as a fresh array)."""
        X = self.X if self.X.shape[:2] == self.D.shape[:2] else \
            np.broadcast_to(self.X, self.D.shape[:2] + self.X.shape[-1:])
        D = self.D if scale == 1.0 else self.D * scale
        if out is None:
            g = np.matmul(np.swapaxes(D, 1, 2), X)        # BLAS, not einsum's loops
            return g.reshape(g.shape[0], -1)
        shape = D.shape[:1] + (D.shape[-1], X.shape[-1])
        if not (isinstance(out, np.ndarray) and out.dtype == np.float64 and out.flags.c_contiguous
                and out.shape == (shape[0], shape[1] * shape[2])):
            raise ValueError(f"out must be a C-contiguous float64 array of shape {(shape[0], shape[1] * shape[2])}")
        np.matmul(np.swapaxes(D, 1, 2), X, out=out.reshape(shape))
        return out

    def __mul__(self, c):
        """Scale every sample's error by a per-chain factor (e.g. a chopper sign of shape (chains, 1))."""
        return Rank1Batch(self.X, self.D * np.asarray(c)[..., None], self.inplace)

    __rmul__ = __mul__


@dataclass(frozen=True)
class Elements:
    """A varied array's per-element parameters, broadcast to the weights' shape (or to a subset of them):
    q+_i(w) = up_i q+(up_stretch_i w), q-_i(w) = down_i q-(down_stretch_i w), saturating at [lo_i, hi_i]
    (the response's range where ``lo`` is None)."""

    up: np.ndarray
    down: np.ndarray
    up_stretch: np.ndarray | None = None
    down_stretch: np.ndarray | None = None
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None

    def take(self, index) -> "Elements":
        """The parameters of the elements ``index`` selects (fancy or boolean index of the weights)."""
        if self.up_stretch is None and self.down_stretch is None and self.lo is None and self.hi is None:
            return Elements(self.up[index], self.down[index])
        return Elements(*(None if a is None else a[index] for a in
                          (self.up, self.down, self.up_stretch, self.down_stretch, self.lo, self.hi)))

    def reshape(self, shape) -> "Elements":
        return Elements(*(None if a is None else a.reshape(shape) for a in
                          (self.up, self.down, self.up_stretch, self.down_stretch, self.lo, self.hi)))

    def q(self, resp: Response, w, up, signed: bool = False):
        """q+_i(w) where ``up``, q-_i(w) elsewhere (``signed``: -q-_i there, the step of a down pulse)."""
        wp = w if self.up_stretch is None else self.up_stretch * w
        wm = w if self.down_stretch is None else self.down_stretch * w
        qm = self.down * resp.q_minus(wm)
        return np.where(up, self.up * resp.q_plus(wp), -qm if signed else qm)

    def q_one(self, resp: Response, w, up: bool):
        """The signed step factor of one direction for every element: s+ q+(k+ w) up, -s- q-(k- w) down."""
        if up:
            return self.up * resp.q_plus(w if self.up_stretch is None else self.up_stretch * w)
        return -(self.down * resp.q_minus(w if self.down_stretch is None else self.down_stretch * w))

    def clip(self, resp: Response, w, out=None):
        if self.lo is None:
            return resp.clip(w) if out is None else resp.clip(w, out=out)
        return np.clip(w, self.lo, self.hi, out=out)


def expected_update(resp: Response, w: np.ndarray, dw: np.ndarray) -> np.ndarray:
    """U_q(w, dw) (P1 eq. 3): the step is scaled by q+ going up and by q- going down."""
    q = np.where(dw >= 0, resp.q_plus(w), resp.q_minus(w))
    return resp.clip(w + dw * q)


def expected_update_fg(resp: Response, w: np.ndarray, dw: np.ndarray) -> np.ndarray:
    """The same update in the split form (P1 eq. 5), w + dw F - |dw| G: fewer array passes,
    used on the hot path (a test checks it equals :func:`expected_update`). Where the response has a
    directed evaluation (power, exponential) only the branch each step takes is evaluated."""
    if resp.name == "power" and resp.params.get("gamma") == 0.5 and len(resp.params) == 2:
        fused = _fused_affine(w, dw, "power_half_into")   # numba, large arrays: one compiled pass, the same bits
        if fused is not None:
            out = np.empty_like(w)
            fused(w.reshape(-1), dw.reshape(-1), out.reshape(-1), 1.0 / resp.params["tau"], float(resp.lo),
                  float(resp.hi))
            return out
    if resp.name == "exponential" and set(resp.params) == {"tau", "gamma"} \
            and _fused_affine(w, dw, "exp_arg_into") is not None and _exp_matches(resp):
        return _exp_fused(resp, w, dw)      # numba, large arrays: two compiled passes around NumPy's expm1
    qd = resp.qd_form
    if qd is not None:
        out = qd(w, dw)
        out *= dw
        out += w
        return resp.clip(out, out=out)
    F, G = resp.fg(w)
    out = np.abs(dw)
    out *= G
    np.subtract(dw * F if not (np.isscalar(F) and F == 1.0) else dw, out, out=out)
    out += w
    return resp.clip(out, out=out)


def _exp_fused(resp: Response, w: np.ndarray, dw: np.ndarray) -> np.ndarray:
    """:func:`expected_update_fg` of the exponential family (P1 eq. 149) as ``kernels_chains_jit.exp_arg_into``,
    NumPy's expm1 (its SIMD code: libm's would change the bits), ``exp_finish_into``: families._exp_qd's operations
    and the update's in their order, so the NumPy path's bits."""
    g, tau = float(resp.params["gamma"]), float(resp.params["tau"])
    out = np.empty_like(w)
    _kernel("exp_arg_into")(w.reshape(-1), dw.reshape(-1), g, g / tau, out.reshape(-1))
    np.expm1(out, out=out)
    _kernel("exp_finish_into")(w.reshape(-1), dw.reshape(-1), out.reshape(-1), 1.0 / math.expm1(g), float(resp.lo),
                              float(resp.hi))
    return out


_EXP_CHECKED = PerResponse()     # response -> the compiled passes repeat its NumPy path's bits


def _exp_matches(resp: Response) -> bool:
    """Once per response: the compiled passes give its own NumPy path's bits on a probe (both signs, the bounds,
    steps that clip), so that a response merely named "exponential" never takes them."""
    return _EXP_CHECKED.get(resp, lambda: _exp_probe(resp))


def _exp_probe(resp: Response) -> bool:
    rng = np.random.default_rng(0)
    w = np.concatenate([np.linspace(resp.lo, resp.hi, 97), rng.uniform(resp.lo, resp.hi, 159)])[None]
    dw = rng.standard_normal(w.shape) * 10.0 ** rng.uniform(-6, 0, w.shape)
    dw[0, :2] = (0.0, -0.0)
    with np.errstate(all="ignore"):
        out = resp.qd_form(w, dw) if resp.qd_form is not None else None
        if out is not None:
            out *= dw
            out += w
            resp.clip(out, out=out)
        return out is not None and np.array_equal(_exp_fused(resp, w, dw), out, equal_nan=True)


def affine_expected_update(resp: Response, w: np.ndarray, dw: np.ndarray) -> np.ndarray:
    """U_q(w, dw) = w + dw F - |dw| G for an affine response (F = f0 + f1 w, G = g0 + g1 w), written into
    ``dw`` (a fresh array the caller gives up): the fewest array passes (soft bounds and power gamma 1:
    |dw|, x G, and three in-place passes with the clip), for the network's rank-1 writes and transfers. The
    same update as :func:`expected_update` (a test checks); the scalar simulations keep
    :func:`expected_update_fg` (the numba kernel reproduces its bits)."""
    f0, f1, g0, g1 = fg_coefficients(resp.affine)
    if not (isinstance(dw, np.ndarray) and dw.dtype == np.float64 and dw.flags.writeable
            and (np.shape(w) == dw.shape or dw.shape == np.broadcast_shapes(np.shape(w), dw.shape))):
        dw = np.array(np.broadcast_to(dw, np.broadcast_shapes(np.shape(w), np.shape(dw))), dtype=float)
    if _fused_affine_into(resp, w, dw, dw, 1.0):   # numba installed, a large array: one compiled pass, the same bits
        return dw
    t = None
    if g1 or g0:
        t = np.abs(dw)
        if g1:
            G = np.multiply(w, g1)
            if g0:
                G += g0
            t *= G
        elif g0 != 1.0:
            t *= g0
    if f1:
        F = np.multiply(w, f1)
        F += f0
        dw *= F
    elif f0 != 1.0:
        dw *= f0
    if t is not None:
        dw -= t
    dw += w
    return resp.clip(dw, out=dw)


def affine_expected_scaled(resp: Response, w: np.ndarray, dw: np.ndarray, lr: float) -> np.ndarray:
    """:func:`affine_expected_update` of ``lr * dw`` (``dw`` is left alone): a transfer of a read array. Compiled in
    one pass where :func:`_fused_affine` applies (lr * dw formed element by element: the same bits), else NumPy."""
    if isinstance(dw, np.ndarray) and dw.dtype == np.float64 and dw.flags.c_contiguous:
        out = np.empty_like(dw)
        if _fused_affine_into(resp, w, dw, out, lr):
            return out
    return affine_expected_update(resp, w, lr * dw)


def fg_coefficients(aff) -> tuple[float, float, float, float]:
    """(f0, f1, g0, g1) of an affine response (a+, b+, a-, b-): F = f0 + f1 w, G = g0 + g1 w."""
    ap, bp, am, bm = aff
    return 0.5 * (ap + am), 0.5 * (bp + bm), 0.5 * (am - ap), 0.5 * (bm - bp)


def _fused_affine_into(resp: Response, w, dw, out, scale: float) -> bool:
    """``out`` <- U_q(w, scale * dw) in one compiled pass (``kernels_chains_jit.affine_inplace``, or
    ``affine_into_dw`` when ``out`` is dw) where :func:`_fused_affine` applies and the response is not ideal (then
    one NumPy pass, dw + w, is as fast); False: nothing written, run NumPy."""
    coef = kernel_coefficients(resp)
    if not _moves(coef):
        return False
    coefficients = (float(scale), *coef)
    if out is dw:               # the in-out pass: LLVM vectorizes it (a third argument aliasing dw would not be)
        fused = _fused_affine(w, dw, "affine_into_dw")
        if fused is not None:
            fused(w.reshape(-1), dw.reshape(-1), *coefficients)
        return fused is not None
    fused = _fused_affine(w, dw)
    if fused is not None:
        fused(w.reshape(-1), dw.reshape(-1), out.reshape(-1), *coefficients)
    return fused is not None


def affine_expected_update_in_place(resp: Response, w: np.ndarray, dw: np.ndarray, scale: float = 1.0) -> bool:
    """:func:`affine_expected_update` of ``scale * dw`` (as :func:`affine_expected_scaled` forms it) written into
    ``w`` itself (``dw`` is left alone) in one compiled pass (``kernels_chains_jit.affine_into_w``: the same
    operations, so the same bits; tested) where :func:`_fused_affine` applies, ``w`` is writable and the response
    is not ideal; False: nothing written."""
    coef = kernel_coefficients(resp)
    fused = _fused_affine(w, dw, "affine_into_w") if _moves(coef) and w.flags.writeable else None
    if fused is None:
        return False
    fused(w.reshape(-1), dw.reshape(-1), float(scale), *coef)
    return True


def transfer_and_mix(resp: Response, w: np.ndarray, read: np.ndarray, p: np.ndarray, beta: float,
                     gamma: float, in_place: bool = False,
                     buffer: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """Residual Learning's transfer and read-out at once for an affine response: (U_q(w, beta read), that + gamma p)
    in one compiled pass (``kernels_chains_jit.transfer_mix``: the operations of :func:`affine_expected_scaled` and
    :func:`mix`, so their bits; tested) where :func:`_fused_affine` applies to all three arrays and the response is
    not ideal; else None (nothing done: run the two). Two new arrays; ``in_place`` (a caller that gives up ``w``,
    ``Rank1Batch.inplace``): the transfer is written into ``w`` and the read-out into ``buffer`` where that is a
    writable array of w's shape apart from the others (``transfer_mix_into``, the same bits)."""
    coef = kernel_coefficients(resp)
    in_place = in_place and w.flags.writeable
    name = "transfer_mix_into" if in_place else "transfer_mix"
    fused = _fused_affine(w, read, name) if _moves(coef) else None
    if fused is None or _fused_affine(w, p, name) is None:
        return None
    coefficients = (float(beta), float(gamma), *coef)
    if not in_place:
        out, mixed = np.empty_like(w), np.empty_like(w)
        fused(w.reshape(-1), read.reshape(-1), p.reshape(-1), *coefficients, out.reshape(-1), mixed.reshape(-1))
        return out, mixed
    mixed = buffer if _reusable(buffer, w, read, p) else np.empty_like(w)
    fused(w.reshape(-1), read.reshape(-1), p.reshape(-1), *coefficients, mixed.reshape(-1))
    return w, mixed


def kernel_coefficients(resp: Response) -> tuple[float, float, float, float, float, float]:
    """(f0, f1, g0, g1, lo, hi) of an affine response as floats: what the compiled passes take (a device keeps
    them, so a step does not recompute them)."""
    f0, f1, g0, g1 = fg_coefficients(resp.affine)
    return float(f0), float(f1), float(g0), float(g1), float(resp.lo), float(resp.hi)


def _moves(coef) -> bool:
    """Whether :func:`kernel_coefficients` ``coef`` are not the ideal response's (F = 1, G = 0: there one NumPy
    pass, dw + w, is as fast as a compiled one)."""
    return bool(coef[1] or coef[2] or coef[3])


def rl_step_in_place(coef_p: tuple, coef_w: tuple, p: np.ndarray, dense, w: np.ndarray, beta: float,
                     gamma: float, buffer: np.ndarray | None = None) -> np.ndarray | None:
    """Residual Learning's whole step where the caller gives up P, W and the last read-out (the network path,
    ``Rank1Batch.inplace``) and every column is transferred: P <- U_qp(P, dw) (:func:`affine_expected_update_in_place`),
    W <- U_qw(W, beta P) and the read-out W + gamma P (:func:`transfer_and_mix`), in one compiled pass that reads
    P once (``kernels_chains_jit.rl_step_inout``: the same operations in the same order, so the bits of the two
    passes; tested). ``coef_p``, ``coef_w``: :func:`kernel_coefficients` of P's and W's responses. ``dense(out)``
    writes the requested change of P into ``out`` and returns it (``out`` None: a fresh array of P's shape); it is
    called only where the pass applies. The change goes into ``buffer`` (the last read-out's array, no longer
    needed once the update starts) where :func:`_reusable`, and the pass overwrites it with the new read-out: no
    array of its own per step. Returns the read-out, or None with nothing written where either pass would not apply
    (no numba, small arrays, an ideal response, a read-only array)."""
    if not (_moves(coef_p) and _moves(coef_w)) or not (p.flags.writeable and w.flags.writeable) \
            or np.may_share_memory(p, w):
        return None
    fused = _fused_affine(w, p, "rl_step_inout")
    if fused is None:
        return None
    if _reusable(buffer, w, p):
        dwm = dense(buffer)
    else:
        dwm = dense(None)
        if _fused_affine(p, dwm, "rl_step_inout") is None or np.may_share_memory(dwm, p) \
                or np.may_share_memory(dwm, w):
            return None
    fused(p.reshape(-1), dwm.reshape(-1), w.reshape(-1), float(beta), float(gamma), *coef_p, *coef_w)
    return dwm


def mix(w: np.ndarray, p: np.ndarray, gamma: float, out: np.ndarray | None = None) -> np.ndarray:
    """w + gamma p (Residual Learning's read-out, P1 eq. 10), a new array (or ``out``, where that is a writable
    float64 array of w's shape apart from w and p: a caller's buffer reused): one compiled pass for large arrays
    where numba is installed (``kernels_chains_jit.mix_into``: the same two roundings, so NumPy's bits), else
    NumPy."""
    if not _reusable(out, w, p):
        out = None
    fused = _fused_affine(w, p, "mix_into")
    if fused is None:
        if out is None:
            return w + gamma * p
        np.multiply(p, gamma, out=out)
        return np.add(w, out, out=out)
    out = np.empty_like(w) if out is None else out
    fused(w.reshape(-1), p.reshape(-1), float(gamma), out.reshape(-1))
    return out


def remix(w: np.ndarray, p: np.ndarray, gamma: float, out: np.ndarray, elem: np.ndarray, cols: np.ndarray,
          inp: int) -> bool:
    """Redo the read-out ``out`` = w + gamma p (:func:`mix`) at the flat indices ``elem`` and in the columns ``cols``
    of a tile of ``inp`` columns only, where ``out`` already holds the read-out everywhere else (a step that changed
    w and p only there). One compiled pass (``kernels_chains_jit.remix_at``: mix's two roundings, so its bits);
    False, nothing written: no numba, small arrays, or arrays the pass does not take (then call :func:`mix`)."""
    fused = _fused_affine(w, p, "remix_at")
    if fused is None or not _reusable(out, w, p) or w.size % inp \
            or (elem.size and not (0 <= elem.min() and elem.max() < w.size)) \
            or (cols.size and not (0 <= cols.min() and cols.max() < inp)):
        return False
    fused(w.reshape(-1), p.reshape(-1), float(gamma), out.reshape(-1), np.ascontiguousarray(elem, dtype=np.int64),
          np.ascontiguousarray(cols, dtype=np.int64), int(inp))
    return True


def writable_in_place(W: np.ndarray) -> bool:
    """Whether W itself may take a write (a caller that gave it up, ``Rank1Batch.inplace``): a writable C-contiguous
    float64 array. Decided by its flags, not by ``np.ascontiguousarray(W) is W``: for an array numba made that returns
    a new view (its dtype object is another float64), so every write after the first would copy W again."""
    return W.flags.c_contiguous and W.flags.writeable and W.dtype == np.float64


def flat_target(W: np.ndarray, inplace: bool) -> np.ndarray:
    """W flattened for a write: W itself where ``inplace`` and :func:`writable_in_place`, else a float64 copy."""
    if inplace and writable_in_place(W):
        return W.reshape(-1)
    return np.array(W, dtype=np.float64).reshape(-1)


def _reusable(buffer, w: np.ndarray, *inputs: np.ndarray) -> bool:
    """Whether a caller's ``buffer`` may take a result of w's shape: a writable C-contiguous float64 array of that
    shape that shares no memory with w or the other inputs."""
    if not (isinstance(buffer, np.ndarray) and writable_in_place(buffer) and buffer.shape == np.shape(w)):
        return False
    for a in (w, *inputs):          # a loop, not all() over a generator: this runs per layer and step
        if np.shape(a) != buffer.shape or np.may_share_memory(buffer, a):
            return False
    return True


FUSED_MIN_SIZE = 1 << 10     # arrays from this size on go through the compiled pass (smaller: NumPy is as fast;
                             # at 1280, the network's last layer, the compiled RL v1 update is 40 -> 21 us)
_FUSED: dict = {}            # the compiled passes once looked up: name -> function or None (no numba)


def _fused_affine(w, dw, name: str = "affine_inplace"):
    """The compiled pass ``name`` of :mod:`aimc_theory.kernels_chains_jit` (``affine_inplace``:
    :func:`affine_expected_update`; ``power_half_into``: :func:`expected_update_fg` of the power family at gamma 1/2;
    the same operations element by element, so NumPy's bits; tested) where numba is installed and both arrays are
    large, C-contiguous float64 of one shape; else None. Set ``FUSED_MIN_SIZE`` to a huge number for the NumPy
    path."""
    if not isinstance(dw, np.ndarray) or dw.size < FUSED_MIN_SIZE or not isinstance(w, np.ndarray) \
            or w.shape != dw.shape or w.dtype != np.float64 or dw.dtype != np.float64 \
            or not (w.flags.c_contiguous and dw.flags.c_contiguous):
        return None
    return _kernel(name)


def _kernel(name: str):
    """The compiled pass ``name`` of :mod:`aimc_theory.kernels_chains_jit`, None without numba (looked up once)."""
    if name not in _FUSED:
        try:
            from . import kernels_chains_jit
            _FUSED[name] = getattr(kernels_chains_jit, name)
        except ImportError:             # numba is an optional extra
            _FUSED[name] = None
    return _FUSED[name]


def pulse_count(device, dw: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """BL = ceil(|dw|/dw_min) (or stochastic rounding), capped at ``max_bl``."""
    n = np.abs(dw) / device.dw_min
    if device.rounding == "ceil":
        bl = np.ceil(n * (1 - 1e-12))  # an exact multiple of dw_min is not rounded up
    else:
        if rng is None:
            raise InputError("seed", "stochastic rounding needs a random generator")
        base = np.floor(n)
        bl = base + (rng.random(np.shape(n)) < (n - base))
    if device.max_bl is not None:
        bl = np.minimum(bl, device.max_bl)
    return bl.astype(np.int64)


def pulse_update(device, w: np.ndarray, dw: np.ndarray, rng: np.random.Generator | None,
                 bl: np.ndarray | None = None, elements: Elements | None = None) -> np.ndarray:
    """Compose BL single pulses (P1 eq. 27); the loop runs over pulse slots, not elements. ``elements``:
    the elements' parameters in w's shape (default: the device's own)."""
    resp = device.response
    w = np.array(w, dtype=float, copy=True)
    if elements is None:
        elements = device.elements(w.shape)
    dw = np.asarray(dw)
    if dw.shape != w.shape:
        dw = np.broadcast_to(dw, w.shape)
    if bl is None and elements is None and resp.affine is not None and not device.sigma_c:
        fast = _pulse_affine(device, w, dw, rng)
        if fast is not None:
            return fast
    if bl is None:
        bl = pulse_count(device, dw, rng)
    up = dw > 0
    if device.sigma_c and rng is None:
        raise InputError("seed", "cycle-to-cycle noise needs a random generator")
    n_max = int(bl.max(initial=0))
    if n_max == 0:
        return w
    if resp.affine is not None and not device.sigma_c:
        # pulses of one sign compose in closed form for an affine response (as pulse_trains.apply_counts):
        # r^n w + t (1 - r^n)/(1 - r), clipped once (an increasing map never comes back from a bound)
        u, t = affine_increments(resp.affine, elements, device.dw_min, ~up)
        if np.all(u > -1.0):
            # r^n - 1 and (r^n - 1)/(r - 1) with r = 1 + u through log1p/expm1: u can be ~1e-8 (dw_min = 1e-8),
            # where 1 - r^n computed from r itself keeps only ~8 digits
            with np.errstate(divide="ignore", invalid="ignore"):
                rn1 = np.expm1(bl * np.log1p(u))
                geo = np.where(u != 0, rn1 / np.where(u != 0, u, 1.0), bl)
            new = np.where(bl > 0, w + rn1 * w + t * geo, w)
            return resp.clip(new) if elements is None else elements.clip(resp, new)
    # pulse by pulse on the flattened elements (one index array: cheaper than a tuple of them); the active
    # set keeps row-major order, so the cycle-noise draws come in the same order as before
    wf, upf, blf = w.reshape(-1), up.reshape(-1), bl.reshape(-1)
    elf = None if elements is None else elements if w.ndim == 1 else elements.reshape(-1)
    active = np.flatnonzero(blf > 0)
    for k in range(n_max):
        if k:  # shrink the working set to the elements that still have pulses to fire
            active = active[blf[active] > k]
        wa = wf[active]
        ua = upf[active]
        el = None if elf is None else elf.take(active)
        if el is None:
            q = np.where(ua, resp.q_plus(wa), -resp.q_minus(wa))
        else:
            q = el.q(resp, wa, ua, signed=True)
        if device.sigma_c:                 # (multiplicative noise does not read the signs)
            q = noisy_step(device, q, None if device.multiplicative else np.where(ua, 1.0, -1.0),
                           rng.standard_normal(wa.shape))
        wa += device.dw_min * q                # wa is a fresh gather: the sum and its clip in place
        wf[active] = resp.clip(wa, out=wa) if el is None else el.clip(resp, wa, out=wa)
    return w


PULSE_KERNEL = True            # False: pulse_update always runs its NumPy code (the tests compare the two)
_PCG_WORDS: list = []         # [whether PCG64's state words sit where pulse_affine reads them], checked once
_NO_LOCK = contextlib.nullcontext()


def _pulse_affine(device, w: np.ndarray, dw: np.ndarray, rng) -> np.ndarray | None:
    """:func:`pulse_update` of an affine response without cycle noise or per-element parameters, its BL counted here,
    in one compiled call (``kernels_chains_jit.pulse_affine``: the same uniforms of the same PCG64 Generator, the same
    operations, NumPy's own log1p/expm1 (``kernels_chains_jit.numpy_math``), so the same bits; tested): ~7 us instead
    of ~32 us for 400 weights, the small arrays of a stepped simulation (the batch-mean model of P1 Fig. 2: every
    pulse write of a step). None: run the NumPy code (numba not installed, float32 arrays, stochastic rounding on a
    Generator other than PCG64 or none, a non-finite dw, u <= -1)."""
    if not PULSE_KERNEL or w.dtype != np.float64 or dw.dtype != np.float64:
        return None
    stochastic = device.rounding != "ceil"
    state, lock = 0, _NO_LOCK
    if stochastic:
        if type(rng) is not np.random.Generator or type(rng.bit_generator) is not np.random.PCG64 \
                or not _pcg_words_in_place():
            return None
        state, lock = rng.bit_generator.ctypes.state_address, rng.bit_generator.lock    # (NumPy draws under it too)
    kernel = _kernel("pulse_affine")
    if kernel is None:
        return None
    ap, bp, am, bm = (float(v) for v in device.response.affine)
    resp = device.response
    with lock:
        status, new = kernel(w.reshape(-1), np.ascontiguousarray(dw).reshape(-1), float(device.dw_min), stochastic,
                             -1 if device.max_bl is None else int(device.max_bl), ap, bp, am, bm, float(resp.lo),
                             float(resp.hi), _kernel("numpy_math")(), state)
    return new.reshape(w.shape) if status == 0 else None


def _pcg_words_in_place() -> bool:
    """Whether a PCG64 Generator's state address leads to its state and increment as ``pulse_affine`` reads them
    (a pointer, then four 64-bit words, low words first) and the kernel's draws are ``rng.random``'s (checked once
    per process on two seeds; else the NumPy code runs)."""
    if not _PCG_WORDS:
        import ctypes
        ok = _kernel("pulse_affine") is not None
        for seed in (0, 2**63 + 12345) if ok else ():
            rng = np.random.Generator(np.random.PCG64(seed))
            rng.random(3)
            addr = ctypes.c_uint64.from_address(rng.bit_generator.ctypes.state_address).value
            words = (ctypes.c_uint64 * 4).from_address(addr)
            st = rng.bit_generator.state["state"]
            m = (1 << 64) - 1
            ok = ok and tuple(words) == (st["state"] & m, st["state"] >> 64, st["inc"] & m, st["inc"] >> 64)
            if ok:         # 37 stochastic roundings of n = dw (dw_min 1) by q = 1 (w + n): the counts and the state
                dw = np.linspace(0.05, 1.95, 37)
                twin = np.random.Generator(np.random.PCG64(seed))
                twin.random(3)
                from numba.core.errors import NumbaError
                try:
                    _, new = _kernel("pulse_affine")(np.zeros(37), dw, 1.0, True, -1, 1.0, 0.0, 1.0, 0.0, -np.inf,
                                                     np.inf, 0, rng.bit_generator.ctypes.state_address)
                except NumbaError:      # a numba that cannot compile it: the NumPy code runs
                    _PCG_WORDS.append(False)
                    return False
                counts = np.floor(dw) + (twin.random(37) < dw - np.floor(dw))
                ok = bool(np.array_equal(new, counts) and rng.random() == twin.random())
        _PCG_WORDS.append(ok)
    return _PCG_WORDS[0]


def affine_increments(aff, el, dw: float, down):
    """One pulse of an affine response as w <- (1 + u) w + t: u = dw s+ b+ k+, t = dw s+ a+ up, and
    u = -dw s- b- k-, t = -dw s- a- down (s: the element's step scale, k its stretch)."""
    ap, bp, am, bm = aff
    if el is None:
        s = dw
    else:
        s = np.where(down, el.down, el.up) * dw
        if el.up_stretch is not None:          # q(k w) = a + (b k) w
            bp, bm = bp * el.up_stretch, bm * el.down_stretch
    return np.where(down, -s * bm, s * bp), np.where(down, -s * am, s * ap)
