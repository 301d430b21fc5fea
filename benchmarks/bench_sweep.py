"""Speed-up of a 64-point study (examples/bias_vs_noise.toml) on 1 and 2 cores and through a Dask
LocalCluster, and a check that every executor gives the same numbers.

    python benchmarks/bench_sweep.py [--chains 2000] [--steps 3000]

Prints wall seconds per executor (each run from an empty output directory) and the speed-up over the
in-process run. Needs the dask extra for the Dask rows (pip install -e ".[dask]").
"""
from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from aimc_theory import sweep
from aimc_theory.runtime import retain_freed_memory

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chains", type=int, default=2000, help="chains per point (default 2000)")
    ap.add_argument("--steps", type=int, default=3000, help="steps per point (default 3000)")
    args = ap.parse_args(argv)
    retain_freed_memory()
    study = sweep.load(ROOT / "examples" / "bias_vs_noise.toml")
    study = replace(study, fixed=study.fixed | {"chains": args.chains, "steps": args.steps})
    runs = [("in-process (1 core)", sweep.executor("inline"), 1), ("process pool, 1 worker", sweep.executor(), 1),
            ("process pool, 2 workers", sweep.executor(), 2)]
    try:
        import distributed  # noqa: F401 -- only whether it imports
        runs.append(("Dask LocalCluster, 2 workers", sweep.executor(scheduler="local"), 2))
    except ImportError:
        print("(dask not installed: no Dask row)")
    base, ref = None, None
    print(f"{len(sweep.points(study))} points of simulate, {args.chains} chains x {args.steps} steps each")
    print(f"{'executor':32s} {'seconds':>8s} {'speed-up':>9s}  same numbers")
    for name, ex, workers in runs:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            res = sweep.run_study(study, tmp, execute=ex, workers=workers, figures=False)
            dt = time.perf_counter() - t0
        nums = {r["point"]: (r["measured"], r["se"], r["theory"]) for r in res.rows}
        ref = ref or nums
        base = base or dt
        print(f"{name:32s} {dt:8.1f} {base / dt:9.2f}  {nums == ref}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
