"""What the producer-conformance tests share: seeded spike inputs, the loihi-sim run of a NIR file
exported by another tool, and the comparison with that tool's own run of the same model.

The producer's run is the independent computation: its own modules, stepped by its own code on
the same 0/1 input spikes. loihi-sim reads only the NIR file the producer wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hardware_sim.engine import simulate
from hardware_sim.ir.nir import read_nir

MIN_AGREEMENT = 0.97
"""Predictions (argmax of the output layer's spike counts, or of a readout's final value) that
must agree with the producer's own run (the issue's bar)."""
SPIKE_TOLERANCE = 0.10
"""Per layer, |spikes here − spikes in the producer| / spikes in the producer at most this:
the quantization of weights (int8), decays (12 bits) and thresholds moves a few spikes."""


CLASSES = 10


def class_inputs(samples: int, timesteps: int, features: int, seed: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(N, T, F) float32 0/1 spikes and their labels: each of 10 classes fires its features at its
    own rates (0.02 … 0.6, fixed by the seed 0), each sample a Bernoulli draw of its class's."""
    prototypes = np.random.default_rng(0).uniform(0.02, 0.6, size=(CLASSES, features))
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, size=samples)
    x = rng.random((samples, timesteps, features)) < prototypes[labels][:, None, :]
    return x.astype(np.float32), labels


def readout_weights(hidden_counts: np.ndarray, labels: np.ndarray, gain: float) -> np.ndarray:
    """Output weights (10, H) fitted by least squares from the hidden layer's spike counts, as the
    producer's own run gives them, to the one-hot labels (× ``gain``): a trained-like net, whose
    winners are clear (a random one sits in near-ties that one spike flips)."""
    rates = hidden_counts / max(float(hidden_counts.max()), 1.0)
    target = np.eye(CLASSES)[labels] * gain
    weight, *_ = np.linalg.lstsq(rates, target, rcond=None)
    return weight.T.astype(np.float32)


@dataclass
class Run:
    """A run of one network: predictions (N,) and spikes per layer (NIR node name → total)."""

    predictions: np.ndarray
    spikes: dict[str, int]


def loihi_sim_run(path: Path, x: np.ndarray, **read_kwargs: Any) -> tuple[Run, Any]:
    """The NIR file read (input scale 1 and 1-bit inputs: the 0/1 spikes are the integers) and
    run on x."""
    model = read_nir(path, timesteps=x.shape[1], input_scale=1.0, input_bits=1, **read_kwargs)
    inputs, clipped = model.graph.quantize_input(x)
    assert clipped == 0
    result = simulate(model.graph, inputs)
    return Run(result.predictions, {c.name: c.spikes for c in result.counts}), model


@dataclass
class Agreement:
    predictions: float
    spikes: dict[str, tuple[int, int, float]]  # layer → (producer, loihi-sim, relative difference)

    def __str__(self) -> str:
        layers = ", ".join(f"{k}: {a} vs {b} ({d:+.1%})" for k, (a, b, d) in self.spikes.items())
        return f"prediction agreement {self.predictions:.1%}; spikes (producer vs loihi-sim) {layers}"


def agreement(producer: Run, ours: Run) -> Agreement:
    spikes = {}
    for name, theirs in producer.spikes.items():
        mine = ours.spikes[name]
        spikes[name] = (theirs, mine, (mine - theirs) / max(theirs, 1))
    return Agreement(float(np.mean(producer.predictions == ours.predictions)), spikes)


def assert_conforms(found: Agreement, min_spikes: int = 100) -> None:
    """≥ 97 % agreement, and every layer active (a silent net tests nothing) within tolerance."""
    assert found.predictions >= MIN_AGREEMENT, str(found)
    for name, (theirs, _, diff) in found.spikes.items():
        assert theirs >= min_spikes, f"layer {name} barely spikes in the producer: {found}"
        assert abs(diff) <= SPIKE_TOLERANCE, f"layer {name}: {found}"


def first_argmax(counts: np.ndarray) -> np.ndarray:
    """argmax over the last axis, ties to the first index (as SimulationResult.predictions)."""
    return np.asarray(counts).reshape(len(counts), -1).argmax(axis=1)
