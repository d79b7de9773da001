"""Symmetric mode: ranks, transfers and links partitioned into classes that behave alike.

Modelling assumption: ranks of one class run the same program, reach each instruction at the
same time and see the same rates, so one simulated rank stands for its class, and one fabric
class per class of transfers (each collective phase of each group, each pipeline send) carries
every flow of it, on one link per class of links (the lowest id), loaded with the class's flows
on one such link. Link bytes are the representative link's. This is exact when rates are equal
within each class of transfers, which is what the partition ensures or the run certifies:

- Coarse classes (the default): ranks start coloured by job and stage, transfers by what they
  are (op, algorithm, phase, steps, bytes, path latency, solo rate as built); a rank's colour is
  refined by its transfers' (with its role), a transfer's by its members', until none splits.
  Links are then coloured by the flows of each transfer colour they carry (profiles). Rates are
  certified at each computation (`Classes.check`, the max-min characterisation: every transfer
  has a bottleneck among the links it crosses itself); a failure splits the failing colour's
  transfers by whether they cross its bottleneck links (`Partition.split`), and the run starts
  again.
- Equitable classes (`links=True`, after MAX_SPLITS splits or when a split changes nothing):
  links join the refinement, so links of one colour carry the same flows of each transfer
  colour; progressive filling then fills them alike and no certificate is needed (by induction
  over events: transfers of a colour start together and get one rate).

Colours are compared by hashing: a new colour is a 64-bit mix of the old one and of the sum of
the neighbours' colour hashes (times multiplicity), so equal multisets give equal sums; two
different ones collide with probability about 2^-64 per pair. Links that their flows could not
fill even all at their solo rates never limit a rate: they split nothing.
"""

from __future__ import annotations

import copy
from array import array
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..network.fabric import Footprint

ROLES = {"member": 0, "send": 1, "recv": 2}
MAX_SPLITS = 8   # failed certificates answered by splitting colours, before partitioning with the links
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer on a uint64 array: a colour's hash."""
    with np.errstate(over="ignore"):
        x = x.astype(np.uint64) + _GOLD
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _dense(keys: np.ndarray) -> np.ndarray:
    """Colours 0..k-1 for keys, in the keys' order."""
    return np.unique(keys, return_inverse=True)[1].reshape(-1)


class _Sums:
    """Incidences grouped by entity (0..n-1, sorted once): `of(values)` is, per entity, the
    wrapping uint64 sum of its incidences' values."""

    def __init__(self, entity: np.ndarray, n: int):
        self.n, self.order = n, np.argsort(entity, kind="stable")
        e = entity[self.order]
        self.starts = np.flatnonzero(np.r_[True, e[1:] != e[:-1]]) if len(e) else e
        self.ids = e[self.starts]

    def of(self, values: np.ndarray) -> np.ndarray:
        out = np.zeros(self.n, dtype=np.uint64)
        if len(self.order):
            with np.errstate(over="ignore"):
                out[self.ids] = np.add.reduceat(values[self.order], self.starts)
        return out


class NotUniform(Exception):
    """Transfers of one colour would get different rates: the partition is too coarse for the
    colours in `args[0]`."""


