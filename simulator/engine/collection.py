"""Garbage collection while simulating.

A step simulation allocates millions of objects that live until it ends (the topology graph,
link tables, routes, flow footprints, op records) and creates few reference cycles. CPython's
generational collector, at its default thresholds, runs a young collection every 700 net
allocations and re-examines the whole growing old generation again and again: at 131,072 GPUs
that was half the wall time. While simulating, young collections run 70x less often (every
50,000 allocations) and full ones 5x less often; cycles are still collected, and the thresholds
in force before are restored afterwards. Peak memory was unchanged in the benchmarks
(benchmarks/scale.py).
"""

from __future__ import annotations

import functools
import gc
from contextlib import contextmanager

SIMULATION_THRESHOLDS = (50_000, 20, 50)


@contextmanager
def sparing_collection():
    before = gc.get_threshold()
    gc.set_threshold(*SIMULATION_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def sparing(fn):
    """Run `fn` under `sparing_collection`."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with sparing_collection():
            return fn(*args, **kwargs)
    return wrapper
