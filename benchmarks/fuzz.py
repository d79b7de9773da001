"""Mutation fuzzing of everything a user hands clustersim: every case must end in a prediction, a
ConfigError or a DoesNotFitError whose message is one line naming its field (or, for a command
line, exit 0 or a clear error with exit 2), within a time and memory budget.

    python benchmarks/fuzz.py [--cases N] [--seed S] [--jobs J] [--timeout SECONDS] [--memory GIB]

A case takes one of the files a user writes or points at, changes it, and runs it:
- scenario files (every shipped scenario up to 128 servers), accelerator files (every catalog
  entry, loaded as a file), topology files (node-link JSON, GraphML, ASTRA-sim YAML) and
  Hugging Face config.json files (shipped and real ones), each either with one value changed (a
  huge, negative, zero, non-finite or wrongly typed number, a long or odd string, a deep list, a
  missing or an unknown key) or with its bytes damaged (cut short, a span deleted or repeated,
  a stray token, NUL or invalid UTF-8, an alias bomb);
- command lines: every command on special paths (devices, /proc files, a FIFO, a folder, empty,
  binary and huge-named files) and odd option values.
Each case runs in a process of its own, forked from a server that has imported the simulator, with
an address-space limit and a timeout. Prints the tally by outcome and the first examples of every
bad outcome (traceback, timeout, memory exhausted, a message of more than one line or without a
field). The test suite drives the same cases through hypothesis (tests/test_fuzz.py).
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
GOOD = ("result", "ConfigError", "DoesNotFitError", "cli: exit 0", "cli: clear error", "cli: usage shown")
MESSAGE_LIMIT = 3000  # characters: a field, a bounded value, a reason and what is accepted


@dataclass
class Case:
    """One run: `scenario` (a mapping, or the path of a scenario file) for `simulate`, or `argv`
    for the command line. `files` are written to a fresh folder first (None: a FIFO); "{dir}" in
    any string of the scenario or argv stands for that folder."""
    kind: str
    change: str
    scenario: object = None
    argv: list | None = None
    files: dict = field(default_factory=dict)


# ---------------------------------------------------------------- changing values and bytes

def _deep(depth: int) -> list:
    out: list = []
    for _ in range(depth):
        out = [out]
    return out


def replacements(value: object) -> list:
    """Values to put in place of `value`."""
    out = [-1, 0, 2**31, 2**63, 10**400, 1e308, 1e-324, float("nan"), float("inf"), -0.5, True, None, "",
           "x" * 5000, "1e999 GB/s", "400 Qb/s", "-5 GB/s", "5e8", "0x10", "../../etc/passwd", "/dev/zero",
           [], {}, _deep(200), {"a": {"b": {"c": [1, {}]}}}, "a\nb", "\x00", 3.5]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 1e300:
        out += [value * 1000, value * 10**6, value / 1000, -value, value + 1]
    if isinstance(value, str):
        out += [value * 100, value.upper(), value + " extra", value[:-1]]
    return out


def paths(node: object, prefix: tuple = ()) -> list[tuple]:
    """Key paths to values in a nested mapping; of a list, its first two and last two items."""
    found = []
    if isinstance(node, dict):
        for k, v in node.items():
            found.append(prefix + (k,))
            found += paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i in sorted({0, 1, len(node) - 2, len(node) - 1} & set(range(len(node)))):
            found.append(prefix + (i,))
            found += paths(node[i], prefix + (i,))
    return found


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) < 40 else text[:37] + "..."


def mutate_mapping(data: dict, ch) -> tuple[dict, str]:
    """One change somewhere in `data`: a key deleted, an unknown key added, or a value replaced.
    `ch` chooses (random.Random, or a hypothesis adapter with the same two methods)."""
    data = copy.deepcopy(data)
    path = ch.choice(paths(data))
    parent = data
    for k in path[:-1]:
        parent = parent[k]
    key, where = path[-1], ".".join(map(str, path))
    action = ch.randrange(20)
    if action < 2 and isinstance(parent, dict):
        del parent[key]
        return data, f"delete {where}"
    if action < 3 and isinstance(parent, dict):
        parent["unknown_key_" + str(ch.randrange(100))] = 1
        return data, f"an unknown key beside {where}"
    parent[key] = ch.choice(replacements(parent[key]))
    return data, f"{where} = {_shown(parent[key])}"


ALIAS_BOMB = b"a: &a ['x','x','x','x','x','x','x','x','x']\n" + b"".join(
    b"%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n" % ((98 + i,) * 2 + (97 + i,) * 9) for i in range(9))
TOKENS = (b"\x00", b"\xff\xfe", b"<", b"&e;", b"{", b"[", b"]]]", b"'", b'"', b": :", b"\t", b"\n  - ",
          b"!!python/object/apply:os.system ['true']", b"*undefined_alias", b"1e999", b"-", b"\xe2\x80",
          b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>", b"9" * 500)
WHOLE = (b"", b"\xff" * 100, ALIAS_BOMB, b"[" * 100_000, b"{" * 100_000, b"- " * 50_000, b"\x00" * 4096)


def mutate_bytes(text: bytes, ch) -> tuple[bytes, str]:
    """The bytes of a file damaged once: cut short, a span deleted or repeated, a token inserted,
    a byte changed, or the whole replaced by something hostile."""
    n = len(text)
    i, j = sorted((ch.randrange(n + 1), ch.randrange(n + 1)))
    action = ch.randrange(12)
    if action < 2:
        return text[:i], f"cut at byte {i}"
    if action < 4:
        return text[:i] + text[j:], f"bytes {i}-{j} deleted"
    if action < 5:
        times = ch.choice((2, 10, 1000))
        return text[:j] + text[i:j] * times + text[j:], f"bytes {i}-{j} repeated {times} times"
    if action < 8:
        token = ch.choice(TOKENS)
        return text[:i] + token + text[i:], f"{_shown(token)} inserted at byte {i}"
    if action < 10 and n:
        k = min(i, n - 1)
        b = ch.randrange(256)
        return text[:k] + bytes([b]) + text[k + 1:], f"byte {k} = {b:#04x}"
    whole = ch.choice(WHOLE)
    return whole, f"the whole file replaced by {_shown(whole)}"


def mutate_text_values(text: bytes, ch) -> tuple[bytes, str]:
    """One XML text node (`>value<`) replaced: a value change in a GraphML file."""
    spans = [i for i in range(len(text) - 1) if text[i:i + 1] == b">" and text[i + 1:i + 2] not in (b"<", b"\n")]
    if not spans:
        return mutate_bytes(text, ch)
    i = ch.choice(spans) + 1
    j = text.index(b"<", i) if b"<" in text[i:] else len(text)
    new = str(ch.choice(replacements(text[i:j].decode(errors="replace")))).encode("utf-8", "surrogatepass")
    return text[:i] + new + text[j:], f"text {_shown(text[i:j])} = {_shown(new)}"


# ---------------------------------------------------------------- what is fuzzed

@dataclass(frozen=True)
class Target:
    """A file a user hands over: its name, its seed content, how to read it as a mapping
    ('yaml', 'json', or '' for GraphML), and the scenario that reads it from "{dir}/<name>"."""
    label: str
    name: str
    content: bytes
    fmt: str
    scenario: object


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _absolute(sc: dict, base: Path) -> dict:
    """A shipped scenario with its model and topology paths made absolute, reliability and output off."""
    sc = copy.deepcopy(sc)
    model = sc.get("model", {})
    if "hf_config" in model:
        model["hf_config"] = str((base / model["hf_config"]).resolve())
    topo = sc.get("system", {}).get("topology", {})
    if "file" in topo:
        topo["file"] = str((base / topo["file"]).resolve())
    sc.pop("reliability", None)
    sc["output"] = {"trace": False}
    return sc


def _with(sc: dict, where: tuple, value: str) -> dict:
    sc = copy.deepcopy(sc)
    node = sc
    for k in where[:-1]:
        node = node.setdefault(k, {})
    node[where[-1]] = value
    return sc


@lru_cache(maxsize=None)
def targets() -> tuple[Target, ...]:
    """Every shipped scenario of up to 128 servers, every catalog accelerator, the shipped topology
    file as node-link JSON and as GraphML, an ASTRA-sim network, and every model config."""
    import networkx as nx

    from simulator.hardware.catalog import CATALOG
    from simulator.topology import load_topology

    scenarios = {f.stem: _absolute(_yaml(f), f.parent) for f in sorted(SCENARIOS.glob("*.yaml"))
                 if _yaml(f).get("system", {}).get("num_nodes", 1) <= 128}
    out = [Target(f"scenario {name}", "scenario.yaml", yaml.safe_dump(sc).encode(), "yaml", "{dir}/scenario.yaml")
           for name, sc in scenarios.items()]
    small = scenarios["gpt-1.3b-8xa100"]
    for f in sorted(CATALOG.glob("*.yaml")):
        out.append(Target(f"accelerator {f.stem}", "accelerator.yaml", f.read_bytes(), "yaml",
                          _with(small, ("system", "accelerator"), "{dir}/accelerator.yaml")))
    with_file = scenarios["llama3-8b-64xh100-topology-file"]
    shipped = Path(with_file["system"]["topology"]["file"])
    out.append(Target("topology JSON", "topology.json", shipped.read_bytes(), "json",
                      _with(with_file, ("system", "topology"), {"file": "{dir}/topology.json"})))
    graphml = tempfile.NamedTemporaryFile(suffix=".graphml", delete=False)
    graphml.close()
    nx.write_graphml(load_topology(shipped), graphml.name)
    out.append(Target("topology GraphML", "topology.graphml", Path(graphml.name).read_bytes(), "",
                      _with(with_file, ("system", "topology"), {"file": "{dir}/topology.graphml"})))
    os.unlink(graphml.name)
    astra = _with(_with(with_file, ("system", "num_nodes"), 16), ("system", "gpus_per_node"), 4)
    out.append(Target("topology ASTRA-sim", "network.yaml", (ROOT / "topologies/astra-sim-4x4x4.yaml").read_bytes(),
                      "yaml", _with(astra, ("system", "topology"), {"file": "{dir}/network.yaml"})))
    any_model = {"training": {"micro_batch_size": 1, "global_batch_size": 8, "seq_length": 1024},
                 "system": {"accelerator": "H100-SXM", "num_nodes": 1, "gpus_per_node": 8},
                 "model": {"hf_config": "{dir}/config.json"}, "output": {"trace": False}}
    for f in sorted((SCENARIOS / "models").glob("*.json")) + sorted((ROOT / "tests/data/hf").glob("*.json")):
        out.append(Target(f"hf_config {f.stem}", "config.json", f.read_bytes(), "json", any_model))
    return tuple(out)


def _dump(data: object, fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps(data, allow_nan=True).encode()
    return yaml.safe_dump(data, allow_unicode=True).encode("utf-8", "surrogatepass")


def file_case(ch) -> Case:
    """A changed file: one value (through its mapping, or a GraphML text node) or its bytes."""
    group = ch.choice(sorted({t.label.split()[0] for t in targets()}))  # each kind of file as often
    t = ch.choice([t for t in targets() if t.label.split()[0] == group])
    if ch.randrange(3):
        if t.fmt:
            data, change = mutate_mapping(yaml.safe_load(t.content) if t.fmt == "yaml" else json.loads(t.content), ch)
            content = _dump(data, t.fmt)
        else:
            content, change = mutate_text_values(t.content, ch)
    else:
        content, change = mutate_bytes(t.content, ch)
    return Case(t.label, change, scenario=t.scenario, files={t.name: content})


SPECIAL_PATHS = ("/dev/null", "/dev/zero", "/dev/urandom", "/proc/self/pagemap", "/proc/self/mem", "{dir}",
                 "{dir}/missing.yaml", "{dir}/" + "x" * 5000 + ".yaml", "{dir}/empty.yaml", "{dir}/binary.yaml",
                 "{dir}/fifo.yaml", "{dir}/line\nbreak.yaml", "{dir}/bomb.yaml", "{dir}/deep.json",
                 "{dir}/huge-name-" + "y" * 300 + ".json", "-", "", "~", "C:\\scenario.yaml")
SPECIAL_FILES = {"empty.yaml": b"", "binary.yaml": bytes(range(256)) * 64, "fifo.yaml": None,
                 "line\nbreak.yaml": b"name: x\n", "bomb.yaml": ALIAS_BOMB, "deep.json": b"[" * 100_000,
                 "exists.txt": b"a file, not a folder\n"}
GOOD_SCENARIO = str(SCENARIOS / "gpt-1.3b-8xa100.yaml")
COMMANDS = (["run"], ["validate"], ["topology"], ["reliability"], ["sweep"], ["compare", GOOD_SCENARIO],
            ["search"], ["plan"], ["bench-collective"], ["import", "deepspeed"], ["run-together", GOOD_SCENARIO])
ODD_OPTIONS = (
    ["run", GOOD_SCENARIO, "--mode", "bogus"], ["run", GOOD_SCENARIO, "--set", "nonsense"],
    ["run", GOOD_SCENARIO, "--set", "training.micro_batch_size=-1"], ["run", GOOD_SCENARIO, "--set", "a.b.c=[[[["],
    ["run", GOOD_SCENARIO, "--set", "model=" + "[" * 5000], ["run", GOOD_SCENARIO, "--set", "system.num_nodes=1e400"],
    ["run", GOOD_SCENARIO, "--out", "{dir}/exists.txt"], ["run", GOOD_SCENARIO, "--out", "/proc/forbidden/here"],
    ["run", GOOD_SCENARIO, "--out", "{dir}/" + "z" * 5000], ["validate", GOOD_SCENARIO, "--set", "\x00=1"],
    ["reliability", str(SCENARIOS / "llama3-405b-16384xh100.yaml"), "--trials", "-5"],
    ["reliability", str(SCENARIOS / "llama3-405b-16384xh100.yaml"), "--days", "nan"],
    ["reliability", str(SCENARIOS / "llama3-405b-16384xh100.yaml"), "--trials", str(10**30)],
    ["reliability", GOOD_SCENARIO, "--days", "1e308"],
    ["search", GOOD_SCENARIO, "--top", "-1"], ["search", GOOD_SCENARIO, "--space", "bogus"],
    ["search", GOOD_SCENARIO, "--space", "tensor_model_parallel_size=0"], ["search", GOOD_SCENARIO, "--workers", "0"],
    ["sweep", str(SCENARIOS / "studies/accelerator-x-size-70b.yaml"), "--workers", "-3"],
    ["import", "megatron", "--num-layers x --bogus-flag --hidden-size 1e999"], ["import", "megatron", ""],
    ["import", "megatron", "--num-layers 2 --hidden-size 64 --num-attention-heads 3 --seq-length 0"],
    ["bench-collective", GOOD_SCENARIO, "--op", "bogus"], ["catalog", "extra"], ["schema", "--bogus"],
    ["--version", "x"], ["run"], [],
)


def cli_case(ch) -> Case:
    """A command on a special path, or a shipped scenario with an odd option value."""
    if ch.randrange(2):
        command, path = ch.choice(COMMANDS), ch.choice(SPECIAL_PATHS)
        argv, change = [*command, path], f"clustersim {' '.join(command)} {_shown(path)}"
    else:
        argv = ch.choice(ODD_OPTIONS)
        change = "clustersim " + _shown(" ".join(argv).replace(str(ROOT) + "/", ""))
    return Case("command line", change, argv=list(argv), files=SPECIAL_FILES)


def make_case(ch) -> Case:
    """One case: a changed file (six in seven) or a command line."""
    return cli_case(ch) if ch.randrange(7) == 0 else file_case(ch)


# ---------------------------------------------------------------- running a case

def _fill(obj: object, folder: str) -> object:
    if isinstance(obj, str):
        return obj.replace("{dir}", folder)
    if isinstance(obj, list):
        return [_fill(x, folder) for x in obj]
    if isinstance(obj, dict):
        return {k: _fill(v, folder) for k, v in obj.items()}
    return obj


def _simulate(case: Case, folder: str) -> str:
    from simulator import simulate
    from simulator.config import ConfigError, DoesNotFitError
    try:
        simulate(_fill(case.scenario, folder))
        return "result"
    except ConfigError as exc:
        message = str(exc)
        if "\n" in message or len(message) > MESSAGE_LIMIT:
            return "message not one bounded line"
        if not str(exc.field).strip():
            return "message names no field"
        return "DoesNotFitError" if isinstance(exc, DoesNotFitError) else "ConfigError"


def _command(case: Case, folder: str) -> str:
    from simulator import cli
    captured = os.path.join(folder, "_output")
    fd = os.open(captured, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.argv = ["clustersim", *_fill(case.argv, folder)]
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    text = Path(captured).read_text(errors="replace")
    if "Traceback" in text:
        return "cli: traceback: " + text.strip().splitlines()[-1][:80]
    if code == 0:
        return "cli: exit 0"
    if code == 2 and "rror" in text:
        return "cli: clear error"
    if code == 2 and text.lstrip().startswith("Usage:"):  # no command given: the help
        return "cli: usage shown"
    return f"cli: exit {code}: " + (text.strip().splitlines() or [""])[-1][:80]


def _child(case: Case, folder: str, memory_gib: float, conn) -> None:
    cap = int(memory_gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    work = _command if case.argv is not None else _simulate
    conn.send(outcome_of(lambda: work(case, folder)))


def outcome_of(work) -> str:
    """What `work()` returned, or what its exception says about the simulator."""
    try:
        return work()
    except MemoryError:
        return "memory exhausted"
    except RecursionError:
        return "traceback: RecursionError"
    except BaseException as exc:  # noqa: BLE001 - the point: anything else is a finding
        return f"traceback: {type(exc).__name__}: {str(exc)[:60]!r}"


_CONTEXT = None


def _context():
    """A fork server that has imported the simulator: each case forks from it in milliseconds."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(["simulator.api", "simulator.cli", "simulator.config", "yaml"])
    return _CONTEXT


