"""The one exception users see: a mistake in what they gave us, named precisely."""

from __future__ import annotations


class ConfigError(ValueError):
    """A user input (scenario, topology file, CLI flag) is wrong.

    The message always names where (a dotted field path or a file), the bad value, and what
    is accepted, so a user can fix it without reading code.
    """

    def __init__(self, field: str, value: object = None, accepted: str = "", *, reason: str = ""):
        self.field = field
        self.value = value
        self.accepted = accepted
        self.reason = reason
        parts = [reason] if reason else []
        if value is not None or not reason:
            parts.append(f"got {value!r}")
        if accepted:
            parts.append(f"accepted: {accepted}")
        super().__init__(f"{field}: " + "; ".join(parts))


class DoesNotFitError(ConfigError):
    """The plan needs more device memory than the accelerator has."""

    def __init__(self, rank: int, need: float, capacity: float, breakdown: dict[str, float]):
        gib = 2**30
        lines = ", ".join(f"{k} {v / gib:.2f} GiB" for k, v in breakdown.items())
        super().__init__(
            "memory",
            reason=(f"does not fit: rank {rank} needs {need / gib:.2f} GiB of {capacity / gib:.2f} GiB"
                    f" ({lines})"),
            accepted="a plan whose per-rank footprint fits in HBM: raise tensor/pipeline parallelism, "
                     "use recompute_granularity, a higher zero_stage, or a smaller micro_batch_size",
        )
        self.rank = rank
        self.need = need
        self.capacity = capacity
        self.breakdown = breakdown
