"""Pipeline schedules: the order of forward (F), backward (B) and weight-gradient (W) passes of
each stage, as (kind, micro-batch, model chunk).

- gpipe: all forwards, then all backwards.
- 1f1b (PipeDream-Flush, Megatron's default): stage s runs min(p-s-1, m) warm-up forwards, then
  alternates one forward and one backward, then drains the remaining backwards.
- interleaved_1f1b (Megatron's virtual pipeline, v chunks per stage): chunk c of stage s holds
  virtual stage c*p + s; warm-up of (p-s-1)*2 + (v-1)*p forward chunks, then 1F1B over chunks.
- zero_bubble_h1 (Qi et al. 2023, "Zero Bubble Pipeline Parallelism", ZB-H1): 1F1B whose
  backward is split into B (input gradient) and W (weight gradient). Stage s runs W(i) after
  B(i+s) and its last s W passes at the end: the backward chain that starts at the last stage
  is not held up by weight gradients, and every stage peaks at p micro-batches of activations,
  1F1B's peak on stage 0.
In B of the other schedules the weight gradient is computed together with the input gradient.

Closed forms of the idle fraction with uniform stages and free communication (tested):
gpipe and 1f1b (p-1)/(m+p-1); interleaved (p-1)/(v m + p-1); ZB-H1 (p-1)(F+B-W)/(m(F+B+W)+(p-1)(F+B-W)).
"""

from __future__ import annotations

SCHEDULES = ("1f1b", "gpipe", "interleaved_1f1b", "zero_bubble_h1")


def gpipe(stage: int, stages: int, microbatches: int) -> list[tuple[str, int, int]]:
    return [("F", i, 0) for i in range(microbatches)] + [("B", i, 0) for i in range(microbatches)]


def one_f_one_b(stage: int, stages: int, microbatches: int) -> list[tuple[str, int, int]]:
    warmup = min(stages - stage - 1, microbatches)
    order = [("F", i, 0) for i in range(warmup)]
    for i in range(microbatches - warmup):
        order.append(("F", warmup + i, 0))
        order.append(("B", i, 0))
    order += [("B", i, 0) for i in range(microbatches - warmup, microbatches)]
    return order


def interleaved_1f1b(stage: int, stages: int, microbatches: int, chunks: int) -> list[tuple[str, int, int]]:
    """Megatron's interleaved schedule (microbatches a multiple of stages)."""
    p, v, m = stages, chunks, microbatches
    total = m * v

    def mb(k: int) -> int:
        return (k // (p * v)) * p + k % p

    def chunk(k: int, forward: bool) -> int:
        c = (k % (p * v)) // p
        return c if forward else v - 1 - c

    warmup = total if m == p else min((p - stage - 1) * 2 + (v - 1) * p, total)
    order = [("F", mb(k), chunk(k, True)) for k in range(warmup)]
    for i in range(total - warmup):
        order.append(("F", mb(warmup + i), chunk(warmup + i, True)))
        order.append(("B", mb(i), chunk(i, False)))
    order += [("B", mb(k), chunk(k, False)) for k in range(total - warmup, total)]
    return order


def zero_bubble_h1(stage: int, stages: int, microbatches: int) -> list[tuple[str, int, int]]:
    order, done = [], 0
    for kind, i, c in one_f_one_b(stage, stages, microbatches):
        order.append((kind, i, c))
        if kind == "B" and i - stage >= 0:
            order.append(("W", i - stage, c))
            done += 1
    return order + [("W", i, 0) for i in range(done, microbatches)]


def schedule(name: str, stage: int, stages: int, microbatches: int, chunks: int = 1) -> list[tuple[str, int, int]]:
    if name == "gpipe":
        return gpipe(stage, stages, microbatches)
    if name == "interleaved_1f1b":
        return interleaved_1f1b(stage, stages, microbatches, chunks)
    if name == "zero_bubble_h1":
        return zero_bubble_h1(stage, stages, microbatches)
    return one_f_one_b(stage, stages, microbatches)


def peak_in_flight(order: list[tuple[str, int, int]], layers_of_chunk) -> float:
    """Most layer-micro-batches of activations held at once: a forward of chunk c adds its layers;
    the pass that last needs them frees them (the weight-gradient pass when it is split off)."""
    frees = "W" if any(k == "W" for k, _, _ in order) else "B"
    held = peak = 0.0
    for kind, _, c in order:
        if kind == "F":
            held += layers_of_chunk(c)
            peak = max(peak, held)
        elif kind == frees:
            held -= layers_of_chunk(c)
    return peak
