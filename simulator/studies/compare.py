"""Scenarios side by side: the same headline figures, breakdown and memory for each, and how
each differs from the first (absolute and relative)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import read_mapping
from .executors import run_tasks
from .points import measure_point

MAX_SCENARIOS = 64


def compare(paths: list[str | Path], overrides: dict[str, Any] | None = None, *,
            workers: int | None = None) -> pd.DataFrame:
    """One column per scenario (named by its file), one row per figure; `overrides` apply to each."""
    from ..config import ConfigError
    if not 2 <= len(paths) <= MAX_SCENARIOS:
        raise ConfigError("scenarios", len(paths), f"2 to {MAX_SCENARIOS} scenario files")
    tasks, names = [], []
    for path in map(Path, paths):
        data = read_mapping(path, "scenario")
        data.setdefault("name", path.stem)
        tasks.append((data, str(path.resolve().parent), overrides or {}, "step"))
        names.append(_unique(path.stem, names))
    rows = dict(run_tasks(measure_point, tasks, workers=workers))
    table = pd.DataFrame({name: pd.Series(rows[i]) for i, name in enumerate(names)})
    return table.drop(index="sim_wall_s")   # the simulator's own time: not a figure of the scenario


def differences(table: pd.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    """For each scenario after the first, each numeric figure's difference from the first's."""
    first, out = table.columns[0], {}
    for name in table.columns[1:]:
        diffs = {}
        for figure, a in table[first].items():
            b = table.at[figure, name]
            if _number(a) and _number(b):
                diffs[figure] = {"absolute": b - a, "relative": (b - a) / a if a else None}
        out[name] = diffs
    return out


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _unique(name: str, taken: list[str]) -> str:
    out, n = name, 1
    while out in taken:
        n += 1
        out = f"{name} ({n})"
    return out
