"""The aligned pipeline: the timing plan of a QGraph on hardware that delays every hop by a step.

DESIGN §3, "Alignment". The zero-delay reference (``hardware_sim.engine``, timing
"zero-delay") lets a population at step t see what its sources sent at step t − d
(d: the projection's own delay). On Loihi, in Lava and in the engine's "aligned"
timing every synaptic hop (Dense, Conv, Sparse) delays by one step, and the N
samples of a run go back to back, T steps apart, through one set of neurons. This
plan makes every population compute exactly the reference's steps, only later.
The Lava compiler (``deploy.lava.compiler``) builds it from Lava processes; the
engine (``hardware_sim.engine``, timing "aligned") executes it. numpy only: the
Lava environment (no torch) imports it.

Hardware steps count from 1, as Lava's ``time_step``; row r of a per-step record
holds step r + 1.

Depth. Population P lags its depth L(P) = max over its sources S of L(S) + 1
(input: 0). The input sends step τ of sample k at hardware step kT + τ + 1, and P
computes the reference's step τ of sample k at hardware step kT + τ + L(P) + 1.
Those N·T steps, L(P) + 1 … L(P) + N·T (record rows L(P) … L(P) + N·T − 1), are
P's *window*; ``to_reference`` cuts them out (the per-layer shift).

Delays. A projection S → P with reference delay d gets a delay line of
D = L(P) − L(S) − 1 + d steps in front of its synapses (``hw_delay``): P at step t
integrates what S sent at step t − 1 − D (``source_step``: the hop's step plus the
line's D), which is the reference's step τ − d when t is P's step for τ. D
balances the shorter path where paths of different length join, and carries d.

Resets. P zeroes u and v before its update on every step t with
t mod T = (L(P) + 1) mod T (``reset_interval`` = T, ``reset_offset``; Lava
LIFReset's rule, DESIGN's (reset_offset + 1 + i) mod T with reset_offset = 0 and
i = L(P)): the first step of each of its samples. Where L(P) + 1 > T it also
resets on earlier steps, before its window, which changes nothing.

Masks. Outside its window (before its first reset, and in the drain after the
last sample) a population runs on whatever arrives and on its bias, and may
spike: none of that is the reference's. On a path with d = 0 it never matters:
what S sends inside its window arrives inside P's window, sample k's in P's
sample k, and what S sends outside arrives outside. On a path with d > 0 the
arrivals slide d steps later, so P's first d steps of each sample would receive
what S sent in the last d steps of the sample before (or before its window),
where the reference, which starts each sample from silence, has zeros. The plan
states this as the projection's ``mask_steps`` = d: **the arrivals through the
projection are zero on every step t of the target with (t − 1 − L(P)) mod T < d**,
P's first d steps of each sample, periodically over the whole run, before the
first window and in the drain included (``NetworkPlan.masked``). Lava's
DelayLine realises it where it delivers, one step before the target integrates:
it zeroes its output on its own steps t' with (t' − mask_phase) mod T < mask_steps,
``mask_phase`` = L(P). A forward projection has d ≤ D, so its line is there anyway.

Recurrence. A projection from P itself or a later population S (d ≥ 1) gets
D = d − 1 − (L(S) − L(P)): the hop itself is one step of the delay. D ≥ 0 runs
(self-recurrence with d = 1 has D = 0, its mask then needs a line of 0 steps,
the mask alone); D < 0 would need spikes before they are sent, and the aligned
pipeline refuses it (``NetworkPlan.refusal``). The reference zero-delay run has
no such limit.

A run of N samples takes N·T + max L steps (``total_steps``). Counted inside the
windows (neuron updates, spikes, arrivals, wraps, clips), its counters equal the
reference's, and each population's window of the record is the reference's run.
A readout population sends its v, not spikes: as a source it is silent, here as
in the reference (its depth still counts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hardware_sim.ir.graph import INPUT, QGraph


@dataclass(frozen=True)
class ProjectionPlan:
    """The hardware timing of projection ``index`` (in ``target.projections``) from ``source``."""

    target: str
    index: int
    source: str
    hw_delay: int
    """D: steps of the delay line in front of the synapses (0: none)."""
    mask_steps: int
    """d, the reference delay: arrivals are zero on the target's first d steps of each sample."""
    mask_phase: int
    """L(target): the delay line zeroes its own steps t' with (t' − mask_phase) mod T < d."""


