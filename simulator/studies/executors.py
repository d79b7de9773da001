"""Where the points of a study run: in this process, on a local process pool (all cores by
default), or on a Dask distributed cluster (`scheduler='tcp://HOST:8786'`, the `dask` extra).

Every executor yields (task index, result) as each task finishes, in whatever order they finish;
a task's result depends only on its arguments, so the executor and the worker count never change
what a study finds.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ..config import ConfigError

MAX_WORKERS = 1024


class WorkerLost(RuntimeError):
    """A worker process died (killed, or out of memory) before finishing its task."""


def run_tasks(fn: Callable, tasks: list[tuple], *, workers: int | None = None,
              scheduler: str | None = None) -> Iterator[tuple[int, object]]:
    """`fn(*task)` for every task; yields (index, result) as they finish."""
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise ConfigError("--workers", workers, f"an integer from 1 to {MAX_WORKERS}")
    if scheduler is not None:
        yield from _on_dask(fn, tasks, scheduler)
    elif (workers or os.cpu_count() or 1) == 1 or len(tasks) <= 1:
        for i, task in enumerate(tasks):
            yield i, fn(*task)
    else:
        yield from _on_pool(fn, tasks, min(workers or os.cpu_count() or 1, len(tasks)))


def _on_pool(fn: Callable, tasks: list[tuple], workers: int) -> Iterator[tuple[int, object]]:
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending = {pool.submit(fn, *task): i for i, task in enumerate(tasks)}
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        raise WorkerLost("a worker process died (killed, or out of memory?); what finished is "
                                         "kept, and the same command measures the rest") from None
                    yield pending.pop(future), result
        finally:
            for future in pending:
                future.cancel()


def _on_dask(fn: Callable, tasks: list[tuple], scheduler: str) -> Iterator[tuple[int, object]]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ConfigError("--scheduler", scheduler, reason="Dask distributed is not installed",
                          accepted="install it with: pip install 'clustersim[dask]'") from None
    if not isinstance(scheduler, str) or not scheduler.startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://")):
        raise ConfigError("--scheduler", scheduler, "a Dask scheduler address such as tcp://HOST:8786")
    try:
        client = Client(scheduler, timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError("--scheduler", scheduler, reason=f"cannot reach the scheduler ({type(exc).__name__})",
                          accepted="the address of a running Dask scheduler") from None
    with client:
        futures = {client.submit(fn, *task, pure=False): i for i, task in enumerate(tasks)}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            client.cancel([f for f in futures if not f.done()])
