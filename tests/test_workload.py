import pytest

from simulator.config import ConfigError, load_scenario
from simulator.workload import compile_job, make_plan
from simulator.workload.costs import Shape, attention_block, layer_params
from simulator.workload.memory import layer_activation_bytes, memory_per_rank
from simulator.workload.plan import split_layers
from simulator.workload.schedule import one_f_one_b

from .conftest import SCENARIOS, small_gpt


def test_model_flops_match_megatron_formula():
    """GPT model FLOPs per iteration equal Megatron's 72 B s L h^2 (1 + s/6h + V/12hL), with V the
    model's own vocabulary (Megatron's count uses the padded one; the padding is not model work)."""
    sc = load_scenario(SCENARIOS / "gpt3-175b-1024xa100.yaml")
    job = compile_job(sc)
    B, s, L, h, V = 1536, 2048, 96, 12288, sc.model.vocab_size
    expected = 72 * B * s * L * h**2 * (1 + s / (6 * h) + V / (12 * h * L))
    assert job.model_flops == pytest.approx(expected, rel=1e-12)


def test_model_flops_do_not_depend_on_tensor_parallelism():
    """The vocabulary padded to 128 x TP is not model work: model FLOPs (the MFU numerator) are the
    same at any TP, while the simulated LM head does grow with the padding."""
    flops = []
    for tp in (1, 2, 8):  # GPT-2's 50,257 words pad to 50,304, 50,432 and 51,200
        model = {**small_gpt()["model"], "vocab_size": 50257}
        sc = load_scenario(small_gpt(model=model, parallelism={"tensor_model_parallel_size": tp,
                                                               "pipeline_model_parallel_size": 1}))
        flops.append(compile_job(sc).model_flops)
    assert flops[1] == pytest.approx(flops[0], rel=1e-12) and flops[2] == pytest.approx(flops[0], rel=1e-12)


def test_multi_token_prediction_adds_a_layer_and_a_head_pass_on_the_last_stage():
    """One MTP depth: the last pipeline stage runs one more decoder layer, the 2h -> h projection
    and a second pass through the LM head and loss, forward and backward; the first stage is
    unchanged; model FLOPs grow by exactly that work and the last stage holds its weights and its
    logits."""
    from collections import Counter

    from simulator.workload import Compute
    from simulator.workload.costs import head_block, model_flops, mtp_block
    over = {"parallelism": {"tensor_model_parallel_size": 2, "pipeline_model_parallel_size": 2}}
    base = compile_job(load_scenario(small_gpt(**over)))
    sc = load_scenario(small_gpt(model={**small_gpt()["model"], "mtp_layers": 1}, **over))
    job = compile_job(sc)
    assert job.plan.layers_per_stage == (4, 5)

    def ops(j, stage):
        return [(i.name, i.phase) for i in j.programs[stage].instructions if isinstance(i, Compute)]
    assert ops(job, 0) == ops(base, 0)
    extra = [op for op in ops(job, 1) if op[0].startswith("mtp_")]
    m = job.plan.num_microbatches
    assert Counter(extra) == {("mtp_projection", "forward"): m, ("mtp_head_loss", "forward"): m,
                              ("mtp_head_loss", "backward"): m, ("mtp_projection", "backward"): m}
    x = Shape.of(sc.model, sc.training, 2, job.plan.padded_vocab)
    one_layer = (base.model_flops / job.plan.num_microbatches / job.plan.dp / 2
                 - model_flops(head_block(x)) * sc.model.vocab_size / job.plan.padded_vocab) / 8
    per_mb = one_layer + model_flops(mtp_block(x, 2)) + model_flops(head_block(x)) * sc.model.vocab_size / job.plan.padded_vocab
    assert job.model_flops - base.model_flops == pytest.approx(per_mb * 2 * job.plan.num_microbatches * job.plan.dp,
                                                               rel=1e-12)
    assert job.memory[0] == base.memory[0]
    assert job.memory[1]["weights"] > base.memory[1]["weights"]
    assert job.memory[1]["activations"] > base.memory[1]["activations"]


