"""Work sized before it starts (issue 21 item 3): the process's real memory limits, CPU affinity, measured
per-unit costs, pulse counts, the network's sizes and learning rate, bounded data readers."""
from __future__ import annotations

import gzip
import os
import re
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from aimc_theory import costs, data, device, fit, network, objectives, registry, response, runtime, simulation
from aimc_theory.errors import InputError


# -- limits of the process --------------------------------------------------------------------------------

def _fake_cgroup(tmp_path, monkeypatch, lines: str, files: dict) -> None:
    proc = tmp_path / "cgroup"
    proc.write_text(lines)
    root = tmp_path / "fs"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    monkeypatch.setattr(runtime, "_PROC_CGROUP", str(proc))
    monkeypatch.setattr(runtime, "_CGROUP_ROOT", str(root))


def test_cgroup_v2_memory_max_minus_current(tmp_path, monkeypatch):
    _fake_cgroup(tmp_path, monkeypatch, "0::/job\n", {"cgroup.controllers": "memory", "job/memory.max": "1073741824\n",
                                                      "job/memory.current": "73741824\n", "memory.max": "max\n"})
    assert runtime.cgroup_memory() == 1_000_000_000


def test_cgroup_v1_limit_and_unlimited(tmp_path, monkeypatch):
    _fake_cgroup(tmp_path, monkeypatch, "4:memory:/a/b\n", {"memory/a/b/memory.limit_in_bytes": "500000000",
                                                             "memory/a/b/memory.usage_in_bytes": "100000000",
                                                             "memory/a/memory.limit_in_bytes": "300000000",
                                                             "memory/a/memory.usage_in_bytes": "100000000"})
    assert runtime.cgroup_memory() == 200_000_000          # the parent's limit binds
    _fake_cgroup(tmp_path, monkeypatch, "4:memory:/\n", {"memory/memory.limit_in_bytes": "9223372036854771712"})
    assert runtime.cgroup_memory() is None


def test_available_memory_is_the_smallest_limit_and_the_error_names_it(tmp_path, monkeypatch):
    _fake_cgroup(tmp_path, monkeypatch, "0::/\n", {"cgroup.controllers": "", "memory.max": str(200 << 20),
                                                   "memory.current": "0"})
    assert runtime.available_memory() <= 200 << 20
    assert runtime.binding_limit()[0] == "cgroup memory limit"
    with pytest.raises(InputError, match=r"chains: .*cgroup memory limit.*at most") as e:
        runtime.check_memory("chains", 10 ** 7, 100)
    assert e.value.param == "chains"


def test_rlimit_as_counts(monkeypatch):
    import resource
    monkeypatch.setattr(resource, "getrlimit", lambda which: (1 << 40, resource.RLIM_INFINITY))
    left = runtime.address_space_left()
    assert left is not None and 0 < left < 1 << 40
    monkeypatch.setattr(resource, "getrlimit", lambda which: (1 << 20, resource.RLIM_INFINITY))
    assert runtime.address_space_left() == 0            # the interpreter alone uses more than 1 MiB
    assert runtime.memory_limits()["RLIMIT_AS"] == 0
    with pytest.raises(InputError, match="RLIMIT_AS"):
        runtime.check_memory("chains", 1000, 100)


