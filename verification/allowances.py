"""Model allowances that are measured or derived, never typed in.

The theories the claims check are statements about a limit (lr -> 0 for the mean dynamics, dw -> 0 for
pulse trains) while a simulation runs at a finite value. Instead of a hand-picked slack, a claim either
computes the next-order term, or measures the approach to the limit: :func:`extrapolate_lr` (from
:mod:`aimc_theory.comparison`, shared with :mod:`aimc_theory.testing`) runs the same measurement at lr, 2 lr
and 4 lr (common random numbers), extrapolates linearly to lr -> 0 (Richardson: 2 m(lr) - m(2 lr)) and sizes
the allowance by the O(lr^2) remainder of that extrapolation, measured from the third point.
"""
from __future__ import annotations

import numpy as np

from aimc_theory.comparison import Extrapolated, extrapolate_lr

__all__ = ["Extrapolated", "extrapolate_lr", "norm_comparison"]


def norm_comparison(diff: np.ndarray, se: np.ndarray, allowance: np.ndarray) -> tuple[float, float, float]:
    """A vector comparison as one number: ||diff||, the SE of the norm (||se||) and ||allowance||."""
    return (float(np.linalg.norm(diff)), float(np.linalg.norm(se)), float(np.linalg.norm(allowance)))

