"""Quantization-aware training: the exported integer network in the forward pass.

Post-training quantization (``export.export_model``) rounds what float training learned; QAT
trains against the rounding. Every forward pass here:

1. exports the model as it stands, with the exporter itself (``export.export_model``: BN and α
   folded, int8 weights with the per-layer exponent, 12-bit dv, fixed-point threshold, bias
   and input gain, by ``hardware_sim.ir.quantize``; the one quantizer, not a copy of its rules);
2. runs that integer network with loihi-sim's own engine (``hardware_sim.engine.simulate``,
   zero-delay, recording every population's v and spikes per step: the synapse of DESIGN §3
   and the one integer neuron update ``int_step``, with the 24-bit wrap and clip) — so what
   is trained is what ``dalif export`` writes and loihi-sim runs;
3. runs the float model alongside, layer by layer and step by step (``dalif_step``, the one
   float update), and replaces its values by the integer ones with straight-through
   estimators: the spikes S[t], the state H[t] (= v[t]·v_scale, the integer voltage in the
   float model's units) and the readout take the integer network's values, while gradients
   flow through the float model (the surrogate for Θ, d round(x)/dx = 1 for every rounding).

The float model runs with eval-mode batch norm (the running statistics the exporter folds),
so the network that is trained is the network that is exported. Predictions are the argmax
of the readout's final integer voltage, as loihi-sim's.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from dalif.models.net import SpikingLayer, SpikingNet
from dalif.models.spec import INPUT, Layer, Readout
from dalif.neuron import DALIFState, dalif_step
from export import export_model
from hardware_sim.engine import simulate
from hardware_sim.ir.graph import QGraph
from hardware_sim.record import StateRecorder


class QATOutput(NamedTuple):
    """One QAT forward pass.

    ``readout``: (T, B, classes), the integer readout's increment per step times its
    v_scale (so the sum over T is the final integer voltage in float units), with the float
    model's gradients. ``predictions``: (B,) argmax of the final integer readout voltage.
    ``overflow``: inputs clipped by the input quantization, u wraps and v clips in the run.
    ``graph``: the exported integer network that ran.
    """

    readout: Tensor
    predictions: Tensor
    overflow: int
    graph: QGraph


class _Trace(NamedTuple):
    """An integer population's run: spikes and post-reset v per step, (T, B, *shape)."""

    spikes: Tensor
    v: Tensor


def _integer_run(graph: QGraph, x_int: Tensor) -> tuple[dict[str, _Trace], int]:
    """The zero-delay run (DESIGN §3) of ``graph`` on integer inputs (T, B, *input_shape),
    by the engine itself (``hardware_sim.engine.simulate``, recording every population's
    post-reset v and spikes per step): every population's trace and the number of u wraps
    and v clips."""
    steps, batch = x_int.shape[:2]
    recorder = StateRecorder(graph, ("v", "s"), batch, steps)
    result = simulate(graph, x_int.transpose(0, 1).numpy(), batch_size=max(batch, 1),
                      compile=False, record_state=recorder)

    def per_step(array: np.ndarray, dtype: torch.dtype) -> Tensor:  # (B, T, ...) → (T, B, ...)
        return torch.as_tensor(array).transpose(0, 1).to(dtype)

    traces = {pop.name: _Trace(per_step(recorder.arrays["s"][pop.name], torch.bool),
                               per_step(recorder.arrays["v"][pop.name], torch.int64))
              for pop in graph.populations}
    return traces, sum(c.u_wraps + c.v_clips for c in result.counts)


def _straight_through(value: Tensor, surrogate: Tensor) -> Tensor:
    """``value`` forward, the gradient of ``surrogate`` backward."""
    return surrogate + (value.to(surrogate.dtype) - surrogate).detach()


