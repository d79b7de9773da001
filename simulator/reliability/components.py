"""The job's components, as failures see them: what each one is, and what its failure takes down.

Read off the topology graph the job runs on. A GPU, a NIC, or the cable from a NIC to its switch
takes its server out of the job; a switch that NICs hang off (a leaf) takes every server below
it; a switch above the leaves (spine, core) or a cable between switches leaves every GPU connected
and only narrows the fabric: a *network fault*, keyed by its place in the hierarchy so that one
step simulation stands for every equivalent element (all spines of a fat-tree are alike).
A cable between switches is one of the parallel cables an aggregated edge stands for.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from ..config import ConfigError
from ..topology.cluster import edges


@dataclass(frozen=True)
class Strike:
    """What one failed component does to the job: servers lost, or a network fault (or neither,
    for a server outside the job)."""

    servers: tuple[int, ...] = ()
    fault: tuple | None = None        # ("switch", tier) or ("cable", lower tier, upper tier)


class Inventory:
    """Components of each kind, indexed 0..count-1, and the effect of each one's failure."""

    def __init__(self, graph: nx.Graph, num_nodes: int):
        self.graph = graph
        self.num_nodes = num_nodes
        attrs = graph._node   # NetworkX's own dicts: its views cost more than this on a large graph
        kind = {n: d["kind"] for n, d in attrs.items()}
        self.switches = sorted(n for n in graph if kind[n] == "switch")
        # a NIC without a server belongs to no server: never fails one
        server = {n: d["node"] for n, d in attrs.items() if "node" in d}
        self.nics = sorted((n for n in graph if kind[n] == "nic" and server.get(n, num_nodes) < num_nodes),
                           key=lambda n: server[n])
        self._below: dict[str, tuple[int, ...]] = {}   # leaf switch -> the job's servers below it
        for sw in self.switches:
            below = {server[m] for m in graph._adj[sw] if kind[m] in ("nic", "gpu") and m in server}
            if below:
                self._below[sw] = tuple(sorted(n for n in below if n < num_nodes))
        all_edges = list(edges(graph))
        nic_bw = [d["bandwidth"] for u, v, d in all_edges if {kind[u], kind[v]} == {"nic", "switch"}]
        cable = min(nic_bw) if nic_bw else None
        # (u, v) per cable; server-side cables first, as NICs are
        self.cables: list[tuple[str, str]] = []
        self.cables_on: dict[frozenset, int] = {}
        for u, v, d in sorted(all_edges, key=lambda e: (kind[e[0]] != "nic" and kind[e[1]] != "nic",
                                                       str(e[0]), str(e[1]))):
            ends = {kind[u], kind[v]}
            if "switch" not in ends or not ends <= {"switch", "nic", "gpu"}:
                continue
            n = 1 if ends != {"switch"} else max(1, round(d["bandwidth"] / cable)) if cable else 1
            self.cables_on[frozenset((u, v))] = n
            self.cables += [(u, v)] * n
        self.gpus_per_server = sum(1 for n in graph if kind[n] == "gpu" and server[n] == 0)
        self.count = {"gpu": num_nodes * self.gpus_per_server, "nic": len(self.nics), "server": num_nodes,
                      "switch": len(self.switches), "cable": len(self.cables)}
        self.count["network"] = self.count["switch"] + self.count["cable"]

    def check(self, kinds: dict[str, str]) -> None:
        """Every failure class must strike a component the topology has: {class name: component}."""
        for name, comp in kinds.items():
            if self.count[comp] == 0:
                have = ", ".join(k for k, n in self.count.items() if n)
                raise ConfigError(f"failure class {name!r}.component", comp,
                                  f"a component this topology has ({have})")

    def strike(self, component: str, index: int) -> Strike:
        if component == "gpu":
            return Strike(servers=(index // self.gpus_per_server,))
        if component == "server":
            return Strike(servers=(index,))
        if component == "nic":
            return Strike(servers=(self.graph.nodes[self.nics[index]]["node"],))
        if component == "network":
            component, index = (("switch", index) if index < len(self.switches)
                                else ("cable", index - len(self.switches)))
        if component == "switch":
            sw = self.switches[index]
            if sw in self._below:
                return Strike(servers=self._below[sw])
            return Strike(fault=("switch", self._tier(sw)))
        u, v = self.cables[index]
        server_end = [n for n in (u, v) if self.graph.nodes[n]["kind"] != "switch"]
        if server_end:
            return Strike(servers=(self.graph.nodes[server_end[0]]["node"],))
        lo, hi = sorted((self._tier(u), self._tier(v)))
        return Strike(fault=("cable", lo, hi))

    def _edges_at(self, tiers: tuple) -> list[tuple[str, str]]:
        """Edges with cables between these two tiers, in a fixed order (computed once)."""
        if not hasattr(self, "_by_tiers"):
            self._by_tiers: dict[tuple, list] = {}
            for e in self.cables_on:
                self._by_tiers.setdefault(tuple(sorted(self._tier(x) for x in e)), []).append(tuple(sorted(e)))
            for v in self._by_tiers.values():
                v.sort()
        return self._by_tiers[tiers]

    def cable_key(self, index: int) -> tuple:
        """The network-fault key of cable `index` (its place in the hierarchy)."""
        u, v = self.cables[index]
        return ("cable",) + tuple(sorted((self._tier(u), self._tier(v))))

    def _tier(self, node: str) -> int:
        return int(self.graph.nodes[node].get("tier", -1))

    def changes(self, faults: tuple[tuple, ...]) -> tuple[set, set, dict]:
        """What the network faults do to the graph: (switches removed, edges removed, {edge:
        bandwidth factor}). Each fault is (key, capacity left); the first element of each key (the
        next one for a repeated key) loses that capacity: a switch, or one cable of an aggregated
        edge, which is removed only when it is the edge's last cable."""
        nodes, edges, scale = set(), set(), {}
        used: dict[tuple, int] = {}
        for key, left in faults:
            nth = used.get(key, 0)
            used[key] = nth + 1
            if key[0] == "switch":
                tier = [s for s in self.switches if self._tier(s) == key[1] and s not in self._below]
                sw = tier[nth % len(tier)]
                if left <= 0:
                    nodes.add(sw)
                else:
                    for m in self.graph.neighbors(sw):
                        e = tuple(sorted((sw, m)))
                        scale[e] = scale.get(e, 1.0) * left
                continue
            same = self._edges_at(key[1:])
            e = same[nth % len(same)]
            n = self.cables_on[frozenset(e)]
            if left <= 0 and n <= 1:
                edges.add(e)
            else:  # one of the edge's n cables keeps `left` of its rate
                scale[e] = scale.get(e, 1.0) - (1.0 - left) / n
        return nodes, edges, scale
