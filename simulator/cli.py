"""The `clustersim` command line. Bad input prints one clear line and exits 2, never a traceback."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from .config import ConfigError, ImplausibleResult, format_bytes
from .studies.executors import WorkerLost

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Simulate large-model training on accelerator clusters.")
out = Console()

SET_HELP = "Override a field, as written in the file: --set training.micro_batch_size=2 (repeatable)."


def _overrides(sets: list[str]) -> dict:
    """The --set options as {path: value}; the last one wins for a path given twice."""
    from .config import parse_assignment
    return dict(parse_assignment(s) for s in sets)


def _scenario(path: Path, sets: list[str]):
    from .config import load_scenario
    return load_scenario(path, overrides=_overrides(sets))


def _busy(what: str):
    """A spinner with elapsed time on standard error while it is a terminal (runs can take minutes)."""
    if not sys.stderr.isatty():
        return contextlib.nullcontext()
    return Console(stderr=True).status(f"{what} ...")


class ProgressLine:
    """'points 12/40  35 s, about 82 s left' on standard error, while it is a terminal. The first
    call gives the work already done (read back from a journal), which the estimate leaves out."""

    def __init__(self, label: str):
        self.label, self.started, self.first, self.shown = label, time.perf_counter(), None, 0.0

    def __call__(self, done: int, total: int) -> None:
        if self.first is None:
            self.first = done
        now = time.perf_counter()
        if not sys.stderr.isatty() or (done < total and now - self.shown < 0.5):
            return
        self.shown, spent, fresh = now, now - self.started, done - self.first
        eta = f"about {spent / fresh * (total - done):.0f} s left" if fresh else "estimating"
        print(f"\r  {self.label} {done}/{total}  {spent:.0f} s, {eta} ", end="\n" if done == total else "",
              file=sys.stderr, flush=True)


def _out_folder(out_dir: Optional[Path]) -> None:
    """Create --out before any work, or say why it cannot be."""
    if out_dir is None:
        return
    try:
        if out_dir.exists() and not out_dir.is_dir():
            raise ConfigError("--out", str(out_dir), "a folder (it exists as a file)")
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError("--out", str(out_dir), f"a folder that can be created ({exc.strerror})") from None


def _write(out_dir: Path, write) -> None:
    """Run `write()` (which writes into --out and returns the paths) and say what it wrote."""
    try:
        written = write()
    except OSError as exc:
        raise ConfigError("--out", str(out_dir), f"a writable folder ({exc.strerror})") from None
    print(f"wrote {', '.join(p.name for p in written)} to {out_dir}", file=sys.stderr)


@app.command()
def run(scenario: Path = typer.Argument(..., help="Scenario file (YAML or JSON)."),
        out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Write summary.json, *.parquet, trace.json here."),
        mode: Optional[str] = typer.Option(None, help="Override simulation.mode: symmetric or full."),
        sets: list[str] = typer.Option([], "--set", help=SET_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON instead of text.")):
    """Predict one training iteration of SCENARIO."""
    from .api import simulate
    if mode is not None and mode not in ("symmetric", "full"):
        raise ConfigError("--mode", mode, "symmetric, full")
    _out_folder(out_dir)
    sc = _scenario(scenario, sets)
    with _busy(f"simulating {sc.name}"):
        result = simulate(sc, mode=mode)
    if as_json:
        print(json.dumps({k: v for k, v in result.summary.items() if k != "resolved_scenario"}, indent=2))
    else:
        print(result.report())
    if out_dir is not None:
        _write(out_dir, lambda: result.to_dir(out_dir, **dataclasses.asdict(sc.output)))


@app.command()
def reliability(scenario: Path = typer.Argument(..., help="Scenario file with a `reliability:` section "
                                                          "(defaults apply without one)."),
                days: Optional[float] = typer.Option(None, help="Campaign length in days (overrides "
                                                                "reliability.duration)."),
                trials: Optional[int] = typer.Option(None, help="Monte Carlo trials (overrides reliability.trials)."),
                out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Write summary.json, trials/events/"
                                                       "intervals/states .parquet, trace.json and plots here."),
                mode: Optional[str] = typer.Option(None, help="Override simulation.mode: symmetric or full."),
                sets: list[str] = typer.Option([], "--set", help=SET_HELP),
                as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON instead of text.")):
    """Predict a training campaign with failures, checkpoints, restarts and stragglers."""
    from .api import simulate_campaign
    if mode is not None and mode not in ("symmetric", "full"):
        raise ConfigError("--mode", mode, "symmetric, full")
    _out_folder(out_dir)
    progress = ProgressLine("trials")
    store = out_dir / "trials.jsonl" if out_dir is not None else None  # trials kept as they finish
    result = simulate_campaign(_scenario(scenario, sets), days=days, trials=trials, mode=mode, interval_study=out_dir is not None,
                               progress=progress, store=store)
    if as_json:
        print(json.dumps({k: v for k, v in result.summary.items() if k != "resolved_scenario"}, indent=2))
    else:
        print(result.report())
    if out_dir is not None:
        _write(out_dir, lambda: result.to_dir(out_dir))


@app.command()
def sweep(study: Path = typer.Argument(..., help="Study file: a scenario with a `sweep:` section."),
          out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Write points.jsonl (as points finish), "
                                                 "results.parquet, results.csv and plots here; a rerun "
                                                 "measures only the missing points."),
          workers: Optional[int] = typer.Option(None, help="Local worker processes (default: all cores)."),
          scheduler: Optional[str] = typer.Option(None, help="Run on a Dask cluster: its scheduler address, "
                                                             "e.g. tcp://HOST:8786 (pip install 'clustersim[dask]')."),
          sets: list[str] = typer.Option([], "--set", help=SET_HELP + " Applies to every point."),
          plots: bool = typer.Option(True, help="Write PNG and SVG plots with --out.")):
    """Measure every point of a study (a grid and/or zipped lists over any fields) into one table."""
    from .studies import load_study, run_sweep, write_outputs
    from .studies.reports import points_table
    _out_folder(out_dir)
    st = load_study(study, _overrides(sets))
    df = run_sweep(st, out_dir, workers=workers, scheduler=scheduler, progress=ProgressLine("points"))
    print(points_table(df, st.axes))
    if out_dir is not None:
        _write(out_dir, lambda: write_outputs(df, st, out_dir, plots=plots))


@app.command()
def compare(scenarios: list[Path] = typer.Argument(..., help="Two or more scenario files."),
            sets: list[str] = typer.Option([], "--set", help=SET_HELP + " Applies to every scenario."),
            as_json: bool = typer.Option(False, "--json", help="Print figures and differences as JSON.")):
    """Headline figures, breakdown and memory of scenarios side by side, with their differences from the first."""
    from .studies.compare import compare as side_by_side, differences
    with _busy(f"simulating {len(scenarios)} scenarios"):
        table = side_by_side(list(scenarios), _overrides(sets))
    diffs = differences(table)
    if as_json:
        print(json.dumps({"scenarios": list(table.columns), "figures": table.to_dict(),
                          "differences_from_first": diffs}, indent=2, default=str))
        return
    first = table.columns[0]
    view = Table("figure", *table.columns, *(f"{n} vs {first}" for n in diffs))
    for figure, values in table.iterrows():
        if all(v is None or v != v for v in values):
            continue
        changes = []
        for n in diffs:
            d = diffs[n].get(figure)
            changes.append("" if d is None or d["absolute"] == 0 else
                           f"{d['relative']:+.1%}" if d["relative"] is not None else f"{d['absolute']:+.4g}")
        view.add_row(figure, *(_cell(v) for v in values), *changes)
    out.print(view)


def _cell(v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


@app.command()
def search(scenario: Path = typer.Argument(..., help="Scenario: the model, batch and cluster (its own plan is "
                                                     "ranked too)."),
           top: int = typer.Option(5, help="Simulate this many of the best plans by estimate."),
           space: list[str] = typer.Option([], "--space", help="Keep only these values of a plan field, e.g. "
                                           "--space tp=4,8 --space recompute=full (fields: tp, cp, pp, vpp, ep, "
                                           "micro_batch_size, zero_stage, recompute, sequence_parallel)."),
           sets: list[str] = typer.Option([], "--set", help=SET_HELP),
           out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Write every plan's row as "
                                                  "search.parquet and search.csv here."),
           workers: Optional[int] = typer.Option(None, help="Processes simulating the best plans (default: all cores)."),
           as_json: bool = typer.Option(False, "--json", help="Print the simulated plans as JSON.")):
    """The best parallelism plans for SCENARIO's model on its cluster: pruned by memory, ranked by a
    fast estimate, the best simulated step by step."""
    from .studies.reports import search_report
    from .studies.search import parse_space, search as run_search
    _out_folder(out_dir)
    with _busy("searching: candidates, memory, estimates, then the best simulated"):
        result = run_search(_scenario(scenario, sets), top=top, space=parse_space(space), workers=workers)
    df = result.table
    simulated = df[df["simulated_s"].notna()]
    if as_json:
        print(json.dumps({"candidates": result.considered, "valid": len(df), "fit": int(df["fits"].sum()),
                          "wall_time_s": result.wall_time_s, "plans": simulated.to_dict("records")},
                         indent=2, default=str))
    else:
        print(search_report(result))
    if out_dir is not None:
        def write():
            paths = [out_dir / "search.parquet", out_dir / "search.csv"]
            df.drop(columns=["error"], errors="ignore").to_parquet(paths[0], index=False)
            df.to_csv(paths[1], index=False)
            return paths
        _write(out_dir, write)


@app.command("plan")
def plan_hardware(plan_file: Path = typer.Argument(..., help="A scenario (model, batch, network) with a `plan:` "
                                                              "section: token budget, accelerators, sizes."),
                  out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Write plan.parquet, plan.csv "
                                                         "and the time-vs-cost plot here."),
                  workers: Optional[int] = typer.Option(None, help="Local worker processes (default: all cores)."),
                  scheduler: Optional[str] = typer.Option(None, help="Run on a Dask cluster at this address."),
                  sets: list[str] = typer.Option([], "--set", help=SET_HELP),
                  as_json: bool = typer.Option(False, "--json", help="Print the table as JSON.")):
    """Which hardware, and how much of it: time to train, GPU-hours, cost and energy per accelerator
    and cluster size, each with its best plan; the Pareto set of time and cost."""
    from .studies.planner import load_plan, plot_plan, run_plan
    from .studies.reports import plan_report
    _out_folder(out_dir)
    cfg, base, base_dir = load_plan(plan_file, _overrides(sets))
    df = run_plan(cfg, base, base_dir, workers=workers, scheduler=scheduler, progress=ProgressLine("configurations"))
    if as_json:
        print(df.to_json(orient="records", indent=2))
    else:
        print(plan_report(df, cfg))
    if out_dir is not None:
        def write():
            paths = [out_dir / "plan.parquet", out_dir / "plan.csv"]
            df.to_parquet(paths[0], index=False)
            df.to_csv(paths[1], index=False)
            return paths + plot_plan(df, cfg, out_dir)
        _write(out_dir, write)


@app.command("run-together")
def run_together(scenarios: list[Path] = typer.Argument(..., help="Two or more scenario files."),
                 system: Optional[Path] = typer.Option(None, help="The shared cluster: a file with a 'system:' "
                                                               "section (default: the first scenario's, grown to fit all)."),
                 mode: Optional[str] = typer.Option(None, help="Override simulation.mode: symmetric or full."),
                 out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Write each job's files "
                                                        "(as `run --out`) in a folder of its own here."),
                 as_json: bool = typer.Option(False, "--json", help="Print the summaries as a JSON list.")):
    """Predict one iteration of several jobs sharing one cluster network, each on its own servers."""
    from .api import simulate_together
    from .config import load_scenario
    if mode is not None and mode not in ("symmetric", "full"):
        raise ConfigError("--mode", mode, "symmetric, full")
    _out_folder(out_dir)
    with _busy(f"simulating {len(scenarios)} jobs together"):
        results = simulate_together(list(scenarios), system, mode=mode)
    if as_json:
        print(json.dumps([{k: v for k, v in r.summary.items() if k != "resolved_scenario"} for r in results], indent=2))
    for i, (path, result) in enumerate(zip(scenarios, results)):
        if not as_json:
            print(f"[{path}]")
            print(result.report())
        if out_dir is not None:
            folder = out_dir / f"job{i}-{path.stem}"
            output = dataclasses.asdict(load_scenario(path).output)
            _write(folder, lambda: result.to_dir(folder, **output))


@app.command()
def validate(scenario: Path = typer.Argument(..., help="Scenario file (YAML or JSON)."),
             sets: list[str] = typer.Option([], "--set", help=SET_HELP)):
    """Check SCENARIO (keys, units, plan, memory) without simulating."""
    from .api import prepare
    from .analysis.result import parameters_line, plan_line
    prep = prepare(_scenario(scenario, sets))
    peak, fits, accel = prep.peak_memory, prep.fits, prep.accelerator
    print(f"{scenario}: ok. {prep.job.plan.world} GPUs: {plan_line(prep.parallelism)}")
    print(f"  parameters {parameters_line(prep.parameters)}")
    print(f"  peak memory {format_bytes(peak)} of {format_bytes(accel.hbm_capacity)} per GPU"
          f" ({'fits' if fits else 'DOES NOT FIT'})")
    for warning in prep.warnings:
        print(f"  warning: {warning}")
    if not fits:
        raise typer.Exit(1)


@app.command("validate-accuracy")
def validate_accuracy(fast: bool = typer.Option(False, "--fast", help="A subset of each dataset (about 15 s)."),
                      out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write every row here as CSV.")):
    """Every measured dataset (vTrain, Korthikanti, nccl-tests, kernel microbenchmarks, DGX-H100
    runs) against the prediction: MAPE, median, max and bias per dataset, accelerator and precision.
    Needs the source repository's validation/ folder (it is not part of the installed package)."""
    import runpy
    script = Path(__file__).resolve().parent.parent / "validation" / "accuracy.py"
    if not script.is_file():
        raise ConfigError("validate-accuracy", str(script), reason="the validation datasets are not installed",
                          accepted="run from a clone of the clustersim repository (validation/ beside simulator/)")
    if out is not None:
        if out.is_dir():
            raise ConfigError("--out", str(out), "a file to write (it is a folder)")
        _out_folder(out.parent)
    argv = sys.argv
    sys.argv = [str(script)] + (["--fast"] if fast else []) + (["--out", str(out)] if out else [])
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = argv


