"""The compute model per accelerator: the calibrated efficiencies scaled by each chip's measured
kernel efficiencies, attention at bf16 under fp8, and a warning wherever a measurement is missing."""

import dataclasses

import pytest
import yaml

from simulator import simulate
from simulator.config import ConfigError
from simulator.hardware import RooflinePredictor, load_accelerator, load_calibration
from simulator.hardware.compute import compute_notes, gemm_kernel_time

from .conftest import ROOT, small_gpt

CALIB = load_calibration()


def test_the_accelerator_the_calibration_was_fitted_on_keeps_its_efficiencies():
    """On the A100-80GB (fitted_on) the rates are the calibrated ones exactly."""
    a100 = load_accelerator("A100-80GB")
    p = RooflinePredictor(a100, CALIB, "bf16")
    assert CALIB.fitted_on == "A100-80GB"
    assert p.matmul_rate == 312e12 * CALIB.matmul_efficiency
    assert p.memory_rate == a100.hbm_bandwidth * CALIB.memory_efficiency


@pytest.mark.parametrize("name, precision", [("H100-SXM", "bf16"), ("H100-SXM", "fp8"), ("MI300X", "bf16"), ("H200", "fp8")])
def test_other_accelerators_scale_by_their_measured_kernel_efficiencies(name, precision):
    """GEMMs at the calibrated efficiency times (this chip's / the reference chip's) large-GEMM
    efficiency; memory-bound kernels likewise with the measured HBM efficiencies."""
    acc, ref = load_accelerator(name), load_accelerator("A100-80GB")
    p = RooflinePredictor(acc, CALIB, precision)
    gemm = acc.gemm_efficiency(precision) / ref.gemm_efficiency("bf16")
    memory = acc.measured_hbm_efficiency / ref.measured_hbm_efficiency
    assert p.matmul_rate == pytest.approx(acc.peak(precision) * CALIB.matmul_efficiency * gemm, rel=1e-12)
    assert p.memory_rate == pytest.approx(acc.hbm_bandwidth * CALIB.memory_efficiency * memory, rel=1e-12)
    assert [n for n in compute_notes(acc, CALIB, precision) if "fused attention" not in n] == []


def test_mi300x_gemms_are_priced_below_h100_ones_of_the_same_peak_share():
    """The measured shares differ (about 51 % of peak on MI300X, 80 % on H100): an MI300X GEMM of
    the same FLOPs is slower than its peak alone would say."""
    h100, mi = (RooflinePredictor(load_accelerator(n), CALIB, "bf16") for n in ("H100-SXM", "MI300X"))
    assert mi.matmul_rate / h100.matmul_rate == pytest.approx((1307.4 * 0.511) / (989.4 * 0.803), rel=1e-3)
    assert mi.matmul_rate < h100.matmul_rate   # although its bf16 peak is 32 % higher


def test_fp8_runs_attention_at_the_bf16_rate():
    """fp8 speeds up the linear layers' GEMMs, not the attention kernels."""
    acc = load_accelerator("H100-SXM")
    fp8, bf16 = RooflinePredictor(acc, CALIB, "fp8"), RooflinePredictor(acc, CALIB, "bf16")
    assert fp8.attention_rate == bf16.attention_rate
    assert fp8.matmul_rate > 1.5 * bf16.matmul_rate


