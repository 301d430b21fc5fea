"""``reproduce p2-table2``: the FCN rows of P2 (arXiv 2602.21321) Table 2 — TT-v2, AGAD and E-RIDER trained on
the RRAM-HfO2 preset with a reference offset of mean x std on the gradient array — next to P2's numbers.

What P2 ran (arXiv 2602.21321 Table 2, §4, App. Tables 3-5): an FCN 784-256-128-10 (sigmoid) on MNIST, batch 10,
40 epochs, aihwkit's ``ReRamArrayHfO2PresetDevice`` for both arrays, the three algorithms as aihwkit transfer
compounds, and a per-device reference offset drawn N(Ref Mean, Ref Std^2) for every cell of the grid
Ref Mean in {0, 0.2, 0.3, 0.4} x Ref Std in {0.05, 0.2, 0.3, 0.4, 0.7, 1.0}. The table's layout was read from a
text dump of P2's HTML page: the row group is Ref Mean and the columns are Ref Std. That mapping is likely, not
certain (:data:`LAYOUT_NOTE`).

Sources of the configuration. P2's experiment scripts are not public: github Zhaoxian-Wu/analog-training
(commit 17d0e0c) holds only P3's (NeurIPS-2024) and P1's (NeurIPS-2025) scripts. The settings below come from
(a) P2's hyperparameter tables (the FCN column), (b) aihwkit's ``build_config`` for each compound ("ttv2",
"ttv3" = c-TTv2, "agad"), which the authors' own P1/P3 scripts use for the same compounds, and (c) the C++ of
aihwkit 1.2 (``rpu_transfer_device``, ``rpu_buffered_transfer_device``, ``rpu_chopped_transfer_device``,
``rpu_dynamic_transfer_device``). Every aihwkit setting and the toolkit parameter it maps to
(:func:`configuration` returns the same as data):

=====================================  ==========================================================================
aihwkit setting (P2 FCN)               toolkit
=====================================  ==========================================================================
optimizer lr 0.05                      ``network.train(lr=0.05)``: the global lr; P2 gives no FCN lr, 0.05 is
                                       its LeNet lr for AGAD/E-RIDER and the authors' analog FCN lr (P1, P3)
batch 10, NLL loss, sigmoid FCN        ``batch_size=10``, the toolkit's FCN (Glorot init, digital biases)
``ReRamArrayHfO2PresetDevice`` x 2     ``preset:reram-array-hfo2`` for A and C: soft bounds on [-1, 1],
                                       dw_min 0.4622, cycle noise dw_min_std 0.2174 (additive, mult_noise off);
                                       device-to-device variation as the preset draws it (dw_min_dtod 0.7125
                                       log-normal, up_down_dtod 0.01, w_max/min_dtod 0.43/0.60) except its
                                       reference_std, which the grid replaces
reference_mean / reference_std         ``reference_offset=(mean, std)``: A's per-element SP offset, P2 eq. 105
                                       (aihwkit's visible SP is -(mean + std xi): the sign is mirrored, the
                                       preset is symmetric); C's reference is not offset (see Not modelled)
update: desired_bl 5, update and BL    A's device writes per-sample pulse trains of at most 5 slots (the
management (``build_config``)          ``build_config`` of all three compounds)
transfer_update desired_bl 1           ``transfer_bl=1``: at most one pulse per element and read
TT-v2 = BufferedTransferCompound       ``tt-v2``: fast_lr 0.03 (absolute), transfer_lr 0.01 (x lr),
(thres_scale and momentum are its      thres_scale 0.8, momentum 0.1, forget_buffer, gamma 0; one column per
fields; units_in_mbatch True)          mini-batch (``columns_per_transfer=1``)
AGAD = DynamicTransferCompound         ``agad``: fast_lr 0.05, transfer_lr 0.3, in_chop_prob 0.1 (regular
(``build_config("agad")``:             period of 10 passes), tail_weightening 5, auto_granularity 0 (the
auto_scale on, units_in_mbatch off)    compound's default; P2 lists 1000 only for E-RIDER), gamma 0,
                                       ``auto_scale=1``; one column per sample
E-RIDER = ChoppedTransferCompound      ``e-rider-chopped``: fast_lr 0.5, transfer_lr 0.05, in_chop_prob 0.05
with gamma 0.1 (``build_config(        (random), gamma 0.1, auto_granularity 1000, momentum 0,
"ttv3")``: auto_scale on,              ``auto_scale=1``; one column per sample
units_in_mbatch off)
=====================================  ==========================================================================

Why so few pulses reach C (measured before this module, and by aihwkit's arithmetic). With these numbers and
aihwkit's semantics a read adds to C's buffer: E-RIDER c A transfer_lr lr gamma / (dA auto_granularity / 784)
= 4.2e-4 A (layer 1); AGAD (v - p) transfer_lr lr / dA = 0.032 (v - p); TT-v2 transfer_lr lr A = 5e-4 A against
a threshold thres_scale dC = 0.37. Layer 1 reads each of its 784 columns once per 784 samples (TT-v2: per 784
mini-batches), so in 3 epochs of 10k samples no column of E-RIDER's or TT-v2's layer 1 can reach its threshold,
and in P2's 40 epochs of 60k each is read ~3000 times (E-RIDER: at most ~1.3 pulses per element). P2's
accuracies therefore rest on what A learns and shows through gamma (E-RIDER), or on settings not in its tables.
Here, with auto_scale, E-RIDER writes up to fast_lr desired_bl = 2.5 pulses of 0.46 per sample on A, and its
residual gamma c A moves the first layer's weights by ~0.05 (their Glorot bound is 0.076): the sigmoids
saturate and the run ends at chance (or diverges); TT-v2's W = C never moves (only the digital biases learn);
AGAD learns once its writes to C start (after N = 10 chopper passes: 7840 samples for the first layer).
The per-epoch count of the pulses that reached C (per weight and layer) is in every row
(``transfer_pulses_per_epoch``, from the compounds' state; printed under the table).

Weight mapping: what the authors' code sets, and the main candidate explanation. P2's scripts are not public.
The authors' own scripts for the same compounds (github Zhaoxian-Wu/analog-training, NeurIPS-2025/S2-mnist-FCN.py
and NeurIPS-2024/S4.1-mnist-FCN.py) always set ``mapping.learn_out_scaling = True`` and
``mapping.weight_scaling_columnwise = True`` with ``mapping.weight_scaling_omega`` 0.3 for TT-v2 (and RL-v2),
0.6 for TT-v3 (c-TTv2, the ChoppedTransferCompound E-RIDER is built on) and TT-v4 (AGAD); aihwkit's default IO
both ways, update desired_bl 5 for their hand-built compounds. With that mapping (:mod:`aimc_theory.periphery`)
every tile's weights are stored divided by m = max_j |W0_ij| / omega (per output row), so they fill +-omega
of the conductance range instead of |w| <= 0.08 (layer 1, Glorot), a pulse of 0.46 is m x 0.46 of a logical
weight, a reference offset is m times as small in the logical weights, and the update's error is divided by m
(A is written ~1/m times harder, except where auto_scale normalises the error by its running maximum: AGAD
and E-RIDER here). This experiment's default runs without
mapping, since P2 does not state it; ``weight_scaling_omega=X`` (``--weight-scaling-omega X``) runs the three
compounds with the authors' mapping (column-wise, omega X) and the learned scalar output scale they pair it
with (``out_scaling=False``, ``--no-out-scaling``: the mapping alone); the rows, the configuration and the
figure's name carry it. It was the main candidate explanation for the differences above (it changes the size of
every C pulse relative to the weights by m, ~0.1-0.7, which no hyperparameter of P2's tables does), but it does
not bring pulses to C for TT-v2 and E-RIDER: their transfer increments (transfer_lr lr A against thres_scale dC;
c A transfer_lr lr gamma / b against 1) do not contain m (aihwkit divides only the gradient by it; with
``weight_scaling_lr_compensation`` the transfer rate grows by 1 / mean m, ~4 in layer 1, still hundreds of reads
short). Measured (cell 0.3 / 0.3, Fashion-MNIST 10000/2000, 3 epochs, seed 0; test % after epochs 1 / 2 / 3,
binomial SE ~0.7-1.1; pulses written to C per weight of layers 1 / 2 / 3 after 3 epochs):

==========================  ======================  ========================================  ======================
configuration               TT-v2 (C pulses)        AGAD (C pulses)                           E-RIDER (C pulses)
==========================  ======================  ========================================  ======================
no mapping (P2's stated)    12.8 / 8.4 / 12.3 (0)   10.0 / 48.8 / 68.6 (0.054 / 0.15 / 0.54)  10.0 / 10.0 / 10.0 (0)
omega 0.3, output scale     10.9 / 10.0 / 8.6 (0)   12.4 / 56.4 / 70.8 (0.050 / 0.16 / 0.46)  10.0 / 10.0 / 10.0 (0)
omega 0.3, no output scale  12.8 / 9.0 / 10.3 (0)   15.0 / 34.8 / 54.4 (0.095 / 0.16 / 0.49)  10.0 / 19.2 / 10.0 (0)
omega 0.6, output scale     10.9 / 10.4 / 10.0 (0)  10.0 / 62.9 / 72.3 (0.085 / 0.16 / 0.48)  10.0 / 17.8 / 10.0 (0)
==========================  ======================  ========================================  ======================

(mapping scales m per layer: 0.25 / 0.41 / 0.69 at omega 0.3, half that at 0.6; E-RIDER's learned output scale of
the last layer falls to ~0 and below, -0.09 to 0.06, within the first epoch). The ordering E-RIDER > AGAD >
TT-v2 fails with and without the mapping: in this configuration it is not about the mapping.

Not modelled: aihwkit's IO and 512-input tiles in this experiment (:mod:`aimc_theory.periphery` has them for
``network.train``), the weight mapping unless asked for (above), the HfO2 preset's write noise
(write_noise_std 0.5841), C's own reference offset, MNIST (not installed here: Fashion-MNIST subsets by
default; ``--dataset DIR`` takes MNIST IDX files), the 40 epochs (default 3).

Theory side. The scalar ``rider`` / ``e-rider`` (:mod:`aimc_theory.tracking`, P2 eqs. 11-18: one chopper, a
dense transfer each step, a digital SP estimate Q) are P2's equations; this experiment runs the compounds P2's
code ran. The two are labelled apart everywhere.
"""
from __future__ import annotations

