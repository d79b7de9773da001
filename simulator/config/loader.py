"""Reading scenario files: YAML/JSON in, a validated `Scenario` out, relative paths resolved."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .hf import ALIASES as HF_ALIASES, read_family
from .megatron import megatron_names
from .overrides import apply_overrides
from .schema import ModelConfig, Scenario
from .strict import field_names, load_dataclass

MAX_FILE_BYTES = 16 * 2**20  # scenario, model, accelerator and system files are a few KB
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when installed


def regular_file(path: Path, field: str, accepted: str = "an existing regular file") -> Path:
    """`path` if it names an existing regular file; otherwise (missing, a folder, a device, a name
    the system refuses) a ConfigError naming `field`."""
    try:
        found = path.is_file()
    except OSError as exc:   # e.g. a name longer than the file system allows
        raise ConfigError(field, str(path), reason=f"cannot read the file ({exc.strerror or type(exc).__name__})",
                          accepted=accepted) from None
    if not found:
        raise ConfigError(field, str(path), reason="file not found", accepted=accepted)
    return path


def read_mapping(path: Path, field: str) -> dict:
    """Parse a YAML or JSON file into a mapping; a missing, unreadable, oversized or malformed
    file is a ConfigError. Messages give where the file is wrong, never its content."""
    regular_file(path, field)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(field, str(path), reason=f"cannot read the file ({exc.strerror or type(exc).__name__})",
                          accepted="a readable regular file") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(field, str(path), reason="file too large",
                          accepted=f"a file of at most {MAX_FILE_BYTES // 2**20} MiB")
    try:
        text = raw.decode()
        data = json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=_YAML_LOADER)
    except (yaml.YAMLError, ValueError, RecursionError) as exc:  # ValueError: JSON and UTF-8 errors
        raise ConfigError(field, str(path), reason=f"cannot parse file ({_where_wrong(exc)})",
                          accepted="valid YAML or JSON") from None
    if not isinstance(data, dict):
        raise ConfigError(field, str(path), reason="file does not hold a mapping",
                          accepted="a YAML/JSON mapping at top level")
    return data


def _where_wrong(exc: Exception) -> str:
    """The kind and place of a parse error, without the file's text."""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return f"{getattr(exc, 'problem', None) or 'invalid YAML'} at line {mark.line + 1}, column {mark.column + 1}"
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
    return type(exc).__name__


def hf_model_fields(config: dict) -> dict:
    """The fields of a Hugging Face config.json that the model uses, with its family's defaults,
    and what it does not model as `unmodelled` (see hf.py); other HF fields are ignored."""
    fields, warnings = read_family(config, set(field_names(ModelConfig)))
    if warnings:
        fields["unmodelled"] = tuple(warnings)
    return fields


def _resolve(path_str: str, base: Path) -> Path:
    p = Path(path_str).expanduser()
    return p if p.is_absolute() else (base / p)


def load_scenario(source: str | Path | dict, base_dir: str | Path | None = None,
                  overrides: dict[str, Any] | None = None) -> Scenario:
    """Load a scenario from a file path or a mapping.

    Relative paths inside (model.hf_config, system.topology.file, an accelerator file) are taken
    relative to the scenario file's folder, or to `base_dir` (default: the working directory) for
    a mapping. `overrides` ({'training.micro_batch_size': 2, ...}) replace fields first, as if
    written in the file.
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
    if "sweep" in data:
        raise ConfigError("scenario.sweep", reason="this is a study file",
                          accepted="`clustersim sweep` for a study; a scenario without `sweep:` here")
    if overrides:
        data = apply_overrides(data, overrides)

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

    data = megatron_names(data)
    scenario = load_dataclass(Scenario, data, "scenario")

    # Make file references absolute so that the scenario means the same from any folder.
    system = scenario.system
    topo = system.topology
    if topo.file is not None:
        f = regular_file(_resolve(topo.file, base), "scenario.system.topology.file",
                         "a topology file's path (.json, .graphml, .yaml), relative to the scenario file")
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
