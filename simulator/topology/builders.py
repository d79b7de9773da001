"""NetworkX builders for accelerator clusters.

A graph is undirected; every edge is a full-duplex link whose `bandwidth` (bytes/s) holds in each
direction. Node attribute `kind` is one of gpu, nvswitch, nic, switch; `tier` orders forwarding
levels (gpu 0, nvswitch/nic 1, leaf 2, spine 3) for up-down routing. GPUs carry `node` (server
index) and `local` (index in the server). Edge attribute `kind` is nvlink, pcie or infiniband.
"""

from __future__ import annotations

import math

import networkx as nx


def gpu_name(node: int, local: int) -> str:
    return f"n{node}/gpu{local}"


def leaf_name(group: int, rail: int | None, pod: int | None = None) -> str:
    """A leaf switch's name: its group of servers, its rail (None: every rail of the servers), and
    its pod in a three-tier Clos."""
    return (f"pod{pod}/" if pod is not None else "") + f"leaf{group}" + (f"/rail{rail}" if rail is not None else "")


def spine_name(index: int, pod: int | None = None) -> str:
    return (f"pod{pod}/" if pod is not None else "") + f"spine{index}"


def core_name(index: int) -> str:
    return f"core{index}"


def uplink_cables(down: float, cable: float, oversubscription: float) -> int:
    """Uplink cables of a switch with `down` bytes/s of links below it: enough cables of `cable`
    bytes/s to carry that divided by the oversubscription (at least one)."""
    return max(1, math.ceil(down / cable / oversubscription - 1e-9))


