"""The cycle model: per timestep and core, how long each core worked and how long the
step took, on a mapped chip.

Input: the events of a run counted per (step, core) by ``events.count_events`` (synaptic
and graded input ops, active and inactive neuron updates, spikes, messages out and in,
hops, the routes of each step: its module docstring says how each is counted), the
same counts the energy model prices, and the chip profile.

Time (profile ``cycle_model``: ns per event; ``barrier_sync_ns`` table):

    work[t, c]  = Σ_event count[t, c] · t_event              (event ∈ core-local events)
                  (default ``core_phases="overlapped"``: max(neuron phase, synaptic phase),
                  where the neuron phase is updates + spikes + messages out and the
                  synaptic phase is synaptic and graded ops + messages in: SANA-FE's
                  hardware-calibrated Loihi timing, which runs a core's spike generation
                  and its incoming-message processing concurrently; ``"serial"`` adds
                  them, an upper bound)
    network[t]  = the longest route a message of step t takes: Σ hops · t_hop
    step[t]     = max_c work[t, c] + network[t] + barrier(tiles in use)
    latency     = Σ_t step[t]  per inference;  throughput = 1 / latency (one inference at a time)

The neuron updates are split active / inactive by the counter's ``"input_or_spike"``
rule (an active update takes longer than an idle one).

What the model leaves out: a receiving core that idles while the messages it waits for
are still being generated, and NoC congestion. It equals SANA-FE's simple timing plus
the longest route; SANA-FE's detailed timing, which estimates both, is up to ~10% slower
where a layer spreads over many small cores (tests/sanafe, benchmarks/sanafe_vs_ours.py).

Energy is not computed here: ``energy.price_energy`` prices the same counts
(``CycleReport.energy``, with ``active_updates="input_or_spike"``, for callers that
want time and energy of one run together); the cycle model adds only the static
energy, static power × latency (where the profile gives ``power.static_w``).

Samples. The run records its per-step, per-neuron activity summed over samples, so
the counts are run totals, and per inference they are the totals / samples. The time
of a step is taken on the mean work per core (max over cores of the per-sample
average), which is a lower bound of the mean over samples of each sample's busiest
core; ``cycle_model_per_sample`` simulates every sample alone for the exact per-sample
latencies (slower).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from hardware_sim.chips import ChipProfile
from hardware_sim.cost.energy import EnergyReport, price_energy
from hardware_sim.cost.events import COUNTERS, EventCounts, count_events
from hardware_sim.cost.mapping import Mapping, map_to_cores
from hardware_sim.ir.graph import QGraph

if TYPE_CHECKING:
    from hardware_sim.results import SimulationResult

NS = 1e-9

CORE_EVENTS = ("synaptic_op", "graded_input_op", "neuron_update_active", "neuron_update_inactive",
               "spike", "message_out", "message_in")
"""The events that take time on a core; hops take time on the network."""

NEURON_PHASE = ("updates_active", "updates_inactive", "spikes", "messages_out")
SYNAPTIC_PHASE = ("synaptic_ops", "graded_input_ops", "messages_in", "join_ops")
CORE_PHASES = ("serial", "overlapped")
"""How a core's two phases of work combine into its step time (module docstring)."""

_TIME_EVENT = {"synaptic_ops": "synaptic_op", "graded_input_ops": "graded_input_op",
               "updates_active": "neuron_update_active",
               "updates_inactive": "neuron_update_inactive", "spikes": "spike",
               "messages_out": "message_out", "messages_in": "message_in",
               "hops_east_west": "hop_east_west", "hops_north_south": "hop_north_south",
               "join_ops": "synaptic_op"}
"""Counter (``events.COUNTERS``) → the time event (``chips.TIME_EVENTS``) that times it: a
join op (a split population's partial sum arriving at its soma) takes a synaptic op's time."""


