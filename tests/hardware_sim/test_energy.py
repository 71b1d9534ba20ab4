"""Energy model and chip profiles, each against counts and constants worked out by hand."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hardware_sim.chips import ChipProfileError, available_chips, derive_chip, load_chip, parse_chip
from hardware_sim.cost.energy import ann_baseline, estimate_energy
from hardware_sim.cost.mapping import map_to_cores
from hardware_sim.engine import simulate
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph
from tests.dict_edits import drop, set_to

# The constants as the papers print them, typed here independently of the JSON files.
LOIHI = dict(synapse=35.5, soma_access=51.2, soma_update=21.6, spike_out=69.3, axon_out=111.0,
             hop_ew=3.0, hop_ns=4.2)
DAVIES = dict(synaptic_op=23.6, active=81.0, inactive=52.0, within_tile=1.7, hop_ew=3.0, hop_ns=4.0)
HOROWITZ = dict(fp32_mac=4.6, fp32_add=0.9, int8_mac=0.23, int8_add=0.03)
PJ = 1e-12


def _dense(name, sources, n_out, bias=0):
    """A population of n_out neurons fed all-ones dense weights from each (source, n_in).

    vth = 0, du = 4095, dv = 0: a neuron spikes in every step in which it gets a
    positive input (v = input << 6 > 0 = vth << 6) and is then reset.
    """
    projections = [Projection(src, "dense", np.ones((n_out, n_in), np.int64), (n_in,))
                   for src, n_in in sources]
    return IntPopulation(
        name, (n_out,), projections, dv=np.zeros(n_out, np.int64), du=np.full(n_out, 4095),
        vth=np.zeros(n_out, np.int64), bias_mant=np.full(n_out, bias, np.int64), bias_exp=0,
        v_scale=1.0,
    )


def three_layer_graph(c_bias=0):
    """input(2) → A(3) → B(2);  A and B → C(1): a join, so A's spikes go to two populations."""
    return QGraph(
        input_shape=(2,),
        populations=[
            _dense("A", [(INPUT, 2)], 3),
            _dense("B", [("A", 3)], 2),
            _dense("C", [("A", 3), ("B", 2)], 1, bias=c_bias),
        ],
        output="C",
    )


S, T = 2, 3  # samples, timesteps


def always_on_run(graph):
    """All inputs 1 in every step: every neuron of A, B and C spikes in every step."""
    return simulate(graph, np.ones((S, T, 2), np.int64))


def test_counts_of_the_hand_graph_are_as_predicted():
    result = always_on_run(three_layer_graph())
    steps = S * T
    expected = {  # per (sample, step): spikes, synaptic ops, graded input ops, updates
        "A": (3, 0, 2 * 3, 3),
        "B": (2, 3 * 2, 0, 2),
        "C": (1, 3 * 1 + 2 * 1, 0, 1),
    }
    for name, (spikes, syn, macs, updates) in expected.items():
        c = result.count(name)
        assert (c.spikes, c.synaptic_ops, c.input_macs, c.neuron_updates) == \
            (spikes * steps, syn * steps, macs * steps, updates * steps)


def test_loihi_energy_equals_counts_times_constants():
    graph = three_layer_graph()
    result = always_on_run(graph)
    report = estimate_energy(graph, result, load_chip("loihi"))
    steps = S * T
    k = LOIHI
    active = k["soma_access"] + k["soma_update"]
    # Everything on tile 0 (cores 0-3): no hops. A's spikes go to B's and C's cores (2 messages).
    expected_pj = {
        "A": steps * (6 * k["synapse"] + 3 * active + 3 * k["spike_out"] + 3 * 2 * k["axon_out"]),
        "B": steps * (6 * k["synapse"] + 2 * active + 2 * k["spike_out"] + 2 * 1 * k["axon_out"]),
        "C": steps * (5 * k["synapse"] + 1 * active + 1 * k["spike_out"]),  # output: no messages
    }
    for name, pj in expected_pj.items():
        assert report.layer(name).energy_j == pytest.approx(pj * PJ, rel=1e-12)
        assert report.layer(name).hops_east_west == report.layer(name).hops_north_south == 0
    total = sum(expected_pj.values()) * PJ
    assert report.energy_j == pytest.approx(total, rel=1e-12)
    assert report.energy_j_per_inference == pytest.approx(total / S, rel=1e-12)
    assert report.totals()["energy_j_per_inference"] == pytest.approx(total / S, rel=1e-12)
    assert report.layer("A").energy_j_by_op["message"] == pytest.approx(steps * 6 * 111.0 * PJ)
    assert report.layer("A").messages == steps * 6
    assert json.loads(json.dumps(report.to_dict()))["totals"]["spikes"] == steps * 6


