"""Float execution of a FloatGraph: the folded model's own semantics, for checking the fold.

Every population steps through ``dalif.neuron.dalif_step``, the one float update, with α
folded away (α = 1) and its drive x[t] = I[t] + b:

    I[t] = β_I ⊙ I[t−1] + g ⊙ Σ_p X_p[t]     (β_I = ``current_decay``; 0 when None)
    V[t] = β ⊙ H[t−1] + x[t];  S = Θ(V − θ) with Θ(0) = 1;  H = V ⊙ (1 − S)

A readout integrates (β = 1, θ = ∞) and never spikes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dalif.neuron import DALIFParameters, DALIFState, dalif_step
from hardware_sim.ir.graph import INPUT, FloatGraph, Projection


def _apply(proj: Projection, x: torch.Tensor) -> torch.Tensor:
    weight = torch.as_tensor(proj.weight, dtype=torch.float64)
    if proj.pool > 1:
        x = F.avg_pool2d(x, proj.pool) * (proj.pool * proj.pool)
    if proj.kind == "dense":
        return x.reshape(x.shape[0], -1) @ weight.T
    return F.conv2d(x, weight, stride=proj.stride, padding=proj.padding)


def run_float_graph(graph: FloatGraph, x: torch.Tensor, timesteps: int
                    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Readout voltage per step (T, B, *out) and spikes per population (T, B, *shape)
    for static inputs ``x`` (B, *input_shape) repeated over T steps (direct encoding), or
    sequences (B, T, *input_shape), step t fed x[:, t]."""
    if any(p.delay for pop in graph.populations for p in pop.projections):
        raise ValueError("the float reference runs delay-free graphs only (exported models)")
    x = x.to(torch.float64)
    batch = x.shape[0]
    temporal = x.dim() == len(graph.input_shape) + 2
    if tuple(x.shape[2 if temporal else 1:]) != tuple(graph.input_shape) \
            or (temporal and x.shape[1] != timesteps):
        raise ValueError(f"expected inputs (B, {graph.input_shape}) or (B, {timesteps}, "
                         f"{graph.input_shape}), got {tuple(x.shape)}")

    def tensor(a: np.ndarray | None) -> torch.Tensor | None:
        return None if a is None else torch.as_tensor(a, dtype=torch.float64)

    state = {p.name: DALIFState(torch.zeros((batch, *p.shape), dtype=torch.float64))
             for p in graph.populations}
    current = {p.name: torch.zeros((batch, *p.shape), dtype=torch.float64) for p in graph.populations}
    params = {p.name: DALIFParameters(alpha=torch.ones((), dtype=torch.float64), beta=tensor(p.beta),
                                      threshold=tensor(p.threshold)) for p in graph.populations}
    spikes: dict[str, list[torch.Tensor]] = {p.name: [] for p in graph.populations}
    readout_trace = []
    for t in range(timesteps):
        now = {INPUT: x[:, t] if temporal else x}
        for pop in graph.populations:
            drive = sum(_apply(p, now[p.source]) for p in pop.projections)
            if pop.gain is not None:
                drive = drive * tensor(pop.gain)
            if pop.current_decay is not None:
                drive = tensor(pop.current_decay) * current[pop.name] + drive
            current[pop.name] = drive
            with torch.no_grad():
                s, state[pop.name] = dalif_step(drive + tensor(pop.bias), state[pop.name], params[pop.name])
            if pop.readout:
                readout_trace.append(state[pop.name].h)
            now[pop.name] = s
            spikes[pop.name].append(s)
    return (torch.stack(readout_trace) if readout_trace else torch.zeros(0),
            {k: torch.stack(v) for k, v in spikes.items()})


def float_predictions(graph: FloatGraph, x: torch.Tensor, timesteps: int) -> np.ndarray:
    readout, _ = run_float_graph(graph, x, timesteps)
    return readout[-1].reshape(x.shape[0], -1).argmax(dim=1).numpy()
