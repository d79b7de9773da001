"""Per-rank memory footprint: weights, gradients, optimizer states, activations.

Mixed-precision Adam as Megatron does it: 16-bit weights, fp32 gradients (when
accumulate_allreduce_grads_in_fp32), fp32 master weights + two moments (12 B/param).
ZeRO-1 (Megatron's distributed optimizer) shards the optimizer states over data parallelism;
ZeRO-2 also the gradients; ZeRO-3 also the parameters, of which two layers are gathered at once. Activations follow Korthikanti et al. 2022 (Reducing Activation
Recomputation in Large Transformer Models, eq. 1-2), written per tensor so that GQA, gated MLPs
and sequence parallelism are counted too; the layer-micro-batches held at the peak come from
walking the stage's schedule (under 1F1B stage s keeps min(p-s, m) micro-batches in flight).
Communication buffers: NCCL keeps, per communicator, a send and a receive buffer of NCCL_BUFFSIZE
(4 MiB by default, NCCL environment documentation) for each ring channel (one per member of a
server's share of the group). Not counted: CUDA context, allocator fragmentation.
"""

from __future__ import annotations

import dataclasses
import functools

from ..config import ModelConfig, TrainingConfig
from ..config.schema import WEIGHT_BYTES
from .costs import Shape, layer_param_table, rank_layer_params
from .plan import ParallelPlan
from .schedule import peak_in_flight, schedule


def stage_layer_indices(plan: ParallelPlan, stage: int) -> list[int]:
    return [layer for c in range(plan.chunks) for layer in plan.layers(stage, c)]


def stage_expert_params(model: ModelConfig, plan: ParallelPlan, stage: int) -> float:
    """Routed-expert parameters held by one rank of `stage` (reduced over the expert-DP group)."""
    if not model.num_experts:
        return 0.0
    table = layer_param_table(model)
    return sum(table[layer][1] for layer in stage_layer_indices(plan, stage)) / plan.ep


def stage_params(model: ModelConfig, plan: ParallelPlan, stage: int) -> float:
    """Parameters held by one rank of `stage` (layers, and embedding / LM head at the ends)."""
    table, whole, tp, ep = layer_param_table(model), model.replicated_layer_params, plan.tp, plan.ep
    params = sum((table[layer][0] - whole) / tp + whole + table[layer][1] / ep    # rank_layer_params, inlined
                 for layer in stage_layer_indices(plan, stage))
    embedding = plan.padded_vocab * model.hidden_size / plan.tp
    if stage == 0:
        params += embedding
    if stage == plan.pp - 1:
        params += model.final_norm_params
        if not model.tie_word_embeddings or plan.pp > 1:
            params += embedding  # untied head, or the tied copy Megatron keeps on the last stage
    return params


def layer_activation_bytes(x: Shape, recompute: str, tp: int) -> float:
    """Activations one layer stores for one micro-batch on one TP rank. With sequence
    parallelism (x.seq_shards = t) the norm, dropout and GEMM-input tensors are split too."""
    T, e = x.tokens, x.e
    q, kv = x.heads * x.head_dim, x.kv_heads * x.head_dim
    if recompute == "full":
        return e * x.local_tokens * x.h  # only the layer input is checkpointed
    replicated = x.local_tokens * x.h * (4 * e + 2)  # two norm inputs, two GEMM inputs, two dropout masks
    split = e * T * (q + kv      # Q and K for the scores
                     + kv        # V for the context
                     + q         # out-projection input
                     + x.gates * x.ffn + x.ffn)  # MLP up output and activation output
    if x.flash or recompute == "selective":
        scores = 4 * x.b * x.heads * x.s if x.flash else 0  # softmax statistics
    else:
        scores = (2 * e + 1) * x.b * x.heads * x.s * x.kv_len  # softmax out, dropout mask, dropout out
    return replicated + split + scores


