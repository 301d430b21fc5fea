"""Run the claims catalogue, write ``paper_checks.md`` and ``figures/``."""
from __future__ import annotations

import datetime as _dt
import math
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path


import numpy as np

from aimc_theory import __version__
from aimc_theory.files import atomic_write_text, save_figure
from aimc_theory.runtime import limit_blas_threads

from . import claims_network, mutants as mutant_ops
from .catalogue import select
from .claim_types import FAMILIES, Outcome
from .theory import Theory

NOTES = {
    "26.rider-offset": lambda rows: (
        "Finding about this model's RIDER, explained by the scalar theory of RIDER (spec F.5): with W <- W + beta "
        "(P - Q) and Q <- Q + eta (P - Q), W - (beta/eta) Q is invariant for an ideal main array, so while the SP "
        "estimate Q travels from Q0 = 0 to the residual array's SPs (the offset) every weight is displaced by about "
        "(beta/eta) times the offset in the transient, which the gradient must undo. It depends on Q0 (claims 22.*: "
        "the limit depends on the initialization), which P2 does not state: " + rows["26.rider-offset"]["explanation"]
        if "26.rider-offset" in rows else ""),
    "26.erider-offset": lambda rows: (
        "Finding about this toolkit's expected-update E-RIDER, not about P2: " + rows["26.erider-offset"]["explanation"]
        + ". It rests on modelling choices P2 does not make: one chopper sign per tile flips the mixed weight W + "
        "gamma c (P - Q) as a whole and transfers the residual content accumulated before a flip with the wrong sign "
        "(the reference simulator chops per input column with thresholded pulsed writes), the chopper rate p = 0.05 "
        "(in the scalar claims 23.* the outcome changes with p relative to P's relaxation rate), Q0 = 0, and the "
        "comparison with RL v1 (P2 Tables 1-2 compare E-RIDER with TT-v2 and AGAD)."
        if "26.erider-offset" in rows else ""),
    "2": "Pulse trains with BL = ceil(|dw|/dw_min) overshoot the request by up to dw_min, a relative "
         "error of up to dw_min/dw that jumps with the fractional part of |dw|/dw_min: over a sweep "
         "that is not aligned with dw_min the error is not monotone. The check therefore uses "
         "dw = 1/n with dw_min = dw^2 (BL = n exactly); the O(dw) curvature term of P1 Thm 4 remains.",
    "5": lambda rows: (
        "The small-bias approximation (P1 eq. 43, m ~ Sigma) is only a first-order statement: "
        + "; ".join(f"{r['id']}: drift root {r['theory']:.4f}, simulated {r['measured']:.4f}, "
                    + r["explanation"].split("; ")[-1]
                    for k, r in rows.items() if k.startswith("5.") and k != "5.nonconvex")
        + ". The exact mean-drift root with the folded-normal moment m(f'(w)) is what matches."),
    "9.eq60-printed": lambda rows: (
        "P1 eq. 60 prints W^S = (f''W* - R'Sigma W_sp)/(f'' - R'Sigma): with that sign the predicted bias points "
        "away from the SP; the form consistent with eq. 43, (f''W* + R'Sigma W_sp)/(f'' + R'Sigma), is the one "
        "that matches to first order (claims 9.*). " + rows["9.eq60-printed"]["explanation"].split(". ", 1)[-1]
        if "9.eq60-printed" in rows else ""),
    "16.stress": "P1's threshold rule fires at most one pulse of dw_min per coordinate and step, so "
                 "|H| < dw_min after every step holds only while beta |P + eps| <= (1 + beta) dw_min "
                 "(then |H_half| < 2 dw_min). With the EMA weight of the authors' code (beta = 0.1, "
                 "momentum 0.9) the residual array's own gradient-noise fluctuations (std ~ sqrt(lr) s) "
                 "already break it: the buffer then carries a backlog of several dw_min (claims 16.* "
                 "hold with beta = 0.005).",
    "22.thm37": lambda rows: (
        "P2 Thm 3.7 claims W_k -> W* and P_k, Q_k -> the SP of P from any initialization. Derived here "
        "(aimc_theory.symbolic.tracking): with an ideal main array RIDER conserves I = W_k - (beta/eta) Q_k "
        "exactly (both W and Q integrate P_{k+1} - Q_k), so the limit is where the line W = I + (beta/eta) Q "
        "meets P's rest condition mu F_P(Q) + m(mu) G_P(Q) = 0: it depends on (W0, Q0), and W* with Q at the SP "
        "is reached only from the initializations with I = W* - (beta/eta) SP_P. With a non-ideal main array "
        "the fluctuations of P - Q pull W to the main array's own SP instead. Both are confirmed by simulation "
        "(claims 22.*; " + rows["22.thm37"]["explanation"] + "). The finding rests on eq. 11a/11b/12 as "
        "recovered from P2's appendix proofs; a RIDER whose W update differs from Q's would not have the "
        "invariant." if "22.thm37" in rows else ""),
    "23.nonideal-main": lambda rows: (
        "E-RIDER's chopper removes RIDER's dependence on the initialization for an ideal main array "
        "(claims 23.reference, 23.main), but, at chopper rates comparable to or above P's relaxation rate, not the main "
        "array's own asymmetry (it shrinks as p/a -> 0; a finding about the chopper rate, not a refutation of P2): "
        + rows["23.nonideal-main"]["explanation"] + ". This is the analogue of the read-noise bias of RL v1 "
        "(claims 15.*): any zero-mean fluctuation written onto a non-ideal array acts as an implicit penalty "
        "toward that array's SP." if "23.nonideal-main" in rows else ""),
    "17": lambda rows: (
        "Stochastic zero-shifting settles at E(w - SP)^2 = c^2/(1 - [(1-k+)^2 + (1-k-)^2]/2) ~ dw tau/2 for "
        "every family tried (linearized at the SP where the response is not linear). P2's bounds hold but "
        "are loose: " + rows["17.bounds"]["explanation"].split("(SP -0.2): ", 1)[-1] + ". Erratum: Thm C.2 "
        "prints N <= (1/(2 mu dw)) log(2|W0 - SP|^2/delta); its proof needs N >= (used by `calibrate`)."
        if "17.bounds" in rows else ""),
    "18": lambda rows: (
        "Cyclic zero-shifting does not converge to the SP but to a 2-cycle O(dw) around it, so its "
        "squared error floor is O(dw^2) (about dw^2/4 for a symmetric device), far below P2 Thm C.4's "
        "O(dw) bound (the ratio is in each 18.* row). The midpoint of the cycle is biased by "
        "c(k+ - k-)/(2(k+ + k- - k+k-)) for asymmetric slopes (18.f3, 18.linear)."),
    "19": lambda rows: _note_19(rows["19.cyclic"]) if "19.cyclic" in rows else "",
    "24": lambda rows: (
        "Corollary 3.9's scaling is confirmed: the calibration stage grows as 1/dw_min. In this scalar "
        "problem, however, calibrate-then-RL is cheaper than E-RIDER down to dw_min ~ "
        + f"{rows['24.pulses']['_data']['crossover']:.0e}"
        + " (E-RIDER needs more steps to move its reference than RL needs to converge once the reference is "
        "right); P2 Fig. 4 (LeNet-5, 2000 states) finds E-RIDER cheapest throughout. RIDER without the "
        "chopper does not reach the target from an uncalibrated reference at all (finding 22.thm37)."
        if "24.pulses" in rows else ""),
    "13": lambda rows: " ".join(f(rows[k]) for k, f in (("13.faithful", _note_faithful), ("13.fig2", _note_fig2),
                                                        ("13.long", _note_long)) if k in rows),
    "10": lambda rows: (
        "Thm 2 holds in every family tried; the App. H bound exceeds the measured E_K by a factor "
        + ", ".join(f"{r['theory'] / r['measured']:.1f} ({r['id']})" for k, r in rows.items()
                    if k.startswith("10.") and r["measured"]) + "."),
    "27": ("Device-to-device variation (27.*.d2d, 27.*.sgd-d2d, 27.*.rl-d2d) with the reference simulator's "
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
           "are not in the d2d checks."),
}


