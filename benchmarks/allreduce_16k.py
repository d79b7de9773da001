"""Speed of the fabric: 128 concurrent ring all-reduces of 128 GPUs each, 16,384 GPUs in all.

    python benchmarks/allreduce_16k.py [--servers 2048] [--size 1GiB]

Builds 2,048 eight-GPU servers on a rail-optimized fat-tree (400 Gb/s NICs), forms the 128
data-parallel groups a TP-8 job would have (one GPU per server, one rail, 128 servers each),
starts all their all-reduces at once on one fabric with every flow explicit, and prints the wall
time of each phase, the number of flows and the simulated collective time.
"""

from __future__ import annotations

import argparse
import time

import simpy

from simulator.api import tuning
from simulator.config import parse_quantity
from simulator.hardware import load_accelerator, load_calibration
from simulator.network import Collectives, Fabric
from simulator.topology import build_cluster, rail_optimized_fat_tree


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--servers", type=int, default=2048)
    ap.add_argument("--group", type=int, default=128, help="servers per data-parallel group")
    ap.add_argument("--size", default="1 GiB", help="all-reduce buffer per rank")
    args = ap.parse_args()
    size = parse_quantity(args.size, "bytes", "--size")
    accel, calib = load_accelerator("H100-SXM"), load_calibration()

    t0 = time.perf_counter()
    g = rail_optimized_fat_tree(num_nodes=args.servers, gpus_per_node=8, nics_per_node=8, nic_bandwidth=50e9,
                                scale_up_bandwidth=accel.scale_up_bandwidth,
                                host_link_bandwidth=accel.host_link_bandwidth, nodes_per_leaf=32, spines=64)
    gpus = args.servers * 8
    cluster = build_cluster(g, gpus, calib.protocol_efficiency, calib.hop_latency)
    t1 = time.perf_counter()

    env = simpy.Environment()
    fabric = Fabric(env, cluster.capacity)
    coll = Collectives(fabric, cluster.route, cluster.path_latency, cluster.node_of, tuning(calib),
                       {"all_reduce": "ring"})
    groups = []
    for block in range(args.servers // args.group):
        for local in range(8):
            group = tuple((block * args.group + s) * 8 + local for s in range(args.group))
            coll.register(group, "all_reduce", group)
            groups.append(group)
    t2 = time.perf_counter()
    events = [coll.start(gr, "all_reduce", size) for gr in groups]
    env.run(simpy.AllOf(env, events))
    t3 = time.perf_counter()

    flows = sum(len(fp.links) for fp in coll.footprints())
    print(f"{gpus:,} GPUs, {len(groups)} groups of {args.group}, all_reduce of {args.size} per rank, ring")
    print(f"  build topology and cluster  {t1 - t0:6.2f} s  ({g.number_of_nodes():,} nodes, "
          f"{len(cluster.links):,} directed links)")
    print(f"  route and register groups   {t2 - t1:6.2f} s  ({sum(len(gr) for gr in groups):,} ring hops, "
          f"{flows:,} link-class entries)")
    print(f"  simulate                    {t3 - t2:6.2f} s  ({fabric.recomputations} rate recomputations)")
    print(f"  simulated all-reduce time   {env.now * 1e3:8.2f} ms  (busbw {size / env.now * 2 * 127 / 128 / 1e9:.1f} GB/s)")
    print(f"  total wall time             {t3 - t0:6.2f} s")


if __name__ == "__main__":
    main()
