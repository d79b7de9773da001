"""Step-simulation speed at scale: wall time, SimPy events and peak memory per case, each case in
its own process (so that peak memory is its own).

    python benchmarks/scale.py [--full] [CASE ...]

Cases (configurations, not reproductions of published runs):
  gpt3-1k        GPT-3 175B on 1,024 A100 (scenarios/gpt3-175b-1024xa100.yaml), symmetric mode
  gpt3-1k-full   the same in full mode (every rank simulated; about a minute: only with --full)
  llama3-16k     Llama-3 405B on 16,384 H100 (scenarios/llama3-405b-16384xh100.yaml)
  llama3-131k    the same on 131,072 H100 (16,384 servers, three-tier Clos, 8x the batch)
  llama3-100k    the same on 100,224 H100 (12,528 servers: the last pod and leaf part-filled)
  gpt3-10k-fp8   GPT-3 175B on 10,752 H100 in fp8: TP 4 (SP), PP 8 with 6 virtual stages each, DP 336
  deepseek-v3-1k DeepSeek-V3 (scenarios/models/deepseek-v3-like.json) on 1,024 H100 in fp8: PP 16,
                 EP 64, DP 64, distributed optimizer
  deep-batch-32  GPT 1.3B on 8 A100, 32 micro-batches per iteration
  deep-batch-1k  the same with 1,024 micro-batches

Where the time of one case goes: python benchmarks/profile_step.py CASE
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


def case(name: str):
    from simulator.config import load_scenario
    if name.startswith("gpt3-1k"):
        return load_scenario(SCENARIOS / "gpt3-175b-1024xa100.yaml"), "full" if name.endswith("full") else None
    if name == "llama3-16k":
        return load_scenario(SCENARIOS / "llama3-405b-16384xh100.yaml"), None
    if name in ("llama3-131k", "llama3-100k"):
        sc = load_scenario(SCENARIOS / "llama3-405b-16384xh100.yaml")
        servers = 16384 if name == "llama3-131k" else 12528
        topo = dataclasses.replace(sc.system.topology, builder="three_tier_clos")
        batch = sc.training.global_batch_size * servers // sc.system.num_nodes   # the same per replica
        return dataclasses.replace(sc, system=dataclasses.replace(sc.system, num_nodes=servers, topology=topo),
                                   training=dataclasses.replace(sc.training, global_batch_size=batch)), None
    if name == "deepseek-v3-1k":
        return {"name": "deepseek-v3-1024xh100", "model": {"hf_config": str(SCENARIOS / "models/deepseek-v3-like.json")},
                "training": {"micro_batch_size": 1, "global_batch_size": 2048, "seq_length": 4096, "precision": "fp8",
                             "recompute_granularity": "full"},
                "parallelism": {"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 16,
                                "expert_model_parallel_size": 64, "zero_stage": 1},
                "system": {"accelerator": "H100-SXM", "num_nodes": 128, "gpus_per_node": 8,
                           "topology": {"nic_bandwidth": "400 Gb/s"}}}, None
    if name == "gpt3-10k-fp8":
        return {"name": "gpt3-175b-10752xh100-fp8", "model": {"hf_config": str(SCENARIOS / "models/gpt3-175b.json")},
                "training": {"micro_batch_size": 1, "global_batch_size": 2688, "seq_length": 2048, "precision": "fp8"},
                "parallelism": {"tensor_model_parallel_size": 4, "pipeline_model_parallel_size": 8,
                                "virtual_pipeline_model_parallel_size": 6, "sequence_parallel": True, "zero_stage": 1},
                "system": {"accelerator": "H100-SXM", "num_nodes": 1344, "gpus_per_node": 8,
                           "topology": {"nic_bandwidth": "400 Gb/s"}}}, None
    if name.startswith("deep-batch"):
        sc = load_scenario(SCENARIOS / "gpt-1.3b-8xa100.yaml")
        micro = 32 if name.endswith("32") else 1024
        per_step = sc.training.micro_batch_size * sc.system.num_nodes * sc.system.gpus_per_node
        return dataclasses.replace(sc, training=dataclasses.replace(sc.training, global_batch_size=per_step * micro)), None
    raise SystemExit(f"unknown case {name!r}")


def measure(name: str) -> dict:
    """Run one case in this process and return its figures."""
    import resource

    from simulator import simulate
    sc, mode = case(name)
    t = time.perf_counter()
    r = simulate(sc, mode=mode)
    wall = time.perf_counter() - t
    sim = r.summary["simulation"]
    return {"case": name, "gpus": r.summary["parallelism"]["world"], "mode": sim["mode"], "wall_s": wall,
            "events": sim["events"], "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "iteration_s": r.iteration_time}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="*")
    ap.add_argument("--full", action="store_true", help="include full mode on 1,024 GPUs (minutes)")
    ap.add_argument("--one", help=argparse.SUPPRESS)   # run one case here and print its JSON
    a = ap.parse_args()
    if a.one:
        print(json.dumps(measure(a.one)))
        return
    names = a.cases or ["gpt3-1k", "llama3-16k", "llama3-131k", "llama3-100k", "gpt3-10k-fp8", "deepseek-v3-1k",
                        "deep-batch-32", "deep-batch-1k"] + \
        (["gpt3-1k-full"] if a.full else [])
    print(f"{'case':<16}{'GPUs':>8}{'mode':>11}{'wall s':>9}{'events':>11}{'peak GiB':>10}{'iteration s':>13}")
    for name in names:
        out = subprocess.run([sys.executable, __file__, "--one", name], capture_output=True, text=True, cwd=ROOT)
        if out.returncode:
            print(f"{name:<16} failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
            continue
        m = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{m['case']:<16}{m['gpus']:>8,}{m['mode']:>11}{m['wall_s']:>9.2f}{m['events']:>11,}"
              f"{m['peak_gib']:>10.2f}{m['iteration_s']:>13.4f}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
