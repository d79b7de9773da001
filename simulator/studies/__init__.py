"""What-if studies on top of `simulate`: sweeps over any field, side-by-side comparison,
parallelism search and the hardware planner, run here or on a Dask cluster."""

from .points import measure_point
from .spec import Study, SweepConfig, load_study
from .sweep import run_sweep, write_outputs

__all__ = ["Study", "SweepConfig", "load_study", "measure_point", "run_sweep", "write_outputs"]
