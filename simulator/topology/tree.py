"""Tree fabrics as arithmetic: links, capacities and routes by position, without a graph.

A rail-optimized fat-tree or a three-tier Clos from the builders is the graph they make
(builders.py), link for link, but here nothing is built node by node: a link's id, ends and
width follow from positions (GPU j of server j // G, its NIC, its leaf, the leaf's spines, their
cores), and so does a route. The route is the one routing.Router takes on the graph: up to the
lowest tier the two GPUs share and down, NVLink inside a server, and the same destination-
numbered ECMP choices (D-mod-k over the destination's number in tree order, among the options
both ends reach, in name order). Every group of servers and every pod is full but perhaps the
last, so uplinks come in two kinds, full and last. Tests compare every pair with Router on built
graphs. A 131,072-GPU fabric then costs a few lists instead of 400,000 graph edges and a search
per GPU.

Where Router's choices depend on link widths this arithmetic does not follow (`Tree.regular` is
false: in a multi-pod Clos, groups split by pods or a leaf below only some of its pod's spines;
GPUs sharing a NIC with NVLink no wider than PCIe), the fabric is left to the graph and Router.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import networkx as nx

from .builders import core_name, gpu_name, leaf_name, rail_optimized_fat_tree, spine_name, three_tier_clos, uplink_cables

NVLINK, PCIE, CABLE = "nvlink", "pcie", "infiniband"


@dataclass(frozen=True)
class Tree:
    """A fat-tree (`nodes_per_pod` None: leaf-spine, as builders.rail_optimized_fat_tree) or a
    three-tier Clos (builders.three_tier_clos), by the builders' parameters."""

    servers: int
    gpus: int                       # per server
    nics: int                       # per server; GPU i uses NIC i * nics // gpus
    nic_bandwidth: float
    scale_up_bandwidth: float
    host_link_bandwidth: float
    nodes_per_leaf: int
    spines: int
    oversubscription: float
    nodes_per_pod: int | None = None
    cores: int = 0
    core_oversubscription: float = 1.0
    rail_optimized: bool = True
    nvls: bool = False

    def graph(self) -> nx.Graph:
        """The fabric as the builders make it (node for node, link for link)."""
        common = dict(num_nodes=self.servers, gpus_per_node=self.gpus, nics_per_node=self.nics,
                      nic_bandwidth=self.nic_bandwidth, scale_up_bandwidth=self.scale_up_bandwidth,
                      host_link_bandwidth=self.host_link_bandwidth, nodes_per_leaf=self.nodes_per_leaf,
                      spines=self.spines, oversubscription=self.oversubscription, nvls=self.nvls)
        if self.nodes_per_pod is None:
            return rail_optimized_fat_tree(**common)
        return three_tier_clos(**common, nodes_per_pod=self.nodes_per_pod, cores=self.cores,
                               core_oversubscription=self.core_oversubscription, rail_optimized=self.rail_optimized)

    # -- layout ---------------------------------------------------------------------------------
    # Every group of servers (below one leaf per rail) is full but perhaps the last, and so is every
    # pod; a unit's size fixes its uplink cables, so there are two kinds of each: full and last.
    @cached_property
    def rails(self) -> int:
        """Leaves per group of servers."""
        return self.nics if self.rail_optimized else 1

    @cached_property
    def leaves(self) -> int:
        return math.ceil(self.servers / self.nodes_per_leaf) * self.rails

    @cached_property
    def pods(self) -> int:
        return 1 if self.nodes_per_pod is None else math.ceil(self.servers / self.nodes_per_pod)

    @cached_property
    def _groups_per_pod(self) -> int:
        return self.leaves // self.rails if self.pods == 1 else self.nodes_per_pod // self.nodes_per_leaf

    @cached_property
    def has_spines(self) -> bool:
        if self.nodes_per_pod is None:
            return self.leaves > 1 and self.servers > 1
        return self.pods > 1 or self.leaves > 1

    def _group_servers(self, group: int) -> int:
        return min(self.nodes_per_leaf, self.servers - group * self.nodes_per_leaf)

    def _leaf_uplinks(self, leaf: int) -> tuple[int, int]:
        """(cables, spines reached) of a leaf; (0, 0) without spines."""
        if not self.has_spines:
            return 0, 0
        nics_below = self._group_servers(leaf // self.rails) * (1 if self.rail_optimized else self.nics)
        cables = uplink_cables(nics_below * self.nic_bandwidth, self.nic_bandwidth, self.oversubscription)
        return cables, min(self.spines, cables)

    def _leaf_width(self, leaf: int) -> float:
        cables, reach = self._leaf_uplinks(leaf)
        return cables * self.nic_bandwidth / reach

    @cached_property
    def _full_leaves(self) -> int:
        """Leaves of full groups (they come first)."""
        return self.servers // self.nodes_per_leaf * self.rails

    @cached_property
    def _reaches(self) -> tuple[int, int]:
        """Spines a leaf of a full group reaches, and a leaf of the last group."""
        return self._leaf_uplinks(0)[1], self._leaf_uplinks(self.leaves - 1)[1]

    def _leaf_links(self, leaf: int) -> int:
        """Position of a leaf's first spine link among the leaf-spine links."""
        full, (reach, last) = self._full_leaves, self._reaches
        return leaf * reach if leaf < full else full * reach + (leaf - full) * last

    def _spine_uplinks(self, pod: int) -> tuple[int, int]:
        """(cables, cores reached) of each spine of a pod (every spine is below every leaf of it);
        (0, 0) in a single pod."""
        if self.pods == 1:
            return 0, 0
        first = pod * self._groups_per_pod * self.rails
        down = 0.0
        for leaf in range(first, min(first + self._groups_per_pod * self.rails, self.leaves)):
            down += self._leaf_width(leaf)   # summed leaf by leaf, as the builder sums a spine's downlinks
        cables = uplink_cables(down, self.nic_bandwidth, self.core_oversubscription)
        return cables, min(self.cores, cables)

    @cached_property
    def _core_reaches(self) -> tuple[int, int]:
        return self._spine_uplinks(0)[1], self._spine_uplinks(self.pods - 1)[1]

    def _spine_links(self, spine: int) -> int:
        """Position of a spine's first core link among the spine-core links."""
        if self.pods == 1:
            return 0
        full, (reach, last) = self.servers // self.nodes_per_pod * self.spines, self._core_reaches
        return spine * reach if spine < full else full * reach + (spine - full) * last

    @cached_property
    def regular(self) -> bool:
        """Whether the arithmetic holds: GPUs spread evenly over NICs, NVLink the widest way between
        GPUs of a server, and with several pods, groups of servers not split by pods and every
        leaf below every spine of its pod, with several ways up."""
        if self.nics > self.gpus or self.gpus % self.nics or self.servers < 1:
            return False
        if self.nics < self.gpus and not self.scale_up_bandwidth > self.host_link_bandwidth:
            return False
        if self.pods == 1:
            return True
        if self.nodes_per_pod % self.nodes_per_leaf:
            return False
        return self._reaches[0] == self._reaches[1] == self.spines > 1

    @cached_property
    def _bases(self) -> tuple[int, int, int, int]:
        """First link id of the NIC, leaf-spine and spine-core links, and the number of links."""
        gpus, nics = self.servers * self.gpus, self.servers * self.nics
        nic = 4 * gpus
        leaf = nic + 2 * nics
        spine = leaf + 2 * self._leaf_links(self.leaves)
        return nic, leaf, spine, spine + 2 * self._spine_links(self.pods * self.spines)

    # -- links ----------------------------------------------------------------------------------
    # Ids: GPU j has 4j (to its NVSwitch), 4j + 1 (back), 4j + 2 (to its NIC), 4j + 3 (back); NIC q
    # (= server x nics + k) nic + 2q (to its leaf) and + 1 (back); leaf l's link to its x-th spine
    # leaf + 2 (_leaf_links(l) + x) up and + 1 down; spine p (= pod x spines + x) to its c-th core
    # spine + 2 (_spine_links(p) + c) up and + 1 down.

    def link_count(self) -> int:
        return self._bases[3]

    def link_table(self) -> tuple[list[float], list[str]]:
        """(bandwidth, kind) of every link id."""
        nic, leaf, spine, end = self._bases
        per_gpu = self.gpus * self.servers
        bandwidth = [self.scale_up_bandwidth, self.scale_up_bandwidth,
                     self.host_link_bandwidth, self.host_link_bandwidth] * per_gpu
        kind = [NVLINK, NVLINK, PCIE, PCIE] * per_gpu
        bandwidth += [self.nic_bandwidth] * (leaf - nic)
        for first, count in ((0, self._full_leaves), (self._full_leaves, self.leaves - self._full_leaves)):
            if count and self.has_spines:
                bandwidth += [self._leaf_width(first)] * (2 * count * self._leaf_uplinks(first)[1])
        full_pods = self.servers // self.nodes_per_pod if self.pods > 1 else 0
        for first, count in ((0, full_pods), (full_pods, self.pods - full_pods)):
            cables, reach = self._spine_uplinks(first)
            if count and reach:
                bandwidth += [cables * self.nic_bandwidth / reach] * (2 * count * self.spines * reach)
        kind += [CABLE] * (end - nic)
        return bandwidth, kind

    def _leaf(self, server: int, nic: int) -> int:
        return server // self.nodes_per_leaf * self.rails + (nic if self.rail_optimized else 0)

    def _pod_of_leaf(self, leaf: int) -> int:
        return leaf // self.rails // self._groups_per_pod

    def leaf_node(self, leaf: int) -> str:
        group, rail = divmod(leaf, self.rails)
        return leaf_name(group, rail if self.rail_optimized else None,
                         None if self.nodes_per_pod is None else self._pod_of_leaf(leaf))

    def spine_node(self, spine: int) -> str:
        pod, x = divmod(spine, self.spines)
        return spine_name(x, None if self.nodes_per_pod is None else pod)

    def _owner(self, position: int, offset, count: int) -> tuple[int, int]:
        """(unit, index within it) of the link at `position` of a block laid out by `offset`."""
        lo, hi = 0, count - 1
        while lo < hi:   # the last unit whose first link is at or before position
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if offset(mid) <= position else (lo, mid - 1)
        return lo, position - offset(lo)

    def link(self, i: int) -> tuple[str, str]:
        """(from, to) node names of link `i`, as the graph names them."""
        nic, leaf, spine, end = self._bases
        if not 0 <= i < end:
            raise IndexError(i)
        if i < nic:
            j, r = divmod(i, 4)
            s, local = divmod(j, self.gpus)
            other = f"n{s}/nvswitch" if r < 2 else f"n{s}/nic{local * self.nics // self.gpus}"
            a, b = gpu_name(s, local), other
        elif i < leaf:
            q, r = divmod(i - nic, 2)
            s, k = divmod(q, self.nics)
            a, b = f"n{s}/nic{k}", self.leaf_node(self._leaf(s, k))
        elif i < spine:
            x, r = divmod(i - leaf, 2)
            lf, x = self._owner(x, self._leaf_links, self.leaves)
            a, b = self.leaf_node(lf), self.spine_node(self._pod_of_leaf(lf) * self.spines + x)
        else:
            x, r = divmod(i - spine, 2)
            sp, c = self._owner(x, self._spine_links, self.pods * self.spines)
            a, b = self.spine_node(sp), core_name(c)
        return (a, b) if r % 2 == 0 else (b, a)

    # -- routes ---------------------------------------------------------------------------------
    @staticmethod
    @functools.cache
    def _name_order(n: int) -> list[int]:
        """0..n-1 in the order of the names they end (spine10 before spine2), as Router lists them."""
        return sorted(range(n), key=str)

    def _number(self, j: int) -> int:
        """GPU j's number for ECMP, as Router gives it: its NIC's position among the NICs below
        its leaf in (server, index) order, after (first NIC's number x NICs below the leaf)."""
        s, i = divmod(j, self.gpus)
        first = s - s % self.nodes_per_leaf
        k = i * self.nics // self.gpus
        per = self.nics // self.rails                 # a leaf's NICs in each server
        lowest = k - k % per                          # the first of them
        below = self._group_servers(s // self.nodes_per_leaf) * per
        return (first * 1024 + lowest) * below + (s - first) * per + (k - lowest)

    def route(self, src: int, dst: int) -> tuple[int, ...]:
        """Link ids from GPU `src` to GPU `dst` (positions): NVLink inside a server, else up to
        the lowest tier the two share, the spine (and core) chosen by the destination's number
        among those both sides reach, in name order."""
        if src == dst:
            return ()
        g = self.gpus
        s, i = divmod(src, g)
        t, k = divmod(dst, g)
        if s == t:
            return 4 * src, 4 * dst + 1
        nic, leaf, spine, _ = self._bases
        q, r = s * self.nics + i * self.nics // g, t * self.nics + k * self.nics // g
        up, down = (4 * src + 2, nic + 2 * q), (nic + 2 * r + 1, 4 * dst + 3)
        a, b = self._leaf(s, q % self.nics), self._leaf(t, r % self.nics)
        if a == b:
            return up + down
        d = self._number(dst)
        full = self._full_leaves
        reach = min(self._reaches[a >= full], self._reaches[b >= full])   # the spines both leaves reach
        x = self._name_order(reach)[d % reach]
        climb, descend = leaf + 2 * (self._leaf_links(a) + x), leaf + 2 * (self._leaf_links(b) + x) + 1
        pa, pb = self._pod_of_leaf(a), self._pod_of_leaf(b)
        if pa == pb:
            return up + (climb, descend) + down
        last = self.pods - 1
        cores = min(self._core_reaches[pa == last], self._core_reaches[pb == last])
        c = self._name_order(cores)[d // reach % cores]
        return up + (climb, spine + 2 * (self._spine_links(pa * self.spines + x) + c),
                     spine + 2 * (self._spine_links(pb * self.spines + x) + c) + 1, descend) + down

class LinkNames(Sequence):
    """Link id -> (from, to) node names of a Tree, computed when asked."""

    def __init__(self, tree: Tree):
        self.tree = tree

    def __len__(self) -> int:
        return self.tree.link_count()

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.tree.link(k) for k in range(*i.indices(len(self)))]
        return self.tree.link(i)


class TreeRouter:
    """Router's questions answered on a Tree; GPUs are positions (server x gpus + index)."""

    tiered = True

    def __init__(self, tree: Tree):
        self.tree = tree

    @cached_property
    def link_id(self) -> dict[tuple[str, str], int]:
        """(from, to) node names -> link id (built when first asked: reliability's faults name links)."""
        return {self.tree.link(i): i for i in range(self.tree.link_count())}

    def links(self, src: int, dst: int) -> tuple[int, ...]:
        return self.tree.route(src, dst)

    def server(self, gpu: int) -> int:
        return gpu // self.tree.gpus

    def in_switch(self, gpus) -> bool:
        return self.tree.nvls and len({g // self.tree.gpus for g in gpus}) == 1
