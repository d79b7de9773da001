import pytest

from simulator import simulate
from simulator.config import ConfigError, load_scenario
from simulator.hardware import RooflinePredictor, load_accelerator, load_calibration
from simulator.workload import compile_job
from simulator.workload.costs import Shape, attention_block, backward, mlp_block
from simulator.workload.memory import layer_activation_bytes
from simulator.workload.schedule import SCHEDULES, peak_in_flight, schedule

from .conftest import small_gpt

UNIFORM = dict(model={"vocab_size": 128, "num_hidden_layers": 16, "hidden_size": 8192, "num_attention_heads": 64},
               training={"micro_batch_size": 1, "seq_length": 2048},
               system={"num_nodes": 1, "gpus_per_node": 4})


def uniform(p, m, **parallelism):
    """Stages of equal work (a tiny vocabulary makes embedding and head negligible)."""
    return small_gpt(model=UNIFORM["model"], training={**UNIFORM["training"], "global_batch_size": m},
                     system=UNIFORM["system"],
                     parallelism={"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": p,
                                  **parallelism})


def bubble(result):
    stages = result.tables["stages"]
    return (stages["pipeline_bubble"] / (result.iteration_time - stages["optimizer"])).max()


@pytest.mark.parametrize("name", ["gpipe", "1f1b"])
def test_gpipe_and_1f1b_idle_the_same_fraction(name):
    """GPipe and 1F1B both idle (p-1)/(m+p-1) of the time on uniform stages."""
    r = simulate(uniform(4, 8, pipeline_schedule=name))
    assert bubble(r) == pytest.approx(3 / 11, rel=0.03)


def test_interleaving_divides_the_bubble_by_the_chunks():
    """With v model chunks per stage the idle fraction is (p-1)/(v m + p-1)."""
    r = simulate(uniform(4, 8, virtual_pipeline_model_parallel_size=2))
    assert bubble(r) == pytest.approx(3 / 19, rel=0.05)


def test_zero_bubble_h1_matches_its_closed_form():
    """ZB-H1 idles (p-1)(F+B-W) against m(F+B+W) of work (Qi et al. 2023), F, B, W the pass
    times, and keeps every stage at 1F1B's peak of p micro-batches of activations."""
    p, m = 4, 8
    sc = uniform(p, m, pipeline_schedule="zero_bubble_h1")
    loaded = load_scenario(sc)
    pred = RooflinePredictor(load_accelerator("A100-80GB"), load_calibration(), "bf16")
    x = Shape.of(loaded.model, loaded.training, 1, 128)
    layers = 16 // p

    def t(ops):
        return layers * sum(pred.time(o) for o in ops)
    blocks = (attention_block(x), mlp_block(x))
    F = sum(t(b) for b in blocks)
    B = sum(t(backward(b, "input")) for b in blocks)
    W = sum(t(backward(b, "weight")) for b in blocks)
    expected = (p - 1) * (F + B - W) / (m * (F + B + W) + (p - 1) * (F + B - W))
    r = simulate(sc)
    assert bubble(r) == pytest.approx(expected, rel=0.05)
    for s in range(p):
        assert peak_in_flight(schedule("zero_bubble_h1", s, p, m), lambda c: 1) == p


@pytest.mark.parametrize("name,chunks", [("gpipe", 1), ("1f1b", 1), ("interleaved_1f1b", 2),
                                          ("interleaved_1f1b", 3), ("zero_bubble_h1", 1)])
def test_every_pass_runs_once_and_after_its_forward(name, chunks):
    p, m = 4, 8
    for s in range(p):
        order = schedule(name, s, p, m, chunks)
        kinds = ("F", "B", "W") if name == "zero_bubble_h1" else ("F", "B")
        assert sorted(order) == sorted((k, i, c) for k in kinds for i in range(m) for c in range(chunks))
        for k, i, c in order:
            if k != "F":
                assert order.index(("F", i, c)) < order.index((k, i, c))


