"""Hugging Face configs of each family read as the family's code reads them: the parameter count
is the published one where the architecture is fully modelled, and what is not modelled is a
warning that accounts for the difference."""

import json
from pathlib import Path

import pytest

from simulator.api import prepare
from simulator.config import load_scenario

HF = Path(__file__).parent / "data" / "hf"


def prepared(name: str, **training):
    return prepare(load_scenario({
        "model": {"hf_config": str(HF / name)},
        "training": {"micro_batch_size": 1, "global_batch_size": 8, "seq_length": 4096, **training},
        "system": {"accelerator": "H100-SXM", "num_nodes": 1, "gpus_per_node": 8},
    }))


@pytest.mark.parametrize("name, published", [
    ("gemma-2-9b.json", 9_241_705_984),        # gated GeGLU MLP, four norms per layer, tied embeddings
    ("mistral-7b-v0.1.json", 7_241_732_096),
    ("llama-3.1-8b.json", 8_030_261_248),
    ("mixtral-8x7b-v0.1.json", 46_702_792_704),
    ("phi-3-mini-4k-instruct.json", 3_821_079_552),
    ("qwen3-8b.json", 8_190_735_360),          # per-head query and key norms
    ("qwen3-30b-a3b.json", 30_532_122_624),
    ("gemma-3-1b-it.json", 999_885_952),       # gemma3_text: four norms, per-head QK norms, tied
    ("gemma-2b.json", 2_506_172_416),          # gemma: GeGLU, tied, multi-query
    ("olmo-2-1124-13b.json", 13_716_198_400),  # QK norms over all heads, norms after the blocks
    ("deepseek-v2-lite.json", 15_706_484_224), # MLA without a query latent, 64 experts + 2 shared
])
def test_fully_modelled_families_count_their_published_parameters(name, published):
    """Families whose every weight is modelled count exactly their published parameters: Gemma 1,
    2 and 3 (GeGLU although the activation is a GELU, four norms per layer in 2 and 3, tied by
    default), Qwen3 (norms of queries and keys, one head wide), OLMo 2 (over all heads),
    DeepSeek-V2 (latent attention), Llama, Mistral, Mixtral and Phi-3."""
    assert prepared(name).parameters["total"] == published


def test_qwen3_moe_counts_its_active_parameters():
    """Qwen3-30B-A3B: 8 of 128 experts per token, 3.3 B active (its model card)."""
    assert prepared("qwen3-30b-a3b.json").parameters["active_per_token"] == pytest.approx(3.3e9, rel=0.02)


def test_gpt_oss_and_pythia_leave_out_only_their_biases_and_say_so():
    """GPT-OSS 20B: the attention biases, the experts' and router's biases and the attention sinks
    are the whole difference to the published 20.91 B; Pythia (GPT-NeoX): every linear layer's and
    norm's bias is the whole difference to its published count; both say so."""
    prep = prepared("gpt-oss-20b.json")
    m = prep.scenario.model
    L, h, d, E = m.num_hidden_layers, m.hidden_size, m.head_size, m.num_experts
    attention = (m.num_attention_heads + 2 * m.kv_heads) * d + h        # q, k, v, o biases
    experts = E * (2 * m.expert_size + h)                                # gate-up and down biases
    router, sinks = E, m.num_attention_heads
    assert (prep.parameters["total"] + L * (attention + experts + router + sinks)) / 1e9 == pytest.approx(20.91, abs=0.005)
    assert any("sinks" in w for w in m.unmodelled) and any("attention_bias" in w for w in m.unmodelled)
    prep = prepared("pythia-1b.json")
    m = prep.scenario.model
    h, L = m.hidden_size, m.num_hidden_layers
    biases = L * (3 * h + h + 4 * h + h + 2 * h) + h           # qkv, dense, fc, proj, two norms; final norm
    assert prep.parameters["total"] + biases == 1_011_781_632
    assert not m.gated_mlp and not m.tie_word_embeddings and any("bias" in w for w in m.unmodelled)


