"""Compute-time prediction: a roofline with calibrated efficiencies.

An op takes max(FLOPs / (peak x efficiency), bytes / (HBM bandwidth x efficiency)): compute-bound
GEMMs are priced by FLOPs, elementwise kernels by bytes moved. GEMM efficiency grows with size,
eff(F) = eff_max x F / (F + F_half) (small GEMMs fill the GPU poorly), which is the same as a fixed
F_half / (peak x eff_max) seconds per GEMM on top of F / (peak x eff_max). No kernel finishes in less
than the kernel floor: with small kernels the host's dispatch, not the GPU, sets the pace (the
chunks a library cuts one GEMM into and launches itself share one dispatch: `Op.dispatch`).

The efficiencies of calibration.yaml were fitted on one accelerator's training runs (its
`fitted_on`). On another they are scaled by what kernel microbenchmarks measured on the two
chips: eff_max by the ratio of their large-GEMM efficiencies at the precision, the memory
efficiency by the ratio of their measured HBM efficiencies. The training stack's share of the loss
stays what the fit found; the chip's share follows the kernels.

A single GEMM kernel's time by its shape is `gemm_kernel_time`: the output is cut into tiles,
the tiles run in waves over the chip's compute units (SMs / CUs), and a wave lasts as long as its
tiles' k steps plus a fixed prologue/epilogue per tile; a library may split k over more tiles
(split-K / stream-K) at the cost of writing and re-reading fp32 partial sums. The kernel takes the
best of a few tile shapes and splits, as cuBLAS's and hipBLASLt's heuristics pick, plus a fixed
launch time; the fixed time and the prologue are each accelerator's (kernels.gemm_shape, fitted
by validation/calibrate_gemm.py to published GEMM tables). It prices kernels, not yet training
steps: on the A100 training runs it shifts the error between the single-server and the
multi-server runs (docs/architecture.md, "Compute model"), so the step simulation keeps the size
curve above until that gap is explained.

The sustained clock under load is in the measurements: a GEMM benchmark runs the chip at the
clock its power and thermal limits allow (MI300X GEMMs near 1.2 GHz of its 2.1 GHz peak), so no
separate clock figure is applied.

A fused (flash) attention kernel is priced from its own measurements: forward + backward of a
causal kernel reaches R(s) = R_max x s / (s + s_half) for s keys per query (the measured ramp:
each query tile walks its keys with a fixed cost per tile row), at head dim 128; other head
dimensions scale R by the measured ratio of the kernel's rate at that head dim (interpolated in
log2 of it between measured points, the nearest beyond them). Benchmarks count a causal
kernel's FLOPs halved and its backward as 2.5 forwards; the model counts the full s x s scores
and a backward of 2 forwards (Megatron's convention), so the same kernel time is a rate 12/7
times the benchmarks' in the model's FLOPs. The training stack's share is the GEMMs'. The
unfused attention core runs at the calibrated attention efficiency of the GEMM rate. An fp8 fused
kernel (fp8 Q, K, V) has its own measured curve where there is one (`flash_attention_fp8`), with
the same head-dim ratios; elsewhere it runs at the 16-bit kernel's rate, and says so.

An accelerator without a measurement keeps the reference's figure (scaled by the GEMM ratio for
attention) and says so (`compute_notes`). Efficiencies never come from a scenario.

Compute beside a collective on a side stream runs slower (`overlap_slowdown`): an NCCL kernel
shares the SMs by the calibrated factor (measured on overlapped training kernels); a collective
whose kernels hold a known number of SMs (Transformer Engine's userbuffers reserve an SM margin,
or run on copy engines) leaves the compute the rest of the chip.
"""

from __future__ import annotations

import math

from .catalog import Accelerator, Calibration, load_accelerator

REFERENCE_PRECISION = "bf16"   # the fitted runs' precision (fp16, at the same tensor-core rate)
# Under fp8 training only the linear layers' GEMMs run in fp8 (Transformer Engine's recipes): the
# attention kernels keep 16-bit inputs (an fp8 attention kernel is not modelled), and so do the
# GEMMs outside Transformer Engine layers (kind 'matmul16': the LM head, the MoE router).
SIXTEEN_BIT = {"fp8": "bf16"}
BENCHMARK_TO_MODEL_FLOPS = 12 / 7   # causal flash attention: 3 x full forward FLOPs vs 3.5 x half
# Output tiles GEMM libraries pick among for large bf16 / fp8 GEMMs on these chips (CUTLASS's and
# cuBLAS's Ampere / Hopper kernels, hipBLASLt's MI300 ones: 128 x 128, 128 x 256, 256 x 128).
GEMM_TILES = ((128, 128), (128, 256), (256, 128))
K_SPLITS = (1, 2, 4, 8, 16)   # split-K / stream-K: k cut into this many parts...
MIN_SPLIT_K = 256             # ...of at least this many steps
PARTIAL_SUM_BYTES = 8         # a split's fp32 partial output: written once, read once by the reduction


