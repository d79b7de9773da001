"""Compile (model, training, parallelism) into a Job: one instruction list per pipeline stage.

Every rank of a stage runs the same program (they differ only in data), so a program is kept per
stage; the engine decides whether to run it once (symmetric) or once per rank (full).
Communication is named by communicator ('tp', 'dp', 'embedding') or pipeline neighbour, never by
rank, so the program knows nothing of the topology.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import ConfigError, Scenario
from ..config.frameworks import FRAMEWORKS
from . import costs
from .costs import Op, Shape, token_chunk
from .memory import WEIGHT_BYTES, memory_per_rank, stage_expert_params, stage_layer_indices, stage_params
from .plan import ParallelPlan, make_plan
from .schedule import schedule

FORWARD, BACKWARD, RECOMPUTE, OPTIMIZER = "forward", "backward", "recompute", "optimizer"
WEIGHT_GRADIENT = "weight_gradient"   # a separate pass only in zero-bubble schedules


# Instructions are built by the hundred thousand and never changed after: plain slotted classes
# (a frozen dataclass costs five times as much to construct).
@dataclass(slots=True)
class Compute:
    name: str
    phase: str
    mb: int
    layer: int
    ops: tuple[Op, ...]


@dataclass(slots=True)
class Collective:
    name: str
    phase: str
    mb: int
    layer: int
    comm: str        # 'tp', 'dp' or 'embedding'
    op: str          # 'all_reduce', 'reduce_scatter', 'all_gather'
    nbytes: float    # the collective's buffer size S per rank (as nccl-tests' "size")
    blocking: bool = True   # False: runs on a side stream, overlapping what follows
    tag: str = ""           # names a non-blocking collective for a later Wait
    sms: int | None = None  # side stream: SMs its kernels hold from the compute beside it (None:
                            # an NCCL kernel, the calibrated overlap slowdown; see hardware.compute)


@dataclass(slots=True)
class Wait:
    """Block until non-blocking collectives of `comm` are done: the one named `tag`, or all."""

    name: str
    phase: str
    comm: str
    tag: str = ""


@dataclass(slots=True)
class Send:
    name: str
    mb: int
    stage: int       # the pipeline stage it goes to
    tag: str
    nbytes: float


@dataclass(slots=True)
class Recv:
    name: str
    mb: int
    stage: int       # the pipeline stage it comes from
    tag: str


Instruction = Compute | Collective | Send | Recv | Wait


@dataclass
class StageProgram:
    stage: int
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Job:
    scenario: Scenario
    plan: ParallelPlan
    build: Callable[[], list[StageProgram]] = field(repr=False)  # the stage programs, built when first used
    memory: list[dict[str, float]]          # per stage, per rank of that stage
    model_flops: float                      # per iteration, whole job (MFU numerator)
    tokens: int                             # per iteration

    @functools.cached_property
    def programs(self) -> list[StageProgram]:
        """Per stage, its instructions (a deep batch has millions: built only when simulated)."""
        return self.build()

    @property
    def world(self) -> int:
        return self.plan.world


def optimizer_step(prog: list, plan: ParallelPlan, dense: float, experts: float, wbytes: int, gbytes: int,
                   pbytes: int, gather: bool = True) -> None:
    """Adam over the rank's shard (read the gradient, read and write master weights and both
    moments in fp32, write the 16-bit weights), then, with ZeRO 1-2, all-gather the updated
    parameters, `pbytes` each (unless a side stream gathers them)."""
    shard = dense / (plan.grad_ranks if plan.zero_stage >= 1 else 1) + \
        experts / (plan.edp if plan.zero_stage >= 1 else 1)
    step_bytes = shard * (gbytes + 3 * 2 * 4 + wbytes)
    prog.append(Compute("optimizer_step", OPTIMIZER, -1, -1, (Op("adam", "elementwise", 0.0, step_bytes),)))
    if gather and plan.zero_stage in (1, 2):
        if plan.grad_ranks > 1:
            prog.append(Collective("dp_all_gather", OPTIMIZER, -1, -1, "dp", "all_gather", dense * pbytes))
        if experts and plan.edp > 1:
            prog.append(Collective("edp_all_gather", OPTIMIZER, -1, -1, "edp", "all_gather", experts * pbytes))


def compile_job(scenario: Scenario) -> Job:
    if scenario.model.layers is not None:
        from .sequential import compile_sequential
        return compile_sequential(scenario)
    model, training = scenario.model, scenario.training
    plan = make_plan(scenario)
    sp = plan.sequence_parallel
    x = Shape.of(model, training, plan.tp, plan.padded_vocab, sp, plan.cp)
    attn, mlp = costs.attention_block(x), costs.mlp_block(x)
    emb, head = costs.embedding_block(x), costs.head_block(x)
    split = plan.schedule == "zero_bubble_h1"  # weight gradients run as passes of their own
    part = "input" if split else "both"
    attn_b, mlp_b = costs.backward(attn, part), costs.backward(mlp, part)
    attn_w, mlp_w = costs.backward(attn, "weight"), costs.backward(mlp, "weight")
    emb_b, head_b = costs.backward(emb), costs.backward(head)
    mtp = costs.mtp_block(x, plan.tp)    # entry of a multi-token prediction depth
    mtp_b, mtp_w = costs.backward(mtp, part), costs.backward(mtp, "weight")
    if training.recompute_granularity == "selective":
        core = tuple(op for op in attn if op.kind in costs.ATTENTION_KINDS or op.name.startswith("attention_softmax"))
        attn_b = core + attn_b  # recompute the attention core right before its backward
    sliding = (attn, attn_b)    # layers that attend over a window of keys (not under CP: modelled whole there)
    if model.sliding_window and model.sliding_window < x.kv_len and plan.cp == 1:
        xs = dataclasses.replace(x, kv_len=model.sliding_window)
        a = costs.attention_block(xs)
        a_b = costs.backward(a, part)
        if training.recompute_granularity == "selective":
            a_b = tuple(op for op in a if op.kind in costs.ATTENTION_KINDS or op.name.startswith("attention_softmax")) + a_b
        sliding = (a, a_b)

    def attention_ops(layer: int) -> tuple[tuple, tuple]:
        """(forward, backward) ops of a layer's attention block: over the window, or all keys."""
        return sliding if model.is_sliding(layer) else (attn, attn_b)
    moe = bool(model.num_experts)
    if moe:
        imbalance = costs.expert_load_imbalance(model.num_experts, plan.ep, training.moe_routing_concentration,
                                                scenario.simulation.seed)
        router, experts, a2a_bytes = costs.moe_blocks(x, model, plan.ep, imbalance)
        router_b, experts_b = costs.backward(router, part), costs.backward(experts, part)
        moe_w = costs.backward(experts, "weight") + costs.backward(router, "weight")
    act_bytes = x.e * x.tokens * x.h           # one layer's full output, per TP rank
    p2p_bytes = act_bytes / plan.tp            # sequence-split (SP) or scattered over TP ranks (Megatron)
    tp = plan.tp > 1
    full = training.recompute_granularity == "full"

    def tp_comm(prog: list, op: str, phase: str, mb: int, layer: int) -> None:
        if tp:
            prog.append(Collective(f"tp_{op}", phase, mb, layer, "tp", op, act_bytes))

    def gather(prog, phase, mb, layer):
        """Before a column-parallel GEMM: SP all-gathers the sequence (nothing without SP)."""
        if sp:
            tp_comm(prog, "all_gather", phase, mb, layer)

    def reduce(prog, phase, mb, layer):
        """After a row-parallel GEMM: all-reduce, or reduce-scatter of the sequence with SP."""
        tp_comm(prog, "reduce_scatter" if sp else "all_reduce", phase, mb, layer)

    overlap_tp = tp and scenario.parallelism.tp_comm_overlap
    overlap_sms = FRAMEWORKS[training.framework].tp_comm_overlap if overlap_tp else None
    cut: dict[tuple, tuple] = {}

    def overlap_cut(ops: tuple, ends: str) -> tuple:
        """A block's ops cut for TP overlap (Transformer Engine's userbuffers, Megatron
        --tp-comm-overlap): each GEMM runs as t chunks, so t - 1 chunks of the block's first GEMM
        run while the all-gather brings the rest of its input, and t - 1 chunks of its last GEMM
        while the reduce-scatter sends what the first produced. `ends`: "both" collectives on
        this block, or only its "gather" or "reduce". Returns [(ops, collective run beside them
        or None)], cut once per block; None when the block has no GEMM."""
        key = (id(ops), ends)
        if key not in cut:
            gemms = [i for i, op in enumerate(ops) if op.kind in ("matmul", "matmul16")]
            pieces = None
            if gemms:
                first, last, t = gemms[0], gemms[-1], plan.tp
                a, b = token_chunk(ops[first], t), token_chunk(ops[last], t)
                if ends == "gather":
                    pieces = [(ops[:first], None), ((a,) * (t - 1), "all_gather"), ((a, *ops[first + 1:]), None)]
                elif ends == "reduce":
                    pieces = [((*ops[:last], b), None), ((b,) * (t - 1), "reduce_scatter"), (ops[last + 1:], None)]
                elif first == last:   # one GEMM: its chunks serve both collectives in turn
                    pieces = [(ops[:first], None), ((a,) * (t - 1), "all_gather"), ((a,), "reduce_scatter"),
                              (ops[last + 1:], None)]
                else:
                    pieces = [(ops[:first], None), ((a,) * (t - 1), "all_gather"),
                              ((a, *ops[first + 1:last], b), None), ((b,) * (t - 1), "reduce_scatter"),
                              (ops[last + 1:], None)]
            cut[key] = (ops, pieces)   # the block is kept alive with its pieces: ids stay unique
        return cut[key][1]

    def tp_block(prog: list, name: str, phase: str, mb: int, layer: int, ops: tuple, ends: str = "both") -> None:
        """A block after its TP all-gather (with SP) and before its all-reduce or reduce-scatter
        (`ends`: both, or only the "gather" or the "reduce"); with tp_comm_overlap they run on a
        side stream beside the first and last GEMMs' chunks, sharing the GPU with them (the
        overlap slowdown) and the links with everything else."""
        pieces = overlap_cut(ops, ends) if overlap_tp else None
        if pieces is None:
            if ends != "reduce":
                gather(prog, phase, mb, layer)
            prog.append(Compute(name, phase, mb, layer, ops))
            if ends != "gather":
                reduce(prog, phase, mb, layer)
            return
        tag = f"{name} {phase} {mb} {layer}"
        for piece, op in pieces:
            if op:
                prog.append(Collective(f"tp_{op}", phase, mb, layer, "tp", op, act_bytes, False, f"{tag} {op}",
                                       overlap_sms[op]))
            if piece:
                prog.append(Compute(name, phase, mb, layer, piece))
            if op:
                prog.append(Wait(f"wait_tp_{op}", phase, "tp", f"{tag} {op}"))

    def all_to_all(prog: list, what: str, phase: str, mb: int, layer: int) -> None:
        if plan.ep > 1:
            prog.append(Collective(f"ep_all_to_all_{what}", phase, mb, layer, "ep", "all_to_all", a2a_bytes))

    cp = plan.cp > 1
    if cp:  # ring attention: the attention core runs while K and V of the other chunks arrive
        core_names = {"attention_core", "attention_softmax_dropout"}
        core_at = next(i for i, op in enumerate(attn) if op.name in core_names)
        core_end = max(i for i, op in enumerate(attn) if op.name in core_names) + 1
        attn_parts = (attn[:core_at], attn[core_at:core_end], attn[core_end:])
        attn_parts_b = tuple(costs.backward(p, part) for p in attn_parts)
        if training.recompute_granularity == "selective":  # the core is recomputed before its backward
            attn_parts_b = (attn_parts_b[0], attn_parts[1] + attn_parts_b[1], attn_parts_b[2])
        kv_bytes = 2 * x.e * x.b * training.seq_length * x.kv_heads * x.head_dim  # whole sequence's K, V

    def attention(prog: list, mb: int, layer: int, phase: str) -> None:
        """The attention block between its TP collectives; under CP its core runs while K and V
        are all-gathered beside it (and, backward, their gradients are then reduce-scattered),
        the TP all-gather before the part ahead of the core and the reduce after the part behind."""
        back = phase == BACKWARD
        if not cp:
            forward_ops, backward_ops = attention_ops(layer)
            tp_block(prog, "attention", phase, mb, layer, backward_ops if back else forward_ops)
            return
        pre, core, post = attn_parts_b if back else attn_parts
        if back:  # the backward runs the block in reverse order
            pre, post = post, pre
        names = ("attention_out", "attention_qkv") if back else ("attention_qkv", "attention_out")
        tp_block(prog, names[0], phase, mb, layer, pre, "gather")
        tag = f"kv {mb} {phase} {layer}"
        prog.append(Collective("cp_all_gather_kv", phase, mb, layer, "cp", "all_gather", kv_bytes, False, tag))
        prog.append(Compute("attention_core", phase, mb, layer, core))
        prog.append(Wait("wait_kv", phase, "cp", tag))
        if back:
            prog.append(Collective("cp_reduce_scatter_dkv", phase, mb, layer, "cp", "reduce_scatter", kv_bytes))
        tp_block(prog, names[1], phase, mb, layer, post, "reduce")

    def layer_forward(prog: list, mb: int, layer: int, phase: str) -> None:
        predicts = model.is_mtp(layer)
        if predicts:  # [hidden; next token's embedding] projected, its column-parallel output gathered
            prog.append(Compute("mtp_projection", phase, mb, layer, mtp))
            tp_comm(prog, "all_gather", phase, mb, layer)
        attention(prog, mb, layer, phase)
        if moe and model.is_moe_layer(layer):  # tokens go to their experts and come back
            prog.append(Compute("moe_router", phase, mb, layer, router))
            all_to_all(prog, "dispatch", phase, mb, layer)
            prog.append(Compute("experts", phase, mb, layer, experts))
            all_to_all(prog, "combine", phase, mb, layer)
        else:
            tp_block(prog, "mlp", phase, mb, layer, mlp)
        if predicts and phase == FORWARD:  # this depth's logits and loss, through the shared head
            gather(prog, phase, mb, layer)
            prog.append(Compute("mtp_head_loss", phase, mb, layer, head))

    def layer_backward(prog: list, mb: int, layer: int) -> None:
        predicts = model.is_mtp(layer)
        if predicts:
            prog.append(Compute("mtp_head_loss", BACKWARD, mb, layer, head_b))
            reduce(prog, BACKWARD, mb, layer)
        if full:
            layer_forward(prog, mb, layer, RECOMPUTE)
        if moe and model.is_moe_layer(layer):
            all_to_all(prog, "combine", BACKWARD, mb, layer)
            prog.append(Compute("experts", BACKWARD, mb, layer, experts_b))
            all_to_all(prog, "dispatch", BACKWARD, mb, layer)
            prog.append(Compute("moe_router", BACKWARD, mb, layer, router_b))
            blocks = (("attention", None),)
        else:
            blocks = (("mlp", mlp_b), ("attention", None))   # attention: its own ops, by layer
        for name, block in blocks:   # the output gradient sequence-gathered (SP), the input gradient reduced
            if name == "attention":
                attention(prog, mb, layer, BACKWARD)
            else:
                tp_block(prog, name, BACKWARD, mb, layer, block)
        if predicts:
            tp_comm(prog, "reduce_scatter", BACKWARD, mb, layer)
            prog.append(Compute("mtp_projection", BACKWARD, mb, layer, mtp_b))

    def weight_gradients(layer: int) -> tuple:
        mlp_part = moe_w if moe and model.is_moe_layer(layer) else mlp_w
        entry = (("mtp_projection", mtp_w),) if model.is_mtp(layer) else ()
        return (("mlp", mlp_part), ("attention", attn_w)) + entry

    wbytes = WEIGHT_BYTES[training.precision]
    pbytes = training.param_gather_bytes   # a parameter in a ZeRO all-gather
    gbytes = training.gradient_bytes
    last_vs = plan.pp * plan.chunks - 1
    par = scenario.parallelism
    dp = plan.grad_ranks > 1
    zero3 = dp and plan.zero_stage == 3
    grad_op = "all_reduce" if plan.zero_stage == 0 else "reduce_scatter"
    overlap_grads = dp and par.overlap_grad_reduce and not zero3
    gather_early = dp and par.overlap_param_gather and plan.zero_stage in (1, 2)
    # the stack's default bucket; one per layer (an FSDP unit) closes a bucket after every layer
    bucket_limit = FRAMEWORKS[scenario.training.framework].bucket_size(par.ddp_bucket_size, plan.grad_ranks) or 1
    if zero3 and moe:
        raise ConfigError("scenario.parallelism.zero_stage", 3, "0, 1 or 2 for an MoE model")
    if zero3 and split:
        raise ConfigError("scenario.parallelism.pipeline_schedule", plan.schedule,
                          "a schedule without split weight gradients with zero_stage 3")

    def layer_p_of(layer: int) -> float:  # dense parameters of a layer on one rank (DP-reduced)
        return costs.rank_layer_params(model, plan.tp, layer, plan.ep) - \
            costs.layer_params(model, layer, split=True)[1] / plan.ep
    last_mb = plan.num_microbatches - 1

    def fetch(prog: list, phase: str, mb: int, order: list[int], i: int) -> None:
        """ZeRO-3: gather layer order[i]'s parameters, prefetching the next layer's meanwhile."""
        if i == 0:
            prog.append(Collective("dp_all_gather_params", phase, mb, order[0], "dp", "all_gather",
                                   layer_p_of(order[0]) * pbytes, False, f"params {mb} {phase} {order[0]}"))
        if i + 1 < len(order):
            prog.append(Collective("dp_all_gather_params", phase, mb, order[i + 1], "dp", "all_gather",
                                   layer_p_of(order[i + 1]) * pbytes, False, f"params {mb} {phase} {order[i + 1]}"))
        prog.append(Wait("wait_params", phase, "dp", f"params {mb} {phase} {order[i]}"))

    def reduce_bucket(prog: list, phase: str, mb: int, layer: int, last_layer: bool, bucket: list) -> None:
        """After a layer's weight gradients of the last micro-batch: add them to the open bucket,
        and reduce the bucket beside the remaining backward once it is full (or the chunk ends)."""
        if not overlap_grads or mb != last_mb:
            return
        bucket[0] += layer_p_of(layer)
        if bucket[0] >= bucket_limit or last_layer:
            prog.append(Collective(f"dp_{grad_op}_bucket", phase, mb, layer, "dp", grad_op, bucket[0] * gbytes, False))
            bucket[0] = 0.0

    def build() -> list[StageProgram]:
        programs = []
        for s in range(plan.pp):
            prog: list[Instruction] = []
            started: set[int] = set()
            expert_params = stage_expert_params(model, plan, s)
            dense = stage_params(model, plan, s) - expert_params
            rest = dense - sum(layer_p_of(layer) for layer in stage_layer_indices(plan, s))  # embedding, head
            if zero3 and rest > 0:  # embedding and head parameters, gathered for the whole step
                prog.append(Collective("dp_all_gather_params", FORWARD, -1, -1, "dp", "all_gather", rest * pbytes))
            if gather_early:  # last step's parameter all-gather, overlapping this step's first forwards
                for c in range(plan.chunks):
                    n = sum(layer_p_of(layer) for layer in plan.layers(s, c)) + (rest if c == 0 else 0)
                    prog.append(Collective("dp_all_gather", FORWARD, -1, -1, "dp", "all_gather", n * pbytes,
                                           False, f"params chunk {c}"))
                if expert_params and plan.edp > 1:
                    prog.append(Collective("edp_all_gather", FORWARD, -1, -1, "edp", "all_gather",
                                           expert_params * pbytes, False, "params experts"))
            for kind, mb, c in schedule(plan.schedule, s, plan.pp, plan.num_microbatches, plan.chunks):
                vs = plan.virtual_stage(s, c)
                layers = plan.layers(s, c)
                if kind == "F":
                    if gather_early and c not in started:
                        started.add(c)
                        prog.append(Wait("wait_params", FORWARD, "dp", f"params chunk {c}"))
                        if expert_params and plan.edp > 1:
                            prog.append(Wait("wait_params", FORWARD, "edp", "params experts"))
                    if vs == 0:
                        prog.append(Compute("embedding", FORWARD, mb, -1, emb))
                        reduce(prog, FORWARD, mb, -1)  # vocabulary-parallel embedding
                    else:
                        prog.append(Recv("recv_activation", mb, (vs - 1) % plan.pp, f"activation{vs}"))
                    for i, layer in enumerate(layers):
                        if zero3:
                            fetch(prog, FORWARD, mb, list(layers), i)
                        layer_forward(prog, mb, layer, FORWARD)
                    if vs == last_vs:
                        gather(prog, FORWARD, mb, -1)
                        prog.append(Compute("lm_head_loss", FORWARD, mb, -1, head))
                    else:
                        prog.append(Send("send_activation", mb, (vs + 1) % plan.pp, f"activation{vs + 1}", p2p_bytes))
                elif kind == "B":
                    if vs == last_vs:
                        prog.append(Compute("lm_head_loss", BACKWARD, mb, -1, head_b))
                        reduce(prog, BACKWARD, mb, -1)
                    else:
                        prog.append(Recv("recv_gradient", mb, (vs + 1) % plan.pp, f"gradient{vs}"))
                    bucket = [0.0]
                    order = list(reversed(layers))
                    for i, layer in enumerate(order):
                        if zero3:
                            fetch(prog, BACKWARD, mb, order, i)
                        layer_backward(prog, mb, layer)
                        if zero3:  # this micro-batch's gradients of the layer, reduced to their owners
                            prog.append(Collective("dp_reduce_scatter_grads", BACKWARD, mb, layer, "dp",
                                                   "reduce_scatter", layer_p_of(layer) * gbytes, False))
                        elif not split:
                            reduce_bucket(prog, BACKWARD, mb, layer, i == len(order) - 1, bucket)
                    if vs == 0:
                        gather(prog, BACKWARD, mb, -1)  # SP: the embedding's output gradient, gathered
                        prog.append(Compute("embedding", BACKWARD, mb, -1, emb_b))
                    else:
                        prog.append(Send("send_gradient", mb, (vs - 1) % plan.pp, f"gradient{vs - 1}", p2p_bytes))
                else:  # W: weight gradients of the chunk's layers, then their buckets
                    bucket = [0.0]
                    order = list(reversed(layers))
                    for i, layer in enumerate(order):
                        prog.extend(Compute(name, WEIGHT_GRADIENT, mb, layer, ops) for name, ops in weight_gradients(layer))
                        reduce_bucket(prog, WEIGHT_GRADIENT, mb, layer, i == len(order) - 1, bucket)

            first, last = s == 0, s == plan.pp - 1
            if zero3 or overlap_grads:
                prog.append(Wait("wait_gradients", OPTIMIZER, "dp"))
                if rest > 0:  # embedding and head gradients, not in the layer buckets
                    prog.append(Collective(f"dp_{grad_op}", OPTIMIZER, -1, -1, "dp", grad_op, rest * gbytes))
            elif dp:
                prog.append(Collective(f"dp_{grad_op}", OPTIMIZER, -1, -1, "dp", grad_op, dense * gbytes))
            if expert_params and plan.edp > 1:  # experts' gradients, among ranks holding them
                prog.append(Collective(f"edp_{grad_op}", OPTIMIZER, -1, -1, "edp", grad_op, expert_params * gbytes))
            if plan.pp > 1 and model.tie_word_embeddings and (first or last):
                emb_grads = plan.padded_vocab * model.hidden_size / plan.tp * gbytes
                prog.append(Collective("embedding_all_reduce", OPTIMIZER, -1, -1, "embedding", "all_reduce", emb_grads))
            optimizer_step(prog, plan, dense, expert_params, wbytes, gbytes, pbytes, gather=not gather_early)
            programs.append(StageProgram(s, prog))
        return programs

    # the LM head over the model's own vocabulary: the padding to a multiple of 128 x TP is not model work
    head_flops = costs.model_flops(head) * model.vocab_size / plan.padded_vocab
    flops = {"full": costs.model_flops(attn), "sliding": costs.model_flops(sliding[0]), "mlp": costs.model_flops(mlp),
             "mtp": costs.model_flops(mtp) + head_flops}
    if moe:  # routed experts counted without imbalance: the work the model needs
        r, e, _ = costs.moe_blocks(x, model, plan.ep, 1.0)
        flops["moe"] = costs.model_flops(r) + costs.model_flops(e)
    per_mb = head_flops + sum(flops["sliding" if model.is_sliding(layer) else "full"]
                              + flops["moe" if model.is_moe_layer(layer) else "mlp"]
                              + (flops["mtp"] if model.is_mtp(layer) else 0.0) for layer in range(model.all_layers))
    model_flops = per_mb * plan.tp * plan.cp * plan.num_microbatches * plan.dp
    memory = [memory_per_rank(model, training, plan, s, scenario.system.gpus_per_node) for s in range(plan.pp)]
    tokens = plan.global_batch_size * training.seq_length
    return Job(scenario, plan, build, memory, model_flops, tokens)
