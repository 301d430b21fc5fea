"""aihwkit's transfer compounds (TT-v2, AGAD, E-RIDER as P2 ran it): hand-checked steps, the offset
cancellation of the chopped rules against TT-v2's bias, the network path and option validation."""
import dataclasses

import numpy as np
import pytest

from aimc_theory import device, network, objectives, registry, response, simulation, symbolic
from aimc_theory import transfer_compounds as tc
from aimc_theory.cli import main
from aimc_theory.errors import InputError
from aimc_theory.pulse_trains import Rank1Batch

IDEAL = device.Device(response.ideal())        # q = 1: A moves by exactly -fast_lr g, C by +-granularity per pulse


def one_sample(x, d):
    """A mini-batch of one sample: gradient d x^T on an out x in tile (one chain)."""
    return Rank1Batch(np.asarray(x, float)[None, None, :], np.asarray(d, float)[None, None, :])


# -- TT-v2 (BufferedTransferCompound) ---------------------------------------------------------------------

def test_tt_v2_step_thresholds_caps_and_keeps_momentum():
    # 2 x 3 tile; fast_lr = lr = transfer_lr = 1: A = -d x^T, H_0 = A[:, 0]; threshold 1 x dC = 0.1
    alg = tc.tt_v2(1.0, IDEAL, IDEAL, fast_lr=1.0, transfer_lr=1.0, thres_scale=1.0, momentum=0.1,
                   transfer_bl=2, granularity=0.1)
    C0 = np.zeros((1, 6))
    st = alg.init(C0)
    g = one_sample([1.0, 0.5, 0.0], [-0.35, 0.12])     # A = [[.35, .175, 0], [-.12, -.06, 0]]
    C, st, info = alg.step(g, st, C0, None)
    np.testing.assert_allclose(st.A.reshape(2, 3), [[0.35, 0.175, 0], [-0.12, -0.06, 0]])
    assert info.columns.tolist() == [0] and st.pointer == 1
    # H_0 = [.35, -.12] -> trunc(H / .1) = [3, -1], capped at transfer_bl 2 -> [2, -1]
    assert info.pulses[0, :, 0].tolist() == [2, -1]
    np.testing.assert_allclose(C.reshape(2, 3), [[0.2, 0, 0], [-0.1, 0, 0]])
    # forget_buffer: H <- momentum H where a pulse fired
    np.testing.assert_allclose(st.H.reshape(2, 3)[:, 0], [0.035, -0.012])
    # next step reads column 1 (round-robin): H_1 = 2 x .175 = .35, -.12 (second write of the same gradient)
    C, st, info = alg.step(g, st, C, None)
    assert info.columns.tolist() == [1] and st.pointer == 2
    np.testing.assert_allclose(info.buffer[0, :, 0], [0.35, -0.12])
    # read-out is C (gamma = 0)
    np.testing.assert_array_equal(alg.readout(C, st), C)


def test_tt_v2_remainder_without_forgetting_and_gamma_scaling():
    alg = tc.tt_v2(1.0, IDEAL, IDEAL, fast_lr=1.0, transfer_lr=1.0, thres_scale=1.0, momentum=0.1,
                   forget_buffer=0, transfer_bl=2, granularity=0.1)
    C0 = np.zeros((1, 6))
    C, st, _ = alg.step(one_sample([1.0, 0.5, 0.0], [-0.35, 0.12]), alg.init(C0), C0, None)
    # H - (1 - momentum) n dC: .35 - .9 x 2 x .1 = .17, -.12 + .9 x .1 = -.03
    np.testing.assert_allclose(st.H.reshape(2, 3)[:, 0], [0.17, -0.03])
    # gamma > 0: lr_t = transfer_lr lr gamma (aihwkit's BufferedTransfer getTransferLR), W = C + gamma A
    alg = tc.tt_v2(1.0, IDEAL, IDEAL, fast_lr=1.0, transfer_lr=1.0, gamma=0.5, thres_scale=1.0, transfer_bl=9,
                   granularity=0.1)
    C, st, info = alg.step(one_sample([1.0, 0.5, 0.0], [-0.35, 0.12]), alg.init(C0), C0, None)
    np.testing.assert_allclose(info.buffer[0, :, 0], [0.175, -0.06])
    np.testing.assert_allclose(alg.readout(C, st), C + 0.5 * st.A)


