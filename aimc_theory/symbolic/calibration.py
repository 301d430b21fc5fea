"""Theory of zero-shifting SP calibration (P2 section 2, Thm 2.2, C.2-C.4; spec F.3).

Write x = w - w_sp for the error. Near the SP a pulse is an affine map of x:

    up:   x <- (1 - k_+) x + c,     down: x <- (1 - k_-) x - c,

with k_+ = -dw s_+ q+'(w_sp), k_- = dw s_- q-'(w_sp) (per-pulse contraction) and
c = dw s_+ q+(w_sp) = dw s_- q-(w_sp) (the common step at the SP). For linear (soft-bounds) responses
the maps are exact; otherwise this is G linearized at the SP, and the cyclic 2-cycle is also solved
exactly on the nonlinear pulse maps. Closed forms:

* cyclic (up, down): pair contraction rho2 = (1 - k_+)(1 - k_-); 2-cycle
  x_up = c k_+/(k_+ + k_- - k_+ k_-), x_down = -c k_-/(k_+ + k_- - k_+ k_-);
* stochastic: E x' = (1 - (k_+ + k_-)/2) E x; E x^2 -> c^2/(1 - [(1-k_+)^2 + (1-k_-)^2]/2);
  the second moment after N pulses follows the exact 2x2 linear recursion of (E x, E x^2).

The paper's bounds (P2 Thm 2.2, C.2, C.3, C.4) are given next to them with phi(w) = int_SP^w G,
L_q = max |G'| and q_max = max(q+, q-) over the device range, mu_q = min(q-', -q+') at the SP;
Thm C.2 prints "N <=" for the pulse count, its proof gives ">=" (used here).

:func:`calibration_next_order` computes what the linearization leaves out (the curvature terms from the
second and third derivatives of q+- at the SP): the O(dw)-relative correction of the stochastic floor, and a
rigorous (Banach) bound on the distance between the closed-form 2-cycle / pair contraction and those of the
nonlinear pulse maps.

Cycle-to-cycle noise (``sigma_c``; P1 App. C). Each pulse adds a zero-mean term xi (gamma x + delta), xi ~ N(0, 1):

* ``additive`` (this toolkit's pulse model, w <- w +- dw (q(w) + sigma_c xi)): gamma = 0, delta = dw sigma_c
  (noise variance dw^2 sigma_c^2 per pulse, whatever the device's step scales);
* ``multiplicative`` (the reference simulator's default, w <- w +- dw q(w) (1 + sigma_c xi)): the noise is
  sigma_c times the step, sigma_c (c - k_+ x) up and -sigma_c (c + k_- x) down (variance sigma_c^2 (dw q(w))^2:
  to first order sigma_c^2 c^2; the x-dependent part is kept exactly, see below).

The means are those of the noise-free maps. The second moments obey exact linear recursions (exact for
affine responses): one pulse x' = alpha x + beta + xi (gamma x + delta) gives
E x'^2 = A E x^2 + B E x + C with A = alpha^2 + gamma^2, B = 2 (alpha beta + gamma delta), C = beta^2 + delta^2.

* stochastic: average the up and down rows: E x'^2 = a' E x^2 + b' E x + C', stationary
  E x^2 = C'/(1 - a'); additive: (c^2 + dw^2 sigma_c^2)/(1 - a), multiplicative:
  c^2 (1 + sigma_c^2)/(1 - a - sigma_c^2 (k_+^2 + k_-^2)/2) (a = [(1-k_+)^2 + (1-k_-)^2]/2);
* cyclic: a period-2 linear AR process. Its mean is the noise-free 2-cycle; its variance obeys
  V' = A_+- V + eta^2 with eta = gamma mu + delta at the mean mu before the pulse. Around the 2-cycle
  eta_+ = gamma_+ x_down + delta_+, eta_- = gamma_- x_up + delta_- (additive: both dw sigma_c; multiplicative:
  +-sigma_c (x_up - x_down), the step at the cycle), so the stationary spreads are
  V_down = (A_- eta_+^2 + eta_-^2)/(1 - A_+ A_-), V_up = (A_+ eta_-^2 + eta_+^2)/(1 - A_+ A_-);
  during the approach the forcing is a sum of geometric terms in rho2^j, summed in closed form.

With noise the cyclic floor is no longer O(dw): its spread is ~ dw sigma_c/sqrt(k_+ + k_-) = O(sqrt(dw)),
like the stochastic floor, and a device does not stay inside a band narrower than a few spreads; the
criteria below use the RMS error sqrt(E x_n^2) for both schemes then.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import sympy as sp
from scipy import integrate, optimize, special

from ..errors import InputError, require_nonnegative, require_positive
from ..expressions import W
from ..response import scan_grid
from .derivation import Derivation
from .engine import bisect_increasing, lambdify_forms, lambdify_w

C2C_MODELS = ("additive", "multiplicative")


def check_noise(sigma_c, c2c_model: str = "additive") -> float:
    """``sigma_c`` as a float >= 0, and ``c2c_model`` one of :data:`C2C_MODELS` (InputError otherwise)."""
    sigma = require_nonnegative("sigma_c", sigma_c)
    if c2c_model not in C2C_MODELS:
        raise InputError("c2c_model", f"must be one of {', '.join(C2C_MODELS)} (got {c2c_model!r})")
    return sigma


def _one_minus_power(a, n):
    """1 - a^n, without the cancellation at a ~ 1 (-expm1(n ln a) for a > 0)."""
    a, n = np.broadcast_arrays(np.asarray(a, float), np.asarray(n, float))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        return np.where(a > 0, -np.expm1(n * np.log(np.where(a > 0, a, 1.0))), 1 - a ** n)


def _geometric_sum(A, r, n):
    """sum_{j<n} A^(n-1-j) r^j = (A^n - r^n)/(A - r), without the cancellation where A ~ r (n A^(n-1) at A = r)."""
    A, r, n = np.broadcast_arrays(np.asarray(A, float), np.asarray(r, float), np.asarray(n, float))
    hi, lo = np.maximum(A, r), np.minimum(A, r)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        L = np.log(lo / hi)                           # <= 0 where both are positive
        stable = hi ** (n - 1) * np.where(L == 0, n, np.expm1(n * L) / np.expm1(L))
        direct = np.where(A != r, (A ** n - r ** n) / (A - r), n * A ** (n - 1))
        out = np.where(lo > 0, stable, direct)
    return np.where(n == 0, 0.0, out)


@dataclass(frozen=True)
class CalibrationTheory:
    """Linearized zero-shifting dynamics of one device (or arrays, one entry per device)."""

    symmetric_point: float | np.ndarray
    dw_min: float
    step: float | np.ndarray            # c
    kappa_up: float | np.ndarray        # k_+
    kappa_down: float | np.ndarray      # k_-
    cycle_exact: tuple | None           # (w_after_up, w_after_down) of the nonlinear maps (scalar only)
    phi0_scale: tuple | None = None     # (L_q, q_max, mu_q) for the paper's bounds (scalar only)
    _phi: object = None
    pair_contraction_exact: float | None = None   # derivative of the nonlinear pair map at the 2-cycle
    sigma_c: float = 0.0                # cycle-to-cycle noise per pulse (see the module docstring)
    c2c_model: str = "additive"         # "additive" (dw sigma_c xi) or "multiplicative" (step x sigma_c xi)

    # -- cycle-to-cycle noise -------------------------------------------------------------
    @property
    def noisy(self) -> bool:
        return self.sigma_c > 0

    def _pulse_coefficients(self):
        """((alpha, beta, gamma, delta) up, (...) down): x' = alpha x + beta + xi (gamma x + delta)."""
        kp, km, c, s = self.kappa_up, self.kappa_down, self.step, self.sigma_c
        zero = 0.0 * (kp + km + c)          # arrays broadcast (one entry per device)
        if self.c2c_model == "multiplicative":
            return (1 - kp, c, -s * kp, s * c), (1 - km, -c, -s * km, -s * c)
        e = self.dw_min * s + zero
        return (1 - kp, c, zero, e), (1 - km, -c, zero, e)

    def _second_moment_rows(self):
        """Per pulse (up, down): (1 - A, B, C) of E x'^2 = A E x^2 + B E x + C; 1 - A = k (2 - k) - gamma^2
        (no cancellation)."""
        rows = []
        for k, (alpha, beta, gamma, delta) in zip((self.kappa_up, self.kappa_down), self._pulse_coefficients()):
            rows.append((k * (2 - k) - gamma ** 2, 2 * (alpha * beta + gamma * delta), beta ** 2 + delta ** 2))
        return rows

    @property
    def _pair_one_minus(self):
        """1 - A_+ A_- (the variance's contraction per pulse pair, subtracted without cancellation)."""
        (up, _, _), (dn, _, _) = self._second_moment_rows()
        return up + dn - up * dn

    @property
    def cycle_variance(self):
        """(V_up, V_down): stationary Var x after an up / a down pulse of the cyclic scheme with noise,
        (A_+ eta_-^2 + eta_+^2)/(1 - A_+ A_-) and (A_- eta_+^2 + eta_-^2)/(1 - A_+ A_-) (module docstring);
        (0, 0) without noise."""
        if not self.noisy:
            z = 0.0 * self.step
            return z, z
        (up1, _, _), (dn1, _, _) = self._second_moment_rows()
        (_, _, gp, dp), (_, _, gm, dm) = self._pulse_coefficients()
        xu, xd = self.cycle
        eta_p, eta_m = gp * xd + dp, gm * xu + dm
        den = self._pair_one_minus
        return ((1 - up1) * eta_m ** 2 + eta_p ** 2) / den, ((1 - dn1) * eta_p ** 2 + eta_m ** 2) / den

    def cyclic_variance(self, x0, n: np.ndarray):
        """Var x_n after n cyclic pulses (up first) from x0 with noise (0 without): the variance recursion
        V' = A V + eta(mu)^2 of each pulse, summed in closed form over the pairs (the mean mu_j = x_down +
        rho2^j (x0 - x_down) makes the forcing F0 + F1 rho2^j + F2 rho2^(2j))."""
        n = np.asarray(n)
        if not self.noisy:
            return 0.0 * self.cyclic_errors(x0, n)
        (up1, _, _), (dn1, _, _) = self._second_moment_rows()
        Ap, Am = 1 - up1, 1 - dn1
        (ap, _, gp, dp), (_, _, gm, dm) = self._pulse_coefficients()
        xu, xd = self.cycle
        rho = self.pair_contraction
        e0 = x0 - xd
        eta_p, eta_m = gp * xd + dp, gm * xu + dm
        F0 = Am * eta_p ** 2 + eta_m ** 2
        F1 = 2 * e0 * (Am * eta_p * gp + eta_m * gm * ap)
        F2 = e0 ** 2 * (Am * gp ** 2 + (gm * ap) ** 2)
        App, one_minus = Ap * Am, self._pair_one_minus
        p = n // 2
        with np.errstate(under="ignore"):
            var_d = (F0 * _one_minus_power(App, p) / one_minus + F1 * _geometric_sum(App, rho, p)
                     + F2 * _geometric_sum(App, rho ** 2, p))
            mu = xd + rho ** p * e0
        var_u = Ap * var_d + (gp * mu + dp) ** 2          # one more up pulse (odd n)
        return np.where(n % 2 == 0, var_d, var_u)

    def fraction_within(self, scheme: str, x0, pulses: int, tolerance: float):
        """P(|x_N| <= tolerance) after ``pulses`` pulses: exact for the noise-free cyclic scheme (deterministic)
        and for the cyclic scheme with additive noise (linear maps of Gaussian noise: x_N is Gaussian);
        otherwise the Gaussian with the exact mean and variance (an approximation)."""
        mean, rms = self.errors_after(scheme, x0, pulses)
        var = (self.cyclic_variance(x0, np.array(pulses)) if scheme == "cyclic"
               else np.maximum(rms ** 2 - mean ** 2, 0.0))
        sd = np.sqrt(var)
        with np.errstate(divide="ignore", invalid="ignore"):
            gauss = special.ndtr((tolerance - mean) / sd) - special.ndtr((-tolerance - mean) / sd)
        return np.where(sd > 0, gauss, (np.abs(mean) <= tolerance).astype(float))

    # -- cyclic -------------------------------------------------------------------------
    @property
    def pair_contraction(self):
        return (1 - self.kappa_up) * (1 - self.kappa_down)

    @property
    def cycle(self):
        """(x_after_up, x_after_down) of the linearized 2-cycle, relative to the SP."""
        den = self.kappa_up + self.kappa_down - self.kappa_up * self.kappa_down
        return self.step * self.kappa_up / den, -self.step * self.kappa_down / den

    def cyclic_errors(self, x0, n: np.ndarray):
        """x after n pulses (up first) from x0, for an array of pulse counts n."""
        n = np.asarray(n)
        xu, xd = self.cycle
        pairs = n // 2
        rho = self.pair_contraction
        after_down = xd + rho ** pairs * (x0 - xd)               # even n
        x1 = (1 - self.kappa_up) * x0 + self.step               # first up
        after_up = xu + rho ** pairs * (x1 - xu)                 # odd n = 2 pairs + 1
        return np.where(n % 2 == 0, after_down, after_up)

    # -- stochastic ---------------------------------------------------------------------
    @property
    def mean_contraction(self):
        """E x' = (1 - (k_+ + k_-)/2) E x per stochastic pulse."""
        return 1 - 0.5 * (self.kappa_up + self.kappa_down)

    @property
    def _a(self):
        return 0.5 * ((1 - self.kappa_up) ** 2 + (1 - self.kappa_down) ** 2)

    def _stochastic_row(self):
        """(1 - a', b', C') of the stochastic scheme with noise: the average of the up and down rows."""
        (u1, ub, uc), (d1, db, dc) = self._second_moment_rows()
        return 0.5 * (u1 + d1), 0.5 * (ub + db), 0.5 * (uc + dc)

    @property
    def stochastic_a(self):
        """a' of E x'^2 = a' E x^2 + b' E x + C' per stochastic pulse (a without noise)."""
        return 1 - self._stochastic_row()[0] if self.noisy else self._a

    @property
    def stochastic_second_moment(self):
        """Stationary E x^2 = c^2/(1 - [(1-k_+)^2 + (1-k_-)^2]/2) ~ c^2/(k_+ + k_-); with noise C'/(1 - a')
        (module docstring: (c^2 + dw^2 sigma_c^2)/(1 - a) additive, c^2 (1 + sigma_c^2)/(1 - a - sigma_c^2
        (k_+^2 + k_-^2)/2) multiplicative)."""
        if self.noisy:
            one_minus, _, C = self._stochastic_row()
            return C / one_minus
        return self.step ** 2 / (1 - self._a)

    def stochastic_moments(self, x0, n: np.ndarray):
        """(E x_n, E x_n^2) after n stochastic pulses from x0 (exact for the affine maps, with or without noise):
        E x_n^2 = a^n x0^2 + b x0 (a^n - r^n)/(a - r) + C (1 - a^n)/(1 - a), r = 1 - (k_+ + k_-)/2."""
        if self.noisy:
            n = np.asarray(n, float)
            one_minus, b, C = self._stochastic_row()
            r1, a = self.mean_contraction, 1 - one_minus
            with np.errstate(under="ignore"):
                m1 = r1 ** n * x0
                m2 = (a ** n * x0 ** 2 + b * x0 * _geometric_sum(a, r1, n)
                      + C * _one_minus_power(a, n) / one_minus)
            return m1, m2
        n = np.asarray(n, float)
        r1, a, c = self.mean_contraction, self._a, self.step
        b = c * (self.kappa_down - self.kappa_up)
        m1 = r1 ** n * x0
        cross = b * x0 * (a ** n - r1 ** n) / (a - r1) if np.all(np.asarray(a - r1) != 0) else 0.0
        m2 = a ** n * x0 ** 2 + cross + c ** 2 * (1 - a ** n) / (1 - a)
        return m1, m2

    # -- per-pulse contraction, floors, pulses to tolerance ------------------------------
    def contraction_per_pulse(self, scheme: str):
        """Mean error factor per pulse: sqrt(rho2) (cyclic) or 1 - (k_+ + k_-)/2 (stochastic)."""
        return np.sqrt(self.pair_contraction) if scheme == "cyclic" else self.mean_contraction

    def floor(self, scheme: str, pulses: int | None = None):
        """RMS error as N -> infinity: |2-cycle value| at the parity of ``pulses`` (cyclic, after a
        down pulse by default; with noise sqrt(x^2 + V) at that parity) or sqrt(stationary E x^2)
        (stochastic)."""
        if scheme == "cyclic":
            xu, xd = self.cycle
            odd = pulses is not None and pulses % 2
            if self.noisy:
                vu, vd = self.cycle_variance
                return np.sqrt(xu ** 2 + vu) if odd else np.sqrt(xd ** 2 + vd)
            return np.abs(xu if odd else xd)
        return np.sqrt(self.stochastic_second_moment)

    def errors_after(self, scheme: str, x0, pulses: int):
        """(mean error, rms error) after ``pulses`` pulses from x0."""
        if scheme == "cyclic":
            x = self.cyclic_errors(x0, np.array(pulses))
            if self.noisy:
                return x, np.sqrt(x ** 2 + self.cyclic_variance(x0, np.array(pulses)))
            return x, np.abs(x)
        m1, m2 = self.stochastic_moments(x0, np.array(pulses))
        return m1, np.sqrt(m2)

    def pulses_to_tolerance(self, scheme: str, x0: float, tolerance: float, n_max: int | None = None) -> float:
        """Fewest pulses after which the error stays within ``tolerance``: |x_n| (cyclic without noise) or the
        RMS error sqrt(E x_n^2) (stochastic; cyclic with noise, where no device stays in a band: the RMS
        criterion of the population); inf if the floor is above the tolerance."""
        tolerance = require_positive("tolerance", tolerance)
        if float(np.max(self.floor(scheme, 0))) >= tolerance or (
                scheme == "cyclic" and float(np.max(self.floor(scheme, 1))) >= tolerance):
            return math.inf
        k = float(np.min(self.kappa_up + self.kappa_down))
        if self.noisy:      # the variance may relax more slowly than the mean (multiplicative noise)
            k = min(k, float(np.min(self._stochastic_row()[0])), float(np.min(self._pair_one_minus)) / 2)
        n_max = n_max or int(20 * (math.log(max(abs(x0), tolerance) / tolerance) + 5) / k) + 4
        fast = self._pulses_by_bisection(scheme, x0, tolerance, n_max)
        return fast if fast is not None else self._pulses_by_scan(scheme, x0, tolerance, n_max)

    _EXACT_COUNTS = 20_000_000   # every pulse count up to here (exact); beyond, a geometric grid (resolution ~0.001%)

    @classmethod
    def _pulse_grid_tail(cls, n_max: int) -> np.ndarray:
        """The pulse counts above :attr:`_EXACT_COUNTS` the scan evaluates (empty if n_max is below it): the
        geometric grid, sorted and without repeats (only this part needs de-duplicating: np.unique of the whole
        21M took ~50 s, uninterruptible, at dw_min 1e-9)."""
        exact = cls._EXACT_COUNTS
        if n_max <= exact:
            return np.zeros(0, np.int64)
        geo = np.unique(np.geomspace(exact, n_max, 1_000_000).astype(np.int64))
        return geo[geo > exact]

    def _errors_at(self, scheme: str, x0, n: np.ndarray) -> np.ndarray:
        """The error the tolerance bounds after each pulse count in n (see :meth:`pulses_to_tolerance`)."""
        if scheme == "cyclic":
            err = np.abs(self.cyclic_errors(x0, n))
            if self.noisy:
                err = np.sqrt(err ** 2 + self.cyclic_variance(x0, n))
            return err
        return np.sqrt(self.stochastic_moments(x0, n)[1])

    def _pulses_by_scan(self, scheme: str, x0, tolerance: float, n_max: int) -> float:
        """:meth:`pulses_to_tolerance` by evaluating the error at every count of the grid (the reference the
        bisection must reproduce)."""
        exact = self._EXACT_COUNTS
        n = np.arange(min(n_max, exact) + 1)
        if n_max > exact:
            n = np.concatenate([n, self._pulse_grid_tail(n_max)])
        bad = np.nonzero(self._errors_at(scheme, x0, n) > tolerance)[0]
        return float(n[bad[-1]] + 1) if bad.size else 0.0

    def _pulses_by_bisection(self, scheme: str, x0, tolerance: float, n_max: int) -> float | None:
        """:meth:`pulses_to_tolerance` at O(log n_max) pulse counts where that is provably the scan's answer,
        else None (then the caller scans).

        Why it is exact: the answer is (last grid count with error > tolerance) + 1, so wherever the set of bad
        counts is a prefix of the grid, bisection on the grid index, evaluating the same formula on the same
        counts (same floats), finds the same last bad count.
        - Stochastic: E x_n^2 = A a^n + B r^n + C (or (A + B n) a^n + C where a = r) with 0 < a, r < 1, so
          h(n) = E x_n^2 - tolerance^2 has a derivative with at most one zero and h at most two real zeros, and
          h(inf) = floor^2 - tolerance^2 < 0 (the floor is checked first). If h(0) > 0 there is exactly one
          zero and {n : h(n) > 0} = [0, n*). If h(0) <= 0 (no zero, or two: a bump above the tolerance) we scan.
          Rounding can only blur h near its zero; so we also require the floor not to sit within 1e-9 of the
          tolerance and check that the counts just past the answer are within the tolerance (else: scan).
        - Cyclic without noise: after 2p (2p + 1) pulses x = x_d + rho2^p (x_0 - x_d) (x_u + rho2^p (x_1 - x_u))
          with 0 <= rho2 < 1: each parity moves monotonically towards its cycle value, never past it, and
          |x_d|, |x_u| < tolerance, so within each parity the bad counts are a prefix (bisected separately;
          the answer is the later of the two). Only up to the exactly counted range (the grid beyond mixes the
          parities): scan otherwise. The counts just past the answer are checked here too.
        Scalar devices only (arrays: a population, scanned); the cyclic scheme with noise is scanned."""
        quantities = (self.kappa_up, self.kappa_down, self.step, x0, tolerance)
        if any(np.ndim(v) != 0 for v in quantities):
            return None

        def bad(n) -> bool:     # the error after n pulses exceeds the tolerance (a 1-element array, as scanned)
            return bool(self._errors_at(scheme, x0, np.array([n], np.int64))[0] > tolerance)

        def window_ok(counts) -> bool:      # no bad count just past the answer
            return counts.size == 0 or not np.any(self._errors_at(scheme, x0, counts) > tolerance)

        if scheme == "cyclic":
            rho = float(self.pair_contraction)
            if self.noisy or n_max > self._EXACT_COUNTS or not 0.0 <= rho < 1.0:
                return None
            last = -1
            for parity in (0, 1):
                top = (n_max - parity) // 2            # the largest p with 2p + parity <= n_max
                p = _last_of_prefix(lambda q: bad(2 * q + parity), top)
                if p >= 0:
                    last = max(last, 2 * p + parity)
            return float(last + 1) if window_ok(np.arange(last + 1, min(last + 257, n_max + 1))) else None
        a, r = float(self.stochastic_a), float(self.mean_contraction)
        if not (0.0 < a < 1.0 and 0.0 < r < 1.0) or not float(self.floor(scheme)) < tolerance * (1 - 1e-9):
            return None
        exact = self._EXACT_COUNTS
        tail = self._pulse_grid_tail(n_max)
        size = min(n_max, exact) + 1 + tail.size

        def count(i: int) -> int:
            return i if i <= exact else int(tail[i - exact - 1])

        i = _last_of_prefix(lambda j: bad(count(j)), size - 1)
        if i < 0:
            return None
        after = np.array([count(j) for j in range(i + 1, min(i + 257, size))], np.int64)
        return float(count(i) + 1) if window_ok(after) else None

    def log_estimate(self, x0: float, tolerance: float) -> float:
        """Spec F.3's N ~ (2/(k_+ + k_-)) ln(|x0|/delta)."""
        return 2.0 / (self.kappa_up + self.kappa_down) * math.log(abs(x0) / tolerance)

    # -- the paper's bounds (P2 Thm 2.2, C.2, C.3, C.4) -----------------------------------
    def paper_bounds(self, w0: float, pulses: int, tolerance: float | None = None) -> dict:
        """Right-hand sides of P2's bounds for this device after ``pulses`` pulses from w0; with an
        absolute ``tolerance`` also the pulse counts Thm C.2 and C.4 call sufficient for
        E(w - SP)^2 <= tolerance^2 (with ">=", the proof's direction: the statement prints "<=")."""
        if self.phi0_scale is None:
            raise InputError("variation", "the paper's bounds are computed for a single device")
        Lq, qmax, mu = (float(v) for v in self.phi0_scale)
        dw, N = self.dw_min, pulses
        if not all(math.isfinite(v) and abs(v) < 1e150 for v in (Lq, qmax, mu)) or mu <= 0:
            # q unbounded on the range, or no strong monotonicity (mu_q <= 0): the bounds say nothing (inf,
            # JSON null + reason)
            keys = ["thm2_2_avg_G2", "thmC2_last_sq", "thmC2_floor_sq", "thmC3_avg_G2", "thmC4_last_sq"]
            if tolerance is not None:
                keys += ["thmC2_sufficient_pulses", "thmC4_sufficient_pulses"]
            return {k: math.inf for k in keys} | {"L_q": Lq, "q_max": qmax, "mu_q": mu}
        phi0 = float(self._phi(w0))
        x0sq = (w0 - float(self.symmetric_point)) ** 2
        return {
            "thm2_2_avg_G2": phi0 / (N * dw) + 0.5 * Lq * dw * qmax ** 2,
            "thmC2_last_sq": (1 - 2 * dw * mu) ** N * x0sq + dw * qmax ** 2 / mu,
            "thmC2_floor_sq": 2 * qmax ** 2 * dw / mu,
            "thmC3_avg_G2": phi0 / (N * dw) + 1.5 * dw * qmax ** 2 * Lq,
            "thmC4_last_sq": (1 - 2 * dw * mu) ** N * x0sq + dw * qmax ** 2 * (4 + Lq ** 2 / mu + 2 * mu) / mu,
            "L_q": Lq, "q_max": qmax, "mu_q": mu,
        } | ({} if tolerance is None else {
            "thmC2_sufficient_pulses": _log_ratio(2 * x0sq / tolerance ** 2) / (2 * mu * dw),
            "thmC4_sufficient_pulses": 2 * _log_ratio(2 * x0sq / tolerance ** 2) / (4 * mu * dw),
        })


