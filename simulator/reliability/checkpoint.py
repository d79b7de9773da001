"""Checkpoint costs through the memory hierarchy, and the optimal checkpoint interval.

Size: what a restart needs, the weights and optimizer states of every rank (memory plan), each
byte once: weights are replicated over the data- and context-parallel ranks unless ZeRO-3 shards
them, optimizer states unless the distributed optimizer (ZeRO >= 1) does. The save is fully
parallel: every rank writes an equal share (Megatron's distributed checkpoint with parallel save).

Save: each rank copies its share from HBM to host memory over its host link, all at once; then
the servers write to storage over their front-end links, all at once, at the smaller of the
storage system's shared bandwidth and the servers' links together. Synchronous saves block
training for both; asynchronous saves only for the copy (the write overlaps training, and the
next save waits for it). Restore reads the same way in reverse. With in-memory checkpoints the
share also goes to a peer server's host memory over the NICs, and a restart reads it back from
there instead of from storage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..config import CheckpointConfig


@dataclass(frozen=True)
class CheckpointCost:
    size: float          # bytes, whole job
    per_rank: float      # bytes each rank saves
    block: float         # s training stops per save
    write: float         # s after the blocking part until the checkpoint is durable (async)
    load: float          # s to restore on restart

    @property
    def save(self) -> float:
        """From the start of a save until it is durable."""
        return self.block + self.write


def checkpoint_bytes(job) -> float:
    """Bytes of one whole-job checkpoint, each replicated byte counted once."""
    plan = job.plan
    per_stage = plan.world // plan.pp
    weight_copies = 1 if plan.zero_stage == 3 else plan.grad_ranks
    state_copies = 1 if plan.zero_stage >= 1 else plan.grad_ranks
    return sum(per_stage * (m["weights"] / weight_copies + m["optimizer_states"] / state_copies)
               for m in job.memory)


def checkpoint_cost(cfg: CheckpointConfig, job, servers: int, host_link: float, nic: float) -> CheckpointCost:
    """Save and load times of the job's checkpoint: `host_link` (bytes/s) is one GPU's link to host
    memory, `nic` one server NIC's bandwidth (the default front-end link to storage, and the
    path to a peer's memory)."""
    size = cfg.size or checkpoint_bytes(job)
    per_rank = size / job.plan.world
    copy = per_rank / host_link
    front = cfg.server_storage_bandwidth or nic
    write = size / min(cfg.storage_bandwidth, servers * front)
    read = size / min(cfg.storage_read_bandwidth or cfg.storage_bandwidth, servers * front)
    if cfg.in_memory:
        gpus_per_server = job.plan.world / servers
        peer = per_rank * gpus_per_server / nic  # one NIC per server carries the server's share
        write, read = peer, peer
    if cfg.mode == "sync":
        return CheckpointCost(size, per_rank, copy + write, 0.0, read + copy)
    return CheckpointCost(size, per_rank, copy, write, read + copy)


def young_interval(cost: float, mtti: float) -> float:
    """Young (1974): sqrt(2 delta M), first order in delta / M."""
    return math.sqrt(2.0 * cost * mtti)


def daly_interval(cost: float, mtti: float) -> float:
    """Daly (2006, eq. 37): the higher-order optimum of compute time between checkpoints."""
    if cost >= 2.0 * mtti:
        return mtti
    x = cost / (2.0 * mtti)
    return math.sqrt(2.0 * cost * mtti) * (1.0 + math.sqrt(x) / 3.0 + x / 9.0) - cost


def daly_ettr(interval: float, cost: float, restart: float, mtti: float) -> float:
    """Daly's (2006) expected wall time for exponential failures, as the fraction of it that is useful
    work, with `interval` of work then `cost` of checkpoint, and `restart` after each failure
    (failures may strike during checkpoints and restarts too)."""
    return interval / (mtti * math.exp(restart / mtti) * (math.exp((interval + cost) / mtti) - 1.0))
