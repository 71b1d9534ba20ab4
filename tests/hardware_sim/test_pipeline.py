"""The aligned pipeline (hardware_sim.ir.pipeline) executed by the engine: after the per-layer
shift it is the zero-delay reference, spike for spike, value for value, counter for counter;
the naive pipelined timing (SANA-FE's) is not (DESIGN §3, "Alignment")."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hardware_sim.engine import TIMINGS, run_aligned, simulate
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph
from hardware_sim.ir.pipeline import plan_network
from tests.deploy import lava_nets

from .spec_loop import run_sample
from .test_engine_vs_spec import random_graph


def random_dag(rng: np.random.Generator) -> QGraph:
    """A conv layer, then dense populations each fed by one to three earlier ones (the input
    included) with delays 0-3: joins of paths of unequal length, strong biases, gains,
    now and then a readout in the middle (silent as a source), and a readout at the end."""
    def pop(name, projections, readout=False):
        shape = projections[0].output_shape
        return IntPopulation(
            name=name, shape=shape, projections=projections, dv=rng.integers(0, 4096, shape),
            du=np.full(shape, 4095) if rng.random() < 0.7 else rng.integers(0, 4096, shape),
            vth=rng.integers(1, 60, shape), bias_mant=rng.integers(-200, 300, shape),
            bias_exp=int(rng.integers(0, 3)), v_scale=1.0,
            gain=rng.integers(1000, 4096, shape) if rng.random() < 0.3 else None, readout=readout)

    input_shape = (2, 4, 4)
    conv = Projection(INPUT, "conv", rng.integers(-128, 128, (3, 2, 3, 3)), input_shape,
                      weight_exp=int(rng.integers(-2, 1)), padding=1,
                      delay=int(rng.integers(0, 2)))
    pops = [pop("c0", [conv])]
    shapes = {INPUT: input_shape, "c0": pops[0].shape}
    for i in range(1, int(rng.integers(4, 7))):
        width = int(rng.integers(4, 10))
        sources = rng.choice(list(shapes), size=min(len(shapes), int(rng.integers(1, 4))),
                             replace=False)
        projections = [Projection(str(src), "dense",
                                  rng.integers(-128, 128, (width, int(np.prod(shapes[src])))),
                                  shapes[src], weight_exp=int(rng.integers(-1, 2)),
                                  delay=int(rng.integers(0, 4)))
                       for src in sources]
        pops.append(pop(f"d{i}", projections, readout=rng.random() < 0.15))
        shapes[f"d{i}"] = pops[-1].shape
    last = [p.name for p in pops[-2:]]
    pops.append(pop("readout", [Projection(src, "dense", rng.integers(-128, 128, (
        3, int(np.prod(shapes[src])))), shapes[src], delay=int(rng.integers(0, 3)))
        for src in last], readout=True))
    return QGraph(input_shape=input_shape, populations=pops, output="readout", input_bits=4)


def assert_same_result(got, want) -> None:
    """Outputs, every recorded spike, every counter and per-step sum."""
    np.testing.assert_array_equal(got.output, want.output)
    np.testing.assert_array_equal(got.predictions, want.predictions)
    assert got.spikes.keys() == want.spikes.keys()
    for name in want.spikes:
        np.testing.assert_array_equal(got.spikes[name], want.spikes[name], err_msg=name)
        np.testing.assert_array_equal(got.spikes_per_step[name], want.spikes_per_step[name],
                                      err_msg=name)
        np.testing.assert_array_equal(got.synaptic_events_per_step[name],
                                      want.synaptic_events_per_step[name], err_msg=name)
    assert [c.to_dict() for c in got.counts] == [c.to_dict() for c in want.counts]
    assert (got.samples, got.timesteps) == (want.samples, want.timesteps)


def inputs(graph: QGraph, rng: np.random.Generator, samples: int, timesteps: int) -> np.ndarray:
    return rng.integers(0, 1 << graph.input_bits, (samples, timesteps, *graph.input_shape))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("timesteps", [1, 2, 5])
def test_aligned_equals_zero_delay_on_random_dags(seed, timesteps):
    """T = 1 and 2 are shallower than the nets: layers reset before their window too, and a
    delay of T or more masks everything a path delivers."""
    rng = np.random.default_rng(seed)
    graph = random_dag(rng)
    x = inputs(graph, rng, 7, timesteps)
    reference = simulate(graph, x, record_spikes=True)
    for batch_size in (1, 3, 256):  # one stream of 7; 3 of 2 and one of 1; 7 of 1
        aligned = simulate(graph, x, timing="aligned", record_spikes=True, batch_size=batch_size)
        assert_same_result(aligned, reference)
    assert sum(c.spikes for c in reference.counts) >= 5 * timesteps, "the net must be active"


@pytest.mark.parametrize("build", [lava_nets.mlp, lava_nets.convnet, lava_nets.residual,
                                   lava_nets.junctions, lava_nets.overflow_mlp])
def test_aligned_equals_zero_delay_on_the_lava_nets(build):
    graph = build()
    x = lava_nets.inputs_for(graph, 9, 4)
    reference = simulate(graph, x, record_spikes=True)
    assert_same_result(simulate(graph, x, timing="aligned", record_spikes=True, batch_size=4),
                       reference)
    if build is lava_nets.overflow_mlp:  # wraps and clips inside the windows are counted alike
        assert reference.count("wraps").u_wraps > 10 and reference.count("readout").v_clips > 10


@pytest.mark.parametrize("seed", range(4))
def test_hardware_record_is_the_reference_in_each_window(seed):
    """run_aligned's per-step record: N·T + max depth steps of every population, whose
    window holds the spec loop's spikes and readout voltages of every step."""
    rng = np.random.default_rng(seed)
    graph = random_graph(rng, du_full=seed % 2 == 0)
    x = inputs(graph, rng, 3, 4)
    run = run_aligned(graph, x, record_spikes=True)
    plan = run.plan
    assert plan.total_steps == 3 * 4 + plan.max_depth
    assert_same_result(run.result, simulate(graph, x, record_spikes=True))
    traces = [run_sample(graph, x[n])[0] for n in range(x.shape[0])]
    for pop in graph.populations:
        record = run.records[pop.name]
        assert record.shape == (plan.total_steps, *pop.shape), pop.name
        assert record.dtype == (np.int64 if pop.readout else bool), pop.name
        window = plan.to_reference(pop.name, record)
        for n, trace in enumerate(traces):
            np.testing.assert_array_equal(window[n], np.stack(trace[pop.name]), err_msg=pop.name)
    outside = [p.name for p in graph.populations
               if np.delete(run.records[p.name], plan.window(p.name), 0).any()]
    assert outside, "nothing happens outside the windows: the record would be the reference's"


