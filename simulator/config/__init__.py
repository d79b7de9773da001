"""Scenario configuration: frozen dataclasses, strict loading, units. Knows nothing of SimPy or NetworkX."""

from .errors import ConfigError, DoesNotFitError, ImplausibleResult
from .overrides import apply_overrides, parse_assignment
from .loader import load_scenario, read_mapping, scenario_to_dict
from .reliability import CheckpointConfig, RecoveryConfig, ReliabilityConfig, StragglerConfig
from .schema import (ModelConfig, OutputConfig, ParallelismConfig, Scenario, SimulationConfig,
                     SystemConfig, TopologyConfig, TrainingConfig)
from .units import format_bytes, format_time, parse_quantity

__all__ = ["apply_overrides", "parse_assignment", "ConfigError", "DoesNotFitError", "ImplausibleResult", "load_scenario", "read_mapping", "scenario_to_dict",
           "ModelConfig", "OutputConfig", "ParallelismConfig", "Scenario", "SimulationConfig",
           "SystemConfig", "TopologyConfig", "TrainingConfig", "format_bytes", "format_time",
           "parse_quantity", "CheckpointConfig", "RecoveryConfig", "ReliabilityConfig", "StragglerConfig"]
