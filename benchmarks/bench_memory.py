"""Measure what the up-front checks assume: peak resident memory per chain and seconds per chain-step of the
scalar simulations (expected update, pulse level, per-sample pulse trains) and peak memory per weight of the
network path; with ``--write`` the constants found go into aimc_theory/costs.py.

Every configuration runs in a fresh Python process (the peak resident size, ``ru_maxrss``, is a high-water
mark: a process measures one thing). Memory per chain = (peak at N2 chains - peak at N1 chains) / (N2 - N1)
for every analog algorithm (the two-array ones keep more state), soft bounds (closed-form pulses) and power
(pulse by pulse), with and without device-to-device variation; the table keeps the largest, rounded up. Seconds: t(steps, chains) = steps (a + b chains),
a from 1 chain, b from many chains; the largest over the same configurations. The network: the FCN with one
hidden layer of H1 and H2 units on 784 inputs and 10 classes, peak difference / weight difference.

    python benchmarks/bench_memory.py            # print the measurements
    python benchmarks/bench_memory.py --write    # and rewrite aimc_theory/costs.py
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD_SIM = r"""
import json, resource, sys, time
from aimc_theory.runtime import retain_freed_memory
retain_freed_memory()                       # as the command line does
from aimc_theory import commands
cfg = json.loads(sys.argv[1])
small = dict(cfg["params"], chains=2, steps=4)
commands.simulate(**small)                  # imports and first-use caches before the baseline
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t0 = time.perf_counter()
commands.simulate(**cfg["params"])
sec = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"base": base, "peak": peak, "seconds": sec}))
"""

_CHILD_CAL = r"""
import json, resource, sys, time
from aimc_theory.runtime import retain_freed_memory
retain_freed_memory()
from aimc_theory import commands
cfg = json.loads(sys.argv[1])
commands.calibrate(**dict(cfg["params"], chains=2, pulses=20))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t0 = time.perf_counter()
commands.calibrate(**cfg["params"])
sec = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"base": base, "peak": peak, "seconds": sec}))
"""

_CHILD_NET = r"""
import json, resource, sys, time
import numpy as np
from aimc_theory.runtime import retain_freed_memory
retain_freed_memory()
from aimc_theory import data, device, network, response
from aimc_theory.pulse_trains import PulseTrains
cfg = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
n = 200
ds = data.Dataset("bench", rng.random((n, 784)), np.arange(n) % 10, rng.random((50, 784)), np.arange(50) % 10)
kw = dict(dw_min=1e-3) if cfg["model"] != "expected" else {}
if cfg["model"] == "trains":
    kw["trains"] = PulseTrains(desired_bl=31)
dev = device.Device(response.softbounds(), **kw)
def run(h):
    network.train(ds, cfg["algorithm"], dev, epochs=1, batch_size=10, lr=0.05, hidden=(h,))
