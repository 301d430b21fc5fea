"""Hostile-input fuzzing of the command line (shared by tests/test_fuzz.py and benchmarks/fuzz_cli.py).

Every call must either succeed (exit 0; with --json exactly one strict JSON object on stdout) or exit 2
with one line on stderr and nothing on stdout: no traceback, no hang (a watchdog interrupts a call after
``HANG_SECONDS``), no other exit status.
"""
from __future__ import annotations

import _thread
import atexit
import contextlib
import gc
import io
import json
import math
import re
import shutil
import tempfile
import threading
import time
from collections import Counter

from hypothesis import strategies as st

from aimc_theory import response
from aimc_theory.cli import main

HANG_SECONDS = 60.0       # far above the slowest call seen (train 6.8 s on a machine loaded 3.5x): a hang, not load
COUNTS: Counter = Counter()
# this process's outputs and input files, new for each run: nothing is shared with an earlier run (a sweep's --out
# would resume its points) or with another process fuzzing at the same time (pytest-xdist's workers)
WORK = tempfile.mkdtemp(prefix="aimc-fuzz-")
atexit.register(shutil.rmtree, WORK, True)
OUT, SWEEP_OUT, CHECK_OUT = f"{WORK}/out", f"{WORK}/sweep", f"{WORK}/check"
SLOWEST: dict = {}

_VALID = st.one_of(st.floats(0.001, 0.9).map(lambda v: f"{v:.4g}"), st.sampled_from(["0.01", "0.1", "0.3", "0.5"]))
_NUMBERS = st.one_of(
    _VALID, _VALID, _VALID,                      # most draws valid, so that the success paths run too
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["0", "-0", "1e-320", "1e308", "1e400", "-1", "nan", "inf", "-inf", "1e6", "0.5", "2", "abc", "",
                     "1,2", "0x10", "1_000"]),
    st.integers(-10**30, 10**30).map(str))
_ATOMS = st.sampled_from(["w", "1", "2", "0.5", "0", "pi", "E", "tau", "1e6", "1e300", "10**400", "-w", "w**2"])
_FUNCS = st.sampled_from(["exp", "log", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh", "atan", "asinh", "erf",
                          "abs", "__import__", "eval", "open"])
_OPS = st.sampled_from(["+", "-", "*", "/", "**", "^", "//", "%", "@"])


def _expr(depth: int = 0):
    if depth > 3:
        return _ATOMS
    return st.one_of(_ATOMS,
                     st.tuples(_FUNCS, st.deferred(lambda: _expr(depth + 1))).map(lambda t: f"{t[0]}({t[1]})"),
                     st.tuples(st.deferred(lambda: _expr(depth + 1)), _OPS,
                               st.deferred(lambda: _expr(depth + 1))).map(lambda t: f"({t[0]}{t[1]}{t[2]})"))


# -- '^' as power and named parameters (-p NAME=VALUE) in --q-plus/--q-minus ---------------------------------------
# Shapes a researcher writes (q+, q-): '^' is power with power's precedence ('1 - w^2' is 1 - w**2), and the
# names are given with -p, by named_response_args (hostile or not).
_SHAPES = [("1 - w^2", "1 + w^2"), ("(1-w)^3", "(1+w)^3"), ("(1+w)^3", "(1-w)^3"), ("1 - w/2", "(1 + w/2)^2"),
           ("a - b*w", "a + b*w"), ("(1 - w/tau)^gamma", "(1 + w/tau)^gamma"), ("a*(1 - w)^k", "a*(1 + w)^k"),
           ("a - b*w^2", "a + c*w"), ("exp(-a*w)", "exp(b*w)"), ("a^2 - w", "a^2 + w"), ("(a - w)^b", "(a + w)^b"),
           ("1 - w^a", "1 + w^a"), ("a - b*w^3", "a + b*w^3"), ("a^b - w", "a^b + w"), ("(a-b*w)^-1", "(a+b*w)^-1"),
           ("a - b*w^2^2", "a + b*w")]
