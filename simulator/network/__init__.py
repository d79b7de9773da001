"""The network: a flow-level max-min fair fabric and collective algorithms that emit flows.

Knows nothing of the workload: it moves bytes between ranks over link ids.
"""

from .collectives import (ALGORITHMS, BUS_FACTOR, PROTOCOLS, Collectives, FlowSet, Protocol, Tuning, candidates,
                          flows,
                          make_footprint, ring_orders)
from .fabric import Fabric, Footprint

__all__ = ["ALGORITHMS", "BUS_FACTOR", "PROTOCOLS", "Protocol", "Tuning", "Collectives", "Fabric", "FlowSet", "Footprint", "candidates", "flows",
           "make_footprint", "ring_orders"]
