"""aimc-theory cost: what SP handling costs on a device (arXiv 2602.21321 Cor. 3.9, P2 Fig. 4's accounting)."""
import json
import os
import re

import numpy as np
import pytest

from aimc_theory import commands, cost, response
from aimc_theory.cli import main
from aimc_theory.errors import InputError

# a softbounds device with its SP at 0.1 (claim 24's), small budgets: E-RIDER reaches 0.01 in ~7500 steps
DEVICE = {"response": "softbounds", "param": {"sp": 0.1}}
SMALL = {"chains": 100, "steps": 10000, "methods": "calibrate-then-rl,e-rider"}


@pytest.fixture(scope="module")
def runs():
    return {dw: commands.call("cost", {**DEVICE, **SMALL, "dw_min": dw}) for dw in (1e-3, 1e-4)}


def test_calibration_stage_follows_the_theory_count(runs):
    """The simulated cyclic zero-shifting count is the symbolic theory's (exact for this affine device) within
    one pulse at both pulse sizes; a theory with another contraction or tolerance rule misses by hundreds."""
    for dw, r in runs.items():
        c = r.data["calibration"]
        assert c["theory_basis"].endswith("exact for this affine response")
        assert abs(c["pulses"] - c["theory_pulses"]) <= 1, (dw, c)
        assert abs(c["reference_error"]) <= c["tolerance"]          # the reference RL reads P against
    ratio = runs[1e-4].data["calibration"]["pulses"] / runs[1e-3].data["calibration"]["pulses"]
    assert 9.5 < ratio < 10.5                                        # ~ 1/dw_min (Cor. 3.9's dw_min^-1 term)


def test_two_stage_total_grows_as_dw_min_falls_and_e_rider_does_not(runs):
    two = {dw: r.data["methods"]["calibrate-then-rl"] for dw, r in runs.items()}
    e = {dw: r.data["methods"]["e-rider"] for dw, r in runs.items()}
    assert all(m["reached"] for m in (*two.values(), *e.values()))
    grow = two[1e-4]["total_pulses"] - two[1e-3]["total_pulses"]
    stage = two[1e-4]["stage_pulses"] - two[1e-3]["stage_pulses"]
    assert stage > 10000 and grow > 0.5 * stage                      # the calibration stage dominates the growth
    assert e[1e-4]["total_pulses"] == e[1e-3]["total_pulses"]        # no calibration, training independent of dw
    assert e[1e-3]["stage_pulses"] == 0
    for m in (*two.values(), *e.values()):                           # the accounting: stage + steps x 2 x BL
        assert m["total_pulses"] == m["stage_pulses"] + m["steps"] * 2 * 5
        assert m["theory"] == "simulated; no theory (P2 Cor. 3.9 gives orders only)"
        lo, hi = m["steps_band"]
        assert lo is not None and lo <= m["steps"] and (hi is None or hi >= m["steps"])


def test_json_has_the_documented_keys(runs):
    d = runs[1e-3].to_json()
    for key in ("device", "symmetric_point", "dw_min", "target", "ref_tolerance", "bl", "steps", "chains",
                "methods", "calibration", "cheapest", "crossover_dw_min", "accounting", "seconds", "provenance"):
        assert key in d, key
    assert set(d["methods"]) == {"calibrate-then-rl", "e-rider"}
    assert set(d["methods"]["e-rider"]) == {"stage_pulses", "steps", "steps_band", "total_pulses", "reached",
                                            "final_error", "seconds", "theory"}
    for key in ("start", "symmetric_point", "tolerance", "pulses", "theory_pulses", "theory_basis", "difference",
                "budget", "estimate", "reference", "reference_error", "seconds"):
        assert key in d["calibration"], key
    assert d["ref_tolerance"] == 0.02 and d["provenance"]["arguments"]["ref_tolerance"] == 0.02
    assert json.loads(json.dumps(d, allow_nan=False)) == d


def test_rider_from_an_uncalibrated_reference_is_reported_not_reached(capsys):
    code = main(["cost", "--response", "softbounds", "-p", "sp=0.1", "--dw-min", "1e-3", "--methods", "rider",
                 "--chains", "20", "--steps", "2000"])
    out = capsys.readouterr().out
    assert code == 0 and "not reached" in out and "no method reached" in out
    assert "no theory (P2 Cor. 3.9 gives orders only)" in out