@app.command()
def topology(source: Path = typer.Argument(..., help="A scenario or system file (its network, built), or a topology "
                                                     "file (.json, .graphml, ASTRA-sim .yaml)."),
             export: Optional[Path] = typer.Option(None, help="Save the topology as node-link JSON here.")):
    """Summarize a topology (counts, bisection bandwidth) and optionally export it."""
    from .api import load_graph
    from .topology import save_topology, summarize
    from .topology.summary import MAX_BISECTION_LINKS
    g = load_graph(source)
    s = summarize(g)
    table = Table(title=s["name"] or str(source), show_header=False)
    table.add_row("servers", str(s["servers"]))
    for k, v in s["nodes"].items():
        table.add_row(f"nodes: {k}", str(v))
    for k, v in s["links"].items():
        table.add_row(f"links: {k}", str(v))
    table.add_row("total nodes / links", f"{s['total_nodes']} / {s['total_links']}")
    bb = s["bisection_bandwidth"]
    table.add_row("bisection bandwidth", f"not computed (more than {MAX_BISECTION_LINKS:,} links)" if bb is None else
                  f"{bb / 1e9:,.1f} GB/s ({bb * 8 / 1e12:,.2f} Tb/s) per direction")
    out.print(table)
    if export is not None:
        save_topology(g, export)
        print(f"wrote {export}", file=sys.stderr)


