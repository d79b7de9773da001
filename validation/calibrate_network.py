"""Fit the network constants of calibration.yaml to the nccl-tests all_reduce logs.

    python validation/calibrate_network.py [--rounds R] [--minimax]

Coordinate descent over NVLink and InfiniBand protocol efficiency, the latencies and per-channel
rate caps of the Simple, LL128 and LL protocols and the per-hop latencies, minimizing the mean
squared log error of busbw over all logged sizes from 1 MiB up (2 to 128 GPUs), with sizes >= 64
MiB weighted double. --minimax then searches a small grid around the result (InfiniBand efficiency,
LL128 channel rate and step latency) for the smallest worst error relative to the targets (10 %
at >= 64 MiB, 25 % from 1 to 64 MiB). Prints each improvement and the fitted values; it writes
nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import math

from simulator.hardware import load_calibration

from descent import coordinate_descent
from nccl_tests import MiB, compare, summarize

GRID = {
    "nvlink": [0.70, 0.72, 0.74, 0.76, 0.78, 0.80, 0.82],
    "infiniband": [0.5, 0.55, 0.58, 0.6, 0.61, 0.62, 0.63, 0.64, 0.66, 0.68, 0.7, 0.75, 0.8, 0.9],
    "simple.launch_latency": [5e-6, 10e-6, 20e-6, 30e-6, 40e-6, 50e-6, 60e-6, 80e-6],
    "simple.step_latency": [0.5e-6, 1e-6, 2e-6, 3e-6, 4e-6, 6e-6, 8e-6],
    "simple.channel_rate": [20e9, 40e9, 60e9, 80e9, 100e9, 150e9, 1e13],
    "ll128.launch_latency": [5e-6, 10e-6, 20e-6, 30e-6, 40e-6],
    "ll128.step_latency": [0.5e-6, 1e-6, 2e-6, 3e-6, 4e-6, 5e-6, 6e-6],
    "ll128.channel_rate": [2e9, 3e9, 4e9, 5e9, 6e9, 8e9, 10e9, 15e9, 20e9, 1e13],
    "ll.channel_rate": [0.5e9, 1e9, 1.5e9, 2e9, 3e9, 4e9, 8e9, 1e13],
    "ll.launch_latency": [2e-6, 4e-6, 6e-6, 8e-6, 12e-6, 16e-6, 20e-6],
    "ll.step_latency": [0.5e-6, 1e-6, 1.5e-6, 2e-6, 3e-6, 4e-6, 6e-6],
    "ll.bandwidth_fraction": [0.15, 0.2, 0.25, 0.3, 0.4, 0.5],
    "hop.infiniband": [0.2e-6, 0.5e-6, 0.75e-6, 1e-6, 1.5e-6, 2e-6],
    "hop.pcie": [0.1e-6, 0.25e-6, 0.5e-6, 1e-6],
    "hop.nvlink": [0.2e-6, 0.4e-6, 0.7e-6, 1e-6, 1.5e-6],
}


def calibration_with(params: dict):
    base = load_calibration()
    eff = dict(base.protocol_efficiency, nvlink=params["nvlink"], infiniband=params["infiniband"])
    hops = {k: params.get(f"hop.{k}", v) for k, v in base.hop_latency.items()}
    protocols = {name: dict(p) for name, p in base.protocols.items()}
    for key, value in params.items():
        if "." in key and not key.startswith("hop."):
            name, field = key.split(".")
            protocols[name][field] = value
    return dataclasses.replace(base, protocol_efficiency=eff, protocols=protocols, hop_latency=hops)


def loss(params: dict) -> float:
    total = weight = 0.0
    for rows in compare(calibration_with(params)).values():
        for size, measured, simulated, _ in rows:
            w = 2.0 if size >= 64 * MiB else 1.0
            total += w * math.log(simulated / measured) ** 2
            weight += w
    return total / weight


def minimax(params: dict) -> dict:
    """Smallest worst error relative to the targets over a grid around `params`."""
    def score(p):
        return max(max(big / 0.10, mid / 0.25) for _, big, mid in summarize(compare(calibration_with(p))))
    best, best_score = params, score(params)
    ib, rate, step = params["infiniband"], params["ll128.channel_rate"], params["ll128.step_latency"]
    for d_ib in (-0.01, 0.0, 0.01):
        for f_rate in (0.875, 1.0, 1.125):
            for f_step in (5 / 6, 1.0, 7 / 6):
                trial = {**params, "infiniband": round(ib + d_ib, 3), "ll128.channel_rate": rate * f_rate,
                         "ll128.step_latency": step * f_step}
                s = score(trial)
                if s < best_score:
                    best, best_score = trial, s
                    print(f"  minimax: {trial} -> worst error / target {s:.3f}", flush=True)
    return best


def current() -> dict:
    c = load_calibration()
    params = {"nvlink": c.protocol_efficiency["nvlink"], "infiniband": c.protocol_efficiency["infiniband"]}
    params.update({f"hop.{k}": v for k, v in c.hop_latency.items()})
    for name, p in c.protocols.items():
        for field in ("launch_latency", "step_latency", "bandwidth_fraction", "channel_rate"):
            if f"{name}.{field}" in GRID:
                params[f"{name}.{field}"] = p[field]
    return params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--minimax", action="store_true", help="refine for the worst error after the descent")
    args = ap.parse_args()
    params, _ = coordinate_descent(current(), GRID, loss, args.rounds)
    if args.minimax:
        params = minimax(params)
    print(f"fitted: {params}")
    for n, big, mid in summarize(compare(calibration_with(params))):
        print(f"  {n:>4} GPUs: >= 64 MiB {100 * big:5.1f} %   1-64 MiB {100 * mid:5.1f} %")


if __name__ == "__main__":
    main()
