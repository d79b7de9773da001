"""Mutation fuzzing of scenario input: every case must end in a prediction, a ConfigError or a
DoesNotFitError (one line naming its field), within a time and memory budget.

    python benchmarks/fuzz.py [--cases N] [--seed S] [--timeout SECONDS] [--memory GIB]

Each case takes a shipped scenario, or the shipped topology file under the scenario that reads
it, and changes one value somewhere in it: a huge, negative, zero, non-finite or wrongly typed
number, a long or odd string, a deep list, a missing or an unknown key. It then runs `simulate`
on it in a subprocess with an address-space limit and a timeout. Prints the tally by outcome and
the first examples of every bad outcome (traceback, timeout, memory exhausted, a message of more
than one line).
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import resource
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
GOOD = ("result", "ConfigError", "DoesNotFitError")

RUNNER = r"""
import json, sys, tempfile, yaml
from simulator import simulate
from simulator.config import ConfigError, DoesNotFitError
data = yaml.load(sys.stdin.read(), Loader=yaml.SafeLoader)
topology = data.pop("_topology", None)
if topology is not None:  # a mutated topology file: written out, and the scenario pointed at it
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(topology, f, allow_nan=True)
    data["system"]["topology"] = {"file": f.name}
try:
    simulate(data)
    print("OUTCOME result")
except DoesNotFitError as e:
    print("OUTCOME DoesNotFitError" if "\n" not in str(e) else "OUTCOME multi-line message")
except ConfigError as e:
    print("OUTCOME ConfigError" if "\n" not in str(e) else "OUTCOME multi-line message")
"""


def _deep(depth: int) -> list:
    out: list = []
    for _ in range(depth):
        out = [out]
    return out


def replacements(value: object, rng: random.Random) -> list:
    """Values to put in place of `value`."""
    out = [-1, 0, 2**63, 10**400, 1e308, float("nan"), float("inf"), -0.5, True, None, "", "x" * 5000,
           "1e999 GB/s", "400 Qb/s", "-5 GB/s", [], {}, _deep(200), "a\nb", 3.5]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        out += [value * 1000, value * 10**6, value / 1000, -value]
    if isinstance(value, str):
        out += [value * 100, value.upper(), value + " extra", value[:-1]]
    return out


def paths(node: object, prefix: tuple = ()) -> list[tuple]:
    """Every key path to a value in a nested mapping (lists included by index)."""
    found = []
    if isinstance(node, dict):
        for k, v in node.items():
            found.append(prefix + (k,))
            found += paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node[:4]):
            found.append(prefix + (i,))
            found += paths(v, prefix + (i,))
    return found


def mutate(scenario: dict, rng: random.Random) -> tuple[dict, str]:
    """One change somewhere in `scenario`, and its description."""
    sc = copy.deepcopy(scenario)
    path = rng.choice(paths(sc))
    parent = sc
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    action = rng.random()
    if action < 0.1 and isinstance(parent, dict):
        del parent[key]
        return sc, f"delete {'.'.join(map(str, path))}"
    if action < 0.15 and isinstance(parent, dict):
        parent["unknown_key_" + str(rng.randrange(100))] = 1
        return sc, f"add an unknown key beside {'.'.join(map(str, path))}"
    new = rng.choice(replacements(parent[key], rng))
    parent[key] = new
    shown = repr(new) if len(repr(new)) < 40 else repr(new)[:37] + "..."
    return sc, f"{'.'.join(map(str, path))} = {shown}"


def seeds() -> list[dict]:
    """The shipped scenarios as mappings, model config paths made absolute, output off."""
    out = []
    for f in sorted(SCENARIOS.glob("*.yaml")):
        sc = yaml.safe_load(f.read_text())
        if sc.get("system", {}).get("num_nodes", 1) > 128:
            continue  # keep each case to a few seconds
        model = sc.get("model", {})
        if "hf_config" in model:
            model["hf_config"] = str((f.parent / model["hf_config"]).resolve())
        topo = sc.get("system", {}).get("topology", {})
        if "file" in topo:
            topo["file"] = str((f.parent / topo["file"]).resolve())
        sc.pop("reliability", None)
        sc["output"] = {"trace": False}
        out.append(sc)
    return out


def run_case(scenario: dict, timeout: float, memory_gib: float) -> str:
    def limit():
        cap = int(memory_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        proc = subprocess.run([sys.executable, "-c", RUNNER], input=yaml.safe_dump(scenario), text=True,
                              capture_output=True, timeout=timeout, preexec_fn=limit, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return "timeout"
    for line in proc.stdout.splitlines():
        if line.startswith("OUTCOME "):
            return line[len("OUTCOME "):]
    last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
    if "MemoryError" in last:
        return "memory exhausted"
    return "traceback: " + last.split(":")[0][:60]


def topology_seed() -> dict:
    """The scenario that reads a topology file, with the file's node-link data under `_topology`
    (mutations of it are mutations of the file)."""
    sc = next(s for s in seeds() if "file" in s.get("system", {}).get("topology", {}))
    sc["_topology"] = json.loads(Path(sc["system"]["topology"]["file"]).read_text())
    return sc


def mutate_topology(scenario: dict, rng: random.Random) -> tuple[dict, str]:
    """One change in the topology file: an attribute of a node or an edge, or a node or an edge
    gone."""
    sc = copy.deepcopy(scenario)
    topo = sc["_topology"]
    kind = rng.choice(("nodes", "edges"))
    i = rng.randrange(len(topo[kind]))
    item = topo[kind][i]
    if rng.random() < 0.1:
        del topo[kind][i]
        return sc, f"topology {kind}[{i}] removed"
    key = rng.choice(sorted(item))
    item[key] = rng.choice(replacements(item[key], rng))
    shown = repr(item[key]) if len(repr(item[key])) < 40 else repr(item[key])[:37] + "..."
    return sc, f"topology {kind}[{i}].{key} = {shown}"


def fuzz(cases: int, seed: int, timeout: float, memory_gib: float, show: int = 3) -> Counter:
    rng = random.Random(seed)
    bases = seeds()
    topology = topology_seed()
    tally: Counter = Counter()
    examples: dict[str, list[str]] = {}
    for _ in range(cases):
        if rng.random() < 0.3:
            sc, change = mutate_topology(topology, rng)
        else:
            sc, change = mutate(rng.choice(bases), rng)
        outcome = run_case(sc, timeout, memory_gib)
        tally[outcome] += 1
        if outcome not in GOOD:
            examples.setdefault(outcome, []).append(f"{sc.get('name')}: {change}")
    print(f"{cases} mutated scenarios (seed {seed}):")
    for outcome, n in tally.most_common():
        print(f"  {n:>6}  {outcome}")
        for ex in examples.get(outcome, [])[:show]:
            print(f"          e.g. {ex}")
    return tally


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per case")
    ap.add_argument("--memory", type=float, default=4.0, help="GiB of address space per case")
    a = ap.parse_args()
    tally = fuzz(a.cases, a.seed, a.timeout, a.memory)
    sys.exit(0 if set(tally) <= set(GOOD) else 1)


if __name__ == "__main__":
    main()
