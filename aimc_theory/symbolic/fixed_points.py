"""Fixed-point adapters of the algorithm registry: one uniform signature per algorithm,

    fn(resp, main, L, w_star, noise, lr, w0, **options) -> result with ``as_dict()``

for the scalar quadratic f = L/2 (w - w*)^2 with g = f' + noise xi. ``resp`` is the response of
--response (the residual array for two-array algorithms), ``main`` the main array's.
"""
from __future__ import annotations

from ..errors import InputError
from .analog_sgd import analog_sgd_fixed_point, digital_sgd_fixed_point
from .derivation import derive
from .residual_learning import residual_learning_fixed_point
from .tracking import rider_fixed_point


class _WithNotes:
    """A fixed-point result plus the derivations' ``notes`` (what SymPy did not finish), in its JSON."""

    def __init__(self, result, *derivations):
        self.result = result
        self.notes = [n for d in derivations for n in d.notes]

    def __getattr__(self, name):
        return getattr(self.result, name)

    def as_dict(self) -> dict:
        return self.result.as_dict() | {"notes": self.notes}


def digital_sgd(resp, main, L, w_star, noise, lr, w0, **options):
    return digital_sgd_fixed_point(L, w_star, noise, lr)


def analog_sgd(resp, main, L, w_star, noise, lr, w0, **options):
    # R and R'(SP) suffice; without an SP in the range the exact drift root still exists (eq. 43 does not)
    d = derive(resp, penalty=False, without_sp="report")
    return _WithNotes(analog_sgd_fixed_point(d, L, w_star, noise, lr), d)


def residual_learning(resp, main, L, w_star, noise, lr, w0, **options):
    # the residual array's response (shifted by --sp-shift); ideal main array (spec F.4)
    if main is not None and not main.every_point_symmetric:
        raise InputError("main_response", "the residual-learning fixed point is derived for an ideal main "
                                            "array; use simulate for a non-ideal one")
    d = derive(resp, penalty=False)
    return _WithNotes(residual_learning_fixed_point(d, L, w_star, noise), d)


def rider(resp, main, L, w_star, noise, lr, w0, beta, eta, q0, **options):
    dp, dw = derive(resp, penalty=False), derive(main, penalty=False)
    return _WithNotes(rider_fixed_point(dp, dw, L, w_star, noise, beta, eta, w0, q0), dp, dw)



# Population adapters (device-to-device variation): one signature,
#     fn(forms, s_plus, s_minus, lo, hi, L, w_star, noise, params, offsets) -> (fixed points, status)
# with status "interior" where the device's fixed point lies inside its range.

def population_analog_sgd(forms, s_plus, s_minus, lo, hi, L, w_star, noise, params, offsets):
    from .analog_sgd import population_fixed_points
    return population_fixed_points(*forms, s_plus, s_minus, lo, hi, L, w_star, noise, params, offsets=offsets)


def population_residual_learning(forms, s_plus, s_minus, lo, hi, L, w_star, noise, params, offsets):
    import numpy as np
    from .residual_learning import population_rl_fixed_points
    # the residual array is made of the drawn devices; the mixed weight is not bounded by their ranges
    fps, _ = population_rl_fixed_points(*forms, s_plus, s_minus, L, w_star, noise, params, offsets)
    return fps, np.full(np.shape(fps), "interior")
