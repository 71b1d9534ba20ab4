"""Conformance against the producers themselves: small nets built in snnTorch 1.0.0, norse 1.1.0 and
sinabs 3.1.3, exported to NIR by the producer's own exporter, run by the producer and by
loihi-sim (which reads only the file) on the same input spikes.

Each net is trained-like: its readout weights are fitted by least squares to the hidden layer's
spike counts in the producer's own run (``producers.readout_weights``), so that predictions are
not near-ties that one quantized spike flips. Required: ≥ 97 % prediction agreement and every
layer's spike count within ``SPIKE_TOLERANCE`` (``producers.assert_conforms``). What a file
cannot say (reset mode, multi-spike) is either stated (``reset="zero"``), or warned about and
recorded in ``DeployedModel.reading``, or refused; the tests check each.
"""

from __future__ import annotations

import nir
import numpy as np
import pytest

from deploy.lava.backend import LavaBackend
from hardware_sim.engine import simulate
from hardware_sim.ir.nir import read_nir
from tests.interop.producers import (
    CLASSES,
    MIN_AGREEMENT,
    Run,
    agreement,
    assert_conforms,
    class_inputs,
    first_argmax,
    loihi_sim_run,
    readout_weights,
)

torch = pytest.importorskip("torch")

FEATURES, HIDDEN, TIMESTEPS = 20, 40, 25
TRAIN, TEST = 300, 64


def _fit_and_compare(net, hidden_node: str, out_node: str | None, run, readout: torch.nn.Linear,
                     export, tmp_path, gain: float = 2.0, spikes: bool = True,
                     min_agreement: float = MIN_AGREEMENT, **read_kwargs):
    """Fit ``readout`` on the producer's hidden counts, run the test samples in the producer
    (``run(x) -> (hidden counts, output counts)``) and in loihi-sim from ``export(path)``;
    ``spikes=False``: predictions only, at least ``min_agreement`` (where a warned difference
    moves spike counts)."""
    x_train, y_train = class_inputs(TRAIN, TIMESTEPS, FEATURES, seed=1)
    hidden, _ = run(x_train)
    with torch.no_grad():
        readout.weight.copy_(torch.as_tensor(readout_weights(hidden, y_train, gain)))
        if readout.bias is not None:
            readout.bias.zero_()
    x, y = class_inputs(TEST, TIMESTEPS, FEATURES, seed=2)
    hidden, out = run(x)
    layers = {hidden_node: int(hidden.sum())} | ({} if out_node is None else {out_node: int(out.sum())})
    producer = Run(first_argmax(out), layers)
    assert np.mean(producer.predictions == y) > 0.8  # the producer's net is trained-like
    path = tmp_path / "net.nir"
    export(path)
    ours, model = loihi_sim_run(path, x, **read_kwargs)
    found = agreement(producer, ours)
    print(found)
    if spikes:
        assert_conforms(found)
    else:
        assert found.predictions >= min_agreement, str(found)
    return model, found


# --- snnTorch 1.0.0 -------------------------------------------------------------------------------

snn = pytest.importorskip("snntorch")


def _leaky(n: int, beta: float, reset: str = "zero", **kw):
    """snnTorch exports per-neuron LIF parameters only (a scalar beta fails nir's type check)."""
    return snn.Leaky(beta=torch.full((n,), beta), threshold=torch.ones(n), init_hidden=True,
                     reset_mechanism=reset, **kw)


def _two_leaky_layers(reset: str):
    """Linear → Leaky → Linear → Leaky (seeded; the first layer's weights tripled so that the
    hidden layer fires), and its two Leaky cells."""
    torch.manual_seed(0)
    cells = [_leaky(HIDDEN, 0.9, reset), _leaky(CLASSES, 0.8, reset, output=True)]
    net = torch.nn.Sequential(torch.nn.Linear(FEATURES, HIDDEN), cells[0],
                              torch.nn.Linear(HIDDEN, CLASSES), cells[1])
    with torch.no_grad():
        net[0].weight.mul_(3.0)
    return net, cells


