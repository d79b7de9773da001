import pytest

from simulator import simulate
from simulator.config import ConfigError, load_scenario
from simulator.workload import compile_job
from simulator.workload.costs import expert_load_imbalance, layer_params

from .conftest import SCENARIOS

MODELS = sorted((SCENARIOS / "models").glob("*.json"))


def mixtral(**parallelism):
    return {"model": {"hf_config": str(SCENARIOS / "models/mixtral-8x7b.json"), "num_hidden_layers": 4},
            "training": {"micro_batch_size": 1, "global_batch_size": 16, "seq_length": 2048,
                         "recompute_granularity": "full"},
            "parallelism": {"tensor_model_parallel_size": 2, "sequence_parallel": True,
                            "expert_model_parallel_size": 8, "zero_stage": 1, **parallelism},
            "system": {"accelerator": "H100-SXM", "num_nodes": 2}}


def test_mixtral_model_flops_count_the_routed_experts():
    """MoE model FLOPs: attention, the router and k experts per token (Megatron's MoE count)."""
    job = compile_job(load_scenario(mixtral()))
    h, f, k, E, s, L, V = 4096, 14336, 2, 8, 2048, 4, 32000
    q, kv = 4096, 1024
    per_token_layer = 2 * h * (q + 2 * kv) + 2 * q * h + 4 * s * q / 1 + 2 * h * E + k * 3 * 2 * h * f
    per_token = L * per_token_layer + 2 * h * V
    assert job.model_flops == pytest.approx(3 * per_token * job.tokens, rel=1e-9)


def test_mixtral_has_47b_parameters():
    sc = load_scenario({**mixtral(), "model": {"hf_config": str(SCENARIOS / "models/mixtral-8x7b.json")}})
    total = 32 * layer_params(sc.model) + 2 * 32000 * 4096
    assert total == pytest.approx(46.7e9, rel=0.01)


def test_expert_parallelism_exchanges_tokens_twice_per_pass():
    """Each MoE layer all-to-alls tokens to their experts and back, forward and backward."""
    r = simulate(mixtral())
    ops = r.tables["ops"]
    a2a = ops[ops["name"].str.startswith("ep_all_to_all")]
    microbatches = 16 // (1 * 16 // 2)  # global / (micro x DP), DP = 16 GPUs / TP 2
    assert len(a2a) == 4 * microbatches * (2 + 2 + 2)  # forward, recompute, backward
    assert r.summary["breakdown_s"]["ep_comm"] > 0


def test_routing_skew_slows_the_step():
    """Skewed routing (a Dirichlet of small concentration) loads the busiest rank's experts more."""
    assert expert_load_imbalance(8, 8, None, 0) == 1.0
    skewed = expert_load_imbalance(8, 8, 1.0, 0)
    assert skewed > expert_load_imbalance(8, 8, 100.0, 0) > 1.0
    assert skewed == expert_load_imbalance(8, 8, 1.0, 0)  # same seed, same draw
    base, skew = mixtral(), mixtral()
    skew["training"] = {**skew["training"], "moe_routing_concentration": 1.0}
    assert simulate(skew).iteration_time > simulate(base).iteration_time


def test_moe_symmetric_equals_full():
    sc = mixtral()
    assert simulate(sc).iteration_time == pytest.approx(simulate(sc, mode="full").iteration_time, rel=1e-9)


@pytest.mark.parametrize("change,text", [
    ({"expert_model_parallel_size": 3}, "a divisor of the data-parallel size"),
    ({"sequence_parallel": False}, "true for an MoE model with tensor parallelism"),
    ({"zero_stage": 3}, "0, 1 or 2 for an MoE model"),
])
def test_impossible_moe_plans_are_named(change, text):
    with pytest.raises(ConfigError, match=text):
        simulate(mixtral(**change))


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_every_shipped_model_config_runs(path):
    """Each model in scenarios/models runs (at 4 layers, one DGX H100 server)."""
    data = {"model": {"hf_config": str(path), "num_hidden_layers": 4},
            "training": {"micro_batch_size": 1, "global_batch_size": 8, "seq_length": 1024,
                         "recompute_granularity": "full"},
            "parallelism": {"tensor_model_parallel_size": 2, "sequence_parallel": True, "zero_stage": 1},
            "system": {"accelerator": "H200", "num_nodes": 1}}
    model = load_scenario(data).model
    if model.num_experts:
        data["parallelism"]["expert_model_parallel_size"] = 4
    r = simulate(data, check_memory=False)
    assert r.iteration_time > 0 and 0 < r.summary["mfu"] < 1