def test_tt_v2_columns_per_transfer_wraps_around():
    alg = tc.tt_v2(1.0, IDEAL, IDEAL, fast_lr=1.0, transfer_lr=1.0, columns_per_transfer=2, granularity=0.1)
    C = np.zeros((1, 3))
    st = alg.init(C)
    seen = []
    for _ in range(3):
        C, st, info = alg.step(np.zeros((1, 3)), st, C, None)      # dense: a 1 x 3 tile
        seen += info.columns.tolist()
    assert seen == [0, 1, 2, 0, 1, 2] and st.passes == 2 and st.pointer == 0


# -- E-RIDER as ChoppedTransferCompound --------------------------------------------------------------------

def test_e_rider_chopped_step_by_hand():
    # 1 x 3 tile (dense gradient), dA = dC = 0.1, no auto granularity: H += c_j A_j lr_t / 0.1 with lr_t = 1
    alg = tc.e_rider_chopped(1.0, IDEAL, IDEAL, fast_lr=1.0, transfer_lr=1.0, in_chop_prob=0.0, gamma=0.0,
                             auto_granularity=0.0, transfer_bl=3, granularity=0.1)
    C0 = np.zeros((1, 3))
    st = dataclasses.replace(alg.init(C0), c=np.array([[-1.0, 1.0, 1.0]]), shape=(1, 3))
    C, st, info = alg.step(np.array([[0.25, -0.5, 0.0]]), st, C0, None)
    # the gradient is written chopped: A = -fast_lr c g = [.25, .5, 0]
    np.testing.assert_allclose(st.A, [[0.25, 0.5, 0.0]])
    # read of column 0 times c_0 = -1: H_0 = -2.5 -> 2 pulses down (trunc), H_0 <- momentum 0 x H_0
    assert info.columns.tolist() == [0]
    np.testing.assert_allclose(info.buffer[0, 0], [-2.5])
    assert info.pulses[0, 0].tolist() == [-2]
    np.testing.assert_allclose(C, [[-0.2, 0, 0]])
    assert st.H[0, 0] == 0.0 and st.pointer == 1
    # the same read capped at transfer_bl = 1, with momentum kept on the buffer
    alg1 = tc.e_rider_chopped(1.0, IDEAL, IDEAL, fast_lr=1.0, transfer_lr=1.0, in_chop_prob=0.0, gamma=0.0,
                              auto_granularity=0.0, momentum=0.5, transfer_bl=1, granularity=0.1)
    st1 = dataclasses.replace(alg1.init(C0), c=np.array([[-1.0, 1.0, 1.0]]), shape=(1, 3))
    C1, st1, info1 = alg1.step(np.array([[0.25, -0.5, 0.0]]), st1, C0, None)
    assert info1.pulses[0, 0].tolist() == [-1]
    np.testing.assert_allclose(st1.H[0, 0], -1.25)
    np.testing.assert_allclose(C1, [[-0.1, 0, 0]])


def test_e_rider_chopped_chopper_flips_after_the_read_and_dechopped_readout():
    alg = tc.e_rider_chopped(1.0, IDEAL, IDEAL, fast_lr=1.0, transfer_lr=1.0, in_chop_prob=1.0, gamma=0.5,
                             auto_granularity=0.0, granularity=0.1)
    C = np.zeros((1, 3))
    st = alg.init(C)
    C, st, info = alg.step(np.array([[-0.01, 0.0, 0.0]]), st, C, None)
    # probability 1: only the column read (0) flips
    assert st.c.tolist() == [[-1.0, 1.0, 1.0]]
    # gamma > 0: lr_t = transfer_lr lr gamma = .5, H_0 = .01 x .5 / .1 = .05; read-out de-chops A
    np.testing.assert_allclose(info.buffer[0, 0], [0.05])
    np.testing.assert_allclose(alg.readout(C, st), C + 0.5 * np.array([[-1.0, 1.0, 1.0]]) * st.A)


