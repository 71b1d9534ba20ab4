"""The DA-LIF neuron Process: Lava's LIF with every parameter per neuron (DESIGN §3).

    u[t] = rtz(u[t−1]·(4096 − (du + 1)), 12) + [rtz((a[t] << 6)·g, 12) | a[t] << 6]
           then wrapped once to 24 bits
    v[t] = clip(rtz(v[t−1]·(4096 − dv), 12) + u[t] + (bias_mant << bias_exp), ±(2^23 − 1))
    s[t] = v[t] > (vth << 6);  v[t] = 0 where s[t]

``a[t]`` is what arrives at ``a_in`` at step t (Lava's Dense and Conv send the
accumulation of step t − 1, so this is DESIGN's a[t − 1]). Unlike Lava's LIF,
whose du, dv and vth are one value per Process, du, dv, vth, bias_mant, bias_exp
and the input gain g are Vars with the layer's shape.

Reset (as Lava's ``LIFReset``): u and v are zeroed before the update of every
step t (counting from 1) with t mod reset_interval == reset_offset mod
reset_interval; reset_interval = 0 never resets.

A ``readout`` population is a non-spiking integrator: it never spikes and sends
its voltage v on ``s_out`` every step instead of spikes.

Overflow is counted, per neuron, in ``u_wraps`` and ``v_clips`` on the steps
t_first ≤ t ≤ t_last of ``count_window`` (the steps that carry real samples).
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess, LogConfig
from lava.magma.core.process.variable import Var

from hardware_sim.ir.neuron import GAIN_ONE


class DaLIF(AbstractProcess):
    """A layer of DA-LIF neurons with per-neuron integer parameters (see the module docstring).

    Parameters
    ----------
    shape : the layer's shape in Lava's layout ((W, H, C) for a conv layer, (N,) for dense).
    du, dv, vth, bias_mant : int arrays of ``shape`` (12-, 12-, 17- and 13-bit).
    bias_exp : int or int array of ``shape`` (3-bit).
    gain : None, or an int array of ``shape`` (12-bit input gain, 4096 = 1).
    readout : a non-spiking integrator that sends v instead of spikes.
    reset_interval, reset_offset : the periodic state reset (LIFReset's semantics).
    count_window : (t_first, t_last), the steps on which overflow is counted.
    """

    def __init__(
        self,
        *,
        shape: tuple[int, ...],
        du: int | np.ndarray,
        dv: int | np.ndarray,
        vth: int | np.ndarray,
        bias_mant: int | np.ndarray = 0,
        bias_exp: int | np.ndarray = 0,
        gain: np.ndarray | None = None,
        readout: bool = False,
        reset_interval: int = 0,
        reset_offset: int = 0,
        count_window: tuple[int, int] = (1, 2**62),
        name: str | None = None,
        log_config: LogConfig | None = None,
    ) -> None:
        shape = tuple(int(d) for d in shape)
        if reset_interval < 0 or reset_offset < 0:
            raise ValueError("reset_interval and reset_offset must be >= 0")
        super().__init__(shape=shape, readout=readout, reset_interval=reset_interval,
                         reset_offset=reset_offset, use_gain=gain is not None,
                         count_window=tuple(int(t) for t in count_window),
                         name=name, log_config=log_config)

        def full(value: int | np.ndarray, key: str) -> np.ndarray:
            arr = np.asarray(value)
            if arr.ndim and arr.shape != shape:
                raise ValueError(f"{key} has shape {arr.shape}, the layer {shape}")
            return np.broadcast_to(arr, shape).astype(np.int64).copy()

        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.u = Var(shape=shape, init=0)
        self.v = Var(shape=shape, init=0)
        self.du = Var(shape=shape, init=full(du, "du"))
        self.dv = Var(shape=shape, init=full(dv, "dv"))
        self.vth = Var(shape=shape, init=full(vth, "vth"))
        self.bias_mant = Var(shape=shape, init=full(bias_mant, "bias_mant"))
        self.bias_exp = Var(shape=shape, init=full(bias_exp, "bias_exp"))
        self.gain = Var(shape=shape, init=full(GAIN_ONE if gain is None else gain, "gain"))
        self.u_wraps = Var(shape=shape, init=0)
        self.v_clips = Var(shape=shape, init=0)
