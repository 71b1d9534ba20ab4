"""lava-dl's PilotNet LIF netx file (tests/data/netx, BSD-3), imported whole through `dalif
import` (its layer 4 strides (2, 1) and pads (1, 0): per axis) and run by `dalif simulate
--input image --record u,v`, against what Loihi 2 recorded for it (the currents of layers 2 and
3, shipped with the file: no Lava needed) and against lava-dl's own loader running the same file
in Lava (every later layer, layers 4 to 9, u and v: .venv-netx).

Timing: layer i (input layer 0) computes the sample's step τ on Loihi/Lava step τ + 1 + i, and
both lava-dl's ground truth and our Lava runner hold step k + 1 at index k, so our step τ of
layer i is their index τ + i. Lava's layout is (W, H, C); ours (C, H, W).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from dalif.cli import main
from hardware_sim.ir.netx import INPUT_LAYER, read_netx

from .conftest import DATA, lava_dl_file, run_lava_dl_traces

T = 16  # the file's /simulation/tSample
NAMES = [INPUT_LAYER, "conv1", "conv2", "conv3", "conv4", "conv5", "dense7", "dense8", "dense9",
         "dense10"]  # netx layers 0-5, then 7-10 (layer 6 is a flatten)
LOIHI = {2: "conv1_u", 3: "conv2_u"}  # our population index: lava-dl's ground-truth trace


@pytest.fixture(scope="module")
def pilotnet(tmp_path_factory):
    """The file, its image (Lava's (W, H, C)) and our record of every population's u and v."""
    tmp = tmp_path_factory.mktemp("pilotnet")
    net = lava_dl_file("pilotnet_lif.net", tmp)
    assert main(["import", str(net), "--out", str(tmp / "pilotnet.nir")]) == 0
    with np.load(DATA / "pilotnet_lif_gts.npz") as gts:
        image_whc = gts["image"]
    np.save(tmp / "image.npy", image_whc.transpose(2, 1, 0)[None])  # (1, C, H, W)
    assert main(["simulate", str(tmp / "pilotnet.nir"), "--input", str(tmp / "image.npy"),
                 "--record", "u,v", "--record-out", str(tmp / "record.h5"), "--quiet"]) == 0
    with h5py.File(tmp / "record.h5") as f:
        record = {(field, name): f[f"{field}/{name}"][0] for field in "uv" for name in NAMES}
    return net, image_whc, record


def _ours_layout(trace: np.ndarray, depth: int) -> np.ndarray:
    """Lava's trace (steps, W, H, C) or (steps, N), index k = step k + 1, as our steps of the
    layer at ``depth``: (T, C, H, W) or (T, N)."""
    window = trace[depth:depth + T]
    return window.transpose(0, 3, 2, 1) if window.ndim == 4 else window


def test_the_whole_file_imports_field_by_field(pilotnet):
    net, _, _ = pilotnet
    graph, timesteps = read_netx(net)
    assert timesteps == T  # /simulation/tSample
    assert [p.name for p in graph.populations] == NAMES
    keys = [str(i) for i in range(11) if i != 6]
    with h5py.File(net) as f:
        for pop, key in zip(graph.populations, keys):
            layer = f[f"layer/{key}"]
            shape = tuple(int(d) for d in layer["shape"][()])  # a dense layer's is (N, 1, 1)
            assert pop.shape == (shape if len(pop.shape) == 3 else (int(np.prod(shape)),)), key
            assert int(pop.du.flat[0]) == layer["neuron/iDecay"][()] - 1
            assert int(pop.dv.flat[0]) == layer["neuron/vDecay"][()]
            assert int(pop.vth.flat[0]) == layer["neuron/vThMant"][()]
            if layer["type"][0] == b"conv":
                proj = pop.projections[0]
                np.testing.assert_array_equal(proj.weight << proj.weight_exp, layer["weight"][()])
                # netx stores (H, W), PyTorch's order (lava-dl reverses it for Lava's (W, H))
                assert proj.stride == tuple(layer["stride"][()]), key
                assert proj.padding == tuple(layer["padding"][()]), key
                np.testing.assert_array_equal(pop.bias[:, 0, 0], layer["bias"][()] * 64)
    conv4 = graph.population("conv4").projections[0]
    assert (conv4.stride, conv4.padding) == ((2, 1), (1, 0))
    # (7 + 2·1 − 3) // 2 + 1 = 4 rows, (24 + 0 − 3) // 1 + 1 = 22 columns: the file's shape
    assert conv4.output_shape == (64, 4, 22) == graph.population("conv4").shape
    # the image-as-bias input layer: a 1x1 identity from the graded input, no bias of its own
    first = graph.populations[0].projections[0]
    assert first.kind == "conv" and first.weight.shape == (3, 3, 1, 1)
    np.testing.assert_array_equal(first.weight[:, :, 0, 0], np.eye(3))
    # netx's num_layers still imports a prefix
    assert [p.name for p in read_netx(net, layers=4)[0].populations] == NAMES[:4]


def test_cli_reproduces_loihi_currents_with_the_image_as_bias(pilotnet):
    """Loihi 2's recorded u of layers 2 and 3 (all that lava-dl ships), at every step."""
    _, _, record = pilotnet
    with np.load(DATA / "pilotnet_lif_gts.npz") as gts:
        for depth, key in LOIHI.items():
            name = NAMES[depth]
            theirs = _ours_layout(np.moveaxis(gts[key], -1, 0), depth)
            assert np.count_nonzero(theirs) > theirs.size // 4, name
            np.testing.assert_array_equal(record["u", name], theirs, err_msg=name)


def test_later_layers_equal_lava_dls_own_run(pilotnet, tmp_path):
    """Layers 4 (the per-axis conv) to 9 (the last dense), u and v at all 16 steps, against
    lava-dl's loader running the same file in Lava fixed_pt with the same image as bias.

    Only these layers are recorded in Lava: its Monitor hands each value back as one message,
    so the large first layers would take minutes (netx_lava_trace_runner.py). Layers 0 and 1
    are pinned by Loihi's layer 2 currents: each step's u of layer 2 is W ⋆ (layer 1's spikes),
    equal at all 16 steps. About 30 s of Lava on 2 cores."""
    net, image_whc, record = pilotnet
    depths = list(range(4, len(NAMES)))
    traces = run_lava_dl_traces(net, image_whc, T, tmp_path, layers=depths)
    for depth in depths:
        name = NAMES[depth]
        for field in "uv":
            theirs = _ours_layout(traces[f"{field}_{depth}"], depth).reshape(record[field, name].shape)
            assert np.count_nonzero(theirs), (field, name)
            np.testing.assert_array_equal(record[field, name], theirs, err_msg=f"{field} of {name}")
