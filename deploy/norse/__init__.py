"""Backend ``norse``: the NIR file's float parameters in norse."""

from deploy.norse.backend import NorseBackend

__all__ = ["NorseBackend"]
