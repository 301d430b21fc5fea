"""Negative controls of the network claims 26.* on a small setup (built-in digits, one hidden layer of 64,
3 seeds x 3 epochs on 1000 samples): no claim agrees with both the correct theory and one with every ordering reversed,
and where the correct theory agrees the reversed one must disagree. The Fashion-MNIST numbers are in paper_checks.md
(``aimc-theory check --network``; minutes, not CI)."""
import pytest

from aimc_theory import data
from verification import claims_network as cn
from verification.claim_types import AGREE, DISAGREE
from verification.theory import Theory


def _small():
    # 1000 training samples (half the CPU of 2000): the claims the tests need to hold keep margins of 2.5x their
    # tolerances (RL - ASGD 0.13 > 0.05 and 0.25 > 0.10, digital - RL 0.03 < 0.08, the SP pull 0.93 < 1 - 0.003)
    return data.digits(1000, 500)


# claims on the authors' configurations (their own set-up) and against the reference simulator's Fashion-MNIST
# numbers (meaningless on digits): their verdict logic is tested in test_reproduce_table8.py / test_reproduce_p2.py
AUTHORS_CONFIGURATION = ("26.out-scale", "26.out-scale.tau0.7", "26.out-scale.tau0.8", "26.p2-ordering",
                         "26.matched")
SMALL = cn.Setup(load=_small, hidden=(64,), seeds=(0, 1, 2), epochs=3, digital_epochs=3, fast_epochs=3)


@pytest.fixture(scope="module")
def verdicts():
    saved = cn.SETUP
    cn.SETUP = SMALL
    try:
        # the claims on the authors' configurations (26.out-scale, 26.p2-ordering) run their own set-up, not this
        # small one: their verdict logic is tested in test_reproduce_table8.py / test_reproduce_p2.py
        return {c.id: (c.evaluate(Theory(), True), c.evaluate(Theory(ordering=-1), True)) for c in cn.catalogue()
                if c.id not in AUTHORS_CONFIGURATION}
    finally:
        cn.SETUP = saved


def test_no_network_claim_agrees_with_both_theories(verdicts):
    # a difference within 3 SE of zero disagrees with both (it resolves neither ordering)
    for cid, (good, bad) in verdicts.items():
        assert not (good.verdict == AGREE and bad.verdict == AGREE), (cid, good.explanation)


def test_claims_that_hold_on_the_small_setup_fail_under_the_wrong_theory(verdicts):
    holding = [cid for cid, (good, _) in verdicts.items() if good.verdict == AGREE]
    # RL vs Analog SGD and vs digital (both responses), bias direction
    assert {"26.power.rl-vs-asgd", "26.exponential.rl-vs-asgd", "26.power.rl-vs-digital",
            "26.bias-direction"} <= set(holding), holding
    assert all(verdicts[cid][1].verdict == DISAGREE for cid in holding)


def test_report_section_and_curves(verdicts):
    rows = [{"id": cid, "_data": good.data} for cid, (good, _) in verdicts.items()]
    text = "\n".join(cn.report_section(rows))
    assert "| digital SGD (Glorot init) |" in text and "P1 Table 8" in text
    assert "| expected update, Analog SGD, exponential tau 0.7 |" in text and "< 15, all trials failed" in text
    assert "reference simulator, same set-up" in text


def test_reference_comparisons_are_two_sided_and_discriminating():
    import numpy as np
    ref = cn.REFERENCE["digital"]
    # measured on the subset: digital SGD with torch init (the reference's configuration) and with Glorot init
    torch_init = np.array([[0.6045, 0.688, 0.724], [0.538, 0.738, 0.7305], [0.608, 0.713, 0.764]])
    glorot = np.array([[0.708, 0.7805, 0.8035], [0.7225, 0.7525, 0.798], [0.737, 0.7655, 0.799]])
    good = cn._reference_agreement(torch_init, ref, 3, "x", Theory())
    assert good.verdict == AGREE and good.allowance == cn.HALF_DIGIT
    assert cn._reference_agreement(torch_init, ref, 3, "x", Theory(ordering=-1)).verdict == DISAGREE
    # Glorot init (the wrong configuration) is rejected against the torch-init reference
    bad = cn._reference_agreement(glorot, ref, 3, "x", Theory())
    assert bad.verdict == DISAGREE


def test_findings_cite_recorded_runs_not_typed_numbers():
    # the P2 ordering finding: the budget argument and the weight-mapping sensitivity come from recorded reruns
    assert all(rec.available() for _, rec in cn.P2_RECORDED) and cn.AUTHORS_TABLE8.available()
    budget = cn._p2_budget()
    assert "cannot receive a pulse" in budget and "4.24e-04" in budget
    mapping = cn._p2_mapping()
    assert mapping.count("E-RIDER 10.0 %") == 4 and "omega 0.6" in mapping
    # ... and its sensitivity to the transfer rates and E-RIDER's chopper probability (reproduce p2-table2 --set)
    assert all(rec.available() for _, rec in cn.P2_SENSITIVITY)
    sens = cn._p2_sensitivity()
    assert "in_chop_prob 0.01-0.2 and transfer rates x1-x100 of P2's" in sens and "AGAD 68.5 % at x1" in sens
    for _, rec in cn.P2_SENSITIVITY:          # each file is what its command printed: the options it names ran
        changed = rec.load()["changed_options"]
        for item in rec.command.split("--set ")[1:]:
            key, value = item.split()[0].split("=")
            alg, opt = key.split(".")
            assert changed[alg][opt][1] == float(value)
    # the Table 8 tau 0.7 / 0.8 finding: formatted from the rows' data and the recorded authors'-configuration run
    rows = {f"26.power.rl-vs-asgd{sfx}": {"measured": 0.11, "se": 0.01,
                                          "_data": {"tau": tau, "asgd": 0.72, "digital": 0.80}}
            for sfx, tau in (("", 0.6), (".tau0.7", 0.7), (".tau0.8", 0.8))}
    note = cn._note_table8_lead(rows)
    assert "tau 0.7: RL - ASGD = +0.1100 (+11.0 SE)" in note
    assert "TT-v1 - Analog SGD = -3.8 pp" in note and "does not beat Analog SGD by 3 binomial SE" in note


def test_tau_rows_follow_p1_table8_signs():
    claims = {c.id: c for c in cn.catalogue()}
    for fam in ("power", "exponential"):
        for tau in cn.TAUS:
            cid = f"26.{fam}.rl-vs-asgd" + ("" if tau == 0.6 else f".tau{tau:g}")
            rl, asgd = cn.TABLE8[(fam, tau)]
            finding = asgd is not None and asgd > rl          # P1: ASGD ahead (power, tau 0.7 / 0.8)
            assert (claims[cid].expected_verdict == DISAGREE) == finding, cid
            assert ("does not beat" in claims[cid].statement) == finding
