"""Measure the kernels the compute model is calibrated on, on the GPU this runs on (PyTorch).

    python validation/measure_kernels.py --out DIR [--budget 420] [--accelerator NAME] [--quick]

Writes, row by row (a run cut short keeps every finished row), in the column formats of
validation/data/kernels/:
- `gemm.csv` (gemm_shapes.csv's columns): dense GEMMs [m x k] @ [k x n] in bf16 and fp8 (e4m3
  operands with per-tensor scales, bf16 output, the TN layout Hopper's fp8 GEMMs need): the large
  cubes, Azure's fixed shapes, an m sweep and a k sweep (tile and wave quantization, the small-k
  end), and the GEMMs of Llama-3 8B (TP 1) and 70B (TP 8) layers at 8,192 tokens, forward, input
  gradient and weight gradient. Each is the mean of timed back-to-back launches after warm-up
  (CUDA events), with the SM clock read right after (NVML) in `notes`.
- `attention.csv` (attention_more.csv's columns): causal fused attention (PyTorch SDPA, each
  backend the build has: FlashAttention, cuDNN), 16-bit, head dim 64 / 128, 1k-16k keys, forward
  and backward timed apart, FLOPs counted as FlashAttention's benchmark counts them (forward
  4 b s^2 h d halved by the causal mask, backward 2.5 forwards).
- `hbm.csv`: BabelStream-style copy and triad on 1 GiB fp32 arrays (bytes read plus written per
  second), and the bf16 -> fp8 cast that fp8 training adds before each GEMM.
- `clock.csv`: SM clock and board power sampled while one large bf16 GEMM runs back to back for
  ten seconds: the sustained clock under full load, against the boost clock the datasheet peak
  assumes.
- `device.txt`: the GPU, driver, PyTorch / CUDA / cuDNN versions and clock limits.

Nothing here is fitted: the tables are data for validation/calibrate_gemm.py, validation/kernels.py
and the accelerator files, copied into validation/data/kernels/ with their provenance.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import time
from pathlib import Path

# nvidia-smi / torch device names -> catalog names (simulator/data/accelerators)
CATALOG = (("H200", "H200"), ("H100", "H100-SXM"), ("H800", "H800"), ("B200", "B200"),
           ("A100-SXM4-80GB", "A100-80GB"), ("A100-SXM4-40GB", "A100-40GB"), ("MI300X", "MI300X"))
GEMM_COLUMNS = ("accelerator", "precision", "m", "n", "k", "tflops", "measurement", "software", "source", "notes")
ATTENTION_COLUMNS = ("accelerator", "implementation", "precision", "head_dim", "causal", "seq_len", "batch", "heads",
                     "direction", "tflops", "convention", "software", "source", "notes")
HBM_COLUMNS = ("accelerator", "kernel", "measured_gbps", "source")
FA_CONVENTION = "FA2 benchmark: fwd 4*b*s^2*h*d, causal halved, bwd = 2.5 fwd"
ATTENTION_TOKENS = 16384        # batch x sequence, as FlashAttention's benchmark
ATTENTION_HIDDEN = 2048         # heads x head dim


def catalog_name(device_name: str) -> str:
    return next((cat for key, cat in CATALOG if key in device_name), device_name.replace(" ", "-"))


def layer_gemms(hidden: int, ffn: int, heads: int, kv_heads: int, tp: int, tokens: int) -> list[tuple]:
    """(label, m, n, k) of one transformer layer's GEMMs on one tensor-parallel rank: forward
    [tokens x k] @ [k x n], input gradient [tokens x n] @ [n x k], weight gradient [k x tokens] @
    [tokens x n] (a gated MLP: fc1 has two halves)."""
    head_dim = hidden // heads
    linears = (("qkv", hidden, (heads + 2 * kv_heads) * head_dim // tp), ("proj", hidden // tp, hidden),
               ("fc1", hidden, 2 * ffn // tp), ("fc2", ffn // tp, hidden))
    out = []
    for name, k, n in linears:
        out += [(f"{name} fprop", tokens, n, k), (f"{name} dgrad", tokens, k, n), (f"{name} wgrad", k, n, tokens)]
    return out


def gemm_plan(quick: bool = False) -> list[tuple]:
    """(label, m, n, k) of every GEMM measured, in order of interest (a run cut short keeps the first)."""
    cubes = [("cube", s, s, s) for s in ((4096, 8192) if quick else (2048, 4096, 6144, 8192, 16384))]
    plan = cubes + [("Azure fixed shape", 6144, 12288, 12288)]
    plan += [("Llama-3 8B TP1 " + lab, m, n, k) for lab, m, n, k in layer_gemms(4096, 14336, 32, 8, 1, 8192)]
    plan += [("Llama-3 70B TP8 " + lab, m, n, k) for lab, m, n, k in layer_gemms(8192, 28672, 64, 8, 8, 8192)]
    if quick:
        return plan
    plan += [("m sweep", m, 4096, 4096) for m in range(256, 8193, 256)]
    plan += [("k sweep", 8192, 8192, k) for k in (256, 512, 1024, 2048, 4096, 8192, 16384)]
    return plan


def attention_flops(batch: int, heads: int, seq: int, head_dim: int, direction: str) -> float:
    """FLOPs of a causal attention kernel as FlashAttention's benchmark counts them."""
    fwd = 4 * batch * seq * seq * heads * head_dim / 2
    return {"fwd": fwd, "bwd": 2.5 * fwd, "fwd+bwd": 3.5 * fwd}[direction]


