import dataclasses
import json
import math
import subprocess
import sys

import pytest
import yaml

from simulator import ConfigError, simulate_campaign
from simulator.config import load_scenario
from simulator.reliability import (Campaign, Health, StepTimes, checkpoint_bytes, daly_ettr, daly_interval,
                                   load_failure_model, mean_ci, run_trials, young_interval)
from simulator.reliability.campaign import _cycles_integral, _diurnal_integral
from simulator.reliability.failure_model import YEAR

from .conftest import SCENARIOS, small_gpt


def failure_model(tmp_path, classes, planned=None, name="test"):
    data = {"name": name, "description": "test model", "classes": [
        {"source": "test", **c} for c in classes]}
    if planned is not None:
        data["planned"] = {"per_day": planned, "source": "test"}
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(data))
    return str(p)


def scenario(tmp_path, classes, planned=None, **reliability):
    rel = {"failure_model": failure_model(tmp_path, classes, planned), "trials": 10, "duration": "10 days", **reliability}
    return load_scenario(small_gpt(reliability=rel))


def server_failures(per_day_job: float, servers: int = 2, **extra):
    """One exponential class on servers, at `per_day_job` failures per day for the whole job."""
    return [{"name": "server_crash", "component": "server", "failures_per_year": per_day_job * 365 / servers, **extra}]


def test_failure_counts_follow_the_rates(tmp_path):
    """The mean number of failures per trial is rate x components x duration, within its error."""
    sc = scenario(tmp_path, server_failures(2.0), trials=200, recovery={"spare_servers": 100, "diagnosis": "0 s",
                                                                      "reschedule": "0 s", "process_start": "0 s",
                                                                      "nccl_init": "0 s"})
    df = run_trials(Campaign(sc)).trials
    expected = 2.0 * 10   # (a failed server's slot is empty only for the seconds of its restart)
    stats = mean_ci(df["failures"])
    assert abs(stats["mean"] - expected) < 4 * math.sqrt(expected / len(df))
    assert df["failures"].var() == pytest.approx(expected, rel=0.35)  # Poisson: variance = mean


def test_weibull_and_lognormal_keep_the_mean_rate(tmp_path):
    """Changing the lifetime distribution changes the spread of failures, not their mean rate."""
    for extra in ({"distribution": "weibull", "shape": 1.5}, {"distribution": "lognormal", "sigma": 0.5}):
        sc = scenario(tmp_path, [{"name": "gpu", "component": "gpu", "failures_per_year": 365 / 8 * 0.5, **extra}],
                      trials=150, duration="60 days")
        mean = run_trials(Campaign(sc)).trials["failures"].mean()
        assert mean == pytest.approx(0.5 * 60, rel=0.12), extra


def test_same_seed_same_result_and_trials_independent_of_count(tmp_path):
    """A trial's result depends only on the seed and its index, not on how many trials run."""
    sc = scenario(tmp_path, server_failures(3.0), planned=0.5, seed=7)
    a = run_trials(Campaign(sc), 6).trials
    b = run_trials(Campaign(sc), 3).trials
    assert a.iloc[:3].equals(b)
    reseeded = dataclasses.replace(sc, reliability=dataclasses.replace(sc.reliability, seed=8))
    other = run_trials(Campaign(reseeded), 3).trials
    assert not other["ettr"].equals(b["ettr"])


def test_young_and_daly_formulas():
    """Young's interval is sqrt(2 delta M); Daly's higher-order one is close to it for delta << M."""
    assert young_interval(60, 7200) == pytest.approx(math.sqrt(2 * 60 * 7200))
    assert daly_interval(60, 7200) == pytest.approx(math.sqrt(2 * 60 * 7200) * (1 + math.sqrt(60 / 14400) / 3
                                                                               + 60 / 14400 / 9) - 60)
    assert daly_interval(20000, 7200) == 7200
    # Daly's ETTR has its maximum near his optimum interval
    opt = daly_interval(60, 7200)
    e = [daly_ettr(opt * f, 60, 600, 7200) for f in (0.8, 1.0, 1.25)]
    assert e[1] > e[0] and e[1] > e[2]


