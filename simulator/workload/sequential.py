"""Generic sequential models: a stack of dense, conv2d, norm, activation, pool and flatten layers
(what a Keras Sequential holds), trained with data and pipeline parallelism.

Per sample, a dense layer of n inputs and u units is 2 n u FLOPs over the leading dimensions; a
conv2d ('same' padding) is 2 H' W' k^2 C F; norms, activations and pools move their input and
output once. Backward is twice the forward GEMM work (input and weight gradients) and twice the
elementwise traffic. Activations kept for backward: every layer's output; with full recompute
only each stage's input, plus one layer's working set while it is recomputed.
"""

from __future__ import annotations

import math

from ..config import ConfigError, Scenario
from .costs import ACT_BYTES, Op, backward, model_flops
from .memory import WEIGHT_BYTES, communication_buffers
from .plan import make_plan
from .program import (BACKWARD, FORWARD, RECOMPUTE, OPTIMIZER, Collective, Compute, Job, Recv, Send,
                      StageProgram, optimizer_step)
from .schedule import peak_in_flight, schedule


def layer_costs(model, batch: int, e: int) -> list[tuple[tuple[Op, ...], float, int]]:
    """For each layer: its forward ops for `batch` samples, its parameters, its output elements
    per sample."""
    shape = list(model.input_shape)
    out = []
    for i, spec in enumerate(model.layers):
        size_in = math.prod(shape)
        if spec.type in ("conv2d", "pool") and len(shape) != 3:
            raise ConfigError(f"scenario.model.layers[{i}].type", spec.type,
                              f"a layer for the {len(shape)}-dimensional input it gets ({shape}): "
                              "conv2d and pool need [height, width, channels]")
        name = f"{spec.type}{i}"
        ops: list[Op] = []
        params = 0
        if spec.type == "dense":
            rows, n = size_in // shape[-1], shape[-1]
            params = n * spec.units + spec.units
            shape = shape[:-1] + [spec.units]
            ops.append(Op(name, "matmul", 2.0 * batch * rows * n * spec.units,
                          e * (params + batch * rows * (n + spec.units))))
        elif spec.type == "conv2d":
            h, w, c = shape
            h, w = -(-h // spec.stride), -(-w // spec.stride)
            params = spec.kernel_size ** 2 * c * spec.filters + spec.filters
            shape = [h, w, spec.filters]
            ops.append(Op(name, "matmul", 2.0 * batch * h * w * spec.kernel_size ** 2 * c * spec.filters,
                          e * (params + batch * (size_in + h * w * spec.filters))))
        elif spec.type == "pool":
            h, w, c = shape
            shape = [max(1, h // spec.pool_size), max(1, w // spec.pool_size), c]
            ops.append(Op(name, "elementwise", 0.0, e * batch * (size_in + math.prod(shape))))
        elif spec.type == "flatten":
            shape = [size_in]
        else:  # norm or activation: read and write every element
            params = 2 * shape[-1] if spec.type == "norm" else 0
            ops.append(Op(name, "elementwise", 0.0, 2.0 * e * batch * size_in))
        if spec.activation and spec.type in ("dense", "conv2d"):
            ops.append(Op(f"{name}.{spec.activation}", "elementwise", 0.0, 2.0 * e * batch * math.prod(shape)))
        out.append((tuple(ops), params, math.prod(shape)))
    return out


def compile_sequential(scenario: Scenario) -> Job:
    model, training = scenario.model, scenario.training
    plan = make_plan(scenario)
    e, wbytes = ACT_BYTES[training.precision], WEIGHT_BYTES[training.precision]
    gbytes = training.gradient_bytes
    b = plan.micro_batch_size
    layers = layer_costs(model, b, e)
    full = training.recompute_granularity == "full"
    if training.recompute_granularity == "selective":
        raise ConfigError("scenario.training.recompute_granularity", "selective",
                          "none or full for a sequential model (selective recompute is attention's)")
    programs, memory = [], []
    for s in range(plan.pp):
        idx = list(plan.layers(s))
        prog: list = []
        for kind, mb, _ in schedule(plan.schedule, s, plan.pp, plan.num_microbatches):
            if kind == "F":
                if s > 0:
                    prog.append(Recv("recv_activation", mb, s - 1, f"activation{s}"))
                for i in idx:
                    prog.append(Compute(model.layers[i].type, FORWARD, mb, i, layers[i][0]))
                if s < plan.pp - 1:
                    prog.append(Send("send_activation", mb, s + 1, f"activation{s + 1}", e * b * layers[idx[-1]][2]))
            else:
                if s < plan.pp - 1:
                    prog.append(Recv("recv_gradient", mb, s + 1, f"gradient{s}"))
                for i in reversed(idx):
                    if full:
                        prog.append(Compute(model.layers[i].type, RECOMPUTE, mb, i, layers[i][0]))
                    prog.append(Compute(model.layers[i].type, BACKWARD, mb, i, backward(layers[i][0])))
                if s > 0:
                    prog.append(Send("send_gradient", mb, s - 1, f"gradient{s - 1}", e * b * layers[idx[0] - 1][2]))
        params = sum(layers[i][1] for i in idx)
        if plan.grad_ranks > 1:
            op = "all_reduce" if plan.zero_stage == 0 else "reduce_scatter"
            prog.append(Collective(f"dp_{op}", OPTIMIZER, -1, -1, "dp", op, params * gbytes))
        optimizer_step(prog, plan, params, 0.0, wbytes, gbytes, training.param_gather_bytes)
        programs.append(StageProgram(s, prog))

        shard = plan.grad_ranks
        in_flight = peak_in_flight(schedule(plan.schedule, s, plan.pp, plan.num_microbatches), lambda c: 1)
        outputs = [e * b * layers[i][2] for i in idx]
        if full:  # only the stage input is kept per micro-batch, plus one layer being recomputed
            stage_input = e * b * (layers[idx[0] - 1][2] if idx[0] > 0 else math.prod(model.input_shape))
            activations = in_flight * stage_input + max(outputs)
        else:
            activations = in_flight * sum(outputs)
        memory.append({"weights": params * wbytes,
                       "gradients": params * gbytes / (shard if plan.zero_stage >= 2 else 1),
                       "optimizer_states": params * (8 + (0 if wbytes == 4 else 4)) / (shard if plan.zero_stage >= 1 else 1),
                       "activations": activations,
                       "communication_buffers": communication_buffers(plan, s, scenario.system.gpus_per_node)})
    flops = sum(model_flops(ops) for ops, _, _ in layers) * plan.num_microbatches * plan.dp
    return Job(scenario, plan, lambda: programs, memory, flops, plan.global_batch_size)
