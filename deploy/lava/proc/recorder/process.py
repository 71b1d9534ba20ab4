"""The recorder Process: a sink that writes what arrives at ``a_in`` into a .npy file.

    file[t − 1] = a_in[t]   for 1 ≤ t ≤ num_steps   (file shape (num_steps, *shape))

Lava's own sink (``lava.proc.io.sink.RingBuffer``) keeps its buffer in a Var,
and ``Var.get()`` sends an array one value per message (about 30 µs each), so
reading back every spike of a run would cost more than the run. The recorder
writes to a file made beforehand with ``numpy.lib.format.open_memmap`` that the
caller reads after ``run`` returns.
"""

from __future__ import annotations

import os

from lava.magma.core.process.ports.ports import InPort
from lava.magma.core.process.process import AbstractProcess, LogConfig


class Recorder(AbstractProcess):
    """Record ``num_steps`` messages of ``shape`` into the .npy file at ``path``."""

    def __init__(
        self,
        *,
        shape: tuple[int, ...],
        path: str | os.PathLike,
        num_steps: int,
        name: str | None = None,
        log_config: LogConfig | None = None,
    ) -> None:
        shape = tuple(int(d) for d in shape)
        super().__init__(shape=shape, path=os.fspath(path), num_steps=int(num_steps), name=name,
                         log_config=log_config)
        self.a_in = InPort(shape=shape)
