import subprocess
import sys

import pytest

from simulator.config import ConfigError, apply_overrides, load_scenario, parse_assignment
from simulator.config.journal import Journal

from .conftest import SCENARIOS, small_gpt


@pytest.mark.parametrize("text, expected", [
    ("training.micro_batch_size=2", ("training.micro_batch_size", 2)),
    ("system.accelerator=H200", ("system.accelerator", "H200")),
    ("system.topology.torus_dims=[4, 4]", ("system.topology.torus_dims", [4, 4])),
    ("system.topology.nic_bandwidth=400 Gb/s", ("system.topology.nic_bandwidth", "400 Gb/s")),
    ("parallelism.sequence_parallel=true", ("parallelism.sequence_parallel", True)),
    (" training.seq_length = 4096", ("training.seq_length", 4096)),
])
def test_an_assignment_reads_its_value_as_yaml(text, expected):
    """`--set PATH=VALUE` reads VALUE as it would be read in the file."""
    assert parse_assignment(text) == expected


@pytest.mark.parametrize("text", ["training", "=2", "training..x=1", "a.b-c=1", "x" * 5000 + "=1",
                                  "training.seq_length=[1, 2"])
def test_a_malformed_assignment_is_a_config_error(text):
    """A --set that is not PATH=VALUE, or whose value is not YAML, is refused by name."""
    with pytest.raises(ConfigError, match="--set"):
        parse_assignment(text)


def test_overrides_replace_fields_and_create_sections():
    """An override sets a nested field, creating missing sections, and leaves the input alone."""
    data = small_gpt()
    out = apply_overrides(data, {"training.micro_batch_size": 4, "reliability.checkpoint.mode": "sync"})
    assert out["training"]["micro_batch_size"] == 4 and out["reliability"] == {"checkpoint": {"mode": "sync"}}
    assert data["training"]["micro_batch_size"] == 2 and "reliability" not in data
    with pytest.raises(ConfigError, match="is a value, not a section"):
        apply_overrides(data, {"training.micro_batch_size.x": 1})


def test_overridden_values_are_checked_as_in_a_file():
    """An override goes through the same checks as the file: units, bounds and unknown keys."""
    sc = load_scenario(small_gpt(), overrides={"system.topology.nic_bandwidth": "100 Gb/s",
                                               "parallelism.tensor_model_parallel_size": 4})
    assert sc.system.topology.nic_bandwidth == 100e9 / 8 and sc.parallelism.tensor_model_parallel_size == 4
    with pytest.raises(ConfigError, match="micro_batch_size"):
        load_scenario(small_gpt(), overrides={"training.micro_batchsize": 2})
    with pytest.raises(ConfigError, match="nic_bandwidth"):
        load_scenario(small_gpt(), overrides={"system.topology.nic_bandwidth": "fast"})


def test_cli_set_changes_the_prediction():
    """`clustersim run --set` predicts the changed scenario; a bad --set is one line and exit 2."""
    path = SCENARIOS / "gpt-1.3b-8xa100.yaml"

    def run(*sets):
        args = [a for s in sets for a in ("--set", s)]
        return subprocess.run([sys.executable, "-m", "simulator.cli", "validate", str(path), *args],
                              capture_output=True, text=True)
    base, changed = run(), run("training.micro_batch_size=1", "system.accelerator=A100-80GB")
    assert base.returncode == 0 and changed.returncode == 0
    assert "of 80.00 GiB" in changed.stdout and "of 40.00 GiB" in base.stdout
    bad = run("training.micro_batch_size=zero")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "micro_batch_size" in bad.stderr


def test_a_scenario_with_a_sweep_is_sent_to_the_sweep_command():
    """`run` on a study file says to use `clustersim sweep` instead of running one of its points."""
    with pytest.raises(ConfigError, match="clustersim sweep"):
        load_scenario({**small_gpt(), "sweep": {"grid": {"training.micro_batch_size": [1, 2]}}})


def test_a_journal_keeps_whole_records_of_the_same_work(tmp_path):
    """A journal reads back the records of the same fingerprint, drops a torn last line, and
    starts afresh for other work."""
    path = tmp_path / "j.jsonl"
    with Journal(path, "a") as j:
        j.append({"i": 0})
        j.append({"i": 1})
    with open(path, "a") as f:
        f.write('{"i": 2')          # a kill in the middle of a line
    with Journal(path, "a") as j:
        assert j.done == [{"i": 0}, {"i": 1}]
        j.append({"i": 2})
    with Journal(path, "a") as j:
        assert [r["i"] for r in j.done] == [0, 1, 2]
    with Journal(path, "b") as j:
        assert j.done == []
    assert path.read_text() == '{"fingerprint": "b"}\n'
