"""Monte Carlo over independent campaign trials: means with 95 % confidence intervals.

Trial i draws from the i-th child of the seed's SeedSequence, so its result does not depend on
how many trials run or in which order. The interval is Student's t on the trial means.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .campaign import EVENT_COLUMNS, INTERVAL_COLUMNS, Campaign

RECORDED_TRIALS = 20   # trials whose job-state intervals are kept (events are kept for all)


def t_quantile_975(df: int) -> float:
    """Two-sided 95 % quantile of Student's t (Cornish-Fisher expansion; < 0.1 % off for df >= 3)."""
    z = 1.959963984540054
    if df <= 0:
        return math.inf
    if df <= 2:
        return (12.706204736, 4.302652730)[df - 1]
    return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3))


def mean_ci(values) -> dict:
    a = np.asarray(values, dtype=float)
    n = a.size
    mean = float(a.mean()) if n else math.nan
    half = float(t_quantile_975(n - 1) * a.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return {"mean": mean, "ci95": [mean - half, mean + half] if n > 1 else None, "std": float(a.std(ddof=1)) if n > 1 else None}


@dataclass
class CampaignRun:
    """The trials of one campaign, as tables."""

    campaign: Campaign
    trials: pd.DataFrame
    events: pd.DataFrame
    intervals: pd.DataFrame
    wall_time: float


def run_trials(campaign: Campaign, trials: int | None = None, progress=None) -> CampaignRun:
    """Run trials 0..n-1 one after another (the step times they need are memoized in between)."""
    n = trials or campaign.trials
    start = time.perf_counter()
    rows, events, intervals = [], [], []
    for i in range(n):
        r = campaign.run_trial(i, record=i < RECORDED_TRIALS)
        rows.append(r.metrics)
        events += r.events
        intervals += r.intervals
        if progress:
            progress(i + 1, n)
    return CampaignRun(campaign, pd.DataFrame(rows), pd.DataFrame(events, columns=list(EVENT_COLUMNS)),
                       pd.DataFrame(intervals, columns=list(INTERVAL_COLUMNS)), time.perf_counter() - start)
