"""`reproduce p1-table8`: P1 (arXiv 2502.06309) Table 8's rows, the --rows grammar, the authors' and the matched
configurations as toolkit objects, a tiny run's JSON and the printed table with P1's numbers."""
from __future__ import annotations

import json

import numpy as np
import pytest

from aimc_theory import commands, data, table8 as T
from aimc_theory.cli import main
from aimc_theory.errors import InputError
from aimc_theory.periphery import IO_PRESETS, Periphery
from aimc_theory.variation import Variation

TINY = ["--dataset", "digits", "--train-size", "200", "--test-size", "50", "--epochs", "1"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- --rows --------------------------------------------------------------------------------------------------

def test_rows_parse_the_grid():
    rows = T.parse_rows("pow:1.0:0.6, EXP:0.5:0.7,pow:2:0.8")
    assert [(r.device, r.gamma, r.tau) for r in rows] == [("pow", 1.0, 0.6), ("exp", 0.5, 0.7), ("pow", 2.0, 0.8)]
    assert [r.name for r in T.parse_rows(None)] == ["pow:1:0.6", "pow:0.5:0.6"]       # the default
    assert T.parse_rows("pow:1:0.6")[0].dw_min == pytest.approx(1e-3)                 # 2 tau / 1200


@pytest.mark.parametrize("text, says", [
    ("", "DEVICE:GAMMA:TAU"), ("pow:1.0", "DEVICE:GAMMA:TAU"), ("pow:1:0.6:2", "DEVICE:GAMMA:TAU"),
    ("lin:1:0.6", "pow or exp"), ("pow:x:0.6", "must be numbers"), ("pow:nan:0.6", "not in P1 Table 8"),
    ("pow:3:0.6", "not in P1 Table 8"), ("exp:1:0.9", "TAU one of 0.6, 0.7, 0.8"),
    ("pow:1:0.6,pow:1.0:0.60", "given twice"), ("pow:1:0.6,", "DEVICE:GAMMA:TAU")])
def test_bad_rows_name_rows(text, says):
    with pytest.raises(InputError, match=says) as exc:
        T.parse_rows(text)
    assert exc.value.param == "rows"


def test_bad_rows_on_the_command_line_exit_2_naming_the_flag(capsys, tmp_path):
    code, out, err = run(capsys, "reproduce", "p1-table8", "--rows", "pow:3:0.6", "--out", tmp_path)
    assert code == 2 and out == "" and err.count("\n") == 1 and "--rows" in err and "0.5, 1, 2" in err
    assert not (tmp_path / "figures").exists()              # refused before the output directory is made


def test_the_other_experiments_options_are_refused(capsys, tmp_path):
    for argv, flag in ((["p1-fig2", "--rows", "pow:1:0.6"], "--rows"), (["p1-fig2", "--epochs", "2"], "--epochs"),
                       (["p1-table8", "--steps", "5"], "--steps"), (["p1-table8", "--instance", "authors"],
                                                                   "--instance"),
                       (["p1-table8", "--configuration", "matched", "--no-out-scaling"], "--no-out-scaling"),
                       (["p1-table9"], "EXPERIMENT")):
        code, out, err = run(capsys, "reproduce", *argv, "--out", tmp_path)
        assert code == 2 and flag in err, (argv, err)


def test_paper_table_covers_the_grid():
    assert len(T.PAPER) == len(T.DEVICES) * len(T.GAMMAS) * len(T.TAUS)
    assert T.PAPER[("pow", 1.0, 0.6)] == ("<15", "97.39 ± 0.05")          # P1 Table 8, as printed
    assert T.PAPER[("exp", 0.5, 0.8)] == ("94.00 ± 0.63", "97.16 ± 0.16")


# -- the configurations ----------------------------------------------------------------------------------------

def test_authors_configuration_is_the_documented_objects():
    row = T.Row("pow", 1.0, 0.6)
    a = T.configure("authors", row, "analog-sgd")
    d = a.device
    assert d.response.name == "aihwkit-powstep" and d.dw_min == pytest.approx(1e-3)
    assert d.sigma_c == 0.3 and d.c2c_model == "multiplicative" and d.trains.desired_bl == 31
    assert d.response.granularity == pytest.approx(0.5)                     # update management: dw_min 0.5^gamma
    assert a.variation == Variation.reference(0.3, 0.01) and not a.variation.log_normal
    p = a.periphery
    assert p.out_scaling and (p.forward, p.backward) == IO_PRESETS["aihwkit"] and p.max_input_size == 512
    assert a.init == "torch" and a.lr == a.digital_lr == 0.05 and a.main is None and a.options == {}
    tt = T.configure("authors", row, "tt-v1")
    assert tt.main is tt.device and tt.lr == 0.01 and tt.digital_lr == 0.05          # fast_lr absolute
    assert tt.options == {"gamma": 0.0, "beta": 0.05, "transfer_every": 1, "columns_per_transfer": 1}
    # PowStep is P1 eq. 148 with the pulse 2^-gamma dw_min; matched is eq. 148 itself
    m = T.configure("matched", row, "analog-sgd")
    w = np.linspace(-0.55, 0.55, 7)
    for g in (0.5, 1.0, 2.0):
        ra = T.configure("authors", T.Row("pow", g, 0.6), "analog-sgd").device.response
        rm = T.configure("matched", T.Row("pow", g, 0.6), "analog-sgd").device.response
        np.testing.assert_allclose(2 ** g * ra.q_plus(w), rm.q_plus(w), rtol=1e-12)
        np.testing.assert_allclose(2 ** g * ra.q_minus(w), rm.q_minus(w), rtol=1e-12)
    assert m.device.response.name == "power" and m.device.sigma_c == 0 and m.variation is None
    assert m.periphery == Periphery(max_input_size=512) and m.periphery.io == "perfect"       # the reference's split
    assert m.init == "glorot" and m.device.trains.desired_bl == 31
    assert m.device.dw_min == pytest.approx(1e-3) and m.lr == 0.05


def test_exp_rows_the_stock_expstep_and_eq_149():
    a = T.configure("authors", T.Row("exp", 0.5, 0.6), "tt-v1").device.response
    assert a.name == "aihwkit-expstep" and np.isnan(a.symmetric_point)             # SP at w = 14.4, outside
    m = T.configure("matched", T.Row("exp", 0.5, 0.6), "tt-v1").device.response
    assert m.name == "exponential" and m.symmetric_point == pytest.approx(0.0, abs=1e-12)
    assert T.configure("authors", T.Row("exp", 1.0, 0.7), "analog-sgd").device.dw_min == pytest.approx(1.4 / 1200)


def test_no_out_scaling_is_the_authors_without_the_scale():
    row = T.Row("pow", 1.0, 0.6)
    a, n = T.configure("authors", row, "analog-sgd"), T.configure("authors", row, "analog-sgd", out_scaling=False)
    assert n.name == "authors, no output scale" and not n.periphery.out_scaling
    sa, sn = a.settings(), n.settings()
    assert sn["periphery"] == sa["periphery"] | {"out_scaling": False}
    assert {k: v for k, v in sn.items() if k not in ("periphery", "configuration")} == \
        {k: v for k, v in sa.items() if k not in ("periphery", "configuration")}
    with pytest.raises(InputError) as exc:
        T.configure("matched", row, "analog-sgd", out_scaling=False)
    assert exc.value.param == "no_out_scaling"
    with pytest.raises(InputError) as exc:
        T.configure("mine", row, "analog-sgd")
    assert exc.value.param == "configuration"


# -- runs ------------------------------------------------------------------------------------------------------

KEYS = {"device", "gamma", "tau", "algorithm", "test_accuracy", "test_accuracy_per_epoch", "seconds_per_epoch",
        "configuration", "paper", "paper_failed", "failed", "output_scale_per_epoch", "settings"}


def test_tiny_run_gives_the_json_keys(capsys, tmp_path):
    code, out, err = run(capsys, "reproduce", "p1-table8", *TINY, "--json", "--out", tmp_path)
    d = json.loads(out)
    assert code == 0 and d["experiment"] == "p1-table8" and d["configuration"] == "authors"
    assert (d["train_size"], d["test_size"], d["epochs"], d["seeds"]) == (200, 50, 1, 1)
    assert [(r["device"], r["gamma"], r["tau"], r["algorithm"]) for r in d["rows"]] == [
        ("pow", 1.0, 0.6, "analog-sgd"), ("pow", 1.0, 0.6, "tt-v1"), ("pow", 0.5, 0.6, "analog-sgd"),
        ("pow", 0.5, 0.6, "tt-v1")]
    for r in d["rows"]:
        assert KEYS <= set(r) and 0 <= r["test_accuracy"] <= 1 and len(r["test_accuracy_per_epoch"]) == 1
        assert len(r["seconds_per_epoch"]) == 1 and len(r["output_scale_per_epoch"]) == 1
        assert r["paper"] == T.PAPER[(r["device"], r["gamma"], r["tau"])][T.ALGORITHMS.index(r["algorithm"])]
        assert r["settings"]["periphery"]["out_scaling"] and r["settings"]["init"] == "torch"
    assert d["rows"][0]["paper"] == "<15" and d["rows"][0]["paper_failed"]
    assert (tmp_path / "figures" / "p1_table8_authors.png").is_file()
    args = d["provenance"]["arguments"]                 # the values that ran, defaults filled in
    assert (args["rows"], args["configuration"], args["seeds"], args["subset_seed"]) == \
        ("pow:1.0:0.6,pow:0.5:0.6", "authors", 1, 2025)


def test_matched_run_and_seeds(tmp_path):
    res = commands.reproduce(experiment="p1-table8", rows="exp:0.5:0.6", configuration="matched", dataset="digits",
                             train_size=200, test_size=50, epochs=1, seeds=2, out=str(tmp_path))
    rows = res.data["rows"]
    assert [r["configuration"] for r in rows] == ["matched", "matched"] and rows[0]["seeds"] == [0, 1]
    assert all(r["output_scale_per_epoch"] == [] and len(r["test_accuracy_seeds"]) == 2 for r in rows)
    assert rows[0]["settings"]["periphery"]["io"] == "perfect" and not rows[0]["settings"]["periphery"]["out_scaling"]
    again = T.p1_table8("exp:0.5:0.6", "matched", data.subset(data.digits(), 200, 50), epochs=1, seeds=2,
                        algorithms=("analog-sgd",))
    assert again.rows[0]["test_accuracy_seeds"] == rows[0]["test_accuracy_seeds"]     # seeded: the same bits


def test_printed_table_has_p1s_numbers_and_the_configuration(capsys, tmp_path):
    code, out, err = run(capsys, "reproduce", "p1-table8", *TINY, "--rows", "pow:1.0:0.6,exp:2:0.7",
                         "--no-out-scaling", "--out", tmp_path)
    assert code == 0
    for text in ("<15", "97.39 ± 0.05", "97.72 ± 0.07", "98.17 ± 0.05", "arXiv 2502.06309",
                 "NO learned output scale", "StepLR(15, 0.5)", "1 epoch,", "epoch 4-5"):
        assert text in out, text
    assert "learned scale" not in out                       # no output scale: no trajectory
    assert (tmp_path / "figures" / "p1_table8_authors_no_out_scaling.png").is_file()


# -- claim 26.out-scale (its verdict logic; the Fashion-MNIST run is `aimc-theory check --network`) ---------------

def _fake_runs(monkeypatch, scaled: float, unscaled: float, n: int = 2000):
    from types import SimpleNamespace

    from verification import claims_network as cn
    ds = SimpleNamespace(y_test=np.repeat(np.arange(10), n // 10), n_classes=10, name="fake")
    runs = {True: SimpleNamespace(test_accuracy=scaled, test_curve=[scaled], out_scale=[[1.0, 0.05]]),
            False: SimpleNamespace(test_accuracy=unscaled, test_curve=[unscaled], out_scale=[])}
    monkeypatch.setattr(cn, "_run_out_scale", lambda setup, out_scaling, tau=0.6: (ds, runs[out_scaling]))
    return next(c for c in cn.catalogue() if c.id == "26.out-scale")


@pytest.mark.parametrize("scaled, unscaled, good, reversed_", [
    (0.100, 0.226, "agree", "disagree"),        # the reference simulator's 3-epoch numbers
    (0.100, 0.105, "disagree", "disagree"),     # "the output scale does not matter": no difference, rejected
    (0.226, 0.100, "disagree", "agree"),        # the reverse ordering
    (0.300, 0.600, "disagree", "disagree")])    # both learn: the scaled run is not at chance
def test_out_scale_claim_verdicts(monkeypatch, scaled, unscaled, good, reversed_):
    from verification.theory import Theory
    claim = _fake_runs(monkeypatch, scaled, unscaled)
    assert "ordering=-1" in claim.controls
    assert claim.evaluate(Theory(), False).verdict == good
    assert claim.evaluate(Theory(ordering=-1), False).verdict == reversed_
    out = claim.evaluate(Theory(), False)
    assert out.allowance == 0.0 and out.se == pytest.approx(np.sqrt(unscaled * (1 - unscaled) / 2000
                                                                     + scaled * (1 - scaled) / 2000))


def test_ctrl_c_keeps_the_finished_rows(monkeypatch):
    from aimc_theory import network
    from aimc_theory.simulation import Interrupted
    real, calls = network.train, []

    def train(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kw)
    monkeypatch.setattr(network, "train", train)
    with pytest.raises(Interrupted) as exc:
        T.p1_table8("pow:1:0.6", dataset=data.subset(data.digits(), 100, 20), epochs=1)
    part = exc.value.partial
    assert [r["algorithm"] for r in part.rows] == ["analog-sgd"] and "1 of 2" in part.partial
    assert part.as_dict()["partial"] == part.partial


# -- the authors' StepLR and the optional weight mapping ---------------------------------------------------------

def test_authors_lr_schedule_and_no_mapping_by_default():
    """The authors' script steps StepLR(15, 0.5) per epoch and leaves weight_scaling_omega at 0 (no mapping) for
    Analog SGD and TT-v1; both configurations take the schedule."""
    row = T.Row("pow", 1.0, 0.6)
    for conf in T.CONFIGURATIONS:
        for alg in T.ALGORITHMS:
            c = T.configure(conf, row, alg)
            assert c.lr_schedule == (15, 0.5) and c.train_kwargs()["lr_schedule"] == (15, 0.5)
            assert not c.periphery.mapping and c.settings()["lr_schedule"]["step_size"] == 15
    assert "StepLR(15, 0.5)" in T.describe("authors") and "not modelled" not in T.describe("authors")


def test_mapping_option_is_the_scripts_columnwise_mapping():
    row = T.Row("pow", 1.0, 0.6)
    a = T.configure("authors", row, "tt-v1", weight_scaling_omega=0.3)
    p = a.periphery
    assert p.weight_scaling_omega == 0.3 and p.weight_scaling_columnwise and p.out_scaling and p.max_input_size == 512
    assert a.name == "authors, weight mapping omega 0.3" and a.settings()["periphery"]["weight_scaling_omega"] == 0.3
    assert "weights mapped to +-0.3" in T.describe(a.name) and "learned output scale" in T.describe(a.name)
    n = T.configure("authors", row, "analog-sgd", out_scaling=False, weight_scaling_omega=0.3)
    assert n.name == "authors, no output scale, weight mapping omega 0.3" and "NO learned" in T.describe(n.name)
    m = T.configure("matched", row, "analog-sgd", weight_scaling_omega=0.3)
    assert m.name == "matched, weight mapping omega 0.3" and m.periphery.io == "perfect"
    for bad in (0.6, 0.7, -0.1, float("nan")):
        with pytest.raises(InputError) as exc:
            T.configure("authors", row, "analog-sgd", weight_scaling_omega=bad)
        assert exc.value.param == "weight_scaling_omega"


def test_cli_mapping_run_and_errors(capsys, tmp_path):
    code, _, err = run(capsys, "reproduce", "p1-table8", *TINY, "--rows", "pow:1:0.6", "--weight-scaling-omega",
                       "0.6", "--out", tmp_path)
    assert code == 2 and "--weight-scaling-omega" in err and "(0, 0.6)" in err
    code, out, err = run(capsys, "reproduce", "p1-table8", *TINY, "--rows", "pow:1:0.6", "--weight-scaling-omega",
                         "0.3", "--json", "--out", tmp_path)
    assert code == 0, err
    d = json.loads(out)
    assert d["configuration"] == "authors, weight mapping omega 0.3"
    assert all(r["configuration"] == d["configuration"] and r["settings"]["periphery"]["weight_scaling_columnwise"]
               for r in d["rows"])
    assert (tmp_path / "figures" / "p1_table8_authors_omega0.3.png").is_file()
