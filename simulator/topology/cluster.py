"""A Cluster: the topology graph as indexed directed links, plus rank placement and routes.

Each undirected edge becomes two directed links of the edge's bandwidth. A link's usable
capacity is its bandwidth times the protocol efficiency of its kind (calibration.yaml), and each
traversed link adds its own `latency` if the edge has one, else the hop latency of its kind. Rank r runs on the r-th GPU in (server, index)
order, so consecutive ranks fill a server first (Megatron's default placement).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import networkx as nx

from ..config import ConfigError, SystemConfig
from .builders import dragonfly, rail_optimized_fat_tree, three_tier_clos, torus
from .io import LINK_KINDS, load_topology
from .routing import Crossing, Router


@dataclass
class Cluster:
    graph: nx.Graph
    gpus: list[str]                    # rank -> GPU node name
    links: list[tuple[str, str]]       # link id -> (from, to)
    capacity: list[float]              # usable bytes/s
    bandwidth: list[float]             # line rate bytes/s
    latency: list[float]               # seconds per traversal
    kind: list[str]
    link_id: dict[tuple[str, str], int] = field(repr=False)
    router: Router = field(repr=False)
    _routes: dict = field(default_factory=dict, repr=False)
    _servers: list = field(default_factory=list, repr=False)   # rank -> server index, filled on first use

    def route(self, src_rank: int, dst_rank: int) -> tuple[int, ...]:
        """Directed link ids from one rank's GPU to another's (cached)."""
        key = (src_rank, dst_rank)
        r = self._routes.get(key)
        if r is None:
            r = self._routes[key] = self.router.links(self.gpus[src_rank], self.gpus[dst_rank])
        return r

    def crossing(self, links: list[int]) -> "RankCrossing":
        """Which groups and pairs of ranks may route over any of `links` (ids), without routing them."""
        return RankCrossing(self.router.crossing([self.links[i] for i in links]), self.gpus)

    def view(self, first_gpu: int, count: int) -> "Cluster":
        """The same network with ranks 0..count-1 placed from GPU `first_gpu` on (another job's share)."""
        if first_gpu + count > len(self.gpus):
            raise ConfigError("jobs", first_gpu + count, f"at most {len(self.gpus)} GPUs in the shared topology")
        return dataclasses.replace(self, gpus=self.gpus[first_gpu:first_gpu + count], _routes={}, _servers=[])

    def path_latency(self, links: tuple[int, ...]) -> float:
        return sum(self.latency[i] for i in links)

    def node_of(self, rank: int) -> int:
        if not self._servers:
            nodes = self.graph.nodes
            self._servers.extend(nodes[g]["node"] for g in self.gpus)
        return self._servers[rank]

    def in_switch(self, group: tuple[int, ...]) -> bool:
        """Whether all ranks hang off one switch that reduces in the network (NVLS)."""
        g = self.graph
        common = None
        for r in group:
            sw = {n for n in g.neighbors(self.gpus[r]) if g.nodes[n].get("nvls")}
            common = sw if common is None else common & sw
            if not common:
                return False
        return bool(common)


@dataclass
class RankCrossing:
    """topology.Crossing for ranks."""
    test: Crossing
    gpus: list[str]

    def group(self, ranks) -> bool:
        return self.test.group([self.gpus[r] for r in ranks])

    def pair(self, src: int, dst: int) -> bool:
        return self.test.path(self.gpus[src], self.gpus[dst])


def topology_graph(system: SystemConfig, accelerator) -> nx.Graph:
    """The scenario's topology: loaded from its file, or built from its parameters with the
    accelerator's link bandwidths (and its switch's in-network reduction) as defaults."""
    t = system.topology
    if t.file:
        return load_topology(t.file)
    up = accelerator.scale_up_bandwidth if t.scale_up_bandwidth is None else t.scale_up_bandwidth
    host = accelerator.host_link_bandwidth if t.host_link_bandwidth is None else t.host_link_bandwidth
    nvls = accelerator.in_switch_reduction
    if t.builder == "torus":
        bw = t.torus_link_bandwidth or up / (2 * len(t.torus_dims))
        return torus(t.torus_dims, bw, system.gpus_per_node)
    if t.builder == "dragonfly":
        per_group = t.routers_per_group * t.nodes_per_router
        return dragonfly(groups=-(-system.num_nodes // per_group), routers_per_group=t.routers_per_group,
                         nodes_per_router=t.nodes_per_router, gpus_per_node=system.gpus_per_node,
                         nic_bandwidth=t.nic_bandwidth,
                         local_bandwidth=t.nic_bandwidth * t.nodes_per_router * system.gpus_per_node,
                         global_bandwidth=t.global_bandwidth or t.nic_bandwidth,
                         scale_up_bandwidth=up, host_link_bandwidth=host, nvls=nvls)
    common = dict(num_nodes=system.num_nodes, gpus_per_node=system.gpus_per_node,
                  nics_per_node=t.nics_per_node or system.gpus_per_node, nic_bandwidth=t.nic_bandwidth,
                  scale_up_bandwidth=up, host_link_bandwidth=host, nodes_per_leaf=t.nodes_per_leaf,
                  spines=t.spines, oversubscription=t.oversubscription, nvls=nvls)
    if t.builder == "three_tier_clos":
        return three_tier_clos(**common, nodes_per_pod=t.nodes_per_pod, cores=t.core_switches,
                               core_oversubscription=t.core_oversubscription, rail_optimized=t.rail_optimized)
    return rail_optimized_fat_tree(**common)


def build_cluster(g: nx.Graph, world: int, protocol_efficiency: dict[str, float],
                  hop_latency: dict[str, float], where: str = "scenario.system") -> Cluster:
    attrs = g._node  # NetworkX's own node dict: its views cost more than this whole function
    gpus = sorted((n for n, d in attrs.items() if d["kind"] == "gpu"),
                  key=lambda n: (attrs[n]["node"], attrs[n]["local"]))
    if len(gpus) < world:
        raise ConfigError(f"{where}.num_nodes", world,
                          reason=f"the job needs {world} GPUs but the topology has {len(gpus)}",
                          accepted=f"at most {len(gpus)} GPUs (num_nodes x gpus_per_node)")
    # each edge once, in g.edges() order (one pass over NetworkX's own dicts, without its views'
    # overhead), becomes two directed links, (u, v) then (v, u)
    links, bandwidth, kind, latency, seen = [], [], [], [], set()
    for u, nbrs in g._adj.items():
        for v, d in nbrs.items():
            if v in seen:
                continue
            k = d["kind"]
            if k not in LINK_KINDS:
                raise ConfigError(f"topology edge ({u}, {v}).kind", k, ", ".join(LINK_KINDS))
            bw = float(d["bandwidth"])
            lat = float(d["latency"]) if "latency" in d else hop_latency[k]
            links += ((u, v), (v, u))
            bandwidth += (bw, bw)
            kind += (k, k)
            latency += (lat, lat)
        seen.add(u)
    capacity = [b * protocol_efficiency[k] for b, k in zip(bandwidth, kind)]
    link_id = {link: i for i, link in enumerate(links)}
    return Cluster(g, gpus[:world], links, capacity, bandwidth, latency, kind, link_id, Router(g, link_id))
