"""The command line's human-readable output of each command's result (``--json`` prints the result itself)."""
from __future__ import annotations



def _fmt(x) -> str:
    if isinstance(x, dict):
        return f"{x['mean']:.6g}±{x['std']:.2g}"
    return "—" if x is None else f"{x:.6g}"


def derive(result) -> None:
    """F, G, R, SPs, R'(SP) and R_c as text, or with ``--latex`` as one LaTeX block (arXiv 2502.06309 eq. 4-7)."""
    d, a = result.data, result.arguments
    if a.get("latex"):
        _derive_latex(d)
        return
    t, lo, hi = d["display"], *d["range"]
    print(f"range ({lo:g}, {hi:g}); decimals to {d['digits']} significant digits (--digits); arXiv 2502.06309 "
          "eq. 4-7")
    rows = [("F(w)", t["F"]), ("G(w)", t["G"]), ("R(w) = G/F", t["R"])]
    if d["every_point_symmetric"]:
        rows.append(("SP", "every point (q+ = q-)"))
    elif not t["symmetric_points"]:         # no SP in the range: no penalty anchored at it either (see the note)
        rows.append(("SP", "none in the range"))
    else:
        sps = ", ".join(f"{x} ({s})" for x, s in zip(t["symmetric_points"], d["sp_stability"]))
        rows += [("SP", sps), ("R'(SP)", t["penalty_curvature"])]
    if d["every_point_symmetric"] or t["symmetric_points"]:
        how = "closed form" if d["penalty_closed_form"] else "no closed form: evaluated by quadrature"
        rows.append(("R_c(w)", f"{t['penalty']}   ({how}; int_SP^w G/F)"))
    notes = list(d["notes"]) + list(d["display_notes"])
    p = d.get("in_parameters")
    if p is not None:
        names = ", ".join(p["parameters"])
        values = ", ".join(f"{k} = {v:g}" for k, v in p["parameters"].items())
        if "unavailable" in p:
            notes.append(f"in the parameters {names}: {p['unavailable']}")
        else:
            rows.append((f"in the parameters {names}", f"(assuming {p['assumptions']}; at {values} the forms above)"))
            s = p["display"]
            missing = "not found within --time-budget: see above, at the values"
            rows += [(f"F(w; {names})", s["F"]), (f"G(w; {names})", s["G"]), (f"R(w; {names})", s["R"]),
                     (f"SP({names})", s["symmetric_point"] or missing),
                     (f"R'(SP; {names})", s["penalty_curvature"] or missing),
                     (f"R_c(w; {names})", s["penalty"] or missing)]
            notes += p["notes"]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:{width}s} = {v}" if not k.startswith("in the parameters") else f"{k} {v}:")
    for n in notes:
        print(f"note: {n}")


def _derive_latex(d) -> None:
    lt, other, (lo, hi) = d["latex"], d["latex_other"], d["range"]
    print(f"% aimc-theory derive: arXiv 2502.06309 eq. 4-7 on the range ({lo:g}, {hi:g}); decimals to "
          f"{d['digits']} significant digits")
    lines = [r"F(w) &= " + lt["F"], r"G(w) &= " + lt["G"], r"R(w) &= \frac{G(w)}{F(w)} = " + lt["R"]]
    sps = other["symmetric_points"]
    if not d["every_point_symmetric"] and not sps:      # no SP in the range: no penalty anchored at it
        lines.append(r"w_{\mathrm{SP}} &: \text{none in the range}")
    elif not d["every_point_symmetric"]:
        lines.append(r"w_{\mathrm{SP}} &= " + sps[0] if len(sps) == 1 else
                     r"w_{\mathrm{SP}} &\in \left\{" + ", ".join(sps) + r"\right\}")
        lines.append(r"R'(w_{\mathrm{SP}}) &= " + other["penalty_curvature"])
    if d["every_point_symmetric"] or sps:
        lines.append(r"R_c(w) &= \int_{w_{\mathrm{SP}}}^{w} R(t)\,dt = " + lt["penalty"])
    p = d.get("in_parameters")
    if p is not None and "unavailable" not in p:
        names = ", ".join(p["latex_parameters"])
        pl = p["latex"]
        missing = r"\text{(not found within the time budget)}"
        lines += [r"F(w; " + names + ") &= " + pl["F"], r"G(w; " + names + ") &= " + pl["G"],
                  r"R(w; " + names + ") &= " + pl["R"],
                  r"w_{\mathrm{SP}}(" + names + ") &= " + (pl["symmetric_point"] or missing),
                  r"R'(w_{\mathrm{SP}}; " + names + ") &= " + (pl["penalty_curvature"] or missing),
                  r"R_c(w; " + names + ") &= " + (pl["penalty"] or missing)]
        print(f"% in the parameters, assuming {p['assumptions']}; values "
              + ", ".join(f"{k} = {v:g}" for k, v in p["parameters"].items()))
    print(r"\begin{align*}")
    print(" \\\\\n".join(lines))
    print(r"\end{align*}")
    for n in list(d["notes"]) + list(d["display_notes"]) + list((p or {}).get("notes", [])):
        print(f"% note: {n}")


