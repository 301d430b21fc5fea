"""reproduce, train and check: published experiments, the network path and the claims catalogue."""
from __future__ import annotations

import re
import time

import numpy as np

from .. import registry
from ..errors import InputError, require_finite
from ..parameters import in_range, parameters
from . import inputs
from .inputs import Inputs
from .results import CommandResult


class CommandInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) during a long command (train, reproduce, calibrate, simulate), raised after it kept what
    finished: ``result`` is the :class:`CommandResult` of that work, its data marked ``"interrupted": true``
    with ``"partial"`` saying what was kept; ``partial`` is its typed result (``result.detail``: the
    ``TrainResult`` list, ``Fig2Result``, ``CalibrationResult``, ``SimulationResult``). Both None when nothing
    finished. ``str()`` says what was kept. The command line prints it and exits 130."""

    def __init__(self, result: CommandResult | None, what: str):
        super().__init__(what)
        self.result = result
        self.partial = None if result is None else result.detail


def interrupted(result: CommandResult | None, what: str) -> CommandInterrupted:
    """The :class:`CommandInterrupted` of a partial ``result`` (marked ``interrupted`` and ``partial`` here)."""
    if result is not None:
        result.data = {"interrupted": True, "partial": what} | result.data
    return CommandInterrupted(result, what)


def reproduce(a: Inputs, progress=None) -> CommandResult:
    """Rerun a published experiment as its authors ran it (or a named simplification).

    Raises :class:`CommandInterrupted` on Ctrl-C with the finished (algorithm, up_down) runs."""
    from .. import simulation
    from .. import reproduce as experiments
    if a.experiment not in experiments.EXPERIMENTS:
        raise InputError("experiment", f"must be one of {', '.join(experiments.EXPERIMENTS)} (got {a.experiment!r})")
    if a.experiment == "p2-table2":
        return _table_p2(a, progress)
    if a.experiment == "p1-table8":
        return _table8(a, progress)
    _only_for(a, "p1-fig2", _TABLE8_DEFAULTS | _P2_DEFAULTS)
    a.seeds = 5 if a.seeds is None else a.seeds                  # recorded in the provenance
    experiments.check_instance(a.instance, a.problem_seed)      # before the output directory is made
    inputs.out_dir(a.out, "figures", create=False)
    try:
        res = experiments.EXPERIMENTS[a.experiment](steps=a.steps, seeds=a.seeds, model=a.model, seed=a.seed,
                                                    problem_seed=a.problem_seed, instance=a.instance,
                                                    progress=progress)
    except simulation.Interrupted as exc:       # Ctrl-C: the finished runs, marked partial (no figure)
        part = exc.partial
        raise interrupted(None if part is None else CommandResult("reproduce", part.as_dict() | {"figure": None},
                                                                  a.arguments(), a.model, part), str(exc)) from None
    suffix = "_authors" if res.instance == "authors" else ""
    out_dir = inputs.out_dir(a.out, "figures")
    fig = experiments.draw_fig2([res], out_dir / f"p1_fig2_{res.model}{suffix}.{a.format}")
    return CommandResult("reproduce", res.as_dict() | {"figure": fig}, a.arguments(), a.model, res)


# each experiment's own parameters at their defaults (a value other than these given to the other experiment is
# an error naming it: it would change nothing)
_FIG2_DEFAULTS = {"steps": 1000, "model": "aihwkit", "instance": "numpy", "problem_seed": None}
_TABLE8_DEFAULTS = {"rows": None, "configuration": None, "no_out_scaling": False, "dataset": None,
                    "train_size": None, "test_size": None, "subset_seed": None, "epochs": None,
                    "weight_scaling_omega": None}


_P2_DEFAULTS = {"grid": None, "algorithms": None, "set": []}   # p2-table2's own (it shares --dataset ... --epochs)


def _p2_overrides(items) -> dict:
    """``["e-rider-chopped.transfer_lr=0.5", ...]`` -> ``{"e-rider-chopped": {"transfer_lr": 0.5}}``."""
    from .. import table_p2
    out: dict = {}
    for item in items:
        key, _, value = item.partition("=")
        alg, dot, option = key.strip().partition(".")
        if not (_ and dot and option) or alg not in table_p2.ALGORITHMS:
            raise InputError("set", f"expected ALG.OPTION=VALUE with ALG among {', '.join(table_p2.ALGORITHMS)} "
                                    f"(got {item!r})")
        if option in out.get(alg, {}):
            raise InputError("set", f"{alg}.{option} given twice; give it once")
        v = require_finite(f"set {alg}.{option}", value)
        known = registry.OPTIONS.get(option)
        if known is not None and known.kind is int and v != int(v):
            raise InputError(f"set {alg}.{option}", f"must be an integer (got {value.strip()!r})")
        if known is not None and known.valid and not in_range(v, known.valid):
            raise InputError(f"set {alg}.{option}", f"valid {known.valid} (got {value.strip()})")
        out.setdefault(alg, {})[option] = int(v) if known is not None and known.kind is int else v
    return out


def _only_for(a: Inputs, experiment: str, others: dict) -> None:
    for name, default in others.items():
        if getattr(a, name) != default:
            raise InputError(name, f"does not apply to reproduce {experiment} (got {getattr(a, name)!r}); "
                                   f"leave it out")


def _table8(a: Inputs, progress=None) -> CommandResult:
    """reproduce p1-table8: P1 Table 8's rows (aimc_theory.table8), next to P1's numbers."""
    from .. import simulation, table8
    from ..data import SUBSET_SEED
    _only_for(a, "p1-table8", _FIG2_DEFAULTS | _P2_DEFAULTS)
    for row in table8.parse_rows(a.rows):                       # before the output directory is made
        if a.weight_scaling_omega is not None:
            table8._omega(a.weight_scaling_omega, row)
    # what the defaults leave open, filled in so that the provenance records the values that ran
    a.rows = table8.DEFAULT_ROWS if a.rows is None else a.rows
    a.configuration = a.configuration or "authors"
    a.dataset = a.dataset or "fashion-mnist"
    a.epochs = table8.DEFAULT_EPOCHS if a.epochs is None else a.epochs
    a.seeds = 1 if a.seeds is None else a.seeds
    a.subset_seed = SUBSET_SEED if a.subset_seed is None else a.subset_seed
    if a.no_out_scaling and a.configuration != "authors":
        raise InputError("no_out_scaling", "applies to --configuration authors (the matched configuration has no "
                                           "output scale)")
    inputs.out_dir(a.out, "figures", create=False)     # made once the run has checked its data set and sizes
    model = "per-sample pulse trains"
    try:
        res = table8.p1_table8(a.rows, a.configuration, a.dataset, a.train_size, a.test_size, a.subset_seed,
                               epochs=a.epochs, seeds=a.seeds, seed=a.seed, out_scaling=not a.no_out_scaling,
                               progress=progress, weight_scaling_omega=a.weight_scaling_omega or 0.0)
    except simulation.Interrupted as exc:       # Ctrl-C: the finished (row, algorithm) runs, marked partial
        part = exc.partial
        raise interrupted(None if part is None else CommandResult("reproduce", part.as_dict() | {"figure": None},
                                                                  a.arguments(), model, part), str(exc)) from None
    suffix = ("_no_out_scaling" if a.no_out_scaling else "") + \
        (f"_omega{a.weight_scaling_omega:g}" if a.weight_scaling_omega else "")
    fig = table8.draw(res, inputs.out_dir(a.out, "figures") / f"p1_table8_{a.configuration}{suffix}.{a.format}")
    return CommandResult("reproduce", res.as_dict() | {"figure": fig}, a.arguments(), model, res)


def _table_p2(a: Inputs, progress=None) -> CommandResult:
    """reproduce p2-table2: P2 Table 2's FCN rows (aimc_theory.table_p2), next to P2's numbers."""
    from .. import simulation, table_p2
    from ..data import SUBSET_SEED
    _only_for(a, "p2-table2", _FIG2_DEFAULTS | {"rows": None, "configuration": None})
    if a.no_out_scaling and a.weight_scaling_omega is None:
        raise InputError("no_out_scaling", "applies to reproduce p2-table2 only with --weight-scaling-omega (without "
                                           "the mapping there is no learned output scale to drop)")
    table_p2.parse_grid(a.grid)                                 # before the output directory is made
    table_p2.mapping(a.weight_scaling_omega, not a.no_out_scaling)
    algorithms = tuple(x.strip() for x in a.algorithms.split(",")) if a.algorithms else table_p2.ALGORITHMS
    bad = [x for x in algorithms if x not in table_p2.ALGORITHMS]
    if bad or len(set(algorithms)) != len(algorithms):
        raise InputError("algorithms", f"comma-separated, each once, among {', '.join(table_p2.ALGORITHMS)} "
                                       f"(got {a.algorithms!r})")
    overrides = _p2_overrides(a.set)
    for alg, opts in overrides.items():
        if alg not in algorithms:
            raise InputError("set", f"sets an option of {alg}, which --algorithms leaves out")
        registry.with_defaults(alg, opts)      # an option the compound does not take: an error naming it
    # what the defaults leave open, filled in so that the provenance records the values that ran
    a.grid = table_p2.DEFAULT_GRID if a.grid is None else a.grid
    a.dataset = a.dataset or "fashion-mnist"
    a.epochs = table_p2.DEFAULT_EPOCHS if a.epochs is None else a.epochs
    a.seeds = 1 if a.seeds is None else a.seeds
    a.subset_seed = SUBSET_SEED if a.subset_seed is None else a.subset_seed
    inputs.out_dir(a.out, "figures", create=False)     # made once the run has checked its data set and sizes
    model = "per-sample pulse trains"
    try:
        res = table_p2.p2_table2(a.grid, a.dataset, a.train_size, a.test_size, a.subset_seed, epochs=a.epochs,
                                 seeds=a.seeds, seed=a.seed, progress=progress,
                                 weight_scaling_omega=a.weight_scaling_omega or 0.0,
                                 out_scaling=not a.no_out_scaling, algorithms=algorithms, overrides=overrides)
    except simulation.Interrupted as exc:       # Ctrl-C: the finished (cell, algorithm) runs, marked partial
        part = exc.partial
        raise interrupted(None if part is None else CommandResult("reproduce", part.as_dict() | {"figure": None},
                                                                  a.arguments(), model, part), str(exc)) from None
    suffix = (f"_omega{a.weight_scaling_omega:g}" if a.weight_scaling_omega else "") + \
        ("_no_out_scaling" if a.no_out_scaling else "")
    fig = table_p2.draw(res, inputs.out_dir(a.out, "figures") / f"p2_table2_{res.dataset}{suffix}.{a.format}")
    return CommandResult("reproduce", res.as_dict() | {"figure": fig}, a.arguments(), model, res)


def train(a: Inputs, progress=None) -> CommandResult:
    """Train the NumPy MLP/CNN on real or built-in data with analog tiles (the network path).

    Raises :class:`CommandInterrupted` on Ctrl-C with the finished repeats/algorithms and the finished epochs of
    the run in progress (its ``partial``: the ``TrainResult`` list), the figure drawn of those."""
    from .. import data, network
    from ..periphery import periphery as make_periphery
    ds = data.load(a.dataset)
    if a.train_size is not None or a.test_size is not None:
        ds = data.subset(ds, a.train_size, a.test_size, a.subset_seed)
    periphery = make_periphery(a.out_scaling, a.io, a.max_input_size, 0, a.weight_scaling_omega,
                               a.weight_scaling_columnwise, a.weight_scaling_lr_compensation,
                               a.out_scaling_columnwise)
    lr_schedule = lr_step(a.lr_step)
    try:
        hidden = tuple(int(h) for h in a.hidden.split(",")) if a.hidden else ()
    except ValueError:
        raise InputError("hidden", f"must be comma-separated integers >= 1, e.g. 256,128 (got {a.hidden!r})") from None
    if a.architecture != "fcn" and a.hidden != parameters("train")["hidden"].default:
        raise InputError("hidden", f"sets the fcn's hidden layers; the {a.architecture} has its own (leave --hidden out)")
    if a.compare and a.algorithm != parameters("train")["algorithm"].default:
        raise InputError("algorithm", "give either --algorithm or --compare, not both")
    algs = [x.strip() for x in a.compare.split(",")] if a.compare else [a.algorithm]
    try:
        specs = [registry.spec(x) for x in algs]
    except InputError as exc:
        raise InputError("compare" if a.compare else "algorithm", str(exc).split(": ", 1)[1]) from None
    given = {name: getattr(a, name) for name in registry.OPTIONS if getattr(a, name, None) is not None}
    unused = [k for k in given if not any(k in s.options for s in specs)]
    if unused:
        raise InputError(unused[0], f"does not apply to {', '.join(algs)}")
    if not any(s.analog for s in specs):
        inputs.check_arrays(a, specs[0], ", ".join(algs))
    if a.sigma_c and not a.pulses:
        raise InputError("sigma_c", "applies only to the pulse-level model: add --pulses --dw-min X")
    trains = inputs.pulse_trains(a)
    inputs.preset_pulse_size(a, a.pulses)
    if a.pulses and a.dw_min is None:
        raise InputError("dw_min", "--pulses needs the pulse granularity --dw-min X (> 0)")
    if a.max_bl is not None and not a.pulses:
        raise InputError("max_bl", "applies only to the pulse-level model: add --pulses --dw-min X")
    two_arrays = any(s.two_arrays for s in specs)
    if not two_arrays:
        inputs.check_arrays(a, specs[0])          # --main-response without a main array is an error
    dev, main_dev = inputs.build_devices(a, two_arrays, a.pulses, trains)
    variation = inputs.variation(a)
    variation = variation if variation.varies else None
    # sized before the first line of progress (network.train checks the same for Python callers)
    network.check_training_size(ds, a.architecture, hidden, dev, main_dev, a.batch_size)
    network.check_network_pulses(dev, a.lr)
    for s in specs:                                # the array holding each algorithm's visible weights
        network.check_mapping(network.visible_array(s.name, dev, main_dev), periphery)
    out_dir = inputs.out_dir(a.out, "figures")   # after the other inputs: a bad one leaves no directory behind
    progress = _TrainProgress(progress, len(specs) * a.repeats)
    # the tracking algorithms' network defaults (AlgorithmSpec.network_defaults) where the user gave no value;
    # with one algorithm the provenance records them as the values that ran
    network_used = {s.name: {k: v for k, v in registry.network_defaults(s.name).items() if k not in given}
                    for s in specs}
    network_used = {k: v for k, v in network_used.items() if v}
    if not a.compare:
        for k, v in network_used.get(specs[0].name, {}).items():
            setattr(a, k, v)
    runs, stopped = [], None
    try:
        for spec in specs:
            opts = registry.with_defaults(spec.name, {k: v for k, v in given.items() if k in spec.options}) \
                if a.compare else inputs.algorithm_options(a, spec)
            opts.update(network_used.get(spec.name, {}))
            for r in range(a.repeats):
                if progress:
                    progress(f"{spec.name} (seed {a.seed + r})\n")
                runs.append(network.train(ds, spec.name, dev, main_dev if spec.two_arrays else None,
                                          epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, seed=a.seed + r,
                                          hidden=hidden, architecture=a.architecture, variation=variation, options=opts,
                                          progress=progress,
                                          reference_offset=(a.ref_mean, a.ref_std) if a.ref_mean or a.ref_std
                                          else None, periphery=periphery, init=a.init, lr_schedule=lr_schedule))
    except KeyboardInterrupt as exc:    # Ctrl-C: the finished runs and epochs are the result, marked partial
        stopped = f"{len(runs)} of {len(specs) * a.repeats} runs finished"
        part = getattr(exc, "partial", None)            # the run in progress: its finished epochs
        if part is not None:
            runs.append(part)
        stopped += f"; of the run in progress {exc}" if str(exc) else ""
    fig = _draw_training(runs, ds.name, out_dir / f"train_{ds.name}.{a.format}") if runs else None
    table = []
    for x in [x for x in algs if any(r.algorithm == x for r in runs)]:
        acc = np.array([r.test_accuracy for r in runs if r.algorithm == x])
        sec = np.mean([np.mean(r.seconds_per_epoch) for r in runs if r.algorithm == x])
        table.append({"algorithm": x, "test_accuracy_mean": float(acc.mean()),
                      "test_accuracy_std": float(acc.std(ddof=1)) if acc.size > 1 else 0.0, "repeats": int(acc.size),
                      "seconds_per_epoch": float(sec)})
    out = (runs[0].as_dict() if runs else {}) | {"dataset": ds.name, "response": dev.response.describe(), "figure": fig,
                               "subset": {"train_size": int(ds.x_train.shape[0]), "test_size": int(ds.x_test.shape[0]),
                                          "subset_seed": a.subset_seed if a.train_size or a.test_size else None},
                               "periphery_description": periphery.describe(),
                               "runs": [r.as_dict() for r in runs], "table": table}
    if network_used:        # which defaults ran, and where they come from (train prints it in one line)
        out["network_defaults"] = {"used": network_used,
                                   "source": {n: registry.spec(n).network_source for n in network_used}}
    model = ("per-sample pulse trains" if a.desired_bl else "pulse level") if a.pulses else "expected update"
    if stopped is not None:
        raise interrupted(CommandResult("train", out, a.arguments(), model, runs), stopped) from None
    return CommandResult("train", out, a.arguments(), model, runs)


def lr_step(text: str | None) -> tuple[int, float] | None:
    """``--lr-step STEP:GAMMA`` -> (STEP, GAMMA) for :func:`aimc_theory.network.train`'s ``lr_schedule`` (None:
    constant). Errors name ``lr_step``."""
    if text is None:
        return None
    rule = "must be STEP:GAMMA with STEP an integer >= 1 (epochs) and GAMMA in (0, 1], e.g. 15:0.5"
    m = re.fullmatch(r"\s*(\d+)\s*:\s*([^:\s]+)\s*", text)
    try:
        step, gamma = (int(m.group(1)), float(m.group(2))) if m else (0, float("nan"))
    except ValueError:
        step, gamma = 0, float("nan")
    if step < 1 or not 0 < gamma <= 1:
        raise InputError("lr_step", f"{rule} (got {text!r})")
    return step, gamma


class _TrainProgress:
    """train's progress lines (to ``progress``, if given) with the whole command's ETA appended to network.train's
    bar (epoch e/E and samples d/n of the run in progress; the runs, algorithms x repeats, one after another,
    each announced by a line of its own). After the first finished epoch it loads matplotlib, between epochs
    (outside their timing), so that a Ctrl-C draws the figure of what finished at once."""

    BAR = re.compile(r"epoch (\d+)/(\d+) \[[#.]*\] (\d+)/(\d+)")

    def __init__(self, progress, runs: int):
        self.progress, self.runs, self.run, self.t0, self.loaded = progress, runs, -1, None, False

    def __call__(self, text: str) -> None:
        m = self.BAR.search(text)
        if m is not None and text.endswith("\n") and not self.loaded:
            import matplotlib.figure  # noqa: F401
            self.loaded = True
        if self.progress is None:
            return
        if m is None:                   # a run's announcement
            self.run += 1
            self.t0 = time.perf_counter() if self.t0 is None else self.t0
        elif self.t0 is not None:
            e, epochs, d, n = (int(g) for g in m.groups())
            done, total = (self.run * epochs + e - 1) * n + d, self.runs * epochs * n
            if 0 < done < total:
                eta = (time.perf_counter() - self.t0) * (total - done) / done
                text = text.rstrip("\n") + f" ETA {eta:.0f} s" + "\n" * text.endswith("\n")
        self.progress(text)


def _draw_training(runs, name, path) -> str:
    from matplotlib.figure import Figure
    from ..files import save_figure
    fig = Figure(figsize=(11, 4))
    ax1, ax2 = fig.subplots(1, 2)
    colors = {}
    for r in runs:
        c = colors.setdefault(r.algorithm, f"C{len(colors)}")
        ep = np.arange(1, len(r.train_loss) + 1)
        ax1.plot(ep, r.train_loss, "o-", color=c, label=r.algorithm if r.seed == runs[0].seed else None)
        ax2.plot(ep, r.test_curve, "o-", color=c, label=r.algorithm if r.seed == runs[0].seed else None)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("test accuracy")
    ax1.set_title(f"MLP on {name}")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return str(save_figure(fig, path))


def _device_claims(a: Inputs):
    """check with a response: the catalogue's single-response claims on the user's device."""
    if not (a.response or a.q_plus or a.q_minus or a.param or a.range):
        return None
    if a.network:
        raise InputError("network", "the network claims compare fixed responses; with --response only the "
                                    "single-response claims run")
    resp = inputs.build_response(a)
    if resp.every_point_symmetric:
        raise InputError("response", f"{resp.describe()} has q+ = q- (every point symmetric): there is no SP, no "
                                     "Analog SGD bias and no residual SP for the claims to compare")
    from verification.claim_types import W_STAR
    if not resp.lo < W_STAR < resp.hi:
        raise InputError("response", f"the claims' problem has its optimum at w* = {W_STAR}, outside the range "
                                     f"({resp.lo:g}, {resp.hi:g}) of {resp.describe()}; move it with --sp-shift")
    return resp


class CheckInterrupted(KeyboardInterrupt):
    """Ctrl-C during check: the claims that finished are in ``report``, marked partial."""

    def __init__(self, report, what: str):
        super().__init__(what)
        self.report = report


def check(a: Inputs, progress=None) -> CommandResult:
    """Run the claims catalogue; write paper_checks.md and figures/ into ``out``. ``ok`` is False when a
    verdict is not the expected one."""
    from ..runtime import check_workers
    check_workers("workers", a.workers)           # beyond the usable cores processes only compete
    device_resp = _device_claims(a)
    from verification import checker
    from verification.catalogue import select
    ids = None
    if a.claims is not None:
        ids = [s.strip() for s in a.claims.split(",")]
        if not all(ids):
            raise InputError("claims", f"empty claim id in {a.claims!r}; ids look like 5 or 5.softbounds "
                                       "(leave --claims out to run every claim)")
    if device_resp is not None:
        ids = [c.id for c in select(ids, False, device=device_resp)]     # the claims built for the user's device
        if not ids:
            raise InputError("claims", f"no single-response claim matches {a.claims!r}; with --response the "
                                       "claims are 1, 2, 4-12 and 14-18 (ids like 5.device)")
    elif ids and not select(ids, a.network):
        raise InputError("claims", f"no claim matches {a.claims!r}; ids look like 5 or 5.softbounds")
    from verification import mutants as mutant_ops
    mutants = list(mutant_ops.BATTERY) if a.mutants else []
    if a.mutate:
        mutant_ops.parse(a.mutate)
        if a.mutate not in mutants:
            mutants.append(a.mutate)
    out = inputs.out_dir(a.out)                  # after the other inputs: a bad one leaves no directory behind
    t0 = time.perf_counter()
    report = out / "paper_checks.md"
    from ..files import figure_format
    try:
        with figure_format(a.format):           # the claims' figures, drawn deep in verification/
            run = checker.run_checks(ids, fast=a.fast, progress=progress is not None, workers=a.workers,
                                     network=a.network, mutants=mutants, device=device_resp,
                                     figures=None if a.no_figures else out / "figures")
    except checker.ChecksInterrupted as exc:      # Ctrl-C: what finished goes into a report marked partial
        checker.write_report(exc.rows, report, a.fast, time.perf_counter() - t0, exc.figures, device=device_resp,
                             partial="interrupted while drawing the figures" if len(exc.rows) == exc.total
                             else f"interrupted after {len(exc.rows)} of {exc.total} claims")
        raise CheckInterrupted(report, str(exc)) from None
    rows, figs = run.rows, run.figures
    seconds = time.perf_counter() - t0          # the whole job: claims, figures and report
    checker.write_report(rows, report, a.fast, seconds, figs, device=device_resp)
    ok = checker.all_as_expected(rows)
    data = {"claims": checker.public(rows), "all_as_expected": ok, "seconds": seconds, "report": str(report)}
    if mutants:
        score = mutant_ops.score(rows)
        data.update(mutation_score=score["score"], mutation_counts=score["counts"],
                    survivors=[{"claim": cid, "mutant": m, "why": why} for cid, m, why in checker.survivors(rows)])
    return CommandResult("check", data, a.arguments(), None, rows, ok=ok)
