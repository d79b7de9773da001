"""One point of a study: a scenario (a base mapping with overrides) in, one flat row of headline
figures out. A plan that does not fit is a row with its memory and `fits = False`; a point the
input makes invalid is a row with its error. A study never stops at a bad point.

Rows are plain dicts of numbers and strings so that they travel between processes and machines
and land in one table.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from ..config import ConfigError, ImplausibleResult, load_scenario

MEASURES = ("step", "campaign")
INTERNAL_ERROR = "internal error: "   # rows with this error are not kept in a journal: a rerun tries again
GIB = 2**30


def measure_point(base: dict, base_dir: str, overrides: dict[str, Any], measure: str = "step") -> dict:
    """The row of one point. Never raises for a problem of the point itself."""
    from ..api import prepare
    wall = time.perf_counter()
    row: dict[str, Any] = {}
    error = None
    try:
        sc = load_scenario(base, base_dir=base_dir, overrides=overrides)
        prep = prepare(sc)
        row.update(plan_columns(prep))
        if prep.fits:
            row.update(step_columns(sc, prep) if measure == "step" else campaign_columns(sc))
    except ConfigError as exc:
        error = str(exc)
    except ImplausibleResult as exc:
        error = f"implausible result: {exc}"
    except RecursionError:
        error = "input nested too deeply"
    except Exception as exc:  # noqa: BLE001 - a fault of the simulator: the row says so, the study goes on
        error = f"{INTERNAL_ERROR}{type(exc).__name__}: {exc}"
    row.setdefault("fits", None)
    row.update(error=error, sim_wall_s=time.perf_counter() - wall)
    return row


def plan_columns(prep) -> dict[str, Any]:
    """What is known without simulating: the plan and the memory."""
    p, accel = prep.job.plan, prep.accelerator
    row = {"accelerator": accel.name, "gpus": p.world, "tp": p.tp, "cp": p.cp, "ep": p.ep, "pp": p.pp,
           "dp": p.dp, "microbatches": p.num_microbatches, "zero_stage": p.zero_stage,
           "peak_memory_gib": prep.peak_memory / GIB, "hbm_gib": accel.hbm_capacity / GIB}
    row.update({f"memory_{k}_gib": v / GIB for k, v in prep.job.memory[prep.peak_stage].items()})
    row["fits"] = prep.fits
    return row


def step_columns(sc, prep) -> dict[str, Any]:
    """One simulated iteration's headline figures, and the time to train the token budget
    (reliability.token_budget) at that speed, failures aside."""
    from ..api import simulate
    s = simulate(prep.scenario).summary
    row = {k: s[k] for k in ("iteration_time_s", "tokens_per_s", "mfu", "tflops_per_gpu")}
    row.update({f"{k}_s": v for k, v in s["breakdown_s"].items()})
    row.update(budget_columns(sc.reliability.token_budget, s["tokens_per_s"], s["parallelism"]["world"]))
    return row


def campaign_columns(sc) -> dict[str, Any]:
    """A Monte Carlo campaign's headline figures (means over trials)."""
    from ..api import simulate_campaign
    s = simulate_campaign(sc).summary
    r = s["results"]
    row = {"iteration_time_s": s["healthy"]["iteration_time_s"], "tokens_per_s": s["healthy"]["tokens_per_s"],
           "ettr": r["ettr"]["mean"], "relative_goodput": r["relative_goodput"]["mean"],
           "goodput_tokens_per_s": r["goodput_tokens_per_s"]["mean"], "failures": r["failures"]["mean"],
           "interruptions": r["interruptions"]["mean"], "lost_time_h": r["lost_time_h"]["mean"],
           "checkpoint_interval_s": s["checkpoint"]["interval_s"], "checkpoint_size_gb": s["checkpoint"]["size_bytes"] / 1e9,
           "mean_time_to_interruption_h": s["mean_time_to_interruption_h"], "trials": s["trials"]}
    world = s["resolved_scenario"]["system"]["num_nodes"] * s["resolved_scenario"]["system"]["gpus_per_node"]
    if "time_to_train_days" in r:
        days = r["time_to_train_days"]["mean"]
        row.update({"time_to_train_days": days, "gpu_hours": days * 24 * world if math.isfinite(days) else None,
                    "finished_fraction": s["finished_fraction"]})
    return row


def budget_columns(token_budget: float | None, tokens_per_s: float, gpus: int) -> dict[str, Any]:
    if not token_budget:
        return {}
    days = token_budget / tokens_per_s / 86400
    return {"time_to_train_days": days, "gpu_hours": days * 24 * gpus}


def base_dir_of(path: str | Path) -> str:
    return str(Path(path).resolve().parent)
