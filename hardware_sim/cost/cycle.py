"""The cycle model: per timestep and core, what each core did, how long the step took,
and what it cost, on a mapped chip.

Input: a functional run (``engine.simulate``) of a QGraph, its ``Mapping`` and the chip
profile. For step t and core c (the neurons the mapping put on c):

    synaptic_ops[t, c]      1-bit spikes arriving at c's neurons × synapses
                            (Σ of ``synaptic_events_per_step`` over c's neurons)
    graded_input_ops[t, c]  the same for graded inputs (populations fed by the input)
    updates_active[t, c]    neurons that got input, spiked or have a bias (rule of
                            energy's ``active_updates="input_or_spike"``)
    updates_inactive[t, c]  the rest of c's neurons
    spikes[t, c]            c's neurons that fired
    messages_out[t, c]      spikes × the cores holding their targets (mapping.spike_traffic)
    messages_in[t, c]       messages arriving at c (and, given the run's ``inputs``, the
                            non-zero graded inputs reaching c's neurons)
    hops_*[t, c]            tile boundaries c's messages cross (XY routing)

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

What the model leaves out: a receiving core that idles while the messages it waits for
are still being generated, and NoC congestion. It equals SANA-FE's simple timing plus
the longest route; SANA-FE's detailed timing, which estimates both, is up to ~10% slower
where a layer spreads over many small cores (tests/sanafe, benchmarks/sanafe_vs_ours.py).

Energy: Σ count × energy per event (the profile's ``cost_model``) + static power × latency
(where the profile gives ``power.static_w``).

Samples. The run records its per-step, per-neuron activity summed over samples, so
``cycle_model`` works on run totals: the counts are exact run totals (and cross-check
with the run's counters: spikes, synaptic and graded ops equal ``result.counts``), and
per inference they are the totals / samples. The time of a step is taken on the
mean work per core (max over cores of the per-sample average), which is a lower bound
of the mean over samples of each sample's busiest core; ``cycle_model_per_sample``
simulates every sample alone for the exact per-sample latencies (slower). The active
split is exact for one sample and an upper bound of the rule otherwise (see energy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from hardware_sim.chips import ChipProfile
from hardware_sim.cost.mapping import Mapping, map_to_cores, spike_traffic
from hardware_sim.ir.graph import INPUT, QGraph

if TYPE_CHECKING:
    from hardware_sim.results import SimulationResult

PJ = 1e-12
NS = 1e-9

CORE_EVENTS = ("synaptic_op", "graded_input_op", "neuron_update_active", "neuron_update_inactive",
               "spike", "message_out", "message_in")
"""The events that take time on a core; hops take time on the network."""

NEURON_PHASE = ("updates_active", "updates_inactive", "spikes", "messages_out")
SYNAPTIC_PHASE = ("synaptic_ops", "graded_input_ops", "messages_in")
CORE_PHASES = ("serial", "overlapped")
"""How a core's two phases of work combine into its step time (module docstring)."""

_COUNTERS = ("synaptic_ops", "graded_input_ops", "updates_active", "updates_inactive", "spikes",
             "messages_out", "messages_in", "hops_east_west", "hops_north_south")
_TIME_EVENT = dict(zip(_COUNTERS, (*CORE_EVENTS, "hop_east_west", "hop_north_south")))
_ENERGY_EVENT = {"synaptic_ops": "synaptic_op", "graded_input_ops": "graded_input_op",
                 "updates_active": "neuron_update_active",
                 "updates_inactive": "neuron_update_inactive", "spikes": "spike",
                 "messages_out": "message", "hops_east_west": "hop_east_west",
                 "hops_north_south": "hop_north_south"}


