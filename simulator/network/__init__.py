"""The network: a flow-level max-min fair fabric and collective algorithms that emit flows.

Knows nothing of the workload: it moves bytes between ranks over link ids.
"""

from .collectives import FlowSet, make_footprint, point_to_point, ring_flows, ring_orders
from .fabric import Fabric, Footprint

__all__ = ["Fabric", "FlowSet", "Footprint", "make_footprint", "point_to_point", "ring_flows",
           "ring_orders"]