@app.command()
def catalog():
    """List the accelerators in the catalog with their datasheet figures, and the failure models."""
    from .config.schema import PRECISIONS
    from .hardware import catalog_names, load_accelerator
    wide = Console(width=max(out.width, 150))   # a table that wraps is hard to read: let it run long
    table = Table("name", *(f"{p} dense" for p in PRECISIONS), "HBM", "HBM bandwidth", "scale-up / dir",
                  "host link / dir", title="Accelerators (system.accelerator); peak TFLOP/s without sparsity")
    for name in catalog_names():
        a = load_accelerator(name)
        peaks = [f"{a.peak_flops[p] / 1e12:,.0f}" if p in a.peak_flops else "-" for p in PRECISIONS]
        table.add_row(name, *peaks, format_bytes(a.hbm_capacity), f"{a.hbm_bandwidth / 1e12:.2f} TB/s",
                      f"{a.scale_up_bandwidth / 1e9:.0f} GB/s", f"{a.host_link_bandwidth / 1e9:.0f} GB/s")
    wide.print(table)
    from .reliability import catalog_names as failure_models, load_failure_model
    fm = Table(title="Failure models (reliability.failure_model)")
    for col in ("name", "classes", "description"):
        fm.add_column(col)
    for name in failure_models():
        m = load_failure_model(name)
        fm.add_row(name, str(len(m.classes)), m.description)
    wide.print(fm)