@dataclass
class CycleReport:
    """Per (step, core) counts (run totals over all samples) and the timing and energy."""

    chip: str
    samples: int
    timesteps: int
    cores: int
    tiles: int
    core_population: list[str]
    counts: dict[str, np.ndarray]
    """counter name (``_COUNTERS``) → (T, cores) int64 run totals."""
    work_ns: np.ndarray
    """(T, cores): a core's work per inference in step t."""
    network_ns: np.ndarray
    barrier_ns: float
    energy_j_by_event: dict[str, float]
    static_energy_j: float
    notes: list[str] = field(default_factory=list)
    core_phases: str = "overlapped"

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

    @property
    def dynamic_energy_j(self) -> float:
        """Energy of the whole run (all samples), without static power."""
        return float(sum(self.energy_j_by_event.values()))

    @property
    def energy_j_per_inference(self) -> float:
        return self.dynamic_energy_j / self.samples + self.static_energy_j

    def totals(self) -> dict[str, int]:
        return {k: int(v.sum()) for k, v in self.counts.items()}

    def core_load(self) -> np.ndarray:
        """(T, cores) work per inference as a fraction of the step's busiest core."""
        peak = self.work_ns.max(axis=1, keepdims=True)
        return np.divide(self.work_ns, peak, out=np.zeros_like(self.work_ns), where=peak > 0)

    def to_dict(self) -> dict:
        steps = self.step_ns
        busiest = self.work_ns.argmax(axis=1) if self.cores else np.zeros(0, int)
        return {
            "chip": self.chip,
            "samples": self.samples,
            "timesteps": self.timesteps,
            "cores": self.cores,
            "tiles": self.tiles,
            "latency_s": self.latency_s,
            "core_phases": self.core_phases,
            "throughput_inferences_per_s": self.throughput_per_s,
            "energy_j_per_inference": self.energy_j_per_inference,
            "dynamic_energy_j_per_inference": self.dynamic_energy_j / self.samples,
            "static_energy_j_per_inference": self.static_energy_j,
            "energy_j_by_event_per_inference": {k: v / self.samples
                                                for k, v in self.energy_j_by_event.items()},
            "per_step": [
                {"step": t, "time_ns": float(steps[t]),
                 "busiest_core": int(busiest[t]) if self.cores else None,
                 "busiest_core_ns": float(self.work_ns[t].max()) if self.cores else 0.0,
                 "network_ns": float(self.network_ns[t]), "barrier_ns": self.barrier_ns}
                for t in range(self.timesteps)
            ],
            "per_core": [
                {"core": c, "population": self.core_population[c],
                 "work_ns_per_inference": float(self.work_ns[:, c].sum()),
                 **{k: self.counts[k][:, c].sum() / self.samples for k in _COUNTERS}}
                for c in range(self.cores)
            ],
            "work_ns_per_step_core": self.work_ns.tolist(),
            "totals": self.totals(),
            "notes": list(self.notes),
        }


