"""One result type for every theory-vs-measurement comparison (claims, ``aimc_theory.testing``, sweeps).

A comparison is evidence only if a wrong theory would have failed it, so every :class:`Comparison`
states its tolerance as ``k`` standard errors plus a model ``allowance`` with the ``basis`` that sized it
(a next-order term computed, or a measured extrapolation), and its minimum detectable deviation
``mde``: the smallest error of the theory that this tolerance rejects in either direction.

:func:`extrapolate_lr` measures the allowance of an lr -> 0 statement: the same measurement at lr, 2 lr and
4 lr (common random numbers), extrapolated linearly to lr -> 0 (2 m(lr) - m(2 lr)), with the O(lr^2)
remainder of that extrapolation measured from the third point as the allowance.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

AGREE, DISAGREE, INCONCLUSIVE = "agree", "disagree", "inconclusive"
NO_PREDICTION = "no prediction"      # a (wrong) theory that raises or cannot predict: never a kill


@dataclass(frozen=True)
class Comparison:
    """Theory vs measurement.

    Parameters
    ----------
    theory, measured, se : float
        The prediction, the measurement and the measurement's standard error.
    tolerance : float
        ``k * se + allowance`` (or a stated bound for exact identities).
    verdict : str
        ``agree``, ``disagree``, ``inconclusive`` or ``no prediction``.
    explanation : str
        What was measured, in words and numbers (the report's explanation column).
    data : dict
        Arrays for figures and notes (not in the JSON).
    allowance : float
        The model allowance inside ``tolerance`` (0 for a purely statistical tolerance).
    basis : str
        How the allowance was sized ("derived: ...", "measured: ...", "none": k SE only, "exact": an
        identity up to rounding).
    mde : float, optional
        Minimum detectable deviation: the smallest theory error the tolerance rejects whatever its sign.
        Default ``tolerance + |measured - theory|``.
    mde_relative : float, optional
        ``mde / |theory|`` where the theory is not 0 (default).
    """

    theory: float
    measured: float
    se: float
    tolerance: float
    verdict: str
    explanation: str
    data: dict = field(default_factory=dict, repr=False)
    allowance: float = 0.0
    basis: str = "none"
    mde: float | None = None
    mde_relative: float | None = None

    def __post_init__(self):
        if self.mde is None:
            object.__setattr__(self, "mde", _default_mde(self.theory, self.measured, self.tolerance))
        if self.mde_relative is None and _finite(self.mde) and _finite(self.theory) and self.theory != 0:
            object.__setattr__(self, "mde_relative", abs(self.mde) / abs(float(self.theory)))

    @property
    def no_prediction(self) -> bool:
        return self.verdict == NO_PREDICTION

    def as_dict(self) -> dict:
        """The JSON keys (without ``data``)."""
        return {"theory": _clean(self.theory), "measured": _clean(self.measured), "se": _clean(self.se),
                "tolerance": _clean(self.tolerance), "verdict": self.verdict, "explanation": self.explanation,
                "allowance": _clean(self.allowance), "allowance_basis": self.basis, "mde": _clean(self.mde),
                "mde_relative": _clean(self.mde_relative)}


def compare(theory: float, measured: float, se: float, explanation: str, k: float = 3.0, allowance: float = 0.0,
            basis: str = "none", data: dict | None = None) -> Comparison:
    """``|measured - theory| <= k se + allowance``; inconclusive nowhere (the MDE says what it can see)."""
    tol = k * se + allowance
    return Comparison(theory, measured, se, tol, judge(theory, measured, tol), explanation, data or {},
                      allowance, basis)


@dataclass(frozen=True)
class Extrapolated:
    """A measurement extrapolated to lr -> 0.

    ``value`` = 2 m(lr) - m(2 lr); ``se`` its standard error (independent-run formula: with common
    random numbers the runs are positively correlated, so it is conservative); ``allowance`` = the
    O(lr^2) remainder |m(4 lr) - 3 m(2 lr) + 2 m(lr)| / 3 of the linear extrapolation (for m = m0 + a lr
    + b lr^2 the extrapolation is off by -2 b lr^2 and the three points give 6 b lr^2); ``slope`` the
    first-order coefficient a estimated from lr and 2 lr.
    """

    value: float | np.ndarray
    se: float | np.ndarray
    allowance: float | np.ndarray
    lrs: tuple[float, float, float]
    values: tuple
    ses: tuple
    slope: float | np.ndarray

    @property
    def basis(self) -> str:
        return (f"measured: the O(lr^2) remainder of the extrapolation to lr -> 0 from lr = {self.lrs[0]:g}, "
                f"{self.lrs[1]:g}, {self.lrs[2]:g}")

    def at(self, lr: float):
        """The first-order model m0 + a lr (to compare a run at lr with the limit)."""
        return self.value + self.slope * lr


def extrapolate_lr(measure: Callable[[float], tuple], lr: float) -> Extrapolated:
    """Measure at lr, 2 lr, 4 lr (``measure(lr) -> (mean, se)``, scalars or arrays) and extrapolate."""
    lrs = (lr, 2 * lr, 4 * lr)
    (m1, s1), (m2, s2), (m4, s4) = (measure(x) for x in lrs)
    m1, m2, m4, s1, s2, s4 = (np.asarray(v, float) for v in (m1, m2, m4, s1, s2, s4))
    value = 2 * m1 - m2
    se = np.sqrt(4 * s1 ** 2 + s2 ** 2)
    allowance = np.abs(m4 - 3 * m2 + 2 * m1) / 3
    slope = (m2 - m1) / lr
    scal = (lambda v: float(v)) if value.ndim == 0 else (lambda v: v)
    return Extrapolated(scal(value), scal(se), scal(allowance), lrs, (m1, m2, m4), (s1, s2, s4), scal(slope))


def judge(theory, measured, tolerance) -> str:
    ok = np.all(np.abs(np.asarray(measured) - np.asarray(theory)) <= tolerance)
    return AGREE if ok else DISAGREE


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _default_mde(theory, measured, tolerance):
    if not (_finite(theory) and _finite(measured) and _finite(tolerance)):
        return None
    return float(tolerance) + abs(float(measured) - float(theory))


def _clean(x):
    return float(x) if _finite(x) else None
