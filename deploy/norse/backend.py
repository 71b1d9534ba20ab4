"""Backend ``norse``: the NIR file's float parameters executed in norse — the float twin of loihi-sim.

The graph is built with ``nirtorch.nir_to_torch`` and an explicit node map (no
defaults: nirtorch 2.6's default Affine drops the bias, and norse 1.1.0's own
``from_nir`` ignores ``r`` and drops unknown nodes silently, DESIGN §4). Every
node type of the file must be in the map; any other ends the run with a
BackendError naming the node. All arithmetic is float64.

Semantics per node, forward Euler at dt = 1 with norse's step functions
(``lif_box_feed_forward_step`` etc.), for an input x[t] into the neuron node:

    LIF      V[t] = V[t−1] + (1/τ)·(v_leak − V[t−1] + r·x[t])        = β V + g x   (β = 1 − 1/τ, g = r/τ)
    CubaLIF  I[t] = I[t−1] + (1/τ_syn)·(−I[t−1] + w_in·x[t])
             V[t] = V[t−1] + (1/τ_mem)·(v_leak − V[t−1] + r·I[t])      (V sees this step's I)
    IF       V[t] = V[t−1] + r·x[t]
    I        V[t] = V[t−1] + r·x[t]; its V is the output (no spikes)
    spike    S[t] = V[t] > v_threshold (strict, norse's heaviside); V[t] = v_reset where S[t]

With the file's parameters (τ = 1/(1 − β), r = g/(1 − β), v_leak = v_reset = 0,
θ = v_threshold) this is DESIGN §2's V[t] = β H[t−1] + g (W s + b). Note the
comparison: the integer truth (DESIGN §3) and norse fire on v > θ, while
float *training* fires on V ≥ θ; on an exact tie the trained network and both
backends differ, which dequantized weights make rare but not impossible.
The readout's output is its final V (float, in the float model's units, ≈
v_scale × the integer v); a weight node feeding the Output directly is summed
over the T steps, as the one reader treats it (an integrating readout).

Timing is the zero-delay form of loihi-sim (a layer at step t sees its sources'
spikes of step t); inputs are the integer inputs times the graph's input scale.
Counters (spikes, synaptic ops, input MACs) are recounted from the spikes norse
produced, with the fan-out of the loaded graph's projections.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from deploy.registry import BackendError
from hardware_sim.cost.events import count_activity
from hardware_sim.ir.graph import DeployedModel, neuron_count
from hardware_sim.results import PopulationCounts, SimulationResult


class NorseBackend:
    name = "norse"

    def __init__(self, batch_size: int = 256, record_spikes: bool = False):
        self.batch_size = batch_size
        self.record_spikes = record_spikes

    def run(self, model: DeployedModel, inputs: np.ndarray,
            on_progress: Callable[[int], None] | None = None) -> SimulationResult:
        try:
            import warnings

            import nirtorch  # noqa: F401
            import torch  # noqa: F401

            with warnings.catch_warnings():  # norse 1.1.0 uses the deprecated torch.jit.script
                warnings.simplefilter("ignore", DeprecationWarning)
                import norse.torch  # noqa: F401
        except ImportError as exc:
            raise BackendError(f"norse backend: {exc.name} is not installed "
                               f"(pip install --no-deps norse; pip install nirtorch)") from None
        subtracting = [pop.name for pop in model.graph.populations if pop.reset == "subtract"]
        if subtracting:  # NIR, and so the float run of the file, resets v to v_reset
            raise BackendError(f"norse backend: populations {', '.join(subtracting)} reset by "
                               "subtraction, which NIR's v_reset (and so this float run) cannot say: "
                               "use --backend loihi-sim or onnx")
        nir_graph = model.nir_graph if model.nir_graph is not None else _graph_of(model)
        return _run(model, nir_graph, np.asarray(inputs), self.batch_size, self.record_spikes,
                    on_progress)


def _graph_of(model: DeployedModel):
    """A model not read from a file: write its graph as NIR (the file it would have had)."""
    import tempfile
    from pathlib import Path

    import nir

    from hardware_sim.ir.nir import write_nir

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.nir"
        write_nir(model.graph, path, model.timesteps, model.info)
        return nir.read(str(path))


# ---------------------------------------------------------------------------------------------
# The node map. Built lazily: importing this module must not import torch or norse.


def _node_map() -> dict[type, Callable[[Any], Any]]:
    import nir
    import torch
    from norse.torch.functional.iaf import IAFParameters
    from norse.torch.functional.leaky_integrator_box import LIBoxParameters
    from norse.torch.functional.lif_box import LIFBoxParameters
    from norse.torch.module.iaf import IAFCell
    from norse.torch.module.leaky_integrator_box import LIBoxCell
    from norse.torch.module.lif_box import LIFBoxCell
    from torch import nn
    from torch.nn import functional as F

    f64 = torch.float64

    def t(value: Any) -> torch.Tensor:
        return torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=f64)

    def inverse(tau: Any) -> torch.Tensor:
        tau = np.asarray(tau, dtype=np.float64)
        with np.errstate(divide="ignore"):
            return t(np.where(np.isinf(tau), 0.0, 1.0 / tau))

    def finite(value: Any, field: str) -> torch.Tensor:
        if not np.all(np.isfinite(np.asarray(value, dtype=np.float64))):
            raise ValueError(f"{field} has NaN or infinite values")
        return t(value)

    class Scaled(nn.Module):
        """x → cell(scale · x): NIR's r (or w_in) before a norse cell, which has none."""

        def __init__(self, scale: torch.Tensor, cell: nn.Module):
            super().__init__()
            self.register_buffer("scale", scale)
            self.cell = cell

        def forward(self, x: torch.Tensor, state: Any = None):
            return self.cell(self.scale * x, state)

    class Cuba(nn.Module):
        """w_in·x → leaky current (τ_syn) → r·I → LIF box cell (τ_mem): NIR CubaLIF, V sees I[t]."""

        def __init__(self, node: nir.CubaLIF):
            super().__init__()
            self.register_buffer("w_in", t(node.w_in))
            self.register_buffer("r", t(node.r))
            self.synapse = LIBoxCell(LIBoxParameters(tau_mem_inv=inverse(node.tau_syn),
                                                     v_leak=t(0.0)), dt=1.0)
            self.membrane = LIFBoxCell(LIFBoxParameters(
                tau_mem_inv=inverse(node.tau_mem), v_leak=t(node.v_leak),
                v_th=t(node.v_threshold), v_reset=t(node.v_reset), method="heaviside"), dt=1.0)

        def forward(self, x: torch.Tensor, state: Any = None):
            syn_state, mem_state = (None, None) if state is None else state
            current, syn_state = self.synapse(self.w_in * x, syn_state)
            z, mem_state = self.membrane(self.r * current, mem_state)
            return z, (syn_state, mem_state)

    class Integrator(nn.Module):
        """NIR I: V[t] = V[t−1] + r·x[t]; the output is V (the readout)."""

        def __init__(self, r: torch.Tensor):
            super().__init__()
            self.register_buffer("r", r)

        def forward(self, x: torch.Tensor, state: Any = None):
            v = self.r * x if state is None else state + self.r * x
            return v, v

    class Delay(nn.Module):
        """NIR Delay of d whole steps: y[t] = x[t − d] (zero before)."""

        def __init__(self, steps: int):
            super().__init__()
            self.steps = steps

        def forward(self, x: torch.Tensor, state: Any = None):
            history = [torch.zeros_like(x)] * self.steps if state is None else state
            history = history + [x]
            return history[0], history[1:]

    class SumPool(nn.Module):
        def __init__(self, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int]):
            super().__init__()
            self.kernel, self.stride, self.padding = kernel, stride, padding

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            k = self.kernel[0] * self.kernel[1]
            return F.avg_pool2d(x, self.kernel, self.stride, self.padding,
                                count_include_pad=True) * k

    def pair(value: Any) -> tuple[int, int]:
        arr = np.atleast_1d(np.asarray(value)).astype(int)
        return (int(arr[0]), int(arr[-1]))

    def lif(node: nir.LIF) -> nn.Module:
        cell = LIFBoxCell(LIFBoxParameters(
            tau_mem_inv=inverse(node.tau), v_leak=t(node.v_leak), v_th=t(node.v_threshold),
            v_reset=t(node.v_reset), method="heaviside"), dt=1.0)
        return Scaled(finite(node.r, "r"), cell)

    def if_(node: nir.IF) -> nn.Module:
        cell = IAFCell(IAFParameters(v_th=t(node.v_threshold), v_reset=t(node.v_reset),
                                     method="heaviside"), dt=1.0)
        return Scaled(t(node.r), cell)

    def affine(node: nir.Affine) -> nn.Module:
        weight = t(node.weight)
        m = nn.Linear(weight.shape[1], weight.shape[0], bias=True, dtype=f64)
        m.weight.data, m.bias.data = weight, t(node.bias)
        return m

    def linear(node: nir.Linear) -> nn.Module:
        weight = t(node.weight)
        m = nn.Linear(weight.shape[1], weight.shape[0], bias=False, dtype=f64)
        m.weight.data = weight
        return m

    def conv2d(node: nir.Conv2d) -> nn.Module:
        weight = t(node.weight)
        padding = node.padding if isinstance(node.padding, str) else pair(node.padding)
        m = nn.Conv2d(weight.shape[1] * int(node.groups), weight.shape[0], tuple(weight.shape[2:]),
                      stride=pair(node.stride), padding=padding, dilation=pair(node.dilation),
                      groups=int(node.groups), bias=True, dtype=f64)
        m.weight.data = weight
        m.bias.data = t(node.bias) if node.bias is not None else torch.zeros(weight.shape[0], dtype=f64)
        return m

    def delay(node: nir.Delay) -> nn.Module:
        d = np.atleast_1d(np.asarray(node.delay, dtype=np.float64))
        if d.size == 0 or np.any(d != d.flat[0]) or d.flat[0] != int(d.flat[0]) or d.flat[0] < 0:
            raise ValueError("delay must be one whole number of steps")
        return Delay(int(d.flat[0]))

    return {
        nir.Input: lambda node: nn.Identity(),
        nir.Output: lambda node: nn.Identity(),
        nir.Affine: affine,
        nir.Linear: linear,
        nir.Conv2d: conv2d,
        nir.Flatten: lambda node: nn.Flatten(start_dim=1),  # every non-batch dim, as the reader
        nir.SumPool2d: lambda node: SumPool(pair(node.kernel_size), pair(node.stride),
                                            pair(node.padding)),
        nir.AvgPool2d: lambda node: nn.AvgPool2d(pair(node.kernel_size), pair(node.stride),
                                                 pair(node.padding)),
        nir.Delay: delay,
        nir.LIF: lif,
        nir.CubaLIF: lambda node: Cuba(node),
        nir.IF: if_,
        nir.I: lambda node: Integrator(t(node.r)),
    }


