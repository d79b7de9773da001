"""A fast estimate of a plan's iteration time, to rank thousands of plans before simulating a few.

It prices the very instructions the step simulation runs, without simulating them together:
- Per-layer times come from the compiled program of the same model with one pipeline stage and
  one micro-batch: each compute instruction by the roofline predictor, each blocking collective
  alone on an idle fabric over the group it would use; a side-stream collective of a layer (TP
  overlap, CP's key/value exchange) adds what it costs beside the compute it overlaps. These
  depend only on TP, CP, EP, sequence parallelism, TP overlap, the micro-batch and recompute, so
  thousands of plans share a few dozen of them.
- A plan's stage takes the sum of its layers' times, plus the embedding (first stage) and the
  loss head (last stage). The pipeline takes (m - 1) x the slowest stage's micro-batch time plus
  the sum over stages, the warm-up and drain of 1F1B; interleaving divides that bubble by the
  chunks. Each stage boundary adds a pipeline transfer on the way in and out of the bubble.
- Gradient reduction (and the parameter all-gather of ZeRO 1-2) over the plan's own data-parallel
  group is added whole, less the last micro-batch's backward when it overlaps it; ZeRO-3 adds the
  per-layer gathers that prefetching cannot hide. The optimizer's update is priced as in the program.

Contention between concurrent flows, and everything the schedule overlaps beyond this, is left to
the step simulation, which ranks the best plans at the end.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from ..config import Scenario
from ..config.frameworks import FRAMEWORKS
from ..hardware import RooflinePredictor, load_accelerator, load_calibration
from ..hardware.compute import overlap_slowdown
from ..topology import system_cluster
from ..workload import compile_job
from ..workload.costs import Op, rank_layer_params
from ..workload.memory import WEIGHT_BYTES, stage_expert_params, stage_params
from ..workload.plan import ParallelPlan
from ..workload.program import BACKWARD, FORWARD, RECOMPUTE, WEIGHT_GRADIENT, Collective, Compute, Send, Wait

# phases that run in a micro-batch's backward pass
BACKWARD_PHASES = (BACKWARD, RECOMPUTE, WEIGHT_GRADIENT)


@dataclass(frozen=True)
class LayerTimes:
    """Seconds per micro-batch on one rank: per layer (forward, backward incl. recompute), and the
    embedding (first stage) and loss head (last stage) in each direction."""

    forward: tuple[float, ...]
    backward: tuple[float, ...]
    first: tuple[float, float]
    last: tuple[float, float]
    p2p_bytes: float


class Estimator:
    """Estimates for plans of one model, batch and cluster (the base scenario's)."""

    def __init__(self, base: Scenario):
        self.base = base
        self.accelerator = load_accelerator(base.system.accelerator)
        self.calib = load_calibration()
        self.op_time = RooflinePredictor(self.accelerator, self.calib, base.training.precision).time
        world = base.system.num_nodes * base.system.gpus_per_node
        self.cluster = system_cluster(base.system, self.accelerator, world, self.calib.protocol_efficiency,
                                      self.calib.hop_latency)
        self._layers: dict[tuple, LayerTimes] = {}
        self._collectives: dict[tuple, float] = {}

    def iteration_time(self, sc: Scenario, plan: ParallelPlan) -> float:
        lt = self.layer_times(sc, plan)
        stages = []
        for s in range(plan.pp):
            layers = [layer for c in range(plan.chunks) for layer in plan.layers(s, c)]
            f = sum(lt.forward[layer] for layer in layers)
            b = sum(lt.backward[layer] for layer in layers)
            if s == 0:
                f, b = f + lt.first[0], b + lt.first[1]
            if s == plan.pp - 1:
                f, b = f + lt.last[0], b + lt.last[1]
            stages.append((f, b))
        per_mb = [f + b for f, b in stages]
        m = plan.num_microbatches
        bubble = (sum(per_mb) - max(per_mb)) / plan.chunks
        pipeline = m * max(per_mb) + bubble
        if plan.pp > 1:
            p2p = self.collective("send_recv", (0, plan.stage_peer(0, 1)), lt.p2p_bytes)
            pipeline += 2 * (plan.pp - 1) * p2p * (1 + (plan.chunks > 1))
        return pipeline + max(self.after_backward(sc, plan, s, stages[s][1]) +
                              self.zero3_exposed(sc, plan, lt, s) * m for s in range(plan.pp))

    # -- per-layer times from the compiled one-stage program --------------------------------------
    def layer_times(self, sc: Scenario, plan: ParallelPlan) -> LayerTimes:
        tr = sc.training
        key = (plan.tp, plan.cp, plan.ep, plan.sequence_parallel, sc.parallelism.tp_comm_overlap, tr.micro_batch_size,
               tr.recompute_granularity)
        lt = self._layers.get(key)
        if lt is None:
            lt = self._layers[key] = self._price_layers(sc, plan)
        return lt

    def _price_layers(self, sc: Scenario, plan: ParallelPlan) -> LayerTimes:
        one = dataclasses.replace(
            sc, parallelism=dataclasses.replace(sc.parallelism, pipeline_model_parallel_size=1, zero_stage=0,
                                                virtual_pipeline_model_parallel_size=None, pipeline_schedule="1f1b",
                                                overlap_grad_reduce=False, data_parallel_size=None),
            training=dataclasses.replace(sc.training, global_batch_size=sc.training.micro_batch_size * plan.dp * plan.pp))
        job = compile_job(one)
        layers = sc.model.all_layers    # multi-token prediction layers after the model's own
        fwd, bwd = [0.0] * layers, [0.0] * layers
        ends = {FORWARD: [0.0, 0.0], BACKWARD: [0.0, 0.0]}   # [before the layers, after them]
        seen = {FORWARD: False, BACKWARD: False}
        p2p = 0.0
        side = None   # a layer's side-stream collective in flight: [its time, the instruction, compute beside it]

        def add(ins, t: float) -> None:
            direction = FORWARD if ins.phase == FORWARD else BACKWARD
            if ins.layer >= 0:
                (fwd if direction == FORWARD else bwd)[ins.layer] += t
                seen[direction] = True
            else:
                ends[direction][seen[direction]] += t

        for ins in job.programs[0].instructions:
            if isinstance(ins, Send):
                p2p = ins.nbytes
                continue
            if isinstance(ins, Wait) and side is not None:   # the transfer beside the compute since it began
                add(side[1], self.beside(side[2], side[0], side[1].sms))
                side = None
            if not isinstance(ins, (Compute, Collective)) or ins.mb < 0:
                continue      # the optimizer and data-parallel reductions are priced per plan
            if isinstance(ins, Collective) and not ins.blocking:
                if side is not None:   # one side transfer at a time: the previous one ends here
                    add(side[1], self.beside(side[2], side[0], side[1].sms))
                side = [self.collective(ins.op, group_of(job.plan, ins.comm), ins.nbytes), ins, 0.0]
                continue
            t = self._instruction(ins, job.plan)
            if side is not None:
                side[2] += t
            add(ins, t)
        # forward: embedding before the layers (first stage), head after (last stage);
        # backward: head before, embedding after
        first = (ends[FORWARD][0], ends[BACKWARD][1])
        last = (ends[FORWARD][1], ends[BACKWARD][0])
        if not p2p:   # one stage sends nothing: the transfer is one layer's output over TP ranks
            p2p = job.scenario.training.micro_batch_size * job.scenario.training.seq_length / plan.cp * \
                sc.model.hidden_size * 2 / plan.tp
        return LayerTimes(tuple(fwd), tuple(bwd), first, last, p2p)

    def _instruction(self, ins, plan: ParallelPlan) -> float:
        if isinstance(ins, Compute):
            return sum(self.op_time(op) for op in ins.ops)
        return self.collective(ins.op, group_of(plan, ins.comm), ins.nbytes)

    def collective(self, op: str, group: tuple[int, ...], nbytes: float) -> float:
        if len(group) < 2 or nbytes <= 0:
            return 0.0
        key = (op, group, nbytes)
        t = self._collectives.get(key)
        if t is None:
            from ..api import time_collective
            t = self._collectives[key] = time_collective(self.cluster, self.calib, op, group, nbytes,
                                                         dict(self.base.system.collective_algorithms))[0]
        return t

    # -- per plan: data parallelism and the optimizer ---------------------------------------------
    def after_backward(self, sc: Scenario, plan: ParallelPlan, stage: int, last_backward: float) -> float:
        """Gradient reduction, parameter all-gather and the optimizer step of one stage's rank."""
        wbytes = WEIGHT_BYTES[sc.training.precision]
        gbytes = sc.training.gradient_bytes
        experts = stage_expert_params(sc.model, plan, stage)
        dense = stage_params(sc.model, plan, stage) - experts
        t = 0.0
        if plan.grad_ranks > 1 and plan.zero_stage == 3:   # the embedding and head, gathered and reduced whole
            layers = [layer for c in range(plan.chunks) for layer in plan.layers(stage, c)]
            rest = dense - sum(rank_layer_params(sc.model, plan.tp, layer, plan.ep) for layer in layers)
            group = group_of(plan, "dp")
            t += self.collective("all_gather", group, rest * sc.training.param_gather_bytes) + \
                self.collective("reduce_scatter", group, rest * gbytes)
        elif plan.grad_ranks > 1:
            group = group_of(plan, "dp")
            op = "all_reduce" if plan.zero_stage == 0 else "reduce_scatter"
            reduce = self.collective(op, group, dense * gbytes)
            if sc.parallelism.overlap_grad_reduce:   # buckets reduce beside the last backward, but the last
                bucket = FRAMEWORKS[sc.training.framework].bucket_size(sc.parallelism.ddp_bucket_size,
                                                                       plan.grad_ranks)
                if bucket is None:   # one bucket per layer: the last is one layer's
                    bucket = dense / max(1, sum(len(plan.layers(stage, c)) for c in range(plan.chunks)))
                last = min(1.0, bucket / max(dense, 1.0))
                reduce = self.beside(last_backward, reduce * (1 - last)) + reduce * last
            t += reduce
            if plan.zero_stage in (1, 2) and not sc.parallelism.overlap_param_gather:
                t += self.collective("all_gather", group, dense * sc.training.param_gather_bytes)
        if experts and plan.edp > 1:
            op = "all_reduce" if plan.zero_stage == 0 else "reduce_scatter"
            t += self.collective(op, group_of(plan, "edp"), experts * gbytes)
        shard = dense / (plan.grad_ranks if plan.zero_stage >= 1 else 1) + \
            experts / (plan.edp if plan.zero_stage >= 1 else 1)
        return t + self.op_time(Op("adam", "elementwise", 0.0, shard * (gbytes + 3 * 2 * 4 + wbytes)))

    def zero3_exposed(self, sc: Scenario, plan: ParallelPlan, lt: LayerTimes, stage: int) -> float:
        """ZeRO-3, per micro-batch: the first layer's parameter gather in each direction, and each
        later gather (with the previous layer's gradient reduce-scatter, backward) beside a layer's
        compute, which it slows and may outlast."""
        if plan.zero_stage != 3 or plan.grad_ranks < 2:
            return 0.0
        gbytes = sc.training.gradient_bytes
        group = group_of(plan, "dp")
        t = 0.0
        for c in range(plan.chunks):
            layers = list(plan.layers(stage, c))
            params = [rank_layer_params(sc.model, plan.tp, layer, plan.ep) for layer in layers]
            gather = [self.collective("all_gather", group, p * sc.training.param_gather_bytes) for p in params]
            scatter = [self.collective("reduce_scatter", group, p * gbytes) for p in params]
            t += gather[0] + gather[-1]           # nothing to hide the first fetch of each pass behind
            for i in range(len(layers) - 1):
                t += self.beside(lt.forward[layers[i]], gather[i + 1])
                back = len(layers) - 1 - i        # backward runs the layers in reverse
                t += self.beside(lt.backward[layers[back]], gather[back - 1] + scatter[back])
        return t

    def beside(self, compute: float, side: float, sms: int | None = None) -> float:
        """Time added to `compute` seconds by a `side` transfer on another stream whose kernels
        hold `sms` SMs (None: NCCL's): the compute slows while they overlap
        (hardware.compute.overlap_slowdown), and the transfer may outlast it."""
        slow = overlap_slowdown(sms, self.accelerator, self.calib)
        return max(side, compute + (slow - 1) * min(compute, side)) - compute


@functools.lru_cache(maxsize=1024)
def group_of(plan: ParallelPlan, comm: str) -> tuple[int, ...]:
    """The ranks of rank 0's communicator `comm` (plans that differ only in ZeRO stage, recompute
    or micro-batch share it)."""
    return {"tp": plan.tp_group, "cp": plan.cp_group, "dp": plan.dp_group, "ep": plan.ep_group,
            "edp": plan.edp_group, "embedding": plan.embedding_group}[comm](0)
