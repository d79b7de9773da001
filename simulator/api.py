"""`simulate`: a scenario in, a `Result` out. The one function the CLI and notebooks call.

    scenario --load--> Scenario --compile--> Job --+--> simulate_step --> Result
                                 system --build--> Cluster
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import time
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pandas as pd
import simpy

from . import __version__
from .analysis import FLOPS_FORMULA, Result, Tables
from .config import (ConfigError, DoesNotFitError, ImplausibleResult, Scenario, SystemConfig, load_scenario,
                     scenario_to_dict)
from .config.frameworks import FRAMEWORKS
from .engine.collection import sparing
from .engine import (BREAKDOWN_KEYS, RECORD_COLUMNS, CountingEnvironment, RecordLog, StepSimulation,
                     simulate_steps_together)
from .network import ALGORITHMS, BUS_FACTOR, Collectives, Fabric, Protocol, Tuning
from .hardware import Accelerator, Calibration, RooflinePredictor, load_accelerator, load_calibration
from .hardware.compute import compute_notes, overlap_slowdown
from .topology import system_cluster, topology_graph
from .workload import Job, compile_job
from .workload.costs import CAST_KINDS, sixteen_bit
from .workload.parameters import parameter_counts


@dataclass
class Prepared:
    """A scenario checked end to end short of simulating: plan, accelerator, memory."""

    scenario: Scenario
    job: Job
    accelerator: Accelerator
    peak_stage: int

    @property
    def peak_memory(self) -> float:
        return sum(self.job.memory[self.peak_stage].values())

    @property
    def fits(self) -> bool:
        return self.peak_memory <= self.accelerator.hbm_capacity

    @property
    def warnings(self) -> list[str]:
        """What the prediction takes from elsewhere: the model's unmodelled keys, and the
        accelerator's missing kernel measurements."""
        sc = self.scenario
        flash = sc.training.use_flash_attn and sc.model.layers is None   # a transformer with fused attention
        return [*sc.model.unmodelled, *compute_notes(self.accelerator, load_calibration(), sc.training.precision,
                                                     sc.model.head_size if flash else None,
                                                     sc.training.fp8_attention),
                *FRAMEWORKS[sc.training.framework].notes]

    @property
    def parallelism(self) -> dict:
        """The whole plan, as `validate` echoes it and summary.json keeps it."""
        plan, tr = self.job.plan, self.scenario.training
        return {"world": plan.world, "tp": plan.tp, "cp": plan.cp, "ep": plan.ep, "pp": plan.pp, "dp": plan.dp,
                "virtual_stages": plan.chunks, "schedule": plan.schedule, "sequence_parallel": plan.sequence_parallel,
                "tp_comm_overlap": self.scenario.parallelism.tp_comm_overlap, "recompute": tr.recompute_granularity,
                "zero_stage": plan.zero_stage,
                "micro_batch_size": plan.micro_batch_size, "microbatches": plan.num_microbatches,
                "layers_per_stage": list(plan.layers_per_stage)}

    @property
    def parameters(self) -> dict:
        return parameter_counts(self.scenario.model, self.job.plan)

    def check_fits(self) -> None:
        if not self.fits:
            raise DoesNotFitError(self.job.plan.representative(self.peak_stage), self.peak_memory,
                                  self.accelerator.hbm_capacity, self.job.memory[self.peak_stage])


def prepare(scenario: str | Path | dict | Scenario) -> Prepared:
    """Load, compile and check a scenario (ConfigError on any mistake) without simulating."""
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    job = compile_job(sc)
    accel = load_accelerator(sc.system.accelerator)
    accel.peak(sc.training.precision)  # the accelerator must support the precision
    if sc.training.precision == "fp8":
        accel.check_fp8_recipe(sc.training.fp8_recipe)
    check_algorithms(sc.system.collective_algorithms, "scenario.system.collective_algorithms")
    totals = [sum(m.values()) for m in job.memory]
    return Prepared(sc, job, accel, max(range(len(totals)), key=totals.__getitem__))


def check_algorithms(algorithms: dict[str, str], where: str) -> None:
    for op, alg in algorithms.items():
        if op not in ALGORITHMS:
            raise ConfigError(f"{where}.{op}", op, ", ".join(ALGORITHMS))
        if alg != "auto" and alg not in ALGORITHMS[op]:
            raise ConfigError(f"{where}.{op}", alg, ", ".join(("auto",) + ALGORITHMS[op]))


