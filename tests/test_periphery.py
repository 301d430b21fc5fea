"""The reference simulator's tile periphery in the network path (aimc_theory.periphery): off changes no bit; the
learned output scale's gradient against finite differences; the IO on hand examples; the tile split; torch's
init; the stratified subset; the options labelled in the results; bad values named."""
import json

import numpy as np
import pytest

from aimc_theory import architectures, data, device, network, response
from aimc_theory import periphery as P
from aimc_theory.cli import main
from aimc_theory.errors import InputError
from aimc_theory.pulse_trains import PulseTrains


# -- off: the same bits as before the periphery existed ------------------------------------------------------

# measured with the code before aimc_theory.periphery existed (digits 300/100, hidden 16, one epoch)
BEFORE = {"expected": ([2.295960808860882], [0.16]), "pulses": ([2.261600872124606], [0.34])}


def _runs(**kw):
    ds = data.digits(300, 100)
    exp = network.train(ds, "analog-sgd", device.Device(response.power(tau=0.6, gamma=1.0)), epochs=1, lr=0.1,
                        seed=1, hidden=(16,), **kw)
    pul = network.train(ds, "analog-sgd", device.Device(response.power(tau=0.6, gamma=1.0), dw_min=1e-3,
                                                        trains=PulseTrains(desired_bl=8)),
                        epochs=1, lr=0.1, seed=2, hidden=(16,), **kw)
    return {"expected": exp, "pulses": pul}


def test_periphery_off_changes_no_bit():
    plain = _runs()
    for name, r in plain.items():
        # recorded on this project's machine class: another BLAS may round the last bits differently (the
        # exact equality that matters, off vs absent, is asserted below in one process)
        assert r.train_loss == pytest.approx(BEFORE[name][0], rel=1e-9) and r.test_curve == BEFORE[name][1], name
        assert r.out_scale == [] and r.init == "glorot" and r.periphery == P.OFF.as_dict()
    for kw in ({"periphery": P.OFF}, {"periphery": P.Periphery(), "init": "glorot"},
               {"periphery": P.periphery(False, "perfect", 0)}):
        for name, r in _runs(**kw).items():
            assert r.train_loss == plain[name].train_loss and r.test_curve == plain[name].test_curve
            assert all(np.array_equal(W, W0) and np.array_equal(b, b0)
                       for (W, b), (W0, b0) in zip(r.final_weights, plain[name].final_weights)), (kw, name)


# -- the learned output scale ----------------------------------------------------------------------------------

def test_output_scale_and_tile_gradients_match_finite_differences():
    """With perfect IO, two tiles per layer (max_input_size 3 splits 6 -> 3 + 3, 5 -> 3 + 2) and scales alpha_t != 1:
    dL/dalpha_t from the recorded reads, and the tiles' rank-1 factors (x[C_t], alpha_t delta[R_t]) summed into
    the weight gradient, equal central differences of the loss. Forgetting alpha in the backward product or in
    the factors, or a wrong column block, fails this."""
    rng = np.random.default_rng(0)
    net = architectures.fcn(6, 3, hidden=(5,))
    params = [(W, 0.1 * rng.standard_normal(b.shape)) for W, b in net.init(rng, scale=2.0)]
    x, y = rng.uniform(0, 1, (7, 6)), rng.integers(0, 3, 7)
    tiles = P.Tiles(P.periphery(out_scaling=True, max_input_size=3), [W.shape for W, _ in params],
                    np.random.default_rng(1))
    assert [len(t) for t in tiles.layout] == [2, 2]
    tiles.alpha = [np.array([0.7, 1.3]), np.array([1.6, 0.4])]
    tiles.record = True
    loss, grads = net.loss_and_grads(params, x, y, tiles)
    h = 1e-6

    def loss_at(k=None, t=None, dalpha=0.0, W=None):
        saved = [a.copy() for a in tiles.alpha]
        if k is not None and t is not None:
            tiles.alpha[k][t] += dalpha
        ps = params if W is None else [(W, params[0][1]), params[1]]
        out = net.loss_and_grads(ps, x, y, tiles)[0]
        tiles.alpha = saved
        return out

    for k, (a, delta) in enumerate(grads):
        analytic = tiles.scale_gradient(k, delta)
        tiles.record = False
        for t in range(2):
            fd = (loss_at(k, t, h) - loss_at(k, t, -h)) / (2 * h)
            assert analytic[t] == pytest.approx(fd, rel=1e-6, abs=1e-10), (k, t)
        tiles.record = True
        net.loss_and_grads(params, x, y, tiles)        # restore the reads of the unperturbed pass
    # layer 1's weight gradient passes through layer 2's backward product (with alpha) and its own factors
    a, delta = grads[0]
    G = np.zeros_like(params[0][0])
    for (rs, cs), (at, dt) in zip(tiles.layout[0], tiles.factors(0, a, delta)):
        G[rs, cs] += dt.T @ at
    tiles.record = False
    W = params[0][0]
    for i, j in [(0, 0), (4, 5), (2, 3), (1, 2)]:
        Wp, Wm = W.copy(), W.copy()
        Wp[i, j] += h
        Wm[i, j] -= h
        assert G[i, j] == pytest.approx((loss_at(W=Wp) - loss_at(W=Wm)) / (2 * h), rel=1e-6, abs=1e-10)


