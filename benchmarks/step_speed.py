"""Wall time and event count of simulating one iteration of each example scenario.

    python benchmarks/step_speed.py [SCENARIO ...]

Prints one line per scenario: GPUs, simulation mode, wall time (best of 3), SimPy events.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from simulator import simulate
from simulator.config import load_scenario

ROOT = Path(__file__).resolve().parent.parent


def main(paths: list[str]) -> None:
    files = [Path(p) for p in paths] or sorted((ROOT / "scenarios").glob("*.yaml"))
    print(f"{'scenario':<28}{'GPUs':>7}{'mode':>11}{'wall s':>9}{'events':>10}{'events/s':>11}{'iteration':>12}")
    for f in files:
        sc = load_scenario(f)
        best = None
        for _ in range(3):
            t = time.perf_counter()
            r = simulate(sc)
            wall = time.perf_counter() - t
            best = wall if best is None else min(best, wall)
        sim = r.summary["simulation"]
        print(f"{sc.name:<28}{r.summary['parallelism']['world']:>7}{sim['mode']:>11}{best:>9.2f}"
              f"{sim['events']:>10,}{sim['events'] / best:>11,.0f}{r.iteration_time:>11.3f}s")


if __name__ == "__main__":
    main(sys.argv[1:])
