"""The NumPy network path: gradients against finite differences, the IDX loader and its errors, the
built-in data set, and short seeded training runs with analog tiles."""
import gzip
import json

import numpy as np
import pytest

from aimc_theory import architectures, data, device, network, response
from aimc_theory.cli import main
from aimc_theory.errors import InputError
from aimc_theory.pulse_trains import PulseTrains


def _check_gradients(net, x, y, rng, n_entries=3):
    """Every tile's rank-1 factors sum to the finite-difference gradient; the bias gradients too."""
    params = [(W, 0.1 * rng.standard_normal(b.shape)) for W, b in net.init(rng, scale=2.0)]
    loss, grads = net.loss_and_grads(params, x, y)
    h = 1e-6

    def loss_with(k, W, b):
        return net.loss_and_grads([(W, b) if m == k else params[m] for m in range(len(params))], x, y)[0]

    for k, (W, b) in enumerate(params):
        a, delta = grads[k]
        analytic = delta.T @ a                     # sum over rows r of delta_r a_r^T
        assert analytic.shape == W.shape
        picks = [(0, 0), (W.shape[0] - 1, W.shape[1] - 1)] + [tuple(rng.integers(0, W.shape)) for _ in range(n_entries)]
        for (i, j) in picks:
            Wp, Wm = W.copy(), W.copy()
            Wp[i, j] += h
            Wm[i, j] -= h
            assert analytic[i, j] == pytest.approx((loss_with(k, Wp, b) - loss_with(k, Wm, b)) / (2 * h),
                                                   rel=1e-5, abs=1e-9)
        bp, bm = b.copy(), b.copy()
        bp[-1] += h
        bm[-1] -= h
        assert delta.sum(axis=0)[-1] == pytest.approx((loss_with(k, W, bp) - loss_with(k, W, bm)) / (2 * h),
                                                      rel=1e-5, abs=1e-9)


def test_fcn_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    net = architectures.fcn(6, 3, hidden=(5, 4))
    _check_gradients(net, rng.uniform(0, 1, (7, 6)), rng.integers(0, 3, 7), rng)


def test_cnn_backward_matches_finite_differences():
    """im2col convolutions, max-pooling and tanh: 12x12 images, conv 5x5 (3) -> pool -> dense 6 -> 4."""
    rng = np.random.default_rng(1)
    net = architectures.Architecture("cnn-small", (12, 12, 1), (architectures.Conv(3, 5, "tanh", 2),
                                                                architectures.Conv(2, 3, "sigmoid", 2),
                                                                architectures.Dense(6, "tanh"),
                                                                architectures.Dense(4, "none")))
    assert net.shapes == [(3, 25), (2, 27), (6, 2), (4, 6)]
    _check_gradients(net, rng.uniform(0, 1, (5, 144)), rng.integers(0, 4, 5), rng)


def test_p1_cnn_shapes_and_errors():
    net = architectures.cnn(784, 10)
    assert net.shapes == [(16, 25), (32, 400), (128, 512), (10, 128)]
    with pytest.raises(InputError, match="square"):
        architectures.cnn(780, 10)
    with pytest.raises(InputError, match="^architecture: "):
        architectures.build("resnet", 784, 10)


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
    with pytest.raises(InputError, match="^dataset: "):
        data.load("no-such-thing")


def test_builtin_digits_are_deterministic_and_learnable():
    a, b = data.digits(200, 50, seed=3), data._draw_digits(200, 50, seed=3)      # kept, and drawn anew
    assert np.array_equal(a.x_train, b.x_train) and set(np.unique(a.y_train)) == set(range(10))
    assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_test, b.y_test)
    a.x_train[0, 0] = 7.0                    # a caller's copy: the kept set does not change
    assert data.digits(200, 50, seed=3).x_train[0, 0] == b.x_train[0, 0]
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


def test_device_to_device_variation_in_the_network_is_seeded():
    from aimc_theory.calibration import Variation
    ds = data.digits(300, 100)
    dev = device.Device(response.power(tau=0.6, gamma=0.5))
    kw = dict(epochs=1, lr=0.05, seed=3, hidden=(16,), options={"beta": 0.01})
    a = network.train(ds, "residual-learning", dev, dev, variation=Variation(0.3, 0.1), **kw)
    b = network.train(ds, "residual-learning", dev, dev, variation=Variation(0.3, 0.1), **kw)
    c = network.train(ds, "residual-learning", dev, dev, **kw)
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(a.final_weights, b.final_weights))
    assert not np.array_equal(a.final_weights[0][0], c.final_weights[0][0])


def test_cnn_trains_on_the_builtin_digits():
    ds = data.digits(400, 100)
    r = network.train(ds, "analog-sgd", device.Device(response.softbounds(tau=1.0)), epochs=2, lr=0.1, batch_size=8,
                      architecture="cnn")
    assert r.test_curve[-1] > 0.3 and [W.shape for W, _ in r.final_weights] == [(16, 25), (32, 400), (128, 512), (10, 128)]


def test_fused_digital_step_is_the_algorithms_update(monkeypatch):
    """Digital SGD writes W - lr sum_r delta_r a_r^T with one BLAS call into W: the same weights (to
    rounding) as algorithms.digital_sgd's update, which runs when W cannot be written in place."""
    ds = data.digits(200, 50)
    kw = dict(epochs=1, lr=0.3, seed=5, hidden=(16,))
    fused = network.train(ds, "digital-sgd", device.Device(response.ideal()), **kw)
    monkeypatch.setattr(network, "_dgemm", lambda: None)
    plain = network.train(ds, "digital-sgd", device.Device(response.ideal()), **kw)
    for (Wa, ba), (Wb, bb) in zip(fused.final_weights, plain.final_weights):
        assert np.allclose(Wa, Wb, rtol=0, atol=1e-11) and np.allclose(ba, bb, rtol=0, atol=1e-11)
    assert fused.train_loss == pytest.approx(plain.train_loss, rel=1e-9)


