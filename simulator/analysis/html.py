"""report.html: one self-contained file (inline CSS and SVG, no script, nothing fetched) that a
browser opens anywhere: the headline numbers, the plan, per-stage breakdown bars, memory per stage
against the HBM, the busiest links, a compact timeline of one iteration per stage, the warnings."""

from __future__ import annotations

import html

import pandas as pd

from ..config import format_bytes, format_time
from .result import parameters_line, plan_line

COLOURS = {"compute": "#4e79a7", "recompute": "#a0cbe8", "tp_comm": "#f28e2b", "cp_comm": "#ffbe7d",
           "ep_comm": "#59a14f", "pp_comm_exposed": "#8cd17d", "pipeline_bubble": "#bab0ac", "dp_comm": "#e15759",
           "optimizer": "#b07aa1", "forward": "#4e79a7", "backward": "#f28e2b", "weight_gradient": "#ffbe7d",
           "p2p": "#8cd17d", "communication": "#e15759"}
WIDTH = 860


def html_report(result) -> str:
    s, tables = result.summary, result.tables
    e = html.escape
    t = s["iteration_time_s"]
    head = (f"<h1>{e(s['scenario'])}</h1><p class=sub>{e(str(s['model']))} on {s['parallelism']['world']:,} x "
            f"{e(s['accelerator'])}</p>")
    cards = "".join(f"<div class=card><div class=v>{v}</div><div class=k>{k}</div></div>" for k, v in (
        ("iteration time", format_time(t)), ("tokens / s", f"{s['tokens_per_s']:,.0f}"),
        ("MFU", f"{100 * s['mfu']:.1f} %"), ("TFLOP/s per GPU", f"{s['tflops_per_gpu']:.1f}"),
        ("peak memory per GPU", format_bytes(s["memory"]["peak_bytes"]))))
    facts = (f"<p><b>Plan</b>: {e(plan_line(s['parallelism']))}</p>"
             f"<p><b>Parameters</b>: {e(parameters_line(s['parameters']))}</p>")
    warnings = "".join(f"<li>{e(w)}</li>" for w in s.get("warnings", ()))
    sections = [
        head, f"<div class=cards>{cards}</div>", facts,
        f"<h2>Warnings</h2><ul class=warn>{warnings}</ul>" if warnings else "",
        "<h2>Where the time goes, per pipeline stage</h2>", _breakdown_svg(tables["stages"], t),
        "<h2>Memory per GPU, per stage</h2>", _memory_svg(s["memory"]),
        "<h2>One iteration, per stage</h2>", _timeline_svg(tables["ops"], t),
        "<h2>Busiest links</h2>", _links_table(tables["links"]),
        f"<p class=sub>clustersim {e(s['clustersim_version'])}; {s['simulation']['mode']} mode, simulated in "
        f"{s['simulation']['wall_time_s']:.2f} s.</p>",
    ]
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            f"<title>{e(s['scenario'])}: {format_time(t)} per iteration</title><style>{CSS}</style></head>"
            f"<body>{''.join(sections)}</body></html>\n")


CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:920px;color:#222}
h1{margin-bottom:0}.sub{color:#666}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:1em 0}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px}.v{font-size:1.4em;font-weight:600}
.k{color:#666;font-size:.85em}table{border-collapse:collapse;font-size:.85em}td,th{border-bottom:1px solid #eee;
padding:3px 8px;text-align:right}th{text-align:left}.warn li{color:#8a5300}svg text{font-size:11px}"""


def _legend(keys: list[str], y: float) -> str:
    out, x = [], 0.0
    for k in keys:
        out.append(f"<rect x={x} y={y} width=10 height=10 fill='{COLOURS.get(k, '#999')}'/>"
                   f"<text x={x + 14} y={y + 9}>{html.escape(k)}</text>")
        x += 24 + 7 * len(k)
    return "".join(out)


def _breakdown_svg(stages: pd.DataFrame, t: float) -> str:
    keys = [k for k in COLOURS if k in stages and k.endswith(("_comm", "compute", "recompute", "exposed", "bubble",
                                                              "optimizer")) and stages[k].sum() > 0]
    row, left = 22, 70
    height = row * len(stages) + 40
    scale = (WIDTH - left - 10) / t
    bars = []
    for i, r in enumerate(stages.itertuples()):
        x, y = left, i * row
        bars.append(f"<text x=0 y={y + 14}>stage {r.stage}</text>")
        for k in keys:
            w = getattr(r, k) * scale
            if w > 0:
                bars.append(f"<rect x={x:.1f} y={y} width={w:.1f} height={row - 6} fill='{COLOURS[k]}'>"
                            f"<title>{k}: {format_time(getattr(r, k))}</title></rect>")
                x += w
    return (f"<svg width={WIDTH} height={height} role=img aria-label='breakdown per stage'>{''.join(bars)}"
            f"{_legend(keys, height - 14)}</svg>")


def _memory_svg(memory: dict) -> str:
    stages, capacity = memory["stages"], memory["capacity_bytes"]
    keys = [k for k in stages[0] if k != "total"]
    colours = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948"]
    row, left = 22, 70
    top = max(capacity, max(st["total"] for st in stages))
    scale = (WIDTH - left - 110) / top
    bars = []
    for i, st in enumerate(stages):
        x, y = left, i * row
        bars.append(f"<text x=0 y={y + 14}>stage {i}</text>")
        for k, c in zip(keys, colours):
            w = st[k] * scale
            bars.append(f"<rect x={x:.1f} y={y} width={w:.1f} height={row - 6} fill='{c}'>"
                        f"<title>{k}: {format_bytes(st[k])}</title></rect>")
            x += w
        bars.append(f"<text x={x + 4:.1f} y={y + 14}>{format_bytes(st['total'])}</text>")
    cap = left + capacity * scale
    height = row * len(stages) + 40
    legend = "".join(f"<rect x={j * 150} y={height - 14} width=10 height=10 fill='{c}'/>"
                     f"<text x={j * 150 + 14} y={height - 5}>{html.escape(k)}</text>" for j, (k, c) in enumerate(zip(keys, colours)))
    return (f"<svg width={WIDTH} height={height} role=img aria-label='memory per stage'>{''.join(bars)}"
            f"<line x1={cap:.1f} x2={cap:.1f} y1=0 y2={row * len(stages)} stroke='#c00' stroke-dasharray='4 3'/>"
            f"<text x={cap + 3:.1f} y={row * len(stages) + 12} fill='#c00'>HBM {format_bytes(capacity)}</text>"
            f"{legend}</svg>")


def _timeline_svg(ops: pd.DataFrame, t: float) -> str:
    """Each stage's first simulated rank: per pixel, what it mostly did (compute by phase, blocking
    communication, pipeline transfers), idle pixels left blank."""
    if ops.empty:
        return "<p>No op records.</p>"
    firsts = ops.groupby(ops["rank"]).head(1)["rank"].tolist()
    row, left = 22, 70
    pixels = WIDTH - left - 10
    bars = []
    for i, rank in enumerate(firsts):
        y = i * row
        bars.append(f"<text x=0 y={y + 14}>rank {rank}</text>")
        mine = ops[(ops["rank"] == rank) & (ops["stream"] != "wait")]
        kinds = [(p if st == "compute" else ("p2p" if st in ("pp", "side") else "communication"))
                 for st, p in zip(mine["stream"], mine["phase"])]
        for first, last, kind in _pixels(zip(mine["start"], mine["end"], kinds), t, pixels):
            bars.append(f"<rect x={left + first} y={y} width={last - first + 1} height={row - 6} "
                        f"fill='{COLOURS.get(kind, '#999')}'/>")
    height = row * len(firsts) + 40
    keys = ["forward", "backward", "recompute", "optimizer", "communication", "p2p"]
    return (f"<svg width={WIDTH} height={height} role=img aria-label='timeline'>{''.join(bars)}"
            f"{_legend(keys, height - 14)}</svg>")


def _pixels(spans, t: float, pixels: int) -> list[tuple[int, int, str]]:
    """(first pixel, last pixel, kind) runs: each pixel takes the kind that fills most of it, if
    anything fills at least half of it (a pixel is all a reader sees of a millisecond op)."""
    per = t / pixels
    fill: list[dict[str, float]] = [{} for _ in range(pixels)]
    for start, end, kind in spans:
        a, b = int(start / per), min(int(end / per), pixels - 1)
        for px in range(max(a, 0), b + 1):
            overlap = min(end, (px + 1) * per) - max(start, px * per)
            if overlap > 0:
                fill[px][kind] = fill[px].get(kind, 0.0) + overlap
    runs: list[list] = []
    for px, kinds in enumerate(fill):
        if not kinds or sum(kinds.values()) < per / 2:
            continue
        kind = max(kinds, key=kinds.get)
        if runs and runs[-1][2] == kind and runs[-1][1] == px - 1:
            runs[-1][1] = px
        else:
            runs.append([px, px, kind])
    return [tuple(r) for r in runs]


def _links_table(links: pd.DataFrame, per_kind: int = 3) -> str:
    """The busiest links of each kind (NVLink, PCIe, InfiniBand, ...), busiest first."""
    links = links.groupby("kind", sort=False).head(per_kind)
    rows = "".join(f"<tr><th>{html.escape(str(r.src))} &rarr; {html.escape(str(r.dst))}</th><td>{html.escape(str(r.kind))}"
                   f"</td><td>{r.bandwidth / 1e9:,.1f} GB/s</td><td>{format_bytes(r.bytes)}</td>"
                   f"<td>{100 * r.utilization:.1f} %</td></tr>" for r in links.itertuples())
    return ("<table><tr><th>link</th><td>kind</td><td>bandwidth</td><td>bytes</td><td>utilization</td></tr>"
            f"{rows}</table>")
