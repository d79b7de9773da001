import json

import pytest

from simulator.config import ConfigError
from simulator.topology import (build_cluster, load_topology, rail_optimized_fat_tree, save_topology,
                                summarize)

EFF = {"nvlink": 1.0, "pcie": 1.0, "infiniband": 1.0}
LAT = {"nvlink": 0.0, "pcie": 0.0, "infiniband": 0.0}


def tree(nodes=4, per_leaf=2, spines=2, oversub=1.0):
    return rail_optimized_fat_tree(num_nodes=nodes, gpus_per_node=8, nics_per_node=8, nic_bandwidth=25e9,
                                   scale_up_bandwidth=300e9, host_link_bandwidth=32e9,
                                   nodes_per_leaf=per_leaf, spines=spines, oversubscription=oversub)


def test_fat_tree_counts():
    """4 servers, 2 per leaf, 8 rails: 16 leaves, 2 spines; each leaf links every spine."""
    s = summarize(tree())
    assert s["nodes"] == {"gpu": 32, "nic": 32, "nvswitch": 4, "switch": 18}
    assert s["links"] == {"infiniband": 32 + 16 * 2, "nvlink": 32, "pcie": 32}


def test_bisection_of_full_bisection_tree_is_half_the_nic_bandwidth():
    """A non-blocking fat-tree's bisection equals the NIC bandwidth of half the GPUs."""
    assert summarize(tree())["bisection_bandwidth"] == pytest.approx(16 * 25e9)


def test_oversubscription_divides_bisection():
    """2:1 oversubscribed leaves halve the bisection when halves sit under different leaves."""
    assert summarize(tree(oversub=2.0))["bisection_bandwidth"] == pytest.approx(8 * 25e9)


def path_kinds(cluster, a, b):
    return [cluster.links[i] for i in cluster.route(a, b)]


def test_routes_take_nvswitch_inside_a_server_and_rails_across():
    """Same server: via NVSwitch; same rail, same leaf: via the leaf; other leaf: via a spine."""
    cl = build_cluster(tree(), 32, EFF, LAT)
    inside = path_kinds(cl, 0, 3)
    assert [n for n, _ in inside] == ["n0/gpu0", "n0/nvswitch"]
    same_leaf = [a for a, _ in path_kinds(cl, 0, 8)]
    assert same_leaf == ["n0/gpu0", "n0/nic0", "leaf0/rail0", "n1/nic0"]
    across = [a for a, _ in path_kinds(cl, 0, 16)]
    assert across[3].startswith("spine") and len(across) == 6


def test_routing_is_deterministic_and_spreads_over_spines():
    """Same path every time, and both spines get used by flows into the two servers of a leaf."""
    g = tree()
    a = build_cluster(g, 32, EFF, LAT)
    b = build_cluster(g, 32, EFF, LAT)
    spines = set()
    for src in range(8):
        for dst in range(16, 32):
            assert a.route(src, dst) == b.route(src, dst)
            spines |= {a.links[i][1] for i in a.route(src, dst) if a.links[i][1].startswith("spine")}
    assert spines == {"spine0", "spine1"}


def test_ecmp_picks_by_destination_and_spreads_consecutive_servers():
    """D-mod-k: every flow into one GPU crosses the same spine, and flows from the servers of one
    leaf into the servers of another (rail 0) use each of the 4 spines exactly once."""
    cl = build_cluster(tree(nodes=8, per_leaf=4, spines=4), 64, EFF, LAT)

    def spine(src, dst):
        return next(cl.links[i][1] for i in cl.route(src, dst) if cl.links[i][1].startswith("spine"))
    assert len({spine(8 * s, 8 * 4) for s in range(4)}) == 1
    assert sorted(spine(8 * s, 8 * (4 + s)) for s in range(4)) == ["spine0", "spine1", "spine2", "spine3"]


def test_save_and_load_round_trip(tmp_path):
    """A topology saved as node-link JSON loads back with the same nodes, links and attributes."""
    g = tree()
    p = tmp_path / "t.json"
    save_topology(g, p)
    assert "edges" in json.loads(p.read_text())
    h = load_topology(p)
    assert sorted(h.nodes) == sorted(g.nodes)
    assert summarize(h) == summarize(g)


