"""Start-up time of the command line: wall time of a few ``aimc-theory`` invocations (a fresh Python
process each, best of 3) next to the 0.5 s bound numeric commands must meet (issue 19).

    python benchmarks/bench_startup.py [--repeats 3]

``derive`` and ``presets`` derive with SymPy and are shown for reference; the bound applies to the
numeric commands (marked ``*``). Numbers are wall-clock on this machine (other jobs only slow a run down,
hence the best of the repeats).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

BOUND = 0.5
# (label, arguments, numeric: whether the 0.5 s bound applies)
COMMANDS = [
    ("--help", ["--help"], True),
    ("simulate (tiny)", ["simulate", "--response", "softbounds", "-p", "sp=0.1", "--steps", "10", "--chains", "10",
                         "--seed", "1", "--json"], True),
    ("sweep --help", ["sweep", "--help"], True),
    ("presets", ["presets", "--json"], False),
    ("derive", ["derive", "--response", "softbounds", "--json"], False),
]


def wall(argv: list[str], repeats: int) -> float:
    """Best wall time of ``repeats`` runs of ``aimc-theory ARGV`` (the console script next to this Python)."""
    script = os.path.join(os.path.dirname(sys.executable), "aimc-theory")     # the installed console script
    cmd = [script, *argv] if os.path.exists(script) else \
        [sys.executable, "-c", "import sys; from aimc_theory.cli import main; sys.exit(main())", *argv]
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"aimc-theory {' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
        best = min(best, dt)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="runs per command, the best is shown (default 3)")
    args = ap.parse_args()
    print(f"{'command':18s} {'wall [s]':>9s}  bound {BOUND:g} s")
    worst = 0.0
    for label, argv, numeric in COMMANDS:
        t = wall(argv, args.repeats)
        mark = ("ok" if t <= BOUND else "OVER") if numeric else "(derivation, no bound)"
        print(f"{label:18s} {t:9.3f}  {mark}")
        if numeric:
            worst = max(worst, t)
    print(f"slowest numeric command: {worst:.3f} s ({'within' if worst <= BOUND else 'over'} the {BOUND:g} s bound)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
