"""Seconds for P1 Fig. 2 as the authors ran it: `aimc-theory reproduce p1-fig2` (4 up_down values x Analog SGD and
Tiki-Taka x 5 seeds x 1000 iterations, per-sample pulse trains), next to the reference simulator's ~1.15 s per
1000-step run (about 46 s for those 40 runs) on this class of machine, and the batch-mean model.

    python benchmarks/bench_reproduce.py [--seeds 5] [--repeats 2]
"""
from __future__ import annotations

import argparse
import time

from aimc_theory.runtime import retain_freed_memory
from aimc_theory import reproduce

REFERENCE_SECONDS = 46.0


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--default-malloc", action="store_true",
                    help="leave glibc's thresholds alone (see aimc_theory.runtime)")
    args = ap.parse_args(argv)
    if not args.default_malloc:
        retain_freed_memory()
    print(f"{'model':12s} {'runs':>5s} {'seconds (best)':>15s} {'vs reference 46 s':>18s}")
    for model in reproduce.MODELS:
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            reproduce.p1_fig2(seeds=args.seeds, model=model)
            best = min(best, time.perf_counter() - t0)
        runs = 2 * len(reproduce.UP_DOWN) * args.seeds
        print(f"{model:12s} {runs:5d} {best:15.1f} {best / REFERENCE_SECONDS:17.2f}x")


if __name__ == "__main__":
    main()