_PARAM_RE = re.compile(r"[A-Za-z_]\w*")
_RESERVED = {"w", "exp", "log", "sqrt", "pi", "E", "e"}
_GOOD = st.one_of(st.floats(0.05, 3).map(lambda v: f"{v:.3g}"), st.sampled_from(["1", "0.5", "2", "3", "0.2"]))
_BAD = st.sampled_from(["nan", "inf", "-inf", "-1", "-5", "0", "1e300", "100", "65", "-0.5", "1e-320", "x", ""])


def _named_expr(depth: int = 0):
    """Random expressions over w, named parameters a, b, c, small numbers, '^' and '**'."""
    atoms = st.sampled_from(["w", "a", "b", "c", "1", "2", "0.5", "3"])
    if depth > 2:
        return atoms
    sub = st.deferred(lambda: _named_expr(depth + 1))
    return st.one_of(atoms, st.tuples(sub, st.sampled_from(["+", "-", "*", "/", "^", "^", "**"]), sub)
                     .map(lambda t: f"({t[0]}{t[1]}{t[2]})"))


EXPRESSIONS = st.one_of(_expr(), st.text(max_size=40),
                        st.sampled_from(["1 + 0*w", "(1 - w)**0.5", "1 + exp(w)", "lambda: 0", "w.__class__",
                                         "[w]", "w if w else 1", "sin(" * 30 + "w" + ")" * 30, "9" * 5000]),
                        st.sampled_from([q for shape in _SHAPES for q in shape]), _named_expr())


@st.composite
def named_response_args(draw):
    """--q-plus/--q-minus with '^' and named parameters, and -p for them: mostly every name once with a valid
    value, sometimes a name never given, a name given twice, an unused or reserved name, a value that makes
    q negative on the range (or on --range), NaN or inf, a malformed -p."""
    if draw(st.integers(0, 3)):
        qp, qm = draw(st.sampled_from(_SHAPES))
    else:
        qp, qm = draw(_named_expr()), draw(_named_expr())
        qp, qm = f"2 + {qp}", (f"2 + {qm}" if draw(st.booleans()) else qm)       # often positive at 0
    names = sorted({n for n in _PARAM_RE.findall(qp + " " + qm)} - _RESERVED)
    pairs = [[n, draw(_GOOD)] for n in names]
    hostile = draw(st.integers(0, 9))
    if hostile == 1 and pairs:                        # a name never given
        pairs.pop(draw(st.integers(0, len(pairs) - 1)))
    elif hostile == 2 and pairs:                      # a name given twice
        pairs.append([draw(st.sampled_from(names)), draw(st.one_of(_GOOD, _BAD))])
    elif hostile in (3, 4) and pairs:                 # a bad value: q negative somewhere, NaN, inf, huge, text
        pairs[draw(st.integers(0, len(pairs) - 1))][1] = draw(_BAD)
    elif hostile == 5:                                # a name that is not in the expressions, or reserved
        pairs.append([draw(st.sampled_from(["z", "bogus", "w", "pi", "exp", "E", "1a", "a b", ""])), draw(_GOOD)])
    args = ["--q-plus", qp, "--q-minus", qm]
    for n, v in pairs:
        args += ["-p", f"{n}={v}"]
    if hostile == 6:                                  # malformed -p
        args += ["-p", draw(st.sampled_from(["a", "=1", "a=1=2", "a==1", " = "]))]
    if draw(st.integers(0, 2)) == 0:                  # a range, wide enough for q to turn negative sometimes
        args.append(f"--range={draw(st.sampled_from(['-0.5', '-1', '-3', '0', 'nan']))},"
                    f"{draw(st.sampled_from(['0.5', '1', '3', '1e9']))}")
    return args


# the registry's families (softbounds, the default, twice as often), presets and unknown names
FAMILIES = st.sampled_from(["softbounds", *response.FAMILY, "bogus", "preset:ecram", "preset:reram-sb", "preset:pcm",
                            "preset:gokmen-vlasov", "preset:bogus"])