@pytest.mark.parametrize("corrupt,text", [
    (lambda d: d["edges"][0].update(bandwidth=-1), "bandwidth"),
    (lambda d: d["edges"][0].update(kind="copper"), ".kind"),
    (lambda d: d["nodes"][0].update(kind="toaster"), ".kind"),
    (lambda d: d["edges"][0].update(bandwidth=float("nan")), "bandwidth"),
    (lambda d: d["edges"][0].update(bandwidth=1e308), "up to 1e15"),
    (lambda d: d["nodes"][0].update(tier="top"), ".tier"),
    (lambda d: d["nodes"][0].update(tier=-1), ".tier"),
    (lambda d: d["edges"][0].update(target=d["edges"][0]["source"]), "to itself"),
    (lambda d: next(n for n in d["nodes"] if n["kind"] == "gpu").update(node=True), ".node"),
    (lambda d: next(n for n in d["nodes"] if n["kind"] == "nic").update(node=""), ".node"),
    (lambda d: next(n for n in d["nodes"] if n["kind"] == "gpu").update(local=-1), ".local"),
])
def test_bad_topology_files_are_named(tmp_path, corrupt, text):
    """A topology file with a bad attribute gives a ConfigError naming the file and the element."""
    p = tmp_path / "t.json"
    save_topology(tree(), p)
    data = json.loads(p.read_text())
    corrupt(data)
    p.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as exc:
        load_topology(p)
    assert str(p) in str(exc.value) and text in str(exc.value)


@pytest.mark.parametrize("name,text", [
    ("t.json", "[1, 2, 3]"),                                     # not an object
    ("t.json", "[" * 100_000 + "]" * 100_000),                   # nested past the parser's depth
    ("t.graphml", "<graphml><graph><node id='a'></graph>"),      # malformed XML
    ("t.yaml", "topology: [Ring\nnpus_count: {"),                # malformed YAML
    ("t.yaml", "!!python/object:os.system {}"),                  # a tag that must not run
])
def test_unreadable_topology_files_are_named(tmp_path, name, text):
    """Whatever a topology file holds, reading it ends in one line naming the file."""
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_topology(p)
    message = str(exc.value)
    assert str(p) in message and "\n" not in message and len(message) < 1200


def test_error_messages_are_one_bounded_line():
    """A value nested thousands deep, an integer of thousands of digits or megabytes of text
    shows as one short line; a newline in a field name is escaped."""
    deep: list = []
    inner = deep
    for _ in range(5000):
        inner.append([])
        inner = inner[0]
    for value in (deep, 10**5000, "x" * 10**6):
        message = str(ConfigError("model.hidden_size", value, "a positive integer"))
        assert "\n" not in message and len(message) < 500
    assert str(ConfigError("a\nb", 1, "c")).startswith("a\\nb: got 1")


def test_not_json_topology(tmp_path):
    p = tmp_path / "t.json"
    p.write_text("{")
    with pytest.raises(ConfigError, match="cannot read a graph"):
        load_topology(p)


def test_too_few_gpus_is_an_error():
    """A job larger than the topology is refused with the GPU counts."""
    with pytest.raises(ConfigError, match="needs 64 GPUs but the topology has 32"):
        build_cluster(tree(), 64, EFF, LAT)


def test_gpus_sharing_a_nic_still_talk_over_nvlink():
    """With two GPUs per NIC, GPU-to-GPU traffic in a server takes the wider NVSwitch path."""
    g = rail_optimized_fat_tree(num_nodes=2, gpus_per_node=8, nics_per_node=4, nic_bandwidth=25e9,
                                scale_up_bandwidth=300e9, host_link_bandwidth=32e9, nodes_per_leaf=2, spines=2)
    cl = build_cluster(g, 16, EFF, LAT)
    assert [a for a, _ in path_kinds(cl, 0, 1)] == ["n0/gpu0", "n0/nvswitch"]
    assert [a for a, _ in path_kinds(cl, 0, 8)] == ["n0/gpu0", "n0/nic0", "leaf0/rail0", "n1/nic0"]


