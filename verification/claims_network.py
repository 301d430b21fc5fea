"""Claims 26.*: the network path on Fashion-MNIST (run with ``aimc-theory check --network``, not in --fast).

Every run uses the Fashion-MNIST subset of the reference simulator's runs (10000 training / 2000 test images,
``numpy.random.default_rng(2025)``, :func:`aimc_theory.data.cut`), FCN 784-256-128-10, batch 10, so that a
number of the reference simulator (IBM aihwkit 1.2.0) on the same subset can be compared like with like. Three
kinds of claim, each labelled with the model that made it:

* **against the reference simulator** (26.digital, 26.matched): the toolkit's run and aihwkit's on the same
  subset, configuration and epochs (digital SGD in the authors' configuration; Pow gamma 1 Analog SGD in the
  matched configuration of :mod:`aimc_theory.table8`);
* **the authors' configurations** (26.out-scale.*, 26.p2-ordering): P1 Table 8's and P2 Table 2's settings of
  the reference simulator (devices, noise, IO, tile split, learned output scale, compounds) with per-sample
  pulse trains, judged on the ordering the paper reports (P1/P2 trained on MNIST: absolute values differ);
* **the expected-update model** (26.power.*, 26.exponential.*, 26.bias-direction): P1 eq. 3 on every tile, a
  simplification of the pulsed devices P1 Table 8 ran (P1 eq. 148 / 149 responses, Glorot init, no periphery),
  judged on the sign of the Table 8 difference at tau 0.6 / 0.7 / 0.8. Hyperparameters are P1's text, fixed a
  priori: digital lr 0.1, analog lr 0.05, transfer beta 0.01, gamma 0.4, no learning-rate schedule.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from aimc_theory import data, device, network, response, table8
from aimc_theory import table_p2
from aimc_theory.errors import InputError

from .claim_types import AGREE, DISAGREE, INCONCLUSIVE, Claim, Outcome
from .figures import save, subplots
from .theory import Theory

RESPONSES = {"power": lambda tau=0.6: response.power(tau=tau, gamma=0.5),
             "exponential": lambda tau=0.6: response.exponential(tau=tau, gamma=0.5)}
TAUS = (0.6, 0.7, 0.8)          # P1 Table 8's columns
MARGIN = 0.03                   # RL within 3 pp of digital SGD (stated a priori; P1 Fig. 4: TT within ~1% on MNIST)

# P1 Table 8 (MNIST FCN, gamma 0.5): (TT/RL, Analog SGD) test %; None = "<15, all trials failed"
TABLE8 = {("power", 0.6): (96.92, 96.01), ("power", 0.7): (97.05, 97.40), ("power", 0.8): (96.82, 97.38),
          ("exponential", 0.6): (97.27, None), ("exponential", 0.7): (97.39, None),
          ("exponential", 0.8): (97.16, 94.00)}

# The reference simulator (aihwkit 1.2.0) on the same subset (10000 / 2000, seed 2025), test accuracy per epoch
REFERENCE = {
    # the authors' configuration (torch init, lr 0.1, batch 10): mean over 3 seeds per epoch
    "digital": (0.576, 0.719, 0.747),
    # matched configuration (Glorot init, no output scale, perfect IO, no device noise, P1 eq. 148 power
    # gamma 1, tau 0.6, pulse trains BL 31, dw_min 1e-3): one run
    "matched": (0.289, 0.460, 0.496),
    # the authors' configuration, Pow gamma 1, tau 0.6, Analog SGD: with / without the learned output scale
    "out-scale": (0.108, 0.097, 0.100),
    "no-out-scale": (0.107, 0.184, 0.226),
}
HALF_DIGIT = 0.0005             # the reference numbers are printed to 0.1 pp


@dataclass(frozen=True)
class Recorded:
    """A run too long for ``check --network`` whose numbers a finding cites: the JSON that ``command`` printed,
    stored in ``verification/recorded/`` (regenerate it with the command; the text is formatted from the file,
    never typed)."""
    name: str
    command: str

    @property
    def path(self) -> Path:
        return Path(__file__).parent / "recorded" / f"{self.name}.json"

    def available(self) -> bool:
        return self.path.is_file()

    def load(self) -> dict:
        import json
        return json.loads(self.path.read_text())

    def text(self) -> str:
        """P1 Table 8 rows of a ``reproduce p1-table8 --json`` output: final test accuracy per algorithm and row."""
        res = self.load()
        by_row: dict = {}
        for r in res["rows"]:
            by_row.setdefault((r["device"], r["gamma"], r["tau"]), {})[r["algorithm"]] = r
        parts = []
        for (dev, gamma, tau), algs in by_row.items():
            cells = ", ".join(f"{'TT-v1' if a == 'tt-v1' else 'Analog SGD'} {100 * r['test_accuracy']:.1f} % "
                              f"(per epoch " + " / ".join(f"{100 * x:.1f}" for x in r["test_accuracy_per_epoch"])
                              + ")" for a, r in sorted(algs.items(), key=lambda kv: kv[0] != "tt-v1"))
            gap = (f" (TT-v1 - Analog SGD = {100 * (algs['tt-v1']['test_accuracy'] - algs['analog-sgd']['test_accuracy']):+.1f} "
                   "pp)" if {"tt-v1", "analog-sgd"} <= set(algs) else "")
            parts.append(f"{dev.capitalize()} gamma {gamma:g} tau {tau:g}: {cells}{gap}")
        n = res["test_size"]
        return (f"The same rows in the authors' configuration with pulse trains ({res['configuration']}, "
                f"{res['dataset']}, {res['epochs']} epochs, {res['seeds']} seed{'s' if res['seeds'] > 1 else ''}; "
                f"`{self.command}`, recorded in verification/recorded/{self.name}.json): " + "; ".join(parts)
                + f" (binomial SE over {n} test images about {100 * math.sqrt(0.25 / n):.1f} pp).")


AUTHORS_TABLE8 = Recorded("p1_table8_pow05_tau07_tau08",
                          "aimc-theory reproduce p1-table8 --rows pow:0.5:0.7,pow:0.5:0.8 --epochs 10 --json")


def fashion_subset() -> data.Dataset:
    """Fashion-MNIST (Debian's ``dataset-fashion-mnist``) cut to the reference runs' subset: 10000 / 2000
    images drawn with seed 2025 (the whole split where smaller)."""
    return data.cut(data.fashion_mnist(), default=(table8.TRAIN_SIZE, table8.TEST_SIZE))[0]


@dataclass(frozen=True)
class Setup:
    """What the network claims train: the data, the hidden sizes, the seeds and the epochs."""
    load: Callable[[], data.Dataset] = fashion_subset
    hidden: tuple = (256, 128)
    seeds: tuple = (0, 1, 2)
    epochs: int = 5                     # the expected-update comparisons
    digital_epochs: int = 3             # claim 26.digital and 26.matched (the reference runs' length)
    fast_epochs: int = 1
    out_scale_epochs: int = 3           # claims 26.out-scale.* (--fast too: the no-scale run learns from epoch 2)
    out_scale_seed: int = 0

    def compare_epochs(self, fast: bool) -> int:
        return self.fast_epochs if fast else self.epochs


SETUP = Setup()


@lru_cache(maxsize=4)
def _data(setup: Setup):
    return setup.load()


@lru_cache(maxsize=256)
def _run(setup: Setup, algorithm: str, family: str | None, seed: int, epochs: int, tau: float = 0.6,
         init: str = "glorot"):
    ds = _data(setup)
    if family is None:
        return network.train(ds, algorithm, device.Device(response.ideal()), epochs=epochs, lr=0.1, seed=seed,
                             hidden=setup.hidden, init=init)
    resp = RESPONSES[family](tau)
    opts = {"beta": 0.01} if algorithm != "analog-sgd" else {}
    main = device.Device(resp) if algorithm != "analog-sgd" else None
    return network.train(ds, algorithm, device.Device(resp), main, epochs=epochs, lr=0.05, seed=seed,
                         hidden=setup.hidden, options=opts, init=init)


def _curves(algorithm, family, fast, tau=0.6) -> np.ndarray:
    """Test accuracy per epoch, one row per seed."""
    s = SETUP
    return np.array([_run(s, algorithm, family, seed, s.compare_epochs(fast), tau).test_curve for seed in s.seeds])


def _acc(algorithm, family, tau=0.6, fast=False):
    a = _curves(algorithm, family, fast, tau)[:, -1]
    return float(a.mean()), float(a.std(ddof=1) / math.sqrt(a.size)), a


def _missing(exc) -> Outcome:
    return Outcome(math.nan, math.nan, math.nan, math.nan, INCONCLUSIVE, f"not run: {exc}")


def _label(algorithm, family, tau=0.6) -> str:
    if family is None:
        return "digital SGD (Glorot init)"
    name = {"analog-sgd": "Analog SGD", "residual-learning": "RL v1 (TT)"}[algorithm]
    return f"expected update, {name}, {family} tau {tau:g}"


def _data_for(configs, fast) -> dict:
    """Learning curves (mean over seeds per epoch) and final accuracies for the report."""
    out = {}
    for cfg in configs:
        c = _curves(*cfg[:2], fast, *cfg[2:])
        out[_label(*cfg)] = {"curve": c.mean(axis=0).tolist(), "final": c[:, -1].tolist()}
    return {"network": out}


def _reference_agreement(curves: np.ndarray, reference, n_reference: int, what: str, theory: Theory):
    """Our learning curves (seeds x epochs) vs the reference simulator's (a mean over ``n_reference`` runs per
    epoch), epoch by epoch: each within 3 SE of the difference, SE^2 = s^2 / n + s^2 / n_reference with s our seed
    spread at that epoch (the reference's own spread is not published: assumed equal to ours), plus half the
    reference's last printed digit. The comparison reported is the epoch closest to (or farthest beyond) its
    tolerance. ``ordering=-1``: the negation (the toolkit's run differs from the reference's at some epoch)."""
    curves = np.atleast_2d(np.asarray(curves, dtype=float))
    n_ep = min(curves.shape[1], len(reference))
    m = curves[:, :n_ep].mean(axis=0)
    s = curves[:, :n_ep].std(axis=0, ddof=1)
    se = s * math.sqrt(1 / curves.shape[0] + 1 / n_reference)
    tol = 3 * se + HALF_DIGIT
    ref = np.asarray(reference[:n_ep], dtype=float)
    worst = int(np.argmax(np.abs(m - ref) / tol))
    within = bool(np.all(np.abs(m - ref) <= tol))
    per_epoch = "; ".join(f"epoch {e + 1}: {m[e]:.4f} vs {ref[e]:.3f} ({m[e] - ref[e]:+.4f}, tolerance {tol[e]:.4f})"
                          for e in range(n_ep))
    return Outcome(float(ref[worst]), float(m[worst]), float(se[worst]), float(tol[worst]),
                   AGREE if within == (theory.ordering > 0) else DISAGREE,
                   f"{what}, ours (mean of {curves.shape[0]} seeds) vs the reference simulator ({n_reference} "
                   f"run{'s' if n_reference > 1 else ''}{' mean' if n_reference > 1 else ''}) per epoch: {per_epoch}; "
                   f"predicted every epoch {'within' if theory.ordering > 0 else 'not within'} 3 SE + {HALF_DIGIT} "
                   "(SE from our seed spread, assumed equal for the reference); reported: epoch "
                   f"{worst + 1}", allowance=HALF_DIGIT, basis="derived: half the last printed digit of the "
                   "reference number")


def _claim_digital(theory: Theory, fast: bool) -> Outcome:
    """Digital SGD in the authors' configuration (torch init, lr 0.1) vs the reference simulator's on the same
    subset, after ``digital_epochs`` epochs (its 3-seed mean)."""
    s = SETUP
    try:
        runs = [_run(s, "digital-sgd", None, seed, s.digital_epochs, init="torch") for seed in s.seeds]
    except InputError as exc:
        return _missing(exc)
    a = np.array([r.test_accuracy for r in runs])
    c = np.array([r.test_curve for r in runs])
    out = _reference_agreement(c, REFERENCE["digital"], 3, "digital SGD, torch init, lr 0.1", theory)
    curve = c.mean(axis=0).tolist()
    return replace(out, data={"network": {"digital SGD, authors' configuration": {"curve": curve,
                                                                                   "final": a.tolist()}}})


@lru_cache(maxsize=16)
def _run_matched(setup: Setup, seed: int, pulses: bool):
    """P1 Table 8's Pow gamma 1, tau 0.6 Analog SGD row in the matched configuration (aimc_theory.table8: P1 eq.
    148 response, pulse trains BL 31 without device noise, Glorot init, perfect IO, no output scale, 512-input
    tiles); ``pulses=False``: the same with the expected update."""
    ds = _data(setup)
    cfg = table8.configure("matched", table8.Row("pow", 1.0, 0.6), "analog-sgd")
    kw = cfg.train_kwargs() | {"hidden": setup.hidden}
    if not pulses:
        kw["device"] = device.Device(kw["device"].response)
    return network.train(ds, "analog-sgd", epochs=setup.digital_epochs, seed=seed, **kw)


def _claim_matched(theory: Theory, fast: bool) -> Outcome:
    """The toolkit's per-sample pulse model vs the reference simulator on the matched set-up; the expected-update
    simplification on the same set-up is reported next to it (not judged here)."""
    s = SETUP
    try:
        pulsed = [_run_matched(s, seed, True) for seed in s.seeds]
        expected = [_run_matched(s, seed, False) for seed in s.seeds]
    except InputError as exc:
        return _missing(exc)
    a = np.array([r.test_accuracy for r in pulsed])
    e = np.array([r.test_accuracy for r in expected])
    out = _reference_agreement(np.array([r.test_curve for r in pulsed]), REFERENCE["matched"], 1, "matched "
                               "configuration, Pow gamma 1 (P1 eq. 148) Analog SGD, pulse trains", theory)
    d = e - a
    note = (f". The expected-update simplification on the same set-up and seeds: {e.mean():.4f} (seeds "
            + ", ".join(f"{x:.4f}" for x in e) + f"), {d.mean():+.4f} +- {d.std(ddof=1) / math.sqrt(d.size):.4f} "
            "(paired SE) above the pulse model")
    return replace(out, explanation=out.explanation + note,
                   data={"network": {"matched, Pow gamma 1 ASGD, pulses": {
                       "curve": np.mean([r.test_curve for r in pulsed], axis=0).tolist(), "final": a.tolist()},
                       "matched, Pow gamma 1 ASGD, expected update": {
                       "curve": np.mean([r.test_curve for r in expected], axis=0).tolist(), "final": e.tolist()}},
                       "expected_minus_pulses": d.tolist()})


def _pair(first: tuple, second: tuple, fast: bool):
    """Mean accuracies of two configurations (algorithm, family, tau) over the seeds, their difference
    first - second and its SE."""
    m1, se1, _ = _acc(*first, fast=fast)
    m2, se2, _ = _acc(*second, fast=fast)
    return m1, se1, m2, se2, m1 - m2, math.hypot(se1, se2)


def _claim_rl_vs_asgd(family, tau):
    """P1 Table 8's sign at (family, tau): where TT beats Analog SGD there, RL - ASGD > 3 SE; where Analog SGD is
    ahead (power, tau 0.7 / 0.8, by 0.35 / 0.56 pp), RL does not beat it: RL - ASGD <= 3 SE. ``ordering=-1``:
    the reverse (ASGD beats RL by 3 SE; RL beats ASGD by 3 SE: the claim "RL always wins")."""
    rl_paper, asgd_paper = TABLE8[(family, tau)]
    rl_wins = asgd_paper is None or rl_paper > asgd_paper

    def run(theory: Theory, fast: bool) -> Outcome:
        try:
            m1, se1, m2, se2, diff, se = _pair(("residual-learning", family, tau), ("analog-sgd", family, tau), fast)
        except InputError as exc:
            return _missing(exc)
        if rl_wins:
            holds = theory.ordering * diff > 3 * se
            pred = "> +3 SE" if theory.ordering > 0 else "< -3 SE"
        else:
            holds = diff <= 3 * se if theory.ordering > 0 else diff > 3 * se
            pred = "<= +3 SE (RL does not beat ASGD)" if theory.ordering > 0 else "> +3 SE (RL beats ASGD)"
        paper = (f"P1: TT {rl_paper:.2f}, ASGD " + ("< 15" if asgd_paper is None else f"{asgd_paper:.2f}"))
        data = _data_for([("residual-learning", family, tau), ("analog-sgd", family, tau)], fast)
        data |= {"tau": tau, "rl": m1, "asgd": m2, "digital": _acc("digital-sgd", None, fast=fast)[0]}
        return Outcome(0.0, diff, se, 3 * se, AGREE if holds else DISAGREE,
                       f"expected-update model, {RESPONSES[family](tau).describe()}: RL {m1:.4f} +- {se1:.4f}, Analog "
                       f"SGD {m2:.4f} +- {se2:.4f} (seeds {list(SETUP.seeds)}, {SETUP.compare_epochs(fast)} epochs); "
                       f"RL - ASGD = {diff:+.4f}, predicted {pred} = {3 * se:.4f} ({paper})", data)
    return run, rl_wins


def _note_table8_lead(rows: dict) -> str:
    """The finding of 26.power.rl-vs-asgd.tau0.7 / .tau0.8, from the rows' data and the recorded runs of the
    authors' configuration (:data:`AUTHORS_TABLE8`)."""
    ids = [i for i in ("26.power.rl-vs-asgd", "26.power.rl-vs-asgd.tau0.7", "26.power.rl-vs-asgd.tau0.8")
           if i in rows]
    leads = "; ".join(f"tau {rows[i]['_data']['tau']:g}: RL - ASGD = {rows[i]['measured']:+.4f} "
                      f"({rows[i]['measured'] / rows[i]['se']:+.1f} SE), ASGD {rows[i]['_data']['asgd']:.4f}, "
                      f"digital SGD {rows[i]['_data']['digital']:.4f}" for i in ids if rows[i].get("_data"))
    text = ("Finding about the expected-update model at this budget, not about P1: P1 Table 8 (MNIST, 30 epochs, "
            "the reference simulator's pulsed PowStep devices) has Analog SGD ahead of TT by 0.35 / 0.56 pp at tau "
            "0.7 / 0.8; here Residual Learning leads at every tau by about the same margin (" + leads + "): Analog "
            "SGD's implicit penalty toward the SP (P1 Thm 1) keeps it well below digital SGD after 5 epochs of 10k "
            "images whatever tau, so the sign of P1's small tau 0.7 / 0.8 differences cannot appear. Modelling "
            "choices it depends on: the model (expected update here, pulses in P1), the data set and the length of "
            "training.")
    if not AUTHORS_TABLE8.available():
        return text + (" The authors' configuration was not rerun for these rows (reproduce p1-table8 --rows "
                       "pow:0.5:0.7,pow:0.5:0.8).")
    res = AUTHORS_TABLE8.load()
    acc = {(r["tau"], r["algorithm"]): r["test_accuracy"] for r in res["rows"]}
    n = res["test_size"]
    gaps = [(acc[(t, "tt-v1")] - acc[(t, "analog-sgd")],
             math.sqrt(sum(a * (1 - a) / n for a in (acc[(t, "tt-v1")], acc[(t, "analog-sgd")]))))
            for t in sorted({t for t, _ in acc}) if (t, "tt-v1") in acc and (t, "analog-sgd") in acc]
    same_sign = all(g <= 3 * se for g, se in gaps)
    return text + " " + AUTHORS_TABLE8.text() + (
        " There TT-v1 does not beat Analog SGD by 3 binomial SE in any of these rows, the sign P1 reports: the RL "
        "lead of this claim is a property of the expected-update simplification at this budget." if same_sign else
        " There TT-v1 beats Analog SGD by more than 3 binomial SE in some row too: the disagreement with P1 is not "
        "only the simplification's.")


