"""Response functions q+(w), q-(w) of a resistive element (P1 eq. 3-5, spec A.2-A.5).

A pulse moves the weight up by dw_min*q+(w) or down by dw_min*q-(w); everything else in the package starts
from a :class:`Response`. The package has three modules, and every name is available here:

* :mod:`.core`: :class:`Response` (NumPy evaluation, F/G, SPs, shifted/scaled/swapped responses), the
  :class:`Family` record a built-in family is written as, and user responses (:func:`from_expressions`,
  :func:`compiled`);
* :mod:`.families`: the built-in families, one record each, the registry :data:`FAMILY`, :func:`get`,
  and the Python functions :func:`softbounds`, :func:`linear`, :func:`power`, :func:`exponential`,
  :func:`ideal`;
* :mod:`.reference`: the reference simulator's (aihwkit's) devices :func:`aihwkit_softbounds`,
  :func:`aihwkit_linearstep`, :func:`aihwkit_powstep`, :func:`aihwkit_expstep` and :func:`step_scales`.

The numeric path does not import SymPy or ``scipy.optimize`` (see :mod:`.core`).
"""
from .core import (FINITE, MAX_UNBOUNDED_SPS, POSITIVE, Array, Family, Param, Range, Response, affine_from_exprs,
                   brentq, compiled, from_expressions, is_root, numeric_roots, scan_grid)
from .families import FAMILIES, FAMILY, exponential, get, ideal, linear, power, softbounds
from .reference import aihwkit_expstep, aihwkit_linearstep, aihwkit_powstep, aihwkit_softbounds, step_scales

__all__ = ["FAMILIES", "FAMILY", "FINITE", "MAX_UNBOUNDED_SPS", "POSITIVE", "Array", "Family", "Param", "Range",
           "Response", "affine_from_exprs", "aihwkit_expstep", "aihwkit_linearstep", "aihwkit_powstep",
           "aihwkit_softbounds", "brentq", "compiled",
           "exponential", "from_expressions", "get", "ideal", "is_root", "linear", "numeric_roots", "power",
           "scan_grid", "softbounds", "step_scales"]
