import simpy
import pytest
from hypothesis import given, settings, strategies as st

from simulator.network import Fabric, Footprint


def run_transfers(capacity, transfers):
    """transfers: (start, links, mult, nbytes, latency). Returns finish times and the fabric."""
    env = simpy.Environment()
    fab = Fabric(env, capacity)
    done = {}

    def go(i, start, links, mult, nbytes, latency):
        yield env.timeout(start)
        yield fab.transfer(Footprint(tuple(links), tuple(mult), latency), nbytes, latency)
        done[i] = env.now

    for i, t in enumerate(transfers):
        env.process(go(i, *t))
    env.run()
    return done, fab


def test_single_flow_takes_bytes_over_capacity_plus_latency():
    """One flow alone: size / capacity of its tightest link, plus its latency."""
    done, _ = run_transfers([10.0, 5.0], [(0, [0, 1], [1, 1], 100.0, 2.0)])
    assert done[0] == pytest.approx(2.0 + 100 / 5)


def test_two_flows_share_a_link_fairly():
    """Two equal flows on one link each get half; when one ends the other speeds up."""
    done, _ = run_transfers([10.0], [(0, [0], [1], 100.0, 0.0), (0, [0], [1], 50.0, 0.0)])
    assert done[1] == pytest.approx(10.0)            # 50 B at 5 B/s
    assert done[0] == pytest.approx(10.0 + 50 / 10)  # remaining 50 B at 10 B/s


def test_max_min_fairness_gives_unused_share_to_others():
    """Classic case: A on links 0+1, B on 0, C on 1; link 1 is tighter, so A and C split it and
    B takes what A leaves on link 0."""
    cap = [10.0, 4.0]
    done, _ = run_transfers(cap, [(0, [0, 1], [1, 1], 20.0, 0.0),
                                  (0, [0], [1], 80.0, 0.0),
                                  (0, [1], [1], 20.0, 0.0)])
    # A, C at 2 B/s until t=10; B at 8 B/s until t=10 (80 B) -> all finish together
    assert done[0] == pytest.approx(10.0) and done[1] == pytest.approx(10.0) and done[2] == pytest.approx(10.0)


def test_a_component_met_again_gets_the_same_rates_from_memory():
    """The max-min case above, started again later with the same footprints: the fabric reuses
    the rates it filled the first time (no new filling), and the times repeat exactly."""
    env = simpy.Environment()
    fab = Fabric(env, [10.0, 4.0])
    fps = [Footprint((0, 1), (1, 1), 0.0), Footprint((0,), (1,), 0.0), Footprint((1,), (1,), 0.0)]
    done = {}
    fills = []
    fill = fab._fill
    fab._fill = lambda classes: fills.append(len(classes)) or fill(classes)

    def go(i, start, fp, nbytes):
        yield env.timeout(start)
        yield fab.transfer(fp, nbytes, 0.0)
        done[i] = env.now

    for rep in range(2):
        for k, (fp, nbytes) in enumerate(zip(fps, (20.0, 80.0, 20.0))):
            env.process(go((rep, k), 100.0 * rep, fp, nbytes))
    env.run()
    assert [done[(0, k)] for k in range(3)] == pytest.approx([10.0] * 3)
    assert [done[(1, k)] - 100.0 for k in range(3)] == [done[(0, k)] for k in range(3)]
    assert fills == [2, 3]   # the classes join one by one (two, then three); the repeat fills nothing


def test_multiplicity_loads_a_link_like_that_many_flows():
    """A class of 4 flows on one link moves each flow at a quarter of the capacity."""
    done, _ = run_transfers([8.0], [(0, [0], [4], 10.0, 0.0)])
    assert done[0] == pytest.approx(10 / 2)


def test_exclusive_footprint_takes_closed_form_path():
    """A serialized footprint alone on its links finishes at latency + bytes / solo rate."""
    env = simpy.Environment()
    fab = Fabric(env, [10.0, 5.0])
    fp = Footprint((0, 1), (1, 2), 1.0)
    fab.mark_exclusive([(fp, "group")], {"group"})
    ev = fab.transfer(fp, 25.0, 1.0)
    env.run(ev)
    assert env.now == pytest.approx(1.0 + 25 / 2.5)
    assert fab.recomputations == 0


