"""The command line's human-readable output of each command's result (``--json`` prints the result itself)."""
from __future__ import annotations



def _fmt(x) -> str:
    if isinstance(x, dict):
        return f"{x['mean']:.6g}±{x['std']:.2g}"
    return "—" if x is None else f"{x:.6g}"


def calibrate(result) -> None:
    d, a = result.data, result.arguments
    theory, simulated = d["theory"], d["simulated"]
    print(f"symmetric point {d['symmetric_point']:.6g}; {d['scheme']} zero-shifting, {d['pulses']} pulses of "
          f"{d['dw_min']:g} on {a['chains']} device(s)")
    print(f"{'':24s} {'theory':>14s} {'simulated':>14s}")
    for k in ("final_error", "rms_error", "pulses_to_tolerance"):
        print(f"{k:24s} {_fmt(theory.get(k)):>14s} {_fmt(simulated.get(k)):>14s}")
    print(f"{'floor (rms, N -> inf)':24s} {_fmt(theory['floor']):>14s}")
    print(f"{'contraction per pulse':24s} {_fmt(theory['contraction_per_pulse']):>14s}")
    if "fraction_without_sp" in simulated:
        print(f"{'devices without an SP':24s} {theory['fraction_without_sp']:14.4f} "
              f"{simulated['fraction_without_sp']:14.4f}  (they drift to a bound; not in the errors above)")


def reproduce(result) -> None:
    res = result.detail
    print(f"P1 Fig. 2, model {res.model}: f(W) after {res.steps} steps, mean ± std over {res.seeds} seeds")
    print(f"{'up_down':>8s} {'SP':>8s} {'analog-sgd':>22s} {'tiki-taka':>22s}")
    for i, u in enumerate(res.up_down):
        print(f"{u:8.2f} {res.symmetric_point[i]:8.3f} {res.analog_sgd[i]:11.3e} ± {res.analog_sgd_std[i]:8.1e} "
              f"{res.tiki_taka[i]:11.3e} ± {res.tiki_taka_std[i]:8.1e}")
    print(f"figure: {result.data['figure']}; {res.seconds:.1f} s")


def train(result) -> None:
    d, a = result.data, result.arguments
    print(f"{'algorithm':22s} {'test accuracy':>22s} {'s/epoch':>8s}   ({d['dataset']}, {d['response']}, "
          f"{a['epochs']} epochs, batch {a['batch_size']})")
    for row in d["table"]:
        print(f"{row['algorithm']:22s} {row['test_accuracy_mean']:11.4f} ± {row['test_accuracy_std']:.4f} "
              f"(n={row['repeats']}) {row['seconds_per_epoch']:8.2f}")
    print(f"learning curves: {d['figure']}")


def check(result) -> None:
    from verification import checker
    from verification import mutants as mutant_ops
    rows, d = result.detail, result.data
    mutants = "mutation_score" in d
    print(f"{'id':24s} {'theory':>12s} {'measured':>12s} {'se':>9s} {'tol':>9s} {'mde':>9s}  verdict (expected)"
          + ("  wrong theories" if mutants else ""))
    f = checker.fmt
    for r in rows:
        extra = ""
        if r.get("mutants"):
            judged = {k: v for k, v in r["mutants"].items() if v != mutant_ops.NOT_APPLICABLE}
            extra = "  " + (", ".join(f"{k}: {v}" for k, v in judged.items()) or "none applicable")
        kind = "" if r.get("kind", "claim") == "claim" else " [impl.]"
        print(f"{r['id'] + kind:24s} {f(r['theory']):>12s} {f(r['measured']):>12s} {f(r['se']):>9s} "
              f"{f(r['tolerance']):>9s} {f(r.get('mde')):>9s}  {r['verdict']} ({r['expected_verdict']}){extra}")
    n_claims = sum(r.get("kind", "claim") == "claim" for r in rows)
    print(f"{n_claims} claims and {len(rows) - n_claims} implementation checks in {d['seconds']:.1f} s (with the "
          f"figures); report: {d['report']}; {'all verdicts as expected' if result.ok else 'SOME VERDICTS UNEXPECTED'}")
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
    print(f"{d['data']}: {d['steps_up']} up and {d['steps_down']} down steps, w in "
          f"[{d['range'][0]:.4g}, {d['range'][1]:.4g}]")
    print(f"{'family':12s} {'params':>6s} {'rms step':>10s} {'R2 up':>7s} {'R2 down':>8s} {'BIC':>12s}")
    for r in d["families"]:
        print(f"{r['family']:12s} {r['n_params']:6d} {r['rms']:10.3g} {r['r2_up']:7.3f} {r['r2_down']:8.3f} "
              f"{r['bic']:12.1f}")
    best = d["best"]
    sps = ", ".join(f"{v:.4g}" for v in best["symmetric_points"]) or "none"
    print(f"best: {best['family']} (lowest BIC); dw_min {best['dw_min']:.4g}; SP {sps}"
          f"{'; ' + best['note'] if best['note'] else ''}")
    quoted = " ".join(_shell(x) for x in best["args"])
    print(f"use it:  aimc-theory derive {quoted}")
    print(f"         aimc-theory calibrate {quoted} --dw-min {best['dw_min']:.6g}")


def _shell(a: str) -> str:
    return a if all(c.isalnum() or c in "-_.,=/:" for c in a) else "'" + a.replace("'", "'\\''") + "'"


PRINTERS = {"calibrate": calibrate, "reproduce": reproduce, "train": train, "check": check, "sweep": sweep,
            "presets": presets, "fit": fit}