def test_blas_threads_are_set_for_training_and_restored():
    from scipy.linalg import blas  # noqa: F401  (training's dgemm: its OpenBLAS loaded before the counts are read)
    from aimc_theory import runtime
    # from 2 threads (the tests run with OPENBLAS_NUM_THREADS=1, tests/conftest.py): 1 during training, 2 after
    with runtime.blas_threads(2):
        before = runtime.blas_threads_now()
        assert all(t == 2 for t in before)
        seen = []
        network.train(data.digits(60, 20), "digital-sgd", device.Device(response.ideal()), hidden=(8,),
                      blas_threads=1, progress=lambda _: seen.append(runtime.blas_threads_now()))
        assert runtime.blas_threads_now() == before
        assert seen and all(t == 1 for t in seen[-1])
        with runtime.blas_threads(1):
            assert all(t == 1 for t in runtime.blas_threads_now())
        assert runtime.blas_threads_now() == before


def test_numba_backend_trains_with_pulse_trains():
    pytest.importorskip("numba")
    ds = data.digits(200, 50)
    pulsed = device.Device(response.power(tau=0.6, gamma=1.0), dw_min=1e-3, sigma_c=0.3,
                           trains=PulseTrains(desired_bl=8))
    runs = [network.train(ds, "residual-learning", pulsed, pulsed, epochs=1, lr=0.1, hidden=(16,), seed=2,
                          options={"beta": 0.01}, backend="numba") for _ in range(2)]
    assert runs[0].train_loss == runs[1].train_loss and np.isfinite(runs[0].train_loss[0])     # seeded
    with pytest.raises(InputError, match="backend"):
        network.train(ds, "analog-sgd", device.Device(response.softbounds()), hidden=(8,), backend="numba")
    with pytest.raises(InputError, match="backend"):
        network.train(ds, "analog-sgd", pulsed, hidden=(8,), backend="gpu")


@pytest.mark.parametrize("case", ["rl-expected", "rl-expected-every-3", "rl-pulsed-numba-one-column", "others"])
def test_in_place_writes_train_the_same_bits(monkeypatch, case):
    """Training writes weights and state in place (Rank1Batch.inplace): the same losses, test accuracies and final
    weights as with a new array for every write, for RL v1 on expected-update devices (a read-out made by the fused
    transfer, and by mix on the steps without a transfer), on pulse-train devices with the compiled transfer run
    step after step on its own output, and for the other update rules that write through the flag."""
    from aimc_theory import update_models as um
    ds = data.digits(160, 40)
    eu = device.Device(response.power(tau=0.6, gamma=1.0))
    sb = device.Device(response.softbounds(sp=-0.1))
    pulsed = device.Device(response.power(tau=0.6, gamma=1.0), dw_min=1e-3, sigma_c=0.3,
                           trains=PulseTrains(desired_bl=31))
    runs = {
        "rl-expected": [("residual-learning", eu, eu, {"beta": 0.05, "gamma": 0.4, "read_noise": 0.01}, {})],
        "rl-expected-every-3": [("residual-learning", eu, sb, {"beta": 0.05, "gamma": 0.4, "transfer_every": 3}, {})],
        "rl-pulsed-numba-one-column": [("residual-learning", pulsed, pulsed,
                                        {"beta": 0.05, "gamma": 0.4, "columns_per_transfer": 1}, {"backend": "numba"}),
                                       ("residual-learning", pulsed, pulsed, {"beta": 0.05, "gamma": 0.4,
                                        "columns_per_transfer": 2, "transfer_every": 2}, {"backend": "numba"}),
                                       ("residual-learning", pulsed, pulsed, {"beta": 0.05, "gamma": 0.0},
                                        {"backend": "numba"})],
        "others": [("analog-sgd", eu, None, {}, {}), ("rider", eu, eu, {}, {}), ("tt-v2", eu, pulsed, {}, {})],
    }[case]
    if "numba" in case:
        pytest.importorskip("numba")
    assert 64 * 300 >= um.FUSED_MIN_SIZE            # the first layer takes the compiled in-place passes
    fresh = network.Rank1Batch
    from aimc_theory import residual_learning as rl
    remixed, remix = [], rl.remix
    monkeypatch.setattr(rl, "remix", lambda *a: remixed.append(remix(*a)) or remixed[-1])
    monkeypatch.setattr(rl, "REMIX_FRACTION", 1)          # at lr 0.1 a step writes ~1/3 of the first layer
    for alg, dev, main, opts, kw in runs:
        got = []
        for in_place in (True, False):
            monkeypatch.setattr(network, "Rank1Batch", fresh if in_place else lambda X, D, inplace=False: fresh(X, D))
            got.append(network.train(ds, alg, dev, main, epochs=2, lr=0.1, hidden=(300,), seed=4, options=opts,
                                     **kw))
        monkeypatch.undo()
        monkeypatch.setattr(rl, "remix", lambda *a: remixed.append(remix(*a)) or remixed[-1])
        monkeypatch.setattr(rl, "REMIX_FRACTION", 1)
        a, b = got
        assert a.train_loss == b.train_loss and a.test_curve == b.test_curve, alg
        assert all(np.array_equal(x, y) for (x, _), (y, _) in zip(a.final_weights, b.final_weights)), alg
    # the one-column run redid its first layer's read-out only where the step wrote (Rank1Batch.touched)
    assert (sum(remixed) > 0) == (case == "rl-pulsed-numba-one-column"), len(remixed)