def _claim_rl_vs_digital(family):
    def run(theory: Theory, fast: bool) -> Outcome:
        try:
            d_m, _, rl_m, _, gap, se = _pair(("digital-sgd", None), ("residual-learning", family), fast)
        except InputError as exc:
            return _missing(exc)
        within = gap <= MARGIN + 3 * se
        return Outcome(0.0, gap, se, MARGIN + 3 * se, AGREE if within == (theory.ordering > 0) else DISAGREE,
                       f"expected-update model, {RESPONSES[family]().describe()}, {SETUP.compare_epochs(fast)} "
                       f"epochs: digital {d_m:.4f}, RL {rl_m:.4f}: gap {gap:+.4f} vs margin {MARGIN} + 3 SE",
                       _data_for([("digital-sgd", None)], fast))
    return run


def _claim_bias_direction(theory: Theory, fast: bool) -> Outcome:
    """The implicit penalty pulls Analog SGD's weights toward the SP (0 for the power response)."""
    s = SETUP
    try:
        # the runs of the rl-vs-* claims of this task (tau given as _curves gives it: lru_cache keys a default left
        # out apart from one passed, and trained them twice)
        runs_a = [_run(s, "analog-sgd", "power", seed, s.compare_epochs(fast), 0.6) for seed in s.seeds]
        runs_d = [_run(s, "digital-sgd", None, seed, s.compare_epochs(fast), 0.6) for seed in s.seeds]
    except InputError as exc:
        return _missing(exc)
    sp = theory.symmetric_point(RESPONSES["power"]())
    ratio = np.array([np.mean(np.abs(ra.final_weights[0][0] - sp)) / np.mean(np.abs(rd.final_weights[0][0] - sp))
                      for ra, rd in zip(runs_a, runs_d)])
    m, se = float(ratio.mean()), float(ratio.std(ddof=1) / math.sqrt(ratio.size))
    toward = m < 1.0 - 3 * se if theory.ordering > 0 else m > 1.0 + 3 * se
    return Outcome(1.0, m, se, 3 * se, AGREE if toward else DISAGREE,
                   f"first layer after {s.compare_epochs(fast)} epochs, mean |w - SP| of Analog SGD / digital SGD (same "
                   f"seeds and data order): {m:.3f} +- {se:.3f} (SP {sp:g}); below 1 means the weights are pulled toward "
                   "the SP, as the scalar theory's implicit penalty predicts")


