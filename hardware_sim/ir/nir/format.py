"""What a NIR file of this toolchain is: its metadata namespace and version, the error a file
that cannot be deployed raises, and the size limits checked before anything is allocated."""

from __future__ import annotations

from dataclasses import dataclass

FORMAT_NAME = "dalif-nir"
FORMAT_VERSION = 1
NAMESPACE = "dalif"


class NIRFormatError(ValueError):
    """A NIR file this toolchain cannot deploy; the message names the node at fault."""


@dataclass(frozen=True)
class ReadLimits:
    """Size limits a NIR file must respect, checked from its declared shapes before any
    per-neuron array is built (a file declaring 10^10 neurons fails fast, not by swapping).

    ``max_neurons`` counts the input plus every neuron population; ``max_synapses``
    counts the stored connections of every projection (``Projection.synapses``);
    ``max_delay`` bounds a projection's delay in steps (a delay line holds delay × source
    neurons values, and Lava's DelayLine allocates them). Raise them with ``ReadLimits(max_neurons=…)`` or the CLI's
    ``--max-neurons`` / ``--max-synapses`` / ``--max-delay``.
    """

    max_neurons: int = 10_000_000
    max_synapses: int = 1_000_000_000
    max_delay: int = 4096


DEFAULT_LIMITS = ReadLimits()


FOREIGN_INPUT_SCALE = 1.0 / 255
"""A foreign file's inputs are taken as floats in [0, 1] quantized to 8 bits unless told."""
