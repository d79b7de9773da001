"""Monte Carlo over independent campaign trials: means with 95 % confidence intervals.

Trial i draws from the i-th child of the seed's SeedSequence, so its result does not depend on
how many trials run or in which order. The interval is Student's t on the trial means.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..config.journal import Journal
from .campaign import EVENT_COLUMNS, INTERVAL_COLUMNS, Campaign, TrialResult

SUMMARY_SCHEMA_VERSION = 1  # of the campaign's summary.json and tables (docs/outputs.md)
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


def run_trials(campaign: Campaign, trials: int | None = None, progress=None, store: Path | None = None) -> CampaignRun:
    """Run trials 0..n-1 one after another (the step times they need are memoized in between).

    With `store` (a JSON-lines file), each finished trial is appended to it at once, and trials
    already there from an earlier run of the same campaign are read back instead of run again, so
    a run that is killed loses nothing it finished. The file's first line is the campaign's
    fingerprint; a file of another campaign is started afresh.
    """
    n = trials or campaign.trials
    start = time.perf_counter()
    rows, events, intervals = [], [], []
    with Journal(store, campaign.fingerprint()) if store else contextlib.nullcontext() as journal:
        done = {d["trial"]: TrialResult(d["metrics"], [tuple(e) for e in d["events"]],
                                        [tuple(e) for e in d["intervals"]]) for d in journal.done} if journal else {}
        finished = sum(i in done for i in range(n))
        if progress:
            progress(finished, n)               # trials read back first, then each one run
        for i in range(n):
            r = done.get(i)
            if r is None:
                r = campaign.run_trial(i, record=i < RECORDED_TRIALS)
                if journal:
                    journal.append({"trial": i, "metrics": r.metrics, "events": r.events, "intervals": r.intervals})
                finished += 1
                if progress:
                    progress(finished, n)
            rows.append(r.metrics)
            events += r.events
            intervals += r.intervals
    return CampaignRun(campaign, pd.DataFrame(rows), pd.DataFrame(events, columns=list(EVENT_COLUMNS)),
                       pd.DataFrame(intervals, columns=list(INTERVAL_COLUMNS)), time.perf_counter() - start)


def summarize(run: CampaignRun) -> dict:
    """Headline figures of a campaign: means with 95 % confidence intervals over trials."""
    from .. import __version__
    from ..config import scenario_to_dict
    from .campaign import DOWN_PHASES
    c, df = run.campaign, run.trials.copy()
    df["lost_time_h"] = df["lost_time"] / 3600
    df["checkpoint_stall_h"] = df["checkpoint_stall"] / 3600
    df["degraded_time_h"] = df["degraded_time"] / 3600
    df["downtime_h"] = sum(df[f"down_{p}"] for p in DOWN_PHASES) / 3600
    df["goodput_tokens_per_s"] = df["goodput"]
    metrics = ["ettr", "relative_goodput", "goodput_tokens_per_s", "tokens", "failures", "interruptions",
               "planned_stops", "lost_time_h", "lost_tokens", "checkpoint_stall_h", "checkpoints", "downtime_h",
               "degraded_time_h"]
    results = {m: mean_ci(df[m]) for m in metrics}
    summary = {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "scenario": c.scenario.name,
        "failure_model": c.model.name,
        "trials": len(df),
        "seed": c.seed,
        "duration_days": None if c.budget else c.duration / 86400,
        "token_budget": c.budget,
        "healthy": {"iteration_time_s": c.step_time, "tokens_per_s": c.tokens_per_step / c.step_time},
        "mean_time_to_interruption_h": c.mtti / 3600,
        "checkpoint": {"size_bytes": c.ckpt.size, "per_rank_bytes": c.ckpt.per_rank, "blocking_s": c.ckpt.block,
                       "save_s": c.ckpt.save, "load_s": c.ckpt.load, "mode": c.cfg.checkpoint.mode,
                       "in_memory": c.cfg.checkpoint.in_memory, "policy": c.interval_policy,
                       "interval_s": c.interval},
        "recovery": {"policy": c.cfg.recovery.policy, "network_failures": c.cfg.recovery.network_failures,
                     "spare_servers": c.spares, "restart_s": c.restart},
        "results": results,
        "downtime_by_phase_h": {p: float(df[f"down_{p}"].mean() / 3600) for p in DOWN_PHASES},
        "failures_by_cause": {cl.name: mean_ci(df[f"failures_{cl.name}"]) for cl in c.model.classes},
        "simulation": {"step_simulations": c.steps.simulations, "health_states": len(c.steps._states),
                       "wall_time_s": run.wall_time},
        "clustersim_version": __version__,
        "resolved_scenario": scenario_to_dict(c.scenario),
    }
    if c.budget:
        done = df[df["finished"] == True]  # noqa: E712 - a column of booleans
        summary["finished_fraction"] = len(done) / len(df)
        results["time_to_train_days"] = mean_ci(done["wall_time"] / 86400) if len(done) else \
            {"mean": float("nan"), "ci95": None, "std": None}
    return summary


def interval_study(campaign: Campaign, factors=(0.25, 0.5, 1.0, 2.0, 4.0), trials: int = 50) -> pd.DataFrame:
    """ETTR at multiples of the campaign's checkpoint interval (the same seeds at each)."""
    from .checkpoint import daly_ettr
    rows = []
    exponential = all(cl.distribution == "exponential" for cl in campaign.model.classes)
    for f in factors:
        c = Campaign(campaign.scenario, campaign.steps, interval=campaign.interval * f, duration=campaign.duration,
                     trials=trials)
        ettr = mean_ci(run_trials(c, trials).trials["ettr"])
        lo, hi = ettr["ci95"] or (ettr["mean"], ettr["mean"])
        row = {"interval_s": c.interval, "ettr": ettr["mean"], "ettr_lo": lo, "ettr_hi": hi}
        if exponential and c.cfg.checkpoint.mode == "sync":
            row["daly_ettr"] = daly_ettr(c.interval, c.ckpt.block, c.restart, c.mtti)
        rows.append(row)
    return pd.DataFrame(rows)