import dataclasses
import math
import re
import time
from dataclasses import dataclass, field

import numpy as np

from . import data as data_mod, network, presets, registry
from .device import Device
from .errors import InputError, require_int
from .periphery import Periphery
from .pulse_trains import PulseTrains

ALGORITHMS = ("tt-v2", "agad", "e-rider-chopped")
LABEL = {"tt-v2": "TT-v2", "agad": "AGAD", "e-rider-chopped": "E-RIDER"}
REF_MEANS = (0.0, 0.2, 0.3, 0.4)
REF_STDS = (0.05, 0.2, 0.3, 0.4, 0.7, 1.0)
DEFAULT_GRID = "0:0.05,0.3:0.3,0.4:1.0"
DEFAULT_EPOCHS = 3
TRAIN_SIZE, TEST_SIZE = 10000, 2000
PRESET = "reram-array-hfo2"
LR, BATCH, HIDDEN, DESIRED_BL = 0.05, 10, (256, 128), 5
PAPER_EPOCHS = 40
LAYOUT_NOTE = ("P2 Table 2's layout was read from a text dump of its HTML page: row group = Ref Mean, columns = "
               "Ref Std. The mapping is likely, not certain")

# P2 Table 2, FCN (test accuracy %, 40 epochs, MNIST): P2_FCN[algorithm][ref_mean] = one value per REF_STDS
P2_FCN = {
    "tt-v2": {0.0: (90.26, 88.75, 87.40, 85.98, 82.85, 79.20), 0.2: (73.37, 73.99, 71.88, 70.40, 68.63, 62.35),
              0.3: (72.86, 72.65, 69.70, 69.96, 66.44, 61.45), 0.4: (72.00, 68.08, 68.80, 67.85, 66.15, 57.79)},
    "agad": {0.0: (92.59, 91.96, 92.11, 92.48, 92.19, 91.37), 0.2: (92.86, 91.95, 92.63, 92.80, 92.22, 90.77),
             0.3: (92.31, 92.52, 92.47, 92.88, 91.68, 91.35), 0.4: (92.55, 92.42, 92.42, 92.06, 90.62, 90.43)},
    "e-rider-chopped": {0.0: (95.45, 95.48, 95.39, 95.34, 95.42, 93.86),
                        0.2: (95.78, 95.63, 95.84, 95.82, 95.82, 95.18),
                        0.3: (95.76, 95.81, 95.91, 95.88, 95.79, 94.84),
                        0.4: (96.07, 96.21, 96.20, 96.23, 95.87, 95.14)},
}

