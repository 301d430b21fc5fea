"""Optional compiled kernel (numba) for the hottest loop: Analog SGD and digital SGD on the scalar
quadratic with the expected-update model, one pass per chain-step instead of a dozen array passes.

NumPy stays the default (``simulation.simulate(backend="numpy")``); ``backend="numba"`` needs
``pip install -e ".[fast]"``. The kernel draws from the same ``numpy.random.Generator`` (numba shares
its bit generator and its normal sampler), in the same order (step by step, chain by chain), and
repeats the NumPy path's floating-point operations one by one, so ``mean``, ``se``, ``variance`` and
the final weights are the same bits as the NumPy path (tested; the per-step trajectory mean is summed
in another order, equal to rounding), but for the exponential family and the power family at gamma not in
{1/2, 1}, whose expm1/pow are libm's (the last bit may differ; ``backend="auto"`` runs those in the chains
loop of :mod:`aimc_theory.kernels_chains`, which calls NumPy's own). Covered: the response families whose record names a kernel form
(``Family.kernel``, :data:`FORMS`: softbounds, linear, power, exponential and ideal), also moved by
``--sp-shift`` or a scalar device offset; anything else (pulses, device-to-device variation, user
expressions, two-array algorithms, observables) is an error that says so, never a silent fall-back.

The pulse kernels (``pulse_trains.backend("numba")``, ``network.train(..., backend="numba")``) write the
coincidence trains of :mod:`aimc_theory.pulse_trains`. For an affine response with additive or no cycle noise
and no device-to-device variation, :func:`exact_batch` and :func:`exact_transfer` repeat the NumPy path in one
call per write and give its bits: the same scales, the same uniforms and normals drawn from the same Generator in
the same order (numba's Generator methods are NumPy's samplers on the same bit generator), the same events and
the same floating-point operations (tested with ``array_equal``); where an element is within reach of a bound
they hand their events back to the NumPy path. The other pulse kernels (:func:`pulse_batch`,
:func:`pulse_transfer`) apply the same firings pulse by pulse, the cycle noise drawn per pulse (the same law,
other bits) and the transfer's row firings from 32-bit uniforms (within 2^-32 of their probability): the power
and exponential families and multiplicative cycle noise (``Device.c2c_model``: q (1 + sigma_c xi)), without
device-to-device variation. :func:`varied_batch` writes a mini-batch on a device with device-to-device variation,
cycle noise (additive or multiplicative) and an affine response whose NumPy code it repeats (``pulse_trains._q_form``)
with the NumPy path's bits (the closed-form maps, the test for a bound within reach and the pulse-by-pulse steps of
``pulse_trains._apply_events``); ``pulse_trains.batch_update`` uses it on every backend where numba is installed.

:func:`compose_batch` runs the "composed samples" branch of ``pulse_trains.batch_update`` (small tiles, at least 16
samples, an affine response without cycle noise, also with per-element parameters; P1 Fig. 2's 1 x 50 tile with batch
100) in one call with that branch's bits (``tests/test_kernels_compose.py``); ``batch_update`` uses it on every backend
where numba is installed (``pulse_trains._COMPOSE_KERNEL = False`` forces the NumPy branch).
"""
from __future__ import annotations

import math

import numpy as np

from .errors import InputError
from .kernel_cache import generator_words

# The kernel forms, by the id a family record names (aimc_theory.response.Family.kernel): the kind the
# compiled code branches on and its coefficients (a, b, c) from the family's parameters. The pulse kernels
# use the same coefficients for the power and exponential forms (kinds 1 and 2 there, see _PULSE_KINDS).
FORMS = {
    "ideal": (0, lambda p: (0.0, 0.0, 0.0)),
    "softbounds": (1, lambda p: (1.0 / p["tau"], p["sp"], 0.0)),
    "linear": (2, lambda p: (p["tau"], p["c"], 0.0)),
    "power": (3, lambda p: (1.0 / p["tau"], p["gamma"], 0.0)),
    "exponential": (4, lambda p: (p["gamma"] / p["tau"], p["gamma"], 1.0 / math.expm1(p["gamma"]))),
}
_PULSE_KINDS = {"power": 1, "exponential": 2}        # non-affine forms of the pulse kernels (affine: kind 0)