def _note_19(row) -> str:
    d = row["_data"]
    rel = {dw: abs(d["measured"][dw] - d["log"]) / d["log"] for dw in d["dws"]}
    worst = max(rel, key=rel.get)
    return ("N dw_min to a fixed tolerance is " + ("constant" if row["verdict"] == "agree" else "NOT constant")
            + f" across dw_min = {min(d['dws']):g}..{max(d['dws']):g} (P2 Fig. 1b's inverse-linear relation); the "
            f"largest deviation from tau ln(|x0|/delta) = {d['log']:.4f} is {100 * rel[worst]:.1f}% at dw_min = "
            f"{worst:g}, where the 2-cycle offset (~dw/2) is no longer small next to the tolerance. The "
            "stochastic scheme cannot reach a tolerance below its Theta(sqrt(dw)) RMS floor "
            "(figures/sp_calibration.png).")


def _note_faithful(row) -> str:
    res, worse = row["_data"]["result"], row["_data"]["worse"]
    return ("P1 Fig. 2 as the authors ran it (model aihwkit: 100 per-sample pulse trains per iteration under update "
            "and BL management, column-wise pulsed transfer, aihwkit's one-sided up_down, SP = 3.5 u/(2 - u)): "
            + "; ".join(f"u = {u:g}: ASGD {a:.2e}, TT {t:.2e}" for u, a, t in zip(res.up_down, res.analog_sgd,
                                                                             res.tiki_taka))
            + f". TT ends worse than Analog SGD for up_down in {worse}"
            + (", as the per-sample drift theory predicts (13.faithful): the asymmetric drift of a mini-batch is "
               "sum_b |lr x_b d_b| G, first order in the error like the gradient, and under capped pulse trains it is a "
               "sign balance that a large residual can satisfy, so TT stalls in a spurious stationary state with part "
               "of C at the bound on the side of the residual SP (13.drift). At up_down = 0.1 TT still reaches "
               "~3e-5 (P1 says it degrades below ASGD there: 13.paper)." if row["verdict"] == "agree" else
               "; the per-sample theory predicts otherwise (13.faithful).")
            + " The earlier batch-mean rerun (one pulse train per iteration with the mean gradient) is a different "
            "experiment: its asymmetric drift |sum_b x_b d_b| G vanishes with the gradient, TT never ends below ASGD "
            "(13.batch-mean, 13.fig2), and its c_Lin > 0 gap closes with time (13.long).")


