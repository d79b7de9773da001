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


def add_nvswitch_node(g: nx.Graph, node: int, gpus: int, nics: int, scale_up_bandwidth: float,
                      host_link_bandwidth: float) -> list[str]:
    """One server: `gpus` GPUs on an NVSwitch (one logical crossbar), `nics` NICs on PCIe.

    GPU i reaches NIC i * nics // gpus (rail-aligned, as in DGX A100/H100). Returns the NIC names.
    """
    switch = f"n{node}/nvswitch"
    g.add_node(switch, kind="nvswitch", tier=1, node=node)
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
                            oversubscription: float = 1.0) -> nx.Graph:
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
                                 host_link_bandwidth)
        group = node // nodes_per_leaf
        for rail, nic in enumerate(nics):
            leaf = f"leaf{group}/rail{rail}"
            if leaf not in g:
                g.add_node(leaf, kind="switch", tier=2)
            g.add_edge(nic, leaf, bandwidth=nic_bandwidth, kind="infiniband")
    if need_spines and num_nodes > 1:
        for s in range(spines):
            g.add_node(f"spine{s}", kind="switch", tier=3)
        leaves = [n for n, d in g.nodes(data=True) if d["kind"] == "switch" and d["tier"] == 2]
        for leaf in leaves:
            cables = math.ceil(g.degree(leaf) / oversubscription)
            reach = min(spines, cables)  # the same first spines for every leaf: all stay connected
            for k in range(reach):
                g.add_edge(leaf, f"spine{k}", bandwidth=cables * nic_bandwidth / reach, kind="infiniband")
    return g
