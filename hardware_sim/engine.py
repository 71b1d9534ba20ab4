"""Bit-exact execution of a QGraph (DESIGN §3), batched over samples with torch.

Every quantity is an int64 tensor; convolutions and matrix products run in
float64 (exact: every partial sum is bounded far below 2^53, checked when a
projection is prepared) or float32 where the bound is below 2^24. The same code
runs on a GPU by passing ``device``.

Two timing forms are executed:
- ``hop_delay=0``: the zero-delay reference, a layer at step t sees its sources'
  spikes of step t (the float model's timing). Every other backend is compared
  with this form.
- ``hop_delay=1``: one step of synaptic delay per hop, every layer starting from
  zero state at step 0 (SANA-FE's timing). This is not the aligned pipeline of
  DESIGN §3: it has no per-layer reset offsets and no balancing delays, so a layer
  with a bias, or a join of paths of different length, differs from the shifted
  zero-delay run. The Lava backend builds the aligned pipeline itself
  (deploy/lava/compiler.py) and equals the zero-delay form after the shift.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from hardware_sim.ir.graph import INPUT, STATE_MAX, IntPopulation, Projection, QGraph, neuron_count
from hardware_sim.results import PopulationCounts, SimulationResult

_U_WRAP = 1 << 23
_EXACT_FLOAT32 = 1 << 24
_EXACT_FLOAT64 = 1 << 53


def rtz_shift(x: torch.Tensor, n: int) -> torch.Tensor:
    """sign(x)·(|x| >> n): the hardware's right shift rounding toward zero."""
    return torch.div(x, 1 << n, rounding_mode="trunc")


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
        self.unit_weight = torch.ones_like(self.weight)

    def synaptic_input(self, src: torch.Tensor) -> torch.Tensor:
        """acc = W applied to the pooled source, exact, as int64 (B, *out_shape)."""
        return self._apply(src.to(self.dtype), self.weight).round().to(torch.int64)

    def events_per_target(self, src: torch.Tensor) -> torch.Tensor:
        """Non-zero inputs arriving at each target neuron, (B, *out_shape): the projection
        with unit weights. Summed over targets, every input counts once per synapse it
        crosses: incoming spikes × fan-out."""
        return self._apply((src != 0).to(self.dtype), self.unit_weight).round().to(torch.int64)

    def _apply(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        p = self.proj
        if p.pool > 1:
            x = F.avg_pool2d(x, p.pool, p.pool) * (p.pool * p.pool)
        if p.kind == "dense":
            return x.reshape(x.shape[0], -1) @ weight.T
        return F.conv2d(x, weight, stride=p.stride, padding=p.padding)


def _max_abs_fan_in_sum(proj: Projection, weight: np.ndarray) -> int:
    absw = np.abs(weight)
    if proj.kind == "dense":
        return int(absw.sum(axis=1).max(initial=0))
    return int(absw.reshape(absw.shape[0], -1).sum(axis=1).max(initial=0))


class _PopulationState:
    def __init__(self, pop: IntPopulation, batch: int, device: torch.device):
        shape = (batch, *pop.shape)
        self.u = torch.zeros(shape, dtype=torch.int64, device=device)
        self.v = torch.zeros(shape, dtype=torch.int64, device=device)


class _PreparedPopulation:
    def __init__(self, pop: IntPopulation, graph: QGraph, device: torch.device):
        def t(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(a, dtype=np.int64), device=device)

        self.pop = pop
        self.u_keep = t(4096 - (pop.du + 1))
        self.v_keep = t(4096 - pop.dv)
        self.vth_shifted = t(pop.vth) * 64
        self.bias = t(pop.bias)
        self.gain = None if pop.gain is None else t(pop.gain)
        max_in = (1 << graph.input_bits) - 1
        self.projections = [
            _PreparedProjection(p, max_in if p.source == INPUT else 1, device)
            for p in pop.projections
        ]

    def step(self, state: _PopulationState, a: torch.Tensor, counts: PopulationCounts) -> torch.Tensor:
        """One neuron update (DESIGN §3); returns the spikes, updates counts."""
        drive = a * 64
        if self.gain is not None:
            drive = rtz_shift(drive * self.gain, 12)
        u = rtz_shift(state.u * self.u_keep, 12) + drive
        wrap_hi, wrap_lo = u > _U_WRAP, u <= -_U_WRAP
        counts.u_wraps += int(wrap_hi.sum()) + int(wrap_lo.sum())
        u = torch.where(wrap_hi, u - 2 * _U_WRAP, torch.where(wrap_lo, u + 2 * _U_WRAP, u))
        v = rtz_shift(state.v * self.v_keep, 12) + u + self.bias
        clipped = (v > STATE_MAX) | (v < -STATE_MAX)
        counts.v_clips += int(clipped.sum())
        v = v.clamp(-STATE_MAX, STATE_MAX)
        state.u = u
        if self.pop.readout:
            state.v = v
            return torch.zeros_like(v, dtype=torch.bool)
        spikes = v > self.vth_shifted
        state.v = torch.where(spikes, torch.zeros_like(v), v)
        return spikes


def direct_encode(x_int: np.ndarray, timesteps: int) -> np.ndarray:
    """Direct encoding: the static input repeated over T steps, (N, T, *shape)."""
    return np.repeat(np.asarray(x_int)[:, None], timesteps, axis=1)


def simulate(
    graph: QGraph,
    inputs: np.ndarray,
    *,
    hop_delay: int = 0,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    record_spikes: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Run ``graph`` on integer inputs of shape (N, T, *input_shape).

    Every sample starts from zero state. ``hop_delay`` adds that many steps of
    synaptic delay to every projection (0: zero-delay reference, 1: pipelined).
    ``on_batch(n)`` is called after each batch of n samples (progress bars).
    """
    inputs = np.asarray(inputs)
    if inputs.ndim != 2 + len(graph.input_shape) or tuple(inputs.shape[2:]) != graph.input_shape:
        raise ValueError(f"inputs must have shape (N, T, {graph.input_shape}), got {inputs.shape}")
    hi = (1 << graph.input_bits) - 1
    if inputs.size and (inputs.min() < 0 or inputs.max() > hi or not np.issubdtype(inputs.dtype, np.integer)):
        raise ValueError(f"inputs must be integers in [0, {hi}]: quantize them with QGraph.quantize_input")
    device = torch.device(device)
    n, timesteps = inputs.shape[:2]
    prepared = [_PreparedPopulation(p, graph, device) for p in graph.populations]
    counts = [PopulationCounts(p.name, neuron_count(p)) for p in graph.populations]
    outputs, spikes_rec = [], {p.name: [] for p in graph.populations} if record_spikes else None
    per_step = {p.name: torch.zeros((timesteps, *p.shape), dtype=torch.int64, device=device)
                for p in graph.populations}
    events = {p.name: torch.zeros((timesteps, *p.shape), dtype=torch.int64, device=device)
              for p in graph.populations}
    for start in range(0, n, batch_size):
        batch = torch.as_tensor(inputs[start:start + batch_size], dtype=torch.int64, device=device)
        out, rec = _run_batch(prepared, graph, batch, hop_delay, counts, per_step, events, record_spikes)
        outputs.append(out.cpu().numpy())
        if spikes_rec is not None:
            for name, s in rec.items():
                spikes_rec[name].append(s.cpu().numpy())
        if on_batch is not None:
            on_batch(batch.shape[0])
    output = np.concatenate(outputs) if outputs else np.zeros((0, *graph.output_population.shape), np.int64)
    for c in counts:
        c.neuron_updates = c.neurons * n * timesteps
    return SimulationResult(
        output=output,
        predictions=output.reshape(n, -1).argmax(axis=1) if n else np.zeros(0, np.int64),
        counts=counts,
        samples=n,
        timesteps=timesteps,
        spikes={k: np.concatenate(v, axis=1) for k, v in spikes_rec.items()} if spikes_rec else None,
        spikes_per_step={k: v.cpu().numpy() for k, v in per_step.items()},
        synaptic_events_per_step={k: v.cpu().numpy() for k, v in events.items()},
    )


def _run_batch(prepared, graph, batch, hop_delay, counts, per_step, events, record_spikes):
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
                arrivals = prep.events_per_target(src)
                if prep.proj.source == INPUT:
                    count.input_macs += int(arrivals.sum())
                else:
                    count.synaptic_ops += int(arrivals.sum())
                events[pp.pop.name][t] += arrivals.sum(dim=0)
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
