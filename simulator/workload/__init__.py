"""The training workload: model shapes, per-op costs, the parallel plan, schedules, memory.

Knows nothing of topology or SimPy: it produces per-stage programs that name communicators,
not links.
"""

from .plan import ParallelPlan, make_plan
from .program import Collective, Compute, Job, Recv, Send, StageProgram, Wait, compile_job

__all__ = ["Collective", "Compute", "Job", "ParallelPlan", "Recv", "Send", "StageProgram", "Wait",
           "compile_job", "make_plan"]