def calibrate(result) -> None:
    d, a = result.data, result.arguments
    theory, simulated = d["theory"], d["simulated"]
    if theory is None:                  # interrupted: the simulated statistics of the pulses that ran, no theory
        print(f"symmetric point {d['symmetric_point']:.6g} (numeric); {d['scheme']} zero-shifting, {d['pulses']} of "
              f"{d['pulses_requested']} pulses of {d['dw_min']:g} on {a['chains']} device(s) (interrupted)")
        for k in ("final_error", "rms_error", "pulses_to_tolerance", "fraction_settled"):
            print(f"{k:24s} {_fmt(simulated.get(k)):>14s}")
        return
    noise, settle = d.get("c2c_noise") or {}, d.get("settling") or {}
    sigma, varies = noise.get("sigma_c") or 0.0, "fraction_without_sp" in simulated
    print(f"symmetric point {d['symmetric_point']:.6g}; {d['scheme']} zero-shifting, {d['pulses']} pulses of "
          f"{d['dw_min']:g} on {a['chains']} device(s)" + (f"; cycle-to-cycle noise sigma_c {sigma:g} "
                                                         f"({noise['model']}) in the theory and the simulation"
                                                         if sigma else ""))
    print(f"{'':24s} {'theory':>14s} {'simulated':>14s}")
    for k in ("final_error", "rms_error"):
        print(f"{k:24s} {_fmt(theory.get(k)):>14s} {_fmt(simulated.get(k)):>14s}")
    if "fraction_within_tolerance" in theory:
        print(f"{'within tolerance at N':24s} {theory['fraction_within_tolerance']:14.4f} "
              f"{simulated['fraction_settled']:14.4f}  (devices with |w - SP| <= {d['tolerance']:g}; theory "
              f"{theory['fraction_within_tolerance_basis']})")
    pt = theory.get("pulses_to_tolerance")
    pt = "no theory" if varies else "never" if pt is None else _fmt(pt)
    print(f"{'pulses_to_tolerance':24s} {pt:>14s} {_fmt(simulated.get('pulses_to_tolerance')):>14s}"
          + ("" if settle.get("comparable", True) else "  (not the same quantity: see below)"))
    extra = ""
    if sigma and not varies:
        extra = f"  (without the noise {theory['floor_without_noise']:.4g}"
        if d["scheme"] == "cyclic":
            (xu, xd), (su, sd) = theory["cycle"], theory["cycle_spread"]
            extra += (f"; the noise-free 2-cycle {xu:+.3g} (after up) / {xd:+.3g} (after down) is the mean, with a "
                      f"spread sd {su:.3g} / {sd:.3g} around it")
        extra += ")"
    print(f"{'floor (rms, N -> inf)':24s} {_fmt(theory['floor']):>14s}{extra}")
    print(f"{'contraction per pulse':24s} {_fmt(theory['contraction_per_pulse']):>14s}")
    if not settle.get("comparable", True):
        print(f"pulses_to_tolerance: theory = {settle['theory']}; simulated = {settle['simulated']}.")
        if settle.get("note"):
            print(settle["note"][0].upper() + settle["note"][1:] + ".")
    if "fraction_without_sp" in simulated:
        print(f"{'devices without an SP':24s} {theory['fraction_without_sp']:14.4f} "
              f"{simulated['fraction_without_sp']:14.4f}  (they drift to a bound; not in the errors above)")


