"""Run a netx file whose input layer has neurons, the image given as that layer's bias, with
lava-dl's own loader in Lava fixed_pt, and record every layer's u and v at every step:
``python netx_lava_trace_runner.py NET BIAS.npy T OUT.npz [LAYERS]`` in .venv-netx (lava-dl 0.6).
LAYERS (comma-separated layer indices, default all) limits the record to those layers: Lava
hands a Monitor's record back one value per message (``_get_var``), about 16 µs each, so
recording PilotNet's large first layers takes minutes while its later ones take seconds.

As lava-dl's own PilotNet and tinynet tests do it: ``hdf5.Network(net, reset_interval=T)``
(reset_offset 0: the input layer is depth 0 and resets on step 1), the image set as
``in_layer.neuron.bias_mant`` in Lava's (W, H, C) layout, no input port driven. It runs
T + L − 1 steps (L layers), so that layer i's whole first sample (Lava steps i + 1 … i + T)
is in the record. OUT.npz holds ``u_<i>`` and ``v_<i>`` per recorded layer i, (steps, *netx
shape WHC or (N,)), row r holding Lava step r + 1, not re-timed.
"""

from __future__ import annotations

import sys

import numpy as np


def main(net_path: str, bias_path: str, timesteps: str, out_path: str, recorded: str = "") -> None:
    from lava.lib.dl.netx import hdf5
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.monitor.process import Monitor

    steps_per_sample = int(timesteps)
    net = hdf5.Network(net_config=net_path, reset_interval=steps_per_sample)
    layers = list(net.layers)
    net.in_layer.neuron.bias_mant.init = np.load(bias_path).astype(np.int32)
    total = steps_per_sample + len(layers) - 1
    indices = [int(i) for i in recorded.split(",")] if recorded else range(len(layers))
    monitors = []
    for i in indices:
        for var in (layers[i].neuron.u, layers[i].neuron.v):
            monitor = Monitor()
            monitor.probe(var, total)
            monitors.append((monitor, var.name, i))
    net.run(condition=RunSteps(num_steps=total), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    out = {}
    for monitor, var_name, i in monitors:
        (trace,) = monitor.get_data().values()
        out[f"{var_name}_{i}"] = np.asarray(trace[var_name]).astype(np.int64)
    net.stop()
    np.savez(out_path, **out)


if __name__ == "__main__":
    main(*sys.argv[1:6])
