"""Seconds per epoch of the NumPy MLP (784-256-128-10) on 60k samples (Fashion-MNIST when installed, else the
built-in digits repeated to 60k), batch 10 (P1) and 64, for Digital SGD and the analog algorithms in the
expected-update model, and Analog SGD with per-sample pulse trains; next to the ~10 s per epoch quoted for
the reference simulator's 784-256-10 MLP at batch 64 on this class of machine.

    python benchmarks/bench_network.py [--samples 60000] [--batches 10 64] [--pulsed-samples 6000]
"""
from __future__ import annotations

import argparse

import numpy as np

from aimc_theory.runtime import retain_freed_memory
from aimc_theory import data, device, network, response
from aimc_theory.errors import InputError
from aimc_theory.pulse_trains import PulseTrains


def dataset(n: int) -> data.Dataset:
    try:
        ds = data.fashion_mnist()
    except InputError:
        ds = data.digits()
    reps = -(-n // ds.x_train.shape[0])
    return data.Dataset(ds.name, np.tile(ds.x_train, (reps, 1))[:n], np.tile(ds.y_train, reps)[:n],
                        ds.x_test[:1000], ds.y_test[:1000])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=60000)
    ap.add_argument("--batches", type=int, nargs="+", default=[10, 64])
    ap.add_argument("--pulsed-samples", type=int, default=6000, help="the pulsed model is timed on fewer samples")
    ap.add_argument("--default-malloc", action="store_true",
                    help="leave glibc's thresholds alone (see aimc_theory.runtime)")
    args = ap.parse_args(argv)
    if not args.default_malloc:
        retain_freed_memory()
    resp = response.power(tau=0.6, gamma=0.5)
    cases = [("digital-sgd", device.Device(response.ideal()), {}),
             ("analog-sgd", device.Device(resp), {}),
             ("residual-learning", device.Device(resp), {"beta": 0.01}),
             ("residual-learning-v2", device.Device(resp), {"beta": 0.1}),
             ("e-rider", device.Device(resp), {"beta": 0.01})]
    print(f"{'algorithm (model)':40s} {'batch':>5s} {'s/epoch (60k)':>14s} {'vs digital':>10s}")
    for batch in args.batches:
        ds = dataset(args.samples)
        digital = None
        for name, dev, opts in cases:
            r = network.train(ds, name, dev, epochs=1, batch_size=batch, lr=0.05, options=opts)
            sec = r.seconds_per_epoch[0] * 60000 / args.samples
            digital = digital or sec
            print(f"{name + ' (expected update)':40s} {batch:5d} {sec:14.2f} {sec / digital:10.2f}")
        small = dataset(args.pulsed_samples)
        pulsed = device.Device(resp, dw_min=1e-3, trains=PulseTrains(desired_bl=31))
        r = network.train(small, "analog-sgd", pulsed, epochs=1, batch_size=batch, lr=0.05)
        sec = r.seconds_per_epoch[0] * 60000 / args.pulsed_samples
        print(f"{'analog-sgd (per-sample pulse trains)':40s} {batch:5d} {sec:14.2f} {sec / digital:10.2f}")


if __name__ == "__main__":
    main()
