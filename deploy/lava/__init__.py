"""Backend ``lava``: Intel Lava 0.10, run in its own Python 3.10 environment (DESIGN §6)."""

from deploy.lava.backend import LavaBackend

__all__ = ["LavaBackend"]
