import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from simulator import simulate
from simulator.config import ConfigError
from simulator.studies import load_study, run_sweep

from .conftest import SCENARIOS, small_gpt

CLI = [sys.executable, "-m", "simulator.cli"]


def write_study(tmp_path, sweep: dict, **over) -> str:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({**small_gpt(**over), "sweep": sweep}, sort_keys=False))
    return str(path)


def test_points_are_the_grid_times_the_zipped_lists(tmp_path):
    """A study's points are every grid combination, in file order, with the zipped lists varying fastest."""
    st = load_study(write_study(tmp_path, {
        "grid": {"training.micro_batch_size": [1, 2], "system.accelerator": ["A100-80GB", "H100-SXM"]},
        "zip": {"parallelism.tensor_model_parallel_size": [1, 2], "parallelism.pipeline_model_parallel_size": [2, 1]}}))
    assert len(st.points) == 8
    assert st.points[0] == {"training.micro_batch_size": 1, "system.accelerator": "A100-80GB",
                            "parallelism.tensor_model_parallel_size": 1, "parallelism.pipeline_model_parallel_size": 2}
    assert st.points[1]["parallelism.tensor_model_parallel_size"] == 2
    assert st.points[2]["system.accelerator"] == "H100-SXM"
    assert st.axes == ["training.micro_batch_size", "system.accelerator", "parallelism.tensor_model_parallel_size",
                       "parallelism.pipeline_model_parallel_size"]


@pytest.mark.parametrize("sweep, field", [
    ({"zip": {"training.micro_batch_size": [1, 2], "training.seq_length": [512]}}, "study.sweep.zip"),
    ({"grid": {"training.micro_batch_size": 2}}, "study.sweep.grid.training.micro_batch_size"),
    ({"grid": {"training.micro_batch_size": []}}, "study.sweep.grid.training.micro_batch_size"),
    ({"grid": {"training micro": [1]}}, "study.sweep.grid.training micro"),
    ({"grid": {}}, "study.sweep.grid"),
    ({"grid": {"a.b": [1]}, "zip": {"a.b": [2]}}, "study.sweep.zip.a.b"),
    ({"grid": {f"training.x{i}": list(range(100)) for i in range(3)}}, "study.sweep"),
    ({"grid": {"training.micro_batch_size": [1]}, "measure": "fast"}, "study.sweep.measure"),
])
def test_a_malformed_sweep_names_its_field(tmp_path, sweep, field):
    """A sweep section with unequal zipped lists, a non-list, no axes or too many points is a ConfigError."""
    with pytest.raises(ConfigError) as exc:
        load_study(write_study(tmp_path, sweep))
    assert exc.value.field == field


def test_every_point_is_a_row_even_when_it_cannot_run(tmp_path):
    """A point that runs has the figures `simulate` gives; one that does not fit has its memory and
    fits = False; an invalid one has its error; none stops the sweep."""
    st = load_study(write_study(tmp_path, {"zip": {
        "parallelism.tensor_model_parallel_size": [2, 3, 2],
        "training.seq_length": [1024, 1024, 32768]}}, training={"use_flash_attn": False}))
    df = run_sweep(st, workers=1)
    assert list(df["point"]) == [0, 1, 2]
    good, invalid, big = df.iloc[0], df.iloc[1], df.iloc[2]
    expected = simulate(small_gpt(training={"use_flash_attn": False})).summary
    assert good["iteration_time_s"] == expected["iteration_time_s"] and good["fits"] and pd.isna(good["error"])
    assert "tensor_model_parallel_size" in invalid["error"] and pd.isna(invalid["iteration_time_s"])
    assert big["fits"] == False and big["peak_memory_gib"] > big["hbm_gib"] and pd.isna(big["iteration_time_s"])  # noqa: E712


def _study_for_executors(tmp_path):
    return load_study(write_study(tmp_path, {"grid": {"training.micro_batch_size": [1, 2, 4],
                                                      "system.topology.nic_bandwidth": ["100 Gb/s", "400 Gb/s"]}}))


def _figures(df):
    return df.drop(columns=["sim_wall_s"]).to_dict("records")


def test_a_process_pool_finds_what_one_process_finds(tmp_path):
    """The same study gives the same table on one process and on a pool of two."""
    st = _study_for_executors(tmp_path)
    assert _figures(run_sweep(st, workers=2)) == _figures(run_sweep(st, workers=1))


