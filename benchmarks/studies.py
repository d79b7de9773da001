"""Speed of the studies, and how well the search's estimate agrees with the step simulation.

    python benchmarks/studies.py [--sample N] [--workers W]

Prints:
- search: candidate plans per second for GPT-3 175B on 1,024 A100 (scenarios/gpt3-175b-1024xa100.yaml)
  with the whole search space, the final ranking from the step simulation of the top 5; and for
  Llama-3 405B on 16,384 H100;
- estimate vs simulation on N plans drawn at random (seed 0) from the GPT-3 plans that fit:
  median and largest relative error, and Spearman's rank correlation;
- sweep: points per second for a 48-point sweep of GPT 1.3B on 8 A100 on a local pool.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


def search_rate(path: Path, top: int = 5):
    from simulator.config import load_scenario
    from simulator.studies.search import search
    sc = load_scenario(path)
    result = search(sc, top=top)
    df = result.table
    print(f"search {path.name}: {result.considered:,} candidates ({len(df):,} valid, {int(df['fits'].sum()):,} fit), "
          f"{df['simulated_s'].notna().sum()} simulated, {result.wall_time_s:.1f} s wall: "
          f"{result.considered / result.wall_time_s:,.0f} candidates/s")
    best = df.iloc[0]
    print(f"  best: {best['plan']}  {best['simulated_s']:.3f} s (estimate {best['estimate_s']:.3f} s)")
    return sc, df


def estimate_agreement(sc, df, n: int) -> None:
    from simulator.api import simulate
    from simulator.studies.search import Candidate
    fit = df[df["fits"]]
    rows = random.Random(0).sample(list(fit.index), min(n, len(fit)))
    est, sim = [], []
    started = time.perf_counter()
    for i in rows:
        cand = Candidate.from_row(fit.loc[i])
        est.append(fit.at[i, "estimate_s"])
        sim.append(simulate(cand.apply(sc)).summary["iteration_time_s"])
    errors = sorted(abs(e / s - 1) for e, s in zip(est, sim))
    print(f"estimate vs step simulation, {len(rows)} random fitting plans ({time.perf_counter() - started:.0f} s): "
          f"median error {errors[len(errors) // 2]:.1%}, largest {errors[-1]:.1%}, "
          f"Spearman rank correlation {spearman(est, sim):.3f}")


def spearman(a: list[float], b: list[float]) -> float:
    def ranks(x):
        order = sorted(range(len(x)), key=x.__getitem__)
        r = [0.0] * len(x)
        for k, i in enumerate(order):
            r[i] = k
        return r
    ra, rb = ranks(a), ranks(b)
    n = len(a)
    return 1 - 6 * sum((x - y) ** 2 for x, y in zip(ra, rb)) / (n * (n * n - 1))


def sweep_rate(workers: int | None) -> None:
    from simulator.studies import load_study, run_sweep
    study = {"sweep": {"scenario": str(SCENARIOS / "gpt-1.3b-8xa100.yaml"),
                       "grid": {"system.accelerator": ["A100-80GB", "H100-SXM", "H200"],
                                "training.micro_batch_size": [1, 2, 4, 8]},
                       "zip": {"parallelism.tensor_model_parallel_size": [1, 2, 2, 4],
                               "parallelism.pipeline_model_parallel_size": [1, 1, 2, 2]}}}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "study.yaml"
        path.write_text(yaml.safe_dump(study, sort_keys=False))
        st = load_study(path)
        started = time.perf_counter()
        df = run_sweep(st, Path(tmp), workers=workers)
        wall = time.perf_counter() - started
    print(f"sweep gpt-1.3b-8xa100: {len(df)} points in {wall:.1f} s on {workers or 'all'} local workers: "
          f"{len(df) / wall:.1f} points/s ({int(df['fits'].sum())} fit)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=int, default=24, help="random plans simulated to check the estimate")
    ap.add_argument("--workers", type=int, default=None, help="local workers of the sweep (default: all cores)")
    args = ap.parse_args()
    sc, df = search_rate(SCENARIOS / "gpt3-175b-1024xa100.yaml")
    search_rate(SCENARIOS / "llama3-405b-16384xh100.yaml")
    if args.sample:
        estimate_agreement(sc, df, args.sample)
    sweep_rate(args.workers)


if __name__ == "__main__":
    main()
