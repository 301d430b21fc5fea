"""Preset devices of the field's reference simulator (IBM aihwkit 1.2.0) as response functions.

Each preset is the *mean* pulse response of the simulator's preset class (variability off), written in
units of its pulse size ``dw_min``: one UP pulse moves w by ``dw_min * q_plus(w)``, one DOWN pulse by
``-dw_min * q_minus(w)``, clipped to the device range. So ``Device(preset.response(), dw_min=preset.dw_min)``
pulses exactly as the preset's mean device does, and the expected-update model uses the same q's. The
symmetric point, the pulses per e-fold and the implicit penalty are *not* stored here: they follow from
the response through the toolkit (``aimc-theory presets``, ``derive --response preset:NAME``).

The ``up_down`` asymmetry is one-sided as in the simulator's code: for u > 0 the up step keeps
``dw_min`` and the down step is ``(1 - u) dw_min`` (only ReRam-ES has u != 0). The device-to-device
(d2d) and cycle-to-cycle (c2c) parameters are listed for reference; ``gain_dtod``/``imbalance_dtod``
(``up_down_dtod``) map onto :class:`aimc_theory.calibration.Variation`.

Sources: the simulator's preset classes and their docstrings' references (listed per preset).

============== ================================= ========= ================== =========================================
name           class (model)                     dw_min    range              reference
============== ================================= ========= ================== =========================================
reram-es       ReRamESPresetDevice (ExpStep)     1.35e-3   [-1, 1]            Gong et al., Nat. Commun. 9, 2102 (2018)
reram-sb       ReRamSBPresetDevice (SoftBounds)  2e-3      [-0.75, 1.25]      Gong et al., Nat. Commun. 9, 2102 (2018)
capacitor      CapacitorPresetDevice (LinearStep) 5e-3     [-1, 1]            Li et al., VLSI Technology 2018
ecram          EcRamPresetDevice (LinearStep)    2e-3      [-0.8276, 1.1724]  Tang et al., IEDM 2018
ecram-mo       EcRamMOPresetDevice (LinearStep)  2.8214e-4 [-0.8286, 1.1714]  Kim et al., IEDM 2019
idealized      IdealizedPresetDevice (Constant)  2e-4      [-1, 1]            Gokmen & Vlasov 2016; Rasch et al. 2019
gokmen-vlasov  GokmenVlasovPresetDevice (Const.) 1.6e-3    [-1, 1]            Gokmen & Vlasov, Front. Neurosci. 2016
pcm            PCMPresetDevice (ExpStep)         1e-2      [0, 2]             Nandakumar et al., Front. Neurosci. 2020
reram-array-om ReRamArrayOMPresetDevice (SB ref) 0.0949    [-1, 1]            Gong & Rasch et al., IEDM 2022
reram-array-hfo2 ReRamArrayHfO2PresetDevice      0.4622    [-1, 1]            Gong & Rasch et al., IEDM 2022
============== ================================= ========= ================== =========================================

The shape parameters, d2d and c2c values of each are in :data:`PRESETS` and ``aimc-theory presets --json``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import InputError
from .response import Response, from_expressions


@dataclass(frozen=True)
class Preset:
    """One preset device.

    Parameters
    ----------
    name : str
        ``preset:NAME`` on the command line.
    device_class : str
        The simulator's class and the device model it derives from.
    dw_min : float
        Pulse size of the stronger direction (weight units).
    up_down : float
        The simulator's one-sided up/down asymmetry.
    w_min, w_max : float
        Mean bounds (the response's range).
    q_plus, q_minus : str
        The mean response per pulse in units of ``dw_min``.
    shape : dict
        The class's shape parameters, as the simulator names them.
    dtod, c2c : dict
        Device-to-device and cycle-to-cycle parameters (reference only, see the module docstring).
    reference : str
        Literature reference of the simulator's docstring.
    note : str
        What to know when using it with the theory.
    """

    name: str
    device_class: str
    dw_min: float
    up_down: float
    w_min: float
    w_max: float
    q_plus: str
    q_minus: str
    shape: dict = field(default_factory=dict)
    dtod: dict = field(default_factory=dict)
    c2c: dict = field(default_factory=dict)
    reference: str = ""
    note: str = ""
    bound_forms: tuple | None = None    # q+, q- in w and the device's own bounds bmax, bmin (shape changes)

    def response(self, lo: float | None = None, hi: float | None = None) -> Response:
        """The mean response in units of ``dw_min``, on [w_min, w_max] (or on [lo, hi]: the union of the
        devices' own ranges where their bounds vary)."""
        return from_expressions(self.q_plus, self.q_minus, range=(self.w_min if lo is None else lo,
                                                                  self.w_max if hi is None else hi),
                                name=f"preset:{self.name}")

    @property
    def constant_step(self) -> bool:
        return self.q_plus == self.q_minus == "1"

    def weight_units(self) -> tuple[str, str]:
        """q+ and q- per pulse in weight units (dw_min times the response)."""
        return f"{self.dw_min:g}*({self.q_plus})", f"{self.dw_min:g}*({self.q_minus})"

    def as_dict(self) -> dict:
        qp_w, qm_w = self.weight_units()
        return {"name": self.name, "device_class": self.device_class, "dw_min": self.dw_min, "up_down": self.up_down,
                "range": [self.w_min, self.w_max], "q_plus": self.q_plus, "q_minus": self.q_minus,
                "q_plus_weight_units": qp_w, "q_minus_weight_units": qm_w, "shape": dict(self.shape),
                "dtod": dict(self.dtod), "c2c": dict(self.c2c), "reference": self.reference, "note": self.note}


_U_ES = 0.259359
PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("reram-es", "ReRamESPresetDevice (ExpStepDevice)", 1.35e-3, _U_ES, -1.0, 1.0,
           "1 + 1.18445*exp(-2.5*(w + 1))", f"{1 - _U_ES!r}*(1 + 0.081404*exp(2.5*(w + 1)))",
           {"a": -0.5, "b": -0.5, "gamma_up": 5.0, "gamma_down": 5.0, "A_up": -1.18445, "A_down": -0.081404},
           {"dw_min_dtod": 0.2, "up_down_dtod": 0.05, "w_max_dtod": 0.3, "w_min_dtod": 0.3},
           {"dw_min_std": 5.0, "write_noise_std": 75.0},
           "Gong et al., Nat. Commun. 9, 2102 (2018)",
           "exponential steps that grow toward the opposite bound; the one-sided up_down puts the SP below 0"),
    Preset("reram-sb", "ReRamSBPresetDevice (SoftBoundsReferenceDevice)", 2e-3, 0.0, -0.75, 1.25,
           "1 - w/1.25", "1 + w/0.75", {"mult_noise": False, "reference": 0.0},
           {"dw_min_dtod": 0.3, "up_down_dtod": 0.01, "w_max_dtod": 0.24, "w_min_dtod": 0.4},
           {"dw_min_std": 3.75, "write_noise_std": 56.0},
           "Gong et al., Nat. Commun. 9, 2102 (2018) (loose fit)",
           "soft bounds on an asymmetric range: SP at 0 (the reference is assumed calibrated)"),
    Preset("capacitor", "CapacitorPresetDevice (LinearStepDevice)", 5e-3, 0.0, -1.0, 1.0,
           "1 - 0.05*w", "1 + 0.05*w", {"gamma_up": 0.05, "gamma_down": 0.05, "mean_bound_reference": True},
           {"dw_min_dtod": 0.1, "up_down_dtod": 0.06, "w_max_dtod": 0.07, "w_min_dtod": 0.07, "gamma_dtod": 0.01},
           {"dw_min_std": 0.3, "lifetime": 1e6, "lifetime_dtod": 0.3},
           "Li et al., VLSI Technology 2018 (IEEE 8510648)",
           "nearly constant steps (slope 0.05): a weak pull to the SP, so a large Analog SGD bias per unit noise"),
    Preset("ecram", "EcRamPresetDevice (LinearStepDevice)", 2e-3, 0.0, -0.8276, 1.1724,
           "1 - 0.1153*w/1.1724", "1 + 0.5085*w/0.8276", {"gamma_up": 0.1153, "gamma_down": 0.5085},
           {"dw_min_dtod": 0.1, "up_down_dtod": 0.01, "w_max_dtod": 0.05, "w_min_dtod": 0.05, "gamma_dtod": 0.05},
           {"dw_min_std": 0.3},
           "Tang et al., IEDM 2018 (IEEE 8614551)", "range shifted so that the SP sits at 0"),
    Preset("ecram-mo", "EcRamMOPresetDevice (LinearStepDevice)", 2.8214e-4, 0.0, -0.8286, 1.1714,
           "1 - 0.4152*w/1.1714", "1 + 0.7342*w/0.8286", {"gamma_up": 0.4152, "gamma_down": 0.7342},
           {"dw_min_dtod": 0.1, "up_down_dtod": 0.01, "w_max_dtod": 0.05, "w_min_dtod": 0.05, "gamma_dtod": 0.05},
           {"dw_min_std": 2.0},
           "Kim et al., IEDM 2019 (IEEE 8993463)", "metal-oxide ECRAM; SP at 0"),
    Preset("idealized", "IdealizedPresetDevice (ConstantStepDevice)", 2e-4, 0.0, -1.0, 1.0, "1", "1", {},
           {"dw_min_dtod": 0.3, "up_down_dtod": 0.0, "w_max_dtod": 0.3, "w_min_dtod": 0.3}, {"dw_min_std": 0.3},
           "Gokmen & Vlasov, Front. Neurosci. 10, 333 (2016); Rasch, Gokmen & Haensch, arXiv:1906.02698",
           "constant steps, q+ = q-: every point is symmetric (G = 0), no SP to converge or calibrate to; "
           "Analog SGD is digital SGD with pulse granularity"),
    Preset("gokmen-vlasov", "GokmenVlasovPresetDevice (ConstantStepDevice)", 1.6e-3, 0.0, -1.0, 1.0, "1", "1", {},
           {"dw_min_dtod": 0.3, "up_down_dtod": 0.01, "w_max_dtod": 0.3, "w_min_dtod": 0.3}, {"dw_min_std": 0.3},
           "Gokmen & Vlasov, Front. Neurosci. 10, 333 (2016)",
           "constant steps: no SP in the mean; with up/down d2d (0.01) each device has G constant != 0 and its "
           "weight drifts to a bound under zero-mean pulses"),
    Preset("pcm", "PCMPresetDevice (ExpStepDevice)", 1e-2, 0.0, 0.0, 2.0,
           "1 + 27.235*exp(-2.5*w)", "1 + 2.235*exp(2.5*w)",
           {"a": -1.0, "b": 0.0, "gamma_up": 2.5, "gamma_down": 2.5, "A_up": -27.235, "A_down": -2.235},
           {"dw_min_dtod": 0.2, "up_down_dtod": 0.05, "w_max_dtod": 0.1, "w_min_dtod": 0.0},
           {"dw_min_std": 0.6, "dw_min_std_add": 0.042, "dw_min_std_slope": 0.108, "reset": 0.01},
           "Nandakumar et al., Front. Neurosci. 14, 406 (2020)",
           "range [0, 2] (a conductance); the simulator's device is unidirectional and meant for a unit cell of "
           "two; the steps are large (1% of the range), so the pair map and the mean dynamics differ"),
    Preset("reram-array-om", "ReRamArrayOMPresetDevice (SoftBoundsReferenceDevice)", 0.0949, 0.0, -1.0, 1.0,
           "1 - w", "1 + w", {"subtract_symmetry_point": True, "mult_noise": False},
           {"dw_min_dtod": 0.7829, "dw_min_dtod_log_normal": True, "up_down_dtod": 0.01, "w_max_dtod": 0.3499,
            "w_min_dtod": 0.5695, "reference_std": 0.05},
           {"dw_min_std": 0.4158, "write_noise_std": 1.4113},
           "Gong & Rasch et al., IEDM 2022 (IEEE 10019569), optimized material",
           "soft bounds with a large step (about 5% of the range); zero-shifted by the simulator with a 5% "
           "reference error"),
    Preset("reram-array-hfo2", "ReRamArrayHfO2PresetDevice (SoftBoundsReferenceDevice)", 0.4622, 0.0, -1.0, 1.0,
           "1 - w", "1 + w", {"subtract_symmetry_point": True, "mult_noise": False},
           {"dw_min_dtod": 0.7125, "dw_min_dtod_log_normal": True, "up_down_dtod": 0.01, "w_max_dtod": 0.4295,
            "w_min_dtod": 0.5990, "reference_std": 0.05},
           {"dw_min_std": 0.2174, "write_noise_std": 0.5841},
           "Gong & Rasch et al., IEDM 2022 (IEEE 10019569), baseline HfO2",
           "one pulse moves the weight by about a quarter of its range: a few pulses saturate it; the small-step "
           "theory (and zero-shifting calibration) does not apply"),
)}


