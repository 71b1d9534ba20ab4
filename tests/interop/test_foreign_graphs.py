"""Graph forms of foreign NIR files: recurrence (one step of delay, engine and cost), nested
subgraphs, a Flatten before the Output, conv → pool → neuron, v_leak, τ in seconds (--dt) and the
user-facing record of what a file was taken to mean. Each is checked against a hand-worked case
or an independent computation (torch's own convolution and pooling)."""

from __future__ import annotations

import json
from pathlib import Path

import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dalif.cli import main
from deploy.lava.backend import LavaBackend
from deploy.norse.backend import NorseBackend
from deploy.registry import BackendError
from hardware_sim.engine import simulate
from hardware_sim.ir.graph import (
    INPUT,
    DeployedModel,
    GraphError,
    IntPopulation,
    Projection,
    QGraph,
)
from hardware_sim.ir.nir import NIRFormatError, read_nir
from hardware_sim.ir.nir.read import pooled_kernel


def _neuron(vth: int, n: int = 1, **kw) -> dict:
    return dict(dv=np.zeros(n, np.int64), du=np.full(n, 4095), vth=np.full(n, vth),
                bias_mant=np.zeros(n, np.int64), bias_exp=0, v_scale=1.0, **kw)


def _recurrent_graph(delay: int = 1) -> QGraph:
    """input (1,) → n (1 neuron): input weight 2, self weight −3 with ``delay``; no leak, vth 2."""
    pop = IntPopulation("n", (1,), [Projection(INPUT, "dense", np.array([[2]]), (1,)),
                                    Projection("n", "dense", np.array([[-3]]), (1,), delay=delay)],
                        **_neuron(2))
    return QGraph(input_shape=(1,), populations=[pop], output="n")


def test_recurrent_projection_by_hand():
    """v[t] = v[t−1] + 2·64·x[t] − 3·64·s[t−1], spike when v > 2·64 = 128, then v = 0; x = 1:
    t0: 128 (no), t1: 256 spike, t2: 0 + 128 − 192 = −64, t3: 64, t4: 192 spike, t5: −64.
    (Without the recurrence it would fire at t1, t3, t5.) Synaptic ops: the recurrent synapse
    carries the spikes of t1 and t4 into t2 and t5: 2; input MACs: 6 non-zero inputs × 1."""
    result = simulate(_recurrent_graph(), np.ones((1, 6, 1), np.int64), record_spikes=True)
    assert result.spikes["n"][:, 0, 0].astype(int).tolist() == [0, 1, 0, 0, 1, 0]
    counts = result.counts[0]
    assert (counts.synaptic_ops, counts.input_macs) == (2, 6)


def test_self_recurrence_runs_aligned_and_a_zero_delay_cycle_is_refused():
    """The aligned pipeline (Loihi's timing) runs a population's recurrence with its one hop of
    delay and masks it across samples: equal to the zero-delay reference, sample by sample."""
    with pytest.raises(GraphError, match="recurrent projection, from itself or a later one, needs a delay"):
        _recurrent_graph(delay=0)
    graph = _recurrent_graph()
    x = np.random.default_rng(0).integers(0, 2, (5, 6, 1))
    reference = simulate(graph, x, record_spikes=True)
    aligned = simulate(graph, x, timing="aligned", record_spikes=True, batch_size=2)
    np.testing.assert_array_equal(aligned.spikes["n"], reference.spikes["n"])
    assert aligned.counts[0].synaptic_ops == reference.counts[0].synaptic_ops
    lava = LavaBackend().run(DeployedModel(graph, 6, {}, foreign=True), x)  # and so does Lava's
    np.testing.assert_array_equal(lava.spikes["n"], reference.spikes["n"])