@pytest.mark.parametrize("parallelism", [
    {"pipeline_schedule": "gpipe"},
    {"virtual_pipeline_model_parallel_size": 2},
    {"pipeline_schedule": "zero_bubble_h1"},
    {"tensor_model_parallel_size": 2, "pipeline_model_parallel_size": 2, "sequence_parallel": True},
])
def test_new_plans_give_the_same_time_in_symmetric_and_full_mode(parallelism):
    sc = small_gpt(parallelism={"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 2, **parallelism},
                   training={"global_batch_size": 32})
    assert simulate(sc).iteration_time == pytest.approx(simulate(sc, mode="full").iteration_time, rel=1e-9)


def test_interleaved_memory_matches_megatron_penalty():
    """Megatron's theoretical memory: the first stage holds p micro-batches of L/p layers times
    1 + (p-1)/(p v) under the interleaved schedule."""
    p, v, L = 4, 2, 16
    order = schedule("interleaved_1f1b", 0, p, 8, v)
    assert peak_in_flight(order, lambda c: L / (p * v)) == pytest.approx((L / p) * p * (1 + (p - 1) / (p * v)))
    assert peak_in_flight(schedule("1f1b", 0, p, 8), lambda c: L / p) == L


def test_gpipe_holds_every_micro_batch():
    assert peak_in_flight(schedule("gpipe", 0, 4, 8), lambda c: 1) == 8


def test_interleaving_needs_microbatches_a_multiple_of_stages():
    with pytest.raises(ConfigError, match="multiple of pipeline_model_parallel_size"):
        simulate(uniform(4, 6, virtual_pipeline_model_parallel_size=2))


def test_sequence_parallel_keeps_tp_volume_and_splits_activations():
    """SP replaces each all-reduce by a reduce-scatter + all-gather of the same buffer and divides
    the replicated activations (norm/dropout inputs) by t: sbh(34/t) instead of sbh(10 + 24/t)."""
    base = small_gpt(parallelism={"tensor_model_parallel_size": 4, "pipeline_model_parallel_size": 1},
                     model={"num_attention_heads": 16}, system={"num_nodes": 1, "gpus_per_node": 8},
                     training={"use_flash_attn": False})
    sp = {**base, "parallelism": {**base["parallelism"], "sequence_parallel": True}}
    jobs = [compile_job(load_scenario(s)) for s in (base, sp)]
    ops = [[i.op for i in j.programs[0].instructions if getattr(i, "comm", None) == "tp"] for j in jobs]
    assert set(ops[0]) == {"all_reduce"} and set(ops[1]) == {"all_gather", "reduce_scatter"}
    assert ops[1].count("all_gather") == ops[1].count("reduce_scatter") == ops[0].count("all_reduce")
    t, s, h, a = 4, 1024, 1024, 16
    sc = load_scenario(base)
    per_layer = [layer_activation_bytes(Shape.of(sc.model, sc.training, t, 32768, flag), "none", t)
                 for flag in (False, True)]
    ratio = (34 / t + 5 * a * s / (h * t)) / (10 + 24 / t + 5 * a * s / (h * t))
    assert per_layer[1] / per_layer[0] == pytest.approx(ratio, rel=1e-9)


def test_scenario_accepts_exactly_the_implemented_schedules():
    """The scenario's pipeline_schedule choices and the schedules the workload builds agree."""
    import dataclasses
    from simulator.config import ParallelismConfig
    field = next(f for f in dataclasses.fields(ParallelismConfig) if f.name == "pipeline_schedule")
    assert set(field.metadata["choices"]) == set(SCHEDULES)


def cp_scenario(cp, **over):
    return small_gpt(parallelism={"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 1,
                                  "context_parallel_size": cp},
                     training={"seq_length": 8192, "micro_batch_size": 1, "global_batch_size": 8 // cp},
                     system={"num_nodes": 1, "gpus_per_node": 8}, **over)


def test_context_parallelism_splits_tokens_and_exchanges_kv():
    """CP ranks hold s/cp tokens (activations / cp), attend to the whole sequence (same model
    FLOPs per token), and all-gather K, V (reduce-scatter their gradients) every layer."""
    one, two = (compile_job(load_scenario(cp_scenario(c))) for c in (1, 2))
    assert two.memory[0]["activations"] == pytest.approx(one.memory[0]["activations"] / 2, rel=0.01)
    assert two.model_flops / two.tokens == pytest.approx(one.model_flops / one.tokens, rel=1e-12)
    names = [i.name for i in two.programs[0].instructions]
    layers = 8
    assert names.count("cp_all_gather_kv") == 2 * layers and names.count("cp_reduce_scatter_dkv") == layers
    r = simulate(cp_scenario(2))
    assert r.iteration_time == pytest.approx(simulate(cp_scenario(2), mode="full").iteration_time, rel=1e-9)
    assert r.summary["breakdown_s"]["cp_comm"] >= 0


def test_context_parallel_sequence_must_split_evenly():
    sc = cp_scenario(2)
    sc["training"]["seq_length"] = 8190
    with pytest.raises(ConfigError, match="multiple of 2 x context_parallel_size"):
        simulate(sc)
