"""The prediction of a training campaign: headline figures with confidence intervals, tables of
trials, events and job-state intervals, a Perfetto timeline and plots."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..config import format_bytes
from .figures import pyplot, save

DAY, HOUR = 86400.0, 3600.0

# state -> colour in the timeline plot; down phases in warm colours
STATE_COLOURS = {"training": "#2e7d32", "training_degraded": "#9ccc65", "detection": "#b71c1c",
                 "diagnosis": "#e53935", "waiting_for_servers": "#6a1b9a", "reschedule": "#fb8c00",
                 "process_start": "#ffb300", "nccl_init": "#fdd835", "checkpoint_load": "#1e88e5",
                 "maintenance": "#546e7a", "final_checkpoint": "#1e88e5"}


@dataclass
class CampaignResult:
    summary: dict
    tables: dict[str, pd.DataFrame]
    interval_study: pd.DataFrame | None = field(default=None, repr=False)

    def report(self) -> str:
        s, r = self.summary, self.summary["results"]
        ck = s["checkpoint"]

        def ci(name, scale=1.0, fmt="{:.4f}"):
            v = r[name]
            lo, hi = v["ci95"] or (v["mean"], v["mean"])
            return f"{fmt.format(v['mean'] * scale)}  (95 % CI {fmt.format(lo * scale)} - {fmt.format(hi * scale)})"

        span = (f"token budget {s['token_budget']:.4g}" if s.get("token_budget")
                else f"{s['duration_days']:.1f} days")
        lines = [f"{s['scenario']}: {span}, failure model {s['failure_model']}, {s['trials']} trials",
                 f"  healthy iteration      {s['healthy']['iteration_time_s']:.3f} s "
                 f"({s['healthy']['tokens_per_s']:,.0f} tokens/s)",
                 f"  job MTTI (model)       {s['mean_time_to_interruption_h']:.2f} h",
                 f"  checkpoint             {format_bytes(ck['size_bytes'])}, every {ck['interval_s'] / 60:.1f} min "
                 f"({ck['policy']}, {ck['mode']}); blocks {ck['blocking_s']:.3g} s, durable after "
                 f"{ck['save_s']:.3g} s, load {ck['load_s']:.3g} s",
                 f"  ETTR                   {ci('ettr')}",
                 f"  goodput / healthy      {ci('relative_goodput')}",
                 f"  goodput                {ci('goodput_tokens_per_s', fmt='{:,.0f}')} tokens/s",
                 f"  unexpected failures    {ci('failures', fmt='{:.1f}')}",
                 f"  job interruptions      {ci('interruptions', fmt='{:.1f}')} (+ {r['planned_stops']['mean']:.1f} planned)",
                 f"  lost work              {ci('lost_time_h', fmt='{:.2f}')} h",
                 f"  checkpoint stalls      {ci('checkpoint_stall_h', fmt='{:.2f}')} h",
                 f"  downtime               {ci('downtime_h', fmt='{:.2f}')} h"]
        for phase, v in s["downtime_by_phase_h"].items():
            if v > 0:
                lines.append(f"    {phase:<22}{v:.2f} h")
        if "time_to_train_days" in r:
            lines.append(f"  time to train          {ci('time_to_train_days', fmt='{:.2f}')} days "
                         f"({s['finished_fraction']:.0%} of trials finished)")
        lines.append("  failures by cause (mean per trial):")
        for cause, v in sorted(s["failures_by_cause"].items(), key=lambda kv: -kv[1]["mean"]):
            if v["mean"] > 0:
                lines.append(f"    {cause:<30}{v['mean']:.2f}")
        sim = s["simulation"]
        lines.append(f"  {sim['step_simulations']} step simulations of health states; campaign in "
                     f"{sim['wall_time_s']:.2f} s")
        return "\n".join(lines)

    def trace(self, trials: int = 5) -> dict:
        """Chrome/Perfetto trace: one process per recorded trial, the job's states as slices (us)."""
        events = []
        iv = self.tables["intervals"]
        for trial in sorted(iv["trial"].unique())[:trials]:
            events.append({"ph": "M", "name": "process_name", "pid": int(trial), "tid": 0,
                           "args": {"name": f"trial {trial}"}})
            for row in iv[iv["trial"] == trial].itertuples():
                events.append({"ph": "X", "name": row.state, "cat": "job", "pid": int(trial), "tid": 0,
                               "ts": row.start * 1e6, "dur": (row.end - row.start) * 1e6,
                               "args": {"cause": row.cause}})
            ev = self.tables["events"]
            for row in ev[ev["trial"] == trial].itertuples():
                events.append({"ph": "i", "s": "p", "name": f"{row.kind}: {row.cause}", "pid": int(trial), "tid": 0,
                               "ts": row.time * 1e6, "args": {"component": row.component, "detail": row.detail}})
        return {"traceEvents": events, "displayTimeUnit": "ms"}

    def to_dir(self, out: str | Path, plots: bool = True) -> list[Path]:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "summary.json"]
        written[0].write_text(json.dumps(self.summary, indent=2))
        for name, df in self.tables.items():
            p = out / f"{name}.parquet"
            df.to_parquet(p, index=False)
            written.append(p)
        p = out / "trace.json"
        p.write_text(json.dumps(self.trace()))
        written.append(p)
        if plots:
            written += self.plot(out)
        return written

    def plot(self, out: Path) -> list[Path]:
        import matplotlib.ticker
        plt = pyplot()
        written = []
        iv = self.tables["intervals"]
        if len(iv):
            first = iv[iv["trial"] == iv["trial"].min()].sort_values("start")
            fig, (ax, cum) = plt.subplots(2, 1, figsize=(11, 5), sharex=True, height_ratios=(1, 2))
            for state, rows in first.groupby("state"):
                ax.broken_barh([(r.start / DAY, (r.end - r.start) / DAY) for r in rows.itertuples()], (0, 1),
                               color=STATE_COLOURS.get(state, "#999999"), label=state,
                               edgecolor=STATE_COLOURS.get(state, "#999999"), linewidth=0.6,  # minutes stay visible
                               zorder=1 if state.startswith("training") else 2)
            ax.set_yticks([])
            ax.set_title(f"{self.summary['scenario']}: job state over time (trial {int(first['trial'].min())})")
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.05), ncol=6, fontsize=7, frameon=False)
            # downtime is minutes at a time over weeks: its running total shows it
            down = first[~first["state"].str.startswith("training")]
            ends = down["end"].to_numpy() / DAY
            total = (down["end"] - down["start"]).cumsum().to_numpy() / HOUR
            cum.step([0.0, *ends], [0.0, *total], where="post", color="#b71c1c")
            cum.set_ylabel("hours not training (cumulative)")
            cum.set_xlabel("days")
            cum.grid(alpha=0.3)
            written += save(fig, out / "job_state.png")
        if self.interval_study is not None and len(self.interval_study):
            st = self.interval_study
            fig, ax = plt.subplots(figsize=(6.5, 4))
            ax.errorbar(st["interval_s"] / 60, st["ettr"], yerr=[st["ettr"] - st["ettr_lo"], st["ettr_hi"] - st["ettr"]],
                        marker="o", capsize=3, label="simulated (95 % CI)")
            if "daly_ettr" in st:
                ax.plot(st["interval_s"] / 60, st["daly_ettr"], "--", label="Daly (2006) closed form")
            ax.axvline(self.summary["checkpoint"]["interval_s"] / 60, color="gray", lw=0.8, label="chosen interval")
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.3g"))
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xticks(list(st["interval_s"] / 60))
            ax.set_xlabel("checkpoint interval (min of training; same failures at every interval)")
            ax.set_ylabel("ETTR")
            ax.set_title("ETTR vs checkpoint interval")
            ax.legend(fontsize=8)
            written += save(fig, out / "ettr_vs_interval.png")
            p = out / "interval_study.csv"
            st.to_csv(p, index=False)
            written.append(p)
        return written

