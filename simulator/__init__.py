"""clustersim: a discrete-event simulator of accelerator clusters training large models.

    import simulator
    result = simulator.simulate("scenarios/llama3-70b-64xh100.yaml")
    result.summary["iteration_time_s"], result.tables["ops"]
"""

__version__ = "0.1.0"

from .api import simulate, simulate_campaign, simulate_together  # noqa: E402
from .config import ConfigError, DoesNotFitError, load_scenario  # noqa: E402

__all__ = ["ConfigError", "DoesNotFitError", "__version__", "load_scenario", "simulate", "simulate_campaign", "simulate_together"]