def gemm_kernel_time(m: float, k: float, n: float, rate: float, units: int, fixed: float, prologue: float,
                     memory_rate: float) -> float:
    """Seconds of one [m x k] @ [k x n] GEMM kernel at `rate` FLOP/s (its large-GEMM rate) on
    `units` SMs / CUs: the best tile shape and k split, each wave as long as one tile's k / split
    + `prologue` steps, a split's partial sums through HBM at `memory_rate`, plus `fixed`."""
    unit_rate = rate / units
    best = math.inf
    for tm, tn in GEMM_TILES:
        tiles = math.ceil(m / tm) * math.ceil(n / tn)
        tile_flops = 2.0 * tm * tn
        for split in K_SPLITS:
            if split > 1 and k / split < MIN_SPLIT_K:
                break
            t = math.ceil(tiles * split / units) * tile_flops * (k / split + prologue) / unit_rate
            if split > 1:
                t += PARTIAL_SUM_BYTES * split * m * n / memory_rate
            best = min(best, t)
    return fixed + best


def overlap_slowdown(sms: int | None, accelerator: Accelerator, calibration: Calibration) -> float:
    """How many times longer compute takes beside a side-stream collective whose kernels hold
    `sms` SMs (CUs) of the chip; None: an NCCL kernel (or an accelerator without an SM count),
    the calibrated overlap slowdown."""
    units = accelerator.compute_units
    if sms is None or not units or sms >= units:
        return calibration.overlap_slowdown
    return units / (units - sms)


def kernel_scales(accelerator: Accelerator, calibration: Calibration, precision: str) -> tuple[float, float, list[str]]:
    """(GEMM efficiency scale, memory efficiency scale, notes on what was not measured)."""
    ref = load_accelerator(calibration.fitted_on)
    notes = []
    gemm = accelerator.gemm_efficiency(precision)
    if gemm is None and accelerator.gemm_efficiency(REFERENCE_PRECISION) is not None:
        gemm = accelerator.gemm_efficiency(REFERENCE_PRECISION)
        notes.append(f"no {precision} GEMM measurement for {accelerator.name}: its {REFERENCE_PRECISION} "
                     f"efficiency ({gemm:.0%} of peak) is used")
    elif gemm is None:
        notes.append(f"no GEMM measurement for {accelerator.name}: the {ref.name}'s efficiency is used")
    hbm = accelerator.measured_hbm_efficiency
    if hbm is None:
        notes.append(f"no HBM bandwidth measurement for {accelerator.name}: the {ref.name}'s efficiency is used")
    gemm_scale = 1.0 if gemm is None else gemm / ref.gemm_efficiency(REFERENCE_PRECISION)
    memory_scale = 1.0 if hbm is None else hbm / ref.measured_hbm_efficiency
    return gemm_scale, memory_scale, notes


def flash_attention(accelerator: Accelerator, calibration: Calibration) -> tuple[float, float, list[str]]:
    """(fraction of the 16-bit peak a causal fused attention kernel approaches in the benchmarks'
    FLOPs, keys per query at which it reaches half of that, notes)."""
    if accelerator.flash_attention is not None:
        return (*accelerator.flash_attention, [])
    ref = load_accelerator(calibration.fitted_on)
    efficiency, half = ref.flash_attention
    ours, theirs = accelerator.gemm_efficiency(REFERENCE_PRECISION), ref.gemm_efficiency(REFERENCE_PRECISION)
    if ours is not None:
        efficiency *= ours / theirs
    return efficiency, half, [f"no fused attention measurement for {accelerator.name}: the {ref.name}'s, "
                              f"scaled by the two chips' GEMM efficiencies, is used"]


def head_dim_factor(table: dict[int, float], head_dim: int) -> float:
    """A fused attention kernel's rate at `head_dim` relative to head dim 128, from the measured
    points (128 -> 1): linear in log2 of the head dimension between them, the nearest beyond."""
    points = sorted({128: 1.0, **table}.items())
    if head_dim <= points[0][0]:
        return points[0][1]
    for (d0, r0), (d1, r1) in zip(points, points[1:]):
        if head_dim <= d1:
            w = (math.log2(head_dim) - math.log2(d0)) / (math.log2(d1) - math.log2(d0))
            return r0 + w * (r1 - r0)
    return points[-1][1]


