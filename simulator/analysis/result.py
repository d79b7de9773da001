"""The prediction of one iteration: headline numbers, breakdown, memory, tables, trace.

MFU = model FLOPs per iteration / (iteration time x GPUs x dense peak FLOP/s of the precision).
Model FLOPs are Megatron's (Narayanan et al. 2021, eq. 3): forward + backward GEMM and attention
FLOPs without recompute, which for a GPT layer stack is 72 B s L h^2 (1 + s/6h + V/12hL).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..config import format_bytes, format_time
from .trace import chrome_trace, select, write_trace

FLOPS_FORMULA = ("model FLOPs = 3 x forward FLOPs of all GEMMs and attention (2 per multiply-add, "
                 "no recompute) = 72 B s L h^2 (1 + s/6h + V/12hL) for GPT-style layers")


def plan_line(par: dict) -> str:
    """'TP 8, PP 8 (x 2 virtual), DP 16, interleaved_1f1b, SP, recompute full, ZeRO 1, 96 micro-batches of 1'."""
    parts = [f"TP {par['tp']}"] + [f"CP {par['cp']}"] * (par["cp"] > 1) + [f"EP {par['ep']}"] * (par["ep"] > 1)
    parts.append(f"PP {par['pp']}" + (f" (x {par['virtual_stages']} virtual)" if par["virtual_stages"] > 1 else ""))
    parts += [f"DP {par['dp']}", par["schedule"],
              ("SP, TP overlap" if par.get("tp_comm_overlap") else "SP") if par["sequence_parallel"] else "no SP",
              f"recompute {par['recompute']}", f"ZeRO {par['zero_stage']}",
              f"{par['microbatches']} micro-batches of {par['micro_batch_size']}"]
    return ", ".join(parts)


def parameters_line(p: dict) -> str:
    """'70.55 B (active per token 70.55 B; largest stage 18.3 B)'."""
    def billions(n: float) -> str:
        return f"{n / 1e9:,.2f} B" if n >= 1e8 else f"{n:,.0f}"
    active = f"; active per token {billions(p['active_per_token'])}" if p["active_per_token"] != p["total"] else ""
    stages = f"; largest stage {billions(max(p['per_stage']))}" if len(p["per_stage"]) > 1 else ""
    mtp = f"; multi-token prediction {billions(p['multi_token_prediction'])}" if p.get("multi_token_prediction") else ""
    return billions(p["total"]) + active + mtp + stages


class Tables(Mapping):
    """Result tables by name; those given as functions are built on first use (the per-op and
    per-transfer tables of a large run cost more than the simulation itself)."""

    def __init__(self, tables: dict[str, "pd.DataFrame | Callable[[], pd.DataFrame]"]):
        self._tables = dict(tables)

    def __getitem__(self, name: str) -> pd.DataFrame:
        t = self._tables[name]
        if callable(t):
            t = self._tables[name] = t()
        return t

    def __iter__(self):
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)


@dataclass
class Result:
    """What `simulate` returns: `summary` (a JSON-ready dict) and `tables` (DataFrames)."""

    summary: dict
    tables: Mapping[str, pd.DataFrame]
    _trace: dict | None = field(default=None, repr=False)
    _trace_args: tuple | None = field(default=None, repr=False)

    @property
    def iteration_time(self) -> float:
        return self.summary["iteration_time_s"]

    def trace(self) -> dict:
        """The Chrome/Perfetto trace as a dict (built on first use)."""
        if self._trace is None:
            records, server_of, multiplicity, link_series = self._trace_args
            self._trace = chrome_trace(records(), server_of, multiplicity, link_series())
        return self._trace

    def to_dir(self, out: str | Path, summary: bool = True, tables: bool = True, trace: bool = True,
               trace_gzip: bool = False, trace_ranks=None, trace_window=None, report: bool = True) -> list[Path]:
        """Write summary.json, the tables as Parquet, the trace (trace.json, or trace.json.gz, of
        the ranks and time window asked for) and report.html; return the paths."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        if summary:
            p = out / "summary.json"
            p.write_text(json.dumps(self.summary, indent=2))
            written.append(p)
        if tables:
            for name, df in self.tables.items():
                p = out / f"{name}.parquet"
                df.to_parquet(p, index=False)
                written.append(p)
        if trace:
            p = out / ("trace.json.gz" if trace_gzip else "trace.json")
            records, server_of, multiplicity, link_series = self._trace_args
            write_trace(p, select(records(), trace_ranks, trace_window), server_of, multiplicity, link_series(),
                        gzip=trace_gzip)
            written.append(p)
        if report:
            from .html import html_report
            p = out / "report.html"
            p.write_text(html_report(self), encoding="utf-8")
            written.append(p)
        return written

    def report(self) -> str:
        """A few readable lines: the prediction, where the time goes, memory."""
        s = self.summary
        par = s["parallelism"]
        lines = [
            f"{s['scenario']}: {s['model']} on {par['world']} x {s['accelerator']}",
            f"  plan             {plan_line(par)}",
            f"  parameters       {parameters_line(s['parameters'])}",
            f"  iteration time   {format_time(s['iteration_time_s'])}",
            f"  throughput       {s['tokens_per_s']:,.0f} tokens/s  ({s['samples_per_s']:,.2f} samples/s)",
            f"  MFU              {100 * s['mfu']:.1f} %  ({s['tflops_per_gpu']:.1f} TFLOP/s per GPU)",
            f"  breakdown (stage {s['critical_stage']}):",
        ]
        t = s["iteration_time_s"]
        for k, v in s["breakdown_s"].items():
            if v > 0:
                lines.append(f"    {k:<18}{format_time(v):>12}  {100 * v / t:5.1f} %")
        if s.get("fp8"):
            f = s["fp8"]
            lines.append(f"  fp8              GEMMs {format_time(f['gemm_time_saved_s'])} faster than bf16, casts add "
                         f"{format_time(f['cast_time_added_s'])} (stage {s['critical_stage']}, compute alone)")
        m = s["memory"]
        lines.append(f"  memory per rank  {format_bytes(m['peak_bytes'])} of {format_bytes(m['capacity_bytes'])}"
                     f" (stage {m['peak_stage']}: " +
                     ", ".join(f"{k} {format_bytes(v)}" for k, v in m["stages"][m["peak_stage"]].items()
                               if k != "total") + ")")
        sim = s["simulation"]
        lines.append(f"  simulated in {sim['wall_time_s']:.2f} s ({sim['mode']} mode, "
                     f"{sim['events']:,} events)")
        lines += [f"  warning: {w}" for w in s.get("warnings", ())]
        return "\n".join(lines)
