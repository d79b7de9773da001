"""Study results as text: the tables `clustersim sweep`, `search` and `plan` print."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table


def as_text(table: Table, width: int = 170) -> str:
    """A rich table as plain text (for reports that are returned, not printed)."""
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(table)
    return console.export_text().rstrip()


def points_table(df, axes: list[str]) -> str:
    """The table's headline columns as text: axes, fit, the figures, the error cut short."""
    keep = ["point", *axes, "fits"] + [c for c in ("iteration_time_s", "mfu", "time_to_train_days", "ettr",
                                                    "peak_memory_gib", "error") if c in df]
    view = df[keep].rename(columns={a: a.rsplit(".", 1)[-1] for a in axes})
    if "error" in view:
        view = view.assign(error=view["error"].map(lambda e: "" if e is None or e != e else str(e)[:60]))
    return view.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def search_report(result) -> str:
    df = result.table
    fit = df[df["fits"]]
    best = df["simulated_s"].min()
    lines = [f"{result.considered:,} candidate plans, {len(df):,} valid, {len(fit):,} fit in memory; "
             f"{int(df['simulated_s'].notna().sum())} simulated; {result.wall_time_s:.1f} s", ""]
    view = Table("rank", "plan", "DP", "micro-batches", "memory", "estimate", "simulated", "MFU", "vs best")
    for i, r in df[df["simulated_s"].notna()].iterrows():
        view.add_row(str(i + 1), r["plan"] + ("  (scenario's)" if r["is_scenario_plan"] else ""), str(r["dp"]),
                     str(r["microbatches"]), f"{r['peak_memory_gib']:.1f} GiB", f"{r['estimate_s']:.3f} s",
                     f"{r['simulated_s']:.3f} s", f"{r['mfu']:.1%}", f"{r['simulated_s'] / best - 1:+.1%}")
    lines.append(as_text(view))
    own = df[df["is_scenario_plan"]]
    if len(own):
        r = own.iloc[0]
        if not r["fits"]:
            lines.append(f"The scenario's plan ({r['plan']}) does not fit: {r['peak_memory_gib']:.1f} GiB per rank.")
        else:
            lines.append(f"The scenario's plan ({r['plan']}) is #{int(r['estimate_rank'])} of {len(fit):,} by estimate.")
    return "\n".join(lines)


def plan_report(df, cfg) -> str:
    view = Table("accelerator", "GPUs", "best plan", "MFU", "ETTR", "days", "GPU-hours", "cost", "energy",
                 "", title=f"{cfg.token_budget:.3g} tokens")
    for r in df.to_dict("records"):
        if r.get("error") or r.get("time_to_train_days") != r.get("time_to_train_days"):
            view.add_row(r["accelerator"], f"{r.get('gpus') or r['num_nodes']:,}", str(r.get("error"))[:60],
                         *[""] * 7)
            continue
        marks = ("Pareto " if r["pareto"] else "") + ("" if r["meets_deadline"] else "late ") + \
            ("" if r["within_budget"] else "over budget")
        view.add_row(r["accelerator"], f"{r['gpus']:,}", r["plan"], f"{r['mfu']:.1%}", f"{r['ettr']:.3f}",
                     f"{r['time_to_train_days']:.1f}", f"{r['gpu_hours'] / 1e6:.2f} M", f"${r['cost_usd'] / 1e6:.1f} M",
                     f"{r['energy_mwh']:,.0f} MWh", marks.strip())
    note = ("days include the expected failure slowdown (ETTR: Daly's first-order expectation with the failure "
            "model's rates)" if cfg.failures else "days are failure-free (plan.failures is false)")
    return as_text(view) + "\n" + note
