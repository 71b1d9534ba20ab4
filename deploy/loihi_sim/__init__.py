"""Backend ``loihi_sim``: hardware_sim's integer engine."""

from deploy.loihi_sim.backend import LoihiSimBackend

__all__ = ["LoihiSimBackend"]