def test_a_dask_cluster_finds_what_one_process_finds(tmp_path):
    """On a real Dask LocalCluster (loopback), the table is the one found in one process."""
    distributed = pytest.importorskip("distributed")
    st = _study_for_executors(tmp_path)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", processes=True,
                                  dashboard_address=None) as cluster:
        on_dask = run_sweep(st, tmp_path / "out", scheduler=cluster.scheduler_address) \
            if (tmp_path / "out").mkdir() is None else None
    assert _figures(on_dask) == _figures(run_sweep(st, workers=1))


def test_a_bad_scheduler_address_is_a_config_error(tmp_path):
    """A scheduler that is not an address is refused by name, before any work."""
    with pytest.raises(ConfigError, match="--scheduler"):
        run_sweep(_study_for_executors(tmp_path), scheduler="localhost:8786")


def test_a_killed_sweep_rerun_finishes_only_the_missing_points(tmp_path):
    """SIGKILL in the middle of a sweep, then the same command again: every point is in the
    table exactly once, and the points finished before the kill were not measured again."""
    study = write_study(tmp_path, {"grid": {"training.micro_batch_size": [1, 2, 4, 8],
                                            "training.global_batch_size": [64, 128, 256, 512, 1024]}},
                        simulation={"mode": "full"})  # every rank: slow enough to be killed midway
    out = tmp_path / "out"
    journal = out / "points.jsonl"
    cmd = CLI + ["sweep", study, "--out", str(out), "--workers", "2", "--no-plots"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if journal.is_file() and journal.read_text().count("\n") >= 4:   # the header and three points
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)   # the sweep and its workers
    proc.wait()
    before = [json.loads(line)["key"] for line in journal.read_text().splitlines()[1:] if line.endswith("}")]
    assert 3 <= len(before) < 20 and not (out / "results.csv").exists()
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    keys = [json.loads(line)["key"] for line in journal.read_text().splitlines()[1:]]
    assert len(keys) == len(set(keys)) == 20 and keys[:len(before)] == before
    df = pd.read_csv(out / "results.csv")
    assert list(df["point"]) == list(range(20)) and df["iteration_time_s"].notna().all()


