"""Drawing helpers for the claims' figures (``Claim.figure``): figures are drawn on Figure objects, so the
caller's pyplot backend is left alone, and saved atomically."""
from __future__ import annotations

from pathlib import Path

from aimc_theory.files import save_figure


def subplots(*grid, figsize=(6, 4)):
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize)
    axes = fig.subplots(*grid)
    return fig, axes


def save(fig, path: Path) -> str:
    """Write the figure; returns its name as the report lists it (``figures/NAME``)."""
    fig.tight_layout()
    return f"figures/{save_figure(fig, path).name}"      # the suffix of check --format
