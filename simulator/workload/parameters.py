"""Parameter counts of the model as the simulator sees it: total, active per token (MoE: the
routed experts a token passes through, not all of them) and per pipeline stage (whole stage, all
tensor-parallel ranks together). Shown so that a user can check them against the published count
of the model: a mismatch means a field the simulator reads differently from the real model.

`total` and `active_per_token` count the model as its card does; the weights of multi-token
prediction modules (which share its embedding and head) are apart, in `multi_token_prediction`,
and in the last stage's figure. Counts use the model's own vocabulary; the per-stage figures use the padded vocabulary the ranks
hold (Megatron pads to a multiple of 128 x TP).
"""

from __future__ import annotations

from ..config import ModelConfig
from .costs import layer_param_table
from .plan import ParallelPlan


def parameter_counts(model: ModelConfig, plan: ParallelPlan) -> dict:
    if model.layers is not None:   # a sequential model: its layers' weights and biases
        from .sequential import layer_costs
        per_layer = [params for _, params, _ in layer_costs(model, 1, 2)]
        total = float(sum(per_layer))
        stages = [float(sum(per_layer[layer] for c in range(plan.chunks) for layer in plan.layers(s, c)))
                  for s in range(plan.pp)]
        return {"total": total, "active_per_token": total, "per_stage": stages, "multi_token_prediction": 0.0}
    table, h = layer_param_table(model), model.hidden_size
    gates = 2 if model.gated_mlp else 1
    one_expert = (gates + 1) * h * model.expert_size
    embedding = model.vocab_size * h
    ends = embedding + model.final_norm_params + (0 if model.tie_word_embeddings else embedding)   # untied head
    main, predictors = table[:model.num_hidden_layers], table[model.num_hidden_layers:]
    total = ends + sum(dense + experts for dense, experts in main)
    active = ends + sum(dense + (model.num_experts_per_tok * one_expert if experts else 0) for dense, experts in main)
    padded = plan.padded_vocab * h
    stages = []
    for s in range(plan.pp):
        n = sum(sum(table[layer]) for c in range(plan.chunks) for layer in plan.layers(s, c))
        if s == 0:
            n += padded
        if s == plan.pp - 1:
            n += model.final_norm_params + (padded if not model.tie_word_embeddings or plan.pp > 1 else 0)
        stages.append(float(n))
    return {"total": float(total), "active_per_token": float(active), "per_stage": stages,
            "multi_token_prediction": float(sum(map(sum, predictors)))}