def test_model_flops_are_about_6ND_for_large_models():
    """Without attention and vocabulary terms, FLOPs per token are 6 x parameters."""
    sc = load_scenario(SCENARIOS / "gpt3-175b-1024xa100.yaml")
    job = compile_job(sc)
    n_params = 96 * layer_params(sc.model)
    per_token = job.model_flops / job.tokens
    assert per_token == pytest.approx(6 * n_params, rel=0.05)


def test_gpt3_has_175b_parameters():
    """The shipped GPT-3 config has 175 billion parameters (layers + embedding)."""
    sc = load_scenario(SCENARIOS / "gpt3-175b-1024xa100.yaml")
    total = 96 * layer_params(sc.model) + 50257 * 12288
    assert total == pytest.approx(175e9, rel=0.01)


def test_llama3_70b_has_70b_parameters():
    """The shipped Llama-3 70B config (GQA, SwiGLU, untied head) has 70.6 billion parameters."""
    sc = load_scenario(SCENARIOS / "llama3-70b-64xh100.yaml")
    total = 80 * layer_params(sc.model) + 2 * 128256 * 8192
    assert total == pytest.approx(70.6e9, rel=0.01)


def test_rank_order_is_tp_dp_pp():
    """Megatron order: TP ranks adjacent, then DP replicas, then pipeline stages."""
    plan = make_plan(load_scenario(small_gpt()))  # tp 2, pp 2, dp 2
    assert plan.tp_group(0) == (0, 1)
    assert plan.dp_group(0) == (0, 2)
    assert plan.stage_peer(1, 1) == 5
    assert plan.coords(7) == (1, 1, 1)


def test_uneven_layers_are_split_with_extra_layers_first():
    """Layers that do not divide evenly go one extra to the first stages."""
    assert split_layers(10, 4) == (3, 3, 2, 2)
    assert sum(split_layers(95, 8)) == 95


@pytest.mark.parametrize("p,m", [(1, 4), (2, 2), (4, 8), (8, 3)])
def test_1f1b_order_runs_each_microbatch_once_and_forward_first(p, m):
    """1F1B runs every micro-batch forward then backward, holding at most p - s in flight."""
    for s in range(p):
        order = one_f_one_b(s, p, m)
        assert sorted(order) == sorted([("F", i, 0) for i in range(m)] + [("B", i, 0) for i in range(m)])
        in_flight = peak = 0
        for kind, mb, c in order:
            if kind == "B":
                assert ("F", mb, c) in order[:order.index((kind, mb, c))]
            in_flight += 1 if kind == "F" else -1
            peak = max(peak, in_flight)
        assert peak == min(p - s, m)


def test_activation_memory_matches_korthikanti_formula():
    """Per-layer activations without recompute: s b h (10 + 24/t + 5 a s / (h t)) bytes."""
    s, b, h, a, t = 2048, 1, 12288, 96, 8
    sc = load_scenario(small_gpt(
        model={"hidden_size": h, "num_attention_heads": a, "num_hidden_layers": 8, "vocab_size": 51200},
        training={"micro_batch_size": b, "seq_length": s, "use_flash_attn": False, "global_batch_size": 16},
        parallelism={"tensor_model_parallel_size": t, "pipeline_model_parallel_size": 1},
        system={"num_nodes": 2, "gpus_per_node": 8}))
    x = Shape.of(sc.model, sc.training, t, 51200)
    expected = s * b * h * (10 + 24 / t + 5 * a * s / (h * t))
    assert layer_activation_bytes(x, "none", t) == pytest.approx(expected, rel=1e-12)
    # selective recompute drops the attention-score term; full keeps only the layer input (2sbh)
    assert layer_activation_bytes(x, "selective", t) == pytest.approx(s * b * h * (10 + 24 / t), rel=1e-12)
    assert layer_activation_bytes(x, "full", t) == 2 * s * b * h