def available() -> bool:
    try:
        import numba  # noqa: F401 -- only whether it imports
    except ImportError:
        return False
    return True


def _form(resp, forms) -> str | None:
    """The kernel form of a built-in family's response (also moved by an SP shift), or None: by its name and
    parameters (a swapped or rescaled family carries another name, a user expression other parameters)."""
    from .response import FAMILY
    fam = FAMILY.get(resp.name)
    if fam is None or fam.kernel not in forms or not set(resp.params) <= {p.name for p in fam.params} | {"shift"}:
        return None
    return fam.kernel


def covered(forms=FORMS) -> list[str]:
    """The families (registry order) whose record names one of ``forms``."""
    from .response import FAMILY
    return [name for name, fam in FAMILY.items() if fam.kernel in forms]


def response_code(resp) -> tuple[int, tuple]:
    """(kind, (a, b, c, shift, lo, hi)) of a built-in family, mirroring its NumPy evaluation; (lo, hi) is the
    response's range (moved by the shift, as ``Response.clip``)."""
    form = _form(resp, FORMS)
    if form is None:
        raise InputError("backend", f"the numba kernel covers the families {', '.join(covered())} "
                                      f"(got {resp.name!r}); use the default backend numpy")
    kind, coefficients = FORMS[form]
    p = resp.params
    a, b, c = coefficients(p)
    return kind, (float(a), float(b), float(c), float(p.get("shift", 0.0)), float(resp.lo), float(resp.hi))


def libm_math(kind: int, coefficients) -> bool:
    """Whether the expected update of this kind and coefficients (:func:`response_code`) calls expm1 or pow: the
    exponential family, and the power family at gamma not in {1/2, 1}. Compiled, those are libm's unless NumPy's own
    SIMD routines are called (:func:`aimc_theory.kernels_chains.numpy_math`): the last bit may differ from NumPy's."""
    return kind == 4 or (kind == 3 and coefficients[1] not in (0.5, 1.0))


def plan(objective, algorithm, observables) -> tuple:
    """What the kernel needs, or an InputError saying why this run is not covered."""
    from .objectives import ScalarQuadratic
    if not isinstance(objective, ScalarQuadratic) or objective.per_sample or objective.law != "gaussian":
        raise InputError("backend", "the numba kernel covers the scalar quadratic with Gaussian noise (no "
                                      "per-sample gradients)")
    if observables:
        raise InputError("backend", "the numba kernel records no observables; use the numpy backend")
    cfg = algorithm.config
    if cfg and cfg[0] == "digital-sgd":
        return (0, cfg[1], -1, (0.0,) * 6, 0.0)
    if not cfg or cfg[0] != "analog-sgd":
        raise InputError("backend", f"the numba kernel covers analog-sgd and digital-sgd (got {algorithm.name})")
    lr, dev = cfg[1], cfg[2]
    if dev.pulsed or dev.varies or np.ndim(dev.offset) != 0:
        raise InputError("backend", "the numba kernel covers the expected-update model without device-to-device "
                                      "variation or per-element offsets; use the numpy backend")
    kind, coef = response_code(dev.response)
    return (1, lr, kind, coef, float(dev.offset))


def _factors():
    """The compiled per-element form of the expected-update kernel: ``factors(u, dw, kind, a, b, c)`` at
    u = w - shift gives (F, G) of the split form for kinds 0-2 (ideal, softbounds, linear: the step is
    dw F - |dw| G) and (q, 0) for kinds 3-4 (power, exponential: the step is q dw, q = q+ for dw > 0, q- for
    dw < 0). ``tests/test_families.py`` compares it with the SymPy expressions. Module-level in
    :mod:`aimc_theory.kernels_chains_jit` (numba's on-disk cache finds a module-level function again in the next
    process; one compiled in a closure was compiled anew in every process)."""
    try:
        from .kernels_chains_jit import factors
    except ImportError:
        raise InputError("backend", "numba is not installed: pip install -e \".[fast]\" (or use --backend numpy)") from None
    return factors