def compute_notes(accelerator: Accelerator, calibration: Calibration, precision: str,
                  head_dim: int | None = None, fp8_attention: bool = False) -> list[str]:
    """What the compute model of `accelerator` at `precision` takes from elsewhere (warnings);
    `head_dim`: a fused attention kernel's, where the model runs one; `fp8_attention`: whether
    that kernel runs on fp8 inputs."""
    notes = kernel_scales(accelerator, calibration, precision)[2] + flash_attention(accelerator, calibration)[2]
    if fp8_attention and accelerator.flash_attention_fp8 is None:
        notes.append(f"no fp8 fused attention measurement for {accelerator.name}: the 16-bit kernel's rate is used")
    measured = {128, *accelerator.flash_head_dims}
    if head_dim is not None and not min(measured) <= head_dim <= max(measured):
        notes.append(f"no fused attention measurement for {accelerator.name} at head dim {head_dim}: "
                     f"{'the head-dim-128 rate' if len(measured) == 1 else 'the nearest measured head dim'} is used")
    return notes


class RooflinePredictor:
    """Seconds for an op (workload.costs.Op) from its kind, FLOPs, bytes and shape."""

    def __init__(self, accelerator: Accelerator, calibration: Calibration, precision: str):
        gemm_scale, memory_scale, _ = kernel_scales(accelerator, calibration, precision)
        self.matmul_rate = accelerator.peak(precision) * calibration.matmul_efficiency * gemm_scale
        wide = SIXTEEN_BIT.get(precision, precision)
        wide_scale = gemm_scale if wide == precision else kernel_scales(accelerator, calibration, wide)[0]
        self.matmul16_rate = accelerator.peak(wide) * calibration.matmul_efficiency * wide_scale
        self.attention_rate = self.matmul16_rate * calibration.attention_efficiency
        efficiency, half_keys, _ = flash_attention(accelerator, calibration)
        stack = calibration.matmul_efficiency / load_accelerator(calibration.fitted_on).gemm_efficiency(REFERENCE_PRECISION)
        # fused attention kind -> (rate in the model's FLOPs at head dim 128, keys at half that rate);
        # an fp8 kernel without its own measurement runs at the 16-bit kernel's
        sixteen = (accelerator.peak(wide) * efficiency * BENCHMARK_TO_MODEL_FLOPS * stack, half_keys)
        fp8 = accelerator.flash_attention_fp8
        self.flash = {"flash_attention": sixteen,
                      "flash_attention_fp8": (accelerator.peak(wide) * fp8[0] * BENCHMARK_TO_MODEL_FLOPS * stack, fp8[1])
                      if fp8 else sixteen}
        self.memory_rate = accelerator.hbm_bandwidth * calibration.memory_efficiency * memory_scale
        self.half_flops = calibration.matmul_half_efficiency_flops
        self.floor = calibration.kernel_floor
        self.head_dim_table = accelerator.flash_head_dims if accelerator.flash_attention is not None else {}
        self.any_layout = accelerator.fp8_gemm_layouts == "any"
        self.head_dims: dict[int, float] = {}   # head dim -> head_dim_factor, as met

    def time(self, op) -> float:
        kind, flops = op.kind, op.flops
        t = op.bytes / self.memory_rate
        if kind == "cast" and self.any_layout:   # no transposed fp8 copy: one byte less per element
            t = (op.bytes - op.shape[0] * op.shape[1]) / self.memory_rate
        if kind == "matmul":
            t = max((flops + self.half_flops) / self.matmul_rate, t)
        elif kind == "matmul16":
            t = max((flops + self.half_flops) / self.matmul16_rate, t)
        elif kind == "attention":
            t = max((flops + self.half_flops) / self.attention_rate, t)
        elif kind in self.flash:
            keys, head_dim = op.shape[1], op.shape[2]
            factor = self.head_dims.get(head_dim)
            if factor is None:
                factor = self.head_dims[head_dim] = head_dim_factor(self.head_dim_table, head_dim)
            rate, half_keys = self.flash[kind]
            rate = rate * factor
            t = max(flops * (keys + half_keys) / (keys * rate), t)
        return max(t, self.floor * op.dispatch)

