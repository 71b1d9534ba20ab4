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
    """What a NIR file may declare, checked from its headers and declared shapes before any of
    its data is read or any per-neuron array is built (a file declaring 10^10 neurons, or a
    61 KB file declaring 3 GiB of data, fails fast, not by swapping).

    ``max_bytes`` is the memory budget of reading: the bytes the datasets read from the file
    declare (shape × item size, and one chunk's buffer), summed before any is read, and the
    run's per-step state: T × neurons int64 counters (8 bytes each). ``max_neurons`` counts
    the input plus every neuron population; ``max_synapses`` counts the stored connections
    of every projection (``Projection.synapses``); ``max_delay`` bounds a projection's delay
    in steps (a delay line holds delay × source neurons values, and Lava's DelayLine
    allocates them); ``max_timesteps`` bounds T, the file's or the one given for a foreign
    file. Raise them with ``ReadLimits(max_neurons=…)`` or the CLI's ``--max-neurons`` /
    ``--max-synapses`` / ``--max-delay`` / ``--max-timesteps`` / ``--max-bytes``.
    """

    max_neurons: int = 10_000_000
    max_synapses: int = 4_000_000_000  # ResNet-19 on 32×32 CIFAR inputs declares 2.21·10^9
    max_delay: int = 4096
    max_timesteps: int = 100_000
    max_bytes: int = 1 << 30


DEFAULT_LIMITS = ReadLimits()


FOREIGN_INPUT_SCALE = 1.0 / 255
"""A foreign file's inputs are taken as floats in [0, 1] quantized to 8 bits unless told."""


INPUT_BITS_RANGE = (1, 16)
"""Bits of the graded integer input a file (or ``dalif import``) may ask for."""