def _last_of_prefix(is_bad, top: int) -> int:
    """The largest i in [0, top] with is_bad(i) (-1 if none), for a predicate true exactly on a prefix of
    [0, top], by bisection (O(log top) calls)."""
    if not is_bad(0):
        return -1
    if is_bad(top):
        return top
    lo, hi = 0, top          # is_bad(lo), not is_bad(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if is_bad(mid) else (lo, mid)
    return lo


def _log_ratio(r: float) -> float:
    # ln r, and 0 where the start is already within the tolerance (r <= 1, including w0 at the SP)
    return math.log(r) if r > 1 else 0.0


def with_noise(th: CalibrationTheory, sigma_c=0.0, c2c_model: str = "additive") -> CalibrationTheory:
    """``th`` with cycle-to-cycle noise ``sigma_c`` of the model ``c2c_model`` (see the module docstring).

    Parameters
    ----------
    th : CalibrationTheory
        A noise-free theory (one device or arrays).
    sigma_c : float >= 0
        Noise per pulse: in units of dw_min (additive) or relative to the step (multiplicative).
    c2c_model : {"additive", "multiplicative"}

    Returns
    -------
    CalibrationTheory
        The same linearized maps with the noise term; ``th`` itself when ``sigma_c`` is 0 (the noise-free
        numbers unchanged).

    Raises
    ------
    InputError
        For sigma_c < 0 or not finite, an unknown model, or multiplicative noise so large that a pulse
        expands E x^2 (sigma_c^2 k >= 2 - k: no stationary spread).
    """
    sigma = check_noise(sigma_c, c2c_model)
    if sigma == 0:
        return th
    from dataclasses import replace
    out = replace(th, sigma_c=sigma, c2c_model=c2c_model)
    # stationarity: 1 - a' > 0 (then also 1 - A_+ A_- > 0, as A_+ A_- <= ((A_+ + A_-)/2)^2); multiplicative noise
    # lowers 1 - a' by sigma_c^2 (k_+^2 + k_-^2)/2, additive noise leaves it alone
    if c2c_model == "multiplicative" and not np.all(np.asarray(out._stochastic_row()[0]) > 0):
        kk = 0.5 * (np.asarray(th.kappa_up) ** 2 + np.asarray(th.kappa_down) ** 2)
        bound = float(np.min(np.sqrt(np.maximum(1 - np.asarray(th._a), 0.0) / kk)))
        raise InputError("sigma_c", f"must be < {bound:.4g} for multiplicative noise on this device (got {sigma:g}): "
                                    "beyond, the pulses expand E(w - SP)^2 (1 - a - sigma_c^2 (k+^2 + k-^2)/2 <= 0) "
                                    "and there is no stationary spread")
    return out