def test_three_tier_clos_oversubscribes_the_core():
    """Pods of leaves and spines under a core: 7:1 at the core cuts cross-pod bisection 7 times."""
    from simulator.topology import three_tier_clos

    def build(core_over):
        return three_tier_clos(num_nodes=8, gpus_per_node=8, nics_per_node=8, nic_bandwidth=25e9,
                               scale_up_bandwidth=300e9, host_link_bandwidth=32e9, nodes_per_leaf=2, spines=4,
                               nodes_per_pod=4, cores=4, core_oversubscription=core_over)
    full, thin = summarize(build(1.0)), summarize(build(7.0))
    assert full["nodes"]["switch"] == 2 * (2 * 8 + 4) + 4
    assert full["bisection_bandwidth"] == pytest.approx(32 * 25e9)
    assert thin["bisection_bandwidth"] < full["bisection_bandwidth"] / 3


def test_clos_routes_cross_pods_through_a_core():
    from simulator.topology import three_tier_clos
    g = three_tier_clos(num_nodes=8, gpus_per_node=8, nics_per_node=8, nic_bandwidth=25e9,
                        scale_up_bandwidth=300e9, host_link_bandwidth=32e9, nodes_per_leaf=2, spines=4,
                        nodes_per_pod=4, cores=4)
    cl = build_cluster(g, 64, EFF, LAT)
    hops = [a for a, _ in path_kinds(cl, 0, 40)]
    assert any(h.startswith("core") for h in hops) and len(hops) == 8


def test_torus_routes_through_chips():
    """On a 4x4 torus chips forward traffic: opposite corners are 4 hops apart with wrap-around."""
    from simulator.topology import torus
    g = torus((4, 4), 100e9)
    cl = build_cluster(g, 16, EFF, LAT)
    assert len(cl.route(0, 10)) == 4       # (0,0) -> (2,2)
    assert len(cl.route(0, 15)) == 2       # (0,0) -> (3,3) wraps in both dimensions
    assert summarize(g)["links"] == {"nvlink": 32}


def test_dragonfly_has_one_global_link_per_group_pair():
    from simulator.topology import dragonfly
    g = dragonfly(groups=5, routers_per_group=2, nodes_per_router=1, gpus_per_node=2, nic_bandwidth=25e9,
                  local_bandwidth=50e9, global_bandwidth=25e9, scale_up_bandwidth=300e9, host_link_bandwidth=32e9)
    routers = [n for n, d in g.nodes(data=True) if d["kind"] == "switch"]
    global_links = [(a, b) for a, b in g.edges() if a in routers and b in routers and a.split("/")[0] != b.split("/")[0]]
    assert len(routers) == 10 and len(global_links) == 5 * 4 // 2
    cl = build_cluster(g, 20, EFF, LAT)
    assert cl.route(0, 19)  # any two GPUs are connected


def test_graphml_topology_loads(tmp_path):
    """A GraphML file with unit-string bandwidths loads like node-link JSON."""
    import networkx as nx
    g = nx.Graph()
    for i in range(2):
        g.add_node(f"g{i}", kind="gpu", node=0, local=i)
    g.add_node("sw", kind="nvswitch")
    for i in range(2):
        g.add_edge(f"g{i}", "sw", bandwidth="450 GB/s", kind="nvlink")
    p = tmp_path / "t.graphml"
    nx.write_graphml(g, p)
    h = load_topology(p)
    assert h.edges["g0", "sw"]["bandwidth"] == 450e9


