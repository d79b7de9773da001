"""Where the wall time of one step simulation goes: the phases of `simulate`, then the functions
that take the most time in the slowest phases (cProfile, which itself slows Python down 1.5-2x).

    python benchmarks/profile_step.py CASE [--top N]

CASE is one of benchmarks/scale.py's cases (gpt3-1k, gpt3-1k-full, llama3-16k, llama3-131k, llama3-100k,
gpt3-10k-fp8, deepseek-v3-1k, deep-batch-32, deep-batch-1k).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("case")
    ap.add_argument("--top", type=int, default=15, help="functions to list per profiled phase")
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from scale import case

    from simulator.api import _result, prepare, step_simulation
    from simulator.hardware import load_calibration
    from simulator.topology import system_cluster

    scenario, mode = case(a.case)
    calib = load_calibration()
    state: dict = {}
    phases = [
        ("compile the job", lambda: state.update(prep=prepare(scenario))),
        ("build the cluster", lambda: state.update(cluster=system_cluster(
            state["prep"].scenario.system, state["prep"].accelerator, state["prep"].job.world,
            calib.protocol_efficiency, calib.hop_latency))),
        ("route and set up", lambda: state.update(sim=step_simulation(state["prep"], state["cluster"], calib, mode))),
        ("run the events", lambda: state.update(step=state["sim"].run())),
        ("summarize", lambda: state.update(result=_result(state["prep"], state["cluster"], state["step"], 0.0))),
    ]
    walls = []
    profiles = []
    for name, fn in phases:
        prof = cProfile.Profile()
        t = time.perf_counter()
        prof.runcall(fn)
        walls.append((name, time.perf_counter() - t))
        profiles.append((name, prof))
    total = sum(w for _, w in walls)
    print(f"{a.case}: {total:.2f} s under the profiler, {state['step'].events:,} events, "
          f"iteration {state['step'].iteration_time:.6g} s")
    for name, w in walls:
        print(f"  {name:<20}{w:>8.2f} s {100 * w / total:>5.1f} %")
    for name, prof in sorted(profiles, key=lambda p: -dict(walls)[p[0]])[:2]:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(a.top)
        body = out.getvalue()
        print(f"\n-- {name}: functions by own time --")
        print(body[body.index("ncalls"):].rstrip())


if __name__ == "__main__":
    main()
