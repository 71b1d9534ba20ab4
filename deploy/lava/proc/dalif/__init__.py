"""The DA-LIF neuron as a Lava Process (per-neuron decays, threshold, bias and gain)."""

from deploy.lava.proc.dalif.process import DaLIF

__all__ = ["DaLIF"]