def test_recurrence_from_a_deeper_layer_is_refused_in_the_aligned_pipeline():
    """a → b → (delay 1) a: on the chip b's spikes of step t reach a two hops later, not one."""
    a = IntPopulation("a", (1,), [Projection(INPUT, "dense", np.array([[2]]), (1,)),
                                  Projection("b", "dense", np.array([[1]]), (1,), delay=1)], **_neuron(2))
    b = IntPopulation("b", (1,), [Projection("a", "dense", np.array([[3]]), (1,))], **_neuron(1))
    graph = QGraph(input_shape=(1,), populations=[a, b], output="b")
    x = np.ones((1, 4, 1), np.int64)
    assert simulate(graph, x).counts[1].spikes > 0  # the reference runs it
    with pytest.raises(GraphError, match="recurrent projection 'b' -> 'a': it comes from a deeper layer"):
        simulate(graph, x, timing="aligned")


def _lif(n: int, tau: float = 2.0, v_leak: float = 0.0, threshold: float = 1.0, r: float | None = None):
    return nir.LIF(tau=np.full(n, tau), r=np.full(n, tau if r is None else r), v_leak=np.full(n, v_leak),
                   v_threshold=np.full(n, threshold), v_reset=np.zeros(n))


def _recurrent_file(path: Path, nested: bool, features: int = 64, hidden: int = 10) -> Path:
    """input → fc → [lif ⇄ w_rec] → out → readout LIF → Output, the bracket a subgraph if
    ``nested`` (as snnTorch writes RLeaky and spyx its layers)."""
    rng = np.random.default_rng(0)
    fc = nir.Affine(weight=rng.normal(0, 0.4, (hidden, features)).astype(np.float32), bias=np.zeros(hidden))
    w_rec = nir.Affine(weight=rng.normal(0, 0.5, (hidden, hidden)).astype(np.float32), bias=np.zeros(hidden))
    out = nir.Affine(weight=rng.normal(0, 0.5, (10, hidden)).astype(np.float32), bias=np.zeros(10))
    nodes = {"input": nir.Input(input_type=np.array([features])), "fc": fc, "out": out,
             "lif_out": _lif(10), "output": nir.Output(output_type=np.array([10]))}
    cell = {"lif": _lif(hidden), "w_rec": w_rec}
    inner = [("lif", "w_rec"), ("w_rec", "lif")]
    if nested:
        nodes["rec"] = nir.NIRGraph(
            nodes={"input": nir.Input(input_type=np.array([hidden])), **cell,
                   "output": nir.Output(output_type=np.array([hidden]))},
            edges=[("input", "lif"), *inner, ("lif", "output")], type_check=False)
        edges = [("input", "fc"), ("fc", "rec"), ("rec", "out")]
    else:
        nodes.update(cell)
        edges = [("input", "fc"), ("fc", "lif"), *inner, ("lif", "out")]
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=edges + [("out", "lif_out"), ("lif_out", "output")],
                                      type_check=False))
    return path