@lru_cache(maxsize=16)
def _run_out_scale(setup: Setup, out_scaling: bool, tau: float = 0.6):
    """P1 Table 8's Pow gamma 1 Analog SGD row at ``tau`` in the authors' configuration (aimc_theory.table8), with
    or without the learned output scale, on the setup's data cut to the reference runs' subset (10000 / 2000,
    seed 2025, or the whole split where smaller) and hidden sizes."""
    ds, _ = data.cut(_data(setup), default=(table8.TRAIN_SIZE, table8.TEST_SIZE))
    cfg = table8.configure("authors", table8.Row("pow", 1.0, tau), "analog-sgd", out_scaling=out_scaling)
    kw = cfg.train_kwargs() | {"hidden": setup.hidden}
    return ds, network.train(ds, "analog-sgd", epochs=setup.out_scale_epochs, seed=setup.out_scale_seed, **kw)


def _claim_out_scale(tau: float):
    """P1 Table 8's Pow gamma 1 Analog SGD at ``tau`` in the authors' configuration: with the learned output
    scale the run stays at chance (1/K, its binomial SE over the test images plus the test set's class
    imbalance: a collapsed network scores one class's share), and the same run without the scale beats it by more than 3 SE of the difference. The wrong theory "the output scale does not matter"
    predicts a difference of 0; ``ordering=-1`` predicts the reverse (the scaled run learns, the other does not)."""
    def run(theory: Theory, fast: bool) -> Outcome:
        s = SETUP
        try:
            ds, with_scale = _run_out_scale(s, True, tau)
            _, without = _run_out_scale(s, False, tau)
        except InputError as exc:
            return _missing(exc)
        n, k = ds.y_test.size, ds.n_classes
        chance = 1.0 / k
        share = float(np.bincount(ds.y_test, minlength=k).max()) / n - chance     # derived allowance
        a1, a0 = float(with_scale.test_accuracy), float(without.test_accuracy)
        se_chance = math.sqrt(chance * (1 - chance) / n)
        tol_chance = 3 * se_chance + share
        diff = a0 - a1
        se = math.sqrt(a0 * (1 - a0) / n + a1 * (1 - a1) / n)
        stuck, learner = (a1, a0) if theory.ordering > 0 else (a0, a1)
        at_chance = abs(stuck - chance) <= tol_chance
        beats = learner - stuck > 3 * se
        ref = ("" if tau != 0.6 else ". The reference simulator (aihwkit 1.2.0) on the same subset: "
               + " / ".join(f"{100 * x:.1f}" for x in REFERENCE["out-scale"]) + " % with the scale, "
               + " / ".join(f"{100 * x:.1f}" for x in REFERENCE["no-out-scale"]) + " % without")
        scale = " -> ".join(f"{e[-1]:.3f}" for e in with_scale.out_scale)
        curve = lambda r: " / ".join(f"{100 * x:.1f}" for x in r.test_curve)          # noqa: E731
        return Outcome(0.0, diff, se, 3 * se, AGREE if at_chance and beats else DISAGREE,
                       f"authors' configuration (aimc_theory.table8), Pow gamma 1 tau {tau:g} Analog SGD, {ds.name}, "
                       f"{s.out_scale_epochs} epochs, seed {s.out_scale_seed}: with the learned output scale "
                       f"{curve(with_scale)} % (output layer's scale per epoch, from 1: {scale}); without it "
                       f"{curve(without)} %. Predicted: {'the scaled' if theory.ordering > 0 else 'the unscaled'} run at "
                       f"chance {chance:.3f} +- {tol_chance:.4f} (3 binomial SE over {n} test images + class imbalance "
                       f"{share:.4f}): {'yes' if at_chance else 'no'} ({stuck:.4f}); the other run above it by > 3 SE "
                       f"= {3 * se:.4f}: {'yes' if beats else 'no'} (no-scale - scaled = {diff:+.4f}, {diff / se:+.1f} "
                       "SE; 'the output scale does not matter' predicts 0). SE: binomial over the test images of one "
                       "seed each (the seed-to-seed spread is not in it)" + ref,
                       {"network": {f"authors, Pow gamma 1 tau {tau:g} ASGD, output scale":
                                    {"curve": list(with_scale.test_curve), "final": [a1]},
                                    f"authors, Pow gamma 1 tau {tau:g} ASGD, no output scale":
                                    {"curve": list(without.test_curve), "final": [a0]}},
                        "out_scale_per_epoch": [e[-1] for e in with_scale.out_scale]},
                       allowance=share, basis="derived: a network at chance predicts one class, whose share of the test "
                       "set exceeds 1/K by this much (0 for a stratified subset of a balanced set)")
    return run