def reproduce(result) -> None:
    if result.data.get("experiment") == "p2-table2":
        return _reproduce_table_p2(result)
    if result.data.get("experiment") == "p1-table8":
        return _reproduce_table8(result)
    res = result.detail
    print(f"P1 Fig. 2, model {res.model}, instance {res.instance_name}: f(W) after {res.steps} steps, mean ± std "
          f"over {res.seeds} seeds")
    ref = result.data.get("reference")
    if ref is None:
        print(f"{'up_down':>8s} {'SP':>8s} {'analog-sgd':>22s} {'tiki-taka':>22s}")
        for i, u in enumerate(res.up_down):
            print(f"{u:8.2f} {res.symmetric_point[i]:8.3f} {res.analog_sgd[i]:11.3e} ± {res.analog_sgd_std[i]:8.1e} "
                  f"{res.tiki_taka[i]:11.3e} ± {res.tiki_taka_std[i]:8.1e}")
        if res.instance == "authors":
            print(f"(the reference simulator's numbers are for 1000 iterations: not compared at {res.steps})")
    else:
        print(f"{'':17s} {'analog-sgd':-^52s} {'tiki-taka':-^52s}")
        cell = f"{'ours':>21s} {'aihwkit':>9s} {'verdict':>20s}"
        print(f"{'up_down':>8s} {'SP':>8s} {cell} {cell}")
        for row in ref["rows"]:
            cells = [f"{c['ours']:10.3e} ± {c['std']:8.1e} {c['reference_text']:>9s} {c['verdict']:>20s}"
                     for c in (row["analog-sgd"], row["tiki-taka"])]
            print(f"{row['up_down']:8.2f} {row['symmetric_point']:8.3f} {cells[0]} {cells[1]}")
        print(f"aihwkit: {ref['source']}. Verdict per cell: {ref['tolerance']} (k = {ref['k']:g})")
    print(f"figure: {result.data['figure'] or 'none (interrupted)'}; {res.seconds:.1f} s")


def _reproduce_table_p2(result) -> None:
    """reproduce p2-table2: per grid cell our final test accuracy (± its SE) next to P2's, the configuration."""
    from .table_p2 import ALGORITHMS, LABEL, describe
    d = result.data
    print(f"P2 Table 2, FCN rows (arXiv 2602.21321): {d['dataset']} {d['train_size']}/{d['test_size']}, "
          f"{d['epochs']} epochs, {d['seeds']} seed(s); P2: MNIST 60000/10000, {d['paper_epochs']} epochs")
    print(f"configuration: {describe(d.get('mapping'))}")
    if d.get("changed_options"):
        print("SENSITIVITY RUN, not P2's configuration: " + "; ".join(
            f"{LABEL[a]} " + ", ".join(f"{k} {old:g} -> {new:g}" for k, (old, new) in o.items())
            for a, o in d["changed_options"].items()))
    head = "".join(f" {LABEL[a] + ' ours ± SE':>21s} {'P2':>6s}" for a in ALGORITHMS)
    print(f"{'ref mean':>8s} {'ref std':>7s}{head}")
    for mean, std in d["grid"]:
        cells = []
        for a in ALGORITHMS:
            row = next((r for r in d["rows"] if r["algorithm"] == a and r["ref_mean"] == mean
                        and r["ref_std"] == std), None)
            cells.append(f" {'not run':>21s} {'':>6s}" if row is None else
                         f" {'diverged':>21s} {row['paper']:6.2f}" if not row["test_accuracy_seeds"] else
                         f" {100 * row['test_accuracy']:13.2f} ± {100 * row['test_accuracy_se']:5.2f} "
                         f"{row['paper']:6.2f}" + ("*" if row["diverged"] else ""))
        print(f"{mean:8g} {std:7g}{''.join(cells)}")
    secs = {a: [x for r in d["rows"] if r["algorithm"] == a for x in r["seconds_per_epoch"]] for a in ALGORITHMS}
    print("seconds per epoch: " + ", ".join(f"{LABEL[a]} {sum(v) / len(v):.1f}" for a, v in secs.items() if v))
    for r in d["rows"]:
        for x in r.get("diverged", []):
            print(f"{r['label']} at ({r['ref_mean']:g}, {r['ref_std']:g}), seed {x['seed']}: {x['message']}")
    for r in d["rows"]:
        if r.get("transfer_pulses_per_epoch"):
            last = r["transfer_pulses_per_epoch"][-1]
            print(f"pulses written to C per weight after {len(r['transfer_pulses_per_epoch'])} epochs, {r['label']} "
                  f"at ({r['ref_mean']:g}, {r['ref_std']:g}): " + ", ".join(f"layer {k + 1} {x:.3g}"
                                                                          for k, x in enumerate(last))
                  + "; test % per epoch " + " ".join(f"{100 * x:.1f}" for x in r["test_accuracy_per_epoch"]))
    print(f"accuracies in %; SE: binomial over the test set and the seeds' spread (*: over the seeds that did not "
          f"diverge). {d['layout_note']}. "
          f"E-RIDER here is aihwkit's ChoppedTransferCompound as P2 ran it; P2's equations are the scalar "
          f"e-rider (simulate --algorithm e-rider).")
    if d.get("partial"):
        print(f"PARTIAL (interrupted): {d['partial']}")
    print(f"figure: {d.get('figure') or 'none (interrupted)'}; {d['seconds']:.1f} s")


