"""Every measured dataset of the project in one command: measured vs predicted, row by row.

    python validation/accuracy.py [--fast] [--out accuracy.csv]

Datasets: vTrain (Megatron-DeepSpeed on A100: 109 multi-server and 1,440 single-server runs),
Korthikanti et al. 2022 (Megatron-LM on Selene), nccl-tests all_reduce busbw (A100, 2-128 GPUs,
1 MiB and up), and the kernel microbenchmarks (large GEMMs, HBM, fused attention; the compute
constants are taken from some of these rows: validation/data/kernels/README.md), and NVIDIA's
published Megatron-Core runs on DGX-H100 and DGX-B200 (checks only, validation/h100_runs.py). Prints, per
dataset and per (accelerator, precision): rows, MAPE, median and largest |error| and the signed
bias (mean of predicted / measured - 1). `--out` writes every row as CSV. `--fast` takes a subset
(every 8th multi-server and every 100th single-server vTrain run, the Selene runs up to 64 GPUs,
nccl-tests and the H100 and B200 runs up to 16 GPUs) that the test suite runs with asserted bounds.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import h100_runs  # noqa: E402
import kernels  # noqa: E402
import korthikanti  # noqa: E402
import nccl_tests  # noqa: E402
import vtrain  # noqa: E402

COLUMNS = ("dataset", "case", "accelerator", "precision", "quantity", "measured", "predicted", "error")


def nccl_rows(counts) -> list[dict]:
    return [{"dataset": "nccl-tests all_reduce", "case": f"{n} GPUs, {size} B ({alg})", "accelerator": "A100-40GB",
             "precision": "", "quantity": "busbw B/s", "measured": measured, "predicted": simulated}
            for n, rows in nccl_tests.compare(counts=counts).items() for size, measured, simulated, alg in rows]


def collect(fast: bool = False) -> list[dict]:
    """Every row of every dataset (a subset with `fast`), with its relative error."""
    rows = vtrain.predictions(vtrain.runs("multi", 8 if fast else 1), "multi-server")
    rows += vtrain.predictions(vtrain.runs("single", 100 if fast else 1), "single-server")
    rows += korthikanti.iteration_rows(max_gpus=64 if fast else None)
    rows += nccl_rows((2, 4, 8, 16) if fast else (2, 4, 8, 16, 32, 64, 128))
    rows += kernels.gemm_rows() + kernels.hbm_rows() + kernels.attention_rows()
    rows += h100_runs.predictions(max_gpus=16 if fast else None)
    for r in rows:
        r["error"] = r["predicted"] / r["measured"] - 1
    return [{k: r[k] for k in COLUMNS} for r in rows]


def summary(rows: list[dict], key) -> list[dict]:
    """Per group (`key(row)`): rows, MAPE, median and largest |error|, signed bias."""
    groups: dict[str, list[float]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r["error"])
    return [{"group": g, "rows": len(e), "mape": statistics.mean(map(abs, e)),
             "median": statistics.median(map(abs, e)), "max": max(map(abs, e)), "bias": statistics.mean(e)}
            for g, e in groups.items()]


def print_summary(title: str, table: list[dict]) -> None:
    print(title)
    print(f"  {'':<50}{'rows':>6}{'MAPE':>8}{'median':>8}{'max':>8}{'bias':>8}")
    for s in table:
        print(f"  {s['group']:<50}{s['rows']:>6}{100 * s['mape']:>7.1f}%{100 * s['median']:>7.1f}%"
              f"{100 * s['max']:>7.1f}%{100 * s['bias']:>+7.1f}%")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fast", action="store_true", help="a subset of each dataset")
    ap.add_argument("--out", type=Path, help="write every row here as CSV")
    args = ap.parse_args()
    rows = collect(args.fast)
    print_summary("By dataset", summary(rows, lambda r: r["dataset"]))
    print_summary("\nBy accelerator and precision",
                  summary(rows, lambda r: f"{r['accelerator']} {r['precision'] or '-'}: {r['dataset']}"))
    if args.out:
        with args.out.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        print(f"\n{len(rows)} rows written to {args.out}")


if __name__ == "__main__":
    main()
