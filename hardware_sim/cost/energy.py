"""Energy of a simulated run on a chip profile, and the non-neuromorphic baselines.

``events.count_events`` counts what every core did in every step; a chip profile
prices the events (``chips.EVENTS``) through its cost model. Per population p, over
the whole run (all samples, all steps, p's cores):

    E_p = Σ_event n_p[event] · E_chip[event]

with n_p the counter of ``count_events`` (its module docstring says how each is
counted) that prices each event:

================  ===========================================================
event             priced count
================  ===========================================================
synaptic_op       ``synaptic_ops``: 1-bit spikes arriving × their fan-out
graded_input_op   ``graded_input_ops`` (``input_macs`` here): non-zero graded
                  input values × their fan-out (the input layer). Costed like
                  one synaptic op each, as a Loihi 2 graded spike, whose payload
                  scales the weight in the same synapse pass; Loihi 1 has no
                  graded spikes (it would feed the image as a bias or as
                  several spikes), so there this is a lower bound
neuron_update_*   ``updates_active`` / ``updates_inactive`` under
                  ``active_updates``: ``"all"`` (default): every update active,
                  an upper bound; ``"input_or_spike"``: the counter's rule (a
                  neuron that received input, spiked or has a bias)
spike             ``spikes``: neurons firing
message           ``messages_out``: one per spike per destination core. Spikes
                  of the output population leave the chip and are not costed;
                  nor is the delivery of the network input (``messages_in``)
hop_east_west     ``hops_east_west``: per message, |Δx| between the source and
hop_north_south   destination tiles, and ``hops_north_south``: |Δy|
================  ===========================================================

A population split into compartment groups (``split.py``) is priced on all its cores: its
groups' compartment updates are neuron updates (a compartment update each), its join's
messages and hops are messages and hops, and each partial arriving at a soma
(``join_ops``) is priced as one synaptic op (a graded spike through one synapse).

Not included: static (leakage) power (the cycle model prices it with the latency),
barrier synchronisation, host I/O.

Baselines (45 nm CMOS, Horowitz ISSCC 2014, from the profile's ``baseline_45nm``):
- ``ann_baseline``: the same network as a non-spiking ANN, evaluated once per
  inference: MACs = Σ over projections of their synapses (``Projection.synapses``,
  conv taps that fall inside the input), × fp32 MAC (and a second row × int8 MAC);
  sum-pool additions and activations are not counted.
- ``snn_baseline_45nm``: the SNN's own operations on a 45 nm digital accelerator:
  graded input ops × MAC + synaptic ops × AC (add), in fp32 and in int8.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hardware_sim.chips import EVENTS, ChipProfile
from hardware_sim.cost.events import EventCounts, check_active_updates, count_events
from hardware_sim.cost.mapping import Mapping, map_to_cores
from hardware_sim.ir.graph import QGraph

if TYPE_CHECKING:  # annotations only: the energy model never needs the engine (or torch)
    from hardware_sim.results import SimulationResult

PJ = 1e-12


@dataclass
class LayerEnergy:
    """What one population did over the whole run (all samples, all steps) and what it cost."""

    name: str
    neurons: int
    cores: int
    spikes: int
    synaptic_ops: int
    input_macs: int
    neuron_updates: int
    neuron_updates_active: int
    neuron_updates_inactive: int
    messages: int
    hops_east_west: int
    hops_north_south: int
    compartments: int = 0
    """Neurons, plus a split population's group compartments (``neuron_updates`` counts them all)."""
    join_ops: int = 0
    """Partial sums of the compartment groups arriving at the somas (priced as synaptic ops)."""
    energy_j_by_op: dict[str, float] = field(default_factory=dict)

    @property
    def events(self) -> dict[str, int]:
        """The count of every costed event (``chips.EVENTS``)."""
        return {
            "synaptic_op": self.synaptic_ops + self.join_ops,
            "graded_input_op": self.input_macs,
            "neuron_update_active": self.neuron_updates_active,
            "neuron_update_inactive": self.neuron_updates_inactive,
            "spike": self.spikes,
            "message": self.messages,
            "hop_east_west": self.hops_east_west,
            "hop_north_south": self.hops_north_south,
        }

    @property
    def energy_j(self) -> float:
        return float(sum(self.energy_j_by_op.values()))

    def to_dict(self, samples: int) -> dict:
        counts = {k: getattr(self, k) for k in _COUNT_FIELDS}
        return {
            "name": self.name,
            "neurons": self.neurons,
            "compartments": self.compartments,
            "cores": self.cores,
            **counts,
            "energy_j": self.energy_j,
            "energy_j_per_inference": self.energy_j / samples,
            "energy_j_by_op": dict(self.energy_j_by_op),
            "per_inference": {
                **{k: v / samples for k, v in counts.items()},
                "energy_j": self.energy_j / samples,
                "energy_j_by_op": {k: v / samples for k, v in self.energy_j_by_op.items()},
            },
        }


