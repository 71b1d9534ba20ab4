"""QGraph → a Lava process graph, run back to back over many samples (DESIGN §3, §6).

Runs in the Lava environment (Python 3.10, lava-nc 0.10, no torch). The graph
comes from ``hardware_sim.ir.nir.read_nir``, like every backend's.

What each part of a QGraph becomes:

    input              RingBuffer source: the samples' graded integers, back to back
    population P       DaLIF (deploy.lava.proc.dalif), per-neuron du, dv, vth, bias, gain,
                       shape (W, H, C) for a conv layer (Lava's layout), (N,) for a dense one
    projection S → P   [DelayLine] → Conv | Dense | Sparse → P.a_in
                       (a join is several connections into the one a_in, which sums them)
    every population   Recorder sink (deploy.lava.proc.recorder): spikes, or v for a readout
                       (a readout is silent as a source, as in hardware_sim)

Weights (DESIGN §3, "Lava gotchas"). Lava's Dense and Sparse clip weights to
8 bits and, for mixed signs, drop the lowest bit; a mixed-sign W therefore goes
in as 2·W with the exponent lowered by one (exact for int8 W), a one-signed W
as is. Their exponent is a floor shift, as the spec's. Lava's Conv ignores
``weight_exp`` and does not clip, so a conv with e ≥ 0 goes in as W·2^e; the
kernel is flipped and laid out (C_out, kW, kH, C_in) for Lava's true
convolution over (X, Y, C). Sum pooling before a conv is folded into it (each
tap repeated over the k×k pool cell, stride and padding times k). A conv with
e < 0 (a floor shift Conv cannot do) or a pool that does not tile its source
becomes a Sparse matrix, and dense projections from (C, H, W) sources get
their columns permuted from PyTorch's flatten order to Lava's.

Timing: the aligned pipeline of ``hardware_sim.ir.pipeline`` (``plan_network``), which
explains it: population P lags its depth L(P); a projection gets a DelayLine of
``hw_delay`` steps that zeroes what it delivers on the target's first ``mask_steps``
steps of each sample (``mask_phase`` = L(P)); P resets u and v every T steps
(``reset_interval`` = T, ``reset_offset`` = (L(P) + 1) mod T); samples run back to
back, T steps apart, for N·T + max L Lava steps. The Recorders keep every Lava step
(``LavaRun.records``); ``to_reference`` cuts out each population's window, the
zero-delay reference's N·T steps. hardware_sim's engine runs the same plan (timing
"aligned") and its per-step records equal these, step for step.

Recurrence (a projection from P itself or a later population, delay d ≥ 1): Lava's
Dense, Sparse and Conv send last step's accumulation before they receive, so a cycle
through one runs without deadlock and its hop is one step of the delay. All neurons are
built before any projection so that a recurrent source exists when it is connected. Where
the plan's D is 0 (self-recurrence with d = 1) the mask of the sample boundary still
applies: a DelayLine of 0 steps, the mask alone, keeps the last spikes of sample k out of
the first step of sample k + 1. A recurrent projection the plan cannot run (D < 0, from a
layer deeper than its delay allows) is refused with the plan's reason.

``floating_pt`` runs the same graph with float weights W·2^e (Lava's float Dense
ignores the exponent) and the DA-LIF float model: close to, not equal to, the
integer truth.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from hardware_sim.ir import synapses
from hardware_sim.ir.graph import INPUT, GraphError, Projection, QGraph
from hardware_sim.ir.pipeline import NetworkPlan, plan_network

SELECT_TAGS = ("fixed_pt", "floating_pt")

Via = Literal["conv", "dense", "sparse"]


# ---------------------------------------------------------------------------------------------
# Layout: PyTorch's (C, H, W) vs Lava's (W, H, C)


def lava_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """A population's or the input's shape in Lava: (C, H, W) → (W, H, C); (N,) unchanged."""
    return tuple(reversed(shape)) if len(shape) == 3 else tuple(shape)


def to_lava_layout(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(..., C, H, W) → (..., W, H, C); arrays of 1-d layers are returned as they are."""
    if len(shape) != 3:
        return arr
    return np.swapaxes(arr, -1, -3)


