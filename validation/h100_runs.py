"""Predicted vs published throughput of Megatron-Core training runs on DGX-H100 and DGX-B200
(checks, never fitted).

    python validation/h100_runs.py [--no-tp-overlap] [--max-gpus N] [--out rows.csv]

Tables of NVIDIA's published pre-training tokens/s per GPU, each row with its whole plan (GPUs,
batch, TP, PP, CP, virtual stages): validation/data/h100_runs.csv (NeMo / Megatron-Bridge
performance summaries, NeMo 24.07-26.06, fp8), validation/data/more_runs.csv (DGX Cloud
benchmarking recipes, NeMo 24.05-25.04, bf16 and fp8) and validation/data/b200_runs.csv (the
Megatron-Bridge performance summaries' DGX-B200 tables). The dense models whose architecture is
public are checked: Llama 2 7B/13B/70B, Llama 3 and 3.1 8B/70B/405B, GPT-3 175B, Nemotron-4
15B/340B; mixture-of-experts rows, FSDP rows and other frameworks are not. What a row does not
state is set as the recipes run (their configuration files, where the table's notes quote them):
- DGX H100 / DGX B200: 8 GPUs per server on NVSwitch, one 400 Gb/s NIC per GPU, rail-optimized
  fat-tree;
- Megatron-Core with Transformer Engine: fused attention, sequence parallelism with TP, TP
  communication overlap (--tp-comm-overlap; `--no-tp-overlap` runs without), distributed optimizer
  with overlapped gradient reduction and parameter gathers; activation recompute only where the
  notes say so (selective for Nemotron-4 340B);
- fp8: MXFP8 block scaling where the page says FP8-MX, current (tensorwise) scaling where it says
  FP8-CS, else delayed scaling, with the parameters all-gathered in fp8 (NeMo's delayed-scaling
  precision plugin, bf16_with_fp8_mixed in nemo/collections/llm/recipes/precision/mixed_precision.py,
  sets fp8_param_gather);
- gradients reduced in bf16: NeMo's benchmark scripts set grad_reduce_in_fp32 = False for bf16
  and fp8 alike (scripts/performance/helpers.py set_precision_configs), as do the recipes'
  pretrain_performance_optimizations for these models (nemo/collections/llm/recipes).
Prints each row's measured and predicted tokens/s per GPU and the signed error, then per model and
precision.
"""

from __future__ import annotations

import argparse
import csv
import statistics
from pathlib import Path

from simulator import simulate

HERE = Path(__file__).resolve().parent
# (table, the system its rows ran on, that system's accelerator)
TABLES = ((HERE / "data" / "h100_runs.csv", "DGX-H100", "H100-SXM"),
          (HERE / "data" / "more_runs.csv", "DGX-H100", "H100-SXM"),
          (HERE / "data" / "b200_runs.csv", "DGX-B200", "B200"))
# a note's recipe -> training.fp8_recipe, the first that matches (upper case); otherwise delayed
FP8_RECIPES = (("MXFP8", "mxfp8"), ("FP8-CS", "tensorwise"))
MODELS = HERE.parent / "scenarios" / "models"


def llama2(hidden: int, ffn: int, layers: int, heads: int, kv: int) -> dict:
    """meta-llama/Llama-2-*-hf config.json."""
    return {"model_type": "llama", "hidden_size": hidden, "intermediate_size": ffn, "num_hidden_layers": layers,
            "num_attention_heads": heads, "num_key_value_heads": kv, "hidden_act": "silu", "vocab_size": 32000,
            "tie_word_embeddings": False}


NEMOTRON4_340B = {"hidden_size": 18432, "intermediate_size": 73728, "num_hidden_layers": 96, "num_attention_heads": 96,
                  "num_key_value_heads": 8, "hidden_act": "relu", "vocab_size": 256000, "tie_word_embeddings": False}

# model label as printed -> model section (a shipped Hugging Face config, or the published one)
ARCHITECTURES = {
    "LLAMA2-7B": llama2(4096, 11008, 32, 32, 32),
    "LLAMA2-13B": llama2(5120, 13824, 40, 40, 40),
    "LLAMA2-70B": llama2(8192, 28672, 80, 64, 8),
    "LLAMA3-8B": {"hf_config": str(MODELS / "llama3-8b.json")},
    "LLAMA3_8B": {"hf_config": str(MODELS / "llama3-8b.json")},
    "LLAMA3-70B": {"hf_config": str(MODELS / "llama3-70b.json")},
    "LLAMA3_70B": {"hf_config": str(MODELS / "llama3-70b.json")},
    "LLAMA3.1_405B": {"hf_config": str(MODELS / "llama3-405b.json")},
    "LLAMA3-405B": {"hf_config": str(MODELS / "llama3-405b.json")},
    "Llama3.1-8B": {"hf_config": str(MODELS / "llama3-8b.json")},     # the same architecture as Llama 3
    "Llama3.1-70B": {"hf_config": str(MODELS / "llama3-70b.json")},
    "Llama3.1-405B": {"hf_config": str(MODELS / "llama3-405b.json")},
    "GPT3-175B": {"hf_config": str(MODELS / "gpt3-175b.json")},
    # nvidia/Nemotron-4-340B-Base model_config.yaml: squared-ReLU MLP (not gated), GQA 8, untied
    "Nemotron-340B": NEMOTRON4_340B,
    "Nemotron4-340B": NEMOTRON4_340B,
    # Nemotron-4 15B (Parmar et al. 2024, arXiv:2402.16819, Table 1): 32 layers, hidden 6144, 48
    # heads, 8 KV heads, vocabulary 256,000, squared-ReLU MLP of 4 x hidden, untied embeddings
    "Nemotron4-15B": {"hidden_size": 6144, "intermediate_size": 24576, "num_hidden_layers": 32,
                      "num_attention_heads": 48, "num_key_value_heads": 8, "hidden_act": "relu",
                      "vocab_size": 256000, "tie_word_embeddings": False},
}
ARCHITECTURES["Nemotron-15B"] = ARCHITECTURES["Nemotron4-15B"]