_COUNT_FIELDS = (
    "spikes", "synaptic_ops", "input_macs", "neuron_updates", "neuron_updates_active",
    "neuron_updates_inactive", "messages", "hops_east_west", "hops_north_south", "join_ops",
)


@dataclass(frozen=True)
class BaselineTerm:
    """ops_per_inference operations of kind ``op`` (a ``baseline_45nm`` constant) at pj_per_op."""

    op: str
    ops_per_inference: float
    pj_per_op: float

    @property
    def energy_j_per_inference(self) -> float:
        return self.ops_per_inference * self.pj_per_op * PJ


@dataclass(frozen=True)
class BaselineRow:
    label: str
    terms: tuple[BaselineTerm, ...]

    @property
    def energy_j_per_inference(self) -> float:
        return float(sum(t.energy_j_per_inference for t in self.terms))

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "energy_j_per_inference": self.energy_j_per_inference,
            "terms": [
                {"op": t.op, "ops_per_inference": t.ops_per_inference, "pj_per_op": t.pj_per_op,
                 "energy_j_per_inference": t.energy_j_per_inference}
                for t in self.terms
            ],
        }


@dataclass(frozen=True)
class BaselineEnergy:
    """A non-neuromorphic reference; its headline (``energy_j_per_inference``) is the fp32 row."""

    name: str
    description: str
    rows: tuple[BaselineRow, ...]

    @property
    def energy_j_per_inference(self) -> float:
        return self.rows[0].energy_j_per_inference

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "energy_j_per_inference": self.energy_j_per_inference,
            "rows": [r.to_dict() for r in self.rows],
        }


@dataclass
class EnergyReport:
    """Per-population energy of a run on one chip, totals, and the 45 nm SNN estimate."""

    chip: str
    samples: int
    timesteps: int
    active_updates: str
    layers: list[LayerEnergy]
    snn_45nm: BaselineEnergy
    notes: list[str] = field(default_factory=list)

    @property
    def energy_j(self) -> float:
        """Energy of the whole run (all samples)."""
        return float(sum(layer.energy_j for layer in self.layers))

    @property
    def energy_j_per_inference(self) -> float:
        return self.energy_j / self.samples

    def layer(self, name: str) -> LayerEnergy:
        return next(layer for layer in self.layers if layer.name == name)

    def totals(self) -> dict:
        """Sums over populations: every count, energy and energy by op, run and per inference."""
        counts = {k: int(sum(getattr(layer, k) for layer in self.layers)) for k in _COUNT_FIELDS}
        by_op = {e: float(sum(layer.energy_j_by_op[e] for layer in self.layers)) for e in EVENTS}
        return {
            "neurons": int(sum(layer.neurons for layer in self.layers)),
            "compartments": int(sum(layer.compartments for layer in self.layers)),
            "cores": int(sum(layer.cores for layer in self.layers)),
            **counts,
            "energy_j": self.energy_j,
            "energy_j_by_op": by_op,
            "energy_j_per_inference": self.energy_j_per_inference,
            "per_inference": {
                **{k: v / self.samples for k, v in counts.items()},
                "energy_j": self.energy_j_per_inference,
                "energy_j_by_op": {k: v / self.samples for k, v in by_op.items()},
            },
        }

    def to_dict(self) -> dict:
        return {
            "chip": self.chip,
            "samples": self.samples,
            "timesteps": self.timesteps,
            "active_updates": self.active_updates,
            "layers": [layer.to_dict(self.samples) for layer in self.layers],
            "totals": self.totals(),
            "snn_45nm": self.snn_45nm.to_dict(),
            "notes": list(self.notes),
        }


def estimate_energy(
    graph: QGraph,
    result: SimulationResult,
    chip: ChipProfile,
    mapping: Mapping | None = None,
    *,
    active_updates: str = "all",
) -> EnergyReport:
    """Cost ``result`` (a run of ``graph``) on ``chip``: ``count_events``, then
    ``price_energy``; see the module docstring for the rules.

    ``mapping`` defaults to ``map_to_cores(graph, chip)``. The result must carry
    ``spikes_per_step`` and ``synaptic_events_per_step`` for every population, as
    ``simulate`` fills them.
    """
    check_active_updates(active_updates)
    mapping = mapping if mapping is not None else map_to_cores(graph, chip)
    return price_energy(count_events(graph, mapping, result), chip, active_updates=active_updates)


