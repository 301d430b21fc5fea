"""The command line contract in docs/cli.md."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from aimc_theory.cli import main


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_derive_power_json(capsys):
    # gamma 2: the closed forms at the values in under a second (gamma 0.5's sqrt integral takes ~3.6 s on an idle
    # core and minutes under load; its closed form is asserted once, in test_symbolic's fixture, without a time
    # budget); the forms in the parameters tau and gamma take ~5 s more: SymPy's integrators give up on R(w; tau,
    # gamma) with its symbolic exponent (in_parameters notes it)
    code, out, err = run(capsys, "derive", "--response", "power", "-p", "tau=0.6", "-p", "gamma=2", "--json",
                         "--time-budget", "600")
    assert code == 0
    data = json.loads(out)
    assert data["symmetric_points"] == [0.0]
    assert data["penalty_curvature"] == pytest.approx(2 / 0.6)
    assert data["penalty_closed_form"] is True
    assert "w**2" in data["F"].replace(" ", "") and set(data["latex"]) == {"F", "G", "R", "penalty"}


def test_derive_expressions(capsys):
    code, out, _ = run(capsys, "derive", "--q-plus", "1 - w/2", "--q-minus", "1 + w/2", "--range=-2,2", "--json")
    assert code == 0 and json.loads(out)["penalty"] == "w**2/4"


def test_a_range_that_starts_with_minus_says_how_to_write_it(capsys):
    # argparse reads "-2,2" as an option: the one error line says the form that works
    code, out, err = run(capsys, "derive", "--q-plus", "1 - w/2", "--q-minus", "1 + w/2", "--range", "-2,2")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == ["aimc-theory: error: usage: argument --range: expected one argument (a value "
                                        "that starts with '-' is written --range=VALUE, as in --range=-1,1)"]


@pytest.mark.parametrize("budget", [[], ["--time-budget", "0.5"]])
@pytest.mark.parametrize("q_plus, q_minus, q_plus_value, offset", [
    # found by the CLI fuzzing: the Risch integrator raised PolynomialError (not a ValueError) through derive
    ("exp(exp(1))", "(exp(w)+exp(0.5))", math.exp(math.e), math.exp(0.5)),
    ("3", "exp(w)+exp(0.5)", 3.0, math.exp(0.5)),
    ("exp(2)", "exp(w)+1", math.exp(2), 1.0),
    ("exp(exp(1))", "exp(w)", math.exp(math.e), 0.0),
])
def test_derive_sympy_give_up_falls_back_to_quadrature(capsys, q_plus, q_minus, q_plus_value, offset, budget):
    code, out, err = run(capsys, "derive", "--q-plus", q_plus, "--q-minus", q_minus, *budget, "--json")
    assert code == 0 and err == "", err
    data = json.loads(out)
    # q+ = c, q- = e^w + offset: the SP solves e^w = c - offset, and R'(SP) = G'/F = e^SP / (2c)
    sp_value = math.log(q_plus_value - offset)
    assert data["symmetric_points"] == [pytest.approx(sp_value, rel=1e-12)]
    assert data["penalty_curvature"] == pytest.approx((q_plus_value - offset) / (2 * q_plus_value), rel=1e-9)
    if not data["penalty_closed_form"]:      # the unevaluated integral, and the notes say why (SymPy gave up, or
        # under --time-budget on a loaded machine it did not finish in time)
        assert data["penalty"].startswith("Integral(")
        assert any("gave up" in n or "timed out" in n for n in data["notes"]), data["notes"]
    assert len(set(data["notes"])) == len(data["notes"]), data["notes"]        # each note once


def test_fixed_point_keys(capsys):
    code, out, _ = run(capsys, "fixed-point", "--algorithm", "analog-sgd", "--response", "softbounds",
                       "-p", "sp=-0.2", "--L", "1", "--w-star", "0.5", "--noise", "0.3", "--lr", "0.01", "--json")
    data = json.loads(out)
    assert code == 0 and {"exact", "small_bias", "contraction", "variance"} <= set(data)
    assert data["exact"] == pytest.approx(0.35210, abs=1e-5)
    code, out, _ = run(capsys, "fixed-point", "--algorithm", "digital-sgd", "--json")
    assert code == 0 and json.loads(out)["exact"] == 0.5


def test_simulate_keys_and_reproducible(capsys):
    args = ["simulate", "--algorithm", "analog-sgd", "--response", "linear", "-p", "c=0.2", "--steps", "400",
            "--chains", "100", "--seed", "3", "--json"]
    code, out1, _ = run(capsys, *args)
    code2, out2, _ = run(capsys, *args)
    a, b = json.loads(out1), json.loads(out2)
    assert code == code2 == 0 and {"mean", "se", "final", "seconds"} <= set(a)
    assert a["mean"] == b["mean"] and a["final"] == b["final"]
    code, out, _ = run(capsys, "simulate", "--pulses", "--dw-min", "1e-3", "--steps", "100", "--chains", "10", "--json")
    assert code == 0 and "mean" in json.loads(out)


@pytest.mark.parametrize("args, param", [
    (["derive", "--response", "power", "-p", "tau=-1"], "tau"),
    (["derive", "--response", "softbounds", "-p", "zeta=1"], "zeta"),
    (["derive", "--q-plus", "__import__('os').system('id')", "--q-minus", "1"], "--q-plus"),
    (["simulate", "--lr", "50", "--steps", "10"], "lr"),
    (["simulate", "--algorithm", "bogus"], "--algorithm"),
    (["fixed-point", "--noise", "nan"], "noise"),
    (["simulate", "--pulses"], "--dw-min"),
    (["simulate", "--steps", "0"], "steps"),
    (["check", "--claims", "99"], "--claims"),
    (["derive", "--q-plus", "1-w", "--q-minus", "2-w/2", "--range=-0.5,0.5"], "response"),
])
def test_bad_input_exit_2_one_line(capsys, args, param):
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and param in err


@pytest.mark.parametrize("args, param", [
    (["check", "--claims", "99"], "--claims"),
    (["check", "--mutate", "bogus"], "--mutate"),
    (["train", "--hidden", "x"], "--hidden"),
    (["train", "--compare", "bogus"], "--compare"),
    (["train", "--dataset", "digits", "--weight-scaling-omega", "0.7", "--response", "power", "-p", "tau=0.6"],
     "--weight-scaling-omega"),
    (["reproduce", "p1-table8", "--dataset", "digits", "--train-size", "99999"], "--train-size"),
    (["reproduce", "p2-table2", "--dataset", "/nonexistent"], "--dataset"),
    (["sweep", "examples/bias_vs_noise.toml", "--scheduler", "local", "--point-timeout", "5"], "--point-timeout"),
])
def test_bad_input_leaves_no_output_directory(tmp_path, capsys, monkeypatch, args, param):
    """The output directory is made once the other inputs are checked: a bad one is one error line and nothing on
    disk (these eight made an empty --out directory before; reproduce checks its data set as its run starts, so
    it makes the directory when it draws)."""
    from pathlib import Path
    monkeypatch.chdir(Path(__file__).resolve().parents[1])     # the example study's relative path
    out = tmp_path / "o"
    code, _, err = run(capsys, *args, "--out", str(out))
    assert code == 2 and param in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_check_subset_writes_report(tmp_path, capsys):
    # in this process (a fresh interpreter's start-up is not what this tests: test_same_seed_same_bits... runs one)
    code, out, err = run(capsys, "check", "--claims", "1,4", "--fast", "--json", "--out", str(tmp_path))
    assert code == 0, err
    data = json.loads(out)
    assert {c["id"].split(".")[0] for c in data["claims"]} == {"1", "4"}
    assert (tmp_path / "paper_checks.md").exists() and (tmp_path / "figures" / "penalty.png").exists()
    assert "[1/" in err     # a progress line per claim


def test_ci_runs_the_readme_test_command():
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    blocks = [b.split("```", 1)[0].strip() for b in (root / "README.md").read_text().split("```bash\n")[1:3]]
    assert blocks[0].endswith("aimc-theory check --fast")
    assert blocks[1] in (root / ".ci" / "run").read_text().splitlines()


def test_residual_learning_commands(capsys):
    code, out, _ = run(capsys, "fixed-point", "--algorithm", "residual-learning", "--response", "softbounds",
                       "--sp-shift", "0.1", "--json")
    assert code == 0 and json.loads(out)["exact"] == pytest.approx(0.5 + 0.02401, abs=1e-4)
    for alg in ("residual-learning", "residual-learning-v2"):
        code, out, _ = run(capsys, "simulate", "--algorithm", alg, "--response", "softbounds", "--main-response",
                           "softbounds", "--main-param", "sp=-0.2", "--read-noise", "0.01", "--steps", "300",
                           "--chains", "20", "--json")
        assert code == 0 and {"mean", "se", "final", "seconds"} <= set(json.loads(out))
    code, _, err = run(capsys, "simulate", "--algorithm", "residual-learning", "--main-response", "nope")
    assert code == 2 and "--main-response" in err


def test_worked_example_runs_and_agrees(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("worked_example", Path(__file__).parents[1] / "examples" / "worked_example.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--out", str(tmp_path)]) == 0
    assert (tmp_path / "worked_example.png").exists()


def _strip(d):
    return {k: v for k, v in d.items() if k not in ("seconds", "provenance")}


def test_same_seed_same_bits_across_processes_and_workers(capsys, tmp_path):
    """simulate in this process and in a fresh interpreter give identical numbers; check with 1 and 2
    workers gives identical measurements."""
    args = ["simulate", "--algorithm", "residual-learning", "--response", "power", "-p", "gamma=0.5",
            "--steps", "300", "--chains", "50", "--seed", "7", "--json"]
    _, out, _ = run(capsys, *args)
    here = json.loads(out)
    there = json.loads(subprocess.run([sys.executable, "-m", "aimc_theory.cli", *args], capture_output=True,
                                      text=True, check=True).stdout)
    assert _strip(here) == _strip(there)
    rows = []
    for workers in ("1", "2"):
        _, out, _ = run(capsys, "check", "--fast", "--claims", "1.softbounds,17.f3", "--workers", workers,
                        "--no-figures", "--out", str(tmp_path / f"w{workers}"),
                        "--json")
        rows.append([(r["id"], r["measured"], r["se"]) for r in json.loads(out)["claims"]])
    assert rows[0] == rows[1]


def test_json_carries_provenance_and_no_nan(capsys):
    code, out, _ = run(capsys, "simulate", "--chains", "1", "--steps", "50", "--seed", "3", "--json")
    assert code == 0 and "NaN" not in out
    data = json.loads(out)
    assert data["se"] is None and "se" in data["null_reasons"]
    prov = data["provenance"]
    assert prov["seed"] == 3 and prov["update_model"] == "expected update" and prov["version"]
    assert prov["arguments"]["chains"] == 1


@pytest.mark.parametrize("argv, param", [
    (["simulate", "--chains", "1000000000"], "chains"),
    (["simulate", "--max-bl", "3"], "--max-bl"),
    (["simulate", "--algorithm", "digital-sgd", "-p", "bogus=1"], "-p"),
    (["fixed-point", "--algorithm", "analog-sgd", "--main-response", "power"], "--main-response"),
    (["fixed-point", "--lr", "5"], "lr"),
    (["derive", "--response", "exponential", "-p", "gamma=800"], "gamma"),
    (["fixed-point", "--noise", "1e200"], "noise"),
    (["simulate", "--noise", "1e-320"], "noise"),
    (["derive", "--q-plus", "erf(w)**0 + 1/0", "--q-minus", "1"], "--q-plus"),
])
def test_bad_input_exits_2_naming_the_parameter(capsys, argv, param):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 2 and out == "" and err.count("\n") == 1 and param in err


def test_version_and_every_option_documented():
    import argparse
    from aimc_theory.cli import _all_actions, build_parser
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    for action in _all_actions(build_parser()):
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction, argparse._VersionAction)):
            continue
        assert action.help, action.option_strings
        d = action.default
        if not (d is None or d is False or d is argparse.SUPPRESS or d == []):
            assert "default" in action.help, (action.option_strings, action.help)


def test_check_prints_the_time_since_the_command_started(capsys, tmp_path):
    # the printed time is what the user waited: from main's entry when called from Python, from the process's start
    # (the interpreter and the imports included) for the executable; "and figures" only where figures were drawn
    def times(line):
        assert line.startswith("1 claim and 0 implementation checks in "), line
        return float(line.split(" in ")[1].split(" s since")[0]), float(line.split("(the claims: ")[1].split(" s)")[0])

    argv = ["check", "--fast", "--claims", "1.softbounds", "--no-figures", "--out"]
    code, out, _ = run(capsys, *argv, str(tmp_path / "a"))
    total, claims = times(out.strip().splitlines()[-1])
    assert code == 0 and claims <= total < claims + 10 and "figures" not in out.strip().splitlines()[-1]
    if sys.platform.startswith("linux"):       # the process's start time comes from /proc
        code = ("import sys, time; time.sleep(0.5); from aimc_theory.cli import main; "
                f"sys.argv = ['aimc-theory', *{argv + [str(tmp_path / 'b')]!r}]; sys.exit(main())")
        line = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        total, claims = times(line.strip().splitlines()[-1])
        assert total >= claims + 0.5


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the process's start time comes from /proc")
def test_process_seconds_counts_from_the_start_of_the_process():
    out = subprocess.run([sys.executable, "-c", "import time; time.sleep(0.3); from aimc_theory.runtime import "
                          "process_seconds; print(process_seconds())"], capture_output=True, text=True, check=True)
    assert 0.3 <= float(out.stdout) < 60
