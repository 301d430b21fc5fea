"""The reference simulator's devices (aihwkit ``SoftBoundsDevice``, ``LinearStepDevice``, ``PowStepDevice``,
``ExpStepDevice``) as response families in units of dw_min: :class:`~.core.Family` records like those of
:mod:`.families` (which registers them)."""
from __future__ import annotations

import math

import numpy as np

from ..errors import InputError, require_finite
from .core import Family, Param, Range

_BOUNDS = "(the bounds must satisfy w_min < 0 < w_max)"
_UP_DOWN = Param("up_down", 0.0, Range(-1.0, 1.0, why="so that both steps are positive"))


def step_scales(up_down: float) -> tuple[float, float]:
    """(up, down) step sizes in units of dw_min for the reference simulator's ``up_down``, which it
    applies one-sidedly: u > 0 keeps the up step and shrinks the down step to (1 - u) dw_min,
    u < 0 shrinks the up step to (1 + u) dw_min (aihwkit ``PulsedDevice``; its docstring's symmetric
    1 +- u split is not what the code does)."""
    u = require_finite("up_down", up_down)
    if not -1.0 < u < 1.0:
        raise InputError("up_down", f"must lie in (-1, 1) so that both steps are positive (got {u!r})")
    return (1.0, 1.0 - u) if u >= 0 else (1.0 + u, 1.0)


def _softbounds_symbols(w_max, w_min, up_down):
    a, b = step_scales(up_down)
    return {"a": a, "b": b, "hi": w_max, "lo": w_min}


AIHWKIT_SOFTBOUNDS = Family(
    name="aihwkit-softbounds",
    params=(Param("w_max", 1.0, Range(0.0, why=_BOUNDS)), Param("w_min", -1.0, Range(hi=0.0, why=_BOUNDS)), _UP_DOWN),
    q_plus="a*(1 - w/hi)", q_minus="b*(1 - w/lo)",
    symbols=_softbounds_symbols,
    range=lambda a, b, hi, lo: (lo, hi),
    numpy=lambda a, b, hi, lo: (lambda w: a * (1.0 - w / hi), lambda w: b * (1.0 - w / lo)),
    fg=lambda a, b, hi, lo: lambda w: (0.5 * (a + b) - w * (0.5 * (a / hi + b / lo)),
                                       0.5 * (b - a) + w * (0.5 * (a / hi - b / lo))),
    affine=lambda a, b, hi, lo: (a, -a / hi, b, -b / lo),
    examples=({"w_max": 3.5, "w_min": -3.5, "up_down": 0.3}, {"w_max": 1.25, "w_min": -0.75, "up_down": -0.2}),
    doc="""The reference simulator's SoftBounds device in units of dw_min (aihwkit ``SoftBoundsDevice``):
    q+ = s_+ (1 - w/w_max), q- = s_- (1 - w/w_min) with (s_+, s_-) from :func:`step_scales`;
    SP = (s_+ - s_-)/(s_+/w_max - s_-/w_min), e.g. tau u/(2 - u) for bounds +-tau and u > 0.

    Parameters
    ----------
    w_max, w_min : float
        The bounds, w_min < 0 < w_max.
    up_down : float in (-1, 1)
        aihwkit's up/down step-size bias (applied one-sidedly, see :func:`step_scales`).

    Returns
    -------
    Response
    """)


def _linearstep_symbols(w_max, w_min, up_down, gamma_up, gamma_down):
    a, b = step_scales(up_down)
    return {"a": a, "b": b, "gu": gamma_up, "gd": gamma_down, "hi": w_max, "lo": w_min}


_SLOPE = Range(0.0, 1.0, "[]")

AIHWKIT_LINEARSTEP = Family(
    name="aihwkit-linearstep",
    params=(Param("w_max", 1.0, Range(0.0, why=_BOUNDS)), Param("w_min", -1.0, Range(hi=0.0, why=_BOUNDS)), _UP_DOWN,
            Param("gamma_up", 0.0, _SLOPE), Param("gamma_down", 0.0, _SLOPE)),
    q_plus="a*(1 - gu*w/hi)", q_minus="b*(1 - gd*w/lo)",
    symbols=_linearstep_symbols,
    range=lambda a, b, gu, gd, hi, lo: (lo, hi),
    numpy=lambda a, b, gu, gd, hi, lo: (lambda w: a * (1.0 - gu * w / hi), lambda w: b * (1.0 - gd * w / lo)),
    affine=lambda a, b, gu, gd, hi, lo: (a, -a * gu / hi, b, -b * gd / lo),
    # constant equal steps (no slopes, no up/down bias): q+ = q- = 1, the ideal device on [w_min, w_max]
    every_point_symmetric=lambda a, b, gu, gd, hi, lo: a == b and gu == 0.0 and gd == 0.0,
    examples=({"w_max": 1.2, "w_min": -0.8, "up_down": 0.1, "gamma_up": 0.3, "gamma_down": 0.7},
              {"gamma_up": 1.0, "gamma_down": 0.0}, {"w_max": 0.2, "w_min": -0.2, "up_down": 0.3, "gamma_up": 0.5,
                                                      "gamma_down": 0.5}),
    doc="""aihwkit ``LinearStepDevice`` (mean bounds as reference): q+ = s_+ (1 - gamma_up w/w_max),
    q- = s_- (1 + gamma_down w/|w_min|); gamma = 1 is soft bounds, gamma = 0 a constant step.

    Parameters
    ----------
    w_max, w_min : float
        The bounds, w_min < 0 < w_max.
    up_down : float in (-1, 1)
        aihwkit's up/down step-size bias (see :func:`step_scales`).
    gamma_up, gamma_down : float in [0, 1]
        Step-size slopes towards the bounds.

    Returns
    -------
    Response
        With gamma_up = gamma_down = 0 and up_down != 0 there is no interior SP (an InputError says so); with
        up_down = 0 too, q+ = q- = 1 and every point is symmetric (the ideal device on [w_min, w_max]).
    """)



_TAU = Param("tau", 0.0, Range(0.0, closed="[)", why="(0 keeps w_max, w_min; tau > 0 sets the bounds to -tau, tau)"))


def _bounds(w_max: float, w_min: float, tau: float) -> tuple[float, float]:
    """(lo, hi): (-tau, tau) when tau > 0 (then w_max, w_min must stay at their defaults), else (w_min, w_max)."""
    if not tau:
        return w_min, w_max
    if (w_max, w_min) != (1.0, -1.0):
        raise InputError("tau", f"give either tau (bounds -tau, tau) or w_max/w_min, not both (got tau={tau:g}, "
                                f"w_max={w_max:g}, w_min={w_min:g})")
    return -tau, tau


def _powstep_symbols(gamma, w_max, w_min, up_down, pow_up_down, tau):
    lo, hi = _bounds(w_max, w_min, tau)
    a, b = step_scales(up_down)
    gu, gd = step_scales(pow_up_down)
    return {"a": a, "b": b, "gu": gamma * gu, "gd": gamma * gd, "hi": hi, "lo": lo}


def _powstep_numpy(a, b, gu, gd, hi, lo):
    r = hi - lo
    return (lambda w: a * np.maximum((hi - w) / r, 0.0) ** gu, lambda w: b * np.maximum((w - lo) / r, 0.0) ** gd)


