"""Figures: matplotlib without a display, saved in the formats asked for."""

from __future__ import annotations

from pathlib import Path


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (no display is needed or used)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save(fig, path: Path, formats: tuple[str, ...] = ("png",)) -> list[Path]:
    """Write `fig` as `path` with each suffix in `formats`, close it, return the paths."""
    plt = pyplot()
    fig.tight_layout()
    paths = [path.with_suffix(f".{f}") for f in formats]
    for p in paths:
        fig.savefig(p, dpi=120)
    plt.close(fig)
    return paths
