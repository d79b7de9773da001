"""Routing between GPUs: up-down (valley-free) shortest paths with deterministic ECMP.

In a tiered graph (every node has `tier`) a packet climbs to the lowest common ancestor tier and
descends, as in a Clos. Without tiers (tori, imported graphs) it takes a shortest path in which
no GPU other than the endpoints forwards traffic. Among paths of equal hop count the widest wins
(largest bottleneck bandwidth: two GPUs that share both an NVSwitch and a PCIe NIC talk over
NVLink, as NCCL does); among equally wide ones a hash of (src, dst) picks, as switch ECMP does per
flow. Same inputs, same path, every run.
"""

from __future__ import annotations

import zlib
from collections import deque

import networkx as nx

from ..config import ConfigError


def _pick(options: list, key: str, salt: int) -> object:
    if len(options) == 1:
        return options[0]
    return options[zlib.crc32(f"{key}#{salt}".encode()) % len(options)]


class Router:
    def __init__(self, g: nx.Graph):
        self.g = g
        self.tiered = all("tier" in d for _, d in g.nodes(data=True))
        self._cones: dict[str, dict[str, tuple[int, list[str]]]] = {}
        if self.tiered:
            tier = nx.get_node_attributes(g, "tier")
            self._up = {n: sorted(m for m in g.neighbors(n) if tier[m] > tier[n]) for n in g}

    def _width(self, a: str, b: str) -> float:
        return float(self.g.edges[a, b]["bandwidth"])

    def _cone(self, node: str) -> dict[str, tuple[int, list[str], float]]:
        """Every node reachable by climbing from `node`: hop distance, the parents on the widest
        shortest climbs, and that climb's bottleneck bandwidth."""
        cone = self._cones.get(node)
        if cone is None:
            cone = {node: (0, [], float("inf"))}
            frontier = [node]
            while frontier:
                nxt = []
                for n in frontier:
                    d, _, w = cone[n]
                    for m in self._up[n]:
                        width = min(w, self._width(n, m))
                        old = cone.get(m)
                        if old is None:
                            cone[m] = (d + 1, [n], width)
                            nxt.append(m)
                        elif old[0] == d + 1:
                            if width > old[2]:
                                cone[m] = (d + 1, [n], width)
                            elif width == old[2]:
                                old[1].append(n)
                frontier = nxt
            self._cones[node] = cone
        return cone

    def path(self, src: str, dst: str) -> list[str]:
        if src == dst:
            return [src]
        key = f"{src}>{dst}"
        if self.tiered:
            up, down = self._cone(src), self._cone(dst)
            common = [(up[m][0] + down[m][0], -min(up[m][2], down[m][2]), m) for m in up if m in down]
            if common:
                best = min(common)[:2]
                top = _pick(sorted(m for c, w, m in common if (c, w) == best), key, 0)
                climb = self._walk(up, top, key, 1)
                descend = self._walk(down, top, key, 2)
                return climb[::-1] + descend[1:]
        return self._bfs_path(src, dst, key)

    @staticmethod
    def _walk(cone: dict, top: str, key: str, salt: int) -> list[str]:
        """From `top` back down to the cone's origin, choosing among parents by hash."""
        out = [top]
        node = top
        while cone[node][1]:
            node = _pick(cone[node][1], key, salt * 1000 + len(out))
            out.append(node)
        return out

    def _bfs_path(self, src: str, dst: str, key: str) -> list[str]:
        g = self.g
        dist = {src: 0}
        width = {src: float("inf")}
        preds: dict[str, list[str]] = {src: []}
        q = deque([src])
        while q:
            n = q.popleft()
            if n == dst:
                break
            if n != src and g.nodes[n].get("kind") == "gpu" and not g.nodes[n].get("forwards"):
                continue  # GPUs do not forward, except chips of a direct-connect fabric
            for m in sorted(g.neighbors(n)):
                w = min(width[n], self._width(n, m))
                if m not in dist:
                    dist[m], width[m], preds[m] = dist[n] + 1, w, [n]
                    q.append(m)
                elif dist[m] == dist[n] + 1:
                    if w > width[m]:
                        width[m], preds[m] = w, [n]
                    elif w == width[m]:
                        preds[m].append(n)
        if dst not in dist:
            raise ConfigError("topology", f"{src} -> {dst}", reason="no route between these GPUs",
                              accepted="a connected topology")
        out = [dst]
        while out[-1] != src:
            out.append(_pick(preds[out[-1]], key, len(out)))
        return out[::-1]
