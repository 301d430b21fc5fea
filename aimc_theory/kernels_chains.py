"""Optional compiled loops (numba) that repeat the NumPy path bit for bit, several to tens of times faster:

* the chains of :func:`aimc_theory.simulation.simulate` (``backend="exact"``, also what ``"auto"`` falls back to):
  Analog and digital SGD, Residual Learning v1 / Tiki-Taka and RL v2 (:mod:`aimc_theory.residual_learning`,
  arXiv 2502.06309 eq. 10-15), RIDER and E-RIDER (:mod:`aimc_theory.tracking`, arXiv 2602.21321 Algorithms 2-3) on
  the scalar quadratic and on full-batch least squares, with expected-update devices (also per-element shapes,
  bounds and offsets of the array written with the gradient: the reference simulator's device-to-device
  variation), and the observables :class:`aimc_theory.tracking.QWindow` and :class:`Trace`;
* zero-shifting, :func:`aimc_theory.calibration.zero_shift` (``backend="exact"``);
* alternating pulses without cycle noise, :func:`aimc_theory.presets.pulse_devices` (``backend="exact"``).

The same bits as the NumPy path: the loops draw from the same ``numpy.random.Generator`` (numba shares its bit
generator and its samplers) in the same order (e.g. the gradient noise of every chain, then the read noise of every
chain; E-RIDER's chopper from its own generator), repeat the NumPy path's floating-point operations one by one
(``expected_update_fg``, ``affine_expected_update``, ``Device.pulse``, ``Response.fg``, the read-out, the EMA), call
NumPy's own vectorized expm1/exp/pow/log1p (its SVML routines, lane by lane: :func:`numpy_math`), form least-squares
products as BLAS does (a sequential fused multiply-add, checked against NumPy's product on the run's shape) and sum
the chain means in NumPy's order. What is covered is decided per run and checked: a response is covered only when
its compiled form gives NumPy's bits on a grid of weights and steps (:func:`device_code`, :func:`zs_code`,
:func:`alternate_code`, :func:`alternate_exp_code`); anything else (pulse-level or per-sample writes, mini-batches,
other observables, user expressions that are not affine, ...) is an :class:`~aimc_theory.errors.InputError` that
says so, and ``backend="exact"`` then runs NumPy. ``tests/test_kernels_chains.py`` compares every covered rule, family and
option bit for bit. The compiled code is in :mod:`aimc_theory.kernels_chains_jit` (module-level, so that numba's
on-disk cache serves the next process).
"""
from __future__ import annotations

import math

import numpy as np

from .errors import InputError
from .kernel_cache import PerResponse

RL1, RL2, RIDER, ASGD, DIGITAL = 0, 1, 2, 3, 4          # the rules (codes of the compiled loop)
CHUNK = 2e6             # element-steps per compiled call (~0.02-0.1 s): progress and Ctrl-C come between calls
# least squares: the compiled loop (10-18 ns per chain-coordinate and step with D = 10, its products one FMA at a
# time, whatever the size) wins by NumPy's per-step overhead (~50 us); past ~10,000 chain-coordinates NumPy's BLAS
# and bulk draws are as fast (measured, Analog SGD and RL v1, soft bounds, power and exponential: 1.4-2.4x faster
# at 5,000, even at 20,000, NumPy 1.1-1.4x faster at 40,000)
LS_MAX_ELEMENTS = 10000
_checked = PerResponse(256)        # device code per response (the self-check runs once per response)


def _refuse(why: str):
    raise InputError("backend", f"the numba chain kernel {why}; use the numpy backend")


# -- a device as the compiled loop sees it -----------------------------------------------------------------

# slots of a device's parameter vector
_N = 19


def numpy_math() -> int:
    """Which compiled expm1/exp/pow/log1p give NumPy's float64 bits on this machine (checked once per process on
    10^5 arguments each): 1 NumPy's own SVML routines (its AVX-512 loops), 0 the C library's (NumPy's scalar
    loops), -1 neither (then no response that needs them is covered). (``kernels_chains_jit.numpy_math``.)"""
    return _compile().numpy_math()