def _reproduce_table8(result) -> None:
    """reproduce p1-table8: our rows next to P1's numbers, the configuration stated, the output scales' trajectory."""
    from .table8 import LABEL, describe
    d = result.data
    print(f"P1 Table 8 (arXiv 2502.06309), configuration {describe(d['configuration'])}")
    sub = f", stratified subset, seed {d['subset_seed']}" if d.get("subset_seed") is not None else ""
    print(f"data: {d['dataset']} ({d['train_size']} train / {d['test_size']} test{sub}), {d['epochs']} "
          f"epoch{'s' if d['epochs'] > 1 else ''}, "
          f"{d['seeds']} seed{'s' if d['seeds'] > 1 else ''}; P1: MNIST, {d['published_epochs']} epochs")
    print(f"{'row':11s} {'algorithm':10s} {'ours: test %':>18s} {'s/epoch':>8s} {'P1 (MNIST) %':>14s} "
          f"{'fails: ours/P1':>15s}  test % per epoch")
    for r in d["rows"]:
        ours = f"{100 * r['test_accuracy']:.2f} ± {100 * r['test_accuracy_std']:.2f}"
        secs = sum(r["seconds_per_epoch"]) / max(len(r["seconds_per_epoch"]), 1)
        fails = f"{'yes' if r['failed'] else 'no'}/{'yes' if r['paper_failed'] else 'no'}"
        print(f"{r['row']:11s} {LABEL[r['algorithm']]:10s} {ours:>18s} {secs:8.2f} {r['paper']:>14s} {fails:>15s}  "
              + " ".join(f"{100 * x:.1f}" for x in r["test_accuracy_per_epoch"]))
    for r in d["rows"]:
        if r["output_scale_per_epoch"]:
            print(f"output layer's learned scale per epoch ({r['row']} {LABEL[r['algorithm']]}, from 1): "
                  + " -> ".join(f"{x:.3f}" for x in r["output_scale_per_epoch"]))
    print(f"P1's digital SGD: {d['paper_digital_sgd']}. A run fails when every seed ends below "
          f"{100 * d['fail_below']:g}% (P1's \"<15\": all trials failed).")
    for note in d.get("notes", []):
        print(f"note: {note}")
    if d.get("partial"):
        print(f"PARTIAL (interrupted): {d['partial']}")
    print(f"figure: {d['figure'] or 'none (interrupted)'}; {d['seconds']:.1f} s")


