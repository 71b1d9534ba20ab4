"""The cycle model's options the SANA-FE cross-check uses (no sanafe needed): overlapped core
phases and the graded input's messages, on the hand-sized net of tests/hardware_sim."""

from __future__ import annotations

import numpy as np
import pytest

from hardware_sim.cost.cycle import cycle_model
from hardware_sim.cost.mapping import map_to_cores
from hardware_sim.engine import simulate
from tests.hardware_sim.test_cycle import LOIHI_NS, chip_with, hop_graph


def test_overlapped_phases_and_input_messages():
    chip = chip_with(1, 1, 2, 2)
    graph, samples, steps = hop_graph(), 2, 3
    mapping = map_to_cores(graph, chip)
    inputs = np.ones((samples, steps, 1), np.int64)
    inputs[1, 1] = 0  # one input value of zero: no message
    result = simulate(graph, inputs)
    serial = cycle_model(graph, result, chip, mapping, core_phases="serial")
    with_inputs = cycle_model(graph, result, chip, mapping, core_phases="serial", inputs=inputs)
    # P's two cores each receive the non-zero input values; Q's cores their spikes as before
    extra = with_inputs.counts["messages_in"] - serial.counts["messages_in"]
    assert extra[:, :2].tolist() == [[2, 2], [1, 1], [2, 2]] and not extra[:, 2:].any()
    assert with_inputs.energy_j_per_inference == pytest.approx(serial.energy_j_per_inference)
    overlapped = cycle_model(graph, result, chip, mapping, core_phases="overlapped")
    per = {k: v[0] / samples for k, v in serial.counts.items()}  # step 0
    t = LOIHI_NS
    gen = (per["updates_active"] * (t["access"] + t["update"]) + per["spikes"] * t["spike_out"]
           + per["messages_out"] * t["axon_out"])
    recv = (per["synaptic_ops"] + per["graded_input_ops"]) * t["synapse"] + \
        per["messages_in"] * t["axon_in"]
    assert overlapped.work_ns[0].tolist() == pytest.approx(np.maximum(gen, recv).tolist())
    assert serial.work_ns[0].tolist() == pytest.approx((gen + recv).tolist())
    assert overlapped.to_dict()["core_phases"] == "overlapped"
    assert overlapped.energy_j_per_inference == pytest.approx(serial.energy_j_per_inference)
    with pytest.raises(ValueError, match="core_phases"):
        cycle_model(graph, result, chip, mapping, core_phases="parallel")
    with pytest.raises(ValueError, match="inputs"):
        cycle_model(graph, result, chip, mapping, inputs=inputs[:1])