# claim 26.p2-ordering: P2 Table 2's FCN configuration (aimc_theory.table_p2) on one cell, cheap
P2_CELL = (0.3, 0.3)            # ref mean, ref std: the middle cell of reproduce p2-table2's default grid
P2_SIZES = (10000, 2000)        # Fashion-MNIST subset (seed 2025), or the whole split where smaller
P2_EPOCHS, P2_SEED = 3, 0
P2_EXPECTED = DISAGREE         # measured: a finding (see _note_p2_ordering)


def _note_p2_ordering(rows: dict) -> str:
    return ("Finding about this budget and this reading of P2's hyperparameters, not about P2: "
            + rows["26.p2-ordering"]["explanation"] + ". " + _p2_budget() + " " + _p2_mapping() + " "
            + _p2_sensitivity())


# the recorded reruns of the claim's cell (reproduce p2-table2 --grid 0.3:0.3 --epochs 3 --json, Fashion-MNIST subset
# 10000 / 2000, seed 0) with and without aihwkit's weight mapping
P2_RECORDED = (("no weight mapping (as the claim)", Recorded("p2_table2_cell03_base", "aimc-theory reproduce "
                                                             "p2-table2 --grid 0.3:0.3 --epochs 3 --json")),
               ("omega 0.3 + learned output scale", Recorded("p2_table2_cell03_omega03", "... "
                                                             "--weight-scaling-omega 0.3")),
               ("omega 0.3, no output scale", Recorded("p2_table2_cell03_omega03_no_scale", "... "
                                                       "--weight-scaling-omega 0.3 --no-out-scaling")),
               ("omega 0.6 + learned output scale", Recorded("p2_table2_cell03_omega06", "... "
                                                             "--weight-scaling-omega 0.6")))


