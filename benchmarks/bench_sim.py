"""Speed, scale and memory of hardware_sim: the same models and inputs through every executor.

    .venv/bin/python benchmarks/bench_sim.py [--quick] [--sweep] [--help]

Models: the demo MLP and conv net (NIR files, ``--mlp`` / ``--convnet``; by default
``runs/mlp/model.nir`` and ``runs/demo/model.nir``, see the README), on the digits test
images; a small ResNet (16/32/64 channels, one basic block per stage) and the full-width
CIFAR ResNet-19 (3×3 stem of 128 channels on 3×32×32, basic-block stages of 128/256/512
channels with 3/3/2 blocks and strides 1/2/2, 1×1 projection shortcuts, global average
pooling, FC 256, FC 10 readout: 17 convolutions + 2 FC), built here as QGraphs with random
int8 weights (seed 0), per-neuron decays and one threshold per layer calibrated so that about
a tenth of the (neuron, step) slots spike, on random 8-bit CIFAR-shaped images; all T = 4,
direct encoding.

Executors, on one batch of the same inputs:
- float: the float torch forward of the same layers (float32 conv / linear on the same
  weights, T steps, a float LIF: v = βv + x, spike = v > θ, reset), eager;
- sim: hardware_sim functional (``engine.simulate``, zero-delay), eager and with the
  compiled neuron update (``compile=True``; the default compiles only large runs);
- sim+cycle: the functional run plus mapping, event counting, energy and cycle model
  (``map_to_cores``, ``count_events``, ``price_energy``, ``time_events``; chip ``loihi``
  for the small models, ``loihi2`` for the ResNets, which take 10-1000 Loihi 1 chips);
- lava: Lava 0.10 ``fixed_pt`` (deploy.lava, its own environment), end to end and
  stepping only, on ``--lava-samples`` samples (small models);
- sanafe: SANA-FE's detailed timing on the same mapping and constants vs our cycle model on
  the same network and inputs in the same (pipelined) timing, ``--sanafe-samples``.

Measured: wall time per sample, samples per second, synaptic events (synaptic ops + input
MACs) per second, peak resident memory above the state before the call (sampled every
2 ms); medians over ``--repeat`` runs interleaved side by side, so ratios come from one
run on a shared, noisy machine. Spikes and counters of every integer executor are checked
equal (eager vs compiled, Lava vs sim; SANA-FE's spikes vs ours in its timing). ResNet-19
is also measured alone in a fresh process (peak memory of the whole process, with the
cycle model) and extrapolated to the 10,000-image test set; its mapping is timed on every
chip (time, peak memory, cores, chips, compartments: Loihi 1 splits the fan-in its cores
cannot take; ``--resnet19-mapping-only`` re-measures only that entry of ``--out``).
``--sweep`` adds time against firing rate of a dense projection, dense vs event-driven.
Prints a table and writes ``--out`` (JSON, atomically).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results" / "bench_sim.json"
TIMESTEPS = 4


# --- models ------------------------------------------------------------------------------------

def resnet_graph(channels=(128, 256, 512), blocks=(3, 3, 2), side=32, hidden=256, classes=10,
                 seed=0):
    """A CIFAR ResNet as a QGraph with random int8 weights (module docstring); thresholds are
    set by ``calibrate``."""
    from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph

    rng = np.random.default_rng(seed)
    pops = []

    def pop(name, shape, projections, readout=False):
        p = IntPopulation(name=name, shape=shape, projections=projections,
                          dv=rng.integers(200, 2000, shape), du=np.full(shape, 4095),
                          vth=np.full(shape, 1000), bias_mant=np.zeros(shape, np.int64),
                          bias_exp=0, v_scale=1.0, readout=readout)
        pops.append(p)
        return p

    def conv(source, shape, c_out, k, stride, exp=0):
        return Projection(source, "conv", rng.integers(-128, 128, (c_out, shape[0], k, k)), shape,
                          weight_exp=exp, stride=stride, padding=k // 2)

    x = pop("stem", (channels[0], side, side), [conv(INPUT, (3, side, side), channels[0], 3, 1, -4)])
    for s, (c, n) in enumerate(zip(channels, blocks)):
        for b in range(n):
            stride = 2 if b == 0 and s > 0 else 1
            first = conv(x.name, x.shape, c, 3, stride)
            a = pop(f"s{s + 1}b{b + 1}a", first.output_shape, [first])
            second = conv(a.name, a.shape, c, 3, 1)
            x = pop(f"s{s + 1}b{b + 1}", second.output_shape,
                    [second, conv(x.name, x.shape, c, 1, stride)])
    fc = Projection(x.name, "dense", rng.integers(-128, 128, (hidden, x.shape[0])), x.shape,
                    pool=x.shape[1])  # global average pooling: a sum over the whole map
    h = pop("fc1", (hidden,), [fc])
    out = pop("fc2", (classes,), [Projection(h.name, "dense",
                                             rng.integers(-128, 128, (classes, hidden)), (hidden,))],
              readout=True)
    return QGraph(input_shape=(3, side, side), populations=pops, output=out.name, input_bits=8)


def calibrate(graph, inputs: np.ndarray, target: float = 0.3) -> None:
    """Set each spiking population's threshold (one per population) so that about ``target``
    of its neurons cross it at least once per sample in a float approximation of the run
    (layer by layer); 0.3 gives about 10 % of the (neuron, step) slots spiking."""
    import torch
    import torch.nn.functional as F

    from hardware_sim.ir.graph import INPUT
    from hardware_sim.ir.neuron import THRESHOLD_MAX

    acts = {INPUT: torch.as_tensor(np.swapaxes(inputs, 0, 1), dtype=torch.float64)}
    for pop in graph.populations:
        drive = 0
        for p in pop.projections:
            src = acts.get(p.source)
            if src is None:
                continue
            t, n = src.shape[:2]
            x = src.reshape(t * n, *src.shape[2:])
            if p.pool > 1:
                x = F.avg_pool2d(x, p.pool, divisor_override=1)
            w = torch.as_tensor(p.weight, dtype=torch.float64)
            y = x.reshape(t * n, -1) @ w.T if p.kind == "dense" else \
                F.conv2d(x, w, stride=p.stride, padding=p.padding)
            drive = drive + y.reshape(t, n, *pop.shape) * 2.0 ** p.weight_exp * 64
        if pop.readout:
            continue
        beta = torch.as_tensor(1 - pop.dv / 4096)
        v = torch.zeros_like(drive[0])
        peak = torch.full_like(v, -np.inf)
        for step in drive:
            v = beta * v + step
            peak = torch.maximum(peak, v)
        vth = float(torch.quantile(peak.reshape(-1)[:1 << 24].float(), 1 - target)) / 64
        pop.vth = np.full(pop.shape, int(np.clip(np.ceil(vth), 1, THRESHOLD_MAX)))
        th = float(pop.vth.flat[0] * 64)
        v = torch.zeros_like(drive[0])
        spikes = []
        for step in drive:
            v = beta * v + step
            s = (v > th).double()
            v = v * (1 - s)
            spikes.append(s)
        acts[pop.name] = torch.stack(spikes)


def cifar_like(samples: int, seed: int = 1) -> np.ndarray:
    """Random 8-bit images (N, T, 3, 32, 32), direct encoded."""
    x = np.random.default_rng(seed).integers(0, 256, (samples, 3, 32, 32))
    return np.repeat(x[:, None], TIMESTEPS, axis=1)


def load_models(args):
    """[(name, graph, inputs, chip, DeployedModel or None)]."""
    from deploy import encode_inputs
    from hardware_sim.ir.nir import read_nir

    models = []
    needed = [("demo MLP", args.mlp), ("demo convnet", args.convnet)]
    if any(not Path(p).exists() for _, p in needed):
        missing = [p for _, p in needed if not Path(p).exists()]
        sys.exit(f"missing {missing}: train and export them (README, 'A user's day': dalif train "
                 "--model mlp|convnet --granularity neuron --timesteps 4 --epochs 20, then dalif "
                 "export), or pass --mlp/--convnet")
    from dalif.data import load_dataset

    x, _ = load_dataset("digits", "test")
    x = x.numpy()
    for name, path in needed:
        model = read_nir(path)
        inputs, _ = encode_inputs(model, np.concatenate([x] * -(-args.batch // len(x)))[:args.batch])
        models.append((name, model.graph, inputs, "loihi", model))
    small = resnet_graph(channels=(16, 32, 64), blocks=(1, 1, 1), hidden=64)
    calibrate(small, cifar_like(8, seed=2))
    models.append(("small ResNet", small, cifar_like(args.batch), "loihi2", None))
    return models


# --- measuring ---------------------------------------------------------------------------------

def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak resident set above the level at entry, sampled every 2 ms."""

    def __enter__(self):
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def above(self) -> int:
        return self.peak - self.base