flows = st.lists(st.tuples(st.floats(0, 5), st.lists(st.integers(0, 3), min_size=1, max_size=3, unique=True),
                           st.floats(1, 1000)), min_size=1, max_size=6)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 4)), min_size=1, max_size=4, unique_by=lambda t: t[0]),
       st.integers(0, 3), st.floats(1.1, 4), st.floats(1, 1e4))
def test_more_bandwidth_never_slows_a_collective(links, link, factor, nbytes):
    """A collective (one flow class, any multiplicities) never finishes later on faster links."""
    cap = [10.0, 20.0, 5.0, 8.0]
    ids, mult = [l for l, _ in links], [m for _, m in links]
    before, _ = run_transfers(cap, [(0, ids, mult, nbytes, 1.0)])
    cap[link] *= factor
    after, _ = run_transfers(cap, [(0, ids, mult, nbytes, 1.0)])
    assert after[0] <= before[0] * (1 + 1e-12)


def test_max_min_is_not_monotone_per_flow():
    """Known property of max-min fairness: widening a link can slow a flow that does not use it,
    because the flows it frees compete harder elsewhere (here A, alone on link 0); with other
    sizes even the last finish moves later. Monotonicity holds per collective, not per fabric."""
    transfers = [(0, [0], [1], 1.0, 0.0), (0, [0, 2], [1, 1], 1.0, 0.0), (0, [0, 2], [1, 1], 1.0, 0.0)]
    before, _ = run_transfers([10.0, 20.0, 5.0], transfers)
    after, _ = run_transfers([10.0, 20.0, 10.0], transfers)
    assert before[0] == pytest.approx(0.2) and after[0] == pytest.approx(0.3)
    transfers = [(0, [3, 0], [1, 1], 2.0, 0.0), (0, [0, 1, 2], [1, 1, 1], 1.0, 0.0),
                 (0, [0, 1, 2], [1, 1, 1], 1.0, 0.0)]
    before, _ = run_transfers([10.0, 20.0, 5.0, 8.0], transfers)
    after, _ = run_transfers([10.0, 20.0, 10.0, 8.0], transfers)
    assert max(before.values()) == pytest.approx(0.4) and max(after.values()) == pytest.approx(0.425)


@settings(max_examples=60, deadline=None)
@given(flows)
def test_bytes_are_conserved(spec):
    """Every link carries exactly the bytes of the flows routed over it."""
    cap = [10.0, 20.0, 5.0, 8.0]
    transfers = [(t, links, [1] * len(links), b, 0.0) for t, links, b in spec]
    _, fab = run_transfers(cap, transfers)
    for l in range(4):
        expected = sum(b for _, links, b in spec if l in links)
        assert fab.link_bytes[l] == pytest.approx(expected)


@settings(max_examples=40, deadline=None)
@given(flows)
def test_no_link_is_ever_over_capacity(spec):
    """At every rate change, the rates on each link sum to at most its capacity."""
    cap = [10.0, 20.0, 5.0, 8.0]
    env = simpy.Environment()
    fab = Fabric(env, cap)
    original = fab._reshare

    def checked(classes):
        original(classes)
        load = [0.0] * 4
        for l, users in fab.users.items():
            for c in users:
                load[l] += c.rate * c.mult[c.links.index(l)]
        assert all(load[l] <= cap[l] * (1 + 1e-9) for l in range(4))

    fab._reshare = checked

    def go(start, links, nbytes):
        yield env.timeout(start)
        yield fab.transfer(Footprint(tuple(links), (1,) * len(links), 0.0), nbytes, 0.0)

    for t, links, b in spec:
        env.process(go(t, links, b))
    env.run()


def test_long_iterations_over_slow_links_finish():
    """At simulated times of hours, a transfer's finish is not lost to float rounding: Mixtral on
    100 Mb/s NICs completes its (8,000-second) iteration instead of deadlocking."""
    import dataclasses

    from simulator import simulate
    from simulator.config import load_scenario

    from .conftest import SCENARIOS
    sc = load_scenario(SCENARIOS / "mixtral-8x7b-64xh100.yaml")
    topo = dataclasses.replace(sc.system.topology, nic_bandwidth=100e6 / 8)
    r = simulate(dataclasses.replace(sc, system=dataclasses.replace(sc.system, topology=topo)))
    assert r.iteration_time > 1000
