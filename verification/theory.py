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
    ema_ratio: str = "exact"          # "exact": beta/(2 - beta); "naive": beta (a wrong theory)
    threshold_scale: float = 1.0      # the bound |H| < scale * dw_min claimed after each RL-v2 step

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
        if self.ema_ratio != "exact":
            parts.append("EMA variance ratio beta")
        if self.threshold_scale != 1.0:
            parts.append(f"buffer bound {self.threshold_scale:g} dw_min")
        return ", ".join(parts) or "correct theory"

    def response(self, resp: Response) -> Response:
        r = resp.shifted(self.sp_shift) if self.sp_shift else resp
        return r.swapped() if self.penalty_sign < 0 else r

    def derive(self, resp: Response, penalty: bool = False) -> symbolic.Derivation:
        """The symbolic derivation; the closed-form penalty search (seconds) only on request."""
        return _derive(self.response(resp), penalty)

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

    # -- Residual Learning (spec C, F.4) ----------------------------------------------
    def rl_fixed_point(self, resp_p: Response, L, w_star, s):
        return symbolic.residual_learning_fixed_point(self.derive(resp_p), L, w_star, s, moment=self.moment_fn)

    def rl_fixed_point_ls(self, resp_p: Response, H, W_star, s):
        return symbolic.residual_learning_fixed_point_ls(self.derive(resp_p), H, W_star, s,
                                                         moment=self.moment_fn)

    def rl_linearized(self, resp_p: Response, L, s, lr, beta, gamma):
        return symbolic.residual_learning_linearized(self.derive(resp_p), L, s, lr, beta, gamma,
                                                     moment=self.moment_fn)

    def rl_read_noise_fixed_point(self, resp_p: Response, resp_w: Response, L, w_star, s, read_noise, gamma):
        return symbolic.residual_learning_read_noise_fixed_point(
            self.derive(resp_p), self.derive(resp_w), L, w_star, s, read_noise, gamma, moment=self.moment_fn)

    def ema_variance_ratio(self, beta) -> float:
        return float(symbolic.ema_noise_variance_ratio(beta)) if self.ema_ratio == "exact" else float(beta)


_CACHE: dict = {}


def _derive(resp: Response, penalty: bool) -> symbolic.Derivation:
    """Derivations are cached by the response's definition (they cost up to a few seconds)."""
    key = (resp.lo, resp.hi, sp.srepr(resp.q_plus_expr), sp.srepr(resp.q_minus_expr), penalty)
    if key not in _CACHE:
        _CACHE[key] = symbolic.derive(resp, penalty=penalty)
    return _CACHE[key]