def test_daly_closed_form_where_its_assumptions_hold(tmp_path):
    """Exponential failures, a fixed restart cost and synchronous checkpoints: the simulated ETTR
    is within 1 percentage point of Daly's closed form."""
    sc = scenario(tmp_path, server_failures(12.0), trials=40, duration="40 days",
                  checkpoint={"mode": "sync", "size": "400 GB", "storage_bandwidth": "10 GB/s",
                              "server_storage_bandwidth": "10 GB/s"},
                  recovery={"spare_servers": 1000, "repair_time": "0 s", "diagnosis": "0 s"})
    c = Campaign(sc)
    df = run_trials(c).trials
    assert c.interval_policy == "daly"
    closed = daly_ettr(c.interval, c.ckpt.block, c.restart, c.mtti)
    assert df["ettr"].mean() == pytest.approx(closed, abs=0.01)


def test_closed_form_cycles_match_the_step_by_step_integral():
    """Skipping whole checkpoint cycles in closed form gives the same progress as cycle by cycle."""
    amp, train, cycle, t0 = 0.02, 1234.5, 1300.0, 5000.0
    for n in (1, 7, 100):
        stepwise = sum(_diurnal_integral(t0 + k * cycle, t0 + k * cycle + train, amp) for k in range(n))
        assert _cycles_integral(t0, n, train, cycle, amp) == pytest.approx(stepwise, rel=1e-12)
    assert _diurnal_integral(0, 86400, 0.02) == pytest.approx(86400 * 0.99)


def test_no_failures_means_only_checkpoint_cost(tmp_path):
    """Without failures, ETTR is the share of time not spent blocked by checkpoints (sync)."""
    sc = scenario(tmp_path, [{"name": "none", "component": "gpu", "failures_per_year": 0.0}], trials=2,
                  checkpoint={"mode": "sync", "interval": "30 min"})
    c = Campaign(sc)
    df = run_trials(c).trials
    assert (df["failures"] == 0).all()
    cycle = c.interval + c.ckpt.block
    assert df["ettr"].iloc[0] == pytest.approx(c.interval / cycle, rel=1e-3)


def test_checkpoint_size_counts_each_byte_once():
    """Weights once (bf16, 2 B/param) plus optimizer states once (12 B/param) with ZeRO-1."""
    sc = load_scenario(small_gpt(parallelism={"tensor_model_parallel_size": 2, "pipeline_model_parallel_size": 2,
                                              "zero_stage": 1}))
    steps = StepTimes(sc)
    job = steps.prep.job
    params = sum(m["weights"] for m in job.memory) / 2 * job.plan.tp  # weights are bf16 per TP shard
    assert checkpoint_bytes(job) == pytest.approx(params * 14, rel=1e-6)


def test_straggler_symmetric_and_full_agree():
    """One GPU at half speed in a TP x PP x DP job: symmetric and full mode give the same
    iteration time, and it is slower than the healthy one."""
    sc = load_scenario(small_gpt())
    times = {}
    for mode in ("symmetric", "full"):
        st = StepTimes(sc, mode)
        healthy = st.healthy()[0]
        times[mode] = st.time(Health(slow=(((1,), 2.0),)))[0]
        assert times[mode] > healthy * 1.2
        # a slow GPU anywhere in stage 1 (here: its last rank) behaves as the representative
        sim, _ = st._sim(0, ())
        last = sim.plan.stage_ranks(1)[-1]
        assert sim.rerun({sim.stand_in(last): 2.0}).iteration_time == pytest.approx(times[mode], rel=1e-9)
    assert times["symmetric"] == pytest.approx(times["full"], rel=1e-9)


