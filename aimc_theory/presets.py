"""Preset devices of the field's reference simulator (IBM aihwkit 1.2.0) as response functions.

Each preset is the *mean* pulse response of the simulator's preset class (variability off), written in
units of its pulse size ``dw_min``: one UP pulse moves w by ``dw_min * q_plus(w)``, one DOWN pulse by
``-dw_min * q_minus(w)``, clipped to the device range. So ``Device(preset.response(), dw_min=preset.dw_min)``
pulses exactly as the preset's mean device does, and the expected-update model uses the same q's. The
symmetric point, the pulses per e-fold and the implicit penalty are *not* stored here: they follow from
the response through the toolkit (``aimc-theory presets``, ``derive --response preset:NAME``).

The ``up_down`` asymmetry is one-sided as in the simulator's code: for u > 0 the up step keeps
``dw_min`` and the down step is ``(1 - u) dw_min`` (only ReRam-ES has u != 0). The device-to-device
(d2d) parameters are drawn per device by :class:`PresetVariation` with the simulator's semantics (step
gain, up/down imbalance, own bounds, linear-step slopes, reference error); the cycle-to-cycle (c2c)
parameters (write noise, PCM's "complex" noise, lifetime) are listed for reference, not simulated.

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
from fractions import Fraction

import numpy as np

from .errors import InputError
from .response import Response, compiled, from_expressions


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
    device_forms: tuple | None = None   # q+, q- of one device in w and its own drawn bmax, bmin or gamma_up/down

    def response(self) -> Response:
        """The mean response in units of ``dw_min``, on [w_min, w_max] (from the expressions ``q_plus``,
        ``q_minus``; without SymPy for the presets' own expressions, see :data:`_CODE`)."""
        code = _CODE.get((self.q_plus, self.q_minus))
        if code is None:                    # an edited preset (dataclasses.replace): parse it
            return from_expressions(self.q_plus, self.q_minus, range=(self.w_min, self.w_max),
                                    name=f"preset:{self.name}")
        qp, qm, coeffs = code[:3]
        return compiled(self.q_plus, self.q_minus, qp, qm, range=(self.w_min, self.w_max), coeffs=coeffs,
                        name=f"preset:{self.name}", exp_form=code[3] if len(code) > 3 else None)

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
    Preset(name="reram-es", device_class="ReRamESPresetDevice (ExpStepDevice)",
           dw_min=1.35e-3, up_down=_U_ES, w_min=-1.0, w_max=1.0,
           q_plus="1 + 1.18445*exp(-2.5*(w + 1))", q_minus=f"{1 - _U_ES!r}*(1 + 0.081404*exp(2.5*(w + 1)))",
           shape={"a": -0.5, "b": -0.5, "gamma_up": 5.0, "gamma_down": 5.0, "A_up": -1.18445, "A_down": -0.081404},
           dtod={"dw_min_dtod": 0.2, "up_down_dtod": 0.05, "w_max_dtod": 0.3, "w_min_dtod": 0.3},
           c2c={"dw_min_std": 5.0, "write_noise_std": 75.0},
           reference="Gong et al., Nat. Commun. 9, 2102 (2018)",
           note="exponential steps that grow toward the opposite bound; the one-sided up_down puts the SP below 0"),
    Preset(name="reram-sb", device_class="ReRamSBPresetDevice (SoftBoundsReferenceDevice)",
           dw_min=2e-3, up_down=0.0, w_min=-0.75, w_max=1.25,
           q_plus="1 - w/1.25", q_minus="1 + w/0.75",
           shape={"mult_noise": False, "reference": 0.0},
           dtod={"dw_min_dtod": 0.3, "up_down_dtod": 0.01, "w_max_dtod": 0.24, "w_min_dtod": 0.4},
           c2c={"dw_min_std": 3.75, "write_noise_std": 56.0},
           reference="Gong et al., Nat. Commun. 9, 2102 (2018) (loose fit)",
           note="soft bounds on an asymmetric range: SP at 0 (the reference is assumed calibrated)"),
    Preset(name="capacitor", device_class="CapacitorPresetDevice (LinearStepDevice)",
           dw_min=5e-3, up_down=0.0, w_min=-1.0, w_max=1.0,
           q_plus="1 - 0.05*w", q_minus="1 + 0.05*w",
           shape={"gamma_up": 0.05, "gamma_down": 0.05, "mean_bound_reference": True},
           dtod={"dw_min_dtod": 0.1, "up_down_dtod": 0.06, "w_max_dtod": 0.07, "w_min_dtod": 0.07, "gamma_dtod": 0.01},
           c2c={"dw_min_std": 0.3, "lifetime": 1e6, "lifetime_dtod": 0.3},
           reference="Li et al., VLSI Technology 2018 (IEEE 8510648)",
           note="nearly constant steps (slope 0.05): a weak pull to the SP, so a large Analog SGD bias per unit noise"),
    Preset(name="ecram", device_class="EcRamPresetDevice (LinearStepDevice)",
           dw_min=2e-3, up_down=0.0, w_min=-0.8276, w_max=1.1724,
           q_plus="1 - 0.1153*w/1.1724", q_minus="1 + 0.5085*w/0.8276",
           shape={"gamma_up": 0.1153, "gamma_down": 0.5085},
           dtod={"dw_min_dtod": 0.1, "up_down_dtod": 0.01, "w_max_dtod": 0.05, "w_min_dtod": 0.05, "gamma_dtod": 0.05},
           c2c={"dw_min_std": 0.3},
           reference="Tang et al., IEDM 2018 (IEEE 8614551)",
           note="range shifted so that the SP sits at 0"),
    Preset(name="ecram-mo", device_class="EcRamMOPresetDevice (LinearStepDevice)",
           dw_min=2.8214e-4, up_down=0.0, w_min=-0.8286, w_max=1.1714,
           q_plus="1 - 0.4152*w/1.1714", q_minus="1 + 0.7342*w/0.8286",
           shape={"gamma_up": 0.4152, "gamma_down": 0.7342},
           dtod={"dw_min_dtod": 0.1, "up_down_dtod": 0.01, "w_max_dtod": 0.05, "w_min_dtod": 0.05, "gamma_dtod": 0.05},
           c2c={"dw_min_std": 2.0},
           reference="Kim et al., IEDM 2019 (IEEE 8993463)",
           note="metal-oxide ECRAM; SP at 0"),
    Preset(name="idealized", device_class="IdealizedPresetDevice (ConstantStepDevice)",
           dw_min=2e-4, up_down=0.0, w_min=-1.0, w_max=1.0,
           q_plus="1", q_minus="1",
           shape={},
           dtod={"dw_min_dtod": 0.3, "up_down_dtod": 0.0, "w_max_dtod": 0.3, "w_min_dtod": 0.3},
           c2c={"dw_min_std": 0.3},
           reference="Gokmen & Vlasov, Front. Neurosci. 10, 333 (2016); Rasch, Gokmen & Haensch, arXiv:1906.02698",
           note="constant steps, q+ = q-: every point is symmetric (G = 0), no SP to converge or calibrate to; "
                "Analog SGD is digital SGD with pulse granularity"),
    Preset(name="gokmen-vlasov", device_class="GokmenVlasovPresetDevice (ConstantStepDevice)",
           dw_min=1.6e-3, up_down=0.0, w_min=-1.0, w_max=1.0,
           q_plus="1", q_minus="1",
           shape={},
           dtod={"dw_min_dtod": 0.3, "up_down_dtod": 0.01, "w_max_dtod": 0.3, "w_min_dtod": 0.3},
           c2c={"dw_min_std": 0.3},
           reference="Gokmen & Vlasov, Front. Neurosci. 10, 333 (2016)",
           note="constant steps: no SP in the mean; with up/down d2d (0.01) each device has G constant != 0 and its "
                "weight drifts to a bound under zero-mean pulses"),
    Preset(name="pcm", device_class="PCMPresetDevice (ExpStepDevice)",
           dw_min=1e-2, up_down=0.0, w_min=0.0, w_max=2.0,
           q_plus="1 + 27.235*exp(-2.5*w)", q_minus="1 + 2.235*exp(2.5*w)",
           shape={"a": -1.0, "b": 0.0, "gamma_up": 2.5, "gamma_down": 2.5, "A_up": -27.235, "A_down": -2.235},
           dtod={"dw_min_dtod": 0.2, "up_down_dtod": 0.05, "w_max_dtod": 0.1, "w_min_dtod": 0.0},
           c2c={"dw_min_std": 0.6, "dw_min_std_add": 0.042, "dw_min_std_slope": 0.108, "reset": 0.01},
           reference="Nandakumar et al., Front. Neurosci. 14, 406 (2020)",
           note="range [0, 2] (a conductance); the simulator's device is unidirectional and meant for a unit cell of "
                "two; the steps are large (1% of the range), so the pair map and the mean dynamics differ"),
    Preset(name="reram-array-om", device_class="ReRamArrayOMPresetDevice (SoftBoundsReferenceDevice)",
           dw_min=0.0949, up_down=0.0, w_min=-1.0, w_max=1.0,
           q_plus="1 - w", q_minus="1 + w",
           shape={"subtract_symmetry_point": True, "mult_noise": False},
           dtod={"dw_min_dtod": 0.7829, "dw_min_dtod_log_normal": True, "up_down_dtod": 0.01, "w_max_dtod": 0.3499,
                 "w_min_dtod": 0.5695, "reference_std": 0.05},
           c2c={"dw_min_std": 0.4158, "write_noise_std": 1.4113},
           reference="Gong & Rasch et al., IEDM 2022 (IEEE 10019569), optimized material",
           note="soft bounds with a large step (about 5% of the range); zero-shifted by the simulator with a 5% "
                "reference error"),
    Preset(name="reram-array-hfo2", device_class="ReRamArrayHfO2PresetDevice (SoftBoundsReferenceDevice)",
           dw_min=0.4622, up_down=0.0, w_min=-1.0, w_max=1.0,
           q_plus="1 - w", q_minus="1 + w",
           shape={"subtract_symmetry_point": True, "mult_noise": False},
           dtod={"dw_min_dtod": 0.7125, "dw_min_dtod_log_normal": True, "up_down_dtod": 0.01, "w_max_dtod": 0.4295,
                 "w_min_dtod": 0.5990, "reference_std": 0.05},
           c2c={"dw_min_std": 0.2174, "write_noise_std": 0.5841},
           reference="Gong & Rasch et al., IEDM 2022 (IEEE 10019569), baseline HfO2",
           note="one pulse moves the weight by about a quarter of its range: a few pulses saturate it; the small-step "
                "theory (and zero-shifting calibration) does not apply"),
)}


