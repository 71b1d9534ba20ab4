"""Run a netx file with lava-dl's own loader in Lava, fixed_pt: ``python netx_lava_runner.py
NET INPUTS.npz OUT.npz`` in .venv-netx (lava-dl 0.6, Python 3.10).

None of our Lava code builds the network: ``lava.lib.dl.netx.hdf5.Network`` does, with
``input_message_bits`` = the input's bits (graded input spikes into the first synapse),
``reset_interval`` = T and ``reset_offset`` = 1 (the first layer sits one hop behind the
input, so its first reset falls on the step its first input arrives: DESIGN §3). The
input streams sample after sample (Lava's layout), then zeros while the pipeline drains.
Our Recorder sink (deploy.lava.proc.recorder) writes each layer's spikes to a file; the
last layer's v is read with Lava's Monitor. OUT.npz holds, per layer i, ``spikes_<i>``
(T, N, *netx shape WHC or (N,)) and ``v_<i>`` for the last layer, re-timed to the
zero-delay reference (layer i, one hop deeper than layer i − 1, lags i + 1 steps).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np


def main(net_path: str, inputs_path: str, out_path: str) -> None:
    from lava.lib.dl.netx import hdf5
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava.proc.monitor.process import Monitor

    from deploy.lava.proc.recorder import Recorder

    with np.load(inputs_path) as data:
        inputs = data["inputs"]  # (N, T, *input shape in Lava's layout)
        input_bits = int(data["input_bits"])
    n, timesteps = inputs.shape[:2]
    net = hdf5.Network(net_config=net_path, input_message_bits=input_bits,
                       reset_interval=timesteps, reset_offset=1)
    layers = list(net.layers)
    total = n * timesteps + len(layers)
    stream = np.zeros((total, *inputs.shape[2:]), dtype=np.int32)
    stream[:n * timesteps] = inputs.reshape(n * timesteps, *inputs.shape[2:])
    source = RingBuffer(data=np.ascontiguousarray(np.moveaxis(stream, 0, -1)))
    source.s_out.connect(net.inp)
    work = Path(tempfile.mkdtemp(prefix="netx-run-"))
    records = []
    for i, layer in enumerate(layers):
        path = work / f"layer{i}.npy"
        shape = tuple(layer.out.shape)
        np.lib.format.open_memmap(path, mode="w+", dtype=np.int32, shape=(total, *shape))
        recorder = Recorder(shape=shape, path=path, num_steps=total)
        layer.out.connect(recorder.a_in)
        records.append((path, shape))
    monitor = Monitor()
    monitor.probe(layers[-1].neuron.v, total)
    net.run(condition=RunSteps(num_steps=total), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    v_trace = monitor.get_data()
    net.stop()
    (proc_name,) = v_trace.keys()
    v = np.asarray(v_trace[proc_name]["v"])  # (total, *shape)
    out = {}
    for i, (path, shape) in enumerate(records):
        lag = i + 1  # layer i's update at Lava step t (from 1) is reference step t − lag − 1
        rec = np.load(path)[lag:lag + n * timesteps].reshape(n, timesteps, *shape)
        out[f"spikes_{i}"] = np.swapaxes(rec != 0, 0, 1)
    lag = len(layers)
    out["v_last"] = v[lag:lag + n * timesteps].reshape(n, timesteps, *v.shape[1:]).astype(np.int64)
    np.savez(out_path, **out)


if __name__ == "__main__":
    main(*sys.argv[1:4])