def test_falcon_and_olmo_read_as_their_code_reads_them():
    """Falcon-7B's original layout has one key/value head under multi_query (the num_kv_heads its
    config carries is ignored, as Falcon's code does); OLMo's layer norms have no weights; OLMo 2
    norms queries and keys over all heads."""
    falcon = prepared("falcon-7b-instruct.json")
    assert falcon.scenario.model.kv_heads == 1
    assert 6.5e9 < falcon.parameters["total"] < 7.5e9   # "a 7B parameters causal decoder-only model" (its card); 71 KV heads: 8.2 B
    olmo = prepared("olmo-1b-hf.json").scenario.model
    assert olmo.norms_per_layer == 0 and olmo.final_norm_params == 0 and olmo.replicated_layer_params == 0
    olmo2 = prepared("olmo-2-1124-13b.json").scenario.model
    assert olmo2.qk_norm_params == (olmo2.num_attention_heads + olmo2.kv_heads) * olmo2.head_size


def test_qwen2_moe_counts_all_but_its_qkv_biases_and_shared_expert_gate_and_says_so():
    """Qwen1.5-MoE: the query/key/value biases and the shared expert's gate (one h-wide weight per
    layer) are left out, with warnings; they are the whole difference to the published count."""
    prep = prepared("qwen1.5-moe-a2.7b-chat.json")
    m = prep.scenario.model
    biases = m.num_hidden_layers * (m.num_attention_heads + 2 * m.kv_heads) * m.head_size
    gates = m.num_hidden_layers * m.hidden_size
    assert prep.parameters["total"] + biases + gates == 14_315_784_192
    assert any("bias" in w for w in m.unmodelled) and any("shared expert's gate" in w for w in m.unmodelled)


def test_qwen2_counts_all_but_its_qkv_biases_and_says_so():
    """Qwen2's query/key/value biases are left out, with a warning; they are the whole difference."""
    prep = prepared("qwen2-7b.json")
    m = prep.scenario.model
    biases = m.num_hidden_layers * (m.num_attention_heads + 2 * m.kv_heads) * m.head_size
    assert prep.parameters["total"] + biases == 7_615_616_512
    assert any("bias" in w for w in m.unmodelled)
    assert not any("sliding" in w for w in m.unmodelled)   # use_sliding_window: false


def test_gpt2_leaves_out_biases_and_positions_and_says_so():
    """GPT-2: learned positional embeddings and biases are left out, each with a warning, and
    they make up the difference to the published count."""
    prep = prepared("gpt2.json", seq_length=1024)
    m, config = prep.scenario.model, json.loads((HF / "gpt2.json").read_text())
    h, L = m.hidden_size, m.num_hidden_layers
    biases = L * (3 * h + h + 4 * h + h + 2 * h) + h          # qkv, proj, fc, proj, two norms; final norm
    positions = config["n_positions"] * h
    assert prep.parameters["total"] + biases + positions == 124_439_808
    assert not m.gated_mlp and m.tie_word_embeddings
    assert any("positional" in w for w in m.unmodelled) and any("bias" in w for w in m.unmodelled)


def test_sliding_window_layers_attend_over_the_window():
    """Gemma 2 alternates sliding-window (even) and global (odd) layers; a sliding layer's attention
    costs window / sequence of a global one's, in the model FLOPs too; Qwen2's unused window is off."""
    from simulator.workload import compile_job
    m = prepared("gemma-2-9b.json").scenario.model
    assert m.layer_types[:3] == ("sliding_attention", "full_attention", "sliding_attention")
    assert [m.is_sliding(i) for i in range(4)] == [True, False, True, False]
    assert not prepared("qwen2-7b.json").scenario.model.sliding_window
    short, long = (prepared("gemma-2-9b.json", seq_length=s) for s in (4096, 16384))
    job = compile_job(long.scenario)
    ops = {layer: i.ops for i in job.programs[0].instructions
           if getattr(i, "name", "") == "attention" and i.phase == "forward" and i.mb == 0 for layer in [i.layer]}
    core = {layer: next(op.flops for op in o if op.name == "attention_core") for layer, o in ops.items()}
    assert core[0] * 16384 == pytest.approx(core[1] * 4096)       # window 4,096 of 16,384 keys
    assert short.job.model_flops / 4096 < long.job.model_flops / 16384 * 1.0001   # no window effect at 4K
    assert not any("sliding" in w for w in m.unmodelled)