# the same cell with the transfer rates and E-RIDER's chopper probability moved (reproduce p2-table2 --set)
_P2_CMD = "aimc-theory reproduce p2-table2 --grid 0.3:0.3 --epochs 3 --json"
P2_SENSITIVITY = (
    ("every transfer_lr x 10", Recorded("p2_table2_cell03_transfer_x10", f"{_P2_CMD} --set tt-v2.transfer_lr=0.1 "
                                        "--set agad.transfer_lr=3 --set e-rider-chopped.transfer_lr=0.5")),
    ("every transfer_lr x 100", Recorded("p2_table2_cell03_transfer_x100", f"{_P2_CMD} --set tt-v2.transfer_lr=1 "
                                         "--set agad.transfer_lr=30 --set e-rider-chopped.transfer_lr=5")),
    ("E-RIDER in_chop_prob 0.01", Recorded("p2_table2_cell03_erider_chop001", f"{_P2_CMD} --algorithms "
                                           "e-rider-chopped --set e-rider-chopped.in_chop_prob=0.01")),
    ("E-RIDER in_chop_prob 0.2", Recorded("p2_table2_cell03_erider_chop02", f"{_P2_CMD} --algorithms "
                                          "e-rider-chopped --set e-rider-chopped.in_chop_prob=0.2")))


def _recorded_rows(recorded) -> list:
    """[(label, rows of its JSON)] of the recorded reruns that are present."""
    return [(label, rec.load()["rows"]) for label, rec in recorded if rec.available()]


def _row_text(row: dict) -> str:
    """One compound of a recorded p2-table2 cell: its final test % and the pulses per weight written to C."""
    pulses = " / ".join(f"{x:.3g}" for x in (row.get("transfer_pulses_per_epoch") or [[0]])[-1])
    return f"{table_p2.LABEL[row['algorithm']]} {100 * row['test_accuracy']:.1f} % (C pulses per weight {pulses})"


