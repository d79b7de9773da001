"""Parallelism search: the best plans for a model, batch and cluster.

Candidates are every combination of TP (powers of two within a server, dividing the heads, KV
heads and MLP width), context parallelism (long sequences only), PP (dividing the world), virtual
stages (interleaving, when the layers split evenly), expert parallelism (MoE), micro-batch size,
ZeRO stage, activation recompute and sequence parallelism that Megatron accepts. Plans that do
not fit in HBM are dropped; the rest are ranked by the fast estimate (`estimate.py`), and the top
k are simulated step by step. The final ranking is the step simulation's.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..config import ConfigError, Scenario
from ..workload.memory import memory_per_rank
from ..workload.plan import ParallelPlan, make_plan
from .estimate import Estimator
from .executors import run_tasks

MICRO_BATCHES = (1, 2, 4, 8)
RECOMPUTE = ("none", "selective", "full")
ZERO = (0, 1, 2, 3)
MAX_VIRTUAL = 8
LONG_SEQUENCE = 16_384     # context parallelism is tried from this sequence length on
MAX_CANDIDATES = 200_000


@dataclass(frozen=True)
class Candidate:
    tp: int
    cp: int
    pp: int
    vpp: int
    ep: int
    micro_batch_size: int
    zero_stage: int
    recompute: str
    sequence_parallel: bool

    def apply(self, sc: Scenario) -> Scenario:
        par = dataclasses.replace(
            sc.parallelism, tensor_model_parallel_size=self.tp, context_parallel_size=self.cp,
            pipeline_model_parallel_size=self.pp, expert_model_parallel_size=self.ep,
            virtual_pipeline_model_parallel_size=self.vpp if self.vpp > 1 else None,
            pipeline_schedule="1f1b", zero_stage=self.zero_stage, sequence_parallel=self.sequence_parallel,
            tp_comm_overlap=sc.parallelism.tp_comm_overlap and self.sequence_parallel, data_parallel_size=None)
        tr = dataclasses.replace(sc.training, micro_batch_size=self.micro_batch_size,
                                 recompute_granularity=self.recompute)
        return dataclasses.replace(sc, parallelism=par, training=tr)

    @classmethod
    def from_row(cls, row) -> "Candidate":
        """The candidate of a table row (NumPy scalars back to Python's)."""
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        cast = {"int": int, "str": str, "bool": bool}
        return cls(**{k: cast[types[k]](row[k]) for k in types})

    @classmethod
    def of(cls, sc: Scenario) -> "Candidate":
        p, t = sc.parallelism, sc.training
        return cls(p.tensor_model_parallel_size, p.context_parallel_size, p.pipeline_model_parallel_size,
                   p.virtual_pipeline_model_parallel_size or 1, p.expert_model_parallel_size, t.micro_batch_size,
                   p.zero_stage, t.recompute_granularity, p.sequence_parallel)

    def label(self) -> str:
        parts = [f"TP{self.tp}", f"PP{self.pp}"] + [f"VPP{self.vpp}"] * (self.vpp > 1) + \
            [f"CP{self.cp}"] * (self.cp > 1) + [f"EP{self.ep}"] * (self.ep > 1) + \
            [f"mbs{self.micro_batch_size}", f"ZeRO{self.zero_stage}", f"rc-{self.recompute}"] + ["SP"] * self.sequence_parallel
        return " ".join(parts)


def candidates(sc: Scenario) -> list[Candidate]:
    """Every plan of the search space (before checking each against Megatron's rules)."""
    model, world = sc.model, sc.system.num_nodes * sc.system.gpus_per_node
    if model.layers is not None:
        raise ConfigError("scenario.model.layers", "a layer list", "a transformer model (hf_config) for the search")
    layers = model.num_hidden_layers
    tps = [t for t in _powers(sc.system.gpus_per_node)
           if model.num_attention_heads % t == 0 and model.kv_heads % t == 0 and model.ffn_size % t == 0]
    cps = [c for c in _powers(world) if c == 1 or (sc.training.seq_length >= LONG_SEQUENCE and c <= 16)]
    experts = model.num_experts or 0
    eps = [e for e in range(1, min(experts, world) + 1) if experts % e == 0] if experts else [1]
    zeros = [z for z in ZERO if not (experts and z == 3)]
    out = []
    for tp, cp in itertools.product(tps, cps):
        rest = world // (tp * cp) if world % (tp * cp) == 0 else 0
        for pp in (p for p in range(1, min(rest, layers) + 1) if rest % p == 0):
            vpps = [1] + [v for v in range(2, MAX_VIRTUAL + 1) if pp > 1 and layers % (pp * v) == 0]
            dp = rest // pp
            # parameter sharding (ZeRO-3) only without pipeline stages: neither FSDP nor DeepSpeed
            # combines the two, and Megatron's distributed optimizer is ZeRO-1
            stage_zeros = [z for z in zeros if z < 3 or pp == 1]
            for vpp, ep, mbs, zero, rc in itertools.product(vpps, [e for e in eps if dp % e == 0], MICRO_BATCHES,
                                                            stage_zeros, RECOMPUTE):
                for sp in ((False, True) if tp > 1 and not experts else (tp > 1,)):
                    out.append(Candidate(tp, cp, pp, vpp, ep, mbs, zero, rc, sp))
                    if len(out) > MAX_CANDIDATES:
                        raise ConfigError("search", f"more than {MAX_CANDIDATES:,} candidate plans",
                                          "a smaller search space")
    return out


def _powers(limit: int) -> list[int]:
    return [2**k for k in range(int(math.log2(limit)) + 1) if 2**k <= limit]


@dataclass
class SearchResult:
    table: pd.DataFrame          # every candidate that is a valid plan: fits, estimate, simulated
    considered: int              # candidates generated
    wall_time_s: float
    base_rank: int | None        # the scenario's own plan in the final ranking (1 = best), if valid


def parse_space(items: list[str]) -> dict[str, set]:
    """`--space tp=4,8 --space recompute=full` as {'tp': {4, 8}, 'recompute': {'full'}}."""
    from ..config import parse_assignment
    out = {}
    for item in items:
        key, value = parse_assignment(item.replace("=", "=[", 1) + "]" if "=" in item else item, "--space")
        if key not in CANDIDATE_FIELDS:
            raise ConfigError("--space", key, ", ".join(CANDIDATE_FIELDS))
        out[key] = set(value)
    return out


def search(sc: Scenario, *, top: int = 5, space: dict[str, set] | None = None,
           simulate_top: bool = True, workers: int | None = None) -> SearchResult:
    """Rank every valid plan for `sc`'s model, batch and cluster; simulate the `top` best by
    estimate (and the scenario's own plan) step by step, on `workers` processes (default: all
    cores). `space` keeps only the candidates whose fields take the values given (e.g.
    {'recompute': {'full'}})."""
    wall = time.perf_counter()
    if not 1 <= top <= 1000:
        raise ConfigError("--top", top, "an integer from 1 to 1000")
    estimator = Estimator(sc)
    capacity = estimator.accelerator.hbm_capacity
    own = Candidate.of(sc)
    pool = [c for c in candidates(sc) if all(getattr(c, k) in v for k, v in (space or {}).items())]
    if own not in pool:
        pool.append(own)
    rows, scenarios = [], {}
    for cand in pool:
        s = cand.apply(sc)
        try:
            plan = make_plan(s)
        except ConfigError:
            continue              # a combination Megatron refuses (e.g. micro-batches vs PP)
        peak = peak_memory(s, plan)
        row = {"plan": cand.label(), **dataclasses.asdict(cand), "dp": plan.dp, "microbatches": plan.num_microbatches,
               "peak_memory_gib": peak / 2**30, "fits": peak <= capacity, "estimate_s": math.nan}
        if row["fits"]:
            try:
                row["estimate_s"] = estimator.iteration_time(s, plan)
            except ConfigError as exc:
                row.update(fits=False, error=str(exc))
        rows.append(row)
        scenarios[cand] = s
    df = pd.DataFrame(rows)
    from ..engine import BREAKDOWN_KEYS
    for column in ["simulated_s", "mfu"] + [f"{k}_s" for k in BREAKDOWN_KEYS]:
        df[column] = math.nan
    ranked = df[df["fits"]].sort_values("estimate_s", kind="stable")
    chosen = list(ranked.index[:top])
    own_index = next((i for i, r in df.iterrows() if Candidate.from_row(r) == own), None)
    if own_index is not None and df.at[own_index, "fits"] and own_index not in chosen:
        chosen.append(own_index)
    if simulate_top:
        tasks = [(scenarios[Candidate.from_row(df.loc[i])],) for i in chosen]
        for n, figures in run_tasks(step_figures, tasks, workers=workers):
            for column, value in figures.items():
                df.at[chosen[n], column] = value
    df["estimate_rank"] = df["estimate_s"].rank(method="min")
    order = df.sort_values(["simulated_s", "estimate_s"], kind="stable", na_position="last")
    order = order.reset_index(drop=True)
    base_rank = None
    if own_index is not None:
        own_label = own.label()
        hits = order.index[order["plan"] == own_label]
        base_rank = int(hits[0]) + 1 if len(hits) and order.at[hits[0], "fits"] else None
    order["is_scenario_plan"] = order["plan"] == own.label()
    return SearchResult(order, len(pool), time.perf_counter() - wall, base_rank)


CANDIDATE_FIELDS = [f.name for f in dataclasses.fields(Candidate)]


def step_figures(sc: Scenario) -> dict[str, float]:
    """The simulated iteration time, MFU and breakdown of one plan."""
    from ..api import simulate
    summary = simulate(sc).summary
    return {"simulated_s": summary["iteration_time_s"], "mfu": summary["mfu"],
            **{f"{k}_s": v for k, v in summary["breakdown_s"].items()}}


def peak_memory(sc: Scenario, plan: ParallelPlan) -> float:
    """The largest per-rank footprint over the stages that can hold it: the first (most
    micro-batches in flight, the embedding) and the last (the loss head's logits)."""
    stages = {0, plan.pp - 1}
    return max(sum(memory_per_rank(sc.model, sc.training, plan, s, sc.system.gpus_per_node).values())
               for s in stages)


def search_rows(result: SearchResult, top: int) -> list[dict[str, Any]]:
    return result.table.head(top).to_dict("records")