def from_lava_layout(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(..., W, H, C) → (..., C, H, W), the inverse of ``to_lava_layout``."""
    return to_lava_layout(arr, shape)


def lava_flat_order(shape: tuple[int, ...]) -> np.ndarray:
    """perm[j] = the PyTorch flat index of the neuron at flat position j of Lava's layout."""
    index = np.arange(int(np.prod(shape))).reshape(shape)
    return to_lava_layout(index, shape).reshape(-1)


# ---------------------------------------------------------------------------------------------
# Synapses of a projection as a matrix (PyTorch flat order on both sides)


def projection_matrix(proj: Projection):
    """The projection as a scipy CSR matrix (targets × sources, PyTorch order)."""
    from scipy.sparse import csr_matrix

    rows, cols, vals = synapses.synapse_list(proj)
    shape = (int(np.prod(proj.output_shape)), int(np.prod(proj.source_shape)))
    return csr_matrix((vals, (rows, cols)), shape=shape)


# ---------------------------------------------------------------------------------------------
# How each projection is realised


def _realisation(proj: Projection, select_tag: str) -> Via:
    """Dense for a dense projection, Conv for a conv that Lava's Conv does exactly (a pool
    that tiles the source, e ≥ 0), Sparse otherwise."""
    if proj.kind == "dense":
        return "dense"
    _, h, w = proj.source_shape
    tiles = h % proj.pool == 0 and w % proj.pool == 0
    if tiles and (proj.weight_exp >= 0 or select_tag == "floating_pt"):
        return "conv"
    return "sparse"


def lava_weights(weight, weight_exp: int) -> tuple:
    """Integer weights (an array or a scipy sparse matrix) and exponent that Lava's
    Dense/Sparse turn back into W·2^e exactly: (2·W, e − 1) for mixed signs, (W, e)
    otherwise; and the name of Lava's sign mode for them."""
    values = weight.data if hasattr(weight, "tocsr") else np.asarray(weight)
    lo, hi = (int(values.min()), int(values.max())) if values.size else (0, 0)
    if lo < 0 < hi:
        return weight * 2, weight_exp - 1, "MIXED"
    return weight, weight_exp, "INHIBITORY" if lo < 0 else "EXCITATORY"


def lava_conv_kernel(proj: Projection, scale: float | int = 1) -> np.ndarray:
    """The conv's kernel for Lava's Conv: pool folded in, times ``scale``, flipped, and laid
    out (C_out, kW, kH, C_in)."""
    w = synapses.unpooled_weight(proj, np.asarray(proj.weight) * scale)
    return np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(0, 3, 2, 1))


# ---------------------------------------------------------------------------------------------
# Building and running


@dataclass
class LavaRun:
    """What a run returns, in PyTorch's layout: ``records`` as the Recorders kept every Lava
    step, the rest in the zero-delay reference's timing (each population's window)."""

    spikes: dict[str, np.ndarray]
    """Per population, (T, N, *shape) bool (all False for a readout)."""
    output: np.ndarray
    """The readout's final v (N, *shape), or the output population's spike counts."""
    u_wraps: dict[str, int]
    v_clips: dict[str, int]
    lava_steps: int
    run_seconds: float
    compile_seconds: float
    records: dict[str, np.ndarray] = field(default_factory=dict)
    """Per population, every Lava step (total_steps, *shape): spikes as bool, a readout's v
    (int64 in ``fixed_pt``); the steps before its window and the drain included."""


