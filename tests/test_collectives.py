import subprocess
import sys

import pytest

from simulator.api import bench_collective, load_system
from simulator.config import ConfigError
from simulator.hardware import load_accelerator, load_calibration
from simulator.network.collectives import _double_tree, flows, ring_orders

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