@app.command()
def schema(study: bool = typer.Option(True, help="Also allow the `sweep:` and `plan:` sections of study and "
                                                 "planning files.")):
    """Print the JSON Schema of scenario files (for editors: see docs/scenarios.md)."""
    from .config.json_schema import scenario_schema
    extra = {}
    if study:
        from .studies.planner import PlanConfig
        from .studies.spec import SweepConfig
        extra = {"sweep": SweepConfig, "plan": PlanConfig}
    print(json.dumps(scenario_schema(extra), indent=2, ensure_ascii=False))


import_app = typer.Typer(help="Write a scenario from a framework's own configuration.", no_args_is_help=True)
app.add_typer(import_app, name="import")


def _system_section(accelerator: str, nodes: Optional[int], gpus_per_node: Optional[int],
                    nic_bandwidth: str) -> dict:
    return {"accelerator": accelerator, "num_nodes": nodes, "gpus_per_node": gpus_per_node or 8,
            "topology": {"nic_bandwidth": nic_bandwidth}}


def _write_scenario(data: dict, out_path: Path, notes: list[str]) -> None:
    """Write the scenario with its notes as comments, then check it as `validate` would."""
    import yaml
    from .api import prepare
    from .config import load_scenario
    text = "".join(f"# {line}\n" for line in notes) + yaml.safe_dump(data, sort_keys=False)
    try:
        out_path.write_text(text)
    except OSError as exc:
        raise ConfigError("--out", str(out_path), f"a writable file ({exc.strerror})") from None
    print(f"wrote {out_path}", file=sys.stderr)
    for line in notes:
        print(line, file=sys.stderr)
    prep = prepare(load_scenario(out_path))
    print(f"{out_path}: a valid scenario of {prep.job.plan.world} GPUs; peak memory {format_bytes(prep.peak_memory)} of "
          f"{format_bytes(prep.accelerator.hbm_capacity)} ({'fits' if prep.fits else 'DOES NOT FIT'})")