def test_stragglers_and_slow_links_slow_the_job(tmp_path):
    """Straggler episodes and degraded cables lower goodput below ETTR (the job trains slower)."""
    quiet = [{"name": "none", "component": "gpu", "failures_per_year": 0.0}]
    sc = scenario(tmp_path, quiet, trials=3, stragglers={"gpu_rate": 0.5, "duration": "6 h", "slowdown_min": 1.5,
                                                          "slowdown_max": 2.0, "link_rate": 0.2})
    c = Campaign(sc)
    df = run_trials(c).trials
    assert (df["relative_goodput"] < df["ettr"] - 0.01).all()
    assert (df["degraded_time"] > 0).all()
    assert c.steps.simulations > 2


def test_failure_classes_act_on_topology_components(tmp_path):
    """A leaf switch takes every server below it; a NIC its server; a spine is a network fault."""
    sc = load_scenario(small_gpt(system={"accelerator": "A100-80GB", "num_nodes": 4, "gpus_per_node": 4,
                                         "topology": {"nodes_per_leaf": 2, "spines": 2}}))
    inv = StepTimes(sc).inventory
    leaves = [i for i, s in enumerate(inv.switches) if "leaf" in s]
    assert inv.strike("switch", leaves[0]).servers == (0, 1)
    assert inv.strike("nic", 5).servers == (inv.graph.nodes[inv.nics[5]]["node"],)
    spine = [i for i, s in enumerate(inv.switches) if "spine" in s][0]
    assert inv.strike("switch", spine).fault == ("switch", 3)
    assert inv.strike("gpu", 13).servers == (3,)


def test_elastic_recovery_shrinks_and_spares_policy_waits(tmp_path):
    """With no spares and long repairs, elastic recovery trains on fewer replicas (its state is
    simulated) while the spares policy waits for repairs; elastic keeps more goodput."""
    sc_big = small_gpt(system={"accelerator": "A100-80GB", "num_nodes": 4, "gpus_per_node": 4,
                               "topology": {"nic_bandwidth": "200 Gb/s"}})
    fm = failure_model(tmp_path, server_failures(1.0, servers=4))
    out = {}
    for policy in ("spares", "elastic"):
        sc = load_scenario({**sc_big, "reliability": {"failure_model": fm, "trials": 8, "duration": "20 days",
                                                      "recovery": {"policy": policy, "spare_servers": 0,
                                                                   "repair_time": "3 days"}}})
        c = Campaign(sc)
        out[policy] = (run_trials(c).trials, c)
    spares, elastic = out["spares"][0], out["elastic"][0]
    assert spares["down_waiting_for_servers"].mean() > 10 * 3600
    assert elastic["down_waiting_for_servers"].mean() < spares["down_waiting_for_servers"].mean()
    assert any(row["replicas_lost"] > 0 for row in out["elastic"][1].steps.states())
    assert elastic["relative_goodput"].mean() > spares["relative_goodput"].mean()


def test_route_around_keeps_training_through_network_faults(tmp_path):
    """Spine failures stop the job under the restart policy but not when routed around."""
    fm = [{"name": "spine", "component": "switch", "failures_per_year": 365.0}]
    base = small_gpt(system={"accelerator": "A100-80GB", "num_nodes": 4, "gpus_per_node": 4,
                             "topology": {"nodes_per_leaf": 2, "spines": 2}})
    res = {}
    for how in ("restart", "route_around"):
        sc = load_scenario({**base, "reliability": {"failure_model": failure_model(tmp_path, fm), "trials": 4,
                                                    "duration": "5 days",
                                                    "recovery": {"network_failures": how, "repair_time": "2 h"}}})
        res[how] = run_trials(Campaign(sc)).trials
    assert (res["route_around"]["failures"] > 0).all()
    assert (res["route_around"]["interruptions"] < res["route_around"]["failures"]).all()
    assert res["restart"]["interruptions"].sum() > res["route_around"]["interruptions"].sum()