PARAM_NAMES = sorted({p.name for fam in response.FAMILY.values() for p in fam.params}) + ["bogus", "w"]
ALGORITHMS = st.sampled_from(["analog-sgd", "digital-sgd", "residual-learning", "residual-learning-v2", "rider",
                              "e-rider", "bogus"])


@st.composite
def response_args(draw):
    kind = draw(st.integers(0, 5))
    if kind >= 2:
        args = ["--response", draw(FAMILIES)]
        for _ in range(draw(st.integers(0, 2))):
            key = draw(st.sampled_from(PARAM_NAMES))
            args += ["-p", f"{key}={draw(_NUMBERS)}"]
    elif kind == 1:
        args = draw(named_response_args())
    else:
        args = ["--q-plus", draw(EXPRESSIONS), "--q-minus", draw(EXPRESSIONS)]
        if draw(st.booleans()):
            args.append(f"--range={draw(_NUMBERS)},{draw(_NUMBERS)}")
    if draw(st.booleans()):
        args += ["--sp-shift", draw(_NUMBERS)]
    return args


def _variation(draw):
    """Device-to-device variation: the preset's own (--preset-dtod), the generic one, or both (an error)."""
    args = []
    if draw(st.integers(0, 3)) == 0:
        args.append("--preset-dtod")
    if draw(st.integers(0, 4)) == 0:
        args += [draw(st.sampled_from(["--gain-dtod", "--imbalance-dtod"])), draw(_NUMBERS)]
    return args


def _problem(draw):
    args = []
    for flag in ("--L", "--w-star", "--noise", "--lr", "--w0"):
        if draw(st.integers(0, 3)) == 0:
            args += [flag, draw(_NUMBERS)]
    return args


@st.composite
def command_args(draw, command: str):
    args = [command] + draw(response_args())
    if command == "derive":
        args += ["--time-budget", draw(st.sampled_from(["0.5", "1", "-1", "nan"]))]
    elif command in ("fixed-point", "simulate"):
        args += ["--algorithm", draw(ALGORITHMS)] + _problem(draw)
        for flag in ("--gamma", "--beta", "--eta", "--chop-prob", "--max-bl", "--dw-min", "--sigma-c"):
            if draw(st.integers(0, 5)) == 0:
                args += [flag, draw(_NUMBERS)]
        args += _variation(draw)
        if command == "fixed-point" and draw(st.integers(0, 3)) == 0:
            args += ["--devices", draw(st.sampled_from(["30", "30", "0", "-1", "10000000000000", "x"]))]
        if command == "simulate":
            args += ["--steps", draw(st.sampled_from(["20", "20", "50", "0", "-5", "1.5", "x"])),
                     "--chains", draw(st.sampled_from(["10", "10", "1", "0", "1000000000000", "-1"]))]
            if draw(st.integers(0, 4)) == 0:
                args += ["--pulses"]
    elif command == "calibrate":
        args += ["--dw-min", draw(_NUMBERS), "--scheme", draw(st.sampled_from(["cyclic", "stochastic", "bogus"])),
                 "--w0", draw(_NUMBERS), "--pulses", draw(st.sampled_from(["200", "200", "0", "-1", "1e12", "x"])),
                 "--chains", draw(st.sampled_from(["5", "5", "0", "10000000000000"]))] + _variation(draw)
    elif command == "reproduce":
        args = [command, draw(st.sampled_from(["p1-fig2", "p1-fig2", "bogus", ""])),
                "--steps", draw(st.sampled_from(["5", "5", "0", "-1", "1e9", "x"])),
                "--seeds", draw(st.sampled_from(["2", "2", "1", "0", "-3"])),
                "--model", draw(st.sampled_from(["aihwkit", "batch-mean", "bogus"])),
                "--out", draw(st.sampled_from([OUT, "/proc/nope", "/dev/null"]))]
    elif command == "train":
        args = [command] + draw(response_args()) + [
            "--dataset", draw(st.sampled_from(["digits", "digits", "/nonexistent", "", "fashion-mnist-bogus"])),
            "--algorithm", draw(ALGORITHMS), "--hidden", draw(st.sampled_from(["4", "4", "0", "-1", "a", "4,4"])),
            "--epochs", draw(st.sampled_from(["1", "1", "0", "-1"])),
            "--batch-size", draw(st.sampled_from(["50", "50", "0", "100000"])),
            "--lr", draw(_NUMBERS), "--quiet", "--out", draw(st.sampled_from([OUT, "/proc/nope"]))]
        if draw(st.integers(0, 3)) == 0:
            args += ["--ref-mean", draw(_NUMBERS), "--ref-std", draw(_NUMBERS)]
        args += _variation(draw)
    elif command == "sweep":
        args = [command, _study_file(draw), "--executor", draw(st.sampled_from(["inline"] * 5 + ["bogus"])),
                "--no-figures", "--out", draw(st.sampled_from([SWEEP_OUT] * 4 + ["/proc/nope", "/dev/null"]))]
        if draw(st.integers(0, 5)) == 0:
            args += ["--workers", draw(st.sampled_from(["0", "-1", "x"]))]
    elif command == "presets":
        args = [command] + draw(st.sampled_from([[], ["ecram"], ["preset:pcm"], ["bogus"], [""], ["idealized"]]))
        if draw(st.integers(0, 2)) == 0:
            args += ["--devices", draw(st.sampled_from(["20", "20", "0", "-3", "x", "1"]))]
    elif command == "fit":
        args = [command, "--data", _sweep_file(draw)]
        if draw(st.integers(0, 4)) == 0:
            args += ["--families", draw(st.sampled_from(["linear", "linear,exponential", "bogus", "", ","]))]
    elif command == "check":
        args = [command, "--fast", "--no-figures",
                "--claims", draw(st.sampled_from(["1.softbounds", "1.softbounds", "nope", "", ",,",
                                                  "1.softbounds,1.linear"])),    # (9.* took 22 s of CPU: a hang)
                "--workers", draw(st.sampled_from(["1", "1", "0", "-2", "x"])),
                "--out", draw(st.sampled_from([CHECK_OUT, "/proc/nope", "/dev/null"]))]
    return args + ["--json"]