def price_energy(events: EventCounts, chip: ChipProfile, *, active_updates: str = "all"
                 ) -> EnergyReport:
    """Price the counted events of a run on ``chip``: per population (its cores), every
    event's count × its energy, and the 45 nm SNN estimate of the same operations."""
    check_active_updates(active_updates)
    energy_pj = {e: chip.event_energy_pj(e) for e in EVENTS}
    layers = []
    for placement in events.mapping.populations:
        n = events.population_totals(placement.name, active_updates)
        layer = LayerEnergy(
            name=placement.name, neurons=placement.neurons, cores=len(placement.all_cores),
            compartments=placement.compartments, join_ops=n["join_ops"],
            spikes=n["spikes"], synaptic_ops=n["synaptic_ops"], input_macs=n["graded_input_ops"],
            neuron_updates=n["updates_active"] + n["updates_inactive"],
            neuron_updates_active=n["updates_active"],
            neuron_updates_inactive=n["updates_inactive"], messages=n["messages_out"],
            hops_east_west=n["hops_east_west"], hops_north_south=n["hops_north_south"],
        )
        layer.energy_j_by_op = {e: count * energy_pj[e] * PJ for e, count in layer.events.items()}
        layers.append(layer)
    return EnergyReport(
        chip=chip.name, samples=events.samples, timesteps=events.timesteps,
        active_updates=active_updates, layers=layers,
        snn_45nm=snn_baseline_45nm(events, chip),
        notes=_notes(active_updates, events.mapping),
    )


def ann_baseline(graph: QGraph, chip: ChipProfile) -> BaselineEnergy:
    """The network as a non-spiking ANN, once per inference: Σ synapses MACs at 45 nm."""
    macs = float(sum(p.synapses for pop in graph.populations for p in pop.projections))
    b = chip.baseline_45nm_pj
    return BaselineEnergy(
        name="ANN, 45 nm CMOS",
        description="the same layers as a non-spiking ANN evaluated once per inference: one MAC "
                    "per synapse (Σ Projection.synapses); pooling and activations not counted",
        rows=(
            BaselineRow("ANN fp32 (45 nm)", (BaselineTerm("fp32_mac", macs, b["fp32_mac"]),)),
            BaselineRow("ANN int8 (45 nm)", (BaselineTerm("int8_mac", macs, b["int8_mac"]),)),
        ),
    )


def snn_baseline_45nm(events: EventCounts, chip: ChipProfile) -> BaselineEnergy:
    """The SNN's operations on a 45 nm digital accelerator: input MACs × MAC + synaptic ops × AC."""
    totals = events.totals()
    macs = totals["graded_input_ops"] / events.samples
    acs = totals["synaptic_ops"] / events.samples
    b = chip.baseline_45nm_pj
    return BaselineEnergy(
        name="SNN, 45 nm CMOS",
        description="the SNN's own work per inference: graded input ops as MACs, "
                    "synaptic ops (1-bit spikes × fan-out) as accumulates",
        rows=(
            BaselineRow("SNN fp32 (45 nm)", (BaselineTerm("fp32_mac", macs, b["fp32_mac"]),
                                             BaselineTerm("fp32_add", acs, b["fp32_add"]))),
            BaselineRow("SNN int8 (45 nm)", (BaselineTerm("int8_mac", macs, b["int8_mac"]),
                                             BaselineTerm("int8_add", acs, b["int8_add"]))),
        ),
    )


def _notes(active_updates: str, mapping: Mapping) -> list[str]:
    notes = [
        "Graded input values (the input layer) are costed as one graded_input_op per non-zero "
        "value per synapse it reaches, as a Loihi 2 graded spike (a lower bound for Loihi 1, "
        "which has no graded spikes).",
        "All neuron updates are counted active (an upper bound)." if active_updates == "all" else
        "A neuron update is active when the neuron received input, spiked or has a bias; per "
        "(step, neuron) at most min(samples, inputs + spikes) samples count as active (exact for "
        "one sample, an upper bound of the rule otherwise).",
        "One message per spike per core that holds one of its targets (exact for dense and conv "
        "projections); output spikes leaving the chip and the delivery of the input are not "
        "costed.",
        "Hops: dimension-order routing, |dx| east-west plus |dy| north-south tile hops per "
        "message.",
        "Not included: static power, barrier synchronisation, host I/O.",
    ]
    return notes + mapping.notes