def _q_code(resp):
    """(kind, p1, p2, shift, p3) of q+/q- as the family's NumPy forms compute them (Device.pulse), kind -1 if
    none."""
    from .kernels import _form, FORMS
    form = _form(resp, FORMS)
    p = resp.params
    shift = float(p.get("shift", 0.0))
    if form == "softbounds":
        return 1, float(p["tau"]), float(p["sp"]), shift, 0.0
    if form == "linear":
        return 2, float(p["tau"]), float(p["c"]), shift, 0.0
    if form == "power":
        return 3, float(p["tau"]), float(p["gamma"]), shift, 0.0
    if form == "exponential":
        return 4, float(p["tau"]), float(p["gamma"]), shift, math.expm1(p["gamma"])
    if form == "ideal":
        return 0, 0.0, 0.0, shift, 0.0
    return -1, 0.0, 0.0, shift, 0.0


def device_code(device, what: str) -> np.ndarray:
    """The parameter vector of an expected-update ``device`` for the compiled loop: [kind, a, b, c, shift, lo, hi]
    of ``expected_update_fg`` (:func:`aimc_theory.kernels.response_code`), [q kind, p1, p2, q shift] of its
    q+/q- and [affine, f0, f1, g0, g1] of ``affine_expected_update``; an InputError (naming ``what``) when the
    device is not covered or its compiled form does not give NumPy's bits on a test grid."""
    if device.pulsed:
        _refuse(f"covers expected-update devices ({what} is pulse level)")
    if device.varies or not device._no_offset:
        _refuse(f"covers devices without device-to-device variation or offsets ({what})")
    return _checked.get(device.response, lambda: _device_code(device.response, what))


def _device_code(resp, what: str) -> np.ndarray:
    from . import kernels
    kind, (a, b, c, shift, lo, hi) = kernels.response_code(resp)
    mode = numpy_math() if kernels.libm_math(kind, (a, b, c)) else 0
    if mode < 0:
        _refuse(f"has no expm1/pow with NumPy's bits on this machine ({resp.describe()}, {what})")
    qk, q1, q2, qs, q3 = _q_code(resp)
    code = np.zeros(_N)
    code[:7] = (kind, a, b, c, shift, lo, hi)
    code[7:11] = (qk, q1, q2, qs)
    code[16:18] = (mode, q3)
    aff = resp.affine
    if aff is not None:
        from .update_models import fg_coefficients
        code[11:16] = (1.0, *fg_coefficients(aff))
    _self_check(resp, code, what)
    return code