# The presets' q+ and q- as NumPy code, exactly as SymPy's lambdify prints them for response.from_expressions
# (rationals as SymPy reduces them, same operations in the same order: the same numbers to the bit), with
# their affine coefficients (a+, b+, a-, b-) as exact rationals (None: not affine), so that a preset builds
# without importing SymPy; tests/test_response.py checks both against SymPy for every preset. The exponential
# steps add (c+, k+, m+, d+, c-, k-, m-, d-): their code is c * np.exp(k*w + m) + d with these numbers (subtracting
# 5/2 is adding -5/2, 1 + x is x + 1, k*w is k*w + 0.0 but where k*w = -0.0, where exp gives 1 either way), so that
# compiled alternating pulses can repeat it (Response.exp_form, checked bit for bit where it is used).
_CODE = {
    (PRESETS["reram-es"].q_plus, PRESETS["reram-es"].q_minus): (
        lambda w: (23689/20000)*np.exp(-5/2*w - 5/2) + 1,
        lambda w: (15072784991/250000000000)*np.exp((5/2)*w + 5/2) + 740641/1000000, None,
        (23689/20000, -5/2, -5/2, 1.0, 15072784991/250000000000, 5/2, 5/2, 740641/1000000)),
    ("1 - w/1.25", "1 + w/0.75"): (
        lambda w: 1 - 4/5*w, lambda w: (4/3)*w + 1,
        (Fraction(1), Fraction(-4, 5), Fraction(1), Fraction(4, 3))),
    ("1 - 0.05*w", "1 + 0.05*w"): (
        lambda w: 1 - 1/20*w, lambda w: (1/20)*w + 1,
        (Fraction(1), Fraction(-1, 20), Fraction(1), Fraction(1, 20))),
    ("1 - 0.1153*w/1.1724", "1 + 0.5085*w/0.8276"): (
        lambda w: 1 - 1153/11724*w, lambda w: (5085/8276)*w + 1,
        (Fraction(1), Fraction(-1153, 11724), Fraction(1), Fraction(5085, 8276))),
    ("1 - 0.4152*w/1.1714", "1 + 0.7342*w/0.8286"): (
        lambda w: 1 - 2076/5857*w, lambda w: (3671/4143)*w + 1,
        (Fraction(1), Fraction(-2076, 5857), Fraction(1), Fraction(3671, 4143))),
    ("1", "1"): (
        lambda w: 1, lambda w: 1, (Fraction(1), Fraction(0), Fraction(1), Fraction(0))),
    ("1 + 27.235*exp(-2.5*w)", "1 + 2.235*exp(2.5*w)"): (
        lambda w: 1 + (5447/200)*np.exp(-5/2*w), lambda w: (447/200)*np.exp((5/2)*w) + 1, None,
        (5447/200, -5/2, 0.0, 1.0, 447/200, 5/2, 0.0, 1.0)),
    ("1 - w", "1 + w"): (
        lambda w: 1 - w, lambda w: w + 1, (Fraction(1), Fraction(-1), Fraction(1), Fraction(1))),
}


