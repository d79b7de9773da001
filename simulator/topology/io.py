"""Topology files: NetworkX node-link JSON with explicit edges="edges", checked on load."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import networkx as nx
import yaml

from ..config import ConfigError, parse_quantity
from ..config.loader import regular_file
from ..config.units import finite_number
from ..config.errors import one_line

MAX_TOPOLOGY_BYTES = 512 * 2**20  # a 131,072-GPU fabric as node-link JSON is about 100 MiB
MAX_BANDWIDTH = 1e15  # bytes/s (8 Pb/s): far above any link built; larger is a unit mistake

NODE_KINDS = ("gpu", "nvswitch", "nic", "switch")
LINK_KINDS = ("nvlink", "pcie", "infiniband")


def save_topology(g: nx.Graph, path: str | Path) -> None:
    data = nx.node_link_data(g, edges="edges")
    Path(path).write_text(json.dumps(data, indent=1))


def _index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_topology(g: nx.Graph, where: str) -> nx.Graph:
    """An undirected simple graph; every node has a kind, every edge a positive bandwidth, a known
    kind and, if given, a non-negative latency; GPUs know their server and index."""
    if g.is_directed() or g.is_multigraph():
        raise ConfigError(where, "directed" if g.is_directed() else "multigraph",
                          "an undirected graph with at most one edge per pair (each edge is a full-duplex link)")
    for n, d in g.nodes(data=True):
        if d.get("kind") not in NODE_KINDS:
            raise ConfigError(f"{where}: node {n!r}.kind", d.get("kind"), ", ".join(NODE_KINDS))
        for key in ("node", "local"):
            if (key in d or d["kind"] == "gpu") and not _index(d.get(key)):
                raise ConfigError(f"{where}: node {n!r}.{key}", d.get(key),
                                  "a non-negative integer ('node': the server, 'local': the index in it; "
                                  "required on GPUs)")
        if "tier" in d and not _index(d["tier"]):
            raise ConfigError(f"{where}: node {n!r}.tier", d["tier"],
                              "a non-negative integer (0 for GPUs, higher for the switches above them)")
    for u, v, d in g.edges(data=True):
        if u == v:
            raise ConfigError(f"{where}: edge ({u!r}, {v!r})", reason="a link from a node to itself",
                              accepted="links between two different nodes")
        bw = d.get("bandwidth")
        field = f"{where}: edge ({u!r}, {v!r}).bandwidth"
        if isinstance(bw, str):  # a rate with its unit, as in scenarios
            bw = d["bandwidth"] = parse_quantity(bw, "bandwidth", field)
        number = finite_number(bw)
        if number is None or not 0 < number <= MAX_BANDWIDTH:
            raise ConfigError(field, bw, "a positive number of bytes/s up to 1e15 (8 Pb/s), "
                                         "or a rate such as '400 Gb/s'")
        d["bandwidth"] = number
        if d.get("kind") not in LINK_KINDS:
            raise ConfigError(f"{where}: edge ({u!r}, {v!r}).kind", d.get("kind"), ", ".join(LINK_KINDS))
        if "latency" in d:
            lat = d["latency"]
            field = f"{where}: edge ({u!r}, {v!r}).latency"
            if isinstance(lat, str):
                lat = d["latency"] = parse_quantity(lat, "time", field)
            number = finite_number(lat)
            if number is None or number < 0:
                raise ConfigError(field, lat, "a non-negative number of seconds, or a time such as '500 ns'")
            d["latency"] = number
    if not any(d["kind"] == "gpu" for _, d in g.nodes(data=True)):
        raise ConfigError(where, reason="no GPU nodes", accepted="a graph with nodes of kind 'gpu'")
    return g


def load_topology(path: str | Path) -> nx.Graph:
    """A topology file by its suffix: .json (node-link), .graphml, or .yaml/.yml (ASTRA-sim's
    analytical network description)."""
    path = Path(path)
    where = f"topology file {path}"
    regular_file(path, where, "an existing topology file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ConfigError(where, str(path), reason=f"cannot read the file ({exc.strerror})",
                          accepted="a readable topology file") from None
    if size > MAX_TOPOLOGY_BYTES:
        raise ConfigError(where, f"{size:,} bytes", f"a file of at most {MAX_TOPOLOGY_BYTES // 2**20} MiB")
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            g = nx.node_link_graph(json.loads(path.read_text()), directed=False, multigraph=False, edges="edges")
        elif suffix == ".graphml":
            g = nx.read_graphml(path)
        elif suffix in (".yaml", ".yml"):
            from .astrasim import astra_sim_network
            g = astra_sim_network(path)
        else:
            raise ConfigError(where, suffix, ".json (node-link), .graphml, .yaml (ASTRA-sim network)")
    except ConfigError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError, OSError,
            nx.NetworkXError, ElementTree.ParseError, yaml.YAMLError) as exc:  # every way a malformed file can fail to parse
        raise ConfigError(where, reason=f"cannot read a graph ({type(exc).__name__}: {one_line(str(exc), 200)})",
                          accepted="NetworkX node-link JSON with edges='edges' (see `clustersim topology --export`), "
                                   "GraphML, or an ASTRA-sim network YAML") from None
    return check_topology(g, where)
