"""ProcessModels of the DA-LIF Process: ``fixed_pt`` (bit-exact, DESIGN §3) and ``floating_pt``.

The fixed-point model is Lava's own bit-accurate LIF arithmetic
(``AbstractPyLifModelFixed.subthr_dynamics``: 12-bit decays with rounding toward
zero, the 6-bit MSB alignment of input and threshold, the 24-bit wrap of u and
the clip of v), run on per-neuron Vars; numpy broadcasting does the rest. Lava's
arithmetic is the conformance oracle, so the state update is Lava's, not ours. The
input gain is applied to the synaptic input before it: the model hands Lava's
update rtz((a << 6)·g, 12) (``input_drive``) with the alignment shift already done.
Overflow, which Lava does not report, is counted from the masks of
``hardware_sim.ir.neuron.int_step`` run on the same state and input.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.lif.models import AbstractPyLifModelFixed, AbstractPyLifModelFloat

from deploy.lava.proc.dalif.process import DaLIF
from hardware_sim.ir.neuron import (
    ALIGN_SHIFT,
    BIAS_EXP_BITS,
    BIAS_MANT_BITS,
    DECAY_BITS,
    DECAY_ONE,
    GAIN_BITS,
    GAIN_ONE,
    STATE_BITS,
    THRESHOLD_BITS,
    NeuronParams,
    NeuronState,
    input_drive,
    int_step,
)


class _ResetMixin:
    """LIFReset's periodic reset, the overflow-counting window and the output step, shared by
    both models."""

    time_step: int
    proc_params: dict

    def _setup_schedule(self) -> None:
        self.readout = bool(self.proc_params["readout"])
        self.use_gain = bool(self.proc_params["use_gain"])
        self.reset_interval = int(self.proc_params["reset_interval"])
        self.reset_offset = int(self.proc_params["reset_offset"])
        self.count_first, self.count_last = self.proc_params["count_window"]

    def _reset_due(self) -> bool:
        return self.reset_interval > 0 and \
            self.time_step % self.reset_interval == self.reset_offset % self.reset_interval

    def _counting(self) -> bool:
        return self.count_first <= self.time_step <= self.count_last

    def _emit(self) -> None:
        """After the update: a read-out layer sends v; a spiking layer fires, resets, sends."""
        if self.readout:
            self.s_out.send(self.v)
            return
        spikes = self.spiking_activation()
        self.reset_voltage(spike_vector=spikes)
        self.s_out.send(spikes)


@implements(proc=DaLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyDaLIFModelBitAcc(_ResetMixin, AbstractPyLifModelFixed):
    """Bit-accurate DA-LIF: Lava's fixed-point LIF update with per-neuron parameters."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=STATE_BITS)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=STATE_BITS)
    u: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=STATE_BITS)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=STATE_BITS)
    du: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=DECAY_BITS)
    dv: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=DECAY_BITS)
    vth: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=THRESHOLD_BITS)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=BIAS_MANT_BITS)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=BIAS_EXP_BITS)
    gain: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=GAIN_BITS + 1)  # holds GAIN_ONE
    u_wraps: np.ndarray = LavaPyType(np.ndarray, np.int64)
    v_clips: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._setup_schedule()
        self.effective_vth = 0

    def scale_threshold(self) -> None:
        self.effective_vth = np.left_shift(self.vth, self.vth_shift)
        self.isthrscaled = True

    def spiking_activation(self) -> np.ndarray:
        return self.v > self.effective_vth

    def run_spk(self) -> None:
        a_in = self.a_in.recv().astype(np.int64)
        if self._reset_due():
            self.u[:] = 0
            self.v[:] = 0
        self.scale_bias()
        if not self.isthrscaled:
            self.scale_threshold()
        if self._counting():
            params = NeuronParams.from_fields(du=self.du, dv=self.dv, vth=self.vth,
                                              bias=self.effective_bias,
                                              gain=self.gain if self.use_gain else None,
                                              readout=self.readout)
            ours = int_step(a_in, NeuronState(self.u.astype(np.int64), self.v.astype(np.int64)),
                            params)
            self.u_wraps += ours.wrapped
            self.v_clips += ours.clipped
        if self.use_gain:
            # the gain acts on the MSB-aligned input: hand Lava's update the aligned drive
            self.act_shift = 0
            a_in = input_drive(a_in, self.gain.astype(np.int64))

        self.subthr_dynamics(activation_in=a_in.astype(np.int32))
        self._emit()


@implements(proc=DaLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyDaLIFModelFloat(_ResetMixin, AbstractPyLifModelFloat):
    """DA-LIF in floating point: the same equations without rounding, wrapping or clipping.

    u = u·(1 − (du + 1)/4096) + 64·a·g/4096;  v = v·(1 − dv/4096) + u + bias_mant·2^bias_exp;
    s = v > 64·vth. Overflow is not counted (nothing wraps).
    """

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    u: np.ndarray = LavaPyType(np.ndarray, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    du: np.ndarray = LavaPyType(np.ndarray, float)
    dv: np.ndarray = LavaPyType(np.ndarray, float)
    vth: np.ndarray = LavaPyType(np.ndarray, float)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, float)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, float)
    gain: np.ndarray = LavaPyType(np.ndarray, float)
    u_wraps: np.ndarray = LavaPyType(np.ndarray, np.int64)
    v_clips: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._setup_schedule()

    def subthr_dynamics(self, activation_in: np.ndarray) -> None:
        drive = activation_in * 2.0 ** ALIGN_SHIFT * (self.gain / GAIN_ONE if self.use_gain else 1.0)
        self.u[:] = self.u * (1.0 - (self.du + 1.0) / DECAY_ONE) + drive
        bias = self.bias_mant * 2.0 ** self.bias_exp
        self.v[:] = self.v * (1.0 - self.dv / DECAY_ONE) + self.u + bias

    def spiking_activation(self) -> np.ndarray:
        return self.v > self.vth * 2.0 ** ALIGN_SHIFT

    def run_spk(self) -> None:
        a_in = self.a_in.recv()
        if self._reset_due():
            self.u[:] = 0.0
            self.v[:] = 0.0
        self.subthr_dynamics(activation_in=a_in)
        self._emit()