_BOUND_FORMS = {
    # ExpStep: z = 2 a w/(bmax - bmin) + b with the device's own bounds
    "reram-es": ("1 + 1.18445*exp(5*(-1.0*w/(bmax - bmin) - 0.5))",
                 f"{1 - _U_ES!r}*(1 + 0.081404*exp(-5*(-1.0*w/(bmax - bmin) - 0.5)))"),
    "pcm": ("1 + 27.235*exp(2.5*(-2*w/(bmax - bmin)))", "1 + 2.235*exp(-2.5*(-2*w/(bmax - bmin)))"),
    # soft bounds on the device's own bounds
    "reram-sb": ("1 - w/bmax", "1 - w/bmin"),
    "reram-array-om": ("1 - w/bmax", "1 - w/bmin"),
    "reram-array-hfo2": ("1 - w/bmax", "1 - w/bmin"),
}
PRESETS = {k: (replace(p, bound_forms=_BOUND_FORMS[k]) if k in _BOUND_FORMS else p) for k, p in PRESETS.items()}


def get(name: str) -> Preset:
    """A preset by name (with or without the ``preset:`` prefix)."""
    key = name.split(":", 1)[1] if name.startswith("preset:") else name
    if key not in PRESETS:
        raise InputError("--response", f"unknown preset {key!r}; valid: {', '.join('preset:' + k for k in PRESETS)}")
    return PRESETS[key]


