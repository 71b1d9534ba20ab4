"""Backend ``sanafe``: SANA-FE (optional, GPL-3.0), and its comparison with hardware_sim's run in
SANA-FE's own (pipelined) timing."""

from deploy.sanafe.backend import SanafeBackend
from deploy.sanafe.compare import pipelined_comparison

__all__ = ["SanafeBackend", "pipelined_comparison"]