def _snntorch_export(net):
    from snntorch.export_nir import export_to_nir

    def export(path):
        nir.write(str(path), export_to_nir(net, torch.zeros(FEATURES)))
    return export


def _snntorch_runner(net, cells, hidden_index: int):
    def run(x):
        for cell in cells:  # a state of another shape is re-initialised to zeros by the cell
            cell.mem = torch.zeros(0)
            if hasattr(cell, "syn"):
                cell.syn = torch.zeros(0)
        hidden, out = np.zeros((len(x), HIDDEN)), np.zeros((len(x), CLASSES))
        with torch.no_grad():
            for t in range(x.shape[1]):
                h = torch.as_tensor(x[:, t])
                for i, layer in enumerate(net):
                    h = layer(h)
                    h = h[0] if isinstance(h, tuple) else h
                    if i == hidden_index:
                        hidden += h.numpy()
                out += h.numpy()
        return hidden, out
    return run


def test_snntorch_leaky_agrees_with_snntorch(tmp_path):
    net, cells = _two_leaky_layers("zero")
    model, _ = _fit_and_compare(net, "1", "3", _snntorch_runner(net, cells, 1), net[2],
                                _snntorch_export(net), tmp_path, reset="zero")
    assert model.reading["producer"].startswith("snnTorch") and model.reading["dt_s"] == 1e-4
    assert model.reading["warnings"] == []  # the reset mode was stated


def test_snntorch_synaptic_predictions_agree_and_its_refractory_step_is_warned(tmp_path):
    """CubaLIF: snnTorch's Synaptic (syn = α·syn + x; mem = β·mem + syn) after bias-free Linears.
    Its zero reset also zeroes the step after a spike (snntorch/_neurons/synaptic.py, _base_zero),
    which NIR cannot express: warned; predictions still agree, spike counts do not (+50 %)."""
    torch.manual_seed(1)
    cells = [snn.Synaptic(alpha=torch.full((HIDDEN,), 0.7), beta=torch.full((HIDDEN,), 0.9),
                          threshold=torch.ones(HIDDEN), init_hidden=True, reset_mechanism="zero"),
             snn.Synaptic(alpha=torch.full((CLASSES,), 0.5), beta=torch.full((CLASSES,), 0.8),
                          threshold=torch.ones(CLASSES), init_hidden=True, reset_mechanism="zero",
                          output=True)]
    net = torch.nn.Sequential(torch.nn.Linear(FEATURES, HIDDEN, bias=False), cells[0],
                              torch.nn.Linear(HIDDEN, CLASSES, bias=False), cells[1])
    with torch.no_grad():
        net[0].weight.mul_(1.0)
    model, found = _fit_and_compare(net, "1", "3", _snntorch_runner(net, cells, 1), net[2],
                                    _snntorch_export(net), tmp_path, gain=1.0, spikes=False,
                                    reset="zero")
    assert model.graph.populations[0].du.max() < 4095  # current memory
    assert any("refractory" in w for w in model.reading["warnings"])
    assert found.spikes["1"][2] > 0.2  # the difference the warning names: more spikes here


def test_snntorch_default_subtract_reset_is_warned_and_recorded(tmp_path):
    """snnTorch's default reset subtracts the threshold; NIR cannot say so: a warning, recorded,
    unless the user states the reset (``--reset subtract``: noted, and no warning)."""
    net = torch.nn.Sequential(torch.nn.Linear(FEATURES, CLASSES), _leaky(CLASSES, 0.9, "subtract"))
    path = tmp_path / "subtract.nir"
    _snntorch_export(net)(path)
    model = read_nir(path, timesteps=4)
    assert any("reset mode" in w and "subtract" in w for w in model.reading["warnings"])
    assert [p.reset for p in model.graph.populations] == ["zero"]
    stated = read_nir(path, timesteps=4, reset="subtract")
    assert stated.reading["warnings"] == [] and stated.reading["reset"] == "subtract"
    assert any("programmable neurons" in n for n in stated.reading["notes"])
    assert [p.reset for p in stated.graph.populations] == ["subtract"]


