"""Plots of the toolkit's results for notebooks and scripts: one function per result, each drawing on a
given matplotlib Axes (or on a new ``matplotlib.figure.Figure``'s, without pyplot's global state) and
returning it; none calls ``plt.show()``. Save with ``ax.figure.savefig(path)``.

    >>> from aimc_theory import commands
    >>> ax = commands.simulate(response="softbounds", param={"sp": 0.2}, steps=2000).plot()   # doctest: +SKIP
    >>> ax.figure.savefig("simulate.png")                                                  # doctest: +SKIP

What each draws: :func:`simulate` the chain mean per step with the theory's fixed point and w*;
:func:`train` test accuracy per epoch per algorithm; :func:`fit` the measured steps and the fitted q+(w),
q-(w); :func:`calibrate` the recorded devices' weights per pulse with the SP and the theory's floor band
SP +- floor (arXiv 2602.21321 Thm 2.2); :func:`sweep` measured and theory against a varied parameter;
:func:`derive` F(w), G(w) and the implicit penalty R_c(w) (arXiv 2502.06309 eq. 4-7) on the range.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import InputError

PLOTTED = ("simulate", "train", "fit", "calibrate", "sweep", "derive")


def axes(ax=None):
    """``ax``, or the Axes of a new ``matplotlib.figure.Figure`` (no pyplot state) when None."""
    if ax is not None:
        return ax
    from matplotlib.figure import Figure
    return Figure(figsize=(6, 4), layout="constrained").subplots()


def plot(result, ax=None, **options):
    """Draw a command's result with the function of its command.

    Parameters
    ----------
    result : CommandResult
        Of simulate, train, fit, calibrate, sweep or derive.
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new Figure's Axes).
    **options
        The command's function's options (e.g. ``x=`` for :func:`sweep`, ``theory=`` for :func:`simulate`).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if result.command not in PLOTTED:
        raise InputError("command", f"must be one of {', '.join(PLOTTED)} to plot (got {result.command!r}); "
                                    "to_records() gives its table")
    return globals()[result.command](result, ax=ax, **options)


def _detail(result, command: str):
    if getattr(result, "command", command) != command:
        raise InputError("result", f"must be a {command} result (got {result.command!r})")
    detail = getattr(result, "detail", result)
    if detail is None:
        raise InputError("result", f"must carry the {command} run's detail (a result read back from JSON has none)")
    return detail