@dataclass
class CycleReport:
    """The time of a run per (step, core), from its counted events (run totals over all
    samples), and the static energy over that time."""

    chip: str
    samples: int
    timesteps: int
    cores: int
    tiles: int
    events: EventCounts
    work_ns: np.ndarray
    """(T, cores): a core's work per inference in step t."""
    network_ns: np.ndarray
    barrier_ns: float
    static_energy_j: float
    """Static power × latency, per inference (0 where the profile gives no static power)."""
    profile: ChipProfile = field(repr=False)
    notes: list[str] = field(default_factory=list)
    core_phases: str = "overlapped"

    @property
    def counts(self) -> dict[str, np.ndarray]:
        """counter name (``events.COUNTERS``) → (T, cores) int64 run totals."""
        return self.events.counts

    @property
    def core_population(self) -> list[str]:
        return self.events.core_population

    @property
    def step_ns(self) -> np.ndarray:
        """(T,) time of each step per inference: busiest core + network + barrier."""
        busiest = self.work_ns.max(axis=1) if self.cores else np.zeros(self.timesteps)
        return busiest + self.network_ns + self.barrier_ns

    @property
    def latency_s(self) -> float:
        """Time of one inference (all T steps)."""
        return float(self.step_ns.sum()) * NS

    @property
    def throughput_per_s(self) -> float:
        return 1.0 / self.latency_s if self.latency_s > 0 else float("inf")

    @cached_property
    def energy(self) -> EnergyReport:
        """The energy model's pricing of the same counts (``active_updates="input_or_spike"``,
        the split the time takes), without static energy."""
        return price_energy(self.events, self.profile, active_updates="input_or_spike")

    @property
    def energy_j_by_event(self) -> dict[str, float]:
        """Run totals (all samples) by energy event, from ``energy``."""
        return self.energy.totals()["energy_j_by_op"]

    @property
    def energy_j_per_inference(self) -> float:
        """``energy``'s dynamic energy per inference + the static energy."""
        return self.energy.energy_j_per_inference + self.static_energy_j

    def totals(self) -> dict[str, int]:
        return {k: int(v.sum()) for k, v in self.counts.items()}

    def core_load(self) -> np.ndarray:
        """(T, cores) work per inference as a fraction of the step's busiest core."""
        peak = self.work_ns.max(axis=1, keepdims=True)
        return np.divide(self.work_ns, peak, out=np.zeros_like(self.work_ns), where=peak > 0)

    def to_dict(self) -> dict:
        steps = self.step_ns
        busiest = self.work_ns.argmax(axis=1) if self.cores else np.zeros(0, int)
        core_population = self.core_population
        return {
            "chip": self.chip,
            "samples": self.samples,
            "timesteps": self.timesteps,
            "cores": self.cores,
            "tiles": self.tiles,
            "latency_s": self.latency_s,
            "core_phases": self.core_phases,
            "throughput_inferences_per_s": self.throughput_per_s,
            "static_energy_j_per_inference": self.static_energy_j,
            "per_step": [
                {"step": t, "time_ns": float(steps[t]),
                 "busiest_core": int(busiest[t]) if self.cores else None,
                 "busiest_core_ns": float(self.work_ns[t].max()) if self.cores else 0.0,
                 "network_ns": float(self.network_ns[t]), "barrier_ns": self.barrier_ns}
                for t in range(self.timesteps)
            ],
            "per_core": [
                {"core": c, "population": core_population[c],
                 "work_ns_per_inference": float(self.work_ns[:, c].sum()),
                 **{k: self.counts[k][:, c].sum() / self.samples for k in COUNTERS}}
                for c in range(self.cores)
            ],
            "work_ns_per_step_core": self.work_ns.tolist(),
            "totals": self.totals(),
            "notes": list(self.notes),
        }


def cycle_model(graph: QGraph, result: SimulationResult, chip: ChipProfile,
                mapping: Mapping | None = None, *, core_phases: str = "overlapped",
                inputs: np.ndarray | None = None) -> CycleReport:
    """Count the events of ``result`` per (step, core) (``count_events``) and time them
    on ``chip`` (``time_events``).

    ``core_phases``: ``"overlapped"`` (the larger of a core's neuron phase and its
    synaptic phase, as SANA-FE times Loihi; the default) or ``"serial"`` (the sum of all
    its events, an upper bound).
    ``inputs``: the run's integer inputs (N, T, *input_shape); when given, every non-zero
    input value is also a message into each core holding one of its targets
    (``messages_in``: the receiving core's axon-in time, as SANA-FE charges an input
    spike); it has no sender on the mesh, so no message-out energy and no hops."""
    _check(chip, core_phases)
    if result.samples < 1:
        raise ValueError("the run has no samples")
    mapping = mapping if mapping is not None else map_to_cores(graph, chip)
    events = count_events(graph, mapping, result, inputs=inputs)
    return time_events(events, chip, core_phases=core_phases)


