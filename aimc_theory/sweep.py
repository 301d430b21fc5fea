"""Parameter studies: a grid or random design over any parameter of a command, run on an executor
(in-process, a local process pool, or a Dask cluster), collected in one tidy table, resumable.

A study file (TOML)::

    [study]
    name = "bias_vs_noise"        # output names (default: the file's stem)
    command = "simulate"          # derive, fixed-point, simulate, calibrate, reproduce or train
    design = "grid"               # "grid" (every combination) or "random" (``samples`` draws)
    samples = 20                  # random design only
    seed = 0                      # the study's seed; each point's seed derives from it and the point
    replicates = 2                # independent seeds per point (default 1)

    [fixed]                       # parameters every point shares (names as in `aimc-theory COMMAND --help`)
    response = "softbounds"
    steps = 4000

    [vary]                        # grid: a list per parameter; random: {low, high, log} or {choices}
    noise = [0.0, 0.1, 0.2]
    "p.tau" = [0.5, 1.0]          # a family parameter (-p tau=...)

Every point is a :class:`aimc_theory.run.Run` (validated before anything runs, so an unknown parameter
or command is an error naming it). Its seed is derived from the study seed, the command, every
parameter value and the replicate index, never from the worker or the order, so every executor gives
the same numbers. Each finished point is written to ``<out>/<name>_points/<id>.json`` atomically and
skipped when the study runs again (resume after an interruption); the table ``<out>/<name>.csv`` (and
``.parquet`` when pyarrow is installed) is written whole at the end.

Columns: ``point``, ``status`` ("ok" or "error"), ``replicate``, ``seed``, the parameters, ``theory``,
``measured``, ``se``, ``z`` (|measured - theory|/se), ``bias``, the comparison of theory and measurement
where a command gives both with an SE (:func:`aimc_theory.comparison.compare`, 3 SE without a model allowance:
``tolerance``, ``allowance``, ``basis``, ``mde``, ``verdict``), ``seconds`` (wall time of the point),
``error``, ``argv`` (the same run from a shell) and every scalar of the command's JSON as ``out.KEY``.
What ``theory``/``measured``/``bias`` are per command: simulate -- the fixed-point theory of the same
parameters (``fixed-point`` on them), the simulated stationary mean and its SE, bias = mean - w*;
fixed-point -- theory ``exact``, bias = exact - w*; calibrate -- the theory's and the simulation's mean
final error w - SP (bias = the simulated one); train -- measured = test accuracy; derive and
reproduce -- only the ``out.*`` columns.
"""
from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import commands, run as runs
from .commands.inputs import Inputs, out_dir
from .commands.results import CommandResult
from .errors import InputError
from .files import atomic_write_text

SWEEPABLE = ("derive", "fixed-point", "simulate", "calibrate", "reproduce", "train")
_STUDY_KEYS = {"name", "command", "design", "samples", "seed", "replicates"}
MAX_POINTS = 100_000


@dataclass(frozen=True)
class Study:
    """A parameter study (see the module docstring for the file format)."""

    name: str
    command: str
    fixed: dict = field(default_factory=dict)
    vary: dict = field(default_factory=dict)
    design: str = "grid"
    samples: int = 0
    seed: int = 0
    replicates: int = 1

    def __post_init__(self):
        if self.command not in SWEEPABLE:
            raise InputError("study.command", f"must be one of {', '.join(SWEEPABLE)} (got {self.command!r})")
        if self.design not in ("grid", "random"):
            raise InputError("study.design", f"must be 'grid' or 'random' (got {self.design!r})")
        for key, value in (("study.replicates", self.replicates), ("study.seed", self.seed)):
            if not isinstance(value, int) or isinstance(value, bool) or value < (1 if "rep" in key else 0):
                raise InputError(key, f"must be an integer >= {1 if 'rep' in key else 0} (got {value!r})")
        if self.design == "random" and (not isinstance(self.samples, int) or self.samples < 1):
            raise InputError("study.samples", f"a random design needs samples >= 1 (got {self.samples!r})")
        if not self.name or not all(c.isalnum() or c in "-_." for c in self.name):
            raise InputError("study.name", f"use letters, digits, '-', '_' and '.' only (got {self.name!r})")
        both = set(map(runs.normalize, self.fixed)) & set(map(runs.normalize, self.vary))
        if both:
            raise InputError(sorted(both)[0], "is both fixed and varied; give it in one table only")
        for key, spec in self.vary.items():
            _check_axis(key, spec, self.design)


