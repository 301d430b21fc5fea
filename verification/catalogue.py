"""The catalogue of checkable claims (spec section G): joins the claim modules.

* :mod:`.claims_asgd`  1-10   analog update, pulse trains, Analog SGD
* :mod:`.claims_noise` 4, 5, 9, 12 under Laplace gradient noise (E|g| is not the Gaussian multiple of s)
* :mod:`.claims_rl`    11-16  Residual Learning v1/v2, P1 Fig. 2
* :mod:`.claims_sp`    17-24  SP calibration and dynamic SP tracking (RIDER, E-RIDER)
* :mod:`.claims_devices` 27.*  the reference simulator's preset devices and fits of pulse sweeps
* :mod:`.claims_network` 26.*  the network path on Fashion-MNIST (only with ``network=True``: minutes)
"""
from __future__ import annotations

from aimc_theory import response

from . import claims_asgd, claims_devices, claims_network, claims_noise, claims_rl, claims_sp
from .claim_types import AGREE, DEVICE, DISAGREE, INCONCLUSIVE, Claim

__all__ = ["catalogue", "select", "claims_for", "AGREE", "DISAGREE", "INCONCLUSIVE", "Claim"]


def catalogue(network: bool = False, device: response.Response | None = None) -> list[Claim]:
    """Every claim (with ``network`` the network claims 26.* too); with ``device`` (a user's response, ``aimc-theory
    check --response ...``) only the single-response claims, built for that response as family "device"."""
    if device is not None:
        claims = claims_asgd.catalogue(device) + claims_rl.catalogue(device) + claims_sp.catalogue(device)
        return [c for c in claims if c.family == DEVICE]
    claims = (claims_asgd.catalogue() + claims_noise.catalogue() + claims_rl.catalogue() + claims_sp.catalogue()
              + claims_devices.catalogue())
    return claims + claims_network.catalogue() if network else claims


def select(ids: list[str] | None, network: bool = False, device: response.Response | None = None) -> list[Claim]:
    """Claims whose id equals an entry or starts with 'entry.' (so '5' selects 5.*)."""
    claims = catalogue(network, device)
    if not ids:
        return claims
    return [c for c in claims if any(c.id == i or c.id.startswith(i + ".") for i in ids)]


def claims_for(ids: list[str], device: response.Response | None = None) -> list[Claim]:
    """The claims with these exact ids (those of the rows of a run), in the catalogue's order; ids it does
    not know are left out."""
    wanted = set(ids)
    return [c for c in catalogue(True, device) if c.id in wanted]
