"""Quantities with units, parsed once at load time into SI (bytes, bytes/s, seconds, FLOP/s).

Files say "400 Gb/s", "900 GB/s", "80 GiB", "2 us". Gb/s is bits, GB/s is bytes: a lowercase
'b' always means bits, and a bare number is refused because its unit would be a guess.
"""

from __future__ import annotations

import math
import re

from .errors import ConfigError

_DECIMAL = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50}

_TIME = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9, "min": 60.0, "h": 3600.0,
         "d": 86400.0, "day": 86400.0, "days": 86400.0, "week": 604800.0, "weeks": 604800.0}

MAX_QUANTITY_TEXT = 64  # characters: '1.5e12 FLOP/s' needs 13
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")

KINDS = {
    "bytes": "a size such as '80 GiB', '40 GB' or '512 MiB'",
    "bandwidth": "a rate such as '900 GB/s' (bytes) or '400 Gb/s' (bits)",
    "time": "a duration such as '2 us', '1.5 ms', '30 min' or '10 s'",
    "flops": "a compute rate such as '989 TFLOP/s' or '2.25 PFLOP/s'",
}


SI_UNITS = {"bytes": "B", "bandwidth": "B/s", "time": "s", "flops": "FLOP/s"}


def format_si(value: float, kind: str) -> str:
    """A quantity in SI as text that parses back to exactly `value` ('50000000000.0 B/s')."""
    return f"{value!r} {SI_UNITS[kind]}"


def quantity_pattern(kind: str) -> str:
    """A regular expression for the text `parse_quantity` accepts as `kind` (for JSON Schema)."""
    prefix = "(?:" + "|".join(sorted(_BINARY) + sorted(k for k in _DECIMAL if k)) + ")?"
    unit = {"time": "(?:" + "|".join(sorted(_TIME, key=len, reverse=True)) + ")",
            "bytes": prefix + "B", "bandwidth": prefix + "[Bb](?:/s|ps)",
            "flops": "(?:" + "|".join(sorted(k for k in _DECIMAL if k)) + ")?FLOP(?:/s|S)"}[kind]
    return r"^\s*\+?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*" + unit + r"\s*$"


def _prefix(p: str) -> float | None:
    if p in _BINARY:
        return _BINARY[p]
    return _DECIMAL.get(p)


def _scale(unit: str, kind: str) -> float | None:
    if kind == "time":
        return _TIME.get(unit)
    if kind == "bytes":
        m = re.fullmatch(r"([kKMGTPE]i?|)B", unit)
        return _prefix(m.group(1)) if m else None
    if kind == "bandwidth":
        m = re.fullmatch(r"([kKMGTPE]i?|)(B|b)(?:/s|ps)", unit)
        if not m:
            return None
        p = _prefix(m.group(1))
        return None if p is None else p * (1.0 if m.group(2) == "B" else 1 / 8)
    if kind == "flops":
        m = re.fullmatch(r"([kKMGTPE]|)FLOP(?:/s|S)", unit)
        return _prefix(m.group(1)) if m else None
    raise ValueError(f"unknown quantity kind {kind!r}")


def finite_number(value: object) -> float | None:
    """`value` as a float when it is a plain finite number (not a bool, not an integer too large
    for a float); else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits
        return None
    return number if math.isfinite(number) else None


def parse_quantity(value: object, kind: str, field: str) -> float:
    """Return `value` (a string with a unit) in SI units of `kind`; ConfigError otherwise."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ConfigError(field, value, KINDS[kind] + " (a string with its unit)")
    if len(value) > MAX_QUANTITY_TEXT:  # also keeps the pattern below linear in practice
        raise ConfigError(field, value, KINDS[kind] + f" (at most {MAX_QUANTITY_TEXT} characters)")
    m = _NUMBER.match(value)
    scale = _scale(m.group(2), kind) if m else None
    if m is None or scale is None:
        raise ConfigError(field, value, KINDS[kind])
    number = float(m.group(1)) * scale
    if number < 0 or not math.isfinite(number):
        raise ConfigError(field, value, KINDS[kind] + ", finite and not negative")
    return number


def format_bytes(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n:.0f} B"


def format_time(t: float) -> str:
    if t >= 1:
        return f"{t:.3f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.2f} ms"
    return f"{t * 1e6:.1f} us"
