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
or command, or a value outside its range, is an error naming the study file's key, e.g. ``vary.seed``).
Its seed is derived from the study seed, the command, every parameter value and the replicate index,
never from the worker or the order, so every executor gives the same numbers. Each finished point is
written to ``<out>/<name>_points/<id>.json`` atomically and skipped when the study runs again (resume
after an interruption); the table ``<out>/<name>.csv`` (and ``.parquet`` when pyarrow is installed) is
written whole at the end.

Nothing is lost: each point runs isolated, and an error it raises (any exception) is its row with
``status = "error"`` and the one-line message while the other points go on; with ``point_timeout`` a
point that runs longer is stopped (the process pool kills the worker running it) and its row says
"timeout after N s"; a worker that dies is the row of the point it ran. The command then exits 1.
On resume every point file is checked against the schema of :func:`check_point` (the point's id,
parameters, replicate and seed, the status, finite numbers); one that does not match, and a point
stopped from outside last time, is run again with a one-line notice. Workers end with the parent, even
when it is killed with ``kill -9``.

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
import functools
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
from .files import atomic_write_text, open_atomic
from .runtime import check_workers, end_with_parent, usable_cores

SWEEPABLE = ("derive", "fixed-point", "simulate", "calibrate", "reproduce", "train", "cost")
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
            base = _describe(study, params, values)
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


def _describe(study: Study, params: dict, values: dict) -> runs.Run:
    """The point's run, validated; an error names the study file's key (``vary.seed``, ``fixed.steps``)."""
    try:
        return runs.describe(study.command, params)
    except InputError as exc:
        head, sep, rest = exc.param.partition(" ")
        for table, keys in (("vary", values), ("fixed", study.fixed)):
            key = next((k for k in keys if runs.normalize(k) == runs.normalize(head)), None)
            if key is not None:
                raise InputError(f"{table}.{key}" + sep + rest, str(exc).split(": ", 1)[1]) from None
        raise


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
    """Execute one point (in a worker): the row of the table. Bad input for this point, or any other
    error raised while it runs, is a row with ``status = "error"`` and the error's one-line message, not a
    failed study."""
    from .runtime import retain_freed_memory
    retain_freed_memory()
    r = _task_run(task)
    t0 = time.perf_counter()
    theory = measured = se = bias = None
    out, error, status = {}, "", "ok"
    try:
        out = runs.execute(r)
        theory, measured, se, bias, note = summarize(r, out)
        theory, measured, se, bias = (_number(x) for x in (theory, measured, se, bias))
        if note:
            error = note
    except InputError as exc:
        status, error = "error", str(exc)
    except Exception as exc:                  # noqa: BLE001 -- anything else the point raises: its row
        status, error, out = "error", _one_line(exc), {}
    row = _row_of(task, r, status, error, time.perf_counter() - t0)
    row.update({"theory": theory, "measured": measured, "se": se, "z": _number(_z(theory, measured, se)),
                "bias": bias, **_comparison(theory, measured, se)})
    row["out"] = {k: _scalar(v) for k, v in _flatten(out).items() if not k.startswith(("provenance", "null_reasons"))}
    return row


def _task_run(task: dict) -> runs.Run:
    r: runs.Run = task["run"]
    if task.get("out_dir"):
        r = runs.Run(r.command, dict(r.params) | {"out": task["out_dir"]})
    return r


def _row_of(task: dict, r: runs.Run, status: str, error: str, seconds, retry: bool = False,
            timeout: float | None = None) -> dict:
    """A row without results (filled in by :func:`run_point`; as it is for a point stopped from outside)."""
    row = {"point": task["id"], "status": status, "replicate": task["replicate"]}
    if "seed" in r.params:
        row["seed"] = r.params["seed"]
    row.update({k: None for k in _NUMBER_COLUMNS} | dict.fromkeys(_TEXT_COLUMNS))
    row.update({"seconds": _number(seconds), "error": error,
                "argv": " ".join(_quote(a) for a in ["aimc-theory", *r.argv()]), "out": {},
                "params": _stored_params(task["run"])})
    if retry:
        row["retry"] = True
    if timeout is not None:
        row["timeout"] = float(timeout)     # a resume with the same (or a shorter) point_timeout keeps the row
    return row


def _stored_params(r: runs.Run) -> dict:
    """The point's parameters as its point file stores them (JSON types; ``out`` left out: it names the
    directory, which may move)."""
    return json.loads(json.dumps({k: v for k, v in r.params.items() if k != "out"}, default=str))


def _one_line(exc: BaseException, limit: int = 400) -> str:
    text = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _number(x):
    """A finite float (NumPy numbers too) or None."""
    if x is None or isinstance(x, bool):
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _scalar(v):
    if isinstance(v, (str, bool)) or v is None:
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    return str(v)


def _z(theory, measured, se):
    """|measured - theory| / SE, with the SE floored at rounding (1e-10 relative): a noiseless point that
    matches to 1e-14 is agreement, not a huge z."""
    if None in (theory, measured, se):
        return None
    return abs(measured - theory) / max(se, 1e-10 * (1.0 + abs(theory)))


COMPARISON_COLUMNS = ("tolerance", "allowance", "basis", "mde", "verdict")
_NUMBER_COLUMNS = ("theory", "measured", "se", "z", "bias", "tolerance", "allowance", "mde", "seconds")
_TEXT_COLUMNS = ("basis", "verdict")


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


THEORY_COMMANDS = ("simulate", "fixed-point", "calibrate", "derive", "cost")   # their points derive (SymPy)


def _preload(tasks) -> None:
    """Import the symbolic module before the workers fork when the points derive: each fresh worker would
    import SymPy again (~1.5 s, several under load), counted against a point's ``point_timeout``."""
    if any(t["run"].command in THEORY_COMMANDS for t in tasks):
        from . import symbolic  # noqa: F401


def _processes(tasks, workers, timeout: float | None = None):
    """Each point in a worker process of a local pool, isolated: a point that raises is its error row; a
    point that runs longer than ``timeout`` seconds has its worker killed (the row says "timeout after N
    s"); a worker that dies (killed, out of memory, a crash in compiled code) is the row of the point it
    ran. Either way a fresh worker takes the next point. Workers end with the parent, even a ``kill -9``ed
    one (:func:`aimc_theory.runtime.end_with_parent`)."""
    import multiprocessing as mp
    from multiprocessing.connection import wait
    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    parent = os.getpid()
    queue = list(reversed(tasks))
    slots: list[_Slot] = []

    def start() -> _Slot:
        try:
            here, there = ctx.Pipe()
            proc = ctx.Process(target=_worker_main, args=(there, parent), name="aimc-sweep-worker")
            proc.start()
        except OSError as exc:                      # out of processes or memory: the finished points are kept
            raise InputError("workers", f"cannot start a worker process: {exc.strerror or exc}") from None
        there.close()
        return _Slot(proc, here)

    def give(i: int) -> dict | None:
        """Hand slot ``i`` its next point (a fresh worker when its old one died); an error row if the
        point cannot be handed over."""
        slot = slots[i]
        slot.task = None
        if not queue:
            return None
        if not slot.proc.is_alive():
            slot.stop()
            slots[i] = slot = start()
        task = queue.pop()
        try:
            slot.conn.send(task)
        except (OSError, ValueError):               # the worker went away between the check and the send
            slot.stop()
            slots[i] = slot = start()
            slot.conn.send(task)
        except Exception as exc:                    # noqa: BLE001 -- the task does not pickle
            return _row_of(task, _task_run(task), "error", f"cannot hand the point to a worker: {_one_line(exc)}",
                           0.0)
        slot.task, slot.t0 = task, time.monotonic()
        return None

    _preload(tasks)
    try:
        slots.extend(start() for _ in range(min(workers, len(queue))))
        pending = [row for i in range(len(slots)) if (row := give(i)) is not None]
        while pending or any(s.task is not None for s in slots):
            yield from pending
            pending = []
            busy = [i for i, s in enumerate(slots) if s.task is not None]
            if not busy:
                continue
            left = None if timeout is None else max(0.0, min(slots[i].t0 for i in busy) + timeout - time.monotonic())
            ready = set(wait([x for i in busy for x in (slots[i].conn, slots[i].proc.sentinel)], left))
            for i in busy:
                slot = slots[i]
                row = None
                if slot.conn in ready:
                    try:
                        row = slot.conn.recv()
                    except (EOFError, OSError):     # died while sending: as below
                        pass
                if row is None and (slot.conn in ready or slot.proc.sentinel in ready):
                    seconds = time.monotonic() - slot.t0
                    slot.proc.join(1.0)
                    row = _row_of(slot.task, _task_run(slot.task), "error",
                                  f"the worker process running the point died ({_death(slot.proc)})", seconds,
                                  retry=True)
                    slot.stop()
                    slots[i] = start()
                elif row is None and timeout is not None and time.monotonic() - slot.t0 >= timeout:
                    seconds = time.monotonic() - slot.t0
                    slot.stop()
                    row = _row_of(slot.task, _task_run(slot.task), "error",
                                  f"timeout after {timeout:g} s (point_timeout): its worker was stopped", seconds,
                                  retry=True, timeout=timeout)
                    slots[i] = start()
                if row is not None:
                    extra = give(i)
                    pending += [row] + ([extra] if extra is not None else [])
        for slot in slots:                          # done: let the workers exit
            slot.close()
    finally:
        for slot in slots:                          # interrupted or failed: stop the running points now
            slot.stop()


