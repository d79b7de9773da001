"""Software stacks (training.framework): their data, the gradient buckets, TP overlap and softmax
fusion they allow, and the warning of a stack whose compute was never calibrated."""

import pytest
import yaml

from simulator import simulate
from simulator.config import ConfigError, load_scenario
from simulator.config.frameworks import DATA, FITTED_STACK, FRAMEWORKS
from simulator.config.megatron import scenario_from_megatron

from .conftest import small_gpt


def test_every_stack_says_how_it_is_priced_and_where_each_behaviour_is_documented():
    raw = yaml.safe_load(DATA.read_text())
    assert set(raw) == set(FRAMEWORKS) >= {"megatron-core", "megatron-deepspeed", "deepspeed-zero", "pytorch-fsdp",
                                           "torchtitan"}
    for name, stack in FRAMEWORKS.items():
        assert stack.compute in ("fitted", "shared", "borrowed"), name
        assert stack.gradient_bucket in ("megatron", "layer") or isinstance(stack.gradient_bucket, int), name
        assert stack.softmax_fusion in (None, 2048, 4096), name
        assert set(stack.sources) == {"compute", "gradient_bucket", "tp_comm_overlap", "softmax_fusion"}, name
        assert all(len(text) > 30 for text in stack.sources.values()), name
    assert [n for n, s in FRAMEWORKS.items() if s.compute == "fitted"] == [FITTED_STACK]


def test_the_default_stack_is_megatron_core_and_summary_names_it():
    r = simulate(small_gpt())
    assert r.summary["framework"] == "megatron-core"
    assert not any("compute calibration" in w for w in r.summary["warnings"])


@pytest.mark.parametrize("name", ["deepspeed-zero", "pytorch-fsdp", "torchtitan"])
def test_a_stack_without_compute_calibration_is_a_warning(name):
    r = simulate(small_gpt(training={"micro_batch_size": 2, "global_batch_size": 32, "seq_length": 1024,
                                     "framework": name}))
    assert f"no compute calibration for training.framework {name}" in " ".join(r.summary["warnings"])


def test_an_unknown_stack_names_the_field_and_the_choices():
    with pytest.raises(ConfigError, match=r"training\.framework.*megatron-core"):
        load_scenario(small_gpt(training={"micro_batch_size": 2, "global_batch_size": 32, "seq_length": 1024,
                                          "framework": "jax"}))


def test_tp_comm_overlap_needs_a_stack_that_can_overlap():
    sc = small_gpt(training={"micro_batch_size": 2, "global_batch_size": 32, "seq_length": 1024,
                             "framework": "pytorch-fsdp"},
                   parallelism={"tensor_model_parallel_size": 2, "pipeline_model_parallel_size": 2,
                                "sequence_parallel": True, "tp_comm_overlap": True})
    with pytest.raises(ConfigError, match=r"tp_comm_overlap.*pytorch-fsdp.*megatron-core, torchtitan"):
        simulate(sc)
    sc["training"]["framework"] = "torchtitan"
    assert simulate(sc).iteration_time > 0


def _buckets(framework: str, **parallelism) -> int:
    sc = small_gpt(training={"micro_batch_size": 2, "global_batch_size": 32, "seq_length": 1024,
                             "framework": framework},
                   parallelism={"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 1,
                                "overlap_grad_reduce": True, **parallelism},
                   system={"num_nodes": 2, "gpus_per_node": 8})
    ops = simulate(sc).tables["ops"]
    return len(ops.query("name == 'dp_all_reduce_bucket' and rank == 0"))


def test_each_stack_reduces_gradients_in_its_own_buckets():
    """8 layers of 12.6 M parameters: Megatron's 40 M buckets hold 4 layers (2 buckets), DeepSpeed's
    5e8 all of them (1), an FSDP unit is one layer (8); a scenario's ddp_bucket_size wins."""
    assert _buckets("megatron-core") == 2
    assert _buckets("deepspeed-zero") == 1
    assert _buckets("pytorch-fsdp") == _buckets("torchtitan") == 8
    assert _buckets("pytorch-fsdp", ddp_bucket_size=40_000_000) == 2