def train(result) -> None:
    d, a = result.data, result.arguments
    print(f"{'algorithm':22s} {'test accuracy':>22s} {'s/epoch':>8s}   ({d['dataset']}, {d['response']}, "
          f"{a['epochs']} epochs, batch {a['batch_size']})")
    for row in d["table"]:
        print(f"{row['algorithm']:22s} {row['test_accuracy_mean']:11.4f} ± {row['test_accuracy_std']:.4f} "
              f"(n={row['repeats']}) {row['seconds_per_epoch']:8.2f}")
    sub = d.get("subset") or {}
    print(f"data: {sub.get('train_size')} train / {sub.get('test_size')} test samples"
          + (f" (stratified subset, seed {sub['subset_seed']})" if sub.get("subset_seed") is not None else "")
          + f"; init {d.get('init', 'glorot')}; periphery: {d.get('periphery_description', 'none')}")
    net = d.get("network_defaults")
    if net:                 # the tracking algorithms' network defaults that ran, and where they come from
        print("network defaults (not the scalar commands'; an option given wins): " + "; ".join(
            f"{name} " + ", ".join(f"{k.replace('_', '-')} {v:g}" for k, v in used.items())
            + f" ({net['source'][name]})" for name, used in net["used"].items()))
    for r in d.get("runs", []):
        if r.get("lr_schedule"):
            print(f"lr schedule ({r['algorithm']}): x {r['lr_schedule']['gamma']:g} every "
                  f"{r['lr_schedule']['step_size']} epochs (StepLR)")
        if r.get("mapping_scale_per_layer"):
            print(f"mapping scale m per layer ({r['algorithm']}, seed {r['seed']}): "
                  + ", ".join(f"{x:.3g}" for x in r["mapping_scale_per_layer"]))
        if r.get("out_scale_per_epoch"):
            trace = "; ".join(f"layer {k + 1} " + " -> ".join(f"{e[k]:.3f}" for e in r["out_scale_per_epoch"])
                              for k in range(len(r["out_scale_per_epoch"][0])))
            print(f"output scale per epoch ({r['algorithm']}, seed {r['seed']}, from 1): {trace}")
    print(f"learning curves: {d['figure']}")


STATEMENT_WIDTH = 64      # characters of a claim's statement in the terminal table (the report has it whole)


def _short(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 3].rstrip() + "..."


def _claim_kind(r: dict) -> str:
    """claim / one-sided / finding / impl. (see the legend under the table)."""
    if r.get("kind", "claim") != "claim":
        return "impl."
    if r["expected_verdict"] != "agree":
        return "finding"
    if str(r.get("allowance_basis", "")).startswith("none (one-sided") or str(r.get("explanation", "")).startswith(
            "one-sided"):
        return "one-sided"
    return "claim"


def check(result) -> None:
    from verification import checker
    from verification import mutants as mutant_ops
    rows, d = result.detail, result.data
    mutants = "mutation_score" in d
    print(f"{'id':24s} {'theory':>12s} {'measured':>12s} {'se':>9s} {'tol':>9s} {'mde':>9s}  {'verdict (expected)':22s} "
          f"{'kind':10s} statement" + ("  | wrong theories" if mutants else ""))
    f = checker.fmt
    for r in rows:
        extra = ""
        if r.get("mutants"):
            judged = {k: v for k, v in r["mutants"].items() if v != mutant_ops.NOT_APPLICABLE}
            extra = "  | " + (", ".join(f"{k}: {v}" for k, v in judged.items()) or "none applicable")
        verdict = f"{r['verdict']} ({r['expected_verdict']})" + ("" if r["verdict"] == r["expected_verdict"] else " !!")
        print(f"{r['id']:24s} {f(r['theory']):>12s} {f(r['measured']):>12s} {f(r['se']):>9s} "
              f"{f(r['tolerance']):>9s} {f(r.get('mde')):>9s}  {verdict:22s} {_claim_kind(r):10s} "
              f"{_short(r['statement'], STATEMENT_WIDTH)}{extra}")
    print("kind: claim (judged by comparison), one-sided (a bound: it cannot fail by comparison), finding (the paper's "
          "statement is expected NOT to hold: disagree is the expected verdict), impl. (an implementation check: the "
          "theory side re-runs the simulation's arithmetic); !! marks a verdict other than the expected one")
    n_claims = sum(r.get("kind", "claim") == "claim" for r in rows)
    from .runtime import command_seconds
    drew = "" if result.arguments.get("no_figures") else " and figures"
    print(f"{n_claims} claim{'s' * (n_claims != 1)} and {len(rows) - n_claims} implementation check"
          f"{'s' * (len(rows) - n_claims != 1)} in {command_seconds():.1f} s since the command started (the claims"
          f"{drew}: {d['seconds']:.1f} s); report: {d['report']}; "
          f"{'all verdicts as expected' if result.ok else 'SOME VERDICTS UNEXPECTED'}")
    if mutants and d["mutation_score"] is not None:
        c = d["mutation_counts"]
        print(f"mutation score {d['mutation_score']:.3f} (killed {c['killed']}, survived {c['survived']}, "
              f"no prediction {c['no prediction']}, not applicable {c['not applicable']})"
              + ("; survivors:" if d["survivors"] else "; no survivors"))
        for s in d["survivors"]:
            print(f"  {s['claim']} x {s['mutant']}: {s['why']}")