def test_snntorch_leaky_with_its_default_subtract_reset_agrees_with_snntorch(tmp_path):
    """snnTorch's default Leaky (mem[t] = β·mem[t−1] + x[t] − θ·S[t−1], snntorch/_neurons/leaky.py
    ``_base_sub``) run by loihi-sim with ``reset="subtract"``: conforms. The same file run with the
    zero reset fires clearly fewer hidden spikes than snnTorch did, so the test tells them apart."""
    net, cells = _two_leaky_layers("subtract")
    model, found = _fit_and_compare(net, "1", "3", _snntorch_runner(net, cells, 1), net[2],
                                    _snntorch_export(net), tmp_path, reset="subtract")
    assert model.reading["warnings"] == [] and model.reading["reset"] == "subtract"
    assert {p.reset for p in model.graph.populations} == {"subtract"}
    x, _ = class_inputs(TEST, TIMESTEPS, FEATURES, seed=2)
    zero, _ = loihi_sim_run(tmp_path / "net.nir", x, reset="zero")
    producer_hidden = found.spikes["1"][0]
    assert (producer_hidden - zero.spikes["1"]) / producer_hidden > 0.2, (found, zero.spikes)


def test_snntorch_bias_into_synaptic_enters_its_current_exactly(tmp_path):
    """A biased Linear before a Synaptic: the bias decays through the current (NIR's equations),
    which Loihi's bias (added to v) cannot do; it enters through an always-on neuron instead.
    Checked against the producer: a neuron with zero weights and bias b gets, in snnTorch,
    syn[t] = α·syn[t−1] + b and mem[t] = β·mem[t−1] + syn[t]; its first spike step matches."""
    net = torch.nn.Sequential(torch.nn.Linear(FEATURES, 2),
                              snn.Synaptic(alpha=torch.full((2,), 0.7), beta=torch.full((2,), 0.9),
                                           threshold=torch.ones(2), init_hidden=True,
                                           reset_mechanism="zero"))
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].bias.copy_(torch.tensor([0.05, 0.2]))
    path = tmp_path / "biased.nir"
    _snntorch_export(net)(path)
    cell = net[1]
    cell.mem, cell.syn = torch.zeros(0), torch.zeros(0)
    x = np.zeros((1, 12, FEATURES), np.float32)
    with torch.no_grad():
        theirs = np.stack([cell(net[0](torch.as_tensor(x[:, t]))).numpy()[0] for t in range(12)])
    model = read_nir(path, timesteps=12, input_scale=1.0, input_bits=1, reset="zero")
    assert any("always-on neuron" in note for note in model.reading["notes"])
    ours = simulate(model.graph, np.zeros((1, 12, FEATURES), np.int64), record_spikes=True).spikes["1"]

    def first_spikes(spikes):  # (T, 2) → the step of each neuron's first spike
        return [int(np.argmax(spikes[:, i])) if spikes[:, i].any() else None for i in range(2)]

    assert first_spikes(theirs) == first_spikes(ours[:, 0]) and None not in first_spikes(theirs)
    assert first_spikes(theirs)[0] > first_spikes(theirs)[1]  # the bias sets when each fires


