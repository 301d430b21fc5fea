"""Network architectures for the NumPy network path: forward and backward written out.

Every weight matrix is one analog tile (out, in); biases are digital. The backward pass returns, per
tile, the gradient as its rank-1 factors (rows of inputs ``a`` and errors ``delta``, gradient
sum_r delta_r a_r^T), which is what a crossbar sees:

* a dense layer z = W a + b: one row per sample;
* a convolution through im2col (every k x k patch of the input, all channels, is a row of ``a``; the
  output channel is a row of W, as in the reference simulator's convolution tiles): one row per sample
  and output position.

Two architectures (arXiv 2502.06309 App. K.3): the FCN 784-256-128-10 with sigmoid hidden units and a
CNN conv 5x5 (16) -> max-pool 2 -> conv 5x5 (32) -> max-pool 2 -> dense 128 (tanh) -> 10; both end in
softmax cross-entropy averaged over the mini-batch. Activations use the channels-last layout
(batch, height, width, channels).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError


def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))        # overflow-free logistic


def _sigmoid_(z):
    """sigmoid(z) written into z (a fresh pre-activation): the same operations, no temporaries."""
    z *= 0.5
    np.tanh(z, out=z)
    z += 1.0
    z *= 0.5
    return z


def _sigmoid_deriv(a):
    d = 1.0 - a
    d *= a
    return d


def _tanh_deriv(a):
    d = a * a
    np.subtract(1.0, d, out=d)
    return d


# activation, its in-place form on a fresh pre-activation, its derivative from the activation
_ACT = {"sigmoid": (sigmoid, _sigmoid_, _sigmoid_deriv), "tanh": (np.tanh, lambda z: np.tanh(z, out=z), _tanh_deriv),
        "none": (lambda z: z, lambda z: z, None)}


@dataclass(frozen=True)
class Dense:
    n_out: int
    act: str = "sigmoid"


@dataclass(frozen=True)
class Conv:
    """k x k convolution, stride 1, no padding, then ``act`` and a ``pool`` x ``pool`` max-pool."""
    channels: int
    kernel: int = 5
    act: str = "tanh"
    pool: int = 2


def softmax_xent(logits: np.ndarray, y: np.ndarray):
    """Mean cross-entropy and its gradient with respect to the logits (already divided by the batch size)."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    n = y.shape[0]
    rows = np.arange(n)
    picked = p[rows, y]
    loss = -float(np.log(picked + 1e-300).sum()) / n
    p[rows, y] = picked - 1.0
    p *= 1.0 / n
    return loss, p