run(8)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
run(cfg["hidden"])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"base": base, "peak": peak}))
"""

MODELS = {"expected": {}, "pulse": {"pulses": True, "dw_min": 0.01},
          "trains": {"pulses": True, "dw_min": 0.01, "desired_bl": 31}}
ALGORITHMS = ("analog-sgd", "residual-learning", "residual-learning-v2", "rider", "e-rider")
RESPONSES = ("softbounds", "power")
VARIATION = ({}, {"gain_dtod": 0.1})        # each chain its own device: per-chain device parameters


def child(code: str, cfg: dict) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code, json.dumps(cfg)], capture_output=True, text=True, env=env,
                         check=False)
    if out.returncode:
        raise SystemExit(f"child failed for {cfg}:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_simulations(n1: int, n2: int, steps_mem: int, steps_one: int, chains_time: int, steps_time: int):
    mem, per_step, per_chain_step = {}, {}, {}
    for model, extra in MODELS.items():
        for alg in ALGORITHMS:
            for resp, var in ((r, v) for r in RESPONSES for v in VARIATION):
                base = dict(extra, algorithm=alg, response=resp, **var)
                a = child(_CHILD_SIM, {"params": dict(base, chains=n1, steps=steps_mem)})
                b = child(_CHILD_SIM, {"params": dict(base, chains=n2, steps=steps_mem)})
                each = max(b["peak"] - a["peak"], 0) / (n2 - n1)
                one = child(_CHILD_SIM, {"params": dict(base, chains=1, steps=steps_one)})
                many = child(_CHILD_SIM, {"params": dict(base, chains=chains_time, steps=steps_time)})
                a_s = one["seconds"] / steps_one
                b_s = max(many["seconds"] / steps_time - a_s, 0.0) / chains_time
                print(f"{model:9s} {alg:20s} {resp:11s} {'d2d' if var else '   '} {each:7.0f} B/chain  {a_s * 1e6:8.1f} us/step  "
                      f"{b_s * 1e9:7.1f} ns/chain-step", flush=True)
                mem[model] = max(mem.get(model, 0.0), each)
                key = (model, alg)
                per_step[key] = max(per_step.get(key, 0.0), a_s)
                per_chain_step[key] = max(per_chain_step.get(key, 0.0), b_s)
    return mem, per_step, per_chain_step


def measure_calibration(n1: int, n2: int):
    """Zero-shifting calibration: bytes per device, seconds per pulse (1 device: the difference of a long and a
    short run, so the command's fixed cost, the theory's closed forms, cancels) and per device-pulse."""
    mem = per_pulse = per_device_pulse = 0.0
    for scheme in ("stochastic", "cyclic"):
        for resp in RESPONSES:
            base = dict(response=resp, dw_min=1e-3, scheme=scheme)
            a = child(_CHILD_CAL, {"params": dict(base, chains=n1, pulses=50)})
            b = child(_CHILD_CAL, {"params": dict(base, chains=n2, pulses=50)})
            each = max(b["peak"] - a["peak"], 0) / (n2 - n1)
            short = child(_CHILD_CAL, {"params": dict(base, chains=1, pulses=200)})
            long = child(_CHILD_CAL, {"params": dict(base, chains=1, pulses=20200)})
            a_s = max(long["seconds"] - short["seconds"], 0.0) / 20000
            many = child(_CHILD_CAL, {"params": dict(base, chains=200_000, pulses=200)})
            b_s = max(many["seconds"] - short["seconds"], 0.0) / (200 * 200_000)
            print(f"calibrate {scheme:10s} {resp:11s} {each:7.0f} B/device  {a_s * 1e6:8.1f} us/pulse  "
                  f"{b_s * 1e9:7.1f} ns/device-pulse", flush=True)
            mem, per_pulse, per_device_pulse = max(mem, each), max(per_pulse, a_s), max(per_device_pulse, b_s)
    return {"bytes_per_device": mem, "seconds_per_pulse": per_pulse, "seconds_per_device_pulse": per_device_pulse}


def measure_network(h2: int):
    out = {}
    for model in MODELS:
        for alg in ("analog-sgd", "residual-learning"):
            r = child(_CHILD_NET, {"model": model, "algorithm": alg, "hidden": h2})
            weights = (784 + 10) * (h2 - 8)
            each = max(r["peak"] - r["base"], 0) / weights
            print(f"network {model:9s} {alg:18s} {each:7.1f} B/weight", flush=True)
            out[model] = max(out.get(model, 0.0), each)
    return out


def _up(x: float, digits: int = 2) -> int:
    """Round up to ``digits`` significant digits (a margin, never below what was measured)."""
    if x <= 0:
        return 0
    scale = 10 ** max(int(math.floor(math.log10(x))) - digits + 1, 0)
    return int(math.ceil(x / scale) * scale)


def _up_float(x: float) -> float:
    """Round up to two significant digits."""
    if x <= 0:
        return 0.0
    e = math.floor(math.log10(x)) - 1
    return float(f"{math.ceil(x / 10 ** e) * 10 ** e:.2g}")


def _nested(table: dict) -> str:
    """{(model, algorithm): seconds} as the source of a dict of dicts."""
    models = sorted({m for m, _ in table}, key=list(MODELS).index)
    rows = []
    for m in models:
        rows.append(f'    "{m}": {{')
        rows += [f'        "{a}": {_up_float(v):.2g},' for (mm, a), v in table.items() if mm == m]
        rows.append("    },")
    return "{\n" + "\n".join(rows) + "\n}"


def write(path: Path, mem, per_step, per_chain_step, net, cal, command: str) -> None:
    stamp = datetime.date.today().isoformat()
    machine = f"{platform.machine()}, {len(os.sched_getaffinity(0))} usable CPUs, " \
              f"{platform.python_implementation()} {platform.python_version()}"
    lines = [
        '"""Per-unit costs the up-front checks use (memory and time), MEASURED by benchmarks/bench_memory.py.',
        "",
        f"Measured {stamp} on {machine}, with",
        f"``{command}``; rerun it on another machine and commit the table it writes.",
        "",
        "BYTES_PER_CHAIN: peak resident bytes per chain (slope between two chain counts; the largest over the",
        "analog algorithms, soft bounds and power, with and without device-to-device variation), rounded up.",
        "SECONDS_PER_STEP / SECONDS_PER_CHAIN_STEP: t = steps (a + b chains), a from 1 chain, b from 200k chains,",
        "per update model and algorithm, the largest over the responses and variations (measured on a shared",
        "machine: an upper estimate). NETWORK_BYTES_PER_WEIGHT: peak resident bytes per weight of the FCN",
        "(tiles, states, gradients, devices' parameters and batch-10 activations). Models: \"expected\"",
        '(expected update), "pulse" (pulse level), "trains" (per-sample pulse trains). CALIBRATION: zero-shifting',
        "calibration, bytes per device and t = pulses (a + b devices), the largest over both schemes and",
        'soft bounds and power."""',
        "",
        "BYTES_PER_CHAIN = " + json.dumps({k: _up(v) for k, v in mem.items()}),
        "SECONDS_PER_STEP = " + _nested(per_step),
        "SECONDS_PER_CHAIN_STEP = " + _nested(per_chain_step),
        "NETWORK_BYTES_PER_WEIGHT = " + json.dumps({k: _up(v) for k, v in net.items()}),
        "CALIBRATION = " + json.dumps({"bytes_per_device": _up(cal["bytes_per_device"]),
                                       "seconds_per_pulse": float(f"{_up_float(cal['seconds_per_pulse']):.2g}"),
                                       "seconds_per_device_pulse":
                                           float(f"{_up_float(cal['seconds_per_device_pulse']):.2g}")}),
        "",
    ]
    path.write_text("\n".join(lines))
    print(f"wrote {path}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chains", type=int, nargs=2, default=[20_000, 320_000], metavar=("N1", "N2"))
    ap.add_argument("--hidden", type=int, default=2048, help="hidden width of the larger network")
    ap.add_argument("--write", action="store_true", help="rewrite aimc_theory/costs.py with the results")
    args = ap.parse_args(argv)
    mem, per_step, per_chain_step = measure_simulations(args.chains[0], args.chains[1], 10, 4000, 200_000, 10)
    net = measure_network(args.hidden)
    cal = measure_calibration(*args.chains)
    print("bytes per chain", {k: round(v) for k, v in mem.items()})
    print("seconds per step", {f"{m}/{a}": f"{v:.3g}" for (m, a), v in per_step.items()})
    print("seconds per chain-step", {f"{m}/{a}": f"{v:.3g}" for (m, a), v in per_chain_step.items()})
    print("network bytes per weight", {k: round(v, 1) for k, v in net.items()})
    print("calibration", cal)
    if args.write:
        extra = " ".join(a for a in (sys.argv[1:] if argv is None else argv) if a != "--write")
        command = ("python benchmarks/bench_memory.py --write " + extra).strip()
        write(ROOT / "aimc_theory" / "costs.py", mem, per_step, per_chain_step, net, cal, command.strip())


if __name__ == "__main__":
    main()
