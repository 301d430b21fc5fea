"""The reference simulator's tile periphery in the network path: IO (DAC, ADC, output noise, noise and bound
management), a learned digital output scale per tile, the mapping of a layer onto tiles and of its weights onto
the conductance range. Every part is off by default (:data:`OFF`): then :func:`aimc_theory.network.train` runs
exactly as without it.

Configuration in the reference simulator's (IBM aihwkit's) style: :class:`IOParameters` (its ``IOParameters``,
forward or backward) and :class:`Periphery` (its ``MappingParameter`` fields ``learn_out_scaling``,
``out_scaling_columnwise``, ``weight_scaling_omega``, ``weight_scaling_columnwise``,
``weight_scaling_lr_compensation``, ``max_input_size``, ``max_output_size`` and the rpu_config's
``forward``/``backward``). The semantics follow
aihwkit's CPU tiles (rpucuda ``ForwardBackwardPassIOManaged``, ``TileWithPeriphery``, ``TileModuleArray``).

Mapping. A layer's weight matrix W (out, in) is cut into blocks of at most ``max_input_size`` columns and
``max_output_size`` rows (0: no limit), split evenly as aihwkit does: n = ceil(size / max) blocks of
size // n or size // n + 1 (784 inputs with 512 -> two tiles of 392 columns). Every tile t = (R_t, C_t) holds
W_t = W[R_t, C_t] on its own devices, with its own state of the update rule and its own output scale
alpha_t. The layer computes, with b its digital bias and f the tile's analog product through the forward IO,

    z[R] = sum over the tiles t of row block R of alpha_t f(W_t, x[C_t]) + b[R].

Learned output scale (``out_scaling``; aihwkit ``learn_out_scaling`` with its default
``out_scaling_columnwise=False``: **one scalar per tile**, starting at 1). With delta = dL/dz, tile t sees the
error alpha_t delta[R_t] (the gradient with respect to its analog output): the backward product is
dL/dx[C] = sum_t g(W_t^T, alpha_t delta[R_t]) (g: the product through the backward IO), the tile is written with
the rank-1 factors (x[C_t], alpha_t delta[R_t]) by its update rule, and alpha_t is trained by digital SGD with
the biases' learning rate,

    dL/dalpha_t = sum over the samples (and positions) and the rows i in R_t of delta_i f(W_t, x[C_t])_i.

With ``out_scaling_columnwise`` (aihwkit's ``out_scaling_columnwise=True``) alpha_t is a vector, one scale per
output row i of the tile, and the sum runs over the samples only: dL/dalpha_ti = sum delta_i f(W_t, x[C_t])_i.

Weight mapping (``weight_scaling_omega``; aihwkit ``MappingParameter.weight_scaling_omega``, 0 = off, its
default; ``TileWithPeriphery.apply_weight_scaling``, ``set_scales``, ``post_forward``, ``pre_backward``,
``pre_update``, ``set_learning_rate``). When the initial weights are set (aihwkit ``set_weights`` with
``apply_weight_scaling=True``, which ``AnalogLinear`` calls at construction), every tile's block W0_t is stored
on its devices divided by a fixed digital **mapping scale** m_t, so that its largest magnitude sits at omega of
the conductance range:

    m_t = max_ij |W0_t,ij| / omega            (one scalar per tile; m_t = 1 where the max is 0)
    m_ti = max_j |W0_t,ij| / omega            (``weight_scaling_columnwise``: one per output row i)
    stored W_t = W0_t / m_t,   and the learned scale restarts at alpha_t = 1 (aihwkit ``set_scales``).

m_t never changes afterwards (it is not in the SGD graph; aihwkit's ``remap_weights`` is not modelled). The
layer's logical weights are m_t alpha_t W_t (aihwkit ``get_weights`` / ``get_scales`` = mapping_scales x
out_scaling_alpha); the periphery multiplies every read by m_t after the ADC (aihwkit ``post_forward``) and
by alpha_t after that (``apply_out_scaling``), and the error entering the backward read by m_t alpha_t
(``pre_backward``):

    z[R] = sum over t of alpha_t m_t f(W_t, x[C_t]) + b[R],    dL/dx[C] = sum_t g(W_t^T, m_t alpha_t delta[R_t]).

The update does **not** see the chain rule's m_t alpha_t delta: aihwkit's ``pre_update`` divides the error by
the mapping scale, so the tile is written with the factors (x[C_t], alpha_t delta[R_t] / (m_t s_t)) at the
tile's learning rate lr_tile = lr s_t (``set_learning_rate``), where s_t is the ``mapping_lr_scale``:

    s_t = 1                      (default)
    s_t = 1 / mean_i m_ti        (``weight_scaling_lr_compensation``: "the learning rate is divided by the mean
                                  of the mapping scales", the gradient divided by m_t / mean m_t instead).

For Analog SGD both give the same product lr_tile x (alpha delta / (m s)) = lr x alpha delta / m: the stored
weights move by lr alpha x delta / m, the logical weights by lr alpha^2 x delta, as without mapping (for
alpha = 1). The difference is in which rate carries s_t: every rate of the tile's update rule that follows the
optimizer's lr (:data:`aimc_theory.network.FOLLOWS_LR`: the transfer rate of a compound whose fast_lr is
absolute) is multiplied by s_t, the others (an absolute fast_lr) are not. The device sees weights up to omega
instead of the layer's raw max|W0| (a Glorot/torch first layer: ~0.04-0.08), so one pulse dw_min changes a
logical weight by m_t dw_min (at omega 0.3 the FCN 784-256-128-10's Glorot layers get m ~ 0.25 / 0.41 / 0.69
per row) and a reference offset of the device is an offset of m_t times its size in the logical weights. Biases
are digital and never mapped (aihwkit ``digital_bias``).

IO, per sample (one row of the batch), for f(W, x) (backward: W^T and the error as the input):

1. noise management: ``abs_max`` s = max_j |x_j| (a zero input reads 0), ``none`` s = 1;
2. bound management ``iterative``: r = 1, 2, 4, ... (step 6); ``none``: r = 1, one read;
3. DAC: u_j = clip(q_in rint(x_j / (s r q_in)), -inp_bound, inp_bound) with the step q_in = inp_res 2 inp_bound
   (aihwkit's resolution is relative to the full range: inp_res 1/126 of [-1, 1] is a step of 1/63, a 7-bit DAC);
4. v = W u + out_noise xi, xi ~ N(0, 1) per output and read. out_noise is absolute, in the units of W u with
   |u_j| <= 1 (aihwkit's normalized units; it is not scaled by out_bound);
5. ADC: v_i <- q_out rint(v_i / q_out) with q_out = out_res 2 out_bound (out_res 1/510 of [-12, 12]: a step of
   0.047, a 9-bit ADC), then clipped to [-out_bound, out_bound];
6. bound management: a read in which some v_i > out_bound (or < -out_bound, ``bm_test_negative_bound``) is
   repeated with r doubled, until r > max_bm_factor or r > max_bm_res / q_in (defaults: 0.25 / (1/63) = 15.75,
   so r = 1, 2, 4, 8, 16: at most five reads; the last is kept, saturated or not);
7. the output is y = s r v (the digital rescaling of noise and bound management).

aihwkit forces bound management off in the backward pass (rpucuda ``initializeForBackward``); here a backward
:class:`IOParameters` with bound management is refused. Its backward defaults are otherwise the forward's:
the ``"aihwkit"`` preset uses the same DAC, ADC, noise and noise management both ways. Differences that remain:
aihwkit computes in float32 (here float64); its IO random stream is seeded from the clock, ours from the run's
seed; inference (the test accuracy) reads through the same noisy IO, as aihwkit does in eval mode. The IO of a
Tiki-Taka transfer read (aihwkit ``transfer_forward``) is not modelled: transfers read the residual array exactly.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from .errors import InputError

NOISE_MANAGEMENT = ("abs_max", "none")
BOUND_MANAGEMENT = ("iterative", "none")
INIT = ("glorot", "torch")


@dataclass(frozen=True)
class IOParameters:
    """One direction's IO of an analog tile (aihwkit ``IOParameters``; defaults are aihwkit's, arXiv 2502.06309
    Table 4 = arXiv 2602.21321 Table 6). See the module docstring for the arithmetic.

    Parameters
    ----------
    is_perfect : bool
        Exact product y = W x, every other field ignored (aihwkit ``is_perfect``).
    inp_bound : float > 0
        DAC range [-inp_bound, inp_bound]; must be 1 with noise management (as aihwkit requires).
    inp_res : float in [0, 1)
        DAC step as a fraction of the range 2 inp_bound (1/126: a 7-bit DAC); 0 = no quantization.
    out_bound : float > 0
        ADC range [-out_bound, out_bound] (12).
    out_res : float in [0, 1)
        ADC step as a fraction of 2 out_bound (1/510: a 9-bit ADC); 0 = no quantization.
    out_noise : float >= 0
        Standard deviation of the Gaussian noise added to every output of every read, in normalized units
        (the output of inputs scaled to |u| <= 1), before the ADC (0.06).
    noise_management : {"abs_max", "none"}
        ``abs_max``: every input vector is divided by its max |x| before the DAC and the output multiplied back.
    bound_management : {"iterative", "none"}
        ``iterative``: a saturated read is repeated with the input halved (forward only).
    max_bm_factor : int >= 1
        Largest input reduction of bound management (1000).
    max_bm_res : float > 0
        Bound management stops once the reduction exceeds max_bm_res / (inp_res 2 inp_bound) (0.25).
    bm_test_negative_bound : bool
        A read below -out_bound also counts as saturated (True).
    """

    is_perfect: bool = False
    inp_bound: float = 1.0
    inp_res: float = 1.0 / 126.0
    out_bound: float = 12.0
    out_res: float = 1.0 / 510.0
    out_noise: float = 0.06
    noise_management: str = "abs_max"
    bound_management: str = "iterative"
    max_bm_factor: int = 1000
    max_bm_res: float = 0.25
    bm_test_negative_bound: bool = True

    def __post_init__(self):
        for name in ("is_perfect", "bm_test_negative_bound"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise InputError(name, f"must be True or False (got {getattr(self, name)!r})")
        for name, ok, text in (("inp_bound", lambda v: v > 0, "> 0"), ("out_bound", lambda v: v > 0, "> 0"),
                               ("inp_res", lambda v: 0 <= v < 1, "in [0, 1)"),
                               ("out_res", lambda v: 0 <= v < 1, "in [0, 1)"),
                               ("out_noise", lambda v: v >= 0, ">= 0"), ("max_bm_res", lambda v: v > 0, "> 0")):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not math.isfinite(v) or not ok(v):
                raise InputError(name, f"must be a finite number {text} (got {v!r})")
            object.__setattr__(self, name, float(v))
        m = self.max_bm_factor
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
            raise InputError("max_bm_factor", f"must be an integer >= 1 (got {m!r})")
        if self.noise_management not in NOISE_MANAGEMENT:
            raise InputError("noise_management", f"must be one of {', '.join(NOISE_MANAGEMENT)} "
                                                 f"(got {self.noise_management!r})")
        if self.bound_management not in BOUND_MANAGEMENT:
            raise InputError("bound_management", f"must be one of {', '.join(BOUND_MANAGEMENT)} "
                                                 f"(got {self.bound_management!r})")
        if self.noise_management != "none" and self.inp_bound != 1.0 and not self.is_perfect:
            raise InputError("inp_bound", f"must be 1 with noise management (the inputs are scaled to max |x| = 1, "
                                          f"as in the reference simulator) (got {self.inp_bound!r})")

    @property
    def inp_step(self) -> float:
        """The DAC step q_in = inp_res 2 inp_bound (0: none)."""
        return self.inp_res * 2.0 * self.inp_bound

    @property
    def out_step(self) -> float:
        """The ADC step q_out = out_res 2 out_bound (0: none)."""
        return self.out_res * 2.0 * self.out_bound

    def as_dict(self) -> dict:
        return {"is_perfect": True} if self.is_perfect else asdict(self)


PERFECT = IOParameters(is_perfect=True)
# aihwkit's defaults both ways; backward bound management off, as aihwkit forces it
IO_PRESETS = {"perfect": (PERFECT, PERFECT),
              "aihwkit": (IOParameters(), IOParameters(bound_management="none"))}


@dataclass(frozen=True)
class Periphery:
    """The tile periphery of every layer of a network (each part off by default).

    Parameters
    ----------
    out_scaling : bool
        A learned digital output scale alpha per tile (aihwkit ``mapping.learn_out_scaling`` with
        ``out_scaling_columnwise=False``: one scalar per tile), starting at 1, trained by SGD with the biases'
        learning rate: y = alpha (W x), dL/dalpha = sum over the batch of delta . (W x).
    forward, backward : IOParameters
        The IO of the forward read W x and of the backward read W^T delta (default :data:`PERFECT`, exact).
        :data:`IO_PRESETS` ``"aihwkit"``: aihwkit's defaults (backward without bound management).
    max_input_size, max_output_size : int >= 0
        Most columns / rows of one tile (aihwkit ``mapping.max_input_size`` / ``max_output_size``, 512 there);
        a larger layer is split evenly into several tiles, each with its own devices, update-rule state and
        output scale, their outputs summed (columns) or stacked (rows). 0: one tile per layer (default).
    weight_scaling_omega : float >= 0
        Map every tile's initial weights so that their largest magnitude is omega (aihwkit
        ``mapping.weight_scaling_omega``; 0 = off, aihwkit's default): stored W_t = W0_t / m_t with the fixed
        digital mapping scale m_t = max |W0_t| / omega applied to every read, and the update's error divided by
        m_t (module docstring). omega must lie inside the devices' weight range (checked where the device is
        known, :func:`aimc_theory.network.train`).
    weight_scaling_columnwise : bool
        One mapping scale per output row of a tile (aihwkit ``weight_scaling_columnwise``; needs omega > 0).
    weight_scaling_lr_compensation : bool
        The tile's learning rate divided by the mean mapping scale and the update's error by m_t / mean m_t
        (aihwkit ``weight_scaling_lr_compensation``; needs omega > 0).
    out_scaling_columnwise : bool
        The learned output scale is one per output row of a tile instead of one per tile (aihwkit
        ``out_scaling_columnwise``; needs ``out_scaling``).
    """

    out_scaling: bool = False
    forward: IOParameters = PERFECT
    backward: IOParameters = PERFECT
    max_input_size: int = 0
    max_output_size: int = 0
    weight_scaling_omega: float = 0.0
    weight_scaling_columnwise: bool = False
    weight_scaling_lr_compensation: bool = False
    out_scaling_columnwise: bool = False

    def __post_init__(self):
        for name in ("out_scaling", "weight_scaling_columnwise", "weight_scaling_lr_compensation",
                     "out_scaling_columnwise"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise InputError(name, f"must be True or False (got {getattr(self, name)!r})")
        omega = self.weight_scaling_omega
        if isinstance(omega, bool) or not isinstance(omega, (int, float, np.number)) or not math.isfinite(omega) \
                or omega < 0:
            raise InputError("weight_scaling_omega", "must be a finite number >= 0: the largest mapped weight as a "
                                                     "fraction of the conductance range, 0 = no mapping (got "
                                                     f"{omega!r})")
        object.__setattr__(self, "weight_scaling_omega", float(omega))
        for name in ("weight_scaling_columnwise", "weight_scaling_lr_compensation"):
            if getattr(self, name) and not self.weight_scaling_omega:
                raise InputError(name, "applies only with the weight mapping weight_scaling_omega > 0 (without it "
                                       "there are no mapping scales; got weight_scaling_omega 0)")
        if self.out_scaling_columnwise and not self.out_scaling:
            raise InputError("out_scaling_columnwise", "applies only with the learned output scale out_scaling=True")
        for name in ("forward", "backward"):
            if not isinstance(getattr(self, name), IOParameters):
                raise InputError(name, f"must be an IOParameters (got {getattr(self, name)!r:.60})")
        if not self.backward.is_perfect and self.backward.bound_management != "none":
            raise InputError("backward", "bound management runs only in the forward pass (the reference simulator "
                                         "turns it off backward): use IOParameters(bound_management='none') "
                                         f"(got {self.backward.bound_management!r})")
        for name in ("max_input_size", "max_output_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise InputError(name, f"must be an integer >= 0 (0: one tile per layer) (got {v!r})")

    @property
    def active(self) -> bool:
        """False when every part is off: the network path then runs without the periphery, bit for bit."""
        return bool(self.out_scaling or not self.forward.is_perfect or not self.backward.is_perfect
                    or self.max_input_size or self.max_output_size or self.mapping)

    @property
    def mapping(self) -> bool:
        """True when the weights are mapped onto the conductance range (weight_scaling_omega > 0)."""
        return self.weight_scaling_omega > 0

    @property
    def io(self) -> str:
        """The name of the IO preset this periphery uses ("perfect", "aihwkit"), or "custom"."""
        for name, pair in IO_PRESETS.items():
            if (self.forward, self.backward) == pair:
                return name
        return "custom"

    def as_dict(self) -> dict:
        """The settings as JSON; the weight mapping's and the column-wise output scale's keys appear only when
        they are on (an off periphery gives the same keys as before they existed)."""
        out = {"out_scaling": bool(self.out_scaling), "io": self.io, "max_input_size": int(self.max_input_size),
               "max_output_size": int(self.max_output_size), "forward": self.forward.as_dict(),
               "backward": self.backward.as_dict()}
        if self.out_scaling_columnwise:
            out["out_scaling_columnwise"] = True
        if self.mapping:
            out.update(weight_scaling_omega=self.weight_scaling_omega,
                       weight_scaling_columnwise=bool(self.weight_scaling_columnwise),
                       weight_scaling_lr_compensation=bool(self.weight_scaling_lr_compensation))
        return out

    def describe(self) -> str:
        if not self.active:
            return "no periphery (exact reads, one tile per layer)"
        parts = [("learned output scale per " + ("output row" if self.out_scaling_columnwise else "tile")
                  if self.out_scaling else "no output scale"), f"{self.io} IO"]
        if self.mapping:
            parts.append(f"weights mapped to omega {self.weight_scaling_omega:g} of the range ("
                         + ("per output row" if self.weight_scaling_columnwise else "per tile")
                         + (", lr compensated" if self.weight_scaling_lr_compensation else "") + ")")
        if self.max_input_size or self.max_output_size:
            parts.append("tiles of at most " + " x ".join(
                f"{v} {n}" for v, n in ((self.max_output_size, "rows"), (self.max_input_size, "columns")) if v))
        return ", ".join(parts)


OFF = Periphery()


def periphery(out_scaling: bool = False, io: str = "perfect", max_input_size: int = 0,
              max_output_size: int = 0, weight_scaling_omega: float = 0.0, weight_scaling_columnwise: bool = False,
              weight_scaling_lr_compensation: bool = False, out_scaling_columnwise: bool = False) -> Periphery:
    """A :class:`Periphery` from the command line's names.

    Parameters
    ----------
    out_scaling : bool
        Learn an output scale per tile.
    io : {"perfect", "aihwkit"}
        The IO preset (:data:`IO_PRESETS`).
    max_input_size, max_output_size : int >= 0
        Tile size limits (0: none).
    weight_scaling_omega, weight_scaling_columnwise, weight_scaling_lr_compensation, out_scaling_columnwise
        The weight mapping and the output scale's shape (:class:`Periphery`).

    Returns
    -------
    Periphery
    """
    if io not in IO_PRESETS:
        raise InputError("io", f"must be one of {', '.join(IO_PRESETS)} (got {io!r})")
    fwd, bwd = IO_PRESETS[io]
    return Periphery(out_scaling, fwd, bwd, max_input_size, max_output_size, weight_scaling_omega,
                     weight_scaling_columnwise, weight_scaling_lr_compensation, out_scaling_columnwise)


def split_sizes(size: int, max_size: int) -> list[int]:
    """aihwkit's even split: n = ceil(size / max_size) parts of size // n or size // n + 1 (the larger first);
    ``[size]`` when max_size is 0 or not exceeded."""
    if max_size <= 0 or size <= max_size:
        return [int(size)]
    n = -(-size // max_size)
    base, extra = divmod(size, n)
    return [base + (i < extra) for i in range(n)]


def tile_layout(shape: tuple[int, int], p: Periphery) -> list[tuple[slice, slice]]:
    """The tiles (row slice, column slice) of a weight matrix of ``shape`` (out, in), input blocks outer and output
    blocks inner, as aihwkit's ``TileModuleArray`` orders them."""
    def cuts(size, max_size):
        out, start = [], 0
        for n in split_sizes(size, max_size):
            out.append(slice(start, start + n))
            start += n
        return out
    rows, cols = cuts(shape[0], p.max_output_size), cuts(shape[1], p.max_input_size)
    return [(r, c) for c in cols for r in rows]


