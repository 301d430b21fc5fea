"""Optional compiled kernel (numba) for the hottest loop: Analog SGD and digital SGD on the scalar
quadratic with the expected-update model, one pass per chain-step instead of a dozen array passes.

NumPy stays the default (``simulation.run(backend="numpy")``); ``backend="numba"`` needs
``pip install -e ".[fast]"``. The kernel draws from the same ``numpy.random.Generator`` (numba shares
its bit generator and its normal sampler), in the same order (step by step, chain by chain), and
repeats the NumPy path's floating-point operations one by one, so ``mean``, ``se``, ``variance`` and
the final weights are the same bits as the NumPy path (tested; the per-step trajectory mean is summed
in another order, equal to rounding). Covered: response families softbounds, linear, power,
exponential and ideal, also moved by ``--sp-shift`` or a scalar device offset; anything else (pulses,
device-to-device variation, user expressions, two-array algorithms, observables) is an error that
says so, never a silent fall-back.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import InputError

_KINDS = {"ideal": 0, "softbounds": 1, "linear": 2, "power": 3, "exponential": 4}
_kernel = None


def available() -> bool:
    try:
        import numba  # noqa: F401 -- only whether it imports
    except ImportError:
        return False
    return True


def _response_code(resp) -> tuple[int, tuple]:
    """(kind, (a, b, c, shift, lo, hi)) of a built-in family, mirroring its NumPy evaluation."""
    p = resp.params
    shift = float(p.get("shift", 0.0))
    kind = _KINDS.get(resp.name)
    if kind is None:
        raise InputError("--backend", f"the numba kernel covers the families {', '.join(_KINDS)} "
                                      f"(got {resp.name!r}); use the default backend numpy")
    if kind == 0:
        a = b = c = 0.0
    elif kind == 1:
        a, b, c = 1.0 / p["tau"], p["sp"], 0.0
    elif kind == 2:
        a, b, c = p["tau"], p["c"], 0.0
    elif kind == 3:
        a, b, c = 1.0 / p["tau"], p["gamma"], 0.0
    else:
        g = p["gamma"]
        a, b, c = g / p["tau"], g, 1.0 / math.expm1(g)
    return kind, (float(a), float(b), float(c), shift, float(resp.lo), float(resp.hi))


def plan(objective, algorithm, observables) -> tuple:
    """What the kernel needs, or an InputError saying why this run is not covered."""
    from .objectives import ScalarQuadratic
    if not isinstance(objective, ScalarQuadratic) or objective.per_sample or objective.law != "gaussian":
        raise InputError("--backend", "the numba kernel covers the scalar quadratic with Gaussian noise (no "
                                      "per-sample gradients)")
    if observables:
        raise InputError("--backend", "the numba kernel records no observables; use the numpy backend")
    cfg = getattr(algorithm, "config", None) or ()
    if cfg and cfg[0] == "digital-sgd":
        return (0, cfg[1], -1, (0.0,) * 6, 0.0)
    if not cfg or cfg[0] != "analog-sgd":
        raise InputError("--backend", f"the numba kernel covers analog-sgd and digital-sgd (got {algorithm.name})")
    lr, dev = cfg[1], cfg[2]
    if dev.pulsed or dev.varies or np.ndim(dev.offset) != 0:
        raise InputError("--backend", "the numba kernel covers the expected-update model without device-to-device "
                                      "variation or per-element offsets; use the numpy backend")
    kind, coef = _response_code(dev.response)
    return (1, lr, kind, coef, float(dev.offset))


def _compile():
    global _kernel
    if _kernel is not None:
        return _kernel
    try:
        from numba import njit
    except ImportError:
        raise InputError("--backend", "numba is not installed: pip install -e \".[fast]\" (or use --backend numpy)") from None

    @njit(cache=True, nogil=True)
    def update(w, dw, kind, a, b, c, shift, lo, hi):
        # one element of expected_update_fg (response.py's fg / q_directed, operation by operation)
        u = w - shift
        if kind == 0:
            out = (dw - abs(dw) * 0.0) + w
        elif kind == 1:
            G = (u - b) * a
            out = (dw - abs(dw) * G) + w
        elif kind == 2:
            F = 1.0 - (b / a) * u
            G = u * (1.0 / a) - b
            out = (dw * F - abs(dw) * G) + w
        elif kind == 3:
            q = 1.0 - math.copysign(a, dw) * u
            if q < 0.0:
                q = 0.0
            if b == 0.5:
                q = math.sqrt(q)
            elif b != 1.0:
                q = q ** b
            out = q * dw + w
        else:
            q = math.expm1(b - math.copysign(a, dw) * u) * c
            out = q * dw + w
        lo_s, hi_s = lo + shift, hi + shift
        if out < lo_s:
            out = lo_s
        elif out > hi_s:
            out = hi_s
        return out

    @njit(cache=True, nogil=True)
    def loop(W, s1, s2, traj, rng, k0, k1, steps, start, record_every, L, ws, noise, analog, lr, kind, a, b, c,
             shift, lo, hi, offset):
        n = W.shape[0]
        neg_lr = -lr
        for k in range(k0, k1):
            for i in range(n):
                w = W[i]
                if noise != 0.0:
                    xi = rng.standard_normal()
                    g = xi * noise + ((w - ws) if L == 1.0 else L * (w - ws))
                else:
                    g = L * (w - ws)
                if analog:
                    W[i] = update(w - offset, neg_lr * g, kind, a, b, c, shift, lo, hi) + offset \
                        if offset != 0.0 else update(w, neg_lr * g, kind, a, b, c, shift, lo, hi)
                else:
                    W[i] = w - lr * g
            if (k + 1) % 64 == 0 or k + 1 == steps:
                for i in range(n):
                    if not math.isfinite(W[i]):
                        return k + 1
            if k + 1 > start:
                for i in range(n):
                    s1[i] += W[i]
                    s2[i] += W[i] * W[i]
            if (k + 1) % record_every == 0:
                acc = 0.0
                for i in range(n):
                    acc += W[i]
                traj[(k + 1) // record_every] = acc / n
        return -1

    _kernel = loop
    return loop


def run_loop(objective, algorithm, params, rng, steps, start, record_every, s1, s2, traj_out, progress=None):
    """The simulation loop of :func:`aimc_theory.simulation.run` in the compiled kernel; fills ``s1``,
    ``s2`` and ``traj_out`` (length steps // record_every + 1, entry 0 already set) in place."""
    import time
    analog, lr, kind, (a, b, c, shift, lo, hi), offset = plan(objective, algorithm, None)
    loop = _compile()
    W = np.ascontiguousarray(params[:, 0])
    S1, S2 = np.zeros_like(W), np.zeros_like(W)
    chunk = max(1, int(4e6 // max(W.size, 1)))            # about a tenth of a second per call: progress, Ctrl-C
    t0 = time.perf_counter()
    for k0 in range(0, steps, chunk):
        k1 = min(steps, k0 + chunk)
        bad = loop(W, S1, S2, traj_out, rng, k0, k1, steps, start, record_every, float(objective.L),
                   float(objective.w_star), float(objective.noise), analog == 1, float(lr), kind, a, b, c, shift,
                   lo, hi, offset)
        if bad >= 0:
            raise InputError("lr", f"the iterates diverged (non-finite weights by step {bad}); use a smaller step size")
        if progress is not None:
            progress(k1, steps, time.perf_counter() - t0)
    params[:, 0] = W
    s1[:, 0] = S1
    s2[:, 0] = S2
    return params