def test_megatron_fp8_dot_product_attention_sets_fp8_attention():
    from simulator.config.megatron import megatron_names
    out = megatron_names({"training": {"fp8_format": "hybrid", "fp8_dot_product_attention": True}})
    assert out["training"] == {"precision": "fp8", "fp8_attention": True}
    data, ignored = scenario_from_megatron({"fp8_format": "hybrid", "fp8_param_gather": True}, {})
    assert data["training"]["fp8_param_gather"] is True and "fp8_param_gather" not in ignored


def test_megatron_launch_lines_name_their_stack():
    data, ignored = scenario_from_megatron({"deepspeed": True, "micro_batch_size": 1}, {})
    assert data["training"]["framework"] == "megatron-deepspeed" and "deepspeed" not in ignored
    data, _ = scenario_from_megatron({"micro_batch_size": 1}, {})
    assert data["training"]["framework"] == "megatron-core"


def _shape(framework: str, micro_batch: int, seq: int, tp: int = 8, precision: str = "fp16"):
    from simulator.workload.costs import Shape
    sc = load_scenario(small_gpt(training={"micro_batch_size": micro_batch, "global_batch_size": 8 * micro_batch,
                                           "seq_length": seq, "precision": precision, "use_flash_attn": False,
                                           "framework": framework}))
    return Shape.of(sc.model, sc.training, tp, 32000)


def test_megatron_fuses_the_softmax_only_where_its_kernel_applies():
    """16 heads on 8 TP ranks: 2 per rank, so one sequence per micro-batch gives 2 attention
    batches (not a multiple of 4: PyTorch's path), two give 4 (fused); more keys than the stack's
    kernel takes (4,096 in Megatron-Core, 2,048 in Megatron-DeepSpeed) or fp32 scores never fuse;
    a stack without Megatron's kernel never does."""
    assert not _shape("megatron-deepspeed", 1, 1024).fused_softmax
    assert _shape("megatron-deepspeed", 2, 1024).fused_softmax
    assert _shape("megatron-core", 1, 1024, tp=4).fused_softmax
    assert _shape("megatron-core", 2, 4096).fused_softmax and not _shape("megatron-deepspeed", 2, 4096).fused_softmax
    assert not _shape("megatron-core", 2, 8192).fused_softmax
    assert not _shape("megatron-core", 2, 1024, precision="tf32").fused_softmax
    assert not _shape("pytorch-fsdp", 2, 1024).fused_softmax


def test_pytorchs_softmax_path_is_a_chain_of_kernels_recomputed_with_the_core():
    from simulator.workload.costs import attention_block
    fused = [op for op in attention_block(_shape("megatron-core", 2, 1024)) if op.name.startswith("attention_softmax")]
    chain = [op for op in attention_block(_shape("megatron-core", 1, 1024)) if op.name.startswith("attention_softmax")]
    assert len(fused) == 1 and len(chain) == 6   # upcast, scale, mask, softmax, downcast, dropout
    scores = 1 * 2 * 1024 * 1024   # micro-batch x heads per rank x queries x keys
    assert sum(op.bytes for op in chain) == (6 + 8 + 8 + 8 + 6 + 5) * scores
    assert fused[0].bytes == 9 * 2 * scores   # two sequences: softmax and dropout in 16 bits, a 1-byte mask


def test_megatron_fp8_recipes_include_block_scaling():
    from simulator.config.megatron import megatron_names
    data, ignored = scenario_from_megatron({"fp8_format": "e4m3", "fp8_recipe": "mxfp8"}, {})
    assert "fp8_recipe" not in ignored
    assert megatron_names(data)["training"] == {"framework": "megatron-core", "precision": "fp8", "fp8_recipe": "mxfp8"}