@import_app.command("megatron")
def import_megatron(arguments: str = typer.Argument(..., help="The launch line or its Megatron arguments, quoted: "
                                                              "'--num-layers 96 --hidden-size 12288 ...'."),
                    out_path: Path = typer.Option(..., "--out", "-o", help="The scenario file to write."),
                    accelerator: str = typer.Option(..., help="Catalog name or accelerator file."),
                    nodes: Optional[int] = typer.Option(None, help="Servers (default: torchrun's --nnodes)."),
                    gpus_per_node: Optional[int] = typer.Option(None, help="GPUs per server (default: torchrun's "
                                                                           "--nproc-per-node, else 8)."),
                    hf_config: Optional[str] = typer.Option(None, help="A Hugging Face config.json for the model "
                                                                       "fields the arguments leave out (vocabulary)."),
                    nic_bandwidth: str = typer.Option("400 Gb/s", help="Per NIC, per direction.")):
    """Write a scenario from a Megatron-LM launch line; arguments not modelled are listed."""
    from .config.megatron import NOT_COST, parse_launch_line, scenario_from_megatron
    args, _ = parse_launch_line(arguments)
    nodes = nodes or args.get("nnodes")
    if not isinstance(nodes, int):
        raise ConfigError("--nodes", nodes, "the number of servers (or --nnodes in the launch line)")
    system = _system_section(accelerator, nodes, gpus_per_node or args.get("nproc_per_node"), nic_bandwidth)
    data, unmodelled = scenario_from_megatron(args, system)
    if hf_config:
        data["model"] = {"hf_config": str(Path(hf_config).resolve()), **data["model"]}
    data = {"name": out_path.stem, "description": "Imported from Megatron-LM arguments.", **data}
    costly = [a for a in unmodelled if a not in NOT_COST]
    notes = [f"not modelled (may change cost): {', '.join('--' + a.replace('_', '-') for a in costly)}"] * bool(costly) + \
        [f"not modelled (no effect on cost): {', '.join('--' + a.replace('_', '-') for a in unmodelled if a in NOT_COST)}"] * \
        bool(set(unmodelled) & set(NOT_COST))
    _write_scenario(data, out_path, notes)


@import_app.command("deepspeed")
def import_deepspeed(config: Path = typer.Argument(..., help="A DeepSpeed config (ds_config.json)."),
                     out_path: Path = typer.Option(..., "--out", "-o", help="The scenario file to write."),
                     hf_config: str = typer.Option(..., help="The model's Hugging Face config.json."),
                     accelerator: str = typer.Option(..., help="Catalog name or accelerator file."),
                     nodes: int = typer.Option(..., help="Servers."),
                     gpus_per_node: int = typer.Option(8, help="GPUs per server."),
                     seq_length: int = typer.Option(..., help="Tokens per sequence (DeepSpeed's config does not say)."),
                     nic_bandwidth: str = typer.Option("400 Gb/s", help="Per NIC, per direction.")):
    """Write a scenario from a DeepSpeed config and a Hugging Face model config (ZeRO data parallelism)."""
    from .config import read_mapping
    from .config.deepspeed import scenario_from_deepspeed
    system = _system_section(accelerator, nodes, gpus_per_node, nic_bandwidth)
    data, notes = scenario_from_deepspeed(read_mapping(config, "deepspeed config"), system, seq_length)
    data = {"name": out_path.stem, "description": f"Imported from DeepSpeed config {config.name}.",
            "model": {"hf_config": str(Path(hf_config).resolve())}, **data}
    _write_scenario(data, out_path, notes)