def _note_fig2(row) -> str:
    final, below = row["_data"]["final"], row["_data"]["rl_worse"]
    text = ("P1 Fig. 2 rerun, final f/D: " + "; ".join(
        f"c_Lin = {c}: ASGD {final[('analog-sgd', c)]:.2e}, RL {final[('residual-learning', c)]:.2e}"
        for c in (0.0, 0.1, 0.2, 0.3)) + ".")
    if not below:
        text = ("Model batch-mean with P1's SP convention c tau: " + text + " RL beats Analog SGD at c_Lin = 0 "
                "and degrades for c_Lin > 0 but stays better than Analog SGD at every c_Lin in this model.")
    return text


def _note_long(row) -> str:
    if row["verdict"] != "agree":
        return row["explanation"]
    return ("P1 explains the c_Lin > 0 degradation of Fig. 2 by a non-vanishing asymptotic error "
            "(S_K^RL > 0 when the residual SP is not at 0). In the Fig. 2 problem the labels are "
            "noiseless, so E|g| = 0 at W* and spec F.4 predicts no bias; the noise-free batch-mean mean-field "
            "(which converges exactly) predicts the transient, and the pulsed runs end at the same rounding floor "
            "for every c_Lin (13.long: " + row["explanation"] + "). The gap at 1000 iterations is a slower "
            "transient; the asymptotic RL bias of F.4 needs gradient noise at the optimum (claims 12.*).")


