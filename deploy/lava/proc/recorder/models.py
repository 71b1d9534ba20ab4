"""ProcessModels of the recorder: integer (``fixed_pt``) and float (``floating_pt``) messages."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from deploy.lava.proc.recorder.process import Recorder


class _AbstractPyRecorderModel(PyLoihiProcessModel):
    a_in = None

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.num_steps = int(proc_params["num_steps"])
        self._file = None

    def run_spk(self) -> None:
        data = self.a_in.recv()
        if self.time_step > self.num_steps:
            return
        if self._file is None:
            self._file = np.load(self.proc_params["path"], mmap_mode="r+")
        self._file[self.time_step - 1] = data


@implements(proc=Recorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyRecorderModelFixed(_AbstractPyRecorderModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)


@implements(proc=Recorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyRecorderModelFloat(_AbstractPyRecorderModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
