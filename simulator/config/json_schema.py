"""JSON Schema (draft 2020-12) of scenario files, generated from the loader's own field metadata:
types, bounds, choices as enums, units as patterned strings, defaults and docs. Editors use it to
complete and check scenarios as they are typed (`clustersim schema > scenario.schema.json`).

The schema checks shapes; the loader still checks what a schema cannot say (a plan that divides
the world, a model that fits). Hugging Face aliases (n_embd, ...) and `model.hf_config` are allowed
in `model`, whose sizes may then come from the config file, so none of them is required there.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from .hf import ALIASES as HF_ALIASES
from .megatron import MODEL_RENAMES
from .schema import ModelConfig, Scenario
from .units import KINDS, quantity_pattern

SCHEMA_ID = "https://clustersim.dev/schema/scenario.json"


def scenario_schema(extra_sections: dict[str, type] | None = None) -> dict:
    """The schema of a scenario file; `extra_sections` adds optional top-level sections (the
    `sweep:` of a study file, the `plan:` of a planning file) by their dataclasses."""
    schema = _object(Scenario)
    for name, cls in (extra_sections or {}).items():
        schema["properties"][name] = _object(cls)
    model = schema["properties"]["model"]
    model.pop("required", None)                     # sizes may come from hf_config
    model["properties"]["hf_config"] = {"type": "string", "description": "A Hugging Face config.json, relative "
                                        "to the scenario file; keys written here override the file's."}
    for alias, name in {**HF_ALIASES, **MODEL_RENAMES}.items():
        model["properties"][alias] = {**model["properties"][name], "description": f"Alias of {name}."}
    flag = {"type": "boolean"}
    megatron = {"model": {"swiglu": flag, "untie_embeddings_and_output_weights": flag, "group_query_attention": flag},
                "training": {"bf16": flag, "fp16": flag, "recompute_activations": flag, "fp8_format": {"type": "string"}},
                "parallelism": {"use_distributed_optimizer": flag,
                                "num_layers_per_virtual_pipeline_stage": {"type": "integer", "minimum": 1}}}
    for section, names in megatron.items():
        for name, rule in names.items():
            schema["properties"][section]["properties"][name] = {**rule, "description": "Megatron's argument."}
    head = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, "title": "clustersim scenario"}
    if "sweep" not in (extra_sections or {}):
        return {**head, **schema}
    # a study over a base scenario (sweep.scenario) holds only the changes: nothing is required
    return {**head, "$defs": {"scenario": schema, "changes": _without_required(schema)},
            "if": {"required": ["sweep"], "properties": {"sweep": {"required": ["scenario"]}}},
            "then": {"$ref": "#/$defs/changes"}, "else": {"$ref": "#/$defs/scenario"}}


def _without_required(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_required(v) for k, v in node.items() if k != "required"}
    if isinstance(node, list):
        return [_without_required(v) for v in node]
    return node


def _object(cls: type) -> dict:
    hints = typing.get_type_hints(cls)
    props, required = {}, []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        props[f.name] = _field(hints[f.name], dict(f.metadata))
        if f.default is not dataclasses.MISSING and _plain(f.default):
            props[f.name]["default"] = f.default
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    out = {"type": "object", "description": (cls.__doc__ or "").strip().split("\n")[0],
           "properties": props, "additionalProperties": False}
    if required and cls is not ModelConfig:
        out["required"] = required
    return out


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _field(tp: Any, meta: dict) -> dict:
    doc = meta.get("doc") or ""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        inner = _field(args[0], meta)
        return {"anyOf": [inner, {"type": "null"}], "description": doc}
    if dataclasses.is_dataclass(tp):
        return {**_object(tp), "description": doc or _object(tp)["description"]}
    if origin is dict:
        _, vt = typing.get_args(tp)
        return {"type": "object", "additionalProperties": _field(vt, {**meta, "doc": ""}), "description": doc}
    if origin in (list, tuple):
        (et, *_) = typing.get_args(tp)
        return {"type": "array", "items": _field(et, {**meta, "doc": ""}), "description": doc}
    if meta.get("unit"):
        return {"type": "string", "pattern": quantity_pattern(meta["unit"]),
                "description": (doc + " " if doc else "") + KINDS[meta["unit"]] + "."}
    out: dict[str, Any] = {"description": doc}
    if tp is bool:
        out["type"] = "boolean"
    elif tp is int:   # '5e8' is read as a count too
        out["anyOf"] = [{"type": "integer"}, {"type": "string", "pattern": r"^[-+]?\d+(?:\.\d*)?[eE][-+]?\d+$"}]
    elif tp is float:
        out["anyOf"] = [{"type": "number"}, {"type": "string", "pattern": r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"}]
    elif tp is str:
        out["type"] = "string"
    if meta.get("choices") is not None:
        out["enum"] = list(meta["choices"])
        out.pop("type", None)
    for key, bound in (("minimum", meta.get("minimum")), ("maximum", meta.get("maximum"))):
        if bound is not None and tp in (int, float):
            out["anyOf"][0][key] = bound
    return out
