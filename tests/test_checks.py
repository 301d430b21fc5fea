"""The claims catalogue: the correct theory agrees, and for every claim its own deliberately wrong
theories (controls) make the check say `disagree` by comparison."""
import pytest

from verification import checker
from verification.catalogue import DISAGREE, catalogue, select


@pytest.fixture(scope="module")
def rows(catalogue_rows):
    """checker.check(fast=True, controls=True) by id (started in the background by conftest.py)."""
    return catalogue_rows


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


# -- controls: every claim names wrong theories it must reject by comparison ------------------------------

def test_every_claim_kills_its_own_controls_by_comparison(rows):
    """Per claim (not per family): at least one control, and every control is killed by comparison (a wrong
    theory that raises gives "no prediction", which does not count)."""
    missing = [k for k, r in rows.items() if r["kind"] == "claim" and r["expected_verdict"] == "agree"
               and not r["controls"]]
    assert not missing, f"claims without a control: {missing}"
    bad = {k: r["control_results"] for k, r in rows.items()
           if any(v != "killed" for v in r.get("control_results", {}).values())}
    assert not bad, f"controls not killed by comparison: {bad}"


def test_controls_are_battery_operators_or_valid_knobs():
    from verification import mutants
    for c in catalogue():
        for spec in c.controls:
            mutants.parse(spec)


def test_every_claim_reports_its_minimum_detectable_deviation(rows):
    for k, r in rows.items():
        if r["kind"] == "claim" and r["expected_verdict"] == "agree" and r["tolerance"] is not None:
            assert r["mde"] is not None and r["mde"] >= r["tolerance"], k
            assert r["allowance_basis"], k


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
    # every figure and note comes from the claims that ran, each once
    assert sorted(figs) == sorted(f"figures/{n}.png" for n in (
        "penalty", "pulse_limit", "trajectory_and_rate", "bias_vs_noise_and_lr", "rl_error_floor", "p1_fig2_models",
        "fig2_least_squares", "sp_calibration", "ema_filter", "rider_tracking"))
    notes = [line.split(":")[0] for line in text.splitlines() if line.startswith("- Claim ")]
    assert notes == [f"- Claim {k}" for k in (2, 5, 10, 13, 17, 18, 19, 24, 27)]
    findings = [r["id"] for r in rows.values() if r["expected_verdict"] == DISAGREE]
    assert all(f"- **{k}**" in text for k in findings)


def test_the_checker_names_no_claim():
    """The report and the figures iterate over the claims (Claim.note, Claim.figure): no claim id in checker.py."""
    import inspect
    import re
    assert not re.findall(r"[\"']\d{1,2}(?:\.[a-z]|[\"'])", inspect.getsource(checker))


def test_a_subset_gets_only_its_own_notes_and_figures(tmp_path, rows):
    sub = [rows[k] for k in ("2.linear", "19.cyclic", "20.ema")]
    figs = checker.make_figures(sub, tmp_path / "figures")
    assert figs == ["figures/pulse_limit.png", "figures/sp_calibration.png", "figures/ema_filter.png"]
    checker.write_report(sub, tmp_path / "paper_checks.md", True, 1.0, figs)
    text = (tmp_path / "paper_checks.md").read_text()
    assert [line.split(":")[0] for line in text.splitlines() if line.startswith("- Claim ")] == [
        "- Claim 2", "- Claim 19"]


def test_figures_drawn_during_the_run_are_those_drawn_after_it(tmp_path):
    """run_checks draws each figure in the claims' workers as soon as the claims that show it have finished
    (filling the run's tail): the same files, bit for bit, as make_figures after the run."""
    ids = ["2.linear", "19.cyclic"]        # two tasks (the workers' path), two figures, ~0.1 s of claims
    run = checker.run_checks(ids, fast=True, workers=2, figures=tmp_path / "during" / "figures")
    after = checker.make_figures(run.rows, tmp_path / "after" / "figures", workers=1)
    assert run.figures == after == ["figures/pulse_limit.png", "figures/sp_calibration.png"]
    assert [r["id"] for r in run.rows] == ids
    for f in after:
        assert (tmp_path / "during" / f).read_bytes() == (tmp_path / "after" / f).read_bytes()


def test_a_figure_may_not_read_a_claim_of_the_run_that_does_not_show_it():
    """It could be drawn before that claim finishes (ShownRows); a claim outside the run reads as missing."""
    rows = checker.ShownRows({"2.linear": {"id": "2.linear"}, "5.linear": {"id": "5.linear"}}, ["2.linear"],
                             ["2.linear", "5.linear"])
    assert rows.get("2.linear") == {"id": "2.linear"} and rows.get("2.power") is None and "2.power" not in rows
    with pytest.raises(LookupError, match="5.linear"):
        rows.get("5.linear")
    with pytest.raises(LookupError, match="5.linear"):
        rows["5.linear"]


def test_ctrl_c_while_drawing_keeps_every_claim_and_no_partial_file(tmp_path, monkeypatch):
    """Ctrl-C after the claims, while the figures are drawn (one worker): ChecksInterrupted with every row; a stopped
    figure's temporary file is removed, the files already there stay."""
    figs = tmp_path / "figures"
    figs.mkdir()
    (figs / "mine.txt").write_text("a user's file")
    (figs / ".penalty.png.x1y2.tmp").write_text("half a figure")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(checker, "make_figures", interrupted)
    with pytest.raises(checker.ChecksInterrupted) as exc:
        checker.run_checks(["2.linear"], fast=True, workers=1, figures=figs)
    assert [r["id"] for r in exc.value.rows] == ["2.linear"] and exc.value.total == 1
    assert sorted(p.name for p in figs.iterdir()) == ["mine.txt"]


def test_an_input_error_in_a_worker_reaches_the_caller_as_itself(monkeypatch):
    # InputError pickled by default rebuilt itself from the joined text and broke the process pool (a
    # BrokenProcessPool traceback instead of the one-line error)
    import pickle

    from aimc_theory.errors import InputError
    from verification.claim_types import Claim

    err = pickle.loads(pickle.dumps(InputError("lr", "must be > 0 (got -1.0)")))
    assert (err.param, err.message, str(err)) == ("lr", "must be > 0 (got -1.0)", "lr: must be > 0 (got -1.0)")

    def fails(self, theory, fast):
        raise InputError("lr", "must be > 0 (got -1.0)")

    monkeypatch.setattr(Claim, "evaluate", fails)       # the workers fork: they see it
    with pytest.raises(InputError, match="must be > 0") as info:
        checker.run_checks(["1.linear", "1.power"], fast=True, workers=2)
    assert info.value.param == "lr"
