"""Collective algorithms as flows, and the choice among them as NCCL makes it.

Each algorithm turns a group of ranks and a buffer of S bytes into a FlowSet: (src, dst) pairs,
bytes per flow (a multiple of S) and the number of sequential latency steps.

ring (all-reduce, reduce-scatter, all-gather, broadcast): members ordered by (server, GPU); the
  buffer is split over as many rings (channels) as a server holds members, each entering every
  server at a different member and leaving it on the same rail it enters the next server by, so
  every member's NIC carries one ring's inter-server hop and traffic stays on its rail, as NCCL's
  rings do on rail-optimized servers. Per ring of n members and k rings each hop carries
  2(n-1)/n S/k (all-reduce, 2(n-1) steps), (n-1)/n S/k (reduce-scatter, all-gather, n-1 steps) or
  S/k (broadcast, pipelined along the ring, n-1 steps).
tree (all-reduce across servers): NCCL's double binary tree. Inside a server the members form a
  chain; across servers two in-order binary trees in which every server is interior in at most
  one (so each server's NIC carries about 2S/k each way, as in a ring), each reducing then
  broadcasting half of the buffer; per channel (one per member of a server) every tree edge carries
  S/(2k) each way, in 2 x (chain length + tree depth) steps.
hierarchical (all-reduce across servers): reduce-scatter inside each server, all-reduce of each
  1/g shard across servers among GPUs of one index, all-gather inside each server; three phases.
nvls (all-reduce inside one NVSwitch with in-switch reduction, H100 and later): every GPU sends
  its buffer into the switch and receives the reduced buffer, S each way, in 2 steps, at the
  calibrated fraction of the links' rate that NVLS reaches.
pairwise (all-to-all): every member sends S/n to every other member at once, in one step.
direct (send/recv): one flow of S bytes, one step.

Protocols trade latency for bandwidth as NCCL's do: "simple" moves data at the links' protocol
efficiency after a larger fixed cost; "ll" (low latency) starts fast but carries a flag with
every 4 bytes of data, and "ll128" with every 120, so their flows put 1 / bandwidth_fraction bytes
on the wire per byte of data. Each protocol also caps the rate of one channel (one flow): NCCL
channels are driven by GPU threads whose copy throughput depends on the protocol.

A collective costs launch + steps x (path latency + step latency) +
wire bytes / rate, with the
protocol's launch and step latency. "auto" picks the (algorithm, protocol) whose cost alone on the
fabric is lowest, as NCCL's tuner does from its model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import groupby, product
from typing import Callable

from .fabric import Fabric, Footprint

ALGORITHMS = {
    "all_reduce": ("ring", "tree", "hierarchical", "nvls"),
    "reduce_scatter": ("ring",),
    "all_gather": ("ring",),
    "broadcast": ("ring",),
    "all_to_all": ("pairwise",),
    "send_recv": ("direct",),
}
PROTOCOLS = ("simple", "ll128", "ll")
# In the measured range NCCL's tree only beats the ring on latency, never on bandwidth (at two
# servers an idealized double tree would move half the ring's bytes per NIC, and the measured
# busbw shows no such gain), so the tree runs with the low-latency protocol only.
ONLY_PROTOCOLS = {"tree": ("ll", "ll128"), "nvls": ("simple",)}
BUS_FACTOR = {  # nccl-tests: busbw = algbw x factor(n)
    "all_reduce": lambda n: 2 * (n - 1) / n,
    "reduce_scatter": lambda n: (n - 1) / n,
    "all_gather": lambda n: (n - 1) / n,
    "all_to_all": lambda n: (n - 1) / n,
    "broadcast": lambda n: 1.0,
    "send_recv": lambda n: 1.0,
}


@dataclass(frozen=True)
class Protocol:
    launch_latency: float      # s, once per collective
    step_latency: float        # s, per algorithm step, on top of the path latency
    bandwidth_fraction: float  # data bytes per wire byte
    channel_rate: float = float("inf")  # most wire bytes/s one channel (one flow) moves


@dataclass(frozen=True)
class Tuning:
    """The calibrated constants of collectives: protocols by name, and the share of the links'
    rate that in-switch reduction (NVLS) reaches."""

    protocols: dict[str, Protocol]
    nvls_bandwidth_fraction: float = 1.0


@dataclass(frozen=True)
class FlowSet:
    pairs: tuple[tuple[int, int], ...]
    bytes_factor: float      # bytes per flow per byte of buffer
    steps: int


@lru_cache(maxsize=16)   # asked again by each op and algorithm of a group
def _servers(group, server_of) -> tuple[tuple[int, ...], ...]:
    """The group's members by server, in (server, rank) order."""
    members = sorted(group, key=lambda r: (server_of(r), r))
    return tuple(tuple(seg) for _, seg in groupby(members, key=server_of))