def cycle_model(graph: QGraph, result: SimulationResult, chip: ChipProfile,
                mapping: Mapping | None = None, *, core_phases: str = "overlapped",
                inputs: np.ndarray | None = None) -> CycleReport:
    """Per-step, per-core counts, time and energy of ``result`` on ``chip`` (module docstring).

    ``core_phases``: ``"overlapped"`` (the larger of a core's neuron phase and its
    synaptic phase, as SANA-FE times Loihi; the default) or ``"serial"`` (the sum of all
    its events, an upper bound).
    ``inputs``: the run's integer inputs (N, T, *input_shape); when given, every non-zero
    input value is also a message into each core holding one of its targets
    (``messages_in``: the receiving core's axon-in time, as SANA-FE charges an input
    spike); it has no sender on the mesh, so no message-out energy and no hops."""
    if core_phases not in CORE_PHASES:
        raise ValueError(f"core_phases must be one of {CORE_PHASES}, got {core_phases!r}")
    if not chip.has_cycle_model:
        raise ValueError(f"chip {chip.name!r}: the profile has no cycle_model section")
    if result.samples < 1:
        raise ValueError("the run has no samples")
    mapping = mapping if mapping is not None else map_to_cores(graph, chip)
    n_cores, steps, samples = mapping.cores, result.timesteps, result.samples
    counts = {k: np.zeros((steps, n_cores), np.int64) for k in _COUNTERS}
    network = np.zeros(steps)
    hop_ns = (chip.event_time_ns("hop_east_west"), chip.event_time_ns("hop_north_south"))
    core_population = [""] * n_cores
    for pop in graph.populations:
        placement = mapping.placement(pop.name)
        cores = list(placement.cores)
        for c in cores:
            core_population[c] = pop.name
        spikes = _per_step(result, "spikes_per_step", pop.name)
        events = _per_step(result, "synaptic_events_per_step", pop.name)
        graded = all(p.source == INPUT for p in pop.projections)
        counts["graded_input_ops" if graded else "synaptic_ops"][:, cores] += \
            placement.per_step_on_cores(events)
        active = np.minimum(samples, events + spikes)
        active = np.where(np.asarray(pop.bias).reshape(1, -1) != 0, samples, active)
        counts["updates_active"][:, cores] += placement.per_step_on_cores(active)
        sizes = np.asarray(placement.neurons_per_core, np.int64)
        counts["updates_inactive"][:, cores] += samples * sizes[None] - \
            placement.per_step_on_cores(active)
        counts["spikes"][:, cores] += placement.per_step_on_cores(spikes)
        traffic = spike_traffic(mapping, pop.name, spikes, hop_ns)
        counts["messages_out"][:, cores] += traffic.messages_out
        counts["hops_east_west"][:, cores] += traffic.hops_east_west
        counts["hops_north_south"][:, cores] += traffic.hops_north_south
        for dest, received in traffic.messages_in.items():
            counts["messages_in"][:, dest] += received
        network = np.maximum(network, traffic.longest_path_ns)
    if inputs is not None:
        inputs = np.asarray(inputs)
        if inputs.shape[:2] != (samples, steps):
            raise ValueError(f"inputs of shape {inputs.shape} are not the run's "
                             f"({samples} samples, {steps} steps)")
        arrived = (inputs != 0).sum(axis=0).reshape(steps, -1).astype(np.int64)
        reach: dict[int, np.ndarray] = {}  # core -> inputs reaching it (projections merged)
        for pop in graph.populations:
            cores = mapping.placement(pop.name).cores
            for source, masks in mapping.fan_in.get(pop.name, []):
                if source == INPUT:
                    for core, mask in zip(cores, masks):
                        reach[core] = reach[core] | mask if core in reach else mask
        for core, mask in reach.items():
            counts["messages_in"][:, core] += arrived[:, mask].sum(axis=1)

    def phase(names: tuple[str, ...]) -> np.ndarray:
        return sum((counts[name] / samples * chip.event_time_ns(_TIME_EVENT[name])
                    for name in names), np.zeros((steps, n_cores)))

    if core_phases == "serial":
        work = phase(NEURON_PHASE + SYNAPTIC_PHASE)
    else:
        work = np.maximum(phase(NEURON_PHASE), phase(SYNAPTIC_PHASE))
    energy = {event: float(counts[name].sum()) * chip.event_energy_pj(event) * PJ
              for name, event in _ENERGY_EVENT.items()}
    report = CycleReport(
        chip=chip.name, samples=samples, timesteps=steps, cores=n_cores, tiles=mapping.tiles,
        core_population=core_population, counts=counts, work_ns=work, network_ns=network,
        barrier_ns=chip.barrier_ns(mapping.tiles), energy_j_by_event=energy, static_energy_j=0.0,
        notes=_notes(chip) + ([
            "Core phases overlapped: a core's step work is the larger of its neuron phase "
            "(updates, spikes, messages out) and its synaptic phase (synaptic ops, messages "
            "in), as SANA-FE times Loihi."] if core_phases == "overlapped" else []),
        core_phases=core_phases,
    )
    report.static_energy_j = chip.power_w.get("static_w", 0.0) * report.latency_s
    return report


@dataclass
class PerSampleLatency:
    """Latency of every sample simulated alone (exact per-sample busiest cores)."""

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


def _per_step(result: SimulationResult, attr: str, name: str) -> np.ndarray:
    per_step = getattr(result, attr)
    if name not in per_step:
        raise ValueError(f"the run has no {attr} for population {name!r}: run engine.simulate")
    arr = np.asarray(per_step[name], dtype=np.int64)
    return arr.reshape(arr.shape[0], -1)


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
