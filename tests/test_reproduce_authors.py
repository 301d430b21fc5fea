"""`reproduce p1-fig2 --instance authors`: the shipped torch instance of arXiv 2502.06309 App. K.2, the
--instance/--problem-seed parameters and the per-cell comparison with the reference simulator's numbers."""
from __future__ import annotations

import json
import math
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from aimc_theory import commands, reproduce as R
from aimc_theory.cli import main
from aimc_theory.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:                                        # pragma: no cover
    import tomli as tomllib


def test_authors_instance_is_shipped_with_the_right_shapes():
    inst = R.authors_instance()
    assert inst["A"].shape == (100, 50) and inst["w_star"].shape == (50,) and inst["b"].shape == (100,)
    assert all(a.dtype == np.float32 and not a.flags.writeable for a in inst.values())
    A, w, b = (inst[k].astype(np.float64) for k in ("A", "w_star", "b"))
    # b is torch's float32 product: b = A W* to float32 rounding (|b| up to ~9, eps32 ~ 1.2e-7)
    assert np.max(np.abs(A @ w - b)) <= 50 * np.finfo(np.float32).eps * np.max(np.abs(b))
    obj = R.fig2_problem(instance="authors")
    assert obj.A.dtype == np.float64 and np.array_equal(obj.A, A) and np.array_equal(obj.b, b)   # values kept
    assert np.allclose(obj.minimizer, w, atol=1e-5)
    assert np.std(A) == pytest.approx(1.0, abs=0.05) and np.std(w) == pytest.approx(0.5, abs=0.15)


def test_the_data_file_is_package_data():
    assert (resources.files("aimc_theory") / "instances" / R.AUTHORS_FILE).is_file()
    with open(Path(__file__).resolve().parents[1] / "pyproject.toml", "rb") as f:
        patterns = tomllib.load(f)["tool"]["setuptools"]["package-data"]["aimc_theory"]
    assert "instances/*.npz" in patterns


def test_numpy_instance_stays_the_default():
    assert np.array_equal(R.fig2_problem().A, R.fig2_problem(13).A)
    assert not np.array_equal(R.fig2_problem(14).A, R.fig2_problem(13).A)
    assert not np.array_equal(R.fig2_problem(instance="authors").A, R.fig2_problem(13).A)
    with pytest.raises(InputError) as exc:
        R.fig2_problem(13, instance="authors")
    assert exc.value.param == "problem_seed"


def test_reproduce_authors_runs_and_names_the_instance(tmp_path):
    res = commands.reproduce(experiment="p1-fig2", instance="authors", steps=3, seeds=2, out=str(tmp_path))
    d = res.data
    assert d["instance"] == "authors" and d["problem_seed"] is None and d["steps"] == 3
    assert res.detail.instance_name.startswith("authors")
    assert "reference" not in d                      # the reference ran 1000 iterations: no comparison at 3
    assert d["figure"].endswith("p1_fig2_aihwkit_authors.png") and (tmp_path / "figures").is_dir()
    d = commands.reproduce(experiment="p1-fig2", problem_seed=14, steps=2, seeds=1, out=str(tmp_path)).data
    assert d["instance"] == "numpy" and d["problem_seed"] == 14


@pytest.mark.parametrize("params, name", [
    (dict(instance="authors", problem_seed=3), "problem_seed"),
    (dict(instance="torch"), "instance"),
    (dict(problem_seed=-1), "problem_seed"),
    (dict(problem_seed=1.5), "problem_seed"),
])
def test_bad_instance_parameters_name_the_parameter(params, name, tmp_path):
    with pytest.raises(InputError) as exc:
        commands.reproduce(experiment="p1-fig2", steps=2, seeds=1, out=str(tmp_path / "o"), **params)
    assert exc.value.param == name
    assert not (tmp_path / "o").exists()             # refused before anything was made
    with pytest.raises(InputError):
        R.p1_fig2(steps=2, seeds=1, **params)


def test_cli_names_both_options_and_help_lists_them(capsys):
    assert main(["reproduce", "p1-fig2", "--instance", "authors", "--problem-seed", "3"]) == 2
    err = capsys.readouterr().err
    assert "--problem-seed" in err and "--instance authors" in err
    with pytest.raises(SystemExit):
        main(["reproduce", "--help"])
    out = capsys.readouterr().out
    assert "--instance" in out and "--problem-seed" in out and "authors" in out


def _result(asgd, tt, std, seeds=5, steps=1000, instance="authors"):
    n = len(R.UP_DOWN)
    return R.Fig2Result(R.UP_DOWN, (0.0,) * n, tuple(asgd), tuple(tt), (std,) * n, (std,) * n, steps, seeds,
                        "aihwkit", 0.0, problem_seed=None if instance == "authors" else 13, instance=instance)


def test_reference_verdicts_by_run_to_run_spread():
    ref = {a: [float(v) for v in R.REFERENCE[a]] for a in R.REFERENCE}
    exact = R.reference_table(_result(ref["analog-sgd"], ref["tiki-taka"], 0.01))
    assert all(row[a]["verdict"] == "within spread" for row in exact for a in ("analog-sgd", "tiki-taka"))
    cell = exact[0]["analog-sgd"]
    # tolerance = k s sqrt(1/n + 1/5) + half a unit of the reference's last printed digit (0.0562 -> 5e-5)
    assert cell["tolerance"] == pytest.approx(R.REFERENCE_K * 0.01 * math.sqrt(1 / 5 + 1 / 5) + 5e-5)
    off = R.reference_table(_result([v + 0.1 for v in ref["analog-sgd"]], ref["tiki-taka"], 0.01))
    assert [row["analog-sgd"]["verdict"] for row in off] == ["outside spread"] * 4
    one = R.reference_table(_result(ref["analog-sgd"], ref["tiki-taka"], 0.0, seeds=1))
    assert one[0]["tiki-taka"]["verdict"] == "no spread (1 seed)"
    assert R.reference_table(_result(ref["analog-sgd"], ref["tiki-taka"], 0.01, instance="numpy")) is None
    assert R.reference_table(_result(ref["analog-sgd"], ref["tiki-taka"], 0.01, steps=999)) is None
    d = json.loads(json.dumps(commands.jsonable(_result(ref["analog-sgd"], ref["tiki-taka"], 0.01).as_dict())))
    assert d["instance"] == "authors" and d["reference"]["k"] == R.REFERENCE_K and len(d["reference"]["rows"]) == 4


def test_half_unit_of_the_printed_reference():
    assert R._half_unit("0.0562") == pytest.approx(5e-5)
    assert R._half_unit("2.5e-5") == pytest.approx(5e-7)
    assert R._half_unit("66.2") == pytest.approx(0.05)
    assert R._half_unit("1.781") == pytest.approx(5e-4)
