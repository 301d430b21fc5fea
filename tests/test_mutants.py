"""The mutation battery: wrong theories are parsed, applied and classified; an exception is never a kill."""
import math

import pytest

from aimc_theory.comparison import Comparison, compare
from aimc_theory.errors import InputError
from verification import mutants
from verification.claim_types import FAMILIES
from verification.theory import Theory


def test_every_battery_operator_parses_to_a_wrong_theory():
    for name, theory in mutants.battery().items():
        assert theory != Theory(), name
        assert theory.label != "correct theory", name


@pytest.mark.parametrize("spec", ["nope", "moment=bogus", "drift=sideways", "sp_shift=abc", "sp_shift=nan",
                                  "moment=abs", "small_bias=maybe", "lr_order=1.5"])
def test_bad_specs_are_one_clear_error(spec):
    with pytest.raises(InputError) as e:
        mutants.parse(spec)
    assert e.value.param == "mutate"          # the command line names it --mutate


def test_classify():
    ok = compare(1.0, 1.0001, 1e-4, "x")
    assert mutants.classify(ok, ok) == mutants.NOT_APPLICABLE
    assert mutants.classify(ok, compare(1.5, 1.0001, 1e-4, "y")) == mutants.KILLED
    assert mutants.classify(ok, compare(1.0002, 1.0001, 1e-4, "y")) == mutants.SURVIVED
    raised = Comparison(math.nan, math.nan, math.nan, math.nan, "no prediction", "raised")
    assert mutants.classify(ok, raised) == mutants.NO_PREDICTION


def test_score_counts_claims_only():
    rows = [{"id": "a", "kind": "claim", "expected_verdict": "agree",
             "mutants": {"m1": "killed", "m2": "survived", "m3": "no prediction", "m4": "not applicable"}},
            {"id": "b", "kind": "implementation", "expected_verdict": "agree", "mutants": {"m1": "survived"}},
            {"id": "c", "kind": "claim", "expected_verdict": "disagree", "mutants": {"m1": "survived"}}]
    s = mutants.score(rows)
    assert s["score"] == 0.5 and s["survivors"] == [("a", "m2")]
    assert s["counts"]["no prediction"] == 1


def test_wrong_theories_change_the_predictions_they_name():
    resp = FAMILIES["softbounds"]()
    right = Theory().fixed_point(resp, 1.0, 0.5, 0.3, 0.01)
    assert mutants.parse("small_bias").fixed_point(resp, 1.0, 0.5, 0.3, 0.01).exact == right.small_bias
    assert mutants.parse("exact_convergence").fixed_point(resp, 1.0, 0.5, 0.3, 0.01).exact == 0.5
    assert mutants.parse("variance_factor=0.5").fixed_point(resp, 1.0, 0.5, 0.3, 0.01).variance == \
        pytest.approx(right.variance / 2)
    assert mutants.parse("lr_order=1").fixed_point(resp, 1.0, 0.5, 0.3, 0.01).variance == \
        pytest.approx(right.variance / 0.01)
    # E|g| = sqrt(2/pi) s for Gaussian noise; the wrong moments use s and s^2
    assert Theory().sigma(0.3) == pytest.approx(math.sqrt(2 / math.pi) * 0.3)
    assert mutants.parse("moment=std").sigma(0.3) == pytest.approx(0.3)
    assert mutants.parse("moment=variance").sigma(0.3) == pytest.approx(0.09)


def test_an_exception_of_a_wrong_theory_is_no_prediction_not_disagree():
    from verification.catalogue import catalogue
    (claim,) = [c for c in catalogue() if c.id == "4.linear"]

    def boom(theory, fast):
        raise ValueError("no root")
    from dataclasses import replace
    broken = replace(claim, compare=boom)
    assert broken.evaluate(mutants.parse("moment=std"), True).verdict == "no prediction"
    with pytest.raises(ValueError):
        broken.evaluate(Theory(), True)
