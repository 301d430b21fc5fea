"""aimc-theory: derive and simulate the theory of analog in-memory training.

``response`` (q+/q- families and user expressions), ``symbolic`` (SymPy derivations),
``device``/``algorithms``/``objectives``/``simulation`` (the NumPy path, which never imports
``symbolic``), and the ``aimc-theory`` command line.
"""
from . import algorithms, device, objectives, response, simulation
from .errors import InputError

__version__ = "0.1.0"


def __getattr__(name):
    # the symbolic module loads lazily so that the numeric path does not pay for it
    if name == "symbolic":
        import importlib
        return importlib.import_module(".symbolic", __name__)
    raise AttributeError(name)


__all__ = ["algorithms", "device", "objectives", "response", "simulation", "symbolic", "InputError"]