def _every(records: int, total: int) -> int:
    """Steps between records of a trajectory of ``records`` rows over ``total`` steps (the commands record
    every max(1, total // K) steps from step 0, so this is that spacing)."""
    return max(1, total // max(records - 1, 1))


def simulate(result, ax=None, theory: float | None = None):
    """The chain mean per step (``SimulationResult.trajectory``), with the theory's fixed point as a line
    when given (``theory``, or a number under ``theory``/``exact``/``fixed_point`` in the result's data) and
    the optimum w* dashed.

    Parameters
    ----------
    result : CommandResult or SimulationResult
        Of ``simulate``.
    ax : matplotlib.axes.Axes, optional
    theory : float, optional
        The fixed point to draw (e.g. ``commands.fixed_point(...).data["exact"]`` of the same parameters).

    Returns
    -------
    matplotlib.axes.Axes
    """
    res = _detail(result, "simulate")
    data, args = getattr(result, "data", {}), getattr(result, "arguments", {})
    traj = np.asarray(res.trajectory, float).reshape(len(res.trajectory), -1)
    steps = data.get("steps_done") or args.get("steps", traj.shape[0] - 1)      # an interrupted run: what ran
    x = np.arange(traj.shape[0]) * _every(traj.shape[0], steps)
    ax = axes(ax)
    for d in range(traj.shape[1]):
        ax.plot(x, traj[:, d], lw=1, label="chain mean" if traj.shape[1] == 1 else f"chain mean [{d}]")
    if theory is None:
        theory = next((data[k] for k in ("theory", "exact", "fixed_point") if _number(data.get(k))), None)
    if theory is not None:
        ax.axhline(theory, color="k", lw=1.2, label=f"theory fixed point {theory:.4g}")
    if _number(args.get("w_star")):
        ax.axhline(args["w_star"], color="0.5", ls="--", lw=1, label=f"w* = {args['w_star']:g}")
    ax.set_xlabel("step")
    ax.set_ylabel("mean over chains of w")
    ax.set_title(f"simulate: {args.get('algorithm', '')}".rstrip(": "))
    ax.legend(fontsize=8)
    return ax


def train(result, ax=None):
    """Test accuracy after each epoch, one line per run, one colour per algorithm.

    Parameters
    ----------
    result : CommandResult, TrainResult or list of TrainResult
        Of ``train`` (its ``detail`` is the list of TrainResult).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    runs = _detail(result, "train")
    runs = runs if isinstance(runs, (list, tuple)) else [runs]
    ax = axes(ax)
    colours: dict = {}
    for r in runs:
        new = r.algorithm not in colours
        c = colours.setdefault(r.algorithm, f"C{len(colours)}")
        ax.plot(np.arange(1, len(r.test_curve) + 1), r.test_curve, "o-", color=c, label=r.algorithm if new else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=8)
    return ax


def fit(result, ax=None, sweeps=None, family: str | None = None):
    """The measured steps (q+ up, q- down, weight units per pulse) and the fitted q+(w), q-(w) of one family.

    Parameters
    ----------
    result : CommandResult, FitResult or list of FitResult
        Of ``fit`` (its ``detail`` is the FitResult list, best first).
    ax : matplotlib.axes.Axes, optional
    sweeps : Sweeps, optional
        The data (:func:`aimc_theory.fit.read`); default: read again from the command's ``arguments``
        (without them, only the fitted curves are drawn).
    family : str, optional
        Which fit (default: the best, lowest BIC).

    Returns
    -------
    matplotlib.axes.Axes
    """
    fits = _detail(result, "fit")
    fits = fits if isinstance(fits, (list, tuple)) else [fits]
    chosen = [f for f in fits if family is None or f.family == family]
    if not chosen:
        raise InputError("family", f"must be one of the fitted families {', '.join(f.family for f in fits)} "
                                   f"(got {family!r})")
    # FitResult.plot reads the data again (the fit module's reader) and draws with fitted() below
    return chosen[0].plot(sweeps=sweeps, ax=ax, arguments=getattr(result, "arguments", None))


def fitted(r, sweeps=None, ax=None):
    """One fit's q+(w), q-(w) on the data's range, over the measured steps of ``sweeps`` when given.

    Parameters
    ----------
    r : FitResult
    sweeps : Sweeps, optional
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = axes(ax)
    if sweeps is not None:
        ax.plot(sweeps.w_up, sweeps.dw_up, ".", ms=3, alpha=0.4, color="C0", label="measured up steps")
        ax.plot(sweeps.w_down, -np.asarray(sweeps.dw_down), ".", ms=3, alpha=0.4, color="C1",
                label="measured down steps (|dw|)")
        lo, hi = sweeps.lo, sweeps.hi
    else:
        lo, hi = (r.fixed.get("w_min", -1.0), r.fixed.get("w_max", 1.0))
    w = np.linspace(lo, hi, 401)
    ax.plot(w, r.q_plus_w(w), "-", color="C0", lw=2, label=f"{r.family} q+(w)")
    ax.plot(w, r.q_minus_w(w), "-", color="C1", lw=2, label=f"{r.family} q-(w)")
    ax.set_xlabel("w")
    ax.set_ylabel("step per pulse")
    ax.legend(fontsize=8)
    return ax


def calibrate(result, ax=None):
    """The recorded devices' weights per zero-shifting pulse (the first 8 devices), the SP, and the theory's
    floor band SP +- floor (the RMS error the pulses leave, arXiv 2602.21321 Thm 2.2).

    Parameters
    ----------
    result : CommandResult
        Of ``calibrate``.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    res = _detail(result, "calibrate")
    data = getattr(result, "data", {})
    traj = np.asarray(res.trajectory, float).reshape(len(res.trajectory), -1)
    x = np.arange(traj.shape[0]) * _every(traj.shape[0], res.pulses)
    ax = axes(ax)
    for d in range(traj.shape[1]):
        ax.plot(x, traj[:, d], lw=0.8, alpha=0.8, label="devices (recorded)" if d == 0 else None)
    sp = data.get("symmetric_point")
    if not _number(sp):
        sp = float(np.nanmean(res.target))
    ax.axhline(sp, color="k", lw=1.2, label=f"SP {sp:.4g}")
    floor = (data.get("theory") or {}).get("floor")
    floor = floor.get("mean") if isinstance(floor, dict) else floor
    if _number(floor):
        ax.axhspan(sp - floor, sp + floor, color="0.6", alpha=0.3, label=f"theory floor ±{floor:.3g}")
    ax.set_xlabel("pulse")
    ax.set_ylabel("w")
    ax.legend(fontsize=8)
    return ax


def sweep(result, ax=None, x: str | None = None, y: str | None = None):
    """Measured (mean ± 3 SE) and theory against one varied parameter, averaged over replicates and the
    other varied parameters (as the study's curve figure).

    Parameters
    ----------
    result : CommandResult, StudyResult or list of dict
        Of ``sweep``, or the table's rows (:func:`aimc_theory.sweep.read_table`).
    ax : matplotlib.axes.Axes, optional
    x : str, optional
        The varied parameter's column (default: the first numeric one with more than one value).
    y : str, optional
        Another column to draw instead of measured and theory (e.g. ``out.exact``).

    Returns
    -------
    matplotlib.axes.Axes
    """
    rows = _study_rows(result)
    varied = _varied(rows)
    if x is None:
        if not varied:
            raise InputError("x", "the study varies no numeric parameter: nothing to draw against")
        x = varied[0]
    elif x not in (rows[0] if rows else {}):
        raise InputError("x", f"must be a column of the table, e.g. {', '.join(varied) or 'point'} (got {x!r})")
    ax = axes(ax)
    series = [(y, y, "o-")] if y is not None else [("theory", "theory", "-"), ("measured", "measured ± 3 SE", "o")]
    for col, label, style in series:
        means = _mean_by(rows, x, col)
        if not means:
            continue
        xs = sorted(means)
        if col == "measured":
            se = _mean_by(rows, x, "se")
            ax.errorbar(xs, [means[k] for k in xs], yerr=[3 * se.get(k, 0.0) for k in xs], fmt=style, capsize=3,
                        label=label)
        else:
            ax.plot(xs, [means[k] for k in xs], style, label=label)
    ax.set_xlabel(x)
    ax.set_ylabel(y or "result")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return ax


def _study_rows(result) -> list:
    if isinstance(result, list):
        return result
    if getattr(result, "command", "sweep") != "sweep":
        raise InputError("result", f"must be a sweep result (got {result.command!r})")
    detail = getattr(result, "detail", result)
    if detail is None or not hasattr(detail, "rows"):
        raise InputError("result", "must carry the study's rows; give aimc_theory.sweep.read_table(CSV) instead")
    return list(detail.rows)


_NOT_PARAMETERS = {"point", "status", "replicate", "seed"}


def _varied(rows) -> list[str]:
    """The parameter columns (between ``seed`` and ``theory``) with numeric values and more than one value."""
    if not rows:
        return []
    cols = list(rows[0])
    end = cols.index("theory") if "theory" in cols else len(cols)
    out = []
    for c in cols[:end]:
        vals = [r.get(c) for r in rows]
        if c not in _NOT_PARAMETERS and all(_number(v) for v in vals) and len(set(vals)) > 1:
            out.append(c)
    return out


def _mean_by(rows, x, col) -> dict:
    acc: dict = {}
    for r in rows:
        v = r.get(col)
        if r.get("status", "ok") == "ok" and _number(v) and _number(r.get(x)):
            acc.setdefault(r[x], []).append(v)
    return {k: float(np.mean(v)) for k, v in acc.items()}


def derive(result, ax=None, range: tuple | None = None):
    """F(w), G(w) and the implicit penalty R_c(w) (zero at the SP; arXiv 2502.06309 eq. 4-7, Thm 1) on
    the response's range (inside its ends, where R_c may diverge).

    Parameters
    ----------
    result : CommandResult or Derivation
        Of ``derive``.
    ax : matplotlib.axes.Axes, optional
    range : (lo, hi), optional
        Where to draw (default: the range; an unbounded end: 2 from the SP).

    Returns
    -------
    matplotlib.axes.Axes
    """
    d = _detail(result, "derive")
    lo, hi = range if range is not None else (d.response.lo, d.response.hi)
    sp = d.symmetric_point
    lo = lo if math.isfinite(lo) else sp - 2.0
    hi = hi if math.isfinite(hi) else sp + 2.0
    w = np.linspace(lo, hi, 403)[1:-1]
    ax = axes(ax)
    with np.errstate(all="ignore"):
        for fn, label in ((d.F_fn, "F(w)"), (d.G_fn, "G(w)"), (d.penalty_fn, "R_c(w)")):
            ax.plot(w, np.broadcast_to(np.asarray(fn(w), float), w.shape), label=label)
    ax.axvline(sp, color="0.5", ls=":", lw=1)
    ax.set_xlabel("w")
    ax.set_title(d.response.describe(), fontsize=9)
    ax.legend(fontsize=8)
    return ax


def _number(v) -> bool:
    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and math.isfinite(v)
