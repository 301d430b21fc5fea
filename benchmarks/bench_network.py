"""Seconds per epoch of the NumPy FCN (784-256-128-10) on 60k samples (Fashion-MNIST when installed, else the
built-in digits repeated to 60k), batch 10 (P1) and 64, for Digital SGD and every analog algorithm in both
update models (expected update; per-sample pulse trains with dw_min 1e-3, desired_bl 31, timed on fewer
samples and scaled to 60k), next to the ~10 s per epoch quoted for the reference simulator's 784-256-10 MLP
at batch 64 on this class of machine. Power response (tau 0.6, gamma 0.5) and soft bounds for Analog SGD.

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
    cases = [("digital-sgd", response.ideal(), {}),
             ("analog-sgd", resp, {}),
             ("analog-sgd", response.softbounds(tau=1.0), {}),
             ("residual-learning", resp, {"beta": 0.01}),
             ("residual-learning-v2", resp, {"beta": 0.1}),
             ("rider", resp, {"beta": 0.1}),
             ("e-rider", resp, {"beta": 0.1})]
    print(f"{'algorithm, response (model)':52s} {'batch':>5s} {'s/epoch (60k)':>14s} {'vs digital':>10s}")
    for batch in args.batches:
        ds = dataset(args.samples)
        small = dataset(args.pulsed_samples)
        digital = None
        for pulsed in (False, True):
            for name, r_, opts in cases:
                if pulsed and name == "digital-sgd":
                    continue
                dev = device.Device(r_, dw_min=1e-3, trains=PulseTrains(desired_bl=31)) if pulsed else device.Device(r_)
                data_ = small if pulsed else ds
                r = network.train(data_, name, dev, dev if name != "analog-sgd" else None, epochs=1,
                                  batch_size=batch, lr=0.05, options=opts)
                sec = r.seconds_per_epoch[0] * 60000 / data_.x_train.shape[0]
                digital = digital or sec
                label = f"{name}, {r_.name} ({'pulse trains' if pulsed else 'expected update'})"
                print(f"{label:52s} {batch:5d} {sec:14.2f} {sec / digital:10.2f}", flush=True)


if __name__ == "__main__":
    main()
