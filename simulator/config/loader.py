"""Reading scenario files: YAML/JSON in, a validated `Scenario` out, relative paths resolved."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .schema import ModelConfig, Scenario
from .strict import field_names, load_dataclass

# Hugging Face configs of GPT-2-style models use other names for the same fields
# (transformers' GPT2Config.attribute_map); accept both.
HF_ALIASES = {
    "n_embd": "hidden_size",
    "n_layer": "num_hidden_layers",
    "n_head": "num_attention_heads",
    "n_inner": "intermediate_size",
    "n_positions": "max_position_embeddings",
    "activation_function": "hidden_act",
    "num_local_experts": "num_experts",      # Mixtral
    "n_routed_experts": "num_experts",       # DeepSeek
    "decoder_sparse_step": "moe_layer_freq",  # Qwen-MoE
}


def read_mapping(path: Path, field: str) -> dict:
    """Parse a YAML or JSON file into a mapping; a missing or malformed file is a ConfigError."""
    if not path.is_file():
        raise ConfigError(field, str(path), reason="file not found", accepted="an existing file path")
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(field, str(path), reason=f"cannot parse file ({exc})".replace("\n", " "),
                          accepted="valid YAML or JSON") from None
    if not isinstance(data, dict):
        raise ConfigError(field, str(path), reason="file does not hold a mapping",
                          accepted="a YAML/JSON mapping at top level")
    return data


def hf_model_fields(config: dict) -> dict:
    """The fields of a Hugging Face config.json that the model uses; other HF fields are ignored."""
    known = set(field_names(ModelConfig))
    out = {}
    for key, value in config.items():
        key = HF_ALIASES.get(key, key)
        if key in known and value is not None:
            out[key] = value
    if "name" not in out and isinstance(config.get("_name_or_path"), str):
        out["name"] = config["_name_or_path"]
    return out


def _resolve(path_str: str, base: Path) -> Path:
    p = Path(path_str).expanduser()
    return p if p.is_absolute() else (base / p)


def load_scenario(source: str | Path | dict, base_dir: str | Path | None = None) -> Scenario:
    """Load a scenario from a file path or a mapping.

    Relative paths inside (model.hf_config, system.topology.file, an accelerator file) are taken
    relative to the scenario file's folder, or to `base_dir` (default: the working directory) for
    a mapping.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        data = read_mapping(path, "scenario")
        base = path.resolve().parent
        data.setdefault("name", path.stem)
    elif isinstance(source, dict):
        data = dict(source)
        base = Path(base_dir or ".").resolve()
    else:
        raise ConfigError("scenario", type(source).__name__, "a path to a YAML/JSON file or a mapping")

    model = data.get("model")
    if isinstance(model, dict):
        model = {HF_ALIASES.get(k, k): v for k, v in model.items()}
        data["model"] = model
    if isinstance(model, dict) and "hf_config" in model:
        model = dict(model)
        hf_path = model.pop("hf_config")
        if not isinstance(hf_path, str):
            raise ConfigError("scenario.model.hf_config", hf_path, "a path to a Hugging Face config.json")
        merged = hf_model_fields(read_mapping(_resolve(hf_path, base), "scenario.model.hf_config"))
        merged.update(model)  # inline keys override the file's
        data["model"] = merged

    scenario = load_dataclass(Scenario, data, "scenario")

    # Make file references absolute so that the scenario means the same from any folder.
    system = scenario.system
    topo = system.topology
    if topo.file is not None:
        f = _resolve(topo.file, base)
        if not f.is_file():
            raise ConfigError("scenario.system.topology.file", topo.file, reason="file not found",
                              accepted="a topology JSON path, relative to the scenario file")
        topo = dataclasses.replace(topo, file=str(f))
    accel = system.accelerator
    if accel.endswith((".yaml", ".yml", ".json")):
        accel = str(_resolve(accel, base))
    system = dataclasses.replace(system, topology=topo, accelerator=accel)
    rel = scenario.reliability
    if rel.failure_model.endswith((".yaml", ".yml", ".json")):
        rel = dataclasses.replace(rel, failure_model=str(_resolve(rel.failure_model, base)))
    return dataclasses.replace(scenario, system=system, reliability=rel)


def scenario_to_dict(scenario: Scenario) -> dict[str, Any]:
    from .strict import to_plain
    return to_plain(scenario)
