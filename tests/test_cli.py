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


GPT3_LAUNCH = ("torchrun --nnodes 128 --nproc_per_node 8 pretrain_gpt.py --num-layers 96 --hidden-size 12288 "
               "--num-attention-heads 96 --seq-length 2048 --max-position-embeddings 2048 --micro-batch-size 1 "
               "--global-batch-size 1536 --tensor-model-parallel-size 8 --pipeline-model-parallel-size 8 "
               "--lr 6e-5 --bf16 --recompute-granularity full --vocab-size 51200 --attention-softmax-in-fp32")


def test_a_megatron_launch_line_becomes_the_same_scenario(tmp_path):
    """`import megatron` on the GPT-3 175B launch line writes a scenario that predicts what the
    shipped GPT-3 scenario predicts, and lists the arguments it does not model."""
    from simulator import simulate
    out = tmp_path / "gpt3.yaml"
    proc = cli("import", "megatron", GPT3_LAUNCH, "--accelerator", "A100-80GB", "--nic-bandwidth", "200 Gb/s",
               "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "--attention-softmax-in-fp32" in proc.stderr and "no effect on cost): --lr" in proc.stderr
    assert "# not modelled" in out.read_text()
    from simulator.config import load_scenario
    imported = load_scenario(out, overrides={"training.use_flash_attn": False,
                                             "training.global_batch_size": 128})   # 8 micro-batches: quick
    shipped = load_scenario(SCENARIOS / "gpt3-175b-1024xa100.yaml", overrides={"training.global_batch_size": 128})
    assert simulate(imported).iteration_time == simulate(shipped).iteration_time


def test_megatron_names_are_accepted_in_scenario_files():
    """Megatron's argument names in a scenario mean what they mean to Megatron; a Megatron name
    that contradicts the clustersim field it sets is refused."""
    import pytest
    from simulator.config import ConfigError, load_scenario
    from .conftest import small_gpt
    d = small_gpt(training={"bf16": True, "recompute_activations": True},
                  parallelism={"use_distributed_optimizer": True, "num_layers_per_virtual_pipeline_stage": 2})
    d["model"] = {"num_layers": 8, "hidden_size": 1024, "num_attention_heads": 16, "vocab_size": 32000,
                  "ffn_hidden_size": 2816, "swiglu": True, "untie_embeddings_and_output_weights": True,
                  "num_query_groups": 4}
    sc = load_scenario(d)
    assert (sc.model.num_hidden_layers, sc.model.intermediate_size, sc.model.gated_mlp, sc.model.tie_word_embeddings,
            sc.model.num_key_value_heads) == (8, 2816, True, False, 4)
    assert (sc.training.precision, sc.training.recompute_granularity) == ("bf16", "selective")
    assert (sc.parallelism.zero_stage, sc.parallelism.virtual_pipeline_model_parallel_size) == (1, 2)
    with pytest.raises(ConfigError, match="use_distributed_optimizer"):
        load_scenario(small_gpt(parallelism={"use_distributed_optimizer": True, "zero_stage": 3}))
    with pytest.raises(ConfigError, match="fp16"):
        load_scenario(small_gpt(training={"fp16": True, "precision": "bf16"}))


def test_a_deepspeed_config_becomes_a_zero_scenario(tmp_path):
    """`import deepspeed` reads the batch, ZeRO stage, buckets (5e8 from JSON) and precision, and
    lists offload and other keys it does not model."""
    ds = tmp_path / "ds_config.json"
    ds.write_text(json.dumps({"train_batch_size": 256, "gradient_accumulation_steps": 2, "bf16": {"enabled": True},
                              "zero_optimization": {"stage": 2, "overlap_comm": True, "reduce_bucket_size": 5e8,
                                                    "offload_optimizer": {"device": "cpu"}},
                              "optimizer": {"type": "AdamW"}}))
    out = tmp_path / "ds.yaml"
    proc = cli("import", "deepspeed", ds, "--hf-config", SCENARIOS / "models" / "gpt-1.3b.json", "--accelerator",
               "A100-80GB", "--nodes", 2, "--seq-length", 2048, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "offload_optimizer" in proc.stderr and "no effect on cost): optimizer" in proc.stderr
    from simulator.config import load_scenario
    sc = load_scenario(out)
    assert (sc.training.micro_batch_size, sc.training.global_batch_size, sc.training.precision) == (8, 256, "bf16")
    assert (sc.parallelism.zero_stage, sc.parallelism.overlap_grad_reduce, sc.parallelism.ddp_bucket_size) == (2, True, 500_000_000)


def test_bench_collective_prints_all_reduce_perf_rows_that_its_parsers_read(tmp_path):
    """`bench-collective` prints nccl-tests' all_reduce_perf layout: the validation's log parser
    reads back every size with its time and bus bandwidth."""
    import importlib.util
    from simulator.api import bench_collective, load_system
    system = SCENARIOS.parent / "validation" / "systems" / "azure-ndv4-a100.yaml"
    proc = cli("bench-collective", system, "--gpus", 16, "-b", "1KiB", "-e", "1MiB")
    assert proc.returncode == 0, proc.stderr
    log = tmp_path / "out.log"
    log.write_text(proc.stdout)
    spec = importlib.util.spec_from_file_location("nccl_tests", SCENARIOS.parent / "validation" / "nccl_tests.py")
    nccl_tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nccl_tests)
    rows = nccl_tests.parse_log(log)
    df = bench_collective(load_system(system), "all_reduce", 16, [2.0**k for k in range(10, 21)])
    assert [r[0] for r in rows] == [int(s) for s in df["size"]]
    for (_, t, busbw), (ref_t, ref_bw) in zip(rows, zip(df["time"], df["busbw"])):
        assert abs(t - ref_t) <= 0.01e-6 + 1e-3 * ref_t and abs(busbw - ref_bw) <= 0.005e9 + 1e-3 * ref_bw
    assert "# Avg bus bandwidth" in proc.stdout
