"""The NumPy network path: gradients against finite differences, the IDX loader and its errors, the
built-in data set, and short seeded training runs with analog tiles."""
import gzip
import json

import numpy as np
import pytest

from aimc_theory import data, device, network, response
from aimc_theory.cli import main
from aimc_theory.errors import InputError
from aimc_theory.pulse_trains import PulseTrains


def test_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    layers = network.init_weights((6, 5, 4, 3), rng, scale=2.0)
    layers = [(W, rng.standard_normal(b.shape) * 0.1) for W, b in layers]
    x = rng.uniform(0, 1, (7, 6))
    y = rng.integers(0, 3, 7)
    loss, grads = network.loss_and_grads(layers, x, y)
    h = 1e-6
    for k, (W, b) in enumerate(layers):
        a, delta = grads[k]
        analytic = delta.T @ a                     # sum_b delta_b a_b^T
        for (i, j) in [(0, 0), (W.shape[0] - 1, W.shape[1] - 1), (1, 2)]:
            Wp, Wm = W.copy(), W.copy()
            Wp[i, j] += h
            Wm[i, j] -= h
            lp = network.loss_and_grads([(Wp, b) if m == k else layers[m] for m in range(3)], x, y)[0]
            lm = network.loss_and_grads([(Wm, b) if m == k else layers[m] for m in range(3)], x, y)[0]
            assert analytic[i, j] == pytest.approx((lp - lm) / (2 * h), rel=1e-6, abs=1e-9)
        bp = b.copy()
        bp[0] += h
        bm = b.copy()
        bm[0] -= h
        lp = network.loss_and_grads([(W, bp) if m == k else layers[m] for m in range(3)], x, y)[0]
        lm = network.loss_and_grads([(W, bm) if m == k else layers[m] for m in range(3)], x, y)[0]
        assert delta.sum(axis=0)[0] == pytest.approx((lp - lm) / (2 * h), rel=1e-6, abs=1e-9)


def _write_idx(path, arr, gz=False, magic=None, truncate=0):
    arr = np.asarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 0x08, arr.ndim]) if magic is None else magic
    header += b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
    body = header + arr.tobytes()
    if truncate:
        body = body[:-truncate]
    path.write_bytes(gzip.compress(body) if gz else body)


def _idx_dir(tmp_path, n_train=20, n_test=10, gz=True, **bad):
    rng = np.random.default_rng(1)
    _write_idx(tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else "")), rng.integers(0, 256, (n_train, 28, 28)),
               gz, **bad)
    _write_idx(tmp_path / ("train-labels-idx1-ubyte" + (".gz" if gz else "")), rng.integers(0, 10, n_train), gz)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28)))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", rng.integers(0, 10, n_test))
    return tmp_path


def test_idx_loader_gzipped_and_plain(tmp_path):
    ds = data.load_idx_dir(_idx_dir(tmp_path))
    assert ds.x_train.shape == (20, 784) and ds.x_test.shape == (10, 784) and ds.x_train.max() <= 1.0
    assert ds.y_train.dtype == np.int64


@pytest.mark.parametrize("bad, message", [
    (dict(magic=bytes([0, 0, 0x08, 9])), "magic"),
    (dict(magic=bytes([1, 2, 3, 4])), "magic"),
    (dict(truncate=5), "truncated"),
])
def test_idx_loader_rejects_bad_files(tmp_path, bad, message):
    with pytest.raises(InputError, match=message):
        data.load_idx_dir(_idx_dir(tmp_path, **bad))


def test_idx_loader_count_mismatch_and_missing(tmp_path):
    d = _idx_dir(tmp_path)
    _write_idx(d / "t10k-labels-idx1-ubyte", np.zeros(9))
    with pytest.raises(InputError, match="10 images but .* 9 labels"):
        data.load_idx_dir(d)
    (d / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(InputError, match="t10k-labels"):
        data.load_idx_dir(d)
    (d / "broken.gz").write_bytes(b"\x1f\x8bnot gzip")
    with pytest.raises(InputError, match="gzip"):
        data.read_idx(d / "broken.gz")
    with pytest.raises(InputError, match="--dataset"):
        data.load("no-such-thing")


def test_builtin_digits_are_deterministic_and_learnable():
    a, b = data.digits(200, 50, seed=3), data.digits(200, 50, seed=3)
    assert np.array_equal(a.x_train, b.x_train) and set(np.unique(a.y_train)) == set(range(10))
    r = network.train(data.digits(1000, 200), "digital-sgd", device.Device(response.ideal()), epochs=3, lr=0.5)
    assert r.test_accuracy > 0.6 and r.train_loss[-1] < r.train_loss[0]


def test_training_is_bit_reproducible_and_uses_the_shared_algorithms():
    ds = data.digits(300, 100)
    dev = device.Device(response.power(tau=0.6, gamma=0.5))
    runs = [network.train(ds, "residual-learning", dev, epochs=1, lr=0.1, seed=4, hidden=(32,), options={"beta": 0.01})
            for _ in range(2)]
    assert runs[0].train_loss == runs[1].train_loss
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(runs[0].final_weights, runs[1].final_weights))
    pulsed = device.Device(response.power(tau=0.6, gamma=0.5), dw_min=1e-3, trains=PulseTrains(desired_bl=8))
    for alg in ("analog-sgd", "residual-learning-v2", "e-rider"):
        r = network.train(ds, alg, pulsed, epochs=1, lr=0.1, hidden=(16,))
        assert np.isfinite(r.train_loss[0])


def test_weights_must_fit_the_device_range():
    with pytest.raises(InputError, match="weight range"):
        network.train(data.digits(100, 20), "analog-sgd", device.Device(response.softbounds(tau=0.01)), hidden=(8,))


def test_train_command(capsys, tmp_path):
    code = main(["train", "--dataset", "digits", "--compare", "digital-sgd,analog-sgd", "--hidden", "16",
                 "--epochs", "1", "--json", "--out", str(tmp_path)])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and {"test_accuracy", "train_loss", "seconds_per_epoch"} <= set(out)
    assert [row["algorithm"] for row in out["table"]] == ["digital-sgd", "analog-sgd"]
    assert (tmp_path / "figures" / "train_digits.png").exists()
    assert main(["train", "--dataset", "/nonexistent"]) == 2
