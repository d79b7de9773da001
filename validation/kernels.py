"""The compute model against kernel microbenchmarks, and what it predicts per accelerator.

    python validation/kernels.py

1. Large GEMMs: each accelerator's kernel-level GEMM throughput (dense peak x its measured
   large-GEMM efficiency, `kernels:` in simulator/data/accelerators/*.yaml) against every GEMM
   of validation/data/kernels/gemm.csv of at least 4096^3 multiply-adds: the constants come from
   the largest of these rows (a best-of-sweep where there is one), the other rows check them.
   Then the same size curve against GEMMs of every shape (gemm_shapes.csv), by size: what a
   shape model would have to capture.
2. HBM: the achievable bandwidth the model uses against BabelStream (validation/data/kernels/hbm.csv).
3. Fused attention: R(s) = R_max s / (s + half_keys) per accelerator (`flash_attention` in the
   accelerator files) against every row of validation/data/kernels/attention.csv, with the least-
   squares fit the constants come from; and by head dimension: each kernel's rate at head dim 64
   or 256 over its rate at 128 (validation/data/kernels/attention_more.csv), the ratios the
   accelerator files use.
4. fp8 against bf16 for the GEMMs of one layer (their fp8 casts included), against Transformer
   Engine's GEMM profiling tutorial (a check: nothing is fitted to it).
5. One transformer layer, forward + backward, as the step simulation prices it (the training
   stack's calibration included), on every catalog accelerator in bf16 and fp8, with the ratio to
   the A100: the figure a hardware buyer reads.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.config import load_scenario  # noqa: E402
from simulator.hardware import RooflinePredictor, load_accelerator, load_calibration  # noqa: E402
from simulator.hardware.catalog import catalog_names  # noqa: E402
from simulator.workload.costs import Shape, attention_block, backward, mlp_block  # noqa: E402

sys.path.insert(0, str(ROOT / "validation"))
from calibrate_gemm import curve_log_error, measured_time, model_time  # noqa: E402

KERNELS = ROOT / "validation" / "data" / "kernels"
LARGE = 4096 ** 3          # multiply-adds: a GEMM that fills any of these GPUs many times over
SIDE = 1024                # and no side narrower (a skinny GEMM is limited by its shape, not modelled yet)


def gemm_rows() -> list[dict]:
    """Every large GEMM of gemm.csv: the kernel shape model (the accelerator's large-GEMM rate,
    tiles in waves over its compute units, its gemm_shape constants) vs measured."""
    out = []
    for row in csv.DictReader((KERNELS / "gemm.csv").open()):
        m, n, k = int(row["m"]), int(row["n"]), int(row["k"])
        if m * n * k < LARGE or min(m, n, k) < SIDE:
            continue
        acc = load_accelerator(row["accelerator"])
        out.append({"dataset": "kernels: GEMM", "case": f"{m}x{n}x{k} {row['measurement']}",
                    "accelerator": row["accelerator"], "precision": row["precision"], "quantity": "TFLOP/s",
                    "measured": float(row["tflops"]),
                    "predicted": 2 * m * n * k / model_time(row, *acc.gemm_shape) / 1e12})
    return out


def hbm_rows() -> list[dict]:
    """BabelStream rows of hbm.csv: the bandwidth the model uses vs measured."""
    out = []
    for row in csv.DictReader((KERNELS / "hbm.csv").open()):
        acc = load_accelerator(row["accelerator"])
        out.append({"dataset": "kernels: HBM", "case": row["kernel"], "accelerator": row["accelerator"],
                    "precision": "", "quantity": "GB/s", "measured": float(row["measured_gbps"]),
                    "predicted": acc.hbm_bandwidth * acc.measured_hbm_efficiency / 1e9})
    return out


def large_gemms() -> None:
    print("Large GEMMs: kernel-level throughput, model vs measured (TFLOP/s)")
    print(f"{'accelerator':<12}{'prec':<6}{'shape (m x n x k), measurement':<56}{'measured':>9}{'model':>8}{'error':>8}")
    rows = gemm_rows()
    for r in rows:
        print(f"{r['accelerator']:<12}{r['precision']:<6}{r['case']:<56}{r['measured']:>9.1f}{r['predicted']:>8.1f}"
              f"{100 * (r['predicted'] / r['measured'] - 1):>+7.1f}%")
    errors = [abs(r["predicted"] / r["measured"] - 1) for r in rows]
    print(f"  {len(errors)} GEMMs: mean |error| {100 * sum(errors) / len(errors):.1f} %, "
          f"largest {100 * max(errors):.1f} %\n")


def gemm_shapes() -> None:
    """Two GEMM models by size against gemm_shapes.csv: the size curve the step simulation prices
    a GEMM with (peak x large-GEMM efficiency x F / (F + F_half), F_half the calibration's, fitted
    on training runs, so it holds the training stack's per-GEMM cost too), and the kernel shape
    model (hardware.compute.gemm_kernel_time with the accelerator's kernels.gemm_shape). Rows the
    README flags as split-K timings and grouped GEMMs are left out."""
    bands: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
    for row in csv.DictReader((KERNELS / "gemm_shapes.csv").open()):
        if row["accelerator"] not in catalog_names() or "split" in row["notes"].lower() \
                or "grouped" in row["measurement"]:   # a grouped row's shape is one group's
            continue
        acc = load_accelerator(row["accelerator"])
        if row["precision"] not in acc.peak_flops or acc.gemm_efficiency(row["precision"]) is None \
                and acc.gemm_efficiency("bf16") is None:
            continue
        # model throughput / measured - 1 = measured time / model time - 1
        curve = math.exp(-curve_log_error(row)) - 1
        shape = measured_time(row) / model_time(row, *acc.gemm_shape) - 1
        band = min(12, max(8, int(math.log10(2 * int(row["m"]) * int(row["n"]) * int(row["k"])))))
        bands.setdefault((row["accelerator"], row["precision"], band), []).append((curve, shape))
    print("GEMMs by shape (gemm_shapes.csv): throughput of the size curve (step simulation) and of the kernel "
          "shape model vs measured, by FLOPs per GEMM")
    print(f"  {'accelerator':<12}{'prec':<6}{'FLOPs':<10}{'rows':>5}{'curve bias':>12}{'spread':>18}"
          f"{'shape bias':>12}{'spread':>18}")
    for (acc, prec, band), errors in sorted(bands.items()):
        label = "<1e9" if band == 8 else (">=1e12" if band == 12 else f"1e{band}")
        cols = ""
        for errs in zip(*errors):
            cols += f"{100 * statistics.mean(errs):>+11.0f}%{100 * min(errs):>+9.0f}% .. {100 * max(errs):+.0f}%"
        print(f"  {acc:<12}{prec:<6}{label:<10}{len(errors):>5}{cols}")
    print("  (negative: the model is slower than the kernel; at a fixed size the spread is the shape's effect)\n")


def hbm() -> None:
    print("HBM bandwidth: model vs BabelStream (GB/s)")
    print(f"{'accelerator':<12}{'kernel':<20}{'measured':>9}{'model':>8}{'error':>8}")
    for r in hbm_rows():
        print(f"{r['accelerator']:<12}{r['case']:<20}{r['measured']:>9.0f}{r['predicted']:>8.0f}"
              f"{100 * (r['predicted'] / r['measured'] - 1):>+7.1f}%")
    print()


def attention_throughput(row: dict) -> float:
    """A row's forward + backward TFLOP/s as the benchmarks count them (backward = 2.5 forwards)."""
    if row["fwd_bwd_tflops"]:
        return float(row["fwd_bwd_tflops"])
    return 3.5 / (1 / float(row["fwd_tflops"]) + 2.5 / float(row["bwd_tflops"]))


def fit_flash(points: list[tuple[int, float]]) -> tuple[float, float]:
    """(R_max, half_keys) minimising the squared relative error of the kernel times."""
    best = None
    for half in range(0, 20001):
        g = [s / (s + half) for s, _ in points]
        a = [r / gi for (_, r), gi in zip(points, g)]
        x = sum(a) / sum(v * v for v in a)              # 1 / R_max, in closed form
        err = sum((v * x - 1) ** 2 for v in a)
        if best is None or err < best[0]:
            best = (err, 1 / x, half)
    return best[1], best[2]


def attention_sets() -> dict[tuple[str, str], list[tuple[int, float, str]]]:
    """(accelerator, precision) -> [(keys, fwd + bwd TFLOP/s as benchmarks count, implementation)]:
    attention.csv (16-bit; B200 from 2k keys, where the ramp is fitted) and the fp8 kernels of
    attention_more.csv (forward and backward rows joined per length, from 2k keys)."""
    out: dict[tuple[str, str], list[tuple[int, float, str]]] = {}
    for r in csv.DictReader((KERNELS / "attention.csv").open()):
        if r["accelerator"] != "B200" or int(r["seq"]) >= 2048:
            out.setdefault((r["accelerator"], "bf16"), []).append((int(r["seq"]), attention_throughput(r),
                                                                   r["implementation"]))
    fp8: dict[tuple, dict] = {}
    for r in csv.DictReader((KERNELS / "attention_more.csv").open()):
        if r["precision"] == "fp8" and int(r["seq_len"]) >= 2048:
            fp8.setdefault((r["accelerator"], int(r["seq_len"]), r["implementation"]), {})[r["direction"]] = r["tflops"]
    for (name, seq, implementation), t in sorted(fp8.items()):
        throughput = attention_throughput({"fwd_bwd_tflops": "", "fwd_tflops": t["fwd"], "bwd_tflops": t["bwd"]})
        out.setdefault((name, "fp8"), []).append((seq, throughput, implementation + " fp8"))
    return out


def attention_rows() -> list[dict]:
    """Each fused-attention measurement: the accelerator's curve vs measured (benchmark FLOPs)."""
    out = []
    for (name, precision), points in attention_sets().items():
        acc = load_accelerator(name)
        efficiency, half = acc.flash_attention_fp8 if precision == "fp8" else acc.flash_attention
        for seq, throughput, implementation in points:
            out.append({"dataset": "kernels: fused attention", "case": f"{implementation}, {seq} keys",
                        "accelerator": name, "precision": precision, "quantity": "TFLOP/s", "measured": throughput,
                        "predicted": efficiency * acc.peak("bf16") / 1e12 * seq / (seq + half)})
    return out


def head_dim_ratios() -> dict[tuple[str, str, int], list[float]]:
    """(accelerator, implementation and direction, head dim) -> the measured rate over the same
    kernel's at head dim 128, one ratio per sequence length (attention_more.csv; A100 head dim 128
    from attention.csv, the same chart)."""
    rates: dict[tuple, dict] = {}
    for r in csv.DictReader((KERNELS / "attention_more.csv").open()):
        if r["precision"] in ("fp16", "bf16") and r["accelerator"] in ("A100-80GB", "H100-SXM"):
            rates.setdefault((r["accelerator"], f"{r['implementation']} {r['direction']}"), {})[
                (int(r["head_dim"]), int(r["seq_len"]))] = float(r["tflops"])
    for r in csv.DictReader((KERNELS / "attention.csv").open()):
        if r["accelerator"] == "A100-80GB":
            rates[("A100-80GB", "FlashAttention-2 fwd+bwd")][(128, int(r["seq"]))] = attention_throughput(r)
    out = {}
    for (acc, kernel), v in rates.items():
        for (d, s), rate in v.items():
            if d != 128 and (128, s) in v:
                out.setdefault((acc, kernel, d), []).append(rate / v[(128, s)])
    return out


def head_dims() -> None:
    print("Fused attention by head dimension: rate / rate at head dim 128 (mean over sequence lengths)")
    for (acc, kernel, d), ratios in sorted(head_dim_ratios().items()):
        used = load_accelerator(acc).flash_head_dims.get(d)
        print(f"  {acc:<10} {kernel:<28} head dim {d:>3}: {statistics.mean(ratios):.3f} "
              f"({min(ratios):.3f}-{max(ratios):.3f}, {len(ratios)} lengths)" + (f"  <- used: {used}" if used else ""))
    print()


def attention() -> None:
    print("Fused attention, causal, head dim 128, forward + backward (TFLOP/s as the benchmarks count)")
    rows = attention_rows()
    for (name, precision), points in attention_sets().items():
        acc = load_accelerator(name)
        efficiency, half = acc.flash_attention_fp8 if precision == "fp8" else acc.flash_attention
        peak = acc.peak("bf16") / 1e12
        r_max, fit_half = fit_flash([(seq, throughput) for seq, throughput, _ in points])
        print(f"{name} ({points[0][2]}): model R_max {efficiency * peak:.0f} "
              f"({efficiency:.3f} of the 16-bit peak), half_keys {half:.0f}; least squares on these rows: "
              f"{r_max:.0f} ({r_max / peak:.3f}), {fit_half}")
        print("   " + "; ".join(f"{r['case'].split(', ')[-1]}: {r['measured']:.0f} vs {r['predicted']:.0f} "
                                f"({100 * (r['predicted'] / r['measured'] - 1):+.1f}%)"
                                for r in rows if r["accelerator"] == name and r["precision"] == precision))
    print()


# Transformer Engine docs/examples/gemm_profiling/gemm_profiling.rst (TE HEAD d0067d0d): hidden 4096,
# intermediate 16384, 32 heads, M = 31 x 512 = 15,872 tokens; the 12 GEMMs of a layer (forward,
# dgrad, wgrad) per layer, autocast (quantization included), on an H200 NVL: BF16 32.014 ms,
# FP8 delayed scaling 18.978 ms, FP8 current (tensorwise) scaling 20.285 ms ("FP8Delayed vs BF16:
# 1.69x, FP8Current vs BF16: 1.58x").
TE_TUTORIAL = {("bf16", None): 32.014e-3, ("fp8", "delayed"): 18.978e-3, ("fp8", "tensorwise"): 20.285e-3}


def fp8_gemms() -> float:
    """Print the fp8 speed-ups of one layer's GEMMs (casts included), model vs Transformer Engine's
    measurement; return the largest relative error of the speed-ups."""
    calib = load_calibration()
    times = {}
    for precision, recipe in TE_TUTORIAL:
        sc = load_scenario({"model": {"hidden_size": 4096, "intermediate_size": 16384, "num_attention_heads": 32,
                                      "num_hidden_layers": 24, "vocab_size": 32000, "hidden_act": "gelu"},
                            "training": {"micro_batch_size": 31, "global_batch_size": 31, "seq_length": 512,
                                         "precision": precision, "fp8_recipe": recipe or "delayed"},
                            "system": {"accelerator": "H200", "num_nodes": 1, "gpus_per_node": 1}})
        x = Shape.of(sc.model, sc.training, 1, sc.model.vocab_size)
        ops = attention_block(x) + mlp_block(x)
        predict = RooflinePredictor(load_accelerator("H200"), calib, precision).time
        times[precision, recipe] = sum(predict(op) for op in ops + backward(ops)
                                       if op.kind in ("matmul", "matmul16", "cast"))
    print("fp8 vs bf16, the GEMMs of one layer with their casts (Transformer Engine GEMM profiling tutorial)")
    base, worst = ("bf16", None), 0.0
    print(f"  bf16: model (H200 SXM) {1e3 * times[base]:.2f} ms, measured (H200 NVL) {1e3 * TE_TUTORIAL[base]:.2f} ms")
    for key in list(TE_TUTORIAL)[1:]:
        model, measured = times[base] / times[key], TE_TUTORIAL[base] / TE_TUTORIAL[key]
        worst = max(worst, abs(model / measured - 1))
        print(f"  fp8 {key[1]}: model {1e3 * times[key]:.2f} ms, {model:.2f}x; measured {1e3 * TE_TUTORIAL[key]:.2f} ms, "
              f"{measured:.2f}x; speed-up error {100 * (model / measured - 1):+.1f} %")
    print("  (the NVL part runs at a lower power limit than the SXM one: compare the speed-ups, not the times)\n")
    return worst


LAYERS = (("Llama-3 8B", "llama3-8b.json", 8192, 1), ("GPT-3 175B", "gpt3-175b.json", 2048, 8))


def layer_times() -> None:
    calib = load_calibration()
    print("One layer, forward + backward, micro-batch 1, as simulated (ms; ratio to A100-80GB)")
    names = catalog_names()
    print(f"{'layer':<26}{'precision':<21}" + "".join(f"{n:>16}" for n in names))
    for label, config, seq, tp in LAYERS:
        sc = load_scenario({"model": {"hf_config": str(ROOT / "scenarios" / "models" / config)},
                            "training": {"micro_batch_size": 1, "global_batch_size": 8, "seq_length": seq},
                            "system": {"accelerator": "A100-80GB", "num_nodes": 1, "gpus_per_node": 8}})
        base = None
        for precision, row in (("bf16", "bf16"), ("fp8", "fp8"), ("fp8", "fp8 + fp8 attention")):
            cells = []
            for name in names:
                acc = load_accelerator(name)
                if precision not in acc.peak_flops:
                    cells.append("-")
                    continue
                x = dataclasses.replace(Shape.of(sc.model, sc.training, tp, sc.model.vocab_size, sequence_parallel=tp > 1),
                                        fp8="delayed" if precision == "fp8" else None,
                                        fp8_attention=row.endswith("attention"))
                ops = attention_block(x) + mlp_block(x)
                ops = ops + backward(ops)
                predict = RooflinePredictor(acc, calib, precision).time
                t = sum(predict(op) for op in ops)
                base = t if name == "A100-80GB" else base
                cells.append(f"{1e3 * t:.2f}" + (f" ({base / t:.2f}x)" if base else ""))
            print(f"{f'{label} s={seq} TP {tp}':<26}{row:<21}" + "".join(f"{c:>16}" for c in cells))
    print("  fp8: the linear layers' GEMMs at the fp8 rate with their casts; attention and the rest as in bf16.\n"
          "  fp8 attention: the fused attention kernel on fp8 inputs too, at its measured rate (B200); a chip\n"
          "  without that measurement keeps the 16-bit kernel's rate.")


if __name__ == "__main__":
    large_gemms()
    gemm_shapes()
    hbm()
    attention()
    head_dims()
    fp8_gemms()
    layer_times()