def test_astra_sim_network_yaml_loads(tmp_path):
    """ASTRA-sim's analytical network (Ring x Switch) becomes servers with their link latencies."""
    p = tmp_path / "net.yml"
    p.write_text("topology: [ Ring, Switch ]\nnpus_count: [ 4, 2 ]\nbandwidth: [ 200.0, 25.0 ]\n"
                 "latency: [ 500.0, 2000.0 ]\n")
    g = load_topology(p)
    s = summarize(g)
    assert s["nodes"]["gpu"] == 8 and s["servers"] == 2
    assert s["links"] == {"nvlink": 8, "infiniband": 8}
    cl = build_cluster(g, 8, EFF, LAT)
    assert cl.path_latency(cl.route(0, 1)) == pytest.approx(500e-9)
    assert cl.path_latency(cl.route(0, 4)) == pytest.approx(4000e-9)   # npu0 -> switch -> npu4


def test_astra_sim_bad_block_is_named(tmp_path):
    p = tmp_path / "net.yaml"
    p.write_text("topology: [ Hypercube ]\nnpus_count: [ 4 ]\nbandwidth: [ 1.0 ]\nlatency: [ 1.0 ]\n")
    with pytest.raises(ConfigError, match=r"topology\[0\].*Ring, FullyConnected, Switch"):
        load_topology(p)


def test_minimal_documented_topology_file_runs(tmp_path):
    """The two-GPU file shown in docs/scenarios.md loads and simulates (no 'multigraph' key)."""
    from simulator import simulate
    p = tmp_path / "t.json"
    p.write_text(json.dumps({"nodes": [{"id": "g0", "kind": "gpu", "node": 0, "local": 0},
                                       {"id": "g1", "kind": "gpu", "node": 0, "local": 1}],
                             "edges": [{"source": "g0", "target": "g1", "bandwidth": 450e9, "kind": "nvlink"}]}))
    sc = {"model": {"hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 1000},
          "training": {"micro_batch_size": 1, "global_batch_size": 2, "seq_length": 128},
          "system": {"accelerator": "H100-SXM", "num_nodes": 1, "gpus_per_node": 2, "topology": {"file": str(p)}}}
    assert simulate(sc).iteration_time > 0


@pytest.mark.parametrize("latency", [None, True, -1.0])
def test_bad_edge_latency_is_named(tmp_path, latency):
    p = tmp_path / "t.json"
    save_topology(tree(), p)
    data = json.loads(p.read_text())
    data["edges"][0]["latency"] = latency
    p.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="latency"):
        load_topology(p)


def _topologies():
    """Tiered graphs with parallel ways up, oversubscription and mixed link widths."""
    from simulator.topology import three_tier_clos
    yield tree(nodes=6, per_leaf=2, spines=3)
    yield tree(nodes=8, per_leaf=2, spines=4, oversub=3.0)                      # leaves reach fewer spines
    yield rail_optimized_fat_tree(num_nodes=4, gpus_per_node=4, nics_per_node=2, nic_bandwidth=50e9,
                                  scale_up_bandwidth=300e9, host_link_bandwidth=20e9, nodes_per_leaf=1, spines=3)
    yield three_tier_clos(num_nodes=8, gpus_per_node=4, nics_per_node=4, nic_bandwidth=25e9,
                          scale_up_bandwidth=300e9, host_link_bandwidth=32e9, nodes_per_leaf=2, spines=3,
                          nodes_per_pod=4, cores=3, core_oversubscription=2.0)
    yield three_tier_clos(num_nodes=8, gpus_per_node=4, nics_per_node=4, nic_bandwidth=25e9,
                          scale_up_bandwidth=300e9, host_link_bandwidth=32e9, nodes_per_leaf=2, spines=2,
                          nodes_per_pod=4, cores=3, rail_optimized=False)
    g = tree(nodes=4, per_leaf=2, spines=2)
    g.edges["leaf0/rail0", "spine1"]["bandwidth"] = 10e9   # one narrow uplink: widths differ
    yield g


@pytest.mark.parametrize("g", list(_topologies()))
def test_shared_switch_cones_give_the_routes_of_a_whole_search(g):
    """A GPU's cone built on its first branching switch's shared cone routes every pair exactly
    as a breadth-first climb from the GPU itself does."""
    from simulator.topology import Router
    from simulator.topology.routing import _Cone
    fast = Router(g)
    whole = Router(g)
    whole._cone = lambda n: _Cone(whole._search(n)[0])
    gpus = sorted(n for n, d in g.nodes(data=True) if d["kind"] == "gpu")
    for a in gpus:
        for b in gpus:
            assert fast.path(a, b) == whole.path(a, b), (a, b)


