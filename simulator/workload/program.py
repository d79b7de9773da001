"""Compile (model, training, parallelism) into a Job: one instruction list per pipeline stage.

Every rank of a stage runs the same program (they differ only in data), so a program is kept per
stage; the engine decides whether to run it once (symmetric) or once per rank (full).
Communication is named by communicator ('tp', 'dp', 'embedding') or pipeline neighbour, never by
rank, so the program knows nothing of the topology.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import Scenario
from . import costs
from .costs import Op, Shape
from .memory import WEIGHT_BYTES, memory_per_rank, stage_params
from .plan import ParallelPlan, make_plan
from .schedule import one_f_one_b

FORWARD, BACKWARD, RECOMPUTE, OPTIMIZER = "forward", "backward", "recompute", "optimizer"


@dataclass(frozen=True, slots=True)
class Compute:
    name: str
    phase: str
    mb: int
    layer: int
    ops: tuple[Op, ...]


@dataclass(frozen=True, slots=True)
class Collective:
    name: str
    phase: str
    mb: int
    layer: int
    comm: str        # 'tp', 'dp' or 'embedding'
    op: str          # 'all_reduce', 'reduce_scatter', 'all_gather'
    nbytes: float    # the collective's buffer size S per rank (as nccl-tests' "size")


@dataclass(frozen=True, slots=True)
class Send:
    name: str
    mb: int
    step: int        # +1: to the next stage, -1: to the previous
    tag: str
    nbytes: float


@dataclass(frozen=True, slots=True)
class Recv:
    name: str
    mb: int
    step: int        # +1: from the next stage, -1: from the previous
    tag: str


Instruction = Compute | Collective | Send | Recv


@dataclass
class StageProgram:
    stage: int
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Job:
    scenario: Scenario
    plan: ParallelPlan
    programs: list[StageProgram]
    memory: list[dict[str, float]]          # per stage, per rank of that stage
    model_flops: float                      # per iteration, whole job (MFU numerator)
    tokens: int                             # per iteration

    @property
    def world(self) -> int:
        return self.plan.world


def compile_job(scenario: Scenario) -> Job:
    model, training = scenario.model, scenario.training
    plan = make_plan(scenario)
    x = Shape.of(model, training, plan.tp, plan.padded_vocab)
    attn, mlp = costs.attention_block(x), costs.mlp_block(x)
    attn_b, mlp_b = costs.backward(attn), costs.backward(mlp)
    emb, head = costs.embedding_block(x), costs.head_block(x)
    emb_b, head_b = costs.backward(emb), costs.backward(head)
    if training.recompute_granularity == "selective":
        core = tuple(op for op in attn if op.kind == "attention" or op.name.startswith("attention_softmax"))
        attn_b = core + attn_b  # recompute the attention core right before its backward
    act_bytes = x.e * x.tokens * x.h           # one layer's output, per TP rank
    p2p_bytes = act_bytes / plan.tp            # Megatron scatters pipeline tensors over TP ranks
    tp = plan.tp > 1
    full = training.recompute_granularity == "full"

    def layer_forward(prog: list, mb: int, layer: int, phase: str) -> None:
        prog.append(Compute("attention", phase, mb, layer, attn))
        if tp:
            prog.append(Collective("tp_all_reduce", phase, mb, layer, "tp", "all_reduce", act_bytes))
        prog.append(Compute("mlp", phase, mb, layer, mlp))
        if tp:
            prog.append(Collective("tp_all_reduce", phase, mb, layer, "tp", "all_reduce", act_bytes))

    def layer_backward(prog: list, mb: int, layer: int) -> None:
        if full:
            layer_forward(prog, mb, layer, RECOMPUTE)
        prog.append(Compute("mlp", BACKWARD, mb, layer, mlp_b))
        if tp:
            prog.append(Collective("tp_all_reduce", BACKWARD, mb, layer, "tp", "all_reduce", act_bytes))
        prog.append(Compute("attention", BACKWARD, mb, layer, attn_b))
        if tp:
            prog.append(Collective("tp_all_reduce", BACKWARD, mb, layer, "tp", "all_reduce", act_bytes))

    programs = []
    wbytes = WEIGHT_BYTES[training.precision]
    gbytes = 4 if training.accumulate_allreduce_grads_in_fp32 else wbytes
    for s in range(plan.pp):
        first, last = s == 0, s == plan.pp - 1
        layers = range(plan.first_layer(s), plan.first_layer(s) + plan.layers_per_stage[s])
        prog: list[Instruction] = []
        for kind, mb in one_f_one_b(s, plan.pp, plan.num_microbatches):
            if kind == "F":
                if first:
                    prog.append(Compute("embedding", FORWARD, mb, -1, emb))
                    if tp:
                        prog.append(Collective("tp_all_reduce", FORWARD, mb, -1, "tp", "all_reduce", act_bytes))
                else:
                    prog.append(Recv("recv_activation", mb, -1, "activation"))
                for layer in layers:
                    layer_forward(prog, mb, layer, FORWARD)
                if last:
                    prog.append(Compute("lm_head_loss", FORWARD, mb, -1, head))
                else:
                    prog.append(Send("send_activation", mb, +1, "activation", p2p_bytes))
            else:
                if last:
                    prog.append(Compute("lm_head_loss", BACKWARD, mb, -1, head_b))
                else:
                    prog.append(Recv("recv_gradient", mb, +1, "gradient"))
                for layer in reversed(layers):
                    layer_backward(prog, mb, layer)
                if first:
                    prog.append(Compute("embedding", BACKWARD, mb, -1, emb_b))
                else:
                    prog.append(Send("send_gradient", mb, -1, "gradient", p2p_bytes))

        params = stage_params(model, plan, s)
        if plan.dp > 1:
            op = "all_reduce" if plan.zero_stage == 0 else "reduce_scatter"
            prog.append(Collective(f"dp_{op}", OPTIMIZER, -1, -1, "dp", op, params * gbytes))
        if plan.pp > 1 and model.tie_word_embeddings and (first or last):
            emb_grads = plan.padded_vocab * model.hidden_size / plan.tp * gbytes
            prog.append(Collective("embedding_all_reduce", OPTIMIZER, -1, -1, "embedding", "all_reduce", emb_grads))
        shard = params / (plan.dp if plan.zero_stage >= 1 else 1)
        # Adam over the local shard: read grad, read/write master, m, v; write the 16-bit weight
        step_bytes = shard * (gbytes + 3 * 2 * 4 + wbytes)
        prog.append(Compute("optimizer_step", OPTIMIZER, -1, -1, (Op("adam", "elementwise", 0.0, step_bytes),)))
        if plan.dp > 1 and plan.zero_stage >= 1:
            prog.append(Collective("dp_all_gather", OPTIMIZER, -1, -1, "dp", "all_gather", params * wbytes))
        programs.append(StageProgram(s, prog))

    per_mb = sum(costs.model_flops(b) * n for b, n in ((attn, model.num_hidden_layers),
                                                        (mlp, model.num_hidden_layers), (head, 1)))
    model_flops = per_mb * plan.tp * plan.num_microbatches * plan.dp
    memory = [memory_per_rank(model, training, plan, s) for s in range(plan.pp)]
    tokens = plan.global_batch_size * training.seq_length
    return Job(scenario, plan, programs, memory, model_flops, tokens)