def time_events(events: EventCounts, chip: ChipProfile, *, core_phases: str = "overlapped"
                ) -> CycleReport:
    """Per-step, per-core time of counted events on ``chip`` (module docstring)."""
    _check(chip, core_phases)
    counts, samples = events.counts, events.samples
    shape = (events.timesteps, events.cores)

    def phase(names: tuple[str, ...]) -> np.ndarray:
        return sum((counts[name] / samples * chip.event_time_ns(_TIME_EVENT[name])
                    for name in names), np.zeros(shape))

    if core_phases == "serial":
        work = phase(NEURON_PHASE + SYNAPTIC_PHASE)
    else:
        work = np.maximum(phase(NEURON_PHASE), phase(SYNAPTIC_PHASE))
    hop_ns = (chip.event_time_ns("hop_east_west"), chip.event_time_ns("hop_north_south"))
    tiles = events.mapping.tiles
    report = CycleReport(
        chip=chip.name, samples=samples, timesteps=events.timesteps, cores=events.cores,
        tiles=tiles, events=events, work_ns=work, network_ns=events.longest_route_ns(hop_ns),
        barrier_ns=chip.barrier_ns(tiles), static_energy_j=0.0, profile=chip,
        notes=_notes(chip) + ([
            "Core phases overlapped: a core's step work is the larger of its neuron phase "
            "(updates, spikes, messages out) and its synaptic phase (synaptic ops, messages "
            "in), as SANA-FE times Loihi."] if core_phases == "overlapped" else []),
        core_phases=core_phases,
    )
    report.static_energy_j = chip.power_w.get("static_w", 0.0) * report.latency_s
    return report


def _check(chip: ChipProfile, core_phases: str) -> None:
    if core_phases not in CORE_PHASES:
        raise ValueError(f"core_phases must be one of {CORE_PHASES}, got {core_phases!r}")
    if not chip.has_cycle_model:
        raise ValueError(f"chip {chip.name!r}: the profile has no cycle_model section")


@dataclass
class PerSampleLatency:
    """Latency of every sample simulated alone (exact per-sample busiest cores), and its
    energy (``CycleReport.energy_j_per_inference``: the energy model's price of the same
    counts, plus static energy)."""

    latency_s: np.ndarray
    energy_j: np.ndarray

    def to_dict(self) -> dict:
        return {"samples": int(self.latency_s.size),
                "latency_s_mean": float(self.latency_s.mean()),
                "latency_s_min": float(self.latency_s.min()),
                "latency_s_max": float(self.latency_s.max()),
                "energy_j_mean": float(self.energy_j.mean())}


def cycle_model_per_sample(graph: QGraph, inputs: np.ndarray, chip: ChipProfile,
                           mapping: Mapping | None = None, **simulate_kwargs) -> PerSampleLatency:
    """Simulate each sample of ``inputs`` (N, T, ...) alone and run the cycle model on it."""
    from hardware_sim.engine import simulate  # torch: only when asked for

    mapping = mapping if mapping is not None else map_to_cores(graph, chip)
    latency, energy = [], []
    for i in range(len(inputs)):
        report = cycle_model(graph, simulate(graph, inputs[i:i + 1], **simulate_kwargs), chip,
                             mapping)
        latency.append(report.latency_s)
        energy.append(report.energy_j_per_inference)
    return PerSampleLatency(np.asarray(latency), np.asarray(energy))


def _notes(chip: ChipProfile) -> list[str]:
    notes = [
        "Step time = busiest core's work + the longest message route + barrier sync; the work "
        "per core is the per-sample mean (run totals / samples), so the busiest-core time is a "
        "lower bound of the per-sample mean (cycle_model_per_sample gives it exactly).",
        "Latency = Σ over the run's T steps, one inference at a time (no pipelining of "
        "samples); throughput = 1 / latency.",
        "Neuron updates are active when the neuron got input, spiked or has a bias (exact for "
        "one sample, an upper bound of the rule otherwise).",
    ]
    if "static_w" not in chip.power_w:
        notes.append("The chip profile gives no static power: energy is dynamic only.")
    return notes
