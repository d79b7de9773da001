"""Symmetric mode against full mode on random small jobs and fabrics: the iteration time and the
bytes on every link must agree (docs/architecture.md, item 5).

    python validation/symmetry.py [--cases 100] [--seed 0]

Each case draws a job (TP x PP x DP on 1-6 servers of 4 GPUs, ZeRO stage, overlapped gradient
reduction, sequence parallelism, micro-batch and sequence sizes) and a fabric (fat-trees with and
without oversubscription, shared NICs, partly filled leaves, a three-tier Clos with a 2:1 core,
a torus, a dragonfly), simulates it in both modes and prints the cases that differ by more than
1e-9 relative, then the count, the largest gap and how many ranks symmetric mode simulated.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator import simulate  # noqa: E402
from simulator.config import ConfigError  # noqa: E402

FABRICS = [
    {},
    {"nodes_per_leaf": 1, "spines": 2},
    {"nodes_per_leaf": 2, "spines": 3, "oversubscription": 1.5, "nics_per_node": 2},
    {"nodes_per_leaf": 4, "spines": 3, "oversubscription": 2.0, "nics_per_node": 2},
    {"nodes_per_leaf": 3, "spines": 2, "oversubscription": 2.0},
    {"nodes_per_leaf": 2, "spines": 1, "oversubscription": 3.0},
    {"rail_optimized": False, "nodes_per_leaf": 2, "spines": 2},
    {"builder": "three_tier_clos", "nodes_per_leaf": 1, "nodes_per_pod": 4, "spines": 2, "core_switches": 2,
     "core_oversubscription": 2.0},
    {"builder": "dragonfly", "routers_per_group": 2, "nodes_per_router": 1},
]


def draw(rng: random.Random) -> dict:
    """One random job on one random fabric (a scenario mapping)."""
    topology = dict(rng.choice(FABRICS), nic_bandwidth=rng.choice(["100 Gb/s", "200 Gb/s", "400 Gb/s"]))
    nodes = rng.choice([1, 2, 3, 4, 6])
    if topology.get("builder") == "dragonfly":
        nodes = 4
    tp, pp = rng.choice([(tp, pp) for tp in (1, 2, 4) for pp in (1, 2, 3) if (nodes * 4) % (tp * pp) == 0])
    dp = nodes * 4 // (tp * pp)
    micro = rng.choice([1, 2])
    parallelism = {"tensor_model_parallel_size": tp, "pipeline_model_parallel_size": pp,
                   "zero_stage": rng.choice([0, 1, 2, 3] if pp == 1 else [0, 1]),
                   "overlap_grad_reduce": rng.random() < 0.5, "sequence_parallel": tp > 1 and rng.random() < 0.5}
    return {"name": "random-job",
            "model": {"hidden_size": 1024, "num_hidden_layers": 6 * pp, "num_attention_heads": 16,
                      "vocab_size": 32000},
            "training": {"micro_batch_size": micro, "global_batch_size": micro * dp * rng.choice([2, 4, 8]),
                         "seq_length": rng.choice([512, 2048])},
            "parallelism": parallelism,
            "system": {"accelerator": rng.choice(["A100-80GB", "H100-SXM"]), "num_nodes": nodes,
                       "gpus_per_node": 4, "topology": topology}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    compared, differing, worst, simulated, world = 0, 0, 0.0, 0, 0
    for case in range(a.cases):
        sc = draw(rng)
        try:
            sym, full = simulate(sc, mode="symmetric"), simulate(sc, mode="full")
        except ConfigError:
            continue   # a drawn plan that does not fit or does not divide
        compared += 1
        gap = abs(sym.iteration_time - full.iteration_time) / full.iteration_time
        links = lambda r: dict(zip(r.tables["links"]["link"], r.tables["links"]["bytes"]))  # noqa: E731
        ls, lf = links(sym), links(full)
        bytes_gap = max((abs(ls.get(k, 0.0) - v) / v for k, v in lf.items() if v), default=0.0)
        worst = max(worst, gap, bytes_gap)
        simulated += sym.summary["simulation"]["simulated_ranks"]
        world += full.summary["simulation"]["simulated_ranks"]
        if gap > 1e-9 or bytes_gap > 1e-9 or set(ls) != set(lf):
            differing += 1
            print(f"case {case}: symmetric {sym.iteration_time!r} full {full.iteration_time!r} "
                  f"(time gap {gap:.2e}, link bytes gap {bytes_gap:.2e}): {sc}")
    print(f"{compared} of {a.cases} drawn cases compared (the rest did not fit); {differing} differ; "
          f"largest relative gap (time or a link's bytes) {worst:.1e}; symmetric mode simulated "
          f"{simulated:,} of {world:,} ranks")


if __name__ == "__main__":
    main()
