"""The compiled composed-samples kernel (aimc_theory.kernels_compose_jit, used by pulse_trains.batch_update where numba
is installed) repeats the NumPy compose branch bit for bit: the same weights (signs of zero included) and the same
Generator state afterwards, over chains, batch sizes (odd tree levels), tiles, BL, update and BL management, weights
at the bounds, affine responses with r != 1 and r == 1 and unbounded ones, per-element parameters; and P1 Fig. 2 end
to end."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("numba")

from aimc_theory import device, pulse_trains as pt, reproduce, response  # noqa: E402  (after the importorskip)
from aimc_theory.errors import InputError  # noqa: E402
from aimc_theory.pulse_trains import PulseTrains, batch_update  # noqa: E402
from aimc_theory.update_models import Rank1Batch  # noqa: E402

RESPONSES = {
    "aihwkit-softbounds": lambda: response.aihwkit_softbounds(w_max=1.0, w_min=-1.0, up_down=0.0),
    "aihwkit-softbounds-up-down": lambda: response.aihwkit_softbounds(w_max=0.6, w_min=-0.4, up_down=0.3),
    "linear-step": lambda: response.aihwkit_linearstep(w_max=1.2, w_min=-0.8, up_down=0.1, gamma_up=0.3,
                                                       gamma_down=0.7),
    "constant-step": lambda: response.aihwkit_linearstep(w_max=0.5, w_min=-0.5),                    # r == 1
    "p1-linear": lambda: response.linear(tau=0.7, c=0.3),
    "ideal": lambda: response.ideal(),                                                               # no bounds
}


@pytest.fixture
def spy(monkeypatch):
    """Counts the batches the compiled kernel wrote (None: the NumPy path ran)."""
    calls = {"compiled": 0, "numpy": 0}
    inner = pt._compose_compiled

    def wrapped(*args):
        out = inner(*args)
        calls["numpy" if out is None else "compiled"] += 1
        return out

    monkeypatch.setattr(pt, "_compose_compiled", wrapped)
    return calls


def _both(dev, W, X, D, lr, seed, monkeypatch, bit_generator=np.random.PCG64):
    """batch_update on the NumPy path and on the compiled one from the same seed: (weights, generator) each."""
    out = []
    for on in (False, True):
        monkeypatch.setattr(pt, "_COMPOSE_KERNEL", on)
        rng = np.random.Generator(bit_generator(seed))
        out.append((batch_update(dev, W, Rank1Batch(X, D), lr, rng), rng))
    return out


def _assert_same(a, b, what):
    (wa, ra), (wb, rb) = a, b
    assert wa.shape == wb.shape and wa.dtype == wb.dtype, what
    assert np.array_equal(wa, wb, equal_nan=True), what
    assert np.array_equal(np.signbit(wa), np.signbit(wb)), what                  # -0.0 stays -0.0
    assert _same_state(ra.bit_generator.state, rb.bit_generator.state), what     # the same numbers drawn


def _same_state(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    return np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b


def _problem(rng, C, B, out, inp, shared, resp, near):
    X = rng.uniform(-1, 1, (1 if shared else C, B, inp)) * (rng.random((1 if shared else C, B, inp)) < 0.8)
    D = rng.standard_normal((C, B, out)) * 0.05
    span = 0.9 if np.isinf(resp.hi) else 0.9 * min(resp.hi, -resp.lo)
    W = rng.uniform(-span, span, (C, out * inp))
    if near and np.isfinite(resp.hi):                  # at and next to the bounds: the clips are active
        pick = rng.random(W.shape)
        W = np.where(pick < 0.25, resp.hi, np.where(pick < 0.5, resp.lo + 1e-4, W))
    W[:, ::5] = -0.0
    return W, X, D


@pytest.mark.parametrize("name", list(RESPONSES))
@pytest.mark.parametrize("bl", [1, 8])
def test_compose_kernel_gives_the_numpy_bits(name, bl, spy, monkeypatch):
    resp = RESPONSES[name]()
    rng = np.random.default_rng(len(name) + bl)
    k = changed = 0
    for um, blm in ((True, True), (False, True), (True, False), (False, False)):
        dev = device.Device(resp, dw_min=2e-3, trains=PulseTrains(desired_bl=bl, update_management=um,
                                                                  bl_management=blm))
        for C in (1, 2, 8):
            for B in (16, 17, 100):
                for out, inp in ((1, 50), (3, 4)):
                    for lr, near in ((0.05, False), (0.5, True)):
                        W, X, D = _problem(rng, C, B, out, inp, C == 2, resp, near)
                        what = (name, bl, um, blm, C, B, out, inp, lr)
                        a, b = _both(dev, W, X, D, lr, k, monkeypatch)
                        _assert_same(a, b, what)
                        changed += not np.array_equal(a[0], W)
                        k += 1
    assert spy["compiled"] == k and spy["numpy"] == 0 and changed > 0.8 * k


@pytest.mark.parametrize("bit_generator", [np.random.MT19937, np.random.Philox, np.random.SFC64,
                                           np.random.PCG64DXSM])
def test_compose_kernel_other_bit_generators(bit_generator, spy, monkeypatch):
    """Generators on other bit generators than NumPy's default PCG64 (drawn inline by the kernel) are drawn through
    the generator itself: the same bits too."""
    rng = np.random.default_rng(9)
    resp = RESPONSES["aihwkit-softbounds-up-down"]()
    dev = device.Device(resp, dw_min=2e-3, trains=PulseTrains(desired_bl=8))
    for k, (C, B) in enumerate(((1, 16), (3, 17), (8, 100))):
        W, X, D = _problem(rng, C, B, 1, 50, False, resp, True)
        a, b = _both(dev, W, X, D, 0.3, k, monkeypatch, bit_generator)
        _assert_same(a, b, (bit_generator.__name__, C, B))
    assert spy["compiled"] == 3


def test_pcg64_inline_matches_numpy():
    """The kernel's own PCG64 gives NumPy's Generator.random numbers and state (the check run once per process
    before it is used)."""
    from aimc_theory import kernels, kernels_compose_jit
    assert kernels._pcg_inline(kernels_compose_jit.pcg_fill)
    rng = np.random.default_rng(123)
    rng.random(3)
    rng.integers(0, 10, 5)                 # a buffered 32-bit half stays as it is
    state = rng.bit_generator.state
    st = kernels._pcg_words(state)
    mine = np.empty(1001)
    kernels_compose_jit.pcg_fill(st, mine)
    assert np.array_equal(mine, rng.random(1001))
    assert np.array_equal(st, kernels._pcg_words(rng.bit_generator.state))
    # four lanes and a tail of single steps: every remainder, and fewer numbers than lanes
    for n in range(13):
        st = kernels._pcg_words(rng.bit_generator.state)
        mine = np.empty(n)
        kernels_compose_jit.pcg_fill(st, mine)
        assert np.array_equal(mine, rng.random(n)), n
        assert np.array_equal(st, kernels._pcg_words(rng.bit_generator.state)), n


def test_compose_kernel_per_element_parameters(spy, monkeypatch):
    """Per-element step scales (P1's linear response as 13.long builds it), stretches and own bounds."""
    rng = np.random.default_rng(5)
    C, out, inp = 4, 3, 4
    shape = (C, out * inp)
    devices = [
        device.Device(response.linear(tau=3.5, c=0.0), dw_min=1e-2, trains=PulseTrains(desired_bl=8),
                      up_scale=np.repeat([1.0, 1.1, 1.2, 1.3], 1)[:, None],
                      down_scale=np.repeat([1.0, 0.9, 0.8, 0.7], 1)[:, None]),
        device.Device(response.aihwkit_softbounds(w_max=1.0, w_min=-1.0, up_down=0.3), dw_min=5e-3,
                      trains=PulseTrains(desired_bl=5), up_scale=rng.uniform(0.5, 1.5, shape),
                      down_scale=rng.uniform(0.5, 1.5, shape), up_stretch=rng.uniform(0.8, 1.2, shape),
                      down_stretch=rng.uniform(0.8, 1.2, shape),
                      bounds=(rng.uniform(-1.0, -0.5, shape), rng.uniform(0.5, 1.0, shape))),
        device.Device(response.aihwkit_linearstep(w_max=0.5, w_min=-0.5), dw_min=5e-3, trains=PulseTrains(desired_bl=3),
                      up_scale=rng.uniform(0.5, 1.5, shape), down_scale=rng.uniform(0.5, 1.5, shape)),   # r == 1
    ]
    k = 0
    for dev in devices:
        for B in (16, 33):
            for lr in (0.05, 2.0):
                X = rng.uniform(-1, 1, (1, B, inp))
                D = rng.standard_normal((C, B, out)) * 0.05
                W = rng.uniform(-0.5, 0.5, shape)
                W[:, ::3] = 0.49
                a, b = _both(dev, W, X, D, lr, k, monkeypatch)
                _assert_same(a, b, (k, B, lr))
                k += 1
    assert spy["compiled"] == k


def test_compose_kernel_falls_back_to_numpy(spy, monkeypatch):
    """Non-finite inputs, float32 factors and a legacy RandomState run the NumPy path (nothing drawn by the kernel);
    nothing to write gives W itself back, as the NumPy path."""
    dev = device.Device(RESPONSES["aihwkit-softbounds"](), dw_min=1e-3, trains=PulseTrains(desired_bl=8))
    rng = np.random.default_rng(2)
    W = rng.uniform(-0.5, 0.5, (2, 50))
    X = rng.uniform(-1, 1, (1, 20, 50))
    D = rng.standard_normal((2, 20, 1)) * 0.05
    Xinf = X.copy()
    Xinf[0, 3, 7] = np.inf
    with np.errstate(invalid="ignore"):
        a, b = _both(dev, W, Xinf, D, 0.1, 0, monkeypatch)
    _assert_same(a, b, "inf")
    a, b = _both(dev, W, X.astype(np.float32), D.astype(np.float32), 0.1, 1, monkeypatch)
    _assert_same(a, b, "float32")
    assert spy["compiled"] == 0 and spy["numpy"] == 2
    for on in (False, True):                       # a legacy RandomState: the NumPy path
        monkeypatch.setattr(pt, "_COMPOSE_KERNEL", on)
        out = batch_update(dev, W, Rank1Batch(X, D), 0.1, np.random.RandomState(4))
        assert not on or np.array_equal(out, ref)
        ref = out
    assert spy["compiled"] == 0 and spy["numpy"] == 3
    monkeypatch.setattr(pt, "_COMPOSE_KERNEL", True)
    rng = np.random.default_rng(3)
    assert batch_update(dev, W, Rank1Batch(X, np.zeros_like(D)), 0.1, rng) is W
    assert rng.bit_generator.state == np.random.default_rng(3).bit_generator.state
    assert spy["compiled"] == 1 and spy["numpy"] == 3
    monkeypatch.setattr(pt, "_COMPOSE_STATE", [False])          # as where numba is not installed: the NumPy path
    c = batch_update(dev, W, Rank1Batch(X, D), 0.1, np.random.default_rng(5))
    assert spy["numpy"] == 4
    monkeypatch.setattr(pt, "_COMPOSE_STATE", [True])
    assert np.array_equal(c, batch_update(dev, W, Rank1Batch(X, D), 0.1, np.random.default_rng(5)))
    assert spy["compiled"] == 2


def test_compose_kernel_on_the_numba_backend(spy, monkeypatch):
    """pulse_trains.backend("numba"): an exact device's composed batches run the kernel (the NumPy bits); a device
    with per-element parameters goes to that backend's pulse kernel as before (which refuses it), not the compose
    kernel."""
    rng = np.random.default_rng(4)
    W = rng.uniform(-0.5, 0.5, (3, 50))
    X = rng.uniform(-1, 1, (1, 30, 50))
    D = rng.standard_normal((3, 30, 1)) * 0.05
    dev = device.Device(RESPONSES["aihwkit-softbounds-up-down"](), dw_min=1e-3, trains=PulseTrains(desired_bl=8))
    monkeypatch.setattr(pt, "_COMPOSE_KERNEL", False)
    a = batch_update(dev, W, Rank1Batch(X, D), 0.1, np.random.default_rng(0))
    monkeypatch.setattr(pt, "_COMPOSE_KERNEL", True)
    with pt.backend("numba"):
        b = batch_update(dev, W, Rank1Batch(X, D), 0.1, np.random.default_rng(0))
        assert spy["compiled"] == 1
        varied = dataclasses.replace(dev, up_scale=np.full((3, 50), 1.1))
        with pytest.raises(InputError, match="device-to-device variation"):       # as without the compose kernel
            batch_update(varied, W, Rank1Batch(X, D), 0.1, np.random.default_rng(0))
        assert spy["compiled"] == 1 and spy["numpy"] == 0
    assert np.array_equal(a, b)


def test_p1_fig2_with_and_without_the_kernel(spy, monkeypatch):
    """P1 Fig. 2 (a 1 x 50 tile, batch 100, aihwkit soft bounds) ends with the same numbers either way."""
    runs = []
    for on in (False, True):
        monkeypatch.setattr(pt, "_COMPOSE_KERNEL", on)
        runs.append(reproduce.p1_fig2(steps=50, seeds=2, model="aihwkit"))
    assert spy["compiled"] > 0
    a, b = runs
    for f in dataclasses.fields(a):
        if f.name == "seconds":
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, dict):
            assert x.keys() == y.keys(), f.name
            assert all(np.array_equal(x[k], y[k]) for k in x), f.name
        else:
            assert x == y, f.name