class Table:
    """A CSV file written a row at a time (flushed, so nothing finished is lost)."""

    def __init__(self, path: Path, columns: tuple):
        self.file = path.open("w", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=columns)
        self.writer.writeheader()

    def add(self, row: dict) -> None:
        self.writer.writerow(row)
        self.file.flush()


def main() -> None:  # pragma: no cover - needs a GPU
    import torch
    import torch.nn.functional as F

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--budget", type=float, default=420.0, help="seconds; stops between measurements")
    ap.add_argument("--accelerator", help="catalog name (default: from the device name)")
    ap.add_argument("--quick", action="store_true", help="a few shapes of each kind")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    dev = torch.cuda.get_device_properties(0)
    acc = a.accelerator or catalog_name(dev.name)
    software = f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}"
    source = f"own measurement, validation/measure_kernels.py, {datetime.date.today().isoformat()}, {dev.name}"
    try:
        import pynvml
        pynvml.nvmlInit()
        nvml = pynvml.nvmlDeviceGetHandleByIndex(0)
    except Exception:   # no NVML (ROCm, a sandbox): clocks are left out
        pynvml = nvml = None

    def clock() -> str:
        if nvml is None:
            return ""
        return f"SM clock after {pynvml.nvmlDeviceGetClockInfo(nvml, pynvml.NVML_CLOCK_SM)} MHz"

    with (a.out / "device.txt").open("w") as f:
        f.write(f"{dev.name}, {dev.multi_processor_count} SMs, {dev.total_memory / 2**30:.1f} GiB; {software}\n")
        if nvml is not None:
            f.write(f"driver {pynvml.nvmlSystemGetDriverVersion()}; max SM clock "
                    f"{pynvml.nvmlDeviceGetMaxClockInfo(nvml, pynvml.NVML_CLOCK_SM)} MHz; power limit "
                    f"{pynvml.nvmlDeviceGetEnforcedPowerLimit(nvml) / 1000:.0f} W\n")

    def left() -> bool:
        return time.perf_counter() - start < a.budget

    def timed(fn) -> float:
        """Mean seconds of fn() over enough back-to-back launches to fill about 0.2 s."""
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        reps = max(5, min(200, int(0.2 / max(time.perf_counter() - t0, 1e-6))))
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        for _ in range(reps):
            fn()
        end.record()
        end.synchronize()
        return begin.elapsed_time(end) / 1e3 / reps

    fp8 = getattr(torch, "float8_e4m3fn", None) if dev.major >= 9 else None

    def gemm_seconds(m: int, n: int, k: int, precision: str) -> float:
        if precision == "fp8":
            x = torch.randn(m, k, device="cuda").to(fp8)
            w = torch.randn(n, k, device="cuda").to(fp8).t()   # column-major: the TN layout
            one = torch.ones((), device="cuda")
            return timed(lambda: torch._scaled_mm(x, w, scale_a=one, scale_b=one, out_dtype=torch.bfloat16))
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        w = torch.randn(k, n, device="cuda", dtype=torch.bfloat16)
        return timed(lambda: x @ w)

    gemms = Table(a.out / "gemm.csv", GEMM_COLUMNS)
    for label, m, n, k in gemm_plan(a.quick):
        for precision in ("bf16", "fp8"):
            if not left() or (precision == "fp8" and (fp8 is None or m % 16 or n % 16 or k % 16)):
                continue
            seconds = gemm_seconds(m, n, k, precision)
            gemms.add({"accelerator": acc, "precision": precision, "m": m, "n": n, "k": k,
                       "tflops": round(2.0 * m * n * k / seconds / 1e12, 1),
                       "measurement": "fixed shape (cuBLASLt via PyTorch)", "software": software,
                       "source": source, "notes": f"{label}; random normal inputs; {clock()}"})
    torch.cuda.empty_cache()

    from torch.nn.attention import SDPBackend, sdpa_kernel

    def attention_seconds(backend: str, batch: int, heads: int, seq: int, head_dim: int) -> tuple[float, float]:
        """(forward, forward + backward) seconds of causal SDPA on this backend."""
        q, kk, v = (torch.randn(batch, heads, seq, head_dim, device="cuda", dtype=torch.bfloat16,
                                requires_grad=True) for _ in range(3))
        with sdpa_kernel(getattr(SDPBackend, backend)):
            grad = torch.randn_like(F.scaled_dot_product_attention(q, kk, v, is_causal=True))
            return (timed(lambda: F.scaled_dot_product_attention(q, kk, v, is_causal=True)),
                    timed(lambda: F.scaled_dot_product_attention(q, kk, v, is_causal=True).backward(grad)))

    attention = Table(a.out / "attention.csv", ATTENTION_COLUMNS)
    for name, backend in (("cuDNN SDPA", "CUDNN_ATTENTION"), ("FlashAttention (PyTorch SDPA)", "FLASH_ATTENTION")):
        for head_dim in (128, 64):
            for seq in (1024, 2048, 4096, 8192, 16384):
                if not left():
                    break
                heads, batch = ATTENTION_HIDDEN // head_dim, ATTENTION_TOKENS // seq
                try:
                    fwd, both = attention_seconds(backend, batch, heads, seq, head_dim)
                except RuntimeError as e:   # the backend does not take this shape on this GPU
                    print(f"{name} head dim {head_dim} seq {seq}: {str(e).splitlines()[0]}")
                    break
                for direction, seconds in (("fwd", fwd), ("bwd", both - fwd), ("fwd+bwd", both)):
                    attention.add({"accelerator": acc, "implementation": name, "precision": "bf16",
                                   "head_dim": head_dim, "causal": "true", "seq_len": seq, "batch": batch,
                                   "heads": heads, "direction": direction,
                                   "tflops": round(attention_flops(batch, heads, seq, head_dim, direction)
                                                   / seconds / 1e12, 1),
                                   "convention": FA_CONVENTION, "software": software, "source": source,
                                   "notes": f"bwd timed as fwd+bwd minus fwd; {clock()}"})
    torch.cuda.empty_cache()

    hbm = Table(a.out / "hbm.csv", HBM_COLUMNS)
    n = 2**28   # 1 GiB of fp32
    x, y, z = (torch.rand(n, device="cuda") for _ in range(3))
    streams = [("PyTorch copy (BabelStream-style, fp32)", lambda: y.copy_(x), 8 * n),
               ("PyTorch triad (BabelStream-style, fp32)", lambda: torch.add(y, z, alpha=0.4, out=x), 12 * n)]
    if fp8 is not None:
        b = torch.rand(n, device="cuda", dtype=torch.bfloat16)
        streams.append(("PyTorch bf16 -> fp8 e4m3 cast", lambda: b.to(fp8), 3 * n))
    for kernel, fn, moved in streams:
        hbm.add({"accelerator": acc, "kernel": kernel, "measured_gbps": round(moved / timed(fn) / 1e9, 1),
                 "source": f"{source}; {software}"})
    x = y = z = b = streams = None
    torch.cuda.empty_cache()

    if nvml is not None and left():
        clocks = Table(a.out / "clock.csv", ("seconds", "sm_clock_mhz", "power_w", "gemm"))
        x = torch.randn(16384, 16384, device="cuda", dtype=torch.bfloat16)
        w = torch.randn(16384, 16384, device="cuda", dtype=torch.bfloat16)
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 10:
            for _ in range(20):
                x @ w
            torch.cuda.synchronize()
            clocks.add({"seconds": round(time.perf_counter() - t0, 2),
                        "sm_clock_mhz": pynvml.nvmlDeviceGetClockInfo(nvml, pynvml.NVML_CLOCK_SM),
                        "power_w": round(pynvml.nvmlDeviceGetPowerUsage(nvml) / 1000, 1),
                        "gemm": "bf16 16384^3 back to back"})
    print(f"done in {time.perf_counter() - start:.0f} s; tables in {a.out}")


if __name__ == "__main__":
    main()
