"""The SymPy engine shared by the symbolic modules: a time budget for SymPy calls, cached
lambdified callables of expressions in ``w``, and the common symbols.

A SymPy call on a user's expression can run for minutes. :func:`attempt` bounds it: in the main thread
with SIGALRM; elsewhere (worker threads, platforms without SIGALRM) in a forked child process that is
killed at the deadline; where neither exists the call runs unbounded and the note says so. Every
give-up is recorded in a ``notes`` list, which the results carry (``Derivation.notes``, JSON ``notes``),
so that a closed form that became an unevaluated integral is never silent.
"""
from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import threading
import time
import weakref
from contextlib import contextmanager
from functools import lru_cache

import numpy as np
import sympy as sp
from sympy.core.function import PoleError
from sympy.polys.polyerrors import BasePolynomialError

from ..expressions import W

MU = sp.Symbol("mu", real=True)
S = sp.Symbol("s", positive=True)
T = sp.Symbol("t", real=True)
SQRT2 = sp.sqrt(2)


class Timeout(Exception):
    pass


_WEAKREF_FILE = weakref.__file__


def _in_callback(frame, depth: int = 50) -> bool:
    """Whether ``frame`` runs inside code whose exceptions Python swallows: a weakref callback (in weakref.py), a
    finalizer (``__del__``) or a gc callback (``gc.callbacks``, e.g. hypothesis's), within ``depth`` frames."""
    hooks = [getattr(cb, "__code__", None) for cb in gc.callbacks]
    while frame is not None and depth > 0:
        code = frame.f_code
        if code.co_filename == _WEAKREF_FILE or code.co_name == "__del__" or any(code is h for h in hooks):
            return True
        frame, depth = frame.f_back, depth - 1
    return False


