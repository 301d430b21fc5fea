"""Every speed figure the project commits to, in one run, each next to the bound or the reference it is
judged against (the numbers in the README come from this script):

* the main job ``aimc-theory check --fast`` (wall, and the CPU of its workers) against 30 s on 2 cores;
* ``check --network`` against 6 minutes (``--network``);
* start-up of the numeric commands against 0.5 s (``benchmarks/bench_startup.py``);
* pulse-level and dense network epochs against the reference simulator and the BLAS bound
  (``benchmarks/bench_epochs.py``, when present);
* the README's test command against 3 minutes (``--tests``).

    python benchmarks/bench_speed.py [--network] [--tests] [--skip-check] [--skip-epochs]

Wall-clock on this machine (named in the first line); other jobs on the machine only slow a run down.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.node() or 'this machine'}: {model or platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}, load {load:.1f} at the start")


def _cli(*argv: str) -> list[str]:
    script = Path(sys.executable).with_name("aimc-theory")
    if script.exists():
        return [str(script), *argv]
    return [sys.executable, "-c", "import sys; from aimc_theory.cli import main; sys.exit(main())", *argv]


def timed(cmd: list[str], cwd: str | None = None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the children, exit code) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    err = proc.stderr.decode(errors="replace")
    # exit 1 is check's "a verdict not the expected one", but also Python's exit on an uncaught exception
    rc = proc.returncode if not (proc.returncode == 1 and "Traceback (most recent call last)" in err) else -1
    if rc not in (0, 1):
        print(err[-800:], file=sys.stderr)
    return wall, cpu, rc


def _verdicts(rc: int) -> str:
    return {0: "verdicts as expected", 1: "UNEXPECTED verdicts"}.get(rc, f"FAILED (exit {rc}; its stderr above)")


def line(label: str, value: float, bound: float, unit: str = "s", note: str = "") -> None:
    ratio = value / bound
    print(f"{label:46s} {value:9.2f} {unit:3s} bound {bound:7.2f} {unit:3s} ratio {ratio:5.2f} "
          f"{'ok' if ratio <= 1 else 'OVER'}{'  ' + note if note else ''}", flush=True)


def _load(name: str):
    path = HERE / f"{name}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", action="store_true", help="also time check --network (about 6 minutes)")
    ap.add_argument("--tests", action="store_true", help="also time the README's test command (minutes)")
    ap.add_argument("--skip-check", action="store_true", help="leave out check --fast")
    ap.add_argument("--skip-epochs", action="store_true", help="leave out the network epochs")
    args = ap.parse_args(argv)
    print(machine(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_check:
            wall, cpu, rc = timed(_cli("check", "--fast", "--out", tmp))
            line("check --fast (main job, incl. figures)", wall, 30.0,
                 note=f"CPU {cpu:.0f} s in its processes; {_verdicts(rc)}")
        if args.network:
            # the command: every claim at its default budget and the network claims (not --fast)
            wall, cpu, rc = timed(_cli("check", "--network", "--out", tmp))
            line("check --network", wall, 360.0,
                 note=f"CPU {cpu:.0f} s; {_verdicts(rc)}")
    startup = _load("bench_startup")
    if startup is not None:
        for label, argv_, numeric in startup.COMMANDS:
            if numeric:
                line(f"start-up: aimc-theory {label}", startup.wall(argv_, 3), startup.BOUND)
    if not args.skip_epochs and (HERE / "bench_epochs.py").exists():
        print("network epochs (benchmarks/bench_epochs.py):", flush=True)
        subprocess.run([sys.executable, str(HERE / "bench_epochs.py")], check=False)
    if args.tests:
        cmd = [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider"]     # the README's command
        wall, cpu, rc = timed(cmd, cwd=str(ROOT))
        line("README test command (pytest -q -n 2)", wall, 180.0, note=f"CPU {cpu:.0f} s; exit {rc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
