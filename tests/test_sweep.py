"""Run descriptions (aimc_theory.run) and parameter studies (aimc_theory.sweep): validation before any
work, the same numbers on every executor (a real Dask LocalCluster included), resume after an
interruption, figures."""
import json
import multiprocessing
import threading
import time

import pytest

from aimc_theory import run as runs, sweep
from aimc_theory.cli import main
from aimc_theory.errors import InputError

STUDY = """
[study]
name = "tiny"
command = "simulate"
seed = 3
replicates = 2

[fixed]
response = "softbounds"
lr = 0.05
steps = 300
chains = 50

[vary]
noise = [0.0, 0.3]
w_star = [0.2, 0.5]
"""


def write(tmp_path, text=STUDY, name="tiny.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def numbers(rows):
    return {r["point"]: (r["seed"], r["theory"], r["measured"], r["se"]) for r in rows}


# -- run descriptions --------------------------------------------------------------------------

def test_describe_validates_names_types_and_choices():
    r = runs.describe("simulate", {"--w-star": 0.3, "p.tau": 2, "steps": 500.0, "pulses": "false"})
    assert r.params["w_star"] == 0.3 and r.params["steps"] == 500 and r.params["param"] == ["tau=2.0"]
    assert r.changed() == {"param": ["tau=2.0"], "w_star": 0.3, "steps": 500}
    # describe names parameters as Python does (execute and the command line: as flags)
    for bad, flag in ((dict(bogus=1), "bogus"), (dict(steps=1.5), "steps"), (dict(pulses=3), "pulses"),
                      (dict(lr="fast"), "lr"), (dict(algorithm=None, chains=True), "chains")):
        with pytest.raises(InputError) as e:
            runs.describe("simulate", **bad)
        assert e.value.param == flag
    with pytest.raises(InputError, match="^model: "):
        runs.describe("reproduce", model="x")
    with pytest.raises(InputError, match="command"):
        runs.describe("bogus")


def test_a_run_is_the_same_from_python_and_from_the_command_line(capsys):
    r = runs.describe("simulate", response="power", p={"tau": 0.6, "gamma": 0.5}, noise=0.2, steps=400, chains=40,
                      seed=5)
    py = runs.execute(r)
    assert main(r.argv() + ["--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert py["mean"] == cli["mean"] and py["se"] == cli["se"]
    assert py["provenance"]["arguments"]["param"] == cli["provenance"]["arguments"]["param"]


def test_errors_name_the_flag_everywhere(capsys):
    with pytest.raises(InputError) as e:
        runs.execute(runs.describe("simulate", lr=50))
    assert e.value.param == "--lr"
    assert main(["simulate", "--lr", "50", "--json"]) == 2
    assert "--lr:" in capsys.readouterr().err


def test_sympy_time_limit_in_threads_and_daemonic_processes():
    """Off the main thread (Dask workers run tasks in threads; pools are daemonic) the budget still holds."""
    from aimc_theory.symbolic.engine import attempt

    def slow():
        time.sleep(600)

    out = {}

    def in_thread():
        notes = []
        t0 = time.perf_counter()
        out["slow"] = (attempt(slow, 0.5, notes), time.perf_counter() - t0, notes)
        out["fast"] = attempt(lambda: 41 + 1, 5.0)

    t = threading.Thread(target=in_thread, daemon=True)
    t.start()
    t.join(300)
    # the 0.5 s budget ended a call that sleeps 600 s: the bound is far from both (a loaded machine forks slowly)
    value, seconds, notes = out["slow"]
    assert value is None and seconds < 120 and "timed out" in notes[0] and out["fast"] == 42
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:                      # pool workers are daemonic
        assert pool.apply(_thread_attempt) == 42


def _thread_attempt():
    from aimc_theory.symbolic.engine import attempt
    res = {}
    t = threading.Thread(target=lambda: res.setdefault("v", attempt(lambda: 42, 5.0)))
    t.start()
    t.join(20)
    return res["v"]


# -- studies -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, param", [
    (STUDY.replace('command = "simulate"', 'command = "bogus"'), "study.command"),
    (STUDY.replace("lr = 0.05", "bogus = 1"), "bogus"),
    (STUDY.replace("noise = [0.0, 0.3]", "w-stir = [0.1]"), "w-stir"),
    (STUDY.replace("steps = 300", "steps = 1.5"), "steps: "),   # as the study file names it
    (STUDY.replace("noise = [0.0, 0.3]", "noise = 0.3"), "vary.noise"),
    (STUDY.replace("noise = [0.0, 0.3]", "lr = [0.1]"), "lr"),
    (STUDY.replace('design', 'x') + "", None),
    (STUDY + "\n[extra]\n", "extra"),
    (STUDY.replace("[study]", "[study]\ndesign = \"random\""), "study.samples"),
    ("[study\n", "STUDY"),
])
def test_bad_study_files_fail_before_any_work(tmp_path, text, param, capsys):
    path = write(tmp_path, text)
    if param is None:
        return
    code = main(["sweep", str(path), "--out", str(tmp_path / "out"), "--executor", "inline"])
    err = capsys.readouterr().err
    assert code == 2 and param in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "tiny_points").exists() or not any((tmp_path / "out" / "tiny_points").iterdir())


