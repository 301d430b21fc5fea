"""The mutation battery: standard wrong theories every claim is run against.

A verdict is evidence only if a wrong theory would have failed it. Each operator below is a
:class:`~verification.theory.Theory` with one knob set wrong, the way a careful theorist could get it
wrong. For every claim and operator the checker records

* ``killed``          the wrong theory's prediction lies outside the claim's tolerance (a rejection *by
                      comparison*);
* ``survived``        the wrong theory predicts something different and the claim still agrees;
* ``no prediction``   the wrong theory raises (no SP, no root, ...): counted apart, never as killed;
* ``not applicable``  the wrong theory predicts exactly what the correct one does for this claim (the
                      claim does not depend on that piece of theory: e.g. a penalty sign when the
                      residual SP sits at 0).

The mutation score is killed / (killed + survived) over the claims (implementation checks and recorded
findings apart).
"""
from __future__ import annotations

import math
from dataclasses import fields

from aimc_theory.errors import InputError

from .theory import Theory

KILLED, SURVIVED, NO_PREDICTION, NOT_APPLICABLE = "killed", "survived", "no prediction", "not applicable"

# name -> why a careful theorist could get it wrong (the battery, in report order)
BATTERY = {
    "moment=std": "the penalty weight taken as the noise std s instead of the first absolute moment E|g|",
    "moment=variance": "a penalty weighted by the noise variance s^2",
    "moment=gaussian": "the penalty weight of Gaussian noise, sqrt(2/pi) s, whatever the noise law",
    "penalty_sign=-1": "q+ and q- exchanged: the asymmetric drift and the penalty with the wrong sign",
    "sp_shift=0.04": "the symmetric point misplaced by 2% of the weight range",
    "up_down=0.1": "the up steps believed 10% smaller than they are",
    "small_bias": "P1 eq. 43's first-order fixed point in place of the exact root of the mean drift",
    "exact_convergence": "no asymptotic error (fixed points at the optimum, RL and RIDER unbiased)",
    "variance_factor=0.5": "a factor 2 missing in a stationary variance",
    "lr_order=1": "the stationary variance of Analog SGD with lr instead of lr^2",
    "no_cycle_noise": "the cycle-to-cycle noise left out of the theory",
    "ema_ratio=naive": "the EMA's noise-variance ratio taken as beta instead of beta/(2 - beta)",
    "drift=batch-mean": "the batch-mean drift |sum_b x_b d_b| G for the per-sample drift sum_b |x_b d_b| G",
    "drift=per-sample": "the per-sample drift for a model that writes the batch-mean gradient",
    "threshold_scale=0.5": "RL v2's buffer bound taken as dw_min/2",
    "lemma35_factor=1": "P2 Lemma 3.5's threshold with factor 1 instead of 2",
    "own_shapes=false": "device-to-device variation of the step scales only (every device with the mean shape)",
    "ordering=-1": "every network ordering reversed",
}


CHOICES = {"moment": ("abs", "std", "variance", "gaussian"), "ema_ratio": ("exact", "naive"),
           "drift": ("model", "batch-mean", "per-sample")}


def parse(spec: str) -> Theory:
    """``NAME[=VALUE]`` -> the wrong :class:`Theory` (a bare boolean knob means true)."""
    name, _, value = spec.strip().partition("=")
    name = name.strip()
    kinds = {f.name: f.type for f in fields(Theory)}
    if name not in kinds:
        raise InputError("mutate", f"unknown theory knob {name!r}; knobs: {', '.join(sorted(kinds))} "
                                     f"(the battery: {', '.join(BATTERY)})")
    kind = str(kinds[name])
    default = getattr(Theory(), name)
    try:
        if kind == "bool":
            if value and value.strip().lower() not in ("true", "false", "1", "0"):
                raise ValueError
            v = value.strip().lower() in ("true", "1") if value else True
        elif kind == "int":
            v = int(value)
        elif kind == "float":
            v = float(value)
            if not math.isfinite(v):
                raise ValueError
        else:
            v = value.strip()
            if not v:
                raise ValueError
    except ValueError:
        raise InputError("mutate", f"{name} takes a {'true/false' if kind == 'bool' else kind} value "
                                     f"(default {default!r}; got {value!r})") from None
    if name in CHOICES and v not in CHOICES[name]:
        raise InputError("mutate", f"{name} is one of {', '.join(CHOICES[name])} (got {v!r})")
    theory = Theory(**{name: v})
    if theory == Theory():
        raise InputError("mutate", f"{spec!r} is the correct theory ({name} = {default!r}); give a wrong value")
    return theory


def battery() -> dict[str, Theory]:
    return {name: parse(name) for name in BATTERY}


def _same(a: float, b: float) -> bool:
    if a is None or b is None:
        return a is b
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= 1e-12 * max(abs(a), abs(b))


def classify(correct, wrong) -> str:
    """How a wrong theory's comparison compares with the correct theory's on the same claim."""
    if wrong.no_prediction:
        return NO_PREDICTION
    if (all(_same(getattr(correct, k), getattr(wrong, k)) for k in ("theory", "measured", "tolerance"))
            and correct.verdict == wrong.verdict and correct.explanation == wrong.explanation):
        return NOT_APPLICABLE
    return KILLED if wrong.verdict == "disagree" else SURVIVED


def score(rows: list[dict]) -> dict:
    """Mutation score over the claims (kind "claim", expected to agree) that ran the battery."""
    counts = {KILLED: 0, SURVIVED: 0, NO_PREDICTION: 0, NOT_APPLICABLE: 0}
    survivors = []
    for r in rows:
        if r.get("kind", "claim") != "claim" or r["expected_verdict"] != "agree" or not r.get("mutants"):
            continue
        for name, status in r["mutants"].items():
            counts[status] += 1
            if status == SURVIVED:
                survivors.append((r["id"], name))
    judged = counts[KILLED] + counts[SURVIVED]
    return {"score": counts[KILLED] / judged if judged else None, "counts": counts, "survivors": survivors}
