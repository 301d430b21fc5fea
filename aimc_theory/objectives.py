"""Objectives with stochastic gradients, vectorized over chains: W has shape (chains, D).

* :class:`ScalarQuadratic`  f(w) = L/2 (w - w*)^2, g = L(w - w*) + s xi   (spec F; the scalar quadratic of docs/cli.md)
* :class:`LeastSquares`     f(W) = 1/(2N) ||A W - b||^2 with additive gradient noise N(0, s^2 I)
                            or mini-batch gradients on noisy labels (spec F.1 multi-D)
* :class:`DoubleWell`       f(w) = sum_d k/4 (w_d^2 - a^2)^2 + t w_d, a tilted double well:
                            the simplest nonconvex objective with two basins, whose local
                            minima and mean-drift fixed points are still 1-D roots, so the
                            (local) implicit-penalty theory can be checked basin by basin.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError, require_finite, require_int, require_nonnegative, require_positive
from .kernel_cache import generator_words
from .update_models import Rank1Batch


LAWS = ("gaussian", "laplace")


def _check_law(law) -> None:
    if law not in LAWS:
        raise InputError("law", f"must be one of {', '.join(LAWS)} (got {law!r})")


NORMAL_MIN_SIZE = 128       # from this size on the compiled draws pay off (a call costs ~1 us, a number ~6 ns less:
                            # 1.2 vs 1.2 us for 64 numbers, 1.5 vs 1.8 for 128, 14.6 vs 38.9 for 4096, measured)
_NORMAL_FILL: list = []     # [kernels_random_jit.normal_fill or None (numba not installed)], looked up once


def standard_normal(rng, shape) -> np.ndarray:
    """``rng.standard_normal(shape)`` (float64): the same numbers and the same Generator state after, drawn by a
    compiled loop (:mod:`aimc_theory.kernels_random_jit`, numba's port of NumPy's ziggurat) for arrays of at least
    ``NORMAL_MIN_SIZE`` numbers where numba is installed (2.7x faster per number: the gradient noise of the
    simulations), else by NumPy."""
    # math.prod for an array's shape: np.prod of a tuple costs ~3 us, on every gradient of a simulation
    n = math.prod(shape) if isinstance(shape, tuple) else int(np.prod(shape))
    if n >= NORMAL_MIN_SIZE and type(rng) is np.random.Generator:
        if not _NORMAL_FILL:
            try:
                from .kernels_random_jit import normal_fill
            except ImportError:             # numba is an optional extra
                normal_fill = None
            _NORMAL_FILL.append(normal_fill)
        if _NORMAL_FILL[0] is not None:
            out = np.empty(n)
            _NORMAL_FILL[0](generator_words(rng), out)
            return out.reshape(shape)
    return rng.standard_normal(shape)


@dataclass(frozen=True)
class ScalarQuadratic:
    """f(w) = L/2 (w - w_star)^2 per coordinate, gradient L (w - w_star) + noise N(0, noise^2).

    Parameters
    ----------
    L : float > 0
        Curvature.
    w_star : float
        Minimizer.
    noise : float >= 0
        Standard deviation of the additive gradient noise (Sigma = E|g| at w_star = noise sqrt(2/pi) for
        Gaussian noise, noise/sqrt(2) for Laplace noise).
    per_sample : bool
        The gradient comes as a rank-1 factor (x = 1, d = g) for pulse-train devices.
    law : str
        The noise law: ``gaussian`` (default) or ``laplace`` (same standard deviation; E|xi| = s/sqrt(2)
        instead of s sqrt(2/pi), so the penalty weight E|g| is not the Gaussian multiple of s).
    """

    L: float = 1.0
    w_star: float = 0.0
    noise: float = 0.0
    per_sample: bool = False
    law: str = "gaussian"

    def __post_init__(self):
        require_positive("L", self.L)
        require_finite("w_star", self.w_star)
        require_nonnegative("noise", self.noise)
        _check_law(self.law)

    dim = 1
    elementwise = True        # chain i's gradient depends on chain i only: the loop may work in chain blocks

    def check_step(self, lr: float, q_max: float = 1.0) -> None:
        """The mean dynamics contract only for lr L q < 2; larger steps diverge (or saturate)."""
        if lr * self.L * q_max >= 2.0:
            raise InputError("lr", f"must be < 2/(L q_max) = {2.0 / (self.L * q_max):.4g} for this "
                                   f"problem (got {lr:g}): the iteration diverges")

    @property
    def minimizer(self) -> np.ndarray:
        return np.array([self.w_star])

    def mean_grad(self, W):
        return self.L * (W - self.w_star)

    def grad(self, W, rng):
        if not self.noise:
            g = self.L * (W - self.w_star)
        elif self.law == "laplace":
            g = rng.laplace(0.0, self.noise / np.sqrt(2.0), W.shape).astype(W.dtype, copy=False)
            g += self.L * (W - self.w_star) if self.L != 1.0 else W - self.w_star
        else:
            g = rng.standard_normal(W.shape, dtype=W.dtype) if W.dtype == np.float32 else standard_normal(rng, W.shape)
            g *= self.noise
            g += self.L * (W - self.w_star) if self.L != 1.0 else W - self.w_star
        return Rank1Batch(np.ones((1, 1, 1)), g[:, None, :]) if self.per_sample else g

    def loss(self, W):
        return 0.5 * self.L * np.sum((W - self.w_star) ** 2, axis=-1)


@dataclass(frozen=True)
class LeastSquares:
    """f(W) = 1/(2N)||A W - b||^2.

    Parameters
    ----------
    A : ndarray (N, D), b : ndarray (N,)
        Finite data.
    noise : float >= 0
        Additive noise of standard deviation ``noise`` per coordinate on the full gradient.
    law : str
        Its law: ``gaussian`` (default) or ``laplace``.
    batch_size : int or None
        Mini-batch gradients instead (noise then comes from the labels); at most N.
    per_sample : bool
        The gradient comes as its per-sample factors (a :class:`Rank1Batch` with x_b = a_b,
        d_b = (a_b W - b_b)/B), which pulse-train devices write sample by sample.
    """

    A: np.ndarray
    b: np.ndarray
    noise: float = 0.0
    batch_size: int | None = None
    per_sample: bool = False
    law: str = "gaussian"
    H: np.ndarray = field(init=False, repr=False)
    minimizer: np.ndarray = field(init=False, repr=False)
    Atb: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        A = np.asarray(self.A, float)
        b = np.asarray(self.b, float)
        if A.ndim != 2 or b.shape != (A.shape[0],):
            raise InputError("A", f"A must be N x D and b of length N (got {A.shape}, {b.shape})")
        if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
            raise InputError("A", "A and b must be finite (NaN or inf found)")
        require_nonnegative("noise", self.noise)
        _check_law(self.law)
        if self.per_sample and self.noise:
            raise InputError("noise", "per-sample gradients carry no additive gradient noise; use label noise")
        if self.batch_size is not None:
            require_int("batch_size", self.batch_size)
            if self.batch_size > A.shape[0]:
                raise InputError("batch_size", f"must be <= N = {A.shape[0]} (got {self.batch_size})")
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "H", A.T @ A / A.shape[0])
        object.__setattr__(self, "Atb", A.T @ b / A.shape[0])
        object.__setattr__(self, "minimizer", np.linalg.lstsq(A, b, rcond=None)[0])

    @classmethod
    def random(cls, n: int, d: int, rng: np.random.Generator, w_scale: float = 0.5,
               label_noise: float = 0.0, noise: float = 0.0, batch_size: int | None = None):
        """A ~ N(0,1), W_true ~ N(0, w_scale^2), b = A W_true + label_noise * N(0,1) (spec E.1)."""
        A = rng.standard_normal((n, d))
        w_true = w_scale * rng.standard_normal(d)
        b = A @ w_true + label_noise * rng.standard_normal(n)
        return cls(A, b, noise=noise, batch_size=batch_size)

    @property
    def dim(self) -> int:
        return self.A.shape[1]

    def mean_grad(self, W):
        # H W - A^T b / N: one D x D product instead of two N x D ones
        return W @ self.H - self.Atb

    def grad(self, W, rng):
        if self.per_sample:
            if self.batch_size is None:
                X = self.A[None]
                r = W @ self.A.T - self.b                                # (C, N)
            else:
                idx = rng.integers(self.A.shape[0], size=W.shape[:-1] + (self.batch_size,))
                X = self.A[idx]
                r = np.einsum("cbd,cd->cb", X, W) - self.b[idx]
            return Rank1Batch(X, (r / r.shape[-1])[..., None])
        if self.batch_size is None:
            g = self.mean_grad(W)
        else:
            idx = rng.integers(self.A.shape[0], size=W.shape[:-1] + (self.batch_size,))
            Ab = self.A[idx]                                     # (C, B, D)
            r = np.einsum("cbd,cd->cb", Ab, W) - self.b[idx]
            g = np.einsum("cb,cbd->cd", r, Ab) / self.batch_size
        if self.noise:
            g = g + (rng.laplace(0.0, self.noise / np.sqrt(2.0), W.shape) if self.law == "laplace"
                     else self.noise * standard_normal(rng, W.shape))
        return g

    def loss(self, W):
        r = W @ self.A.T - self.b
        return 0.5 * np.mean(r ** 2, axis=-1)


@dataclass(frozen=True)
class DoubleWell:
    """Synthetic nonconvex objective f(w) = sum_d k/4 (w_d^2 - a^2)^2 + t w_d, gradient noise N(0, noise^2).

    Parameters
    ----------
    k, a : float > 0
        Well depth and the minima's distance from 0 (at +-a for t = 0).
    t : float
        Tilt (makes one well lower).
    noise : float >= 0
        Additive gradient noise.
    dim : int
        Number of independent coordinates.
    """

    k: float = 1.0
    a: float = 0.5
    t: float = 0.0
    noise: float = 0.0
    dim: int = 1

    def __post_init__(self):
        require_positive("k", self.k)
        require_positive("a", self.a)
        require_finite("t", self.t)
        require_nonnegative("noise", self.noise)

    def mean_grad(self, W):
        return self.k * W * (W * W - self.a ** 2) + self.t

    def grad(self, W, rng):
        g = self.mean_grad(W)
        if self.noise:
            g = g + self.noise * standard_normal(rng, W.shape)
        return g

    def loss(self, W):
        return np.sum(0.25 * self.k * (W * W - self.a ** 2) ** 2 + self.t * W, axis=-1)

    def local_minima(self) -> np.ndarray:
        """Real roots of k w^3 - k a^2 w + t with positive curvature."""
        roots = np.roots([self.k, 0.0, -self.k * self.a ** 2, self.t])
        roots = np.sort(roots[np.abs(roots.imag) < 1e-12].real)
        return roots[3 * self.k * roots ** 2 - self.k * self.a ** 2 > 0]