def _small_mesh_chip(base="loihi-davies2018", neurons_per_core=2, cores_per_tile=1, tiles=(2, 2)):
    return derive_chip(base, neurons_per_core=neurons_per_core, cores_per_tile=cores_per_tile,
                       tiles_x=tiles[0], tiles_y=tiles[1])


def test_davies_energy_with_hops_on_a_small_mesh():
    # 2 neurons per core, 1 core per tile, 2 x 2 tiles:
    #   A: cores 0 (2 neurons) at (0,0) and 1 (1 neuron) at (1,0);
    #   B: core 2 at (0,1); C: core 3 at (1,1)
    graph = three_layer_graph()
    result = always_on_run(graph)
    chip = _small_mesh_chip()
    mapping = map_to_cores(graph, chip)
    assert [mapping.position(c) for c in range(4)] == [(0, 0), (1, 0), (0, 1), (1, 1)]
    report = estimate_energy(graph, result, chip, mapping)
    steps = S * T
    # A per step: 3 spikes × 2 destination cores = 6 messages.
    #   core 0 → (0,1): 0 E-W + 1 N-S, → (1,1): 1 + 1; 2 spikes: 2 E-W, 4 N-S
    #   core 1 → (0,1): 1 + 1, → (1,1): 0 + 1;          1 spike: 1 E-W, 2 N-S
    # B per step: 2 spikes × 1 core (C) = 2 messages, (0,1) → (1,1): 1 E-W each.
    a, b, c = report.layer("A"), report.layer("B"), report.layer("C")
    assert (a.messages, a.hops_east_west, a.hops_north_south) == (6 * steps, 3 * steps, 6 * steps)
    assert (b.messages, b.hops_east_west, b.hops_north_south) == (2 * steps, 2 * steps, 0)
    assert (c.messages, c.hops_east_west, c.hops_north_south) == (0, 0, 0)
    d = DAVIES
    expected_pj = steps * (
        (6 + 6 + 5) * d["synaptic_op"]  # 2·3 graded input ops into A; 6 into B; 5 into C
        + (3 + 2 + 1) * d["active"]     # every update active (the default)
        + (6 + 2) * d["within_tile"]    # messages; no separate spike energy in Table 2
        + (3 + 2) * d["hop_ew"] + 6 * d["hop_ns"]
    )
    assert report.energy_j == pytest.approx(expected_pj * PJ, rel=1e-12)
    assert (a.cores, b.cores, c.cores) == (2, 1, 1)


def test_active_updates_from_inputs_and_spikes():
    # Input only in step 0: A, B and C get input and spike in step 0 and sit idle after;
    # C has a bias (-1: it never fires from it), so it counts active in every step.
    graph = three_layer_graph(c_bias=-1)
    x = np.zeros((S, T, 2), np.int64)
    x[:, 0] = 1
    result = simulate(graph, x)
    assert [result.count(n).spikes for n in "ABC"] == [3 * S, 2 * S, 1 * S]
    davies = load_chip("loihi-davies2018")
    report = estimate_energy(graph, result, davies, active_updates="input_or_spike")
    expected_active = {"A": 3 * S, "B": 2 * S, "C": 1 * S * T}
    for name, n in expected_active.items():
        layer = report.layer(name)
        assert layer.neuron_updates_active == n
        assert layer.neuron_updates_inactive == layer.neurons * S * T - n
    d = DAVIES
    expected_pj = (
        (S * 6 + S * 6 + S * 5) * d["synaptic_op"]
        + (3 * S + 2 * S + S * T) * d["active"]
        + ((3 * (T - 1) + 2 * (T - 1)) * S) * d["inactive"]
        + (3 * S * 2 + 2 * S) * d["within_tile"]
    )
    assert report.energy_j == pytest.approx(expected_pj * PJ, rel=1e-12)
    everything_active = estimate_energy(graph, result, load_chip("loihi-davies2018"))
    assert everything_active.layer("A").neuron_updates_active == 3 * S * T
    assert everything_active.energy_j > report.energy_j