# Each device's response as the simulator computes it from its own drawn parameters (theory side: the SP of
# every device is found from these expressions). ExpStep: z = 2 a w/(bmax - bmin) + b with the device's own
# bounds; soft bounds on its own bounds; LinearStep (mean_bound_reference): its own slopes gamma, the mean
# bounds.
_DEVICE_FORMS = {
    "reram-es": ("1 + 1.18445*exp(5*(-1.0*w/(bmax - bmin) - 0.5))",
                 f"{1 - _U_ES!r}*(1 + 0.081404*exp(-5*(-1.0*w/(bmax - bmin) - 0.5)))"),
    "pcm": ("1 + 27.235*exp(2.5*(-2*w/(bmax - bmin)))", "1 + 2.235*exp(-2.5*(-2*w/(bmax - bmin)))"),
    "reram-sb": ("1 - w/bmax", "1 - w/bmin"),
    "reram-array-om": ("1 - w/bmax", "1 - w/bmin"),
    "reram-array-hfo2": ("1 - w/bmax", "1 - w/bmin"),
    "capacitor": ("1 - gamma_up*w", "1 + gamma_down*w"),
    "ecram": ("1 - gamma_up*w/1.1724", "1 + gamma_down*w/0.8276"),
    "ecram-mo": ("1 - gamma_up*w/1.1714", "1 + gamma_down*w/0.8286"),
}
PRESETS = {k: (replace(p, device_forms=_DEVICE_FORMS[k]) if k in _DEVICE_FORMS else p) for k, p in PRESETS.items()}


