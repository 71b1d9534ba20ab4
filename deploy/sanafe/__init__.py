"""Backend ``sanafe``: SANA-FE (optional, GPL-3.0)."""

from deploy.sanafe.backend import SanafeBackend

__all__ = ["SanafeBackend"]
