"""Compute-time prediction: a roofline with calibrated efficiencies.

An op takes max(FLOPs / (peak x efficiency), bytes / (HBM bandwidth x efficiency)): compute-bound
GEMMs are priced by FLOPs, elementwise kernels by bytes moved. GEMM efficiency grows with size,
eff(F) = eff_max x F / (F + F_half) (small GEMMs fill the GPU poorly), which is the same as a fixed
F_half / (peak x eff_max) seconds per GEMM on top of F / (peak x eff_max). No kernel finishes in less
than the kernel floor: with small kernels the host's dispatch, not the GPU, sets the pace.
Efficiencies come from calibration.yaml, never from a scenario.
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
        self.half_flops = calibration.matmul_half_efficiency_flops
        self.floor = calibration.kernel_floor

    def time(self, kind: str, flops: float, nbytes: float) -> float:
        t = nbytes / self.memory_rate
        if kind == "matmul":
            t = max((flops + self.half_flops) / self.matmul_rate, t)
        elif kind == "attention":
            t = max((flops + self.half_flops) / self.attention_rate, t)
        return max(t, self.floor)