def _write_files(case: Case) -> str:
    folder = tempfile.mkdtemp(prefix="fuzz-")
    for name, content in case.files.items():
        path = os.path.join(folder, name)
        if content is None:
            os.mkfifo(path)
        else:
            Path(path).write_bytes(content)
    return folder


def run_cases(cases, timeout: float = 60.0, memory_gib: float = 4.0, jobs: int = 1, child=None):
    """Run `cases`, `jobs` at a time, each in its own process (`child(case, folder, memory_gib,
    conn)`, default _child); yield (case, outcome) as they end."""
    from multiprocessing.connection import wait
    ctx = _context()
    running: list = []

    def finished(entry, outcome):
        shutil.rmtree(entry[3], ignore_errors=True)
        running.remove(entry)
        return entry[4], outcome

    def reap():
        now = time.monotonic()
        ready = wait([e[0].sentinel for e in running], timeout=max(0.0, min(e[2] for e in running) - now))
        for entry in list(running):
            proc, conn, deadline = entry[:3]
            if proc.sentinel in ready:
                proc.join()
                outcome = conn.recv() if conn.poll() else f"crash (exit {proc.exitcode})"
                yield finished(entry, outcome)
            elif time.monotonic() >= deadline:
                proc.kill()
                proc.join()
                yield finished(entry, "timeout")

    for case in cases:
        while len(running) >= jobs:
            yield from reap()
        folder = _write_files(case)
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=child or _child, args=(case, folder, memory_gib, send))
        proc.start()
        send.close()
        running.append((proc, recv, time.monotonic() + timeout, folder, case))
    while running:
        yield from reap()