def _p2_sensitivity() -> str:
    """The verdict across the transfer rates and E-RIDER's chopper probability (recorded runs of the same cell)."""
    runs = _recorded_rows(P2_SENSITIVITY)
    if not runs:
        return ""
    parts = [f"{label}: " + ", ".join(_row_text(r) for r in rows) for label, rows in runs]
    base = {r["algorithm"]: r for _, rows in _recorded_rows(P2_RECORDED[:1]) for r in rows}
    erider = [r for _, rows in runs for r in rows if r["algorithm"] == "e-rider-chopped"] + \
        ([base["e-rider-chopped"]] if "e-rider-chopped" in base else [])
    agad = [r for _, rows in runs for r in rows if r["algorithm"] == "agad"]
    best_e = max(100 * r["test_accuracy"] for r in erider)
    opts = [r["configuration"]["options"] for r in erider]
    p2 = table_p2.OPTIONS["e-rider-chopped"]
    chop = sorted({o["in_chop_prob"] for o in opts})
    factor = sorted({o["transfer_lr"] / p2["transfer_lr"] for o in opts})
    text = ("Across the transfer rates and E-RIDER's chopper probability (recorded reruns of the same cell with "
            "`reproduce p2-table2 --set`, stored in verification/recorded/p2_table2_cell03_{transfer,erider}_*.json; "
            f"P2's values: {_P2_VALUES}): " + "; ".join(parts) + f". E-RIDER stays at {best_e:.1f} % or below in every "
            f"variant, so the ordering E-RIDER > AGAD fails across in_chop_prob {chop[0]:g}-{chop[-1]:g} and transfer "
            f"rates x{factor[0]:g}-x{factor[-1]:g} of P2's")
    if agad and "agad" in base:
        text += (f"; AGAD's lead needs P2's own rate (AGAD {100 * base['agad']['test_accuracy']:.1f} % at x1, "
                 + ", ".join(f"{100 * r['test_accuracy']:.1f} %" for r in agad) + " at x10 / x100)")
    return text + "."


_P2_VALUES = ", ".join(f"{table_p2.LABEL[a]} transfer_lr {table_p2.OPTIONS[a]['transfer_lr']:g}"
                       for a in ("tt-v2", "agad", "e-rider-chopped")) + \
    f", E-RIDER in_chop_prob {table_p2.OPTIONS['e-rider-chopped']['in_chop_prob']:g}"


def _p2_budget() -> str:
    """Why E-RIDER's C gets no pulse at this budget, derived from aihwkit's chopped-transfer arithmetic and the
    configuration the recorded run states: one column of the first layer is read per sample (in = 784 inputs), a
    read adds k |A| to its buffer with k = transfer_lr lr gamma / (dA auto_granularity / in), and C is written
    where the buffer reaches 1, so after R reads the buffer holds at most R k max|A| (max|A| = 1, the range)."""
    rec = P2_RECORDED[0][1]
    if not rec.available():
        return ""
    res = rec.load()
    row = next(r for r in res["rows"] if r["algorithm"] == "e-rider-chopped")
    cfg, o = row["configuration"], row["configuration"]["options"]
    n_in = 784
    k = o["transfer_lr"] * cfg["lr"] * o["gamma"] / (cfg["dw_min"] * o["auto_granularity"] / n_in)
    reads = res["epochs"] * res["train_size"] / n_in
    reads_p2 = res["paper_epochs"] * 60000 / n_in
    pulses = row.get("transfer_pulses_per_epoch") or [[0.0]]
    return (f"Derived (aihwkit's ChoppedTransferCompound with this configuration, first layer): a read adds "
            f"k |A| to C's buffer with k = transfer_lr lr gamma / (dA auto_granularity / {n_in}) = {k:.2e}; "
            f"{res['epochs']} epochs of {res['train_size']} images read each column {reads:.0f} times, so the buffer "
            f"holds at most {reads * k:.3f} |A| < 1 and C cannot receive a pulse (measured: "
            f"{sum(pulses[-1]):g} pulses per weight written to C); P2's 40 epochs of 60000 MNIST images read each "
            f"column {reads_p2:.0f} times (at most {reads_p2 * k:.2f} |A|). At this budget E-RIDER is gamma A + "
            "C with C at its initialization, and the comparison cannot test P2's ordering; a rerun at P2's length "
            "(hours at pulse level) or P2's own scripts (not public) would.")


def _p2_mapping() -> str:
    """The verdict across aihwkit's weight mapping (recorded runs)."""
    parts = []
    for label, rows in _recorded_rows(P2_RECORDED):
        acc = {r["algorithm"]: r for r in rows}
        parts.append(f"{label}: " + ", ".join(_row_text(acc[a]) for a in ("e-rider-chopped", "agad", "tt-v2")
                                               if a in acc))
    if not parts:
        return ""
    return ("Across aihwkit's weight mapping (weight_scaling_omega; recorded reruns of the same cell, stored in "
            "verification/recorded/p2_table2_cell03_*.json): " + "; ".join(parts) + ". The ordering fails in every "
            "variant: the mapping divides only the gradient by the mapping scale, and the transfer increments "
            "above contain no mapping scale.")


@lru_cache(maxsize=4)
def _run_p2(setup: Setup):
    ds = _data(setup)
    n_tr, n_te = min(P2_SIZES[0], ds.x_train.shape[0]), min(P2_SIZES[1], ds.x_test.shape[0])
    return table_p2.p2_table2([P2_CELL], dataset=ds, train_size=n_tr, test_size=n_te, epochs=P2_EPOCHS, seeds=1,
                              seed=P2_SEED, hidden=setup.hidden)


