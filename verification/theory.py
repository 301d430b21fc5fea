"""The theory side of every check: predictions from the symbolic module only.

A :class:`Theory` wraps :mod:`aimc_theory.symbolic` with the knobs that negative controls
use to build a *wrong* theory on purpose:

* ``penalty_sign=-1``   q+ and q- exchanged: the asymmetric drift (and the penalty) flips sign;
* ``sp_shift=d``        the theory believes the response (and its SP) is moved by d;
* ``moment="std"``      E|g| replaced by the standard deviation s of the gradient noise;
* ``exact_convergence`` Analog SGD is claimed to have no asymptotic error (Thm 2 without S_K).

The correct theory is ``Theory()``. The simulation side never sees these objects.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from aimc_theory import symbolic
from aimc_theory.response import Response


@dataclass(frozen=True)
class Theory:
    penalty_sign: int = 1
    sp_shift: float = 0.0
    moment: str = "abs"
    exact_convergence: bool = False

    @property
    def label(self) -> str:
        parts = []
        if self.penalty_sign < 0:
            parts.append("penalty with the wrong sign")
        if self.sp_shift:
            parts.append(f"SP moved by {self.sp_shift:g}")
        if self.moment != "abs":
            parts.append("noise moment s instead of E|g|")
        if self.exact_convergence:
            parts.append("no asymptotic error")
        return ", ".join(parts) or "correct theory"

    def response(self, resp: Response) -> Response:
        r = resp.shifted(self.sp_shift) if self.sp_shift else resp
        return r.swapped() if self.penalty_sign < 0 else r

    def derive(self, resp: Response) -> symbolic.Derivation:
        return _derive(self.response(resp))

    @property
    def moment_fn(self):
        return symbolic.folded_normal_mean if self.moment == "abs" else symbolic.constant_moment

    def sigma(self, s: float) -> float:
        """Sigma = E|g| at the optimum for Gaussian noise of std s."""
        return float(self.moment_fn(sp.Integer(0), sp.Float(s)))

    # -- predictions ------------------------------------------------------------------
    def analog_update(self, resp: Response, w, dw):
        d = self.derive(resp)
        return w + dw * d.F_fn(w) - np.abs(dw) * d.G_fn(w)

    def fixed_point(self, resp: Response, L, w_star, s, lr, grad=None, w_guess=None):
        return symbolic.analog_sgd_fixed_point(self.derive(resp), L, w_star, s, lr,
                                               moment=self.moment_fn, grad=grad, w_guess=w_guess)

    def fixed_point_ls(self, resp: Response, H, W_star, s, lr):
        return symbolic.analog_sgd_fixed_point_ls(self.derive(resp), H, W_star, s, lr,
                                                  moment=self.moment_fn)


_CACHE: dict = {}


def _derive(resp: Response) -> symbolic.Derivation:
    """Derivations are cached by the response's definition (they cost up to a few seconds)."""
    key = (resp.lo, resp.hi, sp.srepr(resp.q_plus_expr), sp.srepr(resp.q_minus_expr))
    if key not in _CACHE:
        _CACHE[key] = symbolic.derive(resp)
    return _CACHE[key]
