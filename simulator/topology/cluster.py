"""A Cluster: the topology as indexed directed links, plus rank placement and routes.

Each undirected edge becomes two directed links of the edge's bandwidth. A link's usable
capacity is its bandwidth times the protocol efficiency of its kind (calibration.yaml), and each
traversed link adds its own `latency` if the edge has one, else the hop latency of its kind. Rank r runs on the r-th GPU in (server, index)
order, so consecutive ranks fill a server first (Megatron's default placement).

A regular fat-tree or three-tier Clos from the builders is held as arithmetic (tree.Tree: the
same links and routes, without a graph); every other topology as its NetworkX graph, routed by
routing.Router.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import networkx as nx

from ..config import ConfigError, SystemConfig
from .builders import dragonfly, torus
from .io import LINK_KINDS, load_topology
from .routing import Router
from .tree import LinkNames, Tree, TreeRouter


@dataclass
class Cluster:
    gpus: list                         # rank -> its GPU as the router names it (node name, or position in a Tree)
    links: Sequence[tuple[str, str]]   # link id -> (from, to) node names
    capacity: list[float]              # usable bytes/s
    bandwidth: list[float]             # line rate bytes/s
    latency: list[float]               # seconds per traversal
    kind: list[str]
    router: Router | TreeRouter = field(repr=False)
    _routes: dict = field(default_factory=dict, repr=False)
    _servers: list = field(default_factory=list, repr=False)   # rank -> server index, filled on first use

    @property
    def link_id(self) -> dict[tuple[str, str], int]:
        """(from, to) node names -> link id."""
        return self.router.link_id

    def route(self, src_rank: int, dst_rank: int) -> tuple[int, ...]:
        """Directed link ids from one rank's GPU to another's (cached)."""
        key = (src_rank, dst_rank)
        r = self._routes.get(key)
        if r is None:
            r = self._routes[key] = self.router.links(self.gpus[src_rank], self.gpus[dst_rank])
        return r

    def view(self, first_gpu: int, count: int) -> "Cluster":
        """The same network with ranks 0..count-1 placed from GPU `first_gpu` on (another job's share)."""
        if first_gpu + count > len(self.gpus):
            raise ConfigError("jobs", first_gpu + count, f"at most {len(self.gpus)} GPUs in the shared topology")
        return dataclasses.replace(self, gpus=self.gpus[first_gpu:first_gpu + count], _routes={}, _servers=[])

    def path_latency(self, links: tuple[int, ...]) -> float:
        return sum(self.latency[i] for i in links)

    def node_of(self, rank: int) -> int:
        if not self._servers:
            self._servers.extend(map(self.router.server, self.gpus))
        return self._servers[rank]

    def in_switch(self, group: tuple[int, ...]) -> bool:
        """Whether all ranks hang off one switch that reduces in the network (NVLS)."""
        return self.router.in_switch([self.gpus[r] for r in group])


def topology_tree(system: SystemConfig, accelerator) -> Tree | None:
    """The scenario's fat-tree or three-tier Clos by its parameters, with the accelerator's link
    bandwidths (and its switch's in-network reduction) as defaults; None for other topologies."""
    t = system.topology
    if t.file or t.builder in ("torus", "dragonfly"):
        return None
    tree = Tree(servers=system.num_nodes, gpus=system.gpus_per_node, nics=t.nics_per_node or system.gpus_per_node,
                nic_bandwidth=t.nic_bandwidth, scale_up_bandwidth=_scale_up(system, accelerator),
                host_link_bandwidth=_host_link(system, accelerator), nodes_per_leaf=t.nodes_per_leaf,
                spines=t.spines, oversubscription=t.oversubscription, nvls=accelerator.in_switch_reduction)
    if t.builder == "three_tier_clos":
        tree = dataclasses.replace(tree, nodes_per_pod=t.nodes_per_pod, cores=t.core_switches,
                                   core_oversubscription=t.core_oversubscription, rail_optimized=t.rail_optimized)
    return tree


def _scale_up(system: SystemConfig, accelerator) -> float:
    t = system.topology
    return accelerator.scale_up_bandwidth if t.scale_up_bandwidth is None else t.scale_up_bandwidth


def _host_link(system: SystemConfig, accelerator) -> float:
    t = system.topology
    return accelerator.host_link_bandwidth if t.host_link_bandwidth is None else t.host_link_bandwidth


def topology_graph(system: SystemConfig, accelerator) -> nx.Graph:
    """The scenario's topology as a graph: loaded from its file, or built from its parameters
    with the accelerator's link bandwidths (and its switch's in-network reduction) as defaults."""
    t = system.topology
    if t.file:
        return load_topology(t.file)
    tree = topology_tree(system, accelerator)
    if tree is not None:
        return tree.graph()
    up, host = _scale_up(system, accelerator), _host_link(system, accelerator)
    if t.builder == "torus":
        bw = t.torus_link_bandwidth or up / (2 * len(t.torus_dims))
        return torus(t.torus_dims, bw, system.gpus_per_node)
    per_group = t.routers_per_group * t.nodes_per_router
    return dragonfly(groups=-(-system.num_nodes // per_group), routers_per_group=t.routers_per_group,
                     nodes_per_router=t.nodes_per_router, gpus_per_node=system.gpus_per_node,
                     nic_bandwidth=t.nic_bandwidth,
                     local_bandwidth=t.nic_bandwidth * t.nodes_per_router * system.gpus_per_node,
                     global_bandwidth=t.global_bandwidth or t.nic_bandwidth,
                     scale_up_bandwidth=up, host_link_bandwidth=host, nvls=accelerator.in_switch_reduction)


def system_cluster(system: SystemConfig, accelerator, world: int, protocol_efficiency: dict[str, float],
                   hop_latency: dict[str, float], where: str = "scenario.system") -> Cluster:
    """The cluster of a scenario's system: a regular tree as arithmetic, anything else as its graph."""
    tree = topology_tree(system, accelerator)
    if tree is None or not tree.regular:
        return build_cluster(topology_graph(system, accelerator), world, protocol_efficiency, hop_latency, where)
    return tree_cluster(tree, world, protocol_efficiency, hop_latency, where)


def tree_cluster(tree: Tree, world: int, protocol_efficiency: dict[str, float], hop_latency: dict[str, float],
                 where: str = "scenario.system") -> Cluster:
    """The cluster of a regular Tree (tree.regular), without its graph."""
    _enough_gpus(tree.servers * tree.gpus, world, where)
    bandwidth, kind = tree.link_table()
    capacity = [b * protocol_efficiency[k] for b, k in zip(bandwidth, kind)]
    latency = [hop_latency[k] for k in kind]
    return Cluster(list(range(world)), LinkNames(tree), capacity, bandwidth, latency, kind, TreeRouter(tree))


def _enough_gpus(have: int, world: int, where: str) -> None:
    if have < world:
        raise ConfigError(f"{where}.num_nodes", world,
                          reason=f"the job needs {world} GPUs but the topology has {have}",
                          accepted=f"at most {have} GPUs (num_nodes x gpus_per_node)")


def edges(g: nx.Graph):
    """(u, v, data) of each edge once, as g.edges(data=True) gives them (order and orientation),
    read from NetworkX's own dicts: its views cost more than the work done on a large graph."""
    seen = set()
    for u, nbrs in g._adj.items():
        for v, d in nbrs.items():
            if v not in seen:
                yield u, v, d
        seen.add(u)


def build_cluster(g: nx.Graph, world: int, protocol_efficiency: dict[str, float],
                  hop_latency: dict[str, float], where: str = "scenario.system") -> Cluster:
    attrs = g._node  # NetworkX's own node dict: its views cost more than this whole function
    gpus = sorted((n for n, d in attrs.items() if d["kind"] == "gpu"),
                  key=lambda n: (attrs[n]["node"], attrs[n]["local"]))
    _enough_gpus(len(gpus), world, where)
    # each edge becomes two directed links, (u, v) then (v, u)
    links, bandwidth, kind, latency = [], [], [], []
    for u, v, d in edges(g):
        k = d["kind"]
        if k not in LINK_KINDS:
            raise ConfigError(f"topology edge ({u}, {v}).kind", k, ", ".join(LINK_KINDS))
        bw = float(d["bandwidth"])
        lat = float(d["latency"]) if "latency" in d else hop_latency[k]
        links += ((u, v), (v, u))
        bandwidth += (bw, bw)
        kind += (k, k)
        latency += (lat, lat)
    capacity = [b * protocol_efficiency[k] for b, k in zip(bandwidth, kind)]
    return Cluster(gpus[:world], links, capacity, bandwidth, latency, kind, Router(g, links))