class _Slot:
    """A worker process, the parent's end of its pipe, and the point it runs (with its start time)."""

    def __init__(self, proc, conn):
        self.proc, self.conn, self.task, self.t0 = proc, conn, None, 0.0

    def close(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.proc.join(5.0)
        self.stop()

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5.0)
        self.conn.close()


def _death(proc) -> str:
    import signal
    code = proc.exitcode
    if code is not None and code < 0:
        try:
            return f"signal {-code}: {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


def _worker_main(conn, parent: int) -> None:
    """A pool worker: run the points the parent sends until it sends None, closes the pipe or dies."""
    _pool_worker_init()
    end_with_parent(parent)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        row = run_point(task)
        try:
            conn.send(row)
        except (OSError, ValueError):
            return
        except Exception as exc:                    # noqa: BLE001 -- a result that does not pickle
            conn.send(_row_of(task, _task_run(task), "error", f"cannot send the point's result: {_one_line(exc)}",
                              row.get("seconds")))


def _refused(scheduler: str) -> str | None:
    """Why a TCP scheduler address cannot be reached when the machine there refuses the connection (nothing listens
    on that port), else None: Dask itself then tries (other schemes, a slow network, a scheduler starting up)."""
    import socket
    from distributed.comm.addressing import parse_address, parse_host_port
    try:
        scheme, loc = parse_address(scheduler)
        if scheme != "tcp":
            return None
        host, port = parse_host_port(loc)
    except (TypeError, ValueError):
        return None
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except ConnectionRefusedError:
        return f"connection refused by {host}:{port} (is the scheduler running, on that port?)"
    except OSError:
        return None


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
                refused = _refused(scheduler)
                if refused:         # nothing listens there: say so now, not after Dask's 10 s of retries
                    raise OSError(refused)
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


