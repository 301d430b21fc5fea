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
