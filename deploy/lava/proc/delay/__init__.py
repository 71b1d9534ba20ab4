"""A delay line as a Lava Process: balances paths of different length and carries NIR delays."""

from deploy.lava.proc.delay.process import DelayLine

__all__ = ["DelayLine"]
