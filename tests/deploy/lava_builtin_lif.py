"""Run a one-decay-per-layer dense QGraph on Lava's OWN processes (run in .venv-lava).

    python tests/deploy/lava_builtin_lif.py MODEL.nir INPUTS.npz OUT.npz

Lava's RingBuffer source → Dense → LIFReset (PyLifResetModelBitAcc) per layer, Lava's
RingBuffer sinks, nothing of ours but the NIR reader: an independent check that
DESIGN §3 is Lava's arithmetic. Writes per layer the spikes (T, N, n) in the
zero-delay timing, aligned exactly as deploy.lava.compiler documents.
"""

from __future__ import annotations

import sys

import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.dense.process import Dense
from lava.proc.io.sink import RingBuffer as Sink
from lava.proc.io.source import RingBuffer as Source
from lava.proc.lif.process import LIFReset

from hardware_sim.ir.graph import INPUT
from hardware_sim.ir.nir import read_nir


def scalar(values: np.ndarray, name: str) -> int:
    if np.unique(values).size != 1:
        raise SystemExit(f"Lava's LIF holds one {name} per layer")
    return int(values.flat[0])


def main(model_path: str, inputs_path: str, out_path: str) -> None:
    graph = read_nir(model_path).graph
    inputs = np.load(inputs_path)["inputs"]
    n, timesteps = inputs.shape[:2]
    depth = len(graph.populations)
    steps = n * timesteps + depth
    stream = np.zeros((steps, *graph.input_shape), dtype=np.int64)
    stream[:n * timesteps] = inputs.reshape(n * timesteps, -1)
    source = Source(data=stream.T)
    port, sinks = source.s_out, []
    for level, pop in enumerate(graph.populations, start=1):
        (proj,) = pop.projections
        assert not pop.readout and pop.gain is None and proj.delay == 0 and proj.pool == 1
        assert proj.source == (INPUT if level == 1 else graph.populations[level - 2].name)
        w = proj.weight.astype(np.int64)
        mixed = w.min() < 0 < w.max()  # Lava drops the lowest bit of mixed-sign weights
        dense = Dense(weights=2 * w if mixed else w, weight_exp=proj.weight_exp - mixed,
                      num_message_bits=graph.input_bits if level == 1 else 0)
        lif = LIFReset(shape=pop.shape, du=scalar(pop.du, "du"), dv=scalar(pop.dv, "dv"),
                       vth=scalar(pop.vth, "vth"), bias_mant=pop.bias_mant, bias_exp=pop.bias_exp,
                       reset_interval=timesteps, reset_offset=(level + 1) % timesteps)
        sink = Sink(shape=pop.shape, buffer=steps)
        port.connect(dense.s_in)
        dense.a_out.connect(lif.a_in)
        lif.s_out.connect(sink.a_in)
        port = lif.s_out
        sinks.append((pop.name, level, sink))
    lif.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    spikes = {}
    for name, level, sink in sinks:
        record = sink.data.get().T[level:level + n * timesteps]  # (N·T, n), zero-delay timing
        spikes[name] = np.swapaxes(record.reshape(n, timesteps, -1), 0, 1) != 0
    lif.stop()
    np.savez(out_path, **spikes)


if __name__ == "__main__":
    main(*sys.argv[1:4])
