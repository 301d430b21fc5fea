"""The claims catalogue: the correct theory agrees, and for every claim family a deliberately
wrong theory (negative control) makes the check say `disagree`."""
import pytest

from verification import checker
from verification.catalogue import DISAGREE, catalogue, select
from verification.theory import Theory


@pytest.fixture(scope="module")
def rows():
    return {r["id"]: r for r in checker.run(fast=True)}


def test_every_claim_has_its_expected_verdict(rows):
    bad = {k: (r["verdict"], r["expected_verdict"], r["explanation"]) for k, r in rows.items()
           if r["verdict"] != r["expected_verdict"]}
    assert not bad


def test_claims_17_to_23_are_in_the_catalogue(rows):
    assert {str(n) for n in range(17, 24)} <= {k.split(".")[0] for k in rows}
    assert rows["22.thm37"]["expected_verdict"] == DISAGREE   # a finding: see paper_checks.md


def test_claims_1_to_16_for_all_four_families(rows):
    for n in range(1, 17):
        fams = {r["family"] for k, r in rows.items() if k.split(".")[0] == str(n)}
        if n in (3, 13):
            assert fams == {"linear"}
        else:
            assert {"softbounds", "linear", "power", "exponential"} <= fams, n


def test_json_rows_have_the_interface_keys(rows):
    for r in checker.public(list(rows.values())):
        assert {"id", "source", "statement", "theory", "measured", "se", "tolerance", "verdict",
                "expected_verdict"} <= set(r)
        assert r["verdict"] in {"agree", "disagree", "inconclusive"}


# -- negative controls: one wrong theory per claim family -----------------------------------------

NEGATIVE = [
    ("27.ecram", Theory(sp_shift=0.01)),
    ("27.reram-es.rate", Theory(up_down=0.3)),
    ("27.capacitor.rate", Theory(up_down=0.3)),
    ("27.gokmen-vlasov", Theory(up_down=0.01)),
    ("27.fit", Theory(penalty_sign=-1)),
    ("27.ecram.d2d", Theory(own_shapes=False)),
    ("27.reram-es.d2d", Theory(own_shapes=False)),
    ("27.reram-sb.d2d", Theory(own_shapes=False)),
    ("27.capacitor.d2d", Theory(own_shapes=False)),
    ("27.ecram.sgd-d2d", Theory(moment="std")),      # the ECRAM's own slopes barely move its fixed points
    ("27.reram-sb.sgd-d2d", Theory(own_shapes=False)),
    ("27.reram-es.rl-d2d", Theory(sp_shift=0.05)),    # R_P(0) of an exp-step device does not see its bounds
    ("1.softbounds", Theory(penalty_sign=-1)),
    ("1.exponential", Theory(sp_shift=0.2)),
    ("2.power", Theory(penalty_sign=-1)),
    ("3.mean", Theory(sp_shift=0.3)),
    ("3.var", Theory(sp_shift=0.3)),
    ("4.softbounds", Theory(moment="std")),
    ("4.exponential", Theory(penalty_sign=-1)),
    ("5.softbounds", Theory(moment="std")),
    ("5.exponential", Theory(penalty_sign=-1)),
    ("5.linear", Theory(sp_shift=0.2)),
    ("5.nonconvex", Theory(moment="std")),
    ("6.power", Theory(sp_shift=0.2)),
    ("6.softbounds", Theory(moment="std")),
    ("7.softbounds", Theory(moment="std")),
    ("7.exponential", Theory(sp_shift=0.2)),
    ("8.linear", Theory(sp_shift=0.3)),
    ("9.softbounds-c0", Theory(sp_shift=0.3)),
    ("9.power", Theory(penalty_sign=-1)),
    ("10.softbounds", Theory(exact_convergence=True)),
    ("11.linear", Theory(sp_shift=0.2)),
    ("12.softbounds", Theory(moment="std")),
    ("12.power", Theory(sp_shift=0.1)),
    ("12.ls", Theory(penalty_sign=-1)),
    ("13.fig2", Theory(sp_shift=0.2)),
    ("13.faithful", Theory(drift="batch-mean")),
    ("13.drift", Theory(drift="batch-mean")),
    ("13.batch-mean", Theory(drift="per-sample")),
    ("14.exponential", Theory(penalty_sign=-1)),
    ("15.ema", Theory(ema_ratio="naive")),
    ("15.softbounds", Theory(sp_shift=0.2)),
    ("16.linear", Theory(threshold_scale=0.5)),
    ("17.softbounds", Theory(penalty_sign=-1)),
    ("17.bounds", Theory(penalty_sign=-1)),
    ("18.f3", Theory(sp_shift=0.01)),
    ("18.power", Theory(penalty_sign=-1)),
    ("18.variation", Theory(sp_shift=0.01)),
    ("19.cyclic", Theory(sp_shift=0.2)),
    ("20.ema", Theory(ema_ratio="naive")),
    ("21.lemma35", Theory(lemma35_factor=1.0)),
    ("22.softbounds", Theory(sp_shift=0.1)),
    ("22.nonideal-main", Theory(sp_shift=0.1)),
    ("22.ls", Theory(sp_shift=0.1)),
    ("23.reference", Theory(sp_shift=0.2)),
    ("23.main", Theory(sp_shift=0.2)),
    ("24.pulses", Theory(penalty_sign=-1)),
]


@pytest.mark.parametrize("claim_id, wrong", NEGATIVE, ids=[f"{c}-{t.label}" for c, t in NEGATIVE])
def test_negative_control(claim_id, wrong):
    (claim,) = [c for c in catalogue() if c.id == claim_id]
    assert claim.evaluate(wrong, True).verdict == DISAGREE


def test_every_claim_family_has_a_negative_control():
    families = {c.id.split(".")[0] for c in catalogue() if c.expected_verdict != DISAGREE}
    assert families <= {cid.split(".")[0] for cid, _ in NEGATIVE}


def test_printed_eq60_disagrees_but_corrected_form_agrees(rows):
    assert rows["9.eq60-printed"]["verdict"] == DISAGREE
    assert rows["9.softbounds"]["verdict"] == "agree"


def test_select():
    assert [c.id for c in select(["5.power"])] == ["5.power"]
    assert {c.id.split(".")[0] for c in select(["7"])} == {"7"}
    assert select(["nope"]) == []


def test_report_and_figures(tmp_path, rows):
    figs = checker.make_figures(list(rows.values()), tmp_path / "figures")
    checker.write_report(list(rows.values()), tmp_path / "paper_checks.md", True, 1.0, figs)
    text = (tmp_path / "paper_checks.md").read_text()
    assert "## Findings" in text and "9.eq60-printed" in text
    assert len(figs) >= 4 and all((tmp_path / f).exists() for f in figs)
