"""Megatron-LM's own argument names, accepted in scenario files where their meaning is unambiguous,
and Megatron launch lines turned into scenarios (`clustersim import megatron`).

Names are Megatron's with dashes as underscores (`--num-layers` is `num_layers`). A flag that
clustersim models is translated (`bf16: true` is `precision: bf16`; `use_distributed_optimizer:
true` is `zero_stage: 1`); one it does not model is listed by the importer, never dropped silently.
"""

from __future__ import annotations

import shlex
from typing import Any

from .errors import ConfigError

# model section: plain renames
MODEL_RENAMES = {
    "num_layers": "num_hidden_layers",
    "ffn_hidden_size": "intermediate_size",
    "num_query_groups": "num_key_value_heads",
    "kv_channels": "head_dim",
    "moe_router_topk": "num_experts_per_tok",
    "moe_ffn_hidden_size": "moe_intermediate_size",
    "moe_shared_expert_intermediate_size": "shared_expert_intermediate_size",
    "mtp_num_layers": "mtp_layers",
}
# Megatron arguments by the section of the scenario they belong to (the same name there)
SECTIONS = {
    "model": ("hidden_size", "num_attention_heads", "vocab_size", "max_position_embeddings", "num_experts",
              *MODEL_RENAMES, "swiglu", "untie_embeddings_and_output_weights", "group_query_attention"),
    "training": ("micro_batch_size", "global_batch_size", "seq_length", "bf16", "fp16", "fp8_format", "fp8_recipe",
                 "fp8_dot_product_attention",
                 "recompute_granularity", "recompute_activations", "use_flash_attn",
                 "accumulate_allreduce_grads_in_fp32", "fp8_param_gather"),
    "parallelism": ("tensor_model_parallel_size", "pipeline_model_parallel_size", "context_parallel_size",
                    "expert_model_parallel_size", "virtual_pipeline_model_parallel_size",
                    "num_layers_per_virtual_pipeline_stage", "sequence_parallel", "tp_comm_overlap", "use_distributed_optimizer",
                    "overlap_grad_reduce", "overlap_param_gather", "ddp_bucket_size"),
}
# flags that change nothing clustersim models (numerics of the optimizer, data, logging)
NOT_COST = ("lr", "min_lr", "lr_decay_style", "lr_warmup_iters", "lr_warmup_fraction", "weight_decay",
            "clip_grad", "adam_beta1", "adam_beta2", "adam_eps", "init_method_std", "train_iters",
            "train_samples", "data_path", "tokenizer_type", "tokenizer_model", "vocab_file", "merge_file",
            "save", "load", "save_interval", "eval_interval", "eval_iters", "log_interval", "split", "seed",
            "attention_dropout", "hidden_dropout", "normalization", "norm_epsilon", "position_embedding_type",
            "rotary_base", "no_masked_softmax_fusion", "use_mcore_models", "disable_bias_linear",
            "distributed_backend", "tensorboard_dir", "wandb_project", "exit_duration_in_mins")


