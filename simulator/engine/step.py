"""One training iteration as a SimPy simulation.

Each simulated rank is one process walking its stage program: compute ops are timeouts priced by
the predictor; collectives and pipeline transfers are flow classes on the fabric. A collective
starts when every simulated member has reached it (a barrier) and blocks its callers until done;
pipeline sends are asynchronous and receives block until the bytes have arrived.

Symmetry: ranks, transfers and links that behave alike are found as classes (classes.py), and
symmetric mode simulates one rank per class; its collectives and sends carry every flow of their
class, on one link per class of links. Full mode simulates every rank on its own links; both
give the same iteration time on any placement (tested).

Events only where something can change: a rank times a run of instructions that nothing outside
it can delay (compute, collectives alone on their links) by adding their durations itself, and
joins a collective of that kind with other members at the run's end time; the last member to
join schedules its end. Same sums in the same order as one event per instruction (tested).
"""

from __future__ import annotations

import heapq
from array import array
from dataclasses import dataclass, field

import simpy

from ..config import ImplausibleResult
from ..network import Collectives, Fabric, Tuning
from ..network.collectives import flows
from ..topology import Cluster
from ..workload import Collective, Compute, Job, Recv, Send, Wait
from .classes import ROLES, NotUniform, Partition

# Every second of a rank's iteration falls in exactly one of these. Waiting for a peer that has
# not reached the same point yet (a receive before the send started, a collective before the
# last member arrived, the end of the iteration before the slowest stage finished) is the
# pipeline bubble; waiting for bytes in flight is communication.
BREAKDOWN_KEYS = ("compute", "recompute", "tp_comm", "cp_comm", "ep_comm", "pp_comm_exposed", "pipeline_bubble",
                  "dp_comm", "optimizer")
COMM_CATEGORY = {"tp": "tp_comm", "ep": "ep_comm", "cp": "cp_comm"}  # every other one: data parallelism
COMPUTE_CATEGORY = {"optimizer": "optimizer", "recompute": "recompute"}  # every other phase: compute
ALONE, JOIN = 1, 2  # how an instruction's duration is known without simulating it (StepSimulation._timing)

# An op record as the tables and the trace spell it out (StepResult.op_records). The simulation
# keeps each as (rank, serial number of the instruction, start, end) in a RecordLog, the rest
# being the instruction's: full mode makes millions.
RECORD_COLUMNS = ("rank", "stream", "name", "phase", "microbatch", "layer", "start", "end", "bytes")


class RecordLog:
    """Op records as four typed arrays: rank, instruction serial number, start and end (24 bytes
    a record, where a tuple of four takes 90). Iterates as (rank, serial, start, end)."""

    __slots__ = ("rank", "serial", "start", "end")

    def __init__(self):
        self.rank, self.serial, self.start, self.end = array("i"), array("i"), array("d"), array("d")

    def add(self, rank: int, serial: int, start: float, end: float) -> None:
        self.rank.append(rank)
        self.serial.append(serial)
        self.start.append(start)
        self.end.append(end)

    def __len__(self) -> int:
        return len(self.rank)

    def __iter__(self):
        return zip(self.rank, self.serial, self.start, self.end)


def op_record(rank: int, ins, start: float, end: float) -> tuple:
    """The fields of RECORD_COLUMNS for `ins` run by `rank` from `start` to `end`."""
    kind = type(ins)
    if kind is Compute:
        return rank, "compute", ins.name, ins.phase, ins.mb, ins.layer, start, end, 0.0
    if kind is Collective:   # a side-stream collective runs on the "side" stream, a blocking one on its communicator's
        return rank, ins.comm if ins.blocking else "side", ins.name, ins.phase, ins.mb, ins.layer, start, end, ins.nbytes
    if kind is Wait:
        return rank, ins.comm, ins.name, ins.phase, -1, -1, start, end, 0.0
    if kind is Send:
        return rank, "pp", ins.name, "p2p", ins.mb, -1, start, end, ins.nbytes
    return rank, "wait", ins.name, "p2p", ins.mb, -1, start, end, 0.0    # Recv: waiting for the bytes


