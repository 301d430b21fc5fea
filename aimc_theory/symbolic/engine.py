"""The SymPy engine shared by the symbolic modules: a time budget for SymPy calls, cached
lambdified callables of expressions in ``w``, and the common symbols."""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from functools import lru_cache

import numpy as np
import sympy as sp

from ..expressions import W

MU = sp.Symbol("mu", real=True)
S = sp.Symbol("s", positive=True)
T = sp.Symbol("t", real=True)
SQRT2 = sp.sqrt(2)


class Timeout(Exception):
    pass


@contextmanager
def budget(seconds: float):
    """Interrupt a SymPy call after ``seconds`` (only possible in the main thread)."""
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Timeout()

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def attempt(fn, seconds):
    try:
        with budget(seconds):
            return fn()
    except Timeout:
        return None
    except (NotImplementedError, TypeError, ValueError, ZeroDivisionError, AttributeError,
            RecursionError):
        return None  # SymPy gave up or produced something it cannot handle



def lambdify_w(expr):
    """A NumPy callable of an expression in ``w`` that always returns an array shaped like w."""
    return _lambdify_cached(sp.sympify(expr))


@lru_cache(maxsize=512)
def _lambdify_cached(expr: sp.Expr):
    # SymPy expressions are immutable and hashable; lambdify costs milliseconds per call
    f = sp.lambdify(W, expr, modules=["numpy", {"erf": erf}])
    return lambda w, f=f: np.asarray(f(w), dtype=float) * np.ones_like(w, dtype=float)


def lambdify_mu(expr):
    """A NumPy callable of an expression in ``mu`` (noise moments)."""
    return sp.lambdify(MU, expr, modules=["numpy", {"erf": erf}])


def erf(x):
    from scipy.special import erf as _erf
    return _erf(x)