def test_e_rider_chopped_auto_granularity_and_one_read_per_sample():
    # auto_granularity 1000, in = 4: the buffer unit is dA x 1000 / 4 = 250 dA; a batch of 3 samples reads 3 columns
    alg = tc.e_rider_chopped(1.0, IDEAL, IDEAL, fast_lr=1.0, transfer_lr=1.0, in_chop_prob=0.0, gamma=0.0,
                             auto_granularity=1000.0, granularity=0.01)
    C = np.zeros((1, 4))
    X = np.ones((1, 3, 4))
    D = np.full((1, 3, 1), -1.0)                      # A = 3 after the batch (every element)
    C, st, info = alg.step(Rank1Batch(X, D), alg.init(C), C, None)
    assert info.columns.tolist() == [0, 1, 2] and st.pointer == 3
    np.testing.assert_allclose(info.buffer[0, 0], [3 / 2.5] * 3)
    assert info.pulses[0, 0].tolist() == [1, 1, 1]


# -- AGAD (DynamicTransferCompound) ------------------------------------------------------------------------

def test_agad_reference_is_the_previous_period_mean():
    # 1 x 1 tile, in_chop_prob .5 -> period N = 2 passes, tail_weightening 1 -> s = min(1/2, 1) = .5; lr_t = 1,
    # dA = dC = 1 (threshold 1, one pulse moves C by 1); g = -1 every step: A += -c g = c
    alg = tc.agad(1.0, IDEAL, IDEAL, fast_lr=1.0, transfer_lr=1.0, in_chop_prob=0.5, tail_weightening=1.0,
                  granularity=1.0)
    C = np.zeros((1, 1))
    st = alg.init(C)
    g = np.array([[-1.0]])
    steps = []
    for _ in range(4):
        C, st, info = alg.step(g, st, C, None)
        steps.append((st.A[0, 0], st.ref[0, 0], st.mean[0, 0], info.buffer[0, 0, 0], st.H[0, 0], C[0, 0],
                      st.c[0, 0]))
    # pass 0: A = 1, ref 0, H = 1 -> fires (H <- 0) but no write before N passes; m = .5
    # pass 1: A = 2, H = 2 -> fires, no write; m = 1.25; last pass of the period: c -> -1
    # pass 2: A = 1; first read after the switch: ref <- m = 1.25; H = -(1 - 1.25) = .25; m = 1.125
    # pass 3: A = 0; H = .25 - (0 - 1.25) = 1.5 -> one pulse to C (pass 3 > N); m = .5625; c -> +1
    expected = [(1, 0, 0.5, 1, 0, 0, 1), (2, 0, 1.25, 2, 0, 0, -1), (1, 1.25, 1.125, 0.25, 0.25, 0, -1),
                (0, 1.25, 0.5625, 1.5, 0, 1, 1)]
    np.testing.assert_allclose(np.array(steps, float), np.array(expected, float))


def test_agad_needs_its_chopper():
    with pytest.raises(InputError, match="in_chop_prob"):
        tc.agad(0.1, IDEAL, IDEAL, fast_lr=0.05, transfer_lr=0.3, in_chop_prob=0.0)


# -- a reference offset on A: AGAD and chopped E-RIDER cancel it, TT-v2 keeps RL v1's bias ---------------------

@pytest.mark.parametrize("shift", [0.3])
def test_offset_on_the_fast_array(shift):
    """Scalar quadratic (L = 1, w* = .5, noise .3), A soft bounds with its SP moved by ``shift``, C ideal with
    granularity dC = 1e-3 (its write resolution: the allowance). TT-v2 settles where A reads 0 on average, RL v1's
    biased fixed point (P1 eq. 10-11, derived independently by :mod:`aimc_theory.symbolic`); AGAD and chopped
    E-RIDER must sit at w*, and the two predictions are told apart by the run (|bias| >> 4 SE + dC)."""
    obj = objectives.ScalarQuadratic(1.0, 0.5, 0.3)
    dev_a = device.Device(response.softbounds(), offset=shift)
    biased = symbolic.residual_learning_fixed_point(symbolic.derive(response.softbounds().shifted(shift),
                                                                    penalty=False), 1.0, 0.5, 0.3).bias
    dC = registry.OPTIONS["granularity"].default
    # E-RIDER's transfer is faster here: a 1-column tile has no columns to spread P2's auto_granularity over
    opts = {"tt-v2": {}, "agad": {}, "e-rider-chopped": dict(auto_granularity=0.0, transfer_lr=0.5)}
    means = {}
    for name, o in opts.items():
        alg = registry.build(name, 0.1, dev_a, IDEAL, seed=1, **o)
        res = simulation.simulate(obj, alg, 6000, 100, seed=3, w0=0.0, record_every=1000)
        means[name] = (float(res.mean[0]) - 0.5, float(res.se[0]))
    band = lambda name: 4 * means[name][1] + dC            # noqa: E731
    assert abs(means["tt-v2"][0] - biased) <= band("tt-v2")
    assert abs(means["tt-v2"][0]) > band("tt-v2") + abs(biased) / 2      # the offset visibly passes into C
    for name in ("agad", "e-rider-chopped"):
        assert abs(means[name][0]) <= band(name), (name, means[name])
        assert abs(means[name][0] - biased) > band(name)                 # and they do not follow TT-v2