@pytest.mark.parametrize("g", list(_topologies()))
def test_routes_as_link_ids_follow_the_node_paths(g):
    """Routes assembled from each GPU's chain and the switches' part (the fast way) are the
    node paths' links, for every pair."""
    n = sum(1 for _, d in g.nodes(data=True) if d["kind"] == "gpu")
    cl = build_cluster(g, n, EFF, LAT)
    for a in range(n):
        for b in range(n):
            nodes = cl.router.path(cl.gpus[a], cl.gpus[b])
            assert cl.route(a, b) == tuple(cl.link_id[x, y] for x, y in zip(nodes, nodes[1:])), (a, b)


def test_an_astra_sim_network_too_large_to_build_is_refused(tmp_path):
    """npus_count [4096, 4096] (16.8 M NPUs) is refused with the limit, before building."""
    p = tmp_path / "net.yaml"
    p.write_text("topology: [ Ring, Switch ]\nnpus_count: [ 4096, 4096 ]\nbandwidth: [ 200.0, 25.0 ]\n"
                 "latency: [ 500.0, 2000.0 ]\n")
    with pytest.raises(ConfigError, match="at most 1,048,576 NPUs"):
        load_topology(p)


def test_an_astra_sim_full_mesh_too_large_to_build_is_refused(tmp_path):
    """A FullyConnected dimension of 4,000 NPUs (128 M links: 8 M on each of 16 lines) is refused before
    building, naming the link count; the shipped 4x4x4 network stays within the limit."""
    p = tmp_path / "net.yaml"
    p.write_text("topology: [ Ring, FullyConnected, Switch ]\nnpus_count: [ 4, 4000, 4 ]\n"
                 "bandwidth: [ 150.0, 50.0, 25.0 ]\nlatency: [ 500.0, 1000.0, 2000.0 ]\n")
    with pytest.raises(ConfigError, match="at most 2,000,000 links .this one has 128,096,000"):
        load_topology(p)


def _trees():
    """Trees held as arithmetic: several rails, shared NICs, oversubscription, more than ten
    spines and cores (name order differs from number order), partial last leaves (one of them
    with a single GPU per rail), pods, a partial last pod, and a Clos without rail optimization."""
    from simulator.topology import Tree
    base = dict(nic_bandwidth=25e9, scale_up_bandwidth=300e9, host_link_bandwidth=32e9)
    yield Tree(servers=6, gpus=4, nics=4, nodes_per_leaf=2, spines=3, oversubscription=1.0, **base)
    yield Tree(servers=8, gpus=4, nics=2, nodes_per_leaf=2, spines=4, oversubscription=3.0, **base)
    yield Tree(servers=4, gpus=4, nics=4, nodes_per_leaf=8, spines=2, oversubscription=1.0, **base)   # one group
    yield Tree(servers=12, gpus=2, nics=2, nodes_per_leaf=12, spines=12, oversubscription=1.0, **base)
    yield Tree(servers=1, gpus=8, nics=8, nodes_per_leaf=32, spines=8, oversubscription=1.0, nvls=True, **base)
    yield Tree(servers=5, gpus=2, nics=2, nodes_per_leaf=2, spines=3, oversubscription=1.0, **base)   # lone GPUs
    yield Tree(servers=7, gpus=4, nics=2, nodes_per_leaf=4, spines=12, oversubscription=1.0, **base)
    yield Tree(servers=16, gpus=2, nics=2, nodes_per_leaf=4, spines=3, oversubscription=1.0, nodes_per_pod=8,
               cores=12, core_oversubscription=0.5, **base)   # 11 cores in reach
    yield Tree(servers=8, gpus=4, nics=4, nodes_per_leaf=2, spines=2, oversubscription=1.0, nodes_per_pod=4,
               cores=3, core_oversubscription=2.0, rail_optimized=False, **base)
    yield Tree(servers=7, gpus=4, nics=2, nodes_per_leaf=2, spines=3, oversubscription=1.0, nodes_per_pod=8,
               cores=4, **base)   # one pod, a partial leaf
    yield Tree(servers=12, gpus=2, nics=2, nodes_per_leaf=2, spines=2, oversubscription=1.0, nodes_per_pod=8,
               cores=12, core_oversubscription=0.5, **base)   # a partial last pod
    yield Tree(servers=10, gpus=2, nics=2, nodes_per_leaf=2, spines=2, oversubscription=1.0, nodes_per_pod=4,
               cores=3, rail_optimized=False, **base)
    yield Tree(servers=11, gpus=2, nics=2, nodes_per_leaf=4, spines=2, oversubscription=1.0, nodes_per_pod=8,
               cores=3, core_oversubscription=0.7, **base)   # a partial leaf in the partial last pod