def test_recurrent_file_reads_with_one_step_of_delay_and_nested_equals_flat(tmp_path):
    flat = read_nir(_recurrent_file(tmp_path / "flat.nir", nested=False), timesteps=4)
    nested = read_nir(_recurrent_file(tmp_path / "nested.nir", nested=True), timesteps=4)
    lif = flat.graph.population("lif")
    assert [(p.source, p.delay) for p in lif.projections] == [("input", 0), ("lif", 1)]
    assert any("recurrent edges (w_rec -> lif)" in note for note in flat.reading["notes"])
    assert any("nested subgraphs flattened" in note for note in nested.reading["notes"])
    assert [p.name for p in nested.graph.populations] == ["rec.lif", "lif_out"]
    for a, b in zip(flat.graph.populations, nested.graph.populations):
        for field in ("dv", "vth", "bias_mant"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        by_delay = [sorted(pop.projections, key=lambda p: p.delay) for pop in (a, b)]
        for p, q in zip(*by_delay):
            np.testing.assert_array_equal(p.weight, q.weight)
            assert (p.delay, p.weight_exp) == (q.delay, q.weight_exp)


def test_recurrent_file_is_costed_and_its_reading_recorded(tmp_path, capsys):
    """`dalif energy` on a recurrent foreign file: the recurrent synapses are counted like any
    projection (cost/events.py), and what the file was taken to mean is in report.json."""
    path = _recurrent_file(tmp_path / "rec.nir", nested=True)
    out = tmp_path / "energy"
    assert main(["energy", str(path), "--timesteps", "6", "--limit", "8", "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "warning: reset mode" in err and "recurrent edges" in err
    report = json.loads((out / "report.json").read_text())
    reading = json.dumps(report)
    assert "tau read in timesteps" in reading and "reset mode" in reading


def test_trailing_flatten_and_conv_pool_neuron(tmp_path):
    """Conv2d → SumPool2d → LIF → Flatten → Output: the pool folds into the convolution (kernel
    3 + 1·(2 − 1) = 4, stride 2) and the Flatten into the output."""
    rng = np.random.default_rng(1)
    nodes = {
        "input": nir.Input(input_type=np.array([1, 8, 8])),
        "conv": nir.Conv2d(input_shape=np.array([8, 8]), weight=rng.normal(0, 1, (3, 1, 3, 3)).astype(np.float32),
                           stride=np.array([1, 1]), padding=np.array([1, 1]), dilation=np.array([1, 1]),
                           groups=1, bias=np.full(3, 0.1, np.float32)),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "lif": _lif(3 * 4 * 4).__class__(**{k: np.full((3, 4, 4), v.flat[0]) for k, v in
                                            [("tau", np.array([2.0])), ("r", np.array([2.0])),
                                             ("v_leak", np.array([0.0])), ("v_threshold", np.array([1.0])),
                                             ("v_reset", np.array([0.0]))]}),
        "flat": nir.Flatten(input_type={"input": np.array([3, 4, 4])}, start_dim=0),
        "output": nir.Output(output_type=np.array([48])),
    }
    edges = [("input", "conv"), ("conv", "pool"), ("pool", "lif"), ("lif", "flat"), ("flat", "output")]
    path = tmp_path / "convpool.nir"
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    model = read_nir(path, timesteps=3)
    (proj,) = model.graph.population("lif").projections
    assert (proj.weight.shape, proj.stride, proj.padding) == ((3, 1, 4, 4), (2, 2), (1, 1))
    assert model.graph.output == "lif"
    assert any("Flatten before the Output" in note for note in model.reading["notes"])
    pop = model.graph.population("lif")  # the conv bias 0.1, summed over the 2×2 pool: 0.4 (× r/τ = 1)
    np.testing.assert_allclose(pop.bias * pop.v_scale, 0.4, rtol=0.01)


@pytest.mark.parametrize("stride, k, size", [(1, 2, 8), (2, 2, 11), (1, 3, 10)])
def test_pooled_kernel_is_torch_conv_then_sum_pool(stride, k, size):
    """The folded kernel against torch: conv2d then a k×k sum pool (avg_pool2d × k²)."""
    rng = np.random.default_rng(stride * 10 + k)
    x = torch.as_tensor(rng.normal(size=(2, 3, size, size)))
    w = rng.normal(size=(4, 3, 3, 3))
    expected = F.avg_pool2d(F.conv2d(x, torch.as_tensor(w), stride=stride, padding=1), k) * k * k
    folded = F.conv2d(x, torch.as_tensor(pooled_kernel(w, stride, k)), stride=stride * k, padding=1)
    assert folded.shape == expected.shape
    np.testing.assert_allclose(folded.numpy(), expected.numpy(), atol=1e-9)


def test_v_leak_is_a_bias(tmp_path):
    """LIF τ = 4 steps, v_leak = 2, threshold 1, no input weight drive (zero input):
    V[t] = 0.75·V[t−1] + 2/4: 0.5, 0.875, 1.156 → spike at t2, reset, again at t5, t8."""
    nodes = {"input": nir.Input(input_type=np.array([1])),
             "fc": nir.Affine(weight=np.ones((1, 1), np.float32), bias=np.zeros(1, np.float32)),
             "lif": _lif(1, tau=4.0, v_leak=2.0, r=4.0), "output": nir.Output(output_type=np.array([1]))}
    path = tmp_path / "leak.nir"
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")]))
    model = read_nir(path, timesteps=9)
    spikes = simulate(model.graph, np.zeros((1, 9, 1), np.int64), record_spikes=True).spikes["lif"][:, 0, 0]
    assert np.flatnonzero(spikes).tolist() == [2, 5, 8]


def _seconds_file(path: Path, tau: float, r: float) -> Path:
    nodes = {"input": nir.Input(input_type=np.array([2])),
             "fc": nir.Affine(weight=np.eye(2, dtype=np.float32), bias=np.zeros(2, np.float32)),
             "lif": _lif(2, tau=tau, r=r), "output": nir.Output(output_type=np.array([2]))}
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")]))
    return path


def test_tau_in_seconds_needs_dt_unless_the_producer_is_recognised(tmp_path):
    plain = _seconds_file(tmp_path / "plain.nir", tau=1e-3, r=2.0)  # no known exporter's signature
    with pytest.raises(NIRFormatError, match="give --dt"):
        read_nir(plain, timesteps=4)
    given = read_nir(plain, timesteps=4, dt=1e-4)  # τ = 10 steps: dv = round(4096/10)
    assert given.graph.populations[0].dv.tolist() == [410, 410]
    assert given.reading["dt_s"] == 1e-4 and given.reading["producer"] == "NIR (tau in seconds)"
    snntorch = read_nir(_seconds_file(tmp_path / "s.nir", tau=1e-3, r=10.0), timesteps=4)  # r = τ/1e-4
    assert snntorch.graph.populations[0].dv.tolist() == [410, 410]
    norse = read_nir(_seconds_file(tmp_path / "n.nir", tau=1e-5, r=1.0), timesteps=4)  # dt·τ, dt = 1e-3
    assert norse.graph.populations[0].dv.tolist() == [410, 410]
    assert norse.reading["producer"].startswith("norse")
    with pytest.raises(NIRFormatError, match="--dt must be a positive number"):
        read_nir(plain, timesteps=4, dt=-1.0)


def test_cli_records_the_reading_and_runs_subtract_reset_on_loihi2_only(tmp_path, capsys):
    path = _seconds_file(tmp_path / "s.nir", tau=1e-3, r=10.0)
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(0).integers(0, 2, (5, 4, 2)))
    result = tmp_path / "RESULT.json"
    assert main(["simulate", str(path), "--input", str(x), "--input-bits", "1", "--timesteps", "4",
                 "--out", str(result), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "foreign NIR file read as snnTorch" in err and "warning: reset mode" in err
    recorded = json.loads(result.read_text())["foreign_nir"]
    assert recorded["dt_s"] == 1e-4 and any("reset mode" in w for w in recorded["warnings"])
    assert main(["simulate", str(path), "--input", str(x), "--timesteps", "4", "--reset", "zero",
                 "--out", str(result), "--quiet"]) == 0
    assert json.loads(result.read_text())["foreign_nir"]["warnings"] == []
    capsys.readouterr()
    assert main(["simulate", str(path), "--input", str(x), "--timesteps", "4", "--reset", "subtract",
                 "--out", str(result), "--quiet"]) == 0
    recorded = json.loads(result.read_text())["foreign_nir"]
    assert recorded["reset"] == "subtract" and recorded["warnings"] == []
    assert any("programmable neurons (Loihi 2)" in note for note in recorded["notes"])
    capsys.readouterr()
    energy = ["energy", str(path), "--input", str(x), "--timesteps", "4", "--reset", "subtract", "--quiet"]
    assert main([*energy, "--chip", "loihi", "--out", str(tmp_path / "e1")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("foreign NIR file read as")  # then one error line
    refusal = err.strip().splitlines()[1:]
    assert len(refusal) == 1 and "loihi cannot run populations that reset by subtraction" in refusal[0]
    assert "--chip loihi2" in refusal[0]
    assert main([*energy, "--chip", "loihi2", "--out", str(tmp_path / "e2")]) == 0
    subtracting = read_nir(path, timesteps=4, reset="subtract")
    with pytest.raises(BackendError, match="Lava's bit-accurate LIF, which resets v to 0"):
        LavaBackend().run(subtracting, np.load(x))
    with pytest.raises(BackendError, match="norse backend: .* reset by subtraction"):
        NorseBackend().run(subtracting, np.load(x))
