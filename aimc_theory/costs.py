"""Per-unit costs the up-front checks use (memory and time), MEASURED by benchmarks/bench_memory.py.

Measured 2026-12-03 on x86_64, 2 usable CPUs, CPython 3.11.7, with
``python benchmarks/bench_memory.py --write``; rerun it on another machine and commit the table it writes.

BYTES_PER_CHAIN: peak resident bytes per chain (slope between two chain counts; the largest over the
analog algorithms, soft bounds and power, with and without device-to-device variation), rounded up.
SECONDS_PER_STEP / SECONDS_PER_CHAIN_STEP: t = steps (a + b chains), a from 1 chain, b from 200k chains,
per update model and algorithm, the largest over the responses and variations (measured on a shared
machine: an upper estimate). NETWORK_BYTES_PER_WEIGHT: peak resident bytes per weight of the FCN
(tiles, states, gradients, devices' parameters and batch-10 activations). Models: "expected"
(expected update), "pulse" (pulse level), "trains" (per-sample pulse trains). CALIBRATION: zero-shifting
calibration, bytes per device and t = pulses (a + b devices), the largest over both schemes and
soft bounds and power."""

BYTES_PER_CHAIN = {"expected": 210, "pulse": 250, "trains": 310}
SECONDS_PER_STEP = {
    "expected": {
        "analog-sgd": 4e-05,
        "residual-learning": 5.9e-05,
        "residual-learning-v2": 7.1e-05,
        "rider": 5.4e-05,
        "e-rider": 7.2e-05,
    },
    "pulse": {
        "analog-sgd": 9.7e-05,
        "residual-learning": 0.00014,
        "residual-learning-v2": 0.00015,
        "rider": 0.00013,
        "e-rider": 0.00016,
    },
    "trains": {
        "analog-sgd": 0.00013,
        "residual-learning": 0.00017,
        "residual-learning-v2": 0.00018,
        "rider": 0.00023,
        "e-rider": 0.00022,
    },
}
SECONDS_PER_CHAIN_STEP = {
    "expected": {
        "analog-sgd": 3.6e-08,
        "residual-learning": 4.3e-08,
        "residual-learning-v2": 5.9e-08,
        "rider": 5.3e-08,
        "e-rider": 6.8e-08,
    },
    "pulse": {
        "analog-sgd": 6.8e-08,
        "residual-learning": 9.3e-08,
        "residual-learning-v2": 8.2e-08,
        "rider": 1.1e-07,
        "e-rider": 1.3e-07,
    },
    "trains": {
        "analog-sgd": 2.4e-07,
        "residual-learning": 2.8e-07,
        "residual-learning-v2": 2.4e-07,
        "rider": 2.9e-07,
        "e-rider": 3.1e-07,
    },
}
NETWORK_BYTES_PER_WEIGHT = {"expected": 57, "pulse": 120, "trains": 34}
CALIBRATION = {"bytes_per_device": 170, "seconds_per_pulse": 2.9e-05, "seconds_per_device_pulse": 2.4e-08}