def test_deepseek_v3_latent_attention_counts_its_published_size():
    """DeepSeek-V3 with multi-head latent attention (down-projections whole on every TP rank) and
    its MoE layers: 671 B parameters (the DeepSeek-V3 report's main model; the routers' 256 score
    biases per MoE layer are left out) and about 37 B active per token."""
    prep = prepared("deepseek-v3.json")
    p, m = prep.parameters, prep.scenario.model
    assert abs(p["total"] / 671e9 - 1) < 1e-4 and abs(p["active_per_token"] / 37e9 - 1) < 0.02
    assert m.mla and m.head_size == 192
    from simulator.workload.costs import Shape, attention_block
    x = Shape.of(m, prep.scenario.training, 8, prep.job.plan.padded_vocab)
    ops = {op.name: op for op in attention_block(x)}
    assert ops["q_down_proj"].flops == 2 * x.tokens * 7168 * 1536          # whole on each TP rank
    assert ops["kv_up_proj"].flops == 2 * x.tokens * 512 * (128 // 8) * (128 + 128)
    assert ops["attention_core"].flops == 2 * x.b * x.s * x.kv_len * (128 // 8) * (192 + 128)


def test_what_is_not_modelled_is_a_warning_shown_everywhere(tmp_path):
    """Qwen2's query, key and value biases (not modelled) are a warning on the model, in
    summary.json and in `validate`'s output."""
    import subprocess
    import sys
    import yaml
    scenario = tmp_path / "qwen.yaml"
    scenario.write_text(yaml.safe_dump({
        "model": {"hf_config": str(HF / "qwen2-7b.json"), "num_hidden_layers": 4},
        "training": {"micro_batch_size": 1, "global_batch_size": 8, "seq_length": 1024},
        "system": {"accelerator": "H100-SXM", "num_nodes": 1, "gpus_per_node": 8}}))
    proc = subprocess.run([sys.executable, "-m", "simulator.cli", "validate", str(scenario)],
                          capture_output=True, text=True)
    assert "value biases are left out" in proc.stdout, proc.stdout + proc.stderr
    from simulator import simulate
    warnings = simulate(str(scenario), check_memory=False).summary["warnings"]
    assert any("value biases are left out" in w for w in warnings)


def test_deepseek_v3_multi_token_prediction_is_modelled_not_warned():
    """DeepSeek-V3's one MTP depth is read (num_nextn_predict_layers), counted apart from the
    671 B: its MoE layer, projection and norms, about 14 B with the embedding and head its
    checkpoint repeats (DeepSeek-V3 README: '671B of the Main Model weights and 14B of the
    Multi-Token Prediction (MTP) Module weights'), and no warning about it."""
    prep = prepared("deepseek-v3.json")
    m, p = prep.scenario.model, prep.parameters
    assert m.mtp_layers == 1 and not any("multi-token" in w for w in m.unmodelled)
    copies = 2 * m.vocab_size * m.hidden_size
    assert abs((p["multi_token_prediction"] + copies) / 14e9 - 1) < 0.05
    padding = 2 * (prep.job.plan.padded_vocab - m.vocab_size) * m.hidden_size   # embedding and untied head
    assert p["per_stage"] == [pytest.approx(p["total"] + p["multi_token_prediction"] + padding)]


def test_an_unknown_family_is_read_by_name_with_a_warning(tmp_path):
    """A config of a family without rules loads by field names, and says so."""
    config = json.loads((HF / "mistral-7b-v0.1.json").read_text())
    config["model_type"] = "brand_new_lm"
    (tmp_path / "c.json").write_text(json.dumps(config))
    sc = load_scenario({"model": {"hf_config": str(tmp_path / "c.json")},
                        "training": {"micro_batch_size": 1, "global_batch_size": 8, "seq_length": 1024},
                        "system": {"accelerator": "H100-SXM", "num_nodes": 1}})
    assert any("brand_new_lm" in w for w in sc.model.unmodelled)
