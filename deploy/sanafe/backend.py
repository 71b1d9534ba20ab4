"""Backend ``sanafe``: the mapped network run in SANA-FE (SLAM-Lab, GPL-3.0), an independent
cross-check of hardware_sim's cycle and energy model.

``sanafe`` is an optional dependency: it is imported only inside ``run`` (pip install
sanafe). What is built there, per sample:

Architecture. By default (``arch="profile"``) one generated from the chip profile
(``hardware_sim/chips/<chip>.json``), so that both models price the same events with
the same constants: the profile's mesh (tiles_x × tiles_y, more tiles eastward for a
multi-chip mapping), each tile with ``cores_per_tile`` neuromorphic cores (max
``neurons_per_core``) laid out as SANA-FE's ``arch/loihi.yaml`` does: axon_in
(latency ``time_ns.axon_in``, no energy: the profile has none), current-based synapse
(``synapse``), accumulator dendrite (free), leaky_integrate_fire soma (``soma_access``,
``soma_update``, ``spike_out``), axon_out (``axon_out``); tile hops ``hop_east_west`` /
``hop_north_south``; barrier: a per-tile-count table from the profile's
``barrier_sync_ns``. ``arch="stock"`` uses instead SANA-FE's bundled ``loihi.yaml``
(note: its sync table, 0.6-1.8 µs per step, is not the profile's 113-465 ns), with
the same injector cores added.

Mapping. Ours (``hardware_sim.cost.mapping.map_to_cores``): every neuron goes on the SANA-FE
core at the same tile position (x, y) and core offset as our placement puts it.
SANA-FE numbers tiles column-major (x = id // height), our mapping row-major; the
tile at our (x, y) is used.

Neurons. Float LIF (SANA-FE's ``leaky_integrate_fire``) in the integer model's units
divided by 64 (potential = v / 64), where SANA-FE's own 1/64 quantization of the
potential after the leak is exactly the integer engine's round-toward-zero of
``v·(4096 − dv) >> 12``: leak_decay = (4096 − dv)/4096, input_decay =
(4096 − (du + 1))/4096 (0 for DA-LIF), threshold = vth (v > vth << 6), bias =
(bias_mant << bias_exp)/64, hard reset to 0; a readout never fires (threshold 1e30,
β = 1) and its final potential × 64 is the output. Weights: w · 2^weight_exp
(· gain/4096 where the layer has a per-neuron gain), i.e. the dequantized synaptic
drive in these units. Zero weights are kept as synapses (they are stored and looked
up, as our model counts them). Projection delays and time-varying inputs are not
supported (BackendError). Where the engine rounds the drive (weight_exp < 0: floor of
the summed accumulator; a gain: round toward zero) SANA-FE adds it unrounded, so a
few spikes may differ (0.1-0.2% on the trained demo MLP); elsewhere the spikes and
the readout's potentials are identical.

Input: graded spikes. SANA-FE's synapse has no spike payload, so a graded input
value x_i is a 1-bit spike of an input neuron whose synapses carry w · x_i: the
payload scales the weight in the same synapse pass, which is exactly our
``graded_input_op`` (one synaptic op per non-zero input per synapse). The network is
therefore rebuilt per sample. Input neurons with x_i ≠ 0 spike at every step; they
sit on "injector" cores, one beside each neuromorphic core on its tile, that hold one
copy of the input neurons reaching that core's neurons: no hops, and a free soma and
axon_out, since our model counts no spike, message or hop for the network input (it
arrives from off the mesh). The receiving core's axon_in latency is still spent per
input message (SANA-FE gives a core one axon_in unit): see ``SanafeReport``.

Timing. SANA-FE delivers a message in the step it is sent and the target integrates
it in the next step: every projection has one step of delay and every layer starts
from zero state at step 0, the engine's "pipelined" timing (a naive pipeline: not the
aligned one of Lava/Loihi, DESIGN §3). Compare spikes with
``simulate(..., timing="pipelined")``, and the cycle model's costs with
``hardware_sim.engine.pipelined_reference``, which attributes synaptic work as SANA-FE does.

The run returns a SimulationResult (spikes per population per step from SANA-FE's
spike trace, the readout's final potential; synaptic ops and input MACs counted as
SANA-FE does the work: every spike or non-zero input sent, × its synapses, the last
step's included) with ``result.sanafe``: a SanafeReport of SANA-FE's energy, latency
and counters per inference (also ``backend.last_report``). Its accuracy is that of the
pipelined timing, not the zero-delay reference's: ``dalif simulate --backend sanafe`` says so,
and puts hardware_sim's run in the same timing and both simulators' energy and latency beside
it (``deploy.sanafe.compare``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from hardware_sim.chips import ChipProfile, load_chip
from hardware_sim.cost.mapping import Mapping, map_to_cores
from hardware_sim.ir import synapses
from hardware_sim.ir.graph import (
    INPUT,
    DeployedModel,
    IntPopulation,
    Projection,
    QGraph,
    neuron_count,
)
from hardware_sim.ir.neuron import ALIGN_SHIFT, DECAY_ONE, GAIN_ONE
from hardware_sim.results import PopulationCounts, SimulationResult

_NEVER = 1e30


@dataclass
class SanafeReport:
    """SANA-FE's own figures for a run, per inference (mean over samples) and per sample."""

    arch: str
    timing_model: str
    samples: int
    timesteps: int
    energy_j_per_inference: float
    latency_s_per_inference: float
    energy_j_by_part_per_inference: dict[str, float]
    counters_per_inference: dict[str, float]
    energy_j_per_sample: list[float] = field(default_factory=list)
    latency_s_per_sample: list[float] = field(default_factory=list)
    sim_wall_s: float = 0.0
    build_wall_s: float = 0.0
    input_messages_per_inference: float = 0.0
    input_axon_in_ns: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class SanafeBackend:
    name = "sanafe"

    def __init__(self, chip: str | ChipProfile = "loihi", arch: str = "profile",
                 timing_model: str = "detailed", mapping: Mapping | None = None):
        if arch not in ("profile", "stock"):
            raise ValueError("arch must be 'profile' or 'stock'")
        self.chip = chip if isinstance(chip, ChipProfile) else load_chip(chip)
        self.arch = arch
        self.timing_model = timing_model
        self.mapping = mapping
        self.last_report: SanafeReport | None = None

    def run(self, model: DeployedModel | QGraph, inputs: np.ndarray,
            on_progress: Callable[[int], None] | None = None) -> SimulationResult:
        from deploy.registry import BackendError

        try:
            import sanafe
        except ImportError as err:
            raise BackendError("backend 'sanafe' needs the sanafe package: pip install sanafe "
                               f"({err})") from None
        graph = model.graph if isinstance(model, DeployedModel) else model
        inputs = np.asarray(inputs)
        shape = graph.input_shape
        if inputs.ndim != 2 + len(shape) or tuple(inputs.shape[2:]) != shape:
            raise ValueError(f"inputs must have shape (N, T, {shape}), got {inputs.shape}")
        n, steps = inputs.shape[:2]
        if n and not np.all(inputs == inputs[:, :1]):
            raise BackendError("backend 'sanafe' takes inputs constant over time (direct "
                               "encoding): graded values are folded into the input weights")
        for pop in graph.populations:
            for p in pop.projections:
                if p.delay:
                    raise BackendError(f"backend 'sanafe': projection delays are not supported "
                                       f"({pop.name!r} from {p.source!r})")
            if pop.reset == "subtract":  # neurons are built with "reset_mode": "hard" (below)
                raise BackendError(f"backend 'sanafe': population {pop.name!r} resets by subtraction, "
                                   "which is built here as Loihi's hard reset only: use --backend loihi-sim")
        mapping = self.mapping if self.mapping is not None else map_to_cores(graph, self.chip)
        _check_layout(mapping)
        plan = _Plan(graph, mapping, self.chip)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            arch_path = Path(tmp) / "arch.yaml"
            arch_path.write_text(_arch_yaml(self.chip, mapping, self.arch, plan.injector_neurons),
                                 encoding="utf-8")
            arch = sanafe.load_arch(str(arch_path))
        build_wall = time.perf_counter() - t0
        sim_wall = 0.0
        spikes_per_step = {p.name: np.zeros((steps, *p.shape), np.int64) for p in graph.populations}
        outputs, energies, latencies = [], [], []
        parts: dict[str, float] = {}
        counters: dict[str, float] = {}
        input_messages = 0
        for i in range(n):
            t0 = time.perf_counter()
            net, groups, sent = plan.network(sanafe, arch, inputs[i, 0], steps)
            chip = sanafe.SpikingChip(arch)
            chip.load(net)
            t1 = time.perf_counter()
            with _quiet_stdout():  # SANA-FE's C++ kernel prints its progress on fd 1
                out = chip.sim(steps, timing_model=self.timing_model, processing_threads=1,
                               spike_trace=True, potential_trace=True)
            t2 = time.perf_counter()
            build_wall += t1 - t0
            sim_wall += t2 - t1
            input_messages += sent * steps
            sample = {p.name: np.zeros((steps, neuron_count(p)), np.int64)
                      for p in graph.populations}
            for t, fired in enumerate(out["spike_trace"]):
                for addr in fired:
                    name = groups.get(addr.group_name)
                    if name is not None:
                        sample[name][t, addr.neuron_offset] += 1
            for name, arr in sample.items():
                spikes_per_step[name] += arr.reshape(spikes_per_step[name].shape)
            outputs.append(plan.output(out, sample[graph.output]))
            energies.append(float(out["energy"]["total"]))
            latencies.append(float(out["sim_time"]))
            for k, v in out["energy"].items():
                parts[k] = parts.get(k, 0.0) + float(v)
            for k in ("spikes", "packets_sent", "neurons_updated", "neurons_fired", "total_hops"):
                if k in out:
                    counters[k] = counters.get(k, 0.0) + float(out[k])
            if on_progress is not None:
                on_progress(1)
        output = np.stack(outputs) if outputs else np.zeros((0, *graph.output_population.shape))
        counts = [PopulationCounts(p.name, neuron_count(p),
                                   spikes=int(spikes_per_step[p.name].sum()),
                                   neuron_updates=neuron_count(p) * n * steps)
                  for p in graph.populations]
        plan.count_synaptic_work(counts, spikes_per_step, inputs)
        report = SanafeReport(
            arch=self.arch, timing_model=self.timing_model, samples=n, timesteps=steps,
            energy_j_per_inference=float(np.mean(energies)) if n else 0.0,
            latency_s_per_inference=float(np.mean(latencies)) if n else 0.0,
            energy_j_by_part_per_inference={k: v / max(n, 1) for k, v in parts.items()},
            counters_per_inference={k: v / max(n, 1) for k, v in counters.items()},
            energy_j_per_sample=energies, latency_s_per_sample=latencies,
            sim_wall_s=sim_wall, build_wall_s=build_wall,
            input_messages_per_inference=input_messages / max(n, 1),
            input_axon_in_ns=self.chip.time_ns.get("axon_in", 0.0),
            notes=["SANA-FE timing: every projection has one step of delay, no per-layer "
                   "resets or balancing delays (engine timing 'pipelined').",
                   "Input messages (graded input as weighted 1-bit spikes from injector cores) "
                   "cost no energy and no hops, but each takes the receiving core's axon_in "
                   "latency; SANA-FE's 'packets_sent' and 'spikes' counters include them."],
        )
        self.last_report = report
        result = SimulationResult(
            output=output,
            predictions=output.reshape(n, -1).argmax(axis=1) if n else np.zeros(0, np.int64),
            counts=counts, samples=n, timesteps=steps, spikes_per_step=spikes_per_step,
        )
        result.sanafe = report  # type: ignore[attr-defined]
        return result


