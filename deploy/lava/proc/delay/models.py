"""ProcessModels of the delay line: one for integer messages (``fixed_pt``), one for floats."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from deploy.lava.proc.delay.process import DelayLine


class _AbstractPyDelayLineModel(PyLoihiProcessModel):
    """s_out[t] = s_in[t − delay], masked; the FIFO slot of step t is (t − 1) mod delay. With
    delay 0 the message of step t is received, masked and sent on in step t."""

    s_in = None
    s_out = None
    fifo = None

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.delay = int(proc_params["delay"])
        self.mask_interval = int(proc_params["mask_interval"])
        self.mask_phase = int(proc_params["mask_phase"])
        self.mask_steps = int(proc_params["mask_steps"])

    def run_spk(self) -> None:
        masked = (self.time_step - self.mask_phase) % self.mask_interval < self.mask_steps
        if self.delay == 0:
            out = self.s_in.recv()
            self.s_out.send(out * 0 if masked else out)
            return
        slot = (self.time_step - 1) % self.delay
        out = self.fifo[slot].copy()
        if masked:
            out[...] = 0
        self.s_out.send(out)
        self.fifo[slot] = self.s_in.recv()


@implements(proc=DelayLine, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyDelayLineModelFixed(_AbstractPyDelayLineModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    fifo: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)


@implements(proc=DelayLine, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyDelayLineModelFloat(_AbstractPyDelayLineModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    fifo: np.ndarray = LavaPyType(np.ndarray, float)