def side_by_side(fns: dict, repeat: int) -> dict:
    """Each callable run ``repeat`` times, interleaved (one warm-up first): per name the
    median seconds, every time, the peak memory above entry, and the last return value."""
    out = {k: {"runs": [], "peak_bytes": 0, "value": None} for k in fns}
    for name, fn in fns.items():
        out[name]["value"] = fn()
    for _ in range(repeat):
        for name, fn in fns.items():
            with PeakMemory() as mem:
                start = time.perf_counter()
                out[name]["value"] = fn()
                seconds = time.perf_counter() - start
            out[name]["runs"].append(seconds)
            out[name]["peak_bytes"] = max(out[name]["peak_bytes"], mem.above)
    for row in out.values():
        row["seconds"] = float(np.median(row["runs"]))
    return out


def float_forward(graph, inputs):
    """The float torch forward of the same layers (module docstring), eager, float32."""
    import torch
    import torch.nn.functional as F

    from hardware_sim.ir.graph import INPUT

    layers = []
    for pop in graph.populations:
        projs = [(p, torch.as_tensor(p.weight, dtype=torch.float32) * 2.0 ** p.weight_exp * 64)
                 for p in pop.projections]
        layers.append((pop, projs, torch.as_tensor(1 - pop.dv / 4096, dtype=torch.float32),
                       torch.as_tensor(pop.vth * 64.0, dtype=torch.float32),
                       torch.as_tensor(pop.bias, dtype=torch.float32)))

    def run():
        x = torch.as_tensor(inputs, dtype=torch.float32)
        b = x.shape[0]
        v = {pop.name: torch.zeros((b, *pop.shape)) for pop, *_ in layers}
        for t in range(x.shape[1]):
            now = {INPUT: x[:, t]}
            for pop, projs, beta, th, bias in layers:
                acc = 0
                for p, w in projs:
                    s = now.get(p.source)
                    if s is None:
                        continue
                    if p.pool > 1:
                        s = F.avg_pool2d(s, p.pool, divisor_override=1)
                    acc = acc + (s.reshape(b, -1) @ w.T if p.kind == "dense"
                                 else F.conv2d(s, w, stride=p.stride, padding=p.padding))
                vv = beta * v[pop.name] + acc + bias
                if pop.readout:
                    v[pop.name] = vv
                    continue
                s = (vv > th).float()
                v[pop.name] = vv * (1 - s)
                now[pop.name] = s
        return v[graph.output]

    return run


