"""Results: summary numbers, tables, Chrome/Perfetto traces, reports. Knows nothing of SimPy."""

from .result import FLOPS_FORMULA, Result, Tables
from .trace import chrome_trace

__all__ = ["FLOPS_FORMULA", "Result", "Tables", "chrome_trace"]
