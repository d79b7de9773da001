"""Reading Hugging Face `config.json` files faithfully, family by family.

A config.json leaves out what its family's code takes as default: Llama's embeddings are untied
unless it says otherwise, GPT-2's are tied; Gemma's MLP is gated (GeGLU) although its activation
is a GELU; Gemma 2 has four norms per layer and alternates sliding-window and global layers. Each
`model_type` below states those defaults. What a
config says that changes the cost but is not modelled (biases, learned positions) is kept as a warning on the model, which `validate`,
`run` and summary.json show: never silence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ConfigError, shown
from .schema import LAYERS   # a count beyond it is refused by the loader, naming the field


@dataclass(frozen=True)
class Family:
    gated: bool          # MLP with a gate (SwiGLU, GeGLU): three weight matrices
    tied: bool           # tie_word_embeddings when the config does not say
    act: str             # hidden_act when the config does not say
    norms: int = 2       # norms per layer with weights (OLMo's have none)
    qk_norm: str = "none"   # queries and keys normed: per head (Qwen3, Gemma 3) or whole (OLMo 2)
    notes: tuple[str, ...] = ()   # what the family's code always has and the simulator leaves out


BIASES = "biases of every linear layer and norm are left out: a fraction of a percent of FLOPs and parameters"
QKV_BIAS = "the query, key and value biases are left out: a fraction of a percent of parameters"
GPT_OSS = ("the experts' and router's biases and the attention sinks are left out: "
           "a fraction of a percent of parameters")

# Defaults from each family's configuration class in transformers (PretrainedConfig subclasses).
FAMILIES = {
    "llama": Family(True, False, "silu"), "mistral": Family(True, False, "silu"),
    "mixtral": Family(True, False, "silu"), "qwen2": Family(True, False, "silu", notes=(QKV_BIAS,)),
    "qwen2_moe": Family(True, False, "silu", notes=(QKV_BIAS, "the shared expert's gate (one h-wide weight per "
                                                    "layer) is left out: a fraction of a percent of parameters")),
    "qwen3": Family(True, False, "silu", qk_norm="per_head"), "qwen3_moe": Family(True, False, "silu", qk_norm="per_head"),
    "phi3": Family(True, False, "silu"),
    "olmo": Family(True, False, "silu", norms=0),    # non-parametric layer norms
    "olmo2": Family(True, False, "silu", qk_norm="whole"),
    "deepseek_v2": Family(True, False, "silu"), "deepseek_v3": Family(True, False, "silu"),
    "gpt_oss": Family(True, False, "silu", notes=(GPT_OSS,)),
    "gemma": Family(True, True, "gelu_pytorch_tanh"), "gemma2": Family(True, True, "gelu_pytorch_tanh", 4),
    "gemma3_text": Family(True, True, "gelu_pytorch_tanh", 4, qk_norm="per_head"),
    "gpt2": Family(False, True, "gelu_new", notes=(BIASES, "learned positional embeddings are left out "
                                                   "(n_positions x n_embd parameters)")),
    "gpt_neox": Family(False, False, "gelu", notes=(BIASES,)),
    "falcon": Family(False, True, "gelu"),
}

# Other names of the same fields (transformers' attribute_map and family-specific names)
ALIASES = {
    "n_embd": "hidden_size", "n_layer": "num_hidden_layers", "n_head": "num_attention_heads",
    "n_inner": "intermediate_size", "n_positions": "max_position_embeddings",
    "activation_function": "hidden_act", "hidden_activation": "hidden_act",   # GPT-2, Gemma
    "num_local_experts": "num_experts",       # Mixtral, GPT-OSS
    "n_routed_experts": "num_experts",        # DeepSeek
    "decoder_sparse_step": "moe_layer_freq",  # Qwen-MoE
    "num_nextn_predict_layers": "mtp_layers",  # DeepSeek-V3's multi-token prediction depth
    "num_kv_heads": "num_key_value_heads",    # Falcon
    "n_head_kv": "num_key_value_heads",       # Falcon (early)
}


def read_family(config: dict, known: set[str]) -> tuple[dict, list[str]]:
    """The model fields of a config.json (nested `text_config` unwrapped), its family's defaults
    filled in, and warnings for what changes the cost but is not modelled."""
    if isinstance(config.get("text_config"), dict):   # Gemma 3, Llama 4 and other multimodal wrappers
        config = {**config["text_config"], "_name_or_path": config.get("_name_or_path")}
    warnings = []
    out: dict[str, Any] = {}
    for key, value in config.items():
        key = ALIASES.get(key, key)
        if key in known and value is not None:
            out[key] = value
    if "name" not in out and isinstance(config.get("_name_or_path"), str):
        out["name"] = config["_name_or_path"]
    model_type = config.get("model_type")
    if model_type is not None and not isinstance(model_type, str):
        raise ConfigError("model.hf_config: model_type", model_type, "a family name such as 'llama' or 'gemma2'")
    family = FAMILIES.get(model_type)
    if family is None:
        warnings.append(f"model_type {shown(model_type)} has no family rules here: fields are read by name "
                        f"(families: {', '.join(sorted(FAMILIES))})")
    else:
        out.setdefault("hidden_act", family.act)
        out.setdefault("tie_word_embeddings", family.tied)
        out["mlp_gated"] = family.gated
        out["norms_per_layer"] = family.norms
        out["qk_norm"] = family.qk_norm
        warnings += family.notes
    if model_type == "falcon" and not config.get("new_decoder_architecture"):
        # Falcon's original layout: one key/value head under multi_query (num_kv_heads, which
        # configs may carry, is then ignored), else one per query head
        out["num_key_value_heads"] = 1 if config.get("multi_query", True) else out.get("num_attention_heads")
    if config.get("use_sliding_window") is False:    # Qwen2: a window is configured but not used
        out.pop("sliding_window", None)
    layers = out.get("num_hidden_layers")
    if out.get("sliding_window") and "layer_types" not in out and isinstance(layers, int) and 0 < layers <= LAYERS:
        pattern = {"gemma2": 2}.get(model_type) or config.get("sliding_window_pattern")
        if pattern is not None and (isinstance(pattern, bool) or not isinstance(pattern, int) or pattern < 1):
            raise ConfigError("model.hf_config: sliding_window_pattern", pattern,
                              "a positive whole number: every pattern-th layer attends to all keys")
        if pattern:   # every pattern-th layer attends to all keys, the others to the window
            out["layer_types"] = ["full_attention" if (i + 1) % pattern == 0 else "sliding_attention"
                                  for i in range(layers)]
    warnings += unmodelled(config)
    return out, warnings


def unmodelled(config: dict) -> list[str]:
    """What the config says that changes the cost and the simulator does not model."""
    out = []
    biases = [k for k in ("attention_bias", "mlp_bias", "qkv_bias", "bias", "add_bias_linear") if config.get(k) is True]
    if biases:
        out.append(f"biases ({', '.join(biases)}) are left out: a fraction of a percent of FLOPs and parameters")
    return out