def events_of(result) -> int:
    return sum(c.synaptic_ops + c.input_macs for c in result.counts)


def same_run(a, b) -> bool:
    return (np.array_equal(a.output, b.output)
            and [vars(c) for c in a.counts] == [vars(c) for c in b.counts]
            and all(np.array_equal(a.spikes_per_step[k], b.spikes_per_step[k]) for k in a.spikes_per_step)
            and all(np.array_equal(a.synaptic_events_per_step[k], b.synaptic_events_per_step[k])
                    for k in a.synaptic_events_per_step))


def cost_run(graph, result, chip_name: str):
    from hardware_sim.chips import load_chip
    from hardware_sim.cost.cycle import time_events
    from hardware_sim.cost.energy import price_energy
    from hardware_sim.cost.events import count_events
    from hardware_sim.cost.mapping import map_to_cores

    chip = load_chip(chip_name)
    mapping = map_to_cores(graph, chip)
    events = count_events(graph, mapping, result)
    energy = price_energy(events, chip)
    cycle = time_events(events, chip)
    return mapping, energy, cycle


def bench_model(name, graph, inputs, chip_name, repeat):
    """float forward, sim eager, sim compiled and sim + cycle model, side by side."""
    from hardware_sim.engine import simulate

    n = len(inputs)
    timed = side_by_side({
        "float": float_forward(graph, inputs),
        "sim": lambda: simulate(graph, inputs, batch_size=n, compile=False),
        "sim compiled": lambda: simulate(graph, inputs, batch_size=n, compile=True),
        "sim+cycle": lambda: (lambda r: (r, cost_run(graph, r, chip_name)))(
            simulate(graph, inputs, batch_size=n, compile=True)),
    }, repeat)
    eager, compiled = timed["sim"]["value"], timed["sim compiled"]["value"]
    _, (mapping, energy, cycle) = timed["sim+cycle"]["value"]
    events = events_of(eager)
    rows = {}
    for key, row in timed.items():
        s = row["seconds"]
        rows[key] = {"ms_per_sample": 1e3 * s / n, "samples_per_s": n / s,
                     "synaptic_events_per_s": events / s if key != "float" else None,
                     "peak_mb_above": row["peak_bytes"] / 2**20, "runs_s": row["runs"],
                     "x_float": s / timed["float"]["seconds"]}
    return {"model": name, "samples": n, "timesteps": int(inputs.shape[1]),
            "neurons": int(sum(c.neurons for c in eager.counts)),
            "synapses": int(sum(p.synapses for pop in graph.populations for p in pop.projections)),
            "firing_rate": sum(c.spikes for c in eager.counts) / max(1, sum(c.neuron_updates for c in eager.counts)),
            "synaptic_events": events, "identical_eager_compiled": same_run(eager, compiled),
            "chip": chip_name, "cores": mapping.cores,
            "energy_uj_per_inference": energy.energy_j_per_inference * 1e6,
            "latency_us_per_inference": cycle.latency_s * 1e6, "executors": rows}