def scenario(row: dict, tp_overlap: bool = True) -> dict:
    gpus, tp = int(row["num_gpus"]), int(row["tp"])
    vp = int(row["vp"] or 1)
    fp8 = row["precision"] == "fp8"
    training = {"micro_batch_size": int(row["mbs"]), "global_batch_size": int(row["gbs"]),
                "seq_length": int(row["seq_length"]), "precision": row["precision"], "use_flash_attn": True,
                "recompute_granularity": "selective" if "granularity=selective" in row["notes"] else "none",
                "accumulate_allreduce_grads_in_fp32": False}
    if fp8:
        training["fp8_recipe"] = next((v for k, v in FP8_RECIPES if k in row["notes"].upper()), "delayed")
        training["fp8_param_gather"] = training["fp8_recipe"] == "delayed"
    return {
        "name": f"{row['model']} {row['container']}",
        "model": ARCHITECTURES[row["model"]],
        "training": training,
        "parallelism": {"tensor_model_parallel_size": tp, "pipeline_model_parallel_size": int(row["pp"]),
                        "context_parallel_size": int(row["cp"] or 1),
                        "virtual_pipeline_model_parallel_size": vp if vp > 1 else None,
                        "sequence_parallel": tp > 1, "tp_comm_overlap": tp > 1 and tp_overlap, "zero_stage": 1,
                        "overlap_grad_reduce": True, "overlap_param_gather": True},
        "system": {"accelerator": row["accelerator"], "num_nodes": max(1, gpus // 8), "gpus_per_node": min(gpus, 8),
                   "topology": {"nic_bandwidth": "400 Gb/s"}},
        "output": {"trace": False},
    }


def checked_rows(max_gpus: int | None = None) -> list[dict]:
    """The Megatron-Core rows of dense models with a public architecture, run with Megatron's data
    parallelism (not FSDP)."""
    rows = []
    for table, system, accelerator in TABLES:
        with open(table) as f:
            rows += [dict(r, table=table.stem, system=system, accelerator=accelerator) for r in csv.DictReader(f)
                     if r["model"] in ARCHITECTURES and r["fsdp"] in ("", "0") and "MaxText" not in r.get("framework", "")
                     and r["precision"] in ("bf16", "fp8")
                     and (max_gpus is None or int(r["num_gpus"]) <= max_gpus)]
    return rows


def predictions(tp_overlap: bool = True, max_gpus: int | None = None) -> list[dict]:
    """Each checked run, in validation/accuracy.py's row form (tokens/s per GPU)."""
    out = []
    for row in checked_rows(max_gpus):
        r = simulate(scenario(row, tp_overlap), check_memory=False)
        out.append({"dataset": f"{row['system']} Megatron-Core runs",
                    "case": f"{row['model']} {row['container']} {row['precision']} {row['num_gpus']} GPUs",
                    "accelerator": row["accelerator"], "precision": row["precision"], "quantity": "tokens/s per GPU",
                    "measured": float(row["tokens_per_sec_per_gpu"]),
                    "predicted": r.summary["tokens_per_s"] / int(row["num_gpus"]),
                    "model": row["model"].replace("_", "-").replace("3.1", "3").upper() + " " + row["precision"]
                    + ("" if row["system"] == "DGX-H100" else f" ({row['system']})"),
                    "fits": r.summary["memory"]["fits"],
                    "breakdown": r.summary["breakdown_s"], "iteration": r.iteration_time})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-tp-overlap", action="store_true", help="run TP collectives without GEMM overlap")
    ap.add_argument("--max-gpus", type=int, help="only runs of at most this many GPUs")
    ap.add_argument("--out", help="write every row as CSV")
    a = ap.parse_args()
    rows = predictions(not a.no_tp_overlap, a.max_gpus)
    print(f"{'run':<44}{'measured':>10}{'predicted':>11}{'error':>8}  fits  exposed comm + bubble (of iteration)")
    by_model: dict[str, list[float]] = {}
    for r in rows:
        err = r["predicted"] / r["measured"] - 1
        by_model.setdefault(r["model"], []).append(err)
        b = r["breakdown"]
        waste = sum(v for k, v in b.items() if k not in ("compute", "recompute", "optimizer"))
        print(f"{r['case']:<44}{r['measured']:>10,.0f}{r['predicted']:>11,.0f}{100 * err:>+7.1f}%  "
              f"{'yes' if r['fits'] else 'NO ':<4}  {100 * waste / r['iteration']:.0f} %")
    print(f"\n{'model':<30}{'runs':>5}{'mean error':>12}{'MAPE':>8}")
    errors = []
    for m, e in by_model.items():
        errors += e
        print(f"{m:<30}{len(e):>5}{100 * statistics.mean(e):>+11.1f}%{100 * statistics.mean(map(abs, e)):>7.1f}%")
    print(f"{'all':<30}{len(errors):>5}{100 * statistics.mean(errors):>+11.1f}%{100 * statistics.mean(map(abs, errors)):>7.1f}%")
    if a.out:
        with open(a.out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["case", "precision", "measured", "predicted", "fits"], extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