def _claim_p2_ordering(theory: Theory, fast: bool) -> Outcome:
    """E-RIDER > AGAD > TT-v2 (P2 Table 2, FCN) with the compounds in P2's configuration: both differences
    above 3 SE (binomial over the test images, one seed; the seed spread is not in it). ``ordering=-1`` predicts
    the reverse order; the wrong theory "the three are equal" predicts differences of 0."""
    try:
        res = _run_p2(SETUP)
    except InputError as exc:
        return _missing(exc)
    k, n = _data(SETUP).n_classes, res.test_size
    # a seed that diverged scores chance at best: with none left, the row is read as 1/K
    acc = {r["algorithm"]: (r["test_accuracy"], r["test_accuracy_se"], r) if r["test_accuracy_seeds"] else
           (1 / k, math.sqrt((1 / k) * (1 - 1 / k) / n), r) for r in res.rows}
    (e, se_e, _), (a, se_a, _), (t, se_t, _) = (acc[k] for k in ("e-rider-chopped", "agad", "tt-v2"))
    d1, s1 = e - a, math.hypot(se_e, se_a)
    d2, s2 = a - t, math.hypot(se_a, se_t)
    o = theory.ordering
    holds = o * d1 > 3 * s1 and o * d2 > 3 * s2
    worst, se = (d1, s1) if o * d1 / s1 <= o * d2 / s2 else (d2, s2)
    curve = lambda k: " / ".join(f"{100 * x:.1f}" for x in acc[k][2]["test_accuracy_per_epoch"])   # noqa: E731
    paper = {k: table_p2.paper(k, *P2_CELL) for k in acc}
    return Outcome(0.0, worst, se, 3 * se, AGREE if holds else DISAGREE,
                   f"P2 Table 2's FCN configuration (aimc_theory.table_p2: preset reram-array-hfo2, pulse trains BL 5, "
                   f"P2's FCN hyperparameters, auto_scale), reference offset N({P2_CELL[0]}, {P2_CELL[1]}^2) on A, "
                   f"{res.dataset} {res.train_size}/{res.test_size}, {res.epochs} epochs, seed {P2_SEED}: test % per "
                   f"epoch E-RIDER {curve('e-rider-chopped')}, AGAD {curve('agad')}, TT-v2 {curve('tt-v2')} (P2, "
                   f"MNIST 40 epochs: {paper['e-rider-chopped']:.2f} / {paper['agad']:.2f} / {paper['tt-v2']:.2f}). "
                   f"E-RIDER - AGAD = {d1:+.4f} ({d1 / s1:+.1f} SE), AGAD - TT-v2 = {d2:+.4f} ({d2 / s2:+.1f} SE); "
                   f"predicted both {'> +' if o > 0 else '< -'}3 SE (SE binomial over the test images, one seed)",
                   {"network": {f"P2 config, {table_p2.LABEL[k]}, offset {P2_CELL[0]}/{P2_CELL[1]}":
                                {"curve": list(v[2]["test_accuracy_per_epoch"]), "final": [v[0]]}
                                for k, v in acc.items()}})


def _curves_figure(by_id: dict, outdir: Path, theory: Theory) -> list[str]:
    """Claims 26.*: the learning curves of every configuration the network claims trained."""
    fig, ax = subplots(figsize=(7, 4.5))
    if not draw_curves(list(by_id.values()), ax):
        return []
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (mean over seeds)")
    ax.set_title("Fashion-MNIST subset, FCN 784-256-128-10 (each curve names its model)")
    ax.legend(fontsize=7)
    return [save(fig, outdir / "network_curves.png")]


def catalogue() -> list[Claim]:
    """The claims 26.*; every one carries the figure of the learning curves (drawn once)."""
    return [replace(c, figure=_curves_figure) for c in _claims()]


def _claims() -> list[Claim]:
    s = SETUP
    runs = f"{len(s.seeds)} seeds x {s.epochs} epochs (--fast: {s.fast_epochs})"
    subset = "Fashion-MNIST subset 10000/2000 (seed 2025)"
    claims = [Claim("26.digital", "the reference simulator (aihwkit 1.2.0) on the same subset and configuration",
                    "digital SGD in the authors' configuration (torch init, lr 0.1, batch 10) reaches the reference "
                    "simulator's test accuracy", f"{subset}, {len(s.seeds)} seeds x {s.digital_epochs} epochs vs the "
                    "reference's 3-run mean; |difference| <= 3 SE + half its last digit (SE from our seed spread, "
                    "assumed equal for the reference)", _claim_digital, family="network", group="network.a",
                    controls=("ordering=-1",)),
              Claim("26.matched", "the reference simulator (aihwkit 1.2.0) on the same subset, matched configuration",
                    "the per-sample pulse model reproduces the reference simulator's Pow gamma 1 Analog SGD (P1 eq. "
                    "148, tau 0.6, BL 31, dw_min 1e-3, Glorot init, perfect IO, no device noise, no output scale)",
                    f"{subset}, {len(s.seeds)} seeds x {s.digital_epochs} epochs vs the reference's one run; |difference| "
                    "<= 3 SE + half its last digit (SE^2 = s^2/3 + s^2: one reference run whose spread is assumed "
                    "ours); the expected-update simplification on the same set-up reported next to it",
                    _claim_matched, family="network", group="network.f", controls=("ordering=-1",))]
    for fam in RESPONSES:
        for tau in TAUS:
            run, rl_wins = _claim_rl_vs_asgd(fam, tau)
            rl, asgd = TABLE8[(fam, tau)]
            paper = f"TT {rl:.2f} vs ASGD " + ("< 15" if asgd is None else f"{asgd:.2f}")
            statement = ("Residual Learning beats Analog SGD" if rl_wins else
                         "Residual Learning does not beat Analog SGD") + \
                f" ({fam}, tau {tau:g}, gamma 0.5; P1: {paper})"
            finding = not rl_wins         # measured: RL leads by ~10 pp at every tau in this model (see the note)
            claims.append(Claim(f"26.{fam}.rl-vs-asgd" + ("" if tau == 0.6 else f".tau{tau:g}"),
                                "P1 Table 8 (MNIST); here the expected-update model (P1 eq. 3 on every tile, P1 eq. "
                                f"{148 if fam == 'power' else 149} response, Glorot init, no periphery)", statement,
                                f"{subset}, {runs}; " + ("RL - ASGD > 3 SE" if rl_wins else
                                                         "RL - ASGD <= 3 SE (one-sided: P1's ASGD lead is below "
                                                         "this budget's resolution)"),
                                run, family="network", group=f"network.{fam}.{tau:g}",
                                controls=() if finding else ("ordering=-1",),
                                expected_verdict=DISAGREE if finding else AGREE,
                                note=_note_table8_lead if finding else None))
        claims.append(Claim(f"26.{fam}.rl-vs-digital", "P1 Fig. 4 (TT within ~1% of DSGD on MNIST); here the "
                            "expected-update model", "Residual Learning is within "
                            f"{MARGIN * 100:g} pp of digital SGD ({fam}, tau 0.6)", f"{subset}, {runs}; digital - RL "
                            f"<= {MARGIN} + 3 SE", _claim_rl_vs_digital(fam), family="network",
                            group=f"network.{fam}.0.6", controls=("ordering=-1",)))
    for tau in TAUS:
        claims.append(Claim("26.out-scale" + ("" if tau == 0.6 else f".tau{tau:g}"), "P1 Table 8 (Pow gamma 1 Analog "
                            "SGD '<15' at tau 0.6, 0.7, 0.8) in the authors' configuration; the reference simulator's "
                            "ablation", f"Pow gamma 1 Analog SGD (tau {tau:g}) in the authors' configuration stays at "
                            "chance while the same run without the learned output scale learns",
                            f"{subset}, {s.out_scale_epochs} epochs, seed {s.out_scale_seed} (also with --fast); the "
                            "scaled run within 3 binomial SE (+ class imbalance) of 1/K and the unscaled run above it "
                            "by > 3 SE of the difference (rejects 'the output scale does not matter', which predicts "
                            "no difference)", _claim_out_scale(tau), family="network", group=f"network.d.{tau:g}",
                            controls=("ordering=-1",)))
    claims.append(Claim("26.p2-ordering", "P2 Table 2 (FCN, RRAM-HfO2, reference offsets)", "in P2's configuration "
                        "of the reference simulator's compounds E-RIDER beats AGAD and AGAD beats TT-v2 (P2: 95.9 > "
                        "92.5 > 69.7 at ref mean 0.3, std 0.3)", f"reproduce p2-table2's configuration on one cell "
                        f"(mean {P2_CELL[0]}, std {P2_CELL[1]}), Fashion-MNIST subset {P2_SIZES[0]}/{P2_SIZES[1]}, "
                        f"{P2_EPOCHS} epochs, seed {P2_SEED} (also with --fast); E-RIDER - AGAD > 3 SE and AGAD - "
                        "TT-v2 > 3 SE (binomial SE; rejects 'all equal', which predicts 0, and the reverse order)",
                        _claim_p2_ordering, expected_verdict=P2_EXPECTED, family="network", group="network.e",
                        controls=("ordering=-1",), note=_note_p2_ordering))
    claims.append(Claim("26.bias-direction", "P1 Thm 1 (implicit penalty), network; the expected-update model",
                        "Analog SGD's trained weights sit closer to the SP than digital SGD's",
                        f"{subset}, {runs}; first-layer mean |w - SP| ratio < 1 - 3 SE", _claim_bias_direction,
                        family="network", group="network.power.0.6", controls=("ordering=-1",)))
    return claims


