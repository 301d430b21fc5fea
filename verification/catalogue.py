"""The catalogue of checkable claims (spec section G): joins the claim modules.

* :mod:`.claims_asgd`  1-10   analog update, pulse trains, Analog SGD
* :mod:`.claims_rl`    11-16  Residual Learning v1/v2, P1 Fig. 2
* :mod:`.claims_sp`    17-24  SP calibration and dynamic SP tracking (RIDER, E-RIDER)
"""
from __future__ import annotations

from . import claims_asgd, claims_rl, claims_sp
from .claim_types import AGREE, DISAGREE, INCONCLUSIVE, Claim

__all__ = ["catalogue", "select", "AGREE", "DISAGREE", "INCONCLUSIVE", "Claim"]


def catalogue() -> list[Claim]:
    return claims_asgd.catalogue() + claims_rl.catalogue() + claims_sp.catalogue()


def select(ids: list[str] | None) -> list[Claim]:
    """Claims whose id equals an entry or starts with 'entry.' (so '5' selects 5.*)."""
    claims = catalogue()
    if not ids:
        return claims
    return [c for c in claims if any(c.id == i or c.id.startswith(i + ".") for i in ids)]