def pulses_per_efold_mean(G_prime_at_sp: float, dw_min: float) -> float:
    """Random-sign pulses: E[dw] = -dw_min G(w) per pulse, so the distance to the SP shrinks by
    dw_min G'(SP) per pulse: 1/(dw_min G'(SP)) pulses per e-fold."""
    rate = dw_min * G_prime_at_sp
    return 1.0 / rate if rate > 0 else math.inf


def variation(preset: Preset):
    """The preset's device-to-device step variation as a :class:`~aimc_theory.calibration.Variation`:
    gain ``dw_min_dtod`` (log-normal when the preset says so, else 1 + sigma xi as the simulator draws it)
    and up/down imbalance ``up_down_dtod``. Bounds (``w_max_dtod``/``w_min_dtod``), slope and reference
    variations change the response's shape per device and are not modelled here (listed by
    :func:`unmodelled_dtod`)."""
    from .calibration import Variation
    d = preset.dtod
    return Variation(d.get("dw_min_dtod", 0.0), d.get("up_down_dtod", 0.0),
                     log_normal=bool(d.get("dw_min_dtod_log_normal", False)))


def bounds_only_clip(preset: Preset) -> bool:
    """LinearStep (with the simulator's default mean_bound_reference) and ConstantStep devices take their
    slopes from the *mean* bounds: a device's own bounds only change where it saturates."""
    return "LinearStepDevice" in preset.device_class or "ConstantStepDevice" in preset.device_class


