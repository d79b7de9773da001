"""Training software stacks as data (simulator/data/frameworks.yaml): what a scenario's
`training.framework` changes. A stack sets the default gradient bucket of data-parallel
reductions, whether tensor-parallel communication can overlap the GEMMs beside it (and how many
SMs its kernels take from them), whether an unfused attention's softmax runs as one fused kernel
or as PyTorch's chain of kernels, and says whether the compute constants of calibration.yaml were
fitted on its runs, carried over from the stack they were fitted on, or borrowed without any check
(then every prediction says so). Each behaviour cites where the stack documents it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parent.parent / "data" / "frameworks.yaml"


@dataclass(frozen=True)
class Framework:
    name: str
    description: str
    compute: str                 # fitted, shared or borrowed
    gradient_bucket: str | int   # "megatron", "layer" or a number of parameters
    # TP overlap: SMs its all-gather and reduce-scatter hold beside the GEMMs (None: not documented,
    # the calibrated overlap slowdown); None: the stack cannot overlap
    tp_comm_overlap: dict[str, int | None] | None
    softmax_fusion: int | None   # most keys Megatron's fused softmax kernel takes; None: no such kernel
    sources: dict[str, str]

    def fused_softmax(self, micro_batch: int, heads: int, queries: int, keys: int, element_bytes: int) -> bool:
        """Whether the unfused attention's softmax runs as one fused kernel: Megatron's
        conditions (16-bit scores, 16 < keys <= the stack's limit, queries and keys multiples
        of 4, micro-batch x heads on the rank a multiple of 4), on a stack that has the kernel."""
        return (self.softmax_fusion is not None and element_bytes == 2 and 16 < keys <= self.softmax_fusion
                and queries % 4 == 0 and keys % 4 == 0 and micro_batch * heads % 4 == 0)

    def bucket_size(self, explicit: int | None, grad_ranks: int) -> float | None:
        """Parameters per gradient reduction: the scenario's, else the stack's default; None
        for one reduction per layer."""
        if explicit:
            return explicit
        if self.gradient_bucket == "megatron":
            return max(40_000_000, 1_000_000 * grad_ranks)
        if self.gradient_bucket == "layer":
            return None
        return self.gradient_bucket

    @property
    def notes(self) -> list[str]:
        """What the prediction borrows for this stack (a warning)."""
        if self.compute != "borrowed":
            return []
        return [f"no compute calibration for training.framework {self.name}: the constants fitted on "
                f"{FITTED_STACK} runs are used"]


def _overlap(entry) -> dict[str, int | None] | None:
    if entry is True:
        return {"all_gather": None, "reduce_scatter": None}
    return dict(entry) if entry else None


def _load() -> dict[str, Framework]:
    out = {}
    for name, entry in yaml.safe_load(DATA.read_text()).items():
        out[name] = Framework(name=name, description=entry["description"], compute=entry["compute"],
                              gradient_bucket=entry["gradient_bucket"], tp_comm_overlap=_overlap(entry["tp_comm_overlap"]),
                              softmax_fusion=entry["softmax_fusion"], sources=dict(entry["sources"]))
    return out


FRAMEWORKS = _load()
FRAMEWORK_NAMES = tuple(FRAMEWORKS)
# the stack calibration.yaml's compute constants were fitted on (the data names exactly one)
(FITTED_STACK,) = (name for name, stack in FRAMEWORKS.items() if stack.compute == "fitted")