def bench_lava(model, inputs, repeat_sim):
    from deploy import get_backend
    from hardware_sim.engine import simulate

    lava = get_backend("lava")
    start = time.perf_counter()
    got = lava.run(model, inputs)
    lava_s = time.perf_counter() - start
    stepping = lava.last_summary["seconds"]["run"]
    n = len(inputs)
    timed = side_by_side({
        "sim": lambda: simulate(model.graph, inputs, batch_size=n, record_spikes=True, compile=False),
        "sim compiled": lambda: simulate(model.graph, inputs, batch_size=n, record_spikes=True,
                                         compile=True)}, repeat_sim)
    ref = timed["sim"]["value"]
    identical = (all(np.array_equal(got.spikes[k], ref.spikes[k]) for k in ref.spikes)
                 and np.array_equal(got.output, ref.output)
                 and [vars(c) for c in got.counts] == [vars(c) for c in ref.counts]
                 and same_run(ref, timed["sim compiled"]["value"]))
    out = {"samples": n, "identical": bool(identical),
           "ms_per_sample": {"lava_end_to_end": 1e3 * lava_s / n, "lava_stepping": 1e3 * stepping / n},
           "x_sim": {}}
    for key in ("sim", "sim compiled"):
        sim_s = timed[key]["seconds"]
        out["ms_per_sample"][key] = 1e3 * sim_s / n
        out["x_sim"][key] = {"end_to_end": lava_s / sim_s, "stepping": stepping / sim_s}
    return out


def bench_sanafe(model, inputs, chip_name, repeat_ours):
    from deploy.sanafe.backend import SanafeBackend
    from hardware_sim.chips import load_chip
    from hardware_sim.cost.cycle import cycle_model
    from hardware_sim.cost.mapping import map_to_cores
    from hardware_sim.engine import pipelined_reference

    chip = load_chip(chip_name)
    graph = model.graph

    def ours():
        mapping = map_to_cores(graph, chip)
        ref = pipelined_reference(graph, inputs)
        return ref, cycle_model(graph, ref, chip, mapping, inputs=inputs)

    timed = side_by_side({"ours": ours}, repeat_ours)
    ref, report = timed["ours"]["value"]
    start = time.perf_counter()
    theirs = SanafeBackend(chip=chip, arch="profile", timing_model="detailed",
                           mapping=map_to_cores(graph, chip)).run(model, inputs)
    sf_s = time.perf_counter() - start
    n, ours_s = len(inputs), timed["ours"]["seconds"]
    same = all(np.array_equal(theirs.spikes_per_step[k], ref.spikes_per_step[k])
               for k in ref.spikes_per_step)
    return {"samples": n, "spikes_identical": bool(same),
            "energy_uj": {"ours": report.energy_j_per_inference * 1e6,
                          "sanafe": theirs.sanafe.energy_j_per_inference * 1e6},
            "ms_per_sample": {"ours_pipelined_and_cycle_model": 1e3 * ours_s / n,
                              "sanafe_total": 1e3 * sf_s / n,
                              "sanafe_sim_only": 1e3 * theirs.sanafe.sim_wall_s / n},
            "x_ours": {"total": sf_s / ours_s, "sim_only": theirs.sanafe.sim_wall_s / ours_s}}


# --- ResNet-19 in a process of its own --------------------------------------------------------

