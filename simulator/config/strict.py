"""Strict loading of nested frozen dataclasses from plain mappings (parsed YAML/JSON).

Every field declares its type, default, unit and accepted values once, through `option()`;
the loader enforces them and the documentation reads them. Unknown keys are an error with a
did-you-mean hint, never silently ignored.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from typing import Any

from .errors import ConfigError
from .units import KINDS, finite_number, format_si, parse_quantity

_MISSING = dataclasses.MISSING


def option(default: Any = _MISSING, *, unit: str | None = None, choices: tuple | None = None,
           minimum: float | None = None, maximum: float | None = None, doc: str = "") -> Any:
    """A dataclass field with loading rules: `unit` (a units.KINDS key), `choices`, bounds."""
    meta = {"unit": unit, "choices": choices, "minimum": minimum, "maximum": maximum, "doc": doc}
    if default is _MISSING:
        return dataclasses.field(metadata=meta)
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _type_name(tp: Any) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        tp, getattr(tp, "__name__", str(tp)))


def _convert(value: Any, tp: Any, meta: dict, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(value, args[0], meta, path)
    if dataclasses.is_dataclass(tp):
        return load_dataclass(tp, value, path)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(path, value, "a mapping")
        _, vt = typing.get_args(tp)
        return {str(k): _convert(v, vt, meta, f"{path}.{k}") for k, v in value.items()}
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(path, value, "a list")
        (et, *_) = typing.get_args(tp)
        return tuple(_convert(v, et, meta, f"{path}[{i}]") for i, v in enumerate(value))
    if meta.get("unit"):
        out = parse_quantity(value, meta["unit"], path)
    elif tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, value, "true or false")
        out = value
    elif tp is int:
        number = _number_text(value)
        if isinstance(number, float) and number.is_integer() and not isinstance(value, bool):
            value = int(number)  # '5e8' (YAML reads a mantissa without a dot as text) or 5e8 (JSON: a float)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, value, "an integer")
        out = value
    elif tp is float:
        out = finite_number(_number_text(value))
        if out is None:
            raise ConfigError(path, value, "a finite number")
    elif tp is str:
        if not isinstance(value, str):
            raise ConfigError(path, value, "a string")
        out = value
    elif tp is Any:
        out = value
    else:  # pragma: no cover - a schema mistake, not a user mistake
        raise TypeError(f"unsupported field type {tp!r} at {path}")
    choices = meta.get("choices")
    if choices is not None and out not in choices:
        raise ConfigError(path, value, "one of " + ", ".join(repr(c) for c in choices))
    lo, hi = meta.get("minimum"), meta.get("maximum")
    if lo is not None and out < lo:
        raise ConfigError(path, value, f"a value >= {lo:,}")
    if hi is not None and out > hi:
        raise ConfigError(path, value, f"a value <= {hi:,}")
    return out


_SCIENTIFIC = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _number_text(value: Any) -> Any:
    """A number YAML left as text because of its exponent ('15e12'), as a float; else `value`."""
    if isinstance(value, str) and len(value) < 40 and _SCIENTIFIC.fullmatch(value.strip()):
        return float(value)
    return value


def load_dataclass(cls: type, data: Any, path: str) -> Any:
    """Build `cls` from a mapping; every problem is a ConfigError naming `path.field`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, data, f"a mapping with keys {', '.join(field_names(cls))}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{path}.{key}", reason="unknown key" + hint,
                              accepted=", ".join(fields))
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], dict(f.metadata), f"{path}.{name}")
        elif f.default is _MISSING and f.default_factory is _MISSING:
            meta = dict(f.metadata)
            raise ConfigError(f"{path}.{name}", reason="required key is missing",
                              accepted=describe(hints[name], meta))
    obj = cls(**kwargs)
    check = getattr(obj, "check", None)
    if check is not None:
        check(path)
    return obj


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.init]


def describe(tp: Any, meta: dict) -> str:
    """What a field accepts, in words (used by errors and by the scenario docs)."""
    if meta.get("choices"):
        return "one of " + ", ".join(repr(c) for c in meta["choices"])
    if meta.get("unit"):
        return KINDS[meta["unit"]]
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if args and typing.get_origin(tp) in (typing.Union, types.UnionType):
        tp = args[0]
    if dataclasses.is_dataclass(tp):
        return f"a mapping with keys {', '.join(field_names(tp))}"
    return _type_name(tp)


def to_plain(obj: Any) -> Any:
    """A dataclass tree as plain JSON-ready data that loads back to the same tree (summary.json's
    resolved scenario): quantities as text in SI units."""
    if dataclasses.is_dataclass(obj):
        out = {}
        for f in dataclasses.fields(obj):
            value, unit = getattr(obj, f.name), f.metadata.get("unit")
            out[f.name] = format_si(value, unit) if unit and isinstance(value, float) else to_plain(value)
        return out
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj
