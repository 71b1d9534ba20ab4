"""NIR carries a Conv2d's stride and padding per axis (``nir.Conv2d`` tuples): a QGraph with
per-axis convolutions round-trips through our NIR file, and a foreign Conv2d → SumPool2d with a
per-axis stride folds into one convolution equal to torch's conv-then-pool."""

from __future__ import annotations

import nir
import numpy as np
import torch
import torch.nn.functional as F

from hardware_sim.engine import simulate
from hardware_sim.ir.nir import read_nir, write_nir
from hardware_sim.ir.nir.read import pooled_kernel

from . import per_axis


def test_per_axis_convs_round_trip_with_and_without_our_metadata(tmp_path):
    graph = per_axis.graph()
    write_nir(graph, tmp_path / "m.nir", timesteps=4)
    nodes = nir.read(str(tmp_path / "m.nir")).nodes
    convs = [n for n in nodes.values() if isinstance(n, nir.Conv2d)]
    want = [(p.stride, p.padding) for pop in graph.populations for p in pop.projections
            if p.kind == "conv"]
    assert [(tuple(int(v) for v in n.stride), tuple(int(v) for v in n.padding)) for n in convs] == want
    assert want[0] == ((2, 1), (1, 0))
    x = per_axis.inputs(graph, 2, 4)
    expected = simulate(graph, x, record_spikes=True)
    g = nir.read(str(tmp_path / "m.nir"))
    g.metadata = {}
    nir.write(str(tmp_path / "foreign.nir"), g)
    models = {path: read_nir(tmp_path / path, timesteps=4) for path in ("m.nir", "foreign.nir")}
    for path, model in models.items():  # ours exactly; a foreign file re-quantized
        got = [(p.stride, p.padding) for pop in model.graph.populations for p in pop.projections
               if p.kind == "conv"]
        assert got == want, path
    result = simulate(models["m.nir"].graph, x, record_spikes=True)
    for pop in graph.populations:
        if not pop.readout:
            np.testing.assert_array_equal(result.spikes[pop.name], expected.spikes[pop.name])
    np.testing.assert_array_equal(result.output, expected.output)


def test_per_axis_conv_then_sum_pool_folds_into_one_conv():
    """Kernel 3×3 at stride (2, 1) then a 2×2 sum pool: kernel (3 + 2, 3 + 1) at stride (4, 2),
    against torch (conv2d with a tuple stride, then avg_pool2d × 4)."""
    rng = np.random.default_rng(2)
    x = torch.as_tensor(rng.normal(size=(2, 3, 13, 11)))
    w = rng.normal(size=(4, 3, 3, 3))
    expected = F.avg_pool2d(F.conv2d(x, torch.as_tensor(w), stride=(2, 1), padding=(1, 0)), 2) * 4
    folded = pooled_kernel(w, (2, 1), 2)
    assert folded.shape == (4, 3, 5, 4)
    got = F.conv2d(x, torch.as_tensor(folded), stride=(4, 2), padding=(1, 0))
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_a_foreign_per_axis_conv_pool_reads_as_that_conv(tmp_path):
    rng = np.random.default_rng(1)
    nodes = {
        "input": nir.Input(input_type=np.array([1, 9, 8])),
        "conv": nir.Conv2d(input_shape=np.array([9, 8]),
                           weight=rng.normal(0, 1, (3, 1, 3, 3)).astype(np.float32),
                           stride=np.array([2, 1]), padding=np.array([1, 0]), dilation=np.array([1, 1]),
                           groups=1, bias=np.zeros(3, np.float32)),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                              padding=np.array([0, 0])),
        "lif": nir.LIF(tau=np.full((3, 2, 3), 2.0), r=np.full((3, 2, 3), 2.0),
                       v_leak=np.zeros((3, 2, 3)), v_threshold=np.ones((3, 2, 3)),
                       v_reset=np.zeros((3, 2, 3))),
        "output": nir.Output(output_type=np.array([3, 2, 3])),
    }
    edges = [("input", "conv"), ("conv", "pool"), ("pool", "lif"), ("lif", "output")]
    nir.write(str(tmp_path / "f.nir"), nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    (proj,) = read_nir(tmp_path / "f.nir", timesteps=3).graph.population("lif").projections
    # rows (9 + 2 − 3) // 2 + 1 = 5 pooled to 2, columns (8 − 3) + 1 = 6 pooled to 3
    assert (proj.weight.shape, proj.stride, proj.padding) == ((3, 1, 5, 4), (4, 2), (1, 0))
    assert proj.output_shape == (3, 2, 3)
