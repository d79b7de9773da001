"""Simulated vs measured all_reduce bus bandwidth (nccl-tests on Azure ND A100 v4, 2-128 GPUs).

    python validation/nccl_tests.py [--detail]

For every GPU count in validation/data/nccl-tests-a100-ib, simulates the logged message sizes on
the system of validation/systems/azure-ndv4-a100.yaml and compares busbw (out-of-place). Prints,
per GPU count, the largest error for messages >= 64 MiB and for 1 MiB to 64 MiB.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

from simulator.api import bench_collective, load_system

HERE = Path(__file__).resolve().parent
LOGS = HERE / "data" / "nccl-tests-a100-ib"
SYSTEM = HERE / "systems" / "azure-ndv4-a100.yaml"
MiB = 2**20
_ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\w+)\s+(\w+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)")


def parse_log(path: Path) -> list[tuple[int, float, float]]:
    """(size bytes, out-of-place time s, busbw bytes/s) rows of an all_reduce_perf log."""
    rows = []
    for line in path.read_text().splitlines():
        line = re.sub(r"^\[\d+,\d+\]<stdout>:", "", line)
        m = _ROW.match(line)
        if m:
            rows.append((int(m.group(1)), float(m.group(5)) * 1e-6, float(m.group(7)) * 1e9))
    return rows


def system_for(gpus: int):
    base = load_system(SYSTEM)
    return dataclasses.replace(base, num_nodes=max(1, gpus // 8), gpus_per_node=min(gpus, 8))


def compare(calibration=None, counts=(2, 4, 8, 16, 32, 64, 128), min_size=MiB):
    """{gpus: [(size, measured busbw, simulated busbw, algorithm)]} for sizes >= min_size."""
    out = {}
    for n in counts:
        rows = [r for r in parse_log(LOGS / f"nccl_{n}.log") if r[0] >= min_size]
        df = bench_collective(system_for(n), "all_reduce", n, [float(r[0]) for r in rows],
                              calibration=calibration)
        out[n] = [(size, bus, sim, alg) for (size, _, bus), sim, alg in zip(rows, df["busbw"], df["algorithm"])]
    return out


def summarize(results) -> list[tuple[int, float, float]]:
    """Per GPU count: max |error| for >= 64 MiB and for 1-64 MiB."""
    table = []
    for n, rows in results.items():
        big = [abs(s / m - 1) for size, m, s, _ in rows if size >= 64 * MiB]
        mid = [abs(s / m - 1) for size, m, s, _ in rows if MiB <= size < 64 * MiB]
        table.append((n, max(big), max(mid)))
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--detail", action="store_true", help="print every message size")
    args = ap.parse_args()
    results = compare()
    if args.detail:
        for n, rows in results.items():
            print(f"\n{n} GPUs\n{'size':>12}{'measured':>10}{'simulated':>11}{'error':>8}  algorithm")
            for size, m, s, alg in rows:
                print(f"{size:>12}{m / 1e9:>10.2f}{s / 1e9:>11.2f}{100 * (s / m - 1):>+7.1f}%  {alg}")
    print("\nall_reduce busbw error, simulated vs nccl-tests (A100 + HDR InfiniBand)")
    print(f"{'GPUs':>6}{'>= 64 MiB':>12}{'1-64 MiB':>12}")
    for n, big, mid in summarize(results):
        print(f"{n:>6}{100 * big:>11.1f}%{100 * mid:>11.1f}%")


if __name__ == "__main__":
    main()
