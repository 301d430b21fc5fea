"""Claims 27.*: the reference simulator's preset devices and fits of measured sweeps.

* ``27.<preset>``: the SP the toolkit derives from the preset's response (symbolic module) is where a
  pulsed device (alternating pulses, pulse level) settles, within one pulse step, and it equals the
  simulator's own closed form (its documentation's formula, typed independently) to 1e-3.
* ``27.<preset>.rate``: pulses per e-fold of alternating pulses, -2/ln|M'| of the exact up-down pair map
  (symbolic), against the decay rate fitted to the pulsed device's pair-to-pair changes; within 3%.
* ``27.<constant-step preset>``: q+ = q- makes every point symmetric (G = 0): alternating pulses return
  the weight to where it started (measured drift 0).
* ``27.fit``: ``fit`` recovers a known linear-step response (the ECRAM preset pulsed with cycle noise)
  within 3 standard errors of its slopes.
"""
from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache

import numpy as np
import sympy as sp

from aimc_theory import (algorithms, device, fit, objectives, preset_report, presets, residual_learning, response,
                         simulation)
from aimc_theory.comparison import compare
from aimc_theory.errors import InputError
from aimc_theory.expressions import W as WSYM
from aimc_theory.variation import Population

from .allowances import extrapolate_lr
from .claim_types import AGREE, DISAGREE, LR, L, NOISE, W_STAR, Claim, Outcome, judge
from .theory import Theory

# the simulator's closed forms (its documentation; weight units, Delta+ = Delta- except ReRam-ES)
def _reram_es_sp() -> float:
    from scipy.optimize import brentq
    return brentq(lambda w: 4.958e-4 * math.exp(2.5 * w) - 1.7507e-4 - 6.563e-5 * math.exp(-2.5 * w), -1, 1)


CLOSED_FORM_SP = {"reram-es": _reram_es_sp, "pcm": lambda: math.log(27.235 / 2.235) / 5,
                  "reram-sb": lambda: 0.0, "capacitor": lambda: 0.0, "ecram": lambda: 0.0, "ecram-mo": lambda: 0.0,
                  "reram-array-om": lambda: 0.0, "reram-array-hfo2": lambda: 0.0}
CLOSED_FORM_TOL = {"reram-es": 1e-3}          # its G(w) is printed to 4 digits