def tuning(calib: Calibration) -> Tuning:
    """The network constants of a calibration, as the collectives take them."""
    return Tuning({name: Protocol(**p) for name, p in calib.protocols.items()}, calib.nvls_bandwidth_fraction)


def load_system(source: str | Path | dict) -> SystemConfig:
    """The `system` of a scenario file, or of a file (or mapping) holding only a `system:` section."""
    from .config.loader import read_mapping
    from .config.strict import load_dataclass
    data = read_mapping(Path(source), "system file") if not isinstance(source, dict) else source
    if "model" in data:
        return load_scenario(source).system
    if set(data) != {"system"}:
        raise ConfigError(str(source), sorted(data), "a scenario, or a mapping with only a 'system' key")
    base = Path(source).resolve().parent if not isinstance(source, dict) else Path(".")
    system = load_dataclass(SystemConfig, data["system"], "system")
    if system.topology.file:
        f = Path(system.topology.file)
        system = dataclasses.replace(system, topology=dataclasses.replace(
            system.topology, file=str(f if f.is_absolute() else base / f)))
    return system


def load_graph(source: str | Path) -> nx.Graph:
    """The network of a scenario or system file (built), or a topology file (read): whatever
    `source` holds, judged by its suffix and keys."""
    from .config.loader import read_mapping
    from .topology import load_topology
    path = Path(source)
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        data = read_mapping(path, "topology source")
        if "model" in data or set(data) == {"system"}:
            system = load_system(path)
            return topology_graph(system, load_accelerator(system.accelerator))
    return load_topology(path)


def bench_collective(system: SystemConfig, op: str = "all_reduce", gpus: int | None = None,
                     sizes: list[float] | None = None, algorithm: str = "auto",
                     calibration: Calibration | None = None) -> pd.DataFrame:
    """nccl-tests-style figures of one collective over the first `gpus` GPUs of a system.

    One row per buffer size: time (s), algbw and busbw (bytes/s, nccl-tests definitions), and the
    algorithm used. Each size is simulated alone on an idle fabric.
    """
    if op not in ALGORITHMS:
        raise ConfigError("--op", op, ", ".join(ALGORITHMS))
    check_algorithms({op: algorithm}, "--algorithm")
    calib = calibration or load_calibration()
    accel = load_accelerator(system.accelerator)
    world = system.num_nodes * system.gpus_per_node if gpus is None else gpus
    if world < 2:
        raise ConfigError("--gpus", world, "at least 2")
    cluster = system_cluster(system, accel, world, calib.protocol_efficiency, calib.hop_latency, where="system")
    group = tuple(range(world)) if op != "send_recv" else (0, world - 1)
    sizes = sizes or [2.0**k for k in range(10, 31)]
    rows = []
    for size in sizes:
        t, algorithm_used = time_collective(cluster, calib, op, group, size, {op: algorithm})
        rows.append({"size": size, "time": t, "algbw": size / t,
                     "busbw": size / t * BUS_FACTOR[op](len(group)), "algorithm": algorithm_used})
    df = pd.DataFrame(rows)
    df.attrs["ranks"] = len(group)
    return df


def time_collective(cluster, calib: Calibration, op: str, group: tuple[int, ...], size: float,
                    algorithms: dict[str, str] | None = None) -> tuple[float, str]:
    """Seconds one collective of `size` bytes over `group` takes alone on an idle fabric, and the
    algorithm/protocol chosen ('send_recv': group is (source, destination))."""
    env = simpy.Environment()
    coll = Collectives(Fabric(env, cluster.capacity), cluster.route, cluster.path_latency,
                       cluster.node_of, tuning(calib), algorithms or {}, cluster.in_switch)
    coll.register("alone", op, group)
    env.run(coll.start("alone", op, size))
    alg, proto = coll.choose("alone", op, size)
    return env.now, f"{alg}/{proto}"