@dataclass
class NetworkPlan:
    """Depths and projection plans of a QGraph run for ``samples`` samples of ``timesteps``."""

    depth: dict[str, int]
    """L(P) per population, and 0 for ``INPUT``."""
    projections: list[ProjectionPlan]
    timesteps: int
    samples: int

    @property
    def max_depth(self) -> int:
        return max(self.depth.values())

    @property
    def total_steps(self) -> int:
        """Hardware steps for all samples to pass through the deepest population."""
        return self.samples * self.timesteps + self.max_depth

    @property
    def reset_interval(self) -> int:
        return self.timesteps

    def reset_offset(self, name: str) -> int:
        """The population resets on hardware steps t with t mod T = (L + 1) mod T."""
        return (self.depth[name] + 1) % self.timesteps

    def resets(self, name: str, step: int) -> bool:
        """Whether population ``name`` zeroes u and v before its update at ``step``."""
        return step % self.timesteps == self.reset_offset(name)

    def projections_into(self, name: str) -> list[ProjectionPlan]:
        """The plans of ``name``'s projections, in the order of its ``projections``."""
        return sorted((p for p in self.projections if p.target == name), key=lambda p: p.index)

    def source_step(self, proj: ProjectionPlan, step: int) -> int:
        """The step whose message from the source the target integrates at ``step``
        (< 1: none yet, the target receives zeros)."""
        return step - 1 - proj.hw_delay

    def masked(self, proj: ProjectionPlan, step: int) -> bool:
        """Whether what arrives through ``proj`` at the target's ``step`` is zeroed: the
        target's first ``mask_steps`` steps of each sample."""
        return (step - 1 - proj.mask_phase) % self.timesteps < proj.mask_steps

    def window(self, name: str) -> slice:
        """The rows of a per-step record that hold the reference's N·T steps of ``name``."""
        first = self.depth[name]
        return slice(first, first + self.samples * self.timesteps)

    def reference_step(self, name: str, step: int) -> tuple[int, int] | None:
        """(sample, step in the sample) that ``name`` computes at hardware ``step``, or None
        outside its window."""
        offset = step - 1 - self.depth[name]
        if not 0 <= offset < self.samples * self.timesteps:
            return None
        return divmod(offset, self.timesteps)

    def to_reference(self, name: str, record: np.ndarray) -> np.ndarray:
        """Population ``name``'s per-step record (total_steps, *shape) in the reference's
        timing: its window, (samples, timesteps, *shape)."""
        if record.shape[0] != self.total_steps:
            raise ValueError(f"a record of {name!r} has {record.shape[0]} steps, "
                             f"the run {self.total_steps}")
        return record[self.window(name)].reshape(self.samples, self.timesteps, *record.shape[1:])

    def refusal(self) -> str | None:
        """Why the aligned pipeline cannot run this graph (a recurrent projection whose line
        would be negative), or None. The engine's aligned timing and the Lava backend both
        refuse with this reason."""
        late = next((p for p in self.projections if p.hw_delay < 0), None)
        if late is None:
            return None
        delay = late.mask_steps
        deeper = delay - 1 - late.hw_delay  # L(source) − L(target)
        return (f"the aligned pipeline cannot run the recurrent projection {late.source!r} -> "
                f"{late.target!r}: it comes from a deeper layer, {deeper} hop(s) deeper, and its "
                f"delay {delay} is not more than that")

    def samples_done(self, steps: int) -> int:
        """Samples whose every step has left the deepest population after ``steps`` steps."""
        return int(np.clip((steps - self.max_depth) // self.timesteps, 0, self.samples))


def plan_network(graph: QGraph, timesteps: int, samples: int) -> NetworkPlan:
    """The aligned pipeline of ``graph`` for ``samples`` samples of ``timesteps`` steps."""
    if timesteps < 1 or samples < 0:
        raise ValueError("timesteps must be >= 1 and samples >= 0")
    depth = {INPUT: 0}
    for pop in graph.populations:  # a recurrent source (itself or a later one) sets no depth
        depth[pop.name] = 1 + max((depth[p.source] for p in pop.projections if p.source in depth),
                                  default=0)
    plans = []  # a recurrent projection from deeper than its delay allows gets D < 0: ``refusal``
    for pop in graph.populations:
        for k, proj in enumerate(pop.projections):
            plans.append(ProjectionPlan(
                target=pop.name, index=k, source=proj.source,
                hw_delay=depth[pop.name] - depth[proj.source] - 1 + proj.delay,
                mask_steps=proj.delay, mask_phase=depth[pop.name],
            ))
    return NetworkPlan(depth, plans, timesteps, samples)


__all__ = ["NetworkPlan", "ProjectionPlan", "plan_network"]
