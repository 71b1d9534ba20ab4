"""Foreign NIR files (no ``dalif`` metadata) with CubaLIF neurons: mapping, integer semantics with
current memory (du < 4095) by hand and against Lava's own LIF, deployment and costing, errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import nir
import numpy as np
import pytest

from dalif.cli import main
from deploy.norse.backend import NorseBackend
from deploy.onnx.backend import OnnxBackend
from hardware_sim.engine import simulate
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph
from hardware_sim.ir.nir import NIRFormatError, read_nir, write_nir

ROOT = Path(__file__).resolve().parents[2]
LAVA_PYTHON = ROOT / ".venv-lava" / "bin" / "python"


def rtz(x: int, n: int) -> int:
    return -((-x) >> n) if x < 0 else x >> n


def hand_trace(a: list[int], du: int, dv: int, vth: int, bias: int) -> tuple[list, list, list]:
    """DESIGN §3 for one neuron, literally: u, v (after reset) and spikes per step."""
    u = v = 0
    us, vs, ss = [], [], []
    for a_t in a:
        u = rtz(u * (4096 - (du + 1)), 12) + (a_t << 6)
        u = u - (1 << 24) if u > (1 << 23) else u + (1 << 24) if u <= -(1 << 23) else u
        v = max(min(rtz(v * (4096 - dv), 12) + u + bias, (1 << 23) - 1), -((1 << 23) - 1))
        s = v > (vth << 6)
        v = 0 if s else v
        us.append(u), vs.append(v), ss.append(bool(s))
    return us, vs, ss


# Drive a = [10, 0, 0, 5, 0, 0, 0, −3, 0, 0] through du = 1023 (τ_syn = 4), dv = 2048 (τ_mem = 2),
# bias 3 << 2; worked out by hand from DESIGN §3 (and what Lava 0.10's LIF computes, below):
A = [10, 0, 0, 5, 0, 0, 0, -3, 0, 0]
U_BY_HAND = [640, 480, 360, 590, 442, 331, 248, -6, -4, -3]  # e.g. 590 = rtz(360·3072, 12) + 5·64
V_BY_HAND = [652, 818, 781, 992, 950, 818, 669, 340, 178, 98]  # e.g. 992 = rtz(781·2048, 12) + 590 + 12


def _two_input_graph(vth: int, readout: bool) -> QGraph:
    """input (2,) → one neuron with weights [1, −1], e = 0, du = 1023, dv = 2048, bias 3 << 2."""
    proj = Projection(INPUT, "dense", np.array([[1, -1]]), (2,))
    pop = IntPopulation("n", (1,), [proj], dv=np.array([2048]), du=np.array([1023]),
                        vth=np.array([vth]), bias_mant=np.array([3]), bias_exp=2, v_scale=1.0,
                        readout=readout)
    return QGraph(input_shape=(2,), populations=[pop], output="n")


def _inputs_for(a: list[int]) -> np.ndarray:
    x = np.zeros((1, len(a), 2), np.int64)
    for t, value in enumerate(a):
        x[0, t, 0 if value >= 0 else 1] = abs(value)
    return x


def test_hand_computation_of_current_memory():
    us, vs, ss = hand_trace(A, du=1023, dv=2048, vth=1000, bias=12)
    assert us == U_BY_HAND and vs == V_BY_HAND and not any(ss)


def test_engine_follows_the_hand_computation_with_du_below_4095():
    x = _inputs_for(A)
    graph = _two_input_graph(vth=1000, readout=True)  # a readout: its v is the output
    v_trace = [int(simulate(graph, x[:, :t + 1]).output[0, 0]) for t in range(len(A))]
    assert v_trace == V_BY_HAND
    graph = _two_input_graph(vth=11, readout=False)  # fires on v > 704
    _, _, expected = hand_trace(A, du=1023, dv=2048, vth=11, bias=12)
    spikes = simulate(graph, x, record_spikes=True).spikes["n"][:, 0, 0]
    assert spikes.tolist() == expected and 0 < sum(expected) < len(A)


def _cuba_file(path: Path, tau_syn, tau_mem, r=1.0, w_in=1.0, bias=0.0, v_reset=0.0, shape=(2,)) -> Path:
    n = shape[0]
    nodes = {
        "input": nir.Input(input_type=np.array([n])),
        "fc": nir.Affine(weight=np.array([[0.5, -0.25], [0.25, 1.0]], np.float32)[:n, :n],
                         bias=np.full(n, bias, np.float32)),
        "cuba": nir.CubaLIF(tau_syn=np.broadcast_to(tau_syn, shape).astype(float),
                            tau_mem=np.broadcast_to(tau_mem, shape).astype(float),
                            r=np.broadcast_to(r, shape).astype(float), v_leak=np.zeros(shape),
                            v_threshold=np.full(shape, 1.0), v_reset=np.full(shape, v_reset),
                            w_in=np.broadcast_to(w_in, shape).astype(float)),
        "output": nir.Output(output_type=np.array([n])),
    }
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "cuba"),
                                                           ("cuba", "output")]))
    return path


def test_cuba_lif_time_constants_map_to_du_and_dv(tmp_path):
    path = _cuba_file(tmp_path / "c.nir", tau_syn=[4.0, 3.0], tau_mem=[2.0, 8.0], r=[2.0, 1.0],
                      w_in=[4.0, 1.0])
    pop = read_nir(path, timesteps=8).graph.populations[0]
    np.testing.assert_array_equal(pop.du, [1023, 1364])  # round(4096/τ_syn) − 1
    np.testing.assert_array_equal(pop.dv, [2048, 512])  # round(4096/τ_mem)
    # τ_syn = 1 is a current without memory: DA-LIF's du = 4095, and a bias is fine there
    pop = read_nir(_cuba_file(tmp_path / "d.nir", 1.0, 2.0, bias=0.1), timesteps=8).graph.populations[0]
    np.testing.assert_array_equal(pop.du, [4095, 4095])


def test_foreign_cuba_file_runs_by_hand_integer_semantics(tmp_path):
    """The reader's quantized graph (W, e, du, dv, vth chosen from the float file) runs exactly
    DESIGN §3 with current memory, neuron by neuron."""
    path = _cuba_file(tmp_path / "c.nir", tau_syn=[4.0, 3.0], tau_mem=[2.0, 8.0], r=[2.0, 24.0],
                      w_in=[4.0, 1.0])
    model = read_nir(path, timesteps=12, input_scale=1 / 4)
    pop = model.graph.populations[0]
    assert pop.gain is None  # r·w_in/(τ_mem·τ_syn) folded into the dense rows
    rng = np.random.default_rng(1)
    x = rng.integers(0, 17, (3, 12, 2))
    result = simulate(model.graph, x, record_spikes=True)
    proj = pop.projections[0]
    for sample in range(3):
        acc = x[sample] @ proj.weight.T
        for i in range(2):
            e = proj.weight_exp  # Python's >> on ints rounds toward −∞, as the hardware's shift
            a = [int(v) << e if e >= 0 else int(v) >> -e for v in acc[:, i]]
            _, _, spikes = hand_trace(a, int(pop.du[i]), int(pop.dv[i]), int(pop.vth[i]),
                                      int(pop.bias[i]))
            assert result.spikes["cuba"][:, sample, i].tolist() == spikes
    assert result.spikes["cuba"][:, :, 0].sum() > 5 and result.spikes["cuba"][:, :, 1].sum() > 5


@pytest.mark.skipif(not LAVA_PYTHON.exists(), reason="no Lava environment (make lava-venv)")
def test_lava_lif_agrees_with_the_hand_computation_for_du_below_4095(tmp_path):
    """Lava 0.10's own LIF (PyLifModelBitAcc, scalar du/dv) fed the same activations: u and v
    equal the hand computation step by step, with and without spikes."""
    script = tmp_path / "lava_lif.py"
    script.write_text(LAVA_SCRIPT)
    cases = [{"a": A, "du": 1023, "dv": 2048, "vth": 1000},
             {"a": A, "du": 1023, "dv": 2048, "vth": 11},
             {"a": [40, 0, 9, 300, -250, 0, 7, 0, 0, 60, 0, -5], "du": 300, "dv": 100, "vth": 150}]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run([str(LAVA_PYTHON), str(script), json.dumps(cases)], capture_output=True,
                          text=True, timeout=120, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    traces = json.loads(proc.stdout.strip().splitlines()[-1])
    for case, (u, v) in zip(cases, traces):
        us, vs, _ = hand_trace(case["a"], case["du"], case["dv"], case["vth"], bias=3 << 2)
        assert u == us and v == vs, case
    assert traces[0][0] == U_BY_HAND and traces[0][1] == V_BY_HAND
    assert any(hand_trace(cases[1]["a"], 1023, 2048, 11, 12)[2])


LAVA_SCRIPT = '''
import json, sys
import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.io.source import RingBuffer
from lava.proc.lif.process import LIF

out = []
for case in json.loads(sys.argv[1]):
    a = np.array([case["a"]], dtype=np.int32)
    source = RingBuffer(data=a)
    lif = LIF(shape=(1,), du=case["du"], dv=case["dv"], vth=case["vth"], bias_mant=3, bias_exp=2)
    source.s_out.connect(lif.a_in)
    u, v = [], []
    for _ in range(a.shape[1]):
        lif.run(condition=RunSteps(num_steps=1), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        u.append(int(lif.u.get()[0])), v.append(int(lif.v.get()[0]))
    lif.stop()
    out.append([u, v])
print(json.dumps(out))
'''


def _foreign_convnet(path: Path) -> Path:
    """Shaped like an snnTorch/norse export: Conv2d → CubaLIF → SumPool2d → Flatten → Affine →
    CubaLIF → Affine → Output (the last weight node integrates, as the reader treats it)."""
    rng = np.random.default_rng(0)
    c, hidden = 6, 24
    nodes = {
        "input": nir.Input(input_type=np.array([1, 8, 8])),
        "conv": nir.Conv2d(input_shape=np.array([8, 8]),
                           weight=rng.normal(0, 0.6, (c, 1, 3, 3)).astype(np.float32),
                           stride=np.array([1, 1]), padding=np.array([1, 1]), dilation=np.array([1, 1]),
                           groups=1, bias=np.zeros(c, np.float32)),
        "lif1": nir.CubaLIF(tau_syn=np.full((c, 8, 8), 4.0), tau_mem=np.full((c, 8, 8), 2.0),
                            r=np.full((c, 8, 8), 2.0), v_leak=np.zeros((c, 8, 8)),
                            v_threshold=np.full((c, 8, 8), 1.0), w_in=np.full((c, 8, 8), 4.0)),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                              padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([c, 4, 4])}, start_dim=0),
        "fc": nir.Affine(weight=rng.normal(0, 0.15, (hidden, c * 16)).astype(np.float32),
                         bias=np.zeros(hidden, np.float32)),
        "lif2": nir.CubaLIF(tau_syn=np.full(hidden, 3.0), tau_mem=rng.uniform(1.5, 8, hidden),
                            r=np.ones(hidden), v_leak=np.zeros(hidden), v_threshold=np.full(hidden, 0.5)),
        "readout": nir.Affine(weight=rng.normal(0, 0.3, (10, hidden)).astype(np.float32),
                              bias=rng.normal(0, 0.1, 10).astype(np.float32)),
        "output": nir.Output(output_type=np.array([10])),
    }
    edges = [("input", "conv"), ("conv", "lif1"), ("lif1", "pool"), ("pool", "flat"), ("flat", "fc"),
             ("fc", "lif2"), ("lif2", "readout"), ("readout", "output")]
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=edges))
    return path


def test_foreign_cuba_convnet_deploys_and_costs(tmp_path, capsys):
    path = _foreign_convnet(tmp_path / "foreign.nir")
    foreign = ["--timesteps", "6", "--input-scale", "0.0625", "--limit", "24", "--quiet"]
    assert main(["simulate", str(path), "--out", str(tmp_path / "r.json"), *foreign]) == 0
    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["totals"]["spikes"] > 0 and summary["totals"]["synaptic_ops"] > 0
    assert main(["energy", str(path), "--out", str(tmp_path / "energy"), *foreign]) == 0
    assert (tmp_path / "energy" / "report.json").is_file()
    capsys.readouterr()

    model = read_nir(path, timesteps=6, input_scale=1 / 16)
    assert {int(d) for p in model.graph.populations[:2] for d in np.unique(p.du)} == {1023, 1364}
    x = np.random.default_rng(2).integers(0, 17, (24, 6, 1, 8, 8))
    reference = simulate(model.graph, x, record_spikes=True)
    exact = OnnxBackend(record_spikes=True).run(model, x)
    for name in ("lif1", "lif2"):
        np.testing.assert_array_equal(exact.spikes[name], reference.spikes[name])
    # norse runs the file's float parameters (not quantized): close, not equal
    floating = NorseBackend(record_spikes=True).run(model, x)
    for name in ("lif1", "lif2"):
        ref, flt = reference.spikes[name], floating.spikes[name]
        assert ref.sum() > 50 and abs(int(flt.sum()) - int(ref.sum())) < 0.1 * ref.sum(), name


def test_written_current_memory_reads_back_as_cuba_lif(tmp_path):
    """A QGraph with du < 4095 is written as CubaLIF (τ_syn = 4096/(du+1), w_in = τ_syn); read as
    a foreign file (metadata dropped) its float parameters give du and dv back exactly."""
    graph = _two_input_graph(vth=11, readout=False)
    graph.populations[0].bias_mant[:] = 0
    path = tmp_path / "q.nir"
    write_nir(graph, path, timesteps=10)
    g = nir.read(str(path))
    assert isinstance(g.nodes["n"], nir.CubaLIF)
    again = read_nir(path).graph.populations[0]
    np.testing.assert_array_equal(again.du, [1023])
    g.metadata = {}
    nir.write(str(tmp_path / "bare.nir"), g)
    bare = read_nir(tmp_path / "bare.nir", timesteps=10).graph.populations[0]
    np.testing.assert_array_equal(bare.du, [1023])
    np.testing.assert_array_equal(bare.dv, [2048])


@pytest.mark.parametrize("kwargs, fragment", [
    ({"tau_syn": 0.5, "tau_mem": 2.0}, "'cuba': tau_syn must be >= 1"),
    ({"tau_syn": 4.0, "tau_mem": 2.0, "v_reset": 0.2}, "'cuba': v_reset must be 0"),
    ({"tau_syn": 4.0, "tau_mem": 2.0, "shape": (3,)}, "cuba.input: [[3]]"),
])
def test_cuba_parameters_out_of_range_are_one_line_errors(tmp_path, capsys, kwargs, fragment):
    kwargs = dict(kwargs)
    shape = kwargs.pop("shape", (2,))
    if shape != (2,):  # a CubaLIF of 3 neurons behind 2 outputs: written past nir's checks
        path = _cuba_file(tmp_path / "bad.nir", **kwargs)
        g = nir.read(str(path))
        cuba = g.nodes["cuba"]
        for field in ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"):
            setattr(cuba, field, np.full(shape, getattr(cuba, field).flat[0]))
        nir.write(str(path), g)
    else:
        path = _cuba_file(tmp_path / "bad.nir", **kwargs)
    with pytest.raises(NIRFormatError, match=re.escape(fragment)):
        read_nir(path, timesteps=4)
    assert main(["simulate", str(path), "--timesteps", "4", "--limit", "2", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0] and "Traceback" not in err[0], err


def test_dense_cuba_bias_enters_the_current_and_conv_bias_is_refused(tmp_path):
    """A bias into a CubaLIF with tau_syn > 1 decays through the current: a dense layer's enters
    through an always-on neuron (its projection weight, beside the Affine's), a conv layer's
    is refused with what to change."""
    model = read_nir(_cuba_file(tmp_path / "dense.nir", tau_syn=4.0, tau_mem=2.0, bias=0.1),
                     timesteps=4)
    source, cuba = model.graph.populations
    assert source.name == "bias_source" and [p.source for p in cuba.projections] == ["input", "bias_source"]
    x = np.zeros((1, 4, 2), np.int64)
    assert simulate(model.graph, x, record_spikes=True).spikes["bias_source"].all()  # every step
    bias_weight = cuba.projections[1].weight[:, 0] * cuba.v_scale * 2.0 ** (cuba.projections[1].weight_exp + 6)
    np.testing.assert_allclose(bias_weight, 1.0 * 1.0 * 0.1 / (2.0 * 4.0), rtol=0.02)  # r·w_in·b/(τm·τs)
    path = _foreign_convnet(tmp_path / "conv.nir")
    g = nir.read(str(path))
    g.nodes["conv"].bias = np.full(6, 0.1, np.float32)
    nir.write(str(path), g)
    with pytest.raises(NIRFormatError, match="'lif1': a bias into a convolutional CubaLIF"):
        read_nir(path, timesteps=4)