@dataclass
class Classes:
    """The partition: colours of ranks, transfers and links, and the footprints it implies."""
    rank: np.ndarray        # rank -> colour
    transfer: np.ndarray    # transfer id -> colour
    rep_link: np.ndarray    # link id -> the representative (lowest) link of its colour
    rep: dict[int, int]     # rank colour -> its lowest rank
    size: dict[int, int]    # rank colour -> ranks
    _load: dict[int, tuple[tuple[int, ...], tuple[int, ...]]]   # transfer colour -> (links, flows on each)
    _flows: dict[int, int]  # transfer colour -> flows
    # transfer colour -> the sets of representative links its transfers cross (None: equitable,
    # nothing to check), and the links' capacity as run
    profiles: dict[int, list[tuple[int, ...]]] | None
    crosses: tuple[np.ndarray, np.ndarray] | None   # (transfer, representative link) of each link it crosses
    capacity: list[float]
    _colours: dict = field(default_factory=dict)   # footprint -> transfer colours it stands for

    def stand_in(self, rank: int) -> int:
        return self.rep[int(self.rank[rank])]

    def footprint(self, tid: int, latency: float) -> Footprint:
        """The fabric class of transfer `tid`'s colour: every flow of the colour, on one link per
        link colour; `latency`: one step's path latency (the transfer's own)."""
        c = int(self.transfer[tid])
        links, mult = self._load.get(c, ((), ()))
        fp = Footprint(links, mult, latency, self._flows[c])
        self._colours.setdefault(fp, set()).add(c)
        return fp

    @property
    def checked(self) -> bool:
        """Whether rates must be certified (see `check`)."""
        return self.profiles is not None

    def check(self, classes) -> None:
        """Certify the max-min rates of fabric classes ((footprint, cap, rate) each, a whole
        component): they are every transfer's rate in the full fabric if each transfer has a
        bottleneck among the links it crosses itself, a filled link on which no class runs
        faster, or runs at its cap. (Feasibility holds already: every link a colour's flows
        cross is in its footprint, with the flows of one such link.) Raises NotUniform."""
        if self.profiles is None:
            return
        load: dict[int, float] = {}
        top: dict[int, float] = {}
        for fp, _, rate in classes:
            for link, m in zip(fp.links, fp.mult):
                load[link] = load.get(link, 0.0) + m * rate
                if rate > top.get(link, 0.0):
                    top[link] = rate
        cap = self.capacity
        failed: dict[int, set] = {}
        for fp, limit, rate in classes:
            if rate >= limit * (1 - 1e-12):
                continue
            bottleneck = {link for link in fp.links
                          if load[link] >= cap[link] * (1 - 1e-9) and rate >= top[link] * (1 - 1e-9)}
            for colour in self._colours.get(fp, ()):
                if any(bottleneck.isdisjoint(crossed) for crossed in self.profiles.get(colour, ())):
                    failed.setdefault(colour, set()).update(bottleneck)
        if failed:
            raise NotUniform(failed)

    def link_values(self, values: list[float]) -> list[float]:
        """Per link, the value its colour's representative link carries (bytes, say)."""
        return np.asarray(values, dtype=float)[self.rep_link].tolist()