def test_a_neuron_that_spikes_without_input_counts_active():
    # du = 0 keeps the current: input only in step 0 gives u = 2 << 6 = 128 and v = 128 ≤ 3 << 6;
    # in step 1 v = 128 + 127 = 255 > 192: a spike with no input in that step; step 2 idle.
    z = np.zeros(1, np.int64)
    pop = IntPopulation("D", (1,), [Projection(INPUT, "dense", np.ones((1, 2), np.int64), (2,))],
                        dv=z, du=z, vth=z + 3, bias_mant=z, bias_exp=0, v_scale=1.0)
    graph = QGraph(input_shape=(2,), populations=[pop], output="D")
    x = np.zeros((S, T, 2), np.int64)
    x[:, 0] = 1
    result = simulate(graph, x)
    assert result.spikes_per_step["D"][:, 0].tolist() == [0, S, 0]
    davies = load_chip("loihi-davies2018")
    report = estimate_energy(graph, result, davies, active_updates="input_or_spike")
    assert report.layer("D").neuron_updates_active == 2 * S  # steps 0 (input) and 1 (spike)
    assert report.layer("D").neuron_updates_inactive == S


def test_ann_baseline_counts_one_mac_per_synapse():
    # conv 1 → 2 channels, 3x3, padding 1 on 4x4: taps inside the input per output position are
    # 4 (corners), 6 (edges), 9 (inside): 4·4 + 8·6 + 4·9 = 100 per channel pair → 200 MACs;
    # then dense 32 → 10: 320 MACs.
    conv = Projection(INPUT, "conv", np.ones((2, 1, 3, 3), np.int64), (1, 4, 4), padding=1)
    dense = Projection("conv", "dense", np.ones((10, 32), np.int64), (2, 4, 4))

    def pop(name, shape, proj):
        z = np.zeros(shape, np.int64)
        return IntPopulation(name, shape, [proj], dv=z, du=z + 4095, vth=z, bias_mant=z, bias_exp=0,
                             v_scale=1.0)

    graph = QGraph(input_shape=(1, 4, 4), populations=[pop("conv", (2, 4, 4), conv),
                                                       pop("fc", (10,), dense)], output="fc")
    base = ann_baseline(graph, load_chip("loihi"))
    assert base.rows[0].terms[0].ops_per_inference == 520
    assert base.energy_j_per_inference == pytest.approx(520 * HOROWITZ["fp32_mac"] * PJ)
    assert base.rows[1].energy_j_per_inference == pytest.approx(520 * HOROWITZ["int8_mac"] * PJ)


def test_snn_on_45nm_costs_input_macs_and_accumulates():
    graph = three_layer_graph()
    report = estimate_energy(graph, always_on_run(graph), load_chip("loihi"))
    macs, acs = T * 6, T * (6 + 5)  # per inference
    assert report.snn_45nm.energy_j_per_inference == pytest.approx(
        (macs * HOROWITZ["fp32_mac"] + acs * HOROWITZ["fp32_add"]) * PJ)
    assert report.snn_45nm.rows[1].energy_j_per_inference == pytest.approx(
        (macs * HOROWITZ["int8_mac"] + acs * HOROWITZ["int8_add"]) * PJ)


def test_estimate_energy_rejects_a_result_of_another_graph():
    graph = three_layer_graph()
    result = always_on_run(graph)
    result.counts = result.counts[:2]
    with pytest.raises(ValueError, match="do not match"):
        estimate_energy(graph, result, load_chip("loihi"))
    with pytest.raises(ValueError, match="active_updates"):
        estimate_energy(graph, always_on_run(graph), load_chip("loihi"), active_updates="some")


# --- chip profiles -------------------------------------------------------------------------

def test_bundled_profiles_hold_the_published_constants():
    assert {"loihi", "loihi-davies2018"} <= set(available_chips())
    loihi, davies = load_chip("loihi"), load_chip("loihi-davies2018")
    assert loihi.event_energy_pj("synaptic_op") == 35.5
    assert loihi.event_energy_pj("neuron_update_active") == pytest.approx(51.2 + 21.6)
    assert loihi.event_energy_pj("neuron_update_inactive") == 51.2
    assert loihi.event_energy_pj("spike") == 69.3
    assert loihi.event_energy_pj("message") == 111.0
    assert loihi.event_energy_pj("hop_east_west") == 3.0
    assert loihi.event_energy_pj("hop_north_south") == 4.2
    assert loihi.time_ns["synapse"] == 3.8 and loihi.time_ns["spike_out"] == 30.0
    assert [davies.event_energy_pj(e) for e in ("synaptic_op", "neuron_update_active",
            "neuron_update_inactive", "spike", "message", "hop_east_west", "hop_north_south")] == \
        [23.6, 81.0, 52.0, 0.0, 1.7, 3.0, 4.0]
    assert davies.time_ns["barrier_sync_min"] == 113.0
    assert davies.time_ns["barrier_sync_max"] == 465.0
    assert davies.time_ns["neuron_update_inactive"] == 5.3
    for chip in (loihi, davies):
        assert chip.neurons_per_core == 1024 and chip.cores_per_chip == 128
        assert (chip.tiles_x, chip.tiles_y, chip.cores_per_tile) == (8, 4, 4)
        assert chip.baseline_45nm_pj == HOROWITZ
        assert set(chip.sources()) == set(chip.constants())
        assert all(s.strip() for s in chip.sources().values())
    assert "Davies" in davies.sources()["energy_pj.synaptic_op"]
    assert "SANA-FE" in loihi.sources()["energy_pj.synapse"]


