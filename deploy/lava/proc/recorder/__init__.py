"""A sink that writes every step's message to a .npy file (Var.get() is one value per message)."""

from deploy.lava.proc.recorder.process import Recorder

__all__ = ["Recorder"]
