import subprocess
import sys

import pytest

from simulator import simulate
from simulator.config import ConfigError, load_scenario

from .conftest import SCENARIOS, small_gpt


def test_loads_inline_and_applies_defaults():
    """A minimal scenario loads; unspecified keys take their documented defaults."""
    sc = load_scenario(small_gpt())
    assert sc.training.precision == "bf16"
    assert sc.parallelism.zero_stage == 0
    assert sc.system.topology.nic_bandwidth == pytest.approx(25e9)
    assert sc.simulation.mode == "symmetric"


def test_hf_config_merges_and_inline_overrides():
    """hf_config is read relative to the scenario; inline model keys override the file's."""
    sc = load_scenario({**small_gpt(), "model": {"hf_config": "models/llama3-70b.json",
                                                 "num_hidden_layers": 4}}, base_dir=SCENARIOS)
    assert sc.model.hidden_size == 8192 and sc.model.kv_heads == 8 and sc.model.gated_mlp
    assert sc.model.num_hidden_layers == 4


def test_gpt2_names_are_accepted_in_hf_files():
    """GPT-2 style config.json names (n_embd, n_layer, ...) map to the canonical fields."""
    sc = load_scenario(SCENARIOS / "gpt3-175b-1024xa100.yaml")
    assert (sc.model.hidden_size, sc.model.num_hidden_layers, sc.model.num_attention_heads) == (12288, 96, 96)


BAD_INPUTS = [
    # (what to change, field named in the error, text the error must contain)
    (lambda s: s["model"].update(hidden_sze=5), "scenario.model.hidden_sze", "did you mean 'hidden_size'"),
    (lambda s: s["training"].update(micro_batch_size="two"), "scenario.training.micro_batch_size", "an integer"),
    (lambda s: s["training"].update(precision="fp64"), "scenario.training.precision", "'bf16'"),
    (lambda s: s["training"].update(global_batch_size=30), "scenario.training.global_batch_size", "multiple"),
    (lambda s: s["parallelism"].update(tensor_model_parallel_size=3), "tensor_model_parallel_size", "divide"),
    (lambda s: s["model"].update(num_attention_heads=15, hidden_size=1200),
     "scenario.parallelism.tensor_model_parallel_size", "a divisor of num_attention_heads"),
    (lambda s: s["parallelism"].update(pipeline_model_parallel_size=16, tensor_model_parallel_size=1) or
     s["system"].update(num_nodes=4), "pipeline_model_parallel_size", "at most the number of layers (8)"),
    (lambda s: s["system"]["topology"].update(nic_bandwidth="200 Gbit"), "scenario.system.topology.nic_bandwidth",
     "400 Gb/s"),
    (lambda s: s["system"].update(accelerator="Z100"), "scenario.system.accelerator", "H100-SXM"),
    (lambda s: s["parallelism"].update(zero_stage=4), "scenario.parallelism.zero_stage", "one of 0, 1, 2, 3"),
    (lambda s: s["training"].update(micro_batch_size=0), "scenario.training.micro_batch_size", ">= 1"),
    (lambda s: s.pop("training"), "scenario.training", "required key is missing"),
    (lambda s: s["system"].update(num_nodes=-1), "scenario.system.num_nodes", ">= 1"),
    (lambda s: s["parallelism"].update(data_parallel_size=4), "scenario.parallelism.data_parallel_size", "= world"),
    (lambda s: s["system"]["topology"].update(file="nope.json"), "scenario.system.topology.file", "file not found"),
    (lambda s: s["model"].update(num_key_value_heads=5), "scenario.model.num_key_value_heads", "divisor"),
]


@pytest.mark.parametrize("mutate,field,text", BAD_INPUTS)
def test_bad_input_gives_clear_error(mutate, field, text):
    """Each kind of bad input raises ConfigError naming the field and what is accepted."""
    sc = small_gpt()
    mutate(sc)
    with pytest.raises(ConfigError) as exc:
        simulate(sc)
    msg = str(exc.value)
    assert field in msg, msg
    assert text in msg, msg


