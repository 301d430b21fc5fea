"""Device-to-device (d2d) variation: populations of devices, each with its own steps, shape and bounds.

A :class:`Population` is ``n`` drawn devices. Device i responds as

    q+_i(w) = s+_i q+(k+_i (w - o_i)),   q-_i(w) = s-_i q-(k-_i (w - o_i)),

saturating at its own bounds [b_min,i, b_max,i] + o_i: step scales s (the gain and up/down imbalance of
arXiv:2602.21321 eq. 103-104), stretches k (a device's own bounds or slopes, see
:mod:`aimc_theory.presets`), reference offsets o. :meth:`Population.device` puts it into a
:class:`~aimc_theory.device.Device` as per-element arrays; ``params`` keeps the drawn physical parameters
(bounds, slopes) under the names the preset's expressions use, so the theory computes each device's SP
from the expressions, not from the stretches (two independent routes from the same draw).

:class:`Variation` is the generic gain/imbalance variation; :class:`aimc_theory.presets.PresetVariation`
draws a preset's own (the reference simulator's semantics).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .errors import require_nonnegative


@dataclass(frozen=True)
class Population:
    """``n`` devices' own parameters (arrays of length n; None: as the mean device).

    Parameters
    ----------
    s_plus, s_minus : ndarray
        Step scales.
    clipped : int
        Draws whose up/down imbalance was clipped (a device that could not step one way).
    up_stretch, down_stretch : ndarray or None
        Stretches k+, k- (shape changes).
    b_min, b_max : ndarray or None
        Own bounds (before the offset).
    offsets : ndarray or None
        Reference offsets o.
    params : dict of name -> ndarray
        The drawn shape parameters under the names the preset's per-device expressions use.
    """

    s_plus: np.ndarray
    s_minus: np.ndarray
    clipped: int = 0
    up_stretch: np.ndarray | None = None
    down_stretch: np.ndarray | None = None
    b_min: np.ndarray | None = None
    b_max: np.ndarray | None = None
    offsets: np.ndarray | None = None
    params: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(np.size(self.s_plus))

    def take(self, index) -> "Population":
        """The devices ``index`` selects."""
        t = lambda a: None if a is None else np.asarray(a)[index]      # noqa: E731
        return Population(t(self.s_plus), t(self.s_minus), self.clipped, t(self.up_stretch), t(self.down_stretch),
                          t(self.b_min), t(self.b_max), t(self.offsets), {k: t(v) for k, v in self.params.items()})

    def device(self, dev, shape=None):
        """``dev`` with these devices as its elements (arrays reshaped to ``shape``, e.g. (1, size) for a
        flattened weight matrix); offsets add to the device's own."""
        r = (lambda a: a) if shape is None else (lambda a: np.reshape(a, shape))
        kw = {"up_scale": r(self.s_plus), "down_scale": r(self.s_minus)}
        if self.up_stretch is not None:
            kw |= {"up_stretch": r(self.up_stretch), "down_stretch": r(self.down_stretch)}
        if self.b_min is not None:
            kw["bounds"] = (r(self.b_min), r(self.b_max))
        if self.offsets is not None:
            kw["offset"] = dev.offset + r(self.offsets)
        return dataclasses.replace(dev, **kw)


@dataclass(frozen=True)
class Variation:
    """Device-to-device variation of the up/down step sizes (P2 eq. 103-104).

    Device i has q+_i(w) = (g_i + r_i) q+(w) and q-_i(w) = (g_i - r_i) q-(w) with
    g_i = exp(gain * xi1) (log-normal step-size gain, P2's sigma_d2d) and r_i = imbalance * xi2
    (up/down imbalance, P2's sigma_pm), xi1, xi2 ~ N(0, 1) independent. Its SP solves
    G/F = r_i/g_i, so the gain scales the pulse size and the imbalance moves the SP.

    Two gain laws: ``log_normal=True`` (default) as above; ``log_normal=False`` the normal law of the
    reference simulator (aihwkit ``PulsedDevice``: gain 1 + dw_min_dtod xi1, the default, and
    r = up_down_dtod xi2; P1 Table 8's configuration is dw_min_dtod 0.3, up_down_dtod 0.01, see
    :meth:`reference`), so that E[g] = 1 and SD[g] = gain. Two rules for a draw that would make a step
    non-positive:

    * the toolkit's (``reference_steps=False``, default): g_i = |1 + gain xi1| floored at 1e-6 for the normal
      law, and |r_i| >= 0.95 g_i (a device that cannot step one way) clipped to r_i = +-0.95 g_i;
    * the reference simulator's (``reference_steps=True``, its ``enforce_consistency``): the steps are made
      positive, s+_i = |g_i + r_i|, s-_i = |g_i - r_i| with g_i = 1 + gain xi1 unfloored (a step that comes out
      exactly 0 is refused by :class:`~aimc_theory.device.Device`).

    The two give the same bits for every draw with 1 + gain xi1 >= 1e-6 and |r_i| <= 0.95 g_i (all but about
    4e-4 of them at gain 0.3, imbalance 0.01: where 1 + 0.3 xi1 < 0); :meth:`draw` reports how many draws were
    clipped (toolkit) or reflected (reference).
    """

    gain: float = 0.0
    imbalance: float = 0.0
    log_normal: bool = True
    reference_steps: bool = False

    def __post_init__(self):
        require_nonnegative("gain_dtod", self.gain)
        require_nonnegative("imbalance_dtod", self.imbalance)

    @classmethod
    def reference(cls, dw_min_dtod: float = 0.3, up_down_dtod: float = 0.01, log_normal: bool = False) -> "Variation":
        """The step variation as the reference simulator (aihwkit) draws it: gain 1 + dw_min_dtod xi (or
        exp(dw_min_dtod xi) with ``log_normal``, its ``dw_min_dtod_log_normal``), imbalance up_down_dtod xi, and
        its rule for non-positive steps (``reference_steps``). The defaults are its own (P1 Table 8)."""
        return cls(dw_min_dtod, up_down_dtod, log_normal=log_normal, reference_steps=True)

    @property
    def varies(self) -> bool:
        return bool(self.gain or self.imbalance)

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
        """(s_plus, s_minus, n_clipped) for ``n`` devices (n_clipped: draws clipped or, with
        ``reference_steps``, reflected to a positive step)."""
        xi = rng.standard_normal(n)
        if self.reference_steps:
            g = np.exp(self.gain * xi) if self.log_normal else 1.0 + self.gain * xi
            r = self.imbalance * rng.standard_normal(n)
            up, down = g + r, g - r
            clipped = int(np.count_nonzero((up < 0) | (down < 0)))
            return np.abs(up), np.abs(down), clipped
        g = np.exp(self.gain * xi) if self.log_normal else np.maximum(np.abs(1.0 + self.gain * xi), 1e-6)
        r = self.imbalance * rng.standard_normal(n)
        lim = 0.95 * g
        clipped = int(np.count_nonzero(np.abs(r) > lim))
        r = np.clip(r, -lim, lim)
        return g + r, g - r, clipped

    def population(self, n: int, rng: np.random.Generator) -> Population:
        """``n`` devices with these step scales (shape and bounds as the mean device)."""
        return Population(*self.draw(n, rng))
