"""The compute model against kernel microbenchmarks, and what it predicts per accelerator.

    python validation/kernels.py

1. Large GEMMs: each accelerator's kernel-level GEMM throughput (dense peak x its measured
   large-GEMM efficiency, `kernels:` in simulator/data/accelerators/*.yaml) against every GEMM
   of validation/data/kernels/gemm.csv of at least 4096^3 multiply-adds: the constants come from
   the largest of these rows (a best-of-sweep where there is one), the other rows check them.
2. HBM: the achievable bandwidth the model uses against BabelStream (validation/data/kernels/hbm.csv).
3. One transformer layer, forward + backward, as the step simulation prices it (the training
   stack's calibration included), on every catalog accelerator in bf16 and fp8, with the ratio to
   the A100: the figure a hardware buyer reads.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.config import load_scenario  # noqa: E402
from simulator.hardware import RooflinePredictor, load_accelerator, load_calibration  # noqa: E402
from simulator.hardware.catalog import catalog_names  # noqa: E402
from simulator.workload.costs import Shape, attention_block, backward, mlp_block  # noqa: E402

KERNELS = ROOT / "validation" / "data" / "kernels"
LARGE = 4096 ** 3          # multiply-adds: a GEMM that fills any of these GPUs many times over
SIDE = 1024                # and no side narrower (a skinny GEMM is limited by its shape, not modelled yet)


def large_gemms() -> None:
    print("Large GEMMs: kernel-level throughput, model vs measured (TFLOP/s)")
    print(f"{'accelerator':<12}{'prec':<6}{'shape (m x n x k)':<22}{'measured':>9}{'model':>8}{'error':>8}  measurement")
    errors = []
    for row in csv.DictReader((KERNELS / "gemm.csv").open()):
        m, n, k = int(row["m"]), int(row["n"]), int(row["k"])
        if m * n * k < LARGE or min(m, n, k) < SIDE:
            continue
        acc = load_accelerator(row["accelerator"])
        model = acc.peak(row["precision"]) * acc.gemm_efficiency(row["precision"]) / 1e12
        measured = float(row["tflops"])
        errors.append(abs(model / measured - 1))
        print(f"{row['accelerator']:<12}{row['precision']:<6}{f'{m} x {n} x {k}':<22}{measured:>9.1f}{model:>8.1f}"
              f"{100 * (model / measured - 1):>+7.1f}%  {row['measurement']}")
    print(f"  {len(errors)} GEMMs: mean |error| {100 * sum(errors) / len(errors):.1f} %, "
          f"largest {100 * max(errors):.1f} %\n")


def hbm() -> None:
    print("HBM bandwidth: model vs BabelStream (GB/s)")
    print(f"{'accelerator':<12}{'kernel':<20}{'measured':>9}{'model':>8}{'error':>8}")
    for row in csv.DictReader((KERNELS / "hbm.csv").open()):
        acc = load_accelerator(row["accelerator"])
        model = acc.hbm_bandwidth * acc.measured_hbm_efficiency / 1e9
        measured = float(row["measured_gbps"])
        print(f"{row['accelerator']:<12}{row['kernel']:<20}{measured:>9.0f}{model:>8.0f}{100 * (model / measured - 1):>+7.1f}%")
    print()


LAYERS = (("Llama-3 8B", "llama3-8b.json", 8192, 1), ("GPT-3 175B", "gpt3-175b.json", 2048, 8))


def layer_times() -> None:
    calib = load_calibration()
    print("One layer, forward + backward, micro-batch 1, as simulated (ms; ratio to A100-80GB)")
    names = catalog_names()
    print(f"{'layer':<26}{'precision':<10}" + "".join(f"{n:>16}" for n in names))
    for label, config, seq, tp in LAYERS:
        sc = load_scenario({"model": {"hf_config": str(ROOT / "scenarios" / "models" / config)},
                            "training": {"micro_batch_size": 1, "global_batch_size": 8, "seq_length": seq},
                            "system": {"accelerator": "A100-80GB", "num_nodes": 1, "gpus_per_node": 8}})
        base = None
        for precision in ("bf16", "fp8"):
            cells = []
            for name in names:
                acc = load_accelerator(name)
                if precision not in acc.peak_flops:
                    cells.append("-")
                    continue
                x = Shape.of(sc.model, sc.training, tp, sc.model.vocab_size, sequence_parallel=tp > 1)
                ops = attention_block(x) + mlp_block(x)
                ops = ops + backward(ops)
                predict = RooflinePredictor(acc, calib, precision).time
                t = sum(predict(op.kind, op.flops, op.bytes) for op in ops)
                base = t if name == "A100-80GB" else base
                cells.append(f"{1e3 * t:.2f}" + (f" ({base / t:.2f}x)" if base else ""))
            print(f"{f'{label} s={seq} TP {tp}':<26}{precision:<10}" + "".join(f"{c:>16}" for c in cells))
    print("  fp8: the GEMMs of the linear layers at the fp8 rate; attention and memory-bound kernels as in bf16.")


if __name__ == "__main__":
    large_gemms()
    hbm()
    layer_times()
