"""Compute-time prediction: a roofline with calibrated efficiencies.

An op takes max(FLOPs / (peak x efficiency), bytes / (HBM bandwidth x efficiency)): compute-bound
GEMMs are priced by FLOPs, elementwise kernels by bytes moved. Efficiencies come from
calibration.yaml, never from a scenario.
"""

from __future__ import annotations

from .catalog import Accelerator, Calibration


class RooflinePredictor:
    """Seconds for an op given its FLOPs, bytes and kind ('matmul', 'attention', 'elementwise')."""

    def __init__(self, accelerator: Accelerator, calibration: Calibration, precision: str):
        peak = accelerator.peak(precision)
        self.matmul_rate = peak * calibration.matmul_efficiency
        self.attention_rate = self.matmul_rate * calibration.attention_efficiency
        self.memory_rate = accelerator.hbm_bandwidth * calibration.memory_efficiency

    def time(self, kind: str, flops: float, nbytes: float) -> float:
        memory = nbytes / self.memory_rate
        if kind == "matmul":
            return max(flops / self.matmul_rate, memory)
        if kind == "attention":
            return max(flops / self.attention_rate, memory)
        return memory
