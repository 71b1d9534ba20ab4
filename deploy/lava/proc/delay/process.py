"""The delay line Process: what arrives at ``s_in`` leaves ``s_out`` ``delay`` steps later.

    s_out[t] = s_in[t − delay]   (0 for t ≤ delay)
    s_out[t] = 0                 where (t − mask_phase) mod mask_interval < mask_steps

The first line is a FIFO of ``delay`` messages (1-bit spikes or graded values);
it balances paths of different length where they join, and carries the NIR
graph's own delays. The second line keeps a delayed message from crossing a
sample boundary when samples run back to back: a path that the reference
delays by d steps must deliver zeros during the first d steps of each sample
(the reference starts every sample from silence), and the compiler sets the
phase so that those are exactly the masked steps: the plan's ``mask_phase`` = L(target),
since the line delivers one step before the target integrates (hardware_sim.ir.pipeline,
"Masks"). mask_steps = 0 masks nothing.

A line of ``delay`` = 0 is the mask alone: it passes each step's message on in
the same step (it receives before it sends, as a neuron does). The compiler
puts one on a recurrent projection whose hop is all its delay (the plan's D = 0
with d ≥ 1); the Dense, Sparse or Conv after it still breaks the cycle in Lava,
since those send last step's accumulation before they receive.
"""

from __future__ import annotations

from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess, LogConfig
from lava.magma.core.process.variable import Var


class DelayLine(AbstractProcess):
    """A FIFO of ``delay`` ≥ 0 steps over messages of ``shape``, with a periodic mask."""

    def __init__(
        self,
        *,
        shape: tuple[int, ...],
        delay: int,
        mask_interval: int = 1,
        mask_phase: int = 0,
        mask_steps: int = 0,
        name: str | None = None,
        log_config: LogConfig | None = None,
    ) -> None:
        shape = tuple(int(d) for d in shape)
        if delay < 0 or mask_interval < 1 or mask_steps < 0:
            raise ValueError("delay and mask_steps must be >= 0, mask_interval >= 1")
        super().__init__(shape=shape, delay=delay, mask_interval=mask_interval,
                         mask_phase=mask_phase, mask_steps=mask_steps, name=name,
                         log_config=log_config)
        self.s_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.fifo = Var(shape=(max(delay, 1), *shape), init=0)  # Lava has no empty Var: unused at 0
