"""Cluster topologies: NetworkX builders, node-link JSON files, routing, trees as arithmetic, rank placement.

Knows nothing of the workload: ranks are integers placed on GPUs in order.
"""

from .builders import add_nvswitch_node, dragonfly, gpu_name, rail_optimized_fat_tree, three_tier_clos, torus
from .cluster import Cluster, build_cluster, system_cluster, topology_graph, topology_tree, tree_cluster
from .tree import Tree
from .io import check_topology, load_topology, save_topology
from .routing import Router
from .summary import bisection_bandwidth, summarize

__all__ = ["Cluster", "Router", "Tree", "add_nvswitch_node", "bisection_bandwidth", "build_cluster",
           "check_topology", "dragonfly", "gpu_name", "three_tier_clos", "torus", "load_topology", "rail_optimized_fat_tree", "save_topology",
           "summarize", "system_cluster", "topology_graph", "topology_tree", "tree_cluster"]