def test_hangs_cost_the_watchdog_timeout(tmp_path):
    """A hang is noticed only after the watchdog: detection time = timeout x stops."""
    sc = scenario(tmp_path, server_failures(2.0, detection="hang"), trials=5,
                  recovery={"watchdog_timeout": "10 min", "spare_servers": 100})
    df = run_trials(Campaign(sc)).trials
    assert (df["down_detection"] >= df["interruptions"] * 600 - 1e-6).all()
    assert df["down_detection"].sum() > 0


def test_token_budget_reports_time_to_train(tmp_path):
    """With a token budget the campaign ends when the budget is trained and saved."""
    sc = scenario(tmp_path, server_failures(1.0), trials=4, duration=None, token_budget="2e9")
    result = simulate_campaign(sc)
    r = result.summary["results"]
    assert result.summary["finished_fraction"] == 1.0
    assert (result.tables["trials"]["tokens"] >= 2e9).all()
    healthy_days = 2e9 / result.summary["healthy"]["tokens_per_s"] / 86400
    assert r["time_to_train_days"]["mean"] > healthy_days


def test_the_llama3_model_reproduces_its_source_counts():
    """The default model's rates on the 16,384-GPU example give Table 5's 419 interruptions in
    54 days, and Kokolis et al.'s RSC-1 rate a 1.8 h job MTTF."""
    model = load_failure_model("llama3-h100")
    counts = {"gpu": 16384, "nic": 16384, "server": 2048, "network": 33288}
    per_54_days = sum(c.failures_per_year * counts[c.component] * 54 / 365 for c in model.classes)
    assert per_54_days == pytest.approx(419, rel=1e-4)
    assert model.planned.per_day * 54 == pytest.approx(47, rel=1e-4)
    rsc1 = load_failure_model("rsc1")
    per_day = sum(c.failures_per_year * counts[c.component] / 365 for c in rsc1.classes)
    assert 24 / per_day == pytest.approx(1.8, rel=0.05)


@pytest.mark.parametrize("rel, field", [
    ({"failure_model": "nonexistent"}, "scenario.reliability.failure_model"),
    ({"checkpoint": {"interval": "0 s"}}, "scenario.reliability.checkpoint.interval"),
    ({"checkpoint": {"policy": "fixed"}}, "scenario.reliability.checkpoint.policy"),
    ({"trials": 0}, "scenario.reliability.trials"),
    ({"recovery": {"policy": "pray"}}, "scenario.reliability.recovery.policy"),
    ({"stragglers": {"slowdown_min": 2.0, "slowdown_max": 1.5}}, "scenario.reliability.stragglers.slowdown_max"),
])
def test_bad_reliability_keys_name_the_field(rel, field):
    """Each mistake in the reliability section is a ConfigError naming the field."""
    with pytest.raises(ConfigError) as e:
        simulate_campaign(small_gpt(reliability=rel))
    assert str(e.value).startswith(field)


@pytest.mark.parametrize("cls, field", [
    ({"name": "x", "component": "gpu", "failures_per_year": -1.0}, "failures_per_year"),
    ({"name": "x", "component": "gpu", "failures_per_year": 1.0, "distribution": "gamma"}, "distribution"),
    ({"name": "x", "component": "gpu", "failures_per_year": 1.0, "distribution": "weibull"}, "shape"),
    ({"name": "x", "component": "toaster", "failures_per_year": 1.0}, "component"),
])
def test_bad_failure_models_name_the_field(tmp_path, cls, field):
    """A wrong failure model entry is a ConfigError naming the class entry and field."""
    sc = load_scenario(small_gpt(reliability={"failure_model": failure_model(tmp_path, [cls])}))
    with pytest.raises(ConfigError) as e:
        simulate_campaign(sc)
    assert f"classes[0].{field}" in str(e.value)


def test_a_component_the_topology_lacks_is_an_error(tmp_path):
    """A failure class striking switches on a torus (no switches) is refused, naming the class."""
    sc = load_scenario(small_gpt(
        system={"accelerator": "A100-80GB", "num_nodes": 2, "gpus_per_node": 4,
                "topology": {"builder": "torus", "torus_dims": [2, 4]}},
        reliability={"failure_model": failure_model(tmp_path, [{"name": "sw", "component": "switch",
                                                                "failures_per_year": 1.0}])}))
    with pytest.raises(ConfigError, match="failure class 'sw'.component"):
        simulate_campaign(sc)


