"""Import of ASTRA-sim's analytical network description (a YAML of per-dimension lists).

    topology: [ Ring, FullyConnected, Switch ]   # one building block per dimension
    npus_count: [ 8, 4, 16 ]                     # NPUs along each dimension
    bandwidth: [ 200.0, 50.0, 25.0 ]             # GB/s per link (1e9 bytes/s)
    latency: [ 500.0, 500.0, 2000.0 ]            # ns per link

NPU i has mixed-radix coordinates (dimension 0 fastest). Along each dimension, every line of NPUs
that differ only in that coordinate is joined by the block: a ring (neighbours, wrapping), a full
mesh, or a switch. Dimension 0 is the server (NVLink-class links), the others InfiniBand-class;
each edge keeps ASTRA-sim's own latency. NPUs forward traffic along rings and meshes.
"""

from __future__ import annotations

import math
from itertools import product
from pathlib import Path

import networkx as nx
import yaml

from ..config import ConfigError
from ..config.units import finite_number
from .io import MAX_BANDWIDTH

BLOCKS = ("Ring", "FullyConnected", "Switch")


MAX_LATENCY_NS = 1e9  # one second per hop: beyond it a unit mistake, not a network
MAX_NPUS = 1_048_576  # a file's network is built node by node: beyond this it would not finish
MAX_LINKS = 2_000_000  # nor beyond this many links (a full mesh grows with the square of its size)


def astra_sim_network(path: Path) -> nx.Graph:
    where = f"topology file {path}"
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ConfigError(where, type(data).__name__, "a mapping with topology, npus_count, bandwidth, latency")
    lists = {}
    for key in ("topology", "npus_count", "bandwidth", "latency"):
        value = data.get(key)
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{where}: {key}", value, "a non-empty list, one entry per dimension")
        lists[key] = value
    dims = len(lists["topology"])
    if any(len(v) != dims for v in lists.values()):
        raise ConfigError(where, {k: len(v) for k, v in lists.items()}, "lists of equal length")
    for i, block in enumerate(lists["topology"]):
        if block not in BLOCKS:
            raise ConfigError(f"{where}: topology[{i}]", block, ", ".join(BLOCKS))
    sizes = lists["npus_count"]
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes):
        raise ConfigError(f"{where}: npus_count", sizes, "positive integers")
    if math.prod(sizes) > MAX_NPUS:
        raise ConfigError(f"{where}: npus_count", sizes, f"at most {MAX_NPUS:,} NPUs in all (their product)")
    total = math.prod(sizes)
    per_line = {"Ring": lambda n: n if n > 2 else 1, "FullyConnected": lambda n: n * (n - 1) // 2, "Switch": lambda n: n}
    links = sum(total // n * per_line[block](n) for block, n in zip(lists["topology"], sizes) if n > 1)
    if links > MAX_LINKS:
        raise ConfigError(f"{where}: npus_count", sizes, f"a network of at most {MAX_LINKS:,} links (this one has "
                                                        f"{links:,}: a FullyConnected dimension has n(n-1)/2 per line)")
    for key, unit, top in (("bandwidth", "GB/s", MAX_BANDWIDTH / 1e9), ("latency", "ns", MAX_LATENCY_NS)):
        numbers = [finite_number(v) for v in lists[key]]
        if not all(v is not None and 0 < v <= top for v in numbers):
            raise ConfigError(f"{where}: {key}", lists[key], f"positive numbers of {unit}, at most {top:g}")
        lists[key] = numbers

    g = nx.Graph(name=f"ASTRA-sim network {path.name}", builder="astra-sim")
    coords = list(product(*[range(n) for n in reversed(sizes)]))  # last coordinate slowest
    npu = {tuple(reversed(c)): i for i, c in enumerate(coords)}
    for c, i in npu.items():
        g.add_node(f"npu{i}", kind="gpu", node=i // sizes[0], local=i % sizes[0], forwards=True)
    for d, (block, n, bw, lat) in enumerate(zip(lists["topology"], sizes, lists["bandwidth"], lists["latency"])):
        if n < 2:
            continue
        attrs = {"bandwidth": float(bw) * 1e9, "latency": float(lat) * 1e-9,
                 "kind": "nvlink" if d == 0 else "infiniband"}
        lines = {}
        for c, i in npu.items():
            rest = c[:d] + c[d + 1:]
            lines.setdefault(rest, []).append((c[d], i))
        for rest, members in lines.items():
            ids = [f"npu{i}" for _, i in sorted(members)]
            if block == "Ring":
                pairs = [(ids[k], ids[(k + 1) % n]) for k in range(n if n > 2 else 1)]
            elif block == "FullyConnected":
                pairs = [(a, b) for k, a in enumerate(ids) for b in ids[k + 1:]]
            else:
                sw = f"dim{d}/switch{'.'.join(map(str, rest))}"
                g.add_node(sw, kind="switch")
                pairs = [(a, sw) for a in ids]
            for a, b in pairs:
                g.add_edge(a, b, **attrs)
    return g
