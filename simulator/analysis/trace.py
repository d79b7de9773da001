"""Chrome / Perfetto trace of one iteration: ts and dur in microseconds.

pid is the server, tid a stream of a rank (compute, one per communicator, wait, pp, side); pipeline
transfers and side-stream collectives, which may overlap each other, are async events; the busiest links get utilization
counter tracks (each transfer counted at its average rate). Opens in ui.perfetto.dev.
"""

from __future__ import annotations

import json

STREAMS = ("compute", "tp", "cp", "ep", "dp", "edp", "embedding", "wait", "pp", "side")
ASYNC_STREAMS = ("pp", "side")  # transfers that may overlap each other: async events


LINKS_PID = 1_000_000  # a process of its own for link utilization counters


def link_counters(series: dict[str, list[tuple[float, float]]]) -> list[dict]:
    """Counter events ("C") of link utilization, one track per link: [(time s, utilization)]."""
    events = [{"ph": "M", "name": "process_name", "pid": LINKS_PID, "args": {"name": "network links"}}]
    for name, points in series.items():
        events += [{"ph": "C", "name": name, "pid": LINKS_PID, "tid": 0, "ts": t * 1e6,
                    "args": {"utilization": round(u, 6)}} for t, u in points]
    return events


def chrome_trace(records: list[tuple], server_of, multiplicity: dict[int, int],
                 link_series: dict[str, list[tuple[float, float]]] | None = None) -> dict:
    return {"traceEvents": list(trace_events(records, server_of, multiplicity, link_series)),
            "displayTimeUnit": "ms"}


def write_trace(path, records: list[tuple], server_of, multiplicity: dict[int, int],
                link_series: dict[str, list[tuple[float, float]]] | None = None, gzip: bool = False) -> None:
    """The trace as a JSON file (gzip-compressed with `gzip`), written event by event: a
    full-mode run has millions, and memory must not grow with them."""
    import gzip as gz
    with (gz.open(path, "wt", compresslevel=6) if gzip else open(path, "w")) as f:
        f.write('{"displayTimeUnit": "ms", "traceEvents": [')
        for i, event in enumerate(trace_events(records, server_of, multiplicity, link_series)):
            f.write((",\n" if i else "\n") + json.dumps(event))
        f.write("\n]}\n")


def select(records, ranks=None, window=None):
    """The records of `ranks` (all when None) that overlap `window` = (start, end) s (all when None)."""
    keep = set(ranks) if ranks is not None else None
    lo, hi = window if window is not None else (float("-inf"), float("inf"))
    return (r for r in records if (keep is None or r[0] in keep) and r[7] >= lo and r[6] <= hi)


def trace_events(records: list[tuple], server_of, multiplicity: dict[int, int],
                 link_series: dict[str, list[tuple[float, float]]] | None = None):
    """The trace's events, one at a time: link counters, then each op record as a complete
    ("X") or async ("b"/"e") event, with process and thread names before their first use."""
    yield from link_counters(link_series) if link_series else ()
    named: set[tuple[int, int]] = set()
    servers: set[int] = set()
    for i, (rank, stream, name, phase, mb, layer, start, end, nbytes) in enumerate(records):
        pid = server_of(rank)
        tid = rank * len(STREAMS) + (STREAMS.index(stream) if stream in STREAMS else 0)
        if pid not in servers:
            servers.add(pid)
            yield {"ph": "M", "name": "process_name", "pid": pid, "args": {"name": f"server {pid}"}}
        if (pid, tid) not in named:
            named.add((pid, tid))
            label = f"rank {rank}" + (f" (x{multiplicity[rank]})" if multiplicity.get(rank, 1) > 1 else "")
            yield {"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": f"{label} {stream}"}}
            yield {"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": tid, "args": {"sort_index": tid}}
        args = {"phase": phase, "microbatch": mb, "layer": layer}
        if nbytes:
            args["bytes"] = nbytes
        ts, dur = start * 1e6, (end - start) * 1e6
        if stream in ASYNC_STREAMS:
            common = {"name": name, "cat": "p2p", "id": i, "pid": pid, "tid": tid}
            yield {**common, "ph": "b", "ts": ts, "args": args}
            yield {**common, "ph": "e", "ts": ts + dur}
        else:
            yield {"name": name, "cat": stream, "ph": "X", "ts": ts, "dur": dur, "pid": pid, "tid": tid,
                   "args": args}