# the registry options of each compound in this experiment (P2's FCN column; auto_scale as build_config sets it)
OPTIONS = {
    "tt-v2": {"fast_lr": 0.03, "transfer_lr": 0.01, "thres_scale": 0.8, "momentum": 0.1, "gamma": 0.0,
              "columns_per_transfer": 1, "transfer_bl": 1},
    "agad": {"fast_lr": 0.05, "transfer_lr": 0.3, "in_chop_prob": 0.1, "tail_weightening": 5.0,
             "auto_granularity": 0.0, "gamma": 0.0, "momentum": 0.0, "transfer_bl": 1, "auto_scale": 1},
    "e-rider-chopped": {"fast_lr": 0.5, "transfer_lr": 0.05, "in_chop_prob": 0.05, "gamma": 0.1,
                        "auto_granularity": 1000.0, "momentum": 0.0, "transfer_bl": 1, "auto_scale": 1},
}

# what each toolkit option is in aihwkit (for the stated configuration)
AIHWKIT_NAME = {
    "fast_lr": "fast_lr (scale_fast_lr=False: absolute)", "transfer_lr": "transfer_lr (scale_transfer_lr=True: x lr)",
    "thres_scale": "thres_scale (x dw_min of C)", "momentum": "momentum (forget_buffer=True)", "gamma": "gamma",
    "columns_per_transfer": "n_reads_per_transfer per transfer_every=1 mini-batch (units_in_mbatch=True)",
    "transfer_bl": "transfer_update.desired_bl", "in_chop_prob": "in_chop_prob",
    "tail_weightening": "tail_weightening", "auto_granularity": "auto_granularity (transfer_every=1)",
    "auto_scale": "auto_scale (auto_momentum 0.99)",
}
# the authors' weight_scaling_omega for these compounds in their P1/P3 scripts (P2's are not public)
AUTHORS_OMEGA = {"tt-v2": 0.3, "agad": 0.6, "e-rider-chopped": 0.6}
COMPOUND = {"tt-v2": "BufferedTransferCompound", "agad": "DynamicTransferCompound (build_config 'agad')",
            "e-rider-chopped": "ChoppedTransferCompound with gamma > 0 (build_config 'ttv3')"}