def resnet19_child(batch: int, compile_update: bool, cost_model: bool = True) -> dict:
    """Build, calibrate, map, simulate one batch and (``cost_model``) count, price and time
    its events; the peak memory of the process and of each part."""
    import torch

    from hardware_sim.engine import estimate_memory, simulate
    from hardware_sim.ir.graph import neuron_count

    graph = resnet_graph()
    calibrate(graph, cifar_like(4, seed=2))
    inputs = cifar_like(batch)
    out = {"batch": batch, "threads": torch.get_num_threads(), "compiled": compile_update,
           "neurons": sum(neuron_count(p) for p in graph.populations),
           "synapses": int(sum(p.synapses for pop in graph.populations for p in pop.projections))}
    est = estimate_memory(graph, TIMESTEPS, compile=compile_update)
    out["estimate"] = {"per_sample_mb": est.per_sample / 2**20, "fixed_mb": est.fixed / 2**20,
                       "batch_mb": est.bytes_for(batch) / 2**20,
                       "parts_mb_per_sample": {k: v / 2**20 for k, v in est.parts.items()}}
    mapping_s = map_resnet19(graph) if cost_model else {}
    out["mapping"] = mapping_s
    before = _rss()
    t0 = time.perf_counter()
    with PeakMemory() as sim_mem:
        result = simulate(graph, inputs, batch_size=batch, compile=compile_update)
    t1 = time.perf_counter()
    steady = sim_mem
    if compile_update:  # steady state: the compile happened in the first run
        with PeakMemory() as steady:
            t0 = time.perf_counter()
            result = simulate(graph, inputs, batch_size=batch, compile=True)
            t1 = time.perf_counter()
    out.update({"sim_s": t1 - t0, "sim_s_per_sample": (t1 - t0) / batch,
                "sim_peak_above_mb": sim_mem.above / 2**20, "rss_before_sim_mb": before / 2**20,
                "steady_sim_peak_above_mb": steady.above / 2**20,
                "firing_rate": sum(c.spikes for c in result.counts)
                / sum(c.neuron_updates for c in result.counts),
                "synaptic_events": events_of(result)})
    if not cost_model:
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return out
    with PeakMemory() as cost_mem:
        mapping, energy, cycle = cost_run(graph, result, "loihi2")
    t2 = time.perf_counter()
    out.update({
        "cost_model_s": t2 - t1,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cost_model_peak_above_mb": cost_mem.above / 2**20, "cores": mapping.cores,
        "energy_uj_per_inference": energy.energy_j_per_inference * 1e6,
        "latency_us_per_inference": cycle.latency_s * 1e6,
    })
    return out


def map_resnet19(graph) -> dict:
    """ResNet-19 mapped on each chip: time, peak memory the mapping allocates (tracemalloc,
    numpy's arrays included, in a second run), cores, chips,
    compartments, populations whose fan-in was split (the stock chips split what does not fit
    a core); with Loihi's limits lifted for comparison."""
    from hardware_sim.chips import derive_chip, load_chip
    from hardware_sim.cost.mapping import MappingError, map_to_cores

    chips = (("loihi2", load_chip("loihi2")),
             ("loihi, 1024-neuron cores, limits lifted",
              derive_chip("loihi", neurons_per_core=1024, limits={
                  "synaptic_memory_bits_per_core": 1 << 26,
                  "axons_in_per_core": 1 << 16, "axons_out_per_core": 1 << 24})),
             ("loihi (stock)", load_chip("loihi")))
    out = {}
    for label, chip in chips:
        start = time.perf_counter()
        try:
            m = map_to_cores(graph, chip)
            seconds = time.perf_counter() - start
            tracemalloc.start()  # a second, traced run: the peak of what the mapping allocates
            map_to_cores(graph, chip)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            out[label] = {"seconds": seconds, "cores": m.cores,
                          "chips": m.chips, "compartments": m.compartments,
                          "split_populations": sum(bool(p.dendrites) for p in m.populations),
                          "peak_mb_above": peak / 2**20}
        except MappingError as err:
            out[label] = {"seconds": time.perf_counter() - start, "error": str(err)}
    return out


def resnet19_mapping_child() -> dict:
    """``map_resnet19`` of the calibrated ResNet-19 in a fresh process (clean peak memory)."""
    graph = resnet_graph()
    calibrate(graph, cifar_like(4, seed=2))
    return map_resnet19(graph)