def memory_per_rank(model: ModelConfig, training: TrainingConfig, plan: ParallelPlan,
                    stage: int, gpus_per_node: int = 8) -> dict[str, float]:
    """Bytes per rank of `stage`, by category."""
    x = Shape.of(model, training, plan.tp, plan.padded_vocab, plan.sequence_parallel, plan.cp)
    params = stage_params(model, plan, stage)
    experts = stage_expert_params(model, plan, stage)
    wbytes = WEIGHT_BYTES[training.precision]
    gbytes = training.gradient_bytes
    master = 0 if wbytes == 4 else 4
    opt_bytes = master + 8  # fp32 master copy + Adam's two moments

    def sharded(n_bytes_per_param: float, from_stage: int) -> float:
        """Dense parameters shard over DP x CP, expert parameters over the expert-DP group."""
        if plan.zero_stage < from_stage:
            return params * n_bytes_per_param
        return ((params - experts) / plan.grad_ranks + experts / plan.edp) * n_bytes_per_param

    grads = sharded(gbytes, 2)
    optimizer = sharded(opt_bytes, 1)
    weights = sharded(wbytes, 3)
    if plan.zero_stage == 3:  # two layers gathered at a time (current and prefetch), and the
        layers = stage_layer_indices(plan, stage)  # embedding and head for the whole step
        gathered = params - sum(rank_layer_params(model, plan.tp, layer, plan.ep) for layer in layers)
        weights += (2 * max(rank_layer_params(model, plan.tp, layer, plan.ep) for layer in layers)
                    + gathered) * wbytes

    layer_mbs = layer_microbatches_in_flight(plan.schedule, stage, plan.pp, plan.num_microbatches, plan.chunks,
                                             plan.layers_per_stage)
    if model.num_experts:  # an MoE layer stores its k experts' inputs and outputs per token
        moe_width = model.num_experts_per_tok * model.expert_size + model.shared_expert_size
        x = dataclasses.replace(x, ffn=moe_width * x.local_tokens / x.tokens)
    per_layer = layer_activation_bytes(x, training.recompute_granularity, plan.tp)
    activations = per_layer * layer_mbs
    if training.recompute_granularity == "full":
        # the layer being recomputed holds its full activations for one micro-batch
        activations += layer_activation_bytes(x, "none", plan.tp)
    if stage == plan.pp - 1 and model.layers is None:
        activations += 4 * x.tokens * x.vocab * (1 + model.mtp_layers)  # fp32 logits for each cross-entropy
    return {"weights": weights, "gradients": grads, "optimizer_states": optimizer,
            "activations": activations, "communication_buffers": communication_buffers(plan, stage, gpus_per_node)}


@functools.lru_cache(maxsize=4096)
def layer_microbatches_in_flight(name: str, stage: int, pp: int, microbatches: int, chunks: int,
                                 layers_per_stage: tuple[int, ...]) -> float:
    """Most layer-micro-batches of activations a rank of `stage` holds at once under the schedule
    (plans that differ only in what each layer stores share it)."""
    order = schedule(name, stage, pp, microbatches, chunks)
    return peak_in_flight(order, lambda c: layers_per_stage[c * pp + stage])


NCCL_BUFFSIZE = 4 * 2**20  # bytes, NCCL's default per channel and direction


def communication_buffers(plan: ParallelPlan, stage: int, gpus_per_node: int) -> float:
    """NCCL buffers of the communicators a rank of `stage` belongs to: 2 x NCCL_BUFFSIZE per
    ring channel, one channel per member of a server's share of the group."""
    sizes = {"tp": plan.tp, "cp": plan.cp, "dp": plan.grad_ranks, "ep": plan.ep}
    total = 0.0
    for n in sizes.values():
        if n > 1:
            total += 2 * NCCL_BUFFSIZE * min(n, gpus_per_node)
    if plan.pp > 1:
        total += 2 * NCCL_BUFFSIZE * (1 if stage in (0, plan.pp - 1) else 2)  # pipeline neighbours
    return total
