"""Bit-exact execution of a QGraph (DESIGN §3), batched over samples with torch.

Every quantity is an int64 tensor; convolutions and matrix products run in
float64 (exact: every partial sum is bounded far below 2^53, checked when a
projection is prepared) or float32 where the bound is below 2^24. The same code
runs on a GPU by passing ``device``.

Three timings are executed (``simulate(..., timing=...)``):
- "zero-delay": the reference. A layer at step t sees its sources' spikes of step
  t − d (d: the projection's delay; the float model's timing), every sample from zero
  state. Every other backend is compared with this form.
- "aligned": the pipeline of DESIGN §3 ("Alignment") as the Lava compiler builds it,
  planned by hardware_sim.ir.pipeline: every Dense/Conv hop delays one step, delay
  lines balance joins and carry d (masked on each sample's first d steps), each
  layer resets u and v every T steps at its own offset, and samples run back to back,
  T steps apart (several streams of them side by side). ``run_aligned`` returns every
  population's record of every hardware step, equal to Lava's step for step; after
  the per-layer shift (each layer's window) spikes, readout values and counters equal
  the zero-delay run's.
- "pipelined": SANA-FE's timing, a naive pipeline, labelled so wherever it is
  reported: one step of synaptic delay per hop, every layer starting from zero state
  at step 0, no per-layer resets and no balancing delays. On nets with a bias, or a
  join of paths of different length, it differs from the shifted zero-delay run.
  ``pipelined_reference`` attributes its synaptic work as SANA-FE does, for the cycle
  model.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from hardware_sim.ir import synapses
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph, neuron_count
from hardware_sim.ir.neuron import IntOps, NeuronParams, NeuronState, int_step
from hardware_sim.ir.pipeline import NetworkPlan, ProjectionPlan, plan_network
from hardware_sim.results import PopulationCounts, SimulationResult

_EXACT_FLOAT32 = 1 << 24  # float32 holds every integer up to 2^24 (24-bit significand)
_EXACT_FLOAT64 = 1 << 53


def _torch_rtz(x: torch.Tensor, n: int) -> torch.Tensor:
    """sign(x)·(|x| >> n): the hardware's right shift rounding toward zero."""
    return torch.div(x, 1 << n, rounding_mode="trunc")


TORCH_OPS = IntOps(rtz=_torch_rtz, where=torch.where)
"""``int_step`` (hardware_sim.ir.neuron) on int64 torch tensors, on any device."""


def exp_shift(acc: torch.Tensor, exp: int) -> torch.Tensor:
    """acc << exp for exp ≥ 0, arithmetic acc >> −exp (toward −∞) otherwise."""
    if exp >= 0:
        return acc * (1 << exp)
    return torch.div(acc, 1 << -exp, rounding_mode="floor")


class _PreparedProjection:
    """A projection's weights as device tensors, and a dtype in which they compute exactly."""

    def __init__(self, proj: Projection, max_input: int, device: torch.device):
        self.proj = proj
        weight = np.asarray(proj.weight, dtype=np.int64)
        bound = max_input * proj.pool * proj.pool * _max_abs_fan_in_sum(proj, weight)
        if bound >= _EXACT_FLOAT64:
            raise OverflowError(f"projection from {proj.source!r}: partial sums exceed 2^53")
        self.dtype = torch.float32 if bound < _EXACT_FLOAT32 else torch.float64
        self.weight = torch.as_tensor(weight, dtype=self.dtype, device=device)
        # events: a target's count of non-zero inputs is at most its fan-in
        self.event_dtype = torch.float32 if int(synapses.fan_in(proj).max(initial=0)) < _EXACT_FLOAT32 \
            else torch.float64
        self.box = None if proj.kind == "dense" else \
            torch.ones((1, 1, *weight.shape[2:]), dtype=self.event_dtype, device=device)

    def synaptic_input(self, src: torch.Tensor) -> torch.Tensor:
        """acc = W applied to the pooled source, exact, as int64 (B, *out_shape)."""
        return self._apply(src.to(self.dtype), self.weight).round().to(torch.int64)

    def events_per_target(self, src: torch.Tensor) -> torch.Tensor:
        """Non-zero inputs arriving at each target neuron, (B, *out_shape): the torch form of
        ``synapses.arrivals``. The count does not depend on the weights: the source's non-zero
        values summed over input channels and box-filtered by the kernel (a conv), or summed
        (dense), the same for every output channel. Summed over targets, every input counts
        once per synapse it crosses: incoming spikes × fan-out."""
        p = self.proj
        x = self._pooled((src != 0).to(self.event_dtype))
        if p.kind == "dense":
            total = x.reshape(x.shape[0], -1).sum(dim=1)
            return total[:, None].expand(-1, p.weight.shape[0]).round().to(torch.int64)
        box = F.conv2d(x.sum(dim=1, keepdim=True), self.box, stride=p.stride, padding=p.padding)
        return box.expand(-1, p.weight.shape[0], -1, -1).round().to(torch.int64)

    def _pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Sum pooling, kernel = stride = k (exact: a sum, no division)."""
        k = self.proj.pool
        return x if k == 1 else F.avg_pool2d(x, k, k, divisor_override=1)

    def _apply(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        p = self.proj
        x = self._pooled(x)
        if p.kind == "dense":
            return x.reshape(x.shape[0], -1) @ weight.T
        return F.conv2d(x, weight, stride=p.stride, padding=p.padding)


def _max_abs_fan_in_sum(proj: Projection, weight: np.ndarray) -> int:
    absw = np.abs(weight)
    if proj.kind == "dense":
        return int(absw.sum(axis=1).max(initial=0))
    return int(absw.reshape(absw.shape[0], -1).sum(axis=1).max(initial=0))


class _PopulationState:
    """A population's (u, v) over a batch between steps: the NeuronState that ``step`` advances."""

    def __init__(self, pop: IntPopulation, batch: int, device: torch.device):
        shape = (batch, *pop.shape)
        self.u = torch.zeros(shape, dtype=torch.int64, device=device)
        self.v = torch.zeros(shape, dtype=torch.int64, device=device)