def test_output_scale_is_trained_and_recorded_per_epoch():
    ds = data.digits(200, 50)
    dev = device.Device(response.power(tau=0.6, gamma=1.0))
    r = network.train(ds, "analog-sgd", dev, epochs=2, lr=0.1, seed=3, hidden=(8,),
                      periphery=P.periphery(out_scaling=True, max_input_size=512))
    assert len(r.out_scale) == 2 and all(len(e) == 2 for e in r.out_scale)
    assert all(s != 1.0 and np.isfinite(s) for e in r.out_scale for s in e)
    assert r.as_dict()["out_scale_per_epoch"] == r.out_scale


# -- IO ----------------------------------------------------------------------------------------------------------

def test_io_quantization_by_hand():
    """x = (0.27, -0.6), W = [[0.53, -0.25], [1, 1.93]], no noise. Noise management: s = 0.6, u = x/s =
    (0.45, -1); DAC step 1/126 of the range 2 = 1/63: codes rint(28.35) = 28 and -63; v = W u = (0.48556, -1.48556);
    ADC step 1/510 of 24 = 4/85: codes rint(10.318) = 10, rint(-31.568) = -32; y = s (4/85) codes. The exact
    product is (0.2931, -0.888); steps taken relative to the bound instead (1/126, 12/510) would give
    (0.29647, -0.88941)."""
    io = P.IOParameters(out_noise=0.0)
    W = np.array([[0.53, -0.25], [1.0, 1.93]])
    y = P.analog_mvm(W, np.array([[0.27, -0.6]]), io, np.random.default_rng(0))
    assert y[0] == pytest.approx(0.6 * 4 / 85 * np.array([10, -32]), abs=1e-12)
    assert P.analog_mvm(W, np.array([[0.27, -0.6]]), P.PERFECT, None)[0] == pytest.approx([0.2931, -0.888])
    assert np.all(P.analog_mvm(W, np.zeros((2, 2)), P.IOParameters(), np.random.default_rng(0)) == 0.0)