def _clean(x):
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def _run_claims(ids: list[str], fast: bool, theory: Theory, total: int, progress: bool,
                network: bool = False, mutants: tuple[str, ...] = (), controls: bool = False) -> list[dict]:
    """Run the claims with these exact ids (in a worker process or in this one); with ``controls`` each
    claim's own wrong theories, with ``mutants`` these operators of the battery, right after the claim in
    the same process (so they share its cached simulations)."""
    rows = []
    by_id = {c.id: c for c in select(ids, network)}
    for cid in ids:
        claim = by_id[cid]
        if progress:
            print(f"[{len(rows) + 1}/{len(ids)} of {total}] {claim.id}: {claim.statement[:70]}",
                  file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        out: Outcome = claim.evaluate(theory, fast)
        row = {
            "id": claim.id, "source": claim.source, "statement": claim.statement,
            "method": claim.method, "family": claim.family, "kind": claim.kind,
            "theory": _clean(out.theory), "measured": _clean(out.measured), "se": _clean(out.se),
            "tolerance": _clean(out.tolerance), "allowance": _clean(out.allowance), "allowance_basis": out.basis,
            "mde": _clean(out.mde), "mde_relative": _clean(out.mde_relative), "verdict": out.verdict,
            "expected_verdict": claim.expected_verdict, "explanation": out.explanation,
            "controls": list(claim.controls), "_data": out.data,
        }
        judged: dict[str, str] = {}
        moved: dict[str, float | None] = {}     # how far each wrong theory's prediction moved

        def status(spec: str) -> str:
            if spec not in judged:
                wrong = claim.evaluate(mutant_ops.parse(spec), fast)
                judged[spec] = mutant_ops.classify(out, wrong)
                # how far the wrong theory moved the comparison (its prediction, or the measured discrepancy of a
                # claim that compares a vector with the theory's and reports the norm)
                moved[spec] = _clean(max(abs(wrong.theory - out.theory), abs(wrong.measured - out.measured)))
            return judged[spec]

        if controls:
            row["control_results"] = {spec: status(spec) for spec in claim.controls}
        if mutants and claim.expected_verdict == "agree":
            row["mutants"] = {spec: status(spec) for spec in mutants}
            row["mutant_shift"] = {spec: moved[spec] for spec in mutants if judged[spec] == mutant_ops.SURVIVED}
            row["_moved"] = dict(moved)
        row["seconds"] = round(time.perf_counter() - t0, 2)
        rows.append(row)
    return rows


def run(ids: list[str] | None = None, fast: bool = False, theory: Theory | None = None,
        progress: bool = False, workers: int | None = None, network: bool = False,
        mutants: list[str] | tuple[str, ...] | None = None, controls: bool = False) -> list[dict]:
    """Run the selected claims; returns one dict per claim (the JSON rows of docs/cli.md).

    Claims run in ``workers`` processes (default: up to 2, the cores CI has); claims that share
    cached simulations (a ``Claim.group``) form one task, tasks are handed out as workers free up.
    ``mutants`` (operator specs, :data:`verification.mutants.BATTERY` for all) adds ``mutants`` to every
    claim expected to agree: name -> killed / survived / no prediction / not applicable; ``controls``
    adds ``control_results`` for each claim's own controls.
    """
    theory = theory or Theory()
    mutants = tuple(mutants or ())
    for spec in mutants:
        mutant_ops.parse(spec)          # a bad spec fails before anything runs
    claims = select(ids, network)
    order = [c.id for c in claims]
    workers = workers or min(2, os.cpu_count() or 1)
    tasks: dict[str, list[str]] = {}
    for c in claims:      # a task is a group of claims that share cached simulations
        tasks.setdefault(c.task, []).append(c.id)
    parts = sorted(tasks.values(), key=len, reverse=True)     # larger groups first, then dynamic
    if workers <= 1 or len(parts) <= 1:
        rows = _run_claims(order, fast, theory, len(order), progress, network, mutants, controls)
    else:
        ctx = multiprocessing.get_context("fork")
        # one BLAS thread per worker: two workers x two threads on two cores spin on small matrices
        with ProcessPoolExecutor(min(workers, len(parts)), mp_context=ctx, initializer=limit_blas_threads,
                                 initargs=(1,)) as pool:
            futures = [pool.submit(_run_claims, p, fast, theory, len(order), False, network, mutants, controls)
                       for p in parts]
            rows = []
            for f in as_completed(futures):
                done = f.result()
                rows += done
                if progress:
                    print(f"[{len(rows)}/{len(order)}] " + ", ".join(f"{r['id']} {r['verdict']}" for r in done)
                          + f" ({sum(r['seconds'] for r in done):.1f} s)", file=sys.stderr, flush=True)
    rank = {cid: i for i, cid in enumerate(order)}
    return sorted(rows, key=lambda r: rank[r["id"]])


def public(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]


def all_as_expected(rows: list[dict]) -> bool:
    return all(r["verdict"] == r["expected_verdict"] for r in rows)


def fmt(x) -> str:
    return "—" if x is None else f"{x:.6g}"


def _table(rows: list[dict]) -> list[str]:
    lines = ["| id | source | statement | theory | measured ± SE | tolerance (allowance: basis) | MDE (relative) "
             "| verdict (expected) | explanation |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        mark = r["verdict"] if r["verdict"] == r["expected_verdict"] else f"**{r['verdict']}**"
        allow = r.get("allowance")
        tol = fmt(r["tolerance"]) + (f" ({fmt(allow)}: {r.get('allowance_basis', '')})" if allow else
                                     f" ({r.get('allowance_basis', 'none')})")
        mde = fmt(r.get("mde")) + (f" ({100 * r['mde_relative']:.2g}%)" if r.get("mde_relative") else "")
        cells = [r["id"], r["source"], r["statement"], fmt(r["theory"]),
                 f"{fmt(r['measured'])} ± {fmt(r['se'])}", tol, mde,
                 f"{mark} ({r['expected_verdict']})", r["explanation"]]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return lines


def mutation_section(rows: list[dict]) -> list[str]:
    """The mutation matrix (claims x wrong theories), the score and every survivor with its reason."""
    ran = [r for r in rows if r.get("mutants")]
    if not ran:
        return []
    ops = list(dict.fromkeys(k for r in ran for k in r["mutants"]))
    sc = mutant_ops.score(rows)
    c = sc["counts"]
    abbrev = {mutant_ops.KILLED: "K", mutant_ops.SURVIVED: "**S**", mutant_ops.NO_PREDICTION: "np",
              mutant_ops.NOT_APPLICABLE: "·"}
    lines = ["## Mutation matrix", "",
             "Each claim is run against the standard battery of wrong theories (`aimc-theory check --mutants`). K: "
             "killed by comparison (the wrong prediction lies outside the tolerance); **S**: survived; np: the wrong "
             "theory gives no prediction (raises; never counted as killed); ·: not applicable (the wrong theory "
             "predicts exactly what the correct one does for this claim).", "",
             f"**Mutation score {sc['score']:.3f}** = killed / (killed + survived) over the claims = "
             f"{c[mutant_ops.KILLED]} / ({c[mutant_ops.KILLED]} + {c[mutant_ops.SURVIVED]}); "
             f"{c[mutant_ops.NO_PREDICTION]} pairs without a prediction, {c[mutant_ops.NOT_APPLICABLE]} not "
             "applicable. Implementation checks are listed but not scored." if sc["score"] is not None else
             "No claim-mutant pair could be judged.", "",
             "| wrong theory | what it gets wrong |", "|---|---|"]
    lines += [f"| `{k}` | {mutant_ops.BATTERY.get(k, 'user-given')} |".replace("|g|", "\\|g\\|") for k in ops]
    lines += ["", "| claim | " + " | ".join(f"`{k}`" for k in ops) + " |", "|---" * (len(ops) + 1) + "|"]
    for r in ran:
        tag = "" if r.get("kind", "claim") == "claim" else " (impl.)"
        lines.append(f"| {r['id']}{tag} | " + " | ".join(abbrev[r["mutants"].get(k, mutant_ops.NOT_APPLICABLE)]
                                                      for k in ops) + " |")
    surv = survivors(rows)
    if surv:
        lines += ["", "Survivors and why they are not detected at this budget:", ""]
        lines += [f"- {cid} x `{k}`: {why}." for cid, k, why in surv]
    return lines + [""]


def survivors(rows: list[dict]) -> list[tuple[str, str, str]]:
    """(claim, wrong theory, why it is not detected) for every survivor of the battery among the claims."""
    out = []
    for r in rows:
        if r.get("kind", "claim") != "claim" or not r.get("mutants"):
            continue
        for k, v in r["mutants"].items():
            if v != mutant_ops.SURVIVED:
                continue
            shift, mde = r.get("mutant_shift", {}).get(k), r.get("mde")
            if r.get("allowance_basis", "").startswith("none (one-sided"):
                why = (f"a one-sided bound: the wrong theory moves the bound by {fmt(shift)}, less than its slack "
                       f"{fmt(mde)} above the measurement")
            elif shift is not None and mde is not None and shift < mde:
                why = (f"the wrong theory moves the prediction by {fmt(shift)}, below the claim's minimum detectable "
                       f"deviation {fmt(mde)}")
            else:
                why = f"the wrong theory changes the comparison but not past its tolerance (MDE {fmt(mde)})"
            out.append((r["id"], k, why))
    return out


def write_report(rows: list[dict], path: Path, fast: bool, seconds: float, figures: list[str],
                 device: str | None = None) -> None:
    network = any(r["id"].startswith("26.") for r in rows)
    impl = [r for r in rows if r.get("kind", "claim") != "claim"]
    claims = [r for r in rows if r.get("kind", "claim") == "claim"]
    n = len(claims)
    counts = {v: sum(r["verdict"] == v for r in claims) for v in ("agree", "disagree", "inconclusive")}
    unexpected = [r for r in rows if r["verdict"] != r["expected_verdict"]]
    findings = sum(r["expected_verdict"] == "disagree" for r in claims)
    sc = mutant_ops.score(rows)
    lines = [
        "# Paper checks" if device is None else f"# Device checks: {device}",
        "",
        *([] if device is None else [
            f"The catalogue's single-response claims run on the device `{device}` (family `device` below), with "
            "the same problems, budgets and tolerances as for the built-in families.", ""]),
        f"Generated by `aimc-theory check{' --fast' if fast else ''}{' --network' if network else ''}"
        f"{' --mutants' if sc['score'] is not None else ''}{' --response ...' if device else ''}` "
        f"(aimc-theory {__version__}) on "
        f"{_dt.date.today().isoformat()} in {seconds:.0f} s; do not edit by hand. Theory values come "
        "from the symbolic module (SymPy, lambdified), measured values from the NumPy simulation, "
        "with the standard error (SE) across independent chains. Every tolerance is k SE plus a model allowance "
        "whose basis is stated (derived: a next-order term computed; measured: an extrapolation run for it); the "
        "MDE is the smallest error of the theory the tolerance rejects in either direction. Papers: P1 = arXiv "
        "2502.06309 (response functions, implicit penalty, Residual Learning), P2 = arXiv 2602.21321 (SP "
        "calibration, RIDER, E-RIDER); 'spec F.x' names a closed form derived for this toolkit (documented in the "
        "docstrings of `aimc_theory.symbolic`).",
        "",
        f"**{n} claims ({findings} of them recorded findings) and {len(impl)} implementation checks: "
        f"{counts['agree']} claims agree, {counts['disagree']} disagree, {counts['inconclusive']} inconclusive; "
        + ("every verdict is the expected one" if not unexpected else
           f"{len(unexpected)} verdict(s) differ from the expected one: " + ", ".join(r["id"] for r in unexpected))
        + (f"; mutation score {sc['score']:.3f}" if sc["score"] is not None else "") + ".**",
        "",
        *_table(claims),
    ]
    if impl:
        lines += ["", "## Implementation checks", "",
                  "Here the theory side re-runs the simulation's own arithmetic (or checks an invariant of the "
                  "implementation): these rows test the code, not the papers, and are not counted as claims.", "",
                  *_table(impl)]
    lines += ["", "## How each claim is measured", ""]
    seen = set()
    for r in rows:
        key = r["id"].split(".")[0]
        if (key, r["method"]) in seen:
            continue
        seen.add((key, r["method"]))
        lines.append(f"- **claim {key}** ({r['source']}): {r['method']}")
    by_id = {r["id"]: r for r in rows}
    lines += ["", "## Findings", "",
              "Statements of the papers (or of the spec) that do not hold as printed, and what the checks "
              "taught us. A claim recorded with expected verdict `disagree` is a finding, not a failure.", ""]
    for r in rows:
        if r["expected_verdict"] == "disagree":
            note = NOTES.get(r["id"], r["explanation"])
            lines.append(f"- **{r['id']}** ({r['source']}): {note(by_id) if callable(note) else note}")
    for r in unexpected:
        lines.append(f"- **{r['id']} unexpected verdict `{r['verdict']}`**: {r['explanation']}")
    ran = {r["id"].split(".")[0] for r in rows}
    for key, text in NOTES.items():
        if "." not in key and key in ran:
            lines.append(f"- Claim {key}: {text(by_id) if callable(text) else text}")
    lines += ["", "## Test devices and problems", "",
              "Scalar problems: f(w) = L/2 (w - w*)^2 with L = 1, w* = 0.5, gradient noise s = 0.3 "
              "(Gaussian), lr = 0.01, expected-update device model. Families: "
              + "; ".join(f"`{k}` = {v().describe()}" for k, v in FAMILIES.items()) + ".",
              "",
              "SP calibration (claims 17-19): pulse level with dw_min = 1e-3 unless stated; `f3` is the soft-bounds "
              "device with up step 1e-3 (1 - w) and down step 0.8e-3 (1 + w/1.2) (SP 0.12). RIDER / E-RIDER "
              "(claims 22-24): the residual array P is the family moved so that its SP is 0.1, the main array W "
              "is ideal unless stated, Q starts at Q0, lr = 0.01, gamma = 0.4, beta = 0.005, eta = 0.01, "
              "E-RIDER's chopper p = 0.05.", ""]
    lines += mutation_section(rows)
    lines += claims_network.report_section(rows)
    if figures:
        lines += ["## Figures", ""] + [f"- `{f}`" for f in figures] + [""]
    atomic_write_text(path, "\n".join(lines) + "\n")   # an interrupted run leaves the old report


def make_figures(rows: list[dict], outdir: Path, theory: Theory | None = None) -> list[str]:
    # figures are drawn on Figure objects (see _subplots): the caller's pyplot backend is left alone

    theory = theory or Theory()
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    by_id = {r["id"]: r for r in rows}

    # the accumulated penalty R_c(w) of each family (symbolic, no simulation)
    fig, ax = _subplots(figsize=(6, 4))
    for name, make in FAMILIES.items():
        resp = make()
        d = theory.derive(resp)          # R_c by quadrature: the same numbers, no closed-form search
        w = np.linspace(resp.lo, resp.hi, 201)[1:-1]
        ax.plot(w, d.penalty_fn(w), label=f"{resp.describe()} (SP {d.symmetric_point:.2g})")
    ax.set_xlabel("w")
    ax.set_ylabel("R_c(w) = ∫ G/F from the SP")
    ax.set_title("Accumulated asymmetric penalty (P1 Thm 1)")
    ax.legend(fontsize=7)
    written.append(_save(fig, outdir / "penalty.png"))

    six = [by_id.get(f"6.{f}") for f in FAMILIES]
    if any(six):
        fig, axes = _subplots(1, 2, figsize=(10, 4))
        for name, r in zip(FAMILIES, six):
            if not r:
                continue
            resp = FAMILIES[name]()
            s_grid = np.linspace(0.0, 0.3, 16)
            pred = [theory.fixed_point(resp, 1.0, 0.5, s, 0.01).exact - 0.5 for s in s_grid]
            line, = axes[0].plot(s_grid, pred, label=f"{name}: drift root")
            rows6 = r["_data"]["rows"]          # (s, theory bias, bias at lr -> 0, its SE, chain means, lrs)
            axes[0].errorbar([x[0] for x in rows6], [x[2] for x in rows6], yerr=[3 * x[3] for x in rows6],
                             fmt="o", color=line.get_color())
            s_top, pred_top, lim, _, means, lrs = rows6[-1]
            axes[1].plot([0.0, *lrs], [lim, *(m - 0.5 for m in means)], "o-", label=f"{name}: simulated",
                         color=line.get_color())
            axes[1].axhline(pred_top, ls="--", color=line.get_color(), lw=0.8)
        axes[0].set_xlabel("gradient noise s")
        axes[0].set_ylabel("bias E[w] - w*")
        axes[0].set_title("Bias vs noise (lines: theory, dots: lr -> 0 limit ± 3 SE)")
        axes[1].set_xlabel("learning rate (0: extrapolated)")
        axes[1].set_title("Bias vs learning rate at s = 0.2 (dashed: theory)")
        axes[0].legend(fontsize=7)
        axes[1].legend(fontsize=7)
        written.append(_save(fig, outdir / "bias_vs_noise_and_lr.png"))

    five = [(f, by_id.get(f"5.{f}")) for f in FAMILIES]
    seven = [(f, by_id.get(f"7.{f}")) for f in FAMILIES]
    if any(r for _, r in five) or any(r for _, r in seven):
        fig, axes = _subplots(1, 2, figsize=(10, 4))
        for name, r in five:
            if r:
                traj = r["_data"]["trajectory"]
                line, = axes[0].plot(np.arange(traj.size), traj, lw=0.8, label=name)
                axes[0].axhline(r["_data"]["w_inf"], ls="--", lw=0.8, color=line.get_color())
        axes[0].axhline(0.5, color="k", lw=0.8, label="w*")
        axes[0].set_xscale("symlog", linthresh=10)
        axes[0].set_xlim(left=0)
        axes[0].set_xlabel("step")
        axes[0].set_ylabel("mean over chains of w_k")
        axes[0].set_title("Trajectories vs predicted fixed point (dashed)")
        axes[0].legend(fontsize=7)
        for name, r in seven:
            if r:
                d = r["_data"]
                line, = axes[1].semilogy(d["k"], d["diff"] / d["diff"][0], label=f"{name} simulated")
                axes[1].semilogy(d["k"], d["rho"] ** d["k"], ls="--", color=line.get_color())
        axes[1].set_xlabel("step")
        axes[1].set_ylabel("E[w+ - w-] / (2 delta)")
        axes[1].set_title("Local rate: simulation vs rho^k (dashed)")
        axes[1].legend(fontsize=7)
        written.append(_save(fig, outdir / "trajectory_and_rate.png"))

    faithful, batch = by_id.get("13.faithful"), by_id.get("13.batch-mean")
    if faithful or batch:
        from aimc_theory.reproduce import draw_fig2
        results = [r["_data"]["result"] for r in (faithful, batch) if r]
        draw_fig2(results, outdir / "p1_fig2_models.png")
        written.append("figures/p1_fig2_models.png")

    fig2 = by_id.get("13.fig2")
    if fig2:
        fig, ax = _subplots(figsize=(6.5, 4.5))
        colors = [f"C{i}" for i in range(10)]
        for i, c in enumerate((0.0, 0.1, 0.2, 0.3)):
            for name, ls in (("analog-sgd", "-"), ("residual-learning", "--")):
                curve = fig2["_data"]["curves"][(name, c)]
                ax.semilogy(np.arange(curve.size), curve, ls=ls, color=colors[i],
                            label=f"{'ASGD' if name == 'analog-sgd' else 'TT/RL'} c_Lin={c}")
        ax.set_xlabel("iteration")
        ax.set_ylabel("f(W)/D")
        ax.set_title("P1 Fig. 2, model batch-mean, linear response tau = 3.5 (SP = c tau)")
        ax.legend(fontsize=7, ncol=2)
        written.append(_save(fig, outdir / "fig2_least_squares.png"))

    eleven = [(f, by_id.get(f"11.{f}")) for f in FAMILIES]
    if any(r for _, r in eleven):
        fig, ax = _subplots(figsize=(6, 4))
        for name, r in eleven:
            if r:
                ax.loglog(r["_data"]["lr"], r["_data"]["mse"], "o-", label=f"RL, {name} (zero-SP residual)")
        ax.set_xlabel("learning rate (beta = lr/2)")
        ax.set_ylabel("stationary E(W_bar - w*)^2")
        ax.set_title("RL error floor shrinks with lr (P1 Cor. 1)")
        ax.legend(fontsize=7)
        written.append(_save(fig, outdir / "rl_error_floor.png"))

    written += _sp_figures(by_id, outdir, theory)

    two = [(f, by_id.get(f"2.{f}")) for f in FAMILIES]
    if any(r for _, r in two):
        fig, ax = _subplots(figsize=(6, 4))
        for name, r in two:
            if r:
                ax.loglog(r["_data"]["dw"], r["_data"]["rel"], "o-", label=name)
        ax.set_xlabel("|dw| (dw_min = dw^2)")
        ax.set_ylabel("relative error of the pulse train vs U_q")
        ax.set_title("Pulse-train limit (P1 Thm 4)")
        ax.legend(fontsize=7)
        written.append(_save(fig, outdir / "pulse_limit.png"))

    net_rows = [r for r in rows if r["id"].startswith("26.")]
    if net_rows:
        fig, ax = _subplots(figsize=(7, 4.5))
        if claims_network.draw_curves(net_rows, ax):
            ax.set_xlabel("epoch")
            ax.set_ylabel("test accuracy (mean over seeds)")
            ax.set_title("Fashion-MNIST, FCN 784-256-128-10, expected-update tiles")
            ax.legend(fontsize=7)
            written.append(_save(fig, outdir / "network_curves.png"))
    return written


def _sp_figures(by_id: dict, outdir: Path, theory: Theory) -> list[str]:
    """Figures of claims 17-23: calibration pulses (P2 Fig. 1b), the EMA filter, RIDER / E-RIDER."""
    written = []
    r19 = by_id.get("19.cyclic")
    floors = [(k.split(".", 1)[1], r) for k, r in by_id.items() if k.startswith("17.") and k != "17.bounds"]
    if r19 or floors:
        fig, axes = _subplots(1, 2, figsize=(11, 4))
        if r19:
            d = r19["_data"]
            dws = np.array(d["dws"])
            axes[0].semilogx(dws, [d["measured"][x] for x in d["dws"]], "o", label="cyclic ZS, simulated")
            axes[0].semilogx(dws, [d["exact"][x] for x in d["dws"]], "-", label="cyclic, exact linear map")
            axes[0].axhline(d["log"], ls="--", color="k", lw=0.8, label="tau ln(|x0|/delta) (spec F.3)")
            from aimc_theory import response as _resp
            grid = np.geomspace(1e-5, 1e-2, 16)
            sto = []
            for dw in grid:
                th = theory.calibration(_resp.softbounds(tau=1.0, sp=0.12), dw)
                sto.append(th.pulses_to_tolerance("stochastic", 0.38, 0.04) * dw)
            axes[0].semilogx(grid, sto, ":", label="stochastic ZS (RMS), theory; inf where the floor > delta")
            axes[0].set_xlabel("dw_min")
            axes[0].set_ylabel("N x dw_min to |w - SP| <= 0.04")
            axes[0].set_title("Pulses to tolerance scale as 1/dw_min (P2 Fig. 1b)")
            axes[0].legend(fontsize=7)
        if floors:
            names = [n for n, _ in floors]
            x = np.arange(len(names))
            axes[1].bar(x - 0.2, [r["theory"] for _, r in floors], 0.4, label="theory c^2/(1 - a)")
            axes[1].bar(x + 0.2, [r["measured"] for _, r in floors], 0.4,
                        yerr=[3 * (r["se"] or 0) for _, r in floors], label="simulated ± 3 SE")
            axes[1].set_xticks(x)
            axes[1].set_xticklabels(names, fontsize=8)
            axes[1].set_ylabel("stationary E(w - SP)^2")
            axes[1].set_title("Stochastic zero-shifting floor, dw_min = 1e-3")
            axes[1].legend(fontsize=7)
        written.append(_save(fig, outdir / "sp_calibration.png"))

    r20 = by_id.get("20.ema")
    if r20:
        fig, ax = _subplots(figsize=(6, 4))
        for eta, (omega, gain, pred) in r20["_data"].items():
            sel = slice(1, None, 37)
            line, = ax.loglog(omega[sel], gain[sel], "o", ms=3, label=f"eta = {eta}: FFT of impulse response")
            ax.loglog(omega[1:], pred[1:], "-", color=line.get_color(), lw=0.8)
        ax.set_xlabel("omega (rad/step)")
        ax.set_ylabel("|H(e^jw)|^2")
        ax.set_title("EMA reference filter (P2 Lemma 3.10); lines: theory")
        ax.legend(fontsize=7)
        written.append(_save(fig, outdir / "ema_filter.png"))

    r22, r23 = by_id.get("22.softbounds"), by_id.get("23.reference")
    if r22 or r23:
        fig, axes = _subplots(1, 2, figsize=(11, 4))
        if r22:
            steps = r22["_data"]["steps"]
            for i, (w0, q0, traj, limit) in enumerate(r22["_data"]["trajectories"]):
                k = np.linspace(0, steps, traj.size)
                axes[0].plot(k, traj, color=f"C{i}", label=f"RIDER (W0, Q0) = ({w0:+.1f}, {q0:+.1f})")
                axes[0].axhline(limit, color=f"C{i}", ls="--", lw=0.8)
        if r23:
            e = r23["_data"]["erider"][:, 0]
            axes[0].plot(np.linspace(0, r22["_data"]["steps"] if r22 else e.size, e.size), e, color="k",
                         lw=1.2, label="E-RIDER p = 0.05 from (0, 0)")
            by_p = r23["_data"]["by_p"]
            axes[1].plot(list(by_p), list(by_p.values()), "o-", label="|Q_K - SP_P|")
            rm = by_id.get("23.main")
            if rm:
                axes[1].plot(list(rm["_data"]["by_p"]), list(rm["_data"]["by_p"].values()), "s-",
                             label="|W_K - W*|")
            axes[1].set_xscale("symlog", linthresh=0.01)
            axes[1].set_xlabel("chopper flip probability p (p = 0: RIDER)")
            axes[1].set_ylabel("mean error at the last step")
            axes[1].set_title("E-RIDER vs chopper probability (cf. P2 Fig. 5)")
            axes[1].legend(fontsize=7)
        axes[0].axhline(0.5, color="k", lw=0.6, ls=":", label="W*")
        axes[0].set_xlabel("step")
        axes[0].set_ylabel("mean mixed weight W_bar")
        axes[0].set_title("RIDER settles on its invariant line (dashed: derived limit)")
        axes[0].legend(fontsize=6)
        written.append(_save(fig, outdir / "rider_tracking.png"))
    return written


def _subplots(*grid, figsize=(6, 4)):
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize)
    axes = fig.subplots(*grid)
    return fig, axes


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    save_figure(fig, path)
    return f"figures/{path.name}"
