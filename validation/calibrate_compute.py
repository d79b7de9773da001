"""Fit the compute constants of calibration.yaml to the vTrain single-node measurements.

    python validation/calibrate_compute.py [--every N] [--rounds R]

Coordinate descent over matmul_efficiency, matmul_half_efficiency_flops, kernel_floor and
memory_efficiency, minimizing the mean absolute percentage error of predicted iteration time over
the single-node runs (every N-th run, default 4). Prints each step and the fitted values; it writes
nothing. The multi-node runs are not used, so `validation/vtrain.py` can report them as held out.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import statistics
from multiprocessing import Pool

from simulator import simulate
from simulator.hardware import load_calibration

from descent import coordinate_descent
from vtrain import DATA, scenario

GRID = {
    "matmul_efficiency": [0.45, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9],
    "matmul_half_efficiency_flops": [0.0, 2e9, 5e9, 1e10, 2e10, 4e10, 8e10],
    "kernel_floor": [0.0, 10e-6, 20e-6, 30e-6, 40e-6, 60e-6, 80e-6, 100e-6, 120e-6, 150e-6],
    "memory_efficiency": [0.5, 0.6, 0.7, 0.8, 0.9],  # beyond 0.9 of HBM peak is not physical
}


def _error(args):
    row, params = args
    calib = dataclasses.replace(load_calibration(), **params)
    measured = float(row["iteration time (ms)"]) / 1e3
    t = simulate(scenario(row), check_memory=False, calibration=calib).iteration_time
    return abs(t - measured) / measured


def mape(pool, rows, params) -> float:
    return statistics.mean(pool.map(_error, [(r, params) for r in rows], chunksize=8))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--every", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with open(DATA / "ground_truth_single.csv") as f:
        rows = list(csv.DictReader(f))[:: args.every]
    base = load_calibration()
    params = {k: getattr(base, k) for k in GRID}
    with Pool() as pool:
        params, best = coordinate_descent(params, GRID, lambda p: mape(pool, rows, p), args.rounds)
    print(f"fitted: {params}  MAPE {100 * best:.2f} % over {len(rows)} single-node runs")


if __name__ == "__main__":
    main()
