"""The fuzzer of benchmarks/fuzz.py inside the suite: hypothesis draws the cases (which file, which
value or bytes, which command line) with a fixed seed, and shrinks any failure to a small one. Each
case runs in its own process with a memory cap and a timeout and must end in a prediction, a
ConfigError or DoesNotFitError of one line naming its field, or a clear command-line error."""

import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from .conftest import SCENARIOS

sys.path.insert(0, str(SCENARIOS.parent / "benchmarks"))
import fuzz  # noqa: E402

CASES = 300  # about 30 s on two cores; `python benchmarks/fuzz.py --cases 10000` runs more


class Drawn:
    """fuzz's chooser (choice, randrange) drawing from hypothesis, so failures shrink."""

    def __init__(self, data):
        self.data = data

    def choice(self, options):
        return self.data.draw(st.sampled_from(list(options)))

    def randrange(self, n):
        return self.data.draw(st.integers(0, n - 1))


@settings(max_examples=CASES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.data())
def test_every_mutated_input_ends_in_a_result_or_a_one_line_error(data):
    case = fuzz.make_case(Drawn(data))
    outcome = fuzz.run_one(case, timeout=120, memory_gib=4)
    assert outcome in fuzz.GOOD, f"{case.kind}: {case.change} -> {outcome}"


@pytest.mark.parametrize("case, expected", [
    (fuzz.Case("command line", "a FIFO as scenario", argv=["run", "{dir}/fifo.yaml"], files=fuzz.SPECIAL_FILES),
     "cli: clear error"),
    (fuzz.Case("scenario", "an alias bomb", scenario="{dir}/s.yaml", files={"s.yaml": fuzz.ALIAS_BOMB}),
     "ConfigError"),
    (fuzz.Case("scenario", "a shipped scenario", scenario=str(SCENARIOS / "gpt-1.3b-8xa100.yaml")), "result"),
])
def test_the_runner_tells_outcomes_apart(case, expected):
    """The runner itself: a hang-prone FIFO, a hostile file and a good scenario each get their outcome."""
    assert fuzz.run_one(case, timeout=120) == expected


def _sleeps(case, folder, memory_gib, conn):
    __import__("time").sleep(60)


def _raises(case, folder, memory_gib, conn):
    conn.send(fuzz.outcome_of(lambda: {}["missing"]))


def test_the_runner_reports_a_timeout_and_a_traceback():
    """A case that overruns its time is killed and reported; an exception that is not a
    ConfigError is a traceback, not a pass."""
    assert fuzz.run_one(fuzz.Case("any", "sleeps"), timeout=1, child=_sleeps) == "timeout"
    assert fuzz.run_one(fuzz.Case("any", "raises"), timeout=60, child=_raises).startswith("traceback")