def analog_mvm(W: np.ndarray, X: np.ndarray, io: IOParameters, rng: np.random.Generator) -> np.ndarray:
    """Y = f(W, X): the product of W (out, in) with every row of X (n, in) through ``io`` (module docstring,
    steps 1-7), each row its own read(s). Returns (n, out)."""
    if io.is_perfect:
        return X @ W.T
    n = X.shape[0]
    Y = None
    s = np.abs(X).max(axis=1) if io.noise_management == "abs_max" else np.ones(n)
    rows = np.flatnonzero(s > 0)           # a zero input reads 0 (noise management's short cut)
    q_in, q_out = io.inp_step, io.out_step
    bm = io.bound_management == "iterative"
    r = 1.0
    while rows.size:
        every = rows.size == n                # (every row: no gathers; the same operations in place)
        scale = s * r if every else s[rows] * r
        u = (X if every else X[rows]) / scale[:, None]
        if q_in > 0:
            u /= q_in
            np.rint(u, out=u)
            u *= q_in
        np.clip(u, -io.inp_bound, io.inp_bound, out=u)
        v = u @ W.T
        if io.out_noise > 0:
            v += io.out_noise * rng.standard_normal(v.shape)
        if q_out > 0:
            v /= q_out
            np.rint(v, out=v)
            v *= q_out
        last = not bm or r > io.max_bm_factor or (q_in > 0 and r > io.max_bm_res / q_in)
        if not last:
            over = v > io.out_bound
            if io.bm_test_negative_bound:
                over |= v < -io.out_bound
        np.clip(v, -io.out_bound, io.out_bound, out=v)
        done = None if last else ~over.any(axis=1)
        if Y is None and every and (last or done.all()):
            v *= scale[:, None]
            return v
        if Y is None:
            Y = np.zeros((n, W.shape[0]))
        if done is None:
            Y[rows] = v * scale[:, None]
            break
        Y[rows[done]] = v[done] * scale[done, None]
        rows = rows[~done]
        r *= 2.0
    return np.zeros((n, W.shape[0])) if Y is None else Y