@contextmanager
def budget(seconds: float):
    """Interrupt a SymPy call after ``seconds`` (only possible in the main thread)."""
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    active = [True]

    def handler(signum, frame):
        if not active[0]:           # the body is done: never raise into the cleanup below
            return
        if _in_callback(frame):
            # a weakref callback (SymPy's caches drop dead keys in them), a finalizer or a gc callback swallows what
            # it raises, and Python reports it as "Exception ignored": try again once the callback has returned
            signal.setitimer(signal.ITIMER_REAL, 0.01)
            return
        # re-arm: an exception raised inside a gc or weakref callback is swallowed by Python, and the
        # budget must not be lost with it (the cleanup disarms the timer)
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        raise Timeout()

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
        active[0] = False           # first thing after a normal exit
    finally:
        active[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# SymPy's own failures are not ValueErrors: the polys errors (PolynomialError from the Risch integrator,
# CoercionFailed, GeneratorsNeeded, ...) share BasePolynomialError, limits and series raise PoleError, evalf
# PrecisionExhausted (an ArithmeticError); each means "no symbolic answer", so the numeric path takes over.
# RuntimeError (RecursionError is one) and AssertionError (SymPy's internal asserts) too: a forked child
# reports any exception as a give-up (_in_child), the main thread must not do less
_GAVE_UP = (NotImplementedError, TypeError, ValueError, ArithmeticError, AttributeError, RuntimeError,
            AssertionError, MemoryError, LookupError, BasePolynomialError, PoleError)
GAVE_UP = _GAVE_UP      # for callers that map the same failures to one InputError line (derivation.derive)


def attempt(fn, seconds, notes: list | None = None, what: str = "a SymPy call"):
    """``fn()`` bounded by ``seconds``; None (and a line in ``notes``) when it times out or SymPy gives up."""
    def note(text):
        # each line once: two attempts at the same thing that give up alike (the penalty integral's) would say it twice
        if notes is not None and f"{what}: {text}" not in notes:
            notes.append(f"{what}: {text}")

    can_alarm = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if seconds is None or can_alarm:
        try:
            with budget(seconds if can_alarm else None):
                return fn()
        except Timeout:
            note(f"timed out after {seconds:g} s")
            return None
        except _GAVE_UP as exc:
            note(f"SymPy gave up ({type(exc).__name__})")
            return None
    if "fork" in multiprocessing.get_all_start_methods():
        return _in_child(fn, seconds, note)
    note("not time-limited here (no SIGALRM in this thread and no fork on this platform)")
    try:
        return fn()
    except _GAVE_UP as exc:
        note(f"SymPy gave up ({type(exc).__name__})")
        return None


class Deadline:
    """A total budget for a sequence of SymPy calls: each call gets min(its own budget, what is left)."""

    def __init__(self, per_call: float | None, total: float | None):
        self.per_call = per_call
        self.end = None if total is None else time.monotonic() + total

    def __call__(self) -> float | None:
        if self.end is None:
            return self.per_call
        left = max(0.01, self.end - time.monotonic())
        return left if self.per_call is None else min(self.per_call, left)


def _in_child(fn, seconds, note):
    """``fn()`` in a forked child killed at the deadline (threads cannot be interrupted). A bare
    ``os.fork``, not ``multiprocessing.Process``: it also works inside daemonic processes (process pools,
    Dask workers), which multiprocessing forbids to have children."""
    recv, send = multiprocessing.Pipe(duplex=False)
    pid = os.fork()
    if pid == 0:                          # the child: compute, report, exit without cleanup handlers
        try:
            recv.close()
            try:
                out = ("ok", fn())
            except _GAVE_UP as exc:
                out = ("gave-up", type(exc).__name__)
            except Exception as exc:      # noqa: BLE001 -- reported to the parent, never silently lost
                out = ("error", f"{type(exc).__name__}: {exc}")
            try:
                send.send(out)
            except Exception:             # noqa: BLE001 -- an unpicklable result counts as a give-up
                send.send(("gave-up", "unpicklable result"))
        finally:
            os._exit(0)
    send.close()
    try:
        if recv.poll(seconds):
            kind, value = recv.recv()
        else:
            kind, value = "timeout", None
    except EOFError:
        kind, value = "gave-up", "the worker process died"
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        recv.close()
    if kind == "ok":
        return value
    note(f"timed out after {seconds:g} s" if kind == "timeout" else f"SymPy gave up ({value})")
    return None


def lambdify_w(expr):
    """A NumPy callable of an expression in ``w`` that always returns an array shaped like w."""
    return _lambdify_cached(sp.sympify(expr))


def lambdify_w_raw(expr):
    """SymPy's lambdified NumPy function of an expression in ``w`` as it is (a constant expression returns a
    scalar): :func:`lambdify_w` without its broadcast, for callers that only combine it with arrays shaped like w."""
    return _lambdify_raw(sp.sympify(expr))


@lru_cache(maxsize=512)
def _lambdify_raw(expr: sp.Expr):
    # SymPy expressions are immutable and hashable; lambdify costs milliseconds per call
    return sp.lambdify(W, expr, modules=["numpy", {"erf": erf}])


@lru_cache(maxsize=512)
def _lambdify_cached(expr: sp.Expr):
    f = _lambdify_raw(expr)
    return lambda w, f=f: np.asarray(f(w), dtype=float) * np.ones_like(w, dtype=float)


def lambdify_forms(q_plus, q_minus, names):
    """NumPy q+(w, *params), q+'(w, *params), q-(w, *params), q-'(w, *params) (w-derivatives) from
    per-device response expressions in ``w`` and the parameters ``names`` (strings are parsed safely;
    SymPy expressions are used as they are). Every result is shaped like the broadcast arguments."""
    from ..errors import InputError
    from ..expressions import parse
    syms = [sp.Symbol(n, real=True) for n in names]
    out = []
    for i, e in enumerate((q_plus, q_minus)):
        what = "q_plus" if i == 0 else "q_minus"
        expr = parse(e, list(names), what=what) if isinstance(e, str) else sp.sympify(e)
        try:
            forms = [sp.lambdify((W, *syms), f, modules=["numpy", {"erf": erf}]) for f in (expr, sp.diff(expr, W))]
        except _GAVE_UP as exc:         # SymPy on a user's expression: one line, never a traceback
            raise InputError(what, f"SymPy cannot differentiate or compile {e!r}: {type(exc).__name__}") from None
        for g in forms:
            out.append(lambda w, *a, g=g: np.asarray(g(w, *a), float) * np.ones_like(w, dtype=float))
    return out


def bisect_increasing(h, lo, hi, iters: int = 80):
    """Vectorized bisection for the sign change of h from - to + between the arrays lo and hi."""
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        pos = h(mid) > 0
        hi = np.where(pos, mid, hi)
        lo = np.where(pos, lo, mid)
    return 0.5 * (lo + hi)


def lambdify_mu(expr):
    """A NumPy callable of an expression in ``mu`` (noise moments)."""
    return sp.lambdify(MU, expr, modules=["numpy", {"erf": erf}])


def erf(x):
    from scipy.special import erf as _erf
    return _erf(x)