def test_cli_reliability_writes_its_outputs(tmp_path):
    """`clustersim reliability` prints the headline figures and writes summary, tables, trace, plots."""
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(small_gpt(reliability={
        "failure_model": failure_model(tmp_path, server_failures(2.0), planned=1.0), "duration": "5 days"})))
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "simulator.cli", "reliability", str(path), "--trials", "3",
                        "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "ETTR" in r.stdout
    for name in ("summary.json", "trials.parquet", "events.parquet", "intervals.parquet", "states.parquet",
                 "trace.json", "job_state.png", "ettr_vs_interval.png"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trials"] == 3 and 0 < summary["results"]["ettr"]["mean"] <= 1
    trace = json.loads((out / "trace.json").read_text())
    assert any(e.get("name") == "training" for e in trace["traceEvents"])
    bad = subprocess.run([sys.executable, "-m", "simulator.cli", "reliability", str(path), "--trials", "0"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "--trials" in bad.stderr


def test_example_scenario_has_a_reliability_section():
    """The 16,384-GPU Llama 3 example uses the default failure model over 54 days."""
    sc = load_scenario(SCENARIOS / "llama3-405b-16384xh100.yaml")
    assert sc.reliability.failure_model == "llama3-h100"
    assert sc.reliability.duration == 54 * 86400
    assert load_failure_model(sc.reliability.failure_model).classes
    assert YEAR == 365 * 86400


def test_a_narrowed_cable_is_the_same_as_a_rebuilt_fabric():
    """A cable at half rate, applied as link capacities in a re-run, gives the iteration time of
    a simulation on a topology built with that cable's bandwidth halved."""
    from simulator.api import prepare, step_simulation
    from simulator.hardware import load_calibration
    from simulator.topology import build_cluster

    sc = load_scenario(small_gpt(
        parallelism={"tensor_model_parallel_size": 4, "pipeline_model_parallel_size": 1},
        system={"accelerator": "A100-80GB", "num_nodes": 4, "gpus_per_node": 4,
                "topology": {"nodes_per_leaf": 2, "spines": 1, "oversubscription": 2.0},
                "collective_algorithms": {"all_reduce": "ring"}}))
    st = StepTimes(sc)
    healthy = st.healthy()[0]
    fault = (("cable", 2, 3), 0.5)
    narrowed = st.time(Health(faults=(fault,)))[0]
    _, _, scale = st.inventory.changes((fault,))
    (u, v), f = next(iter(scale.items()))
    g = st.graph.copy()
    g.edges[u, v]["bandwidth"] *= f
    calib = load_calibration()
    prep = prepare(sc)
    rebuilt = step_simulation(prep, build_cluster(g, prep.job.world, calib.protocol_efficiency, calib.hop_latency),
                              calib, None).run().iteration_time
    assert narrowed == pytest.approx(rebuilt, rel=1e-9)
    assert narrowed > healthy


def test_a_killed_campaign_resumes_without_losing_or_repeating_trials(tmp_path):
    """Trials are stored as they finish; a rerun reads them back (also a torn last line) and runs
    only the missing ones, with the same result as an uninterrupted run."""
    sc = scenario(tmp_path, server_failures(3.0), planned=1.0, trials=6)
    store = tmp_path / "trials.jsonl"
    full = run_trials(Campaign(sc)).trials
    run_trials(Campaign(sc), 4, store=store)
    with store.open("a") as f:
        f.write('{"trial": 4, "metr')          # killed while writing trial 4
    c = Campaign(sc)
    calls = []
    original = c.run_trial
    c.run_trial = lambda i, record=False: calls.append(i) or original(i, record)
    resumed = run_trials(c, store=store).trials
    assert calls == [4, 5]
    assert resumed[full.columns].equals(full)
    lines = store.read_text().splitlines()
    assert len(lines) == 1 + 6 and all(json.loads(line) for line in lines)   # the torn line is gone
    assert run_trials(Campaign(sc), store=store).trials[full.columns].equals(full)
    other = scenario(tmp_path, server_failures(5.0), trials=2)   # another campaign starts afresh
    assert len(run_trials(Campaign(other), store=store).trials) == 2
    assert len(store.read_text().splitlines()) == 3


@pytest.mark.parametrize("case", ["fail_stop", "hang", "planned", "sync", "slow_write", "elastic", "budget",
                                  "spine_restart", "spine_cut", "stragglers"])
def test_wall_time_is_training_lost_work_stalls_and_downtime(tmp_path, case):
    """Every second of a trial is useful training, lost work, checkpoint stall or a downtime phase."""
    from simulator.reliability.campaign import DOWN_PHASES
    four = {"accelerator": "A100-80GB", "num_nodes": 4, "gpus_per_node": 4, "topology": {"nic_bandwidth": "200 Gb/s"}}
    one_spine = {**four, "topology": {"nodes_per_leaf": 2, "spines": 1}}
    spine = [{"name": "spine", "component": "switch", "failures_per_year": 365.0}]
    system, classes, planned, rel = None, server_failures(6.0), None, {}
    if case == "hang":
        classes = server_failures(6.0, detection="hang")
    elif case == "planned":
        classes, planned = server_failures(2.0), 3.0
    elif case == "sync":
        rel = {"checkpoint": {"mode": "sync", "size": "400 GB", "storage_bandwidth": "10 GB/s",
                              "server_storage_bandwidth": "10 GB/s"}}
    elif case == "slow_write":
        rel = {"checkpoint": {"size": "400 GB", "storage_bandwidth": "1 GB/s", "server_storage_bandwidth": "1 GB/s"}}
    elif case == "elastic":
        system, classes = four, server_failures(2.0, servers=4)
        rel = {"recovery": {"policy": "elastic", "spare_servers": 0, "repair_time": "3 days"}}
    elif case == "budget":
        classes, planned, rel = server_failures(4.0), 1.0, {"duration": None, "token_budget": "3e10"}
    elif case in ("spine_restart", "spine_cut"):
        system, classes = (four if case == "spine_restart" else one_spine), spine
        rel = {"recovery": {"repair_time": "2 h", "network_failures": "restart" if case == "spine_restart"
                            else "route_around"}}
    elif case == "stragglers":
        rel = {"stragglers": {"gpu_rate": 0.5, "duration": "6 h", "link_rate": 0.2, "diurnal_amplitude": 0.05}}
    data = small_gpt(reliability={"failure_model": failure_model(tmp_path, classes, planned), "trials": 6,
                                  "duration": "10 days", **rel})
    if data["reliability"]["duration"] is None:
        data["reliability"].pop("duration")
    if system:
        data["system"] = system
    df = run_trials(Campaign(load_scenario(data))).trials
    down = sum(df[f"down_{p}"] for p in DOWN_PHASES)
    accounted = df["train_time"] + df["lost_time"] + df["checkpoint_stall"] + down
    assert (accounted - df["wall_time"]).abs().max() < 1e-6 * df["wall_time"].max()
    assert (df["failures"] > 0).all()
    if case == "spine_cut":
        assert (df["down_fabric_cut"] > 0).any()


def test_a_trial_run_twice_is_the_same_trial(tmp_path):
    """Running trial i again on the same campaign repeats it exactly (the seed streams are not consumed)."""
    c = Campaign(scenario(tmp_path, server_failures(3.0), planned=1.0, trials=3))
    assert c.run_trial(1).metrics == c.run_trial(1).metrics
    assert run_trials(c, 5).trials.iloc[:3].equals(run_trials(c).trials)


def test_a_token_budget_ends_when_reached_not_later(tmp_path):
    """Without failures a token budget is trained in exactly budget / throughput of training plus
    the stalls and the final save; with a horizon first, the trial stops there, unfinished."""
    quiet = [{"name": "none", "component": "gpu", "failures_per_year": 0.0}]
    sc = scenario(tmp_path, quiet, trials=1, duration=None, token_budget="5e9",
                  checkpoint={"mode": "sync", "interval": "1 h"})
    c = Campaign(sc)
    m = run_trials(c).trials.iloc[0]
    rate = c.tokens_per_step / c.step_time
    assert m["tokens"] == pytest.approx(5e9, rel=1e-9)
    assert m["train_time"] == pytest.approx(5e9 / rate, rel=1e-9)
    assert m["wall_time"] == pytest.approx(m["train_time"] + m["checkpoint_stall"], rel=1e-9)
    short = simulate_campaign(sc, days=0.01)
    assert short.summary["finished_fraction"] == 0.0
    assert short.tables["trials"]["wall_time"].max() == pytest.approx(0.01 * 86400)


def test_a_changed_failure_model_is_not_resumed(tmp_path):
    """The stored trials belong to one campaign: editing the failure model file starts afresh."""
    sc = scenario(tmp_path, server_failures(3.0), trials=2)
    store = tmp_path / "t.jsonl"
    run_trials(Campaign(sc), store=store)
    before = Campaign(sc).fingerprint()
    failure_model(tmp_path, server_failures(0.1))          # same path, other rates
    from simulator.reliability import load_failure_model
    load_failure_model.cache_clear()
    assert Campaign(sc).fingerprint() != before


def test_a_slow_server_slows_every_stage_it_holds():
    """A server holding ranks of two pipeline stages, slowed, costs at least as much as either
    stage alone slowed (one re-run with both stand-ins slow)."""
    sc = load_scenario(small_gpt(parallelism={"tensor_model_parallel_size": 2, "pipeline_model_parallel_size": 2},
                                 system={"accelerator": "A100-80GB", "num_nodes": 1, "gpus_per_node": 4}))
    st = StepTimes(sc)
    both = st.time(Health(slow=(((0, 1), 1.5),)))[0]
    each = max(st.time(Health(slow=(((0,), 1.5),)))[0], st.time(Health(slow=(((1,), 1.5),)))[0])
    assert both >= each > st.healthy()[0]


def test_checkpoint_costs_follow_the_memory_hierarchy(tmp_path):
    """Sync saves block for copy + write; async only for the copy; in-memory checkpoints restore
    from a peer over the NICs, faster than from slow shared storage; Young's interval is
    sqrt(2 delta M) rounded up to whole iterations."""
    quiet = server_failures(1.0)
    ck = {"size": "1 TB", "storage_bandwidth": "5 GB/s", "server_storage_bandwidth": "100 GB/s"}
    sync = Campaign(scenario(tmp_path, quiet, checkpoint={**ck, "mode": "sync"})).ckpt
    asyn = Campaign(scenario(tmp_path, quiet, checkpoint={**ck, "mode": "async"})).ckpt
    peer = Campaign(scenario(tmp_path, quiet, checkpoint={**ck, "in_memory": True})).ckpt
    copy = 1e12 / 8 / 32e9 * 1.0  # per rank over the A100 host link (PCIe 4: 32 GB/s)
    assert asyn.block == pytest.approx(sync.block - 1e12 / 5e9, rel=1e-9)
    assert asyn.write == pytest.approx(1e12 / 5e9, rel=1e-9) and sync.write == 0
    assert asyn.block == pytest.approx(copy, rel=0.01)
    assert peer.load < asyn.load / 5
    c = Campaign(scenario(tmp_path, quiet, checkpoint={**ck, "mode": "sync", "policy": "young"}))
    tau = math.sqrt(2 * c.ckpt.block * c.mtti)
    assert c.interval_policy == "young"
    assert tau <= c.interval < tau + c.step_time