def test_snntorch_recurrent_leaky_runs_with_its_refractory_step_warned(tmp_path):
    """RLeaky: the recurrent weights see last step's spikes, as on the chip (one step of delay).
    Its zero reset has Synaptic's refractory step (snntorch/_neurons/rleaky.py, _base_zero):
    warned; predictions agree on 93.8 % (not the 97 % of a file that says everything), more
    spikes here. The recurrence itself is checked by hand in test_recurrent_nir.py."""
    torch.manual_seed(2)
    rec = snn.RLeaky(beta=torch.full((HIDDEN,), 0.9), threshold=torch.ones(HIDDEN),
                     linear_features=HIDDEN, init_hidden=True, reset_mechanism="zero")
    out = _leaky(CLASSES, 0.8, output=True)
    net = torch.nn.Sequential(torch.nn.Linear(FEATURES, HIDDEN), rec,
                              torch.nn.Linear(HIDDEN, CLASSES), out)
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        rec.recurrent.weight.mul_(0.5)
        rec.recurrent.bias.zero_()

    def run(x):
        rec.reset_hidden()
        out.reset_mem()
        rec.spk = torch.zeros(len(x), HIDDEN)
        rec.mem = torch.zeros(len(x), HIDDEN)
        hidden, counts = np.zeros((len(x), HIDDEN)), np.zeros((len(x), CLASSES))
        with torch.no_grad():
            for t in range(x.shape[1]):
                h = rec(net[0](torch.as_tensor(x[:, t])))
                s, _ = out(net[2](h))
                hidden += h.numpy()
                counts += s.numpy()
        return hidden, counts

    model, found = _fit_and_compare(net, "1.lif", "3", run, net[2], _snntorch_export(net),
                                    tmp_path, spikes=False, min_agreement=0.9, reset="zero")
    assert any("recurrent" in note for note in model.reading["notes"])
    assert any("refractory" in w and "1.lif" in w for w in model.reading["warnings"])
    assert model.graph.recurrent
    assert found.spikes["1.lif"][2] > 0.1
    x = (np.random.default_rng(4).random((4, 10, FEATURES)) < 0.3).astype(np.int64)
    lava, reference = LavaBackend().run(model, x), simulate(model.graph, x, record_spikes=True)
    for name, spikes in reference.spikes.items():  # Lava runs the recurrence spike for spike
        np.testing.assert_array_equal(lava.spikes[name], spikes, err_msg=name)
    assert reference.spikes["1.lif"].any()


# --- norse 1.1.0 ----------------------------------------------------------------------------------

norse = pytest.importorskip("norse.torch")


def _norse_export(net):
    def export(path):
        nir.write(str(path), norse.to_nir(net, torch.zeros(1, FEATURES)))
    return export


def _norse_runner(net, readout_is_voltage: bool = False):
    """Steps norse's SequentialState; the hidden cell's spikes through a hook; the output: spike
    counts, or a leaky readout's final voltage."""
    seen = {}
    net[1].register_forward_hook(lambda _m, _i, out: seen.__setitem__("hidden", out[0]))

    def run(x):
        hidden, out, state = np.zeros((len(x), HIDDEN)), np.zeros((len(x), CLASSES)), None
        with torch.no_grad():
            for t in range(x.shape[1]):
                y, state = net(torch.as_tensor(x[:, t]), state)
                hidden += seen["hidden"].numpy()
                out = y.numpy() if readout_is_voltage else out + y.numpy()
        return hidden, out
    return run


def _lif_box(n: int, tau_mem_inv: float):
    from norse.torch import LIFBoxCell, LIFBoxParameters

    return LIFBoxCell(LIFBoxParameters(tau_mem_inv=torch.full((n,), tau_mem_inv),
                                       v_leak=torch.zeros(n), v_th=torch.ones(n),
                                       v_reset=torch.zeros(n)))


def test_norse_lif_box_agrees_with_norse(tmp_path):
    """norse writes τ as dt·τ (dt = 1e-3) and the Input with a batch dimension: both read."""
    torch.manual_seed(3)
    net = norse.SequentialState(torch.nn.Linear(FEATURES, HIDDEN), _lif_box(HIDDEN, 100.0),
                                torch.nn.Linear(HIDDEN, CLASSES), _lif_box(CLASSES, 200.0))
    with torch.no_grad():
        net[0].weight.mul_(25.0)
    model, _ = _fit_and_compare(net, "1", "3", _norse_runner(net), net[2], _norse_export(net),
                                tmp_path, gain=12.0, reset="zero")
    assert model.reading["producer"].startswith("norse") and model.reading["dt_s"] == 1e-3
    assert any("batch dimension" in note for note in model.reading["notes"])
    assert read_nir(tmp_path / "net.nir", timesteps=4).reading["warnings"] == []  # norse resets to v_reset


