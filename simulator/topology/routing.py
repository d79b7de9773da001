"""Routing between GPUs: up-down (valley-free) shortest paths with deterministic ECMP.

In a tiered graph (every node has `tier`) a packet climbs to the lowest common ancestor tier and
descends, as in a Clos. Without tiers (tori, imported graphs) it takes a shortest path in which
no GPU other than the endpoints forwards traffic. Among paths of equal hop count the widest wins
(largest bottleneck bandwidth: two GPUs that share both an NVSwitch and a PCIe NIC talk over
NVLink, as NCCL does). Among equally wide ones the destination picks (D-mod-k), as InfiniBand
subnet managers program fat-trees: forwarding is static, by destination, spread over the uplinks.
Destinations are numbered in tree order: the ports below a leaf (the first switch with several
ways up: its NICs, or GPUs cabled to it) in (server, index) order, leaf after leaf. Switches
forward by destination port (an InfiniBand LID is a NIC's), so GPUs sharing a NIC share a number
and their paths. The climb's choices take the digits of that number from the lowest up: the
source leaf's uplink is d mod n1, the next one up (d // n1) mod n2, and so on. Each choice on the way down takes d mod n. Flows into consecutive servers then spread
evenly over the spines, and identical groups of ranks (another rail, another replica) meet
identical loads, so they fall in one class in symmetric mode (engine.classes) and one rank
stands for all of them. Per-flow hashing, as RoCE switches do, makes some groups collide on an uplink where others
do not. Without tiers the choices take the digits of the destination's (server, index) number
in turn. Same inputs, same path, every run.

Speed: what a node can reach by climbing (its *cone*) is computed once per branching switch, not
per GPU. Below the first switch with several ways up, a GPU climbs a single chain (GPU, NIC,
leaf); its cone is that short chain on top of the switch's shared cone, which gives the same
distances, widths and ECMP choices as a search from the GPU whenever the chain's narrower links
cannot break a tie differently (checked per switch; otherwise the GPU's cone is searched whole).
"""

from __future__ import annotations

from collections import deque

import networkx as nx

from ..config import ConfigError

INF = float("inf")


