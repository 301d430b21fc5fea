"""The library below the command line: commands as functions, one parameter table, the registry as the
whole description of an algorithm."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aimc_theory import commands, registry, run as runs, sweep
from aimc_theory.cli import build_parser, main
from aimc_theory.errors import InputError
from aimc_theory.parameters import COMMANDS, parameters

ROOT = Path(__file__).resolve().parents[1]


def _cli_json(capsys, *argv):
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_command_is_a_function_with_the_cli_json(capsys):
    res = commands.simulate(response="power", param={"tau": 0.6, "gamma": 0.5}, steps=400, chains=50, seed=3)
    assert isinstance(res, commands.CommandResult) and res.update_model == "expected update"
    assert res.detail.mean == res.data["mean"]                 # the typed SimulationResult underneath
    cli = _cli_json(capsys, "simulate", "--response", "power", "-p", "tau=0.6", "-p", "gamma=0.5", "--steps", "400",
                    "--chains", "50", "--seed", "3")
    lib = res.to_json()
    for d in (cli, lib):
        d.pop("seconds"), d["provenance"].pop("arguments")
    assert lib == cli


def test_library_errors_name_python_parameters_and_the_cli_its_flags(capsys):
    with pytest.raises(InputError) as exc:
        commands.simulate(lr=-1.0)
    assert exc.value.param == "lr"
    with pytest.raises(InputError) as exc:
        commands.simulate(pulses=True)                         # needs the pulse size
    assert exc.value.param == "dw_min"
    assert main(["simulate", "--pulses"]) == 2
    assert capsys.readouterr().err.startswith("aimc-theory: error: --dw-min:")
    with pytest.raises(InputError) as exc:                     # the valid range comes from the table
        runs.describe("simulate", steps=5, chains=0)
    assert exc.value.param == "chains" and ">= 1" in str(exc.value)
    with pytest.raises(InputError) as exc:                     # execute speaks as the command line
        runs.execute(runs.describe("simulate", steps=5, sigma_c=0.1))
    assert exc.value.param == "--sigma-c"


def test_one_parameter_table_feeds_the_parser():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    for command in COMMANDS:
        dests = {a.dest for a in sub[command]._actions} - {"help", "json"}
        assert dests == set(parameters(command)), command
        for a in sub[command]._actions:
            if a.dest in parameters(command) and a.option_strings:
                p = parameters(command)[a.dest]
                assert p.flag in a.option_strings and a.default == p.default, (command, a.dest)


def test_run_and_the_library_load_no_command_line():
    code = ("import sys, aimc_theory.run, aimc_theory.commands, aimc_theory.sweep, aimc_theory.testing; "
            "print(sorted(m for m in sys.modules if m in ('aimc_theory.cli', 'argparse', 'aimc_theory.printing')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_no_module_imports_the_command_line():
    import ast
    offenders = []
    for path in (ROOT / "aimc_theory").rglob("*.py"):
        if path.name in ("cli.py", "__main__.py"):
            continue
        package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.rsplit(".", node.level - 1)[0] if node.level else ""
                mod = ".".join(x for x in (base, node.module) if x)
                names = [mod] + [f"{mod}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if "aimc_theory.cli" in names:
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
    assert len((ROOT / "aimc_theory" / "cli.py").read_text().splitlines()) < 500


@pytest.fixture
def toy_algorithm():
    """A toy algorithm added through the registry alone: Analog SGD with its step scaled by ``boost``,
    with its own fixed-point theory (the analog-sgd theory at lr * boost)."""
    from aimc_theory import algorithms

    def build(lr, array, main, seed, *, boost):
        return algorithms.analog_sgd(lr * boost, array)

    def theory(resp, main, L, w_star, noise, lr, w0, *, boost):
        from aimc_theory.symbolic import fixed_points
        return fixed_points.analog_sgd(resp, main, L, w_star, noise, lr * boost, w0)

    spec = registry.AlgorithmSpec("boosted-analog-sgd", "W <- U_q(W, -boost lr g)", build, fixed_point=theory)
    saved = dict(registry.ALGORITHMS), dict(registry.OPTIONS)
    registry.register(spec, (registry.Option("boost", 1.0, "step multiplier (boosted-analog-sgd)"),))
    yield spec
    registry.ALGORITHMS.clear(), registry.ALGORITHMS.update(saved[0])
    registry.OPTIONS.clear(), registry.OPTIONS.update(saved[1])


def test_a_toy_algorithm_through_the_registry_alone(toy_algorithm, capsys, tmp_path):
    common = ["--algorithm", "boosted-analog-sgd", "--response", "softbounds", "--boost", "2"]
    fp = _cli_json(capsys, "fixed-point", *common)
    ref = _cli_json(capsys, "fixed-point", "--response", "softbounds", "--lr", "0.02")
    assert fp["exact"] == ref["exact"]
    sim = _cli_json(capsys, "simulate", *common, "--steps", "300", "--chains", "20")
    assert sim["provenance"]["arguments"]["boost"] == 2.0
    assert main(["simulate", "--boost", "2"]) == 2                   # analog-sgd does not take it
    assert "--boost: does not apply to analog-sgd" in capsys.readouterr().err
    tr = commands.train(algorithm="boosted-analog-sgd", boost=2.0, epochs=1, hidden="8", out=str(tmp_path))
    assert 0.0 <= tr.data["test_accuracy"] <= 1.0
    study = tmp_path / "toy.toml"
    study.write_text('[study]\nname = "toy"\ncommand = "simulate"\n[fixed]\nalgorithm = "boosted-analog-sgd"\n'
                     'steps = 200\nchains = 20\n[vary]\nboost = [1.0, 2.0]\n')
    res = sweep.sweep(study=str(study), out=str(tmp_path), executor="inline", no_figures=True)
    assert res.data["errors"] == 0 and res.data["points"] == 2
    assert [r["theory"] is not None for r in res.detail.rows] == [True, True]     # the toy's theory column


def test_sweep_theory_is_computed_once_per_distinct_setting(monkeypatch):
    calls = []
    real = commands.call

    def counting(command, params=None, progress=None):
        calls.append(command)
        return real(command, params, progress)

    monkeypatch.setattr(commands, "call", counting)
    monkeypatch.setattr(sweep, "_THEORY", {})
    base = {"response": "softbounds", "steps": 200, "chains": 10}
    for seed in range(3):
        sweep._theory(runs.describe("simulate", base | {"seed": seed}).params)
    assert calls == ["fixed-point"]
    assert np.isfinite(sweep._theory(runs.describe("simulate", base).params)[0])


@pytest.mark.parametrize("argv, flag", [
    # issue 21's reproducers of the validation layer: each was exit 0 with a wrong result, or a traceback
    (["fixed-point", "--algorithm", "residual-learning", "--response", "softbounds", "--beta", "nan"], "--beta"),
    (["fixed-point", "--algorithm", "residual-learning", "--gamma", "inf"], "--gamma"),
    (["fixed-point", "--algorithm", "rider", "--lr", "nan"], "--lr"),
    (["fixed-point", "--algorithm", "rider", "--eta", "2"], "--eta"),
    (["simulate", "--seed", "-1"], "--seed"),
    (["calibrate", "--dw-min", "0.01", "--seed", str(2 ** 63)], "--seed"),
    (["simulate", "--pulses", "--dw-min", "0.01", "--dtype", "float32"], "--dtype"),
    (["simulate", "--pulses", "--dw-min", "1e-50"], "--dw-min"),
    (["train", "--algorithm", "digital-sgd", "--response", "power", "--pulses", "--dw-min", "0.3"], "--response"),
    (["train", "--architecture", "cnn", "--hidden", "8"], "--hidden"),
    (["train", "--compare", "analog-sgd,foo"], "--compare"),
    (["train", "--gamma", "0.3"], "--gamma"),
    (["fixed-point", "--w0", "0.1"], "--w0"),
    (["simulate", "--gain-dtod", "1e11"], "--gain-dtod"),
    (["calibrate", "--response", "softbounds", "--dw-min", "1e-20"], "--dw-min"),
    (["calibrate", "--dw-min", "0.01", "--tolerance", "1e-300"], "--tolerance"),
])
def test_bad_input_is_one_line_naming_the_parameter(capsys, argv, flag):
    assert main([*argv, "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith(f"aimc-theory: error: {flag}:"), err


def test_python_api_raises_at_the_call():
    from aimc_theory import device, response
    with pytest.raises(InputError, match="^response: "):
        device.Device("softbounds")
    with pytest.raises(InputError, match="^offset: "):
        device.Device(response.softbounds(), offset="x")
    with pytest.raises(InputError) as exc:
        commands.fixed_point(algorithm="residual-learning", beta=float("nan"))
    assert exc.value.param == "beta"


def test_simulate_reports_clipped_devices(capsys):
    out = _cli_json(capsys, "simulate", "--imbalance-dtod", "5", "--steps", "50", "--chains", "20")
    assert out["d2d"]["clipped_devices"] > 10          # most drawn imbalances exceed what a device can take


def test_main_array_from_a_preset_and_argv_with_negative_values(capsys):
    out = _cli_json(capsys, "simulate", "--algorithm", "residual-learning", "--response", "preset:ecram",
                    "--main-response", "preset:ecram", "--steps", "50", "--chains", "10")
    assert out["provenance"]["arguments"]["main_response"] == "preset:ecram"
    r = runs.describe("derive", q_plus="1 - w", q_minus="1 + w", range="-0.53,0.85")
    assert "--range=-0.53,0.85" in r.argv()
    assert main(r.argv() + ["--json"]) == 0


def test_ctrl_c_on_check_keeps_a_partial_report(tmp_path):
    """SIGINT stops check (workers included) with exit 130, a message and a report marked partial."""
    import os
    import signal
    import time
    exe = Path(sys.executable).with_name("aimc-theory")
    p = subprocess.Popen([str(exe), "check", "--fast", "--no-figures", "--claims", "13,22", "--out", str(tmp_path)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    for _ in range(600):             # until the pool's workers exist (a fixed 4 s fell inside the imports under load)
        time.sleep(0.1)
        ps = subprocess.run(["ps", "-o", "pid=", "--ppid", str(p.pid)], capture_output=True, text=True).stdout
        if len(ps.split()) >= 2:
            break
    time.sleep(1.0)                  # the workers are busy with their first claims
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130 and "check interrupted" in err and "Traceback" not in err
    assert "PARTIAL REPORT" in (tmp_path / "paper_checks.md").read_text()


def test_kill_9_of_check_ends_its_workers(tmp_path):
    """The fault battery's kill -9 of check: its worker processes end with it (no orphans left computing)."""
    import os
    import signal
    import time
    exe = Path(sys.executable).with_name("aimc-theory")
    p = subprocess.Popen([str(exe), "check", "--fast", "--no-figures", "--claims", "13,22", "--out", str(tmp_path)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    children = []
    for _ in range(100):                        # wait until the pool's workers exist
        time.sleep(0.1)
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(p.pid)], capture_output=True, text=True).stdout
        children = [int(x) for x in out.split()]
        if len(children) >= 2:
            break
    assert children, "check started no workers"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    for _ in range(50):
        alive = [c for c in children if os.path.exists(f"/proc/{c}") and
                 open(f"/proc/{c}/stat").read().split()[2] != "Z"]
        if not alive:
            break
        time.sleep(0.1)
    assert not alive, f"workers {alive} outlived check"