def test_a_missing_measurement_is_a_warning_everywhere(tmp_path):
    """B200 has no measured HBM bandwidth: the reference's efficiency is used, and summary.json
    and `validate` say so; a precision without its own GEMM measurement falls back to bf16's."""
    notes = compute_notes(load_accelerator("B200"), CALIB, "bf16")
    assert notes == ["no HBM bandwidth measurement for B200: the A100-80GB's efficiency is used"]
    assert "no fp16 GEMM measurement for MI300X" in compute_notes(load_accelerator("MI300X"), CALIB, "fp16")[0]
    sc = small_gpt(system={"accelerator": "B200", "num_nodes": 1, "gpus_per_node": 8})
    assert notes[0] in simulate(sc).summary["warnings"]
    path = tmp_path / "b200.yaml"
    path.write_text(yaml.safe_dump(sc))
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "simulator.cli", "validate", str(path)], capture_output=True, text=True)
    assert "no HBM bandwidth measurement for B200" in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize("kernels, field", [
    ({"gemm_efficiency": {"bf16": 1.5}}, "kernels.gemm_efficiency.bf16"),
    ({"gemm_efficiency": {"bf16": 0}}, "kernels.gemm_efficiency.bf16"),
    ({"hbm_efficiency": "high"}, "kernels.hbm_efficiency"),
    ({"gemm_efficiency": [0.8]}, "kernels.gemm_efficiency"),
    ({"clock": 1.0}, "kernels"),
    ({"gemm_efficiency": {"bf61": 0.8}}, "kernels.gemm_efficiency.bf61"),
    ({"flash_attention": {"efficiency": 0.6}}, "kernels.flash_attention"),
    ({"gemm_shape": {"fixed_time": "3 us"}}, "kernels.gemm_shape"),
    ({"flash_attention_fp8": {"efficiency": 0.8}}, "kernels.flash_attention_fp8"),
    ({"flash_attention_fp8": {"efficiency": 0.8, "half_keys": 100, "head_dim": {64: 0.7}}},
     "kernels.flash_attention_fp8"),
    ({"gemm_shape": {"fixed_time": "1 s", "tile_prologue": 64}}, "kernels.gemm_shape.fixed_time"),
    ({"gemm_shape": {"fixed_time": "3 us", "tile_prologue": -1}}, "kernels.gemm_shape"),
])
def test_bad_kernel_figures_in_an_accelerator_file_are_refused(tmp_path, kernels, field):
    spec = yaml.safe_load((ROOT / "simulator/data/accelerators/H100-SXM.yaml").read_text())
    spec["kernels"] = kernels
    path = tmp_path / "gpu.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_accelerator(str(path))


def test_fp8_casts_each_linear_layers_input_and_output_gradient():
    """Under fp8 each linear layer's GEMM follows a cast of its input (4 bytes an element: one
    16-bit read, a row-wise and a transposed fp8 write) and its backward casts the output gradient;
    the LM head and the router stay 16-bit; a bf16 run has no casts."""
    from simulator.config import load_scenario
    from simulator.workload.costs import FP8_CAST_BYTES, Shape, backward, head_block, mlp_block, moe_blocks
    sc = load_scenario(small_gpt(training={"micro_batch_size": 2, "global_batch_size": 32, "seq_length": 1024,
                                           "precision": "fp8"},
                                 system={"accelerator": "H100-SXM", "num_nodes": 2, "gpus_per_node": 4}))
    x = Shape.of(sc.model, sc.training, 2, 32768)
    mlp = mlp_block(x)
    casts = {op.name: op for op in mlp + backward(mlp) if op.kind == "cast"}
    up = next(op for op in mlp if op.name == "mlp_up")
    m, k, n = up.shape
    assert casts["mlp_up.fp8_cast"].bytes == FP8_CAST_BYTES["delayed"] * m * k
    assert casts["mlp_up.fp8_cast.bwd"].bytes == FP8_CAST_BYTES["delayed"] * m * n
    assert len(casts) == 4                      # up and down, forward and backward
    assert {op.kind for op in head_block(x) if op.name.startswith("lm_head")} == {"matmul16"}
    router, _, _ = moe_blocks(x, dataclasses.replace(sc.model, num_experts=8), 1, 1.0)
    assert {op.kind for op in router if op.name == "router"} == {"matmul16"}
    assert not any(op.kind == "cast" for op in mlp_block(dataclasses.replace(x, fp8=None)))
    tensorwise = {op.name: op for op in mlp_block(dataclasses.replace(x, fp8="tensorwise")) if op.kind == "cast"}
    assert tensorwise["mlp_up.fp8_cast"].bytes == 1.5 * casts["mlp_up.fp8_cast"].bytes   # one more 16-bit read


def test_fp8_gemm_speedup_agrees_with_transformer_engines_measurement():
    """The GEMMs of one layer with their casts: fp8 over bf16 within 10 % of Transformer Engine's
    GEMM profiling tutorial (1.69x with delayed scaling; validation/kernels.py prints both)."""
    import sys
    sys.path.insert(0, str(ROOT / "validation"))
    import kernels
    assert abs(kernels.fp8_gemms()) < 0.10


