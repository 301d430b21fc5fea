"""Symbolic derivations (SymPy) from the response functions; never runs a simulation.

Numbers are obtained by lambdifying the SymPy expressions and using quadrature or root finding
on them (not the numeric path's hand-written responses). One module per topic:

* :mod:`.engine`       time budget for SymPy calls, cached lambdified callables
* :mod:`.moments`      E|g| of Gaussian gradient noise (folded normal)
* :mod:`.derivation`   F, G, R = G/F, SPs, penalty R_c(w) = int_SP^w R, R'(SP)  (P1 eq. 3-7, Thm 1)
* :mod:`.analog_sgd`   Analog SGD fixed points, rates, variances (spec F.1, F.2)
* :mod:`.residual_learning`  RL v1/v2: shifted-SP fixed point, transfer loop, EMA ratio (spec F.4)
* :mod:`.calibration`  zero-shifting SP calibration: contraction, 2-cycle, floors, pulses (P2 Thm 2.2, C.2-C.4)
* :mod:`.tracking`     RIDER / E-RIDER: stationary set, EMA filter response, Lemma 3.5 (P2 section 3)
"""
from .analog_sgd import (FixedPoint, FixedPointLS, analog_sgd_fixed_point, analog_sgd_fixed_point_ls,
                         digital_sgd_fixed_point, population_fixed_points)
from .derivation import Derivation, derive
from .moments import constant_moment, folded_normal_mean
from .residual_learning import (LinearizedLoop, ReadNoiseFixedPoint, RLFixedPoint, ema_noise_variance_ratio,
                                population_rl_fixed_points, residual_learning_fixed_point,
                                residual_learning_fixed_point_ls,
                                residual_learning_linearized, residual_learning_read_noise_fixed_point)

__all__ = [
    "Derivation", "derive", "folded_normal_mean", "constant_moment",
    "FixedPoint", "FixedPointLS", "analog_sgd_fixed_point", "analog_sgd_fixed_point_ls", "digital_sgd_fixed_point",
    "population_fixed_points", "population_rl_fixed_points",
    "RLFixedPoint", "LinearizedLoop", "ReadNoiseFixedPoint", "residual_learning_fixed_point",
    "residual_learning_fixed_point_ls", "residual_learning_linearized", "residual_learning_read_noise_fixed_point",
    "ema_noise_variance_ratio",
]