@pytest.mark.parametrize("params, name", [
    ({"target": -1.0}, "target"),
    ({"dw_min": None}, "dw_min"),
    ({"methods": "rider,sgd"}, "methods"),
    ({"ref_tolerance": 1e-4}, "ref_tolerance"),             # below one pulse at the SP: never settles
    ({"target": 1e-4}, "ref_tolerance"),                    # its default 2 x target, too
    ({"q0": 2.0}, "q0"),                                    # outside P's range (-0.9, 1.1)
    ({"bl": 0}, "bl"),
    ({"chains": 10**6, "steps": 10**9}, "steps"),           # refused up front with the estimated time
    ({"param": {"sp": 0.1, "bogus": 1.0}}, "bogus"),
])
def test_bad_input_names_the_parameter(params, name):
    with pytest.raises(InputError) as exc:
        commands.call("cost", {**DEVICE, "dw_min": 1e-3, **params})
    assert name in exc.value.param, (exc.value.param, str(exc.value))


def test_a_device_without_an_sp_is_refused():
    with pytest.raises(InputError) as exc:
        commands.call("cost", {"response": "ideal", "dw_min": 1e-3})
    assert exc.value.param == "response"
    with pytest.raises(InputError) as exc:
        cost.pulse_cost(response.softbounds(sp=0.1), 0.0)
    assert exc.value.param == "dw_min"
    with pytest.raises(InputError) as exc:
        cost.pulse_cost(response.softbounds(sp=0.1), 1e-3, methods=("sgd",))
    assert exc.value.param == "methods"


def test_ctrl_c_keeps_the_finished_methods(monkeypatch):
    from aimc_theory import simulation
    real, calls = simulation.simulate, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(simulation, "simulate", interrupted)
    with pytest.raises(cost.CostInterrupted) as exc:
        cost.pulse_cost(response.softbounds(sp=0.1), 1e-3, chains=10, steps=300, methods=("rider", "e-rider"))
    assert list(exc.value.partial.methods) == ["rider"] and "rider" in str(exc.value)
    assert isinstance(exc.value, KeyboardInterrupt)


def test_steps_to_target_is_the_first_record_after_which_it_stays():
    traj = np.array([0.0, 0.3, 0.495, 0.52, 0.499, 0.501, 0.5])
    assert cost.steps_to_target(traj, 0.5, 0.01, 10) == 40.0
    assert cost.steps_to_target(traj, 0.5, 0.05, 10) == 20.0
    assert cost.steps_to_target(traj[:4], 0.5, 0.01, 10) is None
    assert cost.steps_to_target(np.full(3, 0.5), 0.5, 0.01, 10) == 0.0


def test_every_option_survives_hostile_values():
    """Options drawn from cost's parameter table, hostile or not, on a small run: exit 0 with strict JSON, or
    exit 2 with one line naming the parameter (the rules of tests/fuzz_cli.py)."""
    from hypothesis import HealthCheck, Phase, given, settings, strategies as st

    import fuzz_cli
    from aimc_theory.parameters import parameters
    base = ["cost", "--response", "softbounds", "-p", "sp=0.1", "--dw-min", "0.01", "--steps", "200", "--chains",
            "5"]
    options = [p for p in parameters("cost").values() if not p.positional]

    @st.composite
    def argv(draw):
        args = list(base)
        for p in draw(st.lists(st.sampled_from(options), min_size=1, max_size=3, unique_by=lambda p: p.name)):
            args += fuzz_cli._value(draw, p)
        return args + ["--json"]

    from aimc_theory.response import FAMILY
    family_keys = {p.name for f in FAMILY.values() for p in (f.params or ())}

    # the README's test command (profile "ci", derandomized): 20 inputs; HYPOTHESIS_PROFILE=explore: 40 new ones
    @settings(max_examples=40 if os.environ.get("HYPOTHESIS_PROFILE") == "explore" else 20, deadline=None,
              suppress_health_check=list(HealthCheck),
              phases=[Phase.explicit, Phase.reuse, Phase.generate])        # a failure is reported, not shrunk
    @given(argv())
    def run(args):
        code, out, err = fuzz_cli.check_call(args)
        if code == 2:      # a -p KEY=VALUE out of range is named by KEY, as in every command
            head = err.strip().splitlines()[-1].removeprefix("aimc-theory: error: ").split(":", 1)[0]
            assert fuzz_cli.names_a_parameter("cost", err) or head in family_keys, (args, err)

    run()