def qat_forward(model: SpikingNet, x: Tensor) -> QATOutput:
    """The QAT forward pass (module docstring) of ``model`` on a batch: static images
    (B, *input_shape) or sequences (B, T, *input_shape). Puts the model in eval mode."""
    exported = export_model(model)  # model.eval(): BN folds its running statistics
    graph = exported.graph
    seq = model.input_sequence(x)
    x_int, clipped = graph.quantize_input(seq.detach().cpu().numpy())
    x_int = torch.as_tensor(x_int)
    with torch.no_grad():
        traces, overflow = _integer_run(graph, x_int)
    scale = {pop.name: pop.v_scale for pop in graph.populations}
    steps, batch = seq.shape[:2]
    # the float model sees the inputs the hardware gets (nothing upstream learns from them)
    outputs: dict[str, Tensor] = {INPUT: (x_int * graph.input_scale).to(seq.dtype)}
    readout = None
    for node, module in zip(model.spec.nodes, model.layers):
        source = outputs[node.source]
        if isinstance(node, Layer):
            shortcut = None if node.shortcut is None else outputs[node.shortcut.source]
            trace = traces[node.name]
            outputs[node.name] = _layer(module, source, shortcut, trace, scale[node.name])
            continue
        frames = source.flatten(0, 1)
        if isinstance(node, Readout):
            frames = frames.flatten(1)
        out = module(frames).unflatten(0, (steps, batch))
        if isinstance(node, Readout):
            v = traces[node.name].v
            increments = torch.diff(v, dim=0, prepend=torch.zeros_like(v[:1]))
            out = _straight_through(increments.to(torch.float64) * scale[node.name], out)
            readout = out
        outputs[node.name] = out
    final = traces[model.spec.readout.name].v[-1]
    return QATOutput(readout=readout, predictions=final.reshape(batch, -1).argmax(dim=1),
                     overflow=clipped + overflow, graph=graph)


def _layer(module: SpikingLayer, source: Tensor, shortcut: Tensor | None, trace: _Trace,
           v_scale: float) -> Tensor:
    """A DA-LIF layer over T steps: the float update for the gradients, the integer spikes and
    state (v·v_scale) for the values."""
    frames = source.flatten(0, 1)
    if isinstance(module.synapse, nn.Linear):
        frames = frames.flatten(1)
    current = module.norm(module.synapse(frames))
    if module.shortcut is not None:
        current = current + module.shortcut(shortcut.flatten(0, 1))
    current = current.unflatten(0, source.shape[:2])
    neuron = module.neuron
    params = neuron.parameters_for_step()
    state = DALIFState(h=torch.zeros_like(current[0]))
    spikes = []
    for t, x in enumerate(current):
        s, state = dalif_step(x, state, params, neuron.surrogate, neuron.steepness)
        spikes.append(_straight_through(trace.spikes[t], s))
        state = DALIFState(h=_straight_through(trace.v[t].to(torch.float64) * v_scale, state.h))
    return torch.stack(spikes)


class QATNet(nn.Module):
    """``model`` with the QAT forward: what ``dalif.train.fit`` calls in place of the model
    when training with ``qat``. Same signature as ``SpikingNet.forward``."""

    def __init__(self, model: SpikingNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, per_step: bool = False) -> Tensor:
        readout = qat_forward(self.model, x).readout
        return readout if per_step else readout.mean(0)


def qat_predictions(model: SpikingNet, x: Tensor, batch_size: int = 256) -> np.ndarray:
    """The QAT model's own eval predictions (the integer readout's argmax) for ``x``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    was_training = model.training
    predictions = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            predictions.append(qat_forward(model, x[start:start + batch_size]).predictions.numpy())
    model.train(was_training)
    return np.concatenate(predictions) if predictions else np.zeros(0, dtype=np.int64)


def qat_accuracy(model: SpikingNet, x: Tensor, y: Tensor, batch_size: int = 256) -> float:
    """Accuracy in [0, 1] of the QAT model's predictions (``qat_predictions``) on (x, y)."""
    if len(x) != len(y):
        raise ValueError(f"{len(x)} samples but {len(y)} labels")
    if len(x) == 0:
        raise ValueError("cannot evaluate on an empty set")
    return float(np.mean(qat_predictions(model, x, batch_size) == np.asarray(y)))
