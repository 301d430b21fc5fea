"""Chain-steps per second of Analog SGD, Residual Learning and RIDER/E-RIDER on the scalar
quadratic (float64), and device-pulses per second of zero-shifting calibration, next to the
throughput of numpy's RNG alone (one normal per chain-step: the ceiling of the NumPy path), and the
compiled kernel (``--backend numba``) where it applies and numba is installed.

    python benchmarks/bench_throughput.py [--chains 10000 1000000] [--seconds 2]

Prints one line per configuration; numbers are wall-clock on this machine, single process.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

from aimc_theory.runtime import retain_freed_memory
from aimc_theory import algorithms, calibration, device, kernels, objectives, residual_learning, response, simulation, tracking
from aimc_theory.errors import InputError


def rate(fn, n_chains: int, seconds: float) -> float:
    """chain-steps per second of ``fn(steps)``: warm up, size ``steps`` to about ``seconds``/3,
    then the best of three runs (first-touch page faults and other jobs only slow a run down)."""
    fn(2)
    steps = 4
    while True:
        t0 = time.perf_counter()
        fn(steps)
        dt = time.perf_counter() - t0
        if dt > seconds / 12 or steps > 10 ** 6:
            break
        steps *= 2
    steps = max(4, int(steps * seconds / 3 / dt))
    best = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        fn(steps)
        best = min(best, time.perf_counter() - t0)
    return n_chains * steps / best


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chains", type=int, nargs="+", default=[10_000, 1_000_000])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--numpy-only", action="store_true", help="leave out the numba kernel rows")
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"),
                    help="precision of the simulation and of the RNG ceiling it is compared with")
    ap.add_argument("--only", default=None, help="only configurations whose name contains this text")
    ap.add_argument("--default-malloc", action="store_true",
                    help="leave glibc's thresholds alone (see aimc_theory.runtime)")
    args = ap.parse_args(argv)
    if not args.default_malloc:
        retain_freed_memory()
    obj = objectives.ScalarQuadratic(1.0, 0.5, 0.3)
    cases = {
        "analog-sgd softbounds (expected update)": algorithms.analog_sgd(0.01, device.Device(response.softbounds(sp=-0.2))),
        "analog-sgd power gamma=0.5 (expected update)": algorithms.analog_sgd(0.01, device.Device(response.power(gamma=0.5))),
        "digital-sgd": algorithms.digital_sgd(0.01),
        "residual-learning v1 softbounds (P), ideal W": residual_learning.residual_learning(
            0.01, 0.005, 0.4, device.Device(response.softbounds()), device.Device(response.ideal())),
        "residual-learning v1 softbounds (P and W)": residual_learning.residual_learning(
            0.01, 0.005, 0.4, device.Device(response.softbounds()), device.Device(response.softbounds(sp=-0.2))),
        "residual-learning v2 softbounds, no read noise": residual_learning.residual_learning_v2(
            0.01, 0.1, 0.4, device.Device(response.softbounds()), device.Device(response.softbounds(sp=-0.2)),
            dw_min=1e-3),
        "residual-learning v2 softbounds, read noise": residual_learning.residual_learning_v2(
            0.01, 0.1, 0.4, device.Device(response.softbounds()), device.Device(response.softbounds(sp=-0.2)),
            read_noise=0.01, dw_min=1e-3),
        "rider softbounds (P), ideal W": tracking.rider(
            0.01, 0.005, 0.4, 0.01, device.Device(response.softbounds(sp=0.1)), device.Device(response.ideal())),
        "e-rider p=0.05 softbounds (P), ideal W": tracking.rider(
            0.01, 0.005, 0.4, 0.01, device.Device(response.softbounds(sp=0.1)), device.Device(response.ideal()),
            chop_prob=0.05),
    }
    print(f"{'configuration':48s} {'chains':>9s} {'chain-steps/s':>14s} {'vs RNG':>7s} {'cost/ASGD':>9s}")
    for n in args.chains:
        rng = np.random.default_rng(0)
        dt = np.dtype(args.dtype)
        buf = np.empty((n, 1), dtype=dt)
        rng_rate = rate(lambda steps: [rng.standard_normal(out=buf, dtype=dt) for _ in range(steps)], n, args.seconds)
        print(f"{'RNG only: standard_normal(out=...)':48s} {n:9d} {rng_rate:14.3e} {1.0:7.2f}")
        asgd = None
        for name, alg in cases.items():
            if args.only and args.only not in name:
                continue
            r = rate(lambda steps: simulation.simulate(obj, alg, steps, n, 0, w0=0.5, dtype=dt), n, args.seconds)
            asgd = asgd or r
            print(f"{name:48s} {n:9d} {r:14.3e} {r / rng_rate:7.2f} {asgd / r:9.2f}")
            if kernels.available() and alg.config and not args.numpy_only and dt == np.float64:
                try:
                    kernels.plan(obj, alg, None)
                except InputError:
                    continue
                r = rate(lambda steps: simulation.simulate(obj, alg, steps, n, 0, w0=0.5, backend="numba"), n,
                         args.seconds)
                print(f"{'  the same, --backend numba':48s} {n:9d} {r:14.3e} {r / rng_rate:7.2f} {asgd / r:9.2f}")
        # zero-shifting calibration: device-pulses per second (the stochastic scheme draws one uniform
        # per device-pulse; its ceiling is the uniform RNG, shown for reference)
        ubuf = np.empty(n)
        u_rate = rate(lambda steps: [rng.random(out=ubuf) for _ in range(steps)], n, args.seconds)
        print(f"{'RNG only: random(out=...) (uniform)':48s} {n:9d} {u_rate:14.3e} {u_rate / rng_rate:7.2f}")
        dev = device.Device(response.softbounds(sp=0.12), dw_min=1e-3)
        for scheme in ("stochastic", "cyclic"):
            r = rate(lambda pulses: calibration.zero_shift(dev, 0.5, pulses + 1, scheme, devices=n, seed=0,
                                                           average_from=0), n, args.seconds)
            print(f"{'calibration ' + scheme + ' softbounds (device-pulses/s)':48s} {n:9d} {r:14.3e} "
                  f"{r / rng_rate:7.2f}")


if __name__ == "__main__":
    main()