def test_optimizer_memory_follows_zero_stage():
    """Megatron mixed precision: 18 B/param replicated; ZeRO-1 6 + 12/d; ZeRO-2 2 + 16/d."""
    base = small_gpt(parallelism={"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 1})
    per_param = {}
    for z in (0, 1, 2):
        sc = load_scenario({**base, "parallelism": {**base["parallelism"], "zero_stage": z}})
        plan = make_plan(sc)
        m = memory_per_rank(sc.model, sc.training, plan, 0)
        params = m["weights"] / 2
        per_param[z] = (m["weights"] + m["gradients"] + m["optimizer_states"]) / params
    d = 8
    assert per_param[0] == pytest.approx(18)
    assert per_param[1] == pytest.approx(6 + 12 / d)
    assert per_param[2] == pytest.approx(2 + 16 / d)


def test_attention_flops_scale_with_sequence_squared():
    """The attention core's FLOPs are 4 b s^2 h per layer (per TP rank: divided by t)."""
    sc = load_scenario(small_gpt())
    x = Shape.of(sc.model, sc.training, 2, 32768)
    core = next(op for op in attention_block(x) if op.name == "attention_core")
    assert core.flops == 4 * 2 * 1024**2 * 1024 / 2


def dp_scenario(**parallelism):
    return small_gpt(parallelism={"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 1, **parallelism},
                     system={"num_nodes": 2, "gpus_per_node": 8})


def test_overlapping_gradient_buckets_hides_communication():
    """Gradient buckets reduced during the last backward expose less DP time than one reduction at
    the end, and compute pays the overlap slowdown meanwhile."""
    from simulator import simulate
    plain = simulate(dp_scenario())
    overlapped = simulate(dp_scenario(overlap_grad_reduce=True, ddp_bucket_size=20_000_000))
    assert overlapped.summary["breakdown_s"]["dp_comm"] < plain.summary["breakdown_s"]["dp_comm"]
    assert overlapped.iteration_time < plain.iteration_time
    assert overlapped.summary["breakdown_s"]["compute"] > plain.summary["breakdown_s"]["compute"]
    buckets = overlapped.tables["ops"].query("name == 'dp_all_reduce_bucket'")
    assert len(buckets) >= 2


def test_zero3_gathers_every_layer_and_shards_weights():
    """ZeRO-3 all-gathers each layer's parameters in forward and backward of every micro-batch,
    reduce-scatters its gradients, and keeps 1/d of the weights plus two gathered layers."""
    from simulator import simulate
    r = simulate(dp_scenario(zero_stage=3))
    ops = r.tables["ops"]
    layers, microbatches = 8, 1
    per_layer = ops[(ops["name"] == "dp_all_gather_params") & (ops["layer"] >= 0)]
    assert len(per_layer) == 2 * layers * microbatches
    # embedding and head: gathered once for the step, gradients reduce-scattered once
    assert len(ops[(ops["name"] == "dp_all_gather_params") & (ops["layer"] < 0)]) == 1
    assert (ops["name"] == "dp_reduce_scatter_grads").sum() == layers * microbatches
    m0, m3 = (simulate(dp_scenario(zero_stage=z)).summary["memory"]["stages"][0] for z in (0, 3))
    assert m3["weights"] < m0["weights"] / 1.5  # embedding and head stay gathered for the step
    assert m3["optimizer_states"] == pytest.approx(m0["optimizer_states"] / 16)


KERAS_MLP = {"model": {"name": "keras-mlp", "input_shape": [100],
                       "layers": [{"type": "dense", "units": 64, "activation": "relu"},
                                  {"type": "dense", "units": 32, "activation": "relu"},
                                  {"type": "dense", "units": 10}]},
             "training": {"micro_batch_size": 32, "global_batch_size": 256, "precision": "fp16"},
             "system": {"accelerator": "A100-40GB", "num_nodes": 1}}


def test_keras_style_sequential_model_runs():
    """Dense(64) -> Dense(32) -> Dense(10) on 100 inputs: 3 x 2 x (100x64 + 64x32 + 32x10) FLOPs
    per sample (forward and backward), 8,874 parameters, data parallel over one server."""
    from simulator import simulate
    r = simulate(KERAS_MLP)
    assert r.summary["model_flops_per_iteration"] == 256 * 3 * 2 * (100 * 64 + 64 * 32 + 32 * 10)
    params = (100 * 64 + 64) + (64 * 32 + 32) + (32 * 10 + 10)
    assert r.summary["memory"]["stages"][0]["weights"] == params * 2
    assert r.iteration_time > 0


def test_sequential_conv_stack_runs_on_a_pipeline():
    """A small CNN (conv, norm, pool, flatten, dense) splits over 2 pipeline stages."""
    from simulator import simulate
    sc = {**KERAS_MLP, "model": {"input_shape": [32, 32, 3], "layers": [
        {"type": "conv2d", "filters": 16, "activation": "relu"}, {"type": "norm"}, {"type": "pool"},
        {"type": "conv2d", "filters": 32, "stride": 2}, {"type": "flatten"}, {"type": "dense", "units": 10}]},
          "parallelism": {"pipeline_model_parallel_size": 2}}
    r = simulate(sc)
    assert r.summary["parallelism"]["pp"] == 2 and r.iteration_time > 0
    # first conv: 32x32 outputs x 3x3x3 inputs x 16 filters, x2 FLOPs per MAC, x3 for backward
    assert r.summary["model_flops_per_iteration"] > 256 * 3 * 2 * 32 * 32 * 27 * 16


def test_sequential_model_refuses_tensor_parallelism():
    from simulator import simulate
    with pytest.raises(ConfigError, match="1 for a sequential"):
        simulate({**KERAS_MLP, "parallelism": {"tensor_model_parallel_size": 2}})


def test_sequential_full_recompute_keeps_only_stage_inputs():
    """Full recompute on a layer list stores each micro-batch's stage input, not every output."""
    from simulator import simulate
    wide = {**KERAS_MLP, "model": {"input_shape": [1024], "layers": [{"type": "dense", "units": 4096}] * 6}}
    none = simulate(wide).summary["memory"]["stages"][0]["activations"]
    full = simulate({**wide, "training": {**wide["training"], "recompute_granularity": "full"}})
    assert full.summary["memory"]["stages"][0]["activations"] < none / 3


@pytest.mark.parametrize("layers,text", [
    ([{"type": "conv2d", "filters": 8}], "conv2d and pool need"),
    ([{"type": "flatten"}, {"type": "pool"}], "conv2d and pool need"),
])
def test_sequential_layers_must_fit_their_input(layers, text):
    from simulator import simulate
    with pytest.raises(ConfigError, match=text):
        simulate({**KERAS_MLP, "model": {"input_shape": [100] if layers[0]["type"] != "flatten" else [8, 8, 3],
                                         "layers": layers}})


@pytest.mark.parametrize("scenario, total, active", [
    ("llama3-8b-64xh100-topology-file.yaml", 8_030_261_248, None),     # Meta-Llama-3-8B model card
    ("llama3-70b-64xh100.yaml", 70_553_706_496, None),                 # Meta-Llama-3-70B safetensors
    ("llama3-405b-16384xh100.yaml", 405_853_388_800, None),            # Llama-3.1-405B safetensors
    ("mixtral-8x7b-64xh100.yaml", 46_702_792_704, 12_879_925_248),     # Mixtral-8x7B: 46.7 B, 12.9 B active
])
def test_parameter_counts_match_the_published_models(scenario, total, active):
    """The parameters the simulator models add up to the real model's count, exactly; MoE models
    count k routed experts per token as active; the stages together hold every parameter once."""
    from simulator.api import prepare
    from simulator.config import load_scenario
    from tests.conftest import SCENARIOS
    prep = prepare(load_scenario(SCENARIOS / scenario))
    p = prep.parameters
    assert p["total"] == total and p["active_per_token"] == (active or total)
    padding = (prep.job.plan.padded_vocab - prep.scenario.model.vocab_size) * prep.scenario.model.hidden_size
    untied = 2 if not prep.scenario.model.tie_word_embeddings else 1
    assert sum(p["per_stage"]) == total + untied * padding
