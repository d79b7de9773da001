"""A training campaign over days to months of wall-clock time, as a SimPy simulation.

Two processes per trial, in the machine-shop pattern: an *injector* walks through the world's
changes in time order (component failures drawn from the failure model, planned maintenance,
straggler and degraded-link episodes, repairs of network elements) and interrupts the *job*,
whose state it changed. The job trains, checkpoints, stops, recovers and trains again:

- Training runs at the iteration time of the cluster's current health state (`StepTimes`,
  memoized per state), with the diurnal throughput swing on top. Progress between events is
  integrated in closed form, one checkpoint cycle at a time (train `interval`, block for the
  save's blocking part; an async save becomes durable after its write), so a 54-day campaign
  costs events only for what changes the job, not per iteration or per checkpoint.
- A failure that strikes the job stops it. Everything since the last durable checkpoint is
  lost. Then detection (at once for fail-stop errors, after the watchdog for hangs), diagnosis,
  waiting for servers (spares, or repairs when the pool is empty; elastic recovery goes on with
  the replicas the healthy servers hold), rescheduling, process start, NCCL initialization and
  the checkpoint load, each a timed phase. A failure during recovery starts it over.
- A planned stop saves a checkpoint first (nothing is lost), then restarts.
- A network fault (a spine, a cable between switches) stops the job unless the recovery policy
  routes around it; either way the job trains at the degraded step time until the repair.
- Failed servers go to repair (repair-time distribution) and return to the spare pool.

Failures are drawn for the components of the full-size job; spares are assumed healthy while idle.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import json
import math
from dataclasses import dataclass, field

import numpy as np
import simpy

from ..config import Scenario
from .checkpoint import CheckpointCost, checkpoint_cost, daly_interval, young_interval
from .failure_model import DAY, FailureModel, load_failure_model
from .health import Health, StepTimes

DEFAULT_DURATION = 30 * DAY
MAX_DURATION = 20 * 365 * DAY          # a token budget that takes longer is reported unfinished
WINDOW = 30 * DAY                       # failure arrivals are drawn a window at a time
HOT_HOUR = 14 * 3600.0                  # the diurnal dip is deepest mid-afternoon
DOWN_PHASES = ("detection", "diagnosis", "waiting_for_servers", "reschedule", "process_start",
               "nccl_init", "checkpoint_load", "maintenance", "fabric_cut")
INTERVAL_COLUMNS = ("trial", "state", "start", "end", "cause")
EVENT_COLUMNS = ("trial", "time", "kind", "cause", "component", "detail", "lost_tokens", "lost_time")


class _Restart(Exception):
    """A failure while the job recovers: recovery starts over."""

    def __init__(self, cause):
        self.cause = cause


@dataclass
class TrialResult:
    metrics: dict
    events: list = field(default_factory=list)
    intervals: list = field(default_factory=list)


class Campaign:
    """Everything trials share: the failure model on the job's components, checkpoint costs, the
    checkpoint interval and the memoized step times. `run_trial(i)` is independent of any other
    trial (its random streams are spawned from the seed by index)."""

    def __init__(self, scenario: Scenario, step_times: StepTimes | None = None, *,
                 interval: float | None = None, duration: float | None = None, trials: int | None = None):
        self.scenario = scenario
        cfg = self.cfg = scenario.reliability
        self.steps = step_times or StepTimes(scenario)
        self.model: FailureModel = load_failure_model(cfg.failure_model)
        inv = self.inventory = self.steps.inventory
        inv.check({c.name: c.component for c in self.model.classes})
        self.trials = trials or cfg.trials
        self.seed = cfg.seed if cfg.seed is not None else scenario.simulation.seed
        self.budget = cfg.token_budget
        self.duration = duration or cfg.duration or (MAX_DURATION if self.budget else DEFAULT_DURATION)
        rec = cfg.recovery
        self.servers = scenario.system.num_nodes
        self.spares = rec.spare_servers if rec.spare_servers is not None else math.ceil(0.02 * self.servers)
        self.step_time, self.tokens_per_step = self.steps.healthy()
        accel, topo = self.steps.prep.accelerator, scenario.system.topology
        self.ckpt: CheckpointCost = checkpoint_cost(cfg.checkpoint, self.steps.prep.job, self.servers,
                                                    topo.host_link_bandwidth or accel.host_link_bandwidth,
                                                    topo.nic_bandwidth)
        self.mtti = self._mean_time_to_interruption()
        self.interval_policy, self.interval = self._interval(interval)
        self.restart = rec.diagnosis + rec.reschedule + rec.process_start + rec.nccl_init + self.ckpt.load

    def fingerprint(self) -> str:
        """What a trial's result depends on besides its index: the resolved scenario, the
        campaign's length and interval, the step times' mode (not the number of trials)."""
        from ..config import scenario_to_dict
        from .. import __version__
        key = json.dumps([scenario_to_dict(self.scenario), dataclasses.asdict(self.model), self.duration,
                          self.interval, self.steps.mode, __version__], sort_keys=True, default=str)
        return hashlib.sha256(key.encode()).hexdigest()

    # -- set-up --------------------------------------------------------------------------------
    def _stops_job(self, component: str, index: int) -> bool:
        s = self.inventory.strike(component, index)
        return bool(s.servers) or (s.fault is not None and self.cfg.recovery.network_failures == "restart")

    def _mean_time_to_interruption(self) -> float:
        """Mean wall time between failures that stop the job (all classes, steady state)."""
        rate = 0.0
        for c in self.model.classes:
            n = self.inventory.count[c.component]
            if c.component in ("switch", "cable", "network"):
                n = sum(self._stops_job(c.component, i) for i in range(n))
            rate += n / c.mean_lifetime
        return 1.0 / rate if rate > 0 else math.inf

    def _interval(self, override: float | None) -> tuple[str, float]:
        """Training time between checkpoints, in whole iterations (saves happen between them),
        never shorter than an async write (the next save would wait for it)."""
        c = self.cfg.checkpoint
        if override is not None:
            policy, tau = "fixed", override
        elif c.interval is not None:
            policy, tau = "fixed", c.interval
        elif c.interval_iterations is not None:
            policy, tau = "fixed", c.interval_iterations * self.step_time
        elif math.isinf(self.mtti):
            policy, tau = c.policy, self.duration
        else:
            fn = young_interval if c.policy == "young" else daly_interval
            policy, tau = c.policy, fn(self.ckpt.block, self.mtti)
        tau = max(tau, self.ckpt.write, self.step_time)
        return policy, math.ceil(tau / self.step_time - 1e-9) * self.step_time

    # -- trials --------------------------------------------------------------------------------
    def run_trial(self, index: int, record: bool = False) -> TrialResult:
        # trial i draws from the i-th child of the seed (as SeedSequence.spawn numbers them),
        # whatever the number or order of trials, and the same again when run again
        return _Trial(self, index, np.random.SeedSequence(self.seed, spawn_key=(index,)), record).run()


def _diurnal_integral(a: float, b: float, amplitude: float) -> float:
    """Integral over [a, b] of the throughput factor 1 - A (1 + cos(2 pi (t - hot) / day)) / 2."""
    if amplitude == 0.0:
        return b - a
    w = 2.0 * math.pi / DAY
    return (b - a) * (1.0 - amplitude / 2) - amplitude / 2 / w * (math.sin(w * (b - HOT_HOUR)) -
                                                                   math.sin(w * (a - HOT_HOUR)))


def _sin_sum(alpha: float, beta: float, n: int) -> float:
    """sum over k < n of sin(alpha + k beta)."""
    half = math.sin(beta / 2)
    if abs(half) < 1e-12:
        return n * math.sin(alpha)
    return math.sin(n * beta / 2) * math.sin(alpha + (n - 1) * beta / 2) / half


def _cycles_integral(t0: float, n: int, train: float, cycle: float, amplitude: float) -> float:
    """Sum over n checkpoint cycles from t0 (train, then stall, `cycle` long in all) of the
    diurnal throughput integral over their training parts."""
    if amplitude == 0.0:
        return n * train
    w = 2.0 * math.pi / DAY
    return n * train * (1.0 - amplitude / 2) - amplitude / 2 / w * (
        _sin_sum(w * (t0 + train - HOT_HOUR), w * cycle, n) - _sin_sum(w * (t0 - HOT_HOUR), w * cycle, n))


class _Trial:
    def __init__(self, c: Campaign, index: int, seq: np.random.SeedSequence, record: bool):
        self.c, self.index, self.record = c, index, record
        fail, repair, strag, maint = seq.spawn(4)
        self.rng_repair = np.random.default_rng(repair)
        self.rng_strag = np.random.default_rng(strag)
        self.rng_maint = np.random.default_rng(maint)
        self.class_rngs = [np.random.default_rng(s) for s in fail.spawn(len(c.model.classes))]
        self.renewal = [None] * len(c.model.classes)   # next failure time per component (non-exponential)
        self.env = simpy.Environment()
        self.events: list[tuple] = []
        self.intervals: list[tuple] = []
        self.m = {"failures": 0, "interruptions": 0, "planned_stops": 0, "lost_tokens": 0.0, "lost_time": 0.0,
                  "checkpoints": 0, "checkpoint_stall": 0.0, "train_time": 0.0, "degraded_time": 0.0,
                  **{f"down_{p}": 0.0 for p in DOWN_PHASES}}
        self.by_cause = {cl.name: 0 for cl in c.model.classes}
        # world
        self.unavailable: list[float] = []      # return times of servers away (heap)
        self.vacant: set[int] = set()           # job slots whose server failed, until the restart refills them
        self.refill_at = math.inf               # when the recovery under way allocates servers again
        self.broken: set[tuple] = set()         # network elements down, by (component, index)
        self.faults: dict[int, tuple] = {}      # id -> (key, capacity left)
        self.slow: dict[int, tuple] = {}        # id -> (stage, slowdown)
        self.replicas = c.steps.plan.dp
        self._ids = 0
        self.heap: list[tuple] = []             # (time, seq, kind, payload) of dynamic changes
        # job progress
        self.running = False
        self.t_acc = 0.0
        self.progress = 0.0                     # tokens trained since the campaign start (kept or not)
        self.durable = (0.0, 0.0)               # (tokens, train time) in the last durable checkpoint
        self.pending = None                     # (durable at, tokens, train time) of an async write
        self.snapshot = (0.0, 0.0)
        self.to_ckpt = c.interval
        self.stall_left = 0.0
        self.rate = 0.0
        self.finished_at = None
        self.open_recovery = None
        self.state, self.state_since, self.state_cause = "training", 0.0, ""

    # -- arrivals ------------------------------------------------------------------------------
    def _window(self, w0: float, w1: float) -> list[tuple]:
        """Every arrival in [w0, w1): failures per class, planned stops, straggler and slow-link episodes."""
        c, out = self.c, []
        inv = c.inventory
        for k, cl in enumerate(c.model.classes):
            n = inv.count[cl.component]
            rng = self.class_rngs[k]
            if cl.failures_per_year == 0:
                continue
            if cl.distribution == "exponential":
                m = rng.poisson(n * (w1 - w0) / cl.mean_lifetime)
                times, idx = rng.uniform(w0, w1, m), rng.integers(0, n, m)
            else:
                nxt = self.renewal[k]
                if nxt is None:
                    nxt = self.renewal[k] = cl.lifetimes(rng, n)
                times, idx = [], []
                hit = np.nonzero(nxt < w1)[0]
                while hit.size:
                    times.append(nxt[hit])
                    idx.append(hit)
                    nxt[hit] += cl.lifetimes(rng, hit.size)
                    hit = hit[nxt[hit] < w1]
                times = np.concatenate(times) if times else np.empty(0)
                idx = np.concatenate(idx) if idx else np.empty(0, dtype=int)
            out += [(t, "failure", (k, int(i))) for t, i in zip(times.tolist(), idx.tolist())]
        planned = c.model.planned
        if planned and planned.per_day > 0:
            m = self.rng_maint.poisson(planned.per_day * (w1 - w0) / DAY)
            out += [(t, "maintenance", None) for t in self.rng_maint.uniform(w0, w1, m).tolist()]
        s = c.cfg.stragglers
        for kind, rate, n in (("slow_gpu", s.gpu_rate, inv.count["gpu"]), ("slow_server", s.host_rate, c.servers),
                              ("slow_link", s.link_rate, inv.count["cable"])):
            if rate > 0 and n:
                m = self.rng_strag.poisson(rate * n * (w1 - w0) / DAY)
                out += [(t, kind, int(i)) for t, i in zip(self.rng_strag.uniform(w0, w1, m).tolist(),
                                                          self.rng_strag.integers(0, n, m).tolist())]
        out.sort(key=lambda e: e[0])
        return out

    def _push(self, t: float, kind: str, payload) -> None:
        self._ids += 1
        heapq.heappush(self.heap, (t, self._ids, kind, payload))

    def _repair_time(self) -> float:
        rec = self.c.cfg.recovery
        if rec.repair_distribution == "fixed":
            return rec.repair_time
        if rec.repair_distribution == "lognormal":
            return float(self.rng_repair.lognormal(math.log(max(rec.repair_time, 1e-9)) - 0.5, 1.0))
        return float(self.rng_repair.exponential(rec.repair_time))

    def inject(self, job: simpy.Process):
        env, w0 = self.env, 0.0
        arrivals: list[tuple] = []
        pos = 0
        while True:
            if pos == len(arrivals) and w0 < self.c.duration:
                w1 = min(w0 + WINDOW, self.c.duration)
                arrivals, pos, w0 = self._window(w0, w1), 0, w1
                continue
            nxt_arrival = arrivals[pos][0] if pos < len(arrivals) else math.inf
            nxt_dynamic = self.heap[0][0] if self.heap else math.inf
            t = min(nxt_arrival, nxt_dynamic)
            if math.isinf(t):
                return
            if t > env.now:
                yield env.timeout(t - env.now)
            if nxt_arrival <= nxt_dynamic:
                _, kind, payload = arrivals[pos]
                pos += 1
            else:
                _, _, kind, payload = heapq.heappop(self.heap)
            cause = self._apply(kind, payload)
            # a job in recovery hears only of failures that strike it; other news waits for its restart
            if cause is not None and job.is_alive and (self.running or cause[0] == "failure" and cause[2]):
                job.interrupt(cause)

    def _apply(self, kind: str, payload):
        """Change the world; return what the job must hear about (None: nothing for it)."""
        c, now = self.c, self.env.now
        if kind == "failure":
            k, i = payload
            cl = c.model.classes[k]
            strike = c.inventory.strike(cl.component, i)
            in_use = math.ceil(self.replicas * c.steps.servers_per_replica - 1e-9)
            # a slot already emptied by a failure holds no server to fail until the restart refills it
            if now >= self.refill_at:
                self.vacant.clear()
            servers = [s for s in strike.servers if s < in_use and s not in self.vacant]
            element = (cl.component, i)
            if strike.fault is not None and element in self.broken:
                return None                               # already down, waiting for its repair
            if not servers and strike.fault is None:
                return None                               # an idle or already failed server: not the job's
            self.m["failures"] += 1
            self.by_cause[cl.name] += 1
            if servers:
                back = now + self._repair_time()
                for s in servers:
                    heapq.heappush(self.unavailable, back)
                    self.vacant.add(s)
            else:
                self._ids += 1
                self.faults[self._ids] = (strike.fault, 0.0)
                self.broken.add(element)
                self._push(now + self._repair_time(), "repaired", (self._ids, element))
            stops = bool(servers) or c.cfg.recovery.network_failures == "restart"
            self._event("failure", cl.name, cl.component, f"servers {servers[:4]}" if servers else str(strike.fault))
            return ("failure", cl, stops)
        if kind == "maintenance":
            self._event("maintenance", "planned", "job", "")
            return ("maintenance",) if self.running else None
        if kind in ("slow_gpu", "slow_server"):
            s, plan = c.cfg.stragglers, c.steps.plan
            world = self.replicas * plan.world // plan.dp           # ranks of the job as it runs now
            gps = c.inventory.gpus_per_server
            ranks = [payload] if kind == "slow_gpu" else range(payload * gps, (payload + 1) * gps)
            stages = tuple(sorted({r * plan.pp // world for r in ranks if r < world}))  # stages are outermost
            if not stages:
                return None
            factor = c.steps.rounded(self.rng_strag.uniform(s.slowdown_min, s.slowdown_max))
            self._ids += 1
            self.slow[self._ids] = (stages, factor)
            self._push(now + self.rng_strag.exponential(s.duration), "recovered", self._ids)
            self._event(kind, "straggler", "gpu" if kind == "slow_gpu" else "server",
                        f"stages {list(stages)} x{factor}")
            return ("health",)
        if kind == "slow_link":
            self._ids += 1
            self.faults[self._ids] = (c.inventory.cable_key(payload), c.cfg.stragglers.link_factor)
            self._push(now + self.rng_strag.exponential(c.cfg.stragglers.duration), "repaired", (self._ids, None))
            self._event("slow_link", "degraded cable", "cable", str(c.inventory.cable_key(payload)))
            return ("health",)
        if kind == "repaired":
            fault, element = payload
            self.faults.pop(fault, None)
            self.broken.discard(element)
            return ("health",)
        if kind == "recovered":
            self.slow.pop(payload, None)
            return ("health",)
        raise AssertionError(kind)  # pragma: no cover

    def _event(self, kind, cause, component, detail, lost_tokens=0.0, lost_time=0.0) -> None:
        self.events.append((self.index, self.env.now, kind, cause, component, detail, lost_tokens, lost_time))

    # -- job state -----------------------------------------------------------------------------
    def health(self) -> Health:
        steps = self.c.steps
        return Health(replicas_lost=steps.plan.dp - self.replicas,
                      faults=tuple(sorted(self.faults.values())),
                      slow=tuple(sorted(set(self.slow.values()))))

    def _set_rate(self) -> None:
        h = self.health()
        t, tokens = self.c.steps.time(h)
        self.rate = tokens / t
        self.degraded = h != Health()

    def _enter(self, state: str, cause: str = "", at: float | None = None) -> None:
        """The job's state changes (at `at`, default now): close the open interval."""
        now = self.env.now if at is None else at
        if self.record and now > self.state_since:
            self.intervals.append((self.index, self.state, self.state_since, now, self.state_cause))
        self.state, self.state_since, self.state_cause = state, now, cause

    def advance(self, now: float) -> None:
        """Integrate training from the last accounting time to `now` (the job is running)."""
        c, m = self.c, self.m
        amp = c.cfg.stragglers.diurnal_amplitude
        t = self.t_acc
        if self.rate == 0:  # the fabric is cut in two: nothing trains until a repair
            m["down_fabric_cut"] += now - t
            self.t_acc = now
            return
        if self.degraded:
            m["degraded_time"] += now - t
        cycle = c.interval + c.ckpt.block
        while t < now:
            if (self.stall_left == 0 and self.to_ckpt >= c.interval - 1e-9 and now - t >= 3 * cycle
                    and (self.pending is None or self.pending[0] <= t + c.interval)):
                t = self._skip_cycles(t, int((now - t) // cycle) - 1, cycle, amp)
                continue
            if self.stall_left > 0:
                d = min(self.stall_left, now - t)
                t += d
                self.stall_left -= d
                m["checkpoint_stall"] += d
                if self.stall_left <= 1e-9:
                    self.stall_left = 0.0
                    m["checkpoints"] += 1
                    self.pending = (t + c.ckpt.write, *self.snapshot)
            else:
                d = min(self.to_ckpt, now - t)
                self.progress += self.rate * _diurnal_integral(t, t + d, amp)
                m["train_time"] += d
                t += d
                self.to_ckpt -= d
                if self.to_ckpt <= 1e-9:
                    self._durable(t)
                    self.snapshot = (self.progress, m["train_time"])
                    wait = max(0.0, self.pending[0] - t) if self.pending else 0.0  # the last write must end
                    self.stall_left = c.ckpt.block + wait
                    self.to_ckpt = c.interval
        self._durable(now)
        self.t_acc = now

    def _skip_cycles(self, t: float, n: int, cycle: float, amp: float) -> float:
        """n whole checkpoint cycles from t in closed form (n >= 2): progress, the n-th save
        pending, the (n-1)-th durable (a write ends within the next training part)."""
        c, m = self.c, self.m
        self._durable(t)
        before = _cycles_integral(t, n - 1, c.interval, cycle, amp) * self.rate
        last = _cycles_integral(t + (n - 1) * cycle, 1, c.interval, cycle, amp) * self.rate
        self.durable = (self.progress + before, m["train_time"] + (n - 1) * c.interval)
        self.progress += before + last
        m["train_time"] += n * c.interval
        m["checkpoint_stall"] += n * c.ckpt.block
        m["checkpoints"] += n
        t += n * cycle
        self.snapshot = (self.progress, m["train_time"])
        self.pending = (t + c.ckpt.write, *self.snapshot)
        return t

    def _durable(self, now: float) -> None:
        if self.pending and self.pending[0] <= now:
            self.durable = self.pending[1:]
            self.pending = None

    def _rollback(self) -> tuple[float, float]:
        """Lose everything since the last durable checkpoint."""
        lost_tokens = self.progress - self.durable[0]
        lost_time = self.m["train_time"] - self.durable[1]
        self.m["lost_tokens"] += lost_tokens
        self.m["lost_time"] += lost_time
        self.m["train_time"] = self.durable[1]
        self.progress = self.durable[0]
        self.pending, self.stall_left, self.to_ckpt = None, 0.0, self.c.interval
        return lost_tokens, lost_time

    def _time_left(self) -> float:
        """Until the campaign ends: the horizon, or (token budget) the moment progress reaches it."""
        c = self.c
        end = c.duration
        if c.budget is not None and self.rate > 0:
            end = min(end, self._time_to_budget())
        return max(0.0, end - self.env.now)

    def _time_to_budget(self) -> float:
        """When progress reaches the token budget, training on from now in the current state:
        the rest of a stall, the rest of the training part, whole cycles, then the part in which
        the budget is reached (solved in closed form, or by bisection under the diurnal swing)."""
        c, rate = self.c, self.rate
        amp = c.cfg.stragglers.diurnal_amplitude
        need = c.budget - self.progress
        t = self.env.now + self.stall_left
        if need <= 0:
            return self.env.now
        first = self.to_ckpt if self.stall_left == 0 else c.interval
        got = rate * _diurnal_integral(t, t + first, amp)
        if got >= need:
            return self._solve(t, need, first)
        need -= got
        t += first + c.ckpt.block
        cycle, per = c.interval + c.ckpt.block, rate * c.interval
        lo = max(0, math.ceil(need / per) - 1)                  # each cycle trains at most `per`
        hi = max(lo, math.floor(need / (per * (1 - amp))) + 1)  # and at least per x (1 - amp)
        while lo < hi:                                          # the most whole cycles below need
            mid = (lo + hi + 1) // 2
            if rate * _cycles_integral(t, mid, c.interval, cycle, amp) < need:
                lo = mid
            else:
                hi = mid - 1
        need -= rate * _cycles_integral(t, lo, c.interval, cycle, amp)
        return self._solve(t + lo * cycle, need, c.interval)

    def _solve(self, a: float, need: float, span: float) -> float:
        """The time b in [a, a + span] at which training from a has made `need` tokens."""
        amp = self.c.cfg.stragglers.diurnal_amplitude
        if amp == 0:
            return a + min(span, need / self.rate)
        lo, hi = a, a + span
        for _ in range(60):
            mid = (lo + hi) / 2
            if self.rate * _diurnal_integral(a, mid, amp) < need:
                lo = mid
            else:
                hi = mid
        return hi

    # -- the job process -----------------------------------------------------------------------
    def job(self):
        env, c = self.env, self.c
        self._set_rate()
        cause = None
        while True:
            if cause is None:   # train
                if env.now >= c.duration:
                    return
                self.running, self.t_acc = True, env.now
                self._enter("fabric_cut" if self.rate == 0 else "training_degraded" if self.degraded else "training")
                try:
                    yield env.timeout(self._time_left())
                    self.advance(env.now)
                    if c.budget is not None and self.progress >= c.budget * (1 - 1e-12):
                        yield from self._final_save()
                        return
                    if env.now >= c.duration:
                        return
                    continue
                except simpy.Interrupt as i:
                    self.advance(env.now)
                    cause = i.cause
                    if cause[0] == "health" or (cause[0] == "failure" and not cause[2]):
                        self._set_rate()
                        cause = None
                        continue
                self.running = False
                if cause[0] == "failure":
                    lost = self._rollback()
                    self.m["interruptions"] += 1
                    self.events[-1] = self.events[-1][:6] + lost
                else:  # a planned stop saves first: nothing is lost
                    self.m["planned_stops"] += 1
                    self.durable, self.pending = (self.progress, self.m["train_time"]), None
                    self.stall_left, self.to_ckpt = 0.0, c.interval
            try:
                yield from self.recover(cause)
                cause = None
            except _Restart as r:
                cause = r.cause

    def _final_save(self):
        """The budget is trained: save it (a checkpoint stall no failure interrupts any more)."""
        env, c = self.env, self.c
        self.running = False
        self._enter("final_checkpoint")
        end = env.now + c.ckpt.save
        while env.now < end:
            try:
                yield env.timeout(end - env.now)
            except simpy.Interrupt:
                pass
        self.m["checkpoint_stall"] += c.ckpt.save
        self.m["checkpoints"] += 1
        self.finished_at = env.now
        self._enter("done")

    def recover(self, cause):
        """The recovery phases after a stop, timed as one wait (a failure that strikes the job
        ends it: recovery starts over; other news waits for the restart)."""
        c, rec, env = self.c, self.c.cfg.recovery, self.env
        if cause[0] == "maintenance":
            name = "planned"
            phases = [("maintenance", c.ckpt.save + c.model.planned.downtime)]
        else:
            name = cause[1].name
            phases = [("detection", rec.watchdog_timeout if cause[1].detection == "hang" else rec.fail_stop_detection),
                      ("diagnosis", rec.diagnosis)]
        ready = env.now + sum(d for _, d in phases)
        wait = self._wait_for_servers(ready)
        self.refill_at = ready + wait                # from then on the new servers are the job's (and can fail)
        phases += [("waiting_for_servers", wait), ("reschedule", rec.reschedule),
                   ("process_start", rec.process_start), ("nccl_init", rec.nccl_init),
                   ("checkpoint_load", c.ckpt.load)]
        begin = env.now
        end = begin + sum(d for _, d in phases)
        self.open_recovery = (phases, begin, name)   # charged up to the horizon if it ends first
        while env.now < end:
            try:
                yield env.timeout(end - env.now)
            except simpy.Interrupt as i:
                if i.cause[0] == "failure" and i.cause[2]:
                    self.open_recovery = None
                    self._account(phases, begin, env.now, name)
                    raise _Restart(i.cause)
        self.open_recovery = None
        self._account(phases, begin, end, name)
        self.vacant.clear()
        self.refill_at = math.inf
        self._set_rate()

    def _account(self, phases, begin: float, until: float, cause: str) -> None:
        """Charge the phases that ran in [begin, until) to the downtime figures (and intervals)."""
        t = begin
        for name, d in phases:
            if t >= until:
                break
            if d > 0:
                self._enter(name, cause, at=t)
                spent = min(d, until - t)
                self.m[f"down_{name}"] += spent
                t += spent

    def _wait_for_servers(self, now: float) -> float:
        """Time from `now` until enough servers are healthy: the whole job (spares policy) or one
        replica (elastic); sets the replicas the job restarts with."""
        c = self.c
        while self.unavailable and self.unavailable[0] <= now:
            heapq.heappop(self.unavailable)
        pool = c.servers + c.spares
        healthy = pool - len(self.unavailable)
        need = c.servers
        if c.cfg.recovery.policy == "elastic":
            self.replicas = c.steps.replicas_for(healthy)
            need = math.ceil(self.replicas * c.steps.servers_per_replica - 1e-9)
        else:
            self.replicas = c.steps.plan.dp
        if healthy >= need:
            return 0.0
        returns = sorted(self.unavailable)
        return returns[need - healthy - 1] - now

    def run(self) -> TrialResult:
        env = self.env
        job = env.process(self.job())
        env.process(self.inject(job))
        # a token budget ends the campaign when trained, or at the horizon if that comes first
        env.run(until=env.any_of([job, env.timeout(self.c.duration)]) if self.c.budget is not None
                else self.c.duration)
        end = env.now
        if self.running and self.finished_at is None:
            self.advance(end)
        if self.open_recovery is not None:
            self._account(*self.open_recovery[:2], end, self.open_recovery[2])
        self._enter("end")
        m, c = self.m, self.c
        wall = self.finished_at if self.finished_at is not None else end
        m.update(trial=self.index, wall_time=wall, tokens=self.progress,
                 useful_time=m["train_time"], ettr=m["train_time"] / wall if wall > 0 else 0.0,
                 goodput=self.progress / wall if wall > 0 else 0.0,
                 relative_goodput=self.progress / wall / (c.tokens_per_step / c.step_time) if wall > 0 else 0.0,
                 finished=self.finished_at is not None if c.budget is not None else None,
                 **{f"failures_{k}": v for k, v in self.by_cause.items()})
        return TrialResult(m, self.events, self.intervals)