def parse_grid(text: str | None) -> list[tuple[float, float]]:
    """``MEAN:STD[,...]`` -> [(mean, std), ...], each a cell of P2's grid (None: :data:`DEFAULT_GRID`)."""
    text = DEFAULT_GRID if text is None else text
    means = ", ".join(f"{m:g}" for m in REF_MEANS)
    stds = ", ".join(f"{s:g}" for s in REF_STDS)
    rule = f"must be MEAN:STD[,MEAN:STD...] with MEAN in {{{means}}} and STD in {{{stds}}} (P2 Table 2's grid)"
    if not isinstance(text, str) or not text.strip():
        raise InputError("grid", f"{rule} (got {text!r})")
    cells = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*([^:\s]+)\s*:\s*([^:\s]+)\s*", part)
        try:
            mean, std = (float(m.group(1)), float(m.group(2))) if m else (math.nan, math.nan)
        except ValueError:
            mean = std = math.nan
        cell = (_snap(mean, REF_MEANS), _snap(std, REF_STDS))
        if None in cell:
            raise InputError("grid", f"{rule} (got {part.strip()!r} in {text!r})")
        if cell in cells:
            raise InputError("grid", f"{rule}, each cell once (got {part.strip()!r} twice in {text!r})")
        cells.append(cell)
    return cells


def _snap(x: float, values) -> float | None:
    for v in values:
        if abs(x - v) <= 1e-9:
            return v
    return None


