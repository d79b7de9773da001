"""Fit each accelerator's GEMM shape constants (kernels.gemm_shape in its catalog file) to the
published GEMM throughputs of validation/data/kernels/ (gemm.csv and gemm_shapes.csv).

    python validation/calibrate_gemm.py

The model is hardware.compute.gemm_kernel_time at the accelerator's measured large-GEMM rate
(peak x kernels.gemm_efficiency) over its compute units. Two constants per chip are fitted by a
grid search minimizing the mean |log(predicted / measured time)|: the fixed time per kernel and
the tile prologue (k steps each tile spends outside its main loop). Fitted on vendor-library
rows only (cuBLAS, cuBLASLt, hipBLASLt, and the kernels XLA picks among them); the specialised
kernels (DeepGEMM, AITER, TileLang) and the rows the data README flags as probable split-K timing
artefacts are left out of the fit and reported as checks; grouped GEMMs are left out. Both A100
memory sizes are one chip and are fitted together. Prints the fit, its errors by precision and
GEMM size, and the checks; writes nothing.
"""

from __future__ import annotations

import csv
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.hardware import load_accelerator, load_calibration  # noqa: E402
from simulator.hardware.compute import gemm_kernel_time  # noqa: E402

KERNELS = ROOT / "validation" / "data" / "kernels"
FAMILIES = {"A100": ("A100-80GB", "A100-40GB"), "H100-SXM": ("H100-SXM",), "H200": ("H200",),
            "B200": ("B200",), "MI300X": ("MI300X",)}
SPECIALISED = ("DeepGEMM", "AITER", "TileLang", "grouped")
CATALOG_NAME = {"H800": "H100-SXM"}   # same SMs and tensor-core rate (gemm_shapes.md)
FIXED_GRID = [i * 0.5e-6 for i in range(21)]
PROLOGUE_GRID = list(range(0, 513, 32))


def rows() -> list[dict]:
    out = []
    for name in ("gemm.csv", "gemm_shapes.csv"):
        with open(KERNELS / name) as f:
            out += [dict(r, notes=r.get("notes") or "") for r in csv.DictReader(f)]
    return out


def fitting(row: dict) -> bool:
    return "FLAG" not in row["notes"] and not any(s in row["measurement"] for s in SPECIALISED)


def _flops(row: dict) -> float:
    return 2.0 * int(row["m"]) * int(row["n"]) * int(row["k"])


def _large_gemm_rate(row: dict) -> float:
    """The row's chip's peak x large-GEMM efficiency at the row's precision (bf16's for fp16)."""
    acc = load_accelerator(CATALOG_NAME.get(row["accelerator"], row["accelerator"]))
    return acc.peak(row["precision"]) * (acc.gemm_efficiency(row["precision"]) or acc.gemm_efficiency("bf16"))


def model_time(row: dict, fixed: float, prologue: float) -> float:
    """Seconds the shape model gives one published GEMM, with these constants."""
    acc = load_accelerator(CATALOG_NAME.get(row["accelerator"], row["accelerator"]))
    m, n, k = int(row["m"]), int(row["n"]), int(row["k"])
    # a chip without a bandwidth measurement (B200) takes the A100's fraction, as the simulator does
    memory_rate = acc.hbm_bandwidth * (acc.measured_hbm_efficiency or load_accelerator("A100-80GB").measured_hbm_efficiency)
    operand = 1 if row["precision"] == "fp8" else 2
    moved = operand * (m * k + k * n) + 2 * m * n   # operands in, 16-bit result out
    return max(gemm_kernel_time(m, k, n, _large_gemm_rate(row), acc.compute_units, fixed, prologue, memory_rate),
               moved / memory_rate)


def measured_time(row: dict) -> float:
    return _flops(row) / (float(row["tflops"]) * 1e12)


def log_error(row: dict, fixed: float, prologue: float) -> float:
    """log(model time / measured time) of one published GEMM."""
    return math.log(model_time(row, fixed, prologue) / measured_time(row))


def curve_log_error(row: dict) -> float:
    """log(model time / measured time) of the size curve the step simulation prices GEMMs with."""
    model = (_flops(row) + load_calibration().matmul_half_efficiency_flops) / _large_gemm_rate(row)
    return math.log(model / measured_time(row))


def fit(family_rows: list[dict]) -> tuple[float, float, float]:
    best = (math.inf, 0.0, 0.0)
    for fixed in FIXED_GRID:
        for prologue in PROLOGUE_GRID:
            score = statistics.mean(abs(log_error(r, fixed, prologue)) for r in family_rows)
            if score < best[0]:
                best = (score, fixed, prologue)
    return best


def bands(errors: list[tuple[dict, float]]) -> str:
    groups: dict[tuple, list] = {}
    for r, e in errors:
        groups.setdefault((r["precision"], int(math.log10(_flops(r)))), []).append(e)
    return "  ".join(f"{p} 1e{b}: {math.exp(statistics.mean(v)) - 1:+.0%} ({len(v)})" for (p, b), v in sorted(groups.items()))


def main() -> None:
    data = rows()
    print("GEMM shape model, fitted per accelerator on vendor-library rows "
          "(error = model time / measured time - 1, geometric mean)")
    fitted = {}
    for family, members in FAMILIES.items():
        family_rows = [r for r in data if r["accelerator"] in members and fitting(r)]
        score, fixed, prologue = fit(family_rows)
        fitted[family] = (fixed, prologue)
        errors = [(r, log_error(r, fixed, prologue)) for r in family_rows]
        worst = max(abs(e) for _, e in errors)
        curve = statistics.mean(abs(curve_log_error(r)) for r in family_rows)
        print(f"{family:9s} {len(family_rows):3d} rows  fixed_time {fixed * 1e6:.1f} us  tile_prologue {prologue:3.0f}"
              f"  mean |log error| {score:.3f} (about {math.exp(score) - 1:.0%}), worst {math.exp(worst) - 1:.0%};"
              f" size curve {curve:.3f}")
        print("          by precision and FLOPs per GEMM:", bands(errors))
    print("\nChecks (not fitted): specialised kernels against the vendor-library model of their chip")
    checks: dict[tuple, list] = {}
    for r in data:
        name = CATALOG_NAME.get(r["accelerator"], r["accelerator"])
        family = next((f for f, m in FAMILIES.items() if name in m), None)
        if family is None or fitting(r) or "grouped" in r["measurement"]:
            continue   # grouped rows give the shape of one group of several: not one GEMM
        kind = "flagged (split-K artefact?)" if "FLAG" in r["notes"] else r["measurement"].split(",")[0][:40]
        checks.setdefault((r["accelerator"], r["precision"], kind), []).append(log_error(r, *fitted[family]))
    for (acc, precision, kind), errs in sorted(checks.items()):
        print(f"  {acc:9s} {precision:5s} {kind:42s} {len(errs):3d} rows  bias {math.exp(statistics.mean(errs)) - 1:+.0%}"
              f"  mean |error| {math.exp(statistics.mean(map(abs, errs))) - 1:.0%}")


if __name__ == "__main__":
    main()
