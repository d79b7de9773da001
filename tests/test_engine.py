from pathlib import Path

import pytest

from simulator import simulate
from simulator.config import load_scenario
from simulator.hardware import RooflinePredictor, load_accelerator, load_calibration
from simulator.workload import Compute, compile_job

from .conftest import small_gpt


def compute_seconds(scenario, stage=0, phases=("forward", "backward", "recompute", "optimizer")):
    """Sum of the predictor's time over a stage program's compute instructions."""
    sc = load_scenario(scenario)
    job = compile_job(sc)
    pred = RooflinePredictor(load_accelerator(sc.system.accelerator), load_calibration(), sc.training.precision)
    return sum(pred.time(op)
               for ins in job.programs[stage].instructions if isinstance(ins, Compute) and ins.phase in phases
               for op in ins.ops), job


def test_pure_data_parallel_is_compute_plus_ring_all_reduce():
    """DP only, no overlap: iteration = compute + launch + 2(n-1)/n S / B + 2(n-1) step latencies."""
    sc = small_gpt(parallelism={"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 1},
                   system={"num_nodes": 1, "gpus_per_node": 8})
    compute, job = compute_seconds(sc)
    calib = load_calibration()
    n = 8
    S = 4 * sum(job.memory[0][k] for k in ("weights",)) / 2  # fp32 gradients of every parameter
    bw = load_accelerator("A100-80GB").scale_up_bandwidth * calib.protocol_efficiency["nvlink"]
    simple = calib.protocols["simple"]  # large gradients: the Simple protocol wins
    alpha = 2 * calib.hop_latency["nvlink"] + simple["step_latency"]
    ring = simple["launch_latency"] + 2 * (n - 1) / n * S / bw + 2 * (n - 1) * alpha
    r = simulate(sc)
    assert r.iteration_time == pytest.approx(compute + ring, rel=1e-9)
    assert r.summary["breakdown_s"]["dp_comm"] == pytest.approx(ring, rel=1e-9)


def test_1f1b_bubble_matches_closed_form():
    """With uniform stages and negligible communication, each stage idles (p-1)/(m+p-1)."""
    p, m = 4, 12
    sc = small_gpt(model={"vocab_size": 128, "num_hidden_layers": 8, "hidden_size": 8192, "num_attention_heads": 64},
                   training={"micro_batch_size": 1, "global_batch_size": m, "seq_length": 2048},
                   parallelism={"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": p},
                   system={"num_nodes": 1, "gpus_per_node": 4})
    r = simulate(sc)
    stages = r.tables["stages"]
    busy_end = r.iteration_time - stages["optimizer"]
    fraction = stages["pipeline_bubble"] / busy_end
    expected = (p - 1) / (m + p - 1)
    assert fraction.max() == pytest.approx(expected, rel=0.03)
    assert fraction.min() == pytest.approx(expected, rel=0.03)


@pytest.mark.parametrize("over", [
    {},
    {"model": {"tie_word_embeddings": True}},
    {"parallelism": {"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 4}},
    {"parallelism": {"tensor_model_parallel_size": 4, "pipeline_model_parallel_size": 1, "zero_stage": 1}},
    {"system": {"num_nodes": 4, "gpus_per_node": 2}, "training": {"global_batch_size": 64}},
    {"parallelism": {"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 2, "zero_stage": 3}},
    {"parallelism": {"tensor_model_parallel_size": 2, "pipeline_model_parallel_size": 1, "zero_stage": 1,
                     "overlap_grad_reduce": True, "overlap_param_gather": True, "ddp_bucket_size": 10_000_000}},
    # a side-stream data-parallel all-reduce beside tensor-parallel ones on the same NVLinks: the two
    # classes' footprints are equal (one link class, the same flows) yet belong to different groups
    {"parallelism": {"tensor_model_parallel_size": 2, "pipeline_model_parallel_size": 1, "overlap_grad_reduce": True},
     "training": {"micro_batch_size": 1, "global_batch_size": 4, "seq_length": 512},
     "system": {"num_nodes": 1, "gpus_per_node": 4, "topology": {"nic_bandwidth": "100 Gb/s"}}},
    # TP collectives pipelined with the GEMMs beside them (Megatron --tp-comm-overlap)
    {"parallelism": {"tensor_model_parallel_size": 2, "pipeline_model_parallel_size": 2, "sequence_parallel": True,
                     "tp_comm_overlap": True}},
    {"parallelism": {"tensor_model_parallel_size": 2, "pipeline_model_parallel_size": 2, "context_parallel_size": 2,
                     "sequence_parallel": True, "tp_comm_overlap": True}},
    # pipeline sends and data-parallel rings over spines, leaves of 2 servers
    {"parallelism": {"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 4},
     "system": {"num_nodes": 8, "gpus_per_node": 2, "topology": {"nodes_per_leaf": 2, "spines": 2}},
     "training": {"global_batch_size": 64}},
    # a three-tier Clos with a 2:1 core: pods of 4 servers, every rail's flows share the pod spines
    {"system": {"num_nodes": 16, "gpus_per_node": 4,
                "topology": {"builder": "three_tier_clos", "nodes_per_leaf": 2, "nodes_per_pod": 4, "spines": 2,
                             "core_switches": 3, "core_oversubscription": 2.0}},
     "training": {"global_batch_size": 64}},
    # the same with every NIC of a server on one leaf (not rail-optimized)
    {"system": {"num_nodes": 16, "gpus_per_node": 4,
                "topology": {"builder": "three_tier_clos", "rail_optimized": False, "nodes_per_leaf": 2,
                             "nodes_per_pod": 4, "spines": 2, "core_switches": 3}},
     "training": {"global_batch_size": 64}},
    # two GPUs per NIC: the mirrored group behind the same NICs takes the same spines, and each
    # group's algorithm is chosen by its own flows (as in full mode), not with the mirrored load
    {"system": {"accelerator": "H100-SXM", "num_nodes": 6, "gpus_per_node": 4,
                "topology": {"nic_bandwidth": "200 Gb/s", "nodes_per_leaf": 3, "spines": 3, "oversubscription": 2.0,
                             "nics_per_node": 2}},
     "training": {"global_batch_size": 48}},
])
def test_symmetric_mode_equals_full_mode(over):
    """Simulating one rank per class gives the same iteration as simulating every rank."""
    sc = small_gpt(**over)
    sym = simulate(sc, mode="symmetric")
    full = simulate(sc, mode="full")
    assert sym.iteration_time == pytest.approx(full.iteration_time, rel=1e-9)
    assert sym.summary["simulation"]["simulated_ranks"] <= full.summary["simulation"]["simulated_ranks"]


@pytest.mark.parametrize("over", [
    {},
    {"parallelism": {"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 4}},
    {"system": {"num_nodes": 4, "gpus_per_node": 2}, "training": {"global_batch_size": 64}},
    {"system": {"num_nodes": 16, "gpus_per_node": 4,
                "topology": {"builder": "three_tier_clos", "rail_optimized": False, "nodes_per_leaf": 2,
                             "nodes_per_pod": 4, "spines": 2, "core_switches": 3}},
     "training": {"global_batch_size": 64}},
])
def test_a_regular_placement_is_simulated_with_one_rank_per_stage(over):
    """Where every rank of a stage is placed alike, its class is the whole stage: symmetric mode
    simulates one rank per stage, whatever the job's size."""
    sc = small_gpt(**over)
    r = simulate(sc)
    assert r.summary["simulation"]["mode"] == "symmetric"
    assert r.summary["simulation"]["simulated_ranks"] == sc["parallelism"]["pipeline_model_parallel_size"]


def test_same_scenario_same_result():
    """Two runs of one scenario give identical predictions and records."""
    a, b = simulate(small_gpt()), simulate(small_gpt())
    assert a.iteration_time == b.iteration_time
    assert a.tables["ops"].equals(b.tables["ops"])


def test_breakdown_accounts_for_the_whole_iteration():
    """Every stage's breakdown sums to the iteration time."""
    r = simulate(small_gpt(model={"tie_word_embeddings": True}))
    stages = r.tables["stages"].drop(columns="stage")
    assert stages.sum(axis=1).tolist() == pytest.approx([r.iteration_time] * len(stages), rel=1e-9)


@pytest.mark.parametrize("over", [
    {"system": {"topology": {"nic_bandwidth": "400 Gb/s"}}},
    {"system": {"topology": {"scale_up_bandwidth": "600 GB/s"}}},
])
def test_more_bandwidth_never_slows_the_iteration(over):
    """Faster NICs or NVLink never make the iteration slower."""
    base = small_gpt(system={"num_nodes": 4, "gpus_per_node": 2}, training={"global_batch_size": 64})
    faster = small_gpt(system={"num_nodes": 4, "gpus_per_node": 2, **over["system"]},
                       training={"global_batch_size": 64})
    assert simulate(faster).iteration_time <= simulate(base).iteration_time


def test_oversubscription_never_speeds_up():
    """A 4:1 oversubscribed leaf-spine is never faster than a non-blocking one."""
    def sc(o):
        return small_gpt(parallelism={"tensor_model_parallel_size": 4, "pipeline_model_parallel_size": 1},
                         system={"num_nodes": 8, "gpus_per_node": 4,
                                 "topology": {"nodes_per_leaf": 2, "oversubscription": o}},
                         training={"global_batch_size": 64})
    assert simulate(sc(4.0)).iteration_time >= simulate(sc(1.0)).iteration_time


def test_recompute_costs_time():
    """Full recompute adds a forward pass: slower than no recompute, with less activation memory."""
    none = simulate(small_gpt())
    full = simulate(small_gpt(training={"recompute_granularity": "full"}))
    assert full.iteration_time > none.iteration_time
    assert full.summary["breakdown_s"]["recompute"] > 0
    assert full.summary["memory"]["stages"][0]["activations"] < none.summary["memory"]["stages"][0]["activations"]


def test_mfu_is_model_flops_over_time_and_peak():
    r = simulate(small_gpt())
    s = r.summary
    assert s["mfu"] == pytest.approx(s["model_flops_per_iteration"] / (s["iteration_time_s"] * 8 * 312e12))
    assert 0 < s["mfu"] < 1


def test_groups_straddling_servers_form_classes_of_their_own():
    """With 6 GPUs per server and TP 4, TP groups differ in shape (one server or two): their
    ranks fall in different classes, and symmetric mode still gives full mode's time."""
    sc = small_gpt(model={"hidden_size": 4096, "num_attention_heads": 32, "num_hidden_layers": 4},
                   parallelism={"tensor_model_parallel_size": 4, "pipeline_model_parallel_size": 1},
                   training={"global_batch_size": 12, "micro_batch_size": 1},
                   system={"num_nodes": 2, "gpus_per_node": 6})
    sym, full = simulate(sc), simulate(sc, mode="full")
    assert sym.summary["simulation"]["mode"] == "symmetric"
    assert 1 < sym.summary["simulation"]["simulated_ranks"] < 12
    assert sym.iteration_time == pytest.approx(full.iteration_time, rel=1e-9)


@pytest.mark.parametrize("over", [
    {},
    {"parallelism": {"tensor_model_parallel_size": 2, "pipeline_model_parallel_size": 1, "zero_stage": 1,
                     "overlap_grad_reduce": True, "ddp_bucket_size": 10_000_000}},
    {"parallelism": {"tensor_model_parallel_size": 4, "pipeline_model_parallel_size": 2,
                     "virtual_pipeline_model_parallel_size": 2}, "training": {"global_batch_size": 16}},
])
def test_runs_of_closed_form_instructions_time_as_one_event_each_would(over, monkeypatch):
    """Compute and collectives alone on their links, timed arithmetically in one event per run,
    give the records, breakdown and iteration time of one event per instruction, bit for bit."""
    from simulator.engine import StepSimulation
    folded = simulate(small_gpt(**over))
    monkeypatch.setattr(StepSimulation, "timed_runs", False)
    stepwise = simulate(small_gpt(**over))
    assert folded.iteration_time == stepwise.iteration_time
    assert folded.summary["breakdown_s"] == stepwise.summary["breakdown_s"]
    assert folded.tables["ops"].equals(stepwise.tables["ops"])
    assert folded.summary["simulation"]["events"] < stepwise.summary["simulation"]["events"]


@pytest.mark.parametrize("over", [
    {},
    {"parallelism": {"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 4},
     "system": {"num_nodes": 2, "gpus_per_node": 4}},
    {"parallelism": {"tensor_model_parallel_size": 2, "pipeline_model_parallel_size": 2,
                     "virtual_pipeline_model_parallel_size": 2}},
    {"parallelism": {"tensor_model_parallel_size": 2, "pipeline_model_parallel_size": 2,
                     "pipeline_schedule": "zero_bubble_h1"}},
    {"parallelism": {"tensor_model_parallel_size": 2, "pipeline_model_parallel_size": 1, "zero_stage": 1,
                     "overlap_grad_reduce": True, "overlap_param_gather": True, "ddp_bucket_size": 10_000_000}},
    {"parallelism": {"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 2, "zero_stage": 3}},
    {"system": {"num_nodes": 4, "gpus_per_node": 2}, "simulation": {"mode": "full"}},
])
def test_deep_batches_extrapolated_from_three_depths_equal_the_whole_simulation(over, monkeypatch):
    """20 x pp micro-batches: the figures extrapolated from 4, 5 and 6 x pp equal the whole
    simulation's to 1e-9, and the op records (asked for afterwards) are the whole simulation's."""
    import simulator.api as api
    from simulator.api import prepare
    sc = small_gpt(**over)
    plan = prepare(sc).job.plan
    sc["training"] = dict(sc["training"], global_batch_size=sc["training"]["micro_batch_size"] * plan.dp * plan.pp * 20)
    deep = simulate(sc)
    monkeypatch.setattr(api, "EXTRAPOLATE_ABOVE", 10**9)
    whole = simulate(sc)
    assert deep.summary["simulation"]["extrapolated_from_microbatches"] == [4 * plan.pp, 5 * plan.pp, 6 * plan.pp]
    assert whole.summary["simulation"]["extrapolated_from_microbatches"] is None
    assert deep.iteration_time == pytest.approx(whole.iteration_time, rel=1e-9)
    for k, v in whole.summary["breakdown_s"].items():
        assert deep.summary["breakdown_s"][k] == pytest.approx(v, rel=1e-9, abs=1e-12 * whole.iteration_time)
    assert deep.tables["links"]["bytes"].sum() == pytest.approx(whole.tables["links"]["bytes"].sum(), rel=1e-9)
    assert deep.tables["ops"].equals(whole.tables["ops"])


def test_a_batch_off_the_line_is_simulated_whole(monkeypatch):
    """If the three shallow batches do not lie on one line, nothing is extrapolated."""
    import simulator.api as api
    from simulator.api import prepare
    monkeypatch.setattr(api, "AFFINE_TOLERANCE", -1.0)  # no line is straight enough
    sc = small_gpt()
    plan = prepare(sc).job.plan
    sc["training"] = dict(sc["training"], global_batch_size=sc["training"]["micro_batch_size"] * plan.dp * plan.pp * 20)
    r = simulate(sc)
    assert r.summary["simulation"]["extrapolated_from_microbatches"] is None
    assert len(r.tables["ops"]) > 0


@pytest.mark.parametrize("topology", [
    {"builder": "torus", "torus_dims": [4, 4]},
    {"builder": "dragonfly", "routers_per_group": 2, "nodes_per_router": 1},
])
def test_fabrics_without_tiers_give_full_modes_time(topology):
    """On a torus or a dragonfly shortest paths can load identical groups differently: the
    classes follow the loads, and symmetric mode gives full mode's time."""
    gpus = 1 if topology["builder"] == "torus" else 2
    sc = small_gpt(system={"num_nodes": 16 // gpus, "gpus_per_node": gpus, "topology": topology})
    sym, full = simulate(sc), simulate(sc, mode="full")
    assert sym.summary["simulation"]["mode"] == "symmetric"
    assert sym.iteration_time == pytest.approx(full.iteration_time, rel=1e-9)


def test_an_impossible_prediction_is_an_error_not_a_number(monkeypatch):
    """A compute price that is not a number ends in an ImplausibleResult naming what is wrong,
    never in a summary with NaN; so do an MFU above 100 % and a stage that computes for longer than
    the iteration lasts."""
    from simulator.api import check_plausible
    from simulator.config import ImplausibleResult
    summary = simulate(small_gpt()).summary
    check_plausible(summary)  # a real prediction passes
    with pytest.raises(ImplausibleResult, match="exceeds 100 %"):
        check_plausible({**summary, "mfu": 1.5})
    longer = {**summary["breakdown_s"], "compute": 2 * summary["iteration_time_s"]}
    with pytest.raises(ImplausibleResult, match="breakdown adds up to"):  # compute longer than the iteration
        check_plausible(summary, [summary["breakdown_s"], longer])
    monkeypatch.setattr(RooflinePredictor, "time", lambda self, op: float("nan"))
    with pytest.raises(ImplausibleResult, match="iteration time nan"):
        simulate(small_gpt())


def test_a_deadlock_names_the_ranks_and_what_they_wait_for():
    """A program whose send was lost deadlocks; the error names a stuck rank, the receive it
    stopped at and whom it waits for (not a bare 'deadlocked')."""
    from simulator.api import prepare, step_simulation
    from simulator.engine import SimulationDeadlock
    from simulator.hardware import load_calibration
    from simulator.topology import build_cluster, topology_graph
    from simulator.workload import Send
    prep = prepare(small_gpt())
    first = prep.job.programs[0].instructions
    first.remove(next(i for i in first if isinstance(i, Send)))  # stage 0 never sends micro-batch 0
    calib = load_calibration()
    cluster = build_cluster(topology_graph(prep.scenario.system, prep.accelerator), prep.job.world,
                            calib.protocol_efficiency, calib.hop_latency)
    with pytest.raises(SimulationDeadlock, match=r"rank \d+ at recv_activation \(micro-batch 0\), "
                                                 r"waiting for a receive from stage 0"):
        step_simulation(prep, cluster, calib, None).run()


def test_same_scenario_same_summary():
    """Two runs of one scenario give the same summary.json, wall time aside, in both modes."""
    for mode in ("symmetric", "full"):
        a, b = simulate(small_gpt(), mode=mode).summary, simulate(small_gpt(), mode=mode).summary
        for s in (a, b):
            s["simulation"].pop("wall_time_s")
        assert a == b


def test_tp_comm_overlap_runs_the_collectives_beside_gemm_chunks():
    """With --tp-comm-overlap each TP all-gather and reduce-scatter runs on a side stream while
    t - 1 chunks of the GEMM next to it compute; the rest of the TP time is exposed as tp_comm."""
    par = {"tensor_model_parallel_size": 4, "pipeline_model_parallel_size": 1, "sequence_parallel": True}
    plain = simulate(small_gpt(parallelism=par))
    over = simulate(small_gpt(parallelism={**par, "tp_comm_overlap": True}))
    ops = over.tables["ops"]
    side = ops[(ops["stream"] == "side") & ops["name"].str.startswith("tp_")]
    assert set(side["name"]) == {"tp_all_gather", "tp_reduce_scatter"}
    assert (ops["name"] == "tp_all_gather").sum() == (plain.tables["ops"]["name"] == "tp_all_gather").sum()
    compute = ops[ops["stream"] == "compute"]
    for _, c in side.head(20).iterrows():   # something computes while each collective runs
        beside = compute[(compute["start"] < c["end"]) & (compute["end"] > c["start"]) & (compute["rank"] == c["rank"])]
        assert len(beside) > 0
    # exposed TP time shrinks; the GEMM chunks beside it run slower (the SMs its kernels hold)
    assert over.summary["breakdown_s"]["tp_comm"] < 0.5 * plain.summary["breakdown_s"]["tp_comm"]
    assert over.summary["breakdown_s"]["compute"] > plain.summary["breakdown_s"]["compute"]


def test_tp_overlap_slows_the_gemms_by_the_sms_its_kernels_hold():
    """Megatron-Core's TP overlap (Transformer Engine's userbuffers) holds 1 SM beside an
    all-gather and 16 beside a reduce-scatter: on an A100 (108 SMs) the GEMM chunks beside them
    take 108/107 and 108/92 of their time alone, where a stack without that figure (torchtitan)
    takes the calibrated NCCL slowdown; compute beside nothing is the same on both."""
    par = {"tensor_model_parallel_size": 4, "pipeline_model_parallel_size": 1, "sequence_parallel": True,
           "tp_comm_overlap": True}
    runs = {stack: simulate(small_gpt(parallelism=par, training={**small_gpt()["training"], "framework": stack}))
            for stack in ("megatron-core", "torchtitan")}
    keys = ["rank", "name", "phase", "microbatch", "layer"]
    tables = []
    for stack, r in runs.items():
        ops = r.tables["ops"]
        c = ops[ops["stream"] == "compute"].copy()
        c["n"] = c.groupby(keys).cumcount()
        c[stack] = c["duration"]
        tables.append(c[keys + ["n", stack]])
    both = tables[0].merge(tables[1], on=keys + ["n"])
    ratios = {round(x, 9) for x in both["megatron-core"] / both["torchtitan"]}
    slow = load_calibration().overlap_slowdown
    assert ratios == {1.0, round(108 / 107 / slow, 9), round(108 / 92 / slow, 9)}


def test_side_collectives_of_one_communicator_run_in_the_order_issued():
    """With overlapped parameter gathers and virtual stages, a step issues one all-gather per
    model chunk at once; NCCL runs them one after another on the data-parallel communicator, so
    each starts when the one before ends (and the first chunk waits for its own only)."""
    par = {"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 2,
           "virtual_pipeline_model_parallel_size": 2, "zero_stage": 1, "overlap_param_gather": True,
           "overlap_grad_reduce": True}
    ops = simulate(small_gpt(parallelism=par)).tables["ops"]
    for rank in ops["rank"].unique():
        gathers = ops[(ops["rank"] == rank) & (ops["name"] == "dp_all_gather")].sort_values("start")
        assert len(gathers) == 2
        first, second = gathers.iloc[0], gathers.iloc[1]
        assert second["start"] == pytest.approx(first["end"]) and first["start"] == 0.0


def test_tp_comm_overlap_covers_attention_under_context_parallelism():
    """Under CP the attention block is cut around its core; the TP all-gather still runs beside
    the QKV GEMM and the reduce-scatter beside the output projection, so no TP collective blocks."""
    par = {"tensor_model_parallel_size": 2, "pipeline_model_parallel_size": 1, "context_parallel_size": 2,
           "sequence_parallel": True, "tp_comm_overlap": True}
    ops = simulate(small_gpt(parallelism=par)).tables["ops"]
    tp = ops[ops["name"].str.startswith("tp_") & (ops["layer"] >= 0)]
    assert len(tp) > 0 and set(tp["stream"]) == {"side"}


def test_tp_comm_overlap_needs_sequence_parallel():
    from simulator.config import ConfigError
    with pytest.raises(ConfigError, match="tp_comm_overlap"):
        simulate(small_gpt(parallelism={"tensor_model_parallel_size": 2, "tp_comm_overlap": True}))


UNEVEN = [
    {"nodes_per_leaf": 4, "spines": 3, "oversubscription": 2.0, "nics_per_node": 2},   # a partial leaf group
    {"nodes_per_leaf": 4, "spines": 3, "oversubscription": 2.0, "nics_per_node": 4},
    {"nodes_per_leaf": 2, "spines": 3, "oversubscription": 1.0, "nics_per_node": 1},   # stages across leaves
    {"builder": "three_tier_clos", "nodes_per_leaf": 1, "nodes_per_pod": 4, "spines": 2, "core_switches": 2,
     "core_oversubscription": 2.0},                                                    # a partial pod, a 2:1 core
]


def _uneven(topology: dict) -> dict:
    return small_gpt(system={"accelerator": "H100-SXM", "num_nodes": 6, "gpus_per_node": 4,
                             "topology": dict(topology, nic_bandwidth="200 Gb/s")},
                     training={"global_batch_size": 48})


@pytest.mark.parametrize("topology", UNEVEN)
def test_symmetric_mode_on_placements_that_cross_the_fabric_unevenly(topology):
    """Stages and data-parallel rings that cross leaves and spines unevenly: pipeline sends and
    rings of one stage meet on some links and not on others, so ranks of a stage differ; the
    classes keep symmetric mode exact, down to the bytes every link carries."""
    sym, full = simulate(_uneven(topology), mode="symmetric"), simulate(_uneven(topology), mode="full")
    assert sym.iteration_time == pytest.approx(full.iteration_time, rel=1e-9)
    carried = lambda r: dict(zip(r.tables["links"]["link"], r.tables["links"]["bytes"]))  # noqa: E731
    assert carried(sym) == pytest.approx(carried(full), rel=1e-9)


def _rerun_in_both_modes(topology: dict, change) -> dict[str, float]:
    """{mode: time of a re-run} of the uneven job on `topology`, after its healthy run;
    `change(cluster)` gives rerun's keyword arguments. Each re-run is slower than the healthy run,
    and a re-run without the change gives the healthy time again."""
    from simulator.api import prepare, step_simulation
    from simulator.hardware import load_calibration
    from simulator.topology import system_cluster
    prep, calib = prepare(_uneven(topology)), load_calibration()
    times = {}
    for mode in ("symmetric", "full"):
        cl = system_cluster(prep.scenario.system, prep.accelerator, prep.job.world, calib.protocol_efficiency,
                            calib.hop_latency)
        sim = step_simulation(prep, cl, calib, mode)
        healthy = sim.run().iteration_time
        times[mode] = sim.rerun(**change(cl)).iteration_time
        assert times[mode] > healthy
        assert sim.rerun().iteration_time == pytest.approx(healthy, rel=1e-12)
    return times


@pytest.mark.parametrize("topology", UNEVEN[::3])
def test_a_narrowed_cable_in_symmetric_mode_matches_full_mode(topology):
    """A re-run with one spine uplink at a quarter of its capacity: the narrowed link sets its
    flows apart, and symmetric mode still gives full mode's time."""
    def narrowed(cl):
        uplink = next(i for i, (a, b) in enumerate(cl.links) if "leaf" in a and "spine" in b)
        return {"capacity": [c / 4 if i == uplink else c for i, c in enumerate(cl.capacity)]}
    times = _rerun_in_both_modes(topology, narrowed)
    assert times["symmetric"] == pytest.approx(times["full"], rel=1e-9)


@pytest.mark.parametrize("topology", UNEVEN[:1] + [{"nodes_per_leaf": 2, "spines": 1, "oversubscription": 3.0}])
def test_a_slow_gpu_in_symmetric_mode_matches_full_mode(topology):
    """One GPU computing 1.7 times slower on an oversubscribed fabric: the slow rank is a class
    of its own, and symmetric mode gives full mode's time."""
    times = _rerun_in_both_modes(topology, lambda cl: {"slowdown": {5: 1.7}})
    assert times["symmetric"] == pytest.approx(times["full"], rel=1e-9)


def test_a_topology_file_gives_full_modes_time_in_symmetric_mode():
    """The shipped scenario on a topology file (a graph, routed by search): both modes agree."""
    path = Path(__file__).resolve().parent.parent / "scenarios" / "llama3-8b-64xh100-topology-file.yaml"
    assert simulate(path).iteration_time == pytest.approx(simulate(path, mode="full").iteration_time, rel=1e-9)


def test_jobs_together_in_symmetric_mode_match_full_mode():
    """Two jobs sharing oversubscribed uplinks are partitioned together: each one's time is full
    mode's."""
    import simulator
    a = small_gpt(parallelism={"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 2},
                  training={"global_batch_size": 48},
                  system={"num_nodes": 3, "gpus_per_node": 4,
                          "topology": {"nodes_per_leaf": 2, "spines": 2, "oversubscription": 2.0}})
    sym = simulator.simulate_together([a, a], mode="symmetric")
    full = simulator.simulate_together([a, a], mode="full")
    assert [r.iteration_time for r in sym] == pytest.approx([r.iteration_time for r in full], rel=1e-9)
