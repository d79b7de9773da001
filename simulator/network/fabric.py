"""Flow-level network: max-min fair sharing of directed links, recomputed only when flows change.

A transfer is a *flow class*: one or more identical flows (same size, same start) that advance at
one common rate. A collective's flows form one class, since a ring advances at the pace of its
slowest hop; in symmetric mode the class carries every flow of its class of transfers, as a
multiplicity on one link per class of links (engine.classes). A class with multiplicity m_l on link l loads it with
m_l x rate. Rates are max-min fair (progressive filling) over the connected component of classes
that share links with the one starting or ending, and remembered by the component's footprints and
caps (the same collectives overlap again layer after layer); finish events are rescheduled by
version number rather than interrupted. Latency is paid before the class joins the fabric. A
class may carry a per-flow rate cap (a NCCL channel moves data no faster than its GPU threads can
copy it).
"""

from __future__ import annotations

from dataclasses import dataclass

import simpy


@dataclass(frozen=True)
class Footprint:
    """Where a class of flows goes: link ids and how many of its flows cross each."""

    links: tuple[int, ...]
    mult: tuple[int, ...]
    latency: float                  # one-way path latency of one step (slowest flow)
    flows: int = 1                  # flows in the class (in symmetric mode, of its whole class of transfers)

    def __hash__(self) -> int:
        # footprints key the fabric's per-transfer tables: hash the link tuples once, not per use
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash((self.links, self.mult, self.latency, self.flows))
            object.__setattr__(self, "_hash", h)
        return h

    def solo_rate(self, capacity: list[float], cap: float = float("inf")) -> float:
        """Per-flow rate with the fabric to itself: the tightest link's share, at most `cap`."""
        return min([cap] + [capacity[l] / m for l, m in zip(self.links, self.mult)])


class _Class:
    __slots__ = ("links", "mult", "nbytes", "remaining", "rate", "version", "updated", "done", "cap", "fp",
                 "tag", "begin", "order")

    def __init__(self, fp: Footprint, nbytes: float, done: simpy.Event, now: float, cap: float, tag: str,
                 order: int):
        self.order = order  # creation order: classes that finish or change rate together do so in it
        self.links, self.mult = fp.links, fp.mult
        self.fp, self.tag, self.begin = fp, tag, now
        self.cap = cap
        self.nbytes = nbytes
        self.remaining = nbytes
        self.rate = 0.0
        self.version = 0
        self.updated = now
        self.done = done


