import subprocess
import sys

import pytest

from simulator.api import bench_collective, load_system
from simulator.config import ConfigError
from simulator.hardware import load_accelerator, load_calibration
from simulator.network.collectives import _double_tree, ring_orders

from .conftest import SCENARIOS

SYSTEM = {"system": {"accelerator": "A100-40GB", "num_nodes": 16, "gpus_per_node": 8,
                     "topology": {"nic_bandwidth": "200 Gb/s"}}}


def server(r):
    return r // 8


@pytest.mark.parametrize("n", [8, 16, 32, 40, 128])
def test_rings_visit_everyone_and_stay_on_rails(n):
    """Each ring visits every member once; every hop between servers joins GPUs of one index."""
    rings = ring_orders(tuple(range(n)), server)
    assert len(rings) == min(8, n)
    for ring in rings:
        assert sorted(ring) == list(range(n))
        hops = list(zip(ring, ring[1:] + ring[:1]))
        cross = [(a, b) for a, b in hops if server(a) != server(b)]
        assert all(a % 8 == b % 8 for a, b in cross)


@pytest.mark.parametrize("m", [2, 3, 5, 8, 16, 30])
def test_double_tree_makes_each_server_interior_at_most_once(m):
    """Both trees span all m servers with m-1 edges; no server is interior in both."""
    trees = _double_tree(m)
    for tree in trees:
        assert len(tree) == m - 1
        assert {c for c, _ in tree} | {p for _, p in tree} == set(range(m))
    interior = [{p for _, p in tree} for tree in trees]
    assert not interior[0] & interior[1]


def test_large_all_reduce_in_a_server_reaches_link_rate():
    """A large ring all-reduce on 8 GPUs of one server runs at NVLink rate x efficiency (busbw)."""
    system = load_system({"system": {**SYSTEM["system"], "num_nodes": 1}})
    df = bench_collective(system, "all_reduce", 8, [2.0**34])
    calib = load_calibration()
    link = load_accelerator("A100-40GB").scale_up_bandwidth * calib.protocol_efficiency["nvlink"]
    expected = min(link, 8 * calib.protocols["simple"]["channel_rate"])  # 8 rings share each link
    assert df["busbw"][0] == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("op", ["reduce_scatter", "all_gather", "all_to_all", "broadcast", "send_recv"])
def test_every_collective_runs_and_more_bytes_take_longer(op):
    """Each collective completes, and a larger buffer never finishes sooner."""
    system = load_system(SYSTEM)
    df = bench_collective(system, op, 16, [2.0**20, 2.0**24, 2.0**28])
    assert (df["time"] > 0).all()
    assert df["time"].is_monotonic_increasing


def test_tree_for_small_messages_ring_for_large_at_scale():
    """At 128 GPUs small all-reduces take the tree (latency), large ones the ring (bandwidth)."""
    df = bench_collective(load_system(SYSTEM), "all_reduce", 128, [2.0**12, 2.0**33])
    assert df["algorithm"][0].startswith("tree") and df["algorithm"][1].startswith("ring")


def test_forcing_the_ring_is_never_faster_than_auto():
    """auto picks the cheapest way, so forcing one algorithm cannot beat it."""
    system = load_system(SYSTEM)
    sizes = [2.0**k for k in (12, 20, 26)]
    auto = bench_collective(system, "all_reduce", 64, sizes)
    ring = bench_collective(system, "all_reduce", 64, sizes, algorithm="ring")
    assert (auto["time"] <= ring["time"] * (1 + 1e-9)).all()


def test_bad_bench_options_are_config_errors():
    with pytest.raises(ConfigError, match="--op"):
        bench_collective(load_system(SYSTEM), "all_mix", 8)
    with pytest.raises(ConfigError, match="--algorithm"):
        bench_collective(load_system(SYSTEM), "all_gather", 8, algorithm="tree")