def run_one(case: Case, timeout: float = 60.0, memory_gib: float = 4.0, child=None) -> str:
    return next(run_cases([case], timeout, memory_gib, child=child))[1]


def fuzz(cases: int, seed: int, timeout: float = 60.0, memory_gib: float = 4.0, jobs: int = 1,
         show: int = 3) -> Counter:
    rng = random.Random(seed)
    tally: Counter = Counter()
    kinds: Counter = Counter()
    examples: dict[str, list[str]] = {}
    start = time.monotonic()
    for case, outcome in run_cases((make_case(rng) for _ in range(cases)), timeout, memory_gib, jobs):
        tally[outcome] += 1
        kinds[case.kind.split()[0] + (" " + case.kind.split()[1] if case.kind.startswith("topology") else "")] += 1
        if outcome not in GOOD:
            examples.setdefault(outcome, []).append(f"{case.kind}: {case.change}")
    print(f"{cases} cases (seed {seed}) in {time.monotonic() - start:.0f} s; by input: "
          + ", ".join(f"{k} {n}" for k, n in kinds.most_common()))
    for outcome, n in tally.most_common():
        print(f"  {n:>6}  {outcome}")
        for ex in examples.get(outcome, [])[:show]:
            print(f"          e.g. {ex}")
    bad = sum(n for o, n in tally.items() if o not in GOOD)
    print(f"bad outcomes: {bad}")
    return tally


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="cases at a time")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per case")
    ap.add_argument("--memory", type=float, default=4.0, help="GiB of address space per case")
    a = ap.parse_args()
    tally = fuzz(a.cases, a.seed, a.timeout, a.memory, a.jobs)
    sys.exit(0 if set(tally) <= set(GOOD) else 1)


if __name__ == "__main__":
    main()
