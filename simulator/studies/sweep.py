"""Running a study: every point measured once, journaled as it finishes, gathered into one table.

With an output folder, each finished point is appended to `points.jsonl` at once. A sweep that is
killed and run again with the same command measures only the points that are missing: no point is
lost and none is measured or written twice. The table lists points in study order whatever order
they finished in.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ..config.journal import Journal
from .executors import run_tasks
from .points import INTERNAL_ERROR, measure_point
from .spec import Study, point_key

JOURNAL = "points.jsonl"


def run_sweep(study: Study, out_dir: str | Path | None = None, *, workers: int | None = None,
              scheduler: str | None = None, progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Measure every point of `study` (those already in `out_dir`'s journal are read back) and
    return the table: one row per point, its axis values, then its figures."""
    keys = [point_key(p) for p in study.points]
    rows: dict[str, dict] = {}
    journal_path = Path(out_dir) / JOURNAL if out_dir is not None else None
    with Journal(journal_path, study.fingerprint()) if journal_path else contextlib.nullcontext() as journal:
        if journal:
            rows.update((r["key"], r["row"]) for r in journal.done if r.get("key") in set(keys))
        todo = list(dict.fromkeys(k for k in keys if k not in rows))   # a repeated point runs once
        tasks = [(study.base, study.base_dir, json.loads(k), study.sweep.measure) for k in todo]
        total, done = len(set(keys)), len(set(keys)) - len(todo)
        if progress:
            progress(done, total)
        for i, row in run_tasks(measure_point, tasks, workers=workers, scheduler=scheduler):
            rows[todo[i]] = row
            if journal and not str(row.get("error") or "").startswith(INTERNAL_ERROR):
                journal.append({"key": todo[i], "row": row})
            done += 1
            if progress:
                progress(done, total)
    return table(study, [rows[k] for k in keys])


def table(study: Study, rows: list[dict]) -> pd.DataFrame:
    """Points in study order: `point`, one column per axis (named by its field path), the figures."""
    axes = {axis: [_cell(p.get(axis)) for p in study.points] for axis in study.axes}
    for axis, values in axes.items():
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            axes[axis] = [v if isinstance(v, str) else json.dumps(v) for v in values]  # one type per column
    df = pd.DataFrame({"point": range(len(rows)), **axes})
    figures = pd.DataFrame(rows)
    return pd.concat([df, figures], axis=1)


def _cell(value):
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def write_outputs(df: pd.DataFrame, study: Study, out_dir: str | Path, plots: bool = True) -> list[Path]:
    """results.parquet, results.csv and the plots; returns the paths written."""
    from .plots import plot_sweep
    out = Path(out_dir)
    written = [out / "results.parquet", out / "results.csv"]
    df.to_parquet(written[0], index=False)
    df.to_csv(written[1], index=False)
    if plots:
        written += plot_sweep(df, study.axes, out)
    return written