def executor(name: str | None = None, scheduler: str | None = None, point_timeout: float | None = None) -> Callable:
    """``inline``, ``processes`` (default) or, with ``scheduler`` ("local" or "tcp://HOST:PORT"), Dask.

    ``point_timeout`` (seconds) stops a point that runs longer (its row: status "error", "timeout after N
    s"): the process pool kills the worker running it; ``inline`` then runs each point in a child process
    (one at a time) so that it can be stopped; Dask cannot stop a running task, so it is refused there."""
    if point_timeout is not None and not (isinstance(point_timeout, (int, float)) and not isinstance(point_timeout, bool)
                                          and math.isfinite(point_timeout) and point_timeout > 0):
        raise InputError("point_timeout", f"must be a number > 0 (got {point_timeout!r})")
    if scheduler:
        if point_timeout is not None:
            raise InputError("point_timeout", "is not enforced on Dask (a running task cannot be stopped); use "
                                              "--executor processes or inline")
        return _dask(scheduler)
    if name in (None, "processes"):
        return _processes if point_timeout is None else functools.partial(_processes, timeout=point_timeout)
    if name == "inline":
        if point_timeout is None:
            return _inline
        return lambda tasks, workers: _processes(tasks, 1, timeout=point_timeout)
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
    recomputed: list = field(default_factory=list)     # one line per point file found invalid and run again


def run_study(study: Study, out_dir, *, execute: Callable | None = None, workers: int | None = None,
              progress: Callable[[int, int, float], None] | None = None, figures: bool = True,
              notice: Callable[[str], None] | None = None, point_timeout: float | None = None,
              figure_format: str = "png") -> StudyResult:
    """Run every point not already done, then write the table (and figures).

    A point file found from an earlier run is used only if it is a valid row of this very point (a JSON
    object with the point's id, parameters, replicate and seed, status "ok" or "error", the numbers finite
    or null, see :func:`check_point`); any other is reported through ``notice`` and the point runs again,
    and so does a point stopped from outside last time (a worker that died; a timeout only when
    ``point_timeout`` is now longer than the one that stopped it, or none: the same limit would stop it again).

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
    notice : callable(str), optional
        Receives one line per point file that is run again, and why (default: printed on stderr).
    point_timeout : float, optional
        The executor's point_timeout (seconds): a point a timeout stopped last time runs again only if this
        is longer (or None).
    figure_format : {"png", "pdf", "svg"}
        The figures' file format.

    Returns
    -------
    StudyResult
    """
    out_dir = Path(out_dir)
    notice = notice or (lambda line: print(line, file=sys.stderr, flush=True))
    pts = points(study)
    point_dir = out_dir / f"{study.name}_points"
    try:
        point_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError("out", f"cannot create the directory {point_dir}: {exc.strerror or exc}") from None
    done, again = {}, []
    for p in pts:
        f = point_dir / f"{p['id']}.json"
        if not os.path.lexists(f):
            continue
        row, why = _read_point(f, p, point_timeout)
        if why:
            again.append(f"sweep: {point_dir.name}/{f.name}: {why}; running the point again")
        else:
            done[p["id"]] = row
    for line in again:
        notice(line)
    todo = []
    for p in pts:
        if p["id"] not in done:
            task = {"id": p["id"], "replicate": p["replicate"], "run": p["run"]}
            if p["own_out"]:
                task["out_dir"] = str(point_dir / p["id"])
            todo.append(task)
    workers = workers or usable_cores()
    execute = execute or _processes
    t0 = time.perf_counter()
    n_before = len(done)
    if progress:
        progress(n_before, len(pts), 0.0)
    interrupted = None
    rows_out = execute(todo, workers) if todo else iter(())
    try:
        for row in rows_out:
            atomic_write_text(point_dir / f"{row['point']}.json", json.dumps(row, allow_nan=False))
            done[row["point"]] = row
            if progress:
                progress(len(done), len(pts), time.perf_counter() - t0)
    except KeyboardInterrupt as exc:
        interrupted = exc
    finally:
        close = getattr(rows_out, "close", None)
        if close:                                   # stop the executor's workers now, not at garbage collection
            close()
    rows = [_row(p, done[p["id"]], study) for p in pts if p["id"] in done]
    table, parquet = write_table(rows, out_dir / f"{study.name}.csv")
    figs = draw(rows, study, out_dir / "figures", figure_format) if figures and not interrupted and rows else []
    if interrupted:
        raise interrupted
    return StudyResult(table, parquet, rows, n_before, time.perf_counter() - t0, figs, again)


