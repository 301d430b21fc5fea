"""The one result type of every command, its strict-JSON form with provenance, and its table.

``CommandResult.to_records()`` is the command's result as a table (a list of dicts with the same keys, no
pandas needed); ``to_frame()`` the same table as a pandas DataFrame (the optional extra ``pandas``);
``plot(ax=None)`` draws it (:mod:`aimc_theory.plots`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class CommandResult:
    """What a command of :mod:`aimc_theory.commands` returns.

    Attributes
    ----------
    command : str
        The command (``simulate``, ...).
    data : dict
        The result, with the keys ``aimc-theory COMMAND --json`` prints (before strict-JSON cleaning).
    arguments : dict
        Every parameter by name, as it ran (defaults and what the command filled in, e.g. a preset's
        pulse size, included).
    update_model : str or None
        The device update model that made the numbers ("expected update", "pulse level", "per-sample
        pulse trains", a reproduce model), None where nothing is simulated.
    detail : object
        The typed result underneath: ``Derivation`` (derive), the fixed-point result (fixed-point),
        ``SimulationResult`` (simulate), the zero-shift result (calibrate), ``Fig2Result`` (reproduce), the
        list of ``TrainResult`` (train), the claim rows (check), the preset rows (presets), the
        ``FitResult`` list (fit), the study result (sweep).
    ok : bool
        False when ``check`` found a verdict that is not the expected one.
    """

    command: str
    data: dict
    arguments: dict = field(default_factory=dict)
    update_model: str | None = None
    detail: Any = None
    ok: bool = True

    def as_dict(self) -> dict:
        """The result's keys and values (NumPy numbers and NaN as they are)."""
        return self.data

    def to_json(self) -> dict:
        """Strict JSON (NaN and infinities become null and ``null_reasons`` says which), with ``provenance``."""
        return jsonable(self.data, self.provenance())

    def to_records(self) -> list[dict]:
        """The result as a table: a list of rows (dicts), every row with the same keys in the same order.

        Per command: ``check`` one row per claim; ``sweep`` the study table (the CSV's rows); ``simulate``,
        ``fixed-point``, ``derive``, ``reproduce`` one row (``data`` flattened); ``train`` one row per run
        and epoch (``algorithm``, ``seed``, ``epoch``, ``train_loss``, ``test_accuracy``, ``seconds``);
        ``fit`` one row per family (``rank`` 1 = lowest BIC); ``calibrate`` one row per numeric quantity
        with its ``theory`` and ``simulated`` value (None where one side has none); ``cost`` one row per
        method; ``presets`` one row per preset. Nested keys are joined by dots (``theory.floor``), list
        items indexed (``cycle[0]``); see :func:`flatten`.

        Returns
        -------
        list of dict
        """
        return records(self)

    def to_frame(self):
        """:meth:`to_records` as a pandas DataFrame (the same columns).

        Returns
        -------
        pandas.DataFrame

        Raises
        ------
        ImportError
            Without pandas, naming the extra that installs it (``pip install "aimc-theory[pandas]"``).
        """
        return frame(self.to_records())

    def plot(self, ax=None, **options):
        """Draw the result on ``ax`` (a new ``matplotlib.figure.Figure``'s Axes when None): see
        :func:`aimc_theory.plots.plot` for what each command draws and its ``options``.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
        **options
            Passed to the command's function of :mod:`aimc_theory.plots`.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from .. import plots
        return plots.plot(self, ax=ax, **options)

    def provenance(self) -> dict:
        """What made the result: package version, command, every argument (seed included), update model."""
        from .. import __version__
        return {"package": "aimc-theory", "version": __version__, "command": self.command,
                "seed": self.arguments.get("seed"), "update_model": self.update_model,
                "arguments": dict(self.arguments)}


def jsonable(obj, provenance: dict | None = None) -> dict:
    """Strict-JSON form of a result: NaN and infinities become null, and ``null_reasons`` (at the top
    level) says which key was not finite, e.g. {"se": "not a finite number (nan)"} for the SE of a single
    chain; ``provenance`` is added when given."""
    reasons = {}

    def clean(x, path):
        if isinstance(x, (np.generic, np.ndarray)):
            x = x.tolist()
        if isinstance(x, float) and not np.isfinite(x):
            reasons[path or "value"] = f"not a finite number ({x})"
            return None
        if isinstance(x, dict):
            return {k: clean(v, f"{path}.{k}" if path else str(k)) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v, f"{path}[{i}]") for i, v in enumerate(x)]
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        return str(x)

    out = clean(obj, "")
    if reasons and isinstance(out, dict):
        out["null_reasons"] = reasons
    if isinstance(out, dict) and provenance is not None:
        out["provenance"] = clean(provenance, "provenance")
    return out


# -- tables -------------------------------------------------------------------------------------

PANDAS_EXTRA = 'pip install "aimc-theory[pandas]"'
MAX_LIST_COLUMNS = 16       # a longer list stays one cell (a trajectory is not 10,000 columns)


def flatten(x, prefix: str = "") -> dict:
    """One row of a nested result: dict keys joined by dots (``theory.floor``), the items of a list of at
    most :data:`MAX_LIST_COLUMNS` indexed (``cycle[0]``, ``symmetric_points[0].w``), a longer list kept whole
    as one value; NumPy numbers and arrays become Python numbers and lists.

    Parameters
    ----------
    x : object
        A result's ``data`` or part of it.
    prefix : str
        The column name of ``x`` itself.

    Returns
    -------
    dict
    """
    if isinstance(x, np.ndarray):
        x = x.tolist()
    elif isinstance(x, np.generic):
        x = x.item()
    out = {}
    if isinstance(x, dict):
        for k, v in x.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        if not x and prefix:
            out[prefix] = {}
    elif isinstance(x, (list, tuple)) and len(x) <= MAX_LIST_COLUMNS and prefix:
        for i, v in enumerate(x):
            out.update(flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix or "value"] = list(x) if isinstance(x, tuple) else x
    return out


def same_columns(rows) -> list[dict]:
    """The rows with one set of columns (the union, in order of first appearance; None where a row has none)."""
    rows = list(rows)
    cols = list(dict.fromkeys(k for r in rows for k in r))
    return [{k: r.get(k) for k in cols} for r in rows]


def records(obj) -> list[dict]:
    """Any result of the toolkit as a table (list of dicts with the same keys).

    Parameters
    ----------
    obj : CommandResult, StudyResult, FitResult, TrainResult, a list of FitResult or TrainResult, or a list
        of dicts
        A command's result (:meth:`CommandResult.to_records`); a study's rows (``sweep.run_study``); one
        row per fitted family (``fit.fit``); one row per run and epoch (``network.train``); rows as given.

    Returns
    -------
    list of dict
    """
    if isinstance(obj, CommandResult):
        return same_columns(_command_rows(obj))
    items = obj if isinstance(obj, (list, tuple)) else [obj]
    if hasattr(obj, "rows") and hasattr(obj, "table"):                 # a StudyResult
        return same_columns(obj.rows)
    if all(hasattr(r, "bic") and hasattr(r, "family") for r in items):       # FitResults
        return same_columns({"rank": i + 1, **flatten(fit_row(r))} for i, r in enumerate(items))
    if all(hasattr(r, "test_curve") for r in items):                   # TrainResults
        return same_columns(_epoch_rows([r.as_dict() for r in items]))
    if all(isinstance(r, dict) for r in items):
        return same_columns(flatten(r) for r in items)
    raise TypeError(f"no table for {type(obj).__name__}: give a CommandResult, a StudyResult, FitResults, "
                    "TrainResults or dicts")


def frame(rows):
    """Rows (:func:`records`, or any result it takes) as a pandas DataFrame with the same columns.

    Parameters
    ----------
    rows : list of dict, or a result :func:`records` takes

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ImportError
        Without pandas: ``pip install "aimc-theory[pandas]"``.
    """
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("to_frame needs pandas, an optional extra of aimc-theory: " + PANDAS_EXTRA +
                          " (to_records() gives the same table as a list of dicts without it)") from None
    if not (isinstance(rows, list) and all(isinstance(r, dict) for r in rows)):
        rows = records(rows)
    rows = same_columns(rows)
    return pd.DataFrame.from_records(rows, columns=list(rows[0]) if rows else None)


def fit_row(r) -> dict:
    """One fitted family's row, with the keys of ``aimc-theory fit --json``'s ``families``."""
    return {"family": r.family, "parameters": r.params, "standard_errors": r.se, "fixed": r.fixed,
            "fixed_note": r.fixed_note, "n_params": r.n_params, "rms": r.rms, "r2_up": r.r2_up,
            "r2_down": r.r2_down, "bic": r.bic, "dw_min": r.dw_min, "dw_min_se": r.dw_min_se,
            "symmetric_points": r.symmetric_points, "noise": r.noise, "goodness_of_fit": r.goodness}


def _epoch_rows(runs: list[dict]) -> list[dict]:
    """One row per (run, epoch) of ``train``'s runs."""
    out = []
    for r in runs:
        loss, acc, sec = r["train_loss"], r["test_accuracy_per_epoch"], r["seconds_per_epoch"]
        for e in range(len(acc)):
            out.append({"algorithm": r["algorithm"], "seed": r["seed"], "epoch": e + 1,
                        "train_loss": loss[e] if e < len(loss) else None, "test_accuracy": acc[e],
                        "seconds": sec[e] if e < len(sec) else None})
    return out


def _command_rows(r: CommandResult) -> list[dict]:
    d = r.data
    if r.command == "check":
        return [flatten(c) for c in d["claims"]]
    if r.command == "sweep":
        if r.detail is None or not hasattr(r.detail, "rows"):
            raise TypeError("a sweep result without its StudyResult has no rows: aimc_theory.sweep.read_table(CSV) "
                            "reads the table")
        return list(r.detail.rows)
    if r.command == "train":
        return _epoch_rows(d["runs"])
    if r.command == "fit":
        return [{"rank": i + 1, **flatten(f)} for i, f in enumerate(d["families"])]
    if r.command == "calibrate":      # numbers only (the basis texts are in data): two numeric columns
        theory, simulated = ({k: v for k, v in flatten(d.get(side) or {}).items() if not isinstance(v, str)}
                             for side in ("theory", "simulated"))
        return [{"quantity": k, "theory": theory.get(k), "simulated": simulated.get(k)}
                for k in dict.fromkeys([*theory, *simulated])]
    if r.command == "cost":
        return [{"method": k, **flatten(m)} for k, m in d["methods"].items()]
    if r.command == "presets":
        return [flatten(p) for p in d["presets"]]
    return [flatten(d)]
