"""Fit q+(w), q-(w) to measured pulse sweeps (conductance or weight vs pulse number).

Input: a CSV with a ``direction`` column (up/down, also +/-, 1/-1), a ``pulse`` column (the pulse index,
increasing within a sweep) and the state after each pulse in ``w`` (or ``weight``, ``g``,
``conductance``); an optional ``cycle`` column separates repeated sweeps. A sweep is a run of rows with
the same direction (and cycle); its per-pulse steps dw_k = w_{k+1} - w_k are the data: an UP step
estimates dw_min q+(w_k), a DOWN step -dw_min q-(w_k). Steps that end at a bound are left out: the
device saturated there and the step was cut short.

Conductance to weight: with ``g_min``, ``g_max`` (the data's units) and a weight range [w_lo, w_hi]
(default [-1, 1]) every state is mapped by w = w_lo + (g - g_min)(w_hi - w_lo)/(g_max - g_min) before
anything else, so the fitted response is in weight units on the range the user names. The device's
bounds (``bounds``, in the data's units) are the fitted response's range; by default the observed
extremes are taken as the bounds (and the output says so).

Families, fitted by least squares on the steps (each direction its own amplitude, the shape shared
where the family says so), in weight units per pulse, R = w_max - w_min the bounds' width:

* ``softbounds``: q+ = a+ (w_max - w)/R, q- = a- (w - w_min)/R (2 fitted; the bounds fixed)
* ``linear``: q+ = a+ - b+ w, q- = a- + b- w (linear step, free slopes; 4)
* ``power``: q+ = a+ ((w_max - w)/R)^gamma, q- = a- ((w - w_min)/R)^gamma (PowStep; 3; the bounds fixed)
* ``exponential``: q+ = a+ (1 + c+ e^{-k (w - w_mid)}), q- = a- (1 + c- e^{k (w - w_mid)}) (ExpStep; 5;
  w_mid, the bounds' middle, fixed)
* ``piecewise``: piecewise linear in w on 6 knots across the bounds, per direction (12; the knots fixed)

Each gets the RMS residual, R^2 per direction and the BIC (n ln(RSS/n) + p ln n over all steps, p the
fitted parameters); the lowest BIC is the best. The result is a response in units of ``dw_min`` (the mean
step magnitude (q+ + q-)/2 at the fitted SP, or at the middle of the range when there is none) that every
command takes as ``--q-plus ... --q-minus ... --range=LO,HI`` (and ``--dw-min`` for pulses).

Every fit also carries (:class:`FitResult`):

* the SPs, zeros of G = (q- - q+)/2 of the fitted response, each with its standard error by the delta
  method, se(SP)^2 = grad^T C grad, grad = -(dG/dtheta)/(dG/dw) at the SP, C the fitted parameters'
  covariance; dw_min with its SE the same way;
* the cycle-to-cycle noise (the pulse-level model of arXiv 2502.06309 App. C eq. 26: step = dw_min
  (q(w) + sigma_c xi), xi ~ N(0, 1), as :class:`aimc_theory.device.Device` pulses): sigma_c = s/dw_min
  with s^2 = sum n_k e_k^2 / (N - p) the residual variance (e_k the residual of a step over n_k pulses),
  its SE from the fourth moment, se(s^2) = sqrt((m4 - s^4)/N) (2 s^4/N for Gaussian noise), combined
  with dw_min's; the same noise read model-free from successive steps of a sweep (von Neumann:
  E (y_{k+1} - y_k)^2 = 2 s^2 up to (dw_min q')^2 terms); and the multiplicative reading (the reference
  simulator's devices with multiplicative noise), step = dw_min (1 + sigma xi) q(w), sigma^2 =
  sum n_k e_k^2/f_k^2 / (N - p). Which one the residuals favour: the regression (e/dw_min)^2 =
  sigma_c^2 + sigma_m^2 q^2 (robust HC0 standard errors, one-sided z tests at level :data:`ALPHA`).
  Over 40 seeds of the ECRAM preset with sigma_c = 0.3 the SEs of sigma_c, the SP and dw_min match the
  seed-to-seed spread (rms z 1.02, 0.98, 1.1);
* a goodness-of-fit statement separating noise from misfit: the lack-of-fit F test on bins of w (equal
  counts, per direction), F = (SS_bin means/(B - p)) / (SS_within/(N - B)) ~ F(B - p, N - B) when the
  family is right; "misfit" when p < :data:`ALPHA`. The noise's share of each direction's step variance
  (model-free) bounds the R^2 any response can reach: a low R^2 with p >= ALPHA is noise, not misfit.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import TINY, InputError, require_finite
from .response import FAMILY

_STATE = ("w", "weight", "g", "conductance")
_UP, _DOWN = {"up", "+", "1", "+1", "u"}, {"down", "-", "-1", "d"}
MIN_STEPS = 5          # per direction
KNOTS = 6
ALPHA = 0.01           # level of the tests behind the words "misfit" and "additive"/"multiplicative" (p printed)
BIN_STEPS = 30         # steps per bin of the lack-of-fit test, at least 2 and at most MAX_BINS bins per direction
MAX_BINS = 20
MIN_SPAN = TINY ** 0.25 * 1e12   # the states' span: steps down to 1e-12 of it keep their 4th powers (the SEs) normal


@dataclass
class Sweeps:
    """Per-pulse steps in weight units.

    Attributes
    ----------
    w_up, dw_up, w_down, dw_down : ndarray
        The state before each step and the step (the file's units, or weights through the conductance map).
    lo, hi : float
        The device's bounds in weight units, the fitted response's range: given, or the observed extremes.
    source : str
        The file.
    observed : tuple of float
        The data's extreme states (weight units).
    bounds_given : bool
        False when the observed extremes were taken as the bounds.
    mapping : dict or None
        The conductance-to-weight map: ``g_min``, ``g_max``, ``range`` [w_lo, w_hi], ``units``, ``scale``
        (w_hi - w_lo)/(g_max - g_min), ``bounds`` in the data's units.
    units : str
        The data's units as the user named them ("" when not given).
    n_up, n_down : ndarray
        Pulses per step (rows n pulses apart: the mean step over them, noise variance sigma^2/n).
    seg_up, seg_down, pos_up, pos_down : ndarray
        Each step's sweep and position: steps with the same sweep and positions 1 apart are successive.
    """

    w_up: np.ndarray
    dw_up: np.ndarray
    w_down: np.ndarray
    dw_down: np.ndarray
    lo: float
    hi: float
    source: str = ""
    observed: tuple | None = None
    bounds_given: bool = False
    mapping: dict | None = None
    units: str = ""
    n_up: np.ndarray | None = None
    n_down: np.ndarray | None = None
    seg_up: np.ndarray | None = None
    seg_down: np.ndarray | None = None
    pos_up: np.ndarray | None = None
    pos_down: np.ndarray | None = None

    def __post_init__(self):
        if self.observed is None:
            self.observed = (self.lo, self.hi)
        for d, w in (("up", self.w_up), ("down", self.w_down)):
            if getattr(self, f"n_{d}") is None:
                setattr(self, f"n_{d}", np.ones(np.size(w)))
            if getattr(self, f"seg_{d}") is None:
                setattr(self, f"seg_{d}", np.zeros(np.size(w), dtype=int))
            if getattr(self, f"pos_{d}") is None:
                setattr(self, f"pos_{d}", np.arange(np.size(w)))


MAX_DATA_BYTES = 64 << 20       # a sweep file larger than this is refused (read stops at the limit)


def pair(name: str, value) -> tuple[float, float] | None:
    """``"LO,HI"`` (or a pair of numbers) -> (lo, hi) with lo < hi, finite; None stays None."""
    if value is None:
        return None
    parts = value.split(",") if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else [value]
    if len(parts) != 2:
        raise InputError(name, f"must be LO,HI: two numbers with LO < HI (got {value!r})")
    lo, hi = (require_finite(name, v) for v in parts)
    if not lo < hi:
        raise InputError(name, f"must be LO,HI with LO < HI (got {lo:g},{hi:g})")
    return lo, hi


def conductance_map(g_min=None, g_max=None, range=None, units: str | None = None) -> dict | None:
    """The map w = w_lo + (g - g_min)(w_hi - w_lo)/(g_max - g_min), or None without ``g_min``/``g_max``.

    Parameters
    ----------
    g_min, g_max : float or None
        The data's values (conductances) mapped to the ends of ``range``; both or neither.
    range : "LO,HI" or (lo, hi), optional
        The weight range [w_lo, w_hi] (default [-1, 1]); only with ``g_min`` and ``g_max``.
    units : str, optional
        The data's units, for the output.

    Returns
    -------
    dict or None
        ``g_min``, ``g_max``, ``range``, ``units``, ``scale``.
    """
    if g_min is None and g_max is None:
        if range is not None:
            raise InputError("range", f"is the weight range that [g_min, g_max] maps to: give --g-min and --g-max "
                                      f"too (got {range!r} alone)")
        return None
    if g_min is None or g_max is None:
        missing, given = ("g_min", "g_max") if g_min is None else ("g_max", "g_min")
        raise InputError(missing, f"must be given with --{given.replace('_', '-')}: the map of conductance to "
                                  "weight needs both ends (got none)")
    g_min, g_max = require_finite("g_min", g_min), require_finite("g_max", g_max)
    if not g_max > g_min:
        raise InputError("g_max", f"must be > g_min = {g_min:g} (got {g_max:g})")
    w_lo, w_hi = pair("range", range) if range is not None else (-1.0, 1.0)
    return {"g_min": g_min, "g_max": g_max, "range": [w_lo, w_hi], "units": units or "",
            "scale": (w_hi - w_lo) / (g_max - g_min)}


def to_weight(g, mapping: dict | None):
    """The conductance map applied (identity without one)."""
    if mapping is None:
        return g
    return mapping["range"][0] + (np.asarray(g, dtype=float) - mapping["g_min"]) * mapping["scale"]


def to_data_units(w, mapping: dict | None):
    """The inverse of :func:`to_weight`."""
    if mapping is None:
        return w
    return mapping["g_min"] + (np.asarray(w, dtype=float) - mapping["range"][0]) / mapping["scale"]


def read(path, bounds=None, g_min=None, g_max=None, range=None, units: str | None = None) -> Sweeps:
    """Read and validate a sweep file; errors name the problem and the line.

    Parameters
    ----------
    path : str or Path
        The CSV (columns direction, pulse, w or g, optional cycle).
    bounds : "LO,HI" or (lo, hi), optional
        The device's bounds in the data's units; they must contain every state. Default: the observed
        extremes.
    g_min, g_max : float, optional
        Map the data's states (conductances) to weights: g_min -> the low end of ``range``, g_max -> the
        high end. Every state must lie in [g_min, g_max].
    range : "LO,HI" or (lo, hi), optional
        The weight range of the map (default -1,1).
    units : str, optional
        The data's units (e.g. uS), for the output.

    Returns
    -------
    Sweeps
        In weight units.
    """
    mapping = conductance_map(g_min, g_max, range, units)
    path = Path(path)
    try:
        with open(path, "rb") as fh:            # at most MAX_DATA_BYTES: /dev/zero or a huge file stops there
            raw = fh.read(MAX_DATA_BYTES + 1)
        if len(raw) > MAX_DATA_BYTES:
            raise InputError("data", f"{path} holds more than {MAX_DATA_BYTES / 2**20:g} MiB (read stopped there); a "
                                     "sweep file is a CSV of pulses, a few MB at most")
        text = raw.decode("utf-8-sig")         # a byte-order mark (spreadsheet exports) is not part of the header
    except FileNotFoundError:
        raise InputError("data", f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError("data", f"cannot read {path}: {exc}") from None
    # each row with the number of its line in the file (comments and blank lines counted), for the errors
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
                if line.strip() and not line.lstrip().startswith("#")]
    rows = []
    for n, line in numbered:
        try:
            rows.append(next(csv.reader([line])))
        except csv.Error as exc:
            raise InputError("data", f"line {n}: not a CSV row ({exc})") from None
    if not rows:
        raise InputError("data", f"{path} is empty")
    head = [h.strip().lower() for h in rows[0]]
    state = next((c for c in _STATE if c in head), None)
    missing = [c for c in ("direction", "pulse") if c not in head] + ([] if state else ["w (or g, conductance)"])
    if missing:
        sep = next((f"{c!r}" for c in (";", "\t", "|") if len(head) == 1 and c in head[0]), None)
        raise InputError("data", f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(head) or 'none'} "
                                   "(needed: direction, pulse, w)"
                         + (f"; the fields seem separated by {sep}: the file must be comma-separated" if sep else ""))
    idx = {c: head.index(c) for c in ("direction", "pulse")}
    idx["w"] = head.index(state)
    has_cycle = "cycle" in head
    data = []
    for (line, _), r in zip(numbered[1:], rows[1:]):
        if len(r) != len(head):
            raise InputError("data", f"line {line}: {len(r):,} fields, the header has {len(head)}")
        d = r[idx["direction"]].strip().lower()
        if d not in _UP | _DOWN:
            raise InputError("data", f"line {line}: direction {r[idx['direction']]!r} is not up or down")
        try:
            pulse = float(r[idx["pulse"]])
            w = float(r[idx["w"]])
        except ValueError:
            raise InputError("data", f"line {line}: pulse and {state} must be numbers "
                                       f"(got {r[idx['pulse']]!r}, {r[idx['w']]!r})") from None
        if not (math.isfinite(pulse) and math.isfinite(w)):
            raise InputError("data", f"line {line}: pulse and {state} must be finite (got {pulse}, {w})")
        if abs(w) > 1e12:
            raise InputError("data", f"line {line}: |{state}| = {abs(w):g} is beyond 1e12")
        data.append((line, 1 if d in _UP else -1, pulse, w, r[head.index("cycle")].strip() if has_cycle else ""))
    if not data:
        raise InputError("data", f"{path}: a header and no rows")
    raw_states = np.array([x[3] for x in data])
    u = f" {mapping['units']}" if mapping and mapping["units"] else ""
    if mapping is not None:                 # every state inside [g_min, g_max], the conductance range of the map
        i, j = int(np.argmin(raw_states)), int(np.argmax(raw_states))
        if raw_states[i] < mapping["g_min"]:
            raise InputError("g_min", f"must be <= every {state} of the data: line {data[i][0]} has "
                                      f"{raw_states[i]:g}{u} (got g_min {mapping['g_min']:g})")
        if raw_states[j] > mapping["g_max"]:
            raise InputError("g_max", f"must be >= every {state} of the data: line {data[j][0]} has "
                                      f"{raw_states[j]:g}{u} (got g_max {mapping['g_max']:g})")
    b = pair("bounds", bounds)
    obs_raw = (float(raw_states.min()), float(raw_states.max()))
    if b is not None:
        if b[0] > obs_raw[0] or b[1] < obs_raw[1]:
            raise InputError("bounds", f"must contain every {state} of the data, [{obs_raw[0]:g}, "
                                       f"{obs_raw[1]:g}]{u} (got {b[0]:g},{b[1]:g})")
        if mapping is not None and (b[0] < mapping["g_min"] or b[1] > mapping["g_max"]):
            raise InputError("bounds", f"must lie within [g_min, g_max] = [{mapping['g_min']:g}, "
                                       f"{mapping['g_max']:g}]{u} (got {b[0]:g},{b[1]:g})")
    if mapping is not None:
        mapping["bounds"] = list(b if b is not None else obs_raw)
        data = [(line, d, pulse, float(to_weight(w, mapping)), cyc) for line, d, pulse, w, cyc in data]
    # per direction: state before, step, state after, pulses, sweep, position
    steps = {1: ([], [], [], [], [], []), -1: ([], [], [], [], [], [])}
    prev, sweep_id, pos = None, -1, 0
    for line, d, pulse, w, cyc in data:
        if prev is not None and prev[1] == d and prev[4] == cyc:
            if pulse <= prev[2]:
                raise InputError("data", f"line {line}: pulse index {pulse:g} does not increase within the sweep "
                                           f"(previous {prev[2]:g} on line {prev[0]})")
            n = pulse - prev[2]
            for col, v in zip(steps[d], (prev[3], (w - prev[3]) / n, w, n, sweep_id, pos)):
                col.append(v)          # a gap of n pulses: the mean step over it
            pos += 1
        else:
            sweep_id, pos = sweep_id + 1, pos + 1      # a new sweep: positions jump, no successive pair across
        prev = (line, d, pulse, w, cyc)
    for d, name in ((1, "up"), (-1, "down")):
        if len(steps[d][0]) < MIN_STEPS:
            raise InputError("data", f"{path}: {len(steps[d][0])} {name} steps; at least {MIN_STEPS} per direction "
                                       "are needed (an up sweep and a down sweep of several pulses)")
    w_all = np.array([x[3] for x in data])
    obs = (float(w_all.min()), float(w_all.max()))
    if 0 < obs[1] - obs[0] < MIN_SPAN:
        raise InputError("range" if mapping else "data",
                         f"the states span {obs[1] - obs[0]:.3g} in weight units, below {MIN_SPAN:.2g}: the squares "
                         "and fourth powers of the steps would leave float64's normal range; "
                         + ("widen the weight range" if mapping else "give the states in larger units"))
    lo, hi = (float(to_weight(b[0], mapping)), float(to_weight(b[1], mapping))) if b is not None else obs
    eps = 1e-9 * (hi - lo)                    # relative: data in siemens (1e-5) have steps below 1e-9
    for d, name in ((1, "up"), (-1, "down")):
        if steps[d][1] and np.all(np.asarray(steps[d][1]) == 0):
            raise InputError("data", f"{path}: the {name} sweep never moves (every step is 0)")
    for d, bound in ((1, hi), (-1, lo)):           # steps that end at a bound were cut short by it
        keep = [i for i, e in enumerate(steps[d][2]) if abs(e - bound) > eps]
        steps[d] = tuple([v[i] for i in keep] for v in steps[d])
    for d, name in ((1, "up"), (-1, "down")):
        if len(steps[d][0]) < MIN_STEPS:
            raise InputError("data", f"{path}: {len(steps[d][0])} {name} steps; at least {MIN_STEPS} per direction "
                                       "are needed (an up sweep and a down sweep of several pulses)")
        if np.all(np.asarray(steps[d][1]) == 0):
            raise InputError("data", f"{path}: the {name} sweep never moves (every step is 0)")
    wu, su = np.asarray(steps[1][0]), np.asarray(steps[1][1])
    wd, sd = np.asarray(steps[-1][0]), np.asarray(steps[-1][1])
    if np.mean(su) <= 0 or np.mean(sd) >= 0:
        raise InputError("data", f"{path}: up pulses must raise {state} and down pulses lower it on average "
                                   f"(mean up step {np.mean(su):.3g}, mean down step {np.mean(sd):.3g}); "
                                   "check the direction column")
    arr = lambda d, k, t=float: np.asarray(steps[d][k], dtype=t)    # noqa: E731
    return Sweeps(wu, su, wd, sd, lo, hi, str(path), obs, b is not None, mapping, units or "",
                  arr(1, 3), arr(-1, 3), arr(1, 4, int), arr(-1, 4, int), arr(1, 5, int), arr(-1, 5, int))


@dataclass
class FitResult:
    """One family's fit.

    Attributes
    ----------
    family : str
        The fit model (:data:`FAMILIES`).
    params : dict
        The fitted parameters only (weight units per pulse), name -> value; ``n_params`` of them.
    rss, n : float, int
        Residual sum of squares over the n steps (both directions).
    n_params : int
        How many parameters were fitted (the BIC's p): ``len(params)``.
    r2_up, r2_down : float
        R^2 of each direction's steps.
    bic : float
        n ln(RSS/n) + p ln n.
    q_plus_w, q_minus_w : callable
        The fitted step magnitudes in weight units per pulse.
    q_plus_expr, q_minus_expr : str
        The same as expressions in w.
    se : dict
        Standard errors of ``params``.
    fixed : dict
        Quantities the family needs that were not fitted (the bounds w_min, w_max; w_mid; the knots).
    fixed_note : str
        Where the fixed values came from.
    cov : ndarray
        Covariance of the fitted parameters (order of ``params``).
    model : callable
        ``model(theta, w, up)``: the step magnitude q+ (up) or q- in weight units for parameters theta.
    dw_min, dw_min_se : float
        Mean step magnitude (q+ + q-)/2 at the first SP (the middle of the bounds without one) and its SE.
    symmetric_points : list of dict
        Each SP inside the bounds, ``{"w": value, "se": standard error}``; empty: no SP in the range.
    noise : dict
        Cycle-to-cycle noise, in units of dw_min: ``sigma_c`` and ``sigma_c_se`` (additive, from the
        residuals), ``model_free_sigma_c`` and its ``_se`` (successive steps), ``sigma_multiplicative`` and
        its ``_se``, ``components`` (the regression of squared residuals on q^2), ``favoured``
        ("additive", "multiplicative", "both", "undetermined") and ``evidence`` (words).
    goodness : dict
        ``verdict`` ("noise", "misfit", "untested"), ``p_value``, ``F``, ``df``, ``bins``,
        ``variance_ratio`` (residual / model-free noise variance), ``noise_fraction_up``/``_down``,
        ``best_r2_up``/``_down`` and ``statement`` (words).
    """

    family: str
    params: dict
    rss: float
    n: int
    n_params: int
    r2_up: float
    r2_down: float
    bic: float
    q_plus_w: object = field(repr=False, default=None)     # callables in weight units
    q_minus_w: object = field(repr=False, default=None)
    q_plus_expr: str = ""                                  # expressions in weight units
    q_minus_expr: str = ""
    se: dict = field(default_factory=dict)                 # standard errors of the fitted parameters
    fixed: dict = field(default_factory=dict)
    fixed_note: str = ""
    cov: object = field(repr=False, default=None)
    model: object = field(repr=False, default=None)
    dw_min: float = float("nan")
    dw_min_se: float = float("nan")
    symmetric_points: list = field(default_factory=list)
    noise: dict = field(default_factory=dict)
    goodness: dict = field(default_factory=dict)

    @property
    def rms(self) -> float:
        return math.sqrt(self.rss / self.n)

    @property
    def theta(self) -> np.ndarray:
        return np.array(list(self.params.values()), dtype=float)

    def to_records(self) -> list[dict]:
        """This fit as a one-row table, the columns of ``aimc-theory fit``'s rows
        (:func:`aimc_theory.commands.results.records`)."""
        from .commands.results import records
        return records([self])

    def to_frame(self):
        """:meth:`to_records` as a pandas DataFrame (the optional extra ``pandas``)."""
        from .commands.results import frame
        return frame(self.to_records())

    def plot(self, sweeps: "Sweeps | None" = None, ax=None, arguments: dict | None = None):
        """This fit's q+(w), q-(w) over the measured steps of ``sweeps``, or of the data read again from the
        fit command's ``arguments`` (``data``, ``bounds``, ``g_min``, ``g_max``, ``range``, ``units``), when
        given (:func:`aimc_theory.plots.fitted`); returns the Axes."""
        from . import plots
        if sweeps is None and arguments and arguments.get("data"):
            sweeps = read(arguments["data"], **{k: arguments.get(k) for k in ("bounds", "g_min", "g_max", "range",
                                                                              "units")})
        return plots.fitted(self, sweeps, ax)


def _r2(y, yhat):
    ss = float(np.sum((y - np.mean(y)) ** 2))
    return 1.0 - float(np.sum((y - yhat) ** 2)) / ss if ss > 0 else float("nan")


def _fmt(x: float) -> str:
    return f"{x:.8g}"


def _bounds_note(s: Sweeps) -> str:
    return "the bounds, given" if s.bounds_given else "the bounds: the data's observed extremes"


def _finish(family, names, theta, cov, s: Sweeps, model, qp_expr, qm_expr, fixed: dict, fixed_note: str = "",
            se: dict | None = None) -> FitResult:
    theta = np.asarray(theta, dtype=float)
    qp = lambda w: model(theta, w, True)            # noqa: E731
    qm = lambda w: model(theta, w, False)           # noqa: E731
    yu, yd = s.dw_up, -s.dw_down
    fu, fd = qp(s.w_up), qm(s.w_down)
    rss = float(np.sum((yu - fu) ** 2) + np.sum((yd - fd) ** 2))
    n = yu.size + yd.size
    p = len(names)                                   # fixed quantities (the bounds, knots) do not count
    bic = n * math.log(max(rss, 1e-300) / n) + p * math.log(n)
    cov = np.asarray(cov, dtype=float)
    if se is None:
        se = {k: math.sqrt(max(cov[i, i], 0.0)) for i, k in enumerate(names)}
    return FitResult(family, {k: float(v) for k, v in zip(names, theta)}, rss, n, p, _r2(yu, fu), _r2(yd, fd), bic,
                     qp, qm, qp_expr, qm_expr, {k: float(v) for k, v in se.items()}, fixed, fixed_note, cov, model)


def _ls_cov(sol, n) -> np.ndarray:
    """Covariance from the Jacobian at the optimum: cov = s^2 (J^T J)^-1, s^2 = RSS/(n - p)."""
    J = sol.jac
    p = J.shape[1]
    s2 = 2 * sol.cost / max(n - p, 1)
    try:
        return s2 * np.linalg.pinv(J.T @ J)
    except np.linalg.LinAlgError:
        return np.full((p, p), np.nan)


def _fit_softbounds(s: Sweeps, name: str) -> FitResult:
    lo, hi = s.lo, s.hi
    R = hi - lo
    xu, xd = (hi - s.w_up) / R, (s.w_down - lo) / R
    a_p = float(np.dot(xu, s.dw_up) / np.dot(xu, xu))
    a_m = float(np.dot(xd, -s.dw_down) / np.dot(xd, xd))
    se = {"a_plus": math.sqrt(np.sum((s.dw_up - a_p * xu) ** 2) / (xu.size - 1) / np.dot(xu, xu)),
          "a_minus": math.sqrt(np.sum((-s.dw_down - a_m * xd) ** 2) / (xd.size - 1) / np.dot(xd, xd))}

    def model(t, w, up):
        return t[0] * (hi - w) / R if up else t[1] * (w - lo) / R

    return _finish(name, ["a_plus", "a_minus"], [a_p, a_m], np.diag([se["a_plus"] ** 2, se["a_minus"] ** 2]), s, model,
                   f"{_fmt(a_p)}*({_fmt(hi)} - w)/{_fmt(R)}", f"{_fmt(a_m)}*(w - {_fmt(lo)})/{_fmt(R)}",
                   {"w_min": lo, "w_max": hi}, _bounds_note(s), se)


def _fit_linear(s: Sweeps, name: str) -> FitResult:
    cu, cov_u = np.polyfit(s.w_up, s.dw_up, 1, cov=True)
    cd, cov_d = np.polyfit(s.w_down, -s.dw_down, 1, cov=True)
    # theta = (a+, b+, a-, b-) with a+ = cu[1], b+ = -cu[0], a- = cd[1], b- = cd[0]
    cov = np.zeros((4, 4))
    cov[:2, :2] = [[cov_u[1, 1], -cov_u[0, 1]], [-cov_u[0, 1], cov_u[0, 0]]]
    cov[2:, 2:] = [[cov_d[1, 1], cov_d[0, 1]], [cov_d[0, 1], cov_d[0, 0]]]

    def model(t, w, up):
        return t[0] - t[1] * w if up else t[2] + t[3] * w

    return _finish(name, ["a_plus", "b_plus", "a_minus", "b_minus"], [cu[1], -cu[0], cd[1], cd[0]], cov, s, model,
                   _affine(cu[1], cu[0]), _affine(cd[1], cd[0]), {})


def _affine(a: float, b: float) -> str:
    return f"{_fmt(a)} {'-' if b < 0 else '+'} {_fmt(abs(b))}*w"


def _fit_power(s: Sweeps, name: str) -> FitResult:
    from scipy.optimize import least_squares          # 0.3 s to import: only where a fit needs it
    lo, hi = s.lo, s.hi
    R = hi - lo
    xu = np.clip((hi - s.w_up) / R, 0, None)
    xd = np.clip((s.w_down - lo) / R, 0, None)

    def res(p):
        a_p, a_m, g = p
        return np.concatenate([a_p * xu ** g - s.dw_up, a_m * xd ** g + s.dw_down])

    a0 = float(np.mean(np.abs(s.dw_up)) * 2), float(np.mean(np.abs(s.dw_down)) * 2)
    sol = least_squares(res, [a0[0], a0[1], 1.0], bounds=([0, 0, 0.05], [np.inf, np.inf, 20]))
    a_p, a_m, g = (float(v) for v in sol.x)

    def model(t, w, up):
        x = (hi - w) / R if up else (w - lo) / R
        return (t[0] if up else t[1]) * np.clip(x, 0, None) ** t[2]

    return _finish(name, ["a_plus", "a_minus", "gamma"], [a_p, a_m, g], _ls_cov(sol, s.w_up.size + s.w_down.size),
                   s, model, f"{_fmt(a_p)}*(({_fmt(hi)} - w)/{_fmt(R)})**{_fmt(g)}",
                   f"{_fmt(a_m)}*((w - {_fmt(lo)})/{_fmt(R)})**{_fmt(g)}", {"w_min": lo, "w_max": hi}, _bounds_note(s))


def _fit_exponential(s: Sweeps, name: str) -> FitResult:
    from scipy.optimize import least_squares
    mid, R = 0.5 * (s.lo + s.hi), s.hi - s.lo

    def shape(p, w, sign):
        a, c, k = p
        return a * (1 + c * np.exp(-sign * k * (w - mid) / R))

    def res(p):
        return np.concatenate([shape((p[0], p[1], p[4]), s.w_up, 1) - s.dw_up,
                               shape((p[2], p[3], p[4]), s.w_down, -1) + s.dw_down])

    best = None
    for k0 in (1.0, 3.0, 8.0):
        a0u, a0d = float(np.min(s.dw_up)), float(np.min(-s.dw_down))
        sol = least_squares(res, [max(a0u, 1e-12), 0.5, max(a0d, 1e-12), 0.5, k0],
                            bounds=([0, 0, 0, 0, 0.01], [np.inf, 1e6, np.inf, 1e6, 50]))
        if best is None or sol.cost < best.cost:
            best = sol
    a_p, c_p, a_m, c_m, k = (float(v) for v in best.x)
    kk = k / R
    cov = _ls_cov(best, s.w_up.size + s.w_down.size)
    cov[4, :] /= R                      # k was fitted in units of 1/R
    cov[:, 4] /= R

    def model(t, w, up):
        return t[0] * (1 + t[1] * np.exp(-t[4] * (w - mid))) if up else t[2] * (1 + t[3] * np.exp(t[4] * (w - mid)))

    return _finish(name, ["a_plus", "c_plus", "a_minus", "c_minus", "k"], [a_p, c_p, a_m, c_m, kk], cov, s, model,
                   f"{_fmt(a_p)}*(1 + {_fmt(c_p)}*exp(-{_fmt(kk)}*(w - {_fmt(mid)})))",
                   f"{_fmt(a_m)}*(1 + {_fmt(c_m)}*exp({_fmt(kk)}*(w - {_fmt(mid)})))", {"w_mid": mid},
                   "the middle of the bounds" + ("" if s.bounds_given else " (the data's observed extremes)"))


def _hat(w, knots):
    B = np.zeros((np.size(w), knots.size))
    for j in range(knots.size):
        e = np.zeros(knots.size)
        e[j] = 1.0
        B[:, j] = np.interp(w, knots, e)
    return B


def _fit_piecewise(s: Sweeps, name: str) -> FitResult:
    knots = np.linspace(s.lo, s.hi, KNOTS)
    cov = np.zeros((2 * KNOTS, 2 * KNOTS))
    vals = []
    for i, (w, y) in enumerate(((s.w_up, s.dw_up), (s.w_down, -s.dw_down))):
        B = _hat(w, knots)
        v = np.linalg.lstsq(B, y, rcond=None)[0]
        s2 = float(np.sum((y - B @ v) ** 2)) / max(y.size - KNOTS, 1)
        cov[i * KNOTS:(i + 1) * KNOTS, i * KNOTS:(i + 1) * KNOTS] = s2 * np.linalg.pinv(B.T @ B)
        vals.append(v)
    vu, vd = vals

    def model(t, w, up):
        return np.interp(w, knots, t[:KNOTS] if up else t[KNOTS:])

    names = [f"up_{i}" for i in range(KNOTS)] + [f"down_{i}" for i in range(KNOTS)]
    return _finish(name, names, np.concatenate([vu, vd]), cov, s, model, _pl_expr(knots, vu), _pl_expr(knots, vd),
                   {"knots": [float(k) for k in knots]}, f"{KNOTS} knots equally spaced on the bounds")


def _pl_expr(knots, v) -> str:
    """A piecewise-linear interpolant as an expression the parser accepts: v0 + sum of slope changes
    times ramps, each ramp (|w - k| + (w - k))/2."""
    slopes = np.diff(v) / np.diff(knots)
    parts = [f"{_fmt(v[0])}", f"({_fmt(slopes[0])})*(w - {_fmt(knots[0])})"]
    for j in range(1, slopes.size):
        dslope = slopes[j] - slopes[j - 1]
        parts.append(f"({_fmt(dslope)})*(abs(w - {_fmt(knots[j])}) + (w - {_fmt(knots[j])}))/2")
    return " + ".join(parts)


# The fit models by id; a response family's record names the model for sweeps of its shape (Family.fit).
_FITTERS = {"softbounds": _fit_softbounds, "linear": _fit_linear, "power": _fit_power,
            "exponential": _fit_exponential, "piecewise": _fit_piecewise}
# The models in the order of the families that name them (the registry's), then those of no family (piecewise)
_NAMED = tuple(dict.fromkeys(f.fit for f in FAMILY.values() if f.fit is not None))
FAMILIES = _NAMED + tuple(m for m in _FITTERS if m not in _NAMED)


def synthetic_sweeps(resp, dw_min: float, sigma_c: float = 0.3, cycles: int = 3, pulses: int = 600,
                     w0: float = -0.3, seed: int = 0) -> str:
    """CSV text of up/down sweeps of a known response pulsed by this toolkit's pulse-level model (cycle
    noise ``sigma_c`` dw_min per pulse): ``cycles`` times ``pulses`` up pulses then ``pulses`` down pulses
    from ``w0``. For examples and for checking that :func:`fit` recovers what made the data."""
    from .device import Device
    dev = Device(resp, dw_min=dw_min, sigma_c=sigma_c)
    rng = np.random.default_rng(seed)
    w = np.array([float(w0)])
    lines = ["cycle,direction,pulse,w"]
    for c in range(cycles):
        for name, sign in (("up", 1.0), ("down", -1.0)):
            lines.append(f"{c},{name},0,{float(w[0])!r}")
            for k in range(1, pulses + 1):
                w = dev.pulse(w, np.array([sign]), rng)
                lines.append(f"{c},{name},{k},{float(w[0])!r}")
    return "\n".join(lines) + "\n"


def fit(s: Sweeps, families=FAMILIES) -> list[FitResult]:
    """Every family's fit, best (lowest BIC) first, each with its SPs +- SE, dw_min +- SE, the cycle noise
    and the goodness-of-fit statement (see the module's text and :class:`FitResult`).

    Parameters
    ----------
    s : Sweeps
        From :func:`read`.
    families : iterable of str
        Which of :data:`FAMILIES`.

    Returns
    -------
    list of FitResult
    """
    out = []
    for f in families:
        if f not in _FITTERS:
            raise InputError("families", f"unknown family {f!r}; valid: {', '.join(FAMILIES)}")
        out.append(_analyse(_FITTERS[f](s, f), s))
    return sorted(out, key=lambda r: r.bic)


# ---- what the fit says about the device: SPs and dw_min with SEs, noise, noise vs misfit ----------------

def _grad(fun, theta: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Central differences of a scalar function of the parameters, steps 1e-6 of each one's scale."""
    g = np.zeros(theta.size)
    for i in range(theta.size):
        h = 1e-6 * scale[i]
        up, dn = theta.copy(), theta.copy()
        up[i] += h
        dn[i] -= h
        g[i] = (fun(up) - fun(dn)) / (2 * h)
    return g


def _at(model, theta, w: float, up: bool) -> float:
    return float(np.asarray(model(theta, np.array([w]), up))[0])


def _reference(r: FitResult, s: Sweeps) -> tuple[float, bool]:
    """Where dw_min is read: the first zero of q- - q+ on a 2001-point grid of the bounds (linear
    interpolation), or the middle of the bounds when there is none."""
    grid = np.linspace(s.lo, s.hi, 2001)
    g = r.q_minus_w(grid) - r.q_plus_w(grid)
    cross = np.flatnonzero(np.sign(g[:-1]) * np.sign(g[1:]) < 0)
    if cross.size:
        i = cross[0]
        return float(grid[i] - g[i] * (grid[i + 1] - grid[i]) / (g[i + 1] - g[i])), True
    return 0.5 * (s.lo + s.hi), False


def _sps_and_dw_min(r: FitResult, s: Sweeps) -> None:
    """The SPs (Brent on the sign changes of q- - q+) with delta-method SEs, and dw_min with its SE."""
    from scipy.optimize import brentq
    theta, cov, model = r.theta, r.cov, r.model
    se = np.sqrt(np.clip(np.diag(cov), 0, None)) if cov is not None and cov.size else np.zeros(theta.size)
    scale = np.maximum(np.maximum(np.abs(theta), se), 1e-12)
    hw = 1e-6 * (s.hi - s.lo)
    G = lambda t, w: _at(model, t, w, False) - _at(model, t, w, True)      # noqa: E731  (2 G: the zeros alike)
    D = lambda t, w: 0.5 * (_at(model, t, w, False) + _at(model, t, w, True))   # noqa: E731

    def var(grad) -> float:
        return float(grad @ cov @ grad) if cov is not None and np.all(np.isfinite(cov)) else float("nan")

    grid = np.linspace(s.lo, s.hi, 2001)
    g = r.q_minus_w(grid) - r.q_plus_w(grid)
    sps = []
    for i in np.flatnonzero(np.sign(g[:-1]) * np.sign(g[1:]) < 0):
        w0 = brentq(lambda x: G(theta, x), grid[i], grid[i + 1], xtol=1e-15 * max(1.0, abs(s.hi - s.lo)))
        dGdw = (G(theta, min(w0 + hw, s.hi)) - G(theta, max(w0 - hw, s.lo))) / (min(w0 + hw, s.hi) - max(w0 - hw, s.lo))
        dsp = -_grad(lambda t: G(t, w0), theta, scale) / dGdw
        sps.append({"w": float(w0), "se": math.sqrt(max(var(dsp), 0.0)), "_grad": dsp})
    ref, has_sp = _reference(r, s)
    r.dw_min = D(theta, ref)
    grad = _grad(lambda t: D(t, ref), theta, scale)
    if has_sp and sps:              # the reference moves with the SP: chain rule
        w0 = sps[0]["w"]
        dDdw = (D(theta, min(w0 + hw, s.hi)) - D(theta, max(w0 - hw, s.lo))) / (min(w0 + hw, s.hi) - max(w0 - hw, s.lo))
        grad = grad + dDdw * sps[0]["_grad"]
    r.dw_min_se = math.sqrt(max(var(grad), 0.0))
    r.symmetric_points = [{"w": p["w"], "se": p["se"]} for p in sps]


def _steps(r: FitResult, s: Sweeps):
    """All steps: state, magnitude y (q+ up, q- down, weight units), fitted f, pulses n, up?, sweep, position."""
    w = np.concatenate([s.w_up, s.w_down])
    y = np.concatenate([s.dw_up, -s.dw_down])
    f = np.concatenate([r.q_plus_w(s.w_up), r.q_minus_w(s.w_down)])
    n = np.concatenate([s.n_up, s.n_down])
    up = np.concatenate([np.ones(s.w_up.size, bool), np.zeros(s.w_down.size, bool)])
    seg = np.concatenate([s.seg_up, s.seg_down])
    pos = np.concatenate([s.pos_up, s.pos_down])
    return w, y, f, n, up, seg, pos


def model_free_noise(s: Sweeps) -> tuple[float, float, int]:
    """The noise variance per pulse (weight units) from successive steps of a sweep, with no model:
    v_k = (y_{k+1} - y_k)^2 / (1/n_k + 1/n_{k+1}) has mean sigma^2 (plus (dw_min q' q)^2, second order
    in the step); its SE from the variance and lag-1 covariance of the v_k (successive pairs share a step).

    Parameters
    ----------
    s : Sweeps
        From :func:`read`.

    Returns
    -------
    tuple
        (sigma^2, its SE, number of pairs); NaNs with fewer than 3 pairs.
    """
    vs = []
    for y, n, seg, pos in ((s.dw_up, s.n_up, s.seg_up, s.pos_up), (s.dw_down, s.n_down, s.seg_down, s.pos_down)):
        ok = (seg[1:] == seg[:-1]) & (pos[1:] - pos[:-1] == 1)
        v = np.diff(y) ** 2 / (1 / n[1:] + 1 / n[:-1])
        vs.append(np.where(ok, v, np.nan))
    v = np.concatenate([vs[0], [np.nan], vs[1]])       # a gap between the directions: no lag across it
    good = np.isfinite(v)
    m = int(good.sum())
    if m < 3:
        return float("nan"), float("nan"), m
    mean = float(np.mean(v[good]))
    c = v - mean
    g0 = float(np.mean(c[good] ** 2))
    lag = np.isfinite(c[1:]) & np.isfinite(c[:-1])
    g1 = float(np.sum(c[1:][lag] * c[:-1][lag])) / m
    return mean, math.sqrt(max(g0 + 2 * g1, g0 / 4) / m), m


def _noise(r: FitResult, s: Sweeps) -> None:
    """Cycle noise in units of dw_min: additive from the residuals, model-free, multiplicative; which the
    residuals favour; and the lack-of-fit test (see the module's text)."""
    # the normal tail as scipy.stats.norm.sf computes it (ndtr(-x)), without importing scipy.stats (~0.5 s)
    from scipy.special import ndtr
    w, y, f, n, up, _, _ = _steps(r, s)
    N, p = y.size, r.n_params
    dw, dw_rel = r.dw_min, (r.dw_min_se / r.dw_min if r.dw_min > 0 else float("nan"))
    z = (y - f) * np.sqrt(n)                    # residual scaled to one pulse: variance sigma^2 each
    s2 = float(np.sum(z ** 2)) / max(N - p, 1)
    s2_se = math.sqrt(max(float(np.mean(z ** 4)) - s2 ** 2, 0.0) / N)

    def in_dw(var, var_se):                     # sigma = sqrt(var)/dw_min and its SE (both sources)
        if not (var > 0 and dw > 0):
            return float("nan"), float("nan")
        sig = math.sqrt(var) / dw
        return sig, sig * math.hypot(var_se / (2 * var), dw_rel)

    sig, sig_se = in_dw(s2, s2_se)
    pe, pe_se, pairs = model_free_noise(s)
    sig_pe, sig_pe_se = in_dw(pe, pe_se)
    noise = {"sigma_c": sig, "sigma_c_se": sig_se, "model": "additive: step = dw_min (q(w) + sigma_c xi)",
             "model_free_sigma_c": sig_pe, "model_free_sigma_c_se": sig_pe_se, "successive_pairs": pairs}
    q = f / dw if dw > 0 else f * np.nan
    if dw > 0 and np.all(q > 0):
        zq = z / q / dw
        m2 = float(np.sum(zq ** 2)) / max(N - p, 1)
        m2_se = math.sqrt(max(float(np.mean(zq ** 4)) - m2 ** 2, 0.0) / N)
        noise["sigma_multiplicative"] = math.sqrt(m2)
        noise["sigma_multiplicative_se"] = math.sqrt(m2) * m2_se / (2 * m2) if m2 > 0 else float("nan")
        # (e/dw_min)^2 = sigma_c^2 + sigma_m^2 q^2 + noise: OLS with HC0 (heteroskedasticity-robust) SEs
        X = np.column_stack([np.ones(N), q ** 2])
        u = (z / dw) ** 2
        XtX_inv = np.linalg.pinv(X.T @ X)
        beta = XtX_inv @ X.T @ u
        e = u - X @ beta
        cov = XtX_inv @ (X.T * e ** 2) @ X @ XtX_inv
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
        pa, pm = (float(ndtr(-(b / v))) if v > 0 else float("nan") for b, v in zip(beta, se))
        qr = [float(q.min()), float(q.max())]
        noise["components"] = {"sigma_c2": float(beta[0]), "sigma_c2_se": float(se[0]), "p_no_additive": pa,
                               "sigma_m2": float(beta[1]), "sigma_m2_se": float(se[1]), "p_no_multiplicative": pm,
                               "q_range": qr}
        add, mult = pa < ALPHA, pm < ALPHA
        fav = {(True, False): "additive", (False, True): "multiplicative", (True, True): "both"}.get((add, mult),
                                                                                                   "undetermined")
        comp = (f"regression of squared residuals on q^2: sigma_c^2 = {beta[0]:.3g} ± {se[0]:.2g} (p = {pa:.2g} for "
                f"none), sigma_m^2 = {beta[1]:.3g} ± {se[1]:.2g} (p = {pm:.2g} for none)")
        noise["favoured"] = fav
        noise["evidence"] = {
            "additive": f"additive: the squared residuals have a constant part and no significant growth with q^2 "
                        f"(level {ALPHA:g}); {comp}",
            "multiplicative": f"multiplicative: the squared residuals grow with q^2 and have no significant constant "
                              f"part (level {ALPHA:g}); {comp}",
            "both": f"both (additive and multiplicative parts); {comp}",
            "undetermined": f"cannot tell additive from multiplicative (q spans {qr[0]:.3g} to {qr[1]:.3g} over the "
                            f"data); {comp}"}[fav]
    else:
        noise.update(sigma_multiplicative=None, sigma_multiplicative_se=None, components=None, favoured="undetermined",
                     evidence="none: the fitted step is not positive at every step, so the multiplicative reading "
                              "(1 + sigma xi) q(w) is not defined")
    r.goodness = _goodness(r, s, w, y, f, n, up, z, s2, pe, p)
    if r.goodness["verdict"] == "misfit":       # a misfit inflates the residuals where it is largest
        noise["evidence"] += ("; the fit misfits, so its residuals hold more than noise: read the noise from the "
                              "model-free estimate or a family without misfit")
    r.noise = noise


def _goodness(r: FitResult, s: Sweeps, w, y, f, n, up, z, s2, pe, p) -> dict:
    """The lack-of-fit F test on equal-count bins of w per direction, the noise's share of the step
    variance (model-free) and the words."""
    # the F distribution's tail as scipy.stats.f.sf computes it for F >= 0 (fdtrc), without importing scipy.stats
    from scipy.special import fdtrc
    e = y - f
    ss_lof = ss_pe = 0.0
    bins = 0
    for d in (True, False):
        sel = np.flatnonzero(up == d)
        b = int(min(MAX_BINS, max(2, sel.size // BIN_STEPS)))
        for chunk in np.array_split(sel[np.argsort(w[sel], kind="stable")], b):
            if chunk.size == 0:
                continue
            ee, nn = e[chunk], n[chunk]
            mean = float(np.sum(nn * ee) / np.sum(nn))
            ss_lof += float(np.sum(nn)) * mean ** 2
            ss_pe += float(np.sum(nn * (ee - mean) ** 2))
            bins += 1
    N = y.size
    df1, df2 = bins - p, N - bins
    out = {"verdict": "untested", "p_value": None, "F": None, "df": [df1, df2], "bins": bins, "alpha": ALPHA}
    out["variance_ratio"] = s2 / pe if pe > 0 else float("nan")
    for d, name in ((True, "up"), (False, "down")):
        var = float(np.var(y[up == d]))
        frac = pe * float(np.mean(1 / n[up == d])) / var if var > 0 else float("nan")
        out[f"noise_fraction_{name}"], out[f"best_r2_{name}"] = frac, 1 - frac
    shares = (f"noise (model-free, from successive steps) is {100 * out['noise_fraction_up']:.0f}% of the up steps' "
              f"variance and {100 * out['noise_fraction_down']:.0f}% of the down steps': no response can reach R^2 "
              f"above {max(out['best_r2_up'], 0):.3g} (up), {max(out['best_r2_down'], 0):.3g} (down)")
    if df1 < 1 or df2 < 1 or not ss_pe > 0:
        out["statement"] = (f"untested: too few steps for a lack-of-fit test ({bins} bins, {p} fitted parameters); "
                            + shares)
        return out
    F = (ss_lof / df1) / (ss_pe / df2)
    pv = float(fdtrc(df1, df2, F))
    out.update(F=float(F), p_value=pv, verdict="noise" if pv >= ALPHA else "misfit")
    test = f"lack-of-fit F = {F:.3g} on ({df1}, {df2}) df over {bins} bins of w, p = {pv:.2g}"
    if out["verdict"] == "noise":
        dominated = max(out["noise_fraction_up"], out["noise_fraction_down"]) > 0.5     # noise > half the variance
        head = ("R^2 is low because the per-step data are noise-dominated: residuals are consistent with noise"
                if dominated else "residuals are consistent with noise")
        out["statement"] = f"{head} ({test}); {shares}"
    else:
        out["statement"] = (f"misfit: the binned mean residuals exceed the noise ({test}); the residual variance is "
                            f"{out['variance_ratio']:.3g} times the model-free noise variance; {shares}")
    return out


def _analyse(r: FitResult, s: Sweeps) -> FitResult:
    _sps_and_dw_min(r, s)
    _noise(r, s)
    return r


def to_response(r: FitResult, s: Sweeps):
    """The fitted response as a :class:`aimc_theory.response.Response` (q+/q- in units of its dw_min, on the
    bounds), ready for ``Device(resp, dw_min=...)``, ``symbolic.derive`` or ``simulation.simulate``.

    Parameters
    ----------
    r : FitResult
        One of :func:`fit`'s results (``fit(...)[0]`` is the best by BIC).
    s : Sweeps
        The data it was fitted to (:func:`read`).

    Returns
    -------
    tuple
        ``(Response, dw_min)``.

    Raises
    ------
    InputError
        When the fit is not a valid device response (no positive step, q+ or q- not positive on the range).
    """
    d = as_response(r, s)
    if d["note"]:
        raise InputError("data", d["note"])
    from .response import from_expressions
    return from_expressions(d["q_plus"], d["q_minus"], range=(s.lo, s.hi), name=f"fit:{r.family}"), d["dw_min"]


def as_response(r: FitResult, s: Sweeps) -> dict:
    """The fitted response in units of dw_min, as arguments every command accepts."""
    from .response import from_expressions
    ref, _ = _reference(r, s)
    dw_min = 0.5 * float(r.q_plus_w(np.array([ref]))[0] + r.q_minus_w(np.array([ref]))[0])
    if not dw_min > 0:
        raise InputError("data", f"the {r.family} fit has no positive step at {ref:g}; it is not a device response")
    qp = f"({r.q_plus_expr})/{_fmt(dw_min)}"
    qm = f"({r.q_minus_expr})/{_fmt(dw_min)}"
    rng = f"{_fmt(s.lo)},{_fmt(s.hi)}"
    try:
        resp = from_expressions(qp, qm, range=(s.lo, s.hi), name=f"fit:{r.family}")
        sps = list(resp.symmetric_points) if not resp.every_point_symmetric else []
        note = ""
    except InputError as exc:
        sps, note = [], f"not a valid response for the toolkit: {exc}"
    return {"family": r.family, "dw_min": dw_min, "q_plus": qp, "q_minus": qm, "range": [s.lo, s.hi],
            "symmetric_points": sps, "args": ["--q-plus", qp, "--q-minus", qm, f"--range={rng}"],
            "note": note}