@sparing
def simulate(scenario: str | Path | dict | Scenario, *, mode: str | None = None,
             check_memory: bool = True, calibration: Calibration | None = None) -> Result:
    """Predict one training iteration.

    `scenario`: a path to a YAML/JSON scenario, a mapping of the same shape, or a loaded
    `Scenario`. `mode` overrides `simulation.mode` ('symmetric' or 'full'). Raises
    `ConfigError` for bad input and `DoesNotFitError` when a rank's memory exceeds the HBM.
    `calibration` replaces the constants of calibration.yaml (for calibration studies).
    """
    wall = time.perf_counter()
    prep = prepare(scenario)
    if check_memory:
        prep.check_fits()
    calib = calibration or load_calibration()
    cluster = system_cluster(prep.scenario.system, prep.accelerator, prep.job.world, calib.protocol_efficiency,
                             calib.hop_latency)
    step, detail = run_step(prep, cluster, calib, mode)
    return _result(prep, cluster, step, time.perf_counter() - wall, detail, calib)


@sparing
def simulate_together(scenarios: list, system: SystemConfig | str | Path | dict | None = None, *,
                      mode: str | None = None, calibration: Calibration | None = None) -> list[Result]:
    """Predict one iteration of several jobs running at once on one cluster network.

    Job i takes the next `num_nodes` servers of the shared `system` (a SystemConfig, a system or
    scenario file, or a mapping); by default the first scenario's system grown to hold every job.
    Their flows contend wherever they share links. Each Result's link and flow tables cover the
    whole shared fabric.
    """
    wall = time.perf_counter()
    preps = [prepare(s) for s in scenarios]
    if len(preps) < 2:
        raise ConfigError("scenarios", len(preps), "two or more scenarios")
    for p in preps:
        p.check_fits()
    if system is None:
        first = preps[0].scenario.system
        system = dataclasses.replace(first, num_nodes=sum(p.scenario.system.num_nodes for p in preps))
    elif not isinstance(system, SystemConfig):
        system = load_system(system)
    per_server = system.gpus_per_node
    for i, p in enumerate(preps):
        if p.scenario.system.gpus_per_node != per_server:
            raise ConfigError(f"scenarios[{i}].system.gpus_per_node", p.scenario.system.gpus_per_node,
                              f"{per_server}, the shared system's")
    calib = calibration or load_calibration()
    accel = load_accelerator(system.accelerator)
    cluster = system_cluster(system, accel, system.num_nodes * per_server, calib.protocol_efficiency,
                             calib.hop_latency, where="system")
    fabric = Fabric(CountingEnvironment(), cluster.capacity)
    sims, views, first = [], [], 0
    for i, p in enumerate(preps):
        views.append(cluster.view(first, p.job.world))
        first += p.scenario.system.num_nodes * per_server
        sims.append(step_simulation(p, views[-1], calib, mode, fabric, name=f"job{i}"))
    steps = simulate_steps_together(sims)
    wall = time.perf_counter() - wall
    return [_result(p, v, s, wall, calib=calib) for p, v, s in zip(preps, views, steps)]


@sparing
def simulate_campaign(scenario: str | Path | dict | Scenario, *, days: float | None = None,
                      trials: int | None = None, mode: str | None = None, interval_study: bool = False,
                      progress=None, store: str | Path | None = None):
    """Predict a training campaign with failures (the scenario's `reliability` section).

    Runs `trials` independent Monte Carlo trials (default reliability.trials) of `days` of
    wall-clock time (default reliability.duration, or until reliability.token_budget is trained).
    Each health state's iteration time comes from the step simulation (`mode` as in `simulate`),
    memoized. Returns a CampaignResult: `summary` (means with 95 % confidence intervals),
    `tables` (trials, events, intervals, states), `to_dir(out)`. `interval_study` adds ETTR at
    0.25-4x the checkpoint interval (50 trials each) for the plot. With `store` (a file path),
    every finished trial is saved there at once, and a rerun of the same campaign picks up the
    trials already saved instead of running them again.
    """
    from .analysis.campaign import CampaignResult
    from .reliability import Campaign, StepTimes, run_trials
    from .reliability.montecarlo import interval_study as study, summarize
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if days is not None and not (0 < days <= 20 * 365):
        raise ConfigError("--days", days, "a number of days above 0 and at most 7300")
    if trials is not None and not (1 <= trials <= 1_000_000):
        raise ConfigError("--trials", trials, "an integer from 1 to 1,000,000")
    campaign = Campaign(sc, StepTimes(sc, mode), duration=days * 86400 if days else None, trials=trials)
    run = run_trials(campaign, progress=progress, store=Path(store) if store else None)
    summary = summarize(run)
    tables = {"trials": run.trials, "events": run.events, "intervals": run.intervals,
              "states": pd.DataFrame(campaign.steps.states())}
    return CampaignResult(summary, tables, study(campaign) if interval_study else None)