def test_fused_attention_follows_its_measured_ramp_in_the_models_flops():
    """A causal fused attention kernel with s keys per query runs at R_max s / (s + half_keys) in
    the benchmarks' FLOPs (half the scores, backward 2.5 forwards): in the model's FLOPs (all the
    scores, backward 2 forwards) the same time is a rate 12/7 higher; the training stack's share
    is the GEMMs'. An accelerator without a measurement borrows the reference's, scaled."""
    from simulator.workload.costs import Op
    acc = load_accelerator("H200")
    p = RooflinePredictor(acc, CALIB, "bf16")
    efficiency, half = acc.flash_attention
    stack = CALIB.matmul_efficiency / load_accelerator("A100-80GB").gemm_efficiency("bf16")
    flops, keys = 4 * 8192 ** 2 * 64 * 128, 8192                 # one forward, full scores
    t = p.time(Op("attention_core", "flash_attention", flops, 0.0, (8192, keys, 128)))
    benchmark_rate = (flops / 2) * 3.5 / 3 / t                    # what a benchmark would print
    assert benchmark_rate == pytest.approx(efficiency * 989.4e12 * keys / (keys + half) * stack, rel=1e-12)
    unmeasured = dataclasses.replace(load_accelerator("MI300X"), flash_attention=None)
    assert any("no fused attention measurement for MI300X" in n for n in compute_notes(unmeasured, CALIB, "bf16"))


def test_fp8_reports_what_its_gemms_save_and_its_casts_add():
    """On one GPU with nothing but compute, the fp8 iteration is the bf16 one less what the fp8
    GEMMs save plus what their casts add, as summary['fp8'] states them."""
    from simulator import simulate
    from .conftest import small_gpt
    one = {"parallelism": {"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 1},
           "system": {"accelerator": "H100-SXM", "num_nodes": 1, "gpus_per_node": 1},
           "training": {"micro_batch_size": 2, "global_batch_size": 4, "seq_length": 2048},
           "model": {"hidden_size": 4096, "num_hidden_layers": 2, "num_attention_heads": 32, "vocab_size": 32000}}
    bf16 = simulate(small_gpt(**one))
    fp8 = simulate(small_gpt(**{**one, "training": {**one["training"], "precision": "fp8"}}))
    effect = fp8.summary["fp8"]
    assert bf16.summary["fp8"] is None
    assert effect["gemm_time_saved_s"] > effect["cast_time_added_s"] > 0
    expected = bf16.iteration_time - effect["gemm_time_saved_s"] + effect["cast_time_added_s"]
    assert fp8.iteration_time == pytest.approx(expected, rel=1e-9)
    assert "fp8              GEMMs" in fp8.report()


def test_fused_attention_follows_the_measured_rate_by_head_dimension():
    """A flash-attention op at head dim 64 or 256 runs at the kernel's measured rate relative to
    head dim 128 (the accelerator file's ratios are the means of the published measurements);
    between and beyond the measured head dims the ratio is interpolated or held."""
    import statistics
    import sys
    from pathlib import Path
    from simulator.workload.costs import Op
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "validation"))
    import kernels
    ratios = kernels.head_dim_ratios()
    for acc, kernel, d in (("A100-80GB", "FlashAttention-2 fwd+bwd", 64), ("H100-SXM", "cuDNN fwd", 64),
                           ("H100-SXM", "cuDNN fwd", 256)):
        assert load_accelerator(acc).flash_head_dims[d] == pytest.approx(statistics.mean(ratios[(acc, kernel, d)]),
                                                                         abs=0.002)
    pred = RooflinePredictor(load_accelerator("H100-SXM"), load_calibration(), "bf16")
    op = lambda d: Op("attention_core", "flash_attention", 1e13, 0.0, (8192, 8192, d))  # noqa: E731
    base = pred.time(op(128))
    assert pred.time(op(64)) == pytest.approx(base / 0.707)
    assert pred.time(op(256)) == pytest.approx(base / 0.946)
    assert pred.time(op(512)) == pytest.approx(base / 0.946)
    assert base / pred.time(op(96)) == pytest.approx(0.707 + (1 - 0.707) * 0.5849625, rel=1e-6)   # log2 96 between 6 and 7


