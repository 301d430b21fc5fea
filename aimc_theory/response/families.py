"""The built-in response families, one :class:`~.core.Family` record each, and the registry :data:`FAMILY`.

A record is the whole family: its name, its parameters (default and valid range written once), q+ and q- as
expression text (the definition, parsed by SymPy only when the symbolic module asks), the NumPy forms the
simulations call, optional fast paths (``fg``, ``qd``), the exact affine coefficients when there are any, and
the ids of its numba kernel form (:mod:`aimc_theory.kernels`) and its fit model (:mod:`aimc_theory.fit`).
The command line (``--response NAME -p KEY=VALUE``), :func:`get`, the numba kernels, the fit models and the
tests (``tests/test_families.py`` checks every form of every family against the SymPy expressions) read the
records; the Python functions (:func:`softbounds`, :func:`power`, ...) are thin wrappers with the record's
parameters as their signature. The reference simulator's (aihwkit's) devices are in :mod:`.reference`.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..errors import InputError
from .core import POSITIVE, Family, Param, Range, Response
from .reference import AIHWKIT_EXPSTEP, AIHWKIT_LINEARSTEP, AIHWKIT_POWSTEP, AIHWKIT_SOFTBOUNDS


def _times(c, w):
    # c * w, in place in c when c already has the broadcast shape
    if np.shape(c) == np.broadcast_shapes(np.shape(c), np.shape(w)):
        c *= w
        return c
    return c * w


def _power_qd(w, sgn, g, t):
    # q = (1 - sign(s) w/tau)^gamma: q+ for s > 0, q- for s < 0
    if np.ndim(w) == 0 and np.ndim(sgn) == 0:
        return np.maximum(1.0 - np.copysign(1.0 / t, sgn) * w, 0.0) ** g
    q = _times(np.copysign(1.0 / t, sgn), w)          # sign(s) w/tau
    np.subtract(1.0, q, out=q)
    np.maximum(q, 0.0, out=q)
    if g == 0.5:
        return np.sqrt(q, out=q)
    return q if g == 1.0 else np.power(q, g, out=q)


def _power_fg(w, g, t):
    # q+ = (1 - w/tau)^gamma, q- = (1 + w/tau)^gamma; few array passes, sqrt for the common gamma = 1/2
    if np.ndim(w) == 0:
        qp, qm = max(1.0 - w / t, 0.0) ** g, max(1.0 + w / t, 0.0) ** g
        return 0.5 * (qm + qp), 0.5 * (qm - qp)
    u = np.multiply(w, 1.0 / t)
    qm = np.add(u, 1.0)
    qp = np.subtract(1.0, u, out=u)
    for q in (qp, qm):
        np.maximum(q, 0.0, out=q)
        if g == 0.5:
            np.sqrt(q, out=q)
        elif g != 1.0:
            np.power(q, g, out=q)
    F = np.add(qm, qp)
    F *= 0.5
    qm -= qp
    qm *= 0.5
    return F, qm


def _exp_numpy(tau, gamma):
    den = math.expm1(gamma)
    return (lambda w: np.expm1(gamma * (1.0 - w / tau)) / den,
            lambda w: np.expm1(gamma * (1.0 + w / tau)) / den)


def _exp_qd(w, sgn, g, t, den):
    if np.ndim(w) == 0 and np.ndim(sgn) == 0:
        return math.expm1(g - np.copysign(g / t, sgn) * w) / den
    q = _times(np.copysign(g / t, sgn), w)
    np.subtract(g, q, out=q)
    np.expm1(q, out=q)
    q *= 1.0 / den
    return q


def _exp_qd_form(tau, gamma):
    den = math.expm1(gamma)
    return lambda w, sgn: _exp_qd(w, sgn, gamma, tau, den)


def _exp_fg(w, g, t):
    # F = (e^g cosh(g x) - 1)/(e^g - 1), G = e^g sinh(g x)/(e^g - 1)   (spec A.5)
    a = np.exp(g + g * w / t)
    b = np.exp(g - g * w / t)
    den = 2.0 * math.expm1(g)
    return (a + b - 2.0) / den, (a - b) / den


SOFTBOUNDS = Family(
    name="softbounds",
    params=(Param("tau", 1.0, POSITIVE), Param("sp", 0.0)),
    q_plus="1 - (w - sp)/tau", q_minus="1 + (w - sp)/tau",
    range=lambda tau, sp: (sp - tau, sp + tau),
    numpy=lambda tau, sp: (lambda w: 1.0 - (w - sp) / tau, lambda w: 1.0 + (w - sp) / tau),
    fg=lambda tau, sp: lambda w: (1.0, (w - sp) * (1.0 / tau)),
    affine=lambda tau, sp: (1 + sp / tau, -1 / tau, 1 - sp / tau, 1 / tau),
    kernel="softbounds", fit="softbounds",
    examples=({"tau": 2.0, "sp": 0.3}, {"tau": 0.3, "sp": -0.1}),
    doc="""Symmetric soft bounds around ``sp``: q+- = 1 -+ (w - sp)/tau, F = 1, G = (w - sp)/tau.

    Parameters
    ----------
    tau : float, > 0
        Half-width of the weight range [sp - tau, sp + tau].
    sp : float
        The symmetric point (any finite value).

    Returns
    -------
    Response
        Bounded on [sp - tau, sp + tau]; R_c(w) = (w - sp)^2/(2 tau) (P1 eq. 148 with gamma = 1).
    """)

LINEAR = Family(
    name="linear",
    params=(Param("tau", 1.0, POSITIVE),
            Param("c", 0.0, Range(-1.0, 1.0, why="so that both responses are positive"))),
    q_plus="(1 + c)*(1 - w/tau)", q_minus="(1 - c)*(1 + w/tau)",
    range=lambda tau, c: (-tau, tau),
    numpy=lambda tau, c: (lambda w: (1.0 + c) * (1.0 - w / tau), lambda w: (1.0 - c) * (1.0 + w / tau)),
    fg=lambda tau, c: lambda w: (1.0 - (c / tau) * w, w * (1.0 / tau) - c),
    affine=lambda tau, c: (1 + c, -(1 + c) / tau, 1 - c, (1 - c) / tau),
    kernel="linear", fit="linear",
    examples=({"tau": 3.5, "c": 0.2}, {"tau": 0.7, "c": -0.45}),
    doc="""Generic linear response: q+ = (1+c)(1-w/tau), q- = (1-c)(1+w/tau); SP = c*tau.

    Parameters
    ----------
    tau : float, > 0
        The range is [-tau, tau].
    c : float in (-1, 1)
        Up/down asymmetry; moves the SP to c*tau.

    Returns
    -------
    Response
    """)

POWER = Family(
    name="power",
    params=(Param("tau", 1.0, POSITIVE), Param("gamma", 1.0, POSITIVE)),
    q_plus="(1 - w/tau)**gamma", q_minus="(1 + w/tau)**gamma",
    range=lambda tau, gamma: (-tau, tau),
    numpy=lambda tau, gamma: (lambda w: np.maximum(1.0 - w / tau, 0.0) ** gamma,
                              lambda w: np.maximum(1.0 + w / tau, 0.0) ** gamma),
    fg=lambda tau, gamma: lambda w: _power_fg(w, gamma, tau),
    qd=lambda tau, gamma: lambda w, sgn: _power_qd(w, sgn, gamma, tau),
    # affine (soft bounds) for gamma = 1 only; any other exponent is not a polynomial of degree <= 1
    affine=lambda tau, gamma: (1, -1 / tau, 1, 1 / tau), affine_if=lambda tau, gamma: gamma == 1.0,
    kernel="power", fit="power",
    examples=({"tau": 0.6, "gamma": 0.5}, {"tau": 0.6, "gamma": 1.0}, {"tau": 1.3, "gamma": 2.0}),
    doc="""Power response (P1 eq. 148): q+- = (1 -+ w/tau)^gamma; SP = 0, R'(0) = gamma/tau.

    Parameters
    ----------
    tau : float, > 0
        The range is [-tau, tau].
    gamma : float, > 0
        The exponent (gamma = 1 is soft bounds, gamma = 1/2 P1's Table 8 setting).

    Returns
    -------
    Response
    """)

EXPONENTIAL = Family(
    name="exponential",
    params=(Param("tau", 1.0, POSITIVE),
            Param("gamma", 1.0, Range(0.0, 300.0, "(]", why="for the exponential response (e^(2 gamma) overflows)"))),
    q_plus="(exp(gamma*(1 - w/tau)) - 1)/(exp(gamma) - 1)", q_minus="(exp(gamma*(1 + w/tau)) - 1)/(exp(gamma) - 1)",
    range=lambda tau, gamma: (-tau, tau),
    numpy=_exp_numpy,
    fg=lambda tau, gamma: lambda w: _exp_fg(w, gamma, tau),
    qd=lambda tau, gamma: _exp_qd_form(tau, gamma),
    kernel="exponential", fit="exponential",
    examples=({"tau": 0.8, "gamma": 1.7}, {"tau": 2.5, "gamma": 0.3}),
    doc="""Exponential response (P1 eq. 149): q+- = (e^{gamma(1 -+ w/tau)} - 1)/(e^gamma - 1).

    Parameters
    ----------
    tau : float, > 0
        The range is [-tau, tau].
    gamma : float in (0, 300]
        Steepness (e^(2 gamma) must stay finite).

    Returns
    -------
    Response
        SP = 0; F = (e^g cosh(g w/tau) - 1)/(e^g - 1), G = e^g sinh(g w/tau)/(e^g - 1).
    """)

IDEAL = Family(
    name="ideal",
    params=(),
    q_plus="1", q_minus="1",
    range=lambda: (-math.inf, math.inf),
    numpy=lambda: (lambda w: np.ones_like(w, dtype=float), lambda w: np.ones_like(w, dtype=float)),
    fg=lambda: lambda w: (1.0, 0.0),
    affine=lambda: (1, 0, 1, 0),
    every_point_symmetric=True,
    kernel="ideal",
    doc="""Ideal device: q+ = q- = 1, G = 0, every point is symmetric.

    Returns
    -------
    Response
        Unbounded; Analog SGD on it is digital SGD, and there is no unique SP to calibrate to.
    """)

# The registry, in the order the command line lists the families.
FAMILY: dict[str, Family] = {f.name: f for f in (SOFTBOUNDS, LINEAR, POWER, EXPONENTIAL, IDEAL, AIHWKIT_SOFTBOUNDS,
                                                 AIHWKIT_LINEARSTEP, AIHWKIT_POWSTEP, AIHWKIT_EXPSTEP)}

# name -> the Python function (softbounds, ..., aihwkit_linearstep), each a thin wrapper of its record
FAMILIES: dict[str, Callable[..., Response]] = {name: f.function for name, f in FAMILY.items()}
softbounds, linear, power = SOFTBOUNDS.function, LINEAR.function, POWER.function
exponential, ideal = EXPONENTIAL.function, IDEAL.function


def get(name: str, **params) -> Response:
    """A built-in family by name, e.g. ``get('power', tau=0.6, gamma=0.5)``.

    Parameters
    ----------
    name : str
        One of :data:`FAMILIES` (softbounds, linear, power, exponential, ideal, aihwkit-softbounds,
        aihwkit-linearstep, aihwkit-powstep, aihwkit-expstep).
    **params : float
        The family's parameters (see its function); unknown names raise :class:`InputError`.

    Returns
    -------
    Response
    """
    if name not in FAMILY:
        raise InputError("response", f"unknown family {name!r}; valid: {', '.join(FAMILY)}")
    return FAMILY[name].build(**params)