class SimulationDeadlock(ImplausibleResult):
    """Ranks wait for each other forever: a fault in the programs the workload compiled."""


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it schedules (for benchmarks), and can
    schedule one at an absolute time."""

    def __init__(self):
        super().__init__()
        self.scheduled = 0

    def schedule(self, event, priority=1, delay=0):
        self.scheduled += 1
        super().schedule(event, priority, delay)

    def at(self, when: float) -> simpy.Event:
        """An event that fires at time `when` (exactly: not now + (when - now))."""
        return self.succeed_at(simpy.Event(self), when)

    def succeed_at(self, ev: simpy.Event, when: float) -> simpy.Event:
        """Trigger `ev` at time `when` (not before now)."""
        ev._ok, ev._value = True, None
        self.scheduled += 1
        heapq.heappush(self._queue, (when, simpy.core.NORMAL, next(self._eid), ev))
        return ev


@dataclass
class StepResult:
    iteration_time: float
    simulated_ranks: list[int]
    records: "RecordLog"                       # (rank, instruction serial number, start, end); see op_records
    breakdown: dict[int, dict[str, float]]      # per simulated rank, seconds by category
    link_bytes: list[float]
    transfers: list[tuple]                     # fabric records: tag, begin, end, bytes per flow, footprint
    events: int
    fabric_recomputations: int
    mode: str
    multiplicity: dict[int, int] = field(default_factory=dict)  # ranks each simulated rank stands for
    extrapolated_from: tuple[int, ...] = ()    # micro-batch counts simulated, when the figures are extrapolated
    instructions: list = field(default_factory=list, repr=False)   # by serial number, for the records

    def op_records(self):
        """Every op record as the fields of RECORD_COLUMNS, one at a time."""
        of = self.instructions
        return (op_record(rank, of[i], start, end) for rank, i, start, end in self.records)


class StepSimulation:
    timed_runs = True  # time runs of instructions nothing can delay without events (False: one event each)

    def __init__(self, job: Job, cluster: Cluster, op_time, tuning: Tuning, mode: str = "symmetric",
                 algorithms: dict[str, str] | None = None, fabric: Fabric | None = None, name: str = "",
                 side_slowdown=lambda sms: 1.0):
        """`fabric` (with its environment) may be shared with other jobs placed on the same cluster.
        `side_slowdown(sms)`: how many times longer compute takes beside a side-stream collective
        whose kernels hold `sms` SMs (None: an NCCL kernel), see hardware.compute.overlap_slowdown."""
        self.job, self.cluster, self.plan = job, cluster, job.plan
        self.op_time = op_time
        self.mode = mode
        self.name = name
        self.side_slowdown = side_slowdown
        self._slow: dict[int, float] = {}             # rank -> compute time multiplier (see rerun)
        self.slowdown: dict[int, float] = {}          # the same for the simulated ranks, set at start
        self.env = fabric.env if fabric else CountingEnvironment()
        self.fabric = fabric or Fabric(self.env, cluster.capacity)
        self.tuning, self.algorithms = tuning, algorithms
        plan = self.plan
        self._groups_in_stage: dict[tuple[str, int], list] = {}
        self._group_of = {"tp": plan.tp_group, "dp": plan.dp_group, "embedding": plan.embedding_group,
                          "ep": plan.ep_group, "edp": plan.edp_group, "cp": plan.cp_group}
        self._instructions = [i for p in job.programs for i in p.instructions]
        self._serial = {id(ins): n for n, ins in enumerate(self._instructions)}   # id -> serial number
        self._durations: dict[int, float] = {}
        self.classes = None   # symmetric mode: the partition (see classes.py), set with the communicators
        self.ranks: list[int] = []
        self._new_collectives()
        self._clear()

    def _clear(self) -> None:
        """Forget the state of a run (communicators and their flow footprints stay)."""
        self._side: dict[int, dict[str, list]] = {}   # rank -> comm -> [(tag, event)] on side streams
        self._busy: dict[int, list] = {}              # rank -> slowdowns of its side-stream collectives in flight
        self._open: dict[int, int] = {}               # rank -> side-stream collectives issued, not yet done
        self._tails: dict[tuple, simpy.Event] = {}    # (rank, comm) -> its last side collective's done event
        # rank -> comm -> [group key, simulated members, the group's barrier slots by sequence
        # number, collectives this rank has joined]; filled by _members once groups are known
        self._member: dict[int, dict[str, list]] = {}
        self._mail: dict[tuple, simpy.Event] = {}
        self._timings: dict[tuple, int] = {}         # (id of group key, op, bytes) -> ALONE, JOIN or 0
        self._sent_at: dict[tuple, float] = {}
        self.records = RecordLog()

    def rerun(self, slowdown: dict[int, float] | None = None, capacity: list[float] | None = None) -> StepResult:
        """Simulate the iteration again on an idle fabric, each rank in `slowdown` computing that
        many times slower (a straggler), with link `capacity` (default: the cluster's) for a
        degraded link. Routes and the collectives' algorithm choices (made, as NCCL makes them,
        for the intact fabric) are reused; in symmetric mode slow ranks and a changed capacity
        refine the classes (a slow rank, a narrowed link's flows are set apart), so the result
        is full mode's."""
        capacity = self.cluster.capacity if capacity is None else capacity
        slowdown = {r: f for r, f in (slowdown or {}).items() if f != 1.0}
        for r in slowdown:
            if not 0 <= r < self.plan.world:
                raise ValueError(f"rank {r} is not in the job (0..{self.plan.world - 1})")
        self.env = CountingEnvironment()
        self.fabric = Fabric(self.env, capacity)
        self._ready()
        if self.classes is not None and (capacity != self._capacity or slowdown != self._slow):
            self._new_collectives()   # the same routes, new classes
            self.set_up(self._partition.varied(capacity, {self._offset + r: f for r, f in slowdown.items()}),
                        self._offset)
        else:
            self.collectives.fabric = self.fabric
            self._attach()
        self._slow = slowdown
        self._clear()
        return self.run()

    def stand_in(self, rank: int) -> int:
        """The simulated rank that stands for `rank`: itself in full mode, its class's in
        symmetric mode (the same timeline)."""
        self._ready()
        return rank if self.classes is None else self.classes.stand_in(self._offset + rank) - self._offset

    # -- set-up ------------------------------------------------------------------------------
    def _new_collectives(self) -> None:
        self.collectives = Collectives(self.fabric, self.cluster.route, self.cluster.path_latency,
                                       self.cluster.node_of, self.tuning, self.algorithms, self.cluster.in_switch,
                                       as_built=self.cluster.capacity)
        self._set = False

    def _ready(self) -> None:
        if not self._set:
            self.set_up()

    def set_up(self, partition: Partition | None = None, offset: int = 0, links: bool = False) -> None:
        """Register the communicators of the simulated ranks. Symmetric mode first partitions
        the job (see classes.py) unless `partition`, shared with the jobs of one fabric, has
        this job's ranks from `offset` on and its transfers already; `links`: the partition
        that needs no certificate."""
        self._set = True
        self._capacity = self.fabric.capacity
        if self.mode == "symmetric":
            if partition is None:
                partition = new_partition(self.cluster, self.fabric.capacity)
                offset = self.add_transfers(partition)
            self._partition, self._offset = partition, offset
            self.classes = partition.classes(links)
            self.ranks = sorted({self.classes.stand_in(offset + r) - offset for r in range(self.plan.world)})
        else:
            self.ranks = list(range(self.plan.world))
        self.simulated = set(self.ranks)
        self._build_communication()
        self._attach()

    def _attach(self) -> None:
        """Let the fabric certify the classes' rates (symmetric mode, coarse partition)."""
        self.fabric.check = self.classes.check if self.classes is not None and self.classes.checked else None

    def refine(self, colours, fabric: Fabric | None = None, links: bool | None = None) -> None:
        """After a failed certificate (NotUniform(colours)): set those transfer colours apart by
        the links their transfers cross (or, if that splits nothing, partition with the links,
        exact by construction) and set up again on a fresh fabric (`fabric`, shared by jobs, or
        a new one; their partition is split once, `links` telling how)."""
        before = self.classes
        if links is None:
            links = not before.checked or not self._partition.split(colours)
        self.env = fabric.env if fabric else CountingEnvironment()
        self.fabric = fabric or Fabric(self.env, self._capacity)
        self._new_collectives()
        self.set_up(self._partition, self._offset, links=links)
        self._clear()

    def _stage_groups(self, kind: str, stage: int) -> list[tuple[int, ...]]:
        """The distinct groups of a kind among a stage's ranks (each built once, not per member)."""
        key = (kind, stage)
        groups = self._groups_in_stage.get(key)
        if groups is None:
            fn, covered, groups = self._group_of[kind], set(), []
            for r in self.plan.stage_ranks(stage):
                if r not in covered:
                    g = fn(r)
                    covered.update(g)
                    groups.append(g)
            self._groups_in_stage[key] = groups
        return groups

    def _communication(self):
        """(stage -> its collectives' (comm, op)), (stage -> the stages it sends to)."""
        ops = {p.stage: sorted({(i.comm, i.op) for i in p.instructions if isinstance(i, Collective)})
               for p in self.job.programs}
        sends = {p.stage: sorted({i.stage for i in p.instructions if isinstance(i, Send)}) for p in self.job.programs}
        return ops, sends

    def add_transfers(self, partition: Partition) -> int:
        """Add this job's ranks (coloured by job and stage) and every transfer of every group
        and pipeline pair to `partition`; returns the id of its rank 0."""
        plan, coll, cl = self.plan, self.collectives, self.cluster
        offset = partition.ranks([(self.name, plan.stage_of(r)) for r in range(plan.world)])
        gpus, links = cl.gpus, cl.router.links   # routing every flow once, not cached in the cluster
        route = lambda a, b: links(gpus[a], gpus[b])  # noqa: E731
        member, send, recv = ROLES["member"], ROLES["send"], ROLES["recv"]
        self._tid: dict[tuple, dict] = {}   # group key -> (op, algorithm, phase) -> transfer id
        ops, sends = self._communication()
        for s in range(plan.pp):
            for comm in sorted({comm for comm, _ in ops[s]}):
                for g in self._stage_groups(comm, s):
                    if (comm, g) in self._tid:
                        continue   # a group across stages (embedding) is met once per stage
                    tids = self._tid[(comm, g)] = {}
                    members, roles = [offset + m for m in g], [member] * len(g)
                    routed: dict[tuple, tuple] = {}   # the ops and algorithms of a group share flows (rings)
                    for op, alg in ((op, alg) for c, op in ops[s] if c == comm for alg in coll.algorithms(op, g)):
                        for i, fs in enumerate(flows(op, alg, g, cl.node_of)):
                            if fs.pairs not in routed:
                                routed[fs.pairs] = partition.routes(route, fs.pairs)
                            tids[(op, alg, i)] = partition.add((comm, op, alg, i, fs.steps, fs.bytes_factor),
                                                               routed[fs.pairs], members, roles)
            for q in sends[s]:
                for r in plan.stage_ranks(s):
                    d = plan.stage_peer(r, q)
                    self._tid[("p2p", r, d)] = {("send_recv", "direct", 0): partition.add(
                        ("p2p", q - s), partition.routes(route, ((r, d),)), [offset + r, offset + d], [send, recv])}
        return offset

    def _build_communication(self) -> None:
        """Register every communicator of the simulated ranks. In symmetric mode a simulated
        rank's group is registered under the key of the first group of its class met (the
        canonical one), with its class's footprints; the simulated ranks of a class of groups
        join its canonical collective, and a pipeline receive waits for its class's send."""
        plan, coll = self.plan, self.collectives
        serialized = set()
        ops, sends = self._communication()
        # side-stream collectives of a communicator may run several at once: no closed form for them
        overlapping = {i.comm for p in self.job.programs for i in p.instructions
                       if isinstance(i, Collective) and not i.blocking}
        interned: dict[tuple, tuple] = {}    # one object per group key: its id keys the hot tables
        canonical: dict[tuple, tuple] = {}   # class of a group (its key in full mode) -> canonical key

        def register(key, op, group):
            key = interned.setdefault(key, key)
            if self.classes is None:
                canon = key
            else:
                tids = self._tid[key]
                canon = canonical.setdefault(tuple(sorted((k, int(self.classes.transfer[t])) for k, t in tids.items())), key)
            if canon is key:
                load = None if self.classes is None else \
                    lambda alg, i, own: self.classes.footprint(tids[(op, alg, i)], own.latency)
                coll.register(key, op, group, load)
            return canon

        self._groups: dict[int, dict[str, tuple]] = {}    # rank -> comm -> canonical group key
        self._expected: dict[int, int] = {}                # id of group key -> simulated ranks joining it
        self._outbox: dict[tuple[int, int], tuple] = {}    # (rank, stage sent to) -> canonical pair key
        self._inbox: dict[tuple[int, int], tuple] = {}     # (rank, stage received from) -> canonical pair key
        for r in self.ranks:
            stage = plan.stage_of(r)
            groups = self._groups[r] = {}
            for comm, op in ops[stage]:
                group = self._group_of[comm](r)
                groups[comm] = register((comm, group), op, group)
                if comm not in overlapping:
                    serialized.add(groups[comm])  # blocking collectives: one at a time per group
            for canon in groups.values():
                self._expected[id(canon)] = self._expected.get(id(canon), 0) + 1
            for q in sends[stage]:
                dst = plan.stage_peer(r, q)
                self._outbox[(r, q)] = register(("p2p", r, dst), "send_recv", (r, dst))
        for r in self.ranks:   # after every send: a receive's class was registered by its sender's
            for q in {i.stage for i in self.job.programs[plan.stage_of(r)].instructions if isinstance(i, Recv)}:
                src = plan.stage_peer(r, q)
                self._inbox[(r, q)] = register(("p2p", src, r), "send_recv", (src, r))
        self.serialized = {(self.name, key) for key in serialized}

    def owned_footprints(self) -> list[tuple]:
        """(footprint, owner) of every registered transfer, owners named by job."""
        self._ready()
        return [(fp, (self.name, key)) for fp, keys in self.collectives.owners.items() for key in keys]

    def multiplicity(self) -> dict[int, int]:
        """Ranks each simulated rank stands for."""
        if self.classes is None:
            return {r: 1 for r in self.ranks}
        return {r: self.classes.size[int(self.classes.rank[self._offset + r])] for r in self.ranks}

    # -- operations ---------------------------------------------------------------------------
    def _duration(self, ops) -> float:
        d = self._durations.get(id(ops))
        if d is None:
            d = sum(self.op_time(op) for op in ops)
            self._durations[id(ops)] = d
        return d

    def _collective(self, rank: int, ins: Collective, arrival: float | None = None) -> tuple[simpy.Event, list | None]:
        """The event that fires when the collective is done, and its barrier slot [arrivals,
        done event, launch time, latest arrival] (None when this rank is its only simulated
        member). A rank may arrive at a later `arrival` time than now when the collective is
        timed on joining (see _timing): it starts when the last member arrives, and nothing
        else on the fabric can change how long it takes."""
        member = self._member[rank][ins.comm]
        key, expected, pending, n = member
        member[3] = n + 1
        if expected == 1:
            return self._launch(key, ins), None
        joined = arrival is not None   # timed on joining: its closed form is known (see _timing)
        arrival = arrival if joined else self.env.now
        slot = pending.get(n)
        if slot is None:
            slot = pending[n] = [0, self.env.event(), None, arrival]
        slot[0] += 1
        if arrival > slot[3]:
            slot[3] = arrival
        if slot[0] == expected:
            del pending[n]
            launch = slot[2] = slot[3]
            done = slot[1]
            if joined or self.collectives.closed_form(key, ins.op, ins.nbytes):
                self.env.succeed_at(done, launch + self.collectives.finish_closed(key, ins.op, ins.nbytes, launch))
            else:
                self._launch(key, ins).callbacks.append(lambda _: done.succeed())
        return slot[1], slot

    def _start_side(self, rank: int, ins: Collective) -> None:
        """A non-blocking collective: runs beside compute once the side collectives this rank
        issued before on the same communicator are done (NCCL runs one communicator's operations
        in the order they were issued); a Wait collects it."""
        done = self.env.event()
        side = self._side.setdefault(rank, {}).setdefault(ins.comm, [])
        side[:] = [(t, ev) for t, ev in side if not ev.processed]
        side.append((ins.tag, done))
        self._open[rank] = self._open.get(rank, 0) + 1
        busy = self._busy.setdefault(rank, [])
        record = self.records.add
        before, self._tails[(rank, ins.comm)] = self._tails.get((rank, ins.comm)), done

        def launch(_=None):
            ev, _ = self._collective(rank, ins)
            slowdown = self.side_slowdown(ins.sms)
            busy.append(slowdown)
            start = self.env.now

            def finished(_):
                busy.remove(slowdown)
                self._open[rank] -= 1
                record(rank, self._serial[id(ins)], start, self.env.now)
                done.succeed()
            ev.callbacks.append(finished)

        if before is None or before.processed:
            launch()
        else:
            before.callbacks.append(launch)

    def _launch(self, key, ins: Collective) -> simpy.Event:
        return self.collectives.start(key, ins.op, ins.nbytes)

    def _mailbox(self, key) -> simpy.Event:
        ev = self._mail.get(key)
        if ev is None:
            ev = self._mail[key] = self.env.event()
        return ev

    def _send(self, rank: int, ins: Send) -> None:
        pair = self._outbox[(rank, ins.stage)]
        key = (pair, ins.tag, ins.mb)
        box = self._mailbox(key)
        start = self.env.now
        self._sent_at[key] = start
        record = self.records.add

        def arrived(_):
            record(rank, self._serial[id(ins)], start, self.env.now)
            box.succeed()

        self.collectives.start(pair, "send_recv", ins.nbytes).callbacks.append(arrived)

    # -- the rank process ----------------------------------------------------------------------
    def _compute(self, rank: int, ins: Compute, b: dict):
        start = self.env.now
        d = self._duration(ins.ops) * self.slowdown.get(rank, 1.0)
        busy = self._busy.get(rank)
        if busy:  # communication kernels share the GPU: compute slows down (by the most demanding)
            d *= max(busy)
        yield self.env.timeout(d)
        self.records.add(rank, self._serial[id(ins)], start, self.env.now)
        b[COMPUTE_CATEGORY.get(ins.phase, "compute")] += self.env.now - start

    def _timing(self, rank: int, ins) -> int:
        """How the instruction's duration is known. ALONE: from this rank alone (compute, or a
        blocking collective whose only simulated member is this rank and whose flows have their
        links to themselves); JOIN: once its last member arrives (such a collective with other
        members); 0: only by simulating it."""
        kind = type(ins)
        if kind is Compute:
            return ALONE
        if kind is not Collective or not ins.blocking:
            return 0
        key = self._groups[rank][ins.comm]
        timing = self._timings.get((id(key), ins.op, ins.nbytes))
        if timing is None:
            timing = 0
            if self.collectives.closed_form(key, ins.op, ins.nbytes):
                timing = ALONE if self._expected[id(key)] == 1 else JOIN
            self._timings[(id(key), ins.op, ins.nbytes)] = timing
        return timing

    def _close_collective(self, rank: int, ins: Collective, t: float, b: dict) -> float:
        """Account for a collective timed ALONE started at `t`; return its end time (compute
        timed alone is accounted for in run_rank's loop)."""
        member = self._member[rank][ins.comm]
        member[3] += 1
        end = t + self.collectives.finish_closed(member[0], ins.op, ins.nbytes, t)
        self.records.add(rank, self._serial[id(ins)], t, end)
        b[COMM_CATEGORY.get(ins.comm, "dp_comm")] += end - t
        return end

    def _end_collective(self, rank: int, ins: Collective, start: float, slot: list | None, b: dict) -> None:
        """Account for a blocking collective joined at `start` and done now: waiting for the
        last member is bubble, the rest communication."""
        now = self.env.now
        log = self.records   # RecordLog.add, inline: every member of every collective comes here
        log.rank.append(rank)
        log.serial.append(self._serial[id(ins)])
        log.start.append(start)
        log.end.append(now)
        waited = slot[2] - start if slot else 0.0
        b["pipeline_bubble"] += waited
        b[COMM_CATEGORY.get(ins.comm, "dp_comm")] += now - start - waited

    def run_rank(self, rank: int, instructions, first: int, durations: list, categories: list):
        """Walk a stage program; `first`: the serial number of its first instruction; `durations`:
        each compute's duration (else None); `categories`: each compute's and collective's
        breakdown key; by position."""
        env = self.env
        log = self.records
        record = log.add
        log_rank, log_serial, log_start, log_end = log.rank.append, log.serial.append, log.start.append, log.end.append
        opened, timing, close_collective, serial = self._open, self._timing, self._close_collective, self._serial
        slow, timed_runs = self.slowdown.get(rank, 1.0), self.timed_runs
        collective = self._collective
        b = dict.fromkeys(BREAKDOWN_KEYS, 0.0)
        i, n = 0, len(instructions)
        while i < n:
            ins = instructions[i]
            i += 1
            start = env.now
            kind = type(ins)
            how = 0 if opened.get(rank) or not timed_runs else (ALONE if kind is Compute else timing(rank, ins))
            if how:
                # a run of instructions nothing else can delay, timed here: one event at its end,
                # or none when it ends at a collective timed on joining (the rank joins it at the
                # run's end time). The same sums, in the same order, as one event per instruction.
                t, j = start, i - 1
                while how == ALONE:
                    d = durations[j]
                    if d is not None:  # a compute: the hottest loop, kept inline
                        end = t + d * slow
                        log_rank(rank)   # record(...), inline
                        log_serial(first + j)
                        log_start(t)
                        log_end(end)
                        b[categories[j]] += end - t
                        t = end
                    else:
                        t = close_collective(rank, instructions[j], t, b)
                    j += 1
                    if j == n:
                        break
                    how = ALONE if durations[j] is not None else timing(rank, instructions[j])
                if how == JOIN:
                    ins, i = instructions[j], j + 1
                    done, slot = collective(rank, ins, t)
                    yield done
                    end = env.now   # _end_collective, inline
                    log_rank(rank)
                    log_serial(first + j)
                    log_start(t)
                    log_end(end)
                    waited = slot[2] - t if slot else 0.0
                    b["pipeline_bubble"] += waited
                    b[categories[j]] += end - t - waited
                    continue
                i = j
                yield env.at(t)
            elif kind is Compute:
                yield from self._compute(rank, ins, b)
            elif kind is Collective and not ins.blocking:
                self._start_side(rank, ins)
            elif kind is Wait:
                pending = [ev for tag, ev in self._side.get(rank, {}).get(ins.comm, [])
                           if not ins.tag or tag == ins.tag]
                if pending:
                    yield self.env.all_of(pending)
                record(rank, serial[id(ins)], start, env.now)
                b[COMM_CATEGORY.get(ins.comm, "dp_comm")] += env.now - start
            elif kind is Collective:
                done, slot = self._collective(rank, ins)
                yield done
                self._end_collective(rank, ins, start, slot, b)
            elif kind is Send:
                self._send(rank, ins)
            else:  # Recv
                key = (self._inbox[(rank, ins.stage)], ins.tag, ins.mb)
                yield self._mailbox(key)
                sent = self._sent_at[key]
                # waiting for the peer to compute is bubble; waiting for bytes in flight is comm
                b["pipeline_bubble"] += max(0.0, sent - start)
                b["pp_comm_exposed"] += env.now - max(start, sent)
                record(rank, serial[id(ins)], start, env.now)
        self._breakdown[rank] = b
        self._end[rank] = env.now

    def _members(self) -> None:
        """Each rank's place in each of its communicators, for a new run (see _clear)."""
        pending: dict[int, dict] = {}   # one table of barrier slots per group
        self._member = {r: {comm: [key, self._expected[id(key)], pending.setdefault(id(key), {}), 0]
                            for comm, key in comms.items()} for r, comms in self._groups.items()}

    def start(self) -> None:
        # in symmetric mode a slow rank's class holds only ranks as slow: its simulated one is listed
        self.slowdown = {r: f for r, f in self._slow.items() if r in self.simulated}
        self._members()
        self._breakdown: dict[int, dict[str, float]] = {}
        self._end: dict[int, float] = {}
        self._processes: dict[int, object] = {}
        tables, first = {}, 0
        for p in self.job.programs:
            # what run_rank's timed runs read per instruction, by position in the program: its
            # serial number is first + position; a compute's duration and breakdown category
            durations = [self._duration(i.ops) if type(i) is Compute else None for i in p.instructions]
            categories = [COMPUTE_CATEGORY.get(i.phase, "compute") if type(i) is Compute else
                          COMM_CATEGORY.get(i.comm, "dp_comm") if type(i) is Collective else None
                          for i in p.instructions]
            tables[p.stage] = (p.instructions, first, durations, categories)
            first += len(p.instructions)
        for r in self.ranks:
            self._processes[r] = process = self.run_rank(r, *tables[self.plan.stage_of(r)])
            self.env.process(process)

    def _waits_of(self, rank: int) -> str:
        """What a rank that never finished waits at: the instruction its process stopped on."""
        frame = self._processes[rank].gi_frame
        ins = frame.f_locals.get("ins") if frame is not None else None
        if ins is None:
            return f"rank {rank}"
        what = {Recv: f"a receive from stage {getattr(ins, 'stage', '?')}", Wait: "side-stream collectives"}.get(
            type(ins), f"a {getattr(ins, 'op', 'collective')} with its group")
        mb = getattr(ins, "mb", -1)
        return f"rank {rank} at {ins.name}" + (f" (micro-batch {mb})" if mb >= 0 else "") + f", waiting for {what}"

    def run(self) -> StepResult:
        self._ready()
        while True:
            try:
                result = self._simulate()
            except NotUniform as failed:
                self.refine(failed.args[0])
                continue
            if self.classes is not None and self.classes.checked:
                self._partition.learned()
            return result

    def _simulate(self) -> StepResult:
        self.fabric.mark_exclusive(self.owned_footprints(), self.serialized)
        self.start()
        self.env.run()
        return self.result()

    def result(self) -> StepResult:
        if len(self._end) != len(self.ranks):
            stuck = sorted(set(self.ranks) - set(self._end))
            raise SimulationDeadlock(f"internal error: the simulation deadlocked; {len(stuck)} ranks wait for "
                                     "each other forever: " + "; ".join(self._waits_of(r) for r in stuck[:6]))
        t = max(self._end.values())
        for r, b in self._breakdown.items():
            b["pipeline_bubble"] += t - self._end[r]
        link_bytes = self.fabric.link_bytes
        if self.classes is not None:   # a link carries what its class's representative link does
            link_bytes = self.classes.link_values(link_bytes)
        return StepResult(iteration_time=t, simulated_ranks=self.ranks, records=self.records,
                          breakdown=self._breakdown, link_bytes=link_bytes,
                          transfers=self.fabric.records,
                          events=self.env.scheduled, fabric_recomputations=self.fabric.recomputations,
                          mode=self.mode, multiplicity=self.multiplicity(),
                          instructions=self._instructions)


def new_partition(cluster: Cluster, capacity: list[float]) -> Partition:
    """A partition of `cluster`'s links by capacity as built (what the tuner sees) and as run."""
    return Partition(cluster.capacity, capacity, cluster.latency)


def simulate_step(job: Job, cluster: Cluster, op_time, tuning: Tuning, mode: str = "symmetric",
                  algorithms: dict[str, str] | None = None) -> StepResult:
    """Simulate one iteration of `job` on `cluster`; `op_time(op)` prices compute;
    `tuning` holds the collectives' calibrated protocols."""
    return StepSimulation(job, cluster, op_time, tuning, mode, algorithms).run()


def simulate_steps_together(sims: list[StepSimulation]) -> list[StepResult]:
    """Run several jobs' iterations at once on one fabric (built with a shared Fabric): their
    flows contend for the links they share. In symmetric mode (every job's, else none's) the
    jobs are partitioned together, so that their classes account for each other's flows."""
    fabric = sims[0].fabric
    if all(s.mode == "symmetric" for s in sims):
        partition = new_partition(sims[0].cluster, fabric.capacity)
        for s, offset in [(s, s.add_transfers(partition)) for s in sims]:
            s.set_up(partition, offset)
    else:
        for s in sims:
            s.mode = "full"
            s.set_up()
    while True:
        try:
            return _together(sims)
        except NotUniform as failed:
            fabric = Fabric(CountingEnvironment(), fabric.capacity)
            links = not sims[0].classes.checked or not partition.split(failed.args[0])
            for s in sims:
                s.refine(failed.args[0], fabric, links)


def _together(sims: list[StepSimulation]) -> list[StepResult]:
    fabric = sims[0].fabric
    owned = [pair for s in sims for pair in s.owned_footprints()]
    fabric.mark_exclusive(owned, set().union(*(s.serialized for s in sims)))
    for s in sims:
        s.start()
    fabric.env.run()
    return [s.result() for s in sims]