def test_plan_masks_each_samples_first_d_steps_of_the_target():
    plan = plan_network(lava_nets.residual(), timesteps=8, samples=3)
    into_d4 = {p.source: p for p in plan.projections_into("d4")}
    assert [p.index for p in plan.projections_into("d4")] == [0, 1, 2]
    shortcut = into_d4[INPUT]  # input (depth 0) → d4 (depth 4) with a reference delay of 2
    assert (shortcut.hw_delay, shortcut.mask_steps, shortcut.mask_phase) == (5, 2, 4)
    # d4 computes sample k's step τ at hardware step 8k + τ + 5: τ = 0 and 1 receive zeros
    masked = [step for step in range(1, plan.total_steps + 1) if plan.masked(shortcut, step)]
    assert masked == [5, 6, 13, 14, 21, 22, 29]
    assert plan.reference_step("d4", 5) == (0, 0) and plan.reference_step("d4", 4) is None
    assert plan.source_step(shortcut, 7) == 1  # the input's step 0 of sample 0, τ − d for τ = 2
    assert not any(plan.masked(into_d4["c3"], step) for step in range(1, 40))
    assert [s for s in range(1, 20) if plan.resets("d4", s)] == [5, 13]


def biased_chain(seed: int = 0) -> QGraph:
    """input (12,) → h1 → h2 → h3 → readout, dense; h2 and h3 have biases that move v before
    their first input arrives in a naive pipeline."""
    rng = np.random.default_rng(seed)
    pops, source, width = [], INPUT, 12
    for name, size in (("h1", 16), ("h2", 12), ("h3", 10), ("readout", 4)):
        shape = (size,)
        proj = Projection(source, "dense", rng.integers(-128, 128, (size, width)), (width,),
                          weight_exp=-1 if source == INPUT else 0)
        pops.append(IntPopulation(
            name=name, shape=shape, projections=[proj], dv=rng.integers(50, 1000, shape),
            du=np.full(shape, 4095), vth=rng.integers(40, 200, shape),
            bias_mant=rng.integers(0, 300, shape) if name != "h1" else np.zeros(shape, np.int64),
            bias_exp=4, v_scale=1.0, readout=name == "readout"))
        source, width = name, size
    return QGraph(input_shape=(12,), populations=pops, output="readout", input_bits=4)


def _without_biases(graph: QGraph) -> QGraph:
    return replace(graph, populations=[replace(p, bias_mant=np.zeros_like(p.bias_mant))
                                       for p in graph.populations])


@pytest.mark.parametrize("graph, agrees", [
    (biased_chain(), False),  # a bias drives layers before their input arrives
    (_without_biases(biased_chain()), True),  # a chain, no biases: the naive pipeline shifts
    (_without_biases(lava_nets.residual()), False),  # joins of unequal paths, unbalanced
], ids=["biases", "no-biases", "joins"])
def test_naive_pipelined_timing_is_not_the_shifted_reference(graph, agrees):
    """SANA-FE's timing, one step per hop and nothing else, against the zero-delay run shifted
    by each layer's depth, on the steps both have; the aligned run equals it always."""
    x = lava_nets.inputs_for(graph, 6, 8)
    reference = simulate(graph, x, record_spikes=True)
    naive = simulate(graph, x, timing="pipelined", record_spikes=True)
    depth = plan_network(graph, 8, 6).depth
    differ = 0
    for pop in graph.populations:
        lag = depth[pop.name]
        if not pop.readout:
            shifted = naive.spikes[pop.name][lag:]
            differ += int((shifted != reference.spikes[pop.name][:8 - lag]).sum())
    assert (differ == 0) == agrees, differ
    assert sum(c.spikes for c in reference.counts) > 500
    assert_same_result(simulate(graph, x, timing="aligned", record_spikes=True), reference)


def test_timing_is_checked_and_progress_adds_up():
    graph = lava_nets.residual()
    x = lava_nets.inputs_for(graph, 5, 3)
    assert TIMINGS == ("zero-delay", "pipelined", "aligned")
    with pytest.raises(ValueError, match="timing"):
        simulate(graph, x, timing="lava")
    for timing in TIMINGS:
        done = []
        simulate(graph, x, timing=timing, batch_size=2, on_batch=done.append)
        assert sum(done) == 5, (timing, done)
    empty = simulate(graph, x[:0], timing="aligned")
    assert empty.output.shape == (0, 4) and empty.samples == 0
