"""Fit q+(w), q-(w) to measured pulse sweeps (conductance or weight vs pulse number).

Input: a CSV with a ``direction`` column (up/down, also +/-, 1/-1), a ``pulse`` column (the pulse index,
increasing within a sweep) and the state after each pulse in ``w`` (or ``weight``, ``g``,
``conductance``); an optional ``cycle`` column separates repeated sweeps. A sweep is a run of rows with
the same direction (and cycle); its per-pulse steps dw_k = w_{k+1} - w_k are the data: an UP step
estimates dw_min q+(w_k), a DOWN step -dw_min q-(w_k). Steps that end at the data's extreme value are
left out: the device saturated there and the step was cut short by its bound.

Families, fitted by least squares on the steps (each direction its own amplitude, the shape shared
where the family says so), in weight units per pulse:

* ``softbounds``: q+ = a+ (w_max - w)/R, q- = a- (w - w_min)/R, the bounds the data's extremes (2 parameters)
* ``linear``: q+ = a+ - b+ w, q- = a- + b- w (linear step, free slopes; 4)
* ``power``: q+ = a+ ((w_max - w)/R)^gamma, q- = a- ((w - w_min)/R)^gamma (PowStep; 3)
* ``exponential``: q+ = a+ (1 + c+ e^{-k (w - w_mid)}), q- = a- (1 + c- e^{k (w - w_mid)}) (ExpStep; 5)
* ``piecewise``: piecewise linear in w on 6 knots across the range, per direction (12)

Each gets the RMS residual, R^2 per direction and the BIC (n ln(RSS/n) + p ln n over all steps); the
lowest BIC is the best. The result is a response in units of ``dw_min`` (the mean step magnitude at the
fitted SP, or at the middle of the range when there is none) that every command takes as
``--q-plus ... --q-minus ... --range=LO,HI`` (and ``--dw-min`` for pulses).
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError
from .response import FAMILY

_STATE = ("w", "weight", "g", "conductance")
_UP, _DOWN = {"up", "+", "1", "+1", "u"}, {"down", "-", "-1", "d"}
MIN_STEPS = 5          # per direction
KNOTS = 6


@dataclass
class Sweeps:
    """Per-pulse steps: the state before the pulse, the step, and the CSV line it came from."""

    w_up: np.ndarray
    dw_up: np.ndarray
    w_down: np.ndarray
    dw_down: np.ndarray
    lo: float
    hi: float
    source: str = ""


MAX_DATA_BYTES = 64 << 20       # a sweep file larger than this is refused (read stops at the limit)


def read(path) -> Sweeps:
    """Read and validate a sweep file; errors name the problem and the line."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:            # at most MAX_DATA_BYTES: /dev/zero or a huge file stops there
            raw = fh.read(MAX_DATA_BYTES + 1)
        if len(raw) > MAX_DATA_BYTES:
            raise InputError("data", f"{path} holds more than {MAX_DATA_BYTES / 2**20:g} MiB (read stopped there); a "
                                     "sweep file is a CSV of pulses, a few MB at most")
        text = raw.decode()
    except FileNotFoundError:
        raise InputError("data", f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError("data", f"cannot read {path}: {exc}") from None
    rows = list(csv.reader(line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")))
    if not rows:
        raise InputError("data", f"{path} is empty")
    head = [h.strip().lower() for h in rows[0]]
    state = next((c for c in _STATE if c in head), None)
    missing = [c for c in ("direction", "pulse") if c not in head] + ([] if state else ["w (or g, conductance)"])
    if missing:
        raise InputError("data", f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(head) or 'none'} "
                                   "(needed: direction, pulse, w)")
    idx = {c: head.index(c) for c in ("direction", "pulse")}
    idx["w"] = head.index(state)
    has_cycle = "cycle" in head
    data = []
    for line, r in enumerate(rows[1:], start=2):
        if len(r) < len(head):
            raise InputError("data", f"line {line}: {len(r)} fields, the header has {len(head)}")
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
    steps = {1: ([], [], []), -1: ([], [], [])}
    prev = None
    for line, d, pulse, w, cyc in data:
        if prev is not None and prev[1] == d and prev[4] == cyc:
            if pulse <= prev[2]:
                raise InputError("data", f"line {line}: pulse index {pulse:g} does not increase within the sweep "
                                           f"(previous {prev[2]:g} on line {prev[0]})")
            n = pulse - prev[2]
            steps[d][0].append(prev[3])
            steps[d][1].append((w - prev[3]) / n)          # a gap of n pulses: the mean step over it
            steps[d][2].append(w)
        prev = (line, d, pulse, w, cyc)
    for d, name in ((1, "up"), (-1, "down")):
        if len(steps[d][0]) < MIN_STEPS:
            raise InputError("data", f"{path}: {len(steps[d][0])} {name} steps; at least {MIN_STEPS} per direction "
                                       "are needed (an up sweep and a down sweep of several pulses)")
    w_all = np.array([x[3] for x in data])
    lo, hi = float(w_all.min()), float(w_all.max())
    eps = 1e-9 * max(1.0, hi - lo)
    for d, name in ((1, "up"), (-1, "down")):
        if steps[d][1] and np.all(np.asarray(steps[d][1]) == 0):
            raise InputError("data", f"{path}: the {name} sweep never moves (every step is 0)")
    for d, bound in ((1, hi), (-1, lo)):           # steps that end at the extreme were cut short by the bound
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
    return Sweeps(wu, su, wd, sd, lo, hi, str(path))


@dataclass
class FitResult:
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

    @property
    def rms(self) -> float:
        return math.sqrt(self.rss / self.n)


def _r2(y, yhat):
    ss = float(np.sum((y - np.mean(y)) ** 2))
    return 1.0 - float(np.sum((y - yhat) ** 2)) / ss if ss > 0 else float("nan")


def _fmt(x: float) -> str:
    return f"{x:.8g}"


def _finish(family, params, s: Sweeps, qp, qm, qp_expr, qm_expr, fitted: int | None = None) -> FitResult:
    yu, yd = s.dw_up, -s.dw_down
    fu, fd = qp(s.w_up), qm(s.w_down)
    rss = float(np.sum((yu - fu) ** 2) + np.sum((yd - fd) ** 2))
    n = yu.size + yd.size
    p = len(params) if fitted is None else fitted           # fixed quantities (the data's bounds) do not count
    bic = n * math.log(max(rss, 1e-300) / n) + p * math.log(n)
    return FitResult(family, params, rss, n, p, _r2(yu, fu), _r2(yd, fd), bic, qp, qm, qp_expr, qm_expr)


def _ls_se(sol, names, n) -> dict:
    """Standard errors from the Jacobian at the optimum: cov = s^2 (J^T J)^-1, s^2 = RSS/(n - p)."""
    J = sol.jac
    p = J.shape[1]
    s2 = 2 * sol.cost / max(n - p, 1)
    try:
        cov = s2 * np.linalg.pinv(J.T @ J)
    except np.linalg.LinAlgError:
        return {}
    return {k: float(math.sqrt(max(cov[i, i], 0.0))) for i, k in enumerate(names)}


def _fit_softbounds(s: Sweeps, name: str) -> FitResult:
    R = s.hi - s.lo
    xu, xd = (s.hi - s.w_up) / R, (s.w_down - s.lo) / R
    a_p = float(np.dot(xu, s.dw_up) / np.dot(xu, xu))
    a_m = float(np.dot(xd, -s.dw_down) / np.dot(xd, xd))
    se = {"a_plus": math.sqrt(np.sum((s.dw_up - a_p * xu) ** 2) / (xu.size - 1) / np.dot(xu, xu)),
          "a_minus": math.sqrt(np.sum((-s.dw_down - a_m * xd) ** 2) / (xd.size - 1) / np.dot(xd, xd))}
    return _with_se(se, _finish(name, {"a_plus": a_p, "a_minus": a_m, "w_min": s.lo, "w_max": s.hi}, s,
                   lambda w: a_p * (s.hi - w) / R, lambda w: a_m * (w - s.lo) / R,
                   f"{_fmt(a_p)}*({_fmt(s.hi)} - w)/{_fmt(R)}", f"{_fmt(a_m)}*(w - {_fmt(s.lo)})/{_fmt(R)}", 2))


def _with_se(se: dict, r: FitResult) -> FitResult:
    r.se = {k: float(v) for k, v in se.items()}
    return r


def _fit_linear(s: Sweeps, name: str) -> FitResult:
    cu, cov_u = np.polyfit(s.w_up, s.dw_up, 1, cov=True)
    cd, cov_d = np.polyfit(s.w_down, -s.dw_down, 1, cov=True)
    se = {"a_plus": math.sqrt(cov_u[1, 1]), "b_plus": math.sqrt(cov_u[0, 0]), "a_minus": math.sqrt(cov_d[1, 1]),
          "b_minus": math.sqrt(cov_d[0, 0])}
    return _with_se(se, _finish(name, {"a_plus": float(cu[1]), "b_plus": float(-cu[0]), "a_minus": float(cd[1]),
                              "b_minus": float(cd[0])}, s,
                   lambda w: cu[1] + cu[0] * w, lambda w: cd[1] + cd[0] * w, _affine(cu[1], cu[0]), _affine(cd[1], cd[0])))


def _affine(a: float, b: float) -> str:
    return f"{_fmt(a)} {'-' if b < 0 else '+'} {_fmt(abs(b))}*w"


def _fit_power(s: Sweeps, name: str) -> FitResult:
    from scipy.optimize import least_squares          # 0.3 s to import: only where a fit needs it
    R = s.hi - s.lo
    xu = np.clip((s.hi - s.w_up) / R, 0, None)
    xd = np.clip((s.w_down - s.lo) / R, 0, None)

    def res(p):
        a_p, a_m, g = p
        return np.concatenate([a_p * xu ** g - s.dw_up, a_m * xd ** g + s.dw_down])

    a0 = float(np.mean(np.abs(s.dw_up)) * 2), float(np.mean(np.abs(s.dw_down)) * 2)
    sol = least_squares(res, [a0[0], a0[1], 1.0], bounds=([0, 0, 0.05], [np.inf, np.inf, 20]))
    a_p, a_m, g = (float(v) for v in sol.x)
    return _with_se(_ls_se(sol, ["a_plus", "a_minus", "gamma"], s.w_up.size + s.w_down.size), _finish(name, {"a_plus": a_p, "a_minus": a_m, "gamma": g, "w_min": s.lo, "w_max": s.hi}, s,
                   lambda w: a_p * np.clip((s.hi - w) / R, 0, None) ** g,
                   lambda w: a_m * np.clip((w - s.lo) / R, 0, None) ** g,
                   f"{_fmt(a_p)}*(({_fmt(s.hi)} - w)/{_fmt(R)})**{_fmt(g)}",
                   f"{_fmt(a_m)}*((w - {_fmt(s.lo)})/{_fmt(R)})**{_fmt(g)}", 3))


def _fit_exponential(s: Sweeps, name: str) -> FitResult:
    from scipy.optimize import least_squares
    mid, R = 0.5 * (s.lo + s.hi), s.hi - s.lo

    def model(p, w, sign):
        a, c, k = p
        return a * (1 + c * np.exp(-sign * k * (w - mid) / R))

    def res(p):
        return np.concatenate([model((p[0], p[1], p[4]), s.w_up, 1) - s.dw_up,
                               model((p[2], p[3], p[4]), s.w_down, -1) + s.dw_down])

    best = None
    for k0 in (1.0, 3.0, 8.0):
        a0u, a0d = float(np.min(s.dw_up)), float(np.min(-s.dw_down))
        sol = least_squares(res, [max(a0u, 1e-12), 0.5, max(a0d, 1e-12), 0.5, k0],
                            bounds=([0, 0, 0, 0, 0.01], [np.inf, 1e6, np.inf, 1e6, 50]))
        if best is None or sol.cost < best.cost:
            best = sol
    a_p, c_p, a_m, c_m, k = (float(v) for v in best.x)
    kk = k / R
    se = _ls_se(best, ["a_plus", "c_plus", "a_minus", "c_minus", "k"], s.w_up.size + s.w_down.size)
    if "k" in se:
        se["k"] /= R
    return _with_se(se, _finish(name, {"a_plus": a_p, "c_plus": c_p, "a_minus": a_m, "c_minus": c_m, "k": kk, "w_mid": mid},
                   s, lambda w: a_p * (1 + c_p * np.exp(-kk * (w - mid))),
                   lambda w: a_m * (1 + c_m * np.exp(kk * (w - mid))),
                   f"{_fmt(a_p)}*(1 + {_fmt(c_p)}*exp(-{_fmt(kk)}*(w - {_fmt(mid)})))",
                   f"{_fmt(a_m)}*(1 + {_fmt(c_m)}*exp({_fmt(kk)}*(w - {_fmt(mid)})))", 5))


def _hat(w, knots):
    B = np.zeros((np.size(w), knots.size))
    for j in range(knots.size):
        e = np.zeros(knots.size)
        e[j] = 1.0
        B[:, j] = np.interp(w, knots, e)
    return B


def _fit_piecewise(s: Sweeps, name: str) -> FitResult:
    knots = np.linspace(s.lo, s.hi, KNOTS)
    vu = np.linalg.lstsq(_hat(s.w_up, knots), s.dw_up, rcond=None)[0]
    vd = np.linalg.lstsq(_hat(s.w_down, knots), -s.dw_down, rcond=None)[0]
    params = {f"up_{i}": float(v) for i, v in enumerate(vu)} | {f"down_{i}": float(v) for i, v in enumerate(vd)}
    return _finish(name, params, s, lambda w: np.interp(w, knots, vu), lambda w: np.interp(w, knots, vd),
                   _pl_expr(knots, vu), _pl_expr(knots, vd))


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
    """Every family's fit, best (lowest BIC) first.

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
        out.append(_FITTERS[f](s, f))
    return sorted(out, key=lambda r: r.bic)


def to_response(r: FitResult, s: Sweeps):
    """The fitted response as a :class:`aimc_theory.response.Response` (q+/q- in units of its dw_min, on the
    observed range), ready for ``Device(resp, dw_min=...)``, ``symbolic.derive`` or ``simulation.simulate``.

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
    grid = np.linspace(s.lo, s.hi, 2001)
    g = r.q_minus_w(grid) - r.q_plus_w(grid)
    cross = np.flatnonzero(np.sign(g[:-1]) * np.sign(g[1:]) < 0)
    if cross.size:
        i = cross[0]
        ref = grid[i] - g[i] * (grid[i + 1] - grid[i]) / (g[i + 1] - g[i])
    else:
        ref = 0.5 * (s.lo + s.hi)
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