class Partition:
    """Collects transfers (`add`), then refines colours (`classes`)."""

    def __init__(self, as_built: list[float], capacity: list[float], hop_latency: list[float]):
        """Per link: `as_built` capacity (what the collectives' tuner sees), `capacity` as run
        (bytes/s), `hop_latency` (s). Ranks are added with `ranks`, transfers with `add`."""
        self.rank_labels: list = []
        self.as_built, self.capacity, self.hop_latency = as_built, capacity, hop_latency
        self._made: dict[bool, Classes] = {}
        self._solos: dict = {}
        self._split: np.ndarray | None = None   # transfer id -> a label set apart by `split`
        self.splits = 0
        self.slow: dict[int, float] = {}   # rank id -> compute slowdown (a straggler sets its rank apart)
        self._coarse: dict[tuple, tuple] = {}   # (split labels, slow) -> refined (rank, transfer) colours, shared by variants
        self._learned: dict[tuple, np.ndarray] = {}   # (links changed, slow ranks) -> split labels that passed, shared too
        self.labels: list = []               # transfer id -> initial colour
        self.flows = array("q")              # transfer id -> flows
        # (transfer, link, flows of the transfer on the link), once per link a transfer crosses
        self.inc_t, self.inc_l, self.inc_w = array("q"), array("q"), array("q")
        self.mem_t, self.mem_r, self.mem_role = array("q"), array("q"), array("q")

    def ranks(self, labels: list) -> int:
        """Add ranks with these initial colours; returns the id of the first."""
        first = len(self.rank_labels)
        self.rank_labels += labels
        return first

    def routes(self, route, pairs) -> tuple[list[int], list[int], int, float]:
        """The flows `pairs` routed by `route(a, b)` (each distinct pair once): (links crossed,
        flows on each, flows, the slowest path's latency), to `add` to one or more transfers."""
        hop, on, worst = self.hop_latency, {}, 0.0
        if len(pairs) == 1:   # a pipeline pair
            (a, b), = pairs
            links = route(a, b)
            return links, [1] * len(links), 1, sum([hop[l] for l in links])
        for (a, b), n in Counter(pairs).items():
            links = route(a, b)
            for l in links:
                on[l] = on.get(l, 0) + n
            lat = sum([hop[l] for l in links])
            if lat > worst:
                worst = lat
        return list(on), list(on.values()), len(pairs), worst

    def add(self, label, routed: tuple, members: list[int], roles: list[int]) -> int:
        """A transfer of `routed` flows (see `routes`) among `members` (rank ids) in `roles`
        (ROLES values); returns its id. Its latency (the slowest flow's path) joins its label."""
        t = len(self.labels)
        links, weights, flows, worst = routed
        self.inc_l.extend(links)
        self.inc_w.extend(weights)
        self.inc_t.extend([t] * len(links))
        self.labels.append((label, worst))
        self.flows.append(flows)
        self.mem_t.extend([t] * len(members))
        self.mem_r.extend(members)
        self.mem_role.extend(roles)
        return t

    def classes(self, links: bool = False) -> Classes:
        """The partition. Without `links`, ranks and transfers are refined among themselves and
        links grouped once by the flows of each transfer colour they carry (profiles): coarse,
        and exact where every transfer of a colour gets the same rate, which `Classes.check`
        certifies at each rate computation. With `links`, links join the refinement (the
        equitable partition above): exact by construction."""
        if links not in self._made:
            self._made[links] = self._classes(links)
        return self._made[links]

    def _refined(self, links: bool, it, il, uw) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Rank, transfer and (with `links`) link colours refined until none splits. Without
        links they do not depend on the links' capacity: partitions of one job share them."""
        key = None if links else (self._split.tobytes() if self._split is not None else b"",
                                  tuple(sorted(self.slow.items())))
        if key is not None and key in self._coarse:
            return self._coarse[key]
        mt, mr = np.frombuffer(self.mem_t, dtype=np.int64), np.frombuffer(self.mem_r, dtype=np.int64)
        role = np.frombuffer(self.mem_role, dtype=np.int64).astype(np.uint64)
        cr = _dense(np.array(_labels([(label, self.slow.get(r, 1.0)) for r, label in enumerate(self.rank_labels)]),
                             dtype=np.int64))
        # a transfer's own solo rate on the fabric as built joins its label: the tuner chooses
        # a group's algorithm by it (and by the latency, in the label already)
        ct = _dense(np.array(_labels(list(zip(self.labels, self._solo(self.as_built).tolist()))), dtype=np.int64))
        cl = _dense(self._link_labels()) if links else None
        with np.errstate(over="ignore"):
            if self._split is not None and not links:
                ct = _dense(_mix(_mix(ct) ^ self._split))
            members_of, ranks_of = _Sums(mt, len(ct)), _Sums(mr, len(cr))
            if links:
                by_link, by_transfer = _Sums(il, len(cl)), _Sums(it, len(ct))
            counts = None
            while True:
                hr, ht = _mix(cr), _mix(ct)
                # every entity's new colour: its old one and the multiset of its neighbours'
                # (with roles, and flows per link)
                to_transfer = members_of.of(_mix(hr[mr] * np.uint64(3) + role))
                if links:
                    hl = _mix(cl)
                    to_transfer += by_transfer.of(uw * _mix(hl[il] ^ np.uint64(2)))
                    cl = _dense(_mix(hl ^ _mix(by_link.of(uw * _mix(ht[it] ^ np.uint64(1))))))
                cr = _dense(_mix(hr ^ _mix(ranks_of.of(_mix(ht[mt] * np.uint64(5) + role)))))
                ct = _dense(_mix(ht ^ _mix(to_transfer)))
                now = (cr.max(initial=-1), ct.max(initial=-1), None if cl is None else cl.max(initial=-1))
                if now == counts:   # no colour split: the partition is equitable
                    break
                counts = now
        if key is not None:
            self._coarse[key] = (cr, ct, None)
        return cr, ct, cl

    def _link_labels(self) -> np.ndarray:
        """Links labelled by (capacity as built, as run)."""
        built = _dense(np.asarray(self.as_built, dtype=float))
        run = _dense(np.asarray(self.capacity, dtype=float))
        return built * (int(run.max(initial=0)) + 1) + run

    def _classes(self, links: bool) -> Classes:
        every = [np.frombuffer(a, dtype=np.int64) for a in (self.inc_t, self.inc_l, self.inc_w)]
        it, il, w = (a[self._binding()] for a in every)   # colours are refined on links that can fill
        cr, ct, cl = self._refined(links, it, il, w.astype(np.uint64))
        # every link's final colour: its own (refined, or its label) and the flows of each
        # transfer colour it carries (links that cannot fill too: they carry bytes)
        at, al, aw = every
        nl = len(self.capacity)
        with np.errstate(over="ignore"):
            cl = _dense(_mix(_mix(cl if links else self._link_labels())
                             ^ _mix(_Sums(al, nl).of(aw.astype(np.uint64) * _mix(_mix(ct)[at] ^ np.uint64(1))))))
        rep: dict[int, int] = {}
        size: dict[int, int] = {}
        for r, c in enumerate(cr.tolist()):
            rep.setdefault(c, r)
            size[c] = size.get(c, 0) + 1
        ncl = int(cl.max(initial=-1)) + 1
        first = np.full(ncl, -1)
        first[cl[::-1]] = np.arange(nl)[::-1]   # each link colour's lowest link
        # flows of each transfer colour on each link colour, per link of that colour
        per_colour = np.bincount(cl, minlength=ncl)
        keys, where = np.unique(ct[at] * ncl + cl[al], return_inverse=True)
        total = np.bincount(where.reshape(-1), weights=aw, minlength=len(keys))
        load: dict[int, tuple[list, list]] = {}
        for k, n in zip(keys.tolist(), total.tolist()):
            t, c = divmod(k, ncl)
            per_link, rest = divmod(int(n), int(per_colour[c]))
            assert rest == 0, "internal error: links of one colour carry different loads"
            entry = load.setdefault(t, ([], []))
            entry[0].append(int(first[c]))
            entry[1].append(per_link)
        out = {}
        for t, (ls, mult) in load.items():
            order = sorted(range(len(ls)), key=ls.__getitem__)
            out[t] = (tuple(ls[i] for i in order), tuple(mult[i] for i in order))
        flows = np.bincount(ct, weights=np.frombuffer(self.flows, dtype=np.int64), minlength=int(ct.max(initial=-1)) + 1)
        profiles, crosses = (None, None) if links else (_profiles(ct, it, first[cl[il]]), (it, first[cl[il]]))
        return Classes(cr, ct, first[cl], rep, size, out, {c: int(f) for c, f in enumerate(flows)}, profiles, crosses,
                       self.capacity)

    def varied(self, capacity: list[float], slow: dict[int, float]) -> "Partition":
        """The same ranks and transfers (routes too) on links of another capacity as run, and
        with ranks `slow` (rank id -> compute slowdown) set apart."""
        other = copy.copy(self)
        other.capacity, other.slow, other._made, other.splits = capacity, slow, {}, 0
        if capacity is not self.capacity:
            other._solos = {k: v for k, v in self._solos.items() if k == "as built"}
        # the splits a run with the same links changed and ranks slowed needed (degrees differ)
        other._split = self._learned.get(other._changed())
        return other

    def _changed(self) -> tuple:
        """Which links' capacity as run differs from as built, and which ranks are slow."""
        return (np.flatnonzero(np.asarray(self.capacity) != np.asarray(self.as_built)).tobytes(),
                tuple(sorted(self.slow)))

    def learned(self) -> None:
        """After a run whose rates were certified: partitions with the same links changed and
        ranks slowed (see `varied`) start from this one's splits."""
        if self._split is not None:
            self._learned[self._changed()] = self._split

    def split(self, failed: dict[int, set]) -> bool:
        """Set apart, among the transfers of each failed colour of the coarse partition, those
        that cross one of its bottleneck links from those that do not (a failed certificate:
        they would not get one rate). False if that splits nothing, or after MAX_SPLITS splits
        (each costs a simulation: the partition with the links is then cheaper)."""
        if self.splits >= MAX_SPLITS:
            return False
        coarse = self.classes()
        it, link = coarse.crosses
        hit = np.zeros(len(coarse.transfer), dtype=bool)
        for colour, bottleneck in failed.items():
            on = (coarse.transfer[it] == colour) & np.isin(link, np.fromiter(bottleneck, dtype=np.int64))
            hit[it[on]] = True
        chosen = np.isin(coarse.transfer, np.fromiter(failed, dtype=np.int64))
        colour = coarse.transfer[chosen]
        if len(np.unique(colour * 2 + hit[chosen])) == len(np.unique(colour)):
            return False   # no colour has transfers on both sides
        split = np.zeros(len(coarse.transfer), dtype=np.uint64) if self._split is None else self._split.copy()
        with np.errstate(over="ignore"):
            split[chosen] = _mix(split[chosen] ^ (hit[chosen].astype(np.uint64) + np.uint64(1)))
        self._split = split
        self._made.pop(False)
        self.splits += 1
        return True

    def _solo(self, capacity: list[float]) -> np.ndarray:
        """Per transfer, its flows' rate with the fabric to itself: its tightest link's share."""
        key = "as built" if capacity is self.as_built or capacity == self.as_built else "as run"
        if key not in self._solos:
            it, il, w = (np.frombuffer(a, dtype=np.int64) for a in (self.inc_t, self.inc_l, self.inc_w))
            solo = np.full(len(self.labels), np.inf)
            np.minimum.at(solo, it, np.asarray(capacity, dtype=float)[il] / w)
            self._solos[key] = solo
        return self._solos[key]

    def _binding(self) -> np.ndarray:
        """Which incidences lie on links that can fill. No transfer's flows run faster than its
        solo rate (its tightest link's share, with the fabric to itself), so a link whose flows at
        their solo rates all at once stay below its capacity never limits anyone: it does not
        set ranks or transfers apart, nor count in the certificate."""
        it, il, w = (np.frombuffer(a, dtype=np.int64) for a in (self.inc_t, self.inc_l, self.inc_w))
        cap = np.asarray(self.capacity, dtype=float)
        most = np.bincount(il, weights=w * self._solo(self.capacity)[it], minlength=len(cap))
        return most[il] >= cap[il] * (1 - 1e-6)


def _profiles(ct: np.ndarray, it: np.ndarray, rep_link: np.ndarray) -> dict[int, list[tuple[int, ...]]]:
    """Per transfer colour, the distinct sets of (representative) links its transfers cross."""
    if not len(it):
        return {}
    width = int(rep_link.max()) + 1
    pair = np.sort(it * width + rep_link)
    t, link = np.divmod(pair[np.r_[True, pair[1:] != pair[:-1]]], width)
    starts = np.flatnonzero(np.r_[True, t[1:] != t[:-1]])
    with np.errstate(over="ignore"):
        signature = np.add.reduceat(_mix(link), starts)
    owner = t[starts]
    _, pick = np.unique(np.stack([ct[owner], signature.view(np.int64)]), axis=1, return_index=True)
    ends = np.r_[starts[1:], len(t)]
    out: dict[int, list[tuple[int, ...]]] = {}
    for i in pick.tolist():
        out.setdefault(int(ct[owner[i]]), []).append(tuple(link[starts[i]:ends[i]].tolist()))
    return out


def _labels(values: list) -> list[int]:
    """Hashable labels as small integers, by first appearance."""
    ids: dict = {}
    return [ids.setdefault(v, len(ids)) for v in values]
