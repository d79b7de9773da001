import json
import subprocess
import sys

from simulator import __version__

from .conftest import SCENARIOS

CLI = [sys.executable, "-m", "simulator.cli"]


def cli(*args, **kw):
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, **kw)


def test_version_prints_the_version():
    """`clustersim --version` prints the installed version and exits 0."""
    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"clustersim {__version__}"


def test_catalog_lists_every_precision_without_wrapping():
    """`clustersim catalog` has a column per precision, one line per accelerator even in 80 columns."""
    proc = cli("catalog", env={"COLUMNS": "80", "PATH": ""})
    assert proc.returncode == 0
    lines = [line for line in proc.stdout.splitlines() if line.startswith("│ H100-SXM")]
    assert len(lines) == 1 and "1,979" in lines[0] and "989" in lines[0]
    assert "fp8 dense" in proc.stdout


def test_validate_echoes_the_plan_and_the_parameters():
    """`validate` shows every plan dimension and the parameter counts."""
    proc = cli("validate", SCENARIOS / "mixtral-8x7b-64xh100.yaml")
    assert proc.returncode == 0
    for text in ("TP 2", "EP 8", "PP 1", "DP 32", "1f1b", "SP", "recompute full", "ZeRO 1", "46.70 B",
                 "active per token 12.88 B"):
        assert text in proc.stdout


def test_run_together_writes_each_job_and_prints_json(tmp_path):
    """`run-together --out --json` prints one summary per job and writes each job's files apart."""
    path = SCENARIOS / "gpt-1.3b-8xa100.yaml"
    proc = cli("run-together", path, path, "--out", tmp_path, "--json")
    assert proc.returncode == 0, proc.stderr
    summaries = json.loads(proc.stdout)
    assert len(summaries) == 2 and all(s["iteration_time_s"] > 0 for s in summaries)
    assert (tmp_path / "job0-gpt-1.3b-8xa100" / "summary.json").is_file()
    assert (tmp_path / "job1-gpt-1.3b-8xa100" / "flows.parquet").is_file()


def _validator():
    import jsonschema
    proc = cli("schema")
    assert proc.returncode == 0
    schema = json.loads(proc.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_every_shipped_scenario_and_study_satisfies_the_json_schema():
    """`clustersim schema` is a valid JSON Schema that every shipped scenario, study and plan file
    satisfies, and so does a resolved scenario from summary.json."""
    import yaml
    from simulator import simulate
    v = _validator()
    files = sorted(SCENARIOS.glob("*.yaml")) + sorted((SCENARIOS / "studies").glob("*.yaml"))
    assert len(files) >= 10
    for path in files:
        assert not list(v.iter_errors(yaml.safe_load(path.read_text()))), path
    resolved = simulate(SCENARIOS / "gpt-1.3b-8xa100.yaml").summary["resolved_scenario"]
    assert not list(v.iter_errors(json.loads(json.dumps(resolved))))


def test_the_json_schema_refuses_what_the_loader_refuses():
    """A bad unit, an unknown choice, a misspelt key, a count out of bounds and a missing section
    each break the schema."""
    import copy
    import yaml
    v = _validator()
    good = yaml.safe_load((SCENARIOS / "llama3-70b-64xh100.yaml").read_text())
    for section, key, value in (("system", "topology", {"nic_bandwidth": "400 Gbit"}),
                                ("training", "precision", "bf17"),
                                ("parallelism", "tensor_model_parallel_sizes", 8),
                                ("training", "micro_batch_size", 0),
                                ("system", None, None)):
        bad = copy.deepcopy(good)
        if key is None:
            del bad[section]
        else:
            bad[section][key] = value
        assert list(v.iter_errors(bad)), (section, key, value)
