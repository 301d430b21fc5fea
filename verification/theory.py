"""The theory side of every check: predictions from the symbolic module only.

A :class:`Theory` wraps :mod:`aimc_theory.symbolic` with the knobs that negative controls
use to build a *wrong* theory on purpose:

* ``penalty_sign=-1``   q+ and q- exchanged: the asymmetric drift (and the penalty) flips sign;
* ``sp_shift=d``        the theory believes the response (and its SP) is moved by d;
* ``moment="std"``      E|g| replaced by the standard deviation s of the gradient noise;
* ``exact_convergence`` Analog SGD is claimed to have no asymptotic error (Thm 2 without S_K);
* ``ordering=-1``       every ordering the network claims predict is reversed (Analog SGD beats Residual
                        Learning, RL v1 beats E-RIDER under a reference offset, digital SGD misses the
                        reference accuracy, RL is worse than digital by more than the margin).

The correct theory is ``Theory()``. The simulation side never sees these objects.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp

from aimc_theory import symbolic
from aimc_theory.symbolic import crossbar, tracking
from aimc_theory.symbolic.calibration import calibration_theory
from aimc_theory.response import Response


@dataclass(frozen=True)
class Theory:
    penalty_sign: int = 1
    sp_shift: float = 0.0
    moment: str = "abs"
    exact_convergence: bool = False
    ema_ratio: str = "exact"          # "exact": beta/(2 - beta); "naive": beta (a wrong theory)
    threshold_scale: float = 1.0      # the bound |H| < scale * dw_min claimed after each RL-v2 step
    lemma35_factor: float = 2.0       # P2 Lemma 3.5's threshold 1 - factor |P - w_sp| cos / |P - Q|
    drift: str = "model"              # crossbar drift: the model's own, or forced "batch-mean"/"per-sample"
    ordering: int = 1                 # network claims: -1 predicts every ordering reversed
    up_down: float = 0.0              # a theory that believes the up steps are (1 - up_down) times smaller
    own_shapes: bool = True           # d2d: each device's own bounds/slopes (False: the mean device's shape)

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
        if self.drift != "model":
            parts.append(f"{self.drift} drift for every model")
        if self.ordering < 0:
            parts.append("network orderings reversed")
        if self.up_down:
            parts.append(f"up steps scaled by {1 - self.up_down:g}")
        if not self.own_shapes:
            parts.append("every device with the mean device's shape")
        if self.lemma35_factor != 2.0:
            parts.append(f"Lemma 3.5 factor {self.lemma35_factor:g}")
        return ", ".join(parts) or "correct theory"

    def response(self, resp: Response) -> Response:
        r = resp.shifted(self.sp_shift) if self.sp_shift else resp
        if self.up_down:
            from aimc_theory.response import from_expressions
            r = from_expressions(f"{1 - self.up_down!r}*({r.q_plus_expr})", str(r.q_minus_expr),
                                 range=(r.lo, r.hi), name=f"{r.name}(up_down {self.up_down:g})")
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

    # -- SP calibration and tracking (P2) -------------------------------------------------
    def calibration(self, resp: Response, dw_min: float, s_plus=1.0, s_minus=1.0):
        return calibration_theory(self.derive(resp), dw_min, s_plus, s_minus)

    def _population(self, preset, pop):
        """The preset and drawn devices as this theory sees them: q+/q- swapped, the response moved by
        sp_shift (an extra offset), the up steps scaled, or every device with the mean device's shape."""
        from dataclasses import replace
        if not self.own_shapes:
            preset = replace(preset, device_forms=None)
        if self.penalty_sign < 0:
            preset = replace(preset, q_plus=preset.q_minus, q_minus=preset.q_plus,
                             device_forms=preset.device_forms and preset.device_forms[::-1])
        if self.up_down:
            pop = replace(pop, s_plus=pop.s_plus * (1 - self.up_down))
        if self.sp_shift:
            pop = replace(pop, offsets=(0.0 if pop.offsets is None else pop.offsets) + self.sp_shift)
        return preset, pop

    def population_sps(self, preset, pop):
        """Each drawn device's SP and status (:func:`aimc_theory.preset_report.population_sps`)."""
        from aimc_theory.preset_report import population_sps
        return population_sps(*self._population(preset, pop))

    def population_fixed_points(self, preset, pop, L, w_star, s):
        """Each drawn device's Analog SGD fixed point and status on the scalar quadratic."""
        from aimc_theory.preset_report import population_forms
        preset, pop = self._population(preset, pop)
        forms, params, lo, hi, off = population_forms(pop, preset)
        return symbolic.population_fixed_points(*forms, pop.s_plus, pop.s_minus, lo, hi, L, w_star, s, params,
                                                moment=self.moment_fn, offsets=off)

    def population_rl_fixed_points(self, preset, pop, L, w_star, s):
        """Each drawn device's Residual Learning limit when the residual array is made of these devices."""
        from aimc_theory.preset_report import population_forms
        preset, pop = self._population(preset, pop)
        forms, params, _, _, off = population_forms(pop, preset)
        return symbolic.population_rl_fixed_points(*forms, pop.s_plus, pop.s_minus, L, w_star, s, params, off,
                                                   moment=self.moment_fn)[0]

    def symmetric_point(self, resp: Response) -> float:
        return float(self.derive(resp).symmetric_point)

    def ema_filter_gain(self, eta: float, omega):
        """|H(e^{j omega})|^2 of the EMA, from the SymPy derivation (a wrong theory: eta for eta^2)."""
        g = tracking.ema_filter_gain(eta if self.ema_ratio == "exact" else math.sqrt(eta))
        return sp.lambdify(tracking.OMEGA, g, "numpy")(np.asarray(omega, float))

    def lemma35_threshold(self, P, Q, w_sp):
        return tracking.lemma35_threshold(P, Q, w_sp, self.lemma35_factor)

    def crossbar_mean_field(self, resp_a: Response, A, b, lr, steps, w0, dw_min, desired_bl, per_sample: bool,
                            resp_c: Response | None = None, gamma=0.0, beta=0.0, desired_bl_transfer=31):
        """Expected crossbar dynamics on least squares (symbolic.crossbar); ``per_sample`` is the model's."""
        if self.drift != "model":
            per_sample = self.drift == "per-sample"
        return crossbar.mean_field(self.derive(resp_a), A, b, lr, steps, w0, dw_min, desired_bl,
                                   self.derive(resp_c) if resp_c is not None else None, gamma, beta,
                                   desired_bl_transfer, per_sample)

    def rider_fixed_point_ls(self, resp_p: Response, H, W_star, s, beta, eta, W0, Q0):
        return tracking.rider_fixed_point_ls(self.derive(resp_p), H, W_star, s, beta, eta, W0, Q0,
                                             moment=self.moment_fn)

    def rider_fixed_point(self, resp_p: Response, resp_w: Response, L, w_star, s, beta, eta, w0, q0):
        return tracking.rider_fixed_point(self.derive(resp_p), self.derive(resp_w), L, w_star, s, beta, eta,
                                          w0, q0, moment=self.moment_fn)


def _derive(resp: Response, penalty: bool) -> symbolic.Derivation:
    """Derivations are cached by the response's definition (they cost up to a few seconds)."""
    return _derive_cached(_Definition(resp, penalty))


class _Definition:
    """Cache key: a response's immutable definition (range, SymPy q+/q-), not its identity."""

    def __init__(self, resp: Response, penalty: bool):
        self.resp = resp
        self.key = (resp.lo, resp.hi, resp.q_plus_expr, resp.q_minus_expr, penalty)

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, _Definition) and self.key == other.key


@lru_cache(maxsize=256)
def _derive_cached(definition: _Definition) -> symbolic.Derivation:
    return symbolic.derive(definition.resp, penalty=definition.key[-1])