def test_norse_lif_cell_agrees_with_norse(tmp_path):
    """norse's LIFCell adds its input to the current unscaled (norse/torch/functional/lif.py),
    where NIR's CubaLIF scales it by w_in/τ_syn and norse writes w_in = 1: read as norse runs it
    (the case that ran at 13.9 % agreement before, silently). The first Linear's bias enters
    the current too: through an always-on neuron, exactly."""
    from norse.torch import LIFCell, LIFParameters

    torch.manual_seed(4)

    def cell(n, tau_syn_inv, tau_mem_inv):
        return LIFCell(LIFParameters(tau_syn_inv=torch.full((n,), tau_syn_inv),
                                     tau_mem_inv=torch.full((n,), tau_mem_inv),
                                     v_leak=torch.zeros(n), v_th=torch.ones(n),
                                     v_reset=torch.zeros(n)))

    net = norse.SequentialState(torch.nn.Linear(FEATURES, HIDDEN), cell(HIDDEN, 200.0, 100.0),
                                torch.nn.Linear(HIDDEN, CLASSES, bias=False), cell(CLASSES, 200.0, 100.0))
    with torch.no_grad():
        net[0].weight.mul_(5.0)
    model, _ = _fit_and_compare(net, "1", "3", _norse_runner(net), net[2], _norse_export(net),
                                tmp_path, gain=3.0, reset="zero")
    assert "unscaled" in " ".join(model.reading["notes"])
    assert model.graph.populations[0].name == "bias_source"


def test_norse_leaky_readout_agrees_with_norse(tmp_path):
    """An LI readout (norse LIBoxCell): its final voltage is the output on both sides."""
    from norse.torch import LIBoxCell, LIBoxParameters

    torch.manual_seed(5)
    readout = LIBoxCell(LIBoxParameters(tau_mem_inv=torch.full((CLASSES,), 100.0),
                                        v_leak=torch.zeros(CLASSES)))
    net = norse.SequentialState(torch.nn.Linear(FEATURES, HIDDEN), _lif_box(HIDDEN, 100.0),
                                torch.nn.Linear(HIDDEN, CLASSES), readout)
    with torch.no_grad():
        net[0].weight.mul_(25.0)
    model, _ = _fit_and_compare(net, "1", None, _norse_runner(net, readout_is_voltage=True),
                                net[2], _norse_export(net), tmp_path, gain=1.0, reset="zero")
    assert model.graph.output_population.readout


# --- sinabs 3.1.3 ---------------------------------------------------------------------------------

sinabs = pytest.importorskip("sinabs")


def _sinabs_iaf(**kw):
    import sinabs.layers as sl

    return sl.IAF(**kw)


def _sinabs_runner(net):
    """sinabs runs a whole (N, T, F) sequence at once; states cleared before each run."""
    def run(x):
        for layer in net:
            if hasattr(layer, "reset_states"):
                layer.reset_states()
        with torch.no_grad():
            hidden = net[1](net[0](torch.as_tensor(x)))
            out = net[3](net[2](hidden))
        return hidden.sum(dim=1).numpy(), out.sum(dim=1).numpy()
    return run


def _sinabs_export(net):
    def export(path):
        for layer in net:  # sinabs sizes its IF nodes from the state of the last run
            if hasattr(layer, "reset_states"):
                layer.reset_states()
        nir.write(str(path), sinabs.to_nir(net, torch.zeros(1, 1, FEATURES)))
    return export


def test_sinabs_single_spike_iaf_agrees_with_sinabs(tmp_path):
    """IAF with one spike per step and reset to zero: what the hardware runs. NIR cannot say
    either, so the file is still warned about (multi-spike), and the reset is stated."""
    from sinabs.activation import MembraneReset, SingleSpike

    torch.manual_seed(6)
    net = torch.nn.Sequential(torch.nn.Linear(FEATURES, HIDDEN),
                              _sinabs_iaf(spike_fn=SingleSpike, reset_fn=MembraneReset()),
                              torch.nn.Linear(HIDDEN, CLASSES),
                              _sinabs_iaf(spike_fn=SingleSpike, reset_fn=MembraneReset()))
    with torch.no_grad():
        net[0].weight.mul_(1.0)
    model, _ = _fit_and_compare(net, "1", "3", _sinabs_runner(net), net[2], _sinabs_export(net),
                                tmp_path, gain=1.0, reset="zero")
    assert any("multi-spike" in w for w in model.reading["warnings"])