def resnet19_float(batch: int, repeat: int) -> dict:
    """The float forward and the functional engine side by side on a small batch (time only)."""
    from hardware_sim.engine import simulate

    graph = resnet_graph()
    calibrate(graph, cifar_like(4, seed=2))
    inputs = cifar_like(batch)
    timed = side_by_side({"float": float_forward(graph, inputs),
                          "sim": lambda: simulate(graph, inputs, batch_size=batch, compile=False),
                          "sim compiled": lambda: simulate(graph, inputs, batch_size=batch,
                                                           compile=True)}, repeat)
    return {k: {"ms_per_sample": 1e3 * v["seconds"] / batch, "runs_s": v["runs"],
                "x_float": v["seconds"] / timed["float"]["seconds"]} for k, v in timed.items()}


def in_child(kind: str, **kwargs) -> dict:
    """Run ``kind`` in a fresh interpreter (clean peak memory); its JSON result."""
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); "
            f"from benchmarks.bench_sim import {kind}; "
            f"print('RESULT' + json.dumps({kind}(**{kwargs!r})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT"):
            return json.loads(line[len("RESULT"):])
    raise RuntimeError(f"{kind} failed:\n{proc.stderr[-3000:]}")


# --- dense vs event-driven -----------------------------------------------------------------------

def sweep(repeat: int, batch: int) -> list[dict]:
    """Time of one dense projection's synaptic input against the source's firing rate, the
    dense product vs the event-driven (sparse) one, at three layer sizes."""
    import torch

    from hardware_sim.engine import _PreparedProjection
    from hardware_sim.ir.graph import Projection

    rows = []
    rng = np.random.default_rng(0)
    for n_in, n_out in ((128, 64), (512, 256), (2048, 1024)):
        proj = Projection("p", "dense", rng.integers(-128, 128, (n_out, n_in)), (n_in,))
        prep = _PreparedProjection(proj, 1, torch.device("cpu"))
        for rate in (0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4):
            src = torch.as_tensor(rng.random((batch, n_in)) < rate, dtype=torch.float32)

            def run(event_driven, src=src):
                prep.event_driven = event_driven
                return prep.scaled(src)

            timed = side_by_side({"dense": lambda: run(False), "event": lambda: run(True)}, repeat)
            assert torch.equal(timed["dense"]["value"], timed["event"]["value"])
            rows.append({"layer": f"{n_in}->{n_out}", "rate": rate, "batch": batch,
                         "dense_ms": 1e3 * timed["dense"]["seconds"],
                         "event_driven_ms": 1e3 * timed["event"]["seconds"]})
    return rows


