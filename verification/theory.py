"""The theory side of every check: predictions from the symbolic module only.

A :class:`Theory` wraps :mod:`aimc_theory.symbolic` with the knobs that negative controls
use to build a *wrong* theory on purpose:

* ``penalty_sign=-1``   q+ and q- exchanged: the asymmetric drift (and the penalty) flips sign;
* ``sp_shift=d``        the theory believes the response (and its SP) is moved by d;
* ``moment="std"``      E|g| replaced by the standard deviation s of the gradient noise;
* ``moment="variance"`` E|g| replaced by the variance s^2 (a penalty weighted by s^2);
* ``moment="gaussian"`` E|g| of Gaussian noise (sqrt(2/pi) s at the optimum) whatever the noise law;
* ``exact_convergence`` Analog SGD is claimed to have no asymptotic error (Thm 2 without S_K; every
                        fixed point at the optimum, RL and RIDER without bias);
* ``small_bias``        P1 eq. 43's first-order fixed point (m ~ Sigma, R linear at the SP) in place of
                        the exact root of the mean drift;
* ``variance_factor=f`` every stationary variance the theory predicts multiplied by f (0.5: a factor 2
                        missing in a variance);
* ``lr_order=1``        the stationary variance of Analog SGD with lr instead of lr^2 (v lr/(1 - rho^2));
* ``no_cycle_noise``    the cycle-to-cycle noise left out of the theory (where the theory models it);
* ``ordering=-1``       every ordering the network claims predict is reversed (Analog SGD beats Residual
                        Learning, RL v1 beats E-RIDER under a reference offset, digital SGD misses the
                        reference accuracy, RL is worse than digital by more than the margin).

The correct theory is ``Theory()``. The simulation side never sees these objects.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import sympy as sp

from aimc_theory import symbolic
from aimc_theory.symbolic import crossbar, tracking
from aimc_theory.symbolic.calibration import calibration_theory
from aimc_theory.symbolic.moments import MOMENTS
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
    small_bias: bool = False          # P1 eq. 43's first-order fixed point instead of the exact drift root
    variance_factor: float = 1.0      # every predicted stationary variance times this factor
    lr_order: int = 2                 # Analog SGD's stationary variance ~ lr^lr_order v/(1 - rho^2)
    no_cycle_noise: bool = False      # the theory ignores the cycle-to-cycle noise

    @property
    def label(self) -> str:
        parts = []
        if self.penalty_sign < 0:
            parts.append("penalty with the wrong sign")
        if self.sp_shift:
            parts.append(f"SP moved by {self.sp_shift:g}")
        if self.moment != "abs":
            parts.append({"std": "noise moment s instead of E|g|", "variance": "noise moment s^2 instead of E|g|",
                          "gaussian": "E|g| of Gaussian noise whatever the law"}[self.moment])
        if self.small_bias:
            parts.append("small-bias fixed point (P1 eq. 43)")
        if self.variance_factor != 1.0:
            parts.append(f"variances times {self.variance_factor:g}")
        if self.lr_order != 2:
            parts.append(f"variance ~ lr^{self.lr_order}")
        if self.no_cycle_noise:
            parts.append("no cycle-to-cycle noise")
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
            r = r.scaled_up(1 - self.up_down)
        return r.swapped() if self.penalty_sign < 0 else r

    def asymmetry(self, resp: Response) -> sp.Expr:
        """G = (q- - q+)/2 as this theory sees the response (SymPy in w), also where it has no SP."""
        from aimc_theory.expressions import W as w
        qp, qm = resp.q_plus_expr, resp.q_minus_expr
        if self.sp_shift:
            qp, qm = qp.subs(w, w - self.sp_shift), qm.subs(w, w - self.sp_shift)
        if self.up_down:
            qp = (1 - self.up_down) * qp
        if self.penalty_sign < 0:
            qp, qm = qm, qp
        return sp.simplify((qm - qp) / 2)

    def derive(self, resp: Response, penalty: bool = False) -> symbolic.Derivation:
        """The symbolic derivation; the closed-form penalty search (seconds) only on request."""
        return _derive(self.response(resp), penalty)

    @property
    def moment_fn(self):
        return self.moment_for("gaussian")

    def moment_for(self, law: str):
        """E|g| as a function of (mu, s) for gradient noise of this law, as this theory takes it."""
        if self.moment == "abs":
            return MOMENTS[law]
        return {"gaussian": symbolic.folded_normal_mean, "std": symbolic.constant_moment,
                "variance": _variance_moment}[self.moment]

    def sigma(self, s: float, law: str = "gaussian") -> float:
        """Sigma = E|g| at the optimum for noise of this law and std s."""
        return float(self.moment_for(law)(sp.Integer(0), sp.Float(s)))

    # -- predictions ------------------------------------------------------------------
    def analog_update(self, resp: Response, w, dw):
        d = self.derive(resp)
        return w + dw * d.F_fn(w) - np.abs(dw) * d.G_fn(w)

    def fixed_point(self, resp: Response, L, w_star, s, lr, grad=None, w_guess=None, law="gaussian"):
        fp = symbolic.analog_sgd_fixed_point(self.derive(resp), L, w_star, s, lr,
                                             moment=self.moment_for(law), grad=grad, w_guess=w_guess)
        if self.exact_convergence:
            fp = replace(fp, exact=w_star, small_bias=w_star)
        elif self.small_bias:
            fp = replace(fp, exact=fp.small_bias)
        variance = fp.variance * self.variance_factor * lr ** (self.lr_order - 2)
        return replace(fp, variance=variance) if variance != fp.variance else fp

    def drift_derivatives(self, resp: Response, L, w_star, s, lr) -> tuple[float, float, float]:
        """First three derivatives of the mean drift D(w) = f'(w) F + m(f') G at this theory's fixed point."""
        from aimc_theory.expressions import W as w
        fp = self.fixed_point(resp, L, w_star, s, lr)
        d1 = sp.diff(fp.drift, w)
        d2 = sp.diff(d1, w)
        d3 = sp.diff(d2, w)
        return tuple(float(d.subs(w, fp.exact).evalf()) for d in (d1, d2, d3))

    def fixed_point_ls(self, resp: Response, H, W_star, s, lr, law="gaussian"):
        fp = symbolic.analog_sgd_fixed_point_ls(self.derive(resp), H, W_star, s, lr,
                                                moment=self.moment_for(law))
        if self.exact_convergence:
            W_star = np.asarray(W_star, float)
            return replace(fp, exact=W_star, small_bias=W_star)
        return replace(fp, exact=fp.small_bias) if self.small_bias else fp

    # -- Residual Learning (spec C, F.4) ----------------------------------------------
    def rl_fixed_point(self, resp_p: Response, L, w_star, s, law="gaussian"):
        return self._rl(symbolic.residual_learning_fixed_point(self.derive(resp_p), L, w_star, s,
                                                               moment=self.moment_for(law)))

    def rl_fixed_point_ls(self, resp_p: Response, H, W_star, s):
        return self._rl(symbolic.residual_learning_fixed_point_ls(self.derive(resp_p), H, W_star, s,
                                                                  moment=self.moment_fn))

    def _rl(self, fp):
        """The RL limit as this theory sees it: no bias (exact convergence) or the first-order bias."""
        if self.exact_convergence:
            zero = 0.0 * np.asarray(fp.bias, float)
            return replace(fp, exact=fp.exact - fp.bias, bias=zero if zero.ndim else 0.0,
                           small_bias=zero if zero.ndim else 0.0)
        if self.small_bias:
            return replace(fp, exact=fp.exact - fp.bias + fp.small_bias, bias=fp.small_bias)
        return fp

    def rl_linearized(self, resp_p: Response, L, s, lr, beta, gamma):
        return symbolic.residual_learning_linearized(self.derive(resp_p), L, s, lr, beta, gamma,
                                                     moment=self.moment_fn)

    def rl_variance(self, resp_p: Response, L, s, lr, beta, gamma) -> float:
        """RL v1's stationary Var(W_bar) to leading order, lr * lim Var/lr (beta/lr fixed; spec F.4 loop), with
        the variance knobs applied as to every predicted variance."""
        from aimc_theory.symbolic.residual_learning import residual_learning_variance
        lv = residual_learning_variance(self.derive(resp_p), L, s, lr, beta, gamma, moment=self.moment_fn)
        return lv.per_lr * lr * self.variance_factor * lr ** (self.lr_order - 2)

    def rl_marginal_damping(self, resp_p: Response, L) -> float:
        """gamma = 0, no noise: growth of 1/amplitude per step and unit lr, (2/(3 pi)) L G_P'(0)."""
        from aimc_theory.symbolic.residual_learning import residual_learning_marginal_damping
        return residual_learning_marginal_damping(self.derive(resp_p), L)

    def rl_read_noise_fixed_point(self, resp_p: Response, resp_w: Response, L, w_star, s, read_noise, gamma):
        fp = symbolic.residual_learning_read_noise_fixed_point(
            self.derive(resp_p), self.derive(resp_w), L, w_star, s, read_noise, gamma, moment=self.moment_fn)
        if self.exact_convergence:       # RL unbiased whatever the read
            return replace(fp, exact=w_star, bias=0.0)
        if self.small_bias:
            from aimc_theory.symbolic.residual_learning import residual_learning_read_noise_small_bias
            return residual_learning_read_noise_small_bias(self.derive(resp_p), self.derive(resp_w), L, w_star, s,
                                                           read_noise, gamma, moment=self.moment_fn)
        return fp

    def ema_variance_ratio(self, beta) -> float:
        ratio = float(symbolic.ema_noise_variance_ratio(beta)) if self.ema_ratio == "exact" else float(beta)
        return ratio * self.variance_factor

    # -- SP calibration and tracking (P2) -------------------------------------------------
    def calibration(self, resp: Response, dw_min: float, s_plus=1.0, s_minus=1.0, sigma_c: float = 0.0,
                    c2c_model: str = "additive"):
        """The zero-shifting theory (symbolic.calibration) with cycle-to-cycle noise ``sigma_c`` of the model
        ``c2c_model``; ``no_cycle_noise`` drops the noise (the noise-free theory), ``variance_factor`` scales
        the predicted stationary variances (the stochastic floor and the cyclic spread)."""
        th = calibration_theory(self.derive(resp), dw_min, s_plus, s_minus,
                                sigma_c=0.0 if self.no_cycle_noise else sigma_c, c2c_model=c2c_model)
        return th if self.variance_factor == 1.0 else _ScaledFloor(th, self.variance_factor)

    def calibration_next_order(self, resp: Response, dw_min: float, sigma_c: float = 0.0,
                               c2c_model: str = "additive"):
        """The curvature terms the linearized zero-shifting theory leaves out (symbolic.calibration), for
        this theory's response (and noise: none with ``no_cycle_noise``)."""
        sigma = 0.0 if self.no_cycle_noise else float(sigma_c)
        return _next_order_cached(_Definition(self.response(resp), False), float(dw_min), sigma,
                                  c2c_model if sigma else "additive")

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
        fp = tracking.rider_fixed_point_ls(self.derive(resp_p), H, W_star, s, beta, eta, W0, Q0,
                                           moment=self.moment_fn)
        return self._rider(fp, W_star)

    def rider_fixed_point(self, resp_p: Response, resp_w: Response, L, w_star, s, beta, eta, w0, q0):
        fp = tracking.rider_fixed_point(self.derive(resp_p), self.derive(resp_w), L, w_star, s, beta, eta,
                                        w0, q0, moment=self.moment_fn)
        return self._rider(fp, w_star)

    def _rider(self, fp, w_star):
        """exact_convergence: P2 Thm 3.7 as stated (W -> W*, Q -> the SP of P)."""
        if not self.exact_convergence:
            return fp
        return replace(fp, exact=w_star, main=w_star, reference=fp.residual_sp)