@pytest.mark.parametrize("command", ["simulate", "fixed-point"])
def test_read_noise_beyond_the_range_is_refused(command):
    """A read noise 10x beyond P's range gave a mean of -1.7e9 +- 1.9e9 (noise); now one error names it."""
    kw = dict(algorithm="residual-learning", read_noise=1e11)
    if command == "simulate":
        kw.update(steps=10, chains=2)
    with pytest.raises(InputError, match=r"read_noise.*<= 10 x"):
        commands.call(command, kw)
    ok = dict(kw, read_noise=1.0)
    assert commands.call(command, ok).ok in (True, False)      # in range: runs


def test_calibrate_an_unbounded_response_is_one_error(capsys):
    """Found by the fuzzer: calibrate --response ideal (no finite bound) raised a TypeError in the spacing check."""
    code = main(["calibrate", "--response", "ideal", "--dw-min", "0.5", "--scheme", "cyclic", "--w0", "0.5",
                 "--pulses", "200", "--chains", "5"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("aimc-theory: error: --response: ") and len(err.splitlines()) == 1


# -- simulate: pulses fired and steps to a tolerance (issue 22) ----------------------------------------------------

def test_simulate_counts_the_pulses_a_replay_fires():
    """Pulse level without gradient or cycle noise is deterministic: the pulses per device simulate reports are
    those of a replay of the same writes, ceil(lr |g| / dw_min) per step (P1 eq. 29), and steps_to_tolerance is
    cost's steps_to_target on the same trajectory."""
    from aimc_theory import cost, device, response
    kw = dict(algorithm="analog-sgd", response="softbounds", pulses=True, dw_min=1e-3, noise=0.0, lr=0.1,
              w0=-0.4, steps=300, chains=3, tolerance=0.02)
    r = commands.simulate(**kw)
    dev, w, fired = device.Device(response.softbounds(), dw_min=1e-3), np.array([-0.4]), 0
    for _ in range(300):
        dw = -0.1 * (w - 0.5)
        fired += int(np.ceil(np.abs(dw) / 1e-3 * (1 - 1e-12))[0])
        w = dev.update(w, dw)
    assert r.data["pulses_per_device"] == fired > 300
    assert r.data["steps_to_tolerance"] == cost.steps_to_target(r.detail.trajectory[:, 0], 0.5, 0.02, 1) > 0
    assert r.data["record_every"] == 1 and r.data["tolerance"] == 0.02
    assert "main_pulses_per_device" not in r.data and r.data["pulses"].startswith("array: counted")


def test_counting_pulses_changes_no_number():
    """The counting device fires the same pulses with the same draws (stochastic rounding and cycle noise draw
    from the run's generator): the run is bit for bit the run of the plain device."""
    from aimc_theory import cost, device, objectives, registry, response, simulation
    obj = objectives.ScalarQuadratic(1.0, 0.5, 0.3)
    plain = [device.Device(response.softbounds(sp=0.1), dw_min=1e-3, sigma_c=0.3, rounding="stochastic",
                           c2c_model=m) for m in ("additive", "multiplicative")]
    results = []
    for devs in (plain, [cost.counting(d) for d in plain]):
        alg = registry.build("e-rider", 0.05, devs[0], devs[1], seed=2)
        results.append(simulation.simulate(obj, alg, 400, 30, seed=5, w0=0.0))
    for name in ("mean", "se", "variance", "final", "trajectory", "chain_means"):
        assert (getattr(results[0], name) == getattr(results[1], name)).all(), name
    assert alg.devices[0].tally.pulses > 0 and alg.devices[1].tally.pulses >= 400


def test_a_step_that_does_not_finish_counts_no_pulse():
    """Ctrl-C inside a step (here: the main array's write of RIDER's step raises after P's write fired): the pulses
    of that step are taken back, the tally is that of the steps that finished (the run keeps those)."""
    from aimc_theory import cost, device, response

    class Stops(cost.CountingDevice):
        def update(self, w, dw, rng=None):
            if self.tally.pulses >= 40:
                raise KeyboardInterrupt
            return super().update(w, dw, rng)

    P = cost.counting(device.Device(response.softbounds(), dw_min=1e-3))
    W = Stops(response.ideal(), dw_min=1e-3)
    alg = cost.committing(registry.build("rider", 0.1, P, W), (P, W))
    params, rng, seen = np.zeros((4, 1)), np.random.default_rng(0), []
    state = alg.init(params)
    with pytest.raises(KeyboardInterrupt):
        for _ in range(1000):
            seen.append((P.tally.pulses, W.tally.pulses))
            params, state = alg.update(np.full((4, 1), 1.0), state, params, rng)
    assert (P.tally.pulses, W.tally.pulses) == seen[-1] and seen[-1][0] > seen[-2][0]


@pytest.mark.parametrize("args, array, main_array, words", [
    ([], None, None, "array: expected-update model (P1 eq. 2): no pulses; main array: expected-update model"),
    (["--pulses", "--dw-min", "1e-3"], "counted", "counted", "array: counted; main array: counted"),
    (["--pulses", "--dw-min", "1e-3", "--desired-bl", "5"], None, "counted",
     "array: per-sample pulse trains: their coincidences are not counted; main array: counted"),
])
def test_simulate_says_where_pulses_are_not_counted(capsys, args, array, main_array, words):
    """Per array: counted pulses, or null with the reason (the expected-update model fires none; per-sample
    pulse trains are not counted); in the JSON, the table row and the printed line."""
    argv = ["simulate", "--algorithm", "rider", "--steps", "200", "--chains", "20", "--w0", "0", *args]
    out = _cli_json(capsys, *argv)
    for key, want in (("pulses_per_device", array), ("main_pulses_per_device", main_array)):
        assert (out[key] is None) == (want is None) and (want is None or out[key] > 0), key
    assert out["pulses"].startswith(words)
    assert out["steps_to_tolerance"] is None           # 200 steps from W0 = 0 do not reach w* = 0.5 +- 0.01
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "steps_to_tolerance       not reached (|chain mean - w*| > 0.01 at the last record, step 200; records " \
           "every 1 step)" in text
    assert f"pulses_per_device        {'none' if array is None and main_array is None else ''}" in text
    assert words in text


def test_simulate_steps_to_tolerance_is_the_first_record_it_stays_within(capsys):
    """Digital SGD from 0 towards 0.5 with lr 0.01: |mean - w*| = 0.5 (0.99)^k, within 0.01 from k = 390 on
    (no gradient noise); records every steps // 10000 steps resolve it (here every 3: step 390)."""
    out = _cli_json(capsys, "simulate", "--algorithm", "digital-sgd", "--noise", "0", "--w0", "0", "--steps", "30000",
                    "--chains", "2")
    assert out["record_every"] == 3 and out["steps_to_tolerance"] == 390
    assert out["pulses_per_device"] is None and out["pulses"].startswith("no analog array")
    assert out["provenance"]["arguments"]["tolerance"] == 0.01
    assert main(["simulate", "--tolerance", "0", "--steps", "10"]) == 2
    assert "--tolerance" in capsys.readouterr().err


# -- train: network defaults of the tracking algorithms (issue 22) -------------------------------------------------

SMALL_TRAIN = {"dataset": "digits", "epochs": 1, "train_size": 300, "test_size": 100, "hidden": "16"}


def _accuracy_of(opts, algorithm="rider"):
    """network.train on the same data and devices as SMALL_TRAIN's train command, with these options."""
    from aimc_theory import data, device, network, response
    ds = data.subset(data.load("digits"), 300, 100, 2025)
    return network.train(ds, algorithm, device.Device(response.get("softbounds")), device.Device(response.ideal()),
                         epochs=1, hidden=(16,), lr=0.1, seed=0, options=opts).test_accuracy


def test_train_uses_the_network_defaults_of_rider_and_says_so(tmp_path, capsys):
    """train --algorithm rider runs the network defaults (not the scalar ones), records them as the values that ran
    and prints where they come from; an option given wins; simulate keeps the scalar defaults."""
    net = registry.with_defaults("rider", {}, network=True)
    assert (net["gamma"], net["beta"], net["eta"]) == (0.1, 0.1, 0.03)
    assert registry.with_defaults("rider", {})["beta"] == 0.005 == registry.default("rider", "beta")
    r = commands.call("train", {**SMALL_TRAIN, "algorithm": "rider", "out": str(tmp_path)})
    assert r.data["network_defaults"]["used"] == {"rider": {"gamma": 0.1, "beta": 0.1, "eta": 0.03}}
    assert "arXiv 2602.21321 Table 5" in r.data["network_defaults"]["source"]["rider"]
    assert (r.arguments["gamma"], r.arguments["beta"], r.arguments["eta"]) == (0.1, 0.1, 0.03)   # provenance
    assert r.data["test_accuracy"] == _accuracy_of(net)
    given = commands.call("train", {**SMALL_TRAIN, "algorithm": "rider", "beta": 0.02, "out": str(tmp_path)})
    assert given.data["network_defaults"]["used"] == {"rider": {"gamma": 0.1, "eta": 0.03}}
    assert given.arguments["beta"] == 0.02
    assert given.data["test_accuracy"] == _accuracy_of(registry.with_defaults("rider", {"beta": 0.02}, network=True))
    argv = ["train", "--dataset", "digits", "--epochs", "1", "--train-size", "300", "--test-size", "100", "--hidden",
            "16", "--algorithm", "e-rider", "--eta", "0.2", "--out", str(tmp_path)]
    assert main(argv) == 0
    line, = [x for x in capsys.readouterr().out.splitlines() if x.startswith("network defaults")]
    assert line.startswith("network defaults (not the scalar commands'; an option given wins): e-rider gamma 0.1, "
                           "beta 0.1, chop-prob 0.05 (gamma, chop-prob: P2's FCN values (arXiv 2602.21321")
    # --compare: the algorithms without network defaults run as before, the provenance keeps what was given
    both = commands.call("train", {**SMALL_TRAIN, "compare": "analog-sgd,rider", "out": str(tmp_path)})
    assert list(both.data["network_defaults"]["used"]) == ["rider"] and both.arguments["beta"] is None
    plain = commands.call("train", {**SMALL_TRAIN, "algorithm": "residual-learning", "out": str(tmp_path)})
    assert "network_defaults" not in plain.data and plain.arguments["beta"] is None
    assert "(network default 0.005: residual-learning, residual-learning-v2; 0.1: rider, e-rider; the scalar " \
           "commands: default 0.005;" in parameters("train")["beta"].help
    assert parameters("simulate")["beta"].help.endswith("(default 0.005; residual-learning, residual-learning-v2, "
                                                        "rider, e-rider)")


def test_simulate_and_cost_keep_the_scalar_defaults_of_rider():
    """The scalar commands' claims depend on the scalar defaults: simulate's default run is the run with the scalar
    values given."""
    kw = dict(algorithm="rider", steps=200, chains=20, w0=0.0)
    a = commands.simulate(**kw)
    b = commands.simulate(**kw, beta=0.005, gamma=0.4, eta=0.01)
    assert a.data["mean"] == b.data["mean"] and a.data["final"] == b.data["final"]
    assert "network_defaults" not in a.data