def sweep(result) -> None:
    d = result.data
    print(f"{d['study']}: {d['points']} points of '{d['command']}' ({d['done_before']} done before, {d['errors']} "
          f"with errors) in {d['seconds']:.1f} s")
    print(f"table: {d['table']}" + (f" and {d['parquet']}" if d["parquet"] else ""))
    for f in d["figures"]:
        print(f"figure: {f}")
    if d["errors"]:
        shown = d["failed"][:5]
        print(f"{d['errors']} of {d['points']} points FAILED (status 'error'; the error column of the table says "
              f"why; exit status 1)" + (":" if shown else ""))
        for r in shown:
            print(f"  point {r['point']}: {r['error']}")
        if d["errors"] > len(shown):
            print(f"  ... and {d['errors'] - len(shown)} more")


def presets(result) -> None:
    rows, a = result.data["presets"], result.arguments
    if a.get("devices") is not None:
        d = rows[0]["d2d"]
        print(f"{a['name']}: {d['devices']} devices with d2d {d['variation']} (not modelled: "
              f"{', '.join(d['not_modelled']) or 'none'}); {d['pulses']} alternating pulses each")
        print(f"{'':10s} {'SP mean':>9s} {'std':>9s} {'p5':>9s} {'median':>9s} {'p95':>9s} {'at upper':>9s} "
              f"{'at lower':>9s} {'neutral':>8s}")
        for k in ("theory", "measured"):
            t = d[k]
            print(f"{k:10s} {_fmt(t['mean'])[:9]:>9s} {_fmt(t['std'])[:9]:>9s} {_fmt(t['p5'])[:9]:>9s} "
                  f"{_fmt(t['median'])[:9]:>9s} {_fmt(t['p95'])[:9]:>9s} {t['fraction_upper']:9.3f} "
                  f"{t['fraction_lower']:9.3f} {t['fraction_neutral']:8.3f}")
        print(f"devices classified alike: {d['same_status']:.3f}; largest |SP theory - measured| over interior "
              f"devices {_fmt(d['max_abs_sp_difference'])}, {_fmt(d['max_sp_difference_in_steps'])} of the device's "
              "own step (the 2-cycle's middle is within about a step of the SP)")
        return
    print(f"{'preset':18s} {'dw_min':>9s} {'range':>17s} {'SP':>9s} {'e-fold (mean)':>14s} {'e-fold (alt.)':>14s}  class")
    f = lambda x: "—" if x is None else f"{x:.4g}"   # noqa: E731
    for r in rows:
        sp_ = "none" if r["symmetric_point"] is None else f"{r['symmetric_point']:.4g}"
        print(f"{r['name']:18s} {r['dw_min']:9.3g} {str(r['range']):>17s} {sp_:>9s} {f(r['pulses_per_efold_mean']):>14s} "
              f"{f(r['pulses_per_efold_alternating']):>14s}  {r['device_class']}")
    print("pulses per e-fold: random-sign pulses (mean dynamics, 1/(dw_min G'(SP))) and alternating up/down "
          "pulses (the pair map, -2/ln|M'|); --json for q+/q-, d2d, c2c and references")


