"""Accelerator datasheet figures and calibration constants, read from data files with their sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from ..config import ConfigError, parse_quantity, read_mapping
from ..config.schema import BLOCK_SCALE_BYTES, PER_TENSOR_RECIPES
from ..config.units import KINDS

DATA = Path(__file__).resolve().parent.parent / "data"
CATALOG = DATA / "accelerators"


@dataclass(frozen=True)
class Accelerator:
    """One accelerator model: dense peak FLOP/s per precision, HBM, scale-up and host links (SI)."""

    name: str
    vendor: str
    description: str
    peak_flops: dict[str, float]
    hbm_capacity: float
    hbm_bandwidth: float
    scale_up_bandwidth: float
    host_link_bandwidth: float
    sources: dict[str, str] = field(default_factory=dict)
    # measured kernel-level efficiencies (validation/data/kernels/): None where nothing was measured
    gemm_efficiencies: dict[str, float] = field(default_factory=dict)
    measured_hbm_efficiency: float | None = None
    flash_attention: tuple[float, float] | None = None   # (efficiency, half_keys), see hardware.compute
    flash_head_dims: dict[int, float] = field(default_factory=dict)   # head dim -> rate relative to 128
    flash_attention_fp8: tuple[float, float] | None = None   # an fp8 fused kernel's (efficiency, half_keys)
    in_switch_reduction: bool = False   # NVSwitch with NVLink SHARP (NVLS)
    fp8_gemm_layouts: str = "tn"   # "tn": fp8 GEMMs read only row-wise operands (Hopper); "any" (Blackwell)
    fp8_block_recipes: tuple[str, ...] = ()   # block-scaled fp8 recipes its Transformer Engine runs
    compute_units: int | None = None   # streaming multiprocessors (NVIDIA) or compute units (AMD)
    gemm_shape: tuple[float, float] | None = None   # (fixed time per GEMM kernel s, tile prologue in k steps)

    def gemm_efficiency(self, precision: str) -> float | None:
        """Largest dense GEMM throughput measured at `precision`, as a fraction of its peak."""
        return self.gemm_efficiencies.get(precision)

    def check_fp8_recipe(self, recipe: str, where: str = "scenario.training.fp8_recipe") -> None:
        """Per-tensor scaling runs wherever fp8 does; a block-scaled recipe only where listed."""
        if recipe in PER_TENSOR_RECIPES or recipe in self.fp8_block_recipes:
            return
        raise ConfigError(where, recipe, f"a recipe {self.name} runs: "
                                         f"{', '.join(PER_TENSOR_RECIPES + self.fp8_block_recipes)}")

    def peak(self, precision: str, where: str = "scenario.training.precision") -> float:
        if precision not in self.peak_flops:
            raise ConfigError(where, precision,
                              f"a precision {self.name} supports: {', '.join(self.peak_flops)}")
        return self.peak_flops[precision]


_KEYS = {"name", "vendor", "description", "peak_flops", "compute_units", "hbm", "scale_up", "host_link", "kernels",
         "sources"}


def parse_accelerator(data: dict, where: str) -> Accelerator:
    """An accelerator from its YAML mapping; strict like scenarios."""
    unknown = set(data) - _KEYS
    if unknown:
        raise ConfigError(f"{where}.{sorted(unknown)[0]}", reason="unknown key", accepted=", ".join(sorted(_KEYS)))
    try:
        flops = {p: _rate(v, "flops", f"{where}.peak_flops.{p}") for p, v in data["peak_flops"].items()}
        return Accelerator(
            name=str(data["name"]), vendor=str(data.get("vendor", "")),
            description=str(data.get("description", "")), peak_flops=flops,
            hbm_capacity=parse_quantity(data["hbm"]["capacity"], "bytes", f"{where}.hbm.capacity"),
            hbm_bandwidth=_rate(data["hbm"]["bandwidth"], "bandwidth", f"{where}.hbm.bandwidth"),
            scale_up_bandwidth=_rate(data["scale_up"]["bandwidth"], "bandwidth",
                                              f"{where}.scale_up.bandwidth"),
            host_link_bandwidth=_rate(data["host_link"]["bandwidth"], "bandwidth",
                                               f"{where}.host_link.bandwidth"),
            sources=_sources(data.get("sources"), where),
            in_switch_reduction=_flag(data["scale_up"].get("in_switch_reduction", False),
                                      f"{where}.scale_up.in_switch_reduction"),
            compute_units=_count(data.get("compute_units"), f"{where}.compute_units"),
            **_kernels(data.get("kernels"), f"{where}.kernels", flops),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(where, reason=f"missing or malformed entry {exc}",
                          accepted="name, peak_flops, hbm.capacity, hbm.bandwidth, scale_up.bandwidth, "
                                   "host_link.bandwidth (see any file in the catalog)") from None


def _rate(value, kind: str, where: str) -> float:
    """A rate the simulator divides by: positive (a zero or vanishing rate is a mistake, not a
    very slow chip)."""
    rate = parse_quantity(value, kind, where)
    if rate < 1.0:
        raise ConfigError(where, value, KINDS[kind] + ", at least 1 (per second)")
    return rate


def _kernels(value, where: str, peak_flops: dict) -> dict:
    """The `kernels` section: measured large-GEMM efficiency per precision (one the accelerator
    lists in `peak_flops`), HBM efficiency and the fused-attention curve, each efficiency a
    fraction of the datasheet figure (above 0, at most 1)."""
    if value is None:
        return {}
    if not isinstance(value, dict) or set(value) - {"gemm_efficiency", "gemm_shape", "hbm_efficiency",
                                                    "flash_attention", "flash_attention_fp8", "fp8_gemm_layouts",
                                                    "fp8_block_recipes"}:
        raise ConfigError(where, value, "a mapping with gemm_efficiency (precision -> fraction), gemm_shape, "
                                        "hbm_efficiency, flash_attention, flash_attention_fp8, fp8_gemm_layouts "
                                        "and fp8_block_recipes")
    gemm = value.get("gemm_efficiency") or {}
    if not isinstance(gemm, dict):
        raise ConfigError(f"{where}.gemm_efficiency", gemm, "a mapping from a precision to a fraction of its peak")
    for precision in gemm:
        if precision not in peak_flops:
            raise ConfigError(f"{where}.gemm_efficiency.{precision}", reason="not a precision of peak_flops",
                              accepted=", ".join(peak_flops))
    out = {"gemm_efficiencies": {str(p): _fraction(f, f"{where}.gemm_efficiency.{p}") for p, f in gemm.items()}}
    layouts = value.get("fp8_gemm_layouts", "tn")
    if layouts not in ("tn", "any"):
        raise ConfigError(f"{where}.fp8_gemm_layouts", layouts, "tn (fp8 GEMMs read row-wise operands only: a "
                                                                "transposed copy is cast too) or any")
    out["fp8_gemm_layouts"] = layouts
    recipes = value.get("fp8_block_recipes", [])
    if not isinstance(recipes, list) or any(r not in BLOCK_SCALE_BYTES for r in recipes):
        raise ConfigError(f"{where}.fp8_block_recipes", recipes,
                          f"a list of block-scaled fp8 recipes: {', '.join(BLOCK_SCALE_BYTES)}")
    out["fp8_block_recipes"] = tuple(recipes)
    shape = value.get("gemm_shape")
    if shape is not None:
        prologue = shape.get("tile_prologue") if isinstance(shape, dict) else None
        if not isinstance(shape, dict) or set(shape) != {"fixed_time", "tile_prologue"} \
                or isinstance(prologue, bool) or not isinstance(prologue, (int, float)) or not 0 <= prologue <= 65536:
            raise ConfigError(f"{where}.gemm_shape", shape, "a mapping with fixed_time (a time per GEMM kernel) and "
                                                            "tile_prologue (k steps, 0 to 65536)")
        fixed = parse_quantity(shape["fixed_time"], "time", f"{where}.gemm_shape.fixed_time")
        if not 0 <= fixed <= 1e-2:
            raise ConfigError(f"{where}.gemm_shape.fixed_time", shape["fixed_time"], "0 to 10 ms")
        out["gemm_shape"] = (fixed, float(prologue))
    if value.get("hbm_efficiency") is not None:
        out["measured_hbm_efficiency"] = _fraction(value["hbm_efficiency"], f"{where}.hbm_efficiency")
    if value.get("flash_attention_fp8") is not None:
        out["flash_attention_fp8"] = _flash_curve(value["flash_attention_fp8"], f"{where}.flash_attention_fp8", ())
    flash = value.get("flash_attention")
    if flash is not None:
        out["flash_attention"] = _flash_curve(flash, f"{where}.flash_attention", ("head_dim",))
        dims = flash.get("head_dim") or {}
        if isinstance(dims, dict):   # keys as numbers, or as their digits (a JSON file's keys are strings)
            dims = {int(d) if isinstance(d, str) and d.isascii() and d.isdigit() and len(d) < 5 else d: r
                    for d, r in dims.items()}
        if not isinstance(dims, dict) or any(isinstance(d, bool) or not isinstance(d, int) or not 8 <= d <= 1024
                                             for d in dims):
            raise ConfigError(f"{where}.flash_attention.head_dim", dims,
                              "a mapping from a head dimension (8 to 1024) to its rate relative to head dim 128")
        out["flash_head_dims"] = {d: _ratio(r, f"{where}.flash_attention.head_dim.{d}") for d, r in dims.items()}
    return out


def _flash_curve(flash, where: str, optional: tuple[str, ...]) -> tuple[float, float]:
    """(efficiency, half_keys) of a fused attention kernel's curve."""
    half = flash.get("half_keys") if isinstance(flash, dict) else None
    if not isinstance(flash, dict) or set(flash) - set(optional) != {"efficiency", "half_keys"} \
            or isinstance(half, bool) or not isinstance(half, (int, float)) or not 0 <= half <= 1e6:
        raise ConfigError(where, flash, "a mapping with efficiency (a fraction of the 16-bit peak), half_keys (keys "
                                        "per query, 0 to 1e6)" + (" and optionally head_dim" if optional else ""))
    return _fraction(flash["efficiency"], f"{where}.efficiency"), float(half)


