"""Study files: a scenario with a `sweep:` section that names the fields to vary.

    sweep:
      scenario: ../llama3-70b-64xh100.yaml     # optional: the base; this file's sections lie over it
      grid:                                    # every combination of these
        system.accelerator: [H100-SXM, H200, B200]
        system.num_nodes: [8, 16, 32]
      zip:                                     # lists of one length, taken together (one axis)
        parallelism.tensor_model_parallel_size: [8, 4]
        parallelism.pipeline_model_parallel_size: [4, 8]
      measure: step                            # step (one iteration) or campaign (with failures)

Points are the cartesian product of the grid's axes in file order, with the zipped lists as the
last axis (varying fastest). A point is its overrides; it is identified by them, so a study that
gains a value reuses every point already measured.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import ConfigError, read_mapping
from ..config.overrides import apply_overrides, check_path
from ..config.strict import load_dataclass, option
from .points import MEASURES

MAX_VALUES = 10_000     # values of one axis
MAX_POINTS = 100_000    # points of one study


@dataclass(frozen=True)
class SweepConfig:
    """The `sweep:` section of a study file."""

    scenario: str | None = option(None, doc="Base scenario file, relative to the study file; the study's "
                                            "other sections are laid over it.")
    grid: dict[str, Any] = option({}, doc="Field path -> list of values; every combination is a point.")
    zip: dict[str, Any] = option({}, doc="Field path -> list of values, all lists of one length; "
                                         "the i-th values go together.")
    measure: str = option("step", choices=MEASURES, doc="step: one simulated iteration per point; campaign: "
                                                        "a Monte Carlo campaign with failures per point.")

    def check(self, path: str) -> None:
        lengths = set()
        for section in ("grid", "zip"):
            for field, values in getattr(self, section).items():
                where = f"{path}.{section}.{field}"
                check_path(field, where)
                if not isinstance(values, list) or not values or len(values) > MAX_VALUES:
                    raise ConfigError(where, values, f"a list of 1 to {MAX_VALUES:,} values")
                if section == "zip":
                    lengths.add(len(values))
        if len(lengths) > 1:
            raise ConfigError(f"{path}.zip", sorted(lengths), "lists of one length (their i-th values go together)")
        both = set(self.grid) & set(self.zip)
        if both:
            raise ConfigError(f"{path}.zip.{sorted(both)[0]}", reason="also in grid", accepted="each field in one of grid, zip")
        if not self.grid and not self.zip:
            raise ConfigError(f"{path}.grid", None, "at least one field to vary, in grid or zip")
        count = len(next(iter(self.zip.values()))) if self.zip else 1
        for values in self.grid.values():
            count *= len(values)
        if count > MAX_POINTS:
            raise ConfigError(path, f"{count:,} points", f"at most {MAX_POINTS:,} points in one study")


@dataclass(frozen=True)
class Study:
    """A loaded study: the base scenario as a mapping, its folder, and the points."""

    name: str
    base: dict
    base_dir: str
    sweep: SweepConfig
    points: list[dict[str, Any]]

    @property
    def axes(self) -> list[str]:
        return list(self.sweep.grid) + list(self.sweep.zip)

    def fingerprint(self) -> str:
        """Identifies what a point's row depends on besides its overrides."""
        text = json.dumps([self.base, self.base_dir, self.sweep.measure, __version__], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def point_key(overrides: dict[str, Any]) -> str:
    return json.dumps(overrides, sort_keys=True, default=str)


def load_study(path: str | Path, overrides: dict[str, Any] | None = None) -> Study:
    """Read a study file; `overrides` (from --set) change the base scenario of every point."""
    path = Path(path)
    data = read_mapping(path, "study")
    if "sweep" not in data:
        raise ConfigError("study.sweep", reason="required key is missing",
                          accepted="a `sweep:` section with grid and/or zip (see docs/studies.md)")
    sweep = load_dataclass(SweepConfig, data.pop("sweep"), "study.sweep")
    base_dir = path.resolve().parent
    if sweep.scenario is not None:
        base_path = base_dir / sweep.scenario
        base = read_mapping(base_path, "study.sweep.scenario")
        if "sweep" in base:
            raise ConfigError("study.sweep.scenario", sweep.scenario, "a scenario file, not another study")
        base.setdefault("name", base_path.stem)
        data = deep_merge(base, data)
        base_dir = base_path.resolve().parent
    data.setdefault("name", path.stem)
    if overrides:
        data = apply_overrides(data, overrides)
    axes = [[{k: v} for v in values] for k, values in sweep.grid.items()]
    if sweep.zip:
        axes.append([dict(zip(sweep.zip, values)) for values in zip(*sweep.zip.values())])
    points = []
    for combo in itertools.product(*axes):
        point = {}
        for part in combo:
            point.update(part)
        points.append(point)
    return Study(str(data["name"]), data, str(base_dir), sweep, points)


def deep_merge(base: dict, over: dict) -> dict:
    """`base` with `over` laid on top: mappings merge key by key, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