AIHWKIT_POWSTEP = Family(
    name="aihwkit-powstep",
    params=(Param("gamma", 1.0, Range(0.0, why="(the exponent pow_gamma)")),
            Param("w_max", 1.0, Range(0.0, why=_BOUNDS)), Param("w_min", -1.0, Range(hi=0.0, why=_BOUNDS)), _UP_DOWN,
            Param("pow_up_down", 0.0, Range(-1.0, 1.0, why="so that both exponents are positive")), _TAU),
    q_plus="a*((hi - w)/(hi - lo))**gu", q_minus="b*((w - lo)/(hi - lo))**gd",
    symbols=_powstep_symbols,
    range=lambda a, b, gu, gd, hi, lo: (lo, hi),
    numpy=_powstep_numpy,
    # gamma = 1: q+ = a (hi - w)/R, q- = b (w - lo)/R (soft bounds with the step halved at w = 0)
    affine=lambda a, b, gu, gd, hi, lo: (a * hi / (hi - lo), -a / (hi - lo), -b * lo / (hi - lo), b / (hi - lo)),
    affine_if=lambda a, b, gu, gd, hi, lo: gu == 1.0 and gd == 1.0,
    granularity=lambda a, b, gu, gd, hi, lo: 0.5 ** max(gu, gd),
    examples=({"gamma": 0.5, "tau": 0.6}, {"gamma": 1.0, "tau": 0.6},
              {"gamma": 2.0, "up_down": 0.1}, {"gamma": 1.5, "w_max": 1.2, "w_min": -0.8, "pow_up_down": -0.2}),
    doc="""aihwkit ``PowStepDevice`` (a shifted Fusi-Abbott step) in units of dw_min, variability off:
    q+ = s_+ ((w_max - w)/R)^gamma+, q- = s_- ((w - w_min)/R)^gamma-, R = w_max - w_min, with (s_+, s_-) from
    :func:`step_scales` (``up_down``) and (gamma+, gamma-) = gamma x :func:`step_scales` (``pow_up_down``, applied
    one-sidedly like up_down). With bounds -tau, tau and no up/down bias this is P1 eq. 148 (arXiv 2502.06309)
    with an effective pulse 2^-gamma dw_min: q+- = 2^-gamma (1 -+ w/tau)^gamma. The reference simulator's
    update management divides by its weight granularity dw_min 0.5^pow_gamma, not dw_min
    (``Response.granularity`` = 0.5^gamma, which the pulse trains use). SP (gamma+ = gamma- = gamma):
    (w_max + k w_min)/(1 + k), k = (s_-/s_+)^(1/gamma).

    Parameters
    ----------
    gamma : float, > 0
        The exponent ``pow_gamma`` (1: soft bounds at half the step).
    w_max, w_min : float
        The bounds, w_min < 0 < w_max.
    up_down : float in (-1, 1)
        aihwkit's up/down step-size bias (one-sided, see :func:`step_scales`).
    pow_up_down : float in (-1, 1)
        aihwkit's up/down exponent bias (one-sided like up_down).
    tau : float >= 0
        Shorthand for w_max = tau, w_min = -tau (0: use w_max, w_min).

    Returns
    -------
    Response
        With ``granularity`` = 0.5^gamma (0.5^max(gamma+, gamma-) with an exponent bias: the larger exponent is
        pow_gamma).
    """)


def _expstep_symbols(gamma_up, gamma_down, A_up, A_down, a, b, w_max, w_min, up_down, gamma, tau):
    lo, hi = _bounds(w_max, w_min, tau)
    su, sd = step_scales(up_down)
    if gamma:
        gamma_up = gamma_down = gamma
    return {"su": su, "sd": sd, "Au": A_up, "Ad": A_down, "gu": gamma_up, "gd": gamma_down, "ka": a, "kb": b,
            "hi": hi, "lo": lo}


def _expstep_numpy(su, sd, Au, Ad, gu, gd, ka, kb, hi, lo):
    k = 2.0 * ka / (hi - lo)
    return (lambda w: su * (1.0 - Au * np.exp(gu * (k * w + kb))),
            lambda w: sd * (1.0 - Ad * np.exp(-gd * (k * w + kb))))


def _expstep_granularity(su, sd, Au, Ad, gu, gd, ka, kb, hi, lo):
    # the simulator's calcWeightGranularity: the DOWN step at w = 0 "averaged" with itself, dw_min if not > 0
    with np.errstate(all="ignore"):
        g = float(sd * (1.0 - Ad * np.exp(-gd * kb)))
    return g if g > 0 and math.isfinite(g) else 1.0


_EXPONENT = Range(0.0, 300.0, "(]", why="(e^(gamma z) must stay finite)")