def _alternate(p: presets.Preset, w0: float, pulses: int) -> np.ndarray:
    """Weights after every down pulse of ``pulses`` alternating pulses (up first), one device."""
    dev = device.Device(p.response(), dw_min=p.dw_min)
    try:                  # the compiled loop where numba is installed and it covers the device: the same bits
        from aimc_theory import kernels_chains
        return kernels_chains.alternate_pairs(dev, w0, pulses // 2)
    except InputError:
        pass
    w = np.array([w0])
    out = []
    up, down = np.array([1.0]), np.array([-1.0])
    for _ in range(pulses // 2):
        w = dev.pulse(dev.pulse(w, up, None), down, None)
        out.append(w[0])
    return np.array(out)


def _numeric_efold(p: presets.Preset) -> float:
    """Pulses per e-fold of alternating pulses from the numeric response alone, 1/(dw_min |G'(SP)|): sizes the
    simulation (how long to pulse) without asking the theory that is being judged."""
    resp = p.response()
    sp_ = float(resp.symmetric_point)
    h = 1e-6 * (resp.hi - resp.lo)
    g1 = abs(float((resp.G(np.array([sp_ + h])) - resp.G(np.array([sp_ - h])))[0]) / (2 * h))
    return 1.0 / (p.dw_min * max(g1, 1e-12))


@lru_cache(maxsize=32)
def _settled(name: str, n: int, start: float) -> float:
    """The middle of the last up/down pair of one pulsed device (cached: mutants share it)."""
    p = presets.get(name)
    return float(presets.pulse_devices(p, Population(np.ones(1), np.ones(1)), n, w0=start, backend="exact")[0][0])


@lru_cache(maxsize=32)
def _alternate_cached(name: str, w0: float, pulses: int) -> np.ndarray:
    return _alternate(presets.get(name), w0, pulses)


def _pulses_per_efold(th) -> float:
    """-2/ln|M'| of the up-down pair map (the exact nonlinear one where the theory has it)."""
    m = th.pair_contraction_exact if th.pair_contraction_exact is not None else th.pair_contraction
    return -2.0 / math.log(abs(float(m)))


def _claim_sp(name: str):
    def run(theory: Theory, fast: bool) -> Outcome:
        p = presets.get(name)
        resp = p.response()
        predicted = theory.symmetric_point(resp)
        n = int(min(40 * _numeric_efold(p), 400_000)) // 2 * 2 + 2
        start = resp.lo + 0.3 * (resp.hi - resp.lo)
        # the middle of the last up/down pair is the 2-cycle's, within a step of the SP
        measured = _settled(name, n, start)
        d = theory.derive(resp)
        step = p.dw_min * float(d.F_fn(np.array([predicted]))[0]) if resp.lo < predicted < resp.hi else p.dw_min
        closed = CLOSED_FORM_SP[name]()
        ok_closed = abs(predicted - closed) <= CLOSED_FORM_TOL.get(name, 1e-9)
        verdict = judge(predicted, measured, step) if ok_closed else DISAGREE
        return Outcome(predicted, measured, 0.0, step, verdict,
                       f"SP derived {predicted:.6g}, simulator's closed form {closed:.6g}; a device pulsed {n} times "
                       f"(up/down, pulse level, from w = {start:.3g}) settles at {measured:.6g} (middle of its 2-cycle); "
                       f"tolerance one pulse step dw_min F(SP) = {step:.3g}")
    return run


def _claim_rate(name: str):
    def run(theory: Theory, fast: bool) -> Outcome:
        p = presets.get(name)
        resp = p.response()
        th = theory.calibration(resp, p.dw_min)
        # judged: spec F.3's linearized pair map (1 - k+)(1 - k-) from q'(SP) (P2 eq. 31); its next-order term,
        # the exact nonlinear pair map's derivative at the 2-cycle minus the linearization, is the allowance
        predicted = -2.0 / math.log(abs(float(th.pair_contraction)))
        exact = _pulses_per_efold(th)
        sp_ = float(presets.get(name).response().symmetric_point)      # the device's own SP (measured side)
        x0 = 0.2 * min(resp.hi - sp_, sp_ - resp.lo)
        pulses = int(min(16 * _numeric_efold(p), 400_000)) // 2 * 2 + 2
        traj = _alternate_cached(name, sp_ + x0, pulses)
        # pair-to-pair changes decay like |w - w_inf| (w_inf, the 2-cycle, is not needed): fit log|w_{k+1} - w_k|
        # where the map is linear, i.e. after the first 1e-2 of the start distance (nearer the start the rate
        # still changes with |w - SP| where the response is not affine) and above the rounding floor
        err = np.abs(np.diff(traj))
        k = 2 * (np.arange(err.size) + 1)
        sel = (err > 1e-7 * err[0]) & (err < 1e-2 * err[0]) if err.size else np.zeros(0, bool)
        if sel.sum() < 5:
            return Outcome(predicted, math.nan, math.nan, math.nan, "inconclusive",
                           f"too few pairs before the error reached its floor ({int(sel.sum())})")
        coef, cov = np.polyfit(k[sel], np.log(err[sel]), 1, cov=True)
        measured = float(-1.0 / coef[0])
        se = float(math.sqrt(max(cov[0, 0], 0.0)) / coef[0] ** 2)
        # what is left of the approach to the 2-cycle inside the window: the rates fitted to its nearer and its
        # farther half differ by it (measured); 0 for an affine pair map
        idx = np.flatnonzero(sel)
        halves = [-1.0 / np.polyfit(k[h], np.log(err[h]), 1)[0] for h in np.array_split(idx, 2)]
        window = abs(halves[0] - halves[1])
        rounding = 1e-9 * measured        # log|dw| of pairs near 1e-7 of the first change carry ~1e-10 relative
        c = compare(predicted, measured, se, "", allowance=abs(exact - predicted) + window + rounding,
                    basis="derived: the exact pair map's derivative at the 2-cycle minus its linearization; "
                          "measured: the rate's change between the window's halves (+ 1e-9 rounding)")
        return replace(c, explanation=(
            f"-2/ln|(1 - k+)(1 - k-)| = {predicted:.6g} pulses per e-fold (linearized at the SP; the exact pair map "
            f"gives {exact:.6g}); fitted to the pair-to-pair changes of {pulses} alternating pulses from SP + {x0:.3g}: "
            f"{measured:.6g} +- {se:.1e}"))
    return run


def _claim_constant(name: str):
    def run(theory: Theory, fast: bool) -> Outcome:
        p = presets.get(name)
        resp = p.response()
        G = theory.asymmetry(resp)          # as this theory sees it (no SP needed: G is the claim)
        symmetric = G == 0
        g_fn = sp.lambdify(WSYM, G, "numpy")
        g_max = float(np.max(np.abs(g_fn(np.linspace(resp.lo, resp.hi, 101)[1:-1]) * np.ones(99))))
        predicted = 0.0 if symmetric else 2000 * p.dw_min * g_max    # |drift| of 1000 pairs: 2 dw G each
        traj = _alternate_cached(name, 0.3, 2000)
        measured = float(traj[-1] - 0.3)
        tol = 1e-9
        return Outcome(predicted, abs(measured), 0.0, tol, judge(predicted, abs(measured), tol),
                       f"q+ = q- (G = 0 everywhere: {symmetric}); 1000 up/down pairs from 0.3 move the "
                       f"weight by {measured:.3g}: every point is symmetric, there is no SP to converge to")
    return run


_PULSED: dict = {}


def _memo_pulse(p, pop, pulses, w0=None):
    """presets.pulse_devices, memoized (the pulsing does not depend on the theory judged; mutants share it)."""
    key = (p.name, pop.s_plus.tobytes(), pop.s_minus.tobytes(), pulses, None if w0 is None else np.asarray(w0).tobytes())
    if key not in _PULSED:
        _PULSED[key] = presets.pulse_devices(p, pop, pulses, w0=w0, backend="exact")
    return _PULSED[key]


# a 10% up/down error leaves the capacitor without an SP (the wrong theory gives no prediction): a smaller one
RATE_CONTROLS = {"capacitor": ("up_down=0.01",)}

D2D = ("ecram", "reram-es", "reram-sb", "capacitor")   # own slopes, exp-step bounds, soft bounds, devices without SP


def _claim_d2d(name: str):
    def run(theory: Theory, fast: bool) -> Outcome:
        p = presets.get(name)
        n = 200 if fast else 1000
        d = preset_report.sp_spread(p, n, 27, theory=theory.population_sps, pulse=_memo_pulse)
        worst = d["max_sp_difference_in_steps"]
        measured = math.nan if worst is None else worst
        t, m = d["theory"], d["measured"]
        alike = d["same_status"] >= 0.99
        verdict = judge(0.0, measured, 1.0) if alike and worst is not None else DISAGREE
        return Outcome(0.0, measured, 0.0, 1.0, verdict,
                       f"{n} devices drawn with the simulator's d2d ({d['variation']}); theory (each device's "
                       f"expressions with its own parameters) vs {d['pulses']} alternating pulses per device: "
                       f"classified alike {d['same_status']:.3f} (>= 0.99), without an SP {t['fraction_without_sp']:.3f} "
                       f"vs {m['fraction_without_sp']:.3f}; SP std {_f(t['std'])} vs {_f(m['std'])}; largest per-device "
                       f"difference {measured:.3g} of the device's own step (<= 1: the 2-cycle's middle)")
    return run


SGD_D2D = ("ecram", "reram-sb")          # own slopes; own soft bounds (the larger spread of fixed points)
RL_D2D = ("reram-es",)                    # SP at -0.22: every device's residual array is off, by its own amount


def _paired(name: str, predicted: np.ndarray, run_at, what: str) -> Outcome:
    """Chain i runs device i: the chains' stationary means against the devices' predicted limits, paired, at
    lr, 2 lr, 4 lr (``run_at(lr) -> chain means``) and extrapolated to lr -> 0 (the limits are the roots of the
    mean drift). The mean difference within 3 SE + its measured O(lr^2) remainder, and the slope of chain means
    on limits 1 within 3 SE + its measured remainder."""
    chains = predicted.size
    x = predicted - predicted.mean()

    def paired(lr):
        means = run_at(lr)
        diff = means - predicted
        return float(np.mean(diff)), float(np.std(diff, ddof=1) / math.sqrt(chains))

    def slope_of(lr):
        means = run_at(lr)
        slope = float(np.sum(x * (means - means.mean())) / np.sum(x * x))
        resid = means - means.mean() - slope * x
        return slope, float(np.sqrt(np.sum(resid ** 2) / (chains - 2) / np.sum(x * x)))

    ex, sx = extrapolate_lr(paired, LR), extrapolate_lr(slope_of, LR)
    c = compare(0.0, ex.value, ex.se, "", allowance=ex.allowance, basis=ex.basis)
    slope_ok = abs(sx.value - 1.0) <= 3 * sx.se + sx.allowance
    return Outcome(0.0, ex.value, ex.se, c.tolerance, AGREE if c.verdict == AGREE and slope_ok else DISAGREE,
                   f"{chains} chains, each its own {name} device (d2d as the simulator draws it), {what} on "
                   f"L/2 (w - {W_STAR})^2 with noise {NOISE}: chain mean - its device's limit "
                   + " / ".join(f"{v:+.2e}" for v in ex.values) + f" at lr {ex.lrs[0]:g} / {ex.lrs[1]:g} / "
                   f"{ex.lrs[2]:g} -> {ex.value:+.2e} +- {ex.se:.1e} at lr -> 0 (limits {np.mean(predicted):.4f} +- "
                   f"{np.std(predicted):.4f} over devices); slope of chain means on limits "
                   + " / ".join(f"{v:.4f}" for v in sx.values) + f" -> {sx.value:.4f} +- {sx.se:.4f} (1 within 3 SE + "
                   f"{sx.allowance:.1e}: {'yes' if slope_ok else 'NO'})", allowance=c.allowance, basis=c.basis)


def _population(name: str, chains: int):
    p = presets.get(name)
    return p, presets.variation(p).population(chains, np.random.default_rng([27, 0xD2D]))


@lru_cache(maxsize=16)
def _d2d_means(name: str, algorithm: str, lr: float, fast: bool) -> np.ndarray:
    """Stationary chain means of Analog SGD or RL v1 with chain i on device i (cached: mutants share them);
    the horizon scales as 1/lr (the mixing time)."""
    chains, steps = {"sgd": (1000, 5000), "rl": (1000, 10000)}[algorithm] if fast else \
        {"sgd": (4000, 10000), "rl": (4000, 20000)}[algorithm]
    p, pop = _population(name, chains)
    dev = pop.device(device.Device(p.response()), (chains, 1))
    alg = (algorithms.analog_sgd(lr, dev) if algorithm == "sgd" else
           residual_learning.residual_learning(lr, 0.01, 0.4, dev, device.Device(response.ideal())))
    res = simulation.simulate(objectives.ScalarQuadratic(L, W_STAR, NOISE), alg, int(steps * LR / lr), chains, 27,
                         w0=W_STAR, backend="exact")
    return res.chain_means[:, 0]


def _claim_sgd_d2d(name: str):
    """Analog SGD on the scalar quadratic with every chain its own device of the preset (its d2d drawn as the
    simulator does): chain i's stationary mean against device i's fixed point, paired."""
    def run(theory: Theory, fast: bool) -> Outcome:
        chains = _d2d_means(name, "sgd", LR, fast).size
        p, pop = _population(name, chains)
        fps, status = theory.population_fixed_points(p, pop, L, W_STAR, NOISE)
        out = _paired(name, fps, lambda lr: _d2d_means(name, "sgd", lr, fast), "Analog SGD")
        return replace(out, explanation=out.explanation + f"; {np.mean(status != 'interior'):.3f} saturated")
    return run


def _claim_rl_d2d(name: str):
    """RL v1 with the residual array made of the preset's devices (an ideal main array): chain i's mixed weight
    against device i's limit w* + mu_i/L, mu_i + m(mu_i) R_P,i(0) = 0, paired."""
    def run(theory: Theory, fast: bool) -> Outcome:
        chains = _d2d_means(name, "rl", LR, fast).size
        p, pop = _population(name, chains)
        limits = theory.population_rl_fixed_points(p, pop, L, W_STAR, NOISE)
        return _paired(name, limits, lambda lr: _d2d_means(name, "rl", lr, fast),
                       "RL v1 (beta 0.01, gamma 0.4, ideal W)")
    return run


def _f(x) -> str:
    return "-" if x is None else f"{x:.4g}"


def _claim_fit(theory: Theory, fast: bool) -> Outcome:
    """Data from the ECRAM preset with cycle noise -> fit; the slope of q- (the better-determined one)."""
    import tempfile
    from pathlib import Path
    p = presets.get("ecram")
    truth = theory.response(p.response())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sweep.csv"
        path.write_text(fit.synthetic_sweeps(p.response(), p.dw_min, sigma_c=0.3, seed=27))
        s = fit.read(path)
    res = fit.fit(s, ["linear"])[0]
    # the truth's q- slope in weight units (a wrong theory, e.g. q+ and q- swapped, predicts another one)
    h = 1e-4
    predicted = p.dw_min * float((truth.q_minus(np.array([h])) - truth.q_minus(np.array([-h])))[0] / (2 * h))
    measured, se = res.params["b_minus"], res.se["b_minus"]
    best = fit.fit(s)[0].family
    verdict = judge(predicted, measured, 3 * se) if best == "linear" else DISAGREE
    return Outcome(predicted, measured, se, 3 * se, verdict,
                   f"3 cycles of 600 up/down pulses of the ECRAM preset, cycle noise 0.3 dw_min: best family {best} "
                   f"(lowest BIC); fitted q- slope {measured:.4g} +- {se:.2g}, true {predicted:.4g}; q+ slope "
                   f"{res.params['b_plus']:.3g} +- {res.se['b_plus']:.2g}")


NOTE_27 = ("Device-to-device variation (27.*.d2d, 27.*.sgd-d2d, 27.*.rl-d2d) with the reference simulator's "
           "semantics (step gain, up/down imbalance, each device's own bounds and linear-step slopes, the arrays' "
           "reference error): the numeric devices stretch the mean response, q+_i(w) = s+_i q+(k+_i w), the theory "
           "solves each device's own expressions with its drawn parameters, and the two agree device by device (the "
           "SPs within one pulse step: the pulsed 2-cycle's middle). Analog SGD on an array of such devices: each "
           "chain's stationary mean follows its own device's drift root; the mean difference and the slope of chain "
           "means against the roots are 0 and 1 + O(lr), so both are judged after the extrapolation to lr -> 0 (the "
           "numbers at lr, 2 lr, 4 lr are in the rows 27.*.sgd-d2d). The ECRAM's own slopes (gamma_dtod 0.05) barely move its fixed points"
           " (spread 0.004 with them, 0.002 without), so its SGD check cannot tell them apart; its SP check can (a "
           "theory with the mean slopes is off by 9 pulse steps). Residual Learning on such an array (27.reram-"
           "es.rl-d2d) keeps a bias per device, set by its own residual array's R_P,i(0) (ReRAM-ES: limits 0.465 +- "
           "0.013 over devices for w* = 0.5); an exponential-step device's R_P(0) does not depend on its own bounds "
           "(z = b at p = 0), so there the check's negative control is a moved SP. For the ReRAM arrays (steps 5-46%"
           " of the range, up to 10x with the log-normal gain) a pulsed device's 2-cycle sits up to 0.4 of its own "
           "step from its SP and 'at a bound' is ambiguous for a few percent of the devices (aimc-theory presets "
           "reram-array-om --devices N): the small-step notion of an SP reaches its limit there, and these presets "
           "are not in the d2d checks.")


def catalogue() -> list[Claim]:
    """The claims 27.*; every one carries the note on claims 27 (the report writes it once)."""
    claims = []
    for name, p in presets.PRESETS.items():
        if p.constant_step:
            claims.append(Claim(f"27.{name}", f"reference simulator preset ({p.device_class})",
                                "constant steps: q+ = q-, every point is symmetric (no SP)",
                                "symbolic G = 0 and 1000 up/down pulse pairs leave the weight where it was (1e-9)",
                                _claim_constant(name), family=name, controls=("up_down=0.01",)))
            continue
        claims.append(Claim(f"27.{name}", f"reference simulator preset ({p.device_class})",
                            "the toolkit's SP of the preset is its simulator's closed form and where pulsing settles",
                            "derived SP vs the simulator's closed form (1e-9; 1e-3 for ReRam-ES's 4-digit table) and vs "
                            "a device pulsed with alternating pulses (within one pulse step)", _claim_sp(name),
                            family=name, controls=("sp_shift=0.04",)))
        claims.append(Claim(f"27.{name}.rate", f"reference simulator preset ({p.device_class})",
                            "alternating pulses contract |w - SP| by e every -2/ln|M'| pulses (M the up-down pair map)",
                            "linearized pair map (1 - k+)(1 - k-) from q'(SP) (symbolic) vs the decay fitted to the pulsed "
                            "device; 3 SE of the fit + the exact map's next-order term (derived)",
                            _claim_rate(name), family=name,
                            controls=("up_down=0.1",) if name not in RATE_CONTROLS else RATE_CONTROLS[name]))
    for name in D2D:
        claims.append(Claim(f"27.{name}.d2d", "reference simulator d2d semantics (step gain, up/down imbalance, "
                            "own bounds and slopes)",
                            "each device's SP under the preset's device-to-device variation follows from its own "
                            "response: theory and pulsing classify the devices alike and agree on every SP",
                            "same status (interior / at a bound / neutral) for >= 99% of the devices, every interior "
                            "SP within one of the device's own pulse steps", _claim_d2d(name), family=name,
                            controls=("own_shapes=false",)))
    for name in SGD_D2D:
        claims.append(Claim(f"27.{name}.sgd-d2d", "P1 eq. 42 per device, reference simulator d2d semantics",
                            "Analog SGD on an array of real devices: every device converges to its own fixed point, "
                            "the root of its own mean drift f' F_i + E|g| G_i",
                            "paired over chains at lr, 2 lr, 4 lr, extrapolated to lr -> 0: mean(chain mean - device "
                            "fixed point) within 3 SE + the measured O(lr^2) remainder, and the slope of chain means on "
                            "fixed points 1 within the same", _claim_sgd_d2d(name), family=name,
                            controls=("moment=std",)))
    for name in RL_D2D:
        claims.append(Claim(f"27.{name}.rl-d2d", "spec F.4 per device, reference simulator d2d semantics",
                            "Residual Learning on an array of real devices: the residual array's own SP error sets "
                            "each device's bias, mu_i + E|g|(mu_i) R_P,i(0) = 0",
                            "paired over chains at lr, 2 lr, 4 lr, extrapolated to lr -> 0: mean(chain mean - device "
                            "limit) within 3 SE + the measured O(lr^2) remainder, and the slope of chain means on limits "
                            "1 within the same", _claim_rl_d2d(name), family=name,
                            controls=("sp_shift=0.04",)))
    claims.append(Claim("27.fit", "aimc-theory fit", "fitting up/down pulse sweeps recovers the device's response",
                        "ECRAM preset pulsed with cycle noise: the linear step wins (BIC) and the q- slope is within "
                        "3 SE of the truth", _claim_fit, family="ecram", controls=("penalty_sign=-1",)))
    return [replace(c, note=NOTE_27) for c in claims]