def get(name: str) -> Preset:
    """A preset by name (with or without the ``preset:`` prefix)."""
    key = name.split(":", 1)[1] if name.startswith("preset:") else name
    if key not in PRESETS:
        raise InputError("response", f"unknown preset {key!r}; valid: {', '.join('preset:' + k for k in PRESETS)}")
    return PRESETS[key]


def pulses_per_efold_mean(G_prime_at_sp: float, dw_min: float) -> float:
    """Random-sign pulses: E[dw] = -dw_min G(w) per pulse, so the distance to the SP shrinks by
    dw_min G'(SP) per pulse: 1/(dw_min G'(SP)) pulses per e-fold."""
    rate = dw_min * G_prime_at_sp
    return 1.0 / rate if rate > 0 else math.inf


def variation(preset: Preset) -> "PresetVariation":
    """The preset's device-to-device variation (:class:`PresetVariation`)."""
    return PresetVariation(preset)


def unmodelled_dtod(preset: Preset) -> list[str]:
    """The preset's d2d parameters :class:`PresetVariation` does not draw (none for the ten presets)."""
    modelled = {"dw_min_dtod", "up_down_dtod", "dw_min_dtod_log_normal", "reference_std", "w_max_dtod", "w_min_dtod",
                "gamma_dtod"}
    return sorted(k for k, v in preset.dtod.items() if k not in modelled and v)


