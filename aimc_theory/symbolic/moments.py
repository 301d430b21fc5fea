"""Noise moments of a Gaussian stochastic gradient g ~ N(mu, s^2) (spec F)."""
from __future__ import annotations

import sympy as sp

from .engine import SQRT2


def folded_normal_mean(mu, s):
    """m(mu) = E|g| for g ~ N(mu, s^2): s*sqrt(2/pi)*exp(-mu^2/(2 s^2)) + mu*erf(mu/(s sqrt 2))."""
    if sp.sympify(s).is_zero:   # note: Float(0.0) == 0 is False in SymPy >= 1.13
        return sp.Abs(mu)
    return s * sp.sqrt(2 / sp.pi) * sp.exp(-mu ** 2 / (2 * s ** 2)) + mu * sp.erf(mu / (s * SQRT2))


def constant_moment(mu, s):
    """A wrong theory used by negative controls: E|g| replaced by the standard deviation s."""
    return s + 0 * mu



def laplace_mean_abs(mu, s):
    """m(mu) = E|g| for g = mu + Laplace noise of standard deviation s (scale b = s/sqrt 2):
    |mu| + b exp(-|mu|/b)."""
    if sp.sympify(s).is_zero:
        return sp.Abs(mu)
    b = s / sp.sqrt(2)
    return sp.Abs(mu) + b * sp.exp(-sp.Abs(mu) / b)


MOMENTS = {"gaussian": folded_normal_mean, "laplace": laplace_mean_abs}