class _Choices:
    """Choices among equal options by destination number `d`, D-mod-k style: the climb's
    choices, taken as digits of d from the lowest (the first uplink out of the source's leaf)
    up, and each choice on the way down taking option d mod n."""

    __slots__ = ("d", "digits")

    def __init__(self, d: int, counts: list[int]):
        """`counts`: the climb's option counts, from the top down. A step with one option takes no
        digit (`climb` takes none there)."""
        self.d, self.digits = d, []
        below = 1
        for n in reversed(counts):
            if n > 1:
                self.digits.append((d // below) % n)
                below *= n
        self.digits.reverse()

    def climb(self, options: list):
        """The next choice of the climb, from the top down."""
        if len(options) == 1:
            return options[0]
        return options[(self.digits.pop(0) if self.digits else 0) % len(options)]

    def descend(self, options: list):
        return options[self.d % len(options)]


class _Cone:
    """Every node reachable by climbing from `origin`: node -> (hops, parents on the widest
    shortest climbs, that climb's bottleneck bandwidth), held as a chain of own entries (`own`)
    on top of a shared switch cone (`base`, entered at its origin `top` after `shift` hops with
    bottleneck `cap`)."""

    __slots__ = ("own", "base", "top", "shift", "cap")

    def __init__(self, own: dict, base: dict | None = None, top=None, shift: int = 0, cap: float = INF):
        self.own, self.base, self.top, self.shift, self.cap = own, base, top, shift, cap

    def get(self, m):
        e = self.own.get(m)
        if e is None and self.base is not None:
            b = self.base.get(m)
            if b is not None:
                return self.shift + b[0], b[1], min(self.cap, b[2])
        return e

    def parents(self, m) -> list:
        e = self.own.get(m)
        return e[1] if e is not None else self.base[m][1]


class _Parents(dict):
    """Each node's neighbours in higher tiers, with the link's width, in name order; built for a
    node the first time it is asked for."""

    def __init__(self, g: nx.Graph, tier: dict):
        super().__init__()
        # the graph's own adjacency dicts: NetworkX's read-only views cost more than the search
        self.adj, self.tier = g._adj, tier

    def __missing__(self, n):
        tier, t = self.tier, self.tier[n]
        out = sorted((m, float(d["bandwidth"])) for m, d in self.adj[n].items() if tier[m] > t)
        self[n] = out
        return out


class Router:
    def __init__(self, g: nx.Graph, links: list[tuple[str, str]] | None = None):
        """`links` (id -> (from, to)) lets `links` give routes as link ids."""
        self.g = g
        self.link_names = links
        self.link_id = {link: i for i, link in enumerate(links)} if links is not None else None
        self._chains: dict[str, tuple | None] = {}   # GPU -> (cone, link ids up its chain, and down)
        self._climbs: dict[tuple, list[int]] = {}    # (switch, top) -> the climb's option counts
        tier = {n: d["tier"] for n, d in g._node.items() if "tier" in d}  # NetworkX's own dict: no views
        self.tiered = len(tier) == len(g._node)
        self._cones: dict[str, _Cone] = {}
        self._switch_cones: dict[str, tuple[dict, bool]] = {}   # node -> (cone, widths never differed)
        self._common: dict[tuple, list] = {}      # (switch, switch) -> nodes both cones reach
        self._tops: dict[tuple, list] = {}        # (switch, switch, hops, cap) -> best common nodes
        self.tier = tier if self.tiered else {}
        self._up = _Parents(g, self.tier)
        self._below: dict[str, frozenset] = {}     # node -> GPUs that climb through it
        self._leaves: dict[str, tuple] = {}         # switch -> (number of its first port, port -> position)
        self._ports: dict[str, str] = {}            # GPU -> its port on its leaf (_port)
        self._chain_tops: dict[str, str] = {}       # node -> first node above it with several ways up

    def _width(self, a: str, b: str) -> float:
        return float(self.g.edges[a, b]["bandwidth"])

    def _search(self, node: str, stop=None) -> tuple[dict, bool]:
        """Climb breadth-first from `node` (not above `stop`): node -> (hops, parents, width);
        and whether no node was ever reached by two equally short climbs of different widths."""
        cone = {node: (0, [], INF)}
        uniform = True
        frontier = [node]
        up = self._up
        while frontier:
            nxt = []
            for n in frontier:
                if n == stop:
                    continue
                d, _, w = cone[n]
                for m, edge in up[n]:
                    width = w if w < edge else edge
                    old = cone.get(m)
                    if old is None:
                        cone[m] = (d + 1, [n], width)
                        nxt.append(m)
                    elif old[0] == d + 1:
                        if width > old[2]:
                            cone[m] = (d + 1, [n], width)
                            uniform = False
                        elif width == old[2]:
                            old[1].append(n)
                        else:
                            uniform = False
            frontier = nxt
        return cone, uniform

    def _switch_cone(self, node: str) -> tuple[dict, bool]:
        c = self._switch_cones.get(node)
        if c is None:
            c = self._switch_cones[node] = self._search(node)
        return c

    def _chain_top(self, node: str) -> str:
        """The first node above `node` with several ways up (or none): follow the single way up
        while there is one (other parents being dead ends). Climbs go up the tiers, so this ends."""
        top = self._chain_tops.get(node)
        if top is None:
            up = self._up
            climbing = [m for m, _ in up[node] if up[m]]
            top = self._chain_tops[node] = self._chain_top(climbing[0]) if len(climbing) == 1 else node
        return top

    def _cone(self, node: str) -> _Cone:
        cone = self._cones.get(node)
        if cone is not None:
            return cone
        up = self._up
        top = self._chain_top(node)
        if top == node or not up[top]:
            cone = _Cone(self._search(node)[0])
        else:
            own, _ = self._search(node, stop=top)
            base, uniform = self._switch_cone(top)
            shift, _, cap = own[top]
            if uniform and not any(m in base for m in own if m != top):
                cone = _Cone(own, base, top, shift, cap)
            else:  # the chain could break a tie differently: search from the GPU itself
                cone = _Cone(self._search(node)[0])
        self._cones[node] = cone
        return cone

    def _common_tops(self, up: _Cone, down: _Cone) -> list:
        """The nodes both cones reach with the fewest hops and, among those, the widest climbs,
        in name order."""
        best, tops = (INF, 0.0), []

        def consider(m, a, b):
            nonlocal best, tops
            k = (a[0] + b[0], -min(a[2], b[2]))
            if k < best:
                best, tops = k, [m]
            elif k == best:
                tops.append(m)

        for m, a in up.own.items():
            b = down.get(m)
            if b is not None:
                consider(m, a, b)
        for m, b in down.own.items():
            if m not in up.own:
                a = up.get(m)
                if a is not None:
                    consider(m, a, b)
        if up.base is None or down.base is None:
            return sorted(tops)
        hops, cap = up.shift + down.shift, min(up.cap, down.cap)
        if not tops:  # no own node is common: the answer depends only on the two switch cones
            key = (up.top, down.top, hops, cap)
            cached = self._tops.get(key)
            if cached is None:
                cached = self._tops[key] = self._shared_tops(up, down, hops, cap, best, [])
            return cached
        return self._shared_tops(up, down, hops, cap, best, tops)

    def _shared_tops(self, up: _Cone, down: _Cone, hops: int, cap: float, best: tuple, tops: list) -> list:
        """`tops` (achieving `best`) merged with the best nodes of the two switch cones."""
        for d, w, m in self._shared(up.top, down.top):
            if m in up.own or m in down.own:
                continue
            k = (hops + d, -min(cap, w))
            if k > best:
                break  # `shared` is sorted: nothing further can tie
            if k < best:
                best, tops = k, [m]
            else:
                tops.append(m)
        return sorted(tops)

    def _shared(self, a: str, b: str) -> list:
        """Nodes both switch cones reach, as (hops, width, node), fewest hops and widest first."""
        key = (a, b)
        s = self._common.get(key)
        if s is None:
            ca, cb = self._switch_cone(a)[0], self._switch_cone(b)[0]
            s = sorted(((x[0] + cb[m][0], min(x[2], cb[m][2]), m) for m, x in ca.items() if m in cb),
                       key=lambda t: (t[0], -t[1]))
            self._common[key] = s
        return s

    def below(self, node: str) -> frozenset:
        """The GPUs whose climbs can pass through `node` (itself, if a GPU)."""
        out = self._below.get(node)
        if out is None:
            attrs, adj, tier, memo = self.g._node, self.g._adj, self.tier, self._below
            t = tier[node]
            if all(tier[m] > t for m in adj[node]):  # nothing below: a GPU itself, or no GPU
                out = memo[node] = frozenset((node,)) if attrs[node].get("kind") == "gpu" else frozenset()
                return out
            gpus, todo, seen = set(), [node], {node}
            while todo:  # descend, taking the sets of switches above the first tier whole (remembered)
                n = todo.pop()
                if attrs[n].get("kind") == "gpu":
                    gpus.add(n)
                t = tier[n]
                for m in adj[n]:
                    if tier[m] < t and m not in seen:
                        seen.add(m)
                        if m in memo or tier[m] > 1:
                            gpus |= self.below(m)
                        else:   # servers' parts: not worth a set each
                            todo.append(m)
            out = memo[node] = frozenset(gpus)
        return out

    def server(self, gpu: str) -> int:
        return self.g._node[gpu]["node"]

    def in_switch(self, gpus: list[str]) -> bool:
        """Whether all `gpus` hang off one switch that reduces in the network (NVLS)."""
        g = self.g
        common = None
        for gpu in gpus:
            sw = {n for n in g._adj[gpu] if g._node[n].get("nvls")}
            common = sw if common is None else common & sw
            if not common:
                return False
        return bool(common)

    def path(self, src: str, dst: str) -> list[str]:
        if src == dst:
            return [src]
        if self.tiered:
            up, down = self._cone(src), self._cone(dst)
            d = self._number(dst, down)
            tops = self._common_tops(up, down)
            if tops:
                choices = _Choices(d, [len(tops)] + self._climb_counts(up, tops[0]))
                top = choices.climb(tops)
                climb = self._walk(up, top, choices.climb)
                descend = self._walk(down, top, choices.descend)
                return climb[::-1] + descend[1:]
        return self._bfs_path(src, dst, self._gpu_number(dst))

    def links(self, src: str, dst: str) -> tuple[int, ...]:
        """`path(src, dst)` as link ids. Between GPUs on single chains up to their first branching
        switches (a GPU's NIC and leaf) whose chains meet only at that switch or not at all, the
        route is the source's chain, the switches' part and the destination's chain: the chains'
        ids are kept per GPU and only the switches' part is walked, by the same choices."""
        if src == dst:
            return ()
        a, b = (self._chain(src), self._chain(dst)) if self.tiered else (None, None)
        if a is not None and b is not None:
            up, down = a[0], b[0]
            common = up.own.keys() & down.own.keys()
            if not common and up.top != down.top:
                mid = self._switch_links(up, down, dst)
                if mid is not None:
                    return a[1] + mid + b[2]
            if up.top == down.top and len(common) == 1:  # the chains meet at their common top only
                return a[1] + b[2]
        lid = self.link_id
        nodes = self.path(src, dst)
        return tuple(lid[x, y] for x, y in zip(nodes, nodes[1:]))

    def _chain(self, gpu: str) -> tuple | None:
        """(cone, link ids from the GPU up to its chain top, link ids back down), when the GPU's
        cone is a single chain on a shared switch cone (else None)."""
        if gpu in self._chains:
            return self._chains[gpu]
        out = None
        cone = self._cone(gpu)
        if cone.base is not None:
            nodes = [cone.top]
            while parents := cone.own[nodes[-1]][1]:
                if len(parents) > 1:
                    break
                nodes.append(parents[0])
            else:
                lid = self.link_id
                hops = list(zip(nodes[1:], nodes))            # (lower, upper), from the top down
                out = (cone, tuple(lid[h] for h in reversed(hops)), tuple(lid[u, l] for l, u in hops))
        self._chains[gpu] = out
        return out

    def _switch_links(self, up: _Cone, down: _Cone, dst: str) -> tuple[int, ...] | None:
        """Link ids from `up`'s chain top over the switches to `down`'s (the cone of `dst`),
        choosing as `path` does (the chains below have one option per step: no choice); None
        when the two switches have no common ancestor."""
        key = (up.top, down.top, up.shift + down.shift, min(up.cap, down.cap))
        tops = self._tops.get(key)
        if tops is None:
            tops = self._tops[key] = self._shared_tops(up, down, key[2], key[3], (INF, 0.0), [])
        if not tops:
            return None
        d = self._number(dst, down)
        counts = self._climbs.get((up.top, tops[0]))
        if counts is None:
            counts = self._climbs[(up.top, tops[0])] = self._climb_counts(up, tops[0])
        choices = _Choices(d, [len(tops)] + counts)
        top = choices.climb(tops)
        climb = self._walk_to(up.base, top, up.top, choices.climb)
        descend = self._walk_to(down.base, top, down.top, choices.descend)
        lid = self.link_id
        return tuple(lid[x, y] for x, y in zip(climb[:0:-1], climb[-2::-1])) + \
            tuple(lid[x, y] for x, y in zip(descend, descend[1:]))

    @staticmethod
    def _walk_to(base: dict, top: str, origin: str, choose) -> list[str]:
        """From `top` down a switch cone to its `origin`, `choose` picking among parents."""
        out = [top]
        while out[-1] != origin:
            out.append(choose(base[out[-1]][1]))
        return out

    def _gpu_number(self, gpu: str) -> int:
        """A GPU's or NIC's (server, index) as one number (servers hold at most 1,024 of each)."""
        at = self.g._node[gpu]
        return at.get("node", 0) * 1024 + at.get("local", 0)

    def _number(self, gpu: str, cone: _Cone) -> int:
        """The destination's number for ECMP, in tree order: the ports below its first branching
        switch (its leaf: the NICs, or GPUs cabled to it directly), numbered in (server, index)
        order, after the leaves whose first port comes before. A subnet manager programs the
        switches by destination port (its LID), so GPUs sharing a NIC share their number, and
        their paths. The ports of two rails of the same servers differ by a multiple of the
        leaf's port count, so the leaf's uplink, picked by the lowest digit, is the same for both."""
        top = cone.top if cone.base is not None else self._chain_top(gpu)
        if top == gpu or not self._up[top]:
            return self._gpu_number(gpu)
        leaf = self._leaves.get(top)
        if leaf is None:
            tier, t = self.tier, self.tier[top]
            ports = sorted((m for m in self.g._adj[top] if tier[m] < t and self.below(m)),
                           key=lambda m: (self._gpu_number(m), m))
            leaf = self._leaves[top] = (self._gpu_number(ports[0]) * len(ports), {m: i for i, m in enumerate(ports)})
        first, position = leaf
        return first + position[self._port(gpu, top)]

    def _port(self, gpu: str, top: str) -> str:
        """The node right below `top` on the GPU's single way up to it (its NIC, or itself)."""
        port = self._ports.get(gpu)
        if port is None:
            up, node = self._up, gpu
            while (nxt := next(m for m, _ in up[node] if up[m])) != top:
                node = nxt
            port = self._ports[gpu] = node
        return port

    @staticmethod
    def _climb_counts(cone: _Cone, top: str) -> list[int]:
        """How many options each choice of the climb from `top` down to the source has (taking
        the first option at each: the climbs of a Clos all branch alike)."""
        counts, node = [], top
        while parents := cone.parents(node):
            if len(parents) > 1:
                counts.append(len(parents))
            node = parents[0]
        return counts

    @staticmethod
    def _walk(cone: _Cone, top: str, choose) -> list[str]:
        """From `top` back down to the cone's origin, `choose` picking among parents."""
        out = [top]
        node = top
        while True:
            parents = cone.parents(node)
            if not parents:
                return out
            node = choose(parents)
            out.append(node)

    def _bfs_path(self, src: str, dst: str, d: int) -> list[str]:
        """A shortest widest path, traced back from `dst`: each choice among equal predecessors
        takes digit after digit of the destination's number `d`."""
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
        out, below = [dst], 1
        while out[-1] != src:
            options = preds[out[-1]]
            out.append(options[(d // below) % len(options)])
            below *= len(options)
        return out[::-1]