def _count(value, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000:
        raise ConfigError(where, value, "a whole number of streaming multiprocessors / compute units, 1 to 100,000")
    return value


def _ratio(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 2:
        raise ConfigError(where, value, "a ratio above 0 and at most 2 (measured rate / rate at head dim 128)")
    return float(value)


def _fraction(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ConfigError(where, value, "a fraction above 0 and at most 1 (measured / datasheet)")
    return float(value)


def _flag(value, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(where, value, "true or false")
    return value


def _sources(value, where: str) -> dict[str, str]:
    """An accelerator file's `sources`: figure -> where it comes from."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}.sources", value, "a mapping from a figure's name to its source")
    return {str(k): str(v) for k, v in value.items()}


def catalog_names() -> list[str]:
    return sorted(p.stem for p in CATALOG.glob("*.yaml"))


@lru_cache(maxsize=None)
def _load_cached(ref: str) -> Accelerator:
    # a catalog name is a name (no path is built from it); anything else must be a file path
    if ref in catalog_names():
        path = CATALOG / f"{ref}.yaml"
    elif ref.endswith((".yaml", ".yml", ".json")):
        path = Path(ref)
    else:
        path = None
    if path is None:
        raise ConfigError("scenario.system.accelerator", ref,
                          "a catalog name (" + ", ".join(catalog_names()) + ") or a path to an accelerator YAML")
    return parse_accelerator(read_mapping(path, "scenario.system.accelerator"), f"accelerator {path.name}")


def load_accelerator(ref: str) -> Accelerator:
    """By catalog name (e.g. 'H100-SXM') or by path to a YAML file of the same shape."""
    return _load_cached(ref)


@dataclass(frozen=True)
class Calibration:
    """The constants of calibration.yaml, as plain SI numbers."""

    fitted_on: str             # the accelerator the compute efficiencies were fitted on
    matmul_efficiency: float
    matmul_half_efficiency_flops: float
    kernel_floor: float
    memory_efficiency: float
    overlap_slowdown: float
    attention_efficiency: float
    protocol_efficiency: dict[str, float]
    hop_latency: dict[str, float]
    nvls_bandwidth_fraction: float
    protocols: dict[str, dict[str, float]]   # name -> launch_latency, step_latency, bandwidth_fraction, channel_rate


@lru_cache(maxsize=None)
def load_calibration(path: str | None = None) -> Calibration:
    data = yaml.safe_load(Path(path or DATA / "calibration.yaml").read_text())
    c, n = data["compute"], data["network"]
    return Calibration(
        fitted_on=str(c["fitted_on"]["value"]),
        matmul_efficiency=float(c["matmul_efficiency"]["value"]),
        matmul_half_efficiency_flops=float(c["matmul_half_efficiency_flops"]["value"]),
        kernel_floor=parse_quantity(c["kernel_floor"]["value"], "time", "calibration.kernel_floor"),
        memory_efficiency=float(c["memory_efficiency"]["value"]),
        overlap_slowdown=float(c["overlap_slowdown"]["value"]),
        attention_efficiency=float(c["attention_efficiency"]["value"]),
        protocol_efficiency={k: float(v["value"]) for k, v in n["protocol_efficiency"].items()},
        hop_latency={k: parse_quantity(v["value"], "time", f"calibration.hop_latency.{k}")
                     for k, v in n["hop_latency"].items()},
        nvls_bandwidth_fraction=float(n["nvls_bandwidth_fraction"]["value"]),
        protocols={name: {"launch_latency": parse_quantity(p["launch_latency"]["value"], "time", f"calibration.{name}"),
                          "step_latency": parse_quantity(p["step_latency"]["value"], "time", f"calibration.{name}"),
                          "bandwidth_fraction": float(p["bandwidth_fraction"]["value"]),
                          "channel_rate": parse_quantity(p["channel_rate"]["value"], "bandwidth", f"calibration.{name}")}
                   for name, p in n["protocols"].items()},
    )