def unmodelled_dtod(preset: Preset) -> list[str]:
    modelled = {"dw_min_dtod", "up_down_dtod", "dw_min_dtod_log_normal", "reference_std"}
    if bounds_only_clip(preset) or preset.bound_forms:
        modelled |= {"w_max_dtod", "w_min_dtod"}
    return sorted(k for k, v in preset.dtod.items() if k not in modelled and v)


def device_bounds(preset: Preset, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Per-device bounds b_max = w_max (1 + w_max_dtod xi), b_min = w_min (1 + w_min_dtod xi'), made
    consistent as the simulator does (b_max = |b_max|, b_min = -|b_min|); the mean bounds when the preset's
    bounds variation is not modelled (see :func:`bounds_only_clip`)."""
    if not (bounds_only_clip(preset) or preset.bound_forms):
        return np.full(n, preset.w_min), np.full(n, preset.w_max)
    b_max = np.abs(preset.w_max * (1 + preset.dtod.get("w_max_dtod", 0.0) * rng.standard_normal(n)))
    b_min = -np.abs(preset.w_min * (1 + preset.dtod.get("w_min_dtod", 0.0) * rng.standard_normal(n)))
    return b_min, b_max


def reference_offsets(preset: Preset, n: int, rng) -> np.ndarray:
    """Per-device reference error of the zero-shifted presets (``reference_std``): the simulator subtracts
    each device's SP plus N(0, reference_std^2) from its conductance, so the visible SP (and range) of
    device i moves by -reference_std xi_i; zero for the others."""
    std = float(preset.dtod.get("reference_std", 0.0))
    return -std * rng.standard_normal(n) if std else np.zeros(n)


def pulse_devices(preset: Preset, s_plus, s_minus, pulses: int, w0: float | None = None,
                  rng=None, offsets=0.0, bounds=None) -> np.ndarray:
    """Measured: ``pulses`` alternating up/down pulses (up first) on every device (step scales s_+, s_-),
    pulse level, no cycle noise. Returns (middle, drift): the mean of the last up/down pair (a device that
    converged sits at its SP, the 2-cycle's middle, or at the bound it drifted to) and the change of the
    weight over the last pair (about 0 when converged; the sign of the drift of a device still on its way
    to a bound)."""
    from .device import Device
    # own bounds (clip only): the response on the union of the devices' ranges, each clipped to its own
    resp = preset.response() if bounds is None else preset.response(float(np.min(bounds[0])), float(np.max(bounds[1])))
    dev = Device(resp, dw_min=preset.dw_min, up_scale=np.asarray(s_plus, float),
                 down_scale=np.asarray(s_minus, float), offset=offsets)
    w = np.broadcast_to(np.asarray(0.5 * (resp.lo + resp.hi) if w0 is None else w0, float), np.shape(s_plus)) + offsets
    up, down = np.ones_like(w), -np.ones_like(w)

    def step(w, k):
        w = dev.pulse(w, up if k % 2 == 0 else down, rng)
        return w if bounds is None else np.clip(w, bounds[0], bounds[1], out=w)

    return _alternate(step, w, pulses)


def _alternate(step, w, pulses: int):
    """``pulses`` alternating pulses (``step(w, k)``, up for even k): the middle of the last up/down pair and
    the change over the last pair."""
    prev = prev2 = w
    for k in range(pulses):
        prev2, prev = prev, w
        w = step(w, k)
    return 0.5 * (w + prev), w - prev2          # prev2: after the previous down pulse, one pair earlier


def bound_form_functions(preset: Preset):
    """NumPy q+(w, bmax, bmin), q-(w, bmax, bmin) of a preset whose shape follows each device's own bounds."""
    import sympy as sp
    from . import expressions
    out = []
    for i, text in enumerate(preset.bound_forms):
        e = expressions.parse(text, ["bmax", "bmin"], what="q_plus" if i == 0 else "q_minus")
        f = sp.lambdify((expressions.W, sp.Symbol("bmax", real=True), sp.Symbol("bmin", real=True)), e, "numpy")
        out.append(lambda w, bmax, bmin, f=f: np.asarray(f(w, bmax, bmin), float) * np.ones_like(w))
    return out


def pulse_devices_own_bounds(preset: Preset, s_plus, s_minus, pulses: int, bounds, offsets=0.0, w0=None):
    """:func:`pulse_devices` for devices whose response follows their own bounds (``bound_forms``): device
    i steps by dw_min s_+ q+(w - o_i; b_i) up and dw_min s_- q-(w - o_i; b_i) down, clipped to its own range."""
    qp, qm = bound_form_functions(preset)
    b_min, b_max = (np.asarray(b, float) for b in bounds)
    off = np.broadcast_to(np.asarray(offsets, float), np.shape(s_plus))
    lo, hi = b_min + off, b_max + off
    w = np.broadcast_to(np.asarray(0.5 * (preset.w_min + preset.w_max) if w0 is None else w0, float),
                        np.shape(s_plus)) + off
    dw_up, dw_down = preset.dw_min * np.asarray(s_plus, float), preset.dw_min * np.asarray(s_minus, float)

    def step(w, k):
        u = w - off
        return np.clip(w + dw_up * qp(u, b_max, b_min) if k % 2 == 0 else w - dw_down * qm(u, b_max, b_min), lo, hi)

    return _alternate(step, w, pulses)