def paper(algorithm: str, ref_mean: float, ref_std: float) -> float:
    """P2's number (test accuracy %, FCN, 40 epochs) for one cell."""
    return P2_FCN[algorithm][_snap(ref_mean, REF_MEANS)][REF_STDS.index(_snap(ref_std, REF_STDS))]


def _preset():
    pre = presets.get("preset:" + PRESET)
    # the grid's offset replaces the preset's own reference error (reference_std 0.05 = the grid's first column)
    return dataclasses.replace(pre, dtod={k: v for k, v in pre.dtod.items() if k != "reference_std"})


def devices() -> tuple[Device, Device, presets.PresetVariation]:
    """(A, C, the preset's device-to-device variation): A writes per-sample pulse trains (desired_bl 5, update
    and BL management), C takes the transfer's pulses; both the HfO2 preset with its cycle noise."""
    pre = _preset()
    resp = pre.response()
    c2c = pre.c2c["dw_min_std"]
    A = Device(resp, dw_min=pre.dw_min, sigma_c=c2c, trains=PulseTrains(desired_bl=DESIRED_BL))
    C = Device(resp, dw_min=pre.dw_min, sigma_c=c2c)
    return A, C, presets.variation(pre)


def mapping(weight_scaling_omega: float | None, out_scaling: bool = True) -> Periphery | None:
    """The periphery of the authors' mapping (column-wise, to +-omega of the HfO2 range, with the learned scalar
    output scale unless ``out_scaling`` is False), or None without mapping (omega None or 0). Errors name
    ``weight_scaling_omega`` (in (0, 1): inside the preset's range [-1, 1]) or ``out_scaling``."""
    w = weight_scaling_omega
    if w is None or (not isinstance(w, bool) and isinstance(w, (int, float, np.number)) and w == 0):
        if not out_scaling:
            raise InputError("out_scaling", "applies only with the weight mapping (weight_scaling_omega > 0): "
                                            "without it there is no learned output scale to drop")
        return None
    resp = _preset().response()
    bound = min(resp.hi, -resp.lo)
    if isinstance(w, bool) or not isinstance(w, (int, float, np.number)) or not math.isfinite(w) or not 0 < w < bound:
        raise InputError("weight_scaling_omega", f"must be a number in (0, {bound:g}): the mapped weights reach "
                                                 f"+-omega inside the HfO2 preset's range [{resp.lo:g}, {resp.hi:g}]"
                                                 f" (got {w!r})")
    return Periphery(out_scaling=bool(out_scaling), weight_scaling_omega=float(w), weight_scaling_columnwise=True)


def configuration(algorithm: str, periphery: Periphery | None = None) -> dict:
    """The stated configuration of one compound: every setting as aihwkit names it and the toolkit's value
    (``periphery``: the weight mapping of :func:`mapping`, None: none)."""
    if algorithm not in OPTIONS:
        raise InputError("algorithm", f"must be one of {', '.join(ALGORITHMS)} (got {algorithm!r})")
    pre = _preset()
    return {"algorithm": algorithm, "label": LABEL[algorithm], "aihwkit_compound": COMPOUND[algorithm],
            "options": dict(OPTIONS[algorithm]),
            "aihwkit": {AIHWKIT_NAME[k]: v for k, v in OPTIONS[algorithm].items()},
            "lr": LR, "batch_size": BATCH, "hidden": list(HIDDEN), "init": "glorot",
            "device": f"preset:{PRESET} (A and C)", "dw_min": pre.dw_min,
            "update_desired_bl": DESIRED_BL, "cycle_noise_dw_min_std": pre.c2c["dw_min_std"],
            "device_to_device": dict(pre.dtod), "reference_offset": "A only, N(ref_mean, ref_std^2) per element",
            "periphery": "none (perfect IO, no weight mapping, no output scale, one tile per layer)"
            if periphery is None else periphery.describe() + ", perfect IO, one tile per layer",
            "mapping": None if periphery is None else
            {"weight_scaling_omega": periphery.weight_scaling_omega, "weight_scaling_columnwise": True,
             "learn_out_scaling": bool(periphery.out_scaling),
             "authors_omega_for_this_compound": AUTHORS_OMEGA[algorithm]},
            "theory_side": "rider / e-rider (P2 eqs. 11-18, scalar): not this run"}