def add_nvswitch_node(g: nx.Graph, node: int, gpus: int, nics: int, scale_up_bandwidth: float,
                      host_link_bandwidth: float, nvls: bool = False) -> list[str]:
    """One server: `gpus` GPUs on an NVSwitch (one logical crossbar), `nics` NICs on PCIe.

    GPU i reaches NIC i * nics // gpus (rail-aligned, as in DGX A100/H100). `nvls` marks a switch
    that reduces in the network (NVLink SHARP). Returns the NIC names.
    """
    switch = f"n{node}/nvswitch"
    g.add_node(switch, kind="nvswitch", tier=1, node=node, nvls=nvls)
    nic_names = [f"n{node}/nic{k}" for k in range(nics)]
    for k, nic in enumerate(nic_names):
        g.add_node(nic, kind="nic", tier=1, node=node, local=k)
    for i in range(gpus):
        gpu = gpu_name(node, i)
        g.add_node(gpu, kind="gpu", tier=0, node=node, local=i)
        g.add_edge(gpu, switch, bandwidth=scale_up_bandwidth, kind="nvlink")
        g.add_edge(gpu, nic_names[i * nics // gpus], bandwidth=host_link_bandwidth, kind="pcie")
    return nic_names


def rail_optimized_fat_tree(num_nodes: int, gpus_per_node: int, nics_per_node: int,
                            nic_bandwidth: float, scale_up_bandwidth: float, host_link_bandwidth: float,
                            nodes_per_leaf: int = 32, spines: int = 8,
                            oversubscription: float = 1.0, nvls: bool = False) -> nx.Graph:
    """NVSwitch servers on a rail-optimized two-tier fat-tree (leaf-spine).

    Rail r (NIC r of every server) of each group of `nodes_per_leaf` servers goes to its own leaf
    switch. A leaf has ceil(downlinks / oversubscription) uplink cables of the NIC speed, spread
    evenly over the spines (parallel cables to one spine are aggregated into one link; a leaf with
    fewer cables than spines reaches only as many spines). Spines are built only when there is more
    than one leaf.
    """
    g = nx.Graph(name=f"rail-optimized fat-tree, {num_nodes} x {gpus_per_node} GPUs",
                 builder="rail_optimized_fat_tree")
    groups = math.ceil(num_nodes / nodes_per_leaf)
    need_spines = groups * nics_per_node > 1
    for node in range(num_nodes):
        nics = add_nvswitch_node(g, node, gpus_per_node, nics_per_node, scale_up_bandwidth,
                                 host_link_bandwidth, nvls)
        group = node // nodes_per_leaf
        for rail, nic in enumerate(nics):
            leaf = leaf_name(group, rail)
            if leaf not in g:
                g.add_node(leaf, kind="switch", tier=2)
            g.add_edge(nic, leaf, bandwidth=nic_bandwidth, kind="infiniband")
    if need_spines and num_nodes > 1:
        for s in range(spines):
            g.add_node(spine_name(s), kind="switch", tier=3)
        leaves = [n for n, d in g.nodes(data=True) if d["kind"] == "switch" and d["tier"] == 2]
        for leaf in leaves:
            cables = uplink_cables(g.degree(leaf) * nic_bandwidth, nic_bandwidth, oversubscription)
            reach = min(spines, cables)  # the same first spines for every leaf: all stay connected
            for k in range(reach):
                g.add_edge(leaf, spine_name(k), bandwidth=cables * nic_bandwidth / reach, kind="infiniband")
    return g


def three_tier_clos(num_nodes: int, gpus_per_node: int, nics_per_node: int, nic_bandwidth: float,
                    scale_up_bandwidth: float, host_link_bandwidth: float, nodes_per_leaf: int = 32,
                    spines: int = 8, oversubscription: float = 1.0, nodes_per_pod: int = 256,
                    cores: int = 16, core_oversubscription: float = 1.0,
                    rail_optimized: bool = True, nvls: bool = False) -> nx.Graph:
    """NVSwitch servers on a leaf-spine-core Clos: pods of `nodes_per_pod` servers, each pod a
    two-tier fat-tree (rail-optimized or not) with its own `spines`, every pod spine linked to the
    `cores`. Each tier has ceil(downlinks / oversubscription) uplink cables of the NIC speed, spread
    over the switches above (e.g. a 24K-GPU cluster with 1:7 at the aggregation tier:
    core_oversubscription=7). Without rail optimization every NIC of a server goes to one leaf."""
    g = nx.Graph(name=f"three-tier Clos, {num_nodes} x {gpus_per_node} GPUs", builder="three_tier_clos")
    leaves_by_pod: dict[int, list[str]] = {}
    for node in range(num_nodes):
        nics = add_nvswitch_node(g, node, gpus_per_node, nics_per_node, scale_up_bandwidth, host_link_bandwidth,
                                 nvls)
        pod, group = node // nodes_per_pod, node // nodes_per_leaf
        for rail, nic in enumerate(nics):
            leaf = leaf_name(group, rail if rail_optimized else None, pod)
            if leaf not in g:
                g.add_node(leaf, kind="switch", tier=2)
                leaves_by_pod.setdefault(pod, []).append(leaf)
            g.add_edge(nic, leaf, bandwidth=nic_bandwidth, kind="infiniband")
    multi_pod = len(leaves_by_pod) > 1
    for pod, leaves in leaves_by_pod.items():
        if len(leaves) == 1 and not multi_pod:
            continue
        names = [spine_name(s, pod) for s in range(spines)]
        for n in names:
            g.add_node(n, kind="switch", tier=3)
        _uplinks(g, leaves, names, nic_bandwidth, oversubscription)
        if multi_pod:
            for c in range(cores):
                g.add_node(core_name(c), kind="switch", tier=4)
            _uplinks(g, names, [core_name(c) for c in range(cores)], nic_bandwidth, core_oversubscription)
    for n in [n for n in g if g.nodes[n]["kind"] == "switch" and g.degree(n) == 0]:
        g.remove_node(n)
    return g


def _uplinks(g: nx.Graph, lower: list[str], upper: list[str], cable: float, oversubscription: float) -> None:
    """Each lower switch gets ceil(downlink bandwidth / cable / oversubscription) cables to the
    upper ones, spread evenly, parallel cables aggregated; all lower switches use the same first
    uppers."""
    nodes = g._node  # NetworkX's own dicts: its views cost more than the sum
    for sw in lower:
        t = nodes[sw]["tier"]
        down = sum(d["bandwidth"] for m, d in g._adj[sw].items() if nodes[m]["tier"] < t)
        cables = uplink_cables(down, cable, oversubscription)
        reach = min(len(upper), cables)
        for k in range(reach):
            g.add_edge(sw, upper[k], bandwidth=cables * cable / reach, kind="infiniband")


def torus(dims: tuple[int, ...], link_bandwidth: float, gpus_per_node: int = 1,
          kind: str = "nvlink") -> nx.Graph:
    """Accelerators on a k-dimensional torus (TPU-style): each links directly to its two
    neighbours in every dimension, with wrap-around; no switches. Server = chip index //
    gpus_per_node. Routing takes shortest paths (no tiers)."""
    import itertools
    g = nx.Graph(name=f"{'x'.join(map(str, dims))} torus", builder="torus")
    coords = list(itertools.product(*[range(d) for d in dims]))
    index = {c: i for i, c in enumerate(coords)}
    for i, c in enumerate(coords):  # chips forward traffic for each other, as TPU ICI does
        g.add_node(f"chip{i}", kind="gpu", node=i // gpus_per_node, local=i % gpus_per_node, forwards=True)
    for c in coords:
        for axis, size in enumerate(dims):
            if size < 2:
                continue
            n = list(c)
            n[axis] = (c[axis] + 1) % size
            a, b = f"chip{index[c]}", f"chip{index[tuple(n)]}"
            if a != b and not g.has_edge(a, b):
                g.add_edge(a, b, bandwidth=link_bandwidth, kind=kind)
    return g


def dragonfly(groups: int, routers_per_group: int, nodes_per_router: int, gpus_per_node: int,
              nic_bandwidth: float, local_bandwidth: float, global_bandwidth: float,
              scale_up_bandwidth: float, host_link_bandwidth: float, nvls: bool = False) -> nx.Graph:
    """NVSwitch servers on a dragonfly: routers in a group are fully connected; every pair of
    groups has one global link, spread over the routers of each group. Each server has one NIC
    per GPU, all to its router. Minimal routing (shortest paths)."""
    g = nx.Graph(name=f"dragonfly, {groups} groups x {routers_per_group} routers", builder="dragonfly")
    node = 0
    for grp in range(groups):
        routers = [f"g{grp}/router{r}" for r in range(routers_per_group)]
        for r in routers:
            g.add_node(r, kind="switch")
        for i, a in enumerate(routers):
            for b in routers[i + 1:]:
                g.add_edge(a, b, bandwidth=local_bandwidth, kind="infiniband")
            for _ in range(nodes_per_router):
                for nic in add_nvswitch_node(g, node, gpus_per_node, gpus_per_node, scale_up_bandwidth,
                                             host_link_bandwidth, nvls):
                    g.add_edge(nic, a, bandwidth=nic_bandwidth, kind="infiniband")
                node += 1
    for n in g:  # no tiers: routing takes shortest paths
        g.nodes[n].pop("tier", None)
    for x in range(groups):
        for y in range(x + 1, groups):
            a = f"g{x}/router{(y - x - 1) % routers_per_group}"
            b = f"g{y}/router{(x - y - 1) % routers_per_group}"
            g.add_edge(a, b, bandwidth=global_bandwidth, kind="infiniband")
    return g
