"""The hardware planner: which accelerator, and how many, to train a model on a token budget by a
deadline or within a budget.

For every accelerator x cluster size it finds the best parallelism plan (the search, its top
plans simulated) and reports:
- time to train = token budget / (tokens per second x ETTR), where ETTR, the fraction of wall time
  that trains, is Daly's (2006) first-order expectation for the failure model's interruption rate
  on that cluster, the scenario's checkpoint cost and interval and restart time (a Monte Carlo
  campaign, `clustersim reliability`, gives the spread);
- GPU-hours and cost, at a price per GPU-hour (catalog data with source and date, overridable);
- energy: GPUs at board power while training and at idle power while down, each server's
  non-GPU power and the network's share throughout, times the site's PUE (all catalog data);
- the Pareto set of (time, cost): the configurations no other beats on both.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import ConfigError, Scenario, load_scenario, read_mapping
from ..config.strict import load_dataclass, option
from .executors import run_tasks

MAX_CONFIGURATIONS = 1024


@dataclass(frozen=True)
class Figure:
    """A catalog number with where it comes from."""

    value: float = option(minimum=0.0)
    source: str = option(doc="Where the figure comes from (document, URL).")
    date: str = option("", doc="When it applies (prices move).")


@dataclass(frozen=True)
class AcceleratorCosts:
    usd_per_gpu_hour: Figure = option(doc="On-demand cloud price per GPU-hour.")
    board_power_w: Figure = option(doc="Board power under load (the datasheet's maximum).")
    idle_power_w: Figure = option(doc="Board power idle.")
    server_power_w: Figure = option(doc="Non-GPU power of a server (CPUs, memory, NICs, fans) at load.")


@dataclass(frozen=True)
class OperatingCatalog:
    accelerators: dict[str, AcceleratorCosts] = option(doc="Per accelerator name.")
    network_power_w_per_gpu: Figure = option(doc="Switches and optics of the scale-out network, per GPU.")
    pue: Figure = option(doc="Power usage effectiveness of the site.")


def load_operating(path: str | Path | None = None) -> OperatingCatalog:
    """The shipped catalog (simulator/data/operating.yaml), or a user's file of the same shape."""
    if path is None:
        path = Path(str(resources.files("simulator") / "data" / "operating.yaml"))
    return load_dataclass(OperatingCatalog, read_mapping(Path(path), "operating"), "operating")


@dataclass(frozen=True)
class PlanConfig:
    """The `plan:` section of a planning file."""

    token_budget: float = option(minimum=1.0, doc="Tokens to train.")
    accelerators: tuple[str, ...] = option(doc="Accelerator catalog names to compare.")
    num_nodes: tuple[int, ...] = option(minimum=1, maximum=65_536, doc="Cluster sizes (servers) to compare.")
    deadline: float | None = option(None, unit="time", minimum=1.0, doc="Train by then, e.g. '90 days'.")
    budget_usd: float | None = option(None, minimum=0.0, doc="Spend at most this much.")
    top: int = option(3, minimum=1, maximum=100, doc="Plans simulated per configuration by the search.")
    failures: bool = option(True, doc="Slow the time to train by the failure model's expected ETTR.")
    operating: str | None = option(None, doc="A catalog file of prices and power replacing the shipped one.")
    usd_per_gpu_hour: dict[str, float] = option({}, minimum=0.0, doc="Price overrides per accelerator.")
    pue: float | None = option(None, minimum=1.0, maximum=5.0, doc="Site PUE override.")

    def check(self, path: str) -> None:
        if not self.accelerators or not self.num_nodes:
            raise ConfigError(f"{path}.accelerators", list(self.accelerators), "at least one accelerator and size")
        if len(self.accelerators) * len(self.num_nodes) > MAX_CONFIGURATIONS:
            raise ConfigError(path, len(self.accelerators) * len(self.num_nodes),
                              f"at most {MAX_CONFIGURATIONS} accelerator x size configurations")