MAX_POINT_FILE = 1 << 20       # bytes: a point file is a few kB


def _read_point(f: Path, p: dict, point_timeout: float | None = None) -> tuple[dict | None, str]:
    """(the stored row, "") or (None, why it is not used)."""
    import stat
    try:
        st = os.lstat(f)
        if not stat.S_ISREG(st.st_mode):
            return None, "not a regular file"
        if st.st_size > MAX_POINT_FILE:
            return None, f"larger than {MAX_POINT_FILE:,} bytes"
        fd = os.open(f, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as fh:
            text = fh.read(MAX_POINT_FILE + 1).decode("utf-8")
    except OSError as exc:
        return None, f"unreadable ({exc.strerror or exc})"
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    try:
        row = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        return None, f"not valid JSON ({' '.join(str(exc).split())[:120]})"
    why = check_point(row, p)
    if why:
        return None, why
    if row.get("retry"):
        stopped = row.get("timeout")
        if stopped is not None and point_timeout is not None and point_timeout <= stopped:
            return row, ""       # it would time out again: kept (a longer point_timeout runs it again)
        return None, f"last run stopped from outside ({row.get('error')})"
    return row, ""


def _reject_constant(name):
    raise ValueError(f"{name} is not a finite number")


def check_point(row, p: dict) -> str:
    """Why ``row`` (a parsed point file) is not a valid result of point ``p`` (of :func:`points`), or "".

    The schema: a JSON object with ``point`` (the point's id), ``status`` ("ok" or "error"),
    ``replicate`` and ``seed`` (the point's), ``params`` (the point's parameters, ``out`` aside),
    the numbers ``theory``, ``measured``, ``se``, ``z``, ``bias``, ``tolerance``, ``allowance``, ``mde``,
    ``seconds`` (each finite or null), ``basis`` and ``verdict`` (text or null), ``error`` and ``argv``
    (text), ``out`` (an object of text, numbers, true/false or null) and optionally ``retry`` (true/false)
    and ``timeout`` (the point_timeout, seconds > 0, that stopped the point).
    """
    if not isinstance(row, dict):
        return f"not a JSON object (a JSON {_json_kind(row)})"
    missing = [k for k in ("point", "status", "replicate", "params", *_NUMBER_COLUMNS, *_TEXT_COLUMNS, "error",
                           "argv", "out") if k not in row]
    if missing:
        return f"missing {', '.join(missing[:4])}" + (f" and {len(missing) - 4} more keys" if len(missing) > 4 else "")
    if row["point"] != p["id"]:
        return f"it is the file of another point ({str(row['point'])[:40]!r})"
    if row["status"] not in ("ok", "error"):
        return f"status {str(row['status'])[:40]!r} is neither 'ok' nor 'error'"
    if not _is_int(row["replicate"]) or row["replicate"] != p["replicate"]:
        return f"replicate {row['replicate']!r} is not the point's ({p['replicate']})"
    seed = p["run"].params.get("seed") if "seed" in p["run"].params else None
    if row.get("seed") != seed or (seed is not None and not _is_int(row["seed"])):
        return f"seed {row.get('seed')!r} is not the point's ({seed!r})"
    if row["params"] != _stored_params(p["run"]):
        return "its parameters are not the point's"
    for k in _NUMBER_COLUMNS:
        v = row[k]
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
            return f"{k} is {str(v)[:40]!r}, not a finite number or null"
    for k in _TEXT_COLUMNS:
        if row[k] is not None and not isinstance(row[k], str):
            return f"{k} is {str(row[k])[:40]!r}, not text or null"
    for k in ("error", "argv"):
        if not isinstance(row[k], str):
            return f"{k} is not text"
    if not isinstance(row["out"], dict) or not all(
            v is None or isinstance(v, (str, bool)) or (isinstance(v, (int, float)) and math.isfinite(v))
            for v in row["out"].values()):
        return "out is not an object of numbers and text"
    if not isinstance(row.get("retry", False), bool):
        return "retry is not true or false"
    t = row.get("timeout")
    if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t <= 0):
        return f"timeout is {str(t)[:40]!r}, not a number > 0"
    return ""


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _json_kind(v) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(v), "number")


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
    with open_atomic(pq_path, "wb") as f:
        pq.write_table(pa.table({k: _column(r.get(k) for r in rows) for k in cols}), f)
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


