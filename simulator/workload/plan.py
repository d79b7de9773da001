"""The parallel plan: degrees, micro-batches, layer split and Megatron's rank order.

Rank order is Megatron's tp-cp-ep-dp-pp: tensor-parallel ranks are adjacent (so they share a
node), then context-parallel ranks, then data-parallel replicas, then pipeline stages:
rank = tp_rank + t * (cp_rank + c * (dp_rank + d * pp_rank)); expert parallelism is carved out of the
data-parallel ranks.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import ConfigError, Scenario
from ..config.frameworks import FRAMEWORKS

VOCAB_DIVISOR = 128  # Megatron's make_vocab_size_divisible_by default


@dataclass(frozen=True)
class ParallelPlan:
    tp: int
    pp: int
    dp: int
    micro_batch_size: int
    global_batch_size: int
    num_microbatches: int
    layers_per_stage: tuple[int, ...]      # per virtual stage (chunk c of stage s is c * pp + s)
    padded_vocab: int
    zero_stage: int
    chunks: int = 1
    schedule: str = "1f1b"
    sequence_parallel: bool = False
    ep: int = 1                            # expert parallelism, carved out of data parallelism
    cp: int = 1                            # context parallelism: the sequence split over cp ranks

    @property
    def world(self) -> int:
        return self.tp * self.cp * self.dp * self.pp

    @property
    def grad_ranks(self) -> int:
        """Ranks that reduce (and, with ZeRO, shard) the dense gradients: data x context parallel."""
        return self.dp * self.cp

    @property
    def edp(self) -> int:
        """Ranks that reduce (and shard) one expert's gradients."""
        return self.dp // self.ep * self.cp

    def rank(self, tp_rank: int, dp_rank: int, pp_rank: int, cp_rank: int = 0) -> int:
        return tp_rank + self.tp * (cp_rank + self.cp * (dp_rank + self.dp * pp_rank))

    def _split(self, rank: int) -> tuple[int, int, int, int]:
        """(tp, cp, dp, pp) coordinates."""
        return (rank % self.tp, (rank // self.tp) % self.cp, (rank // (self.tp * self.cp)) % self.dp,
                rank // (self.tp * self.cp * self.dp))

    def coords(self, rank: int) -> tuple[int, int, int]:
        """(tp_rank, dp_rank, pp_rank) of a global rank."""
        t, _, d, p = self._split(rank)
        return t, d, p

    def stage_of(self, rank: int) -> int:
        return rank // (self.tp * self.cp * self.dp)

    def tp_group(self, rank: int) -> tuple[int, ...]:
        _, c, d, p = self._split(rank)
        return tuple(self.rank(t, d, p, c) for t in range(self.tp))

    def cp_group(self, rank: int) -> tuple[int, ...]:
        """Ranks holding the pieces of one sequence (context parallelism)."""
        t, _, d, p = self._split(rank)
        return tuple(self.rank(t, d, p, c) for c in range(self.cp))

    def dp_group(self, rank: int) -> tuple[int, ...]:
        """Ranks reducing the dense gradients: every data- and context-parallel peer."""
        t, _, _, p = self._split(rank)
        return tuple(sorted(self.rank(t, d, p, c) for d in range(self.dp) for c in range(self.cp)))

    def ep_group(self, rank: int) -> tuple[int, ...]:
        """Ranks exchanging tokens for MoE layers: ep consecutive data-parallel ranks."""
        t, c, d, p = self._split(rank)
        base = d - d % self.ep
        return tuple(self.rank(t, base + e, p, c) for e in range(self.ep))

    def edp_group(self, rank: int) -> tuple[int, ...]:
        """Ranks holding the same experts, which reduce the experts' gradients together."""
        t, _, d, p = self._split(rank)
        return tuple(sorted(self.rank(t, d % self.ep + self.ep * k, p, c)
                            for k in range(self.dp // self.ep) for c in range(self.cp)))

    def embedding_group(self, rank: int) -> tuple[int, ...]:
        """First and last stage ranks holding the (tied) embedding, for its gradient all-reduce."""
        t, c, d, _ = self._split(rank)
        return (self.rank(t, d, 0, c), self.rank(t, d, self.pp - 1, c))

    def stage_ranks(self, stage: int) -> range:
        n = self.tp * self.cp * self.dp
        return range(stage * n, (stage + 1) * n)

    def stage_peer(self, rank: int, stage: int) -> int:
        """The rank with the same TP, CP and DP coordinates on another pipeline stage (stages
        are the outermost coordinate: a whole stage's ranks away per stage)."""
        return rank + (stage - self.stage_of(rank)) * self.tp * self.cp * self.dp

    def representative(self, stage: int) -> int:
        """A stage's first rank (the one a stage-wide event, such as a slow server, is put on)."""
        return self.rank(0, 0, stage)

    def virtual_stage(self, stage: int, chunk: int) -> int:
        return chunk * self.pp + stage

    def layers(self, stage: int, chunk: int = 0) -> range:
        """Global indices of the layers of one model chunk of a stage."""
        vs = self.virtual_stage(stage, chunk)
        first = sum(self.layers_per_stage[:vs])
        return range(first, first + self.layers_per_stage[vs])


def split_layers(num_layers: int, pp: int) -> tuple[int, ...]:
    """Layers per (virtual) stage: as even as possible; the first `num_layers % pp` take one more."""
    base, extra = divmod(num_layers, pp)
    return tuple(base + (1 if s < extra else 0) for s in range(pp))


def make_plan(scenario: Scenario) -> ParallelPlan:
    """Derive and check the plan; every impossibility is a ConfigError naming the field."""
    m, tr, par, sys_ = scenario.model, scenario.training, scenario.parallelism, scenario.system
    transformer = m.layers is None
    if transformer and tr.seq_length is None:
        raise ConfigError("scenario.training.seq_length", reason="required key is missing",
                          accepted="tokens per sequence, an integer")
    t, p = par.tensor_model_parallel_size, par.pipeline_model_parallel_size
    cp = par.context_parallel_size
    world = sys_.num_nodes * sys_.gpus_per_node
    where = "scenario.parallelism"
    if world % (t * cp * p):
        raise ConfigError(f"{where}.tensor_model_parallel_size x context_parallel_size x pipeline_model_parallel_size",
                          f"{t} x {cp} x {p}",
                          reason=f"their product {t * cp * p} does not divide the world size "
                                 f"{world} (= num_nodes {sys_.num_nodes} x gpus_per_node {sys_.gpus_per_node})",
                          accepted="sizes whose product divides the number of GPUs")
    d = world // (t * cp * p)
    if par.data_parallel_size is not None and par.data_parallel_size != d:
        raise ConfigError(f"{where}.data_parallel_size", par.data_parallel_size,
                          f"{d} (= world {world} / (tensor {t} x context {cp} x pipeline {p})), or leave it out")
    if cp > 1 and transformer and tr.seq_length % (2 * cp):
        raise ConfigError("scenario.training.seq_length", tr.seq_length,
                          f"a multiple of 2 x context_parallel_size = {2 * cp} (Megatron's load-balanced split)")
    if not transformer:
        for key, value, accepted in (("tensor_model_parallel_size", t, 1), ("context_parallel_size", cp, 1),
                                     ("expert_model_parallel_size", par.expert_model_parallel_size, 1),
                                     ("virtual_pipeline_model_parallel_size", par.virtual_pipeline_model_parallel_size or 1, 1)):
            if value != accepted:
                raise ConfigError(f"{where}.{key}", value, f"{accepted} for a sequential (layer-list) model")
        if par.pipeline_schedule not in ("1f1b", "gpipe") or par.sequence_parallel or par.zero_stage == 3:
            raise ConfigError(f"{where}", {"pipeline_schedule": par.pipeline_schedule, "zero_stage": par.zero_stage},
                              "a sequential model: 1f1b or gpipe, zero_stage 0-2, no sequence parallelism")
    num_layers = m.num_hidden_layers if transformer else len(m.layers)
    if transformer and m.num_attention_heads % t:
        raise ConfigError(f"{where}.tensor_model_parallel_size", t,
                          f"a divisor of num_attention_heads={m.num_attention_heads}")
    if transformer and m.kv_heads % t:
        raise ConfigError(f"{where}.tensor_model_parallel_size", t,
                          f"a divisor of num_key_value_heads={m.kv_heads} (Megatron splits query groups)")
    if transformer and m.ffn_size % t:
        raise ConfigError(f"{where}.tensor_model_parallel_size", t,
                          f"a divisor of intermediate_size={m.ffn_size}")
    v = par.virtual_pipeline_model_parallel_size or 1
    schedule = "interleaved_1f1b" if v > 1 else par.pipeline_schedule
    if schedule == "interleaved_1f1b" and v < 2:
        raise ConfigError(f"{where}.virtual_pipeline_model_parallel_size", par.virtual_pipeline_model_parallel_size,
                          "at least 2 for the interleaved_1f1b schedule")
    if schedule == "interleaved_1f1b" and p < 2:
        raise ConfigError(f"{where}.pipeline_model_parallel_size", p, "at least 2 for the interleaved_1f1b schedule")
    if p * v > num_layers:
        raise ConfigError(f"{where}.pipeline_model_parallel_size", p,
                          f"at most the number of layers ({num_layers}) stages"
                          + (f" (x {v} chunks)" if v > 1 else ""))
    per_step = tr.micro_batch_size * d
    if tr.global_batch_size % per_step:
        raise ConfigError("scenario.training.global_batch_size", tr.global_batch_size,
                          f"a multiple of micro_batch_size x data-parallel size = "
                          f"{tr.micro_batch_size} x {d} = {per_step}")
    microbatches = tr.global_batch_size // per_step
    if schedule == "interleaved_1f1b" and microbatches % p:
        raise ConfigError("scenario.training.global_batch_size", tr.global_batch_size,
                          f"with the interleaved schedule, micro-batches ({microbatches}) must be a multiple of "
                          f"pipeline_model_parallel_size={p} (Megatron's rule)")
    if par.sequence_parallel and t < 2:
        raise ConfigError(f"{where}.sequence_parallel", True, "false unless tensor_model_parallel_size > 1")
    stack = FRAMEWORKS[tr.framework]
    if par.tp_comm_overlap and not stack.tp_comm_overlap:
        raise ConfigError(f"{where}.tp_comm_overlap", True,
                          f"false with training.framework {stack.name} (it cannot overlap TP communication with "
                          f"GEMMs; stacks that can: "
                          f"{', '.join(n for n, f in FRAMEWORKS.items() if f.tp_comm_overlap)})")
    if par.tp_comm_overlap and not par.sequence_parallel:
        raise ConfigError(f"{where}.tp_comm_overlap", True, "false unless sequence_parallel is true (Megatron "
                                                            "overlaps the all-gathers and reduce-scatters of "
                                                            "sequence parallelism)")
    ep = par.expert_model_parallel_size
    if ep > 1 and not m.num_experts:
        raise ConfigError(f"{where}.expert_model_parallel_size", ep, "1 for a dense model (no num_experts)")
    if m.num_experts:
        if d % ep:
            raise ConfigError(f"{where}.expert_model_parallel_size", ep,
                              f"a divisor of the data-parallel size {d} (experts are split over DP ranks)")
        if m.num_experts % ep:
            raise ConfigError(f"{where}.expert_model_parallel_size", ep, f"a divisor of num_experts={m.num_experts}")
        if t > 1 and not par.sequence_parallel:
            raise ConfigError(f"{where}.sequence_parallel", False,
                              "true for an MoE model with tensor parallelism (Megatron requires it)")
    divisor = VOCAB_DIVISOR * t
    padded = -(-m.vocab_size // divisor) * divisor if transformer else 0
    per_stage = split_layers(num_layers, p * v)
    if transformer and m.mtp_layers:   # multi-token prediction runs after the last layer, on the last stage
        per_stage = per_stage[:-1] + (per_stage[-1] + m.mtp_layers,)
    return ParallelPlan(tp=t, pp=p, dp=d, micro_batch_size=tr.micro_batch_size,
                        global_batch_size=tr.global_batch_size, num_microbatches=microbatches,
                        layers_per_stage=per_stage,
                        padded_vocab=padded, zero_stage=par.zero_stage, chunks=v, schedule=schedule,
                        sequence_parallel=par.sequence_parallel, ep=ep, cp=cp)
