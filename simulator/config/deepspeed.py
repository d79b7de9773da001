"""DeepSpeed configs (ds_config.json) turned into scenarios (`clustersim import deepspeed`).

A DeepSpeed config describes data parallelism with ZeRO: the batch (train_batch_size =
micro-batch x gradient accumulation x data-parallel size), the ZeRO stage and its buckets, the
precision. The model comes from its Hugging Face config, the cluster from the command line.
Keys that would change the cost but are not modelled (CPU/NVMe offload, ...) are listed.
"""

from __future__ import annotations

from typing import Any

from .errors import ConfigError

NO_COST = ("optimizer", "scheduler", "gradient_clipping", "steps_per_print", "wall_clock_breakdown",
           "tensorboard", "wandb", "csv_monitor", "comms_logger", "flops_profiler", "prescale_gradients",
           "zero_allow_untested_optimizer", "seed")


def scenario_from_deepspeed(ds: dict, system: dict, seq_length: int) -> tuple[dict, list[str]]:
    """(scenario sections training, parallelism, system; notes on what is not modelled)."""
    world = system["num_nodes"] * system["gpus_per_node"]
    micro, accumulation, total = (ds.get("train_micro_batch_size_per_gpu"), ds.get("gradient_accumulation_steps"),
                                  ds.get("train_batch_size"))
    if total is None:
        if micro is None:
            raise ConfigError("deepspeed config.train_batch_size", None,
                              "train_batch_size, or train_micro_batch_size_per_gpu (and gradient_accumulation_steps)")
        total = micro * (accumulation or 1) * world
    if micro is None:
        micro = total // ((accumulation or 1) * world) if total % ((accumulation or 1) * world) == 0 else None
        if micro is None:
            raise ConfigError("deepspeed config.train_batch_size", total,
                              f"a multiple of gradient_accumulation_steps x {world} GPUs")
    training: dict[str, Any] = {"micro_batch_size": micro, "global_batch_size": total, "seq_length": seq_length,
                                "framework": "deepspeed-zero"}
    for key, precision in (("bf16", "bf16"), ("fp16", "fp16")):
        if isinstance(ds.get(key), dict) and ds[key].get("enabled") in (True, "auto"):
            training["precision"] = precision
    zero = ds.get("zero_optimization") or {}
    if not isinstance(zero, dict):
        raise ConfigError("deepspeed config.zero_optimization", zero, "a mapping")
    parallelism: dict[str, Any] = {"zero_stage": zero.get("stage", 0)}
    if zero.get("overlap_comm"):
        parallelism["overlap_grad_reduce"] = True
    if zero.get("reduce_bucket_size") not in (None, "auto"):
        size = zero["reduce_bucket_size"]   # elements: DeepSpeed's unit too; JSON reads 5e8 as a float
        parallelism["ddp_bucket_size"] = int(size) if isinstance(size, float) and size.is_integer() else size
    notes = []
    offload = [k for k in ("offload_optimizer", "offload_param") if zero.get(k)]
    if offload:
        notes.append(f"not modelled (may change cost): zero_optimization.{', zero_optimization.'.join(offload)} "
                     "(states are simulated in HBM)")
    modelled = {"train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "bf16", "fp16",
                "zero_optimization"}
    costly = sorted(k for k in ds if k not in modelled and k not in NO_COST)
    if costly:
        notes.append(f"not modelled (may change cost): {', '.join(costly)}")
    quiet = sorted(k for k in ds if k in NO_COST)
    if quiet:
        notes.append(f"not modelled (no effect on cost): {', '.join(quiet)}")
    return {"training": training, "parallelism": parallelism, "system": system}, notes