def test_a_head_dim_without_attention_measurements_is_a_warning():
    from simulator.api import prepare
    from .conftest import small_gpt
    sc = small_gpt(model={"hidden_size": 3072, "num_hidden_layers": 2, "num_attention_heads": 16, "vocab_size": 32000},
                   system={"accelerator": "H200", "num_nodes": 1, "gpus_per_node": 4})
    assert any("H200 at head dim 192" in w for w in prepare(sc).warnings)
    sc["system"]["accelerator"] = "H100-SXM"
    assert not any("head dim" in w for w in prepare(sc).warnings)


def test_blackwell_fp8_casts_write_no_transposed_copy():
    """On Hopper an fp8 GEMM reads only row-wise operands, so each cast also writes a transposed
    copy (4 bytes per element with delayed scaling); Blackwell's read either layout (3 bytes)."""
    from simulator.workload.costs import Op
    cast = Op("qkv_proj.fp8_cast", "cast", 0.0, 4 * 65536 * 4096, (65536, 4096, 1536))   # well above the kernel floor
    for name, per_element in (("H100-SXM", 4), ("B200", 3)):
        acc = load_accelerator(name)
        p = RooflinePredictor(acc, CALIB, "fp8")
        assert p.time(cast) == pytest.approx(per_element * 65536 * 4096 / p.memory_rate)
    assert load_accelerator("H100-SXM").fp8_gemm_layouts == "tn" and load_accelerator("B200").fp8_gemm_layouts == "any"


@pytest.mark.parametrize("units", [0, 1.5, True, "132"])
def test_a_bad_compute_unit_count_is_refused(tmp_path, units):
    spec = yaml.safe_load((ROOT / "simulator/data/accelerators/H100-SXM.yaml").read_text())
    spec["compute_units"] = units
    path = tmp_path / "gpu.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match="compute_units"):
        load_accelerator(str(path))


def test_a_gemm_kernel_runs_its_tiles_in_waves_over_the_compute_units():
    """132 SMs: 132 output tiles of 128 x 128 take one wave, 133 take two (k too short to
    split); the fixed time and the tile prologue add as stated; a long k is split over idle SMs."""
    rate, units, mem = 132e12, 132, 3e12   # 1e12 FLOP/s per SM
    one = gemm_kernel_time(128 * 132, 256, 128, rate, units, 0.0, 0.0, mem)
    assert one == pytest.approx(2 * 128 * 128 * 256 / 1e12)
    assert gemm_kernel_time(128 * 133, 256, 128, rate, units, 0.0, 0.0, mem) == pytest.approx(2 * one)
    assert gemm_kernel_time(128 * 132, 256, 128, rate, units, 5e-6, 64, mem) == \
        pytest.approx(5e-6 + one * (256 + 64) / 256)
    # one tile, k = 65536: without a split one SM works alone; split 16 ways it is ~16x faster
    alone = 2 * 128 * 128 * 65536 / 1e12
    split = gemm_kernel_time(128, 65536, 128, rate, units, 0.0, 0.0, mem)
    assert alone / 17 < split < alone / 15


def test_the_kernel_shape_model_fits_the_published_gemm_tables():
    """The catalog's gemm_shape constants reproduce the vendor-library rows they were fitted to
    within 12 % on average (log error) per accelerator, far closer than the size curve on the
    same rows (validation/calibrate_gemm.py prints both)."""
    import statistics
    import sys
    sys.path.insert(0, str(ROOT / "validation"))
    from calibrate_gemm import FAMILIES, curve_log_error, fitting, log_error, rows
    data = rows()
    for family, members in FAMILIES.items():
        acc = load_accelerator(members[0])
        fitted = [r for r in data if r["accelerator"] in members and fitting(r)]
        score = statistics.mean(abs(log_error(r, *acc.gemm_shape)) for r in fitted)
        assert score < (0.25 if family == "MI300X" else 0.12), (family, score)
        curve = statistics.mean(abs(curve_log_error(r)) for r in fitted)
        assert score < curve, (family, score, curve)


def test_backward_gemms_carry_their_own_shapes():
    """dgrad of [m x k] @ [k x n] is [m x n] @ [n x k]; wgrad is [k x m] @ [m x n] (the tokens
    are its reduction), and a TP-overlap chunk cuts the tokens of each."""
    from simulator.workload.costs import Op, backward, token_chunk
    fwd = Op("proj", "matmul", 2.0 * 8 * 4 * 2, 0.0, (8, 4, 2))
    dgrad, wgrad = backward((fwd,))
    assert (dgrad.shape, wgrad.shape) == ((8, 2, 4), (4, 8, 2))
    assert dgrad.flops == wgrad.flops == fwd.flops
    assert token_chunk(dgrad, 4).shape == (2, 2, 4) and token_chunk(wgrad, 4).shape == (4, 2, 2)
    assert token_chunk(fwd, 2).flops == fwd.flops / 2


