"""Results from Python: tables (to_records / to_frame / sweep.read_frame), plots (aimc_theory.plots), and the
main array W of two-array algorithms given as expressions (--main-q-plus/--main-q-minus/--main-range)."""
import json
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from aimc_theory import commands, fit as fitting, plots, response, sweep
from aimc_theory.cli import main
from aimc_theory.commands.results import records
from aimc_theory.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
STUDY = """
[study]
name = "small"
command = "simulate"
[fixed]
steps = 100
chains = 10
[vary]
noise = [0.0, 0.1, 0.3]
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """One small run of every command with a table (about 12 s on one core)."""
    out = tmp_path_factory.mktemp("frames")
    (out / "d.csv").write_text(fitting.synthetic_sweeps(response.softbounds(sp=0.1), 0.01, 0.3, 2, 300, -0.3, 0))
    (out / "s.toml").write_text(STUDY)
    return {
        "simulate": commands.simulate(algorithm="residual-learning", response="softbounds", sp_shift=0.1, steps=600,
                                      chains=40),
        "fixed-point": commands.fixed_point(algorithm="residual-learning", response="softbounds", sp_shift=0.1),
        "derive": commands.derive(response="softbounds", param={"tau": 0.6}),
        "calibrate": commands.calibrate(response="softbounds", param={"sp": 0.1}, dw_min=0.01, pulses=500, chains=20),
        "cost": commands.cost(response="softbounds", param={"sp": 0.1}, dw_min=0.01, steps=100, chains=5),
        "presets": commands.presets(),
        "fit": commands.fit(data=str(out / "d.csv")),
        "train": commands.train(dataset="digits", compare="digital-sgd,analog-sgd", epochs=2, hidden="8",
                                out=str(out)),
        "sweep": sweep.sweep(study=str(out / "s.toml"), out=str(out), executor="inline", no_figures=True),
        "check": commands.check(claims="1.softbounds", fast=True, no_figures=True, out=str(out)),
    }


# -- tables -------------------------------------------------------------------------------------------


def test_every_command_gives_a_table_with_one_set_of_columns(results):
    for name, r in results.items():
        rows = r.to_records()
        assert rows and all(list(row) == list(rows[0]) for row in rows), name
        json.dumps(rows, default=str)                     # plain Python values


def test_tables_hold_the_commands_numbers(results):
    d = results["simulate"].data
    assert results["simulate"].to_records() == [{k: d[k] for k in d}]          # one row: the summary itself
    row, = results["derive"].to_records()
    assert row["symmetric_points[0]"] == results["derive"].data["symmetric_points"][0] == 0.0
    assert row["latex.F"] == results["derive"].data["latex"]["F"]
    claims = results["check"].data["claims"]
    assert [(c["id"], c["verdict"], c["measured"]) for c in results["check"].to_records()] == \
        [(c["id"], c["verdict"], c["measured"]) for c in claims]
    cost = results["cost"]
    assert [(m["method"], m["final_error"], m["steps_band[0]"]) for m in cost.to_records()] == \
        [(k, v["final_error"], v["steps_band"][0]) for k, v in cost.data["methods"].items()]
    assert [p["name"] for p in results["presets"].to_records()] == [p["name"] for p in results["presets"].data["presets"]]


def test_calibrate_table_is_theory_next_to_simulation(results):
    r = results["calibrate"]
    table = {row["quantity"]: row for row in r.to_records()}
    for q in ("final_error", "rms_error", "pulses_to_tolerance"):
        assert (table[q]["theory"], table[q]["simulated"]) == (r.data["theory"][q], r.data["simulated"][q])
    assert table["cycle[1]"]["theory"] == r.data["theory"]["cycle"][1] and table["cycle[1]"]["simulated"] is None
    assert not any(isinstance(v, str) for row in table.values() for v in (row["theory"], row["simulated"]))


def test_train_table_is_one_row_per_run_and_epoch(results):
    r = results["train"]
    rows = r.to_records()
    assert len(rows) == sum(len(run.test_curve) for run in r.detail) == 4
    for run in r.detail:
        mine = [x for x in rows if x["algorithm"] == run.algorithm and x["seed"] == run.seed]
        assert [x["epoch"] for x in mine] == [1, 2]
        assert [x["test_accuracy"] for x in mine] == list(run.test_curve)
        assert [x["train_loss"] for x in mine] == list(run.train_loss)
        assert mine[-1]["test_accuracy"] == run.test_accuracy
    assert records(r.detail) == rows                        # the TrainResults themselves give the same table


def test_fit_table_is_one_row_per_family_best_first(results):
    r = results["fit"]
    rows = r.to_records()
    assert [x["family"] for x in rows] == [f["family"] for f in r.data["families"]]
    assert [x["rank"] for x in rows] == list(range(1, len(rows) + 1))
    assert [x["bic"] for x in rows] == sorted(x["bic"] for x in rows)
    best = r.detail[0]
    own, = best.to_records()                  # the FitResult's own row: the command's, less other families' columns
    assert {k: rows[0][k] for k in own} == own and all(rows[0][k] is None for k in set(rows[0]) - set(own))
    for name, value in best.params.items():
        assert rows[0][f"parameters.{name}"] == value


def test_sweep_table_is_the_csv(results):
    r = results["sweep"]
    rows = r.to_records()
    csv_rows = sweep.read_table(r.data["table"])
    assert list(rows[0]) == list(csv_rows[0])
    assert [(x["point"], x["noise"], x["measured"], x["theory"]) for x in rows] == \
        [(x["point"], x["noise"], x["measured"], x["theory"]) for x in csv_rows]
    assert records(r.detail) == rows


def test_to_frame_has_the_records_columns(results):
    pd = pytest.importorskip("pandas")
    for name, r in results.items():
        df, rows = r.to_frame(), r.to_records()
        assert isinstance(df, pd.DataFrame) and list(df.columns) == list(rows[0]) and len(df) == len(rows), name
    df = sweep.read_frame(results["sweep"].data["table"])
    assert list(df.columns) == list(sweep.read_table(results["sweep"].data["table"])[0])
    assert df["measured"].tolist() == [x["measured"] for x in results["sweep"].to_records()]


def test_without_pandas_to_frame_names_the_extra(results, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)           # import pandas raises ImportError
    for call in (results["simulate"].to_frame, results["fit"].detail[0].to_frame,
                 lambda: sweep.read_frame(results["sweep"].data["table"])):
        with pytest.raises(ImportError, match=r'pip install "aimc-theory\[pandas\]"'):
            call()
    assert results["simulate"].to_records()                  # the table without pandas


def test_the_pandas_extra_is_declared():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["pandas"] == ["pandas>=1.5"]
    assert '".[pandas]"' in (ROOT / "README.md").read_text()


# -- plots ----------------------------------------------------------------------------------------


def _line(ax, label):
    lines = [x for x in ax.get_lines() if x.get_label().startswith(label)]
    assert len(lines) == 1, [x.get_label() for x in ax.get_lines()]
    return lines[0]


def test_simulate_plot_draws_the_trajectory_and_the_theory(results):
    from matplotlib.axes import Axes
    r, fp = results["simulate"], results["fixed-point"]
    ax = r.plot(theory=fp.data["exact"])
    assert isinstance(ax, Axes) and len(ax.get_lines()) == 3
    x, y = _line(ax, "chain mean").get_data()
    assert np.array_equal(y, r.detail.trajectory[:, 0]) and x[-1] == r.arguments["steps"]
    assert _line(ax, "theory").get_ydata()[0] == fp.data["exact"]
    assert _line(ax, "w*").get_ydata()[0] == r.arguments["w_star"]


def test_plot_draws_on_a_given_axes_and_leaves_pyplot_alone(results):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    before = plt.get_fignums()
    ax = Figure().subplots()
    assert results["train"].plot(ax=ax) is ax
    assert isinstance(results["derive"].plot().figure, Figure) and plt.get_fignums() == before


def test_train_plot_is_accuracy_per_epoch_per_run(results):
    r = results["train"]
    ax = r.plot()
    assert len(ax.get_lines()) == len(r.detail) == 2
    for line, run in zip(ax.get_lines(), r.detail):
        assert line.get_label() == run.algorithm and list(line.get_ydata()) == list(run.test_curve)


def test_fit_plot_draws_the_steps_and_the_fitted_responses(results):
    r = results["fit"]
    ax = r.plot()
    assert len(ax.get_lines()) == 4
    s = fitting.read(r.data["data"])
    assert np.array_equal(_line(ax, "measured up").get_xdata(), s.w_up)
    w, q = _line(ax, f"{r.detail[0].family} q+").get_data()
    assert np.array_equal(q, r.detail[0].q_plus_w(w))
    other = r.detail[-1]
    ax = other.plot()                                            # the method: fitted curves only
    assert len(ax.get_lines()) == 2 and _line(ax, f"{other.family} q-")
    with pytest.raises(InputError, match="family"):
        plots.fit(r, family="nope")


def test_calibrate_plot_draws_devices_sp_and_floor(results):
    r = results["calibrate"]
    ax = r.plot()
    assert len(ax.get_lines()) == r.detail.trajectory.shape[1] + 1
    assert _line(ax, "SP").get_ydata()[0] == r.data["symmetric_point"]
    band, = ax.patches                     # SP +- floor: a Rectangle (matplotlib >= 3.9) or a Polygon
    box = band.get_bbox() if hasattr(band, "get_height") else band.get_path().get_extents()
    sp, floor = r.data["symmetric_point"], r.data["theory"]["floor"]
    assert np.allclose([box.y0, box.y1], [sp - floor, sp + floor], rtol=0, atol=1e-15)
    x = ax.get_lines()[0].get_xdata()
    assert x[-1] == r.arguments["pulses"]


def test_sweep_plot_is_measured_and_theory_per_varied_parameter(results):
    r = results["sweep"]
    ax = r.plot()
    assert ax.get_xlabel() == "noise"
    theory = _line(ax, "theory")
    rows = r.to_records()
    assert list(theory.get_xdata()) == sorted({x["noise"] for x in rows})
    assert list(theory.get_ydata()) == [np.mean([x["theory"] for x in rows if x["noise"] == n])
                                        for n in theory.get_xdata()]
    assert len(ax.get_lines()) >= 2                               # theory and the measured points
    ax = plots.sweep(sweep.read_table(r.data["table"]), y="bias")
    assert _line(ax, "bias").get_ydata().size == 3
    with pytest.raises(InputError, match="^x: "):
        plots.sweep(r, x="nope")


def test_derive_plot_draws_F_G_and_the_penalty(results):
    r = results["derive"]
    ax = r.plot()
    w, rc = _line(ax, "R_c").get_data()
    assert w.min() > -0.6 and w.max() < 0.6                       # inside the range (tau = 0.6)
    assert np.allclose(_line(ax, "F").get_ydata(), r.detail.F_fn(w))
    assert rc.min() >= -1e-12 and abs(rc[np.argmin(np.abs(w))]) < 1e-5       # R_c >= 0, zero at the SP 0


def test_commands_without_a_plot_say_so(results):
    with pytest.raises(InputError, match="^command: must be one of simulate"):
        results["cost"].plot()


# -- the main array W as expressions -------------------------------------------------------------


def _json(capsys, *args):
    code = main([*args, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return {k: v for k, v in json.loads(out.out).items() if k not in ("seconds", "provenance")}


RUN = ("--response", "softbounds", "--sp-shift", "0.1", "--steps", "400", "--chains", "30", "--seed", "5")


@pytest.mark.parametrize("algorithm", ["residual-learning", "rider"])
@pytest.mark.parametrize("family, expressions", [
    (["--main-response", "softbounds"], ["--main-q-plus", "1 - w", "--main-q-minus", "1 + w", "--main-range=-1,1"]),
    (["--main-response", "softbounds", "--main-param", "tau=0.5"],
     ["--main-q-plus", "1 - w/t", "--main-q-minus", "1 + w/t", "--main-param", "t=0.5"]),
])
def test_main_array_as_expressions_equals_the_family_bit_for_bit(capsys, algorithm, family, expressions):
    as_family = _json(capsys, "simulate", "--algorithm", algorithm, *RUN, *family)
    as_expressions = _json(capsys, "simulate", "--algorithm", algorithm, *RUN, *expressions)
    assert as_expressions == as_family
    ideal = _json(capsys, "simulate", "--algorithm", algorithm, *RUN)
    assert ideal["mean"] != as_family["mean"]                     # the main array's response matters here


def test_main_expressions_in_python_equal_the_family():
    kw = dict(algorithm="residual-learning", response="softbounds", steps=300, chains=20, seed=3)
    a = commands.simulate(main_q_plus="1 - 2*w", main_q_minus="1 + 2*w", main_range="-0.5,0.5", **kw)
    b = commands.simulate(main_response="softbounds", main_param={"tau": 0.5}, **kw)
    assert a.detail.final_weights.tobytes() == b.detail.final_weights.tobytes()
    assert a.arguments["main_q_plus"] == "1 - 2*w" and a.arguments["main_response"] == "ideal"


def test_fixed_point_with_main_expressions(capsys):
    # residual learning's theory needs an ideal main array: q+ = q- = 1 as expressions gives it ...
    ideal = _json(capsys, "fixed-point", "--algorithm", "residual-learning", "--response", "softbounds",
                  "--sp-shift", "0.1")
    assert _json(capsys, "fixed-point", "--algorithm", "residual-learning", "--response", "softbounds",
                 "--sp-shift", "0.1", "--main-q-plus", "1", "--main-q-minus", "1") == ideal
    # ... a non-ideal one is refused with the reason, not a wrong number
    code = main(["fixed-point", "--algorithm", "residual-learning", "--response", "softbounds", "--main-q-plus",
                 "1 - w", "--main-q-minus", "1 + w", "--main-range=-1,1", "--json"])
    err = capsys.readouterr().err
    assert code == 2 and "ideal main array" in err and "simulate" in err
    # RIDER's theory takes the main array's response: expressions and family give the same fixed point
    rider = ("fixed-point", "--algorithm", "rider", "--response", "softbounds", "--sp-shift", "0.1")
    assert _json(capsys, *rider, "--main-q-plus", "1 - (w - 0.2)/0.5", "--main-q-minus", "1 + (w - 0.2)/0.5",
                 "--main-range=-0.3,0.7")["exact"] == \
        pytest.approx(_json(capsys, *rider, "--main-response", "softbounds", "--main-param", "tau=0.5",
                            "--main-param", "sp=0.2")["exact"], abs=1e-12)


@pytest.mark.parametrize("argv, flag", [
    (["--main-q-plus", "1 - w"], "--main-q-minus"),
    (["--main-q-minus", "1 + w"], "--main-q-plus"),
    (["--main-response", "softbounds", "--main-q-plus", "1 - w", "--main-q-minus", "1 + w"], "--main-response"),
    (["--main-range=-1,1"], "--main-range"),
    (["--main-q-plus", "1 - w", "--main-q-minus", "1 + w", "--main-range", "1"], "--main-range"),
    (["--main-q-plus", "1 - w*", "--main-q-minus", "1 + w"], "--main-q-plus"),
    (["--main-q-plus", "1 - w", "--main-q-minus", "1 + w", "--main-range=-2,2"], "--main-q-plus"),
    (["--main-q-plus", "1 - w", "--main-q-minus", "1 + w", "--main-param", "zz=1"], "--main-param zz"),
    (["--algorithm", "analog-sgd", "--main-q-plus", "1 - w", "--main-q-minus", "1 + w"], "--main-q-plus"),
    (["--algorithm", "digital-sgd", "--main-range=-1,1"], "--main-range"),
])
def test_main_expression_errors_name_the_main_flags(capsys, argv, flag):
    args = argv if "--algorithm" in argv else ["--algorithm", "residual-learning", *argv]
    code = main(["simulate", *args, "--steps", "10", "--chains", "2", "--json"])
    out = capsys.readouterr()
    assert code == 2 and out.out == "" and out.err.count("\n") == 1 and f"{flag}:" in out.err, out.err


def test_main_expressions_apply_to_the_two_array_commands():
    from aimc_theory.parameters import parameters
    for command in ("fixed-point", "simulate", "train", "cost"):
        assert {"main_q_plus", "main_q_minus", "main_range"} <= set(parameters(command))
    for command in ("derive", "calibrate", "presets", "fit"):
        assert not {"main_q_plus", "main_q_minus", "main_range"} & set(parameters(command))
