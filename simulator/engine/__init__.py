"""SimPy processes that execute per-rank programs on the fabric: one training iteration."""

from .step import (BREAKDOWN_KEYS, RECORD_COLUMNS, CountingEnvironment, RecordLog, SimulationDeadlock, StepResult, StepSimulation,
                   simulate_step, simulate_steps_together)

__all__ = ["BREAKDOWN_KEYS", "RECORD_COLUMNS", "CountingEnvironment", "RecordLog", "SimulationDeadlock", "StepResult", "StepSimulation",
           "simulate_step", "simulate_steps_together"]
