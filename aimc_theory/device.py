"""Device models (spec A.1, A.2, A.7): how a requested update dw moves an analog weight.

A :class:`Device` is a plain configuration (aihwkit style); the update functions are
kept apart, in :mod:`aimc_theory.update_models` (below this module and :mod:`aimc_theory.pulse_trains`,
which both apply them), and are importable from here. Two models:

* expected update (P1 eq. 3): ``U_q(w, dw) = w + dw q+(w)`` for dw >= 0, ``w + dw q-(w)``
  otherwise (equivalently ``w + dw F - |dw| G``, eq. 5);
* pulse level (P1 App. C, eq. 26-31): ``BL = ceil(|dw|/dw_min)`` pulses of polarity
  sign(dw), each ``w <- w +- dw_min (q+-(w) + sigma_c xi)`` (``c2c_model="additive"``) or
  ``w <- w +- dw_min q+-(w) (1 + sigma_c xi)`` (``"multiplicative"``, the reference simulator's default
  ``dw_min_std`` noise), optionally capped at ``max_bl``.

All functions are vectorized over any array shape (chains x coordinates).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, partial

import numpy as np

from .errors import InputError, require_nonnegative, require_positive
from .pulse_trains import PulseTrains, apply_counts, batch_update, column_transfer
from .response import Response
# the update arithmetic lives below this module and pulse_trains; its names stay importable from here
from .update_models import (C2C_MODELS, Elements, Rank1Batch, affine_expected_scaled,  # noqa: F401
                            affine_expected_update, affine_expected_update_in_place, expected_update,
                            expected_update_fg, kernel_coefficients, noisy_step, pulse_count, pulse_update,
                            rl_step_in_place, transfer_and_mix)


@dataclass(frozen=True)
class Device:
    """Configuration of one analog array (aihwkit style: named parameters, no simulation state).

    Parameters
    ----------
    response : Response
        q+/q- of every element.
    dw_min : float > 0 or None
        Pulse granularity; ``None`` selects the expected-update model U_q(w, dw) = w + dw F - |dw| G
        (P1 eq. 2), a float the pulse-level model (P1 eq. 29: ceil(|dw|/dw_min) pulses).
    sigma_c : float >= 0
        Cycle-to-cycle noise per pulse, in units of dw_min (needs ``dw_min``).
    max_bl : int >= 1 or None
        Cap on the number of pulses per update (``None``: no cap).
    rounding : {"ceil", "stochastic"}
        "ceil" (P1 eq. 29) or "stochastic" (floor plus a Bernoulli pulse, unbiased).
    trains : PulseTrains or None
        Write gradients that come as per-sample rank-1 factors by stochastic coincidence trains, as the
        reference simulator does (``None``: such gradients are summed and written with the model above).
    offset : float or ndarray
        A reference offset per element (broadcasting against the weights): the element responds as
        q(w - offset), so its SP and range move by ``offset`` (P2 Tables 1-2's per-entry reference error).
    up_scale, down_scale : float or ndarray, > 0
        Device-to-device variation per element: q+_i = up_scale_i q+ and q-_i = down_scale_i q-
        (P2 eq. 103-104: up_scale = g + r, down_scale = g - r; see
        :class:`aimc_theory.variation.Variation`). The SP moves to where G/F = r/g.
    up_stretch, down_stretch : float or ndarray, > 0
        Per-element change of shape: q+_i(w) = up_scale_i q+(up_stretch_i w), likewise down. This is how
        a device's own bounds or slopes enter the reference simulator's device models: soft bounds
        1 - w/b_i = q(w w_max/b_i), a linear step's slope gamma_i = gamma (gamma_i/gamma), an exponential
        step's z = 2 a w/(b_max,i - b_min,i) + b (see :mod:`aimc_theory.presets`).
    bounds : (lo, hi) of floats or ndarrays, optional
        Each element's own range (before ``offset``); it saturates there instead of at the response's.
    c2c_model : {"additive", "multiplicative"}
        How ``sigma_c`` enters a pulse of signed step s(w) (= dw_min s+_i q+(w) up, -dw_min s-_i q-(w) down):
        "additive" (default, P1 App. C): s(w) + sign dw_min sigma_c xi; "multiplicative" (the reference
        simulator's ``dw_min_std`` with ``mult_noise``, its default): s(w) (1 + sigma_c xi), xi ~ N(0, 1). Both
        leave the mean step unchanged; the step's SD is dw_min sigma_c, resp. |s(w)| sigma_c. Honoured by
        :meth:`pulse`, :meth:`update` (pulse level), the pulse trains and the numba pulse kernels, and by
        :func:`aimc_theory.calibration.zero_shift`.

    Raises
    ------
    InputError
        Naming the parameter, for a non-positive scale or dw_min, negative sigma_c, a non-integer
        max_bl, an unknown rounding or c2c_model, or noise/trains without ``dw_min``.
    """

    response: Response
    dw_min: float | None = None
    sigma_c: float = 0.0
    max_bl: int | None = None
    rounding: str = "ceil"
    trains: PulseTrains | None = None
    offset: float | np.ndarray = 0.0
    up_scale: float | np.ndarray = 1.0
    down_scale: float | np.ndarray = 1.0
    up_stretch: float | np.ndarray = 1.0
    down_stretch: float | np.ndarray = 1.0
    bounds: tuple | None = None
    c2c_model: str = "additive"

    def __post_init__(self):
        if not isinstance(self.response, Response):
            raise InputError("response", f"must be a Response (e.g. aimc_theory.response.get('softbounds')), "
                                         f"got {type(self.response).__name__} {self.response!r:.60}")
        try:
            off = np.asarray(self.offset, dtype=float)
        except (TypeError, ValueError):
            raise InputError("offset", f"must be a number or an array of numbers (got {self.offset!r:.60})") from None
        if not np.all(np.isfinite(off)):
            raise InputError("offset", "every element's reference offset must be finite")
        if self.bounds is not None:
            try:
                lo, hi = (np.asarray(b, dtype=float) for b in self.bounds)
                np.broadcast(lo, hi)
            except (TypeError, ValueError):
                raise InputError("bounds", f"must be (lo, hi), numbers or arrays (got {self.bounds!r})") from None
            if not np.all(np.isfinite(lo) & np.isfinite(hi) & (lo < hi)):
                raise InputError("bounds", "every element's own range must be finite with lo < hi")
        for name in ("up_scale", "down_scale", "up_stretch", "down_stretch"):
            try:
                v = np.asarray(getattr(self, name), dtype=float)
            except (TypeError, ValueError):
                raise InputError(name, f"must be a number or an array of numbers > 0 (got {getattr(self, name)!r})") \
                    from None
            if not np.all(np.isfinite(v) & (v > 0)):
                raise InputError(name, "step scales must be finite and > 0 (a device that cannot step one way has "
                                       "no symmetric point)" if name.endswith("scale") else
                                 "stretches must be finite and > 0 (q(stretch w) keeps the response's direction)")
        # keep the validated numbers: a dw_min given as text ("0.01") passed the check but stayed text, and
        # failed later inside the calibration's comparisons (found by the API fuzzing)
        if self.dw_min is not None:
            object.__setattr__(self, "dw_min", require_positive("dw_min", self.dw_min))
        object.__setattr__(self, "sigma_c", require_nonnegative("sigma_c", self.sigma_c))
        if self.max_bl is not None and (isinstance(self.max_bl, bool) or not isinstance(self.max_bl, (int, float, np.number))
                                        or not math.isfinite(self.max_bl) or int(self.max_bl) != self.max_bl
                                        or self.max_bl < 1):
            raise InputError("max_bl", f"must be an integer >= 1 (got {self.max_bl})")
        if self.rounding not in ("ceil", "stochastic"):
            raise InputError("rounding", f"must be 'ceil' or 'stochastic' (got {self.rounding!r})")
        if self.c2c_model not in C2C_MODELS:
            raise InputError("c2c_model", f"must be one of {', '.join(C2C_MODELS)} (got {self.c2c_model!r})")
        if self.dw_min is None and self.sigma_c:
            raise InputError("sigma_c", "cycle-to-cycle noise needs the pulse-level model (set dw_min)")
        if self.trains is not None and self.dw_min is None:
            raise InputError("dw_min", "pulse trains need the pulse size dw_min (> 0)")

    @property
    def pulsed(self) -> bool:
        return self.dw_min is not None

    @property
    def multiplicative(self) -> bool:
        """True when pulses carry multiplicative cycle-to-cycle noise (``c2c_model`` and ``sigma_c`` > 0)."""
        return bool(self.sigma_c) and self.c2c_model == "multiplicative"

    @cached_property            # on the hot path: computed once per device
    def varies(self) -> bool:
        """True when the elements have their own step scales, shapes or bounds (device-to-device variation)."""
        return self.reshaped or not (np.ndim(self.up_scale) == 0 and np.ndim(self.down_scale) == 0
                                     and self.up_scale == 1.0 and self.down_scale == 1.0)

    @cached_property
    def stretched(self) -> bool:
        """True when the elements have their own shapes (stretches q(k w))."""
        return not (np.ndim(self.up_stretch) == 0 and np.ndim(self.down_stretch) == 0
                    and self.up_stretch == 1.0 and self.down_stretch == 1.0)

    @cached_property
    def reshaped(self) -> bool:
        """True when the elements have their own shapes or bounds, not only step scales."""
        return self.bounds is not None or self.stretched

    @cached_property
    def _no_offset(self) -> bool:
        return np.ndim(self.offset) == 0 and self.offset == 0.0

    @cached_property
    def _elements_memo(self) -> dict:
        return {}

    def elements(self, shape) -> "Elements | None":
        """The per-element parameters broadcast to ``shape`` (read-only views), or None without variation.
        Memoized per shape: a pulse loop asks for the same views at every pulse (six broadcasts each)."""
        if not self.varies:
            return None
        shape = tuple(shape)
        memo = self._elements_memo
        el = memo.get(shape)
        if el is None:
            b = lambda a: None if a is None else np.broadcast_to(np.asarray(a, dtype=float), shape)   # noqa: E731
            lo, hi = self.bounds if self.bounds is not None else (None, None)
            el = Elements(b(self.up_scale), b(self.down_scale), b(self.up_stretch) if self.stretched else None,
                          b(self.down_stretch) if self.stretched else None, b(lo), b(hi))
            if len(memo) > 16:
                memo.clear()
            memo[shape] = el
        return el

    def _shifted(self, fn, w, *args):
        """Run ``fn`` on w - offset (the response's own coordinates) and shift back: exact, because every
        update is elementwise in w and the requested change does not depend on w."""
        if self._no_offset:
            return fn(w, *args)
        return fn(w - self.offset, *args) + self.offset

    def update(self, w: np.ndarray, dw: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Apply the requested update ``dw`` to the weights ``w`` with this device's model."""
        if self.dw_min is None:
            if self.reshaped:    # each element its own q's and bounds
                def own(u):
                    el = self.elements(np.broadcast_shapes(np.shape(u), np.shape(dw)))
                    return el.clip(self.response, u + dw * el.q(self.response, u, np.asarray(dw) > 0))
                return self._shifted(own, w)
            if self.varies:      # the element's q+_i = s+ q+, q-_i = s- q-: scale the request by its sign's factor
                dw = dw * np.where(np.asarray(dw) > 0, self.up_scale, self.down_scale)
            return self._shifted(lambda u: expected_update_fg(self.response, u, dw), w)
        return self._shifted(lambda u: pulse_update(self, u, dw, rng), w)

    def write_gradient(self, w: np.ndarray, grads, lr: float, rng: np.random.Generator | None) -> np.ndarray:
        """The SGD write w <- w - lr g: per-sample coincidence trains when the gradient comes as a
        :class:`~aimc_theory.pulse_trains.Rank1Batch` and this device has ``trains``; otherwise the
        (summed) gradient goes through :meth:`update`. A Rank1Batch with ``inplace`` (the caller gives w up)
        may be written into w itself: pulse trains, and the expected update of an affine response without
        offset (the same bits)."""
        if isinstance(grads, Rank1Batch):
            if self.trains is not None:
                return self._shifted(lambda u: batch_update(self, u, grads, lr, rng), w)
            dw = grads.dense(-lr)                   # a fresh array: the affine update below may write into it
            if self._affine_expected:
                if grads.inplace and self._in_place_affine and isinstance(w, np.ndarray) \
                        and affine_expected_update_in_place(self.response, w, dw):
                    return w        # the caller gave w up: written in place (fewer arrays in the cache per step)
                return self._shifted(lambda u: affine_expected_update(self.response, u, dw), w)
            return self.update(w, dw, rng)
        return self.update(w, -lr * grads, rng)

    @cached_property
    def _affine_expected(self) -> bool:
        """Expected update of an affine response without per-element parameters: the fast path of
        :func:`affine_expected_update` applies (rank-1 gradients and transfers)."""
        return not self.pulsed and not self.varies and self.response.affine is not None

    @cached_property
    def _in_place_affine(self) -> bool:
        """An expected-update affine device without offset: its writes may go through the compiled passes that
        write w itself (the network's in-place writes) or transfer and read out at once."""
        return self._affine_expected and self._no_offset

    @cached_property
    def _kernel_coefficients(self) -> tuple:
        """The affine response's coefficients and bounds as the compiled passes take them (computed once)."""
        return kernel_coefficients(self.response)

    def write_matrix(self, w: np.ndarray, dw: np.ndarray, shape: tuple[int, int], lr: float,
                     rng: np.random.Generator | None, columns=None, in_place: bool = False) -> np.ndarray:
        """w <- w + lr dw for a weight matrix of ``shape`` (out, in) flattened in w: with ``trains``,
        column by column as Tiki-Taka's transfer writes it (``columns``: which ones, default all);
        otherwise through :meth:`update` (only the given columns). ``in_place``: the caller gives w up (an
        expected-update device may write it in place: the same bits)."""
        if self.trains is None:
            if columns is None:
                if in_place and self._in_place_affine and isinstance(w, np.ndarray) and isinstance(dw, np.ndarray) \
                        and affine_expected_update_in_place(self.response, w, dw, lr):
                    return w
                if self._affine_expected:
                    return self._shifted(lambda u: affine_expected_scaled(self.response, u, dw, lr), w)
                return self.update(w, lr * dw, rng)
            mask = np.zeros(shape, dtype=bool)
            mask[:, np.asarray(columns)] = True
            return self.update(w, lr * dw * mask.reshape(-1), rng)
        # columns None (every column, in order) goes down as None: column_transfer then skips its checks of the list
        return self._shifted(lambda u: column_transfer(self, u.reshape(u.shape[0], *shape),
                                                       dw.reshape(dw.shape[0], *shape), lr, columns, rng,
                                                       in_place).reshape(u.shape), w)

    def transfer_and_mix(self, w: np.ndarray, read: np.ndarray, p: np.ndarray, lr: float, gamma: float,
                         in_place: bool = False,
                         buffer: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """Residual Learning's whole-matrix transfer and read-out at once: (w', w' + gamma p) with w' =
        ``write_matrix(w, read, shape, lr, rng)`` of an expected-update device with an affine response and no
        offset, in one compiled pass (the same bits as the two calls); None where that pass does not apply (no
        numba, small arrays, another device): then make the two calls. ``in_place`` (the caller gives up w):
        w' is written into w and the read-out into ``buffer`` (:func:`~aimc_theory.update_models.transfer_and_mix`)."""
        if not self._in_place_affine:
            return None
        return transfer_and_mix(self.response, w, read, p, lr, gamma, in_place, buffer)

    def write_and_transfer(self, p: np.ndarray, grads, lr: float, main: "Device", w: np.ndarray, beta: float,
                           gamma: float, buffer: np.ndarray | None = None) -> np.ndarray | None:
        """Residual Learning's whole step on the network's in-place path, this device being P's: ``write_gradient(p,
        grads, lr)`` into p, then ``main.transfer_and_mix(w, p, p, beta, gamma)`` into w, in one compiled pass (the
        same bits: :func:`~aimc_theory.update_models.rl_step_in_place`). Returns the read-out w + gamma p, or None
        with nothing written where it does not apply (then make the two calls): both devices expected-update
        affine without offset, a rank-1 gradient the caller gives up (``Rank1Batch.inplace``), numba."""
        if not (isinstance(grads, Rank1Batch) and grads.inplace and self._in_place_affine and main._in_place_affine
                and isinstance(p, np.ndarray) and isinstance(w, np.ndarray)
                and p.shape == (grads.D.shape[0], grads.shape[0] * grads.shape[1])):
            return None         # (the shape checked before the product is made: a mismatch would make it twice)
        if type(self).write_gradient is not Device.write_gradient or \
                type(main).write_matrix is not Device.write_matrix or \
                type(main).transfer_and_mix is not Device.transfer_and_mix:
            return None         # a subclass that overrides the two calls (cost.CountingDevice) gets the two calls
        return rl_step_in_place(self._kernel_coefficients, main._kernel_coefficients, p,
                                lambda out: grads.dense(-lr, out), w, beta, gamma, buffer)

    def pulse(self, w: np.ndarray, signs: np.ndarray, rng: np.random.Generator | None,
              dw_min: float | None = None) -> np.ndarray:
        """One pulse per element where ``signs`` is +-1 (none where 0), through this device's response
        and cycle-to-cycle noise; ``dw_min`` is the pulse size for an expected-update device. A scalar
        ``signs`` pulses every element the same way (only that direction's response is evaluated)."""
        size = self.dw_min if self.dw_min is not None else dw_min
        if size is None:
            raise InputError("dw_min", "a single pulse needs the pulse size dw_min (> 0)")
        el = self.elements(np.shape(w))

        def one(u):
            if np.ndim(signs) == 0 and signs != 0:      # alternating pulses, calibration: one branch
                if el is None:
                    step = self.response.q_plus(u) if signs > 0 else -self.response.q_minus(u)
                else:
                    step = el.q_one(self.response, u, signs > 0)
                if self.sigma_c:
                    step = noisy_step(self, step, signs, rng.standard_normal(np.shape(u)))
                return (self.response.clip if el is None else partial(el.clip, self.response))(u + size * step)
            if el is None:
                step = np.where(signs > 0, self.response.q_plus(u), -self.response.q_minus(u))
            else:
                step = el.q(self.response, u, signs > 0, signed=True)
            if self.sigma_c:
                step = noisy_step(self, step, signs, rng.standard_normal(np.shape(u)))
            new = np.where(signs != 0, u + size * step, u)
            return self.response.clip(new) if el is None else el.clip(self.response, new)

        return self._shifted(one, w)

    def pulse_counts(self, w: np.ndarray, index, counts: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """|counts[k]| pulses of sign(counts[k]) on the element ``w[index][k]`` (``index``: a tuple of index
        arrays into w, one element each), through this device's response, per-element parameters, offset and
        cycle-to-cycle noise; the other elements are unchanged. A new array. Needs the pulse-level model
        (``dw_min``): a threshold transfer's integer pulses (:mod:`aimc_theory.transfer_compounds`)."""
        if self.dw_min is None:
            raise InputError("dw_min", "integer pulses need the pulse size dw_min (> 0)")
        w = np.array(w, dtype=float)
        flat = np.ravel_multi_index(index, w.shape)
        sub = w.reshape(-1)[flat]
        el = self.elements(w.shape)
        el = None if el is None else el.reshape(-1).take(flat)
        off = 0.0 if self._no_offset else \
            np.broadcast_to(np.asarray(self.offset, dtype=float), w.shape).reshape(-1)[flat]
        counts = np.asarray(counts)
        n = np.abs(counts).astype(np.int64)
        w.reshape(-1)[flat] = apply_counts(self, sub - off, n, counts < 0, rng, el) + off
        return w


def coincidence_pulses(x: np.ndarray, d: np.ndarray, lr: float, dw_min: float, bl: int,
                       rng: np.random.Generator) -> np.ndarray:
    """Stochastic pulse trains of aihwkit (spec A.7): the number of coincidences between
    row pulses (probability A|x|) and column pulses (probability B|d|) over ``bl`` slots,
    A = B = sqrt(lr/(dw_min BL)). E[count] = lr |x d| / dw_min when nothing clips."""
    lr = require_positive("lr", lr)
    dw_min = require_positive("dw_min", dw_min)
    scale = np.sqrt(lr / (dw_min * bl))
    px = np.clip(scale * np.abs(x), 0.0, 1.0)
    pd = np.clip(scale * np.abs(d), 0.0, 1.0)
    return rng.binomial(bl, px * pd)