def fit(result) -> None:
    d = result.data
    m, obs = d["mapping"], d["observed"]
    u = f" {d['units']}" if d["units"] else ""
    print(f"{d['data']}: {d['steps_up']} up and {d['steps_down']} down steps, w in [{obs[0]:.4g}, {obs[1]:.4g}]"
          + (f" (data {_data(obs[0], m):.4g} to {_data(obs[1], m):.4g}{u})" if m else ""))
    if m:
        print(f"mapping: w = {m['range'][0]:g} + (g - {m['g_min']:g}) * {m['scale']:.6g}, i.e. g in [{m['g_min']:g}, "
              f"{m['g_max']:g}]{u} -> w in [{m['range'][0]:g}, {m['range'][1]:g}]; everything below is in weight units")
    lo, hi = d["range"]
    if d["bounds_source"] == "given":
        given = f" = [{m['bounds'][0]:g}, {m['bounds'][1]:g}]{u}" if m else ""
        print(f"bounds [{lo:.6g}, {hi:.6g}] (given{given}): the fitted response's range; steps ending at a bound are "
              "left out")
    else:
        print(f"bounds [{lo:.6g}, {hi:.6g}]: the observed extremes, taken as the device's bounds (--bounds LO,HI sets "
              "the device's own); steps ending there are left out")
    print(f"{'family':12s} {'fitted':>6s} {'rms step':>10s} {'R2 up':>7s} {'R2 down':>8s} {'BIC':>12s}  residuals "
          "(lack-of-fit p)")
    for r in d["families"]:
        g = r["goodness_of_fit"]
        pv = "" if g["p_value"] is None else f" ({g['p_value']:.2g})"
        print(f"{r['family']:12s} {r['n_params']:6d} {r['rms']:10.3g} {r['r2_up']:7.3f} {r['r2_down']:8.3f} "
              f"{r['bic']:12.1f}  {g['verdict']}{pv}")
    best, top = d["best"], d["families"][0]
    fitted = ", ".join(f"{k} {v:.6g} ± {top['standard_errors'].get(k, float('nan')):.2g}"
                       for k, v in top["parameters"].items())
    print(f"best: {best['family']} (lowest BIC), {top['n_params']} fitted: {fitted}")
    if top["fixed"]:
        fixed = ", ".join(f"{k} {_fixed(v)}" for k, v in top["fixed"].items())
        print(f"  fixed (not fitted): {fixed} ({top['fixed_note']})")
    sps = ", ".join(f"{p['w']:.4g} ± {p['se']:.2g}" for p in d["symmetric_points"]) or "none in the range"
    note = f"; {best['note']}" if best["note"] else ""
    print(f"  dw_min {best['dw_min']:.4g} ± {d['dw_min_se']:.2g}; SP {sps}{note}")
    n = d["noise"]
    line = (f"  noise: sigma_c {n['sigma_c']:.4g} ± {n['sigma_c_se']:.2g} dw_min per pulse (additive, step = dw_min "
            f"(q(w) + sigma_c xi), from the residuals); model-free {n['model_free_sigma_c']:.4g} ± "
            f"{n['model_free_sigma_c_se']:.2g} (successive steps)")
    if n.get("sigma_multiplicative") is not None:
        line += (f"; multiplicative reading (1 + sigma xi) q(w): sigma {n['sigma_multiplicative']:.4g} ± "
                 f"{n['sigma_multiplicative_se']:.2g}")
    print(line)
    print(f"  noise reading: {n['evidence']}")
    print(f"  fit: {d['goodness_of_fit']['statement']}")
    quoted = " ".join(_shell(x) for x in best["args"])
    print(f"use it:  aimc-theory derive {quoted}")
    print(f"         aimc-theory calibrate {quoted} --dw-min {best['dw_min']:.6g}")


def _data(w, m):
    """A weight back in the data's units (the inverse of the conductance map)."""
    return m["g_min"] + (w - m["range"][0]) / m["scale"]


def _fixed(v) -> str:
    return "[" + ", ".join(f"{x:.4g}" for x in v) + "]" if isinstance(v, list) else f"{v:.6g}"


def _shell(a: str) -> str:
    return a if all(c.isalnum() or c in "-_.,=/:" for c in a) else "'" + a.replace("'", "'\\''") + "'"


PRINTERS = {"calibrate": calibrate, "reproduce": reproduce, "train": train, "check": check, "sweep": sweep,
            "presets": presets, "fit": fit}
PRINTERS["derive"] = derive


