"""Plots of a sweep's table (PNG and SVG): the headline figure against the first numeric axis,
one line per combination of the other axes; MFU over TP x PP when both vary; the breakdown of
every point that ran."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..analysis.figures import pyplot, save
from ..engine import BREAKDOWN_KEYS

FORMATS = ("png", "svg")
MAX_LINES = 12       # more series than this make a plot nobody can read; the rest are left out
MAX_BARS = 64


def plot_sweep(df: pd.DataFrame, axes: list[str], out: Path) -> list[Path]:
    ran = df[df["iteration_time_s"].notna()] if "iteration_time_s" in df else df.iloc[:0]
    if ran.empty:
        return []
    written = []
    varied = [a for a in axes if df[a].nunique() > 1]
    numeric = [a for a in varied if pd.api.types.is_numeric_dtype(df[a])]
    if varied:   # against the first numeric axis, else the first axis, its values in study order
        x = (numeric or varied)[0]
        for y in headline(ran):
            written += _lines(ran, x, y, [a for a in axes if a != x], out)
    if ran["tp"].nunique() > 1 and ran["pp"].nunique() > 1 and "mfu" in ran:
        written += _heat_map(ran, out)
    if any(f"{k}_s" in ran for k in BREAKDOWN_KEYS):
        written += _breakdown(ran, axes, out)
    return written


def headline(df: pd.DataFrame) -> list[str]:
    """The figures worth a plot, most telling first."""
    if "ettr" in df:   # a campaign per point
        return [c for c in ("ettr", "time_to_train_days") if c in df]
    first = "time_to_train_days" if "time_to_train_days" in df else "iteration_time_s"
    return [c for c in (first, "mfu") if c in df]


def _label(row, axes: list[str]) -> str:
    return ", ".join(f"{a.rsplit('.', 1)[-1]}={row[a]}" for a in axes) or "all"


def _lines(df: pd.DataFrame, x: str, y: str, others: list[str], out: Path) -> list[Path]:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    groups = list(df.groupby(others, sort=False)) if others else [((), df)]
    categorical = not pd.api.types.is_numeric_dtype(df[x])
    ticks = list(dict.fromkeys(df[x]))
    for _, g in groups[:MAX_LINES]:
        xs = g[x].map(ticks.index) if categorical else g[x]
        order = xs.sort_values().index
        ax.plot(xs[order], g.loc[order, y], marker="o", label=_label(g.iloc[0], others))
    if categorical:
        ax.set_xticks(range(len(ticks)), [str(t) for t in ticks])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    shown = f" (first {MAX_LINES} of {len(groups)} series)" if len(groups) > MAX_LINES else ""
    ax.set_title(f"{y} vs {x}{shown}", fontsize=10)
    ax.grid(alpha=0.3)
    if others:
        ax.legend(fontsize=7)
    return save(fig, out / f"{y}_vs_{x.rsplit('.', 1)[-1]}", FORMATS)


def _heat_map(df: pd.DataFrame, out: Path) -> list[Path]:
    """Best MFU at each (TP, PP) over the other axes."""
    plt = pyplot()
    grid = df.pivot_table(index="tp", columns="pp", values="mfu", aggfunc="max").sort_index().sort_index(axis=1)
    fig, ax = plt.subplots(figsize=(1.2 * len(grid.columns) + 2.5, 0.8 * len(grid.index) + 1.8))
    image = ax.imshow(grid.to_numpy(), cmap="viridis", origin="lower", aspect="auto")
    ax.set_xticks(range(len(grid.columns)), [str(c) for c in grid.columns])
    ax.set_yticks(range(len(grid.index)), [str(i) for i in grid.index])
    for (i, j), v in pd.DataFrame(grid.to_numpy()).stack().items():
        ax.text(j, i, f"{v:.1%}", ha="center", va="center", color="white", fontsize=8)
    ax.set_xlabel("pipeline-parallel size (PP)")
    ax.set_ylabel("tensor-parallel size (TP)")
    ax.set_title("MFU (best over the other axes)", fontsize=10)
    fig.colorbar(image, ax=ax)
    return save(fig, out / "mfu_tp_pp", FORMATS)


def _breakdown(df: pd.DataFrame, axes: list[str], out: Path) -> list[Path]:
    """Where the iteration's time goes, a stacked bar per point."""
    plt = pyplot()
    df = df.head(MAX_BARS)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(df) + 3), 4.5))
    bottom = pd.Series(0.0, index=df.index)
    for k in BREAKDOWN_KEYS:
        col = f"{k}_s"
        if col in df and df[col].fillna(0).any():
            ax.bar(range(len(df)), df[col].fillna(0), bottom=bottom, label=k)
            bottom += df[col].fillna(0)
    ax.set_xticks(range(len(df)), [str(p) for p in df["point"]], fontsize=7)
    ax.set_xlabel("point (see results.csv: " + ", ".join(a.rsplit('.', 1)[-1] for a in axes) + ")")
    ax.set_ylabel("seconds per iteration (busiest stage)")
    ax.set_title("Iteration time breakdown per point", fontsize=10)
    ax.legend(fontsize=7, ncol=3)
    return save(fig, out / "breakdown", FORMATS)