def step_simulation(prep: Prepared, cluster, calib: Calibration, mode: str | None,
                    fabric: Fabric | None = None, name: str = "") -> StepSimulation:
    sc = prep.scenario
    predictor = RooflinePredictor(prep.accelerator, calib, sc.training.precision)
    return StepSimulation(prep.job, cluster, predictor.time, tuning(calib), mode or sc.simulation.mode,
                          sc.system.collective_algorithms, fabric=fabric, name=name,
                          side_slowdown=lambda sms: overlap_slowdown(sms, prep.accelerator, calib))


# Deep batches. Identical micro-batches through a pipeline in its steady state each add the same
# time, bytes and breakdown: every figure of the iteration is affine in the number of
# micro-batches m. Batches of at least EXTRAPOLATE_ABOVE x pp micro-batches are simulated at
# m = k x pp for k in EXTRAPOLATE_FROM; when the three agree on one line (to float rounding) the
# figures are extrapolated along it, else the batch is simulated whole. Op records, flows and the
# trace then come from the whole simulation, run when first asked for.
EXTRAPOLATE_FROM = (4, 5, 6)
EXTRAPOLATE_ABOVE = 16
AFFINE_TOLERANCE = 1e-10   # second differences, relative to the figure's size


def run_step(prep: Prepared, cluster, calib: Calibration, mode: str | None):
    """The iteration's StepResult, and a function that returns one with every op record (the
    same, or the whole simulation when the figures were extrapolated)."""
    plan = prep.job.plan
    unit, m = plan.pp, plan.num_microbatches

    @functools.cache
    def whole():
        return step_simulation(prep, cluster, calib, mode).run()

    if m < EXTRAPOLATE_ABOVE * unit or m % unit:
        step = whole()
        return step, whole
    points = [k * unit for k in EXTRAPOLATE_FROM]
    steps = [step_simulation(_with_microbatches(prep, k), cluster, calib, mode).run() for k in points]
    step = _extrapolate(points, steps, m)
    return (whole() if step is None else step), whole


def _with_microbatches(prep: Prepared, m: int) -> Prepared:
    sc, plan = prep.scenario, prep.job.plan
    training = dataclasses.replace(sc.training, global_batch_size=m * sc.training.micro_batch_size * plan.dp)
    return prepare(dataclasses.replace(sc, training=training))


def _extrapolate(points: list[int], steps: list, m: int):
    """The StepResult at `m` micro-batches on the line through three equally spaced ones, or
    None when they are not on one line (or simulated different ranks)."""
    a, b, c = steps
    if not (a.simulated_ranks == b.simulated_ranks == c.simulated_ranks and a.mode == b.mode == c.mode):
        return None
    scale = (m - points[2]) / (points[2] - points[1])

    def line(x: float, y: float, z: float) -> float:
        if abs((z - y) - (y - x)) > AFFINE_TOLERANCE * max(abs(x), abs(y), abs(z), 1e-12):
            raise ValueError("not affine")
        return z + scale * (z - y)

    try:
        t = line(a.iteration_time, b.iteration_time, c.iteration_time)
        breakdown = {r: {k: line(a.breakdown[r][k], b.breakdown[r][k], v) for k, v in c.breakdown[r].items()}
                     for r in c.breakdown}
        link_bytes = [line(x, y, z) for x, y, z in zip(a.link_bytes, b.link_bytes, c.link_bytes)]
    except ValueError:
        return None
    return dataclasses.replace(c, iteration_time=t, breakdown=breakdown, link_bytes=link_bytes, records=RecordLog(),
                               transfers=[], events=a.events + b.events + c.events,
                               fabric_recomputations=a.fabric_recomputations + b.fabric_recomputations +
                               c.fabric_recomputations, extrapolated_from=tuple(points))