def test_crossover_and_cheapest_follow_the_accounting():
    def result(two_total, e_total):
        methods = {"calibrate-then-rl": cost.MethodCost("calibrate-then-rl", 1000, 500.0, two_total, True, 0.0, 0.0),
                   "e-rider": cost.MethodCost("e-rider", 0, e_total / 10, e_total, True, 0.0, 0.0)}
        return cost.CostResult(methods, None, 0.1, 1e-3, 0.01, 5, 1000, 10)
    r = result(6000.0, 9000.0)            # RL training 5000 pulses, calibration 1000 at dw 1e-3
    assert r.cheapest() == "calibrate-then-rl"
    assert r.crossover_dw_min() == pytest.approx(1e-3 * 1000 / 4000)   # calibration 1 / dw: equal at dw 2.5e-4
    assert result(6000.0, 5000.0).crossover_dw_min() == float("inf")    # E-RIDER cheaper at every dw_min
    assert result(6000.0, 5000.0).cheapest() == "e-rider"


def test_ctrl_c_command_keeps_the_finished_rows_and_marks_the_rest(monkeypatch, capsys):
    """The cost command on Ctrl-C during its third method: CommandInterrupted whose result has the two finished
    methods' rows as a run of them computes them, the third marked not finished (no numbers), the calibration
    stage without its theory and no comparison; the CLI prints that table and exits 130 (--json: one object)."""
    from aimc_theory import simulation
    from aimc_theory.commands.experiments import CommandInterrupted
    params = {**DEVICE, "dw_min": 1e-3, "chains": 20, "steps": 2000}
    real, calls = simulation.simulate, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(simulation, "simulate", interrupted)
    with pytest.raises(CommandInterrupted) as exc:
        commands.call("cost", params)
    d = exc.value.result.data
    assert d["interrupted"] is True and d["partial"] == ("2 of 3 methods finished (calibrate-then-rl, rider); not "
                                                         "finished: e-rider")
    assert list(d["methods"]) == list(cost.METHODS)
    assert [m["status"] for m in d["methods"].values()] == ["finished", "finished", "not finished (interrupted)"]
    assert d["methods"]["e-rider"]["steps"] is None and d["methods"]["e-rider"]["reached"] is None
    assert d["cheapest"] is None and d["calibration"]["theory_pulses"] is None
    assert d["calibration"]["theory_basis"] == "not computed (interrupted)"
    full = commands.call("cost", {**params, "methods": "calibrate-then-rl,rider"}).data     # the same seed: paired
    for name in ("calibrate-then-rl", "rider"):
        row = dict(d["methods"][name])
        assert row.pop("status") == "finished"
        assert {k: v for k, v in row.items() if k != "seconds"} == \
            {k: v for k, v in full["methods"][name].items() if k != "seconds"}
    rows = exc.value.result.to_records()
    assert [r["status"] for r in rows] == ["finished", "finished", "not finished (interrupted)"]

    calls.clear()
    argv = ["cost", "--response", "softbounds", "-p", "sp=0.1", "--dw-min", "1e-3", "--chains", "20", "--steps", "2000"]
    assert main(argv) == 130
    out, err = capsys.readouterr()
    assert "cost interrupted: 2 of 3 methods finished" in err
    assert re.search(r"e-rider\s+—\s+not finished\s+—\s+—", out), out
    assert "PARTIAL (interrupted): 2 of 3 methods finished" in out and "cheapest" not in out
    calls.clear()
    assert main(argv + ["--json"]) == 130
    js = json.loads(capsys.readouterr().out)
    assert js["interrupted"] is True and js["methods"]["rider"]["steps"] == full["methods"]["rider"]["steps"]
    assert js["methods"]["e-rider"]["status"] == "not finished (interrupted)"