AIHWKIT_EXPSTEP = Family(
    name="aihwkit-expstep",
    params=(Param("gamma_up", 12.44625, _EXPONENT), Param("gamma_down", 12.78785, _EXPONENT),
            Param("A_up", 0.00081), Param("A_down", 0.36833), Param("a", 0.244), Param("b", 0.2425),
            Param("w_max", 1.0, Range(0.0, why=_BOUNDS)), Param("w_min", -1.0, Range(hi=0.0, why=_BOUNDS)), _UP_DOWN,
            Param("gamma", 0.0, Range(0.0, 300.0, "[]", why="(0 keeps gamma_up, gamma_down; gamma > 0 sets both)")),
            _TAU),
    q_plus="su*(1 - Au*exp(gu*(2*ka*w/(hi - lo) + kb)))", q_minus="sd*(1 - Ad*exp(-gd*(2*ka*w/(hi - lo) + kb)))",
    symbols=_expstep_symbols,
    range=lambda su, sd, Au, Ad, gu, gd, ka, kb, hi, lo: (lo, hi),
    numpy=_expstep_numpy,
    every_point_symmetric=lambda su, sd, Au, Ad, gu, gd, ka, kb, hi, lo: su == sd and Au == 0.0 and Ad == 0.0,
    granularity=_expstep_granularity,
    without_sp=True,
    examples=({"gamma": 0.5, "tau": 0.6}, {"gamma": 2.0, "tau": 0.6}, {},
              {"gamma_up": 5.0, "gamma_down": 5.0, "A_up": -1.18445, "A_down": -0.081404, "a": -0.5, "b": -0.5,
               "up_down": 0.259359}),
    doc="""aihwkit ``ExpStepDevice`` in units of dw_min, variability off, with its stock parameters as defaults:
    z = 2 a w/(w_max - w_min) + b, q+ = s_+ (1 - A_up e^(gamma_up z)), q- = s_- (1 - A_down e^(-gamma_down z)),
    (s_+, s_-) from :func:`step_scales`. The simulator clips each factor at 0 (max(., 0)); parameters for which a
    factor is not positive inside the range are refused instead (a step that vanishes there). This is **not**
    P1 eq. 149 (arXiv 2502.06309): with gamma_up = gamma_down = gamma and no bias the SP solves
    z* = ln(A_down/A_up)/(2 gamma), w* = (z* - b)(w_max - w_min)/(2 a); for the stock A's, a, b and bounds
    -0.6, 0.6 (P1 Table 8's tau) it lies at w = 14.4 (gamma 0.5), 6.9 (gamma 1), 3.2 (gamma 2), outside the
    range: such a response is accepted, has no SP (``symmetric_point`` NaN) and ``Response.no_sp_note`` says
    that every weight drifts to +tau (G < 0 everywhere). The simulator's update management divides by the DOWN
    step at w = 0 (``Response.granularity`` = q-(0)). With the stock gamma_up, gamma_down and bounds -1, 1 the
    SP is about 7e-5.

    Parameters
    ----------
    gamma_up, gamma_down : float in (0, 300]
        The exponents (stock 12.44625, 12.78785).
    A_up, A_down, a, b : float
        The stock shape (0.00081, 0.36833, 0.244, 0.2425).
    w_max, w_min : float
        The bounds, w_min < 0 < w_max.
    up_down : float in (-1, 1)
        aihwkit's up/down step-size bias (one-sided, see :func:`step_scales`).
    gamma : float in [0, 300]
        Shorthand: gamma > 0 sets gamma_up = gamma_down = gamma (P1 Table 8's configuration); 0 keeps them.
    tau : float >= 0
        Shorthand for w_max = tau, w_min = -tau (0: use w_max, w_min).

    Returns
    -------
    Response
        Possibly without an SP in its range (then ``no_sp_note`` explains the drift).
    """)

aihwkit_softbounds, aihwkit_linearstep = AIHWKIT_SOFTBOUNDS.function, AIHWKIT_LINEARSTEP.function
aihwkit_powstep, aihwkit_expstep = AIHWKIT_POWSTEP.function, AIHWKIT_EXPSTEP.function