class Architecture:
    """A stack of :class:`Conv` then :class:`Dense` layers on inputs of ``input_shape`` ((n,) or (H, W, C))."""

    def __init__(self, name: str, input_shape: tuple, layers: tuple):
        self.name, self.input_shape, self.layers = name, tuple(input_shape), tuple(layers)
        shapes, shape = [], self.input_shape
        for k, layer in enumerate(self.layers):
            if isinstance(layer, Conv):
                if len(shape) != 3:
                    raise InputError("architecture", f"a convolution needs image inputs (H, W, C), got {shape}")
                h, w, c = shape
                ho, wo = h - layer.kernel + 1, w - layer.kernel + 1
                if ho < layer.pool or wo < layer.pool or ho % layer.pool or wo % layer.pool:
                    raise InputError("architecture", f"layer {k + 1}: a {layer.kernel}x{layer.kernel} convolution "
                                     f"and {layer.pool}x{layer.pool} pooling do not tile a {h}x{w} input")
                shapes.append((layer.channels, c * layer.kernel ** 2))
                shape = (ho // layer.pool, wo // layer.pool, layer.channels)
            else:
                n_in = int(np.prod(shape))
                shapes.append((layer.n_out, n_in))
                shape = (layer.n_out,)
            if layer.act not in _ACT:
                raise InputError("architecture", f"unknown activation {layer.act!r}")
        self.shapes = shapes                     # (out, in) of every tile

    def init(self, rng: np.random.Generator, scale: float = 1.0, method: str = "glorot"
             ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Initial weights and biases of every tile (fan_in, fan_out: its columns and rows), times ``scale``.

        ``method`` "glorot": W ~ U(-l, l) with l = sqrt(6 / (fan_in + fan_out)), zero biases; "torch": torch's
        default for Linear and Conv2d (kaiming-uniform with a = sqrt(5)), W and b ~ U(-l, l) with
        l = 1 / sqrt(fan_in), drawn W then b, layer by layer (the init of the reference runs of arXiv 2502.06309
        Table 8, 2.1-2.4x narrower than Glorot on the FCN)."""
        if method not in ("glorot", "torch"):
            raise InputError("init", f"must be glorot or torch (got {method!r})")
        out = []
        for n_out, n_in in self.shapes:
            if method == "torch":
                lim = scale / np.sqrt(n_in)
                W = rng.uniform(-lim, lim, (n_out, n_in))
                out.append((W, rng.uniform(-lim, lim, n_out)))
                continue
            lim = scale * np.sqrt(6.0 / (n_in + n_out))
            out.append((rng.uniform(-lim, lim, (n_out, n_in)), np.zeros(n_out)))
        return out

    def forward(self, params, x: np.ndarray, mvm=None):
        """Logits and a cache for :meth:`backward`. ``x``: (batch, prod(input_shape)) flattened inputs.
        ``mvm``: None (exact products) or the tiles' periphery (:class:`aimc_theory.periphery.Tiles`), whose
        ``forward(k, rows, W)`` computes layer k's product of every row of inputs."""
        a = x.reshape((x.shape[0],) + self.input_shape)
        cache = []
        for k, (layer, (W, b)) in enumerate(zip(self.layers, params)):
            fn = _ACT[layer.act][1]                                    # in place on the fresh z
            if isinstance(layer, Conv):
                patches = _im2col(a, layer.kernel)                     # (B, Ho, Wo, C k k)
                z = patches @ W.T if mvm is None else \
                    mvm.forward(k, patches.reshape(-1, patches.shape[-1]), W).reshape(patches.shape[:3] + (-1,))
                z += b
                h = fn(z)
                pooled, arg = _maxpool(h, layer.pool)
                cache.append((layer, a.shape, patches, h, arg))
                a = pooled
            else:
                a2 = a.reshape(a.shape[0], -1)
                z = a2 @ W.T if mvm is None else mvm.forward(k, a2, W)
                z += b
                h = fn(z)
                cache.append((layer, a.shape, a2, h, None))
                a = h
        return a, cache

    def backward(self, params, cache, dlogits, mvm=None):
        """Per tile the rank-1 factors (a rows (R, in), delta rows (R, out)) of the weight gradient, and the
        bias gradients. ``mvm``: as in :meth:`forward`; its ``backward(k, rows, W)`` is the product with W^T."""
        grads = [None] * len(params)
        dh = dlogits
        for k in range(len(params) - 1, -1, -1):
            layer, in_shape, a_in, h, arg = cache[k]
            W = params[k][0]
            deriv = _ACT[layer.act][2]
            if isinstance(layer, Conv):
                dh = _maxpool_back(dh.reshape((dh.shape[0],) + _pooled_shape(h.shape, layer.pool)), arg, h.shape,
                                   layer.pool)
                delta = dh * deriv(h) if deriv else dh                 # (B, Ho, Wo, out)
                rows_a = a_in.reshape(-1, a_in.shape[-1])
                rows_d = delta.reshape(-1, delta.shape[-1])
                grads[k] = (rows_a, rows_d)
                if k:
                    dh = _col2im((rows_d @ W if mvm is None else mvm.backward(k, rows_d, W)).reshape(a_in.shape),
                                 in_shape, layer.kernel)
            else:
                if deriv:
                    delta = deriv(h)
                    delta *= dh
                else:
                    delta = dh
                grads[k] = (a_in, delta)
                if k:
                    dh = (delta @ W if mvm is None else mvm.backward(k, delta, W)).reshape(in_shape)
        return grads

    def loss_and_grads(self, params, x, y, mvm=None):
        logits, cache = self.forward(params, x, mvm)
        loss, d = softmax_xent(logits, y)
        return loss, self.backward(params, cache, d, mvm)

    def accuracy(self, params, x, y, batch: int = 1000, mvm=None) -> float:
        hits = 0
        for i in range(0, x.shape[0], batch):
            logits, _ = self.forward(params, x[i:i + batch], mvm)
            hits += int(np.sum(np.argmax(logits, axis=1) == y[i:i + batch]))
        return hits / x.shape[0]


def _im2col(a: np.ndarray, k: int) -> np.ndarray:
    """(B, H, W, C) -> (B, H-k+1, W-k+1, C*k*k), patch entries ordered (channel, row, column)."""
    v = np.lib.stride_tricks.sliding_window_view(a, (k, k), axis=(1, 2))   # (B, Ho, Wo, C, k, k)
    return v.reshape(v.shape[:3] + (-1,))


def _col2im(dpatches: np.ndarray, in_shape: tuple, k: int) -> np.ndarray:
    """Adjoint of :func:`_im2col`: scatter-add patch gradients back onto the input."""
    B, H, W, C = in_shape
    ho, wo = H - k + 1, W - k + 1
    d = dpatches.reshape(B, ho, wo, C, k, k)
    out = np.zeros(in_shape)
    for i in range(k):                   # k*k shifted adds, each vectorized over batch, positions, channels
        for j in range(k):
            out[:, i:i + ho, j:j + wo, :] += d[..., i, j]
    return out


def _pooled_shape(shape, p):
    return shape[1] // p, shape[2] // p, shape[3]


def _maxpool(h: np.ndarray, p: int):
    B, H, W, C = h.shape
    blocks = h.reshape(B, H // p, p, W // p, p, C).transpose(0, 1, 3, 5, 2, 4).reshape(B, H // p, W // p, C, p * p)
    arg = blocks.argmax(axis=-1)
    return np.take_along_axis(blocks, arg[..., None], axis=-1)[..., 0], arg


def _maxpool_back(dp: np.ndarray, arg: np.ndarray, shape, p: int) -> np.ndarray:
    B, H, W, C = shape
    blocks = np.zeros((B, H // p, W // p, C, p * p))
    np.put_along_axis(blocks, arg[..., None], dp[..., None], axis=-1)
    return blocks.reshape(B, H // p, W // p, C, p, p).transpose(0, 1, 4, 2, 5, 3).reshape(B, H, W, C)


def fcn(n_inputs: int, n_classes: int, hidden=(256, 128)) -> Architecture:
    """P1's FCN: dense sigmoid hidden layers, linear output."""
    return Architecture("fcn", (n_inputs,), tuple(Dense(h, "sigmoid") for h in hidden) + (Dense(n_classes, "none"),))


def cnn(n_inputs: int, n_classes: int, channels=(16, 32), dense: int = 128) -> Architecture:
    """P1's CNN (App. K.3) on square single-channel images: conv 5x5 -> max-pool 2 (tanh), twice, then a
    dense tanh layer and the linear output."""
    side = int(round(np.sqrt(n_inputs)))
    if side * side != n_inputs:
        raise InputError("architecture", f"the CNN needs square images; {n_inputs} inputs are not a square")
    return Architecture("cnn", (side, side, 1), tuple(Conv(c, 5, "tanh", 2) for c in channels)
                        + (Dense(dense, "tanh"), Dense(n_classes, "none")))


ARCHITECTURES = {"fcn": fcn, "cnn": cnn}


def build(name: str, n_inputs: int, n_classes: int, hidden=(256, 128)) -> Architecture:
    """A network by name.

    Parameters
    ----------
    name : {"fcn", "cnn"}
        P1's fully connected network or P1's CNN (App. K.3; square single-channel images).
    n_inputs, n_classes : int
        Input size and number of classes.
    hidden : tuple of int
        Hidden layer widths of the FCN.

    Returns
    -------
    Architecture
    """
    if name == "fcn":
        return fcn(n_inputs, n_classes, hidden)
    if name == "cnn":
        return cnn(n_inputs, n_classes)
    raise InputError("architecture", f"must be one of {', '.join(ARCHITECTURES)} (got {name!r})")