def _variance_moment(mu, s):
    """A wrong theory: E|g| replaced by the variance s^2 of the gradient noise."""
    return s ** 2 + 0 * mu


class _ScaledFloor:
    """A calibration theory whose stationary variances (the stochastic floor, the cyclic scheme's noise
    spread) are scaled by a wrong factor."""

    def __init__(self, th, factor: float):
        self._th, self._factor = th, factor

    def __getattr__(self, name):
        return getattr(self._th, name)

    @property
    def stochastic_second_moment(self):
        return self._th.stochastic_second_moment * self._factor

    def stochastic_moments(self, x0, n):
        """(E x_n, E x_n^2) with the stationary part C (1 - a^n)/(1 - a) of E x_n^2 scaled."""
        m1, m2 = self._th.stochastic_moments(x0, n)
        a = self._th.stochastic_a
        return m1, m2 + (self._factor - 1) * self._th.stochastic_second_moment * (1 - a ** np.asarray(n, float))

    @property
    def cycle_variance(self):
        return tuple(v * self._factor for v in self._th.cycle_variance)

    def cyclic_variance(self, x0, n):
        return self._th.cyclic_variance(x0, n) * self._factor


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


@lru_cache(maxsize=64)
def _next_order_cached(definition: _Definition, dw_min: float, sigma_c: float = 0.0, c2c_model: str = "additive"):
    from aimc_theory.symbolic.calibration import calibration_next_order
    return calibration_next_order(_derive(definition.resp, False), dw_min, sigma_c=sigma_c, c2c_model=c2c_model)


@lru_cache(maxsize=256)
def _derive_cached(definition: _Definition) -> symbolic.Derivation:
    return symbolic.derive(definition.resp, penalty=definition.key[-1])

