"""Coordinate descent over a grid: the search both calibration scripts use."""

from __future__ import annotations


def coordinate_descent(params: dict, grid: dict[str, list], loss, rounds: int) -> tuple[dict, float]:
    """Try every grid value of one parameter at a time, keep any that lowers `loss(params)`,
    for `rounds` passes over all parameters. Prints each improvement."""
    best = loss(params)
    print(f"start: loss {best:.5f}", flush=True)
    for rnd in range(rounds):
        for name, values in grid.items():
            for v in values:
                if v == params[name]:
                    continue
                trial = {**params, name: v}
                e = loss(trial)
                if e < best:
                    best, params = e, trial
                    print(f"  round {rnd}: {name} = {v:g} -> loss {e:.5f}", flush=True)
    return params, best