@dataclass(frozen=True)
class PresetVariation:
    """A preset's device-to-device variation with the reference simulator's semantics (arXiv:2602.21321
    eq. 103-104 for the step scales; the simulator's ``PulsedDevice`` and device classes for the rest).

    Device i draws, in this order: the step gain g_i (1 + dw_min_dtod xi, or exp(dw_min_dtod xi) where the
    preset is log-normal) and imbalance r_i = up_down_dtod xi (s+ = g + r, s- = g - r, see
    :class:`aimc_theory.variation.Variation`); the zero-shifted arrays' reference error
    o_i = -reference_std xi (its visible SP and range move by o_i); its own bounds
    b_max = |w_max (1 + w_max_dtod xi)|, b_min = -|w_min (1 + w_min_dtod xi)|; a linear step's own slopes
    gamma_i = |gamma + gamma_dtod xi| (up and down). Bounds change the shape of the soft-bounds
    (1 - w/b) and exponential-step (z = 2 a w/(b_max - b_min) + b) responses, and only where a LinearStep or
    ConstantStep device saturates (their slopes use the mean bounds). In the device (numeric side) these are
    stretches of the mean response, q(k w): k+ = w_max/b_max, k- = w_min/b_min (soft bounds),
    k = (w_max - w_min)/(b_max - b_min) (exponential step), k = gamma_i/gamma (linear step); the theory
    uses the per-device expressions ``Preset.device_forms`` with the drawn parameters instead.
    """

    preset: Preset

    @property
    def steps(self):
        from .variation import Variation
        d = self.preset.dtod
        return Variation(d.get("dw_min_dtod", 0.0), d.get("up_down_dtod", 0.0),
                         log_normal=bool(d.get("dw_min_dtod_log_normal", False)))

    gain = property(lambda self: self.steps.gain)
    imbalance = property(lambda self: self.steps.imbalance)
    log_normal = property(lambda self: self.steps.log_normal)

    @property
    def varies(self) -> bool:
        return any(bool(v) for v in self.preset.dtod.values())

    def population(self, n: int, rng: np.random.Generator):
        """``n`` devices of this preset (:class:`aimc_theory.variation.Population`)."""
        from .variation import Population
        p, d = self.preset, self.preset.dtod
        s_plus, s_minus, clipped = self.steps.draw(n, rng)
        std = float(d.get("reference_std", 0.0))
        offsets = -std * rng.standard_normal(n) if std else None
        b_max = np.abs(p.w_max * (1 + d.get("w_max_dtod", 0.0) * rng.standard_normal(n)))
        b_min = -np.abs(p.w_min * (1 + d.get("w_min_dtod", 0.0) * rng.standard_normal(n)))
        params, k_up, k_down = {}, None, None
        cls = p.device_class
        if "ExpStepDevice" in cls:
            params = {"bmax": b_max, "bmin": b_min}
            k_up = k_down = (p.w_max - p.w_min) / (b_max - b_min)
        elif "SoftBounds" in cls:
            params = {"bmax": b_max, "bmin": b_min}
            k_up, k_down = p.w_max / b_max, p.w_min / b_min
        elif "LinearStepDevice" in cls:
            g = float(d.get("gamma_dtod", 0.0))
            params = {k: np.abs(p.shape[k] + g * rng.standard_normal(n)) for k in ("gamma_up", "gamma_down")}
            if g:
                k_up, k_down = params["gamma_up"] / p.shape["gamma_up"], params["gamma_down"] / p.shape["gamma_down"]
        return Population(s_plus, s_minus, clipped, k_up, k_down, b_min, b_max, offsets, params)