def _path(seg: list[int], enter: int, leave: int) -> list[int]:
    """All members of a server, from position `enter` to position `leave` (any order will do
    inside a crossbar; keep the cyclic one)."""
    rest = [seg[(enter + i) % len(seg)] for i in range(1, len(seg))]
    if leave != enter:
        rest.remove(seg[leave])
        rest.append(seg[leave])
    return [seg[enter]] + rest


@lru_cache(maxsize=16)   # a group's ops and algorithms ask for the same rings in turn
def ring_orders(group, server_of) -> list[list[int]]:
    """NCCL-style rings over `group`: one per member of the smallest server share. Ring c enters
    the first server at member c; each server is left from the member whose index the ring enters
    the next server by, and the last server is left from member c again when it can be: hops
    between servers join GPUs of the same index, so they stay on one rail."""
    segments = _servers(group, server_of)
    channels = min(len(s) for s in segments)
    orders = []
    for c in range(channels):
        ring, enter = [], c
        for s, seg in enumerate(segments):
            g = len(seg)
            last = s == len(segments) - 1
            leave = c % g if last and c % g != enter % g else (enter - 1) % g
            if g == 1:
                leave = 0
            ring += _path(seg, enter % g, leave)
            enter = leave
        orders.append(ring)
    return orders


def _ring(op: str, group, server_of) -> FlowSet:
    n = len(group)
    rings = ring_orders(group, server_of)
    k = len(rings)
    if op == "broadcast":
        pairs = tuple((ring[i], ring[i + 1]) for ring in rings for i in range(n - 1))
        return FlowSet(pairs, 1 / k, n - 1)
    pairs = tuple((ring[i], ring[(i + 1) % n]) for ring in rings for i in range(n))
    if op == "all_reduce":
        return FlowSet(pairs, 2 * (n - 1) / n / k, 2 * (n - 1))
    return FlowSet(pairs, (n - 1) / n / k, n - 1)


