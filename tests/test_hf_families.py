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
])
def test_fully_modelled_families_count_their_published_parameters(name, published):
    """Gemma 2 (GeGLU although its activation is a GELU, four norms per layer, tied by default)
    and Mistral count exactly their published parameters."""
    assert prepared(name).parameters["total"] == published


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
    """Multi-token prediction (DeepSeek-V3) is a warning on the model, in summary.json and in
    `validate`'s output."""
    import subprocess
    import sys
    import yaml
    scenario = tmp_path / "ds.yaml"
    scenario.write_text(yaml.safe_dump({
        "model": {"hf_config": str(HF / "deepseek-v3.json"), "num_hidden_layers": 4, "first_k_dense_replace": 1},
        "training": {"micro_batch_size": 1, "global_batch_size": 8, "seq_length": 1024},
        "parallelism": {"expert_model_parallel_size": 8},
        "system": {"accelerator": "H100-SXM", "num_nodes": 1, "gpus_per_node": 8}}))
    proc = subprocess.run([sys.executable, "-m", "simulator.cli", "validate", str(scenario)],
                          capture_output=True, text=True)
    assert "multi-token prediction" in proc.stdout, proc.stdout + proc.stderr
    from simulator import simulate
    warnings = simulate(str(scenario), check_memory=False).summary["warnings"]
    assert any("multi-token prediction" in w for w in warnings)


def test_an_unknown_family_is_read_by_name_with_a_warning(tmp_path):
    """A config of a family without rules loads by field names, and says so."""
    config = json.loads((HF / "mistral-7b-v0.1.json").read_text())
    config["model_type"] = "brand_new_lm"
    (tmp_path / "c.json").write_text(json.dumps(config))
    sc = load_scenario({"model": {"hf_config": str(tmp_path / "c.json")},
                        "training": {"micro_batch_size": 1, "global_batch_size": 8, "seq_length": 1024},
                        "system": {"accelerator": "H100-SXM", "num_nodes": 1}})
    assert any("brand_new_lm" in w for w in sc.model.unmodelled)
