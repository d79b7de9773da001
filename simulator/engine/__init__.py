"""SimPy processes that execute per-rank programs on the fabric: one training iteration."""

from .step import BREAKDOWN_KEYS, RECORD_COLUMNS, StepResult, StepSimulation, simulate_step

__all__ = ["BREAKDOWN_KEYS", "RECORD_COLUMNS", "StepResult", "StepSimulation", "simulate_step"]