def _inorder_tree(m: int) -> list[tuple[int, int]]:
    """(child, parent) edges of the in-order binary tree over 0..m-1 that NCCL's double binary
    tree uses: in 1-based numbering a node's height is its lowest set bit, so odd numbers are
    leaves; the children of i at height h > 0 are i -/+ 2^(h-1) (when they exist)."""
    edges = []
    for i in range(1, m + 1):
        low = i & -i
        if low == 1:
            continue
        for child in (i - low // 2, i + low // 2):
            while child > m:                 # missing right subtree: take its left descendant
                half = (child & -child) // 2
                if half == 0:
                    break
                child -= half
            if child <= m and child != i and (child & -child) < low:
                edges.append((child - 1, i - 1))
    return edges


def _double_tree(m: int) -> list[list[tuple[int, int]]]:
    """Two trees over m servers in which every server is interior in at most one of them:
    the second is the first mirrored (m even) or shifted by one (m odd), as in NCCL."""
    first = _inorder_tree(m)
    if m % 2 == 0:
        second = [(m - 1 - c, m - 1 - p) for c, p in first]
    else:
        second = [((c + 1) % m, (p + 1) % m) for c, p in first]
    return [first, second]


def _tree(group, server_of) -> FlowSet:
    servers = _servers(group, server_of)
    k = min(len(s) for s in servers)
    m = len(servers)
    pairs = []
    for c in range(k):
        chains = [seg[c:] + seg[:c] for seg in servers]  # channel c enters each server at member c
        for chain in chains:
            for a, b in zip(chain, chain[1:]):
                pairs += [(a, b), (b, a)]
        for tree in _double_tree(m):
            for child, parent in tree:
                a, b = chains[child][0], chains[parent][0]
                pairs += [(a, b), (b, a)]
    depth = max(1, m.bit_length())  # levels of the in-order binary tree over m servers
    chain = max(len(s) for s in servers) - 1
    return FlowSet(tuple(pairs), 1 / (2 * k), 2 * (chain + depth))


def _hierarchical(group, server_of) -> list[FlowSet]:
    """Reduce-scatter inside each server, all-reduce of the 1/g shard across servers among GPUs of
    the same index (g rings at once), all-gather inside each server."""
    servers = _servers(group, server_of)
    g = min(len(s) for s in servers)
    inside = [_ring("reduce_scatter", tuple(seg), server_of) for seg in servers]
    rs = FlowSet(tuple(p for f in inside for p in f.pairs), inside[0].bytes_factor, inside[0].steps)
    m = len(servers)
    across = [_ring("all_reduce", tuple(seg[i] for seg in servers), server_of) for i in range(g)]
    ar = FlowSet(tuple(p for f in across for p in f.pairs), across[0].bytes_factor / g, across[0].steps)
    return [rs, ar, FlowSet(rs.pairs, rs.bytes_factor, rs.steps)] if m > 1 else [rs]


def flows(op: str, algorithm: str, group: tuple[int, ...], server_of: Callable[[int], int]) -> list[FlowSet]:
    """The phases (run one after the other) of an algorithm; most have one."""
    if algorithm not in ALGORITHMS.get(op, ()):
        raise ValueError(f"no algorithm {algorithm!r} for {op!r}; known: {ALGORITHMS.get(op)}")
    n = len(group)
    if algorithm == "ring":
        return [_ring(op, group, server_of)]
    if algorithm == "tree":
        return [_tree(group, server_of)]
    if algorithm == "hierarchical":
        return _hierarchical(group, server_of)
    if algorithm == "nvls":
        # every GPU sends its buffer into the switch and gets the reduced one back: S each way
        rings = ring_orders(group, server_of)  # one channel per member, as for the ring
        pairs = tuple((ring[i], ring[(i + 1) % n]) for ring in rings for i in range(n))
        return [FlowSet(pairs, 1.0 / len(rings), 2)]
    if algorithm == "pairwise":
        return [FlowSet(tuple((a, b) for a in group for b in group if a != b), 1 / n, 1)]
    return [FlowSet(((group[0], group[1]),), 1.0, 1)]


def candidates(op: str, group, server_of, in_switch: Callable[[tuple[int, ...]], bool] = lambda g: False,
               forced: str | None = None) -> tuple[str, ...]:
    """Algorithms that apply: the tree and the hierarchical all-reduce need more than one server
    (the latter with several members in each, and only when forced), NVLS a group inside one
    NVLS-capable switch."""
    shares = [len(s) for s in _servers(group, server_of)]
    keep = []
    for alg in ALGORITHMS[op]:
        if alg == "tree" and len(shares) < 2:
            continue
        if alg == "hierarchical" and (forced != "hierarchical" or len(shares) < 2 or min(shares) < 2):
            continue  # NCCL never picks it by itself: only when a scenario forces it
        if alg == "nvls" and not in_switch(group):
            continue
        keep.append(alg)
    return tuple(keep)


def make_footprint(route: Callable[[int, int], tuple[int, ...]], latency: Callable[[tuple[int, ...]], float],
                   pairs) -> Footprint:
    """Aggregate the routes of `pairs` into a footprint."""
    count: dict[int, int] = {}
    worst = 0.0
    for s, d in pairs:
        links = route(s, d)
        worst = max(worst, latency(links))
        for l in links:
            count[l] = count.get(l, 0) + 1
    links = tuple(sorted(count))
    return Footprint(links, tuple(count[l] for l in links), worst, len(pairs))


class Collectives:
    """Starts collectives of registered groups on a fabric, choosing algorithm and protocol by size.

    `register(key, op, group, load)` prepares the footprints of every applicable algorithm
    once; `start(key, op, size)` returns the event that fires when the collective is done.
    `algorithms` maps an op to a forced algorithm ("auto" or absent: choose by cost).
    """

    def __init__(self, fabric: Fabric, route, path_latency, server_of, tuning: Tuning,
                 algorithms: dict[str, str] | None = None, in_switch=lambda group: False,
                 as_built: list[float] | None = None):
        """`as_built`: the links' capacity as built, which the tuner sees (default: the fabric's;
        a degraded fabric does not change the tuner's choices)."""
        self.fabric = fabric
        self.capacity = fabric.capacity if as_built is None else as_built
        self.route, self.path_latency, self.server_of = route, path_latency, server_of
        self.protocols = tuning.protocols
        self.nvls_fraction = tuning.nvls_bandwidth_fraction
        self.in_switch = in_switch
        self.forced = {k: v for k, v in (algorithms or {}).items() if v != "auto"}
        # (key, op, algorithm) -> each phase's (flows, footprint it loads the fabric with, its own footprint)
        self._plans: dict[tuple, list[tuple[FlowSet, Footprint, Footprint]]] = {}
        self._choice: dict[tuple, tuple[str, str]] = {}
        self._ready: dict[tuple, tuple[list, str]] = {}
        # footprint -> the groups that load the fabric with it (in symmetric mode two classes of
        # transfers can have equal footprints: the same links, flows and latency)
        self.owners: dict[Footprint, set] = {}

    def algorithms(self, op: str, group: tuple[int, ...]) -> tuple[str, ...]:
        """The algorithms registered for `group`'s `op`: the forced one where it applies, else
        every candidate."""
        forced = self.forced.get(op)
        algs = candidates(op, group, self.server_of, self.in_switch, forced)
        return (forced,) if forced in algs else algs

    def register(self, key, op: str, group: tuple[int, ...], load=None) -> None:
        """`load(algorithm, phase, own)`, when given, is the footprint a phase loads the fabric
        with (in symmetric mode, every flow of its class, see engine.classes); `own` is the
        group's own footprint, by which the algorithm is chosen (as NCCL's tuner does)."""
        for alg in self.algorithms(op, group):
            if (key, op, alg) in self._plans:
                continue
            phases = []
            for i, fs in enumerate(flows(op, alg, group, self.server_of)):
                own = make_footprint(self.route, self.path_latency, fs.pairs)
                fp = load(alg, i, own) if load else own
                phases.append((fs, fp, own))
                self.owners.setdefault(fp, set()).add(key)
            self._plans[(key, op, alg)] = phases

    def footprints(self, key=None) -> list[Footprint]:
        return [fp for (k, _, _), phases in self._plans.items() if key is None or k == key for _, fp, _ in phases]

    def _ways(self, key, op: str) -> list[tuple[str, str]]:
        algs = [a for (k, o, a) in self._plans if k == key and o == op]
        return [(a, p) for a, p in product(algs, PROTOCOLS) if p in ONLY_PROTOCOLS.get(a, PROTOCOLS)]

    def _phases(self, key, op: str, alg: str, proto: str, size: float, alone: bool = False):
        """(footprint, wire bytes per flow, latency, per-flow rate cap) of each phase; the
        protocol's launch latency is paid once, by the first phase. `alone`: the footprints of
        the group's own flows, without those of its class."""
        p = self.protocols[proto]
        scale = size / p.bandwidth_fraction / (self.nvls_fraction if alg == "nvls" else 1.0)
        out = []
        for i, (fs, fp, own) in enumerate(self._plans[(key, op, alg)]):
            fp = own if alone else fp
            latency = (p.launch_latency if i == 0 else 0.0) + fs.steps * (fp.latency + p.step_latency)
            out.append((fp, fs.bytes_factor * scale, latency, p.channel_rate))
        return out

    def cost(self, key, op: str, alg: str, proto: str, size: float) -> float:
        """Time of the group's collective alone on the fabric."""
        return sum(latency + (nbytes / fp.solo_rate(self.capacity, cap) if fp.links else 0.0)
                   for fp, nbytes, latency, cap in self._phases(key, op, alg, proto, size, alone=True))

    def choose(self, key, op: str, size: float) -> tuple[str, str]:
        """The (algorithm, protocol) that is fastest alone on the fabric."""
        c = self._choice.get((key, op, size))
        if c is None:
            c = min(self._ways(key, op), key=lambda w: (self.cost(key, op, *w, size), w))
            self._choice[(key, op, size)] = c
        return c

    def _prepared(self, key, op: str, size: float) -> tuple[list, str]:
        ready = self._ready.get((key, op, size))
        if ready is None:
            alg, proto = self.choose(key, op, size)
            ready = self._ready[(key, op, size)] = (self._phases(key, op, alg, proto, size), (op, f"{alg}/{proto}", key, 0))
        return ready

    def closed_form(self, key, op: str, size: float) -> bool:
        """Whether the collective's time does not depend on anything else on the fabric: one
        phase on links no other group uses (or none at all)."""
        phases, _ = self._prepared(key, op, size)
        if len(phases) != 1:
            return False
        fp, nbytes, _, _ = phases[0]
        return nbytes <= 0 or not fp.links or fp in self.fabric.exclusive

    def finish_closed(self, key, op: str, size: float, now: float) -> float:
        """For a closed-form collective (see `closed_form`) started at `now`: record it on the
        fabric and return how long it takes, without any event."""
        phases, tag = self._prepared(key, op, size)
        fp, nbytes, latency, cap = phases[0]
        if nbytes <= 0 or not fp.links:
            return latency
        return self.fabric.exclusive_transfer(fp, nbytes, latency, cap, tag, now)

    def start(self, key, op: str, size: float):
        phases, tag = self._prepared(key, op, size)
        if len(phases) == 1:
            return self.fabric.transfer(*phases[0], tag=tag)
        done = self.fabric.env.event()

        def run(i):
            ev = self.fabric.transfer(*phases[i], tag=tag[:3] + (i + 1,))
            ev.callbacks.append(lambda _: run(i + 1) if i + 1 < len(phases) else done.succeed())
        run(0)
        return done