def _compile():
    """The compiled Analog SGD / digital SGD loop (:func:`aimc_theory.kernels_chains_jit.asgd_loop`)."""
    try:
        from .kernels_chains_jit import asgd_loop
    except ImportError:
        raise InputError("backend", "numba is not installed: pip install -e \".[fast]\" (or use --backend numpy)") from None
    return asgd_loop


def run_loop(objective, algorithm, params, rng, steps, start, record_every, s1, s2, traj_out, progress=None):
    """The simulation loop of :func:`aimc_theory.simulation.simulate` in the compiled kernel; fills ``s1``,
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


# -- pulse trains (the network path's per-sample coincidence trains and Tiki-Taka's column transfer) ----------

_pulse_kernels = None


def pulse_plan(device) -> tuple:
    """(kind, c0, c1, c2, c3, shift) of the device's response for the pulse kernels, or an InputError saying
    why it is not covered: affine responses (soft bounds, linear steps, power with gamma 1, ideal, the
    aihwkit steps; any affine user expression) by their coefficients, the families whose kernel form is
    power or exponential (also moved by an SP shift) by their parameters; no device-to-device variation."""
    if device.varies:
        raise InputError("backend", "the numba pulse kernel covers devices without device-to-device variation; "
                                    "use the numpy backend")
    resp = device.response
    aff = resp.affine
    if aff is not None:
        return (0,) + tuple(float(a) for a in aff) + (0.0,)
    form = _form(resp, _PULSE_KINDS)        # by name and parameters, as response_code
    if form is not None:
        a, b, c = FORMS[form][1](resp.params)
        return (_PULSE_KINDS[form], float(a), float(b), float(c), 0.0, float(resp.params.get("shift", 0.0)))
    raise InputError("backend", f"the numba pulse kernel covers affine responses and the families "
                                f"{', '.join(covered(_PULSE_KINDS))} (got {resp.name!r}); use the numpy backend")


def _compile_pulses():
    """The pulse-by-pulse kernels (:mod:`aimc_theory.kernels_fire_jit`): (batch, transfer, column_absmax, step)."""
    global _pulse_kernels
    if _pulse_kernels is not None:
        return _pulse_kernels
    try:
        from .kernels_fire_jit import batch, column_absmax, step, transfer
    except ImportError:
        raise InputError("backend", "numba is not installed: pip install -e \".[fast]\" (or use the numpy backend)") \
            from None
    _pulse_kernels = (batch, transfer, column_absmax, step)
    return _pulse_kernels


def pulse_batch(device, W: np.ndarray, X: np.ndarray, D: np.ndarray, A: np.ndarray, B: np.ndarray, bl: np.ndarray,
                u: np.ndarray, rng: np.random.Generator, inplace: bool = False) -> np.ndarray:
    """The slots of :func:`aimc_theory.pulse_trains.batch_update` (its scales A, B, bl and uniforms ``u``: the
    same firings as the NumPy path) applied pulse by pulse in the compiled kernel: the same pulse model, the
    cycle noise (additive or multiplicative, ``device.c2c_model``) drawn per pulse (other bits than the NumPy
    path's closed form, the same law)."""
    kind, c0, c1, c2, c3, shift = pulse_plan(device)
    batch_k = _compile_pulses()[0]
    from .update_models import flat_target
    Wf = flat_target(W, inplace)
    resp = device.response
    batch_k(Wf, np.ascontiguousarray(X, dtype=np.float64), np.ascontiguousarray(D, dtype=np.float64), A, B, bl, u,
            float(device.dw_min), float(device.sigma_c), device.multiplicative, float(resp.lo), float(resp.hi), kind,
            c0, c1, c2, c3, shift, generator_words(rng), np.empty(D.shape[-1], np.int64),
            np.empty(X.shape[-1], np.int64))
    return Wf.reshape(W.shape)


def column_absmax(V: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """max_i |V[:, i, j]| of the columns ``cols`` (chains, len(cols)) in one pass along V's rows."""
    return _compile_pulses()[2](np.ascontiguousarray(V, dtype=np.float64), np.ascontiguousarray(cols, dtype=np.int64))


def pulse_transfer(device, W: np.ndarray, V: np.ndarray, cf: np.ndarray, kf: np.ndarray, jf: np.ndarray,
                   fired: np.ndarray, A: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The rows of :func:`aimc_theory.pulse_trains.column_transfer`'s fired columns (``fired`` (F, slots))
    drawn and applied pulse by pulse in the compiled kernel (32-bit uniforms, two per 64-bit draw, drawn at
    once beforehand: a row fires with probability within 2^-32 of A |V_ij|)."""
    kind, c0, c1, c2, c3, shift = pulse_plan(device)
    transfer_k = _compile_pulses()[1]
    Wf = np.array(W, dtype=np.float64).reshape(-1)
    resp = device.response
    n = int(fired.sum()) * V.shape[1]
    u32 = rng.bit_generator.random_raw((n + 1) // 2).view(np.uint32)      # two 32-bit uniforms per draw
    transfer_k(Wf, np.ascontiguousarray(V, dtype=np.float64), cf.astype(np.int64), kf.astype(np.int64),
               jf.astype(np.int64), np.ascontiguousarray(fired), np.ascontiguousarray(A, dtype=np.float64), u32,
               float(device.dw_min), float(device.sigma_c), device.multiplicative, float(resp.lo), float(resp.hi), kind,
               c0, c1, c2, c3, shift, generator_words(rng))
    return Wf.reshape(W.shape)


# -- exact pulse kernels: the NumPy path of pulse_trains (batch_update, column_transfer) in one compiled call per
# write, for affine responses with additive or no cycle noise and no per-element parameters, with the NumPy path's
# bits (the compiled code: aimc_theory.kernels_pulses_jit) ---------------------------------------------------------

_exact_kernels = None
DONE, NOTHING, EVENTS, DENSE, NUMPY = 0, 1, 2, 3, 4      # the kernels' status (kernels_pulses_jit, which says why)


def _compile_exact():
    """The exact kernels (batch, transfer) of :mod:`aimc_theory.kernels_pulses_jit` (numba imported on first use)."""
    global _exact_kernels
    if _exact_kernels is None:
        try:
            from .kernels_pulses_jit import batch, transfer
        except ImportError:
            raise InputError("backend", "numba is not installed: pip install -e \".[fast]\" (or use the numpy "
                                        "backend)") from None
        _exact_kernels = (batch, transfer)
    return _exact_kernels


def exact_setup(granule: float, desired_bl: int, update_management: bool, bl_management: bool, noise: bool,
                tables, ones, far) -> tuple:
    """The constants of a device for :func:`exact_batch` and :func:`exact_transfer` (built once per device by
    ``pulse_trains``): ``granule`` dw_min x the response's granularity, the trains' settings, ``tables`` (a, b, s) of
    ``pulse_trains._affine_tables`` for desired_bl pulses (n pulses at index n + desired_bl), ``ones`` the
    single-pulse terms (a_up, a_down, al, be, s_up, s_down) and ``far`` (lo, hi, qmax, dw_min, 10 sigma_c) of
    ``pulse_trains._far``. Returns (parameters, flags, tables, the batch kernel's flags without and with 'dense')."""
    prm = np.array((granule, float(desired_bl)) + tuple(ones) + tuple(far), dtype=np.float64)
    ta, tb = tables[0], tables[1]
    identity = ta[desired_bl] == 1.0 and np.signbit(tb[desired_bl])        # 0 pulses: w -> w 1 + (-0.0) = w
    flags = np.array((update_management, bl_management, noise, identity), dtype=np.bool_)
    # the batch kernel's flags end with 'dense': both made here, once (np.append per call: ~5 us per layer and step)
    batch_flags = (np.append(flags, False), np.append(flags, True))
    return prm, flags, np.stack(tables), batch_flags


def exact_batch(Wf, X, D, lr: float, setup, dense: bool, rng):
    """Run the exact kernel of a mini-batch (``pulse_trains._numba_batch``): Wf the target (flat float64, written
    in place), X (chains or 1, B, in), D (chains, B, out) float64 C-contiguous, ``setup`` from :func:`exact_setup`.
    Returns (status, slots, elem, v, events per group, M)."""
    prm, _, tables, batch_flags = setup
    return _compile_exact()[0](Wf, X, D, float(lr), prm, batch_flags[bool(dense)], tables, generator_words(rng))


def exact_transfer(W, V, cols, lr: float, setup, rng, inplace: bool = False, every: bool | None = None):
    """Run the exact kernel of a Tiki-Taka transfer (``pulse_trains._numba_transfer``). Returns (status, new flat
    weights, elem, n, down); ``inplace``: the new weights are W itself where W is a writable C-contiguous float64
    array (else a copy, as without); ``every``: ``cols`` is every column in order (None: find out)."""
    prm, flags, tables, _ = setup
    if every is None:
        every = cols.size == V.shape[2] and cols.size > 0 and cols[0] == 0 and bool(np.all(np.diff(cols) == 1))
    from .update_models import writable_in_place
    ok = bool(inplace and writable_in_place(W))
    Wc = W if ok else np.ascontiguousarray(W, dtype=np.float64)
    return _compile_exact()[1](Wc, np.ascontiguousarray(V, dtype=np.float64), cols, every, float(lr), prm, flags,
                               tables, generator_words(rng), ok)


def varied_batch(Wf, X, D, lr: float, setup, rng):
    """Run the kernel of a mini-batch on a device with device-to-device variation and cycle noise
    (``pulse_trains._varied_batch``; the compiled code: ``kernels_pulses_jit.varied``): Wf the target (flat float64,
    written in place), X (chains or 1, B, in), D (chains, B, out) float64 C-contiguous, ``setup`` from
    ``pulse_trains._varied_setup``. Returns (status, slots, elem, v, events per group)."""
    global _varied_kernel
    if _varied_kernel is None:
        try:
            from .kernels_pulses_jit import varied
        except ImportError:
            raise InputError("backend", "numba is not installed: pip install -e \".[fast]\" (or use the numpy "
                                        "backend)") from None
        _varied_kernel = varied
    prm, flags, kind, qc, P = setup
    return _varied_kernel(Wf, X, D, float(lr), prm, flags, kind, qc, P, generator_words(rng))


_varied_kernel = None


def q_form_matches(resp, kind: int, coefficients) -> bool:
    """Whether ``kernels_pulses_jit.q_of`` of this kind and coefficients gives the response's own q+ and q- to the bit
    on a grid of weights across and around its range, also stretched (the per-element parameters scale w)."""
    from .kernels_pulses_jit import q_eval
    lo, hi = (resp.lo, resp.hi) if math.isfinite(resp.lo) and math.isfinite(resp.hi) else (-10.0, 10.0)
    span = hi - lo
    w = np.concatenate((np.linspace(lo - span, hi + span, 4001), lo + span * np.linspace(0, 1, 1001) ** 3,
                        (lo, hi, 0.0, -0.0, np.nextafter(lo, hi), np.nextafter(hi, lo))))
    w = np.concatenate([w * k for k in (1.0, 0.3, 0.7, 1.3, 2.9)])
    qc = np.array(coefficients, dtype=np.float64)
    with np.errstate(all="ignore"):
        return bool(np.array_equal(q_eval(kind, qc, w, True), resp.q_plus(w))
                    and np.array_equal(q_eval(kind, qc, w, False), resp.q_minus(w)))


# -- the composed-samples kernel: the compose branch of pulse_trains.batch_update (small tiles, many samples; an affine
# response without cycle noise) in one compiled call, with the NumPy branch's bits (aimc_theory.kernels_compose_jit) --

_compose_kernel = None
COMPOSE_DONE, COMPOSE_NOTHING, COMPOSE_NUMPY, COMPOSE_TABLE = 0, 1, 2, 3    # the kernel's status (see there)
COMPOSE_MAX_SLOTS = 62                                                      # kernels_compose_jit.MAX_SLOTS


def compose_batch(W, X, D, lr: float, setup, tables, rng):
    """Run the composed-samples kernel (``pulse_trains._compose_compiled``): W (chains, out * in) float64 (not
    written), X (chains or 1, B, in), D (chains, B, out) float64 C-contiguous; ``setup`` (prm, flags) =
    ((dw_min x granularity, desired_bl), (update management, BL management)); ``tables`` (ta, tb, lo, hi) of
    ``pulse_trains._compose_tables``. Returns (status, slots, the new weights)."""
    global _compose_kernel
    if _compose_kernel is None:
        try:
            from . import kernels_compose_jit
        except ImportError:
            raise InputError("backend", "numba is not installed: pip install -e \".[fast]\" (or use the numpy "
                                        "backend)") from None
        _compose_kernel = kernels_compose_jit.compose
    prm, flags = setup
    ta, tb, lo, hi = tables
    inline = pcg_state(rng)
    if inline is not None:                               # NumPy's default: its numbers drawn inline (the same)
        status, slots, new = _compose_kernel(W, X, D, float(lr), prm, flags, ta, tb, lo, hi, None, inline[1])
        if status == COMPOSE_DONE:
            pcg_store(rng, *inline)
        return status, slots, new
    return _compose_kernel(W, X, D, float(lr), prm, flags, ta, tb, lo, hi, rng, np.zeros(4, np.uint64))


_PCG_INLINE: list = []     # [whether the compiled PCG64 repeats NumPy's numbers here], checked once per process


def pcg_state(rng) -> tuple | None:
    """(the bit generator's state dict, its words as :func:`_pcg_words`) where compiled code can step ``rng``'s
    PCG64 itself (``kernels_compose_jit.pcg_draw``: NumPy's numbers, checked once per process), else None (another
    bit generator). Hand the advanced words back with :func:`pcg_store`."""
    bitgen = rng.bit_generator
    if type(bitgen) is not np.random.PCG64:
        return None
    if not _PCG_INLINE:
        from . import kernels_compose_jit
        _PCG_INLINE.append(_pcg_inline(kernels_compose_jit.pcg_fill))
    if not _PCG_INLINE[0]:
        return None
    state = bitgen.state
    return state, _pcg_words(state)


def pcg_store(rng, state: dict, st: np.ndarray) -> None:
    """Leave ``rng`` where compiled code that stepped the words ``st`` of :func:`pcg_state` left its PCG64."""
    state["state"]["state"] = (int(st[0]) << 64) | int(st[1])
    rng.bit_generator.state = state


def _pcg_words(state) -> np.ndarray:
    """A PCG64 state dict as (state high, state low, inc high, inc low) 64-bit words."""
    s, inc, m = state["state"]["state"], state["state"]["inc"], (1 << 64) - 1
    return np.array((s >> 64, s & m, inc >> 64, inc & m), dtype=np.uint64)


def _pcg_inline(fill) -> bool:
    """Whether the compiled PCG64 (``kernels_compose_jit.pcg_fill``) gives NumPy's ``Generator.random`` numbers and
    state on this installation (checked once per process: 4099 numbers from two seeds)."""
    for seed in (0, 2**63 + 12345):
        rng = np.random.Generator(np.random.PCG64(seed))
        st = _pcg_words(rng.bit_generator.state)
        mine = np.empty(4099)
        fill(st, mine)
        if not np.array_equal(mine, rng.random(4099)) or not np.array_equal(st, _pcg_words(rng.bit_generator.state)):
            return False
    return True


def compiled_forms() -> tuple:
    """The compiled per-element forms, for the tests that compare them with the SymPy expressions:
    ``factors(u, dw, kind, a, b, c)`` of the expected-update kernel (kind and coefficients from
    :func:`response_code`) and ``step(w, up, kind, c0, c1, c2, c3, shift)``, q+ (``up``) or q- of the pulse
    kernels (kind and coefficients from :func:`pulse_plan`)."""
    return _factors(), _compile_pulses()[3]
