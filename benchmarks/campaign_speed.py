"""Speed of the reliability campaign: wall time of the step simulations a campaign needs and of
its Monte Carlo trials, for the 54-day Llama 3 campaign on 16,384 H100 (1,000 trials), and of a
straggler re-simulation at 16,384 GPUs.

    python benchmarks/campaign_speed.py [--trials 1000]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.config import load_scenario  # noqa: E402
from simulator.reliability import Campaign, Health, StepTimes, run_trials  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=1000)
    a = ap.parse_args()
    sc = load_scenario(ROOT / "scenarios" / "llama3-405b-16384xh100.yaml")
    t0 = time.perf_counter()
    steps = StepTimes(sc)
    healthy = steps.healthy()[0]
    t1 = time.perf_counter()
    print(f"healthy step simulation, 16,384 GPUs: {t1 - t0:.2f} s (iteration {healthy:.3f} s)")
    slow = steps.time(Health(slow=(((7,), 1.5),)))[0]
    t2 = time.perf_counter()
    print(f"straggler re-simulation (one GPU of stage 7 at 1.5x): {t2 - t1:.2f} s (iteration {slow:.3f} s)")
    c = Campaign(sc, steps, trials=a.trials)
    warm = run_trials(c, min(50, a.trials))   # visits the health states (network faults) trials need
    t3 = time.perf_counter()
    print(f"first {len(warm.trials)} trials incl. {steps.simulations - 2} new health-state simulations: {t3 - t2:.2f} s")
    run = run_trials(c)
    t4 = time.perf_counter()
    print(f"{a.trials} trials of 54 days (Monte Carlo only, states memoized; {steps.simulations - 2} fault states "
          f"in all): {t4 - t3:.2f} s, {run.trials['failures'].sum():,} failures")
    print(f"whole campaign from a cold start (these steps together): {t4 - t0:.2f} s; peak memory "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
