"""Properties every prediction must have, checked on scenarios hypothesis draws (fixed seed):
a faster part never makes the iteration slower, a run is reproducible down to its summary.json,
and simulating one representative per group gives the same iteration as simulating every rank."""

import json
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import simulate

from .conftest import ROOT, small_gpt

ACCELERATOR = yaml.safe_load((ROOT / "simulator/data/accelerators/A100-80GB.yaml").read_text())
PROPERTY = settings(max_examples=25, deadline=None, derandomize=True)


@st.composite
def scenarios(draw, topologies=(None,)):
    """A small job: TP x PP x DP on 1-4 servers of 4 GPUs, any overlap and ZeRO choice."""
    nodes = draw(st.sampled_from([1, 2, 4]))
    tp, pp = draw(st.sampled_from([(tp, pp) for tp in (1, 2, 4) for pp in (1, 2) if tp * pp <= nodes * 4]))
    dp = nodes * 4 // (tp * pp)
    micro = draw(st.sampled_from([1, 2]))
    parallelism = {"tensor_model_parallel_size": tp, "pipeline_model_parallel_size": pp,
                   "zero_stage": draw(st.sampled_from([0, 1, 2, 3] if pp == 1 else [0, 1])),
                   "overlap_grad_reduce": draw(st.booleans()),
                   "sequence_parallel": tp > 1 and draw(st.booleans())}
    topology = {"nic_bandwidth": draw(st.sampled_from(["100 Gb/s", "200 Gb/s", "400 Gb/s"]))}
    topology.update(draw(st.sampled_from(topologies)) or {})
    return small_gpt(parallelism=parallelism,
                     training={"micro_batch_size": micro, "global_batch_size": micro * dp * draw(st.sampled_from([2, 4, 8])),
                               "seq_length": draw(st.sampled_from([512, 2048]))},
                     system={"accelerator": "A100-80GB", "num_nodes": nodes, "gpus_per_node": 4,
                             "topology": topology})


def _scaled(quantity: str, factor: float) -> str:
    number, unit = quantity.split(maxsplit=1)
    return f"{float(number) * factor:g} {unit}"


def _faster_accelerator(part: str, factor: float) -> str:
    """A copy of the A100 whose `part` (peak_flops, hbm or scale_up) is `factor` times faster,
    written to a file; its path."""
    spec = json.loads(json.dumps(ACCELERATOR))
    if part == "peak_flops":
        spec["peak_flops"] = {k: _scaled(v, factor) for k, v in spec["peak_flops"].items()}
    else:
        spec[part]["bandwidth"] = _scaled(spec[part]["bandwidth"], factor)
    spec["name"] = f"A100-faster-{part}"
    path = Path(tempfile.mkdtemp(prefix="accelerator-")) / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


@PROPERTY
@given(scenarios(), st.sampled_from(["peak_flops", "hbm", "scale_up", "nic"]), st.sampled_from([1.25, 2.0, 8.0]))
def test_a_faster_part_never_makes_the_iteration_slower(sc, part, factor):
    """More FLOP/s, HBM bandwidth, NVLink or NIC bandwidth: the iteration is never longer."""
    faster = json.loads(json.dumps(sc))
    if part == "nic":
        topology = faster["system"]["topology"]
        topology["nic_bandwidth"] = _scaled(topology["nic_bandwidth"], factor)
    else:
        faster["system"]["accelerator"] = _faster_accelerator(part, factor)
    base, quick = simulate(sc).iteration_time, simulate(faster).iteration_time
    assert quick <= base * (1 + 1e-12), f"{part} x{factor}: {quick} s > {base} s"


def _summary_json(result) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="summary-"))
    result.to_dir(folder, tables=False, trace=False, report=False)
    summary = json.loads((folder / "summary.json").read_text())
    del summary["simulation"]["wall_time_s"]
    return summary


@settings(PROPERTY, max_examples=10)
@given(scenarios())
def test_the_same_scenario_twice_writes_the_same_summary(sc):
    """Two runs of one scenario write identical summary.json files, the wall time aside."""
    assert _summary_json(simulate(sc)) == _summary_json(simulate(sc))


BUILDERS = ({"spines": 2, "nodes_per_leaf": 1}, {"rail_optimized": False, "nodes_per_leaf": 2, "spines": 2},
            {"builder": "three_tier_clos", "nodes_per_leaf": 1, "nodes_per_pod": 2, "spines": 2,
             "core_switches": 2, "core_oversubscription": 2.0},
            {"builder": "torus", "torus_dims": [2, 2]},
            {"builder": "dragonfly", "routers_per_group": 2, "nodes_per_router": 1})


@PROPERTY
@given(scenarios(topologies=BUILDERS))
def test_symmetric_and_full_mode_agree_on_every_builder(sc):
    """One rank per class or every rank: the same iteration, on every topology builder."""
    if sc["system"]["topology"].get("builder") == "torus":
        dims = sc["system"]["topology"]["torus_dims"]
        sc["system"]["num_nodes"], sc["system"]["gpus_per_node"] = dims[0] * dims[1], 1
        plan = sc["parallelism"]
        plan["tensor_model_parallel_size"], plan["zero_stage"] = 1, 0
        plan["sequence_parallel"] = False
        sc["training"]["global_batch_size"] = sc["training"]["micro_batch_size"] * 4 // plan["pipeline_model_parallel_size"] * 2
    symmetric, full = simulate(sc, mode="symmetric"), simulate(sc, mode="full")
    assert symmetric.iteration_time == pytest.approx(full.iteration_time, rel=1e-9)