def cost(result) -> None:
    """Pulses and steps per method (arXiv 2602.21321 Cor. 3.9, P2 Fig. 4's accounting), the calibration stage's
    theory count next to the simulated one."""
    d, a = result.data, result.arguments
    print(f"{d['device']}: SP {d['symmetric_point']:.6g}, dw_min {d['dw_min']:g}; target |mean W_bar - w*| <= "
          f"{d['target']:g} (w* {a['w_star']:g}, from W0 {a['w0']:g}, lr {a['lr']:g}, {d['chains']} chains, budget "
          f"{d['steps']} steps); BL {d['bl']}")
    c = d["calibration"]
    if c is not None:
        print(f"calibration stage of calibrate-then-rl: cyclic zero-shifting from q0 = {c['start']:g} until |w - SP| "
              f"stays <= {c['tolerance']:g}")
        print(f"{'':24s} {'theory':>12s} {'simulated':>12s}")
        sim = "not settled" if c["pulses"] is None else f"{c['pulses']:d}"
        print(f"{'pulses':24s} {_fmt(c['theory_pulses']):>12s} {sim:>12s}  (theory: {c['theory_basis']})")
        if c["reference_error"] is not None:
            print(f"{'reference - SP':24s} {'':>12s} {c['reference_error']:12.3g}  (the error RL reads P against)")
    print(f"{'method':18s} {'stage pulses':>12s} {'training steps':>15s} {'(band)':>17s} {'total pulses':>13s} "
          f"{'final error':>12s}")
    for name, m in d["methods"].items():
        band = "" if m["steps_band"] == [None, None] else "(" + "..".join(
            "—" if s is None else f"{s:.0f}" for s in m["steps_band"]) + ")"
        stage = "—" if m["stage_pulses"] is None else f"{m['stage_pulses']:d}"
        steps = f"{m['steps']:.0f}" if m["reached"] else "not finished" if m["reached"] is None else "not reached"
        total = f"{m['total_pulses']:,.0f}" if m["reached"] else "—"
        print(f"{name:18s} {stage:>12s} {steps:>15s} {band:>17s} {total:>13s} {_fmt(m['final_error']):>12s}")
    print(f"training steps: {next(iter(d['methods'].values()))['theory']}; band: the steps for the target "
          "+- k SE of the chain mean (more --chains narrow it)")
    if d.get("interrupted"):            # Ctrl-C: the finished methods only, no comparison
        print(f"PARTIAL (interrupted): {d['partial']}; no comparison of the methods")
    elif d["cheapest"] is not None:
        line = f"cheapest: {d['cheapest']}"
        x = d["crossover_dw_min"]
        if x is not None:
            line += ("; E-RIDER is cheaper at every dw_min (it needs no more than RL's training alone)"
                     if x == float("inf") else
                     f"; E-RIDER is cheaper below dw_min ~ {x:.2g} (calibration pulses ~ 1/dw_min, training steps "
                     "independent of it)")
        print(line)
    else:
        print("no method reached the target within the step budget (--steps)")
    print(f"accounting: {d['accounting']}")


PRINTERS["cost"] = cost

# simulate's keys printed in words after the others (the rest as key and value, one per line)
SIMULATE_WORDS = ("tolerance", "steps_to_tolerance", "record_every", "pulses_per_device", "main_pulses_per_device",
                  "pulses")


def simulate(result) -> None:
    """The summary's keys and values, one per line, then the steps to the tolerance and the pulses per device."""
    d, a = result.data, result.arguments
    for k, v in d.items():
        if k not in SIMULATE_WORDS and not isinstance(v, dict):
            print(f"{k:24s} {v}")
    if "steps_to_tolerance" not in d:
        return
    n, every, tol = d["steps_to_tolerance"], d["record_every"], d["tolerance"]
    ran = d.get("steps_done", a.get("steps"))
    grain = f"records every {every} step{'s' if every > 1 else ''}"
    print(f"{'steps_to_tolerance':24s} " + (f"{n} (|chain mean - w*| <= {tol:g} from this step to the end; {grain})"
                                             if n is not None else
                                             f"not reached (|chain mean - w*| > {tol:g} at the last record, step "
                                             f"{ran // every * every}; {grain})"))
    counts = [("array", d.get("pulses_per_device"))] + \
        ([("main array", d["main_pulses_per_device"])] if "main_pulses_per_device" in d else [])
    shown = ", ".join(f"{name} {v:.6g}" for name, v in counts if v is not None)
    print(f"{'pulses_per_device':24s} {shown or 'none'} ({d['pulses']})")


PRINTERS["simulate"] = simulate