def _check_axis(key: str, spec, design: str) -> None:
    if design == "grid":
        if not isinstance(spec, list) or not spec:
            raise InputError(f"vary.{key}", f"a grid axis is a non-empty list of values (got {spec!r})")
        return
    if isinstance(spec, list):
        spec = {"choices": spec}
    if not isinstance(spec, dict):
        raise InputError(f"vary.{key}", "a random axis is {low = .., high = .., log = false} or {choices = [..]}")
    if "choices" in spec:
        if set(spec) != {"choices"} or not isinstance(spec["choices"], list) or not spec["choices"]:
            raise InputError(f"vary.{key}", "choices must be a non-empty list (and alone)")
        return
    unknown = set(spec) - {"low", "high", "log", "integer"}
    if unknown or not {"low", "high"} <= set(spec):
        raise InputError(f"vary.{key}", "a random axis needs low and high (optional: log, integer)")
    lo, hi = spec["low"], spec["high"]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (lo, hi)) \
            or not lo < hi:
        raise InputError(f"vary.{key}", f"needs finite numbers low < high (got {lo!r}, {hi!r})")
    if spec.get("log") and lo <= 0:
        raise InputError(f"vary.{key}", f"a log axis needs low > 0 (got {lo!r})")


def load(path) -> Study:
    """Read a study file (TOML); errors name the key."""
    try:
        import tomllib
    except ModuleNotFoundError:          # Python 3.10
        import tomli as tomllib          # type: ignore[no-redef]
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InputError("STUDY", f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError("STUDY", f"cannot read {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError("STUDY", f"{path} is not valid TOML: {exc}") from None
    unknown = set(data) - {"study", "fixed", "vary"}
    if unknown:
        raise InputError(sorted(unknown)[0], "unknown table; a study file has [study], [fixed] and [vary]")
    head = data.get("study", {})
    if not isinstance(head, dict) or "command" not in head:
        raise InputError("study.command", "the [study] table must name the command, e.g. command = \"simulate\"")
    bad = set(head) - _STUDY_KEYS
    if bad:
        raise InputError(f"study.{sorted(bad)[0]}", f"unknown key; valid: {', '.join(sorted(_STUDY_KEYS))}")
    for table in ("fixed", "vary"):
        if not isinstance(data.get(table, {}), dict):
            raise InputError(table, "must be a table of parameter = value")
    return Study(name=str(head.get("name", path.stem)), command=head["command"], fixed=dict(data.get("fixed", {})),
                 vary=dict(data.get("vary", {})), design=head.get("design", "grid"),
                 samples=head.get("samples", 0), seed=head.get("seed", 0), replicates=head.get("replicates", 1))


# -- points --------------------------------------------------------------------------------

def _canonical(x) -> str:
    return json.dumps(x, sort_keys=True, separators=(",", ":"), default=str)


def points(study: Study) -> list[dict]:
    """Every point of the study: ``{"id", "replicate", "values" (the varied values), "run" (Run)}``,
    each validated (an unknown parameter or a bad value fails here, before anything runs)."""
    table = runs.parameters(study.command)
    if study.design == "grid":
        keys = list(study.vary)
        n = math.prod(len(v) for v in study.vary.values()) * study.replicates
        if n > MAX_POINTS:
            raise InputError("vary", f"the grid has {n:,} points (with replicates); at most {MAX_POINTS:,}")
        combos = [dict(zip(keys, vals)) for vals in itertools.product(*study.vary.values())]
    else:
        if study.samples * study.replicates > MAX_POINTS:
            raise InputError("study.samples", f"at most {MAX_POINTS:,} points (got {study.samples * study.replicates:,})")
        rng = np.random.default_rng([study.seed, 0x5eed])
        combos = [{k: _draw(spec, rng) for k, spec in study.vary.items()} for _ in range(study.samples)]
    seed_given = any(runs.normalize(k) == "seed" for k in (*study.fixed, *study.vary))
    out, seen = [], set()
    for values in combos:
        for rep in range(study.replicates):
            params = dict(study.fixed) | values
            base = runs.describe(study.command, params)
            ident = hashlib.blake2b(_canonical({"command": study.command, "params": base.params, "replicate": rep,
                                                "study_seed": study.seed}).encode(), digest_size=8).hexdigest()
            extra = {}
            if "seed" in table:
                extra["seed"] = (base.params["seed"] + rep) if seed_given else int(ident[:8], 16) % 2**31
            if "out" in table and not any(runs.normalize(k) == "out" for k in study.fixed):
                extra["out"] = None        # filled in per point (its own directory)
            r = runs.describe(study.command, base.params | {k: v for k, v in extra.items() if v is not None})
            if ident in seen:              # a grid that lists a value twice: one point
                continue
            seen.add(ident)
            out.append({"id": ident, "replicate": rep, "values": values, "run": r,
                        "own_out": "out" in extra})
    return out


def _draw(spec, rng):
    if isinstance(spec, list):
        spec = {"choices": spec}
    if "choices" in spec:
        return spec["choices"][int(rng.integers(len(spec["choices"])))]
    lo, hi = float(spec["low"]), float(spec["high"])
    v = math.exp(rng.uniform(math.log(lo), math.log(hi))) if spec.get("log") else rng.uniform(lo, hi)
    return int(round(v)) if spec.get("integer") else float(v)


# -- one point -------------------------------------------------------------------------------

def run_point(task: dict) -> dict:
    """Execute one point (in a worker): the row of the table. Bad input for this point is a row with
    ``status = "error"``, not a failed study."""
    from .runtime import retain_freed_memory
    retain_freed_memory()
    r: runs.Run = task["run"]
    if task.get("out_dir"):
        r = runs.Run(r.command, dict(r.params) | {"out": task["out_dir"]})
    t0 = time.perf_counter()
    row = {"point": task["id"], "status": "ok", "replicate": task["replicate"]}
    if "seed" in r.params:
        row["seed"] = r.params["seed"]
    theory = measured = se = bias = None
    out, error = {}, ""
    try:
        out = runs.execute(r)
        theory, measured, se, bias, note = summarize(r, out)
        if note:
            error = note
    except InputError as exc:
        row["status"], error = "error", str(exc)
    row.update({"theory": theory, "measured": measured, "se": se,
                "z": _z(theory, measured, se),
                "bias": bias, **_comparison(theory, measured, se), "seconds": time.perf_counter() - t0, "error": error,
                "argv": " ".join(_quote(a) for a in ["aimc-theory", *r.argv()])})
    row["out"] = {k: v for k, v in _flatten(out).items() if not k.startswith(("provenance", "null_reasons"))}
    return row


def _z(theory, measured, se):
    """|measured - theory| / SE, with the SE floored at rounding (1e-10 relative): a noiseless point that
    matches to 1e-14 is agreement, not a huge z."""
    if None in (theory, measured, se):
        return None
    return abs(measured - theory) / max(se, 1e-10 * (1.0 + abs(theory)))


COMPARISON_COLUMNS = ("tolerance", "allowance", "basis", "mde", "verdict")


def _comparison(theory, measured, se) -> dict:
    """The point's theory-vs-measurement comparison (:func:`aimc_theory.comparison.compare`: 3 SE, no model
    allowance, so a point run at a finite lr or pulse size can disagree with an lr -> 0 theory by its own
    O(lr) term) as the columns ``tolerance``, ``allowance``, ``basis``, ``mde``, ``verdict``; empty where the
    command does not give all three numbers."""
    if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in (theory, measured, se)):
        return dict.fromkeys(COMPARISON_COLUMNS)
    from .comparison import compare
    c = compare(theory, measured, se, "")
    return {"tolerance": c.tolerance, "allowance": c.allowance, "basis": c.basis, "mde": c.mde, "verdict": c.verdict}


def _quote(a: str) -> str:
    return a if a and all(c.isalnum() or c in "-_.,=/:+" for c in a) else "'" + a.replace("'", "'\\''") + "'"


def summarize(r: runs.Run, out: dict):
    """(theory, measured, se, bias, note) of one command's result."""
    p = r.params
    if r.command == "simulate":
        theory, note = _theory(p)
        return theory, out.get("mean"), out.get("se"), _minus(out.get("mean"), p.get("w_star")), note
    if r.command == "fixed-point":
        return out.get("exact"), None, None, _minus(out.get("exact"), p.get("w_star")), ""
    if r.command == "calibrate":
        th, sim = out.get("theory", {}), out.get("simulated", {})
        return th.get("final_error"), sim.get("final_error"), sim.get("final_error_se"), sim.get("final_error"), ""
    if r.command == "train":
        return None, out.get("test_accuracy"), None, None, ""
    return None, None, None, None, ""


_THEORY: dict = {}      # fixed-point parameters -> (exact, note): replicates and seeds share one theory


def _theory(p) -> tuple:
    """The fixed-point theory of a simulate point (the library's fixed_point on the same parameters),
    computed once per distinct set of the parameters it depends on (per worker process)."""
    table = runs.parameters("fixed-point")
    given = {k: v for k, v in p.items() if k in table and k not in ("seed", "devices")}
    key = repr(sorted(given.items()))
    if key not in _THEORY:
        try:
            _THEORY[key] = (commands.call("fixed-point", given).data.get("exact"), "")
        except InputError as exc:
            _THEORY[key] = (None, f"theory: {runs.flag_named(exc, 'fixed-point')}")
    return _THEORY[key]


def _minus(a, b):
    return None if a is None or b is None else a - b


def _flatten(x, prefix="") -> dict:
    out = {}
    if isinstance(x, dict):
        for k, v in x.items():
            out |= _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(x, list):
        if len(x) <= 16 and all(not isinstance(v, (dict, list)) for v in x):
            for i, v in enumerate(x):
                out[f"{prefix}[{i}]"] = v
    else:
        out[prefix] = x
    return out


# -- executors ---------------------------------------------------------------------------------

def _worker_init():
    from .runtime import limit_blas_threads, retain_freed_memory
    limit_blas_threads(1)
    retain_freed_memory()


def _pool_worker_init():
    # Ctrl-C is the parent's to handle: a worker interrupted while it holds the task queue's lock would
    # leave the other workers (and the pool's shutdown) waiting for it forever. The parent terminates them.
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_init()


def _inline(tasks, workers):
    for t in tasks:
        yield run_point(t)


def _processes(tasks, workers):
    import concurrent.futures as cf
    import multiprocessing as mp
    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_pool_worker_init)
    done = False
    try:
        futures = [pool.submit(run_point, t) for t in tasks]
        for f in cf.as_completed(futures):
            yield f.result()
        done = True
    finally:
        if done:
            pool.shutdown(wait=True)
        else:                              # interrupted: drop the queue, stop the running points now
            procs = list(getattr(pool, "_processes", {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                proc.terminate()


def _dask(scheduler: str):
    def execute(tasks, workers):
        try:
            from distributed import Client, LocalCluster, as_completed
        except ImportError:
            raise InputError("scheduler", "Dask is not installed: pip install -e \".[dask]\" "
                                            "(dask[distributed] on this machine and on every worker)") from None
        cluster = None
        try:
            if scheduler == "local":
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
                client = Client(cluster)
            else:
                client = Client(scheduler, timeout=10)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError("scheduler", f"cannot reach the Dask scheduler {scheduler!r}: {exc}") from None
        try:
            client.run(_worker_init)
            futures = client.map(run_point, tasks, pure=False)
            for f in as_completed(futures):
                yield f.result()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    return execute


def executor(name: str | None = None, scheduler: str | None = None) -> Callable:
    """``inline``, ``processes`` (default) or, with ``scheduler`` ("local" or "tcp://HOST:PORT"), Dask."""
    if scheduler:
        return _dask(scheduler)
    if name in (None, "processes"):
        return _processes
    if name == "inline":
        return _inline
    raise InputError("executor", f"must be inline or processes (or give --scheduler for Dask) (got {name!r})")


# -- the study ---------------------------------------------------------------------------------

@dataclass
class StudyResult:
    table: Path
    parquet: Path | None
    rows: list
    done_before: int
    seconds: float
    figures: list


def run_study(study: Study, out_dir, *, execute: Callable | None = None, workers: int | None = None,
              progress: Callable[[int, int, float], None] | None = None, figures: bool = True) -> StudyResult:
    """Run every point not already done, then write the table (and figures).

    Parameters
    ----------
    study : Study
    out_dir : path
        Where ``<name>.csv``, ``<name>_points/`` and ``figures/`` go (created).
    execute : callable, optional
        An executor from :func:`executor` (default: a process pool).
    workers : int, optional
        Processes (default: all cores).
    progress : callable(done, total, seconds), optional
    figures : bool
        Draw the heat maps / curves.

    Returns
    -------
    StudyResult
    """
    out_dir = Path(out_dir)
    pts = points(study)
    point_dir = out_dir / f"{study.name}_points"
    point_dir.mkdir(parents=True, exist_ok=True)
    done = {}
    for p in pts:
        f = point_dir / f"{p['id']}.json"
        if f.exists():
            try:
                done[p["id"]] = json.loads(f.read_text())
            except (OSError, ValueError):      # unreadable: run the point again
                pass
    todo = []
    for p in pts:
        if p["id"] not in done:
            task = {"id": p["id"], "replicate": p["replicate"], "run": p["run"]}
            if p["own_out"]:
                task["out_dir"] = str(point_dir / p["id"])
            todo.append(task)
    workers = workers or os.cpu_count() or 1
    execute = execute or _processes
    t0 = time.perf_counter()
    n_before = len(done)
    if progress:
        progress(n_before, len(pts), 0.0)
    interrupted = None
    try:
        for row in execute(todo, workers) if todo else ():
            atomic_write_text(point_dir / f"{row['point']}.json", json.dumps(row, allow_nan=False))
            done[row["point"]] = row
            if progress:
                progress(len(done), len(pts), time.perf_counter() - t0)
    except KeyboardInterrupt as exc:
        interrupted = exc
    rows = [_row(p, done[p["id"]], study) for p in pts if p["id"] in done]
    table, parquet = write_table(rows, out_dir / f"{study.name}.csv")
    figs = draw(rows, study, out_dir / "figures") if figures and not interrupted and rows else []
    if interrupted:
        raise interrupted
    return StudyResult(table, parquet, rows, n_before, time.perf_counter() - t0, figs)


def _row(p: dict, result: dict, study: Study) -> dict:
    params = {k: v for k, v in p["run"].changed().items() if k not in ("seed", "out")}
    for k, v in p["values"].items():           # every varied parameter has a column, even at its default
        col = runs.normalize(k)
        params[k if "." in col else col] = v if "." in col else p["run"].params.get(col, v)
    params = {k: ";".join(v) if isinstance(v, list) else v for k, v in params.items()}
    head = {k: result.get(k) for k in ("point", "status", "replicate", "seed")}
    tail = {k: result.get(k) for k in ("theory", "measured", "se", "z", "bias", *COMPARISON_COLUMNS, "seconds", "error",
                                       "argv")}
    return head | params | tail | {f"out.{k}": v for k, v in result.get("out", {}).items()}


def write_table(rows: list[dict], path: Path) -> tuple[Path, Path | None]:
    """The tidy table as CSV (and Parquet when pyarrow is installed), each written whole."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else (repr(r[k]) if isinstance(r[k], float) else r[k])) for k in cols})
    atomic_write_text(path, buf.getvalue())
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return path, None
    pq_path = path.with_suffix(".parquet")
    tmp = pq_path.with_name(f".{pq_path.name}.{os.getpid()}.tmp")
    pq.write_table(pa.table({k: _column(r.get(k) for r in rows) for k in cols}), tmp)
    os.replace(tmp, pq_path)
    return path, pq_path


def _column(values) -> list:
    """One Parquet column: numbers stay numbers (bools and ints too), a column that mixes text with numbers
    (e.g. a parameter given as "0.1" at one point and 0.2 at another) becomes text."""
    vals = list(values)
    kinds = {type(v) for v in vals if v is not None}
    if kinds and not kinds <= {int, float} and not kinds <= {bool} and not kinds <= {str}:
        return [None if v is None else (repr(v) if isinstance(v, float) else str(v)) for v in vals]
    if kinds == {int, float}:
        return [None if v is None else float(v) for v in vals]
    return vals


def read_table(path) -> list[dict]:
    """The CSV back as dicts with numbers parsed (for figures and tests)."""
    with open(path, newline="") as f:
        return [{k: _parse(v) for k, v in r.items()} for r in csv.DictReader(f)]


def _parse(v: str):
    if v == "":
        return None
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


# -- figures ---------------------------------------------------------------------------------

def _axes(rows, study) -> list[str]:
    """The varied parameters with numeric values and more than one value: the figure axes."""
    names = []
    for key in study.vary:
        col = runs.normalize(key)
        col = key if "." in col else col
        vals = [r.get(col) for r in rows]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals) and len(set(vals)) > 1:
            names.append(col)
    return names


def _mean_over(rows, keys, value):
    """Mean of ``value`` per combination of ``keys`` (over replicates and the other parameters)."""
    acc: dict = {}
    for r in rows:
        v = r.get(value)
        if r.get("status") == "ok" and isinstance(v, (int, float)) and math.isfinite(v):
            acc.setdefault(tuple(r[k] for k in keys), []).append(v)
    return {k: float(np.mean(v)) for k, v in acc.items()}


def draw(rows: list[dict], study: Study, fig_dir: Path) -> list[str]:
    """Curves over one varied parameter, heat maps (phase diagrams) over the first two: the bias and the
    theory-vs-simulation agreement z = |measured - theory|/se."""
    from matplotlib.figure import Figure
    from .files import save_figure
    axes = _axes(rows, study)
    if not axes:
        return []
    fig_dir.mkdir(parents=True, exist_ok=True)
    out = []
    if len(axes) == 1:
        x = axes[0]
        fig = Figure(figsize=(10, 4))
        a1, a2 = fig.subplots(1, 2)
        th, me = _mean_over(rows, [x], "theory"), _mean_over(rows, [x], "measured")
        se = _mean_over(rows, [x], "se")
        if th:
            xs = sorted(th)
            a1.plot([k[0] for k in xs], [th[k] for k in xs], "-", label="theory")
        if me:
            xs = sorted(me)
            a1.errorbar([k[0] for k in xs], [me[k] for k in xs], yerr=[3 * se.get(k, 0.0) for k in xs], fmt="o",
                        capsize=3, label="measured ± 3 SE")
        a1.set_xlabel(x)
        a1.set_ylabel(f"{study.command} result")
        a1.legend(fontsize=8)
        bias = _mean_over(rows, [x], "bias")
        if bias:
            xs = sorted(bias)
            a2.plot([k[0] for k in xs], [bias[k] for k in xs], "o-")
        a2.set_xlabel(x)
        a2.set_ylabel("bias")
        fig.suptitle(f"{study.name}: {study.command}")
        fig.tight_layout()
        path = fig_dir / f"{study.name}_curves.png"
        save_figure(fig, path)
        return [str(path)]
    x, y = axes[:2]
    panels = [("bias", "bias (measured - optimum)", "RdBu_r"), ("z", "|measured - theory| / SE", "viridis")]
    panels = [p for p in panels if _mean_over(rows, [x, y], p[0])]
    if not panels:
        return out
    fig = Figure(figsize=(5.5 * len(panels), 4.5))
    for ax, (key, label, cmap) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels):
        vals = _mean_over(rows, [x, y], key)
        xs, ys = sorted({k[0] for k in vals}), sorted({k[1] for k in vals})
        if study.design == "grid":
            grid = np.full((len(ys), len(xs)), np.nan)
            for (a, b), v in vals.items():
                grid[ys.index(b), xs.index(a)] = v
            lim = np.nanmax(np.abs(grid)) if key == "bias" else None
            im = ax.imshow(grid, origin="lower", aspect="auto", cmap=cmap,
                           vmin=-lim if lim else None, vmax=lim if lim else None)
            ax.set_xticks(range(len(xs)), [f"{v:.3g}" for v in xs], rotation=45, fontsize=7)
            ax.set_yticks(range(len(ys)), [f"{v:.3g}" for v in ys], fontsize=7)
            if key == "z":
                for (a, b), v in vals.items():
                    ax.text(xs.index(a), ys.index(b), f"{v:.1f}", ha="center", va="center", fontsize=6, color="w")
        else:
            pts = np.array([(a, b, v) for (a, b), v in vals.items()])
            im = ax.scatter(pts[:, 0], pts[:, 1], c=pts[:, 2], cmap=cmap, s=30)
        fig.colorbar(im, ax=ax, label=label)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(label, fontsize=9)
    fig.suptitle(f"{study.name}: {study.command} (mean over replicates{' and other parameters' if len(axes) > 2 else ''})")
    fig.tight_layout()
    path = fig_dir / f"{study.name}_phase.png"
    save_figure(fig, path)
    return [str(path)]


# -- the command -----------------------------------------------------------------------------

class StudyInterrupted(KeyboardInterrupt):
    """Ctrl-C during a study: the finished points are kept in ``points_dir``; the same call resumes."""

    def __init__(self, points_dir):
        super().__init__(str(points_dir))
        self.points_dir = points_dir


def sweep(progress=None, **params) -> CommandResult:
    """``aimc-theory sweep`` as a function: a parameter study from a TOML file (``study``), points on an
    executor (``executor``, ``scheduler``, ``workers``), a tidy table and figures in ``out``; resumable.

    Parameters
    ----------
    progress : callable, optional
        ``progress(points_done, points, seconds)``.
    **params
        The parameters of ``aimc-theory sweep --help`` by name.

    Returns
    -------
    CommandResult
        ``data``: study, command, points, done_before, errors, table, parquet, figures, seconds;
        ``detail``: the :class:`StudyResult`.

    Raises
    ------
    StudyInterrupted
        On Ctrl-C, after keeping the finished points.
    """
    a = Inputs.of("sweep", params)
    study = load(a.study)
    out = out_dir(a.out)
    ex = executor(a.executor, a.scheduler)
    n = len(points(study))
    try:
        res = run_study(study, out, execute=ex, workers=a.workers, progress=progress, figures=not a.no_figures)
    except KeyboardInterrupt:
        raise StudyInterrupted(out / (study.name + "_points")) from None
    errors = sum(r["status"] != "ok" for r in res.rows)
    data = {"study": study.name, "command": study.command, "points": n, "done_before": res.done_before,
            "errors": errors, "table": str(res.table), "parquet": str(res.parquet) if res.parquet else None,
            "figures": res.figures, "seconds": res.seconds}
    return CommandResult("sweep", data, a.arguments(), None, res)