def test_cli_sweep_writes_the_table_and_plots(tmp_path):
    """`clustersim sweep --out` writes Parquet, CSV and PNG/SVG plots, and prints the table."""
    study = tmp_path / "s.yaml"
    study.write_text(yaml.safe_dump({"sweep": {"scenario": str(SCENARIOS / "gpt-1.3b-8xa100.yaml"),
                                               "grid": {"training.micro_batch_size": [1, 2]},
                                               "zip": {"parallelism.tensor_model_parallel_size": [1, 2],
                                                       "parallelism.pipeline_model_parallel_size": [1, 2]}}}))
    proc = subprocess.run(CLI + ["sweep", str(study), "--out", str(tmp_path / "o"), "--set",
                                 "system.accelerator=A100-80GB"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    df = pd.read_parquet(tmp_path / "o" / "results.parquet")
    assert len(df) == 4 and set(df["accelerator"]) == {"A100-80GB"} and df["mfu"].between(0, 1).all()
    for name in ("iteration_time_s_vs_micro_batch_size", "mfu_tp_pp", "breakdown"):
        assert (tmp_path / "o" / f"{name}.png").stat().st_size > 0 and (tmp_path / "o" / f"{name}.svg").is_file()
    assert "micro_batch_size" in proc.stdout and proc.stdout.count("\n") == 5


def test_compare_puts_scenarios_side_by_side_with_differences(tmp_path):
    """`compare` gives each scenario's figures as `simulate` does, and the relative difference from the first."""
    from simulator.studies.compare import compare, differences
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(yaml.safe_dump(small_gpt()))
    b.write_text(yaml.safe_dump(small_gpt(system={"accelerator": "H100-SXM", "num_nodes": 2, "gpus_per_node": 4})))
    table = compare([a, b], workers=1)
    assert list(table.columns) == ["a", "b"] and table.at["accelerator", "b"] == "H100-SXM"
    ta, tb = (simulate(str(p)).summary["iteration_time_s"] for p in (a, b))
    assert table.at["iteration_time_s", "a"] == ta and table.at["iteration_time_s", "b"] == tb
    d = differences(table)["b"]["iteration_time_s"]
    assert d["absolute"] == pytest.approx(tb - ta) and d["relative"] == pytest.approx(tb / ta - 1)
    proc = subprocess.run(CLI + ["compare", str(a), str(b), "--json"], capture_output=True, text=True)
    assert proc.returncode == 0 and json.loads(proc.stdout)["figures"]["b"]["accelerator"] == "H100-SXM"
    bad = subprocess.run(CLI + ["compare", str(a)], capture_output=True, text=True)
    assert bad.returncode == 2 and "2 to 64 scenario files" in bad.stderr


@pytest.mark.parametrize("model, parallelism", [
    ({}, {}), ({"mtp_layers": 1}, {}),
    ({}, {"tensor_model_parallel_size": 2, "sequence_parallel": True, "tp_comm_overlap": True}),
])
def test_search_ranks_plans_that_fit_and_simulates_the_best(model, parallelism):
    """The search keeps only valid plans, never simulates one that does not fit, ranks the
    simulated ones by step time, includes the scenario's own plan, and its estimate of each
    simulated plan is within 10 % of the simulation (with multi-token prediction, and with TP
    communication overlapped, too)."""
    from simulator.config import load_scenario
    from simulator.studies.search import search
    sc = load_scenario(small_gpt(model={**small_gpt()["model"], **model}, training={"global_batch_size": 64},
                                 parallelism={**small_gpt()["parallelism"], **parallelism}))
    result = search(sc, top=4)
    df = result.table
    sim = df[df["simulated_s"].notna()]
    assert len(sim) >= 4 and sim["fits"].all() and list(sim.index) == list(range(len(sim)))
    assert (sim["simulated_s"].diff().dropna() >= 0).all()
    assert df["is_scenario_plan"].sum() == 1 and sim["is_scenario_plan"].any()
    assert ((sim["estimate_s"] / sim["simulated_s"] - 1).abs() < 0.10).all()
    assert result.considered >= len(df) > len(sim)


def test_search_space_restricts_the_candidates(tmp_path):
    """--space keeps only candidates with the given values; an unknown field is a ConfigError."""
    from simulator.config import load_scenario
    from simulator.studies.search import parse_space, search
    sc = load_scenario(small_gpt())
    df = search(sc, top=2, space=parse_space(["tp=2", "recompute=full"]), simulate_top=False).table
    own = df["is_scenario_plan"]
    assert set(df[~own]["tp"]) == {2} and set(df[~own]["recompute"]) == {"full"}
    with pytest.raises(ConfigError, match="--space"):
        parse_space(["tensor=2"])


def test_cli_search_prints_the_ranking(tmp_path):
    """`clustersim search` prints the simulated plans with the scenario's own, and writes every plan."""
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(small_gpt()))
    proc = subprocess.run(CLI + ["search", str(path), "--top", "2", "--space", "micro_batch_size=1,2",
                                 "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "(scenario's)" in proc.stdout and "by estimate" in proc.stdout
    assert len(pd.read_csv(tmp_path / "o" / "search.csv")) > 2


OPERATING = {
    "accelerators": {name: {"usd_per_gpu_hour": {"value": price, "source": "test"},
                            "board_power_w": {"value": watts, "source": "test"},
                            "idle_power_w": {"value": 100, "source": "test"},
                            "server_power_w": {"value": 3000, "source": "test"}}
                     for name, price, watts in (("A100-80GB", 2.0, 400), ("H100-SXM", 4.0, 700))},
    "network_power_w_per_gpu": {"value": 50, "source": "test"},
    "pue": {"value": 1.2, "source": "test"},
}


def write_plan(tmp_path, **plan) -> str:
    (tmp_path / "operating.yaml").write_text(yaml.safe_dump(OPERATING))
    section = {"token_budget": 1e11, "accelerators": ["A100-80GB", "H100-SXM"], "num_nodes": [1, 2], "top": 1,
               "operating": "operating.yaml", **plan}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({**small_gpt(training={"global_batch_size": 64}), "plan": section}))
    return str(path)


def test_plan_prices_time_cost_and_energy_of_each_configuration(tmp_path):
    """Each accelerator x size gets its best simulated plan; time = budget / (tokens/s x ETTR),
    cost = GPU-hours x price, energy from the catalog's power and PUE; the Pareto set is the
    configurations no other is both as fast and as cheap as."""
    from simulator.studies.planner import load_plan, run_plan
    cfg, base, base_dir = load_plan(write_plan(tmp_path, deadline="30 days"))
    df = run_plan(cfg, base, base_dir, workers=1)
    assert len(df) == 4 and df["error"].isna().all() and (df["time_to_train_days"].diff().dropna() >= 0).all()
    for r in df.to_dict("records"):
        seconds = 1e11 / (r["tokens_per_s"] * r["ettr"])
        price, watts = (2.0, 400) if r["accelerator"] == "A100-80GB" else (4.0, 700)
        assert r["time_to_train_days"] == pytest.approx(seconds / 86400)
        assert r["cost_usd"] == pytest.approx(r["gpus"] * seconds / 3600 * price)
        site = (r["gpus"] * (r["ettr"] * watts + (1 - r["ettr"]) * 100 + 50) + r["num_nodes"] * 3000) * 1.2
        assert r["energy_mwh"] == pytest.approx(site * seconds / 3.6e9)
        assert 0.5 < r["ettr"] <= 1 and r["meets_deadline"] == (r["time_to_train_days"] <= 30)
        dominated = any(o["time_to_train_days"] <= r["time_to_train_days"] and o["cost_usd"] <= r["cost_usd"]
                        and (o["time_to_train_days"], o["cost_usd"]) != (r["time_to_train_days"], r["cost_usd"])
                        for o in df.to_dict("records"))
        assert r["pareto"] == (not dominated)
    assert df["pareto"].any()


def test_plan_overrides_prices_and_refuses_unknown_accelerators(tmp_path):
    """A price in the plan replaces the catalog's; an accelerator without prices is a ConfigError."""
    from simulator.studies.planner import load_plan, run_plan
    cfg, base, base_dir = load_plan(write_plan(tmp_path, usd_per_gpu_hour={"A100-80GB": 1.0}, num_nodes=[1],
                                               accelerators=["A100-80GB"], failures=False))
    r = run_plan(cfg, base, base_dir, workers=1).iloc[0]
    assert r["usd_per_gpu_hour"] == 1.0 and r["time_to_train_days"] == pytest.approx(1e11 / r["tokens_per_s"] / 86400)
    with pytest.raises(ConfigError, match="accelerators"):
        cfg, base, base_dir = load_plan(write_plan(tmp_path, accelerators=["B200"]))
        run_plan(cfg, base, base_dir, workers=1)


def test_cli_plan_writes_table_and_plot(tmp_path):
    """`clustersim plan --out` prints the comparison and writes plan.csv and the time-vs-cost plot."""
    proc = subprocess.run(CLI + ["plan", write_plan(tmp_path, num_nodes=[1]), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Pareto" in proc.stdout and "ETTR" in proc.stdout
    assert len(pd.read_csv(tmp_path / "o" / "plan.csv")) == 2 and (tmp_path / "o" / "time_vs_cost.svg").is_file()


STUDY_FILES = sorted((SCENARIOS / "studies").glob("*.yaml"))


@pytest.mark.parametrize("path", [p for p in STUDY_FILES if "sweep:" in p.read_text()], ids=lambda p: p.stem)
def test_every_shipped_study_measures_its_first_point(path):
    """Each shipped study loads, and its first point (with 2 Monte Carlo trials) measures without error."""
    import dataclasses
    st = load_study(path, {"reliability.trials": 2})
    assert len(st.points) >= 4
    row = run_sweep(dataclasses.replace(st, points=st.points[:1]), workers=1).iloc[0]
    assert pd.isna(row["error"]) and row["fits"] and row["iteration_time_s"] > 0


def test_the_shipped_plan_loads_and_its_catalog_covers_it():
    """The shipped plan file loads, and every accelerator it compares has prices and power with sources."""
    from simulator.studies.planner import load_operating, load_plan
    cfg, base, _ = load_plan(SCENARIOS / "studies" / "plan-70b.yaml")
    catalog = load_operating()
    assert cfg.token_budget == 15e12 and cfg.deadline == 90 * 86400
    for name in cfg.accelerators:
        costs = catalog.accelerators[name]
        for figure in (costs.usd_per_gpu_hour, costs.board_power_w, costs.idle_power_w, costs.server_power_w):
            assert figure.value > 0 and figure.source and figure.date


def test_a_fault_of_the_simulator_is_a_row_that_a_rerun_retries(tmp_path, monkeypatch):
    """An unexpected exception while measuring a point is that point's row ('internal error: ...'),
    the sweep goes on, and the row is not journaled, so that the same command tries it again."""
    import simulator.studies.points as points
    st = load_study(write_study(tmp_path, {"grid": {"training.micro_batch_size": [1, 2]}}))
    real = points.step_columns

    def flaky(sc, prep):
        if sc.training.micro_batch_size == 2:
            raise ZeroDivisionError("boom")
        return real(sc, prep)
    monkeypatch.setattr(points, "step_columns", flaky)
    out = tmp_path / "out"
    out.mkdir()
    df = run_sweep(st, out, workers=1)
    assert pd.isna(df.at[0, "error"]) and df.at[1, "error"] == "internal error: ZeroDivisionError: boom"
    assert (out / "points.jsonl").read_text().count("\n") == 2     # the header and the good point
    monkeypatch.setattr(points, "step_columns", real)
    assert run_sweep(st, out, workers=1)["error"].isna().all()
