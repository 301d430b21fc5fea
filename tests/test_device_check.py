"""Check your own device: `check --response ...` runs the single-response claims on it (same problems,
budgets and tolerances), with negative controls, and `aimc_theory.testing` asserts the same from pytest."""
import json

import pytest

from aimc_theory import presets
from aimc_theory.cli import main
from verification import claim_types, mutants
from verification.catalogue import catalogue
from verification.theory import Theory


@pytest.fixture(scope="module")
def ecram():
    return presets.get("ecram").response()


def test_check_a_preset(tmp_path, capsys):
    # on two workers 18 (short) finishes before 17: the rows come back in the catalogue's order, not the order
    # they finished in (5.device and 12.device, 4 s of CPU, run in test_controls_on_a_user_device: the same
    # evaluations)
    code = main(["check", "--fast", "--response", "preset:ecram", "--claims", "4,17,18", "--out", str(tmp_path),
                 "--no-figures", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["all_as_expected"]
    assert [c["id"] for c in out["claims"]] == ["4.device", "17.device", "18.device"]
    report = (tmp_path / "paper_checks.md").read_text()
    assert report.startswith("# Device checks: preset:ecram") and "17.device" in report
    assert "`device` = preset:ecram" in report


def test_check_expressions_from_a_fit(tmp_path, capsys):
    code = main(["check", "--fast", "--q-plus", "1 - 0.1*w", "--q-minus", "1 + 0.6*w", "--range=-0.8,1.2",
                 "--claims", "4,5", "--out", str(tmp_path), "--no-figures", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and {c["verdict"] for c in out["claims"]} == {"agree"}


def test_the_device_is_an_argument_not_a_family_added_to_the_catalogue(tmp_path, capsys, ecram):
    """check --response builds the claims for the device (catalogue(device=...)); the built-in catalogue and
    claim_types.FAMILIES stay as they are, also after the run."""
    families = dict(claim_types.FAMILIES)
    assert main(["check", "--fast", "--response", "preset:ecram", "--claims", "4", "--out", str(tmp_path),
                 "--no-figures", "--workers", "1", "--json"]) == 0
    assert [c["id"] for c in json.loads(capsys.readouterr().out)["claims"]] == ["4.device"]
    assert claim_types.FAMILIES == families and "device" not in {c.family for c in catalogue()}
    ids = [c.id for c in catalogue(device=ecram)]
    assert {c.family for c in catalogue(device=ecram)} == {"device"}
    assert [i.split(".")[0] for i in ids] == ["1", "2", "4", "5", "6", "7", "8", "9", "10", "11", "12", "14", "15",
                                              "16", "17", "18"]


@pytest.mark.parametrize("claim_id", ["4.device", "5.device", "12.device", "17.device", "18.device"])
def test_controls_on_a_user_device(ecram, claim_id):
    """On a user's device too, a claim rejects at least one of its own wrong theories by comparison."""
    (claim,) = [c for c in catalogue(device=ecram) if c.id == claim_id]
    right = claim.evaluate(Theory(), True)
    assert right.verdict == "agree"
    if claim.kind != "claim":
        pytest.skip(f"{claim_id} is an implementation check")
    results = {spec: mutants.classify(right, claim.evaluate(mutants.parse(spec), True)) for spec in claim.controls}
    assert mutants.KILLED in results.values(), results


@pytest.mark.parametrize("args, param", [
    (["--response", "preset:idealized"], "--response"),
    (["--response", "preset:ecram", "--network"], "--network"),
    (["--q-plus", "1 - w", "--q-minus", "1 + w", "--range=-0.4,0.4"], "--response"),
    (["--response", "preset:ecram", "--claims", "13"], "--claims"),
])
def test_device_check_errors(tmp_path, capsys, args, param):
    assert main(["check", "--fast", *args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert param in err and len(err.strip().splitlines()) == 1