@app.command("bench-collective")
def bench_collective(source: Path = typer.Argument(..., help="A scenario, or a YAML file with only a 'system:' section."),
                     op: str = typer.Option("all_reduce", help="all_reduce, reduce_scatter, all_gather, broadcast, all_to_all, send_recv."),
                     gpus: Optional[int] = typer.Option(None, help="Ranks in the group (first GPUs in server order); default all."),
                     min_bytes: str = typer.Option("1 KiB", "--min-bytes", "-b", help="Smallest buffer."),
                     max_bytes: str = typer.Option("1 GiB", "--max-bytes", "-e", help="Largest buffer."),
                     factor: int = typer.Option(2, "--step-factor", "-f", help="Multiply the size by this each row."),
                     algorithm: str = typer.Option("auto", help="auto (choose by cost, as NCCL does), or an algorithm name.")):
    """Print an nccl-tests-style table (size, time, algbw, busbw) for a collective on a system."""
    from .api import bench_collective as bench, load_system
    from .config import parse_quantity
    lo = parse_quantity(min_bytes, "bytes", "--min-bytes")
    hi = parse_quantity(max_bytes, "bytes", "--max-bytes")
    if factor < 2:
        raise ConfigError("--step-factor", factor, "an integer >= 2")
    if not 1 <= lo <= hi:
        raise ConfigError("--min-bytes", min_bytes, f"a size from 1 B up to --max-bytes ({max_bytes})")
    sizes = []
    s = lo
    while s <= hi:
        sizes.append(s)
        s *= factor
    df = bench(load_system(source), op=op, gpus=gpus, sizes=sizes, algorithm=algorithm)
    print(nccl_tests_table(df, op, f"clustersim bench-collective: {op}, {gpus or 'all'} GPUs, {source}"))


def nccl_tests_table(df, op: str, title: str) -> str:
    """The rows in all_reduce_perf's layout (nccl-tests), so that its parsers read them; float
    elements. The simulator does not tell in-place from out-of-place: both columns are the same."""
    redop = "sum" if op in ("all_reduce", "reduce_scatter") else "none"
    ranks = int(df.attrs.get("ranks", 1))
    lines = [f"# {title}",
             "# in-place columns repeat out-of-place (not distinguished); algorithm/protocol per size at the end",
             "#" + " " * 54 + "out-of-place" + " " * 23 + "in-place",
             "#       size         count      type   redop     time   algbw   busbw  error     time   algbw   busbw  error",
             "#        (B)    (elements)                       (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)"]
    for r in df.itertuples():
        size = int(r.size)
        count = size // 4 // (ranks if op in ("all_gather", "reduce_scatter") else 1)
        us = r.time * 1e6
        t = f"{us:.0f}" if us >= 10000 else f"{us:.1f}" if us >= 100 else f"{us:.2f}"
        half = f"  {t:>7}  {r.algbw / 1e9:6.2f}  {r.busbw / 1e9:6.2f}  {'N/A':>5}"
        lines.append(f"{size:12d}  {count:12d}  {'float':>8}  {redop:>6}" + half + half)
    lines.append("# Out of bounds values : 0 OK")
    lines.append(f"# Avg bus bandwidth    : {(df['busbw'] / 1e9).mean():.4f} ")
    lines.append("# algorithm/protocol: " + ", ".join(f"{int(r.size)} {r.algorithm}" for r in df.itertuples()))
    return "\n".join(lines)


def _version(value: bool) -> None:
    if value:
        from . import __version__
        print(f"clustersim {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")):
    """Simulate large-model training on accelerator clusters."""


def main() -> None:
    try:
        app()
    except (ConfigError, ImplausibleResult, WorkerLost) as exc:  # the input's fault (2), or not (1)
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2 if isinstance(exc, ConfigError) else 1)


if __name__ == "__main__":
    main()
