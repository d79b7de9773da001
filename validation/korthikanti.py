"""Memory and iteration time against Korthikanti et al. 2022 (Megatron-LM on Selene, A100-80GB).

    python validation/korthikanti.py

1. Activation memory per layer and micro-batch, simulator vs the paper's closed forms (its
   Table 2): no recompute sbh(10 + 24/t + 5as/(ht)); sequence parallel sbh/t (34 + 5as/h);
   selective + SP 34 sbh/t; full recompute 2sbh.
2. Weights + optimizer bytes per rank vs Megatron's theoretical memory: 18 bytes per parameter
   (6 + 12/d with the distributed optimizer) for the most loaded pipeline stage.
3. Bubble fractions of every pipeline schedule, simulated on uniform stages, vs closed forms.
4. Iteration time and MFU of the paper's runs (validation/data/korthikanti2022.csv).
"""

from __future__ import annotations

import csv
from pathlib import Path

from simulator import simulate
from simulator.config import load_scenario
from simulator.workload import make_plan
from simulator.workload.costs import Shape
from simulator.workload.memory import layer_activation_bytes, memory_per_rank, stage_params

DATA = Path(__file__).resolve().parent / "data" / "korthikanti2022.csv"


def rows() -> list[dict]:
    with open(DATA) as f:
        return list(csv.DictReader(f))