def test_workers_bounded_by_affinity(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert runtime.usable_cores() == 2
    assert runtime.check_workers("workers", None) is None
    assert runtime.check_workers("workers", 2) == 2
    with pytest.raises(InputError, match=r"workers: must be an integer in \[1, 2\].*sched_getaffinity.*100,000"):
        runtime.check_workers("workers", 100000)
    with pytest.raises(InputError, match="workers"):
        runtime.check_workers("workers", 0)


# -- measured costs -----------------------------------------------------------------------------------------

def test_cost_table_is_measured_and_complete():
    doc = costs.__doc__
    assert "bench_memory.py" in doc and "Measured" in doc
    for table in (costs.BYTES_PER_CHAIN, costs.SECONDS_PER_STEP, costs.SECONDS_PER_CHAIN_STEP,
                  costs.NETWORK_BYTES_PER_WEIGHT):
        assert set(table) == {"expected", "pulse", "trains"}
    assert all(v > 0 for v in costs.BYTES_PER_CHAIN.values())
    assert simulation.BYTES_PER_CHAIN_COORDINATE == max(costs.BYTES_PER_CHAIN.values())


def _setup(dw_min=None, trains=None, max_bl=None, algorithm="analog-sgd", noise=0.3):
    obj = objectives.ScalarQuadratic(1.0, 0.5, noise, per_sample=trains is not None)
    dev = device.Device(response.softbounds(), dw_min=dw_min, trains=trains, max_bl=max_bl)
    main = device.Device(response.softbounds())
    return obj, registry.build(algorithm, 0.01, dev, main)


@pytest.mark.parametrize("algorithm", ["analog-sgd", "residual-learning", "e-rider"])
def test_update_model_seen_through_the_algorithm(algorithm):
    from aimc_theory.pulse_trains import PulseTrains
    assert simulation.update_model(*_setup(algorithm=algorithm)) == "expected"
    assert simulation.update_model(*_setup(1e-3, algorithm=algorithm)) == "pulse"
    assert simulation.update_model(*_setup(1e-3, PulseTrains(desired_bl=8), algorithm=algorithm)) == "trains"


def test_huge_steps_refused_up_front_with_an_estimate():
    obj, alg = _setup()
    t0 = time.process_time()        # CPU of this process: refused before any step, also on a loaded machine
    with pytest.raises(InputError, match=r"steps: .*would take about .*years.*limit is 24 h") as e:
        simulation.simulate(obj, alg, 99999999999999999999999, 1000, 0)
    assert time.process_time() - t0 < 5
    assert e.value.param == "steps"
    seconds = simulation.estimated_seconds("expected", 10 ** 6, 1000, algorithm="analog-sgd")
    a, b = simulation.step_costs("expected", "analog-sgd")
    assert seconds == pytest.approx(10 ** 6 * (a + 1000 * b))


def test_chains_refused_against_the_measured_bytes(monkeypatch):
    obj, alg = _setup(1e-3)
    monkeypatch.setattr(runtime, "memory_limits", lambda: {"cgroup memory limit": 100 << 20})
    fits = int(0.7 * (100 << 20)) // costs.BYTES_PER_CHAIN["pulse"]
    with pytest.raises(InputError, match=rf"chains: .*cgroup memory limit.*at most {fits:,} fit"):
        simulation.simulate(obj, alg, 10, fits + 1, 0)


@pytest.mark.parametrize("dw_min", [1e-50, 1e-12, 1e-9])
def test_pulses_per_write_capped(dw_min):
    obj, alg = _setup(dw_min)
    with pytest.raises(InputError, match=r"dw_min: .*pulses per write") as e:
        simulation.simulate(obj, alg, 10, 4, 0)
    assert e.value.param == "dw_min"
    # lr |g| / dw_min with |g| <= L max|w - w*| + 3 noise = 1.5 + 0.9 on (-1, 1): 0.024 / dw_min pulses
    assert f"{0.024 / dw_min:.3g}" in str(e.value)


def test_pulse_cap_spares_max_bl_trains_and_two_array_residual():
    from aimc_theory.pulse_trains import PulseTrains
    for obj, alg in (_setup(1e-9, max_bl=8), _setup(1e-9, PulseTrains(desired_bl=8))):
        simulation.check_pulses(obj, alg)                       # no error: their pulses are capped
    obj, alg = _setup(1e-12, algorithm="residual-learning")
    with pytest.raises(InputError, match="dw_min"):
        simulation.check_pulses(obj, alg)
    obj, alg = _setup(1e-3)
    simulation.check_pulses(obj, alg)


# -- the Python API of simulate -------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, param", [(dict(seed=-1), "seed"), (dict(seed=2 ** 63), "seed"), (dict(seed=1.5), "seed"),
                                       (dict(seed="1"), "seed"), (dict(w0="a"), "w0"), (dict(dtype="foo"), "dtype"),
                                       (dict(dtype=None), "dtype"), (dict(burn_in=None), "burn_in"),
                                       (dict(burn_in=float("nan")), "burn_in"), (dict(burn_in=1.0), "burn_in")])