# -- registry, network path, CLI ---------------------------------------------------------------------------------

def test_registry_defaults_are_p2_fcn_hyperparameters():
    assert registry.with_defaults("e-rider-chopped", {}) == {
        "fast_lr": 0.5, "transfer_lr": 0.05, "in_chop_prob": 0.05, "gamma": 0.1, "auto_granularity": 1000.0,
        "momentum": 0.0, "forget_buffer": 1, "transfer_bl": 1, "read_noise": 0.0, "granularity": 1e-3,
        "auto_scale": 0}
    agad = registry.with_defaults("agad", {})
    assert (agad["in_chop_prob"], agad["fast_lr"], agad["transfer_lr"], agad["tail_weightening"]) == (0.1, 0.05, 0.3,
                                                                                                      5.0)
    tt = registry.with_defaults("tt-v2", {})
    assert (tt["fast_lr"], tt["transfer_lr"], tt["thres_scale"], tt["momentum"]) == (0.03, 0.01, 0.8, 0.1)
    # the other algorithms keep their defaults
    assert registry.with_defaults("residual-learning", {})["gamma"] == 0.4
    alg = registry.build("e-rider-chopped", 0.05, IDEAL, IDEAL)
    assert alg.lr == 0.5 and alg.devices == (IDEAL, IDEAL)       # A is written with fast_lr, absolute


@pytest.mark.parametrize("name, option, value", [
    ("tt-v2", "thres_scale", -1.0), ("tt-v2", "momentum", 2.0), ("tt-v2", "forget_buffer", 2),
    ("agad", "transfer_bl", 0), ("e-rider-chopped", "in_chop_prob", 1.5), ("e-rider-chopped", "fast_lr", 0.0),
    ("agad", "tail_weightening", 0.0), ("e-rider-chopped", "granularity", -1e-3),
])
def test_bad_options_name_the_option(name, option, value):
    with pytest.raises(InputError) as exc:
        registry.build(name, 0.1, IDEAL, IDEAL, **{option: value})
    assert exc.value.param == option


def test_inapplicable_options_and_no_fixed_point_theory(capsys):
    with pytest.raises(InputError, match="does not apply"):
        registry.build("tt-v2", 0.1, IDEAL, IDEAL, in_chop_prob=0.1)
    assert main(["fixed-point", "--algorithm", "agad"]) == 2
    assert "no fixed-point theory for agad" in capsys.readouterr().err


def test_reference_offset_goes_to_the_fast_array(monkeypatch):
    from aimc_theory import data
    seen = []
    build = registry.build

    def spy(name, lr, array, main_dev=None, **kw):
        seen.append((array, main_dev))
        return build(name, lr, array, main_dev, **kw)

    monkeypatch.setattr(registry, "build", spy)
    ds = data.digits(100, 20)
    network.train(ds, "agad", device.Device(response.softbounds()), device.Device(response.softbounds()),
                  epochs=1, hidden=(8,), reference_offset=(0.3, 0.1), seed=2)
    assert seen and all(np.ndim(a.offset) and abs(np.mean(a.offset) - 0.3) < 0.1 for a, _ in seen)
    assert all(np.ndim(m.offset) == 0 and m.offset == 0.0 for _, m in seen)


@pytest.mark.parametrize("name", ["tt-v2", "agad", "e-rider-chopped"])
def test_train_runs(name, tmp_path, capsys):
    code = main(["train", "--dataset", "digits", "--algorithm", name, "--epochs", "1", "--hidden", "16",
                 "--quiet", "--json", "--out", str(tmp_path)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert '"test_accuracy"' in out.out