class Fabric:
    """Directed links with capacities; `transfer` returns an event that fires when bytes arrive."""

    def __init__(self, env: simpy.Environment, capacity: list[float]):
        self.env = env
        self.capacity = capacity
        self.users: dict[int, set[_Class]] = {}
        self._created = 0
        # which footprints share a link with which (built as footprints first appear), and the
        # classes in flight on each: components are found footprint by footprint, not link by link
        self._conflicts: dict[Footprint, set[Footprint]] = {}
        self._on_link: dict[int, set[Footprint]] = {}
        self._active: dict[Footprint, set[_Class]] = {}
        self._bytes: dict[Footprint, float] = {}   # bytes per flow moved, by footprint
        self._solo: dict[tuple[Footprint, float], float] = {}
        self._filled: dict[tuple, list[float]] = {}   # (footprint, cap) of a component's classes -> rates
        self.recomputations = 0
        self.exclusive: set[Footprint] = set()
        # one record per finished transfer: (tag, begin, end, bytes per flow, footprint)
        # (tag, begin, end, bytes per flow, footprint); the collectives tag a transfer with
        # (op, algorithm/protocol, group key, phase), see api.flows_table
        self.records: list[tuple[object, float, float, float, Footprint]] = []
        # called with each newly computed component's [(footprint, cap, rate)] (symmetric mode
        # certifies there that its classes stand for the flows they carry; may raise)
        self.check = None

    def mark_exclusive(self, owned: list[tuple[Footprint, object]], serialized: set) -> None:
        """Footprints whose links no other owner's footprints use, and whose owner (a group of
        ranks) runs one blocking transfer at a time, take a closed-form path: their rate is their
        solo rate, with no fabric bookkeeping. Exact, since nothing else can load their links."""
        users: dict[int, set] = {}
        for fp, who in owned:
            for l in fp.links:
                users.setdefault(l, set()).add(who)
        owners_of: dict[Footprint, set] = {}
        for fp, who in owned:
            owners_of.setdefault(fp, set()).add(who)
        self.exclusive = {fp for fp, who in owned if owners_of[fp] == {who} and who in serialized
                          and all(len(users[l]) == 1 for l in fp.links)}

    def transfer(self, fp: Footprint, nbytes: float, latency: float, cap: float = float("inf"),
                 tag: object = "") -> simpy.Event:
        """Move `nbytes` per flow of `fp` after `latency`, each flow at most `cap` bytes/s."""
        env = self.env
        done = env.event()
        if nbytes <= 0 or not fp.links:
            env.timeout(latency).callbacks.append(lambda _: done.succeed())
        elif fp in self.exclusive:
            env.timeout(self.exclusive_transfer(fp, nbytes, latency, cap, tag, env.now)).callbacks.append(
                lambda _: done.succeed())
        else:
            self._created += 1
            cls = _Class(fp, nbytes, done, env.now, cap, tag, self._created)
            if latency > 0:
                env.timeout(latency).callbacks.append(lambda _: self._start(cls))
            else:
                self._start(cls)
        return done

    def exclusive_transfer(self, fp: Footprint, nbytes: float, latency: float, cap: float, tag: object,
                           now: float) -> float:
        """Record a transfer of an exclusive footprint started at `now` and return how long it
        takes: its links carry nothing else, so it runs at its solo rate throughout."""
        rate = self._solo_rate(fp, cap)
        self._account(fp, nbytes)
        begin = now + latency
        self.records.append((tag, begin, begin + nbytes / rate, nbytes, fp))
        return latency + nbytes / rate

    def _solo_rate(self, fp: Footprint, cap: float) -> float:
        rate = self._solo.get((fp, cap))
        if rate is None:
            rate = self._solo[(fp, cap)] = fp.solo_rate(self.capacity, cap)
            if self.check:
                self.check([(fp, cap, rate)])
        return rate

    # -- bookkeeping -------------------------------------------------------------------------
    def _account(self, fp: Footprint, nbytes: float) -> None:
        self._bytes[fp] = self._bytes.get(fp, 0.0) + nbytes

    @property
    def link_bytes(self) -> list[float]:
        """Bytes each directed link has carried so far."""
        out = [0.0] * len(self.capacity)
        for fp, nbytes in self._bytes.items():
            for l, m in zip(fp.links, fp.mult):
                out[l] += nbytes * m
        return out

    def _sharing(self, fp: Footprint) -> set[Footprint]:
        """The footprints (itself included) that share a link with `fp`."""
        near = self._conflicts.get(fp)
        if near is None:
            near = self._conflicts[fp] = {fp}
            for l in fp.links:
                on = self._on_link.setdefault(l, set())
                for o in on:
                    near.add(o)
                    self._conflicts[o].add(fp)
                on.add(fp)
        return near

    def _component(self, seeds) -> set[_Class]:
        """The classes connected to `seeds` through shared links."""
        seen: set[_Class] = set()
        todo = list(seeds)
        active, sharing = self._active, self._sharing
        while todo:
            c = todo.pop()
            if c in seen:
                continue
            seen.add(c)
            for fp in sharing(c.fp):
                for o in active.get(fp, ()):
                    if o not in seen:
                        todo.append(o)
        return seen

    def _advance(self, classes) -> None:
        now = self.env.now
        for c in classes:
            if c.rate:
                c.remaining -= c.rate * (now - c.updated)
            c.updated = now

    def _start(self, cls: _Class) -> None:
        cls.updated = cls.begin = self.env.now
        comp = self._component([cls])
        comp.discard(cls)
        self._advance(comp)
        for l in cls.links:
            self.users.setdefault(l, set()).add(cls)
        self._active.setdefault(cls.fp, set()).add(cls)
        comp.add(cls)
        self._reshare(comp)

    def _finish(self, cls: _Class, version: int) -> None:
        if version != cls.version:
            return  # rate changed since this finish was scheduled
        comp = self._component([cls])
        self._advance(comp)
        # `cls` is done: its finish was scheduled for remaining / rate and the rate has not changed
        # since (same version); what is left is rounding, which grows with the simulated time
        finished = sorted((c for c in comp if c is cls or c.remaining <= 1e-9 * c.nbytes + 1e-3),
                          key=lambda c: c.order)
        for c in finished:
            comp.discard(c)
            c.version += 1
            for l in c.links:
                self.users[l].discard(c)
            self._active[c.fp].discard(c)
            self._account(c.fp, c.nbytes)
            self.records.append((c.tag, c.begin, self.env.now, c.nbytes, c.fp))
            c.done.succeed()
        if comp:
            self._reshare(self._component(comp))

    def _reshare(self, classes: set[_Class]) -> None:
        """Progressive filling over `classes` (a closed component), then reschedule finishes."""
        self.recomputations += 1
        if len(classes) == 1:  # alone on its links: its solo rate (what the filling below gives)
            c, = classes
            self._reschedule({c: self._solo_rate(c.fp, c.cap)})
            return
        # the filling depends only on the classes' footprints and caps: a component met before
        # (the same collectives overlapping again, layer after layer) gets its rates again
        ordered = sorted(classes, key=lambda c: (id(c.fp), c.cap))
        key = tuple((c.fp, c.cap) for c in ordered)
        rates = self._filled.get(key)
        if rates is None:
            new_rate = self._fill(classes)
            rates = self._filled[key] = [new_rate[c] for c in ordered]
            if self.check:
                self.check([(c.fp, c.cap, r) for c, r in zip(ordered, rates)])
        self._reschedule(dict(zip(ordered, rates)))

    def _fill(self, classes: set[_Class]) -> dict[_Class, float]:
        """Progressive filling: every unfrozen class's rate rises together until a link fills
        (its classes freeze) or a class reaches its cap."""
        cap = self.capacity
        weight: dict[int, float] = {}
        for c in classes:
            for l, m in zip(c.links, c.mult):
                weight[l] = weight.get(l, 0) + m
        left = {l: cap[l] for l in weight}
        unfrozen = set(classes)
        level = 0.0
        new_rate: dict[_Class, float] = {}
        while unfrozen:
            lowest_cap = min(c.cap for c in unfrozen)
            delta = min([lowest_cap - level] + [left[l] / w for l, w in weight.items() if w > 0])
            level += delta
            saturated = []
            for l, w in weight.items():
                if w > 0:
                    left[l] -= delta * w
                    if left[l] <= 1e-9 * cap[l]:
                        saturated.append(l)
            done = [c for l in saturated for c in self.users[l] if c in unfrozen]
            done += [c for c in unfrozen if c.cap <= level * (1 + 1e-12)]
            for c in done:
                if c in unfrozen:
                    unfrozen.discard(c)
                    new_rate[c] = level
                    for l2, m in zip(c.links, c.mult):
                        weight[l2] -= m
        return new_rate

    def _reschedule(self, new_rate: dict[_Class, float]) -> None:
        env = self.env
        for c, r in sorted(new_rate.items(), key=lambda item: item[0].order):
            if r != c.rate or c.version == 0:
                c.rate = r
                c.version += 1
                env.timeout(max(c.remaining, 0.0) / r).callbacks.append(
                    lambda _, c=c, v=c.version: self._finish(c, v))