def test_simulate_arguments_raise_input_error_naming_them(kw, param):
    obj, alg = _setup()
    args = dict(seed=0) | kw
    with pytest.raises(InputError) as e:
        simulation.simulate(obj, alg, 10, 4, **args)
    assert e.value.param == param


def test_simulate_accepts_the_largest_seed():
    obj, alg = _setup()
    res = simulation.simulate(obj, alg, 10, 4, 2 ** 63 - 1)
    assert np.all(np.isfinite(res.mean))
    assert simulation.check_seed(np.int64(7)) == 7


# -- the network path -------------------------------------------------------------------------------------

def _small_dataset(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return data.Dataset("small", rng.random((n, 16)), np.arange(n) % 4, rng.random((20, 16)), np.arange(20) % 4)


def test_batch_larger_than_training_set_refused():
    with pytest.raises(InputError, match=r"batch_size: must be an integer in \[1, 60\]"):
        network.train(_small_dataset(), "analog-sgd", device.Device(response.softbounds()), batch_size=100, hidden=(4,))


def test_diverging_lr_stops_naming_lr():
    with pytest.raises(InputError, match=r"lr: training diverged") as e:
        network.train(_small_dataset(), "analog-sgd", device.Device(response.softbounds()), lr=1e6, hidden=(8,))
    assert e.value.param == "lr"
    res = network.train(_small_dataset(), "analog-sgd", device.Device(response.softbounds()), lr=0.1, hidden=(8,))
    assert np.isfinite(res.train_loss[-1])


def test_huge_hidden_refused_with_the_estimate(monkeypatch):
    monkeypatch.setattr(runtime, "memory_limits", lambda: {"MemAvailable": 64 << 30})
    data_set = _small_dataset()
    t0 = time.process_time()        # CPU of this process: refused before any allocation, also on a loaded machine
    with pytest.raises(InputError, match=r"hidden: 10,002,000,000 weights .* need about .*GiB .*64.0 GiB") as e:
        network.train(data_set, "analog-sgd", device.Device(response.softbounds()), hidden=(100000, 100000))
    assert time.process_time() - t0 < 2 and e.value.param == "hidden"


def test_network_pulse_cap():
    with pytest.raises(InputError, match="dw_min: .*pulses per write"):
        network.train(_small_dataset(), "analog-sgd", device.Device(response.softbounds(), dw_min=1e-9), hidden=(4,))


# -- data files ------------------------------------------------------------------------------------------

def _idx(arr: np.ndarray, code: int = 0x08) -> bytes:
    return bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape) + arr.tobytes()


def _mnist_dir(d: Path, x=None, y=None, gz=False, images: bytes | None = None, labels: bytes | None = None) -> str:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (20, 4, 4), dtype=np.uint8) if x is None else x
    y = (np.arange(x.shape[0]) % 3).astype(np.uint8) if y is None else y
    d.mkdir(exist_ok=True)
    good_x, good_y = _idx(rng.integers(0, 256, (20, 4, 4), dtype=np.uint8)), _idx((np.arange(20) % 3).astype(np.uint8))
    for name, body in (("train-images-idx3-ubyte", images if images is not None else _idx(x)),
                       ("train-labels-idx1-ubyte", labels if labels is not None else _idx(y)),
                       ("t10k-images-idx3-ubyte", good_x), ("t10k-labels-idx1-ubyte", good_y)):
        if gz and name.startswith("train-images") and images is None:
            (d / (name + ".gz")).write_bytes(gzip.compress(body))
        elif name.startswith("train-images") and images is not None and body[:2] == b"\x1f\x8b":
            (d / (name + ".gz")).write_bytes(body)
        else:
            (d / name).write_bytes(body)
    return str(d)


def _one_line_error(directory) -> InputError:
    with pytest.raises(InputError) as e:
        data.load(directory)
    assert e.value.param == "dataset" and "\n" not in str(e.value)
    return e.value


def test_good_idx_directory_loads(tmp_path):
    ds = data.load(_mnist_dir(tmp_path / "ok", gz=True))
    assert ds.x_train.shape == (20, 16) and ds.n_classes == 3 and 0 <= ds.x_train.min() <= ds.x_train.max() <= 1


