"""Recurrent nets in Lava against hardware_sim, spike for spike (DESIGN §3, §7).

A recurrent projection (from its own population or a later one, delay d ≥ 1) runs in
Lava through its Dense/Conv hop (one step of the delay) and, where the plan asks for it,
a delay line that masks it on each sample's first d steps. Several samples go back to
back in one run, so a mask that failed would carry the last spikes of one sample into the
next. Expected values come from hardware_sim.engine (the aligned run step for step, the
zero-delay run after the shift), which shares no code with the Lava process graph.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from deploy.lava.backend import LavaBackend
from deploy.registry import BackendError
from hardware_sim.engine import run_aligned, simulate
from hardware_sim.ir.graph import INPUT, DeployedModel, GraphError, Projection, QGraph
from hardware_sim.ir.nir import read_nir, write_nir

from . import lava_nets

DATA = Path(__file__).resolve().parents[1] / "data" / "nir"


def self_recurrent(seed: int = 0) -> QGraph:
    """input (1, 3, 3) → h1 (16, self-recurrence d = 1: a mask without a line) → h2 (12,
    self-recurrence d = 2: a line of one step masking two); c (2, 3, 3), a conv of the input
    with a 3×3 conv self-recurrence (d = 1, Lava Conv); readout 4 from h2 and c. Biases
    strong enough that layers fire before their input arrives."""
    b = lava_nets._Builder(seed)
    h1 = b.population("h1", (16,), [
        Projection(INPUT, "dense", b.weights((16, 9)), (1, 3, 3), weight_exp=-1),
        Projection("h1", "dense", b.weights((16, 16)), (16,), weight_exp=0, delay=1),
    ], bias=(0, 300), vth=(20, 80))
    h2 = b.population("h2", (12,), [
        Projection("h1", "dense", b.weights((12, 16)), (16,), weight_exp=0),
        Projection("h2", "dense", b.weights((12, 12), -128, 0), (12,), weight_exp=0, delay=2),
    ], bias=(100, 300), vth=(20, 80))
    c = b.population("c", (2, 3, 3), [
        Projection(INPUT, "conv", b.weights((2, 1, 3, 3)), (1, 3, 3), weight_exp=0, padding=1),
        Projection("c", "conv", b.weights((2, 2, 3, 3)), (2, 3, 3), weight_exp=0, padding=1,
                   delay=1),
    ], bias=(0, 200), vth=(20, 80))
    readout = b.population("readout", (4,), [
        Projection("h2", "dense", b.weights((4, 12)), (12,), weight_exp=0),
        Projection("c", "dense", b.weights((4, 18)), (2, 3, 3), weight_exp=0),
    ], readout=True)
    return QGraph(input_shape=(1, 3, 3), populations=[h1, h2, c, readout], output="readout",
                  input_bits=4)


def loop(delay: int, seed: int = 0) -> QGraph:
    """input (8,) → a (12) → b (10) → readout 3, and b → a with ``delay`` (b is one hop deeper
    than a: the plan's line is delay − 2 steps, and it masks ``delay`` steps). Two populations
    in a loop are never at the same depth: the forward edge a → b makes b one deeper."""
    g = lava_nets._Builder(seed)
    a = g.population("a", (12,), [
        Projection(INPUT, "dense", g.weights((12, 8)), (8,), weight_exp=-1),
        Projection("b", "dense", g.weights((12, 10)), (10,), weight_exp=0, delay=delay),
    ], bias=(0, 300), vth=(20, 80))
    b = g.population("b", (10,), [Projection("a", "dense", g.weights((10, 12)), (12,))],
                     bias=(0, 300), vth=(20, 80))
    readout = g.population("readout", (3,), [Projection("b", "dense", g.weights((3, 10)), (10,))],
                           readout=True)
    return QGraph(input_shape=(8,), populations=[a, b, readout], output="readout", input_bits=4)


def sibling(seed: int = 0) -> QGraph:
    """input (8,) → a (12) and b (10), both at depth 1; a also from b (a later population at
    the same depth, d = 1: a mask without a line); readout 3 from a and b."""
    g = lava_nets._Builder(seed)
    a = g.population("a", (12,), [
        Projection(INPUT, "dense", g.weights((12, 8)), (8,), weight_exp=-1),
        Projection("b", "dense", g.weights((12, 10)), (10,), weight_exp=0, delay=1),
    ], bias=(0, 300), vth=(20, 80))
    b = g.population("b", (10,), [Projection(INPUT, "dense", g.weights((10, 8)), (8,), weight_exp=-1)],
                     bias=(0, 300), vth=(20, 80))
    readout = g.population("readout", (3,), [Projection("a", "dense", g.weights((3, 12)), (12,)),
                                             Projection("b", "dense", g.weights((3, 10)), (10,))],
                           readout=True)
    return QGraph(input_shape=(8,), populations=[a, b, readout], output="readout", input_bits=4)


def _assert_lava_equals_engine(model, x) -> None:
    """Lava's every step equals the engine's aligned run; its result the zero-delay run's."""
    graph = model.graph
    backend = LavaBackend(keep_records=True)
    lava = backend.run(model, x)
    aligned = run_aligned(graph, x)
    reference = simulate(graph, x, record_spikes=True)
    assert backend.last_summary["lava_steps"] == aligned.plan.total_steps
    for pop in graph.populations:
        got, want = backend.last_records[pop.name], aligned.records[pop.name]
        assert got.shape == want.shape and got.dtype == want.dtype, pop.name
        mismatched = np.argwhere(got != want)
        assert mismatched.size == 0, (
            f"{pop.name}: {len(mismatched)} values differ, first at (Lava step - 1, neuron) "
            f"{tuple(mismatched[0])}")
        np.testing.assert_array_equal(lava.spikes[pop.name], reference.spikes[pop.name],
                                      err_msg=pop.name)
    np.testing.assert_array_equal(lava.output, reference.output)
    np.testing.assert_array_equal(lava.predictions, reference.predictions)
    assert [c.to_dict() for c in lava.counts] == [c.to_dict() for c in reference.counts]
    # the sample boundary is exercised: a recurrent source spikes in the last d steps of a
    # sample, which without the mask would reach the next sample's first steps
    for pop in graph.populations:
        for proj in pop.projections:
            if proj.delay and not graph.population(proj.source).readout:
                last = reference.spikes[proj.source][-proj.delay:, :-1]
                assert last.any(), f"{proj.source} -> {pop.name}: never spikes at a sample's end"


def _model(graph: QGraph, tmp_path: Path):
    path = tmp_path / "model.nir"
    write_nir(graph, path, 6)
    return read_nir(path)


def _without_recurrence(graph: QGraph) -> QGraph:
    """The same graph with every recurrent weight zeroed: what a Lava run that dropped or
    mis-timed the recurrence would come closer to."""
    names = [pop.name for pop in graph.populations]
    return replace(graph, populations=[
        replace(pop, projections=[
            replace(p, weight=p.weight * 0)
            if p.source != INPUT and names.index(p.source) >= names.index(pop.name) else p
            for p in pop.projections])
        for pop in graph.populations])


@pytest.mark.parametrize("build", [self_recurrent, sibling, lambda: loop(2), lambda: loop(3)],
                         ids=["self", "sibling", "loop-d2", "loop-d3"])
def test_recurrent_net_runs_in_lava_step_for_step(build, tmp_path):
    model = _model(build(), tmp_path)
    x = lava_nets.inputs_for(model.graph, 5, 6)
    reference = simulate(model.graph, x, record_spikes=True)
    flat = simulate(_without_recurrence(model.graph), x, record_spikes=True)
    assert any((reference.spikes[n] != flat.spikes[n]).any() for n in reference.spikes), \
        "the recurrence changes nothing: the test could not see it dropped"
    _assert_lava_equals_engine(model, x)


def test_the_braille_rnn_runs_in_lava_step_for_step():
    """The NIR paper's Braille RNN (snnTorch, recurrent hidden layer, an always-on bias neuron
    that feeds itself): a few samples, short T."""
    model = read_nir(DATA / "braille_noDelay_bias_zero.nir", timesteps=12)
    assert model.graph.recurrent
    x = (np.random.default_rng(3).random((3, 12, *model.graph.input_shape)) < 0.3).astype(np.int64)
    _assert_lava_equals_engine(model, x)


def test_recurrence_from_too_deep_a_layer_is_refused_with_the_engines_reason():
    """b is one hop deeper than a: with d = 1 the spikes would be needed a step before they
    exist. The Lava backend refuses it with the aligned timing's reason."""
    graph = loop(1)
    x = lava_nets.inputs_for(graph, 1, 4)
    with pytest.raises(GraphError) as engine:
        simulate(graph, x, timing="aligned")
    reason = str(engine.value).removesuffix(" (use --timing zero-delay)")
    assert "'b' -> 'a': it comes from a deeper layer, 1 hop(s) deeper, and its delay 1" in reason
    with pytest.raises(BackendError) as lava:
        LavaBackend().run(DeployedModel(graph, 4, {}, foreign=True), x)
    assert str(lava.value).startswith(reason)
