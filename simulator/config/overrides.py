"""Field overrides: `--set training.micro_batch_size=2` on the command line, and the points of a
sweep. An override names a field by its dotted path in the scenario file and gives a value
written as it would be in the file (YAML), so it is parsed and checked exactly as the file is.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml

from .errors import ConfigError

MAX_OVERRIDE_TEXT = 4096   # characters of one `--set` (a path and a value written inline)
MAX_PATH_DEPTH = 8         # the scenario nests four deep at most
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def check_path(path: Any, where: str) -> tuple[str, ...]:
    """`path` ('system.topology.oversubscription') as its keys, or a ConfigError naming `where`."""
    keys = tuple(path.split(".")) if isinstance(path, str) else ()
    if not keys or len(keys) > MAX_PATH_DEPTH or not all(_KEY.fullmatch(k) for k in keys):
        raise ConfigError(where, path, f"a dotted field path such as training.micro_batch_size "
                                       f"(at most {MAX_PATH_DEPTH} keys of letters, digits and _)")
    return keys


def parse_assignment(text: str, where: str = "--set") -> tuple[str, Any]:
    """'PATH=VALUE' as (PATH, VALUE), the value read as YAML: 2 -> 2, H200 -> 'H200',
    '[4, 4]' -> [4, 4], '400 Gb/s' -> '400 Gb/s'."""
    if not isinstance(text, str) or len(text) > MAX_OVERRIDE_TEXT or "=" not in text:
        raise ConfigError(where, text, f"PATH=VALUE, e.g. training.micro_batch_size=2 "
                                       f"(at most {MAX_OVERRIDE_TEXT} characters)")
    path, raw = text.split("=", 1)
    check_path(path.strip(), where)
    try:
        value = yaml.load(raw, Loader=_LOADER) if raw.strip() else None
    except (yaml.YAMLError, RecursionError):
        raise ConfigError(where, text, "a value written as in a YAML file, e.g. 2, H200, '[4, 4]' or '400 Gb/s'") from None
    return path.strip(), value


def apply_overrides(data: dict, overrides: dict[str, Any], where: str = "--set") -> dict:
    """A copy of the mapping `data` with each PATH set to its value; missing sections are
    created. Unknown field names are left for the loader, which names them with a hint."""
    out = copy.deepcopy(data)
    for path, value in overrides.items():
        keys = check_path(path, where)
        node = out
        for i, key in enumerate(keys[:-1]):
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"{where} {path}", ".".join(keys[:i + 1]),
                                  f"a path through sections; {'.'.join(keys[:i + 1])} is a value, not a section")
            node = child
        node[keys[-1]] = copy.deepcopy(value)
    return out