@pytest.mark.parametrize("bad, match", [(200, "only 4 of those 201 classes occur"), (-1, r"classes 0..K-1 \(got -1")])
def test_labels_outside_the_classes_refused(tmp_path, bad, match):
    y = (np.arange(20) % 3).astype(np.int16)
    y[5] = bad
    labels = _idx(y.astype(np.uint8), 0x08) if bad >= 0 else _idx(y.astype(np.int8), 0x09)
    assert re.search(match, str(_one_line_error(_mnist_dir(tmp_path / "l", labels=labels))))


def test_pixels_beyond_grey_levels_refused(tmp_path):
    x = np.zeros((20, 4, 4), dtype=">i4")
    x[0, 0, 0] = 2 ** 31 - 1
    assert "0..255" in str(_one_line_error(_mnist_dir(tmp_path / "p", images=_idx(x, 0x0C))))


def test_gzip_bomb_refused_before_allocating(tmp_path):
    header = bytes([0, 0, 8, 3]) + struct.pack(">III", 6_000_000, 28, 28)        # declares 4.7 GB
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = co.compress(header) + co.compress(b"\0" * (8 << 20)) + co.flush()
    err = _one_line_error(_mnist_dir(tmp_path / "b", images=bomb))
    assert "4,704,000,000 bytes" in str(err) and "limit" in str(err)


def test_gzip_with_more_data_than_declared_stops_reading(tmp_path):
    co = zlib.compressobj(9, zlib.DEFLATED, 31)          # declares 20 images, holds 64 MB of zeros
    lie = co.compress(bytes([0, 0, 8, 3]) + struct.pack(">III", 20, 4, 4)) + co.compress(b"\0" * (64 << 20)) + co.flush()
    assert "trailing bytes" in str(_one_line_error(_mnist_dir(tmp_path / "t", images=lie)))


def test_corrupt_gzip_empty_and_tiny_images_are_one_line(tmp_path):
    body = bytearray(gzip.compress(_idx(np.zeros((20, 4, 4), np.uint8))))
    body[-8:-4] = b"\x00\x00\x00\x00" if body[-8:-4] != b"\x00\x00\x00\x00" else b"\x01\x00\x00\x00"   # CRC
    assert "not a valid gzip file" in str(_one_line_error(_mnist_dir(tmp_path / "c", images=bytes(body))))
    body = bytearray(gzip.compress(_idx(np.zeros((20, 4, 4), np.uint8))))
    body[10:12] = b"\xff\xff"                       # the first deflate block: zlib.error "invalid block type"
    assert "invalid block type" in str(_one_line_error(_mnist_dir(tmp_path / "c2", images=bytes(body))))
    assert "no images" in str(_one_line_error(_mnist_dir(tmp_path / "z", x=np.zeros((0, 4, 4), np.uint8),
                                                         y=np.zeros(0, np.uint8))))
    assert "1x1" in str(_one_line_error(_mnist_dir(tmp_path / "o", x=np.zeros((20, 1, 1), np.uint8))))


def test_fit_reads_a_bounded_number_of_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(fit, "MAX_DATA_BYTES", 1 << 16)
    big = tmp_path / "big.csv"
    big.write_text("direction,pulse,w\n" + "up,1,0.1\n" * 20000)
    with pytest.raises(InputError, match=r"data: .*holds more than 0.0625 MiB"):
        fit.read(big)
    if os.path.exists("/dev/zero"):
        with pytest.raises(InputError, match="holds more than"):
            fit.read("/dev/zero")


def test_calibration_sized_by_its_measured_costs(monkeypatch):
    from aimc_theory import calibration
    dev = device.Device(response.softbounds(), dw_min=1e-3)
    with pytest.raises(InputError, match=r"pulses: 100,000,000 pulses on 1,000,000 devices .*limit is 24 h"):
        calibration.zero_shift(dev, 0.5, 10 ** 8, devices=10 ** 6)
    monkeypatch.setattr(runtime, "memory_limits", lambda: {"RLIMIT_AS": 10 << 20})
    with pytest.raises(InputError, match=r"chains: 1,000,000 devices need .*RLIMIT_AS"):
        calibration.zero_shift(dev, 0.5, 10, devices=10 ** 6)