def fp8_effect(prep: Prepared, calib: Calibration, stage: int) -> dict | None:
    """Under fp8, per iteration on one rank of `stage`: the compute time its fp8 GEMMs save
    against the same GEMMs in bf16, and the time the casts they need add (each op priced alone,
    as the predictor prices it; overlap and waiting are left out). None at other precisions."""
    if prep.scenario.training.precision != "fp8":
        return None
    fp8 = RooflinePredictor(prep.accelerator, calib, "fp8")
    bf16 = RooflinePredictor(prep.accelerator, calib, "bf16")
    saved = added = 0.0
    program = next(p for p in prep.job.programs if p.stage == stage)
    for ins in program.instructions:
        for op in getattr(ins, "ops", ()):
            if op.kind == "matmul":
                saved += bf16.time(sixteen_bit(op)) - fp8.time(op)
            elif op.kind in CAST_KINDS:
                added += fp8.time(op)
    return {"gemm_time_saved_s": saved, "cast_time_added_s": added}


def _result(prep: Prepared, cluster, step, wall: float, detail=None, calib: Calibration | None = None) -> Result:
    """`detail()` returns the StepResult with every op record and transfer (default: `step`)."""
    detail = detail or (lambda: step)
    sc, job, accel = prep.scenario, prep.job, prep.accelerator
    plan, t = job.plan, step.iteration_time
    peak = accel.peak(sc.training.precision)
    stage_of = {r: plan.stage_of(r) for r in step.simulated_ranks}
    per_stage = {}
    for r, b in step.breakdown.items():
        per_stage.setdefault(stage_of[r], b)  # ranks of a stage agree; keep the first
    critical = min(per_stage, key=lambda s: (per_stage[s]["pipeline_bubble"], s))

    used = [i for i, b in enumerate(step.link_bytes) if b > 0]
    links = pd.DataFrame({
        "link": used,
        "src": [cluster.links[i][0] for i in used],
        "dst": [cluster.links[i][1] for i in used],
        "kind": [cluster.kind[i] for i in used],
        "bandwidth": [cluster.bandwidth[i] for i in used],
        "bytes": [step.link_bytes[i] for i in used],
    })
    links["utilization"] = links["bytes"] / (links["bandwidth"] * t)
    links = links.sort_values("utilization", ascending=False, kind="stable").reset_index(drop=True)
    memory = pd.DataFrame([{"stage": s, **m, "total": sum(m.values())} for s, m in enumerate(job.memory)])
    busiest = links.groupby("kind", sort=False).head(TRACE_LINKS_PER_KIND)["link"]   # links is busiest first
    top = {int(i): f"{cluster.links[i][0]} -> {cluster.links[i][1]} ({cluster.kind[i]})" for i in busiest}
    series = lambda: link_utilization(detail().transfers, top, cluster.bandwidth)  # noqa: E731 (for the trace only)
    stages = pd.DataFrame([{"stage": s, **per_stage[s]} for s in sorted(per_stage)])

    summary = {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "clustersim_version": __version__,
        "scenario": sc.name,
        "model": sc.model.name,
        "accelerator": accel.name,
        "framework": sc.training.framework,
        "iteration_time_s": t,
        "tokens_per_s": job.tokens / t,
        "samples_per_s": plan.global_batch_size / t,
        "model_flops_per_iteration": job.model_flops,
        "tflops_per_gpu": job.model_flops / t / plan.world / 1e12,
        "mfu": job.model_flops / (t * plan.world * peak),
        "mfu_peak_flops_per_gpu": peak,
        "flops_formula": FLOPS_FORMULA,
        "critical_stage": critical,
        "breakdown_s": {k: per_stage[critical][k] for k in BREAKDOWN_KEYS},
        "fp8": fp8_effect(prep, calib or load_calibration(), critical),
        "parallelism": prep.parallelism,
        "parameters": prep.parameters,
        "warnings": prep.warnings,
        "memory": {"capacity_bytes": accel.hbm_capacity, "peak_bytes": prep.peak_memory,
                   "peak_stage": prep.peak_stage, "fits": prep.fits,
                   "stages": [{**m, "total": sum(m.values())} for m in job.memory]},
        "top_links": links.head(5)[["src", "dst", "kind", "bytes", "utilization"]].to_dict("records"),
        "simulation": {"mode": step.mode, "simulated_ranks": len(step.simulated_ranks),
                       "events": step.events, "fabric_recomputations": step.fabric_recomputations,
                       "extrapolated_from_microbatches": list(step.extrapolated_from) or None,
                       "wall_time_s": wall},
        "resolved_scenario": scenario_to_dict(sc),
    }
    check_plausible(summary, per_stage.values())
    tables = Tables({"ops": lambda: ops_table(detail()), "flows": lambda: flows_table(detail().transfers),
                     "links": links, "memory": memory, "stages": stages})
    return Result(summary, tables, _trace_args=(lambda: detail().op_records(), cluster.node_of,
                                                step.multiplicity, series))


