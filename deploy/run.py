"""Run a loaded model on a backend for a labelled data set and summarise the run as JSON."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from deploy.registry import get_backend
from hardware_sim.ir.graph import DeployedModel
from hardware_sim.ir.inputs import InputArrays
from hardware_sim.results import SimulationResult


class InputShapeError(ValueError):
    """The data set's samples do not fit the model's input layer."""


def encode_inputs(model: DeployedModel, x: np.ndarray, temporal: bool = False) -> tuple[np.ndarray, int]:
    """Float inputs → integer inputs (N, T, *input_shape), with the number of input values
    clipped by the quantization.

    Static samples (N, *input_shape) are direct-encoded: the same image at each of the
    model's T steps. ``temporal`` samples (N, T, *input_shape) (event frames, sequences) give
    one input per step and must have the model's T. ``InputArrays`` (integer inputs read
    from a file and checked by ``hardware_sim.ir.inputs``) pass through as they are.
    """
    if isinstance(x, InputArrays):
        return x.values, 0
    x = np.asarray(x)
    shape = model.graph.input_shape
    lead = 2 if temporal else 1
    if temporal and (x.ndim < 2 or x.shape[1] != model.timesteps):
        raise InputShapeError(f"the data set gives {x.shape[1] if x.ndim >= 2 else 'no'} steps per "
                              f"sample, the model runs T = {model.timesteps}")
    if tuple(x.shape[lead:]) != shape:
        if int(np.prod(x.shape[lead:])) != int(np.prod(shape)):
            raise InputShapeError(f"the model takes inputs of shape {shape}, the data set's "
                                  f"samples have shape {tuple(x.shape[lead:])}")
        x = x.reshape(*x.shape[:lead], *shape)  # e.g. flat vectors for a (N,) input layer
    x_int, clipped = model.graph.quantize_input(x)
    if temporal:
        return x_int, clipped
    return np.repeat(x_int[:, None], model.timesteps, axis=1), clipped


def run_backend(backend_name: str, model: DeployedModel, x: np.ndarray,
                on_progress: Callable[[int], None] | None = None,
                temporal: bool = False) -> SimulationResult:
    """Encode ``x`` (``encode_inputs``) and run it on a new backend ``backend_name``."""
    inputs, clipped = encode_inputs(model, x, temporal)
    result = get_backend(backend_name).run(model, inputs, on_progress)
    result.input_clipped = clipped
    return result


def summarize(result: SimulationResult, labels: np.ndarray | None, backend: str) -> dict[str, Any]:
    """The RESULT.json every backend writes: accuracy (None without labels), per-layer spikes
    and synaptic ops."""
    return {
        "backend": backend,
        "samples": result.samples,
        "timesteps": result.timesteps,
        "accuracy": None if labels is None else result.accuracy(labels),
        "predictions": result.predictions.tolist(),
        "layers": [c.to_dict() for c in result.counts],
        "totals": {
            "spikes": sum(c.spikes for c in result.counts),
            "synaptic_ops": sum(c.synaptic_ops for c in result.counts),
            "input_macs": sum(c.input_macs for c in result.counts),
            "neuron_updates": sum(c.neuron_updates for c in result.counts),
        },
        "overflow": {
            "input_clipped": result.input_clipped,
            "u_wraps": sum(c.u_wraps for c in result.counts),
            "v_clips": sum(c.v_clips for c in result.counts),
        },
    }
