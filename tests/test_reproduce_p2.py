"""`reproduce p2-table2`: P2 (arXiv 2602.21321) Table 2's FCN rows: the --grid grammar and its errors, the stated
configuration as toolkit objects (aihwkit's settings mapped to the compounds' options), aihwkit's auto_scale in the
compounds, and a tiny run's JSON next to P2's numbers."""
from __future__ import annotations

import json

import numpy as np
import pytest

from aimc_theory import device, registry, response, table_p2 as T
from aimc_theory import transfer_compounds as tc
from aimc_theory.cli import main
from aimc_theory.errors import InputError
from aimc_theory.pulse_trains import Rank1Batch

TINY = ["--dataset", "digits", "--train-size", "200", "--test-size", "50", "--epochs", "1"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- --grid --------------------------------------------------------------------------------------------------

def test_grid_parses_cells_of_p2s_grid():
    assert T.parse_grid(None) == [(0.0, 0.05), (0.3, 0.3), (0.4, 1.0)]          # the default
    assert T.parse_grid(" 0.2:0.7, 0:1 ,0.40:0.050") == [(0.2, 0.7), (0.0, 1.0), (0.4, 0.05)]
    assert len(T.parse_grid(",".join(f"{m}:{s}" for m in T.REF_MEANS for s in T.REF_STDS))) == 24


@pytest.mark.parametrize("text", ["", "0.1:0.05", "0:0.5", "0.3", "0:0.05:1", "a:b", "0:0.05,0:0.05", "0:nan",
                                  "0:0.05,"])
def test_bad_grid_names_grid(text):
    with pytest.raises(InputError) as exc:
        T.parse_grid(text)
    assert exc.value.param == "grid" and "MEAN:STD" in str(exc.value)


def test_cli_grid_errors_and_options_of_other_experiments(capsys):
    code, _, err = run(capsys, "reproduce", "p2-table2", "--grid", "0.5:0.2")
    assert code == 2 and "--grid" in err and "0.2, 0.3, 0.4" in err
    code, _, err = run(capsys, "reproduce", "p1-fig2", "--grid", "0:0.05")
    assert code == 2 and "--grid" in err and "does not apply" in err
    code, _, err = run(capsys, "reproduce", "p1-table8", "--grid", "0:0.05")
    assert code == 2 and "--grid" in err
    code, _, err = run(capsys, "reproduce", "p2-table2", "--rows", "pow:1:0.6")
    assert code == 2 and "--rows" in err and "p2-table2" in err


# -- the configuration ---------------------------------------------------------------------------------------

def test_configuration_is_p2s_fcn_column_in_aihwkit_terms():
    e, a, t = (T.configuration(k) for k in ("e-rider-chopped", "agad", "tt-v2"))
    assert e["options"] == {"fast_lr": 0.5, "transfer_lr": 0.05, "in_chop_prob": 0.05, "gamma": 0.1,
                            "auto_granularity": 1000.0, "momentum": 0.0, "transfer_bl": 1, "auto_scale": 1}
    assert (a["options"]["fast_lr"], a["options"]["transfer_lr"], a["options"]["in_chop_prob"],
            a["options"]["auto_scale"]) == (0.05, 0.3, 0.1, 1)
    assert (t["options"]["fast_lr"], t["options"]["transfer_lr"], t["options"]["thres_scale"],
            t["options"]["momentum"], t["options"]["columns_per_transfer"]) == (0.03, 0.01, 0.8, 0.1, 1)
    assert "auto_scale" not in t["options"]              # BufferedTransferCompound has none
    for k in T.ALGORITHMS:                               # every option is the compound's own (else an error)
        registry.with_defaults(k, T.configuration(k)["options"])
    assert e["aihwkit_compound"].startswith("ChoppedTransferCompound") and e["lr"] == 0.05
    assert e["update_desired_bl"] == 5 and e["dw_min"] == pytest.approx(0.4622)
    assert "auto_scale (auto_momentum 0.99)" in e["aihwkit"]
    with pytest.raises(InputError) as exc:
        T.configuration("rider")
    assert exc.value.param == "algorithm"


def test_devices_are_the_hfo2_preset_without_its_own_reference_error():
    A, C, var = T.devices()
    assert A.response.name == C.response.name == "preset:reram-array-hfo2"
    assert A.dw_min == C.dw_min == pytest.approx(0.4622) and A.sigma_c == pytest.approx(0.2174)
    assert A.trains.desired_bl == 5 and C.trains is None
    assert "reference_std" not in var.preset.dtod and var.preset.dtod["dw_min_dtod"] == 0.7125


def test_papers_numbers():
    assert T.paper("tt-v2", 0.3, 0.3) == 69.70 and T.paper("agad", 0.0, 0.05) == 92.59
    assert T.paper("e-rider-chopped", 0.4, 1.0) == 95.14
    assert all(len(v) == len(T.REF_STDS) for rows in T.P2_FCN.values() for v in rows.values())


# -- aihwkit's auto_scale in the compounds ---------------------------------------------------------------------

def test_auto_scale_writes_a_pulse_count_per_sample():
    """lr_b = fast_lr BL dA / (m_x m_d); the first sample sets the running maxima (aihwkit updateAutoScale), the
    next moves them by tau = (1 - 0.99) / B."""
    ideal = device.Device(response.ideal())            # expected update: A moves by exactly -lr_b d x^T
    alg = tc.e_rider_chopped(1.0, ideal, ideal, fast_lr=0.5, transfer_lr=1.0, in_chop_prob=0.0, gamma=0.0,
                             auto_granularity=0.0, granularity=0.1, auto_scale=1)
    C0 = np.zeros((1, 4))
    x1, d1 = np.array([0.5, -0.25]), np.array([2.0, 1.0])
    x2, d2 = np.array([1.0, 0.0]), np.array([0.0, 4.0])
    g = Rank1Batch(np.array([[x1, x2]]), np.array([[d1, d2]]))
    _, st, _ = alg.step(g, alg.init(C0), C0, None)
    tau = 0.01 / 2
    mx, md = (1 - tau) * 0.5 + tau * 1.0, (1 - tau) * 2.0 + tau * 4.0
    lr1, lr2 = 0.5 * 1 * 0.1 / (0.5 * 2.0), 0.5 * 1 * 0.1 / (mx * md)
    expected = -(lr1 * np.outer(d1, x1) + lr2 * np.outer(d2, x2))
    np.testing.assert_allclose(st.A.reshape(2, 2), expected)
    np.testing.assert_allclose(st.scale[:, 0], [mx, md])
    # off: the absolute fast_lr, as before
    off = tc.e_rider_chopped(1.0, ideal, ideal, fast_lr=0.5, transfer_lr=1.0, in_chop_prob=0.0, gamma=0.0,
                             auto_granularity=0.0, granularity=0.1)
    _, st, _ = off.step(g, off.init(C0), C0, None)
    np.testing.assert_allclose(st.A.reshape(2, 2), -0.5 * (np.outer(d1, x1) + np.outer(d2, x2)))


def test_auto_scale_option_is_validated():
    with pytest.raises(InputError) as exc:
        registry.build("agad", 0.1, device.Device(response.ideal()), device.Device(response.ideal()), auto_scale=2)
    assert exc.value.param == "auto_scale"
    assert registry.with_defaults("agad", {})["auto_scale"] == 0        # aihwkit's class default; build_config: 1


# -- runs ------------------------------------------------------------------------------------------------------

KEYS = {"algorithm", "ref_mean", "ref_std", "test_accuracy", "test_accuracy_per_epoch", "seconds_per_epoch",
        "configuration", "paper", "test_accuracy_se"}


def test_tiny_run_gives_the_json_keys_and_p2s_numbers(capsys, tmp_path):
    code, out, err = run(capsys, "reproduce", "p2-table2", *TINY, "--grid", "0.4:1", "--json", "--out", tmp_path)
    assert code == 0, err
    d = json.loads(out)
    assert d["experiment"] == "p2-table2" and d["grid"] == [[0.4, 1.0]] and "likely, not certain" in d["layout_note"]
    assert (d["train_size"], d["test_size"], d["epochs"], d["seeds"]) == (200, 50, 1, 1)
    assert [r["algorithm"] for r in d["rows"]] == ["tt-v2", "agad", "e-rider-chopped"]
    for r in d["rows"]:
        assert KEYS <= set(r) and 0 <= r["test_accuracy"] <= 1 and len(r["test_accuracy_per_epoch"]) == 1
        assert len(r["seconds_per_epoch"]) == 1 and r["seconds_per_epoch"][0] > 0
        assert r["paper"] == T.paper(r["algorithm"], 0.4, 1.0) and (r["ref_mean"], r["ref_std"]) == (0.4, 1.0)
        assert r["configuration"]["options"] == T.OPTIONS[r["algorithm"]]
    assert (tmp_path / "figures" / "p2_table2_digits-200-50.png").is_file()
    args = d["provenance"]["arguments"]                 # the values that ran, defaults filled in
    assert (args["grid"], args["seeds"], args["subset_seed"], args["epochs"]) == ("0.4:1", 1, 2025, 1)


def test_printed_table_shows_p2s_numbers(capsys, tmp_path):
    code, out, err = run(capsys, "reproduce", "p2-table2", *TINY, "--grid", "0:0.05", "--out", tmp_path)
    assert code == 0, err
    assert "P2 Table 2, FCN rows" in out and "90.26" in out and "92.59" in out and "95.45" in out
    assert "likely, not certain" in out and "seconds per epoch" in out


# -- the authors' weight mapping (--weight-scaling-omega) and the pulses that reach C ------------------------------

def test_mapping_is_the_authors_columnwise_omega_with_the_output_scale():
    assert T.mapping(None) is None and T.mapping(0.0) is None
    p = T.mapping(0.3)
    assert p.weight_scaling_omega == 0.3 and p.weight_scaling_columnwise and p.out_scaling
    assert p.forward.is_perfect and not p.max_input_size and not p.weight_scaling_lr_compensation
    assert not T.mapping(0.6, out_scaling=False).out_scaling
    c = T.configuration("agad", p)
    assert c["mapping"] == {"weight_scaling_omega": 0.3, "weight_scaling_columnwise": True, "learn_out_scaling": True,
                            "authors_omega_for_this_compound": 0.6}
    assert "weights mapped to omega 0.3" in c["periphery"] and T.configuration("agad")["mapping"] is None
    assert T.AUTHORS_OMEGA == {"tt-v2": 0.3, "agad": 0.6, "e-rider-chopped": 0.6}
    for bad in (1.0, -0.2, float("nan"), "0.3", True):
        with pytest.raises(InputError) as exc:
            T.mapping(bad)
        assert exc.value.param == "weight_scaling_omega" and "(0, 1)" in str(exc.value)
    with pytest.raises(InputError) as exc:
        T.mapping(None, out_scaling=False)
    assert exc.value.param == "out_scaling"


def test_cli_mapping_errors(capsys):
    code, _, err = run(capsys, "reproduce", "p2-table2", "--weight-scaling-omega", "1.2")
    assert code == 2 and "--weight-scaling-omega" in err and "(0, 1)" in err
    code, _, err = run(capsys, "reproduce", "p2-table2", "--no-out-scaling")
    assert code == 2 and "--no-out-scaling" in err and "--weight-scaling-omega" in err
    code, _, err = run(capsys, "reproduce", "p1-fig2", "--weight-scaling-omega", "0.3")
    assert code == 2 and "--weight-scaling-omega" in err and "does not apply" in err


def test_tiny_mapped_run_is_labelled_and_counts_the_pulses_to_c(capsys, tmp_path):
    code, out, err = run(capsys, "reproduce", "p2-table2", *TINY, "--grid", "0.3:0.3", "--weight-scaling-omega",
                         "0.3", "--json", "--out", tmp_path)
    assert code == 0, err
    d = json.loads(out)
    assert d["mapping"]["weight_scaling_omega"] == 0.3 and d["mapping"]["weight_scaling_columnwise"]
    assert d["mapping"]["out_scaling"] and "weights mapped to omega 0.3" in d["mapping"]["description"]
    for r in d["rows"]:
        assert r["configuration"]["mapping"]["weight_scaling_omega"] == 0.3
        assert len(r["mapping_scale_per_layer"]) == 3 and all(0 < m < 1 for m in r["mapping_scale_per_layer"])
        assert len(r["output_scale_per_epoch"]) == 1
        pulses = r["transfer_pulses_per_epoch"]
        assert len(pulses) == 1 and len(pulses[0]) == 3 and all(p >= 0 for p in pulses[0])
    assert (tmp_path / "figures" / "p2_table2_digits-200-50_omega0.3.png").is_file()
    assert d["provenance"]["arguments"]["weight_scaling_omega"] == 0.3
    code, out, err = run(capsys, "reproduce", "p2-table2", *TINY, "--grid", "0.3:0.3", "--out", tmp_path)
    assert code == 0 and "no IO, weight mapping or output scale" in out and "pulses written to C per weight" in out


def test_pulses_to_c_counts_what_the_compound_wrote():
    """TrainResult.transfer_pulses is the compounds' own count of the pulses sent to C, per weight of each layer."""
    from aimc_theory import data, network
    ds = data.digits(100, 20)
    A, C, _ = T.devices()
    r = network.train(ds, "agad", A, C, epochs=1, lr=0.05, seed=0, hidden=(4,), options=T.OPTIONS["agad"] |
                      {"in_chop_prob": 1.0, "transfer_lr": 50.0})
    # layer 1 (64 columns, 100 samples) has had fewer than AGAD's N = 2 passes: nothing written yet; layer 2 has
    assert len(r.transfer_pulses) == 1 and r.transfer_pulses[0][0] == 0 and r.transfer_pulses[0][1] > 0
    assert network.train(ds, "analog-sgd", A, epochs=1, lr=0.05, seed=0, hidden=(4,)).transfer_pulses == []


# -- sensitivity runs (--algorithms, --set) ----------------------------------------------------------------------

@pytest.mark.parametrize("argv, param", [
    (["--set", "foo.transfer_lr=1"], "--set"), (["--set", "agad"], "--set"), (["--set", "agad.=1"], "--set"),
    (["--set", "e-rider-chopped.transfer_lr=abc"], "--set e-rider-chopped.transfer_lr"),
    (["--set", "tt-v2.columns_per_transfer=0.5"], "--set tt-v2.columns_per_transfer"),
    (["--set", "agad.transfer_lr=1", "--set", "agad.transfer_lr=2"], "--set"),
    (["--set", "agad.transfer_lr=1", "--algorithms", "tt-v2"], "--set"),
    (["--algorithms", "tt-v2,tt-v2"], "--algorithms"), (["--algorithms", "rider"], "--algorithms"),
    (["--set", "e-rider-chopped.in_chop_prob=2"], "--set e-rider-chopped.in_chop_prob"), (["--set", "agad.bogus=1"], "bogus")])
def test_sensitivity_options_are_checked_before_any_run(capsys, tmp_path, argv, param):
    code, out, err = run(capsys, "reproduce", "p2-table2", *TINY, *argv, "--out", tmp_path / "o")
    assert code == 2 and param in err and "Traceback" not in err and not (tmp_path / "o").exists()


def test_a_sensitivity_run_is_labelled(capsys, tmp_path):
    code, out, err = run(capsys, "reproduce", "p2-table2", *TINY, "--grid", "0.3:0.3", "--algorithms",
                         "e-rider-chopped", "--set", "e-rider-chopped.transfer_lr=5", "--json", "--out", tmp_path)
    assert code == 0, err
    d = json.loads(out)
    assert [r["algorithm"] for r in d["rows"]] == ["e-rider-chopped"]
    assert d["changed_options"] == {"e-rider-chopped": {"transfer_lr": [0.05, 5.0]}}
    assert d["rows"][0]["configuration"]["options"]["transfer_lr"] == 5.0
    code, out, err = run(capsys, "reproduce", "p2-table2", *TINY, "--grid", "0.3:0.3", "--algorithms",
                         "e-rider-chopped", "--set", "e-rider-chopped.in_chop_prob=0.2", "--out", tmp_path)
    assert code == 0, err
    assert "SENSITIVITY RUN, not P2's configuration: E-RIDER in_chop_prob 0.05 -> 0.2" in out
