"""The one table of every command's parameters: name, type, default, valid range, help, commands.

The command line builds its parser from this table, :func:`aimc_theory.run.describe` validates Python
keywords and study files against it, and the library functions of :mod:`aimc_theory.commands` take
its names as keywords. A parameter is written here once; where two commands give the same name a
different meaning or default (``--pulses`` is a switch of ``simulate`` and a count of ``calibrate``),
it has one row per meaning.

    >>> from aimc_theory.parameters import parameters
    >>> p = parameters("simulate")["lr"]
    >>> p.flag, p.default, p.valid
    ('--lr', 0.01, '> 0')
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from .errors import MAX_MAGNITUDE, InputError
from .registry import ALGORITHMS, OPTIONS, defaults_text

COMMANDS = ("derive", "fixed-point", "simulate", "calibrate", "reproduce", "train", "check", "presets", "fit",
            "sweep", "cost")


@dataclass(frozen=True)
class Parameter:
    """One parameter of one or more commands.

    ``kind`` is "float", "int", "str", "flag" (on/off) or "pairs" (repeatable KEY=VALUE); ``valid`` the
    range a number must lie in ("> 0", ">= 0", ">= 1", or None: any finite value); ``choices`` the
    allowed texts; ``positional`` a command-line argument without a flag (shown as ``metavar``);
    ``group`` the --help section.
    """

    name: str
    kind: str
    default: Any
    help: str
    commands: tuple[str, ...]
    valid: str | None = None
    choices: tuple | None = None
    group: str | None = None
    positional: bool = False
    metavar: str | None = None
    required: bool = False
    short: str | None = None       # a one-letter alias (-p), also how errors name it

    @property
    def flag(self) -> str:
        """How the command line and error messages name it (``--w-star``; a positional: its metavar)."""
        if self.positional:
            return self.metavar or self.name.upper()
        return "--" + self.name.replace("_", "-")

    def check(self, value):
        """``value`` if it is a finite number within :attr:`valid` (None passes: the parameter is unset)."""
        if value is None or self.kind not in ("float", "int"):
            return value
        what = "integer" if self.kind == "int" else "number"
        where = "" if self.valid is None else (" in " if self.valid[0] in "[(" else " ") + self.valid
        if not math.isfinite(value) or (self.kind == "float" and abs(value) > MAX_MAGNITUDE):
            raise InputError(self.name, f"must be a finite {what}{where}"
                                        f"{'' if where else f' of magnitude <= {MAX_MAGNITUDE:g}'} (got {value!r})")
        if self.valid is not None and not in_range(value, self.valid):
            raise InputError(self.name, f"must be {'an' if what == 'integer' else 'a'} {what}{where} (got {value!r})")
        return value


def in_range(value, valid: str) -> bool:
    """``value`` within ``valid``: "> 0", ">= 1", or an interval "[0, 1]", "(0, 1]", "[0, 2^63)"."""
    if valid[0] in "[(":
        lo, hi = (_bound(x) for x in valid[1:-1].split(","))
        return (value >= lo if valid[0] == "[" else value > lo) and (value <= hi if valid[-1] == "]" else value < hi)
    op, bound = valid.split()
    return value > _bound(bound) if op == ">" else value >= _bound(bound)


def _bound(text: str):
    text = text.strip()
    if "^" in text:
        base, exp = text.split("^")
        return int(base) ** int(exp)
    return int(text) if text.lstrip("-").isdigit() else float(text)


SEED_RANGE = "[0, 2^63)"     # NumPy's generators take any non-negative integer; 2^63 keeps it an int64


_RESPONSE = "response functions"
_PROBLEM = "scalar quadratic f = L/2 (w - w*)^2, g = f'(w) + noise * xi, xi ~ N(0, 1)"
_OPTIONS = "algorithm options (each applies only to the algorithms named in its help)"
_ONE_RESPONSE = ("derive", "fixed-point", "simulate", "calibrate", "train", "check", "cost")
_TWO_ARRAYS = ("fixed-point", "simulate", "train", "cost")
_SCALAR = ("fixed-point", "simulate")
_VARIATION = ("fixed-point", "simulate", "calibrate", "train")
_COST_OPTIONS = ("gamma", "beta", "eta", "chop_prob", "q0")     # the options cost's three methods share
_PERIPHERY = "data subset and tile periphery (each off by default)"
_TABLE8 = "p1-table8 (arXiv 2502.06309 Table 8: FCN, batch 10)"


def _families() -> str:
    from .response import FAMILIES
    return ", ".join(FAMILIES)


def _rows() -> list[Parameter]:
    P = Parameter
    rows = [
        # the response of the (gradient / residual) array, and of the main array of two-array algorithms
        P("response", "str", None, "built-in family: " + _families() + "; or preset:NAME, a device preset of the "
          "reference simulator (aimc-theory presets)", _ONE_RESPONSE, group=_RESPONSE),
        P("param", "pairs", [], "family or expression parameter (repeatable)", _ONE_RESPONSE, group=_RESPONSE,
          metavar="KEY=VALUE", short="-p"),
        P("q_plus", "str", None, "expression for q+(w) (with --q-minus), e.g. as printed by aimc-theory fit",
          _ONE_RESPONSE, group=_RESPONSE),
        P("q_minus", "str", None, "expression for q-(w) (with --q-plus)", _ONE_RESPONSE, group=_RESPONSE),
        P("range", "str", None, "weight range LO,HI for expressions", _ONE_RESPONSE, group=_RESPONSE),
        P("sp_shift", "float", 0.0, "move the response by D: q(w - D)", _ONE_RESPONSE, group=_RESPONSE),
        P("main_response", "str", "ideal", "two-array algorithms: the main array W's family, or preset:NAME",
          _TWO_ARRAYS, group=_RESPONSE),
        P("main_param", "pairs", [], "parameter of --main-response (repeatable)", _TWO_ARRAYS, group=_RESPONSE,
          metavar="KEY=VALUE"),
        P("main_q_plus", "str", None, "two-array algorithms: expression for the main array W's q+(w) (with "
          "--main-q-minus; its named parameters from --main-param), instead of --main-response", _TWO_ARRAYS,
          group=_RESPONSE),
        P("main_q_minus", "str", None, "expression for the main array W's q-(w) (with --main-q-plus)", _TWO_ARRAYS,
          group=_RESPONSE),
        P("main_range", "str", None, "weight range LO,HI for the main array's expressions", _TWO_ARRAYS,
          group=_RESPONSE),
        P("time_budget", "float", 4.0, "seconds per SymPy call; the whole derivation at most 4x this (the forms in "
          "the -p parameters: at most 4 s per call)", ("derive",), valid="> 0"),
        P("digits", "int", 6, "significant digits of the decimals in the printed closed forms (integers and simple "
          "fractions such as 1/2 stay exact)", ("derive",), valid="[1, 30]"),
        P("latex", "flag", False, "print the closed forms as one LaTeX align* block to paste into a paper",
          ("derive",)),
        # the scalar problem
        P("algorithm", "str", "analog-sgd", "one of: " + ", ".join(ALGORITHMS), _SCALAR, group=_PROBLEM),
        P("L", "float", 1.0, "curvature L", _SCALAR + ("cost",), valid="> 0", group=_PROBLEM),
        P("w_star", "float", 0.5, "optimum w*", _SCALAR + ("cost",), group=_PROBLEM),
        P("noise", "float", 0.3, "std of the gradient noise", _SCALAR + ("cost",), valid=">= 0", group=_PROBLEM),
        P("lr", "float", 0.01, "learning rate", _SCALAR + ("cost",), valid="> 0", group=_PROBLEM),
        P("w0", "float", None, "initial (main) weight (default w*)", _SCALAR, group=_PROBLEM),
    ]
    # the algorithms' options, from the registry: each names the algorithms it applies to
    for opt in OPTIONS.values():
        # train's own row where an algorithm has network defaults for the option (AlgorithmSpec.network_defaults)
        own = defaults_text(opt.name, network=True) != defaults_text(opt.name)
        rows.append(P(opt.name, "int" if opt.kind is int else "float", None,
                      f"{opt.help} ({defaults_text(opt.name)})", _SCALAR + (() if own else ("train",))
                      + (("cost",) if opt.name in _COST_OPTIONS else ()),
                      valid=opt.valid, group=_OPTIONS))
        if own:
            rows.append(P(opt.name, "int" if opt.kind is int else "float", None,
                          f"{opt.help} (network {defaults_text(opt.name, network=True)}; the scalar commands: "
                          f"{defaults_text(opt.name)})", ("train",), valid=opt.valid, group=_OPTIONS))
    rows += [
        # variation between devices
        P("gain_dtod", "float", 0.0, "device-to-device log-normal step gain sigma (P2 eq. 103); at most 100: the "
          "gain exp(sigma xi) of a draw with |xi| = 7 must stay a finite float64", _VARIATION, valid="[0, 100]"),
        P("imbalance_dtod", "float", 0.0, "device-to-device up/down imbalance sigma, moves the SP (P2 eq. 103)",
          _VARIATION, valid=">= 0"),
        P("preset_dtod", "flag", False, "with --response preset:NAME: the preset's own device-to-device variation, "
          "as the reference simulator draws it: step gain (dw_min_dtod, normal or log-normal as the preset says), "
          "up/down imbalance (up_down_dtod), each device's own bounds (w_max_dtod, w_min_dtod) and slopes "
          "(gamma_dtod), and the zero-shifted arrays' reference error (reference_std)", _VARIATION),
        P("devices", "int", None, "devices drawn under the variation (default 1000; simulate --chains N --seed S "
          "draws the same N devices)", ("fixed-point",), valid=">= 1"),
        P("devices", "int", None, "with NAME: the SP distribution over this many devices drawn with the preset's "
          "d2d step variation, by theory and by pulsing (default: none)", ("presets",), valid=">= 1"),
        # runs
        P("steps", "int", 5000, "steps per chain", ("simulate",), valid=">= 1"),
        P("steps", "int", 1000, "p1-fig2: iterations (default 1000, as published)", ("reproduce",), valid=">= 1"),
        P("chains", "int", 1000, "independent chains", ("simulate", "cost"), valid=">= 1"),
        P("tolerance", "float", 0.01, "steps_to_tolerance: the first recorded step from which |chain mean of the "
          "read-out weight - w*| <= TOL at every later record (records every steps // 10000 steps, at least 1)",
          ("simulate",), valid="> 0"),
        P("chains", "int", 1000, "number of devices", ("calibrate",), valid=">= 1"),
        P("seed", "int", 0, "random seed", ("simulate", "calibrate", "reproduce", "train", "cost"), valid=SEED_RANGE),
        P("seed", "int", 0, "seed of the device draws", ("fixed-point", "presets"), valid=SEED_RANGE),
        P("pulses", "flag", False, "pulse-level device model (needs --dw-min)", ("simulate", "train")),
        P("pulses", "int", 10000, "number of pulses N", ("calibrate",), valid=">= 1"),
        P("dw_min", "float", None, "pulse size (with --pulses; RL v2: threshold)", ("simulate", "train"),
          valid="> 0"),
        P("dw_min", "float", None, "pulse size (required; a preset brings its own)", ("calibrate", "cost"),
          valid="> 0"),
        P("max_bl", "int", None, "cap on pulses per update (default none)", ("simulate", "train"), valid=">= 1"),
        P("sigma_c", "float", 0.0, "cycle-to-cycle noise per pulse, in dw_min", ("simulate", "calibrate", "train"),
          valid=">= 0"),
        P("desired_bl", "int", None, "write each gradient as stochastic coincidence pulse trains of at most this "
          "length, with update and BL management, as the reference simulator does (needs --pulses)",
          ("simulate", "train"), valid=">= 1"),
        P("dtype", "str", "float64", "precision of the weights and the per-step arithmetic; float32 draws another "
          "random stream, runs ~1.2-1.3x faster, time averages stay float64", ("simulate",),
          choices=("float64", "float32")),
        P("backend", "str", "numpy", "numba: the compiled kernel (pip install -e \".[fast]\"; analog-sgd and "
          "digital-sgd, expected update, built-in families), the same numbers several times faster",
          ("simulate",), choices=("numpy", "numba")),
        # calibrate
        P("scheme", "str", "cyclic", "alternating up/down pulses (cyclic) or random ones (stochastic, P2 Alg. 1)",
          ("calibrate",), choices=("cyclic", "stochastic")),
        P("w0", "float", None, "initial weight (default 0, or the middle of the range where 0 is not inside it)",
          ("calibrate",)),
        P("tolerance", "float", 0.01, "absolute error |w - SP| for pulses_to_tolerance", ("calibrate",),
          valid="> 0"),
        P("c2c_model", "str", "additive", "how --sigma-c enters a pulse: additive, dw_min (q(w) + sigma_c xi) (the "
          "toolkit's pulse model), or multiplicative, dw_min q(w) (1 + sigma_c xi) (the reference simulator's "
          "mult_noise); simulated everywhere pulses are (calibrate: also in the theory)",
          ("calibrate", "simulate", "train"), choices=("additive", "multiplicative")),
        # cost
        P("target", "float", 0.01, "the accuracy delta: |mean W_bar - w*| that counts as reached (P2 Cor. 3.9)",
          ("cost",), valid="> 0"),
        P("ref_tolerance", "float", None, "calibrate-then-rl: |w - SP| the zero-shifting stage aims for before "
          "training (default 2 x --target, as the catalogue's claim 24)", ("cost",), valid="> 0"),
        P("bl", "int", 5, "pulse slots per array write in the accounting: total = calibration pulses + steps x 2 "
          "arrays x BL (default 5, as P2 Fig. 4)", ("cost",), valid=">= 1"),
        P("steps", "int", 30000, "step budget per training method: a method not within --target by then is reported "
          "as not reached", ("cost",), valid=">= 1"),
        P("w0", "float", 0.0, "initial main weight W_0 of the training (default 0, as the catalogue's claim 24)",
          ("cost",), group=_PROBLEM),
        P("methods", "str", None, "comma-separated subset of calibrate-then-rl, rider, e-rider (default all)",
          ("cost",)),
        # reproduce
        P("experiment", "str", None, "p1-fig2 (P1 Fig. 2, least squares), p1-table8 (P1 Table 8, the FCN with "
          "Pow/Exp responses) or p2-table2 (P2 Table 2's FCN rows: TT-v2, AGAD, E-RIDER under reference offsets)",
          ("reproduce",), positional=True, metavar="EXPERIMENT", required=True,
          choices=("p1-fig2", "p1-table8", "p2-table2")),
        P("seeds", "int", None, "independent runs per setting (default 5 for p1-fig2, 1 for p1-table8 and p2-table2)",
          ("reproduce",), valid=">= 1"),
        P("model", "str", "aihwkit", "aihwkit: per-sample pulse trains as the reference simulator (default); "
          "batch-mean: one pulse train per iteration with the mean gradient", ("reproduce",),
          choices=("aihwkit", "batch-mean")),
        P("instance", "str", "numpy", "the least-squares instance: numpy (drawn by NumPy from --problem-seed; "
          "default) or authors (the authors' torch instance of arXiv 2502.06309 App. K.2, shipped with the package; "
          "prints the reference simulator's numbers next to ours, with a verdict per cell)", ("reproduce",),
          choices=("numpy", "authors")),
        P("problem_seed", "int", None, "seed of the numpy instance (default 13); not with --instance authors",
          ("reproduce",), valid=SEED_RANGE),
        # reproduce p1-table8 (arXiv 2502.06309 Table 8; each refused with p1-fig2)
        P("rows", "str", None, "p1-table8: the rows DEVICE:GAMMA:TAU[,...], DEVICE pow or exp, GAMMA 0.5, 1 or 2, "
          "TAU 0.6, 0.7 or 0.8; each runs Analog SGD and TT-v1 (default pow:1.0:0.6,pow:0.5:0.6)", ("reproduce",),
          metavar="ROWS", group=_TABLE8),
        P("configuration", "str", None, "p1-table8: authors (default: the authors' aihwkit settings: PowStep / stock "
          "ExpStep, device noise, torch init, learned output scale, aihwkit IO, tiles of <= 512 inputs) or matched "
          "(P1 eq. 148/149 responses, no device noise, Glorot init, no output scale, perfect IO; tiles as authors)",
          ("reproduce",),
          choices=("authors", "matched"), group=_TABLE8),
        P("no_out_scaling", "flag", False, "p1-table8: the authors' configuration without the learned output scale "
          "(the ablation that decides Pow gamma 1 Analog SGD); p2-table2 with --weight-scaling-omega: the mapping "
          "without the learned output scale", ("reproduce",), group=_TABLE8),
        P("weight_scaling_omega", "float", None, "p1-table8, p2-table2: map every tile's initial weights to +-omega "
          "of the device range (the reference simulator's weight_scaling_omega, column-wise as the authors' scripts "
          "set weight_scaling_columnwise) with a fixed digital scale per output row; p2-table2 adds the learned "
          "output scale the authors' scripts pair it with. Default: no mapping (p1-table8: the authors' script "
          "leaves omega 0 for Analog SGD and TT-v1; p2-table2: P2's scripts are not public; the authors' P1 "
          "scripts use 0.3 for TT-v2, 0.6 for c-TTv2 and AGAD)", ("reproduce",), valid="> 0", group=_TABLE8),
        P("dataset", "str", None, "p1-table8, p2-table2: fashion-mnist (default; Debian package "
          "dataset-fashion-mnist), digits (built in) or a directory of IDX files (the published runs: MNIST)",
          ("reproduce",), group=_TABLE8),
        P("train_size", "int", None, "p1-table8, p2-table2: stratified seeded subset of the training set "
          "(default 10000, or the whole split if smaller; the published runs: all 60000 of MNIST)",
          ("reproduce",), valid=">= 1", group=_TABLE8),
        P("test_size", "int", None, "p1-table8, p2-table2: stratified seeded subset of the test set "
          "(default 2000, or the whole split if smaller; published: 10000)", ("reproduce",), valid=">= 1",
          group=_TABLE8),
        P("subset_seed", "int", None, "p1-table8, p2-table2: seed of the subsets (default 2025, the reference "
          "simulator's runs)", ("reproduce",), valid=SEED_RANGE, group=_TABLE8),
        P("epochs", "int", None, "p1-table8, p2-table2: epochs (default 6 for p1-table8, whose runs that learn "
          "leave chance only at epoch 4-5, and 3 for p2-table2; P2 ran 40; P1's published runs: 30, with the lr "
          "halved after 15, as p1-table8 runs it)", ("reproduce",), valid=">= 1", group=_TABLE8),
        # reproduce p2-table2 (arXiv 2602.21321 Table 2, FCN rows; --dataset, --train-size, --test-size,
        # --subset-seed and --epochs as p1-table8, with the same defaults)
        P("grid", "str", None, "p2-table2: the cells MEAN:STD[,...] of the reference offset on the gradient array, "
          "MEAN in {0, 0.2, 0.3, 0.4}, STD in {0.05, 0.2, 0.3, 0.4, 0.7, 1} (default 0:0.05,0.3:0.3,0.4:1.0)",
          ("reproduce",), metavar="GRID", group="p2-table2 (arXiv 2602.21321 Table 2: FCN, batch 10, RRAM-HfO2)"),
        P("algorithms", "str", None, "p2-table2: which compounds, comma-separated among tt-v2, agad, "
          "e-rider-chopped (default all three)", ("reproduce",), metavar="ALG[,...]",
          group="p2-table2 (arXiv 2602.21321 Table 2: FCN, batch 10, RRAM-HfO2)"),
        P("set", "pairs", [], "p2-table2: replace one of a compound's options of P2's configuration (repeatable; a "
          "sensitivity run, labelled in the output), e.g. e-rider-chopped.transfer_lr=0.5 or agad.in_chop_prob=0.05",
          ("reproduce",), metavar="ALG.OPTION=VALUE",
          group="p2-table2 (arXiv 2602.21321 Table 2: FCN, batch 10, RRAM-HfO2)"),
        # train
        P("dataset", "str", "digits", "digits (built in), fashion-mnist (Debian package dataset-fashion-mnist) or a "
          "directory of IDX files", ("train",)),
        P("algorithm", "str", "analog-sgd", "one of: " + ", ".join(ALGORITHMS), ("train",)),
        P("compare", "str", None, "comma-separated algorithms trained with the same seeds and data order",
          ("train",)),
        P("repeats", "int", 1, "seeds per algorithm", ("train",), valid=">= 1"),
        P("epochs", "int", 1, "epochs", ("train",), valid=">= 1"),
        P("batch_size", "int", 10, "mini-batch size (default 10, as P1)", ("train",), valid=">= 1"),
        P("lr", "float", 0.1, "learning rate of the gradient array", ("train",), valid="> 0"),
        P("architecture", "str", "fcn", "fcn: dense sigmoid layers (--hidden); cnn: conv 5x5 (16) -> pool -> conv "
          "5x5 (32) -> pool -> dense 128 -> classes, convolutions through im2col", ("train",),
          choices=("fcn", "cnn")),
        P("hidden", "str", "256,128", "hidden layer sizes of the fcn", ("train",)),
        P("ref_mean", "float", 0.0, "mean of a per-element reference offset of the gradient (residual) array "
          "(P2 Tables 1-2)", ("train",)),
        P("ref_std", "float", 0.0, "std of that per-element reference offset", ("train",), valid=">= 0"),
        P("quiet", "flag", False, "no progress bar", ("train",)),
        # train: a subset of the data, and the reference simulator's tile periphery (each off by default)
        P("train_size", "int", None, "train on a stratified seeded subset of this many training samples (classes in "
          "proportion; default: all)", ("train",), valid=">= 1", group=_PERIPHERY),
        P("test_size", "int", None, "test on a stratified seeded subset of this many test samples (default: all)",
          ("train",), valid=">= 1", group=_PERIPHERY),
        P("subset_seed", "int", 2025, "seed of the subsets (default 2025, the seed of the reference simulator's "
          "10000/2000 Fashion-MNIST runs)", ("train",), valid=SEED_RANGE, group=_PERIPHERY),
        P("out_scaling", "flag", False, "a learned digital output scale per tile, y = alpha W x, alpha from 1, trained "
          "by SGD as the biases (the reference simulator's learn_out_scaling)", ("train",), group=_PERIPHERY),
        P("io", "str", "perfect", "tile IO: perfect (exact reads) or aihwkit (its defaults both ways: 7-bit DAC, "
          "9-bit ADC of range 12, output noise 0.06, abs-max noise management, iterative bound management forward)",
          ("train",), choices=("perfect", "aihwkit"), group=_PERIPHERY),
        P("max_input_size", "int", 0, "split a layer into tiles of at most this many inputs, each with its own "
          "devices, state and output scale (the reference simulator: 512, so 784 -> 392 + 392); 0: one tile per "
          "layer", ("train",), valid=">= 0", group=_PERIPHERY),
        P("init", "str", "glorot", "initial weights: glorot (uniform, zero biases) or torch (torch's default "
          "U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases, as the reference runs)", ("train",),
          choices=("glorot", "torch"), group=_PERIPHERY),
        P("out_scaling_columnwise", "flag", False, "with --out-scaling: one learned scale per output row of a tile "
          "instead of one per tile (the reference simulator's out_scaling_columnwise)", ("train",), group=_PERIPHERY),
        P("weight_scaling_omega", "float", 0.0, "map every tile's initial weights to +-omega of the weight range: "
          "stored W0 / m with a fixed digital scale m = max|W0| / omega applied to every read, the update's error "
          "divided by m (the reference simulator's weight_scaling_omega); 0: no mapping (default); must lie inside "
          "the range of the array that holds the weights", ("train",), valid=">= 0", group=_PERIPHERY),
        P("weight_scaling_columnwise", "flag", False, "with --weight-scaling-omega: one mapping scale per output row "
          "(weight_scaling_columnwise)", ("train",), group=_PERIPHERY),
        P("weight_scaling_lr_compensation", "flag", False, "with --weight-scaling-omega: the tile's learning rate "
          "divided by the mean mapping scale instead of the error by the whole scale "
          "(weight_scaling_lr_compensation; changes the rates that follow the optimizer's lr, e.g. a compound's "
          "transfer)", ("train",), group=_PERIPHERY),
        P("lr_step", "str", None, "STEP:GAMMA: multiply the rates that follow the optimizer's lr (SGD's lr, the "
          "transfer rate of residual-learning, rider, e-rider and of the compounds; the digital lr of biases and "
          "output scales) by GAMMA every STEP epochs, as torch's StepLR(STEP, GAMMA) (the authors' scripts: 15:0.5); "
          "default: constant", ("train",), metavar="STEP:GAMMA", group=_PERIPHERY),
        # presets, fit
        P("name", "str", None, "one preset (default: all)", ("presets",), positional=True, metavar="NAME"),
        P("data", "str", None, "CSV with columns direction (up/down), pulse, w (or g, conductance) and optionally "
          "cycle", ("fit",), required=True),
        P("families", "str", None, "comma-separated subset of softbounds, linear, power, exponential, piecewise "
          "(default all)", ("fit",)),
        P("bounds", "str", None, "the device's bounds LO,HI in the data's units, the fitted response's range "
          "(default: the observed extremes, and the output says so); steps ending at a bound are left out", ("fit",)),
        P("g_min", "float", None, "map conductance to weight: the data's value at the low end of --range, w = LO + "
          "(g - g_min)(HI - LO)/(g_max - g_min); with --g-max", ("fit",)),
        P("g_max", "float", None, "the data's value at the high end of --range; with --g-min", ("fit",)),
        P("range", "str", None, "weight range LO,HI that [g_min, g_max] maps to (default -1,1)", ("fit",)),
        P("units", "str", None, "the data's units, e.g. uS, for the output", ("fit",)),
        # sweep
        P("study", "str", None, "the study file (TOML: [study], [fixed], [vary])", ("sweep",), positional=True,
          metavar="STUDY", required=True),
        P("executor", "str", "processes", "processes: a local process pool over all cores; inline: this process",
          ("sweep",), choices=("processes", "inline")),
        P("scheduler", "str", None, "run on Dask: 'local' starts a LocalCluster with --workers workers, "
          "tcp://HOST:PORT uses a running scheduler (needs pip install -e \".[dask]\")", ("sweep",)),
        P("workers", "int", None, "processes or local Dask workers (default: all cores)", ("sweep",), valid=">= 1"),
        P("point_timeout", "float", None, "seconds one point may run: a longer one is stopped and its row says "
          "\"timeout after N s\" (processes: its worker is killed; inline: each point then runs in a child process; "
          "refused with --scheduler, as Dask cannot stop a running task) (default: none)", ("sweep",), valid="> 0"),
        # check
        P("claims", "str", None, "comma-separated ids or prefixes, e.g. 5,7.power", ("check",)),
        P("fast", "flag", False, "smaller budgets (about 30 s on 2 cores with the fast extra)", ("check",)),
        P("network", "flag", False, "also the network claims 26.* (Fashion-MNIST; minutes; needs "
          "dataset-fashion-mnist)", ("check",)),
        P("workers", "int", None, "processes (default: up to 2)", ("check",), valid=">= 1"),
        P("mutants", "flag", False, "also run every claim against the battery of wrong theories and report which "
          "each claim kills by comparison (mutation matrix and score in the report; takes several times longer)",
          ("check",)),
        P("mutate", "str", None, "also run the claims under this one wrong theory (a Theory knob, e.g. moment=std, "
          "sp_shift=0.04, small_bias) and report per claim: killed / survived / no prediction", ("check",),
          metavar="NAME[=VALUE]"),
        # outputs
        # results go to a directory of their own, never over the files of the directory one stands in (the
        # repository's paper_checks.md and figures/ are regenerated only on request: --out .)
        P("out", "str", "aimc-results", "directory for figures/", ("reproduce", "train")),
        P("out", "str", "aimc-results", "directory for paper_checks.md and figures/ (--out . regenerates the "
          "repository's own report)", ("check",)),
        P("out", "str", ".", "directory for the table, the points and figures/", ("sweep",)),
        P("no_figures", "flag", False, "write paper_checks.md only, no figures", ("check",)),
        P("no_figures", "flag", False, "the table only", ("sweep",)),
        P("format", "str", "png", "file format of the figures: png (raster), pdf or svg (vector, for a paper)",
          ("reproduce", "train", "check", "sweep"), choices=("png", "pdf", "svg")),
    ]
    return rows


def parameters(command: str) -> dict[str, Parameter]:
    """Every parameter of ``command``, name -> :class:`Parameter`, in --help order (an algorithm added with
    :func:`aimc_theory.registry.register` brings its options).

    Parameters
    ----------
    command : str
        One of :data:`COMMANDS`.

    Returns
    -------
    dict
    """
    if command not in COMMANDS:
        raise InputError("command", f"must be one of {', '.join(COMMANDS)} (got {command!r})")
    return _table(command, tuple(ALGORITHMS), tuple(OPTIONS))


@lru_cache(maxsize=64)
def _table(command: str, algorithms: tuple, options: tuple) -> dict[str, Parameter]:
    out: dict[str, Parameter] = {}
    for row in _rows():
        if command in row.commands:
            if row.name in out:
                raise AssertionError(f"two rows of {command} named {row.name}")   # a table bug, not input
            out[row.name] = row
    return out


def normalize(key: str) -> str:
    """A parameter as given (``--w-star``, ``w-star``, ``w_star``) -> its Python name (``w_star``)."""
    return key.lstrip("-").replace("-", "_")


_FAMILY_KEYS = {"p": "param", "param": "param", "main_p": "main_param", "main_param": "main_param"}


def as_text(v) -> str:
    """A value as the command line writes it (floats by repr: no digits lost)."""
    return repr(v) if isinstance(v, float) else str(v)


def validate(command: str, params: Mapping[str, Any] | None = None, **kwargs) -> dict:
    """Validate a command's parameters by name and fill the defaults.

    Parameters
    ----------
    command : str
        One of :data:`COMMANDS`.
    params, **kwargs
        Parameter values by name: the Python name (``w_star``) or the flag (``--w-star``/``w-star``).
        Family parameters: ``p={"tau": 0.6}`` or ``"p.tau": 0.6`` (``main_p`` for the main array);
        a list of ``"KEY=VALUE"`` strings also works. Integers are accepted for floats, integral floats
        for integers, "true"/"false" for on/off flags.

    Returns
    -------
    dict
        Every parameter of the command by name, defaults filled in.

    Raises
    ------
    InputError
        Naming the parameter by its Python name (:func:`flag_named` gives the command line's flag): an
        unknown name (with the valid ones), a value of the wrong
        type, one outside its choices or outside its valid range (the table's ``valid``). What depends
        on several parameters is checked when the run executes.
    """
    table = parameters(command)
    given = dict(params or {}) | kwargs
    values = {name: list(p.default) if isinstance(p.default, list) else p.default for name, p in table.items()}
    for key, value in given.items():
        k = normalize(str(key))
        head, _, sub = k.partition(".")
        if sub and head in _FAMILY_KEYS and _FAMILY_KEYS[head] in table:
            values[_FAMILY_KEYS[head]] = [i for i in values[_FAMILY_KEYS[head]] if not i.startswith(f"{sub}=")] \
                + [f"{sub}={as_text(_number(f'param {sub}', value))}"]
            continue
        name = _FAMILY_KEYS.get(k, k) if _FAMILY_KEYS.get(k, k) in table else k
        if name not in table:
            valid = ", ".join(p.flag for p in table.values())
            raise InputError(str(key), f"unknown parameter of '{command}'; valid: {valid}")
        values[name] = table[name].check(_coerce(table[name], value))
    return values


def _number(flag: str, value) -> float:
    if isinstance(value, bool):
        raise InputError(flag, f"expected a number (got {value!r})")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(flag, f"expected a number (got {value!r})") from None


def _coerce(p: Parameter, value):
    if p.kind == "flag":
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if not isinstance(value, bool):
            raise InputError(p.name, f"is an on/off flag: true or false (got {value!r})")
        return value
    if p.kind == "pairs":
        if isinstance(value, Mapping):
            return [f"{k}={as_text(_number(f'param {k}', v))}" for k, v in value.items()]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(i, str) for i in value):
            raise InputError(p.name, f"expected KEY=VALUE strings or a table of numbers (got {value!r})")
        return list(value)
    if value is None:
        return None
    if p.kind == "float":
        v = _number(p.name, value)
    elif p.kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value if p.choices is None or value in p.choices else _coerce_choice(p, value)   # exact digits
        v = _number(p.name, value)
        if not (math.isfinite(v) and v == int(v)):
            raise InputError(p.name, f"expected an integer (got {value!r})")
        v = int(v)
    else:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise InputError(p.name, f"expected text (got {value!r})")
        v = str(value)
    if p.choices is not None and v not in p.choices:
        raise InputError(p.name, f"must be one of {', '.join(map(str, p.choices))} (got {v!r})")
    return v


def _coerce_choice(p: Parameter, v):
    raise InputError(p.name, f"must be one of {', '.join(map(str, p.choices))} (got {v!r})")


def flag_named(exc: InputError, command: str) -> InputError:
    """The same error with the parameter named by its flag (``lr`` -> ``--lr``, ``main_param tau`` ->
    ``--main-param tau``): the library names parameters as Python does, the command line as it parses them."""
    table = parameters(command) if command in COMMANDS else {}
    head, sep, rest = exc.param.partition(" ")
    name = normalize(head)
    if name in table and head not in (table[name].flag, table[name].short):
        return InputError((table[name].short or table[name].flag) + sep + rest, str(exc).split(": ", 1)[1])
    return exc