def test_over_capacity_stops_with_breakdown():
    """A plan that does not fit HBM stops with the rank, the need, the capacity and a breakdown."""
    sc = small_gpt(model={"hidden_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 64},
                   parallelism={"tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 1})
    with pytest.raises(ConfigError) as exc:
        simulate(sc)
    msg = str(exc.value)
    assert "does not fit: rank 0 needs" in msg and "of 80.00 GiB" in msg and "optimizer_states" in msg


def test_cli_prints_error_without_traceback_and_exits_2(tmp_path):
    """The CLI reports a bad scenario in one line on stderr and exits with status 2."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {hidden_size: 64}\ntraining: {}\nsystem: {accelerator: H100-SXM, num_nodes: 1}\n")
    proc = subprocess.run([sys.executable, "-m", "simulator.cli", "run", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: scenario.model.num_hidden_layers: required key is missing")


def test_malformed_yaml_is_a_config_error(tmp_path):
    """A file that is not valid YAML is reported as such, with its path."""
    bad = tmp_path / "broken.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot parse file"):
        load_scenario(bad)


@pytest.mark.parametrize("field,value", [
    ("oversubscription", float("nan")),
    ("oversubscription", float("inf")),
])
def test_non_finite_numbers_are_refused(field, value):
    """NaN and infinity are not numbers a scenario can mean."""
    sc = small_gpt()
    sc["system"]["topology"][field] = value
    with pytest.raises(ConfigError, match="finite"):
        simulate(sc)


def test_infinite_quantity_is_refused():
    sc = small_gpt()
    sc["system"]["topology"]["nic_bandwidth"] = "1e400 GB/s"
    with pytest.raises(ConfigError, match="finite"):
        simulate(sc)


@pytest.mark.parametrize("field, value", [("peak_flops", {"bf16": "0 TFLOP/s"}), ("peak_flops", {"bf16": "5e-324 FLOP/s"}),
                                          ("hbm", {"capacity": "80 GiB", "bandwidth": "0 TB/s"})])
def test_zero_rates_in_an_accelerator_file_are_refused(tmp_path, field, value):
    """A rate the simulator divides by must be positive: a zero is an error naming the field."""
    import yaml
    from simulator.hardware.catalog import parse_accelerator
    data = {"name": "z", "peak_flops": {"bf16": "100 TFLOP/s"}, "hbm": {"capacity": "80 GiB", "bandwidth": "2 TB/s"},
            "scale_up": {"bandwidth": "900 GB/s"}, "host_link": {"bandwidth": "64 GB/s"}}
    data[field] = value
    with pytest.raises(ConfigError, match=f"accelerator z.yaml.{field}"):
        parse_accelerator(yaml.safe_load(yaml.safe_dump(data)), "accelerator z.yaml")


@pytest.mark.parametrize("over,field,limit", [
    ({"training": {"global_batch_size": 2**63}}, "training.global_batch_size", "16,777,216"),
    ({"model": {"num_hidden_layers": 2**31}}, "model.num_hidden_layers", "10,000"),
    ({"system": {"num_nodes": 2, "gpus_per_node": 4, "topology": {"spines": 2**64 + 1}}},
     "topology.spines", "65,536"),
    ({"training": {"seq_length": 10**400}}, "training.seq_length", "16,777,216"),
    ({"system": {"num_nodes": 1_048_576, "gpus_per_node": 1024}}, "system.num_nodes", "4,194,304"),
])
def test_counts_have_upper_bounds_named_in_the_message(over, field, limit):
    """Counts far beyond any real model or cluster are refused before anything is built, with the
    limit in a one-line message (they used to exhaust memory or hang)."""
    with pytest.raises(ConfigError) as exc:
        simulate(small_gpt(**over))
    message = str(exc.value)
    assert field in message and limit in message and "\n" not in message and len(message) < 400


def test_a_malformed_referenced_file_is_named_without_its_content(tmp_path):
    """A model config that is not YAML is named with the place it goes wrong, never its text."""
    secret = tmp_path / "secret.yaml"
    secret.write_text("user: me\npassword: [hunter2\n")
    with pytest.raises(ConfigError) as exc:
        load_scenario({**small_gpt(), "model": {"hf_config": str(secret)}})
    message = str(exc.value)
    assert str(secret) in message and "line" in message and "hunter2" not in message


@pytest.mark.parametrize("make,reason", [
    (lambda d: d, "file not found"),                                           # a directory
    (lambda d: (d / "big.yaml").write_bytes(b"#" * (16 * 2**20 + 1)) and d / "big.yaml", "too large"),
])
def test_unreadable_or_oversized_files_are_refused(tmp_path, make, reason):
    with pytest.raises(ConfigError, match=reason):
        load_scenario({**small_gpt(), "model": {"hf_config": str(make(tmp_path))}})


@pytest.mark.parametrize("name", ["../../etc/passwd", "/tmp/evil", "H100-SXM/../A100-80GB", "x" * 5000])
def test_accelerator_names_are_catalog_names_or_file_paths(name):
    """A name that is not in the catalog is never turned into a path into (or out of) it."""
    with pytest.raises(ConfigError, match="scenario.system.accelerator"):
        simulate(small_gpt(system={"accelerator": name, "num_nodes": 1, "gpus_per_node": 8}))


@pytest.mark.parametrize("name", ["../failure_models/rsc1", "rsc1/../rsc2", "/tmp/evil"])
def test_failure_model_names_are_catalog_names_or_file_paths(name):
    """The failure-model catalog is confined like the accelerator catalog."""
    from simulator.reliability.failure_model import load_failure_model
    with pytest.raises(ConfigError, match="failure_model"):
        load_failure_model(name)


def test_a_path_the_system_refuses_is_a_config_error(tmp_path):
    """A topology file name longer than the file system allows is one line naming the field."""
    topology = {"file": str(tmp_path / ("x" * 5000 + ".json"))}
    with pytest.raises(ConfigError, match="scenario.system.topology.file.*cannot read the file"):
        load_scenario(small_gpt(system={"accelerator": "A100-80GB", "num_nodes": 1, "gpus_per_node": 8,
                                        "topology": topology}))


def test_run_out_that_is_a_file_is_refused_before_simulating(tmp_path):
    """`clustersim run --out FILE` says --out must be a folder, in one line, exit 2."""
    taken = tmp_path / "taken"
    taken.write_text("")
    proc = subprocess.run([sys.executable, "-m", "simulator.cli", "run", str(SCENARIOS / "gpt-1.3b-8xa100.yaml"),
                           "--out", str(taken)], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: --out:") and "a folder" in proc.stderr
