"""Pipeline schedules: the order of forward (F) and backward (B) micro-batches on each stage.

1F1B (PipeDream-Flush, Megatron's default): stage s runs min(p-s-1, m) warm-up forwards, then
alternates one forward and one backward, then drains the remaining backwards. Its idle
fraction with uniform stages and free communication is (p-1)/(m+p-1).
"""

from __future__ import annotations


def one_f_one_b(stage: int, stages: int, microbatches: int) -> list[tuple[str, int]]:
    warmup = min(stages - stage - 1, microbatches)
    order = [("F", i) for i in range(warmup)]
    for i in range(microbatches - warmup):
        order.append(("F", warmup + i))
        order.append(("B", i))
    order += [("B", i) for i in range(microbatches - warmup, microbatches)]
    return order


def in_flight_microbatches(stage: int, stages: int, microbatches: int) -> int:
    """Micro-batches whose activations a 1F1B stage holds at its peak."""
    return min(stages - stage, microbatches)


def bubble_fraction(stages: int, microbatches: int) -> float:
    """Closed form of the 1F1B pipeline bubble: (p-1)/(m+p-1)."""
    return (stages - 1) / (microbatches + stages - 1)
