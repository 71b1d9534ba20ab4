"""Published NIR files nobody here wrote (tests/data/nir/README.md: the NIR paper's LIF, CNN and
Braille RNN files; the Braille file inside the norse wheel): each runs on loihi-sim and is costed,
with what it could not say warned about, or is refused with the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hardware_sim.chips import load_chip
from hardware_sim.cost.energy import price_energy
from hardware_sim.cost.events import count_events
from hardware_sim.cost.mapping import map_to_cores
from hardware_sim.engine import run_aligned, simulate
from hardware_sim.ir.nir import NIRFormatError, read_nir

DATA = Path(__file__).resolve().parents[1] / "data" / "nir"
SPIKES = {"input_scale": 1.0, "input_bits": 1}
"""The inputs are 0/1 spikes of value 1 (as these nets were trained on)."""


def _norse_braille() -> Path:
    norse = pytest.importorskip("norse")
    return Path(norse.__file__).parent / "torch" / "utils" / "test" / "braille.nir"


def _run_and_cost(model, rate: float = 0.3, samples: int = 3, seed: int = 0):
    """Random 0/1 input spikes through the engine, then the cost model on the run."""
    rng = np.random.default_rng(seed)
    x = (rng.random((samples, model.timesteps, *model.graph.input_shape)) < rate).astype(np.int64)
    result = simulate(model.graph, x)
    chip = load_chip("loihi")
    mapping = map_to_cores(model.graph, chip)
    energy = price_energy(count_events(model.graph, mapping, result), chip)
    return result, energy


@pytest.mark.parametrize("name, tau", [("lif_norse.nir", 0.0025), ("two_lif_neurons.nir", 0.01)])
def test_the_papers_lif_files_need_dt_and_run_with_it(name, tau):
    """τ in seconds (the paper: "We use a timestep of dt=0.0001"): refused without --dt, saying
    so; with dt = 1e-4, dv = round(4096·dt/τ)."""
    with pytest.raises(NIRFormatError, match=r"tau must be >= 1 timestep, got .*give --dt"):
        read_nir(DATA / name, timesteps=20)
    model = read_nir(DATA / name, timesteps=20, **SPIKES, dt=1e-4)
    assert {int(d) for p in model.graph.populations for d in p.dv} == {round(4096 * 1e-4 / tau)}
    assert model.reading["dt_s"] == 1e-4
    _run_and_cost(model, rate=0.5)


def test_rockpools_lif_is_recognised_with_a_batch_and_time_dimension_on_its_output():
    model = read_nir(DATA / "lif_rockpool.nir", timesteps=20, **SPIKES)
    assert model.reading["producer"].startswith("rockpool") and model.reading["dt_s"] == 1e-4
    assert any("[1, 1, 1]" in note for note in model.reading["notes"])
    assert any("exp(-dt/tau)" in note for note in model.reading["notes"])
    assert any("multi-spike" in w for w in model.reading["warnings"])
    _run_and_cost(model, rate=0.5)


def test_the_papers_sinabs_cnn_runs_with_both_losses_warned():
    model = read_nir(DATA / "cnn_sinabs.nir", timesteps=8, **SPIKES)
    assert model.graph.input_shape == (2, 34, 34)
    warnings = " ".join(model.reading["warnings"])
    assert "multi-spike" in warnings and "reset mode" in warnings
    result, energy = _run_and_cost(model, rate=0.2, samples=2)
    assert result.counts[0].spikes > 0 and energy.energy_j > 0


@pytest.mark.parametrize("path", [DATA / "braille_noDelay_bias_zero.nir", "norse wheel"])
def test_the_braille_rnn_runs_with_recurrence_and_its_bias_in_the_current(path):
    model = read_nir(_norse_braille() if path == "norse wheel" else path, timesteps=64, **SPIKES)
    assert model.reading["producer"].startswith("snnTorch")
    assert model.graph.recurrent and model.graph.populations[0].name == "bias_source"
    notes, warnings = " ".join(model.reading["notes"]), " ".join(model.reading["warnings"])
    assert "lif1.w_rec -> lif1.lif" in notes and "always-on neuron" in notes
    assert "refractory" in warnings and "reset mode" in warnings
    result, _ = _run_and_cost(model)
    recurrent = next(c for c in result.counts if c.name == "lif1.lif")
    assert recurrent.spikes > 0 and recurrent.synaptic_ops > 0
    x = (np.random.default_rng(1).random((4, 64, 12)) < 0.3).astype(np.int64)
    reference = simulate(model.graph, x, record_spikes=True)
    aligned = simulate(model.graph, x, timing="aligned", record_spikes=True, batch_size=2)
    for name, spikes in reference.spikes.items():  # Loihi's pipeline: the same, layer by layer
        np.testing.assert_array_equal(aligned.spikes[name], spikes)


def test_the_braille_rnn_trained_with_subtract_reset_is_warned_and_runs_subtract_when_stated():
    path = DATA / "braille_noDelay_noBias_subtract.nir"
    model = read_nir(path, timesteps=16, **SPIKES)
    assert any("reset mode" in w for w in model.reading["warnings"])
    stated = read_nir(path, timesteps=16, reset="subtract", **SPIKES)
    assert not any("reset mode" in w for w in stated.reading["warnings"])
    assert {p.reset for p in stated.graph.populations if not p.readout} == {"subtract"}


def test_a_published_file_with_a_broken_subgraph_is_refused_naming_the_node():
    with pytest.raises(NIRFormatError, match="'lif1.lif' which does not exist"):
        read_nir(DATA / "braille_noDelay_bias_zero_subgraph.nir", timesteps=16)


def test_the_papers_lif_spikes_when_norse_and_loihi_2_did():
    """The NIR paper's LIF experiment (paper/01_lif): 1000 steps of its input spikes into
    lif_norse.nir. Its recorded runs: norse's (lif_norse.csv: input, v, spike) and Lava's on
    Loihi 2 hardware (lif_lava_loihi_fixed.csv: input, v, spike). loihi-sim fires on norse's
    steps, and in Loihi's timing (run_aligned: one step per hop) on the chip's steps."""
    norse_run = np.loadtxt(DATA / "lif_norse.csv", delimiter=",")
    loihi_run = np.loadtxt(DATA / "lif_lava_loihi_fixed.csv", delimiter=",")
    np.testing.assert_array_equal(norse_run[:, 0], loihi_run[:, 0])  # the same input
    model = read_nir(DATA / "lif_norse.nir", timesteps=len(norse_run), **SPIKES, dt=1e-4)
    x = norse_run[:, 0].astype(np.int64)[None, :, None]
    ours = simulate(model.graph, x, record_spikes=True).spikes["1"][:, 0, 0]
    assert np.flatnonzero(ours).tolist() == np.flatnonzero(norse_run[:, 2]).tolist() == [460, 510, 710, 760]
    on_chip = run_aligned(model.graph, x).records["1"][:, 0]
    assert np.flatnonzero(on_chip).tolist() == np.flatnonzero(loihi_run[:, 2]).tolist()