def load_plan(path: str | Path, overrides: dict[str, Any] | None = None) -> tuple[PlanConfig, dict, str]:
    """The `plan:` section, the scenario (as a mapping) it applies to, and the folder of relative paths."""
    path = Path(path)
    data = read_mapping(path, "plan")
    if "plan" not in data:
        raise ConfigError("plan.plan", reason="required key is missing",
                          accepted="a `plan:` section with token_budget, accelerators, num_nodes (docs/studies.md)")
    cfg = load_dataclass(PlanConfig, data.pop("plan"), "plan.plan")
    data.setdefault("name", path.stem)
    if overrides:
        from ..config import apply_overrides
        data = apply_overrides(data, overrides)
    base_dir = str(path.resolve().parent)
    if cfg.operating is not None:
        cfg = dataclasses.replace(cfg, operating=str(path.resolve().parent / cfg.operating))
    return cfg, data, base_dir


def run_plan(cfg: PlanConfig, base: dict, base_dir: str, *, workers: int | None = None,
             scheduler: str | None = None, progress=None) -> pd.DataFrame:
    """One row per accelerator x cluster size, Pareto-marked; sorted by time to train."""
    catalog = load_operating(cfg.operating)
    for name in cfg.accelerators:
        if name not in catalog.accelerators:
            raise ConfigError("plan.plan.accelerators", name, "accelerators with prices and power in the operating "
                              "catalog: " + ", ".join(catalog.accelerators))
    configs = [(a, n) for a in cfg.accelerators for n in cfg.num_nodes]
    tasks = [(base, base_dir, {"system.accelerator": a, "system.num_nodes": n}, cfg.top) for a, n in configs]
    rows: dict[int, dict] = {}
    if progress:
        progress(0, len(tasks))
    for i, row in run_tasks(best_plan, tasks, workers=workers, scheduler=scheduler):
        rows[i] = row
        if progress:
            progress(len(rows), len(tasks))
    out = []
    for i, (accel, nodes) in enumerate(configs):
        out.append({"accelerator": accel, "num_nodes": nodes, **rows[i]})
    df = pd.DataFrame(out)
    return economics(df, cfg, catalog)


def best_plan(base: dict, base_dir: str, overrides: dict, top: int) -> dict:
    """The best simulated plan of one configuration, and its ETTR; an error row when none fits."""
    from .search import search
    try:
        sc = load_scenario(base, base_dir=base_dir, overrides=overrides)
        found = search(sc, top=top, workers=1).table   # this runs in a worker already
        ran = found[found["simulated_s"].notna()]
        if ran.empty:
            return {"gpus": sc.system.num_nodes * sc.system.gpus_per_node, "error": "no plan fits in memory"}
        best = ran.iloc[0]
        from .search import Candidate
        chosen = Candidate.from_row(best).apply(sc)
        tokens_per_step = sc.training.global_batch_size * sc.training.seq_length
        return {"gpus": sc.system.num_nodes * sc.system.gpus_per_node, "plan": best["plan"],
                "iteration_time_s": float(best["simulated_s"]), "tokens_per_s": tokens_per_step / best["simulated_s"],
                "mfu": float(best["mfu"]), "peak_memory_gib": float(best["peak_memory_gib"]),
                "ettr": expected_ettr(chosen), "error": None}
    except ConfigError as exc:
        return {"error": str(exc)}


def expected_ettr(sc: Scenario) -> float:
    """Daly's expected ETTR for the scenario's failure model, checkpoints and restarts."""
    from ..reliability import Campaign
    from ..reliability.checkpoint import daly_ettr
    c = Campaign(sc)
    return daly_ettr(c.interval, c.ckpt.block, c.restart, c.mtti)