def calibration_theory(derivation: Derivation, dw_min: float, s_plus=1.0, s_minus=1.0,
                       symmetric_points=None, sigma_c=0.0, c2c_model: str = "additive") -> CalibrationTheory:
    """Zero-shifting theory of a response (optionally scaled per device: s_+ q+, s_- q-).

    With arrays ``s_plus``/``s_minus`` (device-to-device variation) every quantity is an array,
    one entry per device; each device's SP solves s_+ q+ = s_- q-, found by vectorized bisection on
    the lambdified q's (``symmetric_points`` may pass them in).

    Parameters
    ----------
    derivation : Derivation
        From :func:`aimc_theory.symbolic.derive` (the response's F, G and SP).
    dw_min : float > 0
        Pulse size.
    s_plus, s_minus : float or ndarray, > 0
        Per-device up/down step scales (P2 eq. 103-104).
    symmetric_points : ndarray or None
        Per-device SPs, if already known.
    sigma_c : float >= 0
        Cycle-to-cycle noise per pulse (0: the noise-free theory, unchanged); see :func:`with_noise`.
    c2c_model : {"additive", "multiplicative"}
        dw sigma_c xi added to each pulse, or the step times (1 + sigma_c xi).

    Returns
    -------
    CalibrationTheory
        Contraction per pulse pair ((1 - k_+)(1 - k_-), P2 eq. 22-23), error floors of the cyclic and the
        stochastic scheme (with the noise's spread), pulses to a tolerance and P2 Theorem 3's bounds.

    Raises
    ------
    InputError
        For an ideal device (no unique SP), dw_min <= 0, or a bad sigma_c / c2c_model.
    """
    dw = require_positive("dw_min", dw_min)
    check_noise(sigma_c, c2c_model)
    resp = derivation.response
    if derivation.every_point_symmetric and np.all(np.asarray(s_plus) == np.asarray(s_minus)):
        raise InputError("response", "an ideal device (q+ = q-) has no unique symmetric point to calibrate to")
    qp_e, qm_e = resp.q_plus_expr, resp.q_minus_expr
    qp, qm = lambdify_w(qp_e), lambdify_w(qm_e)
    dqp, dqm = lambdify_w(sp.diff(qp_e, W)), lambdify_w(sp.diff(qm_e, W))
    scalar = np.ndim(s_plus) == 0 and np.ndim(s_minus) == 0
    s_plus, s_minus = np.broadcast_arrays(np.asarray(s_plus, float), np.asarray(s_minus, float))
    if symmetric_points is not None:
        wsp = np.asarray(symmetric_points, float)
    elif scalar and float(s_plus) == float(s_minus):
        wsp = np.asarray(float(derivation.symmetric_point))
    else:
        wsp = population_symmetric_points(qp_e, qm_e, s_plus, s_minus, resp.lo, resp.hi)[0]
    if not scalar:
        return population_calibration_theory(qp_e, qm_e, dw, s_plus, s_minus, wsp, sigma_c=sigma_c,
                                             c2c_model=c2c_model)
    c = dw * s_plus * qp(wsp)
    kp = -dw * s_plus * dqp(wsp)
    km = dw * s_minus * dqm(wsp)
    if np.any(kp + km <= 0):
        raise InputError("response", "the symmetric point repels the weight (G decreasing there: "
                                     "k_+ + k_- <= 0); zero-shifting does not converge to it")
    wsp_f, s_p, s_m = float(wsp), float(s_plus), float(s_minus)
    up = lambda w: w + dw * s_p * float(qp(np.array(w)))
    down = lambda w: w - dw * s_m * float(qm(np.array(w)))
    cycle = _exact_cycle(up, down, wsp_f, float(c), float(kp + km))
    rho_exact = None
    if cycle is not None:   # d/dw down(up(w)) at the after-down point w_d (chain rule)
        wu, wd = cycle
        rho_exact = ((1 + dw * s_p * float(dqp(np.array(wd)))) * (1 - dw * s_m * float(dqm(np.array(wu)))))
    bounds = _bound_constants(derivation, resp, wsp_f)
    G = lambdify_w(derivation.G)
    def phi(w):   # phi(w) = int_SP^w G (P2's potential, grad phi = G)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", integrate.IntegrationWarning)
            return integrate.quad(lambda t: float(G(np.array(t))), wsp_f, w, limit=200)[0]
    return with_noise(CalibrationTheory(wsp_f, dw, float(c), float(kp), float(km), cycle, bounds, phi, rho_exact),
                      sigma_c, c2c_model)