@dataclass
class P2Table2Result:
    rows: list
    grid: list
    dataset: str
    train_size: int
    test_size: int
    subset_seed: int | None
    epochs: int
    seeds: int
    seed: int
    seconds: float
    partial: str | None = None
    configurations: dict = field(default_factory=dict)
    mapping: dict | None = None         # the weight mapping's settings (None: none, P2's stated configuration)

    def as_dict(self) -> dict:
        out = {"experiment": "p2-table2", "mapping": self.mapping, "rows": self.rows,
               "grid": [list(c) for c in self.grid],
               "dataset": self.dataset, "train_size": self.train_size, "test_size": self.test_size,
               "subset_seed": self.subset_seed, "epochs": self.epochs, "paper_epochs": PAPER_EPOCHS,
               "seeds": self.seeds, "seed": self.seed, "seconds": self.seconds, "layout_note": LAYOUT_NOTE,
               "configurations": self.configurations,
               "theory_side": "the scalar rider / e-rider are P2's equations; these rows run aihwkit's compounds",
               "changed_options": changed_options(self.configurations)}
        if self.partial:
            out["partial"] = self.partial
        return out


def p2_table2(grid: str | list | None = None, dataset="fashion-mnist", train_size: int | None = None,
              test_size: int | None = None, subset_seed: int = data_mod.SUBSET_SEED, epochs: int = DEFAULT_EPOCHS,
              seeds: int = 1, seed: int = 0, algorithms=ALGORITHMS, overrides: dict | None = None,
              hidden: tuple = HIDDEN, progress=None, weight_scaling_omega: float = 0.0,
              out_scaling: bool = True) -> P2Table2Result:
    """Train TT-v2, AGAD and E-RIDER (aihwkit's compounds) on every cell (ref_mean, ref_std) of ``grid`` for
    ``seeds`` seeds (seed, seed + 1, ...) and put P2 Table 2's FCN numbers next to ours.

    Parameters
    ----------
    grid : str or list of (mean, std)
        ``MEAN:STD[,...]`` (:func:`parse_grid`; None: :data:`DEFAULT_GRID`).
    dataset : str or Dataset
        "fashion-mnist" (default), "digits", a directory of IDX files (P2: MNIST), or a Dataset.
    train_size, test_size : int or None
        Stratified subsets drawn with ``subset_seed`` (default 10000 / 2000, or the whole split if smaller).
    epochs, seeds, seed : int
    algorithms : tuple
        A subset of :data:`ALGORITHMS`.
    overrides : dict, optional
        algorithm -> registry options replacing this experiment's (the claim's sensitivity runs).
    hidden : tuple of int
        The FCN's hidden widths (P2: 256, 128; smaller only for quick checks).
    progress : callable(done, total, seconds), optional
        Samples trained so far of all runs.
    weight_scaling_omega : float
        > 0: the authors' weight mapping (column-wise to +-omega, with a learned scalar output scale; module
        docstring), in (0, 1); 0: none (default, as P2 states its configuration).
    out_scaling : bool
        With the mapping: False drops the learned output scale (the mapping alone).

    Returns
    -------
    P2Table2Result
        ``rows``: per (cell, algorithm) ``algorithm``, ``label``, ``ref_mean``, ``ref_std``, ``test_accuracy``
        (final, mean over seeds, a fraction), ``test_accuracy_std``, ``test_accuracy_se`` (binomial and seed
        spread: sqrt(p (1 - p) / (n_test seeds) + std^2 / seeds)), ``test_accuracy_seeds``,
        ``test_accuracy_per_epoch``, ``seconds_per_epoch`` (means over seeds), ``transfer_pulses_per_epoch`` (per
        epoch and layer, the pulses written to C per weight, mean over seeds), ``output_scale_per_epoch`` and
        ``mapping_scale_per_layer`` (with the mapping), ``configuration``, ``paper`` (P2's number, %),
        ``paper_epochs``.

    On Ctrl-C raises :class:`aimc_theory.simulation.Interrupted` whose ``partial`` is the result of the finished
    (cell, algorithm) pairs (None if none finished).
    """
    from .simulation import Interrupted
    cells = grid if isinstance(grid, list) else parse_grid(grid)
    bad = [a for a in algorithms if a not in ALGORITHMS]
    if bad or not algorithms:
        raise InputError("algorithm", f"must be among {', '.join(ALGORITHMS)} (got {bad or algorithms!r})")
    epochs, seeds = require_int("epochs", epochs), require_int("seeds", seeds)
    seed = require_int("seed", seed, minimum=0)
    per = mapping(weight_scaling_omega, out_scaling)
    try:
        ds, used_seed = data_mod.cut(dataset, train_size, test_size, subset_seed, (TRAIN_SIZE, TEST_SIZE))
    except InputError as exc:
        if exc.param == "dataset" and "not found" in str(exc):
            raise InputError("dataset", str(exc).split(": ", 1)[1] + "; or run on --dataset digits (built in) or "
                                        "a directory of MNIST IDX files (P2's data)") from None
        raise
    A, C, variation = devices()
    configs = {a: configuration(a, per) | {"hidden": list(hidden)} for a in algorithms}
    for a, o in (overrides or {}).items():
        registry.with_defaults(a, o)            # an option the compound does not take is an error naming it
        configs[a]["options"] = configs[a]["options"] | dict(o)
    n = ds.x_train.shape[0] - ds.x_train.shape[0] % BATCH
    jobs = [(cell, a) for cell in cells for a in algorithms]
    total = len(jobs) * seeds * epochs * n
    t0 = time.perf_counter()
    out: list[dict] = []
    runs_progress = network.RunsProgress(progress, total, n)
    bar = runs_progress.line

    def result(partial=None) -> P2Table2Result:
        return P2Table2Result(out, cells, ds.name, int(ds.x_train.shape[0]), int(ds.x_test.shape[0]), used_seed,
                              epochs, seeds, seed, time.perf_counter() - t0, partial, configs,
                              None if per is None else per.as_dict() | {"description": per.describe()})

    try:
        for (mean, std), alg in jobs:
            runs = []
            for s in range(seeds):
                try:
                    runs.append(network.train(ds, alg, A, C, epochs=epochs, batch_size=BATCH, lr=LR, seed=seed + s,
                                              hidden=hidden, options=configs[alg]["options"],
                                              reference_offset=(mean, std), variation=variation,
                                              progress=bar if progress is not None else None, periphery=per))
                except InputError as exc:       # a diverged run is a result of the cell (P2 reports such too)
                    if "diverged" not in str(exc):
                        raise
                    runs.append(_Diverged(seed + s, str(exc).split(": ", 1)[1]))
                runs_progress.next_run(epochs)
            out.append(_row(alg, mean, std, runs, int(ds.x_test.shape[0]), configs[alg]))
    except KeyboardInterrupt:
        what = f"{len(out)} of {len(jobs)} (cell, algorithm) runs finished"
        raise Interrupted(result(what) if out else None, what) from None
    return result()


