import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from simulator import simulate
from simulator.config import load_scenario

from .conftest import SCENARIOS

SCENARIO_FILES = sorted(SCENARIOS.glob("*.yaml"))


def test_there_are_example_scenarios():
    assert len(SCENARIO_FILES) >= 3


def reduced(path):
    """The scenario with its global batch cut to the fewest micro-batches that still fill the
    pipeline, so that every shipped file runs in CI in a moment."""
    data = yaml.safe_load(path.read_text())
    sc = load_scenario(path)
    par = sc.parallelism
    world = sc.system.num_nodes * sc.system.gpus_per_node
    dp = world // (par.tensor_model_parallel_size * par.pipeline_model_parallel_size)
    data["training"]["global_batch_size"] = sc.training.micro_batch_size * dp * par.pipeline_model_parallel_size
    return load_scenario(data, base_dir=path.parent)


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.stem)
def test_every_scenario_runs(path):
    """Each shipped scenario loads, fits in memory and predicts a positive iteration time."""
    r = simulate(reduced(path))
    assert r.iteration_time > 0
    assert 0 < r.summary["mfu"] < 1
    assert r.summary["memory"]["fits"]
    events = r.trace()["traceEvents"]  # every stream of every scenario has a place in the trace
    assert any(e["ph"] == "X" for e in events)


def test_run_writes_summary_tables_and_trace(tmp_path):
    """`clustersim run --out` prints a prediction and writes summary.json, Parquet tables, trace.json."""
    path = SCENARIOS / "gpt-1.3b-8xa100.yaml"
    proc = subprocess.run([sys.executable, "-m", "simulator.cli", "run", str(path), "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "iteration time" in proc.stdout and "MFU" in proc.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["iteration_time_s"] > 0
    assert summary["resolved_scenario"]["training"]["global_batch_size"] == 256
    ops = pd.read_parquet(tmp_path / "ops.parquet")
    assert {"rank", "stream", "name", "start", "end"} <= set(ops.columns) and len(ops) > 0
    assert (ops["end"] >= ops["start"]).all()
    trace = json.loads((tmp_path / "trace.json").read_text())
    spans = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert spans and all(e["dur"] >= 0 and "ts" in e for e in spans)
    # the trace is in microseconds: its last span ends at the iteration time
    assert max(e["ts"] + e["dur"] for e in spans) == pytest.approx(summary["iteration_time_s"] * 1e6, rel=1e-6)


def test_output_section_chooses_files(tmp_path):
    """output.trace: false leaves trace.json out."""
    r = simulate(reduced(SCENARIOS / "gpt-1.3b-8xa100.yaml"))
    written = r.to_dir(tmp_path, trace=False)
    assert not (tmp_path / "trace.json").exists() and (tmp_path / "summary.json") in written


def test_topology_command_summarizes_and_exports(tmp_path):
    """`clustersim topology` prints counts and bisection bandwidth and exports a loadable file."""
    out = tmp_path / "t.json"
    proc = subprocess.run([sys.executable, "-m", "simulator.cli", "topology",
                           str(SCENARIOS / "llama3-70b-64xh100.yaml"), "--export", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "bisection bandwidth" in proc.stdout
    again = subprocess.run([sys.executable, "-m", "simulator.cli", "topology", str(out)],
                           capture_output=True, text=True)
    assert again.returncode == 0 and "bisection bandwidth" in again.stdout


def test_trace_written_event_by_event_is_the_trace(tmp_path):
    """trace.json, streamed to the file one event at a time, holds exactly Result.trace()."""
    from .conftest import small_gpt
    r = simulate(small_gpt(model={"tie_word_embeddings": True}))
    r.to_dir(tmp_path, summary=False, tables=False)
    written = json.loads((tmp_path / "trace.json").read_text())
    assert written["traceEvents"] == r.trace()["traceEvents"] and len(written["traceEvents"]) > 100


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.stem)
def test_the_resolved_scenario_loads_back_to_the_same_prediction(path):
    """summary.json's resolved_scenario, read back as a scenario, predicts the same iteration time
    and resolves to itself."""
    first = simulate(reduced(path)).summary
    resolved = json.loads(json.dumps(first["resolved_scenario"]))
    again = simulate(resolved).summary
    assert again["iteration_time_s"] == first["iteration_time_s"]
    assert again["resolved_scenario"] == first["resolved_scenario"] and first["schema_version"] >= 1


def test_trace_options_compress_and_limit_the_trace(tmp_path):
    """output.trace_gzip writes trace.json.gz; trace_ranks and trace_window keep only those ranks'
    events in that span; link counters cover every link kind and carry a tid."""
    import gzip
    from .conftest import small_gpt
    sc = small_gpt(output={"trace_gzip": True, "trace_ranks": [0], "trace_window": ["0 s", "20 ms"]})
    r = simulate(sc)
    written = r.to_dir(tmp_path, **{k: v for k, v in load_scenario(sc).output.__dict__.items()})
    assert tmp_path / "trace.json.gz" in written and not (tmp_path / "trace.json").exists()
    events = json.load(gzip.open(tmp_path / "trace.json.gz", "rt"))["traceEvents"]
    timed = [e for e in events if e["ph"] in ("X", "b")]
    assert timed and all(e["ts"] <= 20e3 for e in timed)
    assert {e["tid"] // 10 for e in timed} == {0}          # rank 0's streams only (10 streams per rank)
    counters = [e for e in events if e["ph"] == "C"]
    assert all("tid" in e for e in counters)
    assert {"(nvlink)", "(infiniband)"} <= {e["name"].rsplit(" ", 1)[-1] for e in counters}


def _report(tmp_path):
    r = simulate(reduced(SCENARIOS / "llama3-70b-64xh100.yaml"))
    written = r.to_dir(tmp_path, tables=False, trace=False)
    assert tmp_path / "report.html" in written
    return r, (tmp_path / "report.html")


def test_report_html_is_one_self_contained_file(tmp_path):
    """report.html needs nothing from the network (no scripts, styles or images by address) and
    holds the iteration time, the plan, a chart per section and the busiest links of every kind."""
    import re
    from simulator.config import format_time
    r, path = _report(tmp_path)
    text = path.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text) and "<script" not in text
    assert format_time(r.summary["iteration_time_s"]) in text and "TP 8, PP 4" in text
    assert text.count("<svg") == 3 and "infiniband" in text and "nvlink" in text


def test_report_html_opens_in_a_headless_browser(tmp_path):
    """Chromium (headless, through Playwright) opens report.html with no console error and shows
    the predicted iteration time."""
    import shutil
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's)")
    from simulator.config import format_time
    r, path = _report(tmp_path)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        shown = page.inner_text("body")
        browser.close()
    assert not errors
    assert format_time(r.summary["iteration_time_s"]) in shown and "Busiest links" in shown