def test_io_output_clipping_and_bound_management():
    """A read of 30 saturates the ADC at 12: without bound management y = 12; with it the input is halved until
    the read fits (r = 4: DAC code rint(63/4) = 16, v = 30 x 16/63 = 7.619, ADC code rint(161.90) = 162),
    y = 4 x 162 x 4/85 (without the DAC's rounding it would be 4 x 159 x 4/85). A read of 1000 is still
    saturated at the last reduction r = 16 (the first r > 0.25 x 63): y = 16 x 12; the same with a large
    max_bm_res goes on halving until it fits."""
    io = P.IOParameters(out_noise=0.0)
    x = np.array([[1.0, 0.0]])
    assert P.analog_mvm(np.array([[30.0, 0.0]]), x, io, None)[0, 0] == pytest.approx(4 * 162 * 4 / 85)
    no_bm = P.IOParameters(out_noise=0.0, bound_management="none")
    assert P.analog_mvm(np.array([[30.0, 0.0]]), x, no_bm, None)[0, 0] == pytest.approx(12.0)
    assert P.analog_mvm(np.array([[-30.0, 0.0]]), x, no_bm, None)[0, 0] == pytest.approx(-12.0)
    assert P.analog_mvm(np.array([[1000.0, 0.0]]), x, io, None)[0, 0] == pytest.approx(16 * 12.0)
    far = P.IOParameters(out_noise=0.0, out_res=0.0, inp_res=0.0, max_bm_res=100.0)
    assert P.analog_mvm(np.array([[1000.0, 0.0]]), x, far, None)[0, 0] == pytest.approx(1000.0)


def test_io_output_noise_is_added_before_the_digital_rescaling():
    """W = 0: every output is out_noise xi in normalized units, times the noise-management scale s = max|x|:
    std 0.06 s, for s = 0.5 and 2 (noise added after the rescaling would give 0.06 for both). 20000 reads each,
    the sample std within 4 standard errors (0.06 s / sqrt(2 n))."""
    io = P.IOParameters(out_res=0.0, inp_res=0.0)
    rng = np.random.default_rng(5)
    n = 20000
    for s in (0.5, 2.0):
        X = np.zeros((n, 3))
        X[:, 1] = s
        y = P.analog_mvm(np.zeros((1, 3)), X, io, rng)[:, 0]
        assert abs(y.std() - 0.06 * s) < 4 * 0.06 * s / np.sqrt(2 * n)


def test_io_in_training_is_seeded_and_differs_from_perfect():
    ds = data.digits(200, 50)
    dev = device.Device(response.power(tau=0.6, gamma=1.0))
    kw = dict(epochs=1, lr=0.1, seed=2, hidden=(8,))
    a, b = (network.train(ds, "analog-sgd", dev, periphery=P.periphery(io="aihwkit"), **kw) for _ in range(2))
    assert a.train_loss == b.train_loss and all(np.array_equal(x[0], y[0])
                                                for x, y in zip(a.final_weights, b.final_weights))
    c = network.train(ds, "analog-sgd", dev, **kw)
    assert a.train_loss != c.train_loss and a.periphery["io"] == "aihwkit"


# -- tiles --------------------------------------------------------------------------------------------------------

def test_784_inputs_split_into_two_tiles_of_392():
    p = P.periphery(max_input_size=512)
    assert P.split_sizes(784, 512) == [392, 392] and P.split_sizes(785, 512) == [393, 392]
    assert P.split_sizes(256, 512) == [256] and P.split_sizes(784, 0) == [784]
    net = architectures.fcn(784, 10)
    tiles = P.Tiles(p, net.shapes, np.random.default_rng(0))
    assert [[(rs.stop - rs.start, cs.stop - cs.start) for rs, cs in t] for t in tiles.layout] == \
        [[(256, 392), (256, 392)], [(128, 256)], [(10, 128)]]
    assert tiles.layout[0][1][1] == slice(392, 784)


def test_split_tiles_write_the_same_elements_as_one_tile():
    """Expected-update Analog SGD writes every element with its own gradient entry: split into tiles of at most
    392 (digits: 784 -> 392 + 392) with exact reads and no scales, the run equals the unsplit one to rounding
    (a tile given another tile's columns or rows would not)."""
    ds = data.digits(200, 50)
    dev = device.Device(response.power(tau=0.6, gamma=1.0))
    kw = dict(epochs=1, lr=0.1, seed=4, hidden=(8,))
    one = network.train(ds, "analog-sgd", dev, **kw)
    split = network.train(ds, "analog-sgd", dev, periphery=P.periphery(max_input_size=392), **kw)
    assert split.periphery["max_input_size"] == 392
    assert split.train_loss == pytest.approx(one.train_loss, rel=1e-12) and split.test_curve == one.test_curve
    for (W, b), (W0, b0) in zip(split.final_weights, one.final_weights):
        assert np.allclose(W, W0, rtol=0, atol=1e-12) and np.allclose(b, b0, rtol=0, atol=1e-12)