def read_frame(path):
    """The CSV as a pandas DataFrame (the optional extra ``pandas``): the columns and values of
    :func:`read_table`.

    Parameters
    ----------
    path : path
        The study's ``<name>.csv``.

    Returns
    -------
    pandas.DataFrame
    """
    from .commands.results import frame
    return frame(read_table(path))


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


def draw(rows: list[dict], study: Study, fig_dir: Path, fmt: str = "png") -> list[str]:
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
        return [str(save_figure(fig, fig_dir / f"{study.name}_curves.png", format=fmt))]
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
    return [str(save_figure(fig, fig_dir / f"{study.name}_phase.png", format=fmt))]


# -- the command -----------------------------------------------------------------------------

class StudyInterrupted(KeyboardInterrupt):
    """Ctrl-C during a study: the finished points are kept in ``points_dir``; the same call resumes."""

    def __init__(self, points_dir):
        super().__init__(str(points_dir))
        self.points_dir = points_dir


MAX_FAILED_LISTED = 20


def sweep(progress=None, notice=None, **params) -> CommandResult:
    """``aimc-theory sweep`` as a function: a parameter study from a TOML file (``study``), points on an
    executor (``executor``, ``scheduler``, ``workers``), a tidy table and figures in ``out``; resumable.

    Parameters
    ----------
    progress : callable, optional
        ``progress(points_done, points, seconds)``.
    notice : callable, optional
        ``notice(line)`` for each point file that is invalid and run again (default: printed on stderr).
    **params
        The parameters of ``aimc-theory sweep --help`` by name.

    Returns
    -------
    CommandResult
        ``data``: study, command, points, done_before, errors (points with status "error"), failed (the
        first 20 of them: point and error), recomputed (the notices), table, parquet, figures, seconds;
        ``ok`` is False when a point failed (the command line exits 1); ``detail``: the :class:`StudyResult`.

    Raises
    ------
    StudyInterrupted
        On Ctrl-C, after keeping the finished points.
    """
    a = Inputs.of("sweep", params)
    if not (a.scheduler and a.scheduler != "local"):     # local processes: no more than the usable cores
        check_workers("workers", a.workers)
    study = load(a.study)
    ex = executor(a.executor, a.scheduler, a.point_timeout)
    out = out_dir(a.out)                # after the other inputs: a bad one leaves no directory behind
    n = len(points(study))
    try:
        res = run_study(study, out, execute=ex, workers=a.workers, progress=progress, figures=not a.no_figures,
                        notice=notice, point_timeout=a.point_timeout, figure_format=a.format)
    except KeyboardInterrupt:
        raise StudyInterrupted(out / (study.name + "_points")) from None
    failed = [{"point": r["point"], "error": r["error"]} for r in res.rows if r["status"] != "ok"]
    data = {"study": study.name, "command": study.command, "points": n, "done_before": res.done_before,
            "errors": len(failed), "failed": failed[:MAX_FAILED_LISTED], "recomputed": res.recomputed,
            "table": str(res.table), "parquet": str(res.parquet) if res.parquet else None,
            "figures": res.figures, "seconds": res.seconds}
    return CommandResult("sweep", data, a.arguments(), None, res, ok=not failed)