def element_code(device, shape, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(code, per-element arrays) of an expected-update ``device`` with its own per-element shapes, bounds and
    offsets (``Device.reshaped``: the reference simulator's device-to-device variation) for a run of ``shape``
    (chains, D): code [9, a+, b+, a-, b-, ..., has offset at 18] of an affine response whose q+/q- are NumPy's bits
    (or [10, c+, k+, m+, d+, c-, k-, m-, d-, ..., NumPy's exp mode at 16, has offset] of an exponential step,
    :func:`alternate_exp_code`), arrays (7, chains x D) of up and down scale, up and down stretch, lo, hi and
    offset; else an InputError."""
    if device.pulsed:
        _refuse(f"covers expected-update devices ({what} is pulse level)")
    resp = device.response
    code = np.zeros(_N)
    if resp.affine is not None:
        code[0] = 9
        code[1:5] = alternate_code(resp)
    else:                       # an exponential step (code 10): q = c exp(k x + m) + d, NumPy's exp
        code[0] = 10
        code[1:9] = alternate_exp_code(resp)
        code[16] = numpy_math()
    el = device.elements(shape)
    n = int(np.prod(shape))

    def full(a, default):
        return np.array(np.broadcast_to(default if a is None else a, shape), dtype=float).reshape(n)

    has_off = not device._no_offset
    pe = np.stack([full(el.up, 1.0), full(el.down, 1.0), full(el.up_stretch, 1.0), full(el.down_stretch, 1.0),
                   full(el.lo, resp.lo), full(el.hi, resp.hi), full(device.offset if has_off else None, 0.0)])
    code[18] = float(has_off)
    return code, pe


def _p_code(device, shape, what: str) -> tuple[np.ndarray, np.ndarray]:
    """The code of the array written with lr g (and its per-element arrays, a placeholder without them)."""
    if device.reshaped and shape is not None:
        return element_code(device, shape, what)
    return device_code(device, what), np.zeros((7, 1))


def _grid(resp) -> tuple[np.ndarray, np.ndarray]:
    lo = resp.lo if math.isfinite(resp.lo) else -2.0
    hi = resp.hi if math.isfinite(resp.hi) else 2.0
    rng = np.random.default_rng(1)
    w = np.concatenate([np.linspace(lo, hi, 41), rng.uniform(lo, hi, 200)])
    dw = rng.standard_normal(w.size) * 10.0 ** rng.uniform(-6, -1, w.size)
    dw[:4] = (0.0, -0.0, 1e-3, -1e-3)
    return w, dw


def _self_check(resp, code, what):
    """The compiled forms against NumPy's on a grid of weights and steps, bit for bit (else not covered)."""
    from .update_models import affine_expected_update, expected_update_fg
    fns = _compile()
    w, dw = _grid(resp)
    d = tuple(code)         # as the loop gets it (see run)
    ok = np.array_equal(fns.eu_vec(w, dw, d), expected_update_fg(resp, w, dw), equal_nan=True)
    if ok and code[7] >= 0:
        with np.errstate(all="ignore"):
            ok = (np.array_equal(fns.q_vec(w, d, True), resp.q_plus(w), equal_nan=True)
                  and np.array_equal(fns.q_vec(w, d, False), resp.q_minus(w), equal_nan=True))
    if ok and code[11]:
        ok = np.array_equal(fns.affine_vec(w, dw, d), affine_expected_update(resp, w, dw.copy()), equal_nan=True)
        mine = w.copy()                                 # the loop's whole-array form of the transfer
        fns.affine_loop(mine, dw, 1.0, d)
        ok = ok and np.array_equal(mine, affine_expected_update(resp, w, dw.copy()), equal_nan=True)
    if ok and fns.vec_kind(d):                          # the loop's whole-array form of the writes
        mine = w.copy()
        fns.eu_into(mine, dw, 1.0, d)
        ok = np.array_equal(mine, expected_update_fg(resp, w, dw), equal_nan=True)
    if not ok:
        _refuse(f"does not repeat NumPy's bits for the response {resp.describe()} ({what})")


# -- the rules ---------------------------------------------------------------------------------------------------

def _objective(objective, chains) -> dict:
    """The objective's part of a plan: the scalar quadratic, or least squares with the full-batch gradient W H -
    A^T b / N (+ additive noise), whose products the kernel forms as BLAS does (checked here on this run's shape)."""
    from .objectives import LeastSquares, ScalarQuadratic
    if isinstance(objective, ScalarQuadratic) and not objective.per_sample:
        return dict(objective=0, D=1, H=np.zeros((1, 1)), Atb=np.zeros(1))
    if isinstance(objective, LeastSquares) and not objective.per_sample and objective.batch_size is None:
        if chains is None:
            _refuse("needs the number of chains to check its least-squares products")
        D = objective.dim
        if chains * D > LS_MAX_ELEMENTS:
            _refuse(f"runs least squares on at most {LS_MAX_ELEMENTS:,} chain-coordinates (got {chains:,} x {D}): "
                    "beyond, NumPy's path (BLAS products, bulk draws) is as fast")
        Hm = np.asarray(objective.H, dtype=float)
        HT = np.ascontiguousarray(Hm.T)
        X = np.random.default_rng(0).standard_normal((chains, D))
        mine = np.empty((D, chains))             # the kernel's product, transposed (matmul_fma_t)
        _compile().matmul_fma_t(X, HT, np.empty((D, chains)), mine)
        if not np.array_equal(mine.T, X @ Hm):
            _refuse(f"does not repeat NumPy's bits for the ({chains}, {D}) x ({D}, {D}) products of this problem")
        return dict(objective=1, D=D, H=HT, Atb=np.ascontiguousarray(objective.Atb, dtype=float))
    _refuse("covers the scalar quadratic and full-batch least squares (no mini-batches or per-sample gradients)")


class Trace:
    """Observable of :func:`aimc_theory.simulation.simulate` that keeps every step's read-out weights of the first
    coordinate, (chains,) per step in ``seen`` (before each step), and adds nothing to the averages (zeros). The
    compiled kernel fills the same numbers (for Analog SGD and digital SGD)."""

    def __init__(self):
        self.seen = []

    def __call__(self, w, state=None):
        self.seen.append(w[:, 0].copy())
        return np.zeros(w.shape[0])


def plan(objective, algorithm, observables=None, chains: int | None = None) -> dict:
    """What the compiled loop needs for this run (``chains``: needed for least squares), or an InputError saying
    why it is not covered."""
    obj = _objective(objective, chains)
    cfg = algorithm.config
    name = cfg[0] if cfg else None
    window = trace = None
    if observables:
        from .tracking import QWindow
        only = next(iter(observables.values())) if len(observables) == 1 else None
        if name == "rider" and isinstance(only, QWindow) and only.k == 0 and obj["D"] == 1:
            window = only
        elif name in ("analog-sgd", "digital-sgd") and isinstance(only, Trace) and not only.seen:
            trace = only
        else:
            _refuse("records no observables but RIDER's QWindow and Analog/digital SGD's Trace (fresh ones)")
    base = dict(beta=0.0, gamma=0.0, eta=0.0, read_noise=0.0, dw=0.0, every=1, chop=0.0, window=None, trace=None,
                pe=np.zeros((7, 1)), **obj)
    shape = None if chains is None else (chains, obj["D"])
    if name in ("analog-sgd", "digital-sgd"):
        analog = name == "analog-sgd"
        code, pe = _p_code(cfg[2], shape, "the array W") if analog else (np.zeros(_N), base["pe"])
        return {**base, "rule": ASGD if analog else DIGITAL, "lr": cfg[1], "p": code, "w": code, "trace": trace,
                "pe": pe}
    if name == "residual-learning":
        _, lr, beta, gamma, dev_p, dev_w, transfer_every, read_noise, p0, cols = cfg
        if cols is not None and cols < obj["D"]:
            _refuse("transfers every column at once (columns_per_transfer covers them all)")
        code, pe = _p_code(dev_p, shape, "the residual array P")
        return {**base, "rule": RL1, "lr": lr, "beta": beta, "gamma": gamma, "read_noise": read_noise,
                "every": transfer_every, "p": code, "pe": pe, "w": device_code(dev_w, "the main array W")}
    if name == "residual-learning-v2":
        _, lr, beta, gamma, dev_p, dev_w, read_noise, dw, p0 = cfg
        code_w = device_code(dev_w, "the main array W")
        if code_w[7] < 0:
            _refuse(f"has no compiled q+/q- for {dev_w.response.describe()} (the main array W)")
        code, pe = _p_code(dev_p, shape, "the residual array P")
        return {**base, "rule": RL2, "lr": lr, "beta": beta, "gamma": gamma, "read_noise": read_noise, "dw": dw,
                "p": code, "pe": pe, "w": code_w}
    if name == "rider":
        _, lr, beta, gamma, eta, dev_p, dev_w, chop_prob = cfg[:8]
        code, pe = _p_code(dev_p, shape, "the residual array P")
        return {**base, "rule": RIDER, "lr": lr, "beta": beta, "gamma": gamma, "eta": eta, "chop": chop_prob,
                "p": code, "pe": pe, "w": device_code(dev_w, "the main array W"), "window": window}
    _refuse(f"covers analog-sgd, digital-sgd, residual-learning, residual-learning-v2, rider and e-rider (got "
            f"{algorithm.name})")


def run(objective, plan_: dict, params, state, rng, steps, start, record_every, s1, s2, traj, observables=None,
        progress=None, boundary=None):
    """The loop of :func:`aimc_theory.simulation.simulate` for a planned run: fills ``s1``, ``s2`` (chains, D)
    and ``traj`` (steps // record_every + 1, D; row 0 set) in place, and a QWindow's ``traj`` and ``wtraj``;
    returns (params, state, observables' sums over the steps) after the last step. ``boundary``: the context that
    holds Ctrl-C until a chunk boundary (:class:`aimc_theory.simulation.StepBoundary`; then :class:`Stopped` with the
    steps that ran), None: Ctrl-C stops the run where it is."""
    import time
    from .residual_learning import RLState, RLv2State
    from .tracking import TrackingState
    fns = _compile()
    pl = plan_
    chains, D = params.shape
    n = chains * D

    def flat(a):
        return np.array(np.broadcast_to(a, (chains, D)), dtype=float).reshape(-1)

    W = flat(params)
    rule = pl["rule"]
    step0 = 0
    one = np.zeros(1)
    P = Q = Qr = C = H = flips = one
    if rule == RL1:
        if state.pointer:
            _refuse("starts from a fresh state")
        P, step0 = flat(state.P), state.step
    elif rule == RL2:
        P, H, flips = flat(state.P), flat(state.H), flat(state.total_pulses)
    elif rule == RIDER:
        P, Q, Qr = flat(state.P), flat(state.Q), flat(state.Q_ref)
        C = np.array(state.c[:, 0], dtype=float)
        flips = np.array(state.flips, dtype=float)
    chopper = state.chopper if rule == RIDER and pl["chop"] else rng
    # E-RIDER's chopper: its PCG64 stepped in the kernel (kernels.pcg_state: the same numbers as chopper.random()),
    # its words stored back in finish(); not when it is the gradient's own Generator (their draws interleave)
    from .kernels import pcg_state, pcg_store
    chop_inline = pcg_state(chopper) if rule == RIDER and pl["chop"] and chopper is not rng else None
    cst = chop_inline[1] if chop_inline is not None else np.zeros(4, np.uint64)
    win = pl["window"]
    trace = pl["trace"]
    seen = np.empty((steps if trace is not None else 1, chains))
    if win is not None:
        groups, every_w = win.groups, win.every
        nrec = (steps - 1) // every_w + 1
        qtraj, wtraj = np.empty((nrec, groups)), np.empty((nrec, groups))
        qacc = np.zeros(n)
        wpar = np.array([win.start, every_w, groups], dtype=np.int64)
        wscale = float(win.scale)
    else:
        qtraj = wtraj = np.empty((1, 1))
        qacc = np.zeros(1)
        wpar = np.array([-1, 1, 1], dtype=np.int64)
        wscale = 0.0
    S1, S2 = np.zeros(n), np.zeros(n)
    R, G = np.empty(n), np.empty(n)
    B1, B2 = np.empty(n), np.empty(n)      # scratch: the exponential writes' arguments and values, RIDER's differences
    laplace = objective.law == "laplace"
    f = np.array([pl["lr"], pl["beta"], pl["gamma"], pl["eta"], pl["read_noise"], pl["dw"], pl["chop"],
                  float(getattr(objective, "L", 1.0)), float(getattr(objective, "w_star", 0.0)),
                  float(objective.noise), float(objective.noise / np.sqrt(2.0)) if laplace else 0.0])
    ints = np.array([rule, pl["every"], step0, laplace, pl["objective"], D], dtype=np.int64)
    chunk = max(1, int(CHUNK // max(n * (D if D > 1 else 1), 1)))      # about a tenth of a second per call

    def finish(done: int):
        """(params, state, observables' sums) after ``done`` steps; s1, s2 and the records written."""
        if chop_inline is not None:
            pcg_store(chopper, *chop_inline)
        s1[:] = S1.reshape(chains, D)
        s2[:] = S2.reshape(chains, D)
        params = W.reshape(chains, D)
        obs = {}
        if win is not None:
            kept = (done - 1) // win.every + 1 if done else 0
            win.traj.extend(qtraj[:kept])
            win.wtraj.extend(wtraj[:kept])
            win.k = done
            obs = {name: qacc for name in observables}
        if trace is not None:
            trace.seen.extend(seen[:done])
            obs = {name: np.zeros(chains) for name in observables}
        if rule in (ASGD, DIGITAL):
            return params, state, obs
        shaped = (lambda a: a.reshape(chains, D))
        if rule == RL1:
            new = RLState(shaped(P), step0 + done, 0)
        elif rule == RL2:
            new = RLv2State(shaped(P), shaped(H), shaped(flips))
        else:
            Qa = shaped(Q)
            new = TrackingState(shaped(P), Qa, shaped(Qr) if pl["chop"] else Qa, C[:, None],
                                flips if pl["chop"] else state.flips, state.chopper)
        return params, new, obs

    t0 = time.perf_counter()
    done = 0
    dp, dw_code = tuple(pl["p"]), tuple(pl["w"])
    try:
        with (boundary or _NoBoundary)() as guard:     # Ctrl-C stops after the chunk in progress (its steps kept)
            for k0 in range(0, steps, chunk):
                if guard.pending:
                    guard.check()
                k1 = min(steps, k0 + chunk)
                # the device codes as tuples (values, not memory the loop's writes might alias: LLVM keeps them in
                # registers and hoists their branches out of the element loops; ~1.8x faster per element-step)
                bad = fns.loop(ints, f, dp, pl["pe"], dw_code, W, P, Q, Qr, C, H, flips, R, G, pl["H"],
                               pl["Atb"], S1, S2, traj, rng, chopper, k0, k1, steps, start, record_every, wpar,
                               wscale, qacc, qtraj, wtraj, trace is not None, seen, B1, B2, cst,
                               chop_inline is not None)
                if bad >= 0:
                    if chop_inline is not None:
                        pcg_store(chopper, *chop_inline)
                    raise InputError("lr", f"the iterates diverged (non-finite weights by step {bad}); use a smaller "
                                           "step size")
                done = k1
                if progress is not None:
                    progress(k1, steps, time.perf_counter() - t0)
    except KeyboardInterrupt:
        raise Stopped(done, *finish(done)) from None
    return finish(steps)


class _NoBoundary:
    pending = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class Stopped(KeyboardInterrupt):
    """Ctrl-C during :func:`run`: ``done`` whole steps ran; ``params``, ``state`` and ``observables`` after them (the
    sums of ``s1``/``s2`` and the trajectory's first done // record_every + 1 rows hold those steps)."""

    def __init__(self, done, params, state, observables):
        super().__init__()
        self.done, self.params, self.state, self.observables = done, params, state, observables


def _compile():
    """The compiled functions (:mod:`aimc_theory.kernels_chains_jit`), or an InputError without numba."""
    try:
        from . import kernels_chains_jit
    except ImportError:
        raise InputError("backend", "numba is not installed: pip install -e \".[fast]\" (or use --backend numpy)") \
            from None
    return kernels_chains_jit


# -- zero-shifting (aimc_theory.calibration.zero_shift): devices x pulses ---------------------------------------

_zs_checked = PerResponse(256)     # response code per response (the self-check runs once per response)


def zs_code(resp) -> np.ndarray:
    """[kind, p1, p2, p3, p4, shift, lo, hi, math mode] of q+ = F - G and q- = F + G as ``zero_shift`` computes
    them from ``resp.fg`` (kind 1 soft bounds, 2 linear, 3 power, 4 exponential, 5 an affine response without a
    hand-written fg: F, G from its q+ = a+ + b+ w and q- = a- + b- w; the mode of :func:`numpy_math`); an
    InputError when not covered or when the compiled form does not give NumPy's bits on a test grid."""
    return _zs_checked.get(resp, lambda: _zs_code(resp))


def _zs_code(resp) -> np.ndarray:
    from .kernels import _form, FORMS
    form = _form(resp, FORMS)
    p = resp.params
    code = np.zeros(9)
    if form == "softbounds":
        code[:5] = (1, 1.0 / p["tau"], p["sp"], 0.0, 0.0)
    elif form == "linear":
        code[:5] = (2, p["c"] / p["tau"], 1.0 / p["tau"], p["c"], 0.0)
    elif form == "power":
        code[:5] = (3, 1.0 / p["tau"], p["gamma"], 0.0, 0.0)
        code[8] = numpy_math() if p["gamma"] not in (0.5, 1.0) else 0
    elif form == "exponential":
        code[:5] = (4, p["gamma"], p["tau"], 2.0 * math.expm1(p["gamma"]), 0.0)
        code[8] = numpy_math()
    elif form is None and resp._fg is None and resp.affine is not None:
        code[:5] = (5,) + tuple(float(a) for a in resp.affine)
    else:
        _refuse(f"covers zero-shifting on the soft-bounds, linear, power and exponential families and affine "
                f"expressions (got {resp.describe()})")
    if code[8] < 0:
        _refuse(f"has no exp/pow with NumPy's bits on this machine ({resp.describe()})")
    code[5:8] = (float(p.get("shift", 0.0)), resp.lo, resp.hi)
    fns = _compile_zs()
    w = _grid(resp)[0]
    with np.errstate(all="ignore"):
        F, G = resp.fg(w)
        want = np.concatenate([np.broadcast_to(F - G, w.shape), np.broadcast_to(F + G, w.shape)])
    if not np.array_equal(fns.qpm_vec(w, code), want, equal_nan=True):
        _refuse(f"does not repeat NumPy's bits for the response {resp.describe()}")
    return code


def zs_plan(device, own: bool) -> np.ndarray:
    """The response code of a zero-shifting run on ``device``, or an InputError saying why it is not covered
    (per-element shapes, bounds or offsets: ``own``)."""
    if own:
        _refuse("covers zero-shifting without per-element shapes, bounds or offsets")
    return zs_code(device.response)


def zs_run(code, w, target, up_step, down_step, el_up, el_down, sq, gsq, settled, traj, rng, k0, k1, cyclic,
           sigma, multiplicative, dw, average_from, tolerance, record_every, record_devices):
    """Pulses k0..k1-1 of :func:`aimc_theory.calibration.zero_shift` in place (w, sq, gsq, settled; the records
    of ``traj`` (rows k // record_every for the pulses k + 1 that are multiples of record_every))."""
    from .kernels import pcg_state, pcg_store
    fns = _compile_zs()
    n = w.shape[0]
    alone = not cyclic and not sigma        # the uniforms alone: NumPy's PCG64 stepped in the kernel, or NumPy draws
    inline = pcg_state(rng) if alone else None      # them in one call (the same stream either way)
    pre = alone and inline is None
    U = rng.random((k1 - k0, n)) if pre else np.empty((1, n if not cyclic else 1))
    xi = np.empty(n) if sigma else np.empty(1)
    QP, QM = np.empty(n), np.empty(n)
    fns.zs_loop(code, w, target, up_step, down_step, el_up, el_down, sq, gsq,
                settled if settled is not None else np.zeros(1, dtype=np.int64), traj, rng, k0, k1, cyclic,
                float(sigma), multiplicative, float(dw), average_from,
                float(tolerance) if tolerance is not None else 0.0, settled is not None, record_every, record_devices,
                U, pre, xi, QP, QM, np.zeros(4, np.uint64) if inline is None else inline[1], inline is not None)
    if inline is not None:
        pcg_store(rng, *inline)


def _compile_zs():
    """The compiled functions (:mod:`aimc_theory.kernels_chains_jit`), or an InputError without numba."""
    try:
        from . import kernels_chains_jit
    except ImportError:
        raise InputError("backend", "numba is not installed: pip install -e \".[fast]\" (or use --backend numpy)") \
            from None
    return kernels_chains_jit

# -- alternating pulses (aimc_theory.presets.pulse_devices): devices x pulses, no random draws ------------------

_alt_checked = PerResponse()


def alternate_code(resp) -> np.ndarray:
    """(a+, b+, a-, b-) of an affine response whose q+ = a+ + b+ w and q- = a- + b- w are NumPy's bits (checked on a
    grid: the lambdified expressions of the reference simulator's presets), else an InputError."""
    return _alt_checked.get(resp, lambda: _alternate_code(resp))


def _alternate_code(resp) -> np.ndarray:
    aff = resp.affine
    if aff is None:
        _refuse(f"covers alternating pulses on affine responses (got {resp.describe()})")
    fns = _compile()
    code = np.array([float(a) for a in aff])
    _check_q(resp, lambda w, up: fns.alt_q_vec(w, code, up))
    return code


def _check_q(resp, q) -> None:
    """q(w, up) (compiled) against resp.q_plus / q_minus on a grid, bit for bit, else an InputError."""
    w = _grid(resp)[0]
    w = np.concatenate([w, 3 * w])                      # stretched arguments reach beyond the range
    with np.errstate(all="ignore"):
        ok = (np.array_equal(q(w, True), resp.q_plus(w), equal_nan=True)
              and np.array_equal(q(w, False), resp.q_minus(w), equal_nan=True))
    if not ok:
        _refuse(f"does not repeat NumPy's bits for the response {resp.describe()}")


_alt_exp_checked = PerResponse()


def alternate_exp_code(resp) -> np.ndarray:
    """(c+, k+, m+, d+, c-, k-, m-, d-) of an exponential step q+ = c+ exp(k+ w + m+) + d+, q- = c- exp(k- w + m-) +
    d- (``Response.exp_form``: the reference simulator's ExpStep presets) whose compiled form with NumPy's exp gives
    NumPy's bits (checked on a grid), else an InputError."""
    return _alt_exp_checked.get(resp, lambda: _alternate_exp_code(resp))


def _alternate_exp_code(resp) -> np.ndarray:
    form = getattr(resp, "exp_form", None)
    if form is None:
        _refuse(f"covers affine and exponential-step responses with per-device parameters (got {resp.describe()})")
    if len(form) != 8 or not all(math.isfinite(float(v)) for v in form):
        _refuse(f"needs eight finite numbers (c, k, m, d up and down) as the exponential form of {resp.describe()}")
    fns = _compile()
    mode = fns.numpy_math()
    if mode < 0:
        _refuse("needs NumPy's exp bits in compiled code, which this installation does not give")
    code = np.array([float(a) for a in form])
    _check_q(resp, lambda w, up: fns.alt_q_exp_vec(w, code, up, mode))
    return code


def alternate_setup(device, n: int) -> tuple:
    """The compiled loop's per-device arrays (n,) of a pulsed ``device`` without cycle noise: (size, q, up, down,
    up stretch, down stretch, lo, hi, offset, has offset), q the 4 numbers of :func:`alternate_code` or the 8 of
    :func:`alternate_exp_code`; an InputError when not covered."""
    if device.dw_min is None or device.sigma_c:
        _refuse("covers alternating pulses of the pulse-level model without cycle noise")
    q = alternate_code(device.response) if device.response.affine is not None else alternate_exp_code(device.response)
    el = device.elements((n,))
    resp = device.response

    def full(a, default):
        return np.array(np.broadcast_to(default if a is None else a, (n,)), dtype=float)

    up, down = (full(None, 1.0), full(None, 1.0)) if el is None else (full(el.up, 1.0), full(el.down, 1.0))
    ks_up = full(None if el is None else el.up_stretch, 1.0)
    ks_down = full(None if el is None else el.down_stretch, 1.0)
    lo = full(None if el is None else el.lo, resp.lo)
    hi = full(None if el is None else el.hi, resp.hi)
    has_off = not device._no_offset
    off = full(device.offset if has_off else None, 0.0)
    return float(device.dw_min), q, up, down, ks_up, ks_down, lo, hi, off, has_off


def alternate(device, w: np.ndarray, pulses: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pulses`` alternating pulses (up first) on every element of ``w`` (n,): the last three states
    (w_N, w_N-1, w_N-2), the bits of :func:`aimc_theory.presets._alternate`."""
    setup = alternate_setup(device, w.shape[0])
    W = np.array(w, dtype=float)
    prev, prev2 = np.empty_like(W), np.empty_like(W)
    fns = _compile()
    if setup[1].size == 4:
        fns.alt_last(W, int(pulses), *setup, prev, prev2)
    else:
        fns.alt_last_exp(W, int(pulses), *setup, prev, prev2, fns.numpy_math())
    return W, prev, prev2


def alternate_pairs(device, w0: float, pairs: int) -> np.ndarray:
    """One device's weight after each of ``pairs`` up/down pairs (``Device.pulse`` up then down, the bits)."""
    setup = alternate_setup(device, 1)
    fns = _compile()
    if setup[1].size == 4:
        return fns.alt_pairs(float(w0), int(pairs), *setup)
    return fns.alt_pairs_exp(float(w0), int(pairs), *setup, fns.numpy_math())