@contextlib.contextmanager
def _quiet_stdout():
    """Send file descriptor 1 to /dev/null for the duration (C-level prints included), and
    ``sys.stdout`` too (the kernel's Python-level prints, wherever sys.stdout points)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


# --- the network -------------------------------------------------------------------------


def _check_layout(mapping: Mapping) -> None:
    """What this bridge can lay out in SANA-FE: one row of chips (the mesh grows east only, the
    profile's height) and unsplit populations (a split population's compartment groups and
    their join have no SANA-FE counterpart here). Anything else is refused, not run wrong."""
    from deploy.registry import BackendError

    split = [p.name for p in mapping.populations if p.dendrites]
    if split:
        raise BackendError(f"backend 'sanafe': populations split into compartment groups are "
                           f"not laid out in SANA-FE ({', '.join(split)}); use loihi-sim")
    if mapping.chips > mapping.chips_per_row:
        raise BackendError(f"backend 'sanafe': the map needs {mapping.chips} chips in more than "
                           "one row of the chip grid; only one row is laid out in SANA-FE")


class _Plan:
    """Edges, parameters and core assignments, prepared once; a network per sample."""

    def __init__(self, graph: QGraph, mapping: Mapping, chip: ChipProfile):
        self.graph = graph
        self.mapping = mapping
        self.core_of: dict[str, np.ndarray] = {}
        for pop in graph.populations:
            placement = mapping.placement(pop.name)
            self.core_of[pop.name] = np.repeat(np.asarray(placement.cores, np.int64),
                                               placement.neurons_per_core)
        self.edges: dict[str, list[tuple[Projection, np.ndarray, np.ndarray, np.ndarray]]] = {}
        for pop in graph.populations:
            scale_t = _target_scale(pop)
            entries = []
            for proj in pop.projections:
                dst, src, w = synapses.synapse_list(proj)
                weight = w.astype(np.float64) * 2.0 ** proj.weight_exp * scale_t[dst]
                entries.append((proj, src, dst, weight))
            self.edges[pop.name] = entries
        self.cores_per_tile = mapping.cores_per_tile
        input_size = int(np.prod(graph.input_shape))
        self.injector_neurons = input_size * max(
            [sum(p.source == INPUT for p in pop.projections) for pop in graph.populations])

    def count_synaptic_work(self, counts: list[PopulationCounts], spikes_per_step: dict,
                            inputs: np.ndarray) -> None:
        """Synaptic ops and input MACs as SANA-FE does them: every spike (non-zero input)
        sent in the run, × the synapses it reaches (the last step's included)."""
        nonzero = (np.asarray(inputs) != 0).sum(axis=(0, 1)).reshape(-1)
        for count, pop in zip(counts, self.graph.populations):
            for proj, src, _, _ in self.edges[pop.name]:
                if proj.source == INPUT:
                    sent = nonzero
                else:
                    sent = spikes_per_step[proj.source].reshape(len(spikes_per_step[proj.source]),
                                                                -1).sum(axis=0)
                work = int(np.bincount(src, minlength=sent.size) @ sent)
                if proj.source == INPUT:
                    count.input_macs += work
                else:
                    count.synaptic_ops += work

    def output(self, out: dict, output_spikes: np.ndarray) -> np.ndarray:
        """The readout's final potential in integer units (× 64), else the spike counts."""
        pop = self.graph.output_population
        if pop.readout:
            trace = out.get("potential_trace") or [[]]
            last = np.asarray(trace[-1], dtype=np.float64)
            return np.rint(last * (1 << ALIGN_SHIFT)).astype(np.int64).reshape(pop.shape)
        return output_spikes.sum(axis=0).reshape(pop.shape)

    def network(self, sanafe, arch, x: np.ndarray, steps: int):
        net = sanafe.Network()
        cores = arch.cores()
        groups: dict[str, str] = {}
        made: dict[str, object] = {}
        for k, pop in enumerate(self.graph.populations):
            gname = f"p{k}"
            size = neuron_count(pop)
            group = net.create_neuron_group(gname, size, soma_hw_name="lif",
                                            default_synapse_hw_name="synapse",
                                            default_dendrite_hw_name="dendrite",
                                            log_spikes=True, log_potential=pop.readout)
            groups[gname] = pop.name
            made[pop.name] = group
            keep = (DECAY_ONE - np.asarray(pop.dv, np.float64).reshape(-1)) / DECAY_ONE
            in_keep = (DECAY_ONE - (np.asarray(pop.du, np.float64).reshape(-1) + 1)) / DECAY_ONE
            bias = np.asarray(pop.bias, np.float64).reshape(-1) / (1 << ALIGN_SHIFT)
            vth = np.asarray(pop.vth, np.float64).reshape(-1)
            where = self.core_of[pop.name]
            for j in range(size):
                attrs = {"leak_decay": float(keep[j]), "input_decay": float(in_keep[j]),
                         "threshold": _NEVER if pop.readout else float(vth[j]),
                         "reset_mode": "hard", "reset": 0.0, "bias": float(bias[j])}
                neuron = group.neurons[j]
                neuron.set_attributes(model_attributes=attrs)
                neuron.map_to_core(cores[self._arch_core(int(where[j]))])
        sent = 0
        x_flat = np.asarray(x).reshape(-1).astype(np.float64)
        for pop in self.graph.populations:
            target = made[pop.name]
            where = self.core_of[pop.name]
            for proj, src, dst, weight in self.edges[pop.name]:
                if proj.source != INPUT:
                    target_pairs = list(zip(src.tolist(), dst.tolist()))
                    made[proj.source].connect_neurons_sparse(target, {"w": weight.tolist()},
                                                             target_pairs)
                    continue
                # graded input: per destination core, the non-zero inputs reaching it
                live = x_flat[src] != 0
                for core in np.unique(where[dst]):
                    sel = live & (where[dst] == core)
                    if not sel.any():
                        continue
                    s, d = src[sel], dst[sel]
                    used, local = np.unique(s, return_inverse=True)
                    gname = f"in_{pop.name}_{core}_{id(proj)}"
                    inj = net.create_neuron_group(
                        gname, int(used.size), soma_hw_name="graded_input",
                        default_synapse_hw_name="synapse", default_dendrite_hw_name="dendrite",
                        model_attributes={"rate": 1.0})
                    inj.map_to_core(cores[self._injector_core(int(core))])
                    w = weight[sel] * x_flat[s]
                    inj.connect_neurons_sparse(target, {"w": w.tolist()},
                                               list(zip(local.tolist(), d.tolist())))
                    sent += int(used.size)
        return net, groups, sent

    def _arch_core(self, core: int) -> int:
        """Index in arch.cores() of our core ``core``: SANA-FE's tile at our tile's (x, y)."""
        x, y = self.mapping.position(core)
        tile = x * self._height + y
        return tile * 2 * self.cores_per_tile + core % self.cores_per_tile

    def _injector_core(self, core: int) -> int:
        return self._arch_core(core) + self.cores_per_tile

    @property
    def _height(self) -> int:
        return self.mapping.tiles_y


def _target_scale(pop: IntPopulation) -> np.ndarray:
    """Per target neuron, the factor from a synaptic weight to potential units (v / 64)."""
    n = neuron_count(pop)
    if pop.gain is None:
        return np.ones(n)
    return np.asarray(pop.gain, np.float64).reshape(-1) / GAIN_ONE


# --- the architecture --------------------------------------------------------------------


def _arch_yaml(chip: ChipProfile, mapping: Mapping, which: str, injector_neurons: int) -> str:
    """SANA-FE architecture (YAML; JSON is valid YAML) with the profile's constants, or
    SANA-FE's stock Loihi constants, plus one injector core beside every core. The mesh
    keeps the profile's height and ends east at the last column the mapping uses (tiles
    keep their coordinates; SANA-FE allocates every core's buffers up front)."""
    width = 1 + max(mapping.position(c)[0] for c in range(max(mapping.cores, 1)))
    height = mapping.tiles_y
    cpt = mapping.cores_per_tile
    if which == "stock":
        c = dict(synapse_e=35.5e-12, synapse_t=3.8e-9, access_e=51.2e-12, access_t=6.0e-9,
                 update_e=21.6e-12, update_t=3.7e-9, spike_e=69.3e-12, spike_t=30.0e-9,
                 out_e=111.0e-12, out_t=5.1e-9, in_t=16.0e-9, ew_e=3.0e-12, ew_t=4.1e-9,
                 ns_e=4.2e-12, ns_t=6.5e-9, neurons=1024)
        stock = {1: 0.6e-6, 2: 1.0e-6, 4: 1.4e-6, 29: 1.8e-6}  # loihi.yaml's step table
        sync = {"sync_model": "table",
                "latency_sync": [stock[max([k for k in stock if k <= i] or [1])]
                                 for i in range(max(30, width * height + 1))]}
    else:
        e, t = chip.energy_pj, chip.time_ns
        need = ["synapse", "soma_access", "soma_update", "spike_out", "axon_out",
                "hop_east_west", "hop_north_south"]
        missing = [k for k in need if k not in e] + \
                  [k for k in need + ["axon_in"] if k not in t]
        if missing:
            from deploy.registry import BackendError
            raise BackendError(f"chip {chip.name!r}: the profile lacks the SANA-FE-style "
                               f"constants {sorted(set(missing))}")
        c = dict(synapse_e=e["synapse"] * 1e-12, synapse_t=t["synapse"] * 1e-9,
                 access_e=e["soma_access"] * 1e-12, access_t=t["soma_access"] * 1e-9,
                 update_e=e["soma_update"] * 1e-12, update_t=t["soma_update"] * 1e-9,
                 spike_e=e["spike_out"] * 1e-12, spike_t=t["spike_out"] * 1e-9,
                 out_e=e["axon_out"] * 1e-12, out_t=t["axon_out"] * 1e-9,
                 in_t=t["axon_in"] * 1e-9,
                 ew_e=e["hop_east_west"] * 1e-12, ew_t=t["hop_east_west"] * 1e-9,
                 ns_e=e["hop_north_south"] * 1e-12, ns_t=t["hop_north_south"] * 1e-9,
                 neurons=chip.neurons_per_core)
        sync = {"sync_model": "table",
                "latency_sync": [chip.barrier_ns(max(k, 1)) * 1e-9
                                 for k in range(width * height + 1)]}
    core = {
        "name": f"core[0..{cpt - 1}]",
        "attributes": {"buffer_position": "soma", "buffer_inside_unit": False,
                       "max_neurons_supported": c["neurons"]},
        "axon_in": [{"name": "axon_in", "attributes": {"energy_message_in": 0.0,
                                                       "latency_message_in": c["in_t"]}}],
        "synapse": [{"name": "synapse", "attributes": {
            "model": "current_based", "energy_process_spike": c["synapse_e"],
            "latency_process_spike": c["synapse_t"]}}],
        "dendrite": [{"name": "dendrite", "attributes": {"model": "accumulator",
                                                         "energy_update": 0.0,
                                                         "latency_update": 0.0}}],
        "soma": [{"name": "lif", "attributes": {
            "model": "leaky_integrate_fire",
            "energy_access_neuron": c["access_e"], "latency_access_neuron": c["access_t"],
            "energy_update_neuron": c["update_e"], "latency_update_neuron": c["update_t"],
            "energy_spike_out": c["spike_e"], "latency_spike_out": c["spike_t"]}}],
        "axon_out": [{"name": "axon_out", "attributes": {"energy_message_out": c["out_e"],
                                                         "latency_message_out": c["out_t"]}}],
    }
    free = {"energy_access_neuron": 0.0, "latency_access_neuron": 0.0,
            "energy_update_neuron": 0.0, "latency_update_neuron": 0.0,
            "energy_spike_out": 0.0, "latency_spike_out": 0.0}
    injector = {
        "name": f"injector[0..{cpt - 1}]",
        "attributes": {"buffer_position": "soma", "buffer_inside_unit": False,
                       "max_neurons_supported": max(1, injector_neurons)},
        "axon_in": [{"name": "axon_in", "attributes": {"energy_message_in": 0.0,
                                                       "latency_message_in": 0.0}}],
        "synapse": [{"name": "synapse", "attributes": {"model": "current_based",
                                                       "energy_process_spike": 0.0,
                                                       "latency_process_spike": 0.0}}],
        "dendrite": [{"name": "dendrite", "attributes": {"model": "accumulator",
                                                         "energy_update": 0.0,
                                                         "latency_update": 0.0}}],
        "soma": [{"name": "graded_input", "attributes": {"model": "input", **free}}],
        "axon_out": [{"name": "axon_out", "attributes": {"energy_message_out": 0.0,
                                                         "latency_message_out": 0.0}}],
    }
    tile = {"name": f"tile[0..{width * height - 1}]",
            "attributes": {"energy_north_hop": c["ns_e"], "latency_north_hop": c["ns_t"],
                           "energy_south_hop": c["ns_e"], "latency_south_hop": c["ns_t"],
                           "energy_east_hop": c["ew_e"], "latency_east_hop": c["ew_t"],
                           "energy_west_hop": c["ew_e"], "latency_west_hop": c["ew_t"]},
            "core": [core, injector]}
    doc = {"architecture": {"name": f"{chip.name}_{which}",
                            "attributes": {"topology": "mesh", "width": width, "height": height,
                                           "link_buffer_size": 16, **sync},
                            "tile": [tile]}}
    return json.dumps(doc, indent=1)


__all__ = ["SanafeBackend", "SanafeReport"]