@dataclass
class Tiles:
    """The periphery at run time for the layers of ``shapes``: their tile layouts, the output scales, the mapping
    scales and the IO's random stream. :meth:`forward` and :meth:`backward` are the layers' products (the hooks of
    :meth:`aimc_theory.architectures.Architecture.forward`); :meth:`map_weights` maps a tile's initial weights,
    :meth:`factors` splits a layer's gradient into its tiles' rank-1 factors (as the update sees them) and
    :meth:`step_scales` trains the output scales.

    ``alpha[k][t]``: tile t's learned output scale (a float, or with ``out_scaling_columnwise`` an array over the
    tile's rows); ``mapping[k][t]``: its mapping scale m_t (None without mapping; a float, or per row)."""

    periphery: Periphery
    shapes: list
    rng: np.random.Generator
    layout: list = field(init=False)
    alpha: list = field(init=False)
    mapping: list = field(init=False)
    record: bool = field(init=False, default=False)        # keep the tiles' reads for the scales' gradient
    _reads: dict = field(init=False, default_factory=dict)

    def __post_init__(self):
        self.layout = [tile_layout(tuple(s), self.periphery) for s in self.shapes]
        if self.periphery.out_scaling_columnwise:        # one scale per output row of every tile
            self.alpha = [[np.ones(rs.stop - rs.start) for rs, _ in t] for t in self.layout]
        else:
            self.alpha = [np.ones(len(t)) for t in self.layout]
        self.mapping = [[None] * len(t) for t in self.layout]

    def map_weights(self, k: int, t: int, W0: np.ndarray) -> np.ndarray:
        """Tile t of layer k starts at the logical weights ``W0`` (its block): returns the weights stored on its
        devices, W0 / m_t, and keeps m_t = max |W0| / omega (per row with ``weight_scaling_columnwise``; 1 where
        the max is 0), aihwkit's ``apply_weight_scaling``. The learned output scale restarts at 1 (``set_scales``).
        Without mapping returns ``W0`` itself."""
        p = self.periphery
        if not p.mapping:
            return W0
        if p.weight_scaling_columnwise:
            m = np.abs(W0).max(axis=1) / p.weight_scaling_omega
            m[m == 0.0] = 1.0
            stored = W0 / m[:, None]
        else:
            m = float(np.abs(W0).max()) / p.weight_scaling_omega
            m = 1.0 if m == 0.0 else m
            stored = W0 / m
        self.mapping[k][t] = m
        if p.out_scaling_columnwise:
            self.alpha[k][t][:] = 1.0
        else:
            self.alpha[k][t] = 1.0
        return stored

    def lr_scale(self, k: int, t: int) -> float:
        """aihwkit's ``mapping_lr_scale`` of tile t: 1 / mean m_t with ``weight_scaling_lr_compensation``, else 1.
        The tile's learning rate is the optimizer's times this."""
        m = self.mapping[k][t]
        if m is None or not self.periphery.weight_scaling_lr_compensation:
            return 1.0
        return 1.0 / float(np.mean(m))

    def forward(self, k: int, X: np.ndarray, W: np.ndarray) -> np.ndarray:
        """z = sum_t alpha_t m_t f(W_t, X[:, C_t]) in the rows R_t (a fresh array; without the bias)."""
        p = self.periphery
        out = np.zeros((X.shape[0], W.shape[0]))
        reads = []
        for t, (rs, cs) in enumerate(self.layout[k]):
            y = analog_mvm(W[rs, cs], X[:, cs], p.forward, self.rng)
            m = self.mapping[k][t]
            if m is not None:
                y = y * m                       # aihwkit post_forward: the mapping scales after the ADC
            if p.out_scaling:
                reads.append(y)
                out[:, rs] += self.alpha[k][t] * y
            else:
                out[:, rs] += y
        if self.record and p.out_scaling:
            self._reads[k] = reads
        return out

    def backward(self, k: int, D: np.ndarray, W: np.ndarray) -> np.ndarray:
        """dL/dX = sum_t g(W_t^T, m_t alpha_t D[:, R_t]) in the columns C_t."""
        p = self.periphery
        out = np.zeros((D.shape[0], W.shape[1]))
        for t, (rs, cs) in enumerate(self.layout[k]):
            d = D[:, rs] * self.alpha[k][t] if p.out_scaling else D[:, rs]
            m = self.mapping[k][t]
            if m is not None:
                d = d * m                       # aihwkit pre_backward
            out[:, cs] += analog_mvm(W[rs, cs].T, d, p.backward, self.rng)
        return out

    def factors(self, k: int, a: np.ndarray, delta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every tile's rank-1 factors of layer k's gradient (a, delta) as its update sees them:
        (x[:, C_t], alpha_t delta[:, R_t]), divided by m_t s_t with mapping (aihwkit ``pre_update``)."""
        out = []
        for t, (rs, cs) in enumerate(self.layout[k]):
            at = a if cs == slice(0, a.shape[1]) else np.ascontiguousarray(a[:, cs])
            dt = delta if rs == slice(0, delta.shape[1]) else np.ascontiguousarray(delta[:, rs])
            dt = dt * self.alpha[k][t] if self.periphery.out_scaling else dt
            m = self.mapping[k][t]
            if m is not None:
                dt = dt / (m * self.lr_scale(k, t))
            out.append((at, dt))
        return out

    def scale_gradient(self, k: int, delta: np.ndarray) -> list:
        """dL/dalpha_t = sum over rows (samples, positions) and outputs i in R_t of delta_i y_i, y = m_t f(W_t,
        x[C_t]) the tile's read of the last recorded forward pass (column-wise scales: per output i, an array).
        A float per tile (an array per tile when column-wise); one array over the tiles for per-tile scales."""
        reads = self._reads[k]
        if self.periphery.out_scaling_columnwise:
            return [np.sum(delta[:, rs] * y, axis=0) for (rs, _), y in zip(self.layout[k], reads)]
        return np.array([float(np.sum(delta[:, rs] * y)) for (rs, _), y in zip(self.layout[k], reads)])

    def step_scales(self, k: int, delta: np.ndarray, lr: float) -> None:
        """alpha_t <- alpha_t - lr dL/dalpha_t (digital SGD, as the biases)."""
        if not self.periphery.out_scaling:
            return
        grad = self.scale_gradient(k, delta)
        if self.periphery.out_scaling_columnwise:
            for t, g in enumerate(grad):
                self.alpha[k][t] = self.alpha[k][t] - lr * g
        else:
            self.alpha[k] -= lr * grad

    def mean_scales(self) -> list[float]:
        """The mean learned output scale of every layer (over its tiles, or over its rows when column-wise)."""
        if self.periphery.out_scaling_columnwise:
            return [float(np.concatenate(a).mean()) for a in self.alpha]
        return [float(a.mean()) for a in self.alpha]

    def mean_mapping(self) -> list[float]:
        """The mean mapping scale m of every layer (over its tiles' scales, or rows when column-wise); [] without
        mapping."""
        if not self.periphery.mapping:
            return []
        return [float(np.mean(np.concatenate([np.atleast_1d(m) for m in ms]))) for ms in self.mapping]

    def logical(self, k: int, W: np.ndarray) -> np.ndarray:
        """Layer k's logical weights m_t alpha_t W_t (in place into ``W``, the stored weights assembled)."""
        p = self.periphery
        for t, (rs, cs) in enumerate(self.layout[k]):
            scale = self.alpha[k][t] if p.out_scaling else None
            m = self.mapping[k][t]
            if m is not None:
                scale = m if scale is None else m * scale
            if scale is None:
                continue
            W[rs, cs] *= np.asarray(scale)[:, None] if np.ndim(scale) else scale
        return W