def _reference_text(label: str) -> str:
    """The reference simulator's number on the same subset for a row of the report, if it ran that set-up."""
    pct = lambda v: f"{100 * v:.1f}"            # noqa: E731
    if label == "digital SGD, authors' configuration":
        return f"{pct(REFERENCE['digital'][-1])} (3 runs' mean, 3 epochs)"
    if label.startswith("matched, Pow gamma 1 ASGD"):
        return f"{pct(REFERENCE['matched'][-1])} (pulses, 1 run, 3 epochs)"
    if label == "authors, Pow gamma 1 tau 0.6 ASGD, output scale":
        return f"{pct(REFERENCE['out-scale'][-1])} (3 epochs)"
    if label == "authors, Pow gamma 1 tau 0.6 ASGD, no output scale":
        return f"{pct(REFERENCE['no-out-scale'][-1])} (3 epochs)"
    return "—"


def _paper_text(label: str) -> str:
    """P1 / P2's MNIST number for a row of the report (orientation only: another data set and length)."""
    for (fam, tau), (rl, asgd) in TABLE8.items():
        if label == f"expected update, RL v1 (TT), {fam} tau {tau:g}":
            return f"TT {rl:.2f} (P1 Table 8)"
        if label == f"expected update, Analog SGD, {fam} tau {tau:g}":
            return ("< 15, all trials failed" if asgd is None else f"{asgd:.2f}") + " (P1 Table 8)"
    if label.startswith("authors, Pow gamma 1") and label.endswith("ASGD, output scale"):
        return "< 15, all trials failed (P1 Table 8)"
    if label.startswith("digital SGD") or label == "expected update, digital SGD":
        return "98.17 ± 0.05 (P1 Table 8)"
    if label.startswith("P2 config"):
        for key, name in table_p2.LABEL.items():
            if f", {name}," in label:
                return f"{table_p2.paper(key, *P2_CELL):.2f} (P2 Table 2)"
    return "—"


def report_section(rows: list[dict]) -> list[str]:
    """The comparison table (markdown lines), from the claims' data: each row labelled with its model and set-up,
    next to the reference simulator's number where it ran the same set-up on the same subset, and the papers'
    MNIST numbers for orientation."""
    curves = {}
    for r in rows:
        curves.update((r.get("_data") or {}).get("network", {}))
    if not curves:
        return []
    lines = ["## Network path: like with like", "",
             "Test accuracy (%), mean ± SE over seeds, FCN 784-256-128-10, batch 10, on the Fashion-MNIST subset "
             "of the reference runs (10000 / 2000 images, seed 2025). Each row names its model: 'authors' = P1 Table "
             "8's configuration of the reference simulator (its devices, noise, IO, 512-input tiles, learned output "
             "scale, per-sample pulse trains); 'matched' = the same network with P1's response forms, no device "
             "noise, perfect IO, no output scale; 'P2 config' = the reference simulator's compounds with P2's FCN "
             "hyperparameters (Table 2's cell ref mean 0.3, std 0.3); 'expected update' = P1 eq. 3 on every tile, a "
             "simplification. The reference simulator's column is the like-with-like comparison (IBM aihwkit 1.2.0, "
             "same subset, configuration and epochs); the papers trained on MNIST for 30-40 epochs, so their column "
             "is for orientation only (orderings, not values). Curves: `figures/network_curves.png`.", "",
             "| configuration (model) | ours | epochs | reference simulator, same set-up | paper (MNIST) |",
             "|---|---|---|---|---|"]
    for label, c in curves.items():
        f = np.array(c["final"])
        se = f.std(ddof=1) / math.sqrt(f.size) if f.size > 1 else float("nan")
        ours = f"{100 * f.mean():.2f} ± {100 * se:.2f}" if f.size > 1 else f"{100 * f.mean():.2f} (1 seed)"
        lines.append(f"| {label} | {ours} | {len(c['curve'])} | {_reference_text(label)} | {_paper_text(label)} |")
    return lines + [""]


def draw_curves(rows: list[dict], ax) -> bool:
    curves = {}
    for r in rows:
        curves.update((r.get("_data") or {}).get("network", {}))
    for label, c in curves.items():
        ax.plot(np.arange(1, len(c["curve"]) + 1), c["curve"], "o-", label=label, ms=3)
    return bool(curves)
