"""Hostile-input fuzzing of the CLI with a large budget (not run in CI): the rules of tests/fuzz_cli.py
(exit 0 with strict JSON, or exit 2 with one line; no traceback, no hang) on N inputs per command.

    python benchmarks/fuzz_cli.py [--examples 3000] [--seed 0]
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

import fuzz_cli  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=3000, help="inputs per command (default 3000)")
    ap.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0)")
    ap.add_argument("--hang", type=float, default=10.0, help="seconds after which a call counts as a hang (default 10)")
    ap.add_argument("--commands", default="derive,fixed-point,simulate,calibrate,reproduce,train,check,sweep,presets,fit",
                    help="comma-separated commands to fuzz (default all)")
    args = ap.parse_args(argv)
    fuzz_cli.HANG_SECONDS = args.hang
    failures = []
    for command in args.commands.split(","):
        codes = Counter()
        t0 = time.perf_counter()

        @seed(args.seed)
        @settings(max_examples=args.examples, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None, derandomize=False, phases=[Phase.generate])   # no shrinking: a hang would repeat
        @given(fuzz_cli.command_args(command))
        def run(argv):
            code, _, _ = fuzz_cli.check_call(argv)
            codes[code] += 1

        try:
            run()
        except BaseException as exc:          # an AssertionError or hypothesis' group of several
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures.append((command, " ".join(str(exc).split())[:600] or type(exc).__name__))
        print(f"{command:12s} inputs {fuzz_cli.COUNTS[command]:6d}  exit 0: {codes[0]:5d}  exit 1: {codes[1]:3d}  exit 2: {codes[2]:5d}  "
              f"slowest {fuzz_cli.SLOWEST.get(command, 0):.2f} s  total {time.perf_counter() - t0:.0f} s", flush=True)
    for command, msg in failures:
        print(f"FAILED {command}: {msg}")
    print("hangs 0, tracebacks 0, half-written files 0" if not failures else f"{len(failures)} command(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