@dataclass(frozen=True)
class _Diverged:
    """A seed whose training the network path stopped as diverged (its loss above 4 log K)."""
    seed: int
    message: str


def _row(alg, mean, std, runs, n_test, config) -> dict:
    """One (cell, algorithm) row; the accuracies are over the seeds that did not diverge (NaN if none did)."""
    ok = [r for r in runs if not isinstance(r, _Diverged)]
    finals = np.array([r.test_accuracy for r in ok])
    p = float(finals.mean()) if ok else math.nan
    sd = float(finals.std(ddof=1)) if finals.size > 1 else 0.0
    se = math.sqrt(p * (1 - p) / (n_test * finals.size) + sd ** 2 / finals.size) if ok else math.nan
    return {"algorithm": alg, "label": LABEL[alg], "ref_mean": mean, "ref_std": std, "test_accuracy": p,
            "test_accuracy_std": sd, "test_accuracy_se": se, "test_accuracy_seeds": finals.tolist(),
            "test_accuracy_per_epoch": np.mean([r.test_curve for r in ok], axis=0).tolist() if ok else [],
            "seconds_per_epoch": np.mean([r.seconds_per_epoch for r in ok], axis=0).tolist() if ok else [],
            "transfer_pulses_per_epoch": _mean_over_seeds([r.transfer_pulses for r in ok]),
            "output_scale_per_epoch": _mean_over_seeds([r.out_scale for r in ok]),
            "mapping_scale_per_layer": _mean_over_seeds([r.mapping_scale for r in ok]),
            "seeds": [r.seed for r in runs], "diverged": [{"seed": r.seed, "message": r.message} for r in runs
                                                           if isinstance(r, _Diverged)],
            "configuration": config, "paper": paper(alg, mean, std), "paper_epochs": PAPER_EPOCHS}