def _loihi_data():
    return json.loads(Path(load_chip("loihi").path).read_text())


@pytest.mark.parametrize("edit, key", [
    (drop("neurons_per_core"), "neurons_per_core"),
    (drop("name"), "name"),
    (drop("mesh", "tiles_y"), "mesh.tiles_y"),
    (drop("baseline_45nm", "int8_add"), "baseline_45nm.int8_add"),
    (set_to(-1.0, "energy_pj", "axon_out", "value"), "energy_pj.axon_out.value"),
    (set_to("12", "energy_pj", "axon_out", "value"), "energy_pj.axon_out.value"),
    (set_to(math.inf, "time_ns", "synapse", "value"), "time_ns.synapse.value"),
    (set_to(2.5, "mesh", "cores_per_tile", "value"), "mesh.cores_per_tile.value"),
    (set_to(0, "neurons_per_core", "value"), "neurons_per_core.value"),
    (drop("energy_pj", "spike_out", "source"), "energy_pj.spike_out.source"),
    (set_to("  ", "baseline_45nm", "fp32_mac", "source"), "baseline_45nm.fp32_mac.source"),
    (set_to(35.5, "energy_pj", "synapse"), "energy_pj.synapse"),
    (drop("cost_model", "message"), "cost_model.message"),
    (set_to({"sum_of": ["nope"]}, "cost_model", "spike"), "cost_model.spike.sum_of"),
    (set_to({"sum_of": []}, "cost_model", "synaptic_ops"), "cost_model.synaptic_ops"),
])
def test_a_bad_user_chip_file_names_the_key(tmp_path, edit, key):
    data = _loihi_data()
    edit(data)
    path = tmp_path / "mychip.json"
    path.write_text(json.dumps(data))  # json writes inf as Infinity, which json.loads reads back
    with pytest.raises(ChipProfileError) as err:
        load_chip(path)
    message = str(err.value)
    assert key in message and "\n" not in message and "mychip.json" in message
    assert isinstance(err.value, ValueError)


def test_a_good_user_chip_file_loads(tmp_path):
    data = _loihi_data()
    data["name"] = "my-loihi"
    data["energy_pj"]["synapse"] = {"value": 10, "source": "my measurement"}
    path = tmp_path / "my.json"
    path.write_text(json.dumps(data))
    chip = load_chip(str(path))
    assert chip.name == "my-loihi" and chip.path == str(path)
    assert chip.event_energy_pj("synaptic_op") == 10.0
    assert chip.sources()["energy_pj.synapse"] == "my measurement"


def test_derive_chip_replaces_only_what_it_is_given():
    base = load_chip("loihi")
    small = derive_chip("loihi", neurons_per_core=96, tiles_x=3)
    assert (small.neurons_per_core, small.tiles_x) == (96, 3)
    assert (small.tiles_y, small.cores_per_tile) == (base.tiles_y, base.cores_per_tile)
    assert small.energy_pj == base.energy_pj and small.limits == base.limits
    assert small.barrier_sync_ns == base.barrier_sync_ns
    unlimited = derive_chip("loihi", limits={}, power={"static_w": 0.5})
    assert unlimited.limits == {} and unlimited.power_w == {"static_w": 0.5}
    with pytest.raises(ChipProfileError, match="neurons_per_core"):
        derive_chip("loihi", neurons_per_core=0)


def test_unknown_chip_and_unreadable_file(tmp_path):
    with pytest.raises(ChipProfileError, match="loihi-davies2018"):
        load_chip("truenorth")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ChipProfileError, match="bad.json"):
        load_chip(bad)
    with pytest.raises(ChipProfileError, match="a chip profile must be a JSON object"):
        parse_chip(copy.deepcopy([1, 2]))


def test_energy_modules_import_without_torch_or_the_training_packages():
    code = ("import sys, hardware_sim.chips, hardware_sim.cost.mapping, hardware_sim.cost.energy, "
            "hardware_sim.report; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'dalif', 'export', 'matplotlib')]; print(bad); sys.exit(1 if bad else 0)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
