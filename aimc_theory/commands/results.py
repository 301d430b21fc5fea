"""The one result type of every command, and its strict-JSON form with provenance."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class CommandResult:
    """What a command of :mod:`aimc_theory.commands` returns.

    Attributes
    ----------
    command : str
        The command (``simulate``, ...).
    data : dict
        The result, with the keys ``aimc-theory COMMAND --json`` prints (before strict-JSON cleaning).
    arguments : dict
        Every parameter by name, as it ran (defaults and what the command filled in, e.g. a preset's
        pulse size, included).
    update_model : str or None
        The device update model that made the numbers ("expected update", "pulse level", "per-sample
        pulse trains", a reproduce model), None where nothing is simulated.
    detail : object
        The typed result underneath: ``Derivation`` (derive), the fixed-point result (fixed-point),
        ``SimulationResult`` (simulate), the zero-shift result (calibrate), ``Fig2Result`` (reproduce), the
        list of ``TrainResult`` (train), the claim rows (check), the preset rows (presets), the
        ``FitResult`` list (fit), the study result (sweep).
    ok : bool
        False when ``check`` found a verdict that is not the expected one.
    """

    command: str
    data: dict
    arguments: dict = field(default_factory=dict)
    update_model: str | None = None
    detail: Any = None
    ok: bool = True

    def as_dict(self) -> dict:
        """The result's keys and values (NumPy numbers and NaN as they are)."""
        return self.data

    def to_json(self) -> dict:
        """Strict JSON (NaN and infinities become null and ``null_reasons`` says which), with ``provenance``."""
        return jsonable(self.data, self.provenance())

    def provenance(self) -> dict:
        """What made the result: package version, command, every argument (seed included), update model."""
        from .. import __version__
        return {"package": "aimc-theory", "version": __version__, "command": self.command,
                "seed": self.arguments.get("seed"), "update_model": self.update_model,
                "arguments": dict(self.arguments)}


def jsonable(obj, provenance: dict | None = None) -> dict:
    """Strict-JSON form of a result: NaN and infinities become null, and ``null_reasons`` (at the top
    level) says which key was not finite, e.g. {"se": "not a finite number (nan)"} for the SE of a single
    chain; ``provenance`` is added when given."""
    reasons = {}

    def clean(x, path):
        if isinstance(x, (np.generic, np.ndarray)):
            x = x.tolist()
        if isinstance(x, float) and not np.isfinite(x):
            reasons[path or "value"] = f"not a finite number ({x})"
            return None
        if isinstance(x, dict):
            return {k: clean(v, f"{path}.{k}" if path else str(k)) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v, f"{path}[{i}]") for i, v in enumerate(x)]
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        return str(x)

    out = clean(obj, "")
    if reasons and isinstance(out, dict):
        out["null_reasons"] = reasons
    if isinstance(out, dict) and provenance is not None:
        out["provenance"] = clean(provenance, "provenance")
    return out