def economics(df: pd.DataFrame, cfg: PlanConfig, catalog: OperatingCatalog) -> pd.DataFrame:
    """Time to train, GPU-hours, cost and energy of each configuration; the Pareto set."""
    pue = cfg.pue or catalog.pue.value
    rows = []
    for r in df.to_dict("records"):
        if r.get("error") or not r.get("tokens_per_s"):
            rows.append(r)
            continue
        costs = catalog.accelerators[r["accelerator"]]
        ettr = r["ettr"] if cfg.failures else 1.0
        seconds = cfg.token_budget / (r["tokens_per_s"] * ettr)
        gpus, servers = r["gpus"], r["num_nodes"]
        price = cfg.usd_per_gpu_hour.get(r["accelerator"], costs.usd_per_gpu_hour.value)
        gpu_w = ettr * costs.board_power_w.value + (1 - ettr) * costs.idle_power_w.value
        site_w = (gpus * (gpu_w + catalog.network_power_w_per_gpu.value) + servers * costs.server_power_w.value) * pue
        rows.append({**r, "time_to_train_days": seconds / 86400, "gpu_hours": gpus * seconds / 3600,
                     "usd_per_gpu_hour": price, "cost_usd": gpus * seconds / 3600 * price,
                     "energy_mwh": site_w * seconds / 3.6e9, "site_power_mw": site_w / 1e6})
    out = pd.DataFrame(rows)
    if "time_to_train_days" not in out:
        out["time_to_train_days"] = math.nan
        out["cost_usd"] = math.nan
    out["meets_deadline"] = out["time_to_train_days"] <= cfg.deadline / 86400 if cfg.deadline else out["time_to_train_days"].notna()
    out["within_budget"] = out["cost_usd"] <= cfg.budget_usd if cfg.budget_usd is not None else out["cost_usd"].notna()
    out["pareto"] = pareto(out)
    return out.sort_values(["time_to_train_days", "cost_usd"], na_position="last", kind="stable").reset_index(drop=True)


def pareto(df: pd.DataFrame) -> list[bool]:
    """True where no other configuration is at least as fast and as cheap, and better in one."""
    points = list(zip(df["time_to_train_days"], df["cost_usd"]))
    out = []
    for i, (t, c) in enumerate(points):
        if not (t == t and c == c):   # NaN: no plan
            out.append(False)
            continue
        out.append(not any(j != i and t2 <= t and c2 <= c and (t2 < t or c2 < c)
                           for j, (t2, c2) in enumerate(points) if t2 == t2 and c2 == c2))
    return out


def plot_plan(df: pd.DataFrame, cfg: PlanConfig, out: Path) -> list[Path]:
    """Time to train vs cost, one colour per accelerator, the Pareto front joined."""
    from ..analysis.figures import pyplot, save
    ok = df[df["time_to_train_days"].notna()]
    if ok.empty:
        return []
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for accel, g in ok.groupby("accelerator", sort=False):
        ax.scatter(g["time_to_train_days"], g["cost_usd"] / 1e6, label=accel, s=36)
        for r in g.itertuples():
            ax.annotate(f"{r.gpus:,}", (r.time_to_train_days, r.cost_usd / 1e6), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
    front = ok[ok["pareto"]].sort_values("time_to_train_days")
    ax.plot(front["time_to_train_days"], front["cost_usd"] / 1e6, "k--", lw=0.8, label="Pareto front")
    if cfg.deadline:
        ax.axvline(cfg.deadline / 86400, color="red", lw=0.8, label="deadline")
    if cfg.budget_usd is not None:
        ax.axhline(cfg.budget_usd / 1e6, color="orange", lw=0.8, label="budget")
    ax.set_xlabel("time to train (days, with expected failures)" if cfg.failures else "time to train (days)")
    ax.set_ylabel("cost (million USD)")
    ax.set_title(f"{cfg.token_budget:.3g} tokens: time vs cost (labels: GPUs)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save(fig, out / "time_vs_cost", ("png", "svg"))
