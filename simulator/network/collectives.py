"""Collective algorithms as flows: which rank sends how many bytes to which, in how many steps.

Ring algorithms follow NCCL: members are ordered by (server, GPU) and the buffer is split over
as many rings (channels) as a server holds members; ring c enters each server at its c-th member,
so every member's NIC carries one ring's inter-server hop, as NCCL's rings do on rail-optimized
servers. Per ring of n members and a buffer S split over k rings, each hop carries:
  all-reduce      2(n-1)/n * S/k bytes in 2(n-1) steps
  reduce-scatter   (n-1)/n * S/k bytes in n-1 steps
  all-gather       (n-1)/n * S/k bytes in n-1 steps
A send/recv is one flow of S bytes in one step.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import Callable

from .fabric import Footprint

OPS = ("all_reduce", "reduce_scatter", "all_gather")


@dataclass(frozen=True)
class FlowSet:
    """The flows of one collective instance: (src, dst) rank pairs, bytes per flow per byte of
    buffer, and the number of sequential latency steps."""

    pairs: tuple[tuple[int, int], ...]
    bytes_factor: float
    steps: int


def ring_orders(group: tuple[int, ...], server_of: Callable[[int], int]) -> list[list[int]]:
    """NCCL-style rings over `group`: one per member of the smallest server share."""
    members = sorted(group, key=lambda r: (server_of(r), r))
    segments = [list(seg) for _, seg in groupby(members, key=server_of)]
    channels = min(len(s) for s in segments)
    return [[r for seg in segments for r in seg[c:] + seg[:c]] for c in range(channels)]


def ring_flows(op: str, group: tuple[int, ...], server_of: Callable[[int], int]) -> FlowSet:
    n = len(group)
    rings = ring_orders(group, server_of)
    pairs = tuple((ring[i], ring[(i + 1) % n]) for ring in rings for i in range(n))
    k = len(rings)
    if op == "all_reduce":
        return FlowSet(pairs, 2 * (n - 1) / n / k, 2 * (n - 1))
    if op in ("reduce_scatter", "all_gather"):
        return FlowSet(pairs, (n - 1) / n / k, n - 1)
    raise ValueError(f"unknown collective {op!r}; known: {OPS}")


def point_to_point(src: int, dst: int) -> FlowSet:
    return FlowSet(((src, dst),), 1.0, 1)


def make_footprint(route: Callable[[int, int], tuple[int, ...]], latency: Callable[[tuple[int, ...]], float],
                   pairs, mirror_pairs=()) -> Footprint:
    """Aggregate the routes of `pairs` into a footprint. Flows of `mirror_pairs` (identical
    groups that the simulated one stands for) add multiplicity only on the links the simulated
    flows use: by symmetry their own links see the same load as these."""
    count: dict[int, int] = {}
    worst = 0.0
    for s, d in pairs:
        links = route(s, d)
        worst = max(worst, latency(links))
        for l in links:
            count[l] = count.get(l, 0) + 1
    for s, d in mirror_pairs:
        for l in route(s, d):
            if l in count:
                count[l] += 1
    links = tuple(sorted(count))
    return Footprint(links, tuple(count[l] for l in links), worst)