def build_module(nir_graph):
    """The nirtorch GraphModule of ``nir_graph`` with norse cells; fails naming the first node
    it has no mapping for (or whose parameters it cannot map)."""
    import warnings

    import nirtorch
    import torch

    with warnings.catch_warnings():  # norse 1.1.0 uses the deprecated torch.jit.script
        warnings.simplefilter("ignore", DeprecationWarning)
        node_map = _node_map()
    for name, node in nir_graph.nodes.items():
        if type(node) not in node_map:
            raise BackendError(f"norse backend: node {name!r}: {type(node).__name__} has no norse "
                               f"mapping (supported: {', '.join(sorted(t.__name__ for t in node_map))})")
    checked = {}
    for name, node in nir_graph.nodes.items():
        try:
            checked[name] = node_map[type(node)](node)
        except (ValueError, TypeError, RuntimeError) as exc:
            raise BackendError(f"norse backend: node {name!r}: {exc}") from None

    def mapped(node: Any) -> Any:  # hand nirtorch the modules already built (one per node object)
        return next(checked[n] for n, v in nir_graph.nodes.items() if v is node)

    return nirtorch.nir_to_torch(nir_graph, {t: mapped for t in node_map}, default_map={},
                                 dtype=torch.float64)


def _sanitized(name: str) -> str:
    import keyword

    name = name.replace(".", "_")
    return "nir_node_" + name if keyword.iskeyword(name) else name