def device_symmetric_points(derivation: Derivation, s_plus, s_minus) -> tuple[np.ndarray, np.ndarray]:
    """Each device's SP under step scales (s_+ q+, s_- q-), from the response's expressions.

    Parameters
    ----------
    derivation : Derivation
        The mean response's derivation.
    s_plus, s_minus : ndarray
        Per-device step scales.

    Returns
    -------
    (sp, status)
        ``status`` is "interior" (s_- q- - s_+ q+ changes sign from - to + inside the range: the SP),
        "upper" (the up steps win everywhere: under balanced pulses the weight drifts to the upper bound,
        reported as sp = hi), "lower" (sp = lo) or "neutral" (q+ = q- and s_+ = s_-: every point is
        symmetric, sp = NaN).
    """
    resp = derivation.response
    return population_symmetric_points(resp.q_plus_expr, resp.q_minus_expr, s_plus, s_minus, resp.lo, resp.hi,
                                       every_point_symmetric=derivation.every_point_symmetric)


def population_symmetric_points(q_plus, q_minus, s_plus, s_minus, lo, hi, params=None,
                                every_point_symmetric: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Each device's SP from per-device response expressions: device i has s_+,i q+(w; p_i) up and
    s_-,i q-(w; p_i) down on its own range (lo_i, hi_i), the p_i its drawn parameters (a preset's own bounds
    ``bmax``/``bmin`` or slopes ``gamma_up``/``gamma_down``, see :mod:`aimc_theory.presets`).

    Parameters
    ----------
    q_plus, q_minus : str or sympy.Expr
        Expressions in ``w`` and the names of ``params``.
    s_plus, s_minus : ndarray
        Per-device step scales.
    lo, hi : float or ndarray
        Each device's range.
    params : dict of name -> ndarray, optional
        Per-device parameter values.
    every_point_symmetric : bool
        The expressions are identical (q+ = q-): devices with s_+ = s_- are "neutral".

    Returns
    -------
    (sp, status)
        As :func:`device_symmetric_points`: "interior", "upper" (sp = hi), "lower" (sp = lo), "neutral" (NaN).
    """
    params = dict(params or {})
    qp, _, qm, _ = lambdify_forms(q_plus, q_minus, list(params))
    s_plus, s_minus, lo, hi, *vals = np.broadcast_arrays(*(np.asarray(a, float) for a in
                                                          (s_plus, s_minus, lo, hi, *params.values())))

    def h(w):
        return s_minus * qm(w, *vals) - s_plus * qp(w, *vals)

    finite_lo, finite_hi = np.where(np.isfinite(lo), lo, -1e6), np.where(np.isfinite(hi), hi, 1e6)
    span = finite_hi - finite_lo
    lo_a, hi_a = finite_lo + 1e-12 * span, finite_hi - 1e-12 * span
    h_lo, h_hi = h(lo_a), h(hi_a)
    status = np.where(h_hi <= 0, "upper", np.where(h_lo >= 0, "lower", "interior"))
    if every_point_symmetric:         # q+ = q-: a device with s_+ = s_- is neutral everywhere
        status = np.where(s_plus == s_minus, "neutral", status)
    sps = np.where(status == "upper", hi, np.where(status == "lower", lo, bisect_increasing(h, lo_a, hi_a)))
    return np.where(status == "neutral", np.nan, sps), status


def population_calibration_theory(q_plus, q_minus, dw_min: float, s_plus, s_minus, symmetric_points,
                                  params=None, sigma_c=0.0, c2c_model: str = "additive") -> CalibrationTheory:
    """Zero-shifting theory of every device of a population (arrays, one entry per device): device i's
    contraction k_+ = -dw s_+ q+'(SP_i; p_i), k_- = dw s_- q-'(SP_i; p_i) and step c = dw s_+ q+(SP_i; p_i)
    from the per-device expressions (see :func:`population_symmetric_points` for the arguments), with
    cycle-to-cycle noise ``sigma_c`` (:func:`with_noise`; additive: dw sigma_c whatever the device's scales)."""
    dw = require_positive("dw_min", dw_min)
    check_noise(sigma_c, c2c_model)
    params = dict(params or {})
    qp, dqp, _, dqm = lambdify_forms(q_plus, q_minus, list(params))
    wsp, s_plus, s_minus, *vals = np.broadcast_arrays(*(np.asarray(a, float) for a in
                                                       (symmetric_points, s_plus, s_minus, *params.values())))
    c = dw * s_plus * qp(wsp, *vals)
    kp = -dw * s_plus * dqp(wsp, *vals)
    km = dw * s_minus * dqm(wsp, *vals)
    if np.any(kp + km <= 0):
        raise InputError("response", "the symmetric point repels the weight (G decreasing there: "
                                     "k_+ + k_- <= 0); zero-shifting does not converge to it")
    return with_noise(CalibrationTheory(wsp, dw, c, kp, km, None), sigma_c, c2c_model)


def _exact_cycle(up, down, wsp, c, ksum):
    """The 2-cycle of the nonlinear pulse maps: w_d = down(up(w_d)) near the SP (Brent)."""
    h = lambda w: down(up(w)) - w
    width = 10 * abs(c)          # the cycle sits within ~c of the SP
    a, b = wsp - width, wsp + width
    try:
        wd = optimize.brentq(h, a, b, xtol=1e-17, rtol=1e-15, maxiter=500)
    except ValueError:
        return None
    return up(wd), wd


def _bound_constants(derivation: Derivation, resp, wsp: float):
    """(L_q = max|G'|, q_max, mu_q = min(q-'(SP), -q+'(SP))) over the device range (P2 Def. 2.1, C.1)."""
    x = scan_grid(resp.lo, resp.hi, 4001) if resp.bounded else np.linspace(wsp - 10, wsp + 10, 4001)
    dG = lambdify_w(sp.diff(derivation.G, W))
    qp, qm = lambdify_w(resp.q_plus_expr), lambdify_w(resp.q_minus_expr)
    with np.errstate(all="ignore"):
        Lq = float(np.nanmax(np.abs(dG(x))))
        qmax = float(np.nanmax(np.maximum(qp(x), qm(x))))
    mu = min(float(lambdify_w(sp.diff(resp.q_minus_expr, W))(np.array(wsp))),
             -float(lambdify_w(sp.diff(resp.q_plus_expr, W))(np.array(wsp))))
    return Lq, qmax, mu


# -- next-order (curvature) terms of the linearized zero-shifting theory ------------------------------

@dataclass(frozen=True)
class CalibrationNextOrder:
    """What the linearization at the SP leaves out, for one device at pulse size dw (spec F.3).

    Write the pulses as x <- x + U(x) (up) and x <- x - D(x) (down) with U(x) = dw s_+ q+(SP + x) =
    c - k_+ x + u2 x^2 + u3 x^3 + ..., D(x) = dw s_- q-(SP + x) = c + k_- x + d2 x^2 + d3 x^3 + ...
    (u_j = dw s_+ q+^(j)(SP)/j!, d_j = dw s_- q-^(j)(SP)/j!). The closed forms of spec F.3 keep the
    affine part only; for affine responses (soft bounds, generic linear) every term below is 0.

    Stochastic floor. The stationary moments m_j = E x^j satisfy, to the order that changes m2 by
    O(dw) relative (x ~ sqrt(dw), c, k, u, d ~ dw):

        m1 = (u2 - d2) m2/(k_+ + k_-),
        m3 = [(u2 - d2) m4 + 2 c^2 m1 + 2 c (k_- - k_+) m2]/(k_+ + k_-),   m4 = 3 m2^2 (leading order),
        m2 (1 - a) = c^2 + c (k_- - k_+) m1 + c (u2 + d2) m2 + (u2 - d2) m3 + (u3 - d3) m4,

    with a = [(1 - k_+)^2 + (1 - k_-)^2]/2; ``floor_correction`` is the change of m2 from the
    last four terms (m2 = c^2/(1 - a) inserted on the right), a relative O(dw) term.
    With cycle-to-cycle noise (``sigma_c``) the same expansion holds with: additive, c^2 -> c^2 + dw^2 sigma_c^2
    in the constant of m2 and in the 2 c^2 m1 of m3 (E eps^2 = dw^2 sigma_c^2 per pulse); multiplicative,
    every term from U^2 + D^2 times f = 1 + sigma_c^2 (E (U (1 + sigma_c xi))^2 = f U^2): m2 (1 - a') =
    f [c^2 + c (k_- - k_+) m1 + c (u2 + d2) m2] + (u2 - d2) m3 + (u3 - d3) m4 with
    1 - a' = k_+ + k_- - f (k_+^2 + k_-^2)/2, m3 = [(u2 - d2) m4 + f (2 c^2 m1 + 2 c (k_- - k_+) m2)]/(k_+ + k_-).
    (Terms dropped: O(dw) relative to these, e.g. 3 dw^2 sigma_c^2 (k_+ + k_-) m1 in m3.) The cyclic part below
    is the noise-free 2-cycle: the mean of the noisy cyclic scheme for affine responses.

    Cyclic 2-cycle. With N_u, N_d the non-affine parts of U and D (U = c - k_+ x + N_u, D = c + k_- x + N_d)
    and x_u(x) = (1 - k_+) x + c + N_u(x) the point after the up pulse, the after-down point solves
    x_d = T(x_d), T(x) = [(1 - k_-)(c + N_u(x)) - c - N_d(x_u(x))]/(1 - rho2), rho2 = (1 - k_+)(1 - k_-);
    with N = 0 its fixed point is spec F.3's closed form x0. T is a contraction near the cycle with constant
    ``cycle_ratio`` r <= [(1 - k_-) l + l (1 - k_+ + l)]/(1 - rho2), l = dw max|q''| max|x| bounding |N'|;
    one step x1 = T(x0) gives the next-order term x1 - x0, and Banach's estimate bounds the whole neglected
    part: |x* - x0| <= |x1 - x0|/(1 - r).
    The pair contraction at the true cycle, (1 + dw s_+ q+'(SP + x_d*))(1 - dw s_- q-'(SP + x_u*)),
    differs from (1 - k_+)(1 - k_-) by at most ``pair_contraction_bound``.
    """

    symmetric_point: float              # the SP (solved to the working precision)
    floor_linear: float                 # c^2/(1 - a) (with noise: C'/(1 - a'), the linear theory's floor)
    floor_correction: float             # the O(dw)-relative curvature term of the stationary E x^2
    mean_offset: float                  # stationary E x = m1 (0 for affine responses)
    cycle_linear: tuple                 # (x_after_up, x_after_down): spec F.3's closed form
    cycle_correction: tuple             # one contraction step from the closed form: x1 - x0 (up, down)
    cycle_bound: tuple                  # bounds on |x* - x0| (up, down)
    cycle_ratio: float                  # contraction constant r of the cycle map near the cycle
    pair_contraction_linear: float      # (1 - k_+)(1 - k_-)
    pair_contraction_correction: float  # the pair map's slope at the closed-form cycle minus the linear one
    pair_contraction_bound: float       # bound on |rho* - (1 - k_+)(1 - k_-)|
    q2_max: float                       # max(|q+''|, |q-''|) near the cycle (times s_+-)


def calibration_next_order(derivation: Derivation, dw_min: float, s_plus: float = 1.0,
                           s_minus: float = 1.0, digits: int = 40, sigma_c: float = 0.0,
                           c2c_model: str = "additive") -> CalibrationNextOrder:
    """Next-order (curvature) terms of the zero-shifting theory of one device (see
    :class:`CalibrationNextOrder`), from the response's derivatives at its SP (SymPy, ``digits`` digits),
    with cycle-to-cycle noise ``sigma_c`` of the model ``c2c_model`` in the stochastic floor's terms."""
    dw = require_positive("dw_min", dw_min)
    sigma = check_noise(sigma_c, c2c_model)
    resp = derivation.response
    if derivation.every_point_symmetric and s_plus == s_minus:
        raise InputError("response", "an ideal device (q+ = q-) has no unique symmetric point to calibrate to")
    qp_e, qm_e = resp.q_plus_expr, resp.q_minus_expr
    sp_, sm_ = sp.Float(s_plus, digits), sp.Float(s_minus, digits)
    if s_plus == s_minus:
        guess = float(derivation.symmetric_point)
    else:
        guess = float(population_symmetric_points(qp_e, qm_e, np.array(s_plus), np.array(s_minus), resp.lo,
                                                  resp.hi)[0])
    # the SP to ``digits`` digits (a float SP leaves s_+ q+ - s_- q- ~ 1e-17 there, which the cycle map would
    # divide by 1 - rho2 ~ dw)
    wsp = sp.nsolve(sm_ * qm_e - sp_ * qp_e, W, guess, prec=digits)
    dws = sp.Float(dw, digits)

    def taylor(expr, s):
        return [dws * s * sp.diff(expr, W, j).subs(W, wsp).evalf(digits) / sp.factorial(j) for j in range(4)]

    up, dn = taylor(qp_e, sp_), taylor(qm_e, sm_)
    c = up[0]
    kp, km = -up[1], dn[1]
    u2, u3, d2, d3 = up[2], up[3], dn[2], dn[3]
    ksum = kp + km
    if not ksum > 0:
        raise InputError("response", "the symmetric point repels the weight (k_+ + k_- <= 0)")
    one_minus_a = 1 - ((1 - kp) ** 2 + (1 - km) ** 2) / 2
    # noise: extra constant e2 (additive) or the factor f on the U^2 + D^2 terms (multiplicative)
    sig = sp.Float(sigma, digits)
    f = 1 + sig ** 2 if c2c_model == "multiplicative" and sigma else sp.Integer(1)
    e2 = (dws * sig) ** 2 if c2c_model == "additive" else sp.Integer(0)
    if f != 1:
        one_minus_a = ksum - f * (kp ** 2 + km ** 2) / 2
    m2 = (f * c ** 2 + e2) / one_minus_a
    m1 = (u2 - d2) * m2 / ksum
    m4 = 3 * m2 ** 2
    m3 = ((u2 - d2) * m4 + f * (2 * (c ** 2 + e2) * m1 + 2 * c * (km - kp) * m2)) / ksum
    floor_corr = (f * (c * (km - kp) * m1 + c * (u2 + d2) * m2) + (u2 - d2) * m3 + (u3 - d3) * m4) / one_minus_a

    # cyclic 2-cycle: closed form, one contraction step, Banach bound
    rho2 = (1 - kp) * (1 - km)
    den = kp + km - kp * km
    xu0, xd0 = c * kp / den, -c * km / den

    def q_at(expr, s, x):
        return dws * s * expr.subs(W, wsp + x).evalf(digits)

    def n_u(x):      # non-affine part of the up step
        return q_at(qp_e, sp_, x) - (c - kp * x)

    def n_d(x):      # non-affine part of the down step
        return q_at(qm_e, sm_, x) - (c + km * x)

    def T(x):
        xu = (1 - kp) * x + c + n_u(x)
        return ((1 - km) * (c + n_u(x)) - c - n_d(xu)) / (1 - rho2)

    xd1 = T(xd0)
    xu1 = (1 - kp) * xd1 + c + n_u(xd0)
    # Lipschitz bounds of the non-affine parts on a ball around the closed-form cycle: |N'(x)| <= dw s
    # max|q''| |x| (q'' sampled densely over the ball: smooth responses)
    step = abs(xd1 - xd0)
    radius = 4 * step + abs(sp.Float(1e-30, digits))
    q2 = sp.lambdify(W, sp.diff(qp_e, W, 2), "mpmath"), sp.lambdify(W, sp.diff(qm_e, W, 2), "mpmath")
    span = max(abs(xu0), abs(xd0)) + radius * 3
    grid = [wsp - span + 2 * span * i / 200 for i in range(201)]
    q2max = max(max(abs(float(s_plus) * float(q2[0](g))), abs(float(s_minus) * float(q2[1](g)))) for g in grid)
    lip = dw * q2max * float(span)              # bound on |N_u'|, |N_d'| over the ball
    r = (float(1 - km) * lip + lip * (float(1 - kp) + lip)) / float(1 - rho2)
    bound_d = float(step) / (1 - r) if r < 1 else math.inf
    if bound_d > float(radius):
        bound_d = math.inf                       # the ball was too small: no bound (never for dw << 1)
    # x_u* - x_u1 = (1 - k_+)(x_d* - x_d1) + N_u(x_d*) - N_u(x_d0)
    bound_u = abs(float(xu1 - xu0)) + (float(1 - kp) * r + lip) / (1 - r) * float(step) if r < 1 else math.inf
    # the pair map's slope at the cycle
    dqp, dqm = sp.diff(qp_e, W), sp.diff(qm_e, W)
    slope0 = ((1 + dws * sp_ * dqp.subs(W, wsp + xd0).evalf(digits))
              * (1 - dws * sm_ * dqm.subs(W, wsp + xu0).evalf(digits)))
    rho_corr = float(slope0 - rho2)
    rho_bound = abs(rho_corr) + 2 * dw * q2max * (bound_d + bound_u) * 1.0
    return CalibrationNextOrder(float(wsp), float(m2), float(floor_corr), float(m1), (float(xu0), float(xd0)),
                                (float(xu1 - xu0), float(xd1 - xd0)), (bound_u, bound_d), float(r),
                                float(rho2), rho_corr, rho_bound, q2max)