# -- init -----------------------------------------------------------------------------------------------------------

def test_torch_init_bounds():
    net = architectures.fcn(784, 10)
    layers = net.init(np.random.default_rng(0), method="torch")
    for (W, b), (n_out, n_in) in zip(layers, net.shapes):
        lim = 1 / np.sqrt(n_in)
        assert np.abs(W).max() <= lim and np.abs(b).max() <= lim
        assert np.abs(W).max() > 0.99 * lim and np.abs(b).max() > 0.5 * lim and W.std() == pytest.approx(
            lim / np.sqrt(3), rel=0.05)
    glorot = net.init(np.random.default_rng(0))
    assert all(not b.any() for _, b in glorot)
    assert np.abs(glorot[0][0]).max() / np.abs(layers[0][0]).max() == pytest.approx(
        np.sqrt(6 / (784 + 256)) * np.sqrt(784), rel=0.01)
    r = network.train(data.digits(100, 20), "analog-sgd", device.Device(response.softbounds()), hidden=(8,),
                      init="torch")
    assert r.init == "torch" and r.as_dict()["init"] == "torch"


# -- subsets -----------------------------------------------------------------------------------------------------------

def test_subset_is_stratified_and_seeded():
    ds = data.digits(300, 100)
    a, b, c = (data.subset(ds, 50, 20, seed=s) for s in (7, 7, 8))
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_train, c.x_train)
    counts = np.bincount(ds.y_train, minlength=10)
    share = 50 * counts / counts.sum()
    got = np.bincount(a.y_train, minlength=10)
    assert got.sum() == 50 and np.all(np.abs(got - share) < 1)          # proportions, rounded
    assert np.bincount(a.y_test, minlength=10).tolist() == [2] * 10
    assert a.name == "digits-50-20" and a.x_train.shape == (50, 784)
    # the samples are the set's own (rows found in the original), no repeats
    rows = {r.tobytes() for r in ds.x_train}
    assert all(r.tobytes() in rows for r in a.x_train) and len({r.tobytes() for r in a.x_train}) == 50
    plain = data.subset(ds, 50, 20, seed=7, stratified=False)
    assert plain.x_train.shape == (50, 784) and data.subset(ds) is ds


def test_subset_refuses_sizes_beyond_the_set():
    ds = data.digits(100, 30)
    with pytest.raises(InputError, match=r"^train_size: .*\[10, 100\].*got 101"):
        data.subset(ds, 101, 10)
    with pytest.raises(InputError, match=r"^test_size: .*\[1, 30\].*got 31"):
        data.subset(ds, 50, 31)
    with pytest.raises(InputError, match=r"^train_size: .*at least its 10 classes"):
        data.subset(ds, 5, 10)


# -- the command ---------------------------------------------------------------------------------------------------------