def test_missing_study_file_and_dask_scheduler_errors(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "nope.toml")]) == 2
    assert "STUDY" in capsys.readouterr().err
    assert main(["sweep", str(write(tmp_path)), "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "--scheduler" in capsys.readouterr().err


def test_points_seeds_derive_from_the_point_not_the_order(tmp_path):
    study = sweep.load(write(tmp_path))
    pts = sweep.points(study)
    assert len(pts) == 8 and len({p["run"].params["seed"] for p in pts}) == 8
    reordered = sweep.Study(**{**study.__dict__, "vary": dict(reversed(list(study.vary.items())))})
    assert {p["id"]: p["run"].params["seed"] for p in sweep.points(reordered)} == \
        {p["id"]: p["run"].params["seed"] for p in pts}


def test_inline_processes_and_dask_give_identical_numbers(tmp_path):
    study = sweep.load(write(tmp_path))
    inline = sweep.run_study(study, tmp_path / "a", execute=sweep.executor("inline"), figures=False)
    procs = sweep.run_study(study, tmp_path / "b", execute=sweep.executor("processes"), workers=2, figures=False)
    dask = sweep.run_study(study, tmp_path / "c", execute=sweep.executor(scheduler="local"), workers=2, figures=False)
    assert numbers(inline.rows) == numbers(procs.rows) == numbers(dask.rows)
    rows = sweep.read_table(inline.table)
    assert len(rows) == 8 and all(r["status"] == "ok" for r in rows)
    assert {"point", "seed", "noise", "w_star", "theory", "measured", "se", "z", "bias", "seconds", "argv"} <= set(rows[0])
    noisy = [r for r in rows if r["noise"] == 0.3 and r["w_star"] == 0.5]
    assert all(r["bias"] < 0 for r in noisy)        # pulled toward the SP at 0


def test_a_point_that_compares_carries_the_comparison(tmp_path):
    """simulate and calibrate points compare theory with measurement through aimc_theory.comparison.compare:
    the row has its tolerance (3 SE, no allowance), basis, MDE and verdict next to the old columns."""
    from aimc_theory.comparison import compare
    res = sweep.run_study(sweep.load(write(tmp_path)), tmp_path / "o", execute=sweep.executor("inline"),
                          figures=False)
    for r in res.rows:
        c = compare(r["theory"], r["measured"], r["se"], "")
        assert (r["tolerance"], r["allowance"], r["basis"], r["mde"], r["verdict"]) == (
            c.tolerance, 0.0, "none", c.mde, c.verdict)
        assert r["tolerance"] == 3 * r["se"] and r["verdict"] in ("agree", "disagree")
        assert r["mde"] == pytest.approx(r["tolerance"] + abs(r["measured"] - r["theory"]))
    table = sweep.read_table(res.table)
    assert {"tolerance", "allowance", "basis", "mde", "verdict", "z", "bias"} <= set(table[0])
    assert [r["verdict"] for r in table] == [r["verdict"] for r in res.rows]


def test_a_point_without_a_theory_has_no_comparison():
    assert sweep._comparison(None, 0.5, 0.01) == dict.fromkeys(sweep.COMPARISON_COLUMNS)
    assert sweep._comparison(0.5, None, None) == dict.fromkeys(sweep.COMPARISON_COLUMNS)
    assert sweep._comparison(0.5, 0.52, 0.01)["verdict"] == "agree"
    assert sweep._comparison(0.5, 0.6, 0.01)["verdict"] == "disagree"
    assert sweep._comparison(0.5, float("nan"), 0.01)["verdict"] is None


def test_resume_after_an_interruption(tmp_path):
    study = sweep.load(write(tmp_path))
    full = sweep.run_study(study, tmp_path / "ref", execute=sweep.executor("inline"), figures=False)

    def interrupted(tasks, workers):
        for i, t in enumerate(tasks):
            if i == 3:
                raise KeyboardInterrupt
            yield sweep.run_point(t)

    with pytest.raises(KeyboardInterrupt):
        sweep.run_study(study, tmp_path / "x", execute=interrupted, figures=False)
    assert len(sweep.read_table(tmp_path / "x" / "tiny.csv")) == 3        # the finished points, whole
    (tmp_path / "x" / "tiny_points" / ".junk.tmp").write_text("{half")       # a leftover temp file is ignored
    again = sweep.run_study(study, tmp_path / "x", execute=sweep.executor("inline"), figures=False)
    assert again.done_before == 3 and numbers(again.rows) == numbers(full.rows)


def test_a_bad_point_is_a_row_not_a_failed_study(tmp_path):
    text = STUDY.replace("noise = [0.0, 0.3]", "lr = [0.05, 5.0]").replace("lr = 0.05\n", "")
    res = sweep.run_study(sweep.load(write(tmp_path, text)), tmp_path / "o", execute=sweep.executor("inline"),
                          figures=False)
    bad = [r for r in res.rows if r["status"] == "error"]
    assert len(bad) == 4 and all("--lr" in r["error"] for r in bad)


def test_figures_for_one_and_two_parameters(tmp_path, capsys):
    assert main(["sweep", str(write(tmp_path)), "--out", str(tmp_path / "o"), "--executor", "inline", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["points"] == 8 and out["errors"] == 0 and out["figures"][0].endswith("tiny_phase.png")
    one = STUDY.replace("w_star = [0.2, 0.5]", "").replace('name = "tiny"', 'name = "one"')
    assert main(["sweep", str(write(tmp_path, one, "one.toml")), "--out", str(tmp_path / "o"), "--executor",
                 "inline", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["figures"][0].endswith("one_curves.png")


def test_random_design_and_other_commands(tmp_path):
    text = """
[study]
command = "calibrate"
design = "random"
samples = 3
[fixed]
response = "softbounds"
dw-min = 0.01
pulses = 300
chains = 20
scheme = "stochastic"
[vary]
w0 = {low = -0.5, high = 0.5}
"p.tau" = {low = 0.5, high = 2, log = true}
"""
    res = sweep.run_study(sweep.load(write(tmp_path, text, "cal.toml")), tmp_path / "o",
                          execute=sweep.executor("inline"), figures=True)
    assert len(res.rows) == 3 and all(r["status"] == "ok" and r["se"] > 0 for r in res.rows)
    assert all(0.5 <= r["p.tau"] <= 2 for r in res.rows) and res.figures
    assert all(r["verdict"] in ("agree", "disagree") and r["tolerance"] == 3 * r["se"] for r in res.rows)


def test_ctrl_c_keeps_finished_points_and_the_rerun_resumes(tmp_path):
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) during a process-pool sweep: exit 130
    within seconds, the finished points kept, a whole table of them; the same command then runs the rest."""
    import os
    import signal
    import subprocess
    import sys
    # 8 points of ~0.35 s of CPU each on 2 workers: Ctrl-C comes when the first point file appears, with the
    # other worker in the middle of its point and 6 points not started (the resume runs those)
    text = STUDY.replace("chains = 50", "chains = 10000").replace("steps = 300", "steps = 2000")
    study = write(tmp_path, text)
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "aimc_theory.cli", "sweep", str(study), "--out", str(out), "--workers", "2",
           "--no-figures"]          # the figures of a sweep: test_figures_for_one_and_two_parameters
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    points = out / "tiny_points"
    deadline = time.time() + 60
    while time.time() < deadline and not (points.exists() and any(points.glob("*.json"))):
        time.sleep(0.1)
    os.killpg(p.pid, signal.SIGINT)
    try:
        _, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        pytest.fail("the sweep did not stop within 30 s of Ctrl-C")
    kept = len(list(points.glob("*.json")))
    assert p.returncode == 130 and "resume" in err and 1 <= kept < 8
    assert len(sweep.read_table(out / "tiny.csv")) == kept
    res = subprocess.run(cmd + ["--json"], capture_output=True, text=True, timeout=300)
    summary = json.loads(res.stdout)
    assert res.returncode == 0 and summary["done_before"] == kept and summary["points"] == 8
    assert len(sweep.read_table(out / "tiny.csv")) == 8


def test_parquet_table_when_pyarrow_is_installed(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    res = sweep.run_study(sweep.load(write(tmp_path)), tmp_path / "o", execute=sweep.executor("inline"),
                          figures=False)
    table = pq.read_table(res.parquet).to_pylist()
    assert len(table) == 8 and {r["point"] for r in table} == {r["point"] for r in res.rows}
    # a column mixing text and numbers (the fuzzing found one) becomes text instead of failing
    _, parquet = sweep.write_table([{"a": "-1e-229", "b": 1}, {"a": 0.5, "b": 2.5}, {"a": None, "b": None}],
                                   tmp_path / "mixed.csv")
    mixed = pq.read_table(parquet).to_pylist()
    assert [r["a"] for r in mixed] == ["-1e-229", "0.5", None] and [r["b"] for r in mixed] == [1.0, 2.5, None]


# -- nothing lost: isolated points, timeouts, resume checks, workers that end with the parent --------

SMALL = """
[study]
name = "small"
command = "simulate"
[fixed]
steps = 100
chains = 10
[vary]
noise = [0.0, 0.1, 0.3]
"""


def test_a_point_that_raises_is_its_row_and_the_sweep_exits_1(tmp_path, capsys, monkeypatch):
    """Any exception raised while a point runs (not only bad input) is that point's row with status "error"
    and a one-line message; the other points run; the exit status is 1 with a summary line (JSON: errors)."""
    real = runs.execute

    def execute(r):
        if r.params["noise"] == 0.1:
            raise ValueError("expected non-negative integer\nsecond line")
        return real(r)

    monkeypatch.setattr(runs, "execute", execute)
    study = write(tmp_path, SMALL, "small.toml")
    assert main(["sweep", str(study), "--out", str(tmp_path / "o"), "--executor", "inline", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["errors"] == 1 and out["failed"][0]["error"] == "ValueError: expected non-negative integer second line"
    rows = sweep.read_table(tmp_path / "o" / "small.csv")
    assert [r["status"] for r in sorted(rows, key=lambda r: r["noise"])] == ["ok", "error", "ok"]
    assert main(["sweep", str(study), "--out", str(tmp_path / "o"), "--executor", "inline"]) == 1   # resumed
    text = capsys.readouterr().out
    assert "1 of 3 points FAILED" in text and "ValueError: expected non-negative integer" in text


def test_a_seed_out_of_range_in_a_study_is_refused_naming_its_key(tmp_path, capsys):
    study = write(tmp_path, SMALL.replace("noise = [0.0, 0.1, 0.3]", "seed = [0, -1, 1]"), "small.toml")
    assert main(["sweep", str(study), "--out", str(tmp_path / "o"), "--executor", "inline"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("aimc-theory: error: vary.seed: ") and "-1" in err and len(err.splitlines()) == 1


def test_point_timeout_stops_a_hung_point_and_a_dead_worker_is_a_row(tmp_path, monkeypatch):
    """--point-timeout: the process pool kills the worker of a point that runs too long (its row: "timeout
    after N s"), a worker that dies is the row of its point, a fresh worker takes the next point; inline with
    a timeout runs each point in a child. Such rows are run again on resume (a timeout only with a longer
    point_timeout or none)."""
    import os
    import signal
    real = sweep.run_point

    def run_point(task):                            # runs in the forked workers
        noise = task["run"].params["noise"]
        if noise == 0.1:
            time.sleep(120)
        if noise == 0.3:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(task)

    monkeypatch.setattr(sweep, "run_point", run_point)
    text = SMALL.replace("noise = [0.0, 0.1, 0.3]", "noise = [0.0, 0.1, 0.3, 0.2]")
    study = sweep.load(write(tmp_path, text, "small.toml"))
    for name, workers in (("processes", 2), ("inline", 1)):
        res = sweep.run_study(study, tmp_path / name, execute=sweep.executor(name, point_timeout=2),
                              workers=workers, figures=False)
        by_noise = {r["noise"]: r for r in res.rows}
        assert by_noise[0.0]["status"] == by_noise[0.2]["status"] == "ok", (name, by_noise[0.0]["error"], by_noise[0.2]["error"])
        assert by_noise[0.1]["status"] == "error" and by_noise[0.1]["error"].startswith("timeout after 2 s")
        assert by_noise[0.3]["status"] == "error" and "SIGKILL" in by_noise[0.3]["error"]
    monkeypatch.setattr(sweep, "run_point", real)
    notes = []          # the same point_timeout would stop the hung point again: only the dead worker's runs
    same = sweep.run_study(study, tmp_path / "inline", execute=sweep.executor("inline"), figures=False,
                           notice=notes.append, point_timeout=2)
    assert same.done_before == 3 and len(notes) == 1 and "SIGKILL" in notes[0]
    assert {r["noise"]: r["status"] for r in same.rows} == {0.0: "ok", 0.1: "error", 0.3: "ok", 0.2: "ok"}
    notes = []
    again = sweep.run_study(study, tmp_path / "processes", execute=sweep.executor("inline"), figures=False,
                            notice=notes.append)
    assert again.done_before == 2 and len(notes) == 2 and all(r["status"] == "ok" for r in again.rows)
    assert any("timeout after 2 s" in n for n in notes)


def test_point_timeout_is_checked(tmp_path, capsys):
    study = str(write(tmp_path, SMALL, "small.toml"))
    for extra in (["--point-timeout", "0"], ["--point-timeout", "nan"], ["--point-timeout", "5", "--scheduler", "local"]):
        assert main(["sweep", study, "--out", str(tmp_path / "o"), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert "--point-timeout" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("content, why", [
    ("[]", "not a JSON object (a JSON array)"), ("null", "not a JSON object (a JSON null)"),
    ("{}", "missing point"), ('{"status":"ok","measured":"abc"}', "missing point"), ("{half", "not valid JSON"),
    ("measured=abc", "measured is 'abc'"), ("measured=NaN", "not valid JSON"), ("seed=7", "seed 7"),
    ("point=0123456789abcdef", "another point"), ("status=done", "status 'done'"), ("noise=0.2", "parameters"),
    ("out=[1]", "out is not"), ("symlink", "not a regular file"),
])
def test_resume_checks_every_point_file_and_runs_a_bad_one_again(tmp_path, content, why):
    study = sweep.load(write(tmp_path, SMALL, "small.toml"))
    first = sweep.run_study(study, tmp_path / "o", execute=sweep.executor("inline"), figures=False)
    victim = tmp_path / "o" / "small_points" / f"{first.rows[1]['point']}.json"
    if content == "symlink":
        victim.unlink()
        victim.symlink_to(tmp_path / "o" / "small_points" / f"{first.rows[0]['point']}.json")
    elif "=" in content and not content.startswith("{"):
        row = json.loads(victim.read_text())
        key, value = content.split("=")
        if key == "noise":
            row["params"]["noise"] = float(value)
        else:
            row[key] = json.loads(value) if value.startswith("[") else (int(value) if value.isdigit() else value)
        text = json.dumps(row)
        victim.write_text(text.replace('"NaN"', "NaN"))
    else:
        victim.write_text(content)
    notes = []
    again = sweep.run_study(study, tmp_path / "o", execute=sweep.executor("inline"), figures=False,
                            notice=notes.append)
    assert len(notes) == 1 and why in notes[0] and victim.name in notes[0], notes
    assert again.done_before == 2 and numbers(again.rows) == numbers(first.rows)
    assert not victim.is_symlink() and sweep.check_point(json.loads(victim.read_text()), sweep.points(study)[1]) == ""


_KILL_SCRIPT = """
import os, pathlib, sys, time
from aimc_theory import sweep
pids = pathlib.Path(sys.argv[2])
def hang(task):
    (pids / str(os.getpid())).write_text("")
    time.sleep(600)
sweep.run_point = hang
sweep.run_study(sweep.load(sys.argv[1]), sys.argv[3], execute=sweep.executor("processes"), workers=2, figures=False)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"     # a zombie has ended
    except OSError:
        return False


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="reads /proc")
def test_kill_9_of_the_parent_ends_its_workers(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    pids = tmp_path / "pids"
    pids.mkdir()
    script = tmp_path / "parent.py"
    script.write_text(_KILL_SCRIPT)
    p = subprocess.Popen([sys.executable, str(script), str(write(tmp_path, SMALL, "small.toml")), str(pids),
                          str(tmp_path / "o")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    workers = []
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(workers) < 2 and p.poll() is None:
            time.sleep(0.05)
            workers = [int(f.name) for f in pids.iterdir()]
        assert len(workers) == 2, p.stderr.read() if p.poll() is not None else "workers did not start"
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        deadline = time.time() + 30
        while time.time() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.05)
        assert not any(_alive(w) for w in workers)
    finally:
        for pid in [p.pid, *workers]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        p.wait()