def _run(model: DeployedModel, nir_graph, inputs: np.ndarray, batch_size: int,
         record_spikes: bool, on_progress: Callable[[int], None] | None) -> SimulationResult:
    import nir
    import torch

    graph = model.graph
    if inputs.ndim != 2 + len(graph.input_shape) or tuple(inputs.shape[2:]) != graph.input_shape:
        raise ValueError(f"inputs must have shape (N, T, {graph.input_shape}), got {inputs.shape}")
    module = build_module(nir_graph)
    spiking = {p.name for p in graph.populations if not p.readout}
    for name in spiking:
        if name not in nir_graph.nodes:
            raise BackendError(f"norse backend: population {name!r} is not a node of the NIR graph")
    output_node = next(n for n, v in nir_graph.nodes.items() if isinstance(v, nir.Output))
    out_pred = [s for s, d in nir_graph.edges if d == output_node]
    # An I node's output is its V; spikes and a bare weight node's drive are summed over T.
    integrate_output = not isinstance(nir_graph.nodes[out_pred[0]], nir.I)
    n, timesteps = inputs.shape[:2]
    recorded: dict[str, list[np.ndarray]] = {p.name: [] for p in graph.populations}
    counts = [PopulationCounts(p.name, neuron_count(p)) for p in graph.populations]
    events = {p.name: np.zeros((timesteps, *p.shape), np.int64) for p in graph.populations}
    step_spikes: dict[str, torch.Tensor] = {}

    def hook(name: str):
        def store(_module, _args, output):
            step_spikes[name] = output[0].detach()
        return store

    handles = [module.get_submodule(_sanitized(name)).register_forward_hook(hook(name))
               for name in spiking]
    outputs = []
    try:
        with torch.no_grad():
            for start in range(0, n, batch_size):
                x = torch.as_tensor(inputs[start:start + batch_size], dtype=torch.float64)
                x = x * graph.input_scale
                state, out = None, None
                per_step: dict[str, list[torch.Tensor]] = {name: [] for name in spiking}
                for step in range(timesteps):
                    y, state = module(x[:, step], state)
                    out = y if (out is None or not integrate_output) else out + y
                    for name in spiking:
                        per_step[name].append(step_spikes[name] > 0)
                outputs.append(out.reshape(x.shape[0], *graph.output_population.shape).numpy())
                batch_spikes = {
                    p.name: torch.stack(per_step[p.name]).numpy() if p.name in spiking
                    else np.zeros((timesteps, x.shape[0], *p.shape), dtype=bool)
                    for p in graph.populations}
                batch_counts, _, batch_events = count_activity(
                    graph, inputs[start:start + batch_size], batch_spikes)
                for total, part in zip(counts, batch_counts):
                    for key in ("spikes", "synaptic_ops", "input_macs", "neuron_updates"):
                        setattr(total, key, getattr(total, key) + getattr(part, key))
                for name, ev in batch_events.items():
                    events[name] += ev
                for name, spikes in batch_spikes.items():
                    recorded[name].append(spikes if record_spikes else spikes.sum(axis=1))
                if on_progress is not None:
                    on_progress(x.shape[0])
    except RuntimeError as exc:
        raise BackendError(f"norse backend: {str(exc).splitlines()[0]}") from None
    finally:
        for h in handles:
            h.remove()
    output = np.concatenate(outputs) if outputs else np.zeros((0, *graph.output_population.shape))
    if record_spikes:
        spikes = {name: np.concatenate(parts, axis=1) if parts else
                  np.zeros((timesteps, 0, *graph.population(name).shape), dtype=bool)
                  for name, parts in recorded.items()}
        per_step = {name: s.sum(axis=1).astype(np.int64) for name, s in spikes.items()}
    else:
        spikes = None
        per_step = {p.name: np.sum(recorded[p.name], axis=0).astype(np.int64) if recorded[p.name]
                    else np.zeros((timesteps, *p.shape), np.int64) for p in graph.populations}
    return SimulationResult(
        output=output,
        predictions=output.reshape(n, -1).argmax(axis=1) if n else np.zeros(0, np.int64),
        counts=counts, samples=n, timesteps=timesteps, spikes=spikes,
        spikes_per_step=per_step, synaptic_events_per_step=events,
    )