class _PreparedPopulation:
    def __init__(self, pop: IntPopulation, graph: QGraph, device: torch.device):
        self.pop = pop
        self.params = NeuronParams.from_fields(
            du=pop.du, dv=pop.dv, vth=pop.vth, bias=pop.bias, gain=pop.gain, readout=pop.readout,
        ).map(lambda _, arr: torch.as_tensor(arr, device=device))
        max_in = (1 << graph.input_bits) - 1
        self.projections = [
            _PreparedProjection(p, max_in if p.source == INPUT else 1, device)
            for p in pop.projections
        ]

    def step(self, state: _PopulationState, a: torch.Tensor, counts: PopulationCounts) -> torch.Tensor:
        """One neuron update, ``int_step`` (DESIGN §3): advances ``state``, counts its wraps and
        clips, returns the spikes (all false for a readout)."""
        new = int_step(a, NeuronState(state.u, state.v), self.params, TORCH_OPS)
        counts.u_wraps += int(new.wrapped.sum())
        counts.v_clips += int(new.clipped.sum())
        state.u, state.v = new.u, new.v
        return new.spikes


Timing = Literal["zero-delay", "pipelined", "aligned"]
TIMINGS: tuple[Timing, ...] = ("zero-delay", "pipelined", "aligned")
_HOP_DELAY = {"zero-delay": 0, "pipelined": 1}


def direct_encode(x_int: np.ndarray, timesteps: int) -> np.ndarray:
    """Direct encoding: the static input repeated over T steps, (N, T, *shape)."""
    return np.repeat(np.asarray(x_int)[:, None], timesteps, axis=1)


class AlignedRun(NamedTuple):
    """What ``run_aligned`` returns: Lava's run of the samples, step for step, and its result."""

    records: dict[str, np.ndarray]
    """Per population, every hardware step, (N·T + max depth, *shape), as Lava's recorders
    keep them: spikes (bool), or a readout's v (int64); the steps before the population's
    window and the drain after it included."""
    result: SimulationResult
    """The run in the reference's timing (each population's window): equal to
    ``simulate(timing="zero-delay")``."""
    plan: NetworkPlan