def _mean_over_seeds(values: list) -> list:
    """The element-wise mean of equally shaped nested lists (one per seed); [] if none or empty."""
    return np.mean(values, axis=0).tolist() if values and len(values[0]) else []


def changed_options(configurations: dict) -> dict:
    """algorithm -> {option: [P2's value, the value that ran]} for the options a sensitivity run replaced
    (``p2_table2(overrides=...)``, ``reproduce p2-table2 --set``); {} for P2's configuration."""
    out = {}
    for alg, cfg in configurations.items():
        ran = cfg.get("options", {})
        diff = {k: [OPTIONS[alg].get(k), v] for k, v in ran.items() if OPTIONS[alg].get(k) != v}
        if diff:
            out[alg] = diff
    return out


def describe(mapping: dict | None = None) -> str:
    """One line stating the configuration (for the printed table); ``mapping``: the result's ``mapping``."""
    return (f"FCN 784-256-128-10 sigmoid, batch {BATCH}, lr {LR}, preset:{PRESET} (dw_min 0.4622, cycle noise 0.2174, "
            f"its d2d variation) for A and C, A written by pulse trains (desired_bl {DESIRED_BL}), reference offset "
            "N(mean, std^2) on A; TT-v2 fast 0.03 / transfer 0.01 / thres 0.8 / 1 column per batch; AGAD fast 0.05 "
            "/ transfer 0.3 / chop 0.1 / auto_scale; E-RIDER fast 0.5 / transfer 0.05 / chop 0.05 / gamma 0.1 / "
            "auto_granularity 1000 / auto_scale; no IO, "
            + ("weight mapping or output scale" if mapping is None else
               f"one tile per layer; the authors' weight mapping: weights at +-{mapping['weight_scaling_omega']:g} "
               "of the range (one fixed scale per output row), "
               + ("a learned output scale per tile" if mapping["out_scaling"] else "no output scale")))


def draw(res: P2Table2Result, path) -> str:
    """Test accuracy per epoch of every (cell, algorithm): one panel per cell, P2's 40-epoch number dotted."""
    from matplotlib.figure import Figure
    from .files import save_figure
    cells = res.grid or [(0.0, 0.05)]
    fig = Figure(figsize=(4.2 * len(cells), 3.8))
    axes = np.atleast_1d(fig.subplots(1, len(cells)))
    for ax, (mean, std) in zip(axes, cells):
        for i, alg in enumerate(ALGORITHMS):
            row = next((r for r in res.rows if r["algorithm"] == alg and r["ref_mean"] == mean
                        and r["ref_std"] == std), None)
            if row is None:
                continue
            curve = row["test_accuracy_per_epoch"]
            ax.plot(np.arange(1, len(curve) + 1), 100 * np.asarray(curve), "o-", color=f"C{i}", label=LABEL[alg])
            ax.axhline(row["paper"], color=f"C{i}", ls=":", lw=1)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy %")
        ax.set_ylim(0, 100)
        ax.set_title(f"ref mean {mean:g}, std {std:g}\n(dotted: P2, {PAPER_EPOCHS} epochs MNIST)", fontsize=9)
        ax.legend(fontsize=7)
    mapped = "" if res.mapping is None else \
        f", weights mapped to omega {res.mapping['weight_scaling_omega']:g}" + \
        ("" if res.mapping["out_scaling"] else " (no output scale)")
    fig.suptitle(f"P2 Table 2 FCN rows on {res.dataset} ({res.train_size}/{res.test_size}, {res.epochs} epochs"
                 f"{mapped})" + (f" PARTIAL: {res.partial}" if res.partial else ""), fontsize=10)
    fig.tight_layout()
    return str(save_figure(fig, path))
