"""Fan-in splitting: a population whose neurons take more inputs than a core can hold, as
compartment groups joined into the soma (Loihi's dendritic accumulation).

A split population's synapses are divided into **groups**, each a range of one projection's
source channels, ``Group(projection, lo, hi)``. Every neuron of the population gets one
dendritic compartment per group, on cores of the group's own (``mapping.py`` places them
anywhere on the mesh); its soma compartment sits on the population's soma cores. A group
holds only the synapses from channels [lo, hi) of its projection's source, so a core of it
needs (hi − lo) × the positions its neurons reach input axons, not the whole fan-in.

The join, in the integer arithmetic of DESIGN §3 (``ir.neuron.int_step``). Group g of
projection p accumulates and scales its part on its own:

    acc_g[t] = Σ_{j ∈ channels [lo, hi) of p's source} W_ij · s_j[t]
    a_g[t]   = acc_g[t] << e_p        (e_p ≥ 0)
             = acc_g[t] >> −e_p       (e_p < 0, rounding toward −∞, per group)

Its compartment has du = 4095 (``DU_NO_CURRENT_MEMORY``: no current memory), no bias, no
gain and no threshold, so its output is this step's partial drive a_g << 6 and nothing
else. The join ADDs the partials into the soma's input, before the soma's current and
voltage update, and the soma runs ``int_step`` on

    a[t] = Σ_g a_g[t]        (the gain g_i, where the population has one, applied once, to
                              the joined drive: rtz((a << 6)·g_i, 12))

The unsplit neuron runs ``int_step`` on a[t] = Σ_p a_p[t]. The two are equal, bit for bit,
whenever (``join_check`` says which populations are not):

1. every projection split into two groups or more has e_p ≥ 0: a left shift distributes over
   the sum. With e_p < 0 every group rounds toward −∞ on its own, so the joined a_p lies in
   [a_p − (G_p − 1), a_p] for G_p groups of p: the split neuron can see a smaller input and
   spike later or not at all (``tests/hardware_sim/test_fanin_split.py`` shows it);
2. every partial drive fits the compartment's 24-bit register, |a_g << 6| < 2^23 for every
   input (bounded from the weights: Σ |W| over the group's taps, × 2^e_p); a partial beyond
   it would wrap in its dendrite where the unsplit u wraps only once, on the sum.

Timing: a group on another core than its soma sends its partial as a message, which arrives
one step later (one hop of synaptic delay, as every message on the chip). Every input of a
split population goes through its groups, so the whole population lags one step uniformly:
the aligned (pipelined) form gains one layer of depth and the zero-delay form is unchanged.
The message carries a multi-bit value: a graded spike on Loihi 2; Loihi 1 has 1-bit spikes
only across cores, so there the join is costed as one message per active compartment, a
lower bound.

``split_graph`` writes the split as an ordinary QGraph that every executor runs unchanged:
one projection per group, from the same source, with the weights of the other channels
zero. Executors sum a population's projections after each has applied its own exponent,
exactly the join above (at full width: condition 2 is the mapper's to check), so the engine
and Lava run a split population and can be compared with the unsplit one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from hardware_sim.ir import synapses
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph
from hardware_sim.ir.neuron import ALIGN_SHIFT, WRAP_BOUND


@dataclass(frozen=True)
class Group:
    """One compartment group: channels [lo, hi) of the source of projection ``projection``
    (an index into the population's projections)."""

    projection: int
    lo: int
    hi: int


def sub_projection(proj: Projection, lo: int, hi: int) -> Projection:
    """The synapses of ``proj`` from source channels [lo, hi) alone, as a projection from a
    (hi − lo)-channel source of the same geometry: its fan-in, reach and weight width are
    those of the group (``synapses`` answers for it as for any projection)."""
    shape = proj.source_shape
    channels, _ = synapses.source_layout(shape)
    if not 0 <= lo < hi <= channels:
        raise ValueError(f"channels [{lo}, {hi}) outside the source's {channels}")
    weight = np.asarray(proj.weight)
    if proj.kind == "conv":
        return dataclasses.replace(proj, weight=weight[:, lo:hi], source_shape=(hi - lo, *shape[1:]))
    per_channel = proj.pooled_size // channels  # dense: pooled columns are (C, h, w) flat
    return dataclasses.replace(proj, weight=weight[:, lo * per_channel:hi * per_channel],
                               source_shape=(hi - lo, *shape[1:]))


def taps_per_channel(proj: Projection) -> int:
    """The most synapses one neuron takes from one source channel (its fan-in per channel)."""
    channels, _ = synapses.source_layout(proj.source_shape)
    return max(1, int(synapses.fan_in(proj).max(initial=0)) // channels)


def channel_groups(pop: IntPopulation, inputs_per_group: int) -> tuple[Group, ...]:
    """Every projection of ``pop`` cut into equal channel ranges whose fan-in per neuron is at
    most ``inputs_per_group`` (at least one channel each): the fewest groups under that budget."""
    groups = []
    for index, proj in enumerate(pop.projections):
        channels, _ = synapses.source_layout(proj.source_shape)
        per_group = max(1, inputs_per_group // taps_per_channel(proj))
        count = -(-channels // per_group)
        bounds = np.linspace(0, channels, count + 1).round().astype(int)
        groups += [Group(index, int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:])]
    return tuple(groups)


def splittable(pop: IntPopulation) -> str | None:
    """Why ``pop`` cannot be split, or None: a population fed by the network input is not (its
    graded arrivals are not recorded per channel, so the join could not be counted)."""
    if any(p.source == INPUT for p in pop.projections):
        return "it is fed by the network input"
    return None


def join_check(pop: IntPopulation, groups: tuple[Group, ...]) -> list[str]:
    """Why joining ``groups`` into the soma would not be bit-exact (module docstring,
    conditions 1 and 2); empty when it is."""
    reasons = []
    per_projection = np.bincount([g.projection for g in groups], minlength=len(pop.projections))
    for index, proj in enumerate(pop.projections):
        if per_projection[index] > 1 and proj.weight_exp < 0:
            reasons.append(f"projection from {proj.source!r} has weight exponent "
                           f"{proj.weight_exp} < 0 and is split into {per_projection[index]} "
                           "groups: each rounds toward -inf on its own")
    for g in groups:
        sub = sub_projection(pop.projections[g.projection], g.lo, g.hi)
        bound = _partial_bound(sub)
        if bound << ALIGN_SHIFT >= WRAP_BOUND:
            reasons.append(f"the group of channels [{g.lo}, {g.hi}) from {sub.source!r} can "
                           f"reach |a << 6| = {bound << ALIGN_SHIFT} >= 2^23: it could wrap in "
                           "its 24-bit compartment")
    return reasons


def _partial_bound(proj: Projection) -> int:
    """max over target neurons of |a| for 1-bit inputs: Σ |W| over the taps × pool², × 2^e."""
    w = np.abs(np.asarray(proj.weight, dtype=np.int64))
    per_target = w.sum(axis=1) if proj.kind == "dense" else w.reshape(w.shape[0], -1).sum(axis=1)
    acc = int(per_target.max(initial=0)) * proj.pool * proj.pool
    e = proj.weight_exp
    return acc << e if e >= 0 else -((-acc) >> -e)


def split_graph(graph: QGraph, splits: dict[str, tuple[Group, ...]]) -> QGraph:
    """``graph`` with every population named in ``splits`` fed by one projection per group
    (module docstring): the group's channels keep their weights, the others are zero."""
    populations = []
    for pop in graph.populations:
        groups = splits.get(pop.name)
        if groups:
            pop = dataclasses.replace(pop, projections=[
                _masked(pop.projections[g.projection], g) for g in groups])
        populations.append(pop)
    return dataclasses.replace(graph, populations=populations)


def _masked(proj: Projection, group: Group) -> Projection:
    weight = np.zeros_like(np.asarray(proj.weight))
    channels, _ = synapses.source_layout(proj.source_shape)
    if proj.kind == "conv":
        weight[:, group.lo:group.hi] = proj.weight[:, group.lo:group.hi]
    else:
        per_channel = proj.pooled_size // channels
        cols = slice(group.lo * per_channel, group.hi * per_channel)
        weight[:, cols] = proj.weight[:, cols]
    return dataclasses.replace(proj, weight=weight)


__all__ = ["Group", "channel_groups", "join_check", "split_graph", "splittable", "sub_projection",
           "taps_per_channel"]