def simulate(
    graph: QGraph,
    inputs: np.ndarray,
    *,
    timing: Timing = "zero-delay",
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    record_spikes: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Run ``graph`` on integer inputs of shape (N, T, *input_shape) in one of the three
    timings of the module docstring, and count what it does.

    "zero-delay" and "pipelined" run ``batch_size`` samples side by side, each from zero
    state. "aligned" runs up to ``batch_size`` streams side by side, each a block of
    consecutive samples back to back through the pipeline of hardware_sim.ir.pipeline
    (Lava's run of those samples), and returns what each population did in its window,
    in the reference's timing. ``on_batch(n)`` is called as n more samples are done.
    """
    inputs = _checked_inputs(graph, inputs)
    if timing not in TIMINGS:
        raise ValueError(f"timing must be one of {TIMINGS}, not {timing!r}")
    device = torch.device(device)
    n, timesteps = inputs.shape[:2]
    prepared = [_PreparedPopulation(p, graph, device) for p in graph.populations]
    tally = _Tally(graph, timesteps, device)
    outputs, spikes = [], []
    if timing == "aligned":
        for start, lanes, per_lane in _stream_blocks(n, batch_size):
            block = inputs[start:start + lanes * per_lane]
            streams = block.reshape(lanes, per_lane, *inputs.shape[1:])
            out, rec, _ = _run_streams(prepared, graph, streams, tally, device, record_spikes,
                                       record_steps=False, on_batch=on_batch)
            outputs.append(out)
            spikes.append(rec)
    else:
        for start in range(0, n, batch_size):  # outputs and spikes leave the device per batch
            batch = torch.as_tensor(inputs[start:start + batch_size], dtype=torch.int64, device=device)
            out, rec = _run_batch(prepared, graph, batch, _HOP_DELAY[timing], tally.counts,
                                  tally.per_step, tally.events, record_spikes)
            outputs.append(out.cpu())
            spikes.append({k: v.cpu() for k, v in rec.items()})
            if on_batch is not None:
                on_batch(batch.shape[0])
    return tally.result(n, outputs, spikes if record_spikes else None)


def run_aligned(graph: QGraph, inputs: np.ndarray, *, device: str | torch.device = "cpu",
                record_spikes: bool = False) -> AlignedRun:
    """The aligned pipeline as Lava runs it (deploy.lava): the N samples of ``inputs``
    (N, T, *input_shape) back to back in one stream, N·T + max depth hardware steps.

    Returns every population's record of every step (what the Lava backend brings back
    with ``keep_records``) and the SimulationResult of ``simulate(timing="aligned")``.
    """
    inputs = _checked_inputs(graph, inputs)
    device = torch.device(device)
    n, timesteps = inputs.shape[:2]
    prepared = [_PreparedPopulation(p, graph, device) for p in graph.populations]
    tally = _Tally(graph, timesteps, device)
    out, rec, records = _run_streams(prepared, graph, inputs[None], tally, device, record_spikes,
                                     record_steps=True, on_batch=None)
    assert records is not None
    return AlignedRun(records={name: r[:, 0].cpu().numpy() for name, r in records.items()},
                      result=tally.result(n, [out], [rec] if record_spikes else None),
                      plan=plan_network(graph, timesteps, n))


def pipelined_reference(graph: QGraph, inputs: np.ndarray, **simulate_kwargs) -> SimulationResult:
    """The "pipelined" timing (SANA-FE's; not the aligned pipeline, see the module docstring)
    with its synaptic work attributed as SANA-FE does it, for the cycle model to cost.

    Spikes: ``simulate(..., timing="pipelined")``. Synaptic work: attributed to the step
    whose spikes (or inputs) cause it, as SANA-FE and the hardware do it (a message is
    processed in the step it is sent and integrated in the next one): the events of step t
    are the arrivals at step t + 1 of a run one step longer (input held), so the last
    step's spikes get their synaptic ops too. A plain "pipelined" run counts arrivals only
    and misses them (in the "zero-delay" timing the two coincide). The cycle model's
    active-update rule then sees step t + 1's arrivals at step t.
    """
    inputs = np.asarray(inputs)
    run = simulate(graph, inputs, timing="pipelined", **simulate_kwargs)
    longer = simulate(graph, np.concatenate([inputs, inputs[:, -1:]], axis=1), timing="pipelined",
                      **simulate_kwargs)
    run.synaptic_events_per_step = {k: v[1:] for k, v in longer.synaptic_events_per_step.items()}
    for mine, more in zip(run.counts, longer.counts):
        mine.synaptic_ops, mine.input_macs = more.synaptic_ops, more.input_macs
    return run


def _checked_inputs(graph: QGraph, inputs: np.ndarray) -> np.ndarray:
    inputs = np.asarray(inputs)
    if inputs.ndim != 2 + len(graph.input_shape) or tuple(inputs.shape[2:]) != graph.input_shape:
        raise ValueError(f"inputs must have shape (N, T, {graph.input_shape}), got {inputs.shape}")
    hi = (1 << graph.input_bits) - 1
    if inputs.size and (inputs.min() < 0 or inputs.max() > hi or not np.issubdtype(inputs.dtype, np.integer)):
        raise ValueError(f"inputs must be integers in [0, {hi}]: quantize them with QGraph.quantize_input")
    return inputs


class _Tally:
    """A run's counters and per-step sums (device tensors), and the SimulationResult they make."""

    def __init__(self, graph: QGraph, timesteps: int, device: torch.device):
        self.graph = graph
        self.timesteps = timesteps
        self.counts = [PopulationCounts(p.name, neuron_count(p)) for p in graph.populations]

        def zeros(shape: tuple[int, ...]) -> torch.Tensor:
            return torch.zeros((timesteps, *shape), dtype=torch.int64, device=device)

        self.per_step = {p.name: zeros(p.shape) for p in graph.populations}
        self.events = {p.name: zeros(p.shape) for p in graph.populations}

    def result(self, n: int, outputs: list[torch.Tensor],
               spikes: list[dict[str, torch.Tensor]] | None) -> SimulationResult:
        """``outputs`` and ``spikes`` ((T, b, *shape) per population) of the batches, in order."""
        graph = self.graph
        output = (torch.cat(outputs).cpu().numpy() if outputs
                  else np.zeros((0, *graph.output_population.shape), np.int64))
        for c in self.counts:
            c.neuron_updates = c.neurons * n * self.timesteps
        return SimulationResult(
            output=output,
            predictions=output.reshape(n, -1).argmax(axis=1) if n else np.zeros(0, np.int64),
            counts=self.counts,
            samples=n,
            timesteps=self.timesteps,
            spikes=({p.name: torch.cat([s[p.name] for s in spikes], dim=1).cpu().numpy()
                     for p in graph.populations} if spikes else None),
            spikes_per_step={k: v.cpu().numpy() for k, v in self.per_step.items()},
            synaptic_events_per_step={k: v.cpu().numpy() for k, v in self.events.items()},
        )


def _count_arrivals(prep: _PreparedProjection, src: torch.Tensor, count: PopulationCounts,
                    events_now: torch.Tensor) -> None:
    """Count what arrives through ``prep`` this step: input MACs for the graded input,
    synaptic ops for spikes, and the events per target neuron (``events_now``, added to)."""
    arrivals = prep.events_per_target(src)
    if prep.proj.source == INPUT:
        count.input_macs += int(arrivals.sum())
    else:
        count.synaptic_ops += int(arrivals.sum())
    events_now += arrivals.sum(dim=0)


def _run_batch(prepared, graph, batch, hop_delay, counts, per_step, events, record_spikes):
    """The zero-delay (hop_delay 0) or naive pipelined (1) run of a batch (b, T, *input_shape):
    returns (outputs (b, *shape), spikes {name: (T, b, *shape)} when recorded)."""
    b, timesteps = batch.shape[:2]
    device = batch.device
    states = [_PopulationState(pp.pop, b, device) for pp in prepared]
    max_delay = max((p.delay for pop in graph.populations for p in pop.projections), default=0) + hop_delay
    history: deque[dict[str, torch.Tensor]] = deque(maxlen=max_delay + 1)
    zeros = {INPUT: torch.zeros_like(batch[:, 0])}
    zeros.update({pp.pop.name: torch.zeros((b, *pp.pop.shape), dtype=torch.int64, device=device)
                  for pp in prepared})
    output_sum = torch.zeros((b, *graph.output_population.shape), dtype=torch.int64, device=device)
    recorded: dict[str, list[torch.Tensor]] = {pp.pop.name: [] for pp in prepared}
    for t in range(timesteps):
        current = {INPUT: batch[:, t]}
        history.appendleft(current)
        for pp, state, count in zip(prepared, states, counts):
            a = torch.zeros((b, *pp.pop.shape), dtype=torch.int64, device=device)
            for prep in pp.projections:
                lag = prep.proj.delay + hop_delay
                src = history[lag][prep.proj.source] if lag < len(history) else zeros[prep.proj.source]
                a += exp_shift(prep.synaptic_input(src), prep.proj.weight_exp)
                _count_arrivals(prep, src, count, events[pp.pop.name][t])
            spikes = pp.step(state, a, count)
            current[pp.pop.name] = spikes.to(torch.int64)
            count.spikes += int(spikes.sum())
            per_step[pp.pop.name][t] += spikes.sum(dim=0)
            if record_spikes:
                recorded[pp.pop.name].append(spikes)
        out_pop = graph.output_population
        if not out_pop.readout:
            output_sum += current[out_pop.name]
    out_index = [pp.pop.name for pp in prepared].index(graph.output)
    output = states[out_index].v if graph.output_population.readout else output_sum
    return output, {k: torch.stack(v) for k, v in recorded.items() if v}


def _stream_blocks(n: int, lanes: int):
    """How "aligned" deals n samples to at most ``lanes`` streams of equal length: (first
    sample, streams, samples per stream) per run; a second run takes what does not divide."""
    if n == 0:
        return
    lanes = min(lanes, n)
    per_lane = n // lanes
    yield 0, lanes, per_lane
    if n > lanes * per_lane:
        yield lanes * per_lane, n - lanes * per_lane, 1


def _run_streams(prepared, graph: QGraph, streams: np.ndarray, tally: _Tally, device: torch.device,
                 record_spikes: bool, *, record_steps: bool,
                 on_batch: Callable[[int], None] | None):
    """The aligned pipeline (hardware_sim.ir.pipeline) on B streams side by side.

    ``streams``: (B, K, T, *input_shape), each stream's K samples back to back; every
    stream runs K·T + max depth hardware steps exactly as Lava runs them. ``tally``
    receives what each population did in its window, at the reference's step. Returns
    (outputs (B·K, *shape), spikes {name: (T, B·K, *shape)} when recorded, and with
    ``record_steps`` every population's spikes or readout v at every step,
    {name: (steps, B, *shape)}), sample b·K + k being stream b's k-th.
    """
    lanes, per_lane, timesteps = streams.shape[:3]
    plan = plan_network(graph, timesteps, per_lane)
    states = [_PopulationState(pp.pop, lanes, device) for pp in prepared]
    plans = [plan.projections_into(pp.pop.name) for pp in prepared]
    history: deque[dict[str, torch.Tensor | None]] = deque(
        maxlen=max(p.hw_delay for p in plan.projections) + 1)
    outside = PopulationCounts("outside the windows", 0)  # what is not the reference's
    out_pop = graph.output_population
    output = torch.zeros((lanes, per_lane, *out_pop.shape), dtype=torch.int64, device=device)
    spikes_rec = ({pp.pop.name: torch.zeros((timesteps, lanes, per_lane, *pp.pop.shape),
                                            dtype=torch.bool) for pp in prepared}
                  if record_spikes else None)  # recordings are kept in host memory
    records: dict[str, list[torch.Tensor]] | None = (
        {pp.pop.name: [] for pp in prepared} if record_steps else None)
    chunk = None
    for step in range(1, plan.total_steps + 1):
        sent: dict[str, torch.Tensor | None] = {INPUT: None}  # None: nothing (zeros) this step
        sample, tau = divmod(step - 1, timesteps)
        if sample < per_lane:
            if tau == 0:
                chunk = torch.as_tensor(streams[:, sample], dtype=torch.int64, device=device)
            sent[INPUT] = chunk[:, tau]
        for i, (pp, proj_plans, count) in enumerate(zip(prepared, plans, tally.counts)):
            name = pp.pop.name
            if plan.resets(name, step):
                states[i] = _PopulationState(pp.pop, lanes, device)
            where = plan.reference_step(name, step)
            a = torch.zeros((lanes, *pp.pop.shape), dtype=torch.int64, device=device)
            for prep, proj_plan in zip(pp.projections, proj_plans):
                src = _arriving(history, plan, proj_plan, step)
                if src is None:
                    continue
                a += exp_shift(prep.synaptic_input(src), prep.proj.weight_exp)
                if where is not None:
                    _count_arrivals(prep, src, count, tally.events[name][where[1]])
            spikes = pp.step(states[i], a, count if where is not None else outside)
            sent[name] = None if pp.pop.readout else spikes.to(torch.int64)
            if records is not None:
                now = states[i].v if pp.pop.readout else spikes
                records[name].append(now.to("cpu", copy=True))
            if where is None:
                continue
            k, t = where
            count.spikes += int(spikes.sum())
            tally.per_step[name][t] += spikes.sum(dim=0)
            if spikes_rec is not None:
                spikes_rec[name][t, :, k] = spikes.cpu()
            if name == graph.output:
                if not pp.pop.readout:
                    output[:, k] += spikes.to(torch.int64)
                elif t == timesteps - 1:
                    output[:, k] = states[i].v
        history.appendleft(sent)
        done = step - plan.max_depth
        if on_batch is not None and done > 0 and done % timesteps == 0:
            on_batch(lanes)
    n = lanes * per_lane
    return (output.reshape(n, *out_pop.shape).cpu(),
            ({k: v.reshape(timesteps, n, *v.shape[3:]) for k, v in spikes_rec.items()}
             if spikes_rec is not None else None),
            {k: torch.stack(v) for k, v in records.items()} if records is not None else None)


def _arriving(history, plan: NetworkPlan, proj_plan: ProjectionPlan, step: int):
    """What reaches the target through ``proj_plan`` at hardware ``step``: the source's
    message of ``plan.source_step``, or None for zeros (nothing sent yet, masked, the
    input after its last sample, or a readout source, which is silent)."""
    sent_at = plan.source_step(proj_plan, step)
    if sent_at < 1 or plan.masked(proj_plan, step):
        return None
    return history[step - 1 - sent_at][proj_plan.source]
