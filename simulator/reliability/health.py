"""Iteration time of each health state of the cluster, from the step simulation (memoized).

A health state is what the campaign changes: data-parallel replicas given up (elastic recovery),
network faults in place (a spine or cable down, a cable at reduced rate), slow GPUs. Each distinct
state is simulated once, with the fault in place rather than as a multiplier:
- fewer replicas: the scenario with fewer servers and a proportionally smaller global batch (the
  micro-batches per replica stay), compiled and simulated anew;
- network faults: a removed element (a switch, an edge's last cable) rebuilds and re-routes the
  topology; a narrowed one (one cable of an aggregated edge down or slow) only lowers link
  capacities in a re-run, reusing the routes;
- a slow GPU (or a slow server: its GPUs, in the stages they hold): the iteration re-run with
  that rank's compute slowed (`StepSimulation.rerun`),
  reusing the routes and flow footprints. Pipelines meet only at data-parallel collectives, so
  with slow GPUs in several pipelines the slowest pipeline sets the pace: the state's time is the
  largest of the single-straggler times. Slowdowns are memoized per pipeline stage and rounded to
  2 %, which bounds the number of step simulations a campaign needs.
A network fault that leaves some GPUs unable to reach others (both spines of a two-spine fabric
down) stalls the job: its iteration time is infinite until a repair.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..api import step_simulation, prepare
from ..config import ConfigError, Scenario
from ..hardware import load_calibration
from ..topology import build_cluster, system_cluster, topology_graph
from .components import Inventory

SLOWDOWN_STEP = 0.02


@dataclass(frozen=True)
class Health:
    replicas_lost: int = 0
    faults: tuple = ()            # sorted ((fault key, capacity left), ...)
    slow: tuple = ()              # sorted ((stages, slowdown), ...): a slow GPU or server, per episode


class StepTimes:
    """`time(state)` -> (iteration seconds, tokens per iteration) of the scenario's job."""

    def __init__(self, scenario: Scenario, mode: str | None = None, calibration=None):
        self.scenario = scenario
        self.mode = mode
        self.calib = calibration or load_calibration()
        prep = prepare(scenario)
        prep.check_fits()
        self.prep = prep
        self.plan = prep.job.plan
        self.graph = topology_graph(scenario.system, prep.accelerator)
        self.inventory = Inventory(self.graph, scenario.system.num_nodes)
        self._sims: dict[tuple, tuple] = {}
        self._times: dict[tuple, float] = {}
        self._states: dict[Health, tuple[float, int]] = {}
        self._valid_dp: dict[int, bool] = {}

    @property
    def simulations(self) -> int:
        """Step simulations run so far (one per distinct state and straggler)."""
        return len(self._times)

    def states(self) -> list[dict]:
        """Each state simulated: replicas given up, network faults, straggler, iteration time."""
        return [{"replicas_lost": k[0], "network_faults": str(k[1]), "straggler": str(k[2]), "iteration_time_s": t}
                for k, t in self._times.items()]

    @property
    def servers_per_replica(self) -> float:
        p = self.plan
        return p.tp * p.cp * p.pp / self.scenario.system.gpus_per_node

    def replicas_for(self, servers: int) -> int:
        """Data-parallel replicas an elastic restart takes on `servers` healthy servers: the most
        that fit and form a valid plan (whole servers, expert parallelism dividing them, memory);
        when none fits, the next valid count above (the job waits for its servers)."""
        fit = min(self.plan.dp, int(servers // self.servers_per_replica + 1e-9))
        for dp in [*range(fit, 0, -1), *range(fit + 1, self.plan.dp + 1)]:
            if self._valid(dp):
                return dp
        return self.plan.dp  # pragma: no cover - the full size is always valid

    def _valid(self, dp: int) -> bool:
        ok = self._valid_dp.get(dp)
        if ok is None:
            try:
                if dp != self.plan.dp:
                    prepare(self.shrunk(self.plan.dp - dp)).check_fits()
                ok = True
            except ConfigError:
                ok = False
            self._valid_dp[dp] = ok
        return ok

    def healthy(self) -> tuple[float, int]:
        return self.time(Health())

    def time(self, state: Health) -> tuple[float, int]:
        hit = self._states.get(state)
        if hit is None:
            hit = self._states[state] = self._state_time(state)
        return hit

    def _state_time(self, state: Health) -> tuple[float, int]:
        sim, job = self._sim(state.replicas_lost, state.faults)
        if sim is None:  # the faults cut the fabric in two: no iteration completes until a repair
            return math.inf, job.tokens
        base_key = (state.replicas_lost, state.faults)
        t = self._time(base_key, sim, None)
        for stages, factor in state.slow:
            t = max(t, self._time(base_key, sim, (stages, factor)))
        return t, job.tokens

    @staticmethod
    def rounded(factor: float) -> float:
        return round(round(factor / SLOWDOWN_STEP) * SLOWDOWN_STEP, 6)

    def _time(self, base_key, sim, slow) -> float:
        key = base_key + (slow,)
        t = self._times.get(key)
        if t is None:
            slowdown = {}
            if slow is not None:  # a slow server may hold ranks of several stages of one pipeline
                stages, factor = slow
                slowdown = {sim.plan.representative(stage): factor for stage in stages}
            t = self._times[key] = sim.rerun(slowdown, self._capacity(sim, base_key[1])).iteration_time
        return t

    def _capacity(self, sim, faults: tuple) -> list[float] | None:
        """Link capacities with the narrowed edges of `faults` (None: as built)."""
        _, _, scale = self.inventory.changes(faults)
        if not scale:
            return None
        cl = sim.cluster
        capacity = list(cl.capacity)
        for (u, v), f in scale.items():
            for link in ((u, v), (v, u)):
                if link in cl.link_id:
                    capacity[cl.link_id[link]] *= max(f, 0.0)
        return capacity

    def _sim(self, replicas_lost: int, faults: tuple):
        """The step simulation of the job with `replicas_lost` fewer replicas on the topology with
        the faults' removals; narrowed links are only capacities, applied at each run, so they
        reuse the routes of the intact fabric."""
        removed_nodes, removed_edges, _ = self.inventory.changes(faults)
        key = (replicas_lost, tuple(sorted(removed_nodes)), tuple(sorted(removed_edges)))
        hit = self._sims.get(key)
        if hit is None:
            sc = self.scenario
            prep = self.prep
            if replicas_lost:
                sc = self.shrunk(replicas_lost)
                prep = prepare(sc)
            eff, hop = self.calib.protocol_efficiency, self.calib.hop_latency
            try:
                if removed_nodes or removed_edges:
                    graph = (topology_graph(sc.system, prep.accelerator) if replicas_lost else self.graph).copy()
                    graph.remove_edges_from(e for e in removed_edges if graph.has_edge(*e))
                    graph.remove_nodes_from(n for n in removed_nodes if n in graph)
                    cluster = build_cluster(graph, prep.job.world, eff, hop)
                else:   # the fabric as built (a regular tree without its graph)
                    cluster = system_cluster(sc.system, prep.accelerator, prep.job.world, eff, hop)
                sim = step_simulation(prep, cluster, self.calib, self.mode)
                sim.set_up()   # routes every flow: a cut fabric shows here
            except ConfigError:
                if not faults:
                    raise
                sim = None
            hit = self._sims[key] = (sim, prep.job)
        return hit

    def shrunk(self, replicas_lost: int) -> Scenario:
        """The scenario with `replicas_lost` fewer data-parallel replicas (ConfigError if the plan
        does not allow it: expert parallelism, a torus of fixed size)."""
        sc, p = self.scenario, self.plan
        dp = p.dp - replicas_lost
        if dp < 1:
            raise ConfigError("scenario.reliability.recovery.policy", "elastic", "at least one replica left")
        gpus = p.tp * p.cp * p.pp * dp
        per = sc.system.gpus_per_node
        if gpus % per:
            raise ConfigError("scenario.reliability.recovery.policy", "elastic",
                              f"replicas that fill whole servers ({gpus} GPUs on {per}-GPU servers)")
        training = dataclasses.replace(sc.training, global_batch_size=p.micro_batch_size * p.num_microbatches * dp)
        par = dataclasses.replace(sc.parallelism, data_parallel_size=None)
        system = dataclasses.replace(sc.system, num_nodes=gpus // per)
        return dataclasses.replace(sc, training=training, parallelism=par, system=system)