def pulse_devices(preset: Preset, population, pulses: int, w0=None, rng=None,
                  backend: str = "numpy") -> tuple[np.ndarray, np.ndarray]:
    """Measured: ``pulses`` alternating up/down pulses (up first) on every device of ``population`` (a
    :class:`~aimc_theory.variation.Population`), pulse level, no cycle noise; ``w0``: the start (default the
    middle of the mean range, moved by each device's offset). Returns (middle, drift): the mean of the last
    up/down pair (a device that converged sits at its SP, the 2-cycle's middle, or at the bound it drifted
    to) and the change of the weight over the last pair (about 0 when converged; the sign of the drift of a
    device still on its way to a bound). ``backend`` "exact": the compiled loop of
    :mod:`aimc_theory.kernels_chains` where numba is installed and it repeats this loop's bits (affine and
    exponential-step responses without cycle noise: the reference simulator's soft-bounds, linear-step and exp-step
    presets), else NumPy."""
    from .device import Device
    dev = population.device(Device(preset.response(), dw_min=preset.dw_min))
    off = 0.0 if population.offsets is None else population.offsets
    w = np.broadcast_to(np.asarray(0.5 * (preset.w_min + preset.w_max) + off if w0 is None else w0, float),
                        (population.size,)).astype(float)
    if dev.sigma_c:
        prev = prev2 = w
        for k in range(pulses):
            prev2, prev = prev, w
            w = dev.pulse(w, 1.0 if k % 2 == 0 else -1.0, rng)
    else:
        w, prev, prev2 = _alternate(dev, w, pulses, backend)
    return 0.5 * (w + prev), w - prev2          # prev2: after the previous down pulse, one pair earlier


def _alternate(dev, w: np.ndarray, pulses: int, backend: str = "numpy") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pulses`` alternating pulses (up first) without cycle noise: the arithmetic of ``Device.pulse`` with a
    scalar sign, operation for operation (the same bits; a test compares), without its per-call dispatch (this
    loop runs ~10^5 pulses per device). Returns the last three states (w_N, w_N-1, w_N-2). ``backend`` "exact":
    the compiled loop where it covers the device (:func:`aimc_theory.kernels_chains.alternate`, the same bits)."""
    if backend not in ("numpy", "exact"):
        raise InputError("backend", f"must be numpy or exact (got {backend!r})")
    if backend == "exact":
        try:
            from . import kernels_chains
            return kernels_chains.alternate(dev, np.asarray(w, dtype=float).reshape(-1), pulses)
        except InputError:                  # numba absent or the device not covered: the NumPy loop
            pass
    resp, size = dev.response, float(dev.dw_min)
    el = dev.elements(np.shape(w))
    off = None if dev._no_offset else dev.offset
    qp, qm = resp.q_plus, resp.q_minus
    if el is None:
        up_step = lambda u: qp(u)                                          # noqa: E731
        down_step = lambda u: -qm(u)                                       # noqa: E731
        clip = resp.clip
    else:
        ks_up, ks_down = el.up_stretch, el.down_stretch
        up_step = lambda u: el.up * qp(u if ks_up is None else ks_up * u)                  # noqa: E731
        down_step = lambda u: -(el.down * qm(u if ks_down is None else ks_down * u))       # noqa: E731
        clip = resp.clip if el.lo is None else (lambda x: np.clip(x, el.lo, el.hi))        # noqa: E731
    prev = prev2 = w
    for k in range(pulses):
        prev2, prev = prev, w
        u = w if off is None else w - off
        new = clip(u + size * (up_step(u) if k % 2 == 0 else down_step(u)))
        w = new if off is None else new + off
    return w, prev, prev2
