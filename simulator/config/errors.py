"""The one exception users see: a mistake in what they gave us, named precisely."""

from __future__ import annotations

import reprlib

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 3, 80, 80, 40
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = _REPR.maxfrozenset = 6
MESSAGE_PART_LIMIT = 300  # characters of a field, value or reason shown in a message


def one_line(text: str, limit: int = MESSAGE_PART_LIMIT) -> str:
    """`text` on one line (control characters escaped), cut to `limit` characters."""
    if len(text) > 4 * limit:
        text = text[:4 * limit]
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def shown(value: object) -> str:
    """A bounded, escaped repr of a user's value: never more than a line, whatever it holds
    (nesting thousands deep, integers of thousands of digits, megabytes of text)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"<an integer of about {int(value.bit_length() * 0.30103) + 1} digits>"
    try:
        text = _REPR.repr(value)
    except (ValueError, RecursionError, OverflowError, MemoryError):
        text = f"<a {type(value).__name__}>"
    return one_line(text)


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
        parts = [one_line(reason, 4 * MESSAGE_PART_LIMIT)] if reason else []
        if value is not None or not reason:
            parts.append(f"got {shown(value)}")
        if accepted:
            parts.append(f"accepted: {one_line(accepted, 4 * MESSAGE_PART_LIMIT)}")
        super().__init__(f"{one_line(str(field))}: " + "; ".join(parts))


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


class ImplausibleResult(RuntimeError):
    """A prediction that cannot be right (not finite, negative, or above the hardware's peak):
    a fault of the simulator, not of the input, reported instead of a quiet wrong number."""
