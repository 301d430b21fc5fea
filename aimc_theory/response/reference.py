"""The reference simulator's devices (aihwkit ``SoftBoundsDevice``, ``LinearStepDevice``) as response families in
units of dw_min: :class:`~.core.Family` records like those of :mod:`.families` (which registers them)."""
from __future__ import annotations

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

aihwkit_softbounds, aihwkit_linearstep = AIHWKIT_SOFTBOUNDS.function, AIHWKIT_LINEARSTEP.function