def megatron_names(data: dict, where: str = "scenario") -> dict:
    """`data` with Megatron's names in its model, training and parallelism sections turned into
    clustersim's; a Megatron name and the clustersim field it sets, both given and different, is a
    ConfigError."""
    out = dict(data)
    model = dict(out["model"]) if isinstance(out.get("model"), dict) else None
    if model is not None:
        for old, new in MODEL_RENAMES.items():
            if old in model:
                _set(model, new, model.pop(old), f"{where}.model.{old}")
        if "swiglu" in model:
            if _flag(model.pop("swiglu"), f"{where}.model.swiglu"):
                _set(model, "hidden_act", "silu", f"{where}.model.swiglu")
        if "untie_embeddings_and_output_weights" in model:
            untie = _flag(model.pop("untie_embeddings_and_output_weights"),
                          f"{where}.model.untie_embeddings_and_output_weights")
            _set(model, "tie_word_embeddings", not untie, f"{where}.model.untie_embeddings_and_output_weights")
        model.pop("group_query_attention", None)   # implied by num_query_groups
        out["model"] = model
    training = dict(out["training"]) if isinstance(out.get("training"), dict) else None
    if training is not None:
        for flag, precision in (("bf16", "bf16"), ("fp16", "fp16")):
            if flag in training and _flag(training.pop(flag), f"{where}.training.{flag}"):
                _set(training, "precision", precision, f"{where}.training.{flag}")
        if "fp8_format" in training:
            training.pop("fp8_format")
            _set(training, "precision", "fp8", f"{where}.training.fp8_format")
        if "fp8_dot_product_attention" in training:
            _set(training, "fp8_attention", _flag(training.pop("fp8_dot_product_attention"),
                                                  f"{where}.training.fp8_dot_product_attention"),
                 f"{where}.training.fp8_dot_product_attention")
        if "recompute_activations" in training:
            if _flag(training.pop("recompute_activations"), f"{where}.training.recompute_activations"):
                _set(training, "recompute_granularity", "selective", f"{where}.training.recompute_activations")
        out["training"] = training
    par = dict(out["parallelism"]) if isinstance(out.get("parallelism"), dict) else None
    if par is not None:
        if "use_distributed_optimizer" in par:
            if _flag(par.pop("use_distributed_optimizer"), f"{where}.parallelism.use_distributed_optimizer"):
                _set(par, "zero_stage", 1, f"{where}.parallelism.use_distributed_optimizer")
        if "num_layers_per_virtual_pipeline_stage" in par:
            field = f"{where}.parallelism.num_layers_per_virtual_pipeline_stage"
            per_chunk = par.pop("num_layers_per_virtual_pipeline_stage")
            layers = (model or {}).get("num_hidden_layers")
            pp = par.get("pipeline_model_parallel_size", 1)
            if not (isinstance(per_chunk, int) and isinstance(layers, int) and isinstance(pp, int)
                    and per_chunk > 0 and pp > 0 and layers % (pp * per_chunk) == 0):
                raise ConfigError(field, per_chunk, f"a divisor of num_hidden_layers / pipeline_model_parallel_size "
                                                    f"({layers} / {pp})")
            _set(par, "virtual_pipeline_model_parallel_size", layers // (pp * per_chunk), field)
        out["parallelism"] = par
    return out


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(field, value, "true or false")
    return value


def _set(section: dict, key: str, value: Any, field: str) -> None:
    if key in section and section[key] != value:
        raise ConfigError(field, value, reason=f"it sets {key} = {value!r}, but {key} is {section[key]!r}",
                          accepted="one of the two, or the same value in both")
    section[key] = value


def parse_launch_line(text: str) -> tuple[dict[str, Any], list[str]]:
    """A Megatron launch line ('torchrun --nnodes 16 ... pretrain_gpt.py --num-layers 96 ...') as
    {argument: value} (flags are true; numbers are numbers), and the arguments that are not
    Megatron's or torchrun's options (the script name, stray words)."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ConfigError("megatron arguments", text, f"a shell-quoted command line ({exc})") from None
    args, other, i = {}, [], 0
    while i < len(words):
        w = words[i]
        if w.startswith("--"):
            name, _, inline = w[2:].partition("=")
            name = name.replace("-", "_")
            if inline:
                args[name] = _number(inline)
            elif i + 1 < len(words) and not words[i + 1].startswith("--"):
                args[name] = _number(words[i + 1])   # one value: a script name may follow an option
                i += 1
            else:
                args[name] = True
        else:
            other.append(w)
        i += 1
    return args, other


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def scenario_from_megatron(args: dict[str, Any], system: dict[str, Any]) -> tuple[dict, list[str]]:
    """A scenario mapping from Megatron arguments (as `parse_launch_line` gives them) and a
    `system` section; and the arguments not modelled (listed, never dropped silently; those in
    NOT_COST change nothing the simulator predicts)."""
    # --deepspeed: a Megatron-DeepSpeed launch; otherwise Megatron-LM (Megatron-Core)
    framework = "megatron-deepspeed" if args.get("deepspeed") not in (None, False) else "megatron-core"
    data: dict[str, Any] = {"model": {}, "training": {"framework": framework}, "parallelism": {},
                            "system": dict(system)}
    ignored = []
    for name, value in args.items():
        section = next((s for s, names in SECTIONS.items() if name in names), None)
        if section is not None:
            data[section][name] = value
        elif name in ("nnodes", "nproc_per_node", "node_rank", "master_addr", "master_port", "rdzv_endpoint",
                      "rdzv_backend", "rdzv_id", "deepspeed"):
            continue     # torchrun's (the system section says how many servers and GPUs); --deepspeed: the framework
        else:
            ignored.append(name)
    return data, sorted(ignored)
