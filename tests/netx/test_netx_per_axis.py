"""netx files hold a conv's stride and padding per axis in PyTorch's (H, W) order (lava-dl
reverses them into Lava's (W, H)): our writer puts them there, our reader takes them back,
and lava-dl's own loader runs what we write spike for spike like hardware_sim."""

from __future__ import annotations

import h5py
import numpy as np

from hardware_sim.engine import direct_encode, simulate
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph
from hardware_sim.ir.netx import read_netx, write_netx

from .conftest import run_lava_dl

SAMPLES, TIMESTEPS = 8, 6


def _per_axis_net(seed: int = 0) -> QGraph:
    """graded input (2, 11, 10) → conv 4×3×3 stride (2, 1) padding (1, 0) → 2×2 sum pool + conv
    5×2×3 stride (1, 2) padding (0, 1) → dense 6: one decay and threshold per layer, biases in
    multiples of 64 (what netx holds exactly)."""
    rng = np.random.default_rng(seed)

    def population(name, proj, dv, vth, bias_per):
        shape = proj.output_shape
        bias = rng.integers(-1, 3, bias_per) * 64
        return IntPopulation(name=name, shape=shape, projections=[proj], dv=np.full(shape, dv),
                             du=np.full(shape, 4095), vth=np.full(shape, vth), bias_exp=0,
                             bias_mant=np.broadcast_to(bias.reshape(-1, *[1] * (len(shape) - 1)),
                                                       shape).copy(), v_scale=1.0)

    c1 = Projection(INPUT, "conv", rng.integers(-60, 100, (4, 2, 3, 3)), (2, 11, 10),
                    stride=(2, 1), padding=(1, 0))
    p1 = population("c1", c1, 900, 40 * 64, 4)
    c2 = Projection("c1", "conv", rng.integers(-80, 128, (5, 4, 2, 3)), p1.shape,
                    stride=(1, 2), padding=(0, 1), pool=2)
    p2 = population("c2", c2, 300, 60 * 64, 5)
    d3 = Projection("c2", "dense", rng.integers(-128, 128, (6, int(np.prod(p2.shape)))), p2.shape)
    p3 = population("d3", d3, 2000, 60, 6)
    return QGraph(input_shape=(2, 11, 10), populations=[p1, p2, p3], output="d3", input_bits=4)


def test_per_axis_strides_are_written_h_w_read_back_and_run_by_lava_dl(tmp_path):
    graph = _per_axis_net()
    assert [p.shape for p in graph.populations] == [(4, 6, 8), (5, 2, 2), (6,)]
    net = tmp_path / "per_axis.net"
    write_netx(graph, net, TIMESTEPS)
    with h5py.File(net) as f:  # the pool folds in: stride and padding × 2, kernel taps × 2
        assert (f["layer/1/stride"][()].tolist(), f["layer/1/padding"][()].tolist()) == ([2, 1], [1, 0])
        assert (f["layer/2/stride"][()].tolist(), f["layer/2/padding"][()].tolist()) == ([2, 4], [0, 2])
        assert f["layer/2/weight"].shape == (5, 4, 4, 6)
    back, _ = read_netx(net)
    assert [(p.projections[0].stride, p.projections[0].padding) for p in back.populations[:2]] \
        == [((2, 1), (1, 0)), ((2, 4), (0, 2))]
    rng = np.random.default_rng(7)
    x = direct_encode(rng.integers(0, 16, (SAMPLES, *graph.input_shape)), TIMESTEPS)
    expected = simulate(graph, x, record_spikes=True)
    np.testing.assert_array_equal(simulate(back, x).output, expected.output)
    got = run_lava_dl(net, x, graph.input_bits, first_layer_dense=False, tmp_path=tmp_path)
    for i, pop in enumerate(graph.populations):
        want = expected.spikes[pop.name]
        assert want.sum() > 20, f"{pop.name}: too quiet to mean anything"
        np.testing.assert_array_equal(got[f"spikes_{i}"], want, err_msg=pop.name)
