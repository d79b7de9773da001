"""Predicted vs measured iteration time on the vTrain ground truth (Megatron-DeepSpeed, A100).

    python validation/vtrain.py [--single N] [--multi]

Each measured run becomes a scenario with the setup the dataset states: GPT layers (4h MLP,
vocabulary 50257), fp16, full activation recompute, unfused attention, 1F1B, no gradient
bucketing, 8 A100 per server on NVSwitch and 800 Gb/s per server (4 x 200 Gb/s NICs).
Prints per-group errors and the mean absolute percentage error (MAPE).
"""

from __future__ import annotations

import argparse
import csv
import statistics
from pathlib import Path

from simulator import simulate

DATA = Path(__file__).resolve().parent / "data" / "vtrain"


def scenario(row: dict) -> dict:
    gpus = int(row["# GPUs"])
    nodes = max(1, gpus // 8)
    return {
        "name": "vtrain",
        "model": {"hidden_size": int(row["hidden size"]), "num_attention_heads": int(row["attention heads"]),
                  "num_hidden_layers": int(row["# layers"]), "vocab_size": 50257, "hidden_act": "gelu"},
        "training": {"micro_batch_size": int(row["micro batch"]), "global_batch_size": int(row["global batch"]),
                     "seq_length": int(row["sequence length"]), "precision": "fp16",
                     "recompute_granularity": "full", "use_flash_attn": False,
                     "framework": "megatron-deepspeed"},
        "parallelism": {"tensor_model_parallel_size": int(row["tensor parallelism"]),
                        "pipeline_model_parallel_size": int(row["pipeline parallelism"]),
                        "data_parallel_size": int(row["data parallelism"])},
        "system": {"accelerator": "A100-80GB", "num_nodes": nodes, "gpus_per_node": min(gpus, 8),
                   "topology": {"nics_per_node": min(4, min(gpus, 8)), "nic_bandwidth": "200 Gb/s"}},
        "output": {"trace": False},
    }


def predictions(rows: list[dict], label: str) -> list[dict]:
    """Each run: measured and predicted iteration time (s), in validation/accuracy.py's row form."""
    return [{"dataset": f"vTrain {label}", "case": f"{row['# GPUs']} GPUs tp{row['tensor parallelism']} "
                                                 f"pp{row['pipeline parallelism']} h{row['hidden size']}",
             "accelerator": "A100-80GB", "precision": "fp16", "quantity": "iteration s",
             "measured": float(row["iteration time (ms)"]) / 1e3,
             "predicted": simulate(scenario(row), check_memory=False).iteration_time,
             "group": f"tp{row['tensor parallelism']} pp{row['pipeline parallelism']}"} for row in rows]


def evaluate(rows: list[dict], label: str) -> list[float]:
    errors = []
    by_group: dict[str, list[float]] = {}
    for r in predictions(rows, label):
        err = (r["predicted"] - r["measured"]) / r["measured"]
        errors.append(err)
        by_group.setdefault(r["group"], []).append(err)
    print(f"\n{label}: {len(rows)} runs")
    print(f"  {'plan':<10}{'runs':>6}{'MAPE %':>9}{'mean err %':>12}")
    for key in sorted(by_group):
        e = by_group[key]
        print(f"  {key:<10}{len(e):>6}{100 * statistics.mean(map(abs, e)):>9.1f}{100 * statistics.mean(e):>+12.1f}")
    print(f"  all       {len(errors):>6}{100 * statistics.mean(map(abs, errors)):>9.1f}"
          f"{100 * statistics.mean(errors):>+12.1f}")
    return errors


def runs(kind: str, every: int = 1) -> list[dict]:
    """The dataset's rows: kind 'multi' or 'single', every N-th."""
    with open(DATA / f"ground_truth_{kind}.csv") as f:
        return list(csv.DictReader(f))[::every]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--single", type=int, default=0, help="use every N-th single-node run (0: all)")
    ap.add_argument("--multi-only", action="store_true")
    args = ap.parse_args()
    evaluate(runs("multi"), "multi-node (64-512 GPUs)")
    if not args.multi_only:
        evaluate(runs("single", args.single or 1), "single node (2-8 GPUs)")

if __name__ == "__main__":
    main()