def _fp8_layer(accelerator: str, fp8_attention: bool):
    sc = small_gpt(system={"accelerator": accelerator, "num_nodes": 1, "gpus_per_node": 8},
                   model={"hidden_size": 4096, "num_hidden_layers": 4, "num_attention_heads": 32,
                          "vocab_size": 32000},
                   training={"micro_batch_size": 1, "global_batch_size": 8, "seq_length": 8192,
                             "precision": "fp8", "fp8_attention": fp8_attention},
                   parallelism={"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 1})
    return simulate(sc, check_memory=False)


def test_fp8_attention_runs_at_the_measured_fp8_kernel_rate():
    """B200's fp8 fused attention follows its own measured curve: at 8,192 keys the ratio of the
    kernels' times is that of the two curves, and the whole layer is faster; H100 has no fp8
    measurement, keeps the 16-bit rate and says so."""
    from simulator.workload.costs import Op
    acc = load_accelerator("B200")
    (e16, h16), (e8, h8) = acc.flash_attention, acc.flash_attention_fp8
    predictor = RooflinePredictor(acc, CALIB, "fp8")
    flops = 4.0 * 8192 * 8192 * 4096
    t16, t8 = (predictor.time(Op("attention_core", kind, flops, 0.0, (8192, 8192, 128)))
               for kind in ("flash_attention", "flash_attention_fp8"))
    assert t8 / t16 == pytest.approx((e16 * 8192 / (8192 + h16)) / (e8 * 8192 / (8192 + h8)), rel=1e-12)
    assert _fp8_layer("B200", True).iteration_time < _fp8_layer("B200", False).iteration_time
    h100 = _fp8_layer("H100-SXM", True)
    assert h100.iteration_time == _fp8_layer("H100-SXM", False).iteration_time
    assert "no fp8 fused attention measurement for H100-SXM" in " ".join(h100.summary["warnings"])


@pytest.mark.parametrize("training", [{"precision": "bf16", "fp8_attention": True},
                                      {"precision": "fp8", "use_flash_attn": False, "fp8_attention": True}])
def test_fp8_attention_needs_fp8_and_a_fused_kernel(training):
    sc = small_gpt(training={"micro_batch_size": 2, "global_batch_size": 32, "seq_length": 1024, **training},
                   system={"accelerator": "H100-SXM", "num_nodes": 2, "gpus_per_node": 4})
    with pytest.raises(ConfigError, match=r"training\.fp8_attention"):
        simulate(sc)


def test_the_chunks_of_one_gemm_share_one_host_dispatch():
    """A GEMM below the kernel floor costs one floor; cut into t chunks for TP overlap (the
    library launches them from one call) each chunk is floored at 1/t of it, not at a whole one
    (each still pays a GEMM kernel's fixed cost)."""
    from simulator.workload.costs import Op, token_chunk
    calib = load_calibration()
    h100 = load_accelerator("H100-SXM")
    pred = RooflinePredictor(h100, calib, "bf16")
    gpu = RooflinePredictor(h100, dataclasses.replace(calib, kernel_floor=0.0), "bf16").time   # no floor
    tiny = Op("qkv_proj", "matmul", 2.0 * 64 * 128 * 128, 2.0 * (128 * 128 + 2 * 64 * 128), (64, 128, 128))
    assert pred.time(tiny) == calib.kernel_floor
    chunk = token_chunk(tiny, 8)
    assert pred.time(chunk) == pytest.approx(max(gpu(chunk), calib.kernel_floor / 8))
    assert pred.time(chunk) < calib.kernel_floor / 4          # not a whole floor per chunk
    assert pred.time(token_chunk(Op("copy", "elementwise", 0.0, 64.0), 8)) == pytest.approx(calib.kernel_floor / 8)
    big = Op("mlp_up", "matmul", 2.0 * 8192 * 8192 * 8192, 0.0, (8192, 8192, 8192))   # far above the floor
    assert pred.time(token_chunk(big, 4)) > calib.kernel_floor


def test_fp8_param_gather_halves_the_parameter_all_gathers():
    """With ZeRO and fp8_param_gather the parameters are all-gathered in fp8: every parameter
    all-gather carries half the bytes; the gradient reductions do not change."""
    par = {"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 1, "zero_stage": 1}
    system = {"accelerator": "H100-SXM", "num_nodes": 2, "gpus_per_node": 4}
    runs = [simulate(small_gpt(training={"micro_batch_size": 2, "global_batch_size": 32, "seq_length": 1024,
                                         "precision": "fp8", "fp8_param_gather": on},
                               parallelism=par, system=system)).tables["ops"] for on in (False, True)]
    gathers = [ops[ops["name"] == "dp_all_gather"]["bytes"].sum() for ops in runs]
    reduces = [ops[ops["name"] == "dp_reduce_scatter"]["bytes"].sum() for ops in runs]
    assert gathers[0] > 0 and gathers[1] == pytest.approx(gathers[0] / 2)
    assert reduces[0] > 0 and reduces[1] == reduces[0]


def test_fp8_param_gather_needs_fp8():
    sc = small_gpt(training={"micro_batch_size": 2, "global_batch_size": 32, "seq_length": 1024,
                             "fp8_param_gather": True})
    with pytest.raises(ConfigError, match=r"training\.fp8_param_gather.*precision is fp8"):
        simulate(sc)


@pytest.mark.parametrize("model, tp", [("llama3-8b", 1), ("llama3-70b", 8)])
def test_the_kernel_measurement_script_times_the_gemms_the_simulator_prices(model, tp):
    """validation/measure_kernels.py (run on a GPU) measures each layer GEMM of Llama-3 8B at TP 1
    and 70B at TP 8, forward and both backward GEMMs: the same shapes the simulator prices."""
    import sys
    from collections import Counter
    sys.path.insert(0, str(ROOT / "validation"))
    from measure_kernels import layer_gemms
    from simulator.config import load_scenario
    from simulator.workload.costs import Shape, attention_block, backward, mlp_block
    sc = load_scenario({**small_gpt(training={"micro_batch_size": 1, "global_batch_size": 8, "seq_length": 8192}),
                        "model": {"hf_config": str(ROOT / "scenarios" / "models" / f"{model}.json")}})
    x = Shape.of(sc.model, sc.training, tp, sc.model.vocab_size)
    ops = attention_block(x) + mlp_block(x)
    priced = Counter((m, n, k) for op in ops + backward(ops) if op.kind == "matmul"
                     for m, k, n in [op.shape])
    script = layer_gemms(sc.model.hidden_size, sc.model.ffn_size, sc.model.num_attention_heads,
                         sc.model.kv_heads, tp, 8192)
    assert Counter((m, n, k) for _, m, n, k in script) == priced
    assert len(script) == 12


def test_the_kernel_measurement_script_counts_attention_flops_as_the_benchmarks_do():
    """Forward 4 b s^2 h d halved by the causal mask, backward 2.5 forwards: the convention of
    attention.csv, so measured rows join the published ones."""
    import sys
    sys.path.insert(0, str(ROOT / "validation"))
    from measure_kernels import attention_flops, catalog_name, gemm_plan
    assert attention_flops(2, 16, 8192, 128, "fwd") == 2 * 2 * 8192 ** 2 * 16 * 128
    assert attention_flops(2, 16, 8192, 128, "fwd+bwd") == 3.5 * attention_flops(2, 16, 8192, 128, "fwd")
    assert catalog_name("NVIDIA H200") == "H200" and catalog_name("NVIDIA H100 80GB HBM3") == "H100-SXM"
    assert gemm_plan(quick=True)[0] == ("cube", 4096, 4096, 4096)


# casts of a few hundred MB, well above the kernel floor
BIG_FP8_BATCH = {"micro_batch_size": 8, "global_batch_size": 64, "seq_length": 8192, "precision": "fp8"}
BIG_FP8_MODEL = {"hidden_size": 4096, "num_hidden_layers": 4, "num_attention_heads": 32, "vocab_size": 32000}


def test_block_scaled_casts_write_both_copies_with_their_scales_on_every_chip():
    """Block scaling quantizes the row-wise and the column-wise copy apart (their blocks run along
    different dimensions), each with a scale per block (E8M0 per 32 elements, fp32 per 128): 2 +
    2 x (1 + 1/32) bytes per element, on Blackwell too, where a per-tensor cast writes one copy."""
    from simulator.config import load_scenario
    from simulator.workload.costs import Shape, backward, mlp_block
    for accelerator, recipe, per_tensor in (("B200", "mxfp8", 3), ("H100-SXM", "blockwise", 4)):
        sc = load_scenario(small_gpt(training=BIG_FP8_BATCH | {"fp8_recipe": recipe}, model=BIG_FP8_MODEL,
                                     system={"accelerator": accelerator, "num_nodes": 2, "gpus_per_node": 4}))
        x = Shape.of(sc.model, sc.training, 2, 32768)
        ops = mlp_block(x)
        casts = [op for op in ops + backward(ops) if op.kind == "block_cast"]
        assert len(casts) == 4 and not any(op.kind == "cast" for op in ops)
        up = next(op for op in ops if op.name == "mlp_up.fp8_cast")
        m, k, _ = up.shape
        p = RooflinePredictor(load_accelerator(accelerator), CALIB, "fp8")
        assert p.time(up) == pytest.approx((2 + 2 * (1 + 1 / 32)) * m * k / p.memory_rate)
        delayed = next(op for op in mlp_block(dataclasses.replace(x, fp8="delayed")) if op.name == "mlp_up.fp8_cast")
        assert p.time(delayed) == pytest.approx(per_tensor * m * k / p.memory_rate)


def test_block_scaled_fp8_reports_its_casts_and_runs_the_gemms_at_the_fp8_rate():
    """An mxfp8 run on B200 prices the GEMMs as per-tensor fp8 does and reports the casts it adds
    in summary.json's fp8 (more than delayed scaling's, which write one copy there)."""
    def run(recipe):
        return simulate(small_gpt(training=BIG_FP8_BATCH | {"fp8_recipe": recipe}, model=BIG_FP8_MODEL,
                                  system={"accelerator": "B200", "num_nodes": 2, "gpus_per_node": 4}),
                        check_memory=False).summary["fp8"]
    mx, delayed = run("mxfp8"), run("delayed")
    assert mx["gemm_time_saved_s"] == pytest.approx(delayed["gemm_time_saved_s"])
    assert mx["cast_time_added_s"] > delayed["cast_time_added_s"] > 0


@pytest.mark.parametrize("accelerator, recipe, accepted", [("H100-SXM", "mxfp8", "delayed, tensorwise, blockwise"),
                                                           ("MI300X", "blockwise", "delayed, tensorwise")])
def test_a_block_scaled_recipe_the_accelerator_lacks_is_refused(accelerator, recipe, accepted):
    sc = small_gpt(training={"micro_batch_size": 2, "global_batch_size": 32, "seq_length": 1024,
                             "precision": "fp8", "fp8_recipe": recipe},
                   system={"accelerator": accelerator, "num_nodes": 2, "gpus_per_node": 4})
    with pytest.raises(ConfigError, match=rf"training\.fp8_recipe.*{recipe}.*{accepted}"):
        simulate(sc)


def test_block_scaled_fp8_param_gather_moves_both_copies():
    """fp8_param_gather under block scaling all-gathers the row-wise and the column-wise copy
    with their scales (Transformer Engine cannot make one from the other): no saving over bf16."""
    from simulator.config import load_scenario
    training = {"micro_batch_size": 2, "global_batch_size": 32, "seq_length": 1024, "precision": "fp8",
                "fp8_param_gather": True}
    gather = {r: load_scenario(small_gpt(training={**training, "fp8_recipe": r})).training.param_gather_bytes
              for r in ("delayed", "mxfp8", "blockwise")}
    assert gather == {"delayed": 1, "mxfp8": 2 * (1 + 1 / 32), "blockwise": pytest.approx(2.0, abs=1e-3)}


def test_bad_fp8_block_recipes_in_an_accelerator_file_are_refused(tmp_path):
    spec = yaml.safe_load((ROOT / "simulator/data/accelerators/H100-SXM.yaml").read_text())
    spec["kernels"]["fp8_block_recipes"] = ["nvfp4"]
    path = tmp_path / "gpu.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match="fp8_block_recipes.*mxfp8, blockwise"):
        load_accelerator(str(path))