_KEYS = st.one_of(st.sampled_from(["noise", "lr", "w_star", "w-star", "p.tau"]),
                  st.sampled_from(["noise", "lr", "w_star", "w-star", "p.tau", "p.sp", "steps", "chains", "bogus",
                                   "seed", "response", "algorithm", "pulses", "dw-min", "L"]))
_VALUES = st.one_of(st.floats(0.01, 0.6, allow_subnormal=False).map(lambda v: f"{v:.3g}"),
                    st.floats(0.01, 0.6, allow_subnormal=False).map(lambda v: f"{v:.3g}"),
                    st.floats(0.01, 0.6, allow_subnormal=False).map(lambda v: f"{v:.3g}"),
                    _NUMBERS.map(lambda v: f'"{v}"'), st.floats(-2, 2, allow_subnormal=False).map(repr),
                    st.sampled_from(["0.1", "0.3", "20", "5", "true", '"softbounds"', '"bogus"', "[]", "{}", "-1",
                                     "1e400", "nan", "inf", '"power"']))


def _study_file(draw) -> str:
    """A study file: mostly a small valid study (fixed-point, or simulate with 20 steps x 5 chains), with
    hostile keys, values, tables and whole texts mixed in."""
    if draw(st.integers(0, 5)) == 0:
        text = draw(st.one_of(st.text(max_size=80), st.sampled_from(["[study\n", "", "[study]\ncommand = 3\n",
                                                                     "[study]\ncommand='check'\n"])))
    else:
        command = draw(st.sampled_from(["fixed-point", "fixed-point", "simulate", "simulate", "calibrate", "bogus"]))
        design = draw(st.sampled_from(["grid", "grid", "grid", "random", "random", "bogus"]))
        lines = ["[study]", f'command = "{command}"', f'design = "{design}"',
                 f"samples = {draw(st.sampled_from(['2', '2', '2', '0', '-1', '10000000']))}",
                 f"replicates = {draw(st.sampled_from(['1', '1', '1', '2', '0']))}", "[fixed]"]
        if command == "simulate":
            lines += ["steps = 20", "chains = 5"]
        if command == "calibrate":
            lines += ["dw-min = 0.01", "pulses = 50", "chains = 5"]
        for _ in range(draw(st.integers(0, 3)) // 2):
            lines.append(f'"{draw(_KEYS)}" = {draw(_VALUES)}')
        lines.append("[vary]")
        for key in draw(st.lists(_KEYS, max_size=2, unique=True)):
            if design == "random":
                lines.append(f'"{key}" = {{low = {draw(_VALUES)}, high = {draw(_VALUES)}}}')
            else:
                lines.append(f'"{key}" = [{draw(_VALUES)}, {draw(_VALUES)}]')
        text = "\n".join(lines) + "\n"
    return _input_file(text, f"{WORK}/studies", ".toml")


def _input_file(text: str, folder: str, suffix: str) -> str:
    """``text`` in a file named by its hash (the same input, the same file)."""
    import hashlib
    import os
    os.makedirs(folder, exist_ok=True)
    path = f"{folder}/{hashlib.md5(text.encode('utf-8', 'replace')).hexdigest()[:12]}{suffix}"
    with open(path, "w", encoding="utf-8", errors="replace") as f:
        f.write(text)
    return path


def _sweep_file(draw) -> str:
    """A pulse-sweep CSV: mostly valid (noisy linear steps), with hostile rows, headers and texts mixed in."""
    if draw(st.integers(0, 5)) == 0:
        text = draw(st.one_of(st.text(max_size=80), st.sampled_from(["", "direction,pulse,w\n", "a,b\n1,2\n"])))
    else:
        n = draw(st.sampled_from([3, 8, 30, 30]))
        slope = draw(st.sampled_from([0.0, 0.2, 1.0]))
        rows = ["direction,pulse,w"]
        w = 0.0
        for name, sign in (("up", 1), ("down", -1)):
            for k in range(n):
                rows.append(f"{name},{k},{w!r}")
                w += sign * 1e-2 * (1 - sign * slope * w)
        for _ in range(draw(st.integers(0, 2)) // 2):
            i = draw(st.integers(1, len(rows) - 1))
            rows[i] = draw(st.sampled_from(["up,1,nan", "sideways,1,0.1", "up,x,0.1", "down,0,1e300", "up", "up,1,2,3",
                                            "down,-5,0.1"]))
        text = "\n".join(rows) + "\n"
    return _input_file(text, f"{WORK}/sweeps", ".csv")


def check_call(argv: list[str]) -> tuple[int, str, str]:
    """Run one CLI call in-process under the rules above; returns (code, stdout, stderr)."""
    COUNTS[argv[0]] += 1
    out, err = io.StringIO(), io.StringIO()
    timer = threading.Timer(HANG_SECONDS, _thread.interrupt_main)
    # hypothesis times garbage collections with a gc callback; derive's SymPy budget (SIGALRM) can fire inside
    # it, and Python then prints "Exception ignored in: <gc_callback> Traceback ..." (the budget re-arms, see
    # aimc_theory.symbolic.engine.budget): the harness's callback, not the CLI's output, so it is off meanwhile
    harness_gc = [cb for cb in gc.callbacks if "hypothesis" in getattr(cb, "__module__", "")]
    t0 = time.perf_counter()
    timer.start()
    try:
        for cb in harness_gc:
            gc.callbacks.remove(cb)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:             # argparse: usage errors exit 2, --help 0
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        timer.cancel()
        gc.callbacks.extend(cb for cb in harness_gc if cb not in gc.callbacks)
    dt = time.perf_counter() - t0
    SLOWEST[argv[0]] = max(SLOWEST.get(argv[0], 0.0), dt)
    o, e = out.getvalue(), err.getvalue()
    assert code != 130, f"hang (> {HANG_SECONDS} s): {argv}"
    allowed = (0, 1, 2) if argv[0] in ("check", "sweep") else (0, 2)   # 1: an unexpected verdict, failed points
    assert code in allowed, f"exit {code}: {argv}\n{e[-2000:]}"
    assert "Traceback" not in e, f"traceback: {argv}\n{e[-2000:]}"
    if code == 2:
        lines = [line for line in e.replace("\r", "\n").splitlines()
                 if line.strip() and "ETA" not in line and not line.startswith("[")]
        assert o == "" and len(lines) == 1, f"exit 2 must print one line: {argv}\n{e!r}"
    else:
        data = json.loads(o, parse_constant=lambda c: (_ for _ in ()).throw(AssertionError(f"{c} in JSON")))
        assert isinstance(data, dict)
        _no_nan(data)
    return code, o, e


def _no_nan(x):
    if isinstance(x, float):
        assert math.isfinite(x)
    elif isinstance(x, dict):
        for v in x.values():
            _no_nan(v)
    elif isinstance(x, list):
        for v in x:
            _no_nan(v)


# -- drawn from the parameter table: every option of a command, hostile values by kind -------------------------

BASE = {  # small valid runs: the drawn options are appended (argparse: the last value of an option wins)
    "derive": ["derive", "--time-budget", "0.5"],
    "fixed-point": ["fixed-point"],
    "simulate": ["simulate", "--steps", "20", "--chains", "10"],
    "calibrate": ["calibrate", "--dw-min", "0.01", "--pulses", "200", "--chains", "5"],
    "presets": ["presets"],
    "train": ["train", "--hidden", "4", "--quiet", "--out", OUT],
    "reproduce": ["reproduce", "p1-fig2", "--steps", "5", "--seeds", "1", "--out", OUT],
}
_INTS = st.one_of(st.sampled_from(["1", "2", "3"]),
                  st.sampled_from(["-1", "0", "1.5", "x", "", "1e3", str(2 ** 63), "99999999999999999999999"]))
_TEXT = st.one_of(st.sampled_from(["bogus", "", "-1", "nan"]), st.text(max_size=12))


def _value(draw, p) -> list[str]:
    if p.kind == "flag":
        return [p.flag]
    if p.kind == "pairs":
        key = draw(st.sampled_from(PARAM_NAMES))
        return [p.short or p.flag, f"{key}={draw(_NUMBERS)}"]
    if p.kind == "float":
        v = draw(_NUMBERS)
    elif p.kind == "int":
        v = draw(_INTS)
    elif p.choices:
        v = draw(st.one_of(st.sampled_from(list(p.choices)), _TEXT))
    elif p.name in ("response", "main_response"):
        v = draw(FAMILIES)
    elif p.name == "algorithm":
        v = draw(ALGORITHMS)
    elif p.name in ("q_plus", "q_minus"):
        v = draw(EXPRESSIONS)
    else:
        v = draw(_TEXT)
    return [f"{p.flag}={v}"]          # --flag=VALUE: a value starting with '-' stays a value


@st.composite
def table_args(draw, command: str):
    """A small valid run of ``command`` plus 1-3 options drawn from its parameter table, hostile or not (a
    drawn option may not apply to the run: that must be exit 2 naming it)."""
    from aimc_theory.parameters import parameters
    options = [p for p in parameters(command).values() if not p.positional and p.name not in ("out", "json")]
    args = list(BASE[command])
    for p in draw(st.lists(st.sampled_from(options), min_size=1, max_size=3, unique_by=lambda p: p.name)):
        args += _value(draw, p)
    return args + ["--json"]


def names_a_parameter(command: str, stderr: str) -> bool:
    """The one error line names a parameter of the command (its flag, -p KEY, or argparse's usage line)."""
    from aimc_theory.parameters import parameters
    line = stderr.strip().splitlines()[-1]
    head = line.removeprefix("aimc-theory: error: ").split(":", 1)[0].split(" ")[0]
    flags = {p.flag for p in parameters(command).values()} | {p.short for p in parameters(command).values() if p.short}
    return head in flags or head == "usage"
