"""Documentation stands alone: numpydoc Parameters/Returns on the public API, and no user-facing file
points outside the repository."""
import inspect
import re
from pathlib import Path

import pytest

from aimc_theory import algorithms, calibration, data, device, fit, network, objectives, registry, \
    residual_learning, response, run, simulation, sweep, testing, tracking, architectures
from aimc_theory.symbolic import analog_sgd, calibration as symbolic_calibration, derivation

ROOT = Path(__file__).resolve().parents[1]

FUNCTIONS = [response.softbounds, response.linear, response.power, response.exponential, response.ideal,
             response.from_expressions, response.aihwkit_softbounds, response.aihwkit_linearstep, response.get,
             algorithms.digital_sgd, algorithms.analog_sgd, residual_learning.residual_learning,
             residual_learning.residual_learning_v2, tracking.rider, calibration.zero_shift, simulation.simulate,
             network.train, registry.build, data.load, architectures.build, derivation.derive,
             symbolic_calibration.calibration_theory, analog_sgd.analog_sgd_fixed_point, run.describe,
             sweep.run_study, fit.fit, testing.assert_analog_sgd_fixed_point, testing.assert_rl_shift_bias,
             testing.assert_calibration_floor]
CLASSES = [device.Device, objectives.ScalarQuadratic, objectives.LeastSquares, objectives.DoubleWell, run.Run]


@pytest.mark.parametrize("obj", FUNCTIONS + CLASSES, ids=lambda o: f"{o.__module__}.{o.__qualname__}")
def test_public_api_has_numpydoc_sections(obj):
    doc = inspect.getdoc(obj) or ""
    assert re.search(r"^Parameters\n-+$", doc, re.M) or not inspect.signature(obj).parameters, obj
    if inspect.isfunction(obj):
        assert re.search(r"^Returns\n-+$", doc, re.M), obj
        # every argument is described (a name on a line of its own or in a comma group before " : ")
        described = set()
        for line in doc.splitlines():
            m = re.match(r"^(\*{0,2}[\w, *]+?)(\s:.*)?$", line)
            if m and not line.startswith(" "):
                described |= {n.strip().lstrip("*") for n in m.group(1).split(",")}
        for name, p in inspect.signature(obj).parameters.items():
            assert name in described, f"{obj.__qualname__}: parameter {name!r} not documented"


def test_user_facing_files_stay_inside_the_repository():
    files = [ROOT / "README.md", ROOT / "paper_checks.md", *sorted((ROOT / "docs").glob("*.md")),
             *sorted((ROOT / "examples").glob("*")), *sorted((ROOT / "aimc_theory").rglob("*.py"))]
    for f in files:
        if f.is_file():
            text = f.read_text(errors="replace")
            assert "../shared" not in text and "/work/" not in text, f