TRACE_LINKS_PER_KIND = 4  # the busiest links of each kind (nvlink, pcie, infiniband, ...) get counter tracks
SUMMARY_SCHEMA_VERSION = 1  # of summary.json and the tables (docs/outputs.md); raised when a key or column changes meaning


def check_plausible(summary: dict, stage_breakdowns=()) -> None:
    """Refuse to report a number that cannot be right: an iteration time or breakdown that is not
    finite and positive, an MFU above 100 % (more useful FLOPs than the hardware has), or a stage
    whose breakdown does not add up to the iteration (each second of a rank falls in exactly one
    category, so a stage's compute alone can never outlast the iteration)."""
    t = summary["iteration_time_s"]
    if not (math.isfinite(t) and t > 0):
        raise ImplausibleResult(f"internal error: iteration time {t!r} s for scenario {summary['scenario']!r}")
    for k, v in summary["breakdown_s"].items():
        if not (math.isfinite(v) and v >= -1e-9 * t):
            raise ImplausibleResult(f"internal error: breakdown {k} = {v!r} s of a {t:.6g} s iteration")
    if not summary["mfu"] <= 1 + 1e-9:
        raise ImplausibleResult(f"internal error: MFU {summary['mfu']!r} exceeds 100 % "
                                f"({summary['model_flops_per_iteration']:.4g} model FLOPs in {t:.6g} s)")
    for b in stage_breakdowns:
        if not abs(sum(b.values()) - t) <= 1e-6 * t:
            raise ImplausibleResult(f"internal error: a stage's breakdown adds up to {sum(b.values()):.9g} s, "
                                    f"not the {t:.9g} s iteration ({', '.join(f'{k} {v:.6g}' for k, v in b.items())})")


def ops_table(step) -> pd.DataFrame:
    """One row per op record of a StepResult, by rank and start time, with its duration; spelt out
    a chunk at a time, so that millions of records are never all tuples at once."""
    records, chunks = step.op_records(), []
    while chunk := list(itertools.islice(records, OPS_CHUNK)):
        chunks.append(pd.DataFrame(chunk, columns=list(RECORD_COLUMNS)))
    ops = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=list(RECORD_COLUMNS))
    ops["duration"] = ops["end"] - ops["start"]
    return ops.sort_values(["rank", "start", "end"], kind="stable").reset_index(drop=True)


OPS_CHUNK = 200_000


FLOW_COLUMNS = ("op", "algorithm", "phase", "communicator", "ranks", "start", "end", "duration", "bytes_per_flow",
                "flows", "links")


def flows_table(transfers: list[tuple]) -> pd.DataFrame:
    """One row per transfer (a flow class: one collective phase or pipeline send, with the
    transfers of its class, in symmetric mode): what it is, which group, when, bytes per flow, flows, links."""
    rows = []
    for (op, algorithm, key, phase), b, e, n, fp in transfers:
        if key[0] == "p2p":           # a pipeline send: (p2p, source, destination)
            communicator, ranks = "pp", [key[1], key[2]]
        else:                         # (communicator, its ranks)
            communicator, ranks = key[0], list(key[1])
        rows.append((op, algorithm, phase, communicator, ranks, b, e, e - b, n, fp.flows, len(fp.links)))
    return pd.DataFrame(rows, columns=list(FLOW_COLUMNS))


def link_utilization(transfers, names: dict[int, str], bandwidth: list[float]) -> dict[str, list[tuple[float, float]]]:
    """Step functions of utilization for the named links, each transfer at its average rate."""
    changes: dict[int, list[tuple[float, float]]] = {l: [] for l in names}
    for _, begin, end, nbytes, fp in transfers:
        if end <= begin:
            continue
        for l, m in zip(fp.links, fp.mult):
            if l in changes:
                rate = nbytes * m / (end - begin) / bandwidth[l]
                changes[l] += [(begin, rate), (end, -rate)]
    series = {}
    for l, deltas in changes.items():
        level, points = 0.0, []
        for t, d in sorted(deltas):
            level += d
            if points and points[-1][0] == t:
                points[-1] = (t, max(level, 0.0))
            else:
                points.append((t, max(level, 0.0)))
        series[names[l]] = points
    return series
