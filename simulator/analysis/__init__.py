"""Results: summary numbers, tables, Chrome/Perfetto traces, reports. Knows nothing of SimPy."""

from .result import FLOPS_FORMULA, Result
from .trace import chrome_trace

__all__ = ["FLOPS_FORMULA", "Result", "chrome_trace"]