def test_train_command_labels_the_periphery(capsys, tmp_path):
    args = ["train", "--dataset", "digits", "--train-size", "200", "--test-size", "50", "--hidden", "8",
            "--epochs", "1", "--out-scaling", "--io", "aihwkit", "--max-input-size", "512", "--init", "torch",
            "--response", "power", "-p", "gamma=1", "-p", "tau=0.6", "--out", str(tmp_path)]
    assert main(args + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["periphery"]["out_scaling"] is True and out["periphery"]["io"] == "aihwkit"
    assert out["periphery"]["max_input_size"] == 512 and out["periphery"]["forward"]["out_noise"] == 0.06
    assert out["periphery"]["backward"]["bound_management"] == "none"
    assert out["init"] == "torch" and out["subset"] == {"train_size": 200, "test_size": 50, "subset_seed": 2025}
    assert len(out["out_scale_per_epoch"]) == 1 and out["runs"][0]["periphery"] == out["periphery"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "learned output scale per tile, aihwkit IO, tiles of at most 512 columns" in text
    assert "init torch" in text and "subset, seed 2025" in text and "output scale per epoch" in text


def test_bad_periphery_values_name_the_parameter(capsys):
    for make, name in ((lambda: P.IOParameters(inp_res=1.5), "inp_res"),
                       (lambda: P.IOParameters(out_noise=-0.1), "out_noise"),
                       (lambda: P.IOParameters(noise_management="max"), "noise_management"),
                       (lambda: P.IOParameters(inp_bound=2.0), "inp_bound"),
                       (lambda: P.Periphery(max_input_size=-1), "max_input_size"),
                       (lambda: P.Periphery(out_scaling="yes"), "out_scaling"),
                       (lambda: P.Periphery(backward=P.IOParameters()), "backward"),
                       (lambda: P.periphery(io="ideal"), "io")):
        with pytest.raises(InputError) as exc:
            make()
        assert exc.value.param == name
    ds = data.digits(60, 20)
    dev = device.Device(response.softbounds())
    with pytest.raises(InputError, match="^init: "):
        network.train(ds, "analog-sgd", dev, hidden=(4,), init="he")
    with pytest.raises(InputError, match="^periphery: "):
        network.train(ds, "analog-sgd", dev, hidden=(4,), periphery="aihwkit")
    assert main(["train", "--dataset", "digits", "--io", "ideal"]) == 2
    assert "--io" in capsys.readouterr().err
    assert main(["train", "--dataset", "digits", "--max-input-size", "-1"]) == 2
    assert "--max-input-size" in capsys.readouterr().err
    assert main(["train", "--dataset", "digits", "--train-size", "5000"]) == 2
    assert "--train-size" in capsys.readouterr().err


# -- the weight mapping (aihwkit MappingParameter.weight_scaling_omega) and the lr schedule ------------------------

def test_mapping_stores_w_omega_over_max_and_reads_the_logical_product():
    """The stored tile weights are W0 omega / max|W0| (per tile, or per output row column-wise), the learned scale
    starts at 1 (aihwkit set_scales) and a perfect-IO read times the mapping scale is the unmapped product."""
    rng = np.random.default_rng(3)
    W0 = rng.uniform(-0.2, 0.2, (4, 6))
    X = rng.uniform(0, 1, (5, 6))
    t = P.Tiles(P.Periphery(out_scaling=True, weight_scaling_omega=0.3), [W0.shape], np.random.default_rng(0))
    t.alpha[0][0] = 0.5                                         # map_weights restarts it at 1
    stored = t.map_weights(0, 0, W0)
    np.testing.assert_allclose(stored, W0 * 0.3 / np.abs(W0).max(), rtol=1e-15)
    assert np.abs(stored).max() == pytest.approx(0.3, rel=1e-15) and t.alpha[0][0] == 1.0
    assert t.mapping[0][0] == pytest.approx(np.abs(W0).max() / 0.3) and t.lr_scale(0, 0) == 1.0
    np.testing.assert_allclose(t.forward(0, X, stored), X @ W0.T, rtol=1e-13)
    # column-wise: one scale per output row, every row's max at omega; split tiles map each on its own
    c = P.Tiles(P.Periphery(weight_scaling_omega=0.3, weight_scaling_columnwise=True, max_input_size=3),
                [W0.shape], np.random.default_rng(0))
    blocks = [c.map_weights(0, k, W0[rs, cs]) for k, (rs, cs) in enumerate(c.layout[0])]
    for k, (rs, cs) in enumerate(c.layout[0]):
        np.testing.assert_allclose(np.abs(blocks[k]).max(axis=1), 0.3, rtol=1e-15)
        np.testing.assert_allclose(c.mapping[0][k], np.abs(W0[rs, cs]).max(axis=1) / 0.3, rtol=1e-15)
    W = np.hstack(blocks)
    np.testing.assert_allclose(c.forward(0, X, W), X @ W0.T, rtol=1e-13)
    np.testing.assert_allclose(c.logical(0, W.copy()), W0, rtol=1e-14)
    # a zero block keeps the scale 1 (aihwkit: alpha[alpha == 0] = 1)
    z = P.Tiles(P.Periphery(weight_scaling_omega=0.3), [(2, 2)], np.random.default_rng(0))
    assert np.array_equal(z.map_weights(0, 0, np.zeros((2, 2))), np.zeros((2, 2))) and z.mapping[0][0] == 1.0


def test_mapping_update_sees_the_error_over_the_scale_and_backward_times_it():
    """aihwkit pre_update: the tile is written with (x, alpha delta / (m s)); pre_backward: the error entering the
    backward read is m alpha delta; with lr compensation s = 1 / mean m (and the tile's lr times s)."""
    rng = np.random.default_rng(4)
    W0 = rng.uniform(-0.1, 0.1, (3, 5))
    a, delta = rng.uniform(0, 1, (6, 5)), rng.standard_normal((6, 3))
    for columnwise in (False, True):
        for comp in (False, True):
            t = P.Tiles(P.Periphery(out_scaling=True, weight_scaling_omega=0.4, weight_scaling_columnwise=columnwise,
                                    weight_scaling_lr_compensation=comp), [W0.shape], np.random.default_rng(0))
            W = t.map_weights(0, 0, W0)
            t.alpha[0][0] = 0.7
            m = t.mapping[0][0]
            s = 1.0 / np.mean(m) if comp else 1.0
            assert t.lr_scale(0, 0) == pytest.approx(s)
            ((x, d),) = t.factors(0, a, delta)
            assert x is a
            np.testing.assert_allclose(d, 0.7 * delta / (np.asarray(m) * s), rtol=1e-14)
            # the logical weights m alpha W move by -lr s x d^T m alpha = -lr alpha^2 delta^T x, as unmapped
            mm = np.asarray(m).reshape(-1, 1) if columnwise else m
            np.testing.assert_allclose(mm * s * (d.T @ x), 0.7 * delta.T @ a, rtol=1e-13)
            np.testing.assert_allclose(t.backward(0, delta, W), (0.7 * delta) @ W0, rtol=1e-13)


def test_mapping_is_transparent_for_a_linear_update_and_not_for_a_device():
    """Digital SGD (and Analog SGD on an ideal device) train the same logical weights with or without the mapping
    (to rounding), per tile or per row, with or without lr compensation: the mapping only changes where on the
    device's response the weights sit. On a soft-bounds device it does change the run."""
    ds = data.digits(300, 100)
    kw = dict(epochs=1, lr=0.1, seed=1, hidden=(16,))
    for alg in ("digital-sgd", "analog-sgd"):
        dev = device.Device(response.ideal())
        base = network.train(ds, alg, dev, periphery=P.Periphery(out_scaling=True), **kw)
        for per in (P.Periphery(out_scaling=True, weight_scaling_omega=0.3),
                    P.Periphery(out_scaling=True, weight_scaling_omega=0.3, weight_scaling_columnwise=True,
                                weight_scaling_lr_compensation=True)):
            r = network.train(ds, alg, dev, periphery=per, **kw)
            assert r.train_loss == pytest.approx(base.train_loss, rel=1e-12) and r.test_curve == base.test_curve
            for (W, b), (W0, b0) in zip(r.final_weights, base.final_weights):
                np.testing.assert_allclose(W, W0, atol=1e-13)
            assert len(r.mapping_scale) == 2 and r.as_dict()["mapping_scale_per_layer"] == r.mapping_scale
            assert r.periphery["weight_scaling_omega"] == 0.3
    soft = device.Device(response.softbounds())
    plain = network.train(ds, "analog-sgd", soft, **kw)
    mapped = network.train(ds, "analog-sgd", soft, periphery=P.Periphery(weight_scaling_omega=0.5), **kw)
    assert mapped.train_loss != plain.train_loss


def test_mapping_omega_must_fit_the_device_range_and_flags_need_their_feature(capsys):
    for make, name in ((lambda: P.Periphery(weight_scaling_omega=-0.1), "weight_scaling_omega"),
                       (lambda: P.Periphery(weight_scaling_omega=float("nan")), "weight_scaling_omega"),
                       (lambda: P.Periphery(weight_scaling_omega="0.3"), "weight_scaling_omega"),
                       (lambda: P.Periphery(weight_scaling_columnwise=True), "weight_scaling_columnwise"),
                       (lambda: P.Periphery(weight_scaling_lr_compensation=True), "weight_scaling_lr_compensation"),
                       (lambda: P.Periphery(out_scaling_columnwise=True), "out_scaling_columnwise"),
                       (lambda: P.Periphery(weight_scaling_omega=0.3, weight_scaling_columnwise=1),
                        "weight_scaling_columnwise")):
        with pytest.raises(InputError) as exc:
            make()
        assert exc.value.param == name
    assert not P.Periphery(weight_scaling_omega=0.0).active and P.Periphery(weight_scaling_omega=0.1).active
    ds = data.digits(60, 20)
    with pytest.raises(InputError, match=r"^weight_scaling_omega: must lie in \(0, 0.6\)"):
        network.train(ds, "analog-sgd", device.Device(response.power(tau=0.6, gamma=1.0)), hidden=(4,),
                      periphery=P.Periphery(weight_scaling_omega=0.6))
    assert main(["train", "--dataset", "digits", "--weight-scaling-omega", "0.7", "--response", "power",
                 "-p", "tau=0.6"]) == 2
    assert "--weight-scaling-omega" in capsys.readouterr().err
    assert main(["train", "--dataset", "digits", "--weight-scaling-columnwise"]) == 2
    assert "--weight-scaling-columnwise" in capsys.readouterr().err
    for bad in ("0:0.5", "15", "15:0", "15:1.5", "a:b", "15:nan", "1.5:0.5"):
        assert main(["train", "--dataset", "digits", "--lr-step", bad]) == 2
        assert "--lr-step" in capsys.readouterr().err, bad
    for bad in ((0, 0.5), (15, 0.0), (15, 2.0), (1.5, 0.5), 15, (True, 0.5)):
        with pytest.raises(InputError, match="^lr_schedule: "):
            network.train(ds, "analog-sgd", device.Device(response.softbounds()), hidden=(4,), lr_schedule=bad)


def test_train_command_labels_the_mapping(capsys, tmp_path):
    args = ["train", "--dataset", "digits", "--train-size", "200", "--test-size", "50", "--hidden", "8",
            "--epochs", "2", "--out-scaling", "--out-scaling-columnwise", "--weight-scaling-omega", "0.3",
            "--weight-scaling-columnwise", "--lr-step", "1:0.5", "--out", str(tmp_path)]
    assert main(args + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["periphery"] == P.periphery(True, weight_scaling_omega=0.3, weight_scaling_columnwise=True,
                                                out_scaling_columnwise=True).as_dict()
    assert out["periphery"]["weight_scaling_omega"] == 0.3 and out["periphery"]["out_scaling_columnwise"]
    assert out["lr_schedule"] == {"step_size": 1, "gamma": 0.5} and len(out["mapping_scale_per_layer"]) == 2
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "weights mapped to omega 0.3 of the range (per output row)" in text and "every 1 epochs" in text
    assert "learned output scale per output row" in text and "mapping scale m per layer" in text
    # off: no new keys in the settings (the JSON of a run without mapping is what it was)
    assert set(P.OFF.as_dict()) == {"out_scaling", "io", "max_input_size", "max_output_size", "forward", "backward"}


def test_columnwise_output_scale_gradient_matches_finite_differences():
    rng = np.random.default_rng(5)
    net = architectures.fcn(6, 3, hidden=(5,))
    params = [(W, 0.1 * rng.standard_normal(b.shape)) for W, b in net.init(rng, scale=2.0)]
    x, y = rng.uniform(0, 1, (7, 6)), rng.integers(0, 3, 7)
    tiles = P.Tiles(P.periphery(out_scaling=True, max_input_size=3, weight_scaling_omega=0.3,
                                out_scaling_columnwise=True), [W.shape for W, _ in params], np.random.default_rng(1))
    stored = []
    for k, (W, b) in enumerate(params):
        Ws = np.empty_like(W)
        for t, (rs, cs) in enumerate(tiles.layout[k]):
            Ws[rs, cs] = tiles.map_weights(k, t, W[rs, cs])
            tiles.alpha[k][t] = rng.uniform(0.5, 1.5, rs.stop - rs.start)
        stored.append((Ws, b))
    tiles.record = True
    _, grads = net.loss_and_grads(stored, x, y, tiles)
    h = 1e-6
    for k, (_, delta) in enumerate(grads):
        analytic = tiles.scale_gradient(k, delta)
        tiles.record = False
        for t in range(len(tiles.layout[k])):
            for i in range(tiles.alpha[k][t].size):
                loss = []
                for sgn in (1, -1):
                    tiles.alpha[k][t][i] += sgn * h
                    loss.append(net.loss_and_grads(stored, x, y, tiles)[0])
                    tiles.alpha[k][t][i] -= sgn * h
                assert analytic[t][i] == pytest.approx((loss[0] - loss[1]) / (2 * h), rel=1e-5, abs=1e-9)
        tiles.record = True
        net.loss_and_grads(stored, x, y, tiles)


def test_lr_schedule_scales_the_rates_that_follow_the_optimizers_lr(monkeypatch):
    """StepLR(1, 0.5) over 2 epochs: epoch 1 as without a schedule; from epoch 2 on the rules are rebuilt with the
    rates aihwkit's AnalogSGD scales (Analog SGD's lr, TT-v1's transfer rate beta, a compound's global lr) and the
    others kept (TT-v1's fast rate, a compound's fast_lr); a schedule that never steps changes no bit."""
    ds = data.digits(200, 50)
    soft = device.Device(response.softbounds())
    kw = dict(epochs=2, lr=0.1, seed=3, hidden=(8,))
    plain = network.train(ds, "analog-sgd", soft, **kw)
    same = network.train(ds, "analog-sgd", soft, lr_schedule=(5, 0.5), **kw)
    assert same.train_loss == plain.train_loss and same.test_curve == plain.test_curve
    stepped = network.train(ds, "analog-sgd", soft, lr_schedule=(1, 0.5), **kw)
    assert stepped.train_loss[0] == plain.train_loss[0] and stepped.train_loss[1] != plain.train_loss[1]
    assert stepped.as_dict()["lr_schedule"] == {"step_size": 1, "gamma": 0.5}
    assert "lr_schedule" not in plain.as_dict()
    from aimc_theory import registry
    calls = []
    real = registry.build

    def spy(name, lr, array, main=None, seed=0, **options):
        calls.append((name, lr, dict(options)))
        return real(name, lr, array, main, seed, **options)
    monkeypatch.setattr(registry, "build", spy)
    network.train(ds, "residual-learning", soft, lr_schedule=(1, 0.5), options={"beta": 0.05}, **kw)
    later = calls[len(calls) // 2:]                               # 2 layers: the rebuild of epoch 2
    assert [c[1] for c in calls[:2]] == [0.1, 0.1] and all(c[1] == 0.1 and c[2]["beta"] == 0.025 for c in later)
    calls.clear()
    network.train(ds, "tt-v2", soft, lr_schedule=(1, 0.5), **kw)
    assert all(c[1] == 0.05 and c[2]["fast_lr"] == registry.default("tt-v2", "fast_lr") for c in calls[2:])
    assert network.scaled_rates("agad", 0.05, {"fast_lr": 0.2}, 0.5)[1]["fast_lr"] == 0.2
    assert network.scaled_rates("rider", 0.05, None, 0.5)[1]["beta"] == registry.default("rider", "beta") * 0.5