# --- main ----------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a fast run: smaller batches, fewer repeats and samples")
    parser.add_argument("--mlp", default=str(ROOT / "runs" / "mlp" / "model.nir"))
    parser.add_argument("--convnet", default=str(ROOT / "runs" / "demo" / "model.nir"))
    parser.add_argument("--batch", type=int, default=256, help="batch of the small models")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per executor (median)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (on a shared 2-core machine two threads "
                             "oversubscribe and vary tenfold; 0: torch's own choice)")
    parser.add_argument("--lava-samples", type=int, default=128)
    parser.add_argument("--sanafe-samples", type=int, default=64)
    parser.add_argument("--resnet19-batch", type=int, default=64,
                        help="ResNet-19 batch with the cycle model, in a fresh process")
    parser.add_argument("--resnet19-memory-batches", default="8,32",
                        help="more ResNet-19 batches (functional only, each in a fresh process): "
                             "how the peak memory scales with the batch")
    parser.add_argument("--resnet19-float-batch", type=int, default=16,
                        help="ResNet-19 batch of the float vs functional comparison")
    parser.add_argument("--skip", action="append", default=[],
                        choices=["lava", "sanafe", "resnet19"], help="leave a part out")
    parser.add_argument("--sweep", action="store_true",
                        help="also time dense vs event-driven projections against firing rate")
    parser.add_argument("--out", default=str(RESULTS), help="JSON to write")
    parser.add_argument("--resnet19-mapping-only", action="store_true",
                        help="measure only ResNet-19's mapping on each chip (fresh process) and "
                             "update that entry of --out, keeping the rest")
    args = parser.parse_args(argv)
    if args.resnet19_mapping_only:
        return update_resnet19_mapping(Path(args.out), argv)
    if args.quick:
        args.batch, args.repeat = min(args.batch, 64), min(args.repeat, 3)
        args.lava_samples, args.sanafe_samples = min(args.lava_samples, 16), min(args.sanafe_samples, 16)
        args.resnet19_batch, args.resnet19_float_batch = min(args.resnet19_batch, 4), min(args.resnet19_float_batch, 2)
        args.resnet19_memory_batches = "2"

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the ResNet-19 child process too
    record = {"command": " ".join([".venv/bin/python", "benchmarks/bench_sim.py", *(argv or sys.argv[1:])]),
              "machine": {"python": platform.python_version(), "torch": torch.__version__,
                          "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                          "platform": platform.platform(), "load_average": os.getloadavg()},
              "models": [], "lava": None, "sanafe": {}, "resnet19": None, "sweep": None}
    models = load_models(args)
    for name, graph, inputs, chip, _ in models:
        print(f"{name}: {len(inputs)} samples ...", file=sys.stderr)
        record["models"].append(bench_model(name, graph, inputs, chip, args.repeat))
    deployed = {name: m for name, _, _, _, m in models if m is not None}
    if "lava" not in args.skip:
        model = deployed["demo convnet"]
        inputs = models[1][2][:args.lava_samples]
        print("lava ...", file=sys.stderr)
        try:
            record["lava"] = bench_lava(model, inputs, args.repeat)
        except Exception as err:  # reported, not fatal: Lava has its own venv
            record["lava"] = {"error": f"{type(err).__name__}: {err}"}
    if "sanafe" not in args.skip:
        for name in ("demo convnet", "demo MLP"):
            model = deployed[name]
            inputs = [m for m in models if m[0] == name][0][2][:args.sanafe_samples]
            print(f"sanafe {name} ...", file=sys.stderr)
            try:
                record["sanafe"][name] = bench_sanafe(model, inputs, "loihi", args.repeat)
            except Exception as err:
                record["sanafe"][name] = {"error": f"{type(err).__name__}: {err}"}
    if "resnet19" not in args.skip:
        print("ResNet-19 ...", file=sys.stderr)
        r19 = {"float_vs_sim": resnet19_float(args.resnet19_float_batch, max(1, args.repeat // 3)),
               "cycle_model_run": in_child("resnet19_child", batch=args.resnet19_batch,
                                           compile_update=True)}
        r19["memory_by_batch"] = [
            in_child("resnet19_child", batch=int(b), compile_update=True, cost_model=False)
            for b in args.resnet19_memory_batches.split(",") if b.strip()]
        run = r19["cycle_model_run"]
        per = run["sim_s_per_sample"]
        r19["test_set_10000"] = {
            "functional_hours_one_process": 1e4 * per / 3600,
            "with_cycle_model_hours_one_process": (1e4 * per + run["cost_model_s"]) / 3600,
            "note": "the cost model runs once on the merged per-step sums (its time does not "
                    "grow with the samples); N Ray workers on N such machines divide the "
                    "simulation time by N"}
        record["resnet19"] = r19
    if args.sweep:
        print("sweep ...", file=sys.stderr)
        record["sweep"] = sweep(args.repeat, args.batch)
    print_table(record)
    from hardware_sim.files import write_json

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, record)
    print(f"wrote {out}")
    return 0


def update_resnet19_mapping(out: Path, argv: list[str] | None) -> int:
    """``--resnet19-mapping-only``: re-measure ``record["resnet19"]["cycle_model_run"]
    ["mapping"]`` of ``out`` (which must exist), with the command that did it."""
    from hardware_sim.files import write_json

    record = json.loads(out.read_text())
    mapping = in_child("resnet19_mapping_child")
    record["resnet19"]["cycle_model_run"]["mapping"] = mapping
    record["resnet19"]["cycle_model_run"]["mapping_command"] = " ".join(
        [".venv/bin/python", "benchmarks/bench_sim.py", *(argv or sys.argv[1:])])
    write_json(out, record)
    for label, mp in mapping.items():
        print(f"ResNet-19 mapping on {label}: {mp['seconds']:.2f} s, "
              + (f"peak {mp['peak_mb_above']:.0f} MB above, {mp['cores']} cores, {mp['chips']} "
                 f"chips, {mp['compartments']} compartments, {mp['split_populations']} "
                 "populations split" if "cores" in mp else mp["error"]))
    print(f"updated {out}")
    return 0


def print_table(record: dict) -> None:
    m = record["machine"]
    print(f"python {m['python']}, torch {m['torch']}, {m['cpus']} CPUs, {m['torch_threads']} torch "
          f"threads, load {m['load_average'][0]:.2f}")
    head = (f"{'model':<14}{'executor':<14}{'ms/sample':>11}{'samples/s':>11}{'events/s':>11}"
            f"{'peak MB':>9}{'× float':>9}")
    print(head)
    for row in record["models"]:
        for name, ex in row["executors"].items():
            ev = ex["synaptic_events_per_s"]
            print(f"{row['model']:<14}{name:<14}{ex['ms_per_sample']:>11.4f}{ex['samples_per_s']:>11.0f}"
                  f"{(f'{ev:.3g}' if ev else '-'):>11}{ex['peak_mb_above']:>9.1f}{ex['x_float']:>9.2f}")
        print(f"{'':<14}batch {row['samples']}, T={row['timesteps']}, firing rate "
              f"{row['firing_rate']:.3f}, eager = compiled: {row['identical_eager_compiled']}, "
              f"{row['cores']} cores on {row['chip']}, {row['energy_uj_per_inference']:.4g} µJ, "
              f"{row['latency_us_per_inference']:.4g} µs per inference")
    lava = record.get("lava")
    if lava and "error" not in lava:
        ms = lava["ms_per_sample"]
        print(f"lava fixed_pt, demo convnet, {lava['samples']} samples: {ms['lava_end_to_end']:.2f} ms/"
              f"sample end to end, stepping {ms['lava_stepping']:.2f}; identical: {lava['identical']}")
        for key, x in lava["x_sim"].items():
            print(f"  vs {key} ({ms[key]:.4f} ms/sample): {x['end_to_end']:.0f}× end to end, "
                  f"{x['stepping']:.0f}× stepping")
    elif lava:
        print(f"lava: {lava['error']}")
    for name, sf in (record.get("sanafe") or {}).items():
        if "error" in sf:
            print(f"sanafe {name}: {sf['error']}")
            continue
        ms = sf["ms_per_sample"]
        print(f"sanafe {name}, {sf['samples']} samples: {ms['sanafe_total']:.2f} ms/sample "
              f"({sf['x_ours']['total']:.0f}× ours; sim only {sf['x_ours']['sim_only']:.0f}×), ours "
              f"(pipelined + cycle model) {ms['ours_pipelined_and_cycle_model']:.3f}; spikes identical: "
              f"{sf['spikes_identical']}; energy {sf['energy_uj']['ours']:.4g} / "
              f"{sf['energy_uj']['sanafe']:.4g} µJ")
    r19 = record.get("resnet19")
    if r19:
        fv = r19["float_vs_sim"]
        print("ResNet-19 float vs sim: " + ", ".join(
            f"{k} {v['ms_per_sample']:.1f} ms/sample ({v['x_float']:.2f}× float)" for k, v in fv.items()))
        run = r19["cycle_model_run"]
        print(f"ResNet-19 batch {run['batch']} with the cycle model: {run['sim_s_per_sample'] * 1e3:.0f} ms/"
              f"sample functional, cost model {run['cost_model_s']:.1f} s, peak RSS "
              f"{run['peak_rss_mb']:.0f} MB (estimate {run['estimate']['batch_mb']:.0f} MB for the "
              f"engine), firing rate {run['firing_rate']:.3f}, {run['neurons']} neurons, "
              f"{run['synapses'] / 1e9:.2f} G synapses")
        for label, mp in run["mapping"].items():
            print(f"  mapping on {label}: {mp['seconds']:.2f} s, "
                  + (f"peak {mp['peak_mb_above']:.0f} MB above, {mp['cores']} cores, {mp['chips']} "
                     f"chips, {mp['compartments']} compartments, {mp['split_populations']} "
                     "populations split" if "cores" in mp else mp["error"]))
        for row in [*r19["memory_by_batch"], run]:
            print(f"  batch {row['batch']:>4}: peak RSS {row['peak_rss_mb']:.0f} MB; simulate "
                  f"{row['sim_peak_above_mb']:.0f} MB above the {row['rss_before_sim_mb']:.0f} MB "
                  f"before it (with the compile), {row['steady_sim_peak_above_mb']:.0f} MB in a "
                  f"second run (estimate {row['estimate']['batch_mb']:.0f} MB); "
                  f"{row['sim_s_per_sample'] * 1e3:.0f} ms/sample")
        ts = r19["test_set_10000"]
        print(f"  10,000 images: {ts['functional_hours_one_process']:.2f} h functional, "
              f"{ts['with_cycle_model_hours_one_process']:.2f} h with the cycle model, one process")
    for row in record.get("sweep") or []:
        print(f"sweep {row['layer']:<10} rate {row['rate']:<6} dense {row['dense_ms']:.3f} ms, "
              f"event-driven {row['event_driven_ms']:.3f} ms")


if __name__ == "__main__":
    sys.exit(main())
