"""Float execution of a FloatGraph: the folded model's own semantics, for checking the fold.

V[t] = β ⊙ H[t−1] + g ⊙ Σ_p X_p[t] + b;  S = Θ(V − θ) with Θ(0) = 1;  H = V ⊙ (1 − S).
A readout integrates (β = 1) and never spikes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

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
    for static inputs ``x`` (B, *input_shape) repeated over T steps (direct encoding)."""
    if any(p.delay for pop in graph.populations for p in pop.projections):
        raise ValueError("the float reference runs delay-free graphs only (exported models)")
    x = x.to(torch.float64)
    batch = x.shape[0]
    h = {p.name: torch.zeros((batch, *p.shape), dtype=torch.float64) for p in graph.populations}
    spikes: dict[str, list[torch.Tensor]] = {p.name: [] for p in graph.populations}
    readout_trace = []
    params = {p.name: tuple(torch.as_tensor(a, dtype=torch.float64) if a is not None else None
                            for a in (p.beta, p.threshold, p.bias, p.gain))
              for p in graph.populations}
    for _ in range(timesteps):
        now = {INPUT: x}
        for pop in graph.populations:
            beta, threshold, bias, gain = params[pop.name]
            drive = sum(_apply(p, now[p.source]) for p in pop.projections)
            if gain is not None:
                drive = drive * gain
            v = beta * h[pop.name] + drive + bias
            if pop.readout:
                h[pop.name] = v
                readout_trace.append(v)
                s = torch.zeros_like(v)
            else:
                s = (v >= threshold).to(torch.float64)
                h[pop.name] = v * (1 - s)
            now[pop.name] = s
            spikes[pop.name].append(s)
    return (torch.stack(readout_trace) if readout_trace else torch.zeros(0),
            {k: torch.stack(v) for k, v in spikes.items()})


def float_predictions(graph: FloatGraph, x: torch.Tensor, timesteps: int) -> np.ndarray:
    readout, _ = run_float_graph(graph, x, timesteps)
    return readout[-1].reshape(x.shape[0], -1).argmax(dim=1).numpy()