@dataclass
class LavaNetwork:
    """A built Lava process graph and what is needed to run it and read it back."""

    graph: QGraph
    plan: NetworkPlan
    select_tag: str
    workdir: Path
    neurons: dict = field(default_factory=dict)
    records: dict[str, Path] = field(default_factory=dict)
    via: dict[tuple[str, int], Via] = field(default_factory=dict)
    """The Lava process that carries each projection, by (target, index)."""

    def run(self, on_progress: Callable[[int, int], None] | None = None,
            chunk_steps: int | None = None) -> LavaRun:
        """Run all samples; ``on_progress(done, total)`` after each chunk of Lava steps."""
        from lava.magma.core.run_conditions import RunSteps
        from lava.magma.core.run_configs import Loihi2SimCfg

        plan = self.plan
        chunk = chunk_steps or plan.timesteps * max(1, 256 // plan.timesteps)
        anchor = next(iter(self.neurons.values()))
        cfg = Loihi2SimCfg(select_tag=self.select_tag)
        done = 0
        compile_seconds = run_seconds = 0.0
        u_wraps, v_clips = {}, {}
        started = False
        watch = _ChildWatch(anchor)
        try:
            while done < plan.total_steps:
                steps = min(chunk, plan.total_steps - done)
                start = time.perf_counter()
                if done == 0:  # the first call compiles and starts the runtime
                    started = True
                    anchor.run(condition=RunSteps(num_steps=1), run_cfg=cfg)
                    compile_seconds = time.perf_counter() - start
                    start = time.perf_counter()
                    done, steps = 1, steps - 1
                if steps:
                    anchor.run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
                run_seconds += time.perf_counter() - start
                done += steps
                if on_progress is not None:
                    on_progress(plan.samples_done(done), plan.samples)
            if self.select_tag == "fixed_pt":
                for name, proc in self.neurons.items():
                    u_wraps[name] = int(proc.u_wraps.get().sum())
                    v_clips[name] = int(proc.v_clips.get().sum())
        except BaseException:
            watch.stop()
            if started:
                with contextlib.suppress(Exception):
                    anchor.stop()
            raise
        watch.stop()
        anchor.stop()
        records = self._read_records()
        spikes, output = self._to_reference(records)
        return LavaRun(spikes, output, u_wraps, v_clips, plan.total_steps, run_seconds,
                       compile_seconds, records)

    def _read_records(self) -> dict[str, np.ndarray]:
        """Every population's record, all Lava steps, in PyTorch's layout."""
        records = {}
        for pop in self.graph.populations:
            record = from_lava_layout(np.load(self.records[pop.name]), pop.shape)
            if not pop.readout:
                record = record != 0
            elif self.select_tag == "fixed_pt":
                record = record.astype(np.int64)
            records[pop.name] = record
        return records

    def _to_reference(self, records: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray],
                                                                      np.ndarray]:
        plan, graph = self.plan, self.graph
        n, t = plan.samples, plan.timesteps
        spikes: dict[str, np.ndarray] = {}
        output = None
        for pop in graph.populations:
            record = plan.to_reference(pop.name, records[pop.name])
            if pop.readout:
                spikes[pop.name] = np.zeros((t, n, *pop.shape), dtype=bool)
                if pop.name == graph.output:
                    output = record[:, -1]
            else:
                spikes[pop.name] = np.swapaxes(record, 0, 1)
                if pop.name == graph.output:
                    output = spikes[pop.name].sum(axis=0).astype(np.int64)
        assert output is not None
        return spikes, output


class _ChildWatch:
    """Ends this process when a Lava process fails while running.

    Lava 0.10 hangs when a ProcessModel raises: the failing process sends its traceback
    to the runtime and exits, and the runtime then joins every process, including those
    still waiting for the failed one's messages. This thread reads the tracebacks the
    runtime's processes report (or notices one killed by a signal), prints them, kills
    the other processes and exits with status 1.
    """

    def __init__(self, anchor, interval: float = 0.5):
        import threading

        self._anchor = anchor
        self._stopped = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _actors(self) -> list:
        runtime = getattr(self._anchor, "runtime", None)
        infrastructure = getattr(runtime, "_messaging_infrastructure", None)
        return list(getattr(infrastructure, "actors", None) or [])

    def _watch(self) -> None:
        import multiprocessing
        import signal
        import sys

        pids: set[int] = set()  # a process object the runtime has closed no longer says its pid
        while not self._stopped.wait(self._interval):
            actors = self._actors()
            for process in [*actors, *multiprocessing.active_children()]:
                with contextlib.suppress(Exception):
                    pids.add(process.pid)
            failed = {}
            for actor in actors:
                with contextlib.suppress(Exception):  # a closed process raises on every look
                    report = actor.exception  # Lava's SystemProcess: (exception, traceback)
                    if isinstance(report, tuple):
                        failed[actor.name] = report[1]
                    elif actor.exitcode is not None and actor.exitcode < 0:
                        failed[actor.name] = f"killed by signal {-actor.exitcode}"
            if failed and not self._stopped.is_set():
                for name, detail in failed.items():
                    print(f"Lava process {name} failed:\n{detail}", file=sys.stderr, flush=True)
                for pid in pids:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                os._exit(1)


