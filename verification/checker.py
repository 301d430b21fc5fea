"""Run the claims catalogue, write ``paper_checks.md`` and ``figures/``."""
from __future__ import annotations

import datetime as _dt
import math
import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from aimc_theory import __version__, response
from aimc_theory.files import FIGURE_FORMATS, atomic_write_text, figure_format_now
from aimc_theory.runtime import end_with_parent, limit_blas_threads, usable_cores

from . import claims_network, mutants as mutant_ops
from .catalogue import claims_for, select
from .claim_types import Outcome, family_response, named_families
from .schedule import task_seconds, warm_up, warm_up_parts
from .theory import Theory


def _clean(x):
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


class ChecksInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run_checks` (or :func:`check`): ``rows`` are the claims that finished, of ``total``;
    ``figures`` the figures already written (``figures/NAME``)."""

    def __init__(self, rows: list[dict], total: int, figures: list[str] | None = None):
        super().__init__(f"{len(rows)} of {total} claims finished")
        self.rows, self.total, self.figures = rows, total, list(figures or [])


def _run_claims(ids: list[str], fast: bool, theory: Theory, total: int, progress: bool,
                network: bool = False, mutants: tuple[str, ...] = (), controls: bool = False,
                device: response.Response | None = None, out: list | None = None) -> list[dict]:
    """Run the claims with these exact ids (in a worker process or in this one); with ``controls`` each
    claim's own wrong theories, with ``mutants`` these operators of the battery, right after the claim in
    the same process (so they share its cached simulations). With ``device`` the ids are the single-response
    claims built for that response (family "device"). ``out``: the list the rows go to (kept on Ctrl-C)."""
    rows = [] if out is None else out
    by_id = {c.id: c for c in select(ids, network, device)}
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


@dataclass
class CheckRun:
    """What :func:`run_checks` did: ``rows`` one dict per claim (the JSON rows of docs/cli.md), in the catalogue's
    order; ``figures`` the files written (``figures/NAME``, in the catalogue's order; empty without ``figures``)."""

    rows: list[dict]
    figures: list[str] = field(default_factory=list)


def check(ids: list[str] | None = None, fast: bool = False, theory: Theory | None = None,
          progress: bool = False, workers: int | None = None, network: bool = False,
          mutants: list[str] | tuple[str, ...] | None = None, controls: bool = False,
          device: response.Response | None = None) -> list[dict]:
    """Run the selected claims; returns one dict per claim (the JSON rows of docs/cli.md). The arguments are those
    of :func:`run_checks` (without figures)."""
    return run_checks(ids, fast, theory, progress, workers, network, mutants, controls, device).rows


def run_checks(ids: list[str] | None = None, fast: bool = False, theory: Theory | None = None,
               progress: bool = False, workers: int | None = None, network: bool = False,
               mutants: list[str] | tuple[str, ...] | None = None, controls: bool = False,
               device: response.Response | None = None, figures: Path | None = None) -> CheckRun:
    """Run the selected claims and (``figures``, a directory) draw their figures; returns a :class:`CheckRun`.

    Claims run in ``workers`` processes (default: up to 2, the cores CI has); claims that share
    cached simulations (a ``Claim.group``) form one task, tasks are handed out as workers free up.
    ``mutants`` (operator specs, :data:`verification.mutants.BATTERY` for all) adds ``mutants`` to every
    claim expected to agree: name -> killed / survived / no prediction / not applicable; ``controls``
    adds ``control_results`` for each claim's own controls. ``device`` (a user's response, ``check --response``)
    runs the single-response claims on it as family "device" (``ids`` among theirs).
    """
    theory = theory or Theory()
    mutants = tuple(mutants or ())
    for spec in mutants:
        mutant_ops.parse(spec)          # a bad spec fails before anything runs
    claims = select(ids, network, device)
    order = [c.id for c in claims]
    rank = {cid: i for i, cid in enumerate(order)}
    workers = workers or min(2, usable_cores())
    tasks: dict[str, list[str]] = {}
    for c in claims:      # a task is a group of claims that share cached simulations
        tasks.setdefault(c.task, []).append(c.id)
    # the longest tasks first (LPT), then handed out as workers free up: the last task to start is a short one
    parts = [tasks[t] for t in sorted(tasks, key=lambda t: -task_seconds(t, len(tasks[t]), fast))]
    rows: list[dict] = []
    if workers <= 1 or len(parts) <= 1:
        try:
            _run_claims(order, fast, theory, len(order), progress, network, mutants, controls, device, out=rows)
        except KeyboardInterrupt:
            raise ChecksInterrupted(sorted(rows, key=lambda r: rank[r["id"]]), len(order)) from None
        rows.sort(key=lambda r: rank[r["id"]])
        try:
            return CheckRun(rows, [] if figures is None else make_figures(rows, figures, theory, device, workers))
        except KeyboardInterrupt:           # every claim finished: the report keeps them
            _remove_partial_figures(figures)
            raise ChecksInterrupted(rows, len(order)) from None
    jobs = _figure_jobs_of(claims) if figures is not None else []
    if figures is not None:
        _make_dir(figures)
    drawn: dict[int, list[str]] = {}       # figure job -> its files; listed in the catalogue's order
    written = lambda: [f for i in sorted(drawn) for f in drawn[i]]      # noqa: E731
    ctx = multiprocessing.get_context("fork")
    # the workers fork, so they get the device through their initializer (a response holds lambdas and
    # does not pickle as a task's argument)
    pool = ProcessPoolExecutor(min(workers, len(parts)), mp_context=ctx, initializer=_init_worker,
                               initargs=(device, os.getpid()))
    # the whole catalogue on a cold numba cache: the two halves of the kernels compiled first, one per worker
    warm = warm_up_parts() if ids is None and device is None else []
    try:
        futures = {pool.submit(warm_up, part): None for part in warm}
        futures.update({pool.submit(_run_in_worker, p, fast, theory, len(order), False, network, mutants,
                                    controls): None for p in parts})
        # a figure is drawn by the workers as soon as the claims it shows have finished: queued behind the claims
        # still waiting, it fills the time in which one worker would wait for the other's last claim
        waiting = dict(enumerate(jobs))
        finished: set[str] = set()
        fmt = figure_format_now()
        while futures:
            for f in wait(futures, return_when=FIRST_COMPLETED).done:
                job = futures.pop(f)
                if job is not None:
                    ok, part = f.result()
                    if not ok:                          # an InputError of the figure's (e.g. --out filled up)
                        from aimc_theory.errors import InputError
                        raise InputError(*part)
                    drawn[job] = part
                    continue
                done = f.result()
                rows += done
                finished.update(r["id"] for r in done)
                if progress and done:
                    print(f"[{len(rows)}/{len(order)}] " + ", ".join(f"{r['id']} {r['verdict']}" for r in done)
                          + f" ({sum(r['seconds'] for r in done):.1f} s)", file=sys.stderr, flush=True)
            for i, (_, shown) in list(waiting.items()):
                if finished.issuperset(shown):
                    del waiting[i]
                    futures[pool.submit(_draw_in_worker, ids, network, i, [r for r in rows if r["id"] in shown],
                                        figures, theory, fmt)] = i
    except BaseException as exc:
        # Ctrl-C (or a failed figure): stop the workers now (they ignore SIGINT; waiting for their claims took
        # minutes) and hand back what finished
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        if figures is not None:
            _remove_partial_figures(figures)
        if isinstance(exc, KeyboardInterrupt):
            raise ChecksInterrupted(sorted(rows, key=lambda r: rank[r["id"]]), len(order), written()) from None
        raise
    pool.shutdown()
    rows.sort(key=lambda r: rank[r["id"]])
    return CheckRun(rows, written())


def _figure_jobs_of(claims: list) -> list[tuple]:
    """The figures of these claims, each once, in the catalogue's order: (figure function, the ids of the claims
    that show it)."""
    jobs: dict = {}
    for claim in claims:
        if claim.figure is not None:
            jobs.setdefault(claim.figure, []).append(claim.id)
    return list(jobs.items())


class ShownRows(dict):
    """The rows a figure is drawn from: those of the claims that show it (``Claim.figure``), which is drawn as soon
    as they have finished. Reading the row of another claim of the run (``ran``), which may not have finished yet,
    is an error of the figure's; a claim that did not run reads as missing (None), as in any subset."""

    def __init__(self, by_id: dict, shown, ran):
        super().__init__((k, by_id[k]) for k in shown if k in by_id)
        self.foreign = frozenset(ran) - frozenset(shown)

    def _guard(self, key) -> None:
        if key in self.foreign:
            raise LookupError(f"a figure reads the row of claim {key!r}, which does not show it: list the figure "
                              f"in that claim too (Claim.figure)")

    def __getitem__(self, key):
        self._guard(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self._guard(key)
        return super().get(key, default)

    def __contains__(self, key) -> bool:
        self._guard(key)
        return super().__contains__(key)


def _remove_partial_figures(outdir: Path) -> None:
    """The temporary files of figures whose writing a stopped worker left (``files.open_atomic`` names them
    ``.NAME.<random>.tmp``; the figures written before stay)."""
    for fmt in FIGURE_FORMATS:
        for tmp in outdir.glob(f".*.{fmt}.*.tmp"):
            try:
                tmp.unlink()
            except OSError:
                pass


def _make_dir(outdir: Path) -> None:
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:          # a full disk, a read-only file system: one line naming --out, no traceback
        from aimc_theory.errors import InputError
        raise InputError("out", f"cannot create the directory {outdir}: {exc.strerror or exc}") from None


def _draw_in_worker(ids, network: bool, index: int, rows: list[dict], outdir: Path, theory: Theory,
                    fmt: str | None) -> tuple[bool, list[str] | tuple[str, str]]:
    """Figure ``index`` of :func:`_figure_jobs_of` of the claims ``select(ids, network, device)`` from the rows of
    the claims it shows: (True, files written) or (False, (param, message)) of an InputError (which does not
    pickle as itself)."""
    from aimc_theory.errors import InputError
    from aimc_theory.files import figure_format
    claims = select(ids, network, _worker_device)
    draw, shown = _figure_jobs_of(claims)[index]
    try:
        with figure_format(fmt):
            return True, draw(ShownRows({r["id"]: r for r in rows}, shown, [c.id for c in claims]), outdir, theory)
    except InputError as exc:
        return False, (exc.param, str(exc)[len(exc.param) + 2:])


_worker_device: response.Response | None = None     # set in a worker process only, by _init_worker


def _init_worker(device: response.Response | None, parent: int | None = None) -> None:
    global _worker_device
    _worker_device = device
    if parent is not None:
        end_with_parent(parent)                        # kill -9 of check ends its workers too
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # Ctrl-C is the parent's: it stops the workers
    # one BLAS thread per worker: two workers x two threads on two cores spin on small matrices
    limit_blas_threads(1)


def _run_in_worker(*args) -> list[dict]:
    return _run_claims(*args, device=_worker_device)


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
                 device: response.Response | None = None, partial: str | None = None) -> None:
    """The report: the verdict tables, how each claim is measured, the findings (the claims' notes), the test
    devices, the mutation matrix and the figures. ``device``: the user's response the rows were run on."""
    network = any(r.get("family") == "network" for r in rows)
    impl = [r for r in rows if r.get("kind", "claim") != "claim"]
    claims = [r for r in rows if r.get("kind", "claim") == "claim"]
    n = len(claims)
    counts = {v: sum(r["verdict"] == v for r in claims) for v in ("agree", "disagree", "inconclusive")}
    unexpected = [r for r in rows if r["verdict"] != r["expected_verdict"]]
    findings = sum(r["expected_verdict"] == "disagree" for r in claims)
    sc = mutant_ops.score(rows)
    lines = [
        "# Paper checks" if device is None else f"# Device checks: {device.describe()}",
        "",
        *([] if partial is None else [f"**PARTIAL REPORT: {partial} (Ctrl-C); the claims below are the ones that "
                                      "finished.**", ""]),
        *([] if device is None else [
            f"The catalogue's single-response claims run on the device `{device.describe()}` (family `device` "
            "below), with the same problems, budgets and tolerances as for the built-in families.", ""]),
        f"Generated by `aimc-theory check{' --fast' if fast else ''}{' --network' if network else ''}"
        f"{' --mutants' if sc['score'] is not None else ''}{' --response ...' if device is not None else ''}` "
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
    notes = {c.id: c.note for c in claims_for([r["id"] for r in rows], device)}
    lines += ["", "## Findings", "",
              "Statements of the papers (or of the spec) that do not hold as printed, and what the checks "
              "taught us. A claim recorded with expected verdict `disagree` is a finding, not a failure.", ""]
    for r in rows:      # a finding: the claim's note, or its explanation
        if r["expected_verdict"] == "disagree":
            note = notes.get(r["id"])
            lines.append(f"- **{r['id']}** ({r['source']}): "
                         + (r["explanation"] if note is None else _note_text(note, by_id)))
    for r in unexpected:
        lines.append(f"- **{r['id']} unexpected verdict `{r['verdict']}`**: {r['explanation']}")
    shown = set()
    for r in rows:      # the notes on claim numbers, once each (claims share them), in the catalogue's order
        note = notes.get(r["id"])
        if r["expected_verdict"] == "disagree" or not note or note in shown:
            continue
        shown.add(note)
        text = _note_text(note, by_id)
        if text:
            lines.append(f"- Claim {r['id'].split('.')[0]}: {text}")
    lines += ["", "## Test devices and problems", "",
              "Scalar problems: f(w) = L/2 (w - w*)^2 with L = 1, w* = 0.5, gradient noise s = 0.3 "
              "(Gaussian), lr = 0.01, expected-update device model. Families: "
              + "; ".join(f"`{k}` = {family_response(f).describe()}" for k, f in named_families(device).items())
              + ".",
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
    # a fresh mkstemp file renamed over the report: an interrupted run leaves the old report, a symlink planted
    # in --out is never followed, a full disk or a read-only file system is one InputError line naming --out
    atomic_write_text(path, "\n".join(lines) + "\n", param="out")


def _note_text(note, rows_by_id: dict) -> str:
    return note(rows_by_id) if callable(note) else note


def make_figures(rows: list[dict], outdir: Path, theory: Theory | None = None,
                 device: response.Response | None = None, workers: int | None = None) -> list[str]:
    """Every figure of the claims that ran (``Claim.figure``), each once, in the catalogue's order; returns the
    files written (``figures/NAME``). With ``device`` the rows are those of the claims built for that response.
    The figures are drawn in ``workers`` processes (default: up to 2, as the claims), forked once the rows are
    there (each draws whole figures into its own files; the list keeps the catalogue's order)."""
    theory = theory or Theory()
    _make_dir(outdir)
    by_id = {r["id"]: r for r in rows}
    ran = list(by_id)
    jobs = [lambda rows_, o, t, draw=draw, shown=shown: draw(ShownRows(rows_, shown, ran), o, t)
            for draw, shown in _figure_jobs_of(claims_for(ran, device))]
    workers = min(workers or min(2, usable_cores()), len(jobs))
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [f for job in jobs for f in job(by_id, outdir, theory)]
    global _figure_jobs
    _figure_jobs = (jobs, by_id, outdir, theory)       # inherited by the forked processes (nothing is pickled)
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_init_figure_worker, initargs=(os.getpid(),)) as pool:
            parts = list(pool.map(_draw_figure, range(len(jobs))))
    finally:
        _figure_jobs = None
    for ok, part in parts:
        if not ok:                                  # an InputError of the figure's (e.g. --out filled up)
            from aimc_theory.errors import InputError
            raise InputError(*part)
    return [f for _, part in parts for f in part]


_figure_jobs: tuple | None = None       # (figure functions, rows by id, outdir, theory) while make_figures runs


def _init_figure_worker(parent: int) -> None:
    end_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # Ctrl-C is the parent's
    limit_blas_threads(1)


def _draw_figure(i: int) -> tuple[bool, list[str] | tuple[str, str]]:
    """(True, files written) or (False, (param, message)) of an InputError (which does not pickle as itself)."""
    from aimc_theory.errors import InputError
    jobs, by_id, outdir, theory = _figure_jobs
    try:
        return True, jobs[i](by_id, outdir, theory)
    except InputError as exc:
        return False, (exc.param, str(exc)[len(exc.param) + 2:])