def test_sinabs_lif_is_warned_for_its_exponential_decay(tmp_path):
    """sinabs' LIF steps V = α·V + (1 − α)·x with α = exp(−1/τ); the file gives τ only, read with
    Euler's 1 − 1/τ (snnTorch's and norse's step): warned about; predictions agree on 89 %."""
    import sinabs.layers as sl
    from sinabs.activation import MembraneReset, SingleSpike

    def lif(n):  # per-neuron τ and threshold: sinabs writes scalars nir.write cannot store
        return sl.LIF(tau_mem=torch.full((n,), 10.0), spike_threshold=torch.ones(n),
                      spike_fn=SingleSpike, reset_fn=MembraneReset())

    torch.manual_seed(7)
    net = torch.nn.Sequential(torch.nn.Linear(FEATURES, HIDDEN), lif(HIDDEN),
                              torch.nn.Linear(HIDDEN, CLASSES), lif(CLASSES))
    with torch.no_grad():
        net[0].weight.mul_(10.0)
    model, found = _fit_and_compare(net, "1", "3", _sinabs_runner(net), net[2], _sinabs_export(net),
                                    tmp_path, gain=10.0, spikes=False, min_agreement=0.85, reset="zero")
    assert any("exp(-1/tau)" in w for w in model.reading["warnings"])
    assert found.predictions < 1.0  # the difference the warning names is real


def test_sinabs_default_iaf_is_warned_twice_and_differs(tmp_path):
    """sinabs' default IAF (MultiSpike, MembraneSubtract) is not what the chip runs: both losses
    are warned about and recorded; the run differs from sinabs' (the warning is not idle)."""
    torch.manual_seed(6)
    net = torch.nn.Sequential(torch.nn.Linear(FEATURES, HIDDEN), _sinabs_iaf(),
                              torch.nn.Linear(HIDDEN, CLASSES), _sinabs_iaf())
    with torch.no_grad():
        net[0].weight.mul_(3.0)
    x, _ = class_inputs(TEST, TIMESTEPS, FEATURES, seed=2)
    hidden, _ = _sinabs_runner(net)(x)
    path = tmp_path / "default.nir"
    _sinabs_export(net)(path)
    ours, model = loihi_sim_run(path, x)
    warnings = " ".join(model.reading["warnings"])
    assert "multi-spike" in warnings and "reset mode" in warnings
    assert ours.spikes["1"] < 0.9 * hidden.sum()  # sinabs fires several spikes per step here


# --- rockpool 3.1.0 -------------------------------------------------------------------------------

def test_rockpool_export_is_recognised_and_its_differences_warned(tmp_path):
    """rockpool's LIFTorch decays exactly, fires several spikes per step and subtracts; its
    export says none of it. The file must be recognised (dt from r = τ·exp(−dt/τ)/dt, batch and
    time dimensions on its Output), its exact decay read so, and the rest warned about and
    recorded. The conformance pairs are in test_rockpool_conformance.py."""
    pytest.importorskip("rockpool")
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFTorch, LinearTorch
    from rockpool.nn.modules.torch.nir import to_nir

    net = Sequential(LinearTorch((FEATURES, HIDDEN)), LIFTorch(HIDDEN, dt=1e-3),
                     LinearTorch((HIDDEN, CLASSES)), LIFTorch(CLASSES, dt=1e-3))
    path = tmp_path / "rockpool.nir"
    nir.write(str(path), to_nir(net))
    model = read_nir(path, timesteps=TIMESTEPS)
    assert model.reading["producer"].startswith("rockpool") and model.reading["dt_s"] == 1e-3
    assert any("[1, 1, 10]" in note for note in model.reading["notes"])
    assert any("exp(-dt/tau)" in note for note in model.reading["notes"])
    warnings = " ".join(model.reading["warnings"])
    assert "multi-spike" in warnings and "reset mode" in warnings