def scenario(row: dict, **over) -> dict:
    n = int(float(row["num_gpus"]))
    vpp = row["vpp"] and int(float(row["vpp"]))
    recompute = "full" if row["recompute"] == "full" else "selective"
    sc = {
        "name": row["id"],
        "model": {"hidden_size": int(float(row["hidden"])), "num_attention_heads": int(float(row["heads"])),
                  "num_hidden_layers": int(float(row["layers"])), "vocab_size": int(float(row["vocab"])),
                  "intermediate_size": int(float(row["ffn_hidden"])), "hidden_act": "gelu"},
        "training": {"micro_batch_size": int(float(row["micro_batch"])),
                     "global_batch_size": int(float(row["global_batch_seqs"])),
                     "seq_length": int(float(row["seq_len"])), "precision": "bf16",
                     "recompute_granularity": recompute, "use_flash_attn": False},
        "parallelism": {"tensor_model_parallel_size": int(float(row["tp"])),
                        "pipeline_model_parallel_size": int(float(row["pp"])),
                        "sequence_parallel": row["sp"] == "yes"},
        "system": {"accelerator": "A100-80GB", "num_nodes": max(1, n // 8), "gpus_per_node": min(n, 8),
                   "topology": {"nic_bandwidth": "200 Gb/s"}},
        "output": {"trace": False},
    }
    if vpp and vpp > 1:
        sc["parallelism"]["virtual_pipeline_model_parallel_size"] = vpp
    sc.update(over)
    return sc


def activation_check() -> list[tuple]:
    out = []
    for row in rows():
        sc = load_scenario(scenario(row))
        m, tr = sc.model, sc.training
        t = sc.parallelism.tensor_model_parallel_size
        s, b, h, a = tr.seq_length, tr.micro_batch_size, m.hidden_size, m.num_attention_heads
        for label, sp, recompute, closed in (
                ("none", False, "none", s * b * h * (10 + 24 / t + 5 * a * s / (h * t))),
                ("sp", True, "none", s * b * h / t * (34 + 5 * a * s / h)),
                ("selective+sp", True, "selective", 34 * s * b * h / t),
                ("full", False, "full", 2 * s * b * h)):
            x = Shape.of(m, tr.__class__(**{**tr.__dict__, "use_flash_attn": False}), t, 51200, sp)
            ours = layer_activation_bytes(x, recompute, t)
            out.append((row["id"], label, ours, closed))
    return out


def weights_check() -> list[tuple]:
    out = []
    for row in rows():
        for zero in (0, 1):
            sc = load_scenario(scenario(row, parallelism={**scenario(row)["parallelism"], "zero_stage": zero}))
            plan = make_plan(sc)
            stage = max(range(plan.pp), key=lambda s: stage_params(sc.model, plan, s))
            mem = memory_per_rank(sc.model, sc.training, plan, stage)
            params = stage_params(sc.model, plan, stage)
            megatron = params * (18 if zero == 0 else 6 + 12 / plan.grad_ranks)
            ours = mem["weights"] + mem["gradients"] + mem["optimizer_states"]
            out.append((row["id"], zero, ours, megatron))
    return out


def pass_times(result) -> tuple[float, float, float]:
    """Forward, input-gradient and weight-gradient time of one micro-batch on stage 1."""
    ops = result.tables["ops"]
    ops = ops[(ops["rank"] == ops["rank"].unique()[1]) & (ops["stream"] == "compute")]
    per_mb = ops.groupby("phase")["duration"].sum() / (ops["microbatch"].max() + 1)
    return per_mb["forward"], per_mb["backward"], per_mb["weight_gradient"]


def bubble_check() -> list[tuple]:
    base = {"model": {"hidden_size": 8192, "num_attention_heads": 64, "num_hidden_layers": 16, "vocab_size": 128,
                      "tie_word_embeddings": False},
            "training": {"micro_batch_size": 1, "global_batch_size": 8, "seq_length": 2048},
            "system": {"accelerator": "A100-80GB", "num_nodes": 1, "gpus_per_node": 4}}
    p, m = 4, 8
    out = []
    for name, extra, closed in (("gpipe", {"pipeline_schedule": "gpipe"}, (p - 1) / (m + p - 1)),
                                ("1f1b", {}, (p - 1) / (m + p - 1)),
                                ("interleaved_1f1b v=2", {"virtual_pipeline_model_parallel_size": 2},
                                 (p - 1) / (2 * m + p - 1)),
                                ("zero_bubble_h1", {"pipeline_schedule": "zero_bubble_h1"}, None)):
        r = simulate({**base, "parallelism": {"pipeline_model_parallel_size": p, **extra}})
        if closed is None:  # ZB-H1: (p-1)(F+B-W) / (m(F+B+W) + (p-1)(F+B-W)), pass times from the ops
            F, B, W = pass_times(r)
            closed = (p - 1) * (F + B - W) / (m * (F + B + W) + (p - 1) * (F + B - W))
        st = r.tables["stages"]
        sim = (st["pipeline_bubble"] / (r.iteration_time - st["optimizer"])).max()
        out.append((name, sim, closed))
    return out


def print_errors(rows, line) -> None:
    """One line per (ours, reference) comparison, then the largest relative error."""
    worst = 0.0
    for row in rows:
        ours, reference = row[-2], row[-1]
        err = ours / reference - 1
        worst = max(worst, abs(err))
        print(line(*row, err))
    print(f"   largest error {100 * worst:.2f} %")


def main() -> None:
    print("1. activation bytes per layer and micro-batch (unfused attention), vs Korthikanti Table 2")
    print(f"   {'run':<26}{'recompute':<14}{'simulator MiB':>15}{'closed form MiB':>17}{'error':>8}")
    print_errors(activation_check(), lambda run, label, ours, closed, err:
                 f"   {run:<26}{label:<14}{ours / 2**20:>15.1f}{closed / 2**20:>17.1f}{100 * err:>+7.2f}%")

    print("\n2. weights + gradients + optimizer per rank, vs Megatron's 18 (or 6 + 12/d) bytes per parameter")
    print_errors(weights_check(), lambda run, zero, ours, megatron, err:
                 f"   {run:<26}zero {zero}   {ours / 2**30:>8.2f} GiB  {megatron / 2**30:>8.2f} GiB  {100 * err:+.2f}%")

    print("\n3. idle fraction on uniform stages (p=4, m=8), simulated vs closed form")
    for name, sim, closed in bubble_check():
        print(f"   {name:<30}{100 * sim:>7.2f} %   closed form {100 * closed:.2f} %")

    print("\n4. iteration time, simulated vs measured (Selene)")
    print(f"   {'run':<26}{'GPUs':>6}{'measured s':>12}{'simulated s':>13}{'error':>8}{'MFU sim':>9}{'MFU paper':>11}")
    errors = []
    for r in iteration_rows():
        err = r["predicted"] / r["measured"] - 1
        errors.append(abs(err))
        print(f"   {r['case']:<26}{r['gpus']:>6}{r['measured']:>12.2f}{r['predicted']:>13.2f}"
              f"{100 * err:>+7.1f}%{100 * r['mfu']:>8.1f}%{r['mfu_paper']:>10.1f}%")
    print(f"   mean absolute error {100 * sum(errors) / len(errors):.1f} %")


def iteration_rows(max_gpus: int | None = None) -> list[dict]:
    """Each Selene run (up to `max_gpus`): measured and predicted iteration time, in
    validation/accuracy.py's row form (with the MFUs beside)."""
    out = []
    for row in rows():
        gpus = int(float(row["num_gpus"]))
        if max_gpus is not None and gpus > max_gpus:
            continue
        r = simulate(scenario(row), check_memory=False)
        out.append({"dataset": "Korthikanti 2022 (Selene)", "case": row["id"], "accelerator": "A100-80GB",
                    "precision": "bf16", "quantity": "iteration s", "measured": float(row["iteration_time_s"]),
                    "predicted": r.iteration_time, "gpus": gpus, "mfu": r.summary["mfu"],
                    "mfu_paper": float(row["mfu_pct"])})
    return out


if __name__ == "__main__":
    main()