@pytest.mark.parametrize("t", list(_trees()))
def test_a_regular_tree_routes_as_the_router_does_on_its_graph(t):
    """Every pair's route from positions is the graph router's, link for link (by names), and
    every link has the graph's width."""
    from simulator.topology import tree_cluster
    assert t.regular
    graph = build_cluster(t.graph(), t.servers * t.gpus, EFF, LAT)
    arith = tree_cluster(t, t.servers * t.gpus, EFF, LAT)
    assert len(arith.links) == len(graph.links)
    for i, (u, v) in enumerate(arith.links):
        assert arith.bandwidth[i] == graph.bandwidth[graph.link_id[u, v]]
        assert arith.kind[i] == graph.kind[graph.link_id[u, v]]
    n = t.servers * t.gpus
    names = lambda cl, route: [cl.links[i] for i in route]  # noqa: E731
    for a in range(n):
        for b in range(n):
            assert names(arith, arith.route(a, b)) == names(graph, graph.route(a, b)), (a, b)
        assert arith.node_of(a) == graph.node_of(a)
    assert arith.in_switch((0, 1)) == graph.in_switch((0, 1))
    assert arith.link_id == graph.link_id.__class__((arith.links[i], i) for i in range(len(arith.links)))


def test_random_trees_route_as_the_router_does_on_their_graphs():
    """Forty random trees (sizes, rails, shared NICs, oversubscription, pods): every one that is
    arithmetic routes every pair as the graph router does."""
    import random

    from simulator.topology import Tree, tree_cluster
    rng = random.Random(5)
    checked = 0
    for _ in range(40):
        gpus = rng.choice((2, 4))
        t = Tree(servers=rng.randint(1, 13), gpus=gpus, nics=rng.choice((gpus, gpus // 2)), nic_bandwidth=25e9,
                 scale_up_bandwidth=300e9, host_link_bandwidth=32e9, nodes_per_leaf=rng.randint(1, 4),
                 spines=rng.randint(1, 12), oversubscription=rng.choice((1.0, 1.5, 3.0)),
                 nodes_per_pod=rng.choice((None, 2, 4, 8)), cores=rng.randint(1, 12),
                 core_oversubscription=rng.choice((0.5, 1.0, 2.0)), rail_optimized=rng.random() < 0.8)
        if t.nodes_per_pod is None and not t.rail_optimized or not t.regular:
            continue
        n = t.servers * t.gpus
        graph = build_cluster(t.graph(), n, EFF, LAT)
        arith = tree_cluster(t, n, EFF, LAT)
        assert sorted(arith.links) == sorted(graph.links), t
        for a in range(n):
            for b in range(n):
                assert [arith.links[i] for i in arith.route(a, b)] == [graph.links[i] for i in graph.route(a, b)], (t, a, b)
        checked += 1
    assert checked >= 20


def test_irregular_trees_are_left_to_the_graph():
    """With several pods: a partial leaf that reaches fewer spines, groups split by pods, leaves
    below one spine; and GPUs sharing a NIC with NVLink no wider than PCIe: not arithmetic."""
    from simulator.topology import Tree
    base = dict(gpus=4, nics=4, nic_bandwidth=25e9, scale_up_bandwidth=300e9, host_link_bandwidth=32e9,
                oversubscription=1.0)
    assert not Tree(servers=11, nodes_per_leaf=2, spines=2, nodes_per_pod=4, cores=2, **base).regular
    assert not Tree(servers=12, nodes_per_leaf=4, spines=2, nodes_per_pod=6, cores=2, **base).regular
    assert not Tree(servers=16, nodes_per_leaf=2, spines=1, nodes_per_pod=8, cores=2, **base).regular
    assert not Tree(servers=4, gpus=4, nics=2, nodes_per_leaf=2, spines=2, nic_bandwidth=25e9, oversubscription=1.0,
                    scale_up_bandwidth=32e9, host_link_bandwidth=32e9).regular
    assert Tree(servers=16, nodes_per_leaf=2, spines=2, nodes_per_pod=8, cores=2, **base).regular
    assert Tree(servers=5, nodes_per_leaf=2, spines=2, **base).regular


@pytest.mark.parametrize("nodes, topology", [
    (8, {"builder": "three_tier_clos", "nodes_per_leaf": 2, "spines": 2, "nodes_per_pod": 4, "core_switches": 3}),
    (6, {"nodes_per_leaf": 4, "spines": 3, "oversubscription": 2.0, "nics_per_node": 2}),   # a partial leaf
    (12, {"builder": "three_tier_clos", "nodes_per_leaf": 2, "spines": 2, "nodes_per_pod": 8,
          "core_switches": 12}),                                                             # a partial pod
])
def test_a_job_on_a_tree_predicts_what_its_graph_does(nodes, topology):
    """The same scenario simulated on the arithmetic tree and on the built graph of it gives the
    same iteration time, mode by mode."""
    from simulator.api import prepare, step_simulation
    from simulator.hardware import load_calibration
    from simulator.topology import system_cluster, topology_graph
    from .conftest import small_gpt
    sc = small_gpt(parallelism={"tensor_model_parallel_size": 2, "pipeline_model_parallel_size": 2},
                   training={"micro_batch_size": 2, "global_batch_size": 8 * nodes, "seq_length": 1024},
                   system={"accelerator": "H100-SXM", "num_nodes": nodes, "gpus_per_node": 4,
                           "topology": dict(topology, nic_bandwidth="200 Gb/s")})
    prep = prepare(sc)
    calib = load_calibration()
    system = prep.scenario.system
    arith = system_cluster(system, prep.accelerator, prep.job.world, calib.protocol_efficiency, calib.hop_latency)
    assert arith.router.__class__.__name__ == "TreeRouter"
    graph = build_cluster(topology_graph(system, prep.accelerator), prep.job.world, calib.protocol_efficiency,
                          calib.hop_latency)
    for mode in ("symmetric", "full"):
        times = [step_simulation(prep, cl, calib, mode).run().iteration_time for cl in (arith, graph)]
        assert times[0] == pytest.approx(times[1], rel=1e-12), mode


def test_gpus_sharing_a_nic_share_their_paths_through_the_switches():
    """Switches forward by destination port (a NIC's LID): from any GPU, the two GPUs behind one
    NIC are reached over the same switches, on the graph and on the tree alike."""
    from simulator.topology import Tree, tree_cluster
    t = Tree(servers=8, gpus=4, nics=2, nic_bandwidth=25e9, scale_up_bandwidth=300e9, host_link_bandwidth=32e9,
             nodes_per_leaf=3, spines=3, oversubscription=1.0)
    n = t.servers * t.gpus
    for cl in (build_cluster(t.graph(), n, EFF, LAT), tree_cluster(t, n, EFF, LAT)):
        spines = set()
        for src in range(0, n, 3):
            for dst in range(0, n, 2):   # GPUs dst and dst + 1 share a NIC
                if src // 4 == dst // 4:
                    continue
                a, b = cl.route(src, dst), cl.route(src, dst + 1)
                assert a[:-1] == b[:-1], (src, dst)
                spines |= {cl.links[i][1] for i in a if cl.links[i][1].startswith("spine")}
        assert len(spines) == 3   # and the destinations still spread over every spine