def test_bench_collective_cli_prints_nccl_tests_table():
    """`clustersim bench-collective` prints size, count, time, algbw and busbw rows."""
    proc = subprocess.run([sys.executable, "-m", "simulator.cli", "bench-collective",
                           str(SCENARIOS / "llama3-70b-64xh100.yaml"), "--gpus", "16",
                           "-b", "1 MiB", "-e", "16 MiB"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    rows = [l.split() for l in proc.stdout.splitlines() if not l.startswith("#")]
    assert [int(r[0]) for r in rows] == [2**20, 2**21, 2**22, 2**23, 2**24]
    assert all(float(r[5]) > 0 for r in rows)


H100 = {"system": {"accelerator": "H100-SXM", "num_nodes": 2, "gpus_per_node": 8}}


def test_nvls_serves_large_all_reduce_in_an_h100_server():
    """Inside an H100 NVSwitch, large all-reduces go through the switch (NVLS), beating the ring."""
    system = load_system(H100)
    auto = bench_collective(system, "all_reduce", 8, [2.0**32])
    ring = bench_collective(system, "all_reduce", 8, [2.0**32], algorithm="ring")
    assert auto["algorithm"][0] == "nvls/simple"
    assert auto["busbw"][0] > 1.3 * ring["busbw"][0]


def test_nvls_needs_a_capable_switch():
    """A100's NVSwitch has no in-switch reduction: NVLS is never chosen there."""
    df = bench_collective(load_system(SYSTEM), "all_reduce", 8, [2.0**32])
    assert not df["algorithm"][0].startswith("nvls")


def test_hierarchical_all_reduce_runs_in_three_phases():
    """The hierarchical all-reduce records reduce-scatter, cross-server all-reduce, all-gather."""
    import simulator
    from .conftest import small_gpt
    sc = small_gpt(parallelism={"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 1},
                   system={"collective_algorithms": {"all_reduce": "hierarchical"}})
    flows = simulator.simulate(sc).tables["flows"]
    hierarchical = flows[(flows["op"] == "all_reduce") & flows["algorithm"].str.startswith("hierarchical")]
    assert sorted(hierarchical["phase"].unique()) == [1, 2, 3]
    assert set(hierarchical["communicator"]) == {"dp"} and len(hierarchical["ranks"].iloc[0]) == 8


def test_scenario_can_force_an_algorithm():
    """system.collective_algorithms forces the algorithm; a wrong name is a ConfigError."""
    import simulator
    from .conftest import small_gpt
    sc = small_gpt(system={"collective_algorithms": {"all_reduce": "ring"}})
    flows = simulator.simulate(sc).tables["flows"]
    assert set(zip(flows["op"], flows["algorithm"].str.split("/").str[0])) <= {
        ("all_reduce", "ring"), ("send_recv", "direct")}
    with pytest.raises(ConfigError, match="scenario.system.collective_algorithms.all_reduce"):
        simulator.simulate(small_gpt(system={"collective_algorithms": {"all_reduce": "butterfly"}}))


def test_jobs_sharing_oversubscribed_uplinks_slow_each_other():
    """Two jobs whose rings cross the same oversubscribed leaf uplinks are slower together."""
    import simulator
    from .conftest import small_gpt
    a = small_gpt(parallelism={"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 1},
                  training={"global_batch_size": 48},
                  system={"num_nodes": 3, "gpus_per_node": 4,
                          "topology": {"nodes_per_leaf": 2, "spines": 1, "oversubscription": 2.0}})
    alone = simulator.simulate(a)
    together = simulator.simulate_together([a, a])
    assert all(r.iteration_time > alone.iteration_time * 1.05 for r in together)


def test_jobs_on_separate_leaves_do_not_interfere():
    """Jobs under different leaves share no link: together they run as fast as alone."""
    import simulator
    from .conftest import small_gpt
    a = small_gpt(parallelism={"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 1},
                  system={"num_nodes": 2, "gpus_per_node": 4, "topology": {"nodes_per_leaf": 2}})
    alone = simulator.simulate(a)
    assert [r.iteration_time for r in simulator.simulate_together([a, a])] == pytest.approx(
        [alone.iteration_time] * 2, rel=1e-12)