def compile_graph(graph: QGraph, inputs: np.ndarray, workdir: str | os.PathLike,
                  select_tag: str = "fixed_pt") -> LavaNetwork:
    """Build the Lava process graph for ``inputs`` (N, T, *input_shape) integers.

    ``workdir`` receives the recorders' files. Nothing runs until ``LavaNetwork.run``.
    """
    from lava.proc.conv.process import Conv
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.sparse.process import Sparse
    from lava.utils.weightutils import SignMode

    from deploy.lava.proc.dalif import DaLIF
    from deploy.lava.proc.delay import DelayLine
    from deploy.lava.proc.recorder import Recorder

    if select_tag not in SELECT_TAGS:
        raise ValueError(f"select_tag must be one of {SELECT_TAGS}, not {select_tag!r}")
    inputs = np.asarray(inputs)
    if inputs.ndim != 2 + len(graph.input_shape) or tuple(inputs.shape[2:]) != graph.input_shape:
        raise ValueError(f"inputs must have shape (N, T, {graph.input_shape}), got {inputs.shape}")
    n, timesteps = inputs.shape[:2]
    plan = plan_network(graph, timesteps, n)
    refusal = plan.refusal()
    if refusal is not None:
        raise GraphError(refusal)
    fixed = select_tag == "fixed_pt"
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    net = LavaNetwork(graph, plan, select_tag, workdir)

    # the input stream: sample after sample, then zeros while the pipeline drains
    stream = np.zeros((plan.total_steps, *graph.input_shape), dtype=np.int32)
    stream[:n * timesteps] = inputs.reshape(n * timesteps, *graph.input_shape)
    stream = to_lava_layout(stream, graph.input_shape)
    source = RingBuffer(data=np.ascontiguousarray(np.moveaxis(stream, 0, -1)))
    ports = {INPUT: source.s_out}
    shapes = {INPUT: graph.input_shape}

    for pop in graph.populations:
        depth = plan.depth[pop.name]
        shape = lava_shape(pop.shape)

        def per_neuron(values: np.ndarray, layer_shape: tuple[int, ...] = pop.shape) -> np.ndarray:
            return np.ascontiguousarray(to_lava_layout(np.asarray(values, np.int64), layer_shape))

        proc = DaLIF(
            shape=shape, du=per_neuron(pop.du), dv=per_neuron(pop.dv), vth=per_neuron(pop.vth),
            bias_mant=per_neuron(pop.bias_mant), bias_exp=pop.bias_exp,
            gain=None if pop.gain is None else per_neuron(pop.gain), readout=pop.readout,
            reset_interval=plan.reset_interval, reset_offset=plan.reset_offset(pop.name),
            count_window=(depth + 1, depth + n * timesteps), name=pop.name,
        )
        record = workdir / f"{len(net.records):03d}_{_safe(pop.name)}.npy"
        dtype = np.int8 if not pop.readout else np.int32 if fixed else np.float64
        np.lib.format.open_memmap(record, mode="w+", dtype=dtype, shape=(plan.total_steps, *shape))
        recorder = Recorder(shape=shape, path=record, num_steps=plan.total_steps)
        proc.s_out.connect(recorder.a_in)
        net.neurons[pop.name] = proc
        net.records[pop.name] = record
        ports[pop.name] = proc.s_out
        shapes[pop.name] = pop.shape

    for pop in graph.populations:  # every population exists now: a recurrent source too
        proc, shape = net.neurons[pop.name], lava_shape(pop.shape)
        for proj_plan in plan.projections_into(pop.name):
            proj = pop.projections[proj_plan.index]
            via = net.via[(pop.name, proj_plan.index)] = _realisation(proj, select_tag)
            if proj.source != INPUT and graph.population(proj.source).readout:
                continue  # a readout sends its v, not spikes: as a source it is silent
            src_shape = lava_shape(shapes[proj.source])
            port = ports[proj.source]
            if proj_plan.hw_delay or proj_plan.mask_steps:  # D = 0: a mask alone (recurrence)
                line = DelayLine(shape=src_shape, delay=proj_plan.hw_delay,
                                 mask_interval=plan.timesteps, mask_phase=proj_plan.mask_phase,
                                 mask_steps=proj_plan.mask_steps)
                port.connect(line.s_in)
                port = line.s_out
            message_bits = graph.input_bits if proj.source == INPUT else 0
            if via == "conv":
                scale = 2 ** proj.weight_exp if fixed else 2.0 ** proj.weight_exp
                stride, padding = synapses.unpooled_conv_geometry(proj)
                conv = Conv(weight=lava_conv_kernel(proj, scale), input_shape=src_shape,
                            padding=padding[::-1], stride=stride[::-1],  # Lava's (W, H) order
                            num_message_bits=message_bits)
                port.connect(conv.s_in)
                conv.a_out.connect(proc.a_in)
                continue
            if len(src_shape) > 1:
                port = port.reshape((int(np.prod(src_shape)),))
            matrix = projection_matrix(proj)[:, lava_flat_order(proj.source_shape)]
            if len(shape) > 1:
                matrix = matrix[lava_flat_order(pop.shape)]
            if fixed:
                weights, exp, mode = lava_weights(matrix.toarray() if via == "dense"
                                                  else matrix, proj.weight_exp)
                kwargs = dict(weight_exp=exp, sign_mode=SignMode[mode])
            else:
                weights = matrix.astype(np.float64) * 2.0 ** proj.weight_exp
                weights = weights.toarray() if via == "dense" else weights
                kwargs = {}
            conn_cls = Dense if via == "dense" else Sparse
            conn = conn_cls(weights=weights, num_message_bits=message_bits, **kwargs)
            port.connect(conn.s_in)
            out = conn.a_out if len(shape) == 1 else conn.a_out.reshape(shape)
            out.connect(proc.a_in)
    return net


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
